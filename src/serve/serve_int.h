/* serve: what the module's files share (serve.c, serve_snap.c, serve_routes.c, serve_keys.c,
 * serve_conn.c, serve_cache.c, serve_watch.c, serve_alerts.c, serve_delivery.c, serve_hook.c).
 * Not part of the module's interface. */
#ifndef CT_SERVE_INT_H
#define CT_SERVE_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "../cluster/cluster.h"
#include "../evm/evm.h"
#include "../evmclust/evmclust.h"
#include "../exposure/exposure.h"
#include "../labels/labels.h"
#include "../risk/risk.h"
#include "../state/state.h"
#include "../store/store.h"
#include "../xchain/xchain.h"
#include "serve.h"

struct file_sig {
    uint64_t ino;
    int64_t size, mtime_s, mtime_ns;
};

/* Screening answers of one snapshot (serve_cache.c). NULL is a disabled cache. */
typedef struct serve_cache serve_cache;
serve_cache *serve_cache_new(size_t slots);
void serve_cache_free(serve_cache *c);
/* A copy of the answer stored under key (malloc'd, NUL-terminated, caller frees), or NULL. */
char *serve_cache_get(serve_cache *c, const char *key, size_t *len);
/* Keep a copy of text under key (replacing what its slot held). */
void serve_cache_put(serve_cache *c, const char *key, const char *text, size_t len);

/* One read-only state of the store with everything built on it. Reference-counted: the server
 * holds one reference while it is current, each request one while it runs. */
#define SERVE_MAX_EVM_CHAINS 8
typedef struct snap {
    atomic_int refs;
    struct file_sig sig[4]; /* MANIFEST, labels.db, cluster.state, exposure/MANIFEST */
    store *s;
    labels_db *labels;
    cluster_map *clusters; /* NULL: not clustered, or not usable (cluster_error says why) */
    char *cluster_error;   /* malloc'd: why a saved clustering could not be opened; NULL if fine */
    risk_ctx *risk;
    serve_cache *cache; /* answers computed on this snapshot; NULL if disabled */
    /* For the web UI's graph (serve_graph.c), made on first use: the best label of each
     * entity (or address without one), and the cross-chain links of DIR/xchain/links.jsonl. */
    pthread_mutex_t aux_lock;
    int aux_ready;
    struct serve_names *names;
    struct trace_stops *stops; /* the tracer's service stops (trace_compute_stops); NULL: none
                                  could be built, the graph then builds them per request */
    struct trace_actor_index *actors; /* who is behind each labelled address, lent to the
                                         stops so that a hop does not index the labels again;
                                         NULL: each hop builds its own */
    xchain_links links; /* empty when the file is missing or damaged (aux_error says) */
    char aux_error[256];
    /* EVM and cross-chain screening (serve_xscreen.c): the screener of this state, and the
     * signature of the EVM stores, their indexes and the links file it was opened on */
    struct evmexpo_screener *xs;
    uint64_t xsig;
    uint64_t labels_gen; /* with --state: the state labels merged in (server.st_labels_gen) */
    /* the EVM entities (evm-cluster) of each chain the graph asked for, under aux_lock */
    struct {
        char chain[32];
        int ok; /* 0: none saved (or unreadable): EVM nodes are named by their labels only */
        evmclust_set set;
    } evment[SERVE_MAX_EVM_CHAINS];
    size_t n_evment;
} snap;

/* The best label per entity or address of a snapshot (serve_graph.c). */
void serve_names_free(struct serve_names *n);

enum {
    R_HEALTH,
    R_METRICS,
    R_SCREEN_ADDRESS,
    R_SCREEN_TX,
    R_SCREEN_BATCH,
    R_ADDRESS,
    R_TX,
    R_ENTITY,
    R_LABELS,
    R_TRACE,
    R_WATCHLISTS,
    R_ALERTS,
    R_RULES,
    R_SEARCH,
    R_GRAPH,
    R_WHOAMI,
    R_CASES,
    R_UI, /* the web UI's pages and files: everything outside /v1 */
    R_OTHER,
    N_ROUTES
};
#define LAT_BUCKETS 128

