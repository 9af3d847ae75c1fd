/* CoinJoin detectors (rules version 2): rules over one tx's input and output values, counts and
 * script types, read from the store. The known implementations (Whirlpool, Wasabi 1 and 2) by
 * their fixed shapes; every other tx with equal outputs by its participants: groups of inputs
 * that each pay for one equal output and at most one change output of their own, as the
 * members of a round do and one payer's batch does not. Each rule is written down in
 * docs/clustering.md; the thresholds here are the ones documented there. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static const char *const kind_names[CLUSTER_CJ_NKINDS] = {"none",          "wasabi1",     "wasabi2",
                                                          "whirlpool",     "joinmarket",  "generic",
                                                          "whirlpool_tx0", "payout_batch"};

const char *cluster_cj_kind_name(int kind)
{
    return kind >= 0 && kind < CLUSTER_CJ_NKINDS ? kind_names[kind] : "unknown";
}

int cluster_cj_excludes(int kind)
{
    return kind != CLUSTER_CJ_NONE && kind != CLUSTER_CJ_WHIRLPOOL_TX0 &&
           kind != CLUSTER_CJ_PAYOUT_BATCH && kind < CLUSTER_CJ_NKINDS;
}

static const char *const rule_names[CLUSTER_NRULES] = {"none",
                                                       "whirlpool-5x5",
                                                       "whirlpool-tx0-fee",
                                                       "whirlpool-tx0-discount",
                                                       "wasabi2-denoms",
                                                       "wasabi1-tenth",
                                                       "joinmarket-makers",
                                                       "equal-output-participants",
                                                       "one-payer-batch",
                                                       "wasabi1-levels"};

const char *cluster_rule_name(int rule)
{
    return rule >= 0 && rule < CLUSTER_NRULES ? rule_names[rule] : "unknown";
}

void cluster_scratch_free(cluster_scratch *sc)
{
    free(sc->v);
    free(sc->in);
    free(sc->in_addr);
    free(sc->used);
    memset(sc, 0, sizeof *sc);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Grow the scratch to hold n values and n inputs. 0 or UTIL_ENOMEM. */
static int scratch_reserve(cluster_scratch *sc, size_t n)
{
    if (sc->cap >= n) return 0;
    size_t nc = sc->cap ? sc->cap : 64;
    while (nc < n)
        nc *= 2;
    int64_t *v = realloc(sc->v, nc * sizeof *v);
    if (v) sc->v = v;
    int64_t *in = realloc(sc->in, nc * sizeof *in);
    if (in) sc->in = in;
    uint32_t *ia = realloc(sc->in_addr, nc * sizeof *ia);
    if (ia) sc->in_addr = ia;
    uint8_t *u = realloc(sc->used, nc);
    if (u) sc->used = u;
    if (!v || !in || !ia || !u) return UTIL_ENOMEM;
    sc->cap = nc;
    return 0;
}

/* Whirlpool pools: denomination and Tx0 pool fee (sat). */
static const int64_t wp_denom[4] = {100000, 1000000, 5000000, 50000000};
static const int64_t wp_fee[4] = {5000, 50000, 175000, 1750000};

/* Wasabi 2 standard denominations (5000 sat up): powers of 2, powers of 3, 2 x powers of 3,
 * and the 1-2-5 series. */
static int ww2_denomination(int64_t v)
{
    if (v < 5000) return 0;
    if ((v & (v - 1)) == 0) return 1;
    int64_t t = v;
    if (t % 2 == 0) t /= 2;
    while (t % 3 == 0)
        t /= 3;
    if (t == 1) return 1;
    t = v;
    while (t % 10 == 0)
        t /= 10;
    return t == 1 || t == 2 || t == 5;
}

/* Vbytes an input of a script type spends at most (P2SH counted as a 2-of-3 multisig). */
static int in_vbytes(int type)
{
    switch (type) {
    case BTC_P2PK:
        return 114;
    case BTC_P2PKH:
        return 148;
    case BTC_P2WPKH:
        return 68;
    case BTC_P2WSH:
        return 105;
    case BTC_P2TR:
        return 58;
    default:
        return 300;
    }
}

/* ---- participants: groups of inputs that pay for one equal output each ---- */

