/* serve: --state (docs/state.md). The shared database holds the analyst labels, watchlists and
 * API keys of every replica and the delivery leases. A thread follows it: on PostgreSQL it waits
 * for the NOTIFY each change sends (and reads the change serials at least every second, which
 * also catches a notification lost while the server was away); on SQLite it polls the serials
 * every 100 ms. A change of labels is written into the store's labels.db and exposure indexes
 * (serve_expo.c), then opens a new snapshot with them; watchlists and keys are replaced in
 * memory. When the database goes away everything stays as last loaded, health
 * says so, and the next round reconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../case/case.h"
#include "serve_int.h"

#define SQLITE_POLL_MS 100
#define PG_WAIT_MS 1000

static void set_error(server *sv, const char *msg)
{
    pthread_mutex_lock(&sv->lock);
    int was = sv->state_error[0] != 0;
    snprintf(sv->state_error, sizeof sv->state_error, "%s", msg ? msg : "");
    pthread_mutex_unlock(&sv->lock);
    if (msg && !was) fprintf(stderr, "cointrail: state: %s (serving what was last loaded)\n", msg);
    if (!msg && was) fprintf(stderr, "cointrail: state: the database is back\n");
}

static void publish_labels(server *sv, state_labels ls)
{
    pthread_mutex_lock(&sv->lock);
    state_labels old = sv->st_labels;
    sv->st_labels = ls;
    sv->st_labels_gen++;
    pthread_mutex_unlock(&sv->lock);
    state_labels_free(&old);
}

#define EXPO_RETRY_S 2.0

/* The store's labels.db and exposure indexes to ls (serve_expo.c); a failure is retried. */
static void materialise(server *sv, const state_labels *ls)
{
    util_err xe = {0};
    sv->expo_retry = serve_expo_materialise(sv, ls, &xe) != 0;
    sv->expo_retry_at = util_now() + EXPO_RETRY_S;
}

/* At the start: before the first snapshot, nothing else runs yet. */
static int load_labels(server *sv, util_err *err)
{
    state_labels ls;
    int rc = state_labels_all(sv->st, &ls, err);
    if (rc) return rc;
    publish_labels(sv, ls);
    materialise(sv, &sv->st_labels);
    return 0;
}

/* A change, in two snapshots. First the new labels alone, at once: a label reaches every
 * replica within the state's notification delay (bench/state_propagation.sh), not after the
 * index update, which takes seconds on a large store (bench/replica_exposure.sh). That snapshot
 * finds the exposure index stale against its labels (exposure_check), so screening says
 * "stale" and traces, as any reader of a stale index does, rather than answer old amounts.
 * Then the store's labels.db and exposure index brought to them and a second snapshot with
 * both; refresh_lock is held across that step, so no snapshot opens between labels.db and the
 * index's commit. *swapped: a new snapshot was swapped in. Watchlist and key changes wait for
 * the update (the same thread). */
static int reload_labels(server *sv, int *swapped, util_err *err)
{
    state_labels ls;
    int rc = state_labels_all(sv->st, &ls, err);
    if (rc) return rc;
    pthread_mutex_lock(&sv->refresh_lock);
    publish_labels(sv, ls); /* st_labels is replaced by this thread only */
    *swapped = serve_snap_refresh_locked(sv);
    pthread_mutex_unlock(&sv->refresh_lock);
    if (*swapped) serve_watch_advance(sv);
    pthread_mutex_lock(&sv->refresh_lock);
    materialise(sv, &sv->st_labels);
    *swapped = serve_snap_refresh_locked(sv);
    pthread_mutex_unlock(&sv->refresh_lock);
    return 0;
}

/* An attempt that failed (labels.db locked by an import, a disk error) is made again. */
static void retry_materialise(server *sv)
{
    if (!sv->expo_retry || util_now() < sv->expo_retry_at) return;
    pthread_mutex_lock(&sv->refresh_lock);
    materialise(sv, &sv->st_labels);
    int swapped = serve_snap_refresh_locked(sv);
    pthread_mutex_unlock(&sv->refresh_lock);
    if (swapped) serve_watch_advance(sv);
}

static int load_keys(server *sv, util_err *err)
{
    json_t *arr;
    int rc = state_keys_all(sv->st, 1, &arr, err);
    if (rc) return rc;
    rc = serve_keys_set(sv, arr, err);
    json_decref(arr);
    return rc;
}

