/* risk: incoming exposure read from the exposure index (src/exposure). The amounts are look-ups
 * (an address: the sum over its outputs; a tx: over its outputs); the explanation is the
 * index's too: the sources that the largest exposed outputs' paths lead to, each path a walk
 * back along the index's predecessors (one look-up a step). When hops are asked for, the
 * backward trace within them explains the categories it reaches as well (and the services the
 * index does not track). docs/screening.md. */
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "risk_int.h"

#define PATH_MAX_STEPS 100000 /* txs an index path may cross */

const char *risk_index_state_name(int state)
{
    static const char *const names[] = {"used",   "none",   "stale",     "forked",
                                        "behind", "policy", "unreadable"};
    return state >= 0 && state <= RISK_INDEX_UNREADABLE ? names[state] : "none";
}

int risk_ctx_index_state(const risk_ctx *r)
{
    return r->ix_state;
}

int risk_index_open(risk_ctx *r, util_err *err)
{
    r->ix_state = RISK_INDEX_NONE;
    util_err xe = {0};
    int rc = exposure_open(&r->ix, store_dir(r->s), &xe);
    if (rc == UTIL_ENOMEM) return util_errf(err, rc, "out of memory");
    if (rc) {
        /* none, or damaged: screening goes on by tracing */
        r->ix_state = rc == UTIL_ENOTFOUND ? RISK_INDEX_NONE : RISK_INDEX_UNREADABLE;
        r->ix = NULL;
        return 0;
    }
    /* The index is built under the built-in rules' order of categories (docs/exposure.md). */
    risk_config def;
    risk_config_default(&def);
    char **order;
    size_t n;
    exposure_state st;
    if ((rc = risk_stop_categories(r->labels, &def, &order, &n, err))) return rc;
    rc = exposure_check(r->ix, r->s, r->labels, r->clusters, (const char *const *)order, n, &st,
                        err);
    risk_categories_free(order, n);
    if (rc) return rc;
    r->ix_covered = exposure_outputs_covered(r->ix, r->s);
    if (st == EXPOSURE_OK || st == EXPOSURE_BEHIND) {
        r->ix_state = st == EXPOSURE_OK ? RISK_INDEX_USED : RISK_INDEX_BEHIND;
        return 0;
    }
    r->ix_state = st == EXPOSURE_STALE ? RISK_INDEX_STALE : RISK_INDEX_FORKED;
    exposure_close(r->ix);
    r->ix = NULL;
    return 0;
}

risk_index_state risk_index_use(const risk_ctx *r, const uint64_t *outs, size_t n)
{
    if (!r->ix) return r->ix_state;
    if (r->cfg.policy != TRACE_HAIRCUT) return RISK_INDEX_POLICY;
    for (size_t i = 0; i < n; i++)
        if (outs[i] >= r->ix_covered) return RISK_INDEX_BEHIND;
    return RISK_INDEX_USED;
}

static int cmp_exposure(const void *pa, const void *pb)
{
    const risk_exposure *a = pa, *b = pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    return strcmp(a->category, b->category);
}

/* A label of category cat on address a (its own), else on its entity. */
static const labels_label *label_of(const risk_ctx *r, uint32_t a, const char *cat, int *via)
{
    *via = 0;
    if (!r->labels || a == STORE_NO_ADDR) return NULL;
    char canon[128];
    store_addr_text(r->s, a, canon);
    const labels_label *first;
    size_t n;
    labels_find(r->labels, "btc", canon, &first, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(first[i].category, cat)) return &first[i];
    uint32_t e = r->clusters ? cluster_entity_of(r->clusters, a) : CLUSTER_NO_ENTITY;
    if (e == CLUSTER_NO_ENTITY) return NULL;
    /* r->el is sorted by entity, the best label of each category first */
    size_t lo = 0, hi = r->n_el;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->el[mid].entity < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < r->n_el && r->el[i].entity == e; i++) {
        const labels_label *l = labels_db_get(r->labels, r->el[i].label);
        if (!strcmp(l->category, cat)) {
            *via = 1;
            return l;
        }
    }
    return NULL;
}

/* One of the largest exposed outputs of a category: walked back to its source. */
typedef struct top_out {
    uint64_t amount, out;
} top_out;

/* Keep the RISK_SOURCE_WALKS largest (ties: the lower output) in t[0..*n), largest first. */
static void top_add(top_out *t, uint32_t *n, uint64_t amount, uint64_t out)
{
    uint32_t k = *n < RISK_SOURCE_WALKS ? (*n)++ : RISK_SOURCE_WALKS;
    if (k == RISK_SOURCE_WALKS) { /* full: replace the smallest if this one is larger */
        top_out *last = &t[k - 1];
        if (amount < last->amount || (amount == last->amount && out > last->out)) return;
        k--;
    }
    while (k > 0 &&
           (t[k - 1].amount < amount || (t[k - 1].amount == amount && t[k - 1].out > out))) {
        t[k] = t[k - 1];
        k--;
    }
    t[k] = (top_out){amount, out};
}

/* A walk back along the index's predecessors into a new array (*path, the caller's). 0, 1 when
 * there is no path (a broken one, or over PATH_MAX_STEPS), or UTIL_ENOMEM. */
