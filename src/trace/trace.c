/* trace: taint propagation with exact integer accounting (see trace.h, docs/tracing.md). */
#include "trace.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"

#define NONE32 UINT32_MAX

static const char *const policy_names[] = {"poison", "haircut", "fifo"};
static const char *const direction_names[] = {"forward", "backward"};

const char *trace_policy_name(int p)
{
    return p >= 0 && p < 3 ? policy_names[p] : "?";
}

int trace_policy_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, policy_names[i])) return i;
    return -1;
}

const char *trace_direction_name(int d)
{
    return d >= 0 && d < 2 ? direction_names[d] : "?";
}

int trace_direction_parse(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(name, direction_names[i])) return i;
    return -1;
}

void trace_default_opts(trace_opts *o)
{
    memset(o, 0, sizeof *o);
    o->policy = TRACE_HAIRCUT;
    o->direction = TRACE_FORWARD;
    o->hops = TRACE_DEFAULT_HOPS;
    o->until = -1;
    o->max_outputs = TRACE_DEFAULT_MAX_OUTPUTS;
}

void trace_seeds_free(trace_seeds *s)
{
    free(s->out);
    memset(s, 0, sizeof *s);
}

/* ---- a hash map uint64 -> uint32 (open addressing, linear probing) ---- */

typedef struct hmap {
    uint64_t *key;
    uint32_t *val;
    size_t cap, n; /* cap a power of two; empty slots have val NONE32 */
} hmap;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static void hmap_free(hmap *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static int hmap_grow(hmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    uint64_t *nk = malloc(ncap * sizeof *nk);
    uint32_t *nv = malloc(ncap * sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return UTIL_ENOMEM;
    }
    for (size_t i = 0; i < ncap; i++)
        nv[i] = NONE32;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->val[i] == NONE32) continue;
        size_t j = mix64(m->key[i]) & (ncap - 1);
        while (nv[j] != NONE32)
            j = (j + 1) & (ncap - 1);
        nk[j] = m->key[i];
        nv[j] = m->val[i];
    }
    free(m->key);
    free(m->val);
    m->key = nk;
    m->val = nv;
    m->cap = ncap;
    return 0;
}

