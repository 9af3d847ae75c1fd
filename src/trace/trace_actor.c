/* trace_actor: answers by actor (trace.h, "answers by actor"). The index of who is behind each
 * labelled address and entity, the one decision (trace_actor_of, over labels_actor), and the
 * grouping of a result's endpoints and unspent taint, or of an exposure's endpoints, by it. */
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "trace_int.h"

struct trace_actor_index {
    const labels_db *labels;
    hmap addr;   /* address id -> the best of its own labels (index in the labels_db) */
    hmap entity; /* entity -> the best label on any of its addresses */
};

const char *trace_actor_role_name(int role)
{
    return role == TRACE_ACTOR_HOLDER ? "holder" : "endpoint";
}

void trace_actors_free(trace_actors *a)
{
    if (!a) return;
    free(a->v);
    free(a->addrs);
    memset(a, 0, sizeof *a);
}

/* key -> label i unless it already holds a label that names the actor better (how as offered). */
static int keep_best(const labels_db *labels, hmap *m, uint64_t key, uint32_t i, labels_offer how)
{
    if (!m->cap && hmap_grow(m)) return UTIL_ENOMEM;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->val[j] != NONE32) {
        if (m->key[j] == key) {
            labels_actor a;
            labels_actor_init(&a);
            labels_actor_offer(&a, labels_db_get(labels, m->val[j]), how, 0);
            labels_actor_offer(&a, labels_db_get(labels, i), how, 0);
            if (a.label == labels_db_get(labels, i)) m->val[j] = i;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return hmap_put(m, key, i);
}

void trace_actor_index_free(trace_actor_index *ix)
{
    if (!ix) return;
    hmap_free(&ix->addr);
    hmap_free(&ix->entity);
    free(ix);
}

int trace_actor_index_build(trace_actor_index **out, const store *s, const labels_db *labels,
                            const cluster_map *clusters, util_err *err)
{
    *out = NULL;
    trace_actor_index *ix = calloc(1, sizeof *ix);
    if (!ix) return util_errf(err, UTIL_ENOMEM, "out of memory");
    ix->labels = labels;
    size_t n = labels ? labels_db_count(labels) : 0;
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = labels_db_get(labels, i);
        btc_addr key;
        if (strcmp(l->chain, "btc") || btc_addr_decode(&key, l->address, NULL)) continue;
        int64_t aid = store_find_addr(s, &key);
        if (aid < 0) continue;
        if (keep_best(labels, &ix->addr, (uint64_t)aid, (uint32_t)i, LABELS_OFFER_OWN)) goto nomem;
        uint32_t e = clusters ? cluster_entity_of(clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
        if (e != CLUSTER_NO_ENTITY &&
            keep_best(labels, &ix->entity, e, (uint32_t)i, LABELS_OFFER_ENTITY))
            goto nomem;
    }
    *out = ix;
    return 0;
nomem:
    trace_actor_index_free(ix);
    return util_errf(err, UTIL_ENOMEM, "out of memory indexing the actors of labels");
}

void trace_actor_of(const trace_actor_index *ix, uint32_t address, uint32_t entity,
                    const labels_label *primary, int via_entity, labels_actor *out)
{
    labels_actor_init(out);
    labels_actor_offer(out, primary, LABELS_OFFER_PRIMARY, via_entity);
    if (!ix) return;
    uint32_t l = address != STORE_NO_ADDR ? hmap_get(&ix->addr, address) : NONE32;
    if (l != NONE32) labels_actor_offer(out, labels_db_get(ix->labels, l), LABELS_OFFER_OWN, 0);
    l = entity != CLUSTER_NO_ENTITY ? hmap_get(&ix->entity, entity) : NONE32;
    if (l != NONE32) labels_actor_offer(out, labels_db_get(ix->labels, l), LABELS_OFFER_ENTITY, 0);
}

/* ---- grouping ---- */

typedef struct arow {
    trace_actor_addr a;
    labels_actor who;
    const char *category;
    int role;
} arow;

/* Named actors first, then unnamed (by category), then the unlabelled. */
static int kind_of(const labels_actor *w)
{
    return w->name ? 0 : w->label ? 1 : 2;
}

static int cmp_group(const arow *x, const arow *y)
{
    if (x->role != y->role) return x->role < y->role ? -1 : 1;
    int kx = kind_of(&x->who), ky = kind_of(&y->who);
    if (kx != ky) return kx < ky ? -1 : 1;
    if (kx == 0) return strcmp(x->who.name, y->who.name);
    if (kx == 1) return strcmp(x->who.label->category, y->who.label->category);
    return 0;
}

static int cmp_row(const void *pa, const void *pb)
{
    const arow *x = pa, *y = pb;
    int k = cmp_group(x, y);
    if (k) return k;
    if (x->a.amount != y->a.amount) return x->a.amount > y->a.amount ? -1 : 1;
    return x->a.address < y->a.address ? -1 : x->a.address > y->a.address;
}

static int cmp_actor(const void *pa, const void *pb)
{
    const trace_actor *x = pa, *y = pb;
    if (x->role != y->role) return x->role < y->role ? -1 : 1;
    if (x->amount != y->amount) return x->amount > y->amount ? -1 : 1;
    int kx = kind_of(&x->who), ky = kind_of(&y->who);
    if (kx != ky) return kx < ky ? -1 : 1;
    if (kx == 0) return strcmp(x->who.name, y->who.name);
    if (kx == 1) return strcmp(x->who.label->category, y->who.label->category);
    return 0;
}

/* Group rows (consumed: sorted in place) into out. */
static int group_rows(arow *rows, size_t n, uint64_t seeded, trace_actors *out)
{
    memset(out, 0, sizeof *out);
    if (!n) return 0;
    qsort(rows, n, sizeof *rows, cmp_row);
    size_t groups = 1;
    for (size_t i = 1; i < n; i++)
        groups += cmp_group(&rows[i - 1], &rows[i]) != 0;
    out->v = calloc(groups, sizeof *out->v);
    out->addrs = malloc(n * sizeof *out->addrs);
    if (!out->v || !out->addrs) {
        trace_actors_free(out);
        return UTIL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        out->addrs[i] = rows[i].a;
        if (i == 0 || cmp_group(&rows[i - 1], &rows[i])) {
            trace_actor *g = &out->v[out->n++];
            g->who = rows[i].who; /* the largest address's decision speaks for the group */
            g->category = rows[i].category;
            g->role = rows[i].role;
            g->hops = UINT32_MAX;
            g->first = i;
        }
        trace_actor *g = &out->v[out->n - 1];
        g->n++;
        g->amount += rows[i].a.amount;
        g->deposits += rows[i].a.deposits;
        if (rows[i].a.hops < g->hops) g->hops = rows[i].a.hops;
    }
    out->n_addrs = n;
    for (size_t k = 0; k < out->n; k++)
        out->v[k].share = seeded ? (double)out->v[k].amount / (double)seeded : 0;
    qsort(out->v, out->n, sizeof *out->v, cmp_actor);
    return 0;
}

void trace_result_endpoint_actor(const trace_result *r, size_t i, labels_actor *out)
{
    const trace_endpoint *e = &r->endpoints[i];
    trace_actor_of(r->actor_index, e->address, e->entity, labels_db_get(r->labels, e->label),
                   e->via_entity, out);
}

void trace_result_node_actor(const trace_result *r, uint32_t node, labels_actor *out)
{
    const trace_node *n = &r->nodes[node];
    const labels_label *stop = n->label != TRACE_NONE ? labels_db_get(r->labels, n->label) : NULL;
    int via = 0;
    if (stop && n->address != STORE_NO_ADDR) {
        char a[128];
        store_addr_text(r->s, n->address, a);
        via = strcmp(a, stop->address) != 0; /* the stop label is on another of its addresses */
    }
    trace_actor_of(r->actor_index, n->address, n->entity, stop, via, out);
}

int trace_fill_actors(const tctx *c, trace_result *r)
{
    if (c->stops && c->stops->actors) {
        r->actor_index = (trace_actor_index *)c->stops->actors; /* read only, never freed here */
        r->actor_index_borrowed = 1;
    } else if (trace_actor_index_build(&r->actor_index, c->s, c->labels, c->clusters, NULL)) {
        return UTIL_ENOMEM;
    }
    size_t cap = r->n_endpoints, n = 0;
    for (size_t i = 0; i < r->n_edges; i++)
        cap += r->edges[i].fate == TRACE_FATE_UNSPENT;
    arow *rows = malloc((cap ? cap : 1) * sizeof *rows);
    hmap held = {0}; /* address id (STORE_NO_ADDR included) -> its row */
    if (!rows) return UTIL_ENOMEM;
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const trace_endpoint *e = &r->endpoints[i];
        arow *w = &rows[n++];
        w->a = (trace_actor_addr){e->address, e->entity,   (uint32_t)i,
                                  e->amount,  e->deposits, (uint32_t)e->path_len};
        trace_result_endpoint_actor(r, i, &w->who);
        w->category = labels_db_get(r->labels, e->label)->category;
        w->role = TRACE_ACTOR_ENDPOINT;
    }
    int rc = 0;
    for (size_t i = 0; i < r->n_edges && !rc; i++) {
        const trace_edge *x = &r->edges[i];
        if (x->fate != TRACE_FATE_UNSPENT) continue;
        uint32_t hops = x->from_tx == TRACE_NONE ? 0 : r->txs[x->from_tx].depth;
        uint32_t k = hmap_get(&held, x->address);
        if (k == NONE32) {
            if ((rc = hmap_put(&held, x->address, (uint32_t)n))) break;
            arow *w = &rows[k = (uint32_t)n++];
            uint32_t ent = x->address != STORE_NO_ADDR && c->clusters
                               ? cluster_entity_of(c->clusters, x->address)
                               : CLUSTER_NO_ENTITY;
            w->a = (trace_actor_addr){x->address, ent, TRACE_NONE, 0, 0, hops};
            trace_actor_of(r->actor_index, x->address, ent, NULL, 0, &w->who);
            w->category = w->who.label ? w->who.label->category : NULL;
            w->role = TRACE_ACTOR_HOLDER;
        }
        rows[k].a.amount += x->value;
        rows[k].a.deposits++;
        if (hops < rows[k].a.hops) rows[k].a.hops = hops;
    }
    if (!rc) rc = group_rows(rows, n, r->totals.seeded, &r->actors);
    hmap_free(&held);
    free(rows);
    return rc;
}

