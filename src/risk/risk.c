/* risk: screening documents and risk scores (see risk.h, docs/screening.md). */
#include "risk.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../trace/trace.h"

/* ---- rules ---- */

static const struct risk_weight default_weights[] = {
    {"sanctioned", 100}, {"terrorism", 100}, {"theft", 100},   {"ransomware", 100}, {"darknet", 80},
    {"scam", 80},        {"mixer", 70},      {"gambling", 20}, {"otc", 10},         {"bridge", 5},
    {"swap", 5},         {"exchange", 0},    {"miner", 0},     {"defi", 0},
};

void risk_config_default(risk_config *c)
{
    memset(c, 0, sizeof *c);
    c->hops = 4;
    c->policy = TRACE_HAIRCUT;
    c->min_value = 1000;
    c->max_outputs = 20000;
    c->max_seed_outputs = 5000;
    c->hop_decay = 0.8;
    c->full_exposure_share = 0.1;
    c->thresholds[0] = 20;
    c->thresholds[1] = 50;
    c->thresholds[2] = 80;
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

static int num_in(json_t *v, double lo, double hi, double *out)
{
    if (!json_is_number(v)) return -1;
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return -1;
    *out = d;
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
        } else if (!strcmp(key, "default_weight")) {
            if (num_in(v, 0, 100, &c->default_weight)) goto bad;
        } else if (!strcmp(key, "thresholds")) {
            static const char *const names[3] = {"medium", "high", "severe"};
            if (!json_is_object(v)) goto bad;
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                int i = 0;
                while (i < 3 && strcmp(k2, names[i]))
                    i++;
                if (i == 3 || num_in(v2, 0, 100, &c->thresholds[i])) {
                    rc = util_errf(err, UTIL_EFORMAT,
                                   "%s: thresholds.%s: expected medium, high or severe with a "
                                   "number 0..100",
                                   path, k2);
                    goto done;
                }
            }
            if (!(c->thresholds[0] <= c->thresholds[1] && c->thresholds[1] <= c->thresholds[2])) {
                rc = util_errf(err, UTIL_EFORMAT, "%s: thresholds: need medium <= high <= severe",
                               path);
                goto done;
            }
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
        "{s:i, s:I, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:{s:f, s:f, s:f}, s:o}", "version", 1,
        "hops", (json_int_t)c->hops, "policy", trace_policy_name(c->policy), "min_value",
        (json_int_t)c->min_value, "max_outputs", (json_int_t)c->max_outputs, "max_seed_outputs",
        (json_int_t)c->max_seed_outputs, "hop_decay", c->hop_decay, "full_exposure_share",
        c->full_exposure_share, "default_weight", c->default_weight, "thresholds", "medium",
        c->thresholds[0], "high", c->thresholds[1], "severe", c->thresholds[2], "categories", cats);
}

/* ---- context ---- */

typedef struct ent_label {
    uint32_t entity, label;
} ent_label;

struct risk_ctx {
    const store *s;
    const labels_db *labels;
    const cluster_map *clusters;
    risk_config cfg;
    trace_stops *stops;
    ent_label *el; /* btc labels by the entity of their address, sorted by entity */
    size_t n_el;
    char **cats; /* the stop categories, heaviest first (owned) */
    size_t n_cats;
};

static int cmp_el(const void *pa, const void *pb)
{
    const ent_label *a = pa, *b = pb;
    if (a->entity != b->entity) return a->entity < b->entity ? -1 : 1;
    return a->label < b->label ? -1 : a->label > b->label;
}

