/* labels: the import formats. Each parser reads a whole file already in memory and hands
 * every label to labels_ctx_add; the first structural error stops it with a message naming
 * PATH:LINE and the field, and the caller then drops everything this file produced. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <yaml.h>

#include "labels_int.h"

#define OFAC_URL "https://sanctionssearch.ofac.treas.gov/"

/* ---------------- CSV (RFC 4180) ---------------- */

/* The columns a CSV may have; chain, address and category are required. */
enum {
    C_CHAIN,
    C_ADDRESS,
    C_CATEGORY,
    C_ACTOR,
    C_SOURCE,
    C_CONFIDENCE,
    C_LABEL,
    C_URL,
    C_PROGRAMS,
    C_FIRST,
    C_LAST,
    C_UPDATED,
    C_NCOLS
};
static const char *const csv_cols[C_NCOLS] = {"chain",    "address",    "category",  "actor",
                                              "source",   "confidence", "label",     "url",
                                              "programs", "first_seen", "last_seen", "updated"};

typedef struct csv_row {
    util_buf text;   /* the fields, each NUL-terminated, one after another */
    size_t off[256]; /* start of each field in text */
    size_t n;
    long line; /* where the record starts */
} csv_row;

/* Read one record at *pp; *line counts newlines. Returns 1 with a record, 0 at the end, or an
 * error. Quoted fields may hold commas, newlines and doubled quotes. */
static int csv_record(labels_ctx *c, const char **pp, const char *end, long *line, csv_row *r)
{
    const char *p = *pp;
    if (p >= end) return 0;
    r->text.len = 0;
    r->n = 0;
    r->line = *line;
    for (;;) {
        if (r->n == sizeof r->off / sizeof *r->off)
            return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: more than %zu fields", c->path, r->line,
                             sizeof r->off / sizeof *r->off);
        r->off[r->n++] = r->text.len;
        if (p < end && *p == '"') {
            long qline = *line;
            p++;
            for (;;) {
                if (p >= end)
                    return util_errf(c->err, UTIL_EFORMAT,
                                     "%s:%ld: field %zu: quoted field never closed", c->path, qline,
                                     r->n);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        if (util_buf_append(&r->text, "\"", 1)) return UTIL_ENOMEM;
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n') (*line)++;
                if (*p == '\r' && p + 1 < end && p[1] == '\n') p++; /* CRLF in a field: LF */
                if (util_buf_append(&r->text, p, 1)) return UTIL_ENOMEM;
                p++;
            }
            if (p < end && *p == '\r') p++;
            if (p < end && *p != ',' && *p != '\n')
                return util_errf(c->err, UTIL_EFORMAT,
                                 "%s:%ld: field %zu: text after the closing quote", c->path, *line,
                                 r->n);
        } else {
            const char *s = p;
            while (p < end && *p != ',' && *p != '\n') {
                if (*p == '"')
                    return util_errf(c->err, UTIL_EFORMAT,
                                     "%s:%ld: field %zu: a quote inside an unquoted field (quote "
                                     "the whole field and double the quote)",
                                     c->path, *line, r->n);
                p++;
            }
            size_t n = (size_t)(p - s);
            if (n && s[n - 1] == '\r' && (p >= end || *p == '\n')) n--;
            if (util_buf_append(&r->text, s, n)) return UTIL_ENOMEM;
        }
        if (util_buf_append(&r->text, "", 1)) return UTIL_ENOMEM;
        if (p >= end) break;
        if (*p == '\n') {
            p++;
            (*line)++;
            break;
        }
        p++; /* the comma */
    }
    *pp = p;
    return 1;
}

static const char *csv_field(const csv_row *r, size_t i)
{
    return (const char *)r->text.data + r->off[i];
}

static int csv_blank(const csv_row *r)
{
    return r->n == 1 && !*csv_field(r, 0);
}

/* Free text columns (TAB and LF allowed in them) and their length limits. */
static int csv_multiline(int k)
{
    return k == C_ACTOR || k == C_SOURCE || k == C_LABEL;
}

