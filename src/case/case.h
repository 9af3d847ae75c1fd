/* case: investigations kept in an embedded SQL database in the store directory
 * (DIR/cases.sqlite, SQLite in WAL mode): a case and its incident (date, victim, chains,
 * description); seeds on any chain, checked against the stores; every trace run with its
 * options, the store state it ran on (tip hash and height), its totals and endpoints as rows and
 * the trace module's JSON document (less edges, txs and graph); analyst labels, which also feed
 * the store's label set (DIR/labels.db, source "case:ID") so that trace and screen see them;
 * notes; and an append-only audit log of every query and change (who, when, what, on which
 * store state), each row chained to the previous one by SHA-256. Schema and formats:
 * docs/cases.md.
 *
 * The schema is versioned (table schema_version; migrations run once, in one transaction, and a
 * database newer than this program is refused) and written in SQL that PostgreSQL also takes
 * (docs/cases.md, "Portability"). UPDATE and DELETE on the audit log, notes, trace runs and
 * their rows are refused by the database itself (triggers that RAISE(ABORT)).
 *
 * Every change and its audit row are one transaction: both or neither. A query (case_list,
 * case_get, case_audit_add) writes its audit row before it reads, so an export lists itself.
 *
 * Threads: a case_db is one SQLite connection and a mutex that every function holds for its
 * whole work, so a handle may be shared by threads but their calls then run one at a time. For
 * parallel work (the HTTP server's threads) open one case_db per thread on the same directory:
 * in WAL mode readers go on during a write; a writer waits up to CASE_BUSY_MS for another and
 * then fails with UTIL_EBUSY. Trace computations run outside the transaction and the mutex.
 *
 * Strings in the result structs are NUL-terminated, never NULL ("" when absent), and owned by
 * the struct: free it with its _free function. Every function that can fail returns 0 or a
 * negative UTIL_E* code and fills err (may be NULL) with a message naming the field or id. */
#ifndef CT_CASE_H
#define CT_CASE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../cluster/cluster.h"
#include "../etrace/etrace.h"
#include "../evm/evm.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../trace/trace.h"
#include "../util/util.h"
#include "../xchain/xchain.h"

#define CASE_DB_FILE "cases.sqlite" /* inside the store directory */
#define CASE_SCHEMA_VERSION 3       /* the newest migration this program knows */
#define CASE_BUSY_MS 10000          /* how long a writer waits for another */
#define CASE_MAX_TEXT 1024          /* bytes: title, victim, chains, analyst, actor, name, spec */
#define CASE_MAX_LONG 65536         /* bytes: description, note text, evidence, command */

typedef struct case_db case_db;

enum {
    CASE_OPEN_CREATE = 1, /* create DIR/cases.sqlite if missing (else UTIL_ENOTFOUND) */
};

/* Open DIR/cases.sqlite (store_dir is the store directory; it must exist) and run the
 * migrations it lacks. UTIL_ENOTFOUND without the file (and without CASE_OPEN_CREATE),
 * UTIL_EFORMAT for a file that is not a cases database or has a schema newer than
 * CASE_SCHEMA_VERSION, UTIL_EBUSY if another writer holds it past CASE_BUSY_MS, UTIL_EIO.
 * *out is owned by the caller: case_db_close it. */
int case_db_open(case_db **out, const char *store_dir, unsigned flags, util_err *err);
/* The same with state_url: NULL or "" is DIR/cases.sqlite as above; "postgresql://..." the
 * shared PostgreSQL database of `--state` (docs/state.md), whose tables are made by the
 * migrations when missing (flags do not matter there). A PostgreSQL server that goes away
 * makes calls fail with UTIL_EIO ("... the server is unreachable: ..."); the next call
 * connects again. */
int case_db_open_at(case_db **out, const char *store_dir, const char *state_url, unsigned flags,
                    util_err *err);
