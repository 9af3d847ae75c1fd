/* serve: the web UI's graph (docs/webui.md, "The graph"). A graph node is an entity (or an
 * address outside the clustering) holding some tainted outputs; expanding it runs one hop of a
 * trace (src/trace, hops = 1) from those outputs, forward (where they went) or backward (where
 * they came from), and answers the nodes reached, named by their best label's actor, with the
 * outputs each received (so they can be expanded in turn), the txs with their pattern
 * annotations, and the cross-chain links of those txs. The graph itself lives in the page. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../case/case.h"
#include "../crypto/crypto.h"
#include "../labels/labels_services.h"
#include "../trace/trace.h"
#include "serve_int.h"

#define GRAPH_MAX_OUTPUTS 1000     /* outputs one request may start from */
#define GRAPH_MAX_VISITS 200000    /* outputs one hop may visit (then "partial") */
#define GRAPH_MAX_NODES 2000       /* nodes one answer lists; more are cut (then "truncated") */
#define GRAPH_MAX_NODE_OUTPUTS 500 /* outputs listed per node of an answer */

/* ---- names: the best label of each entity (or address without one) ---- */

typedef struct name_ent {
    uint32_t key;   /* entity id, or address id outside the clustering */
    uint32_t label; /* index in the labels_db */
    int score;
} name_ent;

struct serve_names {
    name_ent *v;
    size_t n;
};

void serve_names_free(struct serve_names *n)
{
    if (!n) return;
    free(n->v);
    free(n);
}

/* The label that names a node: one with an actor first (it says who), then the more
 * confident, then a service or crime category over others, then the earlier label. */
static int label_score(const labels_label *l)
{
    static const char *const strong[] = {"exchange", "otc",   "swap",       "bridge",
                                         "mixer",    "theft", "sanctioned", "ransomware"};
    int s = (l->actor[0] ? 1000 : 0) + l->confidence;
    for (size_t i = 0; i < sizeof strong / sizeof *strong; i++)
        if (!strcmp(l->category, strong[i])) s += 200;
    return s;
}

static int cmp_name(const void *a, const void *b)
{
    const name_ent *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->label < y->label ? -1 : x->label > y->label;
}

static uint32_t node_key(const snap *sn, uint32_t addr)
{
    uint32_t e = sn->clusters && addr != STORE_NO_ADDR ? cluster_entity_of(sn->clusters, addr)
                                                       : CLUSTER_NO_ENTITY;
    return e != CLUSTER_NO_ENTITY ? e : addr;
}

static struct serve_names *names_build(const snap *sn)
{
    struct serve_names *nm = calloc(1, sizeof *nm);
    size_t n = labels_db_count(sn->labels), cap = 0;
    if (!nm) return NULL;
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = labels_db_get(sn->labels, i);
        btc_addr key;
        if (strcmp(l->chain, "btc") || btc_addr_decode(&key, l->address, NULL)) continue;
        int64_t aid = store_find_addr(sn->s, &key);
        if (aid < 0) continue;
        if (nm->n == cap) {
            cap = cap ? cap * 2 : 256;
            name_ent *v = realloc(nm->v, cap * sizeof *v);
            if (!v) {
                serve_names_free(nm);
                return NULL;
            }
            nm->v = v;
        }
        nm->v[nm->n++] = (name_ent){node_key(sn, (uint32_t)aid), (uint32_t)i, label_score(l)};
    }
    if (nm->n > 1) qsort(nm->v, nm->n, sizeof *nm->v, cmp_name);
    size_t w = 0; /* keep the best of each key */
    for (size_t i = 0; i < nm->n; i++)
        if (!w || nm->v[w - 1].key != nm->v[i].key) nm->v[w++] = nm->v[i];
    nm->n = w;
    return nm;
}

