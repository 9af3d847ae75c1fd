/* trace_int.h: what the trace module's files share (not part of the interface). The
 * propagation state (tctx) and its records, the hash map the kernel and the writers use, and
 * the steps that turn a finished propagation into a trace_result. */
#ifndef CT_TRACE_INT_H
#define CT_TRACE_INT_H
#include <stdlib.h>
#include <string.h>

#include "../util/util_vec.h"
#include "trace.h"

#define NONE32 UINT32_MAX

/* ---- a hash map uint64 -> uint32 (open addressing, linear probing) ---- */

typedef struct hmap {
    uint64_t *key;
    uint32_t *val;
    size_t cap, n; /* cap a power of two; empty slots have val NONE32 */
} hmap;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static inline void hmap_free(hmap *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static inline int hmap_grow(hmap *m)
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

static inline uint32_t hmap_get(const hmap *m, uint64_t k)
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
static inline int hmap_put(hmap *m, uint64_t k, uint32_t v)
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

/* ---- propagation state ---- */

/* An output's fate and a tx's status: the result's trace_fate / trace_tx_status values. */
enum {
    F_FOLLOWED = TRACE_FATE_FOLLOWED,
    F_ENDPOINT = TRACE_FATE_ENDPOINT,
    F_UNSPENT = TRACE_FATE_UNSPENT,
    F_BELOW = TRACE_FATE_BELOW_MIN_VALUE,
    F_OVERLAP = TRACE_FATE_OVERLAP
};
enum {
    S_PENDING = TRACE_TX_PENDING,
    S_FOLLOWED = TRACE_TX_FOLLOWED,
    S_BEYOND_HOPS = TRACE_TX_BEYOND_HOPS,
    S_BEYOND_UNTIL = TRACE_TX_BEYOND_UNTIL,
    S_UNRESOLVED = TRACE_TX_UNRESOLVED,
    S_COINBASE = TRACE_TX_COINBASE,
    S_NOT_FOLLOWED = TRACE_TX_NOT_FOLLOWED
};

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
    util_rem *rm;
} tctx;

struct trace_stops {
    const labels_db *labels;
    hmap addr, entity; /* address id / entity -> index of the stop label in the labels_db */
    const trace_actor_index *actors; /* borrowed (trace_stops_set_actors); NULL: none */
};

/* trace_result.c: fill r (seeds, options, totals, endpoints, by_category, edges, txs) from a
 * finished propagation; 0 or UTIL_ENOMEM (r then holds what was filled: trace_result_free). */
int trace_fill_result(const tctx *c, const trace_seeds *seeds, trace_result *r);
/* trace_pattern.c: the pattern annotations of r's txs and edges and the entity graph. */
int trace_fill_patterns(const tctx *c, trace_result *r);
/* trace_actor.c: r's actors (from its endpoints and unspent edges) and the index that names its
 * graph nodes; an exposure's endpoint list. 0 or UTIL_ENOMEM. */
int trace_fill_actors(const tctx *c, trace_result *r);
int trace_exposure_fill_eps(const tctx *c, trace_exposure *x);
#endif
