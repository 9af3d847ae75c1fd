/* The lookups by key: the on-disk hash indexes of txids and addresses, and the in-memory map
 * of block hashes to heights. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------- hash indexes ---------------- */

/* The key looked up, for colstore_ix_find / colstore_ix_slot_for to compare with a row. */
typedef struct key_ctx {
    const store *s;
    const idx_ops *ops;
    const uint8_t *key;
} key_ctx;

/* key_match compares with another row of the key column (inserts), lookup_match with a
 * lookup key (finds): the same for txids, not for format 3 address rows (idx_ops.rest). */
static int match_as(const key_ctx *k, uint64_t id, int packed)
{
    const uint8_t *row = store_col_at(k->s, k->ops->key_col, id);
    if (memcmp(row, k->key, k->ops->key_len) != 0) return 0;
    return !k->ops->rest || k->ops->rest(k->s, row, k->key, packed);
}

static int key_match(const void *ctx, uint64_t id)
{
    return match_as(ctx, id, 0);
}

static int lookup_match(const void *ctx, uint64_t id)
{
    return match_as(ctx, id, 1);
}

/* The rest of a format 3 address row (store_int.h, "Address keys"). */
static int addr_rest(const store *s, const uint8_t *row, const uint8_t *key, int packed)
{
    if (!packed) return memcmp(row + ADDR_HEAD, key + ADDR_HEAD, ADDR_ROW - ADDR_HEAD) == 0;
    int64_t t = store_addr_tail_row(row);
    if (t < 0) return memcmp(row + ADDR_HEAD, key + ADDR_HEAD, ADDR_ROW - ADDR_HEAD) == 0;
    return memcmp(store_col_at(s, COL_ADDR_TAIL, (uint64_t)t), key + ADDR_HEAD, ADDR_TAIL) == 0;
}

const idx_ops store_txidx_ops = {COL_TX_HASH, 32, NULL};
const idx_ops store_addridx_ops = {COL_ADDR_KEY, ADDR_HEAD, addr_rest};
const idx_ops store_addridx_ops_v2 = {COL_ADDR_KEY, sizeof(btc_addr), NULL};

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

void store_hindex_unmap(hindex *x)
{
    if (x->slots) munmap(x->slots - IDX_HEADER_WORDS, (IDX_HEADER_WORDS + x->cap) * 8);
    x->slots = NULL;
}

/* Record the occupancy in the header (word 3, as used + 1; 0 means unknown). */
void store_hindex_note_used(hindex *x)
{
    if (x->slots) x->slots[-1] = x->used + 1;
}

/* Look key (whose store_key_hash is h) up; live is the number of valid ids. Returns the id or -1.
 */
int64_t store_hindex_find_h(const store *s, const hindex *x, const idx_ops *ops, const uint8_t *key,
                            uint64_t h, uint64_t live)
{
    key_ctx k = {s, ops, key};
    uint64_t id;
    return colstore_ix_find(x->slots, x->cap, h, live, lookup_match, &k, &id) >= 0 ? (int64_t)id
                                                                                   : -1;
}

int64_t store_hindex_find(const store *s, const hindex *x, const idx_ops *ops, const uint8_t *key,
                          uint64_t live)
{
    return store_hindex_find_h(s, x, ops, key, store_key_hash(key, ops->key_len), live);
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
            store_undo_log(s, NCOLS + (x == &s->txidx ? 0 : 1), i, slot);
    }
    x->slots[i] = colstore_ix_entry(h, id);
    store_redo_note(s, x == &s->txidx ? REDO_TXIDX : REDO_ADDRIDX, i);
}

/* The capacity for keys entries: a function of the count alone, so a table grown one insert
 * at a time and one rebuilt in a single pass have the same size. */
uint64_t store_hindex_cap_for(uint64_t keys)
{
    return colstore_ix_cap(keys, 1 << 16);
}

static int hindex_fill(store *s, hindex *x, const idx_ops *ops, uint64_t live);

/* Rebuild the table from the key column's first live rows, sized for want keys. The new table
 * is built in NAME.idx.new and renamed over the old one once synced, so a crash mid-build
 * leaves the old index whole for readers, and readers holding the old file keep it. */
/* The redo log's records of the index target name slots of the table being replaced: make
 * everything they protect durable first, so none is left to replay onto the new table. */
static int hindex_before_rebuild(store *s, int target, util_err *err)
{
    if (s->redo_ready) return store_redo_checkpoint(s, err);
    s->redo_rebuilt |= 1 << (target - REDO_TXIDX); /* the replay leaves it alone */
    return 0;
}

/* The table itself. Touches x, s->ck[its target] and the files of x only (besides reading the
 * key column), so the two indexes can be rebuilt at once; the caller holds s->redo_mute. */
static int hindex_rebuild(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t want,
                          util_err *err)
{
    uint64_t cap = store_hindex_cap_for(want);
    int target = x == &s->txidx ? REDO_TXIDX : REDO_ADDRIDX;
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
    store_hindex_note_used(x);
    s->ck[target][0] = s->ck[target][1] = 0;
    if (msync(x->slots - IDX_HEADER_WORDS, (IDX_HEADER_WORDS + cap) * 8, MS_SYNC) < 0 ||
        rename(tmp, path) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s: cannot put the rebuilt index in place: %s", path,
                       strerror(errno));
        store_hindex_unmap(x);
        close(x->fd);
        unlink(tmp);
        *x = old;
        return rc;
    }
    store_hindex_unmap(&old);
    if (old.fd >= 0) close(old.fd);
    return 0;
}

