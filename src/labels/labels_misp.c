/* labels: MISP events ({"Event": {...}}, or a search answer {"response": [{"Event": ...}]}).
 * Labels come from the addresses of coin-address objects (address, address-crypto,
 * address-xmr) and btc-wallet objects (wallet-address), from event attributes of type btc or
 * xmr, and from the addresses of cryptocurrency-transaction and btc-transaction objects when
 * the address attribute itself carries an actor or category tag (an event's tags are not
 * applied to a transaction's addresses: a theft's inputs are the victim's).
 *   chain      the object's symbol attribute, else xmr for address-xmr, else --chain or the
 *              address's shape (labels_guess_chain)
 *   category   the cointrail:category tag, else the first tag of the attribute, then of the
 *              event, whose value maps to a category cointrail knows (ransomware, ...), else
 *              unknown
 *   actor      the attribute's cointrail:actor or threat-actor galaxy tag, else the event's
 *              threat-actor tag or galaxy cluster
 *   name       the object's text attribute, else its comment, else the event's info
 *   source     the cointrail:source tag, else the event's Orgc (creator) name, else the file's
 *   confidence the cointrail:confidence tag, else 50
 * An address attribute with cointrail: tags (cointrail's own export) is read exactly: absent
 * tags are empty fields, not the event's. Every bad field fails the whole file with its JSON
 * pointer. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "labels_int.h"

static const char *sget(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The value of a tag named "KEY=VALUE" or 'KEY="VALUE"' (\" and \\ unescaped) into out; 0 if
 * the name is not KEY's. */
static int tag_value(const char *name, const char *key, char *out, size_t cap)
{
    size_t n = strlen(key);
    if (strncmp(name, key, n) || name[n] != '=') return 0;
    const char *v = name + n + 1;
    size_t len = strlen(v), k = 0;
    int quoted = len >= 2 && v[0] == '"' && v[len - 1] == '"';
    if (quoted) v++, len -= 2;
    for (size_t i = 0; i < len && k + 1 < cap; i++) {
        if (quoted && v[i] == '\\' && i + 1 < len) i++;
        out[k++] = v[i];
    }
    out[k] = 0;
    return 1;
}

static int is_known_category(const char *cat)
{
    static const char *const known[] = {
        "exchange", "mixer", "bridge",   "swap", "sanctioned", "theft", "ransomware",
        "darknet",  "scam",  "gambling", "otc",  "defi",       "miner", "terrorism"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(cat, known[i])) return 1;
    return 0;
}

/* One address's context: the event's and the attribute's tags, read once. */
typedef struct misp_fields {
    char category[64];
    char actor[LABELS_MAX_TEXT + 1], source[LABELS_MAX_TEXT + 1], url[LABELS_MAX_TEXT + 1];
    char programs[LABELS_MAX_TEXT + 1], first_seen[LABELS_MAX_TEXT + 1];
    char last_seen[LABELS_MAX_TEXT + 1], updated[LABELS_MAX_TEXT + 1];
    char galaxy[LABELS_MAX_TEXT + 1]; /* the threat-actor galaxy tag's value */
    char foreign_cat[64];             /* the first other tag that names a known category */
    int confidence;
    int ours, has[8]; /* cointrail: tags seen, has[k] for ours_keys[k] */
} misp_fields;

typedef struct misp_event {
    json_t *ev;
    const char *info, *orgc, *date;
    char actor[LABELS_MAX_TEXT + 1];
    char category[64];
} misp_event;

/* The tag list key of o: each item an object with a string name; calls one(name, pointer) on
 * each. */
typedef int (*tag_fn)(labels_ctx *c, labels_jptr *p, const char *name, void *arg);

