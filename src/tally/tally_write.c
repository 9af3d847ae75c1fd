/* tally: the text, JSON and CSV writers over a tally_result. Actor and exchange names come from
 * incident files and label sets: the text writer escapes terminal controls, the CSV defuses
 * formulas, JSON escapes by itself. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../labels/labels.h"
#include "tally.h"

/* Whether a group has anything for asset a. */
static int asset_used(const tally_group *g, size_t a)
{
    if (!evm_u256_is_zero(&g->stolen[a]) || !evm_u256_is_zero(&g->arrived[a])) return 1;
    for (size_t i = 0; i < g->n_dests; i++)
        if (g->dests[i].asset == a) return 1;
    return 0;
}

static void kind_total(const tally_group *g, size_t a, int kind, evm_u256 *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < g->n_dests; i++)
        if (g->dests[i].asset == a && g->dests[i].kind == kind)
            evm_u256_add(out, out, &g->dests[i].amount);
}

static void usd_text(char *out, size_t cap, int64_t cents)
{
    snprintf(out, cap, "%" PRId64 ".%02d", cents / 100, (int)(cents % 100));
}

static const char *group_title(const tally_group *g, char *buf, size_t cap, int total)
{
    if (total) return "All incidents";
    char a[LABELS_ESC_BUF], c[LABELS_ESC_BUF];
    snprintf(buf, cap, "%s%s%s%s%s", g->actor ? labels_text_escape(a, sizeof a, g->actor) : "",
             g->actor && (g->year || g->chain) ? ", " : "", g->year ? g->year : "",
             g->year && g->chain ? ", " : "",
             g->chain ? labels_text_escape(c, sizeof c, g->chain) : "");
    return buf;
}

/* ---------------- text ---------------- */

static void text_group(const tally_result *r, const tally_group *g, FILE *f, int total)
{
    char t[4096], u[128], v[128];
    fprintf(f, "%s: %zu incident%s (%zu traced)", group_title(g, t, sizeof t, total), g->incidents,
            g->incidents == 1 ? "" : "s", g->traced);
    if (g->usd_incidents) {
        usd_text(u, sizeof u, g->usd_cents);
        fprintf(f, "; USD %s as stated by the sources of %zu of them", u, g->usd_incidents);
    }
    fputc('\n', f);
    size_t shown = 0;
    for (size_t a = 0; a < r->n_assets; a++) {
        if (!asset_used(g, a)) continue;
        shown++;
        const tally_asset *as = &r->assets[a];
        tally_units(u, sizeof u, &g->stolen[a], as->decimals);
        fprintf(f, "  %s (%s): stolen %s", as->symbol, as->chain, u);
        if (!evm_u256_is_zero(&g->arrived[a])) {
            tally_units(v, sizeof v, &g->arrived[a], as->decimals);
            fprintf(f, ", arrived from other assets %s", v);
        }
        fputc('\n', f);
        for (int k = 0; k < TALLY_NKINDS; k++) {
            evm_u256 sum;
            kind_total(g, a, k, &sum);
            if (evm_u256_is_zero(&sum)) continue;
            tally_units(u, sizeof u, &sum, as->decimals);
            fprintf(f, "    %-10s %22s", tally_kind_name(k), u);
            int named = 0;
            for (size_t i = 0; i < g->n_dests; i++) {
                const tally_dest *d = &g->dests[i];
                if (d->asset != a || d->kind != k) continue;
                if (!*d->name && k != TALLY_BRIDGE && k != TALLY_SWAP) continue;
                char e[LABELS_ESC_BUF];
                tally_units(v, sizeof v, &d->amount, as->decimals);
                if (k == TALLY_BRIDGE || k == TALLY_SWAP)
                    fprintf(f, "%s to %s %s", named++ ? "," : "  ", *d->name ? d->name : "?", v);
                else
                    fprintf(f, "%s %s %s", named++ ? "," : " ",
                            labels_text_escape(e, sizeof e, d->name), v);
            }
            if (k == TALLY_UNSPENT) fputs("  (could still be frozen)", f);
            fputc('\n', f);
        }
    }
    if (!shown && g->incidents) fputs("  no amounts: no seed in a store\n", f);
}

