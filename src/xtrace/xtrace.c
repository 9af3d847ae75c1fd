/* xtrace: EVM trace, cross-chain links, Bitcoin trace (see xtrace.h). */
#include "xtrace.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../trace/trace.h"

#define XTRACE_MAX_LINKS 64 /* links followed per deposit */

void xtrace_default_opts(xtrace_opts *o)
{
    memset(o, 0, sizeof *o);
    etrace_default_opts(&o->evm);
    o->btc_hops = TRACE_DEFAULT_HOPS;
    o->min_confidence = 0;
}

static int u256_of(json_t *v, evm_u256 *out)
{
    const char *s = json_string_value(v);
    if (s) return evm_u256_parse(out, s, strlen(s), NULL);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        memset(out, 0, sizeof *out);
        out->w[0] = (uint64_t)json_integer_value(v);
        return 0;
    }
    return -1;
}

/* sat * num / den, exact (den > 0, num <= den). */
static uint64_t scale(uint64_t sat, const evm_u256 *num, const evm_u256 *den)
{
    evm_u256 a = {{sat, 0, 0, 0}}, q, r;
    if (etrace_muldiv(&q, &r, &a, num, den)) return 0;
    return q.w[0];
}

static double ratio(const evm_u256 *num, const evm_u256 *den)
{
    double n = 0, d = 0;
    for (int i = 3; i >= 0; i--) {
        n = n * 18446744073709551616.0 + (double)num->w[i];
        d = d * 18446744073709551616.0 + (double)den->w[i];
    }
    return d > 0 ? n / d : 0;
}

static void add_cat(json_t *obj, const char *cat, uint64_t v)
{
    json_t *cur = json_object_get(obj, cat);
    json_object_set_new(
        obj, cat, json_integer((json_int_t)((cur ? (uint64_t)json_integer_value(cur) : 0) + v)));
}

/* Follow one link's Bitcoin outputs; fills the link's "btc" part. */
static int follow_btc(const store *btc, const labels_db *labels, const cluster_map *clusters,
                      const xchain_link *l, const evm_u256 *num, const evm_u256 *den,
                      const xtrace_opts *o, json_t *jl, json_t *expected, util_err *err)
{
    trace_seeds seeds = {0};
    seeds.out = malloc(l->to.n_outs * sizeof *seeds.out);
    if (!seeds.out) return util_errf(err, UTIL_ENOMEM, "out of memory");
    seeds.cap = l->to.n_outs;
    const store_totals *t = store_get_totals(btc);
    for (uint32_t k = 0; k < l->to.n_outs; k++)
        if (l->to.out_id[k] < t->outputs) seeds.out[seeds.n++] = l->to.out_id[k];
    if (!seeds.n) {
        trace_seeds_free(&seeds);
        json_object_set_new(jl, "followed", json_false());
        json_object_set_new(jl, "why_not", json_string("the linked outputs are not in the store"));
        return 0;
    }
    trace_opts to;
    trace_default_opts(&to);
    to.policy = o->evm.policy; /* the same order: poison, haircut, fifo */
    to.direction = TRACE_FORWARD;
    to.hops = o->btc_hops;
    to.min_value = o->btc_min_value;
    json_t *doc = NULL;
    int rc = trace_run(btc, labels, clusters, &seeds, &to, &doc, err);
    trace_seeds_free(&seeds);
    if (rc) return rc;
    json_t *b = json_object(), *eps = json_array(), *bycat = json_object();
    uint64_t seeded =
        (uint64_t)json_integer_value(json_object_get(json_object_get(doc, "totals"), "seeded"));
    json_object_set_new(b, "seeded", json_integer((json_int_t)scale(seeded, num, den)));
    json_object_set_new(b, "seeded_outputs_value", json_integer((json_int_t)seeded));
    json_object_set_new(b, "partial", json_boolean(json_is_true(json_object_get(doc, "partial"))));
    json_object_set_new(b, "totals", json_incref(json_object_get(doc, "totals")));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "endpoints"), i, e)
    {
        uint64_t amt = (uint64_t)json_integer_value(json_object_get(e, "amount"));
        uint64_t sc = scale(amt, num, den);
        const char *cat = json_string_value(json_object_get(e, "category"));
        json_t *je = json_pack(
            "{s:O, s:O, s:O, s:O, s:I, s:I, s:O}", "address", json_object_get(e, "address"),
            "entity", json_object_get(e, "entity"), "category", json_object_get(e, "category"),
            "labels", json_object_get(e, "labels"), "amount", (json_int_t)sc,
            "amount_of_linked_outputs", (json_int_t)amt, "path", json_object_get(e, "path"));
        json_array_append_new(eps, je);
        if (cat) {
            add_cat(bycat, cat, sc);
            add_cat(expected, cat, (uint64_t)floor((double)sc * l->confidence));
        }
    }
    json_object_set_new(b, "endpoints", eps);
    json_object_set_new(b, "by_category", bycat);
    json_object_set_new(jl, "followed", json_true());
    json_object_set_new(jl, "btc", b);
    json_decref(doc);
    return 0;
}

