/* etrace: the backward pass: from the seeds back to the earlier transfers that explain their
 * value (kept apart from the forward pass; both use the helpers, entries and queues in
 * etrace.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace_int.h"

/* ---- backward ---- */

typedef struct pend {
    uint64_t x;
    evm_u256 taint;
    uint32_t depth;
    uint64_t parent; /* the later transfer whose taint this explains, NONE64 for a seed */
    int seed;
} pend;

typedef struct bctx {
    pend *p; /* open addressing on x; x == NONE64 empty */
    size_t cap, n;
    uint64_t *heap; /* max-heap of x */
    size_t hn, hcap;
} bctx;

static pend *pend_get(ctx *c, bctx *b, uint64_t x, int create)
{
    if (create && (b->n + 1) * 2 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        pend *np = malloc(nc * sizeof *np);
        if (!np) return etrace_oom(c), NULL;
        for (size_t i = 0; i < nc; i++)
            np[i].x = NONE64;
        for (size_t i = 0; i < b->cap; i++) {
            if (b->p[i].x == NONE64) continue;
            size_t k = etrace_mix((uint32_t)(b->p[i].x ^ b->p[i].x >> 32)) & (nc - 1);
            while (np[k].x != NONE64)
                k = (k + 1) & (nc - 1);
            np[k] = b->p[i];
        }
        free(b->p);
        b->p = np, b->cap = nc;
    }
    if (!b->cap) return NULL;
    size_t k = etrace_mix((uint32_t)(x ^ x >> 32)) & (b->cap - 1);
    while (b->p[k].x != NONE64) {
        if (b->p[k].x == x) return &b->p[k];
        k = (k + 1) & (b->cap - 1);
    }
    if (!create) return NULL;
    memset(&b->p[k], 0, sizeof b->p[k]);
    b->p[k].x = x, b->p[k].depth = NONE32, b->p[k].parent = NONE64;
    b->n++;
    if (util_grow((void **)&b->heap, &b->hcap, b->hn + 1, sizeof *b->heap, 8, SIZE_MAX))
        return etrace_oom(c), NULL;
    size_t i = b->hn++;
    while (i && b->heap[(i - 1) / 2] < x) {
        b->heap[i] = b->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    b->heap[i] = x;
    return &b->p[k];
}

static uint64_t bheap_pop(bctx *b)
{
    uint64_t top = b->heap[0], last = b->heap[--b->hn];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= b->hn) break;
        if (k + 1 < b->hn && b->heap[k + 1] > b->heap[k]) k++;
        if (b->heap[k] <= last) break;
        b->heap[i] = b->heap[k];
        i = k;
    }
    if (b->hn) b->heap[i] = last;
    return top;
}

/* The transfers from the seed to deposit x, seed first, into p->path. */
static int bwd_path(ctx *c, bctx *b, uint64_t x, ep *p)
{
    etrace_ref *v = NULL;
    size_t n = 0, cap = 0;
    /* a transfer's depth is above its parent's (both change together, only downward), so the
     * walk ends within the number of transfers reached, however deep */
    for (size_t guard = 0; x != NONE64 && guard <= b->n; guard++) {
        evm_xfer_row r;
        if (evm_store_xfer(c->s, x, &r, NULL)) break;
        if (util_grow((void **)&v, &cap, n + 1, sizeof *v, 8, SIZE_MAX)) {
            free(v);
            return etrace_oom(c);
        }
        v[n++] = etrace_ref_of(x, &r);
        pend *e = pend_get(c, b, x, 0);
        x = e ? e->parent : NONE64;
    }
    for (size_t i = 0; i < n / 2; i++) {
        etrace_ref t = v[i];
        v[i] = v[n - 1 - i], v[n - 1 - i] = t;
    }
    p->path = v, p->npath = n;
    return 0;
}

/* 1 if the block (row) is older than until_time, 0 if not, or an error. */
static int before_time(ctx *c, uint64_t row)
{
    evm_block_row b;
    int rc = evm_store_block(c->s, row, &b, c->err);
    return rc ? rc : b.timestamp < (uint64_t)c->o->until_time;
}

