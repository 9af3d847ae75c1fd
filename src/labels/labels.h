/* labels: what is known about addresses, from outside sources. Imports OFAC's SDN advanced
 * XML, the per-currency OFAC address lists, GraphSense TagPack YAML and a plain CSV into one
 * label set kept in the store directory (DIR/labels.db, a versioned text file described in
 * docs/labels.md), and answers look-ups by (chain, address), filtered lists and searches.
 *
 * The label set does not need the chain store: labels can be imported before any block, and
 * labels for chains not ingested (yet) are kept. Import is two steps: labels_import_file parses
 * one file completely into the in-memory set (a file with any structural error adds nothing),
 * and labels_db_save replaces DIR/labels.db atomically (write temp, fsync, rename), so an
 * import is all or nothing. Labels are unique on (chain, address, source, category): importing
 * the same file twice changes nothing, and a newer import of the same key replaces the fields.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills the caller's
 * util_err (may be NULL) with a message naming the file, line and field concerned. */
#ifndef CT_LABELS_H
#define CT_LABELS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

#define LABELS_FORMAT_VERSION 1        /* of DIR/labels.db */
#define LABELS_FILE "labels.db"        /* inside the store directory */
#define LABELS_INDEX_FILE "labels.idx" /* labels.db's look-up index, beside it */
#define LABELS_CONFIDENCE_DEFAULT 50   /* when a source gives none */

/* One label. Every string is non-NULL and NUL-terminated ("" when the source gives nothing)
 * and owned by the labels_db (or the labels_import_result) that holds the label.
 *   chain      lowercased currency code: "btc" (from XBT or BTC), "eth", "trx", "usdt", ...
 *   address    btc: canonical mainnet form (btc_addr_encode of the decoded address); 0x...
 *              addresses lowercased; anything else as given
 *   category   cointrail's vocabulary: exchange mixer bridge swap sanctioned theft ransomware
 *              darknet scam gambling otc defi miner terrorism ...; other source words lowercased
 *   actor      who is behind it ("lazarusgroup", an OFAC SDN entry's name)
 *   name       the label text ("Lazarus group", "binance reserve wallets BTC", the SDN name)
 *   source     where it comes from: TagPack title, "OFAC SDN #<profile id>", "OFAC SDN list
 *              XBT", the CSV's source column or the file name, or --source
 *   url        TagPack source URL, OFAC's reference page
 *   programs   OFAC sanctions programs, comma-separated ("CYBER2,DPRK3")
 *   first_seen, last_seen   dates (YYYY-MM-DD) when the source gives them
 *   updated    the source's own date: TagPack lastmod, the OFAC entry's listing date
 *   confidence 0..100 (see labels_confidence_from_name and docs/labels.md) */
typedef struct labels_label {
    char *chain, *address, *category, *actor, *name, *source, *url, *programs;
    char *first_seen, *last_seen, *updated;
    int confidence;
} labels_label;

/* Limits on imported text (docs/labels.md, "Bad input"): a longer field fails the import with
 * its file, line and field. A file that repeats a key keeps at most LABELS_MAX_NAMES distinct
 * names, joined with "; ", and counts the rest as "; +N more". A TagPack nested deeper than
 * LABELS_MAX_DEPTH (lists and mappings, anywhere, even in fields cointrail ignores) is refused:
 * libyaml's parser is quadratic in the depth. */
#define LABELS_MAX_TEXT 1024   /* bytes of one text field: actor, name, source, url, ... */
#define LABELS_MAX_CATEGORY 63 /* bytes of a category word (the longest the map takes) */
#define LABELS_MAX_NAMES 16    /* distinct names joined when one file repeats a key */
#define LABELS_MAX_DEPTH 64    /* nesting of lists and mappings in a TagPack */
/* The longest name LABELS_MAX_NAMES joined names make: what a STIX or MISP import (the formats
 * that carry a label set exactly, as cointrail exports it) takes as a name. */
#define LABELS_MAX_NAME (LABELS_MAX_NAMES * (LABELS_MAX_TEXT + 2) + 32)

/* The label set of one store directory, sorted by (chain, address, source, category). */
typedef struct labels_db labels_db;