static int walk(const risk_ctx *r, uint64_t out, uint32_t cat, uint64_t **path, size_t *len,
                uint64_t *src)
{
    uint64_t buf[128];
    int rc = exposure_walk(r->ix, r->s, out, cat, buf, 128, len, src);
    size_t cap = 128;
    uint64_t *p = NULL;
    while (rc == EXPOSURE_PATH_LONGER && cap < PATH_MAX_STEPS) { /* rare: long paths */
        cap = cap * 8 < PATH_MAX_STEPS ? cap * 8 : PATH_MAX_STEPS;
        free(p);
        if (!(p = malloc(cap * sizeof *p))) return UTIL_ENOMEM;
        rc = exposure_walk(r->ix, r->s, out, cat, p, cap, len, src);
    }
    if (rc) {
        free(p);
        return 1;
    }
    if (!p) {
        if (!(p = malloc((*len ? *len : 1) * sizeof *p))) return UTIL_ENOMEM;
        memcpy(p, buf, *len * sizeof *p);
    }
    *path = p;
    return 0;
}

/* Explain exposure e (category id cat) by the index: the sources the paths of its largest
 * outputs top[0..n) lead to, grouped by address. */
static int explain_by_index(const risk_ctx *r, const top_out *top, uint32_t n, uint32_t cat,
                            risk_exposure *e)
{
    e->nearest_addr = STORE_NO_ADDR;
    e->nearest_entity = CLUSTER_NO_ENTITY;
    risk_source src[RISK_SOURCE_WALKS];
    size_t ns = 0;
    int rc = 0;
    for (uint32_t k = 0; k < n && !rc; k++) {
        uint64_t *path, so;
        size_t len;
        if ((rc = walk(r, top[k].out, cat, &path, &len, &so)) == 1) {
            rc = 0;
            continue;
        }
        if (rc) break;
        e->outputs_walked++;
        uint32_t a = store_out_addr(r->s, so);
        size_t i = 0;
        /* a script without an address is a source of its own */
        while (i < ns && (a == STORE_NO_ADDR || src[i].addr != a))
            i++;
        if (i < ns) {
            src[i].amount += top[k].amount;
            src[i].outputs++;
            free(path); /* the larger output's path stands */
            continue;
        }
        src[ns++] = (risk_source){.addr = a,
                                  .entity = r->clusters && a != STORE_NO_ADDR
                                                ? cluster_entity_of(r->clusters, a)
                                                : CLUSTER_NO_ENTITY,
                                  .amount = top[k].amount,
                                  .outputs = 1,
                                  .path = path,
                                  .path_len = len};
        src[ns - 1].label = label_of(r, a, e->category, &src[ns - 1].via_entity);
    }
    if (rc) {
        for (size_t i = 0; i < ns; i++)
            free(src[i].path);
        return rc;
    }
    if (!ns) return 0; /* no path: the amounts stand, unexplained */
    /* by amount, the first found first among equals (a stable insertion sort: ns is small) */
    for (size_t i = 1; i < ns; i++) {
        risk_source t = src[i];
        size_t j = i;
        for (; j > 0 && src[j - 1].amount < t.amount; j--)
            src[j] = src[j - 1];
        src[j] = t;
    }
    size_t keep = ns < RISK_MAX_SOURCES ? ns : RISK_MAX_SOURCES;
    for (size_t i = keep; i < ns; i++)
        free(src[i].path);
    if (!(e->sources = malloc(keep * sizeof *e->sources)) ||
        !(e->path = malloc(src[0].path_len * sizeof *e->path + 1))) {
        for (size_t i = 0; i < keep; i++)
            free(src[i].path);
        return UTIL_ENOMEM;
    }
    memcpy(e->sources, src, keep * sizeof *src);
    e->n_sources = keep;
    const risk_source *first = &src[0];
    e->explained = RISK_EXPLAINED_INDEX;
    e->endpoints = (uint32_t)ns;
    memcpy(e->path, first->path, first->path_len * sizeof *e->path);
    e->path_len = first->path_len;
    e->hops = (uint32_t)first->path_len;
    e->nearest_addr = first->addr;
    e->nearest_entity = first->entity;
    e->nearest_amount = first->amount;
    e->nearest_label = first->label;
    e->nearest_via_entity = first->via_entity;
    return 0;
}

