/* serve: the EVM lane of the web UI's graph (docs/webui.md, "The graph"). An EVM node is one
 * address of a chain the service has a store of, holding the transfers that brought it taint
 * (each with its part, an exact integer in the asset's base unit). Expanding it runs one hop of
 * etrace from those transfers, each seeded with its part: forward, the node's own transfers
 * that took the taint on (to the nodes that received them); backward, the senders of its
 * transfers, each holding the earlier receipts that explain what it sent. A transfer into a
 * bridge or swap whose tx a cross-chain link names brings in the Bitcoin side. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../case/case.h"
#include "../etrace/etrace.h"
#include "../evmexpo/evmexpo.h"
#include "serve_int.h"

#define EG_MAX_TRANSFERS 1000     /* transfers one request may start from */
#define EG_MAX_VISITS 200000      /* transfers one hop may visit (then "partial") */
#define EG_MAX_NODES 2000         /* nodes one answer lists (then "truncated") */
#define EG_MAX_NODE_TRANSFERS 500 /* transfers listed per node */
#define EG_MAX_ASSETS 16          /* assets summed per node (more: "other assets") */

typedef struct eamount {
    uint32_t asset;
    evm_u256 v;
} eamount;

typedef struct enode {
    uint32_t addr;
    json_t *transfers;
    size_t n_transfers;
    eamount am[EG_MAX_ASSETS];
    size_t n_am;
} enode;

typedef struct enodes {
    enode *v;
    size_t n, cap;
    int truncated;
} enodes;

typedef struct eedge {
    uint32_t from, to; /* address ids */
    uint64_t tx;       /* tx id, UINT64_MAX without one */
    uint32_t asset;
    evm_u256 amount;
    uint64_t n, block;
    int swap;
} eedge;

typedef struct eedges {
    eedge *v;
    size_t n, cap;
} eedges;

/* The graph's view of one EVM chain: its store, entities and labels (borrowed). */
typedef struct eview {
    const char *chain;
    const evm_store *s;
    uint64_t first_block; /* a transfer's block row + this = its block number */
    const evmclust_set *ents;
    const labels_db *labels;
} eview;

static void enodes_free(enodes *g)
{
    for (size_t i = 0; i < g->n; i++)
        json_decref(g->v[i].transfers);
    free(g->v);
}

static enode *enode_for(enodes *g, uint32_t addr)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->v[i].addr == addr) return &g->v[i];
    if (g->n == EG_MAX_NODES) {
        g->truncated = 1;
        return NULL;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        enode *v = realloc(g->v, cap * sizeof *v);
        if (!v) return NULL;
        g->v = v, g->cap = cap;
    }
    enode *n = &g->v[g->n++];
    memset(n, 0, sizeof *n);
    n->addr = addr;
    n->transfers = json_array();
    return n;
}

static void u256_add_sat(evm_u256 *a, const evm_u256 *b)
{
    if (evm_u256_add(a, a, b)) memset(a->w, 0xff, sizeof a->w); /* cannot happen with amounts */
}

static json_t *u256_json(const evm_u256 *v)
{
    char t[EVM_U256_DEC_MAX];
    evm_u256_format(t, v);
    return json_string(t);
}

/* "native" or the token's address, with its symbol and decimals (null when unknown). */
static void asset_fields(const eview *ev, uint32_t asset, json_t *o)
{
    char t[43];
    etrace_asset_text(ev->s, asset, t);
    json_object_set_new(o, "asset", json_string(t));
    evm_token_meta m;
    if (!asset) {
        json_object_set_new(o, "symbol", json_string(strcmp(ev->chain, "eth") ? "native" : "ETH"));
        json_object_set_new(o, "decimals", json_integer(18));
    } else if (!evm_store_token(ev->s, asset, &m, NULL)) {
        json_object_set_new(o, "symbol", json_string(m.symbol));
        json_object_set_new(o, "decimals",
                            m.decimals >= 0 ? json_integer(m.decimals) : json_null());
    } else {
        json_object_set_new(o, "symbol", json_string(""));
        json_object_set_new(o, "decimals", json_null());
    }
}

