/* case: the writers over a case_full: the whole case as JSON, the HTML evidence report and the
 * endpoints as CSV. Everything they print comes from the typed case; labels, notes and names are
 * third parties' text, so the HTML escapes every byte of it and the CSV defuses formulas. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "case_int.h"

/* ---------------- decimal amounts ---------------- */

/* acc += x for decimal digit strings (acc holds at least 80 bytes: 2^256 has 78 digits). */
static void dec_add(char acc[80], const char *x)
{
    char r[82];
    size_t la = strlen(acc), lx = strlen(x), n = (la > lx ? la : lx) + 1;
    if (n > 79) return; /* beyond any amount a trace gives */
    int carry = 0;
    r[n] = 0;
    for (size_t i = 0; i < n; i++) {
        int d = carry;
        if (i < la) d += acc[la - 1 - i] - '0';
        if (i < lx) d += x[lx - 1 - i] - '0';
        r[n - 1 - i] = (char)('0' + d % 10);
        carry = d / 10;
    }
    const char *p = r;
    while (p[0] == '0' && p[1])
        p++;
    memmove(acc, p, strlen(p) + 1); /* n <= 80 digits: fits */
}

/* -1, 0, 1 for decimal digit strings without leading zeros. */
static int dec_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

static double share(const char *amount, const char *of)
{
    double d = of ? strtod(of, NULL) : 0;
    return d > 0 ? 100.0 * strtod(amount, NULL) / d : -1;
}

/* The seeded amount of an asset in a run's totals, or NULL. */
static const char *run_seeded(const case_run *r, const char *asset)
{
    for (size_t i = 0; i < r->n_totals; i++)
        if (!strcmp(r->totals[i].asset, asset) && !strcmp(r->totals[i].bucket, "seeded"))
            return r->totals[i].amount;
    return NULL;
}

/* ---------------- the actor table ---------------- */

/* Endpoints grouped by who is behind them: the label's actor, else its name; per asset. */

static const char *actor_key(const case_endpoint *e)
{
    return *e->actor ? e->actor : *e->name ? e->name : "(unnamed)";
}

static int cmp_actor(const void *x, const void *y)
{
    const case_actor *a = x, *b = y;
    int c = strcmp(a->asset, b->asset);
    if (c) return c;
    c = dec_cmp(b->amount, a->amount);
    return c ? c : strcmp(a->actor, b->actor);
}

void case_actors_free(case_actor *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].members);
    free(rows);
}

int case_run_actors(const case_run *r, case_actor **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    case_actor *rows = calloc(r->n_endpoints ? r->n_endpoints : 1, sizeof *rows);
    if (!rows) return UTIL_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const case_endpoint *e = &r->endpoints[i];
        const char *k = actor_key(e);
        size_t j = 0;
        while (j < m && (strcmp(rows[j].actor, k) || strcmp(rows[j].asset, e->asset)))
            j++;
        case_actor *a = &rows[j];
        if (j == m) {
            m++;
            a->actor = k, a->asset = e->asset, a->hops = e->hops;
            snprintf(a->amount, sizeof a->amount, "0");
        }
        if (!(a->n_members & (a->n_members - 1))) { /* 0, 1, 2, 4, ...: grow by doubling */
            size_t *nm = realloc(a->members, (a->n_members ? 2 * a->n_members : 1) * sizeof *nm);
            if (!nm) {
                case_actors_free(rows, m);
                return UTIL_ENOMEM;
            }
            a->members = nm;
        }
        dec_add(a->amount, e->amount);
        a->deposits += e->deposits;
        a->addresses++;
        if (e->hops < a->hops) a->hops = e->hops;
        a->members[a->n_members++] = i;
        /* the categories seen, each once */
        size_t cl = strlen(e->category);
        const char *c = a->categories;
        int seen = 0;
        while (*c && !seen) {
            const char *end = strchr(c, ',');
            size_t l = end ? (size_t)(end - c) : strlen(c);
            seen = l == cl && !strncmp(c, e->category, l);
            c += end ? l + 1 : l;
        }
        size_t used = strlen(a->categories);
        if (!seen && used + cl + 2 < sizeof a->categories)
            snprintf(a->categories + used, sizeof a->categories - used, "%s%s", used ? "," : "",
                     e->category);
    }
    qsort(rows, m, sizeof *rows, cmp_actor);
    *out = rows;
    *n = m;
    return 0;
}

/* ---------------- JSON ---------------- */

