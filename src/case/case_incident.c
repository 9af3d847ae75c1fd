/* case: the incident registry: importing checked incident files in one transaction (new
 * incidents get a case; the same content twice changes nothing), the stolen amounts computed
 * from the seeds in the stores, and reading incidents back with their latest trace. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "case_int.h"

/* ---------------- frees ---------------- */

static void seed_free(case_incident_seed *s)
{
    free(s->chain), free(s->spec), free(s->role), free(s->note), free(s->url), free(s->origin);
    memset(s, 0, sizeof *s);
}

static void stolen_free(case_stolen *s)
{
    free(s->chain), free(s->asset), free(s->symbol), free(s->amount);
    memset(s, 0, sizeof *s);
}

void case_inc_stolen_free(case_stolen *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        stolen_free(&a[i]);
    free(a);
}

void case_deposit_free(case_deposit *d)
{
    free(d->chain), free(d->address), free(d->category), free(d->actor), free(d->tx_hash);
    free(d->asset), free(d->amount), free(d->taint), free(d->to_chain), free(d->method);
    free(d->confidence), free(d->why_not);
    memset(d, 0, sizeof *d);
}

void case_itrace_free(case_itrace *t)
{
    free(t->run_by), free(t->run_at), free(t->command), free(t->skipped);
    for (size_t i = 0; i < t->n_legs; i++) {
        free(t->legs[i].leg), free(t->legs[i].share_num), free(t->legs[i].share_den);
        case_run_free(&t->runs[i]);
    }
    for (size_t i = 0; i < t->n_deposits; i++)
        case_deposit_free(&t->deposits[i]);
    free(t->legs), free(t->runs), free(t->deposits);
    memset(t, 0, sizeof *t);
}

void case_incident_free(case_incident *i)
{
    if (!i) return;
    free(i->slug), free(i->date), free(i->victim), free(i->chains), free(i->amount_native);
    free(i->amount_fiat), free(i->usd), free(i->notes), free(i->origin), free(i->created_by);
    free(i->created_at), free(i->updated_at);
    for (size_t k = 0; k < i->n_attrs; k++) {
        case_attribution *a = &i->attrs[k];
        free(a->actor), free(a->attributed_by), free(a->kind), free(a->date), free(a->url);
    }
    for (size_t k = 0; k < i->n_urls; k++)
        free(i->urls[k].role), free(i->urls[k].url);
    for (size_t k = 0; k < i->n_seeds; k++)
        seed_free(&i->seeds[k]);
    free(i->attrs), free(i->urls), free(i->seeds);
    case_inc_stolen_free(i->stolen, i->n_stolen);
    case_itrace_free(&i->trace);
    memset(i, 0, sizeof *i);
}

void case_incident_array_free(case_incident *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        case_incident_free(&a[i]);
    free(a);
}

/* ---------------- stolen amounts ---------------- */

static char *xdup(const char *s, int *oom)
{
    char *d = strdup(s ? s : "");
    if (!d) *oom = 1;
    return d;
}

