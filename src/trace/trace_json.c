/* trace_json: a trace_result as its JSON document (docs/tracing.md). The key order is part of
 * the output (the CLI and the API print in insertion order): keep it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "trace_int.h"

#define JINT(v) json_integer((json_int_t)(v))

/* Strings and arrays that recur across a document's edges (txids, addresses, pattern lists),
 * made once and shared by reference: jansson values have no parent, and for a wide trace the
 * allocations and hex/base58 encodings were most of the document's cost. */
typedef struct jcache {
    json_t **tx;      /* per result tx */
    json_t *pat[256]; /* per pattern mask */
    hmap addr_idx;    /* address id -> index in addr */
    json_t **addr;
    size_t n_addr, cap_addr;
} jcache;

static void jcache_free(jcache *k, size_t n_tx)
{
    for (size_t i = 0; k->tx && i < n_tx; i++)
        json_decref(k->tx[i]);
    free(k->tx);
    for (int i = 0; i < 256; i++)
        json_decref(k->pat[i]);
    for (size_t i = 0; i < k->n_addr; i++)
        json_decref(k->addr[i]);
    free(k->addr);
    hmap_free(&k->addr_idx);
}

static json_t *patterns_json(uint8_t m)
{
    json_t *a = json_array();
    for (int k = 0; a && k < TRACE_N_PATTERNS; k++)
        if (m & (1u << k) && json_array_append_new(a, json_string(trace_pattern_name(k)))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *outpoint_json(const trace_result *r, uint64_t o)
{
    char buf[96];
    return json_string(trace_result_outpoint(r, o, buf, sizeof buf));
}

static json_t *addr_json(const trace_result *r, uint32_t addr)
{
    char buf[128];
    const char *a = trace_result_address(r, addr, buf, sizeof buf);
    return a ? json_string(a) : json_null();
}

static json_t *label_json(const labels_label *l)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "category", l->category, "name", l->name, "source",
                     l->source, "address", l->address);
}

/* New references (NULL if out of memory). */
static json_t *jc_tx(jcache *k, const trace_result *r, uint32_t t)
{
    char h[65];
    if (!k->tx[t] && !(k->tx[t] = json_string(trace_result_txid(r, t, h)))) return NULL;
    return json_incref(k->tx[t]);
}

static json_t *jc_pat(jcache *k, uint8_t m)
{
    if (!k->pat[m] && !(k->pat[m] = patterns_json(m))) return NULL;
    return json_incref(k->pat[m]);
}

static json_t *jc_addr(jcache *k, const trace_result *r, uint32_t addr)
{
    if (addr == STORE_NO_ADDR) return json_null();
    uint32_t i = hmap_get(&k->addr_idx, addr);
    if (i != NONE32) return json_incref(k->addr[i]);
    if (util_grow((void **)&k->addr, &k->cap_addr, k->n_addr + 1, sizeof *k->addr, 64, SIZE_MAX))
        return NULL;
    json_t *v = addr_json(r, addr);
    if (!v) return NULL;
    if (hmap_put(&k->addr_idx, addr, (uint32_t)k->n_addr)) {
        json_decref(v);
        return NULL;
    }
    k->addr[k->n_addr++] = v;
    return json_incref(v);
}

/* The actor fields of an object: "actor" (null when unnamed or unlabelled) and "actor_from".
 * -1 if out of memory. */
static int actor_fields(json_t *o, const labels_actor *w)
{
    return json_object_set_new(o, "actor", w->name ? json_string(w->name) : json_null()) ||
                   json_object_set_new(o, "actor_from",
                                       json_string(labels_actor_from_name(w->from)))
               ? -1
               : 0;
}

json_t *trace_actors_json(const store *s, const trace_actors *a, size_t max_addrs)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < a->n; i++) {
        const trace_actor *g = &a->v[i];
        json_t *o = json_object(), *addrs = json_array();
        if (!o || json_array_append_new(arr, o) || !addrs || actor_fields(o, &g->who) ||
            json_object_set_new(o, "category",
                                g->category ? json_string(g->category) : json_null()) ||
            json_object_set_new(o, "role", json_string(trace_actor_role_name(g->role))) ||
            json_object_set_new(o, "amount", JINT(g->amount)) ||
            json_object_set_new(o, "share", json_real(g->share)) ||
            json_object_set_new(o, "deposits", JINT(g->deposits)) ||
            json_object_set_new(o, "deposit_addresses", JINT(g->n)) ||
            json_object_set_new(o, "hops", JINT(g->hops)) ||
            json_object_set_new(o, "addresses", addrs)) {
            json_decref(addrs);
            goto nomem;
        }
        size_t listed = max_addrs && g->n > max_addrs ? max_addrs : g->n;
        if (listed < g->n && json_object_set_new(o, "addresses_not_listed", JINT(g->n - listed)))
            goto nomem;
        for (size_t k = 0; k < listed; k++) {
            const trace_actor_addr *d = &a->addrs[g->first + k];
            char buf[128];
            if (d->address != STORE_NO_ADDR) store_addr_text(s, d->address, buf);
            json_t *j =
                json_pack("{s:o, s:o, s:I, s:I, s:I}", "address",
                          d->address != STORE_NO_ADDR ? json_string(buf) : json_null(), "entity",
                          d->entity != CLUSTER_NO_ENTITY ? JINT(d->entity) : json_null(), "amount",
                          (json_int_t)d->amount, "deposits", (json_int_t)d->deposits, "hops",
                          (json_int_t)d->hops);
            if (!j || json_array_append_new(addrs, j)) goto nomem;
        }
    }
    return arr;