void case_db_close(case_db *db); /* NULL is fine */
/* "sqlite" or "postgresql". */
const char *case_db_backend(const case_db *db);
/* The schema version of the open database (CASE_SCHEMA_VERSION once open). */
int case_db_schema_version(case_db *db, int *version, util_err *err);

/* ---- who, and on which store state ---- */

/* The store state a call was made on; what is absent is "" / -1. */
typedef struct case_state {
    char btc_tip[65];   /* display hex of the Bitcoin store's tip block */
    int64_t btc_height; /* its height */
    char evm_chain[16]; /* the EVM store's chain ("eth") */
    char evm_tip[67];   /* "0x" + 64 hex of its tip block */
    int64_t evm_height; /* its number */
} case_state;

/* A state with nothing in it; then the tip of a Bitcoin store and of an EVM store (NULL: left
 * as it is). */
void case_state_init(case_state *st);
void case_state_btc(case_state *st, const store *s);
void case_state_evm(case_state *st, const evm_store *s);

/* Who makes a call: every function that reads or changes a case takes one and writes it to the
 * audit log. The strings are borrowed for the call. */
typedef struct case_origin {
    const char *analyst; /* who: non-empty, at most CASE_MAX_TEXT bytes */
    const char *command; /* what, as the user gave it: the command line, or the API request */
    case_state state;    /* on which store state */
} case_origin;

/* The stores a call that reads the chain uses; any may be NULL where the call does not need it.
 * dir is the store directory as the user named it (it goes into the reproduce commands). */
typedef struct case_stores {
    const char *dir;
    const store *btc;
    const cluster_map *clusters;
    const evm_store *evm;
    const labels_db *labels;   /* the label set traces stop at (the store's) */
    const xchain_links *links; /* cross-chain links (DIR/xchain/links.jsonl) for incident traces;
                                  NULL: deposits into bridges and swaps are not followed */
} case_stores;

/* ---- cases ---- */

typedef struct case_new {
    const char *title;         /* required */
    const char *incident_date; /* "", YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z */
    const char *victim;        /* free text */
    const char *chains;        /* comma-separated chain codes ("btc,eth"), lowercased */
    const char *description;   /* free text (TAB and LF allowed) */
} case_new;

typedef struct case_info {
    int64_t id;
    char *title, *incident_date, *victim, *chains, *description;
    char *status;                  /* "open" or "closed" */
    char *created_by, *created_at; /* analyst; UTC time "YYYY-MM-DDTHH:MM:SS.mmmZ" */
    int64_t n_seeds, n_runs, n_labels, n_notes;
} case_info;
void case_info_free(case_info *c);

/* A new case; *id gets its id. Text is checked: lengths, no terminal control characters
 * (labels_text_check), a valid date and chain codes (UTIL_EINVAL naming the field). */
int case_create(case_db *db, const case_origin *who, const case_new *c, int64_t *id, util_err *err);

/* Every case, oldest first. *out (an array of *n) is owned by the caller:
 * case_info_array_free. */
int case_list(case_db *db, const case_origin *who, case_info **out, size_t *n, util_err *err);
void case_info_array_free(case_info *a, size_t n);

/* ---- seeds ---- */

typedef enum {
    CASE_SEED_OUTPOINT = 0, /* btc TXID:N */
    CASE_SEED_TX,           /* btc TXID: all its outputs */
    CASE_SEED_ADDRESS,      /* btc address: every output paying it */
    CASE_SEED_EVM_TX,       /* 0xTXHASH: its transfers */
    CASE_SEED_EVM_TRANSFER, /* 0xTXHASH:N */
    CASE_SEED_EVM_ADDRESS,  /* 0xADDRESS[:FROM-TO]: what it received */
} case_seed_kind;
const char *case_seed_kind_name(int kind); /* "outpoint" "tx" ... ("?" out of range) */

