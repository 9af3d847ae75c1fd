/* The trace result as one self-contained HTML page: summary tables and the flow to the largest
 * endpoints drawn as inline SVG, with no script, style sheet or font fetched from anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../labels/labels_services.h"
#include "trace.h"

#define HTML_ENDPOINT_ROWS 200  /* endpoints listed in the table */
#define HTML_ENDPOINT_DRAWN 25  /* endpoints whose paths are drawn */
#define HTML_GRAPH_NODES 40     /* entity graph: the nodes with the most value drawn */
#define HTML_GRAPH_ROWS 50      /* entity graph: the largest flows listed */
#define HTML_ACTOR_ROWS 100     /* actors listed */
#define HTML_ACTOR_ADDRESSES 50 /* addresses listed under each actor */

/* Text from the chain or from label sources goes through here: nothing in it is markup. */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void btc(FILE *f, long long sat)
{
    fprintf(f, "%s%lld.%08lld", sat < 0 ? "-" : "", (sat < 0 ? -sat : sat) / 100000000,
            (sat < 0 ? -sat : sat) % 100000000);
}

/* Label text cut to at most max bytes without splitting a UTF-8 character, then escaped. */
static void esc_cut(FILE *f, const char *s, size_t max)
{
    char buf[128];
    size_t n = strlen(s);
    if (max >= sizeof buf) max = sizeof buf - 1;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a character */
            n--;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    esc(f, buf);
}

static const char *category_color(const char *cat)
{
    static const char *const colors[LABELS_SVC_N] = {[LABELS_SVC_EXCHANGE] = "#2b7bb9",
                                                     [LABELS_SVC_OTC] = "#7b52ab",
                                                     [LABELS_SVC_BRIDGE] = "#c77c02",
                                                     [LABELS_SVC_SWAP] = "#1a9850",
                                                     [LABELS_SVC_MIXER] = "#d73027"};
    for (size_t i = 0; i < LABELS_SVC_N; i++)
        if (!strcmp(cat, labels_service_categories()[i])) return colors[i];
    return "#555555";
}

/* Drawn nodes: the txs on the drawn endpoints' paths, by depth column, then the endpoints. */
typedef struct hnode {
    uint32_t id; /* index in the result's txs, or in its endpoints */
    long long depth;
    int row, endpoint;
} hnode;

static int node_index(hnode *nodes, size_t n, uint32_t id, int endpoint)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i].endpoint == endpoint && nodes[i].id == id) return (int)i;
    return -1;
}

static void write_svg(const trace_result *r, FILE *f)
{
    size_t n_draw = r->n_endpoints < HTML_ENDPOINT_DRAWN ? r->n_endpoints : HTML_ENDPOINT_DRAWN;
    size_t cap = 64, n = 0;
    hnode *nodes = malloc(cap * sizeof *nodes);
    if (!nodes) return;
    long long max_depth = 0;
    for (size_t e = 0; e < n_draw; e++) {
        const trace_endpoint *ep = &r->endpoints[e];
        long long last = 0;
        for (size_t k = 0; k <= ep->path_len; k++) {
            int is_ep = k == ep->path_len;
            uint32_t id = is_ep ? (uint32_t)e : ep->path[k];
            if (node_index(nodes, n, id, is_ep) >= 0) {
                if (!is_ep) last = r->txs[id].depth;
                continue;
            }
            if (n == cap) {
                hnode *g = realloc(nodes, 2 * cap * sizeof *nodes);
                if (!g) break;
                nodes = g, cap *= 2;
            }
            long long d = is_ep ? last + 1 : r->txs[id].depth;
            nodes[n++] = (hnode){id, d, 0, is_ep};
            if (!is_ep) last = d;
            if (d > max_depth) max_depth = d;
        }
    }
    /* Rows within each depth column, in order of appearance. */
    int rows_max = 0;
    for (long long d = 0; d <= max_depth; d++) {
        int row = 0;
        for (size_t k = 0; k < n; k++)
            if (nodes[k].depth == d) nodes[k].row = row++;
        if (row > rows_max) rows_max = row;
    }
    int colw = 190, rowh = 34, w = (int)(max_depth + 1) * colw + 220, h = rows_max * rowh + 40;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"monospace\" font-size=\"11\">\n",
            w, h);
