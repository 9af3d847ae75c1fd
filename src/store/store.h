/* store: the chain database. A directory of append-only column files, memory-mapped, with
 * dense integer ids (blocks, txs, inputs, outputs, addresses in chain order), two on-disk hash
 * indexes (txid -> tx id, address -> address id) and an atomic MANIFEST that says what is
 * committed. The layout and commit protocol are in docs/formats.md.
 *
 * One writer at a time (an flock on DIR/LOCK); any number of readers, who see the state of the
 * MANIFEST they opened. A writer appends whole blocks and commits; a crash at any moment leaves
 * the last committed state, which the next writable open restores exactly (undo log). */
#ifndef CT_STORE_H
#define CT_STORE_H

#include <stdint.h>

#include "../btc/btc.h"
#include "../util/util.h"

/* 4: 29-byte tx rows; 3: 5-byte id columns; 2: OP_RETURN payloads. Formats 1 to 3 open
 * read-only. */
#define STORE_FORMAT_VERSION 4
#define STORE_NONE UINT64_MAX             /* no spending input / no previous output */
#define STORE_COINBASE UINT64_MAX         /* in_prev of a coinbase input */
#define STORE_UNRESOLVED (UINT64_MAX - 1) /* in_prev of an input whose output is not stored */
#define STORE_NO_ADDR UINT32_MAX

enum { STORE_WRITE = 1, STORE_CREATE = 2 };

enum { STORE_TX_COINBASE = 1, STORE_TX_UNRESOLVED = 2, STORE_TX_SEGWIT = 4 };

typedef struct store store;

/* Running totals, kept in the MANIFEST and updated with every block (and undone on a reorg). */
typedef struct store_totals {
    uint64_t blocks, txs, inputs, outputs, addresses, unresolved_inputs;
    int64_t total_output_value, total_fees, utxo_value;
    uint64_t utxo_count;
    uint64_t outputs_by_type[BTC_NSCRIPT_TYPES];
} store_totals;

typedef struct store_block_row {
    uint64_t first_tx;
    uint64_t first_addr;   /* address count before this block: a reorg cuts back to it */
    uint8_t chainwork[16]; /* cumulative work up to and including this block, little-endian */
    uint32_t time, bits, size, n_tx;
} store_block_row;

/* A tx's row, decoded (store_tx fills it; on disk it is packed, docs/formats.md). */
typedef struct store_tx_row {
    uint64_t first_in, first_out;
    int64_t fee; /* 0 for a coinbase; meaningless when STORE_TX_UNRESOLVED is set */
    uint32_t block;
    uint32_t vsize, size, flags;
} store_tx_row;

/* An input's previous output when it is not in the store. */
typedef struct store_unresolved_row {
    uint64_t input;
    uint8_t txid[32];
    uint32_t vout, pad;
} store_unresolved_row;

/* Open (and with STORE_CREATE make) the store in dir. With STORE_WRITE takes the write lock,
 * restores the last committed state if a writer died, and cuts columns back to the MANIFEST.
 * *out is owned by the caller: store_close it. */
int store_open(store **out, const char *dir, unsigned flags, util_err *err);
/* Close; a writer's uncommitted appends are discarded (cut back at the next open). */
void store_close(store *s);

const store_totals *store_get_totals(const store *s);
/* The directory the store was opened from (indexes kept beside it live there too). */
const char *store_dir(const store *s);

/* Append one block that extends the tip. chainwork is the cumulative work including it.
 * Inputs are resolved against the store; unknown previous outputs are kept as unresolved.
 * Spending a missing output index or an already spent output is an error (invalid chain), and
 * so is a sum of amounts that overflows int64 (per tx, per block, or the running totals). The
 * coinbase may pay at most max_subsidy plus the block's fees (not checked when max_subsidy < 0,
 * or when an input of the block is unresolved: its fee is unknown). */
int store_append_block(store *s, const btc_block *blk, unsigned __int128 chainwork,
                       int64_t max_subsidy, util_err *err);
/* Make everything appended so far durable and visible: sync columns, replace the MANIFEST. */
int store_commit(store *s, util_err *err);
/* Whether the open batch's undo log is more than half full: commit before the next block. */
int store_batch_full(const store *s);
/* Remove blocks above height keep-1 (keep blocks remain), undoing their effects; for a
 * reorganisation. Commit before appending again: rows the removal freed must not be
 * rewritten inside the batch that still has them committed. */
int store_truncate_blocks(store *s, uint64_t keep, util_err *err);