nomem:
    json_decref(arr);
    return NULL;
}

/* The graph as JSON: {"level": "entity"|"address", "nodes": [...], "edges": [...]}
 * (docs/tracing.md). NULL if out of memory. */
static json_t *graph_json(const trace_result *r)
{
    json_t *nodes = json_array(), *edges = json_array(), **ids = NULL;
    json_t *jg = json_pack("{s:s, s:o, s:o}", "level", r->clustered ? "entity" : "address", "nodes",
                           nodes, "edges", edges);
    if (!jg) return NULL;
    ids = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *ids);
    if (!ids) goto fail;
    for (size_t k = 0; k < r->n_nodes; k++) {
        const trace_node *n = &r->nodes[k];
        char id[160];
        if (!(ids[k] = json_string(trace_result_node_id(r, (uint32_t)k, id, sizeof id)))) goto fail;
        json_t *o = json_pack("{s:O, s:o, s:o, s:I, s:I, s:I, s:I}", "id", ids[k], "entity",
                              n->entity == CLUSTER_NO_ENTITY ? json_null() : JINT(n->entity),
                              "address", addr_json(r, n->address), "seeded", (json_int_t)n->seeded,
                              "received", (json_int_t)n->received, "sent", (json_int_t)n->sent,
                              "to_endpoint", (json_int_t)n->to_endpoint);
        if (!o || json_array_append_new(nodes, o)) goto fail;
        if (n->label != TRACE_NONE) {
            const labels_label *l = labels_db_get(r->labels, n->label);
            if (json_object_set_new(o, "category", json_string(l->category)) ||
                json_object_set_new(o, "name", json_string(l->name)))
                goto fail;
        }
        labels_actor w;
        trace_result_node_actor(r, (uint32_t)k, &w);
        if (w.label && actor_fields(o, &w)) goto fail;
    }
    for (size_t k = 0; k < r->n_flows; k++) {
        const trace_flow *e = &r->flows[k];
        json_t *o = json_pack("{s:O, s:O, s:I, s:I, s:o}", "from", ids[e->from], "to", ids[e->to],
                              "value", (json_int_t)e->value, "outputs", (json_int_t)e->outputs,
                              "patterns", patterns_json(e->patterns));
        if (!o || json_array_append_new(edges, o)) goto fail;
    }
    for (size_t k = 0; k < r->n_nodes; k++)
        json_decref(ids[k]);
    free(ids);
    return jg;
fail:
    if (ids)
        for (size_t k = 0; k < r->n_nodes; k++)
            json_decref(ids[k]);
    free(ids);
    json_decref(jg);
    return NULL;
}

#define JSET(o, k, v)                                                                              \
    do {                                                                                           \
        if (json_object_set_new((o), (k), (v))) goto nomem;                                        \
    } while (0)