static json_t *state_json(const case_state *s)
{
    return json_pack("{s:s?,s:o,s:s?,s:s?,s:o}", "btc_tip", *s->btc_tip ? s->btc_tip : NULL,
                     "btc_height", s->btc_height >= 0 ? json_integer(s->btc_height) : json_null(),
                     "evm_chain", *s->evm_chain ? s->evm_chain : NULL, "evm_tip",
                     *s->evm_tip ? s->evm_tip : NULL, "evm_height",
                     s->evm_height >= 0 ? json_integer(s->evm_height) : json_null());
}

static json_t *run_json(const case_run *r)
{
    json_error_t je;
    json_t *result = json_loads(r->result, 0, &je);
    json_t *seeds = json_loads(r->seeds, 0, &je);
    json_t *totals = json_array(), *eps = json_array();
    if (!totals || !eps) goto oom;
    for (size_t i = 0; i < r->n_totals; i++)
        if (json_array_append_new(totals,
                                  json_pack("{s:s,s:s,s:s}", "asset", r->totals[i].asset, "bucket",
                                            r->totals[i].bucket, "amount", r->totals[i].amount)))
            goto oom;
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const case_endpoint *e = &r->endpoints[i];
        if (json_array_append_new(eps, json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:b}",
                                                 "rank", (int)e->rank, "address", e->address,
                                                 "category", e->category, "actor", e->actor, "name",
                                                 e->name, "asset", e->asset, "amount", e->amount,
                                                 "deposits", (json_int_t)e->deposits, "hops",
                                                 (int)e->hops, "via_entity", e->via_entity)))
            goto oom;
    }
    json_t *opts =
        json_pack("{s:s,s:s,s:i,s:s,s:o,s:o,s:I,s:b,s:s}", "policy", r->policy, "direction",
                  r->direction, "hops", (int)r->hops, "min_value", r->min_value, "until",
                  r->until >= 0 ? json_integer(r->until) : json_null(), "until_time",
                  r->until_time >= 0 ? json_integer(r->until_time) : json_null(), "max_visits",
                  (json_int_t)r->max_visits, "follow_mixers", r->follow_mixers, "asset", r->asset);
    json_t *j = json_pack(
        "{s:I,s:o,s:s,s:o,s:o,s:b,s:o,s:s,s:s,s:s,s:s,s:b,s:s,s:o,s:o,s:o}", "id",
        (json_int_t)r->id, "rerun_of", r->rerun_of ? json_integer(r->rerun_of) : json_null(),
        "chain", r->chain, "seeds", seeds ? seeds : json_array(), "options", opts, "clustered",
        r->clustered, "store_state", state_json(&r->state), "labels_digest", r->labels_digest,
        "tool_version", r->tool_version, "run_by", r->run_by, "run_at", r->run_at, "partial",
        r->partial, "command", r->command, "totals", totals, "endpoints", eps, "result",
        result ? result : json_null());
    return j;
oom:
    json_decref(result), json_decref(seeds), json_decref(totals), json_decref(eps);
    return NULL;
}

int case_run_json(const case_run *r, json_t **out, util_err *err)
{
    if (!(*out = run_json(r)))
        return util_errf(err, UTIL_ENOMEM, "out of memory writing run %" PRId64 " as JSON", r->id);
    return 0;
}