static int add_cat(risk_ctx *r, const char *cat)
{
    for (size_t i = 0; i < r->n_cats; i++)
        if (!strcmp(r->cats[i], cat)) return 0;
    char **nc = realloc(r->cats, (r->n_cats + 1) * sizeof *nc);
    if (!nc) return UTIL_ENOMEM;
    r->cats = nc;
    if (!(r->cats[r->n_cats] = strdup(cat))) return UTIL_ENOMEM;
    r->n_cats++;
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
    /* Every category present is a stop: exposure to a category the rules weigh 0 (exchange)
     * is still shown, and it ends the path there as a service would. */
    for (size_t i = 0; i < nl; i++)
        if (add_cat(r, labels_db_get(labels, i)->category)) goto nomem;
    /* heaviest first, so an address with several labels stops under its worst one; insertion
     * sort keeps this free of a global comparator context */
    for (size_t i = 1; i < r->n_cats; i++) {
        char *k = r->cats[i];
        double w = risk_weight(cfg, k);
        size_t j = i;
        while (j > 0 &&
               (risk_weight(cfg, r->cats[j - 1]) < w ||
                (risk_weight(cfg, r->cats[j - 1]) == w && strcmp(r->cats[j - 1], k) > 0))) {
            r->cats[j] = r->cats[j - 1];
            j--;
        }
        r->cats[j] = k;
    }
    if (labels) {
        rc = trace_stops_build(&r->stops, s, labels, clusters, (const char *const *)r->cats,
                               r->n_cats, err);
        if (rc) goto fail;
    }
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
            r->el[r->n_el++] = (ent_label){e, (uint32_t)i};
        }
        qsort(r->el, r->n_el, sizeof *r->el, cmp_el);
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
    for (size_t i = 0; i < r->n_cats; i++)
        free(r->cats[i]);
    free(r->cats);
    free(r->el);
    free(r);
}

const risk_config *risk_ctx_config(const risk_ctx *r)
{
    return &r->cfg;
}

/* ---- scoring ---- */

static const char *level_of(const risk_config *c, double score)
{
    if (score >= c->thresholds[2]) return "severe";
    if (score >= c->thresholds[1]) return "high";
    if (score >= c->thresholds[0]) return "medium";
    return score > 0 ? "low" : "none";
}

/* What one category's indirect exposure adds (docs/screening.md). */
static double indirect_score(const risk_config *c, const char *cat, double share, uint32_t hops)
{
    double full = share / c->full_exposure_share;
    if (full > 1) full = 1;
    double decay = hops > 1 ? pow(c->hop_decay, (double)(hops - 1)) : 1;
    return risk_weight(c, cat) * full * decay;
}

typedef struct scorer {
    double score;
    json_t *reasons;
} scorer;

static void score_add(scorer *sc, double v, json_t *reason)
{
    if (v > sc->score) sc->score = v;
    if (v > 0)
        json_array_append_new(sc->reasons, reason);
    else
        json_decref(reason);
}

/* ---- documents ---- */

static json_t *txid_json(const store *s, uint64_t tx)
{
    char h[65];
    util_hash_hex(h, store_tx_hash(s, tx));
    return json_string(h);
}

static json_t *addr_str(const store *s, uint32_t a)
{
    if (a == STORE_NO_ADDR) return json_null();
    char buf[128];
    btc_addr_encode(buf, store_addr(s, a));
    return json_string(buf);
}

static json_t *label_short(const labels_label *l, const char *via)
{
    json_t *o = labels_to_json(l);
    if (o && via) json_object_set_new(o, "via", json_string(via));
    return o;
}

