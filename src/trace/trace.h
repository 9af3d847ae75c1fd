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
#include <stdio.h>
#include <stdint.h>
#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../taint/taint.h"
#include "../util/util.h"

/* The policies, directions and shared options are taint's (src/taint), one set for both chain
 * models; these names stay for the tracer's callers. */
typedef enum {
    TRACE_POISON = TAINT_POISON,
    TRACE_HAIRCUT = TAINT_HAIRCUT,
    TRACE_FIFO = TAINT_FIFO
} trace_policy;
typedef enum { TRACE_FORWARD = TAINT_FORWARD, TRACE_BACKWARD = TAINT_BACKWARD } trace_direction;

#define TRACE_DEFAULT_HOPS TAINT_DEFAULT_HOPS /* TAINT_NO_HOP_LIMIT */
#define TRACE_MAX_HOPS TAINT_MAX_HOPS
#define TRACE_NO_HOP_LIMIT TAINT_NO_HOP_LIMIT
#define TRACE_DEFAULT_MAX_OUTPUTS TAINT_DEFAULT_MAX_VISITS

/* taint_policy_name, taint_policy_parse, taint_direction_name, taint_direction_parse. */
const char *trace_policy_name(int p);
int trace_policy_parse(const char *name);
const char *trace_direction_name(int d);
int trace_direction_parse(const char *name);

/* The options: taint's shared ones (taint.h: policy, direction, hops, until, until_time,
 * max_outputs as the cap on visits, follow_mixers), then the UTXO tracer's own. until_time is
 * a block-time window, which this tracer does not apply: it must stay -1 (UTIL_EINVAL); a time
 * is turned into a height by trace_until_parse, and until_from_time records it. */
typedef struct trace_opts {
    union {
        taint_opts core; /* the same fields, for taint_opt_set */
        struct {
            TAINT_OPTS_FIELDS(max_outputs)
        };
    };
    uint64_t min_value;      /* shares below this many satoshis are not followed (0 = all) */
    int64_t until_from_time; /* -1, or the unix time until was derived from (trace_until_parse);
                                only reported in the document (limits.until_time) */
} trace_opts;

void trace_default_opts(trace_opts *o);

/* A list of seed outputs (output ids), owned by the caller: trace_seeds_free it. */
typedef struct trace_seeds {
    uint64_t *out;
    size_t n, cap;
} trace_seeds;
void trace_seeds_free(trace_seeds *s);

/* Add the outputs a SPEC names: "TXID:N" (one output), "TXID" (all its outputs) or an address
 * (every output paying it). Outputs already in the list are not added twice. The library never
 * reads files: a list of SPECs in a file (the CLI's "@FILE") is the caller's to read, one call
 * per SPEC; a SPEC starting with '@' is UTIL_EINVAL like any other malformed one. UTIL_EINVAL
 * for a malformed SPEC, UTIL_ENOTFOUND for a txid, output or address not in the store. */
int trace_add_spec(trace_seeds *seeds, const store *s, const char *spec, util_err *err);

