/* External stable sort for the bulk import: see store_spill.h. */
#include "store_spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../colstore/colstore.h"

/* A merge reads each run through a buffer of at least this many records (fewer would make the
 * reads tiny); with more runs than the budget gives such buffers, runs are merged first. */
enum { MIN_READ = 1024 };

/* ---------------- in-memory sorts ---------------- */

enum { D = 8, R = 1 << D, MAXP = 8 }; /* radix digits: bits, values, passes at most */

/* dst[c[digit]++] = each record of src, in order (stable). */
static void scatter(const uint64_t *src, uint64_t *dst, size_t n, int w, int kw, int sh, size_t *c)
{
    /* fixed record sizes copied word by word: a memcpy call per record costs more than the
     * scatter itself */
    switch (w) {
    case 3:
        for (size_t i = 0; i < n; i++) {
            const uint64_t *r = src + i * 3;
            uint64_t *d = dst + c[(r[kw] >> sh) & (R - 1)]++ * 3;
            d[0] = r[0], d[1] = r[1], d[2] = r[2];
        }
        break;
    case 4:
        for (size_t i = 0; i < n; i++) {
            const uint64_t *r = src + i * 4;
            uint64_t *d = dst + c[(r[kw] >> sh) & (R - 1)]++ * 4;
            d[0] = r[0], d[1] = r[1], d[2] = r[2], d[3] = r[3];
        }
        break;
    case 7:
        for (size_t i = 0; i < n; i++) {
            const uint64_t *r = src + i * 7;
            uint64_t *d = dst + c[(r[kw] >> sh) & (R - 1)]++ * 7;
            d[0] = r[0], d[1] = r[1], d[2] = r[2], d[3] = r[3];
            d[4] = r[4], d[5] = r[5], d[6] = r[6];
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            const uint64_t *r = src + i * w;
            memcpy(dst + c[(r[kw] >> sh) & (R - 1)]++ * w, r, w * sizeof *r);
        }
    }
}

/* Stable LSD radix sort of the n records at src by bits [shift, shift + bits) of word kw, dst
 * holding n records. Digits in which every key agrees are skipped. Returns where the result
 * is: src or dst. */
static uint64_t *lsd(uint64_t *src, uint64_t *dst, size_t n, int w, int kw, int shift, int bits)
{
    int passes = (bits + D - 1) / D;
    if (passes > MAXP) passes = MAXP;
    size_t cnt[MAXP][R];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = src[i * w + kw];
        for (int p = 0; p < passes; p++)
            cnt[p][(k >> (shift + p * D)) & (R - 1)]++;
    }
    for (int p = 0; p < passes; p++) {
        size_t *c = cnt[p];
        int trivial = 0;
        for (int d = 0; d < R; d++)
            if (c[d] == n) trivial = 1;
        if (trivial) continue;
        size_t sum = 0;
        for (int d = 0; d < R; d++) {
            size_t x = c[d];
            c[d] = sum;
            sum += x;
        }
        scatter(src, dst, n, w, kw, shift + p * D, c);
        uint64_t *x = src;
        src = dst, dst = x;
    }
    return src;
}

/* Below this many records an LSD sort's passes stay in the caches anyway. */
enum { MSD_MIN = 1 << 16 };

