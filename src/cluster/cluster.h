/* cluster: entities from the store's addresses. The multi-input heuristic (all input
 * addresses of a transaction belong to one entity) over the whole store with union-find over
 * address ids (path compression, union by size); transactions detected as CoinJoins never join
 * their inputs; optional named change heuristics add a link from the inputs to one output,
 * guarded against merging two large entities. The result lives in files of the store
 * directory (docs/clustering.md): a map address id -> entity id (the smallest address id of
 * the cluster, so ids are stable as long as the cluster's smallest member stays), a CoinJoin
 * kind per tx, and a state file saying up to which tx the clustering is built and how; it is
 * replaced atomically, and extended incrementally after an import (a reorganisation below the
 * built point forces a rebuild).
 *
 * Rules, thresholds and measured accuracy: docs/clustering.md. */
#ifndef CT_CLUSTER_H
#define CT_CLUSTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

#define CLUSTER_FORMAT_VERSION 3
/* Version of the CoinJoin and change rules: a clustering saved under other rules is rebuilt. */
#define CLUSTER_RULES_VERSION 2
#define CLUSTER_NO_ENTITY UINT32_MAX
#define CLUSTER_DEFAULT_GUARD 1000     /* collapse guard: see cluster_opts.guard */
#define CLUSTER_DEFAULT_ESTABLISHED 10 /* see cluster_opts.established */
#define CLUSTER_DEFAULT_EVIDENCE 2     /* see cluster_opts.evidence */

/* CoinJoin kinds, as stored per tx (one byte). WHIRLPOOL_TX0 and PAYOUT_BATCH are recognised
 * and reported but are not CoinJoins: their inputs are one wallet's and are joined. */
typedef enum {
    CLUSTER_CJ_NONE = 0,
    CLUSTER_CJ_WASABI1,
    CLUSTER_CJ_WASABI2,
    CLUSTER_CJ_WHIRLPOOL,
    CLUSTER_CJ_JOINMARKET,
    CLUSTER_CJ_GENERIC,
    CLUSTER_CJ_WHIRLPOOL_TX0,
    CLUSTER_CJ_PAYOUT_BATCH,
    CLUSTER_CJ_NKINDS
} cluster_cj_kind;

/* JSON name of a kind: none wasabi1 wasabi2 whirlpool joinmarket generic whirlpool_tx0
 * payout_batch. */
const char *cluster_cj_kind_name(int kind);
/* Whether a kind excludes the tx from the multi-input heuristic (every kind but NONE, TX0 and
 * PAYOUT_BATCH). */
int cluster_cj_excludes(int kind);

/* The detector rule that gave a tx its kind (docs/clustering.md, "CoinJoin detectors"). */
typedef enum {
    CLUSTER_RULE_NONE = 0,
    CLUSTER_RULE_WHIRLPOOL_5X5,      /* whirlpool */
    CLUSTER_RULE_TX0_FEE,            /* whirlpool_tx0, the full pool fee */
    CLUSTER_RULE_TX0_DISCOUNT,       /* whirlpool_tx0, a discounted pool fee (SCODE) */
    CLUSTER_RULE_WASABI2_DENOMS,     /* wasabi2 */
    CLUSTER_RULE_WASABI1_TENTH,      /* wasabi1 */
    CLUSTER_RULE_JOINMARKET_MAKERS,  /* joinmarket: participants, makers among them */
    CLUSTER_RULE_EQUAL_PARTICIPANTS, /* generic: equal outputs paid for by participants */
    CLUSTER_RULE_ONE_PAYER_BATCH,    /* payout_batch: equal outputs no participants paid for */
    CLUSTER_RULE_WASABI1_LEVELS,     /* wasabi1: a small round, by its mixing levels */
    CLUSTER_NRULES
} cluster_rule;
/* Name of a rule ("whirlpool-5x5", "equal-output-participants", ...). */
const char *cluster_rule_name(int rule);

/* What the detectors found in one tx. */
typedef struct cluster_detection {
    int kind;  /* cluster_cj_kind */
    int rule;  /* cluster_rule that fired (CLUSTER_RULE_NONE with kind NONE) */
    int score; /* 0..100: how much of the rule's evidence is there (100 for the fixed shapes;
                  for the equal-output rules the share of equal outputs with (JoinMarket,
                  generic) or without (payout batch) a participant who paid for it) */
    /* The equal-output analysis, when it ran (equal_count 0 otherwise): */
    int64_t equal_value;
    uint32_t equal_count;
    uint32_t participants;    /* groups of inputs each paying one equal output and its change */
    uint32_t earning;         /* of those, groups that got back more than they put in (makers) */
    uint32_t with_change;     /* of those, groups that took a change output */
    uint32_t by_chance;       /* participants found for equal values a few windows off (4 tries
                                 together): what coincidence alone gives among these inputs */
    uint32_t chance_permille; /* the chance, per mille, that coincidence gives as many */
} cluster_detection;