int case_full_json(const case_full *c, json_t **out, util_err *err)
{
    *out = NULL;
    const case_info *i = &c->info;
    json_t *doc = json_object(), *a;
    if (!doc) goto oom;
    if (json_object_set_new(doc, "case",
                            json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id",
                                      (json_int_t)i->id, "title", i->title, "incident_date",
                                      i->incident_date, "victim", i->victim, "chains", i->chains,
                                      "description", i->description, "status", i->status,
                                      "created_by", i->created_by, "created_at", i->created_at)))
        goto oom;
    if (!(a = json_array()) || json_object_set_new(doc, "seeds", a)) goto oom;
    for (size_t k = 0; k < c->n_seeds; k++) {
        const case_seed *s = &c->seeds[k];
        if (json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "id",
                                               (json_int_t)s->id, "chain", s->chain, "kind",
                                               s->kind, "spec", s->spec, "note", s->note, "refs",
                                               (json_int_t)s->n_refs, "amount", s->amount,
                                               "added_by", s->added_by, "added_at", s->added_at)))
            goto oom;
    }
    if (!(a = json_array()) || json_object_set_new(doc, "runs", a)) goto oom;
    for (size_t k = 0; k < c->n_runs; k++)
        if (json_array_append_new(a, run_json(&c->runs[k]))) goto oom;
    if (!(a = json_array()) || json_object_set_new(doc, "labels", a)) goto oom;
    for (size_t k = 0; k < c->n_labels; k++) {
        const case_label *l = &c->labels[k];
        if (json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "id",
                                               (json_int_t)l->id, "chain", l->chain, "address",
                                               l->address, "category", l->category, "actor",
                                               l->actor, "name", l->name, "confidence",
                                               l->confidence, "evidence", l->evidence, "author",
                                               l->author, "created_at", l->created_at)))
            goto oom;
    }
    if (!(a = json_array()) || json_object_set_new(doc, "notes", a)) goto oom;
    for (size_t k = 0; k < c->n_notes; k++)
        if (json_array_append_new(a,
                                  json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)c->notes[k].id,
                                            "author", c->notes[k].author, "created_at",
                                            c->notes[k].created_at, "text", c->notes[k].text)))
            goto oom;
    if (!(a = json_array()) || json_object_set_new(doc, "audit", a)) goto oom;
    for (size_t k = 0; k < c->n_audit; k++) {
        const case_audit *x = &c->audit[k];
        json_error_t je;
        json_t *d = json_loads(x->detail, 0, &je);
        if (json_array_append_new(
                a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s}", "id", (json_int_t)x->id, "at",
                             x->at, "analyst", x->analyst, "action", x->action, "command",
                             x->command, "detail", d ? d : json_string(x->detail), "store_state",
                             state_json(&x->state), "prev_hash", x->prev_hash, "hash", x->hash)))
            goto oom;
    }
    if (json_object_set_new(doc, "audit_verified", json_boolean(c->audit_ok)) ||
        json_object_set_new(doc, "audit_first_bad_row",
                            c->audit_ok ? json_null() : json_integer(c->audit_bad_id)))
        goto oom;
    *out = doc;
    return 0;
oom:
    json_decref(doc);
    return util_errf(err, UTIL_ENOMEM, "out of memory writing case %" PRId64 " as JSON",
                     c->info.id);
}

/* ---------------- HTML ---------------- */

/* Text as HTML: & < > " ' escaped (the report puts text in elements only, never in attributes
 * or URLs, so nothing from a label can become markup, a link or a script). */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
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

/* An amount in its unit: satoshis also as BTC. */
static void amount_html(FILE *f, const char *asset, const char *amount)
{
    esc(f, amount);
    if (!strcmp(asset, "BTC")) {
        uint64_t v = strtoull(amount, NULL, 10);
        fprintf(f, " <span class=u>sat (%" PRIu64 ".%08" PRIu64 " BTC)</span>", v / 100000000,
                v % 100000000);
    }
}

static void td(FILE *f, const char *s)
{
    fputs("<td>", f);
    esc(f, s);
    fputs("</td>", f);
}

static void td_mono(FILE *f, const char *s)
{
    fputs("<td class=m>", f);
    esc(f, s);
    fputs("</td>", f);
}

static void state_html(FILE *f, const case_state *s)
{
    if (s->btc_height >= 0) {
        fprintf(f, "btc height %" PRId64 ", tip <span class=m>", s->btc_height);
        esc(f, s->btc_tip);
        fputs("</span>", f);
    }
    if (s->evm_height >= 0) {
        fputs(s->btc_height >= 0 ? "; " : "", f);
        esc(f, s->evm_chain);
        fprintf(f, " block %" PRId64 ", tip <span class=m>", s->evm_height);
        esc(f, s->evm_tip);
        fputs("</span>", f);
    }
    if (s->btc_height < 0 && s->evm_height < 0) fputs("no chain store", f);
}

static const char css[] =
    "@page{size:A4;margin:14mm 12mm}"
    "body{font:10pt/1.35 sans-serif;color:#000;max-width:190mm;margin:1em auto}"
    "h1{font-size:16pt;margin:0 0 4pt}h2{font-size:13pt;margin:14pt 0 4pt;border-bottom:1pt solid "
    "#000}"
    "h3{font-size:11pt;margin:10pt 0 3pt}h2,h3{break-after:avoid}"
    "table{border-collapse:collapse;width:100%;margin:3pt 0 8pt}"
    "th,td{border:.5pt solid #888;padding:2pt 4pt;vertical-align:top;text-align:left}"
    "th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}"
    "td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
    ".m,pre{font-family:monospace;font-size:8.5pt;word-break:break-all}"
    "pre{white-space:pre-wrap;background:#f3f3f3;padding:4pt;margin:2pt 0 6pt}"
    ".u{color:#555;font-size:8.5pt}.sub td{background:#fafafa;font-size:9pt}"
    ".txt{white-space:pre-wrap}.bad{color:#a00;font-weight:bold}.ok{color:#060}"
    "@media print{a{color:#000;text-decoration:none}}";

