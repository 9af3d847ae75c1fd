/* case: the connection (WAL, busy timeout, foreign keys), the schema and its migrations, the
 * audit log and its hash chain, and the small helpers over SQLite the other files share. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../crypto/crypto.h"
#include "case_int.h"

/* ---------------- the schema ---------------- */

/* Version 1. Portable SQL: TEXT, INTEGER, BIGINT, CHECK, REFERENCES, UNIQUE, indexes; times are
 * ISO-8601 UTC text, amounts decimal text (satoshis fit 64 bits, wei does not), booleans 0/1.
 * Column names avoid the words either dialect reserves. Version 2 adds incidents. */
static const char schema_v1[] =
    "CREATE TABLE cases ("
    " id {ID},"
    " title TEXT NOT NULL,"
    " incident_date TEXT NOT NULL,"
    " victim TEXT NOT NULL,"
    " chains TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('open', 'closed')),"
    " created_by TEXT NOT NULL,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE case_seeds ("
    " id {ID},"
    " case_id BIGINT NOT NULL REFERENCES cases (id),"
    " chain TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " spec TEXT NOT NULL,"
    " note TEXT NOT NULL,"
    " n_refs BIGINT NOT NULL,"
    " amount TEXT NOT NULL,"
    " added_by TEXT NOT NULL,"
    " added_at TEXT NOT NULL,"
    " UNIQUE (case_id, chain, spec));"
    "CREATE TABLE trace_runs ("
    " id {ID},"
    " case_id BIGINT NOT NULL REFERENCES cases (id),"
    " rerun_of BIGINT REFERENCES trace_runs (id),"
    " chain TEXT NOT NULL,"
    " seeds TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " direction TEXT NOT NULL,"
    " hops INTEGER NOT NULL,"
    " min_value TEXT NOT NULL,"
    " until_height BIGINT NOT NULL,"
    " until_time BIGINT NOT NULL,"
    " max_visits BIGINT NOT NULL,"
    " follow_mixers INTEGER NOT NULL,"
    " asset TEXT NOT NULL,"
    " clustered INTEGER NOT NULL,"
    " btc_tip TEXT NOT NULL,"
    " btc_height BIGINT NOT NULL,"
    " evm_chain TEXT NOT NULL,"
    " evm_tip TEXT NOT NULL,"
    " evm_height BIGINT NOT NULL,"
    " labels_digest TEXT NOT NULL,"
    " tool_version TEXT NOT NULL,"
    " run_by TEXT NOT NULL,"
    " run_at TEXT NOT NULL,"
    " is_partial INTEGER NOT NULL,"
    " result TEXT NOT NULL,"
    " command TEXT NOT NULL);"
    "CREATE TABLE trace_totals ("
    " run_id BIGINT NOT NULL REFERENCES trace_runs (id),"
    " bucket_pos INTEGER NOT NULL,"
    " asset TEXT NOT NULL,"
    " bucket TEXT NOT NULL,"
    " amount TEXT NOT NULL,"
    " PRIMARY KEY (run_id, bucket_pos));"
    "CREATE TABLE trace_endpoints ("
    " run_id BIGINT NOT NULL REFERENCES trace_runs (id),"
    " endpoint_rank INTEGER NOT NULL,"
    " address TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " label_name TEXT NOT NULL,"
    " asset TEXT NOT NULL,"
    " amount TEXT NOT NULL,"
    " deposits BIGINT NOT NULL,"
    " hops INTEGER NOT NULL,"
    " via_entity INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, endpoint_rank));"
    "CREATE TABLE case_labels ("
    " id {ID},"
    " case_id BIGINT NOT NULL REFERENCES cases (id),"
    " chain TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " label_name TEXT NOT NULL,"
    " confidence INTEGER NOT NULL CHECK (confidence BETWEEN 0 AND 100),"
    " evidence TEXT NOT NULL,"
    " author TEXT NOT NULL,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE case_notes ("
    " id {ID},"
    " case_id BIGINT NOT NULL REFERENCES cases (id),"
    " author TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " body TEXT NOT NULL);"
    /* id is given by the writer (the hash covers it), so no {ID} */
    "CREATE TABLE audit_log ("
    " id BIGINT PRIMARY KEY,"
    " case_id BIGINT REFERENCES cases (id),"
    " created_at TEXT NOT NULL,"
    " analyst TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " command TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " btc_tip TEXT NOT NULL,"
    " btc_height BIGINT NOT NULL,"
    " evm_chain TEXT NOT NULL,"
    " evm_tip TEXT NOT NULL,"
    " evm_height BIGINT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL);"
    "CREATE INDEX case_seeds_case ON case_seeds (case_id);"
    "CREATE INDEX trace_runs_case ON trace_runs (case_id);"
    "CREATE INDEX case_labels_key ON case_labels (case_id, chain, address, category);"
    "CREATE INDEX case_notes_case ON case_notes (case_id);"
    "CREATE INDEX audit_log_case ON audit_log (case_id, id);";