/* Change heuristics (bit flags). With several enabled, an output is linked as change only when
 * every enabled heuristic picks that same output. */
enum {
    CLUSTER_H_FRESH = 1,   /* exactly one output address never seen before this tx */
    CLUSTER_H_SCRIPT = 2,  /* exactly one output of the inputs' (single) script type */
    CLUSTER_H_ROUND = 4,   /* exactly one output whose value is not round (multiple of 1e5) */
    CLUSTER_H_OPTIMAL = 8, /* exactly one output smaller than the smallest input */
    CLUSTER_H_ALL = 15
};
#define CLUSTER_NHEURISTICS 4
/* Name of one heuristic bit ("fresh", "script", "round", "optimal"), or NULL. */
const char *cluster_heuristic_name(unsigned bit);
/* Parse a comma-separated list of heuristic names, or "none". 0 or UTIL_EINVAL naming the
 * unknown name. */
int cluster_parse_heuristics(const char *list, unsigned *out, util_err *err);
/* Write the list form of a set ("none" or "fresh,script") into buf (size n). */
void cluster_format_heuristics(unsigned h, char *buf, size_t n);

/* Per-call scratch for detection and change picking: grown as needed, reused between txs so
 * the pass over the chain does not allocate per tx. Zero-initialise; free with
 * cluster_scratch_free. */
typedef struct cluster_scratch {
    int64_t *v, *in;
    uint32_t *in_addr;
    uint8_t *used;
    size_t cap;
} cluster_scratch;
void cluster_scratch_free(cluster_scratch *sc);

/* What the detectors find in tx: its kind, the rule and score, and the equal-output analysis.
 * *d is all zero (kind NONE) for coinbases and txs no rule fits. 0, or UTIL_ENOMEM (negative)
 * if the scratch could not grow. */
int cluster_detect_ex(const store *s, uint64_t tx, cluster_scratch *sc, cluster_detection *d);
/* cluster_detect_ex's kind (a cluster_cj_kind), or UTIL_ENOMEM. */
int cluster_detect(const store *s, uint64_t tx, cluster_scratch *sc);
/* {kind, rule, score, excludes} and, when the equal-output analysis ran, {equal_value,
 * equal_count, participants, earning}. New object, owned by the caller. */
json_t *cluster_detection_json(const cluster_detection *d);

/* Peel chains (rules version 1): a peel step is a non-coinbase tx with one resolved input and
 * exactly two outputs with addresses, where the smaller output (the peel, a payment) is at most
 * CLUSTER_PEEL_MAX_SHARE percent of the two and the larger (the change) carries the rest on.
 * A tx is on a peel chain when, following change outputs forward (spent by a peel step) and
 * the input backward (spending the change of a peel step), at least CLUSTER_PEEL_MIN_CHAIN
 * peel steps link up through it. Returns the chain length seen through tx (counted up to
 * 2 * CLUSTER_PEEL_MIN_CHAIN - 1), or 0 if tx is not on a peel chain. */
#define CLUSTER_PEEL_MAX_SHARE 15
#define CLUSTER_PEEL_MIN_CHAIN 6
int cluster_peel_chain(const store *s, uint64_t tx);

/* The output (index within tx) that the enabled change heuristics h agree is change, or -1.
 * addr_before is the store's address count before this tx (address ids are first-seen
 * order, so an output address id >= addr_before is fresh). Txs with unresolved inputs, a
 * coinbase, or an output paying one of the inputs' addresses get -1. */
int cluster_pick_change(const store *s, uint64_t tx, unsigned h, uint32_t addr_before);

/* How an accepted union joined two entities (a link), and the collapse guards that refuse one
 * (docs/clustering.md, "Collapse guards"). */
enum {
    CLUSTER_LINK_MULTI_INPUT = 1, /* two input addresses of one tx */
    CLUSTER_LINK_CHANGE = 2,      /* the inputs and the output a change heuristic picked */
    CLUSTER_LINK_EVIDENCE = 4     /* flag: a guarded merge, made once co-spends in `evidence`
                                     distinct txs linked the two entities */
};
typedef enum {
    CLUSTER_GUARD_NONE = 0,
    CLUSTER_GUARD_SIZE,    /* both entities hold >= guard addresses */
    CLUSTER_GUARD_LABELS,  /* both carry labels of different actors, one of them a service */
    CLUSTER_GUARD_SERVICE, /* a labelled service and an unlabelled entity of >= established */
    CLUSTER_NGUARDS
} cluster_guard_rule;
/* "none", "size", "labels", "service". */
const char *cluster_guard_name(int rule);
/* "multi_input", "change" (the EVIDENCE flag ignored). */
const char *cluster_link_name(int kind);