/* "0xTXHASH:N" (N its place among the tx's transfers, as etrace documents name it) or
 * "xfer:ID" for a transfer without a tx. */
static void xfer_text(const eview *ev, uint64_t x, const evm_xfer_row *r, char out[100])
{
    evm_tx_row t;
    if (r->tx == UINT64_MAX || evm_store_tx(ev->s, r->tx, &t, NULL)) {
        snprintf(out, 100, "xfer:%" PRIu64, x);
        return;
    }
    char h[67];
    evm_hash_hex(h, t.hash);
    snprintf(out, 100, "%s:%" PRIu64, h, x - t.first_xfer);
}

static void tx_text(const eview *ev, uint64_t tx, char out[67])
{
    evm_tx_row t;
    if (tx == UINT64_MAX || evm_store_tx(ev->s, tx, &t, NULL))
        out[0] = 0;
    else
        evm_hash_hex(out, t.hash);
}

static void enode_add(const eview *ev, enode *n, uint64_t x, const evm_xfer_row *r,
                      const evm_u256 *taint, const char *fate)
{
    size_t k = 0;
    while (k < n->n_am && n->am[k].asset != r->token)
        k++;
    if (k == n->n_am && k < EG_MAX_ASSETS) n->am[n->n_am++] = (eamount){r->token, {{0}}};
    if (k < n->n_am) u256_add_sat(&n->am[k].v, taint);
    if (n->n_transfers++ >= EG_MAX_NODE_TRANSFERS) return;
    char ref[100];
    xfer_text(ev, x, r, ref);
    json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:I}", "xfer", (json_int_t)x, "transfer", ref,
                          "amount", u256_json(&r->amount), "taint", u256_json(taint), "block",
                          (json_int_t)(ev->first_block + r->block));
    if (!o) return;
    asset_fields(ev, r->token, o);
    if (fate) json_object_set_new(o, "fate", json_string(fate));
    json_array_append_new(n->transfers, o);
}

void serve_graph_evm_id(const char *chain, const uint8_t addr[20], char out[80])
{
    char hex[41];
    util_hex(hex, addr, 20);
    snprintf(out, 80, "%.31s:0x%s", chain, hex);
}

static void addr_id(const eview *ev, uint32_t a, char out[80])
{
    uint8_t b[20];
    if (evm_store_addr(ev->s, a, b, NULL)) memset(b, 0, sizeof b);
    serve_graph_evm_id(ev->chain, b, out);
}

/* A label as JSON. evm-cluster's entity labels fill only some fields (the others NULL), so they
 * are written field by field; labels of the labels db go through labels_to_json. */
static json_t *label_json(const labels_label *l)
{
    const char *f[] = {l->name, l->url, l->programs, l->first_seen, l->last_seen, l->updated};
    int partial = 0;
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (!f[i]) partial = 1;
    if (!partial && l->chain && l->address && l->category && l->actor && l->source)
        return labels_to_json(l);
    json_t *o = json_object();
    const char *k[] = {"chain", "address", "category", "actor", "name", "source"};
    const char *v[] = {l->chain, l->address, l->category, l->actor, l->name, l->source};
    for (size_t i = 0; o && i < sizeof k / sizeof *k; i++)
        if (v[i] && v[i][0]) json_object_set_new(o, k[i], json_string(v[i]));
    if (o) json_object_set_new(o, "confidence", json_integer(l->confidence));
    return o;
}

