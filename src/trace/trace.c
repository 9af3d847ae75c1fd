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
    o->until_time = -1;
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

/* One SPEC, or with allow_entity also "entity:..." (clusters may be NULL then). */
static int add_spec_line(trace_seeds *sd, const store *s, const cluster_map *clusters,
                         int allow_entity, const char *spec, util_err *err)
{
    if (allow_entity && !strncmp(spec, "entity:", 7))
        return trace_add_entity(sd, s, clusters, spec + 7, err);
    return add_one_spec(sd, s, spec, err);
}

static int add_spec(trace_seeds *sd, const store *s, const cluster_map *clusters, int allow_entity,
                    const char *spec, util_err *err)
{
    if (spec[0] != '@') return add_spec_line(sd, s, clusters, allow_entity, spec, err);
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
        if ((rc = add_spec_line(sd, s, clusters, allow_entity, p, err))) {
            util_err_prefix(err, "%s:%u", path, lineno);
            break;
        }
    }
    if (!rc && ferror(f)) rc = util_errf(err, UTIL_EIO, "%s: read error", path);
    fclose(f);
    if (!rc && sd->n == before) rc = util_errf(err, UTIL_EINVAL, "%s: no seeds in the file", path);
    return rc;
}

int trace_add_spec(trace_seeds *sd, const store *s, const char *spec, util_err *err)
{
    return add_spec(sd, s, NULL, 0, spec, err);
}

int trace_add_spec_entities(trace_seeds *sd, const store *s, const cluster_map *clusters,
                            const char *spec, util_err *err)
{
    return add_spec(sd, s, clusters, 1, spec, err);
}

/* ---- --until as a time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at p (no sign, no spaces), or -1. */
static long digits(const char *p, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC) to unix seconds; -1 if malformed. */
static int64_t parse_utc(const char *a)
{
    size_t n = strlen(a);
    if (n < 10 || a[4] != '-' || a[7] != '-') return -1;
    long y = digits(a, 4), mo = digits(a + 5, 2), d = digits(a + 8, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1) return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return -1;
    long hh = 0, mm = 0, ss = 0;
    const char *p = a + 10;
    if (*p) {
        if (*p != 'T' || strlen(p) < 6 || p[3] != ':') return -1;
        hh = digits(p + 1, 2), mm = digits(p + 4, 2);
        p += 6;
        if (*p == ':') {
            ss = digits(p + 1, 2);
            p += 3;
            if (strlen(a) < (size_t)(p - a)) return -1;
        }
        if (*p == 'Z') p++;
        if (*p || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59) return -1;
    }
    return days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
}

