/* evm: Ethereum-style (EVM) chains. Keccak-256 and EIP-55 addresses, exact 256-bit amounts,
 * an RFC 4180 CSV reader for ethereum-etl exports, the per-chain store DIR/evm/<chain>/ and
 * the import that turns exports into blocks of value moves (docs/evm.md).
 *
 * Steps of an import, each its own function so a second source (a node's JSON-RPC) can feed
 * the same store: (1) evm_batch_read_file parses and checks every row of every file into an
 * evm_batch in memory (nothing touches the store); (2) evm_batch_assemble checks the files
 * against each other and yields evm_block structs in chain order; (3) evm_store_append_block
 * appends each block, evm_store_commit makes them durable and visible. The importers (CSV
 * files, a node's JSON-RPC) are src/evmingest, the answers over the store src/evmquery.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills the caller's
 * util_err (may be NULL) with a message naming the file, line and column, or the argument. */
#ifndef CT_EVM_H
#define CT_EVM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

#define EVM_FORMAT_VERSION 2  /* of DIR/evm/<chain>/; 2 adds the events table (1: read-only) */
#define EVM_NONE32 UINT32_MAX /* no address (contract creation without receipt, minted value) */
#define EVM_NONE64 UINT64_MAX /* end of a per-address list; no tx (block-level transfer) */

/* ---- Addresses (Keccak-256 is crypto_keccak256, src/crypto) ---- */

/* The EIP-55 mixed-case checksum spelling of an address: "0x" + 40 hex digits + NUL. */
void evm_addr_eip55(char out[43], const uint8_t addr[20]);
/* Parse "0x" + 40 hex digits (n bytes at s, not NUL-terminated). All-lower and all-upper
 * spellings are accepted as is; a mixed-case one must carry a valid EIP-55 checksum.
 * UTIL_EFORMAT with a message (no file context) otherwise. */
int evm_addr_parse(uint8_t out[20], const char *s, size_t n, util_err *err);
/* Parse "0x" + exactly 64 hex digits into 32 bytes in the order written. */
int evm_hash_parse(uint8_t out[32], const char *s, size_t n, util_err *err);
/* "0x" + 64 lowercase hex digits + NUL. */
void evm_hash_hex(char out[67], const uint8_t h[32]);

/* ---- exact 256-bit unsigned integers ---- */

typedef struct evm_u256 {
    uint64_t w[4]; /* little-endian limbs: w[0] is the least significant */
} evm_u256;

#define EVM_U256_DEC_MAX 79 /* 78 digits of 2^256-1 and a NUL */

/* Decimal digits only (ethereum-etl's form), or "0x" + 1..64 hex digits. No sign, no spaces;
 * leading zeros are fine. UTIL_EFORMAT ("empty", "not a number", "exceeds 2^256-1"). */
int evm_u256_parse(evm_u256 *out, const char *s, size_t n, util_err *err);
/* Decimal text of v into out (at least EVM_U256_DEC_MAX bytes). */
void evm_u256_format(char out[EVM_U256_DEC_MAX], const evm_u256 *v);
/* r = a + b, r = a - b, r = a * m. 0, or -1 on overflow/underflow (r is then unspecified).
 * r may alias a or b. */
int evm_u256_add(evm_u256 *r, const evm_u256 *a, const evm_u256 *b);
int evm_u256_sub(evm_u256 *r, const evm_u256 *a, const evm_u256 *b);
int evm_u256_mul64(evm_u256 *r, const evm_u256 *a, uint64_t m);
int evm_u256_cmp(const evm_u256 *a, const evm_u256 *b); /* -1, 0, 1 */
static inline int evm_u256_is_zero(const evm_u256 *v)
{
    return !(v->w[0] | v->w[1] | v->w[2] | v->w[3]);
}
/* From and to 32 little-endian bytes (the stored form). */
void evm_u256_load(evm_u256 *v, const uint8_t p[32]);
void evm_u256_store(uint8_t p[32], const evm_u256 *v);

/* ---- CSV (RFC 4180: comma separated, "quoted" fields with "" for a quote, CRLF or LF) ---- */

#define EVM_CSV_MAX_FIELDS 64

