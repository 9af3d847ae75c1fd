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

static int hindex_fill(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t memory,
                       util_err *err);

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
 * key column), so the two indexes can be rebuilt at once; the caller holds s->redo_mute.
 * memory: as store_hindex_build_both's, this table's share. */
static int hindex_rebuild(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t want,
                          uint64_t memory, util_err *err)
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
    rc = hindex_fill(s, x, ops, live, memory, err);
    if (rc) { /* out of memory for the sort: the old table stays */
        store_hindex_unmap(x);
        close(x->fd);
        unlink(tmp);
        *x = old;
        return rc;
    }
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
    rc = hindex_rebuild(s, x, ops, live, want, 0, err);
    s->redo_mute--;
    return rc;
}

/* The least limit a build takes: below it, passes over the keys multiply for little gain. */
#define HINDEX_MIN_MEMORY ((uint64_t)1 << 16)

int store_hindex_mute_both(store *s, util_err *err)
{
    int rc = hindex_before_rebuild(s, REDO_TXIDX, err);
    if (!rc) rc = hindex_before_rebuild(s, REDO_ADDRIDX, err);
    if (!rc) s->redo_mute++;
    return rc;
}

int store_hindex_rebuild_muted(store *s, hindex *x, const idx_ops *ops, uint64_t live,
                               uint64_t want, uint64_t memory, util_err *err)
{
    if (memory && memory < HINDEX_MIN_MEMORY) memory = HINDEX_MIN_MEMORY;
    return hindex_rebuild(s, x, ops, live, want, memory, err);
}

/* ---------------- the index built in slot order ---------------- */

/* With linear probing the occupied slots do not depend on the insertion order, and a run of
 * occupied slots (a cluster) takes only keys whose home slots lie in it. So the table that
 * inserting ids 0, 1, ... in order gives can be built cluster by cluster: the (hash, id) pairs
 * sorted by home slot (ties in id order), cut into clusters while sweeping the slots, and each
 * cluster's insertions replayed in id order on a window of its own. Every slot is written
 * once, in order; nothing is read at random from the table. Exactly the table of
 * hindex_put_h in id order, duplicates included: a key equal to an earlier one takes no
 * slot but repoints the earlier one's (which lies on its probe path, so the same slot). */

typedef struct hx_pair {
    uint64_t h, id;
} hx_pair;

/* A key of the open cluster: its hash, its id (that of the first row with the key: when it took
 * its slot) and the id of its last row (what the slot names). */
typedef struct hx_key {
    uint64_t h, id, last;
} hx_key;

/* A duplicate key met: row id repointed the entry of row prev (same hash h). */
typedef struct hx_dup {
    uint64_t id, prev, h;
} hx_dup;

typedef struct hx_build {
    uint64_t *slots, cap, mask, used;
    const store_hindex_keys *k;
    hx_key *cl; /* the open cluster, by home slot then id */
    size_t ncl, clcap;
    uint64_t cs; /* its first slot */
    hx_dup *dups;
    size_t ndups, dupcap;
    uint64_t *next; /* the replay's next-free links */
    size_t nextcap;
} hx_build;

static int hx_grow(void **p, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < want)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q) return UTIL_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static int hx_by_id(const void *a, const void *b)
{
    uint64_t x = ((const hx_key *)a)->id, y = ((const hx_key *)b)->id;
    return x < y ? -1 : x > y;
}

static uint64_t hx_find(uint64_t *next, uint64_t i)
{
    while (next[i] != i) {
        next[i] = next[next[i]];
        i = next[i];
    }
    return i;
}

/* Replay the inserts of keys[0..n) (the keys of one cluster, sorted here by id) on the n slots
 * from slot base on: each takes the first free slot of the window at or after its home (window
 * position home - base; when wrapped, homes below base are past the table's end: home + cap). */
static int hx_place(hx_build *b, hx_key *keys, size_t n, uint64_t base, int wrapped)
{
    if (n == 1 && !wrapped) { /* most clusters */
        b->slots[base] = colstore_ix_entry(keys[0].h, keys[0].last);
        b->used++;
        return 0;
    }
    if (hx_grow((void **)&b->next, &b->nextcap, n + 1, sizeof *b->next)) return UTIL_ENOMEM;
    for (size_t i = 0; i <= n; i++)
        b->next[i] = i;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            hx_key v = keys[i];
            size_t j = i;
            for (; j > 0 && keys[j - 1].id > v.id; j--)
                keys[j] = keys[j - 1];
            keys[j] = v;
        }
    } else {
        qsort(keys, n, sizeof *keys, hx_by_id);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t home = keys[i].h & b->mask;
        if (wrapped && home < base) home += b->cap;
        uint64_t p = hx_find(b->next, home - base);
        b->next[p] = p + 1;
        b->slots[(base + p) & b->mask] = colstore_ix_entry(keys[i].h, keys[i].last);
    }
    b->used += n;
    return 0;
}