/* Give share of transfer x's taint to the earlier transfer y (the sender's receipt). */
static int give(ctx *c, bctx *b, const pend *from, const evm_xfer_row *xr, uint64_t y,
                const evm_u256 *share)
{
    if (evm_u256_is_zero(share)) return 0;
    evm_xfer_row r;
    int rc = evm_store_xfer(c->s, y, &r, c->err);
    if (rc) return rc;
    gx g = {.x = y, .r = r};
    uint32_t hop = from->depth + 1;
    const char *fate = NULL;
    int bk = -1;
    if (hop > c->o->hops)
        fate = "beyond_hops", bk = B_BEYOND_HOPS;
    else if (c->o->until >= 0 && c->first_block + r.block < (uint64_t)c->o->until)
        fate = "beyond_until", bk = B_BEYOND_UNTIL;
    else if (c->o->until_time >= 0 && (rc = before_time(c, r.block)) != 0) {
        if (rc < 0) return rc;
        fate = "beyond_until", bk = B_BEYOND_UNTIL;
    } else if (evm_u256_cmp(share, &c->o->min_value) < 0)
        fate = "below_min_value", bk = B_BELOW_MIN;
    (void)xr;
    if (fate) {
        if ((rc = etrace_bucket(c, r.token, bk, share))) return rc;
        return etrace_add_edge(c, &g, share, hop, fate);
    }
    uint64_t parent = from->x;
    uint32_t depth = from->depth;
    pend *p = pend_get(c, b, y, 1);
    if (!p) return etrace_oom(c);
    if (p->seed) {
        if ((rc = etrace_bucket(c, r.token, B_OVERLAP, share))) return rc;
        return etrace_add_edge(c, &g, share, hop, "overlap");
    }
    /* A transfer is at most fully tainted: several later transfers can name the same units
     * (the prefix rule of fifo, poison, haircut's rounding); the excess is overlap. */
    evm_u256 room, take = *share;
    evm_u256_sub(&room, &r.amount, &p->taint);
    if (evm_u256_cmp(&take, &room) > 0) {
        evm_u256 over;
        evm_u256_sub(&over, &take, &room);
        if ((rc = etrace_bucket(c, r.token, B_OVERLAP, &over))) return rc;
        take = room;
    }
    if (evm_u256_is_zero(&take)) return etrace_add_edge(c, &g, share, hop, "overlap");
    if ((rc = etrace_add(c, &p->taint, &take))) return rc;
    if (depth + 1 < p->depth) p->depth = depth + 1, p->parent = parent;
    return etrace_add_edge(c, &g, &take, hop, "followed");
}

/* Where transfer x's taint came from: its sender's earlier receipts of the asset. */
static int explain(ctx *c, bctx *b, pend cur, const evm_xfer_row *xr)
{
    uint32_t ei;
    int rc;
    if ((rc = etrace_ent_get(c, xr->from, &ei))) return rc;
    evm_u256 bal, opening;
    if ((rc = etrace_balance_before(c, ei, xr->token, cur.x, &bal, &opening))) return rc;
    ent *e = &c->e[ei];
    uint32_t asset = xr->token;
    evm_u256 t = cur.taint;
    /* the sender's transfers of the asset before x, ascending */
    size_t hi = 0;
    while (hi < e->nx && e->xs[hi] < cur.x)
        hi++;
    if (c->o->policy == ETRACE_HAIRCUT) {
        evm_u256 B = bal;
        for (size_t i = hi; i-- > 0 && !evm_u256_is_zero(&t);) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(c->s, e->xs[i], &r, c->err))) return rc;
            if (!etrace_is_asset(&r, asset) || r.from == r.to) continue;
            if (r.to == e->id) {
                evm_u256 q = t, rem;
                if (evm_u256_cmp(&r.amount, &B) < 0 && etrace_muldiv(&q, &rem, &t, &r.amount, &B))
                    return util_errf(c->err, UTIL_ECORRUPT, "haircut share out of range");
                evm_u256_sub(&t, &t, &q);
                if ((rc = etrace_sub(c, &B, &r.amount, "a balance walked back"))) return rc;
                if ((rc = give(c, b, &cur, xr, e->xs[i], &q))) return rc;
            } else if ((rc = etrace_add(c, &B, &r.amount))) {
                return rc;
            }
        }
        return etrace_bucket(c, asset, B_BEFORE_STORE, &t);
    }
    if (c->o->policy == ETRACE_POISON) {
        evm_u256 sum = {{0}};
        for (size_t i = 0; i < hi; i++) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(c->s, e->xs[i], &r, c->err))) return rc;
            if (!etrace_is_asset(&r, asset) || r.from == r.to || r.to != e->id) continue;
            if ((rc = etrace_add(c, &sum, &r.amount)) ||
                (rc = give(c, b, &cur, xr, e->xs[i], &r.amount)))
                return rc;
        }
        evm_u256 d;
        if (evm_u256_cmp(&sum, &t) >= 0) {
            evm_u256_sub(&d, &sum, &t);
            return etrace_bucket(c, asset, B_POISON_ADDED, &d);
        }
        evm_u256_sub(&d, &t, &sum);
        return etrace_bucket(c, asset, B_BEFORE_STORE, &d);
    }
    /* fifo: rebuild the sender's queue up to x; x's tainted units are its first ones */
    ast q;
    memset(&q, 0, sizeof q);
    rc = etrace_q_push(c, &q, &opening, 0, NONE64);
    for (size_t i = 0; !rc && i < hi; i++) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, e->xs[i], &r, c->err))) break;
        if (!etrace_is_asset(&r, asset) || r.from == r.to) continue;
        evm_u256 dummy;
        if (r.to == e->id)
            rc = etrace_q_push(c, &q, &r.amount, 0, e->xs[i]);
        else
            rc = etrace_q_take(c, &q, &r.amount, &dummy);
    }
    while (!rc && !evm_u256_is_zero(&t)) {
        if (q.qh == q.qn) {
            rc = util_errf(c->err, UTIL_ECORRUPT, "fifo: transfer exceeds the queue");
            break;
        }
        seg *f = &q.q[q.qh];
        evm_u256 take = evm_u256_cmp(&f->amt, &t) < 0 ? f->amt : t;
        evm_u256_sub(&t, &t, &take);
        evm_u256_sub(&f->amt, &f->amt, &take);
        if (evm_u256_is_zero(&f->amt)) q.qh++;
        rc = f->src == NONE64 ? etrace_bucket(c, asset, B_BEFORE_STORE, &take)
                              : give(c, b, &cur, xr, f->src, &take);
    }
    free(q.q);
    return rc;
}