int trace_result_json(const trace_result *r, json_t **out, util_err *err)
{
    const trace_opts *op = &r->opts;
    jcache jc;
    memset(&jc, 0, sizeof jc);
    json_t *fates[5] = {0};
    json_t *doc = json_object();
    *out = NULL;
    if (!(jc.tx = calloc(r->n_txs ? r->n_txs : 1, sizeof *jc.tx))) goto nomem;
    for (int k = 0; k < 5; k++)
        if (!(fates[k] = json_string(trace_fate_name(k)))) goto nomem;
    if (!doc) goto nomem;
    json_t *js = json_array();
    JSET(doc, "seeds", js);
    for (size_t i = 0; i < r->n_seeds; i++)
        if (json_array_append_new(js, outpoint_json(r, r->seeds[i]))) goto nomem;
    if (taint_doc_options(doc, &op->core, JINT(op->min_value),
                          op->until >= 0 ? op->until_from_time : -1, "max_outputs") ||
        taint_doc_partial(doc, r->partial,
                          "the cap on visited outputs (max_outputs) was reached; the taint of "
                          "txs not yet processed is in totals.not_followed") ||
        taint_doc_cuts(doc, r->cut, r->n_cut, TAINT_MODEL_UTXO))
        goto nomem;
    const trace_totals *t = &r->totals;
    json_t *jt = json_object();
    JSET(doc, "totals", jt);
    trace_bucket buckets[TRACE_TOTALS_BUCKETS];
    trace_totals_buckets(t, buckets);
    for (size_t k = 0; k < TRACE_TOTALS_BUCKETS; k++)
        JSET(jt, buckets[k].name, JINT(buckets[k].value));
    JSET(jt, "balanced", json_boolean(t->balanced));
    JSET(doc, "outputs_visited", JINT(r->outputs_visited));
    json_t *ja = trace_actors_json(r->s, &r->actors, 0);
    if (!ja) goto nomem;
    JSET(doc, "by_actor", ja);

    /* endpoints, largest first */
    json_t *je = json_array(), *bycat = json_object();
    JSET(doc, "endpoints", je);
    JSET(doc, "by_category", bycat);
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const trace_endpoint *e = &r->endpoints[i];
        json_t *o = json_object();
        if (json_array_append_new(je, o)) goto nomem;
        JSET(o, "address", addr_json(r, e->address));
        JSET(o, "entity", e->entity != CLUSTER_NO_ENTITY ? JINT(e->entity) : json_null());
        JSET(o, "via", json_string(e->via_entity ? "entity" : "address"));
        JSET(o, "category", json_string(labels_db_get(r->labels, e->label)->category));
        labels_actor w;
        trace_result_endpoint_actor(r, i, &w);
        if (actor_fields(o, &w)) goto nomem;
        json_t *ls = json_array();
        JSET(o, "labels", ls);
        for (size_t k = 0; k < e->labels_n; k++)
            if (json_array_append_new(ls,
                                      label_json(labels_db_get(r->labels, e->labels_first + k))))
                goto nomem;
        JSET(o, "amount", JINT(e->amount));
        JSET(o, "deposits", JINT(e->deposits));
        json_t *path = json_array();
        JSET(o, "path", path);
        for (size_t k = 0; k < e->path_len; k++)
            if (json_array_append_new(path, jc_tx(&jc, r, e->path[k]))) goto nomem;
    }
    for (size_t i = 0; i < r->n_categories; i++)
        JSET(bycat, r->by_category[i].category, JINT(r->by_category[i].amount));

    /* edges: one per output that received taint */
    json_t *jed = json_array();
    JSET(doc, "edges", jed);
    for (size_t i = 0; i < r->n_edges; i++) {
        const trace_edge *x = &r->edges[i];
        json_t *o = json_object();
        if (json_array_append_new(jed, o)) goto nomem;
        JSET(o, "from_tx", x->from_tx != TRACE_NONE ? jc_tx(&jc, r, x->from_tx) : json_null());
        JSET(o, "to_tx", x->to_tx != TRACE_NONE ? jc_tx(&jc, r, x->to_tx) : json_null());
        JSET(o, "output", outpoint_json(r, x->output));
        JSET(o, "address", jc_addr(&jc, r, x->address));
        JSET(o, "value", JINT(x->value));
        JSET(o, "fate", json_incref(fates[x->fate]));
        JSET(o, "patterns", jc_pat(&jc, x->patterns));
    }

    /* txs with their accounting and annotations */
    json_t *jtx = json_array();
    JSET(doc, "txs", jtx);
    for (size_t i = 0; i < r->n_txs; i++) {
        const trace_tx *x = &r->txs[i];
        json_t *o = json_object();
        if (json_array_append_new(jtx, o)) goto nomem;
        JSET(o, "txid", jc_tx(&jc, r, (uint32_t)i));
        JSET(o, "height", JINT(x->height));
        JSET(o, "depth", JINT(x->depth));
        JSET(o, "status", json_string(trace_tx_status_name(x->status)));
        JSET(o, "taint_in", JINT(x->taint_in));
        JSET(o, "added", JINT(x->added));
        JSET(o, "taint_out", JINT(x->taint_out));
        JSET(o, "fee", JINT(x->fee));
        if (x->status != TRACE_TX_FOLLOWED) continue;
        JSET(o, "coinjoin", json_string(cluster_cj_kind_name(x->coinjoin)));
        JSET(o, "peel", JINT(x->peel));
        JSET(o, "patterns", jc_pat(&jc, x->patterns));
    }
    json_t *jg = graph_json(r);
    if (!jg) goto nomem;
    JSET(doc, "graph", jg);
    jcache_free(&jc, r->n_txs);
    for (int k = 0; k < 5; k++)
        json_decref(fates[k]);
    *out = doc;
    return 0;
nomem:
    jcache_free(&jc, r->n_txs);
    for (int k = 0; k < 5; k++)
        json_decref(fates[k]);
    json_decref(doc);
    return util_errf(err, UTIL_ENOMEM, "out of memory building the trace document");
}
