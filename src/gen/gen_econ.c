/* gen_econ: the population and its everyday transactions: users paying merchants and each
 * other, exchanges with deposit addresses swept to a hot wallet and batched withdrawals,
 * merchants cashing out, pools paying their miners, and the services thieves also use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

const char *const gen_kind_names[GEN_NKINDS] = {"user", "exchange", "merchant", "miner", "mixer",
                                                "otc",  "swap",     "bridge",   "thief"};

static const char *const exchange_names[] = {
    "Coinvault",  "Bitmarkt", "Hashbourse", "Satoshi Square", "Blockhaus", "Krypton Exchange",
    "Ledgerline", "Orbix",    "Zentrade",   "Altmarket",      "Keystone",  "Northbit"};
static const char *const pool_names[] = {"SlushCraft Pool", "AntHill Pool", "F3Pool",
                                         "ViaHash",         "BTC.example",  "Poolin Lite",
                                         "Foundry Bay",     "MaraNet"};

/* ---- entities ---- */

static void entity_init(gen_entity *e, int kind, const char *name)
{
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    e->home = GEN_NONE;
    for (int i = 0; i < 4; i++)
        e->fixed[i] = GEN_NONE;
    e->last_round = GEN_NONE;
    snprintf(e->name, sizeof e->name, "%s", name);
}