static int each_tag(labels_ctx *c, labels_jptr *p, json_t *o, tag_fn one, void *arg)
{
    json_t *tags = json_object_get(o, "Tag"), *t;
    if (!tags) return 0;
    size_t at = labels_jp_key(p, "Tag"), i;
    int rc = json_is_array(tags) ? 0 : labels_jerr(c, p, "expected a list of tags");
    json_array_foreach(tags, i, t)
    {
        if (rc) break;
        size_t at2 = labels_jp_idx(p, i);
        const char *name = NULL;
        if (!json_is_object(t))
            rc = labels_jerr(c, p, "expected an object (name, colour, ...)");
        else if (!(name = labels_jstr(c, p, t, "name", 4 * LABELS_MAX_TEXT, 1, &rc)) && !rc)
            labels_jp_key(p, "name"), rc = labels_jerr(c, p, "missing");
        if (!rc) {
            size_t at3 = labels_jp_key(p, "name");
            rc = one(c, p, name, arg);
            labels_jp_pop(p, at3);
        }
        labels_jp_pop(p, at2);
    }
    labels_jp_pop(p, at);
    return rc;
}

/* A tag's value as a label field: within the field's limit. */
static int field_value(labels_ctx *c, labels_jptr *p, const char *name, const char *key, char *out,
                       size_t cap, size_t max, int multiline, int *found)
{
    char v[4 * LABELS_MAX_TEXT + 1];
    if (!tag_value(name, key, v, sizeof v)) return 0;
    int rc = labels_ctx_check(c, 0, p->s, v, strlen(v), max, multiline);
    if (!rc) snprintf(out, cap, "%s", v), *found = 1;
    return rc;
}

static int event_tag(labels_ctx *c, labels_jptr *p, const char *name, void *arg)
{
    misp_event *e = arg;
    int found = 0, rc = 0;
    if (!*e->actor)
        rc = field_value(c, p, name, LABELS_MISP_ACTOR_TAG, e->actor, sizeof e->actor,
                         LABELS_MAX_TEXT, 1, &found);
    if (!rc && !*e->category) {
        const char *v = strrchr(name, '=');
        v = v ? v + 1 : strrchr(name, ':') ? strrchr(name, ':') + 1 : name;
        char word[64], cat[64];
        snprintf(word, sizeof word, "%s", *v == '"' ? v + 1 : v);
        if (*word && word[strlen(word) - 1] == '"') word[strlen(word) - 1] = 0;
        labels_category_map(cat, word);
        if (is_known_category(cat)) snprintf(e->category, sizeof e->category, "%s", cat);
    }
    return rc;
}

static const char *const ours_keys[] = {"category", "actor",      "source",    "url",
                                        "programs", "first-seen", "last-seen", "updated"};

static int attr_tag(labels_ctx *c, labels_jptr *p, const char *name, void *arg)
{
    misp_fields *f = arg;
    char *dst[8] = {f->category, f->actor,      f->source,    f->url,
                    f->programs, f->first_seen, f->last_seen, f->updated};
    size_t cap[8] = {sizeof f->category,  sizeof f->actor,    sizeof f->source,
                     sizeof f->url,       sizeof f->programs, sizeof f->first_seen,
                     sizeof f->last_seen, sizeof f->updated};
    int rc = 0, found = 0;
    char key[64];
    for (size_t k = 0; k < 8 && !rc; k++) {
        snprintf(key, sizeof key, "%s:%s", LABELS_MISP_NS, ours_keys[k]);
        found = 0;
        rc = field_value(c, p, name, key, dst[k], cap[k],
                         k == 0 ? LABELS_MAX_CATEGORY : LABELS_MAX_TEXT, k == 1 || k == 2, &found);
        if (found) f->has[k] = f->ours = 1;
    }
    snprintf(key, sizeof key, "%s:confidence", LABELS_MISP_NS);
    char v[64];
    if (!rc && tag_value(name, key, v, sizeof v)) {
        f->ours = 1;
        if ((f->confidence = labels_confidence_from_name(v)) < 0)
            rc = labels_jerr(c, p, "confidence: expected 0..100 or a TagPack confidence name");
    }
    if (!rc && !*f->galaxy)
        rc = field_value(c, p, name, LABELS_MISP_ACTOR_TAG, f->galaxy, sizeof f->galaxy,
                         LABELS_MAX_TEXT, 1, &found);
    if (!rc && !*f->foreign_cat && strncmp(name, LABELS_MISP_NS ":", strlen(LABELS_MISP_NS) + 1)) {
        misp_event scratch = {0};
        scratch.actor[0] = 'x'; /* only the category is wanted */
        event_tag(c, p, name, &scratch);
        snprintf(f->foreign_cat, sizeof f->foreign_cat, "%s", scratch.category);
    }
    return rc;
}

