/* cluster_prov: provenance of a saved clustering. Every union the clustering made is a link
 * (cluster-links.<gen>.col: the two addresses, the tx, the heuristic), so the links form a
 * forest spanning each entity: the path between two addresses in it is the chain of txs that
 * joined them (`entity why`), and the links inside an entity say how it was formed (counts per
 * heuristic); the guards' refused merges (cluster-refused.<gen>.col) are listed with it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util_hmap.h"
#include "cluster_int.h"

int cl_resolve_arg(const cluster_map *m, const store *s, const char *arg, uint32_t *out,
                   util_err *err)
{
    char *end;
    if (*arg >= '0' && *arg <= '9' && strlen(arg) < 12 && (strtoull(arg, &end, 10), !*end)) {
        unsigned long long v = strtoull(arg, NULL, 10);
        if (v >= m->st.addresses)
            return util_errf(err, UTIL_ENOTFOUND,
                             "address id %llu: no such address id (the clustering has %" PRIu64
                             " addresses)",
                             v, m->st.addresses);
        *out = (uint32_t)v;
        return 0;
    }
    btc_addr key;
    int rc = btc_addr_decode(&key, arg, err);
    if (rc) return rc;
    int64_t a = store_find_addr(s, &key);
    if (a < 0) return util_errf(err, UTIL_ENOTFOUND, "address %s: never seen in the store", arg);
    if ((uint64_t)a >= m->st.addresses)
        return util_errf(err, UTIL_ENOTFOUND,
                         "address %s: newer than the clustering (built to tx %" PRIu64
                         "): run `cointrail cluster`",
                         arg, m->st.txs);
    *out = (uint32_t)a;
    return 0;
}

static void refusal_of(const cluster_map *m, const store *s, const cl_refusal_rec *r,
                       cluster_refusal *out)
{
    out->tx = r->info >> 8;
    memcpy(out->txid, store_tx_hash(s, out->tx), 32);
    out->a = r->a, out->b = r->b;
    store_addr_text(s, r->a, out->addr_a);
    store_addr_text(s, r->b, out->addr_b);
    out->size_a = r->size_a, out->size_b = r->size_b;
    out->entity_a = cluster_entity_of(m, r->a);
    out->entity_b = cluster_entity_of(m, r->b);
    out->heuristic = (int)(r->info >> 4 & 15);
    out->rule = (int)(r->info & 15);
}

int cl_entity_formation(const cluster_map *m, const store *s, cluster_entity_result *r)
{
    uint32_t ent = r->entity;
    size_t n_links = m->st.n_links, n_ref = m->st.refused;
    for (size_t i = 0; i < n_links; i++) {
        const cl_link_rec *l = &m->links[i];
        if (cluster_entity_of(m, l->a) != ent) continue;
        int kind = (int)(l->info & 0xff);
        if ((kind & ~CLUSTER_LINK_EVIDENCE) == CLUSTER_LINK_CHANGE)
            r->formed_change++;
        else
            r->formed_multi_input++;
        r->formed_evidence += (kind & CLUSTER_LINK_EVIDENCE) != 0;
    }
    for (size_t i = 0; i < n_ref; i++) {
        const cl_refusal_rec *f = &m->refusals[i];
        uint32_t ea = cluster_entity_of(m, f->a), eb = cluster_entity_of(m, f->b);
        if (ea != ent && eb != ent) continue;
        if (ea == eb)
            r->refused_joined++;
        else
            r->refused_apart++;
        if (r->n_refusals == CLUSTER_LIST_MAX) continue;
        if (!r->refusals && !(r->refusals = calloc(CLUSTER_LIST_MAX, sizeof *r->refusals)))
            return UTIL_ENOMEM;
        refusal_of(m, s, f, &r->refusals[r->n_refusals++]);
    }
    cl_params_from_state(&r->params, &m->st);
    return 0;
}

void cluster_why_free(cluster_why_result *r)
{
    free(r->steps);
    free(r->refusals);
    r->steps = NULL, r->refusals = NULL;
    r->n_steps = r->n_refusals = 0;
}

/* Index of address x among the entity's addresses met so far (added if new). */
static int node_of(util_hmap *idx, uint32_t **addrs, size_t *n, size_t *cap, uint32_t x,
                   uint32_t *out)
{
    uint64_t v;
    if (util_hmap_get(idx, x, &v)) {
        *out = (uint32_t)v;
        return 0;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint32_t *na = realloc(*addrs, nc * sizeof *na);
        if (!na) return UTIL_ENOMEM;
        *addrs = na, *cap = nc;
    }
    (*addrs)[*n] = x;
    if (util_hmap_put(idx, x, *n)) return UTIL_ENOMEM;
    *out = (uint32_t)(*n)++;
    return 0;
}