#define NX(k) (20 + (int)nodes[k].depth * colw)
#define NY(k) (20 + nodes[k].row * rowh)
    /* Edges: consecutive steps of each drawn path. */
    for (size_t e = 0; e < n_draw; e++) {
        const trace_endpoint *ep = &r->endpoints[e];
        int prev = -1;
        for (size_t k = 0; k <= ep->path_len; k++) {
            int is_ep = k == ep->path_len;
            int cur = node_index(nodes, n, is_ep ? (uint32_t)e : ep->path[k], is_ep);
            if (prev >= 0 && cur >= 0)
                fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n",
                        NX(prev) + 120, NY(prev) + 10, NX(cur), NY(cur) + 10);
            if (cur >= 0) prev = cur;
        }
    }
    for (size_t k = 0; k < n; k++) {
        fprintf(f, "<g><title>");
        if (nodes[k].endpoint) {
            const trace_endpoint *o = &r->endpoints[nodes[k].id];
            const char *cat = labels_db_get(r->labels, o->label)->category;
            char addr[128], t[96];
            labels_actor w;
            trace_result_endpoint_actor(r, nodes[k].id, &w);
            const char *actor = labels_actor_text(&w, t, sizeof t);
            trace_result_address(r, o->address, addr, sizeof addr);
            esc(f, actor); /* label-sourced text, like every other field here */
            fprintf(f, ", endpoint %s (", addr);
            esc(f, cat);
            fprintf(f, "): ");
            btc(f, (long long)o->amount);
            fprintf(f,
                    " BTC</title><rect x=\"%d\" y=\"%d\" width=\"170\" height=\"20\" rx=\"4\" "
                    "fill=\"%s\"/><text x=\"%d\" y=\"%d\" fill=\"white\">",
                    NX(k), NY(k), category_color(cat), NX(k) + 4, NY(k) + 14);
            esc_cut(f, actor, 14); /* the box holds about 27 characters */
            fprintf(f, " ");
            btc(f, (long long)o->amount);
        } else {
            const trace_tx *o = &r->txs[nodes[k].id];
            char txid[65];
            trace_result_txid(r, nodes[k].id, txid);
            /* coinjoin and peel are only known for followed txs */
            const char *cj =
                o->status == TRACE_TX_FOLLOWED ? cluster_cj_kind_name(o->coinjoin) : "";
            int coinjoin = *cj && strcmp(cj, "none");
            fprintf(f, "tx %s height %lld%s%s%s: in ", txid, (long long)o->height,
                    coinjoin ? ", coinjoin " : "", coinjoin ? cj : "",
                    o->peel ? ", peel chain" : "");
            btc(f, (long long)o->taint_in);
            fprintf(f,
                    " BTC</title><rect x=\"%d\" y=\"%d\" width=\"120\" height=\"20\" rx=\"10\" "
                    "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%.12s</text>",
                    NX(k), NY(k),
                    coinjoin  ? "#fdae61"
                    : o->peel ? "#abd9e9"
                              : "#e0e0e0",
                    NX(k) + 8, NY(k) + 14, txid);
        }
        fprintf(f, "%s</g>\n", nodes[k].endpoint ? "</text>" : "");
    }
#undef NX
#undef NY
    fprintf(f, "</svg>\n");
    free(nodes);
}

static void write_entity_svg(const trace_result *r, FILE *f);
static void write_entity_table(const trace_result *r, FILE *f);

/* The answer by actor: who received how much (endpoints), who still holds it (unspent), and
 * the addresses under each. */
