#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../colstore/colstore.h"
#include "../crypto/crypto.h"

#define TX_SAMPLE 64 /* txs per entry of a reader's tx sample */

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
    COL_ND,      /* per nulldata output: u64 output id, u64 end of its payload in COL_ND_DATA */
    COL_ND_DATA, /* OP_RETURN payload bytes, back to back */
    NCOLS
};
/* Columns a format 1 store does not have: opened read-only as "no payloads". */
#define COL_FIRST_V2 COL_ND

static const struct {
    const char *name;
    size_t width;
} column_defs[NCOLS] = {
    [COL_BLK_HASH] = {"blk_hash", 32},
    [COL_BLK] = {"blk", sizeof(store_block_row)},
    [COL_TX_HASH] = {"tx_hash", 32},
    [COL_TX] = {"tx", sizeof(store_tx_row)},
    [COL_IN_PREV] = {"in_prev", 8},
    [COL_UNRES] = {"in_unresolved", sizeof(store_unresolved_row)},
    [COL_OUT_VALUE] = {"out_value", 8},
    [COL_OUT_ADDR] = {"out_addr", 4},
    [COL_OUT_TYPE] = {"out_type", 1},
    [COL_OUT_SPENT] = {"out_spent", 8},
    [COL_OUT_PREV_ADDR] = {"out_prev_addr", 8},
    [COL_ADDR_KEY] = {"addr_key", sizeof(btc_addr)},
    [COL_ADDR_LAST] = {"addr_last", 8},
    [COL_ND] = {"nulldata", 16},
    [COL_ND_DATA] = {"nulldata_bytes", 1},
};

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

struct store {
    char dir[4096];
    int writable;
    int lock_fd;
    column cols[NCOLS];
    hindex txidx, addridx;
    store_totals committed, live;
    uint8_t manifest_sum[32]; /* checksum of the committed MANIFEST */
    int opened_clean;         /* every column file was exactly its committed length at open */
    uint8_t genesis[32];
    int have_genesis;
    char network[16]; /* proof-of-work rules the chain was imported under ("" = not recorded) */
    /* block hash -> height, in memory (small: one entry per block) */
    uint64_t *blkmap;
    uint64_t blkmap_cap, blkmap_used;
    /* Readers: first_out and first_in of every TX_SAMPLE-th tx, so finding the tx of an output
     * or input searches a small array that stays in cache, then one run of TX_SAMPLE rows. */
    uint64_t *sample_out, *sample_in;
    uint64_t n_sample;
    int undo_fd;
    undo_hdr *undo;
    size_t undo_mapped;
    size_t undo_file_bytes; /* the log file's size: records past it need the file grown */
    uint64_t *pf_scratch;   /* per-block prefetch scratch: key hashes, then candidate ids */
    size_t pf_cap;
    uint64_t undo_base[NCOLS]; /* rows committed per column: changes below need undo records */
    int legacy;                /* format 1: no payload columns (read-only) */
    uint8_t *nd_scratch;       /* one output's payload while appending */
    size_t nd_cap;
};

/* ---------------- columns ---------------- */

static int column_open(store *s, column *c, int idx, util_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.col", s->dir, column_defs[idx].name);
    return colstore_col_open(c, path, column_defs[idx].width,
                             COLSTORE_MAP | (s->writable ? COLSTORE_WRITE : 0), 0644, err);
}

static inline void *col_at(const store *s, int col, uint64_t row)
{
    const column *c = &s->cols[col];
    return c->base + row * c->width;
}

/* Write a u64 entry of a mutable column; below the committed length the old value goes to the
 * undo log first. */
/* Record an old value before it is overwritten. The record and then the count are stored
 * before the caller's change, in program order, so a process killed at any instruction leaves
 * a log that covers every change made. (target: a column, or NCOLS + 0/1 for index slots) */
static void undo_log(store *s, uint64_t target, uint64_t index, uint64_t old)
{
    undo_rec *recs = (undo_rec *)(s->undo + 1);
    recs[s->undo->count] = (undo_rec){target, index, old};
    atomic_signal_fence(memory_order_seq_cst);
    s->undo->count++;
    atomic_signal_fence(memory_order_seq_cst);
}

/* Make room in the log file for n more records (callers reserve before changing anything,
 * so a full disk is an error before the first change, not a lost record after it). */
static int undo_reserve(store *s, uint64_t n, util_err *err)
{
    if (s->undo->count + n > UNDO_CAP_RECORDS)
        return util_errf(err, UTIL_EINVAL, "undo log full: commit before changing more");
    size_t end = sizeof(undo_hdr) + (s->undo->count + n) * sizeof(undo_rec),
           want = s->undo_file_bytes < UNDO_INITIAL_BYTES ? UNDO_INITIAL_BYTES : s->undo_file_bytes;
    while (want < end)
        want *= 2;
    if (want > s->undo_mapped) want = s->undo_mapped;
    if (want > s->undo_file_bytes) {
        /* Records are written through the mapping: allocated, not a hole (see file_grow). */
        char path[4200];
        snprintf(path, sizeof path, "%s/undo.log", s->dir);
        int rc = colstore_file_grow(s->undo_fd, path, s->undo_file_bytes, want, err);
        if (rc) return rc;
        s->undo_file_bytes = want;
    }
    return 0;
}

static void col_set_u64(store *s, int col, uint64_t row, uint64_t value)
{
    uint64_t *p = col_at(s, col, row);
    if (row < s->undo_base[col]) undo_log(s, (uint64_t)col, row, *p);
    *p = value;
}

/* ---------------- hash indexes ---------------- */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t key_hash(const uint8_t *key, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i + 8 <= n; i += 8)
        h = mix64(h ^ util_le64(key + i));
    if (n % 8) {
        uint8_t tail[8] = {0};
        memcpy(tail, key + n - n % 8, n % 8);
        h = mix64(h ^ util_le64(tail));
    }
    return h;
}

typedef struct idx_ops {
    int key_col;
    size_t key_len;
} idx_ops;

/* The key looked up, for colstore_ix_find / colstore_ix_slot_for to compare with a row. */
typedef struct key_ctx {
    const store *s;
    const idx_ops *ops;
    const uint8_t *key;
} key_ctx;

static int key_match(const void *ctx, uint64_t id)
{
    const key_ctx *k = ctx;
    return memcmp(col_at(k->s, k->ops->key_col, id), k->key, k->ops->key_len) == 0;
}

static const idx_ops txidx_ops = {COL_TX_HASH, 32};
static const idx_ops addridx_ops = {COL_ADDR_KEY, sizeof(btc_addr)};

static int hindex_map(store *s, hindex *x, uint64_t cap, int create, util_err *err)
{
    size_t bytes = (IDX_HEADER_WORDS + cap) * 8;
    if (create) { /* slots are written through the mapping: allocate them (see file_grow) */
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.idx", s->dir, x->name);
        int rc = colstore_file_grow(x->fd, path, 0, bytes, err);
        if (rc) return rc;
    }
    void *m = mmap(NULL, bytes, PROT_READ | (s->writable ? PROT_WRITE : 0), MAP_SHARED, x->fd, 0);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s/%s.idx: cannot map: %s", s->dir, x->name,
                         strerror(errno));
    uint64_t *w = m;
    if (create) {
        w[0] = IDX_MAGIC, w[1] = IDX_VERSION, w[2] = cap, w[3] = 0;
    }
    x->slots = w + IDX_HEADER_WORDS;
    x->cap = cap;
    return 0;
}

static void hindex_unmap(hindex *x)
{
    if (x->slots) munmap(x->slots - IDX_HEADER_WORDS, (IDX_HEADER_WORDS + x->cap) * 8);
    x->slots = NULL;
}

/* Record the occupancy in the header (word 3, as used + 1; 0 means unknown). */
static void hindex_note_used(hindex *x)
{
    if (x->slots) x->slots[-1] = x->used + 1;
}

/* Look key (whose key_hash is h) up; live is the number of valid ids. Returns the id or -1. */
static int64_t hindex_find_h(const store *s, const hindex *x, const idx_ops *ops,
                             const uint8_t *key, uint64_t h, uint64_t live)
{
    key_ctx k = {s, ops, key};
    uint64_t id;
    return colstore_ix_find(x->slots, x->cap, h, live, key_match, &k, &id) >= 0 ? (int64_t)id : -1;
}

