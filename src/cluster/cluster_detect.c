/* CoinJoin detectors and change heuristics: rules over one tx's input and output values,
 * counts and script types, read from the store. Each rule is written down in
 * docs/clustering.md; the thresholds here are the ones documented there. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static const char *const kind_names[CLUSTER_CJ_NKINDS] = {
    "none", "wasabi1", "wasabi2", "whirlpool", "joinmarket", "generic", "whirlpool_tx0"};

const char *cluster_cj_kind_name(int kind)
{
    return kind >= 0 && kind < CLUSTER_CJ_NKINDS ? kind_names[kind] : "unknown";
}

int cluster_cj_excludes(int kind)
{
    return kind != CLUSTER_CJ_NONE && kind != CLUSTER_CJ_WHIRLPOOL_TX0;
}

static const char *const h_names[CLUSTER_NHEURISTICS] = {"fresh", "script", "round", "optimal"};

const char *cluster_heuristic_name(unsigned bit)
{
    for (unsigned i = 0; i < CLUSTER_NHEURISTICS; i++)
        if (bit == 1u << i) return h_names[i];
    return NULL;
}

int cluster_parse_heuristics(const char *list, unsigned *out, util_err *err)
{
    *out = 0;
    if (!list || !*list || !strcmp(list, "none")) return 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        unsigned found = 0;
        for (unsigned i = 0; i < CLUSTER_NHEURISTICS; i++)
            if (strlen(h_names[i]) == n && !strncmp(p, h_names[i], n)) found = 1u << i;
        if (n == 3 && !strncmp(p, "all", 3)) found = CLUSTER_H_ALL;
        if (!found)
            return util_errf(err, UTIL_EINVAL,
                             "--heuristics: unknown heuristic '%.*s' (known: none, fresh, script, "
                             "round, optimal, all)",
                             (int)n, p);
        *out |= found;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

void cluster_format_heuristics(unsigned h, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < CLUSTER_NHEURISTICS; i++)
        if (h & (1u << i) && len < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "", h_names[i]);
    if (!len) snprintf(buf, n, "none");
}

void cluster_scratch_free(cluster_scratch *sc)
{
    free(sc->v);
    sc->v = NULL;
    sc->cap = 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
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

int cluster_detect(const store *s, uint64_t tx, cluster_scratch *sc)
{
    const store_tx_row *row = store_tx(s, tx);
    if (row->flags & STORE_TX_COINBASE) return CLUSTER_CJ_NONE;
    uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
    if (n_out < 2) return CLUSTER_CJ_NONE;
    if (sc->cap < n_out) {
        size_t nc = sc->cap ? sc->cap : 64;
        while (nc < n_out)
            nc *= 2;
        int64_t *nv = realloc(sc->v, nc * sizeof *nv);
        if (!nv) return UTIL_ENOMEM;
        sc->v = nv, sc->cap = nc;
    }
    /* Output values (OP_RETURN excluded) sorted, and the shape facts every rule uses. */
    uint32_t n = 0, n_nulldata = 0, n_p2wpkh = 0, n_p2tr = 0;
    for (uint32_t i = 0; i < n_out; i++) {
        uint64_t o = row->first_out + i;
        int t = store_out_type(s, o);
        if (t == BTC_NULLDATA) {
            n_nulldata++;
            continue;
        }
        n_p2wpkh += t == BTC_P2WPKH;
        n_p2tr += t == BTC_P2TR;
        sc->v[n++] = store_out_value(s, o);
    }
    if (n < 2) return CLUSTER_CJ_NONE;
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
            if (best_v == wp_denom[p]) return CLUSTER_CJ_WHIRLPOOL;
    }
    /* Whirlpool Tx0: an OP_RETURN, an output of exactly a pool's fee, and >= 1 equal premix
     * outputs of the pool denomination plus a mining allowance (at most 10% of it). */
    if (n_nulldata == 1) {
        for (int p = 0; p < 4; p++) {
            int has_fee = 0;
            uint32_t premix = 0;
            int64_t pv = 0;
            int mixed = 0;
            for (uint32_t i = 0; i < n; i++) {
                int64_t v = sc->v[i];
                if (v == wp_fee[p]) has_fee = 1;
                if (v > wp_denom[p] && v <= wp_denom[p] + wp_denom[p] / 10) {
                    if (premix && v != pv) mixed = 1;
                    pv = v, premix++;
                }
            }
            if (has_fee && premix >= 1 && !mixed) return CLUSTER_CJ_WHIRLPOOL_TX0;
        }
    }
    /* Wasabi 2: >= 20 inputs and >= 20 outputs, outputs P2WPKH/P2TR only, >= 70% of outputs
     * standard denominations, and some denomination repeated. */
    if (n_in >= 20 && n >= 20 && n_p2wpkh + n_p2tr == n_out && best_k >= 2) {
        uint32_t d = 0;
        for (uint32_t i = 0; i < n; i++)
            d += (uint32_t)ww2_denomination(sc->v[i]);
        if (d * 10 >= n * 7) return CLUSTER_CJ_WASABI2;
    }
    /* Wasabi 1: >= 10 equal outputs of 0.095-0.106 BTC, all outputs P2WPKH, at least as many
     * inputs as equal outputs. */
    if (n_p2wpkh == n_out && n_in >= 10) {
        for (uint32_t i = 0; i < n;) {
            uint32_t j = i;
            while (j < n && sc->v[j] == sc->v[i])
                j++;
            if (j - i >= 10 && sc->v[i] >= 9500000 && sc->v[i] <= 10600000 && n_in >= j - i)
                return CLUSTER_CJ_WASABI1;
            i = j;
        }
    }
    /* Equal-output rules need k equal outputs (k >= 2) with at least k inputs, at most one
     * other output per equal one (change), and an equal amount that is not round (payments and
     * batch payouts use round amounts). */
    if (best_k >= 2 && n_in >= best_k && n - best_k <= best_k && best_v % 100000 != 0) {
        /* The equal outputs must pay distinct addresses of one script type. The sorted
         * values are no longer needed: their slots hold the addresses. */
        int type = -1, same_type = 1, distinct = 1;
        uint32_t na = 0;
        for (uint32_t i = 0; i < n_out; i++) {
            uint64_t o = row->first_out + i;
            int t = store_out_type(s, o);
            if (store_out_value(s, o) != best_v || t == BTC_NULLDATA) continue;
            if (type < 0)
                type = t;
            else if (t != type)
                same_type = 0;
            sc->v[na++] = store_out_addr(s, o);
        }
        qsort(sc->v, na, sizeof *sc->v, cmp_i64);
        for (uint32_t i = 1; i < na; i++)
            if (sc->v[i] == sc->v[i - 1]) distinct = 0;
        if (!distinct || !same_type) return CLUSTER_CJ_NONE;
        /* At least as many distinct input addresses as equal outputs (one per participant). */
        if (sc->cap < n_in) {
            size_t nc = sc->cap;
            while (nc < n_in)
                nc *= 2;
            int64_t *nv = realloc(sc->v, nc * sizeof *nv);
            if (!nv) return UTIL_ENOMEM;
            sc->v = nv, sc->cap = nc;
        }
        uint32_t ni = 0;
        for (uint32_t i = 0; i < n_in; i++) {
            uint64_t prev = store_in_prev(s, row->first_in + i);
            if (prev < STORE_UNRESOLVED) sc->v[ni++] = store_out_addr(s, prev);
        }
        qsort(sc->v, ni, sizeof *sc->v, cmp_i64);
        uint32_t nd = 0;
        for (uint32_t i = 0; i < ni; i++)
            nd += sc->v[i] != STORE_NO_ADDR && (i == 0 || sc->v[i] != sc->v[i - 1]);
        if (nd < best_k) return CLUSTER_CJ_NONE;
        /* JoinMarket: n >= 3 equal outputs plus up to n change outputs. */
        if (best_k >= 3) return CLUSTER_CJ_JOINMARKET;
        /* Generic (two equal outputs): a change output is required too; two equal outputs
         * alone are as often one payer splitting a coin. */
        if (n > best_k) return CLUSTER_CJ_GENERIC;
    }
    return CLUSTER_CJ_NONE;
}

