/* evmexpo: exposure across the chain-hop links, onto Bitcoin (evmexpo.h, "Across chains").
 *
 * Seeds: a link from an EVM deposit to Bitcoin outputs gives each output value(o) x X_c / A of
 * category c, where A is what the deposit moved into the bridge or router (its transfers to
 * bridge or swap stops in the link's asset) and X_c the EVM index's rows of c on them. Then the
 * Bitcoin index's rule (src/exposure): a tx's inputs pass on what their outputs received (an
 * output paying a stop passes nothing of it), split over the outputs and the fee in proportion
 * to value with largest-remainder rounding (ties to the lower index, the fee last); shares below
 * the floor are dropped; a tx with an unresolved input passes nothing on. Every amount keeps
 * its (link, category): the screening names the link's method and confidence. Txs are visited
 * in chain order from the seeds only, so the cost follows the linked money, not the chain. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"
#include "../util/util_vec.h"
#include "evmexpo_int.h"

typedef struct xent {
    uint32_t link, cat;
    uint64_t amount;
} xent;

/* An output's amounts: pool[first, first + n). */
typedef struct xout {
    uint64_t out;
    uint32_t first, n;
} xout;

struct evmexpo_xbtc {
    char (*cats)[64]; /* category names (the stop order's) */
    size_t n_cats;
    util_hmap of; /* output -> index in outs */
    xout *outs;
    size_t n_outs, cap_outs;
    xent *pool;
    size_t n_pool, cap_pool;
    evmexpo_xbtc_info info;
};

void evmexpo_xbtc_free(evmexpo_xbtc *x)
{
    if (!x) return;
    free(x->cats);
    util_hmap_free(&x->of);
    free(x->outs);
    free(x->pool);
    free(x);
}

void evmexpo_xbtc_get_info(const evmexpo_xbtc *x, evmexpo_xbtc_info *out)
{
    *out = x->info;
}

size_t evmexpo_xbtc_output(const evmexpo_xbtc *x, uint64_t out, evmexpo_xamount *amt, size_t cap)
{
    uint64_t v;
    if (!util_hmap_get(&x->of, out, &v)) return 0;
    const xout *o = &x->outs[v];
    for (uint32_t i = 0; i < o->n && i < cap; i++) {
        const xent *e = &x->pool[o->first + i];
        amt[i] = (evmexpo_xamount){e->link, x->cats[e->cat], e->amount};
    }
    return o->n;
}

static int cmp_xent(const void *pa, const void *pb)
{
    const xent *a = pa, *b = pb;
    if (a->link != b->link) return a->link < b->link ? -1 : 1;
    return (a->cat > b->cat) - (a->cat < b->cat);
}

/* Record output o's amounts (sorted, merged). */
static int put_out(evmexpo_xbtc *x, uint64_t o, xent *e, size_t n)
{
    qsort(e, n, sizeof *e, cmp_xent);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && !cmp_xent(&e[k - 1], &e[i]))
            e[k - 1].amount += e[i].amount;
        else
            e[k++] = e[i];
    }
    uint64_t v;
    if (util_hmap_get(&x->of, o, &v)) return UTIL_EINVAL; /* an output is paid once */
    if (util_grow((void **)&x->pool, &x->cap_pool, x->n_pool + k, sizeof *x->pool, 256, SIZE_MAX) ||
        util_grow((void **)&x->outs, &x->cap_outs, x->n_outs + 1, sizeof *x->outs, 64, SIZE_MAX) ||
        util_hmap_put(&x->of, o, x->n_outs))
        return UTIL_ENOMEM;
    memcpy(x->pool + x->n_pool, e, k * sizeof *e);
    x->outs[x->n_outs++] = (xout){o, (uint32_t)x->n_pool, (uint32_t)k};
    x->n_pool += k;
    return 0;
}

/* ---- Bitcoin stops: an address's own heaviest label, else its entity's ---- */

typedef struct bstops {
    util_hmap addr, ent; /* addr / entity -> rank */
    const cluster_map *cl;
} bstops;

