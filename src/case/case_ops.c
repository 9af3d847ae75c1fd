/* case: cases, seeds, analyst labels (and feeding them to the label set), notes, and reading a
 * whole case back. Each change is one write transaction with its audit row. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "case_int.h"

/* ---------------- frees ---------------- */

void case_info_free(case_info *c)
{
    if (!c) return;
    free(c->title), free(c->incident_date), free(c->victim), free(c->chains);
    free(c->description), free(c->status), free(c->created_by), free(c->created_at);
    memset(c, 0, sizeof *c);
}

void case_info_array_free(case_info *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        case_info_free(&a[i]);
    free(a);
}

void case_seed_free(case_seed *s)
{
    if (!s) return;
    free(s->chain), free(s->kind), free(s->spec), free(s->note), free(s->amount);
    free(s->added_by), free(s->added_at);
    memset(s, 0, sizeof *s);
}

void case_label_free(case_label *l)
{
    if (!l) return;
    free(l->chain), free(l->address), free(l->category), free(l->actor), free(l->name);
    free(l->evidence), free(l->author), free(l->created_at);
    memset(l, 0, sizeof *l);
}

void case_note_free(case_note *n)
{
    if (!n) return;
    free(n->author), free(n->created_at), free(n->text);
    memset(n, 0, sizeof *n);
}

void case_audit_free(case_audit *a)
{
    if (!a) return;
    free(a->at), free(a->analyst), free(a->action), free(a->command), free(a->detail);
    free(a->prev_hash), free(a->hash);
    memset(a, 0, sizeof *a);
}

void case_full_free(case_full *c)
{
    if (!c) return;
    case_info_free(&c->info);
    for (size_t i = 0; i < c->n_seeds; i++)
        case_seed_free(&c->seeds[i]);
    for (size_t i = 0; i < c->n_runs; i++)
        case_run_free(&c->runs[i]);
    for (size_t i = 0; i < c->n_labels; i++)
        case_label_free(&c->labels[i]);
    for (size_t i = 0; i < c->n_notes; i++)
        case_note_free(&c->notes[i]);
    for (size_t i = 0; i < c->n_audit; i++)
        case_audit_free(&c->audit[i]);
    free(c->seeds), free(c->runs), free(c->labels), free(c->notes), free(c->audit);
    memset(c, 0, sizeof *c);
}

const char *case_seed_kind_name(int kind)
{
    static const char *const names[] = {"outpoint", "tx",           "address",
                                        "evm_tx",   "evm_transfer", "evm_address"};
    return kind >= 0 && kind < (int)(sizeof names / sizeof *names) ? names[kind] : "?";
}

/* ---------------- row readers ---------------- */

#define DUP(field, i) (oom |= !((field) = case_col_dup(st, i)))

static const char info_cols[] =
    "SELECT id, title, incident_date, victim, chains, description, status, created_by, created_at,"
    " (SELECT COUNT(*) FROM case_seeds s WHERE s.case_id = c.id),"
    " (SELECT COUNT(*) FROM trace_runs r WHERE r.case_id = c.id),"
    " (SELECT COUNT(*) FROM case_labels l WHERE l.case_id = c.id),"
    " (SELECT COUNT(*) FROM case_notes n WHERE n.case_id = c.id) FROM cases c";

static int read_info(sqldb_stmt *st, void *row)
{
    case_info *c = row;
    int oom = 0;
    memset(c, 0, sizeof *c);
    c->id = sqldb_column_int64(st, 0);
    DUP(c->title, 1), DUP(c->incident_date, 2), DUP(c->victim, 3), DUP(c->chains, 4);
    DUP(c->description, 5), DUP(c->status, 6), DUP(c->created_by, 7), DUP(c->created_at, 8);
    c->n_seeds = sqldb_column_int64(st, 9);
    c->n_runs = sqldb_column_int64(st, 10);
    c->n_labels = sqldb_column_int64(st, 11);
    c->n_notes = sqldb_column_int64(st, 12);
    return oom ? UTIL_ENOMEM : 0;
}

