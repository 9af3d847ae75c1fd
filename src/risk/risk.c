/* risk: screening documents and risk scores (see risk.h, docs/screening.md). */
#include "risk.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../trace/trace.h"
#include "risk_int.h"

/* ---- rules ---- */

static const struct risk_weight default_weights[] = {
    {"sanctioned", 100}, {"terrorism", 100}, {"theft", 100},   {"ransomware", 100}, {"darknet", 80},
    {"scam", 80},        {"mixer", 70},      {"gambling", 20}, {"otc", 10},         {"bridge", 5},
    {"swap", 5},         {"exchange", 0},    {"miner", 0},     {"defi", 0},
};

void risk_config_default(risk_config *c)
{
    memset(c, 0, sizeof *c);
    c->hops = 10;
    c->policy = TRACE_HAIRCUT;
    c->min_value = 1000;
    c->max_outputs = 20000;
    c->max_seed_outputs = 5000;
    /* Risk follows the money, not the hop count: a deposit that is all stolen is severe at any
     * depth, and only dilution lowers it (docs/screening.md, "Calibration"). */
    c->hop_decay = 1;
    c->full_exposure_share = 1;
    c->thresholds[0] = 20;
    c->thresholds[1] = 50;
    c->thresholds[2] = 80;
    c->level_shares[0] = 0.05;
    c->level_shares[1] = 0.2;
    c->level_shares[2] = 0.5;
    c->cumulative_share = 1;
    c->default_weight = 10;
    c->n_weights = sizeof default_weights / sizeof *default_weights;
    memcpy(c->weights, default_weights, sizeof default_weights);
}

double risk_weight(const risk_config *c, const char *category)
{
    for (size_t i = 0; i < c->n_weights; i++)
        if (!strcmp(c->weights[i].category, category)) return c->weights[i].weight;
    return c->default_weight;
}

double risk_share_factor(const risk_config *c, double share)
{
    const double x[5] = {0, c->level_shares[0], c->level_shares[1], c->level_shares[2],
                         c->full_exposure_share};
    const double y[5] = {0, c->thresholds[0] / 100, c->thresholds[1] / 100, c->thresholds[2] / 100,
                         1};
    if (!(share > 0)) return 0;
    if (share >= x[4]) return 1;
    /* the last point at or below the share; the next is above it (x ascends), so the segment
     * has a width even where two points share an x (a step) */
    int i = 3;
    while (x[i] > share)
        i--;
    return y[i] + (y[i + 1] - y[i]) * (share - x[i]) / (x[i + 1] - x[i]);
}

static int num_in(json_t *v, double lo, double hi, double *out)
{
    if (!json_is_number(v)) return -1;
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return -1;
    *out = d;
    return 0;
}

/* An object of levels {medium, high, severe} with numbers 0..hi (what: how the error names
 * them) into out[0..2]; the levels it leaves out keep their values. */
static int per_level(json_t *v, const char *path, const char *key, double hi, const char *what,
                     double out[3], util_err *err)
{
    static const char *const names[3] = {"medium", "high", "severe"};
    if (!json_is_object(v))
        return util_errf(err, UTIL_EFORMAT, "%s: %s: expected an object of medium, high, severe",
                         path, key);
    const char *k2;
    json_t *v2;
    json_object_foreach(v, k2, v2)
    {
        int i = 0;
        while (i < 3 && strcmp(k2, names[i]))
            i++;
        if (i == 3 || num_in(v2, 0, hi, &out[i]))
            return util_errf(err, UTIL_EFORMAT,
                             "%s: %s.%s: expected medium, high or severe with a %s", path, key, k2,
                             what);
    }
    return 0;
}

