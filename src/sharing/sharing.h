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

#include "../case/case.h"
#include "../evm/evm.h"
#include "../labels/labels.h"
#include "../trace/trace.h"
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

/* Who an incident is attributed to, by whom (strings borrowed). */
typedef struct sharing_attribution {
    const char *actor;
    const char *by;   /* who attributed it ("FBI"), "" if not stated */
    const char *date; /* of the statement, "" if not stated */
    const char *url;  /* the statement, "" if none */
    int confidence;   /* 0..100, -1: not stated */
} sharing_attribution;

/* The incident or case an export is about: the STIX incident SDO (with threat-actors and
 * attributed-to relationships, every indicator and transaction related-to it) and the MISP
 * event's info, date, threat-actor tags and source links. Strings borrowed. */
typedef struct sharing_incident {
    const char *key;         /* what identifies it across exports: "incident:SLUG", "case:ID" */
    const char *name;        /* a title */
    const char *date;        /* as stated (YYYY, YYYY-MM, YYYY-MM-DD...), "" if none */
    const char *description; /* victim, amounts, notes: free text, "" if none */
    const sharing_attribution *attrs; /* the first is the primary attribution */
    size_t n_attrs;
    const char *const *urls; /* source pages */
    size_t n_urls;
} sharing_incident;

