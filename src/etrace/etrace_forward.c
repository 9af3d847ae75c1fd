/* etrace: the forward pass: taint pushed from the seeds through later transfers, transaction
 * by transaction, under the chosen policy (kept apart from the backward pass; both use the
 * helpers, entries and queues in etrace.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace_int.h"

/* ---- forward ---- */

static ast *ast_find(ent *e, uint32_t asset)
{
    for (size_t i = 0; i < e->nas; i++)
        if (e->as[i].asset == asset) return &e->as[i];
    return NULL;
}

static int heap_push(ctx *c, uint64_t x, uint32_t e)
{
    if (util_grow((void **)&c->h, &c->hcap2, c->hn + 1, sizeof *c->h, 8, SIZE_MAX))
        return etrace_oom(c);
    size_t i = c->hn++;
    while (i && c->h[(i - 1) / 2].x > x) {
        c->h[i] = c->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->h[i] = (heap_item){x, e};
    return 0;
}

static heap_item heap_pop(ctx *c)
{
    heap_item top = c->h[0], last = c->h[--c->hn];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= c->hn) break;
        if (k + 1 < c->hn && c->h[k + 1].x < c->h[k].x) k++;
        if (c->h[k].x >= last.x) break;
        c->h[i] = c->h[k];
        i = k;
    }
    if (c->hn) c->h[i] = last;
    return top;
}

/* Queue the address's next transfer after `after` (if any). */
static int ent_schedule(ctx *c, uint32_t ei, uint64_t after)
{
    ent *e = &c->e[ei];
    while (e->cur < e->nx && e->xs[e->cur] <= after)
        e->cur++;
    return e->cur < e->nx ? heap_push(c, e->xs[e->cur], ei) : 0;
}

/* Start tracking asset at address ei just before transfer x. */
static int ast_open(ctx *c, uint32_t ei, uint32_t asset, uint64_t x, ast **out)
{
    ast *a = ast_find(&c->e[ei], asset);
    if (a) return *out = a, 0;
    evm_u256 bal, opening;
    int rc = etrace_balance_before(c, ei, asset, x, &bal, &opening);
    if (rc) return rc;
    ent *e = &c->e[ei];
    a = realloc(e->as, (e->nas + 1) * sizeof *a);
    if (!a) return etrace_oom(c);
    e->as = a;
    a = &e->as[e->nas++];
    memset(a, 0, sizeof *a);
    a->asset = asset, a->bal = bal;
    if (c->o->policy == ETRACE_FIFO && (rc = etrace_q_push(c, a, &bal, 0, NONE64))) return rc;
    if (!e->tracked) {
        e->tracked = 1;
        if ((rc = ent_schedule(c, ei, x))) return rc;
    }
    return *out = a, 0;
}

typedef struct swp {
    uint32_t ent, a_asset, b_asset;
    evm_u256 a_sent, a_taint, b_recv;
} swp;

/* Haircut: the run of transfers the sender makes of this asset in this tx before it receives
 * any, shared by largest remainder with the rest of the balance as the last bucket. */
