/* labels: the import's side that meets the set: each parsed label validated and copied, the
 * merge into the set, and the file's format detected and handed to a parser of labels_import.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels_int.h"

/* ---------------- import: merge ---------------- */

void labels_import_result_free(labels_import_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    memset(r, 0, sizeof *r);
}

void labels_ctx_warn(labels_ctx *c, long line, const char *fmt, ...)
{
    labels_import_result *r = c->res;
    if (r->n_warnings >= LABELS_MAX_WARNINGS) return;
    char msg[900];
    int off = line > 0 ? snprintf(msg, sizeof msg, "%s:%ld: ", c->path, line)
                       : snprintf(msg, sizeof msg, "%s: ", c->path);
    if (off < 0 || (size_t)off >= sizeof msg) off = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
    va_end(ap);
    char **w = realloc(r->warnings, (r->n_warnings + 1) * sizeof *w);
    if (!w) return;
    r->warnings = w;
    if ((w[r->n_warnings] = strdup(msg))) r->n_warnings++;
}

static char *dup_trim(const char *s)
{
    if (!s) s = "";
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

int labels_ctx_check(labels_ctx *c, long line, const char *field, const char *s, size_t n,
                     size_t max, int multiline)
{
    char where[4300], what[48];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%ld", c->path, line);
    else
        snprintf(where, sizeof where, "%s", c->path);
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n > max)
        return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: %zu bytes, over the limit of %zu",
                         where, field, n, max);
    size_t at = labels_text_check(s, n, multiline, what);
    if (at < n)
        return util_errf(c->err, UTIL_EFORMAT,
                         "%s: field %s: %s at byte %zu (label text may not carry terminal "
                         "control characters)",
                         where, field, what, at + 1);
    return 0;
}

int labels_ctx_add(labels_ctx *c, long line, const labels_raw *r)
{
    char where[4300];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%ld", c->path, line);
    else
        snprintf(where, sizeof where, "%s", c->path);
    /* The parsers check their fields under their own names; this catches the rest (OFAC XML
     * names, --source) before any message quotes a value. */
    const char *const text[] = {r->currency,   r->address,   r->category, r->actor,
                                r->name,       r->source,    r->url,      r->programs,
                                r->first_seen, r->last_seen, r->updated,  c->opts->source};
    const char *const tname[] = {c->chain_field, "address",   "category", "actor",
                                 "name",         "source",    "url",      "programs",
                                 "first_seen",   "last_seen", "updated",  "source"};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
        if (!text[i]) continue;
        int free_text = i >= 3 && i <= 5;
        int rc = labels_ctx_check(c, line, tname[i], text[i], strlen(text[i]),
                                  i == 2   ? LABELS_MAX_CATEGORY
                                  : i == 4 ? c->name_max
                                           : LABELS_MAX_TEXT,
                                  free_text);
        if (rc) return rc;
    }
    const char *cur = r->currency && *r->currency ? r->currency : c->opts->chain;
    if (!cur || !*cur)
        return util_errf(c->err, UTIL_EFORMAT,
                         "%s: field %s: missing (the file does not say the chain; give --chain)",
                         where, c->chain_field);
    char chain[32], addr[128];
    util_err e = {0};
    if (labels_chain_from_currency(chain, cur, &e))
        return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: %s", where, c->chain_field, e.msg);
    char *a = dup_trim(r->address);
    if (!a) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    if (!*a) {
        free(a);
        return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: missing or empty", where,
                         c->addr_field);
    }
    int rc = labels_canon_address(addr, chain, a, &e);
    free(a);
    if (rc) {
        c->res->n_rejected++;
        if (c->opts->strict)
            return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: %s (chain %s)", where,
                             c->addr_field, e.msg, chain);
        labels_ctx_warn(c, line, "field %s: %s (chain %s): rejected", c->addr_field, e.msg, chain);
        return 0;
    }
    labels_label l = {0};
    const char *src[LABELS_NSTR] = {
        chain,        addr,        r->category,
        r->actor,     r->name,     c->opts->source ? c->opts->source : r->source,
        r->url,       r->programs, r->first_seen,
        r->last_seen, r->updated};
    int oom = 0;
    for (size_t i = 0; i < LABELS_NSTR; i++)
        if (!(LABELS_FIELD(&l, i) = dup_trim(src[i]))) oom = 1;
    if (!oom && !*l.category) {
        free(l.category);
        oom = !(l.category = strdup("unknown"));
    }
    l.confidence = r->confidence;
    if (oom || labels_vec_push(&c->out, &l)) {
        labels_label_free(&l);
        return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    }
    c->res->n_read++;
    return 0;
}

