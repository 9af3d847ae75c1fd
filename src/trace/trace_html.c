/* The trace result as one self-contained HTML page: summary tables and the flow to the largest
 * endpoints drawn as inline SVG, with no script, style sheet or font fetched from anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#define HTML_ENDPOINT_ROWS 200 /* endpoints listed in the table */
#define HTML_ENDPOINT_DRAWN 25 /* endpoints whose paths are drawn */
#define HTML_GRAPH_NODES 40    /* entity graph: the nodes with the most value drawn */
#define HTML_GRAPH_ROWS 50     /* entity graph: the largest flows listed */

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

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void btc(FILE *f, long long sat)
{
    fprintf(f, "%s%lld.%08lld", sat < 0 ? "-" : "", (sat < 0 ? -sat : sat) / 100000000,
            (sat < 0 ? -sat : sat) % 100000000);
}

static const char *category_color(const char *cat)
{
    static const struct {
        const char *cat, *color;
    } colors[] = {{"exchange", "#2b7bb9"},
                  {"otc", "#7b52ab"},
                  {"bridge", "#c77c02"},
                  {"swap", "#1a9850"},
                  {"mixer", "#d73027"}};
    for (size_t i = 0; i < sizeof colors / sizeof *colors; i++)
        if (!strcmp(cat, colors[i].cat)) return colors[i].color;
    return "#555555";
}

/* Drawn nodes: the txs on the drawn endpoints' paths, by depth column, then the endpoints. */
typedef struct hnode {
    const char *id; /* txid, or the endpoint address */
    long long depth;
    int row, endpoint;
    json_t *info; /* the tx or endpoint object */
} hnode;

static int node_index(hnode *nodes, size_t n, const char *id, int endpoint)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i].endpoint == endpoint && !strcmp(nodes[i].id, id)) return (int)i;
    return -1;
}

static void write_svg(json_t *doc, FILE *f)
{
    json_t *eps = json_object_get(doc, "endpoints");
    size_t n_draw =
        json_array_size(eps) < HTML_ENDPOINT_DRAWN ? json_array_size(eps) : HTML_ENDPOINT_DRAWN;
    json_t *tx_by_id = json_object();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(doc, "txs"), i, x)
        json_object_set(tx_by_id, str(x, "txid"), x);
    size_t cap = 64, n = 0;
    hnode *nodes = malloc(cap * sizeof *nodes);
    if (!nodes) {
        json_decref(tx_by_id);
        return;
    }
    long long max_depth = 0;
    for (size_t e = 0; e < n_draw; e++) {
        json_t *ep = json_array_get(eps, e), *path = json_object_get(ep, "path");
        long long last = 0;
        for (size_t k = 0; k <= json_array_size(path); k++) {
            int is_ep = k == json_array_size(path);
            const char *id =
                is_ep ? str(ep, "address") : json_string_value(json_array_get(path, k));
            json_t *tx = is_ep ? ep : json_object_get(tx_by_id, id ? id : "");
            if (!id || !tx || node_index(nodes, n, id, is_ep) >= 0) {
                if (!is_ep && tx) last = num(tx, "depth");
                continue;
            }
            if (n == cap) {
                hnode *g = realloc(nodes, 2 * cap * sizeof *nodes);
                if (!g) break;
                nodes = g, cap *= 2;
            }
            long long d = is_ep ? last + 1 : num(tx, "depth");
            nodes[n++] = (hnode){id, d, 0, is_ep, tx};
            if (!is_ep) last = d;
            if (d > max_depth) max_depth = d;
        }
    }
    /* Rows within each depth column, in order of appearance. */
    int rows_max = 0;
    for (long long d = 0; d <= max_depth; d++) {
        int r = 0;
        for (size_t k = 0; k < n; k++)
            if (nodes[k].depth == d) nodes[k].row = r++;
        if (r > rows_max) rows_max = r;
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
        json_t *ep = json_array_get(eps, e), *path = json_object_get(ep, "path");
        int prev = -1;
        for (size_t k = 0; k <= json_array_size(path); k++) {
            int is_ep = k == json_array_size(path);
            const char *id =
                is_ep ? str(ep, "address") : json_string_value(json_array_get(path, k));
            int cur = id ? node_index(nodes, n, id, is_ep) : -1;
            if (prev >= 0 && cur >= 0)
                fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n",
                        NX(prev) + 120, NY(prev) + 10, NX(cur), NY(cur) + 10);
            if (cur >= 0) prev = cur;
        }
    }
    for (size_t k = 0; k < n; k++) {
        json_t *o = nodes[k].info;
        fprintf(f, "<g><title>");
        if (nodes[k].endpoint) {
            fprintf(f, "endpoint %s (", nodes[k].id);
            esc(f, str(o, "category")); /* label-sourced text, like every other field here */
            fprintf(f, "): ");
            btc(f, num(o, "amount"));
            fprintf(f,
                    " BTC</title><rect x=\"%d\" y=\"%d\" width=\"170\" height=\"20\" rx=\"4\" "
                    "fill=\"%s\"/><text x=\"%d\" y=\"%d\" fill=\"white\">",
                    NX(k), NY(k), category_color(str(o, "category")), NX(k) + 4, NY(k) + 14);
            esc(f, str(o, "category"));
            fprintf(f, " ");
            btc(f, num(o, "amount"));
        } else {
            const char *cj = str(o, "coinjoin");
            int coinjoin = *cj && strcmp(cj, "none");
            fprintf(f, "tx %s height %lld%s%s%s: in ", nodes[k].id, num(o, "height"),
                    coinjoin ? ", coinjoin " : "", coinjoin ? cj : "",
                    num(o, "peel") ? ", peel chain" : "");
            btc(f, num(o, "taint_in"));
            fprintf(f,
                    " BTC</title><rect x=\"%d\" y=\"%d\" width=\"120\" height=\"20\" rx=\"10\" "
                    "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%.12s</text>",
                    NX(k), NY(k),
                    coinjoin         ? "#fdae61"
                    : num(o, "peel") ? "#abd9e9"
                                     : "#e0e0e0",
                    NX(k) + 8, NY(k) + 14, nodes[k].id);
        }
        fprintf(f, "%s</g>\n", nodes[k].endpoint ? "</text>" : "");
    }
