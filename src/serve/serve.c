/* serve: HTTP front end, snapshots and metrics (see serve.h). Watchlists and alerts are in
 * serve_watch.c. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../query/query.h"
#include "../trace/trace.h"
#include "serve_int.h"

void serve_default_opts(serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8080";
    o->max_body = 1 << 20;
    o->max_batch = 1000;
    o->poll_ms = 200;
    o->timeout_s = 10;
    o->cache_slots = 16384;
}

/* ---- snapshots ---- */

static void file_sig(const char *dir, const char *name, struct file_sig *f)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    memset(f, 0, sizeof *f);
    if (stat(path, &st) == 0) {
        f->ino = st.st_ino;
        f->size = st.st_size;
        f->mtime_s = st.st_mtim.tv_sec;
        f->mtime_ns = st.st_mtim.tv_nsec;
    }
}

static void snap_sig(const char *dir, struct file_sig sig[3])
{
    file_sig(dir, "MANIFEST", &sig[0]);
    file_sig(dir, LABELS_FILE, &sig[1]);
    file_sig(dir, "cluster.state", &sig[2]);
}

static void snap_free(snap *sn)
{
    if (!sn) return;
    risk_ctx_free(sn->risk);
    serve_cache_free(sn->cache);
    if (sn->clusters) cluster_close(sn->clusters);
    if (sn->labels) labels_db_close(sn->labels);
    if (sn->s) store_close(sn->s);
    free(sn);
}

/* Open the store's current state. The signature is taken first: if the files change while we
 * open, the next poll sees a difference and opens again. */
