/* sharing: the JSON writer, name-based ids and times the format writers share. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../crypto/crypto.h"
#include "sharing_int.h"

/* ---------------- JSON ---------------- */

static void sep(sjw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    uint64_t bit = 1ull << (w->depth & 63);
    if (w->has_item & bit) putc_unlocked(',', w->f);
    w->has_item |= bit;
    if (w->nl) putc_unlocked('\n', w->f), w->nl = 0;
}

static void open_c(sjw *w, char ch)
{
    sep(w);
    putc_unlocked(ch, w->f);
    w->depth++;
    w->has_item &= ~(1ull << (w->depth & 63));
}

static void close_c(sjw *w, char ch)
{
    if (w->nl) putc_unlocked('\n', w->f), w->nl = 0;
    w->depth--;
    putc_unlocked(ch, w->f);
}

void sjw_obj(sjw *w)
{
    open_c(w, '{');
}
void sjw_end_obj(sjw *w)
{
    close_c(w, '}');
}
void sjw_arr(sjw *w)
{
    open_c(w, '[');
}
void sjw_end_arr(sjw *w)
{
    close_c(w, ']');
}

/* The length of the UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (!n || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) return n == 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    unsigned cp = n == 2   ? (c & 0x1f) << 6 | (s[1] & 0x3f)
                  : n == 3 ? (c & 0x0f) << 12 | (s[1] & 0x3f) << 6 | (s[2] & 0x3f)
                  : n == 4
                      ? (c & 0x07) << 18 | (s[1] & 0x3f) << 12 | (s[2] & 0x3f) << 6 | (s[3] & 0x3f)
                      : c;
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* s escaped into out (a FILE or a buffer through emit), per RFC 8785 (which JSON allows). */
static void escape(const char *s, void (*emit)(void *, const char *, size_t), void *ctx)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    emit(ctx, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        size_t n;
        while (*p >= 0x20 && *p != '"' && *p != '\\' && (n = utf8_len(p)) > 0)
            p += n;
        if (p > run) emit(ctx, (const char *)run, (size_t)(p - run));
        if (!*p) break;
        char e[8];
        if (*p == '"' || *p == '\\')
            e[0] = '\\', e[1] = (char)*p, n = 2;
        else if (*p < 0x20) {
            const char *shortf = *p == '\b'   ? "\\b"
                                 : *p == '\t' ? "\\t"
                                 : *p == '\n' ? "\\n"
                                 : *p == '\f' ? "\\f"
                                 : *p == '\r' ? "\\r"
                                              : NULL;
            if (shortf)
                memcpy(e, shortf, 2), n = 2;
            else
                n = (size_t)snprintf(e, sizeof e, "\\u%04x", *p);
        } else {
            memcpy(e, "\\ufffd", 6), n = 6; /* not UTF-8 */
        }
        emit(ctx, e, n);
        p++;
    }
    emit(ctx, "\"", 1);
}

static void emit_file(void *f, const char *s, size_t n)
{
    fwrite_unlocked(s, 1, n, f);
}

typedef struct buf_sink {
    util_buf *b;
    int oom;
} buf_sink;

static void emit_buf(void *ctx, const char *s, size_t n)
{
    buf_sink *k = ctx;
    if (util_buf_append(k->b, s, n)) k->oom = 1;
}

void sjw_key(sjw *w, const char *key)
{
    sep(w);
    escape(key, emit_file, w->f);
    putc_unlocked(':', w->f);
    w->after_key = 1;
}

void sjw_str(sjw *w, const char *s)
{
    sep(w);
    escape(s, emit_file, w->f);
}

void sjw_raw(sjw *w, const char *text)
{
    sep(w);
    fputs_unlocked(text, w->f);
}

void sjw_int(sjw *w, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    sjw_raw(w, b);
}

void sjw_kstr(sjw *w, const char *key, const char *s)
{
    sjw_key(w, key);
    sjw_str(w, s);
}

void sjw_kraw(sjw *w, const char *key, const char *text)
{
    sjw_key(w, key);
    sjw_raw(w, text);
}

void sjw_nl(sjw *w)
{
    w->nl = 1;
}

void sjw_line_end(sjw *w)
{
    putc_unlocked('\n', w->f);
    w->nl = 0;
    w->has_item &= ~1ull;
}

int sharing_jcs_str(util_buf *b, const char *s)
{
    buf_sink k = {b, 0};
    escape(s, emit_buf, &k);
    return k.oom ? UTIL_ENOMEM : 0;
}

