/* evmquery: JSON answers over an EVM store (src/evm), shared by the CLI (and later the API),
 * as src/query is for a Bitcoin store. Amounts are decimal strings: they exceed what JSON
 * numbers hold exactly. Functions return 0 or a negative UTIL_E* code and fill err. */
#ifndef CT_EVMQUERY_H
#define CT_EVMQUERY_H

#include <jansson.h>

#include "../evm/evm.h"

/* {"chain", "first_block", "blocks", "tip", "partial_history", "txs", ...}. New reference. */
int evm_query_stats(const evm_store *s, json_t **out, util_err *err);
/* A tx: block, from/to (EIP-55), value, fee, status and every transfer. UTIL_ENOTFOUND. */
int evm_query_tx(const evm_store *s, const uint8_t hash[32], json_t **out, util_err *err);
/* An address: balances per asset (received, sent, fees, balance; "partial_history" unless
 * block 0 is stored), transfer count, transfers newest first from offset (limit 0: all). */
int evm_query_address(const evm_store *s, const uint8_t addr[20], size_t offset, size_t limit,
                      json_t **out, util_err *err);

#endif
