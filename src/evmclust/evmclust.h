/* evmclust: entities on EVM chains by the deposit-address heuristic (Victor, "Address clustering
 * heuristics for Ethereum", FC 2020; docs/clustering.md, "Entities on EVM chains"). An exchange
 * gives each customer an address that forwards what it receives to the exchange's hot wallet;
 * such an address belongs to the exchange. Account-model addresses are never joined by the UTXO
 * rules (there are no multi-input txs).
 *
 * Two rules. "deposit-forward": the hot wallet is a labelled exchange address. Its forwarders are
 * its deposit addresses. "deposit-forward-unlabelled": no label names the sink; it is a
 * service's hot wallet when enough forwarders feed it, each forwarding nearly all it receives
 * within `window` blocks of receiving it, and the guards against lookalikes hold: the sink pays
 * its forwarders nothing back but gas (a DEX pays its traders back; a user funds its own
 * wallets), and the forwarders were funded by many payers, no one of them funding most (an
 * airdrop farmer's claim addresses, or payroll payees spending at one merchant, share their
 * funder). Such an entity is unnamed unless a label names one of its members.
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

#define EVMCLUST_FORMAT 2
#define EVMCLUST_MAX_FWD 8 /* forwarding txs kept per deposit address as provenance */

typedef struct evmclust_opts {
    unsigned min_share;   /* percent of an asset received (and of that asset sent) that must go
                           * to the exchange: "nearly all of it" (default 90) */
    unsigned min_feeders; /* a labelled exchange address counts as a hot wallet only when at
                           * least this many forwarders feed it (default 3): a labelled
                           * deposit address, fed by its one customer, is no hot wallet */
    /* unlabelled sinks only */
    unsigned window;           /* blocks from a receipt to its forward (default 100) */
    unsigned min_in_window;    /* percent of the value forwarded within the window (50) */
    unsigned min_feeders_unl;  /* forwarders, and distinct funders of them (default 5) */
    unsigned max_funder_share; /* percent of the forwarders one payer may have funded (50);
                                * 100 turns the funder guard off, distinct funders too */
    unsigned max_return_share; /* percent of would-be forwarders the sink may pay back (20) */
    uint64_t max_topup_gwei;   /* ETH from the sink that counts as gas, not payment (2e7) */
} evmclust_opts;

void evmclust_default_opts(evmclust_opts *o);

/* One deposit address joined to its exchange. Strings are owned by the set. */
typedef struct evmclust_deposit {
    char address[43]; /* "0x" + 40 lowercase hex digits */
    char hot[43];     /* the labelled exchange address it forwards to */
    char tx[67];      /* the largest forwarding transfer's tx, "0x" + 64 hex digits */
    char asset[43];   /* "ETH" or the token contract */
    /* of that asset; received: up to its last forward (later receipts are still pending) */
    char received[EVM_U256_DEC_MAX], forwarded[EVM_U256_DEC_MAX];
    char funder[43];   /* who paid it the most of that asset ("" when unknown) */
    int64_t delay;     /* blocks from its last receipt to the largest forward, -1 unknown */
    int unlabelled;    /* the rule: 0 deposit-forward, 1 deposit-forward-unlabelled */
    uint32_t forwards; /* forwarding transfers of that asset */
    uint32_t n_fwd_tx; /* of which the first EVMCLUST_MAX_FWD are kept */
    char fwd_tx[EVMCLUST_MAX_FWD][67];
    char *exchange;     /* the entity's name (hot wallet's actor or name), NULL: unnamed */
    char *source;       /* provenance text, the rule and the tx */
    labels_label label; /* category "exchange", actor = exchange: what readers offer */
} evmclust_deposit;

/* A sink that forwarders feed: a hot wallet, or one the guards refused (refused != NULL). */
typedef struct evmclust_hot {
    char address[43];
    char *exchange;      /* NULL: unnamed */
    int unlabelled;      /* found by the unlabelled rule */
    const char *refused; /* static text: why it is no hot wallet; NULL: it is one */
    uint64_t forwarders, funders, top_funder, returned;
} evmclust_hot;

typedef struct evmclust_set {
    evmclust_deposit *d; /* sorted by address */
    size_t n;
    evmclust_opts opts;
    uint64_t blocks;      /* store blocks when computed */
    uint64_t hot_wallets; /* labelled exchange addresses with >= min_feeders forwarders */
    uint64_t ambiguous;   /* forwarders to two exchanges' addresses: not joined */
    evmclust_hot *hots;   /* sorted by address: hot wallets and refused unlabelled sinks */
    size_t n_hots;
} evmclust_set;

/* An entity: its hot wallet and its deposit addresses (indices into set->d, by address). */
typedef struct evmclust_entity {
    const evmclust_hot *hot;
    size_t *members, n; /* owned (evmclust_entity_free) */
} evmclust_entity;

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
/* The entity of address (a deposit address or a hot wallet, lowercase "0x" hex). UTIL_ENOTFOUND
 * when it is in none; UTIL_EINVAL for a refused sink (the message says why). */
int evmclust_entity_get(const evmclust_set *set, const char *address, evmclust_entity *out,
                        util_err *err);
/* The entity as JSON: members offset..offset+limit, each with its provenance, labels of the hot
 * wallet and members from labels (may be NULL; a label added after the run names an unnamed
 * entity), the rule and the run's parameters. NULL on no memory. */
json_t *evmclust_entity_json(const evmclust_set *set, const evmclust_entity *ent,
                             const labels_db *labels, const char *address, uint64_t offset,
                             uint64_t limit);
void evmclust_entity_free(evmclust_entity *e);

#endif
