/* gen_mix: CoinJoins shaped like the real ones. Wasabi 1 (~0.1 BTC equal outputs, levels,
 * coordinator fee), Wasabi 2 (standard denominations, many inputs and outputs), Whirlpool (a Tx0
 * making premix outputs, then 5-in/5-out mixes at fixed pool sizes with free remixes) and
 * JoinMarket (a taker and makers: equal outputs plus change). Privacy users take part; thieves'
 * coins waiting for a round take part too. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

const char *const gen_cj_names[GEN_NCJ] = {"wasabi1", "wasabi2", "whirlpool", "joinmarket"};
const int64_t gen_wp_denom[4] = {100000, 1000000, 5000000, 50000000};
const int64_t gen_wp_fee[4] = {5000, 50000, 175000, 1750000};

const char *gen_cj_impl_name(int impl)
{
    return impl == GEN_CJ_GENERIC ? "generic" : gen_cj_names[impl];
}

static int cmp_i64_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

void gen_mix_init(gen *g)
{
    /* Wasabi 2's standard denominations: powers of 2 and 3, 2x powers of 3, and the 1-2-5
     * series, from 5000 sat up. */
    const int64_t lo = 5000, hi = 137438953472LL;
    int64_t *d = g->ww2_denoms;
    uint32_t n = 0;
    for (int64_t v = 1; v <= hi; v *= 2)
        if (v >= lo) d[n++] = v;
    for (int64_t v = 1; v <= hi; v *= 3) {
        if (v >= lo) d[n++] = v;
        if (2 * v >= lo && 2 * v <= hi) d[n++] = 2 * v;
    }
    for (int64_t v = 1; v <= hi; v *= 10) {
        if (v >= lo) d[n++] = v;
        if (2 * v >= lo && 2 * v <= hi) d[n++] = 2 * v;
        if (5 * v >= lo && 5 * v <= hi) d[n++] = 5 * v;
    }
    qsort(d, n, sizeof *d, cmp_i64_desc);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!m || d[m - 1] != d[i]) d[m++] = d[i];
    g->n_ww2_denoms = m;
}

int gen_cj_active(const gen *g, int impl)
{
    switch (impl) {
    case GEN_CJ_WW1:
        return g->era >= 2018.6 && g->era < 2022.6;
    case GEN_CJ_WW2:
        return g->era >= 2022.5;
    case GEN_CJ_WHIRLPOOL:
        return g->era >= 2019.4 && g->era < 2024.32;
    default:
        return g->era >= 2015.5;
    }
}

int gen_cj_record(gen *g, int impl, int tx0, int64_t denom)
{
    if (g->n_cj == g->cap_cj) {
        uint32_t nc = g->cap_cj ? g->cap_cj * 2 : 256;
        gen_cjrec *p = realloc(g->cj, (size_t)nc * sizeof *p);
        if (!p) return g->oom = 1, UTIL_ENOMEM;
        g->cj = p;
        g->cap_cj = nc;
    }
    gen_cjrec *r = &g->cj[g->n_cj++];
    memset(r, 0, sizeof *r);
    memcpy(r->txid, g->last_txid, 32);
    r->height = g->height;
    r->impl = (uint8_t)impl;
    r->tx0 = (uint8_t)tx0;
    r->n_in = (uint16_t)g->nin;
    r->n_out = (uint16_t)g->nout;
    r->denom = denom;
    if (tx0) r->discount = g->tx0_disc;
    if (!tx0) g->st.coinjoins++;
    return 0;
}

static int is_thief(const gen *g, uint32_t addr)
{
    return g->ents[g->addrs[addr].owner].kind == GEN_K_THIEF;
}

static uint32_t owner_of_slot(const gen *g, uint32_t slot)
{
    return g->addrs[g->utxos[slot].addr].owner;
}

/* After a multi-party tx: the thief's outputs become jobs at the stage in their tag. */
static int adopt_thief_outputs(gen *g, int impl, int pool)
{
    for (uint32_t i = 0; i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        if (o->addr == GEN_NONE || o->dest != GEN_DEST_HOLD || !is_thief(g, o->addr)) continue;
        int rc = gen_scen_adopt(g, g->addrs[o->addr].owner, g->out_slot[i], o->tag, impl, pool);
        if (rc) return rc;
    }
    return 0;
}

