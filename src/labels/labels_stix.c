/* labels: STIX 2.1 bundles. Labels come from
 *   1. indicators whose STIX pattern compares cryptocurrency-wallet:value (= or IN): one label
 *      per address, with the indicator's first label word as the category, its name,
 *      confidence, creator (created_by_ref's identity: the source), first external URL, the
 *      actor it indicates (or is related to), and its sightings' first and last seen; an
 *      indicator that declares cointrail's extension (LABELS_STIX_LABEL_EXT) gives the exact
 *      chain, programs and dates of its x_cointrail_ properties;
 *   2. cryptocurrency-wallet SCOs that no indicator names but a relationship ties to an actor
 *      (threat-actor, intrusion-set, campaign, identity, ...) or whose holder_ref names one.
 * A wallet's chain: the extension's, else the symbol of a cryptocurrency-transaction that
 * names it, else --chain, else the address's own shape (labels_guess_chain). A transaction's
 * own relationships are not applied to its addresses: a theft's inputs are the victim's.
 * Every object is checked before any label is made; the first bad field fails the whole file
 * with its JSON pointer. Several versions of one object: the latest "modified" counts. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util_hmap.h"
#include "labels_int.h"

typedef struct stix_doc {
    labels_ctx *c;
    json_t *objs;
    size_t n;
    util_hmap by_id;     /* id -> object index (every version) */
    util_hmap rel_src;   /* a relationship's source_ref -> its index */
    util_hmap rel_end;   /* either end of a relationship -> its index */
    util_hmap sight_of;  /* a sighting's sighting_of_ref -> its index */
    util_hmap wallet_of; /* a wallet's value -> its index */
    util_hmap tx_of;     /* a wallet id in a transaction's input or output -> the tx's index */
    util_hmap covered;   /* an address some indicator names -> index into addrs */
    char **addrs;        /* the addresses of indicator patterns (owned) */
    size_t n_addrs, cap_addrs;
} stix_doc;

static uint64_t hs(const char *s)
{
    return util_hash_bytes(s, strlen(s));
}

static const char *sget(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *obj(const stix_doc *d, size_t i)
{
    return json_array_get(d->objs, i);
}

/* Indices of the entries of key s in m whose object's field equals s, ascending (bundle order).
 * out holds cap; returns how many (more are dropped: a bundle that links one object to more
 * than cap others is read with the first cap). */
static size_t lookup(const stix_doc *d, const util_hmap *m, const char *s, const char *field,
                     size_t *out, size_t cap)
{
    size_t k = 0;
    for (size_t slot = util_hmap_first(m, hs(s)); slot != SIZE_MAX && k < cap;
         slot = util_hmap_next(m, hs(s), slot)) {
        size_t i = (size_t)m->vals[slot];
        const char *v = field ? sget(obj(d, i), field) : NULL;
        if (field && (!v || strcmp(v, s))) continue;
        out[k++] = i;
    }
    for (size_t a = 1; a < k; a++) /* insertion sort: k is small */
        for (size_t b = a; b > 0 && out[b - 1] > out[b]; b--) {
            size_t t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return k;
}

#define STIX_MAX_LINKS 256
#define STIX_MAX_PATTERN (1u << 20) /* bytes of a pattern: an IN list of many addresses */

/* The current version of the object with id: the latest "modified", the later one on a tie. */
static json_t *by_id(const stix_doc *d, const char *id, size_t *index)
{
    size_t idx[STIX_MAX_LINKS];
    size_t k = lookup(d, &d->by_id, id, "id", idx, STIX_MAX_LINKS);
    json_t *best = NULL;
    for (size_t j = 0; j < k; j++) {
        json_t *o = obj(d, idx[j]);
        const char *m = sget(o, "modified"), *bm = best ? sget(best, "modified") : NULL;
        if (!best || strcmp(m ? m : "", bm ? bm : "") >= 0) {
            best = o;
            if (index) *index = idx[j];
        }
    }
    return best;
}

static int is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[36] == 0;
}

/* The object types whose "name" can be a label's actor. */
static int is_actor_type(const char *type)
{
    static const char *const t[] = {"threat-actor", "intrusion-set", "campaign",      "identity",
                                    "malware",      "tool",          "infrastructure"};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(type, t[i])) return 1;
    return 0;
}

