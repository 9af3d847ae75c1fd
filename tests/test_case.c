/* test_case: the case database. Migrations run once (also when several threads open a new file
 * at once), a failing migration leaves nothing behind, a newer schema is refused; the evidence
 * tables refuse UPDATE and DELETE in the database itself and the audit log's hash chain finds
 * a row changed behind the triggers' back; every change and query has exactly one audit row
 * and a refused call has none; seeds are checked against the store; a run records what
 * trace_compute gives for the same seeds and options (totals, endpoints, the document); an
 * analyst label reaches labels.db; threads writing at once lose nothing; the HTML report
 * escapes hostile text and the CSV defuses formulas. */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "case/case.h"
#include "case/case_int.h"
#include "check.h"
#include "fixture.h"
#include "gen/gen.h"

static case_origin who(const char *analyst, const char *command)
{
    case_origin o = {.analyst = analyst, .command = command};
    case_state_init(&o.state);
    return o;
}

/* A query's single integer answer on a raw connection to DIR/cases.sqlite (-1 on error). */
static int64_t q1(const char *dir, const char *sql)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, CASE_DB_FILE);
    sqlite3 *db;
    int64_t v = -1;
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* A query's single text answer (PRAGMA journal_mode, integrity_check) into out. */
static const char *qtext(const char *dir, const char *sql, char out[64])
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, CASE_DB_FILE);
    sqlite3 *db;
    snprintf(out, 64, "(error)");
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            snprintf(out, 64, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

/* Run sql on a raw connection: the SQLite result code. */
static int raw_exec(const char *dir, const char *sql)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, CASE_DB_FILE);
    sqlite3 *db;
    int rc = sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* ---------------- migrations ---------------- */

static void test_migrations(const char *tmp)
{
    char p[600];
    snprintf(p, sizeof p, "%s/mig.sqlite", tmp);
    sqldb *db = NULL;
    util_err err = {0};
    CHECK(sqldb_open_sqlite(&db, p, SQLDB_CREATE, 1000, &err) == 0);
    if (!db) return;
    case_migration list[] = {
        {1, "one", "CREATE TABLE a (id {ID}, x TEXT NOT NULL)", NULL, NULL},
        {2, "two", "CREATE TABLE b (id {ID})",
         "CREATE TRIGGER b_t BEFORE DELETE ON b"
         " BEGIN SELECT RAISE(ABORT, 'no'); END",
         NULL},
        {3, "bad", "CREATE TABLE c (id {ID}); SELECT nosuch FROM nowhere", NULL, NULL},
    };
    size_t ran = 99;
    CHECK(case_migrate(db, p, list, 2, &ran, &err) == 0 && ran == 2);
    CHECK(case_migrate(db, p, list, 2, &ran, &err) == 0 && ran == 0); /* once */
    /* a failing migration: an error, and neither its table nor its version stays */
    CHECK(case_migrate(db, p, list, 3, &ran, &err) != 0 && ran == 0);
    CHECK(strstr(err.msg, "migration 3") != NULL);
    sqldb_stmt *st;
    CHECK(sqldb_prepare(db, &st,
                        "SELECT (SELECT MAX(version) FROM schema_version),"
                        " (SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'),"
                        " (SELECT COUNT(*) FROM schema_version)",
                        &err) == 0);
    CHECK(sqldb_step(st) == SQLDB_ROW && sqldb_column_int(st, 0) == 2 &&
          sqldb_column_int(st, 1) == 0 && sqldb_column_int(st, 2) == 2);
    sqldb_finalize(st);
    /* a program that knows fewer migrations than the file has refuses it */
    CHECK(case_migrate(db, p, list, 1, &ran, &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "newer") != NULL);
    sqldb_close(db);

    /* the real schema: version 1, and a file from the future is refused at open */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/future", tmp);
    mkdir(dir, 0755);
    case_db *cdb = NULL;
    CHECK(case_db_open(&cdb, dir, 0, &err) == UTIL_ENOTFOUND && !cdb);
    CHECK(case_db_open(&cdb, dir, CASE_OPEN_CREATE, &err) == 0);
    int v = 0;
    CHECK(case_db_schema_version(cdb, &v, &err) == 0 && v == CASE_SCHEMA_VERSION);
    case_db_close(cdb);
    char t[64];
    CHECK_STR(qtext(dir, "PRAGMA journal_mode", t), "wal");
    CHECK(raw_exec(dir, "INSERT INTO schema_version VALUES (99, 'future', 'x')") == SQLITE_OK);
    CHECK(case_db_open(&cdb, dir, 0, &err) == UTIL_EFORMAT && !cdb);
}

