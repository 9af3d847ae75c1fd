/* Changing the chain: appending a block (with its prefetch pass) and cutting blocks off the
 * tip in a reorganisation. Both change rows below the committed length only through the undo
 * log. */
#include "store_int.h"

#include <stdlib.h>

/* ---------------- append ---------------- */

/* The first slot in key hash h's probe chain whose fingerprint matches and whose id is live:
 * almost always the key's own entry. Only a hint for prefetching; lookups verify. */
static uint64_t hindex_candidate(const hindex *x, uint64_t h, uint64_t live)
{
    uint64_t id;
    return colstore_ix_find(x->slots, x->cap, h, live, NULL, NULL, &id) >= 0 ? id : UINT64_MAX;
}

/* Appending a block touches rows all over the store: for each input the txid index, the
 * previous tx's row and the spent output's value and spent mark; for each output the address
 * index and the address's list head. Done one input at a time, each of these waits on memory
 * in turn. Walking the block three times first, each pass issuing independent loads for all
 * inputs and outputs, lets the memory system fetch them in parallel; the append itself then
 * finds them in cache. Only a speed-up: nothing here changes state. */
static int prefetch_block(store *s, const btc_block *b, util_err *err)
{
    size_t need = 2 * (size_t)b->n_in + b->n_out + b->n_tx;
    if (need > s->pf_cap) {
        uint64_t *p = realloc(s->pf_scratch, need * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for a block's scratch");
        s->pf_scratch = p;
        s->pf_cap = need;
    }
    uint64_t *hin = s->pf_scratch, *hout = hin + b->n_in, *htx = hout + b->n_out,
             *cand = htx + b->n_tx;
    uint64_t live_tx = s->live.txs, live_addr = s->live.addresses, live_out = s->live.outputs;
    uint64_t tmask = s->txidx.cap - 1, amask = s->addridx.cap - 1;
    for (uint32_t i = 0; i < b->n_in; i++) {
        hin[i] = store_key_hash(b->ins[i].prev_txid, 32);
        __builtin_prefetch(&s->txidx.slots[hin[i] & tmask]);
    }
    for (uint32_t k = 0; k < b->n_out; k++) {
        const btc_addr *a = &b->outs[k].addr;
        uint8_t key[ADDR_PACKED];
        if (a->kind) store_addr_pack(key, a);
        hout[k] = a->kind ? store_key_hash(key, ADDR_HEAD) : 0;
        if (a->kind) __builtin_prefetch(&s->addridx.slots[hout[k] & amask]);
    }
    for (uint32_t t = 0; t < b->n_tx; t++) {
        htx[t] = store_key_hash(b->txs[t].txid, 32);
        __builtin_prefetch(&s->txidx.slots[htx[t] & tmask], 1);
    }
    for (uint32_t i = 0; i < b->n_in; i++) {
        cand[i] = hindex_candidate(&s->txidx, hin[i], live_tx);
        if (cand[i] == UINT64_MAX) continue;
        __builtin_prefetch(store_col_at(s, COL_TX_HASH, cand[i]));
        __builtin_prefetch(store_txrow_at(s, cand[i]));
    }
    for (uint32_t k = 0; k < b->n_out; k++) {
        if (!b->outs[k].addr.kind) continue;
        uint64_t id = hindex_candidate(&s->addridx, hout[k], live_addr);
        if (id == UINT64_MAX) continue;
        __builtin_prefetch(store_col_at(s, COL_ADDR_KEY, id));
        __builtin_prefetch(store_col_at(s, COL_ADDR_LAST, id), 1);
    }
    for (uint32_t i = 0; i < b->n_in; i++) {
        if (cand[i] == UINT64_MAX) continue;
        uint64_t prev = store_txrow_out(s, cand[i]) + b->ins[i].prev_vout;
        if (prev >= live_out) continue;
        __builtin_prefetch(store_col_at(s, COL_OUT_SPENT, prev), 1);
        __builtin_prefetch(store_col_at(s, COL_OUT_VALUE, prev));
    }
    return 0;
}

static int reserve_rows(store *s, const btc_block *b, uint64_t n_unres_max, util_err *err)
{
    int rc = 0;
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_BLK_HASH], 1, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_BLK], 1, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_TX_HASH], b->n_tx, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_TX], b->n_tx, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_IN_PREV], b->n_in, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_UNRES], n_unres_max, err);
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR && !rc; c++)
        rc = colstore_col_reserve(&s->cols[c], b->n_out, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ADDR_KEY], b->n_out, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ADDR_LAST], b->n_out, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ADDR_TAIL], b->n_out, err);
    /* payload columns: as many rows as the block has nulldata outputs and script bytes */
    uint64_t nd = 0, nd_bytes = 0;
    size_t longest = 0;
    for (uint32_t k = 0; k < b->n_out; k++)
        if (b->outs[k].type == BTC_NULLDATA) {
            nd++, nd_bytes += b->outs[k].script_len;
            if (b->outs[k].script_len > longest) longest = b->outs[k].script_len;
        }
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ND], nd, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ND_DATA], nd_bytes, err);
    if (!rc && longest > s->nd_cap) {
        uint8_t *p = realloc(s->nd_scratch, longest);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for a payload");
        s->nd_scratch = p, s->nd_cap = longest;
    }
    return rc;
}