/* Stable radix sort of n records of w words by bits [shift, shift + bits) of word kw; tmp
 * holds n records; the result is in a. A large sort of three digits or more goes by its top
 * digit first (one pass through memory into 256 buckets), then each bucket, a 256th of the
 * records, by the lower digits (LSD) while it stays in the caches: one pass over main memory
 * and the rest in cache, where LSD alone makes every pass over main memory. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n, int w, int kw, int shift, int bits)
{
    if (bits > MAXP * D) bits = MAXP * D;
    if (bits < 3 * D || n < MSD_MIN) {
        uint64_t *r = lsd(a, tmp, n, w, kw, shift, bits);
        if (r != a) memcpy(a, r, n * w * sizeof *a);
        return;
    }
    int low = bits - D, sh = shift + low;
    size_t c[R + 1];
    memset(c, 0, sizeof c);
    for (size_t i = 0; i < n; i++)
        c[((a[i * w + kw] >> sh) & (R - 1)) + 1]++;
    for (int d = 0; d < R; d++)
        c[d + 1] += c[d];
    size_t at[R];
    memcpy(at, c, sizeof at);
    scatter(a, tmp, n, w, kw, sh, at);
    for (int d = 0; d < R; d++) {
        size_t m = c[d + 1] - c[d];
        if (!m) continue;
        uint64_t *into = a + c[d] * w, *r = lsd(tmp + c[d] * w, into, m, w, kw, shift, low);
        if (r != into) memcpy(into, r, m * w * sizeof *a);
    }
}

int store_sort_bits(uint64_t maxval)
{
    int b = 1;
    while (b < 64 && (maxval >> b))
        b++;
    return b;
}

static void account(store_sort_mem *m, int64_t delta)
{
    m->bytes += (uint64_t)delta;
    if (m->bytes > m->peak) m->peak = m->bytes;
    if (!m->total) return;
    uint64_t now = atomic_fetch_add(&m->total->bytes, (uint64_t)delta) + (uint64_t)delta;
    uint64_t p = atomic_load(&m->total->peak);
    while (now > p && !atomic_compare_exchange_weak(&m->total->peak, &p, now))
        ;
}

/* The record buffers, the scratch and the spare (the three trade places) are mappings of
 * their own at or above BIG_BYTES, grown and shrunk by mremap: their pages move with them.
 * glibc maps a large block itself only above a threshold that it raises with every large free
 * (up to 32 MiB), and below it realloc copies into fresh pages: at 10M txs those copies of the
 * growing record buffers took 72% of the bulk import's page faults. Mapped, they also take
 * transparent huge pages: with THP in "madvise" mode (Debian's default) the kernel gives them
 * only when asked, and then a fault zeroes 2 MiB instead of 4 KiB and a radix sort's scatter
 * misses the TLB less. bytes is always what the block was made with. */
#define BIG_BYTES ((size_t)4 << 20)

static void sbuf_free(void *p, size_t bytes)
{
    if (!p) return;
    if (bytes >= BIG_BYTES)
        munmap(p, bytes);
    else
        free(p);
}

/* p (NULL for none) of old bytes resized to bytes (> 0), its contents kept; NULL and p left
 * as it was if there is no memory. */
static void *sbuf_realloc(void *p, size_t old, size_t bytes)
{
    void *q;
    if (p && old >= BIG_BYTES && bytes >= BIG_BYTES) {
        q = mremap(p, old, bytes, MREMAP_MAYMOVE); /* the advice below moves with it */
        return q == MAP_FAILED ? NULL : q;
    }
    if (bytes >= BIG_BYTES) {
        q = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
        /* the whole mapping: a part would split it, and mremap moves one mapping only */
        madvise(q, bytes, MADV_HUGEPAGE);
#endif
    } else if (!(q = malloc(bytes))) {
        return NULL;
    }
    if (p) {
        memcpy(q, p, old < bytes ? old : bytes);
        sbuf_free(p, old);
    }
    return q;
}

/* A buffer of words for the sort: the scratch, or the spare if the scratch is too small and
 * the spare is not (pages already touched), or a fresh one. */
static int scratch_for(store_sort_mem *m, size_t words, util_err *err)
{
    if (words <= m->scratch_words) return 0;
    account(m, -(int64_t)(m->scratch_words * sizeof *m->scratch));
    sbuf_free(m->scratch, m->scratch_words * sizeof *m->scratch);
    m->scratch = NULL, m->scratch_words = 0;
    if (words <= m->spare_words) {
        m->scratch = m->spare, m->scratch_words = m->spare_words;
        m->spare = NULL, m->spare_words = 0;
        return 0;
    }
    m->scratch = sbuf_realloc(NULL, 0, words * sizeof *m->scratch);
    m->scratch_words = m->scratch ? words : 0;
    if (!m->scratch)
        return util_errf(err, UTIL_ENOMEM, "out of memory for a sort (%zu bytes)", words * 8);
    account(m, (int64_t)(words * sizeof *m->scratch));
    return 0;
}