typedef struct case_seed {
    int64_t id, case_id;
    char *chain;     /* "btc" or the EVM store's chain */
    char *kind;      /* case_seed_kind_name */
    char *spec;      /* as trace / etrace take it (--from) */
    char *note;      /* the analyst's words */
    uint64_t n_refs; /* outputs (btc) or transfers (EVM) it selected when added */
    char *amount;    /* btc: satoshis of those outputs, decimal; EVM: "" */
    char *added_by, *added_at;
} case_seed;
void case_seed_free(case_seed *s);

/* Add a seed: spec is a btc TXID:N, TXID or address (checked in st->btc) or an EVM 0x spec
 * (etrace_add_spec's, checked in st->evm). UTIL_EINVAL for a malformed spec or one whose store
 * is not given, UTIL_ENOTFOUND for one not in the store or a case that does not exist,
 * UTIL_EINVAL ("already a seed") for a spec the case has. out (may be NULL) gets the row. */
int case_seed_add(case_db *db, const case_origin *who, int64_t case_id, const case_stores *st,
                  const char *spec, const char *note, case_seed *out, util_err *err);

/* ---- trace runs ---- */

/* What to trace: the seeds (by id; NULL / 0: every seed of the case on chain) and the options
 * of the tracer of that chain. */
typedef struct case_trace_req {
    const char *chain;       /* "btc" or the EVM store's chain */
    const int64_t *seed_ids; /* NULL: all of the case's seeds on chain */
    size_t n_seed_ids;
    trace_opts btc;    /* chain "btc": trace_default_opts, then the user's */
    etrace_opts evm;   /* an EVM chain: etrace_default_opts, then the user's */
    const char *asset; /* EVM: "all" (NULL), "native" or 0xTOKEN */
} case_trace_req;

/* One endpoint of a run: a labelled service the taint reached (its stop label's fields). */
typedef struct case_endpoint {
    uint32_t rank;  /* 0: the largest */
    char *address;  /* btc address or EIP-55 0x address */
    char *category; /* of the stop label */
    char *actor;    /* the stop label's actor ("" if it has none) */
    char *name;     /* the stop label's name, else its source */
    char *asset;    /* "BTC" (satoshis), "native" (wei) or the token's 0x address */
    char *amount;   /* decimal, in the asset's base unit */
    uint64_t deposits;
    uint32_t hops;  /* txs (btc) or transfers (EVM) on the path from a seed */
    int via_entity; /* btc: the stop label is on another address of the entity */
} case_endpoint;

/* One bucket of a run's totals (trace_totals / etrace_totals, in the document's order). */
typedef struct case_total {
    char *asset;  /* as case_endpoint.asset */
    char *bucket; /* "seeded", "to_endpoints", ... */
    char *amount; /* decimal */
} case_total;

typedef struct case_run {
    int64_t id, case_id;
    int64_t rerun_of; /* 0, or the run this one repeated */
    char *chain;
    char *seeds; /* JSON array of the specs traced */
    char *policy, *direction;
    uint32_t hops;
    char *min_value;           /* decimal: satoshis or base units */
    int64_t until, until_time; /* -1: none */
    uint64_t max_visits;       /* max_outputs / max_xfers */
    int follow_mixers;
    char *asset;         /* EVM: "all", "native" or 0xTOKEN; btc: "BTC" */
    int clustered;       /* btc: entities stopped at too */
    case_state state;    /* the store state it ran on */
    char *labels_digest; /* SHA-256 (hex) of DIR/labels.db when it ran ("" if none) */
    char *tool_version;  /* cointrail's version */
    char *run_by, *run_at;
    int partial;   /* a visit cap was reached */
    char *result;  /* the trace document (JSON text) less edges, txs and graph */
    char *command; /* the `cointrail trace|etrace ... --json` that reproduces it */
    case_total *totals;
    size_t n_totals;
    case_endpoint *endpoints; /* largest first */
    size_t n_endpoints;
} case_run;
void case_run_free(case_run *r);

/* Run a trace of the case's seeds with the trace module (trace_compute; EVM: etrace) and record
 * it. The computation holds no lock. UTIL_EINVAL for options the tracer refuses, no seeds on the
 * chain, or a store not given; UTIL_ENOTFOUND for a case or seed id that does not exist. out
 * (may be NULL) gets the run as recorded. */