uint64_t store_find_spent_by(const store *s, uint64_t out, uint64_t live_inputs)
{
    uint64_t in = store_id_get(s, COL_OUT_SPENT, out);
    /* A mark is trusted only if that input exists and points back here. */
    if (in < live_inputs && store_id_get(s, COL_IN_PREV, in) == out) return in;
    return STORE_NONE;
}

/* sum += v, refusing an overflow (crafted amounts: every output is at most 21M BTC, but 4,400
 * of them overflow int64). */
int store_add_sat(int64_t *sum, int64_t v, const char *what, uint32_t ti, util_err *err)
{
    if (__builtin_add_overflow(*sum, v, sum))
        return util_errf(err, UTIL_EFORMAT, "tx %u: %s overflows 64 bits (crafted amounts)", ti,
                         what);
    return 0;
}

int store_check_id_room(const store_totals *t, const btc_block *b, util_err *err)
{
    if (t->inputs + b->n_in >= STORE_ID40_RESERVED || t->outputs + b->n_out >= STORE_ID40_RESERVED)
        return util_errf(err, UTIL_EINVAL,
                         "more than %llu inputs or outputs: the store's 40-bit ids are full",
                         (unsigned long long)STORE_ID40_RESERVED);
    for (uint32_t ti = 0; ti < b->n_tx; ti++) /* unreachable from blk files: blocks <= 8 MB */
        if (b->txs[ti].size > STORE_TX_SIZE_MAX)
            return util_errf(err, UTIL_EINVAL,
                             "tx %u: %u bytes, more than the store's 24-bit tx sizes hold", ti,
                             b->txs[ti].size);
    return 0;
}

int store_check_extends(store *s, const btc_block *b, uint64_t blocks, util_err *err)
{
    if (blocks == 0) {
        static const uint8_t zero[32];
        if (memcmp(b->hdr.prev, zero, 32) != 0)
            return util_errf(err, UTIL_EINVAL, "the first block must be a genesis block");
        if (s->have_genesis && memcmp(s->genesis, b->hdr.hash, 32) != 0)
            return util_errf(err, UTIL_EINVAL, "genesis block differs from this store's chain");
        memcpy(s->genesis, b->hdr.hash, 32);
        s->have_genesis = 1;
    } else if (memcmp(b->hdr.prev, store_block_hash(s, blocks - 1), 32) != 0) {
        return util_errf(err, UTIL_EINVAL, "block does not extend the store's tip");
    }
    return 0;
}

void store_put_tx(store *s, const btc_tx *tx, uint64_t txno, uint64_t first_in, uint64_t first_out,
                  uint64_t height, store_tx_row *row)
{
    memcpy(store_col_at(s, COL_TX_HASH, txno), tx->txid, 32);
    store_tx_row r = {
        .first_in = first_in,
        .first_out = first_out,
        .block = (uint32_t)height,
        .size = tx->size,
        .vsize = tx->vsize,
        .flags = (tx->coinbase ? STORE_TX_COINBASE : 0) |
                 (tx->weight != tx->size * 4u ? STORE_TX_SEGWIT : 0),
    };
    store_txrow_put(s, txno, &r);
    if (row) *row = r;
}