static const labels_label *name_of(const snap *sn, uint32_t key)
{
    const struct serve_names *nm = sn->names;
    if (!nm) return NULL;
    size_t lo = 0, hi = nm->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nm->v[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nm->n && nm->v[lo].key == key ? labels_db_get(sn->labels, nm->v[lo].label) : NULL;
}

void serve_snap_aux(server *sv, snap *sn)
{
    pthread_mutex_lock(&sn->aux_lock);
    if (!sn->aux_ready) {
        sn->names = names_build(sn); /* NULL when out of memory: nodes are then unnamed */
        util_err serr = {0};
        if (trace_stops_build(&sn->stops, sn->s, sn->labels, sn->clusters,
                              labels_service_categories(), labels_service_stops(0), &serr))
            sn->stops = NULL;
        /* a result names its actors (trace_fill_actors) from an index of the whole label set:
         * built per hop it cost 10x the hop itself on the bench store (docs/webui.md, "Speed") */
        if (sn->stops &&
            !trace_actor_index_build(&sn->actors, sn->s, sn->labels, sn->clusters, &serr))
            trace_stops_set_actors(sn->stops, sn->actors);
        util_err err = {0};
        int rc = xchain_links_load(sv->o.db, &sn->links, &err);
        if (rc && rc != UTIL_ENOTFOUND) {
            snprintf(sn->aux_error, sizeof sn->aux_error, "cross-chain links: %.200s", err.msg);
            fprintf(stderr, "cointrail: %s\n", sn->aux_error);
        }
        sn->aux_ready = 1;
    }
    pthread_mutex_unlock(&sn->aux_lock);
}

/* ---- nodes ---- */

static void outpoint_text(const store *s, uint64_t out, char buf[80])
{
    uint64_t tx = store_output_tx(s, out);
    char hex[65];
    util_hash_hex(hex, store_tx_hash(s, tx));
    snprintf(buf, 80, "%s:%" PRIu64, hex, out - store_tx_first_out(s, tx));
}

/* A node of the answer: "e<entity>", "a:<address>" or "no-address". */
typedef struct gnode {
    uint32_t key;  /* node_key, STORE_NO_ADDR for outputs without an address */
    uint32_t addr; /* a representative address */
    uint64_t amount;
    json_t *outputs;
    size_t n_outputs;
} gnode;

typedef struct gnodes {
    gnode *v;
    size_t n, cap;
    int truncated;
} gnodes;

static void gnodes_free(gnodes *g)
{
    for (size_t i = 0; i < g->n; i++)
        json_decref(g->v[i].outputs);
    free(g->v);
}

/* The node of an output's address (created on first use); NULL when the answer is full. */
static gnode *node_for(const snap *sn, gnodes *g, uint32_t addr)
{
    uint32_t key = addr == STORE_NO_ADDR ? STORE_NO_ADDR : node_key(sn, addr);
    for (size_t i = 0; i < g->n; i++)
        if (g->v[i].key == key) return &g->v[i];
    if (g->n == GRAPH_MAX_NODES) {
        g->truncated = 1;
        return NULL;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        gnode *v = realloc(g->v, cap * sizeof *v);
        if (!v) return NULL;
        g->v = v;
        g->cap = cap;
    }
    gnode *n = &g->v[g->n++];
    *n = (gnode){key, addr, 0, json_array(), 0};
    return n;
}

/* The node's id: "e<entity>", "a:<address>" outside the clustering, or "no-address". */
static void node_ident(const snap *sn, const gnode *n, char buf[160])
{
    uint32_t e = sn->clusters && n->addr != STORE_NO_ADDR ? cluster_entity_of(sn->clusters, n->addr)
                                                          : CLUSTER_NO_ENTITY;
    if (n->key == STORE_NO_ADDR) {
        snprintf(buf, 160, "no-address");
    } else if (e != CLUSTER_NO_ENTITY) {
        snprintf(buf, 160, "e%" PRIu32, e);
    } else {
        memcpy(buf, "a:", 2);
        store_addr_text(sn->s, n->addr, buf + 2);
    }
}

/* Add an output with its taint to a node. fate is trace_fate_name's word or NULL. */
static void node_add_output(const snap *sn, gnode *n, uint64_t out, uint64_t taint,
                            const char *fate)
{
    n->amount += taint;
    if (n->n_outputs++ >= GRAPH_MAX_NODE_OUTPUTS) return;
    char op[80];
    outpoint_text(sn->s, out, op);
    json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "output", op, "value",
                          (json_int_t)store_out_value(sn->s, out), "taint", (json_int_t)taint,
                          "spent", store_out_spent_by(sn->s, out) != STORE_NONE);
    if (o && fate) json_object_set_new(o, "fate", json_string(fate));
    if (o) json_array_append_new(n->outputs, o);
}