static int64_t hindex_find(const store *s, const hindex *x, const idx_ops *ops, const uint8_t *key,
                           uint64_t live)
{
    return hindex_find_h(s, x, ops, key, key_hash(key, ops->key_len), live);
}

/* Insert (or repoint, for a duplicate key) id under hash h; ids at or above id are not yet
 * live, so slots holding them are free. */
static void hindex_put_h(store *s, hindex *x, const idx_ops *ops, const uint8_t *key, uint64_t h,
                         uint64_t id)
{
    key_ctx k = {s, ops, key};
    uint64_t i =
        colstore_ix_slot_for(x->slots, x->cap, h, id, COLSTORE_IX_STALE_FREE, key_match, &k);
    uint64_t slot = x->slots[i], sid = colstore_ix_id(slot);
    if (slot == 0) {
        x->used++;
    } else if (sid < id) {
        /* BIP 30 duplicate txid: the newer tx is the one later inputs spend. */
        if (sid < s->undo_base[ops->key_col] && s->undo)
            undo_log(s, NCOLS + (x == &s->txidx ? 0 : 1), i, slot);
    }
    x->slots[i] = colstore_ix_entry(h, id);
}

/* The capacity for keys entries: a function of the count alone, so a table grown one insert
 * at a time and one rebuilt in a single pass have the same size. */
static uint64_t hindex_cap_for(uint64_t keys)
{
    return colstore_ix_cap(keys, 1 << 16);
}

static int hindex_fill(store *s, hindex *x, const idx_ops *ops, uint64_t live);

/* Rebuild the table from the key column's first live rows, sized for want keys. The new table
 * is built in NAME.idx.new and renamed over the old one once synced, so a crash mid-build
 * leaves the old index whole for readers, and readers holding the old file keep it. */
static int hindex_build(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t want,
                        util_err *err)
{
    uint64_t cap = hindex_cap_for(want);
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s.idx", s->dir, x->name);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    hindex fresh = {.name = x->name};
    fresh.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fresh.fd < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int rc = hindex_map(s, &fresh, cap, 1, err);
    if (rc) {
        close(fresh.fd);
        unlink(tmp); /* a partial table would keep taking the space that ran out */
        return rc;
    }
    hindex old = *x;
    *x = fresh;
    rc = hindex_fill(s, x, ops, live);
    hindex_note_used(x);
    if (msync(x->slots - IDX_HEADER_WORDS, (IDX_HEADER_WORDS + cap) * 8, MS_SYNC) < 0 ||
        rename(tmp, path) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s: cannot put the rebuilt index in place: %s", path,
                       strerror(errno));
        hindex_unmap(x);
        close(x->fd);
        unlink(tmp);
        *x = old;
        return rc;
    }
    hindex_unmap(&old);
    if (old.fd >= 0) close(old.fd);
    return 0;
}

/* Insert the key column's first live rows into an empty table. */
static int hindex_fill(store *s, hindex *x, const idx_ops *ops, uint64_t live)
{
    uint64_t cap = x->cap;
    x->used = 0;
    /* Hash a little ahead and prefetch that key's slot: the random slot writes then overlap. */
    enum { AHEAD = 16 };
    uint64_t ring[AHEAD];
    for (uint64_t id = 0; id < live && id < AHEAD; id++) {
        ring[id] = key_hash(col_at(s, ops->key_col, id), ops->key_len);
        __builtin_prefetch(&x->slots[ring[id] & (cap - 1)], 1);
    }
    for (uint64_t id = 0; id < live; id++) {
        uint64_t h = ring[id % AHEAD], next = id + AHEAD;
        if (next < live) {
            ring[next % AHEAD] = key_hash(col_at(s, ops->key_col, next), ops->key_len);
            __builtin_prefetch(&x->slots[ring[next % AHEAD] & (cap - 1)], 1);
        }
        hindex_put_h(s, x, ops, col_at(s, ops->key_col, id), h, id);
    }
    return 0;
}

static int hindex_open(store *s, hindex *x, const char *name, const idx_ops *ops, uint64_t live,
                       util_err *err)
{
    char path[4200];
    x->name = name;
    snprintf(path, sizeof path, "%s/%s.idx", s->dir, name);
    x->fd = open(path, s->writable ? O_RDWR | O_CREAT : O_RDONLY, 0644);
    if (x->fd < 0) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t hdr[IDX_HEADER_WORDS] = {0};
    ssize_t got = pread(x->fd, hdr, sizeof hdr, 0);
    struct stat st;
    fstat(x->fd, &st);
    int ok = got == (ssize_t)sizeof hdr && hdr[0] == IDX_MAGIC && hdr[1] == IDX_VERSION &&
             hdr[2] >= 1024 && !(hdr[2] & (hdr[2] - 1)) &&
             (uint64_t)st.st_size == (IDX_HEADER_WORDS + hdr[2]) * 8;
    if (!ok) {
        if (!s->writable)
            return util_errf(err, UTIL_ECORRUPT,
                             "%s: missing or damaged index; open the store "
                             "for writing (cointrail import) to rebuild it",
                             path);
        return hindex_build(s, x, ops, live, live, err);
    }
    int rc = hindex_map(s, x, hdr[2], 0, err);
    if (rc) return rc;
    /* Occupancy steers growth. A clean store carries it in the header (used + 1, written at
     * every commit); after a crash the table may hold entries past the commit, so count. */
    if (s->writable) {
        if (s->opened_clean && hdr[3] != 0) {
            x->used = hdr[3] - 1;
        } else {
            x->used = 0;
            for (uint64_t i = 0; i < x->cap; i++)
                x->used += x->slots[i] != 0;
        }
    }
    return 0;
}

static int hindex_insert(store *s, hindex *x, const idx_ops *ops, const uint8_t *key, uint64_t h,
                         uint64_t id, util_err *err)
{
    if ((x->used + 1) * 4 > x->cap * 3) {
        int rc = hindex_build(s, x, ops, id, id + 1, err);
        if (rc) return rc;
    }
    hindex_put_h(s, x, ops, key, h, id);
    return 0;
}

/* Remove the entries of ids [from, to), newest first. Each is then the latest insertion, so
 * clearing its slot restores the table exactly as it was before it (linear probing). With
 * logged set, the cleared slots go to the undo log (a reorg removes committed entries). */
static void hindex_remove(store *s, hindex *x, int which, const idx_ops *ops, uint64_t from,
                          uint64_t to, int logged)
{
    static const uint8_t zero[sizeof(btc_addr)];
    if (!x->slots) return;
    for (uint64_t id = to; id-- > from;) {
        const uint8_t *key = col_at(s, ops->key_col, id);
        if (memcmp(key, zero, ops->key_len) == 0) continue; /* a row never written */
        uint64_t h = key_hash(key, ops->key_len), mask = x->cap - 1;
        for (uint64_t i = h & mask; x->slots[i]; i = (i + 1) & mask) {
            if ((x->slots[i] & COLSTORE_IX_ID_MASK) != id + 1) continue;
            if (logged) undo_log(s, NCOLS + which, i, x->slots[i]);
            x->slots[i] = 0;
            x->used--;
            break;
        }
    }
}

/* ---------------- block hash map (memory) ---------------- */

static void blkmap_put(store *s, uint64_t height);

static int blkmap_rebuild(store *s, uint64_t blocks)
{
    uint64_t cap = 1024;
    while (cap < blocks * 2 + 2)
        cap *= 2;
    uint64_t *m = calloc(cap, sizeof *m);
    if (!m) return UTIL_ENOMEM;
    free(s->blkmap);
    s->blkmap = m;
    s->blkmap_cap = cap;
    s->blkmap_used = 0;
    for (uint64_t h = 0; h < blocks; h++)
        blkmap_put(s, h);
    return 0;
}

static void blkmap_put(store *s, uint64_t height)
{
    const uint8_t *hash = col_at(s, COL_BLK_HASH, height);
    uint64_t mask = s->blkmap_cap - 1;
    for (uint64_t i = util_le64(hash) & mask;; i = (i + 1) & mask) {
        uint64_t v = s->blkmap[i];
        if (v == 0 || memcmp(col_at(s, COL_BLK_HASH, v - 1), hash, 32) == 0) {
            if (v == 0) s->blkmap_used++;
            s->blkmap[i] = height + 1;
            return;
        }
    }
}

