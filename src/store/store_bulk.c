/* Bulk loading of an empty store (docs/performance.md, "Bulk import"): the same columns, the
 * same bytes as store_append_block gives block by block, but built by sorting and streaming
 * instead of one random look-up per input and per output.
 *
 *  add_block  every block in chain order: the columns that need nothing from other blocks are
 *             appended in sequence (blocks, tx hashes and rows, output values and types,
 *             payloads); inputs, txids and addresses become sort records;
 *  resolve    txids and outpoints radix-sorted by the txid's first 8 bytes and merged (the
 *             newest earlier tx with the txid, as the incremental path's index answers), each
 *             match checked against the whole txid; then by spent output (spent marks, values,
 *             double spends), then by input;
 *  validate   one pass in chain order with the incremental path's checks in its order, so the
 *             first failure is the one it reports, with its words;
 *  addresses  (key, output) sorted: ids in order of first appearance, each output's previous
 *             output of its address, each address's last output;
 *  indexes    both hash indexes built once, in id order, at their final size (what a store
 *             grown insert by insert holds after its close: see store_hindex_cap_for).
 * Nothing is committed here: the caller commits once. A kill at any point leaves the empty
 * committed store (rows past the MANIFEST are cut at the next open); temp files are removed
 * at the next begin. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* An array of records of w words. */
typedef struct vec {
    uint64_t *a;
    size_t n, cap;
    int w;
} vec;

static int vec_push(vec *v, const uint64_t *rec)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4096;
        uint64_t *p = realloc(v->a, cap * v->w * sizeof *p);
        if (!p) return UTIL_ENOMEM;
        v->a = p, v->cap = cap;
    }
    memcpy(v->a + v->n * v->w, rec, v->w * sizeof *rec);
    v->n++;
    return 0;
}

static void vec_free(vec *v)
{
    free(v->a);
    v->a = NULL, v->n = v->cap = 0;
}

/* A temp file written in sequence and read back through a mapping. */
typedef struct tmpf {
    char path[4200];
    FILE *f;
    const uint8_t *map;
    size_t bytes;
} tmpf;

static int tmpf_open(tmpf *t, const char *dir, const char *name, util_err *err)
{
    snprintf(t->path, sizeof t->path, "%s/%s", dir, name);
    t->f = fopen(t->path, "w+b");
    if (!t->f) return util_errf(err, UTIL_EIO, "%s: cannot create: %s", t->path, strerror(errno));
    return 0;
}

static int tmpf_write(tmpf *t, const void *p, size_t n, util_err *err)
{
    if (fwrite(p, 1, n, t->f) != n)
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", t->path, strerror(errno));
    t->bytes += n;
    return 0;
}

static int tmpf_map(tmpf *t, util_err *err)
{
    if (fflush(t->f) != 0 || ferror(t->f))
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", t->path, strerror(errno));
    if (!t->bytes) return 0;
    void *m = mmap(NULL, t->bytes, PROT_READ, MAP_SHARED, fileno(t->f), 0);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map: %s", t->path, strerror(errno));
    t->map = m;
    return 0;
}

static void tmpf_close(tmpf *t)
{
    if (t->map) munmap((void *)t->map, t->bytes);
    if (t->f) {
        fclose(t->f);
        unlink(t->path);
    }
    t->map = NULL, t->f = NULL;
}

#define PREVOUT_BYTES 36 /* an input's outpoint in the temp file: txid, vout (LE) */

struct store_bulk {
    store *s;
    uint64_t memory;
    int crash_phase;
    store_totals n; /* rows appended so far (blocks, txs, inputs, outputs) */
    vec tx;         /* k (first 8 txid bytes), tx id, first_out, n_out */
    vec in;         /* k of the spent txid, input id, tx id, vout: non-coinbase inputs */
    vec ad;         /* key hash, output id, index of the key in addrkeys */
    int64_t *subsidy;
    size_t subsidy_cap;
    tmpf prevouts; /* PREVOUT_BYTES per input, every input */
    tmpf addrkeys; /* btc_addr per addressed output */
    uint8_t *nd;
    size_t nd_cap;
    /* One sort buffer for every sort, allocated once at the largest size: a fresh buffer per
     * sort would fault and zero every page of it again. */
    uint64_t *scratch;
    size_t scratch_words;
    double phase_s[STORE_BULK_PHASES];
    double lap; /* util_now() at the end of the last phase timed */
};

