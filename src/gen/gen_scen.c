/* gen_scen: laundering scenarios modelled on documented DPRK (Lazarus) cases: a theft from an
 * exchange hot wallet, then splitting, peel chains through exchange and OTC deposits, hops
 * through fresh addresses, CoinJoin rounds (Wasabi, Whirlpool Tx0 and mixes, JoinMarket),
 * post-mix consolidation, and deposits at a swap service, a bridge, exchanges and an OTC broker,
 * spread over many blocks. Every stolen coin is a job with a stage and a due height. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

const char *const gen_step_names[GEN_NSTEPS] = {
    "theft",       "split",        "peel",           "hop",
    "coinjoin",    "tx0",          "consolidate",    "exchange_deposit",
    "otc_deposit", "swap_deposit", "bridge_deposit", "xchain_inflow",
    "swap_return"};

int gen_scen_init(gen *g)
{
    const gen_config *c = &g->cfg;
    g->n_scen = c->scenarios + (c->evm ? c->evm_scenarios : 0);
    if (!g->n_scen) return 0;
    g->scen = calloc(g->n_scen, sizeof(gen_scen));
    if (!g->scen) return g->oom = 1, UTIL_ENOMEM;
    for (uint32_t i = 0; i < g->n_scen; i++) {
        gen_scen *s = &g->scen[i];
        s->thief = g->e_thief + i;
        s->victim = GEN_NONE;
        /* Start once the economy runs, in the CoinJoin era (the DPRK cases are from 2018 on)
         * when the chain reaches it, and leave room for the scenario to unfold. */
        uint32_t live = c->blocks > c->maturity ? c->blocks - c->maturity : 0;
        uint32_t lo = c->maturity + live / 4, hi = c->maturity + live * 3 / 5;
        if (c->era_end > 2018.7 && c->era_start < 2018.7) {
            uint32_t h =
                (uint32_t)((2018.7 - c->era_start) / (c->era_end - c->era_start) * (c->blocks - 1));
            uint32_t cap = c->blocks - live / 4;
            if (h > lo) lo = h < cap ? h : cap;
            if (hi < lo + (cap - lo) / 2) hi = lo + (cap - lo) / 2;
        }
        s->start = hi > lo ? gen_range(&g->rng, lo, hi) : lo;
        uint32_t room = c->blocks > s->start ? c->blocks - s->start : 1;
        s->span = c->scenario_blocks ? c->scenario_blocks : room * 3 / 4;
        if (!c->scenario_blocks && s->span > 4032) s->span = 4032; /* four weeks at most */
        if (s->span < 1) s->span = 1;
        s->delay = s->span / 25 ? s->span / 25 : 1;
        if (i >= c->scenarios) s->theft_done = 1; /* its coins arrive by gen_scen_inflow */
    }
    return 0;
}

void gen_scen_free(gen *g)
{
    for (uint32_t i = 0; i < g->n_scen; i++) {
        free(g->scen[i].jobs);
        free(g->scen[i].steps);
        free(g->scen[i].sources);
        free(g->scen[i].ends);
        free(g->scen[i].deps);
        free(g->scen[i].mixouts);
        free(g->scen[i].swaps);
    }
    free(g->scen);
    g->scen = NULL;
}

static uint32_t delay(gen *g, const gen_scen *s, double scale)
{
    double mean = s->delay * scale;
    double d = -mean * gen_ln(1.0 - gen_unif(&g->rng));
    if (d > 3 * mean) d = 3 * mean;
    return (uint32_t)d;
}

static gen_job *new_job(gen *g, gen_scen *s, uint32_t slot, int stage, uint32_t due)
{
    if (s->n_jobs == s->cap_jobs) {
        uint32_t nc = s->cap_jobs ? s->cap_jobs * 2 : 64;
        gen_job *p = realloc(s->jobs, (size_t)nc * sizeof *p);
        if (!p) {
            g->oom = 1;
            return NULL;
        }
        s->jobs = p;
        s->cap_jobs = nc;
    }
    gen_job *j = &s->jobs[s->n_jobs++];
    memset(j, 0, sizeof *j);
    j->slot = slot;
    j->stage = (uint8_t)stage;
    j->due = due;
    j->then = GEN_J_FINAL;
    return j;
}

