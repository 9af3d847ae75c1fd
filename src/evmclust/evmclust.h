/* evmclust: entities on EVM chains by the deposit-address heuristic (Victor, "Address clustering
 * heuristics for Ethereum", FC 2020; docs/clustering.md, "Entities on EVM chains"). An exchange
 * gives each customer an address that forwards what it receives to the exchange's hot wallet;
 * such an address belongs to the exchange. Account-model addresses are never joined by the UTXO
 * rules (there are no multi-input txs).
 *
 * The set is computed from a committed EVM store and the "eth" labels, saved beside the store as
 * DIR/evm/<chain>.entities.json (never inside the store: the chain data is not changed), and
 * loaded by readers (etrace's answers by actor). Every function that can fail returns 0 or a
 * negative UTIL_E* code and fills err (may be NULL). */
#ifndef CT_EVMCLUST_H
#define CT_EVMCLUST_H

#include <stddef.h>

#include "../evm/evm.h"
#include "../labels/labels.h"

#define EVMCLUST_FORMAT 1

typedef struct evmclust_opts {
    unsigned min_share;   /* percent of an asset received (and of that asset sent) that must go
                           * to the exchange: "nearly all of it" (default 90) */
    unsigned min_feeders; /* a labelled exchange address counts as a hot wallet only when at
                           * least this many forwarders feed it (default 3): a labelled
                           * deposit address, fed by its one customer, is no hot wallet */
} evmclust_opts;

void evmclust_default_opts(evmclust_opts *o);

/* One deposit address joined to its exchange. Strings are owned by the set. */
typedef struct evmclust_deposit {
    char address[43]; /* "0x" + 40 lowercase hex digits */
    char hot[43];     /* the labelled exchange address it forwards to */
    char tx[67];      /* the largest forwarding transfer's tx, "0x" + 64 hex digits */
    char asset[43];   /* "ETH" or the token contract */
    char received[EVM_U256_DEC_MAX], forwarded[EVM_U256_DEC_MAX]; /* of that asset */
    char *exchange;     /* the hot wallet's actor (or name) */
    char *source;       /* provenance text, the rule and the tx */
    labels_label label; /* category "exchange", actor = exchange: what readers offer */
} evmclust_deposit;

typedef struct evmclust_set {
    evmclust_deposit *d; /* sorted by address */
    size_t n;
    evmclust_opts opts;
    uint64_t blocks;      /* store blocks when computed */
    uint64_t hot_wallets; /* labelled exchange addresses with >= min_feeders forwarders */
    uint64_t ambiguous;   /* forwarders to two exchanges' addresses: not joined */
} evmclust_set;

/* Compute the set over the committed store. *out is zeroed first, owned by the caller
 * (evmclust_free). labels may be NULL (then nothing is joined: there is no exchange). */
int evmclust_compute(const evm_store *s, const labels_db *labels, const evmclust_opts *o,
                     evmclust_set *out, util_err *err);
/* Path of the saved set: DIR/evm/<chain>.entities.json into buf (cap bytes). */
int evmclust_path(char *buf, size_t cap, const char *dir, const char *chain, util_err *err);
/* JSON document of the set (a new reference; NULL on no memory). */
json_t *evmclust_json(const evmclust_set *set);
int evmclust_save(const evmclust_set *set, const char *dir, const char *chain, util_err *err);
/* Load a saved set. UTIL_ENOTFOUND if none was computed; UTIL_EFORMAT naming the file and the
 * field for a file that is not one. */
int evmclust_load(evmclust_set *out, const char *dir, const char *chain, util_err *err);
/* The deposit of a lowercase "0x" address, or NULL. set may be NULL. */
const evmclust_deposit *evmclust_find(const evmclust_set *set, const char *address);
void evmclust_free(evmclust_set *set);

#endif
