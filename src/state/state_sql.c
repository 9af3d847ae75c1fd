/* state: the SQL driver over SQLite and libpq, and the migrations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state_int.h"

void st_res_free(st_res *r)
{
    if (!r || !r->cell) return;
    for (int i = 0; i < r->rows * r->cols; i++)
        free(r->cell[i]);
    free(r->cell);
    r->cell = NULL;
    r->rows = r->cols = 0;
}

const char *st_cell(const st_res *r, int row, int col)
{
    if (row < 0 || row >= r->rows || col < 0 || col >= r->cols) return NULL;
    return r->cell[row * r->cols + col];
}

static int res_alloc(st_res *r, int rows, int cols, util_err *err)
{
    r->rows = rows;
    r->cols = cols;
    r->cell = calloc((size_t)(rows * cols) + 1, sizeof *r->cell);
    if (!r->cell) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

/* ---- SQLite ---- */

/* A parameter that is a plain integer is bound as one, so that comparisons with integer columns
 * compare numbers whatever SQLite's affinity rules make of text. */
static int is_int(const char *s)
{
    size_t i = s[0] == '-', n = strlen(s);
    if (n == i || n > 18) return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return !(s[0] == '0' && n > 1) && !(s[0] == '-' && s[1] == '0');
}

static int lite_exec(state_db *db, const char *sql, int n, const char *const *params, st_res *res,
                     util_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->lite, sql, -1, &st, NULL) != SQLITE_OK)
        return util_errf(err, UTIL_EIO, "state database %s: %s", db->shown,
                         sqlite3_errmsg(db->lite));
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (!idx) continue;
        if (!params[i])
            sqlite3_bind_null(st, idx);
        else if (is_int(params[i]))
            sqlite3_bind_int64(st, idx, strtoll(params[i], NULL, 10));
        else
            sqlite3_bind_text(st, idx, params[i], -1, SQLITE_TRANSIENT);
    }
    int cols = sqlite3_column_count(st), rows = 0, cap = 0, rc;
    char **cell = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!res) continue;
        if (rows == cap) {
            cap = cap ? cap * 2 : 16;
            char **nc = realloc(cell, (size_t)cap * (size_t)cols * sizeof *nc + sizeof *nc);
            if (!nc) {
                rc = SQLITE_NOMEM;
                break;
            }
            cell = nc;
        }
        for (int c = 0; c < cols; c++) {
            const unsigned char *t = sqlite3_column_text(st, c);
            cell[rows * cols + c] = t ? strdup((const char *)t) : NULL;
        }
        rows++;
    }
    int ok = rc == SQLITE_DONE;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db->lite));
    sqlite3_finalize(st);
    if (!ok) {
        for (int i = 0; i < rows * cols; i++)
            free(cell[i]);
        free(cell);
        return util_errf(err, rc == SQLITE_BUSY ? UTIL_EBUSY : UTIL_EIO, "state database %s: %s",
                         db->shown, msg);
    }
    if (res) {
        res->cell = cell ? cell : calloc(1, sizeof *cell);
        res->rows = rows;
        res->cols = cols;
        if (!res->cell) return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- PostgreSQL ---- */

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "relation already exists, skipping" and the like */
}

static int pg_connect(state_db *db, util_err *err)
{
    if (db->pg) PQfinish(db->pg);
    db->listening = 0;
    /* connect_timeout first: one the URI gives wins (libpq's later-wins rule) */
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"3", db->target, NULL};
    db->pg = PQconnectdbParams(keys, vals, 1);
    if (!db->pg) return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (PQstatus(db->pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db->pg));
        msg[strcspn(msg, "\n")] = 0;
        return util_errf(err, UTIL_EIO, "state database %s is unreachable: %s", db->shown, msg);
    }
    PQsetNoticeProcessor(db->pg, quiet_notice, NULL);
    return 0;
}

