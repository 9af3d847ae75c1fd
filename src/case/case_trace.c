/* case: trace runs. The trace itself is the trace module's (trace_compute; EVM: etrace_run_result)
 * and its document the module's JSON writer; this file records what ran, on which state, and
 * what came out (totals and endpoints as rows), reads runs back, and compares two. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto/crypto.h"
#include "case_int.h"

void case_run_free(case_run *r)
{
    if (!r) return;
    free(r->chain), free(r->seeds), free(r->policy), free(r->direction), free(r->min_value);
    free(r->asset), free(r->labels_digest), free(r->tool_version), free(r->run_by);
    free(r->run_at), free(r->result), free(r->command);
    for (size_t i = 0; i < r->n_totals; i++)
        free(r->totals[i].asset), free(r->totals[i].bucket), free(r->totals[i].amount);
    for (size_t i = 0; i < r->n_endpoints; i++) {
        case_endpoint *e = &r->endpoints[i];
        free(e->address), free(e->category), free(e->actor), free(e->name), free(e->asset);
        free(e->amount);
    }
    free(r->totals), free(r->endpoints);
    memset(r, 0, sizeof *r);
}

/* ---------------- reading a run ---------------- */

#define DUP(f, i) (oom |= !((f) = case_col_dup(st, i)))

static int read_total(sqldb_stmt *st, void *row)
{
    case_total *t = row;
    int oom = 0;
    memset(t, 0, sizeof *t);
    DUP(t->asset, 0), DUP(t->bucket, 1), DUP(t->amount, 2);
    return oom ? UTIL_ENOMEM : 0;
}

static int read_endpoint(sqldb_stmt *st, void *row)
{
    case_endpoint *e = row;
    int oom = 0;
    memset(e, 0, sizeof *e);
    e->rank = (uint32_t)sqldb_column_int64(st, 0);
    DUP(e->address, 1), DUP(e->category, 2), DUP(e->actor, 3), DUP(e->name, 4);
    DUP(e->asset, 5), DUP(e->amount, 6);
    e->deposits = (uint64_t)sqldb_column_int64(st, 7);
    e->hops = (uint32_t)sqldb_column_int64(st, 8);
    e->via_entity = sqldb_column_int(st, 9);
    return oom ? UTIL_ENOMEM : 0;
}
#undef DUP

int case_run_read(case_db *db, int64_t run_id, case_run *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    sqldb_stmt *st;
    int rc = case_sql_prep(
        db, &st,
        "SELECT id, case_id, COALESCE(rerun_of, 0), chain, seeds, policy, direction, hops,"
        " min_value, until_height, until_time, max_visits, follow_mixers, asset, clustered,"
        " btc_tip, btc_height, evm_chain, evm_tip, evm_height, labels_digest, tool_version,"
        " run_by, run_at, is_partial, result, command FROM trace_runs WHERE id = ?",
        err);
    if (rc) return rc;
    sqldb_bind_int64(st, 1, run_id);
    int s = sqldb_step(st), oom = 0;
    if (s == SQLDB_ROW) {
#define DUP(f, i) oom |= !((f) = case_col_dup(st, i))
        out->id = sqldb_column_int64(st, 0);
        out->case_id = sqldb_column_int64(st, 1);
        out->rerun_of = sqldb_column_int64(st, 2);
        DUP(out->chain, 3), DUP(out->seeds, 4), DUP(out->policy, 5), DUP(out->direction, 6);
        out->hops = (uint32_t)sqldb_column_int64(st, 7);
        DUP(out->min_value, 8);
        out->until = sqldb_column_int64(st, 9);
        out->until_time = sqldb_column_int64(st, 10);
        out->max_visits = (uint64_t)sqldb_column_int64(st, 11);
        out->follow_mixers = sqldb_column_int(st, 12);
        DUP(out->asset, 13);
        out->clustered = sqldb_column_int(st, 14);
        case_state_read(st, 15, &out->state);
        DUP(out->labels_digest, 20), DUP(out->tool_version, 21), DUP(out->run_by, 22);
        DUP(out->run_at, 23);
        out->partial = sqldb_column_int(st, 24);
        DUP(out->result, 25), DUP(out->command, 26);
    } else if (s == SQLDB_DONE)
        rc = util_errf(err, UTIL_ENOTFOUND, "trace run %" PRId64 " does not exist", run_id);
    else
        rc = case_sql_fail(db, "trace_runs", err);
    sqldb_finalize(st);
    if (!rc && oom) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
#undef DUP
    if (!rc)
        rc = case_read_rows(db,
                            "SELECT asset, bucket, amount FROM trace_totals WHERE run_id = ?"
                            " ORDER BY bucket_pos",
                            run_id, sizeof *out->totals, read_total, (void **)&out->totals,
                            &out->n_totals, err);
    if (!rc)
        rc = case_read_rows(db,
                            "SELECT endpoint_rank, address, category, actor, label_name, asset,"
                            " amount, deposits, hops, via_entity FROM trace_endpoints"
                            " WHERE run_id = ? ORDER BY endpoint_rank",
                            run_id, sizeof *out->endpoints, read_endpoint, (void **)&out->endpoints,
                            &out->n_endpoints, err);
    if (rc) case_run_free(out);
    return rc;
}