int64_t store_find_block(const store *s, const uint8_t hash[32])
{
    if (!s->blkmap) return -1;
    uint64_t mask = s->blkmap_cap - 1;
    for (uint64_t i = util_le64(hash) & mask;; i = (i + 1) & mask) {
        uint64_t v = s->blkmap[i];
        if (v == 0) return -1;
        if (v - 1 < s->live.blocks && memcmp(col_at(s, COL_BLK_HASH, v - 1), hash, 32) == 0)
            return (int64_t)(v - 1);
    }
}

/* ---------------- MANIFEST ---------------- */

static int manifest_write(store *s, const store_totals *t, util_err *err)
{
    util_buf b = {0};
    char hex[65];
    util_buf_printf(&b, "cointrail-store %d\nchain btc\n", STORE_FORMAT_VERSION);
    if (s->have_genesis) {
        util_hash_hex(hex, s->genesis);
        util_buf_printf(&b, "genesis %s\n", hex);
    }
    if (s->network[0]) util_buf_printf(&b, "network %s\n", s->network);
    if (t->blocks) {
        util_hash_hex(hex, store_block_hash(s, t->blocks - 1));
        util_buf_printf(&b, "tip %s\n", hex);
    }
    util_buf_printf(&b,
                    "blocks %llu\ntxs %llu\ninputs %llu\noutputs %llu\naddresses %llu\n"
                    "unresolved_inputs %llu\ntotal_output_value %lld\ntotal_fees %lld\n"
                    "utxo_count %llu\nutxo_value %lld\n",
                    (unsigned long long)t->blocks, (unsigned long long)t->txs,
                    (unsigned long long)t->inputs, (unsigned long long)t->outputs,
                    (unsigned long long)t->addresses, (unsigned long long)t->unresolved_inputs,
                    (long long)t->total_output_value, (long long)t->total_fees,
                    (unsigned long long)t->utxo_count, (long long)t->utxo_value);
    for (int i = 0; i < BTC_NSCRIPT_TYPES; i++)
        util_buf_printf(&b, "type %s %llu\n", btc_script_type_name(i),
                        (unsigned long long)t->outputs_by_type[i]);
    const char *names[NCOLS];
    uint64_t rows[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        names[i] = column_defs[i].name, rows[i] = s->cols[i].rows;
    util_buf_printf(&b, "rows");
    colstore_manifest_rows(&b, names, rows, NCOLS);
    util_buf_printf(&b, "\n");
    uint8_t sum[32];
    colstore_manifest_seal(&b, sum);
    if (!b.data) return util_errf(err, UTIL_ENOMEM, "out of memory writing MANIFEST");
    memcpy(s->manifest_sum, sum, 32);
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

static int manifest_read(store *s, uint64_t rows[NCOLS], util_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    text[len] = 0;
    rc = colstore_manifest_check(text, 0, NULL, s->manifest_sum);
    if (rc) {
        free(text);
        return util_errf(err, UTIL_ECORRUPT,
                         rc == UTIL_ENOTFOUND ? "%s: no checksum line"
                                              : "%s: checksum mismatch (file damaged)",
                         path);
    }
    store_totals *t = &s->committed;
    memset(t, 0, sizeof *t);
    int version = 0, lineno = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        char key[64], name[64], v[80];
        unsigned long long u;
        long long i;
        if (sscanf(line, "cointrail-store %d", &version) == 1) continue;
        if (sscanf(line, "genesis %64s", v) == 1) {
            if (util_hash_parse(s->genesis, v) == 0) s->have_genesis = 1;
        } else if (sscanf(line, "network %15s", s->network) == 1) {
        } else if (sscanf(line, "type %63s %llu", name, &u) == 2) {
            for (int k = 0; k < BTC_NSCRIPT_TYPES; k++)
                if (strcmp(name, btc_script_type_name(k)) == 0) t->outputs_by_type[k] = u;
        } else if (strncmp(line, "rows ", 5) == 0) {
            for (int c = 0; c < NCOLS; c++) {
                int at = colstore_manifest_row(line, line + strlen(line), column_defs[c].name,
                                               &rows[c]) == 0;
                if (!at && c >= COL_FIRST_V2) {
                    rows[c] = 0;
                    s->legacy = 1;
                    continue;
                }
                if (!at) {
                    free(text);
                    return util_errf(err, UTIL_ECORRUPT, "%s: no row count for column %s", path,
                                     column_defs[c].name);
                }
            }
        } else if (sscanf(line, "%63s %lld", key, &i) == 2) {
            if (!strcmp(key, "blocks"))
                t->blocks = (uint64_t)i;
            else if (!strcmp(key, "txs"))
                t->txs = (uint64_t)i;
            else if (!strcmp(key, "inputs"))
                t->inputs = (uint64_t)i;
            else if (!strcmp(key, "outputs"))
                t->outputs = (uint64_t)i;
            else if (!strcmp(key, "addresses"))
                t->addresses = (uint64_t)i;
            else if (!strcmp(key, "unresolved_inputs"))
                t->unresolved_inputs = (uint64_t)i;
            else if (!strcmp(key, "total_output_value"))
                t->total_output_value = i;
            else if (!strcmp(key, "total_fees"))
                t->total_fees = i;
            else if (!strcmp(key, "utxo_count"))
                t->utxo_count = (uint64_t)i;
            else if (!strcmp(key, "utxo_value"))
                t->utxo_value = i;
        }
    }
    free(text);
    if (version == 1 && s->legacy) return 0; /* readable without payloads; writers refuse */
    if (version != STORE_FORMAT_VERSION || s->legacy)
        return util_errf(err, UTIL_ECORRUPT, "%s: format version %d, this build reads %d", path,
                         version, STORE_FORMAT_VERSION);
    return 0;
}

/* ---------------- undo log ---------------- */

static int undo_open(store *s, util_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/undo.log", s->dir);
    s->undo_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (s->undo_fd < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(s->undo_fd, &st) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot stat: %s", path, strerror(errno));
    int rc;
    if ((size_t)st.st_size < UNDO_INITIAL_BYTES &&
        (rc = colstore_file_grow(s->undo_fd, path, (size_t)st.st_size, UNDO_INITIAL_BYTES, err)))
        return rc;
    s->undo_file_bytes =
        (size_t)st.st_size < UNDO_INITIAL_BYTES ? UNDO_INITIAL_BYTES : (size_t)st.st_size;
    /* Map the whole capacity once; the file grows under the mapping as records arrive. */
    size_t bytes = sizeof(undo_hdr) + UNDO_CAP_RECORDS * sizeof(undo_rec);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, s->undo_fd, 0);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map: %s", path, strerror(errno));
    s->undo = m;
    s->undo_mapped = bytes;
    return 0;
}

/* Start a batch on top of the committed MANIFEST, clearing the previous batch's records so
 * the log's bytes depend only on the committed state. */
static void undo_start_batch(store *s)
{
    for (int c = 0; c < NCOLS; c++)
        s->undo_base[c] = s->cols[c].rows;
    /* Empty the log: count first (a crash after it leaves nothing to replay), then cut the
     * records away, so the file's bytes depend only on the committed state. */
    s->undo->count = 0;
    atomic_signal_fence(memory_order_seq_cst);
    /* Allocated again, not a hole: records go through the mapping (see file_grow). If the
     * disk is full the log stays short and undo_reserve reports it before any change. */
    char path[4200];
    snprintf(path, sizeof path, "%s/undo.log", s->dir);
    if (ftruncate(s->undo_fd, sizeof(undo_hdr)) == 0) {
        s->undo_file_bytes = sizeof(undo_hdr);
        if (colstore_file_grow(s->undo_fd, path, sizeof(undo_hdr), UNDO_INITIAL_BYTES, NULL) == 0)
            s->undo_file_bytes = UNDO_INITIAL_BYTES;
    }
    s->undo->magic = UNDO_MAGIC;
    memcpy(s->undo->base, s->manifest_sum, 32);
}

/* Put back the old values of records [mark, count), newest first, and drop them. */
static void undo_replay(store *s, uint64_t mark)
{
    undo_rec *recs = (undo_rec *)(s->undo + 1);
    for (uint64_t i = s->undo->count; i-- > mark;) {
        uint64_t target = recs[i].col;
        if (target == NCOLS || target == NCOLS + 1) {
            hindex *x = target == NCOLS ? &s->txidx : &s->addridx;
            /* Slot numbers hold for the table the batch started with; a batch that grew the
             * table gets it rebuilt by cut_back instead. */
            if (x->slots && recs[i].index < x->cap) {
                if (!x->slots[recs[i].index] && recs[i].old) x->used++;
                x->slots[recs[i].index] = recs[i].old;
            }
        } else if (target < NCOLS && s->cols[target].width == 8 &&
                   (recs[i].index + 1) * 8 <= s->cols[target].mapped) {
            *(uint64_t *)col_at(s, (int)target, recs[i].index) = recs[i].old;
        }
        recs[i] = (undo_rec){0, 0, 0};
    }
    s->undo->count = mark;
}

/* Roll back a batch that never committed (its base is still the committed MANIFEST). A
 * committed batch's records are simply dropped. */
static void undo_rollback(store *s)
{
    if (s->undo->magic == UNDO_MAGIC && memcmp(s->undo->base, s->manifest_sum, 32) == 0 &&
        s->undo->count <= UNDO_CAP_RECORDS)
        undo_replay(s, 0);
    else if (s->undo->magic != UNDO_MAGIC || s->undo->count > UNDO_CAP_RECORDS)
        s->undo->count = 0;
    undo_start_batch(s);
}

/* ---------------- open / close ---------------- */

/* Return to the committed state: roll back in-place changes of an uncommitted batch and cut
 * every column file to its committed length, so files hold exactly what the MANIFEST says. */
static int cut_back(store *s, util_err *err)
{
    for (int c = 0; c < NCOLS; c++)
        s->cols[c].rows = s->undo_base[c];
    undo_rollback(s);
    /* Index entries of rows past the commit: removed newest first (their keys are still in
     * the column files), or the table rebuilt if the batch had grown it. */
    const store_totals *c0 = &s->committed;
    hindex_remove(s, &s->txidx, 0, &txidx_ops, c0->txs, s->cols[COL_TX_HASH].mapped / 32, 0);
    hindex_remove(s, &s->addridx, 1, &addridx_ops, c0->addresses,
                  s->cols[COL_ADDR_KEY].mapped / sizeof(btc_addr), 0);
    int rc;
    /* A reader that opened an earlier, longer state (before a reorganisation) may still read
     * rows past the new end: shrinking the file under its mapping would fault it. While any
     * reader holds READERS, longer files are left as they are; the rows past the MANIFEST are
     * never read and the next append overwrites them. */
    int readers = 0;
    char rpath[4200];
    snprintf(rpath, sizeof rpath, "%s/READERS", s->dir);
    int rfd = open(rpath, O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        readers = flock(rfd, LOCK_EX | LOCK_NB) < 0;
        close(rfd);
    }
    for (int c = 0; c < NCOLS; c++) {
        column *col = &s->cols[c];
        size_t keep = (size_t)col->rows * col->width;
        struct stat st;
        if (fstat(col->fd, &st) == 0 &&
            ((size_t)st.st_size == keep || (readers && (size_t)st.st_size > keep)))
            continue;
        if ((rc = colstore_col_cut(col, col->rows, err))) return rc;
    }
    /* After the cut, which gives back the space of the batch's rows: a batch that failed for
     * want of space leaves room for the smaller table (it reads committed rows only). */
    if (s->txidx.cap != hindex_cap_for(c0->txs) &&
        (rc = hindex_build(s, &s->txidx, &txidx_ops, c0->txs, c0->txs, err)))
        return rc;
    if (s->addridx.cap != hindex_cap_for(c0->addresses) &&
        (rc = hindex_build(s, &s->addridx, &addridx_ops, c0->addresses, c0->addresses, err)))
        return rc;
    s->live = s->committed;
    msync(s->undo, sizeof(undo_hdr), MS_SYNC);
    return 0;
}

static int ensure_dir(const char *dir, util_err *err)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return util_errf(err, UTIL_EINVAL, "%s: not a directory", dir);
        return 0;
    }
    if (mkdir(dir, 0755) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", dir, strerror(errno));
    return 0;
}

