/* evmexpo: exposure on EVM chains and across the chain-hop links (docs/exposure.md, "EVM chains"
 * and "Across chains").
 *
 * The EVM exposure index: for every address of an EVM store, per asset (native, each token) and
 * per risk source category, how much of what it received came from sources of the category,
 * propagated forward through the whole stored history under haircut with no hop limit, and how
 * much of that it still holds. Kept beside the store (DIR/evm/<chain>/exposure/) and brought up
 * to date by `evm-import` (only the new transfers are propagated); a change of stops (eth labels)
 * re-propagates what it touches (evmexpo_restop.c), a new category or a reorganisation rebuilds.
 * The rule, transfer by transfer in store order (self-transfers skipped):
 *   - A stop is an address with a label of the store's chain, under its heaviest label's
 *     category (risk_stop_categories' order). A stop of a tracked category
 *     (exposure_category_tracked) is a source: everything it sends carries its amount in that
 *     category. A stop of another category (exchange, bridge, swap, ...) sends nothing on.
 *   - Any other sender with balance B and held taint T_c of the asset sends floor(T_c * a / B)
 *     of each category with a transfer of a (the rest stays held). B is the address's balance
 *     from the store's history, with a clean opening that grows when a send exceeds what the
 *     store shows it had (history before the store's first block, uncredited miner tips).
 *   - What reaches a receiver is added to what it received per category, and, unless it is a
 *     stop (which absorbs it), to what it holds. A share below the floor (per asset: native and
 *     tokens have their own) is not stored or passed on but counted (below_floor); what a fee
 *     carries leaves with the fee (no_receiver).
 * Rows: every transfer carrying a share at or above the floor is stored (transfer, category,
 * amount): tx screening and the cross-chain links read them. Sparse: an address that never
 * received a share above the floor has nothing.
 *
 * Across chains: a Bitcoin output named by a cross-chain link (src/xchain) from an EVM deposit
 * into a bridge or router receives the deposit's exposure in proportion to its value, and the
 * Bitcoin exposure index's rule carries it forward (haircut, stops, floor) with no hop limit;
 * each amount keeps the link it came by (method, confidence). This overlay is computed per
 * state of the stores (evmexpo_xbtc_build), not stored. The other way, a link from a Bitcoin
 * deposit to an EVM outbound seeds the index: the outbound transfers carry the deposit's
 * Bitcoin-index exposure in proportion to value and the rule above carries it on; the seeds
 * (with their links) are in the MANIFEST and a change of them rebuilds the index.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be
 * NULL). No global state. */
#ifndef CT_EVMEXPO_H
#define CT_EVMEXPO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../evm/evm.h"
#include "../labels/labels.h"
#include "../risk/risk.h"
#include "../store/store.h"
#include "../util/util.h"
#include "../xchain/xchain.h"

#define EVMEXPO_FORMAT_VERSION 1
#define EVMEXPO_SUBDIR "exposure"             /* inside DIR/evm/<chain>/ */
#define EVMEXPO_FLOOR_NATIVE 1000000000000ULL /* wei: 10^-6 ETH */
#define EVMEXPO_FLOOR_TOKEN 10000ULL          /* token base units (0.01 of a 6-decimal token) */
#define EVMEXPO_MAX_CATS 256

/* ---- writing ---- */

typedef struct evmexpo_sync_opts {
    int rebuild;   /* build from the first transfer even if the index is current */
    int set_floor; /* with rebuild: use the floors below (else the index's own) */
    uint64_t floor_native, floor_token;
    uint64_t crash_after_xfers; /* test hook: SIGKILL itself after this many transfers */
} evmexpo_sync_opts;

typedef struct evmexpo_sync_result {
    int rebuilt;           /* the whole history was propagated again */
    const char *why;       /* why (static): "new", "stops", "reorganisation", "asked"; "stops"
                              with rebuilt 0: only what the changed stops touch was; "stops;
                              REASON" when that was not possible for an unusual reason */
    uint64_t repropagated; /* then: (address, asset) pairs re-propagated */
    uint64_t xfers_done;   /* transfers propagated */
    uint64_t rows_added;   /* transfer rows stored */
    uint64_t addresses;    /* (address, asset) records after the update */
    uint64_t rows, bytes;  /* after the update */
    double seconds;
} evmexpo_sync_result;

/* Bring the index of store s (opened by the caller in any mode; its committed state is read)
 * in db directory db to the store and labels (may be NULL: no stops). Takes the index's writer
 * lock (waiting), undoes what a killed writer left, propagates, commits (rows synced, a new
 * state file, then the MANIFEST replaced). A failure leaves the last commit. r may be NULL. */
int evmexpo_sync(const char *db, const evm_store *s, const labels_db *labels,
                 const evmexpo_sync_opts *o, evmexpo_sync_result *r, util_err *err);

/* ---- reading ---- */

typedef struct evmexpo_index evmexpo_index;

/* Open the committed index of the chain (UTIL_ENOTFOUND when there is none: `cointrail
 * evm-exposure build`). *out is the caller's: evmexpo_close. */