/* ---------------- step 1: every object checked and indexed ---------------- */

/* A list of strings; with first_only only its first item is checked for length and control
 * characters (the one a label uses: a category word). */
static int check_string_array(labels_ctx *c, labels_jptr *p, json_t *o, const char *key, size_t max,
                              int first_only)
{
    json_t *a = json_object_get(o, key);
    if (!a) return 0;
    size_t at = labels_jp_key(p, key), i;
    json_t *v;
    int rc = json_is_array(a) ? 0 : labels_jerr(c, p, "expected a list of strings");
    json_array_foreach(a, i, v)
    {
        if (rc) break;
        size_t at2 = labels_jp_idx(p, i);
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            rc = labels_jerr(c, p, "expected a string");
        else if (!i || !first_only)
            rc = labels_ctx_check(c, 0, p->s, json_string_value(v), json_string_length(v), max, 0);
        labels_jp_pop(p, at2);
    }
    labels_jp_pop(p, at);
    return rc;
}

static int check_confidence(labels_ctx *c, labels_jptr *p, json_t *o)
{
    json_t *v = json_object_get(o, "confidence");
    if (!v) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 100) return 0;
    size_t at = labels_jp_key(p, "confidence");
    int rc = labels_jerr(c, p, "expected an integer 0..100");
    labels_jp_pop(p, at);
    return rc;
}

/* The external references; ours: the object declares cointrail's extension (first_url). */
static int check_refs(labels_ctx *c, labels_jptr *p, json_t *o, int ours)
{
    int rc = 0, used = 0;
    json_t *ext = json_object_get(o, "external_references");
    size_t at = labels_jp_key(p, "external_references"), i;
    json_t *r;
    if (ext && !json_is_array(ext)) rc = labels_jerr(c, p, "expected a list");
    json_array_foreach(ext, i, r)
    {
        if (rc) break;
        size_t at2 = labels_jp_idx(p, i);
        json_t *url = json_object_get(r, "url");
        if (!json_is_object(r))
            rc = labels_jerr(c, p, "expected an object");
        else if (url && !json_is_string(url))
            labels_jp_key(p, "url"), rc = labels_jerr(c, p, "expected a string");
        else if (!used && url && json_string_length(url)) /* the one a label takes */
            used = 1, labels_jstr(c, p, r, "url", LABELS_MAX_TEXT, 0, &rc);
        else if (!used && !url && ours && json_object_get(r, "description"))
            used = 1, labels_jstr(c, p, r, "description", LABELS_MAX_TEXT, 0, &rc);
        labels_jp_pop(p, at2);
    }
    labels_jp_pop(p, at);
    return rc;
}

/* The fields of one object that the labels use: present ones of the right type and length. */
static int check_fields(labels_ctx *c, labels_jptr *p, json_t *o, const char *type)
{
    int rc = 0;
    const size_t T = LABELS_MAX_TEXT;
    labels_jstr(c, p, o, "modified", 64, 0, &rc);
    if (!rc) labels_jstr(c, p, o, "created_by_ref", T, 0, &rc);
    if (!rc) rc = check_confidence(c, p, o);
    json_t *ext = json_object_get(o, "extensions");
    int ours = json_is_object(ext) && json_object_get(ext, LABELS_STIX_LABEL_EXT);
    if (!rc) rc = check_refs(c, p, o, ours);
    if (!rc) rc = check_string_array(c, p, o, "labels", LABELS_MAX_CATEGORY, 1);
    const char *need[4] = {0};
    if (!strcmp(type, "cryptocurrency-wallet")) {
        need[0] = "value";
        if (!rc) labels_jstr(c, p, o, "holder_ref", T, 0, &rc);
    } else if (!strcmp(type, "cryptocurrency-transaction")) {
        need[0] = "symbol", need[1] = "value";
    } else if (!strcmp(type, "indicator")) {
        need[0] = "pattern", need[1] = "pattern_type";
        if (!rc) labels_jstr(c, p, o, "name", LABELS_MAX_NAME, 1, &rc);
        if (!rc) labels_jstr(c, p, o, LABELS_STIX_X_CHAIN, 31, 0, &rc);
        if (!rc) rc = check_string_array(c, p, o, LABELS_STIX_X_PROGRAMS, T, 0);
        const char *x[] = {LABELS_STIX_X_FIRST_SEEN, LABELS_STIX_X_LAST_SEEN,
                           LABELS_STIX_X_UPDATED};
        for (size_t k = 0; k < 3 && !rc; k++)
            labels_jstr(c, p, o, x[k], T, 0, &rc);
    } else if (!strcmp(type, "relationship")) {
        need[0] = "relationship_type", need[1] = "source_ref", need[2] = "target_ref";
    } else if (!strcmp(type, "sighting")) {
        need[0] = "sighting_of_ref";
        if (!rc) labels_jstr(c, p, o, "first_seen", 64, 0, &rc);
        if (!rc) labels_jstr(c, p, o, "last_seen", 64, 0, &rc);
    } else if (is_actor_type(type)) {
        need[0] = "name";
    }
    for (size_t k = 0; k < 4 && need[k] && !rc; k++) {
        int multi = !strcmp(need[k], "name");
        size_t max = multi ? T : !strcmp(need[k], "pattern") ? STIX_MAX_PATTERN : 4 * T;
        const char *v = labels_jstr(c, p, o, need[k], max, multi, &rc);
        if (!rc && (!v || !*v)) {
            size_t at = labels_jp_key(p, need[k]);
            rc = labels_jerr(c, p, v ? "empty" : "missing");
            labels_jp_pop(p, at);
        }
    }
    return rc;
}