const char *const store_bulk_phase_names[STORE_BULK_PHASES] = {"sort_txids_outpoints",
                                                               "merge_check_txids",
                                                               "mark_spent",
                                                               "sort_by_input",
                                                               "validate",
                                                               "addresses",
                                                               "indexes"};

void store_bulk_phase_seconds(const store_bulk *b, double out[STORE_BULK_PHASES])
{
    for (int i = 0; i < STORE_BULK_PHASES; i++)
        out[i] = b ? b->phase_s[i] : 0;
}

static void lap(store_bulk *b, int phase)
{
    double now = util_now();
    b->phase_s[phase] += now - b->lap;
    b->lap = now;
}

static const char *const tmp_names[] = {"bulk-prevouts.tmp", "bulk-addrkeys.tmp"};

int store_bulk_begin(store *s, uint64_t memory, int crash_phase, store_bulk **out, util_err *err)
{
    *out = NULL;
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    if (s->live.blocks || s->committed.blocks)
        return util_errf(err, UTIL_EINVAL, "a bulk import needs an empty store");
    store_bulk *b = calloc(1, sizeof *b);
    if (!b) return util_errf(err, UTIL_ENOMEM, "out of memory");
    b->s = s;
    b->memory = memory;
    b->crash_phase = crash_phase;
    b->tx.w = 4, b->in.w = 4, b->ad.w = 3;
    char path[4300];
    for (size_t i = 0; i < sizeof tmp_names / sizeof *tmp_names; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, tmp_names[i]);
        unlink(path); /* left by a killed bulk import */
    }
    int rc = tmpf_open(&b->prevouts, s->dir, tmp_names[0], err);
    if (!rc) rc = tmpf_open(&b->addrkeys, s->dir, tmp_names[1], err);
    if (rc) {
        store_bulk_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void store_bulk_free(store_bulk *b)
{
    if (!b) return;
    vec_free(&b->tx);
    vec_free(&b->in);
    vec_free(&b->ad);
    tmpf_close(&b->prevouts);
    tmpf_close(&b->addrkeys);
    free(b->subsidy);
    free(b->nd);
    free(b->scratch);
    free(b);
}

static int reserve(store *s, int col, uint64_t more, util_err *err)
{
    return colstore_col_reserve(&s->cols[col], more, err);
}

static int block_error(store *s, const uint8_t hash[32], uint64_t height, util_err *err)
{
    (void)s;
    char hex[65];
    util_hash_hex(hex, hash);
    return util_err_prefix(err, "block %s (height %llu)", hex, (unsigned long long)height);
}

static int add_block(store_bulk *b, const btc_block *blk, unsigned __int128 chainwork,
                     int64_t max_subsidy, util_err *err);

/* A block that fails half way (no space, no memory) is taken out whole: the blocks before it
 * stay a consistent prefix, which store_bulk_finish can still check. */
int store_bulk_add_block(store_bulk *b, const btc_block *blk, unsigned __int128 chainwork,
                         int64_t max_subsidy, util_err *err)
{
    store *s = b->s;
    store_totals saved = b->n;
    size_t tx_n = b->tx.n, in_n = b->in.n, ad_n = b->ad.n;
    uint64_t nd_rows = s->cols[COL_ND].rows, nd_bytes = s->cols[COL_ND_DATA].rows;
    int rc = add_block(b, blk, chainwork, max_subsidy, err);
    if (rc) {
        b->n = saved;
        b->tx.n = tx_n, b->in.n = in_n, b->ad.n = ad_n;
        s->cols[COL_ND].rows = nd_rows, s->cols[COL_ND_DATA].rows = nd_bytes;
    }
    return rc;
}

static int add_block(store_bulk *b, const btc_block *blk, unsigned __int128 chainwork,
                     int64_t max_subsidy, util_err *err)
{
    store *s = b->s;
    store_totals *t = &b->n;
    int rc = store_check_extends(s, blk, t->blocks, err);
    if (!rc) rc = store_check_id_room(t, blk, err);
    if (rc) return rc;
    uint64_t nd = 0, nd_bytes = 0;
    size_t longest = 0;
    for (uint32_t k = 0; k < blk->n_out; k++)
        if (blk->outs[k].type == BTC_NULLDATA) {
            nd++, nd_bytes += blk->outs[k].script_len;
            if (blk->outs[k].script_len > longest) longest = blk->outs[k].script_len;
        }
    rc = rc ? rc : reserve(s, COL_BLK_HASH, 1, err);
    rc = rc ? rc : reserve(s, COL_BLK, 1, err);
    rc = rc ? rc : reserve(s, COL_TX_HASH, blk->n_tx, err);
    rc = rc ? rc : reserve(s, COL_TX, blk->n_tx, err);
    rc = rc ? rc : reserve(s, COL_IN_PREV, blk->n_in, err);
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR && !rc; c++)
        rc = reserve(s, c, blk->n_out, err);
    rc = rc ? rc : reserve(s, COL_ND, nd, err);
    rc = rc ? rc : reserve(s, COL_ND_DATA, nd_bytes, err);
    if (rc) return block_error(s, blk->hdr.hash, t->blocks, err);
    if (longest > b->nd_cap) {
        uint8_t *p = realloc(b->nd, longest);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for a payload");
        b->nd = p, b->nd_cap = longest;
    }
    if (t->blocks == b->subsidy_cap) {
        size_t cap = b->subsidy_cap ? b->subsidy_cap * 2 : 1024;
        int64_t *p = realloc(b->subsidy, cap * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory");
        b->subsidy = p, b->subsidy_cap = cap;
    }
    uint64_t height = t->blocks;
    b->subsidy[height] = max_subsidy;
    memcpy(store_col_at(s, COL_BLK_HASH, height), blk->hdr.hash, 32);
    store_block_row *br = store_col_at(s, COL_BLK, height);
    memset(br, 0, sizeof *br);
    br->first_tx = t->txs;
    br->first_addr = 0; /* known once addresses are numbered */
    for (int i = 0; i < 16; i++)
        br->chainwork[i] = (uint8_t)(chainwork >> (8 * i));
    br->time = blk->hdr.time, br->bits = blk->hdr.bits, br->size = blk->size;
    br->n_tx = blk->n_tx;
    for (uint32_t ti = 0; ti < blk->n_tx; ti++) {
        const btc_tx *tx = &blk->txs[ti];
        uint64_t txno = t->txs + ti;
        store_put_tx(s, tx, txno, t->inputs, t->outputs, height);
        uint64_t rec[4] = {util_le64(tx->txid), txno, t->outputs, tx->n_out};
        if (vec_push(&b->tx, rec)) return util_errf(err, UTIL_ENOMEM, "out of memory for txids");
        for (uint32_t k = 0; k < tx->n_in; k++) {
            const btc_txin *in = &blk->ins[tx->first_in + k];
            uint64_t inno = t->inputs + k;
            uint8_t po[PREVOUT_BYTES];
            memcpy(po, in->prev_txid, 32);
            po[32] = (uint8_t)in->prev_vout, po[33] = (uint8_t)(in->prev_vout >> 8);
            po[34] = (uint8_t)(in->prev_vout >> 16), po[35] = (uint8_t)(in->prev_vout >> 24);
            if ((rc = tmpf_write(&b->prevouts, po, sizeof po, err))) return rc;
            store_id_put(s, COL_IN_PREV, inno, tx->coinbase ? STORE_COINBASE : STORE_UNRESOLVED);
            if (tx->coinbase) continue;
            uint64_t r[4] = {util_le64(in->prev_txid), inno, txno, in->prev_vout};
            if (vec_push(&b->in, r)) return util_errf(err, UTIL_ENOMEM, "out of memory for inputs");
        }
        t->inputs += tx->n_in;
        for (uint32_t k = 0; k < tx->n_out; k++) {
            const btc_txout *o = &blk->outs[tx->first_out + k];
            uint64_t outno = t->outputs + k;
            *(int64_t *)store_col_at(s, COL_OUT_VALUE, outno) = o->value;
            *(uint8_t *)store_col_at(s, COL_OUT_TYPE, outno) = o->type;
            store_id_put(s, COL_OUT_SPENT, outno, STORE_NONE);
            store_id_put(s, COL_OUT_PREV_ADDR, outno, STORE_NONE);
            *(uint32_t *)store_col_at(s, COL_OUT_ADDR, outno) = STORE_NO_ADDR;
            if (o->addr.kind) {
                uint64_t r[3] = {store_key_hash((const uint8_t *)&o->addr, sizeof o->addr), outno,
                                 b->ad.n};
                if (vec_push(&b->ad, r))
                    return util_errf(err, UTIL_ENOMEM, "out of memory for addresses");
                if ((rc = tmpf_write(&b->addrkeys, &o->addr, sizeof o->addr, err))) return rc;
            }
            if (o->type == BTC_NULLDATA) {
                size_t n = btc_nulldata_payload(o->script, o->script_len, b->nd);
                column *dc = &s->cols[COL_ND_DATA];
                memcpy(store_col_at(s, COL_ND_DATA, dc->rows), b->nd, n);
                dc->rows += n;
                uint64_t *ndr = store_col_at(s, COL_ND, s->cols[COL_ND].rows++);
                ndr[0] = outno, ndr[1] = dc->rows;
            }
        }
        t->outputs += tx->n_out;
    }
    t->txs += blk->n_tx;
    t->blocks++;
    store_set_chain_rows(s, t);
    return 0;
}

/* ---------------- sorting ---------------- */

/* Stable LSD radix sort of n records of w words by bits [shift, shift + bits) of word kw;
 * tmp holds n records. Digits in which every key agrees are skipped. The result is in a. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n, int w, int kw, int shift, int bits)
{
    enum { D = 8, R = 1 << D };
    int passes = (bits + D - 1) / D;
    if (passes > 8) passes = 8;
    static const int maxp = 8;
    size_t(*cnt)[R] = calloc((size_t)maxp, sizeof *cnt);
    if (!cnt) abort(); /* 16 KiB */
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i * w + kw];
        for (int p = 0; p < passes; p++)
            cnt[p][(k >> (shift + p * D)) & (R - 1)]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int p = 0; p < passes; p++) {
        size_t *c = cnt[p];
        int trivial = 0;
        for (int d = 0; d < R; d++)
            if (c[d] == n) trivial = 1;
        if (trivial) continue;
        size_t sum = 0;
        for (int d = 0; d < R; d++) {
            size_t x = c[d];
            c[d] = sum;
            sum += x;
        }
        int sh = shift + p * D;
        /* fixed record sizes copied word by word: a memcpy call per record costs more than
         * the scatter itself */
        switch (w) {
        case 3:
            for (size_t i = 0; i < n; i++) {
                const uint64_t *r = src + i * 3;
                uint64_t *d = dst + c[(r[kw] >> sh) & (R - 1)]++ * 3;
                d[0] = r[0], d[1] = r[1], d[2] = r[2];
            }
            break;
        case 4:
            for (size_t i = 0; i < n; i++) {
                const uint64_t *r = src + i * 4;
                uint64_t *d = dst + c[(r[kw] >> sh) & (R - 1)]++ * 4;
                d[0] = r[0], d[1] = r[1], d[2] = r[2], d[3] = r[3];
            }
            break;
        default:
            for (size_t i = 0; i < n; i++) {
                const uint64_t *r = src + i * w;
                memcpy(dst + c[(r[kw] >> sh) & (R - 1)]++ * w, r, w * sizeof *r);
            }
        }
        uint64_t *x = src;
        src = dst, dst = x;
    }
    if (src != a) memcpy(a, src, n * w * sizeof *a);
    free(cnt);
}

