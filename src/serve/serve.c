/* serve: HTTP front end, snapshots and metrics (see serve.h). Watchlists and alerts are in
 * serve_watch.c. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../crypto/crypto.h"
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
    o->request_deadline_s = 10;
    o->max_connections = 4096;
    o->per_ip_connections = 64;
    o->max_answer = (size_t)8 << 20;
    o->max_seeds = 10000;
    o->cache_slots = 16384;
}

/* One connection being tracked for its request deadline. */
typedef struct conn_slot {
    struct conn_slot *prev, *next;
    struct MHD_Connection *c;
    double deadline; /* util_now() by which the request must have arrived; 0: none (answering) */
    double since;    /* when the wait for that request began */
    int nul_in_url;  /* a %00 was decoded in the path or a query argument */
} conn_slot;

/* One accepted key: the SHA-256 of the key and who it stands for. */
typedef struct serve_key {
    uint8_t digest[32];
    serve_caller who;
} serve_key;

/* What serve.c keeps beside the server: keys, the audit log, connections, work limits. */
struct serve_front {
    serve_key *keys;
    size_t n_keys;
    int audit_fd;              /* DIR/audit.jsonl, append-only; -1 if not open */
    atomic_int audit_dirty;    /* lines written since the last fdatasync */
    pthread_mutex_t conn_lock; /* guards conns and every slot's deadline; the CLOSED
                                  notification takes it too, so a reaped fd is still open */
    conn_slot *conns;
    unsigned n_conns;
    atomic_uint expensive; /* screenings and traces computing now */
    unsigned max_expensive;
    atomic_uint_fast64_t reaped, busy, too_large, audit_failures;
};

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
    free(sn->cluster_error);
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
            /* An interrupted `cluster` (its journal left behind) or a damaged clustering: serve
             * the blocks and labels without it rather than freezing on the previous state, and
             * say so (health: degraded). The next commit of `cluster` changes cluster.state,
             * which opens a new snapshot. Entities are unknown meanwhile. */
            sn->clusters = NULL;
            if (!(sn->cluster_error = strdup(cerr.msg)))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            else
                fprintf(stderr, "cointrail: serving without the clustering: %s\n", cerr.msg);
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
    server *sv;
    double t0;
    util_buf body;
    int too_big, route, status;
    int expensive; /* holds one of the front's expensive slots */
    char method[16];
    char path[260];  /* for the audit log: at most 256 bytes, control and non-ASCII as '?' */
    char client[48]; /* the client's IP address */
} req;

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

/* "ok", "none" (never clustered), "recovered" (the last committed clustering, read past the
 * journal of an interrupted `cluster` run that the next `cluster` or `import` undoes on disk) or
 * "unavailable" (the clustering cannot be read: served without entities). */
static const char *clustering_state(const snap *sn)
{
    if (sn->cluster_error) return "unavailable";
    if (!sn->clusters) return "none";
    return cluster_map_recovered(sn->clusters) ? "recovered" : "ok";
}

static enum MHD_Result route_health(server *sv, struct MHD_Connection *c, req *r)
{
    snap *sn = serve_snap_get(sv);
    const store_totals *t = store_get_totals(sn->s);
    char tip[65] = "";
    if (t->blocks) util_hash_hex(tip, store_block_hash(sn->s, t->blocks - 1));
    pthread_mutex_lock(&sv->lock);
    int refresh_failing = sv->refresh_error[0] != 0;
    pthread_mutex_unlock(&sv->lock);
    /* Unauthenticated: short states only. The messages (which name store paths) are in the log
     * and in the authenticated /v1/metrics. */
    const char *clustering = clustering_state(sn);
    json_t *d = json_pack(
        "{s:s, s:s, s:o, s:s, s:I, s:b, s:s, s:I, s:s}", "status",
        refresh_failing || (strcmp(clustering, "ok") && strcmp(clustering, "none")) ? "degraded"
                                                                                    : "ok",
        "api", "v1", "height", t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null(),
        "tip", tip, "txs", (json_int_t)t->txs, "clustered", sn->clusters != NULL, "clustering",
        clustering, "labels", (json_int_t)labels_db_count(sn->labels), "refresh",
        refresh_failing ? "failing" : "ok");
    serve_snap_put(sn);
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
    json_object_set_new(store, "clustering", json_string(clustering_state(sn)));
    if (sn->cluster_error)
        json_object_set_new(store, "clustering_error", json_string(sn->cluster_error));
    serve_snap_put(sn);
    pthread_mutex_lock(&sv->lock);
    json_object_set_new(store, "snapshots_opened", json_integer((json_int_t)sv->refreshes + 1));
    if (sv->refresh_error[0])
        json_object_set_new(store, "refresh_error", json_string(sv->refresh_error));
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
    struct serve_front *f = sv->front;
    json_object_set_new(
        d, "limits",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "expensive_running",
                  (json_int_t)atomic_load(&f->expensive), "expensive_max",
                  (json_int_t)f->max_expensive, "refused_busy", (json_int_t)atomic_load(&f->busy),
                  "refused_answer_too_large", (json_int_t)atomic_load(&f->too_large),
                  "connections_cut_at_deadline", (json_int_t)atomic_load(&f->reaped),
                  "audit_write_failures", (json_int_t)atomic_load(&f->audit_failures)));
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

