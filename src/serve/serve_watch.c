/* serve: watchlists, alerts and webhook delivery (see serve.h, serve_int.h, docs/screening.md).
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
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "serve_int.h"

#define ALERT_REORG_DEPTH 10
#define MAX_LIST_ITEMS 10000
#define WEBHOOK_TIMEOUT_MS 2000L
#define BACKOFF_FIRST_S 1.0
#define BACKOFF_MAX_S 300.0
#define SCAN_BATCH 1024  /* alerts per fsync of alerts.jsonl */
#define SCAN_FLUSH_S 0.5 /* ... or sooner if the batch is this old */
#define DEFAULT_ATTEMPTS 15u
#define DEFAULT_WORKERS 4u
#define DEFAULT_MAX_ITEMS 100000u
#define DEFAULT_MAX_LISTS 64u

typedef struct job {
    double due; /* util_now() time of the next attempt */
    size_t idx; /* index in sv->alerts (alerts are only appended, so it stays valid) */
} job;

struct serve_watch {
    serve_hook_allow *allow;
    unsigned attempts, workers, max_lists;
    size_t max_items;
    pthread_cond_t scan_cv, hook_cv; /* with sv->lock */
    pthread_t scan_tid, *hook_tid;
    int scan_started;
    unsigned hooks_started;
    /* under sv->lock */
    int stop;
    uint64_t generation, done_generation; /* snapshots announced and scanned */
    job *heap;                            /* due deliveries, earliest first */
    size_t n_heap, cap_heap;
    /* the scan thread's own (and init's, before the threads start) */
    char **seen; /* open-addressing set of duplicate-check keys */
    size_t seen_cap, seen_n;
    uint64_t next_id;
    int journal_fd; /* alerts.delivery, appended by the webhook threads; -1: not open */
};

static void path_of(const server *sv, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", sv->o.db, name);
}

/* ---- the duplicate check ---- */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* The key of an alert: owner, list, txid, item kind and value. malloc'd, caller frees. */
static char *alert_key(json_t *a)
{
    json_t *it = json_object_get(a, "item");
    const char *f[5] = {json_string_value(json_object_get(a, "owner")),
                        json_string_value(json_object_get(a, "list")),
                        json_string_value(json_object_get(a, "txid")),
                        json_string_value(json_object_get(it, "kind")),
                        json_string_value(json_object_get(it, "value"))};
    size_t n = 5;
    for (int i = 0; i < 5; i++)
        n += f[i] ? strlen(f[i]) : 0;
    char *k = malloc(n);
    if (!k) return NULL;
    snprintf(k, n, "%s\x1f%s\x1f%s\x1f%s\x1f%s", f[0] ? f[0] : "", f[1] ? f[1] : "",
             f[2] ? f[2] : "", f[3] ? f[3] : "", f[4] ? f[4] : "");
    return k;
}

static int seen_has(const struct serve_watch *w, const char *k)
{
    if (!w->seen_cap) return 0;
    for (size_t i = fnv(k) & (w->seen_cap - 1);; i = (i + 1) & (w->seen_cap - 1)) {
        if (!w->seen[i]) return 0;
        if (!strcmp(w->seen[i], k)) return 1;
    }
}

/* Insert k (taking it). 0 or -1 out of memory (k freed). */
static int seen_add(struct serve_watch *w, char *k)
{
    if (2 * (w->seen_n + 1) > w->seen_cap) {
        size_t nc = w->seen_cap ? w->seen_cap * 2 : 1024;
        char **ns = calloc(nc, sizeof *ns);
        if (!ns) return free(k), -1;
        for (size_t i = 0; i < w->seen_cap; i++) {
            if (!w->seen[i]) continue;
            size_t j = fnv(w->seen[i]) & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = w->seen[i];
        }
        free(w->seen);
        w->seen = ns;
        w->seen_cap = nc;
    }
    size_t i = fnv(k) & (w->seen_cap - 1);
    while (w->seen[i])
        i = (i + 1) & (w->seen_cap - 1);
    w->seen[i] = k;
    w->seen_n++;
    return 0;
}