/* Evidence is append-only: only a case's status may change. SQLite gets the rule from these
 * triggers, PostgreSQL from PG_APPEND_ONLY below (the same names and messages). */
#define APPEND_ONLY(t)                                                                             \
    "CREATE TRIGGER " t "_no_update BEFORE UPDATE ON " t " BEGIN SELECT RAISE(ABORT, '" t          \
    " is append-only'); END;"                                                                      \
    "CREATE TRIGGER " t "_no_delete BEFORE DELETE ON " t " BEGIN SELECT RAISE(ABORT, '" t          \
    " is append-only'); END;"
static const char schema_v1_sqlite[] =
    APPEND_ONLY("audit_log") APPEND_ONLY("case_seeds") APPEND_ONLY("trace_runs")
        APPEND_ONLY("trace_totals") APPEND_ONLY("trace_endpoints") APPEND_ONLY("case_labels")
            APPEND_ONLY("case_notes") "CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases"
                                      " BEGIN SELECT RAISE(ABORT, 'cases are never deleted'); END;";

/* Version 2 (issue 16): incidents, as a source states them (date, victim, chains, amounts as
 * stated, attributions with who made them, source URLs), their seeds on any chain, the stolen
 * amounts computed from the seeds in the store, and each `incident trace`: which recorded runs
 * it made (the seeds' runs and the Bitcoin legs of cross-chain deposits, with the share of the
 * deposit that was tainted) and the bridge and swap deposits the EVM runs found. An incident
 * owns a case (cases.incident_id): its runs are that case's trace_runs. Incidents change only
 * by an import with --update (the audit log says when); their traces are append-only. */
static const char schema_v2[] =
    "CREATE TABLE incidents ("
    " id {ID},"
    " slug TEXT NOT NULL UNIQUE,"
    " incident_date TEXT NOT NULL,"
    " victim TEXT NOT NULL,"
    " chains TEXT NOT NULL,"
    " amount_native TEXT NOT NULL,"
    " amount_fiat TEXT NOT NULL,"
    " usd TEXT NOT NULL,"
    " notes TEXT NOT NULL,"
    " origin TEXT NOT NULL,"
    " created_by TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL);"
    "CREATE TABLE incident_attributions ("
    " incident_id BIGINT NOT NULL REFERENCES incidents (id),"
    " pos INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " attributed_by TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " confidence INTEGER NOT NULL CHECK (confidence BETWEEN -1 AND 100),"
    " attributed_on TEXT NOT NULL,"
    " url TEXT NOT NULL,"
    " PRIMARY KEY (incident_id, pos));"
    "CREATE TABLE incident_urls ("
    " incident_id BIGINT NOT NULL REFERENCES incidents (id),"
    " pos INTEGER NOT NULL,"
    " url_role TEXT NOT NULL,"
    " url TEXT NOT NULL,"
    " PRIMARY KEY (incident_id, pos));"
    "CREATE TABLE incident_seeds ("
    " id {ID},"
    " incident_id BIGINT NOT NULL REFERENCES incidents (id),"
    " chain TEXT NOT NULL,"
    " spec TEXT NOT NULL,"
    " seed_role TEXT NOT NULL,"
    " note TEXT NOT NULL,"
    " url TEXT NOT NULL,"
    " origin TEXT NOT NULL,"
    " added_by TEXT NOT NULL,"
    " added_at TEXT NOT NULL,"
    " UNIQUE (incident_id, chain, spec));"
    "CREATE TABLE incident_amounts ("
    " incident_id BIGINT NOT NULL REFERENCES incidents (id),"
    " chain TEXT NOT NULL,"
    " asset TEXT NOT NULL,"
    " symbol TEXT NOT NULL,"
    " decimals INTEGER NOT NULL,"
    " amount TEXT NOT NULL,"
    " n_refs BIGINT NOT NULL,"
    " computed_at TEXT NOT NULL,"
    " PRIMARY KEY (incident_id, chain, asset));"
    "CREATE TABLE incident_traces ("
    " id {ID},"
    " incident_id BIGINT NOT NULL REFERENCES incidents (id),"
    " case_id BIGINT NOT NULL REFERENCES cases (id),"
    " run_by TEXT NOT NULL,"
    " run_at TEXT NOT NULL,"
    " command TEXT NOT NULL,"
    " btc_tip TEXT NOT NULL,"
    " btc_height BIGINT NOT NULL,"
    " evm_chain TEXT NOT NULL,"
    " evm_tip TEXT NOT NULL,"
    " evm_height BIGINT NOT NULL,"
    " skipped TEXT NOT NULL);"
    "CREATE TABLE incident_trace_runs ("
    " trace_id BIGINT NOT NULL REFERENCES incident_traces (id),"
    " pos INTEGER NOT NULL,"
    " run_id BIGINT NOT NULL REFERENCES trace_runs (id),"
    " leg TEXT NOT NULL CHECK (leg IN ('seeds', 'cross_chain')),"
    " deposit_pos INTEGER NOT NULL,"
    " share_num TEXT NOT NULL,"
    " share_den TEXT NOT NULL,"
    " PRIMARY KEY (trace_id, pos));"
    "CREATE TABLE incident_deposits ("
    " trace_id BIGINT NOT NULL REFERENCES incident_traces (id),"
    " pos INTEGER NOT NULL,"
    " run_id BIGINT NOT NULL REFERENCES trace_runs (id),"
    " chain TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " tx_hash TEXT NOT NULL,"
    " asset TEXT NOT NULL,"
    " amount TEXT NOT NULL,"
    " taint TEXT NOT NULL,"
    " to_chain TEXT NOT NULL,"
    " link_method TEXT NOT NULL,"
    " link_confidence TEXT NOT NULL,"
    " links INTEGER NOT NULL,"
    " why_not TEXT NOT NULL,"
    " PRIMARY KEY (trace_id, pos));"
    "ALTER TABLE cases ADD COLUMN incident_id BIGINT REFERENCES incidents (id);"
    "CREATE INDEX incident_seeds_incident ON incident_seeds (incident_id);"
    "CREATE INDEX incident_traces_incident ON incident_traces (incident_id, id);"
    "CREATE INDEX cases_incident ON cases (incident_id);";

