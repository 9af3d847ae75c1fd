/* xchain: links that leave a chain or cross a mixer pool (docs/xchain.md).
 *
 * Steps: (1) xchain_memo_parse reads THORChain memos (swaps in, OUT:/REFUND: out) and the
 * BRIDGE:<destChain>:<nonce> release convention; (2) xchain_links_build walks the Bitcoin
 * store's OP_RETURN payloads and the EVM stores' protocol events and links inbound swaps to
 * their outbounds by hash, bridge deposits to releases by nonce or by recipient, asset, value
 * and time, and mixer deposits to withdrawals by the published heuristics, each link with its
 * method, rule text, candidate count and confidence; (3) xchain_links_save/load keep the set
 * in DIR/xchain/links.jsonl (rebuilt in full each time: it is derived data). */
#ifndef CT_XCHAIN_H
#define CT_XCHAIN_H

#include <jansson.h>
#include <stdint.h>

#include "../btc/btc.h"
#include "../evm/evm.h"
#include "../store/store.h"
#include "../util/util.h"

#define XCHAIN_FORMAT_VERSION 1 /* of DIR/xchain/links.jsonl */

/* ---- memos ---- */

typedef enum {
    XCHAIN_MEMO_SWAP = 1,   /* SWAP / s / = :ASSET:DEST[:LIMIT[/INTERVAL/QUANTITY]][:AFF:BPS] */
    XCHAIN_MEMO_OUT = 2,    /* OUT:HASH     an outbound paying a swap's destination */
    XCHAIN_MEMO_REFUND = 3, /* REFUND:HASH  an inbound's value sent back */
    XCHAIN_MEMO_BRIDGE = 4, /* BRIDGE:DESTCHAIN:NONCE[:0xBRIDGE]  our release convention */
} xchain_memo_kind;

typedef struct xchain_memo {
    int kind; /* xchain_memo_kind */
    /* SWAP: the asset as CHAIN.SYMBOL (short codes such as "b" expanded, upper case), the
     * destination as written, and for a BTC destination its decoded address. */
    char asset[96], chain[16];
    char dest[128];
    int dest_is_btc;
    btc_addr dest_addr;
    int has_limit;
    evm_u256 limit;              /* in the destination asset's base units (1e8 for BTC) */
    uint32_t interval, quantity; /* streaming swap: LIMIT/INTERVAL/QUANTITY (0 if absent) */
    char affiliate[64];
    uint32_t affiliate_bps;
    /* OUT / REFUND: the inbound tx hash, 32 bytes in the order written (display order for
     * Bitcoin, as THORChain writes it: upper-case hex without 0x). */
    uint8_t in_hash[32];
    /* BRIDGE */
    evm_u256 dest_chain, nonce;
    int has_bridge;
    uint8_t bridge[20];
} xchain_memo;

/* Parse n bytes of memo text (not NUL-terminated; NUL bytes, control characters, unknown
 * actions, bad assets, addresses that do not decode, hashes that are not 64 hex digits and
 * numbers that do not fit are UTIL_EFORMAT with a message naming the field). */
int xchain_memo_parse(const char *s, size_t n, xchain_memo *m, util_err *err);

/* ---- links ---- */

typedef enum {
    XCHAIN_THORCHAIN_MEMO = 1,   /* inbound memo <-> OUT:/REFUND: hash: exact */
    XCHAIN_BRIDGE_NONCE = 2,     /* bridge deposit <-> release naming its nonce */
    XCHAIN_BRIDGE_VALUE_WINDOW,  /* recipient + asset (+ value less fees) + time window */
    XCHAIN_MIXER_SAME_ADDRESS,   /* the depositor withdraws (or receives) itself */
    XCHAIN_MIXER_LINKED_ADDRESS, /* depositor and withdrawer linked by a direct transfer */
    XCHAIN_MIXER_UNIQUE_TIMING,  /* the only deposit of the pool shortly before the withdrawal */
    XCHAIN_MIXER_GAS_PRICE,      /* same gas price, unique among the pool's deposits */
    XCHAIN_MIXER_RELAYER_BATCH,  /* a burst of relayed withdrawals after one address's deposits */
} xchain_method;
#define XCHAIN_METHODS 9
/* "thorchain_memo", "bridge_nonce", "bridge_value_window", "mixer_same_address", ... */
const char *xchain_method_name(int method);
int xchain_method_parse(const char *name);

