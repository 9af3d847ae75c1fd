/* serve: the screening service. An HTTP JSON API (libmicrohttpd, a thread pool) over one store
 * directory, answering with the same library calls as the CLI (risk, query, labels, trace), with
 * API keys, request limits, watchlists whose alerts are recorded (and POSTed to webhooks), and
 * metrics. The API is described in docs/openapi.yaml and docs/screening.md.
 *
 * The service follows the store: a watcher polls the MANIFEST, labels.db and cluster.state and,
 * when one changes, opens a new read-only snapshot beside the current one and swaps it in;
 * requests in flight finish on the snapshot they started with, which is closed after the last
 * of them. A reader only ever sees committed states, so nothing half-written is served. */
#ifndef CT_SERVE_H
#define CT_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

typedef struct serve_opts {
    const char *db;            /* store directory */
    const char *listen;        /* "HOST:PORT" (IPv4 address or "localhost"); port 0 = any */
    const char *api_keys_file; /* one key per line; NULL only with insecure_no_auth */
    int insecure_no_auth;      /* serve without keys (loopback testing only) */
    const char *rules_file;    /* risk rules (NULL: built-in) */
    unsigned threads;          /* worker threads (0: one per core) */
    size_t max_body;           /* bytes; larger request bodies get 413 */
    size_t max_batch;          /* items per batch request */
    unsigned poll_ms;          /* how often the store is checked for new state */
    unsigned timeout_s;        /* idle connection timeout (slowloris) */
    /* Webhooks (docs/screening.md). Allow entries are scheme://HOST:PORT/PATH-PREFIX: a URL is
     * allowed if its scheme, host and port equal an entry's and its path lies under the entry's
     * path. 0 in a number below means its default. */
    const char *const *webhook_allow;
    size_t n_webhook_allow;
    unsigned webhook_attempts; /* attempts per alert before it is "failed" (0: 15) */
    unsigned webhook_workers;  /* deliveries in flight at once, one thread each (0: 4) */
    size_t max_watch_items;    /* items across all watchlists (0: 100000) */
    unsigned max_watchlists;   /* watchlists per owner (0: 64) */
    const char *port_file;     /* if set, the bound port is written there once listening */
    size_t cache_slots;        /* screening answers kept per snapshot (0: no cache) */
} serve_opts;

void serve_default_opts(serve_opts *o);

/* Serve until SIGINT or SIGTERM (which the caller must have blocked in every thread, so that
 * serve_run receives them with sigwait). Returns 0 after a clean stop, or an error (bad options,
 * cannot listen, store cannot be opened) with err filled. */
int serve_run(const serve_opts *o, util_err *err);

#endif