static void add_step(gen *g, gen_scen *s, int kind, int impl)
{
    if (s->n_steps == s->cap_steps) {
        uint32_t nc = s->cap_steps ? s->cap_steps * 2 : 64;
        gen_steprec *p = realloc(s->steps, (size_t)nc * sizeof *p);
        if (!p) {
            g->oom = 1;
            return;
        }
        s->steps = p;
        s->cap_steps = nc;
    }
    gen_steprec *r = &s->steps[s->n_steps++];
    memcpy(r->txid, g->last_txid, 32);
    r->height = g->height;
    r->kind = (uint8_t)kind;
    r->impl = (uint8_t)impl;
    g->st.scenario_steps++;
}

static gen_endpoint *endpoint(gen *g, gen_scen *s, uint32_t ent)
{
    for (uint32_t i = 0; i < s->n_ends; i++)
        if (s->ends[i].entity == ent) return &s->ends[i];
    if (s->n_ends == s->cap_ends) {
        uint32_t nc = s->cap_ends ? s->cap_ends * 2 : 16;
        gen_endpoint *p = realloc(s->ends, (size_t)nc * sizeof *p);
        if (!p) {
            g->oom = 1;
            return NULL;
        }
        s->ends = p;
        s->cap_ends = nc;
    }
    gen_endpoint *e = &s->ends[s->n_ends++];
    e->entity = ent;
    e->deposits = 0;
    e->value = 0;
    return e;
}

/* Room for one more record in a growable array of size-byte records; NULL when out of memory. */
static void *grow(gen *g, void **v, uint32_t n, uint32_t *cap, size_t size)
{
    if (n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 32;
        void *p = realloc(*v, (size_t)nc * size);
        if (!p) {
            g->oom = 1;
            return NULL;
        }
        *v = p;
        *cap = nc;
    }
    return (char *)*v + (size_t)n * size;
}

static void record_out(gen *g, gen_outrec **v, uint32_t *n, uint32_t *cap, const uint8_t txid[32],
                       uint32_t vout, uint32_t ent, int64_t value, int impl, int tx0)
{
    gen_outrec *r = grow(g, (void **)v, *n, cap, sizeof *r);
    if (!r) return;
    memcpy(r->txid, txid, 32);
    r->vout = vout;
    r->entity = ent;
    r->height = g->height;
    r->value = value;
    r->impl = (uint8_t)impl;
    r->tx0 = (uint8_t)tx0;
    (*n)++;
}

/* Account one thief's part of the tx being finished. */
static void account_one(gen *g, uint32_t thief)
{
    int64_t tin = 0, tout = 0;
    int all = 1;
    for (uint32_t i = 0; i < g->nin; i++) {
        if (g->addrs[g->tin[i].addr].owner == thief)
            tin += g->tin[i].value;
        else
            all = 0;
    }
    gen_scen *s = &g->scen[g->ents[thief].home];
    for (uint32_t i = 0; i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        if (o->addr == GEN_NONE) continue;
        uint32_t owner = g->addrs[o->addr].owner;
        if (owner == thief)
            tout += o->value;
        else if (all) {
            gen_endpoint *e = endpoint(g, s, owner);
            if (e) e->value += o->value, e->deposits++;
            if (gen_thief_truth(&g->cfg))
                record_out(g, &s->deps, &s->n_deps, &s->cap_deps, g->last_txid, i, owner, o->value,
                           0, 0);
        }
    }
    if (all) {
        s->fees += tin - gen_tx_out_sum(g);
        return;
    }
    /* A CoinJoin: what the thief's coins paid others was attributed by its builder. */
    int64_t paid = 0;
    for (uint32_t i = 0; i < g->n_attr; i++) {
        if (g->attr[i].thief != thief) continue;
        gen_endpoint *e = endpoint(g, s, g->attr[i].ent);
        if (e) e->value += g->attr[i].value, e->deposits++;
        paid += g->attr[i].value;
    }
    s->fees += tin - tout - paid;
}