static int read_seed(sqldb_stmt *st, void *row)
{
    case_seed *s = row;
    int oom = 0;
    memset(s, 0, sizeof *s);
    s->id = sqldb_column_int64(st, 0);
    s->case_id = sqldb_column_int64(st, 1);
    DUP(s->chain, 2), DUP(s->kind, 3), DUP(s->spec, 4), DUP(s->note, 5);
    s->n_refs = (uint64_t)sqldb_column_int64(st, 6);
    DUP(s->amount, 7), DUP(s->added_by, 8), DUP(s->added_at, 9);
    return oom ? UTIL_ENOMEM : 0;
}
static const char seed_cols[] = "SELECT id, case_id, chain, kind, spec, note, n_refs, amount,"
                                " added_by, added_at FROM case_seeds";

static int read_label(sqldb_stmt *st, void *row)
{
    case_label *l = row;
    int oom = 0;
    memset(l, 0, sizeof *l);
    l->id = sqldb_column_int64(st, 0);
    l->case_id = sqldb_column_int64(st, 1);
    DUP(l->chain, 2), DUP(l->address, 3), DUP(l->category, 4), DUP(l->actor, 5);
    DUP(l->name, 6);
    l->confidence = sqldb_column_int(st, 7);
    DUP(l->evidence, 8), DUP(l->author, 9), DUP(l->created_at, 10);
    return oom ? UTIL_ENOMEM : 0;
}
static const char label_cols[] = "SELECT id, case_id, chain, address, category, actor, label_name,"
                                 " confidence, evidence, author, created_at FROM case_labels";

static int read_note(sqldb_stmt *st, void *row)
{
    case_note *n = row;
    int oom = 0;
    memset(n, 0, sizeof *n);
    n->id = sqldb_column_int64(st, 0);
    n->case_id = sqldb_column_int64(st, 1);
    DUP(n->author, 2), DUP(n->created_at, 3), DUP(n->text, 4);
    return oom ? UTIL_ENOMEM : 0;
}
static const char note_cols[] = "SELECT id, case_id, author, created_at, body FROM case_notes";

static int read_audit(sqldb_stmt *st, void *row)
{
    case_audit *a = row;
    int oom = 0;
    memset(a, 0, sizeof *a);
    a->id = sqldb_column_int64(st, 0);
    a->case_id = sqldb_column_int64(st, 1);
    DUP(a->at, 2), DUP(a->analyst, 3), DUP(a->action, 4), DUP(a->command, 5);
    DUP(a->detail, 6);
    case_state_read(st, 7, &a->state);
    DUP(a->prev_hash, 12), DUP(a->hash, 13);
    return oom ? UTIL_ENOMEM : 0;
}
static const char audit_cols[] =
    "SELECT id, COALESCE(case_id, 0), created_at, analyst, action, command, detail, btc_tip,"
    " btc_height, evm_chain, evm_tip, evm_height, prev_hash, hash FROM audit_log";

/* The row with this id of the table cols selects from, read back after its insert into out
 * (elem bytes, read by rd; when there is not exactly one, the rows are freed with free_row and
 * out is left as it was). */
static int read_back(case_db *db, const char *cols, int64_t id, size_t elem, case_row_reader rd,
                     void (*free_row)(void *), void *out, util_err *err)
{
    char sql[512];
    if (snprintf(sql, sizeof sql, "%s WHERE id = ?", cols) >= (int)sizeof sql)
        return util_errf(err, UTIL_EINVAL, "read_back: query too long");
    char *rows = NULL;
    size_t n = 0;
    int rc = case_read_rows(db, sql, id, elem, rd, (void **)&rows, &n, err);
    if (!rc && n == 1)
        memcpy(out, rows, elem);
    else
        for (size_t i = 0; i < n; i++)
            free_row(rows + i * elem);
    free(rows);
    return rc;
}

static void free_seed_row(void *row)
{
    case_seed_free(row);
}

static void free_label_row(void *row)
{
    case_label_free(row);
}

/* Steps an INSERT ... RETURNING id (finalized here): *id, or an error naming table. */
static int insert_returning(case_db *db, sqldb_stmt *q, const char *table, int64_t *id,
                            util_err *err)
{
    int rc = 0;
    if (sqldb_step(q) == SQLDB_ROW)
        *id = sqldb_column_int64(q, 0);
    else
        rc = case_sql_fail(db, table, err);
    sqldb_finalize(q);
    return rc;
}

