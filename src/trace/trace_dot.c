/* trace_dot: a trace_result as a Graphviz digraph, of txs or of the entity graph. */
#include <stdio.h>
#include <string.h>

#include "trace_int.h"

/* A tx node's DOT id: its txid's first 16 hex digits ("seed" for none). */
static void dot_id(FILE *f, const trace_result *r, uint32_t tx)
{
    char h[65];
    fprintf(f, "\"%.16s\"", tx != TRACE_NONE ? trace_result_txid(r, tx, h) : "seed");
}

/* A DOT string: quotes and backslashes escaped (names come from label files), newlines as
 * DOT's \n. */
static void dot_str(FILE *f, const char *v)
{
    fputc('"', f);
    for (; v && *v; v++) {
        if (*v == '"' || *v == '\\') fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f); /* a line break inside a DOT label */
        else if (*v != '\r')
            fputc(*v, f);
    }
    fputc('"', f);
}

/* The label of an endpoint node: its actor, category and address. */
static void endpoint_label(FILE *f, const trace_result *r, uint32_t endpoint, const char *addr)
{
    labels_actor w;
    char t[96], label[LABELS_MAX_TEXT + 256];
    trace_result_endpoint_actor(r, endpoint, &w);
    snprintf(label, sizeof label, "%s\n%s\n%s", labels_actor_text(&w, t, sizeof t),
             labels_db_get(r->labels, r->endpoints[endpoint].label)->category, addr);
    dot_str(f, label);
}