/* A database of schema 1 (cases only) is brought to schema 2 on open: its case and audit rows
 * stay as they were, the incident tables exist, and an imported incident owns a new case. */
static void test_upgrade(const char *tmp)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s/v1", tmp);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/%s", dir, CASE_DB_FILE);
    sqldb *db = NULL;
    util_err err = {0};
    CHECK(sqldb_open_sqlite(&db, p, SQLDB_CREATE, 1000, &err) == 0);
    CHECK(db && case_migrate(db, p, case_migrations, 1, NULL, &err) == 0);
    sqldb_close(db);
    case_db *cdb = NULL;
    /* the version-1 file only has cases: make one through a program of version 1's SQL */
    CHECK(raw_exec(dir, "INSERT INTO cases (title, incident_date, victim, chains, description,"
                        " status, created_by, created_at) VALUES ('old', '', '', '', '', 'open',"
                        " 'x', 'y')") == SQLITE_OK);
    CHECK(q1(dir, "SELECT MAX(version) FROM schema_version") == 1);
    CHECK(case_db_open(&cdb, dir, 0, &err) == 0);
    CHECK(q1(dir, "SELECT MAX(version) FROM schema_version") == CASE_SCHEMA_VERSION);
    CHECK(q1(dir, "SELECT COUNT(*) FROM case_graph_steps") == 0); /* version 3's table */
    CHECK(q1(dir, "SELECT COUNT(*) FROM cases WHERE title = 'old' AND incident_id IS NULL") == 1);
    char csv[700];
    snprintf(csv, sizeof csv, "%s/inc.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs("id,date,victim,chains,amount_fiat,attribution\n"
          "a-1,2021-05,Victim,bitcoin;ethereum,5.5 USD,Lazarus Group;APT38\n",
          f);
    fclose(f);
    case_origin o = who("ann", "test");
    case_stores st = {.dir = dir};
    const char *paths[] = {csv};
    case_import_report r;
    CHECK(case_incident_import(cdb, &o, &st, paths, 1, 0, &r, &err) == 0 && r.added == 1);
    CHECK(q1(dir, "SELECT COUNT(*) FROM cases c JOIN incidents i ON c.incident_id = i.id"
                  " WHERE i.slug = 'a-1' AND c.chains = 'btc,eth'") == 1);
    CHECK(q1(dir, "SELECT COUNT(*) FROM incident_attributions") == 2);
    case_incident inc;
    CHECK(case_incident_get(cdb, &o, "a-1", &inc, &err) == 0);
    CHECK_STR(inc.usd, "5.5");
    CHECK_STR(inc.chains, "btc,eth");
    CHECK(inc.n_attrs == 2 && inc.attrs[1].confidence == -1);
    CHECK_STR(inc.attrs[1].actor, "APT38");
    case_incident_free(&inc);
    CHECK(case_incident_get(cdb, &o, "nope", &inc, &err) == UTIL_ENOTFOUND);
    /* traces are evidence: append-only, and incidents are never deleted */
    CHECK(raw_exec(dir, "DELETE FROM incidents") != SQLITE_OK);
    case_db_close(cdb);
}

/* The case graph (the web UI's): steps saved with their audit rows, read back from the last
 * start, a read-only caller's step audited but not saved, bad steps refused with nothing
 * written, the table append-only, and the audit chain intact. */
