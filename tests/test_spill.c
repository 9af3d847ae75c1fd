/* The bulk import's external stable sort (src/store/store_spill.c) against a plain stable
 * sort (insertion into a merge sort by key, ties by push order): random records of 3, 4 and 7
 * words, keys that are uniform hashes or few-valued integers (many ties; some of 24 or 25
 * bits, sorted in memory by the top digit first), with the smallest budget (many runs, merged
 * in passes) and a large one (one run in memory). The sorter's temp file is removed when
 * freed; a read of a run cut short is an error, not a crash. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/store_spill.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* Stable merge sort of n records of w words by word kw: the oracle. */
static void oracle_sort(uint64_t *a, uint64_t *tmp, size_t n, int w, int kw)
{
    if (n < 2) return;
    size_t h = n / 2;
    oracle_sort(a, tmp, h, w, kw);
    oracle_sort(a + h * w, tmp, n - h, w, kw);
    size_t i = 0, j = h, k = 0;
    while (i < h || j < n) {
        int left = j == n || (i < h && a[i * w + kw] <= a[j * w + kw]);
        memcpy(tmp + k++ * w, a + (left ? i++ : j++) * w, w * sizeof *a);
    }
    memcpy(a, tmp, n * w * sizeof *a);
}

static void one(const char *dir, size_t n, int w, int kw, int bits, uint64_t budget)
{
    uint64_t *recs = malloc(n * w * sizeof *recs), *tmp = malloc(n * w * sizeof *tmp);
    for (size_t i = 0; i < n; i++) {
        for (int x = 0; x < w; x++)
            recs[i * w + x] = next_rand();
        /* ties (a few values, or 3000 spread over the top bits), or a hash */
        recs[i * w + kw] = bits > 16 ? (next_rand() % 3000) << (bits - 12)
                           : bits    ? next_rand() % 97
                                     : next_rand();
        recs[i * w + (kw + 1) % w] = i; /* push order, to see it */
    }
    char path[300];
    snprintf(path, sizeof path, "%s/sort.tmp", dir);
    store_sort_mem mem = {0};
    store_sort ss;
    store_sort_init(&ss, &mem, path, w, kw, bits, budget);
    util_err err = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = store_sort_put(&ss, recs + i * w, &err);
    CHECK(rc == 0);
    CHECK((rc = store_sort_seal(&ss, &err)) == 0);
    if (budget == STORE_SORT_MIN_BUDGET && n > 100000) CHECK(ss.file_recs > n); /* merge passes */
    if (budget > n * w * 8 * 2) CHECK(ss.nruns == 0 && access(path, F_OK) != 0);
    oracle_sort(recs, tmp, n, w, kw);
    const uint64_t *r;
    size_t got = 0, same = 0;
    while ((rc = store_sort_next(&ss, &r, &err)) > 0) {
        if (got < n && memcmp(r, recs + got * w, w * sizeof *r) == 0) same++;
        got++;
    }
    CHECK(rc == 0);
    CHECK(got == n);
    CHECK(same == n);
    /* the buffer (or the merge buffers) within the budget, one more fill, and the scratch */
    CHECK(mem.peak <= 2 * budget + budget / 4 + 65536);
    store_sort_free(&ss);
    CHECK(access(path, F_OK) != 0);
    store_sort_mem_free(&mem);
    free(recs);
    free(tmp);
}

/* A run file cut short under the merge: a read error naming the file. */
static void truncated(const char *dir)
{
    char path[300];
    snprintf(path, sizeof path, "%s/cut.tmp", dir);
    store_sort_mem mem = {0};
    store_sort ss;
    store_sort_init(&ss, &mem, path, 4, 0, 0, STORE_SORT_MIN_BUDGET);
    util_err err = {0};
    uint64_t rec[4];
    for (size_t i = 0; i < 20000; i++) {
        rec[0] = next_rand(), rec[1] = i, rec[2] = rec[3] = 0;
        CHECK(store_sort_put(&ss, rec, &err) == 0);
    }
    CHECK(store_sort_seal(&ss, &err) == 0);
    CHECK(truncate(path, 4096) == 0);
    const uint64_t *r;
    int rc;
    while ((rc = store_sort_next(&ss, &r, &err)) > 0)
        ;
    CHECK(rc == UTIL_EIO);
    CHECK(strstr(err.msg, "cut.tmp: read failed") != NULL);
    store_sort_free(&ss);
    store_sort_mem_free(&mem);
}

int main(void)
{
    char dir[] = "/tmp/test_spill.XXXXXX";
    if (!mkdtemp(dir)) return 2;
    for (int w = 3; w <= 7; w += (w == 4 ? 3 : 1)) {
        one(dir, 150000, w, 0, 0, STORE_SORT_MIN_BUDGET);     /* many runs, merge passes */
        one(dir, 150000, w, w - 1, 7, STORE_SORT_MIN_BUDGET); /* ties: stability across runs */
        one(dir, 150000, w, 0, 0, 1ULL << 30);                /* one run, in memory */
        /* in memory, by its top digit then the lower ones (bits not a multiple of 8) */
        one(dir, 150000, w, w - 1, 25, 1ULL << 30);
        one(dir, 150000, w, 1, 24, STORE_SORT_MIN_BUDGET);
        one(dir, 3000, w, 0, 0, STORE_SORT_MIN_BUDGET); /* a few runs, no pass */
        one(dir, 1, w, 0, 0, STORE_SORT_MIN_BUDGET);
        one(dir, 0, w, 0, 0, STORE_SORT_MIN_BUDGET);
    }
    truncated(dir);
    rmdir(dir);
    return CHECK_DONE();
}
