/* case: `incident trace`. The incident's seeds are traced on each chain whose store is open
 * (each run recorded in the incident's case, as case_trace records one); the tainted deposits
 * into bridges and swaps that an EVM run finds are followed across the chain boundary the way
 * src/xtrace follows them (the deposit's links from xchain_links_from, the Bitcoin outputs a link
 * names traced by the Bitcoin tracer, scaled by the tainted share of the deposit), each leg a
 * recorded run too; then the trace itself (which runs, which shares, which deposits, which seeds
 * were skipped) is recorded with the recomputed stolen amounts, in one transaction. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "case_int.h"

#define INC_MAX_LINKS 64 /* links looked at per deposit (as xtrace) */

typedef struct legs {
    case_leg *v;
    size_t n, cap;
} legs;

static int add_leg(legs *l, int64_t run_id, const char *leg, int64_t deposit, const char *num,
                   const char *den)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 8;
        case_leg *a = realloc(l->v, nc * sizeof *a);
        if (!a) return UTIL_ENOMEM;
        l->v = a, l->cap = nc;
    }
    case_leg *x = &l->v[l->n];
    memset(x, 0, sizeof *x);
    x->run_id = run_id, x->deposit = deposit;
    if (!(x->leg = strdup(leg)) || !(x->share_num = strdup(num)) || !(x->share_den = strdup(den))) {
        free(x->leg), free(x->share_num), free(x->share_den);
        return UTIL_ENOMEM;
    }
    l->n++;
    return 0;
}

static void legs_free(legs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].leg), free(l->v[i].share_num), free(l->v[i].share_den);
    free(l->v);
}

static int set_field(char **f, const char *v)
{
    char *d = strdup(v);
    if (!d) return UTIL_ENOMEM;
    free(*f);
    *f = d;
    return 0;
}

