/* etrace: the state every pass shares (the helpers, the address entries and their fifo
 * queues) and the run that drives a pass, checks its accounting and frees it. The passes
 * are in etrace_forward.c and etrace_backward.c, the document in etrace_doc.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace_int.h"

/* ---- small helpers ---- */

int etrace_oom(ctx *c)
{
    return util_errf(c->err, UTIL_ENOMEM, "out of memory during the trace");
}

int etrace_add(ctx *c, evm_u256 *acc, const evm_u256 *v)
{
    if (evm_u256_add(acc, acc, v))
        return util_errf(c->err, UTIL_ECORRUPT, "taint sum exceeds 2^256-1");
    return 0;
}

int etrace_sub(ctx *c, evm_u256 *acc, const evm_u256 *v, const char *what)
{
    if (evm_u256_sub(acc, acc, v))
        return util_errf(c->err, UTIL_ECORRUPT, "accounting broke: %s would go negative", what);
    return 0;
}

etrace_ref etrace_ref_of(uint64_t x, const evm_xfer_row *r)
{
    return (etrace_ref){x, r->tx};
}

typedef struct seed_pair {
    uint64_t x;
    size_t at; /* its index in the caller's seeds */
} seed_pair;

static int cmp_seed_pair(const void *a, const void *b)
{
    const seed_pair *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x;
}

evm_u256 etrace_seed_taint(const ctx *c, uint64_t x)
{
    size_t lo = 0, hi = c->nseeds;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (c->seeds[m] < x)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < c->nseeds && c->seeds[lo] == x ? c->seed_taint[lo] : (evm_u256){{0}};
}

int etrace_is_seed(ctx *c, uint64_t x)
{
    size_t lo = 0, hi = c->nseeds;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (c->seeds[m] == x) return 1;
        if (c->seeds[m] < x)
            lo = m + 1;
        else
            hi = m;
    }
    return 0;
}

static tot *totals(ctx *c, uint32_t asset)
{
    for (size_t i = 0; i < c->ntot; i++)
        if (c->tot[i].asset == asset) return &c->tot[i];
    tot *n = realloc(c->tot, (c->ntot + 1) * sizeof *n);
    if (!n) return NULL;
    c->tot = n;
    memset(&n[c->ntot], 0, sizeof *n);
    n[c->ntot].asset = asset;
    return &n[c->ntot++];
}

int etrace_bucket(ctx *c, uint32_t asset, int b, const evm_u256 *v)
{
    if (evm_u256_is_zero(v)) return 0;
    tot *t = totals(c, asset);
    if (!t) return etrace_oom(c);
    t->n[b]++;
    return etrace_add(c, &t->b[b], v);
}

int etrace_add_swap(ctx *c, const etrace_swap *sw)
{
    if (util_grow((void **)&c->swaps, &c->swapcap, c->nswaps + 1, sizeof *c->swaps, 8, SIZE_MAX))
        return etrace_oom(c);
    c->swaps[c->nswaps++] = *sw;
    return 0;
}

int etrace_add_edge(ctx *c, const gx *g, const evm_u256 *taint, uint32_t hop, const char *fate)
{
    if (util_grow((void **)&c->edges, &c->edgecap, c->nedges + 1, sizeof *c->edges, 8, SIZE_MAX))
        return etrace_oom(c);
    c->edges[c->nedges++] = (etrace_edge){.ref = etrace_ref_of(g->x, &g->r),
                                          .kind = g->r.kind,
                                          .block = c->first_block + g->r.block,
                                          .from = g->r.from,
                                          .to = g->r.to,
                                          .asset = g->r.token,
                                          .amount = g->r.amount,
                                          .taint = *taint,
                                          .hop = hop,
                                          .fate = fate};
    return 0;
}

/* ---- address entries ---- */

uint64_t etrace_mix(uint32_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ull;
    return h ^ h >> 29;
}

