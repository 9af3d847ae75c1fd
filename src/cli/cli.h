/* cli: the `cointrail` command. Each subcommand parses its arguments and calls the library;
 * output is human text, or with --json the library's JSON document as is. */
#ifndef CT_CLI_H
#define CT_CLI_H

#include <jansson.h>

#include "../case/case.h"
#include "../cluster/cluster.h"
#include "../etrace/etrace.h"
#include "../evm/evm.h"
#include "../exposure/exposure.h"
#include "../labels/labels.h"
#include "../query/query.h"
#include "../risk/risk.h"
#include "../store/store.h"
#include "../taint/taint.h"
#include "../trace/trace.h"
#include "../util/util.h"

/* Exit codes: 0 ok, 1 error, 2 bad usage, 3 not found. */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2, CLI_NOTFOUND = 3 };

int cmd_import(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_tx(int argc, char **argv);
int cmd_address(int argc, char **argv);
int cmd_block(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_entity(int argc, char **argv);
int cmd_labels(int argc, char **argv);
int cmd_labels_state(int argc, char **argv); /* labels add|retire|history (cmd_state.c) */
int cmd_state(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_screen(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_serve_key(int argc, char **argv);
int cmd_evm_import(int argc, char **argv);
int cmd_evm_address(int argc, char **argv);
int cmd_evm_tx(int argc, char **argv);
int cmd_evm_stats(int argc, char **argv);
int cmd_evm_cluster(int argc, char **argv);
int cmd_etrace(int argc, char **argv);
int cmd_xchain(int argc, char **argv);
int cmd_exposure(int argc, char **argv);
int cmd_case(int argc, char **argv);
int cmd_export_columns(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_incident(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_evm_exposure(int argc, char **argv);

/* Print "cointrail: message" to stderr and map the error code to an exit code. */
int cli_fail(const util_err *err);
/* An argument as an audit log records the command line: the value of --state (argv[i-1] is
 * "--state", or "--state=URL") without its password; arg itself otherwise. buf holds n bytes. */
const char *cli_audit_arg(char *const *argv, int i, char *buf, size_t n);
/* Parse a whole decimal number (no sign, no trailing text, no overflow). 0 or -1. */
int cli_parse_u64(const char *s, uint64_t *out);
/* The value of --NAME (name without "--") as cli_parse_u64 reads it, or print "cointrail: --NAME:
 * 'ARG' is not WHAT" to stderr and return -1: the one wording of the plain count options. */
int cli_opt_u64(const char *name, const char *arg, const char *what, uint64_t *out);
/* The tracers' options (trace, etrace): set --KEY (without "--") to arg (NULL for a flag) with
 * taint's one option parser, or print why not to stderr and return -1. */
int cli_taint_opt(taint_target *t, const char *key, const char *arg);
/* An option's argument as taint's parser takes it from the command line: NULL is a flag
 * (--through-mixers), anything else text. */
taint_val cli_taint_val(const char *arg);

/* The `struct option` entries of the tracers' options that case trace and incident trace pass
 * through to taint's parser, both tracers' sets in one (each run keeps those its tracer takes),
 * all with the given val (one entry a line, like the tables they join: hence clang-format off).
 * The caller includes <getopt.h>. */
/* clang-format off */
#define CLI_TRACER_OPTIONS(val)                   \
    {"direction", required_argument, 0, (val)},   \
    {"policy", required_argument, 0, (val)},      \
    {"hops", required_argument, 0, (val)},        \
    {"min-value", required_argument, 0, (val)},   \
    {"until", required_argument, 0, (val)},       \
    {"until-time", required_argument, 0, (val)},  \
    {"max-outputs", required_argument, 0, (val)}, \
    {"max-xfers", required_argument, 0, (val)},   \
    {"through-mixers", no_argument, 0, (val)}
/* clang-format on */
/* Those options as given (key without "--", val NULL for a flag), kept until the chain, and so
 * the tracer, is known. */
typedef struct cli_tracer_args {
    const char **key, **val;
    size_t n;
} cli_tracer_args;
/* Room for the options of an argc-long command line: 0 or UTIL_ENOMEM (nothing said). */
int cli_tracer_args_init(cli_tracer_args *t, int argc);
void cli_tracer_args_add(cli_tracer_args *t, const char *key, const char *val);
void cli_tracer_args_free(cli_tracer_args *t);
/* Both tracers' defaults in b and e, and a taint target onto each (tb: UTXO onto b, te: account
 * onto e). --until (both) and the account tracer's --min-value are left as text in txt: reading
 * them needs the store or a 256-bit parse, which each caller does with its own error policy. */
typedef struct cli_tracer_text {
    const char *until_b, *until_e, *min_e;
} cli_tracer_text;
void cli_tracer_targets(trace_opts *b, etrace_opts *e, cli_tracer_text *txt, taint_target *tb,
                        taint_target *te);
/* screen's --hops (1..max), or print why not to stderr and return -1. */
int cli_opt_hops(const char *arg, uint32_t max, uint32_t *out);
/* Print a command's usage: asked for (help non-zero: --help, -h) to stdout and return CLI_OK,
 * else (a bad option, a missing subcommand) to stderr and return CLI_USAGE. */
int cli_usage(const char *usage, int help);
/* Print a JSON document to stdout, indented. */
void cli_print_json(json_t *doc);

/* Bring db's exposure index up to date (docs/exposure.md): take its writer lock (flags and
 * floor as for exposure_writer_open: UTIL_ENOTFOUND when it has none and flags has no
 * EXPOSURE_CREATE; o may be NULL), then read the store s (NULL: opened here, read-only), labels
 * (NULL: db's labels.db) and the clustering as they are, and sync. With pending non-NULL nothing is
 * committed: *pending is the writer to exposure_commit (after labels.db is saved) and close. res
 * may be NULL. The import, labels import and cluster commands call this once each. */
typedef struct cli_exposure_opts {
    unsigned flags;        /* EXPOSURE_CREATE, EXPOSURE_REBUILD */
    uint64_t floor;        /* for a new index */
    double commit_seconds; /* commit at least this often (0: 5 s) */
} cli_exposure_opts;
int cli_exposure_update(const char *db, const store *s, labels_db *labels,
                        const cli_exposure_opts *o, exposure_writer **pending,
                        exposure_sync_result *res, util_err *err);

/* The store of db opened read-only, with its labels (empty when none were imported) and its
 * entities (NULL when not clustered, or, unless need_clusters, when the clustering cannot be
 * used: a note goes to stderr). Close with cli_close_ctx. */
typedef struct cli_ctx {
    store *s;
    labels_db *labels;
    cluster_map *clusters;
    query_entix *entix; /* with CLI_LAZY_LABELS, when there is one for these labels and entities */
} cli_ctx;
/* flags: CLI_NEED_CLUSTERS (fail when the entities cannot be opened, instead of leaving them
 * out), CLI_LAZY_LABELS (labels opened LABELS_LAZY: for commands that only look labels up). */
enum { CLI_NEED_CLUSTERS = 1, CLI_LAZY_LABELS = 2 };
int cli_open_ctx(cli_ctx *c, const char *db, int flags, util_err *err);
void cli_close_ctx(cli_ctx *c);
/* cli_open_ctx with the label set serve --state uses (docs/state.md): the store's labels with
 * the analyst labels of the state database url merged in and the retired ones taken out (in
 * memory). url NULL: DIR/state.sqlite when it exists (what `labels add --db DIR` writes), never
 * created. With CLI_LAZY_LABELS the labels stay lazy (labels.idx)
 * only when the state has no analyst label to merge; else the set is read whole and merged, and
 * the entity-labels index (built from labels.db alone) is not used. */
int cli_open_ctx_state(cli_ctx *c, const char *db, const char *url, int flags, util_err *err);
/* After labels or entities change: rebuild DIR/entity-labels.idx (query_entix_build) when the
 * store has a clustering and a labels.idx; s may be NULL (the store is opened here). 0 or an
 * error (the labels and entities are saved either way: a stale entity index is not used). */
int cli_entix_refresh(const char *db, const store *s, util_err *err);

/* The command line as an audit log records it, NUL-terminated in b: "cointrail NAME" and then
 * argv[0..argc) shell-quoted, the password of --state masked (cli_audit_arg). With shorten, an
 * argument over 512 bytes is cut to its first 400 (whole UTF-8 characters) and "...(N bytes)":
 * case records such text (a note) in a row of its own. 0 or an error. */
int cli_command_text(util_buf *b, const char *name, int argc, char **argv, int shorten);
/* The analyst an audit record names when the command gives no --analyst: $USER, else the
 * login name of the user id; NULL when there is neither. */
const char *cli_default_analyst(void);

/* The options every case and incident command takes, first in their option tables (as
 * CLI_CASE_OPTIONS, one entry a line like the tables they join) and taken by cli_case_opt: 1 when
 * c is one of them, now in o; 0 otherwise. */
typedef struct cli_case_opts {
    const char *db, *state, *analyst;
    int json;
} cli_case_opts;
/* clang-format off */
#define CLI_CASE_OPTIONS                    \
    {"db", required_argument, 0, 'd'},      \
    {"state", required_argument, 0, 'Q'},   \
    {"analyst", required_argument, 0, 'A'}, \
    {"json", no_argument, 0, 'j'}
/* clang-format on */
int cli_case_opt(cli_case_opts *o, int c, const char *arg);

/* The environment of one case or incident command (cmd_case.c, cmd_incident.c): the case
 * database, whatever stores DIR holds, and who runs the command. */
typedef struct cli_case_env {
    const char *dir;
    case_db *db;
    cli_ctx btc; /* the Bitcoin store, its labels and entities, when there is a store */
    int have_btc;
    labels_db *labels; /* when there is no Bitcoin store */
    evm_store *evm;
    xchain_links links;
    int have_links;
    case_stores st;
    case_origin who;
    char analyst[256];
    util_buf cmd;
} cli_case_env;
/* Open the case database (create: make DIR/cases.sqlite if missing; state: the shared database
 * URL or NULL) and whatever stores DIR holds (a Bitcoin store, an EVM store of evm_chain; with
 * links, DIR/xchain/links.jsonl when there is one), and fill who: analyst (NULL:
 * cli_default_analyst) and cmd, the command line as the audit log keeps it (taken: *cmd is left
 * empty). On an error e is still to be closed. */
int cli_case_env_open(cli_case_env *e, const char *dir, const char *state, const char *analyst,
                      const char *evm_chain, int create, int links, util_buf *cmd, util_err *err);
void cli_case_env_close(cli_case_env *e);

/* EVM and cross-chain exposure (src/cli/cmd_evm_exposure.c, docs/exposure.md). After an
 * evm-import: bring the chain's EVM exposure index up to date (a line on stderr unless quiet). */
int cli_evm_exposure_update(const char *db, const evm_store *s, int quiet, util_err *err);
/* cmd_trace_demix.c: trace --demix. One demixing option (name without "--": min-confidence,
 * swap-fee-max, remix-depth, swap-window) into d: 0, or -1 after saying why on stderr. Then the
 * run: d gets o's budget, until and follow_mixers; prints text or JSON; a CLI exit code. */
int cli_demix_opt(trace_demix_opts *d, const char *name, const char *val);
int cli_demix_run(const cli_ctx *ctx, const trace_seeds *seeds, trace_demix_opts *d,
                  const trace_opts *o, const char *format);

#endif
