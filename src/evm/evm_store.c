/* The EVM store: DIR/evm/<chain>/, append-only column files and a MANIFEST (docs/evm.md).
 *
 * Crash safety rests on one ordering: a batch's rows live in memory until the commit, which
 * writes and syncs every appended row first, then the per-address list heads (addr_last.col,
 * the only file changed in place), then replaces the MANIFEST. So a head on disk only ever
 * points at a complete row. After a crash, rows past the MANIFEST are still on disk and the
 * next writer walks them newest first, putting back every head that points into them, before
 * cutting the files to the committed length. Readers do the same walk on the fly. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../colstore/colstore.h"
#include "../crypto/crypto.h"
#include "evm.h"

enum { C_BLK, C_TXHASH, C_TX, C_XFER, C_TRACE, C_ADDR, C_TOK, C_EV, C_EVTEXT, C_NCOLS };
static const char *const col_names[C_NCOLS] = {"blk",  "tx_hash", "tx",    "xfer",      "trace",
                                               "addr", "tok",     "event", "event_text"};
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

/* ---- small helpers ---- */

static uint64_t crows(const evm_store *s, int c)
{
    return s->c[c].f.rows;
}
/* rows including pending */
static uint64_t arows(const evm_store *s, int c)
{
    return s->c[c].f.rows + s->c[c].pending.len / col_width[c];
}

static int read_row(const evm_store *s, int c, uint64_t row, void *out, util_err *err)
{
    if (colstore_pread_all(s->c[c].f.fd, out, col_width[c], row * col_width[c]))
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: row %llu cannot be read (file cut short?)",
                         s->dir, col_files[c], (unsigned long long)row);
    return 0;
}

static uint64_t addr_hash(const uint8_t a[20])
{
    /* addresses are hash outputs already: their bytes are uniform */
    return util_le64(a) ^ util_le64(a + 8) * 0x9e3779b97f4a7c15ull;
}

static int ht_rebuild(evm_store *s, uint64_t want)
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
static int addr_id(evm_store *s, const uint8_t a[20], uint32_t *out, util_err *err)
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
        if (ht_rebuild(s, n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    } else {
        h = addr_hash(a) & (s->addr_ht_cap - 1);
        while (s->addr_ht[h])
            h = (h + 1) & (s->addr_ht_cap - 1);
        s->addr_ht[h] = id + 1;
    }
    *out = id;
    return 0;
}

static int token_id(evm_store *s, const uint8_t a[20], uint32_t *out, util_err *err)
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

static int ix_col(int which)
{
    return which == IX_ADDR ? C_ADDR : C_TXHASH;
}

