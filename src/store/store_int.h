/* store's insides shared by its files: the column layout, the on-disk hash index and undo log
 * records, struct store, and the helpers more than one file calls. Not part of the module's
 * interface (store.h is). */
#ifndef CT_STORE_INT_H
#define CT_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "store.h"
#include "../colstore/colstore.h"

#define TX_SAMPLE 64 /* txs per entry of a reader's tx sample */
/* A reader builds the tx sample once it has searched more than n_sample / SAMPLE_AFTER + 64
 * times: the searches before it then cost about what the build costs, so opening stays O(1)
 * while a long scan still gets the sample. */
#define SAMPLE_AFTER 8

/* A memory-mapped column (colstore); rows counts committed + appended rows. */
typedef colstore_col column;

enum {
    COL_BLK_HASH,
    COL_BLK,
    COL_TX_HASH,
    COL_TX,
    COL_IN_PREV,
    COL_UNRES,
    COL_OUT_VALUE,
    COL_OUT_ADDR,
    COL_OUT_TYPE,
    COL_OUT_SPENT,
    COL_OUT_PREV_ADDR,
    COL_ADDR_KEY,
    COL_ADDR_LAST,
    COL_ND,        /* per nulldata output: u64 output id, u64 end of its payload in COL_ND_DATA */
    COL_ND_DATA,   /* OP_RETURN payload bytes, back to back */
    COL_ADDR_TAIL, /* format 3: bytes 16..32 of the programs longer than 20 bytes */
    NCOLS
};
/* Columns a format 1 store does not have: opened read-only as "no payloads". */
#define COL_FIRST_V2 COL_ND

/* Open-addressing hash index on disk: slots of (24-bit fingerprint << 40 | id + 1), 0 empty.
 * Entries are verified against the full key in its column, and entries whose id is not below
 * the live row count are stale (left by a crash or a reorg) and count as free. */
typedef struct hindex {
    const char *name;
    int fd;
    uint64_t *slots;
    uint64_t cap; /* power of two */
    uint64_t used;
} hindex;

#define IDX_HEADER_WORDS 4              /* magic, version, capacity, reserved */
#define IDX_MAGIC 0x786469746e696f63ULL /* "cointidx" */
#define IDX_VERSION 1                   /* of the index files, independent of the store format */

/* The undo log: old values of entries below the committed length that the open batch
 * changed in place. It is a shared mapping, so every record is in the page cache before the
 * change it protects; a crashed batch is rolled back from it at the next writable open. */
typedef struct undo_rec {
    uint64_t col, index, old;
} undo_rec;
typedef struct undo_hdr {
    uint64_t magic, count;
    uint8_t base[32]; /* checksum of the MANIFEST the batch started from */
} undo_hdr;
#define UNDO_MAGIC 0x676f6c6f646e7563ULL
#define UNDO_CAP_RECORDS (((size_t)1 << 30) / sizeof(undo_rec))
#define UNDO_INITIAL_BYTES ((size_t)1 << 20)

/* The redo log (store_redo.c, docs/formats.md "Redo log"): what a commit records instead of
 * syncing the pages it changed in place. Targets are the columns (0..NCOLS-1) and the two
 * indexes (REDO_TXIDX, REDO_ADDRIDX); a record is (target << 56 | row or slot, new value). */
#define REDO_TXIDX NCOLS
#define REDO_ADDRIDX (NCOLS + 1)
#define REDO_TARGETS (NCOLS + 2)
#define REDO_INDEX_MASK ((1ULL << 56) - 1)
#define REDO_HDR_BYTES 64
#define REDO_MIN_LIMIT ((uint64_t)16 << 20)

