/* cointrail/store.h: opening a chain store read-only, and its whole-store figures.
 *
 * A store is the directory `cointrail import --db DIR` writes: the chain's columns, with the
 * labels (`cointrail labels import`) and the clustering (`cointrail cluster`) kept beside
 * them. A ct_store reads the state committed when it was opened; writers (the CLI's import,
 * labels import, cluster) may run at the same time and are not seen until a new open.
 *
 * Threads: a ct_store is immutable once opened; any number of threads may call the look-up
 * functions on the same store at once. Close it only after all of them are done. */
#ifndef CT_PUBLIC_STORE_H
#define CT_PUBLIC_STORE_H

#include "common.h"

CT_BEGIN_DECL

/* An open store (opaque). */
typedef struct ct_store ct_store;

/* Open the store in dir read-only, with its labels (none if no labels were imported) and its
 * clustering (none if `cointrail cluster` was never run, or if the clustering cannot be used
 * with this chain state: see ct_store_totals.clustered).
 *
 * @param out  (out) the store; owned by the caller, who closes it with ct_store_close.
 *             Left untouched on failure.
 * @param dir  the store directory
 * @param err  (out, may be NULL) filled on failure
 * @return     0; CT_ENOTFOUND or CT_EIO if dir holds no readable store; CT_ECORRUPT if a
 *             column disagrees with the MANIFEST; CT_ENOMEM */
CT_EXTERN(int) ct_store_open(ct_store **out, const char *dir, ct_error *err);

/* Close a store and free everything it owns, including every string borrowed from it by
 * results (ct_exposure_category.category, ct_label's fields). Results the caller owns
 * (ct_tx, ct_labels, ct_exposure) must be freed too but do not need the store to be open.
 *
 * @param s  the store; NULL is fine */
CT_EXTERN(void) ct_store_close(ct_store *s);

/* Whole-store figures, as `cointrail stats --json` shows them, plus what the store holds
 * beside the chain. */
typedef struct ct_store_stats {
    uint64_t blocks;                 /* blocks in the main chain */
    int64_t tip_height;              /* blocks - 1; -1 for an empty store */
    char tip_hash[CT_HASH_HEX_SIZE]; /* display hex; "" for an empty store */
    uint64_t txs, inputs, outputs;
    uint64_t addresses;                         /* distinct addresses ever paid */
    uint64_t unresolved_inputs;                 /* inputs whose previous output is not stored */
    int64_t total_output_value;                 /* satoshis, over every output */
    int64_t total_fees;                         /* satoshis */
    uint64_t utxo_count;                        /* outputs not spent */
    int64_t utxo_value;                         /* satoshis */
    uint64_t outputs_by_type[CT_SCRIPT_NTYPES]; /* indexed by ct_script_type */
    uint64_t labels;                            /* labels of every chain in the store's label set */
    int clustered;                              /* 1: the clustering is in use (entities known) */
} ct_store_totals;

/* Fill *out with the store's figures (the running totals committed with the chain: no scan).
 *
 * @param out  (out) the figures; caller-provided
 * @param s    an open store
 * @return     0 */
CT_EXTERN(int) ct_store_stats(ct_store_totals *out, const ct_store *s);

CT_END_DECL

#endif