static void add_attr(gen *g, uint32_t thief, uint32_t ent, int64_t v)
{
    if (v <= 0) return;
    for (uint32_t i = 0; i < g->n_attr; i++)
        if (g->attr[i].thief == thief && g->attr[i].ent == ent) {
            g->attr[i].value += v;
            return;
        }
    if (g->n_attr < sizeof g->attr / sizeof g->attr[0]) {
        g->attr[g->n_attr].thief = thief;
        g->attr[g->n_attr].ent = ent;
        g->attr[g->n_attr++].value = v;
    }
}

/* Orders with full tie-breaks: qsort is not stable, and the bytes must not depend on it. */
static int cmp_out_desc(const void *a, const void *b)
{
    const gen_out *x = a, *y = b;
    if (x->value != y->value) return x->value < y->value ? 1 : -1;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return x->raw_off < y->raw_off ? -1 : x->raw_off > y->raw_off;
}
static int cmp_in_desc(const void *a, const void *b)
{
    const gen_in *x = a, *y = b;
    if (x->value != y->value) return x->value < y->value ? 1 : -1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* The coordinator's fee address, reused round after round as the real ones were. */
static uint32_t coord_addr(gen *g, uint32_t coord)
{
    if (g->ents[coord].fixed[2] == GEN_NONE) {
        uint32_t a = gen_addr_new(g, coord, GEN_S_P2WPKH);
        g->ents[coord].fixed[2] = a;
    }
    return g->ents[coord].fixed[2];
}

/* A participant in a round being built. */
typedef struct part {
    uint32_t ent;
    uint32_t n_in;
    int64_t in;
    int thief;
    int remix; /* its coins come from a postmix wallet */
} part;

#define MAX_PARTS 160

static uint32_t cj_out_style(gen *g, uint32_t ent, int impl)
{
    if (g->ents[ent].kind == GEN_K_THIEF) return GEN_S_P2WPKH;
    if (impl == GEN_CJ_WW2 && g->era >= 2023.5 && g->ents[ent].type_q > 0.7) return GEN_S_P2TR;
    if (impl == GEN_CJ_JOINMARKET && g->era < 2021.3) return GEN_S_P2SH_WPKH;
    return GEN_S_P2WPKH;
}

/* Where a participant's mixed output goes: users' postmix wallet, thieves' next job. */
static void cj_out(gen *g, uint32_t ent, int impl, int64_t v, int stage, int w)
{
    int thief = g->ents[ent].kind == GEN_K_THIEF;
    uint32_t a = gen_addr_new(g, ent, (int)cj_out_style(g, ent, impl));
    int i = gen_tx_out(g, a, v, thief ? GEN_DEST_HOLD : GEN_DEST(ent, w));
    if (i >= 0) g->tout[i].tag = (uint8_t)stage;
}

/* Collect users for a round: privacy users (or makers) not yet in it, each with coins of the
 * allowed styles worth at least min_value; up to max_coins coins each. */
static uint32_t collect_users(gen *g, part *parts, uint32_t np, uint32_t want, const gen_vec *pool,
                              unsigned mask, int64_t min_value, uint32_t max_coins,
                              uint32_t max_inputs, int allow_remix)
{
    if (!pool->n) return np;
    for (uint32_t t = 0; t < want * 3 && np < want && np < MAX_PARTS; t++) {
        uint32_t u = pool->v[gen_below(&g->rng, pool->n)];
        gen_entity *e = &g->ents[u];
        if (e->last_round == g->round_id) continue;
        int w = allow_remix && e->w[GEN_W_IN].coins.n && gen_chance(&g->rng, 0.5) ? GEN_W_IN
                                                                                  : GEN_W_MAIN;
        uint32_t idx;
        if (!gen_pick_coin(g, &e->w[w], mask, min_value, &idx)) continue;
        if (g->nin + max_coins > max_inputs) break;
        e->last_round = g->round_id;
        part *p = &parts[np++];
        p->ent = u, p->thief = 0, p->remix = w == GEN_W_IN;
        p->in = g->utxos[e->w[w].coins.v[idx]].value;
        gen_tx_take(g, u, w, idx);
        p->n_in = 1;
        uint32_t extra = max_coins > 1 ? gen_below(&g->rng, max_coins) : 0;
        for (uint32_t k = 0; k < extra; k++) {
            if (!gen_pick_coin(g, &e->w[w], mask, 5000, &idx)) break;
            p->in += g->utxos[e->w[w].coins.v[idx]].value;
            gen_tx_take(g, u, w, idx);
            p->n_in++;
        }
    }
    return np;
}

static uint32_t add_thief_parts(gen *g, part *parts, uint32_t np, int impl, int pool, uint32_t max)
{
    uint32_t slots[8];
    if (max > 8) max = 8;
    uint32_t n = gen_scen_waiting(g, impl, pool, slots, max, 1);
    for (uint32_t i = 0; i < n && np < MAX_PARTS; i++) {
        part *p = &parts[np++];
        p->ent = owner_of_slot(g, slots[i]);
        p->thief = 1, p->remix = 0, p->n_in = 1;
        p->in = g->utxos[slots[i]].value;
        gen_tx_add_input(g, slots[i], GEN_DEST_HOLD);
    }
    return np;
}

/* ---- Wasabi 1 ---- */

static int ww1_round(gen *g)
{
    part parts[MAX_PARTS];
    g->round_id++;
    int64_t d = 9800000 + (int64_t)gen_below(&g->rng, 700000);
    double rate = gen_fee_rate(g);
    uint32_t want = gen_range(&g->rng, 30, 80);
    uint32_t nthief = gen_scen_waiting(g, GEN_CJ_WW1, 0, NULL, 5, 0);
    gen_tx_begin(g, GEN_NONE);
    uint32_t np = collect_users(g, parts, 0, want, &g->privacy, GEN_STYLE_BIT(GEN_S_P2WPKH),
                                d + d / 50 + 40000, 2, 200, 1);
    if (np + nthief < 5) {
        gen_tx_abort(g);
        return 0;
    }
    np = add_thief_parts(g, parts, np, GEN_CJ_WW1, 0, 5);
    double cfee = 0.00003 * np; /* 0.003% per anonymity-set member */
    /* Levels d, 2d, 4d, 8d, 16d: a level needs two participants or it is dropped. */
    uint8_t levels[MAX_PARTS];
    uint32_t count[5] = {0};
    for (uint32_t i = 0; i < np; i++) {
        part *p = &parts[i];
        int64_t base = (int64_t)(rate * (68.0 * p->n_in + 62));
        int64_t rem = p->in - base - d - (int64_t)(d * cfee);
        levels[i] = rem >= 0; /* a coin short of the denomination only gets change */
        for (int k = 4; k >= 1; k--) {
            int64_t lv = d << k;
            int64_t cost = lv + (int64_t)(lv * cfee) + (int64_t)(rate * 31);
            if (rem >= cost + 10000 && (p->thief || gen_chance(&g->rng, 0.5))) {
                levels[i] |= (uint8_t)(1 << k);
                rem -= cost;
            }
        }
        for (int k = 0; k < 5; k++)
            count[k] += (levels[i] >> k) & 1;
    }
    int64_t coord_total = 0;
    uint32_t coord = g->e_mixer + 0;
    for (uint32_t i = 0; i < np; i++) {
        part *p = &parts[i];
        int64_t spent = 0, pc = 0;
        uint32_t nouts = 0;
        for (int k = 0; k < 5; k++) {
            if (!((levels[i] >> k) & 1) || count[k] < 2) continue;
            int64_t lv = d << k;
            cj_out(g, p->ent, GEN_CJ_WW1, lv, GEN_J_POSTMIX, GEN_W_IN);
            pc += (int64_t)(lv * cfee);
            spent += lv;
            nouts++;
        }
        int64_t miner = (int64_t)(rate * (68.0 * p->n_in + 31.0 * (nouts + 1)));
        int64_t change = p->in - spent - pc - miner;
        if (change >= 5000) {
            uint32_t a = gen_addr_new(g, p->ent, GEN_S_P2WPKH);
            int j =
                gen_tx_out(g, a, change, p->thief ? GEN_DEST_HOLD : GEN_DEST(p->ent, GEN_W_MAIN));
            if (j >= 0) g->tout[j].tag = GEN_J_HOP;
        }
        coord_total += pc;
        if (p->thief) add_attr(g, p->ent, coord, pc);
    }
    if (coord_total >= GEN_DUST)
        gen_tx_out(g, coord_addr(g, coord), coord_total, GEN_DEST(coord, GEN_W_MAIN));
    else
        g->n_attr = 0; /* too small to pay out: it went to the miners */
    gen_tx_shuffle(g);
    qsort(g->tout, g->nout, sizeof(gen_out), cmp_out_desc);
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_WW1, 0, d);
    if (!rc) rc = adopt_thief_outputs(g, GEN_CJ_WW1, 0);
    return rc ? rc : 1;
}

