#define _POSIX_C_SOURCE 200809L
#include "util.h"
#include "util_vec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int util_errf(util_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int util_err_prefix(util_err *err, const char *fmt, ...)
{
    if (!err) return UTIL_EINVAL;
    char head[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Build "head: old" by hand: both parts may be long and the result is cut to fit. */
    size_t hl = strnlen(head, sizeof err->msg - 3);
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, ": ", 2);
    size_t room = sizeof err->msg - hl - 3, ol = strnlen(old, room);
    memcpy(err->msg + hl + 2, old, ol);
    err->msg[hl + 2 + ol] = 0;
    return err->code;
}

int util_buf_reserve(util_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return UTIL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int util_buf_append(util_buf *b, const void *p, size_t n)
{
    if (util_buf_reserve(b, n + 1)) return UTIL_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0; /* keeps text buffers NUL-terminated for free */
    return 0;
}

int util_buf_printf(util_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || util_buf_reserve(b, (size_t)n + 1)) return UTIL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void util_buf_free(util_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void util_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

void util_hash_hex(char out[65], const uint8_t hash[32])
{
    uint8_t rev[32];
    for (int i = 0; i < 32; i++)
        rev[i] = hash[31 - i];
    util_hex(out, rev, 32);
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int util_hash_parse(uint8_t hash[32], const char *hex)
{
    if (strlen(hex) != 64) return UTIL_EINVAL;
    for (int i = 0; i < 32; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return UTIL_EINVAL;
        hash[31 - i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int util_read_file(const char *path, uint8_t **data, size_t *len, util_err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return util_errf(err, UTIL_EIO, "%s: not a regular file", path);
    }
    uint8_t *p = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!p) {
        close(fd);
        return util_errf(err, UTIL_ENOMEM, "%s: out of memory reading %lld bytes", path,
                         (long long)st.st_size);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(p);
            close(fd);
            return util_errf(err, UTIL_EIO, "%s: read failed at offset %zu", path, got);
        }
        got += (size_t)r;
    }
    close(fd);
    *data = p;
    *len = got;
    return 0;
}

int util_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return UTIL_EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int util_replace_file(const char *path, const void *p, size_t n, util_err *err)
{
    return util_replace_file_mode(path, p, n, 0644, err);
}

int util_replace_file_mode(const char *path, const void *p, size_t n, unsigned mode, util_err *err)
{
    char tmp[4096], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp); /* a leftover keeps its old mode through O_CREAT */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) return util_errf(err, UTIL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (fchmod(fd, (mode_t)mode) < 0) { /* the umask must not widen nor narrow it */
        int e = errno;
        close(fd);
        unlink(tmp);
        return util_errf(err, UTIL_EIO, "%s: cannot set its mode: %s", tmp, strerror(e));
    }
    if (util_write_all(fd, p, n) || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp); /* a partial temp file would keep taking the space that just ran out */
        return util_errf(err, UTIL_EIO, "%s: cannot write: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return util_errf(err, UTIL_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    /* The rename itself is only durable once the directory entry is synced. */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

double util_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void util_html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

int util_buf_json_str(util_buf *b, const char *s, size_t n)
{
    if (util_buf_reserve(b, n + 2)) return UTIL_ENOMEM;
    b->data[b->len++] = '"';
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            run++;
            continue;
        }
        if (run && util_buf_append(b, s + i - run, run)) return UTIL_ENOMEM;
        run = 0;
        char esc[8];
        const char *e = ch == '"'    ? "\\\""
                        : ch == '\\' ? "\\\\"
                        : ch == '\b' ? "\\b"
                        : ch == '\f' ? "\\f"
                        : ch == '\n' ? "\\n"
                        : ch == '\r' ? "\\r"
                        : ch == '\t' ? "\\t"
                                     : NULL;
        if (!e) {
            snprintf(esc, sizeof esc, "\\u%04X", ch);
            e = esc;
        }
        if (util_buf_append(b, e, strlen(e))) return UTIL_ENOMEM;
    }
    if (run && util_buf_append(b, s + n - run, run)) return UTIL_ENOMEM;
    return util_buf_append(b, "\"", 1);
}

int util_buf_json_real(util_buf *b, double v)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%.17g", v);
    if (len < 0 || (size_t)len >= sizeof buf - 3) return UTIL_EINVAL;
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *start = strchr(buf, 'e');
    if (start) { /* "1e+20" -> "1e20", "1e-05" -> "1e-5" */
        start++;
        char *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(len - (end - buf)) + 1);
            len -= (int)(end - start);
        }
    }
    return util_buf_append(b, buf, (size_t)len);
}

static int rem_cmp(const void *pa, const void *pb)
{
    const util_rem *a = pa, *b = pb;
    if (a->r != b->r) return a->r > b->r ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

void util_split_haircut(uint64_t x, const uint64_t *w, size_t m, uint64_t d, uint64_t *sh,
                        util_rem *rm)
{
    uint64_t sum = 0;
    for (size_t k = 0; k < m; k++) {
        unsigned __int128 p = (unsigned __int128)x * w[k];
        sh[k] = (uint64_t)(p / d);
        rm[k].r = (uint64_t)(p % d);
        rm[k].i = (uint32_t)k;
        sum += sh[k];
    }
    uint64_t left = x - sum; /* < m */
    if (!left) return;
    if (left <= 8) {
        /* Usually one or two satoshis are left over: pick the largest remainders by scans
         * (the first of equal ones, as the sort's tie rule) instead of sorting every bucket. */
        for (uint64_t k = 0; k < left; k++) {
            size_t best = SIZE_MAX;
            for (size_t q = 0; q < m; q++)
                if (rm[q].i != UINT32_MAX && (best == SIZE_MAX || rm[q].r > rm[best].r)) best = q;
            sh[best]++;
            rm[best].i = UINT32_MAX;
        }
        return;
    }
    qsort(rm, m, sizeof *rm, rem_cmp);
    for (uint64_t k = 0; k < left; k++)
        sh[rm[k].i]++;
}

int util_heap64_push(uint64_t **heap, size_t *n, size_t *cap, uint64_t k)
{
    if (util_grow((void **)heap, cap, *n + 1, sizeof **heap, 64, SIZE_MAX)) return UTIL_ENOMEM;
    uint64_t *h = *heap;
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (h[p] <= k) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = k;
    return 0;
}

uint64_t util_heap64_pop(uint64_t *h, size_t *np)
{
    uint64_t top = h[0], k = h[--*np];
    size_t i = 0, n = *np;
    for (;;) {
        size_t l = 2 * i + 1, m = l + 1, best = i;
        uint64_t bk = k;
        if (l < n && h[l] < bk) best = l, bk = h[l];
        if (m < n && h[m] < bk) best = m, bk = h[m];
        if (best == i) break;
        h[i] = h[best];
        i = best;
    }
    if (n) h[i] = k;
    return top;
}