/* A sealed sorter sorts no more: the scratch is kept as the spare (the larger of the two),
 * where the next sorter's buffer or the next sort starts. */
static void scratch_back(store_sort_mem *m)
{
    if (!m->scratch) return;
    if (m->scratch_words > m->spare_words) {
        uint64_t *p = m->spare;
        size_t w = m->spare_words;
        m->spare = m->scratch, m->spare_words = m->scratch_words;
        m->scratch = p, m->scratch_words = w;
    }
    account(m, -(int64_t)(m->scratch_words * sizeof *m->scratch));
    sbuf_free(m->scratch, m->scratch_words * sizeof *m->scratch);
    m->scratch = NULL, m->scratch_words = 0;
}

/* By the whole 64-bit word kw when its values are uniform (hashes): a radix sort of the top
 * bits only, a few more than log2(n) of them, leaves each key within a run of a few that
 * share those bits; one insertion pass (stable) finishes them. Half the passes of sorting all
 * 64 bits. */
int store_sort_vec(store_sort_mem *m, uint64_t *a, size_t n, int w, int kw, int bits, util_err *err)
{
    if (n < 2) return 0;
    int rc = scratch_for(m, n * w, err);
    if (rc) return rc;
    if (bits) {
        radix_sort(a, m->scratch, n, w, kw, 0, bits);
        return 0;
    }
    int top = (store_sort_bits(n) + 4 + 7) / 8 * 8;
    if (top > 64) top = 64;
    radix_sort(a, m->scratch, n, w, kw, 64 - top, top);
    uint64_t rec[8];
    for (size_t i = 1; i < n; i++) {
        uint64_t k = a[i * w + kw];
        if (a[(i - 1) * w + kw] <= k) continue;
        memcpy(rec, a + i * w, w * sizeof *rec);
        size_t j = i;
        while (j > 0 && a[(j - 1) * w + kw] > k) {
            memcpy(a + j * w, a + (j - 1) * w, w * sizeof *rec);
            j--;
        }
        memcpy(a + j * w, rec, w * sizeof *rec);
    }
    return 0;
}

/* ---------------- the sorter ---------------- */

void store_sort_init(store_sort *ss, store_sort_mem *mem, const char *path, int w, int kw, int bits,
                     uint64_t budget)
{
    memset(ss, 0, sizeof *ss);
    ss->mem = mem;
    ss->w = w, ss->kw = kw, ss->bits = bits;
    if (budget < STORE_SORT_MIN_BUDGET) budget = STORE_SORT_MIN_BUDGET;
    ss->cap = (size_t)(budget / (w * sizeof(uint64_t)));
    snprintf(ss->path, sizeof ss->path, "%s", path);
    ss->fd = -1;
}