#undef NX
#undef NY
    fprintf(f, "</svg>\n");
    free(nodes);
    json_decref(tx_by_id);
}

static void write_entity_svg(json_t *doc, FILE *f);
static void write_entity_table(json_t *doc, FILE *f);

int trace_write_html(json_t *doc, FILE *f, util_err *err)
{
    return trace_write_html_graph(doc, f, TRACE_GRAPH_TX, err);
}

int trace_write_html_graph(json_t *doc, FILE *f, int graph, util_err *err)
{
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
               "<title>cointrail trace</title><style>"
               "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
               "td.n{text-align:right;font-family:monospace}.m{font-family:monospace}"
               "</style></head><body>\n<h1>cointrail trace</h1>\n");
    fprintf(f, "<p>Direction <b>");
    esc(f, str(doc, "direction"));
    fprintf(f, "</b>, policy <b>");
    esc(f, str(doc, "policy"));
    fprintf(f, "</b>, %zu seed outputs, %lld outputs visited%s.</p>\n",
            json_array_size(json_object_get(doc, "seeds")), num(doc, "outputs_visited"),
            json_is_true(json_object_get(doc, "partial")) ? " &mdash; <b>partial result</b>" : "");
    fprintf(f, "<h2>Where the value went (BTC)</h2>\n<table>\n");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(doc, "totals"), k, v)
    {
        if (!json_is_integer(v)) continue;
        fprintf(f, "<tr><td>");
        esc(f, k);
        fprintf(f, "</td><td class=\"n\">");
        btc(f, (long long)json_integer_value(v));
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n<h2>By category (BTC)</h2>\n<table>\n");
    json_object_foreach(json_object_get(doc, "by_category"), k, v)
    {
        fprintf(f, "<tr><td>");
        esc(f, k);
        fprintf(f, "</td><td class=\"n\">");
        btc(f, (long long)json_integer_value(v));
        fprintf(f, "</td></tr>\n");
    }
    json_t *eps = json_object_get(doc, "endpoints");
    if (graph == TRACE_GRAPH_ENTITY && json_object_get(doc, "graph")) {
        fprintf(f, "</table>\n<h2>Flow between the %d largest holders</h2>\n", HTML_GRAPH_NODES);
        fprintf(f, "<p>Nodes are entities (or addresses without one); columns are steps from the "
                   "seeds' holders; line width is value; orange: CoinJoin, blue: peel chain, "
                   "green: split, purple: consolidation. Hover for amounts and patterns.</p>\n");
        write_entity_svg(doc, f);
        write_entity_table(doc, f);
    } else {
        fprintf(f, "</table>\n<h2>Flow to the %d largest endpoints</h2>\n",
                (int)(json_array_size(eps) < HTML_ENDPOINT_DRAWN ? json_array_size(eps)
                                                                 : HTML_ENDPOINT_DRAWN));
        fprintf(f, "<p>Columns are hops from the seeds; orange: CoinJoin, blue: peel-chain step. "
                   "Hover for amounts.</p>\n");
        write_svg(doc, f);
    }
    fprintf(f,
            "<h2>Endpoints (%zu, largest first)</h2>\n<table>\n<tr><th>amount (BTC)</th>"
            "<th>category</th><th>address</th><th>labels</th><th>hops</th><th>path</th></tr>\n",
            json_array_size(eps));
    size_t i;
    json_t *ep;
    json_array_foreach(eps, i, ep)
    {
        if (i >= HTML_ENDPOINT_ROWS) break;
        fprintf(f, "<tr><td class=\"n\">");
        btc(f, num(ep, "amount"));
        fprintf(f, "</td><td>");
        esc(f, str(ep, "category"));
        fprintf(f, "</td><td class=\"m\">");
        esc(f, str(ep, "address"));
        fprintf(f, "</td><td>");
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(ep, "labels"), j, l)
        {
            if (j) fprintf(f, "<br>");
            esc(f, str(l, "name"));
            fprintf(f, " (");
            esc(f, str(l, "source"));
            fprintf(f, ")");
        }
        json_t *path = json_object_get(ep, "path");
        fprintf(f, "</td><td class=\"n\">%zu</td><td class=\"m\"><details><summary>txids</summary>",
                json_array_size(path));
        json_t *t;
        json_array_foreach(path, j, t)
        {
            esc(f, json_string_value(t));
            fprintf(f, "<br>");
        }
        fprintf(f, "</details></td></tr>\n");
    }
    fprintf(f, "</table>\n");
    if (json_array_size(eps) > HTML_ENDPOINT_ROWS)
        fprintf(f, "<p>%zu more endpoints in the JSON output.</p>\n",
                json_array_size(eps) - HTML_ENDPOINT_ROWS);
    fprintf(f, "</body></html>\n");
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}

