/* case: reading incident files in YAML (docs/incidents.md): a list of incidents, or a mapping
 * with one under "incidents"; errors name the YAML path (incidents[3].seeds[0].spec) and line. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "case_inc_int.h"

typedef struct ydoc {
    const char *path;
    yaml_document_t *doc;
    util_err *err;
} ydoc;

static long yline(const yaml_node_t *n)
{
    return (long)n->start_mark.line + 1;
}

/* A scalar's text (NUL-free), or an error naming the path. */
static int yscalar(const ydoc *y, const yaml_node_t *n, const char *path, const char **out)
{
    inc_loc l = {.path = y->path, .line = yline(n), .ypath = path};
    if (n->type != YAML_SCALAR_NODE)
        return inc_fail(&l, y->err, UTIL_EFORMAT, "expected a single value, not a list or mapping");
    const char *v = (const char *)n->data.scalar.value;
    if (strlen(v) != n->data.scalar.length)
        return inc_fail(&l, y->err, UTIL_EFORMAT, "a NUL character (\\0) in the value");
    *out = v;
    return 0;
}

/* A scalar, or a list of scalars joined with sep (chains, amounts). */
static int yjoined(const ydoc *y, const yaml_node_t *n, const char *path, const char *sep,
                   util_buf *b)
{
    b->len = 0;
    const char *v;
    int rc = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        size_t k = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top && !rc; it++, k++) {
            yaml_node_t *x = yaml_document_get_node(y->doc, *it);
            char p[400];
            snprintf(p, sizeof p, "%.300s[%zu]", path, k);
            if (!x || (rc = yscalar(y, x, p, &v))) break;
            if (util_buf_printf(b, "%s%s", k ? sep : "", v)) rc = UTIL_ENOMEM;
        }
    } else if (!(rc = yscalar(y, n, path, &v)) && util_buf_printf(b, "%s", v))
        rc = UTIL_ENOMEM;
    if (!rc && util_buf_append(b, "", 1)) rc = UTIL_ENOMEM;
    if (rc == UTIL_ENOMEM) util_errf(y->err, rc, "out of memory");
    return rc;
}

/* The keys of a mapping: scalars, each once, each in the list known. */
static int ykeys(const ydoc *y, const yaml_node_t *map, const char *path, const char *const *known,
                 size_t nk)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, a->key);
        inc_loc l = {.path = y->path, .line = k ? yline(k) : 0, .ypath = path};
        if (!k || k->type != YAML_SCALAR_NODE ||
            strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
            return inc_fail(&l, y->err, UTIL_EFORMAT, "a key that is not a plain name");
        const char *key = (const char *)k->data.scalar.value;
        size_t i = 0;
        while (i < nk && strcmp(known[i], key))
            i++;
        char kb[64];
        if (i == nk)
            return inc_fail(&l, y->err, UTIL_EFORMAT, "key '%s' is not known (docs/incidents.md)",
                            labels_text_escape(kb, sizeof kb, key));
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *k2 = yaml_document_get_node(y->doc, b->key);
            if (k2 && !strcmp((const char *)k2->data.scalar.value, key))
                return inc_fail(&l, y->err, UTIL_EFORMAT, "key '%s' given twice", key);
        }
    }
    return 0;
}

static yaml_node_t *yget(const ydoc *y, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, a->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(y->doc, a->value);
    }
    return NULL;
}

/* A text field of a mapping ("" when absent). */
static int ytext(const ydoc *y, const yaml_node_t *map, const char *key, const char *path,
                 const char **out)
{
    *out = "";
    yaml_node_t *n = yget(y, map, key);
    if (!n) return 0;
    char p[400];
    snprintf(p, sizeof p, "%.300s.%s", path, key);
    if (n->type == YAML_SCALAR_NODE && !n->data.scalar.length) return 0;
    return yscalar(y, n, p, out);
}

static const char *const y_inc_keys[] = {
    "id",          "date",        "victim",  "chains", "amount_native",
    "amount_fiat", "attribution", "sources", "notes",  "seeds"};
static const char *const y_attr_keys[] = {"actor",      "attributed_by", "kind",
                                          "confidence", "date",          "url"};
static const char *const y_seed_keys[] = {"spec", "chain", "role", "note", "url"};
static const char *const y_src_roles[] = {"incident", "attribution", "other", "official"};

