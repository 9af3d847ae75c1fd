/* exposure: bringing the index up to date (exposure_sync). Three steps, each only when needed:
 * cut what a reorganisation replaced, propagate again from the outputs whose stop changed (a
 * label or an entity), then propagate the store's new blocks. The first two write a new
 * generation of the files (the committed one stays readable until the commit); the third
 * appends in place when nothing else changed. The propagation rule is in exposure.h. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>

#include "../util/util_hmap.h"
#include "../util/util_vec.h"
#include "exposure_int.h"

/* An output's new rows during a re-propagation: pool[first, first + n). */
typedef struct ov_rec {
    uint64_t out;
    uint32_t first, n;
} ov_rec;

typedef struct ddelta {
    uint64_t key; /* block << 32 | cat << 1 | kind */
    int64_t amount, shares;
} ddelta;

typedef struct sctx {
    exposure_writer *w;
    const store *s;
    const exposure_sync_opts *o;
    exposure_sync_result *r;
    uint64_t floor;
    /* stops now: by address (cat id), and sorted */
    util_hmap stop_of;
    expo_stop *snew;
    size_t n_snew;
    /* per-category sums of a tx's inputs, and the input (its previous output) passing on the
     * most of each: best[cat] satoshis from pred[cat] */
    uint64_t *x, *best, *pred;
    uint32_t *touched;
    size_t n_touched, cap_x;
    /* split scratch */
    uint64_t *wt, *sh;
    util_rem *rm;
    size_t cap_s;
    /* a tx's output rows (output order, then tag) and drops */
    expo_row *recs;
    size_t n_recs, cap_recs;
    expo_drop *tdrops;
    size_t n_tdrops, cap_tdrops;
    /* drops of the block being propagated forward */
    expo_drop *bdrops;
    size_t n_bdrops, cap_bdrops;
    /* re-propagation: new rows by output, drop deltas, txs to recompute */
    util_hmap ov;
    ov_rec *ovr;
    size_t n_ovr, cap_ovr;
    expo_row *pool;
    size_t n_pool, cap_pool;
    util_hmap dd;
    ddelta *dds;
    size_t n_dds, cap_dds;
    uint64_t *heap;
    size_t n_heap, cap_heap;
    uint64_t txs_done; /* for the crash hook */
} sctx;

/* A way to read rows: a generation's files up to a row count, and the re-propagation's new
 * rows first when use_ov. */
typedef struct view {
    const colstore_col *cols;
    const uint64_t *n_rows, *n_dir; /* live counts (appends move them) */
    int use_ov;
} view;

static void ctx_free(sctx *c)
{
    util_hmap_free(&c->stop_of);
    free(c->snew);
    free(c->x);
    free(c->best);
    free(c->pred);
    free(c->touched);
    free(c->wt);
    free(c->sh);
    free(c->rm);
    free(c->recs);
    free(c->tdrops);
    free(c->bdrops);
    util_hmap_free(&c->ov);
    free(c->ovr);
    free(c->pool);
    util_hmap_free(&c->dd);
    free(c->dds);
    free(c->heap);
}

static const expo_cat *cat_of(const sctx *c, uint32_t id)
{
    return &c->w->live.cats[id];
}

/* ---- rows of an output ---- */

static void view_rows(const sctx *c, const view *v, uint64_t o, const expo_row **rows, size_t *n)
{
    uint64_t val;
    if (v->use_ov && util_hmap_get(&c->ov, o, &val)) {
        const ov_rec *r = &c->ovr[val];
        *rows = c->pool + r->first, *n = r->n;
        return;
    }
    const expo_row *base = (const expo_row *)v->cols[EC_ROWS].base;
    uint64_t a, e;
    expo_find(base, *v->n_rows, (const uint64_t *)v->cols[EC_DIR].base, *v->n_dir, o, &a, &e);
    *rows = base + a, *n = (size_t)(e - a);
}

/* Add v satoshis of cat passed on by output o (inputs come in order: the first of the largest
 * stays the predecessor). */
static int x_add(sctx *c, uint32_t cat, uint64_t v, uint64_t o)
{
    if (!v) return 0;
    if (cat >= c->cap_x) {
        size_t nc = c->cap_x ? c->cap_x : 16;
        while (nc <= cat)
            nc *= 2;
        uint64_t *x = realloc(c->x, nc * sizeof *x);
        if (x) c->x = x;
        uint64_t *b = realloc(c->best, nc * sizeof *b);
        if (b) c->best = b;
        uint64_t *p = realloc(c->pred, nc * sizeof *p);
        if (p) c->pred = p;
        uint32_t *t = realloc(c->touched, nc * sizeof *t);
        if (t) c->touched = t;
        if (!x || !b || !p || !t) return UTIL_ENOMEM;
        memset(c->x + c->cap_x, 0, (nc - c->cap_x) * sizeof *x);
        c->cap_x = nc;
    }
    if (!c->x[cat]) {
        c->touched[c->n_touched++] = cat;
        c->best[cat] = 0;
    }
    c->x[cat] += v;
    if (v > c->best[cat]) c->best[cat] = v, c->pred[cat] = o;
    return 0;
}

