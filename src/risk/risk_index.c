/* risk: incoming exposure read from the exposure index (src/exposure). The amounts are look-ups
 * (an address: the sum over its outputs; a tx: over its outputs); the explanation is the
 * backward trace within the hops asked for, and for a category it does not reach, the one path
 * the index gives. docs/screening.md. */
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
    btc_addr_encode(canon, store_addr(r->s, a));
    const labels_label *first;
    size_t n;
    labels_find(r->labels, "btc", canon, &first, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(first[i].category, cat)) return &first[i];
    uint32_t e = r->clusters ? cluster_entity_of(r->clusters, a) : CLUSTER_NO_ENTITY;
    if (e == CLUSTER_NO_ENTITY) return NULL;
    for (size_t i = 0; i < r->n_el; i++) {
        if (r->el[i].entity != e) continue;
        const labels_label *l = labels_db_get(r->labels, r->el[i].label);
        if (!strcmp(l->category, cat)) {
            *via = 1;
            return l;
        }
    }
    return NULL;
}

/* Explain exposure e (category id cat) by the index's path from outs. */
static int explain_by_index(const risk_ctx *r, const uint64_t *outs, size_t n, uint32_t cat,
                            risk_exposure *e, util_err *err)
{
    uint64_t *path, src;
    size_t len;
    util_err pe = {0};
    int rc = exposure_path(r->ix, r->s, outs, n, cat, PATH_MAX_STEPS, &path, &len, &src, &pe);
    if (rc == UTIL_ENOMEM) return util_errf(err, rc, "out of memory");
    e->nearest_addr = STORE_NO_ADDR;
    e->nearest_entity = CLUSTER_NO_ENTITY;
    if (rc) return 0; /* no path: the amounts stand, unexplained */
    e->explained = RISK_EXPLAINED_INDEX;
    e->path = path;
    e->path_len = len;
    e->hops = (uint32_t)len;
    e->nearest_addr = store_out_addr(r->s, src);
    if (r->clusters && e->nearest_addr != STORE_NO_ADDR)
        e->nearest_entity = cluster_entity_of(r->clusters, e->nearest_addr);
    int64_t v = store_out_value(r->s, src);
    e->nearest_amount = v > 0 ? (uint64_t)v : 0;
    e->nearest_label = label_of(r, e->nearest_addr, e->category, &e->nearest_via_entity);
    return 0;
}

int risk_incoming_indexed(const risk_ctx *r, const uint64_t *outs, size_t n_outs,
                          const trace_seeds *seeds, uint32_t hops, int seeds_partial,
                          risk_result *res, util_err *err)
{
    risk_side *side = &res->side[0];
    side->screened = 1;
    side->indexed = 1;
    side->partial = seeds_partial;
    for (size_t i = 0; i < n_outs; i++) {
        int64_t v = store_out_value(r->s, outs[i]);
        side->seeded += v > 0 ? (uint64_t)v : 0;
    }
    size_t nc = exposure_n_categories(r->ix);
    uint64_t *sums = calloc(nc ? nc : 1, sizeof *sums);
    if (!sums) return util_errf(err, UTIL_ENOMEM, "out of memory");
    exposure_sum_outputs(r->ix, outs, n_outs, sums);
    /* the explanation: the trace within the hops */
    trace_exposure x = {0};
    int rc = 0;
    if (seeds->n && r->stops) {
        trace_opts to;
        trace_default_opts(&to);
        to.policy = r->cfg.policy;
        to.direction = TRACE_BACKWARD;
        to.hops = hops;
        to.min_value = r->cfg.min_value;
        to.max_outputs = r->cfg.max_outputs;
        if ((rc =
                 trace_exposure_run(r->s, r->labels, r->clusters, r->stops, seeds, &to, &x, err))) {
            free(sums);
            return rc;
        }
        side->traced = 1;
        side->partial = x.partial || seeds_partial;
        side->outputs_visited = x.outputs_visited;
        /* the actors are the trace's: who the endpoints within the hops belong to */
        if ((rc = trace_exposure_actors(r->actors, r->labels, &x, &side->actors, err))) {
            trace_exposure_free(&x);
            free(sums);
            return rc;
        }
    }
    size_t cap = nc + x.n_cat;
    if (cap && !(side->cat = calloc(cap, sizeof *side->cat))) goto nomem;
    uint8_t *used = calloc(x.n_cat ? x.n_cat : 1, 1);
    if (!used) goto nomem;
    for (uint32_t c = 0; c < nc && !rc; c++) {
        if (!sums[c]) continue;
        risk_exposure *e = &side->cat[side->n_cat++];
        e->category = exposure_category_name(r->ix, c);
        e->amount = sums[c];
        e->share = side->seeded ? (double)sums[c] / (double)side->seeded : 0;
        e->indexed = 1;
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
        } else {
            rc = explain_by_index(r, outs, n_outs, c, e, err);
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
    free(used);
    free(sums);
    trace_exposure_free(&x);
    if (rc) return rc;
    if (side->n_cat > 1) qsort(side->cat, side->n_cat, sizeof *side->cat, cmp_exposure);
    for (size_t i = 0; i < side->n_cat; i++)
        if (risk_indirect_contrib(r, res, 0, i))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
nomem:
    free(sums);
    trace_exposure_free(&x);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}
