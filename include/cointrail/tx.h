/* cointrail/tx.h: one transaction with typed inputs and outputs. */
#ifndef CT_PUBLIC_TX_H
#define CT_PUBLIC_TX_H

#include "common.h"
#include "store.h"

CT_BEGIN_DECL

/* Where an input's value comes from. */
typedef enum {
    CT_INPUT_SPEND = 0,  /* spends an output in the store: value, type and address known */
    CT_INPUT_COINBASE,   /* the coinbase input: new coins, no previous output */
    CT_INPUT_UNRESOLVED, /* spends an output the store does not hold (imported from a later
                          * height): prev_txid and prev_vout known, value and address not */
} ct_input_kind;

typedef struct ct_tx_input {
    int kind;                         /* ct_input_kind */
    char prev_txid[CT_HASH_HEX_SIZE]; /* the previous output's txid; "" for a coinbase */
    uint32_t prev_vout;               /* its index; 0 for a coinbase */
    int64_t value;                    /* satoshis; -1 unless kind is CT_INPUT_SPEND */
    int type;                         /* ct_script_type of the previous output; -1 if unknown */
    char address[CT_ADDRESS_SIZE];    /* its address; "" if it has none or is unknown */
} ct_tx_input;

typedef struct ct_tx_output {
    uint32_t n;                           /* index in the transaction */
    int64_t value;                        /* satoshis */
    int type;                             /* ct_script_type */
    char address[CT_ADDRESS_SIZE];        /* "" for a script without an address */
    int spent;                            /* 1: spent in the store */
    char spent_by_txid[CT_HASH_HEX_SIZE]; /* the spending tx; "" when not spent */
} ct_tx_output;

/* A transaction as `cointrail tx --json` describes it, without labels (ct_labels_lookup gives
 * them per address). */
typedef struct ct_tx {
    char txid[CT_HASH_HEX_SIZE];
    uint64_t height; /* block height */
    char block_hash[CT_HASH_HEX_SIZE];
    uint32_t time;        /* block time, unix seconds */
    uint32_t size, vsize; /* bytes, virtual bytes */
    int coinbase;         /* 1: the block's coinbase */
    int fee_known;        /* 0 when an input is unresolved: the next two are 0 */
    int64_t input_value;  /* satoshis spent (sum of input values) */
    int64_t fee;          /* satoshis; 0 for a coinbase */
    int64_t output_value; /* satoshis paid (sum of output values) */
    size_t n_inputs;
    ct_tx_input *inputs; /* n_inputs of them, in order */
    size_t n_outputs;
    ct_tx_output *outputs; /* n_outputs of them, in order */
} ct_tx;

/* Look up a transaction by its txid.
 *
 * @param out   (out) the transaction; owned by the caller, who frees it with ct_tx_free
 *              (it does not borrow from the store). Left untouched on failure.
 * @param s     an open store
 * @param txid  64 hex digits, display order (as block explorers show it)
 * @param err   (out, may be NULL) filled on failure
 * @return      0; CT_EINVAL for a malformed txid; CT_ENOTFOUND if the store does not hold it;
 *              CT_ENOMEM */
CT_EXTERN(int) ct_tx_lookup(ct_tx **out, const ct_store *s, const char *txid, ct_error *err);

/* Free a transaction from ct_tx_lookup.
 *
 * @param tx  the transaction; NULL is fine */
CT_EXTERN(void) ct_tx_free(ct_tx *tx);

CT_END_DECL

#endif
