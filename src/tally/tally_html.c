/* tally: one self-contained HTML page over a tally_result: a bar chart of what was stolen per
 * year (stacked by actor: the USD the sources state, and each asset), a flow chart per asset of
 * where the funds went (stolen -> kind of destination -> the named exchanges, desks, mixers and
 * the chains bridges and swaps took them to), and the groups as tables. The charts are inline
 * SVG written here; every text from an incident or a label is escaped and only ever element
 * content; a Content-Security-Policy of default-src 'none' forbids scripts and fetches. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

static void esc(FILE *f, const char *s)
{
    util_html_escape(f, s);
}

/* For drawing only: the amount in whole units as a double. */
static double units(const evm_u256 *v, int decimals)
{
    double x = 0;
    for (int i = 3; i >= 0; i--)
        x = x * 18446744073709551616.0 + (double)v->w[i];
    return x / pow(10, decimals);
}

static const char *const palette[] = {"#b2182b", "#2166ac", "#1b7837", "#762a83",
                                      "#e08214", "#35978f", "#8c510a", "#4d4d4d"};
#define NPAL (sizeof palette / sizeof *palette)

static void kind_total(const tally_group *g, size_t a, int kind, evm_u256 *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < g->n_dests; i++)
        if (g->dests[i].asset == a && g->dests[i].kind == kind)
            evm_u256_add(out, out, &g->dests[i].amount);
}

/* ---------------- bar chart per year ---------------- */

/* The distinct years and actors of the year series, in order. */
typedef struct axes {
    const char *year[64], *actor[NPAL];
    size_t n_year, n_actor;
    int other_actors; /* more actors than colours: the rest drawn as one */
} axes;

static void make_axes(const tally_result *r, axes *x)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < r->n_years; i++) {
        const tally_group *g = &r->years[i];
        size_t k = 0;
        while (k < x->n_year && strcmp(x->year[k], g->year))
            k++;
        if (k == x->n_year && x->n_year < 64) x->year[x->n_year++] = g->year;
        k = 0;
        while (k < x->n_actor && strcmp(x->actor[k], g->actor))
            k++;
        if (k == x->n_actor) {
            if (x->n_actor < NPAL - 1)
                x->actor[x->n_actor++] = g->actor;
            else
                x->other_actors = 1;
        }
    }
}

static size_t actor_colour(const axes *x, const char *actor)
{
    for (size_t k = 0; k < x->n_actor; k++)
        if (!strcmp(x->actor[k], actor)) return k;
    return NPAL - 1;
}

/* value of series (asset index, or SIZE_MAX for USD) for one year group */
static double series(const tally_result *r, const tally_group *g, size_t a)
{
    if (a == SIZE_MAX) return (double)g->usd_cents / 100;
    return units(&g->stolen[a], r->assets[a].decimals);
}

static void bar_chart(const tally_result *r, const axes *x, size_t a, FILE *f)
{
    const int W = 760, H = 280, L = 90, B = 40, T = 20;
    double top = 0;
    for (size_t y = 0; y < x->n_year; y++) {
        double s = 0;
        for (size_t i = 0; i < r->n_years; i++)
            if (!strcmp(r->years[i].year, x->year[y])) s += series(r, &r->years[i], a);
        if (s > top) top = s;
    }
    if (top <= 0) return;
    fputs("<figure><figcaption>", f);
    if (a == SIZE_MAX)
        fputs("Stolen per year, USD as the sources state it", f);
    else {
        fputs("Stolen per year, ", f);
        esc(f, r->assets[a].symbol);
        fputs(" (computed from the seeds)", f);
    }
    fprintf(f,
            "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\">",
            W, H, W, H);
    double slot = (double)(W - L - 10) / (double)(x->n_year ? x->n_year : 1);
    double bw = slot * 0.6 < 80 ? slot * 0.6 : 80;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", L, H - B, W - 10,
            H - B);
    char t[128];
    snprintf(t, sizeof t, top >= 1e6 ? "%.0f" : "%.6g", top);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"ax\">", L - 6, T + 4);
    esc(f, t);
    fprintf(f, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"ax\">0</text>", L - 6,
            H - B);
    for (size_t y = 0; y < x->n_year; y++) {
        double cx = L + slot * ((double)y + 0.5), base = H - B;
        for (size_t i = 0; i < r->n_years; i++) {
            const tally_group *g = &r->years[i];
            if (strcmp(g->year, x->year[y])) continue;
            double v = series(r, g, a), h = v / top * (H - B - T);
            if (h <= 0) continue;
            base -= h;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">",
                    cx - bw / 2, base, bw, h, palette[actor_colour(x, g->actor)]);
            fputs("<title>", f);
            esc(f, g->actor);
            snprintf(t, sizeof t, ", %s: %.8g", g->year, v);
            esc(f, t);
            fputs("</title></rect>", f);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"ax\">", cx,
                H - B + 16);
        esc(f, x->year[y]);
        fputs("</text>", f);
    }
    fputs("</svg></figure>\n", f);
}