int risk_config_load(risk_config *c, const char *path, util_err *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return util_errf(err, UTIL_EFORMAT, "%s:%d: %s", path, je.line > 0 ? je.line : 0, je.text);
    int rc = 0;
    const char *key;
    json_t *v;
    double d;
    int has_full = 0, has_shares = 0;
    if (!json_is_object(doc)) {
        rc = util_errf(err, UTIL_EFORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    json_object_foreach(doc, key, v)
    {
        if (!strcmp(key, "hops")) {
            if (num_in(v, 1, RISK_MAX_HOPS, &d) || d != floor(d)) goto bad;
            c->hops = (uint32_t)d;
        } else if (!strcmp(key, "policy")) {
            int p = json_is_string(v) ? trace_policy_parse(json_string_value(v)) : -1;
            if (p < 0) goto bad;
            c->policy = p;
        } else if (!strcmp(key, "min_value")) {
            if (num_in(v, 0, 21e14, &d) || d != floor(d)) goto bad;
            c->min_value = (uint64_t)d;
        } else if (!strcmp(key, "max_outputs")) {
            if (num_in(v, 1, 1e9, &d) || d != floor(d)) goto bad;
            c->max_outputs = (uint64_t)d;
        } else if (!strcmp(key, "max_seed_outputs")) {
            if (num_in(v, 1, 1e9, &d) || d != floor(d)) goto bad;
            c->max_seed_outputs = (uint64_t)d;
        } else if (!strcmp(key, "hop_decay")) {
            if (num_in(v, 0, 1, &c->hop_decay)) goto bad;
        } else if (!strcmp(key, "full_exposure_share")) {
            if (num_in(v, 1e-9, 1, &c->full_exposure_share)) goto bad;
            has_full = 1;
        } else if (!strcmp(key, "default_weight")) {
            if (num_in(v, 0, 100, &c->default_weight)) goto bad;
        } else if (!strcmp(key, "thresholds")) {
            if ((rc = per_level(v, path, key, 100, "number 0..100", c->thresholds, err))) goto done;
            if (!(c->thresholds[0] <= c->thresholds[1] && c->thresholds[1] <= c->thresholds[2])) {
                rc = util_errf(err, UTIL_EFORMAT, "%s: thresholds: need medium <= high <= severe",
                               path);
                goto done;
            }
        } else if (!strcmp(key, "level_shares")) {
            if ((rc = per_level(v, path, key, 1, "share 0..1", c->level_shares, err))) goto done;
            has_shares = 1;
        } else if (!strcmp(key, "cumulative_share")) {
            if (!json_is_boolean(v)) goto bad;
            c->cumulative_share = json_is_true(v);
        } else if (!strcmp(key, "categories")) {
            if (!json_is_object(v)) goto bad;
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                if (num_in(v2, 0, 100, &d) || strlen(k2) >= sizeof c->weights[0].category || !*k2) {
                    rc = util_errf(err, UTIL_EFORMAT, "%s: categories.%s: expected a weight 0..100",
                                   path, k2);
                    goto done;
                }
                size_t i = 0;
                while (i < c->n_weights && strcmp(c->weights[i].category, k2))
                    i++;
                if (i == c->n_weights) {
                    if (c->n_weights == sizeof c->weights / sizeof *c->weights) {
                        rc = util_errf(err, UTIL_EFORMAT, "%s: categories: more than %zu", path,
                                       sizeof c->weights / sizeof *c->weights);
                        goto done;
                    }
                    c->n_weights++;
                    snprintf(c->weights[i].category, sizeof c->weights[i].category, "%s", k2);
                }
                c->weights[i].weight = d;
            }
        } else if (!strcmp(key, "version")) {
            if (!json_is_integer(v) || json_integer_value(v) != 1) goto bad;
        } else {
            rc = util_errf(err, UTIL_EFORMAT, "%s: unknown key '%s'", path, key);
            goto done;
        }
        continue;
    bad:
        rc = util_errf(err, UTIL_EFORMAT, "%s: %s: value out of range or of the wrong type", path,
                       key);
        goto done;
    }
    /* A file of the format before level_shares that sets full_exposure_share keeps its meaning:
     * the straight line min(1, share / full), which passes each threshold at full x it / 100. */
    if (has_full && !has_shares)
        for (int i = 0; i < 3; i++)
            c->level_shares[i] = c->full_exposure_share * c->thresholds[i] / 100;
    if (!(c->level_shares[0] <= c->level_shares[1] && c->level_shares[1] <= c->level_shares[2] &&
          c->level_shares[2] <= c->full_exposure_share))
        rc = util_errf(err, UTIL_EFORMAT,
                       "%s: level_shares: need medium <= high <= severe <= full_exposure_share "
                       "(%g)",
                       path, c->full_exposure_share);
done:
    json_decref(doc);
    return rc;
}

json_t *risk_config_json(const risk_config *c)
{
    json_t *cats = json_object();
    for (size_t i = 0; i < c->n_weights; i++)
        json_object_set_new(cats, c->weights[i].category, json_real(c->weights[i].weight));
    return json_pack(
        "{s:i, s:I, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}, s:b, "
        "s:o}",
        "version", 1, "hops", (json_int_t)c->hops, "policy", trace_policy_name(c->policy),
        "min_value", (json_int_t)c->min_value, "max_outputs", (json_int_t)c->max_outputs,
        "max_seed_outputs", (json_int_t)c->max_seed_outputs, "hop_decay", c->hop_decay,
        "full_exposure_share", c->full_exposure_share, "default_weight", c->default_weight,
        "thresholds", "medium", c->thresholds[0], "high", c->thresholds[1], "severe",
        c->thresholds[2], "level_shares", "medium", c->level_shares[0], "high", c->level_shares[1],
        "severe", c->level_shares[2], "cumulative_share", c->cumulative_share, "categories", cats);
}

/* ---- context (struct risk_ctx: risk_int.h) ---- */

static int cmp_el(const void *pa, const void *pb)
{
    const ent_label *a = pa, *b = pb;
    if (a->entity != b->entity) return a->entity < b->entity ? -1 : 1;
    if (a->best != b->best) return a->best > b->best ? -1 : 1;
    return a->label < b->label ? -1 : a->label > b->label;
}

static int add_cat(char ***cats, size_t *n, const char *cat)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*cats)[i], cat)) return 0;
    char **nc = realloc(*cats, (*n + 1) * sizeof *nc);
    if (!nc) return UTIL_ENOMEM;
    *cats = nc;
    if (!(nc[*n] = strdup(cat))) return UTIL_ENOMEM;
    (*n)++;
    return 0;
}

void risk_categories_free(char **cats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cats[i]);
    free(cats);
}