/* A transaction's input and output lists: objects whose address_ref is a wallet id. */
static int check_moves(labels_ctx *c, labels_jptr *p, json_t *o)
{
    static const char *const lists[] = {"input", "output"};
    int rc = 0;
    for (size_t k = 0; k < 2 && !rc; k++) {
        json_t *a = json_object_get(o, lists[k]), *m;
        size_t at = labels_jp_key(p, lists[k]), i;
        if (a && !json_is_array(a)) rc = labels_jerr(c, p, "expected a list");
        json_array_foreach(a, i, m)
        {
            if (rc) break;
            size_t at2 = labels_jp_idx(p, i);
            json_t *amount = json_object_get(m, "amount");
            if (!json_is_object(m))
                rc = labels_jerr(c, p, "expected an object (address_ref, amount)");
            else if (amount && (!json_is_number(amount) || json_number_value(amount) < 0)) {
                labels_jp_key(p, "amount");
                rc = labels_jerr(c, p, "expected a number of at least 0");
            } else
                labels_jstr(c, p, m, "address_ref", LABELS_MAX_TEXT, 0, &rc);
            labels_jp_pop(p, at2);
        }
        labels_jp_pop(p, at);
    }
    return rc;
}

static int index_object(stix_doc *d, labels_jptr *p, size_t i)
{
    labels_ctx *c = d->c;
    json_t *o = obj(d, i);
    if (!json_is_object(o)) return labels_jerr(c, p, "expected an object");
    int rc = 0;
    const char *type = labels_jstr(c, p, o, "type", 250, 0, &rc);
    const char *id = rc ? NULL : labels_jstr(c, p, o, "id", 300, 0, &rc);
    if (rc) return rc;
    if (!type || !*type) {
        labels_jp_key(p, "type");
        return labels_jerr(c, p, type ? "empty" : "missing");
    }
    for (const char *t = type; *t; t++)
        if (!islower((unsigned char)*t) && !isdigit((unsigned char)*t) && *t != '-') {
            labels_jp_key(p, "type");
            return labels_jerr(c, p, "not a STIX type name (a-z, 0-9, -)");
        }
    size_t tl = strlen(type);
    if (!id || strncmp(id, type, tl) || strncmp(id + tl, "--", 2) || !is_uuid(id + tl + 2)) {
        labels_jp_key(p, "id");
        return labels_jerr(c, p, id ? "not TYPE--UUID with this object's type" : "missing");
    }
    if ((rc = check_fields(c, p, o, type))) return rc;
    if (!strcmp(type, "cryptocurrency-transaction") && (rc = check_moves(c, p, o))) return rc;
    if (util_hmap_add(&d->by_id, hs(id), i)) return UTIL_ENOMEM;
    if (!strcmp(type, "relationship")) {
        if (util_hmap_add(&d->rel_src, hs(sget(o, "source_ref")), i) ||
            util_hmap_add(&d->rel_end, hs(sget(o, "source_ref")), i) ||
            util_hmap_add(&d->rel_end, hs(sget(o, "target_ref")), i))
            return UTIL_ENOMEM;
    } else if (!strcmp(type, "sighting")) {
        if (util_hmap_add(&d->sight_of, hs(sget(o, "sighting_of_ref")), i)) return UTIL_ENOMEM;
    } else if (!strcmp(type, "cryptocurrency-wallet")) {
        if (util_hmap_add(&d->wallet_of, hs(sget(o, "value")), i)) return UTIL_ENOMEM;
    } else if (!strcmp(type, "cryptocurrency-transaction")) {
        static const char *const lists[] = {"input", "output"};
        for (size_t k = 0; k < 2; k++) {
            size_t j;
            json_t *m;
            json_array_foreach(json_object_get(o, lists[k]), j, m)
            {
                const char *ref = sget(m, "address_ref");
                if (ref && util_hmap_add(&d->tx_of, hs(ref), i)) return UTIL_ENOMEM;
            }
        }
    }
    return 0;
}