int case_run_get(case_db *db, const case_origin *who, int64_t run_id, case_run *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if (!(rc = case_begin(db, err))) {
        rc = case_run_read(db, run_id, out, err);
        char detail[64];
        snprintf(detail, sizeof detail, "{\"run\": %" PRId64 "}", run_id);
        if (!rc) rc = case_audit_insert(db, who, out->case_id, "run.read", detail, err);
        if (rc) {
            case_rollback(db);
            case_run_free(out);
        } else if ((rc = case_commit(db, err)))
            case_run_free(out);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---------------- recording a run ---------------- */

static int insert_run(case_db *db, const case_run *r, int64_t *id, util_err *err)
{
    sqldb_stmt *st;
    int rc = case_sql_prep(
        db, &st,
        "INSERT INTO trace_runs (case_id, rerun_of, chain, seeds, policy, direction, hops,"
        " min_value, until_height, until_time, max_visits, follow_mixers, asset, clustered,"
        " btc_tip, btc_height, evm_chain, evm_tip, evm_height, labels_digest, tool_version,"
        " run_by, run_at, is_partial, result, command) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        err);
    if (rc) return rc;
    sqldb_bind_int64(st, 1, r->case_id);
    if (r->rerun_of > 0)
        sqldb_bind_int64(st, 2, r->rerun_of);
    else
        sqldb_bind_null(st, 2);
    case_bind_text(st, 3, r->chain);
    case_bind_text(st, 4, r->seeds);
    case_bind_text(st, 5, r->policy);
    case_bind_text(st, 6, r->direction);
    sqldb_bind_int64(st, 7, r->hops);
    case_bind_text(st, 8, r->min_value);
    sqldb_bind_int64(st, 9, r->until);
    sqldb_bind_int64(st, 10, r->until_time);
    sqldb_bind_int64(st, 11, (int64_t)r->max_visits);
    sqldb_bind_int(st, 12, r->follow_mixers);
    case_bind_text(st, 13, r->asset);
    sqldb_bind_int(st, 14, r->clustered);
    case_state_bind(st, 15, &r->state);
    case_bind_text(st, 20, r->labels_digest);
    case_bind_text(st, 21, r->tool_version);
    case_bind_text(st, 22, r->run_by);
    case_bind_text(st, 23, r->run_at);
    sqldb_bind_int(st, 24, r->partial);
    case_bind_text(st, 25, r->result);
    case_bind_text(st, 26, r->command);
    if (sqldb_step(st) == SQLDB_ROW)
        *id = sqldb_column_int64(st, 0);
    else
        rc = case_sql_fail(db, "trace_runs", err);
    sqldb_finalize(st);
    if (rc) return rc;
    if ((rc = case_sql_prep(db, &st,
                            "INSERT INTO trace_totals (run_id, bucket_pos, asset, bucket, amount)"
                            " VALUES (?, ?, ?, ?, ?)",
                            err)))
        return rc;
    for (size_t i = 0; !rc && i < r->n_totals; i++) {
        sqldb_reset(st);
        sqldb_bind_int64(st, 1, *id);
        sqldb_bind_int64(st, 2, (int64_t)i);
        case_bind_text(st, 3, r->totals[i].asset);
        case_bind_text(st, 4, r->totals[i].bucket);
        case_bind_text(st, 5, r->totals[i].amount);
        if (sqldb_step(st) != SQLDB_DONE) rc = case_sql_fail(db, "trace_totals", err);
    }
    sqldb_finalize(st);
    if (rc) return rc;
    if ((rc = case_sql_prep(db, &st,
                            "INSERT INTO trace_endpoints (run_id, endpoint_rank, address, category,"
                            " actor, label_name, asset, amount, deposits, hops, via_entity)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            err)))
        return rc;
    for (size_t i = 0; !rc && i < r->n_endpoints; i++) {
        const case_endpoint *e = &r->endpoints[i];
        sqldb_reset(st);
        sqldb_bind_int64(st, 1, *id);
        sqldb_bind_int64(st, 2, e->rank);
        case_bind_text(st, 3, e->address);
        case_bind_text(st, 4, e->category);
        case_bind_text(st, 5, e->actor);
        case_bind_text(st, 6, e->name);
        case_bind_text(st, 7, e->asset);
        case_bind_text(st, 8, e->amount);
        sqldb_bind_int64(st, 9, (int64_t)e->deposits);
        sqldb_bind_int64(st, 10, e->hops);
        sqldb_bind_int(st, 11, e->via_entity);
        if (sqldb_step(st) != SQLDB_DONE) rc = case_sql_fail(db, "trace_endpoints", err);
    }
    sqldb_finalize(st);
    return rc;
}

/* What to run: the specs and the tracer's options. */
typedef struct run_spec {
    const char *chain;
    char **specs;
    size_t n_specs;
    trace_opts btc;
    etrace_opts evm;
    const char *asset;
    int64_t rerun_of;
    /* EVM: the tainted bridge and swap deposits (etrace's cross_chain records), when wanted */
    case_deposit **deps;
    size_t *n_deps;
} run_spec;

/* SHA-256 of a label set's content (every field of every label, in the set's order): which
 * labels a trace stopped at, whatever file they were read from. */
static void labels_digest(char out[65], const labels_db *l)
{
    crypto_sha256_ctx h;
    crypto_sha256_init(&h);
    size_t n = l ? labels_db_count(l) : 0;
    for (size_t i = 0; i < n; i++) {
        const labels_label *x = labels_db_get(l, i);
        const char *f[] = {x->chain, x->address,  x->category,   x->actor,     x->name,   x->source,
                           x->url,   x->programs, x->first_seen, x->last_seen, x->updated};
        for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
            char len[24];
            int m = snprintf(len, sizeof len, "%zu:", strlen(f[k]));
            crypto_sha256_update(&h, len, (size_t)m);
            crypto_sha256_update(&h, f[k], strlen(f[k]));
        }
        char c[16];
        int m = snprintf(c, sizeof c, "%d;", x->confidence);
        crypto_sha256_update(&h, c, (size_t)m);
    }
    uint8_t d[32];
    crypto_sha256_final(&h, d);
    util_hex(out, d, 32);
}

/* The actor of an endpoint as every answer decides it (labels_actor): the stop label's actor,
 * else one of the address's other labels'; "" when only a name or a category is known (the
 * endpoint's name column carries the name). */
static const char *actor_of(const labels_label *stop, int via_entity,
                            const labels_label *const *others, size_t n)
{
    labels_actor a;
    labels_actor_init(&a);
    labels_actor_offer(&a, stop, LABELS_OFFER_PRIMARY, via_entity);
    for (size_t i = 0; i < n; i++)
        labels_actor_offer(&a, others[i], LABELS_OFFER_OWN, 0);
    return a.from == LABELS_ACTOR_LABEL || a.from == LABELS_ACTOR_ENTITY ? a.name : "";
}

static char *dup_or_oom(const char *s, int *oom)
{
    char *d = strdup(s ? s : "");
    if (!d) *oom = 1;
    return d;
}

static int set_command(case_run *r, const case_stores *st, const run_spec *rs)
{
    util_buf b = {0};
    int rc =
        util_buf_printf(&b, "cointrail %s --db ", !strcmp(rs->chain, "btc") ? "trace" : "etrace");
    if (!rc) rc = case_shell_quote(&b, st->dir ? st->dir : ".");
    if (!rc && strcmp(rs->chain, "btc")) {
        rc = util_buf_printf(&b, " --chain ");
        if (!rc) rc = case_shell_quote(&b, rs->chain);
    }
    for (size_t i = 0; !rc && i < rs->n_specs; i++)
        if (!(rc = util_buf_printf(&b, " --from "))) rc = case_shell_quote(&b, rs->specs[i]);
    if (!rc && strcmp(rs->chain, "btc")) {
        rc = util_buf_printf(&b, " --asset ");
        if (!rc) rc = case_shell_quote(&b, r->asset);
    }
    if (!rc) rc = util_buf_printf(&b, " --direction %s --policy %s", r->direction, r->policy);
    if (!rc && r->hops != TAINT_NO_HOP_LIMIT) /* the default: no hop limit */
        rc = util_buf_printf(&b, " --hops %u", r->hops);
    if (!rc) rc = util_buf_printf(&b, " --min-value %s", r->min_value);
    if (!rc && r->until >= 0) rc = util_buf_printf(&b, " --until %" PRId64, r->until);
    if (!rc && r->until_time >= 0)
        rc = util_buf_printf(&b, " --until-time %" PRId64, r->until_time);
    if (!rc && r->follow_mixers) rc = util_buf_printf(&b, " --through-mixers");
    if (!rc)
        rc =
            util_buf_printf(&b, " --%s %" PRIu64 " --json",
                            !strcmp(rs->chain, "btc") ? "max-outputs" : "max-xfers", r->max_visits);
    if (!rc) rc = util_buf_append(&b, "", 1);
    if (rc) {
        util_buf_free(&b);
        return UTIL_ENOMEM;
    }
    r->command = (char *)b.data;
    return 0;
}

/* The trace document less what a summary does not keep (edges, txs, graph, addresses), as
 * compact JSON in the writer's key order. */
static char *summary_text(json_t *doc)
{
    json_object_del(doc, "edges");
    json_object_del(doc, "txs");
    json_object_del(doc, "graph");
    json_object_del(doc, "addresses");
    return json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static int compute_btc(const case_stores *st, const run_spec *rs, case_run *r, util_err *err)
{
    trace_seeds sd = {0};
    trace_result res = {0};
    json_t *doc = NULL;
    int rc = 0, oom = 0;
    for (size_t i = 0; !rc && i < rs->n_specs; i++)
        if ((rc = trace_add_spec(&sd, st->btc, rs->specs[i], err)))
            util_err_prefix(err, "seed %s", rs->specs[i]);
    if (!rc) rc = trace_compute(st->btc, st->labels, st->clusters, &sd, &rs->btc, &res, err);
    if (!rc) rc = trace_result_json(&res, &doc, err);
    if (rc) goto out;
    const trace_opts *o = &rs->btc;
    r->policy = dup_or_oom(trace_policy_name(o->policy), &oom);
    r->direction = dup_or_oom(trace_direction_name(o->direction), &oom);
    r->hops = o->hops;
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, o->min_value);
    r->min_value = dup_or_oom(num, &oom);
    r->until = o->until;
    r->until_time = -1;
    r->max_visits = o->max_outputs;
    r->follow_mixers = o->follow_mixers;
    r->asset = dup_or_oom("BTC", &oom);
    r->clustered = st->clusters != NULL;
    case_state_btc(&r->state, st->btc);
    r->partial = res.partial;
    if (!(r->result = summary_text(doc))) oom = 1;
    trace_bucket b[TRACE_TOTALS_BUCKETS];
    trace_totals_buckets(&res.totals, b);
    if (!(r->totals = calloc(TRACE_TOTALS_BUCKETS, sizeof *r->totals))) goto nomem;
    for (size_t i = 0; i < TRACE_TOTALS_BUCKETS; i++) {
        snprintf(num, sizeof num, "%" PRIu64, b[i].value);
        r->totals[i] = (case_total){dup_or_oom("BTC", &oom), dup_or_oom(b[i].name, &oom),
                                    dup_or_oom(num, &oom)};
        r->n_totals++;
    }
    if (res.n_endpoints && !(r->endpoints = calloc(res.n_endpoints, sizeof *r->endpoints)))
        goto nomem;
    for (size_t i = 0; i < res.n_endpoints; i++) {
        const trace_endpoint *e = &res.endpoints[i];
        const labels_label *stop = labels_db_get(st->labels, e->label);
        const labels_label *others[16];
        size_t no = 0;
        for (size_t k = 0; k < e->labels_n && no < 16; k++)
            others[no++] = labels_db_get(st->labels, e->labels_first + k);
        char addr[128];
        const char *a = trace_result_address(&res, e->address, addr, sizeof addr);
        case_endpoint *c = &r->endpoints[r->n_endpoints++];
        c->rank = (uint32_t)i;
        c->address = dup_or_oom(a ? a : "", &oom);
        c->category = dup_or_oom(stop->category, &oom);
        c->actor = dup_or_oom(actor_of(stop, e->via_entity, others, no), &oom);
        c->name = dup_or_oom(*stop->name ? stop->name : stop->source, &oom);
        c->asset = dup_or_oom("BTC", &oom);
        snprintf(num, sizeof num, "%" PRIu64, e->amount);
        c->amount = dup_or_oom(num, &oom);
        c->deposits = e->deposits;
        c->hops = (uint32_t)e->path_len;
        c->via_entity = e->via_entity;
    }
    if (oom) goto nomem;
    goto out;
nomem:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
out:
    json_decref(doc);
    trace_result_free(&res);
    trace_seeds_free(&sd);
    return rc;
}

static int compute_evm(const case_stores *st, const run_spec *rs, case_run *r, util_err *err)
{
    etrace_seeds sd = {0};
    etrace_result res = {0};
    json_t *doc = NULL;
    int rc = 0, oom = 0;
    uint32_t asset;
    const char *asset_arg = rs->asset ? rs->asset : "all";
    if ((rc = etrace_asset_parse(st->evm, asset_arg, &asset, err))) return rc;
    for (size_t i = 0; !rc && i < rs->n_specs; i++)
        if ((rc = etrace_add_spec(&sd, st->evm, rs->specs[i], asset, err)))
            util_err_prefix(err, "seed %s", rs->specs[i]);
    if (!rc) rc = etrace_run_result(st->evm, st->labels, &sd, &rs->evm, &res, err);
    if (!rc) rc = etrace_result_json(st->evm, &res, &doc, err);
    if (rc) goto out;
    const etrace_opts *o = &rs->evm;
    char num[EVM_U256_DEC_MAX], text[43];
    r->policy = dup_or_oom(etrace_policy_name(o->policy), &oom);
    r->direction = dup_or_oom(etrace_direction_name(o->direction), &oom);
    r->hops = o->hops;
    evm_u256_format(num, &o->min_value);
    r->min_value = dup_or_oom(num, &oom);
    r->until = o->until;
    r->until_time = o->until_time;
    r->max_visits = o->max_xfers;
    r->follow_mixers = o->follow_mixers;
    r->asset = dup_or_oom(asset_arg, &oom);
    case_state_evm(&r->state, st->evm);
    r->partial = res.partial;
    if (!(r->result = summary_text(doc))) oom = 1;
    if (res.n_totals && !(r->totals = calloc(res.n_totals * ETRACE_NB, sizeof *r->totals)))
        goto nomem;
    for (size_t i = 0; i < res.n_totals; i++) {
        etrace_asset_text(st->evm, res.totals[i].asset, text);
        for (int k = 0; k < ETRACE_NB; k++) {
            evm_u256_format(num, &res.totals[i].b[k]);
            r->totals[r->n_totals++] =
                (case_total){dup_or_oom(text, &oom), dup_or_oom(etrace_bucket_name(k), &oom),
                             dup_or_oom(num, &oom)};
        }
    }
    if (res.n_endpoints && !(r->endpoints = calloc(res.n_endpoints, sizeof *r->endpoints)))
        goto nomem;
    for (size_t i = 0; i < res.n_endpoints; i++) {
        const etrace_endpoint *e = &res.endpoints[i];
        const labels_label *others[16];
        size_t no = 0;
        for (size_t k = 0; k < e->n_labels && no < 16; k++)
            others[no++] = &e->labels[k];
        char addr[43];
        if (etrace_addr_text(st->evm, e->address, addr)) addr[0] = 0;
        case_endpoint *c = &r->endpoints[r->n_endpoints++];
        c->rank = (uint32_t)i;
        c->address = dup_or_oom(addr, &oom);
        c->category = dup_or_oom(e->label->category, &oom);
        c->actor = dup_or_oom(actor_of(e->label, 0, others, no), &oom);
        c->name = dup_or_oom(*e->label->name ? e->label->name : e->label->source, &oom);
        etrace_asset_text(st->evm, e->asset, text);
        c->asset = dup_or_oom(text, &oom);
        evm_u256_format(num, &e->amount);
        c->amount = dup_or_oom(num, &oom);
        c->deposits = e->deposits;
        c->hops = (uint32_t)e->n_path;
    }
    if (rs->deps && res.n_xchain && !(*rs->deps = calloc(res.n_xchain, sizeof **rs->deps)))
        goto nomem;
    for (size_t i = 0; rs->deps && i < res.n_xchain; i++) {
        const etrace_xchain *x = &res.xchain[i];
        case_deposit *d = &(*rs->deps)[(*rs->n_deps)++];
        char addr[43], h[67] = "";
        if (etrace_addr_text(st->evm, x->endpoint, addr)) addr[0] = 0;
        if (x->has_tx) {
            h[0] = '0', h[1] = 'x';
            util_hex(h + 2, x->tx_hash, 32);
        }
        d->chain = dup_or_oom(evm_store_chain(st->evm), &oom);
        d->address = dup_or_oom(addr, &oom);
        d->category = dup_or_oom(x->label ? x->label->category : "", &oom);
        d->actor = dup_or_oom(!x->label          ? ""
                              : *x->label->actor ? x->label->actor
                                                 : x->label->name,
                              &oom);
        d->tx_hash = dup_or_oom(h, &oom);
        etrace_asset_text(st->evm, x->asset, text);
        d->asset = dup_or_oom(text, &oom);
        evm_u256_format(num, &x->amount);
        d->amount = dup_or_oom(num, &oom);
        evm_u256_format(num, &x->taint);
        d->taint = dup_or_oom(num, &oom);
        d->to_chain = dup_or_oom("", &oom), d->method = dup_or_oom("", &oom);
        d->confidence = dup_or_oom("", &oom), d->why_not = dup_or_oom("", &oom);
    }
    if (oom) goto nomem;
    goto out;
nomem:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
out:
    json_decref(doc);
    etrace_result_free(&res);
    etrace_seeds_free(&sd);
    return rc;
}

static int run_and_record(case_db *db, const case_origin *who, int64_t case_id,
                          const case_stores *st, const run_spec *rs, case_run *out, util_err *err)
{
    int btc = !strcmp(rs->chain, "btc");
    if (!st || !st->labels) return util_errf(err, UTIL_EINVAL, "trace: no label set given");
    if (btc && !st->btc)
        return util_errf(err, UTIL_EINVAL,
                         "trace: the seeds are Bitcoin's and no Bitcoin store is open");
    if (!btc && (!st->evm || strcmp(evm_store_chain(st->evm), rs->chain)))
        return util_errf(err, UTIL_EINVAL, "trace: the seeds are on %s and no %s store is open",
                         rs->chain, rs->chain);
    if (!rs->n_specs)
        return util_errf(err, UTIL_EINVAL, "trace: case %" PRId64 " has no %s seeds", case_id,
                         rs->chain);
    case_run r;
    memset(&r, 0, sizeof r);
    case_state_init(&r.state);
    r.case_id = case_id;
    r.rerun_of = rs->rerun_of;
    int oom = 0;
    r.chain = dup_or_oom(rs->chain, &oom);
    json_t *seeds = json_array();
    for (size_t i = 0; seeds && i < rs->n_specs; i++)
        if (json_array_append_new(seeds, json_string(rs->specs[i]))) oom = 1;
    r.seeds = seeds ? json_dumps(seeds, JSON_COMPACT) : NULL;
    json_decref(seeds);
    char dg[65], now[32];
    labels_digest(dg, st->labels);
    r.labels_digest = dup_or_oom(dg, &oom);
    r.tool_version = dup_or_oom(CT_TOOL_VERSION, &oom);
    r.run_by = dup_or_oom(who->analyst, &oom);
    if (oom || !r.seeds) {
        case_run_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    /* the computation: no lock held */
    int rc = btc ? compute_btc(st, rs, &r, err) : compute_evm(st, rs, &r, err);
    if (!rc && set_command(&r, st, rs)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    case_now(now);
    if (!rc && !(r.run_at = strdup(now))) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (rc) {
        case_run_free(&r);
        return rc;
    }
    pthread_mutex_lock(&db->mu);
    int64_t id = 0;
    if ((rc = case_begin(db, err))) goto out;
    if (!(rc = case_exists(db, case_id, err)) && !(rc = insert_run(db, &r, &id, err))) {
        char detail[128];
        if (rs->rerun_of)
            snprintf(detail, sizeof detail, "{\"rerun_of\": %" PRId64 ", \"run\": %" PRId64 "}",
                     rs->rerun_of, id);
        else
            snprintf(detail, sizeof detail, "{\"run\": %" PRId64 "}", id);
        rc = case_audit_insert(db, who, case_id, "trace.run", detail, err);
    }
    if (!rc && out) rc = case_run_read(db, id, out, err);
    if (rc) {
        case_rollback(db);
        goto out;
    }
    if ((rc = case_commit(db, err)) && out) case_run_free(out);
out:
    pthread_mutex_unlock(&db->mu);
    case_run_free(&r);
    return rc;
}

int case_run_specs(case_db *db, const case_origin *who, int64_t case_id, const case_stores *st,
                   const char *chain, char *const *specs, size_t n_specs, const trace_opts *btc,
                   const etrace_opts *evm, case_run *out, case_deposit **deps, size_t *n_deps,
                   util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    run_spec rs = {.chain = chain,
                   .specs = (char **)specs,
                   .n_specs = n_specs,
                   .deps = deps,
                   .n_deps = n_deps};
    if (btc) rs.btc = *btc;
    if (evm) rs.evm = *evm;
    return run_and_record(db, who, case_id, st, &rs, out, err);
}

static void free_specs(char **specs, size_t n)
{
    for (size_t i = 0; specs && i < n; i++)
        free(specs[i]);
    free(specs);
}

int case_trace(case_db *db, const case_origin *who, int64_t case_id, const case_stores *st,
               const case_trace_req *req, case_run *out, util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    /* the case's seeds: which chain, which specs */
    pthread_mutex_lock(&db->mu);
    rc = case_exists(db, case_id, err);
    sqldb_stmt *q = NULL;
    if (!rc)
        rc = case_sql_prep(db, &q,
                           "SELECT id, chain, spec FROM case_seeds WHERE case_id = ?"
                           " ORDER BY id",
                           err);
    typedef struct {
        int64_t id;
        char *chain, *spec;
    } row;
    row *rows = NULL;
    size_t n = 0, cap = 0;
    if (!rc) {
        sqldb_bind_int64(q, 1, case_id);
        while (sqldb_step(q) == SQLDB_ROW) {
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 8;
                row *nr = realloc(rows, nc * sizeof *nr);
                if (!nr) {
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    break;
                }
                rows = nr, cap = nc;
            }
            rows[n].id = sqldb_column_int64(q, 0);
            rows[n].chain = case_col_dup(q, 1);
            rows[n].spec = case_col_dup(q, 2);
            n++;
            if (!rows[n - 1].chain || !rows[n - 1].spec) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
        }
    }
    sqldb_finalize(q);
    pthread_mutex_unlock(&db->mu);
    run_spec rs = {.btc = req->btc, .evm = req->evm, .asset = req->asset};
    char chain[16] = "btc";
    if (req->chain)
        snprintf(chain, sizeof chain, "%s", req->chain);
    else if (!rc) { /* btc when the case has Bitcoin seeds, else the first seed's chain */
        int have_btc = 0;
        for (size_t i = 0; i < n; i++)
            have_btc |= !strcmp(rows[i].chain, "btc");
        if (!have_btc && n) snprintf(chain, sizeof chain, "%s", rows[0].chain);
    }
    rs.chain = chain;
    if (!rc && !(rs.specs = calloc(n ? n : 1, sizeof *rs.specs)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc && req->seed_ids && req->n_seed_ids) {
        for (size_t k = 0; !rc && k < req->n_seed_ids; k++) {
            size_t i = 0;
            while (i < n && rows[i].id != req->seed_ids[k])
                i++;
            if (i == n)
                rc = util_errf(err, UTIL_ENOTFOUND,
                               "seed %" PRId64 " is not a seed of case %" PRId64, req->seed_ids[k],
                               case_id);
            else if (strcmp(rows[i].chain, chain))
                rc = util_errf(err, UTIL_EINVAL, "seed %" PRId64 " is on %s, not %s",
                               req->seed_ids[k], rows[i].chain, chain);
            else {
                size_t j = 0; /* a seed named twice is traced once */
                while (j < rs.n_specs && strcmp(rs.specs[j], rows[i].spec))
                    j++;
                if (j == rs.n_specs && !(rs.specs[rs.n_specs++] = strdup(rows[i].spec)))
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            }
        }
    } else
        for (size_t i = 0; !rc && i < n; i++)
            if (!strcmp(rows[i].chain, chain) && !(rs.specs[rs.n_specs++] = strdup(rows[i].spec)))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        free(rows[i].chain), free(rows[i].spec);
    free(rows);
    if (!rc) rc = run_and_record(db, who, case_id, st, &rs, out, err);
    free_specs(rs.specs, rs.n_specs);
    return rc;
}

int case_trace_rerun(case_db *db, const case_origin *who, int64_t run_id, const case_stores *st,
                     case_run *out, util_err *err)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    case_run old;
    pthread_mutex_lock(&db->mu);
    rc = case_run_read(db, run_id, &old, err);
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    run_spec rs = {.chain = old.chain, .asset = old.asset, .rerun_of = run_id};
    json_error_t je;
    json_t *seeds = json_loads(old.seeds, 0, &je);
    size_t n = json_array_size(seeds);
    if (!json_is_array(seeds) || !n)
        rc = util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": seeds are not a JSON array",
                       run_id);
    if (!rc && !(rs.specs = calloc(n, sizeof *rs.specs)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const char *s = json_string_value(json_array_get(seeds, i));
        if (!s || !(rs.specs[rs.n_specs++] = strdup(s)))
            rc = util_errf(err, s ? UTIL_ENOMEM : UTIL_ECORRUPT, "trace run %" PRId64 ": seed %zu",
                           run_id, i);
    }
    json_decref(seeds);
    int policy = trace_policy_parse(old.policy), dir = trace_direction_parse(old.direction);
    if (!rc && (policy < 0 || dir < 0))
        rc = util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": policy or direction", run_id);
    if (!rc && !strcmp(old.chain, "btc")) {
        trace_default_opts(&rs.btc);
        rs.btc.policy = policy, rs.btc.direction = dir, rs.btc.hops = old.hops;
        rs.btc.until = old.until, rs.btc.max_outputs = old.max_visits;
        rs.btc.follow_mixers = old.follow_mixers;
        rs.btc.min_value = strtoull(old.min_value, NULL, 10);
        rs.asset = NULL;
    } else if (!rc) {
        etrace_default_opts(&rs.evm);
        rs.evm.policy = policy, rs.evm.direction = dir, rs.evm.hops = old.hops;
        rs.evm.until = old.until, rs.evm.until_time = old.until_time;
        rs.evm.max_xfers = old.max_visits, rs.evm.follow_mixers = old.follow_mixers;
        if (evm_u256_parse(&rs.evm.min_value, old.min_value, strlen(old.min_value), NULL))
            rc = util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": min_value", run_id);
    }
    if (!rc) rc = run_and_record(db, who, old.case_id, st, &rs, out, err);
    free_specs(rs.specs, rs.n_specs);
    case_run_free(&old);
    return rc;
}

/* ---------------- comparing two runs ---------------- */

void case_run_compare(const case_run *a, const case_run *b, case_run_diff *out)
{
    memset(out, 0, sizeof *out);
    out->same_tips =
        !strcmp(a->state.btc_tip, b->state.btc_tip) && a->state.btc_height == b->state.btc_height &&
        !strcmp(a->state.evm_tip, b->state.evm_tip) && a->state.evm_height == b->state.evm_height;
    out->same_labels = !strcmp(a->labels_digest, b->labels_digest);
    out->same_state = out->same_tips && out->same_labels;
    /* a few dozen buckets and endpoints in the thousands: quadratic is fine for totals; the
     * endpoints are matched the same way, bounded by what a trace reports */
    for (size_t i = 0; i < a->n_totals; i++) {
        size_t j = 0;
        while (j < b->n_totals && (strcmp(a->totals[i].asset, b->totals[j].asset) ||
                                   strcmp(a->totals[i].bucket, b->totals[j].bucket)))
            j++;
        if (j == b->n_totals || strcmp(a->totals[i].amount, b->totals[j].amount))
            out->totals_differ++;
    }
    for (size_t j = 0; j < b->n_totals; j++) {
        size_t i = 0;
        while (i < a->n_totals && (strcmp(a->totals[i].asset, b->totals[j].asset) ||
                                   strcmp(a->totals[i].bucket, b->totals[j].bucket)))
            i++;
        if (i == a->n_totals) out->totals_differ++;
    }
    for (size_t i = 0; i < a->n_endpoints; i++) {
        size_t j = 0;
        while (j < b->n_endpoints && (strcmp(a->endpoints[i].address, b->endpoints[j].address) ||
                                      strcmp(a->endpoints[i].asset, b->endpoints[j].asset)))
            j++;
        if (j == b->n_endpoints)
            out->endpoints_only_a++;
        else if (strcmp(a->endpoints[i].amount, b->endpoints[j].amount))
            out->endpoints_changed++;
    }
    for (size_t j = 0; j < b->n_endpoints; j++) {
        size_t i = 0;
        while (i < a->n_endpoints && (strcmp(a->endpoints[i].address, b->endpoints[j].address) ||
                                      strcmp(a->endpoints[i].asset, b->endpoints[j].asset)))
            i++;
        if (i == a->n_endpoints) out->endpoints_only_b++;
    }
}