int etrace_ent_get(ctx *c, uint32_t id, uint32_t *out)
{
    if (c->hcap && (size_t)c->ne * 2 < c->hcap) {
        for (size_t i = etrace_mix(id) & (c->hcap - 1);; i = (i + 1) & (c->hcap - 1)) {
            if (!c->hidx[i]) break;
            if (c->e[c->hidx[i] - 1].id == id) return *out = c->hidx[i] - 1, 0;
        }
    } else {
        size_t nc = c->hcap ? c->hcap * 2 : 1024;
        uint32_t *h = calloc(nc, sizeof *h);
        if (!h) return etrace_oom(c);
        for (size_t k = 0; k < c->ne; k++) {
            size_t i = etrace_mix(c->e[k].id) & (nc - 1);
            while (h[i])
                i = (i + 1) & (nc - 1);
            h[i] = (uint32_t)k + 1;
        }
        free(c->hidx);
        c->hidx = h, c->hcap = nc;
        return etrace_ent_get(c, id, out);
    }
    if (util_grow((void **)&c->e, &c->ecap, c->ne + 1, sizeof *c->e, 8, SIZE_MAX))
        return etrace_oom(c);
    ent *e = &c->e[c->ne];
    memset(e, 0, sizeof *e);
    e->id = id, e->depth = NONE32, e->via = NONE64, e->via_from = NONE32;
    size_t i = etrace_mix(id) & (c->hcap - 1);
    while (c->hidx[i])
        i = (i + 1) & (c->hcap - 1);
    c->hidx[i] = (uint32_t)c->ne + 1;
    *out = (uint32_t)c->ne++;
    return 0;
}

/* The entry of an address if it exists (NONE32 otherwise); no allocation. */
uint32_t etrace_ent_find(const ctx *c, uint32_t id)
{
    if (!c->hcap || id == NONE32) return NONE32;
    for (size_t i = etrace_mix(id) & (c->hcap - 1);; i = (i + 1) & (c->hcap - 1)) {
        if (!c->hidx[i]) return NONE32;
        if (c->e[c->hidx[i] - 1].id == id) return c->hidx[i] - 1;
    }
}

const labels_label *etrace_stop_of(ctx *c, uint32_t ei)
{
    ent *e = &c->e[ei];
    if (e->stop_known) return e->stop;
    e->stop_known = 1;
    uint8_t a[20];
    if (!c->labels || evm_store_addr(c->s, e->id, a, NULL)) return NULL;
    char hex[43] = "0x";
    util_hex(hex + 2, a, 20);
    const labels_label *first;
    size_t n;
    labels_find(c->labels, "eth", hex, &first, &n);
    for (size_t i = 0; i < n && !e->stop; i++)
        for (size_t k = 0; k < labels_service_stops(c->o->follow_mixers); k++)
            if (!strcmp(first[i].category, labels_service_categories()[k])) {
                e->stop = &first[i];
                break;
            }
    return e->stop;
}

int etrace_cross_chain_category(const char *cat)
{
    return !strcmp(cat, "bridge") || !strcmp(cat, "swap");
}

/* Every transfer of the address, ascending. */
static int ent_load(ctx *c, uint32_t ei)
{
    if (c->e[ei].loaded) return 0;
    uint64_t *xs = NULL;
    size_t n = 0, cap = 0;
    uint64_t x;
    int rc = evm_store_addr_head(c->s, c->e[ei].id, &x, c->err);
    while (!rc && x != NONE64) {
        if (util_grow((void **)&xs, &cap, n + 1, sizeof *xs, 8, SIZE_MAX)) {
            free(xs);
            return etrace_oom(c);
        }
        xs[n++] = x;
        rc = evm_store_addr_next(c->s, c->e[ei].id, x, &x, c->err);
    }
    if (rc) {
        free(xs);
        return rc;
    }
    for (size_t i = 0; i < n / 2; i++) {
        uint64_t t = xs[i];
        xs[i] = xs[n - 1 - i];
        xs[n - 1 - i] = t;
    }
    c->e[ei].xs = xs, c->e[ei].nx = n, c->e[ei].loaded = 1;
    return 0;
}

