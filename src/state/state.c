/* state: opening, change serials, and the records (labels, watchlists, keys, deliveries) written
 * once over the SQL driver of state_sql.c. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "state_int.h"

static const char *const topic_names[STATE_NTOPICS] = {"labels", "watchlists", "keys"};

int64_t state_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_i64(char out[24], int64_t v)
{
    snprintf(out, 24, "%lld", (long long)v);
}

int state_open(state_db **out, const char *url, const char *store_dir, util_err *err)
{
    *out = NULL;
    state_db *db = calloc(1, sizeof *db);
    if (!db) return util_errf(err, UTIL_ENOMEM, "out of memory");
    pthread_mutex_init(&db->mu, NULL);
    int rc = 0;
    if (sqldb_is_pg_url(url)) {
        db->kind = ST_PG;
        snprintf(db->target, sizeof db->target, "%s", url);
        sqldb_shown_url(url, db->shown, sizeof db->shown);
    } else if (url && *url) {
        if (strncmp(url, "sqlite:", 7)) {
            free(db);
            return util_errf(err, UTIL_EINVAL,
                             "--state: '%s' is neither postgresql://... nor sqlite:PATH", url);
        }
        snprintf(db->target, sizeof db->target, "%s", url + 7);
        snprintf(db->shown, sizeof db->shown, "%s", db->target);
    } else {
        if (!store_dir) {
            free(db);
            return util_errf(err, UTIL_EINVAL, "no store directory for the embedded state");
        }
        struct stat st;
        if (stat(store_dir, &st) != 0 && mkdir(store_dir, 0755) != 0 && errno != EEXIST) {
            free(db);
            return util_errf(err, UTIL_EIO, "%s: cannot create: %s", store_dir, strerror(errno));
        }
        snprintf(db->target, sizeof db->target, "%s/%s", store_dir, STATE_FILE);
        snprintf(db->shown, sizeof db->shown, "%s", db->target);
    }
    rc = st_connect(db, err);
    if (!rc) rc = st_migrate(db, err);
    if (rc) {
        state_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void state_close(state_db *db)
{
    if (!db) return;
    sqldb_close(db->sq);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

const char *state_backend(const state_db *db)
{
    return db->kind == ST_PG ? "postgresql" : "sqlite";
}

int state_schema(state_db *db, int *version, int *rows, util_err *err)
{
    st_res r;
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db, "SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_version", 0, NULL,
                     &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    *version = atoi(st_cell(&r, 0, 0));
    *rows = atoi(st_cell(&r, 0, 1));
    st_res_free(&r);
    return 0;
}

/* ---- change serials ---- */

/* In the caller's transaction: the topic's serial moves, and on PostgreSQL a NOTIFY goes to the
 * listeners when the transaction commits (never for one rolled back). */
static int bump(state_db *db, int topic, util_err *err)
{
    const char *p[] = {topic_names[topic]};
    int rc = st_exec(db, "UPDATE state_changes SET serial = serial + 1 WHERE topic = $1", 1, p,
                     NULL, err);
    if (!rc && db->kind == ST_PG)
        rc = st_exec(db, "SELECT pg_notify('cointrail_state', $1)", 1, p, NULL, err);
    return rc;
}

int state_serials(state_db *db, uint64_t serial[STATE_NTOPICS], util_err *err)
{
    st_res r;
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db, "SELECT topic, serial FROM state_changes", 0, NULL, &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    memset(serial, 0, STATE_NTOPICS * sizeof *serial);
    for (int i = 0; i < r.rows; i++)
        for (int t = 0; t < STATE_NTOPICS; t++)
            if (!strcmp(st_cell(&r, i, 0), topic_names[t]))
                serial[t] = strtoull(st_cell(&r, i, 1), NULL, 10);
    st_res_free(&r);
    return 0;
}

