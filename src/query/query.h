/* query: the answers the CLI, the HTTP service and the public API give about the chain. Each
 * answer is a typed result filled by query_*_get (and freed by query_*_free when it allocates),
 * with a JSON writer (query_*_json) for `--json` and the service; query_stats, query_tx,
 * query_address and query_entity are the get + writer in one call. The CLI's text, the JSON and the
 * ct_ API's structs are all read from the same result, so they agree. JSON documents are new
 * jansson objects the caller owns (json_decref them). */
#ifndef CT_QUERY_H
#define CT_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

/* Room for an address in text (btc_addr_encode's longest spelling and its NUL). */
#define QUERY_ADDR_SIZE 128

/* ---- stats ---- */

/* Whole-store figures. Holds nothing borrowed or allocated: no free function. */
typedef struct query_stats_result {
    store_totals totals;
    int has_tip;          /* 0 for an empty store: no tip height or hash */
    uint8_t tip_hash[32]; /* internal byte order (util_hash_hex shows it) */
    int recomputed;       /* the figures come from a full scan */
    int fees_by_rows;     /* recomputed only: store_recompute_totals_threads's *fees_by_rows */
} query_stats_result;

/* Fill *out. With recompute > 0, figures come from a full scan of the columns on that many
 * threads (store_recompute_totals_threads) instead of the MANIFEST's running totals. */
int query_stats_get(const store *s, int recompute, query_stats_result *out, util_err *err);
/* The JSON document: blocks, tip_height, tip_hash, txs, inputs, outputs, total_output_value,
 * total_fees, utxo_count, utxo_value, addresses, outputs_by_type, unresolved_inputs: the same
 * document whether the figures were recomputed or not (a self-check compares the two bytes for
 * bytes). New object, owned by the caller. */
json_t *query_stats_json(const query_stats_result *r);
/* query_stats_get + query_stats_json. */
int query_stats(const store *s, int recompute, json_t **out, util_err *err);

/* ---- the entity index: DIR/entity-labels.idx (query_entix.c, docs/formats.md) ---- */
#define QUERY_ENTIX_FILE "entity-labels.idx"
/* The labels of each entity of more than one address, opened for reading. */
typedef struct query_entix query_entix;

/* Write DIR/entity-labels.idx (atomically) for the clustering m of store s and the label set
 * labels, which must be opened LABELS_LAZY through its labels.idx (the index names the set by
 * the hash that file records): *built is 0 and nothing is written otherwise. 0 or an error. */
int query_entix_build(const store *s, const cluster_map *m, const labels_db *labels,
                      const char *dir, int *built, util_err *err);
/* Open DIR/entity-labels.idx if it was built for exactly this clustering and label set: 1 and
 * *out (query_entix_close it), or 0 and *out NULL (absent, stale, damaged: the answers then
 * walk the label set). */
int query_entix_open(query_entix **out, const cluster_map *m, const labels_db *labels,
                     const char *dir);
void query_entix_close(query_entix *x);
/* The records of entity: at..at+n-1 (n may be 0). */
int query_entix_find(const query_entix *x, uint32_t entity, size_t *at, size_t *n);
/* Record i: the label-set positions first..first+n-1 of one labelled address. 0 or -1. */
int query_entix_rec(const query_entix *x, size_t i, size_t *first, size_t *n);

/* What the answers draw on besides the chain. labels and clusters may be NULL (none imported,
 * not clustered yet): the answers then leave out what needs them. entix (may be NULL) is the
 * entity index of exactly these labels and clusters (query_entix_open checks that). Nothing
 * here is owned. */
typedef struct query_ctx {
    const store *s;
    const labels_db *labels;
    const cluster_map *clusters;
    const query_entix *entix;
} query_ctx;

/* A label carried by an address of an entity: the label (borrowed from the labels_db) and
 * the address that carries it. */
typedef struct query_entity_label {
    const labels_label *label;
    char address[QUERY_ADDR_SIZE];
} query_entity_label;

/* ---- tx ---- */

typedef enum {
    QUERY_IN_SPEND = 0,  /* spends an output in the store */
    QUERY_IN_COINBASE,   /* new coins */
    QUERY_IN_UNRESOLVED, /* spends an output the store does not hold */
} query_input_kind;

typedef struct query_tx_input {
    int kind;       /* query_input_kind */
    int prev_known; /* 1: prev_txid and vout are set (spend; unresolved when recorded) */
    uint8_t prev_txid[32];
    uint32_t vout;
    int64_t value;   /* QUERY_IN_SPEND only */
    int type;        /* btc script type of the previous output; QUERY_IN_SPEND only */
    int has_address; /* QUERY_IN_SPEND with an address */
    char address[QUERY_ADDR_SIZE];
    const labels_label *labels; /* the address's labels (borrowed from q->labels) */
    size_t n_labels;
} query_tx_input;

typedef enum {
    QUERY_PAYLOAD_NONE = 0, /* not an OP_RETURN output, or its payload could not be read */
    QUERY_PAYLOAD_NOT_KEPT, /* OP_RETURN on a format 1 store: payloads not kept */
    QUERY_PAYLOAD_KEPT,     /* payload and payload_len are set */
} query_payload_state;