static int bits_for(uint64_t maxval)
{
    int b = 1;
    while (b < 64 && (maxval >> b))
        b++;
    return b;
}

static int scratch_for(store_bulk *b, size_t words, util_err *err)
{
    if (words <= b->scratch_words) return 0;
    free(b->scratch);
    b->scratch = malloc(words * sizeof *b->scratch);
    b->scratch_words = b->scratch ? words : 0;
    if (!b->scratch)
        return util_errf(err, UTIL_ENOMEM, "out of memory for a sort (%zu bytes)", words * 8);
    return 0;
}

static int sort_vec(store_bulk *b, vec *v, int kw, int bits, util_err *err)
{
    if (v->n < 2) return 0;
    int rc = scratch_for(b, v->n * v->w, err);
    if (rc) return rc;
    radix_sort(v->a, b->scratch, v->n, v->w, kw, 0, bits);
    return 0;
}

/* Stable sort by the whole 64-bit word kw when its values are uniform (hashes): a radix sort
 * of the top bits only, a few more than log2(n) of them, leaves each key within a run of a
 * few that share those bits; one insertion pass (stable) finishes them. Half the passes of
 * sorting all 64 bits. */
static int sort_vec_hash(store_bulk *b, vec *v, int kw, util_err *err)
{
    if (v->n < 2) return 0;
    int top = (bits_for(v->n) + 4 + 7) / 8 * 8;
    if (top > 64) top = 64;
    int rc = scratch_for(b, v->n * v->w, err);
    if (rc) return rc;
    radix_sort(v->a, b->scratch, v->n, v->w, kw, 64 - top, top);
    int w = v->w;
    uint64_t rec[8];
    for (size_t i = 1; i < v->n; i++) {
        uint64_t k = v->a[i * w + kw];
        if (v->a[(i - 1) * w + kw] <= k) continue;
        memcpy(rec, v->a + i * w, w * sizeof *rec);
        size_t j = i;
        while (j > 0 && v->a[(j - 1) * w + kw] > k) {
            memcpy(v->a + j * w, v->a + (j - 1) * w, w * sizeof *rec);
            j--;
        }
        memcpy(v->a + j * w, rec, w * sizeof *rec);
    }
    return 0;
}