int labels_parse_csv(labels_ctx *c, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3;
    long line = 1;
    /* A CR is only ever part of a CRLF line end: bare CRs (old Mac line ends) would make the
     * whole file one record, and a CR inside a field can overwrite a terminal line. */
    for (const char *q = p; (q = memchr(q, '\r', (size_t)(end - q))); q++)
        if (q + 1 >= end || q[1] != '\n') {
            for (const char *s = p; s < q; s++)
                line += *s == '\n';
            return util_errf(c->err, UTIL_EFORMAT,
                             "%s:%ld: a carriage return (CR) not followed by a line feed: bare "
                             "CR line ends and CRs inside fields are not supported (use LF or "
                             "CRLF line ends)",
                             c->path, line);
        }
    csv_row *r = calloc(1, sizeof *r);
    if (!r) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    int col[C_NCOLS], rc;
    for (int i = 0; i < C_NCOLS; i++)
        col[i] = -1;
    size_t ncols = 0;
    do
        rc = csv_record(c, &p, end, &line, r);
    while (rc == 1 && csv_blank(r));
    if (rc == 0) rc = util_errf(c->err, UTIL_EFORMAT, "%s: empty: no header line", c->path);
    if (rc < 0) goto done;
    ncols = r->n;
    for (size_t i = 0; i < r->n; i++) {
        char name[64];
        labels_category_map(name, csv_field(r, i)); /* lowercases and trims; no name maps */
        if (!strcmp(name, "name")) strcpy(name, "label");
        for (int k = 0; k < C_NCOLS; k++)
            if (!strcmp(name, csv_cols[k])) {
                if (col[k] >= 0) {
                    rc = util_errf(c->err, UTIL_EFORMAT,
                                   "%s:%ld: field %s: named twice in the "
                                   "header",
                                   c->path, r->line, csv_cols[k]);
                    goto done;
                }
                col[k] = (int)i;
            }
    }
    for (int k = 0; k <= C_CATEGORY; k++)
        if (col[k] < 0) {
            rc = util_errf(c->err, UTIL_EFORMAT,
                           "%s:%ld: field %s: missing from the header (want "
                           "chain,address,category,actor,source,confidence)",
                           c->path, r->line, csv_cols[k]);
            goto done;
        }
    while ((rc = csv_record(c, &p, end, &line, r)) == 1) {
        if (csv_blank(r)) continue;
        if (r->n < ncols) {
            const char *missing = "?";
            for (int k = 0; k < C_NCOLS; k++)
                if (col[k] == (int)r->n) missing = csv_cols[k];
            rc = util_errf(c->err, UTIL_EFORMAT,
                           "%s:%ld: field %s: missing (the row has %zu fields, the header %zu)",
                           c->path, r->line, missing, r->n, ncols);
            goto done;
        }
        if (r->n > ncols) {
            rc = util_errf(c->err, UTIL_EFORMAT,
                           "%s:%ld: field %zu: extra (the row has %zu fields, the header %zu)",
                           c->path, r->line, ncols + 1, r->n, ncols);
            goto done;
        }
        const char *v[C_NCOLS];
        for (int k = 0; k < C_NCOLS; k++)
            v[k] = col[k] >= 0 ? csv_field(r, (size_t)col[k]) : "";
        /* Every column cointrail reads, before any message quotes one. */
        for (int k = 0; k < C_NCOLS; k++)
            if (col[k] >= 0 &&
                (rc = labels_ctx_check(c, r->line, csv_cols[k], v[k], strlen(v[k]),
                                       k == C_CATEGORY ? LABELS_MAX_CATEGORY : LABELS_MAX_TEXT,
                                       csv_multiline(k))))
                goto done;
        char cat[64];
        labels_category_map(cat, v[C_CATEGORY]);
        if (!*cat) {
            rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field category: empty", c->path, r->line);
            goto done;
        }
        int conf = LABELS_CONFIDENCE_DEFAULT;
        const char *cs = v[C_CONFIDENCE];
        while (isspace((unsigned char)*cs))
            cs++;
        if (*cs && (conf = labels_confidence_from_name(cs)) < 0) {
            rc = util_errf(
                c->err, UTIL_EFORMAT,
                "%s:%ld: field confidence: '%.40s' is neither 0..100, 0.0..1.0 nor a "
                "confidence name (ownership, authority_data, service_data, forensic, ...)",
                c->path, r->line, cs);
            goto done;
        }
        labels_raw raw = {.currency = v[C_CHAIN],
                          .address = v[C_ADDRESS],
                          .category = cat,
                          .actor = v[C_ACTOR],
                          .name = v[C_LABEL],
                          .source = *v[C_SOURCE] ? v[C_SOURCE] : c->base,
                          .url = v[C_URL],
                          .programs = v[C_PROGRAMS],
                          .first_seen = v[C_FIRST],
                          .last_seen = v[C_LAST],
                          .updated = v[C_UPDATED],
                          .confidence = conf};
        if ((rc = labels_ctx_add(c, r->line, &raw))) goto done;
    }
done:
    if (rc == UTIL_ENOMEM && !c->err->msg[0]) util_errf(c->err, UTIL_ENOMEM, "out of memory");
    util_buf_free(&r->text);
    free(r);
    return rc < 0 ? rc : 0;
}