/* A reader over bytes in memory (not copied: data must outlive the reader). name is used in
 * messages ("NAME:LINE: column C: problem") and is not copied either. */
typedef struct evm_csv {
    const char *name;
    const char *data;
    size_t len, pos;
    uint64_t line;      /* line number where the current row starts (1-based) */
    uint64_t next_line; /* line number of the next row */
    size_t nf;          /* fields in the current row */
    const char *f[EVM_CSV_MAX_FIELDS];
    size_t flen[EVM_CSV_MAX_FIELDS];
    util_buf scratch; /* unquoted copies of quoted fields; owned, freed by evm_csv_free */
} evm_csv;

void evm_csv_init(evm_csv *c, const char *name, const char *data, size_t len);
void evm_csv_free(evm_csv *c);
/* Next row into c->f/flen/nf (valid until the next call). 1 a row, 0 end of data, or
 * UTIL_EFORMAT: an unterminated quote, text after a closing quote, a NUL byte, more than
 * EVM_CSV_MAX_FIELDS fields. An empty line at the end of the data is no row. */
int evm_csv_next(evm_csv *c, util_err *err);

/* ---- the in-memory block that every source fills ---- */

typedef enum {
    EVM_XFER_TX = 1,         /* a transaction's own value (top-level call or create) */
    EVM_XFER_INTERNAL = 2,   /* a call/create/selfdestruct inside a transaction (traces) */
    EVM_XFER_ERC20 = 3,      /* an ERC-20 Transfer(address,address,uint256) event */
    EVM_XFER_REWARD = 4,     /* block or uncle reward, genesis allocation (traces): no sender */
    EVM_XFER_WITHDRAWAL = 5, /* beacon-chain withdrawal (blocks.csv withdrawals): no sender */
    EVM_XFER_FEE = 6,        /* gas fee paid by the sender (to the miner and burnt: no receiver) */
} evm_xfer_kind;
#define EVM_XFER_KINDS 7
/* "tx", "internal", "erc20", "reward", "withdrawal", "fee" */
const char *evm_xfer_kind_name(int kind);

enum {
    EVM_TX_FAILED = 1,         /* receipt status 0 (or a failed top-level trace): no value moved */
    EVM_TX_STATUS_UNKNOWN = 2, /* no receipt status and no trace: assumed successful */
    EVM_TX_NO_RECEIPT = 4,     /* no receipt given: gas used and fee unknown (fee 0) */
    EVM_TX_CREATE = 8,         /* contract creation (no to_address) */
};

typedef struct evm_tx {
    uint8_t hash[32];
    uint8_t from[20], to[20]; /* to: the new contract for a creation, when the receipt says */
    int has_to;
    uint32_t index; /* position in the block */
    uint32_t flags; /* EVM_TX_* */
    uint64_t gas_used;
    evm_u256 value, gas_price, fee; /* gas_price: effective price paid; fee = gas_used * price */
} evm_tx;

typedef struct evm_xfer {
    uint8_t kind; /* evm_xfer_kind */
    uint32_t tx;  /* index into evm_block.txs, or EVM_NONE32 for block-level value */
    int has_from; /* 0 for rewards and withdrawals */
    int has_to;   /* 0 for a creation whose new contract is unknown (no receipt) */
    uint8_t from[20], to[20];
    uint8_t token[20]; /* the ERC-20 contract; zero for native value */
    evm_u256 amount;
    uint32_t log_index;        /* ERC-20: the log index; others: 0 */
    const char *trace_address; /* internal: "0,1" as in traces.csv, NUL-terminated; NULL or ""
                                * otherwise. Owned by whoever filled the block. */
} evm_xfer;

/* ---- protocol events (logs recognised by topic0, any emitting contract) ---- */