/* ---- Wasabi 2 ---- */

static int ww2_round(gen *g)
{
    part parts[MAX_PARTS];
    g->round_id++;
    double rate = gen_fee_rate(g);
    uint32_t want = gen_range(&g->rng, 20, 120);
    uint32_t nthief = gen_scen_waiting(g, GEN_CJ_WW2, 0, NULL, 5, 0);
    gen_tx_begin(g, GEN_NONE);
    uint32_t np =
        collect_users(g, parts, 0, want, &g->privacy, GEN_MASK_SEGWIT_NATIVE, 60000, 6, 300, 1);
    if (np + nthief < 5) {
        gen_tx_abort(g);
        return 0;
    }
    np = add_thief_parts(g, parts, np, GEN_CJ_WW2, 0, 5);
    uint32_t coord = g->e_mixer + 1;
    int64_t coord_total = 0;
    for (uint32_t i = 0; i < np; i++) {
        part *p = &parts[i];
        /* Coordination fee 0.3% on fresh coins over 0.01 BTC; remixes are free. */
        int64_t pc = !p->remix && p->in > 1000000 ? p->in * 3 / 1000 : 0;
        int64_t left = p->in - pc - (int64_t)(rate * (68.0 * p->n_in + 31.0 * 4));
        uint32_t nouts = 0;
        for (uint32_t k = 0; k < g->n_ww2_denoms && nouts < 8 && left >= 5000; k++) {
            if (g->ww2_denoms[k] > left) continue;
            if (k + 1 < g->n_ww2_denoms && g->ww2_denoms[k + 1] >= 5000 &&
                gen_chance(&g->rng, 0.25))
                continue; /* a smaller denomination now and then, as the real decomposer */
            while (left >= g->ww2_denoms[k] && nouts < 8) {
                cj_out(g, p->ent, GEN_CJ_WW2, g->ww2_denoms[k], GEN_J_POSTMIX, GEN_W_IN);
                left -= g->ww2_denoms[k];
                nouts++;
                if (gen_chance(&g->rng, 0.5)) break;
            }
        }
        coord_total += pc;
        if (p->thief) add_attr(g, p->ent, coord, pc);
    }
    if (coord_total >= GEN_DUST)
        gen_tx_out(g, coord_addr(g, coord), coord_total, GEN_DEST(coord, GEN_W_MAIN));
    else
        g->n_attr = 0;
    /* Wasabi 2 orders inputs and outputs by value, largest first. */
    qsort(g->tin, g->nin, sizeof(gen_in), cmp_in_desc);
    qsort(g->tout, g->nout, sizeof(gen_out), cmp_out_desc);
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_WW2, 0, 0);
    if (!rc) rc = adopt_thief_outputs(g, GEN_CJ_WW2, 0);
    return rc ? rc : 1;
}