static json_t *enode_json(const eview *ev, const enode *n)
{
    char id[80], addr[43] = "";
    addr_id(ev, n->addr, id);
    etrace_addr_text(ev->s, n->addr, addr);
    labels_actor who;
    const labels_label *stop;
    etrace_address_actor(ev->s, ev->labels, ev->ents, n->addr, &who, &stop);
    json_t *amounts = json_array();
    for (size_t k = 0; k < n->n_am; k++) {
        json_t *o = json_pack("{s:o}", "amount", u256_json(&n->am[k].v));
        if (o) asset_fields(ev, n->am[k].asset, o);
        json_array_append_new(amounts, o);
    }
    json_t *d = json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:s, s:b}", "id", id, "chain", ev->chain,
                          "address", addr, "amounts", amounts, "transfers",
                          json_incref(n->transfers), "n_transfers", (json_int_t)n->n_transfers,
                          "actor_from", labels_actor_from_name(who.from), "endpoint", stop != NULL);
    if (!d) return NULL;
    if (who.name) json_object_set_new(d, "name", json_string(who.name));
    if (who.label) {
        json_t *lj = label_json(who.label);
        if (lj) json_object_set_new(d, "label", lj);
    }
    const char *cat = stop ? stop->category : who.label ? who.label->category : NULL;
    if (cat && cat[0]) json_object_set_new(d, "category", json_string(cat));
    if (!who.name && who.label && (!who.label->name || !who.label->name[0]))
        json_object_set_new(d, "name", json_string(cat && cat[0] ? cat : "labelled"));
    return d;
}

static int eedge_add(eedges *E, uint32_t from, uint32_t to, const evm_xfer_row *r,
                     const evm_u256 *amount, int swap)
{
    for (size_t i = 0; i < E->n; i++) {
        eedge *e = &E->v[i];
        if (e->from == from && e->to == to && e->tx == r->tx && e->asset == r->token) {
            u256_add_sat(&e->amount, amount);
            e->n++;
            return 0;
        }
    }
    if (E->n == E->cap) {
        size_t cap = E->cap ? E->cap * 2 : 32;
        eedge *v = realloc(E->v, cap * sizeof *v);
        if (!v) return UTIL_ENOMEM;
        E->v = v, E->cap = cap;
    }
    E->v[E->n++] = (eedge){from, to, r->tx, r->token, *amount, 1, r->block, swap};
    return 0;
}

static json_t *eedge_json(const eview *ev, const eedge *e)
{
    char a[80], b[80], tx[67];
    addr_id(ev, e->from, a);
    addr_id(ev, e->to, b);
    tx_text(ev, e->tx, tx);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:s, s:[]}", "from", a, "to", b,
                          "kind", "transfer", "tx", tx, "block",
                          (json_int_t)(ev->first_block + e->block), "amount", u256_json(&e->amount),
                          "transfers", (json_int_t)e->n, "chain", ev->chain, "patterns");
    if (!o) return NULL;
    asset_fields(ev, e->asset, o);
    const labels_label *stop = NULL;
    labels_actor who;
    if (!e->swap) etrace_address_actor(ev->s, ev->labels, ev->ents, e->to, &who, &stop);
    /* a DEX swap converts; a deposit into a bridge or swap service leaves the chain */
    const char *mark = e->swap                                     ? "swap"
                       : stop && !strcmp(stop->category, "bridge") ? "bridge"
                       : stop && !strcmp(stop->category, "swap")   ? "swap"
                       : stop && !strcmp(stop->category, "mixer")  ? "mixer"
                                                                   : NULL;
    if (mark) json_array_append_new(json_object_get(o, "patterns"), json_string(mark));
    return o;
}

/* The Bitcoin side of the cross-chain links from EVM tx `tx` (forward): a node of its
 * outputs, and an edge from the EVM sender. */