/* The string attributes of an object by relation: out[k] for rel[k] (the first of each). */
static int object_attrs(labels_ctx *c, labels_jptr *p, json_t *obj, const char *const *rel,
                        size_t n, json_t **out, size_t *index)
{
    json_t *attrs = json_object_get(obj, "Attribute"), *a;
    size_t at = labels_jp_key(p, "Attribute"), i;
    int rc = attrs && !json_is_array(attrs) ? labels_jerr(c, p, "expected a list") : 0;
    json_array_foreach(attrs, i, a)
    {
        if (rc) break;
        size_t at2 = labels_jp_idx(p, i);
        const char *r = NULL;
        if (!json_is_object(a))
            rc = labels_jerr(c, p, "expected an attribute object");
        else if (!(r = labels_jstr(c, p, a, "object_relation", 64, 0, &rc)) && !rc)
            labels_jp_key(p, "object_relation"), rc = labels_jerr(c, p, "missing");
        else if (!rc && !json_is_string(json_object_get(a, "value")))
            labels_jp_key(p, "value"), rc = labels_jerr(c, p, "expected a string");
        for (size_t k = 0; k < n && !rc; k++)
            if (!strcmp(r, rel[k]) && !out[k]) out[k] = a, index[k] = i;
        labels_jp_pop(p, at2);
    }
    labels_jp_pop(p, at);
    return rc;
}

/* One address attribute a (at pointer p, "Attribute/N" inside obj when obj is not NULL). */
static int address_label(labels_ctx *c, labels_jptr *p, const misp_event *e, json_t *a,
                         const char *chain_hint, const char *symbol, const char *text,
                         const char *comment, const char *fs, const char *ls, int need_tag)
{
    int rc = 0;
    const char *address = labels_jstr(c, p, a, "value", 4 * LABELS_MAX_TEXT, 0, &rc);
    if (rc) return rc;
    misp_fields *f = calloc(1, sizeof *f);
    if (!f) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    f->confidence = LABELS_CONFIDENCE_DEFAULT;
    rc = each_tag(c, p, a, attr_tag, f);
    int tagged = f->has[1] || *f->galaxy || f->has[0] || *f->foreign_cat;
    if (rc || (need_tag && !tagged)) {
        free(f);
        return rc;
    }
    char chain[32];
    const char *ch = NULL;
    if (symbol && !labels_chain_from_currency(chain, symbol, NULL)) ch = chain;
    if (!ch) ch = chain_hint;
    if (!ch) ch = labels_guess_chain(c, address);
    size_t at = labels_jp_key(p, "value");
    if (!ch)
        rc = labels_jerr(c, p,
                         "cannot tell the chain of an address (no symbol, not a Bitcoin or 0x "
                         "address); give --chain");
    /* datetime attributes: their date */
    char d1[11] = "", d2[11] = "", d3[11] = "";
    if (fs && labels_is_date(fs, strlen(fs))) memcpy(d1, fs, 10);
    if (ls && labels_is_date(ls, strlen(ls))) memcpy(d2, ls, 10);
    if (e->date && labels_is_date(e->date, strlen(e->date))) memcpy(d3, e->date, 10);
    labels_raw r = {.currency = ch,
                    .address = address,
                    .actor = f->has[1]    ? f->actor
                             : *f->galaxy ? f->galaxy
                                          : NULL,
                    .first_seen = f->has[5] ? f->first_seen : d1,
                    .last_seen = f->has[6] ? f->last_seen : d2,
                    .confidence = f->confidence};
    char ours_cat[64];
    if (f->ours) {
        /* mapped as every other importer maps a category ("sAnctioned" -> "sanctioned"), so
         * a label reads back the same from each format (fuzz/fuzz_sharing.c round trips) */
        labels_category_map(ours_cat, f->category);
        r.category = f->has[0] ? ours_cat : "unknown";
        r.name = text;
        r.source = f->has[2] ? f->source : NULL;
        r.url = f->url;
        r.programs = f->programs;
        r.updated = f->updated;
    } else {
        r.category = *f->foreign_cat ? f->foreign_cat : *e->category ? e->category : "unknown";
        if (!r.actor) r.actor = e->actor;
        r.name = text && *text ? text : comment && *comment ? comment : e->info;
        r.source = e->orgc;
        r.updated = d3;
    }
    if (!r.source || !*r.source) r.source = c->base;
    if (!rc) {
        c->addr_field = c->chain_field = p->s;
        rc = labels_ctx_add(c, 0, &r);
        c->addr_field = "address";
        c->chain_field = "chain";
    }
    labels_jp_pop(p, at);
    free(f);
    return rc;
}

