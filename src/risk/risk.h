/* risk: screening for exchanges. For an address or a transaction: its direct exposure (labels on
 * it or on its entity), its indirect exposure (value within N hops, backward: where its funds
 * came from; forward: where they went) per label category with the amounts, the counterparty and
 * the shortest path as evidence, and a risk score and level from rules the exchange edits (a JSON
 * file, docs/screening.md). Watchlists: funds leaving watched addresses or entities in a range of
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
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

#define RISK_MAX_HOPS 20
#define RISK_MAX_ENTITY_LABELS 25 /* labels of an entity listed as direct exposure */

/* Risk rules (docs/screening.md has the file format and the formula). */
typedef struct risk_config {
    uint32_t hops;              /* indirect exposure: txs followed each way, 1..RISK_MAX_HOPS */
    int policy;                 /* trace_policy used for indirect exposure */
    uint64_t min_value;         /* shares below this many satoshis are not followed */
    uint64_t max_outputs;       /* cap on outputs visited per direction (then partial) */
    uint64_t max_seed_outputs;  /* an address's newest outputs screened at most (then partial) */
    double hop_decay;           /* 0..1: weight kept per extra hop */
    double full_exposure_share; /* 0..1: indirect share at which a category counts fully */
    double thresholds[3];       /* medium, high, severe: score at which a level starts */
    double default_weight;      /* categories the file does not name */
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

typedef struct risk_ctx risk_ctx;

/* Build the screening state for one store state. labels may be NULL or empty, clusters NULL
 * (no entity-level exposure). Nothing passed in is owned; all of it must outlive *out, which the
 * caller frees with risk_ctx_free. */
int risk_ctx_new(risk_ctx **out, const store *s, const labels_db *labels,
                 const cluster_map *clusters, const risk_config *cfg, util_err *err);
void risk_ctx_free(risk_ctx *r);
const risk_config *risk_ctx_config(const risk_ctx *r);

/* Per-request overrides (0 = the config's value). */
typedef struct risk_opts {
    uint32_t hops;
    int directions; /* bit 1: incoming (backward), bit 2: outgoing (forward); 0 = both */
} risk_opts;

/* Screen one address (any valid spelling). The document: address, entity, height, risk {score,
 * level, reasons}, direct [labels], indirect {incoming, outgoing} each with seeded, partial,
 * by_category [{category, amount, share, endpoints, hops, counterparty, path}], rules {hops,
 * policy}. An address never seen on chain is screened on its labels alone ("seen": false).
 * UTIL_EINVAL for a malformed address. *out is a new reference owned by the caller. */
int risk_screen_address(const risk_ctx *r, const char *address, const risk_opts *o, json_t **out,
                        util_err *err);
/* Screen one transaction (display txid): direct exposure of every address it touches (with its
 * role), indirect exposure of its inputs' funds (incoming) and of its outputs (outgoing).
 * UTIL_EINVAL for a malformed txid, UTIL_ENOTFOUND if not in the store. */
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

#endif