#define HTML_MEMBERS_MAX 50 /* addresses listed under one actor (the CSV has them all) */

static void run_html(FILE *f, const case_run *r, const case_actor *actors, size_t n_actors)
{
    fprintf(f, "<h3>Run %" PRId64 ": ", r->id);
    esc(f, r->chain);
    fputs(", ", f);
    esc(f, r->direction);
    fputs(", ", f);
    esc(f, r->policy);
    fprintf(f, ", %u hops", r->hops);
    if (r->rerun_of) fprintf(f, " (a re-run of run %" PRId64 ")", r->rerun_of);
    fputs("</h3>\n<table><tbody>", f);
    fputs("<tr><th>run by</th>", f);
    td(f, r->run_by);
    fputs("</tr><tr><th>at (UTC)</th>", f);
    td(f, r->run_at);
    fputs("</tr><tr><th>store state</th><td>", f);
    state_html(f, &r->state);
    fputs("</td></tr><tr><th>label set (SHA-256)</th>", f);
    td_mono(f, r->labels_digest);
    fputs("</tr><tr><th>seeds</th>", f);
    td_mono(f, r->seeds);
    fputs("</tr><tr><th>options</th><td>policy ", f);
    esc(f, r->policy);
    fputs(", direction ", f);
    esc(f, r->direction);
    fprintf(f, ", hops %u, min value ", r->hops);
    esc(f, r->min_value);
    fprintf(f,
            ", until %" PRId64 ", until time %" PRId64 ", cap %" PRIu64
            ", through mixers %s, asset ",
            r->until, r->until_time, r->max_visits, r->follow_mixers ? "yes" : "no");
    esc(f, r->asset);
    fprintf(f, "%s</td></tr>", r->clustered ? ", entities" : "");
    fputs("<tr><th>cointrail</th>", f);
    td(f, r->tool_version);
    fprintf(f, "</tr>%s</tbody></table>\n",
            r->partial ? "<tr><th>partial</th><td class=bad>the visit cap was reached: amounts "
                         "are lower bounds</td></tr>"
                       : "");
    fputs("<p>Reproduce:</p><pre>", f);
    esc(f, r->command);
    fputs("</pre>\n<table><thead><tr><th>asset</th><th>bucket</th><th>amount</th><th>of "
          "seeded</th></tr></thead><tbody>",
          f);
    for (size_t i = 0; i < r->n_totals; i++) {
        const case_total *t = &r->totals[i];
        if (!strcmp(t->amount, "0") && strcmp(t->bucket, "seeded") &&
            strcmp(t->bucket, "to_endpoints"))
            continue;
        fputs("<tr>", f);
        td(f, t->asset);
        td(f, t->bucket);
        fputs("<td class=n>", f);
        amount_html(f, t->asset, t->amount);
        double sh = share(t->amount, run_seeded(r, t->asset));
        if (sh >= 0)
            fprintf(f, "</td><td class=n>%.2f%%</td></tr>", sh);
        else
            fputs("</td><td></td></tr>", f);
    }
    fputs("</tbody></table>\n", f);
    fprintf(f, "<p>Endpoints by actor: %zu actor(s), %zu address(es).</p>\n", n_actors,
            r->n_endpoints);
    if (!n_actors) return;
    fputs("<table><thead><tr><th>actor</th><th>category</th><th>amount</th><th>of "
          "seeded</th><th>deposits</th><th>addresses</th><th>hops</th></tr></thead><tbody>",
          f);
    for (size_t i = 0; i < n_actors; i++) {
        const case_actor *a = &actors[i];
        fputs("<tr><td><b>", f);
        esc(f, a->actor);
        fputs("</b></td>", f);
        td(f, a->categories);
        fputs("<td class=n>", f);
        amount_html(f, a->asset, a->amount);
        if (strcmp(a->asset, "BTC")) {
            fputs(" ", f);
            esc(f, a->asset);
        }
        double sh = share(a->amount, run_seeded(r, a->asset));
        fprintf(f, "</td><td class=n>");
        if (sh >= 0) fprintf(f, "%.2f%%", sh);
        fprintf(f, "</td><td class=n>%" PRIu64 "</td><td class=n>%zu</td><td class=n>%u</td></tr>",
                a->deposits, a->addresses, a->hops);
        for (size_t k = 0; k < a->n_members && k < HTML_MEMBERS_MAX; k++) {
            const case_endpoint *e = &r->endpoints[a->members[k]];
            fputs("<tr class=sub><td class=m>", f);
            esc(f, e->address);
            fputs("</td><td>", f);
            esc(f, e->category);
            if (strcmp(e->name, a->actor)) {
                fputs(": ", f);
                esc(f, e->name);
            }
            if (e->via_entity) fputs(" (via its entity)", f);
            fputs("</td><td class=n>", f);
            amount_html(f, e->asset, e->amount);
            fprintf(f,
                    "</td><td></td><td class=n>%" PRIu64 "</td><td></td><td class=n>%u</td></tr>",
                    e->deposits, e->hops);
        }
        if (a->n_members > HTML_MEMBERS_MAX)
            fprintf(f,
                    "<tr class=sub><td colspan=7>... %zu more address(es): `cointrail case export "
                    "%" PRId64 " --format csv`</td></tr>",
                    a->n_members - HTML_MEMBERS_MAX, r->case_id);
    }
    fputs("</tbody></table>\n", f);
}