typedef struct query_tx_output {
    uint32_t n;
    int64_t value;
    int type; /* btc script type */
    int has_address;
    char address[QUERY_ADDR_SIZE];
    int spent; /* 1: spent_by is the spending tx */
    uint8_t spent_by[32];
    int payload_state;      /* query_payload_state */
    const uint8_t *payload; /* borrowed from the store's mapping */
    size_t payload_len;
    const labels_label *labels; /* borrowed from q->labels */
    size_t n_labels;
} query_tx_output;

/* One transaction. Borrows from the store and the labels_db it was read from (labels,
 * payloads): use it while they are open; free it with query_tx_free. */
typedef struct query_tx_result {
    uint8_t txid[32];
    uint8_t block_hash[32];
    uint32_t height, time, size, vsize;
    int coinbase;
    int fee_known; /* 0 when an input is unresolved: input_value and fee are then 0 */
    int64_t input_value, output_value, fee;
    size_t n_inputs, n_outputs;
    query_tx_input *inputs;   /* owned */
    query_tx_output *outputs; /* owned */
    /* The CoinJoin detectors' verdict on this tx (cluster_detect_ex: kind, rule, score and the
     * equal-output analysis), and when a clustering covers the tx the kind it recorded and
     * whether that kept the tx's inputs apart (`excluded`). */
    cluster_detection detection;
    int clustered;      /* 1: a clustering covers this tx (q->clusters set and tx below it) */
    int clustered_kind; /* cluster_cj_kind the clustering recorded (clustered only) */
} query_tx_result;

/* One transaction by txid (display hex): block, inputs with their previous outputs (or
 * unresolved), outputs with spending txids, fee, and the labels of every address it touches
 * (none when q->labels is NULL). UTIL_EINVAL for a malformed txid, UTIL_ENOTFOUND if absent,
 * UTIL_ENOMEM. *out is filled only on success. */
int query_tx_get(const query_ctx *q, const char *txid_hex, query_tx_result *out, util_err *err);
void query_tx_free(query_tx_result *r);
/* The JSON document `cointrail tx --json` prints. New object, owned by the caller. */
json_t *query_tx_json(const query_tx_result *r);
/* query_tx_get + query_tx_json. */
int query_tx(const query_ctx *q, const char *txid_hex, json_t **out, util_err *err);

/* ---- address ---- */

typedef struct query_address_output {
    uint8_t txid[32];
    uint32_t n, height;
    int64_t value;
    int type; /* btc script type */
    int spent;
    uint8_t spent_by[32];
} query_address_output;

typedef struct query_address_result {
    char address[QUERY_ADDR_SIZE]; /* canonical spelling */
    int kind;                      /* btc address kind (btc_addr_kind_name) */
    uint32_t addr_id;
    int64_t received, sent, balance;
    uint64_t tx_count, output_count;
    size_t offset;
    size_t n_outputs;
    query_address_output *outputs; /* owned: newest first, from offset */
    const labels_label *labels;    /* the address's own labels, borrowed */
    size_t n_labels;
    int has_entity;
    uint32_t entity;
    size_t n_entity_labels;
    query_entity_label *entity_labels; /* owned */
} query_address_result;

enum {
    QUERY_NO_ENTITY_LABELS = 1, /* leave entity_labels empty (they walk the label set) */
};

/* One address, as query_address below describes it (also UTIL_ENOMEM). flags:
 * QUERY_NO_ENTITY_LABELS or 0. *out is filled only on success; free it with
 * query_address_free. Borrows from the labels_db like query_tx_result. */
int query_address_get(const query_ctx *q, const char *address, size_t offset, size_t limit,
                      unsigned flags, query_address_result *out, util_err *err);
void query_address_free(query_address_result *r);
json_t *query_address_json(const query_address_result *r);

/* One address: type, received, sent, balance, tx_count, output_count, outputs newest first
 * from offset (at most limit of them), its own labels, and its entity with the labels found
 * on any of the entity's addresses (a label on one address extends to its entity; each such
 * label says which address carries it). UTIL_EINVAL for a malformed address, UTIL_ENOTFOUND if
 * it never appears. query_address_get + query_address_json. */
int query_address(const query_ctx *q, const char *address, size_t offset, size_t limit,
                  json_t **out, util_err *err);

/* ---- entity ---- */

/* The entity of an address with the labels found on any of its addresses. Borrows from the
 * labels_db like query_tx_result; free it with query_entity_free. */
typedef struct query_entity_result {
    cluster_entity_result entity; /* owned (its address page) */
    size_t n_labels;
    query_entity_label *labels; /* owned: every btc label on an address of the entity */
} query_entity_result;

/* The entity of an address (or address id) as cluster_entity_get gives it, plus every btc
 * label whose address belongs to the entity, with the carrying address. Needs q->clusters
 * (UTIL_ENOTFOUND without). *out is filled only on success. */
int query_entity_get(const query_ctx *q, const char *arg, size_t offset, size_t limit,
                     query_entity_result *out, util_err *err);
void query_entity_free(query_entity_result *r);
/* cluster_entity_result_json's document plus "labels" (each label's fields and "address"). New
 * object, owned by the caller. */
json_t *query_entity_json(const query_entity_result *r);
/* query_entity_get + query_entity_json. */
int query_entity(const query_ctx *q, const char *arg, size_t offset, size_t limit, json_t **out,
                 util_err *err);

/* Decode one raw block without a store: hash, header fields, and per tx its txid, input count
 * and outputs (value, type, address). */
int query_decode_block(const uint8_t *p, size_t n, json_t **out, util_err *err);

#endif