static int haircut_run(ctx *c, gx *g, size_t n, size_t i, ast *a)
{
    uint32_t from = g[i].r.from, asset = g[i].r.token;
    size_t *mem = NULL, k = 0, cap = 0;
    evm_u256 sum = {{0}};
    int rc = 0;
    for (size_t j = i; j < n; j++) {
        const evm_xfer_row *r = &g[j].r;
        if (r->token != asset || (g[j].deferred && j != i)) continue;
        if (r->to == from) break;
        if (r->from != from) continue;
        if (util_grow((void **)&mem, &cap, k + 1, sizeof *mem, 8, SIZE_MAX)) return etrace_oom(c);
        mem[k++] = j;
        if ((rc = etrace_add(c, &sum, &r->amount))) goto out;
    }
    if (evm_u256_cmp(&sum, &a->bal) > 0) {
        rc = util_errf(c->err, UTIL_ECORRUPT, "transfers exceed the balance they come from");
        goto out;
    }
    evm_u256 *rem = calloc(k + 1, sizeof *rem), *q = calloc(k + 1, sizeof *q);
    int *got = calloc(k + 1, sizeof *got);
    if (!rem || !q || !got) {
        free(rem), free(q), free(got);
        rc = etrace_oom(c);
        goto out;
    }
    evm_u256 given = {{0}}, rest;
    evm_u256_sub(&rest, &a->bal, &sum);
    for (size_t b = 0; b <= k && !evm_u256_is_zero(&a->bal); b++) {
        const evm_u256 *amt = b < k ? &g[mem[b]].r.amount : &rest;
        etrace_muldiv(&q[b], &rem[b], &a->taint, amt, &a->bal);
        evm_u256_add(&given, &given, &q[b]);
    }
    evm_u256 left;
    evm_u256_sub(&left, &a->taint, &given);
    /* left < k + 1 (each bucket dropped less than one unit). */
    evm_u256 one = {{1, 0, 0, 0}};
    for (uint64_t l = left.w[0]; l > 0 && !evm_u256_is_zero(&a->bal); l--) {
        size_t best = k + 1;
        for (size_t b = 0; b <= k; b++)
            if (!got[b] && (best == k + 1 || evm_u256_cmp(&rem[b], &rem[best]) > 0)) best = b;
        got[best] = 1;
        evm_u256_add(&q[best], &q[best], &one);
    }
    for (size_t b = 0; b < k; b++)
        g[mem[b]].has_share = 1, g[mem[b]].share = q[b];
    free(rem), free(q), free(got);
out:
    free(mem);
    return rc;
}

/* The transfers from a seed to the address's deposit, seed first, into p->path. */
static int fwd_path(ctx *c, uint32_t sender, const gx *g, ep *p)
{
    etrace_ref *v = NULL;
    size_t n = 0, cap = 0;
    if (util_grow((void **)&v, &cap, n + 1, sizeof *v, 8, SIZE_MAX)) return etrace_oom(c);
    v[n++] = etrace_ref_of(g->x, &g->r);
    /* an address's depth is above its via_from's (both change together, only downward), so
     * the walk ends within the number of addresses, however deep: no hop limit bounds it */
    uint32_t e = sender;
    for (size_t guard = 0; e != NONE32 && guard <= c->ne; guard++) {
        ent *en = &c->e[e];
        if (en->via == NONE64) break;
        evm_xfer_row r;
        if (evm_store_xfer(c->s, en->via, &r, NULL)) break;
        if (util_grow((void **)&v, &cap, n + 1, sizeof *v, 8, SIZE_MAX)) {
            free(v);
            return etrace_oom(c);
        }
        v[n++] = etrace_ref_of(en->via, &r);
        e = en->via_from;
    }
    for (size_t i = 0; i < n / 2; i++) {
        etrace_ref t = v[i];
        v[i] = v[n - 1 - i], v[n - 1 - i] = t;
    }
    p->path = v, p->npath = n;
    return 0;
}

