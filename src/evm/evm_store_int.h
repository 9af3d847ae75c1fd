/* evm_store's insides shared by its files: the column and index layout, struct evm_store and
 * the helpers more than one file calls. Not part of the module's interface (evm.h is). */
#ifndef CT_EVM_STORE_INT_H
#define CT_EVM_STORE_INT_H

#include "evm.h"
#include "../colstore/colstore.h"

enum { C_BLK, C_TXHASH, C_TX, C_XFER, C_TRACE, C_ADDR, C_TOK, C_EV, C_EVTEXT, C_NCOLS };
static const char *const col_files[C_NCOLS] = {"blk.col",  "tx_hash.col",    "tx.col",
                                               "xfer.col", "xfer_trace.dat", "addr.col",
                                               "tok.col",  "event.col",      "event_text.dat"};
static const size_t col_width[C_NCOLS] = {128, 32, 136, 96, 1, 20, 20, 256, 1};
/* Format 1 stores end before C_EV: readers see no events, writers refuse. */
#define C_FIRST_V2 C_EV
#define HEAD_FILE "addr_last.col"

/* An on-disk hash index: key (a column's row) -> row id. Header: "ctevmidx", u32 version 1,
 * u32 key length, u64 capacity, u64 rows covered; then capacity u64 slots, 0 empty or
 * fingerprint << 40 | (id + 1). Derived data: written after the MANIFEST, rebuilt from the
 * column by a writer whenever it does not cover exactly the committed rows. */
#define IX_HDR 32
typedef struct hidx {
    int fd;
    uint8_t *map; /* header and slots, MAP_SHARED; NULL when there is no usable index */
    size_t map_len;
    uint64_t cap, count;
} hidx;
enum { IX_ADDR, IX_TX, IX_N };
static const char *const ix_files[IX_N] = {"addr.idx", "tx_hash.idx"};

typedef struct col {
    colstore_col f;   /* an unmapped column: rows is the committed count */
    util_buf pending; /* appended rows not yet written */
} col;

struct evm_store {
    char *dir; /* DIR/evm/<chain>, owned */
    char chain[32];
    int writer, lock_fd, head_fd;
    col c[C_NCOLS];
    uint64_t first_block, token_gen;
    uint8_t tip[32];
    /* writer only: */
    uint8_t *addrs;    /* every address's 20 bytes, committed and pending */
    uint64_t n_addrs;  /* committed + pending */
    uint32_t *addr_ht; /* open addressing: id + 1, 0 empty */
    uint64_t addr_ht_cap;
    uint64_t *heads; /* per address: newest transfer */
    uint8_t *head_dirty;
    uint8_t *toks;
    uint64_t n_toks;
    evm_token_meta *meta; /* sorted by address */
    size_t n_meta;
    int meta_dirty;
    uint64_t commits, crash_in_commit; /* test hook */
    hidx ix[IX_N];
    int legacy; /* format 1: no events table */
};

static inline uint64_t evm_store_crows(const evm_store *s, int c)
{
    return s->c[c].f.rows;
}
/* rows including pending */
static inline uint64_t evm_store_arows(const evm_store *s, int c)
{
    return s->c[c].f.rows + s->c[c].pending.len / col_width[c];
}

/* ---- small helpers (evm_store.c) ---- */
int evm_store_read_row(const evm_store *s, int c, uint64_t row, void *out, util_err *err);

/* ---- address and token ids, in memory (evm_store_index.c) ---- */
int evm_store_ht_rebuild(evm_store *s, uint64_t want);
int evm_store_addr_id(evm_store *s, const uint8_t a[20], uint32_t *out, util_err *err);
int evm_store_token_id(evm_store *s, const uint8_t a[20], uint32_t *out, util_err *err);

/* ---- hash indexes (evm_store_index.c) ---- */
int evm_store_ix_col(int which);
void evm_store_ix_unmap(hidx *x);
int evm_store_ix_map(const evm_store *s, int which, hidx *x, int writable);
int evm_store_ix_rebuild(evm_store *s, int which, uint64_t rows, util_err *err);
int evm_store_ix_extend(evm_store *s, int which, uint64_t from, uint64_t rows, util_err *err);
int evm_store_ix_find(const evm_store *s, int which, const uint8_t *key, uint64_t *id);

/* ---- MANIFEST and token metadata (evm_store.c) ---- */
int evm_store_manifest_text(const evm_store *s, const uint64_t rows[C_NCOLS], uint64_t gen,
                            const uint8_t tip[32], util_buf *b);
int evm_store_cmp_meta(const void *a, const void *b);
int evm_store_meta_write(evm_store *s, uint64_t gen, util_err *err);
void evm_store_meta_cleanup(const evm_store *s);

/* ---- open, recover (evm_store.c) ---- */
int evm_store_recover(evm_store *s, util_err *err);
int evm_store_load_state(evm_store *s, util_err *err);

#endif