static int load_lists(server *sv, util_err *err)
{
    json_t *arr;
    int rc = state_watch_all(sv->st, &arr, err);
    if (rc) return rc;
    rc = serve_lists_set(sv, arr, err);
    json_decref(arr);
    return rc;
}

int serve_state_open(server *sv, util_err *err)
{
    if (sv->o.replica_id)
        snprintf(sv->replica, sizeof sv->replica, "%s", sv->o.replica_id);
    else {
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        snprintf(sv->replica, sizeof sv->replica, "%s:%ld", host, (long)getpid());
    }
    int rc = state_open(&sv->st, sv->o.state_url, sv->o.db, err);
    if (!rc) rc = state_open(&sv->st_listen, sv->o.state_url, sv->o.db, err);
    if (!rc) rc = state_serials(sv->st, sv->st_serial, err);
    if (!rc) rc = load_labels(sv, err);
    if (!rc) rc = load_keys(sv, err);
    if (!rc && !sv->front->n_keys && !sv->o.insecure_no_auth)
        rc = util_errf(err, UTIL_EINVAL,
                       "no API keys: neither --api-keys nor the state database holds one "
                       "(cointrail state key-add)");
    if (rc) util_err_prefix(err, "--state");
    return rc;
}

static void *state_main(void *arg)
{
    server *sv = arg;
    int pg = !strcmp(state_backend(sv->st), "postgresql");
    for (;;) {
        pthread_mutex_lock(&sv->lock);
        int stop = sv->st_stop;
        pthread_mutex_unlock(&sv->lock);
        if (stop) break;
        util_err err = {0};
        uint64_t ser[STATE_NTOPICS];
        if (state_wait(sv->st_listen, pg ? PG_WAIT_MS : SQLITE_POLL_MS, &err) < 0 ||
            state_serials(sv->st, ser, &err)) {
            set_error(sv, err.msg);
            if (!pg) usleep(SQLITE_POLL_MS * 1000);
            continue;
        }
        int rc = 0, swapped = 0;
        if (ser[STATE_TOPIC_LABELS] != sv->st_serial[STATE_TOPIC_LABELS] &&
            !(rc = reload_labels(sv, &swapped, &err))) {
            sv->st_serial[STATE_TOPIC_LABELS] = ser[STATE_TOPIC_LABELS];
            if (swapped) serve_watch_advance(sv);
        } else if (!rc) {
            retry_materialise(sv);
        }
        if (!rc && ser[STATE_TOPIC_WATCHLISTS] != sv->st_serial[STATE_TOPIC_WATCHLISTS] &&
            !(rc = load_lists(sv, &err)))
            sv->st_serial[STATE_TOPIC_WATCHLISTS] = ser[STATE_TOPIC_WATCHLISTS];
        if (!rc && ser[STATE_TOPIC_KEYS] != sv->st_serial[STATE_TOPIC_KEYS] &&
            !(rc = load_keys(sv, &err)))
            sv->st_serial[STATE_TOPIC_KEYS] = ser[STATE_TOPIC_KEYS];
        set_error(sv, rc ? err.msg : NULL);
    }
    return NULL;
}

int serve_state_start(server *sv, util_err *err)
{
    if (pthread_create(&sv->st_tid, NULL, state_main, sv))
        return util_errf(err, UTIL_EIO, "cannot start the state thread");
    sv->st_started = 1;
    return 0;
}

void serve_state_stop(server *sv)
{
    if (sv->st_started) {
        pthread_mutex_lock(&sv->lock);
        sv->st_stop = 1;
        pthread_mutex_unlock(&sv->lock);
        pthread_join(sv->st_tid, NULL);
        sv->st_started = 0;
    }
    state_close(sv->st_listen);
    state_close(sv->st);
    case_db_close(sv->cases);
    sv->cases = NULL;
    sv->st = sv->st_listen = NULL;
    state_labels_free(&sv->st_labels);
}

const char *serve_state_health(server *sv)
{
    if (!sv->o.state_url) return "none";
    pthread_mutex_lock(&sv->lock);
    int bad = sv->state_error[0] != 0;
    pthread_mutex_unlock(&sv->lock);
    return bad ? "unreachable" : "ok";
}