#define XCHAIN_MAX_OUTS 8

/* One end of a link. chain: "btc" or the EVM store's chain name. hash: the Bitcoin txid in
 * internal byte order, or the EVM tx hash as written. tx: the store's tx id. */
typedef struct xchain_end {
    char chain[32];
    uint8_t hash[32];
    uint64_t tx;
    int64_t log_index; /* EVM: the event's log index; -1 otherwise */
    uint32_t n_outs;   /* Bitcoin: the outputs the link names */
    uint32_t vout[XCHAIN_MAX_OUTS];
    uint64_t out_id[XCHAIN_MAX_OUTS]; /* store output ids of vout[] */
} xchain_end;

typedef struct xchain_link {
    int method;
    xchain_end from, to;
    evm_u256 amount_in, amount_out;   /* base units of asset_in / asset_out */
    char asset_in[48], asset_out[48]; /* "ETH", "BTC", or "eth:0x<token>" */
    double confidence;                /* 0..1 */
    uint32_t candidates;              /* how many links the rule offered for this source */
    char rule[200];                   /* what matched, in words */
} xchain_link;

typedef struct xchain_links {
    xchain_link *v;
    size_t n, cap;
} xchain_links;

void xchain_links_free(xchain_links *l);

typedef struct xchain_opts {
    uint64_t bridge_window;  /* seconds after a deposit a release may come (0: 3 days) */
    uint32_t bridge_fee_bps; /* at most this fee taken off a pegged value (0: 300 = 3 %) */
    uint64_t mixer_window;   /* unique timing: seconds (0: 1 day) */
    uint64_t relayer_window; /* relayed burst: seconds between withdrawals (0: 1 hour) */
} xchain_opts;

/* Build every link. btc may be NULL (no Bitcoin side) or a store without payloads (a note in
 * *warn, then no OP_RETURN links); evms are open EVM stores. o may be NULL. *out is filled
 * (the caller frees it with xchain_links_free). warn (may be NULL, cap bytes) gets notes. */
int xchain_links_build(const store *btc, evm_store *const *evms, size_t n_evm, const xchain_opts *o,
                       xchain_links *out, char *warn, size_t cap, util_err *err);

/* A link as JSON (from/to with hex hashes, amounts as decimal strings). New reference. */
json_t *xchain_link_json(const xchain_link *l);

/* DIR/xchain/links.jsonl: a header line {"format":"cointrail-xchain-links","version":1,...}
 * then one link per line; replaced atomically. */
int xchain_links_save(const char *db, const xchain_links *l, util_err *err);
/* UTIL_ENOTFOUND if never saved; UTIL_EFORMAT naming the line for a damaged file. */
int xchain_links_load(const char *db, xchain_links *out, util_err *err);

/* ---- for the tracers ---- */

/* Links whose source (from) is the tx: chain "btc" with the txid in internal byte order, or an
 * EVM chain name with the tx hash as written. Returns how many there are and puts the indexes
 * into l of the first cap of them in idx (chain order of building: THORChain, bridges,
 * mixers). For a router or bridge deposit each link's to.out_id[0..n_outs) are the Bitcoin
 * output ids with amount_out (satoshis), method and confidence; for a mixer deposit each link's
 * to is a candidate withdrawal (one link per rule and candidate). xchain_links_touching also
 * counts links whose destination (to) is the tx. O(links). */
size_t xchain_links_from(const xchain_links *l, const char *chain, const uint8_t hash[32],
                         size_t *idx, size_t cap);
size_t xchain_links_touching(const xchain_links *l, const char *chain, const uint8_t hash[32],
                             size_t *idx, size_t cap);

#endif