/* What one export holds. Everything borrowed for the duration of the write. */
typedef struct sharing_set {
    const labels_label *const *labels;
    size_t n_labels;
    const char *const *notes; /* NULL, or per label a note ("" none): why the label is in the
                               * export (a seed, what a trace run brought to it); the STIX
                               * indicator's description, the MISP object's comment */
    const sharing_tx *txs;
    size_t n_txs;
    const sharing_incident *incident; /* NULL: an export of labels */
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

/* ---- exports of a case or an incident (sharing_case.c) ----
 * What a case or an incident established, as a sharing_set: the incident (or case), its
 * attributions and source URLs; its seeds (addresses as labels of category theft, txs with their
 * inputs and outputs when the Bitcoin store has them); the analyst labels of its case (as fed to
 * labels.db: source "case:ID"); and the endpoints of its latest trace runs (the newest run of
 * each chain of a case; every run of an incident's latest trace) as labels of the source
 * "case:ID trace" / "incident:SLUG trace", with the amounts in their notes. With the Bitcoin
 * store, each Bitcoin run is computed again (trace_compute with the run's seeds and options) to
 * find its deposits: the outputs that brought traced value to an endpoint, with their txs, block
 * times and the path from a seed; they date the endpoint labels (first and last seen) and their
 * txs join the export. */

/* One output that brought traced value to a labelled service. Strings owned by the
 * sharing_built. */
typedef struct sharing_deposit {
    const char *address;  /* the deposit address */
    const char *category; /* of the stop label: exchange, otc, mixer, ... */
    const char *actor;    /* who is behind it: the stop label's actor, else its name (as
                           * labels_actor decides), else "(unnamed CATEGORY)" */
    const char *txid;     /* the tx that paid it (display hex) */
    uint32_t vout;
    int64_t height, time; /* of its block (time: Unix seconds, the block header's) */
    uint64_t value;       /* satoshis of the output */
    uint64_t traced;      /* satoshis of it the run traced from its seeds */
    const char *share;    /* "1", or "NUM/DEN": a cross-chain leg's share of the incident's
                           * deposit into a bridge or swap (case_leg) */
    int64_t run_id;
    const char *const *path; /* the seed outpoint "TXID:N", then each tx to txid, seed side
                              * first (a shortest chain of spends); EVM: the tx hashes from the
                              * seed transfer's tx to the deposit's, each moving taint received
                              * in the one before */
    size_t path_len;
    /* Both chain models (Bitcoin: "btc", "BTC", 8, vout -1 as log index): */
    const char *chain;  /* "btc", "eth", ... */
    const char *asset;  /* "BTC", the native symbol ("ETH"), or an ERC-20's 0x address */
    const char *symbol; /* the asset's symbol ("" for a token without one) */
    int decimals;       /* of the asset; -1 unknown (amounts then only in base units) */
    const char *amount, *traced_amount; /* value and traced in base units (decimal digits):
                                         * EVM amounts exceed 64 bits */
    int64_t log_index; /* EVM: the ERC-20 transfer's log index; -1 for other moves and btc */
    const char *from;  /* EVM: the transfer's sender ("" for btc) */
} sharing_deposit;

typedef struct sharing_case_src {
    const case_full *c;            /* the case (analyst labels, seeds, runs); for an incident
                                      its case (analyst labels only), or NULL */
    const case_incident *incident; /* NULL: an export of the case */
    const store *btc;              /* NULL: no txs, no deposits (labels-only directory) */
    const evm_store *evm;          /* the EVM store of evm_chain (runs of other chains are not
                                      computed again); NULL: no EVM deposits */
    const labels_db *labels;       /* the store's label set (stop labels, confidences) */
    const cluster_map *clusters;   /* for runs that were clustered; NULL if none */
    const char *producer, *title;  /* as sharing_set; title NULL: the incident's name */
    int64_t now;
} sharing_case_src;

typedef struct sharing_built {
    sharing_set set; /* the export: points into this struct */
    sharing_incident incident;
    sharing_deposit *deposits; /* every deposit of the runs computed again, by actor, then
                                * block time, txid, vout */
    size_t n_deposits;
    size_t runs_recomputed;
    util_buf warnings; /* NUL-terminated lines ("" if none): runs not computed again, a store
                        * whose tip moved since a run */
    struct sharing_built_own *own; /* the storage */
} sharing_built;

/* Build the export of a case or an incident. UTIL_EINVAL when neither is given, UTIL_ENOMEM;
 * errors of trace_compute (a run whose seeds the store lacks: UTIL_ENOTFOUND) name the run.
 * *out owned by the caller: sharing_built_free (also after an error). */
int sharing_build(sharing_built *out, const sharing_case_src *src, util_err *err);
void sharing_built_free(sharing_built *b);

/* ---- freeze requests (sharing_freeze.c) ----
 * One packet per exchange the traced value reached (deposits whose category is exchange or
 * otc, grouped by actor): what an incident responder sends an exchange to freeze the deposits.
 */
typedef struct sharing_packet {
    const char *actor, *category; /* borrowed from the deposits */
    size_t first, n;              /* deposits[first .. first + n) of the sharing_built */
    uint64_t value, traced;       /* sums over its Bitcoin deposits (satoshis) */
    const char *chain;            /* its deposits' chain: a packet is per actor and chain */
} sharing_packet;

/* Whether a deposit's category is one a freeze request goes to (exchange, otc). */
int sharing_freeze_category(const char *category);
/* The packets of b, by actor. *out owned by the caller (free()); *n may be 0. UTIL_ENOMEM. */
int sharing_freeze_packets(const sharing_built *b, sharing_packet **out, size_t *n);
/* A packet as CSV (RFC 4180, a header line): exchange, category, deposit_address, txid, vout,
 * block_height, block_time (UTC), amount_btc (8 decimals), amount_sat, traced_btc,
 * traced_sat, share, run, path (txids joined by " > "). A text cell starting with = + - @ TAB
 * or CR gets a leading '. */
int sharing_freeze_csv(FILE *f, const sharing_built *b, const sharing_packet *p, util_err *err);
/* A packet as a printable, self-contained HTML letter (no script, nothing fetched; every text
 * from a label, a case or an incident escaped). */
int sharing_freeze_html(FILE *f, const sharing_built *b, const sharing_packet *p, util_err *err);
/* The index of the packets: CSV (exchange, category, deposits, amount_sat, amount_btc,
 * traced_sat, traced_btc, folder) and HTML; dirs[i] is packet i's folder name. */
int sharing_freeze_index_csv(FILE *f, const sharing_built *b, const sharing_packet *p, size_t n,
                             const char *const *dirs, util_err *err);
int sharing_freeze_index_html(FILE *f, const sharing_built *b, const sharing_packet *p, size_t n,
                              const char *const *dirs, util_err *err);
/* Satoshis as BTC with exactly 8 decimals ("1.50000000"). out holds 32 bytes. */
void sharing_btc8(char out[32], uint64_t sat);

#endif
