/* util: errors that carry a message, growable buffers, file helpers, hex.
 * Every module reports failure as a negative UTIL_E* code and fills a util_err that the
 * caller owns; the message names the file, offset, field or argument concerned. */
#ifndef CT_UTIL_H
#define CT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    UTIL_OK = 0,
    UTIL_EIO = -1,       /* the operating system refused a read, write, map or sync */
    UTIL_EFORMAT = -2,   /* input bytes or text are not what the format says */
    UTIL_ENOTFOUND = -3, /* a txid, address, block or file that does not exist */
    UTIL_EINVAL = -4,    /* a bad argument from the user */
    UTIL_ENOMEM = -5,    /* an allocation failed */
    UTIL_ECORRUPT = -6,  /* a store file disagrees with its MANIFEST */
    UTIL_EBUSY = -7,     /* another process holds the store's write lock */
};

typedef struct util_err {
    int code;
    char msg[768];
} util_err;

/* Fill err (may be NULL) with code and a printf-style message; returns code so callers can
 * `return util_errf(err, UTIL_EFORMAT, "...")`. */
int util_errf(util_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to an error already filled in, keeping its code; returns the code. */
int util_err_prefix(util_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable byte buffer. The buffer owns data; free it with util_buf_free. */
typedef struct util_buf {
    uint8_t *data;
    size_t len, cap;
} util_buf;

int util_buf_reserve(util_buf *b, size_t extra);
int util_buf_append(util_buf *b, const void *p, size_t n);
int util_buf_printf(util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void util_buf_free(util_buf *b);
/* JSON text written straight into a buffer, byte for byte as jansson's compact dump writes it
 * (for answers built without a jansson tree): s[0..n) as a JSON string ('"', '\\' and control
 * characters escaped, \u00XX in upper case; the bytes are taken as UTF-8, not checked), and
 * a real (17 significant digits, ".0" added to an integral value, the exponent without '+' and
 * leading zeros). 0 or UTIL_ENOMEM. */
int util_buf_json_str(util_buf *b, const char *s, size_t n);
int util_buf_json_real(util_buf *b, double v);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void util_hex(char *out, const uint8_t *p, size_t n);
/* Hex of a 32-byte hash in the usual reversed (display) order; out has 65 bytes. */
void util_hash_hex(char out[65], const uint8_t hash[32]);
/* Parse a 64-digit display-order hex hash into internal byte order. 0 or UTIL_EINVAL. */
int util_hash_parse(uint8_t hash[32], const char *hex);

/* A whole file read into memory. data is owned by the caller: free() it. */
int util_read_file(const char *path, uint8_t **data, size_t *len, util_err *err);

/* Write all n bytes to fd, retrying short writes. 0 or UTIL_EIO (errno kept). */
int util_write_all(int fd, const void *p, size_t n);

/* Atomically replace path with the n bytes given: write a temp file, fsync, rename, fsync dir.
 * The file gets mode 0644. */
int util_replace_file(const char *path, const void *p, size_t n, util_err *err);
/* The same with the given mode (0600 for files that hold secrets: webhook URLs, key hashes). */
int util_replace_file_mode(const char *path, const void *p, size_t n, unsigned mode, util_err *err);

/* Monotonic seconds. */
double util_now(void);

/* Little-endian stores and loads that do not care about alignment. */
static inline uint16_t util_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t util_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t util_le64(const uint8_t *p)
{
    return (uint64_t)util_le32(p) | (uint64_t)util_le32(p + 4) << 32;
}
static inline void util_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}
static inline void util_put_le64(uint8_t *p, uint64_t v)
{
    util_put_le32(p, (uint32_t)v);
    util_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Write s (NULL: nothing) to f as HTML text: & < > " ' escaped, so that nothing in it, from the
 * chain or from a third party's label, becomes markup, whether it lands in an element or in a
 * quoted attribute. */
void util_html_escape(FILE *f, const char *s);

/* The tracers' haircut split, one rule for every tracer and index: sh[k] = x * w[k] / d for
 * k < m (d = the sum of w, > 0), rounded so that the shares sum to exactly x: the largest
 * remainders get one satoshi more, the lower index first among equal ones. rm is the caller's
 * scratch of m entries. */
typedef struct util_rem {
    uint64_t r;
    uint32_t i;
} util_rem;
/* A binary min-heap of 64-bit keys in heap[0, *n) (the tracers' queues of txs in block order):
 * push grows the caller's array (*heap, *cap; free it with free); pop takes the least (*n > 0). */
int util_heap64_push(uint64_t **heap, size_t *n, size_t *cap, uint64_t k);
uint64_t util_heap64_pop(uint64_t *heap, size_t *n);

void util_split_haircut(uint64_t x, const uint64_t *w, size_t m, uint64_t d, uint64_t *sh,
                        util_rem *rm);

#endif
