/* serve: watchlists, alerts and webhook delivery (see serve.h, serve_int.h, docs/screening.md).
 * This file holds the lists, start and stop, and the routes; serve_alerts.c the alerts file and
 * the scan thread; serve_delivery.c the delivery queue, its journal and the webhook threads.
 *
 * Files in the store directory, written only by the service (those naming webhook URLs 0600):
 *   watchlists.json   the registered lists with their owners, replaced atomically on a change
 *   alerts.jsonl      one alert per line, each line (with its newline) one write(), fsynced once
 *                     per batch before the batch is visible in the API or queued for delivery
 *   alerts.delivery   the delivery journal: one line per webhook outcome {"id", "state",
 *                     "attempts", "status"|"error"}, appended with one write() and fdatasync;
 *                     the last line of an id wins. Rewritten compacted (one line per alert) at
 *                     start-up.
 *   alerts.state      "height H hash HEX": blocks below H were scanned; the hash of block H-1
 *                     tells a reorganisation (then the last ALERT_REORG_DEPTH blocks are scanned
 *                     again, and alerts already recorded are not repeated)
 *
 * Crash safety. A crash can leave a torn last line in alerts.jsonl or alerts.delivery: at load
 * it is cut off (the file truncated after the last complete line) so the next append starts a
 * fresh line. An alert is on disk before it is queued, and its outcome is journaled after the
 * attempt: a crash between the attempt and the journal line means the alert is sent again
 * after the restart (at least once; receivers dedupe with the Idempotency-Key header, which is
 * built from the alert record itself and so is the same on every attempt). alerts.state moves
 * only after the alerts of the blocks below it are fsynced; a crash before that rescans blocks
 * whose alerts are already recorded, and the duplicate check (a hash set of owner, list, txid
 * and item) drops them. Ids are one more than the largest id ever loaded or assigned.
 *
 * Threads. One scan thread follows the snapshots (serve_watch_advance only signals it) and a
 * few webhook threads (serve_opts.webhook_workers) take due alerts from a queue ordered by the
 * time of their next attempt; failed attempts are retried with exponential backoff. Both wait
 * on condition variables of sv->lock, which they hold only to read or change shared state,
 * never during a scan, a file write or an HTTP call. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve_int.h"

#define MAX_LIST_ITEMS 10000
#define DEFAULT_ATTEMPTS 15u
#define DEFAULT_WORKERS 4u
#define DEFAULT_MAX_ITEMS 100000u
#define DEFAULT_MAX_LISTS 64u

void serve_path_of(const server *sv, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", sv->o.db, name);
}

/* ---- lists ---- */

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
    json_t *o = json_pack("{s:s, s:s, s:o}", "name", w->name, "owner", w->owner, "items", items);
    if (w->webhook[0]) json_object_set_new(o, "webhook", json_string(w->webhook));
    return o;
}

int serve_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n && n < 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == n;
}

/* Fill w from a JSON description; on error returns the field at fault with why filled. A
 * stored list (from_file) may carry its owner and keeps a webhook the allow-list no longer
 * allows (its alerts are recorded and not posted); a list from a request gets its owner from
 * the caller. Entity ids must be below n_addresses (the store's address count). */
