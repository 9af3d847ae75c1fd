/* risk's insides shared by its files: the screening context and the helpers more than one file
 * calls. Not part of the module's interface (risk.h is). */
#ifndef CT_RISK_INT_H
#define CT_RISK_INT_H

#include <stdatomic.h>

#include "../exposure/exposure.h"
#include "../trace/trace.h"
#include "risk.h"

typedef struct ent_label {
    uint32_t entity, label;
    uint32_t best; /* 1: the heaviest label of its category in its entity */
} ent_label;

struct risk_ctx {
    const store *s;
    const labels_db *labels;
    const cluster_map *clusters;
    risk_config cfg;
    trace_stops *stops;
    trace_actor_index *actors; /* who is behind an endpoint (answers by actor) */
    ent_label *el;             /* btc labels by the entity of their address, sorted by entity */
    size_t n_el;
    char **cats; /* the stop categories, heaviest first (owned) */
    size_t n_cats;
    /* the exposure index, when it answers for this state (risk_index.c) */
    exposure_index *ix; /* owned; NULL when there is none or it does not fit this state */
    risk_index_state ix_state;
    uint64_t ix_covered; /* outputs it answers for */
    /* each label's JSON text (labels_json_text), made on first use by whichever thread needs it
     * (risk_text.c): a block of a size_t length and the bytes; n_labels slots */
    _Atomic(char *) *label_text;
    size_t n_labels;
};

/* The label text cache of r (risk_text.c). 0 or UTIL_ENOMEM. */
int risk_text_cache_new(risk_ctx *r);
void risk_text_cache_free(risk_ctx *r);

/* Grow *p (capacities are powers of two: it grows when n reaches one). 0 or UTIL_ENOMEM. */
int risk_grow_n(void **p, size_t n, size_t size);
int risk_contrib_add(risk_result *res, const risk_contribution *c);
/* The contribution of side d's exposure i (docs/screening.md's formula), once side d holds all
 * its categories (a cumulative share reads them all). 0 or UTIL_ENOMEM. */
int risk_indirect_contrib(const risk_ctx *r, risk_result *res, int d, size_t i);

/* ---- the exposure index (risk_index.c) ---- */

/* Open the index of r's store and see whether it fits r's labels and clustering: r->ix,
 * r->ix_state. A store without one, or one that cannot be read, is not an error. UTIL_ENOMEM. */
int risk_index_open(risk_ctx *r, util_err *err);
/* Whether the incoming exposure of outs[0..n) can come from the index (RISK_INDEX_USED), or
 * why not. */
risk_index_state risk_index_use(const risk_ctx *r, const uint64_t *outs, size_t n);
/* The incoming side from the index: the amounts per category summed over outs; the
 * explanation (endpoints, nearest counterparty, path) from the backward trace of seeds within
 * hops, or, for a category the trace does not reach, the path the index gives. */
int risk_incoming_indexed(const risk_ctx *r, const uint64_t *outs, size_t n_outs,
                          const trace_seeds *seeds, uint32_t hops, int seeds_partial,
                          risk_result *res, util_err *err);

/* ---- documents (shared with the watchlist scan) ---- */
json_t *risk_txid_json(const store *s, uint64_t tx);
json_t *risk_addr_json(const store *s, uint32_t a);
json_t *risk_label_json(const labels_label *l, const char *via);

#endif
