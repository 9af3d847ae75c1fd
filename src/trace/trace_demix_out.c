/* trace_demix_out: the demixing result as a JSON document and as text (trace_demix.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../btc/btc.h"
#include "trace_int.h"

static char *outpoint(const store *s, uint64_t out, char *buf, size_t n)
{
    char h[65];
    uint64_t tx = store_output_tx(s, out);
    util_hash_hex(h, store_tx_hash(s, tx));
    snprintf(buf, n, "%s:%" PRIu64, h, out - store_tx_first_out(s, tx));
    return buf;
}

static json_t *jout(const store *s, uint64_t out)
{
    char b[100];
    return out == STORE_NONE ? json_null() : json_string(outpoint(s, out, b, sizeof b));
}

static json_t *jtx(const store *s, uint64_t tx)
{
    char h[65];
    if (tx == STORE_NONE) return json_null();
    util_hash_hex(h, store_tx_hash(s, tx));
    return json_string(h);
}

static json_t *jaddr(const store *s, uint32_t a)
{
    char b[128];
    if (a == STORE_NO_ADDR) return json_null();
    store_addr_text(s, a, b);
    return json_string(b);
}

/* Two decimals are what a confidence means; more would pretend a precision it does not have. */
static json_t *jconf(double c)
{
    return json_real((double)(int64_t)(c * 1000 + 0.5) / 1000);
}

static json_t *rules_json(uint32_t bits)
{
    json_t *a = json_array();
    for (int k = 0; k < TRACE_DM_NRULES; k++)
        if (bits & (1u << k)) json_array_append_new(a, json_string(trace_demix_rule_name(k)));
    return a;
}