static json_t *node_json(const snap *sn, const gnode *n)
{
    char id[160], addr[128] = "";
    node_ident(sn, n, id);
    if (n->addr != STORE_NO_ADDR) store_addr_text(sn->s, n->addr, addr);
    json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:o, s:I}", "id", id, "chain", "btc", "address",
                          addr, "amount", (json_int_t)n->amount, "outputs", json_incref(n->outputs),
                          "n_outputs", (json_int_t)n->n_outputs);
    if (!d) return NULL;
    if (id[0] == 'e') {
        json_object_set_new(d, "entity", json_integer((json_int_t)n->key));
        json_object_set_new(d, "size",
                            json_integer((json_int_t)cluster_entity_size(sn->clusters, n->key)));
    }
    const labels_label *l = n->key == STORE_NO_ADDR ? NULL : name_of(sn, n->key);
    if (l) {
        json_object_set_new(d, "name",
                            json_string(l->actor[0]  ? l->actor
                                        : l->name[0] ? l->name
                                                     : l->category));
        json_t *lj = labels_to_json(l);
        if (lj) json_object_set_new(d, "label", lj);
        json_object_set_new(d, "category", json_string(l->category));
    }
    return d;
}

int serve_graph_btc_node(server *sv, snap *sn, const uint64_t *outs, size_t n, char id[160],
                         json_t *nodes)
{
    serve_snap_aux(sv, sn);
    gnodes g = {0};
    for (size_t i = 0; i < n; i++) {
        gnode *nd = node_for(sn, &g, store_out_addr(sn->s, outs[i]));
        if (nd) node_add_output(sn, nd, outs[i], (uint64_t)store_out_value(sn->s, outs[i]), NULL);
    }
    int rc = -1;
    for (size_t k = 0; k < g.n; k++) { /* a link's outputs pay one address: the first node */
        json_t *d = node_json(sn, &g.v[k]);
        if (!d) continue;
        if (rc) node_ident(sn, &g.v[k], id), rc = 0;
        json_array_append_new(nodes, d);
    }
    gnodes_free(&g);
    return rc;
}

int serve_graph_wants_digest(json_t *doc)
{
    json_t *c = json_object_get(doc, "case");
    return json_is_true(json_object_get(doc, "digest")) || (c && !json_is_null(c));
}

void serve_graph_digest(json_t *ans)
{
    char *text = ans ? json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!text) return;
    crypto_sha256_ctx h;
    uint8_t d[32];
    char hex[72] = "sha256:";
    crypto_sha256_init(&h);
    crypto_sha256_update(&h, text, strlen(text));
    crypto_sha256_final(&h, d);
    free(text);
    util_hex(hex + 7, d, 32);
    json_object_set_new(ans, "digest", json_string(hex));
}

/* ---- requests ---- */

/* "TXID:N" into a store output id. */
static int parse_outpoint(const store *s, const char *t, uint64_t *out, util_err *err)
{
    const char *colon = t ? strchr(t, ':') : NULL;
    char hex[65];
    uint8_t h[32];
    if (!colon || colon - t != 64)
        return util_errf(err, UTIL_EINVAL, "expected TXID:N, not '%.80s'", t ? t : "");
    memcpy(hex, t, 64);
    hex[64] = 0;
    char *end;
    unsigned long long n = strtoull(colon + 1, &end, 10);
    if (util_hash_parse(h, hex) || !colon[1] || *end || colon[1] == '-')
        return util_errf(err, UTIL_EINVAL, "expected TXID:N, not '%.80s'", t);
    int64_t tx = store_find_tx(s, h);
    if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "no tx %s in the store", hex);
    if (n >= store_tx_n_out(s, (uint64_t)tx))
        return util_errf(err, UTIL_ENOTFOUND, "tx %s has no output %llu", hex, n);
    *out = store_tx_first_out(s, (uint64_t)tx) + n;
    return 0;
}

typedef struct seed_taint {
    uint64_t out, taint;
} seed_taint;

static int cmp_seed(const void *a, const void *b)
{
    const seed_taint *x = a, *y = b;
    return x->out < y->out ? -1 : x->out > y->out;
}

static uint64_t taint_of(const seed_taint *v, size_t n, uint64_t out)
{
    seed_taint key = {out, 0};
    const seed_taint *f = bsearch(&key, v, n, sizeof *v, cmp_seed);
    return f ? f->taint : 0;
}

