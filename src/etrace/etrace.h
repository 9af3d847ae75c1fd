/* etrace: follow tainted value through an EVM store (account model: an address is a pool),
 * forward (where did it go) or backward (where did it come from), under one of three policies,
 * per asset (native or an ERC-20 token), with exact 256-bit integer accounting (docs/etrace.md).
 *
 * Seeds are transfers (rows of the store's transfer table); a seed carries taint = its amount.
 * Forward, each address holding taint of an asset has a balance and a taint for it, and every
 * later transfer of that asset from the address takes taint under the policy:
 *   haircut  taint x amount / balance (exact 512-bit multiply-divide); the transfers one address
 *            sends of one asset in a row inside one tx share by largest remainder, the rest of
 *            the balance being the last bucket, so the shares add up exactly
 *   fifo     per address and asset a queue of received segments, tainted or clean; a transfer
 *            consumes from the front (a tainted credit is queued tainted part first)
 *   poison   an address that receives any taint is tainted whole, and every later transfer it
 *            makes is fully tainted; the clean value this adds is counted in poison_added
 * Backward mirrors it: the taint of a transfer is explained by the sender's earlier receipts
 * (haircut: in proportion to the balance, walking back; fifo: the receipts its units were taken
 * from; poison: every earlier receipt, whole).
 * A DEX swap inside one tx (an address sends one asset and receives another, in the same tx)
 * converts taint: the asset sent leaves its accounting as swapped_out, the asset received gets
 * received x taint_sent / sent as swapped_in (forward only).
 * Labelled services (chain "eth" labels of category exchange, otc, bridge, swap, mixer) are
 * endpoints; bridge and swap endpoints are cross-chain candidates (a record per deposit).
 * Per asset every unit of taint ends in exactly one bucket:
 *   seeded + poison_added + swapped_in
 *     = to_endpoints + held + fees + below_min_value + beyond_hops + beyond_until + swapped_out
 *       + overlap + minted + before_store + not_followed
 * (forward: minted, before_store and beyond_until are 0; backward: held, fees and the swaps.)
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be
 * NULL). The module holds no global state. */
#ifndef CT_ETRACE_H
#define CT_ETRACE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../evm/evm.h"
#include "../evmclust/evmclust.h"
#include "../labels/labels.h"
#include "../taint/taint.h"
#include "../util/util.h"

/* The policies, directions and shared options are taint's (src/taint), one set for both chain
 * models; these names stay for the tracer's callers. */
typedef enum {
    ETRACE_POISON = TAINT_POISON,
    ETRACE_HAIRCUT = TAINT_HAIRCUT,
    ETRACE_FIFO = TAINT_FIFO
} etrace_policy;
typedef enum { ETRACE_FORWARD = TAINT_FORWARD, ETRACE_BACKWARD = TAINT_BACKWARD } etrace_direction;

#define ETRACE_DEFAULT_HOPS TAINT_DEFAULT_HOPS
#define ETRACE_MAX_HOPS TAINT_MAX_HOPS
#define ETRACE_DEFAULT_MAX_XFERS TAINT_DEFAULT_MAX_VISITS
#define ETRACE_ASSET_ALL UINT32_MAX /* seeds of every asset */

/* taint_policy_name, taint_policy_parse, taint_direction_name, taint_direction_parse. */
const char *etrace_policy_name(int p);
int etrace_policy_parse(const char *name);
const char *etrace_direction_name(int d);
int etrace_direction_parse(const char *name);

/* The options: taint's shared ones (taint.h), with max_xfers the cap on transfers visited and a
 * hop counted per transfer (a seed is hop 0); until is a block number and until_time the same
 * window in block time (unix seconds), both applied, then the account tracer's own. */
typedef struct etrace_opts {
    union {
        taint_opts core; /* the same fields, for taint_opt_set */
        struct {
            TAINT_OPTS_FIELDS(max_xfers)
        };
    };
    evm_u256 min_value; /* shares below this (in the asset's base unit) are not followed */
    /* EVM entities (evmclust, the deposit-address heuristic), borrowed; NULL: none. A holder
     * that is an exchange's deposit address is offered its exchange as an entity label. */
    const evmclust_set *entities;
    /* 1: stop at the last hop's transfers. Forward, a holder first reached at the last hop is
     * not followed: what reaches it counts as beyond_hops and its history is not read;
     * backward, a transfer reached at the last hop is not explained (its sender's history is
     * not walked back): its taint counts as beyond_hops. For the graph's one-hop expansion,
     * which needs the hop's edges only: a hub reached at the last hop (a router, an exchange
     * wallet) would cost its whole history for totals nobody asked for. 0 (default): they are
     * followed, so what they keep is held and what they pass on (or got) beyond_hops. */
    int frontier;
} etrace_opts;