void store_set_chain_rows(store *s, const store_totals *t)
{
    s->cols[COL_BLK].rows = s->cols[COL_BLK_HASH].rows = t->blocks;
    s->cols[COL_TX].rows = s->cols[COL_TX_HASH].rows = t->txs;
    s->cols[COL_IN_PREV].rows = t->inputs;
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR; c++)
        s->cols[c].rows = t->outputs;
}

int store_append_block(store *s, const btc_block *b, unsigned __int128 chainwork,
                       int64_t max_subsidy, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    store_totals *t = &s->live;
    int rc = store_bulk_forget(s, err); /* block by block: a bulk checkpoint is void */
    if (!rc) rc = store_check_extends(s, b, t->blocks, err);
    if (!rc) rc = store_check_id_room(t, b, err);
    if (rc) return rc;
    rc = store_undo_reserve(s, (uint64_t)b->n_in + b->n_out + b->n_tx, err);
    if (rc) return rc;
    rc = reserve_rows(s, b, b->n_in, err);
    if (rc) return rc;
    if ((rc = prefetch_block(s, b, err))) return rc;
    /* Key hashes computed by prefetch_block, reused by every lookup and insert below. */
    const uint64_t *hin = s->pf_scratch, *hout = hin + b->n_in, *htx = hout + b->n_out;

    uint64_t height = t->blocks;
    store_block_row *br = store_col_at(s, COL_BLK, height);
    memcpy(store_col_at(s, COL_BLK_HASH, height), b->hdr.hash, 32);
    br->first_tx = t->txs;
    br->first_addr = t->addresses;
    for (int i = 0; i < 16; i++)
        br->chainwork[i] = (uint8_t)(chainwork >> (8 * i));
    br->time = b->hdr.time, br->bits = b->hdr.bits, br->size = b->size, br->n_tx = b->n_tx;

    /* Undo state for a failure half-way: totals are restored and rows are simply not counted;
     * in-place marks are rolled back below. */
    store_totals saved = *t;
    uint64_t saved_undo = s->undo->count;
    uint64_t unres_rows = s->cols[COL_UNRES].rows, tail_rows = s->cols[COL_ADDR_TAIL].rows;
    uint64_t nd_rows = s->cols[COL_ND].rows, nd_bytes = s->cols[COL_ND_DATA].rows;
    /* The coinbase may claim the subsidy plus the block's fees; fees are known only when every
     * input of the block resolves to a stored output. */
    int64_t coinbase_value = 0, block_fees = 0;
    int fees_known = 1;

    for (uint32_t ti = 0; ti < b->n_tx; ti++) {
        const btc_tx *tx = &b->txs[ti];
        uint64_t txno = t->txs;
        store_tx_row row; /* written again with its flags and fee once the inputs are known */
        store_put_tx(s, tx, txno, t->inputs, t->outputs, height, &row);
        int64_t in_value = 0, out_value = 0;
        int64_t utxo_value = t->utxo_value;
        for (uint32_t k = 0; k < tx->n_in; k++) {
            const btc_txin *in = &b->ins[tx->first_in + k];
            uint64_t inno = t->inputs + k;
            uint64_t prev = STORE_COINBASE;
            if (!tx->coinbase) {
                int64_t ptx = store_hindex_find_h(s, &s->txidx, &store_txidx_ops, in->prev_txid,
                                                  hin[tx->first_in + k], txno);
                if (ptx < 0) {
                    prev = STORE_UNRESOLVED;
                    store_unresolved_row *u = store_col_at(s, COL_UNRES, s->cols[COL_UNRES].rows++);
                    u->input = inno;
                    memcpy(u->txid, in->prev_txid, 32);
                    u->vout = in->prev_vout;
                    u->pad = 0;
                    row.flags |= STORE_TX_UNRESOLVED;
                    t->unresolved_inputs++;
                } else {
                    uint64_t pfirst = store_txrow_out(s, (uint64_t)ptx);
                    uint64_t pn_out =
                        ((uint64_t)ptx + 1 < txno ? store_txrow_out(s, (uint64_t)ptx + 1)
                                                  : t->outputs) -
                        pfirst;
                    char hex[65];
                    if (in->prev_vout >= pn_out) {
                        util_hash_hex(hex, in->prev_txid);
                        rc = util_errf(err, UTIL_EFORMAT,
                                       "tx %u input %u spends %s:%u, which has only %llu outputs",
                                       ti, k, hex, in->prev_vout, (unsigned long long)pn_out);
                        goto fail;
                    }
                    prev = pfirst + in->prev_vout;
                    if (store_find_spent_by(s, prev, inno) != STORE_NONE) {
                        util_hash_hex(hex, in->prev_txid);
                        rc = util_errf(err, UTIL_EFORMAT, "tx %u input %u spends %s:%u twice", ti,
                                       k, hex, in->prev_vout);
                        goto fail;
                    }
                    store_col_set_u64(s, COL_OUT_SPENT, prev, inno);
                    int64_t v = *(int64_t *)store_col_at(s, COL_OUT_VALUE, prev);
                    if ((rc = store_add_sat(&in_value, v, "the sum of the spent outputs", ti, err)))
                        goto fail;
                    t->utxo_count--;
                    utxo_value -= v; /* >= 0: the output's value is part of it */
                }
            }
            store_id_put(s, COL_IN_PREV, inno, prev);
        }
        t->inputs += tx->n_in;
        s->cols[COL_IN_PREV].rows = t->inputs;
        for (uint32_t k = 0; k < tx->n_out; k++) {
            const btc_txout *o = &b->outs[tx->first_out + k];
            uint64_t outno = t->outputs + k;
            *(int64_t *)store_col_at(s, COL_OUT_VALUE, outno) = o->value;
            *(uint8_t *)store_col_at(s, COL_OUT_TYPE, outno) = o->type;
            store_id_put(s, COL_OUT_SPENT, outno, STORE_NONE);
            uint32_t aid = STORE_NO_ADDR;
            uint64_t prev_same = STORE_NONE;
            if (o->addr.kind) {
                uint64_t ah = hout[tx->first_out + k];
                uint8_t key[ADDR_PACKED];
                store_addr_pack(key, &o->addr);
                int64_t a =
                    store_hindex_find_h(s, &s->addridx, &store_addridx_ops, key, ah, t->addresses);
                if (a < 0) {
                    if (t->addresses >= STORE_NO_ADDR) {
                        rc = util_errf(err, UTIL_ENOMEM, "more than 2^32-1 addresses");
                        goto fail;
                    }
                    a = (int64_t)t->addresses++;
                    store_addr_put(s, (uint64_t)a, &o->addr);
                    store_id_put(s, COL_ADDR_LAST, (uint64_t)a, STORE_NONE);
                    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = t->addresses;
                    if ((rc = store_hindex_insert(s, &s->addridx, &store_addridx_ops,
                                                  store_col_at(s, COL_ADDR_KEY, (uint64_t)a), ah,
                                                  (uint64_t)a, err)))
                        goto fail;
                }
                aid = (uint32_t)a;
                prev_same = store_id_get(s, COL_ADDR_LAST, aid);
                store_col_set_u64(s, COL_ADDR_LAST, aid, outno);
            }
            *(uint32_t *)store_col_at(s, COL_OUT_ADDR, outno) = aid;
            if (o->type == BTC_NULLDATA) {
                size_t n = btc_nulldata_payload(o->script, o->script_len, s->nd_scratch);
                column *dc = &s->cols[COL_ND_DATA];
                memcpy(store_col_at(s, COL_ND_DATA, dc->rows), s->nd_scratch, n);
                dc->rows += n;
                uint64_t *nd = store_col_at(s, COL_ND, s->cols[COL_ND].rows++);
                nd[0] = outno, nd[1] = dc->rows;
            }
            store_id_put(s, COL_OUT_PREV_ADDR, outno, prev_same);
            if ((rc = store_add_sat(&out_value, o->value, "the sum of the outputs", ti, err)) ||
                (rc = store_add_sat(&utxo_value, o->value, "the unspent value of the chain", ti,
                                    err)))
                goto fail;
            t->outputs_by_type[o->type]++;
            t->utxo_count++;
        }
        t->utxo_value = utxo_value;
        t->outputs += tx->n_out;
        for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR; c++)
            s->cols[c].rows = t->outputs;
        if ((rc = store_add_sat(&t->total_output_value, out_value, "the chain's total output value",
                                ti, err)))
            goto fail;
        row.fee = 0;
        if (tx->coinbase) coinbase_value = out_value;
        if (row.flags & STORE_TX_UNRESOLVED) fees_known = 0;
        if (!tx->coinbase && !(row.flags & STORE_TX_UNRESOLVED)) {
            row.fee = in_value - out_value;
            if (row.fee < 0) {
                rc = util_errf(err, UTIL_EFORMAT, "tx %u spends %lld sat but pays out %lld", ti,
                               (long long)in_value, (long long)out_value);
                goto fail;
            }
            if ((rc = store_add_sat(&t->total_fees, row.fee, "the chain's total fees", ti, err)) ||
                (rc = store_add_sat(&block_fees, row.fee, "the block's fees", ti, err)))
                goto fail;
        }
        store_txrow_put(s, txno, &row);
        t->txs++;
        s->cols[COL_TX].rows = s->cols[COL_TX_HASH].rows = t->txs;
        if ((rc =
                 store_hindex_insert(s, &s->txidx, &store_txidx_ops, tx->txid, htx[ti], txno, err)))
            goto fail;
    }
    if (max_subsidy >= 0 && fees_known) {
        int64_t allowed;
        if (__builtin_add_overflow(max_subsidy, block_fees, &allowed)) allowed = INT64_MAX;
        if (coinbase_value > allowed) {
            rc =
                util_errf(err, UTIL_EFORMAT,
                          "tx 0: the coinbase pays %lld sat, more than the subsidy %lld plus the "
                          "block's fees %lld",
                          (long long)coinbase_value, (long long)max_subsidy, (long long)block_fees);
            goto fail;
        }
    }
    t->blocks++;
    s->cols[COL_BLK].rows = s->cols[COL_BLK_HASH].rows = t->blocks;
    if (s->blkmap_used * 2 + 2 > s->blkmap_cap) {
        if (store_blkmap_rebuild(s, t->blocks))
            return util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
    } else {
        store_blkmap_put(s, height);
    }
    return 0;