/* The service's cost limit on a trace's hops, applied after taint's parser (which takes the
 * CLI's 1..TAINT_MAX_HOPS): a request's work grows with its hops (docs/tracing.md). */
#define SERVE_TRACE_MAX_HOPS 100

static enum MHD_Result route_trace(server *sv, struct MHD_Connection *c, req *r)
{
    enum MHD_Result ret;
    json_t *doc = body_json(c, r, &ret);
    if (!doc) return ret;
    trace_opts o;
    trace_default_opts(&o);
    o.max_outputs = sv->cfg.max_outputs * 10;
    o.hops = 10;
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
        /* a cost limit of the service, past the parser's: a trace's work grows with its hops */
        if (!prc && !strcmp(key, "hops") && o.hops > SERVE_TRACE_MAX_HOPS) {
            char what[80];
            snprintf(what, sizeof what, "a whole number 1..%d on this service (its cost limit)",
                     SERVE_TRACE_MAX_HOPS);
            prc = taint_opt_fail(&perr, TAINT_FRONT_API, key, what, &tv);
        }
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
    if (!rc && !(rc = trace_compute(sn->s, sn->labels, sn->clusters, &seeds, &o, &res, &err))) {
        rc = trace_result_json(&res, &out, &err); /* before the snapshot goes: res points into it */
        trace_result_free(&res);
    }
    serve_snap_put(sn);
    trace_seeds_free(&seeds);
    json_decref(doc);
    if (rc) return send_util_err(c, r, &err, "from");
    return send_json(c, r, 200, out);
}

/* ---- dispatch ---- */

/* Who presents the request's key (X-API-Key, or Authorization with the Bearer scheme in any
 * case): 1 with *who filled, 0 if there is no key or no key matches. The presented key is
 * hashed and its digest compared with every stored digest in constant time (CRYPTO_memcmp, no
 * early exit), so neither the time nor the key file reveals a key. */
static int key_lookup(server *sv, struct MHD_Connection *c, serve_caller *who)
{
    memset(who, 0, sizeof *who);
    if (sv->o.insecure_no_auth) { /* one anonymous owner (""); acting for others needs a key */
        who->scopes = SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN | SERVE_SCOPE_WATCH;
        return 1;
    }
    const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!k && a && !strncasecmp(a, "Bearer ", 7)) k = a + 7;
    if (!k) return 0;
    uint8_t d[32];
    crypto_sha256(k, strlen(k), d);
    const struct serve_front *f = sv->front;
    size_t hit = f->n_keys;
    for (size_t i = 0; i < f->n_keys; i++)
        if (!CRYPTO_memcmp(d, f->keys[i].digest, 32)) hit = i;
    if (hit == f->n_keys) return 0;
    *who = f->keys[hit].who;
    return 1;
}

/* The scope a route needs (0: none). */
static unsigned scope_of(int route)
{
    switch (route) {
    case R_METRICS:
    case R_ADDRESS:
    case R_TX:
    case R_ENTITY:
    case R_LABELS:
    case R_RULES:
        return SERVE_SCOPE_READ;
    case R_SCREEN_ADDRESS:
    case R_SCREEN_TX:
    case R_SCREEN_BATCH:
    case R_TRACE:
        return SERVE_SCOPE_SCREEN;
    case R_WATCHLISTS:
    case R_ALERTS:
        return SERVE_SCOPE_WATCH;
    default:
        return 0;
    }
}

