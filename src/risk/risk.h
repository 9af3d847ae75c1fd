/* risk: screening for exchanges. For an address or a transaction: its direct exposure (labels on
 * it or on its entity), its indirect exposure per label category (backward: where its funds came
 * from, read from the exposure index over the whole history when the store has one, else traced
 * within N hops; forward: where they went, within N hops) with the amounts, the counterparty and
 * a path as evidence, and a risk score and level from rules the exchange edits (a JSON file,
 * docs/screening.md). Watchlists: funds leaving watched addresses or entities in a range of
 * blocks. The CLI (`cointrail screen`) and the HTTP service call the same functions.
 *
 * A risk_ctx is built once per state of the store (chain, labels, clustering) and is then read
 * by any number of threads at once. Every function that can fail returns 0 or a negative UTIL_E*
 * code and fills err (may be NULL). No global state. */
#ifndef CT_RISK_H
#define CT_RISK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../exposure/exposure.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../trace/trace.h"
#include "../util/util.h"

#define RISK_MAX_HOPS 20
#define RISK_MAX_ENTITY_LABELS 25 /* labels of an entity listed as direct exposure */
#define RISK_ACTOR_ADDRESSES 5    /* endpoint addresses listed under each actor */

/* Risk rules (docs/screening.md has the file format and the formula). */
typedef struct risk_config {
    uint32_t hops;              /* indirect exposure: txs followed each way, 1..RISK_MAX_HOPS */
    int policy;                 /* trace_policy used for indirect exposure */
    uint64_t min_value;         /* shares below this many satoshis are not followed */
    uint64_t max_outputs;       /* cap on outputs visited per direction (then partial) */
    uint64_t max_seed_outputs;  /* an address's newest outputs screened at most (then partial) */
    double hop_decay;           /* 0..1: weight kept per extra hop (1: distance alone is no risk) */
    double full_exposure_share; /* 0..1: indirect share at which a category counts fully */
    double thresholds[3];       /* medium, high, severe: score at which a level starts */
    /* medium, high, severe: the indirect share at which a weight-100 category reaches each
     * threshold (the share curve, docs/screening.md); 0 <= each <= the next <= full share */
    double level_shares[3];
    int cumulative_share;  /* a category's share counts every category at least as heavy */
    double default_weight; /* categories the file does not name */
    size_t n_weights;
    struct risk_weight {
        char category[64];
        double weight; /* 0..100 */
    } weights[64];
} risk_config;

/* The built-in rules (the values of docs/screening.md's example file). */
void risk_config_default(risk_config *c);
/* Read rules from a JSON file; keys left out keep their defaults. Unknown keys, wrong types and
 * out-of-range values are UTIL_EFORMAT naming the file and the key. */
int risk_config_load(risk_config *c, const char *path, util_err *err);
/* The rules as a JSON object (new reference, caller owns). */
json_t *risk_config_json(const risk_config *c);
double risk_weight(const risk_config *c, const char *category);
/* The share curve: 0..1, piecewise linear through (0, 0), (level_shares[i], thresholds[i] /
 * 100) and (full_exposure_share, 1), 1 beyond. */
double risk_share_factor(const risk_config *c, double share);
/* The categories screening stops at: every category labels carries (labels may be NULL),
 * heaviest first under c, so an address with several labels stops under its worst one; ties in
 * name order. Every category is a stop, even one weighed 0 (an exchange): the path ends there as
 * at a service. *out (owned by the caller: risk_categories_free) holds *n copies. */
int risk_stop_categories(const labels_db *labels, const risk_config *c, char ***out, size_t *n,
                         util_err *err);
void risk_categories_free(char **cats, size_t n);

typedef struct risk_ctx risk_ctx;

/* Build the screening state for one store state. labels may be NULL or empty, clusters NULL
 * (no entity-level exposure). Nothing passed in is owned; all of it must outlive *out, which the
 * caller frees with risk_ctx_free. */
int risk_ctx_new(risk_ctx **out, const store *s, const labels_db *labels,
                 const cluster_map *clusters, const risk_config *cfg, util_err *err);
void risk_ctx_free(risk_ctx *r);
const risk_config *risk_ctx_config(const risk_ctx *r);
/* How the exposure index stands for this context (RISK_INDEX_USED: it answers for every output
 * it covers; BEHIND: for the first ones): a risk_index_state. */