static int yattribution(const ydoc *y, case_incident *inc, const yaml_node_t *n, const char *path)
{
    inc_loc l = {.path = y->path, .line = yline(n), .ypath = path};
    if (n->type == YAML_SCALAR_NODE) { /* "Lazarus Group;APT38" */
        inc_attr_ctx a = {inc, "", "", "", "", -1, y->err};
        const char *v;
        int empty, rc = yscalar(y, n, path, &v);
        if (!rc) rc = inc_split_items(v, ";", inc_attr_item, &a, &empty);
        if (rc == UTIL_ENOMEM) return util_errf(y->err, rc, "out of memory");
        return rc ? inc_fail(&l, y->err, UTIL_EFORMAT, "an empty actor between ';'") : 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return inc_fail(&l, y->err, UTIL_EFORMAT,
                        "a list of attributions (actor:, attributed_by:, ...) or a string");
    size_t k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, k++) {
        yaml_node_t *x = yaml_document_get_node(y->doc, *it);
        char p[400];
        snprintf(p, sizeof p, "%.300s[%zu]", path, k);
        inc_loc lx = {.path = y->path, .line = x ? yline(x) : 0, .ypath = p};
        if (!x || x->type != YAML_MAPPING_NODE)
            return inc_fail(&lx, y->err, UTIL_EFORMAT, "an attribution is a mapping (actor: ...)");
        int rc = ykeys(y, x, p, y_attr_keys, sizeof y_attr_keys / sizeof *y_attr_keys);
        const char *actor, *by, *kind, *conf, *date, *url;
        if (!rc) rc = ytext(y, x, "actor", p, &actor);
        if (!rc) rc = ytext(y, x, "attributed_by", p, &by);
        if (!rc) rc = ytext(y, x, "kind", p, &kind);
        if (!rc) rc = ytext(y, x, "confidence", p, &conf);
        if (!rc) rc = ytext(y, x, "date", p, &date);
        if (!rc) rc = ytext(y, x, "url", p, &url);
        if (rc) return rc;
        case_attribution *v = realloc(inc->attrs, (inc->n_attrs + 1) * sizeof *v);
        if (!v) return util_errf(y->err, UTIL_ENOMEM, "out of memory");
        inc->attrs = v;
        case_attribution *a = &v[inc->n_attrs];
        memset(a, 0, sizeof *a);
        inc->n_attrs++; /* freed with the incident */
        char f[480];
#define AT(key) (snprintf(f, sizeof f, "%s.%s", p, key), lx.ypath = f, &lx)
        if ((rc = inc_set_text(AT("actor"), y->err, &a->actor, actor, CASE_MAX_TEXT, 0)) ||
            (rc = inc_set_text(AT("attributed_by"), y->err, &a->attributed_by, by, CASE_MAX_TEXT,
                               0)) ||
            (rc = inc_set_text(AT("kind"), y->err, &a->kind, kind, 32, 0)) ||
            (rc = inc_check_kind(AT("kind"), y->err, a->kind)) ||
            (rc = inc_parse_confidence(AT("confidence"), y->err, conf, &a->confidence)) ||
            (rc = inc_set_text(AT("date"), y->err, &a->date, date, 32, 0)) ||
            (rc = inc_check_date(AT("date"), y->err, a->date)) ||
            (rc = inc_set_text(AT("url"), y->err, &a->url, url, INC_MAX_URL, 0)))
            return rc;
        if (!*a->actor) return inc_fail(AT("actor"), y->err, UTIL_EFORMAT, "empty");
        if (*a->url && (rc = inc_check_url(AT("url"), y->err, a->url, strlen(a->url)))) return rc;
        if (*a->url &&
            (rc = inc_add_url(AT("url"), y->err, inc, "attribution", a->url, strlen(a->url))))
            return rc;
#undef AT
    }
    return 0;
}

static int ysources(const ydoc *y, case_incident *inc, const yaml_node_t *n, const char *path)
{
    inc_loc l = {.path = y->path, .line = yline(n), .ypath = path};
    if (n->type == YAML_MAPPING_NODE) { /* role: url or role: [urls] */
        int rc = ykeys(y, n, path, y_src_roles, sizeof y_src_roles / sizeof *y_src_roles);
        for (size_t r = 0; !rc && r < sizeof y_src_roles / sizeof *y_src_roles; r++) {
            yaml_node_t *v = yget(y, n, y_src_roles[r]);
            if (!v) continue;
            char p[400];
            snprintf(p, sizeof p, "%.300s.%s", path, y_src_roles[r]);
            util_buf b = {0};
            if (!(rc = yjoined(y, v, p, " ", &b))) {
                inc_loc lv = {.path = y->path, .line = yline(v), .ypath = p};
                rc = inc_add_urls(&lv, y->err, inc, y_src_roles[r], (const char *)b.data);
            }
            util_buf_free(&b);
        }
        return rc;
    }
    if (n->type != YAML_SEQUENCE_NODE && n->type != YAML_SCALAR_NODE)
        return inc_fail(&l, y->err, UTIL_EFORMAT, "a list of URLs, or role: URL");
    util_buf b = {0};
    int rc = yjoined(y, n, path, " ", &b);
    if (!rc) rc = inc_add_urls(&l, y->err, inc, "incident", (const char *)b.data);
    util_buf_free(&b);
    return rc;
}

