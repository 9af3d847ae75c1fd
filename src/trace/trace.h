/* trace: follow tainted value through the chain, forward (where did it go) or backward (where
 * did it come from), under one of three policies, with exact integer satoshi accounting.
 *
 * Taint is an amount of satoshis per output. Seeds are outputs with taint = their value. Txs
 * are processed once each, in chain order (forward) or reverse chain order (backward), so every
 * tainted input (forward) or output (backward) of a tx is known before the tx is split:
 *   poison   every output (forward) / input (backward) of a tx touched by taint is fully tainted;
 *            the clean value this brings in is counted in totals.poison_added
 *   haircut  the taint entering a tx is split in proportion to value over the outputs and the
 *            fee (forward) or over the inputs (backward), largest remainder rounding, ties to
 *            the lower index, the fee last
 *   fifo     satoshis keep their order: inputs laid end to end in order, outputs then the fee
 *            laid end to end; an output's tainted satoshis are taken to be its first ones
 * Labelled services (exchange, otc, bridge, swap, mixer; by address, or by entity when a
 * clustering is given) are endpoints: what reaches them is recorded and not followed. Every
 * satoshi of taint ends in exactly one totals bucket:
 *   seeded + poison_added = to_endpoints + unspent + fees + below_min_value + beyond_hops
 *                           + beyond_until + unresolved + coinbase + overlap + not_followed
 * Definitions, limits and accuracy: docs/tracing.md.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be
 * NULL). The module holds no global state. */
#ifndef CT_TRACE_H
#define CT_TRACE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

typedef enum { TRACE_POISON = 0, TRACE_HAIRCUT, TRACE_FIFO } trace_policy;
typedef enum { TRACE_FORWARD = 0, TRACE_BACKWARD } trace_direction;

#define TRACE_DEFAULT_HOPS 10
#define TRACE_MAX_HOPS 1000
#define TRACE_DEFAULT_MAX_OUTPUTS 5000000u

/* "poison" "haircut" "fifo" / "forward" "backward", and back (-1 if unknown). */
const char *trace_policy_name(int p);
int trace_policy_parse(const char *name);
const char *trace_direction_name(int d);
int trace_direction_parse(const char *name);

typedef struct trace_opts {
    int policy;           /* trace_policy */
    int direction;        /* trace_direction */
    uint32_t hops;        /* 1..TRACE_MAX_HOPS: txs followed from a seed */
    uint64_t min_value;   /* shares below this many satoshis are not followed (0 = all) */
    int64_t until;        /* -1: none; forward: txs above this height are not followed;
                             backward: txs below this height are not followed */
    int64_t until_time;   /* -1, or the unix time until was derived from (trace_until_parse);
                             only reported in the document */
    uint64_t max_outputs; /* cap on outputs visited; reaching it gives a partial result */
    int follow_mixers;    /* 1: addresses labelled mixer are not endpoints */
} trace_opts;

void trace_default_opts(trace_opts *o);

/* A list of seed outputs (output ids), owned by the caller: trace_seeds_free it. */
typedef struct trace_seeds {
    uint64_t *out;
    size_t n, cap;
} trace_seeds;
void trace_seeds_free(trace_seeds *s);

/* Add the outputs a SPEC names: "TXID:N" (one output), "TXID" (all its outputs), an address
 * (every output paying it), or "@FILE" (one such SPEC per line; blank lines and lines starting
 * with '#' skipped; an error names FILE:LINE). Outputs already in the list are not added
 * twice. UTIL_EINVAL for a malformed SPEC, UTIL_ENOTFOUND for a txid, output or address not
 * in the store, UTIL_EIO for an unreadable file. */
int trace_add_spec(trace_seeds *seeds, const store *s, const char *spec, util_err *err);

/* trace_add_spec that also takes "entity:ADDRESS|ID" (trace_add_entity), at the top level and
 * on the lines of an @FILE (an error there names FILE:LINE too). clusters may be NULL: an
 * entity: SPEC then fails with UTIL_ENOTFOUND ("no clustering"). */
int trace_add_spec_entities(trace_seeds *seeds, const store *s, const cluster_map *clusters,
                            const char *spec, util_err *err);

/* Parse an --until argument into a block height for direction (trace_direction):
 *   "H" (digits only)                  a block height, taken as is
 *   "@SECONDS"                         unix time (UTC)
 *   "YYYY-MM-DD"                       00:00:00 UTC of that day
 *   "YYYY-MM-DDTHH:MM[:SS][Z]"         UTC (an offset other than Z is refused)
 * A time T maps to a height through the running maximum of block times (Bitcoin Core's
 * nTimeMax, as FindEarliestAtLeast uses it; block times are not monotonic, the running maximum
 * is): forward, the last block whose running maximum is <= T (nothing after T is followed);
 * backward, the first block whose running maximum is >= T. *height gets the height, *time the
 * time (-1 for a height). UTIL_EINVAL for bad syntax, UTIL_ENOTFOUND when no block qualifies
 * (T before the first block forward, after the last one backward); err names the argument. */
