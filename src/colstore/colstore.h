/* colstore: the storage kit under both stores (src/store, the Bitcoin chain; src/evm's
 * evm_store). Append-only column files of fixed-width rows, either memory-mapped (a fixed
 * address-space reservation that never moves, the file grown ahead of the rows with its blocks
 * allocated) or written with pwrite at commit; the single-writer lock; the MANIFEST's common
 * parts (the `rows name=N ...` line and the closing `checksum` line). Each store keeps its own
 * fields, file names and formats (docs/formats.md, docs/evm.md); nothing here decides a byte
 * of them beyond what the caller passes. */
#ifndef CT_COLSTORE_H
#define CT_COLSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

/* Address space a mapped column reserves once: its mapping never moves as it grows, so
 * pointers into it stay valid. 256 GiB covers the largest column of the whole chain. */
#define COLSTORE_RESERVE ((size_t)1 << 38)
/* A mapped column's file grows by doubling from this size. */
#define COLSTORE_GROW_MIN ((size_t)1 << 20)

enum {
    COLSTORE_WRITE = 1,  /* open read-write, creating the file if missing */
    COLSTORE_MAP = 2,    /* reserve address space and map the file (else pread/pwrite only) */
    COLSTORE_CLOEXEC = 4 /* O_CLOEXEC on the file */
};

typedef struct colstore_col {
    char path[4352]; /* the file, named in every error */
    size_t width;    /* bytes per row */
    int fd;          /* -1 when not open */
    int writable;
    uint8_t *base;    /* mapped columns: start of the reservation, else NULL */
    size_t mapped;    /* bytes of the file mapped at base */
    size_t populated; /* bytes below which the mapping was populated by colstore_col_reserve */
    uint64_t rows;    /* rows in use; the caller's to keep */
    /* When set, colstore_col_reserve hands the range it would populate (whole pages inside
     * the mapping, which never moves) to populate(populate_ctx, ...) instead of populating it
     * itself: another thread may do it (the caller's advice; nothing depends on it). */
    void (*populate)(void *ctx, uint8_t *p, size_t n);
    void *populate_ctx;
} colstore_col;

/* Grow the file fd (named path, for errors) so that bytes [from, to) are allocated on disk,
 * not a hole. Files written through a shared mapping need it: a page of a hole that the file
 * system cannot allocate (disk full, quota) is a SIGBUS at the write, while here it is an
 * error naming the file ("PATH: cannot grow to N bytes: REASON"). posix_fallocate allocates;
 * only where the file system cannot (EOPNOTSUPP, EINVAL) are zeros written instead. err may
 * be NULL. */
int colstore_file_grow(int fd, const char *path, size_t from, size_t to, util_err *err);

/* Open the column file path of width-byte rows (flags: COLSTORE_*, mode 0644 or 0666 as the
 * caller's format always had). c is filled; rows start at 0. With COLSTORE_MAP the whole
 * reservation is taken, nothing mapped yet (colstore_col_map_to). On error c->fd is -1 or c
 * is still closable with colstore_col_close. */
int colstore_col_open(colstore_col *c, const char *path, size_t width, unsigned flags, int mode,
                      util_err *err);
/* Unmap and close; c may be partly opened or zeroed with fd -1. */
void colstore_col_close(colstore_col *c);

/* Mapped columns: map the file up to bytes (whole pages, after what is mapped already). */
int colstore_col_map_to(colstore_col *c, size_t bytes, util_err *err);
/* Mapped columns: make room for more rows past c->rows. The file grows in doubling steps
 * from COLSTORE_GROW_MIN that depend only on the row count, so an interrupted and a straight
 * run make the same files, and the new blocks are allocated (colstore_file_grow). */
int colstore_col_reserve(colstore_col *c, uint64_t more, util_err *err);
/* Cut the file to rows rows ("PATH: cannot cut back to N bytes: REASON"); a mapped column is
 * unmapped first (touching a mapping past the end of its file faults) and mapped again up to
 * the new end. Does not change c->rows. */
int colstore_col_cut(colstore_col *c, uint64_t rows, util_err *err);
/* Mapped columns: write the mapped range to disk (msync). Unmapped: fdatasync. */
int colstore_col_sync(colstore_col *c, util_err *err);
/* Mapped columns: make bytes [from, to) of the file durable (msync of the whole pages that
 * hold them, clamped to what is mapped; nothing when empty). The call still waits for the
 * file system's journal like fdatasync, so the file's size and block allocation are durable
 * too; what it saves is the pages outside the range (dirty pages past the rows in use are not
 * written, and a range with no dirty page costs no writing at all). */
int colstore_col_sync_range(colstore_col *c, size_t from, size_t to, util_err *err);
/* Unmapped columns: write n bytes at row (pwrite, retrying short writes; "PATH: write failed:
 * REASON"). */
int colstore_col_write(colstore_col *c, uint64_t row, const void *p, size_t n, util_err *err);
/* Unmapped columns: read n bytes at byte offset off; -1 if the file is shorter. */
int colstore_col_pread(const colstore_col *c, void *p, size_t n, uint64_t off);
/* The row's bytes in a mapped column. */
static inline void *colstore_col_at(const colstore_col *c, uint64_t row)
{
    return c->base + row * c->width;
}

/* pread/pwrite of exactly n bytes at off, retrying EINTR and short transfers; 0 or -1. */
int colstore_pread_all(int fd, void *p, size_t n, uint64_t off);
int colstore_pwrite_all(int fd, const void *p, size_t n, uint64_t off);

/* The writer lock: an exclusive flock on path, not waiting. *fd is the open lock (close it
 * to release). Held elsewhere: UTIL_EBUSY with the message "what" (the caller's own words). */