/* ---- exposures (screening, the Bitcoin leg of a cross-chain trace) ---- */

int trace_exposure_fill_eps(const tctx *c, trace_exposure *x)
{
    if (!c->n_er) return 0;
    if (!(x->eps = calloc(c->n_er, sizeof *x->eps))) return UTIL_ENOMEM;
    for (size_t i = 0; i < c->n_er; i++) {
        const ep_rec *e = &c->er[i];
        uint32_t from = c->or_[e->first_out].from;
        x->eps[x->n_eps++] = (trace_exposure_ep){e->addr,
                                                 e->entity,
                                                 e->label,
                                                 e->via_entity,
                                                 e->amount,
                                                 e->deposits,
                                                 from == NONE32 ? 0 : c->tr[from].depth};
    }
    return 0;
}

int trace_exposure_actors(const trace_actor_index *ix, const labels_db *labels,
                          const trace_exposure *x, trace_actors *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    arow *rows = malloc((x->n_eps ? x->n_eps : 1) * sizeof *rows);
    if (!rows) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < x->n_eps; i++) {
        const trace_exposure_ep *e = &x->eps[i];
        const labels_label *stop = labels_db_get(labels, e->label);
        rows[i].a =
            (trace_actor_addr){e->address, e->entity, (uint32_t)i, e->amount, e->deposits, e->hops};
        trace_actor_of(ix, e->address, e->entity, stop, e->via_entity, &rows[i].who);
        rows[i].category = stop->category;
        rows[i].role = TRACE_ACTOR_ENDPOINT;
    }
    int rc = group_rows(rows, x->n_eps, x->seeded, out);
    free(rows);
    return rc ? util_errf(err, rc, "out of memory grouping endpoints by actor") : 0;
}