int case_write_html(const case_full *c, FILE *f, util_err *err)
{
    const case_info *i = &c->info;
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<meta name=referrer content=no-referrer>\n<title>Case ",
          f);
    fprintf(f, "%" PRId64 ": ", i->id);
    esc(f, i->title);
    fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>Case %" PRId64 ": ", css, i->id);
    esc(f, i->title);
    fputs("</h1>\n", f);
    if (c->n_audit) { /* the last row is this read */
        const case_audit *me = &c->audit[c->n_audit - 1];
        fputs("<p class=u>Report of audit row ", f);
        fprintf(f, "%" PRId64 ": ", me->id);
        esc(f, me->action);
        fputs(" by ", f);
        esc(f, me->analyst);
        fputs(" at ", f);
        esc(f, me->at);
        fputs(" UTC on ", f);
        state_html(f, &me->state);
        fputs(". Row hash <span class=m>", f);
        esc(f, me->hash);
        fputs("</span>.</p>\n", f);
    }
    fputs("<h2>Incident</h2><table><tbody><tr><th>status</th>", f);
    td(f, i->status);
    fputs("</tr><tr><th>incident date</th>", f);
    td(f, i->incident_date);
    fputs("</tr><tr><th>victim</th>", f);
    td(f, i->victim);
    fputs("</tr><tr><th>chains</th>", f);
    td(f, i->chains);
    fputs("</tr><tr><th>opened</th><td>", f);
    esc(f, i->created_at);
    fputs(" by ", f);
    esc(f, i->created_by);
    fputs("</td></tr><tr><th>description</th><td class=txt>", f);
    esc(f, i->description);
    fputs("</td></tr></tbody></table>\n", f);

    fprintf(f, "<h2>Seeds (%zu)</h2>\n", c->n_seeds);
    if (c->n_seeds) {
        fputs("<table><thead><tr><th>#</th><th>chain</th><th>kind</th><th>spec</th><th>refs</"
              "th><th>amount</th><th>added</th><th>note</th></tr></thead><tbody>",
              f);
        for (size_t k = 0; k < c->n_seeds; k++) {
            const case_seed *s = &c->seeds[k];
            fprintf(f, "<tr><td class=n>%" PRId64 "</td>", s->id);
            td(f, s->chain);
            td(f, s->kind);
            td_mono(f, s->spec);
            fprintf(f, "<td class=n>%" PRIu64 "</td><td class=n>", s->n_refs);
            if (*s->amount) amount_html(f, "BTC", s->amount);
            fputs("</td><td>", f);
            esc(f, s->added_at);
            fputs(" ", f);
            esc(f, s->added_by);
            fputs("</td><td class=txt>", f);
            esc(f, s->note);
            fputs("</td></tr>", f);
        }
        fputs("</tbody></table>\n", f);
    }

    fprintf(f, "<h2>Trace runs (%zu)</h2>\n", c->n_runs);
    for (size_t k = 0; k < c->n_runs; k++) {
        case_actor *actors;
        size_t n_actors;
        if (case_run_actors(&c->runs[k], &actors, &n_actors))
            return util_errf(err, UTIL_ENOMEM, "out of memory writing case %" PRId64, i->id);
        run_html(f, &c->runs[k], actors, n_actors);
        case_actors_free(actors, n_actors);
    }

    fprintf(f, "<h2>Analyst labels (%zu)</h2>\n", c->n_labels);
    if (c->n_labels) {
        fputs("<table><thead><tr><th>#</th><th>chain</th><th>address</th><th>category</"
              "th><th>actor</th><th>name</th><th>confidence</th><th>author, time</"
              "th><th>evidence</th></tr></thead><tbody>",
              f);
        for (size_t k = 0; k < c->n_labels; k++) {
            const case_label *l = &c->labels[k];
            fprintf(f, "<tr><td class=n>%" PRId64 "</td>", l->id);
            td(f, l->chain);
            td_mono(f, l->address);
            td(f, l->category);
            td(f, l->actor);
            td(f, l->name);
            fprintf(f, "<td class=n>%d</td><td>", l->confidence);
            esc(f, l->author);
            fputs(", ", f);
            esc(f, l->created_at);
            fputs("</td><td class=txt>", f);
            esc(f, l->evidence);
            fputs("</td></tr>", f);
        }
        fputs("</tbody></table>\n", f);
    }

    fprintf(f, "<h2>Notes (%zu)</h2>\n", c->n_notes);
    for (size_t k = 0; k < c->n_notes; k++) {
        fprintf(f, "<h3>Note %" PRId64 ", ", c->notes[k].id);
        esc(f, c->notes[k].author);
        fputs(", ", f);
        esc(f, c->notes[k].created_at);
        fputs("</h3><div class=txt>", f);
        esc(f, c->notes[k].text);
        fputs("</div>\n", f);
    }

    fprintf(f, "<h2>Audit log (%zu rows of this case)</h2>\n", c->n_audit);
    if (c->audit_ok)
        fputs("<p class=ok>Hash chain verified: every row of the whole log hashes to what its "
              "fields and the previous row's hash give.</p>\n",
              f);
    else
        fprintf(f,
                "<p class=bad>Hash chain BROKEN at row %" PRId64
                ": the log was altered after it was written.</p>\n",
                c->audit_bad_id);
    fputs("<table><thead><tr><th>#</th><th>time (UTC)</th><th>analyst</th><th>action</"
          "th><th>command</th><th>store state</th><th>hash</th></tr></thead><tbody>",
          f);
    for (size_t k = 0; k < c->n_audit; k++) {
        const case_audit *a = &c->audit[k];
        fprintf(f, "<tr><td class=n>%" PRId64 "</td>", a->id);
        td(f, a->at);
        td(f, a->analyst);
        td(f, a->action);
        td_mono(f, a->command);
        fputs("<td>", f);
        state_html(f, &a->state);
        fputs("</td><td class=m>", f);
        esc(f, a->hash);
        fputs("</td></tr>", f);
    }
    fputs("</tbody></table>\n</body></html>\n", f);
    if (ferror(f)) return util_errf(err, UTIL_EIO, "writing the report failed");
    return 0;
}