int store_hindex_build(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t want,
                       util_err *err)
{
    int rc = hindex_before_rebuild(s, x == &s->txidx ? REDO_TXIDX : REDO_ADDRIDX, err);
    if (rc) return rc;
    s->redo_mute++; /* the whole new table is synced here */
    rc = hindex_rebuild(s, x, ops, live, want, err);
    s->redo_mute--;
    return rc;
}

typedef struct rebuild_job {
    store *s;
    uint64_t live;
    int rc;
    util_err err;
} rebuild_job;

static void *rebuild_txidx(void *arg)
{
    rebuild_job *j = arg;
    j->rc = hindex_rebuild(j->s, &j->s->txidx, &store_txidx_ops, j->live, j->live, &j->err);
    return NULL;
}

int store_hindex_build_both(store *s, uint64_t txs, uint64_t addresses, util_err *err)
{
    int rc = hindex_before_rebuild(s, REDO_TXIDX, err);
    if (!rc) rc = hindex_before_rebuild(s, REDO_ADDRIDX, err);
    if (rc) return rc;
    s->redo_mute++;
    rebuild_job j = {s, txs, 0, {0}};
    pthread_t t;
    int threaded = pthread_create(&t, NULL, rebuild_txidx, &j) == 0;
    if (!threaded) rebuild_txidx(&j);
    rc = hindex_rebuild(s, &s->addridx, &store_addridx_ops, addresses, addresses, err);
    if (threaded) pthread_join(t, NULL);
    s->redo_mute--;
    /* one after the other, the txid index's failure would have been the one reported */
    if (j.rc) {
        *err = j.err;
        return j.rc;
    }
    return rc;
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
        ring[id] = store_key_hash(store_col_at(s, ops->key_col, id), ops->key_len);
        __builtin_prefetch(&x->slots[ring[id] & (cap - 1)], 1);
    }
    for (uint64_t id = 0; id < live; id++) {
        uint64_t h = ring[id % AHEAD], next = id + AHEAD;
        if (next < live) {
            ring[next % AHEAD] = store_key_hash(store_col_at(s, ops->key_col, next), ops->key_len);
            __builtin_prefetch(&x->slots[ring[next % AHEAD] & (cap - 1)], 1);
        }
        hindex_put_h(s, x, ops, store_col_at(s, ops->key_col, id), h, id);
    }
    return 0;
}

int store_hindex_open(store *s, hindex *x, const char *name, const idx_ops *ops, uint64_t live,
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
        return store_hindex_build(s, x, ops, live, live, err);
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

int store_hindex_insert(store *s, hindex *x, const idx_ops *ops, const uint8_t *key, uint64_t h,
                        uint64_t id, util_err *err)
{
    if ((x->used + 1) * 4 > x->cap * 3) {
        int rc = store_hindex_build(s, x, ops, id, id + 1, err);
        if (rc) return rc;
    }
    hindex_put_h(s, x, ops, key, h, id);
    return 0;
}

/* Remove the entries of ids [from, to), newest first. Each is then the latest insertion, so
 * clearing its slot restores the table exactly as it was before it (linear probing). With
 * logged set, the cleared slots go to the undo log (a reorg removes committed entries). */
void store_hindex_remove(store *s, hindex *x, int which, const idx_ops *ops, uint64_t from,
                         uint64_t to, int logged)
{
    static const uint8_t zero[sizeof(btc_addr)];
    if (!x->slots) return;
    for (uint64_t id = to; id-- > from;) {
        const uint8_t *key = store_col_at(s, ops->key_col, id);
        if (memcmp(key, zero, ops->key_len) == 0) continue; /* a row never written */
        uint64_t h = store_key_hash(key, ops->key_len), mask = x->cap - 1;
        for (uint64_t i = h & mask; x->slots[i]; i = (i + 1) & mask) {
            if ((x->slots[i] & COLSTORE_IX_ID_MASK) != id + 1) continue;
            if (logged) store_undo_log(s, NCOLS + which, i, x->slots[i]);
            x->slots[i] = 0;
            store_redo_note(s, REDO_TXIDX + which, i);
            x->used--;
            break;
        }
    }
}

/* ---------------- block hash map (memory) ---------------- */

int store_blkmap_rebuild(store *s, uint64_t blocks)
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
        store_blkmap_put(s, h);
    return 0;
}

void store_blkmap_put(store *s, uint64_t height)
{
    const uint8_t *hash = store_col_at(s, COL_BLK_HASH, height);
    uint64_t mask = s->blkmap_cap - 1;
    for (uint64_t i = util_le64(hash) & mask;; i = (i + 1) & mask) {
        uint64_t v = s->blkmap[i];
        if (v == 0 || memcmp(store_col_at(s, COL_BLK_HASH, v - 1), hash, 32) == 0) {
            if (v == 0) s->blkmap_used++;
            s->blkmap[i] = height + 1;
            return;
        }
    }
}

int64_t store_find_block(const store *s, const uint8_t hash[32])
{
    if (!s->blkmap) { /* a reader: no map built at open; the newest blocks are asked most */
        for (uint64_t h = s->live.blocks; h-- > 0;)
            if (memcmp(store_col_at(s, COL_BLK_HASH, h), hash, 32) == 0) return (int64_t)h;
        return -1;
    }
    uint64_t mask = s->blkmap_cap - 1;
    for (uint64_t i = util_le64(hash) & mask;; i = (i + 1) & mask) {
        uint64_t v = s->blkmap[i];
        if (v == 0) return -1;
        if (v - 1 < s->live.blocks && memcmp(store_col_at(s, COL_BLK_HASH, v - 1), hash, 32) == 0)
            return (int64_t)(v - 1);
    }
}
