/* gen_round: the harder cases for a CoinJoin detector. Equal-output rounds outside the known
 * implementations (a few users each pay one equal output and take their change, at any
 * denomination, round or not, with the script type of each user's own wallet; and remixes of
 * such outputs without change), and their lookalikes: one payer's batches with equal outputs
 * (an employer's payroll, a merchant's or pool's payouts) funded from many of its coins. Runs
 * only with cfg.generic_rounds or cfg.lookalikes, so that without them the random stream and
 * every byte of the output stay as they were. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* Round denominations of the generic rounds (0.01 to 0.5 BTC); their outputs can be remixed. */
static const int64_t round_denoms[6] = {1000000, 2000000, 5000000, 10000000, 20000000, 50000000};

#define ROUND_MAX_PARTS 12

int gen_batch_record(gen *g, int type, uint32_t payer, uint32_t n_equal, int64_t value)
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
    r->batch = (uint8_t)type;
    r->payer = payer;
    r->n_in = (uint16_t)g->nin;
    r->n_out = (uint16_t)g->nout;
    r->n_equal = (uint16_t)n_equal;
    r->denom = value;
    return 0;
}

/* A remix without change: n waiting outputs of one round denomination, each owner taking one
 * equal output worth the denomination less an equal share of the mining fee. */
static int eq_remix(gen *g, int di, double rate)
{
    gen_vec *q = &g->gremix[di];
    uint32_t n = gen_range(&g->rng, 3, q->n < 6 ? q->n : 6);
    gen_tx_begin(g, GEN_NONE);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = gen_below(&g->rng, q->n), s = q->v[k];
        q->v[k] = q->v[--q->n];
        gen_tx_add_input(g, s, GEN_DEST_HOLD);
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t owner = g->addrs[g->tin[i].addr].owner;
        uint32_t a = gen_addr_new(g, owner, gen_style_for(g, owner));
        gen_tx_out(g, a, round_denoms[di], GEN_DEST(owner, GEN_W_MAIN));
    }
    int64_t share = (gen_fee(g, rate, 0) + n - 1) / n;
    for (uint32_t i = 0; i < n; i++)
        g->tout[i].value = round_denoms[di] - share;
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_GENERIC, 0, round_denoms[di] - share);
    return rc ? rc : 1;
}

/* A round: 3-10 users (5 most of the time) each put in one coin (sometimes two) and take one
 * output of the denomination to a fresh address of their own wallet's script type, and their
 * change (unless it is dust), paying the mining fee of their own inputs and outputs. */