static void write_actor_table(const trace_result *r, FILE *f)
{
    const trace_actors *a = &r->actors;
    fprintf(f, "<h2>By actor (BTC)</h2>\n<p>Who is behind the endpoints the value reached, and "
               "who holds what stays unspent: the actor of the stop label or of the address's "
               "own labels, else of a label elsewhere in its entity, else a label's name.</p>\n"
               "<table>\n<tr><th>actor</th><th>category</th><th>role</th><th>amount (BTC)</th>"
               "<th>share of seeded</th><th>deposits</th><th>addresses</th><th>hops</th>"
               "<th>addresses (largest first)</th></tr>\n");
    for (size_t i = 0; i < a->n && i < HTML_ACTOR_ROWS; i++) {
        const trace_actor *g = &a->v[i];
        char t[96];
        fprintf(f, "<tr><td>");
        esc(f, labels_actor_text(&g->who, t, sizeof t));
        if (g->who.from == LABELS_ACTOR_ENTITY) fprintf(f, " <small>(by its entity)</small>");
        fprintf(f, "</td><td>");
        esc(f, g->category ? g->category : "-");
        fprintf(f, "</td><td>%s</td><td class=\"n\">", trace_actor_role_name(g->role));
        btc(f, (long long)g->amount);
        fprintf(f,
                "</td><td class=\"n\">%.2f%%</td><td class=\"n\">%llu</td><td "
                "class=\"n\">%zu</td><td class=\"n\">%u</td><td class=\"m\"><details><summary>"
                "%zu address%s</summary>",
                100 * g->share, (unsigned long long)g->deposits, g->n, g->hops, g->n,
                g->n == 1 ? "" : "es");
        for (size_t k = 0; k < g->n && k < HTML_ACTOR_ADDRESSES; k++) {
            const trace_actor_addr *d = &a->addrs[g->first + k];
            char addr[128];
            const char *txt = trace_result_address(r, d->address, addr, sizeof addr);
            esc(f, txt ? txt : "(no address)");
            fprintf(f, " ");
            btc(f, (long long)d->amount);
            fprintf(f, " (%llu, %u hops)<br>", (unsigned long long)d->deposits, d->hops);
        }
        if (g->n > HTML_ACTOR_ADDRESSES)
            fprintf(f, "%zu more in the JSON output", g->n - HTML_ACTOR_ADDRESSES);
        fprintf(f, "</details></td></tr>\n");
    }
    fprintf(f, "</table>\n");
    if (a->n > HTML_ACTOR_ROWS)
        fprintf(f, "<p>%zu more actors in the JSON output.</p>\n", a->n - HTML_ACTOR_ROWS);
}

int trace_write_html(const trace_result *r, FILE *f, util_err *err)
{
    return trace_write_html_graph(r, f, TRACE_GRAPH_TX, err);
}