static int write_at(store_sort *ss, const uint64_t *a, size_t n, uint64_t at, util_err *err)
{
    if (ss->fd < 0) {
        ss->fd = open(ss->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (ss->fd < 0)
            return util_errf(err, UTIL_EIO, "%s: cannot create: %s", ss->path, strerror(errno));
    }
    const char *p = (const char *)a;
    size_t left = n * ss->w * sizeof *a;
    off_t off = (off_t)(at * ss->w * sizeof *a);
    while (left) {
        ssize_t k = pwrite(ss->fd, p, left, off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return util_errf(err, UTIL_EIO, "%s: write failed: %s", ss->path,
                             k < 0 ? strerror(errno) : "nothing written");
        p += k, left -= (size_t)k, off += k;
    }
    return 0;
}

static int add_run(store_sort *ss, uint64_t off, uint64_t n, uint64_t sum, util_err *err)
{
    if (ss->nruns == ss->runs_cap) {
        size_t cap = ss->runs_cap ? ss->runs_cap * 2 : 16;
        store_sort_run *p = realloc(ss->runs, cap * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for sorted runs");
        account(ss->mem, (int64_t)((cap - ss->runs_cap) * sizeof *p));
        ss->runs = p, ss->runs_cap = cap;
    }
    ss->runs[ss->nruns++] = (store_sort_run){off, n, sum, NULL, 0, 0};
    return 0;
}

/* The buffer, sorted, becomes a run at the end of the file. Its sum is for a checkpoint: read
 * back on a resume instead of syncing the file (a pass at memory speed, while the data is in
 * the cache). */
static int spill(store_sort *ss, util_err *err)
{
    int rc = store_sort_vec(ss->mem, ss->buf, ss->n, ss->w, ss->kw, ss->bits, err);
    if (!rc) rc = write_at(ss, ss->buf, ss->n, ss->file_recs, err);
    uint64_t sum = rc ? 0 : XXH3_64bits(ss->buf, ss->n * ss->w * sizeof *ss->buf);
    if (!rc) rc = add_run(ss, ss->file_recs, ss->n, sum, err);
    if (rc) return rc;
    ss->file_recs += ss->n;
    ss->n = 0;
    return 0;
}

/* ss's record buffer made p (old_words, NULL for none) resized to recs records, its records
 * kept. 0, or -1 with everything as it was if there is no memory. */
static int buf_resize(store_sort *ss, uint64_t *p, size_t old_words, size_t recs)
{
    store_sort_mem *m = ss->mem;
    size_t words = recs * (size_t)ss->w;
    uint64_t *q =
        words == old_words ? p : sbuf_realloc(p, old_words * sizeof *p, words * sizeof *p);
    if (!q) return -1;
    ss->buf = q, ss->bcap = recs;
    account(m, (int64_t)(words * sizeof *q) - (int64_t)(old_words * sizeof *q));
    return 0;
}

int store_sort_push(store_sort *ss, const uint64_t *rec, util_err *err)
{
    store_sort_mem *m = ss->mem;
    if (!ss->bcap && m->spare) { /* pages already touched: no faults, no zeroing */
        size_t recs = m->spare_words / ss->w;
        if (recs > ss->cap) recs = ss->cap;
        /* exactly recs records: the block's size is what frees and resizes it */
        if (buf_resize(ss, m->spare, m->spare_words, recs) == 0)
            m->spare = NULL, m->spare_words = 0; /* (counted from here on as the buffer) */
    }
    if (ss->n == ss->bcap) {
        /* past the budget's share only until the caller's next store_sort_check */
        size_t cap = ss->bcap < 4096      ? 4096
                     : ss->bcap < ss->cap ? ss->bcap * 2
                                          : ss->bcap + ss->bcap / 16;
        if (ss->bcap < ss->cap && cap > ss->cap) cap = ss->cap;
        if (buf_resize(ss, ss->buf, ss->bcap * ss->w, cap))
            return util_errf(err, UTIL_ENOMEM, "out of memory for sort records");
    }
    memcpy(ss->buf + ss->n * ss->w, rec, ss->w * sizeof *rec);
    ss->n++;
    ss->total++;
    return 0;
}

int store_sort_check(store_sort *ss, util_err *err)
{
    return ss->n >= ss->cap ? spill(ss, err) : 0;
}

int store_sort_put(store_sort *ss, const uint64_t *rec, util_err *err)
{
    int rc = store_sort_check(ss, err); /* before: the buffer never grows past its share */
    return rc ? rc : store_sort_push(ss, rec, err);
}

void store_sort_drop(store_sort *ss, uint64_t total)
{
    ss->n -= (size_t)(ss->total - total);
    ss->total = total;
}

/* The record buffer goes to the spare if it is the larger. */
static void free_buf(store_sort *ss)
{
    store_sort_mem *m = ss->mem;
    size_t words = ss->bcap * ss->w;
    if (ss->buf && words > m->spare_words) {
        account(m, -(int64_t)(m->spare_words * sizeof *m->spare));
        sbuf_free(m->spare, m->spare_words * sizeof *m->spare);
        m->spare = ss->buf, m->spare_words = words;
    } else {
        account(m, -(int64_t)(words * sizeof *ss->buf));
        sbuf_free(ss->buf, words * sizeof *ss->buf);
    }
    ss->buf = NULL, ss->n = ss->bcap = 0;
}

static int fill(store_sort *ss, store_sort_run *r, util_err *err)
{
    size_t want = r->n < r->len ? (size_t)r->n : r->len;
    /* r->len is the buffer's capacity until the first fill */
    size_t bytes = want * ss->w * sizeof(uint64_t);
    off_t off = (off_t)(r->off * ss->w * sizeof(uint64_t));
    char *p = (char *)r->buf;
    size_t got = 0;
    while (got < bytes) {
        ssize_t k = pread(ss->fd, p + got, bytes - got, off + (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return util_errf(err, UTIL_EIO, "%s: read failed at offset %lld: %s", ss->path,
                             (long long)(off + (off_t)got),
                             k < 0 ? strerror(errno) : "end of file");
        got += (size_t)k;
    }
    r->off += want, r->n -= want;
    r->at = 0, r->len = want;
    return 0;
}

static int less(const store_sort *ss, size_t a, size_t b)
{
    const store_sort_run *x = &ss->runs[a], *y = &ss->runs[b];
    uint64_t kx = x->buf[x->at * ss->w + ss->kw], ky = y->buf[y->at * ss->w + ss->kw];
    return kx < ky || (kx == ky && a < b);
}

static void sift_down(store_sort *ss, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < ss->hn && less(ss, ss->heap[l], ss->heap[m])) m = l;
        if (l + 1 < ss->hn && less(ss, ss->heap[l + 1], ss->heap[m])) m = l + 1;
        if (m == i) return;
        size_t t = ss->heap[i];
        ss->heap[i] = ss->heap[m], ss->heap[m] = t;
        i = m;
    }
}

/* Readers for runs [r0, r1), each with a buffer of per records, primed, and the heap built. */
static int merge_start(store_sort *ss, size_t r0, size_t r1, size_t per, util_err *err)
{
    ss->hn = 0;
    for (size_t i = r0; i < r1; i++) {
        store_sort_run *r = &ss->runs[i];
        r->buf = malloc(per * ss->w * sizeof *r->buf);
        if (!r->buf) return util_errf(err, UTIL_ENOMEM, "out of memory for a merge");
        account(ss->mem, (int64_t)(per * ss->w * sizeof *r->buf));
        r->len = per;
        int rc = fill(ss, r, err);
        if (rc) return rc;
        if (r->len) ss->heap[ss->hn++] = i;
    }
    for (size_t i = ss->hn / 2; i-- > 0;)
        sift_down(ss, i);
    return 0;
}

static void merge_end(store_sort *ss, size_t r0, size_t r1, size_t per)
{
    for (size_t i = r0; i < r1; i++)
        if (ss->runs[i].buf) {
            free(ss->runs[i].buf);
            ss->runs[i].buf = NULL;
            account(ss->mem, -(int64_t)(per * ss->w * sizeof(uint64_t)));
        }
    ss->hn = 0;
}

/* The smallest head, copied to ss->rec; 0 when the runs are exhausted. */
static int merge_next(store_sort *ss, size_t per, util_err *err)
{
    if (!ss->hn) return 0;
    store_sort_run *r = &ss->runs[ss->heap[0]];
    memcpy(ss->rec, r->buf + r->at * ss->w, ss->w * sizeof *ss->rec);
    if (++r->at == r->len) {
        r->len = per;
        int rc = r->n ? fill(ss, r, err) : (r->len = 0, 0);
        if (rc) return rc;
        if (!r->len) ss->heap[0] = ss->heap[--ss->hn];
    }
    sift_down(ss, 0);
    return 1;
}

/* More runs than the budget gives read buffers: consecutive groups of them are merged into
 * runs appended to the file (so the merge stays stable), the space of the old ones given back. */
static int reduce(store_sort *ss, size_t fan, util_err *err)
{
    size_t per = ss->cap / (fan + 1);
    uint64_t *out = malloc(per * ss->w * sizeof *out);
    if (!out) return util_errf(err, UTIL_ENOMEM, "out of memory for a merge");
    account(ss->mem, (int64_t)(per * ss->w * sizeof *out));
    int rc = 0;
    while (ss->nruns > fan && !rc) {
        size_t old = ss->nruns, groups = 0;
        uint64_t first = ss->runs[0].off;
        for (size_t g = 0; g < old && !rc; g += fan, groups++) {
            size_t e = g + fan < old ? g + fan : old;
            uint64_t at = ss->file_recs, n = 0;
            size_t k = 0;
            if ((rc = merge_start(ss, g, e, per, err))) break;
            int more;
            while ((more = merge_next(ss, per, err)) > 0) {
                memcpy(out + k * ss->w, ss->rec, ss->w * sizeof *out);
                if (++k == per) {
                    if ((rc = write_at(ss, out, k, at + n, err))) break;
                    n += k, k = 0;
                }
            }
            if (more < 0) rc = more;
            if (!rc && k) rc = write_at(ss, out, k, at + n, err);
            n += k;
            merge_end(ss, g, e, per);
            ss->file_recs += n;
            /* the new run goes in the slot of the group's index: runs stay in order */
            ss->runs[groups] = (store_sort_run){at, n, 0, NULL, 0, 0};
        }
        ss->nruns = groups;
        /* best effort: the merged runs' blocks go back to the file system */
        if (first < ss->keep) first = ss->keep; /* a checkpoint's runs stay until the commit */
        uint64_t used = ss->runs[0].off > first ? ss->runs[0].off - first : 0;
        if (!rc && used)
            (void)fallocate(ss->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            (off_t)(first * ss->w * sizeof(uint64_t)),
                            (off_t)(used * ss->w * sizeof(uint64_t)));
    }
    free(out);
    account(ss->mem, -(int64_t)(per * ss->w * sizeof *out));
    return rc;
}

int store_sort_seal(store_sort *ss, util_err *err)
{
    int rc;
    ss->sealed = 1;
    ss->heap_cap = ss->nruns + 1;
    ss->heap = malloc(ss->heap_cap * sizeof *ss->heap);
    if (!ss->heap) return util_errf(err, UTIL_ENOMEM, "out of memory for a merge");
    account(ss->mem, (int64_t)(ss->heap_cap * sizeof *ss->heap));
    if (!ss->nruns) { /* one run, in memory */
        ss->mem_left = ss->n;
        rc = store_sort_vec(ss->mem, ss->buf, ss->n, ss->w, ss->kw, ss->bits, err);
        scratch_back(ss->mem);
        return rc;
    }
    if (ss->n && (rc = spill(ss, err))) return rc;
    free_buf(ss);
    scratch_back(ss->mem);
    size_t fan = ss->cap / MIN_READ;
    if (fan < 3) fan = 3;
    if (ss->nruns > fan && (rc = reduce(ss, fan - 1, err))) return rc;
    return merge_start(ss, 0, ss->nruns, ss->cap / ss->nruns, err);
}

int store_sort_next(store_sort *ss, const uint64_t **rec, util_err *err)
{
    if (!ss->nruns) {
        if (!ss->mem_left) return 0;
        *rec = ss->buf + (ss->n - ss->mem_left--) * ss->w;
        return 1;
    }
    int rc = merge_next(ss, ss->cap / ss->nruns, err);
    if (rc > 0) *rec = ss->rec;
    return rc;
}

void store_sort_free(store_sort *ss)
{
    if (!ss->mem) return;
    if (ss->nruns) merge_end(ss, 0, ss->nruns, ss->cap / ss->nruns);
    if (ss->heap) account(ss->mem, -(int64_t)(ss->heap_cap * sizeof *ss->heap));
    free(ss->heap);
    account(ss->mem, -(int64_t)(ss->runs_cap * sizeof *ss->runs));
    free(ss->runs);
    free_buf(ss);
    if (ss->fd >= 0) {
        close(ss->fd);
        if (!ss->keep_file) unlink(ss->path);
    }
    ss->mem = NULL;
}

void store_sort_mem_free(store_sort_mem *m)
{
    account(m, -(int64_t)((m->scratch_words + m->spare_words) * sizeof(uint64_t)));
    sbuf_free(m->scratch, m->scratch_words * sizeof(uint64_t));
    sbuf_free(m->spare, m->spare_words * sizeof(uint64_t));
    m->scratch = m->spare = NULL;
    m->scratch_words = m->spare_words = 0;
}

void store_sort_move(store_sort *ss, store_sort_mem *to)
{
    int64_t held = (int64_t)(ss->bcap * ss->w * sizeof *ss->buf + ss->runs_cap * sizeof *ss->runs);
    account(ss->mem, -held);
    account(to, held);
    ss->mem = to;
}

static int open_file(store_sort *ss, int flags, util_err *err)
{
    if (ss->fd >= 0) return 0;
    ss->fd = open(ss->path, O_RDWR | O_CLOEXEC | flags, 0644);
    if (ss->fd < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot open: %s", ss->path, strerror(errno));
    return 0;
}

void store_sort_checkpoint(store_sort *ss, store_sort_state *st)
{
    ss->keep = ss->file_recs;
    ss->keep_file = 1;
    *st = (store_sort_state){ss->total, ss->n, ss->file_recs, ss->nruns};
}

const store_sort_run *store_sort_runs(const store_sort *ss)
{
    return ss->runs;
}

int store_sort_restore(store_sort *ss, const store_sort_state *st, const uint64_t *runs,
                       util_err *err)
{
    int rc = st->nruns ? open_file(ss, 0, err) : 0;
    if (rc) return rc;
    struct stat sb;
    uint64_t want = st->file_recs * ss->w * sizeof(uint64_t), sum = st->tail, end = 0;
    if (st->nruns && (fstat(ss->fd, &sb) < 0 || (uint64_t)sb.st_size < want))
        return util_errf(err, UTIL_ECORRUPT, "%s: %lld bytes, the checkpoint needs %llu", ss->path,
                         (long long)sb.st_size, (unsigned long long)want);
    for (uint64_t i = 0; i < st->nruns; i++) {
        const uint64_t *r = runs + 3 * i;
        if (r[0] != end || r[1] > st->file_recs - end)
            return util_errf(err, UTIL_ECORRUPT, "%s: run %llu lies past the file's runs", ss->path,
                             (unsigned long long)i);
        end += r[1];
        if ((rc = add_run(ss, r[0], r[1], r[2], err))) return rc;
        sum += r[1];
    }
    if (sum != st->total || end != st->file_recs)
        return util_errf(
            err, UTIL_ECORRUPT, "%s: the checkpoint's runs hold %llu records, not %llu", ss->path,
            (unsigned long long)(sum - st->tail), (unsigned long long)(st->total - st->tail));
    /* the runs' bytes as written (they were not synced: a power loss may have lost some) */
    enum { CHUNK = 1 << 20 };
    uint8_t *chunk = malloc(CHUNK);
    XXH3_state_t *h = XXH3_createState();
    for (uint64_t i = 0; i < st->nruns && !rc; i++) {
        if (!chunk || !h) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        XXH3_64bits_reset(h);
        uint64_t off = runs[3 * i] * ss->w * sizeof(uint64_t),
                 left = runs[3 * i + 1] * ss->w * sizeof(uint64_t);
        while (left && !rc) {
            size_t k = left < CHUNK ? (size_t)left : CHUNK;
            if (colstore_pread_all(ss->fd, chunk, k, off) != 0)
                rc = util_errf(err, UTIL_ECORRUPT, "%s: cannot read the checkpoint's runs",
                               ss->path);
            XXH3_64bits_update(h, chunk, k);
            off += k, left -= k;
        }
        if (!rc && XXH3_64bits_digest(h) != runs[3 * i + 2])
            rc = util_errf(err, UTIL_ECORRUPT, "%s: run %llu is not the checkpoint's (checksum)",
                           ss->path, (unsigned long long)i);
    }
    free(chunk);
    XXH3_freeState(h);
    if (rc) return rc;
    ss->total = st->total - st->tail;
    ss->file_recs = ss->keep = st->file_recs;
    ss->keep_file = 1;
    return 0;
}