int risk_stop_categories(const labels_db *labels, const risk_config *c, char ***out, size_t *n,
                         util_err *err)
{
    char **cats = NULL;
    size_t nc = 0;
    for (size_t i = 0, nl = labels ? labels_db_count(labels) : 0; i < nl; i++)
        if (add_cat(&cats, &nc, labels_db_get(labels, i)->category)) {
            risk_categories_free(cats, nc);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    /* insertion sort keeps this free of a global comparator context */
    for (size_t i = 1; i < nc; i++) {
        char *k = cats[i];
        double w = risk_weight(c, k);
        size_t j = i;
        while (j > 0 && (risk_weight(c, cats[j - 1]) < w ||
                         (risk_weight(c, cats[j - 1]) == w && strcmp(cats[j - 1], k) > 0))) {
            cats[j] = cats[j - 1];
            j--;
        }
        cats[j] = k;
    }
    *out = cats;
    *n = nc;
    return 0;
}

int risk_ctx_new(risk_ctx **out, const store *s, const labels_db *labels,
                 const cluster_map *clusters, const risk_config *cfg, util_err *err)
{
    risk_ctx *r = calloc(1, sizeof *r);
    if (!r) return util_errf(err, UTIL_ENOMEM, "out of memory");
    r->s = s;
    r->labels = labels;
    r->clusters = clusters;
    r->cfg = *cfg;
    int rc = 0;
    size_t nl = labels ? labels_db_count(labels) : 0;
    if ((rc = risk_stop_categories(labels, cfg, &r->cats, &r->n_cats, err))) goto fail;
    if (labels) {
        rc = trace_stops_build(&r->stops, s, labels, clusters, (const char *const *)r->cats,
                               r->n_cats, err);
        if (!rc) rc = trace_actor_index_build(&r->actors, s, labels, clusters, err);
        if (rc) goto fail;
    }
    if ((rc = risk_index_open(r, err))) goto fail;
    if (risk_text_cache_new(r)) goto nomem;
    if (clusters && labels) {
        size_t cap = 0;
        for (size_t i = 0; i < nl; i++) {
            const labels_label *l = labels_db_get(labels, i);
            btc_addr key;
            if (strcmp(l->chain, "btc") || btc_addr_decode(&key, l->address, NULL)) continue;
            int64_t aid = store_find_addr(s, &key);
            if (aid < 0) continue;
            uint32_t e = cluster_entity_of(clusters, (uint32_t)aid);
            if (e == CLUSTER_NO_ENTITY) continue;
            if (r->n_el == cap) {
                cap = cap ? cap * 2 : 256;
                ent_label *n = realloc(r->el, cap * sizeof *n);
                if (!n) goto nomem;
                r->el = n;
            }
            r->el[r->n_el++] = (ent_label){e, (uint32_t)i, 0};
        }
        if (r->n_el > 1) qsort(r->el, r->n_el, sizeof *r->el, cmp_el);
        /* An exchange's entity can carry thousands of labels. Mark the heaviest of each
         * category per entity and sort those first, so a screening reads a few entries instead
         * of the entity's whole range. */
        for (size_t lo = 0, hi; lo < r->n_el; lo = hi) {
            for (hi = lo; hi < r->n_el && r->el[hi].entity == r->el[lo].entity; hi++)
                ;
            for (size_t i = lo; i < hi; i++) {
                const labels_label *l = labels_db_get(labels, r->el[i].label);
                double v = risk_weight(cfg, l->category) * l->confidence;
                size_t j = lo;
                while (j < hi &&
                       !(r->el[j].best &&
                         !strcmp(labels_db_get(labels, r->el[j].label)->category, l->category)))
                    j++;
                if (j == hi) {
                    r->el[i].best = 1;
                } else {
                    const labels_label *m = labels_db_get(labels, r->el[j].label);
                    if (v > risk_weight(cfg, m->category) * m->confidence) {
                        r->el[j].best = 0;
                        r->el[i].best = 1;
                    }
                }
            }
        }
        if (r->n_el > 1) qsort(r->el, r->n_el, sizeof *r->el, cmp_el);
    }
    *out = r;
    return 0;
nomem:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
fail:
    risk_ctx_free(r);
    return rc;
}

void risk_ctx_free(risk_ctx *r)
{
    if (!r) return;
    trace_stops_free(r->stops);
    trace_actor_index_free(r->actors);
    exposure_close(r->ix);
    risk_text_cache_free(r);
    risk_categories_free(r->cats, r->n_cats);
    free(r->el);
    free(r);
}

const risk_config *risk_ctx_config(const risk_ctx *r)
{
    return &r->cfg;
}

/* ---- scoring ---- */

const char *risk_level_name(risk_level l)
{
    static const char *const names[] = {"none", "low", "medium", "high", "severe"};
    return l >= RISK_NONE && l <= RISK_SEVERE ? names[l] : "none";
}

static risk_level level_of(const risk_config *c, double score)
{
    if (score >= c->thresholds[2]) return RISK_SEVERE;
    if (score >= c->thresholds[1]) return RISK_HIGH;
    if (score >= c->thresholds[0]) return RISK_MEDIUM;
    return score > 0 ? RISK_LOW : RISK_NONE;
}

int risk_grow_n(void **p, size_t n, size_t size)
{
    /* capacities are powers of two: grow when n reaches one */
    if (n && (n & (n - 1))) return 0;
    void *np = realloc(*p, (n ? n * 2 : 4) * size);
    if (!np) return UTIL_ENOMEM;
    *p = np;
    return 0;
}

int risk_contrib_add(risk_result *res, const risk_contribution *c)
{
    if (risk_grow_n((void **)&res->contrib, res->n_contrib, sizeof *res->contrib))
        return UTIL_ENOMEM;
    res->contrib[res->n_contrib++] = *c;
    return 0;
}

static int direct_add(risk_result *res, const labels_label *l, int via_entity, uint32_t e,
                      risk_role role)
{
    if (risk_grow_n((void **)&res->direct, res->n_direct, sizeof *res->direct)) return UTIL_ENOMEM;
    res->direct[res->n_direct++] = (risk_direct){l, via_entity, e, role};
    return 0;
}

/* Labels on address id a (own) and, with a clustering, on other addresses of its entity. */
static int direct_labels(const risk_ctx *r, const char *canon, int64_t aid, risk_result *res,
                         risk_role role)
{
    if (!r->labels) return 0;
    const labels_label *first;
    size_t n;
    labels_find(r->labels, "btc", canon, &first, &n);
    uint32_t subject = aid >= 0 ? (uint32_t)aid : STORE_NO_ADDR;
    for (size_t i = 0; i < n; i++) {
        if (direct_add(res, &first[i], 0, CLUSTER_NO_ENTITY, role)) return UTIL_ENOMEM;
        risk_contribution c = {.basis = RISK_BY_ADDRESS_LABEL,
                               .weight = risk_weight(&r->cfg, first[i].category),
                               .role = role,
                               .subject = subject,
                               .entity = CLUSTER_NO_ENTITY,
                               .label = &first[i],
                               .confidence = first[i].confidence / 100.0};
        c.score = c.weight * first[i].confidence / 100.0;
        if (risk_contrib_add(res, &c)) return UTIL_ENOMEM;
    }
    if (aid < 0 || !r->clusters || !r->n_el) return 0;
    uint32_t e = cluster_entity_of(r->clusters, (uint32_t)aid);
    if (e == CLUSTER_NO_ENTITY) return 0;
    size_t lo = 0, hi = r->n_el;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->el[mid].entity < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo, top = r->n_el;
    while (end < top) {
        size_t mid = (end + top) / 2;
        if (r->el[mid].entity <= e)
            end = mid + 1;
        else
            top = mid;
    }
    /* The range holds the best label of each category first (see risk_ctx_new): they give the
     * reasons and lead the list; the rest is only counted. */
    size_t listed = 0;
    for (size_t i = lo; i < end && (r->el[i].best || listed < RISK_MAX_ENTITY_LABELS); i++) {
        const labels_label *l = labels_db_get(r->labels, r->el[i].label);
        if (!strcmp(l->address, canon)) continue; /* already listed as its own */
        if (listed < RISK_MAX_ENTITY_LABELS) {
            if (direct_add(res, l, 1, e, role)) return UTIL_ENOMEM;
            listed++;
        }
        if (r->el[i].best) {
            risk_contribution c = {.basis = RISK_BY_ENTITY_LABEL,
                                   .weight = risk_weight(&r->cfg, l->category),
                                   .role = role,
                                   .subject = subject,
                                   .entity = e,
                                   .label = l,
                                   .confidence = l->confidence / 100.0};
            c.score = c.weight * l->confidence / 100.0;
            if (risk_contrib_add(res, &c)) return UTIL_ENOMEM;
        }
    }
    size_t total = end - lo - n; /* the address's own n labels are in the range too */
    if (total > listed) res->direct_entity_labels_not_listed += total - listed;
    return 0;
}

static int cmp_cat(const void *pa, const void *pb)
{
    const trace_exposure_cat *a = pa, *b = pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    return strcmp(a->category, b->category);
}

/* One direction of indirect exposure from seeds, with its contributions. */
static int indirect(const risk_ctx *r, const trace_seeds *seeds, int d, uint32_t hops,
                    int seeds_partial, risk_result *res, util_err *err)
{
    risk_side *side = &res->side[d];
    side->screened = 1;
    side->partial = seeds_partial;
    if (!seeds->n || !r->stops) return 0;
    trace_opts to;
    trace_default_opts(&to);
    to.policy = r->cfg.policy;
    to.direction = d == 0 ? TRACE_BACKWARD : TRACE_FORWARD;
    to.hops = hops;
    to.min_value = r->cfg.min_value;
    to.max_outputs = r->cfg.max_outputs;
    trace_exposure x;
    int rc = trace_exposure_run(r->s, r->labels, r->clusters, r->stops, seeds, &to, &x, err);
    if (rc) return rc;
    side->traced = 1;
    side->seeded = x.seeded;
    side->partial = x.partial || seeds_partial;
    side->outputs_visited = x.outputs_visited;
    if (x.n_cat > 1) qsort(x.cat, x.n_cat, sizeof *x.cat, cmp_cat);
    if ((rc = trace_exposure_actors(r->actors, r->labels, &x, &side->actors, err))) {
        trace_exposure_free(&x);
        return rc;
    }
    if (x.n_cat && !(side->cat = calloc(x.n_cat, sizeof *side->cat))) goto nomem;
    for (size_t i = 0; i < x.n_cat; i++) {
        trace_exposure_cat *k = &x.cat[i];
        risk_exposure *e = &side->cat[side->n_cat++];
        e->category = k->category;
        e->amount = k->amount;
        e->share = x.seeded ? (double)k->amount / (double)x.seeded : 0;
        e->endpoints = k->endpoints;
        e->hops = k->hops;
        e->nearest_addr = k->nearest_addr;
        e->nearest_entity = k->nearest_entity;
        e->nearest_amount = k->nearest_amount;
        e->nearest_label = labels_db_get(r->labels, k->nearest_label);
        e->nearest_via_entity = k->nearest_via_entity;
        e->path = k->path; /* taken over from the trace_exposure */
        e->path_len = k->path_len;
        k->path = NULL;
        e->traced_amount = k->amount;
        e->explained = RISK_EXPLAINED_TRACE;
    }
    trace_exposure_free(&x);
    /* after the side is whole: a cumulative share reads every category of it */
    for (size_t i = 0; i < side->n_cat; i++)
        if (risk_indirect_contrib(r, res, d, i))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
nomem:
    trace_exposure_free(&x);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

int risk_indirect_contrib(const risk_ctx *r, risk_result *res, int d, size_t i)
{
    const risk_side *side = &res->side[d];
    const risk_exposure *e = &side->cat[i];
    /* docs/screening.md: weight x share curve x decay^(hops - 1) */
    risk_contribution c = {.basis = d == 0 ? RISK_BY_INCOMING : RISK_BY_OUTGOING,
                           .weight = risk_weight(&r->cfg, e->category),
                           .subject = STORE_NO_ADDR,
                           .entity = CLUSTER_NO_ENTITY,
                           .label = e->nearest_label,
                           .exposure = i,
                           .share_used = e->share};
    /* Money from a theft diluted with sanctioned money is not diluted: every category weighed
     * at least as much counts with this one. The side's categories are all known here: the
     * callers add contributions after filling side->cat. */
    if (r->cfg.cumulative_share) {
        c.share_used = 0;
        for (size_t k = 0; k < side->n_cat; k++)
            if (risk_weight(&r->cfg, side->cat[k].category) >= c.weight)
                c.share_used += side->cat[k].share;
    }
    c.share_factor = risk_share_factor(&r->cfg, c.share_used);
    c.hop_factor = e->hops > 1 ? pow(r->cfg.hop_decay, (double)(e->hops - 1)) : 1;
    c.score = c.weight * c.share_factor * c.hop_factor;
    return risk_contrib_add(res, &c);
}

static void finish(const risk_ctx *r, risk_result *res, uint32_t hops)
{
    double score = 0;
    for (size_t i = 0; i < res->n_contrib; i++)
        if (res->contrib[i].score > score) score = res->contrib[i].score;
    score = score > 100 ? 100 : score;
    res->score = round(score * 10) / 10;
    res->level = level_of(&r->cfg, res->score);
    res->hops = hops;
    res->policy = r->cfg.policy;
    res->min_value = r->cfg.min_value;
    const store_totals *t = store_get_totals(r->s);
    res->height = t->blocks ? (int64_t)t->blocks - 1 : -1;
}

static int want(const risk_opts *o, int bit)
{
    return !o || !o->directions || (o->directions & bit);
}

static uint32_t hops_of(const risk_ctx *r, const risk_opts *o)
{
    return o && o->hops ? o->hops : r->cfg.hops;
}

/* Both directions; incoming from the exposure index when it answers for all of outs (every
 * output screened: seeds may be fewer, the newest), with the trace as the explanation. */
static int run_both(const risk_ctx *r, const trace_seeds *seeds, const uint64_t *outs,
                    size_t n_outs, const risk_opts *o, int seeds_partial, risk_result *res,
                    util_err *err)
{
    res->index = risk_index_use(r, outs, n_outs);
    for (int d = 0; d < 2; d++) {
        if (!want(o, 1 << d)) continue;
        int rc = d == 0 && res->index == RISK_INDEX_USED
                     ? risk_incoming_indexed(r, outs, n_outs, seeds, o ? o->hops : 0, seeds_partial,
                                             res, err)
                     : indirect(r, seeds, d, hops_of(r, o), seeds_partial, res, err);
        if (rc) return rc;
    }
    return 0;
}

int risk_screen_traces(const risk_ctx *r, const risk_opts *o)
{
    if (want(o, 2) || (o && o->hops)) return 1;
    return !r->ix || r->ix_state != RISK_INDEX_USED || r->cfg.policy != TRACE_HAIRCUT;
}

static int check_hops(const risk_opts *o, util_err *err)
{
    if (o && o->hops > RISK_MAX_HOPS)
        return util_errf(err, UTIL_EINVAL, "hops must be 1..%d, not %u", RISK_MAX_HOPS, o->hops);
    return 0;
}

void risk_result_free(risk_result *res)
{
    if (!res) return;
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < res->side[d].n_cat; i++) {
            risk_exposure *e = &res->side[d].cat[i];
            free(e->path);
            for (size_t k = 0; k < e->n_sources; k++)
                free(e->sources[k].path);
            free(e->sources);
        }
        free(res->side[d].cat);
        trace_actors_free(&res->side[d].actors);
    }
    free(res->direct);
    free(res->contrib);
    memset(res, 0, sizeof *res);
}

