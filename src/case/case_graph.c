/* case: the case graph of the web UI (case.h, "the case graph"): its steps, each written with
 * its audit row in one transaction, and the steps since the last start read back. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util_vec.h"
#include "case_int.h"

void case_graph_steps_free(case_graph_step *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].op);
        free(a[i].node);
        free(a[i].spec);
        free(a[i].direction);
        free(a[i].policy);
        free(a[i].detail);
        free(a[i].analyst);
        free(a[i].created_at);
    }
    free(a);
}

static int one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words)) return 1;
    return 0;
}

/* The step's fields, checked; each absent one as "". */
static int check_step(const case_graph_step_new *s, case_graph_step_new *out, util_err *err)
{
    static const char *const ops[] = {"start", "expand", "collapse", NULL};
    static const char *const dirs[] = {"forward", "backward", NULL};
    static const char *const pols[] = {"haircut", "poison", "fifo", NULL};
    *out = (case_graph_step_new){s->op ? s->op : "",         s->node ? s->node : "",
                                 s->spec ? s->spec : "",     s->direction ? s->direction : "",
                                 s->policy ? s->policy : "", s->detail ? s->detail : "{}"};
    if (!one_of(out->op, ops))
        return util_errf(err, UTIL_EINVAL, "field op: start, expand or collapse");
    int start = !strcmp(out->op, "start"), expand = !strcmp(out->op, "expand");
    int rc = case_check_text("node", out->node, CASE_MAX_TEXT, 0, !start, err);
    if (!rc) rc = case_check_text("spec", out->spec, CASE_MAX_TEXT, 0, start, err);
    if (rc) return rc;
    if (start ? out->node[0] != 0 : out->spec[0] != 0)
        return util_errf(err, UTIL_EINVAL, "field %s: only %s", start ? "node" : "spec",
                         start ? "expand and collapse name a node" : "a start has a spec");
    if (expand ? !one_of(out->direction, dirs) : out->direction[0] != 0)
        return util_errf(err, UTIL_EINVAL, "field direction: %s",
                         expand ? "forward or backward" : "only an expansion has one");
    if (!strcmp(out->op, "collapse") ? out->policy[0] != 0 : !one_of(out->policy, pols))
        return util_errf(err, UTIL_EINVAL, "field policy: haircut, poison or fifo%s",
                         strcmp(out->op, "collapse") ? "" : " (not for a collapse)");
    json_error_t je;
    json_t *j = json_loads(out->detail, 0, &je);
    int obj = json_is_object(j);
    json_decref(j);
    if (!obj) return util_errf(err, UTIL_EINVAL, "field detail: not a JSON object");
    return case_check_text("detail", out->detail, CASE_MAX_LONG, 1, 0, err);
}

int case_graph_step_add(case_db *db, const case_origin *who, int64_t case_id,
                        const case_graph_step_new *s, int save, int64_t *step_id, util_err *err)
{
    if (step_id) *step_id = 0;
    case_graph_step_new v;
    int rc = case_check_origin(who, err);
    if (!rc) rc = check_step(s, &v, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    if ((rc = case_exists(db, case_id, err))) goto fail;
    int64_t id = 0;
    char now[32];
    case_now(now);
    if (save) {
        sqldb_stmt *q;
        if ((rc = case_sql_prep(db, &q,
                                "INSERT INTO case_graph_steps (case_id, op, node, spec, direction,"
                                " policy, detail, analyst, created_at, btc_tip, btc_height,"
                                " evm_chain, evm_tip, evm_height)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                                err)))
            goto fail;
        sqldb_bind_int64(q, 1, case_id);
        case_bind_text(q, 2, v.op);
        case_bind_text(q, 3, v.node);
        case_bind_text(q, 4, v.spec);
        case_bind_text(q, 5, v.direction);
        case_bind_text(q, 6, v.policy);
        case_bind_text(q, 7, v.detail);
        case_bind_text(q, 8, who->analyst);
        case_bind_text(q, 9, now);
        case_state_bind(q, 10, &who->state);
        if (sqldb_step(q) == SQLDB_ROW)
            id = sqldb_column_int64(q, 0);
        else
            rc = case_sql_fail(db, "case_graph_steps", err);
        sqldb_finalize(q);
        if (rc) goto fail;
    }
    /* the audit row says what was asked and what came of it (the answer's summary) */
    json_t *d = json_pack("{s:o, s:s, s:s, s:s, s:s, s:b}", "step",
                          id ? json_integer(id) : json_null(), "node", v.node, "direction",
                          v.direction, "spec", v.spec, "policy", v.policy, "saved", save != 0);
    json_t *ans = json_loads(v.detail, 0, NULL);
    if (d && ans) json_object_set_new(d, "answer", ans);
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!detail) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto fail;
    }
    char action[32];
    snprintf(action, sizeof action, "graph.%s", v.op);
    rc = case_audit_insert(db, who, case_id, action, detail, err);
    free(detail);
    if (rc) goto fail;
    if ((rc = case_commit(db, err))) goto out;
    if (step_id) *step_id = id;
    goto out;
fail:
    case_rollback(db);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int case_graph_get(case_db *db, const case_origin *who, int64_t case_id, case_graph_step **out,
                   size_t *n, util_err *err)
{
    *out = NULL;
    *n = 0;
    int rc = case_check_origin(who, err);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if ((rc = case_begin(db, err))) goto out;
    if ((rc = case_exists(db, case_id, err))) goto fail;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"case\": %" PRId64 "}", case_id);
    if ((rc = case_audit_insert(db, who, case_id, "graph.read", detail, err))) goto fail;
    sqldb_stmt *q;
    if ((rc = case_sql_prep(db, &q,
                            "SELECT id, op, node, spec, direction, policy, detail, analyst,"
                            " created_at, btc_tip, btc_height, evm_chain, evm_tip, evm_height"
                            " FROM case_graph_steps WHERE case_id = ?1 AND id >= COALESCE("
                            "(SELECT MAX(id) FROM case_graph_steps WHERE case_id = ?1"
                            " AND op = 'start'), 0) ORDER BY id",
                            err)))
        goto fail;
    sqldb_bind_int64(q, 1, case_id);
    size_t cap = 0;
    int st;
    while ((st = sqldb_step(q)) == SQLDB_ROW) {
        if (util_grow((void **)out, &cap, *n + 1, sizeof **out, 16, SIZE_MAX)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        case_graph_step *g = &(*out)[(*n)++];
        memset(g, 0, sizeof *g);
        g->id = sqldb_column_int64(q, 0);
        g->case_id = case_id;
        char **f[] = {&g->op,     &g->node,   &g->spec,    &g->direction,
                      &g->policy, &g->detail, &g->analyst, &g->created_at};
        for (int i = 0; i < 8; i++)
            if (!(*f[i] = case_col_dup(q, i + 1)))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        case_state_read(q, 9, &g->state);
        if (rc) break;
    }
    if (!rc && st != SQLDB_DONE) rc = case_sql_fail(db, "case_graph_steps", err);
    sqldb_finalize(q);
    if (rc) goto fail;
    rc = case_commit(db, err);
    if (rc) goto fail_free;
    goto out;
fail:
    case_rollback(db);
fail_free:
    case_graph_steps_free(*out, *n);
    *out = NULL;
    *n = 0;
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}
