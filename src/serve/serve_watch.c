/* serve: watchlists, alerts and webhooks (see serve.h, docs/screening.md).
 *
 * Files in the store directory, written only by the service:
 *   watchlists.json  the registered lists, replaced atomically on every change
 *   alerts.jsonl     one alert per line, appended and fsynced before it is visible in the API
 *   alerts.state     "height H hash HEX": blocks below H were scanned; the hash of block H-1
 *                    tells a reorganisation (then the last ALERT_REORG_DEPTH blocks are scanned
 *                    again, and alerts already recorded are not repeated) */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "serve_int.h"

#define ALERT_REORG_DEPTH 10
#define MAX_WATCH_ITEMS 10000
#define WEBHOOK_TIMEOUT_MS 2000L

static void path_of(const server *sv, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", sv->o.db, name);
}

static void lists_free(watchlist *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i].items);
    free(l);
}

static json_t *list_json(const watchlist *w)
{
    json_t *items = json_array();
    for (size_t i = 0; i < w->n_items; i++)
        json_array_append_new(
            items, json_pack("{s:s, s:s}", "kind", w->items[i].kind, "value", w->items[i].value));
    json_t *o = json_pack("{s:s, s:o}", "name", w->name, "items", items);
    if (w->webhook[0]) json_object_set_new(o, "webhook", json_string(w->webhook));
    return o;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    return n && n < 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == n;
}

static int webhook_allowed(const server *sv, const char *url)
{
    for (size_t i = 0; i < sv->o.n_webhook_prefixes; i++)
        if (!strncmp(url, sv->o.webhook_prefixes[i], strlen(sv->o.webhook_prefixes[i]))) return 1;
    return 0;
}

/* Fill w from a JSON description; on error returns the field at fault and sets *why. A stored
 * list (from_file) keeps a webhook the current prefixes no longer allow: its alerts are
 * recorded and not posted. */
static const char *list_from_json(const server *sv, json_t *j, watchlist *w, const char **why,
                                  int from_file)
{
    memset(w, 0, sizeof *w);
    const char *key;
    json_t *v, *items = NULL;
    json_object_foreach(j, key, v)
    {
        if (!strcmp(key, "name")) {
            if (!json_is_string(v) || !name_ok(json_string_value(v)))
                return *why = "1..63 characters of A-Z a-z 0-9 - _ .", "name";
            snprintf(w->name, sizeof w->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "webhook")) {
            const char *u = json_string_value(v);
            if (!u || strlen(u) >= sizeof w->webhook) return *why = "expected a URL", "webhook";
            if (!from_file && !webhook_allowed(sv, u))
                return *why = "not under a prefix the service allows (serve --webhook-prefix)",
                       "webhook";
            snprintf(w->webhook, sizeof w->webhook, "%s", u);
        } else if (!strcmp(key, "items")) {
            items = v;
        } else {
            return *why = "unknown field", key;
        }
    }
    if (!w->name[0]) return *why = "required", "name";
    if (!json_is_array(items) || !json_array_size(items) ||
        json_array_size(items) > MAX_WATCH_ITEMS)
        return *why = "expected an array of 1..10000 {kind, value}", "items";
    w->items = calloc(json_array_size(items), sizeof *w->items);
    if (!w->items) return *why = "out of memory", "items";
    size_t i;
    json_array_foreach(items, i, v)
    {
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *val = json_string_value(json_object_get(v, "value"));
        risk_watch_item *it = &w->items[w->n_items];
        if (!json_is_object(v) || json_object_size(v) != 2 || !kind || !val ||
            (strcmp(kind, "address") && strcmp(kind, "entity")))
            return *why = "each item is {\"kind\": \"address\"|\"entity\", \"value\": ...}",
                   "items";
        btc_addr a;
        char *end;
        if (!btc_addr_decode(&a, val, NULL)) {
            btc_addr_encode(it->value, &a);
        } else if (!strcmp(kind, "entity") && *val && strlen(val) < 12 &&
                   (strtoull(val, &end, 10), !*end)) {
            snprintf(it->value, sizeof it->value, "%s", val);
        } else {
            return *why = "not a valid address (or entity id)", "items";
        }
        snprintf(it->kind, sizeof it->kind, "%s", kind);
        snprintf(it->list, sizeof it->list, "%s", w->name);
        w->n_items++;
    }
    return NULL;
}