static void test_graph(const char *tmp)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/graph", tmp);
    mkdir(dir, 0755);
    case_db *db = NULL;
    util_err err = {0};
    CHECK(case_db_open(&db, dir, CASE_OPEN_CREATE, &err) == 0);
    if (!db) return;
    case_origin w = who("ana", "POST /v1/graph/expand");
    snprintf(w.state.btc_tip, sizeof w.state.btc_tip, "%064d", 5);
    w.state.btc_height = 77;
    int64_t id = 0, step = 0;
    case_new cn = {.title = "graph"};
    CHECK(case_create(db, &w, &cn, &id, &err) == 0);
    case_graph_step *v = NULL;
    size_t n = 9;
    CHECK(case_graph_get(db, &w, id, &v, &n, &err) == 0 && n == 0 && !v);
    /* a first graph, then a new start: the saved graph is the second one only */
    case_graph_step_new a[] = {
        {"start", NULL, "aa:0", NULL, "haircut", "{\"nodes\": 2}"},
        {"expand", "e1", NULL, "forward", "haircut", NULL},
        {"start", NULL, "bb", NULL, "poison", NULL},
        {"expand", "e7", NULL, "backward", "poison", "{\"nodes\": 3, \"from\": [\"e7\"]}"},
        {"expand", "a:bc1qxyz", NULL, "forward", "fifo", NULL},
        {"collapse", "e7", NULL, NULL, NULL, NULL},
    };
    int64_t first = 0;
    for (size_t i = 0; i < sizeof a / sizeof *a; i++) {
        CHECK(case_graph_step_add(db, &w, id, &a[i], 1, &step, &err) == 0 && step > 0);
        if (!first) first = step;
    }
    CHECK(case_graph_get(db, &w, id, &v, &n, &err) == 0 && n == 4);
    if (n == 4) {
        CHECK_STR(v[0].op, "start");
        CHECK_STR(v[0].spec, "bb");
        CHECK_STR(v[0].policy, "poison");
        CHECK_STR(v[1].node, "e7");
        CHECK_STR(v[1].direction, "backward");
        CHECK_STR(v[1].detail, "{\"nodes\": 3, \"from\": [\"e7\"]}");
        CHECK_STR(v[2].node, "a:bc1qxyz");
        CHECK_STR(v[3].op, "collapse");
        CHECK_STR(v[3].analyst, "ana");
        CHECK(v[3].state.btc_height == 77 && v[3].id == first + 5);
        CHECK(!strncmp(v[3].state.btc_tip, "0000", 4));
    }
    case_graph_steps_free(v, n);
    /* each step is an audit row with who, what node and the store state; the read too */
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE action = 'graph.expand' AND analyst ="
                  " 'ana' AND btc_height = 77 AND detail LIKE '%\"node\":\"e7\"%'"
                  " AND detail LIKE '%\"saved\":true%'") == 1);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE action = 'graph.start'") == 2);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE action = 'graph.collapse'") == 1);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE action = 'graph.read'") == 2);
    /* a reader's expansion: audited, not saved */
    case_origin rd = who("reader", "POST /v1/graph/expand");
    case_graph_step_new e9 = {"expand", "e9", NULL, "forward", "haircut", NULL};
    CHECK(case_graph_step_add(db, &rd, id, &e9, 0, &step, &err) == 0 && step == 0);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE analyst = 'reader' AND action ="
                  " 'graph.expand' AND detail LIKE '%\"saved\":false%'") == 1);
    CHECK(q1(dir, "SELECT COUNT(*) FROM case_graph_steps WHERE node = 'e9'") == 0);
    /* refused steps name the field and write nothing */
    int64_t rows = q1(dir, "SELECT COUNT(*) FROM audit_log");
    case_graph_step_new bad[] = {
        {"delete", "e1", NULL, NULL, NULL, NULL},
        {"expand", "", NULL, "forward", "haircut", NULL},
        {"expand", "e1", NULL, "sideways", "haircut", NULL},
        {"expand", "e1", NULL, "forward", "lifo", NULL},
        {"start", NULL, "", NULL, "haircut", NULL},
        {"start", "e1", "aa", NULL, "haircut", NULL},
        {"collapse", "e1", NULL, "forward", NULL, NULL},
        {"expand", "e1", NULL, "forward", "haircut", "[1]"},
        {"expand", "e\x1b[2J", NULL, "forward", "haircut", NULL},
    };
    const char *field[] = {"op",   "node",      "direction", "policy", "spec",
                           "node", "direction", "detail",    "node"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(case_graph_step_add(db, &w, id, &bad[i], 1, &step, &err) == UTIL_EINVAL);
        CHECK(strstr(err.msg, field[i]) != NULL);
    }
    CHECK(case_graph_step_add(db, &w, id + 1, &a[1], 1, &step, &err) == UTIL_ENOTFOUND);
    CHECK(case_graph_get(db, &w, id + 1, &v, &n, &err) == UTIL_ENOTFOUND);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log") == rows);
    /* evidence: append-only, and the chain verifies */
    CHECK(raw_exec(dir, "UPDATE case_graph_steps SET node = 'x'") != SQLITE_OK);
    CHECK(raw_exec(dir, "DELETE FROM case_graph_steps") != SQLITE_OK);
    int ok = 0;
    CHECK(case_audit_verify(db, &ok, NULL, &err) == 0 && ok);
    case_db_close(db);
}

/* Several threads open one new database at once: each migration runs once. */
typedef struct opener {
    const char *dir;
    int rc;
} opener;

static void *open_one(void *arg)
{
    opener *o = arg;
    case_db *db;
    util_err err = {0};
    o->rc = case_db_open(&db, o->dir, CASE_OPEN_CREATE, &err);
    if (!o->rc) case_db_close(db);
    return NULL;
}