/* Add the pair (home slot order, ties in id order) to the sweep; a key that cannot reach the
 * open cluster closes it. */
static int hx_add(hx_build *b, uint64_t h, uint64_t id)
{
    uint64_t home = h & b->mask;
    if (b->ncl && home > b->cs + b->ncl) {
        int rc = hx_place(b, b->cl, b->ncl, b->cs, 0);
        if (rc) return rc;
        b->ncl = 0;
    }
    /* An equal key has the same home: it is among the open cluster's last keys. */
    for (size_t j = b->ncl; j-- > 0 && (b->cl[j].h & b->mask) == home;) {
        if (b->cl[j].h != h || !b->k->same(b->k->ctx, b->cl[j].id, id)) continue;
        if (hx_grow((void **)&b->dups, &b->dupcap, b->ndups + 1, sizeof *b->dups))
            return UTIL_ENOMEM;
        b->dups[b->ndups++] = (hx_dup){id, b->cl[j].last, h};
        b->cl[j].last = id;
        return 0;
    }
    if (hx_grow((void **)&b->cl, &b->clcap, b->ncl + 1, sizeof *b->cl)) return UTIL_ENOMEM;
    if (!b->ncl) b->cs = home;
    b->cl[b->ncl++] = (hx_key){h, id, id};
    return 0;
}

/* The open cluster at the end of the sweep: if it runs past the last slot, its keys continue
 * at slot 0, into the first free slots there (the occupied set does not depend on the order),
 * so it joins the keys already put in slots 0..e, e the last of those free slots it takes:
 * they are taken back and replayed with it. Those keys all have homes in 0..e and nothing
 * with a home there lies past e (the sweep put them without wrapping). */
static int hx_finish(hx_build *b)
{
    if (!b->ncl) return 0;
    if (b->cs + b->ncl <= b->cap) return hx_place(b, b->cl, b->ncl, b->cs, 0);
    uint64_t spill = b->cs + b->ncl - b->cap, e = 0, head = 0;
    for (;; e++) {
        if (b->slots[e] == 0 && --spill == 0) break;
        if (b->slots[e]) head++;
    }
    size_t n = b->ncl + head;
    if (hx_grow((void **)&b->cl, &b->clcap, n, sizeof *b->cl)) return UTIL_ENOMEM;
    for (uint64_t i = 0; i <= e; i++) {
        uint64_t v = b->slots[i];
        if (!v) continue;
        uint64_t last = colstore_ix_id(v), id = last;
        for (size_t d = b->ndups; d-- > 0;) /* rare: the row that first had the key */
            if (b->dups[d].id == id) id = b->dups[d].prev;
        b->cl[b->ncl++] = (hx_key){b->k->hash(b->k->ctx, id), id, last};
        b->slots[i] = 0;
        b->used--;
    }
    return hx_place(b, b->cl, b->ncl, b->cs, 1);
}

static int hx_dup_by_id(const void *a, const void *b)
{
    uint64_t x = ((const hx_dup *)a)->id, y = ((const hx_dup *)b)->id;
    return x < y ? -1 : x > y;
}

/* The pairs go to buckets by the top bits of their home slot, at most 512 of them (so the
 * scatter's write streams stay within the TLB and cache), each a list of 4 KiB chunks (no
 * counting pass first: the keys are hashed once); a bucket is then sorted on the remaining
 * bits in cache, by an LSD radix sort (stable: ties stay in id order). */
enum { HX_TOP_BITS = 9, HX_DIGIT_BITS = 11, HX_CHUNK = 255 };
enum { HX_ROWS_DONE = 1 << 16 }; /* rows hashed between two progress reports */
typedef struct hx_chunk {
    struct hx_chunk *next;
    uint64_t n;
    hx_pair p[HX_CHUNK];
} hx_chunk;

/* Sort m pairs by home slot bits [0, bits) from a, using b as scratch: the sorted run. */
static hx_pair *hx_radix(hx_pair *a, hx_pair *b, size_t m, uint64_t mask, unsigned bits,
                         size_t *hist)
{
    unsigned passes = (bits + HX_DIGIT_BITS - 1) / HX_DIGIT_BITS;
    for (unsigned p = 0; p < passes; p++) {
        unsigned lo = bits * p / passes, w = bits * (p + 1) / passes - lo;
        size_t nd = (size_t)1 << w;
        memset(hist, 0, (nd + 1) * sizeof *hist);
        for (size_t j = 0; j < m; j++)
            hist[((a[j].h & mask) >> lo & (nd - 1)) + 1]++;
        for (size_t j = 1; j <= nd; j++)
            hist[j] += hist[j - 1];
        for (size_t j = 0; j < m; j++)
            b[hist[(a[j].h & mask) >> lo & (nd - 1)]++] = a[j];
        hx_pair *t = a;
        a = b;
        b = t;
    }
    return a;
}