static int snap_open(server *sv, snap **out, util_err *err)
{
    snap *sn = calloc(1, sizeof *sn);
    if (!sn) return util_errf(err, UTIL_ENOMEM, "out of memory");
    atomic_init(&sn->refs, 1);
    snap_sig(sv->o.db, sn->sig);
    int rc = store_open(&sn->s, sv->o.db, 0, err);
    if (!rc) rc = labels_db_open(&sn->labels, sv->o.db, 0, err);
    if (!rc) {
        util_err cerr = {0};
        int crc = cluster_open(&sn->clusters, sn->s, sv->o.db, &cerr);
        if (crc == UTIL_ENOTFOUND) {
            sn->clusters = NULL;
        } else if (crc) {
            /* a clustering being committed right now: keep serving the previous state */
            sn->clusters = NULL;
            *err = cerr;
            rc = crc;
        }
    }
    if (!rc) rc = risk_ctx_new(&sn->risk, sn->s, sn->labels, sn->clusters, &sv->cfg, err);
    if (!rc && sv->o.cache_slots && !(sn->cache = serve_cache_new(sv->o.cache_slots)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory for the answer cache");
    if (rc) {
        snap_free(sn);
        return rc;
    }
    *out = sn;
    return 0;
}

snap *serve_snap_get(server *sv)
{
    pthread_mutex_lock(&sv->lock);
    snap *sn = sv->cur;
    atomic_fetch_add(&sn->refs, 1);
    pthread_mutex_unlock(&sv->lock);
    return sn;
}

void serve_snap_put(snap *sn)
{
    if (sn && atomic_fetch_sub(&sn->refs, 1) == 1) snap_free(sn);
}

/* Swap in a new snapshot if the store changed. Returns 1 if swapped. */
static int refresh(server *sv)
{
    struct file_sig sig[3];
    snap_sig(sv->o.db, sig);
    if (!memcmp(sig, sv->cur->sig, sizeof sig)) return 0;
    snap *sn;
    util_err err = {0};
    if (snap_open(sv, &sn, &err)) {
        pthread_mutex_lock(&sv->lock);
        snprintf(sv->refresh_error, sizeof sv->refresh_error, "%s", err.msg);
        pthread_mutex_unlock(&sv->lock);
        return 0;
    }
    pthread_mutex_lock(&sv->lock);
    snap *old = sv->cur;
    sv->cur = sn;
    sv->refresh_error[0] = 0;
    sv->refreshes++;
    pthread_mutex_unlock(&sv->lock);
    serve_snap_put(old);
    return 1;
}

/* ---- metrics ---- */

static const char *const route_names[] = {
    "health", "metrics", "screen_address", "screen_tx",  "screen_batch", "address", "tx",
    "entity", "labels",  "trace",          "watchlists", "alerts",       "rules",   "other"};

static unsigned lat_bucket(double us)
{
    /* four buckets per power of two, from 1 us */
    if (us < 1) return 0;
    unsigned b = (unsigned)(4 * log2(us)) + 1;
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static double bucket_upper_us(unsigned b)
{
    return b == 0 ? 1 : pow(2, (double)b / 4);
}

static double percentile(server *sv, double q)
{
    uint64_t n = 0, cnt[LAT_BUCKETS];
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        n += cnt[b] = atomic_load(&sv->lat[b]);
    if (!n) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)n), seen = 0;
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        if ((seen += cnt[b]) >= want) return bucket_upper_us(b);
    return bucket_upper_us(LAT_BUCKETS - 1);
}

/* ---- responses ---- */

typedef struct req {
    serve_caller who; /* filled from the API key when the request arrives */
    double t0;
    util_buf body;
    int too_big, route, status;
} req;

/* Queue text (owned, n bytes) as the JSON response. */
static enum MHD_Result send_text(struct MHD_Connection *c, req *r, unsigned status, char *text,
                                 size_t n, const char *cache_state)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (cache_state) MHD_add_response_header(resp, "X-Cointrail-Cache", cache_state);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
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

static enum MHD_Result route_health(server *sv, struct MHD_Connection *c, req *r)
{
    snap *sn = serve_snap_get(sv);
    const store_totals *t = store_get_totals(sn->s);
    char tip[65] = "";
    if (t->blocks) util_hash_hex(tip, store_block_hash(sn->s, t->blocks - 1));
    json_t *d =
        json_pack("{s:s, s:s, s:o, s:s, s:I, s:b, s:I}", "status", "ok", "api", "v1", "height",
                  t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null(), "tip", tip,
                  "txs", (json_int_t)t->txs, "clustered", sn->clusters != NULL, "labels",
                  (json_int_t)labels_db_count(sn->labels));
    serve_snap_put(sn);
    pthread_mutex_lock(&sv->lock);
    if (sv->refresh_error[0])
        json_object_set_new(d, "refresh_error", json_string(sv->refresh_error));
    pthread_mutex_unlock(&sv->lock);
    return send_json(c, r, 200, d);
}

static enum MHD_Result route_metrics(server *sv, struct MHD_Connection *c, req *r)
{
    json_t *routes = json_object(), *status = json_object();
    for (int i = 0; i < N_ROUTES; i++)
        json_object_set_new(routes, route_names[i],
                            json_integer((json_int_t)atomic_load(&sv->by_route[i])));
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 5; i++)
        json_object_set_new(status, classes[i],
                            json_integer((json_int_t)atomic_load(&sv->by_status[i])));
    snap *sn = serve_snap_get(sv);
    const store_totals *t = store_get_totals(sn->s);
    json_t *store = json_pack("{s:o, s:I}", "height",
                              t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null(),
                              "txs", (json_int_t)t->txs);
    serve_snap_put(sn);
    pthread_mutex_lock(&sv->lock);
    json_object_set_new(store, "snapshots_opened", json_integer((json_int_t)sv->refreshes + 1));
    json_t *cache = json_pack("{s:I, s:I, s:I}", "slots", (json_int_t)sv->o.cache_slots, "hits",
                              (json_int_t)atomic_load(&sv->cache_hits), "misses",
                              (json_int_t)atomic_load(&sv->cache_misses));
    json_t *alerts = json_pack("{s:I, s:I}", "recorded", (json_int_t)json_array_size(sv->alerts),
                               "scanned_height", (json_int_t)sv->scanned_height);
    pthread_mutex_unlock(&sv->lock);
    json_t *d = json_pack(
        "{s:f, s:I, s:o, s:o, s:{s:f, s:f, s:f, s:s}, s:o, s:o}", "uptime_s",
        util_now() - sv->started, "requests", (json_int_t)atomic_load(&sv->requests), "by_route",
        routes, "by_status", status, "latency_us", "p50", percentile(sv, 0.5), "p90",
        percentile(sv, 0.9), "p99", percentile(sv, 0.99), "note",
        "upper bounds of log-scale buckets (4 per power of two)", "store", store, "alerts", alerts);
    json_object_set_new(d, "screening_cache", cache);
    return send_json(c, r, 200, d);
}

