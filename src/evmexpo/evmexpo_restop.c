/* evmexpo: a change of stops re-propagates only what it touches (evmexpo_int.h, ex_restop).
 *
 * An (address, asset) pair's state (balance, receipts, per category held and received) is a
 * function of its own transfers, what arrived with each receipt and its stop. Stops that
 * changed touch first their own pairs; a pair it sends from carries something else onward only
 * when its carry differs, and then the receiver's pair is touched from that transfer on. So
 * the transfers of touched addresses are visited in store order (a heap over each address's
 * list of transfers), every touched pair keeping two states: under the old stops (receipts from
 * the committed rows) and under the new ones. A pair touched part way through its history
 * starts from a replay of it under the committed rows. At the end the old states must equal the
 * committed records (and each touched send's old carry the committed rows): the check that the
 * replay is the computation the index made; then the new states replace the records, the drops
 * take the difference, and the rows of the touched sends replace theirs. Every other pair and
 * row is left as it is, so the result is byte for byte what a rebuild gives. */
#include <inttypes.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"
#include "../util/util_vec.h"
#include "evmexpo_int.h"

typedef struct pstate {
    int exists; /* a share at or above the floor reached it: the record exists */
    evm_u256 bal, recv;
    wcat *c;
    uint32_t n, cap;
} pstate;

typedef struct dpair {
    uint32_t addr, asset;
    pstate old, neu;
} dpair;

typedef struct walker {
    uint32_t addr;
    uint64_t *x; /* the address's transfers, oldest first */
    size_t n, pos;
    int walking; /* in the walk (else only its list was wanted) */
} walker;

typedef struct hent {
    uint64_t x;
    uint32_t w;
} hent;

typedef struct cv_t {
    uint32_t cat;
    evm_u256 amt;
} cv_t;

typedef struct rctx {
    wctx *c;
    const evmexpo_index *ix;
    util_hmap old_stop; /* addr id -> old cat, for the addresses whose stop changed */
    util_hmap d0;       /* addr ids whose stop changed */
    util_hmap pair_of;  /* addr << 32 | asset -> index in pairs */
    dpair *pairs;
    size_t n_pairs, cap_pairs;
    util_hmap walker_of; /* addr -> index in walkers */
    walker *walkers;
    size_t n_walkers, cap_walkers;
    hent *heap;
    size_t n_heap, cap_heap;
    util_buf newrows;   /* rows of the touched sends, in transfer order */
    util_hmap replaced; /* transfers whose rows are in newrows */
    cv_t *ocv, *ncv, *ok, *nk, *rk;
    size_t cap_cv;
} rctx;

#define NONE 0xffffffffu

static int fail(util_err *err, const char *what, uint64_t x)
{
    return util_errf(err, UTIL_ECORRUPT,
                     "EVM exposure index: %s at transfer %" PRIu64
                     " does not replay under the committed rows",
                     what, x);
}

static uint32_t new_status(rctx *r, uint32_t addr)
{
    uint64_t v;
    return util_hmap_get(&r->c->stop_of, addr, &v) ? (uint32_t)v : NONE;
}

static uint32_t old_status(rctx *r, uint32_t addr)
{
    uint64_t v;
    if (!util_hmap_get(&r->d0, addr, NULL)) return new_status(r, addr);
    return util_hmap_get(&r->old_stop, addr, &v) ? (uint32_t)v : NONE;
}

static wcat *pcat(pstate *p, uint32_t cat)
{
    wrec w = {0, 0, {{0}}, {{0}}, p->c, p->n, p->cap};
    wcat *k = ex_rec_cat(&w, cat);
    p->c = w.c, p->n = w.n, p->cap = w.cap;
    return k;
}