static int save_lists(server *sv, util_err *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < sv->n_lists; i++)
        json_array_append_new(arr, list_json(&sv->lists[i]));
    json_t *doc = json_pack("{s:i, s:o}", "version", 1, "watchlists", arr);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) return util_errf(err, UTIL_ENOMEM, "out of memory");
    char path[4096];
    path_of(sv, "watchlists.json", path, sizeof path);
    int rc = util_replace_file(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int save_state(server *sv, util_err *err)
{
    char hex[65], buf[128], path[4096];
    util_hex(hex, sv->scanned_hash, 32);
    int n = snprintf(buf, sizeof buf, "height %" PRIu64 " hash %s\n", sv->scanned_height, hex);
    path_of(sv, "alerts.state", path, sizeof path);
    return util_replace_file(path, buf, (size_t)n, err);
}

static void tip_of(const store *s, uint64_t blocks, uint8_t hash[32])
{
    if (blocks)
        memcpy(hash, store_block_hash(s, blocks - 1), 32);
    else
        memset(hash, 0, 32);
}

int serve_watch_init(server *sv, util_err *err)
{
    char path[4096];
    sv->alerts = json_array();
    if (!sv->alerts) return util_errf(err, UTIL_ENOMEM, "out of memory");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    path_of(sv, "watchlists.json", path, sizeof path);
    if (access(path, F_OK) == 0) {
        json_error_t je;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        json_t *arr = json_object_get(doc, "watchlists");
        if (!doc || !json_is_array(arr)) {
            json_decref(doc);
            return util_errf(err, UTIL_ECORRUPT, "%s:%d: not a watchlists file: %s", path, je.line,
                             doc ? "no \"watchlists\" array" : je.text);
        }
        size_t i;
        json_t *v;
        sv->lists = calloc(json_array_size(arr) + 1, sizeof *sv->lists);
        json_array_foreach(arr, i, v)
        {
            const char *why = NULL,
                       *field = list_from_json(sv, v, &sv->lists[sv->n_lists], &why, 1);
            sv->n_lists++;
            if (field) { /* field may be a key of doc: format before letting doc go */
                int rc = util_errf(err, UTIL_ECORRUPT, "%s: watchlist %zu: field %s: %s", path, i,
                                   field, why);
                json_decref(doc);
                return rc;
            }
        }
        json_decref(doc);
    }
    path_of(sv, "alerts.jsonl", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        size_t lineno = 0;
        while ((n = getline(&line, &cap, f)) > 0) {
            lineno++;
            json_t *a = json_loadb(line, (size_t)n, 0, NULL);
            if (!a) { /* a torn last line from a crash: everything before it stands */
                fprintf(stderr, "cointrail: %s:%zu: unreadable alert skipped\n", path, lineno);
                continue;
            }
            json_array_append_new(sv->alerts, a);
        }
        free(line);
        fclose(f);
    }
    const store_totals *t = store_get_totals(sv->cur->s);
    path_of(sv, "alerts.state", path, sizeof path);
    f = fopen(path, "r");
    char hex[65] = "";
    unsigned long long h = 0;
    if (f && fscanf(f, "height %llu hash %64s", &h, hex) == 2 && strlen(hex) == 64) {
        sv->scanned_height = h;
        for (int i = 0; i < 32; i++) {
            unsigned b;
            sscanf(hex + 2 * i, "%2x", &b);
            sv->scanned_hash[i] = (uint8_t)b;
        }
    } else { /* first start: alert on what is imported from now on, not on history */
        sv->scanned_height = t->blocks;
        tip_of(sv->cur->s, t->blocks, sv->scanned_hash);
    }
    if (f) fclose(f);
    return 0;
}

void serve_watch_free(server *sv)
{
    lists_free(sv->lists, sv->n_lists);
    sv->lists = NULL;
    sv->n_lists = 0;
    json_decref(sv->alerts);
    sv->alerts = NULL;
    free(sv->pending);
    sv->pending = NULL;
    curl_global_cleanup();
}

typedef struct scan_arg {
    server *sv;
    uint64_t from_height;
    int fd;
} scan_arg;

static int already_recorded(server *sv, json_t *alert, uint64_t from_height)
{
    const char *txid = json_string_value(json_object_get(alert, "txid"));
    const char *list = json_string_value(json_object_get(alert, "list"));
    json_t *item = json_object_get(alert, "item");
    for (size_t i = json_array_size(sv->alerts); i-- > 0;) {
        json_t *a = json_array_get(sv->alerts, i);
        if ((uint64_t)json_integer_value(json_object_get(a, "height")) < from_height) break;
        if (!strcmp(json_string_value(json_object_get(a, "txid")), txid) &&
            !strcmp(json_string_value(json_object_get(a, "list")), list) &&
            json_equal(json_object_get(a, "item"), item))
            return 1;
    }
    return 0;
}

static int on_alert(json_t *alert, void *argp)
{
    scan_arg *a = argp;
    server *sv = a->sv;
    pthread_mutex_lock(&sv->lock);
    if (already_recorded(sv, alert, a->from_height)) {
        pthread_mutex_unlock(&sv->lock);
        return 0;
    }
    json_t *rec = json_deep_copy(alert);
    size_t id = json_array_size(sv->alerts) + 1;
    json_object_set_new(rec, "id", json_integer((json_int_t)id));
    const char *list = json_string_value(json_object_get(alert, "list"));
    const char *hook = NULL;
    for (size_t i = 0; i < sv->n_lists; i++)
        if (!strcmp(sv->lists[i].name, list) && sv->lists[i].webhook[0])
            hook = sv->lists[i].webhook;
    char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int ok = line && a->fd >= 0 && !util_write_all(a->fd, line, strlen(line)) &&
             !util_write_all(a->fd, "\n", 1) && !fsync(a->fd);
    free(line);
    if (!ok) {
        fprintf(stderr, "cointrail: cannot record an alert in alerts.jsonl: %s\n", strerror(errno));
        json_decref(rec);
        pthread_mutex_unlock(&sv->lock);
        return -1; /* stop: the scan is retried at the next poll */
    }
    if (hook && !webhook_allowed(sv, hook)) {
        json_object_set_new(rec, "webhook",
                            json_pack("{s:s, s:s}", "url", hook, "state",
                                      "not allowed by the service's --webhook-prefix"));
    } else if (hook) {
        json_object_set_new(rec, "webhook",
                            json_pack("{s:s, s:s}", "url", hook, "state", "pending"));
        if (sv->n_pending == sv->cap_pending) {
            size_t nc = sv->cap_pending ? sv->cap_pending * 2 : 16;
            size_t *np = realloc(sv->pending, nc * sizeof *np);
            if (np) sv->pending = np, sv->cap_pending = nc;
        }
        if (sv->n_pending < sv->cap_pending) sv->pending[sv->n_pending++] = id - 1;
    }
    json_array_append_new(sv->alerts, rec);
    pthread_mutex_unlock(&sv->lock);
    return 0;
}

void serve_watch_advance(server *sv)
{
    snap *sn = serve_snap_get(sv);
    const store_totals *t = store_get_totals(sn->s);
    pthread_mutex_lock(&sv->lock);
    uint64_t from = sv->scanned_height;
    int reorg = from > t->blocks ||
                (from && memcmp(store_block_hash(sn->s, from - 1), sv->scanned_hash, 32));
    if (reorg) {
        if (from > t->blocks) from = t->blocks;
        from = from > ALERT_REORG_DEPTH ? from - ALERT_REORG_DEPTH : 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < sv->n_lists; i++)
        n += sv->lists[i].n_items;
    risk_watch_item *items = malloc((n ? n : 1) * sizeof *items);
    n = 0;
    for (size_t i = 0; items && i < sv->n_lists; i++)
        for (size_t j = 0; j < sv->lists[i].n_items; j++)
            items[n++] = sv->lists[i].items[j];
    pthread_mutex_unlock(&sv->lock);
    if (!items) goto out;
    char path[4096];
    path_of(sv, "alerts.jsonl", path, sizeof path);
    scan_arg a = {sv, from, -1};
    if (n) a.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    util_err err = {0};
    int rc = (n && a.fd < 0) ? -1
                             : risk_watch_scan(sn->s, sn->labels, sn->clusters, items, n, from,
                                               t->blocks, on_alert, &a, &err);
    if (a.fd >= 0) close(a.fd);
    free(items);
    if (rc) {
        fprintf(stderr, "cointrail: alert scan failed (retried at the next change): %s\n",
                err.msg[0] ? err.msg : strerror(errno));
        goto out;
    }
    pthread_mutex_lock(&sv->lock);
    sv->scanned_height = t->blocks;
    tip_of(sn->s, t->blocks, sv->scanned_hash);
    if (save_state(sv, &err)) fprintf(stderr, "cointrail: %s\n", err.msg);
    pthread_mutex_unlock(&sv->lock);
out:
    serve_snap_put(sn);
}

static size_t discard(void *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* POST pending alerts to their webhooks, one attempt each, outside the lock. */
void serve_watch_deliver(server *sv)
{
    for (;;) {
        pthread_mutex_lock(&sv->lock);
        if (!sv->n_pending) {
            pthread_mutex_unlock(&sv->lock);
            return;
        }
        size_t idx = sv->pending[0];
        memmove(sv->pending, sv->pending + 1, --sv->n_pending * sizeof *sv->pending);
        json_t *rec = json_array_get(sv->alerts, idx);
        json_t *hook = json_object_get(rec, "webhook");
        char url[512];
        snprintf(url, sizeof url, "%s", json_string_value(json_object_get(hook, "url")));
        json_t *copy = json_deep_copy(rec);
        json_object_del(copy, "webhook");
        char *body = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(copy);
        pthread_mutex_unlock(&sv->lock);

        long status = 0;
        CURLcode cc = CURLE_OUT_OF_MEMORY;
        CURL *cu = curl_easy_init();
        struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
        if (cu && body && hdr) {
            curl_easy_setopt(cu, CURLOPT_URL, url);
            curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
            curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, WEBHOOK_TIMEOUT_MS);
            curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
            curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
            curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
            cc = curl_easy_perform(cu);
            if (cc == CURLE_OK) curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
        }
        curl_slist_free_all(hdr);
        if (cu) curl_easy_cleanup(cu);
        free(body);

        pthread_mutex_lock(&sv->lock);
        hook = json_object_get(json_array_get(sv->alerts, idx), "webhook");
        if (cc == CURLE_OK) {
            json_object_set_new(hook, "state",
                                json_string(status / 100 == 2 ? "delivered" : "rejected"));
            json_object_set_new(hook, "status", json_integer(status));
        } else {
            json_object_set_new(hook, "state", json_string("failed"));
            json_object_set_new(hook, "error", json_string(curl_easy_strerror(cc)));
        }
        pthread_mutex_unlock(&sv->lock);
    }
}

/* ---- routes ---- */

enum MHD_Result serve_route_watchlists(server *sv, const serve_caller *who,
                                       struct MHD_Connection *c, void *r, const char *url,
                                       const char *method)
{
    (void)who; /* ownership: not yet enforced */
    const char *name = !strncmp(url, "/v1/watchlists/", 15) ? url + 15 : NULL;
    if (strcmp(url, "/v1/watchlists") && (!name || !name_ok(name)))
        return serve_error(c, r, 404, NULL, "no such endpoint (see docs/openapi.yaml)");
    util_err err = {0};
    if (!name && !strcmp(method, "GET")) {
        pthread_mutex_lock(&sv->lock);
        json_t *arr = json_array();
        for (size_t i = 0; i < sv->n_lists; i++)
            json_array_append_new(arr, list_json(&sv->lists[i]));
        pthread_mutex_unlock(&sv->lock);
        return serve_send_json(c, r, 200, json_pack("{s:o}", "watchlists", arr));
    }
    if (!name && !strcmp(method, "POST")) {
        enum MHD_Result ret;
        json_t *doc = serve_body_json(c, r, &ret);
        if (!doc) return ret;
        watchlist w;
        const char *why = NULL, *field = list_from_json(sv, doc, &w, &why, 0);
        if (field) { /* field may be a key of doc: answer before letting doc go */
            enum MHD_Result e = serve_error(c, r, 400, field, "field '%s': %s", field, why);
            free(w.items);
            json_decref(doc);
            return e;
        }
        json_decref(doc);
        pthread_mutex_lock(&sv->lock);
        size_t i = 0;
        while (i < sv->n_lists && strcmp(sv->lists[i].name, w.name))
            i++;
        int replaced = i < sv->n_lists;
        watchlist old = {0};
        if (replaced) {
            old = sv->lists[i];
            sv->lists[i] = w;
        } else {
            watchlist *nl = realloc(sv->lists, (sv->n_lists + 1) * sizeof *nl);
            if (!nl) {
                pthread_mutex_unlock(&sv->lock);
                free(w.items);
                return serve_error(c, r, 503, NULL, "out of memory");
            }
            sv->lists = nl;
            sv->lists[sv->n_lists++] = w;
        }
        int rc = save_lists(sv, &err);
        if (rc) { /* keep memory and file in agreement */
            if (replaced)
                sv->lists[i] = old;
            else
                sv->n_lists--;
            pthread_mutex_unlock(&sv->lock);
            free(w.items);
            return serve_error(c, r, 500, NULL, "%s", err.msg);
        }
        free(old.items);
        json_t *out = list_json(&w);
        json_object_set_new(out, "watching_from_height",
                            json_integer((json_int_t)sv->scanned_height));
        pthread_mutex_unlock(&sv->lock);
        return serve_send_json(c, r, replaced ? 200 : 201, out);
    }
    if (!name) return serve_error(c, r, 405, NULL, "use GET or POST");
    pthread_mutex_lock(&sv->lock);
    size_t i = 0;
    while (i < sv->n_lists && strcmp(sv->lists[i].name, name))
        i++;
    if (i == sv->n_lists) {
        pthread_mutex_unlock(&sv->lock);
        return serve_error(c, r, 404, NULL, "no watchlist named '%s'", name);
    }
    if (!strcmp(method, "GET")) {
        json_t *out = list_json(&sv->lists[i]);
        pthread_mutex_unlock(&sv->lock);
        return serve_send_json(c, r, 200, out);
    }
    if (!strcmp(method, "DELETE")) {
        watchlist gone = sv->lists[i];
        memmove(&sv->lists[i], &sv->lists[i + 1], (sv->n_lists - i - 1) * sizeof *sv->lists);
        sv->n_lists--;
        if (save_lists(sv, &err)) {
            memmove(&sv->lists[i + 1], &sv->lists[i], (sv->n_lists - i) * sizeof *sv->lists);
            sv->lists[i] = gone;
            sv->n_lists++;
            pthread_mutex_unlock(&sv->lock);
            return serve_error(c, r, 500, NULL, "%s", err.msg);
        }
        pthread_mutex_unlock(&sv->lock);
        free(gone.items);
        return serve_send_json(c, r, 200, json_pack("{s:s}", "deleted", name));
    }
    pthread_mutex_unlock(&sv->lock);
    return serve_error(c, r, 405, NULL, "use GET or DELETE");
}

enum MHD_Result serve_route_alerts(server *sv, const serve_caller *who, struct MHD_Connection *c,
                                   void *r)
{
    (void)who; /* ownership: not yet enforced */
    const char *after_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *list = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "list");
    unsigned long long after = 0, limit = 100;
    char *end;
    if (after_s && (!*after_s || *after_s == '-' || (after = strtoull(after_s, &end, 10), *end)))
        return serve_error(c, r, 400, "after", "after: expected an alert id");
    if (limit_s && (!*limit_s || *limit_s == '-' || (limit = strtoull(limit_s, &end, 10), *end) ||
                    !limit || limit > 1000))
        return serve_error(c, r, 400, "limit", "limit: expected 1..1000");
    json_t *arr = json_array();
    pthread_mutex_lock(&sv->lock);
    size_t n = json_array_size(sv->alerts);
    for (size_t i = after < n ? after : n; i < n && json_array_size(arr) < limit; i++) {
        json_t *a = json_array_get(sv->alerts, i);
        if (list && strcmp(json_string_value(json_object_get(a, "list")), list)) continue;
        json_array_append_new(arr, json_deep_copy(a));
    }
    json_t *out = json_pack("{s:o, s:I, s:I}", "alerts", arr, "last_id", (json_int_t)n,
                            "scanned_height", (json_int_t)sv->scanned_height);
    pthread_mutex_unlock(&sv->lock);
    return serve_send_json(c, r, 200, out);
}