int case_inc_stolen(const case_stores *st, const case_incident_seed *seeds, size_t n,
                    case_stolen **out, size_t *n_out, util_err *err)
{
    *out = NULL, *n_out = 0;
    trace_seeds bs = {0};
    etrace_seeds es = {0};
    int rc = 0, oom = 0;
    const char *evm_chain = st && st->evm ? evm_store_chain(st->evm) : NULL;
    for (size_t i = 0; i < n && !rc; i++) {
        util_err e2 = {0};
        if (!strcmp(seeds[i].chain, "btc") && st && st->btc) {
            if ((rc = trace_add_spec(&bs, st->btc, seeds[i].spec, &e2)) && rc != UTIL_ENOMEM)
                rc = 0; /* not in the store: not counted */
        } else if (evm_chain && !strcmp(seeds[i].chain, evm_chain)) {
            if ((rc = etrace_add_spec(&es, st->evm, seeds[i].spec, ETRACE_ASSET_ALL, &e2)) &&
                rc != UTIL_ENOMEM)
                rc = 0;
        }
    }
    if (rc) goto done;
    /* per asset: btc; then the EVM chain's native coin and tokens in the order first met */
    typedef struct {
        uint32_t token;
        evm_u256 sum;
        uint64_t refs;
    } acc;
    acc *a = calloc(es.n + 1, sizeof *a);
    size_t na = 0;
    if (!a) {
        rc = UTIL_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < es.n && !rc; i++) {
        evm_xfer_row x;
        if ((rc = evm_store_xfer(st->evm, es.x[i], &x, err))) break;
        size_t k = 0;
        while (k < na && a[k].token != x.token)
            k++;
        if (k == na) a[na++].token = x.token;
        evm_u256_add(&a[k].sum, &a[k].sum, &x.amount);
        a[k].refs++;
    }
    size_t total = (bs.n ? 1 : 0) + na;
    if (!rc && total && !(*out = calloc(total, sizeof **out))) rc = UTIL_ENOMEM;
    if (!rc && bs.n) {
        uint64_t sum = 0;
        for (size_t i = 0; i < bs.n; i++)
            sum += (uint64_t)store_out_value(st->btc, bs.out[i]);
        char num[32];
        snprintf(num, sizeof num, "%" PRIu64, sum);
        case_stolen *s = &(*out)[(*n_out)++];
        *s = (case_stolen){
            xdup("btc", &oom), xdup("native", &oom), xdup("BTC", &oom), 8, xdup(num, &oom), bs.n};
    }
    for (size_t k = 0; !rc && k < na; k++) {
        char num[EVM_U256_DEC_MAX], asset[43], sym[64];
        evm_u256_format(num, &a[k].sum);
        etrace_asset_text(st->evm, a[k].token, asset);
        int decimals = 18;
        if (a[k].token) {
            evm_token_meta m;
            util_err e2 = {0};
            snprintf(sym, sizeof sym, "%s", asset);
            decimals = 0;
            if (!evm_store_token(st->evm, a[k].token, &m, &e2)) {
                if (*m.symbol &&
                    labels_text_check(m.symbol, strlen(m.symbol), 0, NULL) == strlen(m.symbol))
                    snprintf(sym, sizeof sym, "%s", m.symbol);
                if (m.decimals >= 0 && m.decimals <= 77) decimals = m.decimals;
            }
        } else {
            snprintf(sym, sizeof sym, "%s", evm_chain);
            for (char *p = sym; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        }
        case_stolen *s = &(*out)[(*n_out)++];
        *s = (case_stolen){xdup(evm_chain, &oom), xdup(asset, &oom), xdup(sym, &oom), decimals,
                           xdup(num, &oom),       a[k].refs};
    }
    free(a);
done:
    trace_seeds_free(&bs);
    etrace_seeds_free(&es);
    if (oom && !rc) rc = UTIL_ENOMEM;
    if (rc == UTIL_ENOMEM) util_errf(err, rc, "out of memory");
    if (rc) {
        case_inc_stolen_free(*out, *n_out);
        *out = NULL, *n_out = 0;
    }
    return rc;
}

/* Replace an incident's amounts (inside the caller's transaction). */
int case_inc_write_stolen(case_db *db, int64_t id, const case_stolen *s, size_t n, util_err *err)
{
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q, "DELETE FROM incident_amounts WHERE incident_id = ?", err);
    if (rc) return rc;
    sqldb_bind_int64(q, 1, id);
    if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incident_amounts", err);
    sqldb_finalize(q);
    if (rc || (rc = case_sql_prep(db, &q,
                                  "INSERT INTO incident_amounts (incident_id, chain, asset, symbol,"
                                  " decimals, amount, n_refs, computed_at)"
                                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                  err)))
        return rc;
    char now[32];
    case_now(now);
    for (size_t i = 0; i < n && !rc; i++) {
        sqldb_reset(q);
        sqldb_bind_int64(q, 1, id);
        case_bind_text(q, 2, s[i].chain);
        case_bind_text(q, 3, s[i].asset);
        case_bind_text(q, 4, s[i].symbol);
        sqldb_bind_int(q, 5, s[i].decimals);
        case_bind_text(q, 6, s[i].amount);
        sqldb_bind_int64(q, 7, (int64_t)s[i].refs);
        case_bind_text(q, 8, now);
        if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incident_amounts", err);
    }
    sqldb_finalize(q);
    return rc;
}

/* ---------------- reading ---------------- */

#define DUP(f, i) (oom |= !((f) = case_col_dup(q, i)))

static int read_attr(sqldb_stmt *q, void *row)
{
    case_attribution *a = row;
    int oom = 0;
    memset(a, 0, sizeof *a);
    DUP(a->actor, 0), DUP(a->attributed_by, 1), DUP(a->kind, 2);
    a->confidence = sqldb_column_int(q, 3);
    DUP(a->date, 4), DUP(a->url, 5);
    return oom ? UTIL_ENOMEM : 0;
}

static int read_url(sqldb_stmt *q, void *row)
{
    case_source_url *u = row;
    int oom = 0;
    memset(u, 0, sizeof *u);
    DUP(u->role, 0), DUP(u->url, 1);
    return oom ? UTIL_ENOMEM : 0;
}

static int read_seed(sqldb_stmt *q, void *row)
{
    case_incident_seed *x = row;
    int oom = 0;
    memset(x, 0, sizeof *x);
    x->id = sqldb_column_int64(q, 0);
    DUP(x->chain, 1), DUP(x->spec, 2), DUP(x->role, 3), DUP(x->note, 4), DUP(x->url, 5);
    DUP(x->origin, 6);
    return oom ? UTIL_ENOMEM : 0;
}

