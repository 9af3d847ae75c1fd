/* etrace: the propagation (forward and backward) and its JSON document. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace.h"

#include "../labels/labels_services.h"
#include "../util/util_vec.h"

#define NONE32 UINT32_MAX
#define NONE64 UINT64_MAX

/* Totals buckets: the first three bring taint in, the rest are where it ends. */
enum {
    B_SEEDED,
    B_POISON_ADDED,
    B_SWAPPED_IN,
    B_TO_ENDPOINTS,
    B_HELD,
    B_FEES,
    B_BELOW_MIN,
    B_BEYOND_HOPS,
    B_BEYOND_UNTIL,
    B_SWAPPED_OUT,
    B_OVERLAP,
    B_MINTED,
    B_BEFORE_STORE,
    B_NOT_FOLLOWED,
    NB
};
_Static_assert(NB <= TAINT_LEDGER_MAX, "the totals fit a taint_ledger");
#define B_FIRST_OUT B_TO_ENDPOINTS
static const char *const bucket_names[NB] = {
    "seeded",  "poison_added",    "swapped_in",   "to_endpoints", "held",
    "fees",    "below_min_value", "beyond_hops",  "beyond_until", "swapped_out",
    "overlap", "minted",          "before_store", "not_followed"};

typedef struct seg {
    evm_u256 amt;
    uint64_t src; /* backward fifo: the receipt the units came from (NONE64: the opening) */
    int tainted;
} seg;

/* One asset of one address. Forward: balance and taint (poison: taint == bal once tainted),
 * the fifo queue, and the address's own accounting. */
typedef struct ast {
    uint32_t asset;
    evm_u256 bal, taint, t_in, t_out, fees;
    seg *q;
    size_t qh, qn, qcap;
} ast;

typedef struct ent {
    uint32_t id;
    int stop_known;
    const labels_label *stop; /* the label that makes it an endpoint, or NULL */
    int tracked;
    uint32_t depth;    /* forward: hops from a seed to this address; NONE32 unset */
    uint64_t via;      /* the transfer that set depth */
    uint32_t via_from; /* its sender's entry, NONE32 for a seed */
    uint64_t *xs;      /* every transfer of the address, ascending (loaded on demand) */
    size_t nx, cur;
    int loaded;
    ast *as;
    size_t nas;
} ent;

typedef struct tot {
    uint32_t asset;
    evm_u256 b[NB];
} tot;

typedef struct ep {
    uint32_t ent, asset;
    evm_u256 amount;
    uint64_t deposits;
    json_t *path;
} ep;

typedef struct heap_item {
    uint64_t x;
    uint32_t e;
} heap_item;

typedef struct ctx {
    const evm_store *s;
    const labels_db *labels;
    const etrace_opts *o;
    util_err *err;
    uint64_t first_block, nx;
    ent *e;
    size_t ne, ecap;
    uint32_t *hidx; /* address id -> entry index + 1 (open addressing) */
    size_t hcap;
    tot *tot;
    size_t ntot;
    uint64_t *seeds; /* sorted */
    size_t nseeds;
    ep *ep;
    size_t nep;
    json_t *edges, *swaps;
    etrace_xchain *xc; /* the cross-chain records, in the order they happened */
    size_t nxc, xccap;
    uint64_t visited;
    int partial, partial_history, until_reached;
    const char *reason;
    heap_item *h;
    size_t hn, hcap2;
} ctx;

/* ---- small helpers ---- */

static int oom(ctx *c)
{
    return util_errf(c->err, UTIL_ENOMEM, "out of memory during the trace");
}

static int add(ctx *c, evm_u256 *acc, const evm_u256 *v)
{
    if (evm_u256_add(acc, acc, v))
        return util_errf(c->err, UTIL_ECORRUPT, "taint sum exceeds 2^256-1");
    return 0;
}

static int sub(ctx *c, evm_u256 *acc, const evm_u256 *v, const char *what)
{
    if (evm_u256_sub(acc, acc, v))
        return util_errf(c->err, UTIL_ECORRUPT, "accounting broke: %s would go negative", what);
    return 0;
}

static json_t *u256_json(const evm_u256 *v)
{
    char d[EVM_U256_DEC_MAX];
    evm_u256_format(d, v);
    return json_string(d);
}

static json_t *addr_json(ctx *c, uint32_t id)
{
    uint8_t a[20];
    if (id == NONE32 || evm_store_addr(c->s, id, a, NULL)) return json_null();
    char t[43];
    evm_addr_eip55(t, a);
    return json_string(t);
}

static void asset_key(ctx *c, uint32_t asset, char out[43])
{
    evm_token_meta m;
    if (!asset || evm_store_token(c->s, asset, &m, NULL)) {
        strcpy(out, asset ? "?" : "native");
        return;
    }
    out[0] = '0', out[1] = 'x';
    util_hex(out + 2, m.addr, 20);
}

static json_t *xfer_ref(ctx *c, uint64_t x, const evm_xfer_row *r)
{
    if (r->tx == NONE64) {
        char b[64];
        snprintf(b, sizeof b, "xfer:%" PRIu64, x);
        return json_string(b);
    }
    evm_tx_row t;
    if (evm_store_tx(c->s, r->tx, &t, NULL)) return json_null();
    char h[67], b[100];
    evm_hash_hex(h, t.hash);
    snprintf(b, sizeof b, "%s:%" PRIu64, h, x - t.first_xfer);
    return json_string(b);
}

