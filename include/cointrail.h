/* cointrail.h: the public C API of libcointrail, a Bitcoin forensics engine.
 *
 * Include this header (it includes the others) and link with
 * `pkg-config --cflags --libs cointrail`. The library reads the stores the `cointrail` command
 * writes (import, labels import, cluster):
 *
 *   cointrail/version.h   ct_version: the library's version; CT_VERSION_* the headers'
 *   cointrail/common.h    ct_error, the error codes, CT_EXTERN, script types
 *   cointrail/store.h     ct_store_open / ct_store_close, ct_store_stats: whole-store figures
 *   cointrail/tx.h        ct_tx_lookup / ct_tx_free: a transaction, its inputs and outputs
 *   cointrail/address.h   ct_address_lookup: received, sent, balance, entity of an address
 *   cointrail/labels.h    ct_labels_lookup / ct_labels_free: what sources say of an address
 *   cointrail/exposure.h  ct_trace_exposure / ct_exposure_free: where an output's funds went
 *                         (or came from), per label category
 *
 * A minimal program:
 *
 *   ct_store *s;
 *   ct_error err;
 *   if (ct_store_open(&s, "/data/btc", &err)) { fprintf(stderr, "%s\n", err.message); ... }
 *   ct_exposure *x;
 *   if (ct_trace_exposure(&x, s, "TXID:0", NULL, &err) == 0) {
 *       for (size_t i = 0; i < x->n_categories; i++)
 *           printf("%s %llu\n", x->categories[i].category,
 *                  (unsigned long long)x->categories[i].amount);
 *       ct_exposure_free(x);
 *   }
 *   ct_store_close(s);
 *
 * docs/library.md describes building, installing, the versioning policy and what is not public
 * yet. */
#ifndef CT_PUBLIC_COINTRAIL_H
#define CT_PUBLIC_COINTRAIL_H

#include "cointrail/common.h"
#include "cointrail/version.h"
#include "cointrail/store.h"
#include "cointrail/tx.h"
#include "cointrail/address.h"
#include "cointrail/labels.h"
#include "cointrail/exposure.h"

#endif