static json_t *pattern_names(uint8_t mask)
{
    json_t *a = json_array();
    for (int b = 0; b < TRACE_N_PATTERNS; b++)
        if (mask & (1u << b)) json_array_append_new(a, json_string(trace_pattern_name(b)));
    return a;
}

static uint64_t scale(uint64_t v, uint64_t num, uint64_t den, int poison)
{
    if (poison) return num ? v : 0;
    if (!den) return 0;
    return (uint64_t)((unsigned __int128)v * num / den);
}

/* The case a graph request is made for ("case": ID): 0 when absent, -1 when not an id. */
static int64_t case_of(json_t *doc)
{
    json_t *v = json_object_get(doc, "case");
    if (!v || json_is_null(v)) return 0;
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : -1;
}

/* Record a step of the case's graph (audited always, saved when the key may write) with the
 * answer's summary; on failure the answer is not sent (every step of a case graph that was
 * answered is in its audit log). */
static int record_step(server *sv, const req *r, const snap *sn, int64_t case_id,
                       case_graph_step_new *s, json_t *summary, util_err *err)
{
    char *detail = summary ? json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(summary);
    if (!detail) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->detail = detail;
    int rc = serve_case_graph_step(sv, r, sn, case_id, s, err);
    free(detail);
    return rc;
}

/* The graph's start: the outputs a SPEC names (a tx's outputs, an address's, an entity's),
 * grouped into nodes, each output with its whole value as taint. */
static enum MHD_Result graph_start(server *sv, struct MHD_Connection *c, req *r, json_t *doc)
{
    const char *spec = json_string_value(json_object_get(doc, "from"));
    json_t *lim = json_object_get(doc, "limit");
    size_t limit = 200;
    if (!spec) return serve_error(c, r, 400, "from", "field 'from': a SPEC (string) is required");
    if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                json_integer_value(lim) > GRAPH_MAX_OUTPUTS))
        return serve_error(c, r, 400, "limit", "field 'limit': 1..%d", GRAPH_MAX_OUTPUTS);
    if (lim) limit = (size_t)json_integer_value(lim);
    int64_t case_id = case_of(doc);
    const char *pol = json_string_value(json_object_get(doc, "policy"));
    if (case_id < 0) return serve_error(c, r, 400, "case", "field 'case': a case id (integer)");
    if (pol && trace_policy_parse(pol) < 0)
        return serve_error(c, r, 400, "policy", "field 'policy': haircut, poison or fifo");
    snap *sn = serve_snap_get(sv);
    serve_snap_aux(sv, sn);
    if (serve_is_evm(spec)) {
        enum MHD_Result ret = serve_graph_evm_start(sv, c, r, doc, sn);
        serve_snap_put(sn);
        return ret;
    }
    trace_seeds seeds = {0};
    util_err err = {0};
    int rc = trace_add_spec_entities(&seeds, sn->s, sn->clusters, spec, &err);
    if (rc) {
        serve_snap_put(sn);
        trace_seeds_free(&seeds);
        unsigned st = rc == UTIL_ENOTFOUND ? 404 : 400;
        return serve_error(c, r, st, st == 400 ? "from" : NULL, "from: %s", err.msg);
    }
    gnodes g = {0};
    /* the newest outputs first: an address's or entity's recent activity matters most */
    size_t first = seeds.n > limit ? seeds.n - limit : 0;
    for (size_t i = seeds.n; i-- > first;) {
        uint64_t out = seeds.out[i];
        gnode *n = node_for(sn, &g, store_out_addr(sn->s, out));
        if (n) node_add_output(sn, n, out, (uint64_t)store_out_value(sn->s, out), NULL);
    }
    json_t *nodes = json_array();
    for (size_t i = 0; i < g.n; i++)
        json_array_append_new(nodes, node_json(sn, &g.v[i]));
    json_t *d =
        json_pack("{s:s, s:o, s:[], s:[], s:I, s:b}", "from", spec, "nodes", nodes, "edges", "txs",
                  "outputs", (json_int_t)seeds.n, "truncated", seeds.n > limit || g.truncated);
    size_t n_nodes = g.n;
    gnodes_free(&g);
    trace_seeds_free(&seeds);
    if (serve_graph_wants_digest(doc)) serve_graph_digest(d);
    if (d && case_id) {
        case_graph_step_new s = {"start", NULL, spec, NULL, pol ? pol : "haircut", NULL};
        rc = record_step(sv, r, sn, case_id, &s,
                         json_pack("{s:I, s:I, s:O}", "nodes", (json_int_t)n_nodes, "outputs",
                                   (json_int_t)json_integer_value(json_object_get(d, "outputs")),
                                   "digest", json_object_get(d, "digest")),
                         &err);
        if (rc) {
            json_decref(d);
            serve_snap_put(sn);
            unsigned st = serve_case_status(rc);
            return serve_error(c, r, st, st == 400 ? "case" : NULL, "case: %s", err.msg);
        }
    }
    serve_snap_put(sn);
    if (!d) return serve_error(c, r, 400, "from", "from: not valid UTF-8");
    return serve_send_json(c, r, 200, d);
}

