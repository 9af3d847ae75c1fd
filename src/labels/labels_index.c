/* labels: DIR/labels.idx, the look-up index of labels.db (docs/formats.md), and the lazy set
 * that answers from it. Opening a store for one `tx` or `address` used to parse the whole of
 * labels.db; with the index a look-up maps the index, binary-searches its sorted keys and
 * parses only the lines of the address asked for, so its cost no longer grows with the set.
 *
 * The index names the labels.db it was built from by size and SHA-256, never by time: the store
 * is a function of its inputs, byte for byte on every replica (tests/e2e_replica_store.sh). It
 * is written after labels.db, so an index no older than labels.db with the size it names is
 * used as is; one older than labels.db (an edit, a crash between the two writes, a copy that
 * did not keep the times) is used only if labels.db's hash agrees (a read, no parse); anything else
 * (no index, a crash between writing labels.db and its index, an edited labels.db, a damaged index)
 * falls back to reading labels.db whole, as without an index. Lines an index points at are checked
 * to carry the key looked up; a mismatch also falls back. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"

#include "labels_int.h"

static const char ix_magic[8] = {'C', 'T', 'L', 'B', 'L', 'I', 'X', '1'};

/* Parsed lines of one key, kept until the set is closed (look-ups hand out pointers). */
typedef struct lazy_chunk {
    struct lazy_chunk *next;
    uint64_t key;
    labels_label *v;
    size_t n;
    char *text;
} lazy_chunk;

struct labels_lazy {
    const uint8_t *ix; /* the mapped index */
    size_t ix_len;
    const char *data; /* the mapped labels.db */
    size_t data_len;
    uint64_t n_labels, n_keys, pool_len;
    const uint8_t *keys, *pool;
    size_t first_line; /* offset of the first label line (after the two header lines) */
    lazy_chunk *chunks;
    /* the chunks by key (open addressing, a power of two, at most half full): an entity's
     * thousands of labelled addresses are looked up once each */
    lazy_chunk **slot;
    size_t n_slots, n_chunks;
};

static size_t slot_of(uint64_t k, size_t n_slots)
{
    return (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 20) & (n_slots - 1);
}

static lazy_chunk *chunk_get(const labels_lazy *z, uint64_t k)
{
    if (!z->n_slots) return NULL;
    for (size_t i = slot_of(k, z->n_slots);; i = (i + 1) & (z->n_slots - 1)) {
        if (!z->slot[i]) return NULL;
        if (z->slot[i]->key == k) return z->slot[i];
    }
}

/* Keep c (owned by z from here on, also when the table cannot grow). */
static void chunk_put(labels_lazy *z, lazy_chunk *c)
{
    c->next = z->chunks;
    z->chunks = c;
    if (2 * (z->n_chunks + 1) > z->n_slots) {
        size_t n = z->n_slots ? z->n_slots * 2 : 64;
        lazy_chunk **t = calloc(n, sizeof *t);
        if (!t) return; /* found again by parsing its lines again */
        for (size_t i = 0; i < z->n_slots; i++)
            if (z->slot[i]) {
                size_t j = slot_of(z->slot[i]->key, n);
                while (t[j])
                    j = (j + 1) & (n - 1);
                t[j] = z->slot[i];
            }
        free(z->slot);
        z->slot = t, z->n_slots = n;
    }
    size_t j = slot_of(c->key, z->n_slots);
    while (z->slot[j])
        j = (j + 1) & (z->n_slots - 1);
    z->slot[j] = c;
    z->n_chunks++;
}

void labels_ix_path(char *out, size_t n, const char *dir)
{
    snprintf(out, n, "%s/%s", dir, LABELS_INDEX_FILE);
}

/* ---------------- writing ---------------- */

