/* serve: the read and screening routes (look-ups, screening, batches, traces) and the response
 * and query-argument helpers they share with the other routes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../evmexpo/evmexpo.h"
#include "../query/query.h"
#include "../trace/trace.h"
#include "../evmclust/evmclust.h"
#include "serve_int.h"

/* ---- responses ---- */

/* Queue text (owned, n bytes) as the JSON response. */
static enum MHD_Result send_text(struct MHD_Connection *c, req *r, unsigned status, char *text,
                                 size_t n, const char *cache_state)
{
    if (status == 200 && r && n > r->sv->o.max_answer) {
        free(text);
        atomic_fetch_add(&r->sv->front->too_large, 1);
        return serve_error(c, r, 422, NULL,
                           "the answer is %zu bytes, over this service's limit of %zu "
                           "(--max-answer): ask for less (fewer seeds or hops, a higher "
                           "min_value, a smaller page)",
                           n, r->sv->o.max_answer);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (cache_state) MHD_add_response_header(resp, "X-Cointrail-Cache", cache_state);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    if (r) r->status = (int)status;
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, req *r, unsigned status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) {
        text = strdup("{\"error\":{\"code\":500,\"message\":\"out of memory\"}}");
        status = 500;
        if (!text) return MHD_NO;
    }
    return send_text(c, r, status, text, strlen(text), NULL);
}

enum MHD_Result serve_error(struct MHD_Connection *c, void *r, unsigned status, const char *field,
                            const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:i, s:s}", "code", (int)status, "message", msg);
    /* a message may quote user input that is not UTF-8: never fail the error itself */
    if (!e) e = json_pack("{s:i, s:s}", "code", (int)status, "message", "invalid input");
    if (field) json_object_set_new(e, "field", json_string(field));
    return send_json(c, r, status, json_pack("{s:o}", "error", e));
}

static enum MHD_Result send_util_err(struct MHD_Connection *c, req *r, const util_err *err,
                                     const char *field)
{
    unsigned st = err->code == UTIL_ENOTFOUND ? 404
                  : err->code == UTIL_EINVAL  ? 400
                  : err->code == UTIL_ENOMEM  ? 503
                                              : 500;
    return serve_error(c, r, st, st == 400 ? field : NULL, "%s", err->msg);
}

/* ---- request helpers ---- */

static const char *arg(struct MHD_Connection *c, const char *k)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

