/* cointrail/exposure.h: exposure screening of outputs and addresses. Funds are followed from
 * the seed outputs forward (where did they go) or backward (where did they come from), with
 * exact satoshi accounting, until they reach a labelled address (an endpoint) or a limit; the
 * result says how much reached endpoints of each label category. This is the propagation
 * behind `cointrail screen` (docs/screening.md, docs/tracing.md); the risk score built on top
 * of it and the full trace document (edges, txs, paths) are not public yet (docs/library.md). */
#ifndef CT_PUBLIC_EXPOSURE_H
#define CT_PUBLIC_EXPOSURE_H

#include "common.h"
#include "store.h"

CT_BEGIN_DECL

typedef enum { CT_FORWARD = 0, CT_BACKWARD = 1 } ct_direction;
typedef enum { CT_POLICY_POISON = 0, CT_POLICY_HAIRCUT = 1, CT_POLICY_FIFO = 2 } ct_policy;

#define CT_EXPOSURE_OPTS_VERSION 1
#define CT_EXPOSURE_MAX_HOPS 1000

/* Options of ct_trace_exposure. Set them up with ct_exposure_opts_init, then change fields:
 * a later version of the library may add fields at the end, and the version field tells it
 * which ones the caller knows about. */
typedef struct ct_exposure_opts {
    unsigned int version; /* CT_EXPOSURE_OPTS_VERSION */
    int direction;        /* ct_direction; default CT_FORWARD */
    int policy;           /* ct_policy; default haircut, as screening */
    uint32_t hops;        /* txs followed from a seed, 1..CT_EXPOSURE_MAX_HOPS; default 10 */
    uint64_t min_value;   /* shares below this many satoshis are not followed; default 1000 */
    uint64_t max_outputs; /* cap on outputs visited (then partial); default 20000 */
} ct_exposure_opts;

/* Fill opts with the defaults of `cointrail screen` (docs/screening.md's built-in rules).
 *
 * @param opts     (out) the options
 * @param version  CT_EXPOSURE_OPTS_VERSION
 * @return         0; CT_EINVAL for a version this library does not know */
CT_EXTERN(int) ct_exposure_opts_init(ct_exposure_opts *opts, unsigned int version);

/* What reached endpoints of one category. */
typedef struct ct_exposure_category {
    const char *category; /* borrowed from the store (valid until ct_store_close) */
    uint64_t amount;      /* satoshis that reached endpoints of this category */
    double share;         /* amount / seeded (0 when nothing was seeded) */
    uint32_t endpoints;   /* distinct endpoint addresses */
    uint32_t hops;        /* txs between a seed and the nearest endpoint */
    char nearest_address[CT_ADDRESS_SIZE]; /* that endpoint ("" if it has no address) */
    uint64_t nearest_amount;               /* satoshis that reached it */
    int nearest_has_entity;                /* 1: nearest_entity is set (the store is clustered) */
    uint32_t nearest_entity;
    int nearest_via_entity; /* 1: the label is on another address of its entity */
} ct_exposure_category;

/* The exposure of a set of seed outputs in one direction. */
typedef struct ct_exposure {
    uint64_t seeded;       /* satoshis of the seed outputs */
    uint64_t to_endpoints; /* satoshis that reached any endpoint */
    uint64_t outputs_visited;
    int partial; /* 1: max_outputs was reached; amounts are lower bounds */
    size_t n_categories;
    ct_exposure_category *categories; /* largest amount first, then by category name */
} ct_exposure;

/* Follow the funds of spec's outputs and sum, per label category, what reaches labelled
 * addresses. Every btc label category of the store counts; an address with labels of several
 * categories counts under the heaviest by the default screening weights; with a clustering, a
 * label on one address of an entity makes the whole entity an endpoint. A store without labels
 * gives no categories (and seeded, to_endpoints as for any other store).
 *
 * @param out   (out) the exposure; owned by the caller, who frees it with ct_exposure_free.
 *              Its category strings are borrowed from the store. Untouched on failure.
 * @param s     an open store
 * @param spec  the seeds: "TXID:N" (one output), "TXID" (every output of the tx), or an
 *              address (every output ever paid to it)
 * @param opts  the options (ct_exposure_opts_init), or NULL for the defaults
 * @param err   (out, may be NULL) filled on failure
 * @return      0 (also when partial); CT_EINVAL for a malformed spec or bad options;
 *              CT_ENOTFOUND for a txid, output or address not in the store; CT_ENOMEM */
CT_EXTERN(int)
ct_trace_exposure(ct_exposure **out, const ct_store *s, const char *spec,
                  const ct_exposure_opts *opts, ct_error *err);

/* Free an exposure from ct_trace_exposure.
 *
 * @param x  the exposure; NULL is fine */
CT_EXTERN(void) ct_exposure_free(ct_exposure *x);

CT_END_DECL

#endif
