/* serve: the alerts file (alerts.jsonl, alerts.state) and the scan thread that appends to it;
 * the file formats and crash safety are described at the top of serve_watch.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "../crypto/crypto.h"
#include "serve_int.h"

#define ALERT_REORG_DEPTH 10
#define SCAN_BATCH 1024  /* alerts per fsync of alerts.jsonl */
#define SCAN_FLUSH_S 0.5 /* ... or sooner if the batch is this old */

/* ---- the duplicate check ---- */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* The key of an alert: owner, list, txid, item kind and value. malloc'd, caller frees. */
char *serve_alert_key(json_t *a)
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

void serve_seen_clear(struct serve_watch *w)
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
int serve_seen_rebuild(server *sv)
{
    struct serve_watch *w = sv->watch;
    serve_seen_clear(w);
    uint64_t low =
        sv->scanned_height > ALERT_REORG_DEPTH ? sv->scanned_height - ALERT_REORG_DEPTH : 0;
    for (size_t i = json_array_size(sv->alerts); i-- > 0;) {
        json_t *a = json_array_get(sv->alerts, i);
        if ((uint64_t)json_integer_value(json_object_get(a, "height")) < low) continue;
        char *k = serve_alert_key(a);
        if (!k || seen_add(w, k)) return -1;
    }
    return 0;
}

/* ---- loading ---- */

json_int_t serve_alert_id(json_t *a)
{
    return json_integer_value(json_object_get(a, "id"));
}

/* The Idempotency-Key of an alert's deliveries: its id and the start of its txid, both from
 * the durable record, so every attempt, before and after a restart, sends the same key. */
static json_t *idem_key(const server *sv, json_t *rec)
{
    char key[96];
    if (sv->o.state_url) {
        /* replicas number their alerts each on its own: the key is made of what names the
         * alert on every replica, so that a receiver sees one key whoever delivers it */
        char *k = serve_alert_key(rec);
        if (!k) return NULL;
        uint8_t d[32];
        crypto_sha256(k, strlen(k), d);
        free(k);
        memcpy(key, "s-", 2);
        util_hex(key + 2, d, 16);
        return json_string(key);
    }
    snprintf(key, sizeof key, "%lld-%.16s", (long long)serve_alert_id(rec),
             json_string_value(json_object_get(rec, "txid")));
    return json_string(key);
}

/* Read the JSON-lines file path (absent: nothing to do), calling fn for each parsed line (rec
 * borrowed; fn returns 0 to keep going). A tail after the last good line (a line without its
 * newline, or one that does not parse and has no good line after it) is a write torn by a crash:
 * the file is cut back to the end of the last good line, so that the next append starts on a
 * line of its own. A bad line followed by good ones is skipped with a warning. The file is made
 * 0600 (it names webhook URLs). */
int serve_load_jsonl(server *sv, const char *path, serve_record_fn fn, util_err *err)
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

int serve_load_alert(server *sv, json_t *a, const char *path, size_t line)
{
    json_t *id = json_object_get(a, "id"), *h = json_object_get(a, "height");
    json_t *item = json_object_get(a, "item"), *hook = json_object_get(a, "webhook");
    json_t *owner = json_object_get(a, "owner");
    const char *list = json_string_value(json_object_get(a, "list"));
    const char *why = !json_is_integer(id) || json_integer_value(id) < 1      ? "id"
                      : !list || !serve_name_ok(list)                         ? "list"
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
                                      idem_key(sv, rec)));
    uint64_t n = (uint64_t)json_integer_value(id);
    if (n >= sv->watch->next_id) sv->watch->next_id = n + 1;
    json_array_append_new(sv->alerts, rec);
    return 0;
}

/* Index of the first alert with id > after (alerts are in id order). Caller holds sv->lock. */
size_t serve_first_after(json_t *alerts, json_int_t after)
{
    size_t lo = 0, hi = json_array_size(alerts);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (serve_alert_id(json_array_get(alerts, mid)) <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int by_id(const void *a, const void *b)
{
    json_int_t x = serve_alert_id(*(json_t *const *)a), y = serve_alert_id(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

/* Files written before ids were monotonic can repeat an id or be out of order: sort (stably
 * enough: equal ids keep file order through the index tie-break below) so paging by id works. */
int serve_sort_alerts(server *sv)
{
    size_t n = json_array_size(sv->alerts);
    for (size_t i = 1; i < n; i++)
        if (serve_alert_id(json_array_get(sv->alerts, i)) <=
            serve_alert_id(json_array_get(sv->alerts, i - 1)))
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

json_t *serve_find_alert(server *sv, json_int_t id)
{
    size_t i = serve_first_after(sv->alerts, id - 1);
    json_t *a = json_array_get(sv->alerts, i);
    return a && serve_alert_id(a) == id ? a : NULL;
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
    char *key = serve_alert_key(rec);
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
        json_object_set_new(hook, "idempotency_key", idem_key(sv, rec));
        if (no)
            json_object_set_new(hook, "error", json_string(no));
        else if (serve_heap_push(w, (job){now, json_array_size(sv->alerts) - 1}))
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
    serve_path_of(sv, "alerts.state", path, sizeof path);
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
    serve_path_of(sv, "alerts.jsonl", path, sizeof path);
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
        serve_tip_of(sn->s, to, hash);
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
    if (serve_seen_rebuild(sv)) fprintf(stderr, "cointrail: out of memory in the alert scan\n");
    pthread_mutex_unlock(&sv->lock);
out:
    if (x.fd >= 0) close(x.fd);
    json_decref(x.batch);
    free(items);
    free(lists);
    serve_snap_put(sn);
    return rc;
}

void serve_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, double t)
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

void *serve_scan_main(void *arg)
{
    server *sv = arg;
    struct serve_watch *w = sv->watch;
    int failed = 0;
    pthread_mutex_lock(&sv->lock);
    while (!w->stop) {
        if (failed) { /* a failed write is retried at the next poll, not at the next change */
            serve_wait_until(&w->scan_cv, &sv->lock, util_now() + sv->o.poll_ms / 1000.0);
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