/* What output o passes on when spent, added to the sums. */
static int contrib(sctx *c, const view *v, uint64_t o)
{
    const expo_row *rows;
    size_t n;
    view_rows(c, v, o, &rows, &n);
    if (!n) return 0;
    if (EXPO_TAG(rows[n - 1].key) == EXPO_TAG_STOP) {
        uint32_t cat = (uint32_t)rows[n - 1].amount;
        if (!cat_of(c, cat)->tracked) return 0;
        int64_t val = store_out_value(c->s, o);
        return x_add(c, cat, val > 0 ? (uint64_t)val : 0, o);
    }
    for (size_t i = 0; i < n; i++) {
        int rc = x_add(c, EXPO_TAG(rows[i].key), rows[i].amount, o);
        if (rc) return rc;
    }
    return 0;
}

static int tdrop(sctx *c, uint32_t cat, int kind, uint64_t amount)
{
    for (size_t i = 0; i < c->n_tdrops; i++)
        if (c->tdrops[i].cat == cat && c->tdrops[i].kind == kind) {
            c->tdrops[i].amount += amount;
            c->tdrops[i].shares++;
            return 0;
        }
    if (util_grow((void **)&c->tdrops, &c->cap_tdrops, c->n_tdrops + 1, sizeof *c->tdrops, 16,
                  SIZE_MAX))
        return UTIL_ENOMEM;
    c->tdrops[c->n_tdrops++] = (expo_drop){0, (uint16_t)cat, (uint16_t)kind, amount, 1};
    return 0;
}