int trace_write_html_graph(const trace_result *r, FILE *f, int graph, util_err *err)
{
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
               "<title>cointrail trace</title><style>"
               "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
               "td.n{text-align:right;font-family:monospace}.m{font-family:monospace}"
               "</style></head><body>\n<h1>cointrail trace</h1>\n");
    fprintf(f, "<p>Direction <b>");
    esc(f, trace_direction_name(r->opts.direction));
    fprintf(f, "</b>, policy <b>");
    esc(f, trace_policy_name(r->opts.policy));
    fprintf(f, "</b>, %zu seed outputs, %lld outputs visited%s.</p>\n", r->n_seeds,
            (long long)r->outputs_visited, r->partial ? " &mdash; <b>partial result</b>" : "");
    fprintf(f, "<h2>Where the value went (BTC)</h2>\n<table>\n");
    const trace_totals *t = &r->totals;
    trace_bucket totals[TRACE_TOTALS_BUCKETS];
    trace_totals_buckets(t, totals);
    for (size_t i = 0; i < TRACE_TOTALS_BUCKETS; i++) {
        fprintf(f, "<tr><td>");
        esc(f, totals[i].name);
        fprintf(f, "</td><td class=\"n\">");
        btc(f, (long long)totals[i].value);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
    write_actor_table(r, f);
    fprintf(f, "<h2>By category (BTC)</h2>\n<table>\n");
    for (size_t i = 0; i < r->n_categories; i++) {
        fprintf(f, "<tr><td>");
        esc(f, r->by_category[i].category);
        fprintf(f, "</td><td class=\"n\">");
        btc(f, (long long)r->by_category[i].amount);
        fprintf(f, "</td></tr>\n");
    }
    size_t neps = r->n_endpoints;
    if (graph == TRACE_GRAPH_ENTITY) {
        fprintf(f, "</table>\n<h2>Flow between the %d largest holders</h2>\n", HTML_GRAPH_NODES);
        fprintf(f, "<p>Nodes are entities (or addresses without one); columns are steps from the "
                   "seeds' holders; line width is value; orange: CoinJoin, blue: peel chain, "
                   "green: split, purple: consolidation. Hover for amounts and patterns.</p>\n");
        write_entity_svg(r, f);
        write_entity_table(r, f);
    } else {
        fprintf(f, "</table>\n<h2>Flow to the %d largest endpoints</h2>\n",
                (int)(neps < HTML_ENDPOINT_DRAWN ? neps : HTML_ENDPOINT_DRAWN));
        fprintf(f, "<p>Columns are hops from the seeds; orange: CoinJoin, blue: peel-chain step. "
                   "Hover for amounts.</p>\n");
        write_svg(r, f);
    }
    fprintf(f,
            "<h2>Endpoints (%zu, largest first)</h2>\n<table>\n<tr><th>amount (BTC)</th>"
            "<th>actor</th><th>category</th><th>address</th><th>labels</th><th>hops</th>"
            "<th>path</th></tr>\n",
            neps);
    for (size_t i = 0; i < neps && i < HTML_ENDPOINT_ROWS; i++) {
        const trace_endpoint *ep = &r->endpoints[i];
        char addr[128];
        fprintf(f, "<tr><td class=\"n\">");
        btc(f, (long long)ep->amount);
        labels_actor w;
        char t[96];
        trace_result_endpoint_actor(r, i, &w);
        fprintf(f, "</td><td>");
        esc(f, labels_actor_text(&w, t, sizeof t));
        fprintf(f, "</td><td>");
        esc(f, labels_db_get(r->labels, ep->label)->category);
        fprintf(f, "</td><td class=\"m\">");
        esc(f, trace_result_address(r, ep->address, addr, sizeof addr));
        fprintf(f, "</td><td>");
        for (size_t j = 0; j < ep->labels_n; j++) {
            const labels_label *l = labels_db_get(r->labels, ep->labels_first + j);
            if (j) fprintf(f, "<br>");
            esc(f, l->name);
            fprintf(f, " (");
            esc(f, l->source);
            fprintf(f, ")");
        }
        fprintf(f, "</td><td class=\"n\">%zu</td><td class=\"m\"><details><summary>txids</summary>",
                ep->path_len);
        for (size_t j = 0; j < ep->path_len; j++) {
            char txid[65];
            esc(f, trace_result_txid(r, ep->path[j], txid));
            fprintf(f, "<br>");
        }
        fprintf(f, "</details></td></tr>\n");
    }
    fprintf(f, "</table>\n");
    if (neps > HTML_ENDPOINT_ROWS)
        fprintf(f, "<p>%zu more endpoints in the JSON output.</p>\n", neps - HTML_ENDPOINT_ROWS);
    fprintf(f, "</body></html>\n");
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}

/* ---- the entity graph ---- */

static const char *edge_color(uint8_t m)
{
    if (m & TRACE_PAT_COINJOIN) return "#f46d43";
    if (m & TRACE_PAT_PEEL) return "#4393c3";
    if (m & TRACE_PAT_SPLIT) return "#1a9850";
    if (m & TRACE_PAT_CONSOLIDATE) return "#762a83";
    return "#999999";
}