void etrace_default_opts(etrace_opts *o);

/* Seeds: transfer ids, owned by the caller (etrace_seeds_free). taint (NULL: every seed is
 * tainted whole) is parallel to x: the part of each seed's amount that is tainted, for a trace
 * that goes on from where another left a transfer part-tainted (the web UI's graph expands a
 * node one hop at a time from the taint its transfers received). */
typedef struct etrace_seeds {
    uint64_t *x;
    size_t n, cap;
    evm_u256 *taint;
} etrace_seeds;
void etrace_seeds_free(etrace_seeds *s);
/* Add transfer x with taint t (at most its amount, checked by the run: UTIL_EINVAL); a transfer
 * already in the list has its taint set to t. Seeds added before without a taint are whole:
 * their taint is filled in from the store by the run. UTIL_ENOMEM. */
int etrace_seeds_add_taint(etrace_seeds *s, uint64_t x, const evm_u256 *t, util_err *err);

/* The asset an --asset argument names: "native" (0), "all" (ETRACE_ASSET_ALL) or a token's
 * 0x address (its token id). UTIL_EINVAL for a malformed one, UTIL_ENOTFOUND for a token the
 * store has never seen. */
int etrace_asset_parse(const evm_store *s, const char *arg, uint32_t *asset, util_err *err);

/* Add the transfers a SPEC names, restricted to asset (a token id, 0 native, or
 * ETRACE_ASSET_ALL); fees are never seeds:
 *   0xTXHASH            every transfer of the tx
 *   0xTXHASH:N          its N-th transfer (0-based, as `cointrail evm-tx` lists them)
 *   0xADDRESS           every transfer the address received
 *   0xADDRESS:FROM-TO   those in blocks FROM..TO (inclusive; either side may be empty)
 * Transfers already in the list are not added twice. UTIL_EINVAL for a malformed SPEC,
 * UTIL_ENOTFOUND for a tx, transfer or address not stored, or a SPEC that selects nothing. */
int etrace_add_spec(etrace_seeds *seeds, const evm_store *s, const char *spec, uint32_t asset,
                    util_err *err);

/* A tainted deposit into a bridge or swap endpoint: the hook for following the value onto
 * another chain (the document's cross_chain records; src/xtrace consumes these). */
typedef struct etrace_xchain {
    uint32_t endpoint;         /* the bridge or router (EVM store address id) */
    const labels_label *label; /* its stop label (category "bridge" or "swap"), borrowed */
    uint64_t xfer;             /* the deposit transfer's id */
    int has_tx;                /* 0: a transfer without a stored tx (tx_hash, index are 0) */
    uint8_t tx_hash[32];       /* the tx that made it */
    uint64_t index;            /* its position among the tx's transfers */
    uint64_t block, timestamp;
    uint32_t from;  /* the sender (address id) */
    uint32_t asset; /* token id, 0 native */
    evm_u256 amount, taint;
} etrace_xchain;

/* The totals buckets of one asset, in the document's key order: the first three bring taint in,
 * the rest (from ETRACE_B_TO_ENDPOINTS) are where it ends. */
enum {
    ETRACE_B_SEEDED,
    ETRACE_B_POISON_ADDED,
    ETRACE_B_SWAPPED_IN,
    ETRACE_B_TO_ENDPOINTS,
    ETRACE_B_HELD,
    ETRACE_B_FEES,
    ETRACE_B_BELOW_MIN,
    ETRACE_B_BEYOND_HOPS,
    ETRACE_B_BEYOND_UNTIL,
    ETRACE_B_SWAPPED_OUT,
    ETRACE_B_OVERLAP,
    ETRACE_B_MINTED,
    ETRACE_B_BEFORE_STORE,
    ETRACE_B_NOT_FOLLOWED,
    ETRACE_NB
};
/* The document's key of bucket k ("seeded", "below_min_value", ...); NULL out of range. */
const char *etrace_bucket_name(int k);