int tally_write_text(const tally_result *r, FILE *f, util_err *err)
{
    (void)err;
    fprintf(f, "Theft tally: %zu incident%s (%zu traced)", r->total.incidents,
            r->total.incidents == 1 ? "" : "s", r->total.traced);
    if (r->by) {
        fputs(", by", f);
        int first = 1;
        if (r->by & TALLY_BY_ACTOR) fputs(" actor", f), first = 0;
        if (r->by & TALLY_BY_YEAR) fprintf(f, "%s year", first ? "" : ","), first = 0;
        if (r->by & TALLY_BY_CHAIN) fprintf(f, "%s chain", first ? "" : ",");
    }
    fputs("\n\n", f);
    if (r->by)
        for (size_t i = 0; i < r->n_groups; i++) {
            text_group(r, &r->groups[i], f, 0);
            fputc('\n', f);
        }
    text_group(r, &r->total, f, 1);
    return 0;
}

/* ---------------- JSON ---------------- */

static json_t *amount_json(const evm_u256 *v)
{
    char d[EVM_U256_DEC_MAX];
    evm_u256_format(d, v);
    return json_string(d);
}

static json_t *group_json(const tally_result *r, const tally_group *g)
{
    json_t *o = json_object(), *assets = json_array(), *ids = json_array();
    if (!o || !assets || !ids) goto oom;
    if (g->actor) json_object_set_new(o, "actor", json_string(g->actor));
    if (g->year) json_object_set_new(o, "year", json_string(g->year));
    if (g->chain) json_object_set_new(o, "chain", json_string(g->chain));
    json_object_set_new(o, "incidents", json_integer((json_int_t)g->incidents));
    json_object_set_new(o, "traced", json_integer((json_int_t)g->traced));
    for (size_t i = 0; i < g->incidents; i++)
        json_array_append_new(ids, json_string(g->ids[i]));
    json_object_set_new(o, "ids", ids);
    char u[64];
    usd_text(u, sizeof u, g->usd_cents);
    json_object_set_new(o, "usd", g->usd_incidents ? json_string(u) : json_null());
    json_object_set_new(o, "usd_incidents", json_integer((json_int_t)g->usd_incidents));
    for (size_t a = 0; a < r->n_assets; a++) {
        if (!asset_used(g, a)) continue;
        const tally_asset *as = &r->assets[a];
        json_t *x = json_object(), *dest = json_object();
        json_object_set_new(x, "chain", json_string(as->chain));
        json_object_set_new(x, "asset", json_string(as->asset));
        json_object_set_new(x, "symbol", json_string(as->symbol));
        json_object_set_new(x, "decimals", json_integer(as->decimals));
        json_object_set_new(x, "stolen", amount_json(&g->stolen[a]));
        json_object_set_new(x, "arrived", amount_json(&g->arrived[a]));
        for (int k = 0; k < TALLY_NKINDS; k++) {
            evm_u256 sum;
            kind_total(g, a, k, &sum);
            if (k > TALLY_MIXER) {
                json_object_set_new(dest, tally_kind_name(k), amount_json(&sum));
                continue;
            }
            json_t *by = json_object();
            for (size_t i = 0; i < g->n_dests; i++) {
                const tally_dest *d = &g->dests[i];
                if (d->asset == a && d->kind == k)
                    json_object_set_new(by, *d->name ? d->name : "unknown",
                                        amount_json(&d->amount));
            }
            int chains = k == TALLY_BRIDGE || k == TALLY_SWAP;
            json_object_set_new(dest, tally_kind_name(k),
                                json_pack("{s:o,s:o}", "total", amount_json(&sum),
                                          chains ? "by_chain" : "by_name", by));
        }
        json_object_set_new(x, "destinations", dest);
        json_array_append_new(assets, x);
    }
    json_object_set_new(o, "assets", assets);
    return o;
oom:
    json_decref(o), json_decref(assets), json_decref(ids);
    return NULL;
}