typedef enum {
    /* Tornado Cash Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp):
     * word = commitment, u[0] = leafIndex, u[1] = timestamp */
    EVM_EV_MIXER_DEPOSIT = 1,
    /* Tornado Cash Withdrawal(address to, bytes32 nullifierHash, address indexed relayer,
     * uint256 fee): addr[0] = to, addr[1] = relayer, word = nullifierHash, u[0] = fee */
    EVM_EV_MIXER_WITHDRAWAL = 2,
    /* Bridge Deposit(uint256 destChain, string recipient, uint256 nonce, address token,
     * uint256 amount): u[0] = destChain, u[1] = nonce, u[2] = amount, addr[0] = token
     * (zero for the native coin), text = recipient */
    EVM_EV_BRIDGE_DEPOSIT = 3,
    /* THORChain router Deposit(address indexed to, address indexed asset, uint256 amount,
     * string memo): addr[0] = to (the vault), addr[1] = asset (zero: native), u[0] = amount,
     * text = memo */
    EVM_EV_ROUTER_DEPOSIT = 4,
    /* THORChain router TransferOut(address indexed vault, address indexed to, address asset,
     * uint256 amount, string memo): addr[0] = vault, addr[1] = to, addr[2] = asset,
     * u[0] = amount, text = memo (OUT:HASH or REFUND:HASH) */
    EVM_EV_ROUTER_TRANSFER_OUT = 5,
} evm_event_kind;
#define EVM_EVENT_KINDS 6
#define EVM_EVENT_TEXT_MAX 1024 /* longest string argument kept; longer ones are refused */
/* "mixer_deposit", "mixer_withdrawal", "bridge_deposit", "router_deposit",
 * "router_transfer_out" */
const char *evm_event_kind_name(int kind);

typedef struct evm_event {
    uint8_t kind; /* evm_event_kind */
    uint32_t tx;  /* index into evm_block.txs */
    uint32_t log_index;
    uint8_t contract[20]; /* the emitter */
    uint8_t addr[3][20];
    uint8_t word[32];
    evm_u256 u[3];
    const char *text; /* string argument, NUL-terminated (may hold NULs before text_len) */
    uint32_t text_len;
} evm_event;

/* Decode a log (topics as ethereum-etl writes them, data "0x..." hex) if its topic0 is one of
 * the events above with the right number of topics. 1 decoded (ev's kind, addr, word, u and
 * text filled: the string's bytes go to text, which holds cap bytes, NUL-terminated; ev->tx,
 * log_index and contract are left to the caller), 0 not one of them, UTIL_EFORMAT for ABI
 * data that does not decode (short data, an offset or length out of range, an address word
 * with high bytes set, a uint32 above 2^32-1, a string longer than EVM_EVENT_TEXT_MAX). */
int evm_decode_event_log(const char *topics, size_t topics_len, const char *data, size_t data_len,
                         evm_event *ev, char *text, size_t cap, util_err *err);

/* One block as a source hands it over. Arrays are owned by whoever filled the block. */
typedef struct evm_block {
    uint64_t number;
    uint8_t hash[32], parent[32];
    uint64_t timestamp;
    evm_tx *txs;
    size_t n_txs;
    evm_xfer *xfers; /* in order: per tx its own value, its fee, internal transfers (trace
                      * order), ERC-20 (log index order); block-level transfers last */
    size_t n_xfers;
    evm_event *events; /* protocol events of successful txs, in log index order */
    size_t n_events;
} evm_block;

/* ---- token registry entry (tokens.csv) ---- */
typedef struct evm_token_meta {
    uint8_t addr[20];
    int decimals; /* -1 unknown */
    char symbol[64], name[128];
} evm_token_meta;

/* ---- reading ethereum-etl exports ---- */

typedef enum {
    EVM_FILE_UNKNOWN = 0,
    EVM_FILE_BLOCKS,
    EVM_FILE_TRANSACTIONS,
    EVM_FILE_RECEIPTS,
    EVM_FILE_LOGS,
    EVM_FILE_TOKEN_TRANSFERS,
    EVM_FILE_TRACES,
    EVM_FILE_TOKENS,
    EVM_FILE_CONTRACTS, /* recognised (ethereum-etl exports it beside the others) and skipped */
} evm_file_kind;

const char *evm_file_kind_name(evm_file_kind k);

/* The parsed content of one import's files. Opaque; evm_batch_free it. */
typedef struct evm_batch evm_batch;