static int read_stolen(sqldb_stmt *q, void *row)
{
    case_stolen *x = row;
    int oom = 0;
    memset(x, 0, sizeof *x);
    DUP(x->chain, 0), DUP(x->asset, 1), DUP(x->symbol, 2);
    x->decimals = sqldb_column_int(q, 3);
    DUP(x->amount, 4);
    x->refs = (uint64_t)sqldb_column_int64(q, 5);
    return oom ? UTIL_ENOMEM : 0;
}

static int read_children(case_db *db, case_incident *inc, util_err *err)
{
    int rc = case_read_rows(db,
                            "SELECT actor, attributed_by, kind, confidence, attributed_on, url"
                            " FROM incident_attributions WHERE incident_id = ? ORDER BY pos",
                            inc->id, sizeof *inc->attrs, read_attr, (void **)&inc->attrs,
                            &inc->n_attrs, err);
    if (!rc)
        rc = case_read_rows(db,
                            "SELECT url_role, url FROM incident_urls WHERE incident_id = ?"
                            " ORDER BY pos",
                            inc->id, sizeof *inc->urls, read_url, (void **)&inc->urls, &inc->n_urls,
                            err);
    if (!rc)
        rc = case_read_rows(db,
                            "SELECT id, chain, spec, seed_role, note, url, origin FROM"
                            " incident_seeds WHERE incident_id = ? ORDER BY id",
                            inc->id, sizeof *inc->seeds, read_seed, (void **)&inc->seeds,
                            &inc->n_seeds, err);
    /* amounts: btc first, then by chain and asset (native first) */
    if (!rc)
        rc = case_read_rows(db,
                            "SELECT chain, asset, symbol, decimals, amount, n_refs FROM"
                            " incident_amounts WHERE incident_id = ? ORDER BY chain <> 'btc',"
                            " chain, asset <> 'native', asset",
                            inc->id, sizeof *inc->stolen, read_stolen, (void **)&inc->stolen,
                            &inc->n_stolen, err);
    return rc;
}