static void result_init(risk_result *res)
{
    memset(res, 0, sizeof *res);
    res->entity = CLUSTER_NO_ENTITY;
    res->height = -1;
}

int risk_screen_address_result(const risk_ctx *r, const char *address, const risk_opts *o,
                               risk_result *res, util_err *err)
{
    result_init(res);
    int rc = check_hops(o, err);
    if (rc) return rc;
    btc_addr key;
    if (btc_addr_decode(&key, address, err)) return util_err_prefix(err, "address");
    btc_addr_encode(res->address, &key);
    int64_t aid = store_find_addr(r->s, &key);
    res->seen = aid >= 0;
    res->entity =
        aid >= 0 && r->clusters ? cluster_entity_of(r->clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
    if (direct_labels(r, res->address, aid, res, RISK_ROLE_NONE))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    trace_seeds seeds = {0};
    int seeds_partial = 0;
    if (aid >= 0) {
        /* Every output paid to it (the index sums them all); the trace explains the newest
         * max_seed_outputs. */
        for (uint64_t op = store_addr_last_out(r->s, (uint32_t)aid); op != STORE_NONE;
             op = store_out_prev_same_addr(r->s, op)) {
            if (seeds.n == r->cfg.max_seed_outputs && !r->ix) {
                seeds_partial = 1;
                break;
            }
            if (seeds.n == seeds.cap) {
                size_t nc = seeds.cap ? seeds.cap * 2 : 16;
                uint64_t *n = realloc(seeds.out, nc * sizeof *n);
                if (!n) {
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    goto done;
                }
                seeds.out = n;
                seeds.cap = nc;
            }
            seeds.out[seeds.n++] = op;
        }
    }
    res->outputs_screened = seeds.n;
    size_t n_all = seeds.n;
    if (seeds.n > r->cfg.max_seed_outputs) {
        seeds.n = r->cfg.max_seed_outputs;
        seeds_partial = 1;
    }
    rc = run_both(r, &seeds, seeds.out, n_all, o, seeds_partial, res, err);
    if (!rc) finish(r, res, hops_of(r, o));
done:
    trace_seeds_free(&seeds);
    return rc;
}

int risk_screen_tx_result(const risk_ctx *r, const char *txid_hex, const risk_opts *o,
                          risk_result *res, util_err *err)
{
    result_init(res);
    res->is_tx = 1;
    int rc = check_hops(o, err);
    if (rc) return rc;
    uint8_t txid[32];
    if (util_hash_parse(txid, txid_hex))
        return util_errf(err, UTIL_EINVAL, "txid '%.80s': expected 64 hex digits", txid_hex);
    int64_t tx = store_find_tx(r->s, txid);
    if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "txid %s: not in the store", txid_hex);
    store_tx_row row;
    store_tx(r->s, (uint64_t)tx, &row);
    uint32_t nin = store_tx_n_in(r->s, (uint64_t)tx), nout = store_tx_n_out(r->s, (uint64_t)tx);
    res->tx = (uint64_t)tx;
    res->block_height = row.block;
    /* each address once, inputs first */
    uint32_t *seen = malloc(((size_t)nin + nout + 1) * sizeof *seen);
    size_t n_seen = 0;
    trace_seeds seeds = {0};
    if (!seen) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t k = 0; k < nin + nout; k++) {
        uint32_t a;
        if (k < nin) {
            uint64_t p = store_in_prev(r->s, row.first_in + k);
            if (p == STORE_COINBASE || p == STORE_UNRESOLVED) continue;
            a = store_out_addr(r->s, p);
        } else {
            a = store_out_addr(r->s, row.first_out + (k - nin));
        }
        if (a == STORE_NO_ADDR) continue;
        size_t i = 0;
        while (i < n_seen && seen[i] != a)
            i++;
        if (i < n_seen) continue;
        seen[n_seen++] = a;
        char canon[128];
        store_addr_text(r->s, a, canon);
        if (direct_labels(r, canon, a, res, k < nin ? RISK_ROLE_INPUT : RISK_ROLE_OUTPUT)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto done;
        }
    }
    seeds.out = malloc((nout ? nout : 1) * sizeof *seeds.out);
    if (!seeds.out) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    seeds.cap = nout;
    for (uint32_t j = 0; j < nout; j++)
        seeds.out[seeds.n++] = row.first_out + j;
    rc = run_both(r, &seeds, seeds.out, seeds.n, o, 0, res, err);
    if (!rc) finish(r, res, hops_of(r, o));