int labels_ix_write(const labels_db *db, const uint64_t *line_off, const void *text, size_t len,
                    util_err *err)
{
    char path[4200];
    labels_ix_path(path, sizeof path, db->dir);
    struct stat st;
    if (stat(db->path, &st) != 0)
        return util_errf(err, UTIL_EIO, "%s: cannot stat: %s", db->path, strerror(errno));
    const labels_vec *set = &db->set;
    size_t n_keys = 0, pool_len = 0;
    for (size_t i = 0; i < set->n; i++)
        if (!i || strcmp(set->v[i].chain, set->v[i - 1].chain) ||
            strcmp(set->v[i].address, set->v[i - 1].address)) {
            n_keys++;
            pool_len += strlen(set->v[i].chain) + strlen(set->v[i].address) + 2;
        }
    if (set->n > UINT32_MAX || pool_len > UINT32_MAX)
        return util_errf(err, UTIL_EINVAL, "%s: too many labels to index", path);
    size_t total = LABELS_IX_HEADER + n_keys * LABELS_IX_KEY + pool_len;
    uint8_t *b = calloc(1, total);
    if (!b) return util_errf(err, UTIL_ENOMEM, "out of memory writing %s", path);
    memcpy(b, ix_magic, 8);
    util_put_le32(b + 8, LABELS_IX_VERSION);
    util_put_le32(b + 12, LABELS_IX_KEY);
    util_put_le64(b + 16, (uint64_t)st.st_size);
    /* bytes 24-39: reserved, 0 (once labels.db's time, which made stores differ) */
    util_put_le64(b + 40, set->n);
    util_put_le64(b + 48, n_keys);
    util_put_le64(b + 56, pool_len);
    crypto_sha256(text, len, b + 64);
    uint8_t *k = b + LABELS_IX_HEADER, *pool = k + n_keys * LABELS_IX_KEY;
    size_t at = 0;
    for (size_t i = 0, j; i < set->n; i = j) {
        const labels_label *l = &set->v[i];
        for (j = i + 1; j < set->n && !strcmp(set->v[j].chain, l->chain) &&
                        !strcmp(set->v[j].address, l->address);
             j++)
            ;
        size_t lc = strlen(l->chain), la = strlen(l->address);
        util_put_le64(k, line_off[i]);
        util_put_le32(k + 8, (uint32_t)i);
        util_put_le32(k + 12, (uint32_t)(j - i));
        util_put_le32(k + 16, (uint32_t)at);
        util_put_le32(k + 20, (uint32_t)(lc + la + 2));
        memcpy(pool + at, l->chain, lc + 1);
        memcpy(pool + at + lc + 1, l->address, la + 1);
        at += lc + la + 2;
        k += LABELS_IX_KEY;
    }
    int rc = util_replace_file(path, b, total, err);
    free(b);
    return rc;
}

/* ---------------- opening ---------------- */

static void unmap(const void *p, size_t n)
{
    if (p && n) munmap((void *)p, n);
}

static const void *map_ro(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *p = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            p = NULL;
        else
            *len = (size_t)st.st_size;
    }
    close(fd);
    return p;
}

void labels_lazy_free(labels_lazy *z)
{
    if (!z) return;
    for (lazy_chunk *c = z->chunks, *next; c; c = next) {
        next = c->next;
        free(c->v);
        free(c->text);
        free(c);
    }
    free(z->slot);
    unmap(z->ix, z->ix_len);
    unmap(z->data, z->data_len);
    free(z);
}

int labels_lazy_open(labels_db *db)
{
    char path[4200];
    labels_ix_path(path, sizeof path, db->dir);
    struct stat st;
    if (stat(db->path, &st) != 0 || st.st_size == 0) return 0;
    labels_lazy *z = calloc(1, sizeof *z);
    if (!z) return 0;
    if (!(z->ix = map_ro(path, &z->ix_len)) || z->ix_len < LABELS_IX_HEADER) goto no;
    const uint8_t *h = z->ix;
    if (memcmp(h, ix_magic, 8) || util_le32(h + 8) != LABELS_IX_VERSION ||
        util_le32(h + 12) != LABELS_IX_KEY || util_le64(h + 16) != (uint64_t)st.st_size)
        goto no;
    z->n_labels = util_le64(h + 40);
    z->n_keys = util_le64(h + 48);
    z->pool_len = util_le64(h + 56);
    /* sizes that cannot describe this file (and cannot overflow what follows) */
    if (z->n_keys > z->n_labels || z->n_labels > UINT32_MAX || z->pool_len > UINT32_MAX ||
        z->ix_len != LABELS_IX_HEADER + z->n_keys * LABELS_IX_KEY + z->pool_len)
        goto no;
    if (!(z->data = map_ro(db->path, &z->data_len)) || z->data_len != (size_t)st.st_size) goto no;
    struct stat ist;
    if (stat(path, &ist) != 0 || st.st_mtim.tv_sec > ist.st_mtim.tv_sec ||
        (st.st_mtim.tv_sec == ist.st_mtim.tv_sec && st.st_mtim.tv_nsec > ist.st_mtim.tv_nsec)) {
        /* labels.db newer than its index: an edit, a crash between the writes or a copy; its
         * bytes decide */
        uint8_t sum[32];
        crypto_sha256(z->data, z->data_len, sum);
        if (memcmp(sum, h + 64, 32)) goto no;
    }
    z->keys = z->ix + LABELS_IX_HEADER;
    z->pool = z->keys + z->n_keys * LABELS_IX_KEY;
    const char *nl = memchr(z->data, '\n', z->data_len);
    if (nl) nl = memchr(nl + 1, '\n', z->data_len - (size_t)(nl + 1 - z->data));
    if (!nl || z->data[z->data_len - 1] != '\n') goto no;
    z->first_line = (size_t)(nl + 1 - z->data);
    db->lazy = z;
    return 1;
no:
    labels_lazy_free(z);
    return 0;
}