/* Labels on address id a (own) and, with a clustering, on other addresses of its entity. */
static void direct_labels(const risk_ctx *r, const char *canon, int64_t aid, json_t *arr,
                          json_t **doc_more, scorer *sc, const char *role)
{
    if (!r->labels) return;
    const labels_label *first;
    size_t n;
    labels_find(r->labels, "btc", canon, &first, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *j = label_short(&first[i], "address");
        if (role) json_object_set_new(j, "role", json_string(role));
        json_array_append_new(arr, j);
        double v = risk_weight(&r->cfg, first[i].category) * first[i].confidence / 100.0;
        score_add(sc, v,
                  json_sprintf("%s%s%s is labelled %s (%s, confidence %d)", role ? role : "",
                               role ? " " : "", canon, first[i].category, first[i].source,
                               first[i].confidence));
    }
    if (aid < 0 || !r->clusters || !r->n_el) return;
    uint32_t e = cluster_entity_of(r->clusters, (uint32_t)aid);
    if (e == CLUSTER_NO_ENTITY) return;
    size_t lo = 0, hi = r->n_el;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->el[mid].entity < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* An exchange's entity can carry thousands of labels: list the first few, and give one
     * reason per category (its most confident label), which is all the score uses. */
    struct best {
        const labels_label *l;
        double v;
    } best[32];
    size_t n_best = 0, listed = 0, total = 0;
    for (size_t i = lo; i < r->n_el && r->el[i].entity == e; i++) {
        const labels_label *l = labels_db_get(r->labels, r->el[i].label);
        if (!strcmp(l->address, canon)) continue; /* already listed as its own */
        total++;
        if (listed < RISK_MAX_ENTITY_LABELS) {
            json_t *j = label_short(l, "entity");
            json_object_set_new(j, "entity", json_integer(e));
            if (role) json_object_set_new(j, "role", json_string(role));
            json_array_append_new(arr, j);
            listed++;
        }
        double v = risk_weight(&r->cfg, l->category) * l->confidence / 100.0;
        size_t b = 0;
        while (b < n_best && strcmp(best[b].l->category, l->category))
            b++;
        if (b == n_best && n_best < sizeof best / sizeof *best)
            best[n_best++] = (struct best){l, v};
        else if (b < n_best && v > best[b].v)
            best[b] = (struct best){l, v};
    }
    for (size_t b = 0; b < n_best; b++) {
        const labels_label *l = best[b].l;
        score_add(sc, best[b].v,
                  json_sprintf("%s%s%s belongs to entity %u, whose address %s is labelled %s (%s, "
                               "confidence %d)",
                               role ? role : "", role ? " " : "", canon, e, l->address, l->category,
                               l->source, l->confidence));
    }
    if (total > listed) {
        json_t *more = json_object_get(*doc_more, "direct_entity_labels_not_listed");
        json_object_set_new(
            *doc_more, "direct_entity_labels_not_listed",
            json_integer((json_int_t)(total - listed) + (more ? json_integer_value(more) : 0)));
    }
}

static int cmp_cat(const void *pa, const void *pb)
{
    const trace_exposure_cat *a = pa, *b = pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    return strcmp(a->category, b->category);
}

/* One direction of indirect exposure from seeds, as JSON; adds to the score. */
static int indirect(const risk_ctx *r, const trace_seeds *seeds, int direction, uint32_t hops,
                    int seeds_partial, scorer *sc, json_t **out, util_err *err)
{
    const char *dname = direction == TRACE_BACKWARD ? "incoming" : "outgoing";
    json_t *o = json_object(), *cats = json_array();
    json_object_set_new(o, "by_category", cats);
    if (!seeds->n || !r->stops) {
        json_object_set_new(o, "seeded", json_integer(0));
        json_object_set_new(o, "partial", json_boolean(seeds_partial));
        *out = o;
        return 0;
    }
    trace_opts to;
    trace_default_opts(&to);
    to.policy = r->cfg.policy;
    to.direction = direction;
    to.hops = hops;
    to.min_value = r->cfg.min_value;
    to.max_outputs = r->cfg.max_outputs;
    trace_exposure x;
    int rc = trace_exposure_run(r->s, r->labels, r->clusters, r->stops, seeds, &to, &x, err);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_object_set_new(o, "seeded", json_integer((json_int_t)x.seeded));
    json_object_set_new(o, "partial", json_boolean(x.partial || seeds_partial));
    json_object_set_new(o, "outputs_visited", json_integer((json_int_t)x.outputs_visited));
    if (x.n_cat) qsort(x.cat, x.n_cat, sizeof *x.cat, cmp_cat); /* x.cat is NULL when none */
    for (size_t i = 0; i < x.n_cat; i++) {
        const trace_exposure_cat *k = &x.cat[i];
        double share = x.seeded ? (double)k->amount / (double)x.seeded : 0;
        json_t *c = json_object();
        json_array_append_new(cats, c);
        json_object_set_new(c, "category", json_string(k->category));
        json_object_set_new(c, "amount", json_integer((json_int_t)k->amount));
        json_object_set_new(c, "share", json_real(share));
        json_object_set_new(c, "endpoints", json_integer(k->endpoints));
        json_object_set_new(c, "hops", json_integer(k->hops));
        const labels_label *l = labels_db_get(r->labels, k->nearest_label);
        json_t *cp = json_object();
        json_object_set_new(cp, "address", addr_str(r->s, k->nearest_addr));
        json_object_set_new(cp, "entity",
                            k->nearest_entity != CLUSTER_NO_ENTITY ? json_integer(k->nearest_entity)
                                                                   : json_null());
        json_object_set_new(cp, "amount", json_integer((json_int_t)k->nearest_amount));
        json_object_set_new(cp, "label",
                            label_short(l, k->nearest_via_entity ? "entity" : "address"));
        json_object_set_new(c, "counterparty", cp);
        json_t *path = json_array();
        for (size_t p = 0; p < k->path_len; p++)
            json_array_append_new(path, txid_json(r->s, k->path[p]));
        json_object_set_new(c, "path", path);
        double v = indirect_score(&r->cfg, k->category, share, k->hops);
        score_add(sc, v,
                  json_sprintf("%s: %.2f%% (%" PRIu64 " sat) %s %s within %u hop%s, nearest %s "
                               "(%s)",
                               dname, share * 100, k->amount,
                               direction == TRACE_BACKWARD ? "from" : "to", k->category, k->hops,
                               k->hops == 1 ? "" : "s", l->address, l->name));
    }
    trace_exposure_free(&x);
    *out = o;
    return 0;
}