static int is_seed(ctx *c, uint64_t x)
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

static int bucket(ctx *c, uint32_t asset, int b, const evm_u256 *v)
{
    if (evm_u256_is_zero(v)) return 0;
    tot *t = totals(c, asset);
    if (!t) return oom(c);
    return add(c, &t->b[b], v);
}

/* ---- address entries ---- */

static uint64_t mix(uint32_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ull;
    return h ^ h >> 29;
}

static int ent_get(ctx *c, uint32_t id, uint32_t *out)
{
    if (c->hcap && (size_t)c->ne * 2 < c->hcap) {
        for (size_t i = mix(id) & (c->hcap - 1);; i = (i + 1) & (c->hcap - 1)) {
            if (!c->hidx[i]) break;
            if (c->e[c->hidx[i] - 1].id == id) return *out = c->hidx[i] - 1, 0;
        }
    } else {
        size_t nc = c->hcap ? c->hcap * 2 : 1024;
        uint32_t *h = calloc(nc, sizeof *h);
        if (!h) return oom(c);
        for (size_t k = 0; k < c->ne; k++) {
            size_t i = mix(c->e[k].id) & (nc - 1);
            while (h[i])
                i = (i + 1) & (nc - 1);
            h[i] = (uint32_t)k + 1;
        }
        free(c->hidx);
        c->hidx = h, c->hcap = nc;
        return ent_get(c, id, out);
    }
    if (util_grow((void **)&c->e, &c->ecap, c->ne + 1, sizeof *c->e, 8, SIZE_MAX)) return oom(c);
    ent *e = &c->e[c->ne];
    memset(e, 0, sizeof *e);
    e->id = id, e->depth = NONE32, e->via = NONE64, e->via_from = NONE32;
    size_t i = mix(id) & (c->hcap - 1);
    while (c->hidx[i])
        i = (i + 1) & (c->hcap - 1);
    c->hidx[i] = (uint32_t)c->ne + 1;
    *out = (uint32_t)c->ne++;
    return 0;
}

/* The entry of an address if it exists (NONE32 otherwise); no allocation. */
static uint32_t ent_find(const ctx *c, uint32_t id)
{
    if (!c->hcap || id == NONE32) return NONE32;
    for (size_t i = mix(id) & (c->hcap - 1);; i = (i + 1) & (c->hcap - 1)) {
        if (!c->hidx[i]) return NONE32;
        if (c->e[c->hidx[i] - 1].id == id) return c->hidx[i] - 1;
    }
}

static const labels_label *stop_of(ctx *c, uint32_t ei)
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

static int cross_chain_category(const char *cat)
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
            return oom(c);
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

static int is_asset(const evm_xfer_row *r, uint32_t asset)
{
    return r->token == asset;
}

/* The address's balance of asset just before transfer x, with the smallest opening balance
 * that keeps every stored moment non-negative (history before the first block is unknown: its
 * value is taken to be clean). *opening receives that opening. */
static int balance_before(ctx *c, uint32_t ei, uint32_t asset, uint64_t x, evm_u256 *bal,
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
        if (!is_asset(&r, asset) || r.from == r.to) continue;
        if (r.to == e->id) {
            if ((rc = add(c, &run, &r.amount))) return rc;
        } else if (r.from == e->id) {
            if (evm_u256_cmp(&run, &r.amount) < 0) {
                evm_u256 d;
                evm_u256_sub(&d, &r.amount, &run);
                if ((rc = add(c, &o, &d))) return rc;
                run = (evm_u256){{0}};
            } else {
                evm_u256_sub(&run, &run, &r.amount);
            }
        }
    }
    if (!seen_x) run_x = run, o_x = o;
    evm_u256 extra;
    evm_u256_sub(&extra, &o, &o_x);
    if ((rc = add(c, &run_x, &extra))) return rc;
    *bal = run_x, *opening = o;
    if (!evm_u256_is_zero(&o)) c->partial_history = 1;
    return 0;
}

/* ---- fifo queues ---- */

static int q_push(ctx *c, ast *a, const evm_u256 *amt, int tainted, uint64_t src)
{
    if (evm_u256_is_zero(amt)) return 0;
    if (a->qn > a->qh) {
        seg *l = &a->q[a->qn - 1];
        if (l->tainted == tainted && l->src == src) return add(c, &l->amt, amt);
    }
    if (a->qh && a->qh * 2 >= a->qn) {
        memmove(a->q, a->q + a->qh, (a->qn - a->qh) * sizeof *a->q);
        a->qn -= a->qh, a->qh = 0;
    }
    if (util_grow((void **)&a->q, &a->qcap, a->qn + 1, sizeof *a->q, 8, SIZE_MAX)) return oom(c);
    a->q[a->qn++] = (seg){*amt, src, tainted};
    return 0;
}