/* The relations of the address objects cointrail reads. */
enum { R_ADDR, R_ADDR_CRYPTO, R_ADDR_XMR, R_WALLET, R_BTC_ADDR, R_SYMBOL, R_TEXT, R_FS, R_LS, R_N };
static const char *const rels[R_N] = {"address",        "address-crypto", "address-xmr",
                                      "wallet-address", "btc-address",    "symbol",
                                      "text",           "first-seen",     "last-seen"};

static int object_labels(labels_ctx *c, labels_jptr *p, const misp_event *e, json_t *obj)
{
    if (!json_is_object(obj)) return labels_jerr(c, p, "expected an object");
    int rc = 0;
    const char *name = labels_jstr(c, p, obj, "name", 128, 0, &rc);
    const char *comment = rc ? NULL : labels_jstr(c, p, obj, "comment", LABELS_MAX_NAME, 1, &rc);
    if (rc || !name) return rc;
    int coin = !strcmp(name, "coin-address"), wallet = !strcmp(name, "btc-wallet");
    int tx = !strcmp(name, "cryptocurrency-transaction"), btctx = !strcmp(name, "btc-transaction");
    if (!coin && !wallet && !tx && !btctx) return 0;
    json_t *a[R_N] = {0};
    size_t idx[R_N] = {0};
    if ((rc = object_attrs(c, p, obj, rels, R_N, a, idx))) return rc;
    const char *v[R_N] = {0};
    for (int k = R_SYMBOL; k < R_N && !rc; k++)
        if (a[k]) {
            size_t at = labels_jp_key(p, "Attribute");
            labels_jp_idx(p, idx[k]);
            v[k] = labels_jstr(c, p, a[k], "value",
                               k == R_SYMBOL ? 31
                               : k == R_TEXT ? LABELS_MAX_NAME
                                             : LABELS_MAX_TEXT,
                               k == R_TEXT, &rc);
            labels_jp_pop(p, at);
        }
    const int addr_rel[] = {R_ADDR, R_ADDR_CRYPTO, R_ADDR_XMR, R_WALLET, R_BTC_ADDR};
    for (size_t k = 0; k < sizeof addr_rel / sizeof *addr_rel && !rc; k++) {
        int r = addr_rel[k];
        if (!a[r]) continue;
        if ((coin && r == R_WALLET) || (coin && r == R_BTC_ADDR)) continue;
        size_t at = labels_jp_key(p, "Attribute");
        labels_jp_idx(p, idx[r]);
        const char *hint = r == R_ADDR_XMR ? "xmr" : (wallet || btctx) ? "btc" : NULL;
        rc = address_label(c, p, e, a[r], hint, v[R_SYMBOL], v[R_TEXT], comment, v[R_FS], v[R_LS],
                           tx || btctx);
        labels_jp_pop(p, at);
    }
    return rc;
}

