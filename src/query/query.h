/* query: the answers the CLI and the API give, as JSON documents built from the store. The
 * same call serves `cointrail stats --json` and a future HTTP endpoint, so both agree. Each
 * function fills *out with a new jansson object that the caller owns (json_decref it). */
#ifndef CT_QUERY_H
#define CT_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

/* Whole-store figures: blocks, tip_hash, txs, inputs, outputs, total_output_value, total_fees,
 * utxo_count, utxo_value, addresses, outputs_by_type, unresolved_inputs. With recompute set,
 * figures come from a full scan of the columns instead of the MANIFEST's running totals. */
int query_stats(const store *s, int recompute, json_t **out, util_err *err);

/* What the answers draw on besides the chain. labels and clusters may be NULL (none imported,
 * not clustered yet): the answers then leave out what needs them. Nothing here is owned. */
typedef struct query_ctx {
    const store *s;
    const labels_db *labels;
    const cluster_map *clusters;
} query_ctx;

/* One transaction by txid (display hex): block, inputs with their previous outputs (or
 * unresolved), outputs with spending txids, fee, and the labels of every address it touches.
 * UTIL_ENOTFOUND if absent. */
int query_tx(const query_ctx *q, const char *txid_hex, json_t **out, util_err *err);

/* One address: type, received, sent, balance, tx_count, output_count, outputs newest first
 * from offset (at most limit of them), its own labels, and its entity with the labels found
 * on any of the entity's addresses (a label on one address extends to its entity; each such
 * label says which address carries it). UTIL_EINVAL for a malformed address, UTIL_ENOTFOUND if
 * it never appears. */
int query_address(const query_ctx *q, const char *address, size_t offset, size_t limit,
                  json_t **out, util_err *err);

/* The entity of an address (or address id) as cluster_entity_json gives it, plus "labels":
 * every btc label whose address belongs to the entity, each with the carrying "address" and
 * its confidence. Needs q->clusters. */
int query_entity(const query_ctx *q, const char *arg, size_t offset, size_t limit, json_t **out,
                 util_err *err);

/* Decode one raw block without a store: hash, header fields, and per tx its txid, input count
 * and outputs (value, type, address). */
int query_decode_block(const uint8_t *p, size_t n, json_t **out, util_err *err);

#endif
