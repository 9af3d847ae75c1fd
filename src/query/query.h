/* query: the answers the CLI and the API give, as JSON documents built from the store. The
 * same call serves `cointrail stats --json` and a future HTTP endpoint, so both agree. Each
 * function fills *out with a new jansson object that the caller owns (json_decref it). */
#ifndef CT_QUERY_H
#define CT_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"
#include "../util/util.h"

/* Whole-store figures: blocks, tip_hash, txs, inputs, outputs, total_output_value, total_fees,
 * utxo_count, utxo_value, addresses, outputs_by_type, unresolved_inputs. With recompute set,
 * figures come from a full scan of the columns instead of the MANIFEST's running totals. */
int query_stats(const store *s, int recompute, json_t **out, util_err *err);

/* One transaction by txid (display hex): block, inputs with their previous outputs (or
 * unresolved), outputs with spending txids, fee. UTIL_ENOTFOUND if absent. */
int query_tx(const store *s, const char *txid_hex, json_t **out, util_err *err);

/* One address: type, received, sent, balance, tx_count, output_count, and outputs newest
 * first from offset (at most limit of them). UTIL_EINVAL for a malformed address,
 * UTIL_ENOTFOUND if it never appears. */
int query_address(const store *s, const char *address, size_t offset, size_t limit, json_t **out,
                  util_err *err);

/* Decode one raw block without a store: hash, header fields, and per tx its txid, input count
 * and outputs (value, type, address). */
int query_decode_block(const uint8_t *p, size_t n, json_t **out, util_err *err);

#endif