int gen_econ_init(gen *g)
{
    const gen_config *c = &g->cfg;
    g->n_user = c->users, g->n_ex = c->exchanges, g->n_merch = c->merchants;
    g->n_miner = c->miners;
    g->e_user = 0;
    g->e_ex = g->e_user + g->n_user;
    g->e_merch = g->e_ex + g->n_ex;
    g->e_miner = g->e_merch + g->n_merch;
    g->e_mixer = g->e_miner + g->n_miner; /* Wasabi 1, Wasabi 2, Whirlpool coordinators */
    g->e_otc = g->e_mixer + 3;
    g->e_swap = g->e_otc + 1;
    g->e_bridge = g->e_swap + 1;
    g->e_thief = g->e_bridge + 1;
    g->n_ents = g->e_thief + c->scenarios;
    g->e_vault = GEN_NONE;
    if (c->evm) { /* one thief per EVM scenario, then the THORChain vault */
        g->e_vault = g->n_ents + c->evm_scenarios;
        g->n_ents = g->e_vault + 1;
    }
    g->ents = calloc(g->n_ents, sizeof(gen_entity));
    if (!g->ents) return g->oom = 1, UTIL_ENOMEM;
    char name[48];
    gen_rng *r = &g->rng;
    for (uint32_t i = 0; i < g->n_user; i++) {
        gen_entity *e = &g->ents[g->e_user + i];
        snprintf(name, sizeof name, "user %u", i + 1);
        entity_init(e, GEN_K_USER, name);
        e->type_q = (float)gen_unif(r);
        e->fp = (uint8_t)gen_below(r, 4);
        e->bip69 = (uint8_t)gen_chance(r, 0.15);
        if (gen_chance(r, 0.05)) {
            e->flags |= GEN_F_MINER; /* mines at a pool and gets its payouts */
            if (gen_vec_push(g, &g->home_miners, g->e_user + i)) return UTIL_ENOMEM;
        }
        if (gen_chance(r, c->privacy_rate)) {
            e->flags |= GEN_F_PRIVACY;
            e->bip69 = 0;
            if (gen_chance(r, 0.35)) e->flags |= GEN_F_MAKER;
            if (gen_vec_push(g, &g->privacy, g->e_user + i)) return UTIL_ENOMEM;
            if ((e->flags & GEN_F_MAKER) && gen_vec_push(g, &g->makers, g->e_user + i))
                return UTIL_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < g->n_ex; i++) {
        gen_entity *e = &g->ents[g->e_ex + i];
        size_t nn = sizeof exchange_names / sizeof *exchange_names;
        if (i < nn)
            snprintf(name, sizeof name, "%s", exchange_names[i]);
        else
            snprintf(name, sizeof name, "%s %u", exchange_names[i % nn], i / (uint32_t)nn + 1);
        entity_init(e, GEN_K_EXCHANGE, name);
        e->type_q = (float)(gen_unif(r) * 0.85);
        e->fp = (uint8_t)(gen_chance(r, 0.5) ? 2 : 0);
    }
    for (uint32_t i = 0; i < g->n_merch; i++) {
        gen_entity *e = &g->ents[g->e_merch + i];
        snprintf(name, sizeof name, "merchant %u", i + 1);
        entity_init(e, GEN_K_MERCHANT, name);
        e->type_q = (float)gen_unif(r);
        e->fp = (uint8_t)gen_below(r, 4);
        e->home = g->e_ex + gen_below(r, g->n_ex);
    }
    for (uint32_t i = 0; i < g->n_miner; i++) {
        gen_entity *e = &g->ents[g->e_miner + i];
        size_t nn = sizeof pool_names / sizeof *pool_names;
        if (i < nn)
            snprintf(name, sizeof name, "%s", pool_names[i]);
        else
            snprintf(name, sizeof name, "%s %u", pool_names[i % nn], i / (uint32_t)nn + 1);
        entity_init(e, GEN_K_MINER, name);
        e->type_q = (float)gen_unif(r);
        e->fp = 2;
    }
    static const char *const mixers[3] = {"Wasabi 1 coordinator (zkSNACKs)",
                                          "Wasabi 2 coordinator (zkSNACKs)", "Samourai Whirlpool"};
    for (uint32_t i = 0; i < 3; i++) {
        entity_init(&g->ents[g->e_mixer + i], GEN_K_MIXER, mixers[i]);
        g->ents[g->e_mixer + i].home = i;
        g->ents[g->e_mixer + i].fp = 2;
    }
    entity_init(&g->ents[g->e_otc], GEN_K_OTC, "OTC broker");
    entity_init(&g->ents[g->e_swap], GEN_K_SWAP, "Instant swap service");
    entity_init(&g->ents[g->e_bridge], GEN_K_BRIDGE, "Cross-chain bridge");
    for (uint32_t k = g->e_otc; k <= g->e_bridge; k++) {
        g->ents[k].type_q = (float)(0.5 + 0.5 * gen_unif(r));
        g->ents[k].fp = 2;
    }
    for (uint32_t i = 0; i < c->scenarios; i++) {
        snprintf(name, sizeof name, "Lazarus Group (scenario %u)", i + 1);
        entity_init(&g->ents[g->e_thief + i], GEN_K_THIEF, name);
        g->ents[g->e_thief + i].home = i;
        g->ents[g->e_thief + i].fp = 1;
        g->ents[g->e_thief + i].type_q = 0.75f;
    }
    if (c->evm) {
        for (uint32_t i = 0; i < c->evm_scenarios; i++) {
            uint32_t k = g->e_thief + c->scenarios + i;
            snprintf(name, sizeof name, "Lazarus Group (EVM scenario %u)", i + 1);
            entity_init(&g->ents[k], GEN_K_THIEF, name);
            g->ents[k].home = c->scenarios + i;
            g->ents[k].fp = 1;
            g->ents[k].type_q = 0.75f;
        }
        entity_init(&g->ents[g->e_vault], GEN_K_SWAP, "THORChain BTC vault");
        g->ents[g->e_vault].type_q = 0.9f;
        g->ents[g->e_vault].fp = 2;
    }
    return 0;
}

/* A reused address of ent (hot wallet, cold wallet, coordinator, custody), made on first use. */
static uint32_t fixed_addr(gen *g, uint32_t ent, int k, int style)
{
    if (g->ents[ent].fixed[k] == GEN_NONE) {
        uint32_t a = gen_addr_new(g, ent, style);
        g->ents[ent].fixed[k] = a;
    }
    return g->ents[ent].fixed[k];
}

static uint32_t hot_addr(gen *g, uint32_t ent)
{
    return fixed_addr(g, ent, 0, gen_style_for(g, ent));
}

static uint32_t cold_addr(gen *g, uint32_t ent)
{
    return fixed_addr(g, ent, 1, g->era >= 2019.5 ? GEN_S_P2WSH : GEN_S_P2SH_MS);
}

/* ---- deposit addresses: (service, customer) -> address ---- */

uint32_t gen_deposit_addr(gen *g, uint32_t service, uint32_t customer)
{
    gen_entity *s = &g->ents[service];
    if (s->kind == GEN_K_SWAP) return gen_addr_new(g, service, gen_style_for(g, service));
    if (s->kind == GEN_K_BRIDGE)
        return fixed_addr(g, service, 3, g->era >= 2019.0 ? GEN_S_P2WPKH : GEN_S_P2SH_MS);
    if (s->kind == GEN_K_MERCHANT) return gen_addr_new(g, service, gen_style_for(g, service));
    uint64_t key = (uint64_t)service << 32 | customer, val;
    if (util_hmap_get(&g->dmap, key, &val)) return (uint32_t)val;
    /* the entry first, so that out of memory leaves no address made */
    if (util_hmap_add(&g->dmap, key, GEN_NONE)) {
        g->oom = 1;
        return hot_addr(g, service);
    }
    uint32_t a = gen_addr_new(g, service, gen_style_for(g, service));
    g->dmap.vals[util_hmap_first(&g->dmap, key)] = a;
    return a;
}

/* Where a deposit to service lands: exchanges, OTC and swap desks sweep later; the bridge
 * holds its custody coins directly. */
static uint32_t deposit_dest(const gen *g, uint32_t service)
{
    int k = g->ents[service].kind;
    if (k == GEN_K_BRIDGE || k == GEN_K_MERCHANT) return GEN_DEST(service, GEN_W_MAIN);
    return GEN_DEST(service, GEN_W_IN);
}

/* ---- picking actors ---- */

static uint32_t pick_exchange(gen *g)
{
    /* Zipf-like: the first exchanges are the big ones. */
    double tot = 0, x;
    for (uint32_t i = 0; i < g->n_ex; i++)
        tot += 1.0 / (i + 1);
    x = gen_unif(&g->rng) * tot;
    for (uint32_t i = 0; i < g->n_ex; i++) {
        x -= 1.0 / (i + 1);
        if (x < 0) return g->e_ex + i;
    }
    return g->e_ex + g->n_ex - 1;
}

static uint32_t pick_user_with(gen *g, int w, int64_t min_sum, uint32_t min_coins)
{
    for (int t = 0; t < 12; t++) {
        uint32_t u = g->e_user + gen_below(&g->rng, g->n_user);
        const gen_wallet *wl = &g->ents[u].w[w];
        if (wl->sum >= min_sum && wl->coins.n >= min_coins && wl->coins.n) return u;
    }
    return GEN_NONE;
}

static uint32_t random_user(gen *g)
{
    return g->e_user + gen_below(&g->rng, g->n_user);
}

/* A spend finishes with either BIP 69 order (wallets that use it) or a random order. */
static int finish(gen *g, uint32_t ent)
{
    if (!g->ents[ent].bip69) gen_tx_shuffle(g);
    return gen_tx_finish(g);
}

/* Occasional data and bare-multisig outputs, as mainnet's payments carried them. */
static void extras(gen *g)
{
    uint8_t s[128];
    if (g->era >= 2014.2 && gen_chance(&g->rng, 0.012)) {
        size_t n;
        if (gen_chance(&g->rng, 0.4)) { /* an Omni-style 20-byte payload */
            s[0] = 0x6a, s[1] = 20, s[2] = 'o', s[3] = 'm', s[4] = 'n', s[5] = 'i';
            for (int i = 6; i < 22; i++)
                s[i] = (uint8_t)gen_rand(&g->rng);
            n = 22;
        } else {
            size_t len = gen_range(&g->rng, 8, 80), o = 0;
            s[o++] = 0x6a;
            if (len >= 0x4c) s[o++] = 0x4c; /* OP_PUSHDATA1, as 80-byte payloads use */
            s[o++] = (uint8_t)len;
            for (size_t i = 0; i < len; i++)
                s[o++] = (uint8_t)gen_rand(&g->rng);
            n = o;
        }
        gen_tx_out_raw(g, s, n, 0);
    }
    if (g->era >= 2013.5 && g->era < 2017.5 && gen_chance(&g->rng, 0.01)) {
        /* 1-of-3 bare multisig carrying data in its "keys" (Counterparty-style). */
        size_t o = 0;
        s[o++] = 0x51;
        for (int k = 0; k < 3; k++) {
            s[o++] = 33;
            s[o++] = (uint8_t)(2 + (gen_rand(&g->rng) & 1));
            for (int i = 0; i < 32; i++)
                s[o++] = (uint8_t)gen_rand(&g->rng);
        }
        s[o++] = 0x53;
        s[o++] = 0xae;
        gen_tx_out_raw(g, s, o, 7800);
    }
}

/* ---- user activities ---- */

/* u pays a share (lo..hi, log-uniform) of wallet w to addr. */
static int user_pay(gen *g, uint32_t u, int w, uint32_t addr, uint32_t dest, double lo, double hi,
                    double round_p, int add_extras)
{
    int64_t sum = g->ents[u].w[w].sum;
    int64_t amt = (int64_t)(sum * gen_logunif(&g->rng, lo, hi));
    if (gen_chance(&g->rng, round_p)) amt = gen_round_amount(&g->rng, amt);
    if (amt < 20000) amt = sum / 2;
    if (amt < GEN_DUST * 2) return 0;
    gen_tx_begin(g, u);
    gen_tx_out(g, addr, amt, dest);
    if (add_extras) extras(g);
    unsigned mask = GEN_MASK_ANY;
    if (!gen_fund(g, u, w, mask, gen_fee_rate(g), 0, 24)) return 0;
    int rc = finish(g, u);
    return rc ? rc : 1;
}

static int act_merchant_payment(gen *g)
{
    uint32_t u = pick_user_with(g, GEN_W_MAIN, 50000, 1);
    if (u == GEN_NONE || !g->n_merch) return 0;
    uint32_t m = g->e_merch + gen_below(&g->rng, g->n_merch);
    uint32_t a = gen_deposit_addr(g, m, u); /* a fresh invoice address */
    return user_pay(g, u, GEN_W_MAIN, a, GEN_DEST(m, GEN_W_MAIN), 0.005, 0.5, 0.1, 1);
}

static int act_p2p(gen *g)
{
    uint32_t u = pick_user_with(g, GEN_W_MAIN, 50000, 1);
    if (u == GEN_NONE) return 0;
    uint32_t n = gen_chance(&g->rng, 0.1) ? gen_range(&g->rng, 2, 4) : 1;
    gen_tx_begin(g, u);
    int64_t sum = g->ents[u].w[GEN_W_MAIN].sum;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = random_user(g);
        if (v == u) continue;
        int64_t amt = (int64_t)(sum * gen_logunif(&g->rng, 0.003, 0.6) / n);
        if (gen_chance(&g->rng, 0.5)) amt = gen_round_amount(&g->rng, amt);
        if (amt < 5000) continue;
        gen_tx_out(g, gen_addr_recv(g, v, g->cfg.reuse_rate), amt, GEN_DEST(v, GEN_W_MAIN));
    }
    if (!g->nout) return 0;
    extras(g);
    if (!gen_fund(g, u, GEN_W_MAIN, GEN_MASK_ANY, gen_fee_rate(g), 0, 24)) return 0;
    int rc = finish(g, u);
    return rc ? rc : 1;
}