done:
    free(seen);
    trace_seeds_free(&seeds);
    return rc;
}

/* ---- documents ---- */

json_t *risk_txid_json(const store *s, uint64_t tx)
{
    char h[65];
    util_hash_hex(h, store_tx_hash(s, tx));
    return json_string(h);
}

json_t *risk_addr_json(const store *s, uint32_t a)
{
    if (a == STORE_NO_ADDR) return json_null();
    char buf[128];
    store_addr_text(s, a, buf);
    return json_string(buf);
}

json_t *risk_label_json(const labels_label *l, const char *via)
{
    if (!l) return json_null();
    json_t *o = labels_to_json(l);
    if (o && via) json_object_set_new(o, "via", json_string(via));
    return o;
}

static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static const char *role_name(risk_role role)
{
    return role == RISK_ROLE_INPUT ? "input" : role == RISK_ROLE_OUTPUT ? "output" : NULL;
}

char *risk_reason_text(const risk_ctx *r, const risk_result *res, const risk_contribution *c)
{
    const labels_label *l = c->label;
    if (c->basis == RISK_BY_INCOMING || c->basis == RISK_BY_OUTGOING) {
        int in = c->basis == RISK_BY_INCOMING;
        const risk_exposure *e = &res->side[in ? 0 : 1].cat[c->exposure];
        /* the nearest endpoint named by its actor (a label may carry only an actor) */
        labels_actor w;
        trace_actor_of(r->actors, e->nearest_addr, e->nearest_entity, l, e->nearest_via_entity, &w);
        char who[128] = "unknown"; /* an index path's source may have no label of it */
        if (l)
            snprintf(who, sizeof who, "%s", l->address);
        else if (e->nearest_addr != STORE_NO_ADDR)
            store_addr_text(r->s, e->nearest_addr, who);
        /* the share the level came from, when heavier categories added to it */
        char with[96] = "";
        if (c->share_used > e->share + 5e-5)
            snprintf(with, sizeof with, " (%.2f%% counting categories of equal or greater weight)",
                     c->share_used * 100);
        return fmt_alloc("%s: %.2f%% (%" PRIu64 " sat) %s %s%s within %u hop%s, nearest %s%s%s%s",
                         in ? "incoming" : "outgoing", e->share * 100, e->amount,
                         in ? "from" : "to", e->category, with, e->hops, e->hops == 1 ? "" : "s",
                         who, w.name ? " (" : "", w.name ? w.name : "", w.name ? ")" : "");
    }
    char canon[128];
    if (c->subject == STORE_NO_ADDR)
        snprintf(canon, sizeof canon, "%s", res->address);
    else
        store_addr_text(r->s, c->subject, canon);
    const char *role = role_name(c->role);
    if (c->basis == RISK_BY_ADDRESS_LABEL)
        return fmt_alloc("%s%s%s is labelled %s (%s, confidence %d)", role ? role : "",
                         role ? " " : "", canon, l->category, l->source, l->confidence);
    return fmt_alloc("%s%s%s belongs to entity %u, whose address %s is labelled %s (%s, "
                     "confidence %d)",
                     role ? role : "", role ? " " : "", canon, c->entity, l->address, l->category,
                     l->source, l->confidence);
}