/* A send of a under status: the carries into cv (the rule of step in evmexpo_index.c). */
static int send(rctx *r, pstate *p, uint32_t status, const evm_u256 *a, cv_t *cv, size_t *nc)
{
    *nc = 0;
    if (status != NONE) {
        if (r->c->st.tracked[status] && !evm_u256_is_zero(a)) cv[(*nc)++] = (cv_t){status, *a};
        ex_bal_send(&p->bal, a);
        return 0;
    }
    if (evm_u256_cmp(&p->bal, a) < 0) p->bal = *a;
    for (uint32_t i = 0; i < p->n; i++) {
        if (evm_u256_is_zero(&p->c[i].held) || evm_u256_is_zero(&p->bal)) continue;
        evm_u256 q, rem;
        if (etrace_muldiv(&q, &rem, &p->c[i].held, a, &p->bal)) return UTIL_ECORRUPT;
        if (evm_u256_is_zero(&q)) continue;
        evm_u256_sub(&p->c[i].held, &p->c[i].held, &q);
        cv[(*nc)++] = (cv_t){p->c[i].cat, q};
    }
    evm_u256_sub(&p->bal, &p->bal, a);
    return 0;
}

static int recv(pstate *p, uint32_t status, const evm_u256 *a, const cv_t *kept, size_t nk)
{
    if (evm_u256_add(&p->bal, &p->bal, a) || evm_u256_add(&p->recv, &p->recv, a))
        return UTIL_ECORRUPT;
    if (nk) p->exists = 1;
    for (size_t i = 0; i < nk; i++) {
        wcat *k = pcat(p, kept[i].cat);
        if (!k) return UTIL_ENOMEM;
        if (evm_u256_add(&k->recv, &k->recv, &kept[i].amt) ||
            (status == NONE && evm_u256_add(&k->held, &k->held, &kept[i].amt)))
            return UTIL_ECORRUPT;
    }
    return 0;
}

/* The committed rows of transfer x (one receiver: all of them are its receipt). */
static size_t rows_at(rctx *r, uint64_t x, uint32_t asset, cv_t *out)
{
    uint64_t f, n;
    evmexpo_rows_of(r->ix, x, x + 1, &f, &n);
    size_t k = 0;
    for (uint64_t i = f; i < f + n; i++) {
        evmexpo_row row;
        evmexpo_row_at(r->ix, i, &row);
        if (row.asset == asset) out[k++] = (cv_t){row.cat, row.amount};
    }
    return k;
}

static int grow_cv(rctx *r, size_t n)
{
    if (n <= r->cap_cv) return 0;
    size_t cap = n * 2;
    cv_t **v[] = {&r->ocv, &r->ncv, &r->ok, &r->nk, &r->rk};
    for (size_t i = 0; i < 5; i++) {
        cv_t *p = realloc(*v[i], cap * sizeof *p);
        if (!p) return UTIL_ENOMEM;
        *v[i] = p;
    }
    r->cap_cv = cap;
    return 0;
}

/* ---- walking the touched addresses in transfer order ---- */

static void heap_push(rctx *r, hent e)
{
    size_t i = r->n_heap++;
    while (i && (r->heap[(i - 1) / 2].x > e.x)) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = e;
}

static hent heap_pop(rctx *r)
{
    hent top = r->heap[0], last = r->heap[--r->n_heap];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= r->n_heap) break;
        if (k + 1 < r->n_heap && r->heap[k + 1].x < r->heap[k].x) k++;
        if (r->heap[k].x >= last.x) break;
        r->heap[i] = r->heap[k];
        i = k;
    }
    if (r->n_heap) r->heap[i] = last;
    return top;
}

/* The address's walker (its transfers below end, oldest first), made on first use. */
static int walker_get(rctx *r, uint32_t addr, uint64_t end, walker **out, util_err *err)
{
    uint64_t v;
    if (util_hmap_get(&r->walker_of, addr, &v)) {
        *out = &r->walkers[v];
        return 0;
    }
    if (util_grow((void **)&r->walkers, &r->cap_walkers, r->n_walkers + 1, sizeof *r->walkers, 16,
                  SIZE_MAX) ||
        util_hmap_put(&r->walker_of, addr, r->n_walkers))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    walker *w = &r->walkers[r->n_walkers++];
    memset(w, 0, sizeof *w);
    w->addr = addr;
    size_t cap = 0;
    uint64_t h;
    int rc = evm_store_addr_head(r->c->s, addr, &h, err);
    while (!rc && h != EVM_NONE64) {
        if (h < end) {
            if (util_grow((void **)&w->x, &cap, w->n + 1, sizeof *w->x, 64, SIZE_MAX))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            w->x[w->n++] = h;
        }
        rc = evm_store_addr_next(r->c->s, addr, h, &h, err);
    }
    for (size_t i = 0; i < w->n / 2; i++) { /* newest first -> oldest first */
        uint64_t t = w->x[i];
        w->x[i] = w->x[w->n - 1 - i];
        w->x[w->n - 1 - i] = t;
    }
    *out = w;
    return rc;
}