static int act_deposit(gen *g)
{
    uint32_t u = pick_user_with(g, GEN_W_MAIN, 50000, 1);
    if (u == GEN_NONE) return 0;
    double x = gen_unif(&g->rng);
    uint32_t s = x < 0.03   ? g->e_otc
                 : x < 0.06 ? g->e_swap
                 : x < 0.08 ? g->e_bridge
                            : pick_exchange(g);
    uint32_t a = gen_deposit_addr(g, s, u);
    if (g->ents[u].w[GEN_W_MAIN].coins.n <= 6 && gen_chance(&g->rng, 0.3)) {
        /* Send everything (no change): a common deposit pattern. */
        gen_wallet *w = &g->ents[u].w[GEN_W_MAIN];
        gen_tx_begin(g, u);
        while (w->coins.n && g->nin < 30)
            gen_tx_take(g, u, GEN_W_MAIN, w->coins.n - 1);
        int64_t v = gen_tx_in_sum(g);
        gen_tx_out(g, a, v, deposit_dest(g, s));
        int64_t fee = gen_fee(g, gen_fee_rate(g), 0);
        if (v - fee < GEN_DUST) {
            gen_tx_abort(g);
            return 0;
        }
        g->tout[0].value = v - fee;
        int rc = finish(g, u);
        return rc ? rc : 1;
    }
    return user_pay(g, u, GEN_W_MAIN, a, deposit_dest(g, s), 0.05, 0.9, 0.4, 0);
}