static void xchain_to_btc(server *sv, snap *sn, const eview *ev, uint64_t tx, uint32_t from,
                          json_t *nodes, json_t *edges)
{
    evm_tx_row t;
    if (tx == UINT64_MAX || evm_store_tx(ev->s, tx, &t, NULL) || !sn->links.n) return;
    size_t idx[8];
    size_t k = xchain_links_from(&sn->links, ev->chain, t.hash, idx, 8);
    for (size_t i = 0; i < k && i < 8; i++) {
        const xchain_link *l = &sn->links.v[idx[i]];
        if (strcmp(l->to.chain, "btc") || !l->to.n_outs) continue;
        char here[80], bid[160], amount[EVM_U256_DEC_MAX], txid[67];
        addr_id(ev, from, here);
        if (serve_graph_btc_node(sv, sn, l->to.out_id, l->to.n_outs, bid, nodes)) continue;
        evm_u256_format(amount, &l->amount_in);
        evm_hash_hex(txid, t.hash);
        const char *method = xchain_method_name(l->method);
        json_array_append_new(
            edges,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:[s]}", "from", here, "to",
                      bid, "kind", "cross_chain", "method", method, "rule", l->rule, "confidence",
                      l->confidence, "amount", amount, "asset", l->asset_in, "tx", txid, "patterns",
                      strncmp(method, "thorchain", 9) ? "bridge" : "swap"));
    }
}

/* One hop of etrace from seeds (with their parts) into nodes and edges. forward: the seeds'
 * receivers' next transfers; backward: the seeds' senders with their earlier receipts. */
static int evm_hop(server *sv, snap *sn, const eview *ev, const etrace_seeds *seeds, int dir,
                   int policy, json_t *nodes, json_t *edges, json_t *sums, int *partial,
                   int *truncated, util_err *err)
{
    etrace_opts o;
    etrace_default_opts(&o);
    o.hops = 1;
    o.frontier = 1;
    o.max_xfers = EG_MAX_VISITS;
    o.policy = policy;
    o.direction = dir;
    o.entities = ev->ents;
    etrace_result res;
    int rc = etrace_run_result(ev->s, ev->labels, seeds, &o, &res, err);
    if (rc) {
        etrace_result_free(&res);
        return rc;
    }
    enodes g = {0};
    eedges E = {0};
    if (dir == ETRACE_FORWARD) {
        for (size_t i = 0; i < res.n_edges && !rc; i++) {
            const etrace_edge *e = &res.edges[i];
            int swap = !strcmp(e->fate, "swapped");
            if (e->hop != 1 || e->from == UINT32_MAX || e->to == UINT32_MAX ||
                (strcmp(e->fate, "followed") && strcmp(e->fate, "endpoint") && !swap))
                continue;
            evm_xfer_row r;
            if ((rc = evm_store_xfer(ev->s, e->ref.xfer, &r, err))) break;
            enode *n = enode_for(&g, e->to);
            if (!n) continue;
            enode_add(ev, n, e->ref.xfer, &r, &e->taint, e->fate);
            if (eedge_add(&E, e->from, e->to, &r, &e->taint, swap))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < res.n_xchain; i++) /* every hop-1 deposit into a bridge */
            if (res.xchain[i].has_tx) {
                evm_xfer_row r;
                if (evm_store_xfer(ev->s, res.xchain[i].xfer, &r, NULL)) continue;
                xchain_to_btc(sv, sn, ev, r.tx, res.xchain[i].from, nodes, edges);
            }
    } else {
        for (size_t i = 0; i < seeds->n && !rc; i++) { /* the senders, and what they sent */
            evm_xfer_row r;
            if ((rc = evm_store_xfer(ev->s, seeds->x[i], &r, err))) break;
            if (r.from == UINT32_MAX || r.to == UINT32_MAX) continue;
            if (!enode_for(&g, r.from)) continue;
            const evm_u256 *t = seeds->taint ? &seeds->taint[i] : &r.amount;
            if (eedge_add(&E, r.from, r.to, &r, t, 0))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < res.n_edges && !rc; i++) {
            const etrace_edge *e = &res.edges[i];
            if (e->hop != 1 || e->to == UINT32_MAX || strcmp(e->fate, "followed")) continue;
            evm_xfer_row r;
            if ((rc = evm_store_xfer(ev->s, e->ref.xfer, &r, err))) break;
            enode *n = enode_for(&g, e->to);
            if (n) enode_add(ev, n, e->ref.xfer, &r, &e->taint, NULL);
        }
    }
    for (size_t i = 0; i < g.n && !rc; i++)
        json_array_append_new(nodes, enode_json(ev, &g.v[i]));
    for (size_t i = 0; i < E.n && !rc; i++)
        json_array_append_new(edges, eedge_json(ev, &E.v[i]));
    /* per asset: what was seeded, paid as fees, and what the hop left where */
    for (size_t i = 0; i < res.n_totals && !rc && sums; i++) {
        const etrace_totals *t = &res.totals[i];
        json_t *o =
            json_pack("{s:o, s:o, s:o, s:o}", "seeded", u256_json(&t->b[ETRACE_B_SEEDED]), "fees",
                      u256_json(&t->b[ETRACE_B_FEES]), "held", u256_json(&t->b[ETRACE_B_HELD]),
                      "before_store", u256_json(&t->b[ETRACE_B_BEFORE_STORE]));
        if (o) asset_fields(ev, t->asset, o);
        json_array_append_new(sums, o);
    }
    if (partial) *partial = res.partial;
    if (truncated) *truncated = g.truncated;
    enodes_free(&g);
    free(E.v);
    etrace_result_free(&res);
    return rc;
}

