/* The write side after open: appending blocks and token metadata to the pending rows, the
 * commit that makes them durable in the order evm_store.c's opening comment relies on, and
 * truncation back to a block. */
#include "evm_store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- append and commit ---- */

static int push(evm_store *s, int c, const void *row, util_err *err)
{
    if (util_buf_append(&s->c[c].pending, row, col_width[c]))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

int evm_store_append_block(evm_store *s, const evm_block *b, util_err *err)
{
    if (!s->writer) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    uint64_t nb = evm_store_arows(s, C_BLK);
    if (nb) {
        if (b->number != s->first_block + nb)
            return util_errf(
                err, UTIL_EFORMAT,
                "block %llu does not extend the store (tip is block %llu): blocks "
                "%llu to %llu are missing",
                (unsigned long long)b->number, (unsigned long long)(s->first_block + nb - 1),
                (unsigned long long)(s->first_block + nb), (unsigned long long)b->number - 1);
        if (memcmp(b->parent, s->tip, 32)) {
            char ph[67], th[67];
            evm_hash_hex(ph, b->parent), evm_hash_hex(th, s->tip);
            return util_errf(err, UTIL_EFORMAT,
                             "block %llu: parent %s is not the stored tip %s (a reorganisation "
                             "deeper than the blocks given: export from an earlier block)",
                             (unsigned long long)b->number, ph, th);
        }
    } else {
        s->first_block = b->number;
    }
    uint64_t tx0 = evm_store_arows(s, C_TX), x0 = evm_store_arows(s, C_XFER);
    uint8_t row[136];
    memset(row, 0, sizeof row);
    util_put_le64(row, b->number);
    util_put_le64(row + 8, b->timestamp);
    util_put_le64(row + 16, tx0);
    util_put_le64(row + 24, x0);
    util_put_le64(row + 32, s->n_addrs);
    util_put_le64(row + 40, s->n_toks);
    util_put_le64(row + 48, evm_store_arows(s, C_TRACE));
    util_put_le32(row + 56, (uint32_t)b->n_txs);
    memcpy(row + 64, b->hash, 32);
    memcpy(row + 96, b->parent, 32);
    int rc = push(s, C_BLK, row, err);
    /* where each tx's transfers start: counted from the block's transfer list */
    size_t xi = 0;
    for (size_t i = 0; i < b->n_txs && !rc; i++) {
        const evm_tx *t = &b->txs[i];
        uint32_t from, to = EVM_NONE32;
        if ((rc = evm_store_addr_id(s, t->from, &from, err))) break;
        if (t->has_to && (rc = evm_store_addr_id(s, t->to, &to, err))) break;
        while (xi < b->n_xfers && b->xfers[xi].tx != EVM_NONE32 && b->xfers[xi].tx < i)
            xi++;
        memset(row, 0, sizeof row);
        util_put_le64(row, nb);
        util_put_le64(row + 8, t->gas_used);
        util_put_le64(row + 16, x0 + xi);
        util_put_le32(row + 24, t->index);
        util_put_le32(row + 28, from);
        util_put_le32(row + 32, to);
        util_put_le32(row + 36, t->flags);
        evm_u256_store(row + 40, &t->value);
        evm_u256_store(row + 72, &t->gas_price);
        evm_u256_store(row + 104, &t->fee);
        if ((rc = push(s, C_TX, row, err)) || (rc = push(s, C_TXHASH, t->hash, err))) break;
    }
    for (size_t i = 0; i < b->n_xfers && !rc; i++) {
        const evm_xfer *x = &b->xfers[i];
        uint32_t from = EVM_NONE32, to = EVM_NONE32, tok = 0;
        if (x->has_from && (rc = evm_store_addr_id(s, x->from, &from, err))) break;
        if (x->has_to && (rc = evm_store_addr_id(s, x->to, &to, err))) break;
        if (x->kind == EVM_XFER_ERC20 && (rc = evm_store_token_id(s, x->token, &tok, err))) break;
        if (x->tx != EVM_NONE32 && x->tx >= b->n_txs) {
            rc = util_errf(err, UTIL_EINVAL, "block %llu: transfer %zu names tx %u of %zu",
                           (unsigned long long)b->number, i, x->tx, b->n_txs);
            break;
        }
        uint64_t id = x0 + i;
        size_t tl = x->trace_address ? strlen(x->trace_address) : 0;
        memset(row, 0, sizeof row);
        row[0] = x->kind;
        util_put_le32(row + 4, from);
        util_put_le32(row + 8, to);
        util_put_le32(row + 12, tok);
        util_put_le32(row + 16, x->log_index);
        util_put_le32(row + 20, (uint32_t)tl);
        util_put_le64(row + 24, x->tx == EVM_NONE32 ? EVM_NONE64 : tx0 + x->tx);
        util_put_le64(row + 32, nb);
        util_put_le64(row + 40, evm_store_arows(s, C_TRACE));
        /* the per-address lists: a self-transfer is linked once */
        uint64_t pf = from != EVM_NONE32 ? s->heads[from] : EVM_NONE64;
        uint64_t pt = to != EVM_NONE32 ? s->heads[to] : EVM_NONE64;
        if (from == to) pt = pf;
        util_put_le64(row + 48, pf);
        util_put_le64(row + 56, pt);
        evm_u256_store(row + 64, &x->amount);
        if ((rc = push(s, C_XFER, row, err))) break;
        if (tl && util_buf_append(&s->c[C_TRACE].pending, x->trace_address, tl)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        if (from != EVM_NONE32) s->heads[from] = id, s->head_dirty[from] = 1;
        if (to != EVM_NONE32) s->heads[to] = id, s->head_dirty[to] = 1;
    }
    for (size_t i = 0; i < b->n_events && !rc; i++) {
        const evm_event *e = &b->events[i];
        if (e->tx >= b->n_txs || !e->kind || e->kind >= EVM_EVENT_KINDS ||
            e->text_len > EVM_EVENT_TEXT_MAX) {
            rc = util_errf(err, UTIL_EINVAL, "block %llu: event %zu is malformed",
                           (unsigned long long)b->number, i);
            break;
        }
        memset(row, 0, sizeof row);
        uint8_t ev[256] = {0};
        ev[0] = e->kind;
        util_put_le32(ev + 4, e->log_index);
        util_put_le64(ev + 8, tx0 + e->tx);
        util_put_le64(ev + 16, nb);
        util_put_le64(ev + 24, evm_store_arows(s, C_EVTEXT));
        util_put_le32(ev + 32, e->text_len);
        memcpy(ev + 40, e->contract, 20);
        memcpy(ev + 60, e->addr, 60);
        memcpy(ev + 120, e->word, 32);
        for (int k = 0; k < 3; k++)
            evm_u256_store(ev + 152 + 32 * k, &e->u[k]);
        if ((rc = push(s, C_EV, ev, err))) break;
        if (e->text_len && util_buf_append(&s->c[C_EVTEXT].pending, e->text, e->text_len))
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (!rc) memcpy(s->tip, b->hash, 32);
    /* a failed append leaves pending rows that no commit may write: the caller must close */
    return rc;
}

int evm_store_set_tokens(evm_store *s, const evm_token_meta *t, size_t n, util_err *err)
{
    if (!n) return 0;
    evm_token_meta *m = realloc(s->meta, (s->n_meta + n) * sizeof *m);
    if (!m) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->meta = m;
    for (size_t i = 0; i < n; i++) {
        evm_token_meta *hit = bsearch(&t[i], s->meta, s->n_meta, sizeof *m, evm_store_cmp_meta);
        if (hit) {
            if (memcmp(hit, &t[i], sizeof *hit)) {
                /* compare the meaningful bytes only: the strings' tails may differ */
                if (hit->decimals != t[i].decimals || strcmp(hit->symbol, t[i].symbol) ||
                    strcmp(hit->name, t[i].name)) {
                    *hit = t[i];
                    s->meta_dirty = 1;
                }
            }
            continue;
        }
        s->meta[s->n_meta++] = t[i];
        qsort(s->meta, s->n_meta, sizeof *m, evm_store_cmp_meta);
        s->meta_dirty = 1;
    }
    return 0;
}

static int sync_fd(int fd)
{
    return fdatasync(fd);
}

int evm_store_commit(evm_store *s, util_err *err)
{
    if (!s->writer) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    /* 1. rows, synced */
    for (int c = 0; c < C_NCOLS; c++) {
        col *k = &s->c[c];
        int rc = k->pending.len
                     ? colstore_col_write(&k->f, k->f.rows, k->pending.data, k->pending.len, err)
                     : 0;
        if (!rc && k->pending.len) rc = colstore_col_sync(&k->f, err);
        if (rc) return rc;
    }
    /* 2. list heads: every new or changed one, then synced */
    int any = 0;
    for (uint64_t i = 0; i < s->n_addrs; i++) {
        if (!s->head_dirty[i]) continue;
        uint8_t h[8];
        util_put_le64(h, s->heads[i]);
        if (colstore_pwrite_all(s->head_fd, h, 8, 8 * i))
            return util_errf(err, UTIL_EIO, "%s/%s: write failed", s->dir, HEAD_FILE);
        s->head_dirty[i] = 0;
        any = 1;
    }
    if (any && sync_fd(s->head_fd))
        return util_errf(err, UTIL_EIO, "%s/%s: sync failed", s->dir, HEAD_FILE);
    if (s->crash_in_commit && ++s->commits == s->crash_in_commit) _exit(9);
    /* 3. token metadata, a new generation */
    uint64_t gen = s->token_gen;
    if (s->meta_dirty) {
        int rc = evm_store_meta_write(s, gen + 1, err);
        if (rc) return rc;
        gen++;
    }
    /* 4. the MANIFEST: the commit point */
    uint64_t rows[C_NCOLS];
    for (int c = 0; c < C_NCOLS; c++)
        rows[c] = evm_store_arows(s, c);
    util_buf b = {0};
    if (evm_store_manifest_text(s, rows, gen, s->tip, &b)) {
        util_buf_free(&b);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    if (rc) return rc;
    uint64_t before[IX_N];
    for (int i = 0; i < IX_N; i++)
        before[i] = evm_store_crows(s, evm_store_ix_col(i));
    for (int c = 0; c < C_NCOLS; c++) {
        s->c[c].f.rows = rows[c];
        s->c[c].pending.len = 0;
    }
    /* 5. the indexes, derived data: a crash before they are done only means a rebuild */
    for (int i = 0; i < IX_N; i++)
        if ((rc = evm_store_ix_extend(s, i, before[i], rows[evm_store_ix_col(i)], err))) return rc;
    if (gen != s->token_gen) {
        s->token_gen = gen;
        evm_store_meta_cleanup(s);
    }
    s->meta_dirty = 0;
    return 0;
}

void evm_store_test_crash_in_commit(evm_store *s, uint64_t n)
{
    s->crash_in_commit = n;
}

int evm_store_truncate(evm_store *s, uint64_t from, util_err *err)
{
    if (!s->writer) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    for (int c = 0; c < C_NCOLS; c++)
        if (s->c[c].pending.len)
            return util_errf(err, UTIL_EINVAL, "commit before cutting blocks back");
    uint64_t nb = evm_store_crows(s, C_BLK);
    if (!nb || from >= s->first_block + nb) return 0;
    uint64_t keep = from > s->first_block ? from - s->first_block : 0;
    uint64_t rows[C_NCOLS] = {0};
    int rc = 0;
    uint8_t tip[32] = {0};
    if (keep) {
        evm_block_row cut, last;
        rc = evm_store_block(s, keep, &cut, err);
        if (!rc) rc = evm_store_block(s, keep - 1, &last, err);
        if (rc) return rc;
        rows[C_BLK] = keep, rows[C_TX] = rows[C_TXHASH] = cut.first_tx;
        rows[C_XFER] = cut.first_xfer, rows[C_TRACE] = cut.first_trace;
        rows[C_ADDR] = cut.first_addr, rows[C_TOK] = cut.first_token;
        memcpy(tip, last.hash, 32);
        /* events of the blocks kept: the rows before the first one of block row keep */
        uint64_t lo = 0, hi = evm_store_crows(s, C_EV);
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            uint8_t ev[256];
            if ((rc = evm_store_read_row(s, C_EV, mid, ev, err))) return rc;
            if (util_le64(ev + 16) < keep)
                lo = mid + 1;
            else
                hi = mid;
        }
        rows[C_EV] = lo, rows[C_EVTEXT] = evm_store_crows(s, C_EVTEXT);
        if (lo < evm_store_crows(s, C_EV)) {
            uint8_t ev[256];
            if ((rc = evm_store_read_row(s, C_EV, lo, ev, err))) return rc;
            rows[C_EVTEXT] = util_le64(ev + 24);
        }
    }
    /* commit the shorter state first: rows past it stay on disk for evm_store_recover() to unlink
     */
    util_buf b = {0};
    uint64_t fb = s->first_block;
    if (!keep) s->first_block = 0;
    if (evm_store_manifest_text(s, rows, s->token_gen, tip, &b)) {
        util_buf_free(&b);
        s->first_block = fb;
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    if (rc) {
        s->first_block = fb;
        return rc;
    }
    for (int c = 0; c < C_NCOLS; c++)
        s->c[c].f.rows = rows[c];
    memcpy(s->tip, tip, 32);
    if ((rc = evm_store_recover(s, err)) || (rc = evm_store_load_state(s, err))) return rc;
    for (int i = 0; i < IX_N && !rc; i++)
        rc = evm_store_ix_rebuild(s, i, evm_store_crows(s, evm_store_ix_col(i)), err);
    return rc;
}