static int act_consolidate(gen *g)
{
    uint32_t u = pick_user_with(g, GEN_W_MAIN, 0, 8);
    if (u == GEN_NONE) return 0;
    gen_wallet *w = &g->ents[u].w[GEN_W_MAIN];
    uint32_t n = w->coins.n < 60 ? w->coins.n : 60;
    gen_tx_begin(g, u);
    for (uint32_t i = 0; i < n; i++)
        gen_tx_take(g, u, GEN_W_MAIN, gen_below(&g->rng, w->coins.n));
    uint32_t a = gen_addr_recv(g, u, g->cfg.reuse_rate);
    int64_t v = gen_tx_in_sum(g);
    gen_tx_out(g, a, v, GEN_DEST(u, GEN_W_MAIN));
    int64_t fee = gen_fee(g, gen_fee_rate(g) * 0.5, 0); /* consolidations wait for low fees */
    if (v - fee < GEN_DUST) {
        gen_tx_abort(g);
        return 0;
    }
    g->tout[0].value = v - fee;
    int rc = finish(g, u);
    return rc ? rc : 1;
}

static int act_postmix_spend(gen *g)
{
    if (!g->privacy.n) return 0;
    for (int t = 0; t < 6; t++) {
        uint32_t u = g->privacy.v[gen_below(&g->rng, g->privacy.n)];
        if (!g->ents[u].w[GEN_W_IN].coins.n) continue;
        uint32_t to = gen_chance(&g->rng, 0.5) && g->n_merch
                          ? g->e_merch + gen_below(&g->rng, g->n_merch)
                          : pick_exchange(g);
        uint32_t a = gen_deposit_addr(g, to, u);
        return user_pay(g, u, GEN_W_IN, a, deposit_dest(g, to), 0.2, 1.0, 0.2, 0);
    }
    return 0;
}