int evmexpo_open(evmexpo_index **out, const char *db, const char *chain, util_err *err);
void evmexpo_close(evmexpo_index *ix);

/* How the index stands against the store and labels: exposure_state's values (EXPOSURE_OK,
 * _BEHIND, _STALE, _FORKED). */
int evmexpo_check(const evmexpo_index *ix, const evm_store *s, const labels_db *labels, int *state,
                  util_err *err);

size_t evmexpo_n_categories(const evmexpo_index *ix);
const char *evmexpo_category_name(const evmexpo_index *ix, uint32_t cat);

/* One category's amounts at an address for one asset. */
typedef struct evmexpo_cat_amount {
    uint32_t cat;
    evm_u256 received, held;
} evmexpo_cat_amount;

/* An address's record for one asset: its balance and every receipt's amount summed (since the
 * first stored block), and per category what came from sources of it. */
typedef struct evmexpo_holding {
    uint32_t asset; /* token id, 0 native */
    evm_u256 balance, received;
    evmexpo_cat_amount *cats; /* borrowed from the index */
    size_t n_cats;
} evmexpo_holding;

/* The records of address id addr (every asset it received exposure in), into out (at most
 * cap; the count is returned). cats point into the index. */
size_t evmexpo_address(const evmexpo_index *ix, uint32_t addr, evmexpo_holding *out, size_t cap);

/* A stored transfer row. */
typedef struct evmexpo_row {
    uint64_t xfer;
    uint32_t cat, asset;
    evm_u256 amount;
} evmexpo_row;

/* The rows of transfers [from, to): *first and *n into the index's rows (evmexpo_row_at). */
void evmexpo_rows_of(const evmexpo_index *ix, uint64_t from, uint64_t to, uint64_t *first,
                     uint64_t *n);
void evmexpo_row_at(const evmexpo_index *ix, uint64_t i, evmexpo_row *out);

/* Figures (`evm-exposure status`). below_floor and no_receiver per (category, asset). */
typedef struct evmexpo_drop {
    uint32_t cat, asset;
    evm_u256 below_floor, no_receiver;
    uint64_t below_shares;
} evmexpo_drop;
typedef struct evmexpo_info {
    uint64_t gen, first_block, blocks, xfers, rows, records, bytes;
    uint64_t floor_native, floor_token;
    uint8_t tip[32];
    const evmexpo_drop *drops; /* borrowed */
    size_t n_drops;
} evmexpo_info;
void evmexpo_get_info(const evmexpo_index *ix, evmexpo_info *out);

/* One path the way the money came into address addr in asset and category cat: its receipt
 * carrying the most of cat, then the sender's receipt before it carrying the most, ... until
 * the sender is a source of cat. *path (owned by the caller: free) gets transfer ids, screened
 * side first; *src the source's address id. UTIL_ENOTFOUND when none is found within max_steps. */
int evmexpo_path(const evmexpo_index *ix, const evm_store *s, const labels_db *labels,
                 uint32_t addr, uint32_t asset, uint32_t cat, size_t max_steps, uint64_t **path,
                 size_t *len, uint32_t *src, util_err *err);

/* ---- screening ---- */

/* Screen an EVM address (0x + 40 hex) or tx hash (0x + 64 hex) of chain s with rules cfg: the
 * document docs/screening.md describes ("EVM addresses and txs"). ix may be NULL (no index:
 * the answer says so and has direct exposure only). *out is a new reference. UTIL_EINVAL for
 * a malformed argument, UTIL_ENOTFOUND for a tx not stored. */
int evmexpo_screen(const evm_store *s, const evmexpo_index *ix, const labels_db *labels,
                   const risk_config *cfg, const char *arg, json_t **out, util_err *err);

/* ---- across chains (Bitcoin outputs paid through links from EVM deposits) ---- */

typedef struct evmexpo_xbtc evmexpo_xbtc;

/* Build the overlay: for every link in links from an EVM chain whose store and index are given
 * (evms[i] with ixs[i], n of them) to Bitcoin outputs, the deposit's exposure (its transfers
 * into bridge or swap stops of the tx, per category, over their amount) given to the linked
 * outputs in proportion to value, then carried forward through btc under the Bitcoin index's
 * rule with stops from labels and clusters (may be NULL) in cfg's order and the floor given.
 * *out is the caller's: evmexpo_xbtc_free. */
int evmexpo_xbtc_build(evmexpo_xbtc **out, const store *btc, const labels_db *labels,
                       const cluster_map *clusters, const risk_config *cfg, evm_store *const *evms,
                       evmexpo_index *const *ixs, size_t n, const xchain_links *links,
                       uint64_t floor, util_err *err);
void evmexpo_xbtc_free(evmexpo_xbtc *x);

/* Figures of the overlay build. */
typedef struct evmexpo_xbtc_info {
    uint64_t links_used, outputs_seeded, outputs, txs_visited;
    double seconds;
} evmexpo_xbtc_info;
void evmexpo_xbtc_get_info(const evmexpo_xbtc *x, evmexpo_xbtc_info *out);

