/* case internals shared by case_db.c (the connection, migrations, the audit log), case_ops.c
 * (cases, seeds, labels, notes, reads), case_trace.c (trace runs) and case_write.c (the
 * writers). Not part of the module's interface; tests/test_case.c uses the migration runner. */
#ifndef CT_CASE_INT_H
#define CT_CASE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "case.h"

struct case_db {
    sqlite3 *sql;
    pthread_mutex_t mu; /* held by every public function for its whole work */
    char dir[4096];     /* the store directory */
    char path[4200];    /* DIR/cases.sqlite */
};

/* One step of the schema. sql is portable (SQLite and PostgreSQL) but for the token {ID}, the
 * dialect's auto-numbered primary key; sqlite_sql is the SQLite-only rest (triggers). Each
 * migration runs once, in the transaction that records its version. */
typedef struct case_migration {
    int version;
    const char *name;
    const char *sql;
    const char *sqlite_sql;
} case_migration;

/* The migrations of this program, oldest first (CASE_SCHEMA_VERSION is the last one's). */
extern const case_migration case_migrations[];
extern const size_t case_n_migrations;

/* Bring the database to the newest of list (sorted by version): inside one BEGIN IMMEDIATE
 * transaction, read the recorded version, run each newer migration and record it. A database
 * newer than the list is UTIL_EFORMAT; a failing migration rolls everything back (the
 * recorded version stays). *ran (may be NULL) gets how many ran. */
int case_migrate(sqlite3 *sql, const char *path, const case_migration *list, size_t n, size_t *ran,
                 util_err *err);

/* ---- helpers over SQLite (case_db.c) ---- */

/* The error of the connection's last call as a UTIL_E* code and a message "PATH: what: msg". */
int case_sql_fail(case_db *db, const char *what, util_err *err);
int case_sql_exec(case_db *db, const char *sql, util_err *err);
int case_sql_prep(case_db *db, sqlite3_stmt **st, const char *sql, util_err *err);
/* BEGIN IMMEDIATE (a writer), COMMIT, ROLLBACK (never fails the caller). */
int case_begin(case_db *db, util_err *err);
int case_commit(case_db *db, util_err *err);
void case_rollback(case_db *db);
/* Bind text (NULL as ""), int64. */
int case_bind_text(sqlite3_stmt *st, int i, const char *s);
/* A column as a new string ("" for NULL); NULL only when out of memory. */
char *case_col_dup(sqlite3_stmt *st, int i);

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
/* Whether case id exists (inside a transaction or not): 0, UTIL_ENOTFOUND, or an SQL error. */
int case_exists(case_db *db, int64_t id, util_err *err);

/* Read a run's rows by id (its totals and endpoints too) into out. UTIL_ENOTFOUND. */
int case_run_read(case_db *db, int64_t run_id, case_run *out, util_err *err);
/* Read a state from 5 columns starting at i (btc_tip, btc_height, evm_chain, evm_tip,
 * evm_height). */
void case_state_read(sqlite3_stmt *st, int i, case_state *out);
/* Bind a state to 5 parameters starting at i. */
void case_state_bind(sqlite3_stmt *st, int i, const case_state *s);

#endif
