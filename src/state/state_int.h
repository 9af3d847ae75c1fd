/* state internals: the two SQL backends (through src/sqldb, which src/case shares) behind one
 * small driver of text rows (state_sql.c) that the record functions (state.c) use. Not part
 * of the module's interface. */
#ifndef CT_STATE_INT_H
#define CT_STATE_INT_H

#include <pthread.h>

#include "../sqldb/sqldb.h"
#include "state.h"

enum { ST_SQLITE, ST_PG };

struct state_db {
    int kind;
    sqldb *sq;           /* the connection (sqldb: a lost PostgreSQL one is made again) */
    uint64_t listen_gen; /* PostgreSQL: the connection (sqldb_generation) LISTEN was sent on */
    char target[4096];   /* the SQLite path, or the PostgreSQL URI */
    char shown[4200];    /* the target as messages name it (no password) */
    pthread_mutex_t mu;  /* one call at a time on the connection */
};

/* The rows of one statement, every cell as text (NULL for SQL NULL). Owned: st_res_free. */
typedef struct st_res {
    char **cell;
    int rows, cols;
} st_res;
void st_res_free(st_res *r);
const char *st_cell(const st_res *r, int row, int col);

/* Run one statement with n text parameters ($1..$n; NULL is SQL NULL). res (may be NULL)
 * receives the rows. A PostgreSQL connection that was lost is reset and, outside a
 * transaction, the statement tried once more; if the server is still away UTIL_EIO says so. */
int st_exec(state_db *db, const char *sql, int n, const char *const *params, st_res *res,
            util_err *err);
/* Transactions: st_begin opens a write transaction (SQLite: BEGIN IMMEDIATE, which takes the
 * write lock at once). st_end commits when rc is 0, else rolls back; returns rc, or the
 * commit's error. */
int st_begin(state_db *db, util_err *err);
int st_end(state_db *db, int rc, util_err *err);
/* Connect and run the migrations (state_sql.c). */
int st_connect(state_db *db, util_err *err);
int st_migrate(state_db *db, util_err *err);

#endif