int cluster_pick_change(const store *s, uint64_t tx, unsigned h, uint32_t addr_before)
{
    const store_tx_row *row = store_tx(s, tx);
    if (!h || row->flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) return -1;
    uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
    if (n_out < 2 || n_in == 0) return -1;
    int in_type = -2;
    int64_t min_in = INT64_MAX;
    for (uint32_t i = 0; i < n_in; i++) {
        uint64_t prev = store_in_prev(s, row->first_in + i);
        int t = store_out_type(s, prev);
        if (t == BTC_P2PK) t = BTC_P2PKH; /* spent as the same kind of key */
        in_type = in_type == -2 ? t : (in_type == t ? t : -1);
        int64_t v = store_out_value(s, prev);
        if (v < min_in) min_in = v;
    }
    int pick[CLUSTER_NHEURISTICS];
    for (unsigned k = 0; k < CLUSTER_NHEURISTICS; k++)
        pick[k] = -1;
    unsigned cnt[CLUSTER_NHEURISTICS] = {0};
    for (uint32_t i = 0; i < n_out; i++) {
        uint64_t o = row->first_out + i;
        uint32_t a = store_out_addr(s, o);
        if (a == STORE_NO_ADDR) continue; /* OP_RETURN and bare multisig are never change */
        /* An output back to an input address: the change is explicit, nothing to guess. */
        for (uint32_t j = 0; j < n_in; j++)
            if (store_out_addr(s, store_in_prev(s, row->first_in + j)) == a) return -1;
        int t = store_out_type(s, o);
        if (t == BTC_P2PK) t = BTC_P2PKH;
        int64_t v = store_out_value(s, o);
        int hit[CLUSTER_NHEURISTICS] = {a >= addr_before, t == in_type, v % 100000 != 0,
                                        v < min_in};
        for (unsigned k = 0; k < CLUSTER_NHEURISTICS; k++)
            if (hit[k]) cnt[k]++, pick[k] = (int)i;
    }
    int chosen = -1;
    for (unsigned k = 0; k < CLUSTER_NHEURISTICS; k++) {
        if (!(h & (1u << k))) continue;
        if (cnt[k] != 1) return -1;
        if (chosen >= 0 && chosen != pick[k]) return -1;
        chosen = pick[k];
    }
    return chosen;
}