/* The latest trace of an incident, with its runs and deposits. */
static int read_trace(case_db *db, int64_t inc_id, case_itrace *t, util_err *err)
{
    memset(t, 0, sizeof *t);
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q,
                           "SELECT id, run_by, run_at, command, btc_tip, btc_height, evm_chain,"
                           " evm_tip, evm_height, skipped FROM incident_traces"
                           " WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                           err);
    if (rc) return rc;
    sqldb_bind_int64(q, 1, inc_id);
    int oom = 0;
    if (sqldb_step(q) == SQLDB_ROW) {
        t->id = sqldb_column_int64(q, 0);
        DUP(t->run_by, 1), DUP(t->run_at, 2), DUP(t->command, 3);
        case_state_read(q, 4, &t->state);
        DUP(t->skipped, 9);
    }
    sqldb_finalize(q);
    if (oom) return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!t->id) return 0;
    /* legs */
    int64_t n = 0;
    if ((rc = case_sql_prep(db, &q, "SELECT COUNT(*) FROM incident_trace_runs WHERE trace_id = ?",
                            err)))
        return rc;
    sqldb_bind_int64(q, 1, t->id);
    if (sqldb_step(q) == SQLDB_ROW) n = sqldb_column_int64(q, 0);
    sqldb_finalize(q);
    if (n && (!(t->legs = calloc((size_t)n, sizeof *t->legs)) ||
              !(t->runs = calloc((size_t)n, sizeof *t->runs))))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    if ((rc = case_sql_prep(db, &q,
                            "SELECT run_id, leg, deposit_pos, share_num, share_den FROM"
                            " incident_trace_runs WHERE trace_id = ? ORDER BY pos",
                            err)))
        return rc;
    sqldb_bind_int64(q, 1, t->id);
    while (!rc && !oom && t->n_legs < (size_t)n && sqldb_step(q) == SQLDB_ROW) {
        case_leg *l = &t->legs[t->n_legs];
        l->run_id = sqldb_column_int64(q, 0);
        DUP(l->leg, 1);
        l->deposit = sqldb_column_int64(q, 2);
        DUP(l->share_num, 3), DUP(l->share_den, 4);
        t->n_legs++;
        rc = case_run_read(db, l->run_id, &t->runs[t->n_legs - 1], err);
    }
    sqldb_finalize(q);
    if (oom) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (rc) return rc;
    /* deposits */
    if ((rc = case_sql_prep(db, &q, "SELECT COUNT(*) FROM incident_deposits WHERE trace_id = ?",
                            err)))
        return rc;
    sqldb_bind_int64(q, 1, t->id);
    n = sqldb_step(q) == SQLDB_ROW ? sqldb_column_int64(q, 0) : 0;
    sqldb_finalize(q);
    if (n && !(t->deposits = calloc((size_t)n, sizeof *t->deposits)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    if ((rc = case_sql_prep(db, &q,
                            "SELECT run_id, chain, address, category, actor, tx_hash, asset,"
                            " amount, taint, to_chain, link_method, link_confidence, links,"
                            " why_not FROM incident_deposits WHERE trace_id = ? ORDER BY pos",
                            err)))
        return rc;
    sqldb_bind_int64(q, 1, t->id);
    while (!oom && t->n_deposits < (size_t)n && sqldb_step(q) == SQLDB_ROW) {
        case_deposit *d = &t->deposits[t->n_deposits++];
        d->run_id = sqldb_column_int64(q, 0);
        DUP(d->chain, 1), DUP(d->address, 2), DUP(d->category, 3), DUP(d->actor, 4);
        DUP(d->tx_hash, 5), DUP(d->asset, 6), DUP(d->amount, 7), DUP(d->taint, 8);
        DUP(d->to_chain, 9), DUP(d->method, 10), DUP(d->confidence, 11);
        d->links = sqldb_column_int64(q, 12);
        DUP(d->why_not, 13);
    }
    sqldb_finalize(q);
    return oom ? util_errf(err, UTIL_ENOMEM, "out of memory") : 0;
}

static const char inc_cols[] =
    "SELECT i.id, slug, i.incident_date, i.victim, i.chains, amount_native, amount_fiat, usd,"
    " notes, origin, i.created_by, i.created_at, updated_at,"
    " COALESCE((SELECT MIN(c.id) FROM cases c WHERE c.incident_id = i.id), 0) FROM incidents i";

static int read_row(sqldb_stmt *q, case_incident *inc)
{
    int oom = 0;
    memset(inc, 0, sizeof *inc);
    inc->id = sqldb_column_int64(q, 0);
    DUP(inc->slug, 1), DUP(inc->date, 2), DUP(inc->victim, 3), DUP(inc->chains, 4);
    DUP(inc->amount_native, 5), DUP(inc->amount_fiat, 6), DUP(inc->usd, 7), DUP(inc->notes, 8);
    DUP(inc->origin, 9), DUP(inc->created_by, 10), DUP(inc->created_at, 11);
    DUP(inc->updated_at, 12);
    inc->case_id = sqldb_column_int64(q, 13);
    return oom ? UTIL_ENOMEM : 0;
}
#undef DUP

/* Read incidents: where is "" (all) or a WHERE clause with one text parameter (arg). */
int case_inc_read(case_db *db, const char *where, const char *arg, int with_traces,
                  case_incident **out, size_t *n, util_err *err)
{
    *out = NULL, *n = 0;
    char sql[1024];
    snprintf(sql, sizeof sql, "%s %s ORDER BY i.incident_date, slug", inc_cols, where);
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q, sql, err);
    if (rc) return rc;
    if (arg) case_bind_text(q, 1, arg);
    size_t cap = 0;
    int s;
    while ((s = sqldb_step(q)) == SQLDB_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            case_incident *a = realloc(*out, nc * sizeof *a);
            if (!a) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            *out = a, cap = nc;
        }
        if (read_row(q, &(*out)[(*n)++])) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && s != SQLDB_DONE) rc = case_sql_fail(db, "incidents", err);
    sqldb_finalize(q);
    for (size_t i = 0; !rc && i < *n; i++) {
        rc = read_children(db, &(*out)[i], err);
        if (!rc && with_traces) rc = read_trace(db, (*out)[i].id, &(*out)[i].trace, err);
    }
    if (rc) {
        case_incident_array_free(*out, *n);
        *out = NULL, *n = 0;
    }
    return rc;
}

int case_incident_list(case_db *db, const case_origin *who, int with_traces, case_incident **out,
                       size_t *n, util_err *err)
{
    *out = NULL, *n = 0;
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if (!(rc = case_begin(db, err))) {
        rc = case_audit_insert(db, who, 0, "incident.list", NULL, err);
        if (!rc) rc = case_inc_read(db, "", NULL, with_traces, out, n, err);
        rc = rc ? (case_rollback(db), rc) : case_commit(db, err);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        case_incident_array_free(*out, *n);
        *out = NULL, *n = 0;
    }
    return rc;
}