int store_hindex_fill_sorted(uint64_t *slots, uint64_t cap, uint64_t n, const store_hindex_keys *k,
                             size_t budget, uint64_t *used, util_err *err)
{
    if (n >= cap)
        return util_errf(err, UTIL_EINVAL, "a hash index of %llu slots cannot take %llu keys",
                         (unsigned long long)cap, (unsigned long long)n);
    hx_build b = {.slots = slots, .cap = cap, .mask = cap - 1, .k = k};
    unsigned bits = 0;
    while ((1ULL << bits) < cap)
        bits++;
    unsigned low = bits > HX_TOP_BITS ? bits - HX_TOP_BITS : 0;
    size_t nb = (size_t)(cap >> low);
    /* Partitions: ranges of buckets of about budget bytes of pairs each (the hash spreads the
     * keys evenly, so a range's share is its share of the slots); each costs a pass over the
     * keys. */
    size_t parts = budget ? (size_t)((n * sizeof(hx_pair) + budget - 1) / budget) : 1;
    if (parts < 1) parts = 1;
    if (parts > nb) parts = nb;
    hx_chunk **head = calloc(nb, sizeof *head), **tail = calloc(nb, sizeof *tail), *spare = NULL;
    size_t *hist = malloc((((size_t)1 << HX_DIGIT_BITS) + 1) * sizeof *hist);
    hx_pair *ra = NULL, *rb = NULL;
    size_t rcap = 0, rbcap = 0;
    int rc = head && tail && hist ? 0 : UTIL_ENOMEM;
    for (size_t p = 0; !rc && p < parts; p++) {
        size_t b0 = nb * p / parts, b1 = nb * (p + 1) / parts;
        uint64_t lo = (uint64_t)b0 << low, hi = (uint64_t)b1 << low;
        for (uint64_t id = 0; !rc && id < n; id++) {
            if (k->done && id && !(id & (HX_ROWS_DONE - 1))) k->done(k->ctx, STORE_HINDEX_ROWS, id);
            uint64_t h = k->hash(k->ctx, id), home = h & b.mask;
            if (home < lo || home >= hi) continue;
            size_t i = (size_t)(home >> low);
            hx_chunk *c = tail[i];
            if (!c || c->n == HX_CHUNK) {
                if (spare) {
                    c = spare;
                    spare = spare->next;
                } else if (!(c = malloc(sizeof *c))) {
                    rc = UTIL_ENOMEM;
                    break;
                }
                c->next = NULL;
                c->n = 0;
                if (tail[i])
                    tail[i]->next = c;
                else
                    head[i] = c;
                tail[i] = c;
            }
            c->p[c->n++] = (hx_pair){h, id};
        }
        for (size_t i = b0; i < b1; i++) {
            size_t m = 0;
            for (hx_chunk *c = head[i]; c; c = c->next)
                m += c->n;
            if (!rc && (hx_grow((void **)&ra, &rcap, m, sizeof *ra) ||
                        hx_grow((void **)&rb, &rbcap, m, sizeof *rb)))
                rc = UTIL_ENOMEM;
            m = 0;
            while (head[i]) { /* gathered, and the chunks kept for the next buckets */
                hx_chunk *c = head[i];
                if (!rc) memcpy(ra + m, c->p, c->n * sizeof *c->p);
                m += c->n;
                head[i] = c->next;
                c->next = spare;
                spare = c;
            }
            tail[i] = NULL;
            if (rc) continue;
            hx_pair *run = hx_radix(ra, rb, m, b.mask, low, hist);
            for (size_t j = 0; !rc && j < m; j++)
                rc = hx_add(&b, run[j].h, run[j].id);
            /* every key with a home below the bucket's end is in: only the open cluster is
             * still to be written */
            if (!rc && k->done) k->done(k->ctx, STORE_HINDEX_SLOTS, b.ncl ? b.cs : (i + 1) << low);
        }
        if (!rc && k->done) k->done(k->ctx, STORE_HINDEX_ROWS, n);
    }
    if (!rc) rc = hx_finish(&b);
    /* Duplicates repointed entries: report each as hindex_put_h met it, in id order. */
    if (!rc && k->repoint && b.ndups) {
        qsort(b.dups, b.ndups, sizeof *b.dups, hx_dup_by_id);
        for (size_t d = 0; d < b.ndups; d++) {
            uint64_t h = b.dups[d].h, i = h & b.mask;
            for (;; i = (i + 1) & b.mask)
                if (slots[i] >> COLSTORE_IX_ID_BITS == h >> COLSTORE_IX_ID_BITS &&
                    k->same(k->ctx, colstore_ix_id(slots[i]), b.dups[d].id))
                    break;
            k->repoint(k->ctx, i, colstore_ix_entry(h, b.dups[d].prev));
        }
    }
    if (!rc && k->done) k->done(k->ctx, STORE_HINDEX_SLOTS, cap);
    while (spare) {
        hx_chunk *c = spare;
        spare = c->next;
        free(c);
    }
    for (size_t i = 0; head && i < nb; i++)
        while (head[i]) {
            hx_chunk *c = head[i];
            head[i] = c->next;
            free(c);
        }
    free(head);
    free(tail);
    free(hist);
    free(ra);
    free(rb);
    free(b.cl);
    free(b.dups);
    free(b.next);
    if (rc)
        return util_errf(err, rc, "out of memory building a hash index of %llu keys",
                         (unsigned long long)n);
    *used = b.used;
    return 0;
}