/* The change output (0 or 1) of a peel-step-shaped tx, or -1 (rule in cluster.h). */
static int peel_shape(const store *s, uint64_t tx)
{
    const store_tx_row *row = store_tx(s, tx);
    if (row->flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) return -1;
    if (store_tx_n_in(s, tx) != 1 || store_tx_n_out(s, tx) != 2) return -1;
    uint64_t o0 = row->first_out, o1 = o0 + 1;
    if (store_out_addr(s, o0) == STORE_NO_ADDR || store_out_addr(s, o1) == STORE_NO_ADDR) return -1;
    int64_t v0 = store_out_value(s, o0), v1 = store_out_value(s, o1);
    int change = v1 > v0;
    int64_t peel = change ? v0 : v1, total = v0 + v1;
    if (total <= 0 || peel * 100 > total * CLUSTER_PEEL_MAX_SHARE) return -1;
    return change;
}

int cluster_peel_chain(const store *s, uint64_t tx)
{
    int change = peel_shape(s, tx);
    if (change < 0) return 0;
    int len = 1;
    /* Forward: who spends the change. */
    uint64_t t = tx;
    for (int c = change; len < 2 * CLUSTER_PEEL_MIN_CHAIN - 1;) {
        uint64_t in = store_out_spent_by(s, store_tx(s, t)->first_out + (uint64_t)c);
        if (in == STORE_NONE) break;
        t = store_input_tx(s, in);
        if ((c = peel_shape(s, t)) < 0) break;
        len++;
    }
    /* Backward: whose change this tx spends. */
    int back = 0;
    for (t = tx; back < CLUSTER_PEEL_MIN_CHAIN - 1; back++) {
        uint64_t prev = store_in_prev(s, store_tx(s, t)->first_in);
        if (prev >= STORE_UNRESOLVED) break;
        uint64_t pt = store_output_tx(s, prev);
        int c = peel_shape(s, pt);
        if (c < 0 || store_tx(s, pt)->first_out + (uint64_t)c != prev) break;
        t = pt;
    }
    len += back;
    return len >= CLUSTER_PEEL_MIN_CHAIN ? len : 0;
}