void gen_scen_account(gen *g)
{
    uint32_t done[8], n = 0;
    for (uint32_t i = 0; i < g->nin; i++) {
        uint32_t o = g->addrs[g->tin[i].addr].owner, k = 0;
        if (g->ents[o].kind != GEN_K_THIEF) continue;
        while (k < n && done[k] != o)
            k++;
        if (k < n || n == 8) continue;
        done[n++] = o;
        account_one(g, o);
    }
    if (g->cfg.thief_remix > 0) /* a remixed coin left its pool's queue */
        for (uint32_t i = 0; i < g->nin; i++) {
            uint32_t o = g->addrs[g->tin[i].addr].owner;
            if (g->ents[o].kind != GEN_K_THIEF) continue;
            gen_scen *s = &g->scen[g->ents[o].home];
            for (uint32_t k = 0; k < s->n_jobs; k++)
                if (s->jobs[k].stage == GEN_J_REMIX && s->jobs[k].slot == g->tin[i].slot)
                    s->jobs[k].stage = GEN_J_DEAD;
        }
}

int gen_scen_adopt(gen *g, uint32_t thief_ent, uint32_t slot, int stage, int impl, int pool)
{
    gen_scen *s = &g->scen[g->ents[thief_ent].home];
    if (!s->n_steps || memcmp(s->steps[s->n_steps - 1].txid, g->last_txid, 32) != 0)
        add_step(g, s,
                 impl == GEN_CJ_WHIRLPOOL && stage == GEN_J_WAIT ? GEN_ST_TX0 : GEN_ST_COINJOIN,
                 impl);
    gen_job *j;
    switch (stage) {
    case GEN_J_WAIT:
        j = new_job(g, s, slot, GEN_J_WAIT, g->height);
        if (j) j->impl = (uint8_t)impl, j->pool = (uint8_t)pool;
        break;
    case GEN_J_POSTMIX:
        j = new_job(g, s, slot, GEN_J_POSTMIX, g->height + 1 + delay(g, s, 2));
        if (j) j->impl = (uint8_t)impl, j->pool = (uint8_t)pool; /* for a remix */
        break;
    default:
        j = new_job(g, s, slot, GEN_J_HOP, g->height + 1 + delay(g, s, 1));
        if (j) j->left = (uint8_t)gen_range(&g->rng, 1, 2);
        break;
    }
    if (j && gen_thief_truth(&g->cfg)) {
        const gen_utxo *u = &g->utxos[slot];
        record_out(g, &s->mixouts, &s->n_mixouts, &s->cap_mixouts, u->txid, u->vout, thief_ent,
                   u->value, impl, s->steps[s->n_steps - 1].kind == GEN_ST_TX0);
    }
    return j ? 0 : UTIL_ENOMEM;
}

int gen_scen_inflow(gen *g, uint32_t scen, uint32_t victim, uint32_t slot, uint32_t vout)
{
    gen_scen *s = &g->scen[scen];
    uint8_t(*p)[36] = realloc(s->sources, (size_t)(s->n_sources + 1) * 36);
    if (!p) return g->oom = 1, UTIL_ENOMEM;
    s->sources = p;
    memcpy(p[s->n_sources], g->last_txid, 32);
    util_put_le32(p[s->n_sources] + 32, vout);
    s->n_sources++;
    if (s->victim == GEN_NONE) s->victim = victim, s->start = g->height;
    s->stolen += g->utxos[slot].value;
    add_step(g, s, GEN_ST_XCHAIN_IN, 0);
    return new_job(g, s, slot, GEN_J_SPLIT, g->height + 1 + delay(g, s, 1)) ? 0 : UTIL_ENOMEM;
}

uint32_t gen_scen_waiting(gen *g, int impl, int pool, uint32_t *slots, uint32_t max, int commit)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < g->n_scen && n < max; k++) {
        /* separate rounds: only the first scenario with a coin waiting takes part */
        if (g->cfg.separate_rounds && n) break;
        gen_scen *s = &g->scen[k];
        for (uint32_t i = 0; i < s->n_jobs && n < max; i++) {
            gen_job *j = &s->jobs[i];
            if (j->stage != GEN_J_WAIT || j->impl != impl || j->pool != pool) continue;
            if (slots) slots[n] = j->slot;
            n++;
            if (commit) j->stage = GEN_J_DEAD;
        }
    }
    return n;
}

/* ---- the thief's own transactions ---- */

static double thief_rate(gen *g)
{
    return gen_fee_rate(g) * 1.2 + 1;
}