int trace_demix_json(const trace_demix_result *r, json_t **out, util_err *err)
{
    const store *s = r->s;
    const trace_demix_opts *o = &r->opts;
    json_t *d = json_object(), *a;
    json_object_set_new(d, "mode", json_string("demix"));
    a = json_array();
    for (size_t i = 0; i < r->n_seeds; i++)
        json_array_append_new(a, jout(s, r->seeds[i]));
    json_object_set_new(d, "seeds", a);
    json_object_set_new(d, "direction", json_string("forward"));
    json_t *op = json_object();
    json_object_set_new(op, "min_confidence", json_real(o->min_confidence));
    json_object_set_new(op, "remix_depth", json_integer(o->remix_depth));
    json_object_set_new(op, "swap_window", json_integer(o->swap_window));
    json_object_set_new(op, "swap_fee_max", json_real(o->swap_fee_max));
    json_object_set_new(op, "deposit_account", json_boolean(!o->no_account));
    json_object_set_new(op, "max_outputs", json_integer((json_int_t)o->max_outputs));
    json_object_set_new(op, "until", o->until >= 0 ? json_integer(o->until) : json_null());
    json_object_set_new(op, "follow_mixers", json_boolean(o->follow_mixers));
    json_object_set_new(d, "options", op);
    json_object_set_new(d, "partial", json_boolean(r->partial));
    const trace_demix_totals *t = &r->totals;
    json_t *tj = json_object();
    json_object_set_new(tj, "seeded", json_integer(t->seeded));
    json_object_set_new(tj, "deposited", json_integer(t->deposited));
    json_object_set_new(tj, "held", json_integer(t->held));
    json_object_set_new(tj, "into_rounds", json_integer(t->into_rounds));
    json_object_set_new(tj, "out_of_rounds", json_integer(t->out_of_rounds));
    json_object_set_new(tj, "swap_deposited", json_integer(t->swap_deposited));
    json_object_set_new(tj, "swap_returned", json_integer(t->swap_returned));
    json_object_set_new(tj, "unresolved_candidates", json_integer(t->unresolved));
    json_object_set_new(d, "totals", tj);
    json_t *act = trace_actors_json(s, &r->actors, 20);
    if (!act) goto nomem;
    json_object_set_new(d, "by_actor", act);
    a = json_array();
    for (size_t i = 0; i < r->n_deposits; i++) {
        const trace_demix_deposit *x = &r->deposits[i];
        const labels_label *l = labels_db_get(r->labels, x->label);
        json_t *e = json_object();
        json_object_set_new(e, "output", jout(s, x->output));
        json_object_set_new(e, "address", jaddr(s, x->address));
        json_object_set_new(e, "entity",
                            x->entity == CLUSTER_NO_ENTITY ? json_null() : json_integer(x->entity));
        json_object_set_new(e, "via",
                            json_string(x->via == 2 ? "sweep"
                                        : x->via    ? "entity"
                                                    : "address"));
        json_object_set_new(e, "category", json_string(l->category));
        json_object_set_new(e, "label_actor", l->actor ? json_string(l->actor) : json_null());
        json_object_set_new(e, "amount", json_integer(x->value));
        json_object_set_new(e, "confidence", jconf(x->confidence));
        json_object_set_new(e, "hops", json_integer(x->hops));
        json_object_set_new(e, "rules", rules_json(x->rules));
        json_array_append_new(a, e);
    }
    json_object_set_new(d, "deposits", a);
    a = json_array();
    for (size_t i = 0; i < r->n_swaps; i++) {
        const trace_demix_swap *x = &r->swaps[i];
        json_t *e = json_object();
        json_object_set_new(e, "deposit", jout(s, x->deposit));
        json_object_set_new(e, "deposit_value", json_integer(x->deposit_value));
        json_object_set_new(e, "payout", jout(s, x->payout));
        json_object_set_new(e, "payout_value",
                            x->payout == STORE_NONE ? json_null() : json_integer(x->payout_value));
        json_object_set_new(e, "rule", json_string(trace_demix_rule_name(x->rule)));
        json_object_set_new(e, "candidates", json_integer(x->candidates));
        json_object_set_new(e, "rivals", json_integer(x->rivals));
        json_object_set_new(e, "confidence", jconf(x->confidence));
        json_object_set_new(e, "followed", json_boolean(x->followed));
        json_array_append_new(a, e);
    }
    json_object_set_new(d, "swaps", a);
    a = json_array();
    for (size_t i = 0; i < r->n_rounds; i++) {
        const trace_demix_round *x = &r->rounds[i];
        json_t *e = json_object();
        json_object_set_new(e, "txid", jtx(s, x->tx));
        json_object_set_new(e, "kind", json_string(cluster_cj_kind_name(x->kind)));
        json_object_set_new(e, "depth", json_integer(x->depth));
        json_object_set_new(e, "inputs", json_integer(x->inputs));
        json_object_set_new(e, "thief_inputs", json_integer(x->thief_inputs));
        json_object_set_new(e, "thief_in_value", json_integer(x->thief_in_value));
        json_object_set_new(e, "outputs", json_integer(x->outputs));
        json_object_set_new(e, "resolved", json_integer(x->resolved));
        json_object_set_new(e, "resolved_value", json_integer(x->resolved_value));
        json_object_set_new(e, "expanded", json_boolean(x->expanded));
        json_array_append_new(a, e);
    }
    json_object_set_new(d, "rounds", a);
    a = json_array();
    for (size_t i = 0; i < r->n_links; i++) {
        const trace_demix_link *x = &r->links[i];
        json_t *e = json_object();
        json_object_set_new(e, "output", jout(s, x->output));
        json_object_set_new(e, "address", jaddr(s, store_out_addr(s, x->output)));
        json_object_set_new(e, "from", jout(s, x->from));
        json_object_set_new(e, "round", jtx(s, x->round));
        json_object_set_new(e, "rule", json_string(trace_demix_rule_name(x->rule)));
        json_object_set_new(e, "candidates", json_integer(x->candidates));
        json_object_set_new(e, "confidence", jconf(x->confidence));
        json_object_set_new(e, "path_confidence", jconf(x->path_confidence));
        json_object_set_new(e, "value", json_integer(x->value));
        json_object_set_new(e, "hops", json_integer(x->hops));
        json_object_set_new(e, "followed", json_boolean(x->followed));
        if (x->rule == TRACE_DM_CANDIDATE) json_object_set_new(e, "depth", json_integer(x->depth));
        json_array_append_new(a, e);
    }
    json_object_set_new(d, "links", a);
    *out = d;
    return 0;
nomem:
    json_decref(d);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

static void btc(FILE *f, const char *label, int64_t v, int64_t seeded)
{
    fprintf(f, "  %-22s %16" PRId64 " sat  %4" PRId64 ".%08" PRId64 " BTC", label, v, v / 100000000,
            v % 100000000);
    if (seeded > 0) fprintf(f, "  %5.1f%%", 100.0 * (double)v / (double)seeded);
    fputc('\n', f);
}

int trace_demix_write_text(const trace_demix_result *r, FILE *f, util_err *err)
{
    const store *s = r->s;
    const trace_demix_totals *t = &r->totals;
    char b[128], c[128];
    fprintf(f, "demix forward from %zu output(s), min confidence %.2f%s\n", r->n_seeds,
            r->opts.min_confidence, r->partial ? "  PARTIAL (output cap reached)" : "");
    fprintf(f, "totals (the thief's own coins; shares of the seeded value):\n");
    btc(f, "seeded", t->seeded, 0);
    btc(f, "deposited", t->deposited, t->seeded);
    btc(f, "held", t->held, t->seeded);
    btc(f, "into rounds", t->into_rounds, t->seeded);
    btc(f, "out of rounds", t->out_of_rounds, t->seeded);
    btc(f, "swap deposited", t->swap_deposited, t->seeded);
    btc(f, "swap returned", t->swap_returned, t->seeded);
    if (r->actors.n) fprintf(f, "deposits by actor:\n");
    for (size_t i = 0; i < r->actors.n && i < 50; i++) {
        const trace_actor *g = &r->actors.v[i];
        char n[96], e[2][LABELS_ESC_BUF];
        fprintf(f, "  %-30s %-9s %16" PRIu64 " sat  %" PRIu64 " deposit(s)\n",
                labels_text_escape(e[0], sizeof e[0], labels_actor_text(&g->who, n, sizeof n)),
                g->category ? labels_text_escape(e[1], sizeof e[1], g->category) : "-", g->amount,
                g->deposits);
    }
    fprintf(f, "deposits: %zu\n", r->n_deposits);
    for (size_t i = 0; i < r->n_deposits && i < 50; i++) {
        const trace_demix_deposit *x = &r->deposits[i];
        char e[LABELS_ESC_BUF];
        store_addr_text(s, x->address, b);
        fprintf(f, "  %16" PRId64 " sat  %-9s %-42s conf %.2f, %u hop(s), rules", x->value,
                labels_text_escape(e, sizeof e, labels_db_get(r->labels, x->label)->category), b,
                x->confidence, x->hops);
        for (int k = 0, n = 0; k < TRACE_DM_NRULES; k++)
            if (x->rules & (1u << k)) fprintf(f, "%s%s", n++ ? "," : " ", trace_demix_rule_name(k));
        fputc('\n', f);
    }
    fprintf(f, "swaps: %zu\n", r->n_swaps);
    for (size_t i = 0; i < r->n_swaps && i < 50; i++) {
        const trace_demix_swap *x = &r->swaps[i];
        fprintf(f, "  %s %" PRId64 " sat -> ", outpoint(s, x->deposit, b, sizeof b),
                x->deposit_value);
        if (x->payout == STORE_NONE)
            fprintf(f, "no payout found\n");
        else
            fprintf(f,
                    "%s %" PRId64
                    " sat, rule %s, %u candidate(s), %u rival deposit(s), conf %.2f%s\n",
                    outpoint(s, x->payout, c, sizeof c), x->payout_value,
                    trace_demix_rule_name(x->rule), x->candidates, x->rivals, x->confidence,
                    x->followed ? "" : " (not followed)");
    }
    size_t expanded = 0, resolved = 0;
    for (size_t i = 0; i < r->n_rounds; i++) {
        expanded += r->rounds[i].expanded != 0;
        resolved += r->rounds[i].resolved;
    }
    fprintf(f, "rounds: %zu entered (%zu expanded), %zu outputs linked back\n", r->n_rounds,
            expanded, resolved);
    size_t count[TRACE_DM_NRULES] = {0};
    for (size_t i = 0; i < r->n_links; i++)
        if (r->links[i].followed) count[r->links[i].rule]++;
    fprintf(f, "links followed by rule:");
    for (int k = 0; k < TRACE_DM_NRULES; k++)
        if (count[k]) fprintf(f, " %s %zu", trace_demix_rule_name(k), count[k]);
    fputc('\n', f);
    if (ferror(f)) return util_errf(err, UTIL_EIO, "write error");
    return 0;
}
