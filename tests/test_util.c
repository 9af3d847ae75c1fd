/* test_util: the container kit. util_hmap against a plain reference array under many random
 * inserts, replacements, lookups and deletions (keys drawn from a small range so that probe
 * runs, wrap-around and backward-shift deletion are exercised, and from the full 64-bit
 * range), growth from an empty map, duplicate entries walked with first/next as byte-keyed
 * users do; util_grow / util_grow_u32 capacities, limits and failure leaving the array as
 * it was; util_cmp_u64 sorting. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/util_hmap.h"
#include "util/util_vec.h"

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Reference: a linear list of (key, val); a key appears at most once. */
typedef struct ref {
    uint64_t *k, *v;
    size_t n;
} ref;
static long ref_find(const ref *r, uint64_t k)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->k[i] == k) return (long)i;
    return -1;
}

static void test_random(uint64_t range, int ops, size_t expect)
{
    util_hmap m;
    CHECK(util_hmap_init(&m, expect) == 0);
    ref r = {calloc((size_t)ops, 8), calloc((size_t)ops, 8), 0};
    int bad = 0;
    for (int i = 0; i < ops; i++) {
        uint64_t k = range ? rnd() % range : rnd(), v = rnd();
        long at = ref_find(&r, k);
        int op = (int)(rnd() % 10);
        if (op < 5) { /* put */
            if (util_hmap_put(&m, k, v)) bad++;
            if (at >= 0)
                r.v[at] = v;
            else
                r.k[r.n] = k, r.v[r.n++] = v;
        } else if (op < 8) { /* del */
            int d = util_hmap_del(&m, k);
            if (d != (at >= 0)) bad++;
            if (at >= 0) r.k[at] = r.k[r.n - 1], r.v[at] = r.v[r.n - 1], r.n--;
        } else { /* get */
            uint64_t got = 0;
            int g = util_hmap_get(&m, k, &got);
            if (g != (at >= 0) || (g && got != r.v[at])) bad++;
        }
        if (m.n != r.n) bad++;
    }
    CHECK(bad == 0);
    /* every reference key is found with its value, and absent keys are not */
    int miss = 0;
    for (size_t i = 0; i < r.n; i++) {
        uint64_t got;
        if (!util_hmap_get(&m, r.k[i], &got) || got != r.v[i]) miss++;
    }
    CHECK(miss == 0);
    size_t occupied = 0;
    for (size_t i = 0; i < m.cap; i++)
        occupied += m.used[i];
    CHECK(occupied == r.n);
    CHECK(m.cap >= 2 * m.n);
    /* delete everything: the map ends empty */
    for (size_t i = 0; i < r.n; i++)
        if (util_hmap_del(&m, r.k[i]) != 1) miss++;
    CHECK(miss == 0 && m.n == 0);
    for (size_t i = 0; i < m.cap; i++)
        if (m.used[i]) miss++;
    CHECK(miss == 0);
    util_hmap_free(&m);
    free(r.k), free(r.v);
}

/* Byte keys: several strings share a (deliberately constant) hash; all are found by walking
 * the entries of that key and comparing the bytes. */
static void test_dups(void)
{
    const char *words[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
    util_hmap m = {0};
    for (uint64_t i = 0; i < 5; i++)
        CHECK(util_hmap_add(&m, 42, i) == 0);
    CHECK(util_hmap_add(&m, util_hash_bytes("x", 1), 99) == 0);
    CHECK(m.n == 6);
    int seen = 0;
    for (size_t s = util_hmap_first(&m, 42); s != SIZE_MAX; s = util_hmap_next(&m, 42, s))
        if (!strcmp(words[m.vals[s]], "gamma")) seen++;
    CHECK(seen == 1);
    int count = 0;
    for (size_t s = util_hmap_first(&m, 42); s != SIZE_MAX; s = util_hmap_next(&m, 42, s))
        count++;
    CHECK(count == 5);
    CHECK(util_hmap_del(&m, 42) == 1 && m.n == 5);
    count = 0;
    for (size_t s = util_hmap_first(&m, 42); s != SIZE_MAX; s = util_hmap_next(&m, 42, s))
        count++;
    CHECK(count == 4);
    uint64_t v;
    CHECK(util_hmap_get(&m, util_hash_bytes("x", 1), &v) && v == 99);
    CHECK(!util_hmap_get(&m, 7, NULL));
    CHECK(util_hash_bytes("ab", 2) != util_hash_bytes("ba", 2));
    CHECK(util_mix64(1) != util_mix64(2));
    util_hmap_free(&m);
    /* an empty (zeroed) map answers lookups */
    CHECK(util_hmap_first(&m, 1) == SIZE_MAX && !util_hmap_del(&m, 1));
}

static void test_grow(void)
{
    uint32_t *a = NULL;
    size_t cap = 0;
    CHECK(util_grow((void **)&a, &cap, 1, sizeof *a, 16, SIZE_MAX) == 0 && cap == 16);
    CHECK(util_grow((void **)&a, &cap, 16, sizeof *a, 16, SIZE_MAX) == 0 && cap == 16);
    CHECK(util_grow((void **)&a, &cap, 17, sizeof *a, 16, SIZE_MAX) == 0 && cap == 32);
    CHECK(util_grow((void **)&a, &cap, 1000, sizeof *a, 16, SIZE_MAX) == 0 && cap == 1024);
    for (uint32_t i = 0; i < 1000; i++)
        a[i] = i;
    CHECK(util_grow((void **)&a, &cap, 1500, sizeof *a, 16, 1200) == UTIL_ENOMEM && cap == 1024);
    CHECK(util_grow((void **)&a, &cap, 1100, sizeof *a, 16, 1200) == 0 && cap == 1200);
    int same = 1;
    for (uint32_t i = 0; i < 1000; i++)
        same &= a[i] == i;
    CHECK(same);
    free(a);
    uint64_t *b = NULL;
    uint32_t c32 = 0;
    CHECK(util_grow_u32((void **)&b, &c32, 65, 8, 64, UINT32_MAX) == 0 && c32 == 128);
    CHECK(util_grow_u32((void **)&b, &c32, (uint64_t)UINT32_MAX + 1, 8, 64, UINT32_MAX) ==
              UTIL_ENOMEM &&
          c32 == 128 && b);
    free(b);
    /* the request larger than memory fails and leaves nothing allocated */
    char *p = NULL;
    size_t pc = 0;
    CHECK(util_grow((void **)&p, &pc, SIZE_MAX / 2, 4, 1, SIZE_MAX) == UTIL_ENOMEM && !p && !pc);
    uint64_t v[] = {5, UINT64_MAX, 0, 3, 1ULL << 63};
    qsort(v, 5, 8, util_cmp_u64);
    CHECK(v[0] == 0 && v[1] == 3 && v[2] == 5 && v[3] == 1ULL << 63 && v[4] == UINT64_MAX);
}

int main(void)
{
    test_random(64, 20000, 0);     /* dense: long runs, many deletes and reinserts */
    test_random(5000, 100000, 0);  /* grows from empty through many resizes */
    test_random(0, 50000, 100000); /* full 64-bit keys, presized */
    test_dups();
    test_grow();
    return CHECK_DONE();
}