/* The path from a to b in the entity's forest of links: its steps into r. */
static int why_path(const cluster_map *m, const store *s, uint32_t ent, cluster_why_result *r)
{
    util_hmap idx = {0};
    uint32_t *addrs = NULL, *edge_a = NULL, *edge_b = NULL, *adj_head = NULL, *adj_next = NULL;
    uint32_t *via = NULL, *queue = NULL;
    size_t *edge_link = NULL;
    size_t n = 0, cap = 0, ne = 0, ecap = 0;
    int rc = UTIL_ENOMEM;
    uint32_t src, dst;
    if (node_of(&idx, &addrs, &n, &cap, r->a, &src) || node_of(&idx, &addrs, &n, &cap, r->b, &dst))
        goto done;
    for (size_t i = 0; i < m->st.n_links; i++) {
        const cl_link_rec *l = &m->links[i];
        if (cluster_entity_of(m, l->a) != ent) continue;
        if (ne == ecap) {
            size_t nc = ecap ? ecap * 2 : 64;
            uint32_t *na = realloc(edge_a, nc * sizeof *na), *nb;
            if (!na) goto done;
            edge_a = na;
            if (!(nb = realloc(edge_b, nc * sizeof *nb))) goto done;
            edge_b = nb;
            size_t *nl = realloc(edge_link, nc * sizeof *nl);
            if (!nl) goto done;
            edge_link = nl, ecap = nc;
        }
        if (node_of(&idx, &addrs, &n, &cap, l->a, &edge_a[ne]) ||
            node_of(&idx, &addrs, &n, &cap, l->b, &edge_b[ne]))
            goto done;
        edge_link[ne++] = i;
    }
    /* Adjacency lists over both directions of each edge, then a breadth-first search. */
    adj_head = malloc((n ? n : 1) * sizeof *adj_head);
    adj_next = malloc((2 * ne + 1) * sizeof *adj_next);
    via = malloc((n ? n : 1) * sizeof *via);
    queue = malloc((n ? n : 1) * sizeof *queue);
    if (!adj_head || !adj_next || !via || !queue) goto done;
    memset(adj_head, 0xff, n * sizeof *adj_head);
    memset(via, 0xff, n * sizeof *via);
    for (size_t e = 0; e < 2 * ne; e++) {
        uint32_t from = e & 1 ? edge_b[e / 2] : edge_a[e / 2];
        adj_next[e] = adj_head[from];
        adj_head[from] = (uint32_t)e;
    }
    size_t qh = 0, qt = 0;
    queue[qt++] = src;
    via[src] = UINT32_MAX - 1; /* the start */
    while (qh < qt && via[dst] == UINT32_MAX) {
        uint32_t x = queue[qh++];
        for (uint32_t e = adj_head[x]; e != UINT32_MAX; e = adj_next[e]) {
            uint32_t y = e & 1 ? edge_a[e / 2] : edge_b[e / 2];
            if (via[y] != UINT32_MAX) continue;
            via[y] = e;
            queue[qt++] = y;
        }
    }
    if (via[dst] == UINT32_MAX) {
        rc = UTIL_ECORRUPT; /* the links do not span the entity: a damaged links file */
        goto done;
    }
    size_t steps = 0;
    for (uint32_t x = dst; x != src; steps++) {
        uint32_t e = via[x];
        x = e & 1 ? edge_b[e / 2] : edge_a[e / 2];
    }
    r->steps = calloc(steps ? steps : 1, sizeof *r->steps);
    if (!r->steps) goto done;
    r->n_steps = steps;
    cluster_scratch sc = {0};
    rc = 0;
    for (uint32_t x = dst, k = (uint32_t)steps; x != src;) {
        uint32_t e = via[x], from = e & 1 ? edge_b[e / 2] : edge_a[e / 2];
        const cl_link_rec *l = &m->links[edge_link[e / 2]];
        cluster_why_step *st = &r->steps[--k];
        st->tx = l->info >> 8;
        memcpy(st->txid, store_tx_hash(s, st->tx), 32);
        st->from = addrs[from], st->to = addrs[x];
        store_addr_text(s, st->from, st->from_addr);
        store_addr_text(s, st->to, st->to_addr);
        st->link = (int)(l->info & 0xff);
        st->kind = cluster_tx_kind(m, st->tx);
        if (cluster_detect_ex(s, st->tx, &sc, &st->det)) rc = UTIL_ENOMEM;
        x = from;
    }
    cluster_scratch_free(&sc);
done:
    util_hmap_free(&idx);
    free(addrs);
    free(edge_a);
    free(edge_b);
    free(edge_link);
    free(adj_head);
    free(adj_next);
    free(via);
    free(queue);
    return rc;
}

