/* sqldb: SQLite and libpq behind one statement API (sqldb.h). */
#include "sqldb.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqldb {
    int kind;
    sqlite3 *lite;
    PGconn *pg;
    int in_tx;    /* a transaction is open: a lost connection is not made again within it */
    int err_code; /* the last error */
    int err_unique;
    char err_msg[512];
    int64_t changes;
    uint64_t gen;      /* connections made */
    char *on_connect;  /* PostgreSQL: session settings after each connection */
    char target[4096]; /* the SQLite path, or the PostgreSQL URI */
    char shown[4200];  /* the target as messages name it (no password) */
};

struct sqldb_stmt {
    sqldb *db;
    sqlite3_stmt *lite;
    int named; /* SQLite: the parameters are written $N (numbered by first use, not by N) */
    /* PostgreSQL: the rewritten SQL, its text parameters, and the rows of the last run */
    char *sql;
    int n_params;
    char **params;
    PGresult *res;
    int row;
};

int sqldb_is_pg_url(const char *url)
{
    return url && (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11));
}

void sqldb_shown_url(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at)
        snprintf(out, n, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, n, "%s", url);
}

/* ---- errors ---- */

static int set_err(sqldb *db, int code, int unique, const char *msg)
{
    db->err_code = code;
    db->err_unique = unique;
    snprintf(db->err_msg, sizeof db->err_msg, "%.500s", msg && *msg ? msg : "unknown error");
    db->err_msg[strcspn(db->err_msg, "\n")] = 0;
    return code;
}

static int fill(sqldb *db, util_err *err)
{
    return util_errf(err, db->err_code, "%s: %s", db->shown, db->err_msg);
}

static int lite_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return UTIL_EBUSY;
    case SQLITE_NOMEM:
        return UTIL_ENOMEM;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return UTIL_EINVAL;
    case SQLITE_NOTADB:
    case SQLITE_SCHEMA:
        return UTIL_EFORMAT;
    case SQLITE_CORRUPT:
        return UTIL_ECORRUPT;
    default:
        return UTIL_EIO;
    }
}

static int lite_err(sqldb *db)
{
    int rc = sqlite3_extended_errcode(db->lite);
    return set_err(db, lite_code(rc),
                   rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY,
                   sqlite3_errmsg(db->lite));
}

/* Whether a failure (r may be NULL) lost the connection: libpq says so, or the error has no
 * SQLSTATE (the server sends one with every error it reports: without, libpq made it, as for
 * "server closed the connection unexpectedly", which can come with the status still OK), or
 * the server said it is going away (57P01-57P03 shutting down, class 08 connection). */
static int pg_lost(sqldb *db, const PGresult *r)
{
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) return 1;
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return !s || !strncmp(s, "57P0", 4) || !strncmp(s, "08", 2);
}

/* A failed PostgreSQL result (r may be NULL) into the handle's error. A lost connection is
 * closed, so that the next statement makes a new one. */
static int pg_err(sqldb *db, const PGresult *r)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(db->pg));
    if (pg_lost(db, r)) {
        PQfinish(db->pg);
        db->pg = NULL;
        char m2[600];
        snprintf(m2, sizeof m2, "the server is unreachable: %s", *msg ? msg : "connection lost");
        return set_err(db, UTIL_EIO, 0, m2);
    }
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!s) s = "";
    int code = UTIL_EIO;
    /* 40001 serialization failure, 40P01 deadlock, 55P03 lock timeout: the caller may retry */
    if (!strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "55P03"))
        code = UTIL_EBUSY;
    else if (!strncmp(s, "23", 2) || !strcmp(s, "P0001") || !strncmp(s, "22", 2))
        code = UTIL_EINVAL; /* a constraint, a trigger refusing the change, a bad value */
    else if (!strcmp(s, "53200"))
        code = UTIL_ENOMEM;
    return set_err(db, code, !strcmp(s, "23505"), msg);
}

int sqldb_errcode(const sqldb *db)
{
    return db->err_code;
}
const char *sqldb_errmsg(const sqldb *db)
{
    return db->err_msg;
}
int sqldb_err_unique(const sqldb *db)
{
    return db->err_unique;
}
int64_t sqldb_changes(const sqldb *db)
{
    return db->changes;
}
int sqldb_kind(const sqldb *db)
{
    return db->kind;
}
const char *sqldb_kind_name(const sqldb *db)
{
    return db->kind == SQLDB_PG ? "postgresql" : "sqlite";
}
const char *sqldb_shown(const sqldb *db)
{
    return db->shown;
}
int sqldb_in_tx(const sqldb *db)
{
    return db->in_tx;
}