static enum MHD_Result route_screen(server *sv, struct MHD_Connection *c, req *r, int is_tx,
                                    const char *what)
{
    risk_opts o;
    enum MHD_Result ret;
    if (risk_opts_from_query(c, r, &o, &ret)) return ret;
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
    json_t *doc = NULL;
    util_err err = {0};
    int rc = is_tx ? risk_screen_tx(sn->risk, what, &o, &doc, &err)
                   : risk_screen_address(sn->risk, what, &o, &doc, &err);
    if (rc) {
        serve_snap_put(sn);
        return send_util_err(c, r, &err, is_tx ? "txid" : "address");
    }
    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) {
        serve_snap_put(sn);
        return serve_error(c, r, 503, NULL, "out of memory");
    }
    len = strlen(text);
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

static enum MHD_Result route_batch(server *sv, struct MHD_Connection *c, req *r)
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
            strcmp(key, "direction")) {
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
            int rc = k ? risk_screen_tx(sn->risk, what, &o, &res, &err)
                       : risk_screen_address(sn->risk, what, &o, &res, &err);
            json_t *item = json_pack("{s:s, s:O}", "kind", k ? "tx" : "address", "query", v);
            json_object_set_new(item, rc ? "error" : "result", rc ? err_obj(&err) : res);
            json_array_append_new(results, item);
        }
    }
    serve_snap_put(sn);
    json_decref(doc);
    return send_json(c, r, 200, json_pack("{s:o}", "results", results));
}

static enum MHD_Result route_query(server *sv, struct MHD_Connection *c, req *r, int what,
                                   const char *id)
{
    uint64_t offset = 0, limit = 100;
    enum MHD_Result ret;
    if (paging(c, r, &offset, &limit, &ret)) return ret;
    snap *sn = serve_snap_get(sv);
    query_ctx q = {sn->s, sn->labels, sn->clusters};
    json_t *doc = NULL;
    util_err err = {0};
    int rc;
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

static enum MHD_Result route_labels(server *sv, struct MHD_Connection *c, req *r,
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
        labels_filter f = {arg(c, "chain"), arg(c, "category"), arg(c, "q")};
        rc = labels_query(sn->labels, &f, offset, limit, &doc, &err);
    }
    serve_snap_put(sn);
    if (rc) return send_util_err(c, r, &err, "address");
    return send_json(c, r, 200, doc);
}

