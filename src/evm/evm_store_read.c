/* The read side: rows by id, lookups by hash and address, the per-address transfer lists (with
 * uncommitted heads settled on the fly) and the counts. Nothing here changes the store. */
#include "evm_store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- reads ---- */

int evm_store_has_events(const evm_store *s)
{
    return !s->legacy;
}

uint64_t evm_store_event_count(const evm_store *s)
{
    return s->legacy ? 0 : evm_store_crows(s, C_EV);
}

int evm_store_event(const evm_store *s, uint64_t id, evm_event_row *o, util_err *err)
{
    if (id >= evm_store_event_count(s))
        return util_errf(err, UTIL_ENOTFOUND, "event %llu not stored", (unsigned long long)id);
    uint8_t ev[256];
    int rc = evm_store_read_row(s, C_EV, id, ev, err);
    if (rc) return rc;
    memset(o, 0, sizeof *o);
    o->kind = ev[0];
    o->log_index = util_le32(ev + 4);
    o->tx = util_le64(ev + 8);
    o->block = util_le64(ev + 16);
    uint64_t off = util_le64(ev + 24);
    o->text_len = util_le32(ev + 32);
    memcpy(o->contract, ev + 40, 20);
    memcpy(o->addr, ev + 60, 60);
    memcpy(o->word, ev + 120, 32);
    for (int k = 0; k < 3; k++)
        evm_u256_load(&o->u[k], ev + 152 + 32 * k);
    if (o->text_len > EVM_EVENT_TEXT_MAX || off + o->text_len > evm_store_crows(s, C_EVTEXT) ||
        (o->text_len && colstore_pread_all(s->c[C_EVTEXT].f.fd, o->text, o->text_len, off)))
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: event %llu's text cannot be read", s->dir,
                         col_files[C_EVTEXT], (unsigned long long)id);
    o->text[o->text_len] = 0;
    return 0;
}

int evm_store_block(const evm_store *s, uint64_t r, evm_block_row *o, util_err *err)
{
    if (r >= evm_store_crows(s, C_BLK))
        return util_errf(err, UTIL_ENOTFOUND, "block row %llu not stored", (unsigned long long)r);
    uint8_t row[128];
    int rc = evm_store_read_row(s, C_BLK, r, row, err);
    if (rc) return rc;
    o->number = util_le64(row), o->timestamp = util_le64(row + 8);
    o->first_tx = util_le64(row + 16), o->first_xfer = util_le64(row + 24);
    o->first_addr = util_le64(row + 32), o->first_token = util_le64(row + 40);
    o->first_trace = util_le64(row + 48), o->n_tx = util_le32(row + 56);
    memcpy(o->hash, row + 64, 32), memcpy(o->parent, row + 96, 32);
    return 0;
}

int evm_store_tx(const evm_store *s, uint64_t id, evm_tx_row *o, util_err *err)
{
    if (id >= evm_store_crows(s, C_TX))
        return util_errf(err, UTIL_ENOTFOUND, "tx %llu not stored", (unsigned long long)id);
    uint8_t row[136];
    int rc = evm_store_read_row(s, C_TX, id, row, err);
    if (!rc) rc = evm_store_read_row(s, C_TXHASH, id, o->hash, err);
    if (rc) return rc;
    o->block = util_le64(row), o->gas_used = util_le64(row + 8);
    o->first_xfer = util_le64(row + 16), o->index = util_le32(row + 24);
    o->from = util_le32(row + 28), o->to = util_le32(row + 32), o->flags = util_le32(row + 36);
    evm_u256_load(&o->value, row + 40);
    evm_u256_load(&o->gas_price, row + 72);
    evm_u256_load(&o->fee, row + 104);
    return 0;
}