/* The cross-chain links of a hop's tx: a node on the other chain (its tx) and an edge. */
static void add_xchain(server *sv, snap *sn, const trace_result *res, uint32_t t, const char *here,
                       int forward, int policy, json_t *nodes, json_t *edges)
{
    const uint8_t *h = store_tx_hash(sn->s, res->txs[t].tx);
    size_t idx[8];
    size_t k = forward ? xchain_links_from(&sn->links, "btc", h, idx, 8)
                       : xchain_links_touching(&sn->links, "btc", h, idx, 8);
    for (size_t i = 0; i < k && i < 8; i++) {
        const xchain_link *l = &sn->links.v[idx[i]];
        const xchain_end *other = forward ? &l->to : &l->from;
        if (!strcmp(other->chain, "btc")) continue;
        if (!forward && memcmp(l->to.hash, h, 32)) continue; /* touching: we are its source */
        if (serve_graph_evm_from_btc(sv, sn, l, forward, here, policy, nodes, edges)) continue;
        char hex[65], id[128], amount[EVM_U256_DEC_MAX];
        util_hex(hex, other->hash, 32);
        snprintf(id, sizeof id, "%s:tx:0x%s", other->chain, hex);
        evm_u256_format(amount, forward ? &l->amount_in : &l->amount_out);
        const char *method = xchain_method_name(l->method);
        json_array_append_new(
            nodes, json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", id, "chain", other->chain, "name",
                             strncmp(method, "thorchain", 9) ? "bridge deposit" : "swap deposit",
                             "tx", id + strlen(other->chain) + 4, "expandable", 0));
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:[s]}", "from",
                              forward ? here : id, "to", forward ? id : here, "kind", "cross_chain",
                              "method", method, "rule", l->rule, "confidence", l->confidence,
                              "amount", amount, "asset", forward ? l->asset_in : l->asset_out,
                              "patterns", strncmp(method, "thorchain", 9) ? "bridge" : "swap");
        if (e) {
            char txid[65];
            util_hash_hex(txid, h);
            json_object_set_new(e, "tx", json_string(txid));
            json_array_append_new(edges, e);
        }
    }
}