/* A transfer as the document names it: "TXHASH:INDEX", or "xfer:ID" without a stored tx
 * (tx is UINT64_MAX). */
typedef struct etrace_ref {
    uint64_t xfer, tx;
} etrace_ref;

typedef struct etrace_totals {
    uint32_t asset; /* token id, 0 native */
    evm_u256 b[ETRACE_NB];
    int balanced; /* the taint_ledger check: what came in equals where it ended */
} etrace_totals;

/* A labelled service the taint reached, per asset (heaviest first, then by first reached). */
typedef struct etrace_endpoint {
    uint32_t address;           /* EVM store address id */
    const labels_label *label;  /* its stop label (gives the category), borrowed */
    const labels_label *labels; /* every "eth" label of the address, borrowed (n_labels) */
    size_t n_labels;
    uint32_t asset;
    evm_u256 amount;
    uint64_t deposits;
    int cross_chain_candidate; /* category bridge or swap */
    etrace_ref *path;          /* seed first (forward) */
    size_t n_path;
} etrace_endpoint;

/* by_category: the amount per (category, asset), in the order the pairs first appear among the
 * sorted endpoints. */
typedef struct etrace_category {
    const char *category; /* borrowed from the labels */
    uint32_t asset;
    evm_u256 amount;
} etrace_category;

typedef struct etrace_edge {
    etrace_ref ref;
    int kind; /* evm_xfer_kind */
    uint64_t block;
    uint32_t from, to; /* address ids, UINT32_MAX none */
    uint32_t asset;
    evm_u256 amount, taint;
    uint32_t hop;
    const char *fate; /* "followed", "overlap", "swapped", ... (static) */
} etrace_edge;

typedef struct etrace_swap {
    uint32_t address; /* the swapper */
    etrace_ref ref;   /* the received transfer */
    uint32_t sent_asset, received_asset;
    evm_u256 sent, sent_taint, received, received_taint;
} etrace_swap;

typedef struct etrace_address_asset {
    uint32_t asset;
    evm_u256 taint_in, taint_out, fees, held, balance;
} etrace_address_asset;

typedef struct etrace_address {
    uint32_t address;
    uint32_t depth; /* UINT32_MAX: unset */
    etrace_address_asset *assets;
    size_t n_assets;
} etrace_address;

/* Answers by actor (labels.h, labels_actor: the actor of the stop label or of the address's
 * own "eth" labels, else a label's name, else the exchange whose deposit address it is
 * (etrace_opts.entities, offered as an entity label): per asset, the
 * endpoints grouped by who is behind them, then (forward) the addresses still holding taint,
 * an address without any label under "unlabelled". */
typedef enum { ETRACE_ACTOR_ENDPOINT = 0, ETRACE_ACTOR_HOLDER } etrace_actor_role;

typedef struct etrace_actor_addr {
    uint32_t address;  /* EVM store address id */
    uint32_t endpoint; /* index in endpoints; UINT32_MAX for a holder */
    evm_u256 amount;   /* endpoint: what reached it; holder: the taint it holds */
    uint64_t deposits; /* tainted transfers into it */
    uint32_t hops;     /* transfers from a seed to the first arrival (a seed is hop 0) */
} etrace_actor_addr;

typedef struct etrace_actor {
    labels_actor who;     /* name, deciding label and how it was found (borrowed) */
    const char *category; /* endpoint: its largest address's stop category; holder: the deciding
                             label's; NULL when unlabelled */
    int role;             /* etrace_actor_role */
    uint32_t asset;
    evm_u256 amount;
    uint64_t deposits;
    double share;    /* amount / the asset's seeded (0 when nothing was seeded) */
    uint32_t hops;   /* the smallest of its addresses' */
    size_t first, n; /* its addresses: actor_addrs[first .. first + n), largest first */
} etrace_actor;

/* A trace's result, typed: everything the document holds (etrace_result_json writes it). Free
 * with etrace_result_free. Labels are borrowed from the labels db the trace ran with. */
