/* exposure: the exposure index. For every Bitcoin output, the satoshis it received from each
 * risk source category (theft, sanctioned, mixer, ...), propagated forward through the whole
 * history under haircut with no hop limit, kept beside the store and brought up to date by
 * whatever changes what it depends on: new blocks (`import`), labels (`labels import`) and
 * entities (`cluster`). Screening (src/risk) reads it: an address's or a tx's exposure is a sum
 * of look-ups instead of a propagation. Definitions, sizes and costs: docs/exposure.md; the
 * files: docs/formats.md.
 *
 * The rule, per category c, is the tracer's forward haircut (src/trace) seeded at every source
 * of c at once:
 *   - A stop is an address with a btc label (with a clustering: or an address of an entity one
 *     of whose addresses has one), under its heaviest label's category in the order the caller
 *     gives (the built-in rules' weights, risk_stop_categories). Tracked categories (every one
 *     but the services exposure_category_tracked names) are sources.
 *   - What an output passes on when it is spent: its value in its stop's category if it pays a
 *     tracked stop; nothing if it pays an untracked stop (an exchange: the path ends there, as
 *     a screening's trace ends there); otherwise what it received.
 *   - What a tx's outputs receive: per category, the sum X of what its inputs pass on, split
 *     over the outputs and the fee in proportion to value with largest-remainder rounding
 *     (ties to the lower index, the fee last). A coinbase receives nothing; a tx with an
 *     unresolved input passes nothing on (counted as unresolved).
 *   - An output's received amount below the floor (EXPOSURE_DEFAULT_FLOOR satoshis unless the
 *     index was built with another) is not stored and not passed on: it is counted per block
 *     and category (exposure_info's below_floor), never silently lost.
 * An output's stored exposure is what it received, before the stop rule: screening a deposit
 * to a labelled exchange address shows what the deposit brought in.
 *
 * Sparse: an output that received nothing above the floor and pays no tracked stop has no row.
 * Crash-safe like the store (its own MANIFEST, committed after the store's; a writer killed at
 * any moment leaves the last commit, and rerunning gives the same files byte for byte). One
 * writer at a time (DIR/exposure/LOCK, waited for); readers see the MANIFEST they opened.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be
 * NULL). No global state. */
#ifndef CT_EXPOSURE_H
#define CT_EXPOSURE_H

#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

#define EXPOSURE_FORMAT_VERSION 2    /* 2: rows carry the predecessor (pred) */
#define EXPOSURE_SUBDIR "exposure"   /* inside the store directory */
#define EXPOSURE_DEFAULT_FLOOR 1000  /* satoshis: the screening rules' default min_value */
#define EXPOSURE_MAX_CATEGORIES 4096 /* category ids in one index */
#define EXPOSURE_NO_CAT UINT32_MAX

/* Whether category is a risk source the index tracks: every category but the services that
 * hold or pay out other people's money and the ones the built-in rules weigh 0: exchange, otc,
 * bridge, swap, miner, defi. Those are still stops (a path ends at them). */
int exposure_category_tracked(const char *category);

/* ---- reading ---- */

typedef struct exposure_index exposure_index;

/* Open the index of store directory dir for reading (the MANIFEST committed now). *out is
 * owned by the caller: exposure_close it. UTIL_ENOTFOUND when the store has none (made before
 * the index existed: `cointrail exposure build`); UTIL_ECORRUPT for a damaged MANIFEST. */
int exposure_open(exposure_index **out, const char *dir, util_err *err);
void exposure_close(exposure_index *ix);

/* How the index stands against one state of the store, labels and clustering. */
typedef enum {
    EXPOSURE_OK = 0,   /* covers every block of the store, built from the same stops */
    EXPOSURE_BEHIND,   /* built from the same stops, covers the first blocks only */
    EXPOSURE_STALE,    /* labels or the clustering changed since it was built */
    EXPOSURE_FORKED,   /* its blocks are not the store's chain (a reorganisation since) */
    EXPOSURE_NO_INDEX, /* (for callers) the store has no index or it cannot be read */
} exposure_state;
/* "ok" "behind" "stale" "forked" "none" */
const char *exposure_state_name(int state);