/* ---- Whirlpool ---- */

static uint32_t wp_fee_addr(gen *g)
{
    uint32_t c = g->e_mixer + 2;
    int k = (int)gen_below(&g->rng, 4);
    if (g->ents[c].fixed[k] == GEN_NONE) {
        uint32_t a = gen_addr_new(g, c, GEN_S_P2WPKH);
        g->ents[c].fixed[k] = a;
    }
    return g->ents[c].fixed[k];
}

/* Tx0 outputs after the inputs are in: premixes, fee, OP_RETURN, toxic change. Returns the
 * number of premix outputs, 0 if the coins do not reach one. */
static uint32_t tx0_outputs(gen *g, uint32_t owner, int pool, uint32_t max_premix)
{
    double rate = gen_fee_rate(g);
    int64_t D = gen_wp_denom[pool], F = gen_wp_fee[pool];
    int64_t x = (int64_t)(rate * 102) + 150; /* each premix pays its share of the mix fee */
    int64_t in = gen_tx_in_sum(g);
    int64_t txfee = (int64_t)(rate * (68.0 * g->nin + 31.0 * 3 + 58 + 11));
    int64_t avail = in - F - txfee;
    if (avail < D + x) return 0;
    int64_t n = avail / (D + x + (int64_t)(rate * 31));
    if (n > 70) n = 70;
    if ((int64_t)max_premix < n) n = max_premix;
    int thief = g->ents[owner].kind == GEN_K_THIEF;
    for (int64_t i = 0; i < n; i++) {
        int j = gen_tx_out(g, gen_addr_new(g, owner, GEN_S_P2WPKH), D + x, GEN_DEST_HOLD);
        if (j >= 0) g->tout[j].tag = GEN_J_WAIT;
    }
    g->tx0_disc = 0;
    if (g->cfg.tx0_discount > 0 && gen_chance(&g->rng, g->cfg.tx0_discount)) {
        /* An SCODE: the coordinator's discount on the pool fee, in whole percent. */
        static const uint8_t pct[5] = {10, 25, 50, 75, 90};
        g->tx0_disc = pct[gen_below(&g->rng, 5)];
    }
    int64_t Fpaid = F * (100 - g->tx0_disc) / 100;
    gen_tx_out(g, wp_fee_addr(g), Fpaid, GEN_DEST(g->e_mixer + 2, GEN_W_MAIN));
    uint8_t op[48] = {0x6a, 46};
    for (int i = 2; i < 48; i++)
        op[i] = (uint8_t)gen_rand(&g->rng);
    gen_tx_out_raw(g, op, 48, 0);
    int64_t change = in - Fpaid - txfee - n * (D + x) - (int64_t)(rate * 31 * n);
    if (change >= 5000) {
        int j = gen_tx_out(g, gen_addr_new(g, owner, GEN_S_P2WPKH), change,
                           thief ? GEN_DEST_HOLD : GEN_DEST(owner, GEN_W_MAIN));
        if (j >= 0) g->tout[j].tag = GEN_J_HOP;
    }
    return (uint32_t)n;
}