int cluster_why(const cluster_map *m, const store *s, const char *arg_a, const char *arg_b,
                cluster_why_result *out, util_err *err)
{
    cluster_why_result r = {0};
    int rc = cl_resolve_arg(m, s, arg_a, &r.a, err);
    if (!rc) rc = cl_resolve_arg(m, s, arg_b, &r.b, err);
    if (rc) return rc;
    store_addr_text(s, r.a, r.addr_a);
    store_addr_text(s, r.b, r.addr_b);
    r.entity_a = cluster_entity_of(m, r.a);
    r.entity_b = cluster_entity_of(m, r.b);
    r.joined = r.entity_a == r.entity_b;
    cl_params_from_state(&r.params, &m->st);
    if (r.joined) {
        rc = why_path(m, s, r.entity_a, &r);
        if (rc) {
            cluster_why_free(&r);
            return rc == UTIL_ENOMEM
                       ? util_errf(err, rc, "out of memory following the links of entity %" PRIu32,
                                   r.entity_a)
                       : util_errf(err, rc,
                                   "entity %" PRIu32 ": the links do not connect %s and %s: "
                                   "rerun `cointrail cluster --rebuild`",
                                   r.entity_a, arg_a, arg_b);
        }
    } else {
        for (size_t i = 0; i < m->st.refused; i++) {
            const cl_refusal_rec *f = &m->refusals[i];
            uint32_t ea = cluster_entity_of(m, f->a), eb = cluster_entity_of(m, f->b);
            if (!((ea == r.entity_a && eb == r.entity_b) || (ea == r.entity_b && eb == r.entity_a)))
                continue;
            r.refusals_total++;
            if (r.n_refusals == CLUSTER_LIST_MAX) continue;
            if (!r.refusals && !(r.refusals = calloc(CLUSTER_LIST_MAX, sizeof *r.refusals))) {
                cluster_why_free(&r);
                return util_errf(err, UTIL_ENOMEM, "out of memory listing refused merges");
            }
            refusal_of(m, s, f, &r.refusals[r.n_refusals++]);
        }
    }
    *out = r;
    return 0;
}

static json_t *hash_json(const uint8_t h[32])
{
    char hex[65];
    util_hash_hex(hex, h);
    return json_string(hex);
}

json_t *cluster_refusal_json(const cluster_refusal *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "txid", hash_json(r->txid));
    json_object_set_new(o, "heuristic", json_string(cluster_link_name(r->heuristic)));
    json_object_set_new(o, "rule", json_string(cluster_guard_name(r->rule)));
    json_object_set_new(o, "a", json_string(r->addr_a));
    json_object_set_new(o, "b", json_string(r->addr_b));
    json_object_set_new(o, "size_a", json_integer(r->size_a));
    json_object_set_new(o, "size_b", json_integer(r->size_b));
    json_object_set_new(o, "entity_a", json_integer(r->entity_a));
    json_object_set_new(o, "entity_b", json_integer(r->entity_b));
    json_object_set_new(o, "joined_later", json_boolean(r->entity_a == r->entity_b));
    return o;
}

static json_t *end_json(const char *addr, uint32_t id, uint32_t ent)
{
    return json_pack("{s:s,s:I,s:I}", "address", addr, "id", (json_int_t)id, "entity",
                     (json_int_t)ent);
}

json_t *cluster_why_json(const cluster_why_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "a", end_json(r->addr_a, r->a, r->entity_a));
    json_object_set_new(o, "b", end_json(r->addr_b, r->b, r->entity_b));
    json_object_set_new(o, "joined", json_boolean(r->joined));
    json_t *steps = json_array();
    for (size_t i = 0; i < r->n_steps; i++) {
        const cluster_why_step *st = &r->steps[i];
        json_t *j = json_object();
        json_object_set_new(j, "txid", hash_json(st->txid));
        json_object_set_new(j, "from", json_string(st->from_addr));
        json_object_set_new(j, "to", json_string(st->to_addr));
        json_object_set_new(j, "heuristic", json_string(cluster_link_name(st->link)));
        json_object_set_new(j, "on_evidence", json_boolean(st->link & CLUSTER_LINK_EVIDENCE));
        json_object_set_new(j, "kind", json_string(cluster_cj_kind_name(st->kind)));
        json_object_set_new(j, "rule", json_string(cluster_rule_name(st->det.rule)));
        json_object_set_new(j, "score", json_integer(st->det.score));
        json_array_append_new(steps, j);
    }
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "refused_merges", json_integer((json_int_t)r->refusals_total));
    json_t *ref = json_array();
    for (size_t i = 0; i < r->n_refusals; i++)
        json_array_append_new(ref, cluster_refusal_json(&r->refusals[i]));
    json_object_set_new(o, "refusals", ref);
    json_object_set_new(o, "params", cluster_params_json(&r->params));
    return o;
}
