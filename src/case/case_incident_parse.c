/* case: reading incident files (CSV as data/incidents/ ships them, and YAML) into checked
 * case_incident records. Everything about the form of a field is checked here, with the file and
 * line (CSV) or the YAML path, so that an import can refuse a file before it writes anything;
 * whether a seed is in the store is the import's check (case_incident.c). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "case_inc_int.h"

int inc_fail(const inc_loc *l, util_err *err, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->ypath)
        return util_errf(err, code, "%s: %s (line %ld): %s", l->path, l->ypath, l->line, msg);
    if (l->col) return util_errf(err, code, "%s:%ld: column %s: %s", l->path, l->line, l->col, msg);
    return util_errf(err, code, "%s:%ld: %s", l->path, l->line, msg);
}

char *inc_origin(const inc_loc *l)
{
    char t[600];
    if (l->ypath)
        snprintf(t, sizeof t, "%s: %s (line %ld)", l->path, l->ypath, l->line);
    else
        snprintf(t, sizeof t, "%s:%ld", l->path, l->line);
    return strdup(t);
}

/* ---------------- sets ---------------- */

void case_inc_set_free(case_inc_set *s)
{
    for (size_t i = 0; i < s->n_inc; i++)
        case_incident_free(&s->inc[i]);
    for (size_t i = 0; i < s->n_rows; i++) {
        free(s->rows[i].slug), free(s->rows[i].where);
        case_incident_seed *x = &s->rows[i].seed;
        free(x->chain), free(x->spec), free(x->role), free(x->note), free(x->url), free(x->origin);
    }
    free(s->inc), free(s->rows);
    memset(s, 0, sizeof *s);
}

int inc_grow(void **a, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? 2 * *cap : 8;
    void *na = realloc(*a, nc * elem);
    if (!na) return UTIL_ENOMEM;
    memset((char *)na + *cap * elem, 0, (nc - *cap) * elem);
    *a = na, *cap = nc;
    return 0;
}

/* ---------------- field checks ---------------- */

int inc_set_str(char **dst, const char *v, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return UTIL_ENOMEM;
    memcpy(s, v, n);
    s[n] = 0;
    free(*dst);
    *dst = s;
    return 0;
}