/* ---- bulk loading (store_bulk.c; docs/performance.md "Bulk import") ----
 * Fills an empty store with the very bytes store_append_block would give for the same
 * blocks, by sorting and streaming instead of a random look-up per input and output. Blocks
 * go in with store_bulk_add_prepared (chain order, extending each other); store_bulk_finish
 * resolves inputs, applies store_append_block's checks in its order (the first failure is
 * the one it would report, in its words; *bad_block names the block's height), numbers the
 * addresses and builds both indexes. Nothing is committed: store_commit afterwards, once.
 * store_bulk_checkpoint, after the last block (final) or between blocks, records what was
 * added with a marker (docs/formats.md, "bulk-resume": sums, not syncs): a crash after it is
 * resumed by the next store_bulk_begin for the same chain (the caller's digest of it, chain),
 * which then restores the state instead (store_bulk_resumed: 1 after the block loop, add no
 * blocks and go to store_bulk_finish; 2 in it, add the blocks from store_bulk_blocks on); a
 * crash before it, or a marker for another chain or budget or with a missing, short or
 * changed file, leaves the empty store (store_bulk_note says why it was not used). memory: the
 * budget in bytes of the sort records (at least STORE_BULK_MIN_MEMORY; 0:
 * store_bulk_default_memory()): what does not fit is spilled as sorted runs to temp files and
 * merged. crash_phase: a test hook, SIGKILL on entering that phase (2: after the checkpoint; 3-7),
 * 0 never. Temp files (bulk-*.tmp in the store directory) are removed by store_bulk_free, by the
 * commit's next open and by a begin that does not resume. *out is the caller's: store_bulk_free it
 * (which, before the commit, forgets the checkpoint). */
typedef struct store_bulk store_bulk;
int store_bulk_begin(store *s, uint64_t memory, int crash_phase, const uint8_t chain[32],
                     store_bulk **out, util_err *err);
int store_bulk_resumed(const store_bulk *b);
uint64_t store_bulk_blocks(const store_bulk *b);  /* blocks added so far, restored ones too */
const char *store_bulk_note(const store_bulk *b); /* NULL, or a line for the user */
/* What adding a block needs of it that depends on no other block, made apart by
 * store_bulk_prepare (thread-safe: the parser threads make it) so that the one thread adding
 * blocks in chain order does less: the inputs' outpoints and the outputs' addresses as the
 * temp files take them (one write each per block), the addresses' key hashes, the nulldata
 * payloads. The caller owns it: zeroed to start, reused block after block, then
 * store_bulk_prep_free. store_bulk_add_prepared takes the block's prep (made from that very
 * block), or NULL to make it itself: the same bytes result. */
typedef struct store_bulk_prep {
    uint32_t n_in, n_out, n_addr, n_nd; /* of the block; addressed and nulldata outputs */
    uint8_t *prevouts;                  /* 36 bytes per input: txid, vout (LE) */
    uint8_t *addrs;                     /* a btc_addr per addressed output */
    uint64_t *key_hash;                 /* per addressed output */
    uint8_t *nd;                        /* the nulldata payloads, back to back */
    uint32_t *nd_len;                   /* per nulldata output */
    uint64_t nd_script_bytes;           /* the nulldata outputs' script bytes */
    size_t cap_in, cap_addr, cap_hash, cap_nd, cap_nd_bytes;
} store_bulk_prep;
int store_bulk_prepare(store_bulk_prep *p, const btc_block *blk, util_err *err);
void store_bulk_prep_free(store_bulk_prep *p);
int store_bulk_add_prepared(store_bulk *b, const btc_block *blk, const store_bulk_prep *p,
                            unsigned __int128 chainwork, int64_t max_subsidy, util_err *err);
/* Between store_bulk_assist_begin and store_bulk_assist_end (both on the thread adding the
 * blocks: begin before the other threads start, end after they stopped), the pages the block
 * loop is about to write are queued instead of populated by it, and store_bulk_assist (any
 * thread, as often as it likes) populates what is queued; it returns how many pieces it did. */
void store_bulk_assist_begin(store_bulk *b);
int store_bulk_assist(store_bulk *b);
void store_bulk_assist_end(store_bulk *b);
int store_bulk_checkpoint(store_bulk *b, int final, util_err *err);
int store_bulk_finish(store_bulk *b, uint64_t *bad_block, util_err *err);
void store_bulk_free(store_bulk *b);
/* Where store_bulk_finish spent its wall time, in seconds (docs/performance.md): sorting txids
 * and outpoints, merging and checking whole txids, marking spent outputs, sorting back by
 * input, validating, numbering addresses, building the two hash indexes. */
enum { STORE_BULK_PHASES = 7 };
extern const char *const store_bulk_phase_names[STORE_BULK_PHASES];
void store_bulk_phase_seconds(const store_bulk *b, double out[STORE_BULK_PHASES]);
/* The smallest budget (below it the merges' reads would be tiny) and the default: a quarter of
 * the physical memory (the rest is for the columns' pages and the page cache). */
#define STORE_BULK_MIN_MEMORY (1u << 20)
uint64_t store_bulk_default_memory(void);
/* What the bulk import's sorts held: the budget, the most heap they held at once (sort
 * records, merge buffers, the sort scratch), the bytes they spilled to temp files, and the
 * process's largest anonymous resident memory (RssAnon, all heap) seen between phases, and
 * how often the mapped column and temp file pages, past the budget, were dropped from the
 * process's mapping (they stay in the page cache), and how many address keys were sorted with
 * their key-hash records rather than compared through the key file's mapping (it was larger
 * than the budget). */