/* The sorted build's view of a key column. */
typedef struct fill_ctx {
    store *s;
    const idx_ops *ops;
    int which;         /* 0 txid index, 1 address index */
    uint64_t *table;   /* the table's whole mapping (header included) */
    size_t rows_from;  /* bytes of the key column and of the table taken out of the mapping */
    size_t slots_from; /* (as whole pages) up to now */
} fill_ctx;

static uint64_t fill_hash(const void *ctx, uint64_t id)
{
    const fill_ctx *f = ctx;
    return store_key_hash(store_col_at(f->s, f->ops->key_col, id), f->ops->key_len);
}

static int fill_same(const void *ctx, uint64_t a, uint64_t b)
{
    const fill_ctx *f = ctx;
    /* the whole row, as an insert compares (key_match): a format 3 address row's head is
     * not the whole key */
    key_ctx k = {f->s, f->ops, store_col_at(f->s, f->ops->key_col, a)};
    return key_match(&k, b);
}

/* What hindex_put_h does on repointing a duplicate's entry (its redo note is muted here: the
 * rebuilt table is synced whole). */
static void fill_repoint(const void *ctx, uint64_t slot, uint64_t old)
{
    const fill_ctx *f = ctx;
    if (colstore_ix_id(old) < f->s->undo_base[f->ops->key_col] && f->s->undo)
        store_undo_log(f->s, NCOLS + f->which, slot, old);
}

/* Pages [*from, to) of the mapping at base (to rounded down to a page) out of the mapping:
 * the file's pages stay in the page cache (written ones dirty, for the kernel to write back),
 * so a later touch maps them again; only the resident set shrinks. */
static void drop_pages(const void *base, size_t *from, size_t to)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)base;
    size_t end = (size_t)(((a + to) & ~(uintptr_t)(page - 1)) - a); /* whole pages below to */
    if (end > to) end = 0;
    if (end <= *from) return;
    uintptr_t start = (a + *from + page - 1) & ~(uintptr_t)(page - 1);
    if (start < a + end) madvise((void *)start, a + end - start, MADV_DONTNEED);
    *from = end;
}

/* What is done with, out of the mapping: the key column's rows behind the pass (a new pass
 * starts again from the first row, read back from the page cache), the table's slots behind
 * the sweep. */
static void fill_done(const void *ctx, int what, uint64_t upto)
{
    fill_ctx *f = (fill_ctx *)ctx;
    if (what == STORE_HINDEX_ROWS) {
        const column *c = &f->s->cols[f->ops->key_col];
        size_t to = (size_t)upto * c->width;
        if (to > c->mapped) to = c->mapped;
        if (to < f->rows_from) f->rows_from = 0; /* the next pass */
        drop_pages(c->base, &f->rows_from, to);
    } else {
        drop_pages(f->table, &f->slots_from, (size_t)(IDX_HEADER_WORDS + upto) * 8);
    }
}

/* The pairs of one partition of the sorted build: 16 bytes a key, so one partition (one pass
 * over the key column) up to 64M keys; past that, a pass more per 1 GiB. */
#define HINDEX_SORT_BUDGET ((size_t)1 << 30)

/* Insert the key column's first live rows into an empty table: the table of inserting them
 * one by one in id order, built in slot order. With a memory limit (not 0) the pairs take at
 * most that, and what the build is done with is taken out of the mapping as it goes. */
static int hindex_fill(store *s, hindex *x, const idx_ops *ops, uint64_t live, uint64_t memory,
                       util_err *err)
{
    fill_ctx f = {s, ops, x == &s->txidx ? 0 : 1, x->slots - IDX_HEADER_WORDS, 0, 0};
    store_hindex_keys k = {fill_hash, fill_same, fill_repoint, memory ? fill_done : NULL, &f};
    size_t budget = memory ? (size_t)memory : HINDEX_SORT_BUDGET;
    return store_hindex_fill_sorted(x->slots, x->cap, live, &k, budget, &x->used, err);
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
