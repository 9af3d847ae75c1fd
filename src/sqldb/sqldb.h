/* sqldb: one small SQL interface over the two databases cointrail keeps its changing records in,
 * the embedded SQLite file and a PostgreSQL server through libpq (docs/state.md). It is the
 * subset of SQLite's statement API that src/case and src/state use (prepare, bind, step, read a
 * column, reset, finalize, exec, transactions), so that the same code and the same SQL run on
 * both. What differs between the dialects is handled here:
 *
 *  - parameters: SQL may write them "?", "?N" (SQLite's) or "$N" (PostgreSQL's, which SQLite
 *    takes as names: sqldb_bind_* with i binds "$i" there); for PostgreSQL "?" and "?N" are
 *    rewritten to "$N" outside quoted text. Binding a parameter the SQL does not use does
 *    nothing;
 *  - values: PostgreSQL receives every parameter as text and returns every cell as text, which
 *    sqldb_column_int64 reads back as a number; a boolean cell ('t'/'f') reads as 1/0;
 *  - errors: SQLite result codes and PostgreSQL SQLSTATEs map to one UTIL_E* code (busy,
 *    serialisation failure, deadlock and lock timeout are UTIL_EBUSY; a constraint or a trigger
 *    refusing the change is UTIL_EINVAL; a server that cannot be reached is UTIL_EIO with a
 *    message saying so);
 *  - the connection: a PostgreSQL connection that went away is made again at the next statement
 *    outside a transaction, and that statement tried once more.
 *
 * A sqldb is used by one thread at a time (the modules over it hold their own mutex). Every
 * function that can fail returns 0 or a negative UTIL_E* code and fills err (may be NULL); the
 * last error is also kept on the handle (sqldb_errcode, sqldb_errmsg) for callers that report it
 * in their own words. */
#ifndef CT_SQLDB_H
#define CT_SQLDB_H

#include <stdint.h>

#include "../util/util.h"

typedef struct sqldb sqldb;
typedef struct sqldb_stmt sqldb_stmt;

enum { SQLDB_SQLITE, SQLDB_PG };
enum { SQLDB_ROW = 100, SQLDB_DONE = 101 }; /* what sqldb_step returns besides an error */
enum {
    SQLDB_CREATE = 1, /* SQLite: create the file when missing */
};

/* Whether url names a PostgreSQL server ("postgresql://..." or "postgres://..."). */
int sqldb_is_pg_url(const char *url);
/* url as messages show it: the password of a URI replaced by "***". */
void sqldb_shown_url(const char *url, char *out, size_t n);

/* Open an SQLite file (flags: SQLDB_CREATE) waiting up to busy_ms for another writer. */
int sqldb_open_sqlite(sqldb **out, const char *path, unsigned flags, int busy_ms, util_err *err);
/* Connect to PostgreSQL (libpq's URI; a connect timeout of 3 s unless the URI gives one).
 * on_connect (may be NULL; copied) runs after every connection made, the first and each
 * reconnection: session settings. busy_ms > 0 sets lock_timeout, so that a writer waiting for
 * another fails with UTIL_EBUSY as on SQLite. */
int sqldb_open_pg(sqldb **out, const char *uri, const char *on_connect, int busy_ms, util_err *err);
/* *out is owned by the caller: sqldb_close it (NULL is fine). */
void sqldb_close(sqldb *db);

int sqldb_kind(const sqldb *db);
const char *sqldb_kind_name(const sqldb *db); /* "sqlite" or "postgresql" */
const char *sqldb_shown(const sqldb *db);     /* the path or URI (without password) */
/* The last error's code and message (the message without the database's name). */
int sqldb_errcode(const sqldb *db);
const char *sqldb_errmsg(const sqldb *db);
/* Whether the last error was a unique-key violation (a racing writer inserted the same key). */
int sqldb_err_unique(const sqldb *db);
/* Rows changed by the last INSERT, UPDATE or DELETE stepped to SQLDB_DONE. */
int64_t sqldb_changes(const sqldb *db);
/* The PostgreSQL connection (for LISTEN); NULL for SQLite or while disconnected. */
void *sqldb_pgconn(sqldb *db);
/* How many connections were made so far: a new value means a new session (LISTEN again). */
uint64_t sqldb_generation(const sqldb *db);
/* Make sure a PostgreSQL connection is up (reconnecting if it went away): 0 or UTIL_EIO. */
int sqldb_ensure(sqldb *db, util_err *err);

/* Run SQL text without parameters; it may hold several statements separated by ';'. */
int sqldb_exec(sqldb *db, const char *sql, util_err *err);

/* Transactions. sqldb_begin opens a write transaction: SQLite BEGIN IMMEDIATE (the write lock
 * at once); PostgreSQL BEGIN, then, when lock_key is not 0, pg_advisory_xact_lock(lock_key), so
 * that writers of one module take turns as on SQLite. sqldb_commit commits (rolling back if
 * that fails); sqldb_rollback never fails the caller. */
int sqldb_begin(sqldb *db, int64_t lock_key, util_err *err);
int sqldb_commit(sqldb *db, util_err *err);
void sqldb_rollback(sqldb *db);
int sqldb_in_tx(const sqldb *db);

/* Statements. *st is owned by the caller: sqldb_finalize it (NULL is fine). */
int sqldb_prepare(sqldb *db, sqldb_stmt **st, const char *sql, util_err *err);
int sqldb_bind_parameter_count(sqldb_stmt *st);
/* Parameters are numbered from 1. text NULL binds SQL NULL. */
int sqldb_bind_int64(sqldb_stmt *st, int i, int64_t v);
int sqldb_bind_int(sqldb_stmt *st, int i, int v);
int sqldb_bind_text(sqldb_stmt *st, int i, const char *s);
int sqldb_bind_null(sqldb_stmt *st, int i);
/* The next row: SQLDB_ROW, SQLDB_DONE, or an error code (the handle keeps the message). */
int sqldb_step(sqldb_stmt *st);
/* Columns of the current row, numbered from 0. text: NULL for SQL NULL, valid until the next
 * step, reset or finalize. */
int64_t sqldb_column_int64(sqldb_stmt *st, int i);
int sqldb_column_int(sqldb_stmt *st, int i);
const char *sqldb_column_text(sqldb_stmt *st, int i);
int sqldb_column_count(sqldb_stmt *st);
/* Run again from the start (parameters stay bound). */
void sqldb_reset(sqldb_stmt *st);
void sqldb_finalize(sqldb_stmt *st);

/* The SQL for PostgreSQL: "?" and "?N" as "$N" outside quotes. A new string (NULL: out of
 * memory); *n_params the highest parameter number. Exposed for tests. */
char *sqldb_pg_params(const char *sql, int *n_params);

#endif