/* The first index whose value is >= t in a non-decreasing array (n if none). */
static uint64_t first_at_least(const uint32_t *v, uint64_t n, int64_t t)
{
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((int64_t)v[mid] >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int trace_until_parse(const store *s, const char *arg, int direction, int64_t *height,
                      int64_t *time, util_err *err)
{
    *height = -1;
    *time = -1;
    int64_t t;
    char *end;
    if (isdigit((unsigned char)arg[0]) && strlen(arg) <= 10 &&
        strspn(arg, "0123456789") == strlen(arg)) {
        unsigned long long h = strtoull(arg, &end, 10);
        if (h > INT32_MAX)
            return util_errf(err, UTIL_EINVAL, "--until %s: height out of range", arg);
        *height = (int64_t)h;
        return 0;
    }
    if (arg[0] == '@') {
        const char *p = arg + 1;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (!isdigit((unsigned char)*p) || *end || errno || v > UINT32_MAX)
            return util_errf(err, UTIL_EINVAL,
                             "--until %s: want @SECONDS (unix time, 0..4294967295)", arg);
        t = (int64_t)v;
    } else if ((t = parse_utc(arg)) < 0) {
        return util_errf(err, UTIL_EINVAL,
                         "--until %s: want a height, @UNIX_SECONDS, YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM[:SS]Z (UTC)",
                         arg);
    }
    uint64_t nb = store_get_totals(s)->blocks;
    if (!nb) return util_errf(err, UTIL_ENOTFOUND, "--until %s: the store has no blocks", arg);
    /* The running maximum of block times is monotonic where the times are not; it is what
     * Bitcoin Core searches (CBlockIndex::nTimeMax, FindEarliestAtLeast). */
    uint32_t *tmax = malloc(nb * sizeof *tmax);
    if (!tmax) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint32_t m = 0;
    for (uint64_t h = 0; h < nb; h++) {
        uint32_t bt = store_block(s, h)->time;
        tmax[h] = m = bt > m ? bt : m;
    }
    /* forward: the last height whose running maximum is <= t; backward: the first >= t */
    uint64_t first = first_at_least(tmax, nb, direction == TRACE_FORWARD ? t + 1 : t);
    free(tmax);
    if (direction == TRACE_FORWARD) {
        if (!first)
            return util_errf(err, UTIL_ENOTFOUND, "--until %s: before the first block (time %u)",
                             arg, store_block(s, 0)->time);
        *height = (int64_t)first - 1;
    } else {
        if (first == nb)
            return util_errf(err, UTIL_ENOTFOUND,
                             "--until %s: after the last block (height %" PRIu64 ")", arg, nb - 1);
        *height = (int64_t)first;
    }
    *time = t;
    return 0;
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
    if (left <= 8) {
        /* Usually one or two satoshis are left over: pick the largest remainders by scans
         * (the first of equal ones, as the sort's tie rule) instead of sorting every bucket. */
        for (uint64_t k = 0; k < left; k++) {
            size_t best = SIZE_MAX;
            for (size_t q = 0; q < m; q++)
                if (c->rm[q].i != NONE32 && (best == SIZE_MAX || c->rm[q].r > c->rm[best].r))
                    best = q;
            sh[best]++;
            c->rm[best].i = NONE32;
        }
        return;
    }
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

/* ---- patterns along the path (docs/tracing.md, "Annotations") ---- */

enum {
    P_SPLIT = 1 << 0,
    P_CONSOLIDATE = 1 << 1,
    P_PEEL = 1 << 2,
    P_COINJOIN = 1 << 3,
    P_HOP = 1 << 4,
    P_FRESH = 1 << 5,
    P_BRIDGE = 1 << 6,
    P_SWAP = 1 << 7,
};
static const char *const pattern_names[] = {"split", "consolidate", "peel",   "coinjoin",
                                            "hop",   "fresh",       "bridge", "swap"};

typedef struct tx_pat {
    int kind, peel; /* CoinJoin kind, peel chain length */
    uint8_t mask;   /* P_SPLIT P_CONSOLIDATE P_PEEL P_COINJOIN P_HOP */
} tx_pat;

/* The output's address never received anything before it (the first output paying it). */
static int fresh_output(const store *s, uint64_t o)
{
    return store_out_addr(s, o) != STORE_NO_ADDR && store_out_prev_same_addr(s, o) == STORE_NONE;
}

/* The shape of one tx (only txs split by the trace; others get 0). */
static int tx_shape(const tctx *c, uint64_t tx, cluster_scratch *sc, tx_pat *p)
{
    const store *s = c->s;
    if (c->clusters && tx < cluster_map_txs(c->clusters))
        p->kind = cluster_tx_kind(c->clusters, tx);
    else if ((p->kind = cluster_detect(s, tx, sc)) < 0)
        return UTIL_ENOMEM;
    p->peel = cluster_peel_chain(s, tx);
    uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx), paid = 0, fresh = 0;
    uint64_t first = store_tx(s, tx)->first_out;
    for (uint32_t j = 0; j < nout; j++) {
        if (store_out_addr(s, first + j) == STORE_NO_ADDR || store_out_value(s, first + j) <= 0)
            continue;
        paid++;
        fresh += fresh_output(s, first + j);
    }
    uint8_t m = 0;
    if (cluster_cj_excludes(p->kind)) m |= P_COINJOIN;
    if (p->peel > 0) m |= P_PEEL;
    /* A Tx0 fans one wallet's coin out too, but it is the mixer's own step, not a split. */
    if (!(m & (P_COINJOIN | P_PEEL)) && p->kind != CLUSTER_CJ_WHIRLPOOL_TX0) {
        if (nin <= 2 && paid >= 3) m |= P_SPLIT;
        if ((nin >= 2 && paid == 1) || (nin >= 3 && paid == 2)) m |= P_CONSOLIDATE;
        if (!(m & (P_SPLIT | P_CONSOLIDATE)) && nin <= 2 && paid >= 1 && paid <= 2 && fresh == paid)
            m |= P_HOP;
    }
    p->mask = m;
    return 0;
}

/* *out[i]: the shape of tx rec i. *out is owned by the caller (free). */
static int tx_patterns(const tctx *c, tx_pat **out)
{
    tx_pat *tp = calloc(c->n_tr ? c->n_tr : 1, sizeof *tp);
    if (!tp) return UTIL_ENOMEM;
    cluster_scratch sc = {0};
    for (size_t i = 0; i < c->n_tr; i++)
        if (c->tr[i].status == S_FOLLOWED && tx_shape(c, c->tr[i].tx, &sc, &tp[i])) {
            cluster_scratch_free(&sc);
            free(tp);
            return UTIL_ENOMEM;
        }
    cluster_scratch_free(&sc);
    /* Paying a service is a deposit, not a hop, even to a fresh deposit address. */
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *r = &c->or_[i];
        uint32_t creator = c->o->direction == TRACE_FORWARD ? r->from : r->to;
        if (r->fate == F_ENDPOINT && creator != NONE32) tp[creator].mask &= (uint8_t)~P_HOP;
    }
    *out = tp;
    return 0;
}

/* An edge carries the shape of the tx that created its output (split, peel, coinjoin, hop),
 * consolidation when the tx spending it merges it, fresh when its address is new, and the
 * endpoint's category when it is a bridge or swap deposit. */
static uint8_t edge_patterns(const tctx *c, const tx_pat *tp, uint32_t i)
{
    const out_rec *r = &c->or_[i];
    int fwd = c->o->direction == TRACE_FORWARD;
    uint32_t creator = fwd ? r->from : r->to, spender = fwd ? r->to : r->from;
    uint8_t m = 0;
    if (creator != NONE32) m |= tp[creator].mask & (P_SPLIT | P_PEEL | P_COINJOIN | P_HOP);
    if (spender != NONE32) m |= tp[spender].mask & P_CONSOLIDATE;
    if (fresh_output(c->s, r->out)) m |= P_FRESH;
    if (r->fate == F_ENDPOINT) {
        const char *cat = labels_db_get(c->labels, c->er[r->endpoint].label)->category;
        if (!strcmp(cat, "bridge")) m |= P_BRIDGE;
        if (!strcmp(cat, "swap")) m |= P_SWAP;
    }
    return m;
}

static json_t *patterns_json(uint8_t m)
{
    json_t *a = json_array();
    for (int k = 0; a && k < 8; k++)
        if (m & (1u << k) && json_array_append_new(a, json_string(pattern_names[k]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- the entity graph: who passed tainted value to whom ---- */

typedef struct gnode {
    uint64_t key;         /* entity id, or G_ADDR | address id, or G_NOADDR */
    uint32_t addr, label; /* a representative address; the stop label if an endpoint */
    uint64_t seeded, received, sent, to_endpoint;
} gnode;
typedef struct gedge {
    uint32_t from, to;
    uint64_t value, outputs;
    uint8_t mask;
} gedge;
#define G_ADDR (1ull << 32)
#define G_NOADDR (1ull << 33)

typedef struct graph {
    hmap nmap, emap;
    gnode *n;
    size_t nn, cap_n;
    gedge *e;
    size_t ne, cap_e;
} graph;

static void graph_free(graph *g)
{
    hmap_free(&g->nmap);
    hmap_free(&g->emap);
    free(g->n);
    free(g->e);
}

/* The node of an output's owner: its entity when clustered, else its address. */
static uint32_t graph_node(graph *g, const tctx *c, uint64_t o)
{
    uint32_t addr = store_out_addr(c->s, o);
    uint64_t key = G_NOADDR;
    if (addr != STORE_NO_ADDR) {
        uint32_t ent = c->clusters ? cluster_entity_of(c->clusters, addr) : CLUSTER_NO_ENTITY;
        key = ent != CLUSTER_NO_ENTITY ? ent : G_ADDR | addr;
    }
    uint32_t k = hmap_get(&g->nmap, key);
    if (k != NONE32) return k;
    if (grow((void **)&g->n, &g->cap_n, g->nn + 1, sizeof *g->n)) return NONE32;
    k = (uint32_t)g->nn++;
    if (hmap_put(&g->nmap, key, k)) return NONE32;
    g->n[k] = (gnode){key, addr, NONE32, 0, 0, 0, 0};
    return k;
}

static int graph_add(graph *g, uint32_t from, uint32_t to, uint64_t v, uint8_t mask, int count)
{
    if (!v) return 0;
    uint64_t key = (uint64_t)from << 32 | to;
    uint32_t k = hmap_get(&g->emap, key);
    if (k == NONE32) {
        if (grow((void **)&g->e, &g->cap_e, g->ne + 1, sizeof *g->e)) return UTIL_ENOMEM;
        k = (uint32_t)g->ne++;
        if (hmap_put(&g->emap, key, k)) return UTIL_ENOMEM;
        g->e[k] = (gedge){from, to, 0, 0, 0};
    }
    g->e[k].value += v;
    g->e[k].outputs += (uint64_t)count;
    g->e[k].mask |= mask;
    g->n[from].sent += v;
    g->n[to].received += v;
    return 0;
}

static int cmp_u64pair(const void *pa, const void *pb)
{
    const uint64_t *a = pa, *b = pb;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

static int cmp_gedge(const void *pa, const void *pb)
{
    const gedge *a = pa, *b = pb;
    if (a->value != b->value) return a->value > b->value ? -1 : 1;
    if (a->from != b->from) return a->from < b->from ? -1 : 1;
    return a->to < b->to ? -1 : a->to > b->to;
}

/* For each split tx, the taint it produced (outputs forward, inputs backward) goes from the
 * owner of the tx's inputs to the owners of its outputs, so the edges of a tx sum exactly to its
 * taint_out. When the taint came in from several holders, it all goes from the one that brought
 * the most: splitting every share between every holder makes holders x shares edges, which for
 * a poison trace through CoinJoins is more than the trace itself. */
static int graph_fill(graph *g, tctx *c, const uint8_t *om)
{
    int fwd = c->o->direction == TRACE_FORWARD;
    uint32_t *node = malloc((c->n_or ? c->n_or : 1) * sizeof *node);
    size_t *in_start = calloc(c->n_tr + 1, sizeof *in_start);
    size_t *out_start = calloc(c->n_tr + 1, sizeof *out_start);
    uint32_t *in_idx = malloc((c->n_or ? c->n_or : 1) * sizeof *in_idx);
    uint32_t *out_idx = malloc((c->n_or ? c->n_or : 1) * sizeof *out_idx);
    uint64_t *grp = NULL;
    size_t cap_grp = 0;
    int rc = UTIL_ENOMEM;
    if (!node || !in_start || !out_start || !in_idx || !out_idx) goto out;
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *r = &c->or_[i];
        if ((node[i] = graph_node(g, c, r->out)) == NONE32) goto out;
        gnode *n = &g->n[node[i]];
        if (r->from == NONE32) n->seeded += r->taint;
        if (r->fate == F_ENDPOINT) {
            n->to_endpoint += r->taint;
            if (n->label == NONE32) n->label = c->er[r->endpoint].label;
        }
        if (r->to != NONE32) in_start[r->to + 1]++;
        if (r->from != NONE32) out_start[r->from + 1]++;
    }
    for (size_t t = 0; t < c->n_tr; t++) {
        in_start[t + 1] += in_start[t];
        out_start[t + 1] += out_start[t];
    }
    {
        size_t *fi = calloc(c->n_tr + 1, sizeof *fi), *fo = calloc(c->n_tr + 1, sizeof *fo);
        if (!fi || !fo) {
            free(fi);
            free(fo);
            goto out;
        }
        for (size_t i = 0; i < c->n_or; i++) {
            const out_rec *r = &c->or_[i];
            if (r->to != NONE32) in_idx[in_start[r->to] + fi[r->to]++] = (uint32_t)i;
            if (r->from != NONE32) out_idx[out_start[r->from] + fo[r->from]++] = (uint32_t)i;
        }
        free(fi);
        free(fo);
    }
    for (size_t t = 0; t < c->n_tr; t++) {
        if (c->tr[t].status != S_FOLLOWED) continue;
        /* groups: (node, taint brought in), by node */
        size_t ni = in_start[t + 1] - in_start[t], ng = 0;
        if (grow((void **)&grp, &cap_grp, 2 * ni + 2, sizeof *grp)) goto out;
        for (size_t k = 0; k < ni; k++) {
            uint32_t i = in_idx[in_start[t] + k];
            grp[2 * k] = node[i];
            grp[2 * k + 1] = c->or_[i].taint;
        }
        qsort(grp, ni, 2 * sizeof *grp, cmp_u64pair);
        for (size_t k = 0; k < ni; k++) {
            if (ng && grp[2 * (ng - 1)] == grp[2 * k]) {
                grp[2 * (ng - 1) + 1] += grp[2 * k + 1];
                continue;
            }
            grp[2 * ng] = grp[2 * k];
            grp[2 * ng + 1] = grp[2 * k + 1];
            ng++;
        }
        if (!ng) continue;
        size_t main = 0; /* the holder that brought the most taint (ties: the first) */
        for (size_t k = 1; k < ng; k++)
            if (grp[2 * k + 1] > grp[2 * main + 1]) main = k;
        uint32_t src = (uint32_t)grp[2 * main];
        for (size_t k = out_start[t]; k < out_start[t + 1]; k++) {
            uint32_t i = out_idx[k];
            if (fwd ? graph_add(g, src, node[i], c->or_[i].taint, om[i], 1)
                    : graph_add(g, node[i], src, c->or_[i].taint, om[i], 1))
                goto out;
        }
    }
    rc = 0;
out:
    free(node);
    free(in_start);
    free(out_start);
    free(in_idx);
    free(out_idx);
    free(grp);
    return rc;
}

static json_t *node_id_json(const tctx *c, const gnode *n)
{
    char buf[160];
    if (n->key == G_NOADDR) return json_string("no-address");
    if (n->key & G_ADDR) {
        char a[128];
        btc_addr_encode(a, store_addr(c->s, n->addr));
        snprintf(buf, sizeof buf, "a:%s", a);
    } else {
        snprintf(buf, sizeof buf, "e%" PRIu64, n->key);
    }
    return json_string(buf);
}

#define JINT(v) json_integer((json_int_t)(v))

/* Strings and arrays that recur across a document's edges (txids, addresses, pattern lists),
 * made once and shared by reference: jansson values have no parent, and for a wide trace the
 * allocations and hex/base58 encodings were most of the document's cost. */
typedef struct jcache {
    json_t **tx;      /* per tx rec */
    json_t *pat[256]; /* per pattern mask */
    hmap addr_idx;    /* address id -> index in addr */
    json_t **addr;
    size_t n_addr, cap_addr;
} jcache;

static void jcache_free(jcache *k, size_t n_tx)
{
    for (size_t i = 0; k->tx && i < n_tx; i++)
        json_decref(k->tx[i]);
    free(k->tx);
    for (int i = 0; i < 256; i++)
        json_decref(k->pat[i]);
    for (size_t i = 0; i < k->n_addr; i++)
        json_decref(k->addr[i]);
    free(k->addr);
    hmap_free(&k->addr_idx);
}

/* New references (NULL if out of memory). */
static json_t *jc_tx(jcache *k, const tctx *c, uint32_t t)
{
    if (!k->tx[t] && !(k->tx[t] = txid_json(c->s, c->tr[t].tx))) return NULL;
    return json_incref(k->tx[t]);
}

static json_t *jc_pat(jcache *k, uint8_t m)
{
    if (!k->pat[m] && !(k->pat[m] = patterns_json(m))) return NULL;
    return json_incref(k->pat[m]);
}

static json_t *jc_addr(jcache *k, const store *s, uint32_t addr)
{
    if (addr == STORE_NO_ADDR) return json_null();
    uint32_t i = hmap_get(&k->addr_idx, addr);
    if (i != NONE32) return json_incref(k->addr[i]);
    if (grow((void **)&k->addr, &k->cap_addr, k->n_addr + 1, sizeof *k->addr)) return NULL;
    json_t *v = addr_json(s, addr);
    if (!v) return NULL;
    if (hmap_put(&k->addr_idx, addr, (uint32_t)k->n_addr)) {
        json_decref(v);
        return NULL;
    }
    k->addr[k->n_addr++] = v;
    return json_incref(v);
}

/* The graph as JSON: {"level": "entity"|"address", "nodes": [...], "edges": [...]}
 * (docs/tracing.md). NULL if out of memory. */
static json_t *graph_json(const tctx *c, const graph *g)
{
    json_t *nodes = json_array(), *edges = json_array(), **ids = NULL;
    json_t *jg = json_pack("{s:s, s:o, s:o}", "level", c->clusters ? "entity" : "address", "nodes",
                           nodes, "edges", edges);
    if (!jg) return NULL;
    ids = calloc(g->nn ? g->nn : 1, sizeof *ids);
    if (!ids) goto fail;
    for (size_t k = 0; k < g->nn; k++) {
        const gnode *n = &g->n[k];
        if (!(ids[k] = node_id_json(c, n))) goto fail;
        json_t *o = json_pack("{s:O, s:o, s:o, s:I, s:I, s:I, s:I}", "id", ids[k], "entity",
                              n->key & (G_ADDR | G_NOADDR) ? json_null() : JINT(n->key), "address",
                              addr_json(c->s, n->addr), "seeded", (json_int_t)n->seeded, "received",
                              (json_int_t)n->received, "sent", (json_int_t)n->sent, "to_endpoint",
                              (json_int_t)n->to_endpoint);
        if (!o || json_array_append_new(nodes, o)) goto fail;
        if (n->label != NONE32) {
            const labels_label *l = labels_db_get(c->labels, n->label);
            if (json_object_set_new(o, "category", json_string(l->category)) ||
                json_object_set_new(o, "name", json_string(l->name)))
                goto fail;
        }
    }
    for (size_t k = 0; k < g->ne; k++) {
        const gedge *e = &g->e[k];
        json_t *o = json_pack("{s:O, s:O, s:I, s:I, s:o}", "from", ids[e->from], "to", ids[e->to],
                              "value", (json_int_t)e->value, "outputs", (json_int_t)e->outputs,
                              "patterns", patterns_json(e->mask));
        if (!o || json_array_append_new(edges, o)) goto fail;
    }
    for (size_t k = 0; k < g->nn; k++)
        json_decref(ids[k]);
    free(ids);
    return jg;
fail:
    if (ids)
        for (size_t k = 0; k < g->nn; k++)
            json_decref(ids[k]);
    free(ids);
    json_decref(jg);
    return NULL;
}

static int build_graph(tctx *c, json_t *doc, const uint8_t *om)
{
    graph g;
    memset(&g, 0, sizeof g);
    int rc = graph_fill(&g, c, om);
    if (!rc) {
        if (g.ne) qsort(g.e, g.ne, sizeof *g.e, cmp_gedge); /* g.e is NULL when no tx was split */
        json_t *jg = graph_json(c, &g);
        if (!jg || json_object_set_new(doc, "graph", jg)) rc = UTIL_ENOMEM;
    }
    graph_free(&g);
    return rc;
}

#define JSET(o, k, v)                                                                              \
    do {                                                                                           \
        if (json_object_set_new((o), (k), (v))) goto nomem;                                        \
    } while (0)

static int build_json(tctx *c, const trace_seeds *seeds, json_t **out, util_err *err)
{
    const store *s = c->s;
    int fwd = c->o->direction == TRACE_FORWARD;
    ep_rec **sorted = NULL;
    tx_pat *tp = NULL;
    uint8_t *om = NULL;
    jcache jc;
    memset(&jc, 0, sizeof jc);
    json_t *fates[5] = {0};
    json_t *doc = json_object();
    if (!(jc.tx = calloc(c->n_tr ? c->n_tr : 1, sizeof *jc.tx))) goto nomem;
    for (int k = 0; k < 5; k++)
        if (!(fates[k] = json_string(fate_names[k]))) goto nomem;
    if (!doc) goto nomem;
    json_t *js = json_array();
    JSET(doc, "seeds", js);
    for (size_t i = 0; i < seeds->n; i++)
        if (json_array_append_new(js, outpoint_json(s, seeds->out[i]))) goto nomem;
    JSET(doc, "policy", json_string(trace_policy_name(c->o->policy)));
    JSET(doc, "direction", json_string(trace_direction_name(c->o->direction)));
    JSET(doc, "limits",
         json_pack("{s:I, s:I, s:o, s:o, s:I, s:b}", "hops", (json_int_t)c->o->hops, "min_value",
                   (json_int_t)c->o->min_value, "until",
                   c->o->until >= 0 ? JINT(c->o->until) : json_null(), "until_time",
                   c->o->until >= 0 && c->o->until_time >= 0 ? JINT(c->o->until_time) : json_null(),
                   "max_outputs", (json_int_t)c->o->max_outputs, "follow_mixers",
                   c->o->follow_mixers));
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
            if (json_array_append_new(path, jc_tx(&jc, c, chain[--np]))) goto nomem;
        json_t *cur = json_object_get(bycat, stop->category);
        JSET(bycat, stop->category,
             JINT((cur ? (uint64_t)json_integer_value(cur) : 0) + e->amount));
    }

    /* patterns: per tx (its shape), then per edge (its tx's, its address's, its endpoint's) */
    if (tx_patterns(c, &tp)) goto nomem;
    om = malloc((c->n_or ? c->n_or : 1) * sizeof *om);
    if (!om) goto nomem;
    for (size_t i = 0; i < c->n_or; i++)
        om[i] = edge_patterns(c, tp, (uint32_t)i);

    /* edges: one per output that received taint */
    json_t *jed = json_array();
    JSET(doc, "edges", jed);
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *r = &c->or_[i];
        json_t *o = json_object();
        if (json_array_append_new(jed, o)) goto nomem;
        JSET(o, "from_tx", r->from != NONE32 ? jc_tx(&jc, c, r->from) : json_null());
        JSET(o, "to_tx", r->to != NONE32 ? jc_tx(&jc, c, r->to) : json_null());
        JSET(o, "output", outpoint_json(s, r->out));
        JSET(o, "address", jc_addr(&jc, s, store_out_addr(s, r->out)));
        JSET(o, "value", JINT(r->taint));
        JSET(o, "fate", json_incref(fates[r->fate]));
        JSET(o, "patterns", jc_pat(&jc, om[i]));
    }

    /* txs with their accounting and annotations */
    json_t *jtx = json_array();
    JSET(doc, "txs", jtx);
    for (size_t i = 0; i < c->n_tr; i++) {
        const tx_rec *x = &c->tr[i];
        json_t *o = json_object();
        if (json_array_append_new(jtx, o)) goto nomem;
        JSET(o, "txid", jc_tx(&jc, c, (uint32_t)i));
        JSET(o, "height", JINT(store_tx(s, x->tx)->block));
        JSET(o, "depth", JINT(x->depth));
        JSET(o, "status", json_string(status_names[x->status]));
        JSET(o, "taint_in", JINT(x->taint_in));
        JSET(o, "added", JINT(x->added));
        JSET(o, "taint_out", JINT(x->taint_out));
        JSET(o, "fee", JINT(x->fee));
        if (x->status != S_FOLLOWED) continue;
        JSET(o, "coinjoin", json_string(cluster_cj_kind_name(tp[i].kind)));
        JSET(o, "peel", JINT(tp[i].peel));
        JSET(o, "patterns", jc_pat(&jc, tp[i].mask));
    }
    if (build_graph(c, doc, om)) goto nomem;
    (void)fwd;
    free(sorted);
    free(tp);
    free(om);
    jcache_free(&jc, c->n_tr);
    for (int k = 0; k < 5; k++)
        json_decref(fates[k]);
    *out = doc;
    return 0;
nomem:
    free(sorted);
    free(tp);
    free(om);
    jcache_free(&jc, c->n_tr);
    for (int k = 0; k < 5; k++)
        json_decref(fates[k]);
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

static int write_dot_tx(json_t *doc, FILE *f, util_err *err)
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

/* A DOT string: quotes and backslashes escaped (names come from label files), newlines as
 * DOT's \n. */
static void dot_str(FILE *f, const char *v)
{
    fputc('"', f);
    for (; v && *v; v++) {
        if (*v == '"' || *v == '\\') fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f); /* a line break inside a DOT label */
        else if (*v != '\r')
            fputc(*v, f);
    }
    fputc('"', f);
}

static int write_dot_entity(json_t *doc, FILE *f, util_err *err)
{
    json_t *g = json_object_get(doc, "graph");
    if (!g) return util_errf(err, UTIL_EINVAL, "the trace document has no graph");
    fprintf(f, "digraph trace_%s {\n  rankdir=LR;\n  node [fontsize=10];\n", trace_str(g, "level"));
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(g, "nodes"), i, n)
    {
        const char *cat = json_string_value(json_object_get(n, "category"));
        long long seeded = (long long)json_integer_value(json_object_get(n, "seeded"));
        char label[512];
        const char *addr = json_string_value(json_object_get(n, "address"));
        snprintf(label, sizeof label, "%s%s%s%s%s%s", trace_str(n, "id"),
                 addr && strncmp(trace_str(n, "id"), "a:", 2) ? "\n" : "",
                 addr && strncmp(trace_str(n, "id"), "a:", 2) ? addr : "", cat ? "\n" : "",
                 cat ? cat : "", seeded ? "\nseed" : "");
        if (cat) {
            size_t l = strlen(label);
            snprintf(label + l, sizeof label - l, " %s", trace_str(n, "name"));
        }
        fprintf(f, "  ");
        dot_str(f, trace_str(n, "id"));
        fprintf(f, " [shape=%s, label=", cat ? "doubleoctagon" : seeded ? "box" : "ellipse");
        dot_str(f, label);
        fprintf(f, "];\n");
    }
    json_array_foreach(json_object_get(g, "edges"), i, n)
    {
        char label[256];
        int l = snprintf(label, sizeof label, "%lld",
                         (long long)json_integer_value(json_object_get(n, "value")));
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(n, "patterns"), k, p)
        {
            if (l > 0 && (size_t)l < sizeof label)
                l += snprintf(label + l, sizeof label - (size_t)l, "%s%s", k ? "," : "\n",
                              json_string_value(p));
        }
        fprintf(f, "  ");
        dot_str(f, trace_str(n, "from"));
        fprintf(f, " -> ");
        dot_str(f, trace_str(n, "to"));
        fprintf(f, " [label=");
        dot_str(f, label);
        fprintf(f, "];\n");
    }
    fprintf(f, "}\n");
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}

int trace_write_dot_graph(json_t *doc, FILE *f, int graph, util_err *err)
{
    return graph == TRACE_GRAPH_ENTITY ? write_dot_entity(doc, f, err) : write_dot_tx(doc, f, err);
}

int trace_write_dot(json_t *doc, FILE *f, util_err *err)
{
    return write_dot_tx(doc, f, err);
}
