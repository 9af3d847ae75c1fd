/* test_sqldb: the SQL layer src/case and src/state share. "?" and "?N" become PostgreSQL's "$N"
 * outside quoted text only; on SQLite "$N" parameters bind by their number whatever order the
 * SQL uses them in, a parameter the SQL does not use is ignored, NULL binds SQL NULL; rows,
 * changes, the error of a refused change (a trigger: UTIL_EINVAL; a unique key: flagged), and a
 * transaction rolled back leaving nothing. (PostgreSQL itself: tests/e2e_case.sh pg,
 * e2e_incident.sh pg, e2e_cases_pg.sh, e2e_state.sh.) */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sqldb/sqldb.h"

static void test_params(void)
{
    int n = -1;
    char *s =
        sqldb_pg_params("SELECT ? , '?', \"a?\", ?, ?5, ? FROM t WHERE x = 'it''s ?' AND ?", &n);
    CHECK_STR(s, "SELECT $1 , '?', \"a?\", $2, $5, $6 FROM t WHERE x = 'it''s ?' AND $7");
    CHECK(n == 7);
    free(s);
    s = sqldb_pg_params("UPDATE t SET a = $2 WHERE id = $1", &n);
    CHECK_STR(s, "UPDATE t SET a = $2 WHERE id = $1");
    CHECK(n == 2);
    free(s);
    char big[4000];
    memset(big, '?', sizeof big - 1);
    big[sizeof big - 1] = 0;
    s = sqldb_pg_params(big, &n);
    CHECK(s && n == 3999 && strstr(s, "$3999") && !strchr(s, '?'));
    free(s);
    char shown[200];
    sqldb_shown_url("postgresql://ann:secret@db.example/cases", shown, sizeof shown);
    CHECK_STR(shown, "postgresql://ann:***@db.example/cases");
    CHECK(sqldb_is_pg_url("postgres://x") && sqldb_is_pg_url("postgresql://x") &&
          !sqldb_is_pg_url("sqlite:/x") && !sqldb_is_pg_url(NULL));
}

static void test_sqlite(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/t.sqlite", dir);
    sqldb *db = NULL;
    util_err err = {0};
    CHECK(sqldb_open_sqlite(&db, p, 0, 100, &err) != 0 && !db); /* no file, no CREATE */
    CHECK(sqldb_open_sqlite(&db, p, SQLDB_CREATE, 100, &err) == 0 && db);
    if (!db) return;
    CHECK_STR(sqldb_kind_name(db), "sqlite");
    CHECK(sqldb_exec(db,
                     "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER UNIQUE);"
                     "CREATE TRIGGER t_no_delete BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, "
                     "'t is append-only'); END;",
                     &err) == 0);
    sqldb_stmt *st = NULL;
    CHECK(sqldb_prepare(db, &st, "INSERT INTO t (b, a) VALUES ($2, $1) RETURNING id", &err) == 0);
    CHECK(sqldb_bind_parameter_count(st) == 2);
    CHECK(sqldb_bind_text(st, 1, "one") == 0 && sqldb_bind_int64(st, 2, 10) == 0);
    CHECK(sqldb_bind_text(st, 3, "unused") == 0);
    CHECK(sqldb_step(st) == SQLDB_ROW && sqldb_column_int64(st, 0) == 1);
    CHECK(sqldb_step(st) == SQLDB_DONE && sqldb_changes(db) == 1);
    sqldb_reset(st);
    CHECK(sqldb_bind_null(st, 1) == 0 && sqldb_bind_int(st, 2, 20) == 0);
    CHECK(sqldb_step(st) == SQLDB_ROW && sqldb_column_int64(st, 0) == 2);
    sqldb_reset(st);
    CHECK(sqldb_step(st) < 0 && sqldb_err_unique(db)); /* b = 20 again */
    sqldb_finalize(st);
    CHECK(sqldb_prepare(db, &st, "SELECT a, b, b > 15 FROM t ORDER BY id", &err) == 0);
    CHECK(sqldb_step(st) == SQLDB_ROW && !strcmp(sqldb_column_text(st, 0), "one") &&
          sqldb_column_int(st, 1) == 10 && sqldb_column_int(st, 2) == 0);
    CHECK(sqldb_step(st) == SQLDB_ROW && !sqldb_column_text(st, 0) && sqldb_column_int(st, 2) == 1);
    CHECK(sqldb_step(st) == SQLDB_DONE);
    sqldb_finalize(st);
    CHECK(sqldb_exec(db, "DELETE FROM t", &err) == UTIL_EINVAL && strstr(err.msg, "append-only"));
    CHECK(sqldb_begin(db, 0, &err) == 0 && sqldb_in_tx(db));
    CHECK(sqldb_exec(db, "INSERT INTO t (a, b) VALUES ('gone', 30)", &err) == 0);
    sqldb_rollback(db);
    CHECK(!sqldb_in_tx(db));
    CHECK(sqldb_prepare(db, &st, "SELECT COUNT(*) FROM t", &err) == 0);
    CHECK(sqldb_step(st) == SQLDB_ROW && sqldb_column_int64(st, 0) == 2);
    sqldb_finalize(st);
    CHECK(sqldb_prepare(db, &st, "SELECT nosuch FROM t", &err) != 0 && !st);
    CHECK(strstr(err.msg, "t.sqlite") && strstr(err.msg, "nosuch"));
    sqldb_close(db);
    unlink(p);
}

int main(void)
{
    char dir[] = "/tmp/test_sqldb.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_params();
    test_sqlite(dir);
    rmdir(dir);
    return CHECK_DONE();
}