enum {
    LABELS_WRITE =
        1, /* take DIR/labels.lock (flock) so two imports cannot lose each other's work */
    /* Read-only: do not read labels.db at open but answer look-ups (labels_find,
     * labels_find_any, labels_db_span, labels_db_count) from DIR/labels.idx, parsing only the
     * lines asked for, when that index is the one of this labels.db; anything else that needs
     * the set (labels_db_get, labels_query) reads labels.db whole then. Without a usable index
     * (none, stale, damaged) the set is read at open as without the flag. Ignored with
     * LABELS_WRITE. labels.db itself is not checked until it is read whole: a labels.db that
     * matches its index is the file labels_db_save wrote. */
    LABELS_LAZY = 2,
};

/* Open the label set of store_dir: reads DIR/labels.db if it exists, else starts empty. With
 * LABELS_WRITE creates DIR if missing and takes its label lock DIR/labels.lock (UTIL_EBUSY if
 * another writer holds it); without it DIR need not exist. A labels.db that is not what
 * docs/labels.md says gives UTIL_ECORRUPT naming the line. *out is owned by the caller:
 * labels_db_close it. */
int labels_db_open(labels_db **out, const char *store_dir, unsigned flags, util_err *err);
/* Whether db answers look-ups from labels.idx (opened with LABELS_LAZY, index usable, the set
 * not read whole since). */
int labels_db_is_lazy(const labels_db *db);
/* The SHA-256 of the labels.db that db's index describes (what an index derived from the
 * set, such as src/query's entity index, names it by): 0, or -1 if db was not opened through
 * its index (no LABELS_LAZY, or no usable labels.idx). */
int labels_db_sum(const labels_db *db, uint8_t out[32]);
/* The distinct (chain, address) keys of a set opened through its index, in set order: their
 * number (0 without an index), and key k's chain, address and the positions first..first+n-1
 * of its labels (0, or -1 if k is past the end or its entry is damaged). */
uint64_t labels_db_index_keys(const labels_db *db);
int labels_db_index_key(const labels_db *db, uint64_t k, const char **chain, const char **address,
                        size_t *first, size_t *n);
/* Free the set and release the lock; unsaved imports are dropped. NULL is fine. */
void labels_db_close(labels_db *db);
/* Atomically replace DIR/labels.db with the current set (creating DIR if needed), then
 * DIR/labels.idx, its index (written the same way; an index left from before a crash between
 * the two does not match the new labels.db and is not used). The bytes of labels.db depend
 * only on the set's content, so saving an unchanged set rewrites the same file. */
int labels_db_save(labels_db *db, util_err *err);
/* Write DIR/labels.idx for the labels.db of db as it was read (a store from before the index,
 * `cointrail labels reindex`). Reads the set whole if lazy. 0 or an error. */
int labels_db_reindex(labels_db *db, util_err *err);

/* Number of labels, and label i (0 <= i < count) in sorted order. The pointer stays valid
 * until the next labels_import_file or labels_db_close. */
size_t labels_db_count(const labels_db *db);
const labels_label *labels_db_get(const labels_db *db, size_t i);
/* Labels first..first+n-1 (n > 0) when all are labels of one (chain, address): a pointer to
 * the n consecutive labels, valid as for labels_db_get; NULL if out of range or not one
 * address's. O(log n) on a lazy set. */
const labels_label *labels_db_span(const labels_db *db, size_t first, size_t n);

/* ---- import ---- */
typedef enum {
    LABELS_FMT_AUTO = 0, /* from the file name's extension, else from the content */
    LABELS_FMT_OFAC_XML,
    LABELS_FMT_OFAC_LIST,
    LABELS_FMT_TAGPACK,
    LABELS_FMT_CSV,
    LABELS_FMT_STIX, /* a STIX 2.1 bundle (JSON): wallets of indicators and relationships */
    LABELS_FMT_MISP, /* a MISP event (JSON): coin-address objects and btc/xmr attributes */
} labels_format;

/* Name of a format as the CLI spells it ("ofac-xml", ...), and back (-1 if unknown). */
const char *labels_format_name(labels_format f);
int labels_format_parse(const char *name);

