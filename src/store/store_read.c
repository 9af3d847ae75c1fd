/* The read side: rows of blocks, txs, inputs, outputs, addresses and payloads, and the totals
 * recomputed from the columns. Nothing here changes the store. */
#include "store_int.h"

#include <stdlib.h>
#include <sys/stat.h>

/* ---------------- reads ---------------- */

const uint8_t *store_block_hash(const store *s, uint64_t height)
{
    return store_col_at(s, COL_BLK_HASH, height);
}
const store_block_row *store_block(const store *s, uint64_t height)
{
    return store_col_at(s, COL_BLK, height);
}
const char *store_dir(const store *s)
{
    return s->dir;
}
const char *store_network(const store *s)
{
    return s->network;
}
int store_set_network(store *s, const char *name, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    if (strlen(name) >= sizeof s->network)
        return util_errf(err, UTIL_EINVAL, "network name '%s' too long", name);
    snprintf(s->network, sizeof s->network, "%s", name);
    return 0;
}
unsigned __int128 store_block_chainwork(const store *s, uint64_t height)
{
    const store_block_row *b = store_block(s, height);
    unsigned __int128 w = 0;
    for (int i = 15; i >= 0; i--)
        w = w << 8 | b->chainwork[i];
    return w;
}
const uint8_t *store_tx_hash(const store *s, uint64_t tx)
{
    return store_col_at(s, COL_TX_HASH, tx);
}
const store_tx_row *store_tx(const store *s, uint64_t tx)
{
    return store_col_at(s, COL_TX, tx);
}
uint32_t store_tx_n_in(const store *s, uint64_t tx)
{
    uint64_t end = tx + 1 < s->live.txs ? store_tx(s, tx + 1)->first_in : s->live.inputs;
    return (uint32_t)(end - store_tx(s, tx)->first_in);
}
uint32_t store_tx_n_out(const store *s, uint64_t tx)
{
    uint64_t end = tx + 1 < s->live.txs ? store_tx(s, tx + 1)->first_out : s->live.outputs;
    return (uint32_t)(end - store_tx(s, tx)->first_out);
}
int64_t store_find_tx(const store *s, const uint8_t txid[32])
{
    return store_hindex_find(s, &s->txidx, &store_txidx_ops, txid, s->live.txs);
}

/* The reader's tx sample, once enough searches have been made to pay for it (SAMPLE_AFTER);
 * NULL before that, for writers, and if memory runs out (searches work without it). */
static const uint64_t *tx_sample(const store *s)
{
    store_lazy *z = s->lazy;
    if (!z || !z->n_sample) return NULL;
    uint64_t *smp = atomic_load_explicit(&z->sample, memory_order_acquire);
    if (smp) return smp;
    if (atomic_fetch_add_explicit(&z->searches, 1, memory_order_relaxed) <
        z->n_sample / SAMPLE_AFTER + 64)
        return NULL;
    pthread_mutex_lock(&z->mu);
    smp = atomic_load_explicit(&z->sample, memory_order_acquire);
    if (!smp && (smp = malloc(2 * z->n_sample * sizeof *smp))) {
        for (uint64_t i = 0; i < z->n_sample; i++) {
            const store_tx_row *r = store_tx(s, i * TX_SAMPLE);
            smp[i] = r->first_out;
            smp[z->n_sample + i] = r->first_in;
        }
        atomic_store_explicit(&z->sample, smp, memory_order_release);
    }
    pthread_mutex_unlock(&z->mu);
    return smp;
}

/* Last tx whose first_out (or first_in) is <= id: txs are in id order. */
static uint64_t tx_of(const store *s, uint64_t id, int outputs)
{
    uint64_t lo = 0, hi = s->live.txs;
    const uint64_t *all = tx_sample(s);
    if (all) { /* the last sampled tx whose first id is <= id bounds the search */
        uint64_t n = s->lazy->n_sample;
        const uint64_t *smp = outputs ? all : all + n;
        uint64_t a = 0, b = n;
        while (b - a > 1) {
            uint64_t mid = a + (b - a) / 2;
            if (smp[mid] <= id)
                a = mid;
            else
                b = mid;
        }
        lo = a * TX_SAMPLE;
        if (b * TX_SAMPLE < hi) hi = b * TX_SAMPLE;
    }
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        const store_tx_row *r = store_tx(s, mid);
        if ((outputs ? r->first_out : r->first_in) <= id)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}