static const char *scope_name(unsigned scope)
{
    return scope == SERVE_SCOPE_READ     ? "read"
           : scope == SERVE_SCOPE_SCREEN ? "screen"
           : scope == SERVE_SCOPE_WATCH  ? "watch"
                                         : "admin";
}

/* HTTP framing the service refuses although libmicrohttpd lets it through: Content-Length
 * twice, or Content-Length with Transfer-Encoding (proxies in front may frame the body
 * differently), and a NUL inside a header name or value where the library reports the full
 * length (0.9.75 cuts a value at the NUL while parsing and reports the cut length, so there it
 * cannot be seen: KEY\0junk reads as KEY). */
struct header_scan {
    int nul, content_length, transfer_encoding;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct header_scan *h = cls;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) h->nul = 1;
    if (!strcasecmp(key, "Content-Length")) h->content_length++;
    if (!strcasecmp(key, "Transfer-Encoding")) h->transfer_encoding++;
    return MHD_YES;
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

/* Take one of the slots for expensive work; 0 if they are all taken (a 503 is queued). */
static int expensive_enter(server *sv, struct MHD_Connection *c, req *r, enum MHD_Result *ret)
{
    struct serve_front *f = sv->front;
    if (atomic_fetch_add(&f->expensive, 1) >= f->max_expensive) {
        atomic_fetch_sub(&f->expensive, 1);
        atomic_fetch_add(&f->busy, 1);
        *ret = serve_error(c, r, 503, NULL,
                           "busy: %u screenings or traces are being computed (the service's "
                           "limit, which keeps a thread for other requests): retry shortly",
                           f->max_expensive);
        return 0;
    }
    r->expensive = 1;
    return 1;
}

static void expensive_leave(server *sv, req *r)
{
    if (r->expensive) atomic_fetch_sub(&sv->front->expensive, 1);
    r->expensive = 0;
}

static enum MHD_Result dispatch_route(server *sv, struct MHD_Connection *c, req *r, const char *url,
                                      const char *method);

static enum MHD_Result dispatch(server *sv, struct MHD_Connection *c, req *r, const char *url,
                                const char *method)
{
    int costly = r->route == R_SCREEN_ADDRESS || r->route == R_SCREEN_TX ||
                 r->route == R_SCREEN_BATCH || r->route == R_TRACE;
    enum MHD_Result ret;
    if (costly && !expensive_enter(sv, c, r, &ret)) return ret;
    ret = dispatch_route(sv, c, r, url, method);
    expensive_leave(sv, r);
    return ret;
}

static enum MHD_Result dispatch_route(server *sv, struct MHD_Connection *c, req *r, const char *url,
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

/* ---- connections: the request deadline ---- */

static conn_slot *slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Set (or with 0 lift) the time by which the connection's next request must have arrived. */
static void slot_deadline(server *sv, struct MHD_Connection *c, double deadline)
{
    conn_slot *sl = slot_of(c);
    if (!sl) return;
    pthread_mutex_lock(&sv->front->conn_lock);
    sl->deadline = deadline;
    sl->since = util_now();
    pthread_mutex_unlock(&sv->front->conn_lock);
}

/* libmicrohttpd notifies CLOSED before it closes the socket (MHD_cleanup_connections), and we
 * unlink the slot under conn_lock: the reaper, which holds conn_lock while it shuts a socket
 * down, therefore never touches a closed (or reused) descriptor. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    server *sv = cls;
    struct serve_front *f = sv->front;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_slot *sl = calloc(1, sizeof *sl);
        *socket_context = sl;
        if (!sl) return; /* untracked: the idle timeout still applies */
        sl->c = c;
        sl->since = util_now();
        sl->deadline = sl->since + sv->o.request_deadline_s;
        pthread_mutex_lock(&f->conn_lock);
        f->n_conns++;
        sl->next = f->conns;
        if (f->conns) f->conns->prev = sl;
        f->conns = sl;
        pthread_mutex_unlock(&f->conn_lock);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_slot *sl = *socket_context;
        if (!sl) return;
        pthread_mutex_lock(&f->conn_lock);
        f->n_conns--;
        if (sl->prev)
            sl->prev->next = sl->next;
        else
            f->conns = sl->next;
        if (sl->next) sl->next->prev = sl->prev;
        pthread_mutex_unlock(&f->conn_lock);
        free(sl);
        *socket_context = NULL;
    }
}