static int eq_round(gen *g)
{
    if (g->era < 2012.0 || g->n_user < 10) return 0;
    double rate = gen_fee_rate(g);
    g->round_id++;
    if (gen_chance(&g->rng, 0.3)) {
        int di = (int)gen_below(&g->rng, 6);
        if (g->gremix[di].n >= 3) return eq_remix(g, di, rate);
    }
    int di = -1;
    int64_t D;
    if (gen_chance(&g->rng, 0.6)) {
        di = (int)gen_below(&g->rng, 6);
        D = round_denoms[di];
    } else {
        D = (int64_t)gen_logunif(&g->rng, 500000, 50000000);
        if (D % 100000 == 0) D += 1 + gen_below(&g->rng, 99999);
    }
    uint32_t want = gen_chance(&g->rng, 0.6) ? 5 : gen_range(&g->rng, 3, 10);
    uint32_t ents[ROUND_MAX_PARTS], nins[ROUND_MAX_PARTS], np = 0;
    int64_t ins[ROUND_MAX_PARTS];
    gen_tx_begin(g, GEN_NONE);
    for (uint32_t t = 0; t < want * 4 && np < want; t++) {
        uint32_t u = g->e_user + gen_below(&g->rng, g->n_user);
        gen_entity *e = &g->ents[u];
        uint32_t idx;
        if (e->last_round == g->round_id) continue;
        if (!gen_pick_coin(g, &e->w[GEN_W_MAIN], GEN_MASK_ANY, D + 30000, &idx)) continue;
        e->last_round = g->round_id;
        ins[np] = g->utxos[e->w[GEN_W_MAIN].coins.v[idx]].value;
        gen_tx_take(g, u, GEN_W_MAIN, idx);
        nins[np] = 1;
        if (gen_chance(&g->rng, 0.2) &&
            gen_pick_coin(g, &e->w[GEN_W_MAIN], GEN_MASK_ANY, 5000, &idx)) {
            ins[np] += g->utxos[e->w[GEN_W_MAIN].coins.v[idx]].value;
            gen_tx_take(g, u, GEN_W_MAIN, idx);
            nins[np]++;
        }
        ents[np++] = u;
    }
    if (np < 3) {
        gen_tx_abort(g);
        return 0;
    }
    for (uint32_t i = 0; i < np; i++) {
        uint32_t u = ents[i];
        int style = gen_style_for(g, u);
        /* Half the outputs of a round denomination wait for a remix (held), the rest go home. */
        int hold = di >= 0 && g->gremix[di].n < 40 && gen_chance(&g->rng, 0.5);
        int j = gen_tx_out(g, gen_addr_new(g, u, style), D,
                           hold ? GEN_DEST_HOLD : GEN_DEST(u, GEN_W_MAIN));
        if (j >= 0) g->tout[j].tag = (uint8_t)hold;
        int64_t change = ins[i] - D - (int64_t)(rate * (68.0 * nins[i] + 66.0));
        if (change >= 5000)
            gen_tx_out(g, gen_addr_new(g, u, style), change, GEN_DEST(u, GEN_W_MAIN));
    }
    gen_tx_shuffle(g);
    int rc = gen_tx_finish(g);
    if (!rc) rc = gen_cj_record(g, GEN_CJ_GENERIC, 0, D);
    for (uint32_t i = 0; !rc && i < g->nout; i++)
        if (g->tout[i].dest == GEN_DEST_HOLD && g->tout[i].tag)
            rc = gen_vec_push(g, &g->gremix[di], g->out_slot[i]);
    return rc ? rc : 1;
}

/* Fund the outputs already added from ent's main wallet with coins taken in random order (as a
 * business wallet sweeping its small incoming payments does), change to a fresh address. 1
 * funded, 0 not possible (tx aborted). */
static int fund_random(gen *g, uint32_t ent, double rate)
{
    gen_wallet *w = &g->ents[ent].w[GEN_W_MAIN];
    int64_t out = gen_tx_out_sum(g), in = 0;
    while (w->coins.n && g->nin < 80 && in < out + gen_fee(g, rate, 1) + 68 * (int64_t)rate) {
        uint32_t idx = gen_below(&g->rng, w->coins.n);
        in += g->utxos[w->coins.v[idx]].value;
        gen_tx_take(g, ent, GEN_W_MAIN, idx);
    }
    int64_t change = in - out - gen_fee(g, rate, 1);
    if (in - out - gen_fee(g, rate, 0) < 0) {
        gen_tx_abort(g);
        return 0;
    }
    if (change >= GEN_DUST)
        gen_tx_out(g, gen_addr_new(g, ent, gen_style_for(g, ent)), change,
                   GEN_DEST(ent, GEN_W_MAIN));
    return 1;
}

/* A value that is not a multiple of 0.001 BTC, as fiat-priced amounts are. */
static int64_t not_round(gen *g, int64_t v)
{
    v = v - v % 1000 + 1 + gen_below(&g->rng, 999);
    return v;
}

/* An employer (a merchant) pays 3-12 employees one salary, sometimes 1-3 others a second one,
 * from many of its incoming coins, with one change. Half the payrolls after 2018 go through a
 * provider that pays everyone to a P2WPKH address (so every equal output has one script type,
 * as JoinMarket's do). The employees of a merchant are the same users every time. */