uint64_t store_output_tx(const store *s, uint64_t out)
{
    return tx_of(s, out, 1);
}
uint64_t store_input_tx(const store *s, uint64_t in)
{
    return tx_of(s, in, 0);
}
int64_t store_out_value(const store *s, uint64_t out)
{
    return *(const int64_t *)store_col_at(s, COL_OUT_VALUE, out);
}
uint32_t store_out_addr(const store *s, uint64_t out)
{
    return *(const uint32_t *)store_col_at(s, COL_OUT_ADDR, out);
}
int store_out_type(const store *s, uint64_t out)
{
    return *(const uint8_t *)store_col_at(s, COL_OUT_TYPE, out);
}
uint64_t store_out_spent_by(const store *s, uint64_t out)
{
    return store_find_spent_by(s, out, s->live.inputs);
}
uint64_t store_in_prev(const store *s, uint64_t in)
{
    return store_id_get(s, COL_IN_PREV, in);
}
int store_in_unresolved(const store *s, uint64_t in, uint8_t txid[32], uint32_t *vout)
{
    uint64_t lo = 0, hi = s->cols[COL_UNRES].rows;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const store_unresolved_row *u = store_col_at(s, COL_UNRES, mid);
        if (u->input == in) {
            memcpy(txid, u->txid, 32);
            *vout = u->vout;
            return 0;
        }
        if (u->input < in)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UTIL_ENOTFOUND;
}
void store_addr(const store *s, uint32_t addr, btc_addr *out)
{
    const uint8_t *row = store_col_at(s, COL_ADDR_KEY, addr);
    if (s->format < 3) {
        memcpy(out, row, sizeof *out);
        return;
    }
    memset(out, 0, sizeof *out);
    out->kind = row[0], out->witver = row[1], out->len = row[2];
    memcpy(out->prog, row + 3, ADDR_HEAD - 3);
    int64_t t = store_addr_tail_row(row);
    if (t < 0)
        memcpy(out->prog + ADDR_HEAD - 3, row + ADDR_HEAD, ADDR_ROW - ADDR_HEAD);
    else
        memcpy(out->prog + ADDR_HEAD - 3, store_col_at(s, COL_ADDR_TAIL, (uint64_t)t), ADDR_TAIL);
}
size_t store_addr_text(const store *s, uint32_t addr, char *out)
{
    btc_addr a;
    store_addr(s, addr, &a);
    return btc_addr_encode(out, &a);
}
int64_t store_find_addr(const store *s, const btc_addr *key)
{
    if (s->format < 3)
        return store_hindex_find(s, &s->addridx, &store_addridx_ops_v2, (const uint8_t *)key,
                                 s->live.addresses);
    uint8_t k[ADDR_PACKED];
    store_addr_pack(k, key);
    return store_hindex_find(s, &s->addridx, &store_addridx_ops, k, s->live.addresses);
}
uint64_t store_addr_last_out(const store *s, uint32_t addr)
{
    /* A writer may have linked newer outputs than this reader's MANIFEST: skip them, mapping
     * more of the file if the writer grew it since we opened. */
    uint64_t o = store_id_get(s, COL_ADDR_LAST, addr);
    while (o != STORE_NONE && o >= s->live.outputs) {
        column *c = (column *)&s->cols[COL_OUT_PREV_ADDR];
        if ((o + 1) * c->width > c->mapped) {
            struct stat st;
            if (fstat(c->fd, &st) < 0 || (uint64_t)st.st_size < (o + 1) * c->width ||
                colstore_col_map_to(c, (size_t)st.st_size, NULL))
                return STORE_NONE; /* the list head is beyond the file: treat as unknown */
        }
        o = store_out_prev_same_addr(s, o);
    }
    return o;
}
uint64_t store_out_prev_same_addr(const store *s, uint64_t out)
{
    return store_id_get(s, COL_OUT_PREV_ADDR, out);
}

int store_has_payloads(const store *s)
{
    return !s->legacy;
}

uint64_t store_payload_count(const store *s)
{
    return s->legacy ? 0 : s->cols[COL_ND].rows;
}

void store_payload_at(const store *s, uint64_t i, uint64_t *out, const uint8_t **p, size_t *n)
{
    const uint64_t *r = store_col_at(s, COL_ND, i);
    uint64_t start = i ? ((const uint64_t *)store_col_at(s, COL_ND, i - 1))[1] : 0;
    *out = r[0];
    *p = store_col_at(s, COL_ND_DATA, start);
    *n = (size_t)(r[1] - start);
}

int store_out_payload(const store *s, uint64_t out, const uint8_t **p, size_t *n)
{
    uint64_t lo = 0, hi = store_payload_count(s);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, o;
        store_payload_at(s, mid, &o, p, n);
        if (o == out) return 0;
        if (o < out)
            lo = mid + 1;
        else
            hi = mid;
    }
    *p = NULL, *n = 0;
    return UTIL_ENOTFOUND;
}

int store_recompute_totals(const store *s, store_totals *t, util_err *err)
{
    (void)err;
    memset(t, 0, sizeof *t);
    const store_totals *L = &s->live;
    t->blocks = L->blocks, t->txs = L->txs, t->inputs = L->inputs, t->outputs = L->outputs;
    for (uint64_t o = 0; o < L->outputs; o++) {
        int64_t v = store_out_value(s, o);
        t->total_output_value += v;
        t->outputs_by_type[store_out_type(s, o)]++;
        if (store_out_spent_by(s, o) == STORE_NONE) {
            t->utxo_count++;
            t->utxo_value += v;
        }
    }
    for (uint64_t in = 0; in < L->inputs; in++)
        t->unresolved_inputs += store_in_prev(s, in) == STORE_UNRESOLVED;
    for (uint64_t tx = 0; tx < L->txs; tx++) {
        const store_tx_row *r = store_tx(s, tx);
        if (r->flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) continue;
        int64_t in_v = 0, out_v = 0;
        uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
        for (uint32_t k = 0; k < n_in; k++)
            in_v += store_out_value(s, store_in_prev(s, r->first_in + k));
        for (uint32_t k = 0; k < n_out; k++)
            out_v += store_out_value(s, r->first_out + k);
        t->total_fees += in_v - out_v;
    }
    /* Distinct addresses: every address row must be referenced by its list head. */
    for (uint64_t a = 0; a < L->addresses; a++)
        t->addresses += store_addr_last_out(s, (uint32_t)a) != STORE_NONE;
    return 0;
}