/* The flow's pattern names, each after sep (first after first). */
static void esc_patterns(FILE *f, uint8_t m, const char *first, const char *sep)
{
    for (int k = 0, j = 0; k < TRACE_N_PATTERNS; k++) {
        if (!(m & (1u << k))) continue;
        fprintf(f, "%s", j++ ? sep : first);
        esc(f, trace_pattern_name(k));
    }
}

/* A graph node as text: its actor ("(unlabelled)" when nothing is known) and its id. */
static void esc_node(FILE *f, const trace_result *r, uint32_t node)
{
    char id[160], t[96];
    labels_actor w;
    trace_result_node_actor(r, node, &w);
    esc(f, labels_actor_text(&w, t, sizeof t));
    fprintf(f, " (");
    esc(f, trace_result_node_id(r, node, id, sizeof id));
    fprintf(f, ")");
}

typedef struct gdraw {
    long long weight;
    long col; /* steps from the seeds' holders (-1: not reached) */
    int row, drawn;
} gdraw;

static int cmp_weight_desc(const void *pa, const void *pb, void *arg)
{
    const gdraw *d = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (d[a].weight != d[b].weight) return d[a].weight > d[b].weight ? -1 : 1;
    return a < b ? -1 : a > b;
}

static void write_entity_svg(const trace_result *r, FILE *f)
{
    int fwd = r->opts.direction == TRACE_FORWARD;
    size_t nn = r->n_nodes, ne = r->n_flows;
    gdraw *d = calloc(nn ? nn : 1, sizeof *d);
    size_t *order = malloc((nn ? nn : 1) * sizeof *order);
    if (!d || !order) goto out;
    for (size_t i = 0; i < nn; i++) {
        long long rcv = (long long)r->nodes[i].received, sd = (long long)r->nodes[i].seeded;
        d[i].weight = rcv > sd ? rcv : sd;
        d[i].col = sd ? 0 : -1;
        order[i] = i;
    }
    /* Columns: shortest distance from the seeds' holders, along the money forward and against
     * it backward (relaxation; the graph is small next to the chain). */
    long maxcol = 0;
    for (int changed = 1, round = 0; changed && round < 1000; round++) {
        changed = 0;
        for (size_t k = 0; k < ne; k++) {
            size_t a = fwd ? r->flows[k].from : r->flows[k].to;
            size_t b = fwd ? r->flows[k].to : r->flows[k].from;
            if (d[a].col < 0 || (d[b].col >= 0 && d[b].col <= d[a].col + 1)) continue;
            d[b].col = d[a].col + 1;
            if (d[b].col > maxcol) maxcol = d[b].col;
            changed = 1;
        }
    }
    qsort_r(order, nn, sizeof *order, cmp_weight_desc, d);
    size_t ndraw = nn < HTML_GRAPH_NODES ? nn : HTML_GRAPH_NODES;
    for (size_t k = 0; k < ndraw; k++)
        d[order[k]].drawn = 1;
    int rows_max = 0;
    for (long c = 0; c <= maxcol; c++) {
        int row = 0;
        for (size_t k = 0; k < ndraw; k++)
            if (d[order[k]].col == c) d[order[k]].row = row++;
        if (row > rows_max) rows_max = row;
    }
    int colw = 230, rowh = 34, w = (int)(maxcol + 1) * colw + 40, h = rows_max * rowh + 40;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"monospace\" font-size=\"11\">\n",
            w, h);
    /* backward traces are drawn with the money flowing left to right too */