static int event_labels(labels_ctx *c, labels_jptr *p, json_t *ev)
{
    if (!json_is_object(ev)) return labels_jerr(c, p, "expected an event object");
    misp_event e = {.ev = ev};
    int rc = 0;
    e.info = labels_jstr(c, p, ev, "info", LABELS_MAX_NAME, 1, &rc);
    if (!rc) e.date = labels_jstr(c, p, ev, "date", 64, 0, &rc);
    json_t *orgc = json_object_get(ev, "Orgc");
    if (!rc && orgc) {
        size_t at = labels_jp_key(p, "Orgc");
        if (!json_is_object(orgc))
            rc = labels_jerr(c, p, "expected an object (name, uuid)");
        else
            e.orgc = labels_jstr(c, p, orgc, "name", LABELS_MAX_TEXT, 1, &rc);
        labels_jp_pop(p, at);
    }
    if (!rc) rc = each_tag(c, p, ev, event_tag, &e);
    /* the event's threat-actor galaxy clusters, when no tag names one */
    json_t *gal = json_object_get(ev, "Galaxy"), *g;
    size_t gi;
    json_array_foreach(json_is_array(gal) ? gal : NULL, gi, g)
    {
        json_t *cl;
        size_t ci;
        json_array_foreach(json_object_get(g, "GalaxyCluster"), ci, cl)
        {
            const char *type = sget(cl, "type"), *value = sget(cl, "value");
            if (rc || *e.actor || !type || strcmp(type, "threat-actor") || !value) continue;
            size_t at = labels_jp_key(p, "Galaxy");
            labels_jp_idx(p, gi), labels_jp_key(p, "GalaxyCluster"), labels_jp_idx(p, ci);
            labels_jp_key(p, "value");
            if (!(rc = labels_ctx_check(c, 0, p->s, value, strlen(value), LABELS_MAX_TEXT, 1)))
                snprintf(e.actor, sizeof e.actor, "%s", value);
            labels_jp_pop(p, at);
        }
    }
    static const char *const lists[] = {"Attribute", "Object"};
    for (size_t k = 0; k < 2 && !rc; k++) {
        json_t *list = json_object_get(ev, lists[k]), *item;
        size_t at = labels_jp_key(p, lists[k]), i;
        if (list && !json_is_array(list)) rc = labels_jerr(c, p, "expected a list");
        json_array_foreach(list, i, item)
        {
            if (rc) break;
            size_t at2 = labels_jp_idx(p, i);
            if (k == 1) {
                rc = object_labels(c, p, &e, item);
            } else if (!json_is_object(item)) {
                rc = labels_jerr(c, p, "expected an attribute object");
            } else {
                const char *type = labels_jstr(c, p, item, "type", 64, 0, &rc);
                int addr = !rc && type && (!strcmp(type, "btc") || !strcmp(type, "xmr"));
                const char *comment =
                    addr ? labels_jstr(c, p, item, "comment", LABELS_MAX_NAME, 1, &rc) : NULL;
                if (addr && !rc)
                    rc = address_label(c, p, &e, item, type, NULL, NULL, comment, NULL, NULL, 0);
            }
            labels_jp_pop(p, at2);
        }
        labels_jp_pop(p, at);
    }
    return rc;
}

int labels_parse_misp(labels_ctx *c, json_t *root)
{
    labels_jptr p = {.n = 0};
    json_t *ev = json_object_get(root, "Event");
    if (ev) {
        labels_jp_key(&p, "Event");
        return event_labels(c, &p, ev);
    }
    json_t *list = json_object_get(root, "response"), *item;
    labels_jp_key(&p, "response");
    if (!json_is_array(list)) return labels_jerr(c, &p, "expected a list of {\"Event\": ...}");
    size_t i;
    int rc = 0;
    json_array_foreach(list, i, item)
    {
        if (rc) break;
        size_t at = labels_jp_idx(&p, i);
        labels_jp_key(&p, "Event");
        json_t *e = json_object_get(item, "Event");
        rc = e ? event_labels(c, &p, e) : labels_jerr(c, &p, "missing");
        labels_jp_pop(&p, at);
    }
    return rc;
}
