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
void store_tx(const store *s, uint64_t tx, store_tx_row *out)
{
    store_txrow_get(s, tx, out);
}
uint64_t store_tx_first_in(const store *s, uint64_t tx)
{
    return store_txrow_in(s, tx);
}
uint64_t store_tx_first_out(const store *s, uint64_t tx)
{
    return store_txrow_out(s, tx);
}
uint32_t store_tx_block(const store *s, uint64_t tx)
{
    return store_txrow_block(store_txrow_at(s, tx), s->cols[COL_TX].width);
}
uint32_t store_tx_n_in(const store *s, uint64_t tx)
{
    uint64_t end = tx + 1 < s->live.txs ? store_txrow_in(s, tx + 1) : s->live.inputs;
    return (uint32_t)(end - store_txrow_in(s, tx));
}
uint32_t store_tx_n_out(const store *s, uint64_t tx)
{
    uint64_t end = tx + 1 < s->live.txs ? store_txrow_out(s, tx + 1) : s->live.outputs;
    return (uint32_t)(end - store_txrow_out(s, tx));
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
            smp[i] = store_txrow_out(s, i * TX_SAMPLE);
            smp[z->n_sample + i] = store_txrow_in(s, i * TX_SAMPLE);
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
        if ((outputs ? store_txrow_out(s, mid) : store_txrow_in(s, mid)) <= id)
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

/* ---------------- totals recomputed (docs/performance.md "Full scan") ----------------
 *
 * Every figure is the row-by-row definition's (store_totals' fields as the running totals keep
 * them): the scan only reorders the arithmetic, and checks what the reordering assumes.
 *
 * - utxo: an output is spent when its out_spent mark names an input that points back at it
 *   (store_find_spent_by). That input is read ahead of the pass (prefetched): the one random
 *   read per spent output left.
 * - fees: sum over txs that are neither coinbase nor unresolved of (value of the outputs their
 *   inputs spend - value of their outputs). With M the outputs whose mark is confirmed (above)
 *   and R the inputs whose in_prev is an output id, o -> out_spent[o] maps M into R one to one
 *   (in_prev[out_spent[o]] = o undoes it), so when |M| = |R| it is onto and the sum over R of
 *   value[in_prev[i]] is the sum over M of value[o], read in output order. The flagged txs'
 *   inputs and outputs are subtracted (few: one coinbase per block). This needs the txs'
 *   first_in and first_out to cut the inputs and outputs into consecutive runs from 0 (as the
 *   row-by-row loop reads them) and every input of an unflagged tx to be in R; when any of it
 *   does not hold (a damaged column), the fees are summed row by row instead, so the figure is
 *   the definition's whatever the columns hold.
 * Sums are taken modulo 2^64 (unsigned), as int64 sums that cannot overflow in a valid store. */

/* Column reads of the scan, in one place: a copy of the column's base and width (the loops
 * keep them in registers), and one reader per kind of row. The id columns' rows are 8 bytes
 * (formats 1-2) or 5 (format 3): scan_id decodes either by the width. base holds the rows from
 * row0 on: the mapping (row0 0), or a chunk read into a buffer (scan_rows). */
typedef struct scan_col {
    const uint8_t *base;
    size_t width;
    uint64_t row0;
} scan_col;
static inline scan_col scan_col_of(const store *s, int col)
{
    return (scan_col){s->cols[col].base, s->cols[col].width, 0};
}
static inline const uint8_t *scan_row(scan_col c, uint64_t row)
{
    return c.base + (row - c.row0) * c.width;
}
static inline uint64_t scan_id(scan_col c, uint64_t row)
{
    return store_id_decode(scan_row(c, row), c.width);
}
static inline uint64_t scan_value(scan_col c, uint64_t out)
{
    int64_t v;
    memcpy(&v, scan_row(c, out), sizeof v);
    return (uint64_t)v;
}
static inline uint64_t scan_tx_in(scan_col c, uint64_t tx)
{
    return store_txrow_first_in(scan_row(c, tx), c.width);
}
static inline uint64_t scan_tx_out(scan_col c, uint64_t tx)
{
    return store_txrow_first_out(scan_row(c, tx), c.width);
}
static inline uint32_t scan_tx_flags(scan_col c, uint64_t tx)
{
    return store_txrow_flags(scan_row(c, tx), c.width);
}

/* The columns a pass reads in row order come through buffers, SCAN_CHUNK rows at a time, read
 * with pread: on a virtual machine a mapped file's pages can cost several times what reading
 * them does (docs/performance.md, "Every target in one run": 1.9-2.7 GB/s mapped against
 * 6.3-8.9 GB/s read on the project's VM). Those read at random stay mapped. */
enum { SCAN_CHUNK = 1 << 15, SCAN_BUFS = 3, SCAN_BUF_ROW = 40 /* >= every column's width */ };
typedef struct scan_bufs {
    uint8_t *p[SCAN_BUFS]; /* each (SCAN_CHUNK + 1) * SCAN_BUF_ROW bytes, or NULL */
} scan_bufs;

/* Rows [lo, hi) (at most SCAN_CHUNK + 1) of column col, read into buffer i, or the mapping
 * when there is no buffer or the read fails (the rows are the same bytes either way). */
static scan_col scan_rows(const store *s, int col, uint64_t lo, uint64_t hi, const scan_bufs *b,
                          int i)
{
    const column *c = &s->cols[col];
    size_t n = (size_t)(hi - lo) * c->width;
    if (b->p[i] && c->fd >= 0 && c->width <= SCAN_BUF_ROW && hi - lo <= SCAN_CHUNK + 1 &&
        colstore_pread_all(c->fd, b->p[i], n, lo * c->width) == 0)
        return (scan_col){b->p[i], c->width, lo};
    return scan_col_of(s, col);
}

typedef struct scan_sums {
    uint64_t value;                        /* every output's value */
    uint64_t spent, spent_value;           /* outputs whose mark is confirmed by its input (M) */
    uint64_t types[BTC_NSCRIPT_TYPES + 1]; /* outputs per script type; last: past the types */
    uint64_t resolved, unresolved;         /* inputs naming an output id (R); STORE_UNRESOLVED */
    uint64_t addresses;                    /* address rows with a list head */
    int runs_ok;                           /* first_in/first_out cut the rows into runs from 0 */
    uint64_t flag_in, flag_res;            /* inputs of flagged txs; of those in R */
    uint64_t flag_res_value;               /* value of the outputs those spend */
    uint64_t flag_out_value;               /* value of the flagged txs' outputs */
} scan_sums;

/* Prefetch distance of the out_spent -> in_prev reads, in outputs. */
#define SCAN_AHEAD 64

static void scan_outputs(const store *s, uint64_t lo, uint64_t hi, const scan_bufs *B, scan_sums *r)
{
    const scan_col prev = scan_col_of(s, COL_IN_PREV);
    const uint64_t n_in = s->live.inputs;
    uint64_t value = 0, n = 0, nv = 0;
    /* four tables: runs of one type do not wait on their own increments */
    uint64_t h[4][256] = {{0}};
    for (uint64_t a = lo; a < hi; a += SCAN_CHUNK) {
        uint64_t b = hi - a < SCAN_CHUNK ? hi : a + SCAN_CHUNK;
        const scan_col val = scan_rows(s, COL_OUT_VALUE, a, b, B, 0);
        const scan_col spent = scan_rows(s, COL_OUT_SPENT, a, b, B, 1);
        const scan_col type = scan_rows(s, COL_OUT_TYPE, a, b, B, 2);
        for (uint64_t o = a; o < b; o++) {
            if (o + SCAN_AHEAD < b) {
                uint64_t in = scan_id(spent, o + SCAN_AHEAD);
                if (in < n_in) __builtin_prefetch(scan_row(prev, in));
            }
            uint64_t v = scan_value(val, o), in = scan_id(spent, o);
            value += v;
            if (in < n_in && scan_id(prev, in) == o) n++, nv += v;
        }
        const uint8_t *ty = scan_row(type, a);
        uint64_t k = 0, m = b - a;
        for (; k + 4 <= m; k += 4)
            h[0][ty[k]]++, h[1][ty[k + 1]]++, h[2][ty[k + 2]]++, h[3][ty[k + 3]]++;
        for (; k < m; k++)
            h[0][ty[k]]++;
    }
    r->value += value, r->spent += n, r->spent_value += nv;
    for (int t = 0; t < 256; t++)
        r->types[t < BTC_NSCRIPT_TYPES ? t : BTC_NSCRIPT_TYPES] +=
            h[0][t] + h[1][t] + h[2][t] + h[3][t];
}

static void scan_inputs(const store *s, uint64_t lo, uint64_t hi, const scan_bufs *B, scan_sums *r)
{
    const uint64_t n_out = s->live.outputs;
    uint64_t res = 0, unres = 0;
    for (uint64_t a = lo; a < hi; a += SCAN_CHUNK) {
        uint64_t b = hi - a < SCAN_CHUNK ? hi : a + SCAN_CHUNK;
        const scan_col prev = scan_rows(s, COL_IN_PREV, a, b, B, 0);
        for (uint64_t i = a; i < b; i++) {
            uint64_t p = scan_id(prev, i);
            res += p < n_out;
            unres += p == STORE_UNRESOLVED;
        }
    }
    r->resolved += res, r->unresolved += unres;
}

/* One tx's runs [in0, in1) and [out0, out1) (its ends: the next tx's first ones, or the row
 * counts for the last tx). Runs that each hold 0 to UINT32_MAX rows (an end before its start
 * wraps past that), the first from row 0, are consecutive and end at the row counts: the
 * partition the row-by-row loop reads. Returns 0 for a run that is not such. */
static inline int scan_tx_runs(const store *s, scan_col val, scan_col prev, uint64_t in0,
                               uint64_t out0, uint32_t flags, uint64_t in1, uint64_t out1,
                               scan_sums *r)
{
    const store_totals *L = &s->live;
    int ok = in1 - in0 <= UINT32_MAX && out1 - out0 <= UINT32_MAX;
    if (!(flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED))) return ok;
    /* beyond the rows only in a damaged column, where these sums go unused */
    if (!ok || in1 > L->inputs || out1 > L->outputs) return 0;
    r->flag_in += in1 - in0;
    for (uint64_t i = in0; i < in1; i++) {
        uint64_t p = scan_id(prev, i);
        if (p < L->outputs) r->flag_res++, r->flag_res_value += scan_value(val, p);
    }
    for (uint64_t o = out0; o < out1; o++)
        r->flag_out_value += scan_value(val, o);
    return 1;
}