/* One hop of a trace from the given outputs. */
static enum MHD_Result graph_expand(server *sv, struct MHD_Connection *c, req *r, json_t *doc)
{
    if (json_object_get(doc, "transfers")) { /* an EVM node */
        snap *esn = serve_snap_get(sv);
        serve_snap_aux(sv, esn);
        enum MHD_Result ret = serve_graph_evm_expand(sv, c, r, doc, esn);
        serve_snap_put(esn);
        return ret;
    }
    const char *dir = json_string_value(json_object_get(doc, "direction"));
    const char *pol = json_string_value(json_object_get(doc, "policy"));
    json_t *outs = json_object_get(doc, "outputs");
    trace_opts o;
    trace_default_opts(&o);
    o.hops = 1;
    o.max_outputs = GRAPH_MAX_VISITS;
    o.follow_mixers = 0; /* the stops of the snapshot are built for this */
    o.min_value = 0;
    int d = dir ? trace_direction_parse(dir) : -1;
    int p = pol ? trace_policy_parse(pol) : TRACE_HAIRCUT;
    if (d < 0) return serve_error(c, r, 400, "direction", "field 'direction': forward or backward");
    if (p < 0) return serve_error(c, r, 400, "policy", "field 'policy': haircut, poison or fifo");
    if (!json_is_array(outs) || !json_array_size(outs) || json_array_size(outs) > GRAPH_MAX_OUTPUTS)
        return serve_error(c, r, 400, "outputs",
                           "field 'outputs': an array of 1..%d {\"output\": \"TXID:N\", "
                           "\"taint\": SATOSHIS}",
                           GRAPH_MAX_OUTPUTS);
    o.direction = d;
    o.policy = p;
    int64_t case_id = case_of(doc);
    const char *node_id = json_string_value(json_object_get(doc, "node"));
    if (case_id < 0) return serve_error(c, r, 400, "case", "field 'case': a case id (integer)");
    if (case_id && !node_id)
        return serve_error(c, r, 400, "node",
                           "field 'node': the graph node expanded (required with 'case')");
    snap *sn = serve_snap_get(sv);
    serve_snap_aux(sv, sn);
    size_t n = json_array_size(outs), i;
    seed_taint *st = calloc(n, sizeof *st);
    trace_seeds seeds = {calloc(n, sizeof(uint64_t)), 0, n};
    util_err err = {0};
    int rc = st && seeds.out ? 0 : util_errf(&err, UTIL_ENOMEM, "out of memory");
    json_t *v;
    json_array_foreach(outs, i, v)
    {
        if (rc) break;
        json_t *tj = json_object_get(v, "taint");
        if ((rc = parse_outpoint(sn->s, json_string_value(json_object_get(v, "output")), &st[i].out,
                                 &err))) {
            util_err_prefix(&err, "outputs[%zu]", i);
            break;
        }
        int64_t value = store_out_value(sn->s, st[i].out);
        st[i].taint = (uint64_t)value;
        if (tj && (!json_is_integer(tj) || json_integer_value(tj) < 0 ||
                   json_integer_value(tj) > value)) {
            rc = util_errf(&err, UTIL_EINVAL,
                           "outputs[%zu]: taint: an integer 0..%" PRId64 " (the output's value)", i,
                           value);
            break;
        }
        if (tj) st[i].taint = (uint64_t)json_integer_value(tj);
    }
    if (!rc) {
        qsort(st, n, sizeof *st, cmp_seed);
        for (i = 0; i < n; i++)
            if (!i || st[i].out != st[i - 1].out) seeds.out[seeds.n++] = st[i].out;
    }
    trace_result res;
    memset(&res, 0, sizeof res);
    if (!rc)
        rc = sn->stops ? trace_compute_stops(sn->s, sn->labels, sn->clusters, sn->stops, &seeds, &o,
                                             &res, &err)
                       : trace_compute(sn->s, sn->labels, sn->clusters, &seeds, &o, &res, &err);
    if (rc) {
        free(st);
        trace_seeds_free(&seeds);
        serve_snap_put(sn);
        unsigned code = rc == UTIL_ENOTFOUND ? 404 : rc == UTIL_EINVAL ? 400 : 503;
        return serve_error(c, r, code, code == 400 ? "outputs" : NULL, "%s", err.msg);
    }
    /* Per hop tx: the taint the caller gave its seeds against the trace's (whole values), to
     * scale what the hop passes on (exact for haircut, which is linear per tx). */
    uint64_t *given = calloc(res.n_txs + 1, sizeof *given), *full = calloc(res.n_txs + 1, 8);
    uint32_t *src = malloc((res.n_txs + 1) * sizeof *src);
    uint64_t *src_best = calloc(res.n_txs + 1, 8);
    gnodes seedn = {0}, g = {0};
    json_t *stopped = json_array();
    /* what each node of the seeds gave each hop tx: an edge per (seed node, tx, node reached)
     * carries the seed node's part of what the tx passed on */
    typedef struct contrib {
        uint32_t tx, node;
        uint64_t given;
    } contrib;
    contrib *ct = NULL;
    size_t n_ct = 0, cap_ct = 0;
    int poison = p == TRACE_POISON;
    for (size_t t = 0; src && t < res.n_txs; t++)
        src[t] = UINT32_MAX;
    for (size_t k = 0; src && given && full && src_best && k < res.n_edges; k++) {
        const trace_edge *e = &res.edges[k];
        if (e->from_tx != TRACE_NONE) continue;
        uint64_t tt = taint_of(st, n, e->output);
        gnode *sn_node = node_for(sn, &seedn, e->address);
        if (!sn_node) continue;
        if (e->to_tx == TRACE_NONE || e->fate != TRACE_FATE_FOLLOWED) {
            char op[80];
            outpoint_text(sn->s, e->output, op);
            json_array_append_new(stopped,
                                  json_pack("{s:s, s:I, s:s}", "output", op, "taint",
                                            (json_int_t)tt, "fate", trace_fate_name(e->fate)));
            continue;
        }
        given[e->to_tx] += tt;
        full[e->to_tx] += e->value;
        uint32_t ni = (uint32_t)(sn_node - seedn.v);
        size_t j = 0;
        while (j < n_ct && !(ct[j].tx == e->to_tx && ct[j].node == ni))
            j++;
        if (j == n_ct) {
            if (n_ct == cap_ct) {
                size_t cap = cap_ct ? cap_ct * 2 : 64;
                contrib *nv = realloc(ct, cap * sizeof *nv);
                if (!nv) continue;
                ct = nv;
                cap_ct = cap;
            }
            ct[n_ct++] = (contrib){e->to_tx, ni, 0};
        }
        ct[j].given += tt;
        if (tt >= src_best[e->to_tx] || src[e->to_tx] == UINT32_MAX) {
            src_best[e->to_tx] = tt;
            src[e->to_tx] = (uint32_t)(sn_node - seedn.v);
        }
    }
    json_t *nodes = json_array(), *edges = json_array(), *txs = json_array();
    /* edges of the hop: per (tx, node reached) */
    typedef struct hop_edge {
        uint32_t tx, node;
        uint64_t amount, outputs;
    } hop_edge;
    hop_edge *he = NULL;
    size_t n_he = 0, cap_he = 0;
    for (size_t k = 0; src && given && full && src_best && k < res.n_edges; k++) {
        const trace_edge *e = &res.edges[k];
        if (e->from_tx == TRACE_NONE || res.txs[e->from_tx].depth != 1) continue;
        uint64_t tt = scale(e->value, given[e->from_tx], full[e->from_tx], poison);
        if (!tt && e->value) continue;
        gnode *dn = node_for(sn, &g, e->address);
        if (!dn) continue;
        node_add_output(sn, dn, e->output, tt, trace_fate_name(e->fate));
        uint32_t ni = (uint32_t)(dn - g.v);
        size_t j = 0;
        while (j < n_he && !(he[j].tx == e->from_tx && he[j].node == ni))
            j++;
        if (j == n_he) {
            if (n_he == cap_he) {
                size_t cap = cap_he ? cap_he * 2 : 64;
                hop_edge *nv = realloc(he, cap * sizeof *nv);
                if (!nv) break;
                he = nv;
                cap_he = cap;
            }
            he[n_he++] = (hop_edge){e->from_tx, ni, 0, 0};
        }
        he[j].amount += tt;
        he[j].outputs++;
    }
    uint64_t fees = 0;
    for (size_t t = 0; src && given && full && t < res.n_txs; t++) {
        const trace_tx *tx = &res.txs[t];
        if (tx->depth != 1 || !given[t]) continue;
        char txid[65], here[160];
        util_hash_hex(txid, store_tx_hash(sn->s, tx->tx));
        uint64_t fee = scale(tx->fee, given[t], full[t], poison);
        fees += fee;
        json_array_append_new(
            txs, json_pack("{s:s, s:I, s:I, s:I, s:o, s:s, s:i, s:s}", "txid", txid, "height",
                           (json_int_t)tx->height, "taint_in", (json_int_t)given[t], "fee",
                           (json_int_t)fee, "patterns", pattern_names(tx->patterns), "coinjoin",
                           tx->coinjoin > 0 ? cluster_cj_kind_name(tx->coinjoin) : "none", "peel",
                           tx->peel, "status", trace_tx_status_name(tx->status)));
        if (src[t] != UINT32_MAX) {
            node_ident(sn, &seedn.v[src[t]], here);
            add_xchain(sv, sn, &res, (uint32_t)t, here, d == TRACE_FORWARD, p, nodes, edges);
        }
    }
    json_t *seed_ids = json_array();
    for (size_t k = 0; k < seedn.n; k++) {
        char id[160];
        node_ident(sn, &seedn.v[k], id);
        json_array_append_new(seed_ids, json_string(id));
    }
    for (size_t k = 0; k < g.n; k++)
        json_array_append_new(nodes, node_json(sn, &g.v[k]));
    for (size_t j = 0; j < n_he; j++) {
        const trace_tx *tx = &res.txs[he[j].tx];
        char txid[65], a[160], b[160];
        util_hash_hex(txid, store_tx_hash(sn->s, tx->tx));
        node_ident(sn, &g.v[he[j].node], b);
        /* split the amount over the seed nodes by what each gave (floors; the rest to the
         * largest giver, so the parts add up to the amount) */
        uint64_t g_t = given[he[j].tx], rest = he[j].amount;
        size_t big = SIZE_MAX;
        for (size_t k = 0; k < n_ct; k++)
            if (ct[k].tx == he[j].tx && (big == SIZE_MAX || ct[k].given > ct[big].given)) big = k;
        for (size_t k = 0; k < n_ct; k++)
            if (ct[k].tx == he[j].tx && k != big)
                rest -= (uint64_t)((unsigned __int128)he[j].amount * ct[k].given / g_t);
        for (size_t k = 0; k < n_ct; k++) {
            if (ct[k].tx != he[j].tx) continue;
            uint64_t part =
                k == big ? rest : (uint64_t)((unsigned __int128)he[j].amount * ct[k].given / g_t);
            if (!part && he[j].amount) continue;
            node_ident(sn, &seedn.v[ct[k].node], a);
            json_array_append_new(
                edges, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "from",
                                 d == TRACE_FORWARD ? a : b, "to", d == TRACE_FORWARD ? b : a,
                                 "kind", "tx", "tx", txid, "height", (json_int_t)tx->height,
                                 "amount", (json_int_t)part, "outputs", (json_int_t)he[j].outputs,
                                 "patterns", pattern_names(tx->patterns)));
        }
    }
    uint64_t seeded = 0;
    for (i = 0; i < n; i++)
        seeded += st[i].taint;
    json_t *ans = json_pack("{s:s, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:b, s:b}", "direction",
                            trace_direction_name(d), "policy", trace_policy_name(p), "from",
                            seed_ids, "seeded", (json_int_t)seeded, "fees", (json_int_t)fees,
                            "nodes", nodes, "edges", edges, "txs", txs, "stopped", stopped,
                            "partial", res.partial, "truncated", g.truncated || seedn.truncated);
    if (ans && p == TRACE_FIFO)
        json_object_set_new(ans, "note",
                            json_string("fifo: a node's share of a tx is scaled like haircut's "
                                        "(an approximation when its outputs are part-tainted)"));
    int oom = !src || !given || !full || !src_best;
    if (serve_graph_wants_digest(doc)) serve_graph_digest(ans);
    if (ans && !oom && case_id) {
        case_graph_step_new s = {
            "expand", node_id, NULL, trace_direction_name(d), trace_policy_name(p), NULL};
        rc = record_step(sv, r, sn, case_id, &s,
                         json_pack("{s:O, s:I, s:I, s:I, s:I, s:O}", "from", seed_ids, "nodes",
                                   (json_int_t)json_array_size(nodes), "edges",
                                   (json_int_t)json_array_size(edges), "seeded", (json_int_t)seeded,
                                   "fees", (json_int_t)fees, "digest",
                                   json_object_get(ans, "digest")),
                         &err);
        if (rc) {
            json_decref(ans);
            ans = NULL;
        }
    }
    free(he);
    free(given);
    free(full);
    free(src);
    free(src_best);
    free(ct);
    gnodes_free(&g);
    gnodes_free(&seedn);
    trace_result_free(&res);
    trace_seeds_free(&seeds);
    free(st);
    serve_snap_put(sn);
    if (rc) {
        unsigned st = serve_case_status(rc);
        return serve_error(c, r, st, st == 400 ? "case" : NULL, "case: %s", err.msg);
    }
    if (oom || !ans) {
        json_decref(ans);
        return serve_error(c, r, 503, NULL, "out of memory");
    }
    return serve_send_json(c, r, 200, ans);
}

enum MHD_Result serve_route_graph(server *sv, struct MHD_Connection *c, req *r, int expand)
{
    enum MHD_Result ret;
    json_t *doc = serve_body_json(c, r, &ret);
    if (!doc) return ret;
    ret = expand ? graph_expand(sv, c, r, doc) : graph_start(sv, c, r, doc);
    json_decref(doc);
    return ret;
}