/* ---------------- step 2: the wallets of indicator patterns ---------------- */

/* A pattern's string literal at s[*i] == '\'': its unescaped text (\' and \\ only) appended to
 * out. 0, or an error naming the pattern's pointer and the byte. */
static int pattern_string(labels_ctx *c, labels_jptr *p, const char *s, size_t *i, util_buf *out)
{
    size_t start = *i;
    for (size_t k = *i + 1; s[k]; k++) {
        if (s[k] == '\\') {
            if (s[k + 1] != '\'' && s[k + 1] != '\\')
                return labels_jerr(c, p, "a backslash at byte %zu escapes neither ' nor \\", k + 1);
            if (util_buf_append(out, s + k + 1, 1)) return UTIL_ENOMEM;
            k++;
        } else if (s[k] == '\'') {
            *i = k + 1;
            return 0;
        } else if (util_buf_append(out, s + k, 1)) {
            return UTIL_ENOMEM;
        }
    }
    return labels_jerr(c, p, "the string that starts at byte %zu is not closed", start + 1);
}

static void skip_ws(const char *s, size_t *i)
{
    while (s[*i] && isspace((unsigned char)s[*i]))
        (*i)++;
}

static int take_word(const char *s, size_t *i, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(s + *i, w, n) || isalnum((unsigned char)s[*i + n]) || s[*i + n] == '_') return 0;
    *i += n;
    return 1;
}

static int add_addr(stix_doc *d, util_buf *b)
{
    if (d->n_addrs == d->cap_addrs) {
        size_t cap = d->cap_addrs ? 2 * d->cap_addrs : 16;
        char **a = realloc(d->addrs, cap * sizeof *a);
        if (!a) return UTIL_ENOMEM;
        d->addrs = a, d->cap_addrs = cap;
    }
    char *s = strndup(b->len ? (const char *)b->data : "", b->len);
    if (!s) return UTIL_ENOMEM;
    d->addrs[d->n_addrs++] = s;
    return 0;
}

/* The addresses that pattern compares cryptocurrency-wallet:value with, by = or IN (a NOT
 * before the operator excludes): appended to d->addrs from *first on. Other comparisons and
 * the pattern's logic are not read (an indicator names addresses; which combination fires is
 * the consumer's business). */