/* Cut every connection whose request has not fully arrived by its deadline. shutdown() wakes
 * its worker, which sees the end of the stream and closes it the usual way. Under pressure
 * (over three quarters of the connection limit taken) the deadline shrinks to 0.5 s: a request
 * from a working client arrives in milliseconds, and slots held by dripping clients are given
 * back before they run out. */
static void reap_overdue(server *sv)
{
    struct serve_front *f = sv->front;
    double now = util_now();
    pthread_mutex_lock(&f->conn_lock);
    int pressed = f->n_conns > sv->o.max_connections / 4 * 3;
    for (conn_slot *sl = f->conns; sl; sl = sl->next) {
        if (!sl->deadline || (now < sl->deadline && !(pressed && now - sl->since > 0.5))) continue;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(sl->c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && ci->connect_fd >= 0) shutdown(ci->connect_fd, SHUT_RDWR);
        sl->deadline = 0;
        atomic_fetch_add(&f->reaped, 1);
    }
    pthread_mutex_unlock(&f->conn_lock);
}

/* The URL and query arguments are decoded here: a %00 would cut them short where they are read
 * as C strings, so it is noted and the request refused. */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    size_t n = MHD_http_unescape(s);
    if (strlen(s) != n) {
        conn_slot *sl = slot_of(c);
        if (sl) sl->nul_in_url = 1;
    }
    return n;
}

/* ---- the audit log ---- */

/* Append one line for a state-changing call or a refusal: one write() of the whole line, so
 * lines from concurrent requests never interleave; serve_run's loop fdatasyncs the file at most
 * one poll interval later. Keys never appear, only their id. */
static void audit(server *sv, const req *r)
{
    struct serve_front *f = sv->front;
    if (f->audit_fd < 0) return;
    char when[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* util_now is monotonic: not a date */
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03ldZ", now.tv_nsec / 1000000);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "time", when, "key_id",
                          r->who.key_id, "owner", r->who.owner, "method", r->method, "path",
                          r->path, "status", r->status, "client", r->client);
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(d);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL;
    if (!line) {
        free(text);
        atomic_fetch_add(&f->audit_failures, 1);
        return;
    }
    line[n] = '\n';
    if (write(f->audit_fd, line, n + 1) != (ssize_t)(n + 1))
        atomic_fetch_add(&f->audit_failures, 1);
    else
        atomic_store(&f->audit_dirty, 1);
    free(line);
}

static void copy_printable(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || (unsigned char)src[i] >= 0x7f ? '?' : src[i];
    dst[i] = 0;
}

/* ---- requests ---- */

/* The first call for a request (its headers are in): framing checks, key, scope. A status
 * queued here answers the request before any body is read. */
static enum MHD_Result request_start(server *sv, struct MHD_Connection *c, req *r, const char *url,
                                     const char *method)
{
    copy_printable(r->method, sizeof r->method, method);
    copy_printable(r->path, 257, url);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, r->client,
                  sizeof r->client);
    struct header_scan h = {0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &h);
    conn_slot *sl = slot_of(c);
    if (h.nul) return serve_error(c, r, 400, NULL, "a header contains a NUL byte");
    if (sl && sl->nul_in_url)
        return serve_error(c, r, 400, NULL, "the URL contains an encoded NUL (%%00)");
    if (h.content_length > 1 || (h.content_length && h.transfer_encoding))
        return serve_error(c, r, 400, NULL,
                           "ambiguous body length: Content-Length given twice or with "
                           "Transfer-Encoding");
    if (r->route != R_HEALTH && !key_lookup(sv, c, &r->who))
        return serve_error(c, r, 401, NULL, "missing or invalid API key (X-API-Key)");
    unsigned need = scope_of(r->route);
    if (need && !(r->who.scopes & (need | SERVE_SCOPE_ADMIN)))
        return serve_error(c, r, 403, NULL,
                           "this key (id %s, owner '%s') lacks the '%s' scope that %s needs",
                           r->who.key_id, r->who.owner, scope_name(need), r->path);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > sv->o.max_body)
        return serve_error(c, r, 413, "body", "request body over %zu bytes", sv->o.max_body);
    return MHD_YES;
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
        r->sv = sv;
        r->t0 = util_now();
        r->route = route_of(url);
        *con_cls = r;
        return request_start(sv, c, r, url, method);
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
    /* The whole request is in: the deadline covers receiving it, not computing the answer. */
    slot_deadline(sv, c, 0);
    if (r->too_big)
        return serve_error(c, r, 413, "body", "request body over %zu bytes", sv->o.max_body);
    if (strlen(url) > 2048) return serve_error(c, r, 414, NULL, "URL too long");
    return dispatch(sv, c, r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *sv = cls;
    req *r = *con_cls;
    if (!r) return;
    /* the next request on a kept-alive connection gets a deadline of its own */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        slot_deadline(sv, c, util_now() + sv->o.request_deadline_s);
    if (r->status &&
        ((strcmp(r->method, "GET") && r->route != R_OTHER) || r->status == 401 || r->status == 403))
        audit(sv, r);
    expensive_leave(sv, r);
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

#define KEY_LINE_MAX 1024

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || !s[i]) return 0;
    return 1;
}