static void finish(const risk_ctx *r, json_t *doc, scorer *sc, uint32_t hops)
{
    double score = sc->score > 100 ? 100 : sc->score;
    score = round(score * 10) / 10;
    json_object_set_new(doc, "risk",
                        json_pack("{s:f, s:s, s:o}", "score", score, "level",
                                  level_of(&r->cfg, score), "reasons", sc->reasons));
    json_object_set_new(doc, "rules",
                        json_pack("{s:I, s:s, s:I}", "hops", (json_int_t)hops, "policy",
                                  trace_policy_name(r->cfg.policy), "min_value",
                                  (json_int_t)r->cfg.min_value));
    const store_totals *t = store_get_totals(r->s);
    json_object_set_new(doc, "height",
                        t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null());
}

static int want(const risk_opts *o, int bit)
{
    return !o || !o->directions || (o->directions & bit);
}

static uint32_t hops_of(const risk_ctx *r, const risk_opts *o)
{
    return o && o->hops ? o->hops : r->cfg.hops;
}

static int run_both(const risk_ctx *r, const trace_seeds *seeds, const risk_opts *o,
                    int seeds_partial, scorer *sc, json_t *doc, util_err *err)
{
    json_t *ind = json_object();
    json_object_set_new(doc, "indirect", ind);
    static const int dirs[2] = {TRACE_BACKWARD, TRACE_FORWARD};
    for (int d = 0; d < 2; d++) {
        if (!want(o, 1 << d)) continue;
        json_t *part;
        int rc = indirect(r, seeds, dirs[d], hops_of(r, o), seeds_partial, sc, &part, err);
        if (rc) return rc;
        json_object_set_new(ind, d == 0 ? "incoming" : "outgoing", part);
    }
    return 0;
}

static int check_hops(const risk_opts *o, util_err *err)
{
    if (o && o->hops > RISK_MAX_HOPS)
        return util_errf(err, UTIL_EINVAL, "hops must be 1..%d, not %u", RISK_MAX_HOPS, o->hops);
    return 0;
}