uint64_t sqldb_generation(const sqldb *db)
{
    return db->gen;
}

void *sqldb_pgconn(sqldb *db)
{
    return db->kind == SQLDB_PG && db->pg && PQstatus(db->pg) == CONNECTION_OK ? db->pg : NULL;
}

/* ---- connections ---- */

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "relation already exists, skipping" and the like */
}

static int pg_connect(sqldb *db)
{
    if (db->pg) PQfinish(db->pg);
    /* connect_timeout first: one the URI gives wins (libpq's later-wins rule) */
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"3", db->target, NULL};
    db->pg = PQconnectdbParams(keys, vals, 1);
    db->gen++;
    if (!db->pg) return set_err(db, UTIL_ENOMEM, 0, "out of memory");
    if (PQstatus(db->pg) != CONNECTION_OK) return pg_err(db, NULL);
    PQsetNoticeProcessor(db->pg, quiet_notice, NULL);
    if (db->on_connect) {
        PGresult *r = PQexec(db->pg, db->on_connect);
        int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        int rc = ok ? 0 : pg_err(db, r);
        PQclear(r);
        if (rc) return rc;
    }
    return 0;
}

int sqldb_ensure(sqldb *db, util_err *err)
{
    if (db->kind != SQLDB_PG || (db->pg && PQstatus(db->pg) == CONNECTION_OK)) return 0;
    if (db->in_tx) {
        set_err(db, UTIL_EIO, 0, "the server is unreachable: connection lost in a transaction");
        return fill(db, err);
    }
    return pg_connect(db) ? fill(db, err) : 0;
}

static sqldb *db_new(int kind, const char *target, util_err *err)
{
    sqldb *db = calloc(1, sizeof *db);
    if (!db) {
        util_errf(err, UTIL_ENOMEM, "out of memory");
        return NULL;
    }
    db->kind = kind;
    if (strlen(target) >= sizeof db->target) {
        util_errf(err, UTIL_EINVAL, "%.64s...: too long", target);
        free(db);
        return NULL;
    }
    snprintf(db->target, sizeof db->target, "%s", target);
    if (kind == SQLDB_PG)
        sqldb_shown_url(target, db->shown, sizeof db->shown);
    else
        snprintf(db->shown, sizeof db->shown, "%s", target);
    return db;
}

int sqldb_open_sqlite(sqldb **out, const char *path, unsigned flags, int busy_ms, util_err *err)
{
    *out = NULL;
    sqldb *db = db_new(SQLDB_SQLITE, path, err);
    if (!db) return err ? err->code : UTIL_ENOMEM;
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
                 ((flags & SQLDB_CREATE) ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db->lite, oflags, NULL) != SQLITE_OK) {
        int rc = db->lite ? (lite_err(db), fill(db, err))
                          : util_errf(err, UTIL_ENOMEM, "%s: out of memory", path);
        sqldb_close(db);
        return rc;
    }
    sqlite3_extended_result_codes(db->lite, 1);
    sqlite3_busy_timeout(db->lite, busy_ms);
    *out = db;
    return 0;
}