static void scan_txs(const store *s, uint64_t lo, uint64_t hi, const scan_bufs *B, scan_sums *r)
{
    const scan_col mapped = scan_col_of(s, COL_TX), val = scan_col_of(s, COL_OUT_VALUE);
    const scan_col prev = scan_col_of(s, COL_IN_PREV);
    const store_totals *L = &s->live;
    if (hi <= lo) return;
    int ok = 1;
    if (lo == 0) ok = scan_tx_in(mapped, 0) == 0 && scan_tx_out(mapped, 0) == 0;
    uint64_t end = hi < L->txs ? hi : L->txs - 1; /* the last tx's ends are the row counts */
    /* each row's first ids are read once: as the next tx's ends, then as its own starts */
    uint64_t in0 = scan_tx_in(mapped, lo), out0 = scan_tx_out(mapped, lo);
    for (uint64_t a = lo; a < end; a += SCAN_CHUNK) {
        uint64_t b = end - a < SCAN_CHUNK ? end : a + SCAN_CHUNK;
        const scan_col txc = scan_rows(s, COL_TX, a, b + 1, B, 0); /* b <= end < txs */
        for (uint64_t t = a; t < b; t++) {
            uint64_t in1 = scan_tx_in(txc, t + 1), out1 = scan_tx_out(txc, t + 1);
            ok &= scan_tx_runs(s, val, prev, in0, out0, scan_tx_flags(txc, t), in1, out1, r);
            in0 = in1, out0 = out1;
        }
    }
    if (end < hi)
        ok &= scan_tx_runs(s, val, prev, in0, out0, scan_tx_flags(mapped, end), L->inputs,
                           L->outputs, r);
    r->runs_ok &= ok;
}