static int endpoint(ctx *c, uint32_t ei, uint32_t sender, const gx *g, const evm_u256 *t,
                    uint64_t timestamp)
{
    ep *p = NULL;
    for (size_t i = 0; i < c->nep; i++)
        if (c->ep[i].ent == ei && c->ep[i].asset == g->r.token) p = &c->ep[i];
    if (!p) {
        ep *n = realloc(c->ep, (c->nep + 1) * sizeof *n);
        if (!n) return etrace_oom(c);
        c->ep = n;
        p = &n[c->nep++];
        memset(p, 0, sizeof *p);
        p->ent = ei, p->asset = g->r.token;
        int rc = fwd_path(c, sender, g, p);
        if (rc) return rc;
    }
    p->deposits++;
    int rc = etrace_add(c, &p->amount, t);
    if (rc) return rc;
    const labels_label *l = c->e[ei].stop;
    if (etrace_cross_chain_category(l->category)) {
        /* The hook for cross-chain composition: what entered a bridge or router, when. */
        if (util_grow((void **)&c->xc, &c->xccap, c->nxc + 1, sizeof *c->xc, 8, SIZE_MAX))
            return etrace_oom(c);
        etrace_xchain *x = &c->xc[c->nxc++];
        memset(x, 0, sizeof *x);
        x->endpoint = c->e[ei].id;
        x->label = l;
        x->xfer = g->x;
        evm_tx_row tr;
        if (g->r.tx != NONE64 && !evm_store_tx(c->s, g->r.tx, &tr, NULL)) {
            x->has_tx = 1;
            memcpy(x->tx_hash, tr.hash, 32);
            x->index = g->x - tr.first_xfer;
        }
        x->block = c->first_block + g->r.block;
        x->timestamp = timestamp;
        x->from = g->r.from;
        x->asset = g->r.token;
        x->amount = g->r.amount;
        x->taint = *t;
    }
    return 0;
}

/* A clean credit to an address that may hold the asset's taint. */
static int credit_clean(ctx *c, const gx *g)
{
    uint32_t ei = etrace_ent_find(c, g->r.to);
    ast *a = ei == NONE32 ? NULL : ast_find(&c->e[ei], g->r.token);
    if (!a) return 0;
    int rc = etrace_add(c, &a->bal, &g->r.amount);
    if (!rc && c->o->policy == ETRACE_FIFO) rc = etrace_q_push(c, a, &g->r.amount, 0, NONE64);
    if (!rc && c->o->policy == ETRACE_POISON && !evm_u256_is_zero(&a->taint)) {
        /* A poisoned pool taints whatever joins it. */
        if (!(rc = etrace_add(c, &a->taint, &g->r.amount)) &&
            !(rc = etrace_add(c, &a->t_in, &g->r.amount)))
            rc = etrace_bucket(c, g->r.token, B_POISON_ADDED, &g->r.amount);
    }
    return rc;
}

/* Credit transfer g's receiver with taint t arriving at hop `hop` (seed: hop 0). */
static int credit(ctx *c, const gx *g, uint32_t sender, evm_u256 t, uint32_t hop, int seed,
                  uint64_t timestamp)
{
    int rc;
    uint32_t asset = g->r.token;
    if (evm_u256_is_zero(&t)) return credit_clean(c, g);
    if (g->r.to == NONE32) { /* a fee, or a creation whose contract is unknown */
        if (g->r.kind != EVM_XFER_FEE) {
            if ((rc = etrace_bucket(c, asset, B_HELD, &t))) return rc;
            return etrace_add_edge(c, g, &t, hop, "no_receiver");
        }
        return etrace_bucket(c, asset, B_FEES, &t);
    }
    uint32_t ri;
    if ((rc = etrace_ent_get(c, g->r.to, &ri))) return rc;
    const char *fate = NULL;
    int b = -1;
    if (!seed && hop > c->o->hops)
        fate = "beyond_hops", b = B_BEYOND_HOPS;
    else if (!seed && etrace_stop_of(c, ri))
        fate = "endpoint", b = B_TO_ENDPOINTS;
    else if (!seed && evm_u256_cmp(&t, &c->o->min_value) < 0)
        fate = "below_min_value", b = B_BELOW_MIN;
    if (fate) {
        if ((rc = etrace_bucket(c, asset, b, &t)) || (rc = etrace_add_edge(c, g, &t, hop, fate)))
            return rc;
        if (b == B_TO_ENDPOINTS && (rc = endpoint(c, ri, sender, g, &t, timestamp))) return rc;
        return credit_clean(c, g);
    }
    ent *r = &c->e[ri];
    if (!seed && c->o->frontier && hop == c->o->hops && !ast_find(r, asset)) {
        if (hop < r->depth) r->depth = hop, r->via = g->x, r->via_from = sender;
        if ((rc = etrace_bucket(c, asset, B_BEYOND_HOPS, &t))) return rc;
        return etrace_add_edge(c, g, &t, hop, "followed");
    }
    ast *a = NULL;
    if ((rc = ast_open(c, ri, asset, g->x, &a))) return rc;
    r = &c->e[ri]; /* ast_open may grow the entity's assets, not the entities */
    if (c->o->policy == ETRACE_POISON) {
        evm_u256 clean, added;
        evm_u256_sub(&clean, &a->bal, &a->taint);
        evm_u256_sub(&added, &g->r.amount, &t);
        if ((rc = etrace_add(c, &added, &clean)) ||
            (rc = etrace_bucket(c, asset, B_POISON_ADDED, &added)) ||
            (rc = etrace_add(c, &a->t_in, &added)))
            return rc;
        if ((rc = etrace_add(c, &a->bal, &g->r.amount))) return rc;
        a->taint = a->bal;
    } else {
        evm_u256 clean;
        evm_u256_sub(&clean, &g->r.amount, &t);
        if ((rc = etrace_add(c, &a->bal, &g->r.amount)) || (rc = etrace_add(c, &a->taint, &t)))
            return rc;
        if (c->o->policy == ETRACE_FIFO && ((rc = etrace_q_push(c, a, &t, 1, NONE64)) ||
                                            (rc = etrace_q_push(c, a, &clean, 0, NONE64))))
            return rc;
    }
    if ((rc = etrace_add(c, &a->t_in, &t))) return rc;
    if (hop < r->depth) r->depth = hop, r->via = g->x, r->via_from = seed ? NONE32 : sender;
    return etrace_add_edge(c, g, &t, hop, "followed");
}

