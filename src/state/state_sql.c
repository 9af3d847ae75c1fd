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

/* A parameter that is a plain integer is bound as one on SQLite, so that comparisons with
 * integer columns compare numbers whatever SQLite's affinity rules make of text. */
static int is_int(const char *s)
{
    size_t i = s[0] == '-', n = strlen(s);
    if (n == i || n > 18) return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return !(s[0] == '0' && n > 1) && !(s[0] == '-' && s[1] == '0');
}

/* sqldb's last error in state's words: "state database X is unreachable: ..." when the server
 * is away; a unique violation on PostgreSQL (a racing writer) UTIL_EBUSY, so that the caller may
 * try again; anything else but busy and out of memory UTIL_EIO. */
static int fail(state_db *db, util_err *err)
{
    const char *m = sqldb_errmsg(db->sq), *away = "the server is unreachable: ";
    int code = sqldb_errcode(db->sq);
    if (!strncmp(m, away, strlen(away)))
        return util_errf(err, UTIL_EIO, "state database %s is unreachable: %s", db->shown,
                         m + strlen(away));
    if (sqldb_err_unique(db->sq) && db->kind == ST_PG) code = UTIL_EBUSY;
    if (code != UTIL_EBUSY && code != UTIL_ENOMEM) code = UTIL_EIO;
    return util_errf(err, code, "state database %s: %s", db->shown, m);
}

static int push_row(st_res *r, int *cap, sqldb_stmt *st, util_err *err)
{
    if (r->rows == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        char **nc = realloc(r->cell, (size_t)*cap * (size_t)r->cols * sizeof *nc + sizeof *nc);
        if (!nc) return util_errf(err, UTIL_ENOMEM, "out of memory");
        r->cell = nc;
    }
    for (int c = 0; c < r->cols; c++) {
        const char *t = sqldb_column_text(st, c);
        char **cell = &r->cell[r->rows * r->cols + c];
        if ((*cell = t ? strdup(t) : NULL) == NULL && t) {
            for (int k = 0; k < c; k++)
                free(r->cell[r->rows * r->cols + k]);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    }
    r->rows++;
    return 0;
}

/* ---- the driver ---- */

int st_exec(state_db *db, const char *sql, int n, const char *const *params, st_res *res,
            util_err *err)
{
    if (res) memset(res, 0, sizeof *res);
    sqldb_stmt *st;
    if (sqldb_prepare(db->sq, &st, sql, err)) return fail(db, err);
    for (int i = 0; i < n; i++)
        if (params[i] && db->kind == ST_SQLITE && is_int(params[i]))
            sqldb_bind_int64(st, i + 1, strtoll(params[i], NULL, 10));
        else
            sqldb_bind_text(st, i + 1, params[i]);
    st_res r = {0};
    int cap = 0, s, rc = 0;
    while ((s = sqldb_step(st)) == SQLDB_ROW) {
        if (!res) continue;
        if (!r.cols && !(r.cols = sqldb_column_count(st))) continue;
        if ((rc = push_row(&r, &cap, st, err))) break;
    }
    if (!rc && s != SQLDB_DONE) rc = fail(db, err);
    sqldb_finalize(st);
    if (!rc && res && !r.cell && !(r.cell = calloc(1, sizeof *r.cell)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (rc || !res)
        st_res_free(&r);
    else
        *res = r;
    return rc;
}

int st_begin(state_db *db, util_err *err)
{
    return sqldb_begin(db->sq, 0, err) ? fail(db, err) : 0;
}

int st_end(state_db *db, int rc, util_err *err)
{
    if (rc) {
        sqldb_rollback(db->sq);
        return rc;
    }
    return sqldb_commit(db->sq, err) ? fail(db, err) : 0;
}

int st_connect(state_db *db, util_err *err)
{
    util_err e = {0};
    if (db->kind == ST_PG) {
        if (!sqldb_open_pg(&db->sq, db->target, NULL, 0, &e)) return 0;
        const char *why = strstr(e.msg, "unreachable: ");
        return util_errf(err, UTIL_EIO, "state database %s is unreachable: %s", db->shown,
                         why ? why + 13 : e.msg);
    }
    if (sqldb_open_sqlite(&db->sq, db->target, SQLDB_CREATE, 10000, &e))
        return util_errf(err, e.code == UTIL_ENOMEM ? UTIL_ENOMEM : UTIL_EIO, "state database %s",
                         e.msg);
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