typedef struct seq_label {
    labels_label l;
    size_t seq;
} seq_label;

static int cmp_seq(const void *a, const void *b)
{
    const seq_label *x = a, *y = b;
    int c = labels_cmp_key(&x->l, &y->l);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int bsearch_key(const labels_vec *set, const labels_label *k, size_t *pos)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = labels_cmp_key(&set->v[mid], k);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return lo < set->n && labels_cmp_key(&set->v[lo], k) == 0;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The name of a key that one file gives m times (labels in[0..m), oldest first): its distinct
 * non-empty names in order, joined with "; ", at most LABELS_MAX_NAMES of them and then
 * "; +N more". Each name is looked up once in a hash set (slots, at least 2m entries, scratch),
 * so a key repeated 400,000 times costs linear time. A new string, or NULL if out of memory. */
static char *join_names(const seq_label *in, size_t m, size_t *slots, size_t nslots)
{
    memset(slots, 0, nslots * sizeof *slots); /* 0 empty, else index + 1 */
    util_buf b = {0};
    size_t kept = 0, more = 0;
    for (size_t i = 0; i < m; i++) {
        const char *name = in[i].l.name;
        if (!*name) continue;
        size_t h = (size_t)name_hash(name) & (nslots - 1);
        while (slots[h] && strcmp(in[slots[h] - 1].l.name, name))
            h = (h + 1) & (nslots - 1);
        if (slots[h]) continue; /* seen */
        slots[h] = i + 1;
        if (kept == LABELS_MAX_NAMES) {
            more++;
            continue;
        }
        if ((kept && util_buf_append(&b, "; ", 2)) || util_buf_append(&b, name, strlen(name)))
            goto oom;
        kept++;
    }
    if (more && util_buf_printf(&b, "; +%zu more", more)) goto oom;
    char *out = strndup(b.len ? (const char *)b.data : "", b.len);
    util_buf_free(&b);
    return out;
oom:
    util_buf_free(&b);
    return NULL;
}

/* Merge the parsed labels into the set: the newest of each key wins. Takes the strings of
 * in (in is emptied). Only fails for memory, and then leaves the set unchanged. */
static int merge(labels_vec *set, labels_vec *in, util_err *err)
{
    size_t total = set->n + in->n;
    seq_label *all = malloc((total ? total : 1) * sizeof *all);
    labels_label *merged = malloc((total ? total : 1) * sizeof *merged);
    size_t *slots = NULL, nslots = 0;
    if (!all || !merged) goto oom;
    for (size_t i = 0; i < set->n; i++)
        all[i] = (seq_label){set->v[i], i};
    for (size_t i = 0; i < in->n; i++)
        all[set->n + i] = (seq_label){in->v[i], set->n + i};
    qsort(all, total, sizeof *all, cmp_seq);
    /* Pass 1: the joined names of keys the file repeats, before anything is freed, so that
     * running out of memory leaves the set as it was. */
    char **joined = calloc(total ? total : 1, sizeof *joined);
    if (!joined) goto oom;
    for (size_t i = 0, j; i < total; i = j) {
        for (j = i + 1; j < total && labels_cmp_key(&all[i].l, &all[j].l) == 0;)
            j++;
        size_t f = i; /* the run's first label from the file (older copies come first) */
        while (f < j && all[f].seq < set->n)
            f++;
        if (j - f < 2) continue;
        size_t want = 4;
        while (want < 2 * (j - f))
            want *= 2;
        if (want > nslots) {
            size_t *ns = realloc(slots, want * sizeof *ns);
            if (!ns) goto oom_joined;
            slots = ns, nslots = want;
        }
        if (!(joined[j - 1] = join_names(all + f, j - f, slots, want))) goto oom_joined;
    }
    /* Pass 2: keep the newest label of each key. */
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        if (i + 1 < total && labels_cmp_key(&all[i].l, &all[i + 1].l) == 0) {
            labels_label_free(&all[i].l); /* an older copy of this key */
            continue;
        }
        if (joined[i]) {
            free(all[i].l.name);
            all[i].l.name = joined[i];
        }
        merged[n++] = all[i].l;
    }
    free(joined);
    free(slots);
    free(all);
    free(set->v);
    set->v = merged;
    set->n = n;
    set->cap = total ? total : 1;
    free(in->v);
    memset(in, 0, sizeof *in);
    return 0;
oom_joined:
    for (size_t i = 0; i < total; i++)
        free(joined[i]);
    free(joined);
oom:
    free(slots);
    free(all);
    free(merged);
    return util_errf(err, UTIL_ENOMEM, "out of memory merging labels");
}