int evm_store_find_tx(const evm_store *s, const uint8_t hash[32], uint64_t *id, util_err *err)
{
    char hex[67];
    int f = evm_store_ix_find(s, IX_TX, hash, id);
    if (f == 1) return 0;
    if (f == 0) {
        evm_hash_hex(hex, hash);
        return util_errf(err, UTIL_ENOTFOUND, "tx %s is not in the %s store", hex, s->chain);
    }
    uint64_t n = evm_store_crows(s, C_TX);
    enum { CHUNK = 4096 };
    uint8_t *buf = malloc(CHUNK * 32);
    if (!buf) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i += CHUNK) {
        uint64_t k = n - i < CHUNK ? n - i : CHUNK;
        if (colstore_pread_all(s->c[C_TXHASH].f.fd, buf, k * 32, i * 32)) {
            free(buf);
            return util_errf(err, UTIL_ECORRUPT, "%s/tx_hash.col: shorter than MANIFEST", s->dir);
        }
        for (uint64_t j = 0; j < k; j++)
            if (!memcmp(buf + 32 * j, hash, 32)) {
                *id = i + j;
                free(buf);
                return 0;
            }
    }
    free(buf);
    evm_hash_hex(hex, hash);
    return util_errf(err, UTIL_ENOTFOUND, "tx %s is not in the %s store", hex, s->chain);
}

int evm_store_xfer(const evm_store *s, uint64_t id, evm_xfer_row *o, util_err *err)
{
    uint8_t row[96];
    int rc = evm_store_read_row(s, C_XFER, id, row, err);
    if (rc) return rc;
    o->kind = row[0];
    o->from = util_le32(row + 4), o->to = util_le32(row + 8), o->token = util_le32(row + 12);
    o->log_index = util_le32(row + 16), o->trace_len = util_le32(row + 20);
    o->tx = util_le64(row + 24), o->block = util_le64(row + 32);
    o->trace_off = util_le64(row + 40), o->prev_from = util_le64(row + 48);
    o->prev_to = util_le64(row + 56);
    evm_u256_load(&o->amount, row + 64);
    return 0;
}

int evm_store_xfer_trace(const evm_store *s, const evm_xfer_row *x, char *out, size_t cap,
                         util_err *err)
{
    if (x->trace_len >= cap) return util_errf(err, UTIL_ECORRUPT, "trace address too long");
    if (x->trace_len && colstore_pread_all(s->c[C_TRACE].f.fd, out, x->trace_len, x->trace_off))
        return util_errf(err, UTIL_ECORRUPT, "%s/xfer_trace.dat: short", s->dir);
    out[x->trace_len] = 0;
    return 0;
}

int evm_store_addr(const evm_store *s, uint32_t id, uint8_t out[20], util_err *err)
{
    if (id >= evm_store_crows(s, C_ADDR))
        return util_errf(err, UTIL_ENOTFOUND, "address id %u not stored", id);
    return evm_store_read_row(s, C_ADDR, id, out, err);
}

int evm_store_find_addr(const evm_store *s, const uint8_t a[20], uint32_t *id, util_err *err)
{
    uint64_t r;
    char h[43];
    int f = evm_store_ix_find(s, IX_ADDR, a, &r);
    if (f == 1) {
        *id = (uint32_t)r;
        return 0;
    }
    if (f == 0) {
        evm_addr_eip55(h, a);
        return util_errf(err, UTIL_ENOTFOUND, "address %s has no transfers in the %s store", h,
                         s->chain);
    }
    uint64_t n = evm_store_crows(s, C_ADDR);
    enum { CHUNK = 8192 };
    uint8_t *buf = malloc(CHUNK * 20);
    if (!buf) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i += CHUNK) {
        uint64_t k = n - i < CHUNK ? n - i : CHUNK;
        if (colstore_pread_all(s->c[C_ADDR].f.fd, buf, k * 20, i * 20)) {
            free(buf);
            return util_errf(err, UTIL_ECORRUPT, "%s/addr.col: shorter than MANIFEST", s->dir);
        }
        for (uint64_t j = 0; j < k; j++)
            if (!memcmp(buf + 20 * j, a, 20)) {
                *id = (uint32_t)(i + j);
                free(buf);
                return 0;
            }
    }
    free(buf);
    evm_addr_eip55(h, a);
    return util_errf(err, UTIL_ENOTFOUND, "address %s has no transfers in the %s store", h,
                     s->chain);
}

/* A head or a link may point past the commit when a writer died: walk back to committed rows
 * (they are still on disk until the next writer opens). */
static int settle(const evm_store *s, uint32_t addr, uint64_t x, uint64_t *out, util_err *err)
{
    uint64_t guard = 0;
    while (x != EVM_NONE64 && x >= evm_store_crows(s, C_XFER)) {
        evm_xfer_row r;
        int rc = evm_store_xfer(s, x, &r, err);
        if (rc) return rc;
        if (++guard > (1u << 24))
            return util_errf(err, UTIL_ECORRUPT, "%s: address list does not end", s->dir);
        x = r.from == addr ? r.prev_from : r.prev_to;
    }
    *out = x;
    return 0;
}