/* ---------------- look-ups ---------------- */

/* Key k's chain and address, or 0 if the entry points outside the pool. */
static int key_str(const labels_lazy *z, uint64_t k, const char **chain, const char **address)
{
    const uint8_t *e = z->keys + k * LABELS_IX_KEY;
    uint64_t off = util_le32(e + 16), len = util_le32(e + 20);
    if (len < 4 || off + len > z->pool_len || z->pool[off + len - 1]) return 0;
    const char *s = (const char *)z->pool + off;
    size_t lc = strnlen(s, (size_t)len);
    if (lc + 2 > len) return 0;
    *chain = s;
    *address = s + lc + 1;
    return 1;
}

/* ---- checks against labels.db: an index that does not agree with the file is not used ---- */

/* The chain and address of the label line at off, unescaped (as take_field does), and where
 * the next line starts: 0, or -1 if not a complete line with these fields (or too long). */
static int line_key(const labels_lazy *z, size_t off, char chain[64], char address[256],
                    size_t *next)
{
    const char *p = z->data + off, *end = z->data + z->data_len;
    const char *nl = off < z->data_len ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (!nl) return -1;
    char *out[2] = {chain, address};
    size_t cap[2] = {64, 256};
    for (int f = 0; f < 2; f++) {
        size_t w = 0;
        for (; p < nl && *p != '\t'; p++) {
            char c = *p;
            if (c == '\\') {
                if (p + 1 >= nl) return -1;
                c = p[1] == 't'    ? '\t'
                    : p[1] == 'n'  ? '\n'
                    : p[1] == 'r'  ? '\r'
                    : p[1] == '\\' ? '\\'
                                   : 0;
                if (!c) return -1;
                p++;
            }
            if (w + 1 >= cap[f]) return -1;
            out[f][w++] = c;
        }
        if (p >= nl) return -1;
        out[f][w] = 0;
        p++;
    }
    *next = (size_t)(nl + 1 - z->data);
    return 0;
}

/* Whether the label line at off carries (chain, address): 1, 0 (another key), -1 (malformed). */
static int line_is(const labels_lazy *z, size_t off, const char *chain, const char *address)
{
    char c[64], a[256];
    size_t next;
    if (line_key(z, off, c, a, &next)) return -1;
    return !strcmp(c, chain) && !strcmp(a, address);
}

/* Start of the label line before the one at off (off > first_line). */
static size_t prev_line(const labels_lazy *z, size_t off)
{
    size_t lo = z->first_line;
    for (size_t i = off - 1; i > lo; i--)
        if (z->data[i - 1] == '\n') return i;
    return lo;
}

/* The parsed labels of key k (a chunk kept in z), or NULL if its lines are not what the index
 * says (damaged or stale) or memory ran out. */
static lazy_chunk *key_labels(labels_lazy *z, uint64_t k)
{
    lazy_chunk *had = chunk_get(z, k);
    if (had) return had;
    const char *chain, *address;
    if (!key_str(z, k, &chain, &address)) return NULL;
    const uint8_t *e = z->keys + k * LABELS_IX_KEY;
    uint64_t off = util_le64(e), n = util_le32(e + 12);
    if (!n || off >= z->data_len || (off && z->data[off - 1] != '\n')) return NULL;
    /* the n lines from off */
    size_t end = (size_t)off;
    for (uint64_t i = 0; i < n; i++) {
        const char *nl = memchr(z->data + end, '\n', z->data_len - end);
        if (!nl) return NULL;
        end = (size_t)(nl - z->data) + 1;
    }
    lazy_chunk *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->key = k;
    c->n = (size_t)n;
    c->text = malloc(end - off + 1);
    c->v = calloc((size_t)n, sizeof *c->v);
    if (!c->text || !c->v) goto bad;
    memcpy(c->text, z->data + off, end - off);
    c->text[end - off] = 0;
    char *p = c->text, *stop = c->text + (end - off);
    for (size_t i = 0; i < c->n; i++) {
        char *nl = memchr(p, '\n', (size_t)(stop - p));
        if (!nl || labels_parse_line(p, nl, &c->v[i]) || strcmp(c->v[i].chain, chain) ||
            strcmp(c->v[i].address, address))
            goto bad;
        p = nl + 1;
    }
    /* all of the key's lines: the next one (if any) is another key's */
    if (end < z->data_len && line_is(z, end, chain, address) != 0) goto bad;
    if (off > z->first_line && line_is(z, prev_line(z, off), chain, address) != 0) goto bad;
    if (off < z->first_line) goto bad;
    chunk_put(z, c);
    return c;
bad:
    free(c->text);
    free(c->v);
    free(c);
    return NULL;
}

