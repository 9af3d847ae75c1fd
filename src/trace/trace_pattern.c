/* trace_pattern: the pattern annotations of a result's txs and edges (docs/tracing.md,
 * "Annotations") and its entity graph (who passed tainted value to whom). */
#include <stdlib.h>
#include <string.h>

#include "trace_int.h"

/* ---- patterns along the path ---- */

enum {
    P_SPLIT = TRACE_PAT_SPLIT,
    P_CONSOLIDATE = TRACE_PAT_CONSOLIDATE,
    P_PEEL = TRACE_PAT_PEEL,
    P_COINJOIN = TRACE_PAT_COINJOIN,
    P_HOP = TRACE_PAT_HOP,
    P_FRESH = TRACE_PAT_FRESH,
    P_BRIDGE = TRACE_PAT_BRIDGE,
    P_SWAP = TRACE_PAT_SWAP,
};

typedef struct tx_pat {
    int kind, peel; /* CoinJoin kind, peel chain length */
    uint8_t mask;   /* P_SPLIT P_CONSOLIDATE P_PEEL P_COINJOIN P_HOP */
} tx_pat;

/* The output's address never received anything before it (the first output paying it). */
static int fresh_output(const store *s, uint64_t o)
{
    return store_out_addr(s, o) != STORE_NO_ADDR && store_out_prev_same_addr(s, o) == STORE_NONE;
}

/* The shape of one tx (only txs split by the trace; others get 0). */
static int tx_shape(const tctx *c, uint64_t tx, cluster_scratch *sc, tx_pat *p)
{
    const store *s = c->s;
    if (c->clusters && tx < cluster_map_txs(c->clusters))
        p->kind = cluster_tx_kind(c->clusters, tx);
    else if ((p->kind = cluster_detect(s, tx, sc)) < 0)
        return UTIL_ENOMEM;
    p->peel = cluster_peel_chain(s, tx);
    uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx), paid = 0, fresh = 0;
    uint64_t first = store_tx_first_out(s, tx);
    for (uint32_t j = 0; j < nout; j++) {
        if (store_out_addr(s, first + j) == STORE_NO_ADDR || store_out_value(s, first + j) <= 0)
            continue;
        paid++;
        fresh += fresh_output(s, first + j);
    }
    uint8_t m = 0;
    if (cluster_cj_excludes(p->kind)) m |= P_COINJOIN;
    if (p->peel > 0) m |= P_PEEL;
    /* A Tx0 fans one wallet's coin out too, but it is the mixer's own step, not a split. */
    if (!(m & (P_COINJOIN | P_PEEL)) && p->kind != CLUSTER_CJ_WHIRLPOOL_TX0) {
        if (nin <= 2 && paid >= 3) m |= P_SPLIT;
        if ((nin >= 2 && paid == 1) || (nin >= 3 && paid == 2)) m |= P_CONSOLIDATE;
        if (!(m & (P_SPLIT | P_CONSOLIDATE)) && nin <= 2 && paid >= 1 && paid <= 2 && fresh == paid)
            m |= P_HOP;
    }
    p->mask = m;
    return 0;
}

/* *out[i]: the shape of tx rec i. *out is owned by the caller (free). */
static int tx_patterns(const tctx *c, tx_pat **out)
{
    tx_pat *tp = calloc(c->n_tr ? c->n_tr : 1, sizeof *tp);
    if (!tp) return UTIL_ENOMEM;
    cluster_scratch sc = {0};
    for (size_t i = 0; i < c->n_tr; i++)
        if (c->tr[i].status == S_FOLLOWED && tx_shape(c, c->tr[i].tx, &sc, &tp[i])) {
            cluster_scratch_free(&sc);
            free(tp);
            return UTIL_ENOMEM;
        }
    cluster_scratch_free(&sc);
    /* Paying a service is a deposit, not a hop, even to a fresh deposit address. */
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *r = &c->or_[i];
        uint32_t creator = c->o->direction == TRACE_FORWARD ? r->from : r->to;
        if (r->fate == F_ENDPOINT && creator != NONE32) tp[creator].mask &= (uint8_t)~P_HOP;
    }
    *out = tp;
    return 0;
}

/* An edge carries the shape of the tx that created its output (split, peel, coinjoin, hop),
 * consolidation when the tx spending it merges it, fresh when its address is new, and the
 * endpoint's category when it is a bridge or swap deposit. */
static uint8_t edge_patterns(const tctx *c, const tx_pat *tp, uint32_t i)
{
    const out_rec *r = &c->or_[i];
    int fwd = c->o->direction == TRACE_FORWARD;
    uint32_t creator = fwd ? r->from : r->to, spender = fwd ? r->to : r->from;
    uint8_t m = 0;
    if (creator != NONE32) m |= tp[creator].mask & (P_SPLIT | P_PEEL | P_COINJOIN | P_HOP);
    if (spender != NONE32) m |= tp[spender].mask & P_CONSOLIDATE;
    if (fresh_output(c->s, r->out)) m |= P_FRESH;
    if (r->fate == F_ENDPOINT) {
        const char *cat = labels_db_get(c->labels, c->er[r->endpoint].label)->category;
        if (!strcmp(cat, "bridge")) m |= P_BRIDGE;
        if (!strcmp(cat, "swap")) m |= P_SWAP;
    }
    return m;
}

