/* cluster internals shared by the module's files (not part of the interface). */
#ifndef CT_CLUSTER_INT_H
#define CT_CLUSTER_INT_H

#include "cluster.h"

/* Union-find over address ids: parent and size arrays (u32), owned by the struct. The root of
 * every set is its smallest id (union keeps the smaller root), so the root is the entity id.
 *
 * Based mode (an incremental run): ids below base_n start as the saved forest base_parent /
 * base_size (memory-mapped, read-only) and are copied into parent/size only when first
 * changed; changed lists those ids, so a commit writes just them. The dense arrays come from
 * calloc, so pages never touched cost no memory. */
typedef struct cl_uf {
    uint32_t *parent, *size;
    uint32_t n;
    const uint32_t *base_parent, *base_size;
    uint32_t base_n;
    uint8_t *touched; /* based mode: bit per id below base_n, set once copied */
    uint32_t *changed;
    size_t n_changed, cap_changed;
    int oom;                /* a changed-list allocation failed */
    int64_t entities_delta; /* sets added by grow minus unions made */
    int64_t singletons_delta;
} cl_uf;

/* Grow to n elements (new ones singletons). 0 or UTIL_ENOMEM. */
int cl_uf_grow(cl_uf *u, uint32_t n);
/* Start based on a saved forest of base_n ids (see above), then grow to n. 0 or UTIL_ENOMEM. */
int cl_uf_init_based(cl_uf *u, const uint32_t *base_parent, const uint32_t *base_size,
                     uint32_t base_n, uint32_t n);
void cl_uf_free(cl_uf *u);
uint32_t cl_uf_find(cl_uf *u, uint32_t x);
/* Size of the set rooted at root. */
uint32_t cl_uf_size(const cl_uf *u, uint32_t root);
/* Parent of x as stored (x itself for a root). */
uint32_t cl_uf_parent(const cl_uf *u, uint32_t x);
/* Union, keeping the smaller root; returns the new root. */
uint32_t cl_uf_union(cl_uf *u, uint32_t a, uint32_t b);

/* One pass over txs [from, to): multi-input unions (CoinJoins excluded), change links with
 * the guard. kinds (may be NULL) receives the kind of tx from+i at kinds[i]. */
typedef struct cl_pass {
    cl_uf uf;
    unsigned heuristics;
    uint32_t guard;
    uint32_t addr_hwm; /* address count before the next tx */
    uint64_t cj[CLUSTER_CJ_NKINDS];
    uint64_t change_links, refused;
    cluster_scratch sc;
    /* For evaluation only: with owner set (truth entity per address id), every change pick is
     * counted in picks and, when input and output have one owner, in picks_ok; no_exclude
     * joins CoinJoin inputs too (to measure what the exclusion is worth). */
    const uint32_t *owner;
    uint64_t picks, picks_ok;
    int no_exclude;
} cl_pass;

int cl_run_pass(const store *s, cl_pass *p, uint64_t from, uint64_t to, uint8_t *kinds,
                util_err *err);

#endif