/* Parse "read,screen,watch,admin" into SERVE_SCOPE_* bits; 0 if a name is unknown or empty. */
static unsigned parse_scopes(const char *v)
{
    unsigned bits = 0;
    while (*v) {
        size_t n = strcspn(v, ",");
        unsigned b = n == 4 && !strncmp(v, "read", 4)     ? SERVE_SCOPE_READ
                     : n == 6 && !strncmp(v, "screen", 6) ? SERVE_SCOPE_SCREEN
                     : n == 5 && !strncmp(v, "watch", 5)  ? SERVE_SCOPE_WATCH
                     : n == 5 && !strncmp(v, "admin", 5)  ? SERVE_SCOPE_ADMIN
                                                          : 0;
        if (!b) return 0;
        bits |= b;
        v += n;
        if (*v == ',' && !*++v) return 0;
    }
    return bits;
}

/* One line of the key file into k. The format: "sha256:<64 hex> owner=NAME scopes=LIST";
 * a legacy plaintext key (one word, 16+ characters) is accepted with a warning, as owner
 * "default" with the scopes read, screen and watch. */
static int parse_key_line(const char *file, int lineno, char *line, serve_key *k, util_err *err)
{
    static const char keychars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_.~+/=";
    memset(k, 0, sizeof *k);
    if (strncmp(line, "sha256:", 7)) {
        size_t n = strlen(line);
        if (n < 16 || strspn(line, keychars) != n) {
            if (strchr(line, ' ') || strchr(line, '\t'))
                return util_errf(err, UTIL_EINVAL,
                                 "%s:%d: expected sha256:<64 hex digits> owner=NAME "
                                 "scopes=LIST (keys are stored as hashes: make a line with "
                                 "`cointrail serve-key`, or hash an existing key with "
                                 "`cointrail serve-key --hash`)",
                                 file, lineno);
            return util_errf(err, UTIL_EINVAL,
                             "%s:%d: an API key is 16 or more printable characters without "
                             "spaces (better: a sha256: line made by `cointrail serve-key`)",
                             file, lineno);
        }
        crypto_sha256(line, n, k->digest);
        snprintf(k->who.owner, sizeof k->who.owner, "default");
        k->who.scopes = SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN | SERVE_SCOPE_WATCH;
        fprintf(stderr,
                "cointrail: warning: %s:%d: a plaintext key (owner \"default\", scopes "
                "read,screen,watch); store its hash instead: `cointrail serve-key --hash`\n",
                file, lineno);
    } else {
        char *save = NULL, *tok = strtok_r(line, " \t", &save);
        int have_owner = 0;
        if (strlen(tok) != 7 + 64 || !is_hex(tok + 7, 64))
            return util_errf(err, UTIL_EINVAL,
                             "%s:%d: expected sha256: and 64 lowercase hex digits", file, lineno);
        for (int i = 0; i < 32; i++) {
            unsigned x;
            sscanf(tok + 7 + 2 * i, "%2x", &x);
            k->digest[i] = (uint8_t)x;
        }
        while ((tok = strtok_r(NULL, " \t", &save))) {
            if (!strncmp(tok, "owner=", 6)) {
                const char *o = tok + 6;
                size_t n = strlen(o);
                if (!n || n >= sizeof k->who.owner ||
                    strspn(o,
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                        n)
                    return util_errf(err, UTIL_EINVAL,
                                     "%s:%d: owner: 1..63 letters, digits, '.', '_' or '-'", file,
                                     lineno);
                memcpy(k->who.owner, o, n + 1);
                have_owner = 1;
            } else if (!strncmp(tok, "scopes=", 7)) {
                if (!(k->who.scopes = parse_scopes(tok + 7)))
                    return util_errf(err, UTIL_EINVAL,
                                     "%s:%d: scopes: a comma-separated list of read, screen, "
                                     "watch, admin",
                                     file, lineno);
            } else {
                return util_errf(err, UTIL_EINVAL,
                                 "%s:%d: unknown field '%.40s' (expected owner= and scopes=)", file,
                                 lineno, tok);
            }
        }
        if (!have_owner || !k->who.scopes)
            return util_errf(err, UTIL_EINVAL, "%s:%d: owner= and scopes= are required", file,
                             lineno);
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        k->who.key_id[2 * i] = hex[k->digest[i] >> 4];
        k->who.key_id[2 * i + 1] = hex[k->digest[i] & 15];
    }
    return 0;
}

int serve_key_make(const char *key, const char *owner, const char *scopes, char *key_out,
                   char *line, util_err *err)
{
    if (!key) {
        static const char b64url[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t raw[33] = {0};
        if (RAND_bytes(raw, 32) != 1)
            return util_errf(err, UTIL_EIO, "OpenSSL RAND_bytes failed: no key made");
        size_t n = 0;
        for (size_t i = 0; i < 33; i += 3) { /* 256 bits: 43 digits of 6 bits */
            uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
            for (int j = 0; j < 4 && n < 43; j++)
                key_out[n++] = b64url[(v >> (18 - 6 * j)) & 63];
        }
        key_out[n] = 0;
        OPENSSL_cleanse(raw, sizeof raw);
        key = key_out;
    }
    size_t kn = strlen(key);
    if (kn < 16 || kn > KEY_LINE_MAX ||
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                    "vwxyz0123456789-_.~+/=") != kn)
        return util_errf(err, UTIL_EINVAL,
                         "an API key is 16 to %d printable characters without spaces",
                         KEY_LINE_MAX);
    uint8_t d[32];
    crypto_sha256(key, kn, d);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    int n = snprintf(line, SERVE_KEY_LINE_MAX, "sha256:%s owner=%s scopes=%s", hex, owner, scopes);
    if (n < 0 || n > KEY_LINE_MAX) return util_errf(err, UTIL_EINVAL, "owner or scopes too long");
    /* check it the way the service will read it */
    char copy[SERVE_KEY_LINE_MAX];
    memcpy(copy, line, (size_t)n + 1);
    serve_key k;
    int rc = parse_key_line("", 0, copy, &k, err);
    if (rc && !strncmp(err->msg, ":0: ", 4))
        memmove(err->msg, err->msg + 4, strlen(err->msg + 4) + 1);
    return rc;
}

static int load_keys(server *sv, util_err *err)
{
    const char *file = sv->o.api_keys_file;
    struct serve_front *f = sv->front;
    FILE *in = fopen(file, "r");
    if (!in) return util_errf(err, UTIL_EINVAL, "%s: %s", file, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(in), &st) < 0)
        rc = util_errf(err, UTIL_EIO, "%s: %s", file, strerror(errno));
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        rc = util_errf(err, UTIL_EINVAL,
                       "%s: mode %04o lets other users change the keys: chmod go-w %s", file,
                       (unsigned)(st.st_mode & 07777), file);
    else if (st.st_uid != geteuid() && st.st_uid != 0)
        rc = util_errf(err, UTIL_EINVAL,
                       "%s: owned by uid %u, neither this user (%u) nor root: another user "
                       "could change the keys",
                       file, (unsigned)st.st_uid, (unsigned)geteuid());
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = util_errf(err, UTIL_EINVAL, "%s:%d: a NUL byte in the line", file, lineno);
            break;
        }
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (n > KEY_LINE_MAX) {
            rc = util_errf(err, UTIL_EINVAL, "%s:%d: line of %zu characters, over %d", file, lineno,
                           n, KEY_LINE_MAX);
            break;
        }
        if (!n || line[0] == '#') continue;
        serve_key k;
        if ((rc = parse_key_line(file, lineno, line, &k, err))) break;
        for (size_t i = 0; i < f->n_keys && !rc; i++)
            if (!memcmp(f->keys[i].digest, k.digest, 32))
                rc = util_errf(err, UTIL_EINVAL, "%s:%d: the same key as an earlier line", file,
                               lineno);
        if (rc) break;
        serve_key *nk = realloc(f->keys, (f->n_keys + 1) * sizeof *nk);
        if (!nk) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        f->keys = nk;
        f->keys[f->n_keys++] = k;
    }
    free(line);
    fclose(in);
    if (!rc && !f->n_keys) rc = util_errf(err, UTIL_EINVAL, "%s: no API keys", file);
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