/* ---- services ---- */

/* Batched withdrawals from a service's hot wallet to users (and now and then to another
 * exchange's deposit address). */
static int act_withdraw(gen *g, uint32_t s)
{
    gen_entity *e = &g->ents[s];
    gen_wallet *hot = &e->w[GEN_W_MAIN];
    if (e->kind == GEN_K_EXCHANGE && e->w[GEN_W_COLD].sum > 4 * hot->sum &&
        e->w[GEN_W_COLD].coins.n && gen_chance(&g->rng, 0.3)) {
        /* Refill the hot wallet from cold storage. */
        gen_tx_begin(g, s);
        gen_tx_out(g, hot_addr(g, s), e->w[GEN_W_COLD].sum / 4, GEN_DEST(s, GEN_W_MAIN));
        if (!gen_fund(g, s, GEN_W_COLD, GEN_MASK_ANY, gen_fee_rate(g), 0, 10)) return 0;
        int rc = finish(g, s);
        return rc ? rc : 1;
    }
    if (hot->sum < 200000 || !hot->coins.n) return 0;
    uint32_t k = 1;
    /* Exchanges batch withdrawals since about 2015; many still send them one by one. */
    if (e->kind == GEN_K_EXCHANGE && g->era >= 2015.0 && gen_chance(&g->rng, 0.35))
        k = (uint32_t)gen_logunif(&g->rng, 2, 40);
    else
        k = gen_chance(&g->rng, 0.8) ? 1 : gen_range(&g->rng, 2, 3);
    gen_tx_begin(g, s);
    /* Exchange withdrawals are user-sized (the money per user), scaled so that exchanges
     * together hold about a tenth of all coins, as on mainnet; small services pay out from
     * their float. */
    double scale;
    if (e->kind == GEN_K_EXCHANGE) {
        double r = g->supply ? (double)g->ex_total / (0.12 * (double)g->supply) : 1;
        r = r < 0.01 ? 0.01 : r > 100 ? 100 : r;
        scale = (double)g->supply / g->n_user * 0.2 * r;
    } else {
        scale = hot->sum / 8.0 / k;
    }
    int64_t left = hot->sum / 3;
    for (uint32_t i = 0; i < k; i++) {
        int64_t amt = (int64_t)(scale * gen_logunif(&g->rng, 0.01, 1.0));
        if (amt > left) amt = left;
        left -= amt;
        if (gen_chance(&g->rng, 0.5)) amt = gen_round_amount(&g->rng, amt);
        if (amt < 10000) continue;
        if (g->n_ex > 1 && e->kind == GEN_K_EXCHANGE && gen_chance(&g->rng, 0.03)) {
            uint32_t other = pick_exchange(g);
            if (other != s) {
                gen_tx_out(g, gen_deposit_addr(g, other, s), amt, deposit_dest(g, other));
                continue;
            }
        }
        uint32_t u = random_user(g);
        gen_tx_out(g, gen_addr_recv(g, u, g->cfg.reuse_rate), amt, GEN_DEST(u, GEN_W_MAIN));
    }
    if (!g->nout) return 0;
    if (!gen_fund(g, s, GEN_W_MAIN, GEN_MASK_ANY, gen_fee_rate(g), -1, 60)) return 0;
    int rc = finish(g, s);
    return rc ? rc : 1;
}