/* Compare key k with (chain, address) as the set orders them; a damaged entry sets *bad. */
static int key_cmp(const labels_lazy *z, uint64_t k, const char *chain, const char *address,
                   int *bad)
{
    const char *kc, *ka;
    if (!key_str(z, k, &kc, &ka)) {
        *bad = 1;
        return 0;
    }
    int c = strcmp(kc, chain);
    return c ? c : strcmp(ka, address);
}

int labels_lazy_find(labels_lazy *z, const char *chain, const char *address,
                     const labels_label **first, size_t *n)
{
    *first = NULL;
    *n = 0;
    uint64_t lo = 0, hi = z->n_keys;
    int bad = 0;
    while (lo < hi && !bad) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (key_cmp(z, mid, chain, address, &bad) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (bad) return -1;
    if (lo == z->n_keys || key_cmp(z, lo, chain, address, &bad)) {
        if (bad) return -1;
        /* Absent: labels.db (sorted) has the keys either side of it on adjacent lines. */
        size_t at = lo < z->n_keys ? (size_t)util_le64(z->keys + lo * LABELS_IX_KEY) : z->data_len;
        const char *kc, *ka;
        if (at < z->first_line || at > z->data_len || (at < z->data_len && z->data[at - 1] != '\n'))
            return -1;
        if (lo < z->n_keys && (!key_str(z, lo, &kc, &ka) || line_is(z, at, kc, ka) != 1)) return -1;
        if (!lo) return at == z->first_line ? 0 : -1;
        if (at == z->first_line || !key_str(z, lo - 1, &kc, &ka) ||
            line_is(z, prev_line(z, at), kc, ka) != 1)
            return -1;
        return 0;
    }
    lazy_chunk *c = key_labels(z, lo);
    if (!c) return -1;
    *first = c->v;
    *n = c->n;
    return 0;
}

int labels_lazy_span(labels_lazy *z, size_t first, size_t n, const labels_label **out)
{
    *out = NULL;
    uint64_t lo = 0, hi = z->n_keys;
    /* the last key whose first label is at or before first */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (util_le32(z->keys + mid * LABELS_IX_KEY + 8) <= first)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (first >= z->n_labels || n > z->n_labels - first) return 1;
    if (!lo) return -1;
    const uint8_t *e = z->keys + (lo - 1) * LABELS_IX_KEY;
    uint64_t kf = util_le32(e + 8), kn = util_le32(e + 12);
    /* positions are counts of the lines before: they must join up with the neighbours' */
    if (lo == 1 ? kf != 0
                : util_le32(e - LABELS_IX_KEY + 8) + util_le32(e - LABELS_IX_KEY + 12) != kf)
        return -1;
    if (lo == z->n_keys ? kf + kn != z->n_labels : util_le32(e + LABELS_IX_KEY + 8) != kf + kn)
        return -1;
    if (first + n > kf + kn) return 1; /* more than this address's labels */
    lazy_chunk *c = key_labels(z, lo - 1);
    if (!c) return -1;
    *out = c->v + (first - kf);
    return 0;
}

int labels_lazy_chain_run(const labels_lazy *z, uint64_t at, const char **chain, uint64_t *end)
{
    const char *a;
    if (at >= z->n_keys || !key_str(z, at, chain, &a)) return -1;
    /* first key past this chain: keys are sorted by chain first */
    uint64_t lo = at, hi = z->n_keys;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const char *c;
        if (!key_str(z, mid, &c, &a)) return -1;
        if (strcmp(c, *chain) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *end = lo;
    return 0;
}

uint64_t labels_lazy_keys(const labels_lazy *z)
{
    return z->n_keys;
}

size_t labels_lazy_count(const labels_lazy *z)
{
    return (size_t)z->n_labels;
}

int labels_db_sum(const labels_db *db, uint8_t out[32])
{
    if (!db->lazy) return -1;
    memcpy(out, db->lazy->ix + 64, 32);
    return 0;
}

uint64_t labels_db_index_keys(const labels_db *db)
{
    return db->lazy ? db->lazy->n_keys : 0;
}

int labels_db_index_key(const labels_db *db, uint64_t k, const char **chain, const char **address,
                        size_t *first, size_t *n)
{
    const labels_lazy *z = db->lazy;
    if (!z || k >= z->n_keys || !key_str(z, k, chain, address)) return -1;
    const uint8_t *e = z->keys + k * LABELS_IX_KEY;
    uint64_t f = util_le32(e + 8), c = util_le32(e + 12);
    if (!c || f + c > z->n_labels) return -1;
    *first = (size_t)f;
    *n = (size_t)c;
    return 0;
}

int labels_lazy_copy(const labels_lazy *z, uint8_t **data, size_t *len)
{
    *data = malloc(z->data_len + 1);
    if (!*data) return UTIL_ENOMEM;
    memcpy(*data, z->data, z->data_len);
    (*data)[z->data_len] = 0;
    *len = z->data_len;
    return 0;
}
