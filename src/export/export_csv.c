/* The gzip CSV writer: rows are formatted into a staging buffer that deflate drains into the
 * file, so a table of any size takes two fixed buffers. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_int.h"

#define W_IN_CAP ((size_t)1 << 18)  /* staging: compressed once this much text is waiting */
#define W_OUT_CAP ((size_t)1 << 17) /* deflate's output chunk */

static void w_fail(export_w *w, int code, const char *what)
{
    if (w->rc) return;
    w->rc = util_errf(&w->err, code, "%s: %s: %s", w->path, what, strerror(errno));
}

static int w_write(export_w *w, const uint8_t *p, size_t n)
{
    if (!n) return 0;
    if (util_write_all(w->fd, p, n)) {
        w_fail(w, UTIL_EIO, "write failed");
        return w->rc;
    }
    crypto_sha256_update(&w->sha, p, n);
    w->bytes += n;
    return 0;
}

/* Compress the staged text (flush = Z_NO_FLUSH or Z_FINISH) and write what deflate gives. */
static int w_drain(export_w *w, int flush)
{
    if (w->rc) return w->rc;
    w->csv_bytes += w->in_len;
    w->z.next_in = w->in;
    w->z.avail_in = (uInt)w->in_len;
    for (;;) {
        w->z.next_out = w->out;
        w->z.avail_out = (uInt)W_OUT_CAP;
        int zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR) {
            errno = EINVAL;
            w_fail(w, UTIL_EIO, "deflate failed");
            return w->rc;
        }
        if (w_write(w, w->out, W_OUT_CAP - w->z.avail_out)) return w->rc;
        if (flush == Z_FINISH ? zr == Z_STREAM_END : w->z.avail_out != 0) break;
    }
    w->in_len = 0;
    return 0;
}

/* Room for n more bytes of text: compress what waits, or grow for one long field. */
static int w_room(export_w *w, size_t n)
{
    if (w->rc) return w->rc;
    if (w->in_len + n <= w->in_cap) return 0;
    if (w_drain(w, Z_NO_FLUSH)) return w->rc;
    if (n <= w->in_cap) return 0;
    uint8_t *p = realloc(w->in, n);
    if (!p) {
        errno = ENOMEM;
        w_fail(w, UTIL_ENOMEM, "out of memory for a field");
        return w->rc;
    }
    w->in = p, w->in_cap = n;
    return 0;
}

int export_w_open(export_w *w, const char *path, int level, util_err *err)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    snprintf(w->path, sizeof w->path, "%s", path);
    crypto_sha256_init(&w->sha);
    w->in = malloc(W_IN_CAP);
    w->out = malloc(W_OUT_CAP);
    w->in_cap = W_IN_CAP;
    if (!w->in || !w->out) {
        export_w_discard(w);
        return util_errf(err, UTIL_ENOMEM, "%s: out of memory", path);
    }
    /* windowBits 15 + 16: a gzip wrapper with no file name and time 0, so the bytes depend only
     * on the text (and the zlib version). */
    if (deflateInit2(&w->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        export_w_discard(w);
        return util_errf(err, UTIL_ENOMEM, "%s: cannot start gzip", path);
    }
    w->zinit = 1;
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        export_w_discard(w);
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    return 0;
}

int export_w_finish(export_w *w, uint8_t sha256[32], util_err *err)
{
    if (!w->rc && w->nfield) {
        errno = EINVAL;
        w_fail(w, UTIL_EIO, "row not ended");
    }
    w_drain(w, Z_FINISH);
    if (!w->rc && fsync(w->fd)) w_fail(w, UTIL_EIO, "fsync failed");
    if (!w->rc && close(w->fd)) w_fail(w, UTIL_EIO, "close failed");
    if (!w->rc) w->fd = -1;
    int rc = w->rc;
    if (rc) {
        if (err) *err = w->err;
    } else {
        crypto_sha256_final(&w->sha, sha256);
    }
    export_w_discard(w);
    return rc;
}

void export_w_discard(export_w *w)
{
    if (w->zinit) deflateEnd(&w->z);
    w->zinit = 0;
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    free(w->in);
    free(w->out);
    w->in = w->out = NULL;
}

/* The separator before a field, and room for n bytes of it. */
static uint8_t *w_field(export_w *w, size_t n)
{
    if (w_room(w, n + 1)) return NULL;
    if (w->nfield++) w->in[w->in_len++] = ',';
    return w->in + w->in_len;
}

void export_w_null(export_w *w)
{
    w_field(w, 0);
}

void export_w_u64(export_w *w, uint64_t v)
{
    uint8_t *p = w_field(w, 20);
    if (!p) return;
    char t[20];
    size_t n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)t[n - 1 - i];
    w->in_len += n;
}

void export_w_i64(export_w *w, int64_t v)
{
    if (v >= 0) {
        export_w_u64(w, (uint64_t)v);
        return;
    }
    uint8_t *p = w_field(w, 21);
    if (!p) return;
    uint64_t m = (uint64_t)0 - (uint64_t)v; /* INT64_MIN too */
    char t[20];
    size_t n = 0;
    do
        t[n++] = (char)('0' + m % 10);
    while (m /= 10);
    p[0] = '-';
    for (size_t i = 0; i < n; i++)
        p[1 + i] = (uint8_t)t[n - 1 - i];
    w->in_len += n + 1;
}

void export_w_bool(export_w *w, int v)
{
    uint8_t *p = w_field(w, 5);
    if (!p) return;
    memcpy(p, v ? "true" : "false", v ? 4 : 5);
    w->in_len += v ? 4 : 5;
}

void export_w_str(export_w *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!n) {
        export_w_null(w);
        return;
    }
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    uint8_t *p = w_field(w, quote ? 2 * n + 2 : n);
    if (!p) return;
    if (!quote) {
        memcpy(p, s, n);
        w->in_len += n;
        return;
    }
    size_t k = 0;
    p[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') p[k++] = '"';
        p[k++] = (uint8_t)s[i];
    }
    p[k++] = '"';
    w->in_len += k;
}

void export_w_hex(export_w *w, const uint8_t *b, size_t n)
{
    if (!n) {
        export_w_null(w);
        return;
    }
    uint8_t *p = w_field(w, 2 * n + 1);
    if (!p) return;
    util_hex((char *)p, b, n);
    w->in_len += 2 * n;
}

void export_w_hash(export_w *w, const uint8_t h[32])
{
    uint8_t *p = w_field(w, 65);
    if (!p) return;
    util_hash_hex((char *)p, h);
    w->in_len += 64;
}

int export_w_end_row(export_w *w)
{
    if (w_room(w, 1)) return w->rc;
    w->in[w->in_len++] = '\n';
    w->nfield = 0;
    w->rows++;
    return 0;
}
