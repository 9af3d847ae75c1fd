/* sharing: what an investigator found, written in the formats other tools read: a STIX 2.1
 * bundle (with the community cryptocurrency-wallet / cryptocurrency-transaction SCOs), a MISP
 * event (coin-address and cryptocurrency-transaction objects), a GraphSense TagPack and
 * FollowTheMoney CryptoWallet entities (docs/sharing.md). The import of STIX and MISP is the
 * labels module's (labels_import_file): a label set round-trips through every format.
 *
 * The writers take a typed list, not a store: labels (pointers, borrowed) and optionally
 * transactions with amounts, so an export of labels, of a case or an incident, or a freeze
 * request to one exchange all go through the same writer. Output is deterministic: object ids
 * are name-based UUIDs (version 5) of the content, and the only clock is sharing_set.now.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills the caller's
 * util_err (may be NULL). */
#ifndef CT_SHARING_H
#define CT_SHARING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../labels/labels.h"
#include "../util/util.h"

typedef enum {
    SHARING_STIX = 1, /* a STIX 2.1 bundle (JSON) */
    SHARING_MISP,     /* a MISP event (JSON) */
    SHARING_TAGPACK,  /* a GraphSense TagPack (YAML); one source per pack */
    SHARING_FTM,      /* FollowTheMoney entities, one JSON object a line */
} sharing_format;

/* Name of a format as the CLI spells it ("stix", ...), and back (-1 if unknown). */
const char *sharing_format_name(sharing_format f);
int sharing_format_parse(const char *name);

/* One side of a transaction: an address and what it sent or received, in the chain's base
 * unit (satoshi, wei) as decimal digits; amount NULL if unknown. Strings borrowed. */
typedef struct sharing_move {
    const char *address;
    const char *amount;
} sharing_move;

/* A transaction to share (a theft, a deposit). Strings and arrays borrowed. */
typedef struct sharing_tx {
    const char *chain; /* "btc", "eth", ... as labels spell chains */
    const char *txid;  /* as the chain shows it: hex, 0x + hex */
    int64_t time;      /* block time, Unix seconds; 0 if unknown */
    const char *fee;   /* base units, decimal digits; NULL if unknown */
    const sharing_move *inputs;
    size_t n_inputs;
    const sharing_move *outputs;
    size_t n_outputs;
} sharing_tx;

/* What one export holds. Everything borrowed for the duration of the write. */
typedef struct sharing_set {
    const labels_label *const *labels;
    size_t n_labels;
    const sharing_tx *txs;
    size_t n_txs;
    const char *producer; /* who shares: STIX producer identity, MISP Orgc, TagPack creator;
                           * NULL: "cointrail" */
    const char *title;    /* MISP event info, TagPack description; NULL: a summary */
    int64_t now;          /* the export's time (Unix seconds): STIX created/modified, MISP
                           * timestamps; the caller's clock (SOURCE_DATE_EPOCH for byte-equal
                           * exports) */
} sharing_set;

/* Write s to out in format f. UTIL_EIO if out fails (errno kept), UTIL_EINVAL for a set the
 * format cannot hold (a TagPack of labels from several sources: write one per source, see
 * sharing_sort_by_source), UTIL_ENOMEM. */
int sharing_write(FILE *out, sharing_format f, const sharing_set *s, util_err *err);

/* Sort label pointers by source, keeping the labels' key order within a source: each run of
 * one source is one TagPack. */
void sharing_sort_by_source(const labels_label **v, size_t n);

/* A label query: "all", or terms KEY=VALUE joined by '&' (chain, category, actor, source,
 * text; a term without '=' is text), values %XX-decoded, as in a URL's query string. Fills f
 * with pointers into query, which is decoded in place. UTIL_EINVAL naming a bad term. */
int sharing_query_parse(char *query, labels_filter *f, util_err *err);

/* ---- identifiers ---- */
#define SHARING_SCO_ID 80 /* bytes of an SCO id: "cryptocurrency-transaction--" + UUID + NUL */
/* A version 5 (name-based, SHA-1) UUID of name in namespace ns, lowercase "8-4-4-4-12". */
void sharing_uuid5(char out[37], const uint8_t ns[16], const void *name, size_t n);
/* The STIX id of a cryptocurrency-wallet SCO: "cryptocurrency-wallet--" + the UUIDv5, in the
 * SCO namespace 00abedb4-aa42-466c-9c01-fed23315a9b7, of the JSON object of its ID
 * contributing property, {"value": ADDRESS}, serialised per RFC 8785. */
void sharing_stix_wallet_id(char out[SHARING_SCO_ID], const char *address);
/* The same for a cryptocurrency-transaction: {"symbol": SYMBOL, "value": TXID}. */
void sharing_stix_tx_id(char out[SHARING_SCO_ID], const char *symbol, const char *txid);

/* ---- amounts ---- */
/* Decimal places of a chain's native unit (btc 8, eth and EVM chains 18, trx 6, xmr 12, ...);
 * -1 if cointrail does not know the chain. */
int sharing_chain_decimals(const char *chain);
/* base (decimal digits) in units of 10^-decimals as a decimal number: ("84000000", 8) ->
 * "0.84". out holds cap bytes. UTIL_EINVAL if base is not digits or does not fit. */
int sharing_amount(char *out, size_t cap, const char *base, int decimals);

#endif