static int rec_push(sctx *c, uint64_t key, uint64_t amount, uint64_t pred)
{
    if (util_grow((void **)&c->recs, &c->cap_recs, c->n_recs + 1, sizeof *c->recs, 64, SIZE_MAX))
        return UTIL_ENOMEM;
    c->recs[c->n_recs++] = (expo_row){key, amount, pred};
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The stop row of output o paying a stop now, given whether it received anything. */
static int stop_row(sctx *c, uint64_t o, int received)
{
    if (!c->stop_of.n) return 0;
    uint32_t a = store_out_addr(c->s, o);
    uint64_t cat;
    if (a == STORE_NO_ADDR || !util_hmap_get(&c->stop_of, a, &cat)) return 0;
    if (!received && !cat_of(c, (uint32_t)cat)->tracked) return 0; /* no row: nothing to stop */
    return rec_push(c, EXPO_KEY(o, EXPO_TAG_STOP), cat, EXPO_NO_PRED);
}

/* Propagate one tx through view v: c->recs gets its outputs' rows (with stop rows unless
 * drops_only) and c->tdrops what is not stored. */
static int eval_tx(sctx *c, const view *v, uint64_t tx, int drops_only, util_err *err)
{
    c->n_recs = c->n_tdrops = 0;
    store_tx_row row;
    store_tx(c->s, tx, &row);
    uint32_t nin = store_tx_n_in(c->s, tx), nout = store_tx_n_out(c->s, tx);
    int rc = 0;
    for (size_t i = 0; i < c->n_touched; i++)
        c->x[c->touched[i]] = 0;
    c->n_touched = 0;
    if (!(row.flags & STORE_TX_COINBASE))
        for (uint32_t i = 0; i < nin && !rc; i++) {
            uint64_t prev = store_in_prev(c->s, row.first_in + i);
            if (prev < STORE_UNRESOLVED) rc = contrib(c, v, prev);
        }
    if (rc) return util_errf(err, rc, "out of memory");
    size_t nt = c->n_touched;
    if (nt && (row.flags & STORE_TX_UNRESOLVED)) {
        /* Its fee is unknown, so is the split: nothing passes (the tracer's "unresolved"). */
        for (size_t i = 0; i < nt && !rc; i++)
            rc = tdrop(c, c->touched[i], EXPO_DROP_UNRESOLVED, c->x[c->touched[i]]);
        if (rc) return util_errf(err, rc, "out of memory");
        nt = 0;
    }
    if (nt) {
        size_t m = (size_t)nout + 1, need = m * (nt + 1);
        if (need > c->cap_s) {
            size_t cap = need * 2;
            uint64_t *wt = realloc(c->wt, cap * sizeof *wt);
            if (wt) c->wt = wt;
            uint64_t *sh = realloc(c->sh, cap * sizeof *sh);
            if (sh) c->sh = sh;
            util_rem *rm = realloc(c->rm, cap * sizeof *rm);
            if (rm) c->rm = rm;
            if (!wt || !sh || !rm) return util_errf(err, UTIL_ENOMEM, "out of memory");
            c->cap_s = cap;
        }
        uint64_t d = 0;
        for (uint32_t k = 0; k < nout; k++) {
            int64_t val = store_out_value(c->s, row.first_out + k);
            c->wt[k] = val > 0 ? (uint64_t)val : 0;
            d += c->wt[k];
        }
        c->wt[nout] = row.fee > 0 ? (uint64_t)row.fee : 0;
        d += c->wt[nout];
        qsort(c->touched, nt, sizeof *c->touched, cmp_u32);
        for (size_t j = 0; j < nt; j++) {
            uint64_t x = c->x[c->touched[j]];
            if (x > d)
                return util_errf(err, UTIL_ECORRUPT,
                                 "tx %" PRIu64 ": more exposure than value (the exposure index "
                                 "is inconsistent: cointrail exposure build --rebuild)",
                                 tx);
            util_split_haircut(x, c->wt, m, d, c->sh + j * m, c->rm);
        }
        for (uint32_t k = 0; k < nout && !rc; k++) {
            uint64_t o = row.first_out + k;
            int any = 0;
            for (size_t j = 0; j < nt && !rc; j++) {
                uint64_t s = c->sh[j * m + k];
                if (!s) continue;
                if (s >= c->floor) {
                    if (!drops_only)
                        rc = rec_push(c, EXPO_KEY(o, c->touched[j]), s, c->pred[c->touched[j]]);
                    any = 1;
                } else {
                    rc = tdrop(c, c->touched[j], EXPO_DROP_BELOW, s);
                }
            }
            if (!rc && !drops_only) rc = stop_row(c, o, any);
        }
    } else if (!drops_only && c->stop_of.n) {
        for (uint32_t k = 0; k < nout && !rc; k++)
            rc = stop_row(c, row.first_out + k, 0);
    }
    return rc ? util_errf(err, rc, "out of memory") : 0;
}

/* ---- forward: the store's new blocks ---- */

static int block_drop(sctx *c, const expo_drop *d)
{
    for (size_t i = 0; i < c->n_bdrops; i++)
        if (c->bdrops[i].cat == d->cat && c->bdrops[i].kind == d->kind) {
            c->bdrops[i].amount += d->amount;
            c->bdrops[i].shares += d->shares;
            return 0;
        }
    if (util_grow((void **)&c->bdrops, &c->cap_bdrops, c->n_bdrops + 1, sizeof *c->bdrops, 16,
                  SIZE_MAX))
        return UTIL_ENOMEM;
    c->bdrops[c->n_bdrops++] = *d;
    return 0;
}

static int cmp_drop(const void *pa, const void *pb)
{
    const expo_drop *a = pa, *b = pb;
    if (a->block != b->block) return a->block < b->block ? -1 : 1;
    if (a->cat != b->cat) return a->cat < b->cat ? -1 : 1;
    return (a->kind > b->kind) - (a->kind < b->kind);
}

static int stops_upto(sctx *c, size_t *cursor, uint64_t addresses, util_err *err)
{
    size_t i = *cursor;
    while (i < c->n_snew && c->snew[i].addr < addresses)
        i++;
    int rc = i > *cursor ? expo_w_append(c->w, EC_STOPS, c->snew + *cursor, i - *cursor, err) : 0;
    *cursor = i;
    return rc;
}

/* The end of block h (height) forward: its drops, its hash, the stops of its addresses, and the
 * coverage. */
static int end_block(sctx *c, uint64_t h, size_t *stop_cursor, util_err *err)
{
    exposure_writer *w = c->w;
    const store_totals *t = store_get_totals(c->s);
    if (c->n_bdrops > 1) qsort(c->bdrops, c->n_bdrops, sizeof *c->bdrops, cmp_drop);
    for (size_t i = 0; i < c->n_bdrops; i++)
        c->bdrops[i].block = (uint32_t)h;
    int rc = c->n_bdrops ? expo_w_append(w, EC_DROPS, c->bdrops, c->n_bdrops, err) : 0;
    c->n_bdrops = 0;
    if (!rc) rc = expo_w_append(w, EC_BLOCKS, store_block_hash(c->s, h), 1, err);
    uint64_t addrs = h + 1 < t->blocks ? store_block(c->s, h + 1)->first_addr : t->addresses;
    if (!rc) rc = stops_upto(c, stop_cursor, addrs, err);
    if (rc) return rc;
    expo_manifest *m = &w->live;
    m->blocks = h + 1;
    m->txs = h + 1 < t->blocks ? store_block(c->s, h + 1)->first_tx : t->txs;
    m->outputs = m->txs < t->txs ? store_tx_first_out(c->s, m->txs) : t->outputs;
    m->addresses = addrs;
    memcpy(m->tip, store_block_hash(c->s, h), 32);
    return expo_w_dir_to(w, (m->outputs + (1u << EXPO_BUCKET_SHIFT) - 1) >> EXPO_BUCKET_SHIFT, err);
}

static void crash_hook(sctx *c)
{
    if (c->o->crash_after_txs && ++c->txs_done == c->o->crash_after_txs) raise(SIGKILL);
}

static int forward(sctx *c, util_err *err)
{
    exposure_writer *w = c->w;
    const store_totals *t = store_get_totals(c->s);
    size_t stop_cursor = 0;
    while (stop_cursor < c->n_snew && c->snew[stop_cursor].addr < w->live.addresses)
        stop_cursor++;
    double t0 = util_now(), last = t0;
    double every = c->o->commit_seconds > 0 ? c->o->commit_seconds : 5;
    for (uint64_t h = w->live.blocks; h < t->blocks; h++) {
        const store_block_row *b = store_block(c->s, h);
        uint64_t tx_end = h + 1 < t->blocks ? store_block(c->s, h + 1)->first_tx : t->txs;
        /* (w->out moves when a commit makes a new generation the committed one) */
        view v = {w->out, &w->out[EC_ROWS].rows, &w->out[EC_DIR].rows, 0};
        for (uint64_t tx = b->first_tx; tx < tx_end; tx++) {
            int rc = eval_tx(c, &v, tx, 0, err);
            /* rows by bucket: each bucket's directory row before its first rows */
            for (size_t i = 0, j; !rc && i < c->n_recs; i = j) {
                uint64_t bk = EXPO_OUT(c->recs[i].key) >> EXPO_BUCKET_SHIFT;
                for (j = i; j < c->n_recs && EXPO_OUT(c->recs[j].key) >> EXPO_BUCKET_SHIFT == bk;)
                    j++;
                rc = expo_w_dir_to(w, bk + 1, err);
                if (!rc) rc = expo_w_append(w, EC_ROWS, c->recs + i, j - i, err);
            }
            if (rc) return rc;
            for (size_t i = 0; i < c->n_tdrops; i++)
                if (block_drop(c, &c->tdrops[i]))
                    return util_errf(err, UTIL_ENOMEM, "out of memory");
            c->r->txs_added++;
            crash_hook(c);
        }
        int rc = end_block(c, h, &stop_cursor, err);
        if (rc) return rc;
        c->r->blocks_added++;
        double now = util_now();
        if (!c->o->defer_commit && now - last >= every) {
            if ((rc = exposure_commit(w, err))) return rc;
            c->r->commit_seconds += util_now() - now;
            last = util_now();
        }
    }
    /* Stops of addresses past the last block (none: the store's addresses end with it), and
     * the directory up to the covered outputs. */
    return stops_upto(c, &stop_cursor, w->live.addresses, err);
}

/* ---- re-propagation after stops changed ---- */

static int heap_push(sctx *c, uint64_t k)
{
    return util_heap64_push(&c->heap, &c->n_heap, &c->cap_heap, k);
}

static uint64_t heap_pop(sctx *c)
{
    return util_heap64_pop(c->heap, &c->n_heap);
}

/* What rows pass on when spent, compared: 1 if the two row sets pass on the same. */
static int same_contrib(const sctx *c, const expo_row *a, size_t na, const expo_row *b, size_t nb)
{
    int sa = na && EXPO_TAG(a[na - 1].key) == EXPO_TAG_STOP;
    int sb = nb && EXPO_TAG(b[nb - 1].key) == EXPO_TAG_STOP;
    if (sa || sb) {
        /* a stop passes its value in a tracked category, or nothing */
        uint32_t ca = sa && cat_of(c, (uint32_t)a[na - 1].amount)->tracked
                          ? (uint32_t)a[na - 1].amount
                          : EXPOSURE_NO_CAT;
        uint32_t cb = sb && cat_of(c, (uint32_t)b[nb - 1].amount)->tracked
                          ? (uint32_t)b[nb - 1].amount
                          : EXPOSURE_NO_CAT;
        if (sa && sb) return ca == cb;
        /* one is a stop: the same only if it passes nothing and the other received nothing */
        return sa ? ca == EXPOSURE_NO_CAT && nb == 0 : cb == EXPOSURE_NO_CAT && na == 0;
    }
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].key != b[i].key || a[i].amount != b[i].amount) return 0;
    return 1;
}