static enum MHD_Result route_trace(server *sv, struct MHD_Connection *c, req *r)
{
    enum MHD_Result ret;
    json_t *doc = body_json(c, r, &ret);
    if (!doc) return ret;
    trace_opts o;
    trace_default_opts(&o);
    o.max_outputs = sv->cfg.max_outputs * 10;
    o.hops = 10;
    const char *bad = NULL, *why = NULL, *key;
    json_t *v, *from = NULL;
    json_object_foreach(doc, key, v)
    {
        if (!strcmp(key, "from")) {
            from = v;
            if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > sv->o.max_batch)
                bad = key, why = "expected an array of 1..max_batch specs";
        } else if (!strcmp(key, "direction")) {
            if (!json_is_string(v) ||
                (o.direction = trace_direction_parse(json_string_value(v))) < 0)
                bad = key, why = "forward or backward";
        } else if (!strcmp(key, "policy")) {
            if (!json_is_string(v) || (o.policy = trace_policy_parse(json_string_value(v))) < 0)
                bad = key, why = "poison, haircut or fifo";
        } else if (!strcmp(key, "hops")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100)
                bad = key, why = "expected an integer 1..100";
            else
                o.hops = (uint32_t)json_integer_value(v);
        } else if (!strcmp(key, "min_value")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                bad = key, why = "expected a non-negative integer (satoshi)";
            else
                o.min_value = (uint64_t)json_integer_value(v);
        } else if (!strcmp(key, "through_mixers")) {
            if (!json_is_boolean(v))
                bad = key, why = "expected true or false";
            else
                o.follow_mixers = json_is_true(v);
        } else {
            bad = key, why = "unknown field";
        }
        if (bad) break;
    }
    if (!bad && !from) bad = "from", why = "required";
    if (bad) {
        enum MHD_Result e = serve_error(c, r, 400, bad, "field '%s': %s", bad, why);
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
        if (!spec || spec[0] == '@') { /* never read files named by a client */
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
    json_t *out = NULL;
    if (!rc) rc = trace_run(sn->s, sn->labels, sn->clusters, &seeds, &o, &out, &err);
    serve_snap_put(sn);
    trace_seeds_free(&seeds);
    json_decref(doc);
    if (rc) return send_util_err(c, r, &err, "from");
    return send_json(c, r, 200, out);
}

/* ---- dispatch ---- */

static int key_ok(server *sv, struct MHD_Connection *c)
{
    if (sv->o.insecure_no_auth) return 1;
    const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!k && a && !strncmp(a, "Bearer ", 7)) k = a + 7;
    if (!k) return 0;
    size_t kn = strlen(k);
    int ok = 0;
    for (size_t i = 0; i < sv->n_keys; i++) { /* compare all of every key: no timing hint */
        size_t n = strlen(sv->keys[i]);
        unsigned diff = (unsigned)(n != kn);
        for (size_t j = 0; j < n; j++)
            diff |= (unsigned)(sv->keys[i][j] ^ (j < kn ? k[j] : 0));
        ok |= !diff;
    }
    return ok;
}

static int route_of(const char *url)
{
    static const struct {
        const char *prefix;
        int route;
    } table[] = {{"/v1/health", R_HEALTH},
                 {"/v1/metrics", R_METRICS},
                 {"/v1/screen/address/", R_SCREEN_ADDRESS},
                 {"/v1/screen/tx/", R_SCREEN_TX},
                 {"/v1/screen/batch", R_SCREEN_BATCH},
                 {"/v1/address/", R_ADDRESS},
                 {"/v1/tx/", R_TX},
                 {"/v1/entity/", R_ENTITY},
                 {"/v1/labels", R_LABELS},
                 {"/v1/trace", R_TRACE},
                 {"/v1/watchlists", R_WATCHLISTS},
                 {"/v1/alerts", R_ALERTS},
                 {"/v1/rules", R_RULES}};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strncmp(url, table[i].prefix, strlen(table[i].prefix))) return table[i].route;
    return R_OTHER;
}