struct store {
    char dir[4096];
    int writable;
    int lock_fd;
    column cols[NCOLS];
    hindex txidx, addridx;
    store_totals committed, live;
    uint8_t manifest_sum[32]; /* checksum of the committed MANIFEST */
    int bulk_keep;    /* a bulk import's checkpoint (STORE_BULK_MARKER) owns the rows past the
                         empty commit: cut_back leaves the column files' lengths alone */
    int opened_clean; /* every column file was exactly its committed length at open */
    uint8_t genesis[32];
    int have_genesis;
    char network[16]; /* proof-of-work rules the chain was imported under ("" = not recorded) */
    /* block hash -> height, in memory (small: one entry per block) */
    uint64_t *blkmap;
    uint64_t blkmap_cap, blkmap_used;
    /* Readers: built on demand (store_read.c), never at open, which would read the whole tx
     * column. A separate allocation so the const store of every read can fill it. */
    struct store_lazy *lazy;
    int undo_fd;
    undo_hdr *undo;
    size_t undo_mapped;
    size_t undo_file_bytes; /* the log file's size: records past it need the file grown */
    uint64_t *pf_scratch;   /* per-block prefetch scratch: key hashes, then candidate ids */
    size_t pf_cap;
    uint64_t undo_base[NCOLS]; /* rows committed per column: changes below need undo records */
    /* Per column, dirty[c][0] is set when a reorganisation cut the column below undo_base: the
     * next commit syncs the rows written again from there on in sequence, as it syncs the
     * rows appended past undo_base (store_commit). Changes in place go to the redo log. */
    uint64_t dirty[NCOLS][2];
    /* The redo log (writers). Entries changed in place below the committed length (and index
     * slots) since the last commit are noted in redo_keys; the commit writes their values to
     * the log instead of syncing their pages, which a checkpoint syncs later, once for many
     * commits. ck holds, per target, the span changed in place since the last checkpoint. */
    int redo_fd;
    int redo_ready;           /* replayed at open: changes from now on are noted */
    int redo_mute;            /* an index is being rebuilt (synced whole): nothing to note */
    int redo_full;            /* this batch's commit must be a checkpoint */
    int redo_rebuilt;         /* indexes rebuilt at open before the replay (bit per index) */
    uint64_t redo_end;        /* bytes of the log in use: header and committed groups */
    uint64_t redo_file_bytes; /* allocated bytes of the log file */
    uint64_t *redo_keys;      /* this batch's notes: target << 56 | row or slot */
    size_t redo_n, redo_cap;
    uint64_t ck[REDO_TARGETS][2];
    int legacy;          /* format 1: no payload columns (read-only) */
    int format;          /* the MANIFEST's format version (STORE_FORMAT_VERSION when created) */
    uint8_t *nd_scratch; /* one output's payload while appending */
    size_t nd_cap;
};

/* Readers: first_out and first_in of every TX_SAMPLE-th tx, so finding the tx of an output
 * or input searches a small array that stays in cache, then one run of TX_SAMPLE rows. Built
 * by the first search past the SAMPLE_AFTER threshold, under mu; readers of the store from
 * several threads see either NULL or the whole sample. */
typedef struct store_lazy {
    pthread_mutex_t mu;
    _Atomic(uint64_t *) sample; /* n_sample first_out values, then n_sample first_in values */
    uint64_t n_sample;
    atomic_uint_fast64_t searches;
} store_lazy;

static inline void *store_col_at(const store *s, int col, uint64_t row)
{
    const column *c = &s->cols[col];
    return c->base + row * c->width;
}

/* Id columns (in_prev, out_spent, out_prev_addr, addr_last): 5 bytes per row in format 3, 8 in
 * formats 1 and 2 (read only); the column's width tells. The two sentinels, STORE_NONE
 * (= STORE_COINBASE) and STORE_UNRESOLVED, are the top 40-bit values, and every value from
 * STORE_ID40_RESERVED up reads back with its upper 24 bits set, so a 5-byte column answers the
 * same u64 an 8-byte one does. Real ids stay below STORE_ID40_RESERVED (checked by the
 * writers). A 5-byte memcpy, not an 8-byte load masked: past a column's last row is PROT_NONE
 * address space (colstore), which an over-read at a page's end would fault on. */
#define STORE_ID_WIDTH 5
#define STORE_ID40_MASK ((1ULL << 40) - 1)
#define STORE_ID40_RESERVED (STORE_ID40_MASK - 15)

static inline uint64_t store_id_decode(const uint8_t *p, size_t width)
{
    uint64_t v;
    if (width == 8) {
        memcpy(&v, p, 8);
        return v;
    }
    uint32_t lo;
    memcpy(&lo, p, 4);
    v = (uint64_t)lo | (uint64_t)p[4] << 32;
    return v >= STORE_ID40_RESERVED ? v | ~STORE_ID40_MASK : v;
}

static inline void store_id_encode(uint8_t *p, size_t width, uint64_t v)
{
    if (width == 8) {
        memcpy(p, &v, 8);
        return;
    }
    uint32_t lo = (uint32_t)v;
    memcpy(p, &lo, 4);
    p[4] = (uint8_t)(v >> 32);
}