/* Start walking addr's transfers after x (all of them with x = EVM_NONE64). */
static int walk_from(rctx *r, uint32_t addr, uint64_t x, uint64_t end, util_err *err)
{
    walker *w = NULL;
    int rc = walker_get(r, addr, end, &w, err);
    if (rc || w->walking) return rc;
    w->walking = 1;
    w->pos = 0;
    if (x != EVM_NONE64)
        while (w->pos < w->n && w->x[w->pos] <= x)
            w->pos++;
    if (w->pos == w->n) return 0;
    if (util_grow((void **)&r->heap, &r->cap_heap, r->n_heap + 1, sizeof *r->heap, 16, SIZE_MAX))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    heap_push(r, (hent){w->x[w->pos], (uint32_t)(w - r->walkers)});
    return 0;
}

/* ---- touched pairs ---- */

static dpair *pair_find(rctx *r, uint32_t addr, uint32_t asset)
{
    uint64_t v;
    return util_hmap_get(&r->pair_of, (uint64_t)addr << 32 | asset, &v) ? &r->pairs[v] : NULL;
}

static dpair *pair_add(rctx *r, uint32_t addr, uint32_t asset)
{
    if (util_grow((void **)&r->pairs, &r->cap_pairs, r->n_pairs + 1, sizeof *r->pairs, 64,
                  SIZE_MAX) ||
        util_hmap_put(&r->pair_of, (uint64_t)addr << 32 | asset, r->n_pairs))
        return NULL;
    dpair *p = &r->pairs[r->n_pairs++];
    memset(p, 0, sizeof *p);
    p->addr = addr, p->asset = asset;
    return p;
}

/* A pair touched at transfer x (its stop unchanged): its state before x, replayed from its
 * transfers with the committed rows as its receipts; the same under both stops. */
static int pair_touch(rctx *r, uint32_t addr, uint32_t asset, uint64_t x, uint64_t end, dpair **out,
                      util_err *err)
{
    walker *w = NULL;
    int rc = walker_get(r, addr, end, &w, err);
    if (rc) return rc;
    dpair *p = pair_add(r, addr, asset);
    if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint32_t st = new_status(r, addr);
    for (size_t i = 0; i < w->n && w->x[i] < x; i++) {
        evm_xfer_row t;
        if ((rc = evm_store_xfer(r->c->s, w->x[i], &t, err))) return rc;
        if (t.token != asset || (t.from == t.to && t.from != EVM_NONE32)) continue;
        size_t n;
        if (t.to == addr) {
            n = rows_at(r, w->x[i], asset, r->rk);
            rc = recv(&p->old, st, &t.amount, r->rk, n);
        } else {
            rc = send(r, &p->old, st, &t.amount, r->ocv, &n);
        }
        if (rc == UTIL_ENOMEM) return util_errf(err, rc, "out of memory");
        if (rc) return fail(err, "an amount overflows", w->x[i]);
    }
    p->neu = p->old;
    p->neu.c = p->old.n ? malloc(p->old.n * sizeof *p->neu.c) : NULL;
    if (p->old.n && !p->neu.c) return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (p->old.n) memcpy(p->neu.c, p->old.c, p->old.n * sizeof *p->neu.c);
    p->neu.cap = p->old.n;
    *out = p;
    return 0;
}

static int same_cv(const cv_t *a, size_t na, const cv_t *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].cat != b[i].cat || evm_u256_cmp(&a[i].amt, &b[i].amt)) return 0;
    return 1;
}