static const char *list_from_json(const server *sv, json_t *j, watchlist *w, char *why, size_t whyn,
                                  int from_file, uint64_t n_addresses)
{
    memset(w, 0, sizeof *w);
    const char *key;
    json_t *v, *items = NULL;
    json_object_foreach(j, key, v)
    {
        if (!strcmp(key, "name")) {
            if (!json_is_string(v) || !serve_name_ok(json_string_value(v)))
                return snprintf(why, whyn, "1..63 characters of A-Z a-z 0-9 - _ ."), "name";
            snprintf(w->name, sizeof w->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "owner") && from_file) {
            if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof w->owner)
                return snprintf(why, whyn, "expected a key owner"), "owner";
            snprintf(w->owner, sizeof w->owner, "%s", json_string_value(v));
        } else if (!strcmp(key, "webhook")) {
            const char *u = json_string_value(v), *no;
            if (!u || strlen(u) >= sizeof w->webhook)
                return snprintf(why, whyn, "expected a URL"), "webhook";
            if (!from_file && (no = serve_hook_check(sv->watch->allow, u)))
                return snprintf(why, whyn, "%s", no), "webhook";
            snprintf(w->webhook, sizeof w->webhook, "%s", u);
        } else if (!strcmp(key, "items")) {
            items = v;
        } else {
            return snprintf(why, whyn, "unknown field"), key;
        }
    }
    if (!w->name[0]) return snprintf(why, whyn, "required"), "name";
    if (!json_is_array(items) || !json_array_size(items) || json_array_size(items) > MAX_LIST_ITEMS)
        return snprintf(why, whyn, "expected an array of 1..%d {kind, value}", MAX_LIST_ITEMS),
               "items";
    w->items = calloc(json_array_size(items), sizeof *w->items);
    if (!w->items) return snprintf(why, whyn, "out of memory"), "items";
    size_t i;
    json_array_foreach(items, i, v)
    {
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *val = json_string_value(json_object_get(v, "value"));
        risk_watch_item *it = &w->items[w->n_items];
        if (!json_is_object(v) || json_object_size(v) != 2 || !kind || !val ||
            (strcmp(kind, "address") && strcmp(kind, "entity")))
            return snprintf(why, whyn,
                            "items[%zu]: each item is {\"kind\": \"address\"|\"entity\", "
                            "\"value\": ...}",
                            i),
                   "items";
        btc_addr a;
        size_t len = strlen(val);
        if (!btc_addr_decode(&a, val, NULL)) {
            btc_addr_encode(it->value, &a);
        } else if (!strcmp(kind, "entity") && len && len <= 10 &&
                   strspn(val, "0123456789") == len) {
            unsigned long long id = strtoull(val, NULL, 10);
            if (id >= n_addresses)
                return snprintf(why, whyn,
                                "items[%zu]: entity id %s is not an address or entity id of the "
                                "store (0..%" PRIu64 ")",
                                i, val, n_addresses ? n_addresses - 1 : 0),
                       "items";
            snprintf(it->value, sizeof it->value, "%llu", id);
        } else {
            return snprintf(why, whyn, "items[%zu]: '%.80s' is not a valid address%s", i, val,
                            strcmp(kind, "entity") ? "" : " or entity id"),
                   "items";
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
    serve_path_of(sv, "watchlists.json", path, sizeof path);
    int rc = util_replace_file_mode(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

json_t *serve_list_json(const watchlist *w)
{
    return list_json(w);
}

int serve_lists_set(server *sv, json_t *arr, util_err *err)
{
    watchlist *nl = calloc(json_array_size(arr) + 1, sizeof *nl);
    if (!nl) return util_errf(err, UTIL_ENOMEM, "out of memory");
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char why[256];
        const char *field = list_from_json(sv, v, &nl[n], why, sizeof why, 1, UINT64_MAX);
        if (field) {
            fprintf(stderr, "cointrail: state: watchlist %zu skipped: field %s: %s\n", i, field,
                    why);
            free(nl[n].items);
            continue;
        }
        n++;
    }
    pthread_mutex_lock(&sv->lock);
    watchlist *old = sv->lists;
    size_t n_old = sv->n_lists;
    sv->lists = nl;
    sv->n_lists = n;
    pthread_mutex_unlock(&sv->lock);
    lists_free(old, n_old);
    return 0;
}

/* With --state a list is written to the database first, outside sv->lock (a database that is
 * slow or away must not hold up screening), then changed in memory. 0, or an error answered. */
static int state_put_list(server *sv, const watchlist *w, util_err *err)
{
    json_t *doc = list_json(w);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    int rc = text ? state_watch_put(sv->st, w->owner, w->name, text, err)
                  : util_errf(err, UTIL_ENOMEM, "out of memory");
    free(text);
    return rc;
}

/* ---- start and stop ---- */

void serve_tip_of(const store *s, uint64_t blocks, uint8_t hash[32])
{
    if (blocks)
        memcpy(hash, store_block_hash(s, blocks - 1), 32);
    else
        memset(hash, 0, 32);
}

int serve_watch_init(server *sv, util_err *err)
{
    char path[4096];
    struct serve_watch *w = calloc(1, sizeof *w);
    sv->alerts = json_array();
    if (!w || !sv->alerts) return free(w), util_errf(err, UTIL_ENOMEM, "out of memory");
    sv->watch = w;
    w->journal_fd = -1;
    w->next_id = 1;
    w->attempts = sv->o.webhook_attempts ? sv->o.webhook_attempts : DEFAULT_ATTEMPTS;
    w->workers = sv->o.webhook_workers ? sv->o.webhook_workers : DEFAULT_WORKERS;
    w->max_items = sv->o.max_watch_items ? sv->o.max_watch_items : DEFAULT_MAX_ITEMS;
    w->max_lists = sv->o.max_watchlists ? sv->o.max_watchlists : DEFAULT_MAX_LISTS;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->scan_cv, &ca);
    pthread_cond_init(&w->hook_cv, &ca);
    pthread_condattr_destroy(&ca);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = serve_hook_allow_new(sv->o.webhook_allow, sv->o.n_webhook_allow, &w->allow, err);
    if (rc) return rc;
    serve_path_of(sv, "watchlists.json", path, sizeof path);
    if (sv->st) {
        json_t *arr;
        if ((rc = state_watch_all(sv->st, &arr, err))) return rc;
        rc = serve_lists_set(sv, arr, err);
        json_decref(arr);
        if (rc) return rc;
    } else if (access(path, F_OK) == 0) {
        chmod(path, 0600);
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
        if (!sv->lists) return json_decref(doc), util_errf(err, UTIL_ENOMEM, "out of memory");
        json_array_foreach(arr, i, v)
        {
            char why[256];
            const char *field =
                list_from_json(sv, v, &sv->lists[sv->n_lists], why, sizeof why, 1, UINT64_MAX);
            sv->n_lists++;
            if (field) { /* field may be a key of doc: format before letting doc go */
                rc = util_errf(err, UTIL_ECORRUPT, "%s: watchlist %zu: field %s: %s", path, i,
                               field, why);
                json_decref(doc);
                return rc;
            }
        }
        json_decref(doc);
    }
    serve_path_of(sv, "alerts.jsonl", path, sizeof path);
    if ((rc = serve_load_jsonl(sv, path, serve_load_alert, err))) return rc;
    if (serve_sort_alerts(sv)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    serve_path_of(sv, "alerts.delivery", path, sizeof path);
    if ((rc = serve_load_jsonl(sv, path, serve_load_outcome, err))) return rc;
    if ((rc = serve_open_journal(sv, err))) return rc;

    const store_totals *t = store_get_totals(sv->cur->s);
    serve_path_of(sv, "alerts.state", path, sizeof path);
    FILE *f = fopen(path, "r");
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
        serve_tip_of(sv->cur->s, t->blocks, sv->scanned_hash);
    }
    if (f) fclose(f);
    if (serve_seen_rebuild(sv) || serve_requeue(sv))
        return util_errf(err, UTIL_ENOMEM, "out of memory");

    w->generation = 1; /* scan at once: blocks may have been imported while the service was down */
    if (pthread_create(&w->scan_tid, NULL, serve_scan_main, sv))
        return util_errf(err, UTIL_EIO, "cannot start the alert scan thread");
    w->scan_started = 1;
    w->hook_tid = calloc(w->workers, sizeof *w->hook_tid);
    if (!w->hook_tid) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (; w->hooks_started < w->workers; w->hooks_started++)
        if (pthread_create(&w->hook_tid[w->hooks_started], NULL, serve_webhook_main, sv))
            return util_errf(err, UTIL_EIO, "cannot start a webhook thread");
    return 0;
}

void serve_watch_free(server *sv)
{
    struct serve_watch *w = sv->watch;
    if (w) {
        pthread_mutex_lock(&sv->lock);
        w->stop = 1;
        pthread_cond_broadcast(&w->scan_cv);
        pthread_cond_broadcast(&w->hook_cv);
        pthread_mutex_unlock(&sv->lock);
        if (w->scan_started) pthread_join(w->scan_tid, NULL);
        for (unsigned i = 0; i < w->hooks_started; i++)
            pthread_join(w->hook_tid[i], NULL);
        free(w->hook_tid);
        if (w->journal_fd >= 0) close(w->journal_fd);
        serve_seen_clear(w);
        free(w->heap);
        serve_dests_free(w);
        serve_hook_allow_free(w->allow);
        pthread_cond_destroy(&w->scan_cv);
        pthread_cond_destroy(&w->hook_cv);
        free(w);
        sv->watch = NULL;
        curl_global_cleanup();
    }
    lists_free(sv->lists, sv->n_lists);
    sv->lists = NULL;
    sv->n_lists = 0;
    json_decref(sv->alerts);
    sv->alerts = NULL;
}

void serve_watch_advance(server *sv)
{
    pthread_mutex_lock(&sv->lock);
    if (sv->watch) {
        sv->watch->generation++;
        pthread_cond_signal(&sv->watch->scan_cv);
    }
    pthread_mutex_unlock(&sv->lock);
}

void serve_watch_deliver(server *sv)
{
    /* the webhook threads wait for their own due times; a poll only makes sure none sleeps
     * past a job queued without a signal */
    pthread_mutex_lock(&sv->lock);
    if (sv->watch && sv->watch->n_heap) pthread_cond_signal(&sv->watch->hook_cv);
    pthread_mutex_unlock(&sv->lock);
}

/* ---- routes ---- */

/* The owner a request acts for: its own, or with SERVE_SCOPE_ADMIN the one named by ?owner=.
 * NULL (with a 403 queued in *ret) if a non-admin names another owner. */
static const char *acting_owner(const serve_caller *who, struct MHD_Connection *c, void *r,
                                enum MHD_Result *ret)
{
    const char *o = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "owner");
    if (!o || !strcmp(o, who->owner)) return who->owner;
    if (who->scopes & SERVE_SCOPE_ADMIN) return o;
    *ret = serve_error(c, r, 403, "owner", "owner: only an admin key may act for another owner");
    return NULL;
}