/* ---------------- OFAC per-currency lists ---------------- */

/* The currency code in a name like sanctioned_addresses_XBT.txt, or "" if none. */
static void list_currency(char out[32], const char *base)
{
    out[0] = 0;
    const char *p = strstr(base, "sanctioned_addresses_");
    if (!p) return;
    p += strlen("sanctioned_addresses_");
    size_t n = 0;
    while (n < 31 && (isalnum((unsigned char)p[n])))
        n++;
    if (n && (p[n] == '.' || !p[n])) memcpy(out, p, n), out[n] = 0;
}

int labels_parse_list(labels_ctx *c, const char *data, size_t len)
{
    char code[32], source[96];
    list_currency(code, c->base);
    const char *cur = c->opts->chain ? c->opts->chain : code;
    if (!*cur)
        return util_errf(c->err, UTIL_EINVAL,
                         "%s: cannot tell the currency of this OFAC list: name it like "
                         "sanctioned_addresses_XBT.txt or give --chain",
                         c->path);
    c->chain_field = "currency";
    snprintf(source, sizeof source, "OFAC SDN list %s", cur);
    labels_raw raw = {.currency = cur,
                      .category = "sanctioned",
                      .name = "OFAC SDN sanctioned",
                      .source = source,
                      .url = OFAC_URL,
                      .confidence = 100};
    size_t i = 0;
    while (i < len && isspace((unsigned char)data[i]))
        i++;
    if (i < len && data[i] == '[') { /* the JSON form of the list */
        json_error_t je;
        json_t *arr = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!arr) return util_errf(c->err, UTIL_EFORMAT, "%s:%d: %s", c->path, je.line, je.text);
        int rc = 0;
        if (!json_is_array(arr))
            rc = util_errf(c->err, UTIL_EFORMAT, "%s: not a JSON array of addresses", c->path);
        size_t k;
        json_t *e;
        json_array_foreach(arr, k, e)
        {
            if (rc) break;
            if (!json_is_string(e)) {
                rc = util_errf(c->err, UTIL_EFORMAT, "%s: item %zu: field address: not a string",
                               c->path, k + 1);
                break;
            }
            raw.address = json_string_value(e);
            rc = labels_ctx_add(c, 0, &raw);
        }
        json_decref(arr);
        return rc;
    }
    const char *p = data, *end = data + len;
    long line = 0;
    char addr[256];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        while (p < e && isspace((unsigned char)*p))
            p++;
        const char *q = e;
        while (q > p && isspace((unsigned char)q[-1]))
            q--;
        if (q > p && *p != '#') {
            int rc = labels_ctx_check(c, line, "address", p, (size_t)(q - p), LABELS_MAX_TEXT, 0);
            if (rc) return rc; /* before the message below quotes the line */
            for (const char *s = p; s < q; s++)
                if (isspace((unsigned char)*s) || *s == ',')
                    return util_errf(c->err, UTIL_EFORMAT,
                                     "%s:%ld: field address: '%.*s' is not one address (an "
                                     "OFAC list has one address a line)",
                                     c->path, line, (int)(q - p > 80 ? 80 : q - p), p);
            if (q - p >= (long)sizeof addr)
                return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field address: too long", c->path,
                                 line);
            memcpy(addr, p, (size_t)(q - p));
            addr[q - p] = 0;
            raw.address = addr;
            rc = labels_ctx_add(c, line, &raw);
            if (rc) return rc;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* ---------------- GraphSense TagPack (YAML) ---------------- */

/* The TagPack fields a tag inherits from the header (or sets itself). */
enum {
    T_TITLE,
    T_CREATOR,
    T_CONFIDENCE,
    T_CATEGORY,
    T_ABUSE,
    T_ACTOR,
    T_LABEL,
    T_SOURCE,
    T_LASTMOD,
    T_CURRENCY,
    T_NETWORK,
    T_ADDRESS,
    T_NFIELDS
};
static const char *const tp_names[T_NFIELDS] = {"title",   "creator",  "confidence", "category",
                                                "abuse",   "actor",    "label",      "source",
                                                "lastmod", "currency", "network",    "address"};

typedef struct tp_fields {
    const char *v[T_NFIELDS];
    long line[T_NFIELDS];
} tp_fields;

static long mark_line(const yaml_node_t *n)
{
    return (long)n->start_mark.line + 1;
}

/* Fields of free text, where TAB and LF are allowed; and the category words. */
static int tp_multiline(int i)
{
    return i == T_TITLE || i == T_CREATOR || i == T_ACTOR || i == T_LABEL;
}

typedef struct tp_key {
    const char *key;
    long line;
} tp_key;