int evm_batch_new(evm_batch **out, util_err *err);
void evm_batch_free(evm_batch *b);
/* Read one file (recognised by its header row) completely into the batch. Any malformed row:
 * UTIL_EFORMAT "PATH:LINE: column NAME: problem". A file whose header is none of the export
 * kinds: UTIL_EFORMAT naming the file. *kind (may be NULL) says what it was. */
int evm_batch_read_file(evm_batch *b, const char *path, evm_file_kind *kind, util_err *err);
/* The same over bytes in memory (name is used in messages). */
int evm_batch_read_mem(evm_batch *b, const char *name, const char *data, size_t len,
                       evm_file_kind *kind, util_err *err);
/* Check the files against each other (every tx, receipt, log, transfer and trace belongs to a
 * block given; receipts match txs; a block's transaction_count matches its txs) and build the
 * blocks in ascending number. The blocks and their arrays belong to the batch. */
int evm_batch_assemble(evm_batch *b, const evm_block **blocks, size_t *n, util_err *err);
/* Token metadata rows read (from tokens.csv), owned by the batch. */
void evm_batch_tokens(const evm_batch *b, const evm_token_meta **tokens, size_t *n);

/* Decode an ERC-20 Transfer log (topics as ethereum-etl writes them: comma-separated hex).
 * 1 if it is one (from, to, amount filled), 0 if not a Transfer with 3 topics and a 32-byte
 * value (ethereum-etl's rule: topics plus data words must be exactly 4). */
int evm_decode_transfer_log(const char *topics, size_t topics_len, const char *data,
                            size_t data_len, uint8_t from[20], uint8_t to[20], evm_u256 *amount);

/* ---- the store: DIR/evm/<chain>/ ---- */

typedef struct evm_store evm_store;
enum { EVM_STORE_WRITE = 1, EVM_STORE_CREATE = 2 };

/* Open the chain's store. With EVM_STORE_WRITE takes DIR/evm/<chain>/LOCK exclusively
 * (UTIL_EBUSY if held), repairs what a killed writer left after the last commit and cuts every
 * file back to the MANIFEST; readers take the lock shared. UTIL_ENOTFOUND if the store does
 * not exist and EVM_STORE_CREATE is not given. *out is owned by the caller: evm_store_close. */
int evm_store_open(evm_store **out, const char *dir, const char *chain, unsigned flags,
                   util_err *err);
/* Close; uncommitted appends are discarded (cut back by the next writer). NULL is fine. */
void evm_store_close(evm_store *s);

/* Append one block. It must extend the tip (number tip+1 and parent hash = tip hash), or be
 * the first block of an empty store (any number: exports rarely start at genesis).
 * UTIL_EFORMAT for a gap or a parent mismatch (the data does not fit the store). */
int evm_store_append_block(evm_store *s, const evm_block *b, util_err *err);
/* Merge token metadata into the registry (replaces the fields of an address given again). */
int evm_store_set_tokens(evm_store *s, const evm_token_meta *t, size_t n, util_err *err);
/* Make appended blocks and token metadata durable and visible (columns and heads fsynced,
 * then the MANIFEST replaced atomically). */
int evm_store_commit(evm_store *s, util_err *err);
/* Crash-recovery test hook: the n-th commit through this handle _exit(9)s after writing its rows
 * and list heads, before the MANIFEST (0: never). */
void evm_store_test_crash_in_commit(evm_store *s, uint64_t n);
/* Remove blocks with number >= from (a reorganisation) and commit the removal. */
int evm_store_truncate(evm_store *s, uint64_t from, util_err *err);

/* ---- reads (committed state) ---- */

typedef struct evm_stats {
    uint64_t first_block, blocks, txs, failed_txs, transfers, addresses, tokens;
    uint64_t xfers_by_kind[EVM_XFER_KINDS]; /* index evm_xfer_kind */
    evm_u256 native_tx_value, native_internal_value, fees, rewards, withdrawals;
    uint8_t tip[32];
} evm_stats;

typedef struct evm_block_row {
    uint64_t number, timestamp, first_tx, first_xfer, first_addr, first_token, first_trace;
    uint8_t hash[32], parent[32];
    uint32_t n_tx;
} evm_block_row;

