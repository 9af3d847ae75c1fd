/* serve: cases over HTTP (/v1/cases, docs/webui.md, "Cases"), for the web UI's case list, case
 * page, labels and notes from the graph and the case report. Every call goes through src/case
 * (case.h), which writes who did what on which store state to the case's audit log: the
 * analyst is the key's owner, the command the request's method and path. Reads need the read
 * scope, changes the write scope (serve.c checks them before the body is read). Without
 * --state, or with an SQLite one, each request opens its own case_db (DIR/cases.sqlite); with
 * --state postgresql://... the replicas share the cases in that database, through one
 * connection per replica (serve_cases_open). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../case/case.h"
#include "../sqldb/sqldb.h"
#include "../trace/trace.h"
#include "serve_int.h"

unsigned serve_case_status(int rc)
{
    return rc == UTIL_ENOTFOUND ? 404
           : rc == UTIL_EINVAL  ? 400
           : rc == UTIL_EBUSY   ? 503
           : rc == UTIL_ENOMEM  ? 503
                                : 500;
}

/* The case database of one request: put it back with serve_cases_done. */
static int serve_cases_open(server *sv, unsigned flags, case_db **db, util_err *err)
{
    if (!sqldb_is_pg_url(sv->o.state_url)) return case_db_open(db, sv->o.db, flags, err);
    pthread_mutex_lock(&sv->cases_lock);
    int rc = sv->cases ? 0 : case_db_open_at(&sv->cases, sv->o.db, sv->o.state_url, flags, err);
    *db = sv->cases;
    pthread_mutex_unlock(&sv->cases_lock);
    return rc;
}

static void serve_cases_done(server *sv, case_db *db)
{
    if (db != sv->cases) case_db_close(db);
}

static enum MHD_Result case_error(struct MHD_Connection *c, req *r, int rc, const util_err *err,
                                  const char *field)
{
    unsigned st = serve_case_status(rc);
    /* the shared database is away: a state the client may retry through, as with a busy one */
    if (rc == UTIL_EIO && strstr(err->msg, "unreachable")) st = 503;
    return serve_error(c, r, st, st == 400 ? field : NULL, "%s", err->msg);
}

/* Text (owned, n bytes) as a download: the report or the endpoints' CSV. */
static enum MHD_Result send_file(struct MHD_Connection *c, req *r, char *text, size_t n,
                                 const char *type, const char *name)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Content-Disposition", disp);
    /* the report has its own styles and no script: nothing else may run if it is opened */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    r->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A JSON string field of the body ("" when absent); NULL (and *bad set) when not a string. */
static const char *field(json_t *doc, const char *k, const char **bad)
{
    json_t *v = json_object_get(doc, k);
    if (!v || json_is_null(v)) return "";
    if (!json_is_string(v)) {
        *bad = k;
        return NULL;
    }
    return json_string_value(v);
}

/* The case id in "/v1/cases/ID..." and what follows it ("" or "/seeds", ...); -1 if none. */
static int64_t case_id_of(const char *url, const char **rest)
{
    const char *p = url + strlen("/v1/cases/");
    char *end;
    if (*p < '1' || *p > '9') return -1;
    long long id = strtoll(p, &end, 10);
    if (id <= 0 || (*end && *end != '/')) return -1;
    *rest = end;
    return id;
}

/* Who makes a case call: the key's owner, the request, the snapshot's store state. */
static void origin_of(const req *r, const snap *sn, char *command, size_t n, case_origin *who)
{
    snprintf(command, n, "%s %s", r->method, r->path);
    memset(who, 0, sizeof *who);
    who->analyst = r->who.owner[0] ? r->who.owner : "anonymous";
    who->command = command;
    case_state_init(&who->state);
    case_state_btc(&who->state, sn->s);
}

int serve_case_graph_step(server *sv, const req *r, const snap *sn, int64_t case_id,
                          const case_graph_step_new *s, util_err *err)
{
    return serve_case_graph_step_evm(sv, r, sn, NULL, case_id, s, err);
}