static int tp_key_cmp(const void *a, const void *b)
{
    const tp_key *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The keys of a mapping: each a plain name without a NUL (libyaml gives the length: an escaped
 * "\0" would cut the key short unseen) and none given twice (YAML forbids it and libyaml keeps
 * both, so the last would win silently: a second address: in a tag is easy to miss in a
 * TagPack's diff). */
static int tp_check_keys(labels_ctx *c, yaml_document_t *doc, yaml_node_t *map)
{
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    tp_key *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    size_t m = 0;
    int rc = 0;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top && !rc; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key);
        if (!k) continue;
        if (k->type != YAML_SCALAR_NODE)
            rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: a key that is not a plain name", c->path,
                           mark_line(k));
        else if (strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
            rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: a key with a NUL character (\\0)",
                           c->path, mark_line(k));
        else
            keys[m++] = (tp_key){(const char *)k->data.scalar.value, mark_line(k)};
    }
    qsort(keys, m, sizeof *keys, tp_key_cmp);
    const tp_key *dup = NULL, *first = NULL; /* the duplicate that comes first in the file */
    for (size_t i = 1; i < m && !rc; i++)
        if (!strcmp(keys[i - 1].key, keys[i].key) && (!dup || keys[i].line < dup->line))
            dup = &keys[i], first = &keys[i - 1];
    if (dup) {
        char esc[128];
        rc = util_errf(c->err, UTIL_EFORMAT,
                       "%s:%ld: field %.80s: given twice in one mapping (first at line %ld)",
                       c->path, dup->line, labels_text_escape(esc, sizeof esc, dup->key),
                       first->line);
    }
    free(keys);
    return rc;
}

/* Read the known scalar fields of a mapping into f (unknown keys ignored; "tags" skipped). */
static int tp_read_fields(labels_ctx *c, yaml_document_t *doc, yaml_node_t *map, tp_fields *f,
                          yaml_node_t **tags)
{
    int rc = tp_check_keys(c, doc, map);
    if (rc) return rc;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(doc, pr->value);
        if (!k || !v) continue;
        const char *key = (const char *)k->data.scalar.value;
        if (!strcmp(key, "tags")) {
            if (!tags)
                return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field tags: inside a tag", c->path,
                                 mark_line(k));
            *tags = v;
            continue;
        }
        for (int i = 0; i < T_NFIELDS; i++) {
            if (strcmp(key, tp_names[i])) continue;
            if (v->type != YAML_SCALAR_NODE)
                return util_errf(c->err, UTIL_EFORMAT,
                                 "%s:%ld: field %s: expected a single "
                                 "value, not a list or mapping",
                                 c->path, mark_line(v), key);
            const char *val = (const char *)v->data.scalar.value;
            if (strlen(val) != v->data.scalar.length)
                return util_errf(c->err, UTIL_EFORMAT,
                                 "%s:%ld: field %s: a NUL character (\\0) in the value", c->path,
                                 mark_line(v), key);
            int word = i == T_CATEGORY || i == T_ABUSE;
            if ((rc = labels_ctx_check(c, mark_line(v), key, val, v->data.scalar.length,
                                       word ? LABELS_MAX_CATEGORY : LABELS_MAX_TEXT,
                                       tp_multiline(i))))
                return rc;
            f->v[i] = val;
            f->line[i] = mark_line(v);
        }
    }
    return 0;
}