int risk_ctx_index_state(const risk_ctx *r);

/* Per-request overrides (0 = the config's value). */
typedef struct risk_opts {
    uint32_t hops;  /* with the exposure index: also explain incoming by the trace within hops */
    int directions; /* bit 1: incoming (backward), bit 2: outgoing (forward); 0 = both */
} risk_opts;

/* Whether a screening under o runs a trace (outgoing, incoming without a usable index, or an
 * explanation within hops asked for), or is index look-ups only: the service counts only the
 * first kind against its limit on expensive work. */
int risk_screen_traces(const risk_ctx *r, const risk_opts *o);

#define RISK_MAX_SOURCES 5  /* sources listed per category (incoming, from the index) */
#define RISK_SOURCE_WALKS 8 /* screened outputs walked back per category (the largest) */

/* ---- typed screening results ----
 * A screening is computed into a risk_result (numbers, store ids and borrowed labels, no text)
 * and written as JSON by risk_result_json. Labels and category strings are borrowed from the
 * labels_db given to risk_ctx_new; store ids (address, tx, entity) refer to its store. */

typedef enum { RISK_NONE = 0, RISK_LOW, RISK_MEDIUM, RISK_HIGH, RISK_SEVERE } risk_level;
/* "none" "low" "medium" "high" "severe" */
const char *risk_level_name(risk_level l);

/* A screened tx's addresses are inputs or outputs; an address screening has no role. */
typedef enum { RISK_ROLE_NONE = 0, RISK_ROLE_INPUT, RISK_ROLE_OUTPUT } risk_role;

/* One entry of the direct exposure list: a label on the address itself, or on another address
 * of its entity. */
typedef struct risk_direct {
    const labels_label *label;
    int via_entity;  /* 0: on the address itself; 1: on another address of `entity` */
    uint32_t entity; /* CLUSTER_NO_ENTITY unless via_entity */
    risk_role role;
} risk_direct;

/* Where an exposure's nearest counterparty and path come from. */
typedef enum {
    RISK_EXPLAINED_NONE = 0, /* no path found (the index's walk gave up) */
    RISK_EXPLAINED_TRACE,    /* the trace within the hops asked for: the nearest endpoint */
    RISK_EXPLAINED_INDEX     /* the index's path to a source (exposure_path), beyond those hops */
} risk_explained;

/* A source an index path leads to: the stop output's address, what the screened outputs whose
 * path leads there received (a path follows the input that passed each tx the most of the
 * category, so the money of one output may come from other sources too), and the path of the
 * largest of them. */
typedef struct risk_source {
    uint32_t addr, entity;     /* STORE_NO_ADDR for a script without an address */
    const labels_label *label; /* may be NULL */
    int via_entity;
    uint64_t amount;  /* received by the screened outputs whose path leads here */
    uint32_t outputs; /* how many of them */
    uint64_t *path;   /* store tx ids, screened side first (owned by the result) */
    size_t path_len;
} risk_source;

/* Indirect exposure to one category in one direction. Incoming from the exposure index
 * (indexed): amount is what the screened outputs received from sources of the category
 * through the whole history; otherwise trace_exposure's summary within the hops. */
typedef struct risk_exposure {
    const char *category;
    uint64_t amount; /* satoshis from the category (indexed), or that reached its endpoints */
    double share;    /* amount / the side's seeded value (0 when nothing was seeded) */
    int indexed;     /* amount from the exposure index */
    uint64_t traced_amount; /* what the trace within the hops found (0: not reached) */
    int explained;          /* risk_explained */
    uint32_t endpoints; /* distinct endpoint addresses the trace reached (0 for an index path) */
    uint32_t hops;      /* txs from a seed to the nearest endpoint (or along the index path) */
    uint32_t nearest_addr, nearest_entity; /* store address id (STORE_NO_ADDR), entity */
    uint64_t nearest_amount;
    const labels_label *nearest_label; /* may be NULL (an index path's source) */
    int nearest_via_entity;
    uint64_t *path; /* store tx ids from a seed to the nearest endpoint (owned by the result) */
    size_t path_len;
    /* index explanation: the sources of the RISK_SOURCE_WALKS largest exposed outputs, by
     * amount (the first is the counterparty above, its path the path) */
    risk_source *sources; /* owned by the result */
    size_t n_sources;
    uint32_t outputs_exposed, outputs_walked; /* screened outputs with the category; walked */
} risk_exposure;