static void crash_at(const store_bulk *b, int phase)
{
    if (b->crash_phase == phase) raise(SIGKILL); /* crash-recovery tests only */
}

/* ---------------- resolving inputs ---------------- */

/* R records: input id, position in the sorted tx records (or UINT64_MAX), vout, then the
 * spent output id or a code. */
enum { R_IN, R_POS, R_VOUT, R_PREV, RW };

static const uint8_t *prevout_at(const store_bulk *b, uint64_t in)
{
    return b->prevouts.map + in * PREVOUT_BYTES;
}

/* The sorted tx record at pos is the candidate for input r (k equal, id below the input's
 * tx); check the whole txid, and on a mismatch (two txids sharing their first 8 bytes) look
 * at the older ones with the same k. */
static uint64_t verify_pos(const store_bulk *b, uint64_t pos, uint64_t in)
{
    const store *s = b->s;
    const uint8_t *want = prevout_at(b, in);
    uint64_t k = util_le64(want);
    for (uint64_t p = pos + 1; p-- > 0;) {
        const uint64_t *tr = b->tx.a + p * 4;
        if (tr[0] != k) break;
        if (memcmp(store_col_at(s, COL_TX_HASH, tr[1]), want, 32) == 0) return p;
    }
    return UINT64_MAX;
}