static enum MHD_Result dispatch(server *sv, struct MHD_Connection *c, req *r, const char *url,
                                const char *method)
{
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    const char *rest = NULL;
    switch (r->route) {
    case R_HEALTH:
        if (strcmp(url, "/v1/health")) break;
        return get ? route_health(sv, c, r) : serve_error(c, r, 405, NULL, "use GET");
    case R_METRICS:
        if (strcmp(url, "/v1/metrics")) break;
        return get ? route_metrics(sv, c, r) : serve_error(c, r, 405, NULL, "use GET");
    case R_SCREEN_ADDRESS:
    case R_SCREEN_TX:
        rest = url + strlen(r->route == R_SCREEN_TX ? "/v1/screen/tx/" : "/v1/screen/address/");
        if (!*rest || strchr(rest, '/')) break;
        if (!get) return serve_error(c, r, 405, NULL, "use GET");
        return route_screen(sv, c, r, r->route == R_SCREEN_TX, rest);
    case R_SCREEN_BATCH:
        if (strcmp(url, "/v1/screen/batch")) break;
        return post ? route_batch(sv, c, r) : serve_error(c, r, 405, NULL, "use POST");
    case R_ADDRESS:
    case R_TX:
    case R_ENTITY:
        rest = strchr(url + 4, '/') + 1;
        if (!*rest || strchr(rest, '/')) break;
        if (!get) return serve_error(c, r, 405, NULL, "use GET");
        return route_query(sv, c, r, r->route, rest);
    case R_LABELS:
        if (!get) return serve_error(c, r, 405, NULL, "use GET");
        if (!strcmp(url, "/v1/labels")) return route_labels(sv, c, r, NULL);
        if (!strncmp(url, "/v1/labels/", 11) && url[11] && !strchr(url + 11, '/'))
            return route_labels(sv, c, r, url + 11);
        break;
    case R_TRACE:
        if (strcmp(url, "/v1/trace")) break;
        return post ? route_trace(sv, c, r) : serve_error(c, r, 405, NULL, "use POST");
    case R_WATCHLISTS:
        return serve_route_watchlists(sv, &r->who, c, r, url, method);
    case R_ALERTS:
        if (strcmp(url, "/v1/alerts")) break;
        return get ? serve_route_alerts(sv, &r->who, c, r)
                   : serve_error(c, r, 405, NULL, "use GET");
    case R_RULES:
        if (strcmp(url, "/v1/rules")) break;
        return get ? send_json(c, r, 200, risk_config_json(&sv->cfg))
                   : serve_error(c, r, 405, NULL, "use GET");
    }
    return serve_error(c, r, 404, NULL, "no such endpoint (see docs/openapi.yaml)");
}

enum MHD_Result serve_send_json(struct MHD_Connection *c, void *r, unsigned status, json_t *doc)
{
    return send_json(c, r, status, doc);
}