/* The parameters a clustering is built with; every one is recorded in its state file, and a
 * clustering built with others is rebuilt. */
typedef struct cluster_params {
    unsigned rules;       /* CLUSTER_RULES_VERSION */
    unsigned heuristics;  /* CLUSTER_H_* */
    uint32_t guard;       /* an entity of this many addresses is large */
    uint32_t established; /* a labelled service joins an unlabelled entity this big only on
                             evidence */
    uint32_t evidence;    /* distinct txs a guarded merge needs */
    uint64_t labelled;    /* btc addresses with a label (the label guards' input) */
    char labels[65];      /* sha256 (hex) of those labels, "none" without any */
} cluster_params;

typedef struct cluster_opts {
    unsigned heuristics;     /* CLUSTER_H_* set; 0 = multi-input only (the default) */
    uint32_t guard;          /* merges of two entities of >= guard addresses each need evidence;
                                0 = CLUSTER_DEFAULT_GUARD */
    uint32_t established;    /* a labelled service merging with an unlabelled entity of >= this
                                many addresses needs evidence; 0 = CLUSTER_DEFAULT_ESTABLISHED */
    uint32_t evidence;       /* a guarded merge is made once co-spends in this many distinct txs
                                linked the two entities; 0 = CLUSTER_DEFAULT_EVIDENCE */
    const labels_db *labels; /* the store's labels (may be NULL: no label guards); not owned */
    int rebuild;             /* ignore the saved clustering and build from tx 0 */
    int test_crash;          /* test hook: SIGKILL itself after an incremental run changed the files
                                in place, before it commits the state (0 = never) */
} cluster_opts;

void cluster_default_opts(cluster_opts *o);

typedef struct cluster_result {
    int mode;                /* 0 up to date, 1 extended, 2 built from scratch */
    const char *why_rebuilt; /* static string when mode == 2 */
    uint64_t txs_done;       /* txs processed by this run */
    uint64_t txs, addresses; /* covered by the clustering now */
    uint64_t entities;       /* clusters (with at least one address) */
    uint64_t singletons;
    uint64_t coinjoins[CLUSTER_CJ_NKINDS]; /* whole clustering, by kind */
    uint64_t change_links, refused_merges; /* whole clustering */
    /* Unions made, by heuristic (multi-input, change) and how many of them on evidence; merges
     * refused, by guard rule (index cluster_guard_rule; 0 unused). Whole clustering. */
    uint64_t links_multi_input, links_change, links_evidence;
    uint64_t refusals[CLUSTER_NGUARDS];
    uint32_t largest_id[10], largest_size[10];
    unsigned n_largest;
    unsigned heuristics;
    uint32_t guard;
    cluster_params params;
    double seconds, load_seconds, pass_seconds, write_seconds;
} cluster_result;

/* Build or extend the clustering of the store s (open read-only or writable) whose directory
 * is dir, and save it there atomically. Takes DIR/cluster.lock (UTIL_EBUSY if another
 * `cluster` holds it). A saved clustering with other heuristics or guard, or one that the
 * store no longer contains (a reorganisation cut txs it covered), or one saved under other
 * detector rules (CLUSTER_RULES_VERSION) is rebuilt. */
int cluster_build(store *s, const char *dir, const cluster_opts *o, cluster_result *r,
                  util_err *err);

/* A saved clustering, opened for reading. Owned by the caller: cluster_close it. */
typedef struct cluster_map cluster_map;

/* Open the clustering saved in dir for the store s. UTIL_ENOTFOUND if there is none (run
 * `cointrail cluster`); UTIL_ECORRUPT if its state file is damaged. A clustering behind the
 * store is usable (cluster_map_txs says how far it goes); one the store no longer contains
 * (reorganised away) is refused with UTIL_ECORRUPT saying to rerun `cointrail cluster`.
 * A `cluster` run killed (or failed) in the middle of an incremental commit leaves
 * cluster.journal: this still opens the last committed clustering, with the journal's old
 * values put back in private memory (cluster_map_recovered says so), and touches no file. */
int cluster_open(cluster_map **out, const store *s, const char *dir, util_err *err);
void cluster_close(cluster_map *m);
/* 1 if m was opened past an interrupted commit (the files on disk are half applied until the
 * next `cluster` or `import` puts them back: cluster_recover), else 0. */