static void legend(const axes *x, FILE *f)
{
    fputs("<p class=\"legend\">", f);
    for (size_t k = 0; k < x->n_actor; k++) {
        fprintf(f, "<span class=\"sw\" style=\"background:%s\"></span>", palette[k]);
        esc(f, x->actor[k]);
        fputs(" ", f);
    }
    if (x->other_actors)
        fprintf(f, "<span class=\"sw\" style=\"background:%s\"></span>other actors",
                palette[NPAL - 1]);
    fputs("</p>\n", f);
}

/* ---------------- flow chart per asset ---------------- */

typedef struct node {
    char label[160];
    int kind; /* -1: a source */
    double v;
} node;

static void band(FILE *f, double x0, double y0, double x1, double y1, double w, const char *col)
{
    double m = (x0 + x1) / 2;
    fprintf(f,
            "<path d=\"M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f\" stroke=\"%s\" "
            "stroke-width=\"%.2f\" stroke-opacity=\"0.35\" fill=\"none\"/>",
            x0, y0 + w / 2, m, y0 + w / 2, m, y1 + w / 2, x1, y1 + w / 2, col, w < 0.6 ? 0.6 : w);
}

static void node_box(FILE *f, double x, double y, double h, const char *fill, const char *label,
                     const char *amount, int right)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"%.1f\" fill=\"%s\"/>", x, y,
            h < 1 ? 1 : h, fill);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"nl\"%s>", right ? x - 4 : x + 14, y + h / 2 + 4,
            right ? " text-anchor=\"end\"" : "");
    esc(f, label);
    fputs(" ", f);
    esc(f, amount);
    fputs("</text>", f);
}

static void flow_chart(const tally_result *r, const tally_group *g, size_t a, FILE *f)
{
    const tally_asset *as = &r->assets[a];
    double in = units(&g->stolen[a], as->decimals) + units(&g->arrived[a], as->decimals);
    double kinds[TALLY_NKINDS], out = 0;
    for (int k = 0; k < TALLY_NKINDS; k++) {
        evm_u256 s;
        kind_total(g, a, k, &s);
        kinds[k] = units(&s, as->decimals);
        out += kinds[k];
    }
    double total = in > out ? in : out;
    if (total <= 0) return;
    const int W = 1000, H = 440, T = 20, GAP = 6, MINH = 14; /* MINH: room for a label */
    const double X0 = 170, X1 = 450, X2 = 660;
    int n_kinds = 0, n_right = 0;
    for (int k = 0; k < TALLY_NKINDS; k++)
        n_kinds += kinds[k] > 0;
    for (size_t i = 0; i < g->n_dests; i++)
        n_right += g->dests[i].asset == a && g->dests[i].kind <= TALLY_MIXER;
    if (n_right > 24) n_right = 24;
    double avail = H - 2 * T - (GAP + MINH) * (double)(n_kinds > n_right ? n_kinds : n_right);
    double px = avail / total;
    fputs("<figure><figcaption>Where the ", f);
    esc(f, as->symbol);
    fputs(" went</figcaption>", f);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\">",
            W, H, W, H);
    char amt[128];
    /* the sources: stolen, and what arrived from other assets */
    double ys = T, yk = T, yr = T;
    double src_y[2], src_h[2];
    const evm_u256 *srcv[2] = {&g->stolen[a], &g->arrived[a]};
    const char *srcl[2] = {"stolen", "arrived"};
    for (int s = 0; s < 2; s++) {
        src_h[s] = units(srcv[s], as->decimals) * px;
        src_y[s] = ys;
        if (src_h[s] <= 0) continue;
        tally_units(amt, sizeof amt, srcv[s], as->decimals);
        node_box(f, X0 - 10, ys, src_h[s], s ? "#888" : "#b2182b", srcl[s], amt, 1);
        ys += src_h[s] + GAP;
    }
    /* kinds in the middle, fed from the sources in order; named destinations on the right */
    double s_off[2] = {0, 0};
    int s_i = 0;
    for (int k = 0; k < TALLY_NKINDS; k++) {
        if (kinds[k] <= 0) continue;
        double h = kinds[k] * px, fed = 0;
        while (fed < h - 1e-9 && s_i < 2) {
            double room = src_h[s_i] - s_off[s_i];
            if (room <= 1e-9) {
                s_i++;
                continue;
            }
            double w = room < h - fed ? room : h - fed;
            band(f, X0, src_y[s_i] + s_off[s_i], X1, yk + fed, w, palette[k % NPAL]);
            s_off[s_i] += w, fed += w;
        }
        evm_u256 s;
        kind_total(g, a, k, &s);
        tally_units(amt, sizeof amt, &s, as->decimals);
        node_box(f, X1, yk, h, palette[k % NPAL], tally_kind_name(k), amt, 0);
        if (k <= TALLY_MIXER) {
            double off = 0;
            int shown = 0;
            for (size_t i = 0; i < g->n_dests && n_right; i++) {
                const tally_dest *d = &g->dests[i];
                if (d->asset != a || d->kind != k || shown >= 6) continue;
                double dh = units(&d->amount, as->decimals) * px;
                band(f, X1 + 10, yk + off, X2, yr, dh, palette[k % NPAL]);
                char lab[160];
                if (k == TALLY_BRIDGE || k == TALLY_SWAP)
                    snprintf(lab, sizeof lab, "to %s", *d->name ? d->name : "an unknown chain");
                else
                    snprintf(lab, sizeof lab, "%s", *d->name ? d->name : "(unnamed)");
                tally_units(amt, sizeof amt, &d->amount, as->decimals);
                node_box(f, X2, yr, dh, palette[k % NPAL], lab, amt, 0);
                off += dh, yr += (dh < MINH ? MINH : dh) + GAP, shown++;
            }
        }
        yk += (h < MINH ? MINH : h) + GAP;
    }
    fputs("</svg></figure>\n", f);
}