static int bstops_build(bstops *b, const store *s, const labels_db *labels,
                        const cluster_map *clusters, char **order, size_t n_order, util_err *err)
{
    memset(b, 0, sizeof *b);
    b->cl = clusters;
    if (util_hmap_init(&b->addr, 64) || util_hmap_init(&b->ent, 64))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    size_t nl = labels ? labels_db_count(labels) : 0;
    for (size_t i = 0; i < nl; i++) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, "btc")) continue;
        btc_addr a;
        if (btc_addr_decode(&a, l->address, NULL)) continue;
        int64_t id = store_find_addr(s, &a);
        if (id < 0) continue;
        uint64_t rank = 0, cur;
        while (rank < n_order && strcmp(order[rank], l->category))
            rank++;
        if (rank == n_order) continue;
        if (!util_hmap_get(&b->addr, (uint64_t)id, &cur) || rank < cur)
            if (util_hmap_put(&b->addr, (uint64_t)id, rank))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
        if (clusters && (uint32_t)id < cluster_map_addresses(clusters)) {
            uint32_t e = cluster_entity_of(clusters, (uint32_t)id);
            if (e != CLUSTER_NO_ENTITY && (!util_hmap_get(&b->ent, e, &cur) || rank < cur))
                if (util_hmap_put(&b->ent, e, rank))
                    return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int is_stop(const bstops *b, uint32_t addr)
{
    if (addr == STORE_NO_ADDR) return 0;
    if (util_hmap_get(&b->addr, addr, NULL)) return 1;
    if (!b->cl || !b->ent.n || addr >= cluster_map_addresses(b->cl)) return 0;
    uint32_t e = cluster_entity_of(b->cl, addr);
    return e != CLUSTER_NO_ENTITY && util_hmap_get(&b->ent, e, NULL);
}

/* ---- seeds ---- */

/* The asset of a link's asset_in text in an EVM store: 0 native, a token id, or UINT32_MAX
 * (any). */
static uint32_t link_asset(const evm_store *s, const char *text)
{
    const char *c = strchr(text, ':');
    if (!c) return 0; /* "ETH": the chain's coin */
    uint32_t a;
    if (etrace_asset_parse(s, c + 1, &a, NULL)) return UINT32_MAX;
    return a;
}

/* The deposit's amount into bridges and routers (A) and its rows per category (X). */
static int deposit_exposure(const evm_store *s, const evmexpo_index *ix, const util_hmap *svc,
                            const xchain_link *l, evm_u256 *A, evm_u256 *X, size_t n_cats)
{
    evm_tx_row tx;
    if (evm_store_tx(s, l->from.tx, &tx, NULL) || memcmp(tx.hash, l->from.hash, 32)) {
        uint64_t id;
        if (evm_store_find_tx(s, l->from.hash, &id, NULL) || evm_store_tx(s, id, &tx, NULL))
            return UTIL_ENOTFOUND;
        ((xchain_link *)l)->from.tx = id; /* the link's id was of another state of the store */
    }
    uint64_t nt, nx, na, end;
    evm_store_counts(s, &nt, &nx, &na);
    end = nx;
    evm_tx_row nxt;
    if (l->from.tx + 1 < nt && !evm_store_tx(s, l->from.tx + 1, &nxt, NULL)) end = nxt.first_xfer;
    uint32_t want = link_asset(s, l->asset_in);
    memset(A, 0, sizeof *A);
    memset(X, 0, n_cats * sizeof *X);
    for (int pass = 0; pass < 2; pass++) { /* into services first; else every transfer */
        for (uint64_t x = tx.first_xfer; x < end; x++) {
            evm_xfer_row t;
            if (evm_store_xfer(s, x, &t, NULL) || t.tx != l->from.tx) break;
            if (t.to == EVM_NONE32 || t.kind == EVM_XFER_FEE) continue;
            if (want != UINT32_MAX && t.token != want) continue;
            if (!pass && !util_hmap_get(svc, t.to, NULL)) continue;
            /* a router forwarding to its vault inside the deposit tx is not a second deposit */
            if (t.from != EVM_NONE32 && util_hmap_get(svc, t.from, NULL)) continue;
            evm_u256_add(A, A, &t.amount);
            uint64_t f, n;
            evmexpo_rows_of(ix, x, x + 1, &f, &n);
            for (uint64_t i = f; i < f + n; i++) {
                evmexpo_row row;
                evmexpo_row_at(ix, i, &row);
                if (row.cat < n_cats) evm_u256_add(&X[row.cat], &X[row.cat], &row.amount);
            }
        }
        if (!evm_u256_is_zero(A)) break;
    }
    return 0;
}

/* ---- the propagation ---- */

typedef struct heap {
    uint64_t *v;
    size_t n, cap;
} heap;

static int heap_push(heap *h, uint64_t k)
{
    if (util_grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v, 64, SIZE_MAX)) return -1;
    size_t i = h->n++;
    while (i && h->v[(i - 1) / 2] > k) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = k;
    return 0;
}