static int same_rows(const expo_row *a, size_t na, const expo_row *b, size_t nb)
{
    return na == nb && (!na || !memcmp(a, b, na * sizeof *a));
}

/* Set output o's new rows (copied), or forget them when they equal the committed ones. */
static int ov_set(sctx *c, uint64_t o, const expo_row *rows, size_t n, int equal_committed)
{
    uint64_t val;
    int have = util_hmap_get(&c->ov, o, &val);
    if (equal_committed) {
        if (have) c->ovr[val].n = 0, c->ovr[val].out = UINT64_MAX; /* dead: skipped when merged */
        if (have) util_hmap_del(&c->ov, o);
        return 0;
    }
    if (util_grow((void **)&c->pool, &c->cap_pool, c->n_pool + n, sizeof *c->pool, 1024, SIZE_MAX))
        return UTIL_ENOMEM;
    if (n) /* an output the new labels leave clean has no rows (a retired label) */
        memcpy(c->pool + c->n_pool, rows, n * sizeof *rows);
    if (!have) {
        if (util_grow((void **)&c->ovr, &c->cap_ovr, c->n_ovr + 1, sizeof *c->ovr, 256, SIZE_MAX))
            return UTIL_ENOMEM;
        val = c->n_ovr++;
        if (util_hmap_put(&c->ov, o, val)) return UTIL_ENOMEM;
    }
    c->ovr[val] = (ov_rec){o, (uint32_t)c->n_pool, (uint32_t)n};
    c->n_pool += n;
    return 0;
}