fail:
    /* Put back in-place marks made for this block, newest first, and forget its rows. Marks
     * below the committed length are in the undo log; marks on rows appended earlier in this
     * batch are not logged and are cleared by hand. */
    store_undo_replay(s, saved_undo);
    for (uint64_t in = saved.inputs; in < t->inputs; in++) {
        uint64_t prev = store_id_get(s, COL_IN_PREV, in);
        if (prev < saved.outputs && store_id_get(s, COL_OUT_SPENT, prev) == in) {
            store_id_put(s, COL_OUT_SPENT, prev, STORE_NONE);
            store_dirty_row(s, COL_OUT_SPENT, prev);
        }
    }
    for (uint64_t o = t->outputs; o-- > saved.outputs;) {
        uint32_t a = *(uint32_t *)store_col_at(s, COL_OUT_ADDR, o);
        if (a != STORE_NO_ADDR && a < saved.addresses && store_id_get(s, COL_ADDR_LAST, a) == o) {
            store_id_put(s, COL_ADDR_LAST, a, store_id_get(s, COL_OUT_PREV_ADDR, o));
            store_dirty_row(s, COL_ADDR_LAST, a);
        }
    }
    store_hindex_remove(s, &s->txidx, 0, &store_txidx_ops, saved.txs, t->txs, 0);
    store_hindex_remove(s, &s->addridx, 1, &store_addridx_ops, saved.addresses, t->addresses, 0);
    *t = saved;
    s->cols[COL_UNRES].rows = unres_rows;
    s->cols[COL_ADDR_TAIL].rows = tail_rows;
    s->cols[COL_ND].rows = nd_rows, s->cols[COL_ND_DATA].rows = nd_bytes;
    store_set_chain_rows(s, t);
    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = t->addresses;
    char hex[65];
    util_hash_hex(hex, b->hdr.hash);
    return util_err_prefix(err, "block %s (height %llu)", hex, (unsigned long long)height);
}