static const char schema_v2_sqlite[] =
    APPEND_ONLY("incident_traces") APPEND_ONLY("incident_trace_runs") APPEND_ONLY(
        "incident_deposits") "CREATE TRIGGER incidents_no_delete BEFORE DELETE ON incidents"
                             " BEGIN SELECT RAISE(ABORT, 'incidents are never deleted'); END;";

/* Version 3 (issue 14): the case graph of the web UI, as the steps that made it (where it
 * started, each node expanded or collapsed, by whom, when, on which store state), so that
 * reopening the case's graph redraws it. Append-only: a new start begins a new graph. */
static const char schema_v3[] =
    "CREATE TABLE case_graph_steps ("
    " id {ID},"
    " case_id BIGINT NOT NULL REFERENCES cases (id),"
    " op TEXT NOT NULL CHECK (op IN ('start', 'expand', 'collapse')),"
    " node TEXT NOT NULL,"
    " spec TEXT NOT NULL,"
    " direction TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " analyst TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " btc_tip TEXT NOT NULL,"
    " btc_height BIGINT NOT NULL,"
    " evm_chain TEXT NOT NULL,"
    " evm_tip TEXT NOT NULL,"
    " evm_height BIGINT NOT NULL);"
    "CREATE INDEX case_graph_steps_case ON case_graph_steps (case_id, id);";
static const char schema_v3_sqlite[] = APPEND_ONLY("case_graph_steps");

/* PostgreSQL: one trigger function refuses the change with the message its trigger passes
 * (SQLSTATE P0001, which sqldb reports as UTIL_EINVAL as SQLite's RAISE(ABORT) is). The
 * triggers are per statement: they refuse an UPDATE or DELETE that matches no row too, and
 * TRUNCATE, which no row trigger sees. */
#define PG_REFUSE(t, ev, msg)                                                                      \
    "CREATE TRIGGER " t "_no_" ev " BEFORE " ev " ON " t " FOR EACH STATEMENT EXECUTE FUNCTION "   \
    "case_refuse('" msg "');"
#define PG_NO_TRUNCATE(t, msg) PG_REFUSE(t, "truncate", msg)
#define PG_APPEND_ONLY(t)                                                                          \
    PG_REFUSE(t, "update", t " is append-only")                                                    \
    PG_REFUSE(t, "delete", t " is append-only") PG_NO_TRUNCATE(t, t " is append-only")