/* ---------------- CSV ---------------- */

static void csv_cell(FILE *f, const char *s, int first)
{
    if (!first) fputc(',', f);
    fputc('"', f);
    /* a cell a spreadsheet would read as a formula gets a leading quote (OWASP's advice) */
    if (strchr("=+-@\t\r", *s) && *s) fputc('\'', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int case_write_csv(const case_full *c, FILE *f, util_err *err)
{
    fputs("case,run,chain,rank,address,category,actor,name,asset,amount,deposits,hops\r\n", f);
    for (size_t k = 0; k < c->n_runs; k++) {
        const case_run *r = &c->runs[k];
        for (size_t i = 0; i < r->n_endpoints; i++) {
            const case_endpoint *e = &r->endpoints[i];
            fprintf(f, "%" PRId64 ",%" PRId64 ",", c->info.id, r->id);
            csv_cell(f, r->chain, 1);
            fprintf(f, ",%u,", e->rank);
            csv_cell(f, e->address, 1);
            csv_cell(f, e->category, 0);
            csv_cell(f, e->actor, 0);
            csv_cell(f, e->name, 0);
            csv_cell(f, e->asset, 0);
            fprintf(f, ",%s,%" PRIu64 ",%u\r\n", e->amount, e->deposits, e->hops);
        }
    }
    if (ferror(f)) return util_errf(err, UTIL_EIO, "writing the CSV failed");
    return 0;
}