/* Parse an optional unsigned query argument; -1 (and a 400 queued) if malformed. */
static int uarg(struct MHD_Connection *c, req *r, const char *k, uint64_t lo, uint64_t hi,
                uint64_t *out, enum MHD_Result *ret)
{
    const char *v = arg(c, k);
    if (!v) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || *v == '-' || x < lo || x > hi) {
        *ret =
            serve_error(c, r, 400, k,
                        "query argument %s: expected an integer %" PRIu64 "..%" PRIu64, k, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* ?offset=&limit= of a paged answer (defaults 0 and 100, at most 1000 a page). */
static int paging(struct MHD_Connection *c, req *r, uint64_t *offset, uint64_t *limit,
                  enum MHD_Result *ret)
{
    return uarg(c, r, "offset", 0, UINT32_MAX, offset, ret) ||
           uarg(c, r, "limit", 1, 1000, limit, ret);
}

static int direction_arg(const char *v, int *out)
{
    if (!v || !strcmp(v, "both"))
        *out = 3;
    else if (!strcmp(v, "incoming"))
        *out = 1;
    else if (!strcmp(v, "outgoing"))
        *out = 2;
    else
        return -1;
    return 0;
}

static int risk_opts_from_query(struct MHD_Connection *c, req *r, risk_opts *o,
                                enum MHD_Result *ret)
{
    uint64_t hops = 0;
    memset(o, 0, sizeof *o);
    if (uarg(c, r, "hops", 1, RISK_MAX_HOPS, &hops, ret)) return -1;
    o->hops = (uint32_t)hops;
    if (direction_arg(arg(c, "direction"), &o->directions)) {
        *ret = serve_error(c, r, 400, "direction", "direction: incoming, outgoing or both");
        return -1;
    }
    return 0;
}

/* The request body as a JSON object, or a 400 queued naming where it broke. */
static json_t *body_json(struct MHD_Connection *c, req *r, enum MHD_Result *ret)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        *ret = serve_error(c, r, 400, "body", "request body: invalid JSON at byte %d: %s",
                           je.position, je.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        *ret = serve_error(c, r, 400, "body", "request body: expected a JSON object");
        return NULL;
    }
    return doc;
}

/* ---- routes ---- */

enum MHD_Result serve_route_screen(server *sv, struct MHD_Connection *c, req *r, int is_tx,
                                   const char *what)
{
    risk_opts o;
    enum MHD_Result ret;
    if (risk_opts_from_query(c, r, &o, &ret)) return ret;
    if (serve_is_evm(what)) return serve_route_screen_evm(sv, c, r, is_tx, what);
    char key[320];
    snprintf(key, sizeof key, "%c|%u|%d|%.256s", is_tx ? 't' : 'a', o.hops, o.directions, what);
    snap *sn = serve_snap_get(sv);
    size_t len;
    char *text = serve_cache_get(sn->cache, key, &len);
    if (text) {
        serve_snap_put(sn);
        atomic_fetch_add(&sv->cache_hits, 1);
        return send_text(c, r, 200, text, len, "hit");
    }
    if (risk_screen_traces(sn->risk, &o) && !r->expensive &&
        !serve_expensive_enter(sv, c, r, &ret)) {
        serve_snap_put(sn);
        return ret;
    }
    util_err err = {0};
    risk_result res;
    int rc = is_tx ? risk_screen_tx_result(sn->risk, what, &o, &res, &err)
                   : risk_screen_address_result(sn->risk, what, &o, &res, &err);
    /* the cross-chain part (evmexpo): none without links or an EVM index they come from */
    int has_x = 0;
    evmexpo_xresult xr;
    const xchain_links *links = NULL;
    if (!rc)
        rc = evmexpo_screener_btc(sn->xs, sn->s, sn->labels, sn->clusters, &sv->cfg, what, &has_x,
                                  &xr, &links, &err);
    if (rc) {
        risk_result_free(&res);
        serve_snap_put(sn);
        return send_util_err(c, r, &err, is_tx ? "txid" : "address");
    }
    if (has_x) {
        /* with a cross-chain part, the document as `cointrail screen` builds it (jansson) */
        json_t *doc = NULL;
        rc = risk_result_json(sn->risk, &res, &doc, &err);
        if (!rc) rc = evmexpo_xresult_json(&xr, links, &sv->cfg, doc, &err);
        evmexpo_xresult_free(&xr);
        risk_result_free(&res);
        text = rc ? NULL : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (!text) {
            serve_snap_put(sn);
            return serve_error(c, r, 503, NULL, "out of memory");
        }
        len = strlen(text);
    } else {
        /* the text straight from the typed result (risk_result_text): no jansson tree */
        util_buf b = {0};
        rc = risk_result_text(sn->risk, &res, &b, &err);
        risk_result_free(&res);
        if (rc || util_buf_append(&b, "", 1)) {
            util_buf_free(&b);
            serve_snap_put(sn);
            return serve_error(c, r, 503, NULL, "out of memory");
        }
        text = (char *)b.data;
        len = b.len - 1;
    }
    int caching = sn->cache != NULL;
    serve_cache_put(sn->cache, key, text, len);
    serve_snap_put(sn);
    if (caching) atomic_fetch_add(&sv->cache_misses, 1);
    return send_text(c, r, 200, text, len, caching ? "miss" : NULL);
}

static json_t *err_obj(const util_err *err)
{
    json_t *e = json_pack("{s:i, s:s}", "code",
                          err->code == UTIL_ENOTFOUND ? 404
                          : err->code == UTIL_EINVAL  ? 400
                                                      : 500,
                          "message", err->msg);
    return e ? e : json_pack("{s:i, s:s}", "code", 400, "message", "invalid input");
}

enum MHD_Result serve_route_batch(server *sv, struct MHD_Connection *c, req *r)
{
    enum MHD_Result ret;
    json_t *doc = body_json(c, r, &ret);
    if (!doc) return ret;
    risk_opts o = {0, 3};
    json_t *addrs = json_object_get(doc, "addresses"), *txs = json_object_get(doc, "txs");
    json_t *hops = json_object_get(doc, "hops"), *dir = json_object_get(doc, "direction");
    const char *bad = NULL, *why = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "addresses") && strcmp(key, "txs") && strcmp(key, "hops") &&
            strcmp(key, "direction") && strcmp(key, "chain")) {
            bad = key, why = "unknown field";
            break;
        }
    }
    if (!bad && addrs && !json_is_array(addrs)) bad = "addresses", why = "expected an array";
    if (!bad && txs && !json_is_array(txs)) bad = "txs", why = "expected an array";
    if (!bad && !addrs && !txs) bad = "addresses", why = "give addresses and/or txs";
    if (!bad && hops &&
        (!json_is_integer(hops) || json_integer_value(hops) < 1 ||
         json_integer_value(hops) > RISK_MAX_HOPS))
        bad = "hops", why = "expected an integer 1..20";
    if (!bad && dir &&
        (!json_is_string(dir) || direction_arg(json_string_value(dir), &o.directions)))
        bad = "direction", why = "incoming, outgoing or both";
    json_t *chain = json_object_get(doc, "chain"); /* of 0x items (default eth) */
    if (!bad && chain && !json_is_string(chain)) bad = "chain", why = "expected a string";
    if (!bad && json_array_size(addrs) + json_array_size(txs) > sv->o.max_batch)
        bad = "addresses", why = "too many items";
    for (int k = 0; !bad && k < 2; k++) {
        size_t i;
        json_array_foreach(k ? txs : addrs, i, v) if (!json_is_string(v))
        {
            bad = k ? "txs" : "addresses", why = "every item must be a string";
            break;
        }
    }
    if (bad) { /* bad may be a key of doc: answer before letting doc go */
        enum MHD_Result e =
            !strcmp(why, "too many items")
                ? serve_error(c, r, 413, bad, "batch: at most %zu items", sv->o.max_batch)
                : serve_error(c, r, 400, bad, "field '%s': %s", bad, why);
        json_decref(doc);
        return e;
    }
    if (hops) o.hops = (uint32_t)json_integer_value(hops);
    json_t *results = json_array();
    snap *sn = serve_snap_get(sv);
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_array_foreach(k ? txs : addrs, i, v)
        {
            const char *what = json_string_value(v);
            json_t *res = NULL;
            util_err err = {0};
            int rc = serve_xscreen_item(sv, sn, chain ? json_string_value(chain) : "eth", k, what,
                                        &o, &res, &err);
            json_t *item = json_pack("{s:s, s:O}", "kind", k ? "tx" : "address", "query", v);
            json_object_set_new(item, rc ? "error" : "result", rc ? err_obj(&err) : res);
            json_array_append_new(results, item);
        }
    }
    serve_snap_put(sn);
    json_decref(doc);
    return send_json(c, r, 200, json_pack("{s:o}", "results", results));
}