typedef struct labels_import_opts {
    labels_format format;
    const char *chain;  /* NULL, or the chain where the file does not say (ofac lists, CSV rows
                         * with an empty chain, tags without a currency, STIX wallets and MISP
                         * addresses without a symbol) */
    const char *source; /* NULL, or replaces the source of every label imported */
    int strict;         /* 1: an invalid address fails the whole file instead of being
                         * rejected with a warning */
} labels_import_opts;

/* What one import did. warnings (each "FILE:LINE: field F: ...") are owned by the result:
 * labels_import_result_free it. At most LABELS_MAX_WARNINGS are kept; n_rejected counts all. */
#define LABELS_MAX_WARNINGS 1000
typedef struct labels_import_result {
    labels_format format; /* the format used (detected or given) */
    size_t n_read;        /* labels read from the file (after rejects) */
    size_t n_added;       /* new (chain, address, source, category) keys */
    size_t n_replaced;    /* keys already present (or repeated in the file): fields updated */
    size_t n_rejected;    /* addresses that are not valid for their chain (bad checksum, ...) */
    char **warnings;
    size_t n_warnings;
} labels_import_result;

void labels_import_result_free(labels_import_result *r);

/* Parse path completely and merge its labels into db (memory only: nothing is written until
 * labels_db_save). On any error db is unchanged: UTIL_EFORMAT for malformed XML/YAML/CSV/list
 * content (message "PATH:LINE: field NAME: problem"; for STIX and MISP JSON the field is named
 * by its JSON pointer, "PATH: field /objects/3/value: problem"), UTIL_EIO if unreadable,
 * UTIL_EINVAL for a format that cannot be detected or options that do not fit. An address that
 * fails its chain's validation (btc: btc_addr_decode, e.g. a bad checksum; 0x chains: not 40 hex
 * digits) is rejected: counted and reported in res->warnings, or with opts->strict an
 * UTIL_EFORMAT error. res (may be NULL) is filled either way; free it after. */
int labels_import_file(labels_db *db, const char *path, const labels_import_opts *opts,
                       labels_import_result *res, util_err *err);

/* Merge n labels given in memory (an analyst's attributions; the strings are borrowed, NULL
 * taken as "") into db as labels_import_file merges a file's: chain (a currency code) and
 * address validated and canonicalised, text fields checked as an import's are, all or nothing.
 * origin names them in messages ("case:3"). UTIL_EFORMAT naming origin, the label's index and
 * the field for an invalid one (strict: an invalid address is an error, not a warning);
 * res (may be NULL) as for an import. Memory only: labels_db_save writes it. */
int labels_add(labels_db *db, const labels_label *in, size_t n, const char *origin,
               labels_import_result *res, util_err *err);

/* Take the label with this identity (chain, address canonical, source, category) out of db
 * (memory only: labels_db_save writes it): 1 if it was there, 0 if not. A retired analyst label
 * (src/state) leaves the set this way. Pointers from labels_db_get/labels_find are invalid
 * after a removal. */
int labels_remove(labels_db *db, const char *chain, const char *address, const char *source,
                  const char *category);

/* ---- vocabulary ---- */
/* Chain name of a currency code: XBT and BTC -> "btc", others lowercased ("ETH" -> "eth").
 * out holds at least 32 bytes. UTIL_EINVAL for an empty or odd code (spaces, over 31 bytes). */
int labels_chain_from_currency(char out[32], const char *currency, util_err *err);
/* Canonical address for a chain (see labels_label.address). out holds at least 128 bytes.
 * UTIL_EINVAL with err naming the problem if the address is not valid for the chain. */
int labels_canon_address(char out[128], const char *chain, const char *address, util_err *err);
/* cointrail category for a source word: TagPack abuse/category ("sanction", "mixing_service",
 * "service_hack", "defi_bridge", ...) or OFAC; unknown words come back lowercased. out holds
 * at least 64 bytes. */
void labels_category_map(char out[64], const char *word);
/* Confidence 0..100 of a TagPack confidence name ("ownership" 100, "authority_data" 100,
 * "service_data" 90, "manual_transaction" 80, "forensic" 70, "heuristic" 50, "web_crawl" 40,
 * "unknown" 20) or of a number "0".."100"; -1 if neither. */
int labels_confidence_from_name(const char *name);