/* Sweep deposit addresses into the hot wallet (and some into cold storage). */
static int act_sweep(gen *g, uint32_t s)
{
    gen_entity *e = &g->ents[s];
    gen_wallet *in = &e->w[GEN_W_IN];
    if (in->coins.n < 3) return 0;
    uint32_t n = in->coins.n < 100 ? in->coins.n : 100;
    gen_tx_begin(g, s);
    for (uint32_t i = 0; i < n; i++)
        gen_tx_take(g, s, GEN_W_IN, in->coins.n - 1);
    int64_t v = gen_tx_in_sum(g);
    int cold = e->kind == GEN_K_EXCHANGE && g->era >= 2013.0 && gen_chance(&g->rng, 0.25);
    int64_t c = cold ? v / 5 : 0;
    gen_tx_out(g, hot_addr(g, s), v - c, GEN_DEST(s, GEN_W_MAIN));
    if (cold && c >= GEN_DUST)
        gen_tx_out(g, cold_addr(g, s), c, GEN_DEST(s, GEN_W_COLD));
    else if (cold)
        g->tout[0].value += c;
    int64_t fee = gen_fee(g, gen_fee_rate(g) * 0.7, 0);
    if (g->tout[0].value - fee < GEN_DUST) {
        gen_tx_abort(g);
        return 0;
    }
    g->tout[0].value -= fee;
    int rc = gen_tx_finish(g);
    return rc ? rc : 1;
}

static int act_merchant_cashout(gen *g)
{
    if (!g->n_merch) return 0;
    for (int t = 0; t < 4; t++) {
        uint32_t m = g->e_merch + gen_below(&g->rng, g->n_merch);
        gen_wallet *w = &g->ents[m].w[GEN_W_MAIN];
        if (w->coins.n < 10) continue;
        uint32_t n = w->coins.n < 80 ? w->coins.n : 80;
        gen_tx_begin(g, m);
        for (uint32_t i = 0; i < n; i++)
            gen_tx_take(g, m, GEN_W_MAIN, w->coins.n - 1);
        uint32_t ex = g->ents[m].home;
        int64_t v = gen_tx_in_sum(g);
        gen_tx_out(g, gen_deposit_addr(g, ex, m), v, deposit_dest(g, ex));
        int64_t fee = gen_fee(g, gen_fee_rate(g), 0);
        if (v - fee < GEN_DUST) {
            gen_tx_abort(g);
            return 0;
        }
        g->tout[0].value = v - fee;
        int rc = finish(g, m);
        return rc ? rc : 1;
    }
    return 0;
}

