/* serve: the snapshots a request reads the store through, swapped when the store changes, and
 * the numbers the service reports about itself (/v1/health, /v1/metrics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../trace/trace.h"
#include "serve_int.h"

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

static void snap_sig(const char *dir, struct file_sig sig[4])
{
    file_sig(dir, "MANIFEST", &sig[0]);
    file_sig(dir, LABELS_FILE, &sig[1]);
    file_sig(dir, "cluster.state", &sig[2]);
    file_sig(dir, EXPOSURE_SUBDIR "/MANIFEST", &sig[3]); /* the exposure index's commits */
}

static void snap_free(snap *sn)
{
    if (!sn) return;
    serve_xscreen_close(sn);
    risk_ctx_free(sn->risk);
    serve_cache_free(sn->cache);
    serve_names_free(sn->names);
    trace_stops_free(sn->stops);
    trace_actor_index_free(sn->actors);
    xchain_links_free(&sn->links);
    for (size_t i = 0; i < sn->n_evment; i++)
        if (sn->evment[i].ok) evmclust_free(&sn->evment[i].set);
    pthread_mutex_destroy(&sn->aux_lock);
    if (sn->clusters) cluster_close(sn->clusters);
    if (sn->labels) labels_db_close(sn->labels);
    if (sn->s) store_close(sn->s);
    free(sn->cluster_error);
    free(sn);
}

/* Open the store's current state. The signature is taken first: if the files change while we
 * open, the next poll sees a difference and opens again. */
int serve_snap_open(server *sv, snap **out, util_err *err)
{
    snap *sn = calloc(1, sizeof *sn);
    if (!sn) return util_errf(err, UTIL_ENOMEM, "out of memory");
    atomic_init(&sn->refs, 1);
    pthread_mutex_init(&sn->aux_lock, NULL);
    snap_sig(sv->o.db, sn->sig);
    int rc = store_open(&sn->s, sv->o.db, 0, err);
    if (!rc) rc = labels_db_open(&sn->labels, sv->o.db, 0, err);
    if (!rc && sv->o.state_url) {
        /* the analyst labels of the shared state, as last loaded (serve_state.c) */
        pthread_mutex_lock(&sv->lock);
        sn->labels_gen = sv->st_labels_gen;
        rc = state_labels_apply(&sv->st_labels, sn->labels, err);
        pthread_mutex_unlock(&sv->lock);
        if (rc) util_err_prefix(err, "state labels");
    }
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
    if (!rc) rc = serve_xscreen_open(sn, sv->o.db, err);
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

/* Swap in a new snapshot if the store changed. Returns 1 if swapped. refresh_lock is held. */
int serve_snap_refresh_locked(server *sv)
{
    struct file_sig sig[4];
    snap_sig(sv->o.db, sig);
    pthread_mutex_lock(&sv->lock);
    int labels_same = sv->st_labels_gen == sv->cur->labels_gen;
    pthread_mutex_unlock(&sv->lock);
    if (labels_same && !memcmp(sig, sv->cur->sig, sizeof sig) &&
        serve_xscreen_sig(sv->o.db) == sv->cur->xsig)
        return 0;
    snap *sn;
    util_err err = {0};
    if (serve_snap_open(sv, &sn, &err)) {
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

int serve_snap_refresh(server *sv)
{
    pthread_mutex_lock(&sv->refresh_lock); /* the main loop and the state thread both refresh */
    int r = serve_snap_refresh_locked(sv);
    pthread_mutex_unlock(&sv->refresh_lock);
    return r;
}

int serve_snap_refresh_try(server *sv)
{
    /* Busy: the state thread is updating the store's labels and exposure index and refreshes
     * when it is done; what changed meanwhile is seen at the next poll. */
    if (pthread_mutex_trylock(&sv->refresh_lock)) return 0;
    int r = serve_snap_refresh_locked(sv);
    pthread_mutex_unlock(&sv->refresh_lock);
    return r;
}

/* ---- metrics ---- */

static const char *const route_names[] = {
    "health", "metrics", "screen_address", "screen_tx",  "screen_batch", "address", "tx",
    "entity", "labels",  "trace",          "watchlists", "alerts",       "rules",   "search",
    "graph",  "whoami",  "cases",          "ui",         "other"};

unsigned serve_lat_bucket(double us)
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

/* ---- health and metrics routes ---- */

/* "ok", "none" (never clustered), "recovered" (the last committed clustering, read past the
 * journal of an interrupted `cluster` run that the next `cluster` or `import` undoes on disk) or
 * "unavailable" (the clustering cannot be read: served without entities). */
static const char *clustering_state(const snap *sn)
{
    if (sn->cluster_error) return "unavailable";
    if (!sn->clusters) return "none";
    return cluster_map_recovered(sn->clusters) ? "recovered" : "ok";
}

enum MHD_Result serve_route_health(server *sv, struct MHD_Connection *c, req *r)
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
    const char *state = serve_state_health(sv);
    int state_down = !strcmp(state, "unreachable");
    json_t *d = json_pack(
        "{s:s, s:s, s:o, s:s, s:I, s:b, s:s, s:I, s:s, s:s}", "status",
        refresh_failing || state_down || (strcmp(clustering, "ok") && strcmp(clustering, "none"))
            ? "degraded"
            : "ok",
        "api", "v1", "height", t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null(),
        "tip", tip, "txs", (json_int_t)t->txs, "clustered", sn->clusters != NULL, "clustering",
        clustering, "labels", (json_int_t)labels_db_count(sn->labels), "refresh",
        refresh_failing ? "failing" : "ok", "exposure_index",
        risk_index_state_name(risk_ctx_index_state(sn->risk)));
    json_object_set_new(d, "state", json_string(state));
    serve_snap_put(sn);
    return serve_send_json(c, r, 200, d);
}

enum MHD_Result serve_route_metrics(server *sv, struct MHD_Connection *c, req *r)
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
    if (sv->o.state_url) {
        pthread_mutex_lock(&sv->lock);
        json_t *st = json_pack("{s:s, s:s, s:s, s:I}", "backend",
                               sv->st ? state_backend(sv->st) : "", "replica", sv->replica, "error",
                               sv->state_error, "labels_loaded", (json_int_t)sv->st_labels.n);
        json_object_set_new(st, "store_update",
                            json_pack("{s:I, s:f, s:I, s:I, s:s}", "updates",
                                      (json_int_t)sv->expo_updates, "last_seconds",
                                      sv->expo_last_seconds, "last_stops_changed",
                                      (json_int_t)sv->expo_last_stops, "last_txs_recomputed",
                                      (json_int_t)sv->expo_last_txs, "error", sv->expo_error));
        pthread_mutex_unlock(&sv->lock);
        json_object_set_new(d, "state", st);
    }
    struct serve_front *f = sv->front;
    json_object_set_new(
        d, "limits",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "expensive_running",
                  (json_int_t)atomic_load(&f->expensive), "expensive_max",
                  (json_int_t)f->max_expensive, "refused_busy", (json_int_t)atomic_load(&f->busy),
                  "refused_answer_too_large", (json_int_t)atomic_load(&f->too_large),
                  "connections_cut_at_deadline", (json_int_t)atomic_load(&f->reaped),
                  "audit_write_failures", (json_int_t)atomic_load(&f->audit_failures)));
    return serve_send_json(c, r, 200, d);
}