/* Take amt units from the front; *tainted receives how many of them were tainted. */
static int q_take(ctx *c, ast *a, const evm_u256 *amt, evm_u256 *tainted)
{
    evm_u256 need = *amt;
    *tainted = (evm_u256){{0}};
    while (!evm_u256_is_zero(&need)) {
        if (a->qh == a->qn) return util_errf(c->err, UTIL_ECORRUPT, "fifo queue ran dry");
        seg *f = &a->q[a->qh];
        evm_u256 take = evm_u256_cmp(&f->amt, &need) < 0 ? f->amt : need;
        if (f->tainted && add(c, tainted, &take)) return UTIL_ECORRUPT;
        evm_u256_sub(&f->amt, &f->amt, &take);
        evm_u256_sub(&need, &need, &take);
        if (evm_u256_is_zero(&f->amt)) a->qh++;
    }
    return 0;
}

/* ---- forward ---- */

static ast *ast_find(ent *e, uint32_t asset)
{
    for (size_t i = 0; i < e->nas; i++)
        if (e->as[i].asset == asset) return &e->as[i];
    return NULL;
}

static int heap_push(ctx *c, uint64_t x, uint32_t e)
{
    if (util_grow((void **)&c->h, &c->hcap2, c->hn + 1, sizeof *c->h, 8, SIZE_MAX)) return oom(c);
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
    int rc = balance_before(c, ei, asset, x, &bal, &opening);
    if (rc) return rc;
    ent *e = &c->e[ei];
    a = realloc(e->as, (e->nas + 1) * sizeof *a);
    if (!a) return oom(c);
    e->as = a;
    a = &e->as[e->nas++];
    memset(a, 0, sizeof *a);
    a->asset = asset, a->bal = bal;
    if (c->o->policy == ETRACE_FIFO && (rc = q_push(c, a, &bal, 0, NONE64))) return rc;
    if (!e->tracked) {
        e->tracked = 1;
        if ((rc = ent_schedule(c, ei, x))) return rc;
    }
    return *out = a, 0;
}