int cluster_map_recovered(const cluster_map *m);

/* Crash recovery for writers (`import` calls it): if a `cluster` run was interrupted in its
 * commit, put the saved clustering's files back to the last commit and delete the journal,
 * and remove temp files and files of other generations a killed run left. Takes
 * DIR/cluster.lock without waiting; if a `cluster` run holds it (it recovers first itself) or
 * there is no clustering, does nothing. 0 or UTIL_EIO naming the file. */
int cluster_recover(const char *dir, util_err *err);
/* The SHA-256 of the cluster.state m was opened from: names this clustering (an incremental
 * or new `cluster` run writes another state), for indexes derived from it. */
void cluster_map_sum(const cluster_map *m, uint8_t out[32]);
uint64_t cluster_map_txs(const cluster_map *m);
uint32_t cluster_map_addresses(const cluster_map *m);
/* Entity of an address id (CLUSTER_NO_ENTITY if past the clustering). */
uint32_t cluster_entity_of(const cluster_map *m, uint32_t addr);
/* Number of addresses in an entity (0 if entity is not an entity id of the clustering). */
uint32_t cluster_entity_size(const cluster_map *m, uint32_t entity);
/* CoinJoin kind recorded for tx (CLUSTER_CJ_NONE past the clustering). */
int cluster_tx_kind(const cluster_map *m, uint64_t tx);

/* One address of an entity's page. */
typedef struct cluster_entity_address {
    uint32_t id;
    char address[128]; /* btc_addr_encode's spelling */
} cluster_entity_address;

/* A merge the collapse guards refused. */
typedef struct cluster_refusal {
    uint64_t tx;
    uint8_t txid[32];
    uint32_t a, b; /* the addresses the tx would have joined */
    char addr_a[128], addr_b[128];
    uint32_t size_a, size_b;     /* their entities' sizes then */
    uint32_t entity_a, entity_b; /* their entities now (equal: joined later, on evidence) */
    int heuristic;               /* CLUSTER_LINK_MULTI_INPUT or CLUSTER_LINK_CHANGE */
    int rule;                    /* cluster_guard_rule */
} cluster_refusal;

/* A tx the detectors flagged that an entity took part in. */
typedef struct cluster_flagged_tx {
    uint64_t tx;
    uint8_t txid[32];
    int kind;                      /* the cluster_cj_kind the clustering recorded */
    cluster_detection det;         /* the detectors' verdict now (rule, score, participants) */
    int spent_into, received_from; /* the entity's coins went in / came out */
} cluster_flagged_tx;

#define CLUSTER_LIST_MAX 100 /* flagged txs and refused merges listed per entity */

/* The entity of an address, as `cointrail entity` shows it. Sums are over the outputs of its
 * addresses within the clustering (txs below clustered_txs). Free with cluster_entity_free. */
typedef struct cluster_entity_result {
    uint32_t entity; /* its smallest address id */
    uint64_t size;   /* addresses */
    int64_t received, sent, balance;
    uint64_t tx_count;
    int has_activity; /* 0 when no output of it is within the clustering: no first/last */
    uint32_t first_height, first_time, last_height, last_time;
    /* CoinJoin txs of each kind (index a cluster_cj_kind; 0 unused) it spent coins into and
     * received coins from. */
    uint64_t cj_spent_into[CLUSTER_CJ_NKINDS], cj_received_from[CLUSTER_CJ_NKINDS];
    /* Peel-chain steps that spent its coins (it peels) or paid it (it receives peels). */
    uint64_t peel_spent_into, peel_received_from;
    size_t offset; /* of the first entry of addresses among the entity's, by address id */
    size_t n_addresses;
    cluster_entity_address *addresses; /* owned: at most limit, by address id */
    uint64_t clustered_txs;
    int up_to_date; /* the clustering covers every tx of the store */
    unsigned heuristics;
    /* How it was formed: the unions inside it by heuristic (how many of them made on
     * evidence), and the merges of it with other entities the guards refused: still apart, or
     * made later on evidence. refusals lists the first CLUSTER_LIST_MAX (by tx, owned). */
    uint64_t formed_multi_input, formed_change, formed_evidence;
    uint64_t refused_apart, refused_joined;
    size_t n_refusals;
    cluster_refusal *refusals;
    /* The flagged txs (any kind) it spent coins into or received coins from: how many, and
     * the first CLUSTER_LIST_MAX by tx (owned). */
    uint64_t flagged_total;
    size_t n_flagged;
    cluster_flagged_tx *flagged;
    cluster_params params; /* of the clustering */
} cluster_entity_result;