static int tp_tag(labels_ctx *c, const tp_fields *head, const tp_fields *tag, long line)
{
    tp_fields f = *head;
    for (int i = 0; i < T_NFIELDS; i++)
        if (tag->v[i]) f.v[i] = tag->v[i], f.line[i] = tag->line[i];
    if (!f.v[T_ADDRESS])
        return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field address: missing from the tag",
                         c->path, line);
    int conf = LABELS_CONFIDENCE_DEFAULT;
    if (f.v[T_CONFIDENCE] && (conf = labels_confidence_from_name(f.v[T_CONFIDENCE])) < 0)
        return util_errf(c->err, UTIL_EFORMAT,
                         "%s:%ld: field confidence: unknown confidence '%.60s' (ownership, "
                         "authority_data, service_data, manual_transaction, forensic, heuristic, "
                         "web_crawl, unknown, or 0..100)",
                         c->path, f.line[T_CONFIDENCE], f.v[T_CONFIDENCE]);
    /* The category: the abuse if one is named, else sanctioned for an OFAC pack, else the
     * TagPack category (see docs/labels.md). */
    char cat[64] = "";
    if (f.v[T_ABUSE] && *f.v[T_ABUSE])
        labels_category_map(cat, f.v[T_ABUSE]);
    else if ((f.v[T_TITLE] && labels_contains_ci(f.v[T_TITLE], "OFAC")) ||
             (f.v[T_SOURCE] && labels_contains_ci(f.v[T_SOURCE], "/ofac")) ||
             (f.v[T_LABEL] && labels_contains_ci(f.v[T_LABEL], "OFAC")))
        strcpy(cat, "sanctioned");
    else if (f.v[T_CATEGORY])
        labels_category_map(cat, f.v[T_CATEGORY]);
    const char *name = f.v[T_LABEL] && *f.v[T_LABEL]   ? f.v[T_LABEL]
                       : f.v[T_ACTOR] && *f.v[T_ACTOR] ? f.v[T_ACTOR]
                                                       : f.v[T_TITLE];
    /* a network (the chain a token lives on) says more than the token's currency */
    int net = f.v[T_NETWORK] && *f.v[T_NETWORK];
    c->chain_field = net ? "network" : "currency";
    labels_raw raw = {.currency = net ? f.v[T_NETWORK] : f.v[T_CURRENCY],
                      .address = f.v[T_ADDRESS],
                      .category = cat,
                      .actor = f.v[T_ACTOR],
                      .name = name,
                      .source = f.v[T_TITLE] ? f.v[T_TITLE] : c->base,
                      .url = f.v[T_SOURCE],
                      .updated = f.v[T_LASTMOD],
                      .confidence = conf};
    long at = f.line[T_ADDRESS] ? f.line[T_ADDRESS] : line;
    if (!raw.currency || !*raw.currency) at = line;
    return labels_ctx_add(c, at, &raw);
}

static int tp_yaml_error(labels_ctx *c, const yaml_parser_t *parser)
{
    const yaml_mark_t *m = parser->problem ? &parser->problem_mark : &parser->context_mark;
    return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: column %ld: YAML: %s%s%s", c->path,
                     (long)m->line + 1, (long)m->column + 1,
                     parser->problem ? parser->problem : "malformed", parser->context ? " " : "",
                     parser->context ? parser->context : "");
}

/* Step 1: the whole stream parsed as events, refusing nesting deeper than LABELS_MAX_DEPTH.
 * libyaml's parser costs time quadratic in the depth (100,000 '[' took 21 s), so the count
 * stops it early, before a tree is built. */
static int tp_depth(labels_ctx *c, const char *data, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    int rc = 0, depth = 0, done = 0;
    while (!rc && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = tp_yaml_error(c, &parser);
            break;
        }
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > LABELS_MAX_DEPTH)
                rc = util_errf(c->err, UTIL_EFORMAT,
                               "%s:%ld: column %ld: lists and mappings nested deeper than %d",
                               c->path, (long)ev.start_mark.line + 1,
                               (long)ev.start_mark.column + 1, LABELS_MAX_DEPTH);
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int labels_parse_tagpack(labels_ctx *c, const char *data, size_t len)
{
    int rc = tp_depth(c, data, len);
    if (rc) return rc;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = tp_yaml_error(c, &parser);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *tags = NULL;
    tp_fields head = {0};
    if (!root)
        rc = util_errf(c->err, UTIL_EFORMAT, "%s: empty: no TagPack in it", c->path);
    else if (root->type != YAML_MAPPING_NODE)
        rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: a TagPack is a mapping (title:, tags:)",
                       c->path, mark_line(root));
    if (!rc) rc = tp_read_fields(c, &doc, root, &head, &tags);
    if (!rc && !tags)
        rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field tags: missing", c->path,
                       mark_line(root));
    if (!rc && tags->type != YAML_SEQUENCE_NODE)
        rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field tags: expected a list of tags", c->path,
                       mark_line(tags));
    if (!rc && head.v[T_ADDRESS])
        rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field address: in the header, not a tag",
                       c->path, head.line[T_ADDRESS]);
    for (yaml_node_item_t *it = rc ? NULL : tags->data.sequence.items.start;
         it && it < tags->data.sequence.items.top && !rc; it++) {
        yaml_node_t *t = yaml_document_get_node(&doc, *it);
        if (!t) continue;
        if (t->type != YAML_MAPPING_NODE) {
            rc = util_errf(c->err, UTIL_EFORMAT,
                           "%s:%ld: field tags: an item that is not a "
                           "mapping (address:, currency:, ...)",
                           c->path, mark_line(t));
            break;
        }
        tp_fields tag = {0};
        rc = tp_read_fields(c, &doc, t, &tag, NULL);
        if (!rc) rc = tp_tag(c, &head, &tag, mark_line(t));
    }
    /* A second document in the stream is not a TagPack. */
    if (!rc) {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next))
            rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: YAML: %s", c->path,
                           (long)parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "malformed");
        else {
            if (yaml_document_get_root_node(&next))
                rc = util_errf(c->err, UTIL_EFORMAT, "%s: more than one YAML document", c->path);
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---------------- OFAC SDN advanced XML ---------------- */

static int is_el(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNode *child(const xmlNode *n, const char *name)
{
    for (xmlNode *k = n ? n->children : NULL; k; k = k->next)
        if (is_el(k, name)) return k;
    return NULL;
}

/* Attribute value (xmlFree it) or NULL. */
static char *attr(const xmlNode *n, const char *name)
{
    return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* Trimmed text content; malloc'd (free it). NULL only if out of memory. */
static char *text_of(const xmlNode *n)
{
    xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
    const char *s = t ? (const char *)t : "";
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    char *out = strndup(s, len);
    xmlFree(t);
    return out;
}

typedef struct ofac_type {
    char *id, *code; /* FeatureType ID and the currency after "Digital Currency Address - " */
} ofac_type;

typedef struct ofac_entry {
    char *profile, *programs, *date;
} ofac_entry;

typedef struct ofac_state {
    ofac_type *types;
    size_t n_types;
    ofac_entry *entries;
    size_t n_entries;
    char *program_type; /* SanctionsType ID of "Program" */
} ofac_state;

static void ofac_free(ofac_state *s)
{
    for (size_t i = 0; i < s->n_types; i++)
        free(s->types[i].id), free(s->types[i].code);
    for (size_t i = 0; i < s->n_entries; i++)
        free(s->entries[i].profile), free(s->entries[i].programs), free(s->entries[i].date);
    free(s->types);
    free(s->entries);
    free(s->program_type);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const ofac_entry *)a)->profile, ((const ofac_entry *)b)->profile);
}