static const char schema_v1_pg[] =
    "CREATE OR REPLACE FUNCTION case_refuse() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;" PG_APPEND_ONLY("audit_log")
        PG_APPEND_ONLY("case_seeds") PG_APPEND_ONLY("trace_runs") PG_APPEND_ONLY("trace_totals")
            PG_APPEND_ONLY("trace_endpoints") PG_APPEND_ONLY("case_labels")
                PG_APPEND_ONLY("case_notes") PG_REFUSE("cases", "delete", "cases are never deleted")
                    PG_NO_TRUNCATE("cases", "cases are never deleted");
static const char schema_v2_pg[] = PG_APPEND_ONLY("incident_traces")
    PG_APPEND_ONLY("incident_trace_runs") PG_APPEND_ONLY("incident_deposits")
        PG_REFUSE("incidents", "delete", "incidents are never deleted")
            PG_NO_TRUNCATE("incidents", "incidents are never deleted");
static const char schema_v3_pg[] = PG_APPEND_ONLY("case_graph_steps");

const case_migration case_migrations[] = {
    {1, "cases, seeds, trace runs, labels, notes, audit log", schema_v1, schema_v1_sqlite,
     schema_v1_pg},
    {2, "incidents, their attributions, sources, seeds, stolen amounts and traces", schema_v2,
     schema_v2_sqlite, schema_v2_pg},
    {3, "the case graph: the steps that drew it", schema_v3, schema_v3_sqlite, schema_v3_pg},
};
const size_t case_n_migrations = sizeof case_migrations / sizeof *case_migrations;

/* ---------------- helpers over sqldb ---------------- */

int case_sql_fail(case_db *db, const char *what, util_err *err)
{
    return util_errf(err, sqldb_errcode(db->sql), "%s: %s: %s", db->path, what,
                     sqldb_errmsg(db->sql));
}

int case_sql_exec(case_db *db, const char *sql, util_err *err)
{
    return sqldb_exec(db->sql, sql, err) ? case_sql_fail(db, "SQL", err) : 0;
}

int case_sql_prep(case_db *db, sqldb_stmt **st, const char *sql, util_err *err)
{
    return sqldb_prepare(db->sql, st, sql, err) ? case_sql_fail(db, "prepare", err) : 0;
}

int case_read_rows(case_db *db, const char *sql, int64_t id, size_t elem, case_row_reader rd,
                   void **out, size_t *n, util_err *err)
{
    *out = NULL;
    *n = 0;
    sqldb_stmt *st;
    int rc = case_sql_prep(db, &st, sql, err);
    if (rc) return rc;
    if (sqldb_bind_parameter_count(st) > 0) sqldb_bind_int64(st, 1, id);
    size_t cap = 0;
    char *a = NULL;
    int s;
    while ((s = sqldb_step(st)) == SQLDB_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            char *na = realloc(a, nc * elem);
            if (!na) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            a = na, cap = nc;
        }
        rc = rd(st, a + *n * elem);
        (*n)++; /* a half-read row is freed with the rest */
        if (rc) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && s != SQLDB_DONE) rc = case_sql_fail(db, "read", err);
    sqldb_finalize(st);
    *out = a;
    return rc;
}

int case_begin(case_db *db, util_err *err)
{
    return sqldb_begin(db->sql, CASE_PG_WRITE_LOCK, err) ? case_sql_fail(db, "begin", err) : 0;
}

int case_commit(case_db *db, util_err *err)
{
    return sqldb_commit(db->sql, err) ? case_sql_fail(db, "commit", err) : 0;
}

void case_rollback(case_db *db)
{
    sqldb_rollback(db->sql);
}

int case_bind_text(sqldb_stmt *st, int i, const char *s)
{
    return sqldb_bind_text(st, i, s ? s : "");
}

char *case_col_dup(sqldb_stmt *st, int i)
{
    const char *t = sqldb_column_text(st, i);
    return strdup(t ? t : "");
}

void case_state_read(sqldb_stmt *st, int i, case_state *out)
{
    case_state_init(out);
    const char *t = sqldb_column_text(st, i);
    snprintf(out->btc_tip, sizeof out->btc_tip, "%s", t ? t : "");
    out->btc_height = sqldb_column_int64(st, i + 1);
    t = sqldb_column_text(st, i + 2);
    snprintf(out->evm_chain, sizeof out->evm_chain, "%s", t ? t : "");
    t = sqldb_column_text(st, i + 3);
    snprintf(out->evm_tip, sizeof out->evm_tip, "%s", t ? t : "");
    out->evm_height = sqldb_column_int64(st, i + 4);
}

void case_state_bind(sqldb_stmt *st, int i, const case_state *s)
{
    case_bind_text(st, i, s->btc_tip);
    sqldb_bind_int64(st, i + 1, s->btc_height);
    case_bind_text(st, i + 2, s->evm_chain);
    case_bind_text(st, i + 3, s->evm_tip);
    sqldb_bind_int64(st, i + 4, s->evm_height);
}