static int payroll(gen *g)
{
    if (!g->n_merch || g->n_user < 20) return 0;
    for (int t = 0; t < 4; t++) {
        uint32_t m = g->e_merch + gen_below(&g->rng, g->n_merch);
        gen_wallet *w = &g->ents[m].w[GEN_W_MAIN];
        if (w->coins.n < 4 || w->sum < 400000) continue;
        double rate = gen_fee_rate(g);
        uint32_t k = gen_range(&g->rng, 3, 12);
        uint32_t n2 = gen_chance(&g->rng, 0.4) ? gen_range(&g->rng, 1, 3) : 0;
        int64_t budget = (int64_t)(w->sum * (0.3 + 0.5 * gen_unif(&g->rng)));
        int64_t v = not_round(g, (int64_t)(budget / (k + 1.4 * n2)));
        int64_t v2 = not_round(g, (int64_t)(v * (1.2 + 0.6 * gen_unif(&g->rng))));
        if (v < 30000) continue;
        int one_type = g->era >= 2018.0 && gen_chance(&g->rng, 0.5);
        uint32_t base = (uint32_t)(gen_mix64((uint64_t)m * 7919) % g->n_user);
        gen_tx_begin(g, m);
        for (uint32_t j = 0; j < k + n2; j++) {
            uint32_t u = g->e_user + (base + j) % g->n_user;
            uint32_t a = one_type ? gen_addr_new(g, u, GEN_S_P2WPKH)
                                  : gen_addr_recv(g, u, g->cfg.reuse_rate);
            gen_tx_out(g, a, j < k ? v : v2, GEN_DEST(u, GEN_W_MAIN));
        }
        if (!fund_random(g, m, rate)) return 0;
        if (!g->ents[m].bip69) gen_tx_shuffle(g);
        int rc = gen_tx_finish(g);
        if (!rc) rc = gen_batch_record(g, GEN_BATCH_PAYROLL, m, k, v);
        return rc ? rc : 1;
    }
    return 0;
}

/* A merchant (refunds, affiliate rewards) or a pool (equal shares) pays 3-30 users one amount,
 * round or not, from many of its coins, with one change. */
static int payout(gen *g)
{
    if (g->n_user < 40) return 0;
    for (int t = 0; t < 4; t++) {
        uint32_t p = g->n_merch && gen_chance(&g->rng, 0.6)
                         ? g->e_merch + gen_below(&g->rng, g->n_merch)
                         : g->e_miner + gen_below(&g->rng, g->n_miner);
        gen_wallet *w = &g->ents[p].w[GEN_W_MAIN];
        if (w->coins.n < 3 || w->sum < 400000) continue;
        double rate = gen_fee_rate(g);
        uint32_t k = (uint32_t)gen_logunif(&g->rng, 3, 30);
        int64_t v = (int64_t)(w->sum * (0.2 + 0.5 * gen_unif(&g->rng)) / k);
        v = gen_chance(&g->rng, 0.5) ? gen_round_amount(&g->rng, v) : not_round(g, v);
        if (v < 20000) continue;
        uint32_t base = gen_below(&g->rng, g->n_user);
        gen_tx_begin(g, p);
        for (uint32_t j = 0; j < k; j++) {
            uint32_t u = g->e_user + (base + j) % g->n_user;
            gen_tx_out(g, gen_addr_recv(g, u, g->cfg.reuse_rate), v, GEN_DEST(u, GEN_W_MAIN));
        }
        if (!fund_random(g, p, rate)) return 0;
        if (!g->ents[p].bip69) gen_tx_shuffle(g);
        int rc = gen_tx_finish(g);
        if (!rc) rc = gen_batch_record(g, GEN_BATCH_PAYOUT, p, k, v);
        return rc ? rc : 1;
    }
    return 0;
}

int gen_round_block(gen *g)
{
    if (g->blk_weight + 400000 > GEN_MAX_WEIGHT) return 0;
    int rc = 0;
    double r = g->cfg.generic_rounds, l = g->cfg.lookalikes;
    if (r > 0 && gen_chance(&g->rng, 0.3 * r)) rc = eq_round(g);
    if (rc >= 0 && l > 0 && gen_chance(&g->rng, 0.3 * l)) rc = payroll(g);
    if (rc >= 0 && l > 0 && gen_chance(&g->rng, 0.2 * l)) rc = payout(g);
    return rc < 0 ? rc : 0;
}