static int resolve(store_bulk *b, vec *rv, uint64_t codes[3], util_err *err)
{
    store *s = b->s;
    int rc;
    if ((rc = sort_vec_hash(b, &b->tx, 0, err)) || (rc = sort_vec_hash(b, &b->in, 0, err)))
        return rc;
    lap(b, 0);
    /* the R records take the place of the input records, one for one */
    rv->w = RW;
    rv->a = b->in.a;
    rv->cap = b->in.cap;
    /* merge: for each input, the newest tx with its k that comes before the input's tx */
    size_t tp = 0;
    const uint64_t *T = b->tx.a;
    for (size_t i = 0; i < b->in.n; i++) {
        const uint64_t *r = b->in.a + i * 4;
        while (tp < b->tx.n && T[tp * 4] < r[0])
            tp++;
        uint64_t pos = UINT64_MAX;
        size_t q = tp;
        while (q < b->tx.n && T[q * 4] == r[0] && T[q * 4 + 1] < r[2])
            q++;
        if (q > tp) pos = q - 1;
        uint64_t in = r[1], vout = r[3]; /* r and o are the same record */
        uint64_t *o = rv->a + i * RW;
        o[R_IN] = in, o[R_POS] = pos, o[R_VOUT] = vout, o[R_PREV] = 0;
    }
    rv->n = b->in.n;
    b->in.a = NULL, b->in.n = b->in.cap = 0;
    /* whole txids: in batches, the reads of a batch issued before they are compared. Three
     * stages, a batch apart: the tx record at R_POS (whose id says where the txid is), then
     * the txid and the outpoint, then the comparison; a stage that waited for its own
     * record's load would serialise the misses. */
    enum { BATCH = 32 };
    for (size_t j = 0; j < rv->n && j < BATCH; j++) {
        const uint64_t *o = rv->a + j * RW;
        if (o[R_POS] != UINT64_MAX) __builtin_prefetch(T + o[R_POS] * 4);
    }
    for (size_t i = 0; i < rv->n; i += BATCH) {
        size_t e = i + BATCH < rv->n ? i + BATCH : rv->n;
        size_t e2 = e + BATCH < rv->n ? e + BATCH : rv->n;
        for (size_t j = e; j < e2; j++) {
            const uint64_t *o = rv->a + j * RW;
            if (o[R_POS] != UINT64_MAX) __builtin_prefetch(T + o[R_POS] * 4);
        }
        for (size_t j = i; j < e; j++) {
            const uint64_t *o = rv->a + j * RW;
            __builtin_prefetch(prevout_at(b, o[R_IN]));
            if (o[R_POS] != UINT64_MAX)
                __builtin_prefetch(store_col_at(s, COL_TX_HASH, T[o[R_POS] * 4 + 1]));
        }
        for (size_t j = i; j < e; j++) {
            uint64_t *o = rv->a + j * RW;
            if (o[R_POS] != UINT64_MAX) o[R_POS] = verify_pos(b, o[R_POS], o[R_IN]);
            if (o[R_POS] == UINT64_MAX)
                o[R_PREV] = codes[0];
            else if (o[R_VOUT] >= T[o[R_POS] * 4 + 3])
                o[R_PREV] = codes[1];
            else
                o[R_PREV] = T[o[R_POS] * 4 + 2] + o[R_VOUT];
        }
    }
    lap(b, 1);
    crash_at(b, 3);
    /* by spent output: the first spender (lowest input id) marks it; later ones spend twice.
     * R_POS of a valid spend then holds the spent value. */
    if ((rc = sort_vec(b, rv, R_PREV, bits_for(codes[2]), err))) return rc;
    for (size_t j = 0; j < rv->n; j++) {
        uint64_t *o = rv->a + j * RW;
        if (o[R_PREV] >= codes[0]) continue;
        if (j > 0 && rv->a[(j - 1) * RW + R_PREV] == o[R_PREV]) {
            o[R_PREV] = codes[2];
            continue;
        }
        store_id_put(s, COL_OUT_SPENT, o[R_PREV], o[R_IN]);
        o[R_POS] = *(const uint64_t *)store_col_at(s, COL_OUT_VALUE, o[R_PREV]);
    }
    lap(b, 2);
    rc = sort_vec(b, rv, R_IN, bits_for(b->n.inputs), err);
    lap(b, 3);
    return rc;
}

