/* The lookups by key: the writer's in-memory address and token tables, and the on-disk hash
 * indexes of addresses and tx hashes (derived data, rebuilt from the columns when stale). */
#include "evm_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- address and token ids (writer, in memory) ---- */

static uint64_t addr_hash(const uint8_t a[20])
{
    /* addresses are hash outputs already: their bytes are uniform */
    return util_le64(a) ^ util_le64(a + 8) * 0x9e3779b97f4a7c15ull;
}

int evm_store_ht_rebuild(evm_store *s, uint64_t want)
{
    uint64_t cap = 1024;
    while (cap < want * 2)
        cap *= 2;
    uint32_t *ht = calloc(cap, sizeof *ht);
    if (!ht) return -1;
    for (uint64_t i = 0; i < s->n_addrs; i++) {
        uint64_t h = addr_hash(s->addrs + 20 * i) & (cap - 1);
        while (ht[h])
            h = (h + 1) & (cap - 1);
        ht[h] = (uint32_t)(i + 1);
    }
    free(s->addr_ht);
    s->addr_ht = ht, s->addr_ht_cap = cap;
    return 0;
}

/* Address id, creating it (pending) if new. */
int evm_store_addr_id(evm_store *s, const uint8_t a[20], uint32_t *out, util_err *err)
{
    uint64_t h = addr_hash(a) & (s->addr_ht_cap - 1);
    while (s->addr_ht[h]) {
        uint32_t id = s->addr_ht[h] - 1;
        if (!memcmp(s->addrs + 20 * (uint64_t)id, a, 20)) {
            *out = id;
            return 0;
        }
        h = (h + 1) & (s->addr_ht_cap - 1);
    }
    if (s->n_addrs >= UINT32_MAX - 1)
        return util_errf(err, UTIL_EINVAL, "more than 2^32-2 addresses: format 1 cannot hold them");
    uint64_t n = s->n_addrs + 1;
    if ((n & (n - 1)) == 0 || n == 1) { /* grow the per-address arrays in doubling steps */
        uint64_t cap = n < 1024 ? 1024 : n * 2;
        uint8_t *na = realloc(s->addrs, cap * 20);
        if (na) s->addrs = na;
        uint64_t *nh = realloc(s->heads, cap * sizeof *nh);
        if (nh) s->heads = nh;
        uint8_t *nd = realloc(s->head_dirty, cap);
        if (nd) s->head_dirty = nd;
        if (!na || !nh || !nd) return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    uint32_t id = (uint32_t)s->n_addrs;
    memcpy(s->addrs + 20 * (uint64_t)id, a, 20);
    s->heads[id] = EVM_NONE64;
    s->head_dirty[id] = 1;
    s->n_addrs = n;
    if (util_buf_append(&s->c[C_ADDR].pending, a, 20))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (n * 2 > s->addr_ht_cap) {
        if (evm_store_ht_rebuild(s, n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    } else {
        h = addr_hash(a) & (s->addr_ht_cap - 1);
        while (s->addr_ht[h])
            h = (h + 1) & (s->addr_ht_cap - 1);
        s->addr_ht[h] = id + 1;
    }
    *out = id;
    return 0;
}

int evm_store_token_id(evm_store *s, const uint8_t a[20], uint32_t *out, util_err *err)
{
    /* few tokens per chain compared with addresses: a scan is fine for now */
    for (uint64_t i = 0; i < s->n_toks; i++)
        if (!memcmp(s->toks + 20 * i, a, 20)) {
            *out = (uint32_t)(i + 1);
            return 0;
        }
    if ((s->n_toks & 1023) == 0) {
        uint8_t *nt = realloc(s->toks, (s->n_toks + 1024) * 20);
        if (!nt) return util_errf(err, UTIL_ENOMEM, "out of memory");
        s->toks = nt;
    }
    memcpy(s->toks + 20 * s->n_toks, a, 20);
    if (util_buf_append(&s->c[C_TOK].pending, a, 20))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    *out = (uint32_t)++s->n_toks;
    return 0;
}

/* ---- hash indexes ---- */

int evm_store_ix_col(int which)
{
    return which == IX_ADDR ? C_ADDR : C_TXHASH;
}

static uint64_t key_hash(const uint8_t *k)
{
    /* keys are hash outputs (addresses, tx hashes): their bytes are uniform already */
    return (util_le64(k) ^ util_le64(k + 8) * 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
}

void evm_store_ix_unmap(hidx *x)
{
    if (x->map) munmap(x->map, x->map_len);
    if (x->fd >= 0) close(x->fd);
    x->map = NULL, x->fd = -1, x->cap = x->count = 0;
}

/* Insert id under key, unless the probe meets that very entry. A writer killed after putting
 * slots of rows [count, k) but before writing the count leaves them behind; the rerun puts rows
 * [count, rows) again, and finding each leftover where it would go (slots are never cleared,
 * so its probe chain is still unbroken) keeps the table the bytes of an uninterrupted run. */
static void ix_put(uint8_t *slots, uint64_t cap, const uint8_t *key, uint64_t id)
{
    uint64_t *sl = (uint64_t *)slots, h = key_hash(key);
    sl[colstore_ix_slot_for(sl, cap, h, id, COLSTORE_IX_SKIP_EXACT, NULL, NULL)] =
        colstore_ix_entry(h, id);
}

int evm_store_ix_map(const evm_store *s, int which, hidx *x, int writable)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", s->dir, ix_files[which]);
    x->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (x->fd < 0) return -1;
    struct stat st;
    uint8_t h[IX_HDR];
    if (fstat(x->fd, &st) || st.st_size < IX_HDR || colstore_pread_all(x->fd, h, IX_HDR, 0) ||
        memcmp(h, "ctevmidx", 8) || util_le32(h + 8) != 1 ||
        util_le32(h + 12) != col_width[evm_store_ix_col(which)]) {
        evm_store_ix_unmap(x);
        return -1;
    }
    uint64_t cap = util_le64(h + 16);
    if (!cap || (cap & (cap - 1)) || cap > (UINT64_MAX - IX_HDR) / 8 ||
        (uint64_t)st.st_size != IX_HDR + 8 * cap) {
        evm_store_ix_unmap(x);
        return -1;
    }
    x->map_len = (size_t)st.st_size;
    x->map = mmap(NULL, x->map_len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, x->fd, 0);
    if (x->map == MAP_FAILED) {
        x->map = NULL;
        evm_store_ix_unmap(x);
        return -1;
    }
    x->cap = cap, x->count = util_le64(h + 24);
    return 0;
}

/* The capacity for a number of keys: the smallest power of two >= 1024 with 3 cap >= 4 keys.
 * A function of the count alone, so an index grown by appends and one rebuilt after a crash
 * are the same bytes (slots are filled in id order either way). */
static uint64_t ix_cap(uint64_t keys)
{
    return colstore_ix_cap(keys, 1024);
}

/* Write the index of rows [0, rows) of its column afresh (temp file, fsync, rename), map it. */
int evm_store_ix_rebuild(evm_store *s, int which, uint64_t rows, util_err *err)
{
    hidx *x = &s->ix[which];
    evm_store_ix_unmap(x);
    uint64_t cap = ix_cap(rows);
    size_t klen = col_width[evm_store_ix_col(which)];
    uint8_t *buf = calloc(1, IX_HDR + 8 * cap);
    uint8_t *keys = malloc(4096 * klen);
    if (!buf || !keys) {
        free(buf), free(keys);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    memcpy(buf, "ctevmidx", 8);
    util_put_le32(buf + 8, 1);
    util_put_le32(buf + 12, (uint32_t)klen);
    util_put_le64(buf + 16, cap);
    util_put_le64(buf + 24, rows);
    for (uint64_t i = 0; i < rows; i += 4096) {
        uint64_t k = rows - i < 4096 ? rows - i : 4096;
        if (colstore_pread_all(s->c[evm_store_ix_col(which)].f.fd, keys, k * klen, i * klen)) {
            free(buf), free(keys);
            return util_errf(err, UTIL_ECORRUPT, "%s/%s: shorter than MANIFEST", s->dir,
                             col_files[evm_store_ix_col(which)]);
        }
        for (uint64_t j = 0; j < k; j++)
            ix_put(buf + IX_HDR, cap, keys + j * klen, i + j);
    }
    free(keys);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", s->dir, ix_files[which]);
    int rc = util_replace_file(path, buf, IX_HDR + 8 * cap, err);
    free(buf);
    if (rc) return rc;
    if (evm_store_ix_map(s, which, x, 1))
        return util_errf(err, UTIL_EIO, "%s: cannot map the index just written", path);
    return 0;
}

/* Writer: make index `which` cover exactly the committed rows, adding rows [from, rows) in
 * place when it covered `from` rows and they fit, else rebuilding it. */
int evm_store_ix_extend(evm_store *s, int which, uint64_t from, uint64_t rows, util_err *err)
{
    hidx *x = &s->ix[which];
    if (!x->map || x->count != from || ix_cap(rows) != x->cap)
        return evm_store_ix_rebuild(s, which, rows, err);
    if (rows == from) return 0;
    uint8_t key[32];
    for (uint64_t i = from; i < rows; i++) {
        if (evm_store_read_row(s, evm_store_ix_col(which), i, key, err))
            return err ? err->code : UTIL_ECORRUPT;
        ix_put(x->map + IX_HDR, x->cap, key, i);
    }
    /* slots first, then the count that says they are there */
    if (msync(x->map, x->map_len, MS_SYNC)) return util_errf(err, UTIL_EIO, "index sync failed");
    util_put_le64(x->map + 24, rows);
    x->count = rows;
    if (msync(x->map, IX_HDR, MS_SYNC)) return util_errf(err, UTIL_EIO, "index sync failed");
    return 0;
}

/* The key looked up, for colstore_ix_find to compare with a column row (read with pread). */
typedef struct ix_key {
    const evm_store *s;
    int c;
    const uint8_t *key;
} ix_key;

static int ix_match(const void *ctx, uint64_t r)
{
    const ix_key *k = ctx;
    uint8_t row[32];
    if (evm_store_read_row(k->s, k->c, r, row, NULL)) return -1;
    return !memcmp(row, k->key, col_width[k->c]);
}

/* Reader: the row of key through the index. 1 found, 0 not stored, -1 no usable index (the
 * caller scans). A hit counts only if the column row below the committed count holds the key. */
int evm_store_ix_find(const evm_store *s, int which, const uint8_t *key, uint64_t *id)
{
    const hidx *x = &s->ix[which];
    int c = evm_store_ix_col(which);
    /* an index behind the MANIFEST (a writer died between the two) may miss keys */
    if (!x->map || util_le64(x->map + 24) < evm_store_crows(s, c)) return -1;
    ix_key k = {s, c, key};
    int64_t r = colstore_ix_find((const uint64_t *)(x->map + IX_HDR), x->cap, key_hash(key),
                                 evm_store_crows(s, c), ix_match, &k, id);
    return r >= 0 ? 1 : r == -1 ? 0 : -1;
}