void case_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

int case_check_text(const char *field, const char *s, size_t max, int multiline, int required,
                    util_err *err)
{
    if (!s) s = "";
    size_t n = strlen(s);
    if (required && !n) return util_errf(err, UTIL_EINVAL, "field %s: empty", field);
    if (n > max)
        return util_errf(err, UTIL_EINVAL, "field %s: %zu bytes, over the limit of %zu", field, n,
                         max);
    char what[48];
    size_t at = labels_text_check(s, n, multiline, what);
    if (at < n)
        return util_errf(err, UTIL_EINVAL,
                         "field %s: %s at byte %zu (no terminal control characters)", field, what,
                         at + 1);
    return 0;
}

int case_check_origin(const case_origin *who, util_err *err)
{
    if (!who) return util_errf(err, UTIL_EINVAL, "no analyst given");
    int rc = case_check_text("analyst", who->analyst, CASE_MAX_TEXT, 0, 1, err);
    if (!rc) rc = case_check_text("command", who->command, CASE_MAX_LONG, 1, 0, err);
    return rc;
}

int case_shell_quote(util_buf *b, const char *s)
{
    int safe = *s != 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_", *p))
            safe = 0;
    if (safe) return util_buf_append(b, s, strlen(s));
    int rc = util_buf_append(b, "'", 1);
    for (const char *p = s; *p && !rc; p++)
        rc = *p == '\'' ? util_buf_append(b, "'\\''", 4) : util_buf_append(b, p, 1);
    return rc ? rc : util_buf_append(b, "'", 1);
}

void case_state_init(case_state *st)
{
    memset(st, 0, sizeof *st);
    st->btc_height = -1;
    st->evm_height = -1;
}

void case_state_btc(case_state *st, const store *s)
{
    if (!s) return;
    uint64_t n = store_get_totals(s)->blocks;
    if (!n) return;
    util_hash_hex(st->btc_tip, store_block_hash(s, n - 1));
    st->btc_height = (int64_t)n - 1;
}

void case_state_evm(case_state *st, const evm_store *s)
{
    if (!s) return;
    uint64_t first, n;
    uint8_t tip[32];
    evm_store_tip(s, &first, &n, tip);
    if (!n) return;
    snprintf(st->evm_chain, sizeof st->evm_chain, "%s", evm_store_chain(s));
    st->evm_tip[0] = '0', st->evm_tip[1] = 'x';
    util_hex(st->evm_tip + 2, tip, 32);
    st->evm_height = (int64_t)(first + n - 1);
}

/* ---------------- migrations ---------------- */

/* The migration's SQL for the dialect: {ID} as its auto-numbered key (SQLite's rowid, a
 * PostgreSQL identity column). On PostgreSQL INTEGER becomes BIGINT: SQLite's INTEGER holds 64
 * bits (trace_runs.hops holds taint's "no limit", 2^32 - 1), PostgreSQL's 32. */
static char *dialect(const char *sql, int kind)
{
    util_buf b = {0};
    int pg = kind == SQLDB_PG;
    const char *id =
        pg ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY";
    for (const char *p = sql; *p;) {
        const char *q = strstr(p, "{ID}"), *w = pg ? strstr(p, " INTEGER") : NULL;
        const char *at = q && (!w || q < w) ? q : w;
        size_t n = at ? (size_t)(at - p) : strlen(p);
        if (util_buf_append(&b, p, n)) goto oom;
        if (!at) break;
        const char *rep = at == q ? id : " BIGINT";
        if (util_buf_append(&b, rep, strlen(rep))) goto oom;
        p = at + (at == q ? 4 : 8);
    }
    if (util_buf_append(&b, "", 1)) goto oom;
    return (char *)b.data;
oom:
    util_buf_free(&b);
    return NULL;
}

const char *case_version_table(const sqldb *sql)
{
    return sqldb_kind(sql) == SQLDB_PG ? "case_schema_version" : "schema_version";
}

static int sql_failed(sqldb *sql, const char *path, const char *what, util_err *err)
{
    return util_errf(err, sqldb_errcode(sql), "%s: %s: %s", path, what, sqldb_errmsg(sql));
}