/* Debit g's sender (if it holds the asset's taint): the taint the transfer takes. */
static int debit(ctx *c, gx *g, size_t n, size_t i, evm_u256 *t, uint32_t *sender)
{
    *t = (evm_u256){{0}};
    *sender = etrace_ent_find(c, g[i].r.from);
    ast *a = *sender == NONE32 ? NULL : ast_find(&c->e[*sender], g[i].r.token);
    if (!a) return 0;
    const evm_u256 *amt = &g[i].r.amount;
    int rc;
    if (g[i].r.to == g[i].r.from) { /* to itself: the taint stays, in the same place */
        return 0;
    }
    if (evm_u256_cmp(amt, &a->bal) > 0)
        return util_errf(c->err, UTIL_ECORRUPT, "transfer %" PRIu64 " exceeds its sender's balance",
                         g[i].x);
    switch (c->o->policy) {
    case ETRACE_POISON:
        *t = evm_u256_is_zero(&a->taint) ? (evm_u256){{0}} : *amt;
        break;
    case ETRACE_HAIRCUT:
        if (!g[i].has_share && (rc = haircut_run(c, g, n, i, a))) return rc;
        *t = g[i].share;
        break;
    case ETRACE_FIFO:
        if ((rc = etrace_q_take(c, a, amt, t))) return rc;
        break;
    }
    if ((rc = etrace_sub(c, &a->bal, amt, "a balance")) ||
        (rc = etrace_sub(c, &a->taint, t, "a taint")))
        return rc;
    return etrace_add(c, g[i].r.kind == EVM_XFER_FEE ? &a->fees : &a->t_out, t);
}