/* The chain, store and entities of an EVM request (entities loaded once per snapshot). */
static int view_of(server *sv, snap *sn, const char *chain, eview *ev, util_err *err)
{
    memset(ev, 0, sizeof *ev);
    if (!chain) chain = "eth";
    if (strlen(chain) > 31 || !chain[0])
        return util_errf(err, UTIL_EINVAL, "field 'chain': an EVM chain name");
    int rc = evmexpo_screener_store(sn->xs, chain, &ev->s, err);
    if (rc == UTIL_ENOTFOUND)
        return util_errf(err, UTIL_ENOTFOUND, "the service has no EVM store of chain '%s'", chain);
    if (rc) return rc;
    ev->chain = evm_store_chain(ev->s);
    uint64_t nb;
    uint8_t tip[32];
    evm_store_tip(ev->s, &ev->first_block, &nb, tip);
    ev->labels = sn->labels;
    pthread_mutex_lock(&sn->aux_lock);
    size_t i = 0;
    while (i < sn->n_evment && strcmp(sn->evment[i].chain, chain))
        i++;
    if (i == sn->n_evment && i < SERVE_MAX_EVM_CHAINS) {
        snprintf(sn->evment[i].chain, sizeof sn->evment[i].chain, "%s", chain);
        util_err e = {0};
        sn->evment[i].ok = !evmclust_load(&sn->evment[i].set, sv->o.db, chain, &e);
        sn->n_evment++;
    }
    if (i < sn->n_evment && sn->evment[i].ok) ev->ents = &sn->evment[i].set;
    pthread_mutex_unlock(&sn->aux_lock);
    return 0;
}

static int64_t case_id_of(json_t *doc)
{
    json_t *v = json_object_get(doc, "case");
    if (!v || json_is_null(v)) return 0;
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : -1;
}

static enum MHD_Result fail(struct MHD_Connection *c, req *r, int rc, const char *field,
                            const util_err *err)
{
    unsigned st = rc == UTIL_ENOTFOUND ? 404
                  : rc == UTIL_EINVAL  ? 400
                  : rc == UTIL_ENOMEM  ? 503
                                       : 500;
    return serve_error(c, r, st, st == 400 ? field : NULL, "%s", err->msg);
}

static int record(server *sv, const req *r, const snap *sn, const eview *ev, int64_t case_id,
                  case_graph_step_new *s, json_t *summary, util_err *err)
{
    char *detail = summary ? json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(summary);
    if (!detail) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->detail = detail;
    int rc = serve_case_graph_step_evm(sv, r, sn, ev->s, case_id, s, err);
    free(detail);
    return rc;
}