/* ---- sharing formats ---- */
/* What cointrail's STIX 2.1 and MISP exports (src/sharing, docs/sharing.md) write where those
 * formats have no field of their own, and the import reads back; one definition for both.
 * STIX: the extension definitions of the community cryptocurrency SCOs, and cointrail's own
 * toplevel-property-extension whose properties carry a label's exact chain, programs, dates
 * (an indicator that declares it is read with them; one that does not, from STIX's own fields).
 * MISP: machine tags LABELS_MISP_NS:KEY="VALUE" on the address attribute ('"' and '\\' in VALUE
 * escaped with a backslash), and the threat-actor galaxy's tag. */
#define LABELS_STIX_WALLET_EXT "extension-definition--be78509e-6958-51b1-8b26-d17ee0eba2d7"
#define LABELS_STIX_TX_EXT "extension-definition--151d042d-4dcf-5e44-843f-1024440318e5"
#define LABELS_STIX_LABEL_EXT "extension-definition--1fe9962a-cc58-591e-841c-7b2458aa35ce"
#define LABELS_STIX_X_CHAIN "x_cointrail_chain"
#define LABELS_STIX_X_PROGRAMS "x_cointrail_programs"
#define LABELS_STIX_X_FIRST_SEEN "x_cointrail_first_seen"
#define LABELS_STIX_X_LAST_SEEN "x_cointrail_last_seen"
#define LABELS_STIX_X_UPDATED "x_cointrail_updated"
#define LABELS_MISP_NS "cointrail"
#define LABELS_MISP_ACTOR_TAG "misp-galaxy:threat-actor"
/* Whether a category names wrongdoing (sanctioned theft ransomware darknet scam terrorism): its
 * actor is a STIX threat-actor and a MISP threat-actor galaxy tag; any other actor (an
 * exchange, a mixer's operator) a STIX identity and a cointrail:actor tag. */
int labels_category_is_threat(const char *category);

/* ---- terminal safety ---- */
/* Label text comes from files anyone can write (community TagPacks), and a terminal acts on
 * some characters: C0 controls (ESC starts the sequences that clear the screen or set the window
 * title, CR overwrites a line, BEL), DEL, C1 controls (U+0080..U+009F) and the bidi overrides
 * and isolates (U+202A..U+202E, U+2066..U+2069) that reorder what is shown. */

/* Offset of the first such character in s (n bytes), or n if there is none; with multiline,
 * TAB and LF are allowed (free text: a quoted CSV field, a YAML block scalar). Bytes that are
 * not UTF-8 count as such characters too. what (may be NULL) gets a description of the one
 * found, e.g. "control character 0x1b" or "bidi control U+202E". Import refuses these. */
size_t labels_text_check(const char *s, size_t n, int multiline, char what[48]);

/* s made safe to print on a terminal: each C0 control (TAB and LF included), DEL and byte that
 * is not UTF-8 as \xNN, each C1 or bidi control as \u{NNNN}; everything else (backslashes
 * too) as is. Returns s itself when there is nothing to escape, else buf (cap bytes, at least
 * 16), holding the escaped text, cut with "..." if it does not fit; NULL gives "". For labels.db
 * files written before import refused these characters; JSON output escapes them already. */
#define LABELS_ESC_BUF 2048 /* a good cap for a buffer of labels_text_escape */
const char *labels_text_escape(char *buf, size_t cap, const char *s);

/* ---- look-ups (O(log n)) ---- */
/* The labels of one (chain, address): *first points at n consecutive labels (n may be 0).
 * address must be canonical (labels_canon_address). Pointers valid as for labels_db_get. */
void labels_find(const labels_db *db, const char *chain, const char *address,
                 const labels_label **first, size_t *n);

/* Labels of an address on any chain: canonicalised per chain present in the set (so a btc
 * address may be given in any valid spelling) and looked up on each. Fills out[0..*n) with up
 * to cap pointers; *n is the number found (may exceed cap). chain may be NULL (all chains). */
void labels_find_any(const labels_db *db, const char *chain, const char *address,
                     const labels_label **out, size_t cap, size_t *n);