static size_t find_list(const server *sv, const char *owner, const char *name)
{
    size_t i = 0;
    while (i < sv->n_lists &&
           (strcmp(sv->lists[i].name, name) || strcmp(sv->lists[i].owner, owner)))
        i++;
    return i;
}

static enum MHD_Result post_list(server *sv, const char *owner, struct MHD_Connection *c, void *r)
{
    enum MHD_Result ret = MHD_NO; /* set by acting_owner when it returns NULL */
    json_t *doc = serve_body_json(c, r, &ret);
    if (!doc) return ret;
    snap *sn = serve_snap_get(sv);
    uint64_t n_addresses = store_get_totals(sn->s)->addresses;
    serve_snap_put(sn);
    watchlist w;
    char why[512];
    const char *field = list_from_json(sv, doc, &w, why, sizeof why, 0, n_addresses);
    if (field) { /* field may be a key of doc: answer before letting doc go */
        enum MHD_Result e = serve_error(c, r, 400, field, "field '%s': %s", field, why);
        free(w.items);
        json_decref(doc);
        return e;
    }
    json_decref(doc);
    if (strlen(owner) >= sizeof w.owner) {
        free(w.items);
        return serve_error(c, r, 400, "owner", "owner: too long");
    }
    snprintf(w.owner, sizeof w.owner, "%s", owner);
    util_err err = {0};
    if (sv->st) {
        /* the limits as they are now; the write below may race another replica's, which
         * only ever replaces whole lists */
        pthread_mutex_lock(&sv->lock);
        size_t k = find_list(sv, w.owner, w.name), total = 0, mine = 0;
        for (size_t q = 0; q < sv->n_lists; q++)
            if (q != k) total += sv->lists[q].n_items, mine += !strcmp(sv->lists[q].owner, w.owner);
        int over = mine >= sv->watch->max_lists || total + w.n_items > sv->watch->max_items;
        pthread_mutex_unlock(&sv->lock);
        if (!over && state_put_list(sv, &w, &err)) {
            free(w.items);
            return serve_error(c, r, 503, NULL, "the change was not saved: %s", err.msg);
        }
    }
    pthread_mutex_lock(&sv->lock);
    size_t i = find_list(sv, w.owner, w.name), total = 0, mine = 0;
    int replaced = i < sv->n_lists;
    for (size_t k = 0; k < sv->n_lists; k++) {
        if (k == i) continue;
        total += sv->lists[k].n_items;
        mine += !strcmp(sv->lists[k].owner, w.owner);
    }
    const char *limit = mine >= sv->watch->max_lists               ? "watchlists per owner"
                        : total + w.n_items > sv->watch->max_items ? "watched items in all lists"
                                                                   : NULL;
    if (limit) {
        size_t cap = mine >= sv->watch->max_lists ? sv->watch->max_lists : sv->watch->max_items;
        pthread_mutex_unlock(&sv->lock);
        free(w.items);
        return serve_error(c, r, 409, "items", "the service allows at most %zu %s", cap, limit);
    }
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
    if (!sv->st && save_lists(sv, &err)) { /* keep memory and file in agreement */
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
    json_object_set_new(out, "watching_from_height", json_integer((json_int_t)sv->scanned_height));
    pthread_mutex_unlock(&sv->lock);
    return serve_send_json(c, r, replaced ? 200 : 201, out);
}

enum MHD_Result serve_route_watchlists(server *sv, const serve_caller *who,
                                       struct MHD_Connection *c, void *r, const char *url,
                                       const char *method)
{
    const char *name = !strncmp(url, "/v1/watchlists/", 15) ? url + 15 : NULL;
    if (strcmp(url, "/v1/watchlists") && (!name || !serve_name_ok(name)))
        return serve_error(c, r, 404, NULL, "no such endpoint (see docs/openapi.yaml)");
    enum MHD_Result ret = MHD_NO; /* set by acting_owner when it returns NULL */
    int admin = (who->scopes & SERVE_SCOPE_ADMIN) != 0;
    const char *owner = acting_owner(who, c, r, &ret);
    if (!owner) return ret;
    if (!name && !strcmp(method, "GET")) {
        /* an admin sees every owner's lists unless it names one */
        int all = admin && !MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "owner");
        pthread_mutex_lock(&sv->lock);
        json_t *arr = json_array();
        for (size_t i = 0; i < sv->n_lists; i++)
            if (all || !strcmp(sv->lists[i].owner, owner))
                json_array_append_new(arr, list_json(&sv->lists[i]));
        pthread_mutex_unlock(&sv->lock);
        return serve_send_json(c, r, 200, json_pack("{s:o}", "watchlists", arr));
    }
    if (!name && !strcmp(method, "POST")) return post_list(sv, owner, c, r);
    if (!name) return serve_error(c, r, 405, NULL, "use GET or POST");
    util_err err = {0};
    pthread_mutex_lock(&sv->lock);
    size_t i = find_list(sv, owner, name);
    if (i == sv->n_lists) {
        pthread_mutex_unlock(&sv->lock);
        return serve_error(c, r, 404, NULL, "no watchlist named '%s'", name);
    }
    if (!strcmp(method, "GET")) {
        json_t *out = list_json(&sv->lists[i]);
        pthread_mutex_unlock(&sv->lock);
        return serve_send_json(c, r, 200, out);
    }
    if (!strcmp(method, "DELETE") && sv->st) {
        pthread_mutex_unlock(&sv->lock);
        int rc = state_watch_delete(sv->st, owner, name, &err);
        if (rc == UTIL_ENOTFOUND)
            return serve_error(c, r, 404, NULL, "no watchlist named '%s'", name);
        if (rc) return serve_error(c, r, 503, NULL, "the change was not saved: %s", err.msg);
        pthread_mutex_lock(&sv->lock);
        if ((i = find_list(sv, owner, name)) < sv->n_lists) {
            watchlist gone = sv->lists[i];
            memmove(&sv->lists[i], &sv->lists[i + 1], (sv->n_lists - i - 1) * sizeof *sv->lists);
            sv->n_lists--;
            free(gone.items);
        }
        pthread_mutex_unlock(&sv->lock);
        return serve_send_json(c, r, 200, json_pack("{s:s}", "deleted", name));
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
    const char *after_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *list = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "list");
    unsigned long long after = 0, limit = 100;
    char *end;
    if (after_s && (!*after_s || strspn(after_s, "0123456789") != strlen(after_s) ||
                    strlen(after_s) > 18 || (after = strtoull(after_s, &end, 10), *end)))
        return serve_error(c, r, 400, "after", "after: expected an alert id");
    if (limit_s && (!*limit_s || *limit_s == '-' || (limit = strtoull(limit_s, &end, 10), *end) ||
                    !limit || limit > 1000))
        return serve_error(c, r, 400, "limit", "limit: expected 1..1000");
    enum MHD_Result ret = MHD_NO; /* set by acting_owner when it returns NULL */
    const char *owner = acting_owner(who, c, r, &ret);
    if (!owner) return ret;
    /* an admin sees every owner's alerts unless it names one */
    int all = (who->scopes & SERVE_SCOPE_ADMIN) &&
              !MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "owner");
    json_t *arr = json_array();
    json_int_t last = 0;
    pthread_mutex_lock(&sv->lock);
    size_t n = json_array_size(sv->alerts);
    for (size_t i = n; i-- > 0;) { /* the caller's newest alert id */
        json_t *a = json_array_get(sv->alerts, i);
        if (all || !strcmp(json_string_value(json_object_get(a, "owner")), owner)) {
            last = serve_alert_id(a);
            break;
        }
    }
    for (size_t i = serve_first_after(sv->alerts, (json_int_t)after);
         i < n && json_array_size(arr) < limit; i++) {
        json_t *a = json_array_get(sv->alerts, i);
        if (!all && strcmp(json_string_value(json_object_get(a, "owner")), owner)) continue;
        if (list && strcmp(json_string_value(json_object_get(a, "list")), list)) continue;
        json_array_append_new(arr, json_deep_copy(a));
    }
    json_t *out = json_pack("{s:o, s:I, s:I, s:I}", "alerts", arr, "last_id", last,
                            "scanned_height", (json_int_t)sv->scanned_height, "delivery_queue",
                            (json_int_t)serve_queue_length(sv->watch));
    pthread_mutex_unlock(&sv->lock);
    return serve_send_json(c, r, 200, out);
}