/* Compare ix with the store s, labels (may be NULL) and clusters (may be NULL) as a writer
 * would build it: order lists categories heaviest first (risk_stop_categories under the
 * built-in rules: the same as the writer's). *state is filled; outputs below
 * exposure_outputs_covered are answered exactly when it is OK or BEHIND. UTIL_ENOMEM. */
int exposure_check(const exposure_index *ix, const store *s, const labels_db *labels,
                   const cluster_map *clusters, const char *const *order, size_t n_order,
                   exposure_state *state, util_err *err);
/* Outputs the index answers for this store (its coverage, at most the store's outputs). */
uint64_t exposure_outputs_covered(const exposure_index *ix, const store *s);

/* Categories by id: the index's table (ids are stable, never reused). */
size_t exposure_n_categories(const exposure_index *ix);
const char *exposure_category_name(const exposure_index *ix, uint32_t cat);
/* The id of a category name, or EXPOSURE_NO_CAT. */
uint32_t exposure_category_id(const exposure_index *ix, const char *name);

/* One category's satoshis. */
typedef struct exposure_amount {
    uint32_t cat;
    uint64_t amount;
    uint64_t pred; /* the output the tx got most of cat from (exposure_walk) */
} exposure_amount;

/* What the index holds for output out (below exposure_outputs_covered): what it received,
 * into amt (at most cap, by category id; the count is returned, and may exceed cap), and in
 * *stop_cat the category of the stop it pays when it has a row for it (a tracked stop, or an
 * untracked one that received something), else EXPOSURE_NO_CAT. */
size_t exposure_output(const exposure_index *ix, uint64_t out, exposure_amount *amt, size_t cap,
                       uint32_t *stop_cat);

/* Sum the received amounts of outputs out[0..n) per category into sums (n_categories long,
 * zeroed by the caller). */
void exposure_sum_outputs(const exposure_index *ix, const uint64_t *out, size_t n, uint64_t *sums);

/* One path from output out to a source of category cat, the way the money came: cross the
 * tx that created it and step to the input that passed the tx the most of cat (ties: the lower
 * input; the row's pred), until that input pays a stop of cat (the source). Each step is one
 * look-up. path[0..cap) gets the txs crossed, screened side first, as the tracer's paths are,
 * *len their number; *src the source output. UTIL_ENOTFOUND when out received no cat (or cat
 * is not tracked), EXPOSURE_PATH_LONGER (1) when the path is longer than cap, UTIL_ECORRUPT when it
 * breaks off (an index that does not fit the store). No error message: these are the answers. */
#define EXPOSURE_PATH_LONGER 1
int exposure_walk(const exposure_index *ix, const store *s, uint64_t out, uint32_t cat,
                  uint64_t *path, size_t cap, size_t *len, uint64_t *src);

/* exposure_walk from the output of out[0..n) that received the most of cat (the first of
 * them), into *path (owned by the caller: free). UTIL_ENOTFOUND when no output received cat,
 * or after max_steps txs. */
int exposure_path(const exposure_index *ix, const store *s, const uint64_t *out, size_t n,
                  uint32_t cat, size_t max_steps, uint64_t **path, size_t *len, uint64_t *src,
                  util_err *err);

/* Figures of an index (what `cointrail exposure status` shows). received, below_floor,
 * below_floor_shares and unresolved are per category id (n_categories long), owned by the info:
 * exposure_info_free. received counts every output's stored amounts (the same satoshis again at
 * each hop). */