static json_t *side_json(const risk_ctx *r, const risk_side *side)
{
    json_t *o = json_object(), *cats = json_array();
    if (side->traced)
        json_object_set_new(o, "by_actor",
                            trace_actors_json(r->s, &side->actors, RISK_ACTOR_ADDRESSES));
    json_object_set_new(o, "by_category", cats);
    json_object_set_new(o, "seeded", json_integer((json_int_t)side->seeded));
    json_object_set_new(o, "partial", json_boolean(side->partial));
    json_object_set_new(o, "source", json_string(side->indexed ? "index" : "trace"));
    if (!side->traced && !side->indexed) return o;
    json_object_set_new(o, "outputs_visited", json_integer((json_int_t)side->outputs_visited));
    for (size_t i = 0; i < side->n_cat; i++) {
        const risk_exposure *k = &side->cat[i];
        json_t *c = json_object();
        json_array_append_new(cats, c);
        json_object_set_new(c, "category", json_string(k->category));
        json_object_set_new(c, "amount", json_integer((json_int_t)k->amount));
        json_object_set_new(c, "share", json_real(k->share));
        if (side->indexed) {
            static const char *const how[] = {"none", "trace", "index"};
            json_object_set_new(c, "indexed", json_boolean(k->indexed));
            if (side->traced) /* the trace within the hops ran (asked for) */
                json_object_set_new(c, "within_hops", json_integer((json_int_t)k->traced_amount));
            json_object_set_new(c, "path_from", json_string(how[k->explained]));
        }
        json_object_set_new(c, "endpoints", json_integer(k->endpoints));
        json_object_set_new(c, "hops", json_integer(k->hops));
        json_t *cp = json_object();
        json_object_set_new(cp, "address", risk_addr_json(r->s, k->nearest_addr));
        json_object_set_new(cp, "entity",
                            k->nearest_entity != CLUSTER_NO_ENTITY ? json_integer(k->nearest_entity)
                                                                   : json_null());
        json_object_set_new(cp, "amount", json_integer((json_int_t)k->nearest_amount));
        json_object_set_new(
            cp, "label",
            risk_label_json(k->nearest_label, k->nearest_via_entity ? "entity" : "address"));
        json_object_set_new(c, "counterparty", cp);
        json_t *path = json_array();
        for (size_t p = 0; p < k->path_len; p++)
            json_array_append_new(path, risk_txid_json(r->s, k->path[p]));
        json_object_set_new(c, "path", path);
        if (k->explained != RISK_EXPLAINED_INDEX) continue;
        /* the index's explanation: the sources of the largest exposed outputs */
        json_object_set_new(c, "outputs_exposed", json_integer(k->outputs_exposed));
        json_object_set_new(c, "outputs_walked", json_integer(k->outputs_walked));
        json_t *srcs = json_array();
        for (size_t i2 = 0; i2 < k->n_sources; i2++) {
            const risk_source *q = &k->sources[i2];
            json_t *p = json_array();
            for (size_t j = 0; j < q->path_len; j++)
                json_array_append_new(p, risk_txid_json(r->s, q->path[j]));
            json_array_append_new(
                srcs,
                json_pack("{s:o, s:o, s:o, s:I, s:i, s:i, s:o}", "address",
                          risk_addr_json(r->s, q->addr), "entity",
                          q->entity != CLUSTER_NO_ENTITY ? json_integer(q->entity) : json_null(),
                          "label", risk_label_json(q->label, q->via_entity ? "entity" : "address"),
                          "amount", (json_int_t)q->amount, "outputs", (int)q->outputs, "hops",
                          (int)q->path_len, "path", p));
        }
        json_object_set_new(c, "sources", srcs);
    }
    return o;
}