int state_wait(state_db *db, int ms, util_err *err)
{
    if (db->kind != ST_PG) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    pthread_mutex_lock(&db->mu);
    int rc = 0;
    /* LISTEN again on a connection made since (sqldb makes a new one when the server went) */
    if (!db->listen_gen || db->listen_gen != sqldb_generation(db->sq) || !sqldb_pgconn(db->sq)) {
        db->listen_gen = 0;
        rc = sqldb_ensure(db->sq, err);
        if (!rc) rc = st_exec(db, "LISTEN cointrail_state", 0, NULL, NULL, err);
        if (!rc) db->listen_gen = sqldb_generation(db->sq);
    }
    PGconn *pg = rc ? NULL : sqldb_pgconn(db->sq);
    uint64_t gen = db->listen_gen;
    int fd = pg ? PQsocket(pg) : -1;
    pthread_mutex_unlock(&db->mu);
    if (rc || fd < 0) {
        /* the server is away: wait, and let the caller try again */
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return rc ? rc : util_errf(err, UTIL_EIO, "state database %s: no socket", db->shown);
    }
    struct pollfd p = {fd, POLLIN, 0};
    int got = poll(&p, 1, ms);
    pthread_mutex_lock(&db->mu);
    int notified = 0;
    if (got > 0) {
        int same = sqldb_generation(db->sq) == gen && sqldb_pgconn(db->sq) == pg;
        if (!same || !PQconsumeInput(pg)) {
            db->listen_gen = 0; /* reconnect and LISTEN again next time */
            same = 0;
        }
        PGnotify *n;
        while (same && (n = PQnotifies(pg))) {
            notified = 1;
            PQfreemem(n);
        }
    }
    pthread_mutex_unlock(&db->mu);
    return notified;
}

/* ---- labels ---- */