/* Who made a request, from the API key it presented (serve.c fills it). Watchlists and alerts
 * belong to an owner; a key sees and changes only its owner's, unless it has SERVE_SCOPE_ADMIN. */
enum {
    SERVE_SCOPE_READ = 1,   /* look-ups: address, tx, entity, labels, rules, metrics */
    SERVE_SCOPE_SCREEN = 2, /* screening and traces */
    SERVE_SCOPE_WATCH = 4,  /* the owner's watchlists and alerts */
    SERVE_SCOPE_ADMIN = 8,  /* every owner's watchlists and alerts */
    SERVE_SCOPE_WRITE = 16  /* changes to shared records: cases, analyst labels, notes */
};
typedef struct serve_caller {
    char owner[64];  /* the key's owner ("" with --insecure-no-auth: one anonymous owner) */
    char key_id[17]; /* 16 hex digits of the key's SHA-256: names the key in logs, never the key */
    unsigned scopes; /* SERVE_SCOPE_* bits */
} serve_caller;

typedef struct watchlist {
    char name[64];
    char owner[64];    /* the serve_caller owner that created it */
    char webhook[512]; /* "" for none */
    risk_watch_item *items;
    size_t n_items;
} watchlist;

typedef struct server {
    serve_opts o;
    risk_config cfg;
    struct serve_front *front; /* keys, audit log, connection deadlines, work limits */
    double started;
    pthread_mutex_t lock; /* guards everything below that is not atomic */
    snap *cur;
    uint64_t refreshes;
    char refresh_error[sizeof(((util_err *)0)->msg)];
    watchlist *lists;
    size_t n_lists;
    json_t *alerts;            /* every alert recorded, in id order, each with its "id" */
    struct serve_watch *watch; /* scan and delivery workers, queue */
    uint64_t scanned_height;   /* blocks [0, scanned_height) have been scanned for alerts */
    uint8_t scanned_hash[32];
    atomic_uint_fast64_t cache_hits, cache_misses;
    atomic_uint_fast64_t requests, by_route[N_ROUTES], by_status[5], lat[LAT_BUCKETS];
    /* --state (serve_state.c): the shared database, a connection of its own that waits for
     * changes, and what was last loaded from it (kept when the database goes away) */
    pthread_mutex_t refresh_lock; /* one snapshot refresh at a time (main loop, state thread) */
    state_db *st, *st_listen;
    /* --state postgresql://: the cases' connection (serve_cases.c), opened at the first case
     * request and kept (case_db serialises its calls and reconnects by itself) */
    pthread_mutex_t cases_lock;
    struct case_db *cases;
    char replica[128];
    pthread_t st_tid;
    int st_started;
    int st_stop;                       /* under lock */
    uint64_t st_serial[STATE_NTOPICS]; /* the state thread's own */
    state_labels st_labels;            /* under lock */
    uint64_t st_labels_gen;            /* under lock */
    char state_error[256];             /* under lock: why the database is unreachable */
    /* under lock: the store's labels.db and exposure indexes brought to the state's labels
     * (serve_expo.c): why the last attempt failed (retried), and what the last one did */
    char expo_error[sizeof(((util_err *)0)->msg)];
    int expo_retry; /* the state thread's own: an attempt failed, try again */
    double expo_retry_at;
    uint64_t expo_updates, expo_last_stops, expo_last_txs;
    double expo_last_seconds;
    size_t n_file_keys; /* front->keys[0..n) from --api-keys, then the state's */
} server;

snap *serve_snap_get(server *sv);
void serve_snap_put(snap *sn);