static int pattern_wallets(stix_doc *d, labels_jptr *p, const char *s)
{
    labels_ctx *c = d->c;
    util_buf b = {0};
    int rc = 0;
    for (size_t i = 0; s[i] && !rc;) {
        /* string literals (also t'..', h'..', b'..') are skipped whole */
        if (s[i] == '\'' || ((s[i] == 't' || s[i] == 'h' || s[i] == 'b') && s[i + 1] == '\'' &&
                             (i == 0 || !isalnum((unsigned char)s[i - 1])))) {
            if (s[i] != '\'') i++;
            b.len = 0;
            rc = pattern_string(c, p, s, &i, &b);
            continue;
        }
        if (!isalnum((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (isalnum((unsigned char)s[i]) || (s[i] && strchr("_-:.", s[i])))
            i++;
        static const char path[] = "cryptocurrency-wallet:value";
        if (i - start != sizeof path - 1 || strncmp(s + start, path, i - start)) continue;
        skip_ws(s, &i);
        int negated = take_word(s, &i, "NOT");
        skip_ws(s, &i);
        int in = 0;
        if (s[i] == '=')
            i++;
        else if (take_word(s, &i, "IN"))
            in = 1;
        else
            continue; /* !=, LIKE, MATCHES, ...: not an address this names */
        skip_ws(s, &i);
        if (in) {
            if (s[i] != '(') continue;
            i++;
        }
        for (;;) {
            skip_ws(s, &i);
            if (s[i] != '\'') break;
            b.len = 0;
            if ((rc = pattern_string(c, p, s, &i, &b))) break;
            if (!negated && (rc = add_addr(d, &b))) break;
            skip_ws(s, &i);
            if (!in || s[i] != ',') break;
            i++;
        }
    }
    util_buf_free(&b);
    return rc;
}

/* ---------------- step 3: labels ---------------- */

/* The name of the object with id, if it is in the bundle and can be an actor. */
static const char *actor_name(const stix_doc *d, const char *id)
{
    json_t *o = id ? by_id(d, id, NULL) : NULL;
    const char *type = o ? sget(o, "type") : NULL;
    return type && is_actor_type(type) ? sget(o, "name") : NULL;
}

/* The actor an indicator indicates (the first such relationship in the bundle), else the one
 * it is related to. */
static const char *indicator_actor(const stix_doc *d, const char *id)
{
    size_t idx[STIX_MAX_LINKS];
    size_t k = lookup(d, &d->rel_src, id, "source_ref", idx, STIX_MAX_LINKS);
    static const char *const types[] = {"indicates", "related-to"};
    for (size_t t = 0; t < 2; t++)
        for (size_t j = 0; j < k; j++) {
            json_t *r = obj(d, idx[j]);
            if (strcmp(sget(r, "relationship_type"), types[t])) continue;
            const char *name = actor_name(d, sget(r, "target_ref"));
            if (name) return name;
        }
    return NULL;
}

/* The first external reference's URL; for cointrail's own indicators (ours) also its
 * description: a label's "url" that is not a URI (a TagPack's source may be a sentence) is
 * written there. */
static const char *first_url(json_t *o, int ours)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(o, "external_references"), i, r)
    {
        const char *u = sget(r, "url");
        if (u && *u) return u;
        if (ours && (u = sget(r, "description")) && *u) return u;
    }
    return NULL;
}

static const char *creator(const stix_doc *d, json_t *o)
{
    json_t *ident = sget(o, "created_by_ref") ? by_id(d, sget(o, "created_by_ref"), NULL) : NULL;
    return ident && !strcmp(sget(ident, "type"), "identity") ? sget(ident, "name") : NULL;
}

static int confidence(json_t *o)
{
    json_t *v = json_object_get(o, "confidence");
    return v ? (int)json_integer_value(v) : LABELS_CONFIDENCE_DEFAULT;
}

/* The date part of a timestamp, or NULL. */
static const char *date_of(const char *ts, char out[11])
{
    if (!ts || !labels_is_date(ts, strlen(ts))) return NULL;
    memcpy(out, ts, 10);
    out[10] = 0;
    return out;
}

/* The chain of an address the indicator's extension does not give: a transaction's symbol,
 * else --chain or the address's shape. */
static const char *wallet_chain(const stix_doc *d, const char *address, char out[32])
{
    size_t w[STIX_MAX_LINKS], t[STIX_MAX_LINKS];
    size_t nw = lookup(d, &d->wallet_of, address, "value", w, STIX_MAX_LINKS);
    for (size_t j = 0; j < nw; j++) {
        const char *id = sget(obj(d, w[j]), "id");
        size_t nt = lookup(d, &d->tx_of, id, NULL, t, STIX_MAX_LINKS);
        for (size_t k = 0; k < nt; k++)
            if (!labels_chain_from_currency(out, sget(obj(d, t[k]), "symbol"), NULL)) return out;
    }
    return labels_guess_chain(d->c, address);
}

/* One label of address (named at pointer p) on chain (named at chain_ptr, or p). */
static int add_label(stix_doc *d, labels_jptr *p, const char *address, const char *chain,
                     const char *chain_ptr, labels_raw *r)
{
    labels_ctx *c = d->c;
    if (!chain)
        return labels_jerr(c, p,
                           "cannot tell the chain of an address (no %s, no transaction symbol, "
                           "not a Bitcoin or 0x address); give --chain",
                           LABELS_STIX_X_CHAIN);
    r->currency = chain;
    r->address = address;
    if (!r->source || !*r->source) r->source = c->base;
    c->addr_field = p->s;
    c->chain_field = chain_ptr ? chain_ptr : p->s;
    int rc = labels_ctx_add(c, 0, r);
    c->addr_field = "address";
    c->chain_field = "chain";
    return rc;
}

static int indicator_labels(stix_doc *d, labels_jptr *p, size_t i)
{
    json_t *o = obj(d, i);
    if (strcmp(sget(o, "type"), "indicator") || strcmp(sget(o, "pattern_type"), "stix")) return 0;
    size_t cur;
    if (by_id(d, sget(o, "id"), &cur) != o || cur != i) return 0; /* an older version */
    size_t first = d->n_addrs;
    size_t at = labels_jp_key(p, "pattern");
    int rc = pattern_wallets(d, p, sget(o, "pattern"));
    if (rc || first == d->n_addrs) {
        labels_jp_pop(p, at);
        return rc;
    }
    json_t *ext = json_object_get(o, "extensions");
    int ours = json_is_object(ext) && json_object_get(ext, LABELS_STIX_LABEL_EXT);
    labels_jptr chain_ptr = *p; /* .../pattern -> .../x_cointrail_chain */
    labels_jp_pop(&chain_ptr, at);
    labels_jp_key(&chain_ptr, LABELS_STIX_X_CHAIN);
    char cat[64] = "unknown", d1[11], d2[11], d3[11];
    const char *word = json_string_value(json_array_get(json_object_get(o, "labels"), 0));
    if (word) labels_category_map(cat, word);
    util_buf programs = {0};
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(o, LABELS_STIX_X_PROGRAMS), k, v)
    {
        if ((k && util_buf_append(&programs, ",", 1)) ||
            util_buf_append(&programs, json_string_value(v), json_string_length(v)))
            rc = UTIL_ENOMEM;
    }
    if (programs.len && util_buf_append(&programs, "", 1)) rc = UTIL_ENOMEM;
    const char *actor = indicator_actor(d, sget(o, "id"));
    labels_raw r = {.category = cat,
                    .actor = actor,
                    .name = sget(o, "name") || ours ? sget(o, "name") : actor,
                    .source = creator(d, o),
                    .url = first_url(o, ours),
                    .programs = programs.len ? (const char *)programs.data : NULL,
                    .confidence = confidence(o)};
    if (ours) {
        r.first_seen = sget(o, LABELS_STIX_X_FIRST_SEEN);
        r.last_seen = sget(o, LABELS_STIX_X_LAST_SEEN);
        r.updated = sget(o, LABELS_STIX_X_UPDATED);
    } else {
        size_t s[STIX_MAX_LINKS];
        size_t ns = lookup(d, &d->sight_of, sget(o, "id"), "sighting_of_ref", s, STIX_MAX_LINKS);
        for (size_t j = 0; j < ns; j++) {
            char a[11], b[11];
            const char *f = date_of(sget(obj(d, s[j]), "first_seen"), a);
            const char *l = date_of(sget(obj(d, s[j]), "last_seen"), b);
            if (f && (!r.first_seen || strcmp(f, d1) < 0)) r.first_seen = strcpy(d1, f);
            if (l && (!r.last_seen || strcmp(l, d2) > 0)) r.last_seen = strcpy(d2, l);
        }
        r.updated = date_of(sget(o, "modified"), d3);
    }
    for (size_t a = first; a < d->n_addrs && !rc; a++) {
        char sym[32];
        const char *chain = ours ? sget(o, LABELS_STIX_X_CHAIN) : NULL;
        if (!chain) chain = wallet_chain(d, d->addrs[a], sym);
        rc = add_label(d, p, d->addrs[a], chain, ours ? chain_ptr.s : NULL, &r);
        if (!rc && util_hmap_add(&d->covered, hs(d->addrs[a]), a)) rc = UTIL_ENOMEM;
    }
    util_buf_free(&programs);
    labels_jp_pop(p, at);
    return rc;
}