/* Outputs of a thief tx are fresh thief addresses (held as jobs) or an endpoint deposit. */
static int thief_out(gen *g, uint32_t thief, int64_t v)
{
    return gen_tx_out(g, gen_addr_new(g, thief, gen_style_for(g, thief)), v, GEN_DEST_HOLD);
}

/* Take the fee out of output idx; 0 if it would fall below dust (tx dropped, job kept). */
static int pay_fee(gen *g, int idx, double rate)
{
    int64_t fee = gen_fee(g, rate, 0);
    if (g->tout[idx].value - fee < GEN_DUST) {
        gen_tx_abort(g); /* wallet coins go back; coins held by jobs stay with them */
        return 0;
    }
    g->tout[idx].value -= fee;
    return 1;
}

/* Pay total to n fresh thief addresses in random shares (within +-spread/2 of equal, never
 * below 20000 sat each); returns the index of the largest, which pays the fee. */
static int pieces(gen *g, uint32_t thief, int64_t total, uint32_t n, double spread)
{
    double w[32], sum = 0;
    if (n > 32) n = 32;
    while (n > 1 && total / n < 20000)
        n--;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i] = 1 - spread / 2 + spread * gen_unif(&g->rng);
    int64_t left = total, bigv = -1;
    int big = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t v = i + 1 == n ? left : (int64_t)(total * (w[i] / sum));
        left -= v;
        int k = thief_out(g, thief, v);
        if (v > bigv) bigv = v, big = k;
    }
    return big;
}

static int theft(gen *g, gen_scen *s)
{
    uint32_t victim = GEN_NONE;
    int64_t best = 0;
    for (uint32_t i = 0; i < g->n_ex; i++) {
        int64_t v = g->ents[g->e_ex + i].w[GEN_W_MAIN].sum;
        if (v > best) best = v, victim = g->e_ex + i;
    }
    if (victim == GEN_NONE || best < GEN_COIN / 2) return 0;
    gen_wallet *hot = &g->ents[victim].w[GEN_W_MAIN];
    /* Most of the hot wallet, up to 0.2% of all coins (DPRK's exchange thefts took tens of
     * millions of dollars: a few thousand BTC on mainnet). */
    int64_t target = (int64_t)(hot->sum * (0.6 + 0.3 * gen_unif(&g->rng)));
    if (target > g->supply / 500) target = g->supply / 500;
    gen_tx_begin(g, victim);
    while (gen_tx_in_sum(g) < target && g->nin < 150 && hot->coins.n)
        gen_tx_take(g, victim, GEN_W_MAIN, gen_below(&g->rng, hot->coins.n));
    int64_t total = gen_tx_in_sum(g);
    int big = pieces(g, s->thief, total, gen_range(&g->rng, 1, 4), 0.8);
    if (!pay_fee(g, big, thief_rate(g) * 2)) { /* the thief wants it confirmed */
        return 0;
    }
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    s->victim = victim;
    s->theft_done = 1;
    s->start = g->height;
    add_step(g, s, GEN_ST_THEFT, 0);
    s->sources = malloc((size_t)g->nout * 36);
    if (!s->sources) return g->oom = 1, UTIL_ENOMEM;
    for (uint32_t i = 0; i < g->nout; i++) {
        memcpy(s->sources[i], g->last_txid, 32);
        util_put_le32(s->sources[i] + 32, i);
        s->stolen += g->tout[i].value;
        if (!new_job(g, s, g->out_slot[i], GEN_J_SPLIT, g->height + 1 + delay(g, s, 1)))
            return UTIL_ENOMEM;
    }
    s->n_sources = g->nout;
    return 1;
}

static int any_cj_active(const gen *g)
{
    for (int i = 0; i < GEN_NCJ; i++)
        if (gen_cj_active(g, i)) return 1;
    return 0;
}