/* Queue the spender of o if it is an indexed tx. */
static int queue_spender(sctx *c, uint64_t o, uint64_t tx_limit)
{
    uint64_t in = store_out_spent_by(c->s, o);
    if (in == STORE_NONE) return 0;
    uint64_t tx = store_input_tx(c->s, in);
    return tx < tx_limit ? heap_push(c, tx) : 0;
}

static int dd_add(sctx *c, uint32_t block, const expo_drop *d, int sign)
{
    uint64_t key = (uint64_t)block << 32 | (uint64_t)d->cat << 1 | d->kind, val;
    if (!util_hmap_get(&c->dd, key, &val)) {
        if (util_grow((void **)&c->dds, &c->cap_dds, c->n_dds + 1, sizeof *c->dds, 64, SIZE_MAX))
            return UTIL_ENOMEM;
        val = c->n_dds++;
        c->dds[val] = (ddelta){key, 0, 0};
        if (util_hmap_put(&c->dd, key, val)) return UTIL_ENOMEM;
    }
    c->dds[val].amount += sign * (int64_t)d->amount;
    c->dds[val].shares += sign * (int64_t)d->shares;
    return 0;
}

/* Propagate again, in the committed generation's covered range [0, tx_limit), from the outputs
 * of the addresses changed[0..n) whose stop changed. */
static int relabel(sctx *c, const uint32_t *changed, size_t n, uint64_t tx_limit,
                   uint64_t out_limit, util_err *err)
{
    exposure_writer *w = c->w;
    view old = {w->cur, &w->com.rows[EC_ROWS], &w->com.rows[EC_DIR], 0};
    view neu = {w->cur, &w->com.rows[EC_ROWS], &w->com.rows[EC_DIR], 1};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        for (uint64_t o = store_addr_last_out(c->s, changed[i]); o != STORE_NONE && !rc;
             o = store_out_prev_same_addr(c->s, o)) {
            if (o >= out_limit) continue;
            const expo_row *rows;
            size_t k;
            view_rows(c, &old, o, &rows, &k);
            /* the same received rows, the stop row as the stops are now */
            size_t nr = k && EXPO_TAG(rows[k - 1].key) == EXPO_TAG_STOP ? k - 1 : k;
            c->n_recs = 0;
            for (size_t j = 0; j < nr && !rc; j++)
                rc = rec_push(c, rows[j].key, rows[j].amount, rows[j].pred);
            if (!rc) rc = stop_row(c, o, nr > 0);
            if (rc) break;
            if (same_rows(rows, k, c->recs, c->n_recs)) continue;
            rc = ov_set(c, o, c->recs, c->n_recs, 0);
            if (!rc && !same_contrib(c, rows, k, c->recs, c->n_recs))
                rc = queue_spender(c, o, tx_limit);
        }
    }
    if (rc) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint64_t last = UINT64_MAX;
    while (c->n_heap) {
        uint64_t tx = heap_pop(c);
        if (tx == last) continue;
        last = tx;
        uint32_t block = store_tx_block(c->s, tx);
        /* what this tx dropped before, and now */
        if ((rc = eval_tx(c, &old, tx, 1, err))) return rc;
        for (size_t i = 0; i < c->n_tdrops && !rc; i++)
            rc = dd_add(c, block, &c->tdrops[i], -1);
        if (rc) break;
        if ((rc = eval_tx(c, &neu, tx, 0, err))) return rc;
        for (size_t i = 0; i < c->n_tdrops && !rc; i++)
            rc = dd_add(c, block, &c->tdrops[i], 1);
        if (rc) break;
        /* each output's new rows against the committed ones */
        store_tx_row row;
        store_tx(c->s, tx, &row);
        uint32_t nout = store_tx_n_out(c->s, tx);
        size_t ri = 0;
        for (uint32_t k = 0; k < nout && !rc; k++) {
            uint64_t o = row.first_out + k;
            size_t rj = ri;
            while (rj < c->n_recs && EXPO_OUT(c->recs[rj].key) == o)
                rj++;
            const expo_row *was;
            size_t nw;
            view_rows(c, &old, o, &was, &nw);
            int same = same_rows(was, nw, c->recs + ri, rj - ri);
            /* The spender, if not propagated again, keeps what it made from the committed rows:
             * it must be when what this output passes on differs from those. */
            rc = ov_set(c, o, c->recs + ri, rj - ri, same);
            if (!rc && !same_contrib(c, was, nw, c->recs + ri, rj - ri))
                rc = queue_spender(c, o, tx_limit);
            if (!same) c->r->outputs_changed++;
            ri = rj;
        }
        c->r->txs_recomputed++;
        crash_hook(c);
    }
    if (rc == UTIL_ENOMEM) return util_errf(err, rc, "out of memory");
    return rc ? util_errf(err, rc, "tx propagation failed (index inconsistent: rebuild it)") : 0;
}