enum MHD_Result serve_route_query(server *sv, struct MHD_Connection *c, req *r, int what,
                                  const char *id)
{
    uint64_t offset = 0, limit = 100;
    enum MHD_Result ret;
    if (paging(c, r, &offset, &limit, &ret)) return ret;
    snap *sn = serve_snap_get(sv);
    query_ctx q = {sn->s, sn->labels, sn->clusters, NULL};
    json_t *doc = NULL;
    util_err err = {0};
    int rc;
    if (what == R_ENTITY && (!strncmp(id, "0x", 2) || !strncmp(id, "0X", 2))) {
        /* an EVM address: the entities `evm-cluster` saved beside the store, read per request
         * (a small file; its run is the answer's provenance), labels from the snapshot */
        evmclust_set set = {0};
        evmclust_entity ent = {0};
        if (!(rc = evmclust_load(&set, sv->o.db, "eth", &err)) &&
            !(rc = evmclust_entity_get(&set, id, &ent, &err)) &&
            !(doc = evmclust_entity_json(&set, &ent, sn->labels, id, offset, limit)))
            rc = util_errf(&err, UTIL_ENOMEM, "out of memory");
        evmclust_entity_free(&ent);
        evmclust_free(&set);
        serve_snap_put(sn);
        if (rc) return send_util_err(c, r, &err, "address");
        return send_json(c, r, 200, doc);
    }
    if (what == R_ENTITY && !sn->clusters)
        rc = util_errf(&err, UTIL_ENOTFOUND, "no clustering: run `cointrail cluster` first");
    else if (what == R_ADDRESS)
        rc = query_address(&q, id, offset, limit, &doc, &err);
    else if (what == R_TX)
        rc = query_tx(&q, id, &doc, &err);
    else
        rc = query_entity(&q, id, offset, limit, &doc, &err);
    serve_snap_put(sn);
    if (rc) return send_util_err(c, r, &err, what == R_TX ? "txid" : "address");
    return send_json(c, r, 200, doc);
}