int case_trace(case_db *db, const case_origin *who, int64_t case_id, const case_stores *st,
               const case_trace_req *req, case_run *out, util_err *err);
/* Run a recorded run again with its seeds and options, on the stores given, and record it with
 * rerun_of = run_id. */
int case_trace_rerun(case_db *db, const case_origin *who, int64_t run_id, const case_stores *st,
                     case_run *out, util_err *err);

/* Read one run (audited as "run.read"). UTIL_ENOTFOUND for an id that does not exist. */
int case_run_get(case_db *db, const case_origin *who, int64_t run_id, case_run *out, util_err *err);

/* How two runs differ (for a rerun): whether the store state is the same, and which totals
 * buckets and endpoints (address, asset, amount) differ. */
typedef struct case_run_diff {
    int same_state;       /* same_tips and same_labels */
    int same_tips;        /* the same Bitcoin and EVM tips */
    int same_labels;      /* the same label set (labels_digest) */
    size_t totals_differ; /* buckets present in one only, or with other amounts */
    size_t endpoints_only_a, endpoints_only_b, endpoints_changed;
} case_run_diff;
void case_run_compare(const case_run *a, const case_run *b, case_run_diff *out);

/* ---- labels and notes ---- */

typedef struct case_label_new {
    const char *chain;    /* "btc", "eth", ... */
    const char *address;  /* any valid spelling; stored canonical (labels_canon_address) */
    const char *category; /* labels' vocabulary: exchange, otc, mixer, theft, ... */
    const char *actor;    /* who is behind it ("" / NULL: unknown) */
    const char *name;     /* label text ("" / NULL: the actor) */
    int confidence;       /* 0..100 */
    const char *evidence; /* why: free text (TAB and LF allowed) */
} case_label_new;

typedef struct case_label {
    int64_t id, case_id;
    char *chain, *address, *category, *actor, *name, *evidence;
    int confidence;
    char *author, *created_at;
} case_label;
void case_label_free(case_label *l);

/* Record an analyst's label, then feed every case label into DIR/labels.db (source "case:ID",
 * the newest label per (case, chain, address, category); labels_add under the label lock, so
 * trace and screen see it). The label is recorded first: when feeding fails the return is the
 * error (UTIL_EBUSY: another label writer held the lock past CASE_BUSY_MS) with out filled, and
 * the next case_label_add or case_labels_feed adds it. */
int case_label_add(case_db *db, const case_origin *who, int64_t case_id, const case_label_new *l,
                   case_label *out, util_err *err);
/* Feed every case label into DIR/labels.db again (idempotent). *n (may be NULL) gets the count
 * fed. Not audited: it changes no case. */
int case_labels_feed(case_db *db, size_t *n, util_err *err);

/* The label-set form of a case label: source "case:ID", updated its day. out's strings point
 * into row and into source and day (the caller's buffers), which must outlive it. With shared
 * state (`--state`), the caller also adds it there (state_label_add), so that every replica
 * and analyst following the database sees it, not only this store's labels.db. */
void case_label_as_label(const case_label *row, char source[32], char day[16], labels_label *out);

typedef struct case_note {
    int64_t id, case_id;
    char *author, *created_at, *text;
} case_note;
void case_note_free(case_note *n);

/* Add a note (non-empty, at most CASE_MAX_LONG bytes, TAB and LF allowed). */
int case_note_add(case_db *db, const case_origin *who, int64_t case_id, const char *text,
                  case_note *out, util_err *err);

/* ---- the audit log ---- */

typedef struct case_audit {
    int64_t id;
    int64_t case_id; /* 0: not about one case (case_list) */
    char *at, *analyst;
    char *action;  /* "case.new" "case.list" "case.read" "run.read" "seed.add" "trace.run"
                      "label.add"  "note.add", or a caller's (case_audit_add) */
    char *command; /* case_origin.command */
    char *detail;  /* JSON object text: what the action made or read ({"seed": 3}, ...) */
    case_state state;
    char *prev_hash, *hash; /* hex SHA-256: hash covers prev_hash and every field above */
} case_audit;
void case_audit_free(case_audit *a);