/* ---- writing a new generation ---- */

static int cmp_ovr(const void *pa, const void *pb)
{
    const ov_rec *a = pa, *b = pb;
    return (a->out > b->out) - (a->out < b->out);
}

/* The committed rows below out_limit with the re-propagation's rows in place of theirs, into
 * the new generation, and its directory. */
static int write_rows(sctx *c, uint64_t out_limit, util_err *err)
{
    exposure_writer *w = c->w;
    const expo_row *rows = (const expo_row *)w->cur[EC_ROWS].base;
    uint64_t n_rows = w->com.rows[EC_ROWS], e_keep = n_rows;
    if (out_limit < w->com.outputs) {
        /* the first row at or past out_limit, from its bucket's first row */
        uint64_t b = out_limit >> EXPO_BUCKET_SHIFT;
        const uint64_t *dir = (const uint64_t *)w->cur[EC_DIR].base;
        e_keep = b < w->com.rows[EC_DIR] ? dir[b] : n_rows;
        while (e_keep < n_rows && EXPO_OUT(rows[e_keep].key) < out_limit)
            e_keep++;
    }
    if (c->n_ovr > 1) qsort(c->ovr, c->n_ovr, sizeof *c->ovr, cmp_ovr);
    uint64_t i = 0;
    size_t j = 0;
    int rc = 0;
    while (!rc && (i < e_keep || j < c->n_ovr)) {
        if (j < c->n_ovr && c->ovr[j].out == UINT64_MAX) {
            j++;
            continue;
        }
        uint64_t ov = j < c->n_ovr ? c->ovr[j].out : UINT64_MAX;
        if (i < e_keep && EXPO_OUT(rows[i].key) < ov) {
            /* a run of committed rows up to the next replaced output */
            uint64_t k = i;
            while (k < e_keep && EXPO_OUT(rows[k].key) < ov)
                k++;
            rc = expo_w_append(w, EC_ROWS, rows + i, k - i, err);
            i = k;
            continue;
        }
        while (i < e_keep && EXPO_OUT(rows[i].key) == ov)
            i++;
        rc = expo_w_append(w, EC_ROWS, c->pool + c->ovr[j].first, c->ovr[j].n, err);
        j++;
    }
    if (rc) return rc;
    /* the directory, from the rows written */
    const expo_row *nr = (const expo_row *)w->out[EC_ROWS].base;
    uint64_t nn = w->out[EC_ROWS].rows,
             buckets = (out_limit + (1u << EXPO_BUCKET_SHIFT) - 1) >> EXPO_BUCKET_SHIFT;
    uint64_t k = 0;
    for (uint64_t b = 0; b < buckets && !rc; b++) {
        while (k < nn && EXPO_OUT(nr[k].key) >> EXPO_BUCKET_SHIFT < b)
            k++;
        rc = expo_w_append(w, EC_DIR, &k, 1, err);
    }
    return rc;
}

static int cmp_dd(const void *pa, const void *pb)
{
    const ddelta *a = pa, *b = pb;
    return (a->key > b->key) - (a->key < b->key);
}