/* One overlay amount of an output: satoshis of a category that came over link. */
typedef struct evmexpo_xamount {
    uint32_t link; /* index in the links given to the build */
    const char *category;
    uint64_t amount;
} evmexpo_xamount;
/* The overlay amounts of output out into amt (at most cap; the count is returned). */
size_t evmexpo_xbtc_output(const evmexpo_xbtc *x, uint64_t out, evmexpo_xamount *amt, size_t cap);

/* The cross-chain part of a Bitcoin screening, typed: per (link, category) what reached the
 * outputs paid to the screened address (or the screened tx's outputs), largest first, its share
 * of their value and its score (weight x min(1, share / full_exposure_share) x the link's
 * confidence); score is the largest. link indexes the links the overlay was built from. */
typedef struct evmexpo_xitem {
    uint32_t link;
    const char *category; /* borrowed from the overlay */
    uint64_t amount;      /* satoshis */
    double share, score;
} evmexpo_xitem;
typedef struct evmexpo_xresult {
    evmexpo_xitem *v; /* owned: evmexpo_xresult_free */
    size_t n;
    uint64_t value; /* satoshis of the outputs screened */
    double score;
    evmexpo_xbtc_info overlay;
} evmexpo_xresult;
/* arg: a Bitcoin address or txid (64 hex digits); one the store does not have gives no items. */
int evmexpo_xbtc_result(const evmexpo_xbtc *x, const store *btc, const xchain_links *links,
                        const risk_config *cfg, const char *arg, evmexpo_xresult *res,
                        util_err *err);
void evmexpo_xresult_free(evmexpo_xresult *res);
/* The JSON writer: adds to a Bitcoin screening document doc (risk_result_json's) "cross_chain"
 * {"incoming": [{category, amount, share, link: {method, confidence, candidates, rule, from,
 * to}}], "overlay": {...}}, a reason per item naming the link's method and confidence, and the
 * score and level raised when an item weighs more than the document's score. */
int evmexpo_xresult_json(const evmexpo_xresult *res, const xchain_links *links,
                         const risk_config *cfg, json_t *doc, util_err *err);
/* evmexpo_xbtc_result then evmexpo_xresult_json. */
int evmexpo_xbtc_screen(const evmexpo_xbtc *x, const store *btc, const xchain_links *links,
                        const risk_config *cfg, const char *arg, json_t *doc, util_err *err);

/* ---- the screener: what `cointrail screen` and the service's /v1/screen share ---- */

/* Everything a screening of store directory db reads beyond the Bitcoin store: the EVM stores
 * of DIR/evm/<chain>/ with their exposure indexes (each opened on first use), the links of
 * DIR/xchain/links.jsonl and the cross-chain overlay built from them (on the first Bitcoin
 * screening, for the Bitcoin store, labels and clusters given then: a screener serves one state
 * of the stores). Safe to call from several threads at once. A missing EVM store, index or
 * links file is not an error: EVM screenings say "exposure_index": "none", Bitcoin screenings
 * have no cross-chain part. A damaged index or links file is passed to warn (may be NULL) once
 * and the screener goes on without it. *out is the caller's: evmexpo_screener_free. */
typedef struct evmexpo_screener evmexpo_screener;
typedef void (*evmexpo_warn_fn)(void *ctx, const char *msg);
int evmexpo_screener_new(evmexpo_screener **out, const char *db, evmexpo_warn_fn warn,
                         void *warn_ctx, util_err *err);
void evmexpo_screener_free(evmexpo_screener *sc);
/* Screen an EVM address or tx of chain (evmexpo_screen's document). UTIL_ENOTFOUND when the
 * chain has no store. *out is a new reference. */
int evmexpo_screener_evm(evmexpo_screener *sc, const char *chain, const labels_db *labels,
                         const risk_config *cfg, const char *arg, json_t **out, util_err *err);
/* The EVM store of chain (opened on first use, as for a screening), borrowed for the
 * screener's life: the service's graph traces it (etrace). UTIL_ENOTFOUND when the chain has no
 * store. */
int evmexpo_screener_store(evmexpo_screener *sc, const char *chain, const evm_store **out,
                           util_err *err);
/* The cross-chain part of the Bitcoin screening of arg. *has is 0 (res untouched) when there is
 * no overlay (no links, or no EVM index a link comes from); else res is filled and the caller
 * frees it (evmexpo_xresult_free). links (may be NULL) gets the links res indexes. */
int evmexpo_screener_btc(evmexpo_screener *sc, const store *btc, const labels_db *labels,
                         const cluster_map *clusters, const risk_config *cfg, const char *arg,
                         int *has, evmexpo_xresult *res, const xchain_links **links, util_err *err);
/* The same written into the Bitcoin screening document doc (evmexpo_xresult_json); doc is left
 * as it is without an overlay. */
int evmexpo_screener_btc_json(evmexpo_screener *sc, const store *btc, const labels_db *labels,
                              const cluster_map *clusters, const risk_config *cfg, const char *arg,
                              json_t *doc, util_err *err);

#endif