static uint64_t key_hash(const uint8_t *k)
{
    /* keys are hash outputs (addresses, tx hashes): their bytes are uniform already */
    return (util_le64(k) ^ util_le64(k + 8) * 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
}

static void ix_unmap(hidx *x)
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

static int ix_map(const evm_store *s, int which, hidx *x, int writable)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", s->dir, ix_files[which]);
    x->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (x->fd < 0) return -1;
    struct stat st;
    uint8_t h[IX_HDR];
    if (fstat(x->fd, &st) || st.st_size < IX_HDR || colstore_pread_all(x->fd, h, IX_HDR, 0) ||
        memcmp(h, "ctevmidx", 8) || util_le32(h + 8) != 1 ||
        util_le32(h + 12) != col_width[ix_col(which)]) {
        ix_unmap(x);
        return -1;
    }
    uint64_t cap = util_le64(h + 16);
    if (!cap || (cap & (cap - 1)) || cap > (UINT64_MAX - IX_HDR) / 8 ||
        (uint64_t)st.st_size != IX_HDR + 8 * cap) {
        ix_unmap(x);
        return -1;
    }
    x->map_len = (size_t)st.st_size;
    x->map = mmap(NULL, x->map_len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, x->fd, 0);
    if (x->map == MAP_FAILED) {
        x->map = NULL;
        ix_unmap(x);
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
static int ix_rebuild(evm_store *s, int which, uint64_t rows, util_err *err)
{
    hidx *x = &s->ix[which];
    ix_unmap(x);
    uint64_t cap = ix_cap(rows);
    size_t klen = col_width[ix_col(which)];
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
        if (colstore_pread_all(s->c[ix_col(which)].f.fd, keys, k * klen, i * klen)) {
            free(buf), free(keys);
            return util_errf(err, UTIL_ECORRUPT, "%s/%s: shorter than MANIFEST", s->dir,
                             col_files[ix_col(which)]);
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
    if (ix_map(s, which, x, 1))
        return util_errf(err, UTIL_EIO, "%s: cannot map the index just written", path);
    return 0;
}

/* Writer: make index `which` cover exactly the committed rows, adding rows [from, rows) in
 * place when it covered `from` rows and they fit, else rebuilding it. */
static int ix_extend(evm_store *s, int which, uint64_t from, uint64_t rows, util_err *err)
{
    hidx *x = &s->ix[which];
    if (!x->map || x->count != from || ix_cap(rows) != x->cap)
        return ix_rebuild(s, which, rows, err);
    if (rows == from) return 0;
    uint8_t key[32];
    for (uint64_t i = from; i < rows; i++) {
        if (read_row(s, ix_col(which), i, key, err)) return err ? err->code : UTIL_ECORRUPT;
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
    if (read_row(k->s, k->c, r, row, NULL)) return -1;
    return !memcmp(row, k->key, col_width[k->c]);
}

/* Reader: the row of key through the index. 1 found, 0 not stored, -1 no usable index (the
 * caller scans). A hit counts only if the column row below the committed count holds the key. */
static int ix_find(const evm_store *s, int which, const uint8_t *key, uint64_t *id)
{
    const hidx *x = &s->ix[which];
    int c = ix_col(which);
    /* an index behind the MANIFEST (a writer died between the two) may miss keys */
    if (!x->map || util_le64(x->map + 24) < crows(s, c)) return -1;
    ix_key k = {s, c, key};
    int64_t r = colstore_ix_find((const uint64_t *)(x->map + IX_HDR), x->cap, key_hash(key),
                                 crows(s, c), ix_match, &k, id);
    return r >= 0 ? 1 : r == -1 ? 0 : -1;
}

/* ---- MANIFEST ---- */

static int manifest_text(const evm_store *s, const uint64_t rows[C_NCOLS], uint64_t gen,
                         const uint8_t tip[32], util_buf *b)
{
    char tiphex[67];
    evm_hash_hex(tiphex, tip);
    int rc = util_buf_printf(b, "cointrail-evm %d\nchain %s\nfirst_block %llu\nblocks %llu\n",
                             EVM_FORMAT_VERSION, s->chain, (unsigned long long)s->first_block,
                             (unsigned long long)rows[C_BLK]);
    rc |= util_buf_printf(b, "tip %s\ntoken_meta %llu\nrows", rows[C_BLK] ? tiphex : "-",
                          (unsigned long long)gen);
    rc |= colstore_manifest_rows(b, col_names, rows, C_NCOLS);
    rc |= util_buf_printf(b, "\n");
    rc |= colstore_manifest_seal(b, NULL);
    return rc;
}

static int manifest_read(evm_store *s, util_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *text = malloc(len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    memcpy(text, data, len);
    text[len] = 0;
    free(data);
    rc = UTIL_ECORRUPT;
    const char *ck = NULL;
    unsigned long long v[C_NCOLS], fb, nb, gen;
    char chain[32], tip[80];
    int ver, ok = colstore_manifest_check(text, 1, &ck, NULL);
    if (ok == UTIL_ENOTFOUND) goto bad;
    if (ok) {
        util_errf(err, UTIL_ECORRUPT, "%s: checksum mismatch", path);
        free(text);
        return UTIL_ECORRUPT;
    }
    if (sscanf(text,
               "cointrail-evm %d\nchain %31s\nfirst_block %llu\nblocks %llu\ntip %79s\n"
               "token_meta %llu\nrows blk=%llu tx_hash=%llu tx=%llu xfer=%llu trace=%llu "
               "addr=%llu tok=%llu\n",
               &ver, chain, &fb, &nb, tip, &gen, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6]) != 13)
        goto bad;
    {
        const char *rl = strstr(text, "\nrows ");
        uint64_t ev, et;
        if (rl && rl < ck && !colstore_manifest_row(rl, ck, "event", &ev) &&
            !colstore_manifest_row(rl, ck, "event_text", &et)) {
            v[C_EV] = ev, v[C_EVTEXT] = et;
        } else if (ver == 1) {
            v[C_EV] = v[C_EVTEXT] = 0;
            s->legacy = 1;
            ver = EVM_FORMAT_VERSION;
        } else {
            goto bad;
        }
    }
    if (ver != EVM_FORMAT_VERSION) {
        util_errf(err, UTIL_ECORRUPT, "%s: format %d, this cointrail reads %d", path, ver,
                  EVM_FORMAT_VERSION);
        free(text);
        return UTIL_ECORRUPT;
    }
    if (strcmp(chain, s->chain) || v[C_BLK] != nb || v[C_TXHASH] != v[C_TX]) goto bad;
    s->first_block = fb, s->token_gen = gen;
    for (int c = 0; c < C_NCOLS; c++)
        s->c[c].f.rows = v[c];
    memset(s->tip, 0, 32);
    if (nb && evm_hash_parse(s->tip, tip, strlen(tip), NULL)) goto bad;
    free(text);
    return 0;
bad:
    free(text);
    if (rc == UTIL_ECORRUPT)
        util_errf(err, UTIL_ECORRUPT, "%s: not a cointrail-evm MANIFEST", path);
    return rc;
}

/* ---- token metadata file ---- */

static int cmp_meta(const void *a, const void *b)
{
    return memcmp(((const evm_token_meta *)a)->addr, ((const evm_token_meta *)b)->addr, 20);
}

static void meta_path(const evm_store *s, uint64_t gen, char *out, size_t cap)
{
    snprintf(out, cap, "%s/tokens.meta.%llu", s->dir, (unsigned long long)gen);
}

static int meta_load(evm_store *s, util_err *err)
{
    free(s->meta);
    s->meta = NULL, s->n_meta = 0;
    if (!s->token_gen) return 0;
    char path[4200];
    meta_path(s, s->token_gen, path, sizeof path);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    s->meta = calloc(lines ? lines : 1, sizeof *s->meta);
    if (!s->meta) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char *p = (char *)data, *end = (char *)data + len;
    uint64_t line = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        *nl = 0;
        line++;
        if (line > 1) {
            evm_token_meta *m = &s->meta[s->n_meta];
            char *f[4];
            int k = 0;
            f[k++] = p;
            for (char *q = p; *q && k < 4; q++)
                if (*q == '\t') *q = 0, f[k++] = q + 1;
            if (k != 4 || evm_addr_parse(m->addr, f[0], strlen(f[0]), NULL) ||
                strlen(f[2]) >= sizeof m->symbol || strlen(f[3]) >= sizeof m->name) {
                free(data);
                return util_errf(err, UTIL_ECORRUPT, "%s:%llu: not a token line", path,
                                 (unsigned long long)line);
            }
            m->decimals = f[1][0] == '-' ? -1 : atoi(f[1]);
            strcpy(m->symbol, f[2]), strcpy(m->name, f[3]);
            s->n_meta++;
        } else if (strcmp(p, "cointrail-evm-tokens 1")) {
            free(data);
            return util_errf(err, UTIL_ECORRUPT, "%s: not a token metadata file", path);
        }
        p = nl + 1;
    }
    free(data);
    return 0;
}

static int meta_write(evm_store *s, uint64_t gen, util_err *err)
{
    util_buf b = {0};
    int rc = util_buf_printf(&b, "cointrail-evm-tokens 1\n");
    for (size_t i = 0; i < s->n_meta; i++) {
        char a[43];
        evm_addr_eip55(a, s->meta[i].addr);
        rc |= util_buf_printf(&b, "%s\t%d\t%s\t%s\n", a, s->meta[i].decimals, s->meta[i].symbol,
                              s->meta[i].name);
    }
    if (rc) {
        util_buf_free(&b);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char path[4200];
    meta_path(s, gen, path, sizeof path);
    rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

/* Remove tokens.meta.N files other than the committed generation, and the temp files of
 * replacements that never finished (NAME.tmp), all left by a crash. Only the writer, holding
 * the lock, writes in this directory. */
static void meta_cleanup(const evm_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long g;
        char tail;
        size_t n = strlen(e->d_name);
        if ((sscanf(e->d_name, "tokens.meta.%llu%c", &g, &tail) == 1 && g != s->token_gen) ||
            (n > 4 && !strcmp(e->d_name + n - 4, ".tmp"))) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* ---- open, recover, close ---- */

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0777) && errno != EEXIST ? -1 : 0;
}

/* Put back every list head that points at a transfer past the commit, newest first (which
 * undoes the appends exactly), then cut every file to its committed length. */
static int recover(evm_store *s, util_err *err)
{
    struct stat st;
    if (fstat(s->c[C_XFER].f.fd, &st)) return util_errf(err, UTIL_EIO, "%s: stat failed", s->dir);
    uint64_t phys = (uint64_t)st.st_size / col_width[C_XFER];
    uint64_t naddr = crows(s, C_ADDR);
    for (uint64_t r = phys; r-- > crows(s, C_XFER);) {
        uint8_t row[96];
        if (read_row(s, C_XFER, r, row, err)) return err ? err->code : UTIL_ECORRUPT;
        uint32_t ids[2] = {util_le32(row + 4), util_le32(row + 8)};
        uint64_t prevs[2] = {util_le64(row + 48), util_le64(row + 56)};
        for (int k = 0; k < 2; k++) {
            if (ids[k] >= naddr) continue; /* none, or an address that is cut away anyway */
            uint8_t h[8];
            if (colstore_pread_all(s->head_fd, h, 8, 8 * (uint64_t)ids[k]))
                return util_errf(err, UTIL_ECORRUPT, "%s/%s: short", s->dir, HEAD_FILE);
            if (util_le64(h) != r) continue;
            util_put_le64(h, prevs[k]);
            if (colstore_pwrite_all(s->head_fd, h, 8, 8 * (uint64_t)ids[k]))
                return util_errf(err, UTIL_EIO, "%s/%s: write failed", s->dir, HEAD_FILE);
        }
    }
    if (fdatasync(s->head_fd)) return util_errf(err, UTIL_EIO, "%s: sync failed", HEAD_FILE);
    for (int c = 0; c < C_NCOLS; c++) {
        if (s->c[c].f.fd < 0) continue; /* a format 1 store's missing columns */
        int rc = colstore_col_cut(&s->c[c].f, crows(s, c), err);
        if (rc) return rc;
    }
    if (ftruncate(s->head_fd, (off_t)(naddr * 8)))
        return util_errf(err, UTIL_EIO, "%s/%s: cannot cut back", s->dir, HEAD_FILE);
    meta_cleanup(s);
    return 0;
}

/* The writer's in-memory state from the committed files. */
static int load_state(evm_store *s, util_err *err)
{
    uint64_t n = crows(s, C_ADDR);
    uint64_t cap = 1024;
    while (cap < n + 1)
        cap *= 2;
    free(s->addrs), free(s->heads), free(s->head_dirty), free(s->toks);
    s->addrs = malloc(cap * 20);
    s->heads = malloc(cap * sizeof *s->heads);
    s->head_dirty = calloc(cap, 1);
    s->toks = malloc((crows(s, C_TOK) / 1024 + 1) * 1024 * 20);
    if (!s->addrs || !s->heads || !s->head_dirty || !s->toks)
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->n_addrs = n;
    s->n_toks = crows(s, C_TOK);
    if ((n && colstore_pread_all(s->c[C_ADDR].f.fd, s->addrs, n * 20, 0)) ||
        (s->n_toks && colstore_pread_all(s->c[C_TOK].f.fd, s->toks, s->n_toks * 20, 0)))
        return util_errf(err, UTIL_ECORRUPT, "%s: address or token file shorter than MANIFEST",
                         s->dir);
    uint8_t *raw = malloc(n * 8 + 1);
    if (!raw) return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (n && colstore_pread_all(s->head_fd, raw, n * 8, 0)) {
        free(raw);
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: shorter than MANIFEST", s->dir, HEAD_FILE);
    }
    for (uint64_t i = 0; i < n; i++)
        s->heads[i] = util_le64(raw + 8 * i);
    free(raw);
    if (ht_rebuild(s, n + 1)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return meta_load(s, err);
}

int evm_store_open(evm_store **out, const char *dir, const char *chain, unsigned flags,
                   util_err *err)
{
    *out = NULL;
    size_t cl = strlen(chain);
    if (!cl || cl > 31 || strspn(chain, "abcdefghijklmnopqrstuvwxyz0123456789-_") != cl)
        return util_errf(err, UTIL_EINVAL,
                         "--chain '%s': use 1 to 31 lowercase letters, digits, - or _", chain);
    evm_store *s = calloc(1, sizeof *s);
    if (!s) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->lock_fd = s->head_fd = -1;
    for (int i = 0; i < IX_N; i++)
        s->ix[i].fd = -1;
    for (int c = 0; c < C_NCOLS; c++)
        s->c[c].f.fd = -1;
    strcpy(s->chain, chain);
    int rc = 0;
    size_t dl = strlen(dir) + cl + 8;
    if (!(s->dir = malloc(dl))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(s->dir, dl, "%s/evm/%s", dir, chain);
    s->writer = !!(flags & EVM_STORE_WRITE);
    char path[4400];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists && !(flags & EVM_STORE_CREATE)) {
        rc = util_errf(err, UTIL_ENOTFOUND, "%s: no %s chain imported here (evm-import first)", dir,
                       chain);
        goto fail;
    }
    if (s->writer) {
        if (mkdir_p(s->dir)) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot create: %s", s->dir, strerror(errno));
            goto fail;
        }
        snprintf(path, sizeof path, "%s/LOCK", s->dir);
        char what[4600];
        snprintf(what, sizeof what, "%s: another import holds the lock", s->dir);
        if ((rc = colstore_lock(&s->lock_fd, path, 0666, 1, what, err))) goto fail;
    }
    if (exists) {
        if ((rc = manifest_read(s, err))) goto fail;
        if (s->legacy && s->writer) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s: format 1 store without the events table; this cointrail writes "
                           "format %d: import the exports again into a new --db directory (the "
                           "store can still be read)",
                           s->dir, EVM_FORMAT_VERSION);
            goto fail;
        }
    } else {
        if (s->writer) meta_cleanup(s);
    }
    int oflags = (s->writer ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC;
    for (int c = 0; c < C_NCOLS; c++) {
        if (s->legacy && c >= C_FIRST_V2) continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, col_files[c]);
        uint64_t committed = s->c[c].f.rows; /* from the MANIFEST; the open starts at 0 */
        if (colstore_col_open(&s->c[c].f, path, col_width[c],
                              COLSTORE_CLOEXEC | (s->writer ? COLSTORE_WRITE : 0), 0666, err)) {
            rc = err ? (err->code = UTIL_ECORRUPT) : UTIL_ECORRUPT;
            goto fail;
        }
        s->c[c].f.rows = committed;
    }
    snprintf(path, sizeof path, "%s/%s", s->dir, HEAD_FILE);
    if ((s->head_fd = open(path, oflags, 0666)) < 0) {
        rc = util_errf(err, UTIL_ECORRUPT, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (s->writer) {
        if ((rc = recover(s, err)) || (rc = load_state(s, err))) goto fail;
        for (int i = 0; i < IX_N && !rc; i++) {
            ix_map(s, i, &s->ix[i], 1); /* a missing or damaged index is rebuilt */
            rc = ix_extend(s, i, s->ix[i].map ? s->ix[i].count : UINT64_MAX, crows(s, ix_col(i)),
                           err);
        }
        if (rc) goto fail;
        if (!exists) { /* an empty store is committed from the start */
            if ((rc = evm_store_commit(s, err))) goto fail;
        }
    } else if ((rc = meta_load(s, err))) {
        goto fail;
    } else {
        for (int i = 0; i < IX_N; i++)
            ix_map(s, i, &s->ix[i], 0); /* no index: look-ups scan */
    }
    *out = s;
    return 0;
fail:
    evm_store_close(s);
    return rc;
}

void evm_store_close(evm_store *s)
{
    if (!s) return;
    for (int c = 0; c < C_NCOLS; c++) {
        colstore_col_close(&s->c[c].f);
        util_buf_free(&s->c[c].pending);
    }
    if (s->head_fd >= 0) close(s->head_fd);
    for (int i = 0; i < IX_N; i++)
        ix_unmap(&s->ix[i]);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->addrs), free(s->heads), free(s->head_dirty), free(s->addr_ht), free(s->toks);
    free(s->meta);
    free(s->dir);
    free(s);
}

const char *evm_store_chain(const evm_store *s)
{
    return s->chain;
}

/* ---- append and commit ---- */

static int push(evm_store *s, int c, const void *row, util_err *err)
{
    if (util_buf_append(&s->c[c].pending, row, col_width[c]))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

int evm_store_append_block(evm_store *s, const evm_block *b, util_err *err)
{
    if (!s->writer) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    uint64_t nb = arows(s, C_BLK);
    if (nb) {
        if (b->number != s->first_block + nb)
            return util_errf(
                err, UTIL_EFORMAT,
                "block %llu does not extend the store (tip is block %llu): blocks "
                "%llu to %llu are missing",
                (unsigned long long)b->number, (unsigned long long)(s->first_block + nb - 1),
                (unsigned long long)(s->first_block + nb), (unsigned long long)b->number - 1);
        if (memcmp(b->parent, s->tip, 32)) {
            char ph[67], th[67];
            evm_hash_hex(ph, b->parent), evm_hash_hex(th, s->tip);
            return util_errf(err, UTIL_EFORMAT,
                             "block %llu: parent %s is not the stored tip %s (a reorganisation "
                             "deeper than the blocks given: export from an earlier block)",
                             (unsigned long long)b->number, ph, th);
        }
    } else {
        s->first_block = b->number;
    }
    uint64_t tx0 = arows(s, C_TX), x0 = arows(s, C_XFER);
    uint8_t row[136];
    memset(row, 0, sizeof row);
    util_put_le64(row, b->number);
    util_put_le64(row + 8, b->timestamp);
    util_put_le64(row + 16, tx0);
    util_put_le64(row + 24, x0);
    util_put_le64(row + 32, s->n_addrs);
    util_put_le64(row + 40, s->n_toks);
    util_put_le64(row + 48, arows(s, C_TRACE));
    util_put_le32(row + 56, (uint32_t)b->n_txs);
    memcpy(row + 64, b->hash, 32);
    memcpy(row + 96, b->parent, 32);
    int rc = push(s, C_BLK, row, err);
    /* where each tx's transfers start: counted from the block's transfer list */
    size_t xi = 0;
    for (size_t i = 0; i < b->n_txs && !rc; i++) {
        const evm_tx *t = &b->txs[i];
        uint32_t from, to = EVM_NONE32;
        if ((rc = addr_id(s, t->from, &from, err))) break;
        if (t->has_to && (rc = addr_id(s, t->to, &to, err))) break;
        while (xi < b->n_xfers && b->xfers[xi].tx != EVM_NONE32 && b->xfers[xi].tx < i)
            xi++;
        memset(row, 0, sizeof row);
        util_put_le64(row, nb);
        util_put_le64(row + 8, t->gas_used);
        util_put_le64(row + 16, x0 + xi);
        util_put_le32(row + 24, t->index);
        util_put_le32(row + 28, from);
        util_put_le32(row + 32, to);
        util_put_le32(row + 36, t->flags);
        evm_u256_store(row + 40, &t->value);
        evm_u256_store(row + 72, &t->gas_price);
        evm_u256_store(row + 104, &t->fee);
        if ((rc = push(s, C_TX, row, err)) || (rc = push(s, C_TXHASH, t->hash, err))) break;
    }
    for (size_t i = 0; i < b->n_xfers && !rc; i++) {
        const evm_xfer *x = &b->xfers[i];
        uint32_t from = EVM_NONE32, to = EVM_NONE32, tok = 0;
        if (x->has_from && (rc = addr_id(s, x->from, &from, err))) break;
        if (x->has_to && (rc = addr_id(s, x->to, &to, err))) break;
        if (x->kind == EVM_XFER_ERC20 && (rc = token_id(s, x->token, &tok, err))) break;
        if (x->tx != EVM_NONE32 && x->tx >= b->n_txs) {
            rc = util_errf(err, UTIL_EINVAL, "block %llu: transfer %zu names tx %u of %zu",
                           (unsigned long long)b->number, i, x->tx, b->n_txs);
            break;
        }
        uint64_t id = x0 + i;
        size_t tl = x->trace_address ? strlen(x->trace_address) : 0;
        memset(row, 0, sizeof row);
        row[0] = x->kind;
        util_put_le32(row + 4, from);
        util_put_le32(row + 8, to);
        util_put_le32(row + 12, tok);
        util_put_le32(row + 16, x->log_index);
        util_put_le32(row + 20, (uint32_t)tl);
        util_put_le64(row + 24, x->tx == EVM_NONE32 ? EVM_NONE64 : tx0 + x->tx);
        util_put_le64(row + 32, nb);
        util_put_le64(row + 40, arows(s, C_TRACE));
        /* the per-address lists: a self-transfer is linked once */
        uint64_t pf = from != EVM_NONE32 ? s->heads[from] : EVM_NONE64;
        uint64_t pt = to != EVM_NONE32 ? s->heads[to] : EVM_NONE64;
        if (from == to) pt = pf;
        util_put_le64(row + 48, pf);
        util_put_le64(row + 56, pt);
        evm_u256_store(row + 64, &x->amount);
        if ((rc = push(s, C_XFER, row, err))) break;
        if (tl && util_buf_append(&s->c[C_TRACE].pending, x->trace_address, tl)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        if (from != EVM_NONE32) s->heads[from] = id, s->head_dirty[from] = 1;
        if (to != EVM_NONE32) s->heads[to] = id, s->head_dirty[to] = 1;
    }
    for (size_t i = 0; i < b->n_events && !rc; i++) {
        const evm_event *e = &b->events[i];
        if (e->tx >= b->n_txs || !e->kind || e->kind >= EVM_EVENT_KINDS ||
            e->text_len > EVM_EVENT_TEXT_MAX) {
            rc = util_errf(err, UTIL_EINVAL, "block %llu: event %zu is malformed",
                           (unsigned long long)b->number, i);
            break;
        }
        memset(row, 0, sizeof row);
        uint8_t ev[256] = {0};
        ev[0] = e->kind;
        util_put_le32(ev + 4, e->log_index);
        util_put_le64(ev + 8, tx0 + e->tx);
        util_put_le64(ev + 16, nb);
        util_put_le64(ev + 24, arows(s, C_EVTEXT));
        util_put_le32(ev + 32, e->text_len);
        memcpy(ev + 40, e->contract, 20);
        memcpy(ev + 60, e->addr, 60);
        memcpy(ev + 120, e->word, 32);
        for (int k = 0; k < 3; k++)
            evm_u256_store(ev + 152 + 32 * k, &e->u[k]);
        if ((rc = push(s, C_EV, ev, err))) break;
        if (e->text_len && util_buf_append(&s->c[C_EVTEXT].pending, e->text, e->text_len))
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (!rc) memcpy(s->tip, b->hash, 32);
    /* a failed append leaves pending rows that no commit may write: the caller must close */
    return rc;
}

int evm_store_set_tokens(evm_store *s, const evm_token_meta *t, size_t n, util_err *err)
{
    if (!n) return 0;
    evm_token_meta *m = realloc(s->meta, (s->n_meta + n) * sizeof *m);
    if (!m) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->meta = m;
    for (size_t i = 0; i < n; i++) {
        evm_token_meta *hit = bsearch(&t[i], s->meta, s->n_meta, sizeof *m, cmp_meta);
        if (hit) {
            if (memcmp(hit, &t[i], sizeof *hit)) {
                /* compare the meaningful bytes only: the strings' tails may differ */
                if (hit->decimals != t[i].decimals || strcmp(hit->symbol, t[i].symbol) ||
                    strcmp(hit->name, t[i].name)) {
                    *hit = t[i];
                    s->meta_dirty = 1;
                }
            }
            continue;
        }
        s->meta[s->n_meta++] = t[i];
        qsort(s->meta, s->n_meta, sizeof *m, cmp_meta);
        s->meta_dirty = 1;
    }
    return 0;
}

static int sync_fd(int fd)
{
    return fdatasync(fd);
}

int evm_store_commit(evm_store *s, util_err *err)
{
    if (!s->writer) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    /* 1. rows, synced */
    for (int c = 0; c < C_NCOLS; c++) {
        col *k = &s->c[c];
        int rc = k->pending.len
                     ? colstore_col_write(&k->f, k->f.rows, k->pending.data, k->pending.len, err)
                     : 0;
        if (!rc && k->pending.len) rc = colstore_col_sync(&k->f, err);
        if (rc) return rc;
    }
    /* 2. list heads: every new or changed one, then synced */
    int any = 0;
    for (uint64_t i = 0; i < s->n_addrs; i++) {
        if (!s->head_dirty[i]) continue;
        uint8_t h[8];
        util_put_le64(h, s->heads[i]);
        if (colstore_pwrite_all(s->head_fd, h, 8, 8 * i))
            return util_errf(err, UTIL_EIO, "%s/%s: write failed", s->dir, HEAD_FILE);
        s->head_dirty[i] = 0;
        any = 1;
    }
    if (any && sync_fd(s->head_fd))
        return util_errf(err, UTIL_EIO, "%s/%s: sync failed", s->dir, HEAD_FILE);
    if (s->crash_in_commit && ++s->commits == s->crash_in_commit) _exit(9);
    /* 3. token metadata, a new generation */
    uint64_t gen = s->token_gen;
    if (s->meta_dirty) {
        int rc = meta_write(s, gen + 1, err);
        if (rc) return rc;
        gen++;
    }
    /* 4. the MANIFEST: the commit point */
    uint64_t rows[C_NCOLS];
    for (int c = 0; c < C_NCOLS; c++)
        rows[c] = arows(s, c);
    util_buf b = {0};
    if (manifest_text(s, rows, gen, s->tip, &b)) {
        util_buf_free(&b);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    if (rc) return rc;
    uint64_t before[IX_N];
    for (int i = 0; i < IX_N; i++)
        before[i] = crows(s, ix_col(i));
    for (int c = 0; c < C_NCOLS; c++) {
        s->c[c].f.rows = rows[c];
        s->c[c].pending.len = 0;
    }
    /* 5. the indexes, derived data: a crash before they are done only means a rebuild */
    for (int i = 0; i < IX_N; i++)
        if ((rc = ix_extend(s, i, before[i], rows[ix_col(i)], err))) return rc;
    if (gen != s->token_gen) {
        s->token_gen = gen;
        meta_cleanup(s);
    }
    s->meta_dirty = 0;
    return 0;
}

void evm_store_test_crash_in_commit(evm_store *s, uint64_t n)
{
    s->crash_in_commit = n;
}

int evm_store_truncate(evm_store *s, uint64_t from, util_err *err)
{
    if (!s->writer) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    for (int c = 0; c < C_NCOLS; c++)
        if (s->c[c].pending.len)
            return util_errf(err, UTIL_EINVAL, "commit before cutting blocks back");
    uint64_t nb = crows(s, C_BLK);
    if (!nb || from >= s->first_block + nb) return 0;
    uint64_t keep = from > s->first_block ? from - s->first_block : 0;
    uint64_t rows[C_NCOLS] = {0};
    int rc = 0;
    uint8_t tip[32] = {0};
    if (keep) {
        evm_block_row cut, last;
        rc = evm_store_block(s, keep, &cut, err);
        if (!rc) rc = evm_store_block(s, keep - 1, &last, err);
        if (rc) return rc;
        rows[C_BLK] = keep, rows[C_TX] = rows[C_TXHASH] = cut.first_tx;
        rows[C_XFER] = cut.first_xfer, rows[C_TRACE] = cut.first_trace;
        rows[C_ADDR] = cut.first_addr, rows[C_TOK] = cut.first_token;
        memcpy(tip, last.hash, 32);
        /* events of the blocks kept: the rows before the first one of block row keep */
        uint64_t lo = 0, hi = crows(s, C_EV);
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            uint8_t ev[256];
            if ((rc = read_row(s, C_EV, mid, ev, err))) return rc;
            if (util_le64(ev + 16) < keep)
                lo = mid + 1;
            else
                hi = mid;
        }
        rows[C_EV] = lo, rows[C_EVTEXT] = crows(s, C_EVTEXT);
        if (lo < crows(s, C_EV)) {
            uint8_t ev[256];
            if ((rc = read_row(s, C_EV, lo, ev, err))) return rc;
            rows[C_EVTEXT] = util_le64(ev + 24);
        }
    }
    /* commit the shorter state first: rows past it stay on disk for recover() to unlink */
    util_buf b = {0};
    uint64_t fb = s->first_block;
    if (!keep) s->first_block = 0;
    if (manifest_text(s, rows, s->token_gen, tip, &b)) {
        util_buf_free(&b);
        s->first_block = fb;
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    if (rc) {
        s->first_block = fb;
        return rc;
    }
    for (int c = 0; c < C_NCOLS; c++)
        s->c[c].f.rows = rows[c];
    memcpy(s->tip, tip, 32);
    if ((rc = recover(s, err)) || (rc = load_state(s, err))) return rc;
    for (int i = 0; i < IX_N && !rc; i++)
        rc = ix_rebuild(s, i, crows(s, ix_col(i)), err);
    return rc;
}

/* ---- reads ---- */

int evm_store_has_events(const evm_store *s)
{
    return !s->legacy;
}

uint64_t evm_store_event_count(const evm_store *s)
{
    return s->legacy ? 0 : crows(s, C_EV);
}

int evm_store_event(const evm_store *s, uint64_t id, evm_event_row *o, util_err *err)
{
    if (id >= evm_store_event_count(s))
        return util_errf(err, UTIL_ENOTFOUND, "event %llu not stored", (unsigned long long)id);
    uint8_t ev[256];
    int rc = read_row(s, C_EV, id, ev, err);
    if (rc) return rc;
    memset(o, 0, sizeof *o);
    o->kind = ev[0];
    o->log_index = util_le32(ev + 4);
    o->tx = util_le64(ev + 8);
    o->block = util_le64(ev + 16);
    uint64_t off = util_le64(ev + 24);
    o->text_len = util_le32(ev + 32);
    memcpy(o->contract, ev + 40, 20);
    memcpy(o->addr, ev + 60, 60);
    memcpy(o->word, ev + 120, 32);
    for (int k = 0; k < 3; k++)
        evm_u256_load(&o->u[k], ev + 152 + 32 * k);
    if (o->text_len > EVM_EVENT_TEXT_MAX || off + o->text_len > crows(s, C_EVTEXT) ||
        (o->text_len && colstore_pread_all(s->c[C_EVTEXT].f.fd, o->text, o->text_len, off)))
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: event %llu's text cannot be read", s->dir,
                         col_files[C_EVTEXT], (unsigned long long)id);
    o->text[o->text_len] = 0;
    return 0;
}

int evm_store_block(const evm_store *s, uint64_t r, evm_block_row *o, util_err *err)
{
    if (r >= crows(s, C_BLK))
        return util_errf(err, UTIL_ENOTFOUND, "block row %llu not stored", (unsigned long long)r);
    uint8_t row[128];
    int rc = read_row(s, C_BLK, r, row, err);
    if (rc) return rc;
    o->number = util_le64(row), o->timestamp = util_le64(row + 8);
    o->first_tx = util_le64(row + 16), o->first_xfer = util_le64(row + 24);
    o->first_addr = util_le64(row + 32), o->first_token = util_le64(row + 40);
    o->first_trace = util_le64(row + 48), o->n_tx = util_le32(row + 56);
    memcpy(o->hash, row + 64, 32), memcpy(o->parent, row + 96, 32);
    return 0;
}

int evm_store_tx(const evm_store *s, uint64_t id, evm_tx_row *o, util_err *err)
{
    if (id >= crows(s, C_TX))
        return util_errf(err, UTIL_ENOTFOUND, "tx %llu not stored", (unsigned long long)id);
    uint8_t row[136];
    int rc = read_row(s, C_TX, id, row, err);
    if (!rc) rc = read_row(s, C_TXHASH, id, o->hash, err);
    if (rc) return rc;
    o->block = util_le64(row), o->gas_used = util_le64(row + 8);
    o->first_xfer = util_le64(row + 16), o->index = util_le32(row + 24);
    o->from = util_le32(row + 28), o->to = util_le32(row + 32), o->flags = util_le32(row + 36);
    evm_u256_load(&o->value, row + 40);
    evm_u256_load(&o->gas_price, row + 72);
    evm_u256_load(&o->fee, row + 104);
    return 0;
}

int evm_store_find_tx(const evm_store *s, const uint8_t hash[32], uint64_t *id, util_err *err)
{
    char hex[67];
    int f = ix_find(s, IX_TX, hash, id);
    if (f == 1) return 0;
    if (f == 0) {
        evm_hash_hex(hex, hash);
        return util_errf(err, UTIL_ENOTFOUND, "tx %s is not in the %s store", hex, s->chain);
    }
    uint64_t n = crows(s, C_TX);
    enum { CHUNK = 4096 };
    uint8_t *buf = malloc(CHUNK * 32);
    if (!buf) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i += CHUNK) {
        uint64_t k = n - i < CHUNK ? n - i : CHUNK;
        if (colstore_pread_all(s->c[C_TXHASH].f.fd, buf, k * 32, i * 32)) {
            free(buf);
            return util_errf(err, UTIL_ECORRUPT, "%s/tx_hash.col: shorter than MANIFEST", s->dir);
        }
        for (uint64_t j = 0; j < k; j++)
            if (!memcmp(buf + 32 * j, hash, 32)) {
                *id = i + j;
                free(buf);
                return 0;
            }
    }
    free(buf);
    evm_hash_hex(hex, hash);
    return util_errf(err, UTIL_ENOTFOUND, "tx %s is not in the %s store", hex, s->chain);
}

int evm_store_xfer(const evm_store *s, uint64_t id, evm_xfer_row *o, util_err *err)
{
    uint8_t row[96];
    int rc = read_row(s, C_XFER, id, row, err);
    if (rc) return rc;
    o->kind = row[0];
    o->from = util_le32(row + 4), o->to = util_le32(row + 8), o->token = util_le32(row + 12);
    o->log_index = util_le32(row + 16), o->trace_len = util_le32(row + 20);
    o->tx = util_le64(row + 24), o->block = util_le64(row + 32);
    o->trace_off = util_le64(row + 40), o->prev_from = util_le64(row + 48);
    o->prev_to = util_le64(row + 56);
    evm_u256_load(&o->amount, row + 64);
    return 0;
}

int evm_store_xfer_trace(const evm_store *s, const evm_xfer_row *x, char *out, size_t cap,
                         util_err *err)
{
    if (x->trace_len >= cap) return util_errf(err, UTIL_ECORRUPT, "trace address too long");
    if (x->trace_len && colstore_pread_all(s->c[C_TRACE].f.fd, out, x->trace_len, x->trace_off))
        return util_errf(err, UTIL_ECORRUPT, "%s/xfer_trace.dat: short", s->dir);
    out[x->trace_len] = 0;
    return 0;
}

int evm_store_addr(const evm_store *s, uint32_t id, uint8_t out[20], util_err *err)
{
    if (id >= crows(s, C_ADDR))
        return util_errf(err, UTIL_ENOTFOUND, "address id %u not stored", id);
    return read_row(s, C_ADDR, id, out, err);
}

int evm_store_find_addr(const evm_store *s, const uint8_t a[20], uint32_t *id, util_err *err)
{
    uint64_t r;
    char h[43];
    int f = ix_find(s, IX_ADDR, a, &r);
    if (f == 1) {
        *id = (uint32_t)r;
        return 0;
    }
    if (f == 0) {
        evm_addr_eip55(h, a);
        return util_errf(err, UTIL_ENOTFOUND, "address %s has no transfers in the %s store", h,
                         s->chain);
    }
    uint64_t n = crows(s, C_ADDR);
    enum { CHUNK = 8192 };
    uint8_t *buf = malloc(CHUNK * 20);
    if (!buf) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i += CHUNK) {
        uint64_t k = n - i < CHUNK ? n - i : CHUNK;
        if (colstore_pread_all(s->c[C_ADDR].f.fd, buf, k * 20, i * 20)) {
            free(buf);
            return util_errf(err, UTIL_ECORRUPT, "%s/addr.col: shorter than MANIFEST", s->dir);
        }
        for (uint64_t j = 0; j < k; j++)
            if (!memcmp(buf + 20 * j, a, 20)) {
                *id = (uint32_t)(i + j);
                free(buf);
                return 0;
            }
    }
    free(buf);
    evm_addr_eip55(h, a);
    return util_errf(err, UTIL_ENOTFOUND, "address %s has no transfers in the %s store", h,
                     s->chain);
}

/* A head or a link may point past the commit when a writer died: walk back to committed rows
 * (they are still on disk until the next writer opens). */
static int settle(const evm_store *s, uint32_t addr, uint64_t x, uint64_t *out, util_err *err)
{
    uint64_t guard = 0;
    while (x != EVM_NONE64 && x >= crows(s, C_XFER)) {
        evm_xfer_row r;
        int rc = evm_store_xfer(s, x, &r, err);
        if (rc) return rc;
        if (++guard > (1u << 24))
            return util_errf(err, UTIL_ECORRUPT, "%s: address list does not end", s->dir);
        x = r.from == addr ? r.prev_from : r.prev_to;
    }
    *out = x;
    return 0;
}

int evm_store_addr_head(const evm_store *s, uint32_t addr, uint64_t *xfer, util_err *err)
{
    if (addr >= crows(s, C_ADDR))
        return util_errf(err, UTIL_ENOTFOUND, "address id %u not stored", addr);
    uint8_t h[8];
    if (colstore_pread_all(s->head_fd, h, 8, 8 * (uint64_t)addr))
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: short", s->dir, HEAD_FILE);
    return settle(s, addr, util_le64(h), xfer, err);
}

int evm_store_addr_next(const evm_store *s, uint32_t addr, uint64_t xfer, uint64_t *next,
                        util_err *err)
{
    evm_xfer_row r;
    int rc = evm_store_xfer(s, xfer, &r, err);
    if (rc) return rc;
    if (r.from != addr && r.to != addr)
        return util_errf(err, UTIL_ECORRUPT, "%s: transfer %llu is not address %u's", s->dir,
                         (unsigned long long)xfer, addr);
    uint64_t n = r.from == addr ? r.prev_from : r.prev_to;
    if (n != EVM_NONE64 && n >= xfer)
        return util_errf(err, UTIL_ECORRUPT, "%s: address list goes forward at %llu", s->dir,
                         (unsigned long long)xfer);
    return settle(s, addr, n, next, err);
}

int evm_store_token(const evm_store *s, uint32_t id, evm_token_meta *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    out->decimals = -1;
    if (!id || id > crows(s, C_TOK)) return util_errf(err, UTIL_ENOTFOUND, "token %u", id);
    int rc = read_row(s, C_TOK, id - 1, out->addr, err);
    if (rc) return rc;
    evm_token_meta *m = s->meta ? bsearch(out, s->meta, s->n_meta, sizeof *m, cmp_meta) : NULL;
    if (m) *out = *m;
    return 0;
}

void evm_store_tip(const evm_store *s, uint64_t *first_block, uint64_t *n_blocks, uint8_t tip[32])
{
    *first_block = s->first_block, *n_blocks = arows(s, C_BLK);
    memcpy(tip, s->tip, 32);
}

void evm_store_counts(const evm_store *s, uint64_t *txs, uint64_t *xfers, uint64_t *addrs)
{
    *txs = crows(s, C_TX), *xfers = crows(s, C_XFER), *addrs = crows(s, C_ADDR);
}

int evm_store_stats(const evm_store *s, evm_stats *st)
{
    memset(st, 0, sizeof *st);
    st->first_block = s->first_block;
    st->blocks = crows(s, C_BLK), st->txs = crows(s, C_TX), st->transfers = crows(s, C_XFER);
    st->addresses = crows(s, C_ADDR), st->tokens = crows(s, C_TOK);
    memcpy(st->tip, s->tip, 32);
    for (uint64_t i = 0; i < st->txs; i++) {
        evm_tx_row t;
        if (evm_store_tx(s, i, &t, NULL)) return UTIL_ECORRUPT;
        if (t.flags & EVM_TX_FAILED) st->failed_txs++;
        evm_u256_add(&st->fees, &st->fees, &t.fee);
    }
    for (uint64_t i = 0; i < st->transfers; i++) {
        evm_xfer_row x;
        if (evm_store_xfer(s, i, &x, NULL)) return UTIL_ECORRUPT;
        if (x.kind < EVM_XFER_KINDS) st->xfers_by_kind[x.kind]++;
        evm_u256 *sum = x.kind == EVM_XFER_TX           ? &st->native_tx_value
                        : x.kind == EVM_XFER_INTERNAL   ? &st->native_internal_value
                        : x.kind == EVM_XFER_REWARD     ? &st->rewards
                        : x.kind == EVM_XFER_WITHDRAWAL ? &st->withdrawals
                                                        : NULL;
        if (sum) evm_u256_add(sum, sum, &x.amount);
    }
    return 0;
}