/* Route a fresh piece: a peel chain, hops to a swap or bridge, or mixing first. */
static void route(gen *g, gen_job *j)
{
    double x = gen_unif(&g->rng);
    if (x < 0.4) {
        j->stage = GEN_J_PEEL;
        j->left = (uint8_t)gen_range(&g->rng, 6, 20);
    } else if (x < 0.75 && any_cj_active(g)) {
        uint32_t hops = gen_below(&g->rng, 3);
        j->stage = hops ? GEN_J_HOP : GEN_J_MIX;
        j->left = (uint8_t)hops;
        j->then = GEN_J_MIX;
    } else {
        j->stage = GEN_J_HOP;
        j->left = (uint8_t)gen_range(&g->rng, 2, 5);
        j->then = GEN_J_FINAL;
    }
}

/* Split job's coin into n pieces (each a new job routed by route, or at stage st). */
static int split(gen *g, gen_scen *s, uint32_t ji, uint32_t n, int st)
{
    gen_tx_begin(g, s->thief);
    gen_tx_add_input(g, s->jobs[ji].slot, GEN_DEST_HOLD);
    int big = pieces(g, s->thief, g->utxos[s->jobs[ji].slot].value, n, 0.6);
    if (!pay_fee(g, big, thief_rate(g))) return 0;
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    s->jobs[ji].stage = GEN_J_DEAD;
    add_step(g, s, GEN_ST_SPLIT, 0);
    uint8_t impl = s->jobs[ji].impl;
    for (uint32_t i = 0; i < g->nout; i++) {
        gen_job *j = new_job(g, s, g->out_slot[i], st, g->height + 1 + delay(g, s, 1));
        if (!j) return UTIL_ENOMEM;
        if (st == GEN_J_SPLIT)
            route(g, j);
        else
            j->impl = impl;
    }
    return 1;
}

static uint32_t pick_endpoint(gen *g, int *step)
{
    double x = gen_unif(&g->rng);
    if (x < 0.35) return *step = GEN_ST_SWAP, g->e_swap;
    if (x < 0.65) return *step = GEN_ST_BRIDGE, g->e_bridge;
    if (x < 0.85 && g->n_ex) return *step = GEN_ST_EXCHANGE, g->e_ex + gen_below(&g->rng, g->n_ex);
    return *step = GEN_ST_OTC, g->e_otc;
}

static uint32_t endpoint_dest(const gen *g, uint32_t ent)
{
    return g->ents[ent].kind == GEN_K_BRIDGE ? GEN_DEST(ent, GEN_W_MAIN) : GEN_DEST(ent, GEN_W_IN);
}

static int deposit_to(gen *g, gen_scen *s, uint32_t ji, uint32_t to, int kind)
{
    gen_tx_begin(g, s->thief);
    gen_tx_add_input(g, s->jobs[ji].slot, GEN_DEST_HOLD);
    gen_tx_out(g, gen_deposit_addr(g, to, s->thief), g->utxos[s->jobs[ji].slot].value,
               endpoint_dest(g, to));
    if (!pay_fee(g, 0, thief_rate(g))) return 0;
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    s->jobs[ji].stage = GEN_J_DEAD;
    add_step(g, s, kind, 0);
    if (kind == GEN_ST_SWAP && g->cfg.swap_returns > 0 &&
        gen_chance(&g->rng, g->cfg.swap_returns)) {
        /* An instant swap the thief takes back in bitcoin from the service's hot wallet, as
         * with a swap to another coin and back: the service commingles the funds. */
        gen_job *j = new_job(g, s, GEN_NONE, GEN_J_SWAPRET, g->height + 1 + gen_below(&g->rng, 6));
        if (!j) return UTIL_ENOMEM;
        memcpy(j->ref, g->last_txid, 32);
        j->ref_vout = 0;
        j->ref_height = g->height;
        j->amount = g->tout[0].value;
    }
    return 1;
}

static int step_final(gen *g, gen_scen *s, uint32_t ji)
{
    int kind;
    uint32_t to = pick_endpoint(g, &kind);
    return deposit_to(g, s, ji, to, kind);
}

/* After a swap return: cash out at an exchange (80%) or the OTC broker. */
static int step_cashout(gen *g, gen_scen *s, uint32_t ji)
{
    if (g->n_ex && gen_chance(&g->rng, 0.8))
        return deposit_to(g, s, ji, g->e_ex + gen_below(&g->rng, g->n_ex), GEN_ST_EXCHANGE);
    return deposit_to(g, s, ji, g->e_otc, GEN_ST_OTC);
}