/* Record a query the caller made on its own (a graph expansion, a screening from a case page):
 * action is a dotted word (at most 64 bytes: letters, digits, '.', '_', '-'), detail a JSON
 * object text or NULL. case_id 0: not about one case. */
int case_audit_add(case_db *db, const case_origin *who, int64_t case_id, const char *action,
                   const char *detail, util_err *err);
/* Check the hash chain of the whole log: *ok = 1 when every row's hash is what its fields and
 * the previous row's hash give; else 0 and *bad_id the first row that is not. */
int case_audit_verify(case_db *db, int *ok, int64_t *bad_id, util_err *err);

/* ---- the case graph (the web UI's) ---- */

/* A step of a case's graph: where it started (op "start", spec), a node expanded one hop
 * (op "expand", node, direction) or collapsed (op "collapse", node). Replaying the steps since
 * the last start, in order, on the same store state redraws the same graph. */
typedef struct case_graph_step_new {
    const char *op;        /* "start", "expand" or "collapse" */
    const char *node;      /* expand, collapse: the graph node's id ("e12", "a:ADDR") */
    const char *spec;      /* start: what it starts from (TXID, TXID:N, address, entity:ID) */
    const char *direction; /* expand: "forward" or "backward" */
    const char *policy;    /* start, expand: "haircut", "poison" or "fifo" */
    const char *detail;    /* a JSON object text (NULL: {}): what the answer held */
} case_graph_step_new;

typedef struct case_graph_step {
    int64_t id, case_id;
    char *op, *node, *spec, *direction, *policy, *detail;
    char *analyst, *created_at;
    case_state state; /* the store state it was made on */
} case_graph_step;
void case_graph_steps_free(case_graph_step *a, size_t n);

/* Record a step and its audit row ("graph.start", "graph.expand", "graph.collapse"; detail
 * {"step": ID, "node", "direction", "spec", "policy"} and the step's own detail under
 * "answer"), in one transaction. With save 0 only the audit row is written and *step_id is 0:
 * an expansion by someone who may read the case but not change it is a query to record, not a
 * change of the saved graph. UTIL_EINVAL naming the field (op, node, spec, direction, policy,
 * detail), UTIL_ENOTFOUND for a case that does not exist. step_id may be NULL. */
int case_graph_step_add(case_db *db, const case_origin *who, int64_t case_id,
                        const case_graph_step_new *s, int save, int64_t *step_id, util_err *err);
/* The saved graph: the case's steps since its last start, oldest first (none: *n = 0), audited
 * as "graph.read". *out (an array of *n) is owned by the caller: case_graph_steps_free. */
int case_graph_get(case_db *db, const case_origin *who, int64_t case_id, case_graph_step **out,
                   size_t *n, util_err *err);

/* ---- a whole case ---- */

typedef struct case_full {
    case_info info;
    case_seed *seeds;
    size_t n_seeds;
    case_run *runs; /* oldest first, each with its totals and endpoints */
    size_t n_runs;
    case_label *labels;
    size_t n_labels;
    case_note *notes;
    size_t n_notes;
    case_audit *audit; /* this case's rows, oldest first (the read itself last) */
    size_t n_audit;
    int audit_ok;         /* the whole log's hash chain checks (case_audit_verify) */
    int64_t audit_bad_id; /* if not, its first bad row */
} case_full;
void case_full_free(case_full *c);

/* Read a whole case (audited as "case.read"). UTIL_ENOTFOUND for an id that does not exist. */
int case_get(case_db *db, const case_origin *who, int64_t id, case_full *out, util_err *err);

/* Append s to b shell-quoted (as a POSIX shell reads it back: bare when it is made of safe
 * characters only, else in single quotes): how commands in the audit log and the reproduce
 * commands are written. UTIL_ENOMEM. */