static int is_covered(const stix_doc *d, const char *address)
{
    for (size_t slot = util_hmap_first(&d->covered, hs(address)); slot != SIZE_MAX;
         slot = util_hmap_next(&d->covered, hs(address), slot))
        if (!strcmp(d->addrs[d->covered.vals[slot]], address)) return 1;
    return 0;
}

/* A wallet no indicator names: a label per actor a relationship ties it to, and for its
 * holder. */
static int wallet_labels(stix_doc *d, labels_jptr *p, size_t i)
{
    json_t *w = obj(d, i);
    if (strcmp(sget(w, "type"), "cryptocurrency-wallet")) return 0;
    const char *id = sget(w, "id"), *address = sget(w, "value");
    size_t cur;
    if (by_id(d, id, &cur) != w || cur != i || is_covered(d, address)) return 0;
    size_t at = labels_jp_key(p, "value");
    char sym[32];
    const char *chain = wallet_chain(d, address, sym);
    size_t rel[STIX_MAX_LINKS];
    size_t nr = lookup(d, &d->rel_end, id, NULL, rel, STIX_MAX_LINKS);
    int rc = 0;
    for (size_t j = 0; j < nr && !rc; j++) {
        json_t *r = obj(d, rel[j]);
        if (j && rel[j] == rel[j - 1]) continue; /* a relationship from the wallet to itself */
        const char *src = sget(r, "source_ref"), *dst = sget(r, "target_ref");
        const char *other = !strcmp(src, id) ? dst : !strcmp(dst, id) ? src : NULL;
        const char *actor = actor_name(d, other);
        if (!actor) continue;
        char cat[64] = "unknown", day[11];
        const char *word = json_string_value(json_array_get(json_object_get(r, "labels"), 0));
        if (word) labels_category_map(cat, word);
        labels_raw lr = {.category = cat,
                         .actor = actor,
                         .name = actor,
                         .source = creator(d, r),
                         .url = first_url(r, 0),
                         .updated = date_of(sget(r, "modified"), day),
                         .confidence = confidence(r)};
        rc = add_label(d, p, address, chain, NULL, &lr);
    }
    const char *holder = sget(w, "holder_ref") ? actor_name(d, sget(w, "holder_ref")) : NULL;
    if (!rc && holder) {
        labels_raw lr = {.category = "unknown",
                         .actor = holder,
                         .name = holder,
                         .confidence = LABELS_CONFIDENCE_DEFAULT};
        rc = add_label(d, p, address, chain, NULL, &lr);
    }
    labels_jp_pop(p, at);
    return rc;
}