typedef struct exposure_info {
    uint64_t floor;
    uint64_t generation;
    uint64_t blocks, txs, outputs, addresses; /* covered */
    uint8_t tip[32];                          /* hash of its last block (when blocks > 0) */
    uint64_t rows, outputs_with_rows, stops;  /* rows: stored (output, category) amounts */
    uint64_t bytes;                           /* of its files */
    size_t n_categories;
    uint64_t *received; /* per category: satoshis outputs received (stored) */
    uint64_t *below_floor, *below_floor_shares; /* not stored: amount, (output, cat) shares */
    uint64_t *unresolved;                       /* reaching txs with unresolved inputs */
} exposure_info;
int exposure_get_info(const exposure_index *ix, exposure_info *info, util_err *err);
void exposure_info_free(exposure_info *info);

/* What was not stored, per block, category and kind, in that order (for checks): up to cap
 * rows into out; returns how many there are (call with cap 0 to size out). */
typedef struct exposure_drop {
    uint32_t block, cat, kind; /* kind 0: below the floor, 1: unresolved */
    uint64_t amount, shares;
} exposure_drop;
size_t exposure_drops(const exposure_index *ix, exposure_drop *out, size_t cap);

/* ---- writing ---- */

typedef struct exposure_writer exposure_writer;

enum {
    EXPOSURE_CREATE = 1,  /* make an empty index if the store has none */
    EXPOSURE_REBUILD = 2, /* discard what is there and build from block 0 (committed at the
                             end: until then readers keep the old one) */
};

/* Take the index writer lock of store directory dir (waiting while another writer holds it)
 * and open the committed state; a writer that died is undone here (files cut back to the
 * MANIFEST, files of an uncommitted generation deleted). floor: for EXPOSURE_CREATE /
 * EXPOSURE_REBUILD, the floor of the new index (0 allowed: every satoshi stored); an existing
 * index keeps its own (a different one given with EXPOSURE_REBUILD replaces it). UTIL_ENOTFOUND
 * when there is no index and no EXPOSURE_CREATE; UTIL_ECORRUPT for a damaged MANIFEST unless
 * EXPOSURE_REBUILD (which starts from nothing). *out is the caller's: exposure_writer_close. */
int exposure_writer_open(exposure_writer **out, const char *dir, unsigned flags, uint64_t floor,
                         util_err *err);
/* Release the lock; work not committed is discarded (the next writer cuts it back). */
void exposure_writer_close(exposure_writer *w);

typedef struct exposure_sync_opts {
    const char *const *order; /* categories heaviest first (see exposure_check) */
    size_t n_order;
    int defer_commit;         /* 1: commit nothing (exposure_commit does, e.g. after labels.db is
                                 saved); 0: commit every commit_seconds and at the end */
    double commit_seconds;    /* 0: 5 s */
    uint64_t crash_after_txs; /* test hook: SIGKILL itself after this many txs propagated */
} exposure_sync_opts;

typedef struct exposure_sync_result {
    uint64_t blocks_removed; /* reorganised away */
    uint64_t blocks_added, txs_added;
    uint64_t stops_changed;   /* addresses whose stop changed (labels, clustering) */
    uint64_t outputs_changed; /* outputs of already indexed txs whose rows changed */
    uint64_t txs_recomputed;  /* already indexed txs propagated again */
    int new_generation;       /* the files were rewritten (a reorganisation or a stop change) */
    double seconds, stops_seconds, relabel_seconds, forward_seconds, commit_seconds;
} exposure_sync_result;

/* Bring the index to the state of store s (any open mode: nothing of it is changed), labels
 * (may be NULL) and clusters (may be NULL): cut blocks a reorganisation replaced, propagate
 * again from the outputs of addresses whose stop changed (forward, in chain order, only as
 * far as something changes), then propagate the store's new blocks. r may be NULL. */
int exposure_sync(exposure_writer *w, const store *s, const labels_db *labels,
                  const cluster_map *clusters, const exposure_sync_opts *o, exposure_sync_result *r,
                  util_err *err);
/* Commit what exposure_sync left uncommitted (defer_commit). */
int exposure_commit(exposure_writer *w, util_err *err);

/* Whether store directory dir has an index (its MANIFEST exists). */
int exposure_exists(const char *dir);

#endif
