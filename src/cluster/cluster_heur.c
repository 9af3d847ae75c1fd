/* Change heuristics and peel chains: rules over one tx's inputs and outputs (and, for peel
 * chains, its neighbours), read from the store. Each rule is written down in
 * docs/clustering.md with the thresholds used here. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

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

int cluster_pick_change(const store *s, uint64_t tx, unsigned h, uint32_t addr_before)
{
    store_tx_row row;
    store_tx(s, tx, &row);
    if (!h || row.flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) return -1;
    uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
    if (n_out < 2 || n_in == 0) return -1;
    int in_type = -2;
    int64_t min_in = INT64_MAX;
    for (uint32_t i = 0; i < n_in; i++) {
        uint64_t prev = store_in_prev(s, row.first_in + i);
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
        uint64_t o = row.first_out + i;
        uint32_t a = store_out_addr(s, o);
        if (a == STORE_NO_ADDR) continue; /* OP_RETURN and bare multisig are never change */
        /* An output back to an input address: the change is explicit, nothing to guess. */
        for (uint32_t j = 0; j < n_in; j++)
            if (store_out_addr(s, store_in_prev(s, row.first_in + j)) == a) return -1;
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
    store_tx_row row;
    store_tx(s, tx, &row);
    if (row.flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) return -1;
    if (store_tx_n_in(s, tx) != 1 || store_tx_n_out(s, tx) != 2) return -1;
    uint64_t o0 = row.first_out, o1 = o0 + 1;
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
        uint64_t in = store_out_spent_by(s, store_tx_first_out(s, t) + (uint64_t)c);
        if (in == STORE_NONE) break;
        t = store_input_tx(s, in);
        if ((c = peel_shape(s, t)) < 0) break;
        len++;
    }
    /* Backward: whose change this tx spends. */
    int back = 0;
    for (t = tx; back < CLUSTER_PEEL_MIN_CHAIN - 1; back++) {
        uint64_t prev = store_in_prev(s, store_tx_first_in(s, t));
        if (prev >= STORE_UNRESOLVED) break;
        uint64_t pt = store_output_tx(s, prev);
        int c = peel_shape(s, pt);
        if (c < 0 || store_tx_first_out(s, pt) + (uint64_t)c != prev) break;
        t = pt;
    }
    len += back;
    return len >= CLUSTER_PEEL_MIN_CHAIN ? len : 0;
}