/* A transfer of the group being processed, with what the pass has decided about it. */
typedef struct gx {
    uint64_t x;
    evm_xfer_row r;
    int has_share, deferred;
    evm_u256 share; /* haircut: the taint it takes from its sender */
    int swap;       /* index+1 of the swap it belongs to (sent side) */
} gx;

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
        if (util_grow((void **)&mem, &cap, k + 1, sizeof *mem, 8, SIZE_MAX)) return oom(c);
        mem[k++] = j;
        if ((rc = add(c, &sum, &r->amount))) goto out;
    }
    if (evm_u256_cmp(&sum, &a->bal) > 0) {
        rc = util_errf(c->err, UTIL_ECORRUPT, "transfers exceed the balance they come from");
        goto out;
    }
    evm_u256 *rem = calloc(k + 1, sizeof *rem), *q = calloc(k + 1, sizeof *q);
    int *got = calloc(k + 1, sizeof *got);
    if (!rem || !q || !got) {
        free(rem), free(q), free(got);
        rc = oom(c);
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

static int add_edge(ctx *c, const gx *g, const evm_u256 *taint, uint32_t hop, const char *fate)
{
    char ak[43];
    asset_key(c, g->r.token, ak);
    json_t *j = json_object();
    json_object_set_new(j, "transfer", xfer_ref(c, g->x, &g->r));
    json_object_set_new(j, "kind", json_string(evm_xfer_kind_name(g->r.kind)));
    json_object_set_new(j, "block", json_integer((json_int_t)(c->first_block + g->r.block)));
    json_object_set_new(j, "from", addr_json(c, g->r.from));
    json_object_set_new(j, "to", addr_json(c, g->r.to));
    json_object_set_new(j, "asset", json_string(ak));
    json_object_set_new(j, "amount", u256_json(&g->r.amount));
    json_object_set_new(j, "taint", u256_json(taint));
    json_object_set_new(j, "hop", json_integer(hop));
    json_object_set_new(j, "fate", json_string(fate));
    return json_array_append_new(c->edges, j) ? oom(c) : 0;
}

/* The transfers from a seed to the address's deposit x, seed first. */
static json_t *fwd_path(ctx *c, uint32_t sender, const gx *g)
{
    json_t *p = json_array();
    json_array_append_new(p, xfer_ref(c, g->x, &g->r));
    for (uint32_t e = sender, guard = 0; e != NONE32 && guard <= ETRACE_MAX_HOPS + 1; guard++) {
        ent *en = &c->e[e];
        if (en->via == NONE64) break;
        evm_xfer_row r;
        if (evm_store_xfer(c->s, en->via, &r, NULL)) break;
        json_array_insert_new(p, 0, xfer_ref(c, en->via, &r));
        e = en->via_from;
    }
    return p;
}

static int endpoint(ctx *c, uint32_t ei, uint32_t sender, const gx *g, const evm_u256 *t,
                    uint64_t timestamp)
{
    ep *p = NULL;
    for (size_t i = 0; i < c->nep; i++)
        if (c->ep[i].ent == ei && c->ep[i].asset == g->r.token) p = &c->ep[i];
    if (!p) {
        ep *n = realloc(c->ep, (c->nep + 1) * sizeof *n);
        if (!n) return oom(c);
        c->ep = n;
        p = &n[c->nep++];
        memset(p, 0, sizeof *p);
        p->ent = ei, p->asset = g->r.token;
        p->path = fwd_path(c, sender, g);
    }
    p->deposits++;
    int rc = add(c, &p->amount, t);
    if (rc) return rc;
    const labels_label *l = c->e[ei].stop;
    if (cross_chain_category(l->category)) {
        /* The hook for cross-chain composition: what entered a bridge or router, when. */
        if (util_grow((void **)&c->xc, &c->xccap, c->nxc + 1, sizeof *c->xc, 8, SIZE_MAX))
            return oom(c);
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
    uint32_t ei = ent_find(c, g->r.to);
    ast *a = ei == NONE32 ? NULL : ast_find(&c->e[ei], g->r.token);
    if (!a) return 0;
    int rc = add(c, &a->bal, &g->r.amount);
    if (!rc && c->o->policy == ETRACE_FIFO) rc = q_push(c, a, &g->r.amount, 0, NONE64);
    if (!rc && c->o->policy == ETRACE_POISON && !evm_u256_is_zero(&a->taint)) {
        /* A poisoned pool taints whatever joins it. */
        if (!(rc = add(c, &a->taint, &g->r.amount)) && !(rc = add(c, &a->t_in, &g->r.amount)))
            rc = bucket(c, g->r.token, B_POISON_ADDED, &g->r.amount);
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
            if ((rc = bucket(c, asset, B_HELD, &t))) return rc;
            return add_edge(c, g, &t, hop, "no_receiver");
        }
        return bucket(c, asset, B_FEES, &t);
    }
    uint32_t ri;
    if ((rc = ent_get(c, g->r.to, &ri))) return rc;
    const char *fate = NULL;
    int b = -1;
    if (!seed && hop > c->o->hops)
        fate = "beyond_hops", b = B_BEYOND_HOPS;
    else if (!seed && stop_of(c, ri))
        fate = "endpoint", b = B_TO_ENDPOINTS;
    else if (!seed && evm_u256_cmp(&t, &c->o->min_value) < 0)
        fate = "below_min_value", b = B_BELOW_MIN;
    if (fate) {
        if ((rc = bucket(c, asset, b, &t)) || (rc = add_edge(c, g, &t, hop, fate))) return rc;
        if (b == B_TO_ENDPOINTS && (rc = endpoint(c, ri, sender, g, &t, timestamp))) return rc;
        return credit_clean(c, g);
    }
    ast *a = NULL;
    if ((rc = ast_open(c, ri, asset, g->x, &a))) return rc;
    if (c->o->policy == ETRACE_POISON) {
        evm_u256 clean, added;
        evm_u256_sub(&clean, &a->bal, &a->taint);
        evm_u256_sub(&added, &g->r.amount, &t);
        if ((rc = add(c, &added, &clean)) || (rc = bucket(c, asset, B_POISON_ADDED, &added)) ||
            (rc = add(c, &a->t_in, &added)))
            return rc;
        if ((rc = add(c, &a->bal, &g->r.amount))) return rc;
        a->taint = a->bal;
    } else {
        evm_u256 clean;
        evm_u256_sub(&clean, &g->r.amount, &t);
        if ((rc = add(c, &a->bal, &g->r.amount)) || (rc = add(c, &a->taint, &t))) return rc;
        if (c->o->policy == ETRACE_FIFO &&
            ((rc = q_push(c, a, &t, 1, NONE64)) || (rc = q_push(c, a, &clean, 0, NONE64))))
            return rc;
    }
    if ((rc = add(c, &a->t_in, &t))) return rc;
    ent *r = &c->e[ri];
    if (hop < r->depth) r->depth = hop, r->via = g->x, r->via_from = seed ? NONE32 : sender;
    return add_edge(c, g, &t, hop, "followed");
}

/* Debit g's sender (if it holds the asset's taint): the taint the transfer takes. */
static int debit(ctx *c, gx *g, size_t n, size_t i, evm_u256 *t, uint32_t *sender)
{
    *t = (evm_u256){{0}};
    *sender = ent_find(c, g[i].r.from);
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
        if ((rc = q_take(c, a, amt, t))) return rc;
        break;
    }
    if ((rc = sub(c, &a->bal, amt, "a balance")) || (rc = sub(c, &a->taint, t, "a taint")))
        return rc;
    return add(c, g[i].r.kind == EVM_XFER_FEE ? &a->fees : &a->t_out, t);
}