#define GX(k) (20 + (int)(fwd ? d[k].col : maxcol - d[k].col) * colw)
#define GY(k) (20 + d[k].row * rowh)
    long long vmax = 1;
    for (size_t i = 0; i < ne; i++)
        if ((long long)r->flows[i].value > vmax) vmax = (long long)r->flows[i].value;
    for (size_t i = 0; i < ne; i++) {
        const trace_flow *e = &r->flows[i];
        size_t a = e->from, b = e->to;
        if (!d[a].drawn || !d[b].drawn || d[a].col < 0 || d[b].col < 0 || a == b) continue;
        fprintf(f, "<g><title>");
        esc_node(f, r, e->from);
        fprintf(f, " -> ");
        esc_node(f, r, e->to);
        fprintf(f, ": ");
        btc(f, (long long)e->value);
        fprintf(f, " BTC");
        esc_patterns(f, e->patterns, " (", ", ");
        fprintf(f,
                "%s</title><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"%.1f\" stroke-opacity=\"0.7\"/></g>\n",
                e->patterns ? ")" : "", fwd ? GX(a) + 180 : GX(a), GY(a) + 10,
                fwd ? GX(b) : GX(b) + 180, GY(b) + 10, edge_color(e->patterns),
                1.0 + 7.0 * (double)(long long)e->value / (double)vmax);
    }
    for (size_t k = 0; k < ndraw; k++) {
        size_t q = order[k];
        if (d[q].col < 0) continue;
        const trace_node *n = &r->nodes[q];
        const labels_label *l = n->label != TRACE_NONE ? labels_db_get(r->labels, n->label) : NULL;
        const char *cat = l ? l->category : NULL;
        char id[160], t[96];
        labels_actor w;
        trace_result_node_actor(r, (uint32_t)q, &w);
        const char *actor = labels_actor_text(&w, t, sizeof t);
        trace_result_node_id(r, (uint32_t)q, id, sizeof id);
        fprintf(f, "<g><title>");
        esc(f, actor);
        fprintf(f, " (");
        esc(f, id);
        if (cat || w.label) {
            fprintf(f, ", ");
            esc(f, cat ? cat : w.label->category);
        }
        fprintf(f, "): seeded ");
        btc(f, (long long)n->seeded);
        fprintf(f, ", received ");
        btc(f, (long long)n->received);
        fprintf(f, ", to endpoints ");
        btc(f, (long long)n->to_endpoint);
        fprintf(f,
                " BTC</title><rect x=\"%d\" y=\"%d\" width=\"180\" height=\"20\" rx=\"4\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"%d\" fill=\"%s\">",
                GX(q), GY(q),
                cat         ? category_color(cat)
                : n->seeded ? "#333333"
                            : "#e0e0e0",
                GX(q) + 4, GY(q) + 14, cat || n->seeded ? "white" : "black");
        /* named by its actor; an unlabelled holder as such, with its id */
        if (w.label) {
            esc_cut(f, actor, 27); /* the box holds about 27 characters */
        } else {
            fprintf(f, "(unlabelled) ");
            esc_cut(f, id, 14);
        }
        fprintf(f, "</text></g>\n");
    }
#undef GX
#undef GY
    fprintf(f, "</svg>\n");
out:
    free(d);
    free(order);
}

static void write_entity_table(const trace_result *r, FILE *f)
{
    fprintf(f,
            "<h2>Largest flows (%zu, %s level)</h2>\n<table>\n<tr><th>value (BTC)</th>"
            "<th>from</th><th>to</th><th>outputs</th><th>patterns</th></tr>\n",
            r->n_flows, r->clustered ? "entity" : "address");
    for (size_t i = 0; i < r->n_flows && i < HTML_GRAPH_ROWS; i++) {
        const trace_flow *e = &r->flows[i];
        fprintf(f, "<tr><td class=\"n\">");
        btc(f, (long long)e->value);
        fprintf(f, "</td><td class=\"m\">");
        esc_node(f, r, e->from);
        fprintf(f, "</td><td class=\"m\">");
        esc_node(f, r, e->to);
        fprintf(f, "</td><td class=\"n\">%lld</td><td>", (long long)e->outputs);
        esc_patterns(f, e->patterns, "", ", ");
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
}