int colstore_lock(int *fd, const char *path, int mode, int cloexec, const char *what,
                  util_err *err);

/* ---- MANIFEST parts ---- */

/* Append " name=N" for each of n columns, after the caller's "rows" (the caller writes the
 * word and the newline). */
int colstore_manifest_rows(util_buf *b, const char *const *names, const uint64_t *rows, int n);
/* Append "checksum HEX\n", HEX the SHA-256 of everything in b so far; sum (may be NULL)
 * receives it. */
int colstore_manifest_seal(util_buf *b, uint8_t sum[32]);
/* Check a MANIFEST text's checksum line: the SHA-256 of the text before "checksum " must be
 * the hex after it. 0 with *end at the checksum line and sum filled (may be NULL), or
 * UTIL_ENOTFOUND (no checksum line; at_line: one must start a line) or UTIL_ECORRUPT
 * (mismatch). No message: each store words its own. */
int colstore_manifest_check(const char *text, int at_line, const char **end, uint8_t sum[32]);
/* The count after " name=" in a rows line (line up to its end or a NUL): 0 with *v, or
 * UTIL_ENOTFOUND. */
int colstore_manifest_row(const char *line, const char *end, const char *name, uint64_t *v);

/* ---- on-disk hash index: the slot table ----
 *
 * Both stores' indexes (store.c's "cointidx" files, evm_store's "ctevmidx") are open-addressing
 * tables of u64 slots with linear probing: 0 empty, else fingerprint << 40 | (id + 1), the home
 * slot hash & (cap - 1) and the fingerprint hash >> 40 of the key's 64-bit hash. What differs is
 * kept by each store: the hash function (part of each format), the header, the minimum capacity,
 * how the file is kept (mapped and changed in place under the undo log, or built in memory and
 * replaced), and the insert policy below. Slots are host-order u64 (little-endian on every
 * supported host). */
#define COLSTORE_IX_ID_BITS 40
#define COLSTORE_IX_ID_MASK ((1ULL << COLSTORE_IX_ID_BITS) - 1)

/* The smallest power of two >= min_cap with 3 cap >= 4 keys: a function of the key count
 * alone, so a table grown one insert at a time and one rebuilt in one pass are the same size. */
static inline uint64_t colstore_ix_cap(uint64_t keys, uint64_t min_cap)
{
    uint64_t cap = min_cap;
    while (cap * 3 < keys * 4)
        cap *= 2;
    return cap;
}

static inline uint64_t colstore_ix_entry(uint64_t h, uint64_t id)
{
    return (h >> COLSTORE_IX_ID_BITS) << COLSTORE_IX_ID_BITS | (id + 1);
}

/* The id in a non-empty slot. */
static inline uint64_t colstore_ix_id(uint64_t slot)
{
    return (slot & COLSTORE_IX_ID_MASK) - 1;
}

/* Does the key of row id equal the key looked up? (the caller's column, however it is read):
 * 1 yes, 0 no, -1 cannot tell (a read failed: the look-up gives up). */
typedef int (*colstore_ix_match_fn)(const void *ctx, uint64_t id);

/* Look up a key of hash h among ids below live: the slot index of its entry and *id, or -1
 * (not there; *id untouched) or -2 (match failed). match NULL takes the first entry whose
 * fingerprint fits (a hint, e.g. for prefetching). */
static inline int64_t colstore_ix_find(const uint64_t *slots, uint64_t cap, uint64_t h,
                                       uint64_t live, colstore_ix_match_fn match, const void *ctx,
                                       uint64_t *id)
{
    uint64_t mask = cap - 1, fp = h >> COLSTORE_IX_ID_BITS;
    uint64_t i = h & mask;
    for (uint64_t n = 0; n < cap; n++, i = (i + 1) & mask) {
        uint64_t slot = slots[i];
        if (slot == 0) return -1;
        uint64_t sid = colstore_ix_id(slot);
        if (sid >= live || slot >> COLSTORE_IX_ID_BITS != fp) continue;
        int m = match ? match(ctx, sid) : 1;
        if (m < 0) return -2;
        if (m) {
            *id = sid;
            return (int64_t)i;
        }
    }
    return -1;
}

/* Insert policies. */
enum {
    /* A slot holding an id at or above the one inserted is free: ids are inserted in order, so
     * such an entry is stale (left past a commit by a crash or a reorganisation). A slot that
     * holds the same key (match) is repointed to the new id. */
    COLSTORE_IX_STALE_FREE = 1,
    /* A slot that already holds this very entry ends the insert: a rerun after a writer died
     * between putting slots and recording them leaves the table as an uninterrupted run. */
    COLSTORE_IX_SKIP_EXACT = 2
};

/* The slot where id (key hash h) goes under policy; the table must have an empty slot. The
 * caller reads the old value (0: empty, else a stale entry, the same key's older entry to log
 * before it is overwritten, or this very entry) and then stores colstore_ix_entry(h, id). */
static inline uint64_t colstore_ix_slot_for(const uint64_t *slots, uint64_t cap, uint64_t h,
                                            uint64_t id, unsigned policy,
                                            colstore_ix_match_fn match, const void *ctx)
{
    uint64_t mask = cap - 1, entry = colstore_ix_entry(h, id), fp = h >> COLSTORE_IX_ID_BITS;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t slot = slots[i];
        if (slot == 0) return i;
        if ((policy & COLSTORE_IX_SKIP_EXACT) && slot == entry) return i;
        if (policy & COLSTORE_IX_STALE_FREE) {
            uint64_t sid = colstore_ix_id(slot);
            if (sid >= id) return i;
            if (match && slot >> COLSTORE_IX_ID_BITS == fp && match(ctx, sid) == 1) return i;
        }
    }
}

#endif