/* ---- the entity graph ---- */

static int has_pattern(json_t *e, const char *name)
{
    size_t k;
    json_t *p;
    json_array_foreach(json_object_get(e, "patterns"), k, p)
    {
        if (!strcmp(json_string_value(p), name)) return 1;
    }
    return 0;
}

static const char *edge_color(json_t *e)
{
    if (has_pattern(e, "coinjoin")) return "#f46d43";
    if (has_pattern(e, "peel")) return "#4393c3";
    if (has_pattern(e, "split")) return "#1a9850";
    if (has_pattern(e, "consolidate")) return "#762a83";
    return "#999999";
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

static void write_entity_svg(json_t *doc, FILE *f)
{
    json_t *g = json_object_get(doc, "graph"), *nodes = json_object_get(g, "nodes"),
           *edges = json_object_get(g, "edges");
    int fwd = !strcmp(str(doc, "direction"), "forward");
    size_t nn = json_array_size(nodes), ne = json_array_size(edges);
    json_t *index = json_object();
    gdraw *d = calloc(nn ? nn : 1, sizeof *d);
    size_t *order = malloc((nn ? nn : 1) * sizeof *order);
    size_t *ef = malloc((ne ? ne : 1) * sizeof *ef), *et = malloc((ne ? ne : 1) * sizeof *et);
    if (!index || !d || !order || !ef || !et) goto out;
    size_t i;
    json_t *n, *e;
    json_array_foreach(nodes, i, n)
    {
        json_object_set_new(index, str(n, "id"), json_integer((json_int_t)i));
        long long rcv = num(n, "received"), sd = num(n, "seeded");
        d[i].weight = rcv > sd ? rcv : sd;
        d[i].col = sd ? 0 : -1;
        order[i] = i;
    }
    json_array_foreach(edges, i, e)
    {
        ef[i] = (size_t)json_integer_value(json_object_get(index, str(e, "from")));
        et[i] = (size_t)json_integer_value(json_object_get(index, str(e, "to")));
    }
    /* Columns: shortest distance from the seeds' holders, along the money forward and against
     * it backward (relaxation; the graph is small next to the chain). */
    long maxcol = 0;
    for (int changed = 1, round = 0; changed && round < 1000; round++) {
        changed = 0;
        for (size_t k = 0; k < ne; k++) {
            size_t a = fwd ? ef[k] : et[k], b = fwd ? et[k] : ef[k];
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
        int r = 0;
        for (size_t k = 0; k < ndraw; k++)
            if (d[order[k]].col == c) d[order[k]].row = r++;
        if (r > rows_max) rows_max = r;
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
    json_array_foreach(edges, i, e)
    {
        if (num(e, "value") > vmax) vmax = num(e, "value");
    }
    json_array_foreach(edges, i, e)
    {
        size_t a = ef[i], b = et[i];
        if (!d[a].drawn || !d[b].drawn || d[a].col < 0 || d[b].col < 0 || a == b) continue;
        fprintf(f, "<g><title>");
        esc(f, str(e, "from"));
        fprintf(f, " -> ");
        esc(f, str(e, "to"));
        fprintf(f, ": ");
        btc(f, num(e, "value"));
        fprintf(f, " BTC");
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(e, "patterns"), k, p)
        {
            fprintf(f, "%s", k ? ", " : " (");
            esc(f, json_string_value(p));
        }
        fprintf(f,
                "%s</title><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"%.1f\" stroke-opacity=\"0.7\"/></g>\n",
                json_array_size(json_object_get(e, "patterns")) ? ")" : "",
                fwd ? GX(a) + 180 : GX(a), GY(a) + 10, fwd ? GX(b) : GX(b) + 180, GY(b) + 10,
                edge_color(e), 1.0 + 7.0 * (double)num(e, "value") / (double)vmax);
    }
    for (size_t k = 0; k < ndraw; k++) {
        size_t q = order[k];
        if (d[q].col < 0) continue;
        n = json_array_get(nodes, q);
        const char *cat = json_string_value(json_object_get(n, "category"));
        fprintf(f, "<g><title>");
        esc(f, str(n, "id"));
        if (cat) {
            fprintf(f, " ");
            esc(f, cat);
            fprintf(f, " ");
            esc(f, str(n, "name"));
        }
        fprintf(f, ": seeded ");
        btc(f, num(n, "seeded"));
        fprintf(f, ", received ");
        btc(f, num(n, "received"));
        fprintf(f, ", to endpoints ");
        btc(f, num(n, "to_endpoint"));
        fprintf(f,
                " BTC</title><rect x=\"%d\" y=\"%d\" width=\"180\" height=\"20\" rx=\"4\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"%d\" fill=\"%s\">",
                GX(q), GY(q),
                cat                ? category_color(cat)
                : num(n, "seeded") ? "#333333"
                                   : "#e0e0e0",
                GX(q) + 4, GY(q) + 14, cat || num(n, "seeded") ? "white" : "black");
        if (cat) {
            esc(f, cat);
            fprintf(f, " ");
            char name[24];
            snprintf(name, sizeof name, "%s", str(n, "name"));
            esc(f, name);
        } else {
            char id[24];
            snprintf(id, sizeof id, "%s", str(n, "id"));
            esc(f, id);
        }
        fprintf(f, "</text></g>\n");
    }
#undef GX
#undef GY
    fprintf(f, "</svg>\n");
out:
    json_decref(index);
    free(d);
    free(order);
    free(ef);
    free(et);
}

static void write_entity_table(json_t *doc, FILE *f)
{
    json_t *g = json_object_get(doc, "graph"), *edges = json_object_get(g, "edges");
    fprintf(f,
            "<h2>Largest flows (%zu, %s level)</h2>\n<table>\n<tr><th>value (BTC)</th>"
            "<th>from</th><th>to</th><th>outputs</th><th>patterns</th></tr>\n",
            json_array_size(edges), str(g, "level"));
    size_t i;
    json_t *e;
    json_array_foreach(edges, i, e)
    {
        if (i >= HTML_GRAPH_ROWS) break;
        fprintf(f, "<tr><td class=\"n\">");
        btc(f, num(e, "value"));
        fprintf(f, "</td><td class=\"m\">");
        esc(f, str(e, "from"));
        fprintf(f, "</td><td class=\"m\">");
        esc(f, str(e, "to"));
        fprintf(f, "</td><td class=\"n\">%lld</td><td>", num(e, "outputs"));
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(e, "patterns"), k, p)
        {
            if (k) fprintf(f, ", ");
            esc(f, json_string_value(p));
        }
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
}