/* v without surrounding spaces, into *dst, checked as case text. */
int inc_set_text(const inc_loc *l, util_err *err, char **dst, const char *v, size_t max,
                 int multiline)
{
    size_t n = strlen(v);
    while (n && isspace((unsigned char)*v))
        v++, n--;
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n > max) return inc_fail(l, err, UTIL_EFORMAT, "%zu bytes, over the limit of %zu", n, max);
    char what[48];
    size_t at = labels_text_check(v, n, multiline, what);
    if (at < n)
        return inc_fail(l, err, UTIL_EFORMAT, "%s at byte %zu (no terminal control characters)",
                        what, at + 1);
    if (inc_set_str(dst, v, n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

static int inc_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return n > 0;
}

/* "", YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z, with months and days in range. */
int inc_check_date(const inc_loc *l, util_err *err, const char *d)
{
    size_t n = strlen(d);
    if (!n) return 0;
    int ok = n >= 4 && inc_all_digits(d, 4);
    if (ok && n > 4) ok = n >= 7 && d[4] == '-' && inc_all_digits(d + 5, 2);
    if (ok && n > 7) ok = n >= 10 && d[7] == '-' && inc_all_digits(d + 8, 2);
    if (ok && n > 10) {
        ok = (n == 17 || n == 20) && d[10] == 'T' && inc_all_digits(d + 11, 2) && d[13] == ':' &&
             inc_all_digits(d + 14, 2) && d[n - 1] == 'Z';
        if (ok && n == 20) ok = d[16] == ':' && inc_all_digits(d + 17, 2);
        if (ok) ok = atoi(d + 11) < 24 && atoi(d + 14) < 60 && (n == 17 || atoi(d + 17) <= 60);
    }
    if (ok && n >= 7) ok = atoi(d + 5) >= 1 && atoi(d + 5) <= 12;
    if (ok && n >= 10) {
        static const int md[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int day = atoi(d + 8);
        ok = day >= 1 && day <= md[atoi(d + 5) - 1];
    }
    if (ok) ok = atoi(d) >= 1970;
    if (!ok)
        return inc_fail(l, err, UTIL_EFORMAT,
                        "'%.40s' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM[:SS]Z)",
                        d);
    return 0;
}

int case_inc_chain(const char *name, char out[32], util_err *err)
{
    /* the names data/incidents writes, and a few more */
    static const char *const map[][2] = {
        {"bitcoin", "btc"},
        {"ethereum", "eth"},
        {"tron", "trx"},
        {"litecoin", "ltc"},
        {"stellar", "xlm"},
        {"solana", "sol"},
        {"avalanche", "avax"},
        {"dogecoin", "doge"},
        {"ripple", "xrp"},
        {"bnb", "bsc"},
        {"binance smart chain", "bsc"},
        {"bitcoin cash", "bch"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcasecmp(name, map[i][0])) {
            snprintf(out, 32, "%s", map[i][1]);
            return 0;
        }
    util_err e2 = {0};
    if (labels_chain_from_currency(out, name, &e2))
        return util_errf(err, UTIL_EINVAL, "'%.40s' is not a chain name", name);
    for (const char *p = out; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' && *p != '_')
            return util_errf(err, UTIL_EINVAL, "'%.40s' is not a chain name", name);
    return 0;
}

/* Split v at any of seps into trimmed items; calls fn(item, len, ctx) for each. An empty item
 * (two separators in a row, or one at the end) is UTIL_EFORMAT with *empty set. */
int inc_split_items(const char *v, const char *seps, inc_item_fn fn, void *ctx, int *empty)
{
    *empty = 0;
    const char *p = v;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) return 0;
    for (;;) {
        size_t n = strcspn(p, seps), m = n;
        const char *s = p;
        while (m && isspace((unsigned char)*s))
            s++, m--;
        while (m && isspace((unsigned char)s[m - 1]))
            m--;
        if (!m) {
            *empty = 1;
            return UTIL_EFORMAT;
        }
        int rc = fn(s, m, ctx);
        if (rc) return rc;
        if (!p[n]) return 0;
        p += n + 1;
    }
}

/* Tokens separated by runs of any of seps (a list of seeds). */
static int for_each_token(const char *v, const char *seps, inc_item_fn fn, void *ctx)
{
    const char *p = v;
    for (;;) {
        p += strspn(p, seps);
        if (!*p) return 0;
        size_t n = strcspn(p, seps);
        int rc = fn(p, n, ctx);
        if (rc) return rc;
        p += n;
    }
}

typedef struct chains_ctx {
    util_buf b;
    util_err *err;
} chains_ctx;

static int chain_item(const char *s, size_t n, void *ctx)
{
    chains_ctx *c = ctx;
    char name[64], code[32];
    if (n >= sizeof name) return util_errf(c->err, UTIL_EFORMAT, "'%.20s...': too long", s);
    memcpy(name, s, n);
    name[n] = 0;
    int rc = case_inc_chain(name, code, c->err);
    if (rc) return rc;
    /* once each, in the order given */
    const char *have = c->b.len ? (const char *)c->b.data : "";
    for (const char *p = have; *p;) {
        size_t k = strcspn(p, ",");
        if (k == strlen(code) && !strncmp(p, code, k)) return 0;
        p += k + (p[k] == ',');
    }
    if (c->b.len) c->b.len--; /* the NUL */
    if (util_buf_printf(&c->b, "%s%s", c->b.len ? "," : "", code) || util_buf_append(&c->b, "", 1))
        return UTIL_ENOMEM;
    return 0;
}

/* "bitcoin;ethereum" (or ","-separated) -> "btc,eth". */
int inc_set_chains(const inc_loc *l, util_err *err, char **dst, const char *v)
{
    chains_ctx c = {.err = err};
    int empty, rc = inc_split_items(v, ";,", chain_item, &c, &empty);
    if (rc == UTIL_ENOMEM) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (rc && empty) rc = inc_fail(l, err, UTIL_EFORMAT, "an empty chain name");
    if (rc && !empty && rc != UTIL_ENOMEM) {
        char m[600];
        snprintf(m, sizeof m, "%.500s", err ? err->msg : "");
        rc = inc_fail(l, err, UTIL_EFORMAT, "%s", m);
    }
    if (!rc)
        rc = inc_set_str(dst, c.b.len ? (const char *)c.b.data : "", c.b.len ? c.b.len - 1 : 0);
    util_buf_free(&c.b);
    return rc;
}

typedef struct amount_ctx {
    const char *usd; /* the USD figure found */
    size_t usd_len;
    int n_usd;
    int fiat;
    util_err *err;
} amount_ctx;

/* "DECIMAL UNIT": digits with at most one point, one space, a unit of letters and digits. */
static int amount_item(const char *s, size_t n, void *ctx)
{
    amount_ctx *a = ctx;
    size_t k = 0, dots = 0, digits = 0;
    while (k < n && (isdigit((unsigned char)s[k]) || s[k] == '.'))
        dots += s[k] == '.', digits += s[k] != '.', k++;
    int ok = digits && dots <= 1 && s[0] != '.' && s[k - 1] != '.' && k < n && s[k] == ' ';
    size_t u = k + 1, ul = ok ? n - u : 0;
    for (size_t i = u; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-';
    ok = ok && ul >= 1 && ul <= 16 && k <= 40;
    if (!ok)
        return util_errf(a->err, UTIL_EFORMAT,
                         "'%.*s' is not an amount (DECIMAL UNIT, e.g. \"173600 ETH\")",
                         (int)(n < 60 ? n : 60), s);
    if (a->fiat && ul == 3 && !strncmp(s + u, "USD", 3)) {
        a->usd = s, a->usd_len = k, a->n_usd++;
        if (a->n_usd > 1) return util_errf(a->err, UTIL_EFORMAT, "more than one USD figure");
        /* cents at most: a stated dollar figure has no finer digits */
        const char *dot = memchr(s, '.', k);
        if (dot && (size_t)(s + k - dot - 1) > 2)
            return util_errf(a->err, UTIL_EFORMAT, "'%.*s USD': more than 2 decimals", (int)k, s);
    }
    return 0;
}

int inc_set_amounts(const inc_loc *l, util_err *err, char **dst, char **usd, const char *v)
{
    amount_ctx a = {.fiat = usd != NULL, .err = err};
    int empty, rc = inc_split_items(v, ";", amount_item, &a, &empty);
    if (rc) {
        char m[600];
        snprintf(m, sizeof m, "%.500s",
                 empty ? "an empty amount between ';'"
                 : err ? err->msg
                       : "");
        return rc == UTIL_ENOMEM ? rc : inc_fail(l, err, UTIL_EFORMAT, "%s", m);
    }
    rc = inc_set_text(l, err, dst, v, CASE_MAX_TEXT, 0);
    if (!rc && usd) rc = inc_set_str(usd, a.usd ? a.usd : "", a.usd ? a.usd_len : 0);
    return rc;
}

int inc_check_url(const inc_loc *l, util_err *err, const char *u, size_t n)
{
    int ok = (n > 8 && !strncmp(u, "https://", 8)) || (n > 7 && !strncmp(u, "http://", 7));
    for (size_t i = 0; ok && i < n; i++)
        ok =
            (unsigned char)u[i] > 0x20 && u[i] != 0x7f && u[i] != '"' && u[i] != '<' && u[i] != '>';
    if (!ok || n > INC_MAX_URL)
        return inc_fail(l, err, UTIL_EFORMAT,
                        "'%.*s' is not a URL (http:// or https://, no spaces or quotes)",
                        (int)(n < 80 ? n : 80), u);
    char what[48];
    if (labels_text_check(u, n, 0, what) < n) return inc_fail(l, err, UTIL_EFORMAT, "%s", what);
    return 0;
}

int inc_add_url(const inc_loc *l, util_err *err, case_incident *inc, const char *role,
                const char *u, size_t n)
{
    int rc = inc_check_url(l, err, u, n);
    if (rc) return rc;
    for (size_t i = 0; i < inc->n_urls; i++) /* a page cited twice is listed once */
        if (strlen(inc->urls[i].url) == n && !strncmp(inc->urls[i].url, u, n) &&
            !strcmp(inc->urls[i].role, role))
            return 0;
    case_source_url *a = realloc(inc->urls, (inc->n_urls + 1) * sizeof *a);
    if (!a) return util_errf(err, UTIL_ENOMEM, "out of memory");
    inc->urls = a;
    case_source_url *x = &a[inc->n_urls];
    memset(x, 0, sizeof *x);
    if (inc_set_str(&x->role, role, strlen(role)) || inc_set_str(&x->url, u, n)) {
        free(x->role), free(x->url);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    inc->n_urls++;
    return 0;
}

/* A list of URLs separated by spaces (other_source_urls). */
int inc_add_urls(const inc_loc *l, util_err *err, case_incident *inc, const char *role,
                 const char *v)
{
    const char *p = v;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, " \t\r\n");
        if (n) {
            int rc = inc_add_url(l, err, inc, role, p, n);
            if (rc) return rc;
        }
        p += n;
    }
    return 0;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

int case_inc_check_spec(const char *chain, const char *spec, util_err *err)
{
    size_t n = strlen(spec);
    const char *colon = strchr(spec, ':');
    if (!strcmp(chain, "btc")) {
        if (n >= 64 && is_hex(spec, 64) &&
            (n == 64 ||
             (spec[64] == ':' && n > 65 && n < 65 + 10 && inc_all_digits(spec + 65, n - 65))))
            return 0;
        char canon[128];
        util_err e2 = {0};
        if (!colon && !labels_canon_address(canon, "btc", spec, &e2)) return 0;
        return util_errf(err, UTIL_EINVAL,
                         "'%.80s' is not a Bitcoin seed (TXID:N, TXID or an address)", spec);
    }
    size_t hl = colon ? (size_t)(colon - spec) : n;
    int ok = hl > 2 && spec[0] == '0' && (spec[1] == 'x' || spec[1] == 'X') &&
             is_hex(spec + 2, hl - 2) && (hl == 66 || hl == 42);
    if (ok && colon) {
        const char *r = colon + 1;
        if (hl == 66)
            ok = inc_all_digits(r, strlen(r)) && strlen(r) < 10;
        else { /* FROM-TO, either side may be empty */
            const char *dash = strchr(r, '-');
            ok = dash && strchr(dash + 1, '-') == NULL &&
                 (dash == r || inc_all_digits(r, (size_t)(dash - r))) &&
                 (!dash[1] || inc_all_digits(dash + 1, strlen(dash + 1)));
        }
    }
    if (!ok)
        return util_errf(err, UTIL_EINVAL,
                         "'%.80s' is not an EVM seed (0xTXHASH[:N] or 0xADDRESS[:FROM-TO])", spec);
    return 0;
}

/* The chain of a seed: given, else Bitcoin unless it starts with 0x, else the incident's first
 * chain that is not Bitcoin (eth if it names none). */
static void seed_chain(const case_incident *inc, const char *given, const char *spec, char out[32])
{
    if (given && *given) {
        snprintf(out, 32, "%s", given);
        return;
    }
    if (strncmp(spec, "0x", 2) && strncmp(spec, "0X", 2)) {
        snprintf(out, 32, "btc");
        return;
    }
    snprintf(out, 32, "eth");
    const char *p = inc && inc->chains ? inc->chains : "";
    while (*p) {
        size_t k = strcspn(p, ",");
        if (!(k == 3 && !strncmp(p, "btc", 3)) && k < 32) {
            memcpy(out, p, k);
            out[k] = 0;
            return;
        }
        p += k + (p[k] == ',');
    }
}

/* Fill a seed (all strings owned by it), checked. chain: a chain name or code ("" or NULL:
 * seed_chain). */
int inc_make_seed(const inc_loc *l, util_err *err, const case_incident *inc, const char *chain,
                  const char *spec, const char *role, const char *note, const char *url,
                  case_incident_seed *out)
{
    memset(out, 0, sizeof *out);
    char code[32] = "";
    int rc = 0;
    if (chain && *chain && case_inc_chain(chain, code, err)) {
        char m[600];
        snprintf(m, sizeof m, "%.500s", err ? err->msg : "");
        return inc_fail(l, err, UTIL_EFORMAT, "chain: %s", m);
    }
    char c[32];
    seed_chain(inc, code, spec, c);
    if ((rc = inc_set_text(l, err, &out->spec, spec, CASE_MAX_TEXT, 0))) goto fail;
    if (!*out->spec) {
        rc = inc_fail(l, err, UTIL_EFORMAT, "an empty seed");
        goto fail;
    }
    util_err e2 = {0};
    if (case_inc_check_spec(c, out->spec, &e2)) {
        rc = inc_fail(l, err, UTIL_EFORMAT, "%s (chain %s)", e2.msg, c);
        goto fail;
    }
    if ((rc = inc_set_str(&out->chain, c, strlen(c))) ||
        (rc = inc_set_text(l, err, &out->role, role ? role : "", 64, 0)) ||
        (rc = inc_set_text(l, err, &out->note, note ? note : "", CASE_MAX_LONG, 1)) ||
        (rc = inc_set_str(&out->url, "", 0)))
        goto fail;
    if (url && *url) {
        size_t n = strlen(url);
        while (n && isspace((unsigned char)url[n - 1]))
            n--;
        while (n && isspace((unsigned char)*url))
            url++, n--;
        if (n && ((rc = inc_check_url(l, err, url, n)) || (rc = inc_set_str(&out->url, url, n))))
            goto fail;
    }
    if (!(out->origin = inc_origin(l))) {
        rc = UTIL_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    if (rc == UTIL_ENOMEM) util_errf(err, UTIL_ENOMEM, "out of memory");
    free(out->chain), free(out->spec), free(out->role), free(out->note), free(out->url);
    free(out->origin);
    memset(out, 0, sizeof *out);
    return rc;
}

int inc_push_seed(util_err *err, case_incident *inc, case_incident_seed *s)
{
    for (size_t i = 0; i < inc->n_seeds; i++) /* the same seed twice: once */
        if (!strcmp(inc->seeds[i].chain, s->chain) && !strcmp(inc->seeds[i].spec, s->spec)) {
            free(s->chain), free(s->spec), free(s->role), free(s->note), free(s->url);
            free(s->origin);
            return 0;
        }
    case_incident_seed *a = realloc(inc->seeds, (inc->n_seeds + 1) * sizeof *a);
    if (!a) return util_errf(err, UTIL_ENOMEM, "out of memory");
    inc->seeds = a;
    a[inc->n_seeds++] = *s;
    return 0;
}

int inc_check_slug(const inc_loc *l, util_err *err, const char *s)
{
    size_t n = strlen(s);
    int ok = n >= 1 && n <= INC_MAX_SLUG && isalnum((unsigned char)s[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.';
    if (!ok)
        return inc_fail(l, err, UTIL_EFORMAT,
                        "'%.60s' is not an incident id (letters, digits, '-', '_', '.'; at most "
                        "%d bytes)",
                        s, INC_MAX_SLUG);
    return 0;
}

int inc_parse_confidence(const inc_loc *l, util_err *err, const char *v, int *out)
{
    *out = -1;
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    while (n && isspace((unsigned char)*v))
        v++, n--;
    if (!n) return 0;
    if (!inc_all_digits(v, n) || n > 3 || atoi(v) > 100)
        return inc_fail(l, err, UTIL_EFORMAT, "'%.20s' is not a confidence 0..100", v);
    *out = atoi(v);
    return 0;
}

/* Attributions from the CSV's columns: one per actor of a ';'-separated list, each with the
 * row's attributed_by, kind, date, confidence and attribution URL. */

int inc_attr_item(const char *s, size_t n, void *ctx)
{
    inc_attr_ctx *a = ctx;
    case_attribution *v = realloc(a->inc->attrs, (a->inc->n_attrs + 1) * sizeof *v);
    if (!v) return UTIL_ENOMEM;
    a->inc->attrs = v;
    case_attribution *x = &v[a->inc->n_attrs];
    memset(x, 0, sizeof *x);
    x->confidence = a->confidence;
    if (inc_set_str(&x->actor, s, n) || inc_set_str(&x->attributed_by, a->by, strlen(a->by)) ||
        inc_set_str(&x->kind, a->kind, strlen(a->kind)) ||
        inc_set_str(&x->date, a->date, strlen(a->date)) ||
        inc_set_str(&x->url, a->url, strlen(a->url))) {
        free(x->actor), free(x->attributed_by), free(x->kind), free(x->date), free(x->url);
        return UTIL_ENOMEM;
    }
    a->inc->n_attrs++;
    return 0;
}

int inc_check_kind(const inc_loc *l, util_err *err, const char *k)
{
    for (const char *p = k; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '-')
            return inc_fail(l, err, UTIL_EFORMAT,
                            "'%.40s' is not a kind word (government, un, analytics, "
                            "investigator, victim, press, ...)",
                            k);
    return strlen(k) > 32 ? inc_fail(l, err, UTIL_EFORMAT, "kind: too long") : 0;
}

/* ---------------- CSV ---------------- */

enum {
    C_ID,
    C_DATE,
    C_VICTIM,
    C_CHAINS,
    C_NATIVE,
    C_FIAT,
    C_ATTRIBUTION,
    C_BY,
    C_KIND,
    C_ADATE,
    C_CONFIDENCE,
    C_INC_URL,
    C_ATTR_URL,
    C_OTHER_URLS,
    C_OFFICIAL_URL,
    C_NOTES,
    C_SEEDS,
    C_N
};
static const char *const inc_cols[C_N] = {"id",
                                          "date",
                                          "victim",
                                          "chains",
                                          "amount_native",
                                          "amount_fiat",
                                          "attribution",
                                          "attributed_by",
                                          "attribution_kind",
                                          "attribution_date",
                                          "confidence",
                                          "incident_source_url",
                                          "attribution_source_url",
                                          "other_source_urls",
                                          "official_url",
                                          "notes",
                                          "seeds"};

enum { S_INCIDENT, S_CHAIN, S_ADDRESS, S_ROLE, S_LABEL, S_SOURCE_FILE, S_SOURCE_URL, S_NOTES, S_N };
static const char *const seed_cols[S_N] = {"incident_id", "chain",       "address",    "role",
                                           "label",       "source_file", "source_url", "notes"};

/* The row's fields as NUL-terminated copies, by column index of the header. */
typedef struct csv_row {
    char *v[EVM_CSV_MAX_FIELDS];
} csv_row;

static void row_free(csv_row *r)
{
    for (int i = 0; i < EVM_CSV_MAX_FIELDS; i++)
        free(r->v[i]), r->v[i] = NULL;
}

static int row_take(csv_row *r, const evm_csv *c)
{
    for (size_t i = 0; i < c->nf; i++)
        if (inc_set_str(&r->v[i], c->f[i], c->flen[i])) return UTIL_ENOMEM;
    return 0;
}

typedef struct seeds_ctx {
    const inc_loc *l;
    util_err *err;
    case_incident *inc;
} seeds_ctx;

static int seed_item(const char *s, size_t n, void *ctx)
{
    seeds_ctx *c = ctx;
    char spec[CASE_MAX_TEXT + 1];
    if (n > CASE_MAX_TEXT)
        return inc_fail(c->l, c->err, UTIL_EFORMAT, "a seed over %d bytes", CASE_MAX_TEXT);
    memcpy(spec, s, n);
    spec[n] = 0;
    case_incident_seed x;
    int rc = inc_make_seed(c->l, c->err, c->inc, NULL, spec, "", "", "", &x);
    if (!rc) rc = inc_push_seed(c->err, c->inc, &x);
    return rc;
}

static int csv_incident(const char *path, const evm_csv *c, const int *col, case_inc_set *set,
                        util_err *err)
{
    csv_row r = {0};
    inc_loc l = {.path = path, .line = (long)c->line};
    if (row_take(&r, c)) return util_errf(err, UTIL_ENOMEM, "out of memory");
#define V(k) (col[k] >= 0 && r.v[col[k]] ? r.v[col[k]] : "")
#define AT(k) (l.col = inc_cols[k], &l)
    int rc = inc_grow((void **)&set->inc, &set->cap_inc, set->n_inc, sizeof *set->inc);
    if (rc) {
        row_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    case_incident *inc = &set->inc[set->n_inc];
    memset(inc, 0, sizeof *inc);
    set->n_inc++; /* freed with the set on error */
    int conf = -1;
    char *kind = NULL, *adate = NULL, *by = NULL, *attr = NULL;
    if (!(rc = inc_set_text(AT(C_ID), err, &inc->slug, V(C_ID), INC_MAX_SLUG, 0)) &&
        !(rc = inc_check_slug(AT(C_ID), err, inc->slug)) &&
        !(rc = inc_set_text(AT(C_DATE), err, &inc->date, V(C_DATE), 32, 0)) &&
        !(rc = inc_check_date(AT(C_DATE), err, inc->date)) &&
        !(rc = inc_set_text(AT(C_VICTIM), err, &inc->victim, V(C_VICTIM), CASE_MAX_TEXT, 0)) &&
        !(rc = inc_set_chains(AT(C_CHAINS), err, &inc->chains, V(C_CHAINS))) &&
        !(rc = inc_set_amounts(AT(C_NATIVE), err, &inc->amount_native, NULL, V(C_NATIVE))) &&
        !(rc = inc_set_amounts(AT(C_FIAT), err, &inc->amount_fiat, &inc->usd, V(C_FIAT))) &&
        !(rc = inc_set_text(AT(C_NOTES), err, &inc->notes, V(C_NOTES), CASE_MAX_LONG, 1)) &&
        !(rc = inc_set_text(AT(C_ATTRIBUTION), err, &attr, V(C_ATTRIBUTION), CASE_MAX_TEXT, 0)) &&
        !(rc = inc_set_text(AT(C_BY), err, &by, V(C_BY), CASE_MAX_TEXT, 0)) &&
        !(rc = inc_set_text(AT(C_KIND), err, &kind, V(C_KIND), 32, 0)) &&
        !(rc = inc_check_kind(AT(C_KIND), err, kind)) &&
        !(rc = inc_set_text(AT(C_ADATE), err, &adate, V(C_ADATE), 32, 0)) &&
        !(rc = inc_check_date(AT(C_ADATE), err, adate)) &&
        !(rc = inc_parse_confidence(AT(C_CONFIDENCE), err, V(C_CONFIDENCE), &conf))) {
        if (!*inc->slug) rc = inc_fail(AT(C_ID), err, UTIL_EFORMAT, "empty: every row needs an id");
    }
    /* the attribution URL is checked before the attributions take it */
    const char *aurl = V(C_ATTR_URL);
    size_t aul = strlen(aurl);
    while (aul && isspace((unsigned char)aurl[aul - 1]))
        aul--;
    while (aul && isspace((unsigned char)*aurl))
        aurl++, aul--;
    char *aurl_s = NULL;
    if (!rc && aul) rc = inc_check_url(AT(C_ATTR_URL), err, aurl, aul);
    if (!rc && inc_set_str(&aurl_s, aurl, aul)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc) {
        inc_attr_ctx a = {inc, by, kind, adate, aurl_s, conf, err};
        int empty;
        rc = inc_split_items(attr, ";", inc_attr_item, &a, &empty);
        if (rc == UTIL_ENOMEM)
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        else if (rc)
            rc = inc_fail(AT(C_ATTRIBUTION), err, UTIL_EFORMAT, "an empty actor between ';'");
        if (!rc && !inc->n_attrs && (*by || *kind))
            rc = inc_fail(AT(C_ATTRIBUTION), err, UTIL_EFORMAT,
                          "empty, but attributed_by or attribution_kind is given");
    }
    if (!rc && *V(C_INC_URL)) rc = inc_add_urls(AT(C_INC_URL), err, inc, "incident", V(C_INC_URL));
    if (!rc && aul) rc = inc_add_url(AT(C_ATTR_URL), err, inc, "attribution", aurl, aul);
    if (!rc && *V(C_OTHER_URLS))
        rc = inc_add_urls(AT(C_OTHER_URLS), err, inc, "other", V(C_OTHER_URLS));
    if (!rc && *V(C_OFFICIAL_URL))
        rc = inc_add_urls(AT(C_OFFICIAL_URL), err, inc, "official", V(C_OFFICIAL_URL));
    if (!rc && *V(C_SEEDS)) {
        seeds_ctx sc = {AT(C_SEEDS), err, inc};
        rc = for_each_token(V(C_SEEDS), "; \t\r\n", seed_item, &sc);
    }
    if (!rc && !(inc->origin = inc_origin(&l))) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
#undef V
#undef AT
    free(kind), free(adate), free(by), free(attr), free(aurl_s);
    row_free(&r);
    return rc;
}

static int csv_seed_row(const char *path, const evm_csv *c, const int *col, case_inc_set *set,
                        util_err *err)
{
    csv_row r = {0};
    inc_loc l = {.path = path, .line = (long)c->line};
    if (row_take(&r, c)) return util_errf(err, UTIL_ENOMEM, "out of memory");
#define V(k) (col[k] >= 0 && r.v[col[k]] ? r.v[col[k]] : "")
    int rc = 0;
    char *note = NULL;
    /* the TagPack label goes into the note, before the file's notes */
    util_buf nb = {0};
    const char *label = V(S_LABEL), *notes = V(S_NOTES), *srcf = V(S_SOURCE_FILE);
    if (util_buf_printf(&nb, "%s%s%s%s%s%s%s", *label ? "label: " : "", label,
                        *label && (*srcf || *notes) ? "; " : "", *srcf ? "from " : "", srcf,
                        *srcf && *notes ? "; " : "", notes) ||
        util_buf_append(&nb, "", 1))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    note = (char *)nb.data;
    /* one seed per incident of a ';'-separated list */
    const char *ids = V(S_INCIDENT);
    l.col = seed_cols[S_INCIDENT];
    if (!rc && !*ids) rc = inc_fail(&l, err, UTIL_EFORMAT, "empty: every row names an incident");
    const char *p = ids;
    while (!rc && *p) {
        size_t n = strcspn(p, ";");
        char slug[INC_MAX_SLUG + 2];
        const char *s = p;
        size_t m = n;
        while (m && isspace((unsigned char)*s))
            s++, m--;
        while (m && isspace((unsigned char)s[m - 1]))
            m--;
        if (m > INC_MAX_SLUG) m = INC_MAX_SLUG + 1;
        memcpy(slug, s, m);
        slug[m] = 0;
        l.col = seed_cols[S_INCIDENT];
        if ((rc = inc_check_slug(&l, err, slug))) break;
        if ((rc = inc_grow((void **)&set->rows, &set->cap_rows, set->n_rows, sizeof *set->rows))) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        case_inc_seedrow *row = &set->rows[set->n_rows];
        memset(row, 0, sizeof *row);
        l.col = seed_cols[S_ADDRESS];
        if ((rc = inc_make_seed(&l, err, NULL, V(S_CHAIN), V(S_ADDRESS), V(S_ROLE), note,
                                V(S_SOURCE_URL), &row->seed)))
            break;
        if (!(row->slug = strdup(slug)) || !(row->where = inc_origin(&l))) {
            set->n_rows++;
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        set->n_rows++;
        p += n + (p[n] == ';');
    }
#undef V
    free(note);
    row_free(&r);
    return rc;
}

static int parse_csv(const char *path, const char *data, size_t len, case_inc_set *set,
                     util_err *err)
{
    evm_csv c;
    evm_csv_init(&c, path, data, len);
    int rc = evm_csv_next(&c, err);
    if (rc <= 0) {
        evm_csv_free(&c);
        return rc ? rc : util_errf(err, UTIL_EFORMAT, "%s: empty: no header line", path);
    }
    rc = 0;
    /* which kind of file: incidents (id, ...) or seeds (incident_id, ...) */
    int is_seeds = 0, col[(int)C_N > (int)S_N ? (int)C_N : (int)S_N];
    for (size_t i = 0; i < c.nf; i++)
        if (c.flen[i] == 11 && !memcmp(c.f[i], "incident_id", 11)) is_seeds = 1;
    const char *const *names = is_seeds ? seed_cols : inc_cols;
    int nn = is_seeds ? S_N : C_N;
    for (int k = 0; k < nn; k++)
        col[k] = -1;
    inc_loc l = {.path = path, .line = 1};
    for (size_t i = 0; i < c.nf && !rc; i++) {
        int k = 0;
        while (k < nn && !(strlen(names[k]) == c.flen[i] && !memcmp(names[k], c.f[i], c.flen[i])))
            k++;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(c.flen[i] < 60 ? c.flen[i] : 60), c.f[i]);
        if (k == nn)
            rc = inc_fail(&l, err, UTIL_EFORMAT,
                          "column '%s' is not one of the %s columns (docs/incidents.md)", name,
                          is_seeds ? "seed file's" : "incident file's");
        else if (col[k] >= 0)
            rc = inc_fail(&l, err, UTIL_EFORMAT, "column '%s' twice", name);
        else
            col[k] = (int)i;
    }
    if (!rc && !is_seeds && col[C_ID] < 0)
        rc = inc_fail(&l, err, UTIL_EFORMAT,
                      "no column 'id' (an incident file) or 'incident_id' "
                      "(a seed file)");
    if (!rc && is_seeds && (col[S_ADDRESS] < 0))
        rc = inc_fail(&l, err, UTIL_EFORMAT, "a seed file needs a column 'address'");
    size_t ncols = c.nf;
    while (!rc && (rc = evm_csv_next(&c, err)) == 1) {
        if (c.nf == 1 && c.flen[0] == 0) { /* an empty line */
            rc = 0;
            continue;
        }
        if (c.nf != ncols) {
            l.line = (long)c.line;
            rc = inc_fail(&l, err, UTIL_EFORMAT, "%zu fields, the header has %zu", c.nf, ncols);
            break;
        }
        rc = is_seeds ? csv_seed_row(path, &c, col, set, err)
                      : csv_incident(path, &c, col, set, err);
    }
    evm_csv_free(&c);
    return rc < 0 ? rc : 0;
}

int case_inc_parse_file(const char *path, case_inc_set *set, util_err *err)
{
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    size_t pl = strlen(path);
    int yaml =
        (pl > 5 && !strcmp(path + pl - 5, ".yaml")) || (pl > 4 && !strcmp(path + pl - 4, ".yml"));
    if (memchr(data, 0, len))
        rc = util_errf(err, UTIL_EFORMAT, "%s: a NUL byte at offset %zu: not a text file", path,
                       (size_t)((uint8_t *)memchr(data, 0, len) - data));
    else
        rc = yaml ? case_inc_parse_yaml(path, (const char *)data, len, set, err)
                  : parse_csv(path, (const char *)data, len, set, err);
    free(data);
    return rc;
}