int store_open(store **out, const char *dir, unsigned flags, util_err *err)
{
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->lock_fd = s->undo_fd = s->txidx.fd = s->addridx.fd = -1;
    for (int c = 0; c < NCOLS; c++)
        s->cols[c].fd = -1, s->cols[c].width = column_defs[c].width;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->writable = (flags & STORE_WRITE) != 0;
    int rc = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    int exists = access(path, F_OK) == 0;
    if (!exists && !(flags & STORE_CREATE)) {
        free(s);
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: no cointrail store here (run cointrail import "
                         "--db %s first)",
                         dir, dir);
    }
    if (!exists && (rc = ensure_dir(dir, err))) goto fail;
    if (s->writable) {
        snprintf(path, sizeof path, "%s/LOCK", dir);
        char what[4200];
        snprintf(what, sizeof what, "%s: another cointrail process is writing this store", dir);
        if ((rc = colstore_lock(&s->lock_fd, path, 0644, 0, what, err))) goto fail;
        snprintf(path, sizeof path, "%s/READERS", dir);
        int r = open(path, O_RDONLY | O_CREAT, 0644);
        if (r >= 0) close(r);
        /* An index rebuild killed half way leaves its table (the size of the whole index);
         * nothing reads it, and holding the lock, this process is the only one to write it. */
        static const char *const leftovers[] = {"txid.idx.new", "addr.idx.new"};
        for (size_t i = 0; i < sizeof leftovers / sizeof *leftovers; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, leftovers[i]);
            unlink(path);
        }
    } else {
        /* A shared lock for as long as this reader maps the columns: a writer does not shrink
         * column files under it (see cut_back). Without the file (a store written before it
         * existed) there is nothing to announce to. */
        snprintf(path, sizeof path, "%s/READERS", dir);
        s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->lock_fd >= 0) flock(s->lock_fd, LOCK_SH | LOCK_NB);
    }
    uint64_t rows[NCOLS] = {0};
    int clean = 1;
    if (exists && (rc = manifest_read(s, rows, err))) goto fail;
    if (s->legacy && s->writable) {
        rc = util_errf(err, UTIL_EFORMAT,
                       "%s: store format 1 has no OP_RETURN payload columns; this cointrail "
                       "writes format %d: re-import the chain into a new --db directory (it can "
                       "still be read as is)",
                       dir, STORE_FORMAT_VERSION);
        goto fail;
    }
    for (int c = 0; c < NCOLS; c++) {
        if (s->legacy && c >= COL_FIRST_V2) {
            continue;
        }
        if ((rc = column_open(s, &s->cols[c], c, err))) goto fail;
        column *col = &s->cols[c];
        struct stat st;
        fstat(col->fd, &st);
        size_t need = (size_t)rows[c] * col->width;
        if ((size_t)st.st_size < need) {
            rc = util_errf(err, UTIL_ECORRUPT, "%s: %lld bytes, MANIFEST says %zu", col->path,
                           (long long)st.st_size, need);
            goto fail;
        }
        col->rows = rows[c];
        if ((size_t)st.st_size != need) clean = 0;
        if ((rc = colstore_col_map_to(col, (size_t)st.st_size, err))) goto fail;
    }
    s->live = s->committed;
    s->opened_clean = clean;
    if (s->writable) {
        if ((rc = undo_open(s, err))) goto fail;
        /* A batch to roll back may have changed index slots: then the header's count is off. */
        if (s->undo->magic == UNDO_MAGIC && s->undo->count &&
            memcmp(s->undo->base, s->manifest_sum, 32) == 0)
            s->opened_clean = 0;
        for (int c = 0; c < NCOLS; c++)
            s->undo_base[c] = rows[c];
    }
    if ((rc = hindex_open(s, &s->txidx, "txid", &txidx_ops, s->live.txs, err))) goto fail;
    if ((rc = hindex_open(s, &s->addridx, "addr", &addridx_ops, s->live.addresses, err))) goto fail;
    if (s->writable) {
        if ((rc = cut_back(s, err))) goto fail;
    }
    if (blkmap_rebuild(s, s->live.blocks)) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
        goto fail;
    }
    if (!s->writable && s->live.txs) {
        s->n_sample = (s->live.txs + TX_SAMPLE - 1) / TX_SAMPLE;
        s->sample_out = malloc(s->n_sample * sizeof *s->sample_out);
        s->sample_in = malloc(s->n_sample * sizeof *s->sample_in);
        if (!s->sample_out || !s->sample_in) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory for the tx sample");
            goto fail;
        }
        for (uint64_t i = 0; i < s->n_sample; i++) {
            const store_tx_row *r = store_tx(s, i * TX_SAMPLE);
            s->sample_out[i] = r->first_out;
            s->sample_in[i] = r->first_in;
        }
    }
    if (s->writable) {
        if (!exists && (rc = manifest_write(s, &s->committed, err))) goto fail;
        undo_start_batch(s);
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (!s) return;
    if (s->writable && s->undo && s->txidx.slots && s->addridx.slots && cut_back(s, NULL) == 0) {
        hindex_note_used(&s->txidx);
        hindex_note_used(&s->addridx);
    }
    for (int c = 0; c < NCOLS; c++) {
        colstore_col_close(&s->cols[c]);
    }
    hindex_unmap(&s->txidx);
    hindex_unmap(&s->addridx);
    if (s->txidx.fd >= 0) close(s->txidx.fd);
    if (s->addridx.fd >= 0) close(s->addridx.fd);
    if (s->undo) munmap(s->undo, s->undo_mapped);
    if (s->undo_fd >= 0) close(s->undo_fd);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->blkmap);
    free(s->sample_out);
    free(s->sample_in);
    free(s->pf_scratch);
    free(s->nd_scratch);
    free(s);
}