static int process_one(ctx *c, gx *g, size_t n, size_t i, swp *sw, uint64_t ts,
                       const evm_u256 *extra)
{
    evm_u256 t;
    uint32_t sender;
    int rc = debit(c, g, n, i, &t, &sender);
    if (rc) return rc;
    if (g[i].r.to == g[i].r.from && sender != NONE32 && !is_seed(c, g[i].x)) return 0;
    uint32_t hop = sender == NONE32 || c->e[sender].depth == NONE32 ? 1 : c->e[sender].depth + 1;
    if (is_seed(c, g[i].x)) {
        if ((rc = bucket(c, g[i].r.token, B_OVERLAP, &t))) return rc;
        if ((rc = bucket(c, g[i].r.token, B_SEEDED, &g[i].r.amount))) return rc;
        return credit(c, &g[i], sender, g[i].r.amount, 0, 1, ts);
    }
    if (g[i].swap && !evm_u256_is_zero(&t)) {
        swp *s = &sw[g[i].swap - 1];
        if ((rc = add(c, &s->a_taint, &t)) || (rc = bucket(c, g[i].r.token, B_SWAPPED_OUT, &t)) ||
            (rc = add_edge(c, &g[i], &t, hop, "swapped")))
            return rc;
        return credit_clean(c, &g[i]);
    }
    if (extra) { /* a swap's converted taint joins what the sender passed on */
        if ((rc = add(c, &t, extra))) return rc;
        if (evm_u256_cmp(&t, &g[i].r.amount) > 0) {
            evm_u256 over;
            evm_u256_sub(&over, &t, &g[i].r.amount);
            if ((rc = bucket(c, g[i].r.token, B_OVERLAP, &over))) return rc;
            t = g[i].r.amount;
        }
        /* a conversion is not a hop: the receiver keeps its own depth */
        uint32_t ri = ent_find(c, g[i].r.to);
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
        uint32_t ei = ent_find(c, r->from);
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
        if (!ns) return oom(c);
        *out = ns;
        ns[*nout] = (swp){ei, sent, recv, s_amt, {{0}}, r_amt};
        for (size_t j = 0; j < n; j++) {
            const evm_xfer_row *q = &g[j].r;
            if (q->kind == EVM_XFER_FEE || q->from == q->to) continue;
            if (q->from == r->from && !is_seed(c, g[j].x)) g[j].swap = (int)*nout + 1;
            if (q->to == r->from && !is_seed(c, g[j].x)) g[j].deferred = (int)*nout + 1;
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
            if ((rc = bucket(c, g[i].r.token, B_SWAPPED_IN, &conv))) break;
            char ak[43], bk[43];
            asset_key(c, s->a_asset, ak);
            asset_key(c, s->b_asset, bk);
            json_t *j = json_object();
            json_object_set_new(j, "address", addr_json(c, c->e[s->ent].id));
            json_object_set_new(j, "transfer", xfer_ref(c, g[i].x, &g[i].r));
            json_object_set_new(j, "sent_asset", json_string(ak));
            json_object_set_new(j, "sent", u256_json(&s->a_sent));
            json_object_set_new(j, "sent_taint", u256_json(&s->a_taint));
            json_object_set_new(j, "received_asset", json_string(bk));
            json_object_set_new(j, "received", u256_json(&g[i].r.amount));
            json_object_set_new(j, "received_taint", u256_json(&conv));
            json_array_append_new(c->swaps, j);
        }
        rc = process_one(c, g, n, i, sw, ts, &conv);
    }
    free(sw);
    return rc;
}

static int forward(ctx *c)
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
                rc = oom(c);
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
            rc = bucket(c, c->e[i].as[k].asset, c->partial ? B_NOT_FOLLOWED : B_HELD,
                        &c->e[i].as[k].taint);
    return rc;
}

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
        if (!np) return oom(c), NULL;
        for (size_t i = 0; i < nc; i++)
            np[i].x = NONE64;
        for (size_t i = 0; i < b->cap; i++) {
            if (b->p[i].x == NONE64) continue;
            size_t k = mix((uint32_t)(b->p[i].x ^ b->p[i].x >> 32)) & (nc - 1);
            while (np[k].x != NONE64)
                k = (k + 1) & (nc - 1);
            np[k] = b->p[i];
        }
        free(b->p);
        b->p = np, b->cap = nc;
    }
    if (!b->cap) return NULL;
    size_t k = mix((uint32_t)(x ^ x >> 32)) & (b->cap - 1);
    while (b->p[k].x != NONE64) {
        if (b->p[k].x == x) return &b->p[k];
        k = (k + 1) & (b->cap - 1);
    }
    if (!create) return NULL;
    memset(&b->p[k], 0, sizeof b->p[k]);
    b->p[k].x = x, b->p[k].depth = NONE32, b->p[k].parent = NONE64;
    b->n++;
    if (util_grow((void **)&b->heap, &b->hcap, b->hn + 1, sizeof *b->heap, 8, SIZE_MAX))
        return oom(c), NULL;
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

static json_t *bwd_path(ctx *c, bctx *b, uint64_t x)
{
    json_t *p = json_array();
    for (int guard = 0; x != NONE64 && guard <= ETRACE_MAX_HOPS + 1; guard++) {
        evm_xfer_row r;
        if (evm_store_xfer(c->s, x, &r, NULL)) break;
        json_array_append_new(p, xfer_ref(c, x, &r));
        pend *e = pend_get(c, b, x, 0);
        x = e ? e->parent : NONE64;
    }
    return p;
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
        if ((rc = bucket(c, r.token, bk, share))) return rc;
        return add_edge(c, &g, share, hop, fate);
    }
    uint64_t parent = from->x;
    uint32_t depth = from->depth;
    pend *p = pend_get(c, b, y, 1);
    if (!p) return oom(c);
    if (p->seed) {
        if ((rc = bucket(c, r.token, B_OVERLAP, share))) return rc;
        return add_edge(c, &g, share, hop, "overlap");
    }
    /* A transfer is at most fully tainted: several later transfers can name the same units
     * (the prefix rule of fifo, poison, haircut's rounding); the excess is overlap. */
    evm_u256 room, take = *share;
    evm_u256_sub(&room, &r.amount, &p->taint);
    if (evm_u256_cmp(&take, &room) > 0) {
        evm_u256 over;
        evm_u256_sub(&over, &take, &room);
        if ((rc = bucket(c, r.token, B_OVERLAP, &over))) return rc;
        take = room;
    }
    if (evm_u256_is_zero(&take)) return add_edge(c, &g, share, hop, "overlap");
    if ((rc = add(c, &p->taint, &take))) return rc;
    if (depth + 1 < p->depth) p->depth = depth + 1, p->parent = parent;
    return add_edge(c, &g, &take, hop, "followed");
}