/* Split carries into what the receiver keeps and the drops (sign: +1 add, -1 take back). */
static int settle(rctx *r, const cv_t *cv, size_t n, uint32_t asset, int has_to, int sign,
                  cv_t *kept, size_t *nk, uint64_t x, util_err *err)
{
    evm_u256 floor = {{asset ? r->c->floor_token : r->c->floor_native, 0, 0, 0}};
    *nk = 0;
    for (size_t i = 0; i < n; i++) {
        int below = has_to && evm_u256_cmp(&cv[i].amt, &floor) < 0;
        if (has_to && !below) {
            kept[(*nk)++] = cv[i];
            continue;
        }
        evmexpo_drop *d = ex_drop_at(r->c, cv[i].cat, asset);
        if (!d) return util_errf(err, UTIL_ENOMEM, "out of memory");
        evm_u256 *v = below ? &d->below_floor : &d->no_receiver;
        if (sign > 0) {
            if (evm_u256_add(v, v, &cv[i].amt)) return fail(err, "a drop overflows", x);
            d->below_shares += below;
        } else {
            if (evm_u256_cmp(v, &cv[i].amt) < 0 || (below && !d->below_shares))
                return fail(err, "a drop", x);
            evm_u256_sub(v, v, &cv[i].amt);
            d->below_shares -= below;
        }
    }
    return 0;
}