/* Step 1: the reference values: which FeatureType IDs are digital currency addresses, and the
 * SanctionsType ID of a program. */
static int ofac_refs(labels_ctx *c, const xmlNode *root, ofac_state *s)
{
    const xmlNode *rv = child(root, "ReferenceValueSets");
    if (!rv)
        return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field ReferenceValueSets: missing", c->path,
                         xmlGetLineNo(root));
    static const char prefix[] = "Digital Currency Address - ";
    for (const xmlNode *ft = child(child(rv, "FeatureTypeValues"), "FeatureType"); ft;
         ft = ft->next) {
        if (!is_el(ft, "FeatureType")) continue;
        char *name = text_of(ft), *id = attr(ft, "ID");
        int rc = 0;
        if (!name)
            rc = UTIL_ENOMEM;
        else if (!strncmp(name, prefix, sizeof prefix - 1)) {
            if (!id)
                rc = util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field FeatureType ID: missing",
                               c->path, xmlGetLineNo(ft));
            else {
                ofac_type *t = realloc(s->types, (s->n_types + 1) * sizeof *t);
                if (!t)
                    rc = UTIL_ENOMEM;
                else {
                    s->types = t;
                    t[s->n_types].id = strdup(id);
                    t[s->n_types].code = strdup(name + sizeof prefix - 1);
                    if (!t[s->n_types].id || !t[s->n_types].code) rc = UTIL_ENOMEM;
                    s->n_types++;
                }
            }
        }
        free(name);
        xmlFree(id);
        if (rc) return rc;
    }
    for (const xmlNode *st = child(child(rv, "SanctionsTypeValues"), "SanctionsType"); st;
         st = st->next) {
        if (!is_el(st, "SanctionsType")) continue;
        char *name = text_of(st);
        if (name && !strcmp(name, "Program") && !s->program_type) {
            char *id = attr(st, "ID");
            s->program_type = id ? strdup(id) : NULL;
            xmlFree(id);
        }
        free(name);
    }
    if (!s->program_type && !(s->program_type = strdup("1"))) return UTIL_ENOMEM;
    return 0;
}

/* Whether the comma-separated list p (n bytes) holds prog already. */
static int has_program(const char *p, size_t n, const char *prog)
{
    size_t pl = strlen(prog);
    for (size_t i = 0; i < n;) {
        const char *comma = memchr(p + i, ',', n - i);
        size_t e = comma ? (size_t)(comma - p) : n;
        if (e - i == pl && !memcmp(p + i, prog, pl)) return 1;
        i = e + 1;
    }
    return 0;
}