/* A pool pays its miners (users) in one batch, or sells coins at an exchange. */
static int act_pool_payout(gen *g)
{
    if (!g->n_miner) return 0;
    uint32_t p = g->e_miner + gen_below(&g->rng, g->n_miner);
    gen_wallet *w = &g->ents[p].w[GEN_W_MAIN];
    if (w->sum < 100000 || !w->coins.n) return 0;
    gen_tx_begin(g, p);
    if (gen_chance(&g->rng, 0.2)) {
        uint32_t ex = pick_exchange(g);
        gen_tx_out(g, gen_deposit_addr(g, ex, p), (int64_t)(w->sum * gen_unif(&g->rng) * 0.5) + 1,
                   deposit_dest(g, ex));
    } else {
        uint32_t k = g->era < 2011.0 ? gen_range(&g->rng, 1, 3) : gen_range(&g->rng, 3, 40);
        int64_t total = (int64_t)(w->sum * (0.5 + 0.4 * gen_unif(&g->rng)));
        for (uint32_t i = 0; i < k; i++) {
            int64_t amt = (int64_t)(total * (0.5 + gen_unif(&g->rng)) / k);
            if (amt < 10000) continue;
            uint32_t u = g->home_miners.n ? g->home_miners.v[gen_below(&g->rng, g->home_miners.n)]
                                          : random_user(g);
            gen_tx_out(g, gen_addr_recv(g, u, 0.8), amt, GEN_DEST(u, GEN_W_MAIN));
        }
    }
    if (!g->nout || g->tout[0].value < GEN_DUST) {
        gen_tx_abort(g);
        return 0;
    }
    if (!gen_fund(g, p, GEN_W_MAIN, GEN_MASK_ANY, gen_fee_rate(g), 0, 80)) return 0;
    int rc = gen_tx_finish(g);
    return rc ? rc : 1;
}

/* ---- filling a block ---- */

enum {
    A_MERCHANT,
    A_P2P,
    A_DEPOSIT,
    A_CONSOLIDATE,
    A_POSTMIX,
    A_WITHDRAW,
    A_SWEEP,
    A_CASHOUT,
    A_POOL,
    A_SERVICE,
    A_N
};
static const double act_weight[A_N] = {27, 24, 12, 1.5, 3, 14, 1.5, 1, 2, 3};

int gen_econ_fill(gen *g, uint32_t target)
{
    double tot = 0;
    for (int i = 0; i < A_N; i++)
        tot += act_weight[i];
    uint32_t fails = 0;
    while (g->blk_ntx + 1 < target && fails < 64 && !g->oom &&
           g->blk_weight + 160000 < GEN_MAX_WEIGHT) { /* the largest fill tx fits */
        double x = gen_unif(&g->rng) * tot;
        int a = 0;
        while (a < A_N - 1 && (x -= act_weight[a]) >= 0)
            a++;
        int rc = 0;
        switch (a) {
        case A_MERCHANT:
            rc = act_merchant_payment(g);
            break;
        case A_P2P:
            rc = act_p2p(g);
            break;
        case A_DEPOSIT:
            rc = act_deposit(g);
            break;
        case A_CONSOLIDATE:
            rc = act_consolidate(g);
            break;
        case A_POSTMIX:
            rc = act_postmix_spend(g);
            break;
        case A_WITHDRAW:
            rc = act_withdraw(g, pick_exchange(g));
            break;
        case A_SWEEP: {
            /* Services sweep in proportion to the deposits waiting. */
            uint32_t s =
                gen_chance(&g->rng, 0.8) ? pick_exchange(g) : g->e_otc + gen_below(&g->rng, 2);
            rc = act_sweep(g, s);
            break;
        }
        case A_CASHOUT:
            rc = act_merchant_cashout(g);
            break;
        case A_POOL:
            rc = act_pool_payout(g);
            break;
        default:
            rc = act_withdraw(g, g->e_otc + gen_below(&g->rng, 3));
            break;
        }
        if (rc < 0) return rc;
        fails = rc ? 0 : fails + 1;
    }
    return 0;
}