static int pg_exec_once(state_db *db, const char *sql, int n, const char *const *params,
                        st_res *res, util_err *err)
{
    PGresult *r = PQexecParams(db->pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        char msg[512], state[8] = "";
        const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(state, sizeof state, "%s", code ? code : ""); /* r is cleared below */
        snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(db->pg));
        msg[strcspn(msg, "\n")] = 0;
        PQclear(r);
        if (PQstatus(db->pg) != CONNECTION_OK)
            return util_errf(err, UTIL_EIO, "state database %s is unreachable: %s", db->shown,
                             msg[0] ? msg : "connection lost");
        /* 40001 serialization failure, 40P01 deadlock, 23505 unique violation by a racing
         * writer: the caller may try again */
        int busy = !strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "23505");
        return util_errf(err, busy ? UTIL_EBUSY : UTIL_EIO, "state database %s: %s", db->shown,
                         msg);
    }
    int rc = 0;
    if (res && !(rc = res_alloc(res, PQntuples(r), PQnfields(r), err)))
        for (int i = 0; i < res->rows; i++)
            for (int c = 0; c < res->cols; c++)
                if (!PQgetisnull(r, i, c) &&
                    !(res->cell[i * res->cols + c] = strdup(PQgetvalue(r, i, c))))
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    PQclear(r);
    if (rc) st_res_free(res);
    return rc;
}

static int pg_exec(state_db *db, const char *sql, int n, const char *const *params, st_res *res,
                   util_err *err)
{
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        if (db->in_tx)
            return util_errf(err, UTIL_EIO, "state database %s: connection lost in a transaction",
                             db->shown);
        int rc = pg_connect(db, err);
        if (rc) return rc;
    }
    int rc = pg_exec_once(db, sql, n, params, res, err);
    if (rc == UTIL_EIO && PQstatus(db->pg) != CONNECTION_OK && !db->in_tx) {
        /* the server restarted since the last call: one new connection, one more try */
        util_err e2 = {0};
        if (!pg_connect(db, &e2)) return pg_exec_once(db, sql, n, params, res, err);
    }
    return rc;
}

/* ---- the driver ---- */

int st_exec(state_db *db, const char *sql, int n, const char *const *params, st_res *res,
            util_err *err)
{
    if (res) memset(res, 0, sizeof *res);
    return db->kind == ST_PG ? pg_exec(db, sql, n, params, res, err)
                             : lite_exec(db, sql, n, params, res, err);
}

int st_begin(state_db *db, util_err *err)
{
    int rc = st_exec(db, db->kind == ST_PG ? "BEGIN" : "BEGIN IMMEDIATE", 0, NULL, NULL, err);
    if (!rc) db->in_tx = 1;
    return rc;
}

int st_end(state_db *db, int rc, util_err *err)
{
    if (!rc) rc = st_exec(db, "COMMIT", 0, NULL, NULL, err);
    if (rc) {
        util_err ignore = {0};
        st_exec(db, "ROLLBACK", 0, NULL, NULL, &ignore);
    }
    db->in_tx = 0;
    return rc;
}