int labels_parse_stix(labels_ctx *c, json_t *root)
{
    stix_doc d = {.c = c, .objs = json_object_get(root, "objects")};
    labels_jptr p = {.n = 0};
    if (!d.objs) return 0; /* a bundle may be empty */
    if (!json_is_array(d.objs)) {
        labels_jp_key(&p, "objects");
        return labels_jerr(c, &p, "expected a list of STIX objects");
    }
    d.n = json_array_size(d.objs);
    int rc = 0;
    util_hmap *maps[] = {&d.by_id,     &d.rel_src, &d.rel_end, &d.sight_of,
                         &d.wallet_of, &d.tx_of,   &d.covered};
    for (size_t k = 0; k < sizeof maps / sizeof *maps && !rc; k++)
        rc = util_hmap_init(maps[k], 16);
    labels_jp_key(&p, "objects");
    for (size_t pass = 0; pass < 3 && !rc; pass++)
        for (size_t i = 0; i < d.n && !rc; i++) {
            size_t at = labels_jp_idx(&p, i);
            rc = pass == 0   ? index_object(&d, &p, i)
                 : pass == 1 ? indicator_labels(&d, &p, i)
                             : wallet_labels(&d, &p, i);
            labels_jp_pop(&p, at);
        }
    if (rc == UTIL_ENOMEM) util_errf(c->err, rc, "out of memory reading %s", c->path);
    for (size_t k = 0; k < sizeof maps / sizeof *maps; k++)
        util_hmap_free(maps[k]);
    for (size_t k = 0; k < d.n_addrs; k++)
        free(d.addrs[k]);
    free(d.addrs);
    return rc;
}