/* The swap service pays a thief's deposit back: its fee (0.5-2%) and the network fee off, from
 * its hot wallet (the deposits it swept), to a fresh thief address. */
static int step_swapret(gen *g, gen_scen *s, uint32_t ji)
{
    uint32_t sw = g->e_swap;
    int64_t amount = s->jobs[ji].amount;
    int64_t pay = amount - (int64_t)(amount * (0.005 + 0.015 * gen_unif(&g->rng))) - 2000;
    if (pay < 20000) {
        s->jobs[ji].stage = GEN_J_DEAD; /* too small to pay back: the service keeps it */
        return 0;
    }
    int ok = 0;
    for (int w = GEN_W_MAIN; w <= GEN_W_IN && !ok; w++) {
        gen_tx_begin(g, sw);
        thief_out(g, s->thief, pay);
        ok = gen_fund(g, sw, w, GEN_MASK_ANY, gen_fee_rate(g), -1, 60);
    }
    if (!ok) { /* not enough float yet: try again next block, for a day at most */
        gen_job *j = &s->jobs[ji];
        j->due = g->height + 1;
        if (g->height > j->ref_height + 144) j->stage = GEN_J_DEAD;
        return 0;
    }
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    uint32_t vout = 0, slot = GEN_NONE;
    for (uint32_t i = 0; i < g->nout; i++)
        if (g->tout[i].addr != GEN_NONE && g->addrs[g->tout[i].addr].owner == s->thief)
            vout = i, slot = g->out_slot[i];
    gen_endpoint *e = endpoint(g, s, sw);
    if (e) e->value -= pay; /* the service finally kept only its fee */
    add_step(g, s, GEN_ST_SWAP_RETURN, 0);
    gen_swaprec *r = grow(g, (void **)&s->swaps, s->n_swaps, &s->cap_swaps, sizeof *r);
    if (r) {
        const gen_job *d = &s->jobs[ji];
        memcpy(r->dep, d->ref, 32);
        memcpy(r->pay, g->last_txid, 32);
        r->dep_vout = d->ref_vout, r->pay_vout = vout;
        r->dep_height = d->ref_height, r->pay_height = g->height;
        r->dep_value = d->amount, r->pay_value = pay;
        s->n_swaps++;
    }
    s->jobs[ji].stage = GEN_J_DEAD;
    uint32_t hops = gen_below(&g->rng, 3);
    gen_job *j =
        new_job(g, s, slot, hops ? GEN_J_HOP : GEN_J_CASHOUT, g->height + 1 + delay(g, s, 0.5));
    if (!j) return UTIL_ENOMEM;
    j->left = (uint8_t)hops;
    j->then = GEN_J_CASHOUT;
    return 1;
}

static int step_peel(gen *g, gen_scen *s, uint32_t ji)
{
    gen_job *j = &s->jobs[ji];
    int64_t v = g->utxos[j->slot].value;
    if (!j->left || v < GEN_COIN / 20) {
        j->stage = GEN_J_FINAL;
        return step_final(g, s, ji);
    }
    int64_t peel = (int64_t)(v * (0.02 + 0.1 * gen_unif(&g->rng)));
    if (gen_chance(&g->rng, 0.3)) peel = gen_round_amount(&g->rng, peel);
    uint32_t to =
        gen_chance(&g->rng, 0.7) && g->n_ex ? g->e_ex + gen_below(&g->rng, g->n_ex) : g->e_otc;
    gen_tx_begin(g, s->thief);
    gen_tx_add_input(g, j->slot, GEN_DEST_HOLD);
    gen_tx_out(g, gen_deposit_addr(g, to, s->thief), peel, endpoint_dest(g, to));
    int rest = thief_out(g, s->thief, v - peel);
    if (!pay_fee(g, rest, thief_rate(g))) return 0;
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    add_step(g, s, GEN_ST_PEEL, 0);
    for (uint32_t i = 0; i < g->nout; i++)
        if (g->out_slot[i] != GEN_NONE &&
            g->ents[g->addrs[g->tout[i].addr].owner].kind == GEN_K_THIEF)
            j->slot = g->out_slot[i];
    j->left--;
    j->due = g->height + 1 + delay(g, s, 0.3);
    return 1;
}