static int step2(rctx *r, uint64_t x, uint64_t end, util_err *err)
{
    evm_xfer_row t;
    int rc = evm_store_xfer(r->c->s, x, &t, err);
    if (rc) return rc;
    int has_from = t.from != EVM_NONE32, has_to = t.to != EVM_NONE32;
    if (has_from && has_to && t.from == t.to) return 0;
    if ((rc = grow_cv(r, r->c->st.n_cats + 1))) return util_errf(err, rc, "out of memory");
    uint32_t asset = t.token;
    dpair *s = NULL;
    if (has_from) {
        s = pair_find(r, t.from, asset);
        if (!s && util_hmap_get(&r->d0, t.from, NULL) && !(s = pair_add(r, t.from, asset)))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    size_t nok = 0, nnk = 0;
    int changed = 0;
    if (s) {
        size_t no, nn;
        if (send(r, &s->old, old_status(r, t.from), &t.amount, r->ocv, &no) ||
            send(r, &s->neu, new_status(r, t.from), &t.amount, r->ncv, &nn))
            return fail(err, "a share overflows", x);
        if ((rc = settle(r, r->ocv, no, asset, has_to, -1, r->ok, &nok, x, err)) ||
            (rc = settle(r, r->ncv, nn, asset, has_to, +1, r->nk, &nnk, x, err)))
            return rc;
        if (!has_to) return 0;
        size_t nr = rows_at(r, x, asset, r->rk);
        if (!same_cv(r->ok, nok, r->rk, nr)) return fail(err, "a carry", x);
        changed = !same_cv(r->ok, nok, r->nk, nnk);
        /* the rows of this transfer are now the new carry's */
        if (util_hmap_put(&r->replaced, x, 1)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        for (size_t i = 0; i < nnk; i++) {
            uint8_t b[EVMEXPO_ROW_BYTES];
            util_put_le64(b, x);
            util_put_le32(b + 8, r->nk[i].cat);
            util_put_le32(b + 12, asset);
            evm_u256_store(b + 16, &r->nk[i].amt);
            if (util_buf_append(&r->newrows, b, sizeof b))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    } else {
        if (!has_to) return 0;
        nok = nnk = rows_at(r, x, asset, r->ok);
        memcpy(r->nk, r->ok, nok * sizeof *r->nk);
    }
    dpair *d = pair_find(r, t.to, asset);
    if (!d && util_hmap_get(&r->d0, t.to, NULL)) {
        if (!(d = pair_add(r, t.to, asset))) return util_errf(err, UTIL_ENOMEM, "out of memory");
    } else if (!d && changed) {
        if ((rc = pair_touch(r, t.to, asset, x, end, &d, err)) ||
            (rc = walk_from(r, t.to, x, end, err)))
            return rc;
    }
    if (!d) return 0;
    if (recv(&d->old, old_status(r, t.to), &t.amount, r->ok, nok) ||
        recv(&d->neu, new_status(r, t.to), &t.amount, r->nk, nnk))
        return fail(err, "a receipt overflows", x);
    return 0;
}

/* ---- the result ---- */

static int same_rec(const pstate *p, const wrec *w)
{
    if (!p->exists) return w == NULL;
    if (!w || evm_u256_cmp(&p->bal, &w->bal) || evm_u256_cmp(&p->recv, &w->recv) || p->n != w->n)
        return 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->c[i].cat != w->c[i].cat || evm_u256_cmp(&p->c[i].held, &w->c[i].held) ||
            evm_u256_cmp(&p->c[i].recv, &w->c[i].recv))
            return 0;
    return 1;
}

static int finish(rctx *r, util_err *err)
{
    wctx *c = r->c;
    /* the old states are the committed records */
    for (size_t i = 0; i < r->n_pairs; i++) {
        dpair *p = &r->pairs[i];
        uint64_t v;
        wrec *w =
            util_hmap_get(&c->rec_of, (uint64_t)p->addr << 32 | p->asset, &v) ? &c->recs[v] : NULL;
        if (!same_rec(&p->old, w)) return fail(err, "a record", EVM_NONE64);
    }
    /* the new states replace them; records no longer reached go */
    for (size_t i = 0; i < r->n_pairs; i++) {
        dpair *p = &r->pairs[i];
        uint64_t v;
        size_t idx;
        if (!util_hmap_get(&c->rec_of, (uint64_t)p->addr << 32 | p->asset, &v)) {
            if (!p->neu.exists) continue;
            if (ex_rec_new(c, p->addr, p->asset, &idx))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            v = idx;
        }
        wrec *w = &c->recs[v];
        free(w->c);
        w->c = p->neu.c, w->n = p->neu.n, w->cap = p->neu.cap;
        p->neu.c = NULL;
        w->bal = p->neu.bal, w->recv = p->neu.recv;
        if (!p->neu.exists) w->addr = NONE, w->asset = NONE; /* removed below */
    }
    size_t k = 0;
    for (size_t i = 0; i < c->n_recs; i++) {
        if (c->recs[i].addr == NONE && c->recs[i].asset == NONE) {
            free(c->recs[i].c);
            continue;
        }
        c->recs[k++] = c->recs[i];
    }
    c->n_recs = k;
    util_hmap_free(&c->rec_of);
    if (util_hmap_init(&c->rec_of, c->n_recs * 2 + 64))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_recs; i++)
        if (util_hmap_put(&c->rec_of, (uint64_t)c->recs[i].addr << 32 | c->recs[i].asset, i))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    /* drops that no longer happen go (a rebuild would not have them) */
    k = 0;
    for (size_t i = 0; i < c->n_drops; i++)
        if (c->drops[i].below_shares || !evm_u256_is_zero(&c->drops[i].no_receiver) ||
            !evm_u256_is_zero(&c->drops[i].below_floor))
            c->drops[k++] = c->drops[i];
    c->n_drops = k;
    util_hmap_free(&c->drop_of);
    if (util_hmap_init(&c->drop_of, c->n_drops * 2 + 16))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_drops; i++)
        if (util_hmap_put(&c->drop_of, (uint64_t)c->drops[i].cat << 32 | c->drops[i].asset, i))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    /* the rows: the committed ones, those of the touched sends replaced (in place) */
    size_t nn = r->newrows.len / EVMEXPO_ROW_BYTES, j = 0;
#define NEWX(j) util_le64(r->newrows.data + (j)*EVMEXPO_ROW_BYTES)
    for (uint64_t i = 0; i <= r->ix->rows; i++) {
        uint64_t x =
            i < r->ix->rows ? util_le64(r->ix->rowmap + i * EVMEXPO_ROW_BYTES) : EVM_NONE64;
        int skip = i < r->ix->rows && util_hmap_get(&r->replaced, x, NULL);
        while (j < nn && (NEWX(j) < x || (skip && NEWX(j) == x))) {
            const uint8_t *b = r->newrows.data + j * EVMEXPO_ROW_BYTES;
            evm_u256 a;
            evm_u256_load(&a, b + 16);
            if (ex_row_push(c, util_le64(b), util_le32(b + 8), util_le32(b + 12), &a))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            j++;
        }
        if (i == r->ix->rows) break;
        if (!skip &&
            util_buf_append(&c->rows, r->ix->rowmap + i * EVMEXPO_ROW_BYTES, EVMEXPO_ROW_BYTES))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        if (c->rows.len >= 4096 * EVMEXPO_ROW_BYTES) {
            int rc = ex_rows_flush(c, err);
            if (rc) return rc;
        }
    }
#undef NEWX
    return ex_rows_flush(c, err);
}