/* ---------------- ids ---------------- */

const uint8_t sharing_ns[16] = {0x2e, 0xcf, 0xec, 0xdc, 0xf4, 0x5a, 0x5b, 0x85,
                                0x8b, 0x63, 0x61, 0xed, 0xb2, 0xe2, 0x15, 0x4d};
static const uint8_t stix_sco_ns[16] = {0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c,
                                        0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7};

void sharing_uuid5(char out[37], const uint8_t ns[16], const void *name, size_t n)
{
    uint8_t stack[512], *buf = n + 16 <= sizeof stack ? stack : malloc(n + 16), h[20];
    if (!buf) { /* out of memory: a hash of the length keeps the id well-formed */
        buf = stack;
        n = 0;
    }
    memcpy(buf, ns, 16);
    if (n) memcpy(buf + 16, name, n);
    crypto_sha1(buf, n + 16, h);
    if (buf != stack) free(buf);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50); /* version 5 */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hex[h[i] >> 4];
        out[k++] = hex[h[i] & 15];
    }
    out[k] = 0;
}

/* type is one of the two SCO types: "cryptocurrency-transaction--" + 36 + NUL is 65 bytes. */
static void sco_id(char out[SHARING_SCO_ID], const char *type, util_buf *name)
{
    char u[37];
    sharing_uuid5(u, stix_sco_ns, name->data ? name->data : (uint8_t *)"", name->len);
    size_t tl = strlen(type);
    memcpy(out, type, tl);
    memcpy(out + tl, "--", 2);
    memcpy(out + tl + 2, u, 37);
    util_buf_free(name);
}

void sharing_stix_wallet_id(char out[SHARING_SCO_ID], const char *address)
{
    util_buf b = {0};
    util_buf_append(&b, "{\"value\":", 9);
    sharing_jcs_str(&b, address);
    util_buf_append(&b, "}", 1);
    sco_id(out, "cryptocurrency-wallet", &b);
}

void sharing_stix_tx_id(char out[SHARING_SCO_ID], const char *symbol, const char *txid)
{
    util_buf b = {0};
    util_buf_append(&b, "{\"symbol\":", 10);
    sharing_jcs_str(&b, symbol);
    util_buf_append(&b, ",\"value\":", 9);
    sharing_jcs_str(&b, txid);
    util_buf_append(&b, "}", 1);
    sco_id(out, "cryptocurrency-transaction", &b);
}

static void parts_uuid(char out[37], const char *first, va_list ap)
{
    util_buf b = {0};
    for (const char *p = first; p; p = va_arg(ap, const char *))
        util_buf_append(&b, p, strlen(p) + 1); /* with its NUL: parts cannot run together */
    sharing_uuid5(out, sharing_ns, b.data ? b.data : (uint8_t *)"", b.len);
    util_buf_free(&b);
}

void sharing_id(char out[128], const char *type, ...)
{
    char u[37];
    va_list ap;
    va_start(ap, type);
    parts_uuid(u, type, ap);
    va_end(ap);
    snprintf(out, 128, "%s--%s", type, u);
}

void sharing_uuid(char out[37], const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    parts_uuid(out, first, ap);
    va_end(ap);
}

/* ---------------- times and words ---------------- */

void sharing_ts(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) memset(&tm, 0, sizeof tm), tm.tm_mday = 1, tm.tm_year = 70;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

int sharing_is_date(const char *s)
{
    if (strlen(s) != 10) return 0;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i])) return 0;
    int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

const char *sharing_date_ts(char out[32], const char *date)
{
    if (!date || !sharing_is_date(date)) return NULL;
    snprintf(out, 32, "%sT00:00:00.000Z", date);
    return out;
}

int sharing_is_uri(const char *s)
{
    if (!isalpha((unsigned char)*s)) return 0;
    const char *p = s + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || !p[1]) return 0;
    for (p++; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' ||
            *p == '\\' || *p == '^' || *p == '`' || *p == '{' || *p == '|' || *p == '}')
            return 0;
    return 1;
}

void sharing_symbol(char out[32], const char *chain)
{
    size_t i = 0;
    for (; chain[i] && i < 31; i++)
        out[i] = (char)toupper((unsigned char)chain[i]);
    out[i] = 0;
}

static int key_cmp(const void *a, const void *b)
{
    const sharing_key *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

void sharing_keys_sort(sharing_key *k, size_t n)
{
    if (n > 1) qsort(k, n, sizeof *k, key_cmp);
}