typedef struct match_ctx {
    const int64_t *in; /* input values, ascending */
    uint8_t *used;     /* per input (in that order): taken by a participant */
    uint32_t m;
    int64_t lo;          /* a group may get back up to -lo more than it put in (maker fees) */
    double hi_per_vbyte; /* the fee a group may pay: 1.5 x the tx's fee rate per vbyte of its
                            inputs (at the costliest input type's size) and two outputs, */
    int64_t hi_const;    /* plus this */
    int max_vb;
} match_ctx;

static int64_t hi_for(const match_ctx *c, int size)
{
    return (int64_t)(c->hi_per_vbyte * (size * c->max_vb + 97)) + c->hi_const;
}

/* The unused input from index `from` on whose value lies in want + [lo, hi], nearest to want,
 * or -1; *best_d its distance. */
static int64_t nearest1(const match_ctx *c, int64_t want, int64_t lo, int64_t hi, uint32_t from,
                        int64_t *best_d)
{
    int64_t best = -1;
    uint32_t a = from, b = c->m; /* the first value >= want + lo */
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (c->in[mid] < want + lo)
            a = mid + 1;
        else
            b = mid;
    }
    for (uint32_t i = a; i < c->m && c->in[i] <= want + hi; i++) {
        if (c->used[i]) continue;
        int64_t d = c->in[i] - want;
        if (d < 0) d = -d;
        if (best < 0 || d < *best_d) best = i, *best_d = d;
    }
    return best;
}

/* Groups of exactly `size` unused inputs (ascending indices from `from`, the first depth of
 * them in cur summing to acc) whose sum lies in target + [lo, hi]: the nearest in best. */
static void search(const match_ctx *c, int size, int depth, uint32_t from, int64_t acc,
                   int64_t target, int64_t lo, int64_t hi, uint32_t *cur, uint32_t *best,
                   int64_t *best_d)
{
    if (depth == size - 1) {
        int64_t d = 0, j = nearest1(c, target - acc, lo, hi, from, &d);
        if (j >= 0 && (*best_d < 0 || d < *best_d)) {
            memcpy(best, cur, (size_t)depth * sizeof *cur);
            best[depth] = (uint32_t)j;
            *best_d = d;
        }
        return;
    }
    for (uint32_t i = from; i < c->m && acc + c->in[i] <= target + hi; i++) {
        if (c->used[i]) continue;
        cur[depth] = i;
        search(c, size, depth + 1, i + 1, acc + c->in[i], target, lo, hi, cur, best, best_d);
    }
}

/* The group of unused inputs whose sum is target plus a difference within [lo, hi(size)],
 * nearest to target, smaller groups first: up to 2 inputs, 3 with at most 20 inputs in the tx,
 * 4 with at most 12 (a tx with more inputs has groups summing to nearly anything). Fills pick
 * and returns the group's size, or 0 if there is none. */
static int find_group(const match_ctx *c, int64_t target, int64_t lo, uint32_t pick[4],
                      int64_t *diff)
{
    int max = c->m <= 12 ? 4 : c->m <= 20 ? 3 : 2;
    for (int size = 1; size <= max; size++) {
        uint32_t cur[4];
        int64_t best_d = -1;
        search(c, size, 0, 0, 0, target, lo, hi_for(c, size), cur, pick, &best_d);
        if (best_d < 0) continue;
        int64_t sum = 0;
        for (int i = 0; i < size; i++)
            sum += c->in[pick[i]];
        *diff = sum - target;
        return size;
    }
    return 0;
}

/* Sort the n inputs by value, addresses along (insertion sort: the txs concerned are small,
 * and a full order keeps the result independent of the qsort implementation). */
static void sort_inputs(cluster_scratch *sc, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        int64_t x = sc->in[i];
        uint32_t a = sc->in_addr[i], j = i;
        while (j > 0 && (sc->in[j - 1] > x || (sc->in[j - 1] == x && sc->in_addr[j - 1] > a))) {
            sc->in[j] = sc->in[j - 1], sc->in_addr[j] = sc->in_addr[j - 1];
            j--;
        }
        sc->in[j] = x, sc->in_addr[j] = a;
    }
}

/* Count the participants who paid for equal outputs of value v: first a group of inputs for
 * each other output (an equal output and that change), then groups for the equal outputs left
 * (no change), at most k. A group whose input address an earlier participant used is the same
 * owner and not counted. *earning gets the groups that got back more than they put in,
 * *with_change those that took a change output. */