int ex_restop(wctx *c, const evmexpo_index *ix, const ex_stop *old, size_t n_old,
              uint64_t crash_after, uint64_t *pairs, util_err *err)
{
    *pairs = 0;
    rctx r;
    memset(&r, 0, sizeof r);
    r.c = c, r.ix = ix;
    int rc = 0;
    if (util_hmap_init(&r.old_stop, n_old * 2 + 8) || util_hmap_init(&r.d0, 64) ||
        util_hmap_init(&r.pair_of, 256) || util_hmap_init(&r.walker_of, 64) ||
        util_hmap_init(&r.replaced, 256))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    /* the addresses whose stop changed: both lists are sorted by address */
    size_t i = 0, j = 0;
    const ex_stop *nw = c->st.v;
    size_t n_new = c->st.n;
    while (!rc && (i < n_old || j < n_new)) {
        int d = i == n_old ? 1 : j == n_new ? -1 : memcmp(old[i].addr, nw[j].addr, 20);
        const uint8_t *a = d <= 0 ? old[i].addr : nw[j].addr;
        int differs = d != 0 || old[i].cat != nw[j].cat;
        uint32_t id;
        if (differs && !evm_store_find_addr(c->s, a, &id, NULL)) {
            if (util_hmap_put(&r.d0, id, 1) ||
                (d <= 0 && util_hmap_put(&r.old_stop, id, old[i].cat)))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        if (d <= 0) i++;
        if (d >= 0) j++;
    }
    /* walk them from their first transfer */
    if (!rc) {
        /* (the hash map has no iteration: take the ids from both lists again) */
        for (int side = 0; side < 2 && !rc; side++) {
            const ex_stop *v = side ? nw : old;
            size_t n = side ? n_new : n_old;
            for (size_t k = 0; k < n && !rc; k++) {
                uint32_t id;
                if (evm_store_find_addr(c->s, v[k].addr, &id, NULL) ||
                    !util_hmap_get(&r.d0, id, NULL))
                    continue;
                rc = walk_from(&r, id, EVM_NONE64, ix->xfers, err);
            }
        }
    }
    uint64_t last = EVM_NONE64;
    while (!rc && r.n_heap) {
        hent e = heap_pop(&r);
        walker *w = &r.walkers[e.w];
        w->pos++;
        if (w->pos < w->n) heap_push(&r, (hent){w->x[w->pos], e.w});
        if (e.x == last) continue; /* the other end of a transfer already done */
        last = e.x;
        rc = step2(&r, e.x, ix->xfers, err);
        if (crash_after && !--crash_after) { /* (tests) a kill with rows on disk, uncommitted */
            if (!ex_row_push(c, e.x, 0, 0, &(evm_u256){{1, 0, 0, 0}})) ex_rows_flush(c, NULL);
            kill(getpid(), SIGKILL);
        }
    }
    if (!rc) rc = finish(&r, err);
    *pairs = r.n_pairs;
    for (size_t k = 0; k < r.n_pairs; k++) {
        free(r.pairs[k].old.c);
        free(r.pairs[k].neu.c);
    }
    for (size_t k = 0; k < r.n_walkers; k++)
        free(r.walkers[k].x);
    free(r.pairs);
    free(r.walkers);
    free(r.heap);
    free(r.ocv);
    free(r.ncv);
    free(r.ok);
    free(r.nk);
    free(r.rk);
    util_buf_free(&r.newrows);
    util_hmap_free(&r.old_stop);
    util_hmap_free(&r.d0);
    util_hmap_free(&r.pair_of);
    util_hmap_free(&r.walker_of);
    util_hmap_free(&r.replaced);
    return rc;
}