int sqldb_open_pg(sqldb **out, const char *uri, const char *on_connect, int busy_ms, util_err *err)
{
    *out = NULL;
    sqldb *db = db_new(SQLDB_PG, uri, err);
    if (!db) return err ? err->code : UTIL_ENOMEM;
    char lock[64] = "";
    if (busy_ms > 0) snprintf(lock, sizeof lock, "SET lock_timeout = %d;", busy_ms);
    size_t n = strlen(lock) + (on_connect ? strlen(on_connect) : 0) + 1;
    if (n > 1 && !(db->on_connect = malloc(n))) {
        sqldb_close(db);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (n > 1) snprintf(db->on_connect, n, "%s%s", lock, on_connect ? on_connect : "");
    if (pg_connect(db)) {
        int rc = fill(db, err);
        sqldb_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void sqldb_close(sqldb *db)
{
    if (!db) return;
    if (db->pg) PQfinish(db->pg);
    if (db->lite) sqlite3_close(db->lite);
    free(db->on_connect);
    free(db);
}

/* ---- PostgreSQL runs: one new connection and one more try when the server restarted ---- */

typedef struct pg_call {
    const char *sql;
    int n;
    const char *const *params; /* NULL: PQexec (several statements allowed) */
} pg_call;

static PGresult *pg_once(sqldb *db, const pg_call *c)
{
    return c->params || c->n ? PQexecParams(db->pg, c->sql, c->n, NULL, c->params, NULL, NULL, 0)
                             : PQexec(db->pg, c->sql);
}

static int pg_ok(const PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Run c; *out gets the result when it succeeded (owned by the caller: PQclear). */
static int pg_run(sqldb *db, const pg_call *c, PGresult **out)
{
    *out = NULL;
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        if (db->in_tx)
            return set_err(db, UTIL_EIO, 0,
                           "the server is unreachable: connection lost in a transaction");
        int rc = pg_connect(db);
        if (rc) return rc;
    }
    PGresult *r = pg_once(db, c);
    if (!pg_ok(r) && pg_lost(db, r) && !db->in_tx) {
        PQclear(r);
        r = NULL;
        int rc = pg_connect(db); /* the server restarted since the last call: one more try */
        if (rc) return rc;
        r = pg_once(db, c);
    }
    if (!pg_ok(r)) {
        int rc = pg_err(db, r);
        PQclear(r);
        return rc;
    }
    const char *t = PQcmdTuples(r);
    db->changes = t && *t ? strtoll(t, NULL, 10) : 0;
    *out = r;
    return 0;
}

/* ---- statements ---- */

int sqldb_exec(sqldb *db, const char *sql, util_err *err)
{
    if (db->kind == SQLDB_SQLITE) {
        if (sqlite3_exec(db->lite, sql, NULL, NULL, NULL) != SQLITE_OK) {
            lite_err(db);
            return fill(db, err);
        }
        db->changes = sqlite3_changes(db->lite);
        return 0;
    }
    pg_call c = {sql, 0, NULL};
    PGresult *r;
    if (pg_run(db, &c, &r)) return fill(db, err);
    PQclear(r);
    return 0;
}

char *sqldb_pg_params(const char *sql, int *n_params)
{
    size_t n = strlen(sql);
    char *out = malloc(12 * (n + 1)); /* each byte "?" becomes at most "$" and 10 digits */
    if (!out) return NULL;
    size_t o = 0;
    int max = 0;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = sql[i];
        if (quote) {
            if (ch == quote) quote = 0; /* a doubled quote reopens at once: same result */
            out[o++] = ch;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            quote = ch;
            out[o++] = ch;
            continue;
        }
        if (ch == '$' && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            int v = atoi(sql + i + 1);
            if (v > max) max = v;
        }
        if (ch != '?') {
            out[o++] = ch;
            continue;
        }
        int v;
        if (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            v = atoi(sql + i + 1);
            while (sql[i + 1] >= '0' && sql[i + 1] <= '9')
                i++;
        } else
            v = max + 1;
        if (v > max) max = v;
        o += (size_t)sprintf(out + o, "$%d", v);
    }
    out[o] = 0;
    *n_params = max;
    return out;
}

int sqldb_prepare(sqldb *db, sqldb_stmt **out, const char *sql, util_err *err)
{
    *out = NULL;
    sqldb_stmt *st = calloc(1, sizeof *st);
    if (!st) return util_errf(err, UTIL_ENOMEM, "out of memory");
    st->db = db;
    if (db->kind == SQLDB_SQLITE) {
        if (sqlite3_prepare_v2(db->lite, sql, -1, &st->lite, NULL) != SQLITE_OK) {
            free(st);
            lite_err(db);
            return fill(db, err);
        }
        const char *p1 = sqlite3_bind_parameter_count(st->lite)
                             ? sqlite3_bind_parameter_name(st->lite, 1)
                             : NULL;
        st->named = p1 && p1[0] == '$';
        *out = st;
        return 0;
    }
    if (!(st->sql = sqldb_pg_params(sql, &st->n_params)) ||
        (st->n_params && !(st->params = calloc((size_t)st->n_params, sizeof *st->params)))) {
        sqldb_finalize(st);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    *out = st;
    return 0;
}

int sqldb_bind_parameter_count(sqldb_stmt *st)
{
    return st->lite ? sqlite3_bind_parameter_count(st->lite) : st->n_params;
}

/* SQLite's index of parameter i ("$i" or the i-th "?"); 0: the statement does not use it. */
static int lite_index(sqldb_stmt *st, int i)
{
    if (!st->named) return i;
    char name[16];
    snprintf(name, sizeof name, "$%d", i);
    return sqlite3_bind_parameter_index(st->lite, name);
}

/* A parameter the statement does not use is ignored, on either backend. */
static int pg_bind(sqldb_stmt *st, int i, const char *text)
{
    if (i < 1 || i > st->n_params) return 0;
    char *v = NULL;
    if (text && !(v = strdup(text))) return set_err(st->db, UTIL_ENOMEM, 0, "out of memory");
    free(st->params[i - 1]);
    st->params[i - 1] = v;
    return 0;
}

int sqldb_bind_int64(sqldb_stmt *st, int i, int64_t v)
{
    if (st->lite) {
        int k = lite_index(st, i);
        return !k || sqlite3_bind_int64(st->lite, k, v) == SQLITE_OK ? 0 : lite_err(st->db);
    }
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)v);
    return pg_bind(st, i, t);
}

int sqldb_bind_int(sqldb_stmt *st, int i, int v)
{
    return sqldb_bind_int64(st, i, v);
}

int sqldb_bind_text(sqldb_stmt *st, int i, const char *s)
{
    if (st->lite) {
        int k = lite_index(st, i);
        if (!k) return 0;
        return (s ? sqlite3_bind_text(st->lite, k, s, -1, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st->lite, k)) == SQLITE_OK
                   ? 0
                   : lite_err(st->db);
    }
    return pg_bind(st, i, s);
}

int sqldb_bind_null(sqldb_stmt *st, int i)
{
    return sqldb_bind_text(st, i, NULL);
}

int sqldb_step(sqldb_stmt *st)
{
    sqldb *db = st->db;
    if (st->lite) {
        int rc = sqlite3_step(st->lite);
        if (rc == SQLITE_ROW) return SQLDB_ROW;
        if (rc == SQLITE_DONE) {
            db->changes = sqlite3_changes(db->lite);
            return SQLDB_DONE;
        }
        return lite_err(db);
    }
    if (!st->res) {
        pg_call c = {st->sql, st->n_params, (const char *const *)st->params};
        int rc = pg_run(db, &c, &st->res);
        if (rc) return rc;
        st->row = -1;
    }
    if (++st->row < PQntuples(st->res)) return SQLDB_ROW;
    st->row = PQntuples(st->res);
    return SQLDB_DONE;
}

static const char *pg_cell(sqldb_stmt *st, int i)
{
    if (!st->res || st->row < 0 || st->row >= PQntuples(st->res) || i < 0 ||
        i >= PQnfields(st->res) || PQgetisnull(st->res, st->row, i))
        return NULL;
    return PQgetvalue(st->res, st->row, i);
}

int64_t sqldb_column_int64(sqldb_stmt *st, int i)
{
    if (st->lite) return sqlite3_column_int64(st->lite, i);
    const char *t = pg_cell(st, i);
    if (!t) return 0;
    if (!strcmp(t, "t")) return 1; /* a boolean expression */
    return strtoll(t, NULL, 10);
}

int sqldb_column_int(sqldb_stmt *st, int i)
{
    return (int)sqldb_column_int64(st, i);
}

const char *sqldb_column_text(sqldb_stmt *st, int i)
{
    if (st->lite) return (const char *)sqlite3_column_text(st->lite, i);
    return pg_cell(st, i);
}

int sqldb_column_count(sqldb_stmt *st)
{
    if (st->lite) return sqlite3_column_count(st->lite);
    return st->res ? PQnfields(st->res) : 0;
}

void sqldb_reset(sqldb_stmt *st)
{
    if (st->lite) {
        sqlite3_reset(st->lite);
        return;
    }
    PQclear(st->res);
    st->res = NULL;
}

void sqldb_finalize(sqldb_stmt *st)
{
    if (!st) return;
    if (st->lite) sqlite3_finalize(st->lite);
    PQclear(st->res);
    for (int i = 0; st->params && i < st->n_params; i++)
        free(st->params[i]);
    free(st->params);
    free(st->sql);
    free(st);
}

/* ---- transactions ---- */

int sqldb_begin(sqldb *db, int64_t lock_key, util_err *err)
{
    if (db->kind == SQLDB_SQLITE) {
        int rc = sqldb_exec(db, "BEGIN IMMEDIATE", err);
        if (!rc) db->in_tx = 1;
        return rc;
    }
    int rc = sqldb_exec(db, "BEGIN", err);
    if (rc) return rc;
    db->in_tx = 1;
    if (lock_key) {
        char sql[80];
        snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)lock_key);
        if ((rc = sqldb_exec(db, sql, err))) sqldb_rollback(db);
    }
    return rc;
}

int sqldb_commit(sqldb *db, util_err *err)
{
    int rc = sqldb_exec(db, "COMMIT", err);
    if (rc) sqldb_rollback(db);
    db->in_tx = 0;
    return rc;
}

void sqldb_rollback(sqldb *db)
{
    if (db->kind == SQLDB_SQLITE) {
        if (!sqlite3_get_autocommit(db->lite)) sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
    } else if (db->pg && PQstatus(db->pg) == CONNECTION_OK) {
        PQclear(PQexec(db->pg, "ROLLBACK"));
    }
    db->in_tx = 0;
}