static int process_one(ctx *c, gx *g, size_t n, size_t i, swp *sw, uint64_t ts,
                       const evm_u256 *extra)
{
    evm_u256 t;
    uint32_t sender;
    int rc = debit(c, g, n, i, &t, &sender);
    if (rc) return rc;
    if (g[i].r.to == g[i].r.from && sender != NONE32 && !etrace_is_seed(c, g[i].x)) return 0;
    uint32_t hop = sender == NONE32 || c->e[sender].depth == NONE32 ? 1 : c->e[sender].depth + 1;
    if (etrace_is_seed(c, g[i].x)) {
        if ((rc = etrace_bucket(c, g[i].r.token, B_OVERLAP, &t))) return rc;
        evm_u256 st = etrace_seed_taint(c, g[i].x);
        if ((rc = etrace_bucket(c, g[i].r.token, B_SEEDED, &st))) return rc;
        return credit(c, &g[i], sender, st, 0, 1, ts);
    }
    if (g[i].swap && !evm_u256_is_zero(&t)) {
        swp *s = &sw[g[i].swap - 1];
        if ((rc = etrace_add(c, &s->a_taint, &t)) ||
            (rc = etrace_bucket(c, g[i].r.token, B_SWAPPED_OUT, &t)) ||
            (rc = etrace_add_edge(c, &g[i], &t, hop, "swapped")))
            return rc;
        return credit_clean(c, &g[i]);
    }
    if (extra) { /* a swap's converted taint joins what the sender passed on */
        if ((rc = etrace_add(c, &t, extra))) return rc;
        if (evm_u256_cmp(&t, &g[i].r.amount) > 0) {
            evm_u256 over;
            evm_u256_sub(&over, &t, &g[i].r.amount);
            if ((rc = etrace_bucket(c, g[i].r.token, B_OVERLAP, &over))) return rc;
            t = g[i].r.amount;
        }
        /* a conversion is not a hop: the receiver keeps its own depth */
        uint32_t ri = etrace_ent_find(c, g[i].r.to);
        if (ri != NONE32 && c->e[ri].depth != NONE32) hop = c->e[ri].depth;
    }
    return credit(c, &g[i], sender, t, hop, 0, ts);
}

/* Swaps in a group: an address holding taint that sends exactly one asset (fees aside) and
 * receives exactly one other one. */
static int find_swaps(ctx *c, gx *g, size_t n, swp **out, size_t *nout)
{
    *out = NULL, *nout = 0;
    if (n < 2 || g[0].r.tx == NONE64) return 0;
    for (size_t i = 0; i < n; i++) {
        const evm_xfer_row *r = &g[i].r;
        if (r->kind == EVM_XFER_FEE || r->from == r->to) continue;
        uint32_t ei = etrace_ent_find(c, r->from);
        if (ei == NONE32) continue;
        ast *a = ast_find(&c->e[ei], r->token);
        if (!a || evm_u256_is_zero(&a->taint)) continue;
        int seen = 0;
        for (size_t k = 0; k < *nout; k++)
            if ((*out)[k].ent == ei) seen = 1;
        if (seen) continue;
        uint32_t sent = r->token, recv = NONE32;
        int ok = 1;
        evm_u256 s_amt = {{0}}, r_amt = {{0}};
        for (size_t j = 0; j < n && ok; j++) {
            const evm_xfer_row *q = &g[j].r;
            if (q->kind == EVM_XFER_FEE || q->from == q->to) continue;
            if (q->from == r->from) {
                if (q->token != sent)
                    ok = 0;
                else
                    evm_u256_add(&s_amt, &s_amt, &q->amount);
            } else if (q->to == r->from) {
                if (q->token == sent || (recv != NONE32 && q->token != recv)) ok = 0;
                recv = q->token;
                evm_u256_add(&r_amt, &r_amt, &q->amount);
            }
        }
        if (!ok || recv == NONE32 || evm_u256_is_zero(&s_amt)) continue;
        swp *ns = realloc(*out, (*nout + 1) * sizeof *ns);
        if (!ns) return etrace_oom(c);
        *out = ns;
        ns[*nout] = (swp){ei, sent, recv, s_amt, {{0}}, r_amt};
        for (size_t j = 0; j < n; j++) {
            const evm_xfer_row *q = &g[j].r;
            if (q->kind == EVM_XFER_FEE || q->from == q->to) continue;
            if (q->from == r->from && !etrace_is_seed(c, g[j].x)) g[j].swap = (int)*nout + 1;
            if (q->to == r->from && !etrace_is_seed(c, g[j].x)) g[j].deferred = (int)*nout + 1;
        }
        (*nout)++;
    }
    return 0;
}