/* After a Tx0: users' premixes join the pool's queue; the thief's become waiting jobs. */
static int tx0_finish(gen *g, int pool)
{
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_WHIRLPOOL, 1, gen_wp_denom[pool]);
    for (uint32_t i = 0; !rc && i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        if (o->addr == GEN_NONE || o->dest != GEN_DEST_HOLD) continue;
        if (is_thief(g, o->addr))
            rc = gen_scen_adopt(g, g->addrs[o->addr].owner, g->out_slot[i], o->tag,
                                GEN_CJ_WHIRLPOOL, pool);
        else if (o->tag == GEN_J_WAIT)
            rc = gen_vec_push(g, &g->premix[pool], g->out_slot[i]);
    }
    return rc;
}

static int wp_user_tx0(gen *g, int pool)
{
    if (!g->privacy.n) return 0;
    int64_t need = gen_wp_denom[pool] + gen_wp_fee[pool] + 200000;
    for (int t = 0; t < 8; t++) {
        uint32_t u = g->privacy.v[gen_below(&g->rng, g->privacy.n)];
        gen_wallet *w = &g->ents[u].w[GEN_W_MAIN];
        uint32_t idx;
        if (!gen_pick_coin(g, w, GEN_STYLE_BIT(GEN_S_P2WPKH), need, &idx)) continue;
        gen_tx_begin(g, u);
        gen_tx_take(g, u, GEN_W_MAIN, idx);
        if (!tx0_outputs(g, u, pool, gen_range(&g->rng, 1, 20))) {
            gen_tx_abort(g);
            return 0;
        }
        int rc = tx0_finish(g, pool);
        return rc ? rc : 1;
    }
    return 0;
}

