#include "colstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"

/* ---------------- files ---------------- */

int colstore_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *q = p;
    while (n) {
        ssize_t k = pread(fd, q, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        q += k, n -= (size_t)k, off += (uint64_t)k;
    }
    return 0;
}

int colstore_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t k = pwrite(fd, q, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        q += k, n -= (size_t)k, off += (uint64_t)k;
    }
    return 0;
}

int colstore_file_grow(int fd, const char *path, size_t from, size_t to, util_err *err)
{
    if (to <= from) return 0;
    int fa = posix_fallocate(fd, (off_t)from, (off_t)(to - from));
    if (fa == 0) return 0;
    if (fa != EOPNOTSUPP && fa != EINVAL)
        return util_errf(err, UTIL_EIO, "%s: cannot grow to %zu bytes: %s", path, to, strerror(fa));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot stat: %s", path, strerror(errno));
    /* Bytes below the current end are data already written; zero only the new range. */
    size_t at = (size_t)st.st_size > from ? (size_t)st.st_size : from;
    static const uint8_t zeros[65536];
    while (at < to) {
        size_t n = to - at < sizeof zeros ? to - at : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return util_errf(err, UTIL_EIO, "%s: cannot grow to %zu bytes: %s", path, to,
                             w < 0 ? strerror(errno) : "short write");
        at += (size_t)w;
    }
    return 0;
}

/* ---------------- columns ---------------- */

int colstore_col_open(colstore_col *c, const char *path, size_t width, unsigned flags, int mode,
                      util_err *err)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    c->width = width;
    c->writable = (flags & COLSTORE_WRITE) != 0;
    int of = c->writable ? O_RDWR | O_CREAT : O_RDONLY;
    if (flags & COLSTORE_CLOEXEC) of |= O_CLOEXEC;
    c->fd = open(path, of, mode);
    if (c->fd < 0) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (flags & COLSTORE_MAP) {
        void *r = mmap(NULL, COLSTORE_RESERVE, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED)
            return util_errf(err, UTIL_ENOMEM, "%s: cannot reserve address space", path);
        c->base = r;
    }
    return 0;
}

void colstore_col_close(colstore_col *c)
{
    if (c->base) munmap(c->base, COLSTORE_RESERVE);
    if (c->fd >= 0) close(c->fd);
    c->base = NULL, c->fd = -1, c->mapped = c->populated = 0;
}