typedef struct risk_side {
    int screened;             /* the direction was asked for */
    int traced;               /* the propagation ran (some seeds and some stop labels) */
    int indexed;              /* amounts from the exposure index (incoming only) */
    uint64_t seeded;          /* satoshis screened */
    uint64_t outputs_visited; /* only when traced */
    int partial;              /* a cap was reached: amounts are lower bounds */
    risk_exposure *cat;       /* largest amount first, then by category */
    size_t n_cat;
    trace_actors actors; /* the endpoints reached, by actor (trace.h; owned by the result) */
} risk_side;

/* What one rule adds; the score is the largest contribution, capped at 100 and rounded to a
 * tenth. Direct: weight x confidence / 100. Indirect: weight x risk_share_factor(share) x
 * hop_decay^(hops - 1), the share counting the side's categories at least as heavy when
 * cumulative_share. Only contributions above 0 are reasons. */
typedef enum {
    RISK_BY_ADDRESS_LABEL = 0, /* the subject address is labelled */
    RISK_BY_ENTITY_LABEL,      /* another address of its entity is (the heaviest per category) */
    RISK_BY_INCOMING,          /* indirect exposure, backward */
    RISK_BY_OUTGOING           /* indirect exposure, forward */
} risk_basis;

typedef struct risk_contribution {
    risk_basis basis;
    double score;
    double weight; /* the category's weight in the rules */
    /* direct */
    risk_role role;
    uint32_t subject; /* store address id screened; STORE_NO_ADDR: the result's unseen address */
    uint32_t entity;  /* RISK_BY_ENTITY_LABEL: the entity */
    const labels_label *label; /* direct: the label; indirect: the nearest endpoint's label */
    double confidence;         /* direct: label confidence / 100 */
    /* indirect */
    size_t exposure;     /* index into side[basis - RISK_BY_INCOMING].cat */
    double share_used;   /* the category's share, or with cumulative_share the sum of its
                            side's categories weighed at least as much */
    double share_factor; /* risk_share_factor(share_used) */
    double hop_factor;   /* hop_decay^(hops - 1) */
} risk_contribution;

/* Whether incoming exposure came from the exposure index (docs/exposure.md), or why not:
 * "used" "none" (the store has none) "stale" (labels or clustering changed since it was
 * updated) "forked" "behind" (the screened outputs are past it) "policy" (the rules' policy is
 * not haircut) "unreadable". */
typedef enum {
    RISK_INDEX_USED = 0,
    RISK_INDEX_NONE,
    RISK_INDEX_STALE,
    RISK_INDEX_FORKED,
    RISK_INDEX_BEHIND,
    RISK_INDEX_POLICY,
    RISK_INDEX_UNREADABLE
} risk_index_state;
const char *risk_index_state_name(int state);

typedef struct risk_result {
    int is_tx;
    /* address screening */
    char address[128]; /* canonical spelling */
    int seen;          /* the address is in the store */
    uint32_t entity;   /* CLUSTER_NO_ENTITY without clustering or when unseen */
    uint64_t outputs_screened;
    /* tx screening */
    uint64_t tx; /* store tx id */
    uint32_t block_height;
    /* both */
    risk_direct *direct;
    size_t n_direct;
    uint64_t direct_entity_labels_not_listed; /* entity labels beyond RISK_MAX_ENTITY_LABELS */
    risk_side side[2];                        /* [0] incoming (backward), [1] outgoing */
    risk_contribution *contrib;               /* in the order the reasons are listed */
    size_t n_contrib;
    double score; /* 0..100, one decimal */
    risk_level level;
    uint32_t hops; /* the rules applied */
    int policy;
    uint64_t min_value;
    int64_t height;         /* the store's tip height, -1 if empty */
    risk_index_state index; /* where incoming amounts came from */
} risk_result;

/* Screen one address (any valid spelling) into *out, which the caller frees with
 * risk_result_free (also after a failure). An address never seen on chain is screened on its
 * labels alone. UTIL_EINVAL for a malformed address. */