static int process_group(ctx *c, gx *g, size_t n, uint64_t ts)
{
    swp *sw;
    size_t nsw;
    int rc = find_swaps(c, g, n, &sw, &nsw);
    for (size_t i = 0; !rc && i < n; i++)
        if (!g[i].deferred) rc = process_one(c, g, n, i, sw, ts, NULL);
    /* The received side of each swap, its share of the converted taint by amount. */
    for (size_t i = 0; !rc && i < n; i++) {
        if (!g[i].deferred) continue;
        swp *s = &sw[g[i].deferred - 1];
        evm_u256 conv = {{0}}, r;
        if (!evm_u256_is_zero(&s->a_taint)) {
            etrace_muldiv(&conv, &r, &g[i].r.amount, &s->a_taint, &s->a_sent);
            if ((rc = etrace_bucket(c, g[i].r.token, B_SWAPPED_IN, &conv))) break;
            etrace_swap sr = {.address = c->e[s->ent].id,
                              .ref = etrace_ref_of(g[i].x, &g[i].r),
                              .sent_asset = s->a_asset,
                              .received_asset = s->b_asset,
                              .sent = s->a_sent,
                              .sent_taint = s->a_taint,
                              .received = g[i].r.amount,
                              .received_taint = conv};
            if ((rc = etrace_add_swap(c, &sr))) break;
        }
        rc = process_one(c, g, n, i, sw, ts, &conv);
    }
    free(sw);
    return rc;
}

int etrace_forward(ctx *c)
{
    int rc = 0;
    for (size_t i = 0; i < c->nseeds && !rc; i++)
        rc = heap_push(c, c->seeds[i], NONE32);
    uint64_t done = 0;
    int any = 0;
    gx *g = NULL;
    size_t gcap = 0;
    while (!rc && c->hn) {
        heap_item it = heap_pop(c);
        if (any && it.x <= done) {
            if (it.e != NONE32) rc = ent_schedule(c, it.e, done);
            continue;
        }
        size_t n = 0;
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, it.x, &r, c->err))) break;
        if (c->o->until >= 0 && c->first_block + r.block > (uint64_t)c->o->until) {
            c->until_reached = 1;
            break;
        }
        for (uint64_t x = it.x; x < c->nx; x++) {
            if (x > it.x && (rc = evm_store_xfer(c->s, x, &r, c->err))) break;
            if (n && (r.tx == NONE64 || r.tx != g[0].r.tx)) break;
            if (util_grow((void **)&g, &gcap, n + 1, sizeof *g, 8, SIZE_MAX)) {
                rc = etrace_oom(c);
                break;
            }
            memset(&g[n], 0, sizeof *g);
            g[n].x = x, g[n].r = r;
            n++;
            if (r.tx == NONE64) break;
        }
        if (rc) break;
        if (c->visited + n > c->o->max_xfers) {
            c->partial = 1, c->reason = "the transfer cap (max_xfers) was reached";
            break;
        }
        evm_block_row b;
        if ((rc = evm_store_block(c->s, g[0].r.block, &b, c->err))) break;
        if (c->o->until_time >= 0 && b.timestamp > (uint64_t)c->o->until_time) {
            c->until_reached = 1;
            break;
        }
        c->visited += n;
        if ((rc = process_group(c, g, n, b.timestamp))) break;
        done = g[n - 1].x, any = 1;
        if (it.e != NONE32) rc = ent_schedule(c, it.e, done);
    }
    free(g);
    if (rc) return rc;
    /* What addresses still hold. */
    for (size_t i = 0; i < c->ne && !rc; i++)
        for (size_t k = 0; k < c->e[i].nas && !rc; k++)
            rc = etrace_bucket(c, c->e[i].as[k].asset, c->partial ? B_NOT_FOLLOWED : B_HELD,
                               &c->e[i].as[k].taint);
    return rc;
}
