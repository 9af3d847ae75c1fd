/* state: the shared, changing records of a deployment (docs/state.md): analyst labels with
 * their history, watchlists, API keys and alert-delivery leases. One interface, two backends:
 * the embedded SQLite database DIR/state.sqlite (the default, one machine) and PostgreSQL
 * through libpq (`--state postgresql://...`, several replicas and a team). Both have the same
 * schema and the same SQL (parameters written $1, $2, ..., which SQLite takes as names).
 *
 * Chain data never goes here: it stays in the memory-mapped stores.
 *
 * The schema is versioned (table schema_version): state_open applies the migrations that are
 * missing, each exactly once, serialised between processes that start together (an advisory
 * lock on PostgreSQL, a write transaction on SQLite).
 *
 * A state_db may be used from several threads (calls are serialised by its own mutex). When
 * PostgreSQL goes away, calls fail with UTIL_EIO and a message that says the state database is
 * unreachable; the next call reconnects by itself.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be
 * NULL). */
#ifndef CT_STATE_H
#define CT_STATE_H

#include <jansson.h>
#include <stdint.h>

#include "../labels/labels.h"
#include "../util/util.h"

#define STATE_FILE "state.sqlite" /* the embedded database, inside the store directory */
#define STATE_SCHEMA_VERSION 2    /* the newest migration state_open applies */

typedef struct state_db state_db;

/* Open the state: url NULL or "" is the embedded database STATE_FILE in store_dir (created with
 * the directory when missing); "sqlite:PATH" an SQLite file elsewhere; "postgresql://..." or
 * "postgres://..." (libpq's URI) a PostgreSQL server. Migrations run here. *out is owned by
 * the caller: state_close it. */
int state_open(state_db **out, const char *url, const char *store_dir, util_err *err);
void state_close(state_db *db);
/* "sqlite" or "postgresql". */
const char *state_backend(const state_db *db);
/* The newest applied migration, and how many rows schema_version holds (one per migration). */
int state_schema(state_db *db, int *version, int *rows, util_err *err);

/* ---- change serials: what replicas follow ---- */
enum { STATE_TOPIC_LABELS, STATE_TOPIC_WATCHLISTS, STATE_TOPIC_KEYS, STATE_NTOPICS };
/* The serial of each topic; every change of a topic increments it in the same transaction. */
int state_serials(state_db *db, uint64_t serial[STATE_NTOPICS], util_err *err);
/* Wait up to ms milliseconds for a change made by any process. PostgreSQL: LISTEN on this
 * connection and wake at the NOTIFY a change sends (1: notified, 0: timed out); SQLite: sleep
 * (0). Either way the caller reads state_serials after: a notification lost while the server
 * was away is caught by the serials. Use a state_db of its own for waiting. */
int state_wait(state_db *db, int ms, util_err *err);

/* ---- labels ---- */
/* A label's identity is labels' own: (chain, address, source, category). At most one active
 * row per identity; a retired row stays, with who retired it and when. */
typedef struct state_label {
    int64_t id;
    labels_label l; /* strings owned by the state_labels that holds it */
    char *author, *retired_by, *reason;
    int64_t added_ms, retired_ms; /* Unix milliseconds; retired_ms 0: active */
} state_label;
typedef struct state_labels {
    state_label *v;
    size_t n;
} state_labels;
void state_labels_free(state_labels *ls);

/* Add a label, or replace the fields of the active label with its identity. l is validated
 * and canonicalised as labels_add does (chain code, address, text fields): UTIL_EFORMAT naming
 * the field. author must be non-empty. *id (may be NULL): the row. */
int state_label_add(state_db *db, const labels_label *l, const char *author, int64_t *id,
                    util_err *err);
/* Retire the active label with this identity (address canonicalised for chain). UTIL_ENOTFOUND
 * if there is none. */
int state_label_retire(state_db *db, const char *chain, const char *address, const char *source,
                       const char *category, const char *author, const char *reason, util_err *err);
/* Every label row, active and retired, in id order (caller frees with state_labels_free). */
int state_labels_all(state_db *db, state_labels *out, util_err *err);
/* The events (add, update, retire) in order, optionally of one address (NULL: all):
 * a JSON array of {"event","label","at_ms","author","chain","address","source","category",
 * "name","actor","detail"}. New reference owned by the caller. */
int state_label_history(state_db *db, const char *address, json_t **out, util_err *err);

/* The label set screening and tracing use: set (from labels.db) with the active labels merged
 * in and the identities whose every row is retired taken out. The set is changed in memory only
 * (labels_db_save writes it). */
int state_labels_apply(const state_labels *ls, labels_db *set, util_err *err);

/* ---- watchlists ---- */
/* A watchlist is stored as the JSON document serve keeps (src/serve: name, owner, webhook,
 * items), one row per (owner, name). */
int state_watch_put(state_db *db, const char *owner, const char *name, const char *doc,
                    util_err *err);
/* UTIL_ENOTFOUND if there is no such list. */
int state_watch_delete(state_db *db, const char *owner, const char *name, util_err *err);
/* All lists as a JSON array of their documents, by (owner, name). New reference. */
int state_watch_all(state_db *db, json_t **out, util_err *err);

/* ---- API keys ---- */
/* A key as its key-file line (src/serve: "sha256:HEX owner=NAME scopes=LIST"); digest is its
 * 64 hex digits. A revoked key stays, marked. */
int state_key_add(state_db *db, const char *digest, const char *owner, const char *line,
                  util_err *err);
/* Revoke every key whose digest starts with prefix (at least 16 hex digits, the key id serve
 * logs). UTIL_ENOTFOUND if none. */
int state_key_revoke(state_db *db, const char *prefix, util_err *err);
/* The keys as a JSON array of {"digest","owner","line","created_ms","revoked_ms"}; with
 * active_only the revoked ones are left out. New reference. */
int state_keys_all(state_db *db, int active_only, json_t **out, util_err *err);

/* ---- alert deliveries: exactly one replica delivers each alert ---- */
/* An alert is named by key (what makes it the same alert on every replica: owner, list, txid
 * and item). state_delivery_lease takes the alert's lease for holder until now + lease_ms, if
 * nobody holds it, its lease expired (a replica died), or holder holds it already:
 *   STATE_LEASE_GOT   the caller delivers, then calls state_delivery_finish
 *   STATE_LEASE_HELD  another live replica is at it; *until_ms says until when
 *   STATE_LEASE_DONE  finished already; *final and *by (each at least 64 bytes) say how, by whom */
enum { STATE_LEASE_GOT = 1, STATE_LEASE_HELD, STATE_LEASE_DONE };
int state_delivery_lease(state_db *db, const char *key, const char *holder, int64_t lease_ms,
                         int *outcome, int64_t *until_ms, char *final, char *by, util_err *err);
/* The holder's attempt ended: final "delivered", "rejected" or "failed" ends the alert's
 * delivery for every replica; "pending" (to be retried) gives the lease back. UTIL_EBUSY if
 * holder no longer holds the lease (it expired and another replica took it over). The row's
 * attempts count every replica's attempts. */
int state_delivery_finish(state_db *db, const char *key, const char *holder, const char *final,
                          util_err *err);
/* Rows of the delivery table as a JSON array of {"key","state","holder","attempts",
 * "delivered_by"} (tests and `cointrail state deliveries`). New reference. */
int state_deliveries(state_db *db, json_t **out, util_err *err);

/* Milliseconds since the Unix epoch (what the rows store). */
int64_t state_now_ms(void);

#endif
