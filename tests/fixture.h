/* What several C test programs do to get a store: import block files as `cointrail import`
 * does (one thread, no progress). */
#ifndef CT_TEST_FIXTURE_H
#define CT_TEST_FIXTURE_H
#include <stdio.h>

#include "ingest/ingest.h"
#include "store/store.h"

/* Import the block files under chain (a directory or one file) into a new or existing store at
 * db. 0, or the ingest error (printed). */
static inline int fixture_import(const char *db, const char *chain)
{
    util_err err = {0};
    store *s;
    if (store_open(&s, db, STORE_WRITE | STORE_CREATE, &err)) return -1;
    ingest_opts o;
    ingest_default_opts(&o);
    o.progress = NULL;
    o.threads = 1;
    ingest_result r;
    const char *paths[] = {chain};
    int rc = ingest_run(s, paths, 1, &o, &r, &err);
    if (rc) fprintf(stderr, "import: %s\n", err.msg);
    store_close(s);
    return rc;
}
#endif