const store_totals *store_get_totals(const store *s)
{
    return &s->committed;
}

/* ---------------- commit ---------------- */

int store_commit(store *s, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    /* Columns first, then the MANIFEST that points at them: a crash between leaves the old
     * MANIFEST, and the next open rolls the batch back. */
    for (int c = 0; c < NCOLS; c++) {
        int rc = colstore_col_sync(&s->cols[c], err);
        if (rc) return rc;
    }
    hindex_note_used(&s->txidx);
    hindex_note_used(&s->addridx);
    msync(s->txidx.slots - IDX_HEADER_WORDS, (IDX_HEADER_WORDS + s->txidx.cap) * 8, MS_SYNC);
    msync(s->addridx.slots - IDX_HEADER_WORDS, (IDX_HEADER_WORDS + s->addridx.cap) * 8, MS_SYNC);
    int rc = manifest_write(s, &s->live, err);
    if (rc) return rc;
    s->committed = s->live;
    undo_start_batch(s);
    return 0;
}

int store_batch_full(const store *s)
{
    return s->undo && s->undo->count > UNDO_CAP_RECORDS / 2;
}

/* ---------------- append ---------------- */

/* The first slot in key hash h's probe chain whose fingerprint matches and whose id is live:
 * almost always the key's own entry. Only a hint for prefetching; lookups verify. */
static uint64_t hindex_candidate(const hindex *x, uint64_t h, uint64_t live)
{
    uint64_t id;
    return colstore_ix_find(x->slots, x->cap, h, live, NULL, NULL, &id) >= 0 ? id : UINT64_MAX;
}

/* Appending a block touches rows all over the store: for each input the txid index, the
 * previous tx's row and the spent output's value and spent mark; for each output the address
 * index and the address's list head. Done one input at a time, each of these waits on memory
 * in turn. Walking the block three times first, each pass issuing independent loads for all
 * inputs and outputs, lets the memory system fetch them in parallel; the append itself then
 * finds them in cache. Only a speed-up: nothing here changes state. */
static int prefetch_block(store *s, const btc_block *b, util_err *err)
{
    size_t need = 2 * (size_t)b->n_in + b->n_out + b->n_tx;
    if (need > s->pf_cap) {
        uint64_t *p = realloc(s->pf_scratch, need * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for a block's scratch");
        s->pf_scratch = p;
        s->pf_cap = need;
    }
    uint64_t *hin = s->pf_scratch, *hout = hin + b->n_in, *htx = hout + b->n_out,
             *cand = htx + b->n_tx;
    uint64_t live_tx = s->live.txs, live_addr = s->live.addresses, live_out = s->live.outputs;
    uint64_t tmask = s->txidx.cap - 1, amask = s->addridx.cap - 1;
    for (uint32_t i = 0; i < b->n_in; i++) {
        hin[i] = key_hash(b->ins[i].prev_txid, 32);
        __builtin_prefetch(&s->txidx.slots[hin[i] & tmask]);
    }
    for (uint32_t k = 0; k < b->n_out; k++) {
        const btc_addr *a = &b->outs[k].addr;
        hout[k] = a->kind ? key_hash((const uint8_t *)a, sizeof *a) : 0;
        if (a->kind) __builtin_prefetch(&s->addridx.slots[hout[k] & amask]);
    }
    for (uint32_t t = 0; t < b->n_tx; t++) {
        htx[t] = key_hash(b->txs[t].txid, 32);
        __builtin_prefetch(&s->txidx.slots[htx[t] & tmask], 1);
    }
    for (uint32_t i = 0; i < b->n_in; i++) {
        cand[i] = hindex_candidate(&s->txidx, hin[i], live_tx);
        if (cand[i] == UINT64_MAX) continue;
        __builtin_prefetch(col_at(s, COL_TX_HASH, cand[i]));
        __builtin_prefetch(col_at(s, COL_TX, cand[i]));
    }
    for (uint32_t k = 0; k < b->n_out; k++) {
        if (!b->outs[k].addr.kind) continue;
        uint64_t id = hindex_candidate(&s->addridx, hout[k], live_addr);
        if (id == UINT64_MAX) continue;
        __builtin_prefetch(col_at(s, COL_ADDR_KEY, id));
        __builtin_prefetch(col_at(s, COL_ADDR_LAST, id), 1);
    }
    for (uint32_t i = 0; i < b->n_in; i++) {
        if (cand[i] == UINT64_MAX) continue;
        uint64_t prev =
            ((const store_tx_row *)col_at(s, COL_TX, cand[i]))->first_out + b->ins[i].prev_vout;
        if (prev >= live_out) continue;
        __builtin_prefetch(col_at(s, COL_OUT_SPENT, prev), 1);
        __builtin_prefetch(col_at(s, COL_OUT_VALUE, prev));
    }
    return 0;
}

static int reserve_rows(store *s, const btc_block *b, uint64_t n_unres_max, util_err *err)
{
    int rc = 0;
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_BLK_HASH], 1, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_BLK], 1, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_TX_HASH], b->n_tx, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_TX], b->n_tx, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_IN_PREV], b->n_in, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_UNRES], n_unres_max, err);
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR && !rc; c++)
        rc = colstore_col_reserve(&s->cols[c], b->n_out, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ADDR_KEY], b->n_out, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ADDR_LAST], b->n_out, err);
    /* payload columns: as many rows as the block has nulldata outputs and script bytes */
    uint64_t nd = 0, nd_bytes = 0;
    size_t longest = 0;
    for (uint32_t k = 0; k < b->n_out; k++)
        if (b->outs[k].type == BTC_NULLDATA) {
            nd++, nd_bytes += b->outs[k].script_len;
            if (b->outs[k].script_len > longest) longest = b->outs[k].script_len;
        }
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ND], nd, err);
    rc = rc ? rc : colstore_col_reserve(&s->cols[COL_ND_DATA], nd_bytes, err);
    if (!rc && longest > s->nd_cap) {
        uint8_t *p = realloc(s->nd_scratch, longest);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for a payload");
        s->nd_scratch = p, s->nd_cap = longest;
    }
    return rc;
}

static uint64_t find_spent_by(const store *s, uint64_t out, uint64_t live_inputs)
{
    uint64_t in = *(const uint64_t *)col_at(s, COL_OUT_SPENT, out);
    /* A mark is trusted only if that input exists and points back here. */
    if (in < live_inputs && *(const uint64_t *)col_at(s, COL_IN_PREV, in) == out) return in;
    return STORE_NONE;
}

/* sum += v, refusing an overflow (crafted amounts: every output is at most 21M BTC, but 4,400
 * of them overflow int64). */