static int step_hop(gen *g, gen_scen *s, uint32_t ji)
{
    gen_job *j = &s->jobs[ji];
    if (!j->left) {
        j->stage = j->then;
        j->due = g->height;
        return 0;
    }
    int64_t v = g->utxos[j->slot].value;
    int two = v > GEN_COIN / 10 && gen_chance(&g->rng, 0.2);
    gen_tx_begin(g, s->thief);
    gen_tx_add_input(g, j->slot, GEN_DEST_HOLD);
    if (two) {
        int64_t a = (int64_t)(v * (0.3 + 0.4 * gen_unif(&g->rng)));
        thief_out(g, s->thief, a);
        thief_out(g, s->thief, v - a);
    } else {
        thief_out(g, s->thief, v);
    }
    if (!pay_fee(g, (int)g->nout - 1, thief_rate(g))) return 0;
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    add_step(g, s, GEN_ST_HOP, 0);
    j = &s->jobs[ji];
    j->slot = g->out_slot[0];
    j->left--;
    j->due = g->height + 1 + delay(g, s, 0.5);
    if (two) {
        uint8_t left = j->left, then = j->then;
        gen_job *k = new_job(g, s, g->out_slot[1], GEN_J_HOP, g->height + 1 + delay(g, s, 0.5));
        if (!k) return UTIL_ENOMEM;
        k->left = left;
        k->then = then;
    }
    return 1;
}

static int step_mix(gen *g, gen_scen *s, uint32_t ji)
{
    gen_job *j = &s->jobs[ji];
    int64_t v = g->utxos[j->slot].value;
    double w[GEN_NCJ] = {0.3, 0.3, 0.4, 0.12}, tot = 0;
    for (int i = 0; i < GEN_NCJ; i++) {
        if (!gen_cj_active(g, i)) w[i] = 0;
        if (i == GEN_CJ_WW1 && v < GEN_COIN / 4) w[i] = 0;
        if (i == GEN_CJ_WHIRLPOOL && v < 3 * gen_wp_denom[0]) w[i] = 0;
        if (i == GEN_CJ_WW2 && v < GEN_COIN / 100) w[i] = 0;
        tot += w[i];
    }
    if (tot <= 0) {
        j->stage = GEN_J_HOP;
        j->left = 2;
        j->then = GEN_J_FINAL;
        return 0;
    }
    double x = gen_unif(&g->rng) * tot;
    int impl = 0;
    while (impl < GEN_NCJ - 1 && (x -= w[impl]) >= 0)
        impl++;
    j->impl = (uint8_t)impl;
    j->pool = 0;
    if (impl == GEN_CJ_WHIRLPOOL) {
        /* The largest pool the coin fits where others are mixing, else the largest it fits. */
        int pool = -1;
        for (int p = 3; p >= 0 && pool < 0; p--)
            if (v >= 3 * gen_wp_denom[p] && g->premix[p].n + g->remix[p].n >= 3) pool = p;
        if (pool < 0) {
            pool = 3;
            while (pool > 0 && v < 3 * gen_wp_denom[pool])
                pool--;
        }
        int rc = gen_whirlpool_tx0_thief(g, s->thief, j->slot, pool);
        if (rc <= 0) return rc;
        s->jobs[ji].stage = GEN_J_DEAD;
        return 1;
    }
    /* Pieces a round can take: Wasabi 1 levels reach 3.1 BTC, Wasabi 2 takes any amount but
     * large coins stand out, JoinMarket needs makers with as much. */
    int64_t cap = impl == GEN_CJ_WW1 ? 3 * GEN_COIN : impl == GEN_CJ_WW2 ? 10 * GEN_COIN : GEN_COIN;
    if (v > cap) {
        uint32_t n = (uint32_t)(v / (cap * 2 / 3)) + 1;
        if (n > 20) n = 20;
        if (v / n > cap) return split(g, s, ji, n, GEN_J_MIX); /* still large: split again */
        return split(g, s, ji, n, GEN_J_WAIT);
    }
    j->stage = GEN_J_WAIT;
    j->due = g->height;
    return 0;
}