/* Whether column col is one of the id columns (the only ones changed in place). */
static inline int store_id_col(const store *s, int col)
{
    (void)s;
    return col == COL_IN_PREV || col == COL_OUT_SPENT || col == COL_OUT_PREV_ADDR ||
           col == COL_ADDR_LAST;
}

/* Row row of id column col (little-endian host, as every column). */
static inline uint64_t store_id_get(const store *s, int col, uint64_t row)
{
    const column *c = &s->cols[col];
    return store_id_decode(c->base + row * c->width, c->width);
}

/* Write an id column's row directly (rows appended in this batch; in-place changes of older
 * rows go through store_col_set_u64, which logs the old value). */
static inline void store_id_put(store *s, int col, uint64_t row, uint64_t v)
{
    column *c = &s->cols[col];
    store_id_encode(c->base + row * c->width, c->width, v);
}

/* Tx rows (COL_TX). Readers and writers go through these, never through a struct pointer
 * into the column, so the row's layout on disk is free to differ from store_tx_row: the
 * column's width tells which layout a store has.
 * Format 4, STORE_TX_WIDTH bytes: first_in and first_out as 5-byte ids (below
 * STORE_ID40_RESERVED, as every input and output id), fee 8 (any int64 the checks let
 * through), block 4, vsize and size 3 each (a tx is at most STORE_TX_SIZE_MAX bytes: checked
 * by store_check_id_room; blocks are at most 8 MB), flags 1.
 * Formats 1-3, STORE_TX_WIDTH3 bytes: store_tx_row as it is in memory (read only).
 * Fields are read with memcpy (rows are not aligned, and past a column's last row is
 * PROT_NONE address space: no over-reads), little-endian host as every column. */
#define STORE_TX_WIDTH 29
#define STORE_TX_WIDTH3 40
#define STORE_TX_SIZE_MAX 0xffffffu
enum {
    TX4_IN = 0,
    TX4_OUT = 5,
    TX4_FEE = 10,
    TX4_BLOCK = 18,
    TX4_VSIZE = 22,
    TX4_SIZE = 25,
    TX4_FLAGS = 28
};

static inline uint64_t store_le40(const uint8_t *p)
{
    uint32_t lo;
    memcpy(&lo, p, 4);
    return (uint64_t)lo | (uint64_t)p[4] << 32;
}
static inline uint32_t store_le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}
static inline void store_put_le40(uint8_t *p, uint64_t v)
{
    uint32_t lo = (uint32_t)v;
    memcpy(p, &lo, 4);
    p[4] = (uint8_t)(v >> 32);
}
static inline void store_put_le24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
}

static inline const uint8_t *store_txrow_at(const store *s, uint64_t tx)
{
    const column *c = &s->cols[COL_TX];
    return c->base + tx * c->width;
}
static inline uint64_t store_txrow_first_in(const uint8_t *p, size_t width)
{
    if (width == STORE_TX_WIDTH) return store_le40(p + TX4_IN);
    uint64_t v;
    memcpy(&v, p + offsetof(store_tx_row, first_in), 8);
    return v;
}
static inline uint64_t store_txrow_first_out(const uint8_t *p, size_t width)
{
    if (width == STORE_TX_WIDTH) return store_le40(p + TX4_OUT);
    uint64_t v;
    memcpy(&v, p + offsetof(store_tx_row, first_out), 8);
    return v;
}
static inline uint32_t store_txrow_flags(const uint8_t *p, size_t width)
{
    if (width == STORE_TX_WIDTH) return p[TX4_FLAGS];
    uint32_t v;
    memcpy(&v, p + offsetof(store_tx_row, flags), 4);
    return v;
}
static inline uint32_t store_txrow_block(const uint8_t *p, size_t width)
{
    uint32_t v;
    memcpy(&v, p + (width == STORE_TX_WIDTH ? TX4_BLOCK : offsetof(store_tx_row, block)), 4);
    return v;
}
static inline void store_txrow_decode(const uint8_t *p, size_t width, store_tx_row *r)
{
    if (width != STORE_TX_WIDTH) {
        memcpy(r, p, sizeof *r);
        return;
    }
    r->first_in = store_le40(p + TX4_IN);
    r->first_out = store_le40(p + TX4_OUT);
    memcpy(&r->fee, p + TX4_FEE, 8);
    memcpy(&r->block, p + TX4_BLOCK, 4);
    r->vsize = store_le24(p + TX4_VSIZE);
    r->size = store_le24(p + TX4_SIZE);
    r->flags = p[TX4_FLAGS];
}
static inline void store_txrow_encode(uint8_t *p, size_t width, const store_tx_row *r)
{
    if (width != STORE_TX_WIDTH) {
        memcpy(p, r, sizeof *r);
        return;
    }
    store_put_le40(p + TX4_IN, r->first_in);
    store_put_le40(p + TX4_OUT, r->first_out);
    memcpy(p + TX4_FEE, &r->fee, 8);
    memcpy(p + TX4_BLOCK, &r->block, 4);
    store_put_le24(p + TX4_VSIZE, r->vsize);
    store_put_le24(p + TX4_SIZE, r->size);
    p[TX4_FLAGS] = (uint8_t)r->flags;
}
/* Write tx's row (rows appended in this batch: tx rows are never changed in place below the
 * committed length, so nothing is undo-logged). */
