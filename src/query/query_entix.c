/* query: DIR/entity-labels.idx, the labels of each entity (docs/formats.md). An address's
 * answer lists the labels on every address of its entity; finding them meant walking the whole
 * label set (decoding each btc address and looking it up in the store), which made `address`
 * on a clustered store cost in proportion to the label set. This file lists, for every entity
 * of more than one address, the label-set positions of its labelled addresses, sorted by
 * entity: a binary search gives them. It names the labels.db (by the SHA-256 its labels.idx
 * records) and the clustering (the SHA-256 of cluster.state) it was built from, and is only used
 * with those: after a label import or a `cluster` run that did not rebuild it, the answers walk
 * the label set as before. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../btc/btc.h"

#include "query.h"

static const char ex_magic[8] = {'C', 'T', 'E', 'N', 'T', 'I', 'X', '1'};
#define EX_VERSION 1
#define EX_HEADER 88
#define EX_REC 12

struct query_entix {
    const uint8_t *p;
    size_t len;
    uint64_t n;
};

typedef struct ex_rec {
    uint32_t entity, first, n;
} ex_rec;

static int rec_cmp(const void *a, const void *b)
{
    const ex_rec *x = a, *y = b;
    if (x->entity != y->entity) return x->entity < y->entity ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

int query_entix_build(const store *s, const cluster_map *m, const labels_db *labels,
                      const char *dir, int *built, util_err *err)
{
    *built = 0;
    uint8_t lsum[32], csum[32];
    if (labels_db_sum(labels, lsum)) return 0; /* no usable labels.idx to name the set by */
    cluster_map_sum(m, csum);
    uint64_t nk = labels_db_index_keys(labels);
    ex_rec *v = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t k = 0; k < nk; k++) {
        const char *chain, *address;
        size_t first, cnt;
        if (labels_db_index_key(labels, k, &chain, &address, &first, &cnt)) {
            free(v);
            return util_errf(err, UTIL_ECORRUPT, "%s/%s: key %llu is damaged", dir,
                             LABELS_INDEX_FILE, (unsigned long long)k);
        }
        /* as the walk over the label set decides (query.c, entity_labels) */
        if (strcmp(chain, "btc")) continue;
        btc_addr key;
        if (btc_addr_decode(&key, address, NULL)) continue;
        int64_t aid = store_find_addr(s, &key);
        if (aid < 0) continue;
        uint32_t ent = cluster_entity_of(m, (uint32_t)aid);
        if (ent == CLUSTER_NO_ENTITY || cluster_entity_size(m, ent) <= 1) continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 1024;
            ex_rec *g = realloc(v, c * sizeof *g);
            if (!g) {
                free(v);
                return util_errf(err, UTIL_ENOMEM, "out of memory building %s", QUERY_ENTIX_FILE);
            }
            v = g, cap = c;
        }
        v[n++] = (ex_rec){ent, (uint32_t)first, (uint32_t)cnt};
    }
    if (n) qsort(v, n, sizeof *v, rec_cmp);
    size_t total = EX_HEADER + n * EX_REC;
    uint8_t *b = calloc(1, total);
    if (!b) {
        free(v);
        return util_errf(err, UTIL_ENOMEM, "out of memory building %s", QUERY_ENTIX_FILE);
    }
    memcpy(b, ex_magic, 8);
    util_put_le32(b + 8, EX_VERSION);
    util_put_le32(b + 12, EX_REC);
    memcpy(b + 16, lsum, 32);
    memcpy(b + 48, csum, 32);
    util_put_le64(b + 80, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = b + EX_HEADER + i * EX_REC;
        util_put_le32(r, v[i].entity);
        util_put_le32(r + 4, v[i].first);
        util_put_le32(r + 8, v[i].n);
    }
    free(v);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, QUERY_ENTIX_FILE);
    int rc = util_replace_file(path, b, total, err);
    free(b);
    if (!rc) *built = 1;
    return rc;
}

int query_entix_open(query_entix **out, const cluster_map *m, const labels_db *labels,
                     const char *dir)
{
    *out = NULL;
    uint8_t lsum[32], csum[32];
    if (!m || !labels || labels_db_sum(labels, lsum)) return 0;
    cluster_map_sum(m, csum);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, QUERY_ENTIX_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    uint8_t h[EX_HEADER];
    int ok = fstat(fd, &st) == 0 && st.st_size >= EX_HEADER &&
             pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && !memcmp(h, ex_magic, 8) &&
             util_le32(h + 8) == EX_VERSION && util_le32(h + 12) == EX_REC &&
             !memcmp(h + 16, lsum, 32) && !memcmp(h + 48, csum, 32) &&
             util_le64(h + 80) <= ((uint64_t)st.st_size - EX_HEADER) / EX_REC &&
             (uint64_t)st.st_size == EX_HEADER + util_le64(h + 80) * EX_REC;
    query_entix *x = ok ? calloc(1, sizeof *x) : NULL;
    if (x) {
        x->len = (size_t)st.st_size;
        x->n = util_le64(h + 80);
        void *p = mmap(NULL, x->len, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            free(x);
            x = NULL;
        } else {
            x->p = p;
        }
    }
    close(fd);
    *out = x;
    return x != NULL;
}

void query_entix_close(query_entix *x)
{
    if (!x) return;
    munmap((void *)x->p, x->len);
    free(x);
}

int query_entix_find(const query_entix *x, uint32_t entity, size_t *at, size_t *n)
{
    const uint8_t *r = x->p + EX_HEADER;
    uint64_t lo = 0, hi = x->n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (util_le32(r + mid * EX_REC) < entity)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t end = lo;
    while (end < x->n && util_le32(r + end * EX_REC) == entity)
        end++;
    *at = (size_t)lo;
    *n = (size_t)(end - lo);
    return 0;
}

int query_entix_rec(const query_entix *x, size_t i, size_t *first, size_t *n)
{
    if (i >= x->n) return -1;
    const uint8_t *r = x->p + EX_HEADER + i * EX_REC;
    *first = util_le32(r + 4);
    *n = util_le32(r + 8);
    return *n ? 0 : -1;
}