/* ---------------- validating, in chain order ---------------- */

/* The incremental path's checks and totals (store_append_block), in its order. */
static int validate(store_bulk *b, const vec *rv, const uint64_t codes[3], uint64_t *bad,
                    util_err *err)
{
    store *s = b->s;
    store_totals *t = &s->live;
    memset(t, 0, sizeof *t);
    int rc = reserve(s, COL_UNRES, 0, err);
    size_t j = 0;
    for (uint64_t h = 0; h < b->n.blocks && !rc; h++) {
        const store_block_row *br = store_col_at(s, COL_BLK, h);
        int64_t coinbase_value = 0, block_fees = 0;
        int fees_known = 1;
        for (uint32_t ti = 0; ti < br->n_tx && !rc; ti++) {
            uint64_t txno = br->first_tx + ti;
            store_tx_row *row = store_col_at(s, COL_TX, txno);
            int coinbase = (row->flags & STORE_TX_COINBASE) != 0;
            uint64_t in_end = txno + 1 < b->n.txs
                                  ? ((store_tx_row *)store_col_at(s, COL_TX, txno + 1))->first_in
                                  : b->n.inputs;
            uint64_t out_end = txno + 1 < b->n.txs
                                   ? ((store_tx_row *)store_col_at(s, COL_TX, txno + 1))->first_out
                                   : b->n.outputs;
            int64_t in_value = 0, out_value = 0, utxo_value = t->utxo_value;
            for (uint64_t in = row->first_in; in < in_end && !coinbase; in++) {
                const uint64_t *o = rv->a + j++ * RW;
                uint32_t k = (uint32_t)(in - row->first_in);
                char hex[65];
                if (o[R_PREV] == codes[0]) {
                    if ((rc = reserve(s, COL_UNRES, 1, err))) break;
                    store_unresolved_row *u = store_col_at(s, COL_UNRES, s->cols[COL_UNRES].rows++);
                    memset(u, 0, sizeof *u);
                    u->input = in;
                    memcpy(u->txid, prevout_at(b, in), 32);
                    u->vout = (uint32_t)o[R_VOUT];
                    row->flags |= STORE_TX_UNRESOLVED;
                    t->unresolved_inputs++;
                    store_id_put(s, COL_IN_PREV, in, STORE_UNRESOLVED);
                } else if (o[R_PREV] == codes[1]) {
                    util_hash_hex(hex, prevout_at(b, in));
                    rc = util_errf(err, UTIL_EFORMAT,
                                   "tx %u input %u spends %s:%u, which has only %llu outputs", ti,
                                   k, hex, (unsigned)o[R_VOUT],
                                   (unsigned long long)b->tx.a[o[R_POS] * 4 + 3]);
                } else if (o[R_PREV] == codes[2]) {
                    util_hash_hex(hex, prevout_at(b, in));
                    rc = util_errf(err, UTIL_EFORMAT, "tx %u input %u spends %s:%u twice", ti, k,
                                   hex, (unsigned)o[R_VOUT]);
                } else {
                    store_id_put(s, COL_IN_PREV, in, o[R_PREV]);
                    int64_t v = (int64_t)o[R_POS];
                    if ((rc = store_add_sat(&in_value, v, "the sum of the spent outputs", ti, err)))
                        break;
                    t->utxo_count--;
                    utxo_value -= v;
                }
                if (rc) break;
            }
            if (rc) break;
            t->inputs = in_end;
            for (uint64_t out = row->first_out; out < out_end; out++) {
                int64_t v = *(const int64_t *)store_col_at(s, COL_OUT_VALUE, out);
                if ((rc = store_add_sat(&out_value, v, "the sum of the outputs", ti, err)) ||
                    (rc = store_add_sat(&utxo_value, v, "the unspent value of the chain", ti, err)))
                    break;
                t->outputs_by_type[*(const uint8_t *)store_col_at(s, COL_OUT_TYPE, out)]++;
                t->utxo_count++;
            }
            if (rc) break;
            t->utxo_value = utxo_value;
            t->outputs = out_end;
            if ((rc = store_add_sat(&t->total_output_value, out_value,
                                    "the chain's total output value", ti, err)))
                break;
            row->fee = 0;
            if (coinbase) coinbase_value = out_value;
            if (row->flags & STORE_TX_UNRESOLVED) fees_known = 0;
            if (!coinbase && !(row->flags & STORE_TX_UNRESOLVED)) {
                row->fee = in_value - out_value;
                if (row->fee < 0) {
                    rc = util_errf(err, UTIL_EFORMAT, "tx %u spends %lld sat but pays out %lld", ti,
                                   (long long)in_value, (long long)out_value);
                    break;
                }
                if ((rc = store_add_sat(&t->total_fees, row->fee, "the chain's total fees", ti,
                                        err)) ||
                    (rc = store_add_sat(&block_fees, row->fee, "the block's fees", ti, err)))
                    break;
            }
            t->txs = txno + 1;
        }
        int64_t max_subsidy = b->subsidy[h];
        if (!rc && max_subsidy >= 0 && fees_known) {
            int64_t allowed;
            if (__builtin_add_overflow(max_subsidy, block_fees, &allowed)) allowed = INT64_MAX;
            if (coinbase_value > allowed)
                rc = util_errf(
                    err, UTIL_EFORMAT,
                    "tx 0: the coinbase pays %lld sat, more than the subsidy %lld plus the "
                    "block's fees %lld",
                    (long long)coinbase_value, (long long)max_subsidy, (long long)block_fees);
        }
        if (rc) {
            *bad = h;
            return block_error(s, store_col_at(s, COL_BLK_HASH, h), h, err);
        }
        t->blocks = h + 1;
    }
    return rc;
}