static inline void store_txrow_put(store *s, uint64_t tx, const store_tx_row *r)
{
    column *c = &s->cols[COL_TX];
    store_txrow_encode(c->base + tx * c->width, c->width, r);
}
static inline void store_txrow_get(const store *s, uint64_t tx, store_tx_row *r)
{
    store_txrow_decode(store_txrow_at(s, tx), s->cols[COL_TX].width, r);
}
static inline uint64_t store_txrow_in(const store *s, uint64_t tx)
{
    return store_txrow_first_in(store_txrow_at(s, tx), s->cols[COL_TX].width);
}
static inline uint64_t store_txrow_out(const store *s, uint64_t tx)
{
    return store_txrow_first_out(store_txrow_at(s, tx), s->cols[COL_TX].width);
}

/* Widen the span [span[0], span[1]) (empty when span[1] <= span[0]) to hold i. */
static inline void store_span_add(uint64_t span[2], uint64_t i)
{
    if (span[1] <= span[0]) {
        span[0] = i, span[1] = i + 1;
    } else {
        if (i < span[0]) span[0] = i;
        if (i >= span[1]) span[1] = i + 1;
    }
}

/* ---- redo log (store_redo.c) ---- */
int store_redo_grow_keys(store *s);
/* Entry index of target (a column or REDO_TXIDX/REDO_ADDRIDX) was changed in place: the next
 * commit records its value in the redo log (or the next checkpoint syncs its page). */
static inline void store_redo_note(store *s, int target, uint64_t index)
{
    if (!s->redo_ready || s->redo_mute) return;
    store_span_add(s->ck[target], index);
    if (s->redo_full) return;
    if (s->redo_n == s->redo_cap && store_redo_grow_keys(s)) return;
    s->redo_keys[s->redo_n++] = (uint64_t)target << 56 | index;
}
int store_redo_open(store *s, int *applied_ix, util_err *err);
int store_redo_check_reader(store *s, util_err *err);
int store_redo_checkpoint(store *s, util_err *err);
int store_redo_commit_group(store *s, const uint8_t sum[32], int *checkpointed, util_err *err);
void store_redo_close(store *s);

/* A row of column col changed in place: rows appended since the commit are synced with the
 * appended range; older rows go to the redo log. */
static inline void store_dirty_row(store *s, int col, uint64_t row)
{
    if (row < s->undo_base[col]) store_redo_note(s, col, row);
}

static inline uint64_t store_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t store_key_hash(const uint8_t *key, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i + 8 <= n; i += 8)
        h = store_mix64(h ^ util_le64(key + i));
    if (n % 8) {
        uint8_t tail[8] = {0};
        memcpy(tail, key + n - n % 8, n % 8);
        h = store_mix64(h ^ util_le64(tail));
    }
    return h;
}

/* An index's keys: the first key_len bytes of a row of key_col are hashed and compared; when
 * rest is set, a row whose first key_len bytes match is the key only if rest says so too (the
 * key given as a lookup key, packed 1, or as another row of key_col, packed 0). */
typedef struct idx_ops {
    int key_col;
    size_t key_len;
    int (*rest)(const store *s, const uint8_t *row, const uint8_t *key, int packed);
} idx_ops;