typedef struct etrace_result {
    etrace_opts opts;
    etrace_ref *seeds; /* the seeds as given (those stored) */
    size_t n_seeds;
    int partial;
    const char *reason; /* static, NULL unless partial */
    int until_reached, partial_history;
    taint_cut *cut; /* what the limits stopped (taint.h), by limit then in the totals' asset
                       order; forward, --until's cut is what addresses held when it stopped */
    size_t n_cut;
    etrace_totals *totals; /* per asset, in the order first touched */
    size_t n_totals;
    uint64_t xfers_visited;
    etrace_endpoint *endpoints;
    size_t n_endpoints;
    etrace_category *by_category;
    size_t n_by_category;
    etrace_xchain *xchain;
    size_t n_xchain;
    etrace_swap *swaps;
    size_t n_swaps;
    etrace_edge *edges;
    size_t n_edges;
    etrace_address *addresses; /* those holding any asset accounting (forward) */
    size_t n_addresses;
    etrace_actor *actors; /* endpoint actors first, then holders; by asset, then amount */
    size_t n_actors;
    etrace_actor_addr *actor_addrs;
    size_t n_actor_addrs;
} etrace_result;

/* The document's "by_actor" array: [{"actor" (null: unnamed or unlabelled), "actor_from",
 * "category", "role", "asset", "amount" (decimal), "share", "deposits", "deposit_addresses",
 * "hops", "addresses": [{"address", "amount", "deposits", "hops"}]}]. A new reference owned by
 * the caller; NULL if out of memory. */
json_t *etrace_actors_json(const evm_store *s, const etrace_result *res);
/* The actor of endpoint i of res (its stop label first, then its other labels). */
void etrace_endpoint_actor(const etrace_result *res, size_t i, labels_actor *out);

/* Who is behind EVM store address id, as the answers by actor decide it for a holder: the stop
 * label (a service category, the first of its "eth" labels that is one) as primary, its other
 * "eth" labels, and the exchange whose deposit address it is (entities, may be NULL). *stop
 * (may be NULL) gets the stop label, NULL when the address is no labelled service. labels may
 * be NULL (then unlabelled). Nothing is allocated: the labels are borrowed. */
void etrace_address_actor(const evm_store *s, const labels_db *labels, const evmclust_set *entities,
                          uint32_t id, labels_actor *out, const labels_label **stop);

/* Run a trace into *out (errors as etrace_run). *out is zeroed first and owned by the caller
 * even after a failure. */
int etrace_run_result(const evm_store *s, const labels_db *labels, const etrace_seeds *seeds,
                      const etrace_opts *o, etrace_result *out, util_err *err);
void etrace_result_free(etrace_result *res);
/* The trace document (as etrace_run gives it), written from res. *out is a new reference owned
 * by the caller. UTIL_ENOMEM. */
int etrace_result_json(const evm_store *s, const etrace_result *res, json_t **out, util_err *err);
/* The document's text of an asset: "native", the token's lowercase 0x address, or "?" for a
 * token the store does not hold. */
void etrace_asset_text(const evm_store *s, uint32_t asset, char out[43]);
/* The address as EIP-55 text; -1 (out empty) if the store does not hold it (the document's
 * null). */
int etrace_addr_text(const evm_store *s, uint32_t id, char out[43]);
/* One cross_chain record of the document (a new reference; NULL if out of memory). */
json_t *etrace_xchain_json(const evm_store *s, const etrace_xchain *x);

/* Run a trace and build its JSON document (etrace_run_result + etrace_result_json; docs/etrace.md):
 * chain, seeds, policy, direction, limits, partial (+ reason), partial_history, totals per asset
 * (with "balanced"), endpoints, by_category, cross_chain, swaps, edges, addresses (forward: per
 * address and asset taint_in, taint_out, fees, held). labels may be NULL. *out is a new reference
 * owned by the caller. UTIL_EINVAL for bad options or no seeds, UTIL_ECORRUPT if the store or the
 * accounting disagrees with itself, UTIL_ENOMEM. Reaching max_xfers is not an error ("partial":
 * true). */
int etrace_run(const evm_store *s, const labels_db *labels, const etrace_seeds *seeds,
               const etrace_opts *o, json_t **out, util_err *err);

/* Exact q = a * b / d and r = a * b mod d over a 512-bit product. -1 if d is 0 or the quotient
 * exceeds 2^256 - 1 (never when a <= d or b <= d), else 0. q and r may alias the inputs. */
int etrace_muldiv(evm_u256 *q, evm_u256 *r, const evm_u256 *a, const evm_u256 *b,
                  const evm_u256 *d);

#endif