enum MHD_Result serve_route_labels(server *sv, struct MHD_Connection *c, req *r,
                                   const char *address)
{
    uint64_t offset = 0, limit = 100;
    enum MHD_Result ret;
    if (paging(c, r, &offset, &limit, &ret)) return ret;
    snap *sn = serve_snap_get(sv);
    json_t *doc = NULL;
    util_err err = {0};
    int rc = 0;
    if (address) {
        const labels_label *found[256];
        size_t n = 0;
        labels_find_any(sn->labels, arg(c, "chain"), address, found, 256, &n);
        json_t *ls = json_array();
        for (size_t i = 0; i < n && i < 256; i++)
            json_array_append_new(ls, labels_to_json(found[i]));
        doc =
            json_pack("{s:s, s:I, s:o}", "address", address, "total", (json_int_t)n, "labels", ls);
        if (!doc) rc = util_errf(&err, UTIL_EINVAL, "address: not valid UTF-8");
    } else {
        labels_filter f = {
            .chain = arg(c, "chain"), .category = arg(c, "category"), .text = arg(c, "q")};
        rc = labels_query(sn->labels, &f, offset, limit, &doc, &err);
    }
    serve_snap_put(sn);
    if (rc) return send_util_err(c, r, &err, "address");
    return send_json(c, r, 200, doc);
}

/* Fewer bytes than any edge of a trace document takes in the compact JSON the service sends:
 * the smallest, {"from_tx":null,"to_tx":null,"output":"<64 hex>:0","address":null,"value":1,
 * "fate":"unspent","patterns":[]}, is 163 (a seed's; the others name a 64-hex from_tx) */
#define SERVE_TRACE_EDGE_MIN_BYTES 160

