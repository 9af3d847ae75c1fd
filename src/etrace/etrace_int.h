/* etrace internals shared by etrace.c (the shared state and the run), etrace_forward.c,
 * etrace_backward.c and etrace_doc.c. Not part of the module's interface. */
#ifndef CT_ETRACE_INT_H
#define CT_ETRACE_INT_H

#include "etrace.h"

#include "../labels/labels_services.h"
#include "../util/util_vec.h"

#define NONE32 UINT32_MAX
#define NONE64 UINT64_MAX

/* Totals buckets (etrace.h's, short names for the passes). */
enum {
    B_SEEDED = ETRACE_B_SEEDED,
    B_POISON_ADDED = ETRACE_B_POISON_ADDED,
    B_SWAPPED_IN = ETRACE_B_SWAPPED_IN,
    B_TO_ENDPOINTS = ETRACE_B_TO_ENDPOINTS,
    B_HELD = ETRACE_B_HELD,
    B_FEES = ETRACE_B_FEES,
    B_BELOW_MIN = ETRACE_B_BELOW_MIN,
    B_BEYOND_HOPS = ETRACE_B_BEYOND_HOPS,
    B_BEYOND_UNTIL = ETRACE_B_BEYOND_UNTIL,
    B_SWAPPED_OUT = ETRACE_B_SWAPPED_OUT,
    B_OVERLAP = ETRACE_B_OVERLAP,
    B_MINTED = ETRACE_B_MINTED,
    B_BEFORE_STORE = ETRACE_B_BEFORE_STORE,
    B_NOT_FOLLOWED = ETRACE_B_NOT_FOLLOWED,
    NB = ETRACE_NB
};
_Static_assert(NB <= TAINT_LEDGER_MAX, "the totals fit a taint_ledger");
#define B_FIRST_OUT B_TO_ENDPOINTS

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
    uint64_t n[NB]; /* how many times bucket k received taint (transfers, or addresses when
                       forward's held taint is put in a bucket at the end) */
} tot;

typedef struct ep {
    uint32_t ent, asset;
    evm_u256 amount;
    uint64_t deposits;
    etrace_ref *path; /* seed first */
    size_t npath;
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
    uint64_t *seeds;      /* sorted */
    evm_u256 *seed_taint; /* parallel to seeds: each seed's taint (its amount unless given) */
    size_t nseeds;
    ep *ep;
    size_t nep;
    etrace_edge *edges;
    size_t nedges, edgecap;
    etrace_swap *swaps;
    size_t nswaps, swapcap;
    etrace_xchain *xc; /* the cross-chain records, in the order they happened */
    size_t nxc, xccap;
    uint64_t visited;
    int partial, partial_history, until_reached;
    const char *reason;
    heap_item *h;
    size_t hn, hcap2;
} ctx;

/* A transfer of the group being processed, with what the pass has decided about it. */
typedef struct gx {
    uint64_t x;
    evm_xfer_row r;
    int has_share, deferred;
    evm_u256 share; /* haircut: the taint it takes from its sender */
    int swap;       /* index+1 of the swap it belongs to (sent side) */
} gx;

/* ---- small helpers (etrace.c) ---- */

/* An UTIL_ENOMEM error in c->err; returns its code. */
int etrace_oom(ctx *c);
/* *acc += v, or an UTIL_ECORRUPT error on overflow. */
int etrace_add(ctx *c, evm_u256 *acc, const evm_u256 *v);
/* *acc -= v, or an UTIL_ECORRUPT error naming what would go negative. */
int etrace_sub(ctx *c, evm_u256 *acc, const evm_u256 *v, const char *what);
/* The reference of transfer x (its row r). */
etrace_ref etrace_ref_of(uint64_t x, const evm_xfer_row *r);
int etrace_is_seed(ctx *c, uint64_t x);
/* Add v to totals bucket b of asset. */
int etrace_bucket(ctx *c, uint32_t asset, int b, const evm_u256 *v);
/* Append one swap record. */
int etrace_add_swap(ctx *c, const etrace_swap *sw);
/* Append one edge record (the transfer, the taint it carried, its hop and fate). */
int etrace_add_edge(ctx *c, const gx *g, const evm_u256 *taint, uint32_t hop, const char *fate);

/* ---- address entries (etrace.c) ---- */

uint64_t etrace_mix(uint32_t id);
/* The entry of address id, created if new; *out receives its index. */
int etrace_ent_get(ctx *c, uint32_t id, uint32_t *out);
uint32_t etrace_ent_find(const ctx *c, uint32_t id);
/* The label that makes entry ei an endpoint, or NULL (looked up once). */
const labels_label *etrace_stop_of(ctx *c, uint32_t ei);
int etrace_cross_chain_category(const char *cat);
int etrace_is_asset(const evm_xfer_row *r, uint32_t asset);
int etrace_balance_before(ctx *c, uint32_t ei, uint32_t asset, uint64_t x, evm_u256 *bal,
                          evm_u256 *opening);

/* ---- fifo queues (etrace.c) ---- */

/* Append amt units (tainted or not, from receipt src) to the back of a's queue. */
int etrace_q_push(ctx *c, ast *a, const evm_u256 *amt, int tainted, uint64_t src);
int etrace_q_take(ctx *c, ast *a, const evm_u256 *amt, evm_u256 *tainted);

/* ---- the passes and the document ---- */

int etrace_forward(ctx *c);  /* etrace_forward.c */
int etrace_backward(ctx *c); /* etrace_backward.c */
/* The typed result of a finished, checked run (etrace_doc.c); moves c->edges, c->swaps, c->xc
 * and the endpoint paths into *out. UTIL_ENOMEM. */
int etrace_collect(ctx *c, const etrace_seeds *seeds, etrace_result *out);
/* The taint seed x starts with (its amount unless the caller gave a part). x must be a seed. */
evm_u256 etrace_seed_taint(const ctx *c, uint64_t x);
/* etrace_actor.c: out's actors, from its endpoints and (forward) its addresses holding taint;
 * called by etrace_collect once those are filled. UTIL_ENOMEM. */
int etrace_fill_actors(ctx *c, etrace_result *out);

#endif