/* Where transfer x's taint came from: its sender's earlier receipts of the asset. */
static int explain(ctx *c, bctx *b, pend cur, const evm_xfer_row *xr)
{
    uint32_t ei;
    int rc;
    if ((rc = ent_get(c, xr->from, &ei))) return rc;
    evm_u256 bal, opening;
    if ((rc = balance_before(c, ei, xr->token, cur.x, &bal, &opening))) return rc;
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
            if (!is_asset(&r, asset) || r.from == r.to) continue;
            if (r.to == e->id) {
                evm_u256 q = t, rem;
                if (evm_u256_cmp(&r.amount, &B) < 0 && etrace_muldiv(&q, &rem, &t, &r.amount, &B))
                    return util_errf(c->err, UTIL_ECORRUPT, "haircut share out of range");
                evm_u256_sub(&t, &t, &q);
                if ((rc = sub(c, &B, &r.amount, "a balance walked back"))) return rc;
                if ((rc = give(c, b, &cur, xr, e->xs[i], &q))) return rc;
            } else if ((rc = add(c, &B, &r.amount))) {
                return rc;
            }
        }
        return bucket(c, asset, B_BEFORE_STORE, &t);
    }
    if (c->o->policy == ETRACE_POISON) {
        evm_u256 sum = {{0}};
        for (size_t i = 0; i < hi; i++) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(c->s, e->xs[i], &r, c->err))) return rc;
            if (!is_asset(&r, asset) || r.from == r.to || r.to != e->id) continue;
            if ((rc = add(c, &sum, &r.amount)) || (rc = give(c, b, &cur, xr, e->xs[i], &r.amount)))
                return rc;
        }
        evm_u256 d;
        if (evm_u256_cmp(&sum, &t) >= 0) {
            evm_u256_sub(&d, &sum, &t);
            return bucket(c, asset, B_POISON_ADDED, &d);
        }
        evm_u256_sub(&d, &t, &sum);
        return bucket(c, asset, B_BEFORE_STORE, &d);
    }
    /* fifo: rebuild the sender's queue up to x; x's tainted units are its first ones */
    ast q;
    memset(&q, 0, sizeof q);
    rc = q_push(c, &q, &opening, 0, NONE64);
    for (size_t i = 0; !rc && i < hi; i++) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, e->xs[i], &r, c->err))) break;
        if (!is_asset(&r, asset) || r.from == r.to) continue;
        evm_u256 dummy;
        if (r.to == e->id)
            rc = q_push(c, &q, &r.amount, 0, e->xs[i]);
        else
            rc = q_take(c, &q, &r.amount, &dummy);
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
        rc = f->src == NONE64 ? bucket(c, asset, B_BEFORE_STORE, &take)
                              : give(c, b, &cur, xr, f->src, &take);
    }
    free(q.q);
    return rc;
}

static int backward(ctx *c)
{
    bctx b;
    memset(&b, 0, sizeof b);
    int rc = 0;
    for (size_t i = 0; i < c->nseeds && !rc; i++) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, c->seeds[i], &r, c->err))) break;
        pend *p = pend_get(c, &b, c->seeds[i], 1);
        if (!p) {
            rc = oom(c);
            break;
        }
        p->taint = r.amount, p->depth = 0, p->seed = 1;
        rc = bucket(c, r.token, B_SEEDED, &r.amount);
    }
    while (!rc && b.hn) {
        uint64_t x = bheap_pop(&b);
        pend cur = *pend_get(c, &b, x, 0);
        evm_xfer_row r;
        if ((rc = evm_store_xfer(c->s, x, &r, c->err))) break;
        if (c->visited >= c->o->max_xfers) {
            c->partial = 1, c->reason = "the transfer cap (max_xfers) was reached";
            rc = bucket(c, r.token, B_NOT_FOLLOWED, &cur.taint);
            while (!rc && b.hn) {
                uint64_t y = bheap_pop(&b);
                pend *p = pend_get(c, &b, y, 0);
                if ((rc = evm_store_xfer(c->s, y, &r, c->err))) break;
                rc = bucket(c, r.token, B_NOT_FOLLOWED, &p->taint);
            }
            break;
        }
        c->visited++;
        if (evm_u256_is_zero(&cur.taint)) continue;
        if (r.from == NONE32) { /* a reward or withdrawal: newly issued value */
            rc = bucket(c, r.token, B_MINTED, &cur.taint);
            continue;
        }
        uint32_t si;
        if ((rc = ent_get(c, r.from, &si))) break;
        if (!cur.seed && stop_of(c, si)) {
            if ((rc = bucket(c, r.token, B_TO_ENDPOINTS, &cur.taint))) break;
            ep *p = NULL;
            for (size_t i = 0; i < c->nep; i++)
                if (c->ep[i].ent == si && c->ep[i].asset == r.token) p = &c->ep[i];
            if (!p) {
                ep *n = realloc(c->ep, (c->nep + 1) * sizeof *n);
                if (!n) {
                    rc = oom(c);
                    break;
                }
                c->ep = n;
                p = &n[c->nep++];
                memset(p, 0, sizeof *p);
                p->ent = si, p->asset = r.token;
                json_t *path = bwd_path(c, &b, x);
                /* seed first */
                p->path = json_array();
                for (size_t k = json_array_size(path); k-- > 0;)
                    json_array_append(p->path, json_array_get(path, k));
                json_decref(path);
            }
            p->deposits++;
            rc = add(c, &p->amount, &cur.taint);
            continue;
        }
        rc = explain(c, &b, cur, &r);
    }
    free(b.p);
    free(b.heap);
    return rc;
}