static int write_dot_tx(const trace_result *r, FILE *f, util_err *err)
{
    int fwd = r->opts.direction == TRACE_FORWARD;
    hmap eps = {0}; /* endpoint address -> index in endpoints */
    for (size_t i = 0; i < r->n_endpoints; i++)
        if (hmap_put(&eps, r->endpoints[i].address, (uint32_t)i)) {
            hmap_free(&eps);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    fprintf(f, "digraph trace {\n  rankdir=LR;\n  node [fontsize=10];\n");
    for (size_t i = 0; i < r->n_txs; i++) {
        const trace_tx *x = &r->txs[i];
        char txid[65];
        trace_result_txid(r, (uint32_t)i, txid);
        /* coinjoin and peel are only known for followed txs */
        const char *cj = x->status == TRACE_TX_FOLLOWED ? cluster_cj_kind_name(x->coinjoin) : NULL;
        fprintf(f, "  ");
        dot_id(f, r, (uint32_t)i);
        fprintf(f, " [shape=box, label=\"%.16s\\nh%lld %s%s%s\"];\n", txid, (long long)x->height,
                trace_tx_status_name(x->status), cj && strcmp(cj, "none") ? "\\ncoinjoin " : "",
                cj && strcmp(cj, "none") ? cj : "");
        if (x->peel) {
            fprintf(f, "  ");
            dot_id(f, r, (uint32_t)i);
            fprintf(f, " [style=dashed];\n");
        }
    }
    for (size_t i = 0; i < r->n_edges; i++) {
        const trace_edge *x = &r->edges[i];
        const char *fate = trace_fate_name(x->fate);
        char node[200], abuf[128];
        const char *addr = trace_result_address(r, x->address, abuf, sizeof abuf);
        if (x->to_tx == TRACE_NONE) {
            if (x->fate == TRACE_FATE_ENDPOINT)
                snprintf(node, sizeof node, "endpoint %s", addr ? addr : "?");
            else
                snprintf(node, sizeof node, "%s", fate);
            uint32_t ep =
                x->fate == TRACE_FATE_ENDPOINT && addr ? hmap_get(&eps, x->address) : NONE32;
            fprintf(f, "  \"%s\" [shape=%s", node,
                    x->fate == TRACE_FATE_ENDPOINT ? "doubleoctagon" : "plaintext");
            if (ep != NONE32) { /* named by its actor */
                fprintf(f, ", label=");
                endpoint_label(f, r, ep, addr);
            }
            fprintf(f, "];\n");
        }
        fprintf(f, "  ");
        /* money moves from -> to forward, to -> from backward */
        if (fwd) {
            dot_id(f, r, x->from_tx);
            fprintf(f, " -> ");
            if (x->to_tx != TRACE_NONE)
                dot_id(f, r, x->to_tx);
            else
                fprintf(f, "\"%s\"", node);
        } else {
            if (x->to_tx != TRACE_NONE)
                dot_id(f, r, x->to_tx);
            else
                fprintf(f, "\"%s\"", node);
            fprintf(f, " -> ");
            dot_id(f, r, x->from_tx);
        }
        fprintf(f, " [label=\"%lld\"];\n", (long long)x->value);
    }
    fprintf(f, "}\n");
    hmap_free(&eps);
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}

static int write_dot_entity(const trace_result *r, FILE *f, util_err *err)
{
    fprintf(f, "digraph trace_%s {\n  rankdir=LR;\n  node [fontsize=10];\n",
            r->clustered ? "entity" : "address");
    for (size_t i = 0; i < r->n_nodes; i++) {
        const trace_node *n = &r->nodes[i];
        const labels_label *l = n->label != TRACE_NONE ? labels_db_get(r->labels, n->label) : NULL;
        const char *cat = l ? l->category : NULL;
        char label[LABELS_MAX_TEXT + 512], id[160], abuf[128], t[96];
        const char *addr = trace_result_address(r, n->address, abuf, sizeof abuf);
        trace_result_node_id(r, (uint32_t)i, id, sizeof id);
        /* named by its actor first ("(unlabelled)" when nothing is known), then its category
         * (an endpoint's, else the deciding label's), its id and address */
        labels_actor w;
        trace_result_node_actor(r, (uint32_t)i, &w);
        const char *kind = cat ? cat : w.label ? w.label->category : NULL;
        snprintf(label, sizeof label, "%s%s%s\n%s%s%s%s", labels_actor_text(&w, t, sizeof t),
                 kind ? "\n" : "", kind ? kind : "", id, addr && strncmp(id, "a:", 2) ? "\n" : "",
                 addr && strncmp(id, "a:", 2) ? addr : "", n->seeded ? "\nseed" : "");
        fprintf(f, "  ");
        dot_str(f, id);
        fprintf(f, " [shape=%s, label=", cat ? "doubleoctagon" : n->seeded ? "box" : "ellipse");
        dot_str(f, label);
        fprintf(f, "];\n");
    }
    for (size_t i = 0; i < r->n_flows; i++) {
        const trace_flow *e = &r->flows[i];
        char label[256], from[160], to[160];
        int len = snprintf(label, sizeof label, "%lld", (long long)e->value);
        for (int k = 0, j = 0; k < TRACE_N_PATTERNS; k++) {
            if (!(e->patterns & (1u << k))) continue;
            if (len > 0 && (size_t)len < sizeof label)
                len += snprintf(label + len, sizeof label - (size_t)len, "%s%s", j ? "," : "\n",
                                trace_pattern_name(k));
            j++;
        }
        fprintf(f, "  ");
        dot_str(f, trace_result_node_id(r, e->from, from, sizeof from));
        fprintf(f, " -> ");
        dot_str(f, trace_result_node_id(r, e->to, to, sizeof to));
        fprintf(f, " [label=");
        dot_str(f, label);
        fprintf(f, "];\n");
    }
    fprintf(f, "}\n");
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}

int trace_write_dot_graph(const trace_result *r, FILE *f, int graph, util_err *err)
{
    return graph == TRACE_GRAPH_ENTITY ? write_dot_entity(r, f, err) : write_dot_tx(r, f, err);
}

int trace_write_dot(const trace_result *r, FILE *f, util_err *err)
{
    return write_dot_tx(r, f, err);
}
