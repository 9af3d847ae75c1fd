/* serve: with --state, each replica keeps its own store's label set and exposure indexes at
 * what the shared database says (docs/state.md, "Exposure on replicas"). The labels of the
 * database are written into the store's labels.db (the imported labels with the active analyst
 * labels merged in and the retired identities taken out, as `labels add --db` does) and the
 * exposure indexes are brought to them by the writers' own update: only what the changed stops
 * touch is propagated again (docs/exposure.md, "Kept current"). Writing labels.db rather than
 * keeping the merged set in memory only is what keeps `import` (whose index update reads
 * labels.db) from putting the index back to the imported labels, and lets the CLI on the
 * replica's store see the same labels. The index is a function of the store, the labels and
 * the clustering, so replicas with the same store and database reach the same bytes.
 *
 * Called with refresh_lock held, so that no snapshot opens between labels.db and the index's
 * commit: requests keep the old snapshot until both are there. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../evmexpo/evmexpo.h"
#include "serve_int.h"

/* Whether two label sets hold the same labels (labels.db's bytes depend only on that). */
static int labels_same(const labels_db *a, const labels_db *b)
{
    size_t n = labels_db_count(a);
    if (n != labels_db_count(b)) return 0;
    util_buf x = {0}, y = {0};
    int same = 1;
    for (size_t i = 0; i < n && same; i++) {
        x.len = y.len = 0;
        if (labels_json_text(labels_db_get(a, i), &x) || labels_json_text(labels_db_get(b, i), &y))
            same = 0; /* out of memory: write it again, which is always right */
        else
            same = x.len == y.len && !memcmp(x.data, y.data, x.len);
    }
    util_buf_free(&x);
    util_buf_free(&y);
    return same;
}

/* The Bitcoin index: synced against set under its writer lock; *pending is the writer to
 * commit after labels.db is saved (NULL when defer is 0: committed here if anything changed). */
static int sync_btc(const char *db, const labels_db *set, int defer, exposure_writer **pending,
                    exposure_sync_result *res, util_err *err)
{
    *pending = NULL;
    return risk_exposure_update(db, NULL, set, 0, EXPOSURE_DEFAULT_FLOOR, defer ? pending : NULL,
                                res, err);
}

/* Every EVM chain of the store that has an exposure index. */
static int sync_evm(const char *db, const labels_db *set, util_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/evm", db);
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) > 31) continue;
        evmexpo_index *ix = NULL;
        util_err xe = {0};
        if (evmexpo_open(&ix, db, e->d_name, &xe)) continue; /* no index on this chain */
        evmexpo_close(ix);
        evm_store *es = NULL;
        if ((rc = evm_store_open(&es, db, e->d_name, 0, err))) break;
        evmexpo_sync_opts o = {0};
        const char *crash = getenv("COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER");
        if (crash) o.crash_after_xfers = strtoull(crash, NULL, 10);
        evmexpo_sync_result r;
        rc = evmexpo_sync(db, es, set, &o, &r, err);
        evm_store_close(es);
        if (rc) util_err_prefix(err, "evm exposure index of %s", e->d_name);
    }
    closedir(d);
    return rc;
}

int serve_expo_materialise(server *sv, const state_labels *ls, util_err *err)
{
    const char *db = sv->o.db;
    double t0 = util_now();
    labels_db *set = NULL, *was = NULL;
    exposure_writer *xw = NULL;
    exposure_sync_result res = {0};
    double ph[5] = {0}; /* labels read and merged, index sync, labels.db saved, commit, EVM */
    int rc = labels_db_open(&set, db, LABELS_WRITE, err);
    if (!rc) rc = labels_db_open(&was, db, 0, err);
    if (!rc) rc = state_labels_apply(ls, set, err);
    int same = !rc && labels_same(was, set);
    double t1 = util_now();
    ph[0] = t1 - t0;
    if (!rc && exposure_exists(db)) {
        /* labels.db unchanged: still synced, for an index an `import` or `labels import` left
         * at other labels; it commits only when something changed */
        rc = sync_btc(db, set, !same, &xw, &res, err);
        if (rc) util_err_prefix(err, "exposure index");
    }
    double t2 = util_now();
    ph[1] = t2 - t1;
    if (!rc && !same) rc = labels_db_save(set, err);
    double t3 = util_now();
    ph[2] = t3 - t2;
    if (!rc && xw && (rc = exposure_commit(xw, err)))
        util_err_prefix(err, "labels.db saved, but the exposure index was not updated");
    exposure_writer_close(xw);
    double t4 = util_now();
    ph[3] = t4 - t3;
    if (!rc) rc = sync_evm(db, set, err);
    labels_db_close(was);
    labels_db_close(set);
    double secs = util_now() - t0;
    ph[4] = secs - (t4 - t0);
    if (!rc && (!same || res.new_generation))
        fprintf(stderr,
                "cointrail: state: labels.db and exposure index updated in %.3f s (labels %.3f s, "
                "index %.3f s: stops %.3f s, %" PRIu64 " changed, %" PRIu64
                " txs propagated again in %.3f s; labels.db saved %.3f s, committed %.3f s, "
                "EVM %.3f s)\n",
                secs, ph[0], ph[1], res.stops_seconds, res.stops_changed, res.txs_recomputed,
                res.relabel_seconds, ph[2], ph[3], ph[4]);
    pthread_mutex_lock(&sv->lock);
    if (rc) {
        int was_failing = sv->expo_error[0] != 0;
        snprintf(sv->expo_error, sizeof sv->expo_error, "%s", err->msg);
        if (!was_failing)
            fprintf(stderr,
                    "cointrail: state: the store's labels and exposure index were not "
                    "updated: %s (serving the labels in memory; retried)\n",
                    err->msg);
    } else {
        if (sv->expo_error[0])
            fprintf(stderr, "cointrail: state: the store's labels and exposure index are "
                            "up to date again\n");
        sv->expo_error[0] = 0;
        sv->expo_updates++;
        sv->expo_last_seconds = secs;
        sv->expo_last_stops = res.stops_changed;
        sv->expo_last_txs = res.txs_recomputed;
    }
    pthread_mutex_unlock(&sv->lock);
    return rc;
}