/* ---------------- checks ---------------- */

static int check_date(const char *d, util_err *err)
{
    if (!d || !*d) return 0;
    int y, mo, da, h = 0, mi = 0, s = 0, n = 0;
    size_t len = strlen(d);
    int ok = sscanf(d, "%4d-%2d-%2d%n", &y, &mo, &da, &n) == 3 && n == 10;
    if (ok && len > 10) {
        int m = 0, m2 = 0;
        ok = sscanf(d + 10, "T%2d:%2d%n", &h, &mi, &m) == 2 && m == 6;
        if (ok && d[10 + m] == ':') ok = sscanf(d + 10 + m, ":%2d%n", &s, &m2) == 1 && m2 == 3;
        ok = ok && !strcmp(d + 10 + m + m2, "Z");
    }
    for (size_t i = 0; ok && i < 10; i++)
        ok = (i == 4 || i == 7) ? d[i] == '-' : isdigit((unsigned char)d[i]);
    if (!ok || mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || s > 60)
        return util_errf(err, UTIL_EINVAL,
                         "field incident_date: '%.40s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z",
                         d);
    return 0;
}

/* chains: comma-separated codes, each through labels_chain_from_currency, joined with ",". */
static int norm_chains(const char *in, char out[CASE_MAX_TEXT + 1], util_err *err)
{
    out[0] = 0;
    if (!in || !*in) return 0;
    size_t used = 0;
    const char *p = in;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char code[64];
        while (n && isspace((unsigned char)*p))
            p++, n--;
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n >= sizeof code)
            return util_errf(err, UTIL_EINVAL, "field chains: '%.20s...' is not a chain code", p);
        memcpy(code, p, n);
        code[n] = 0;
        char chain[32];
        util_err e2 = {0};
        if (labels_chain_from_currency(chain, code, &e2))
            return util_errf(err, UTIL_EINVAL, "field chains: %s", e2.msg);
        size_t cl = strlen(chain);
        if (used + cl + 2 > CASE_MAX_TEXT)
            return util_errf(err, UTIL_EINVAL, "field chains: too long");
        if (used) out[used++] = ',';
        memcpy(out + used, chain, cl + 1);
        used += cl;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* ---------------- cases ---------------- */