/* ---- the document ---- */

static int cmp_ep(const void *a, const void *b)
{
    const ep *x = a, *y = b;
    int k = evm_u256_cmp(&y->amount, &x->amount);
    return k ? k : (x->ent > y->ent) - (x->ent < y->ent);
}

static json_t *document(ctx *c, const etrace_seeds *seeds)
{
    json_t *d = json_object();
    json_object_set_new(d, "chain", json_string(evm_store_chain(c->s)));
    json_t *sj = json_array();
    for (size_t i = 0; i < seeds->n; i++) {
        evm_xfer_row r;
        if (!evm_store_xfer(c->s, seeds->x[i], &r, NULL))
            json_array_append_new(sj, xfer_ref(c, seeds->x[i], &r));
    }
    json_object_set_new(d, "seeds", sj);
    taint_doc_options(d, &c->o->core, u256_json(&c->o->min_value), c->o->until_time, "max_xfers");
    taint_doc_partial(d, c->partial, c->reason);
    json_object_set_new(d, "until_reached", json_boolean(c->until_reached));
    uint64_t fb, nb;
    uint8_t tip[32];
    evm_store_tip(c->s, &fb, &nb, tip);
    json_object_set_new(d, "partial_history", json_boolean(c->partial_history || fb != 0));
    json_t *tj = json_object();
    for (size_t i = 0; i < c->ntot; i++) {
        json_t *o = json_object();
        taint_ledger led;
        taint_ledger_init(&led, NB, B_FIRST_OUT);
        for (int k = 0; k < NB; k++) {
            json_object_set_new(o, bucket_names[k], u256_json(&c->tot[i].b[k]));
            taint_ledger_set(&led, (size_t)k, c->tot[i].b[k].w);
        }
        json_object_set_new(o, "balanced", json_boolean(taint_ledger_balanced(&led)));
        char ak[43];
        asset_key(c, c->tot[i].asset, ak);
        json_object_set_new(tj, ak, o);
    }
    json_object_set_new(d, "totals", tj);
    json_object_set_new(d, "xfers_visited", json_integer((json_int_t)c->visited));
    if (c->nep) qsort(c->ep, c->nep, sizeof *c->ep, cmp_ep);
    json_t *eps = json_array(), *bycat = json_object();
    for (size_t i = 0; i < c->nep; i++) {
        ep *p = &c->ep[i];
        const labels_label *l = c->e[p->ent].stop;
        char ak[43];
        asset_key(c, p->asset, ak);
        json_t *o = json_object();
        json_object_set_new(o, "address", addr_json(c, c->e[p->ent].id));
        json_object_set_new(o, "category", json_string(l->category));
        json_t *ls = json_array();
        uint8_t a[20];
        char hex[43] = "0x";
        if (c->labels && !evm_store_addr(c->s, c->e[p->ent].id, a, NULL)) {
            util_hex(hex + 2, a, 20);
            const labels_label *first;
            size_t n;
            labels_find(c->labels, "eth", hex, &first, &n);
            for (size_t k = 0; k < n; k++)
                json_array_append_new(ls, labels_to_json(&first[k]));
        }
        json_object_set_new(o, "labels", ls);
        json_object_set_new(o, "asset", json_string(ak));
        json_object_set_new(o, "amount", u256_json(&p->amount));
        json_object_set_new(o, "deposits", json_integer((json_int_t)p->deposits));
        json_object_set_new(o, "cross_chain_candidate",
                            json_boolean(cross_chain_category(l->category)));
        json_object_set_new(o, "path", p->path);
        p->path = NULL;
        json_array_append_new(eps, o);
        json_t *cat = json_object_get(bycat, l->category);
        if (!cat) json_object_set_new(bycat, l->category, cat = json_object());
        evm_u256 sum = {{0}};
        json_t *prev = json_object_get(cat, ak);
        if (prev)
            evm_u256_parse(&sum, json_string_value(prev), strlen(json_string_value(prev)), NULL);
        evm_u256_add(&sum, &sum, &p->amount);
        json_object_set_new(cat, ak, u256_json(&sum));
    }
    json_object_set_new(d, "endpoints", eps);
    json_object_set_new(d, "by_category", bycat);
    /* filled from the typed records by etrace_result_json */
    json_object_set_new(d, "cross_chain", json_null());
    json_object_set_new(d, "swaps", c->swaps);
    json_object_set_new(d, "edges", c->edges);
    c->swaps = c->edges = NULL;
    json_t *as = json_array();
    for (size_t i = 0; i < c->ne; i++) {
        ent *e = &c->e[i];
        if (!e->nas) continue;
        json_t *o = json_object(), *per = json_object();
        json_object_set_new(o, "address", addr_json(c, e->id));
        json_object_set_new(o, "depth", e->depth == NONE32 ? json_null() : json_integer(e->depth));
        for (size_t k = 0; k < e->nas; k++) {
            ast *a = &e->as[k];
            char ak[43];
            asset_key(c, a->asset, ak);
            json_t *x = json_object();
            json_object_set_new(x, "taint_in", u256_json(&a->t_in));
            json_object_set_new(x, "taint_out", u256_json(&a->t_out));
            json_object_set_new(x, "fees", u256_json(&a->fees));
            json_object_set_new(x, "held", u256_json(&a->taint));
            json_object_set_new(x, "balance", u256_json(&a->bal));
            json_object_set_new(per, ak, x);
        }
        json_object_set_new(o, "assets", per);
        json_array_append_new(as, o);
    }
    json_object_set_new(d, "addresses", as);
    return d;
}

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