int risk_screen_address_result(const risk_ctx *r, const char *address, const risk_opts *o,
                               risk_result *out, util_err *err);
/* Screen one transaction (display txid): direct exposure of every address it touches (with its
 * role), indirect exposure of its inputs' funds (incoming) and of its outputs (outgoing).
 * UTIL_EINVAL for a malformed txid, UTIL_ENOTFOUND if not in the store. */
int risk_screen_tx_result(const risk_ctx *r, const char *txid_hex, const risk_opts *o,
                          risk_result *out, util_err *err);
void risk_result_free(risk_result *res);

/* The sentence a contribution gives as a reason (docs/screening.md), as a new string the caller
 * frees; NULL if out of memory. r is the context that screened res. */
char *risk_reason_text(const risk_ctx *r, const risk_result *res, const risk_contribution *c);

/* The screening document of a result. Address: address, seen, entity, direct [labels],
 * outputs_screened; tx: txid, block_height, direct; then indirect {incoming, outgoing} each with
 * seeded, partial, by_actor (trace_actors_json; when traced), by_category [{category, amount,
 * share, endpoints, hops, counterparty, path}],
 * risk {score, level, reasons}, rules {hops, policy, min_value}, height. *out is a new
 * reference owned by the caller. UTIL_ENOMEM. */
int risk_result_json(const risk_ctx *r, const risk_result *res, json_t **out, util_err *err);

/* The same document as compact JSON text appended to b (the bytes jansson's compact dump of
 * risk_result_json with JSON_PRESERVE_ORDER gives), written without building the tree: what
 * the service sends. UTIL_ENOMEM. */
int risk_result_text(const risk_ctx *r, const risk_result *res, util_buf *b, util_err *err);

/* risk_screen_address_result + risk_result_json. *out is a new reference owned by the caller. */
int risk_screen_address(const risk_ctx *r, const char *address, const risk_opts *o, json_t **out,
                        util_err *err);
/* risk_screen_tx_result + risk_result_json. */
int risk_screen_tx(const risk_ctx *r, const char *txid_hex, const risk_opts *o, json_t **out,
                   util_err *err);

/* ---- watchlists ---- */
/* Addresses and entities whose outgoing funds raise alerts. Items are resolved against a store
 * state by risk_watch_scan: an "entity" item (an address or an entity id) covers every address of
 * that entity in the clustering given. */
typedef struct risk_watch_item {
    char kind[8];    /* "address" or "entity" */
    char value[128]; /* canonical address, or entity id / address for an entity */
    char list[64];   /* watchlist name */
} risk_watch_item;

/* Called once per tx in which watched funds move: a JSON alert object (borrowed: copy what you
 * keep) with list, item, txid, height, time, amount (watched value spent), inputs (watched
 * addresses spent from) and outputs (where the value went, with labels). Return non-zero to
 * stop the scan (that value is returned). */
typedef int (*risk_alert_fn)(json_t *alert, void *arg);

/* Scan txs of blocks [from_height, to_height) of s for inputs spending outputs of watched
 * items. clusters may be NULL (entity items then cover only the address they name). */
int risk_watch_scan(const store *s, const labels_db *labels, const cluster_map *clusters,
                    const risk_watch_item *items, size_t n_items, uint64_t from_height,
                    uint64_t to_height, risk_alert_fn fn, void *arg, util_err *err);

/* Bring db's exposure index up to date (docs/exposure.md) with the stop categories of the
 * default risk configuration: take its writer lock (flags and floor as for
 * exposure_writer_open: UTIL_ENOTFOUND when it has none and flags has no EXPOSURE_CREATE), then
 * read the store s (NULL: opened here, read-only), labels (NULL: db's labels.db) and the
 * clustering as they are, and sync. With pending non-NULL nothing is committed: *pending is the
 * writer to exposure_commit (after labels.db is saved) and close; it is the caller's. res may
 * be NULL. The import, labels import and cluster commands and the replicas (serve --state) call
 * this. */
int risk_exposure_update(const char *db, const store *s, const labels_db *labels, unsigned flags,
                         uint64_t floor, exposure_writer **pending, exposure_sync_result *res,
                         util_err *err);

#endif
