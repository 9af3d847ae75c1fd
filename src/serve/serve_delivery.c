/* serve: webhook delivery: the queue of due attempts, the delivery journal (alerts.delivery)
 * and the webhook threads; the file formats and crash safety are described at the top of
 * serve_watch.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve_int.h"

#define WEBHOOK_TIMEOUT_MS 2000L
#define BACKOFF_FIRST_S 1.0
#define BACKOFF_MAX_S 300.0

/* ---- the delivery queue (a binary heap on due time, under sv->lock) ---- */

static int job_before(const job *a, const job *b)
{
    return a->due < b->due || (a->due == b->due && a->idx < b->idx);
}

int serve_heap_push(struct serve_watch *w, job j)
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

/* ---- receivers (under sv->lock) ---- */

/* A receiver: one origin (scheme://host:port) of webhook URLs. Jobs due while it has as many
 * attempts in flight as it may wait here (parked) instead of in the heap, until one ends. */
struct serve_dest {
    char origin[256];
    unsigned in_flight; /* attempts running now */
    unsigned failures;  /* consecutive attempts without an answer (or 5xx, 408, 425, 429) */
    job *parked;
    size_t n_parked, cap_parked;
};

static void origin_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t len = strcspn(p, "/?#");
    snprintf(out, n, "%.*s", (int)((size_t)(p - url) + len), url);
}

static struct serve_dest *dest_of(struct serve_watch *w, const char *url)
{
    char o[256];
    origin_of(url, o, sizeof o);
    for (size_t i = 0; i < w->n_dests; i++)
        if (!strcmp(w->dests[i].origin, o)) return &w->dests[i];
    if (w->n_dests == w->cap_dests) {
        size_t nc = w->cap_dests ? w->cap_dests * 2 : 8;
        struct serve_dest *nd = realloc(w->dests, nc * sizeof *nd);
        if (!nd) return NULL;
        w->dests = nd;
        w->cap_dests = nc;
    }
    struct serve_dest *d = &w->dests[w->n_dests++];
    memset(d, 0, sizeof *d);
    memcpy(d->origin, o, sizeof d->origin);
    return d;
}

static int park(struct serve_watch *w, struct serve_dest *d, job j)
{
    if (d->n_parked == d->cap_parked) {
        size_t nc = d->cap_parked ? d->cap_parked * 2 : 16;
        job *np = realloc(d->parked, nc * sizeof *np);
        if (!np) return -1;
        d->parked = np;
        d->cap_parked = nc;
    }
    d->parked[d->n_parked++] = j;
    w->n_parked++;
    return 0;
}

/* Back to the heap (an attempt to the receiver ended), each at its own due time. */
static void unpark(struct serve_watch *w, struct serve_dest *d)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->n_parked; i++) {
        if (serve_heap_push(w, d->parked[i]))
            d->parked[kept++] = d->parked[i]; /* out of memory: stays parked */
        else
            w->n_parked--;
    }
    d->n_parked = kept;
}

void serve_dests_free(struct serve_watch *w)
{
    for (size_t i = 0; i < w->n_dests; i++)
        free(w->dests[i].parked);
    free(w->dests);
    w->dests = NULL;
    w->n_dests = w->cap_dests = w->n_parked = 0;
}

size_t serve_queue_length(const struct serve_watch *w)
{
    return w->n_heap + w->n_parked;
}

static double backoff(unsigned attempts)
{
    double delay = BACKOFF_FIRST_S;
    for (unsigned i = 1; i < attempts && delay < BACKOFF_MAX_S; i++)
        delay *= 2;
    return delay > BACKOFF_MAX_S ? BACKOFF_MAX_S : delay;
}

/* ---- the delivery journal, and the queue at start-up ---- */