int gen_whirlpool_tx0_thief(gen *g, uint32_t thief, uint32_t slot, int pool)
{
    gen_tx_begin(g, thief);
    gen_tx_add_input(g, slot, GEN_DEST_HOLD);
    if (!tx0_outputs(g, thief, pool, 70)) {
        g->nin = g->nout = g->raw_len = 0;
        return 0;
    }
    int rc = tx0_finish(g, pool);
    return rc ? rc : 1;
}

static int wp_mix(gen *g, int pool)
{
    int64_t D = gen_wp_denom[pool];
    uint32_t slots[5], n;
    /* Five inputs: thieves' and users' premixes (new entrants, who pay the mining fee) and up
     * to three free remixes; at least one new entrant. */
    uint32_t t = gen_scen_waiting(g, GEN_CJ_WHIRLPOOL, pool, NULL, 2, 0);
    uint32_t nuser = g->premix[pool].n, nremix = g->remix[pool].n;
    uint32_t r = nremix < 3 ? nremix : 3;
    if (t + r > 5) r = 5 - t;
    uint32_t u = 5 - t - r;
    if (u > nuser) {
        r += u - nuser;
        u = nuser;
        if (r > nremix) return 0;
    }
    if (t + u == 0) return 0;
    n = gen_scen_waiting(g, GEN_CJ_WHIRLPOOL, pool, slots, t, 1);
    uint32_t want_new = n + u;
    gen_tx_begin(g, GEN_NONE);
    for (uint32_t i = 0; i < n; i++)
        gen_tx_add_input(g, slots[i], GEN_DEST_HOLD);
    while (g->nin < want_new) {
        gen_vec *q = &g->premix[pool];
        uint32_t k = gen_below(&g->rng, q->n), s = q->v[k];
        q->v[k] = q->v[--q->n];
        gen_tx_add_input(g, s, GEN_DEST_HOLD);
    }
    while (g->nin < 5) {
        gen_vec *q = &g->remix[pool];
        uint32_t k = gen_below(&g->rng, q->n), s = q->v[k];
        q->v[k] = q->v[--q->n];
        gen_tx_add_input(g, s, GEN_DEST_HOLD);
    }
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t owner = g->addrs[g->tin[i].addr].owner;
        int j = gen_tx_out(g, gen_addr_new(g, owner, GEN_S_P2WPKH), D, GEN_DEST_HOLD);
        if (j >= 0) g->tout[j].tag = GEN_J_POSTMIX;
    }
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_WHIRLPOOL, 0, D);
    for (uint32_t i = 0; !rc && i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        if (is_thief(g, o->addr))
            rc = gen_scen_adopt(g, g->addrs[o->addr].owner, g->out_slot[i], GEN_J_POSTMIX,
                                GEN_CJ_WHIRLPOOL, pool);
        else
            rc = gen_vec_push(g, &g->remix[pool], g->out_slot[i]);
    }
    return rc ? rc : 1;
}

/* A user leaves the pool: spends a postmix coin at a merchant or exchange. */
static int wp_exit(gen *g, int pool)
{
    gen_vec *q = &g->remix[pool];
    if (!q->n) return 0;
    uint32_t k = gen_below(&g->rng, q->n), s = q->v[k];
    q->v[k] = q->v[--q->n];
    uint32_t owner = owner_of_slot(g, s);
    if (g->ents[owner].kind ==
        GEN_K_THIEF) /* a thief's remix (cfg.thief_remix) leaves by its job */
        return gen_vec_push(g, q, s);
    uint32_t to = g->n_merch && gen_chance(&g->rng, 0.5)
                      ? g->e_merch + gen_below(&g->rng, g->n_merch)
                      : g->e_ex + gen_below(&g->rng, g->n_ex);
    gen_tx_begin(g, owner);
    gen_tx_add_input(g, s, GEN_DEST_HOLD);
    int64_t v = g->utxos[s].value;
    uint32_t a = gen_deposit_addr(g, to, owner);
    int kind = g->ents[to].kind;
    uint32_t dest = kind == GEN_K_EXCHANGE ? GEN_DEST(to, GEN_W_IN) : GEN_DEST(to, GEN_W_MAIN);
    int64_t pay = gen_chance(&g->rng, 0.5) ? v : (int64_t)(v * (0.3 + 0.6 * gen_unif(&g->rng)));
    gen_tx_out(g, a, pay, dest);
    double rate = gen_fee_rate(g);
    int64_t fee = gen_fee(g, rate, 1);
    if (v - pay - fee >= 5000) {
        gen_tx_out(g, gen_addr_new(g, owner, GEN_S_P2WPKH), v - pay - fee,
                   GEN_DEST(owner, GEN_W_MAIN));
    } else {
        g->tout[0].value = v - gen_fee(g, rate, 0);
    }
    if (g->tout[0].value < GEN_DUST) {
        /* Not worth spending: back into the pool. */
        g->nin = g->nout = 0;
        return gen_vec_push(g, q, s);
    }
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    return rc ? rc : 1;
}