/* Step 2: each sanctions entry's programs and listing date, by profile. */
static int ofac_entries(labels_ctx *c, const xmlNode *root, ofac_state *s)
{
    for (const xmlNode *e = child(child(root, "SanctionsEntries"), "SanctionsEntry"); e;
         e = e->next) {
        if (!is_el(e, "SanctionsEntry")) continue;
        char *profile = attr(e, "ProfileID");
        if (!profile)
            return util_errf(c->err, UTIL_EFORMAT,
                             "%s:%ld: field SanctionsEntry ProfileID: missing", c->path,
                             xmlGetLineNo(e));
        util_buf progs = {0};
        char date[16] = "";
        int rc = 0;
        for (const xmlNode *m = e->children; m && !rc; m = m->next) {
            if (is_el(m, "EntryEvent") && !date[0]) {
                const xmlNode *d = child(m, "Date");
                char *y = text_of(child(d, "Year")), *mo = text_of(child(d, "Month")),
                     *dy = text_of(child(d, "Day"));
                if (y && mo && dy && *y)
                    snprintf(date, sizeof date, "%.4s-%02d-%02d", y, atoi(mo), atoi(dy));
                free(y), free(mo), free(dy);
            }
            if (!is_el(m, "SanctionsMeasure")) continue;
            char *type = attr(m, "SanctionsTypeID");
            if (type && !strcmp(type, s->program_type)) {
                char *prog = text_of(child(m, "Comment"));
                if (!prog)
                    rc = UTIL_ENOMEM;
                else if (*prog && !has_program((const char *)progs.data, progs.len, prog)) {
                    if ((progs.len && util_buf_append(&progs, ",", 1)) ||
                        util_buf_append(&progs, prog, strlen(prog)))
                        rc = UTIL_ENOMEM;
                }
                free(prog);
            }
            xmlFree(type);
        }
        ofac_entry *t = rc ? NULL : realloc(s->entries, (s->n_entries + 1) * sizeof *t);
        if (!t) {
            xmlFree(profile);
            util_buf_free(&progs);
            return UTIL_ENOMEM;
        }
        s->entries = t;
        t += s->n_entries++;
        t->profile = strdup(profile);
        t->programs = progs.len ? strndup((char *)progs.data, progs.len) : strdup("");
        t->date = strdup(date);
        xmlFree(profile);
        util_buf_free(&progs);
        if (!t->profile || !t->programs || !t->date) return UTIL_ENOMEM;
    }
    qsort(s->entries, s->n_entries, sizeof *s->entries, entry_cmp);
    return 0;
}

/* The primary name of a profile: its primary identity's primary alias, name parts joined. */
static char *ofac_name(const xmlNode *profile)
{
    const xmlNode *alias = NULL;
    for (const xmlNode *id = profile->children; id && !alias; id = id->next) {
        if (!is_el(id, "Identity")) continue;
        for (const xmlNode *a = id->children; a; a = a->next) {
            if (!is_el(a, "Alias")) continue;
            char *pri = attr(a, "Primary");
            int p = pri && !strcmp(pri, "true");
            xmlFree(pri);
            if (p || !alias) alias = a;
            if (p) break;
        }
    }
    util_buf b = {0};
    for (const xmlNode *dn = child(alias, "DocumentedName"); dn; dn = NULL)
        for (const xmlNode *part = dn->children; part; part = part->next) {
            if (!is_el(part, "DocumentedNamePart")) continue;
            char *v = text_of(child(part, "NamePartValue"));
            if (v && *v) {
                if (b.len) util_buf_append(&b, " ", 1);
                util_buf_append(&b, v, strlen(v));
            }
            free(v);
        }
    char *out = b.len ? strndup((char *)b.data, b.len) : strdup("");
    util_buf_free(&b);
    return out;
}