enum MHD_Result serve_graph_evm_start(server *sv, struct MHD_Connection *c, req *r, json_t *doc,
                                      snap *sn)
{
    const char *spec = json_string_value(json_object_get(doc, "from"));
    const char *pol = json_string_value(json_object_get(doc, "policy"));
    int64_t case_id = case_id_of(doc);
    if (case_id < 0) return serve_error(c, r, 400, "case", "field 'case': a case id (integer)");
    if (pol && etrace_policy_parse(pol) < 0)
        return serve_error(c, r, 400, "policy", "field 'policy': haircut, poison or fifo");
    eview ev;
    util_err err = {0};
    int rc = view_of(sv, sn, json_string_value(json_object_get(doc, "chain")), &ev, &err);
    if (rc) return fail(c, r, rc, "chain", &err);
    etrace_seeds seeds = {0};
    if ((rc = etrace_add_spec(&seeds, ev.s, spec, ETRACE_ASSET_ALL, &err))) {
        etrace_seeds_free(&seeds);
        util_err_prefix(&err, "from");
        return fail(c, r, rc, "from", &err);
    }
    /* the newest transfers first, as for a Bitcoin address's outputs */
    enodes g = {0};
    size_t first = seeds.n > EG_MAX_TRANSFERS ? seeds.n - EG_MAX_TRANSFERS : 0;
    for (size_t i = seeds.n; i-- > first && !rc;) {
        evm_xfer_row x;
        if ((rc = evm_store_xfer(ev.s, seeds.x[i], &x, &err))) break;
        if (x.to == UINT32_MAX || x.kind == EVM_XFER_FEE) continue;
        enode *n = enode_for(&g, x.to);
        if (n) enode_add(&ev, n, seeds.x[i], &x, &x.amount, NULL);
    }
    json_t *nodes = json_array();
    for (size_t i = 0; i < g.n && !rc; i++)
        json_array_append_new(nodes, enode_json(&ev, &g.v[i]));
    json_t *d = json_pack("{s:s, s:s, s:o, s:[], s:[], s:I, s:b}", "from", spec, "chain", ev.chain,
                          "nodes", nodes, "edges", "txs", "transfers", (json_int_t)seeds.n,
                          "truncated", seeds.n > EG_MAX_TRANSFERS || g.truncated);
    size_t n_nodes = g.n;
    enodes_free(&g);
    etrace_seeds_free(&seeds);
    if (!rc && serve_graph_wants_digest(doc)) serve_graph_digest(d);
    if (!rc && d && case_id) {
        case_graph_step_new s = {"start", NULL, spec, NULL, pol ? pol : "haircut", NULL};
        rc = record(sv, r, sn, &ev, case_id, &s,
                    json_pack("{s:s, s:I, s:I, s:O}", "chain", ev.chain, "nodes",
                              (json_int_t)n_nodes, "transfers",
                              (json_int_t)json_integer_value(json_object_get(d, "transfers")),
                              "digest", json_object_get(d, "digest")),
                    &err);
        if (rc) {
            json_decref(d);
            unsigned st = serve_case_status(rc);
            return serve_error(c, r, st, st == 400 ? "case" : NULL, "case: %s", err.msg);
        }
    }
    if (rc) {
        json_decref(d);
        return fail(c, r, rc, "from", &err);
    }
    if (!d) return serve_error(c, r, 400, "from", "from: not valid UTF-8");
    return serve_send_json(c, r, 200, d);
}