static int migrate_in_tx(sqldb *sql, const char *path, const case_migration *list, size_t n,
                         size_t *ran, util_err *err)
{
    const char *vt = case_version_table(sql);
    char q[256];
    snprintf(q, sizeof q,
             "CREATE TABLE IF NOT EXISTS %s (version INTEGER PRIMARY KEY,"
             " name TEXT NOT NULL, applied_at TEXT NOT NULL)",
             vt);
    if (sqldb_exec(sql, q, err)) return sql_failed(sql, path, "SQL", err);
    sqldb_stmt *st = NULL;
    int64_t have = 0;
    snprintf(q, sizeof q, "SELECT COALESCE(MAX(version), 0) FROM %s", vt);
    if (sqldb_prepare(sql, &st, q, err) || sqldb_step(st) != SQLDB_ROW) {
        sqldb_finalize(st);
        return sql_failed(sql, path, vt, err);
    }
    have = sqldb_column_int64(st, 0);
    sqldb_finalize(st);
    int newest = n ? list[n - 1].version : 0;
    if (have > newest)
        return util_errf(err, UTIL_EFORMAT,
                         "%s: schema version %" PRId64
                         ", newer than this cointrail knows (%d): use "
                         "a newer cointrail",
                         path, have, newest);
    int pg = sqldb_kind(sql) == SQLDB_PG;
    for (size_t i = 0; i < n; i++) {
        if (list[i].version <= have) continue;
        char *text = dialect(list[i].sql, sqldb_kind(sql));
        if (!text) return util_errf(err, UTIL_ENOMEM, "out of memory");
        int rc = sqldb_exec(sql, text, err);
        free(text);
        const char *rest = pg ? list[i].pg_sql : list[i].sqlite_sql;
        if (!rc && rest) rc = sqldb_exec(sql, rest, err);
        if (rc) {
            sql_failed(sql, path, "SQL", err);
            return util_err_prefix(err, "migration %d (%s)", list[i].version, list[i].name);
        }
        char now[32];
        case_now(now);
        snprintf(q, sizeof q, "INSERT INTO %s (version, name, applied_at) VALUES (?, ?, ?)", vt);
        if (sqldb_prepare(sql, &st, q, err)) return sql_failed(sql, path, vt, err);
        sqldb_bind_int(st, 1, list[i].version);
        case_bind_text(st, 2, list[i].name);
        case_bind_text(st, 3, now);
        rc = sqldb_step(st) != SQLDB_DONE ? sql_failed(sql, path, vt, err) : 0;
        sqldb_finalize(st);
        if (rc) return rc;
        if (ran) (*ran)++;
    }
    return 0;
}

int case_migrate(sqldb *sql, const char *path, const case_migration *list, size_t n, size_t *ran,
                 util_err *err)
{
    if (ran) *ran = 0;
    /* Two processes opening a new database at once run each migration once, the second finding
     * the first's version recorded: SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock (a
     * transaction-scoped one: it goes with the transaction, whatever ends it). */
    int rc = sqldb_begin(sql, CASE_PG_MIGRATION_LOCK, err);
    if (rc) return sql_failed(sql, path, "begin", err);
    rc = migrate_in_tx(sql, path, list, n, ran, err);
    if (!rc && sqldb_commit(sql, err)) rc = sql_failed(sql, path, "commit", err);
    if (rc) sqldb_rollback(sql);
    if (rc && ran) *ran = 0;
    return rc;
}

/* ---------------- open and close ---------------- */

int case_db_open(case_db **out, const char *store_dir, unsigned flags, util_err *err)
{
    return case_db_open_at(out, store_dir, NULL, flags, err);
}