/* ---------------- addresses ---------------- */

static const btc_addr *key_at(const store_bulk *b, uint64_t j)
{
    return (const btc_addr *)(b->addrkeys.map + j * sizeof(btc_addr));
}

typedef struct run_ctx {
    const store_bulk *b;
} run_ctx;

static int cmp_run(const void *x, const void *y, void *ctx)
{
    const store_bulk *b = ((const run_ctx *)ctx)->b;
    const uint64_t *p = x, *q = y;
    int c = memcmp(key_at(b, p[2]), key_at(b, q[2]), sizeof(btc_addr));
    if (c) return c;
    return p[1] < q[1] ? -1 : p[1] > q[1];
}

enum { KEY_AHEAD = 16 }; /* records prefetched ahead of random reads */

static int addresses(store_bulk *b, uint64_t *bad, util_err *err)
{
    store *s = b->s;
    vec *A = &b->ad;
    int rc = sort_vec_hash(b, A, 0, err);
    if (rc) return rc;
    run_ctx rc_ctx = {b};
    uint64_t groups = 0;
    for (size_t i = 0; i < A->n;) {
        size_t e = i + 1;
        while (e < A->n && A->a[e * 3] == A->a[i * 3])
            e++;
        /* One hash: almost always one address. Two keys sharing a hash: order by key. */
        int mixed = 0;
        for (size_t j = i + 1; j < e && !mixed; j++)
            mixed = memcmp(key_at(b, A->a[i * 3 + 2]), key_at(b, A->a[j * 3 + 2]),
                           sizeof(btc_addr)) != 0;
        if (mixed) qsort_r(A->a + i * 3, e - i, 3 * sizeof *A->a, cmp_run, &rc_ctx);
        for (size_t g0 = i; g0 < e;) {
            size_t g1 = g0 + 1;
            while (g1 < e && (!mixed || memcmp(key_at(b, A->a[g0 * 3 + 2]),
                                               key_at(b, A->a[g1 * 3 + 2]), sizeof(btc_addr)) == 0))
                g1++;
            uint64_t gno = groups++, prev = STORE_NONE;
            /* each record becomes: output, group number, previous output of the address */
            for (size_t j = g0; j < g1; j++) {
                uint64_t *r = A->a + j * 3, out = r[1];
                r[0] = out, r[1] = gno, r[2] = prev;
                prev = out;
            }
            g0 = g1;
        }
        i = e;
    }
    if (groups >= STORE_NO_ADDR) {
        *bad = s->live.blocks ? s->live.blocks - 1 : 0;
        return util_errf(err, UTIL_ENOMEM, "more than 2^32-1 addresses");
    }
    crash_at(b, 5);
    /* Back in output order, an address's first output is the record without a previous one:
     * ids are handed out in that pass (order of first appearance), and the key of the i-th
     * record is the i-th in the temp file (written in output order), read in sequence. */
    uint32_t *rank = malloc((groups ? groups : 1) * sizeof *rank);
    rc = rank ? sort_vec(b, A, 0, bits_for(b->n.outputs), err)
              : util_errf(err, UTIL_ENOMEM, "out of memory for addresses");
    rc = rc ? rc : reserve(s, COL_ADDR_KEY, groups, err);
    rc = rc ? rc : reserve(s, COL_ADDR_LAST, groups, err);
    rc = rc ? rc : reserve(s, COL_ADDR_TAIL, groups, err);
    if (!rc) {
        uint32_t next = 0;
        size_t i = 0;
        for (uint64_t h = 0; h <= b->n.blocks; h++) {
            uint64_t end = b->n.outputs;
            store_block_row *br = NULL;
            if (h < b->n.blocks) {
                br = store_col_at(s, COL_BLK, h);
                end = ((const store_tx_row *)store_col_at(s, COL_TX, br->first_tx))->first_out;
            }
            for (; i < A->n && A->a[i * 3] < end; i++) {
                if (i + KEY_AHEAD < A->n) __builtin_prefetch(rank + A->a[(i + KEY_AHEAD) * 3 + 1]);
                const uint64_t *r = A->a + i * 3;
                if (r[2] == STORE_NONE) {
                    rank[r[1]] = next;
                    store_addr_put(s, next, key_at(b, i));
                    next++;
                }
                uint32_t id = rank[r[1]];
                store_id_put(s, COL_ADDR_LAST, id, r[0]);
                *(uint32_t *)store_col_at(s, COL_OUT_ADDR, r[0]) = id;
                store_id_put(s, COL_OUT_PREV_ADDR, r[0], r[2]);
            }
            if (br) br->first_addr = next;
        }
        s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = groups;
        s->live.addresses = groups;
    }
    free(rank);
    vec_free(A);
    return rc;
}