int case_incident_get(case_db *db, const case_origin *who, const char *slug, case_incident *out,
                      util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    case_incident *a = NULL;
    size_t n = 0;
    pthread_mutex_lock(&db->mu);
    if (!(rc = case_begin(db, err))) {
        rc = case_inc_read(db, "WHERE slug = ?", slug, 1, &a, &n, err);
        if (!rc && !n) {
            char esc[200];
            rc = util_errf(err, UTIL_ENOTFOUND, "incident '%s' does not exist",
                           labels_text_escape(esc, sizeof esc, slug));
        }
        if (!rc) {
            json_t *d = json_pack("{s:s}", "incident", slug);
            char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_decref(d);
            rc = dt ? case_audit_insert(db, who, a[0].case_id, "incident.read", dt, err)
                    : util_errf(err, UTIL_ENOMEM, "out of memory");
            free(dt);
        }
        rc = rc ? (case_rollback(db), rc) : case_commit(db, err);
    }
    pthread_mutex_unlock(&db->mu);
    if (!rc) {
        *out = a[0];
        for (size_t i = 1; i < n; i++)
            case_incident_free(&a[i]);
        free(a);
    } else
        case_incident_array_free(a, n);
    return rc;
}

/* ---------------- import ---------------- */

/* The first field in which two incidents differ (the content an import compares), or NULL. */
static const char *inc_diff(const case_incident *a, const case_incident *b)
{
#define S(f, name)                                                                                 \
    if (strcmp(a->f ? a->f : "", b->f ? b->f : "")) return name;
    S(date, "date") S(victim, "victim") S(chains, "chains") S(amount_native, "amount_native");
    S(amount_fiat, "amount_fiat") S(notes, "notes");
    if (a->n_attrs != b->n_attrs) return "attribution";
    for (size_t i = 0; i < a->n_attrs; i++) {
        S(attrs[i].actor, "attribution") S(attrs[i].attributed_by, "attributed_by");
        S(attrs[i].kind, "attribution_kind") S(attrs[i].date, "attribution_date");
        S(attrs[i].url, "attribution_source_url");
        if (a->attrs[i].confidence != b->attrs[i].confidence) return "confidence";
    }
    if (a->n_urls != b->n_urls) return "source urls";
    for (size_t i = 0; i < a->n_urls; i++) {
        S(urls[i].role, "source urls") S(urls[i].url, "source urls");
    }
#undef S
    return NULL;
}

static int insert_children(case_db *db, const case_incident *inc, int64_t id, util_err *err)
{
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q,
                           "INSERT INTO incident_attributions (incident_id, pos, actor,"
                           " attributed_by, kind, confidence, attributed_on, url)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           err);
    for (size_t i = 0; !rc && i < inc->n_attrs; i++) {
        const case_attribution *a = &inc->attrs[i];
        sqldb_reset(q);
        sqldb_bind_int64(q, 1, id);
        sqldb_bind_int64(q, 2, (int64_t)i);
        case_bind_text(q, 3, a->actor);
        case_bind_text(q, 4, a->attributed_by);
        case_bind_text(q, 5, a->kind);
        sqldb_bind_int(q, 6, a->confidence);
        case_bind_text(q, 7, a->date);
        case_bind_text(q, 8, a->url);
        if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incident_attributions", err);
    }
    sqldb_finalize(q);
    if (rc || (rc = case_sql_prep(db, &q,
                                  "INSERT INTO incident_urls (incident_id, pos, url_role, url)"
                                  " VALUES (?, ?, ?, ?)",
                                  err)))
        return rc;
    for (size_t i = 0; !rc && i < inc->n_urls; i++) {
        sqldb_reset(q);
        sqldb_bind_int64(q, 1, id);
        sqldb_bind_int64(q, 2, (int64_t)i);
        case_bind_text(q, 3, inc->urls[i].role);
        case_bind_text(q, 4, inc->urls[i].url);
        if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incident_urls", err);
    }
    sqldb_finalize(q);
    return rc;
}

/* Add the seeds an incident lacks; *added counts them. */
static int insert_seeds(case_db *db, const case_origin *who, int64_t id,
                        const case_incident_seed *s, size_t n, size_t *added, util_err *err)
{
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q,
                           "INSERT INTO incident_seeds (incident_id, chain, spec, seed_role, note,"
                           " url, origin, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT (incident_id, chain, spec) DO NOTHING",
                           err);
    char now[32];
    case_now(now);
    for (size_t i = 0; !rc && i < n; i++) {
        sqldb_reset(q);
        sqldb_bind_int64(q, 1, id);
        case_bind_text(q, 2, s[i].chain);
        case_bind_text(q, 3, s[i].spec);
        case_bind_text(q, 4, s[i].role);
        case_bind_text(q, 5, s[i].note);
        case_bind_text(q, 6, s[i].url);
        case_bind_text(q, 7, s[i].origin);
        case_bind_text(q, 8, who->analyst);
        case_bind_text(q, 9, now);
        if (sqldb_step(q) != SQLDB_DONE)
            rc = case_sql_fail(db, "incident_seeds", err);
        else
            *added += (size_t)sqldb_changes(db->sql);
    }
    sqldb_finalize(q);
    return rc;
}