int risk_incoming_indexed(const risk_ctx *r, const uint64_t *outs, size_t n_outs,
                          const trace_seeds *seeds, uint32_t hops, int seeds_partial,
                          risk_result *res, util_err *err)
{
    risk_side *side = &res->side[0];
    side->screened = 1;
    side->indexed = 1;
    side->partial = seeds_partial && hops;
    size_t nc = exposure_n_categories(r->ix);
    uint64_t *sums = calloc(nc ? nc : 1, sizeof *sums);
    uint32_t *n_top = calloc(nc ? nc : 1, sizeof *n_top), *n_exp = calloc(nc ? nc : 1, 4);
    top_out *top = malloc((nc ? nc : 1) * RISK_SOURCE_WALKS * sizeof *top);
    trace_exposure x = {0};
    uint8_t *used = NULL;
    int rc = 0;
    if (!sums || !n_top || !n_exp || !top) goto nomem;
    /* one pass: the sums, and the largest outputs of each category */
    for (size_t i = 0; i < n_outs; i++) {
        int64_t v = store_out_value(r->s, outs[i]);
        side->seeded += v > 0 ? (uint64_t)v : 0;
        exposure_amount amt[32];
        uint32_t stop;
        size_t m = exposure_output(r->ix, outs[i], amt, 32, &stop);
        if (m > 32) { /* more categories than the buffer: the sums at least */
            exposure_sum_outputs(r->ix, &outs[i], 1, sums);
            m = 32;
            for (size_t j = 0; j < m; j++)
                sums[amt[j].cat] -= amt[j].amount; /* added again below */
        }
        for (size_t j = 0; j < m; j++) {
            uint32_t c = amt[j].cat;
            sums[c] += amt[j].amount;
            n_exp[c]++;
            top_add(top + (size_t)c * RISK_SOURCE_WALKS, &n_top[c], amt[j].amount, outs[i]);
        }
    }
    /* The trace within the hops explains only when asked for: it is what a screening costs. */
    if (hops && seeds->n && r->stops) {
        trace_opts to;
        trace_default_opts(&to);
        to.policy = r->cfg.policy;
        to.direction = TRACE_BACKWARD;
        to.hops = hops;
        to.min_value = r->cfg.min_value;
        to.max_outputs = r->cfg.max_outputs;
        if ((rc = trace_exposure_run(r->s, r->labels, r->clusters, r->stops, seeds, &to, &x, err)))
            goto done;
        side->traced = 1;
        side->partial = x.partial || seeds_partial;
        side->outputs_visited = x.outputs_visited;
        /* the actors are the trace's: who the endpoints within the hops belong to */
        if ((rc = trace_exposure_actors(r->actors, r->labels, &x, &side->actors, err))) goto done;
    }
    size_t cap = nc + x.n_cat;
    if (cap && !(side->cat = calloc(cap, sizeof *side->cat))) goto nomem;
    if (!(used = calloc(x.n_cat ? x.n_cat : 1, 1))) goto nomem;
    for (uint32_t c = 0; c < nc && !rc; c++) {
        if (!sums[c]) continue;
        risk_exposure *e = &side->cat[side->n_cat++];
        e->category = exposure_category_name(r->ix, c);
        e->amount = sums[c];
        e->share = side->seeded ? (double)sums[c] / (double)side->seeded : 0;
        e->indexed = 1;
        e->outputs_exposed = n_exp[c];
        e->nearest_addr = STORE_NO_ADDR;
        e->nearest_entity = CLUSTER_NO_ENTITY;
        size_t k = 0;
        while (k < x.n_cat && strcmp(x.cat[k].category, e->category))
            k++;
        if (k < x.n_cat) {
            const trace_exposure_cat *t = &x.cat[k];
            used[k] = 1;
            e->traced_amount = t->amount;
            e->explained = RISK_EXPLAINED_TRACE;
            e->endpoints = t->endpoints;
            e->hops = t->hops;
            e->nearest_addr = t->nearest_addr;
            e->nearest_entity = t->nearest_entity;
            e->nearest_amount = t->nearest_amount;
            e->nearest_label = labels_db_get(r->labels, t->nearest_label);
            e->nearest_via_entity = t->nearest_via_entity;
            e->path = t->path, e->path_len = t->path_len;
            x.cat[k].path = NULL;
        } else if ((rc =
                        explain_by_index(r, top + (size_t)c * RISK_SOURCE_WALKS, n_top[c], c, e))) {
            rc = util_errf(err, rc, "out of memory");
        }
    }
    /* categories the index does not track (services), as the trace found them */
    for (size_t k = 0; k < x.n_cat && !rc; k++) {
        if (used[k]) continue;
        const trace_exposure_cat *t = &x.cat[k];
        risk_exposure *e = &side->cat[side->n_cat++];
        e->category = t->category;
        e->amount = e->traced_amount = t->amount;
        e->share = side->seeded ? (double)t->amount / (double)side->seeded : 0;
        e->explained = RISK_EXPLAINED_TRACE;
        e->endpoints = t->endpoints;
        e->hops = t->hops;
        e->nearest_addr = t->nearest_addr;
        e->nearest_entity = t->nearest_entity;
        e->nearest_amount = t->nearest_amount;
        e->nearest_label = labels_db_get(r->labels, t->nearest_label);
        e->nearest_via_entity = t->nearest_via_entity;
        e->path = t->path, e->path_len = t->path_len;
        x.cat[k].path = NULL;
    }
    if (rc) goto done;
    if (side->n_cat > 1) qsort(side->cat, side->n_cat, sizeof *side->cat, cmp_exposure);
    for (size_t i = 0; i < side->n_cat && !rc; i++)
        if (risk_indirect_contrib(r, res, 0, i)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    goto done;
nomem:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
done:
    free(used);
    free(sums);
    free(n_top);
    free(n_exp);
    free(top);
    trace_exposure_free(&x);
    return rc;
}