static int add_sat(int64_t *sum, int64_t v, const char *what, uint32_t ti, util_err *err)
{
    if (__builtin_add_overflow(*sum, v, sum))
        return util_errf(err, UTIL_EFORMAT, "tx %u: %s overflows 64 bits (crafted amounts)", ti,
                         what);
    return 0;
}

int store_append_block(store *s, const btc_block *b, unsigned __int128 chainwork,
                       int64_t max_subsidy, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    store_totals *t = &s->live;
    if (t->blocks == 0) {
        static const uint8_t zero[32];
        if (memcmp(b->hdr.prev, zero, 32) != 0)
            return util_errf(err, UTIL_EINVAL, "the first block must be a genesis block");
        if (s->have_genesis && memcmp(s->genesis, b->hdr.hash, 32) != 0)
            return util_errf(err, UTIL_EINVAL, "genesis block differs from this store's chain");
        memcpy(s->genesis, b->hdr.hash, 32);
        s->have_genesis = 1;
    } else if (memcmp(b->hdr.prev, store_block_hash(s, t->blocks - 1), 32) != 0) {
        return util_errf(err, UTIL_EINVAL, "block does not extend the store's tip");
    }
    int rc = undo_reserve(s, (uint64_t)b->n_in + b->n_out + b->n_tx, err);
    if (rc) return rc;
    rc = reserve_rows(s, b, b->n_in, err);
    if (rc) return rc;
    if ((rc = prefetch_block(s, b, err))) return rc;
    /* Key hashes computed by prefetch_block, reused by every lookup and insert below. */
    const uint64_t *hin = s->pf_scratch, *hout = hin + b->n_in, *htx = hout + b->n_out;

    uint64_t height = t->blocks;
    store_block_row *br = col_at(s, COL_BLK, height);
    memcpy(col_at(s, COL_BLK_HASH, height), b->hdr.hash, 32);
    br->first_tx = t->txs;
    br->first_addr = t->addresses;
    for (int i = 0; i < 16; i++)
        br->chainwork[i] = (uint8_t)(chainwork >> (8 * i));
    br->time = b->hdr.time, br->bits = b->hdr.bits, br->size = b->size, br->n_tx = b->n_tx;

    /* Undo state for a failure half-way: totals are restored and rows are simply not counted;
     * in-place marks are rolled back below. */
    store_totals saved = *t;
    uint64_t saved_undo = s->undo->count;
    uint64_t unres_rows = s->cols[COL_UNRES].rows;
    uint64_t nd_rows = s->cols[COL_ND].rows, nd_bytes = s->cols[COL_ND_DATA].rows;
    /* The coinbase may claim the subsidy plus the block's fees; fees are known only when every
     * input of the block resolves to a stored output. */
    int64_t coinbase_value = 0, block_fees = 0;
    int fees_known = 1;

    for (uint32_t ti = 0; ti < b->n_tx; ti++) {
        const btc_tx *tx = &b->txs[ti];
        uint64_t txno = t->txs;
        memcpy(col_at(s, COL_TX_HASH, txno), tx->txid, 32);
        store_tx_row *row = col_at(s, COL_TX, txno);
        row->first_in = t->inputs;
        row->first_out = t->outputs;
        row->block = (uint32_t)height;
        row->size = tx->size, row->vsize = tx->vsize;
        row->flags = (tx->coinbase ? STORE_TX_COINBASE : 0) |
                     (tx->weight != tx->size * 4u ? STORE_TX_SEGWIT : 0);
        int64_t in_value = 0, out_value = 0;
        int64_t utxo_value = t->utxo_value;
        for (uint32_t k = 0; k < tx->n_in; k++) {
            const btc_txin *in = &b->ins[tx->first_in + k];
            uint64_t inno = t->inputs + k;
            uint64_t prev = STORE_COINBASE;
            if (!tx->coinbase) {
                int64_t ptx = hindex_find_h(s, &s->txidx, &txidx_ops, in->prev_txid,
                                            hin[tx->first_in + k], txno);
                if (ptx < 0) {
                    prev = STORE_UNRESOLVED;
                    store_unresolved_row *u = col_at(s, COL_UNRES, s->cols[COL_UNRES].rows++);
                    u->input = inno;
                    memcpy(u->txid, in->prev_txid, 32);
                    u->vout = in->prev_vout;
                    u->pad = 0;
                    row->flags |= STORE_TX_UNRESOLVED;
                    t->unresolved_inputs++;
                } else {
                    const store_tx_row *pr = col_at(s, COL_TX, (uint64_t)ptx);
                    uint64_t pn_out = ((uint64_t)ptx + 1 < txno
                                           ? ((store_tx_row *)col_at(s, COL_TX, ptx + 1))->first_out
                                           : t->outputs) -
                                      pr->first_out;
                    char hex[65];
                    if (in->prev_vout >= pn_out) {
                        util_hash_hex(hex, in->prev_txid);
                        rc = util_errf(err, UTIL_EFORMAT,
                                       "tx %u input %u spends %s:%u, which has only %llu outputs",
                                       ti, k, hex, in->prev_vout, (unsigned long long)pn_out);
                        goto fail;
                    }
                    prev = pr->first_out + in->prev_vout;
                    if (find_spent_by(s, prev, inno) != STORE_NONE) {
                        util_hash_hex(hex, in->prev_txid);
                        rc = util_errf(err, UTIL_EFORMAT, "tx %u input %u spends %s:%u twice", ti,
                                       k, hex, in->prev_vout);
                        goto fail;
                    }
                    col_set_u64(s, COL_OUT_SPENT, prev, inno);
                    int64_t v = *(int64_t *)col_at(s, COL_OUT_VALUE, prev);
                    if ((rc = add_sat(&in_value, v, "the sum of the spent outputs", ti, err)))
                        goto fail;
                    t->utxo_count--;
                    utxo_value -= v; /* >= 0: the output's value is part of it */
                }
            }
            *(uint64_t *)col_at(s, COL_IN_PREV, inno) = prev;
        }
        t->inputs += tx->n_in;
        s->cols[COL_IN_PREV].rows = t->inputs;
        for (uint32_t k = 0; k < tx->n_out; k++) {
            const btc_txout *o = &b->outs[tx->first_out + k];
            uint64_t outno = t->outputs + k;
            *(int64_t *)col_at(s, COL_OUT_VALUE, outno) = o->value;
            *(uint8_t *)col_at(s, COL_OUT_TYPE, outno) = o->type;
            *(uint64_t *)col_at(s, COL_OUT_SPENT, outno) = STORE_NONE;
            uint32_t aid = STORE_NO_ADDR;
            uint64_t prev_same = STORE_NONE;
            if (o->addr.kind) {
                uint64_t ah = hout[tx->first_out + k];
                int64_t a = hindex_find_h(s, &s->addridx, &addridx_ops, (const uint8_t *)&o->addr,
                                          ah, t->addresses);
                if (a < 0) {
                    if (t->addresses >= STORE_NO_ADDR) {
                        rc = util_errf(err, UTIL_ENOMEM, "more than 2^32-1 addresses");
                        goto fail;
                    }
                    a = (int64_t)t->addresses++;
                    memcpy(col_at(s, COL_ADDR_KEY, (uint64_t)a), &o->addr, sizeof o->addr);
                    *(uint64_t *)col_at(s, COL_ADDR_LAST, (uint64_t)a) = STORE_NONE;
                    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = t->addresses;
                    if ((rc = hindex_insert(s, &s->addridx, &addridx_ops, (const uint8_t *)&o->addr,
                                            ah, (uint64_t)a, err)))
                        goto fail;
                }
                aid = (uint32_t)a;
                prev_same = *(uint64_t *)col_at(s, COL_ADDR_LAST, aid);
                col_set_u64(s, COL_ADDR_LAST, aid, outno);
            }
            *(uint32_t *)col_at(s, COL_OUT_ADDR, outno) = aid;
            if (o->type == BTC_NULLDATA) {
                size_t n = btc_nulldata_payload(o->script, o->script_len, s->nd_scratch);
                column *dc = &s->cols[COL_ND_DATA];
                memcpy(col_at(s, COL_ND_DATA, dc->rows), s->nd_scratch, n);
                dc->rows += n;
                uint64_t *nd = col_at(s, COL_ND, s->cols[COL_ND].rows++);
                nd[0] = outno, nd[1] = dc->rows;
            }
            *(uint64_t *)col_at(s, COL_OUT_PREV_ADDR, outno) = prev_same;
            if ((rc = add_sat(&out_value, o->value, "the sum of the outputs", ti, err)) ||
                (rc = add_sat(&utxo_value, o->value, "the unspent value of the chain", ti, err)))
                goto fail;
            t->outputs_by_type[o->type]++;
            t->utxo_count++;
        }
        t->utxo_value = utxo_value;
        t->outputs += tx->n_out;
        for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR; c++)
            s->cols[c].rows = t->outputs;
        if ((rc = add_sat(&t->total_output_value, out_value, "the chain's total output value", ti,
                          err)))
            goto fail;
        row->fee = 0;
        if (tx->coinbase) coinbase_value = out_value;
        if (row->flags & STORE_TX_UNRESOLVED) fees_known = 0;
        if (!tx->coinbase && !(row->flags & STORE_TX_UNRESOLVED)) {
            row->fee = in_value - out_value;
            if (row->fee < 0) {
                rc = util_errf(err, UTIL_EFORMAT, "tx %u spends %lld sat but pays out %lld", ti,
                               (long long)in_value, (long long)out_value);
                goto fail;
            }
            if ((rc = add_sat(&t->total_fees, row->fee, "the chain's total fees", ti, err)) ||
                (rc = add_sat(&block_fees, row->fee, "the block's fees", ti, err)))
                goto fail;
        }
        t->txs++;
        s->cols[COL_TX].rows = s->cols[COL_TX_HASH].rows = t->txs;
        if ((rc = hindex_insert(s, &s->txidx, &txidx_ops, tx->txid, htx[ti], txno, err))) goto fail;
    }
    if (max_subsidy >= 0 && fees_known) {
        int64_t allowed;
        if (__builtin_add_overflow(max_subsidy, block_fees, &allowed)) allowed = INT64_MAX;
        if (coinbase_value > allowed) {
            rc =
                util_errf(err, UTIL_EFORMAT,
                          "tx 0: the coinbase pays %lld sat, more than the subsidy %lld plus the "
                          "block's fees %lld",
                          (long long)coinbase_value, (long long)max_subsidy, (long long)block_fees);
            goto fail;
        }
    }
    t->blocks++;
    s->cols[COL_BLK].rows = s->cols[COL_BLK_HASH].rows = t->blocks;
    if (s->blkmap_used * 2 + 2 > s->blkmap_cap) {
        if (blkmap_rebuild(s, t->blocks))
            return util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
    } else {
        blkmap_put(s, height);
    }
    return 0;