/* ---- the entity graph: who passed tainted value to whom ---- */

typedef struct gnode {
    uint64_t key;         /* entity id, or G_ADDR | address id, or G_NOADDR */
    uint32_t addr, label; /* a representative address; the stop label if an endpoint */
    uint64_t seeded, received, sent, to_endpoint;
} gnode;
typedef struct gedge {
    uint32_t from, to;
    uint64_t value, outputs;
    uint8_t mask;
} gedge;
#define G_ADDR (1ull << 32)
#define G_NOADDR (1ull << 33)

typedef struct graph {
    hmap nmap, emap;
    gnode *n;
    size_t nn, cap_n;
    gedge *e;
    size_t ne, cap_e;
} graph;

static void graph_free(graph *g)
{
    hmap_free(&g->nmap);
    hmap_free(&g->emap);
    free(g->n);
    free(g->e);
}

/* The node of an output's owner: its entity when clustered, else its address. */
static uint32_t graph_node(graph *g, const tctx *c, uint64_t o)
{
    uint32_t addr = store_out_addr(c->s, o);
    uint64_t key = G_NOADDR;
    if (addr != STORE_NO_ADDR) {
        uint32_t ent = c->clusters ? cluster_entity_of(c->clusters, addr) : CLUSTER_NO_ENTITY;
        key = ent != CLUSTER_NO_ENTITY ? ent : G_ADDR | addr;
    }
    uint32_t k = hmap_get(&g->nmap, key);
    if (k != NONE32) return k;
    if (util_grow((void **)&g->n, &g->cap_n, g->nn + 1, sizeof *g->n, 64, SIZE_MAX)) return NONE32;
    k = (uint32_t)g->nn++;
    if (hmap_put(&g->nmap, key, k)) return NONE32;
    g->n[k] = (gnode){key, addr, NONE32, 0, 0, 0, 0};
    return k;
}

static int graph_add(graph *g, uint32_t from, uint32_t to, uint64_t v, uint8_t mask, int count)
{
    if (!v) return 0;
    uint64_t key = (uint64_t)from << 32 | to;
    uint32_t k = hmap_get(&g->emap, key);
    if (k == NONE32) {
        if (util_grow((void **)&g->e, &g->cap_e, g->ne + 1, sizeof *g->e, 64, SIZE_MAX))
            return UTIL_ENOMEM;
        k = (uint32_t)g->ne++;
        if (hmap_put(&g->emap, key, k)) return UTIL_ENOMEM;
        g->e[k] = (gedge){from, to, 0, 0, 0};
    }
    g->e[k].value += v;
    g->e[k].outputs += (uint64_t)count;
    g->e[k].mask |= mask;
    g->n[from].sent += v;
    g->n[to].received += v;
    return 0;
}