json_t *serve_body_json(struct MHD_Connection *c, void *r, enum MHD_Result *ret)
{
    return body_json(c, r, ret);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    server *sv = cls;
    req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->t0 = util_now();
        r->route = route_of(url);
        *con_cls = r;
        if (r->route != R_HEALTH && !key_ok(sv, c))
            return serve_error(c, r, 401, NULL, "missing or invalid API key (X-API-Key)");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > sv->o.max_body)
            return serve_error(c, r, 413, "body", "request body over %zu bytes", sv->o.max_body);
        return MHD_YES;
    }
    if (r->status) return MHD_YES; /* answered already: drain */
    if (*upload_size) {
        if (r->body.len + *upload_size > sv->o.max_body)
            r->too_big = 1;
        else if (util_buf_append(&r->body, upload_data, *upload_size))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return serve_error(c, r, 413, "body", "request body over %zu bytes", sv->o.max_body);
    if (strlen(url) > 2048) return serve_error(c, r, 414, NULL, "URL too long");
    return dispatch(sv, c, r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    server *sv = cls;
    req *r = *con_cls;
    if (!r) return;
    atomic_fetch_add(&sv->requests, 1);
    atomic_fetch_add(&sv->by_route[r->route], 1);
    if (r->status >= 100 && r->status < 600)
        atomic_fetch_add(&sv->by_status[r->status / 100 - 1], 1);
    atomic_fetch_add(&sv->lat[lat_bucket((util_now() - r->t0) * 1e6)], 1);
    util_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- start and stop ---- */

static int load_keys(server *sv, util_err *err)
{
    FILE *f = fopen(sv->o.api_keys_file, "r");
    if (!f) return util_errf(err, UTIL_EINVAL, "%s: %s", sv->o.api_keys_file, strerror(errno));
    char line[512];
    int rc = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (!n || line[0] == '#') continue;
        if (n < 16 || strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_.~+/=") != n) {
            rc = util_errf(err, UTIL_EINVAL,
                           "%s:%d: an API key is 16 or more printable characters without "
                           "spaces",
                           sv->o.api_keys_file, lineno);
            break;
        }
        char **nk = realloc(sv->keys, (sv->n_keys + 1) * sizeof *nk);
        if (!nk || !(nk[sv->n_keys] = strdup(line))) {
            if (nk) sv->keys = nk;
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        sv->keys = nk;
        sv->n_keys++;
    }
    fclose(f);
    if (!rc && !sv->n_keys)
        rc = util_errf(err, UTIL_EINVAL, "%s: no API keys", sv->o.api_keys_file);
    return rc;
}

static int open_listener(const char *listen_spec, int *fd_out, unsigned *port_out, util_err *err)
{
    char host[256];
    const char *colon = strrchr(listen_spec, ':');
    if (!colon || (size_t)(colon - listen_spec) >= sizeof host)
        return util_errf(err, UTIL_EINVAL, "--listen '%s': expected HOST:PORT", listen_spec);
    memcpy(host, listen_spec, (size_t)(colon - listen_spec));
    host[colon - listen_spec] = 0;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port > 65535)
        return util_errf(err, UTIL_EINVAL, "--listen '%s': bad port", listen_spec);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return util_errf(err, UTIL_EINVAL, "--listen '%s': expected an IPv4 address", listen_spec);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) return util_errf(err, UTIL_EIO, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return util_errf(err, UTIL_EIO, "cannot listen on %s: %s", listen_spec, strerror(e));
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *fd_out = fd;
    *port_out = ntohs(sa.sin_port);
    return 0;
}

int serve_run(const serve_opts *o, util_err *err)
{
    server *sv = calloc(1, sizeof *sv);
    if (!sv) return util_errf(err, UTIL_ENOMEM, "out of memory");
    sv->o = *o;
    sv->started = util_now();
    pthread_mutex_init(&sv->lock, NULL);
    risk_config_default(&sv->cfg);
    int rc = 0, fd = -1;
    struct MHD_Daemon *d = NULL;
    if (!o->db) {
        rc = util_errf(err, UTIL_EINVAL, "--db is required");
        goto done;
    }
    if (!o->api_keys_file && !o->insecure_no_auth) {
        rc = util_errf(err, UTIL_EINVAL,
                       "--api-keys FILE is required (or --insecure-no-auth for loopback tests)");
        goto done;
    }
    if (o->api_keys_file && (rc = load_keys(sv, err))) goto done;
    if (o->rules_file && (rc = risk_config_load(&sv->cfg, o->rules_file, err))) goto done;
    if ((rc = snap_open(sv, &sv->cur, err))) goto done;
    if ((rc = serve_watch_init(sv, err))) goto done;
    unsigned port = 0;
    if ((rc = open_listener(o->listen, &fd, &port, err))) goto done;
    unsigned threads = o->threads ? o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request,
                         sv, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                         MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, sv, MHD_OPTION_END);
    if (!d) {
        rc = util_errf(err, UTIL_EIO, "cannot start the HTTP server on %s", o->listen);
        goto done;
    }
    fd = -1; /* the daemon owns it now */
    fprintf(stderr, "cointrail: serving %s on %s (port %u) with %u threads\n", o->db, o->listen,
            port, threads);
    if (o->port_file) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%u\n", port);
        util_err perr = {0};
        if (util_replace_file(o->port_file, buf, (size_t)n, &perr))
            fprintf(stderr, "cointrail: %s\n", perr.msg);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec ts = {o->poll_ms / 1000, (long)(o->poll_ms % 1000) * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) break;
        if (refresh(sv)) serve_watch_advance(sv);
        serve_watch_deliver(sv);
    }
    fprintf(stderr, "cointrail: stopping\n");
done:
    if (d) MHD_stop_daemon(d);
    if (fd >= 0) close(fd);
    serve_watch_free(sv);
    serve_snap_put(sv->cur);
    for (size_t i = 0; i < sv->n_keys; i++)
        free(sv->keys[i]);
    free(sv->keys);
    pthread_mutex_destroy(&sv->lock);
    free(sv);
    return rc;
}