int etrace_is_asset(const evm_xfer_row *r, uint32_t asset)
{
    return r->token == asset;
}

/* The address's balance of asset just before transfer x, with the smallest opening balance
 * that keeps every stored moment non-negative (history before the first block is unknown: its
 * value is taken to be clean). *opening receives that opening. */
int etrace_balance_before(ctx *c, uint32_t ei, uint32_t asset, uint64_t x, evm_u256 *bal,
                          evm_u256 *opening)
{
    int rc = ent_load(c, ei);
    if (rc) return rc;
    ent *e = &c->e[ei];
    evm_u256 run = {{0}}, o = {{0}}, run_x = {{0}}, o_x = {{0}};
    int seen_x = 0;
    for (size_t i = 0; i < e->nx; i++) {
        if (e->xs[i] >= x && !seen_x) run_x = run, o_x = o, seen_x = 1;
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, e->xs[i], &r, c->err))) return rc;
        if (!etrace_is_asset(&r, asset) || r.from == r.to) continue;
        if (r.to == e->id) {
            if ((rc = etrace_add(c, &run, &r.amount))) return rc;
        } else if (r.from == e->id) {
            if (evm_u256_cmp(&run, &r.amount) < 0) {
                evm_u256 d;
                evm_u256_sub(&d, &r.amount, &run);
                if ((rc = etrace_add(c, &o, &d))) return rc;
                run = (evm_u256){{0}};
            } else {
                evm_u256_sub(&run, &run, &r.amount);
            }
        }
    }
    if (!seen_x) run_x = run, o_x = o;
    evm_u256 extra;
    evm_u256_sub(&extra, &o, &o_x);
    if ((rc = etrace_add(c, &run_x, &extra))) return rc;
    *bal = run_x, *opening = o;
    if (!evm_u256_is_zero(&o)) c->partial_history = 1;
    return 0;
}

/* ---- fifo queues ---- */

int etrace_q_push(ctx *c, ast *a, const evm_u256 *amt, int tainted, uint64_t src)
{
    if (evm_u256_is_zero(amt)) return 0;
    if (a->qn > a->qh) {
        seg *l = &a->q[a->qn - 1];
        if (l->tainted == tainted && l->src == src) return etrace_add(c, &l->amt, amt);
    }
    if (a->qh && a->qh * 2 >= a->qn) {
        memmove(a->q, a->q + a->qh, (a->qn - a->qh) * sizeof *a->q);
        a->qn -= a->qh, a->qh = 0;
    }
    if (util_grow((void **)&a->q, &a->qcap, a->qn + 1, sizeof *a->q, 8, SIZE_MAX))
        return etrace_oom(c);
    a->q[a->qn++] = (seg){*amt, src, tainted};
    return 0;
}

/* Take amt units from the front; *tainted receives how many of them were tainted. */
int etrace_q_take(ctx *c, ast *a, const evm_u256 *amt, evm_u256 *tainted)
{
    evm_u256 need = *amt;
    *tainted = (evm_u256){{0}};
    while (!evm_u256_is_zero(&need)) {
        if (a->qh == a->qn) return util_errf(c->err, UTIL_ECORRUPT, "fifo queue ran dry");
        seg *f = &a->q[a->qh];
        evm_u256 take = evm_u256_cmp(&f->amt, &need) < 0 ? f->amt : need;
        if (f->tainted && etrace_add(c, tainted, &take)) return UTIL_ECORRUPT;
        evm_u256_sub(&f->amt, &f->amt, &take);
        evm_u256_sub(&need, &need, &take);
        if (evm_u256_is_zero(&f->amt)) a->qh++;
    }
    return 0;
}