/* The two on-disk indexes' key columns (store_index.c); store_addridx_ops_v2 for the 36-byte
 * address rows of formats 1 and 2 (read only). */
extern const idx_ops store_txidx_ops, store_addridx_ops, store_addridx_ops_v2;

/* Address keys, format 3. A lookup key is ADDR_PACKED bytes: kind, witver, len, the program's
 * 32 bytes (zero past len). A row of addr_key is ADDR_ROW bytes: the key's first ADDR_HEAD
 * bytes (what the address index hashes and compares: kind, witver, len, program bytes 0..16),
 * then program bytes 16..20 when the program has at most 20 bytes (P2PKH, P2SH, P2WPKH), or
 * else a u32 row of addr_key_tail holding program bytes 16..32 (P2WSH, P2TR, other witness
 * programs). Each address has its own tail row, so two rows are the same address exactly when
 * their bytes are. */
#define ADDR_HEAD 19
#define ADDR_ROW 23
#define ADDR_TAIL 16
#define ADDR_PACKED 35
#define ADDR_SHORT 20 /* the longest program kept whole in the row */

static inline void store_addr_pack(uint8_t k[ADDR_PACKED], const btc_addr *a)
{
    k[0] = a->kind, k[1] = a->witver, k[2] = a->len;
    memcpy(k + 3, a->prog, 32);
}

/* Write address id's row (and, for a long program, the next addr_key_tail row: room reserved
 * by the caller) of key a. */
static inline void store_addr_put(store *s, uint64_t id, const btc_addr *a)
{
    uint8_t k[ADDR_PACKED], *row = store_col_at(s, COL_ADDR_KEY, id);
    store_addr_pack(k, a);
    memcpy(row, k, ADDR_HEAD);
    if (a->len <= ADDR_SHORT) {
        memcpy(row + ADDR_HEAD, k + ADDR_HEAD, ADDR_ROW - ADDR_HEAD);
    } else {
        uint32_t t = (uint32_t)s->cols[COL_ADDR_TAIL].rows++;
        memcpy(store_col_at(s, COL_ADDR_TAIL, t), k + ADDR_HEAD, ADDR_TAIL);
        memcpy(row + ADDR_HEAD, &t, 4);
    }
}

/* The addr_key_tail row of a format 3 address row, or -1 for a short program. */
static inline int64_t store_addr_tail_row(const uint8_t *row)
{
    if (row[2] <= ADDR_SHORT) return -1;
    uint32_t t;
    memcpy(&t, row + ADDR_HEAD, 4);
    return t;
}

/* ---- hash indexes (store_index.c) ---- */
void store_hindex_unmap(hindex *x);
void store_hindex_note_used(hindex *x);
int64_t store_hindex_find_h(const store *s, const hindex *x, const idx_ops *ops, const uint8_t *key,
                            uint64_t h, uint64_t live);
int64_t store_hindex_find(const store *s, const hindex *x, const idx_ops *ops, const uint8_t *key,
                          uint64_t live);
uint64_t store_hindex_cap_for(uint64_t keys);
/* The keys of a table built by store_hindex_fill_sorted: the 64-bit hash of row id, whether rows
 * a and b hold the same key, and (NULL: not wanted) each repointing of a duplicate key's entry
 * (slot index, value before), in id order. */
typedef struct store_hindex_keys {
    uint64_t (*hash)(const void *ctx, uint64_t id);
    int (*same)(const void *ctx, uint64_t a, uint64_t b);
    void (*repoint)(const void *ctx, uint64_t slot, uint64_t old);
    /* Progress (NULL: not wanted), so that a caller whose rows and table are file mappings
     * can take what is done out of its resident set: what STORE_HINDEX_ROWS, the pass over
     * the rows has hashed rows [0, upto) (each pass starts again from 0); STORE_HINDEX_SLOTS,
     * slots [0, upto) are written as they will stay, but for the run of slots from 0 that a
     * cluster wrapping past the table's end rewrites at the end (read and written again then). */
    void (*done)(const void *ctx, int what, uint64_t upto);
    const void *ctx;
} store_hindex_keys;
enum { STORE_HINDEX_ROWS, STORE_HINDEX_SLOTS };
/* Fill the zeroed table slots[0..cap) with rows 0..n-1 (n < cap): byte for byte the table of
 * inserting them one by one in id order (linear probing, a duplicate key repointing the entry
 * of the earlier one), built in slot order without random access to the table. *used: the
 * occupied slots. Memory: 16 bytes a key (the (hash, id) pairs), or about budget bytes of them
 * at once if budget is not 0 at the cost of one more pass over the rows (hashed again) per
 * budget's worth; plus two copies of the largest of up to 512 buckets (keys by home slot). */