static int same_key_qsort(const void *a, const void *b)
{
    return labels_cmp_key(*(const labels_label *const *)a, *(const labels_label *const *)b);
}

/* How many distinct keys of in are new to set; the rest replace (or repeat) a key. */
static int count_added(const labels_vec *set, const labels_vec *in, labels_import_result *res)
{
    if (!in->n) return 0;
    const labels_label **p = malloc(in->n * sizeof *p);
    if (!p) return UTIL_ENOMEM;
    for (size_t i = 0; i < in->n; i++)
        p[i] = &in->v[i];
    qsort(p, in->n, sizeof *p, same_key_qsort);
    size_t added = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (i && labels_cmp_key(p[i - 1], p[i]) == 0) continue;
        size_t pos;
        if (!bsearch_key(set, p[i], &pos)) added++;
    }
    free(p);
    res->n_added = added;
    res->n_replaced = in->n - added;
    return 0;
}

/* ---------------- import: detection and dispatch ---------------- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static labels_format detect(const char *path, const char *d, size_t n)
{
    const char *dot = strrchr(base_name(path), '.');
    if (dot) {
        if (!strcasecmp(dot, ".xml")) return LABELS_FMT_OFAC_XML;
        if (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")) return LABELS_FMT_TAGPACK;
        if (!strcasecmp(dot, ".csv")) return LABELS_FMT_CSV;
        if (!strcasecmp(dot, ".txt")) return LABELS_FMT_OFAC_LIST;
    }
    size_t i = 0;
    if (n >= 3 && !memcmp(d, "\xef\xbb\xbf", 3)) i = 3;
    while (i < n && isspace((unsigned char)d[i]))
        i++;
    if (i == n) return dot && !strcasecmp(dot, ".json") ? LABELS_FMT_OFAC_LIST : LABELS_FMT_AUTO;
    /* A JSON object is a STIX bundle or a MISP event (the parser tells them apart); a .json
     * list is OFAC's address list. */
    if (d[i] == '{') return LABELS_FMT_STIX;
    if (dot && !strcasecmp(dot, ".json")) return LABELS_FMT_OFAC_LIST;
    if (d[i] == '<') return LABELS_FMT_OFAC_XML;
    if (d[i] == '[') return LABELS_FMT_OFAC_LIST;
    const char *nl = memchr(d + i, '\n', n - i);
    size_t ll = nl ? (size_t)(nl - (d + i)) : n - i;
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)(ll < 255 ? ll : 255), d + i);
    if (!strncasecmp(first, "chain,", 6) || strcasestr(first, ",address")) return LABELS_FMT_CSV;
    if (!strncmp(first, "---", 3)) return LABELS_FMT_TAGPACK;
    size_t k = 0;
    while (isalnum((unsigned char)first[k]) || first[k] == '_')
        k++;
    if (k && first[k] == ':') return LABELS_FMT_TAGPACK;
    if (!strpbrk(first, " \t,:;\"'")) return LABELS_FMT_OFAC_LIST;
    return LABELS_FMT_AUTO;
}