static int yseeds(const ydoc *y, case_incident *inc, const yaml_node_t *n, const char *path)
{
    inc_loc l = {.path = y->path, .line = yline(n), .ypath = path};
    if (n->type != YAML_SEQUENCE_NODE)
        return inc_fail(&l, y->err, UTIL_EFORMAT, "a list of seeds (a spec, or spec: ...)");
    size_t k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, k++) {
        yaml_node_t *x = yaml_document_get_node(y->doc, *it);
        char p[400];
        snprintf(p, sizeof p, "%.300s[%zu]", path, k);
        inc_loc lx = {.path = y->path, .line = x ? yline(x) : 0, .ypath = p};
        const char *spec = "", *chain = "", *role = "", *note = "", *url = "";
        int rc = 0;
        if (!x) continue;
        if (x->type == YAML_SCALAR_NODE)
            rc = yscalar(y, x, p, &spec);
        else if (x->type == YAML_MAPPING_NODE) {
            rc = ykeys(y, x, p, y_seed_keys, sizeof y_seed_keys / sizeof *y_seed_keys);
            if (!rc) rc = ytext(y, x, "spec", p, &spec);
            if (!rc) rc = ytext(y, x, "chain", p, &chain);
            if (!rc) rc = ytext(y, x, "role", p, &role);
            if (!rc) rc = ytext(y, x, "note", p, &note);
            if (!rc) rc = ytext(y, x, "url", p, &url);
        } else
            rc = inc_fail(&lx, y->err, UTIL_EFORMAT, "a seed is a spec or a mapping (spec: ...)");
        if (rc) return rc;
        char f[480];
        snprintf(f, sizeof f, "%.400s%s", p, x->type == YAML_MAPPING_NODE ? ".spec" : "");
        lx.ypath = f;
        case_incident_seed s;
        if ((rc = inc_make_seed(&lx, y->err, inc, chain, spec, role, note, url, &s))) return rc;
        if ((rc = inc_push_seed(y->err, inc, &s))) return rc;
    }
    return 0;
}

static int yincident(const ydoc *y, const yaml_node_t *m, const char *path, case_inc_set *set)
{
    inc_loc l = {.path = y->path, .line = yline(m), .ypath = path};
    if (m->type != YAML_MAPPING_NODE)
        return inc_fail(&l, y->err, UTIL_EFORMAT, "an incident is a mapping (id:, date:, ...)");
    int rc = ykeys(y, m, path, y_inc_keys, sizeof y_inc_keys / sizeof *y_inc_keys);
    if (rc) return rc;
    if (inc_grow((void **)&set->inc, &set->cap_inc, set->n_inc, sizeof *set->inc))
        return util_errf(y->err, UTIL_ENOMEM, "out of memory");
    case_incident *inc = &set->inc[set->n_inc];
    memset(inc, 0, sizeof *inc);
    set->n_inc++;
    char f[480];
    util_buf b = {0};
#define AT(key)                                                                                    \
    (snprintf(f, sizeof f, "%.300s.%s", path, key), l.ypath = f,                                   \
     l.line = yget(y, m, key) ? yline(yget(y, m, key)) : yline(m), &l)
    const char *id, *date, *victim, *notes;
    if ((rc = ytext(y, m, "id", path, &id)) || (rc = ytext(y, m, "date", path, &date)) ||
        (rc = ytext(y, m, "victim", path, &victim)) || (rc = ytext(y, m, "notes", path, &notes)))
        return rc;
    if ((rc = inc_set_text(AT("id"), y->err, &inc->slug, id, INC_MAX_SLUG, 0)) ||
        (rc = inc_check_slug(AT("id"), y->err, inc->slug)) ||
        (rc = inc_set_text(AT("date"), y->err, &inc->date, date, 32, 0)) ||
        (rc = inc_check_date(AT("date"), y->err, inc->date)) ||
        (rc = inc_set_text(AT("victim"), y->err, &inc->victim, victim, CASE_MAX_TEXT, 0)) ||
        (rc = inc_set_text(AT("notes"), y->err, &inc->notes, notes, CASE_MAX_LONG, 1)))
        return rc;
    yaml_node_t *n;
    const char *empty = "";
    if ((n = yget(y, m, "chains"))) {
        if (!(rc = yjoined(y, n, AT("chains")->ypath, ";", &b)))
            rc = inc_set_chains(AT("chains"), y->err, &inc->chains, (const char *)b.data);
    } else
        rc = inc_set_chains(AT("chains"), y->err, &inc->chains, empty);
    if (!rc && (n = yget(y, m, "amount_native"))) {
        if (!(rc = yjoined(y, n, AT("amount_native")->ypath, ";", &b)))
            rc = inc_set_amounts(AT("amount_native"), y->err, &inc->amount_native, NULL,
                                 (const char *)b.data);
    } else if (!rc)
        rc = inc_set_amounts(AT("amount_native"), y->err, &inc->amount_native, NULL, empty);
    if (!rc && (n = yget(y, m, "amount_fiat"))) {
        if (!(rc = yjoined(y, n, AT("amount_fiat")->ypath, ";", &b)))
            rc = inc_set_amounts(AT("amount_fiat"), y->err, &inc->amount_fiat, &inc->usd,
                                 (const char *)b.data);
    } else if (!rc)
        rc = inc_set_amounts(AT("amount_fiat"), y->err, &inc->amount_fiat, &inc->usd, empty);
    util_buf_free(&b);
    if (!rc && (n = yget(y, m, "attribution")))
        rc = yattribution(y, inc, n, AT("attribution")->ypath);
    if (!rc && (n = yget(y, m, "sources"))) {
        snprintf(f, sizeof f, "%s.sources", path);
        rc = ysources(y, inc, n, f);
    }
    if (!rc && (n = yget(y, m, "seeds"))) {
        char p[400];
        snprintf(p, sizeof p, "%s.seeds", path);
        rc = yseeds(y, inc, n, p);
    }
#undef AT
    if (!rc && !*inc->slug) {
        l.ypath = path, l.line = yline(m);
        rc = inc_fail(&l, y->err, UTIL_EFORMAT, "no id");
    }
    l.ypath = path, l.line = yline(m);
    if (!rc && !(inc->origin = inc_origin(&l)))
        rc = util_errf(y->err, UTIL_ENOMEM, "out of memory");
    return rc;
}