enum MHD_Result serve_graph_evm_expand(server *sv, struct MHD_Connection *c, req *r, json_t *doc,
                                       snap *sn)
{
    const char *dir = json_string_value(json_object_get(doc, "direction"));
    const char *pol = json_string_value(json_object_get(doc, "policy"));
    json_t *xs = json_object_get(doc, "transfers");
    int d = dir ? etrace_direction_parse(dir) : -1;
    int p = pol ? etrace_policy_parse(pol) : ETRACE_HAIRCUT;
    if (d < 0) return serve_error(c, r, 400, "direction", "field 'direction': forward or backward");
    if (p < 0) return serve_error(c, r, 400, "policy", "field 'policy': haircut, poison or fifo");
    if (!json_is_array(xs) || !json_array_size(xs) || json_array_size(xs) > EG_MAX_TRANSFERS)
        return serve_error(c, r, 400, "transfers",
                           "field 'transfers': an array of 1..%d {\"xfer\": ID, \"taint\": "
                           "\"BASE UNITS\"}",
                           EG_MAX_TRANSFERS);
    int64_t case_id = case_id_of(doc);
    const char *node_id = json_string_value(json_object_get(doc, "node"));
    if (case_id < 0) return serve_error(c, r, 400, "case", "field 'case': a case id (integer)");
    if (case_id && !node_id)
        return serve_error(c, r, 400, "node",
                           "field 'node': the graph node expanded (required with 'case')");
    eview ev;
    util_err err = {0};
    int rc = view_of(sv, sn, json_string_value(json_object_get(doc, "chain")), &ev, &err);
    if (rc) return fail(c, r, rc, "chain", &err);
    uint64_t ntx, nx, na;
    evm_store_counts(ev.s, &ntx, &nx, &na);
    etrace_seeds seeds = {0};
    size_t i;
    json_t *v;
    json_array_foreach(xs, i, v)
    {
        json_t *xj = json_object_get(v, "xfer");
        const char *tj = json_string_value(json_object_get(v, "taint"));
        evm_u256 t;
        evm_xfer_row row;
        if (!json_is_integer(xj) || json_integer_value(xj) < 0 ||
            (uint64_t)json_integer_value(xj) >= nx) {
            rc = util_errf(&err, UTIL_EINVAL, "transfers[%zu].xfer: a transfer id below %" PRIu64,
                           i, nx);
            break;
        }
        uint64_t x = (uint64_t)json_integer_value(xj);
        if ((rc = evm_store_xfer(ev.s, x, &row, &err))) break;
        if (!tj || evm_u256_parse(&t, tj, strlen(tj), NULL) || evm_u256_cmp(&t, &row.amount) > 0) {
            rc = util_errf(&err, UTIL_EINVAL,
                           "transfers[%zu].taint: a decimal string 0..the transfer's amount", i);
            break;
        }
        if ((rc = etrace_seeds_add_taint(&seeds, x, &t, &err))) break;
    }
    if (rc) {
        etrace_seeds_free(&seeds);
        return fail(c, r, rc, "transfers", &err);
    }
    json_t *nodes = json_array(), *edges = json_array(), *sums = json_array();
    int partial = 0, truncated = 0;
    rc = evm_hop(sv, sn, &ev, &seeds, d, p, nodes, edges, sums, &partial, &truncated, &err);
    etrace_seeds_free(&seeds);
    json_t *ans = NULL;
    if (!rc)
        ans = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "chain", ev.chain, "direction",
                        etrace_direction_name(d), "policy", etrace_policy_name(p), "nodes", nodes,
                        "edges", edges, "assets", sums, "partial", partial, "truncated", truncated);
    else
        json_decref(nodes), json_decref(edges), json_decref(sums);
    if (!rc && !ans) rc = util_errf(&err, UTIL_ENOMEM, "out of memory");
    if (rc) return fail(c, r, rc, "transfers", &err);
    if (serve_graph_wants_digest(doc)) serve_graph_digest(ans);
    if (case_id) {
        case_graph_step_new s = {
            "expand", node_id, NULL, etrace_direction_name(d), etrace_policy_name(p), NULL};
        rc = record(sv, r, sn, &ev, case_id, &s,
                    json_pack("{s:s, s:I, s:I, s:O, s:O}", "chain", ev.chain, "nodes",
                              (json_int_t)json_array_size(json_object_get(ans, "nodes")), "edges",
                              (json_int_t)json_array_size(json_object_get(ans, "edges")), "assets",
                              json_object_get(ans, "assets"), "digest",
                              json_object_get(ans, "digest")),
                    &err);
        if (rc) {
            json_decref(ans);
            unsigned st = serve_case_status(rc);
            return serve_error(c, r, st, st == 400 ? "case" : NULL, "case: %s", err.msg);
        }
    }
    return serve_send_json(c, r, 200, ans);
}