/* ---------------- reorganisation ---------------- */

int store_truncate_blocks(store *s, uint64_t keep, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    store_totals *t = &s->live;
    if (keep >= t->blocks) return 0;
    if (memcmp(&s->live, &s->committed, sizeof s->live) != 0)
        return util_errf(err, UTIL_EINVAL, "commit before removing blocks");
    {
        const store_block_row *kb = store_block(s, keep);
        uint64_t worst = 2 * (t->outputs - store_txrow_out(s, kb->first_tx)) +
                         (t->inputs - store_txrow_in(s, kb->first_tx)) +
                         2 * (t->txs - kb->first_tx);
        if (worst > UNDO_CAP_RECORDS)
            return util_errf(err, UTIL_EINVAL,
                             "reorganisation of %llu blocks is too deep for one batch",
                             (unsigned long long)(t->blocks - keep));
        int rc = store_undo_reserve(s, worst, err);
        if (rc) return rc;
    }
    if (keep == 0) return util_errf(err, UTIL_EINVAL, "a reorganisation cannot remove genesis");
    const store_block_row *kb = store_block(s, keep);
    uint64_t first_tx = kb->first_tx, first_addr = kb->first_addr;
    /* Newest first, so every output is unspent again when its own tx is undone. */
    for (uint64_t tx = t->txs; tx-- > first_tx;) {
        store_tx_row row;
        store_txrow_get(s, tx, &row);
        uint64_t in_end = tx + 1 < t->txs ? store_txrow_in(s, tx + 1) : t->inputs;
        uint64_t out_end = tx + 1 < t->txs ? store_txrow_out(s, tx + 1) : t->outputs;
        int64_t out_value = 0;
        for (uint64_t o = out_end; o-- > row.first_out;) {
            int64_t v = store_out_value(s, o);
            uint32_t a = store_out_addr(s, o);
            if (a != STORE_NO_ADDR)
                store_col_set_u64(s, COL_ADDR_LAST, a, store_id_get(s, COL_OUT_PREV_ADDR, o));
            out_value += v;
            t->outputs_by_type[store_out_type(s, o)]--;
            t->utxo_count--;
            t->utxo_value -= v;
        }
        for (uint64_t in = row.first_in; in < in_end; in++) {
            uint64_t prev = store_in_prev(s, in);
            if (prev == STORE_UNRESOLVED) {
                t->unresolved_inputs--;
                s->cols[COL_UNRES].rows--;
            } else if (prev != STORE_COINBASE) {
                store_col_set_u64(s, COL_OUT_SPENT, prev, STORE_NONE);
                t->utxo_count++;
                t->utxo_value += store_out_value(s, prev);
            }
        }
        t->total_output_value -= out_value;
        if (!(row.flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED))) t->total_fees -= row.fee;
        t->inputs = row.first_in;
        t->outputs = row.first_out;
    }
    store_hindex_remove(s, &s->txidx, 0, &store_txidx_ops, first_tx, t->txs, 1);
    store_hindex_remove(s, &s->addridx, 1, &store_addridx_ops, first_addr, t->addresses, 1);
    /* the removed addresses' tail rows are the column's last ones (ids in order) */
    for (uint64_t a = first_addr; a < t->addresses; a++) {
        int64_t tr = store_addr_tail_row(store_col_at(s, COL_ADDR_KEY, a));
        if (tr >= 0) {
            s->cols[COL_ADDR_TAIL].rows = (uint64_t)tr;
            break;
        }
    }
    t->txs = first_tx;
    t->addresses = first_addr;
    t->blocks = keep;
    store_set_chain_rows(s, t);
    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = t->addresses;
    /* payload rows of removed outputs are the tail of the nulldata column (output order) */
    column *nc = &s->cols[COL_ND];
    while (nc->rows && ((const uint64_t *)store_col_at(s, COL_ND, nc->rows - 1))[0] >= t->outputs)
        nc->rows--;
    s->cols[COL_ND_DATA].rows =
        nc->rows ? ((const uint64_t *)store_col_at(s, COL_ND, nc->rows - 1))[1] : 0;
    /* Rows from the new end on are written again by the next blocks: the commit after them
     * syncs from there, not only from the committed length. */
    for (int c = 0; c < NCOLS; c++)
        if (s->cols[c].rows < s->undo_base[c]) store_span_add(s->dirty[c], s->cols[c].rows);
    /* Older redo records may name rows that are now written again in sequence (and synced as
     * such): this batch's commit is a checkpoint, which empties the log. */
    s->redo_full = 1;
    if (store_blkmap_rebuild(s, t->blocks))
        return util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
    return 0;
}