int case_shell_quote(util_buf *b, const char *s);

/* ---- writers over a case_full ---- */

/* The whole case as one JSON document (docs/cases.md): case, seeds, runs (each with its
 * result document parsed back in), labels, notes, audit, audit_verified. *out is a new
 * reference owned by the caller. UTIL_ENOMEM. */
int case_full_json(const case_full *c, json_t **out, util_err *err);
/* One run as the JSON object case_full_json lists under "runs". *out is a new reference owned
 * by the caller. UTIL_ENOMEM. */
int case_run_json(const case_run *r, json_t **out, util_err *err);
/* A run's endpoints grouped by actor (the endpoint's actor, else its label's name, else
 * "(unnamed)"), per asset, largest amount first: what every writer shows before the addresses. */
typedef struct case_actor {
    const char *actor; /* borrowed from the run's endpoints */
    const char *asset;
    char amount[80];      /* decimal, in the asset's base unit */
    char categories[256]; /* the stop labels' categories, comma-separated, each once */
    uint64_t deposits;
    size_t addresses;
    uint32_t hops;   /* the nearest */
    size_t *members; /* endpoint indices, largest first */
    size_t n_members;
} case_actor;
/* *out (n rows) is owned by the caller: case_actors_free. The run must outlive it. UTIL_ENOMEM. */
int case_run_actors(const case_run *r, case_actor **out, size_t *n);
void case_actors_free(case_actor *rows, size_t n);

/* A self-contained HTML evidence report that prints well (to PDF): the incident, seeds, every
 * run with its totals, the endpoints grouped by actor, the addresses under each, and the
 * command that reproduces it; labels, notes and the audit log. Every text from a case or a
 * label is HTML-escaped; the page fetches nothing and runs no script (a Content-Security-Policy
 * forbids it). */
int case_write_html(const case_full *c, FILE *f, util_err *err);
/* The endpoints of every run as CSV (RFC 4180, a header line): case, run, chain, rank, address,
 * category, actor, name, asset, amount, deposits, hops. A text cell starting with = + - @ TAB or
 * CR gets a leading ' (spreadsheets would run it as a formula). */
int case_write_csv(const case_full *c, FILE *f, util_err *err);

/* ---- incidents (docs/incidents.md) ----
 *
 * An incident is a theft as its sources state it: an id (a slug such as "ronin-2022-03"), a date
 * at the precision given (YYYY, YYYY-MM, YYYY-MM-DD or with a time), the victim, the chains, the
 * amounts as stated (native and fiat, text), who it is attributed to and by whom, the source
 * URLs, and seeds (outputs, txs or addresses on any chain) to trace from. The stolen amount per
 * asset is computed from the seeds in the store. Each incident owns a case (cases.incident_id):
 * `incident trace` records its runs there, on every chain its seeds are on, and follows
 * deposits into bridges and swaps across chains over the cross-chain links. */

typedef struct case_attribution {
    char *actor;         /* as attributed ("Lazarus Group") */
    char *attributed_by; /* who made the attribution, as stated ("FBI;US Treasury OFAC") */
    char *kind;          /* government, un, analytics, investigator, victim, press, ... or "" */
    int confidence;      /* 0..100, -1: not stated */
    char *date;          /* of the attribution statement, "" if not given */
    char *url;           /* the page that states it, "" if not given */
} case_attribution;

typedef struct case_source_url {
    char *role; /* "incident", "attribution", "other", "official" */
    char *url;
} case_source_url;

typedef struct case_incident_seed {
    int64_t id;
    char *chain;  /* "btc" or an EVM chain ("eth") */
    char *spec;   /* as trace / etrace take it (TXID:N, TXID, address; 0x...) */
    char *role;   /* "exploiter", "laundering", ... ("" if not given) */
    char *note;   /* free text */
    char *url;    /* the source that names it */
    char *origin; /* FILE:LINE (or FILE:PATH for YAML) it was imported from */
} case_incident_seed;