int store_bulk_finish(store_bulk *b, uint64_t *bad_block, util_err *err)
{
    store *s = b->s;
    *bad_block = UINT64_MAX;
    b->lap = util_now();
    int rc = tmpf_map(&b->prevouts, err);
    if (!rc) rc = tmpf_map(&b->addrkeys, err);
    if (rc) return rc;
    size_t most = b->tx.n > b->in.n ? b->tx.n : b->in.n;
    if (b->ad.n > most) most = b->ad.n;
    if ((rc = scratch_for(b, most * 4, err))) return rc;
    /* codes in place of an output id: unresolved, past the tx's outputs, spent twice */
    uint64_t codes[3] = {b->n.outputs, b->n.outputs + 1, b->n.outputs + 2};
    vec rv = {0};
    if ((rc = resolve(b, &rv, codes, err))) goto out;
    crash_at(b, 4);
    if ((rc = validate(b, &rv, codes, bad_block, err))) goto out;
    vec_free(&rv);
    vec_free(&b->tx);
    lap(b, 4);
    if ((rc = addresses(b, bad_block, err))) goto out;
    lap(b, 5);
    crash_at(b, 6);
    /* as the incremental path leaves them at its close: built in id order at the final size */
    if ((rc = store_hindex_build_both(s, s->live.txs, s->live.addresses, err))) goto out;
    if (store_blkmap_rebuild(s, s->live.blocks)) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
        goto out;
    }
    lap(b, 6);
    crash_at(b, 7);
out:
    vec_free(&rv);
    return rc;
}