/* The committed drops of blocks below keep, with the re-propagation's changes. */
static int write_drops(sctx *c, uint64_t keep, util_err *err)
{
    exposure_writer *w = c->w;
    const expo_drop *d = (const expo_drop *)w->cur[EC_DROPS].base;
    uint64_t n = w->com.rows[EC_DROPS];
    if (c->n_dds > 1) qsort(c->dds, c->n_dds, sizeof *c->dds, cmp_dd);
    uint64_t i = 0;
    size_t j = 0;
    int rc = 0;
    while (!rc && ((i < n && d[i].block < keep) || j < c->n_dds)) {
        uint64_t ki = i < n && d[i].block < keep
                          ? (uint64_t)d[i].block << 32 | (uint64_t)d[i].cat << 1 | d[i].kind
                          : UINT64_MAX;
        uint64_t kj = j < c->n_dds ? c->dds[j].key : UINT64_MAX;
        expo_drop out;
        uint64_t key = ki < kj ? ki : kj;
        int64_t amount = 0, shares = 0;
        if (ki == key) amount += (int64_t)d[i].amount, shares += (int64_t)d[i].shares, i++;
        if (kj == key) amount += c->dds[j].amount, shares += c->dds[j].shares, j++;
        if (amount < 0 || shares < 0)
            return util_errf(err, UTIL_ECORRUPT,
                             "exposure index inconsistent (negative drops): rebuild it");
        if (!amount && !shares) continue;
        out.block = (uint32_t)(key >> 32);
        out.cat = (uint16_t)(key >> 1 & 0x7fff);
        out.kind = (uint16_t)(key & 1);
        out.amount = (uint64_t)amount, out.shares = (uint64_t)shares;
        rc = expo_w_append(w, EC_DROPS, &out, 1, err);
    }
    return rc;
}

/* ---- the stops now ---- */

/* c->snew and c->stop_of from labels and clusters; categories interned into live. Addresses
 * whose stop differs from the committed generation's below addr_limit into *changed. */
static int stops_now(sctx *c, const labels_db *labels, const cluster_map *clusters,
                     uint64_t addr_limit, uint32_t **changed, size_t *n_changed, util_err *err)
{
    exposure_writer *w = c->w;
    expo_rstop *rs;
    size_t n;
    *changed = NULL, *n_changed = 0;
    int rc = expo_stops_compute(c->s, labels, clusters, c->o->order, c->o->n_order, UINT64_MAX, &rs,
                                &n, err);
    if (rc) return rc;
    /* category ids: new names in the order's order */
    uint32_t *id = calloc(c->o->n_order ? c->o->n_order : 1, sizeof *id);
    uint8_t *used = calloc(c->o->n_order ? c->o->n_order : 1, 1);
    if (!id || !used) goto nomem;
    for (size_t i = 0; i < n; i++)
        used[rs[i].rank] = 1;
    for (size_t r = 0; r < c->o->n_order; r++) {
        if (!used[r]) continue;
        int64_t k = expo_cat_intern(&w->live, c->o->order[r]);
        if (k == UTIL_ENOMEM) goto nomem;
        if (k < 0) {
            rc = util_errf(err, UTIL_EINVAL, "category '%s': too many categories or a bad name",
                           c->o->order[r]);
            goto done;
        }
        id[r] = (uint32_t)k;
    }
    if (!(c->snew = malloc((n ? n : 1) * sizeof *c->snew))) goto nomem;
    if (util_hmap_init(&c->stop_of, n)) goto nomem;
    for (size_t i = 0; i < n; i++) {
        c->snew[i] = (expo_stop){rs[i].addr, id[rs[i].rank]};
        if (util_hmap_put(&c->stop_of, rs[i].addr, id[rs[i].rank])) goto nomem;
    }
    c->n_snew = n;
    /* against the committed stops */
    const expo_stop *have = (const expo_stop *)w->cur[EC_STOPS].base;
    uint64_t nh = w->com.rows[EC_STOPS], i = 0;
    size_t j = 0, cap = 0;
    uint32_t *ch = NULL;
    while (i < nh || j < n) {
        uint32_t ai = i < nh && have[i].addr < addr_limit ? have[i].addr : UINT32_MAX;
        uint32_t aj = j < n && c->snew[j].addr < addr_limit ? c->snew[j].addr : UINT32_MAX;
        if (ai == UINT32_MAX && aj == UINT32_MAX) break;
        uint32_t a = ai < aj ? ai : aj;
        int differ = ai != aj || have[i].cat != c->snew[j].cat;
        if (ai == a) i++;
        if (aj == a) j++;
        if (!differ) continue;
        if (util_grow((void **)&ch, &cap, *n_changed + 1, sizeof *ch, 64, SIZE_MAX)) {
            free(ch);
            goto nomem;
        }
        ch[(*n_changed)++] = a;
    }
    if (*n_changed > 1) qsort(ch, *n_changed, sizeof *ch, cmp_u32);
    *changed = ch;
    rc = 0;
    goto done;
nomem:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory for the stops");
done:
    free(rs);
    free(id);
    free(used);
    return rc;
}