/* The stolen amount of one asset, computed from the seeds found in the store. */
typedef struct case_stolen {
    char *chain;   /* "btc", "eth", ... */
    char *asset;   /* "native", or the token's lowercase 0x address */
    char *symbol;  /* "BTC", "ETH", the token's symbol (its address if the store has none) */
    int decimals;  /* 8 for BTC, 18 for ETH, the token's */
    char *amount;  /* base units (satoshis, wei), decimal */
    uint64_t refs; /* outputs (btc) or transfers (EVM) the seeds selected */
} case_stolen;

/* A tainted deposit into a bridge or swap that an EVM run of an incident trace found, and
 * whether a cross-chain link was followed from it. */
typedef struct case_deposit {
    int64_t run_id;   /* the EVM run */
    char *chain;      /* its chain */
    char *address;    /* the bridge or router (EIP-55) */
    char *category;   /* "bridge" or "swap" */
    char *actor;      /* its stop label's actor, else name */
    char *tx_hash;    /* 0x + 64 hex ("" without a stored tx) */
    char *asset;      /* "native" or 0xTOKEN */
    char *amount;     /* of the deposit, base units */
    char *taint;      /* the tainted part of it */
    char *to_chain;   /* the chain the followed link goes to ("" when none was followed) */
    char *method;     /* the link's method (xchain_method_name), "" if none */
    char *confidence; /* the link's confidence, "" if none */
    int64_t links;    /* links found for the deposit */
    char *why_not;    /* why no link was followed ("" when one was) */
} case_deposit;

/* One run of an incident trace: the seeds of one chain, or the Bitcoin leg of a deposit. */
typedef struct case_leg {
    int64_t run_id;
    char *leg;       /* "seeds" or "cross_chain" */
    int64_t deposit; /* cross_chain: index in the trace's deposits; -1 otherwise */
    char *share_num; /* cross_chain: the run's amounts count times num / den (the tainted */
    char *share_den; /* share of the deposit); "1" / "1" for seeds */
} case_leg;

/* An `incident trace`: the runs it recorded (each with its totals and endpoints). */
typedef struct case_itrace {
    int64_t id; /* 0: the incident was never traced */
    char *run_by, *run_at, *command;
    case_state state;
    char *skipped; /* JSON array text: seeds not traced and why */
    case_leg *legs;
    case_run *runs; /* runs[i] is legs[i]'s run */
    size_t n_legs;
    case_deposit *deposits;
    size_t n_deposits;
} case_itrace;

typedef struct case_incident {
    int64_t id;
    char *slug, *date, *victim;
    char *chains;        /* chain codes, comma-separated ("btc,eth") */
    char *amount_native; /* as stated ("173600 ETH;25500000 USDC"), "" if none */
    char *amount_fiat;   /* as stated ("620000000 USD"), "" if none */
    char *usd;           /* the USD figure of amount_fiat (decimal), "" if none */
    char *notes;
    char *origin; /* FILE:LINE of the last import that set it */
    char *created_by, *created_at, *updated_at;
    int64_t case_id;         /* the case it owns */
    case_attribution *attrs; /* the first is the primary attribution */
    size_t n_attrs;
    case_source_url *urls;
    size_t n_urls;
    case_incident_seed *seeds;
    size_t n_seeds;
    case_stolen *stolen; /* per asset, from the seeds in the store (empty: none found yet) */
    size_t n_stolen;
    case_itrace trace; /* the latest trace (case_incident_get, and lists with traces) */
} case_incident;
void case_incident_free(case_incident *i);
void case_incident_array_free(case_incident *a, size_t n);

/* What an import did. */
typedef struct case_import_report {
    size_t files, read;      /* files and incidents read */
    size_t added, unchanged; /* new incidents; incidents already there with the same content */
    size_t updated;          /* with --update: incidents whose content changed */
    size_t seeds_added;      /* new seeds (of new or existing incidents) */
    size_t seeds_unchecked;  /* seeds on a chain with no store open: kept, not checked */
} case_import_report;