static uint32_t participants(cluster_scratch *sc, uint32_t n_in, const int64_t *change,
                             uint32_t n_change, int64_t v, uint32_t k, const match_ctx *base,
                             uint32_t *earning, uint32_t *with_change)
{
    match_ctx c = *base;
    memset(sc->used, 0, n_in);
    uint32_t claimed[4 * 64], n_claimed = 0; /* input addresses of counted participants */
    uint32_t found = 0, counted = 0;
    *earning = *with_change = 0;
    for (uint32_t t = 0; t < n_change + k && found < k; t++) {
        /* A group without change pays its share of the fee: one that gets back exactly what
         * it put in is a coin forwarded, not a participant. */
        int64_t target = t < n_change ? v + change[t] : v;
        uint32_t pick[4];
        int64_t diff;
        int size = find_group(&c, target, t < n_change ? c.lo : 1, pick, &diff);
        if (!size) {
            if (t >= n_change) break; /* no change-free group now: none later either */
            continue;
        }
        found++;
        int same = 0;
        for (int i = 0; i < size; i++) {
            sc->used[pick[i]] = 1;
            for (uint32_t j = 0; j < n_claimed; j++)
                same |= claimed[j] == sc->in_addr[pick[i]];
        }
        if (same) continue;
        for (int i = 0; i < size && n_claimed < sizeof claimed / sizeof *claimed; i++)
            claimed[n_claimed++] = sc->in_addr[pick[i]];
        counted++;
        *earning += diff < 0;
        *with_change += t < n_change;
    }
    return counted;
}

/* P(X >= p) for X binomial with t trials of probability q (no libm: the library links none). */
static double binom_tail(uint32_t t, uint32_t p, double q)
{
    if (p == 0) return 1.0;
    if (p > t) return 0.0;
    double pmf = 1.0, below = 0.0;
    for (uint32_t i = 0; i < t; i++)
        pmf *= 1.0 - q;
    for (uint32_t i = 0; i < p; i++) {
        below += pmf;
        pmf = pmf * (double)(t - i) / (double)(i + 1) * q / (1.0 - q);
    }
    return below >= 1.0 ? 0.0 : 1.0 - below;
}

/* Equal values off the real one by these many widths of the window a group must hit give the
 * participants that chance alone finds among these inputs: a tx with many inputs has groups
 * summing to nearly anything. */
static const int null_widths[4] = {-5, -2, 2, 5};