int trace_until_parse(const store *s, const char *arg, int direction, int64_t *height,
                      int64_t *time, util_err *err);

/* Add every output ever paid to an entity: arg is one of its addresses or an address id, as
 * for `cointrail entity`. Needs the clustering. UTIL_EINVAL / UTIL_ENOTFOUND as above. */
int trace_add_entity(trace_seeds *seeds, const store *s, const cluster_map *clusters,
                     const char *arg, util_err *err);

/* Run a trace from seeds (at least one) and build its JSON document (docs/tracing.md): seeds,
 * policy, direction, limits, partial (+ reason), totals, endpoints, by_category, edges, txs.
 * labels may be empty; clusters may be NULL (no entities, CoinJoin kinds detected per tx).
 * *out is a new reference owned by the caller (json_decref). UTIL_EINVAL for bad options,
 * UTIL_ENOMEM. Reaching max_outputs is not an error: the document says "partial": true. */
int trace_run(const store *s, const labels_db *labels, const cluster_map *clusters,
              const trace_seeds *seeds, const trace_opts *o, json_t **out, util_err *err);

/* ---- exposure: the same propagation, summarised per label category (for screening) ---- */

/* The labelled addresses (and, with a clustering, entities) a propagation stops at. Built once
 * for a (store, labels, clusters) state and then shared read-only by any number of runs, in any
 * number of threads. Only btc labels whose category is in categories count; an address with
 * several such labels stops under the category listed first. *out is owned by the caller
 * (trace_stops_free); it points into labels, which must outlive it. */
typedef struct trace_stops trace_stops;
int trace_stops_build(trace_stops **out, const store *s, const labels_db *labels,
                      const cluster_map *clusters, const char *const *categories,
                      size_t n_categories, util_err *err);
void trace_stops_free(trace_stops *st);
/* Addresses in the set (entities not counted). */
size_t trace_stops_count(const trace_stops *st);

/* What reached stops of one category. The nearest endpoint is the one with the fewest txs
 * between it and a seed (ties: the larger amount); path lists those txs (tx ids), seed side
 * first. */
typedef struct trace_exposure_cat {
    const char *category; /* the labels_db's string */
    uint64_t amount;      /* satoshis that reached endpoints of this category */
    uint32_t endpoints;   /* distinct endpoint addresses */
    uint32_t hops;        /* txs from a seed to the nearest endpoint */
    uint64_t nearest_amount;
    uint32_t nearest_label; /* index in the labels_db */
    uint32_t nearest_addr, nearest_entity;
    int nearest_via_entity; /* the label is on another address of the endpoint's entity */
    uint64_t *path;         /* owned by the trace_exposure */
    size_t path_len;
} trace_exposure_cat;

typedef struct trace_exposure {
    uint64_t seeded, to_endpoints, outputs_visited;
    int partial; /* the output cap was reached: amounts are lower bounds */
    trace_exposure_cat *cat;
    size_t n_cat;
} trace_exposure;

/* Propagate from seeds under o (as trace_run does) but stop at `stops` and summarise per
 * category instead of building a document. Thread-safe for shared read-only inputs. out is
 * filled even on a partial result; free it with trace_exposure_free. */
int trace_exposure_run(const store *s, const labels_db *labels, const cluster_map *clusters,
                       const trace_stops *stops, const trace_seeds *seeds, const trace_opts *o,
                       trace_exposure *out, util_err *err);
void trace_exposure_free(trace_exposure *x);

/* Which graph the DOT and HTML writers draw: txs (and endpoint addresses) as nodes, or the
 * document's "graph" (entities, or addresses without an entity, as nodes). */
typedef enum { TRACE_GRAPH_TX = 0, TRACE_GRAPH_ENTITY } trace_graph;

/* Write the trace document as a Graphviz digraph (txs and endpoints as nodes, edges labelled
 * with satoshis, in the direction money moved). Same as trace_write_dot_graph(TRACE_GRAPH_TX). */
int trace_write_dot(json_t *doc, FILE *f, util_err *err);
/* The same, or with TRACE_GRAPH_ENTITY the document's entity graph: one node per entity or
 * unclustered address (labelled with its category and name when it is an endpoint), one edge
 * per pair with the summed tainted value and its pattern annotations. */
int trace_write_dot_graph(json_t *doc, FILE *f, int graph, util_err *err);
/* Write a trace result (trace_run's document) as one self-contained HTML page: totals, totals by
 * category, the paths to the largest endpoints drawn as inline SVG, and the endpoints with their
 * labels and paths. Text from labels and the chain is escaped; nothing is fetched. */
int trace_write_html(json_t *doc, FILE *f, util_err *err);
/* The same; with TRACE_GRAPH_ENTITY the drawing is the entity graph's largest flows instead of
 * the paths through txs. */
int trace_write_html_graph(json_t *doc, FILE *f, int graph, util_err *err);
#endif