int risk_result_json(const risk_ctx *r, const risk_result *res, json_t **out, util_err *err)
{
    json_t *doc = json_object(), *direct = json_array(), *reasons = json_array();
    if (!doc || !direct || !reasons) goto nomem;
    if (res->is_tx) {
        json_object_set_new(doc, "txid", risk_txid_json(r->s, res->tx));
        json_object_set_new(doc, "block_height", json_integer(res->block_height));
    } else {
        json_object_set_new(doc, "address", json_string(res->address));
        json_object_set_new(doc, "seen", json_boolean(res->seen));
        json_object_set_new(doc, "entity",
                            res->entity != CLUSTER_NO_ENTITY ? json_integer(res->entity)
                                                             : json_null());
    }
    json_object_set(doc, "direct", direct);
    for (size_t i = 0; i < res->n_direct; i++) {
        const risk_direct *d = &res->direct[i];
        json_t *j = risk_label_json(d->label, d->via_entity ? "entity" : "address");
        if (d->via_entity) json_object_set_new(j, "entity", json_integer(d->entity));
        if (role_name(d->role)) json_object_set_new(j, "role", json_string(role_name(d->role)));
        json_array_append_new(direct, j);
    }
    if (res->direct_entity_labels_not_listed)
        json_object_set_new(doc, "direct_entity_labels_not_listed",
                            json_integer((json_int_t)res->direct_entity_labels_not_listed));
    if (!res->is_tx)
        json_object_set_new(doc, "outputs_screened",
                            json_integer((json_int_t)res->outputs_screened));
    json_t *ind = json_object();
    json_object_set_new(doc, "indirect", ind);
    for (int d = 0; d < 2; d++)
        if (res->side[d].screened)
            json_object_set_new(ind, d == 0 ? "incoming" : "outgoing", side_json(r, &res->side[d]));
    for (size_t i = 0; i < res->n_contrib; i++) {
        if (!(res->contrib[i].score > 0)) continue;
        char *t = risk_reason_text(r, res, &res->contrib[i]);
        if (!t) goto nomem;
        json_array_append_new(reasons, json_string(t));
        free(t);
    }
    json_object_set_new(doc, "risk",
                        json_pack("{s:f, s:s, s:o}", "score", res->score, "level",
                                  risk_level_name(res->level), "reasons", reasons));
    reasons = NULL;
    json_object_set_new(doc, "rules",
                        json_pack("{s:I, s:s, s:I}", "hops", (json_int_t)res->hops, "policy",
                                  trace_policy_name(res->policy), "min_value",
                                  (json_int_t)res->min_value));
    json_object_set_new(doc, "height",
                        res->height >= 0 ? json_integer((json_int_t)res->height) : json_null());
    json_object_set_new(doc, "exposure_index", json_string(risk_index_state_name(res->index)));
    json_decref(direct);
    *out = doc;
    return 0;
nomem:
    json_decref(doc);
    json_decref(direct);
    json_decref(reasons);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

int risk_screen_address(const risk_ctx *r, const char *address, const risk_opts *o, json_t **out,
                        util_err *err)
{
    risk_result res;
    int rc = risk_screen_address_result(r, address, o, &res, err);
    if (!rc) rc = risk_result_json(r, &res, out, err);
    risk_result_free(&res);
    return rc;
}

int risk_screen_tx(const risk_ctx *r, const char *txid_hex, const risk_opts *o, json_t **out,
                   util_err *err)
{
    risk_result res;
    int rc = risk_screen_tx_result(r, txid_hex, o, &res, err);
    if (!rc) rc = risk_result_json(r, &res, out, err);
    risk_result_free(&res);
    return rc;
}