int etrace_run_result(const evm_store *s, const labels_db *labels, const etrace_seeds *seeds,
                      const etrace_opts *o, etrace_result *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    if (!seeds || !seeds->n) return util_errf(err, UTIL_EINVAL, "no seeds to trace from");
    if (o->hops < 1 || o->hops > ETRACE_MAX_HOPS)
        return util_errf(err, UTIL_EINVAL, "hops must be 1..%d, not %u", ETRACE_MAX_HOPS, o->hops);
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
    c.seeds = malloc(seeds->n * sizeof *c.seeds);
    c.edges = json_array(), c.swaps = json_array();
    if (!c.seeds || !c.edges || !c.swaps) rc = oom(&c);
    if (!rc) {
        memcpy(c.seeds, seeds->x, seeds->n * sizeof *c.seeds);
        qsort(c.seeds, seeds->n, sizeof *c.seeds, util_cmp_u64);
        c.nseeds = seeds->n;
        for (size_t i = 0; i < c.nseeds && !rc; i++) {
            evm_xfer_row r;
            if (c.seeds[i] >= c.nx)
                rc = util_errf(err, UTIL_EINVAL, "seed transfer %" PRIu64 " is not stored",
                               c.seeds[i]);
            else if (!(rc = evm_store_xfer(s, c.seeds[i], &r, err)) && r.from == r.to &&
                     r.from != NONE32)
                /* it moves nothing: there is no value to call tainted */
                rc = util_errf(err, UTIL_EINVAL,
                               "seed transfer %" PRIu64 " sends to its own sender", c.seeds[i]);
        }
    }
    if (!rc) rc = o->direction == ETRACE_FORWARD ? forward(&c) : backward(&c);
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
    if (!rc && !(out->doc = document(&c, seeds))) rc = oom(&c);
    if (!rc) {
        out->xchain = c.xc, out->n_xchain = c.nxc;
        c.xc = NULL;
    }
    for (size_t i = 0; i < c.ne; i++) {
        free(c.e[i].xs);
        for (size_t k = 0; k < c.e[i].nas; k++)
            free(c.e[i].as[k].q);
        free(c.e[i].as);
    }
    for (size_t i = 0; i < c.nep; i++)
        json_decref(c.ep[i].path);
    free(c.e), free(c.hidx), free(c.tot), free(c.seeds), free(c.ep), free(c.h);
    json_decref(c.edges), json_decref(c.swaps);
    free(c.xc);
    return rc;
}

void etrace_result_free(etrace_result *res)
{
    if (!res) return;
    json_decref(res->doc);
    free(res->xchain);
    memset(res, 0, sizeof *res);
}

json_t *etrace_xchain_json(const evm_store *s, const etrace_xchain *x)
{
    /* the writers below read nothing of ctx but the store */
    ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    evm_xfer_row r;
    char ak[43];
    asset_key(&c, x->asset, ak);
    json_t *j = json_object();
    if (!j) return NULL;
    json_object_set_new(j, "endpoint", addr_json(&c, x->endpoint));
    json_object_set_new(j, "category", json_string(x->label->category));
    json_object_set_new(j, "name", json_string(x->label->name));
    json_object_set_new(j, "transfer",
                        !evm_store_xfer(s, x->xfer, &r, NULL) ? xfer_ref(&c, x->xfer, &r)
                                                              : json_null());
    json_object_set_new(j, "block", json_integer((json_int_t)x->block));
    json_object_set_new(j, "timestamp", json_integer((json_int_t)x->timestamp));
    json_object_set_new(j, "from", addr_json(&c, x->from));
    json_object_set_new(j, "asset", json_string(ak));
    json_object_set_new(j, "amount", u256_json(&x->amount));
    json_object_set_new(j, "taint", u256_json(&x->taint));
    return j;
}

int etrace_result_json(const evm_store *s, const etrace_result *res, json_t **out, util_err *err)
{
    json_t *xs = json_array(), *d = json_copy(res->doc);
    if (!xs || !d) goto nomem;
    for (size_t i = 0; i < res->n_xchain; i++)
        if (json_array_append_new(xs, etrace_xchain_json(s, &res->xchain[i]))) goto nomem;
    /* replaces the placeholder in place: the key keeps its position */
    if (json_object_set_new(d, "cross_chain", xs)) {
        xs = NULL;
        goto nomem;
    }
    *out = d;
    return 0;
nomem:
    json_decref(xs);
    json_decref(d);
    return util_errf(err, UTIL_ENOMEM, "out of memory writing the trace document");
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