enum MHD_Result serve_error(struct MHD_Connection *c, void *r, unsigned status, const char *field,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Queue doc (reference stolen) as the response. */
enum MHD_Result serve_send_json(struct MHD_Connection *c, void *r, unsigned status, json_t *doc);
/* The request body as a JSON object (new reference), or NULL with a 400 queued in *ret. */
json_t *serve_body_json(struct MHD_Connection *c, void *r, enum MHD_Result *ret);

/* Watchlists and alerts (serve_watch.c): load DIR/watchlists.json, DIR/alerts.jsonl,
 * DIR/alerts.delivery and DIR/alerts.state, and start the scan and webhook worker threads
 * (stopped and joined by serve_watch_free, which is safe on a server whose init failed or never
 * ran). serve_watch_advance tells the scan worker a new snapshot is current; serve_watch_deliver
 * wakes the webhook workers. Both return at once: neither scans nor calls a webhook on the
 * caller's thread, so the loop that follows the store is never held up by them. */
int serve_watch_init(server *sv, util_err *err);
void serve_watch_free(server *sv);
void serve_watch_advance(server *sv);
void serve_watch_deliver(server *sv);

/* Webhook destinations (serve_hook.c). An allow-list of origins with a path prefix, parsed from
 * --webhook-allow entries (a bad entry is an error naming it). */
typedef struct serve_hook_allow serve_hook_allow;
int serve_hook_allow_new(const char *const *entries, size_t n, serve_hook_allow **out,
                         util_err *err);
void serve_hook_allow_free(serve_hook_allow *a);
/* NULL if url is allowed by a (NULL: an empty list), or why it is not (a static string). */
const char *serve_hook_check(const serve_hook_allow *a, const char *url);
/* Non-zero for a private, loopback, link-local, multicast or unspecified address. */
struct sockaddr;
int serve_hook_private_addr(const struct sockaddr *sa);
enum { SERVE_HOOK_NOT_ALLOWED = 1, SERVE_HOOK_FAILED = 2 };
/* POST body to url once (no redirects, timeout_ms) with an Idempotency-Key header. 0: an answer
 * came, its status in *status; SERVE_HOOK_NOT_ALLOWED or SERVE_HOOK_FAILED with why filled. */
int serve_hook_post(const serve_hook_allow *a, const char *url, const char *body,
                    const char *idem_key, long timeout_ms, long *status, char *why, size_t whyn);
enum MHD_Result serve_route_watchlists(server *sv, const serve_caller *who,
                                       struct MHD_Connection *c, void *r, const char *url,
                                       const char *method);
enum MHD_Result serve_route_alerts(server *sv, const serve_caller *who, struct MHD_Connection *c,
                                   void *r);

/* ---- the front end (serve.c, serve_snap.c, serve_routes.c, serve_keys.c, serve_conn.c) ---- */

/* One connection being tracked for its request deadline. */
typedef struct conn_slot {
    struct conn_slot *prev, *next;
    struct MHD_Connection *c;
    double deadline; /* util_now() by which the request must have arrived; 0: none (answering) */
    double since;    /* when the wait for that request began */
    int nul_in_url;  /* a %00 was decoded in the path or a query argument */
} conn_slot;

/* One accepted key: the SHA-256 of the key and who it stands for. */
typedef struct serve_key {
    uint8_t digest[32];
    serve_caller who;
} serve_key;

/* What the front end keeps beside the server: keys (serve_keys.c), the audit log (serve.c),
 * connections (serve_conn.c), work limits (serve.c). */
struct serve_front {
    serve_key *keys;
    size_t n_keys;
    int audit_fd;              /* DIR/audit.jsonl, append-only; -1 if not open */
    atomic_int audit_dirty;    /* lines written since the last fdatasync */
    pthread_mutex_t conn_lock; /* guards conns and every slot's deadline; the CLOSED
                                  notification takes it too, so a reaped fd is still open */
    conn_slot *conns;
    unsigned n_conns;
    atomic_uint expensive; /* screenings and traces computing now */
    unsigned max_expensive;
    atomic_uint_fast64_t reaped, busy, too_large, audit_failures;
};

/* One request being answered (MHD's con_cls). */
typedef struct req {
    serve_caller who; /* filled from the API key when the request arrives */
    server *sv;
    double t0;
    util_buf body;
    int too_big, route, status;
    int expensive; /* holds one of the front's expensive slots */
    char method[16];
    char path[260];  /* for the audit log: at most 256 bytes, control and non-ASCII as '?' */
    char client[48]; /* the client's IP address */
} req;

/* Waking the loop when the store commits (serve_notify.c): an inotify watch on the store
 * directory and a signalfd for signals (the caller has them blocked). serve_notify_wait waits
 * up to ms milliseconds and returns a signal that arrived (0: none), with *changed set if a
 * file that makes a new state (MANIFEST, labels.db, cluster.state) was replaced. Without
 * inotify it only waits for signals (the caller's poll still finds changes). */
typedef struct serve_notify serve_notify;
int serve_notify_open(const char *db, const sigset_t *signals, serve_notify **out);
int serve_notify_wait(serve_notify *n, unsigned ms, int *changed);
void serve_notify_close(serve_notify *n);

/* Snapshots and metrics (serve_snap.c). serve_snap_open opens the store's current state (one
 * reference, to the caller); serve_snap_refresh swaps in a new snapshot if the store changed and
 * returns 1 if it did. */
int serve_snap_open(server *sv, snap **out, util_err *err);
int serve_snap_refresh(server *sv);
/* The same without waiting: 0 when another thread is refreshing (the main loop's poll; the
 * state thread holds the lock while it updates the store's labels and exposure index). */
int serve_snap_refresh_try(server *sv);
/* ... with refresh_lock held by the caller. */
int serve_snap_refresh_locked(server *sv);
unsigned serve_lat_bucket(double us);
enum MHD_Result serve_route_health(server *sv, struct MHD_Connection *c, req *r);
enum MHD_Result serve_route_metrics(server *sv, struct MHD_Connection *c, req *r);

/* The web UI (serve_web.c): its files, built into the program by scripts/embed_web.py (or
 * read from --web DIR), served with a strict Content-Security-Policy; GET /v1/whoami and
 * GET /v1/search. The graph routes (serve_graph.c): POST /v1/graph/start and /v1/graph/expand. */
typedef struct serve_asset {
    const char *url;    /* "/" or "/ui/NAME" */
    const char *type;   /* Content-Type */
    const char *source; /* path under web/ it was built from */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted */
    int missing;      /* a library that was not installed: data is a note for the page */
} serve_asset;
extern const serve_asset serve_assets[];
extern const size_t serve_n_assets;
enum MHD_Result serve_route_ui(server *sv, struct MHD_Connection *c, req *r, const char *url,
                               const char *method);
enum MHD_Result serve_route_whoami(server *sv, struct MHD_Connection *c, req *r);
enum MHD_Result serve_route_search(server *sv, struct MHD_Connection *c, req *r);
enum MHD_Result serve_route_graph(server *sv, struct MHD_Connection *c, req *r, int expand);
/* Cases (serve_cases.c): /v1/cases, /v1/cases/{id}[/seeds|/traces|/labels|/notes|/report.html|
 * /endpoints.csv] over src/case. */
/* A step of a case's graph made by /v1/graph/start or /v1/graph/expand with "case": recorded
 * in the case's audit log on the snapshot's state, and saved in the case's graph when the key
 * may write (serve_cases.c). 0, or the case module's error (UTIL_ENOTFOUND: no such case). */
struct case_graph_step_new;
int serve_case_graph_step(server *sv, const req *r, const snap *sn, int64_t case_id,
                          const struct case_graph_step_new *s, util_err *err);
/* The same for a step on an EVM chain: the state names that store's tip too. */
int serve_case_graph_step_evm(server *sv, const req *r, const snap *sn, const evm_store *evm,
                              int64_t case_id, const struct case_graph_step_new *s, util_err *err);
/* The EVM lane of the graph (serve_graph_evm.c): a start from a 0x address or tx, and one hop
 * of etrace from an EVM node's transfers (with "transfers" instead of "outputs"). sn is the
 * request's snapshot (the caller puts it). */
enum MHD_Result serve_graph_evm_start(server *sv, struct MHD_Connection *c, req *r, json_t *doc,
                                      snap *sn);
enum MHD_Result serve_graph_evm_expand(server *sv, struct MHD_Connection *c, req *r, json_t *doc,
                                       snap *sn);
/* The EVM side of cross-chain link l reached from Bitcoin node `here` (forward: the link's
 * destination tx, its receivers as EVM nodes; backward: its source tx's senders, with the
 * receipts that explain what they sent), with cross_chain edges. 0 when the service has no
 * store of that chain (or it lacks the tx): the caller draws the tx alone. */
int serve_graph_evm_from_btc(server *sv, snap *sn, const xchain_link *l, int forward,
                             const char *here, int policy, json_t *nodes, json_t *edges);
/* Set ans["digest"] to "sha256:" + the SHA-256 of ans as compact JSON with sorted keys: a
 * saved step keeps its answer's digest, so a replay on another store state can say which steps
 * now answer differently. Nothing happens when ans is NULL or out of memory. */
void serve_graph_digest(json_t *ans);
/* Whether a graph request wants its answer's digest: one for a case ("case"), or one that asks
 * ("digest": true, a replay's): the others skip the cost of a second serialisation. */
int serve_graph_wants_digest(json_t *doc);
/* A graph node's id for an EVM address: "CHAIN:0x" + 40 lowercase hex digits. */
void serve_graph_evm_id(const char *chain, const uint8_t addr[20], char out[80]);
/* The Bitcoin node of store outputs outs (their whole values as taint), appended to nodes; its
 * id into id. -1 when none could be made (out of memory, no outputs). */
int serve_graph_btc_node(server *sv, snap *sn, const uint64_t *outs, size_t n, char id[160],
                         json_t *nodes);
/* The HTTP status of a case module's error. */
unsigned serve_case_status(int rc);
enum MHD_Result serve_route_cases(server *sv, struct MHD_Connection *c, req *r, const char *url,
                                  const char *method);
/* The snapshot's names and links, made on first use (thread-safe). */
void serve_snap_aux(server *sv, snap *sn);

/* Take one of the slots for expensive work (screenings that trace, traces); 0 if they are all
 * taken (a 503 is queued in *ret). The slot is given back when the request completes. */
int serve_expensive_enter(server *sv, struct MHD_Connection *c, req *r, enum MHD_Result *ret);
/* EVM and cross-chain screening (serve_xscreen.c). serve_xscreen_sig: a signature of
 * DIR/xchain/links.jsonl and every DIR/evm/<chain>/MANIFEST and exposure/MANIFEST (a change
 * opens a new snapshot); serve_xscreen_watch adds their directories to an inotify descriptor.
 * serve_xscreen_open/close make and free sn->xs. serve_xscreen_item screens one item as
 * `cointrail screen` does: a 0x address or tx hash of chain from its EVM index, a Bitcoin one
 * with risk_screen_* and the cross-chain part (serve_xscreen_btc adds it to a document). */
uint64_t serve_xscreen_sig(const char *db);
void serve_xscreen_watch(int ino, const char *db);
int serve_xscreen_open(snap *sn, const char *db, util_err *err);
void serve_xscreen_close(snap *sn);
int serve_is_evm(const char *what);
int serve_xscreen_btc(snap *sn, const server *sv, const char *what, json_t *doc, util_err *err);
int serve_xscreen_item(server *sv, snap *sn, const char *chain, int is_tx, const char *what,
                       const risk_opts *o, json_t **out, util_err *err);
enum MHD_Result serve_route_screen_evm(server *sv, struct MHD_Connection *c, req *r, int is_tx,
                                       const char *what);

/* Read and screening routes (serve_routes.c). */
enum MHD_Result serve_route_screen(server *sv, struct MHD_Connection *c, req *r, int is_tx,
                                   const char *what);
enum MHD_Result serve_route_batch(server *sv, struct MHD_Connection *c, req *r);
enum MHD_Result serve_route_query(server *sv, struct MHD_Connection *c, req *r, int what,
                                  const char *id);
enum MHD_Result serve_route_labels(server *sv, struct MHD_Connection *c, req *r,
                                   const char *address);
enum MHD_Result serve_route_trace(server *sv, struct MHD_Connection *c, req *r);

/* Keys and scopes (serve_keys.c). serve_load_keys reads --api-keys into sv->front. */
int serve_load_keys(server *sv, util_err *err);
int serve_key_lookup(server *sv, struct MHD_Connection *c, serve_caller *who);
unsigned serve_scope_of(int route);
const char *serve_scope_name(unsigned scope);

/* Connection tracking for the request deadline (serve_conn.c); the on_ functions are
 * libmicrohttpd callbacks (cls: the server). */
conn_slot *serve_slot_of(struct MHD_Connection *c);
void serve_slot_deadline(server *sv, struct MHD_Connection *c, double deadline);
void serve_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);
void serve_reap_overdue(server *sv);
size_t serve_on_unescape(void *cls, struct MHD_Connection *c, char *s);