enum MHD_Result serve_route_trace(server *sv, struct MHD_Connection *c, req *r)
{
    enum MHD_Result ret;
    json_t *doc = body_json(c, r, &ret);
    if (!doc) return ret;
    /* The CLI's defaults (no hop limit) within the service's budget of visited outputs, which
     * is what bounds a request's time and memory (docs/tracing.md, "Limits"): a hop limit
     * would not, as hops are cheap where the taint narrows and the budget is reached in a few
     * hops where it fans out. */
    trace_opts o;
    trace_default_opts(&o);
    o.max_outputs = sv->cfg.max_outputs * 10;
    taint_target tg = {.model = TAINT_MODEL_UTXO, .core = &o.core, .min_value_sat = &o.min_value};
    util_err perr = {0};
    const char *bad = NULL, *why = NULL, *key;
    json_t *v, *from = NULL;
    json_object_foreach(doc, key, v)
    {
        if (!strcmp(key, "from")) {
            from = v;
            if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > sv->o.max_batch)
                bad = key, why = "expected an array of 1..max_batch specs";
            continue;
        }
        /* the options: taint's parser, the CLI's names and limits */
        taint_val tv = {.kind = json_is_string(v)    ? TAINT_VAL_TEXT
                                : json_is_integer(v) ? TAINT_VAL_INT
                                : json_is_boolean(v) ? TAINT_VAL_BOOL
                                                     : TAINT_VAL_OTHER,
                        .text = json_string_value(v),
                        .num = json_integer_value(v),
                        .flag = json_is_true(v)};
        /* a message quotes a scalar as JSON; a container is only named (it may be large) */
        char *shown = json_is_array(v) || json_is_object(v)
                          ? NULL
                          : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        tv.shown = shown               ? shown
                   : json_is_array(v)  ? "an array"
                   : json_is_object(v) ? "an object"
                                       : "that";
        int prc = taint_opt_set(&tg, TAINT_FRONT_API, key, &tv, &perr);
        free(shown);
        if (prc == UTIL_ENOTFOUND)
            bad = key, why = "unknown field";
        else if (prc)
            bad = key, why = perr.msg;
        if (bad) break;
    }
    if (!bad && !from) bad = "from", why = "required";
    if (bad) {
        enum MHD_Result e = why == perr.msg
                                ? serve_error(c, r, 400, bad, "%s", why)
                                : serve_error(c, r, 400, bad, "field '%s': %s", bad, why);
        json_decref(doc); /* bad may be one of its keys */
        return e;
    }
    snap *sn = serve_snap_get(sv);
    trace_seeds seeds = {0};
    util_err err = {0};
    int rc = 0;
    size_t i;
    json_array_foreach(from, i, v)
    {
        const char *spec = json_string_value(v);
        /* '@' lists are the CLI's (the library reads no file): here it is just not a SPEC */
        if (!spec || spec[0] == '@') {
            rc = util_errf(&err, UTIL_EINVAL,
                           "from[%zu]: expected TXID:N, TXID, ADDRESS or "
                           "entity:ADDRESS|ID",
                           i);
            break;
        }
        if (!strncmp(spec, "entity:", 7))
            rc = sn->clusters ? trace_add_entity(&seeds, sn->s, sn->clusters, spec + 7, &err)
                              : util_errf(&err, UTIL_EINVAL, "entity: needs a clustering");
        else
            rc = trace_add_spec(&seeds, sn->s, spec, &err);
        if (rc) {
            util_err_prefix(&err, "from[%zu]", i);
            break;
        }
    }
    if (!rc && seeds.n > sv->o.max_seeds) {
        serve_snap_put(sn);
        trace_seeds_free(&seeds);
        json_decref(doc);
        return serve_error(c, r, 422, "from",
                           "from: %zu seed outputs, over this service's limit of %zu "
                           "(--max-seeds): trace fewer or narrower specs",
                           seeds.n, sv->o.max_seeds);
    }
    json_t *out = NULL;
    trace_result res;
    size_t edges = 0;
    if (!rc && !(rc = trace_compute(sn->s, sn->labels, sn->clusters, &seeds, &o, &res, &err))) {
        /* An answer that cannot fit --max-answer is refused before its document is built: the
         * document, not the propagation, is most of a wide trace's time and memory (about 3.7 KB
         * and 22 us per visited output, docs/tracing.md). */
        edges = res.n_edges;
        if (edges <= sv->o.max_answer / SERVE_TRACE_EDGE_MIN_BYTES)
            rc = trace_result_json(&res, &out, &err); /* before the snapshot goes: res points
                                                         into it */
        trace_result_free(&res);
    }
    serve_snap_put(sn);
    trace_seeds_free(&seeds);
    json_decref(doc);
    if (rc) return send_util_err(c, r, &err, "from");
    if (!out) {
        atomic_fetch_add(&sv->front->too_large, 1);
        return serve_error(c, r, 422, NULL,
                           "the answer would list %zu edges, over this service's limit of %zu "
                           "bytes (--max-answer; an edge takes at least %d): ask for less (fewer "
                           "seeds or hops, a higher min_value)",
                           edges, sv->o.max_answer, SERVE_TRACE_EDGE_MIN_BYTES);
    }
    return send_json(c, r, 200, out);
}

/* ---- responses for the other files ---- */

enum MHD_Result serve_send_json(struct MHD_Connection *c, void *r, unsigned status, json_t *doc)
{
    return send_json(c, r, status, doc);
}

json_t *serve_body_json(struct MHD_Connection *c, void *r, enum MHD_Result *ret)
{
    return body_json(c, r, ret);
}