/* ---- the run ---- */

/* Every address: taint in = out + fees + held, per asset (forward). */
static int check_addresses(ctx *c)
{
    for (size_t i = 0; i < c->ne; i++)
        for (size_t k = 0; k < c->e[i].nas; k++) {
            ast *a = &c->e[i].as[k];
            evm_u256 r = a->t_out;
            if (evm_u256_add(&r, &r, &a->fees) || evm_u256_add(&r, &r, &a->taint) ||
                evm_u256_cmp(&r, &a->t_in))
                return util_errf(c->err, UTIL_ECORRUPT,
                                 "accounting broke at an address: taint in != out + fees + held");
        }
    return 0;
}

/* The limits that stopped taint, per asset (in the totals' order), from the buckets. Forward,
 * --until stops the pass and what addresses then hold is "held": that is the cut. */
static int fill_cuts(ctx *c, etrace_result *out)
{
    int fwd = c->o->direction == ETRACE_FORWARD;
    if (c->ntot && !(out->cut = calloc(c->ntot * TAINT_N_CUTS, sizeof *out->cut)))
        return etrace_oom(c);
    for (int k = 0; k < TAINT_N_CUTS; k++)
        for (size_t i = 0; i < c->ntot; i++) {
            const tot *t = &c->tot[i];
            int b = k == TAINT_CUT_HOPS        ? B_BEYOND_HOPS
                    : k == TAINT_CUT_MIN_VALUE ? B_BELOW_MIN
                    : k == TAINT_CUT_BUDGET    ? B_NOT_FOLLOWED
                    : fwd                      ? B_HELD
                                               : B_BEYOND_UNTIL;
            if (k == TAINT_CUT_UNTIL && fwd && !c->until_reached) continue;
            if (evm_u256_is_zero(&t->b[b])) continue;
            const char *unit =
                fwd && (b == B_HELD || b == B_NOT_FOLLOWED) ? "addresses" : "transfers";
            taint_cut *x = &out->cut[out->n_cut++];
            *x = (taint_cut){k, t->asset, {{0}}, t->n[b], etrace_bucket_name(b), unit};
            memcpy(x->amount.w, t->b[b].w, sizeof x->amount.w);
        }
    return 0;
}

