/* case internals shared by case_db.c (the connection, migrations, the audit log), case_ops.c
 * (cases, seeds, labels, notes, reads), case_trace.c (trace runs) and case_write.c (the
 * writers). Not part of the module's interface; tests/test_case.c uses the migration runner. */
#ifndef CT_CASE_INT_H
#define CT_CASE_INT_H

#include <jansson.h>
#include <pthread.h>
#include "../sqldb/sqldb.h"
#include "case.h"

struct case_db {
    sqldb *sql;         /* DIR/cases.sqlite, or the shared PostgreSQL database of --state */
    pthread_mutex_t mu; /* held by every public function for its whole work */
    char dir[4096];     /* the store directory */
    char path[4200];    /* as messages name the database: DIR/cases.sqlite or the URI */
};

/* PostgreSQL: the advisory lock every case writer takes in its transaction (so that writers
 * take turns as SQLite's BEGIN IMMEDIATE makes them: the audit chain's next id and hash are
 * read and written by one writer at a time), and the one the migrations take. */
#define CASE_PG_WRITE_LOCK 7270417101LL
#define CASE_PG_MIGRATION_LOCK 7270417102LL

/* One step of the schema. sql is portable (SQLite and PostgreSQL) but for the token {ID}, the
 * dialect's auto-numbered primary key; sqlite_sql and pg_sql are each dialect's rest (the
 * append-only triggers). Each migration runs once, in the transaction that records its
 * version. */
typedef struct case_migration {
    int version;
    const char *name;
    const char *sql;
    const char *sqlite_sql;
    const char *pg_sql;
} case_migration;

/* The migrations of this program, oldest first (CASE_SCHEMA_VERSION is the last one's). */
extern const case_migration case_migrations[];
extern const size_t case_n_migrations;

/* The table that records the applied migrations: schema_version in DIR/cases.sqlite (as it
 * always was), case_schema_version on PostgreSQL, whose database src/state shares (its own
 * versions are in schema_version there). */
const char *case_version_table(const sqldb *sql);

/* Bring the database to the newest of list (sorted by version): inside one write transaction
 * (SQLite: BEGIN IMMEDIATE; PostgreSQL: under an advisory lock too), read the recorded
 * version, run each newer migration and record it. A database newer than the list is
 * UTIL_EFORMAT; a failing migration rolls everything back (the recorded version stays). *ran
 * (may be NULL) gets how many ran. */
int case_migrate(sqldb *sql, const char *path, const case_migration *list, size_t n, size_t *ran,
                 util_err *err);

/* ---- helpers over sqldb (case_db.c) ---- */

/* The error of the connection's last call as a UTIL_E* code and a message "PATH: what: msg". */
int case_sql_fail(case_db *db, const char *what, util_err *err);
int case_sql_exec(case_db *db, const char *sql, util_err *err);
int case_sql_prep(case_db *db, sqldb_stmt **st, const char *sql, util_err *err);
/* Open a write transaction (SQLite BEGIN IMMEDIATE; PostgreSQL BEGIN and the writers' advisory
 * lock), COMMIT, ROLLBACK (never fails the caller). */
int case_begin(case_db *db, util_err *err);
int case_commit(case_db *db, util_err *err);
void case_rollback(case_db *db);
/* Bind text (NULL as ""), int64. */
int case_bind_text(sqldb_stmt *st, int i, const char *s);
/* A column as a new string ("" for NULL); NULL only when out of memory. */
char *case_col_dup(sqldb_stmt *st, int i);

/* Rows of the query sql (its ?1, if any, bound to id) into a new array *out of *n elements of
 * elem bytes (the caller's: free each row, then the array, also after an error), each read by rd
 * (0, or nonzero when out of memory: that row is counted, so it must leave every pointer it
 * does not set NULL). A step that fails is an error, not the end of the rows. */
typedef int (*case_row_reader)(sqldb_stmt *st, void *row);
int case_read_rows(case_db *db, const char *sql, int64_t id, size_t elem, case_row_reader rd,
                   void **out, size_t *n, util_err *err);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void case_now(char out[32]);

/* Check a text field: at most max bytes, nothing labels_text_check refuses (multiline: TAB and
 * LF allowed), non-empty when required. UTIL_EINVAL "field NAME: ...". */
int case_check_text(const char *field, const char *s, size_t max, int multiline, int required,
                    util_err *err);
/* Check who: an analyst name and a command. */
int case_check_origin(const case_origin *who, util_err *err);