/* ---------------- tables ---------------- */

static void td(FILE *f, const char *s, int num)
{
    fputs(num ? "<td class=\"n\">" : "<td>", f);
    esc(f, s);
    fputs("</td>", f);
}

static void group_rows(const tally_result *r, const tally_group *g, FILE *f, int total)
{
    size_t rows = 0;
    for (size_t a = 0; a < r->n_assets; a++) {
        int used = !evm_u256_is_zero(&g->stolen[a]) || !evm_u256_is_zero(&g->arrived[a]);
        for (size_t i = 0; !used && i < g->n_dests; i++)
            used = g->dests[i].asset == a;
        if (!used) continue;
        char u[128];
        fputs("<tr>", f);
        if (!rows++) {
            if (total)
                td(f, "all incidents", 0);
            else {
                char k[2048];
                snprintf(k, sizeof k, "%s%s%s%s%s", g->actor ? g->actor : "",
                         g->actor && (g->year || g->chain) ? ", " : "", g->year ? g->year : "",
                         g->year && g->chain ? ", " : "", g->chain ? g->chain : "");
                td(f, k, 0);
            }
            snprintf(u, sizeof u, "%zu (%zu traced)", g->incidents, g->traced);
            td(f, u, 1);
            if (g->usd_incidents)
                snprintf(u, sizeof u, "%" PRId64 ".%02d", g->usd_cents / 100,
                         (int)(g->usd_cents % 100));
            else
                snprintf(u, sizeof u, "-");
            td(f, u, 1);
        } else
            fputs("<td></td><td></td><td></td>", f);
        td(f, r->assets[a].symbol, 0);
        tally_units(u, sizeof u, &g->stolen[a], r->assets[a].decimals);
        td(f, u, 1);
        tally_units(u, sizeof u, &g->arrived[a], r->assets[a].decimals);
        td(f, u, 1);
        for (int k = 0; k < TALLY_NKINDS; k++) {
            evm_u256 s;
            kind_total(g, a, k, &s);
            tally_units(u, sizeof u, &s, r->assets[a].decimals);
            td(f, u, 1);
        }
        fputs("</tr>\n", f);
    }
    if (!rows) {
        fputs("<tr>", f);
        td(f, total ? "all incidents" : g->actor ? g->actor : g->year ? g->year : "", 0);
        char u[64];
        snprintf(u, sizeof u, "%zu (%zu traced)", g->incidents, g->traced);
        td(f, u, 1);
        if (g->usd_incidents)
            snprintf(u, sizeof u, "%" PRId64 ".%02d", g->usd_cents / 100,
                     (int)(g->usd_cents % 100));
        else
            snprintf(u, sizeof u, "-");
        td(f, u, 1);
        fputs("<td colspan=\"12\">no amounts: no seed in a store</td></tr>\n", f);
    }
}