typedef struct store_bulk_mem {
    uint64_t budget, sort_heap_peak, spilled_bytes, rss_anon_peak, map_drops, keys_sorted;
} store_bulk_mem;
void store_bulk_memory(const store_bulk *b, store_bulk_mem *out);

/* ---- reads (valid for ids below the committed totals) ---- */
const uint8_t *store_block_hash(const store *s, uint64_t height);
const store_block_row *store_block(const store *s, uint64_t height);
unsigned __int128 store_block_chainwork(const store *s, uint64_t height);
/* The proof-of-work rules the chain was imported under (btc_net_name), kept in the MANIFEST,
 * or "" if none was recorded (stores made before it was). */
const char *store_network(const store *s);
/* Record them; written by the next store_commit. */
int store_set_network(store *s, const char *name, util_err *err);
/* Height of a block hash in the main chain, or -1. */
int64_t store_find_block(const store *s, const uint8_t hash[32]);

const uint8_t *store_tx_hash(const store *s, uint64_t tx);
/* The row of tx into *out. No error code: like every read here it cannot fail for an id below
 * the totals (the row is decoded from the column, nothing is looked up). */
void store_tx(const store *s, uint64_t tx, store_tx_row *out);
/* Single fields of it, for loops that need only one (no whole decode). */
uint64_t store_tx_first_in(const store *s, uint64_t tx);
uint64_t store_tx_first_out(const store *s, uint64_t tx);
uint32_t store_tx_block(const store *s, uint64_t tx);
uint32_t store_tx_n_in(const store *s, uint64_t tx);
uint32_t store_tx_n_out(const store *s, uint64_t tx);
/* Tx id of a txid, or -1 (UTIL_ENOTFOUND-free: absence is a normal answer). */
int64_t store_find_tx(const store *s, const uint8_t txid[32]);
/* The tx an output or an input belongs to (binary search over first_out / first_in). */
uint64_t store_output_tx(const store *s, uint64_t out);
uint64_t store_input_tx(const store *s, uint64_t in);

int64_t store_out_value(const store *s, uint64_t out);
uint32_t store_out_addr(const store *s, uint64_t out);
int store_out_type(const store *s, uint64_t out);
/* The input that spends out, or STORE_NONE. */
uint64_t store_out_spent_by(const store *s, uint64_t out);
/* The output an input spends, STORE_COINBASE, or STORE_UNRESOLVED. */
uint64_t store_in_prev(const store *s, uint64_t in);
/* The outpoint of an unresolved input; 0 or UTIL_ENOTFOUND. */
int store_in_unresolved(const store *s, uint64_t in, uint8_t txid[32], uint32_t *vout);

/* The key of address id addr into *out. */
void store_addr(const store *s, uint32_t addr, btc_addr *out);
/* Its mainnet string form (btc_addr_encode) into out (at least 128 bytes); the length. */
size_t store_addr_text(const store *s, uint32_t addr, char *out);
/* Address id of a key, or -1. */
int64_t store_find_addr(const store *s, const btc_addr *key);
/* Outputs paying an address, newest first: start with store_addr_last_out, then
 * store_out_prev_same_addr until STORE_NONE. */
uint64_t store_addr_last_out(const store *s, uint32_t addr);
uint64_t store_out_prev_same_addr(const store *s, uint64_t out);

/* OP_RETURN payloads (the data pushed after OP_RETURN, see btc_nulldata_payload). A format 1
 * store has none: store_has_payloads is 0 and every look-up finds nothing. */
int store_has_payloads(const store *s);
/* The payload of a nulldata output: 0 with *p (into the mapping, valid while the store is
 * open) and *n, or UTIL_ENOTFOUND (not a nulldata output, or no payloads stored). */
int store_out_payload(const store *s, uint64_t out, const uint8_t **p, size_t *n);
/* Every nulldata output in output order: i below store_payload_count. */
uint64_t store_payload_count(const store *s);
void store_payload_at(const store *s, uint64_t i, uint64_t *out, const uint8_t **p, size_t *n);

/* Recompute the totals by scanning every column (an independent check of the running totals;
 * O(chain)): each field as its row-by-row definition gives it, in sequential passes
 * (docs/performance.md "Full scan"). UTIL_ECORRUPT when a column holds what no definition can
 * read (a script type past the last, a tx whose inputs or outputs are past the rows). */
int store_recompute_totals(const store *s, store_totals *t, util_err *err);
/* The same, the passes cut into threads slices scanned in parallel (1 to
 * STORE_SCAN_THREADS_MAX; the same figures for any count). *fees_by_rows (when not NULL): 0
 * when the fees came from the sums of the passes, which holds when the txs' runs of inputs
 * and outputs partition the rows (every valid store); 1 when they do not, and the fees were
 * summed tx by tx. Both give the definition's figure; the first is the fast one, and a test
 * can see which was taken. */
#define STORE_SCAN_THREADS_MAX 64
int store_recompute_totals_threads(const store *s, unsigned threads, store_totals *t,
                                   int *fees_by_rows, util_err *err);

#endif