int evm_store_addr_head(const evm_store *s, uint32_t addr, uint64_t *xfer, util_err *err)
{
    if (addr >= evm_store_crows(s, C_ADDR))
        return util_errf(err, UTIL_ENOTFOUND, "address id %u not stored", addr);
    uint8_t h[8];
    if (colstore_pread_all(s->head_fd, h, 8, 8 * (uint64_t)addr))
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: short", s->dir, HEAD_FILE);
    return settle(s, addr, util_le64(h), xfer, err);
}

int evm_store_addr_next(const evm_store *s, uint32_t addr, uint64_t xfer, uint64_t *next,
                        util_err *err)
{
    evm_xfer_row r;
    int rc = evm_store_xfer(s, xfer, &r, err);
    if (rc) return rc;
    if (r.from != addr && r.to != addr)
        return util_errf(err, UTIL_ECORRUPT, "%s: transfer %llu is not address %u's", s->dir,
                         (unsigned long long)xfer, addr);
    uint64_t n = r.from == addr ? r.prev_from : r.prev_to;
    if (n != EVM_NONE64 && n >= xfer)
        return util_errf(err, UTIL_ECORRUPT, "%s: address list goes forward at %llu", s->dir,
                         (unsigned long long)xfer);
    return settle(s, addr, n, next, err);
}

int evm_store_token(const evm_store *s, uint32_t id, evm_token_meta *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    out->decimals = -1;
    if (!id || id > evm_store_crows(s, C_TOK))
        return util_errf(err, UTIL_ENOTFOUND, "token %u", id);
    int rc = evm_store_read_row(s, C_TOK, id - 1, out->addr, err);
    if (rc) return rc;
    evm_token_meta *m =
        s->meta ? bsearch(out, s->meta, s->n_meta, sizeof *m, evm_store_cmp_meta) : NULL;
    if (m) *out = *m;
    return 0;
}

void evm_store_tip(const evm_store *s, uint64_t *first_block, uint64_t *n_blocks, uint8_t tip[32])
{
    *first_block = s->first_block, *n_blocks = evm_store_arows(s, C_BLK);
    memcpy(tip, s->tip, 32);
}

void evm_store_counts(const evm_store *s, uint64_t *txs, uint64_t *xfers, uint64_t *addrs)
{
    *txs = evm_store_crows(s, C_TX), *xfers = evm_store_crows(s, C_XFER),
    *addrs = evm_store_crows(s, C_ADDR);
}

int evm_store_stats(const evm_store *s, evm_stats *st)
{
    memset(st, 0, sizeof *st);
    st->first_block = s->first_block;
    st->blocks = evm_store_crows(s, C_BLK), st->txs = evm_store_crows(s, C_TX),
    st->transfers = evm_store_crows(s, C_XFER);
    st->addresses = evm_store_crows(s, C_ADDR), st->tokens = evm_store_crows(s, C_TOK);
    memcpy(st->tip, s->tip, 32);
    for (uint64_t i = 0; i < st->txs; i++) {
        evm_tx_row t;
        if (evm_store_tx(s, i, &t, NULL)) return UTIL_ECORRUPT;
        if (t.flags & EVM_TX_FAILED) st->failed_txs++;
        evm_u256_add(&st->fees, &st->fees, &t.fee);
    }
    for (uint64_t i = 0; i < st->transfers; i++) {
        evm_xfer_row x;
        if (evm_store_xfer(s, i, &x, NULL)) return UTIL_ECORRUPT;
        if (x.kind < EVM_XFER_KINDS) st->xfers_by_kind[x.kind]++;
        evm_u256 *sum = x.kind == EVM_XFER_TX           ? &st->native_tx_value
                        : x.kind == EVM_XFER_INTERNAL   ? &st->native_internal_value
                        : x.kind == EVM_XFER_REWARD     ? &st->rewards
                        : x.kind == EVM_XFER_WITHDRAWAL ? &st->withdrawals
                                                        : NULL;
        if (sum) evm_u256_add(sum, sum, &x.amount);
    }
    return 0;
}