int tally_json(const tally_result *r, json_t **out, util_err *err)
{
    json_t *by = json_array(), *assets = json_array(), *groups = json_array(),
           *years = json_array();
    if (r->by & TALLY_BY_ACTOR) json_array_append_new(by, json_string("actor"));
    if (r->by & TALLY_BY_YEAR) json_array_append_new(by, json_string("year"));
    if (r->by & TALLY_BY_CHAIN) json_array_append_new(by, json_string("chain"));
    for (size_t a = 0; assets && a < r->n_assets; a++)
        json_array_append_new(assets,
                              json_pack("{s:s,s:s,s:s,s:i}", "chain", r->assets[a].chain, "asset",
                                        r->assets[a].asset, "symbol", r->assets[a].symbol,
                                        "decimals", r->assets[a].decimals));
    for (size_t i = 0; groups && r->by && i < r->n_groups; i++)
        json_array_append_new(groups, group_json(r, &r->groups[i]));
    for (size_t i = 0; years && i < r->n_years; i++)
        json_array_append_new(years, group_json(r, &r->years[i]));
    *out =
        json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "report", "thefts", "by", by, "assets", assets,
                  "groups", groups, "total", group_json(r, &r->total), "by_year_and_actor", years);
    if (!*out) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

/* ---------------- CSV ---------------- */

static void cell(FILE *f, const char *s, int first)
{
    if (!first) fputc(',', f);
    fputc('"', f);
    if (s && *s && strchr("=+-@\t\r", *s)) fputc('\'', f); /* not a formula in a spreadsheet */
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const tally_group *g, int total, const char *usd,
                    const tally_asset *as, const char *kind, const char *name, const evm_u256 *v)
{
    char n[16], d[EVM_U256_DEC_MAX], u[128];
    cell(f, total ? "(total)" : g->actor ? g->actor : "", 1);
    cell(f, total ? "(total)" : g->year ? g->year : "", 0);
    cell(f, total ? "(total)" : g->chain ? g->chain : "", 0);
    snprintf(n, sizeof n, "%zu", g->incidents);
    cell(f, n, 0);
    snprintf(n, sizeof n, "%zu", g->traced);
    cell(f, n, 0);
    cell(f, usd, 0);
    cell(f, as->chain, 0);
    cell(f, as->asset, 0);
    cell(f, as->symbol, 0);
    snprintf(n, sizeof n, "%d", as->decimals);
    cell(f, n, 0);
    cell(f, kind, 0);
    cell(f, name, 0);
    evm_u256_format(d, v);
    cell(f, d, 0);
    tally_units(u, sizeof u, v, as->decimals);
    cell(f, u, 0);
    fputs("\r\n", f);
}

static void csv_group(const tally_result *r, const tally_group *g, FILE *f, int total)
{
    char usd[64] = "";
    if (g->usd_incidents) usd_text(usd, sizeof usd, g->usd_cents);
    for (size_t a = 0; a < r->n_assets; a++) {
        if (!asset_used(g, a)) continue;
        const tally_asset *as = &r->assets[a];
        csv_row(f, g, total, usd, as, "stolen", "", &g->stolen[a]);
        csv_row(f, g, total, usd, as, "arrived", "", &g->arrived[a]);
        for (size_t i = 0; i < g->n_dests; i++)
            if (g->dests[i].asset == a)
                csv_row(f, g, total, usd, as, tally_kind_name(g->dests[i].kind), g->dests[i].name,
                        &g->dests[i].amount);
    }
}

int tally_write_csv(const tally_result *r, FILE *f, util_err *err)
{
    (void)err;
    fputs("actor,year,chain,incidents,traced,usd,asset_chain,asset,symbol,decimals,kind,name,"
          "amount,amount_units\r\n",
          f);
    for (size_t i = 0; r->by && i < r->n_groups; i++)
        csv_group(r, &r->groups[i], f, 0);
    csv_group(r, &r->total, f, 1);
    return 0;
}