/* ---- exposure_sync ---- */

/* Blocks the index and the store share: the largest h (at most both lengths) whose block h - 1
 * is the same in both (block hashes chain, so all below agree then). */
static uint64_t shared_blocks(const exposure_writer *w, const store *s)
{
    uint64_t lo = 0, hi = w->com.blocks < store_get_totals(s)->blocks ? w->com.blocks
                                                                      : store_get_totals(s)->blocks;
    const uint8_t *hashes = w->cur[EC_BLOCKS].base;
    while (lo < hi) {
        uint64_t mid = hi - (hi - lo) / 2; /* in (lo, hi] */
        if (!memcmp(hashes + (mid - 1) * 32, store_block_hash(s, mid - 1), 32))
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int exposure_sync(exposure_writer *w, const store *s, const labels_db *labels,
                  const cluster_map *clusters, const exposure_sync_opts *o,
                  exposure_sync_result *res, util_err *err)
{
    exposure_sync_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    double t0 = util_now();
    sctx c;
    memset(&c, 0, sizeof c);
    c.w = w, c.s = s, c.o = o, c.r = res;
    c.floor = w->live.floor;
    const store_totals *t = store_get_totals(s);
    uint32_t *changed = NULL;
    size_t n_changed = 0;
    int rc = 0;
    /* 1. the blocks still shared with the store */
    uint64_t keep = w->rebuild ? 0 : shared_blocks(w, s);
    uint64_t tx_keep = w->live.txs, out_keep = w->live.outputs, addr_keep = w->live.addresses;
    if (keep < w->live.blocks) {
        tx_keep = keep < t->blocks ? store_block(s, keep)->first_tx : t->txs;
        out_keep = tx_keep < t->txs ? store_tx_first_out(s, tx_keep) : t->outputs;
        addr_keep = keep < t->blocks ? store_block(s, keep)->first_addr : t->addresses;
        res->blocks_removed = w->live.blocks - keep;
    }
    /* 2. the stops as labels and entities say now */
    double t1 = util_now();
    if ((rc = stops_now(&c, labels, clusters, addr_keep, &changed, &n_changed, err))) goto done;
    res->stops_changed = n_changed;
    res->stops_seconds = util_now() - t1;
    int newgen = w->rebuild || keep < w->live.blocks || n_changed;
    if (newgen) {
        res->new_generation = 1;
        double t2 = util_now();
        if (!w->rebuild && n_changed &&
            (rc = relabel(&c, changed, n_changed, tx_keep, out_keep, err)))
            goto done;
        res->relabel_seconds = util_now() - t2;
        if ((rc = expo_w_new_generation(w, err))) goto done;
        if (!w->rebuild) {
            if ((rc = write_rows(&c, out_keep, err)) || (rc = write_drops(&c, keep, err)))
                goto done;
            size_t cursor = 0;
            if ((rc = stops_upto(&c, &cursor, addr_keep, err))) goto done;
            if (keep && (rc = expo_w_append(w, EC_BLOCKS, w->cur[EC_BLOCKS].base, keep, err)))
                goto done;
        } else {
            keep = tx_keep = out_keep = addr_keep = 0;
        }
        expo_manifest *m = &w->live;
        m->blocks = keep, m->txs = tx_keep, m->outputs = out_keep, m->addresses = addr_keep;
        if (keep) memcpy(m->tip, store_block_hash(s, keep - 1), 32);
        w->rebuild = 0;
    }
    /* 3. the store's blocks past the index */
    double t3 = util_now();
    rc = forward(&c, err);
    res->forward_seconds = util_now() - t3 - res->commit_seconds;
    /* Nothing new (an import without new blocks, labels that change no stop): the MANIFEST
     * stays as it is, so readers keep their snapshot. */
    int dirty = newgen || w->live.blocks != w->com.blocks || w->live.n_cats != w->com.n_cats;
    for (int i = 0; i < EC_N; i++)
        dirty |= w->out[i].rows != w->com.rows[i];
    if (!rc && !o->defer_commit && dirty) {
        double t4 = util_now();
        rc = exposure_commit(w, err);
        res->commit_seconds += util_now() - t4;
    }
done:
    free(changed);
    ctx_free(&c);
    res->seconds = util_now() - t0;
    return rc;
}