/* Step 3: every digital currency address feature of every party. */
static int ofac_parties(labels_ctx *c, const xmlNode *root, ofac_state *s)
{
    const xmlNode *dps = child(root, "DistinctParties");
    for (const xmlNode *dp = dps ? dps->children : NULL; dp; dp = dp->next) {
        if (!is_el(dp, "DistinctParty")) continue;
        for (const xmlNode *pr = dp->children; pr; pr = pr->next) {
            if (!is_el(pr, "Profile")) continue;
            char *pid = attr(pr, "ID");
            if (!pid)
                return util_errf(c->err, UTIL_EFORMAT, "%s:%ld: field Profile ID: missing", c->path,
                                 xmlGetLineNo(pr));
            char *name = NULL;
            int rc = 0;
            for (const xmlNode *f = pr->children; f && !rc; f = f->next) {
                if (!is_el(f, "Feature")) continue;
                char *ftid = attr(f, "FeatureTypeID");
                const ofac_type *t = NULL;
                for (size_t i = 0; ftid && i < s->n_types; i++)
                    if (!strcmp(s->types[i].id, ftid)) t = &s->types[i];
                xmlFree(ftid);
                if (!t) continue;
                if (!name && !(name = ofac_name(pr))) {
                    rc = UTIL_ENOMEM;
                    break;
                }
                const xmlNode *vd = child(child(f, "FeatureVersion"), "VersionDetail");
                char *addr = text_of(vd);
                if (!addr)
                    rc = UTIL_ENOMEM;
                else if (!*addr) {
                    char esc[128];
                    rc = util_errf(c->err, UTIL_EFORMAT,
                                   "%s:%ld: field VersionDetail: no address in a \"Digital "
                                   "Currency Address - %.40s\" feature",
                                   c->path, xmlGetLineNo(vd ? vd : f),
                                   labels_text_escape(esc, sizeof esc, t->code));
                } else {
                    ofac_entry key = {.profile = pid};
                    const ofac_entry *e =
                        bsearch(&key, s->entries, s->n_entries, sizeof *s->entries, entry_cmp);
                    char source[128];
                    snprintf(source, sizeof source, "OFAC SDN #%s", pid);
                    c->chain_field = "FeatureType";
                    labels_raw raw = {.currency = t->code,
                                      .address = addr,
                                      .category = "sanctioned",
                                      .actor = name,
                                      .name = name,
                                      .source = source,
                                      .url = OFAC_URL,
                                      .programs = e ? e->programs : "",
                                      .updated = e ? e->date : "",
                                      .confidence = 100};
                    rc = labels_ctx_add(c, xmlGetLineNo(vd), &raw);
                }
                free(addr);
            }
            free(name);
            xmlFree(pid);
            if (rc) return rc;
        }
    }
    return 0;
}

/* The parser's first error (later ones are mostly its consequences). */
typedef struct xml_first_error {
    int set, line;
    char msg[256];
} xml_first_error;

static void xml_on_error(void *user, xmlErrorPtr e)
{
    xmlParserCtxtPtr px = user;
    xml_first_error *fe = px ? px->_private : NULL;
    if (!fe || fe->set || !e || e->level < XML_ERR_ERROR) return;
    fe->set = 1;
    fe->line = e->line;
    snprintf(fe->msg, sizeof fe->msg, "%s", e->message ? e->message : "malformed XML");
    fe->msg[strcspn(fe->msg, "\n")] = 0;
}

int labels_parse_ofac_xml(labels_ctx *c, const char *data, size_t len)
{
    if (len > (size_t)INT32_MAX)
        return util_errf(c->err, UTIL_EFORMAT, "%s: over 2 GB of XML", c->path);
    xmlParserCtxtPtr px = xmlNewParserCtxt();
    if (!px) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    xml_first_error fe = {0};
    px->_private = &fe;
    px->sax->serror = xml_on_error; /* per parser: no global error handler is touched */
    /* No network, no external DTD, no entity substitution; errors come back, not to stderr. */
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES;
    xmlDocPtr doc = xmlCtxtReadMemory(px, data, (int)len, c->path, NULL, opts);
    int rc = 0;
    if (!doc || !px->wellFormed) {
        if (!fe.set) {
            const xmlError *e = xmlCtxtGetLastError(px);
            xml_on_error(px, (xmlErrorPtr)e);
        }
        rc = util_errf(c->err, UTIL_EFORMAT, "%s:%d: XML: %s", c->path, fe.line,
                       fe.set ? fe.msg : "malformed XML");
        goto done;
    }
    if (doc->intSubset || doc->extSubset) {
        rc = util_errf(c->err, UTIL_EFORMAT,
                       "%s: a DOCTYPE: OFAC's SDN XML has none and "
                       "cointrail does not read DTDs",
                       c->path);
        goto done;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!is_el(root, "Sanctions")) {
        rc = util_errf(c->err, UTIL_EFORMAT,
                       "%s:%ld: field %s: the root element is not <Sanctions>: not OFAC's SDN "
                       "advanced XML",
                       c->path, root ? xmlGetLineNo(root) : 1L,
                       root ? (const char *)root->name : "root");
        goto done;
    }
    ofac_state s = {0};
    rc = ofac_refs(c, root, &s);
    if (!rc) rc = ofac_entries(c, root, &s);
    if (!rc) {
        if (!s.n_types)
            labels_ctx_warn(c, 0, "no \"Digital Currency Address\" feature types: no labels");
        rc = ofac_parties(c, root, &s);
    }
    ofac_free(&s);
    if (rc == UTIL_ENOMEM) util_errf(c->err, UTIL_ENOMEM, "out of memory reading %s", c->path);
done:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(px);
    return rc;
}