/* A new incident, its case and its audit row. */
static int insert_incident(case_db *db, const case_origin *who, const case_incident *inc,
                           int64_t *id, util_err *err)
{
    char now[32];
    case_now(now);
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q,
                           "INSERT INTO incidents (slug, incident_date, victim, chains,"
                           " amount_native, amount_fiat, usd, notes, origin, created_by,"
                           " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                           " RETURNING id",
                           err);
    if (rc) return rc;
    const char *v[] = {inc->slug,          inc->date,        inc->victim, inc->chains,
                       inc->amount_native, inc->amount_fiat, inc->usd,    inc->notes,
                       inc->origin,        who->analyst,     now,         now};
    for (int i = 0; i < 12; i++)
        case_bind_text(q, i + 1, v[i]);
    if (sqldb_step(q) == SQLDB_ROW)
        *id = sqldb_column_int64(q, 0);
    else
        rc = case_sql_fail(db, "incidents", err);
    sqldb_finalize(q);
    if (!rc) rc = insert_children(db, inc, *id, err);
    if (rc) return rc;
    /* its case: the investigation the incident's traces are recorded in */
    util_buf title = {0};
    if (util_buf_printf(&title, "Incident %s%s%s", inc->slug, *inc->victim ? ": " : "",
                        inc->victim) ||
        util_buf_append(&title, "", 1)) {
        util_buf_free(&title);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (title.len > CASE_MAX_TEXT) { /* cut at a character boundary */
        size_t n = CASE_MAX_TEXT;
        while (n && (title.data[n] & 0xc0) == 0x80)
            n--;
        title.data[n] = 0;
    }
    int full_date = strlen(inc->date) >= 10; /* a case takes a day or a time */
    int64_t case_id = 0;
    if (!(rc = case_sql_prep(db, &q,
                             "INSERT INTO cases (title, incident_date, victim, chains, description,"
                             " status, created_by, created_at, incident_id)"
                             " VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?) RETURNING id",
                             err))) {
        case_bind_text(q, 1, (const char *)title.data);
        case_bind_text(q, 2, full_date ? inc->date : "");
        case_bind_text(q, 3, inc->victim);
        case_bind_text(q, 4, inc->chains);
        case_bind_text(q, 5, inc->notes);
        case_bind_text(q, 6, who->analyst);
        case_bind_text(q, 7, now);
        sqldb_bind_int64(q, 8, *id);
        if (sqldb_step(q) == SQLDB_ROW)
            case_id = sqldb_column_int64(q, 0);
        else
            rc = case_sql_fail(db, "cases", err);
        sqldb_finalize(q);
    }
    util_buf_free(&title);
    if (!rc)
        rc = case_audit_json(db, who, case_id, "incident.new",
                             json_pack("{s:s,s:I,s:s}", "incident", inc->slug, "case",
                                       (json_int_t)case_id, "origin", inc->origin),
                             err);
    return rc;
}

static int update_incident(case_db *db, const case_origin *who, const case_incident *inc,
                           int64_t id, int64_t case_id, const char *field, util_err *err)
{
    char now[32];
    case_now(now);
    sqldb_stmt *q;
    int rc = case_sql_prep(db, &q,
                           "UPDATE incidents SET incident_date = ?, victim = ?, chains = ?,"
                           " amount_native = ?, amount_fiat = ?, usd = ?, notes = ?, origin = ?,"
                           " updated_at = ? WHERE id = ?",
                           err);
    if (rc) return rc;
    const char *v[] = {inc->date,          inc->victim,      inc->chains,
                       inc->amount_native, inc->amount_fiat, inc->usd,
                       inc->notes,         inc->origin,      now};
    for (int i = 0; i < 9; i++)
        case_bind_text(q, i + 1, v[i]);
    sqldb_bind_int64(q, 10, id);
    if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incidents", err);
    sqldb_finalize(q);
    static const char *const del[] = {"DELETE FROM incident_attributions WHERE incident_id = ?",
                                      "DELETE FROM incident_urls WHERE incident_id = ?"};
    for (int k = 0; k < 2 && !rc; k++) {
        if ((rc = case_sql_prep(db, &q, del[k], err))) break;
        sqldb_bind_int64(q, 1, id);
        if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incidents", err);
        sqldb_finalize(q);
    }
    if (!rc) rc = insert_children(db, inc, id, err);
    if (!rc)
        rc = case_audit_json(db, who, case_id, "incident.update",
                             json_pack("{s:s,s:s,s:s}", "incident", inc->slug, "first_change",
                                       field, "origin", inc->origin),
                             err);
    return rc;
}

