/* util_hmap: linear probing over power-of-two tables kept at most half full; removal shifts
 * the following entries of the probe run back so lookups never need tombstones. */
#include "util_hmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

uint64_t util_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return util_mix64(h ^ n);
}

static int resize(util_hmap *m, size_t cap)
{
    uint64_t *k = malloc(cap * sizeof *k), *v = malloc(cap * sizeof *v);
    uint8_t *u = calloc(cap, 1);
    if (!k || !v || !u) {
        free(k), free(v), free(u);
        return UTIL_ENOMEM;
    }
    size_t mask = cap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i]) continue;
        size_t j = util_mix64(m->keys[i]) & mask;
        while (u[j])
            j = (j + 1) & mask;
        k[j] = m->keys[i], v[j] = m->vals[i], u[j] = 1;
    }
    free(m->keys), free(m->vals), free(m->used);
    m->keys = k, m->vals = v, m->used = u, m->cap = cap;
    return 0;
}

int util_hmap_init(util_hmap *m, size_t expect)
{
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap / 2 < expect) {
        if (cap > SIZE_MAX / 4 / sizeof(uint64_t)) return UTIL_ENOMEM;
        cap *= 2;
    }
    return resize(m, cap);
}

void util_hmap_free(util_hmap *m)
{
    free(m->keys), free(m->vals), free(m->used);
    memset(m, 0, sizeof *m);
}

int util_hmap_add(util_hmap *m, uint64_t key, uint64_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        if (m->cap > SIZE_MAX / 4 / sizeof(uint64_t)) return UTIL_ENOMEM;
        int rc = resize(m, m->cap ? m->cap * 2 : 16);
        if (rc) return rc;
    }
    size_t mask = m->cap - 1, j = util_mix64(key) & mask;
    while (m->used[j])
        j = (j + 1) & mask;
    m->keys[j] = key, m->vals[j] = val, m->used[j] = 1;
    m->n++;
    return 0;
}

size_t util_hmap_next(const util_hmap *m, uint64_t key, size_t slot)
{
    size_t mask = m->cap - 1;
    for (size_t j = (slot + 1) & mask; m->used[j]; j = (j + 1) & mask)
        if (m->keys[j] == key) return j;
    return SIZE_MAX;
}

size_t util_hmap_first(const util_hmap *m, uint64_t key)
{
    if (!m->cap) return SIZE_MAX;
    size_t mask = m->cap - 1, j = util_mix64(key) & mask;
    if (!m->used[j]) return SIZE_MAX;
    if (m->keys[j] == key) return j;
    return util_hmap_next(m, key, j);
}

int util_hmap_put(util_hmap *m, uint64_t key, uint64_t val)
{
    size_t j = util_hmap_first(m, key);
    if (j != SIZE_MAX) {
        m->vals[j] = val;
        return 0;
    }
    return util_hmap_add(m, key, val);
}

int util_hmap_get(const util_hmap *m, uint64_t key, uint64_t *val)
{
    size_t j = util_hmap_first(m, key);
    if (j == SIZE_MAX) return 0;
    if (val) *val = m->vals[j];
    return 1;
}

int util_hmap_del(util_hmap *m, uint64_t key)
{
    size_t j = util_hmap_first(m, key);
    if (j == SIZE_MAX) return 0;
    size_t mask = m->cap - 1;
    /* Backward shift: move up each later entry of the run whose home slot lies cyclically at or
     * before the hole, so every entry stays reachable from its home without a gap. */
    for (size_t i = (j + 1) & mask; m->used[i]; i = (i + 1) & mask) {
        size_t home = util_mix64(m->keys[i]) & mask;
        if (((i - home) & mask) >= ((i - j) & mask)) {
            m->keys[j] = m->keys[i], m->vals[j] = m->vals[i];
            j = i;
        }
    }
    m->used[j] = 0;
    m->n--;
    return 1;
}