enum {
    CASE_IMPORT_UPDATE = 1, /* an incident whose content differs is replaced, not refused */
};

/* Import incidents from files, all or nothing: CSV (a header line; incidents as
 * data/incidents/dprk_thefts.csv has them, with an optional seeds column; or seed rows as
 * dprk_addresses.csv: incident_id, chain, address, ...) and YAML (.yaml/.yml: a list of
 * incidents, or a mapping with one under "incidents"); docs/incidents.md has the columns and
 * keys. Every field is checked (dates, chains, amounts, URLs, text) and every seed's syntax;
 * a seed on a chain whose store is open in st must be in it (UTIL_ENOTFOUND), else it is kept
 * unchecked. A malformed file is refused as a whole: UTIL_EFORMAT (or UTIL_EINVAL / ENOTFOUND)
 * with "FILE:LINE: column C: problem" for CSV and "FILE: incidents[3].seeds[0].spec (line L):
 * problem" for YAML, and nothing is written. An incident whose id exists is compared: the same
 * content changes nothing (new seeds are added), other content is refused unless
 * CASE_IMPORT_UPDATE. New incidents get a case. One audit row per new or updated incident and
 * one for the import. rep (may be NULL) gets the counts. */
int case_incident_import(case_db *db, const case_origin *who, const case_stores *st,
                         const char *const *paths, size_t n_paths, unsigned flags,
                         case_import_report *rep, util_err *err);

/* Every incident, by date then id, with its attributions, URLs, seeds and stolen amounts; with
 * traces, each one's latest trace too (its runs, totals and endpoints: what the tally reads).
 * Audited as "incident.list". *out (an array of *n) is owned by the caller. */
int case_incident_list(case_db *db, const case_origin *who, int with_traces, case_incident **out,
                       size_t *n, util_err *err);
/* One incident by its id (slug) with its latest trace. Audited as "incident.read" on its case.
 * UTIL_ENOTFOUND for an id that does not exist. */
int case_incident_get(case_db *db, const case_origin *who, const char *slug, case_incident *out,
                      util_err *err);

/* What `incident trace` runs: the tracers' options (one set for every run of a chain). */
typedef struct case_itrace_req {
    trace_opts btc;        /* Bitcoin seeds, and the Bitcoin legs of cross-chain deposits */
    etrace_opts evm;       /* EVM seeds */
    double min_confidence; /* links below this are not followed (0..1) */
} case_itrace_req;

/* Trace an incident: its seeds on each chain whose store is open (Bitcoin: trace_compute, EVM:
 * etrace), each run recorded in its case as case_trace records one (the seeds added to the case
 * first); then, for every tainted deposit into a bridge or swap on an EVM chain, the most
 * confident cross-chain link to Bitcoin (st->links: xchain_links_from, as src/xtrace follows
 * them) is followed by a Bitcoin run of the outputs it names, recorded with the deposit's
 * tainted share (taint / amount; poison: all of it). The stolen amounts are recomputed, and the
 * trace (runs, shares, deposits, seeds skipped) is recorded with one audit row. Seeds whose chain
 * has no store, or that are not in it, are skipped (listed in skipped). UTIL_EINVAL when no
 * seed can be traced or an option is refused; UTIL_ENOTFOUND for an id that does not exist.
 * out (may be NULL) gets the incident as case_incident_get reads it afterwards. */
int case_incident_trace(case_db *db, const case_origin *who, const char *slug,
                        const case_stores *st, const case_itrace_req *req, case_incident *out,
                        util_err *err);

/* The incident as one JSON document (docs/incidents.md): its fields, attributions, urls, seeds,
 * stolen, and the latest trace (runs with totals and endpoints, deposits). *out is a new
 * reference owned by the caller. UTIL_ENOMEM. */
int case_incident_json(const case_incident *i, int with_runs, json_t **out, util_err *err);

#endif