static void scan_addresses(const store *s, uint64_t lo, uint64_t hi, const scan_bufs *B,
                           scan_sums *r)
{
    const uint64_t n_out = s->live.outputs;
    uint64_t n = 0;
    for (uint64_t a = lo; a < hi; a += SCAN_CHUNK) {
        uint64_t b = hi - a < SCAN_CHUNK ? hi : a + SCAN_CHUNK;
        const scan_col last = scan_rows(s, COL_ADDR_LAST, a, b, B, 0);
        for (uint64_t i = a; i < b; i++) {
            uint64_t o = scan_id(last, i);
            if (o < n_out)
                n++;
            else if (o != STORE_NONE) /* a writer's newer output heads the list: walk past it */
                n += store_addr_last_out(s, (uint32_t)i) != STORE_NONE;
        }
    }
    r->addresses += n;
}

/* The fees row by row, as their definition reads: for a damaged store, where scan_txs' checks
 * fail. A row that names an input or output past the live rows is an error (the definition
 * would read outside the columns). */
static int fees_by_row(const store *s, uint64_t *fees, util_err *err)
{
    const store_totals *L = &s->live;
    const char *path = s->cols[COL_TX].path;
    const scan_col txc = scan_col_of(s, COL_TX), val = scan_col_of(s, COL_OUT_VALUE);
    const scan_col prev = scan_col_of(s, COL_IN_PREV);
    uint64_t sum = 0;
    for (uint64_t tx = 0; tx < L->txs; tx++) {
        if (scan_tx_flags(txc, tx) & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) continue;
        const uint64_t first_in = scan_tx_in(txc, tx), first_out = scan_tx_out(txc, tx);
        uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
        for (uint32_t k = 0; k < n_in; k++) {
            uint64_t in = first_in + k, p = in < L->inputs ? scan_id(prev, in) : 0;
            if (in >= L->inputs || p >= L->outputs)
                return util_errf(err, UTIL_ECORRUPT,
                                 "%s: tx %llu (neither coinbase nor unresolved) input %u is "
                                 "input %llu, spending output %llu: not in the store's %llu "
                                 "inputs and %llu outputs",
                                 path, (unsigned long long)tx, k, (unsigned long long)in,
                                 (unsigned long long)p, (unsigned long long)L->inputs,
                                 (unsigned long long)L->outputs);
            sum += scan_value(val, p);
        }
        for (uint32_t k = 0; k < n_out; k++) {
            uint64_t o = first_out + k;
            if (o >= L->outputs)
                return util_errf(err, UTIL_ECORRUPT,
                                 "%s: tx %llu output %u is output %llu, past the store's %llu",
                                 path, (unsigned long long)tx, k, (unsigned long long)o,
                                 (unsigned long long)L->outputs);
            sum -= scan_value(val, o);
        }
    }
    *fees = sum;
    return 0;
}