static uint64_t heap_pop(heap *h)
{
    uint64_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c]) c++;
        if (h->v[c] >= last) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int queue_spender(const store *s, heap *h, util_hmap *queued, uint64_t o)
{
    uint64_t in = store_out_spent_by(s, o);
    if (in == STORE_NONE) return 0;
    uint64_t tx = store_input_tx(s, in);
    if (util_hmap_get(queued, tx, NULL)) return 0;
    if (util_hmap_put(queued, tx, 1) || heap_push(h, tx)) return UTIL_ENOMEM;
    return 0;
}

int evmexpo_xbtc_build(evmexpo_xbtc **out, const store *btc, const labels_db *labels,
                       const cluster_map *clusters, const risk_config *cfg, evm_store *const *evms,
                       evmexpo_index *const *ixs, size_t n, const xchain_links *links,
                       uint64_t floor, util_err *err)
{
    *out = NULL;
    double t0 = util_now();
    evmexpo_xbtc *x = calloc(1, sizeof *x);
    if (!x) return util_errf(err, UTIL_ENOMEM, "out of memory");
    char **order = NULL;
    size_t n_order = 0;
    bstops bs;
    memset(&bs, 0, sizeof bs);
    heap h = {0};
    util_hmap queued = {0};
    xent *acc = NULL, *tmp = NULL;
    size_t cap_acc = 0, cap_tmp = 0;
    uint64_t *wt = NULL, *sh = NULL;
    util_rem *rm = NULL;
    size_t cap_s = 0;
    util_hmap *svcs = calloc(n + 1, sizeof *svcs);
    int *svc_ready = calloc(n + 1, sizeof *svc_ready);
    if (!svcs || !svc_ready) {
        free(svcs);
        free(svc_ready);
        free(x);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    int rc = risk_stop_categories(labels, cfg, &order, &n_order, err);
    if (!rc) rc = bstops_build(&bs, btc, labels, clusters, order, n_order, err);
    if (!rc && (util_hmap_init(&x->of, 64) || util_hmap_init(&queued, 64)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    /* the overlay's categories: every EVM index's, merged by name */
    for (size_t i = 0; !rc && i < n; i++)
        for (size_t c = 0; c < evmexpo_n_categories(ixs[i]); c++) {
            const char *name = evmexpo_category_name(ixs[i], (uint32_t)c);
            size_t k = 0;
            while (k < x->n_cats && strcmp(x->cats[k], name))
                k++;
            if (k < x->n_cats) continue;
            char(*nc)[64] = realloc(x->cats, (x->n_cats + 1) * sizeof *nc);
            if (!nc) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            x->cats = nc;
            snprintf(x->cats[x->n_cats++], 64, "%s", name);
        }
    const store_totals *tot = store_get_totals(btc);
    /* seeds */
    for (size_t li = 0; !rc && li < links->n; li++) {
        const xchain_link *l = &links->v[li];
        if (strcmp(l->to.chain, "btc") || !l->to.n_outs) continue;
        size_t e = 0;
        while (e < n && strcmp(evm_store_chain(evms[e]), l->from.chain))
            e++;
        if (e == n) continue;
        /* the chain's bridges and routers (the deposit's receivers), once per chain: the stops
         * come from every label */
        if (!svc_ready[e]) {
            ex_stops st;
            if ((rc = ex_stops_compute(labels, l->from.chain, 0, 0, &st, err))) break;
            if (util_hmap_init(&svcs[e], 16)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            svc_ready[e] = 1;
            for (size_t i = 0; !rc && i < st.n; i++) {
                const char *cn = st.cats[st.v[i].cat];
                uint32_t id;
                if ((strcmp(cn, "bridge") && strcmp(cn, "swap")) ||
                    evm_store_find_addr(evms[e], st.v[i].addr, &id, NULL))
                    continue;
                if (util_hmap_put(&svcs[e], id, 1))
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            }
            ex_stops_free(&st);
            if (rc) break;
        }
        size_t nc = evmexpo_n_categories(ixs[e]);
        evm_u256 A, *X = calloc(nc + 1, sizeof *X);
        if (!rc && !X) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        int found = !rc && !deposit_exposure(evms[e], ixs[e], &svcs[e], l, &A, X, nc);
        if (found && !evm_u256_is_zero(&A)) {
            int used = 0;
            for (uint32_t k = 0; !rc && k < l->to.n_outs; k++) {
                uint64_t o = l->to.out_id[k];
                if (o >= tot->outputs) continue;
                int64_t val = store_out_value(btc, o);
                size_t ne = 0;
                for (size_t c = 0; c < nc && !rc; c++) {
                    if (evm_u256_is_zero(&X[c])) continue;
                    evm_u256 v = {{val > 0 ? (uint64_t)val : 0, 0, 0, 0}}, q, r;
                    if (etrace_muldiv(&q, &r, &v, &X[c], &A) || q.w[1] || q.w[2] || q.w[3] ||
                        q.w[0] < floor || !q.w[0])
                        continue;
                    const char *name = evmexpo_category_name(ixs[e], (uint32_t)c);
                    uint32_t cid = 0;
                    while (strcmp(x->cats[cid], name))
                        cid++;
                    if (util_grow((void **)&acc, &cap_acc, ne + 1, sizeof *acc, 16, SIZE_MAX)) {
                        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                        break;
                    }
                    acc[ne++] = (xent){(uint32_t)li, cid, q.w[0]};
                }
                if (rc || !ne) continue;
                /* an output named by several links gets each link's part */
                uint64_t v;
                if (util_hmap_get(&x->of, o, &v)) {
                    xout *xo = &x->outs[v];
                    if (util_grow((void **)&tmp, &cap_tmp, xo->n + ne, sizeof *tmp, 16, SIZE_MAX)) {
                        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                        break;
                    }
                    memcpy(tmp, x->pool + xo->first, xo->n * sizeof *tmp);
                    memcpy(tmp + xo->n, acc, ne * sizeof *tmp);
                    size_t m = xo->n + ne;
                    util_hmap_del(&x->of, o);
                    rc = put_out(x, o, tmp, m); /* the old rows stay in the pool, unused */
                } else {
                    rc = put_out(x, o, acc, ne);
                    x->info.outputs_seeded++;
                }
                if (!rc && !is_stop(&bs, store_out_addr(btc, o)))
                    rc = queue_spender(btc, &h, &queued, o);
                used = 1;
            }
            x->info.links_used += used;
        }
        free(X);
    }
    /* forward in chain order */
    while (!rc && h.n) {
        uint64_t tx = heap_pop(&h);
        x->info.txs_visited++;
        store_tx_row row;
        store_tx(btc, tx, &row);
        uint32_t nin = store_tx_n_in(btc, tx), nout = store_tx_n_out(btc, tx);
        size_t na = 0;
        for (uint32_t i = 0; i < nin && !rc; i++) {
            uint64_t p = store_in_prev(btc, row.first_in + i), v;
            if (p >= STORE_UNRESOLVED || !util_hmap_get(&x->of, p, &v)) continue;
            if (is_stop(&bs, store_out_addr(btc, p))) continue;
            const xout *xo = &x->outs[v];
            if (util_grow((void **)&acc, &cap_acc, na + xo->n, sizeof *acc, 16, SIZE_MAX)) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            memcpy(acc + na, x->pool + xo->first, xo->n * sizeof *acc);
            na += xo->n;
        }
        if (rc || !na || (row.flags & STORE_TX_UNRESOLVED)) continue;
        qsort(acc, na, sizeof *acc, cmp_xent);
        size_t k = 0;
        for (size_t i = 0; i < na; i++) {
            if (k && !cmp_xent(&acc[k - 1], &acc[i]))
                acc[k - 1].amount += acc[i].amount;
            else
                acc[k++] = acc[i];
        }
        size_t m = (size_t)nout + 1;
        if (m * (k + 1) > cap_s) {
            size_t cap = m * (k + 1) * 2;
            uint64_t *a = realloc(wt, cap * sizeof *a);
            if (a) wt = a;
            uint64_t *b = realloc(sh, cap * sizeof *b);
            if (b) sh = b;
            util_rem *c = realloc(rm, cap * sizeof *c);
            if (c) rm = c;
            if (!a || !b || !c) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            cap_s = cap;
        }
        uint64_t d = 0;
        for (uint32_t q = 0; q < nout; q++) {
            int64_t val = store_out_value(btc, row.first_out + q);
            wt[q] = val > 0 ? (uint64_t)val : 0;
            d += wt[q];
        }
        wt[nout] = row.fee > 0 ? (uint64_t)row.fee : 0;
        d += wt[nout];
        if (!d) continue;
        for (size_t j = 0; j < k; j++) {
            if (acc[j].amount > d) acc[j].amount = d; /* never more than the tx moves */
            util_split_haircut(acc[j].amount, wt, m, d, sh + j * m, rm);
        }
        for (uint32_t q = 0; q < nout && !rc; q++) {
            uint64_t o = row.first_out + q;
            size_t ne = 0;
            if (util_grow((void **)&tmp, &cap_tmp, k + 1, sizeof *tmp, 16, SIZE_MAX)) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            for (size_t j = 0; j < k; j++)
                if (sh[j * m + q] >= floor && sh[j * m + q])
                    tmp[ne++] = (xent){acc[j].link, acc[j].cat, sh[j * m + q]};
            if (!ne) continue;
            if (util_hmap_get(&x->of, o, NULL)) continue; /* a seed (already counted) */
            rc = put_out(x, o, tmp, ne);
            if (!rc && !is_stop(&bs, store_out_addr(btc, o)))
                rc = queue_spender(btc, &h, &queued, o);
        }
    }
    x->info.outputs = x->n_outs;
    x->info.seconds = util_now() - t0;
    free(acc);
    free(tmp);
    free(wt);
    free(sh);
    free(rm);
    free(h.v);
    util_hmap_free(&queued);
    for (size_t i = 0; i < n; i++)
        if (svc_ready[i]) util_hmap_free(&svcs[i]);
    free(svcs);
    free(svc_ready);
    util_hmap_free(&bs.addr);
    util_hmap_free(&bs.ent);
    risk_categories_free(order, n_order);
    if (rc) {
        evmexpo_xbtc_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

/* ---- screening ---- */

static int add_item(evmexpo_xresult *res, size_t *cap, const evmexpo_xamount *a)
{
    for (size_t i = 0; i < res->n; i++)
        if (res->v[i].link == a->link && !strcmp(res->v[i].category, a->category)) {
            res->v[i].amount += a->amount;
            return 0;
        }
    if (util_grow((void **)&res->v, cap, res->n + 1, sizeof *res->v, 8, SIZE_MAX))
        return UTIL_ENOMEM;
    res->v[res->n++] = (evmexpo_xitem){a->link, a->category, a->amount, 0, 0};
    return 0;
}

static int cmp_item(const void *pa, const void *pb)
{
    const evmexpo_xitem *a = pa, *b = pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    if (a->link != b->link) return a->link < b->link ? -1 : 1;
    return strcmp(a->category, b->category);
}

static risk_level level_of(const risk_config *c, double score)
{
    if (score >= c->thresholds[2]) return RISK_SEVERE;
    if (score >= c->thresholds[1]) return RISK_HIGH;
    if (score >= c->thresholds[0]) return RISK_MEDIUM;
    return score > 0 ? RISK_LOW : RISK_NONE;
}

void evmexpo_xresult_free(evmexpo_xresult *res)
{
    if (!res) return;
    free(res->v);
    memset(res, 0, sizeof *res);
}

int evmexpo_xbtc_result(const evmexpo_xbtc *x, const store *btc, const xchain_links *links,
                        const risk_config *cfg, const char *arg, evmexpo_xresult *res,
                        util_err *err)
{
    memset(res, 0, sizeof *res);
    res->overlay = x->info;
    /* the outputs screened: the tx's, or every output paid to the address */
    uint64_t *outs = NULL;
    size_t n = 0, cap = 0;
    uint8_t h[32];
    int rc = 0;
    if (strlen(arg) == 64 && !util_hash_parse(h, arg)) {
        int64_t tx = store_find_tx(btc, h);
        if (tx < 0) return 0;
        store_tx_row row;
        store_tx(btc, (uint64_t)tx, &row);
        uint32_t no = store_tx_n_out(btc, (uint64_t)tx);
        if (!(outs = malloc((no + 1) * sizeof *outs)))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < no; i++)
            outs[n++] = row.first_out + i;
    } else {
        btc_addr a;
        if (btc_addr_decode(&a, arg, NULL)) return 0;
        int64_t id = store_find_addr(btc, &a);
        if (id >= 0)
            for (uint64_t o = store_addr_last_out(btc, (uint32_t)id); o != STORE_NONE;
                 o = store_out_prev_same_addr(btc, o)) {
                if (util_grow((void **)&outs, &cap, n + 1, sizeof *outs, 64, SIZE_MAX)) {
                    free(outs);
                    return util_errf(err, UTIL_ENOMEM, "out of memory");
                }
                outs[n++] = o;
            }
    }
    size_t cap_v = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t v = store_out_value(btc, outs[i]);
        res->value += v > 0 ? (uint64_t)v : 0;
        evmexpo_xamount a[64];
        size_t k = evmexpo_xbtc_output(x, outs[i], a, 64);
        for (size_t j = 0; j < k && j < 64 && !rc; j++)
            rc = add_item(res, &cap_v, &a[j]);
    }
    free(outs);
    if (rc) {
        evmexpo_xresult_free(res);
        return util_errf(err, rc, "out of memory");
    }
    if (res->n) qsort(res->v, res->n, sizeof *res->v, cmp_item);
    for (size_t i = 0; i < res->n; i++) {
        evmexpo_xitem *it = &res->v[i];
        const xchain_link *l = &links->v[it->link];
        it->share = res->value ? (double)it->amount / (double)res->value : 0;
        double w = risk_weight(cfg, it->category);
        double f = fmin(1, cfg->full_exposure_share > 0 ? it->share / cfg->full_exposure_share : 1);
        it->score = round(fmin(100, w * f * l->confidence) * 10) / 10;
        if (it->score > res->score) res->score = it->score;
    }
    return 0;
}

int evmexpo_xresult_json(const evmexpo_xresult *res, const xchain_links *links,
                         const risk_config *cfg, json_t *doc, util_err *err)
{
    json_t *arr = json_array();
    json_t *risk = json_object_get(doc, "risk");
    json_t *reasons = risk ? json_object_get(risk, "reasons") : NULL;
    if (!arr) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < res->n; i++) {
        const evmexpo_xitem *it = &res->v[i];
        const xchain_link *l = &links->v[it->link];
        json_t *lj = xchain_link_json(l);
        json_array_append_new(arr, json_pack("{s:s, s:I, s:f, s:o}", "category", it->category,
                                             "amount", (json_int_t)it->amount, "share", it->share,
                                             "link", lj ? lj : json_null()));
        if (!(it->score > 0)) continue;
        char src[67], t[700];
        evm_hash_hex(src, l->from.hash);
        snprintf(t, sizeof t,
                 "cross-chain: %.2f%% of the funds received (%" PRIu64
                 " sat) came from %s sources on %s, over the %s link from %s (confidence %.2f, "
                 "%u candidate%s): %s",
                 100 * it->share, it->amount, it->category, l->from.chain,
                 xchain_method_name(l->method), src, l->confidence, l->candidates,
                 l->candidates == 1 ? "" : "s", l->rule);
        if (reasons) json_array_append_new(reasons, json_string(t));
    }
    const evmexpo_xbtc_info *in = &res->overlay;
    json_object_set_new(doc, "cross_chain",
                        json_pack("{s:o, s:{s:I, s:I, s:f}}", "incoming", arr, "overlay",
                                  "links_used", (json_int_t)in->links_used, "outputs",
                                  (json_int_t)in->outputs, "seconds", in->seconds));
    if (risk && res->score > json_number_value(json_object_get(risk, "score"))) {
        json_object_set_new(risk, "score", json_real(res->score));
        json_object_set_new(risk, "level", json_string(risk_level_name(level_of(cfg, res->score))));
    }
    return 0;
}

int evmexpo_xbtc_screen(const evmexpo_xbtc *x, const store *btc, const xchain_links *links,
                        const risk_config *cfg, const char *arg, json_t *doc, util_err *err)
{
    evmexpo_xresult res;
    int rc = evmexpo_xbtc_result(x, btc, links, cfg, arg, &res, err);
    if (!rc) rc = evmexpo_xresult_json(&res, links, cfg, doc, err);
    evmexpo_xresult_free(&res);
    return rc;
}