/* The entity of arg (an address string, or a decimal address id whose entity is shown), with
 * its addresses from offset (at most limit). *out is filled only on success. UTIL_EINVAL bad
 * argument, UTIL_ENOTFOUND unknown address, UTIL_ENOMEM. */
int cluster_entity_get(const cluster_map *m, const store *s, const char *arg, size_t offset,
                       size_t limit, cluster_entity_result *out, util_err *err);
void cluster_entity_free(cluster_entity_result *r);
/* The `cointrail entity` document of r (without the labels query_entity adds): entity, size,
 * received, sent, balance, tx_count, first_activity and last_activity ({height, time} or
 * null), coinjoin_activity (per kind with any: spent_into, received_from),
 * peel_chain_activity, offset, addresses ([{address, id}]), clustered_txs, up_to_date,
 * heuristics. New object, owned by the caller. */
json_t *cluster_entity_result_json(const cluster_entity_result *r);
/* cluster_entity_get + cluster_entity_result_json. */
int cluster_entity_json(const cluster_map *m, const store *s, const char *arg, size_t offset,
                        size_t limit, json_t **out, util_err *err);

/* One step of the chain that joined two addresses: a union of the clustering, from one
 * address to the next, with the tx and heuristic that made it. */
typedef struct cluster_why_step {
    uint64_t tx;
    uint8_t txid[32];
    uint32_t from, to;
    char from_addr[128], to_addr[128];
    int link;              /* CLUSTER_LINK_* (CLUSTER_LINK_EVIDENCE: a guarded merge) */
    int kind;              /* the tx's recorded cluster_cj_kind (NONE, TX0, PAYOUT_BATCH) */
    cluster_detection det; /* the detectors' verdict on the tx (rule, score) */
} cluster_why_step;

/* Why two addresses share an entity (or do not). Free with cluster_why_free. */
typedef struct cluster_why_result {
    uint32_t a, b;
    char addr_a[128], addr_b[128];
    uint32_t entity_a, entity_b;
    int joined;     /* one entity */
    size_t n_steps; /* joined: the chain of unions from a to b (owned, in order) */
    cluster_why_step *steps;
    uint64_t refusals_total; /* not joined: merges of their two entities the guards refused */
    size_t n_refusals;       /* the first CLUSTER_LIST_MAX of them (owned) */
    cluster_refusal *refusals;
    cluster_params params;
} cluster_why_result;

/* The chain of txs and heuristics that joined the addresses (or ids) arg_a and arg_b: the path
 * between them in the forest of unions the clustering made, each step a tx with its heuristic;
 * or that they are not joined, with the refused merges between their entities. UTIL_EINVAL bad
 * argument, UTIL_ENOTFOUND unknown address, UTIL_ENOMEM. *out is filled only on success. */
int cluster_why(const cluster_map *m, const store *s, const char *arg_a, const char *arg_b,
                cluster_why_result *out, util_err *err);
void cluster_why_free(cluster_why_result *r);
/* {a, b (address, id, entity), joined, steps: [{txid, from, to, heuristic, on_evidence,
 * kind, rule, score}], refused_merges (count), refusals: [...], params}. New object. */
json_t *cluster_why_json(const cluster_why_result *r);
/* One refused merge as JSON: {txid, a, b, size_a, size_b, entity_a, entity_b, joined_later,
 * heuristic, rule}. New object. */
json_t *cluster_refusal_json(const cluster_refusal *r);

/* The summary document of a build result (what `cointrail cluster --json` prints); *out is
 * owned by the caller. */
int cluster_result_json(const cluster_result *r, const store *s, json_t **out, util_err *err);

/* Write every address and its entity ("a ADDRESS ENTITY") and every tx with a CoinJoin kind
 * ("c TXID KIND") to f, for independent checks. */
int cluster_dump(const cluster_map *m, const store *s, FILE *f, util_err *err);

/* Measure against a generator truth file (docs/generator.md): per detector precision and
 * recall against the truth's coinjoin, whirlpool_tx0 and batch lines; the clustering the
 * options o give (multi-input and o's change heuristics, guards and labels): pairwise precision
 * and recall against the truth's owners and the largest wrong cluster ("pairwise"); per change
 * heuristic (each alone, and all together) the precision of its links and the clustering it
 * gives (entities, largest, purity, completeness, pairwise). Works in memory; saves nothing.
 * *out is owned by the caller. */
int cluster_evaluate(const store *s, const char *truth_path, const cluster_opts *o, json_t **out,
                     util_err *err);

/* {rules, heuristics, guard, established, evidence, labels: {digest, addresses}}. New object. */
json_t *cluster_params_json(const cluster_params *p);

#endif