/* One thread's share: the k-th of n slices of each pass. */
typedef struct scan_job {
    const store *s;
    unsigned k, n;
    scan_sums r;
} scan_job;

static uint64_t slice(uint64_t rows, unsigned k, unsigned n)
{
    return (uint64_t)((unsigned __int128)rows * k / n);
}

static void *scan_job_run(void *arg)
{
    scan_job *j = arg;
    const store_totals *L = &j->s->live;
    unsigned k = j->k, n = j->n;
    j->r.runs_ok = 1;
    scan_bufs B; /* a buffer that cannot be had leaves its column's reads to the mapping */
    for (int i = 0; i < SCAN_BUFS; i++)
        B.p[i] = malloc((size_t)(SCAN_CHUNK + 1) * SCAN_BUF_ROW);
    scan_outputs(j->s, slice(L->outputs, k, n), slice(L->outputs, k + 1, n), &B, &j->r);
    scan_inputs(j->s, slice(L->inputs, k, n), slice(L->inputs, k + 1, n), &B, &j->r);
    scan_txs(j->s, slice(L->txs, k, n), slice(L->txs, k + 1, n), &B, &j->r);
    scan_addresses(j->s, slice(L->addresses, k, n), slice(L->addresses, k + 1, n), &B, &j->r);
    for (int i = 0; i < SCAN_BUFS; i++)
        free(B.p[i]);
    return NULL;
}