void state_labels_free(state_labels *ls)
{
    if (!ls) return;
    for (size_t i = 0; i < ls->n; i++) {
        state_label *s = &ls->v[i];
        char **f[] = {&s->l.chain,      &s->l.address,   &s->l.category, &s->l.actor,
                      &s->l.name,       &s->l.source,    &s->l.url,      &s->l.programs,
                      &s->l.first_seen, &s->l.last_seen, &s->l.updated,  &s->author,
                      &s->retired_by,   &s->reason};
        for (size_t k = 0; k < sizeof f / sizeof *f; k++)
            free(*f[k]);
    }
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

/* One text field of a label: at most max bytes, nothing a terminal acts on. */
static int check_text(const char *field, const char *s, size_t max, util_err *err)
{
    size_t n = strlen(s);
    if (n > max) return util_errf(err, UTIL_EFORMAT, "field %s: longer than %zu bytes", field, max);
    char what[48];
    if (labels_text_check(s, n, 0, what) < n)
        return util_errf(err, UTIL_EFORMAT, "field %s: %s", field, what);
    return 0;
}

#define S(x) ((x) ? (x) : "")

/* The label as it is stored: chain and address canonical, category in the vocabulary. */
typedef struct canon_label {
    char chain[32], address[128], category[64];
} canon_label;

static int canon(const labels_label *l, canon_label *c, util_err *err)
{
    int rc;
    if ((rc = labels_chain_from_currency(c->chain, S(l->chain), err)))
        return util_err_prefix(err, "field chain"), UTIL_EFORMAT;
    if ((rc = labels_canon_address(c->address, c->chain, S(l->address), err)))
        return util_err_prefix(err, "field address"), UTIL_EFORMAT;
    if (!*S(l->category)) return util_errf(err, UTIL_EFORMAT, "field category: empty");
    if ((rc = check_text("category", l->category, LABELS_MAX_CATEGORY, err))) return rc;
    labels_category_map(c->category, l->category);
    return 0;
}

int state_label_add(state_db *db, const labels_label *l, const char *author, int64_t *id,
                    util_err *err)
{
    canon_label c;
    int rc = canon(l, &c, err);
    if (rc) return rc;
    if (!author || !*author) return util_errf(err, UTIL_EINVAL, "a label needs an author");
    const char *names[] = {"actor",      "name",      "source",  "url",   "programs",
                           "first_seen", "last_seen", "updated", "author"};
    const char *vals[] = {S(l->actor),     S(l->name),     S(l->source),
                          S(l->url),       S(l->programs), S(l->first_seen),
                          S(l->last_seen), S(l->updated),  author};
    for (size_t i = 0; i < sizeof vals / sizeof *vals && !rc; i++)
        rc = check_text(names[i], vals[i], LABELS_MAX_TEXT, err);
    if (rc) return rc;
    if (!*S(l->source)) return util_errf(err, UTIL_EFORMAT, "field source: empty");
    if (l->confidence < 0 || l->confidence > 100)
        return util_errf(err, UTIL_EFORMAT, "field confidence: %d is not 0..100", l->confidence);
    char conf[24], now[24], idb[24];
    fmt_i64(conf, l->confidence);
    fmt_i64(now, state_now_ms());
    pthread_mutex_lock(&db->mu);
    rc = st_begin(db, err);
    st_res r = {0};
    const char *key[] = {c.chain, c.address, l->source, c.category};
    if (!rc)
        rc =
            st_exec(db,
                    "SELECT id FROM state_labels WHERE chain = $1 AND address = $2 AND source = $3 "
                    "AND category = $4 AND retired_ms IS NULL",
                    4, key, &r, err);
    const char *event = "add";
    if (!rc && r.rows) {
        snprintf(idb, sizeof idb, "%s", st_cell(&r, 0, 0));
        const char *p[] = {idb,
                           S(l->actor),
                           S(l->name),
                           S(l->url),
                           S(l->programs),
                           S(l->first_seen),
                           S(l->last_seen),
                           S(l->updated),
                           conf};
        rc = st_exec(db,
                     "UPDATE state_labels SET actor = $2, name = $3, url = $4, programs = $5, "
                     "first_seen = $6, last_seen = $7, updated = $8, confidence = $9 WHERE id = $1",
                     9, p, NULL, err);
        event = "update";
    } else if (!rc) {
        st_res_free(&r);
        const char *p[] = {c.chain,          c.address,
                           l->source,        c.category,
                           S(l->actor),      S(l->name),
                           S(l->url),        S(l->programs),
                           S(l->first_seen), S(l->last_seen),
                           S(l->updated),    conf,
                           author,           now};
        rc = st_exec(db,
                     "INSERT INTO state_labels (chain, address, source, category, actor, name, "
                     "url, programs, first_seen, last_seen, updated, confidence, author, "
                     "added_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                     "$14) RETURNING id",
                     14, p, &r, err);
        if (!rc) snprintf(idb, sizeof idb, "%s", st_cell(&r, 0, 0));
    }
    st_res_free(&r);
    if (!rc) {
        const char *p[] = {idb, event, author, now, S(l->name)};
        rc = st_exec(db,
                     "INSERT INTO state_label_events (label_id, event, author, at_ms, detail) "
                     "VALUES ($1, $2, $3, $4, $5)",
                     5, p, NULL, err);
    }
    if (!rc) rc = bump(db, STATE_TOPIC_LABELS, err);
    rc = st_end(db, rc, err);
    pthread_mutex_unlock(&db->mu);
    if (!rc && id) *id = strtoll(idb, NULL, 10);
    return rc;
}