/* Check every seed of the set in the stores that are open: *unchecked counts those on a chain
 * without one. */
static int check_seeds_in_store(const case_stores *st, const case_incident_seed *s,
                                const char *where, size_t *unchecked, util_err *err)
{
    const char *evm_chain = st && st->evm ? evm_store_chain(st->evm) : NULL;
    util_err e2 = {0};
    int rc = 0;
    if (!strcmp(s->chain, "btc") && st && st->btc) {
        trace_seeds sd = {0};
        rc = trace_add_spec(&sd, st->btc, s->spec, &e2);
        trace_seeds_free(&sd);
    } else if (evm_chain && !strcmp(s->chain, evm_chain)) {
        etrace_seeds sd = {0};
        rc = etrace_add_spec(&sd, st->evm, s->spec, ETRACE_ASSET_ALL, &e2);
        etrace_seeds_free(&sd);
    } else {
        (*unchecked)++;
        return 0;
    }
    if (rc == UTIL_ENOMEM) return util_errf(err, rc, "out of memory");
    if (rc)
        return util_errf(err, rc == UTIL_ENOTFOUND ? UTIL_ENOTFOUND : UTIL_EFORMAT,
                         "%s: seed %s (%s): %s", where, s->spec, s->chain, e2.msg);
    return 0;
}

static int64_t find_incident(case_db *db, const char *slug, int64_t *case_id, util_err *err,
                             int *rc)
{
    sqldb_stmt *q;
    *rc = case_sql_prep(db, &q,
                        "SELECT id, COALESCE((SELECT MIN(c.id) FROM cases c WHERE"
                        " c.incident_id = i.id), 0) FROM incidents i WHERE slug = ?",
                        err);
    if (*rc) return 0;
    case_bind_text(q, 1, slug);
    int64_t id = 0;
    if (sqldb_step(q) == SQLDB_ROW) {
        id = sqldb_column_int64(q, 0);
        if (case_id) *case_id = sqldb_column_int64(q, 1);
    }
    sqldb_finalize(q);
    return id;
}

/* Recompute the stolen amounts of incident id from all its stored seeds. */
static int restate(case_db *db, const case_stores *st, int64_t id, util_err *err)
{
    case_incident inc = {.id = id};
    int rc = read_children(db, &inc, err);
    case_stolen *s = NULL;
    size_t n = 0;
    if (!rc) rc = case_inc_stolen(st, inc.seeds, inc.n_seeds, &s, &n, err);
    if (!rc) rc = case_inc_write_stolen(db, id, s, n, err);
    case_inc_stolen_free(s, n);
    case_incident_free(&inc);
    return rc;
}