int xtrace_run(const evm_store *evm, const store *btc, const labels_db *labels,
               const cluster_map *clusters, const xchain_links *links, const etrace_seeds *seeds,
               const xtrace_opts *o, json_t **out, util_err *err)
{
    if (o->evm.direction != ETRACE_FORWARD)
        return util_errf(err, UTIL_EINVAL, "a cross-chain trace runs forward");
    if (o->btc_hops < 1 || o->btc_hops > TRACE_MAX_HOPS)
        return util_errf(err, UTIL_EINVAL, "Bitcoin hops must be 1..%d", TRACE_MAX_HOPS);
    json_t *ev = NULL;
    int rc = etrace_run(evm, labels, seeds, &o->evm, &ev, err);
    if (rc) return rc;
    json_t *doc = json_object(), *hops = json_array(), *expected = json_object();
    json_object_set_new(doc, "evm", ev);
    json_object_set_new(doc, "hops", hops);
    size_t n_dep = 0, n_linked = 0, n_followed = 0;
    size_t i;
    json_t *cc;
    json_array_foreach(json_object_get(ev, "cross_chain"), i, cc)
    {
        n_dep++;
        const char *xfer = json_string_value(json_object_get(cc, "transfer"));
        uint8_t hash[32];
        evm_u256 amount, taint;
        json_t *h = json_object();
        json_array_append_new(hops, h);
        json_object_set_new(h, "deposit", json_incref(cc));
        json_t *jlinks = json_array();
        json_object_set_new(h, "links", jlinks);
        if (!xfer || strlen(xfer) < 66 || evm_hash_parse(hash, xfer, 66, NULL) ||
            u256_of(json_object_get(cc, "amount"), &amount) ||
            u256_of(json_object_get(cc, "taint"), &taint) || evm_u256_is_zero(&amount)) {
            json_object_set_new(h, "why_not", json_string("unreadable cross-chain record"));
            continue;
        }
        /* poison: a deposit with any taint continues in full */
        evm_u256 num = taint;
        if (o->evm.policy == ETRACE_POISON && !evm_u256_is_zero(&taint)) num = amount;
        json_object_set_new(h, "taint_share", json_real(ratio(&num, &amount)));
        size_t idx[XTRACE_MAX_LINKS];
        size_t n = xchain_links_from(links, evm_store_chain(evm), hash, idx, XTRACE_MAX_LINKS);
        if (n > XTRACE_MAX_LINKS) {
            json_object_set_new(h, "links_not_followed",
                                json_integer((json_int_t)(n - XTRACE_MAX_LINKS)));
            n = XTRACE_MAX_LINKS;
        }
        if (n) n_linked++;
        for (size_t k = 0; k < n; k++) {
            const xchain_link *l = &links->v[idx[k]];
            json_t *jl = xchain_link_json(l);
            json_array_append_new(jlinks, jl);
            if (strcmp(l->to.chain, "btc") || !l->to.n_outs) {
                json_object_set_new(jl, "followed", json_false());
                json_object_set_new(jl, "why_not", json_string("not a Bitcoin leg"));
                continue;
            }
            if (!btc || l->confidence < o->min_confidence) {
                json_object_set_new(jl, "followed", json_false());
                json_object_set_new(
                    jl, "why_not",
                    json_string(btc ? "confidence below --min-confidence" : "no Bitcoin store"));
                continue;
            }
            if ((rc = follow_btc(btc, labels, clusters, l, &num, &amount, o, jl, expected, err)))
                goto fail;
            n_followed++;
        }
    }
    json_object_set_new(doc, "btc_by_category", expected);
    json_object_set_new(
        doc, "summary",
        json_pack("{s:I, s:I, s:I, s:s, s:s}", "cross_chain_deposits", (json_int_t)n_dep,
                  "deposits_linked", (json_int_t)n_linked, "links_followed", (json_int_t)n_followed,
                  "btc_amounts",
                  "satoshis reaching Bitcoin endpoints, scaled by each deposit's tainted share; "
                  "btc_by_category also weighs each link by its confidence",
                  "policy_note",
                  o->evm.policy == ETRACE_FIFO
                      ? "fifo: the Bitcoin leg is scaled by the tainted share (an approximation)"
                      : "exact under this policy"));
    *out = doc;
    return 0;
fail:
    json_decref(doc);
    return rc;
}