/* ---- JoinMarket ---- */

static int jm_round(gen *g)
{
    part parts[MAX_PARTS];
    if (g->makers.n < 3) return 0;
    g->round_id++;
    double rate = gen_fee_rate(g);
    uint32_t tslot;
    int thief = gen_scen_waiting(g, GEN_CJ_JOINMARKET, 0, &tslot, 1, 0) == 1;
    int64_t amount;
    gen_tx_begin(g, GEN_NONE);
    uint32_t np = 0;
    if (thief) {
        amount = (int64_t)(g->utxos[tslot].value * (0.8 + 0.1 * gen_unif(&g->rng)));
    } else {
        np = collect_users(g, parts, 0, 1, &g->privacy, GEN_MASK_ANY, 2000000, 3, 10, 0);
        if (!np) {
            gen_tx_abort(g);
            return 0;
        }
        amount = (int64_t)(parts[0].in * (0.3 + 0.6 * gen_unif(&g->rng)));
    }
    uint32_t want = gen_range(&g->rng, 3, 8), nm = 0;
    for (uint32_t t = 0; t < want * 4 && nm < want; t++) {
        uint32_t m = g->makers.v[gen_below(&g->rng, g->makers.n)];
        gen_entity *e = &g->ents[m];
        if (e->last_round == g->round_id) continue;
        gen_wallet *w = &e->w[GEN_W_MAIN];
        if (w->sum < amount + 20000) continue;
        /* Up to four coins, largest first among a sample, to cover the amount. */
        uint32_t first = g->nin;
        int64_t in = 0;
        while (in < amount + 20000 && g->nin - first < 4 && w->coins.n) {
            uint32_t n = w->coins.n, start = gen_below(&g->rng, n), best = start;
            for (uint32_t k = 0; k < 32 && k < n; k++) {
                uint32_t i = (start + k) % n;
                if (g->utxos[w->coins.v[i]].value > g->utxos[w->coins.v[best]].value) best = i;
            }
            in += g->utxos[w->coins.v[best]].value;
            gen_tx_take(g, m, GEN_W_MAIN, best);
        }
        if (in < amount + 20000) {
            while (g->nin > first) {
                gen_in *ti = &g->tin[--g->nin];
                gen_wallet_add(g, ti->from, ti->slot);
            }
            continue;
        }
        e->last_round = g->round_id;
        part *p = &parts[np++];
        p->ent = m, p->thief = 0, p->remix = 0, p->n_in = g->nin - first;
        p->in = in;
        nm++;
    }
    if (nm < 3) {
        gen_tx_abort(g);
        return 0;
    }
    /* The taker pays every maker's fee and the whole mining fee. */
    int64_t cjfees = 0;
    uint32_t first_maker = thief ? 0 : 1;
    int64_t mfee[MAX_PARTS];
    for (uint32_t i = first_maker; i < np; i++) {
        mfee[i] = 200 + (int64_t)(amount * gen_logunif(&g->rng, 0.00001, 0.0003));
        cjfees += mfee[i];
    }
    int64_t taker_in = thief ? g->utxos[tslot].value : parts[0].in;
    uint32_t nouts = 2 * (nm + 1);
    int64_t miner = (int64_t)(rate * (11 + 91.0 * (g->nin + (thief ? 1 : 0)) + 32.0 * nouts));
    int64_t tchange = taker_in - amount - cjfees - miner;
    if (tchange < 0) {
        gen_tx_abort(g);
        return 0;
    }
    uint32_t taker;
    if (thief) {
        gen_scen_waiting(g, GEN_CJ_JOINMARKET, 0, &tslot, 1, 1);
        gen_tx_add_input(g, tslot, GEN_DEST_HOLD);
        taker = owner_of_slot(g, tslot);
    } else {
        taker = parts[0].ent;
    }
    cj_out(g, taker, GEN_CJ_JOINMARKET, amount, GEN_J_POSTMIX, GEN_W_IN);
    if (tchange >= 5000) {
        uint32_t a = gen_addr_new(g, taker, (int)cj_out_style(g, taker, GEN_CJ_JOINMARKET));
        int j = gen_tx_out(g, a, tchange, thief ? GEN_DEST_HOLD : GEN_DEST(taker, GEN_W_MAIN));
        if (j >= 0) g->tout[j].tag = GEN_J_HOP;
    }
    for (uint32_t i = first_maker; i < np; i++) {
        part *p = &parts[i];
        cj_out(g, p->ent, GEN_CJ_JOINMARKET, amount, 0, GEN_W_MAIN);
        uint32_t a = gen_addr_new(g, p->ent, (int)cj_out_style(g, p->ent, GEN_CJ_JOINMARKET));
        gen_tx_out(g, a, p->in - amount + mfee[i], GEN_DEST(p->ent, GEN_W_MAIN));
        if (thief) add_attr(g, taker, p->ent, mfee[i]);
    }
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_JOINMARKET, 0, amount);
    if (!rc) rc = adopt_thief_outputs(g, GEN_CJ_JOINMARKET, 0);
    return rc ? rc : 1;
}