static void test_concurrent_open(const char *tmp)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/race", tmp);
    mkdir(dir, 0755);
    pthread_t t[4];
    opener o[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (opener){dir, -99};
        pthread_create(&t[i], NULL, open_one, &o[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(o[i].rc == 0);
    }
    CHECK(q1(dir, "SELECT COUNT(*) FROM schema_version") == (int64_t)case_n_migrations);
    CHECK(q1(dir, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'") == 24);
}

/* ---------------- cases, audit, append-only ---------------- */

static void test_cases(const char *tmp)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/cases", tmp);
    mkdir(dir, 0755);
    case_db *db = NULL;
    util_err err = {0};
    CHECK(case_db_open(&db, dir, CASE_OPEN_CREATE, &err) == 0);
    if (!db) return;
    case_origin w = who("alice", "cointrail case new --title T");
    snprintf(w.state.btc_tip, sizeof w.state.btc_tip, "%064d", 7);
    w.state.btc_height = 41;
    int64_t id = 0;
    /* refused input: an error naming the field, and no row of any kind */
    case_new bad[] = {{.title = ""},
                      {.title = "t", .incident_date = "2021-13-01"},
                      {.title = "t", .incident_date = "yesterday"},
                      {.title = "t", .chains = "btc,b c"},
                      {.title = "a\x1b[2Jb"},
                      {.title = "t", .description = "ok\nbut\rnot"}};
    const char *field[] = {"title",  "incident_date", "incident_date",
                           "chains", "title",         "description"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(case_create(db, &w, &bad[i], &id, &err) == UTIL_EINVAL);
        CHECK(strstr(err.msg, field[i]) != NULL);
    }
    case_origin nobody = who("", "x");
    case_new good = {.title = "Theft <script>alert(1)</script>",
                     .incident_date = "2021-03-04T10:20Z",
                     .victim = "\"><img src=x onerror=alert(1)>",
                     .chains = "XBT, ETH",
                     .description = "two\nlines"};
    CHECK(case_create(db, &nobody, &good, &id, &err) == UTIL_EINVAL);
    CHECK(q1(dir, "SELECT COUNT(*) FROM cases") == 0 &&
          q1(dir, "SELECT COUNT(*) FROM audit_log") == 0);
    CHECK(case_create(db, &w, &good, &id, &err) == 0 && id == 1);
    case_new second = {.title = "second"};
    int64_t id2 = 0;
    CHECK(case_create(db, &w, &second, &id2, &err) == 0 && id2 == 2);

    case_info *list = NULL;
    size_t n = 0;
    CHECK(case_list(db, &w, &list, &n, &err) == 0 && n == 2);
    if (n == 2) {
        CHECK_STR(list[0].chains, "btc,eth");
        CHECK_STR(list[0].status, "open");
        CHECK_STR(list[1].created_by, "alice");
    }
    case_info_array_free(list, n);

    case_note note;
    CHECK(case_note_add(db, &w, id, "", &note, &err) == UTIL_EINVAL);
    CHECK(case_note_add(db, &w, 99, "x", &note, &err) == UTIL_ENOTFOUND);
    CHECK(case_note_add(db, &w, id, "first\tnote\nline two", &note, &err) == 0 && note.id == 1);
    case_note_free(&note);
    case_origin bob = who("bob", "cointrail case note 1 --text second");
    CHECK(case_note_add(db, &bob, id, "second", NULL, &err) == 0);

    /* labels: canonical address, category from the vocabulary, fed to labels.db */
    case_label_new ln = {.chain = "BTC",
                         .address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                         .category = "Exchange",
                         .actor = "=HYPERLINK(\"http://x\")",
                         .name = "javascript:alert(1)",
                         .confidence = 70,
                         .evidence = "reply from the exchange"};
    case_label lab;
    case_label_new badaddr = ln;
    badaddr.address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"; /* bad checksum */
    CHECK(case_label_add(db, &w, id, &badaddr, &lab, &err) == UTIL_EINVAL);
    CHECK(strstr(err.msg, "address") != NULL);
    case_label_new badconf = ln;
    badconf.confidence = 101;
    CHECK(case_label_add(db, &w, id, &badconf, &lab, &err) == UTIL_EINVAL);
    CHECK(case_label_add(db, &w, id, &ln, &lab, &err) == 0 && lab.id == 1);
    CHECK_STR(lab.chain, "btc");
    CHECK_STR(lab.category, "exchange");
    case_label_free(&lab);
    labels_db *ldb = NULL;
    CHECK(labels_db_open(&ldb, dir, 0, &err) == 0);
    const labels_label *found[4];
    size_t nf = 0;
    if (ldb) labels_find_any(ldb, "btc", ln.address, found, 4, &nf);
    CHECK(nf == 1);
    if (nf == 1) {
        CHECK_STR(found[0]->source, "case:1");
        CHECK_STR(found[0]->category, "exchange");
        CHECK_STR(found[0]->actor, ln.actor);
        CHECK(found[0]->confidence == 70);
    }
    labels_db_close(ldb);
    /* the same key again: the newer label wins in the label set, both stay in the case */
    ln.confidence = 90;
    CHECK(case_label_add(db, &w, id, &ln, NULL, &err) == 0);
    CHECK(labels_db_open(&ldb, dir, 0, &err) == 0);
    nf = 0;
    if (ldb) labels_find_any(ldb, "btc", ln.address, found, 4, &nf);
    CHECK(nf == 1 && found[0]->confidence == 90);
    labels_db_close(ldb);
    size_t fed = 0;
    CHECK(case_labels_feed(db, &fed, &err) == 0 && fed == 1);

    CHECK(case_audit_add(db, &w, id, "graph.expand", "{\"node\": \"e12\"}", &err) == 0);
    CHECK(case_audit_add(db, &w, id, "bad action!", NULL, &err) == UTIL_EINVAL);
    CHECK(case_audit_add(db, &w, id, "x", "[1]", &err) == UTIL_EINVAL);
    CHECK(case_audit_add(db, &w, 77, "x", NULL, &err) == UTIL_ENOTFOUND);

    /* the audit log: one row per change and query, in order, none for refused calls */
    case_full c;
    CHECK(case_get(db, &w, 77, &c, &err) == UTIL_ENOTFOUND);
    CHECK(case_get(db, &w, id, &c, &err) == 0);
    const char *actions[] = {"case.new",  "note.add",     "note.add", "label.add",
                             "label.add", "graph.expand", "case.read"};
    CHECK(c.n_audit == sizeof actions / sizeof *actions);
    for (size_t i = 0; i < c.n_audit && i < sizeof actions / sizeof *actions; i++) {
        CHECK_STR(c.audit[i].action, actions[i]);
        CHECK(c.audit[i].case_id == id);
        if (i && c.audit[i].id == c.audit[i - 1].id + 1) /* the chain runs over every case */
            CHECK_STR(c.audit[i].prev_hash, c.audit[i - 1].hash);
    }
    if (c.n_audit > 2) {
        CHECK_STR(c.audit[0].analyst, "alice");
        CHECK_STR(c.audit[2].analyst, "bob");
        CHECK_STR(c.audit[2].command, "cointrail case note 1 --text second");
        CHECK(c.audit[0].state.btc_height == 41 &&
              !strcmp(c.audit[0].state.btc_tip, w.state.btc_tip));
    }
    CHECK(c.audit_ok == 1 && c.n_notes == 2 && c.n_labels == 2);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log") == 9); /* + case 2's creation, the list */

    /* writers: hostile text only as text */
    char *html = NULL, *csv = NULL;
    size_t hl = 0, cl = 0;
    FILE *f = open_memstream(&html, &hl);
    CHECK(case_write_html(&c, f, &err) == 0);
    fclose(f);
    CHECK(html && !strstr(html, "<script") && !strstr(html, "<img") &&
          strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") &&
          strstr(html, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;") &&
          strstr(html, "Content-Security-Policy") && !strstr(html, "href="));
    json_t *doc = NULL;
    CHECK(case_full_json(&c, &doc, &err) == 0);
    CHECK(doc && json_array_size(json_object_get(doc, "audit")) == c.n_audit &&
          json_is_true(json_object_get(doc, "audit_verified")));
    json_decref(doc);
    /* the CSV of endpoints, with a run made by hand whose label text is a formula */
    case_endpoint ep = {.rank = 0,
                        .address = "bc1qexample",
                        .category = "exchange",
                        .actor = "=cmd|' /C calc'!A0",
                        .name = "say \"hi\"",
                        .asset = "BTC",
                        .amount = "12345",
                        .deposits = 2,
                        .hops = 3};
    case_run run = {.id = 5, .chain = "btc", .endpoints = &ep, .n_endpoints = 1};
    case_full fake = {.info = {.id = 9}, .runs = &run, .n_runs = 1};
    f = open_memstream(&csv, &cl);
    CHECK(case_write_csv(&fake, f, &err) == 0);
    fclose(f);
    CHECK(csv && strstr(csv, "9,5,\"btc\",0,\"bc1qexample\",\"exchange\",\"'=cmd|' /C "
                             "calc'!A0\",\"say \"\"hi\"\"\",\"BTC\",12345,2,3\r\n"));
    free(html), free(csv);
    case_full_free(&c);

    /* append-only in the database itself */
    const char *refused[] = {"UPDATE audit_log SET analyst = 'mallory'",
                             "DELETE FROM audit_log WHERE id = 1",
                             "UPDATE case_notes SET body = 'changed'",
                             "DELETE FROM case_notes",
                             "UPDATE case_labels SET confidence = 0",
                             "DELETE FROM cases",
                             "DELETE FROM case_labels"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK((raw_exec(dir, refused[i]) & 0xff) == SQLITE_CONSTRAINT);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE analyst = 'mallory'") == 0);
    CHECK(q1(dir, "SELECT COUNT(*) FROM case_notes") == 2);
    CHECK(raw_exec(dir, "UPDATE cases SET status = 'closed' WHERE id = 2") == SQLITE_OK);
    /* behind the triggers' back: the hash chain names the row */
    int ok = 1;
    int64_t bad_id = 0;
    CHECK(case_audit_verify(db, &ok, &bad_id, &err) == 0 && ok == 1);
    CHECK(raw_exec(dir, "DROP TRIGGER audit_log_no_update;"
                        " UPDATE audit_log SET analyst = 'mallory' WHERE id = 3") == SQLITE_OK);
    CHECK(case_audit_verify(db, &ok, &bad_id, &err) == 0 && ok == 0 && bad_id == 3);
    CHECK(case_get(db, &w, id, &c, &err) == 0 && c.audit_ok == 0 && c.audit_bad_id == 3);
    case_full_free(&c);
    case_db_close(db);
}

/* ---------------- threads ---------------- */

typedef struct writer {
    const char *dir;
    case_db *shared; /* NULL: open its own handle */
    int id, n, failed;
} writer;

static void *write_notes(void *arg)
{
    writer *wr = arg;
    case_db *db = wr->shared;
    util_err err = {0};
    if (!db && case_db_open(&db, wr->dir, 0, &err)) {
        wr->failed = wr->n;
        return NULL;
    }
    char name[32], text[64];
    snprintf(name, sizeof name, "analyst%d", wr->id);
    case_origin w = who(name, "thread");
    for (int i = 0; i < wr->n; i++) {
        snprintf(text, sizeof text, "note %d of %d", i, wr->id);
        if (case_note_add(db, &w, 1, text, NULL, &err)) wr->failed++;
        if (i % 5 == 0) {
            case_full c;
            if (case_get(db, &w, 1, &c, &err))
                wr->failed++;
            else
                case_full_free(&c);
        }
    }
    if (!wr->shared) case_db_close(db);
    return NULL;
}

static void test_threads(const char *tmp)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/threads", tmp);
    mkdir(dir, 0755);
    case_db *db = NULL;
    util_err err = {0};
    CHECK(case_db_open(&db, dir, CASE_OPEN_CREATE, &err) == 0);
    if (!db) return;
    case_origin w = who("lead", "setup");
    case_new c = {.title = "threads"};
    int64_t id;
    CHECK(case_create(db, &w, &c, &id, &err) == 0 && id == 1);
    enum { NT = 6, PER = 25 };
    pthread_t t[NT];
    writer wr[NT];
    for (int i = 0; i < NT; i++) { /* half with their own handle, half sharing one */
        wr[i] = (writer){dir, i % 2 ? db : NULL, i, PER, 0};
        pthread_create(&t[i], NULL, write_notes, &wr[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        CHECK(wr[i].failed == 0);
    }
    CHECK(q1(dir, "SELECT COUNT(*) FROM case_notes") == NT * PER);
    CHECK(q1(dir, "SELECT COUNT(DISTINCT id) FROM audit_log") ==
          1 + NT * PER + NT * ((PER + 4) / 5));
    char txt[64];
    CHECK_STR(qtext(dir, "PRAGMA integrity_check", txt), "ok");
    int ok = 0;
    CHECK(case_audit_verify(db, &ok, NULL, &err) == 0 && ok == 1);
    case_db_close(db);
}

/* ---------------- seeds and trace runs on a generated chain ---------------- */

static void test_chain(const char *tmp)
{
    char chain[600], dir[600], path[700];
    snprintf(chain, sizeof chain, "%s/chain", tmp);
    snprintf(dir, sizeof dir, "%s/db", tmp);
    gen_config cfg;
    gen_config_init(&cfg);
    cfg.out_dir = chain;
    cfg.seed = 11;
    cfg.blocks = 220;
    cfg.txs_per_block = 50;
    cfg.users = 300;
    cfg.maturity = 5;
    cfg.halving_interval = 50;
    cfg.era_start = 2019, cfg.era_end = 2024.3;
    cfg.scenarios = 1;
    util_err err = {0};
    CHECK(gen_run(&cfg, NULL, &err) == 0);
    CHECK(fixture_import(dir, chain) == 0);
    labels_db *ldb = NULL;
    CHECK(labels_db_open(&ldb, dir, LABELS_WRITE, &err) == 0);
    if (!ldb) return;
    labels_import_opts lo = {0};
    snprintf(path, sizeof path, "%s/labels.csv", chain);
    CHECK(labels_import_file(ldb, path, &lo, NULL, &err) == 0);
    CHECK(labels_db_save(ldb, &err) == 0);
    labels_db_close(ldb);
    store *s = NULL;
    CHECK(store_open(&s, dir, 0, &err) == 0);
    CHECK(labels_db_open(&ldb, dir, 0, &err) == 0);
    if (!s || !ldb) return;
    /* the theft's sources, from the truth */
    snprintf(path, sizeof path, "%s/truth.jsonl", chain);
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    json_t *sources = NULL;
    while (f && getline(&line, &cap, f) > 0)
        if (strstr(line, "\"kind\":\"scenario\"")) {
            json_t *sc = json_loads(line, 0, NULL);
            if (json_integer_value(json_object_get(sc, "stolen")) > 0)
                sources = json_incref(json_object_get(sc, "sources"));
            json_decref(sc);
        }
    free(line);
    if (f) fclose(f);
    CHECK(json_array_size(sources) > 0);

    case_db *db = NULL;
    CHECK(case_db_open(&db, dir, CASE_OPEN_CREATE, &err) == 0);
    if (!db || !json_array_size(sources)) return;
    case_origin w = who("alice", "test");
    case_state_btc(&w.state, s);
    CHECK(w.state.btc_height == 219 && strlen(w.state.btc_tip) == 64);
    case_new cn = {.title = "theft"};
    int64_t id;
    CHECK(case_create(db, &w, &cn, &id, &err) == 0);
    case_stores st = {.dir = dir, .btc = s, .labels = ldb};
    case_stores nobtc = {.dir = dir, .labels = ldb};
    case_seed seed;
    const char *src0 = json_string_value(json_array_get(sources, 0));
    CHECK(case_seed_add(db, &w, id, &nobtc, src0, NULL, &seed, &err) == UTIL_EINVAL);
    CHECK(case_seed_add(db, &w, id, &st,
                        "00000000000000000000000000000000000000000000000000000000"
                        "00000000:0",
                        NULL, &seed, &err) == UTIL_ENOTFOUND);
    CHECK(case_seed_add(db, &w, id, &st, "0xabc", NULL, &seed, &err) == UTIL_EINVAL);
    CHECK(case_seed_add(db, &w, id, &st, "entity:1", NULL, &seed, &err) == UTIL_EINVAL);
    /* every source, with the satoshis the store says */
    trace_seeds ts = {0};
    for (size_t i = 0; i < json_array_size(sources); i++) {
        const char *sp = json_string_value(json_array_get(sources, i));
        CHECK(case_seed_add(db, &w, id, &st, sp, "stolen output", &seed, &err) == 0);
        CHECK_STR(seed.kind, "outpoint");
        CHECK(seed.n_refs == 1);
        CHECK(trace_add_spec(&ts, s, sp, &err) == 0);
        char v[32];
        snprintf(v, sizeof v, "%" PRId64, store_out_value(s, ts.out[ts.n - 1]));
        CHECK_STR(seed.amount, v);
        case_seed_free(&seed);
    }
    CHECK(case_seed_add(db, &w, id, &st, src0, NULL, &seed, &err) == UTIL_EINVAL); /* twice */

    case_trace_req req = {0};
    trace_default_opts(&req.btc);
    req.btc.hops = 30;
    req.btc.policy = TRACE_FIFO;
    case_run run;
    CHECK(case_trace(db, &w, id, &nobtc, &req, &run, &err) == UTIL_EINVAL);
    CHECK(case_trace(db, &w, id, &st, &req, &run, &err) == 0);
    /* the same trace by the trace module itself */
    trace_result tr;
    CHECK(trace_compute(s, ldb, NULL, &ts, &req.btc, &tr, &err) == 0);
    trace_bucket b[TRACE_TOTALS_BUCKETS];
    trace_totals_buckets(&tr.totals, b);
    CHECK(run.n_totals == TRACE_TOTALS_BUCKETS && run.n_endpoints == tr.n_endpoints);
    for (size_t i = 0; i < run.n_totals && i < TRACE_TOTALS_BUCKETS; i++) {
        char v[32];
        snprintf(v, sizeof v, "%" PRIu64, b[i].value);
        CHECK_STR(run.totals[i].bucket, b[i].name);
        CHECK_STR(run.totals[i].amount, v);
    }
    for (size_t i = 0; i < run.n_endpoints && i < tr.n_endpoints; i++) {
        char a[128], v[32];
        snprintf(v, sizeof v, "%" PRIu64, tr.endpoints[i].amount);
        CHECK_STR(run.endpoints[i].address,
                  trace_result_address(&tr, tr.endpoints[i].address, a, sizeof a));
        CHECK_STR(run.endpoints[i].amount, v);
        CHECK_STR(run.endpoints[i].category, labels_db_get(ldb, tr.endpoints[i].label)->category);
    }
    json_t *doc = NULL, *rec = json_loads(run.result, 0, NULL);
    CHECK(trace_result_json(&tr, &doc, &err) == 0);
    CHECK(rec && json_equal(json_object_get(rec, "totals"), json_object_get(doc, "totals")) &&
          json_equal(json_object_get(rec, "endpoints"), json_object_get(doc, "endpoints")) &&
          !json_object_get(rec, "edges") && !json_object_get(rec, "txs"));
    json_decref(doc), json_decref(rec);
    trace_result_free(&tr);
    CHECK_STR(run.policy, "fifo");
    CHECK(run.hops == 30 && run.state.btc_height == 219 && strlen(run.labels_digest) == 64);
    CHECK(strstr(run.command, "cointrail trace --db ") && strstr(run.command, "--policy fifo") &&
          strstr(run.command, "--hops 30") && strstr(run.command, src0));
    /* a re-run on the same state gives the same numbers */
    case_run again;
    CHECK(case_trace_rerun(db, &w, run.id, &st, &again, &err) == 0 && again.rerun_of == run.id);
    case_run_diff d;
    case_run_compare(&run, &again, &d);
    CHECK(d.same_state && !d.totals_differ && !d.endpoints_only_a && !d.endpoints_only_b &&
          !d.endpoints_changed);
    /* another option: the comparison sees the difference */
    case_run other;
    req.btc.hops = 1;
    req.seed_ids = (int64_t[]){1};
    req.n_seed_ids = 1;
    CHECK(case_trace(db, &w, id, &st, &req, &other, &err) == 0);
    case_run_compare(&run, &other, &d);
    CHECK(d.same_state && d.totals_differ > 0);
    /* the default has no hop limit: the command leaves --hops out, and a re-run keeps it */
    case_run deep, deep2;
    req.btc.hops = TAINT_NO_HOP_LIMIT;
    CHECK(case_trace(db, &w, id, &st, &req, &deep, &err) == 0);
    CHECK(deep.hops == TAINT_NO_HOP_LIMIT && !strstr(deep.command, "--hops"));
    CHECK(case_trace_rerun(db, &w, deep.id, &st, &deep2, &err) == 0 &&
          deep2.hops == TAINT_NO_HOP_LIMIT);
    case_run_free(&deep), case_run_free(&deep2);
    req.seed_ids = (int64_t[]){99};
    CHECK(case_trace(db, &w, id, &st, &req, NULL, &err) == UTIL_ENOTFOUND);
    case_run_free(&run), case_run_free(&again), case_run_free(&other);
    CHECK(q1(dir, "SELECT COUNT(*) FROM trace_runs") == 5);
    CHECK(q1(dir, "SELECT COUNT(*) FROM audit_log WHERE action = 'trace.run'") == 5);
    CHECK((raw_exec(dir, "DELETE FROM trace_endpoints") & 0xff) == SQLITE_CONSTRAINT);
    CHECK((raw_exec(dir, "UPDATE trace_runs SET result = '{}'") & 0xff) == SQLITE_CONSTRAINT);
    trace_seeds_free(&ts);
    json_decref(sources);
    case_db_close(db);
    labels_db_close(ldb);
    store_close(s);
}

int main(void)
{
    char tmp[] = "/tmp/test_case.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_migrations(tmp);
    test_concurrent_open(tmp);
    test_upgrade(tmp);
    test_cases(tmp);
    test_graph(tmp);
    test_threads(tmp);
    test_chain(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return CHECK_DONE();
}
