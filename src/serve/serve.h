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
    const char *db;              /* store directory */
    const char *listen;          /* "HOST:PORT" (IPv4 address or "localhost"); port 0 = any */
    const char *api_keys_file;   /* one key digest per line (docs/screening.md); NULL only with
                                    insecure_no_auth */
    int insecure_no_auth;        /* serve without keys (loopback testing only) */
    const char *rules_file;      /* risk rules (NULL: built-in) */
    unsigned threads;            /* worker threads, at most SERVE_MAX_THREADS (0: one per core) */
    size_t max_body;             /* bytes; larger request bodies get 413 */
    size_t max_batch;            /* items per batch request */
    unsigned poll_ms;            /* how often the store is checked for new state */
    unsigned timeout_s;          /* idle connection timeout */
    unsigned request_deadline_s; /* a whole request (headers and body) must arrive within this
                                    many seconds of its connection opening or of the previous
                                    answer on it, however active the client is (slowloris) */
    unsigned max_connections;    /* connections at once, all clients */
    unsigned per_ip_connections; /* connections at once from one client address */
    unsigned max_expensive;      /* screenings and traces computed at once (0: threads - 1, at
                                    least 1); more get 503 so that cheap requests keep a thread */
    size_t max_answer;           /* bytes; a larger answer is refused with 422 */
    size_t max_seeds;            /* outputs a trace may start from; more: 422 */
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
    const char *web_dir;       /* serve the web UI's files from this directory instead of the
                                  copies built into the program (NULL: built in) */
    const char *state_url;     /* the shared state (src/state, docs/state.md): labels, watchlists,
                                  keys and delivery leases there; NULL: the store's files */
    const char *replica_id;    /* who holds delivery leases (NULL: HOST:PID) */
    unsigned lease_ms;         /* a delivery lease (0: 10000) */
} serve_opts;

#define SERVE_MAX_THREADS 256

void serve_default_opts(serve_opts *o);

/* A key-file line for an API key: "sha256:<hex of SHA-256(key)> owner=OWNER scopes=SCOPES"
 * (scopes: a comma-separated list of read, screen, watch, write, admin). If key is NULL a new key
 * is made (32 bytes from OpenSSL's RAND_bytes, base64url without padding, 43 characters, drawn
 * again if it would begin with '-') and
 * written to key_out (at least SERVE_KEY_MAX bytes); the line goes to line (at least
 * SERVE_KEY_LINE_MAX bytes). UTIL_EINVAL for a bad owner, scope list or key. */
#define SERVE_KEY_MAX 1025
#define SERVE_KEY_LINE_MAX 1025
int serve_key_make(const char *key, const char *owner, const char *scopes, char *key_out,
                   char *line, util_err *err);
/* The same with field "scopes" (value: the list) or "role" (value: read, analyst or admin;
 * the line then says role=ROLE, which the service reads as that role's scopes). */
int serve_key_make_line(const char *key, const char *owner, const char *field, const char *value,
                        char *key_out, char *line, util_err *err);
/* The scopes (SERVE_SCOPE_* bits of serve_int.h) a role stands for, 0 for an unknown name;
 * and the role a set of scopes shows as (admin if it has admin, analyst if it may write, else
 * read). docs/webui.md, "Roles". */
unsigned serve_role_scopes(const char *role);
const char *serve_role_of(unsigned scopes);

/* Serve until SIGINT or SIGTERM (which the caller must have blocked in every thread, so that
 * serve_run receives them with sigwait). Returns 0 after a clean stop, or an error (bad options,
 * cannot listen, store cannot be opened) with err filled. */
int serve_run(const serve_opts *o, util_err *err);

#endif