int cluster_detect_ex(const store *s, uint64_t tx, cluster_scratch *sc, cluster_detection *d)
{
    memset(d, 0, sizeof *d);
    store_tx_row row;
    store_tx(s, tx, &row);
    if (row.flags & STORE_TX_COINBASE) return 0;
    uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
    if (n_out < 2) return 0;
    if (scratch_reserve(sc, (size_t)(n_out > n_in ? n_out : n_in) + 1)) return UTIL_ENOMEM;
    /* Output values (OP_RETURN excluded) sorted, and the shape facts every rule uses. */
    uint32_t n = 0, n_nulldata = 0, n_p2wpkh = 0, n_p2tr = 0;
    for (uint32_t i = 0; i < n_out; i++) {
        uint64_t o = row.first_out + i;
        int t = store_out_type(s, o);
        if (t == BTC_NULLDATA) {
            n_nulldata++;
            continue;
        }
        n_p2wpkh += t == BTC_P2WPKH;
        n_p2tr += t == BTC_P2TR;
        sc->v[n++] = store_out_value(s, o);
    }
    if (n < 2) return 0;
    qsort(sc->v, n, sizeof *sc->v, cmp_i64);
    /* The most frequent value (ties: the larger value) and its count. */
    int64_t best_v = 0;
    uint32_t best_k = 0;
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j < n && sc->v[j] == sc->v[i])
            j++;
        if (j - i >= best_k) best_k = j - i, best_v = sc->v[i];
        i = j;
    }

    /* Whirlpool mix: exactly 5 inputs and 5 P2WPKH outputs, all of one pool denomination. */
    if (n_in == 5 && n_out == 5 && best_k == 5 && n_p2wpkh == 5) {
        for (int p = 0; p < 4; p++)
            if (best_v == wp_denom[p]) {
                d->kind = CLUSTER_CJ_WHIRLPOOL, d->rule = CLUSTER_RULE_WHIRLPOOL_5X5;
                d->score = 100;
                return 0;
            }
    }
    /* Whirlpool Tx0: an OP_RETURN, >= 1 equal premix outputs of a pool denomination plus a
     * mining allowance (at most 10% of it or 50,000 sat; one other output in that range is the
     * change), and
     * an output of the pool's fee, or of the fee less a discount in whole percent (an SCODE; at
     * most 90%) with at most one other output besides the premixes. */
    if (n_nulldata == 1) {
        for (int p = 0; p < 4; p++) {
            int has_fee = 0, has_disc = 0;
            uint32_t premix = 0, in_range = 0;
            int64_t F = wp_fee[p], D = wp_denom[p];
            for (uint32_t i = 0; i < n;) {
                uint32_t j = i;
                while (j < n && sc->v[j] == sc->v[i])
                    j++;
                int64_t v = sc->v[i];
                if (v == F) has_fee = 1;
                if (v < F && v * 10 >= F && (v * 100) % F == 0) has_disc = 1;
                if (v > D && v <= D + (D / 10 > 50000 ? D / 10 : 50000)) {
                    in_range += j - i;
                    if (j - i > premix) premix = j - i;
                }
                i = j;
            }
            if (!premix || in_range - premix > 1) continue;
            if (has_fee) {
                d->kind = CLUSTER_CJ_WHIRLPOOL_TX0, d->rule = CLUSTER_RULE_TX0_FEE;
                d->score = 100;
                return 0;
            }
            if (has_disc && n - premix <= 2) {
                d->kind = CLUSTER_CJ_WHIRLPOOL_TX0, d->rule = CLUSTER_RULE_TX0_DISCOUNT;
                d->score = 90;
                return 0;
            }
        }
    }
    /* Wasabi 2: >= 20 inputs and >= 20 outputs, outputs P2WPKH/P2TR only, >= 70% of outputs
     * standard denominations, and some denomination repeated. */
    if (n_in >= 20 && n >= 20 && n_p2wpkh + n_p2tr == n_out && best_k >= 2) {
        uint32_t dn = 0;
        for (uint32_t i = 0; i < n; i++)
            dn += (uint32_t)ww2_denomination(sc->v[i]);
        if (dn * 10 >= n * 7) {
            d->kind = CLUSTER_CJ_WASABI2, d->rule = CLUSTER_RULE_WASABI2_DENOMS;
            d->score = (int)(100 * dn / n);
            return 0;
        }
    }
    /* Wasabi 1: all outputs P2WPKH, at least as many inputs as equal outputs of a base of
     * 0.095-0.106 BTC, and >= 10 of those, or >= 2 of them with mixing levels (2, 4, 8 or 16
     * times the base, each >= 2) making >= 5 level outputs in all. */
    if (n_p2wpkh == n_out && n_in >= 5) {
        for (uint32_t i = 0; i < n;) {
            uint32_t j = i;
            while (j < n && sc->v[j] == sc->v[i])
                j++;
            int64_t base = sc->v[i];
            uint32_t c = j - i, levels = c, higher = 0;
            if (c >= 2 && base >= 9500000 && base <= 10600000 && n_in >= c) {
                for (int k = 1; k <= 4; k++) {
                    uint32_t ck = 0;
                    for (uint32_t x = j; x < n; x++)
                        ck += sc->v[x] == base << k;
                    if (ck >= 2) levels += ck, higher++;
                }
                if ((c >= 10 && n_in >= 10) || (higher && levels >= 5)) {
                    d->kind = CLUSTER_CJ_WASABI1;
                    d->rule = c >= 10 && n_in >= 10 ? CLUSTER_RULE_WASABI1_TENTH
                                                    : CLUSTER_RULE_WASABI1_LEVELS;
                    d->score = d->rule == CLUSTER_RULE_WASABI1_TENTH ? 100 : 90;
                    return 0;
                }
            }
            i = j;
        }
    }
    /* Equal outputs (k >= 2) paying k distinct addresses, inputs all resolved, at most one other
     * output per equal one plus one: who paid for them? */
    if (best_k < 2 || (row.flags & STORE_TX_UNRESOLVED) || n - best_k > best_k + 1) return 0;
    d->equal_value = best_v, d->equal_count = best_k;
    uint32_t na = 0, nc = 0;
    int64_t *change = sc->v + best_k; /* the sorted values are no longer needed */
    for (uint32_t i = 0; i < n_out; i++) {
        uint64_t o = row.first_out + i;
        int t = store_out_type(s, o);
        if (t == BTC_NULLDATA) continue;
        int64_t v = store_out_value(s, o);
        if (v != best_v) {
            change[nc++] = v;
            continue;
        }
        uint32_t a = store_out_addr(s, o);
        if (a == STORE_NO_ADDR) return 0;
        sc->v[na++] = a;
    }
    qsort(sc->v, na, sizeof *sc->v, cmp_i64);
    for (uint32_t i = 1; i < na; i++)
        if (sc->v[i] == sc->v[i - 1]) return 0;
    /* Inputs: values and addresses, and the costliest input type (for the fee a group pays). */
    int max_vb = 58;
    int distinct = 0;
    for (uint32_t i = 0; i < n_in; i++) {
        uint64_t prev = store_in_prev(s, row.first_in + i);
        sc->in[i] = store_out_value(s, prev);
        sc->in_addr[i] = store_out_addr(s, prev);
        int vb = in_vbytes(store_out_type(s, prev));
        if (vb > max_vb) max_vb = vb;
        distinct |= sc->in_addr[i] != sc->in_addr[0];
    }
    /* Bounded work: a tx this large (far beyond any round seen) is not analysed. */
    if (n_in > 1000 || (uint64_t)n_in * (nc + best_k) > 200000) return 0;
    if (!distinct) {
        /* One input address paid them all. */
        if (best_k >= 3)
            d->kind = CLUSTER_CJ_PAYOUT_BATCH, d->rule = CLUSTER_RULE_ONE_PAYER_BATCH,
            d->score = 100;
        return 0;
    }
    sort_inputs(sc, n_in);
    match_ctx mc = {sc->in,
                    sc->used,
                    n_in,
                    -(best_v / 3000 + 1000),
                    1.5 * (double)row.fee / (double)(row.vsize ? row.vsize : 1),
                    1000,
                    max_vb};
    d->participants =
        participants(sc, n_in, change, nc, best_v, best_k, &mc, &d->earning, &d->with_change);
    /* Chance: the participants found for equal values a few window widths off, as a rate per
     * target tried (half a participant added, so that none found is not a certainty). */
    int64_t width = hi_for(&mc, 2) - mc.lo;
    for (int j = 0; j < 4; j++) {
        int64_t nv = best_v + width * null_widths[j];
        uint32_t e, w;
        d->by_chance += nv > 0 ? participants(sc, n_in, change, nc, nv, best_k, &mc, &e, &w) : 0;
    }
    uint32_t targets = nc + best_k;
    double q = (d->by_chance + 0.5) / (4.0 * targets);
    double tail = binom_tail(targets, d->participants, q);
    d->chance_permille = (uint32_t)(tail * 1000 + 0.5);
    uint32_t need = (best_k + 3) / 4;
    if (need < 2) need = 2;
    /* Participants that chance does not explain (5%), at least a quarter of the equal outputs,
     * and for two equal outputs (as often one payer's two payments) both with their change. */
    if (d->participants >= need && tail < 0.05 && (best_k > 2 || d->with_change >= 2)) {
        /* JoinMarket: >= 3 equal outputs, one change at most per equal output, and makers: >= 2
         * participants who got back more than they put in (the taker pays them a fee). */
        int jm = best_k >= 3 && n - best_k <= best_k && d->earning >= 2;
        d->kind = jm ? CLUSTER_CJ_JOINMARKET : CLUSTER_CJ_GENERIC;
        d->rule = jm ? CLUSTER_RULE_JOINMARKET_MAKERS : CLUSTER_RULE_EQUAL_PARTICIPANTS;
        d->score = (int)(100 * d->participants / best_k);
        return 0;
    }
    if (best_k >= 3 && (d->participants < 2 || tail >= 0.2)) {
        /* Equal outputs that no set of participants paid for (or as many as chance gives):
         * one payer's batch. In between, no claim either way. */
        d->kind = CLUSTER_CJ_PAYOUT_BATCH, d->rule = CLUSTER_RULE_ONE_PAYER_BATCH;
        d->score = (int)(100 * (best_k - d->participants) / best_k);
    }
    return 0;
}

int cluster_detect(const store *s, uint64_t tx, cluster_scratch *sc)
{
    cluster_detection d;
    int rc = cluster_detect_ex(s, tx, sc, &d);
    return rc < 0 ? rc : d.kind;
}