/* Consolidate the scenario's due post-mix coins (as DPRK did, undoing much of the mixing). */
static int step_postmix(gen *g, gen_scen *s)
{
    uint32_t idx[60], n = 0;
    if (g->cfg.thief_remix > 0)
        for (uint32_t i = 0; i < s->n_jobs; i++) {
            gen_job *j = &s->jobs[i];
            if (j->stage != GEN_J_POSTMIX || j->due > g->height || j->impl != GEN_CJ_WHIRLPOOL ||
                !gen_chance(&g->rng, g->cfg.thief_remix))
                continue;
            /* A free remix: the coin waits in its pool's queue like any user's postmix. */
            if (gen_vec_push(g, &g->remix[j->pool], j->slot)) return UTIL_ENOMEM;
            j->stage = GEN_J_REMIX;
        }
    for (uint32_t i = 0; i < s->n_jobs && n < 60; i++)
        if (s->jobs[i].stage == GEN_J_POSTMIX && s->jobs[i].due <= g->height) idx[n++] = i;
    if (!n) return 0;
    if (n == 1) {
        s->jobs[idx[0]].stage = GEN_J_FINAL;
        return 0;
    }
    gen_tx_begin(g, s->thief);
    for (uint32_t i = 0; i < n; i++)
        gen_tx_add_input(g, s->jobs[idx[i]].slot, GEN_DEST_HOLD);
    thief_out(g, s->thief, gen_tx_in_sum(g));
    if (!pay_fee(g, 0, thief_rate(g) * 0.8)) return 0;
    int rc = gen_tx_finish(g);
    if (rc) return rc;
    add_step(g, s, GEN_ST_CONSOLIDATE, 0);
    for (uint32_t i = 0; i < n; i++)
        s->jobs[idx[i]].stage = GEN_J_DEAD;
    gen_job *j = new_job(g, s, g->out_slot[0], GEN_J_HOP, g->height + 1 + delay(g, s, 1));
    if (!j) return UTIL_ENOMEM;
    j->left = (uint8_t)gen_below(&g->rng, 2);
    j->then = GEN_J_FINAL;
    if (!j->left) j->stage = GEN_J_FINAL;
    return 1;
}

int gen_scen_block(gen *g)
{
    for (uint32_t k = 0; k < g->n_scen && !g->oom; k++) {
        gen_scen *s = &g->scen[k];
        if (!s->theft_done) {
            if (g->height < s->start) continue;
            int rc = theft(g, s);
            if (rc < 0) return rc;
            continue;
        }
        int rc = step_postmix(g, s);
        if (rc < 0) return rc;
        uint32_t n = s->n_jobs;
        for (uint32_t i = 0; i < n && !g->oom; i++) {
            gen_job *j = &s->jobs[i];
            if (j->stage == GEN_J_DEAD || j->stage == GEN_J_POSTMIX || j->stage == GEN_J_REMIX)
                continue;
            if (j->stage == GEN_J_WAIT) {
                /* A round that does not come: give up mixing this coin. */
                if (g->height > j->due + 30) {
                    j->stage = GEN_J_HOP;
                    j->left = 1;
                    j->then = GEN_J_FINAL;
                    j->due = g->height;
                }
                continue;
            }
            if (j->due > g->height) continue;
            if (g->blk_weight + 400000 > GEN_MAX_WEIGHT) return 0;
            int64_t v = j->slot != GEN_NONE ? g->utxos[j->slot].value : 0; /* SWAPRET: none */
            switch (j->stage) {
            case GEN_J_SPLIT: {
                uint32_t parts = v > 20 * GEN_COIN ? gen_range(&g->rng, 5, 8)
                                 : v > GEN_COIN    ? gen_range(&g->rng, 3, 5)
                                                   : 2;
                rc = split(g, s, i, parts, GEN_J_SPLIT);
                break;
            }
            case GEN_J_PEEL:
                rc = step_peel(g, s, i);
                break;
            case GEN_J_HOP:
                rc = step_hop(g, s, i);
                break;
            case GEN_J_MIX:
                rc = step_mix(g, s, i);
                break;
            case GEN_J_SWAPRET:
                rc = step_swapret(g, s, i);
                break;
            case GEN_J_CASHOUT:
                rc = step_cashout(g, s, i);
                break;
            default:
                rc = step_final(g, s, i);
                break;
            }
            if (rc < 0) return rc;
        }
    }
    return 0;
}