int serve_case_graph_step_evm(server *sv, const req *r, const snap *sn, const evm_store *evm,
                              int64_t case_id, const case_graph_step_new *s, util_err *err)
{
    char command[300];
    case_origin who;
    origin_of(r, sn, command, sizeof command, &who);
    if (evm) case_state_evm(&who.state, evm);
    case_db *db = NULL;
    int rc = serve_cases_open(sv, 0, &db, err);
    if (rc == UTIL_ENOTFOUND)
        rc = util_errf(err, UTIL_ENOTFOUND, "case %" PRId64 " does not exist", case_id);
    if (!rc)
        rc = case_graph_step_add(db, &who, case_id, s, (r->who.scopes & SERVE_SCOPE_WRITE) != 0,
                                 NULL, err);
    serve_cases_done(sv, db);
    return rc;
}

/* GET .../graph: the saved graph's steps; POST .../graph {"op": "collapse", "node"}: a
 * collapse (starts and expansions are recorded by /v1/graph/start and /v1/graph/expand, which
 * compute them). */
static int graph_route(case_db *db, const case_origin *who, int64_t id, json_t *doc, json_t **out,
                       unsigned *status, util_err *err)
{
    if (doc) {
        const char *bad = NULL;
        case_graph_step_new s = {
            field(doc, "op", &bad), field(doc, "node", &bad), NULL, NULL, NULL, NULL};
        if (bad) return util_errf(err, UTIL_EINVAL, "field '%s': expected a string", bad);
        if (strcmp(s.op, "collapse"))
            return util_errf(err, UTIL_EINVAL,
                             "field op: collapse (a start or an expansion is recorded by "
                             "/v1/graph/start and /v1/graph/expand with \"case\")");
        int64_t step = 0;
        int rc = case_graph_step_add(db, who, id, &s, 1, &step, err);
        if (!rc) *out = json_pack("{s:I}", "step", (json_int_t)step), *status = 201;
        return rc;
    }
    case_graph_step *v = NULL;
    size_t n = 0;
    int rc = case_graph_get(db, who, id, &v, &n, err);
    if (rc) return rc;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const case_graph_step *g = &v[i];
        json_t *detail = json_loads(g->detail, 0, NULL);
        json_array_append_new(
            a,
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:{s:s, s:I, s:s, s:s, s:I}}",
                      "id", (json_int_t)g->id, "op", g->op, "node", g->node, "spec", g->spec,
                      "direction", g->direction, "policy", g->policy, "detail",
                      detail ? detail : json_object(), "analyst", g->analyst, "at", g->created_at,
                      "store_state", "btc_tip", g->state.btc_tip, "btc_height",
                      (json_int_t)g->state.btc_height, "evm_chain", g->state.evm_chain, "evm_tip",
                      g->state.evm_tip, "evm_height", (json_int_t)g->state.evm_height));
    }
    case_graph_steps_free(v, n);
    *out = json_pack("{s:I, s:o}", "case", (json_int_t)id, "steps", a);
    return *out ? 0 : util_errf(err, UTIL_ENOMEM, "out of memory");
}

static int trace_req_from(json_t *doc, trace_opts *o, const char **bad)
{
    json_t *v;
    const char *k;
    json_object_foreach(doc, k, v)
    {
        if (!strcmp(k, "direction")) {
            int d = json_is_string(v) ? trace_direction_parse(json_string_value(v)) : -1;
            if (d < 0) return *bad = k, -1;
            o->direction = d;
        } else if (!strcmp(k, "policy")) {
            int p = json_is_string(v) ? trace_policy_parse(json_string_value(v)) : -1;
            if (p < 0) return *bad = k, -1;
            o->policy = p;
        } else if (!strcmp(k, "hops")) {
            /* as /v1/trace: no hop limit unless given; the budget bounds the work */
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > TAINT_MAX_HOPS)
                return *bad = k, -1;
            o->hops = (uint32_t)json_integer_value(v);
        } else if (!strcmp(k, "min_value")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) return *bad = k, -1;
            o->min_value = (uint64_t)json_integer_value(v);
        } else {
            return *bad = k, -1;
        }
    }
    return 0;
}