/* ---- watchlists and alerts (serve_watch.c, serve_alerts.c, serve_delivery.c) ---- */

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
    struct serve_dest *dests; /* one per receiver origin: in flight, backoff, parked jobs */
    size_t n_dests, cap_dests, n_parked;
    unsigned probing; /* attempts in flight to receivers that failed last time */
    /* the scan thread's own (and init's, before the threads start) */
    char **seen; /* open-addressing set of duplicate-check keys */
    size_t seen_cap, seen_n;
    uint64_t next_id;
    int journal_fd; /* alerts.delivery, appended by the webhook threads; -1: not open */
};

/* serve_watch.c */
void serve_path_of(const server *sv, const char *name, char *out, size_t n);
/* Replace the lists with arr (documents as state_watch_all gives them); a bad one is skipped
 * with a line on stderr. */
int serve_lists_set(server *sv, json_t *arr, util_err *err);
/* The list document stored for w (new reference). */
json_t *serve_list_json(const watchlist *w);

/* serve_keys.c: replace the keys from the state (arr as state_keys_all gives them) after the
 * n_file_keys of --api-keys. */
int serve_keys_set(server *sv, json_t *arr, util_err *err);

/* serve_state.c: --state. open: connect, load keys, labels and lists' serials (before the first
 * snapshot); start: the thread that follows changes; stop: join it and close. */