int labels_import_file(labels_db *db, const char *path, const labels_import_opts *opts,
                       labels_import_result *res, util_err *err)
{
    labels_import_result scratch;
    util_err local;
    if (!res) res = &scratch;
    if (!err) err = &local;
    memset(res, 0, sizeof *res);
    labels_import_opts def = {0};
    if (!opts) opts = &def;
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    /* The parsers want a NUL-terminated text. */
    uint8_t *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory reading %s", path);
    }
    text[len] = 0;
    labels_format f = opts->format ? opts->format : detect(path, (const char *)text, len);
    /* STIX or MISP: the content decides unless --format said which */
    labels_format json_want = opts->format ? f : LABELS_FMT_AUTO;
    res->format = f;
    labels_ctx c = {.path = path,
                    .base = base_name(path),
                    .opts = opts,
                    .res = res,
                    .chain_field = "chain",
                    .addr_field = "address",
                    .name_max = LABELS_MAX_TEXT,
                    .err = err};
    if (f != LABELS_FMT_OFAC_XML && memchr(text, 0, len)) {
        size_t at = (size_t)((uint8_t *)memchr(text, 0, len) - text);
        long line = 1;
        for (size_t i = 0; i < at; i++)
            line += text[i] == '\n';
        rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: a NUL byte: not a %s text file", path, line,
                       labels_format_name(f));
        goto done;
    }
    size_t bad_at = labels_utf8_check((const char *)text, len);
    if ((f == LABELS_FMT_CSV || f == LABELS_FMT_OFAC_LIST) && bad_at < len) {
        long line = 1;
        for (size_t i = 0; i < bad_at; i++)
            line += text[i] == '\n';
        rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: byte 0x%02x is not UTF-8 text", path, line,
                       text[bad_at]);
        goto done;
    }
    switch (f) {
    case LABELS_FMT_CSV:
        rc = labels_parse_csv(&c, (const char *)text, len);
        break;
    case LABELS_FMT_OFAC_LIST:
        rc = labels_parse_list(&c, (const char *)text, len);
        break;
    case LABELS_FMT_TAGPACK:
        rc = labels_parse_tagpack(&c, (const char *)text, len);
        break;
    case LABELS_FMT_OFAC_XML:
        rc = labels_parse_ofac_xml(&c, (const char *)text, len);
        break;
    case LABELS_FMT_STIX:
    case LABELS_FMT_MISP:
        rc = labels_parse_json(&c, (const char *)text, len, json_want);
        break;
    default:
        rc = util_errf(err, UTIL_EINVAL,
                       "%s: cannot tell the format from the name or the content; give --format "
                       "ofac-xml, ofac-list, tagpack, csv, stix or misp",
                       path);
    }
    if (!rc) rc = labels_db_own(db, err);
    if (!rc && (rc = count_added(&db->set, &c.out, res)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc) rc = merge(&db->set, &c.out, err);
done:
    labels_vec_free(&c.out);
    free(text);
    if (res == &scratch) labels_import_result_free(&scratch);
    return rc;
}

int labels_add(labels_db *db, const labels_label *in, size_t n, const char *origin,
               labels_import_result *res, util_err *err)
{
    labels_import_result scratch;
    util_err local;
    if (!res) res = &scratch;
    if (!err) err = &local;
    memset(res, 0, sizeof *res);
    labels_import_opts opts = {.strict = 1};
    labels_ctx c = {.path = origin ? origin : "labels",
                    .base = origin ? origin : "labels",
                    .opts = &opts,
                    .res = res,
                    .chain_field = "chain",
                    .addr_field = "address",
                    .name_max = LABELS_MAX_TEXT,
                    .err = err};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const labels_label *l = &in[i];
        labels_raw r = {.currency = l->chain ? l->chain : "",
                        .address = l->address,
                        .category = l->category,
                        .actor = l->actor,
                        .name = l->name,
                        .source = l->source,
                        .url = l->url,
                        .programs = l->programs,
                        .first_seen = l->first_seen,
                        .last_seen = l->last_seen,
                        .updated = l->updated,
                        .confidence = l->confidence};
        if (l->confidence < 0 || l->confidence > 100)
            rc = util_errf(err, UTIL_EFORMAT, "%s:%zu: field confidence: %d is not 0..100", c.path,
                           i + 1, l->confidence);
        else
            rc = labels_ctx_add(&c, (long)(i + 1), &r);
    }
    if (!rc) rc = labels_db_own(db, err);
    if (!rc && (rc = count_added(&db->set, &c.out, res)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc) rc = merge(&db->set, &c.out, err);
    labels_vec_free(&c.out);
    if (res == &scratch) labels_import_result_free(&scratch);
    return rc;
}