fail:
    /* Put back in-place marks made for this block, newest first, and forget its rows. Marks
     * below the committed length are in the undo log; marks on rows appended earlier in this
     * batch are not logged and are cleared by hand. */
    undo_replay(s, saved_undo);
    for (uint64_t in = saved.inputs; in < t->inputs; in++) {
        uint64_t prev = *(uint64_t *)col_at(s, COL_IN_PREV, in);
        if (prev < saved.outputs && *(uint64_t *)col_at(s, COL_OUT_SPENT, prev) == in)
            *(uint64_t *)col_at(s, COL_OUT_SPENT, prev) = STORE_NONE;
    }
    for (uint64_t o = t->outputs; o-- > saved.outputs;) {
        uint32_t a = *(uint32_t *)col_at(s, COL_OUT_ADDR, o);
        if (a != STORE_NO_ADDR && a < saved.addresses &&
            *(uint64_t *)col_at(s, COL_ADDR_LAST, a) == o)
            *(uint64_t *)col_at(s, COL_ADDR_LAST, a) = *(uint64_t *)col_at(s, COL_OUT_PREV_ADDR, o);
    }
    hindex_remove(s, &s->txidx, 0, &txidx_ops, saved.txs, t->txs, 0);
    hindex_remove(s, &s->addridx, 1, &addridx_ops, saved.addresses, t->addresses, 0);
    *t = saved;
    s->cols[COL_UNRES].rows = unres_rows;
    s->cols[COL_ND].rows = nd_rows, s->cols[COL_ND_DATA].rows = nd_bytes;
    s->cols[COL_BLK].rows = s->cols[COL_BLK_HASH].rows = t->blocks;
    s->cols[COL_TX].rows = s->cols[COL_TX_HASH].rows = t->txs;
    s->cols[COL_IN_PREV].rows = t->inputs;
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR; c++)
        s->cols[c].rows = t->outputs;
    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = t->addresses;
    char hex[65];
    util_hash_hex(hex, b->hdr.hash);
    return util_err_prefix(err, "block %s (height %llu)", hex, (unsigned long long)height);
}

/* ---------------- reorganisation ---------------- */

int store_truncate_blocks(store *s, uint64_t keep, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    store_totals *t = &s->live;
    if (keep >= t->blocks) return 0;
    if (memcmp(&s->live, &s->committed, sizeof s->live) != 0)
        return util_errf(err, UTIL_EINVAL, "commit before removing blocks");
    {
        const store_block_row *kb = store_block(s, keep);
        uint64_t worst = 2 * (t->outputs - store_tx(s, kb->first_tx)->first_out) +
                         (t->inputs - store_tx(s, kb->first_tx)->first_in) +
                         2 * (t->txs - kb->first_tx);
        if (worst > UNDO_CAP_RECORDS)
            return util_errf(err, UTIL_EINVAL,
                             "reorganisation of %llu blocks is too deep for one batch",
                             (unsigned long long)(t->blocks - keep));
        int rc = undo_reserve(s, worst, err);
        if (rc) return rc;
    }
    if (keep == 0) return util_errf(err, UTIL_EINVAL, "a reorganisation cannot remove genesis");
    const store_block_row *kb = store_block(s, keep);
    uint64_t first_tx = kb->first_tx, first_addr = kb->first_addr;
    /* Newest first, so every output is unspent again when its own tx is undone. */
    for (uint64_t tx = t->txs; tx-- > first_tx;) {
        const store_tx_row *row = store_tx(s, tx);
        uint64_t in_end = tx + 1 < t->txs ? store_tx(s, tx + 1)->first_in : t->inputs;
        uint64_t out_end = tx + 1 < t->txs ? store_tx(s, tx + 1)->first_out : t->outputs;
        int64_t out_value = 0;
        for (uint64_t o = out_end; o-- > row->first_out;) {
            int64_t v = store_out_value(s, o);
            uint32_t a = store_out_addr(s, o);
            if (a != STORE_NO_ADDR)
                col_set_u64(s, COL_ADDR_LAST, a, *(uint64_t *)col_at(s, COL_OUT_PREV_ADDR, o));
            out_value += v;
            t->outputs_by_type[store_out_type(s, o)]--;
            t->utxo_count--;
            t->utxo_value -= v;
        }
        for (uint64_t in = row->first_in; in < in_end; in++) {
            uint64_t prev = store_in_prev(s, in);
            if (prev == STORE_UNRESOLVED) {
                t->unresolved_inputs--;
                s->cols[COL_UNRES].rows--;
            } else if (prev != STORE_COINBASE) {
                col_set_u64(s, COL_OUT_SPENT, prev, STORE_NONE);
                t->utxo_count++;
                t->utxo_value += store_out_value(s, prev);
            }
        }
        t->total_output_value -= out_value;
        if (!(row->flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED))) t->total_fees -= row->fee;
        t->inputs = row->first_in;
        t->outputs = row->first_out;
    }
    hindex_remove(s, &s->txidx, 0, &txidx_ops, first_tx, t->txs, 1);
    hindex_remove(s, &s->addridx, 1, &addridx_ops, first_addr, t->addresses, 1);
    t->txs = first_tx;
    t->addresses = first_addr;
    t->blocks = keep;
    s->cols[COL_BLK].rows = s->cols[COL_BLK_HASH].rows = t->blocks;
    s->cols[COL_TX].rows = s->cols[COL_TX_HASH].rows = t->txs;
    s->cols[COL_IN_PREV].rows = t->inputs;
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR; c++)
        s->cols[c].rows = t->outputs;
    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = t->addresses;
    /* payload rows of removed outputs are the tail of the nulldata column (output order) */
    column *nc = &s->cols[COL_ND];
    while (nc->rows && ((const uint64_t *)col_at(s, COL_ND, nc->rows - 1))[0] >= t->outputs)
        nc->rows--;
    s->cols[COL_ND_DATA].rows =
        nc->rows ? ((const uint64_t *)col_at(s, COL_ND, nc->rows - 1))[1] : 0;
    if (blkmap_rebuild(s, t->blocks))
        return util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
    return 0;
}