/* ---- per block ---- */

int gen_mix_block(gen *g)
{
    double r = g->cfg.coinjoin_rate;
    int rc = 0;
    if (r <= 0 && !g->n_scen) return 0;
    if (g->blk_weight + 1200000 > GEN_MAX_WEIGHT) return 0; /* room for the largest rounds */
    if (gen_cj_active(g, GEN_CJ_WW1) &&
        (gen_chance(&g->rng, 0.15 * r) || gen_scen_waiting(g, GEN_CJ_WW1, 0, NULL, 1, 0)))
        rc = ww1_round(g);
    if (rc >= 0 && gen_cj_active(g, GEN_CJ_WW2) &&
        (gen_chance(&g->rng, 0.35 * r) || gen_scen_waiting(g, GEN_CJ_WW2, 0, NULL, 1, 0)))
        rc = ww2_round(g);
    if (rc >= 0 && gen_cj_active(g, GEN_CJ_JOINMARKET) &&
        (gen_chance(&g->rng, 0.2 * r) || gen_scen_waiting(g, GEN_CJ_JOINMARKET, 0, NULL, 1, 0)))
        rc = jm_round(g);
    for (int pool = 0; rc >= 0 && pool < 4; pool++) {
        if (!gen_cj_active(g, GEN_CJ_WHIRLPOOL)) break;
        if (gen_chance(&g->rng, 0.25 * r)) rc = wp_user_tx0(g, pool);
        uint32_t waiting =
            g->premix[pool].n + gen_scen_waiting(g, GEN_CJ_WHIRLPOOL, pool, NULL, 100, 0);
        uint32_t rounds = 1 + waiting / 8;
        if (rounds > 6) rounds = 6;
        for (uint32_t k = 0; rc >= 0 && k < rounds; k++)
            if (gen_chance(&g->rng, 0.5 * r) ||
                gen_scen_waiting(g, GEN_CJ_WHIRLPOOL, pool, NULL, 1, 0))
                rc = wp_mix(g, pool);
        uint32_t exits = g->remix[pool].n > 40 ? 3 : gen_chance(&g->rng, 0.3) ? 1 : 0;
        for (uint32_t k = 0; rc >= 0 && k < exits; k++)
            rc = wp_exit(g, pool);
    }
    return rc < 0 ? rc : 0;
}