/* ---- who is behind a holder (the one place that decides it) ---- */
/* Answers are grouped by actor: the exchange, desk, service or group behind the addresses the
 * value reached. A holder's actor is decided from the labels offered to a labels_actor, by the
 * first of these that any of them gives (within a step, higher confidence wins, then the label
 * offered first):
 *   1. the actor field of the primary label (an endpoint's stop label, which says what service
 *      the value entered; it may sit on another address of the entity),
 *   2. the actor field of another label on the address itself,
 *   3. the actor field of a label on another address of its entity (with a clustering),
 *   4. the name of the primary label, 5. of a label on the address, 6. of an entity label;
 * a holder with labels that carry neither is "unnamed" (its category still known), one without
 * any label "unlabelled". The chosen label and name are borrowed from the labels_db. */
typedef enum {
    LABELS_ACTOR_UNLABELLED = 0, /* no label at all */
    LABELS_ACTOR_UNNAMED,        /* labels without actor or name: only a category */
    LABELS_ACTOR_NAME,           /* a label's name (no label gives an actor) */
    LABELS_ACTOR_ENTITY,         /* the actor of a label on another address of the entity */
    LABELS_ACTOR_LABEL           /* the actor of the primary label or of the address's own */
} labels_actor_from;

/* How a label relates to the holder it is offered for. */
typedef enum {
    LABELS_OFFER_PRIMARY = 0, /* the label that makes the holder an endpoint */
    LABELS_OFFER_OWN,         /* a label on the holder's address */
    LABELS_OFFER_ENTITY       /* a label on another address of its entity */
} labels_offer;

typedef struct labels_actor {
    const char *name;          /* the actor's name; NULL when unnamed or unlabelled */
    const labels_label *label; /* the label that decided; NULL when unlabelled */
    int from;                  /* labels_actor_from */
    int rank;                  /* internal: the step that decided (higher is better) */
    int via_entity;            /* a primary label on another address of the entity */
} labels_actor;

/* An unlabelled holder, to which labels are then offered. */
void labels_actor_init(labels_actor *a);
/* Offer one label (NULL is ignored). For LABELS_OFFER_PRIMARY, via_entity says the label sits
 * on another address of the entity (an actor it gives is then reported as from the entity). */
void labels_actor_offer(labels_actor *a, const labels_label *l, labels_offer how, int via_entity);
/* "label" "entity" "name" "unnamed" "unlabelled" (documents' actor_from). */
const char *labels_actor_from_name(int from);
/* The text to show for an actor: its name, else "(unnamed CATEGORY)", else "(unlabelled)";
 * buf holds at least 96 bytes (a category is at most LABELS_MAX_CATEGORY bytes). The name is
 * returned as is: the caller escapes it for its output. */
const char *labels_actor_text(const labels_actor *a, char *buf, size_t cap);
/* Whether two decided actors are the same group: the same name, or both unnamed with the same
 * category, or both unlabelled. */
int labels_actor_same(const labels_actor *a, const labels_actor *b);

/* ---- list and search ---- */
typedef struct labels_filter {
    const char *chain;    /* NULL or exact chain */
    const char *category; /* NULL or exact category */
    const char *text;     /* NULL or case-insensitive substring of address, actor, name,
                           * category, source, url or programs */
    const char *actor;    /* NULL or the actor, case-insensitively */
    const char *source;   /* NULL or the source, case-insensitively */
} labels_filter;

/* Whether a label passes a filter. */
int labels_match(const labels_label *l, const labels_filter *f);

/* The labels passing f, in sorted order, as a JSON document
 * {"total": matching count, "offset", "limit", "labels": [labels_to_json...]}; limit 0 means
 * all. *out is a new reference owned by the caller (json_decref). */
int labels_query(const labels_db *db, const labels_filter *f, size_t offset, size_t limit,
                 json_t **out, util_err *err);

/* One label as a JSON object (fields as in labels_label; empty strings left out; programs as
 * an array). New reference owned by the caller; NULL only if out of memory. */
json_t *labels_to_json(const labels_label *l);
/* The same object as text, byte for byte as jansson's compact dump of labels_to_json writes
 * it, appended to b without its closing '}' (the caller adds members, then '}'). 0 or
 * UTIL_ENOMEM. */
int labels_json_text(const labels_label *l, util_buf *b);
/* Offset of the first byte of s[0..n) that is not valid UTF-8, or n. */
size_t labels_utf8_check(const char *s, size_t n);

#endif
