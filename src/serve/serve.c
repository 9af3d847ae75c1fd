/* serve: the HTTP front end of the service (see serve.h): the request path from the first
 * header to the last statistic, the audit log, and start and stop. The parts it calls are split
 * by concern: snapshots and metrics (serve_snap.c), answers and routes (serve_routes.c), keys and
 * scopes (serve_keys.c), connection deadlines (serve_conn.c), watchlists and alerts
 * (serve_watch.c, serve_alerts.c, serve_delivery.c). */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* ---- dispatch ---- */

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
                 {"/v1/rules", R_RULES},
                 {"/v1/search", R_SEARCH},
                 {"/v1/graph/", R_GRAPH},
                 {"/v1/whoami", R_WHOAMI},
                 {"/v1/cases", R_CASES}};
    /* everything outside /v1 is the web UI's: its pages hold no data and need no key */
    if (strncmp(url, "/v1/", 4) && strcmp(url, "/v1")) return R_UI;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strncmp(url, table[i].prefix, strlen(table[i].prefix))) return table[i].route;
    return R_OTHER;
}

int serve_expensive_enter(server *sv, struct MHD_Connection *c, req *r, enum MHD_Result *ret)
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
    /* (a screening of one address or tx takes its slot itself, when it traces: from the
     * exposure index alone it costs about what a look-up does) */
    int costly = r->route == R_SCREEN_BATCH || r->route == R_TRACE ||
                 (r->route == R_CASES && !strcmp(method, "POST") && strlen(url) > 7 &&
                  !strcmp(url + strlen(url) - 7, "/traces"));
    enum MHD_Result ret;
    if (costly && !serve_expensive_enter(sv, c, r, &ret)) return ret;
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
        return get ? serve_route_health(sv, c, r) : serve_error(c, r, 405, NULL, "use GET");
    case R_METRICS:
        if (strcmp(url, "/v1/metrics")) break;
        return get ? serve_route_metrics(sv, c, r) : serve_error(c, r, 405, NULL, "use GET");
    case R_SCREEN_ADDRESS:
    case R_SCREEN_TX:
        rest = url + strlen(r->route == R_SCREEN_TX ? "/v1/screen/tx/" : "/v1/screen/address/");
        if (!*rest || strchr(rest, '/')) break;
        if (!get) return serve_error(c, r, 405, NULL, "use GET");
        return serve_route_screen(sv, c, r, r->route == R_SCREEN_TX, rest);
    case R_SCREEN_BATCH:
        if (strcmp(url, "/v1/screen/batch")) break;
        return post ? serve_route_batch(sv, c, r) : serve_error(c, r, 405, NULL, "use POST");
    case R_ADDRESS:
    case R_TX:
    case R_ENTITY:
        rest = strchr(url + 4, '/') + 1;
        if (!*rest || strchr(rest, '/')) break;
        if (!get) return serve_error(c, r, 405, NULL, "use GET");
        return serve_route_query(sv, c, r, r->route, rest);
    case R_LABELS:
        if (!get) return serve_error(c, r, 405, NULL, "use GET");
        if (!strcmp(url, "/v1/labels")) return serve_route_labels(sv, c, r, NULL);
        if (!strncmp(url, "/v1/labels/", 11) && url[11] && !strchr(url + 11, '/'))
            return serve_route_labels(sv, c, r, url + 11);
        break;
    case R_TRACE:
        if (strcmp(url, "/v1/trace")) break;
        return post ? serve_route_trace(sv, c, r) : serve_error(c, r, 405, NULL, "use POST");
    case R_WATCHLISTS:
        return serve_route_watchlists(sv, &r->who, c, r, url, method);
    case R_ALERTS:
        if (strcmp(url, "/v1/alerts")) break;
        return get ? serve_route_alerts(sv, &r->who, c, r)
                   : serve_error(c, r, 405, NULL, "use GET");
    case R_RULES:
        if (strcmp(url, "/v1/rules")) break;
        return get ? serve_send_json(c, r, 200, risk_config_json(&sv->cfg))
                   : serve_error(c, r, 405, NULL, "use GET");
    case R_SEARCH:
        if (strcmp(url, "/v1/search")) break;
        return get ? serve_route_search(sv, c, r) : serve_error(c, r, 405, NULL, "use GET");
    case R_WHOAMI:
        if (strcmp(url, "/v1/whoami")) break;
        return get ? serve_route_whoami(sv, c, r) : serve_error(c, r, 405, NULL, "use GET");
    case R_GRAPH:
        if (strcmp(url, "/v1/graph/start") && strcmp(url, "/v1/graph/expand")) break;
        if (!post) return serve_error(c, r, 405, NULL, "use POST");
        return serve_route_graph(sv, c, r, !strcmp(url, "/v1/graph/expand"));
    case R_CASES:
        return serve_route_cases(sv, c, r, url, method);
    case R_UI:
        return serve_route_ui(sv, c, r, url, method);
    }
    return serve_error(c, r, 404, NULL, "no such endpoint (see docs/openapi.yaml)");
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
    conn_slot *sl = serve_slot_of(c);
    if (h.nul) return serve_error(c, r, 400, NULL, "a header contains a NUL byte");
    if (sl && sl->nul_in_url)
        return serve_error(c, r, 400, NULL, "the URL contains an encoded NUL (%%00)");
    if (h.content_length > 1 || (h.content_length && h.transfer_encoding))
        return serve_error(c, r, 400, NULL,
                           "ambiguous body length: Content-Length given twice or with "
                           "Transfer-Encoding");
    if (r->route != R_HEALTH && r->route != R_UI && !serve_key_lookup(sv, c, &r->who))
        return serve_error(c, r, 401, NULL, "missing or invalid API key (X-API-Key)");
    unsigned need = serve_scope_of(r->route);
    /* a case is read with the read scope and changed with the write scope */
    if (r->route == R_CASES && strcmp(method, "GET") && strcmp(method, "HEAD"))
        need = SERVE_SCOPE_WRITE;
    if (need && !(r->who.scopes & (need | SERVE_SCOPE_ADMIN)))
        return serve_error(c, r, 403, NULL,
                           "this key (id %s, owner '%s') lacks the '%s' scope that %s needs",
                           r->who.key_id, r->who.owner, serve_scope_name(need), r->path);
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
    serve_slot_deadline(sv, c, 0);
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
        serve_slot_deadline(sv, c, util_now() + sv->o.request_deadline_s);
    if (r->status && ((strcmp(r->method, "GET") && r->route != R_OTHER && r->route != R_UI) ||
                      r->status == 401 || r->status == 403))
        audit(sv, r);
    expensive_leave(sv, r);
    atomic_fetch_add(&sv->requests, 1);
    atomic_fetch_add(&sv->by_route[r->route], 1);
    if (r->status >= 100 && r->status < 600)
        atomic_fetch_add(&sv->by_status[r->status / 100 - 1], 1);
    atomic_fetch_add(&sv->lat[serve_lat_bucket((util_now() - r->t0) * 1e6)], 1);
    util_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- start and stop ---- */

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
    pthread_mutex_init(&sv->refresh_lock, NULL);
    pthread_mutex_init(&sv->cases_lock, NULL);
    pthread_mutex_init(&front->conn_lock, NULL);
    risk_config_default(&sv->cfg);
    int rc = 0, fd = -1;
    struct MHD_Daemon *d = NULL;
    serve_notify *notify = NULL;
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
    if (!o->api_keys_file && !o->insecure_no_auth && !o->state_url) {
        rc = util_errf(err, UTIL_EINVAL,
                       "--api-keys FILE is required (or --insecure-no-auth for loopback tests)");
        goto done;
    }
    if (o->api_keys_file && (rc = serve_load_keys(sv, err))) goto done;
    if (o->state_url && (rc = serve_state_open(sv, err))) goto done;
    if (o->rules_file && (rc = risk_config_load(&sv->cfg, o->rules_file, err))) goto done;
    if ((rc = serve_snap_open(sv, &sv->cur, err))) goto done;
    if ((rc = serve_watch_init(sv, err))) goto done;
    if (sv->st && (rc = serve_state_start(sv, err))) goto done;
    if ((rc = open_audit(sv, err))) goto done;
    unsigned port = 0;
    if ((rc = open_listener(o->listen, &fd, &port, err))) goto done;
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, sv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)16 * 1024, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_connections, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, sv, MHD_OPTION_NOTIFY_CONNECTION, serve_on_connection, sv,
        MHD_OPTION_UNESCAPE_CALLBACK, serve_on_unescape, sv, MHD_OPTION_STRICT_FOR_CLIENT,
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
     * at once when the store commits (inotify), and looks at the store every poll_ms. */
    unsigned tick_ms = o->poll_ms < 200 ? o->poll_ms : 200;
    double next_poll = 0;
    if (serve_notify_open(o->db, &set, &notify)) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (;;) {
        int changed = 0, sig = serve_notify_wait(notify, tick_ms, &changed);
        if (sig == SIGINT || sig == SIGTERM) break;
        serve_reap_overdue(sv);
        if (atomic_exchange(&front->audit_dirty, 0)) fdatasync(front->audit_fd);
        if (!changed && util_now() < next_poll) continue;
        next_poll = util_now() + o->poll_ms / 1000.0;
        if (serve_snap_refresh_try(sv)) serve_watch_advance(sv);
        serve_watch_deliver(sv);
    }
    fprintf(stderr, "cointrail: stopping\n");
done:
    serve_notify_close(notify);
    if (d) MHD_stop_daemon(d);
    if (fd >= 0) close(fd);
    if (sv->st_started) { /* it refreshes snapshots and lists: stopped before they go */
        pthread_mutex_lock(&sv->lock);
        sv->st_stop = 1;
        pthread_mutex_unlock(&sv->lock);
        pthread_join(sv->st_tid, NULL);
        sv->st_started = 0;
    }
    serve_watch_free(sv);
    serve_state_stop(sv);
    serve_snap_put(sv->cur);
    if (front->audit_fd >= 0) {
        fdatasync(front->audit_fd);
        close(front->audit_fd);
    }
    free(front->keys);
    pthread_mutex_destroy(&front->conn_lock);
    free(front);
    pthread_mutex_destroy(&sv->lock);
    pthread_mutex_destroy(&sv->refresh_lock);
    pthread_mutex_destroy(&sv->cases_lock);
    free(sv);
    return rc;
}