int case_db_open_at(case_db **out, const char *store_dir, const char *state_url, unsigned flags,
                    util_err *err)
{
    *out = NULL;
    struct stat sb;
    int pg = state_url && *state_url;
    if (pg && !sqldb_is_pg_url(state_url))
        return util_errf(err, UTIL_EINVAL,
                         "--state: cases live in PostgreSQL (postgresql://...) or, without "
                         "--state, in DIR/%s; '%s' is neither",
                         CASE_DB_FILE, state_url);
    if (!pg && (stat(store_dir, &sb) || !S_ISDIR(sb.st_mode)))
        return util_errf(err, UTIL_ENOTFOUND, "%s: not a store directory", store_dir);
    case_db *db = calloc(1, sizeof *db);
    if (!db) return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (strlen(store_dir) >= sizeof db->dir) {
        free(db);
        return util_errf(err, UTIL_EINVAL, "%s: path too long", store_dir);
    }
    snprintf(db->dir, sizeof db->dir, "%s", store_dir);
    if (pg)
        sqldb_shown_url(state_url, db->path, sizeof db->path);
    else
        snprintf(db->path, sizeof db->path, "%s/%s", store_dir, CASE_DB_FILE);
    if (!pg && !(flags & CASE_OPEN_CREATE) && stat(db->path, &sb)) {
        int rc = util_errf(err, UTIL_ENOTFOUND, "%s: no cases yet (`cointrail case new` makes one)",
                           db->path);
        free(db);
        return rc;
    }
    pthread_mutex_init(&db->mu, NULL);
    int rc;
    if (pg) {
        /* one PostgreSQL database holds every replica's cases: nothing here is per store */
        rc = sqldb_open_pg(&db->sql, state_url, NULL, CASE_BUSY_MS, err);
    } else {
        rc = sqldb_open_sqlite(&db->sql, db->path, (flags & CASE_OPEN_CREATE) ? SQLDB_CREATE : 0,
                               CASE_BUSY_MS, err);
        /* WAL: readers never wait for the writer; synchronous FULL: a committed row (evidence)
         * survives a power cut, not only a crash of the process. */
        if (!rc && ((rc = case_sql_exec(db, "PRAGMA journal_mode=WAL", err)) ||
                    (rc = case_sql_exec(db, "PRAGMA synchronous=FULL", err)) ||
                    (rc = case_sql_exec(db, "PRAGMA foreign_keys=ON", err))))
            goto fail;
    }
    if (rc) goto fail;
    if ((rc = case_migrate(db->sql, db->path, case_migrations, case_n_migrations, NULL, err)))
        goto fail;
    *out = db;
    return 0;
fail:
    sqldb_close(db->sql);
    pthread_mutex_destroy(&db->mu);
    free(db);
    return rc;
}