int store_hindex_fill_sorted(uint64_t *slots, uint64_t cap, uint64_t n, const store_hindex_keys *k,
                             size_t budget, uint64_t *used, util_err *err);
int store_hindex_build(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t want,
                       util_err *err);
/* Both indexes rebuilt as store_hindex_build does, for a caller that builds them beside other
 * work on the store (the bulk import's finish): the redo log's part for both done and
 * s->redo_mute taken (the caller gives it back once both are built); then each table,
 * touching x and its files only (besides reading the key column). memory (0: no limit) bounds
 * the build's (hash, id) pairs, and has the key column's and the new table's pages taken out
 * of the mapping as each pass is done with them, so that what is resident does not grow with
 * the chain. */
int store_hindex_mute_both(store *s, util_err *err);
int store_hindex_rebuild_muted(store *s, hindex *x, const idx_ops *ops, uint64_t live,
                               uint64_t want, uint64_t memory, util_err *err);
int store_hindex_open(store *s, hindex *x, const char *name, const idx_ops *ops, uint64_t live,
                      util_err *err);
int store_hindex_insert(store *s, hindex *x, const idx_ops *ops, const uint8_t *key, uint64_t h,
                        uint64_t id, util_err *err);
void store_hindex_remove(store *s, hindex *x, int which, const idx_ops *ops, uint64_t from,
                         uint64_t to, int logged);

/* ---- block hash map (store_index.c) ---- */
int store_blkmap_rebuild(store *s, uint64_t blocks);
void store_blkmap_put(store *s, uint64_t height);

/* ---- undo log (store_undo.c) ---- */
void store_undo_log(store *s, uint64_t target, uint64_t index, uint64_t old);
int store_undo_reserve(store *s, uint64_t n, util_err *err);
void store_col_set_u64(store *s, int col, uint64_t row, uint64_t value);
int store_undo_open(store *s, util_err *err);
void store_undo_start_batch(store *s);
void store_undo_replay(store *s, uint64_t mark);
void store_undo_rollback(store *s);

/* ---- append (store_append.c; the bulk path, store_bulk.c, shares these) ---- */
/* b may follow the blocks stored: the first must be a genesis block (the store's own, when
 * it has one: recorded here), any other must extend block blocks - 1. */
int store_check_extends(store *s, const btc_block *b, uint64_t blocks, util_err *err);
/* Write tx's hash and row at txno (fee left 0: set once the inputs are resolved, with
 * store_txrow_put); *row, if not NULL, gets the row written. */
void store_put_tx(store *s, const btc_tx *tx, uint64_t txno, uint64_t first_in, uint64_t first_out,
                  uint64_t height, store_tx_row *row);
/* The block, tx, input and output columns' row counts set to the totals t. */
void store_set_chain_rows(store *s, const store_totals *t);
/* A bulk import's checkpoint (store_bulk.c; docs/formats.md, "bulk-resume") and its temp
 * files. store_bulk_forget removes them (the marker first, durably) and cuts the columns to
 * their committed lengths: anything but that import's resume writing the store does first. */
#define STORE_BULK_MARKER "bulk-resume"
extern const char *const store_bulk_tmp_names[];
enum { STORE_BULK_TMP_FILES = 9 };
int store_bulk_forget(store *s, util_err *err);
int store_fsync_dir(const char *dir, util_err *err);
/* *sum += v, or the overflow error naming tx ti and what overflowed (crafted amounts). */
int store_add_sat(int64_t *sum, int64_t v, const char *what, uint32_t ti, util_err *err);
uint64_t store_find_spent_by(const store *s, uint64_t out, uint64_t live_inputs);
/* Whether the inputs and outputs after adding b (to totals t) keep their ids below
 * STORE_ID40_RESERVED, and b's txs their sizes within STORE_TX_SIZE_MAX; the error names the
 * limit otherwise. */
int store_check_id_room(const store_totals *t, const btc_block *b, util_err *err);

#endif