int st_connect(state_db *db, util_err *err)
{
    if (db->kind == ST_PG) return pg_connect(db, err);
    if (sqlite3_open_v2(db->target, &db->lite,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK)
        return util_errf(err, UTIL_EIO, "state database %s: %s", db->shown,
                         db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
    sqlite3_busy_timeout(db->lite, 10000);
    /* Turning WAL on needs the file to itself for a moment and does not wait through the busy
     * handler: processes opening a new database together retry it */
    int rc = UTIL_EBUSY;
    for (int i = 0; rc == UTIL_EBUSY && i < 200; i++) {
        if (i) usleep(25000);
        rc = st_exec(db, "PRAGMA journal_mode=WAL", 0, NULL, NULL, err);
    }
    if (!rc) rc = st_exec(db, "PRAGMA synchronous=FULL", 0, NULL, NULL, err);
    return rc;
}

/* ---- migrations ---- */

/* One migration: statements run in order in one transaction. "@ID@" is the backend's
 * auto-numbered key column. Never edit a migration that shipped: add the next one. */
static const char *const migration1[] = {
    "CREATE TABLE state_changes (topic TEXT PRIMARY KEY, serial BIGINT NOT NULL)",
    "INSERT INTO state_changes (topic, serial) VALUES ('labels', 0), ('watchlists', 0), "
    "('keys', 0)",
    "CREATE TABLE state_labels (id @ID@, chain TEXT NOT NULL, address TEXT NOT NULL, "
    "source TEXT NOT NULL, category TEXT NOT NULL, actor TEXT NOT NULL, name TEXT NOT NULL, "
    "url TEXT NOT NULL, programs TEXT NOT NULL, first_seen TEXT NOT NULL, "
    "last_seen TEXT NOT NULL, updated TEXT NOT NULL, confidence INTEGER NOT NULL, "
    "author TEXT NOT NULL, added_ms BIGINT NOT NULL, retired_ms BIGINT, retired_by TEXT, "
    "reason TEXT)",
    /* at most one active row per identity: two analysts adding the same label race on this */
    "CREATE UNIQUE INDEX state_labels_active ON state_labels (chain, address, source, category) "
    "WHERE retired_ms IS NULL",
    "CREATE INDEX state_labels_address ON state_labels (address)",
    "CREATE TABLE state_label_events (id @ID@, label_id BIGINT NOT NULL, event TEXT NOT NULL, "
    "author TEXT NOT NULL, at_ms BIGINT NOT NULL, detail TEXT NOT NULL)",
    "CREATE TABLE state_watchlists (owner TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, "
    "updated_ms BIGINT NOT NULL, PRIMARY KEY (owner, name))",
    "CREATE TABLE state_keys (digest TEXT PRIMARY KEY, owner TEXT NOT NULL, line TEXT NOT NULL, "
    "created_ms BIGINT NOT NULL, revoked_ms BIGINT)",
    NULL};
static const char *const migration2[] = {
    "CREATE TABLE state_deliveries (key TEXT PRIMARY KEY, state TEXT NOT NULL, "
    "holder TEXT NOT NULL, lease_until_ms BIGINT NOT NULL, attempts INTEGER NOT NULL, "
    "delivered_by TEXT, finished_ms BIGINT)",
    NULL};
static const char *const *const migrations[STATE_SCHEMA_VERSION] = {migration1, migration2};

#define ST_MIGRATION_LOCK "7270417017" /* the advisory lock key of the migrations */

static int run_step(state_db *db, const char *sql, util_err *err)
{
    const char *id =
        db->kind == ST_PG ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
    const char *at = strstr(sql, "@ID@");
    if (!at) return st_exec(db, sql, 0, NULL, NULL, err);
    size_t n = strlen(sql) + strlen(id) + 1;
    char *s = malloc(n);
    if (!s) return util_errf(err, UTIL_ENOMEM, "out of memory");
    snprintf(s, n, "%.*s%s%s", (int)(at - sql), sql, id, at + 4);
    int rc = run_step(db, s, err);
    free(s);
    return rc;
}

int st_migrate(state_db *db, util_err *err)
{
    int rc = 0;
    if (db->kind == ST_PG &&
        (rc = st_exec(db, "SELECT pg_advisory_lock(" ST_MIGRATION_LOCK ")", 0, NULL, NULL, err)))
        return rc;
    rc = st_begin(db, err);
    if (!rc)
        rc = st_exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                     "applied_ms BIGINT NOT NULL)",
                     0, NULL, NULL, err);
    st_res r = {0};
    int have = 0;
    if (!rc && !(rc = st_exec(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", 0, NULL,
                              &r, err)))
        have = atoi(st_cell(&r, 0, 0) ? st_cell(&r, 0, 0) : "0");
    st_res_free(&r);
    if (!rc && have > STATE_SCHEMA_VERSION)
        rc = util_errf(err, UTIL_EINVAL,
                       "state database %s has schema version %d, newer than this cointrail's %d: "
                       "use a newer cointrail",
                       db->shown, have, STATE_SCHEMA_VERSION);
    for (int v = have + 1; !rc && v <= STATE_SCHEMA_VERSION; v++) {
        for (const char *const *s = migrations[v - 1]; !rc && *s; s++)
            rc = run_step(db, *s, err);
        char vs[16], now[32];
        snprintf(vs, sizeof vs, "%d", v);
        snprintf(now, sizeof now, "%lld", (long long)state_now_ms());
        const char *p[] = {vs, now};
        if (!rc)
            rc = st_exec(db, "INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)", 2,
                         p, NULL, err);
        if (rc) util_err_prefix(err, "migration %d", v);
    }
    rc = st_end(db, rc, err);
    if (db->kind == ST_PG) {
        util_err ignore = {0};
        st_exec(db, "SELECT pg_advisory_unlock(" ST_MIGRATION_LOCK ")", 0, NULL, NULL, &ignore);
    }
    return rc;
}