static int cmp_u64pair(const void *pa, const void *pb)
{
    const uint64_t *a = pa, *b = pb;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

static int cmp_gedge(const void *pa, const void *pb)
{
    const gedge *a = pa, *b = pb;
    if (a->value != b->value) return a->value > b->value ? -1 : 1;
    if (a->from != b->from) return a->from < b->from ? -1 : 1;
    return a->to < b->to ? -1 : a->to > b->to;
}

/* For each split tx, the taint it produced (outputs forward, inputs backward) goes from the
 * owner of the tx's inputs to the owners of its outputs, so the edges of a tx sum exactly to its
 * taint_out. When the taint came in from several holders, it all goes from the one that brought
 * the most: splitting every share between every holder makes holders x shares edges, which for
 * a poison trace through CoinJoins is more than the trace itself. */
static int graph_fill(graph *g, const tctx *c, const uint8_t *om)
{
    int fwd = c->o->direction == TRACE_FORWARD;
    uint32_t *node = malloc((c->n_or ? c->n_or : 1) * sizeof *node);
    size_t *in_start = calloc(c->n_tr + 1, sizeof *in_start);
    size_t *out_start = calloc(c->n_tr + 1, sizeof *out_start);
    uint32_t *in_idx = malloc((c->n_or ? c->n_or : 1) * sizeof *in_idx);
    uint32_t *out_idx = malloc((c->n_or ? c->n_or : 1) * sizeof *out_idx);
    uint64_t *grp = NULL;
    size_t cap_grp = 0;
    int rc = UTIL_ENOMEM;
    if (!node || !in_start || !out_start || !in_idx || !out_idx) goto out;
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *r = &c->or_[i];
        if ((node[i] = graph_node(g, c, r->out)) == NONE32) goto out;
        gnode *n = &g->n[node[i]];
        if (r->from == NONE32) n->seeded += r->taint;
        if (r->fate == F_ENDPOINT) {
            n->to_endpoint += r->taint;
            if (n->label == NONE32) n->label = c->er[r->endpoint].label;
        }
        if (r->to != NONE32) in_start[r->to + 1]++;
        if (r->from != NONE32) out_start[r->from + 1]++;
    }
    for (size_t t = 0; t < c->n_tr; t++) {
        in_start[t + 1] += in_start[t];
        out_start[t + 1] += out_start[t];
    }
    {
        size_t *fi = calloc(c->n_tr + 1, sizeof *fi), *fo = calloc(c->n_tr + 1, sizeof *fo);
        if (!fi || !fo) {
            free(fi);
            free(fo);
            goto out;
        }
        for (size_t i = 0; i < c->n_or; i++) {
            const out_rec *r = &c->or_[i];
            if (r->to != NONE32) in_idx[in_start[r->to] + fi[r->to]++] = (uint32_t)i;
            if (r->from != NONE32) out_idx[out_start[r->from] + fo[r->from]++] = (uint32_t)i;
        }
        free(fi);
        free(fo);
    }
    for (size_t t = 0; t < c->n_tr; t++) {
        if (c->tr[t].status != S_FOLLOWED) continue;
        /* groups: (node, taint brought in), by node */
        size_t ni = in_start[t + 1] - in_start[t], ng = 0;
        if (util_grow((void **)&grp, &cap_grp, 2 * ni + 2, sizeof *grp, 64, SIZE_MAX)) goto out;
        for (size_t k = 0; k < ni; k++) {
            uint32_t i = in_idx[in_start[t] + k];
            grp[2 * k] = node[i];
            grp[2 * k + 1] = c->or_[i].taint;
        }
        qsort(grp, ni, 2 * sizeof *grp, cmp_u64pair);
        for (size_t k = 0; k < ni; k++) {
            if (ng && grp[2 * (ng - 1)] == grp[2 * k]) {
                grp[2 * (ng - 1) + 1] += grp[2 * k + 1];
                continue;
            }
            grp[2 * ng] = grp[2 * k];
            grp[2 * ng + 1] = grp[2 * k + 1];
            ng++;
        }
        if (!ng) continue;
        size_t main = 0; /* the holder that brought the most taint (ties: the first) */
        for (size_t k = 1; k < ng; k++)
            if (grp[2 * k + 1] > grp[2 * main + 1]) main = k;
        uint32_t src = (uint32_t)grp[2 * main];
        for (size_t k = out_start[t]; k < out_start[t + 1]; k++) {
            uint32_t i = out_idx[k];
            if (fwd ? graph_add(g, src, node[i], c->or_[i].taint, om[i], 1)
                    : graph_add(g, node[i], src, c->or_[i].taint, om[i], 1))
                goto out;
        }
    }
    rc = 0;
out:
    free(node);
    free(in_start);
    free(out_start);
    free(in_idx);
    free(out_idx);
    free(grp);
    return rc;
}

/* ---- into the result ---- */

int trace_fill_patterns(const tctx *c, trace_result *r)
{
    tx_pat *tp = NULL;
    uint8_t *om = NULL;
    graph g;
    memset(&g, 0, sizeof g);
    int rc = UTIL_ENOMEM;
    if (tx_patterns(c, &tp)) goto out;
    for (size_t i = 0; i < c->n_tr; i++)
        if (c->tr[i].status == S_FOLLOWED) {
            r->txs[i].coinjoin = tp[i].kind;
            r->txs[i].peel = tp[i].peel;
            r->txs[i].patterns = tp[i].mask;
        }
    if (!(om = malloc((c->n_or ? c->n_or : 1) * sizeof *om))) goto out;
    for (size_t i = 0; i < c->n_or; i++)
        r->edges[i].patterns = om[i] = edge_patterns(c, tp, (uint32_t)i);
    if (graph_fill(&g, c, om)) goto out;
    if (g.ne) qsort(g.e, g.ne, sizeof *g.e, cmp_gedge); /* g.e is NULL when no tx was split */
    r->nodes = malloc((g.nn ? g.nn : 1) * sizeof *r->nodes);
    r->flows = malloc((g.ne ? g.ne : 1) * sizeof *r->flows);
    if (!r->nodes || !r->flows) goto out;
    for (size_t k = 0; k < g.nn; k++) {
        const gnode *n = &g.n[k];
        r->nodes[k] =
            (trace_node){n->key & (G_ADDR | G_NOADDR) ? CLUSTER_NO_ENTITY : (uint32_t)n->key,
                         n->addr,
                         n->label,
                         n->seeded,
                         n->received,
                         n->sent,
                         n->to_endpoint};
    }
    r->n_nodes = g.nn;
    for (size_t k = 0; k < g.ne; k++) {
        const gedge *e = &g.e[k];
        r->flows[k] = (trace_flow){e->from, e->to, e->value, e->outputs, e->mask};
    }
    r->n_flows = g.ne;
    rc = 0;
out:
    free(tp);
    free(om);
    graph_free(&g);
    return rc;
}
