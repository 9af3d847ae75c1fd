/* cointrail/address.h: what the chain says about one address. */
#ifndef CT_PUBLIC_ADDRESS_H
#define CT_PUBLIC_ADDRESS_H

#include "common.h"
#include "store.h"

CT_BEGIN_DECL

/* An address's totals, as the head of `cointrail address --json`. */
typedef struct ct_address_summary {
    char address[CT_ADDRESS_SIZE]; /* canonical form of the address asked for */
    char type[16];                 /* "p2pkh", "p2wpkh", ... (the address kind) */
    int64_t received;              /* satoshis paid to it, over every output */
    int64_t sent;                  /* satoshis of those outputs spent since */
    int64_t balance;               /* received - sent */
    uint64_t tx_count;             /* distinct txs paying it or spending from it */
    uint64_t output_count;         /* outputs paying it */
    int has_entity;                /* 1: the store is clustered and entity is set */
    uint32_t entity;               /* its entity id (as `cointrail entity` shows) */
    size_t n_labels;               /* labels on the address itself (ct_labels_lookup) */
} ct_address_summary;

/* Summarise one address.
 *
 * @param out      (out) the summary; caller-provided, filled only on success
 * @param s        an open store
 * @param address  a Bitcoin address in any valid spelling (base58 or bech32/bech32m)
 * @param err      (out, may be NULL) filled on failure
 * @return         0; CT_EINVAL for a malformed address; CT_ENOTFOUND if it was never paid in
 *                 the store; CT_ENOMEM */
CT_EXTERN(int)
ct_address_lookup(ct_address_summary *out, const ct_store *s, const char *address, ct_error *err);

CT_END_DECL

#endif