static int yaml_fail(const char *path, const yaml_parser_t *p, util_err *err)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    return util_errf(err, UTIL_EFORMAT, "%s:%ld: column %ld: YAML: %s%s%s", path, (long)m->line + 1,
                     (long)m->column + 1, p->problem ? p->problem : "malformed",
                     p->context ? " " : "", p->context ? p->context : "");
}

/* libyaml's loader is quadratic in the nesting depth: refuse deep files from the events first. */
static int yaml_depth(const char *path, const char *data, size_t len, util_err *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int rc = 0, depth = 0, done = 0;
    while (!rc && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_fail(path, &p, err);
            break;
        }
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > INC_MAX_DEPTH)
                rc =
                    util_errf(err, UTIL_EFORMAT, "%s:%ld: lists and mappings nested deeper than %d",
                              path, (long)ev.start_mark.line + 1, INC_MAX_DEPTH);
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        else if (ev.type == YAML_ALIAS_EVENT)
            rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: YAML aliases (*name) are not taken", path,
                           (long)ev.start_mark.line + 1);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

int case_inc_parse_yaml(const char *path, const char *data, size_t len, case_inc_set *set,
                        util_err *err)
{
    int rc = yaml_depth(path, data, len, err);
    if (rc) return rc;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    if (!yaml_parser_load(&p, &doc)) {
        rc = yaml_fail(path, &p, err);
        yaml_parser_delete(&p);
        return rc;
    }
    ydoc y = {path, &doc, err};
    yaml_node_t *root = yaml_document_get_root_node(&doc), *list = root;
    const char *base = "incidents";
    if (!root)
        rc = util_errf(err, UTIL_EFORMAT, "%s: empty: no incidents in it", path);
    else if (root->type == YAML_MAPPING_NODE) {
        static const char *const top[] = {"incidents"};
        if (!(rc = ykeys(&y, root, "(top)", top, 1)) && !(list = yget(&y, root, "incidents")))
            rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: no key 'incidents'", path, yline(root));
    } else
        base = "";
    if (!rc && list->type != YAML_SEQUENCE_NODE)
        rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: %s: a list of incidents", path, yline(list),
                       *base ? base : "(top)");
    size_t k = 0;
    for (yaml_node_item_t *it = rc ? NULL : list->data.sequence.items.start;
         it && it < list->data.sequence.items.top && !rc; it++, k++) {
        yaml_node_t *x = yaml_document_get_node(&doc, *it);
        char pth[64];
        snprintf(pth, sizeof pth, "%s[%zu]", base, k);
        if (x) rc = yincident(&y, x, pth, set);
    }
    if (!rc) { /* one document only */
        yaml_document_t next;
        if (!yaml_parser_load(&p, &next))
            rc = yaml_fail(path, &p, err);
        else {
            if (yaml_document_get_root_node(&next))
                rc = util_errf(err, UTIL_EFORMAT, "%s: more than one YAML document", path);
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return rc;
}