int store_recompute_totals(const store *s, store_totals *t, util_err *err)
{
    return store_recompute_totals_threads(s, 1, t, NULL, err);
}

int store_recompute_totals_threads(const store *s, unsigned threads, store_totals *t,
                                   int *fees_by_rows, util_err *err)
{
    const store_totals *L = &s->live;
    if (threads < 1) threads = 1;
    if (threads > STORE_SCAN_THREADS_MAX) threads = STORE_SCAN_THREADS_MAX;
    scan_job jobs[STORE_SCAN_THREADS_MAX];
    pthread_t tid[STORE_SCAN_THREADS_MAX];
    int started[STORE_SCAN_THREADS_MAX] = {0};
    for (unsigned k = 0; k < threads; k++) {
        memset(&jobs[k], 0, sizeof jobs[k]);
        jobs[k].s = s, jobs[k].k = k, jobs[k].n = threads;
        /* slice 0 on this thread; a thread that cannot start runs here too */
        if (k) started[k] = pthread_create(&tid[k], NULL, scan_job_run, &jobs[k]) == 0;
    }
    scan_sums r = {.runs_ok = L->txs ? 1 : L->inputs == 0 && L->outputs == 0};
    for (unsigned k = 0; k < threads; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            scan_job_run(&jobs[k]);
        const scan_sums *p = &jobs[k].r;
        r.value += p->value, r.spent += p->spent, r.spent_value += p->spent_value;
        for (int b = 0; b <= BTC_NSCRIPT_TYPES; b++)
            r.types[b] += p->types[b];
        r.resolved += p->resolved, r.unresolved += p->unresolved, r.addresses += p->addresses;
        r.runs_ok &= p->runs_ok;
        r.flag_in += p->flag_in, r.flag_res += p->flag_res;
        r.flag_res_value += p->flag_res_value, r.flag_out_value += p->flag_out_value;
    }

    if (r.types[BTC_NSCRIPT_TYPES]) { /* name the first */
        const column *c = &s->cols[COL_OUT_TYPE];
        uint64_t o = 0;
        while (c->base[o] < BTC_NSCRIPT_TYPES)
            o++;
        return util_errf(err, UTIL_ECORRUPT, "%s: output %llu has script type %d (types are 0-%d)",
                         c->path, (unsigned long long)o, c->base[o], BTC_NSCRIPT_TYPES - 1);
    }
    memset(t, 0, sizeof *t);
    t->blocks = L->blocks, t->txs = L->txs, t->inputs = L->inputs, t->outputs = L->outputs;
    t->addresses = r.addresses;
    t->unresolved_inputs = r.unresolved;
    t->total_output_value = (int64_t)r.value;
    for (int b = 0; b < BTC_NSCRIPT_TYPES; b++)
        t->outputs_by_type[b] = r.types[b];
    t->utxo_count = L->outputs - r.spent;
    t->utxo_value = (int64_t)(r.value - r.spent_value);
    /* runs_ok: the flagged txs' inputs and the others' partition the inputs (outputs too);
     * every unflagged tx's input is in R; M and R are as large (then one to one). */
    uint64_t fees = 0;
    int by_runs =
        r.runs_ok && r.resolved - r.flag_res == L->inputs - r.flag_in && r.spent == r.resolved;
    if (fees_by_rows) *fees_by_rows = !by_runs;
    if (by_runs) {
        fees = (r.spent_value - r.flag_res_value) - (r.value - r.flag_out_value);
    } else {
        int rc = fees_by_row(s, &fees, err);
        if (rc) return rc;
    }
    t->total_fees = (int64_t)fees;
    return 0;
}