int risk_screen_address(const risk_ctx *r, const char *address, const risk_opts *o, json_t **out,
                        util_err *err)
{
    int rc = check_hops(o, err);
    if (rc) return rc;
    btc_addr key;
    if (btc_addr_decode(&key, address, err)) return util_err_prefix(err, "address");
    char canon[128];
    btc_addr_encode(canon, &key);
    int64_t aid = store_find_addr(r->s, &key);
    scorer sc = {0, json_array()};
    json_t *doc = json_object(), *direct = json_array();
    json_object_set_new(doc, "address", json_string(canon));
    json_object_set_new(doc, "seen", json_boolean(aid >= 0));
    uint32_t ent =
        aid >= 0 && r->clusters ? cluster_entity_of(r->clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
    json_object_set_new(doc, "entity", ent != CLUSTER_NO_ENTITY ? json_integer(ent) : json_null());
    json_object_set_new(doc, "direct", direct);
    direct_labels(r, canon, aid, direct, &doc, &sc, NULL);
    trace_seeds seeds = {0};
    int seeds_partial = 0;
    if (aid >= 0) {
        for (uint64_t op = store_addr_last_out(r->s, (uint32_t)aid); op != STORE_NONE;
             op = store_out_prev_same_addr(r->s, op)) {
            if (seeds.n == r->cfg.max_seed_outputs) {
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
    json_object_set_new(doc, "outputs_screened", json_integer((json_int_t)seeds.n));
    rc = run_both(r, &seeds, o, seeds_partial, &sc, doc, err);
    if (rc) goto done;
    finish(r, doc, &sc, hops_of(r, o));
    sc.reasons = NULL;
    *out = doc;
    doc = NULL;
done:
    trace_seeds_free(&seeds);
    json_decref(sc.reasons);
    json_decref(doc);
    return rc;
}

int risk_screen_tx(const risk_ctx *r, const char *txid_hex, const risk_opts *o, json_t **out,
                   util_err *err)
{
    int rc = check_hops(o, err);
    if (rc) return rc;
    uint8_t txid[32];
    if (util_hash_parse(txid, txid_hex))
        return util_errf(err, UTIL_EINVAL, "txid '%.80s': expected 64 hex digits", txid_hex);
    int64_t tx = store_find_tx(r->s, txid);
    if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "txid %s: not in the store", txid_hex);
    const store_tx_row *row = store_tx(r->s, (uint64_t)tx);
    uint32_t nin = store_tx_n_in(r->s, (uint64_t)tx), nout = store_tx_n_out(r->s, (uint64_t)tx);
    scorer sc = {0, json_array()};
    json_t *doc = json_object(), *direct = json_array();
    json_object_set_new(doc, "txid", txid_json(r->s, (uint64_t)tx));
    json_object_set_new(doc, "block_height", json_integer(row->block));
    json_object_set_new(doc, "direct", direct);
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
            uint64_t p = store_in_prev(r->s, row->first_in + k);
            if (p == STORE_COINBASE || p == STORE_UNRESOLVED) continue;
            a = store_out_addr(r->s, p);
        } else {
            a = store_out_addr(r->s, row->first_out + (k - nin));
        }
        if (a == STORE_NO_ADDR) continue;
        size_t i = 0;
        while (i < n_seen && seen[i] != a)
            i++;
        if (i < n_seen) continue;
        seen[n_seen++] = a;
        char canon[128];
        btc_addr_encode(canon, store_addr(r->s, a));
        direct_labels(r, canon, a, direct, &doc, &sc, k < nin ? "input" : "output");
    }
    seeds.out = malloc((nout ? nout : 1) * sizeof *seeds.out);
    if (!seeds.out) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    seeds.cap = nout;
    for (uint32_t j = 0; j < nout; j++)
        seeds.out[seeds.n++] = row->first_out + j;
    rc = run_both(r, &seeds, o, 0, &sc, doc, err);
    if (rc) goto done;
    finish(r, doc, &sc, hops_of(r, o));
    sc.reasons = NULL;
    *out = doc;
    doc = NULL;
done:
    free(seen);
    trace_seeds_free(&seeds);
    json_decref(sc.reasons);
    json_decref(doc);
    return rc;
}

/* ---- watchlists ---- */

static int item_matches(const store *s, const cluster_map *clusters, const risk_watch_item *it,
                        const int64_t *item_addr, const uint32_t *item_ent, size_t i, uint32_t a)
{
    (void)s;
    if (!strcmp(it->kind, "address")) return item_addr[i] >= 0 && (uint32_t)item_addr[i] == a;
    if (item_ent[i] != CLUSTER_NO_ENTITY && clusters)
        return cluster_entity_of(clusters, a) == item_ent[i];
    return item_addr[i] >= 0 && (uint32_t)item_addr[i] == a;
}

int risk_watch_scan(const store *s, const labels_db *labels, const cluster_map *clusters,
                    const risk_watch_item *items, size_t n_items, uint64_t from_height,
                    uint64_t to_height, risk_alert_fn fn, void *arg, util_err *err)
{
    const store_totals *t = store_get_totals(s);
    if (to_height > t->blocks) to_height = t->blocks;
    if (from_height >= to_height || !n_items) return 0;
    int64_t *item_addr = malloc(n_items * sizeof *item_addr);
    uint32_t *item_ent = malloc(n_items * sizeof *item_ent);
    int rc = 0;
    if (!item_addr || !item_ent) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_items; i++) {
        item_addr[i] = -1;
        item_ent[i] = CLUSTER_NO_ENTITY;
        btc_addr key;
        char *end;
        unsigned long long id = strtoull(items[i].value, &end, 10);
        if (!btc_addr_decode(&key, items[i].value, NULL))
            item_addr[i] = store_find_addr(s, &key);
        else if (*items[i].value && !*end && id < t->addresses)
            item_addr[i] = (int64_t)id;
        if (!strcmp(items[i].kind, "entity") && clusters && item_addr[i] >= 0)
            item_ent[i] = cluster_entity_of(clusters, (uint32_t)item_addr[i]);
    }
    uint64_t first = store_block(s, from_height)->first_tx;
    uint64_t last = to_height < t->blocks ? store_block(s, to_height)->first_tx : t->txs;
    for (uint64_t tx = first; tx < last && !rc; tx++) {
        const store_tx_row *row = store_tx(s, tx);
        if (row->flags & STORE_TX_COINBASE) continue;
        uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx);
        for (size_t i = 0; i < n_items && !rc; i++) {
            if (item_addr[i] < 0) continue;
            int64_t amount = 0;
            json_t *ins = NULL;
            for (uint32_t k = 0; k < nin; k++) {
                uint64_t p = store_in_prev(s, row->first_in + k);
                if (p == STORE_COINBASE || p == STORE_UNRESOLVED) continue;
                uint32_t a = store_out_addr(s, p);
                if (a == STORE_NO_ADDR ||
                    !item_matches(s, clusters, &items[i], item_addr, item_ent, i, a))
                    continue;
                if (!ins) ins = json_array();
                amount += store_out_value(s, p);
                json_array_append_new(ins, json_pack("{s:o, s:I}", "address", addr_str(s, a),
                                                     "value", (json_int_t)store_out_value(s, p)));
            }
            if (!ins) continue;
            json_t *outs = json_array();
            for (uint32_t j = 0; j < nout; j++) {
                uint64_t op = row->first_out + j;
                uint32_t a = store_out_addr(s, op);
                json_t *jo = json_pack("{s:o, s:I}", "address", addr_str(s, a), "value",
                                       (json_int_t)store_out_value(s, op));
                if (labels && a != STORE_NO_ADDR) {
                    char canon[128];
                    btc_addr_encode(canon, store_addr(s, a));
                    const labels_label *first;
                    size_t n;
                    labels_find(labels, "btc", canon, &first, &n);
                    if (n) {
                        json_t *ls = json_array();
                        for (size_t q = 0; q < n; q++)
                            json_array_append_new(ls, label_short(&first[q], NULL));
                        json_object_set_new(jo, "labels", ls);
                    }
                }
                json_array_append_new(outs, jo);
            }
            json_t *alert = json_pack(
                "{s:s, s:{s:s, s:s}, s:o, s:I, s:I, s:I, s:o, s:o}", "list", items[i].list, "item",
                "kind", items[i].kind, "value", items[i].value, "txid", txid_json(s, tx), "height",
                (json_int_t)row->block, "time", (json_int_t)store_block(s, row->block)->time,
                "amount", (json_int_t)amount, "inputs", ins, "outputs", outs);
            if (!alert) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            rc = fn(alert, arg);
            json_decref(alert);
        }
    }
done:
    free(item_addr);
    free(item_ent);
    return rc;
}
