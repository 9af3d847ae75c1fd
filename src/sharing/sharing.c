/* sharing: the formats' names, the dispatch to their writers, the label query of `cointrail
 * export --labels`, and amounts in a chain's unit. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sharing_int.h"

static const char *const names[] = {NULL, "stix", "misp", "tagpack", "ftm"};

const char *sharing_format_name(sharing_format f)
{
    return f >= SHARING_STIX && f <= SHARING_FTM ? names[f] : "?";
}

int sharing_format_parse(const char *name)
{
    for (int f = SHARING_STIX; f <= SHARING_FTM; f++)
        if (!strcmp(name, names[f])) return f;
    return -1;
}

int sharing_write(FILE *out, sharing_format f, const sharing_set *s, util_err *err)
{
    int rc;
    flockfile(out); /* the writers use the _unlocked stdio calls */
    switch (f) {
    case SHARING_STIX:
        rc = sharing_write_stix(out, s, err);
        break;
    case SHARING_MISP:
        rc = sharing_write_misp(out, s, err);
        break;
    case SHARING_TAGPACK:
        rc = sharing_write_tagpack(out, s, err);
        break;
    case SHARING_FTM:
        rc = sharing_write_ftm(out, s, err);
        break;
    default:
        rc = util_errf(err, UTIL_EINVAL, "unknown sharing format %d", (int)f);
    }
    funlockfile(out);
    if (!rc && (fflush(out) || ferror(out)))
        rc = util_errf(err, UTIL_EIO, "writing the %s export: %s", sharing_format_name(f),
                       strerror(errno ? errno : EIO));
    return rc;
}

static int by_source(const void *a, const void *b)
{
    const labels_label *x = *(const labels_label *const *)a, *y = *(const labels_label *const *)b;
    int c = strcmp(x->source, y->source);
    if (c) return c;
    const char *fx[] = {x->chain, x->address, x->category},
               *fy[] = {y->chain, y->address, y->category};
    for (size_t i = 0; i < 3; i++)
        if ((c = strcmp(fx[i], fy[i]))) return c;
    return 0;
}

void sharing_sort_by_source(const labels_label **v, size_t n)
{
    if (n > 1) qsort(v, n, sizeof *v, by_source);
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* %XX and '+' decoded in place (a URL's query string). */
static int url_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int hi = hexval((unsigned char)p[1]), lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
            if (lo < 0) return -1;
            *o++ = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *o++ = *p == '+' ? ' ' : *p;
        }
    }
    *o = 0;
    return 0;
}

int sharing_query_parse(char *query, labels_filter *f, util_err *err)
{
    memset(f, 0, sizeof *f);
    if (!strcmp(query, "all") || !*query) return 0;
    for (char *save = NULL, *term = strtok_r(query, "&", &save); term;
         term = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(term, '=');
        const char *key = "text";
        char *val = term;
        if (eq) {
            *eq = 0;
            key = term;
            val = eq + 1;
        }
        if (url_decode(val))
            return util_errf(err, UTIL_EINVAL,
                             "query term '%s': a %% not followed by two hex digits", key);
        const char **slot = !strcmp(key, "chain")      ? &f->chain
                            : !strcmp(key, "category") ? &f->category
                            : !strcmp(key, "actor")    ? &f->actor
                            : !strcmp(key, "source")   ? &f->source
                            : !strcmp(key, "text")     ? &f->text
                                                       : NULL;
        if (!slot)
            return util_errf(err, UTIL_EINVAL,
                             "query term '%.40s': not one of chain, category, actor, source, text",
                             key);
        if (*slot) return util_errf(err, UTIL_EINVAL, "query term '%s' given twice", key);
        *slot = val;
    }
    return 0;
}

int sharing_chain_decimals(const char *chain)
{
    static const struct {
        const char *chain;
        int decimals;
    } t[] = {{"btc", 8},   {"ltc", 8},    {"bch", 8},      {"bsv", 8},   {"btg", 8},  {"doge", 8},
             {"dash", 8},  {"zec", 8},    {"eth", 18},     {"etc", 18},  {"bsc", 18}, {"bep20", 18},
             {"arb", 18},  {"matic", 18}, {"polygon", 18}, {"avax", 18}, {"ftm", 18}, {"op", 18},
             {"base", 18}, {"trx", 6},    {"xmr", 12},     {"xrp", 6},   {"sol", 9}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(chain, t[i].chain)) return t[i].decimals;
    return -1;
}

int sharing_amount(char *out, size_t cap, const char *base, int decimals)
{
    size_t n = strlen(base);
    if (!n || decimals < 0 || decimals > 77) return UTIL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)base[i])) return UTIL_EINVAL;
    while (n > 1 && *base == '0')
        base++, n--;
    size_t d = (size_t)decimals;
    char tmp[160];
    if (n + d + 3 > sizeof tmp) return UTIL_EINVAL;
    size_t k = 0;
    if (n <= d) {
        tmp[k++] = '0';
        tmp[k++] = '.';
        for (size_t i = n; i < d; i++)
            tmp[k++] = '0';
        memcpy(tmp + k, base, n), k += n;
    } else {
        memcpy(tmp, base, n - d), k = n - d;
        if (d) {
            tmp[k++] = '.';
            memcpy(tmp + k, base + n - d, d), k += d;
        }
    }
    if (d) { /* no trailing zeros, nor a bare point */
        while (tmp[k - 1] == '0')
            k--;
        if (tmp[k - 1] == '.') k--;
    }
    if (k + 1 > cap) return UTIL_EINVAL;
    memcpy(out, tmp, k);
    out[k] = 0;
    return 0;
}