static void named_table(const tally_result *r, const tally_group *g, FILE *f)
{
    size_t named = 0;
    for (size_t i = 0; i < g->n_dests; i++)
        named += g->dests[i].kind <= TALLY_MIXER;
    if (!named) {
        fputs("<p>No traced funds reached a labelled service.</p>\n", f);
        return;
    }
    fputs("<table><thead><tr><th>where</th><th>name</th><th>asset</th><th class=\"n\">amount</th>"
          "</tr></thead><tbody>\n",
          f);
    for (size_t i = 0; i < g->n_dests; i++) {
        const tally_dest *d = &g->dests[i];
        if (d->kind > TALLY_MIXER) continue;
        char u[128];
        fputs("<tr>", f);
        td(f, tally_kind_name(d->kind), 0);
        if (d->kind == TALLY_BRIDGE || d->kind == TALLY_SWAP) {
            snprintf(u, sizeof u, "to %s", *d->name ? d->name : "an unknown chain");
            td(f, u, 0);
        } else
            td(f, d->name, 0);
        td(f, r->assets[d->asset].symbol, 0);
        tally_units(u, sizeof u, &d->amount, r->assets[d->asset].decimals);
        td(f, u, 1);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

int tally_write_html(const tally_result *r, FILE *f, util_err *err)
{
    (void)err;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>Theft tally</title>\n<style>\n"
          "body{font:14px/1.4 sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;"
          "vertical-align:top}th{background:#f0f0f0}td.n,th.n{text-align:right;"
          "font-variant-numeric:tabular-nums}.ax{font-size:11px;fill:#444}.nl{font-size:11px;"
          "fill:#222}.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}"
          "figure{margin:1em 0}figcaption{font-weight:bold}"
          "@media print{figure,table{break-inside:avoid}}\n</style></head><body>\n",
          f);
    fprintf(f, "<h1>Theft tally</h1>\n<p>%zu incident%s, %zu traced.", r->total.incidents,
            r->total.incidents == 1 ? "" : "s", r->total.traced);
    if (r->total.usd_incidents)
        fprintf(f, " USD stated by the sources of %zu: %" PRId64 ".%02d.", r->total.usd_incidents,
                r->total.usd_cents / 100, (int)(r->total.usd_cents % 100));
    fputs(" Amounts of each asset are computed from the incidents' seeds in the store; where they "
          "went is what the latest trace of each incident found (unspent: still held, what could "
          "still be frozen).</p>\n",
          f);
    axes x;
    make_axes(r, &x);
    fputs("<h2>Per year</h2>\n", f);
    legend(&x, f);
    if (r->total.usd_incidents) bar_chart(r, &x, SIZE_MAX, f);
    for (size_t a = 0; a < r->n_assets; a++)
        if (!evm_u256_is_zero(&r->total.stolen[a])) bar_chart(r, &x, a, f);
    fputs("<h2>Where the funds went</h2>\n", f);
    for (size_t a = 0; a < r->n_assets; a++)
        flow_chart(r, &r->total, a, f);
    named_table(r, &r->total, f);
    fputs("<h2>Groups</h2>\n<table><thead><tr><th>group</th><th class=\"n\">incidents</th>"
          "<th class=\"n\">USD stated</th><th>asset</th><th class=\"n\">stolen</th>"
          "<th class=\"n\">arrived</th>",
          f);
    for (int k = 0; k < TALLY_NKINDS; k++)
        fprintf(f, "<th class=\"n\">%s</th>", tally_kind_name(k));
    fputs("</tr></thead><tbody>\n", f);
    for (size_t i = 0; r->by && i < r->n_groups; i++)
        group_rows(r, &r->groups[i], f, 0);
    group_rows(r, &r->total, f, 1);
    fputs("</tbody></table>\n<h2>Incidents per group</h2>\n<ul>\n", f);
    const tally_group *gs = r->by ? r->groups : &r->total;
    size_t ng = r->by ? r->n_groups : 1;
    for (size_t i = 0; i < ng; i++) {
        fputs("<li>", f);
        char k[2048];
        const tally_group *g = &gs[i];
        snprintf(k, sizeof k, "%s%s%s%s%s", g->actor ? g->actor : "",
                 g->actor && (g->year || g->chain) ? ", " : "", g->year ? g->year : "",
                 g->year && g->chain ? ", " : "", g->chain ? g->chain : "");
        esc(f, r->by ? k : "all incidents");
        fputs(": ", f);
        for (size_t j = 0; j < g->incidents; j++) {
            if (j) fputs(", ", f);
            esc(f, g->ids[j]);
        }
        fputs("</li>\n", f);
    }
    fputs("</ul>\n</body></html>\n", f);
    return 0;
}
