/* case: an incident as a JSON document (docs/incidents.md), written from the typed record. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "case_int.h"

static json_t *state(const case_state *s)
{
    return json_pack("{s:s?,s:o,s:s?,s:s?,s:o}", "btc_tip", *s->btc_tip ? s->btc_tip : NULL,
                     "btc_height", s->btc_height >= 0 ? json_integer(s->btc_height) : json_null(),
                     "evm_chain", *s->evm_chain ? s->evm_chain : NULL, "evm_tip",
                     *s->evm_tip ? s->evm_tip : NULL, "evm_height",
                     s->evm_height >= 0 ? json_integer(s->evm_height) : json_null());
}

/* "btc,eth" as ["btc", "eth"]. */
static json_t *chains(const char *s)
{
    json_t *a = json_array();
    while (a && s && *s) {
        size_t k = strcspn(s, ",");
        json_array_append_new(a, json_stringn(s, k));
        s += k + (s[k] == ',');
    }
    return a;
}

/* A run as the trace lists it: without runs' documents, its chain, totals and endpoints. */
static json_t *run_brief(const case_run *r)
{
    json_t *tot = json_array(), *eps = json_array();
    for (size_t i = 0; tot && i < r->n_totals; i++)
        json_array_append_new(tot, json_pack("{s:s,s:s,s:s}", "asset", r->totals[i].asset, "bucket",
                                             r->totals[i].bucket, "amount", r->totals[i].amount));
    for (size_t i = 0; eps && i < r->n_endpoints; i++) {
        const case_endpoint *e = &r->endpoints[i];
        json_array_append_new(eps, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "address", e->address,
                                             "category", e->category, "actor", e->actor, "name",
                                             e->name, "asset", e->asset, "amount", e->amount));
    }
    return json_pack("{s:I,s:s,s:s,s:s,s:i,s:b,s:s,s:o,s:o}", "id", (json_int_t)r->id, "chain",
                     r->chain, "policy", r->policy, "direction", r->direction, "hops", (int)r->hops,
                     "partial", r->partial, "command", r->command, "totals",
                     tot ? tot : json_null(), "endpoints", eps ? eps : json_null());
}

int case_incident_json(const case_incident *i, int with_runs, json_t **out, util_err *err)
{
    *out = NULL;
    json_t *attrs = json_array(), *urls = json_array(), *seeds = json_array(),
           *stolen = json_array();
    if (!attrs || !urls || !seeds || !stolen) goto oom;
    for (size_t k = 0; k < i->n_attrs; k++) {
        const case_attribution *a = &i->attrs[k];
        if (json_array_append_new(
                attrs, json_pack("{s:s,s:s,s:s,s:o,s:s,s:s}", "actor", a->actor, "attributed_by",
                                 a->attributed_by, "kind", a->kind, "confidence",
                                 a->confidence >= 0 ? json_integer(a->confidence) : json_null(),
                                 "date", a->date, "url", a->url)))
            goto oom;
    }
    for (size_t k = 0; k < i->n_urls; k++)
        if (json_array_append_new(
                urls, json_pack("{s:s,s:s}", "role", i->urls[k].role, "url", i->urls[k].url)))
            goto oom;
    for (size_t k = 0; k < i->n_seeds; k++) {
        const case_incident_seed *s = &i->seeds[k];
        if (json_array_append_new(seeds, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s}", "id",
                                                   (json_int_t)s->id, "chain", s->chain, "spec",
                                                   s->spec, "role", s->role, "note", s->note, "url",
                                                   s->url, "origin", s->origin)))
            goto oom;
    }
    for (size_t k = 0; k < i->n_stolen; k++) {
        const case_stolen *s = &i->stolen[k];
        if (json_array_append_new(stolen,
                                  json_pack("{s:s,s:s,s:s,s:i,s:s,s:I}", "chain", s->chain, "asset",
                                            s->asset, "symbol", s->symbol, "decimals", s->decimals,
                                            "amount", s->amount, "refs", (json_int_t)s->refs)))
            goto oom;
    }
    json_t *trace = json_null();
    const case_itrace *t = &i->trace;
    if (t->id) {
        json_error_t je;
        json_t *runs = json_array(), *deps = json_array(), *sk = json_loads(t->skipped, 0, &je);
        for (size_t k = 0; runs && k < t->n_legs; k++) {
            const case_leg *l = &t->legs[k];
            json_t *r = NULL;
            if (with_runs) {
                if (case_run_json(&t->runs[k], &r, err)) r = NULL;
            } else
                r = run_brief(&t->runs[k]);
            json_array_append_new(
                runs,
                json_pack("{s:I,s:s,s:o,s:s,s:s,s:o}", "run", (json_int_t)l->run_id, "leg", l->leg,
                          "deposit", l->deposit >= 0 ? json_integer(l->deposit) : json_null(),
                          "share_num", l->share_num, "share_den", l->share_den, "trace_run",
                          r ? r : json_null()));
        }
        for (size_t k = 0; deps && k < t->n_deposits; k++) {
            const case_deposit *d = &t->deposits[k];
            json_array_append_new(
                deps,
                json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "run",
                          (json_int_t)d->run_id, "chain", d->chain, "address", d->address,
                          "category", d->category, "actor", d->actor, "tx", d->tx_hash, "asset",
                          d->asset, "amount", d->amount, "taint", d->taint, "to_chain", d->to_chain,
                          "link_method", d->method, "link_confidence", d->confidence, "links",
                          (json_int_t)d->links, "why_not", d->why_not));
        }
        trace = json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)t->id, "run_by",
                          t->run_by, "run_at", t->run_at, "command", t->command, "store_state",
                          state(&t->state), "skipped", sk ? sk : json_array(), "runs",
                          runs ? runs : json_null(), "deposits", deps ? deps : json_null());
        if (!trace) goto oom;
    }
    *out = json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}",
                     "id", i->slug, "date", i->date, "victim", i->victim, "chains",
                     chains(i->chains), "amount_native", i->amount_native, "amount_fiat",
                     i->amount_fiat, "usd", i->usd, "notes", i->notes, "origin", i->origin, "case",
                     (json_int_t)i->case_id, "created_by", i->created_by, "created_at",
                     i->created_at, "updated_at", i->updated_at, "attribution", attrs, "sources",
                     urls, "seeds", seeds, "stolen", stolen, "trace", trace);
    if (!*out) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
oom:
    json_decref(attrs), json_decref(urls), json_decref(seeds), json_decref(stolen);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}
