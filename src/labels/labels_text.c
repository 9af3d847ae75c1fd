/* labels: what text a label may hold: UTF-8 validity, the characters a terminal would act on,
 * and their escaped form for display (kept apart: the import checks with it, the CLI writers
 * escape with it). */
#include <stdio.h>
#include <string.h>

#include "labels_int.h"

/* ---------------- UTF-8 and case ---------------- */

int labels_contains_ci(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80) return 1;
    size_t len = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
                 : (p[0] & 0xf0) == 0xe0        ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                                : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return len;
}

/* Offset of the first byte that is not valid UTF-8, or n. */
size_t labels_utf8_check(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;
    while (i < n && (k = utf8_seq(p + i, n - i)))
        i += k;
    return i;
}

/* ---------------- terminal safety ---------------- */

/* The character at p (n > 0 bytes left): its length in *len and what a terminal makes of it:
 * 0 plain text, 1 a C0 control or DEL (*cp its byte), 2 a C1 or bidi control (*cp its code
 * point), 3 a byte that is not UTF-8 (*cp the byte). */
static int char_kind(const unsigned char *p, size_t n, size_t *len, unsigned *cp)
{
    size_t k = utf8_seq(p, n);
    *len = k ? k : 1;
    *cp = p[0];
    if (!k) return 3;
    if (k == 1) return p[0] < 0x20 || p[0] == 0x7f ? 1 : 0;
    if (k == 2) {
        *cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
        return *cp < 0xa0 ? 2 : 0;
    }
    if (k == 3) {
        *cp = (unsigned)(p[0] & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return (*cp >= 0x202a && *cp <= 0x202e) || (*cp >= 0x2066 && *cp <= 0x2069) ? 2 : 0;
    }
    return 0;
}

size_t labels_text_check(const char *s, size_t n, int multiline, char what[48])
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len;
        unsigned cp;
        int kind = char_kind(p + i, n - i, &len, &cp);
        if (kind == 1 && multiline && (cp == '\t' || cp == '\n')) kind = 0;
        if (kind) {
            if (what)
                snprintf(what, 48,
                         kind == 1 ? "control character 0x%02x"
                         : kind == 2
                             ? (cp < 0xa0 ? "C1 control character U+%04X" : "bidi control U+%04X")
                             : "byte 0x%02x that is not UTF-8",
                         cp);
            return i;
        }
        i += len;
    }
    return n;
}

const char *labels_text_escape(char *buf, size_t cap, const char *s)
{
    if (!s) return "";
    size_t n = strlen(s);
    if (labels_text_check(s, n, 0, NULL) == n) return s;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        unsigned cp;
        int kind = char_kind(p + i, n - i, &len, &cp);
        char piece[16];
        int k = kind == 0   ? (int)len
                : kind == 2 ? snprintf(piece, sizeof piece, "\\u{%04x}", cp)
                            : snprintf(piece, sizeof piece, "\\x%02x", cp);
        if (o + (size_t)k + 4 > cap) { /* room for "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, kind ? piece : s + i, (size_t)k);
        o += (size_t)k;
        i += len;
    }
    buf[o] = 0;
    return buf;
}