/* DIR/audit.jsonl, opened for appending (0600: it names owners and clients). */
static int open_audit(server *sv, util_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.jsonl", sv->o.db);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    sv->front->audit_fd = fd;
    return 0;
}

int serve_run(const serve_opts *o, util_err *err)
{
    server *sv = calloc(1, sizeof *sv);
    struct serve_front *front = calloc(1, sizeof *front);
    if (!sv || !front) {
        free(sv);
        free(front);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    sv->o = *o;
    sv->front = front;
    front->audit_fd = -1;
    sv->started = util_now();
    pthread_mutex_init(&sv->lock, NULL);
    pthread_mutex_init(&front->conn_lock, NULL);
    risk_config_default(&sv->cfg);
    int rc = 0, fd = -1;
    struct MHD_Daemon *d = NULL;
    unsigned threads = o->threads ? o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > SERVE_MAX_THREADS) threads = o->threads ? threads : SERVE_MAX_THREADS;
    if (!o->db) {
        rc = util_errf(err, UTIL_EINVAL, "--db is required");
        goto done;
    }
    if (threads > SERVE_MAX_THREADS || !o->request_deadline_s || !o->max_connections ||
        !o->per_ip_connections || !o->max_answer || !o->max_seeds) {
        rc = util_errf(err, UTIL_EINVAL,
                       "threads 1..%d; request deadline, connection limits, answer size and "
                       "seeds above 0",
                       SERVE_MAX_THREADS);
        goto done;
    }
    front->max_expensive = o->max_expensive ? o->max_expensive : threads > 1 ? threads - 1 : 1;
    if (!o->api_keys_file && !o->insecure_no_auth) {
        rc = util_errf(err, UTIL_EINVAL,
                       "--api-keys FILE is required (or --insecure-no-auth for loopback tests)");
        goto done;
    }
    if (o->api_keys_file && (rc = load_keys(sv, err))) goto done;
    if (o->rules_file && (rc = risk_config_load(&sv->cfg, o->rules_file, err))) goto done;
    if ((rc = snap_open(sv, &sv->cur, err))) goto done;
    if ((rc = serve_watch_init(sv, err))) goto done;
    if ((rc = open_audit(sv, err))) goto done;
    unsigned port = 0;
    if ((rc = open_listener(o->listen, &fd, &port, err))) goto done;
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, sv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_connections, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, sv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, sv,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, sv, MHD_OPTION_STRICT_FOR_CLIENT,
        1, /* e.g. HTTP/1.1 without Host: 400 */
        MHD_OPTION_END);
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
    /* The loop wakes at least every 200 ms to cut overdue connections and sync the audit log,
     * and looks at the store every poll_ms. */
    unsigned tick_ms = o->poll_ms < 200 ? o->poll_ms : 200;
    struct timespec ts = {tick_ms / 1000, (long)(tick_ms % 1000) * 1000000L};
    double next_poll = 0;
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) break;
        reap_overdue(sv);
        if (atomic_exchange(&front->audit_dirty, 0)) fdatasync(front->audit_fd);
        if (util_now() < next_poll) continue;
        next_poll = util_now() + o->poll_ms / 1000.0;
        if (refresh(sv)) serve_watch_advance(sv);
        serve_watch_deliver(sv);
    }
    fprintf(stderr, "cointrail: stopping\n");
done:
    if (d) MHD_stop_daemon(d);
    if (fd >= 0) close(fd);
    serve_watch_free(sv);
    serve_snap_put(sv->cur);
    if (front->audit_fd >= 0) {
        fdatasync(front->audit_fd);
        close(front->audit_fd);
    }
    free(front->keys);
    pthread_mutex_destroy(&front->conn_lock);
    free(front);
    pthread_mutex_destroy(&sv->lock);
    free(sv);
    return rc;
}