int case_incident_import(case_db *db, const case_origin *who, const case_stores *st,
                         const char *const *paths, size_t n_paths, unsigned flags,
                         case_import_report *rep, util_err *err)
{
    case_import_report r = {0};
    if (rep) *rep = r;
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    case_inc_set set = {0};
    for (size_t i = 0; i < n_paths && !rc; i++)
        rc = case_inc_parse_file(paths[i], &set, err);
    r.files = n_paths;
    r.read = set.n_inc;
    /* an id twice among the files */
    for (size_t i = 0; !rc && i < set.n_inc; i++)
        for (size_t j = 0; j < i && !rc; j++)
            if (!strcmp(set.inc[i].slug, set.inc[j].slug))
                rc = util_errf(err, UTIL_EFORMAT, "%s: incident '%s' given twice (first at %s)",
                               set.inc[i].origin, set.inc[i].slug, set.inc[j].origin);
    /* seed rows join the incidents of the files; the others are for incidents stored */
    char *to_db = set.n_rows ? calloc(set.n_rows, 1) : NULL;
    if (!rc && set.n_rows && !to_db) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t k = 0; !rc && k < set.n_rows; k++) {
        size_t i = 0;
        while (i < set.n_inc && strcmp(set.inc[i].slug, set.rows[k].slug))
            i++;
        if (i == set.n_inc) {
            to_db[k] = 1;
            continue;
        }
        case_incident *inc = &set.inc[i];
        int dup = 0;
        for (size_t s = 0; s < inc->n_seeds; s++)
            dup |= !strcmp(inc->seeds[s].chain, set.rows[k].seed.chain) &&
                   !strcmp(inc->seeds[s].spec, set.rows[k].seed.spec);
        if (dup) continue;
        case_incident_seed *a = realloc(inc->seeds, (inc->n_seeds + 1) * sizeof *a);
        if (!a) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        inc->seeds = a;
        a[inc->n_seeds++] = set.rows[k].seed;
        memset(&set.rows[k].seed, 0, sizeof set.rows[k].seed); /* moved */
        to_db[k] = 2;
    }
    /* every seed against the stores that are open (no lock needed: stores only) */
    for (size_t i = 0; !rc && i < set.n_inc; i++)
        for (size_t s = 0; !rc && s < set.inc[i].n_seeds; s++)
            rc = check_seeds_in_store(st, &set.inc[i].seeds[s], set.inc[i].seeds[s].origin,
                                      &r.seeds_unchecked, err);
    for (size_t k = 0; !rc && k < set.n_rows; k++)
        if (to_db[k] == 1)
            rc = check_seeds_in_store(st, &set.rows[k].seed, set.rows[k].where, &r.seeds_unchecked,
                                      err);
    if (rc) goto out;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto unlock;
    int64_t *touched = calloc(set.n_inc + set.n_rows + 1, sizeof *touched);
    size_t n_touched = 0;
    if (!touched) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < set.n_inc; i++) {
        case_incident *inc = &set.inc[i];
        int64_t case_id = 0, id = find_incident(db, inc->slug, &case_id, err, &rc);
        if (rc) break;
        size_t before = r.seeds_added;
        int changed = 0;
        if (!id) {
            if ((rc = insert_incident(db, who, inc, &id, err))) break;
            r.added++, changed = 1;
        } else {
            case_incident old = {.id = id};
            sqldb_stmt *q;
            if (!(rc = case_sql_prep(db, &q,
                                     "SELECT incident_date, victim, chains, amount_native,"
                                     " amount_fiat, notes, origin FROM incidents WHERE id = ?",
                                     err))) {
                sqldb_bind_int64(q, 1, id);
                if (sqldb_step(q) == SQLDB_ROW) {
                    old.date = case_col_dup(q, 0), old.victim = case_col_dup(q, 1);
                    old.chains = case_col_dup(q, 2), old.amount_native = case_col_dup(q, 3);
                    old.amount_fiat = case_col_dup(q, 4), old.notes = case_col_dup(q, 5);
                    old.origin = case_col_dup(q, 6);
                }
                sqldb_finalize(q);
                if (!old.date || !old.victim || !old.chains || !old.amount_native ||
                    !old.amount_fiat || !old.notes || !old.origin)
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            }
            if (!rc) rc = read_children(db, &old, err);
            const char *field = rc ? NULL : inc_diff(inc, &old);
            if (field && !(flags & CASE_IMPORT_UPDATE))
                rc = util_errf(err, UTIL_EINVAL,
                               "%s: incident '%s' is stored with another %s (imported from %s); "
                               "nothing was imported (--update replaces it)",
                               inc->origin, inc->slug, field, old.origin);
            else if (field) {
                if (!(rc = update_incident(db, who, inc, id, case_id, field, err)))
                    r.updated++, changed = 1;
            } else if (!rc)
                r.unchanged++;
            case_incident_free(&old);
            if (rc) break;
        }
        if ((rc = insert_seeds(db, who, id, inc->seeds, inc->n_seeds, &r.seeds_added, err))) break;
        /* amounts change only with the incident: a re-import writes nothing */
        if (changed || r.seeds_added > before) touched[n_touched++] = id;
    }
    for (size_t k = 0; !rc && k < set.n_rows; k++) {
        if (to_db[k] != 1) continue;
        int64_t id = find_incident(db, set.rows[k].slug, NULL, err, &rc);
        if (rc) break;
        if (!id) {
            rc = util_errf(err, UTIL_ENOTFOUND,
                           "%s: column incident_id: no incident '%s' (in the files imported or the "
                           "database)",
                           set.rows[k].where, set.rows[k].slug);
            break;
        }
        size_t before = r.seeds_added;
        if ((rc = insert_seeds(db, who, id, &set.rows[k].seed, 1, &r.seeds_added, err))) break;
        if (r.seeds_added > before) touched[n_touched++] = id;
    }
    for (size_t i = 0; !rc && i < n_touched; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= touched[j] == touched[i];
        if (!dup) rc = restate(db, st, touched[i], err);
    }
    if (!rc) {
        json_t *files = json_array();
        for (size_t i = 0; files && i < n_paths; i++)
            json_array_append_new(files, json_string(paths[i]));
        rc = case_audit_json(
            db, who, 0, "incident.import",
            json_pack("{s:o,s:I,s:I,s:I,s:I,s:I}", "files", files, "read", (json_int_t)r.read,
                      "added", (json_int_t)r.added, "unchanged", (json_int_t)r.unchanged, "updated",
                      (json_int_t)r.updated, "seeds_added", (json_int_t)r.seeds_added),
            err);
    }
    free(touched);
    rc = rc ? (case_rollback(db), rc) : case_commit(db, err);
unlock:
    pthread_mutex_unlock(&db->mu);
out:
    free(to_db);
    case_inc_set_free(&set);
    if (!rc && rep) *rep = r;
    return rc;
}