int colstore_col_map_to(colstore_col *c, size_t bytes, util_err *err)
{
    if (bytes <= c->mapped) return 0;
    if (bytes > COLSTORE_RESERVE)
        return util_errf(err, UTIL_ENOMEM, "%s: column exceeds its %zu-byte reservation", c->path,
                         COLSTORE_RESERVE);
    int prot = PROT_READ | (c->writable ? PROT_WRITE : 0);
    /* Map whole pages from the file, placed exactly after what is already mapped. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t from = c->mapped & ~(page - 1);
    void *m = mmap(c->base + from, bytes - from, prot, MAP_SHARED | MAP_FIXED, c->fd, (off_t)from);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map %zu bytes: %s", c->path, bytes,
                         strerror(errno));
    c->mapped = bytes;
    return 0;
}

/* Map the pages about to be written writable in one call instead of a write fault per page
 * later (measured: about a fifth less import time on ext4). Only a stretch ahead of the rows
 * in use, not the whole doubled reservation: a populated page is memory taken (zeroed, on a
 * VM first touched) and a dirty page written back as zeros at the next sync, and up to half of
 * the last doubling is never written (the bulk import at 10M txs spent a fifth of its CPU
 * populating). Advice only: failure changes nothing. */
static void populate_ahead(colstore_col *c, size_t need)
{
#ifdef MADV_POPULATE_WRITE
    if (!c->base || need <= c->populated) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t used = (size_t)c->rows * c->width;
    size_t start = (c->populated > used ? c->populated : used) & ~(page - 1);
    size_t ahead = need / 4 > COLSTORE_GROW_MIN ? need / 4 : COLSTORE_GROW_MIN;
    size_t end = (need + ahead + page - 1) & ~(page - 1);
    if (end > c->mapped) end = c->mapped & ~(page - 1);
    if (end > start && c->populate)
        c->populate(c->populate_ctx, c->base + start, end - start);
    else if (end > start)
        madvise(c->base + start, end - start, MADV_POPULATE_WRITE);
    c->populated = end > need ? end : need;
#else
    (void)c, (void)need;
#endif
}

int colstore_col_reserve(colstore_col *c, uint64_t more, util_err *err)
{
    size_t need = (size_t)(c->rows + more) * c->width;
    if (need <= c->mapped) {
        populate_ahead(c, need);
        return 0;
    }
    size_t want = c->mapped < COLSTORE_GROW_MIN ? COLSTORE_GROW_MIN : c->mapped;
    while (want < need)
        want *= 2;
    /* Allocate the blocks now: rows are written through the mapping, where a block the disk
     * cannot give would be a SIGBUS rather than an error (and one fault per page is slower). */
    int rc = colstore_file_grow(c->fd, c->path, c->mapped, want, err);
    if (rc) return rc;
    rc = colstore_col_map_to(c, want, err);
    if (rc) return rc;
    populate_ahead(c, need);
    return 0;
}

int colstore_col_cut(colstore_col *c, uint64_t rows, util_err *err)
{
    size_t keep = (size_t)rows * c->width;
    if (c->base) {
        munmap(c->base, c->mapped);
        if (mmap(c->base, COLSTORE_RESERVE, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
            return util_errf(err, UTIL_EIO, "%s: cannot re-reserve", c->path);
        c->mapped = c->populated = 0;
    }
    if (ftruncate(c->fd, (off_t)keep) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot cut back to %zu bytes: %s", c->path, keep,
                         strerror(errno));
    return c->base ? colstore_col_map_to(c, keep, err) : 0;
}

int colstore_col_sync(colstore_col *c, util_err *err)
{
    int bad = c->base ? c->mapped && msync(c->base, c->mapped, MS_SYNC) < 0 : fdatasync(c->fd) < 0;
    if (bad) return util_errf(err, UTIL_EIO, "%s: sync failed: %s", c->path, strerror(errno));
    return 0;
}

int colstore_col_sync_range(colstore_col *c, size_t from, size_t to, util_err *err)
{
    if (!c->base) return colstore_col_sync(c, err);
    if (to > c->mapped) to = c->mapped;
    if (from >= to) return 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    from &= ~(page - 1);
    if (msync(c->base + from, to - from, MS_SYNC) < 0)
        return util_errf(err, UTIL_EIO, "%s: sync failed: %s", c->path, strerror(errno));
    return 0;
}

int colstore_col_write(colstore_col *c, uint64_t row, const void *p, size_t n, util_err *err)
{
    if (colstore_pwrite_all(c->fd, p, n, row * c->width))
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", c->path, strerror(errno));
    return 0;
}

int colstore_col_pread(const colstore_col *c, void *p, size_t n, uint64_t off)
{
    return colstore_pread_all(c->fd, p, n, off);
}

/* ---------------- lock ---------------- */

int colstore_lock(int *fd, const char *path, int mode, int cloexec, const char *what, util_err *err)
{
    *fd = open(path, O_RDWR | O_CREAT | (cloexec ? O_CLOEXEC : 0), mode);
    if (*fd < 0 || flock(*fd, LOCK_EX | LOCK_NB) < 0) return util_errf(err, UTIL_EBUSY, "%s", what);
    return 0;
}

/* ---------------- MANIFEST ---------------- */

int colstore_manifest_rows(util_buf *b, const char *const *names, const uint64_t *rows, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++)
        rc |= util_buf_printf(b, " %s=%llu", names[i], (unsigned long long)rows[i]);
    return rc;
}

int colstore_manifest_seal(util_buf *b, uint8_t sum[32])
{
    uint8_t h[32];
    char hex[65];
    crypto_sha256(b->data, b->len, h);
    util_hex(hex, h, 32);
    if (sum) memcpy(sum, h, 32);
    return util_buf_printf(b, "checksum %s\n", hex);
}

int colstore_manifest_check(const char *text, int at_line, const char **end, uint8_t sum[32])
{
    const char *ck = strstr(text, "checksum ");
    if (!ck || (at_line && ck != text && ck[-1] != '\n')) return UTIL_ENOTFOUND;
    uint8_t h[32];
    char hex[65];
    crypto_sha256(text, (size_t)(ck - text), h);
    if (sum) memcpy(sum, h, 32);
    util_hex(hex, h, 32);
    if (strncmp(ck + 9, hex, 64) != 0) return UTIL_ECORRUPT;
    if (end) *end = ck;
    return 0;
}

int colstore_manifest_row(const char *line, const char *end, const char *name, uint64_t *v)
{
    size_t nl = strlen(name);
    for (const char *p = line; p + nl + 2 <= end; p++) {
        if (p[0] == ' ' && memcmp(p + 1, name, nl) == 0 && p[1 + nl] == '=') {
            *v = strtoull(p + 2 + nl, NULL, 10);
            return 0;
        }
    }
    return UTIL_ENOTFOUND;
}