int case_create(case_db *db, const case_origin *who, const case_new *c, int64_t *id, util_err *err)
{
    char chains[CASE_MAX_TEXT + 1];
    int rc = case_check_origin(who, err);
    if (!rc) rc = case_check_text("title", c->title, CASE_MAX_TEXT, 0, 1, err);
    if (!rc) rc = case_check_text("victim", c->victim, CASE_MAX_TEXT, 0, 0, err);
    if (!rc) rc = case_check_text("description", c->description, CASE_MAX_LONG, 1, 0, err);
    if (!rc) rc = case_check_text("chains", c->chains, CASE_MAX_TEXT, 0, 0, err);
    if (!rc) rc = check_date(c->incident_date, err);
    if (!rc) rc = norm_chains(c->chains, chains, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    char now[32];
    case_now(now);
    sqldb_stmt *st;
    if ((rc = case_sql_prep(db, &st,
                            "INSERT INTO cases (title, incident_date, victim, chains, description,"
                            " status, created_by, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)"
                            " RETURNING id",
                            err)))
        goto fail;
    case_bind_text(st, 1, c->title);
    case_bind_text(st, 2, c->incident_date);
    case_bind_text(st, 3, c->victim);
    case_bind_text(st, 4, chains);
    case_bind_text(st, 5, c->description);
    case_bind_text(st, 6, who->analyst);
    case_bind_text(st, 7, now);
    if ((rc = insert_returning(db, st, "cases", id, err))) goto fail;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"case\": %" PRId64 "}", *id);
    if ((rc = case_audit_insert(db, who, *id, "case.new", detail, err))) goto fail;
    rc = case_commit(db, err);
    goto out;
fail:
    case_rollback(db);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int case_list(case_db *db, const case_origin *who, case_info **out, size_t *n, util_err *err)
{
    *out = NULL;
    *n = 0;
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if (!(rc = case_begin(db, err))) {
        rc = case_audit_insert(db, who, 0, "case.list", NULL, err);
        char sql[sizeof info_cols + 32];
        snprintf(sql, sizeof sql, "%s ORDER BY id", info_cols);
        if (!rc) rc = case_read_rows(db, sql, 0, sizeof **out, read_info, (void **)out, n, err);
        rc = rc ? (case_rollback(db), rc) : case_commit(db, err);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        case_info_array_free(*out, *n);
        *out = NULL, *n = 0;
    }
    return rc;
}

/* ---------------- seeds ---------------- */

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* What a spec names, and check it in its store: *n_refs, amount (btc satoshis) and chain. */
static int seed_check(const case_stores *st, const char *spec, int *kind, char chain[16],
                      uint64_t *n_refs, char amount[32], util_err *err)
{
    amount[0] = 0;
    size_t n = strlen(spec);
    if (n > 1 && spec[0] == '0' && (spec[1] == 'x' || spec[1] == 'X')) {
        const char *colon = strchr(spec, ':');
        size_t hl = colon ? (size_t)(colon - spec) - 2 : n - 2;
        *kind =
            hl == 64 ? (colon ? CASE_SEED_EVM_TRANSFER : CASE_SEED_EVM_TX) : CASE_SEED_EVM_ADDRESS;
        if (!st || !st->evm)
            return util_errf(err, UTIL_EINVAL, "seed %s: an EVM spec, and no EVM store is open",
                             spec);
        snprintf(chain, 16, "%s", evm_store_chain(st->evm));
        etrace_seeds sd = {0};
        int rc = etrace_add_spec(&sd, st->evm, spec, ETRACE_ASSET_ALL, err);
        *n_refs = sd.n;
        etrace_seeds_free(&sd);
        if (rc) util_err_prefix(err, "seed");
        return rc;
    }
    const char *colon = strchr(spec, ':');
    if (colon && (size_t)(colon - spec) == 64 && is_hex(spec, 64))
        *kind = CASE_SEED_OUTPOINT;
    else if (n == 64 && is_hex(spec, 64))
        *kind = CASE_SEED_TX;
    else if (!strncmp(spec, "entity:", 7) || spec[0] == '@')
        return util_errf(err, UTIL_EINVAL,
                         "seed %s: a case seed is an output, a tx or an address (entities and "
                         "files are not stable evidence)",
                         spec);
    else
        *kind = CASE_SEED_ADDRESS;
    if (!st || !st->btc)
        return util_errf(err, UTIL_EINVAL, "seed %s: a Bitcoin spec, and no Bitcoin store is open",
                         spec);
    snprintf(chain, 16, "btc");
    trace_seeds sd = {0};
    int rc = trace_add_spec(&sd, st->btc, spec, err);
    if (!rc) {
        uint64_t sum = 0;
        for (size_t i = 0; i < sd.n; i++)
            sum += (uint64_t)store_out_value(st->btc, sd.out[i]);
        *n_refs = sd.n;
        snprintf(amount, 32, "%" PRIu64, sum);
    } else
        util_err_prefix(err, "seed");
    trace_seeds_free(&sd);
    return rc;
}

int case_seed_add(case_db *db, const case_origin *who, int64_t case_id, const case_stores *st,
                  const char *spec, const char *note, case_seed *out, util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (!rc) rc = case_check_text("spec", spec, CASE_MAX_TEXT, 0, 1, err);
    if (!rc) rc = case_check_text("note", note, CASE_MAX_LONG, 1, 0, err);
    if (rc) return rc;
    int kind = CASE_SEED_ADDRESS;
    char chain[16], amount[32];
    uint64_t n_refs = 0;
    /* the store check needs no lock: it reads only the stores */
    if ((rc = seed_check(st, spec, &kind, chain, &n_refs, amount, err))) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    if ((rc = case_exists(db, case_id, err))) goto fail;
    sqldb_stmt *q;
    if ((rc = case_sql_prep(
             db, &q, "SELECT id FROM case_seeds WHERE case_id = ? AND chain = ? AND spec = ?",
             err)))
        goto fail;
    sqldb_bind_int64(q, 1, case_id);
    case_bind_text(q, 2, chain);
    case_bind_text(q, 3, spec);
    int s = sqldb_step(q);
    if (s == SQLDB_ROW)
        rc = util_errf(err, UTIL_EINVAL, "seed %s: already seed %" PRId64 " of case %" PRId64, spec,
                       (int64_t)sqldb_column_int64(q, 0), case_id);
    else if (s != SQLDB_DONE)
        rc = case_sql_fail(db, "case_seeds", err);
    sqldb_finalize(q);
    if (rc) goto fail;
    char now[32];
    case_now(now);
    if ((rc = case_sql_prep(db, &q,
                            "INSERT INTO case_seeds (case_id, chain, kind, spec, note, n_refs,"
                            " amount, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                            " RETURNING id",
                            err)))
        goto fail;
    sqldb_bind_int64(q, 1, case_id);
    case_bind_text(q, 2, chain);
    case_bind_text(q, 3, case_seed_kind_name(kind));
    case_bind_text(q, 4, spec);
    case_bind_text(q, 5, note);
    sqldb_bind_int64(q, 6, (int64_t)n_refs);
    case_bind_text(q, 7, amount);
    case_bind_text(q, 8, who->analyst);
    case_bind_text(q, 9, now);
    int64_t id = 0;
    if ((rc = insert_returning(db, q, "case_seeds", &id, err))) goto fail;
    json_t *d = json_pack("{s:I,s:s,s:s}", "seed", (json_int_t)id, "chain", chain, "spec", spec);
    if ((rc = case_audit_json(db, who, case_id, "seed.add", d, err))) goto fail;
    if (out && (rc = read_back(db, seed_cols, id, sizeof *out, read_seed, free_seed_row, out, err)))
        goto fail;
    rc = case_commit(db, err);
    if (rc && out) case_seed_free(out);
    goto out;
fail:
    case_rollback(db);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---------------- labels ---------------- */

/* Take the label lock of DIR/labels.db, waiting up to CASE_BUSY_MS for another writer. */
static int labels_open_wait(labels_db **ldb, const char *dir, util_err *err)
{
    int rc;
    for (int waited = 0;; waited += 50) {
        rc = labels_db_open(ldb, dir, LABELS_WRITE, err);
        if (rc != UTIL_EBUSY || waited >= CASE_BUSY_MS) return rc;
        usleep(50 * 1000);
    }
}

void case_label_as_label(const case_label *row, char source[32], char day[16], labels_label *out)
{
    snprintf(source, 32, "case:%" PRId64, row->case_id);
    snprintf(day, 16, "%.10s", row->created_at);
    *out = (labels_label){.chain = row->chain,
                          .address = row->address,
                          .category = row->category,
                          .actor = row->actor,
                          .name = *row->name ? row->name : row->actor,
                          .source = source,
                          .updated = day,
                          .confidence = row->confidence};
}

/* Every case's newest label per (case, chain, address, category), as labels with source
 * "case:ID" (their key in the label set); fed in one labels_add under the label lock. */
static int feed_locked(case_db *db, size_t *fed, util_err *err)
{
    if (fed) *fed = 0;
    case_label *rows = NULL;
    size_t n = 0;
    char sql[sizeof label_cols + 256];
    snprintf(sql, sizeof sql,
             "%s l WHERE id = (SELECT MAX(id) FROM case_labels m WHERE m.case_id = l.case_id"
             " AND m.chain = l.chain AND m.address = l.address AND m.category = l.category)"
             " ORDER BY id",
             label_cols);
    int rc = case_read_rows(db, sql, 0, sizeof *rows, read_label, (void **)&rows, &n, err);
    labels_label *in = rc ? NULL : calloc(n ? n : 1, sizeof *in);
    char(*src)[32] = rc ? NULL : calloc(n ? n : 1, sizeof *src);
    char(*day)[16] = rc ? NULL : calloc(n ? n : 1, sizeof *day);
    if (!rc && (!in || !src || !day)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++)
        case_label_as_label(&rows[i], src[i], day[i], &in[i]);
    labels_db *ldb = NULL;
    if (!rc) rc = labels_open_wait(&ldb, db->dir, err);
    if (!rc) rc = labels_add(ldb, in, n, "case labels", NULL, err);
    if (!rc) rc = labels_db_save(ldb, err);
    labels_db_close(ldb);
    if (!rc && fed) *fed = n;
    for (size_t i = 0; i < n; i++)
        case_label_free(&rows[i]);
    free(rows), free(in), free(src), free(day);
    return rc;
}

int case_labels_feed(case_db *db, size_t *n, util_err *err)
{
    pthread_mutex_lock(&db->mu);
    int rc = feed_locked(db, n, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int case_label_add(case_db *db, const case_origin *who, int64_t case_id, const case_label_new *l,
                   case_label *out, util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    char chain[32], addr[128], category[64];
    int rc = case_check_origin(who, err);
    if (!rc) rc = case_check_text("chain", l->chain, 31, 0, 1, err);
    if (!rc) rc = case_check_text("address", l->address, CASE_MAX_TEXT, 0, 1, err);
    if (!rc) rc = case_check_text("category", l->category, LABELS_MAX_CATEGORY, 0, 1, err);
    if (!rc) rc = case_check_text("actor", l->actor, LABELS_MAX_TEXT, 0, 0, err);
    if (!rc) rc = case_check_text("name", l->name, LABELS_MAX_TEXT, 0, 0, err);
    if (!rc) rc = case_check_text("evidence", l->evidence, CASE_MAX_LONG, 1, 0, err);
    if (!rc && (l->confidence < 0 || l->confidence > 100))
        rc = util_errf(err, UTIL_EINVAL, "field confidence: %d is not 0..100", l->confidence);
    if (rc) return rc;
    util_err e2 = {0};
    if (labels_chain_from_currency(chain, l->chain, &e2))
        return util_errf(err, UTIL_EINVAL, "field chain: %s", e2.msg);
    if (labels_canon_address(addr, chain, l->address, &e2))
        return util_errf(err, UTIL_EINVAL, "field address: %s (chain %s)", e2.msg, chain);
    /* the label set's own vocabulary ("Exchange" -> "exchange", "mixing_service" -> "mixer") */
    labels_category_map(category, l->category);
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    if ((rc = case_exists(db, case_id, err))) goto fail;
    char now[32];
    case_now(now);
    sqldb_stmt *q;
    if ((rc = case_sql_prep(db, &q,
                            "INSERT INTO case_labels (case_id, chain, address, category, actor,"
                            " label_name, confidence, evidence, author, created_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                            err)))
        goto fail;
    sqldb_bind_int64(q, 1, case_id);
    case_bind_text(q, 2, chain);
    case_bind_text(q, 3, addr);
    case_bind_text(q, 4, category);
    case_bind_text(q, 5, l->actor);
    case_bind_text(q, 6, l->name);
    sqldb_bind_int(q, 7, l->confidence);
    case_bind_text(q, 8, l->evidence);
    case_bind_text(q, 9, who->analyst);
    case_bind_text(q, 10, now);
    int64_t id = 0;
    if ((rc = insert_returning(db, q, "case_labels", &id, err))) goto fail;
    json_t *d = json_pack("{s:I,s:s,s:s,s:s}", "label", (json_int_t)id, "chain", chain, "address",
                          addr, "category", category);
    if ((rc = case_audit_json(db, who, case_id, "label.add", d, err))) goto fail;
    if (out &&
        (rc = read_back(db, label_cols, id, sizeof *out, read_label, free_label_row, out, err)))
        goto fail;
    if ((rc = case_commit(db, err))) {
        if (out) case_label_free(out);
        goto out;
    }
    /* recorded; now the label set (a failure here leaves the label for the next feed) */
    if ((rc = feed_locked(db, NULL, err)))
        util_err_prefix(err,
                        "label %" PRId64 " recorded in case %" PRId64
                        ", but %s/%s not updated (the next `case label` feeds it)",
                        id, case_id, db->dir, LABELS_FILE);
    goto out;
fail:
    case_rollback(db);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---------------- notes ---------------- */

int case_note_add(case_db *db, const case_origin *who, int64_t case_id, const char *text,
                  case_note *out, util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (!rc) rc = case_check_text("text", text, CASE_MAX_LONG, 1, 1, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    if ((rc = case_exists(db, case_id, err))) goto fail;
    char now[32];
    case_now(now);
    sqldb_stmt *q;
    if ((rc = case_sql_prep(db, &q,
                            "INSERT INTO case_notes (case_id, author, created_at, body)"
                            " VALUES (?, ?, ?, ?) RETURNING id",
                            err)))
        goto fail;
    sqldb_bind_int64(q, 1, case_id);
    case_bind_text(q, 2, who->analyst);
    case_bind_text(q, 3, now);
    case_bind_text(q, 4, text);
    int64_t id = 0;
    if ((rc = insert_returning(db, q, "case_notes", &id, err))) goto fail;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"note\": %" PRId64 "}", id);
    if ((rc = case_audit_insert(db, who, case_id, "note.add", detail, err))) goto fail;
    if (out) {
        out->id = id;
        out->case_id = case_id;
        out->author = strdup(who->analyst);
        out->created_at = strdup(now);
        out->text = strdup(text);
        if (!out->author || !out->created_at || !out->text) {
            case_note_free(out);
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = case_commit(db, err)) && out) case_note_free(out);
    goto out;
fail:
    case_rollback(db);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---------------- a whole case ---------------- */

int case_get(case_db *db, const case_origin *who, int64_t id, case_full *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    if ((rc = case_exists(db, id, err))) goto fail;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"case\": %" PRId64 "}", id);
    if ((rc = case_audit_insert(db, who, id, "case.read", detail, err))) goto fail;
    char sql[1024];
    case_info *info = NULL;
    size_t n = 0;
    snprintf(sql, sizeof sql, "%s WHERE id = ?", info_cols);
    rc = case_read_rows(db, sql, id, sizeof *info, read_info, (void **)&info, &n, err);
    if (n == 1)
        out->info = info[0];
    else
        case_info_array_free(info, n), info = NULL;
    free(info);
    if (rc) goto fail;
    snprintf(sql, sizeof sql, "%s WHERE case_id = ? ORDER BY id", seed_cols);
    if ((rc = case_read_rows(db, sql, id, sizeof *out->seeds, read_seed, (void **)&out->seeds,
                             &out->n_seeds, err)))
        goto fail;
    snprintf(sql, sizeof sql, "%s WHERE case_id = ? ORDER BY id", label_cols);
    if ((rc = case_read_rows(db, sql, id, sizeof *out->labels, read_label, (void **)&out->labels,
                             &out->n_labels, err)))
        goto fail;
    snprintf(sql, sizeof sql, "%s WHERE case_id = ? ORDER BY id", note_cols);
    if ((rc = case_read_rows(db, sql, id, sizeof *out->notes, read_note, (void **)&out->notes,
                             &out->n_notes, err)))
        goto fail;
    snprintf(sql, sizeof sql, "%s WHERE case_id = ? ORDER BY id", audit_cols);
    if ((rc = case_read_rows(db, sql, id, sizeof *out->audit, read_audit, (void **)&out->audit,
                             &out->n_audit, err)))
        goto fail;
    /* the runs: ids first, then each with its totals and endpoints */
    sqldb_stmt *q;
    if ((rc = case_sql_prep(db, &q, "SELECT COUNT(*) FROM trace_runs WHERE case_id = ?", err)))
        goto fail;
    sqldb_bind_int64(q, 1, id);
    size_t nr = sqldb_step(q) == SQLDB_ROW ? (size_t)sqldb_column_int64(q, 0) : 0;
    sqldb_finalize(q);
    if (nr && !(out->runs = calloc(nr, sizeof *out->runs))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc =
             case_sql_prep(db, &q, "SELECT id FROM trace_runs WHERE case_id = ? ORDER BY id", err)))
        goto fail;
    sqldb_bind_int64(q, 1, id);
    while (!rc && out->n_runs < nr && sqldb_step(q) == SQLDB_ROW)
        if (!(rc = case_run_read(db, sqldb_column_int64(q, 0), &out->runs[out->n_runs], err)))
            out->n_runs++;
    sqldb_finalize(q);
    if (rc) goto fail;
    if ((rc = case_commit(db, err))) goto fail_free;
    pthread_mutex_unlock(&db->mu);
    /* the whole chain, so a report can say the log it shows is intact */
    int ok = 0;
    if ((rc = case_audit_verify(db, &ok, &out->audit_bad_id, err))) {
        case_full_free(out);
        return rc;
    }
    out->audit_ok = ok;
    return 0;
fail:
    case_rollback(db);
fail_free:
    case_full_free(out);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}