int serve_state_open(server *sv, util_err *err);
int serve_state_start(server *sv, util_err *err);
void serve_state_stop(server *sv);
/* "none" (no --state), "ok" or "unreachable". */
const char *serve_state_health(server *sv);
/* serve_expo.c: write the state's labels ls into the store's labels.db and bring its exposure
 * indexes (Bitcoin, and every EVM chain with one) to them; only what changed is written. Call
 * with refresh_lock held. Records the outcome for /v1/metrics. */
int serve_expo_materialise(server *sv, const state_labels *ls, util_err *err);
/* serve_alerts.c: what names an alert on every replica (owner, list, txid, item). malloc'd. */
char *serve_alert_key(json_t *a);
int serve_name_ok(const char *s);
void serve_tip_of(const store *s, uint64_t blocks, uint8_t hash[32]);

/* serve_alerts.c: the duplicate check, alerts.jsonl and the scan thread */
typedef int (*serve_record_fn)(server *sv, json_t *rec, const char *path, size_t line);
int serve_load_jsonl(server *sv, const char *path, serve_record_fn fn, util_err *err);
int serve_load_alert(server *sv, json_t *a, const char *path, size_t line);
int serve_sort_alerts(server *sv);
json_int_t serve_alert_id(json_t *a);
size_t serve_first_after(json_t *alerts, json_int_t after);
json_t *serve_find_alert(server *sv, json_int_t id);
int serve_seen_rebuild(server *sv);
void serve_seen_clear(struct serve_watch *w);
void serve_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, double t);
void *serve_scan_main(void *arg);

/* serve_delivery.c: the delivery queue, alerts.delivery and the webhook threads. A receiver
 * (the URL's scheme, host and port) has at most workers - 1 attempts in flight, one while its
 * last attempt failed, and at most workers - 1 attempts to failing receivers run at once: a
 * dead or hanging receiver never holds up the others. */
int serve_heap_push(struct serve_watch *w, job j);
int serve_load_outcome(server *sv, json_t *d, const char *path, size_t line);
int serve_open_journal(server *sv, util_err *err);
int serve_requeue(server *sv);
void *serve_webhook_main(void *arg);
void serve_dests_free(struct serve_watch *w);
size_t serve_queue_length(const struct serve_watch *w); /* due and parked deliveries */

#endif
