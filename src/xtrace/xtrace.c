/* xtrace: EVM trace, cross-chain links, Bitcoin trace (see xtrace.h). */
#include "xtrace.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../labels/labels_services.h"
#include "../trace/trace.h"
#include "../util/util_vec.h"

#define XTRACE_MAX_LINKS 64 /* links followed per deposit */

void xtrace_default_opts(xtrace_opts *o)
{
    memset(o, 0, sizeof *o);
    etrace_default_opts(&o->evm);
    o->btc_hops = TRACE_DEFAULT_HOPS;
    o->btc_max_outputs = 200000;
    /* Without a floor a 10-hop haircut leg fans out over every dust descendant: on the 11.8M-tx
     * bench chain 7-10 s per cross-chain trace instead of 1.3 s, for under 1 % more attributed. */
    o->btc_min_value = 10000;
    o->min_confidence = 0;
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

void xtrace_actors_free(xtrace_actors *a)
{
    if (!a) return;
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* The run-wide Bitcoin actors being summed, with the endpoint addresses seen (for the distinct
 * count at the end). */
typedef struct xacc {
    xtrace_actor *v;
    uint64_t *largest; /* per actor: its largest single part so far */
    size_t n, cap, cap_largest;
    struct xaddr {
        uint32_t actor, address;
    } * addrs;
    size_t n_addrs, cap_addrs;
} xacc;

static void xacc_free(xacc *a)
{
    free(a->v);
    free(a->largest);
    free(a->addrs);
    memset(a, 0, sizeof *a);
}

/* Add one link's actors (amounts already scaled) into the run's, weighing by confidence. */
static int xacc_add(xacc *acc, const trace_actors *t, double confidence)
{
    for (size_t i = 0; i < t->n; i++) {
        const trace_actor *g = &t->v[i];
        size_t k = 0;
        while (k < acc->n && !labels_actor_same(&acc->v[k].who, &g->who))
            k++;
        if (k == acc->n) {
            if (util_grow((void **)&acc->v, &acc->cap, acc->n + 1, sizeof *acc->v, 8, SIZE_MAX) ||
                util_grow((void **)&acc->largest, &acc->cap_largest, acc->n + 1,
                          sizeof *acc->largest, 8, SIZE_MAX))
                return UTIL_ENOMEM;
            acc->v[acc->n] = (xtrace_actor){g->who, g->category, 0, 0, 0, 0, UINT32_MAX, 0};
            acc->largest[acc->n++] = 0;
        }
        xtrace_actor *x = &acc->v[k];
        if (g->amount > acc->largest[k]) { /* the category of its largest part speaks for it */
            acc->largest[k] = g->amount;
            x->who = g->who;
            x->category = g->category;
        }
        x->amount += g->amount;
        x->expected += (uint64_t)floor((double)g->amount * confidence);
        x->deposits += g->deposits;
        if (g->hops < x->hops) x->hops = g->hops;
        x->links++;
        for (size_t q = 0; q < g->n; q++) {
            if (util_grow((void **)&acc->addrs, &acc->cap_addrs, acc->n_addrs + 1,
                          sizeof *acc->addrs, 64, SIZE_MAX))
                return UTIL_ENOMEM;
            acc->addrs[acc->n_addrs++] =
                (struct xaddr){(uint32_t)k, t->addrs[g->first + q].address};
        }
    }
    return 0;
}

static int cmp_xaddr(const void *pa, const void *pb)
{
    const struct xaddr *a = pa, *b = pb;
    if (a->actor != b->actor) return a->actor < b->actor ? -1 : 1;
    return a->address < b->address ? -1 : a->address > b->address;
}

static int cmp_xactor(const void *pa, const void *pb)
{
    const xtrace_actor *a = pa, *b = pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    if (!a->who.name || !b->who.name) return !a->who.name - !b->who.name;
    return strcmp(a->who.name, b->who.name);
}

/* Count distinct addresses, sort, and hand the actors over to out. */
static void xacc_finish(xacc *acc, xtrace_actors *out)
{
    if (acc->n_addrs) qsort(acc->addrs, acc->n_addrs, sizeof *acc->addrs, cmp_xaddr);
    for (size_t i = 0; i < acc->n_addrs; i++)
        if (!i || cmp_xaddr(&acc->addrs[i - 1], &acc->addrs[i]))
            acc->v[acc->addrs[i].actor].addresses++;
    if (acc->n) qsort(acc->v, acc->n, sizeof *acc->v, cmp_xactor);
    out->v = acc->v;
    out->n = acc->n;
    acc->v = NULL;
    acc->n = acc->cap = 0;
}

static json_t *xactors_json(const xtrace_actors *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < a->n; i++) {
        const xtrace_actor *g = &a->v[i];
        json_t *o =
            json_pack("{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "actor",
                      g->who.name ? json_string(g->who.name) : json_null(), "actor_from",
                      labels_actor_from_name(g->who.from), "category", g->category, "amount",
                      (json_int_t)g->amount, "expected", (json_int_t)g->expected, "deposits",
                      (json_int_t)g->deposits, "deposit_addresses", (json_int_t)g->addresses,
                      "hops", (json_int_t)g->hops, "links", (json_int_t)g->links);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static void add_cat(json_t *obj, const char *cat, uint64_t v)
{
    json_t *cur = json_object_get(obj, cat);
    json_object_set_new(
        obj, cat, json_integer((json_int_t)((cur ? (uint64_t)json_integer_value(cur) : 0) + v)));
}

/* Follow one link's Bitcoin outputs; fills the link's "btc" part. The propagation is the
 * screening one (trace_exposure_run over stops built once per cross-chain trace): a deposit can
 * have a hundred legs, and a full trace document for each would cost seconds apiece. */
static int follow_btc(const store *btc, const labels_db *labels, const cluster_map *clusters,
                      const trace_stops *stops, const trace_actor_index *ix, const xchain_link *l,
                      const evm_u256 *num, const evm_u256 *den, const xtrace_opts *o, json_t *jl,
                      json_t *expected, xacc *acc, util_err *err)
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
    to.policy = o->evm.policy; /* the same numbering: poison, haircut, fifo */
    to.direction = TRACE_FORWARD;
    to.hops = o->btc_hops;
    to.min_value = o->btc_min_value;
    to.max_outputs = o->btc_max_outputs;
    trace_exposure x;
    int rc = trace_exposure_run(btc, labels, clusters, stops, &seeds, &to, &x, err);
    trace_seeds_free(&seeds);
    if (rc) return rc;
    json_t *b = json_object(), *eps = json_array(), *bycat = json_object();
    json_object_set_new(b, "seeded", json_integer((json_int_t)scale(x.seeded, num, den)));
    json_object_set_new(b, "seeded_outputs_value", json_integer((json_int_t)x.seeded));
    json_object_set_new(b, "partial", json_boolean(x.partial));
    json_object_set_new(b, "outputs_visited", json_integer((json_int_t)x.outputs_visited));
    for (size_t i = 0; i < x.n_cat; i++) {
        const trace_exposure_cat *k = &x.cat[i];
        uint64_t sc = scale(k->amount, num, den);
        char addr[128] = "";
        if (k->nearest_addr != STORE_NO_ADDR) store_addr_text(btc, k->nearest_addr, addr);
        const labels_label *lab = labels_db_get(labels, k->nearest_label);
        labels_actor who;
        trace_actor_of(ix, k->nearest_addr, k->nearest_entity, lab, k->nearest_via_entity, &who);
        json_t *path = json_array();
        for (size_t p = 0; p < k->path_len; p++) {
            char h[65];
            util_hash_hex(h, store_tx_hash(btc, k->path[p]));
            json_array_append_new(path, json_string(h));
        }
        json_array_append_new(
            eps,
            json_pack("{s:s, s:I, s:I, s:i, s:i, s:{s:s, s:o, s:o, s:s, s:s, s:I}, s:o}",
                      "category", k->category, "amount", (json_int_t)sc, "amount_of_linked_outputs",
                      (json_int_t)k->amount, "endpoints", (int)k->endpoints, "hops", (int)k->hops,
                      "nearest", "address", addr, "entity",
                      k->nearest_entity != CLUSTER_NO_ENTITY ? json_integer(k->nearest_entity)
                                                             : json_null(),
                      "actor", who.name ? json_string(who.name) : json_null(), "name", lab->name,
                      "source", lab->source, "amount",
                      (json_int_t)scale(k->nearest_amount, num, den), "path", path));
        add_cat(bycat, k->category, sc);
        add_cat(expected, k->category, (uint64_t)floor((double)sc * l->confidence));
    }
    /* by actor: each amount scaled by the deposit's tainted share */
    trace_actors acts;
    if ((rc = trace_exposure_actors(ix, labels, &x, &acts, err))) {
        trace_exposure_free(&x);
        json_decref(b);
        json_decref(eps);
        json_decref(bycat);
        return rc;
    }
    for (size_t i = 0; i < acts.n; i++)
        acts.v[i].amount = scale(acts.v[i].amount, num, den);
    for (size_t i = 0; i < acts.n_addrs; i++)
        acts.addrs[i].amount = scale(acts.addrs[i].amount, num, den);
    json_t *ja = trace_actors_json(btc, &acts, 0);
    rc = !ja || xacc_add(acc, &acts, l->confidence) ? util_errf(err, UTIL_ENOMEM, "out of memory")
                                                    : 0;
    trace_actors_free(&acts);
    trace_exposure_free(&x);
    json_object_set_new(b, "by_actor", ja);
    json_object_set_new(b, "by_category", eps);
    json_object_set_new(b, "totals_by_category", bycat);
    json_object_set_new(jl, "followed", json_true());
    json_object_set_new(jl, "btc", b);
    return rc;
}

int xtrace_run(const evm_store *evm, const store *btc, const labels_db *labels,
               const cluster_map *clusters, const xchain_links *links, const etrace_seeds *seeds,
               const xtrace_opts *o, json_t **out, util_err *err)
{
    return xtrace_run_evm(evm, btc, labels, clusters, links, seeds, o, NULL, out, err);
}

int xtrace_run_evm(const evm_store *evm, const store *btc, const labels_db *labels,
                   const cluster_map *clusters, const xchain_links *links,
                   const etrace_seeds *seeds, const xtrace_opts *o, etrace_result *evm_out,
                   json_t **out, util_err *err)
{
    return xtrace_run_actors(evm, btc, labels, clusters, links, seeds, o, evm_out, NULL, out, err);
}

int xtrace_run_actors(const evm_store *evm, const store *btc, const labels_db *labels,
                      const cluster_map *clusters, const xchain_links *links,
                      const etrace_seeds *seeds, const xtrace_opts *o, etrace_result *evm_out,
                      xtrace_actors *btc_actors, json_t **out, util_err *err)
{
    if (evm_out) memset(evm_out, 0, sizeof *evm_out);
    if (btc_actors) memset(btc_actors, 0, sizeof *btc_actors);
    if (o->evm.direction != ETRACE_FORWARD)
        return util_errf(err, UTIL_EINVAL, "a cross-chain trace runs forward");
    if ((o->btc_hops < 1 || o->btc_hops > TRACE_MAX_HOPS) && o->btc_hops != TRACE_NO_HOP_LIMIT)
        return util_errf(err, UTIL_EINVAL, "Bitcoin hops must be 1..%d (or no limit)",
                         TRACE_MAX_HOPS);
    etrace_result er;
    json_t *ev = NULL;
    int rc = etrace_run_result(evm, labels, seeds, &o->evm, &er, err);
    if (!rc) rc = etrace_result_json(evm, &er, &ev, err);
    if (rc) {
        etrace_result_free(&er);
        return rc;
    }
    /* The Bitcoin leg stops where `cointrail trace` does: at labelled services. */
    trace_stops *stops = NULL;
    trace_actor_index *ix = NULL;
    if (btc && ((rc = trace_stops_build(&stops, btc, labels, clusters, labels_service_categories(),
                                        labels_service_stops(o->evm.follow_mixers), err)) ||
                (rc = trace_actor_index_build(&ix, btc, labels, clusters, err)))) {
        trace_stops_free(stops);
        json_decref(ev);
        etrace_result_free(&er);
        return rc;
    }
    xacc acc = {0};
    json_t *doc = json_object(), *hops = json_array(), *expected = json_object();
    json_object_set_new(doc, "evm", ev);
    json_object_set_new(doc, "hops", hops);
    size_t n_dep = 0, n_linked = 0, n_followed = 0;
    for (size_t i = 0; i < er.n_xchain; i++) {
        const etrace_xchain *cc = &er.xchain[i];
        n_dep++;
        json_t *h = json_object();
        json_array_append_new(hops, h);
        json_object_set_new(h, "deposit", etrace_xchain_json(evm, cc));
        json_t *jlinks = json_array();
        json_object_set_new(h, "links", jlinks);
        /* links are keyed by the deposit's tx; a zero deposit has no share to scale by */
        if (!cc->has_tx || evm_u256_is_zero(&cc->amount)) {
            json_object_set_new(
                h, "why_not",
                json_string(cc->has_tx ? "a deposit of no value" : "the deposit has no tx"));
            continue;
        }
        const evm_u256 amount = cc->amount;
        /* poison: a deposit with any taint continues in full */
        evm_u256 num = cc->taint;
        if (o->evm.policy == ETRACE_POISON && !evm_u256_is_zero(&cc->taint)) num = amount;
        json_object_set_new(h, "taint_share", json_real(ratio(&num, &amount)));
        size_t idx[XTRACE_MAX_LINKS];
        size_t n =
            xchain_links_from(links, evm_store_chain(evm), cc->tx_hash, idx, XTRACE_MAX_LINKS);
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
            if ((rc = follow_btc(btc, labels, clusters, stops, ix, l, &num, &amount, o, jl,
                                 expected, &acc, err)))
                goto fail;
            n_followed++;
        }
    }
    xtrace_actors xa = {0};
    xacc_finish(&acc, &xa);
    json_t *jxa = xactors_json(&xa);
    if (!jxa) {
        xtrace_actors_free(&xa);
        json_decref(expected);
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto fail;
    }
    json_object_set_new(doc, "btc_by_actor", jxa);
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
    trace_stops_free(stops);
    trace_actor_index_free(ix);
    xacc_free(&acc);
    if (btc_actors)
        *btc_actors = xa;
    else
        xtrace_actors_free(&xa);
    if (evm_out)
        *evm_out = er;
    else
        etrace_result_free(&er);
    *out = doc;
    return 0;
fail:
    trace_stops_free(stops);
    trace_actor_index_free(ix);
    xacc_free(&acc);
    etrace_result_free(&er);
    json_decref(doc);
    return rc;
}