int serve_graph_evm_from_btc(server *sv, snap *sn, const xchain_link *l, int forward,
                             const char *here, int policy, json_t *nodes, json_t *edges)
{
    const xchain_end *other = forward ? &l->to : &l->from;
    eview ev;
    util_err err = {0};
    if (view_of(sv, sn, other->chain, &ev, &err)) return 0; /* no store: the tx node */
    evm_tx_row t;
    uint64_t ntx, nx, na;
    evm_store_counts(ev.s, &ntx, &nx, &na);
    if (other->tx >= ntx || evm_store_tx(ev.s, other->tx, &t, NULL) ||
        memcmp(t.hash, other->hash, 32))
        return 0;
    etrace_seeds seeds = {0};
    for (uint64_t x = t.first_xfer; x < nx; x++) { /* the tx's value transfers */
        evm_xfer_row r;
        if (evm_store_xfer(ev.s, x, &r, NULL) || r.tx != other->tx) break;
        if (r.kind == EVM_XFER_FEE || r.from == r.to || r.to == UINT32_MAX) continue;
        /* backward: what the tx's sender put in; forward: what reached someone other than a
         * service (a router's own moves inside the tx are not the pay-out) */
        const labels_label *stop = NULL;
        labels_actor who;
        if (forward) etrace_address_actor(ev.s, ev.labels, NULL, r.to, &who, &stop);
        if (forward ? stop != NULL : r.from != t.from) continue;
        if (etrace_seeds_add_taint(&seeds, x, &r.amount, NULL)) break;
    }
    if (!seeds.n) {
        etrace_seeds_free(&seeds);
        return 0;
    }
    json_t *nn = json_array(), *scratch = json_array();
    int rc = 0;
    if (forward) { /* the tx's receivers, each holding what it received (whole) */
        enodes g = {0};
        for (size_t i = 0; i < seeds.n; i++) {
            evm_xfer_row r;
            if (evm_store_xfer(ev.s, seeds.x[i], &r, NULL)) continue;
            enode *n = enode_for(&g, r.to);
            if (n) enode_add(&ev, n, seeds.x[i], &r, &r.amount, NULL);
        }
        for (size_t i = 0; i < g.n; i++)
            json_array_append_new(nn, enode_json(&ev, &g.v[i]));
        enodes_free(&g);
    } else { /* its senders, each holding the receipts that explain what it sent */
        rc = evm_hop(sv, sn, &ev, &seeds, ETRACE_BACKWARD, policy, nn, scratch, NULL, NULL, NULL,
                     &err);
    }
    etrace_seeds_free(&seeds);
    json_decref(scratch);
    size_t i;
    json_t *n;
    char amount[EVM_U256_DEC_MAX], txid[67];
    evm_u256_format(amount, forward ? &l->amount_in : &l->amount_out);
    evm_hash_hex(txid, other->hash);
    const char *method = xchain_method_name(l->method);
    json_array_foreach(nn, i, n)
    {
        if (rc) break;
        const char *id = json_string_value(json_object_get(n, "id"));
        char a[80];
        addr_id(&ev, t.from, a);
        if (!forward && strcmp(a, id)) continue; /* the tx's sender is its source */
        json_array_append_new(
            edges,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:[s]}", "from",
                      forward ? here : id, "to", forward ? id : here, "kind", "cross_chain",
                      "method", method, "rule", l->rule, "confidence", l->confidence, "amount",
                      amount, "asset", forward ? l->asset_in : l->asset_out, "tx", txid, "patterns",
                      strncmp(method, "thorchain", 9) ? "bridge" : "swap"));
        json_array_append(nodes, n);
    }
    json_decref(nn);
    return !rc;
}