typedef struct evm_tx_row {
    uint8_t hash[32];
    uint64_t block;    /* block row (number - first_block) */
    uint32_t index;    /* in the block */
    uint32_t from, to; /* address ids; to EVM_NONE32 for a creation without receipt */
    uint32_t flags;    /* EVM_TX_* */
    uint64_t gas_used;
    uint64_t first_xfer;
    evm_u256 value, gas_price, fee;
} evm_tx_row;

typedef struct evm_xfer_row {
    uint8_t kind;
    uint64_t tx;       /* tx id or EVM_NONE64 */
    uint64_t block;    /* block row */
    uint32_t from, to; /* address ids; from EVM_NONE32 for rewards and withdrawals */
    uint32_t token;    /* 0 native, else token id (1-based) */
    uint32_t log_index;
    uint64_t prev_from; /* previous transfer with the same sender, or EVM_NONE64 */
    uint64_t prev_to;   /* previous transfer with the same receiver, or EVM_NONE64 */
    uint64_t trace_off;
    uint32_t trace_len;
    evm_u256 amount;
} evm_xfer_row;

/* A stored protocol event (evm_event's fields; see evm_event_kind for their meaning). */
typedef struct evm_event_row {
    uint8_t kind;
    uint32_t log_index;
    uint64_t tx;    /* tx id */
    uint64_t block; /* block row */
    uint8_t contract[20];
    uint8_t addr[3][20];
    uint8_t word[32];
    evm_u256 u[3];
    uint32_t text_len;
    char text[EVM_EVENT_TEXT_MAX + 1]; /* NUL-terminated */
} evm_event_row;

/* Whether the store keeps events (0: a format 1 store, read as having none). */
int evm_store_has_events(const evm_store *s);
/* Committed events, in chain order (block, tx, log index): ids 0 .. count-1. */
uint64_t evm_store_event_count(const evm_store *s);
int evm_store_event(const evm_store *s, uint64_t id, evm_event_row *out, util_err *err);

/* First block number, block count and tip hash, appended blocks included (cheap). */
void evm_store_tip(const evm_store *s, uint64_t *first_block, uint64_t *n_blocks, uint8_t tip[32]);
/* Committed tx, transfer and address counts (ids below them are valid). */
void evm_store_counts(const evm_store *s, uint64_t *txs, uint64_t *xfers, uint64_t *addrs);
/* Whole-store figures: a scan of every tx and transfer. */
int evm_store_stats(const evm_store *s, evm_stats *st);
const char *evm_store_chain(const evm_store *s);
int evm_store_block(const evm_store *s, uint64_t row, evm_block_row *out, util_err *err);
int evm_store_tx(const evm_store *s, uint64_t id, evm_tx_row *out, util_err *err);
/* The tx id of a hash. UTIL_ENOTFOUND if not stored. (A scan: O(txs) for now.) */
int evm_store_find_tx(const evm_store *s, const uint8_t hash[32], uint64_t *id, util_err *err);
int evm_store_xfer(const evm_store *s, uint64_t id, evm_xfer_row *out, util_err *err);
/* The trace address of an internal transfer ("0,1"; "" for other kinds), NUL-terminated into
 * out, which holds cap >= x->trace_len + 1 bytes. */
int evm_store_xfer_trace(const evm_store *s, const evm_xfer_row *x, char *out, size_t cap,
                         util_err *err);
int evm_store_addr(const evm_store *s, uint32_t id, uint8_t out[20], util_err *err);
/* Address id of 20 bytes; UTIL_ENOTFOUND if the address never moved value here. */
int evm_store_find_addr(const evm_store *s, const uint8_t addr[20], uint32_t *id, util_err *err);
/* Newest transfer touching an address (as sender or receiver), or EVM_NONE64. Walk on with
 * evm_store_addr_next: the list is newest first and holds a self-transfer once. */
int evm_store_addr_head(const evm_store *s, uint32_t addr, uint64_t *xfer, util_err *err);
int evm_store_addr_next(const evm_store *s, uint32_t addr, uint64_t xfer, uint64_t *next,
                        util_err *err);
/* Token id (1-based) -> contract address and metadata (decimals -1 when unknown). */
int evm_store_token(const evm_store *s, uint32_t id, evm_token_meta *out, util_err *err);

#endif