void case_db_close(case_db *db)
{
    if (!db) return;
    sqldb_close(db->sql);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

const char *case_db_backend(const case_db *db)
{
    return sqldb_kind_name(db->sql);
}

int case_db_schema_version(case_db *db, int *version, util_err *err)
{
    pthread_mutex_lock(&db->mu);
    sqldb_stmt *st;
    char q[128];
    snprintf(q, sizeof q, "SELECT COALESCE(MAX(version), 0) FROM %s", case_version_table(db->sql));
    int rc = case_sql_prep(db, &st, q, err);
    if (!rc) {
        if (sqldb_step(st) == SQLDB_ROW)
            *version = sqldb_column_int(st, 0);
        else
            rc = case_sql_fail(db, "schema_version", err);
        sqldb_finalize(st);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int case_exists(case_db *db, int64_t id, util_err *err)
{
    sqldb_stmt *st;
    int rc = case_sql_prep(db, &st, "SELECT 1 FROM cases WHERE id = ?", err);
    if (rc) return rc;
    sqldb_bind_int64(st, 1, id);
    int s = sqldb_step(st);
    if (s == SQLDB_DONE)
        rc = util_errf(err, UTIL_ENOTFOUND, "case %" PRId64 " does not exist", id);
    else if (s != SQLDB_ROW)
        rc = case_sql_fail(db, "cases", err);
    sqldb_finalize(st);
    return rc;
}

/* ---------------- the audit log ---------------- */

static void hash_field(crypto_sha256_ctx *h, const char *s)
{
    char len[24];
    int n = snprintf(len, sizeof len, "%zu:", strlen(s));
    crypto_sha256_update(h, len, (size_t)n);
    crypto_sha256_update(h, s, strlen(s));
}

static void hash_int(crypto_sha256_ctx *h, int64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRId64, v);
    hash_field(h, t);
}

/* The hash of a row: every field, length-prefixed so that no two rows give the same bytes. */
static void audit_hash(char out[65], const char *prev, int64_t id, int64_t case_id, const char *at,
                       const char *analyst, const char *action, const char *command,
                       const char *detail, const case_state *s)
{
    crypto_sha256_ctx h;
    crypto_sha256_init(&h);
    hash_field(&h, prev);
    hash_int(&h, id);
    hash_int(&h, case_id);
    hash_field(&h, at);
    hash_field(&h, analyst);
    hash_field(&h, action);
    hash_field(&h, command);
    hash_field(&h, detail);
    hash_field(&h, s->btc_tip);
    hash_int(&h, s->btc_height);
    hash_field(&h, s->evm_chain);
    hash_field(&h, s->evm_tip);
    hash_int(&h, s->evm_height);
    uint8_t d[32];
    crypto_sha256_final(&h, d);
    util_hex(out, d, 32);
}

int case_audit_json(case_db *db, const case_origin *who, int64_t case_id, const char *action,
                    json_t *d, util_err *err)
{
    char *dt = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!dt) return util_errf(err, UTIL_ENOMEM, "out of memory");
    int rc = case_audit_insert(db, who, case_id, action, dt, err);
    free(dt);
    return rc;
}

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

int case_audit_insert(case_db *db, const case_origin *who, int64_t case_id, const char *action,
                      const char *detail, util_err *err)
{
    sqldb_stmt *st;
    int rc = case_sql_prep(db, &st, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", err);
    if (rc) return rc;
    int64_t id = 1;
    char prev[65];
    snprintf(prev, sizeof prev, "%s", zero_hash);
    int s = sqldb_step(st);
    if (s == SQLDB_ROW) {
        id = sqldb_column_int64(st, 0) + 1;
        const char *h = sqldb_column_text(st, 1);
        snprintf(prev, sizeof prev, "%s", h ? h : "");
    } else if (s != SQLDB_DONE)
        rc = case_sql_fail(db, "audit_log", err);
    sqldb_finalize(st);
    if (rc) return rc;
    char at[32], hash[65];
    case_now(at);
    if (!detail) detail = "{}";
    const char *command = who->command ? who->command : "";
    audit_hash(hash, prev, id, case_id, at, who->analyst, action, command, detail, &who->state);
    if ((rc = case_sql_prep(db, &st,
                            "INSERT INTO audit_log (id, case_id, created_at, analyst, action,"
                            " command, detail, btc_tip, btc_height, evm_chain, evm_tip, evm_height,"
                            " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            err)))
        return rc;
    sqldb_bind_int64(st, 1, id);
    if (case_id > 0)
        sqldb_bind_int64(st, 2, case_id);
    else
        sqldb_bind_null(st, 2);
    case_bind_text(st, 3, at);
    case_bind_text(st, 4, who->analyst);
    case_bind_text(st, 5, action);
    case_bind_text(st, 6, command);
    case_bind_text(st, 7, detail);
    case_state_bind(st, 8, &who->state);
    case_bind_text(st, 13, prev);
    case_bind_text(st, 14, hash);
    if (sqldb_step(st) != SQLDB_DONE) rc = case_sql_fail(db, "audit_log", err);
    sqldb_finalize(st);
    return rc;
}

int case_audit_add(case_db *db, const case_origin *who, int64_t case_id, const char *action,
                   const char *detail, util_err *err)
{
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    size_t n = action ? strlen(action) : 0;
    if (!n || n > 64 ||
        strspn(action, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789._-") != n)
        return util_errf(err, UTIL_EINVAL, "field action: a dotted word of at most 64 bytes");
    if (detail) {
        json_error_t je;
        json_t *j = json_loads(detail, 0, &je);
        int obj = json_is_object(j);
        json_decref(j);
        if (!obj) return util_errf(err, UTIL_EINVAL, "field detail: not a JSON object");
        if ((rc = case_check_text("detail", detail, CASE_MAX_LONG, 1, 0, err))) return rc;
    }
    pthread_mutex_lock(&db->mu);
    if (!(rc = case_begin(db, err))) {
        if (case_id > 0) rc = case_exists(db, case_id, err);
        if (!rc) rc = case_audit_insert(db, who, case_id, action, detail, err);
        rc = rc ? (case_rollback(db), rc) : case_commit(db, err);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int case_audit_verify(case_db *db, int *ok, int64_t *bad_id, util_err *err)
{
    *ok = 1;
    if (bad_id) *bad_id = 0;
    pthread_mutex_lock(&db->mu);
    sqldb_stmt *st;
    int rc =
        case_sql_prep(db, &st,
                      "SELECT id, COALESCE(case_id, 0), created_at, analyst, action, command,"
                      " detail, btc_tip, btc_height, evm_chain, evm_tip, evm_height, prev_hash,"
                      " hash FROM audit_log ORDER BY id",
                      err);
    if (rc) goto out;
    char prev[65];
    snprintf(prev, sizeof prev, "%s", zero_hash);
    int s;
    while ((s = sqldb_step(st)) == SQLDB_ROW) {
#define T(i) (sqldb_column_text(st, i) ? sqldb_column_text(st, i) : "")
        case_state cs;
        case_state_read(st, 7, &cs);
        char h[65];
        int64_t id = sqldb_column_int64(st, 0);
        audit_hash(h, prev, id, sqldb_column_int64(st, 1), T(2), T(3), T(4), T(5), T(6), &cs);
        if (strcmp(prev, T(12)) || strcmp(h, T(13))) {
            *ok = 0;
            if (bad_id) *bad_id = id;
            break;
        }
        snprintf(prev, sizeof prev, "%s", T(13));
#undef T
    }
    if (*ok && s != SQLDB_DONE) rc = case_sql_fail(db, "audit_log", err);
    sqldb_finalize(st);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}