static uint32_t hmap_get(const hmap *m, uint64_t k)
{
    if (!m->cap) return NONE32;
    size_t j = mix64(k) & (m->cap - 1);
    while (m->val[j] != NONE32) {
        if (m->key[j] == k) return m->val[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NONE32;
}

/* Insert k -> v (k must be absent). */
static int hmap_put(hmap *m, uint64_t k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap && hmap_grow(m)) return UTIL_ENOMEM;
    size_t j = mix64(k) & (m->cap - 1);
    while (m->val[j] != NONE32)
        j = (j + 1) & (m->cap - 1);
    m->key[j] = k;
    m->val[j] = v;
    m->n++;
    return 0;
}

/* ---- seeds ---- */

static int seeds_add(trace_seeds *sd, uint64_t out)
{
    for (size_t i = 0; i < sd->n; i++) /* seeds lists are small; keep it simple */
        if (sd->out[i] == out) return 0;
    if (sd->n == sd->cap) {
        size_t nc = sd->cap ? sd->cap * 2 : 16;
        uint64_t *p = realloc(sd->out, nc * sizeof *p);
        if (!p) return UTIL_ENOMEM;
        sd->out = p;
        sd->cap = nc;
    }
    sd->out[sd->n++] = out;
    return 0;
}

static int is_hex64(const char *s, size_t n)
{
    if (n != 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

int trace_add_entity(trace_seeds *sd, const store *s, const cluster_map *m, const char *arg,
                     util_err *err)
{
    if (!m)
        return util_errf(err, UTIL_ENOTFOUND, "entity %s: no clustering (run cointrail cluster)",
                         arg);
    uint32_t aid;
    char *end;
    if (*arg >= '0' && *arg <= '9' && strlen(arg) < 12 && (strtoull(arg, &end, 10), !*end)) {
        unsigned long long v = strtoull(arg, NULL, 10);
        if (v >= cluster_map_addresses(m))
            return util_errf(err, UTIL_ENOTFOUND, "entity %s: no such address id", arg);
        aid = (uint32_t)v;
    } else {
        btc_addr key;
        int rc = btc_addr_decode(&key, arg, err);
        if (rc) return rc;
        int64_t a = store_find_addr(s, &key);
        if (a < 0 || (uint64_t)a >= cluster_map_addresses(m))
            return util_errf(err, UTIL_ENOTFOUND, "entity of %s: address not clustered", arg);
        aid = (uint32_t)a;
    }
    uint32_t ent = cluster_entity_of(m, aid);
    /* Members have ids from the entity id (its smallest member) up. */
    for (uint32_t a = ent; a < cluster_map_addresses(m); a++) {
        if (cluster_entity_of(m, a) != ent) continue;
        for (uint64_t o = store_addr_last_out(s, a); o != STORE_NONE;
             o = store_out_prev_same_addr(s, o))
            if (seeds_add(sd, o)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

static int add_one_spec(trace_seeds *sd, const store *s, const char *spec, util_err *err)
{
    size_t len = strlen(spec);
    if (!len) return util_errf(err, UTIL_EINVAL, "empty seed");
    const char *colon = strchr(spec, ':');
    if (is_hex64(spec, colon ? (size_t)(colon - spec) : len)) {
        char hex[65];
        memcpy(hex, spec, 64);
        hex[64] = 0;
        uint8_t h[32];
        if (util_hash_parse(h, hex)) return util_errf(err, UTIL_EINVAL, "bad txid '%s'", spec);
        int64_t tx = store_find_tx(s, h);
        if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "txid %s not in the store", hex);
        uint32_t nout = store_tx_n_out(s, (uint64_t)tx);
        uint64_t first = store_tx(s, (uint64_t)tx)->first_out;
        if (!colon) {
            for (uint32_t i = 0; i < nout; i++)
                if (seeds_add(sd, first + i)) return util_errf(err, UTIL_ENOMEM, "out of memory");
            return 0;
        }
        const char *p = colon + 1;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(p, &end, 10);
        if (!*p || *end || errno || !isdigit((unsigned char)*p))
            return util_errf(err, UTIL_EINVAL, "bad output index in '%s' (want TXID:N)", spec);
        if (n >= nout)
            return util_errf(err, UTIL_ENOTFOUND, "tx %s has %u outputs, no output %llu", hex, nout,
                             n);
        if (seeds_add(sd, first + n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        return 0;
    }
    if (colon || len > 100)
        return util_errf(err, UTIL_EINVAL, "bad seed '%s': want TXID:N, TXID or an address", spec);
    btc_addr key;
    util_err aerr = {0};
    if (btc_addr_decode(&key, spec, &aerr))
        return util_errf(err, UTIL_EINVAL,
                         "bad seed '%s': not a txid, TXID:N or valid address (%s)", spec, aerr.msg);
    int64_t aid = store_find_addr(s, &key);
    if (aid < 0) return util_errf(err, UTIL_ENOTFOUND, "address %s not in the store", spec);
    for (uint64_t o = store_addr_last_out(s, (uint32_t)aid); o != STORE_NONE;
         o = store_out_prev_same_addr(s, o))
        if (seeds_add(sd, o)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

int trace_add_spec(trace_seeds *sd, const store *s, const char *spec, util_err *err)
{
    if (spec[0] != '@') return add_one_spec(sd, s, spec, err);
    const char *path = spec + 1;
    FILE *f = fopen(path, "r");
    if (!f) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    char line[4096];
    unsigned lineno = 0;
    int rc = 0;
    size_t before = sd->n;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = util_errf(err, UTIL_EINVAL, "%s:%u: line too long", path, lineno);
            break;
        }
        while (n && isspace((unsigned char)line[n - 1]))
            line[--n] = 0;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#') continue;
        if (*p == '@') {
            rc = util_errf(err, UTIL_EINVAL, "%s:%u: nested @FILE not allowed", path, lineno);
            break;
        }
        if ((rc = add_one_spec(sd, s, p, err))) {
            util_err_prefix(err, "%s:%u", path, lineno);
            break;
        }
    }
    if (!rc && ferror(f)) rc = util_errf(err, UTIL_EIO, "%s: read error", path);
    fclose(f);
    if (!rc && sd->n == before) rc = util_errf(err, UTIL_EINVAL, "%s: no seeds in the file", path);
    return rc;
}

/* ---- the trace ---- */

enum { F_FOLLOWED = 0, F_ENDPOINT, F_UNSPENT, F_BELOW, F_OVERLAP };
static const char *const fate_names[] = {"followed", "endpoint", "unspent", "below_min_value",
                                         "overlap"};
enum {
    S_PENDING = 0,
    S_FOLLOWED,
    S_BEYOND_HOPS,
    S_BEYOND_UNTIL,
    S_UNRESOLVED,
    S_COINBASE,
    S_NOT_FOLLOWED
};
static const char *const status_names[] = {"pending",    "followed", "beyond_hops", "beyond_until",
                                           "unresolved", "coinbase", "not_followed"};

typedef struct out_rec {
    uint64_t out, taint;
    uint32_t from;     /* tx rec that gave the taint (NONE32: a seed) */
    uint32_t to;       /* tx rec the taint goes on to (F_FOLLOWED), else NONE32 */
    uint32_t endpoint; /* endpoint rec (F_ENDPOINT) */
    uint8_t fate;
} out_rec;

typedef struct tx_rec {
    uint64_t tx, taint_in, added, taint_out, fee;
    uint32_t depth, parent;
    uint8_t status, queued;
} tx_rec;

typedef struct ep_rec {
    uint32_t addr, entity, label; /* label: index in the labels_db */
    int via_entity;
    uint64_t amount, deposits;
    uint32_t first_out; /* out rec of the first arrival (for the path) */
} ep_rec;

typedef struct totals {
    uint64_t seeded, poison_added, to_endpoints, unspent, fees, below, beyond_hops, beyond_until,
        unresolved, coinbase, overlap, not_followed;
} totals;

typedef struct tctx {
    const store *s;
    const labels_db *labels;
    const cluster_map *clusters;
    const trace_opts *o;
    const trace_stops *stops;
    hmap outs, txs, eps;
    out_rec *or_;
    size_t n_or, cap_or;
    tx_rec *tr;
    size_t n_tr, cap_tr;
    ep_rec *er;
    size_t n_er, cap_er;
    uint64_t *heap; /* keys: tx id (forward) or ~tx id (backward), smallest first */
    size_t n_heap, cap_heap;
    totals t;
    int partial;
    /* scratch per tx */
    uint64_t *a, *b, *sh;
    size_t cap_s;
    struct rem {
        uint64_t r;
        uint32_t i;
    } * rm;
} tctx;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return UTIL_ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

static int heap_push(tctx *c, uint64_t k)
{
    if (grow((void **)&c->heap, &c->cap_heap, c->n_heap + 1, sizeof *c->heap)) return UTIL_ENOMEM;
    size_t i = c->n_heap++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (c->heap[p] <= k) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = k;
    return 0;
}

static uint64_t heap_pop(tctx *c)
{
    uint64_t top = c->heap[0], k = c->heap[--c->n_heap];
    size_t i = 0, n = c->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, m = l + 1, best = i;
        uint64_t bk = k;
        if (l < n && c->heap[l] < bk) best = l, bk = c->heap[l];
        if (m < n && c->heap[m] < bk) best = m, bk = c->heap[m];
        if (best == i) break;
        c->heap[i] = c->heap[best];
        i = best;
    }
    if (n) c->heap[i] = k;
    return top;
}

/* ---- stops ---- */

struct trace_stops {
    const labels_db *labels;
    hmap addr, entity; /* address id / entity -> index of the stop label in the labels_db */
};

static long category_rank(const char *cat, const char *const *cats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cat, cats[i])) return (long)i;
    return -1;
}

/* Point key at label i unless it already points at a label of a category ranked earlier. */
static int stop_set(trace_stops *st, hmap *m, uint64_t key, uint32_t i, const char *const *cats,
                    size_t n)
{
    if (!m->cap && hmap_grow(m)) return UTIL_ENOMEM;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->val[j] != NONE32) {
        if (m->key[j] == key) {
            const labels_label *cur = labels_db_get(st->labels, m->val[j]);
            const labels_label *l = labels_db_get(st->labels, i);
            if (category_rank(l->category, cats, n) < category_rank(cur->category, cats, n))
                m->val[j] = i;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return hmap_put(m, key, i);
}

int trace_stops_build(trace_stops **out, const store *s, const labels_db *labels,
                      const cluster_map *clusters, const char *const *categories,
                      size_t n_categories, util_err *err)
{
    trace_stops *st = calloc(1, sizeof *st);
    if (!st) return util_errf(err, UTIL_ENOMEM, "out of memory");
    st->labels = labels;
    size_t n = labels_db_count(labels);
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, "btc") || category_rank(l->category, categories, n_categories) < 0)
            continue;
        btc_addr key;
        if (btc_addr_decode(&key, l->address, NULL)) continue;
        int64_t aid = store_find_addr(s, &key);
        if (aid < 0) continue;
        if (stop_set(st, &st->addr, (uint64_t)aid, (uint32_t)i, categories, n_categories))
            goto nomem;
        if (!clusters) continue;
        uint32_t e = cluster_entity_of(clusters, (uint32_t)aid);
        if (e != CLUSTER_NO_ENTITY &&
            stop_set(st, &st->entity, e, (uint32_t)i, categories, n_categories))
            goto nomem;
    }
    *out = st;
    return 0;
nomem:
    trace_stops_free(st);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

void trace_stops_free(trace_stops *st)
{
    if (!st) return;
    hmap_free(&st->addr);
    hmap_free(&st->entity);
    free(st);
}

size_t trace_stops_count(const trace_stops *st)
{
    return st->addr.n;
}

static uint32_t tx_rec_of(tctx *c, uint64_t tx)
{
    uint32_t r = hmap_get(&c->txs, tx);
    if (r != NONE32) return r;
    if (c->n_tr >= NONE32 - 1) return NONE32;
    if (grow((void **)&c->tr, &c->cap_tr, c->n_tr + 1, sizeof *c->tr)) return NONE32;
    r = (uint32_t)c->n_tr++;
    memset(&c->tr[r], 0, sizeof c->tr[r]);
    c->tr[r].tx = tx;
    c->tr[r].depth = UINT32_MAX;
    c->tr[r].parent = NONE32;
    if (hmap_put(&c->txs, tx, r)) return NONE32;
    return r;
}

/* Give amt of taint to output o (forward: created by tx rec from; backward: spent by it). */
static int route(tctx *c, uint64_t o, uint64_t amt, uint32_t from, int seed)
{
    if (!amt) return 0;
    uint32_t ex = hmap_get(&c->outs, o);
    if (ex != NONE32) { /* only a seed can be reached twice: it is already fully tainted */
        c->t.overlap += amt;
        return 0;
    }
    if (grow((void **)&c->or_, &c->cap_or, c->n_or + 1, sizeof *c->or_)) return UTIL_ENOMEM;
    uint32_t ri = (uint32_t)c->n_or++;
    if (hmap_put(&c->outs, o, ri)) return UTIL_ENOMEM;
    out_rec *r = &c->or_[ri];
    r->out = o;
    r->taint = amt;
    r->from = from;
    r->to = NONE32;
    r->endpoint = NONE32;
    uint32_t depth = from == NONE32 ? 0 : c->tr[from].depth;
    if (!seed) {
        uint32_t addr = store_out_addr(c->s, o);
        uint32_t lab = NONE32, ent = CLUSTER_NO_ENTITY;
        int via_entity = 0;
        if (addr != STORE_NO_ADDR) {
            lab = hmap_get(&c->stops->addr, addr);
            if (c->clusters) ent = cluster_entity_of(c->clusters, addr);
            if (lab == NONE32 && ent != CLUSTER_NO_ENTITY) {
                lab = hmap_get(&c->stops->entity, ent);
                via_entity = lab != NONE32;
            }
        }
        if (lab != NONE32) {
            uint32_t e = hmap_get(&c->eps, addr);
            if (e == NONE32) {
                if (grow((void **)&c->er, &c->cap_er, c->n_er + 1, sizeof *c->er))
                    return UTIL_ENOMEM;
                e = (uint32_t)c->n_er++;
                if (hmap_put(&c->eps, addr, e)) return UTIL_ENOMEM;
                c->er[e] = (ep_rec){addr, ent, lab, via_entity, 0, 0, ri};
            }
            c->er[e].amount += amt;
            c->er[e].deposits++;
            r->fate = F_ENDPOINT;
            r->endpoint = e;
            c->t.to_endpoints += amt;
            return 0;
        }
        if (amt < c->o->min_value) {
            r->fate = F_BELOW;
            c->t.below += amt;
            return 0;
        }
    }
    uint64_t next;
    if (c->o->direction == TRACE_FORWARD) {
        uint64_t in = store_out_spent_by(c->s, o);
        if (in == STORE_NONE) {
            r->fate = F_UNSPENT;
            c->t.unspent += amt;
            return 0;
        }
        next = store_input_tx(c->s, in);
    } else {
        next = store_output_tx(c->s, o);
    }
    uint32_t t = tx_rec_of(c, next);
    if (t == NONE32) return UTIL_ENOMEM;
    r = &c->or_[ri];
    r->fate = F_FOLLOWED;
    r->to = t;
    tx_rec *x = &c->tr[t];
    x->taint_in += amt;
    if (depth + 1 < x->depth) {
        x->depth = depth + 1;
        x->parent = from;
    }
    if (!x->queued) {
        x->queued = 1;
        if (heap_push(c, c->o->direction == TRACE_FORWARD ? next : ~next)) return UTIL_ENOMEM;
    }
    return 0;
}

static int rem_cmp(const void *pa, const void *pb)
{
    const struct rem *a = pa, *b = pb;
    if (a->r != b->r) return a->r > b->r ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* sh[k] = x * w[k] / d with largest-remainder rounding so that sum sh = x (d = sum w > 0). */
static void split_haircut(tctx *c, uint64_t x, const uint64_t *w, size_t m, uint64_t d,
                          uint64_t *sh)
{
    uint64_t sum = 0;
    for (size_t k = 0; k < m; k++) {
        unsigned __int128 p = (unsigned __int128)x * w[k];
        sh[k] = (uint64_t)(p / d);
        c->rm[k].r = (uint64_t)(p % d);
        c->rm[k].i = (uint32_t)k;
        sum += sh[k];
    }
    uint64_t left = x - sum; /* < m */
    if (!left) return;
    qsort(c->rm, m, sizeof *c->rm, rem_cmp);
    for (uint64_t k = 0; k < left; k++)
        sh[c->rm[k].i]++;
}

/* FIFO: tainted prefix of each segment of list A (lengths la, tainted ta) laid end to end,
 * against buckets B (lengths lb) laid end to end: sh[j] = tainted satoshis inside bucket j. */
static void split_fifo(const uint64_t *la, const uint64_t *ta, size_t na, const uint64_t *lb,
                       size_t nb, uint64_t *sh)
{
    size_t j = 0;
    uint64_t bs = 0, as = 0;
    for (size_t k = 0; k < nb; k++)
        sh[k] = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t lo = as, hi = as + ta[i];
        while (lo < hi && j < nb) {
            uint64_t be = bs + lb[j];
            if (be <= lo) {
                bs = be;
                j++;
                continue;
            }
            uint64_t e = hi < be ? hi : be;
            sh[j] += e - lo;
            lo = e;
            if (lo == be) {
                bs = be;
                j++;
            }
        }
        as += la[i];
    }
}

static int scratch(tctx *c, size_t n)
{
    if (n <= c->cap_s) return 0;
    size_t nc = n * 2;
    uint64_t *a = realloc(c->a, nc * sizeof *a);
    if (a) c->a = a;
    uint64_t *b = realloc(c->b, nc * sizeof *b);
    if (b) c->b = b;
    uint64_t *sh = realloc(c->sh, nc * sizeof *sh);
    if (sh) c->sh = sh;
    struct rem *rm = realloc(c->rm, nc * sizeof *rm);
    if (rm) c->rm = rm;
    if (!a || !b || !sh || !rm) return UTIL_ENOMEM;
    c->cap_s = nc;
    return 0;
}

/* Taint an output passed on to tx rec t (0 if it did not). */
static uint64_t taint_into(const tctx *c, uint64_t o, uint32_t t)
{
    uint32_t r = hmap_get(&c->outs, o);
    return r != NONE32 && c->or_[r].fate == F_FOLLOWED && c->or_[r].to == t ? c->or_[r].taint : 0;
}

static int process_tx(tctx *c, uint32_t t, util_err *err)
{
    tx_rec *x = &c->tr[t];
    uint64_t tx = x->tx;
    const store_tx_row *row = store_tx(c->s, tx);
    uint32_t nin = store_tx_n_in(c->s, tx), nout = store_tx_n_out(c->s, tx);
    int64_t height = row->block;
    int fwd = c->o->direction == TRACE_FORWARD;
    if (x->depth > c->o->hops) {
        x->status = S_BEYOND_HOPS;
        c->t.beyond_hops += x->taint_in;
        return 0;
    }
    if (c->o->until >= 0 && (fwd ? height > c->o->until : height < c->o->until)) {
        x->status = S_BEYOND_UNTIL;
        c->t.beyond_until += x->taint_in;
        return 0;
    }
    if (row->flags & STORE_TX_COINBASE) {
        x->status = S_COINBASE;
        c->t.coinbase += x->taint_in;
        return 0;
    }
    if (row->flags & STORE_TX_UNRESOLVED) {
        x->status = S_UNRESOLVED;
        c->t.unresolved += x->taint_in;
        return 0;
    }
    if (c->n_or + (fwd ? nout : nin) > c->o->max_outputs) {
        c->partial = 1;
        return 1; /* stop */
    }
    size_t n = 2 * ((size_t)nin + nout + 1);
    if (scratch(c, n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint64_t *a = c->a, *b = c->b, *sh = c->sh;
    uint64_t sum_in = 0, sum_out = 0;
    /* a[]: input values; b[]: output values then the fee */
    for (uint32_t i = 0; i < nin; i++) {
        int64_t v = store_out_value(c->s, store_in_prev(c->s, row->first_in + i));
        a[i] = v > 0 ? (uint64_t)v : 0;
        sum_in += a[i];
    }
    for (uint32_t j = 0; j < nout; j++) {
        int64_t v = store_out_value(c->s, row->first_out + j);
        b[j] = v > 0 ? (uint64_t)v : 0;
        sum_out += b[j];
    }
    if (sum_out > sum_in)
        return util_errf(err, UTIL_ECORRUPT, "tx %" PRIu64 " spends more than its inputs", tx);
    uint64_t fee = sum_in - sum_out;
    b[nout] = fee;
    uint64_t X = x->taint_in;
    uint64_t *ta = sh + nout + 1; /* per-segment taint, after the shares (n >= nin+nout+1) */
    if (fwd) {
        /* shares over outputs and the fee */
        if (c->o->policy == TRACE_POISON) {
            for (uint32_t j = 0; j <= nout; j++)
                sh[j] = b[j];
            x->added = sum_in - X;
        } else if (c->o->policy == TRACE_HAIRCUT) {
            split_haircut(c, X, b, nout + 1, sum_in, sh);
        } else {
            for (uint32_t i = 0; i < nin; i++)
                ta[i] = taint_into(c, store_in_prev(c->s, row->first_in + i), t);
            split_fifo(a, ta, nin, b, nout + 1, sh);
        }
        x->fee = sh[nout];
        c->t.fees += sh[nout];
        uint64_t out_sum = 0;
        for (uint32_t j = 0; j < nout; j++)
            out_sum += sh[j];
        x->taint_out = out_sum;
        x->status = S_FOLLOWED;
        for (uint32_t j = 0; j < nout; j++)
            if (route(c, row->first_out + j, sh[j], t, 0))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
    } else {
        /* shares over inputs */
        if (c->o->policy == TRACE_POISON) {
            for (uint32_t i = 0; i < nin; i++)
                sh[i] = a[i];
            x->added = sum_in - X;
        } else if (c->o->policy == TRACE_HAIRCUT) {
            split_haircut(c, X, a, nin, sum_in, sh);
        } else {
            ta = sh + nin;
            for (uint32_t j = 0; j < nout; j++)
                ta[j] = taint_into(c, row->first_out + j, t);
            split_fifo(b, ta, nout, a, nin, sh);
        }
        uint64_t in_sum = 0;
        for (uint32_t i = 0; i < nin; i++)
            in_sum += sh[i];
        x->taint_out = in_sum;
        x->status = S_FOLLOWED;
        for (uint32_t i = 0; i < nin; i++) {
            uint64_t p = store_in_prev(c->s, row->first_in + i);
            if (route(c, p, sh[i], t, 0)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    }
    x = &c->tr[t];
    if (x->taint_in + x->added != x->taint_out + x->fee)
        return util_errf(err, UTIL_ECORRUPT,
                         "trace accounting broken at tx %" PRIu64 " (internal error)", tx);
    return 0;
}

static json_t *txid_json(const store *s, uint64_t tx)
{
    char h[65];
    util_hash_hex(h, store_tx_hash(s, tx));
    return json_string(h);
}

static json_t *outpoint_json(const store *s, uint64_t o)
{
    uint64_t tx = store_output_tx(s, o);
    char h[65], buf[96];
    util_hash_hex(h, store_tx_hash(s, tx));
    snprintf(buf, sizeof buf, "%s:%" PRIu64, h, o - store_tx(s, tx)->first_out);
    return json_string(buf);
}

static json_t *addr_json(const store *s, uint32_t addr)
{
    if (addr == STORE_NO_ADDR) return json_null();
    char buf[128];
    btc_addr_encode(buf, store_addr(s, addr));
    return json_string(buf);
}

static json_t *label_json(const labels_label *l)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "category", l->category, "name", l->name, "source",
                     l->source, "address", l->address);
}

static int cmp_ep(const void *pa, const void *pb)
{
    const ep_rec *a = *(const ep_rec *const *)pa, *b = *(const ep_rec *const *)pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

#define JSET(o, k, v)                                                                              \
    do {                                                                                           \
        if (json_object_set_new((o), (k), (v))) goto nomem;                                        \
    } while (0)
#define JINT(v) json_integer((json_int_t)(v))

static int build_json(tctx *c, const trace_seeds *seeds, json_t **out, util_err *err)
{
    const store *s = c->s;
    int fwd = c->o->direction == TRACE_FORWARD;
    ep_rec **sorted = NULL;
    json_t *doc = json_object();
    if (!doc) goto nomem;
    json_t *js = json_array();
    JSET(doc, "seeds", js);
    for (size_t i = 0; i < seeds->n; i++)
        if (json_array_append_new(js, outpoint_json(s, seeds->out[i]))) goto nomem;
    JSET(doc, "policy", json_string(trace_policy_name(c->o->policy)));
    JSET(doc, "direction", json_string(trace_direction_name(c->o->direction)));
    JSET(doc, "limits",
         json_pack("{s:I, s:I, s:o, s:I, s:b}", "hops", (json_int_t)c->o->hops, "min_value",
                   (json_int_t)c->o->min_value, "until",
                   c->o->until >= 0 ? JINT(c->o->until) : json_null(), "max_outputs",
                   (json_int_t)c->o->max_outputs, "follow_mixers", c->o->follow_mixers));
    JSET(doc, "partial", json_boolean(c->partial));
    if (c->partial)
        JSET(doc, "partial_reason",
             json_string("the cap on visited outputs (max_outputs) was reached; the taint of "
                         "txs not yet processed is in totals.not_followed"));
    const totals *t = &c->t;
    uint64_t sinks = t->to_endpoints + t->unspent + t->fees + t->below + t->beyond_hops +
                     t->beyond_until + t->unresolved + t->coinbase + t->overlap + t->not_followed;
    json_t *jt = json_object();
    JSET(doc, "totals", jt);
    JSET(jt, "seeded", JINT(t->seeded));
    JSET(jt, "poison_added", JINT(t->poison_added));
    JSET(jt, "to_endpoints", JINT(t->to_endpoints));
    JSET(jt, "unspent", JINT(t->unspent));
    JSET(jt, "fees", JINT(t->fees));
    JSET(jt, "below_min_value", JINT(t->below));
    JSET(jt, "beyond_hops", JINT(t->beyond_hops));
    JSET(jt, "beyond_until", JINT(t->beyond_until));
    JSET(jt, "unresolved", JINT(t->unresolved));
    JSET(jt, "coinbase", JINT(t->coinbase));
    JSET(jt, "overlap", JINT(t->overlap));
    JSET(jt, "not_followed", JINT(t->not_followed));
    JSET(jt, "balanced", json_boolean(t->seeded + t->poison_added == sinks));
    JSET(doc, "outputs_visited", JINT(c->n_or));

    /* endpoints, largest first */
    sorted = malloc((c->n_er ? c->n_er : 1) * sizeof *sorted);
    if (!sorted) goto nomem;
    for (size_t i = 0; i < c->n_er; i++)
        sorted[i] = &c->er[i];
    qsort(sorted, c->n_er, sizeof *sorted, cmp_ep);
    json_t *je = json_array(), *bycat = json_object();
    JSET(doc, "endpoints", je);
    JSET(doc, "by_category", bycat);
    size_t nl = labels_db_count(c->labels);
    for (size_t i = 0; i < c->n_er; i++) {
        const ep_rec *e = sorted[i];
        const labels_label *stop = labels_db_get(c->labels, e->label);
        json_t *o = json_object();
        if (json_array_append_new(je, o)) goto nomem;
        JSET(o, "address", addr_json(s, e->addr));
        JSET(o, "entity", e->entity != CLUSTER_NO_ENTITY ? JINT(e->entity) : json_null());
        JSET(o, "via", json_string(e->via_entity ? "entity" : "address"));
        JSET(o, "category", json_string(stop->category));
        json_t *ls = json_array();
        JSET(o, "labels", ls);
        if (e->via_entity) {
            if (json_array_append_new(ls, label_json(stop))) goto nomem;
        } else { /* every label of the address (they are consecutive in the set) */
            size_t lo = e->label;
            while (lo > 0 && !strcmp(labels_db_get(c->labels, lo - 1)->address, stop->address) &&
                   !strcmp(labels_db_get(c->labels, lo - 1)->chain, stop->chain))
                lo--;
            for (size_t k = lo; k < nl; k++) {
                const labels_label *l = labels_db_get(c->labels, k);
                if (strcmp(l->address, stop->address) || strcmp(l->chain, stop->chain)) break;
                if (json_array_append_new(ls, label_json(l))) goto nomem;
            }
        }
        JSET(o, "amount", JINT(e->amount));
        JSET(o, "deposits", JINT(e->deposits));
        /* path: the txs from a seed to the first arrival, in trace order */
        json_t *path = json_array();
        JSET(o, "path", path);
        uint32_t chain[TRACE_MAX_HOPS + 2];
        size_t np = 0;
        for (uint32_t r = c->or_[e->first_out].from; r != NONE32 && np < TRACE_MAX_HOPS + 2;
             r = c->tr[r].parent)
            chain[np++] = r;
        while (np)
            if (json_array_append_new(path, txid_json(s, c->tr[chain[--np]].tx))) goto nomem;
        json_t *cur = json_object_get(bycat, stop->category);
        JSET(bycat, stop->category,
             JINT((cur ? (uint64_t)json_integer_value(cur) : 0) + e->amount));
    }

    /* edges: one per output that received taint */
    json_t *jed = json_array();
    JSET(doc, "edges", jed);
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *r = &c->or_[i];
        json_t *o = json_object();
        if (json_array_append_new(jed, o)) goto nomem;
        JSET(o, "from_tx", r->from != NONE32 ? txid_json(s, c->tr[r->from].tx) : json_null());
        JSET(o, "to_tx", r->to != NONE32 ? txid_json(s, c->tr[r->to].tx) : json_null());
        JSET(o, "output", outpoint_json(s, r->out));
        JSET(o, "address", addr_json(s, store_out_addr(s, r->out)));
        JSET(o, "value", JINT(r->taint));
        JSET(o, "fate", json_string(fate_names[r->fate]));
    }

    /* txs with their accounting and annotations */
    json_t *jtx = json_array();
    JSET(doc, "txs", jtx);
    cluster_scratch sc = {0};
    for (size_t i = 0; i < c->n_tr; i++) {
        const tx_rec *x = &c->tr[i];
        json_t *o = json_object();
        if (json_array_append_new(jtx, o)) goto nomem_sc;
        if (json_object_set_new(o, "txid", txid_json(s, x->tx)) ||
            json_object_set_new(o, "height", JINT(store_tx(s, x->tx)->block)) ||
            json_object_set_new(o, "depth", JINT(x->depth)) ||
            json_object_set_new(o, "status", json_string(status_names[x->status])) ||
            json_object_set_new(o, "taint_in", JINT(x->taint_in)) ||
            json_object_set_new(o, "added", JINT(x->added)) ||
            json_object_set_new(o, "taint_out", JINT(x->taint_out)) ||
            json_object_set_new(o, "fee", JINT(x->fee)))
            goto nomem_sc;
        if (x->status != S_FOLLOWED) continue;
        int kind;
        if (c->clusters && x->tx < cluster_map_txs(c->clusters))
            kind = cluster_tx_kind(c->clusters, x->tx);
        else
            kind = cluster_detect(s, x->tx, &sc);
        if (kind < 0) goto nomem_sc;
        int peel = cluster_peel_chain(s, x->tx);
        if (json_object_set_new(o, "coinjoin", json_string(cluster_cj_kind_name(kind))) ||
            json_object_set_new(o, "peel", JINT(peel)))
            goto nomem_sc;
    }
    cluster_scratch_free(&sc);
    (void)fwd;
    free(sorted);
    *out = doc;
    return 0;
nomem_sc:
    cluster_scratch_free(&sc);
nomem:
    free(sorted);
    json_decref(doc);
    return util_errf(err, UTIL_ENOMEM, "out of memory building the trace document");
}

static void tctx_free(tctx *c)
{
    hmap_free(&c->outs);
    hmap_free(&c->txs);
    hmap_free(&c->eps);
    free(c->or_);
    free(c->tr);
    free(c->er);
    free(c->heap);
    free(c->a);
    free(c->b);
    free(c->sh);
    free(c->rm);
}

static int check_opts(const trace_opts *o, const trace_seeds *seeds, util_err *err)
{
    if (o->policy < 0 || o->policy > TRACE_FIFO)
        return util_errf(err, UTIL_EINVAL, "unknown policy");
    if (o->direction < 0 || o->direction > TRACE_BACKWARD)
        return util_errf(err, UTIL_EINVAL, "unknown direction");
    if (o->hops < 1 || o->hops > TRACE_MAX_HOPS)
        return util_errf(err, UTIL_EINVAL, "hops must be 1..%d, not %u", TRACE_MAX_HOPS, o->hops);
    if (!seeds->n) return util_errf(err, UTIL_EINVAL, "no seeds to trace from");
    if (!o->max_outputs) return util_errf(err, UTIL_EINVAL, "max_outputs must be positive");
    return 0;
}

/* Propagate the seeds' taint to the end (or to the output cap). */
static int trace_exec(tctx *c, const trace_seeds *seeds, util_err *err)
{
    const trace_opts *o = c->o;
    for (size_t i = 0; i < seeds->n; i++) {
        uint64_t v = (uint64_t)store_out_value(c->s, seeds->out[i]);
        c->t.seeded += v;
        if (route(c, seeds->out[i], v, NONE32, 1))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    while (c->n_heap) {
        uint64_t k = heap_pop(c);
        uint64_t tx = o->direction == TRACE_FORWARD ? k : ~k;
        uint32_t t = hmap_get(&c->txs, tx);
        int rc = process_tx(c, t, err);
        if (rc < 0) return rc;
        if (rc > 0) { /* cap reached: this tx and everything queued is not followed */
            c->tr[t].status = S_NOT_FOLLOWED;
            c->t.not_followed += c->tr[t].taint_in;
            while (c->n_heap) {
                uint64_t k2 = heap_pop(c);
                uint32_t t2 = hmap_get(&c->txs, o->direction == TRACE_FORWARD ? k2 : ~k2);
                c->tr[t2].status = S_NOT_FOLLOWED;
                c->t.not_followed += c->tr[t2].taint_in;
            }
            return 0;
        }
        c->t.poison_added += c->tr[t].added;
    }
    return 0;
}

int trace_run(const store *s, const labels_db *labels, const cluster_map *clusters,
              const trace_seeds *seeds, const trace_opts *o, json_t **out, util_err *err)
{
    int rc = check_opts(o, seeds, err);
    if (rc) return rc;
    static const char *const services[] = {"exchange", "otc", "bridge", "swap", "mixer"};
    trace_stops *stops = NULL;
    rc = trace_stops_build(&stops, s, labels, clusters, services, o->follow_mixers ? 4 : 5, err);
    if (rc) return rc;
    tctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.labels = labels;
    c.clusters = clusters;
    c.o = o;
    c.stops = stops;
    rc = trace_exec(&c, seeds, err);
    if (!rc) rc = build_json(&c, seeds, out, err);
    tctx_free(&c);
    trace_stops_free(stops);
    return rc;
}

/* ---- exposure ---- */

void trace_exposure_free(trace_exposure *x)
{
    for (size_t i = 0; i < x->n_cat; i++)
        free(x->cat[i].path);
    free(x->cat);
    memset(x, 0, sizeof *x);
}

static int exposure_collect(tctx *c, trace_exposure *x)
{
    x->seeded = c->t.seeded;
    x->to_endpoints = c->t.to_endpoints;
    x->outputs_visited = c->n_or;
    x->partial = c->partial;
    for (size_t i = 0; i < c->n_er; i++) {
        const ep_rec *e = &c->er[i];
        const labels_label *l = labels_db_get(c->labels, e->label);
        trace_exposure_cat *k = NULL;
        for (size_t j = 0; j < x->n_cat; j++)
            if (!strcmp(x->cat[j].category, l->category)) k = &x->cat[j];
        if (!k) {
            trace_exposure_cat *nc = realloc(x->cat, (x->n_cat + 1) * sizeof *nc);
            if (!nc) return UTIL_ENOMEM;
            x->cat = nc;
            k = &x->cat[x->n_cat++];
            memset(k, 0, sizeof *k);
            k->category = l->category;
            k->hops = UINT32_MAX;
        }
        k->amount += e->amount;
        k->endpoints++;
        uint32_t from = c->or_[e->first_out].from;
        uint32_t hops = from == NONE32 ? 0 : c->tr[from].depth;
        if (hops < k->hops || (hops == k->hops && e->amount > k->nearest_amount)) {
            k->hops = hops;
            k->nearest_amount = e->amount;
            k->nearest_label = e->label;
            k->nearest_addr = e->addr;
            k->nearest_entity = e->entity;
            k->nearest_via_entity = e->via_entity;
            size_t np = 0;
            for (uint32_t r = from; r != NONE32 && np <= TRACE_MAX_HOPS; r = c->tr[r].parent)
                np++;
            uint64_t *path = malloc((np ? np : 1) * sizeof *path);
            if (!path) return UTIL_ENOMEM;
            size_t at = np;
            for (uint32_t r = from; r != NONE32 && at; r = c->tr[r].parent)
                path[--at] = c->tr[r].tx;
            free(k->path);
            k->path = path;
            k->path_len = np;
        }
    }
    return 0;
}

int trace_exposure_run(const store *s, const labels_db *labels, const cluster_map *clusters,
                       const trace_stops *stops, const trace_seeds *seeds, const trace_opts *o,
                       trace_exposure *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(o, seeds, err);
    if (rc) return rc;
    tctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.labels = labels;
    c.clusters = clusters;
    c.o = o;
    c.stops = stops;
    rc = trace_exec(&c, seeds, err);
    if (!rc && exposure_collect(&c, out)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    tctx_free(&c);
    if (rc) trace_exposure_free(out);
    return rc;
}

/* ---- DOT ---- */

static const char *trace_str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void dot_id(FILE *f, const char *txid)
{
    fprintf(f, "\"%.16s\"", txid ? txid : "seed");
}

int trace_write_dot(json_t *doc, FILE *f, util_err *err)
{
    int fwd = !strcmp(trace_str(doc, "direction"), "forward");
    fprintf(f, "digraph trace {\n  rankdir=LR;\n  node [fontsize=10];\n");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(doc, "txs"), i, x)
    {
        const char *txid = json_string_value(json_object_get(x, "txid"));
        const char *cj = json_string_value(json_object_get(x, "coinjoin"));
        long long peel = (long long)json_integer_value(json_object_get(x, "peel"));
        fprintf(f, "  ");
        dot_id(f, txid);
        fprintf(f, " [shape=box, label=\"%.16s\\nh%lld %s%s%s\"];\n", txid,
                (long long)json_integer_value(json_object_get(x, "height")),
                json_string_value(json_object_get(x, "status")),
                cj && strcmp(cj, "none") ? "\\ncoinjoin " : "", cj && strcmp(cj, "none") ? cj : "");
        if (peel) {
            fprintf(f, "  ");
            dot_id(f, txid);
            fprintf(f, " [style=dashed];\n");
        }
    }
    json_array_foreach(json_object_get(doc, "edges"), i, x)
    {
        const char *from = json_string_value(json_object_get(x, "from_tx"));
        const char *to = json_string_value(json_object_get(x, "to_tx"));
        const char *fate = json_string_value(json_object_get(x, "fate"));
        const char *addr = json_string_value(json_object_get(x, "address"));
        long long v = (long long)json_integer_value(json_object_get(x, "value"));
        char node[200];
        if (!to) {
            if (!strcmp(fate, "endpoint"))
                snprintf(node, sizeof node, "endpoint %s", addr ? addr : "?");
            else
                snprintf(node, sizeof node, "%s", fate);
            fprintf(f, "  \"%s\" [shape=%s];\n", node,
                    !strcmp(fate, "endpoint") ? "doubleoctagon" : "plaintext");
        }
        fprintf(f, "  ");
        /* money moves from -> to forward, to -> from backward */
        if (fwd) {
            dot_id(f, from);
            fprintf(f, " -> ");
            if (to)
                dot_id(f, to);
            else
                fprintf(f, "\"%s\"", node);
        } else {
            if (to)
                dot_id(f, to);
            else
                fprintf(f, "\"%s\"", node);
            fprintf(f, " -> ");
            dot_id(f, from);
        }
        fprintf(f, " [label=\"%lld\"];\n", v);
    }
    fprintf(f, "}\n");
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}