/* trace_add_spec that also takes "entity:ADDRESS|ID" (trace_add_entity). clusters may be NULL:
 * an entity: SPEC then fails with UTIL_ENOTFOUND ("no clustering"). */
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
 * time (-1 for a height; the syntax is taint_until_syntax's). UTIL_EINVAL for bad syntax,
 * UTIL_ENOTFOUND when no block qualifies (T before the first block forward, after the last one
 * backward); err names the argument. */
int trace_until_parse(const store *s, const char *arg, int direction, int64_t *height,
                      int64_t *time, util_err *err);

/* Add every output ever paid to an entity: arg is one of its addresses or an address id, as
 * for `cointrail entity`. Needs the clustering. UTIL_EINVAL / UTIL_ENOTFOUND as above. */
int trace_add_entity(trace_seeds *seeds, const store *s, const cluster_map *clusters,
                     const char *arg, util_err *err);

/* ---- the typed result of a trace ---- */

#define TRACE_NONE UINT32_MAX /* no tx / no label / no node index */

/* What became of the taint an output received (edges) and what a tx's status is (txs). */
typedef enum {
    TRACE_FATE_FOLLOWED = 0,
    TRACE_FATE_ENDPOINT,
    TRACE_FATE_UNSPENT,
    TRACE_FATE_BELOW_MIN_VALUE,
    TRACE_FATE_OVERLAP
} trace_fate;
typedef enum {
    TRACE_TX_PENDING = 0,
    TRACE_TX_FOLLOWED,
    TRACE_TX_BEYOND_HOPS,
    TRACE_TX_BEYOND_UNTIL,
    TRACE_TX_UNRESOLVED,
    TRACE_TX_COINBASE,
    TRACE_TX_NOT_FOLLOWED
} trace_tx_status;
/* Pattern annotations (docs/tracing.md, "Annotations"), as bits of a uint8_t mask; bit k is
 * named trace_pattern_name(k). */
enum {
    TRACE_PAT_SPLIT = 1 << 0,
    TRACE_PAT_CONSOLIDATE = 1 << 1,
    TRACE_PAT_PEEL = 1 << 2,
    TRACE_PAT_COINJOIN = 1 << 3,
    TRACE_PAT_HOP = 1 << 4,
    TRACE_PAT_FRESH = 1 << 5,
    TRACE_PAT_BRIDGE = 1 << 6,
    TRACE_PAT_SWAP = 1 << 7,
};
#define TRACE_N_PATTERNS 8
/* "followed" "endpoint" ... / "pending" "followed" "beyond_hops" ... / "split" ... ("?" if
 * out of range). */
const char *trace_fate_name(int fate);
const char *trace_tx_status_name(int status);
const char *trace_pattern_name(int bit);

/* Every satoshi of taint ends in exactly one bucket; balanced says the sum checks. */
typedef struct trace_totals {
    uint64_t seeded, poison_added, to_endpoints, unspent, fees, below_min_value, beyond_hops,
        beyond_until, unresolved, coinbase, overlap, not_followed;
    int balanced; /* seeded + poison_added == the sum of the other buckets */
} trace_totals;

/* The buckets of trace_totals with their document names, in document order (seeded and
 * poison_added first: what came in; then where it went). Every writer lists them from here. */
enum { TRACE_TOTALS_BUCKETS = 12 };
typedef struct trace_bucket {
    const char *name;
    uint64_t value;
} trace_bucket;
void trace_totals_buckets(const trace_totals *t, trace_bucket out[TRACE_TOTALS_BUCKETS]);

/* A tx the taint reached, in the order the trace first reached it. */
typedef struct trace_tx {
    uint64_t tx; /* store tx id */
    int64_t height;
    uint32_t depth; /* txs from a seed (1: the seed's spender/creator) */
    int status;     /* trace_tx_status */
    uint64_t taint_in, added, taint_out, fee;
    /* for TRACE_TX_FOLLOWED txs only (else -1, 0, 0): */
    int coinjoin; /* cluster_cj_kind */
    int peel;     /* peel chain length */
    uint8_t patterns;
} trace_tx;

/* One output that received taint. */
typedef struct trace_edge {
    uint32_t from_tx; /* index in txs of the tx that gave the taint (TRACE_NONE: a seed) */
    uint32_t to_tx;   /* index in txs it went on to (TRACE_FATE_FOLLOWED), else TRACE_NONE */
    uint64_t output;  /* store output id */
    uint32_t address; /* store address id, STORE_NO_ADDR if none */
    uint64_t value;   /* satoshis of taint */
    int fate;         /* trace_fate */
    uint8_t patterns;
} trace_edge;

/* A labelled service the taint reached, largest amount first (ties: smaller address id). */
typedef struct trace_endpoint {
    uint32_t address; /* store address id */
    uint32_t entity;  /* CLUSTER_NO_ENTITY without a clustering */
    int via_entity;   /* the stop label is on another address of the entity */
    uint32_t label;   /* the stop label: index in the labels_db (its category is the endpoint's) */
    size_t labels_first, labels_n; /* the labels listed: [first, first + n) in the labels_db */
    uint64_t amount, deposits;
    uint32_t *path; /* indices in txs from a seed to the first arrival, seed side first */
    size_t path_len;
} trace_endpoint;

typedef struct trace_category_total {
    const char *category; /* the labels_db's string */
    uint64_t amount;
} trace_category_total;

/* Entity graph: one node per entity (or address without one, or "no address"). */
typedef struct trace_node {
    uint32_t entity;  /* CLUSTER_NO_ENTITY for an address node */
    uint32_t address; /* a representative address id (STORE_NO_ADDR: the no-address node) */
    uint32_t label;   /* the stop label if an endpoint (index in the labels_db), else TRACE_NONE */
    uint64_t seeded, received, sent, to_endpoint;
} trace_node;
typedef struct trace_flow {
    uint32_t from, to; /* indices in nodes */
    uint64_t value, outputs;
    uint8_t patterns;
} trace_flow;

/* ---- answers by actor ----
 * The addresses the value reached, grouped by who is behind them (labels.h, labels_actor: the
 * actor field of the stop label or of the address's own labels, else of a label elsewhere in
 * its entity, else a label's name). Endpoint actors are the services the taint entered; holder
 * actors (forward traces) hold taint that stays unspent, and an address without any label is
 * grouped under "unlabelled". */
typedef enum { TRACE_ACTOR_ENDPOINT = 0, TRACE_ACTOR_HOLDER } trace_actor_role;
/* "endpoint" "holder" */
const char *trace_actor_role_name(int role);

/* One address under an actor. */
typedef struct trace_actor_addr {
    uint32_t address;  /* store address id; STORE_NO_ADDR: held outputs without an address */
    uint32_t entity;   /* CLUSTER_NO_ENTITY without a clustering */
    uint32_t endpoint; /* index in the result's endpoints (or the exposure's eps); TRACE_NONE for
                          a holder */
    uint64_t amount;   /* satoshis */
    uint64_t deposits; /* outputs that brought them */
    uint32_t hops;     /* txs from a seed to the first arrival (0: a seed output itself) */
} trace_actor_addr;

typedef struct trace_actor {
    labels_actor who;     /* name, deciding label and how it was found (borrowed labels) */
    const char *category; /* endpoint: the stop category of its largest address; holder: the
                             deciding label's category; NULL when unlabelled */
    int role;             /* trace_actor_role */
    uint64_t amount, deposits;
    double share;    /* amount / the seeded satoshis (0 when nothing was seeded) */
    uint32_t hops;   /* the smallest hops of its addresses */
    size_t first, n; /* its addresses: addrs[first .. first + n), largest first */
} trace_actor;

/* Actors, endpoint actors first, each role by amount (largest first, ties by name). Owned by
 * whoever holds it: trace_actors_free. */
typedef struct trace_actors {
    trace_actor *v;
    size_t n;
    trace_actor_addr *addrs;
    size_t n_addrs;
} trace_actors;
void trace_actors_free(trace_actors *a);
/* Actors as the documents' "by_actor" array: [{"actor" (null: unnamed or unlabelled),
 * "actor_from", "category", "role", "amount", "share", "deposits", "deposit_addresses", "hops",
 * "addresses": [{"address", "entity", "amount", "deposits", "hops"}] (the largest max_addrs of
 * them, all for 0; "addresses_not_listed" counts the rest)}]. s is the store their ids refer
 * to. A new reference owned by the caller; NULL if out of memory. */
json_t *trace_actors_json(const store *s, const trace_actors *a, size_t max_addrs);

/* Who is behind each Bitcoin address of one (store, labels, clustering) state: the best own
 * label of every labelled address and the best label of every labelled entity, found once and
 * then read by any number of threads. labels and clusters (may be NULL) must outlive it.
 * Owned by the caller: trace_actor_index_free. */
typedef struct trace_actor_index trace_actor_index;
int trace_actor_index_build(trace_actor_index **out, const store *s, const labels_db *labels,
                            const cluster_map *clusters, util_err *err);
void trace_actor_index_free(trace_actor_index *ix);
/* The actor of address (STORE_NO_ADDR: unlabelled) in entity (CLUSTER_NO_ENTITY: none), with
 * primary (NULL if none) the label that made it an endpoint, via_entity if that label is on
 * another address of the entity. The one decision every writer of actors uses. */
void trace_actor_of(const trace_actor_index *ix, uint32_t address, uint32_t entity,
                    const labels_label *primary, int via_entity, labels_actor *out);

/* A trace's result. It refers to the store and labels it was computed from (ids and indices,
 * not text); they must outlive it. Owned by the caller: trace_result_free. */
typedef struct trace_result {
    const store *s;
    const labels_db *labels;
    int clustered;   /* a clustering was given: graph nodes are entities */
    uint64_t *seeds; /* store output ids, in the order given */
    size_t n_seeds;
    trace_opts opts;
    int partial; /* max_outputs was reached: taint of txs not processed is in not_followed */
    taint_cut cut[TAINT_N_CUTS]; /* what the limits stopped (taint.h), in taint_cut_kind order;
                                    only the limits that stopped some taint (or the budget) */
    size_t n_cut;
    trace_totals totals;
    uint64_t outputs_visited;
    trace_endpoint *endpoints;
    size_t n_endpoints;
    trace_category_total *by_category; /* in order of the first (largest) endpoint */
    size_t n_categories;
    trace_edge *edges;
    size_t n_edges;
    trace_tx *txs;
    size_t n_txs;
    trace_node *nodes;
    size_t n_nodes;
    trace_flow *flows; /* largest value first (ties: from, then to, ascending) */
    size_t n_flows;
    trace_actors actors;            /* the endpoints and the unspent taint, by actor */
    trace_actor_index *actor_index; /* names graph nodes (trace_result_node_actor); owned unless
                                       actor_index_borrowed (the stops' shared index) */
    int actor_index_borrowed;
} trace_result;

/* Run a trace from seeds (at least one) into *out. labels may be empty; clusters may be NULL
 * (no entities, CoinJoin kinds detected per tx). UTIL_EINVAL for bad options, UTIL_ENOMEM.
 * Reaching max_outputs is not an error: out->partial is set. On error *out is empty.
 * Cost: each tx is split at most once and every split tx has a visited output, so at most
 * max_outputs txs are split (plus the seeds'), each read once (its inputs and outputs);
 * memory is about 350 bytes per visited output before the document, which takes about 3.7 KB
 * per visited output as JSON (measured: docs/tracing.md, "Depth").
 * With no hop limit (the default) that budget is what bounds a trace. */
int trace_compute(const store *s, const labels_db *labels, const cluster_map *clusters,
                  const trace_seeds *seeds, const trace_opts *o, trace_result *out, util_err *err);
void trace_result_free(trace_result *r);

/* The stops a trace needs (below: trace_stops_build with labels_service_categories() and
 * labels_service_stops(o->follow_mixers)), built once by the caller and shared read-only by
 * any number of traces on that (store, labels, clusters) state: trace_compute builds them per
 * call, which costs a pass over the label set (O(labels)), too much for a service answering
 * one hop at a time. Otherwise trace_compute. */
typedef struct trace_stops trace_stops;
int trace_compute_stops(const store *s, const labels_db *labels, const cluster_map *clusters,
                        const trace_stops *stops, const trace_seeds *seeds, const trace_opts *o,
                        trace_result *out, util_err *err);
/* Give stops an actor index of the same (store, labels, clusters) state, built once
 * (trace_actor_index_build): the results of trace_compute_stops then borrow it to name their
 * actors instead of building one each (a pass over the label set per call, which dominated a
 * one-hop expansion of the service on a large label set). ix is not owned by the stops: it
 * must outlive them and every result computed with them. NULL: each result builds its own. */
void trace_stops_set_actors(trace_stops *st, const trace_actor_index *ix);

/* Text of a result's ids: a txid (64 hex + NUL), "TXID:N" (at least 96 bytes), an address
 * (at least 128 bytes; NULL for STORE_NO_ADDR), a graph node's id ("e<entity>", "a:<address>"
 * or "no-address"; at least 160 bytes). Each returns buf (or NULL as said). */
char *trace_result_txid(const trace_result *r, uint32_t tx_index, char *buf);
char *trace_result_outpoint(const trace_result *r, uint64_t output, char *buf, size_t size);
char *trace_result_address(const trace_result *r, uint32_t address, char *buf, size_t size);
char *trace_result_node_id(const trace_result *r, uint32_t node, char *buf, size_t size);
/* The actor of graph node `node` (its stop label first when it is an endpoint node). */
void trace_result_node_actor(const trace_result *r, uint32_t node, labels_actor *out);
/* The actor of endpoint i (its stop label first). */
void trace_result_endpoint_actor(const trace_result *r, size_t i, labels_actor *out);

/* The result as its JSON document (docs/tracing.md): seeds, policy, direction, limits, partial
 * (+ reason), totals, outputs_visited, endpoints, by_category, edges, txs, graph. *out is a new
 * reference owned by the caller (json_decref). UTIL_ENOMEM. */
int trace_result_json(const trace_result *r, json_t **out, util_err *err);

/* trace_compute then trace_result_json: the document of a trace. *out is a new reference owned
 * by the caller (json_decref). */
int trace_run(const store *s, const labels_db *labels, const cluster_map *clusters,
              const trace_seeds *seeds, const trace_opts *o, json_t **out, util_err *err);

/* ---- exposure: the same propagation, summarised per label category (for screening) ---- */

/* The labelled addresses (and, with a clustering, entities) a propagation stops at. Built once
 * for a (store, labels, clusters) state and then shared read-only by any number of runs, in any
 * number of threads. Only btc labels whose category is in categories count; an address with
 * several such labels stops under the category listed first. *out is owned by the caller
 * (trace_stops_free); it points into labels, which must outlive it. */
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

/* One endpoint address of an exposure, for answers by actor. */
typedef struct trace_exposure_ep {
    uint32_t address, entity;
    uint32_t label; /* its stop label: index in the labels_db */
    int via_entity;
    uint64_t amount, deposits;
    uint32_t hops; /* txs from a seed to its first arrival */
} trace_exposure_ep;

typedef struct trace_exposure {
    uint64_t seeded, to_endpoints, outputs_visited;
    int partial; /* the output cap was reached: amounts are lower bounds */
    trace_exposure_cat *cat;
    size_t n_cat;
    trace_exposure_ep *eps; /* every endpoint address, in the order first reached */
    size_t n_eps;
} trace_exposure;

/* An exposure's endpoints grouped by actor (all TRACE_ACTOR_ENDPOINT; addrs' endpoint indexes
 * x->eps; share against x->seeded). *out is owned by the caller (trace_actors_free). UTIL_ENOMEM.
 */
int trace_exposure_actors(const trace_actor_index *ix, const labels_db *labels,
                          const trace_exposure *x, trace_actors *out, util_err *err);

/* Propagate from seeds under o (as trace_run does) but stop at `stops` and summarise per
 * category instead of building a document. Thread-safe for shared read-only inputs. out is
 * filled even on a partial result; free it with trace_exposure_free. */
int trace_exposure_run(const store *s, const labels_db *labels, const cluster_map *clusters,
                       const trace_stops *stops, const trace_seeds *seeds, const trace_opts *o,
                       trace_exposure *out, util_err *err);
void trace_exposure_free(trace_exposure *x);

/* Which graph the DOT and HTML writers draw: txs (and endpoint addresses) as nodes, or the
 * result's entity graph (entities, or addresses without an entity, as nodes). */
typedef enum { TRACE_GRAPH_TX = 0, TRACE_GRAPH_ENTITY } trace_graph;

/* Write a trace result as a Graphviz digraph (txs and endpoints as nodes, edges labelled with
 * satoshis, in the direction money moved). Same as trace_write_dot_graph(TRACE_GRAPH_TX). */
int trace_write_dot(const trace_result *r, FILE *f, util_err *err);
/* The same, or with TRACE_GRAPH_ENTITY the entity graph: one node per entity or unclustered
 * address (labelled with its category and name when it is an endpoint), one edge per pair with
 * the summed tainted value and its pattern annotations. */
int trace_write_dot_graph(const trace_result *r, FILE *f, int graph, util_err *err);
/* Write a trace result as one self-contained HTML page: totals, totals by category, the paths
 * to the largest endpoints drawn as inline SVG, and the endpoints with their labels and paths.
 * Text from labels and the chain is escaped; nothing is fetched. */
int trace_write_html(const trace_result *r, FILE *f, util_err *err);
/* The same; with TRACE_GRAPH_ENTITY the drawing is the entity graph's largest flows instead of
 * the paths through txs. */
int trace_write_html_graph(const trace_result *r, FILE *f, int graph, util_err *err);
/* Demixing (trace --demix): trace_demix.h, part of this interface. */
#include "trace_demix.h"
#endif