/* ---------------- reads ---------------- */

const uint8_t *store_block_hash(const store *s, uint64_t height)
{
    return col_at(s, COL_BLK_HASH, height);
}
const store_block_row *store_block(const store *s, uint64_t height)
{
    return col_at(s, COL_BLK, height);
}
const char *store_network(const store *s)
{
    return s->network;
}
int store_set_network(store *s, const char *name, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    if (strlen(name) >= sizeof s->network)
        return util_errf(err, UTIL_EINVAL, "network name '%s' too long", name);
    snprintf(s->network, sizeof s->network, "%s", name);
    return 0;
}
unsigned __int128 store_block_chainwork(const store *s, uint64_t height)
{
    const store_block_row *b = store_block(s, height);
    unsigned __int128 w = 0;
    for (int i = 15; i >= 0; i--)
        w = w << 8 | b->chainwork[i];
    return w;
}
const uint8_t *store_tx_hash(const store *s, uint64_t tx)
{
    return col_at(s, COL_TX_HASH, tx);
}
const store_tx_row *store_tx(const store *s, uint64_t tx)
{
    return col_at(s, COL_TX, tx);
}
uint32_t store_tx_n_in(const store *s, uint64_t tx)
{
    uint64_t end = tx + 1 < s->live.txs ? store_tx(s, tx + 1)->first_in : s->live.inputs;
    return (uint32_t)(end - store_tx(s, tx)->first_in);
}
uint32_t store_tx_n_out(const store *s, uint64_t tx)
{
    uint64_t end = tx + 1 < s->live.txs ? store_tx(s, tx + 1)->first_out : s->live.outputs;
    return (uint32_t)(end - store_tx(s, tx)->first_out);
}
int64_t store_find_tx(const store *s, const uint8_t txid[32])
{
    return hindex_find(s, &s->txidx, &txidx_ops, txid, s->live.txs);
}

/* Last tx whose first_out (or first_in) is <= id: txs are in id order. */
static uint64_t tx_of(const store *s, uint64_t id, int outputs)
{
    uint64_t lo = 0, hi = s->live.txs;
    if (s->n_sample) { /* the last sampled tx whose first id is <= id bounds the search */
        const uint64_t *smp = outputs ? s->sample_out : s->sample_in;
        uint64_t a = 0, b = s->n_sample;
        while (b - a > 1) {
            uint64_t mid = a + (b - a) / 2;
            if (smp[mid] <= id)
                a = mid;
            else
                b = mid;
        }
        lo = a * TX_SAMPLE;
        if (b * TX_SAMPLE < hi) hi = b * TX_SAMPLE;
    }
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        const store_tx_row *r = store_tx(s, mid);
        if ((outputs ? r->first_out : r->first_in) <= id)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}
uint64_t store_output_tx(const store *s, uint64_t out)
{
    return tx_of(s, out, 1);
}
uint64_t store_input_tx(const store *s, uint64_t in)
{
    return tx_of(s, in, 0);
}
int64_t store_out_value(const store *s, uint64_t out)
{
    return *(const int64_t *)col_at(s, COL_OUT_VALUE, out);
}
uint32_t store_out_addr(const store *s, uint64_t out)
{
    return *(const uint32_t *)col_at(s, COL_OUT_ADDR, out);
}
int store_out_type(const store *s, uint64_t out)
{
    return *(const uint8_t *)col_at(s, COL_OUT_TYPE, out);
}
uint64_t store_out_spent_by(const store *s, uint64_t out)
{
    return find_spent_by(s, out, s->live.inputs);
}
uint64_t store_in_prev(const store *s, uint64_t in)
{
    return *(const uint64_t *)col_at(s, COL_IN_PREV, in);
}
int store_in_unresolved(const store *s, uint64_t in, uint8_t txid[32], uint32_t *vout)
{
    uint64_t lo = 0, hi = s->cols[COL_UNRES].rows;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const store_unresolved_row *u = col_at(s, COL_UNRES, mid);
        if (u->input == in) {
            memcpy(txid, u->txid, 32);
            *vout = u->vout;
            return 0;
        }
        if (u->input < in)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UTIL_ENOTFOUND;
}
const btc_addr *store_addr(const store *s, uint32_t addr)
{
    return col_at(s, COL_ADDR_KEY, addr);
}
int64_t store_find_addr(const store *s, const btc_addr *key)
{
    return hindex_find(s, &s->addridx, &addridx_ops, (const uint8_t *)key, s->live.addresses);
}
uint64_t store_addr_last_out(const store *s, uint32_t addr)
{
    /* A writer may have linked newer outputs than this reader's MANIFEST: skip them, mapping
     * more of the file if the writer grew it since we opened. */
    uint64_t o = *(const uint64_t *)col_at(s, COL_ADDR_LAST, addr);
    while (o != STORE_NONE && o >= s->live.outputs) {
        column *c = (column *)&s->cols[COL_OUT_PREV_ADDR];
        if ((o + 1) * c->width > c->mapped) {
            struct stat st;
            if (fstat(c->fd, &st) < 0 || (uint64_t)st.st_size < (o + 1) * c->width ||
                colstore_col_map_to(c, (size_t)st.st_size, NULL))
                return STORE_NONE; /* the list head is beyond the file: treat as unknown */
        }
        o = store_out_prev_same_addr(s, o);
    }
    return o;
}
uint64_t store_out_prev_same_addr(const store *s, uint64_t out)
{
    return *(const uint64_t *)col_at(s, COL_OUT_PREV_ADDR, out);
}

int store_has_payloads(const store *s)
{
    return !s->legacy;
}

uint64_t store_payload_count(const store *s)
{
    return s->legacy ? 0 : s->cols[COL_ND].rows;
}

void store_payload_at(const store *s, uint64_t i, uint64_t *out, const uint8_t **p, size_t *n)
{
    const uint64_t *r = col_at(s, COL_ND, i);
    uint64_t start = i ? ((const uint64_t *)col_at(s, COL_ND, i - 1))[1] : 0;
    *out = r[0];
    *p = col_at(s, COL_ND_DATA, start);
    *n = (size_t)(r[1] - start);
}

int store_out_payload(const store *s, uint64_t out, const uint8_t **p, size_t *n)
{
    uint64_t lo = 0, hi = store_payload_count(s);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, o;
        store_payload_at(s, mid, &o, p, n);
        if (o == out) return 0;
        if (o < out)
            lo = mid + 1;
        else
            hi = mid;
    }
    *p = NULL, *n = 0;
    return UTIL_ENOTFOUND;
}

int store_recompute_totals(const store *s, store_totals *t, util_err *err)
{
    (void)err;
    memset(t, 0, sizeof *t);
    const store_totals *L = &s->live;
    t->blocks = L->blocks, t->txs = L->txs, t->inputs = L->inputs, t->outputs = L->outputs;
    for (uint64_t o = 0; o < L->outputs; o++) {
        int64_t v = store_out_value(s, o);
        t->total_output_value += v;
        t->outputs_by_type[store_out_type(s, o)]++;
        if (store_out_spent_by(s, o) == STORE_NONE) {
            t->utxo_count++;
            t->utxo_value += v;
        }
    }
    for (uint64_t in = 0; in < L->inputs; in++)
        t->unresolved_inputs += store_in_prev(s, in) == STORE_UNRESOLVED;
    for (uint64_t tx = 0; tx < L->txs; tx++) {
        const store_tx_row *r = store_tx(s, tx);
        if (r->flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED)) continue;
        int64_t in_v = 0, out_v = 0;
        uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
        for (uint32_t k = 0; k < n_in; k++)
            in_v += store_out_value(s, store_in_prev(s, r->first_in + k));
        for (uint32_t k = 0; k < n_out; k++)
            out_v += store_out_value(s, r->first_out + k);
        t->total_fees += in_v - out_v;
    }
    /* Distinct addresses: every address row must be referenced by its list head. */
    for (uint64_t a = 0; a < L->addresses; a++)
        t->addresses += store_addr_last_out(s, (uint32_t)a) != STORE_NONE;
    return 0;
}