int etrace_run_result(const evm_store *s, const labels_db *labels, const etrace_seeds *seeds,
                      const etrace_opts *o, etrace_result *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    if (!seeds || !seeds->n) return util_errf(err, UTIL_EINVAL, "no seeds to trace from");
    if ((o->hops < 1 || o->hops > ETRACE_MAX_HOPS) && o->hops != TAINT_NO_HOP_LIMIT)
        return util_errf(err, UTIL_EINVAL, "hops must be 1..%d (or no limit), not %u",
                         ETRACE_MAX_HOPS, o->hops);
    if (o->policy < 0 || o->policy > 2 || o->direction < 0 || o->direction > 1)
        return util_errf(err, UTIL_EINVAL, "unknown policy or direction");
    ctx c;
    memset(&c, 0, sizeof c);
    c.s = s, c.labels = labels, c.o = o, c.err = err;
    uint64_t nb, ntx, na;
    uint8_t tip[32];
    evm_store_tip(s, &c.first_block, &nb, tip);
    evm_store_counts(s, &ntx, &c.nx, &na);
    int rc = 0;
    seed_pair *sp = malloc(seeds->n * sizeof *sp);
    c.seeds = malloc(seeds->n * sizeof *c.seeds);
    c.seed_taint = malloc(seeds->n * sizeof *c.seed_taint);
    if (!sp || !c.seeds || !c.seed_taint) rc = etrace_oom(&c);
    if (!rc) {
        for (size_t i = 0; i < seeds->n; i++)
            sp[i] = (seed_pair){seeds->x[i], i};
        qsort(sp, seeds->n, sizeof *sp, cmp_seed_pair);
        c.nseeds = seeds->n;
        for (size_t i = 0; i < c.nseeds && !rc; i++) {
            evm_xfer_row r;
            c.seeds[i] = sp[i].x;
            if (c.seeds[i] >= c.nx)
                rc = util_errf(err, UTIL_EINVAL, "seed transfer %" PRIu64 " is not stored",
                               c.seeds[i]);
            else if (!(rc = evm_store_xfer(s, c.seeds[i], &r, err)) && r.from == r.to &&
                     r.from != NONE32)
                /* it moves nothing: there is no value to call tainted */
                rc = util_errf(err, UTIL_EINVAL,
                               "seed transfer %" PRIu64 " sends to its own sender", c.seeds[i]);
            if (rc) break;
            const evm_u256 *t = seeds->taint ? &seeds->taint[sp[i].at] : NULL;
            int whole = !t || (t->w[0] == UINT64_MAX && t->w[1] == UINT64_MAX &&
                               t->w[2] == UINT64_MAX && t->w[3] == UINT64_MAX);
            c.seed_taint[i] = whole ? r.amount : *t;
            if (!whole && evm_u256_cmp(t, &r.amount) > 0)
                rc = util_errf(err, UTIL_EINVAL,
                               "seed transfer %" PRIu64 ": its taint exceeds its amount",
                               c.seeds[i]);
        }
    }
    free(sp);
    if (!rc) rc = o->direction == ETRACE_FORWARD ? etrace_forward(&c) : etrace_backward(&c);
    if (!rc && o->direction == ETRACE_FORWARD) rc = check_addresses(&c);
    if (!rc) {
        for (size_t i = 0; i < c.ntot && !rc; i++) {
            evm_u256 in = {{0}}, outv = {{0}};
            for (int k = 0; k < NB; k++)
                if (evm_u256_add(k < B_FIRST_OUT ? &in : &outv, k < B_FIRST_OUT ? &in : &outv,
                                 &c.tot[i].b[k]))
                    rc = util_errf(err, UTIL_ECORRUPT, "totals exceed 2^256-1");
            if (!rc && evm_u256_cmp(&in, &outv))
                rc = util_errf(err, UTIL_ECORRUPT, "accounting broke: totals do not balance");
        }
    }
    if (!rc) rc = etrace_collect(&c, seeds, out);
    if (!rc) rc = fill_cuts(&c, out);
    for (size_t i = 0; i < c.ne; i++) {
        free(c.e[i].xs);
        for (size_t k = 0; k < c.e[i].nas; k++)
            free(c.e[i].as[k].q);
        free(c.e[i].as);
    }
    for (size_t i = 0; i < c.nep; i++)
        free(c.ep[i].path);
    free(c.e), free(c.hidx), free(c.tot), free(c.seeds), free(c.seed_taint), free(c.ep);
    free(c.h);
    free(c.edges), free(c.swaps), free(c.xc);
    return rc;
}

void etrace_result_free(etrace_result *res)
{
    if (!res) return;
    free(res->seeds);
    free(res->totals);
    free(res->cut);
    for (size_t i = 0; i < res->n_endpoints; i++)
        free(res->endpoints[i].path);
    free(res->endpoints);
    free(res->by_category);
    free(res->xchain);
    free(res->swaps);
    free(res->edges);
    for (size_t i = 0; i < res->n_addresses; i++)
        free(res->addresses[i].assets);
    free(res->addresses);
    free(res->actors);
    free(res->actor_addrs);
    memset(res, 0, sizeof *res);
}

int etrace_run(const evm_store *s, const labels_db *labels, const etrace_seeds *seeds,
               const etrace_opts *o, json_t **out, util_err *err)
{
    etrace_result res;
    int rc = etrace_run_result(s, labels, seeds, o, &res, err);
    if (!rc) rc = etrace_result_json(s, &res, out, err);
    etrace_result_free(&res);
    return rc;
}
