/* labels: the JSON sharing formats' common part. A document is loaded whole with jansson
 * (duplicate keys refused: the last would win unseen), told apart (a STIX bundle has "type":
 * "bundle", a MISP event an "Event"), and handed to labels_stix.c or labels_misp.c, which name
 * every bad field by its JSON pointer (RFC 6901). */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "labels_int.h"

/* Append "/" and key to the pointer, '~' as "~0" and '/' as "~1"; returns the length before. A
 * pointer that would not fit is cut (messages only). */
size_t labels_jp_key(labels_jptr *p, const char *key)
{
    size_t old = p->n;
    if (p->n + 2 < sizeof p->s) p->s[p->n++] = '/';
    for (; *key && p->n + 3 < sizeof p->s; key++) {
        if (*key == '~' || *key == '/') {
            p->s[p->n++] = '~';
            p->s[p->n++] = *key == '~' ? '0' : '1';
        } else {
            p->s[p->n++] = *key;
        }
    }
    p->s[p->n] = 0;
    return old;
}

size_t labels_jp_idx(labels_jptr *p, size_t i)
{
    size_t old = p->n;
    int w = snprintf(p->s + p->n, sizeof p->s - p->n, "/%zu", i);
    if (w > 0 && (size_t)w < sizeof p->s - p->n) p->n += (size_t)w;
    p->s[p->n] = 0;
    return old;
}

int labels_jerr(labels_ctx *c, const labels_jptr *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: %s", c->path, p->n ? p->s : "/", msg);
}

const char *labels_jstr(labels_ctx *c, labels_jptr *p, json_t *o, const char *key, size_t max,
                        int multiline, int *rc)
{
    json_t *v = json_object_get(o, key);
    if (!v) return NULL;
    size_t at = labels_jp_key(p, key);
    const char *s = NULL;
    if (!json_is_string(v))
        *rc = labels_jerr(c, p, "expected a string");
    else if (strlen(json_string_value(v)) != json_string_length(v))
        *rc = labels_jerr(c, p, "a NUL character (\\u0000) in the string");
    else if (!(*rc = labels_ctx_check(c, 0, p->s, json_string_value(v), json_string_length(v), max,
                                      multiline)))
        s = json_string_value(v);
    labels_jp_pop(p, at);
    return s;
}

const char *labels_guess_chain(const labels_ctx *c, const char *address)
{
    if (c->opts->chain && *c->opts->chain) return c->opts->chain;
    char canon[128];
    if (!labels_canon_address(canon, "btc", address, NULL)) return "btc";
    size_t n = strlen(address);
    if (n == 42 && address[0] == '0' && (address[1] == 'x' || address[1] == 'X')) {
        size_t i = 2;
        while (i < n && isxdigit((unsigned char)address[i]))
            i++;
        if (i == n) return "eth";
    }
    return NULL;
}

int labels_is_date(const char *s, size_t n)
{
    if (n < 10) return 0;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i])) return 0;
    int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

int labels_parse_json(labels_ctx *c, const char *data, size_t len, labels_format want)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return util_errf(c->err, UTIL_EFORMAT, "%s:%d: column %d: JSON: %s", c->path, je.line,
                         je.column, je.text);
    labels_jptr p = {.n = 0};
    int rc;
    c->name_max = LABELS_MAX_NAME; /* joined names, as an export carries them */
    int is_stix = json_is_object(root) && json_is_string(json_object_get(root, "type")) &&
                  !strcmp(json_string_value(json_object_get(root, "type")), "bundle");
    int is_misp = json_is_object(root) &&
                  (json_object_get(root, "Event") || json_object_get(root, "response"));
    if (!json_is_object(root))
        rc = labels_jerr(c, &p, "expected an object: a STIX bundle or a MISP event");
    else if (is_stix && want != LABELS_FMT_MISP)
        c->res->format = LABELS_FMT_STIX, rc = labels_parse_stix(c, root);
    else if (is_misp && want != LABELS_FMT_STIX)
        c->res->format = LABELS_FMT_MISP, rc = labels_parse_misp(c, root);
    else if (want == LABELS_FMT_STIX)
        labels_jp_key(&p, "type"),
            rc = labels_jerr(c, &p, "not a STIX 2.1 bundle (\"type\": \"bundle\")");
    else if (want == LABELS_FMT_MISP)
        labels_jp_key(&p, "Event"), rc = labels_jerr(c, &p, "missing: not a MISP event");
    else
        rc = labels_jerr(c, &p,
                         "neither a STIX 2.1 bundle (\"type\": \"bundle\") nor a MISP event "
                         "(\"Event\")");
    json_decref(root);
    return rc;
}