static void seen_clear(struct serve_watch *w)
{
    for (size_t i = 0; i < w->seen_cap; i++)
        free(w->seen[i]);
    free(w->seen);
    w->seen = NULL;
    w->seen_cap = w->seen_n = 0;
}

/* The keys of the recorded alerts a rescan could find again: those at heights the next scan
 * can start from (a reorganisation goes back ALERT_REORG_DEPTH blocks). Caller holds sv->lock
 * or is init. */
static int seen_rebuild(server *sv)
{
    struct serve_watch *w = sv->watch;
    seen_clear(w);
    uint64_t low =
        sv->scanned_height > ALERT_REORG_DEPTH ? sv->scanned_height - ALERT_REORG_DEPTH : 0;
    for (size_t i = json_array_size(sv->alerts); i-- > 0;) {
        json_t *a = json_array_get(sv->alerts, i);
        if ((uint64_t)json_integer_value(json_object_get(a, "height")) < low) continue;
        char *k = alert_key(a);
        if (!k || seen_add(w, k)) return -1;
    }
    return 0;
}

/* ---- the delivery queue (a binary heap on due time, under sv->lock) ---- */

static int job_before(const job *a, const job *b)
{
    return a->due < b->due || (a->due == b->due && a->idx < b->idx);
}

static int heap_push(struct serve_watch *w, job j)
{
    if (w->n_heap == w->cap_heap) {
        size_t nc = w->cap_heap ? w->cap_heap * 2 : 64;
        job *nh = realloc(w->heap, nc * sizeof *nh);
        if (!nh) return -1;
        w->heap = nh;
        w->cap_heap = nc;
    }
    size_t i = w->n_heap++;
    while (i && job_before(&j, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = j;
    return 0;
}

static job heap_pop(struct serve_watch *w)
{
    job top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n_heap) break;
        if (c + 1 < w->n_heap && job_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!job_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->n_heap) w->heap[i] = last;
    return top;
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

static int name_ok(const char *s)
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
            if (!json_is_string(v) || !name_ok(json_string_value(v)))
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
    path_of(sv, "watchlists.json", path, sizeof path);
    int rc = util_replace_file_mode(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

static void tip_of(const store *s, uint64_t blocks, uint8_t hash[32])
{
    if (blocks)
        memcpy(hash, store_block_hash(s, blocks - 1), 32);
    else
        memset(hash, 0, 32);
}

/* ---- loading ---- */

static json_int_t alert_id(json_t *a)
{
    return json_integer_value(json_object_get(a, "id"));
}

/* The Idempotency-Key of an alert's deliveries: its id and the start of its txid, both from
 * the durable record, so every attempt, before and after a restart, sends the same key. */
static json_t *idem_key(json_t *rec)
{
    char key[96];
    snprintf(key, sizeof key, "%lld-%.16s", (long long)alert_id(rec),
             json_string_value(json_object_get(rec, "txid")));
    return json_string(key);
}

typedef int (*record_fn)(server *sv, json_t *rec, const char *path, size_t line);

/* Read the JSON-lines file path (absent: nothing to do), calling fn for each parsed line (rec
 * borrowed; fn returns 0 to keep going). A tail after the last good line (a line without its
 * newline, or one that does not parse and has no good line after it) is a write torn by a crash:
 * the file is cut back to the end of the last good line, so that the next append starts on a
 * line of its own. A bad line followed by good ones is skipped with a warning. The file is made
 * 0600 (it names webhook URLs). */
static int load_jsonl(server *sv, const char *path, record_fn fn, util_err *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 0;
    if (fd < 0) return util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    fchmod(fd, 0600);
    FILE *f = fdopen(dup(fd), "r");
    if (!f) {
        close(fd);
        return util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, bad_line = 0;
    ssize_t n;
    off_t pos = 0, good_end = 0;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        pos += n;
        json_t *rec = line[n - 1] == '\n' ? json_loadb(line, (size_t)n, 0, NULL) : NULL;
        if (!rec) {
            if (!bad_line) bad_line = lineno;
            continue;
        }
        if (bad_line)
            fprintf(stderr, "cointrail: %s:%zu: unreadable record skipped\n", path, bad_line);
        bad_line = 0;
        good_end = pos;
        rc = fn(sv, rec, path, lineno);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    if (!rc && pos > good_end) {
        fprintf(stderr, "cointrail: %s:%zu: torn record at byte %lld cut off (a crash)\n", path,
                bad_line ? bad_line : lineno, (long long)good_end);
        if (ftruncate(fd, good_end) || fsync(fd))
            rc =
                util_errf(err, UTIL_EIO, "%s: cannot cut the torn tail: %s", path, strerror(errno));
    }
    close(fd);
    return rc;
}

static int hex64(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int load_alert(server *sv, json_t *a, const char *path, size_t line)
{
    json_t *id = json_object_get(a, "id"), *h = json_object_get(a, "height");
    json_t *item = json_object_get(a, "item"), *hook = json_object_get(a, "webhook");
    json_t *owner = json_object_get(a, "owner");
    const char *list = json_string_value(json_object_get(a, "list"));
    const char *why = !json_is_integer(id) || json_integer_value(id) < 1      ? "id"
                      : !list || !name_ok(list)                               ? "list"
                      : !hex64(json_string_value(json_object_get(a, "txid"))) ? "txid"
                      : !json_is_integer(h) || json_integer_value(h) < 0      ? "height"
                      : !json_is_object(item) || !json_is_string(json_object_get(item, "kind")) ||
                              !json_is_string(json_object_get(item, "value"))
                          ? "item"
                      : owner && (!json_is_string(owner) ||
                                  strlen(json_string_value(owner)) >= sizeof sv->lists->owner)
                          ? "owner"
                      : hook && !json_is_string(json_object_get(hook, "url")) ? "webhook"
                                                                              : NULL;
    if (why) {
        fprintf(stderr, "cointrail: %s:%zu: alert skipped: field %s missing or invalid\n", path,
                line, why);
        return 0;
    }
    json_t *rec = json_deep_copy(a);
    if (!owner) json_object_set_new(rec, "owner", json_string(""));
    if (hook) /* delivery state comes from the journal; an old file's "state" is stale */
        json_object_set_new(rec, "webhook",
                            json_pack("{s:O, s:s, s:i, s:o}", "url", json_object_get(hook, "url"),
                                      "state", "pending", "attempts", 0, "idempotency_key",
                                      idem_key(rec)));
    uint64_t n = (uint64_t)json_integer_value(id);
    if (n >= sv->watch->next_id) sv->watch->next_id = n + 1;
    json_array_append_new(sv->alerts, rec);
    return 0;
}

/* Index of the first alert with id > after (alerts are in id order). Caller holds sv->lock. */
static size_t first_after(json_t *alerts, json_int_t after)
{
    size_t lo = 0, hi = json_array_size(alerts);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (alert_id(json_array_get(alerts, mid)) <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int by_id(const void *a, const void *b)
{
    json_int_t x = alert_id(*(json_t *const *)a), y = alert_id(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

/* Files written before ids were monotonic can repeat an id or be out of order: sort (stably
 * enough: equal ids keep file order through the index tie-break below) so paging by id works. */
static int sort_alerts(server *sv)
{
    size_t n = json_array_size(sv->alerts);
    for (size_t i = 1; i < n; i++)
        if (alert_id(json_array_get(sv->alerts, i)) <= alert_id(json_array_get(sv->alerts, i - 1)))
            goto unsorted;
    return 0;
unsorted:;
    json_t **v = malloc(n * sizeof *v);
    json_t *out = json_array();
    if (!v || !out) return free(v), json_decref(out), -1;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(sv->alerts, i);
    /* insertion-sort-like stability is not needed for correctness: duplicates of an id are
     * distinct alerts and both stay */
    qsort(v, n, sizeof *v, by_id);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(sv->alerts);
    sv->alerts = out;
    fprintf(stderr, "cointrail: alerts.jsonl: ids out of order or repeated (an older version): "
                    "sorted by id\n");
    return 0;
}

static json_t *find_alert(server *sv, json_int_t id)
{
    size_t i = first_after(sv->alerts, id - 1);
    json_t *a = json_array_get(sv->alerts, i);
    return a && alert_id(a) == id ? a : NULL;
}

static int load_outcome(server *sv, json_t *d, const char *path, size_t line)
{
    json_t *a = find_alert(sv, json_integer_value(json_object_get(d, "id")));
    json_t *hook = json_object_get(a, "webhook");
    const char *state = json_string_value(json_object_get(d, "state"));
    if (!hook || !state || !json_is_integer(json_object_get(d, "attempts"))) {
        fprintf(stderr, "cointrail: %s:%zu: delivery record of no webhook alert skipped\n", path,
                line);
        return 0;
    }
    /* the last outcome's status or error, not an older attempt's other one */
    json_object_del(hook, json_object_get(d, "status") ? "error" : "status");
    json_object_update(hook, d);
    json_object_del(hook, "id");
    return 0;
}

/* Rewrite the journal with one line per alert that has an outcome, then open it to append. */
static int open_journal(server *sv, util_err *err)
{
    char path[4096];
    path_of(sv, "alerts.delivery", path, sizeof path);
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (size_t i = 0; i < json_array_size(sv->alerts); i++) {
        json_t *a = json_array_get(sv->alerts, i), *hook = json_object_get(a, "webhook");
        if (!hook || !json_integer_value(json_object_get(hook, "attempts"))) continue;
        json_t *d = json_deep_copy(hook);
        json_object_del(d, "url");
        json_object_del(d, "idempotency_key");
        json_object_set_new(d, "id", json_integer(alert_id(a)));
        char *l = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(d);
        size_t n = l ? strlen(l) : 0;
        if (l && len + n + 2 > cap) {
            cap = (len + n + 2) * 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                free(l), l = NULL;
            else
                buf = nb;
        }
        if (!l) {
            free(buf);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        memcpy(buf + len, l, n);
        buf[len + n] = '\n';
        len += n + 1;
        free(l);
    }
    int rc = util_replace_file_mode(path, buf ? buf : "", len, 0600, err);
    free(buf);
    if (rc) return rc;
    sv->watch->journal_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (sv->watch->journal_fd < 0) return util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static void *scan_main(void *arg);
static void *hook_main(void *arg);

/* Queue every alert whose webhook has no final outcome (caller: init, before the threads). */
static int requeue(server *sv)
{
    struct serve_watch *w = sv->watch;
    double now = util_now();
    for (size_t i = 0; i < json_array_size(sv->alerts); i++) {
        json_t *hook = json_object_get(json_array_get(sv->alerts, i), "webhook");
        if (!hook || strcmp(json_string_value(json_object_get(hook, "state")), "pending")) continue;
        const char *no =
            serve_hook_check(w->allow, json_string_value(json_object_get(hook, "url")));
        if (no) { /* not journaled: a restart with the URL allowed again delivers it */
            json_object_set_new(hook, "state", json_string("not_allowed"));
            json_object_set_new(hook, "error", json_string(no));
            continue;
        }
        if ((uint64_t)json_integer_value(json_object_get(hook, "attempts")) >= w->attempts) {
            json_object_set_new(hook, "state", json_string("failed"));
            continue;
        }
        if (heap_push(w, (job){now, i})) return -1;
    }
    return 0;
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
    path_of(sv, "watchlists.json", path, sizeof path);
    if (access(path, F_OK) == 0) {
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
    path_of(sv, "alerts.jsonl", path, sizeof path);
    if ((rc = load_jsonl(sv, path, load_alert, err))) return rc;
    if (sort_alerts(sv)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    path_of(sv, "alerts.delivery", path, sizeof path);
    if ((rc = load_jsonl(sv, path, load_outcome, err))) return rc;
    if ((rc = open_journal(sv, err))) return rc;

    const store_totals *t = store_get_totals(sv->cur->s);
    path_of(sv, "alerts.state", path, sizeof path);
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
        tip_of(sv->cur->s, t->blocks, sv->scanned_hash);
    }
    if (f) fclose(f);
    if (seen_rebuild(sv) || requeue(sv)) return util_errf(err, UTIL_ENOMEM, "out of memory");

    w->generation = 1; /* scan at once: blocks may have been imported while the service was down */
    if (pthread_create(&w->scan_tid, NULL, scan_main, sv))
        return util_errf(err, UTIL_EIO, "cannot start the alert scan thread");
    w->scan_started = 1;
    w->hook_tid = calloc(w->workers, sizeof *w->hook_tid);
    if (!w->hook_tid) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (; w->hooks_started < w->workers; w->hooks_started++)
        if (pthread_create(&w->hook_tid[w->hooks_started], NULL, hook_main, sv))
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
        seen_clear(w);
        free(w->heap);
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

/* ---- the scan thread ---- */

typedef struct scan_list {
    char owner[64], name[64], webhook[512];
} scan_list;

typedef struct scan_ctx {
    server *sv;
    const scan_list *lists;
    int fd;
    off_t batch_start; /* size of alerts.jsonl before the batch's first line */
    json_t *batch;     /* records written, not yet fsynced nor visible */
    double batch_t0;
} scan_ctx;

static int on_alert(json_t *alert, void *argp)
{
    scan_ctx *x = argp;
    struct serve_watch *w = x->sv->watch;
    const scan_list *sl =
        &x->lists[strtoul(json_string_value(json_object_get(alert, "list")), NULL, 10)];
    json_t *rec = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)w->next_id, "owner", sl->owner,
                            "list", sl->name);
    if (!rec) return -1;
    const char *k;
    json_t *v;
    json_object_foreach(alert, k, v)
    {
        if (strcmp(k, "list")) json_object_set(rec, k, v);
    }
    char *key = alert_key(rec);
    if (!key) return json_decref(rec), -1;
    if (seen_has(w, key)) {
        free(key);
        json_decref(rec);
        return 0;
    }
    if (sl->webhook[0]) json_object_set_new(rec, "webhook", json_pack("{s:s}", "url", sl->webhook));
    char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n = line ? strlen(line) : 0;
    char *nl = line ? realloc(line, n + 2) : NULL;
    if (nl) nl[n] = '\n', nl[n + 1] = 0;
    int ok = nl && !util_write_all(x->fd, nl, n + 1); /* the line and its newline: one write */
    free(nl ? nl : line);
    if (!ok) {
        fprintf(stderr, "cointrail: cannot record an alert in alerts.jsonl: %s\n", strerror(errno));
        free(key);
        json_decref(rec);
        return -1;
    }
    w->next_id++;
    if (!json_array_size(x->batch)) x->batch_t0 = util_now();
    json_array_append_new(x->batch, rec);
    if (seen_add(w, key)) return -1;
    return 0;
}

/* Make the batch durable (one fsync), then visible and queued. On failure the batch's lines are
 * cut from the file, and the keys rebuilt, so that the retry records them again. */
static int flush_batch(scan_ctx *x, uint64_t scanned, const uint8_t hash[32])
{
    server *sv = x->sv;
    struct serve_watch *w = sv->watch;
    size_t n = json_array_size(x->batch);
    if (n && fsync(x->fd)) {
        fprintf(stderr, "cointrail: cannot fsync alerts.jsonl: %s\n", strerror(errno));
        return -1;
    }
    double now = util_now();
    pthread_mutex_lock(&sv->lock);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_array_get(x->batch, i), *hook = json_object_get(rec, "webhook");
        json_array_append(sv->alerts, rec);
        if (!hook) continue;
        const char *no =
            serve_hook_check(w->allow, json_string_value(json_object_get(hook, "url")));
        json_object_set_new(hook, "state", json_string(no ? "not_allowed" : "pending"));
        json_object_set_new(hook, "attempts", json_integer(0));
        json_object_set_new(hook, "idempotency_key", idem_key(rec));
        if (no)
            json_object_set_new(hook, "error", json_string(no));
        else if (heap_push(w, (job){now, json_array_size(sv->alerts) - 1}))
            json_object_set_new(hook, "error", json_string("out of memory: not queued"));
    }
    if (n) pthread_cond_broadcast(&w->hook_cv);
    sv->scanned_height = scanned;
    memcpy(sv->scanned_hash, hash, 32);
    pthread_mutex_unlock(&sv->lock);
    json_array_clear(x->batch);
    x->batch_start = lseek(x->fd, 0, SEEK_END);
    return 0;
}

static int save_state(server *sv, uint64_t height, const uint8_t hash[32])
{
    char hex[65], buf[128], path[4096];
    util_err err = {0};
    util_hex(hex, hash, 32);
    int n = snprintf(buf, sizeof buf, "height %" PRIu64 " hash %s\n", height, hex);
    path_of(sv, "alerts.state", path, sizeof path);
    if (util_replace_file(path, buf, (size_t)n, &err)) {
        fprintf(stderr, "cointrail: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Scan the blocks imported since the last scan, block range by block range (so a stop is not
 * held up by a long scan, and progress is kept). 0, or -1 to be retried at the next poll. */
static int scan_once(server *sv)
{
    struct serve_watch *w = sv->watch;
    snap *sn = serve_snap_get(sv);
    const store_totals *t = store_get_totals(sn->s);
    scan_ctx x = {sv, NULL, -1, 0, json_array(), 0};
    risk_watch_item *items = NULL;
    scan_list *lists = NULL;
    int rc = -1;
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
    items = malloc((n ? n : 1) * sizeof *items);
    lists = malloc((sv->n_lists ? sv->n_lists : 1) * sizeof *lists);
    n = 0;
    for (size_t i = 0; items && lists && i < sv->n_lists; i++) {
        memcpy(lists[i].owner, sv->lists[i].owner, sizeof lists[i].owner);
        memcpy(lists[i].name, sv->lists[i].name, sizeof lists[i].name);
        memcpy(lists[i].webhook, sv->lists[i].webhook, sizeof lists[i].webhook);
        for (size_t j = 0; j < sv->lists[i].n_items; j++) {
            items[n] = sv->lists[i].items[j];
            snprintf(items[n++].list, sizeof items->list, "%zu", i); /* mapped back in on_alert */
        }
    }
    pthread_mutex_unlock(&sv->lock);
    if (!items || !lists || !x.batch) goto out;
    x.lists = lists;
    char path[4096];
    path_of(sv, "alerts.jsonl", path, sizeof path);
    x.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (x.fd < 0) {
        fprintf(stderr, "cointrail: %s: %s (alert scan retried at the next poll)\n", path,
                strerror(errno));
        goto out;
    }
    x.batch_start = lseek(x.fd, 0, SEEK_END);
    uint64_t step = !n ? UINT64_MAX : n > 1000 ? 1 : 32;
    uint8_t hash[32];
    for (uint64_t h = from;; h += step) {
        uint64_t to = t->blocks - h > step ? h + step : t->blocks;
        util_err err = {0};
        if (n && h < to &&
            risk_watch_scan(sn->s, sn->labels, sn->clusters, items, n, h, to, on_alert, &x, &err)) {
            fprintf(stderr, "cointrail: alert scan failed (retried at the next poll): %s\n",
                    err.msg[0] ? err.msg : "cannot record an alert");
            goto cut;
        }
        tip_of(sn->s, to, hash);
        int last = to >= t->blocks;
        if (last || json_array_size(x.batch) >= SCAN_BATCH ||
            (json_array_size(x.batch) && util_now() - x.batch_t0 > SCAN_FLUSH_S)) {
            if (flush_batch(&x, to, hash)) goto cut;
        }
        if (last) break;
        pthread_mutex_lock(&sv->lock);
        int stop = w->stop;
        pthread_mutex_unlock(&sv->lock);
        if (stop) {
            if (flush_batch(&x, to, hash)) goto cut;
            break;
        }
    }
    pthread_mutex_lock(&sv->lock);
    uint64_t sh = sv->scanned_height;
    memcpy(hash, sv->scanned_hash, 32);
    pthread_mutex_unlock(&sv->lock);
    rc = save_state(sv, sh, hash);
    goto out;
cut: /* the unflushed lines never became visible: take them back so the retry is clean */
    if (json_array_size(x.batch) && ftruncate(x.fd, x.batch_start))
        fprintf(stderr, "cointrail: cannot cut unrecorded alerts from alerts.jsonl: %s\n",
                strerror(errno));
    json_array_clear(x.batch);
    pthread_mutex_lock(&sv->lock);
    if (seen_rebuild(sv)) fprintf(stderr, "cointrail: out of memory in the alert scan\n");
    pthread_mutex_unlock(&sv->lock);
out:
    if (x.fd >= 0) close(x.fd);
    json_decref(x.batch);
    free(items);
    free(lists);
    serve_snap_put(sn);
    return rc;
}

static void wait_until(pthread_cond_t *cv, pthread_mutex_t *m, double t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double d = t - util_now();
    if (d < 0) d = 0;
    ts.tv_sec += (time_t)d;
    ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(cv, m, &ts);
}

static void *scan_main(void *arg)
{
    server *sv = arg;
    struct serve_watch *w = sv->watch;
    int failed = 0;
    pthread_mutex_lock(&sv->lock);
    while (!w->stop) {
        if (failed) { /* a failed write is retried at the next poll, not at the next change */
            wait_until(&w->scan_cv, &sv->lock, util_now() + sv->o.poll_ms / 1000.0);
            if (w->stop) break;
        } else if (w->generation == w->done_generation) {
            pthread_cond_wait(&w->scan_cv, &sv->lock);
            continue;
        }
        uint64_t g = w->generation;
        pthread_mutex_unlock(&sv->lock);
        failed = scan_once(sv) != 0;
        pthread_mutex_lock(&sv->lock);
        if (!failed) w->done_generation = g;
    }
    pthread_mutex_unlock(&sv->lock);
    return NULL;
}

/* ---- the webhook threads ---- */

static void journal(server *sv, json_int_t id, json_t *hook)
{
    json_t *d = json_deep_copy(hook);
    json_object_del(d, "url");
    json_object_del(d, "idempotency_key");
    json_object_set_new(d, "id", json_integer(id));
    char *l = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    size_t n = l ? strlen(l) : 0;
    char *nl = l ? realloc(l, n + 2) : NULL;
    if (nl) nl[n] = '\n';
    int fd = sv->watch->journal_fd;
    if (!nl || fd < 0 || util_write_all(fd, nl, n + 1) || fdatasync(fd))
        fprintf(stderr, "cointrail: alerts.delivery: cannot journal alert %lld: %s\n",
                (long long)id, strerror(errno));
    free(nl ? nl : l);
}

static void *hook_main(void *arg)
{
    server *sv = arg;
    struct serve_watch *w = sv->watch;
    pthread_mutex_lock(&sv->lock);
    while (!w->stop) {
        if (!w->n_heap) {
            pthread_cond_wait(&w->hook_cv, &sv->lock);
            continue;
        }
        if (w->heap[0].due > util_now()) {
            wait_until(&w->hook_cv, &sv->lock, w->heap[0].due);
            continue;
        }
        job j = heap_pop(w);
        json_t *rec = json_array_get(sv->alerts, j.idx), *hook = json_object_get(rec, "webhook");
        json_int_t id = alert_id(rec);
        char url[512], key[96];
        snprintf(url, sizeof url, "%s", json_string_value(json_object_get(hook, "url")));
        snprintf(key, sizeof key, "%s",
                 json_string_value(json_object_get(hook, "idempotency_key")));
        unsigned attempts = (unsigned)json_integer_value(json_object_get(hook, "attempts")) + 1;
        json_t *copy = json_deep_copy(rec);
        json_object_del(copy, "webhook");
        char *body = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(copy);
        pthread_mutex_unlock(&sv->lock);

        long status = 0;
        char why[512] = "out of memory";
        int rc = body ? serve_hook_post(w->allow, url, body, key, WEBHOOK_TIMEOUT_MS, &status, why,
                                        sizeof why)
                      : SERVE_HOOK_FAILED;
        free(body);
        /* 2xx delivered; 3xx (redirects are not followed) and 4xx are the receiver's final
         * answer, except 408, 425 and 429, which ask to come back, like 5xx and no answer */
        const char *state = rc == SERVE_HOOK_NOT_ALLOWED ? "not_allowed"
                            : rc                         ? "pending"
                            : status / 100 == 2          ? "delivered"
                            : status == 408 || status == 425 || status == 429 || status >= 500
                                ? "pending"
                                : "rejected";
        if (!strcmp(state, "pending") && attempts >= w->attempts) state = "failed";
        json_t *d = json_pack("{s:s, s:I}", "state", state, "attempts", (json_int_t)attempts);
        if (!rc)
            json_object_set_new(d, "status", json_integer(status));
        else
            json_object_set_new(d, "error", json_string(why));
        if (rc != SERVE_HOOK_NOT_ALLOWED) journal(sv, id, d);

        pthread_mutex_lock(&sv->lock);
        hook = json_object_get(json_array_get(sv->alerts, j.idx), "webhook");
        json_object_del(hook, rc ? "status" : "error");
        json_object_update(hook, d);
        json_decref(d);
        if (!strcmp(state, "pending")) {
            double delay = BACKOFF_FIRST_S;
            for (unsigned i = 1; i < attempts && delay < BACKOFF_MAX_S; i++)
                delay *= 2;
            if (delay > BACKOFF_MAX_S) delay = BACKOFF_MAX_S;
            if (heap_push(w, (job){util_now() + delay, j.idx}))
                json_object_set_new(hook, "state", json_string("failed"));
        }
    }
    pthread_mutex_unlock(&sv->lock);
    return NULL;
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
    if (save_lists(sv, &err)) { /* keep memory and file in agreement */
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
    if (strcmp(url, "/v1/watchlists") && (!name || !name_ok(name)))
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
            last = alert_id(a);
            break;
        }
    }
    for (size_t i = first_after(sv->alerts, (json_int_t)after);
         i < n && json_array_size(arr) < limit; i++) {
        json_t *a = json_array_get(sv->alerts, i);
        if (!all && strcmp(json_string_value(json_object_get(a, "owner")), owner)) continue;
        if (list && strcmp(json_string_value(json_object_get(a, "list")), list)) continue;
        json_array_append_new(arr, json_deep_copy(a));
    }
    json_t *out =
        json_pack("{s:o, s:I, s:I, s:I}", "alerts", arr, "last_id", last, "scanned_height",
                  (json_int_t)sv->scanned_height, "delivery_queue", (json_int_t)sv->watch->n_heap);
    pthread_mutex_unlock(&sv->lock);
    return serve_send_json(c, r, 200, out);
}