static int hex_hash(const char *h, uint8_t out[32])
{
    if (strlen(h) != 66 || h[0] != '0' || h[1] != 'x') return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(h + 2 + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Whether the case has the seed; else add it (checked and audited by case_seed_add). */
static int ensure_case_seed(case_db *db, const case_origin *who, int64_t case_id,
                            const case_stores *st, const case_incident_seed *s, util_err *err)
{
    pthread_mutex_lock(&db->mu);
    sqldb_stmt *q;
    int rc = case_sql_prep(
        db, &q, "SELECT 1 FROM case_seeds WHERE case_id = ? AND chain = ? AND spec = ?", err);
    int have = 0;
    if (!rc) {
        sqldb_bind_int64(q, 1, case_id);
        case_bind_text(q, 2, s->chain);
        case_bind_text(q, 3, s->spec);
        have = sqldb_step(q) == SQLDB_ROW;
        sqldb_finalize(q);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc || have) return rc;
    util_buf note = {0};
    if (util_buf_printf(&note, "incident seed%s%s%s%s", *s->role ? " (" : "", s->role,
                        *s->role ? ")" : "", *s->note ? ": " : "") ||
        util_buf_append(&note, s->note, strlen(s->note)) || util_buf_append(&note, "", 1)) {
        util_buf_free(&note);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (note.len > CASE_MAX_LONG) note.data[CASE_MAX_LONG] = 0;
    rc = case_seed_add(db, who, case_id, st, s->spec, (const char *)note.data, NULL, err);
    util_buf_free(&note);
    return rc;
}

/* Follow deposit d over the links: the most confident link to Bitcoin, traced as a run. */
static int follow_deposit(case_db *db, const case_origin *who, int64_t case_id,
                          const case_stores *st, const case_itrace_req *req, case_deposit *d,
                          int64_t dep_index, legs *lg, util_err *err)
{
    const char *why = NULL;
    uint8_t hash[32];
    size_t idx[INC_MAX_LINKS], n = 0;
    if (!*d->tx_hash || hex_hash(d->tx_hash, hash))
        why = "the deposit has no stored tx";
    else if (!strcmp(d->amount, "0"))
        why = "a deposit of no value";
    else if (!st->links)
        why = "no cross-chain links (run `cointrail xchain links`)";
    else if (!st->btc)
        why = "no Bitcoin store";
    if (!why) {
        n = xchain_links_from(st->links, d->chain, hash, idx, INC_MAX_LINKS);
        d->links = (int64_t)n;
        if (n > INC_MAX_LINKS) n = INC_MAX_LINKS;
    }
    const xchain_link *best = NULL, *other = NULL;
    for (size_t k = 0; !why && k < n; k++) {
        const xchain_link *l = &st->links->v[idx[k]];
        if (l->confidence < req->min_confidence) continue;
        if (strcmp(l->to.chain, "btc") || !l->to.n_outs) {
            if (!other || l->confidence > other->confidence) other = l;
            continue;
        }
        if (!best || l->confidence > best->confidence) best = l;
    }
    char w[160];
    if (!why && !best && other) {
        /* a refund back to the EVM chain, say: where it went, though not traced further here */
        snprintf(w, sizeof w, "a link to %s (%s), not followed: only Bitcoin legs are traced",
                 other->to.chain, xchain_method_name(other->method));
        if (set_field(&d->to_chain, other->to.chain) ||
            set_field(&d->method, xchain_method_name(other->method)))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        why = w;
    }
    if (!why && !best) why = n ? "no link at or above the confidence floor" : "no link found";
    if (why) return set_field(&d->why_not, why) ? util_errf(err, UTIL_ENOMEM, "out of memory") : 0;
    char conf[32], txid[65];
    snprintf(conf, sizeof conf, "%.3f", best->confidence);
    util_hash_hex(txid, best->to.hash);
    char *specs[XCHAIN_MAX_OUTS];
    size_t ns = 0;
    int rc = 0;
    for (uint32_t k = 0; k < best->to.n_outs && k < XCHAIN_MAX_OUTS && !rc; k++) {
        char sp[80];
        snprintf(sp, sizeof sp, "%s:%u", txid, best->to.vout[k]);
        if (!(specs[ns] = strdup(sp)))
            rc = UTIL_ENOMEM;
        else
            ns++;
    }
    if (!rc && (set_field(&d->to_chain, "btc") || set_field(&d->confidence, conf) ||
                set_field(&d->method, xchain_method_name(best->method))))
        rc = UTIL_ENOMEM;
    if (rc) {
        for (size_t i = 0; i < ns; i++)
            free(specs[i]);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    /* the share of the deposit that was tainted; poison counts a tainted deposit whole */
    const char *num = d->taint;
    if (req->evm.policy == ETRACE_POISON && strcmp(d->taint, "0")) num = d->amount;
    case_run run;
    util_err e2 = {0};
    rc = case_run_specs(db, who, case_id, st, "btc", specs, ns, &req->btc, NULL, &run, NULL, NULL,
                        &e2);
    for (size_t i = 0; i < ns; i++)
        free(specs[i]);
    if (rc == UTIL_ENOTFOUND) { /* the outputs are not (yet) in the store */
        char w[300];
        snprintf(w, sizeof w, "the linked outputs are not in the Bitcoin store (%.200s)", e2.msg);
        return set_field(&d->why_not, w) || set_field(&d->to_chain, "")
                   ? util_errf(err, UTIL_ENOMEM, "out of memory")
                   : 0;
    }
    if (rc) {
        if (err) *err = e2;
        return rc;
    }
    rc = add_leg(lg, run.id, "cross_chain", dep_index, num, d->amount);
    case_run_free(&run);
    return rc ? util_errf(err, UTIL_ENOMEM, "out of memory") : 0;
}

static int record(case_db *db, const case_origin *who, const case_incident *inc,
                  const case_stores *st, const legs *lg, const case_deposit *deps, size_t n_deps,
                  const char *skipped, int64_t *trace_id, util_err *err)
{
    case_stolen *stolen = NULL;
    size_t n_stolen = 0;
    int rc = case_inc_stolen(st, inc->seeds, inc->n_seeds, &stolen, &n_stolen, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    char now[32];
    case_now(now);
    sqldb_stmt *q;
    if (!(rc = case_sql_prep(db, &q,
                             "INSERT INTO incident_traces (incident_id, case_id, run_by, run_at,"
                             " command, btc_tip, btc_height, evm_chain, evm_tip, evm_height,"
                             " skipped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                             err))) {
        sqldb_bind_int64(q, 1, inc->id);
        sqldb_bind_int64(q, 2, inc->case_id);
        case_bind_text(q, 3, who->analyst);
        case_bind_text(q, 4, now);
        case_bind_text(q, 5, who->command);
        case_state_bind(q, 6, &who->state);
        case_bind_text(q, 11, skipped);
        if (sqldb_step(q) == SQLDB_ROW)
            *trace_id = sqldb_column_int64(q, 0);
        else
            rc = case_sql_fail(db, "incident_traces", err);
        sqldb_finalize(q);
    }
    if (!rc && !(rc = case_sql_prep(db, &q,
                                    "INSERT INTO incident_trace_runs (trace_id, pos, run_id, leg,"
                                    " deposit_pos, share_num, share_den)"
                                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    err))) {
        for (size_t i = 0; !rc && i < lg->n; i++) {
            sqldb_reset(q);
            sqldb_bind_int64(q, 1, *trace_id);
            sqldb_bind_int64(q, 2, (int64_t)i);
            sqldb_bind_int64(q, 3, lg->v[i].run_id);
            case_bind_text(q, 4, lg->v[i].leg);
            sqldb_bind_int64(q, 5, lg->v[i].deposit);
            case_bind_text(q, 6, lg->v[i].share_num);
            case_bind_text(q, 7, lg->v[i].share_den);
            if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incident_trace_runs", err);
        }
        sqldb_finalize(q);
    }
    if (!rc && !(rc = case_sql_prep(db, &q,
                                    "INSERT INTO incident_deposits (trace_id, pos, run_id, chain,"
                                    " address, category, actor, tx_hash, asset, amount, taint,"
                                    " to_chain, link_method, link_confidence, links, why_not)"
                                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                    err))) {
        for (size_t i = 0; !rc && i < n_deps; i++) {
            const case_deposit *d = &deps[i];
            sqldb_reset(q);
            sqldb_bind_int64(q, 1, *trace_id);
            sqldb_bind_int64(q, 2, (int64_t)i);
            sqldb_bind_int64(q, 3, d->run_id);
            const char *v[] = {d->chain,    d->address, d->category,  d->actor,
                               d->tx_hash,  d->asset,   d->amount,    d->taint,
                               d->to_chain, d->method,  d->confidence};
            for (int k = 0; k < 11; k++)
                case_bind_text(q, 4 + k, v[k]);
            sqldb_bind_int64(q, 15, d->links);
            case_bind_text(q, 16, d->why_not);
            if (sqldb_step(q) != SQLDB_DONE) rc = case_sql_fail(db, "incident_deposits", err);
        }
        sqldb_finalize(q);
    }
    if (!rc) rc = case_inc_write_stolen(db, inc->id, stolen, n_stolen, err);
    if (!rc) {
        json_t *runs = json_array();
        for (size_t i = 0; runs && i < lg->n; i++)
            json_array_append_new(runs, json_integer((json_int_t)lg->v[i].run_id));
        json_t *d = json_pack("{s:s,s:I,s:o}", "incident", inc->slug, "trace",
                              (json_int_t)*trace_id, "runs", runs);
        char *dt = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = dt ? case_audit_insert(db, who, inc->case_id, "incident.trace", dt, err)
                : util_errf(err, UTIL_ENOMEM, "out of memory");
        free(dt);
    }
    rc = rc ? (case_rollback(db), rc) : case_commit(db, err);
out:
    pthread_mutex_unlock(&db->mu);
    case_inc_stolen_free(stolen, n_stolen);
    return rc;
}

int case_incident_trace(case_db *db, const case_origin *who, const char *slug,
                        const case_stores *st, const case_itrace_req *req, case_incident *out,
                        util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    if (!st || !st->labels) return util_errf(err, UTIL_EINVAL, "trace: no label set given");
    case_incident *a = NULL;
    size_t n = 0;
    pthread_mutex_lock(&db->mu);
    rc = case_inc_read(db, "WHERE slug = ?", slug, 0, &a, &n, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    if (!n) {
        char esc[200];
        return util_errf(err, UTIL_ENOTFOUND, "incident '%s' does not exist",
                         labels_text_escape(esc, sizeof esc, slug));
    }
    case_incident *inc = &a[0];
    const char *evm_chain = st->evm ? evm_store_chain(st->evm) : NULL;
    json_t *skipped = json_array();
    char **bspecs = calloc(inc->n_seeds + 1, sizeof *bspecs),
         **especs = calloc(inc->n_seeds + 1, sizeof *especs);
    size_t nb = 0, ne = 0;
    legs lg = {0};
    case_deposit *deps = NULL;
    size_t n_deps = 0;
    if (!skipped || !bspecs || !especs) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc && !inc->case_id)
        rc = util_errf(err, UTIL_ECORRUPT, "incident '%s' has no case", inc->slug);
    /* which seeds can be traced here */
    for (size_t i = 0; !rc && i < inc->n_seeds; i++) {
        const case_incident_seed *s = &inc->seeds[i];
        int btc = !strcmp(s->chain, "btc");
        util_err e2 = {0};
        char why[600] = "";
        if (btc && st->btc) {
            trace_seeds sd = {0};
            if (trace_add_spec(&sd, st->btc, s->spec, &e2))
                snprintf(why, sizeof why, "%.500s", e2.msg);
            trace_seeds_free(&sd);
        } else if (evm_chain && !strcmp(s->chain, evm_chain)) {
            etrace_seeds sd = {0};
            if (etrace_add_spec(&sd, st->evm, s->spec, ETRACE_ASSET_ALL, &e2))
                snprintf(why, sizeof why, "%.500s", e2.msg);
            etrace_seeds_free(&sd);
        } else
            snprintf(why, sizeof why, "no %s store is open", s->chain);
        if (*why) {
            json_array_append_new(skipped, json_pack("{s:s,s:s,s:s}", "chain", s->chain, "spec",
                                                     s->spec, "why", why));
            continue;
        }
        if ((rc = ensure_case_seed(db, who, inc->case_id, st, s, err))) break;
        char **to = btc ? &bspecs[nb++] : &especs[ne++];
        if (!(*to = strdup(s->spec))) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (!rc && !nb && !ne)
        rc = util_errf(err, UTIL_EINVAL,
                       "incident '%s': no seed can be traced here (%zu seed(s): %s)", inc->slug,
                       inc->n_seeds,
                       inc->n_seeds ? "not in the stores open" : "import some with the incident");
    case_run run;
    if (!rc && nb) {
        if (!(rc = case_run_specs(db, who, inc->case_id, st, "btc", bspecs, nb, &req->btc, NULL,
                                  &run, NULL, NULL, err))) {
            if (add_leg(&lg, run.id, "seeds", -1, "1", "1"))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            case_run_free(&run);
        }
    }
    if (!rc && ne) {
        if (!(rc = case_run_specs(db, who, inc->case_id, st, evm_chain, especs, ne, NULL, &req->evm,
                                  &run, &deps, &n_deps, err))) {
            if (add_leg(&lg, run.id, "seeds", -1, "1", "1"))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            for (size_t i = 0; i < n_deps; i++)
                deps[i].run_id = run.id;
            case_run_free(&run);
        }
        /* across the chain boundary: each deposit's best link to Bitcoin, as its own run */
        for (size_t i = 0; !rc && i < n_deps; i++)
            rc = follow_deposit(db, who, inc->case_id, st, req, &deps[i], (int64_t)i, &lg, err);
    }
    int64_t trace_id = 0;
    char *sk = rc ? NULL : json_dumps(skipped, JSON_COMPACT);
    if (!rc && !sk) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc) rc = record(db, who, inc, st, &lg, deps, n_deps, sk, &trace_id, err);
    free(sk);
    if (!rc && out) {
        case_incident *b = NULL;
        size_t m = 0;
        pthread_mutex_lock(&db->mu);
        rc = case_inc_read(db, "WHERE slug = ?", slug, 1, &b, &m, err);
        pthread_mutex_unlock(&db->mu);
        if (!rc && m == 1) {
            *out = b[0];
            free(b);
        } else
            case_incident_array_free(b, m);
    }
    for (size_t i = 0; i < nb; i++)
        free(bspecs[i]);
    for (size_t i = 0; i < ne; i++)
        free(especs[i]);
    free(bspecs), free(especs);
    for (size_t i = 0; i < n_deps; i++)
        case_deposit_free(&deps[i]);
    free(deps);
    legs_free(&lg);
    json_decref(skipped);
    case_incident_array_free(a, n);
    return rc;
}
