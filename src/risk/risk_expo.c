/* risk: keeping an exposure index current under the default risk configuration's stop
 * categories, the one update the writing commands and the replicas make (risk.h). */
#include <stdlib.h>

#include "risk.h"

int risk_exposure_update(const char *db, const store *s, const labels_db *labels, unsigned flags,
                         uint64_t floor, exposure_writer **pending, exposure_sync_result *res,
                         util_err *err)
{
    if (pending) *pending = NULL;
    exposure_writer *w;
    int rc = exposure_writer_open(&w, db, flags, floor, err);
    if (rc) return rc;
    /* Under the index lock: the store, labels and clustering as they are now, so the writer
     * that held the lock before has finished with them. */
    store *own = NULL;
    labels_db *own_labels = NULL;
    cluster_map *clusters = NULL;
    char **order = NULL;
    size_t n_order = 0;
    if (!s) {
        if ((rc = store_open(&own, db, 0, err))) goto done;
        s = own;
    }
    if (!labels) {
        if ((rc = labels_db_open(&own_labels, db, 0, err))) goto done;
        labels = own_labels;
    }
    util_err cerr = {0};
    if (cluster_open(&clusters, s, db, &cerr)) clusters = NULL; /* as the readers do */
    risk_config def;
    risk_config_default(&def);
    if ((rc = risk_stop_categories(labels, &def, &order, &n_order, err))) goto done;
    exposure_sync_opts o = {
        .order = (const char *const *)order, .n_order = n_order, .defer_commit = pending != NULL};
    const char *crash = getenv("COINTRAIL_TEST_EXPOSURE_CRASH_AFTER"); /* crash tests only */
    if (crash) o.crash_after_txs = strtoull(crash, NULL, 10);
    rc = exposure_sync(w, s, labels, clusters, &o, res, err);
done:
    risk_categories_free(order, n_order);
    if (clusters) cluster_close(clusters);
    labels_db_close(own_labels);
    store_close(own);
    if (!rc && pending) {
        *pending = w;
        return 0;
    }
    exposure_writer_close(w);
    return rc;
}