int etrace_backward(ctx *c)
{
    bctx b;
    memset(&b, 0, sizeof b);
    int rc = 0;
    for (size_t i = 0; i < c->nseeds && !rc; i++) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, c->seeds[i], &r, c->err))) break;
        pend *p = pend_get(c, &b, c->seeds[i], 1);
        if (!p) {
            rc = etrace_oom(c);
            break;
        }
        p->taint = etrace_seed_taint(c, c->seeds[i]), p->depth = 0, p->seed = 1;
        rc = etrace_bucket(c, r.token, B_SEEDED, &p->taint);
    }
    while (!rc && b.hn) {
        uint64_t x = bheap_pop(&b);
        pend cur = *pend_get(c, &b, x, 0);
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, x, &r, c->err))) break;
        if (c->visited >= c->o->max_xfers) {
            c->partial = 1, c->reason = "the transfer cap (max_xfers) was reached";
            rc = etrace_bucket(c, r.token, B_NOT_FOLLOWED, &cur.taint);
            while (!rc && b.hn) {
                uint64_t y = bheap_pop(&b);
                pend *p = pend_get(c, &b, y, 0);
                if ((rc = evm_store_xfer(c->s, y, &r, c->err))) break;
                rc = etrace_bucket(c, r.token, B_NOT_FOLLOWED, &p->taint);
            }
            break;
        }
        c->visited++;
        if (evm_u256_is_zero(&cur.taint)) continue;
        if (r.from == NONE32) { /* a reward or withdrawal: newly issued value */
            rc = etrace_bucket(c, r.token, B_MINTED, &cur.taint);
            continue;
        }
        uint32_t si;
        if ((rc = etrace_ent_get(c, r.from, &si))) break;
        if (!cur.seed && etrace_stop_of(c, si)) {
            if ((rc = etrace_bucket(c, r.token, B_TO_ENDPOINTS, &cur.taint))) break;
            ep *p = NULL;
            for (size_t i = 0; i < c->nep; i++)
                if (c->ep[i].ent == si && c->ep[i].asset == r.token) p = &c->ep[i];
            if (!p) {
                ep *n = realloc(c->ep, (c->nep + 1) * sizeof *n);
                if (!n) {
                    rc = etrace_oom(c);
                    break;
                }
                c->ep = n;
                p = &n[c->nep++];
                memset(p, 0, sizeof *p);
                p->ent = si, p->asset = r.token;
                if ((rc = bwd_path(c, &b, x, p))) break;
            }
            p->deposits++;
            rc = etrace_add(c, &p->amount, &cur.taint);
            continue;
        }
        if (c->o->frontier && cur.depth >= c->o->hops) {
            /* explaining it would only walk its sender's history into beyond_hops */
            rc = etrace_bucket(c, r.token, B_BEYOND_HOPS, &cur.taint);
            continue;
        }
        rc = explain(c, &b, cur, &r);
    }
    free(b.p);
    free(b.heap);
    return rc;
}