enum MHD_Result serve_route_cases(server *sv, struct MHD_Connection *c, req *r, const char *url,
                                  const char *method)
{
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    int64_t id = 0;
    const char *rest = "";
    if (strcmp(url, "/v1/cases") && strncmp(url, "/v1/cases/", 10))
        return serve_error(c, r, 404, NULL, "no such endpoint (see docs/openapi.yaml)");
    if (strcmp(url, "/v1/cases") && (id = case_id_of(url, &rest)) < 0)
        return serve_error(c, r, 404, NULL, "no such case: a case id is a number from 1");
    static const char *const subs[] = {"",       "/seeds",       "/traces",        "/labels",
                                       "/notes", "/report.html", "/endpoints.csv", "/graph"};
    size_t sub = 0;
    while (sub < sizeof subs / sizeof *subs && strcmp(rest, subs[sub]))
        sub++;
    if (sub == sizeof subs / sizeof *subs)
        return serve_error(c, r, 404, NULL, "no such endpoint (see docs/openapi.yaml)");
    int want_get = id && (sub == 0 || sub == 5 || sub == 6);
    if ((!id || sub == 7) && !get && !post) return serve_error(c, r, 405, NULL, "use GET or POST");
    if (sub == 7) want_get = get;
    if (id && want_get && !get) return serve_error(c, r, 405, NULL, "use GET");
    if (id && !want_get && !post) return serve_error(c, r, 405, NULL, "use POST");
    enum MHD_Result ret;
    json_t *doc = NULL;
    if (post && !(doc = serve_body_json(c, r, &ret))) return ret;

    snap *sn = serve_snap_get(sv);
    char command[300];
    case_origin who;
    origin_of(r, sn, command, sizeof command, &who);
    case_stores st = {sv->o.db, sn->s, sn->clusters, NULL, sn->labels, NULL}; /* no links */
    util_err err = {0};
    case_db *db = NULL;
    int creating = !id && post;
    int rc = serve_cases_open(sv, creating ? CASE_OPEN_CREATE : 0, &db, &err);
    json_t *out = NULL;
    const char *bad = NULL;
    unsigned status = 200;
    if (rc == UTIL_ENOTFOUND && !id) { /* no case yet */
        rc = 0;
        out = json_pack("{s:[]}", "cases");
        goto done;
    }
    if (rc) goto done;
    if (!id && get) {
        case_info *list = NULL;
        size_t n = 0;
        if (!(rc = case_list(db, &who, &list, &n, &err))) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++) {
                const case_info *ci = &list[i];
                json_array_append_new(
                    a, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
                                 "id", (json_int_t)ci->id, "title", ci->title, "incident_date",
                                 ci->incident_date, "victim", ci->victim, "chains", ci->chains,
                                 "status", ci->status, "created_by", ci->created_by, "created_at",
                                 ci->created_at, "seeds", (json_int_t)ci->n_seeds, "runs",
                                 (json_int_t)ci->n_runs, "labels", (json_int_t)ci->n_labels,
                                 "notes", (json_int_t)ci->n_notes));
            }
            case_info_array_free(list, n);
            out = json_pack("{s:o}", "cases", a);
        }
    } else if (!id) {
        case_new cn = {field(doc, "title", &bad), field(doc, "incident_date", &bad),
                       field(doc, "victim", &bad), field(doc, "chains", &bad),
                       field(doc, "description", &bad)};
        int64_t nid = 0;
        if (bad)
            rc = util_errf(&err, UTIL_EINVAL, "field '%s': expected a string", bad);
        else if (!(rc = case_create(db, &who, &cn, &nid, &err)))
            out = json_pack("{s:I}", "id", (json_int_t)nid), status = 201;
    } else if (sub == 0 || sub == 5 || sub == 6) {
        case_full full;
        memset(&full, 0, sizeof full);
        if (!(rc = case_get(db, &who, id, &full, &err))) {
            if (sub == 0) {
                rc = case_full_json(&full, &out, &err);
            } else {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                if (!f)
                    rc = util_errf(&err, UTIL_ENOMEM, "out of memory");
                else {
                    rc =
                        sub == 5 ? case_write_html(&full, f, &err) : case_write_csv(&full, f, &err);
                    fclose(f);
                }
                case_full_free(&full);
                serve_cases_done(sv, db);
                serve_snap_put(sn);
                if (rc) {
                    free(buf);
                    return case_error(c, r, rc, &err, NULL);
                }
                char name[64];
                snprintf(name, sizeof name, "case-%" PRId64 "%s", id,
                         sub == 5 ? ".html" : "-endpoints.csv");
                return send_file(c, r, buf, len,
                                 sub == 5 ? "text/html; charset=utf-8" : "text/csv; charset=utf-8",
                                 name);
            }
            case_full_free(&full);
        }
    } else if (sub == 1) {
        const char *spec = field(doc, "spec", &bad), *note = field(doc, "note", &bad);
        case_seed seed;
        memset(&seed, 0, sizeof seed);
        if (bad)
            rc = util_errf(&err, UTIL_EINVAL, "field '%s': expected a string", bad);
        else if (!(rc = case_seed_add(db, &who, id, &st, spec, note, &seed, &err))) {
            out = json_pack("{s:I, s:s, s:s, s:I, s:s}", "id", (json_int_t)seed.id, "kind",
                            seed.kind, "spec", seed.spec, "refs", (json_int_t)seed.n_refs, "amount",
                            seed.amount);
            status = 201;
        }
        case_seed_free(&seed);
    } else if (sub == 2) {
        case_trace_req tr;
        memset(&tr, 0, sizeof tr);
        tr.chain = "btc";
        trace_default_opts(&tr.btc);
        tr.btc.max_outputs = sv->cfg.max_outputs * 10;
        case_run run;
        memset(&run, 0, sizeof run);
        if (trace_req_from(doc, &tr.btc, &bad))
            rc = util_errf(&err, UTIL_EINVAL,
                           "field '%s': direction (forward, backward), policy (haircut, poison, "
                           "fifo), hops (1..1000) or min_value (satoshis)",
                           bad);
        else if (!(rc = case_trace(db, &who, id, &st, &tr, &run, &err))) {
            rc = case_run_json(&run, &out, &err);
            status = 201;
        }
        case_run_free(&run);
    } else if (sub == 3) {
        json_t *conf = json_object_get(doc, "confidence");
        case_label_new ln = {field(doc, "chain", &bad),    field(doc, "address", &bad),
                             field(doc, "category", &bad), field(doc, "actor", &bad),
                             field(doc, "name", &bad),     80,
                             field(doc, "evidence", &bad)};
        if (ln.chain && !*ln.chain) ln.chain = "btc";
        if (conf && !json_is_integer(conf)) bad = "confidence";
        if (conf && json_is_integer(conf)) ln.confidence = (int)json_integer_value(conf);
        case_label lab;
        memset(&lab, 0, sizeof lab);
        if (bad)
            rc = util_errf(&err, UTIL_EINVAL, "field '%s': expected %s", bad,
                           strcmp(bad, "confidence") ? "a string" : "an integer 0..100");
        else {
            rc = case_label_add(db, &who, id, &ln, &lab, &err);
            /* shared: the other replicas and analysts follow the state's labels. A failure
             * leaves the label in the case only ("shared": false); posting it again shares it. */
            int shared = 0;
            if (lab.id && sv->st) {
                char src[32], day[16];
                labels_label sl;
                util_err serr = {0};
                case_label_as_label(&lab, src, day, &sl);
                shared = state_label_add(sv->st, &sl, who.analyst, NULL, &serr) == 0;
                if (!shared)
                    fprintf(stderr, "cointrail: case label %" PRId64 " not shared: %s\n", lab.id,
                            serr.msg);
            }
            if (!rc || lab.id) {
                out =
                    json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:b, s:b}", "id", (json_int_t)lab.id,
                              "chain", lab.chain ? lab.chain : "", "address",
                              lab.address ? lab.address : "", "category",
                              lab.category ? lab.category : "", "actor", lab.actor ? lab.actor : "",
                              "confidence", lab.confidence, "fed", rc == 0, "shared", shared);
                status = 201;
                rc = 0; /* recorded; feeding labels.db is retried by the next label */
            }
        }
        case_label_free(&lab);
    } else if (sub == 7) {
        rc = graph_route(db, &who, id, doc, &out, &status, &err);
    } else if (sub == 4) {
        const char *text = field(doc, "text", &bad);
        case_note note;
        memset(&note, 0, sizeof note);
        if (bad)
            rc = util_errf(&err, UTIL_EINVAL, "field '%s': expected a string", bad);
        else if (!(rc = case_note_add(db, &who, id, text, &note, &err))) {
            out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)note.id, "created_at",
                            note.created_at, "author", note.author);
            status = 201;
        }
        case_note_free(&note);
    }
done:
    serve_cases_done(sv, db);
    serve_snap_put(sn);
    if (rc) {
        json_decref(doc); /* bad may point into doc: the message is made */
        json_decref(out);
        return case_error(c, r, rc, &err, "body");
    }
    json_decref(doc);
    if (!out) return serve_error(c, r, 503, NULL, "out of memory");
    return serve_send_json(c, r, status, out);
}