int state_label_retire(state_db *db, const char *chain, const char *address, const char *source,
                       const char *category, const char *author, const char *reason, util_err *err)
{
    labels_label l = {
        .chain = (char *)chain, .address = (char *)address, .category = (char *)category};
    canon_label c;
    int rc = canon(&l, &c, err);
    if (rc) return rc;
    if (!author || !*author) return util_errf(err, UTIL_EINVAL, "retiring a label needs an author");
    if ((rc = check_text("reason", S(reason), LABELS_MAX_TEXT, err))) return rc;
    char now[24], idb[24];
    fmt_i64(now, state_now_ms());
    pthread_mutex_lock(&db->mu);
    rc = st_begin(db, err);
    st_res r = {0};
    const char *key[] = {c.chain, c.address, S(source), c.category};
    if (!rc)
        rc =
            st_exec(db,
                    "SELECT id FROM state_labels WHERE chain = $1 AND address = $2 AND source = $3 "
                    "AND category = $4 AND retired_ms IS NULL",
                    4, key, &r, err);
    if (!rc && !r.rows)
        rc = util_errf(err, UTIL_ENOTFOUND, "no active label %s %s source '%s' category %s",
                       c.chain, c.address, S(source), c.category);
    if (!rc) {
        snprintf(idb, sizeof idb, "%s", st_cell(&r, 0, 0));
        const char *p[] = {idb, now, author, S(reason)};
        rc = st_exec(db,
                     "UPDATE state_labels SET retired_ms = $2, retired_by = $3, reason = $4 "
                     "WHERE id = $1",
                     4, p, NULL, err);
        const char *e[] = {idb, "retire", author, now, S(reason)};
        if (!rc)
            rc = st_exec(db,
                         "INSERT INTO state_label_events (label_id, event, author, at_ms, detail) "
                         "VALUES ($1, $2, $3, $4, $5)",
                         5, e, NULL, err);
    }
    st_res_free(&r);
    if (!rc) rc = bump(db, STATE_TOPIC_LABELS, err);
    rc = st_end(db, rc, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

static char *dup_cell(const st_res *r, int row, int col, int *oom)
{
    const char *c = st_cell(r, row, col);
    char *d = strdup(c ? c : "");
    if (!d) *oom = 1;
    return d;
}

int state_labels_all(state_db *db, state_labels *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    st_res r;
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db,
                     "SELECT id, chain, address, source, category, actor, name, url, programs, "
                     "first_seen, last_seen, updated, confidence, author, added_ms, retired_ms, "
                     "retired_by, reason FROM state_labels ORDER BY id",
                     0, NULL, &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    out->v = calloc((size_t)r.rows + 1, sizeof *out->v);
    if (!out->v) {
        st_res_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    int oom = 0;
    for (int i = 0; i < r.rows; i++, out->n++) {
        state_label *s = &out->v[i];
        s->id = strtoll(st_cell(&r, i, 0), NULL, 10);
        s->l.chain = dup_cell(&r, i, 1, &oom);
        s->l.address = dup_cell(&r, i, 2, &oom);
        s->l.source = dup_cell(&r, i, 3, &oom);
        s->l.category = dup_cell(&r, i, 4, &oom);
        s->l.actor = dup_cell(&r, i, 5, &oom);
        s->l.name = dup_cell(&r, i, 6, &oom);
        s->l.url = dup_cell(&r, i, 7, &oom);
        s->l.programs = dup_cell(&r, i, 8, &oom);
        s->l.first_seen = dup_cell(&r, i, 9, &oom);
        s->l.last_seen = dup_cell(&r, i, 10, &oom);
        s->l.updated = dup_cell(&r, i, 11, &oom);
        s->l.confidence = atoi(st_cell(&r, i, 12));
        s->author = dup_cell(&r, i, 13, &oom);
        s->added_ms = strtoll(st_cell(&r, i, 14), NULL, 10);
        s->retired_ms = st_cell(&r, i, 15) ? strtoll(st_cell(&r, i, 15), NULL, 10) : 0;
        s->retired_by = dup_cell(&r, i, 16, &oom);
        s->reason = dup_cell(&r, i, 17, &oom);
    }
    st_res_free(&r);
    if (oom) {
        state_labels_free(out);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

int state_label_history(state_db *db, const char *address, json_t **out, util_err *err)
{
    *out = NULL;
    st_res r;
    const char *p[] = {address};
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db,
                     address ? "SELECT e.event, e.label_id, e.at_ms, e.author, l.chain, l.address, "
                               "l.source, l.category, l.name, l.actor, e.detail FROM "
                               "state_label_events e JOIN state_labels l ON l.id = e.label_id "
                               "WHERE l.address = $1 ORDER BY e.id"
                             : "SELECT e.event, e.label_id, e.at_ms, e.author, l.chain, l.address, "
                               "l.source, l.category, l.name, l.actor, e.detail FROM "
                               "state_label_events e JOIN state_labels l ON l.id = e.label_id "
                               "ORDER BY e.id",
                     address ? 1 : 0, p, &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    json_t *a = json_array();
    for (int i = 0; a && i < r.rows; i++)
        json_array_append_new(
            a,
            json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event",
                      st_cell(&r, i, 0), "label", (json_int_t)strtoll(st_cell(&r, i, 1), NULL, 10),
                      "at_ms", (json_int_t)strtoll(st_cell(&r, i, 2), NULL, 10), "author",
                      st_cell(&r, i, 3), "chain", st_cell(&r, i, 4), "address", st_cell(&r, i, 5),
                      "source", st_cell(&r, i, 6), "category", st_cell(&r, i, 7), "name",
                      st_cell(&r, i, 8), "actor", st_cell(&r, i, 9), "detail", st_cell(&r, i, 10)));
    st_res_free(&r);
    if (!a) return util_errf(err, UTIL_ENOMEM, "out of memory");
    *out = a;
    return 0;
}

int state_labels_apply(const state_labels *ls, labels_db *set, util_err *err)
{
    /* retired identities first, then the active rows: an identity retired and added again is
     * in the set with the new row's fields */
    for (size_t i = 0; i < ls->n; i++) {
        const state_label *s = &ls->v[i];
        if (s->retired_ms) labels_remove(set, s->l.chain, s->l.address, s->l.source, s->l.category);
    }
    size_t n = 0;
    labels_label *act = malloc((ls->n + 1) * sizeof *act);
    if (!act) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < ls->n; i++)
        if (!ls->v[i].retired_ms) act[n++] = ls->v[i].l;
    int rc = labels_add(set, act, n, "state", NULL, err);
    free(act);
    return rc;
}

/* One statement in a write transaction that bumps topic's serial (what replicas follow).
 * missing (NULL: none): the statement RETURNs its rows, and none is UTIL_ENOTFOUND with this
 * message (rolled back, no bump). */
static int write_one(state_db *db, int topic, const char *sql, int n, const char *const *p,
                     const char *missing, util_err *err)
{
    st_res r = {0};
    pthread_mutex_lock(&db->mu);
    int rc = st_begin(db, err);
    if (!rc) rc = st_exec(db, sql, n, p, missing ? &r : NULL, err);
    if (!rc && missing && !r.rows) rc = util_errf(err, UTIL_ENOTFOUND, "%s", missing);
    st_res_free(&r);
    if (!rc) rc = bump(db, topic, err);
    rc = st_end(db, rc, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- watchlists ---- */

int state_watch_put(state_db *db, const char *owner, const char *name, const char *doc,
                    util_err *err)
{
    char now[24];
    fmt_i64(now, state_now_ms());
    const char *p[] = {owner, name, doc, now};
    return write_one(db, STATE_TOPIC_WATCHLISTS,
                     "INSERT INTO state_watchlists (owner, name, doc, updated_ms) VALUES ($1, $2, "
                     "$3, $4) ON CONFLICT (owner, name) DO UPDATE SET doc = excluded.doc, "
                     "updated_ms = excluded.updated_ms",
                     4, p, NULL, err);
}

int state_watch_delete(state_db *db, const char *owner, const char *name, util_err *err)
{
    const char *p[] = {owner, name};
    char missing[600];
    snprintf(missing, sizeof missing, "no watchlist '%s' of owner '%s'", name, owner);
    return write_one(db, STATE_TOPIC_WATCHLISTS,
                     "DELETE FROM state_watchlists WHERE owner = $1 AND name = $2 RETURNING name",
                     2, p, missing, err);
}

int state_watch_all(state_db *db, json_t **out, util_err *err)
{
    *out = NULL;
    st_res r;
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db, "SELECT owner, name, doc FROM state_watchlists ORDER BY owner, name", 0,
                     NULL, &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    json_t *a = json_array();
    for (int i = 0; a && i < r.rows; i++) {
        json_error_t je;
        json_t *d = json_loads(st_cell(&r, i, 2), 0, &je);
        if (!d) {
            rc = util_errf(err, UTIL_ECORRUPT, "state database %s: watchlist '%s' of '%s': %s",
                           db->shown, st_cell(&r, i, 1), st_cell(&r, i, 0), je.text);
            break;
        }
        json_array_append_new(a, d);
    }
    st_res_free(&r);
    if (!rc && !a) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* ---- keys ---- */

int state_key_add(state_db *db, const char *digest, const char *owner, const char *line,
                  util_err *err)
{
    char now[24];
    fmt_i64(now, state_now_ms());
    const char *p[] = {digest, owner, line, now};
    return write_one(db, STATE_TOPIC_KEYS,
                     "INSERT INTO state_keys (digest, owner, line, created_ms) VALUES ($1, $2, $3, "
                     "$4)",
                     4, p, NULL, err);
}

int state_key_revoke(state_db *db, const char *prefix, util_err *err)
{
    size_t n = strlen(prefix);
    if (n < 16 || n > 64 || strspn(prefix, "0123456789abcdef") != n)
        return util_errf(err, UTIL_EINVAL, "a key id is 16 to 64 lowercase hex digits");
    char now[24], like[80];
    fmt_i64(now, state_now_ms());
    snprintf(like, sizeof like, "%s%%", prefix);
    const char *p[] = {like, now};
    char missing[100];
    snprintf(missing, sizeof missing, "no active key %s", prefix);
    return write_one(db, STATE_TOPIC_KEYS,
                     "UPDATE state_keys SET revoked_ms = $2 WHERE digest LIKE $1 AND revoked_ms IS "
                     "NULL RETURNING digest",
                     2, p, missing, err);
}

int state_keys_all(state_db *db, int active_only, json_t **out, util_err *err)
{
    *out = NULL;
    st_res r;
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db,
                     active_only ? "SELECT digest, owner, line, created_ms, revoked_ms FROM "
                                   "state_keys WHERE revoked_ms IS NULL ORDER BY created_ms, digest"
                                 : "SELECT digest, owner, line, created_ms, revoked_ms FROM "
                                   "state_keys ORDER BY created_ms, digest",
                     0, NULL, &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    json_t *a = json_array();
    for (int i = 0; a && i < r.rows; i++) {
        json_t *k = json_pack("{s:s, s:s, s:s, s:I}", "digest", st_cell(&r, i, 0), "owner",
                              st_cell(&r, i, 1), "line", st_cell(&r, i, 2), "created_ms",
                              (json_int_t)strtoll(st_cell(&r, i, 3), NULL, 10));
        if (k && st_cell(&r, i, 4))
            json_object_set_new(k, "revoked_ms",
                                json_integer((json_int_t)strtoll(st_cell(&r, i, 4), NULL, 10)));
        json_array_append_new(a, k);
    }
    st_res_free(&r);
    if (!a) return util_errf(err, UTIL_ENOMEM, "out of memory");
    *out = a;
    return 0;
}

/* ---- deliveries ---- */

int state_delivery_lease(state_db *db, const char *key, const char *holder, int64_t lease_ms,
                         int *outcome, int64_t *until_ms, char *final, char *by, util_err *err)
{
    char now[24], until[24];
    int64_t t = state_now_ms();
    fmt_i64(now, t);
    fmt_i64(until, t + lease_ms);
    /* One statement decides: a new row, or a pending row whose lease is free, expired or the
     * holder's own, becomes the holder's; any other row is left alone and read back. */
    const char *p[] = {key, holder, until, now};
    st_res r = {0};
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db,
                     "INSERT INTO state_deliveries (key, state, holder, lease_until_ms, attempts) "
                     "VALUES ($1, 'pending', $2, $3, 0) ON CONFLICT (key) DO UPDATE SET "
                     "holder = excluded.holder, lease_until_ms = excluded.lease_until_ms WHERE "
                     "state_deliveries.state = 'pending' AND (state_deliveries.lease_until_ms < $4 "
                     "OR state_deliveries.holder = excluded.holder OR "
                     "state_deliveries.holder = '') RETURNING holder",
                     4, p, &r, err);
    int got = !rc && r.rows == 1;
    st_res_free(&r);
    if (!rc && !got) {
        const char *q[] = {key};
        rc = st_exec(db,
                     "SELECT state, holder, lease_until_ms, delivered_by FROM state_deliveries "
                     "WHERE key = $1",
                     1, q, &r, err);
        if (!rc && !r.rows) rc = util_errf(err, UTIL_EIO, "delivery %s vanished", key);
        if (!rc) {
            int pending = !strcmp(st_cell(&r, 0, 0), "pending");
            *outcome = pending ? STATE_LEASE_HELD : STATE_LEASE_DONE;
            *until_ms = strtoll(st_cell(&r, 0, 2), NULL, 10);
            if (final) snprintf(final, 64, "%s", st_cell(&r, 0, 0));
            if (by) snprintf(by, 64, "%s", st_cell(&r, 0, 3) ? st_cell(&r, 0, 3) : "");
        }
        st_res_free(&r);
    } else if (!rc) {
        *outcome = STATE_LEASE_GOT;
        *until_ms = t + lease_ms;
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int state_delivery_finish(state_db *db, const char *key, const char *holder, const char *final,
                          util_err *err)
{
    char now[24];
    fmt_i64(now, state_now_ms());
    int pending = !strcmp(final, "pending");
    const char *p[] = {key, holder, final, now};
    st_res r = {0};
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db,
                     pending ? "UPDATE state_deliveries SET holder = '', lease_until_ms = 0, "
                               "attempts = attempts + 1 WHERE key = $1 AND holder = $2 AND "
                               "state = 'pending' RETURNING key"
                             : "UPDATE state_deliveries SET state = $3, delivered_by = $2, "
                               "finished_ms = $4, attempts = attempts + 1 WHERE key = $1 AND "
                               "holder = $2 AND state = 'pending' RETURNING key",
                     pending ? 2 : 4, p, &r, err);
    if (!rc && !r.rows)
        rc = util_errf(err, UTIL_EBUSY,
                       "delivery %s: the lease of %s expired and another replica took it over", key,
                       holder);
    st_res_free(&r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int state_deliveries(state_db *db, json_t **out, util_err *err)
{
    *out = NULL;
    st_res r;
    pthread_mutex_lock(&db->mu);
    int rc = st_exec(db,
                     "SELECT key, state, holder, attempts, delivered_by FROM state_deliveries "
                     "ORDER BY key",
                     0, NULL, &r, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    json_t *a = json_array();
    for (int i = 0; a && i < r.rows; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:I, s:s}", "key", st_cell(&r, i, 0), "state",
                         st_cell(&r, i, 1), "holder", st_cell(&r, i, 2), "attempts",
                         (json_int_t)strtoll(st_cell(&r, i, 3), NULL, 10), "delivered_by",
                         st_cell(&r, i, 4) ? st_cell(&r, i, 4) : ""));
    st_res_free(&r);
    if (!a) return util_errf(err, UTIL_ENOMEM, "out of memory");
    *out = a;
    return 0;
}