/* Append an audit row (inside the caller's write transaction). detail: a JSON object text or
 * NULL ("{}"). */
int case_audit_insert(case_db *db, const case_origin *who, int64_t case_id, const char *action,
                      const char *detail, util_err *err);
/* The same, the detail the JSON object d (taken: freed here; NULL, when it could not be made, is
 * out of memory). */
int case_audit_json(case_db *db, const case_origin *who, int64_t case_id, const char *action,
                    json_t *d, util_err *err);
/* Whether case id exists (inside a transaction or not): 0, UTIL_ENOTFOUND, or an SQL error. */
int case_exists(case_db *db, int64_t id, util_err *err);

/* Read a run's rows by id (its totals and endpoints too) into out. UTIL_ENOTFOUND. */
int case_run_read(case_db *db, int64_t run_id, case_run *out, util_err *err);
/* Read a state from 5 columns starting at i (btc_tip, btc_height, evm_chain, evm_tip,
 * evm_height). */
void case_state_read(sqldb_stmt *st, int i, case_state *out);
/* Bind a state to 5 parameters starting at i. */
void case_state_bind(sqldb_stmt *st, int i, const case_state *s);

/* Record a run of the given specs (not the case's seeds: the Bitcoin outputs a cross-chain link
 * names) with the tracer of chain and its options (btc or evm), as case_trace records one. With
 * deps, an EVM run also hands over its tainted bridge and swap deposits (*deps, *n_deps: owned by
 * the caller, case_deposit fields; to_chain, method, confidence, why_not ""). */
int case_run_specs(case_db *db, const case_origin *who, int64_t case_id, const case_stores *st,
                   const char *chain, char *const *specs, size_t n_specs, const trace_opts *btc,
                   const etrace_opts *evm, case_run *out, case_deposit **deps, size_t *n_deps,
                   util_err *err);

/* ---- incidents (case_incident*.c) ---- */

/* The stolen amounts of seeds in the stores that are open (seeds elsewhere or not found are not
 * counted): Bitcoin first, then the EVM chain's assets in the order first met. *out owned by the
 * caller: case_inc_stolen_free. */
int case_inc_stolen(const case_stores *st, const case_incident_seed *seeds, size_t n,
                    case_stolen **out, size_t *n_out, util_err *err);
void case_inc_stolen_free(case_stolen *a, size_t n);
/* Replace incident id's amounts (inside the caller's write transaction). */
int case_inc_write_stolen(case_db *db, int64_t id, const case_stolen *s, size_t n, util_err *err);
void case_itrace_free(case_itrace *t);
void case_deposit_free(case_deposit *d);
/* Read incidents (inside the caller's transaction): where is "" (all) or a WHERE clause on
 * incidents i with one text parameter, arg. With traces, each one's latest trace too. */
int case_inc_read(case_db *db, const char *where, const char *arg, int with_traces,
                  case_incident **out, size_t *n, util_err *err);

/* A seed row of a seeds file (dprk_addresses.csv): the incident it belongs to, by id. */
typedef struct case_inc_seedrow {
    char *slug;
    case_incident_seed seed;
    char *where; /* "FILE:LINE" for messages */
} case_inc_seedrow;

/* What the files of one import hold, parsed and checked for form (not yet against a store). */
typedef struct case_inc_set {
    case_incident *inc; /* seeds of the same row or mapping included */
    size_t n_inc, cap_inc;
    case_inc_seedrow *rows;
    size_t n_rows, cap_rows;
} case_inc_set;
void case_inc_set_free(case_inc_set *s);

/* Parse one file (CSV by its header, YAML by its extension .yaml/.yml) into set (appending).
 * UTIL_EFORMAT (and UTIL_EIO, UTIL_ENOMEM) naming FILE:LINE and the column, or the YAML path;
 * on error set keeps what earlier files gave. */
int case_inc_parse_file(const char *path, case_inc_set *set, util_err *err);

/* The chain code of a chain name as the incident files write it ("bitcoin" -> "btc",
 * "ethereum" -> "eth", "tron" -> "trx", a code as is). out holds 32 bytes. UTIL_EINVAL. */
int case_inc_chain(const char *name, char out[32], util_err *err);
/* Whether spec is a Bitcoin spec (TXID:N, TXID or an address that decodes) or, for EVM, an
 * etrace spec (0x + 64 hex [:N], 0x + 40 hex [:FROM-TO]); 0 or UTIL_EINVAL naming the problem. */
int case_inc_check_spec(const char *chain, const char *spec, util_err *err);

#endif