int serve_load_outcome(server *sv, json_t *d, const char *path, size_t line)
{
    json_t *a = serve_find_alert(sv, json_integer_value(json_object_get(d, "id")));
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
int serve_open_journal(server *sv, util_err *err)
{
    char path[4096];
    serve_path_of(sv, "alerts.delivery", path, sizeof path);
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (size_t i = 0; i < json_array_size(sv->alerts); i++) {
        json_t *a = json_array_get(sv->alerts, i), *hook = json_object_get(a, "webhook");
        if (!hook || !json_integer_value(json_object_get(hook, "attempts"))) continue;
        json_t *d = json_deep_copy(hook);
        json_object_del(d, "url");
        json_object_del(d, "idempotency_key");
        json_object_set_new(d, "id", json_integer(serve_alert_id(a)));
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

/* Queue every alert whose webhook has no final outcome (caller: init, before the threads). */
int serve_requeue(server *sv)
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
        if (serve_heap_push(w, (job){now, i})) return -1;
    }
    return 0;
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

/* With --state: take the alert's delivery lease (called and returning with sv->lock held; the
 * database is asked without it). STATE_LEASE_GOT with *key (malloc'd) to finish the lease
 * with; otherwise the job is handled: requeued for when the other replica's lease expires (or
 * the database is back), or marked as the other replica finished it. */
static int lease_take(server *sv, json_t *rec, job *j, char **key)
{
    struct serve_watch *w = sv->watch;
    *key = serve_alert_key(rec);
    if (!*key) {
        j->due = util_now() + 1;
        serve_heap_push(w, *j);
        return 0;
    }
    unsigned lease_ms = sv->o.lease_ms ? sv->o.lease_ms : 10000;
    pthread_mutex_unlock(&sv->lock);
    int outcome = 0;
    int64_t until = 0;
    char final[64] = "", by[64] = "";
    util_err err = {0};
    int rc = state_delivery_lease(sv->st, *key, sv->replica, lease_ms, &outcome, &until, final, by,
                                  &err);
    pthread_mutex_lock(&sv->lock);
    if (!rc && outcome == STATE_LEASE_GOT) return STATE_LEASE_GOT;
    free(*key);
    *key = NULL;
    json_t *hook = json_object_get(json_array_get(sv->alerts, j->idx), "webhook");
    if (rc) {
        /* nobody can tell whether another replica delivers it: wait for the database rather
         * than risk a second delivery */
        fprintf(stderr, "cointrail: alert delivery waits for the state database: %s\n", err.msg);
        j->due = util_now() + 1;
        serve_heap_push(w, *j);
        return 0;
    }
    if (outcome == STATE_LEASE_HELD) {
        double wait = (double)(until - state_now_ms()) / 1000.0;
        j->due = util_now() + (wait > 0 ? wait : 0) + 0.05;
        serve_heap_push(w, *j);
        return STATE_LEASE_HELD;
    }
    json_object_set_new(hook, "state", json_string(final));
    json_object_set_new(hook, "delivered_by", json_string(by));
    return STATE_LEASE_DONE;
}

void *serve_webhook_main(void *arg)
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
            serve_wait_until(&w->hook_cv, &sv->lock, w->heap[0].due);
            continue;
        }
        job j = heap_pop(w);
        json_t *rec = json_array_get(sv->alerts, j.idx), *hook = json_object_get(rec, "webhook");
        json_int_t id = serve_alert_id(rec);

        char url[512], key[96];
        snprintf(url, sizeof url, "%s", json_string_value(json_object_get(hook, "url")));
        /* A receiver whose last attempt failed gets one attempt at a time, and all such
         * attempts together leave a worker free; one that answers may use all workers but one.
         * So a dead or hanging receiver never holds up the others (each alert keeps its own
         * attempts and backoff). */
        unsigned spare = w->workers > 1 ? w->workers - 1 : 1;
        struct serve_dest *dst = dest_of(w, url);
        if (dst && dst->in_flight >= (dst->failures ? 1 : spare)) {
            if (!park(w, dst, j)) continue; /* back when the attempt in flight ends */
        } else if (dst && dst->failures && w->probing >= spare) {
            j.due = util_now() + 0.1; /* not attempted, so no attempt counted */
            if (!serve_heap_push(w, j)) continue;
        }
        char *lease_key = NULL;
        if (sv->st) { /* replicas: deliver only under the alert's lease (state.h) */
            if (lease_take(sv, rec, &j, &lease_key) != STATE_LEASE_GOT) {
                if (dst && (dst = dest_of(w, url))) unpark(w, dst);
                continue; /* requeued, or finished by another replica */
            }
            dst = dest_of(w, url); /* the lock was let go: dests may have moved */
            rec = json_array_get(sv->alerts, j.idx);
            hook = json_object_get(rec, "webhook");
        }
        if (dst) {
            dst->in_flight++;
            if (dst->failures) w->probing++;
        }
        int probe = dst && dst->failures;
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
        if (lease_key) {
            util_err lerr = {0};
            /* a receiver's answer ends the delivery for every replica; no answer gives the lease
             * back for the next attempt (here or elsewhere) */
            const char *final = !strcmp(state, "not_allowed") ? "pending" : state;
            if (state_delivery_finish(sv->st, lease_key, sv->replica, final, &lerr))
                fprintf(stderr, "cointrail: alert %lld: %s\n", (long long)id, lerr.msg);
            free(lease_key);
        }

        pthread_mutex_lock(&sv->lock);
        hook = json_object_get(json_array_get(sv->alerts, j.idx), "webhook");
        json_object_del(hook, rc ? "status" : "error");
        json_object_update(hook, d);
        json_decref(d);
        double now = util_now();
        if (!strcmp(state, "pending") && serve_heap_push(w, (job){now + backoff(attempts), j.idx}))
            json_object_set_new(hook, "state", json_string("failed"));
        /* dests may have moved (realloc by another worker): find it again */
        if (dst && (dst = dest_of(w, url))) {
            dst->in_flight--;
            if (probe) w->probing--;
            int answered =
                rc == 0 && !(status == 408 || status == 425 || status == 429 || status >= 500);
            if (answered)
                dst->failures = 0;
            else if (rc != SERVE_HOOK_NOT_ALLOWED)
                dst->failures++;
            unpark(w, dst);
            pthread_cond_broadcast(&w->hook_cv);
        }
    }
    pthread_mutex_unlock(&sv->lock);
    return NULL;
}
