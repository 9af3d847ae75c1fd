/* etrace: the JSON document of a finished run and of its cross-chain records; reads the
 * run's state, changes nothing but moving the edges, swaps and paths into the document. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace_int.h"

static const char *const bucket_names[NB] = {
    "seeded",  "poison_added",    "swapped_in",   "to_endpoints", "held",
    "fees",    "below_min_value", "beyond_hops",  "beyond_until", "swapped_out",
    "overlap", "minted",          "before_store", "not_followed"};

/* ---- the document ---- */

static int cmp_ep(const void *a, const void *b)
{
    const ep *x = a, *y = b;
    int k = evm_u256_cmp(&y->amount, &x->amount);
    return k ? k : (x->ent > y->ent) - (x->ent < y->ent);
}

json_t *etrace_document(ctx *c, const etrace_seeds *seeds)
{
    json_t *d = json_object();
    json_object_set_new(d, "chain", json_string(evm_store_chain(c->s)));
    json_t *sj = json_array();
    for (size_t i = 0; i < seeds->n; i++) {
        evm_xfer_row r;
        if (!evm_store_xfer(c->s, seeds->x[i], &r, NULL))
            json_array_append_new(sj, etrace_xfer_ref(c, seeds->x[i], &r));
    }
    json_object_set_new(d, "seeds", sj);
    taint_doc_options(d, &c->o->core, etrace_u256_json(&c->o->min_value), c->o->until_time,
                      "max_xfers");
    taint_doc_partial(d, c->partial, c->reason);
    json_object_set_new(d, "until_reached", json_boolean(c->until_reached));
    uint64_t fb, nb;
    uint8_t tip[32];
    evm_store_tip(c->s, &fb, &nb, tip);
    json_object_set_new(d, "partial_history", json_boolean(c->partial_history || fb != 0));
    json_t *tj = json_object();
    for (size_t i = 0; i < c->ntot; i++) {
        json_t *o = json_object();
        taint_ledger led;
        taint_ledger_init(&led, NB, B_FIRST_OUT);
        for (int k = 0; k < NB; k++) {
            json_object_set_new(o, bucket_names[k], etrace_u256_json(&c->tot[i].b[k]));
            taint_ledger_set(&led, (size_t)k, c->tot[i].b[k].w);
        }
        json_object_set_new(o, "balanced", json_boolean(taint_ledger_balanced(&led)));
        char ak[43];
        etrace_asset_key(c, c->tot[i].asset, ak);
        json_object_set_new(tj, ak, o);
    }
    json_object_set_new(d, "totals", tj);
    json_object_set_new(d, "xfers_visited", json_integer((json_int_t)c->visited));
    if (c->nep) qsort(c->ep, c->nep, sizeof *c->ep, cmp_ep);
    json_t *eps = json_array(), *bycat = json_object();
    for (size_t i = 0; i < c->nep; i++) {
        ep *p = &c->ep[i];
        const labels_label *l = c->e[p->ent].stop;
        char ak[43];
        etrace_asset_key(c, p->asset, ak);
        json_t *o = json_object();
        json_object_set_new(o, "address", etrace_addr_json(c, c->e[p->ent].id));
        json_object_set_new(o, "category", json_string(l->category));
        json_t *ls = json_array();
        uint8_t a[20];
        char hex[43] = "0x";
        if (c->labels && !evm_store_addr(c->s, c->e[p->ent].id, a, NULL)) {
            util_hex(hex + 2, a, 20);
            const labels_label *first;
            size_t n;
            labels_find(c->labels, "eth", hex, &first, &n);
            for (size_t k = 0; k < n; k++)
                json_array_append_new(ls, labels_to_json(&first[k]));
        }
        json_object_set_new(o, "labels", ls);
        json_object_set_new(o, "asset", json_string(ak));
        json_object_set_new(o, "amount", etrace_u256_json(&p->amount));
        json_object_set_new(o, "deposits", json_integer((json_int_t)p->deposits));
        json_object_set_new(o, "cross_chain_candidate",
                            json_boolean(etrace_cross_chain_category(l->category)));
        json_object_set_new(o, "path", p->path);
        p->path = NULL;
        json_array_append_new(eps, o);
        json_t *cat = json_object_get(bycat, l->category);
        if (!cat) json_object_set_new(bycat, l->category, cat = json_object());
        evm_u256 sum = {{0}};
        json_t *prev = json_object_get(cat, ak);
        if (prev)
            evm_u256_parse(&sum, json_string_value(prev), strlen(json_string_value(prev)), NULL);
        evm_u256_add(&sum, &sum, &p->amount);
        json_object_set_new(cat, ak, etrace_u256_json(&sum));
    }
    json_object_set_new(d, "endpoints", eps);
    json_object_set_new(d, "by_category", bycat);
    /* filled from the typed records by etrace_result_json */
    json_object_set_new(d, "cross_chain", json_null());
    json_object_set_new(d, "swaps", c->swaps);
    json_object_set_new(d, "edges", c->edges);
    c->swaps = c->edges = NULL;
    json_t *as = json_array();
    for (size_t i = 0; i < c->ne; i++) {
        ent *e = &c->e[i];
        if (!e->nas) continue;
        json_t *o = json_object(), *per = json_object();
        json_object_set_new(o, "address", etrace_addr_json(c, e->id));
        json_object_set_new(o, "depth", e->depth == NONE32 ? json_null() : json_integer(e->depth));
        for (size_t k = 0; k < e->nas; k++) {
            ast *a = &e->as[k];
            char ak[43];
            etrace_asset_key(c, a->asset, ak);
            json_t *x = json_object();
            json_object_set_new(x, "taint_in", etrace_u256_json(&a->t_in));
            json_object_set_new(x, "taint_out", etrace_u256_json(&a->t_out));
            json_object_set_new(x, "fees", etrace_u256_json(&a->fees));
            json_object_set_new(x, "held", etrace_u256_json(&a->taint));
            json_object_set_new(x, "balance", etrace_u256_json(&a->bal));
            json_object_set_new(per, ak, x);
        }
        json_object_set_new(o, "assets", per);
        json_array_append_new(as, o);
    }
    json_object_set_new(d, "addresses", as);
    return d;
}

json_t *etrace_xchain_json(const evm_store *s, const etrace_xchain *x)
{
    /* the writers below read nothing of ctx but the store */
    ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    evm_xfer_row r;
    char ak[43];
    etrace_asset_key(&c, x->asset, ak);
    json_t *j = json_object();
    if (!j) return NULL;
    json_object_set_new(j, "endpoint", etrace_addr_json(&c, x->endpoint));
    json_object_set_new(j, "category", json_string(x->label->category));
    json_object_set_new(j, "name", json_string(x->label->name));
    json_object_set_new(j, "transfer",
                        !evm_store_xfer(s, x->xfer, &r, NULL) ? etrace_xfer_ref(&c, x->xfer, &r)
                                                              : json_null());
    json_object_set_new(j, "block", json_integer((json_int_t)x->block));
    json_object_set_new(j, "timestamp", json_integer((json_int_t)x->timestamp));
    json_object_set_new(j, "from", etrace_addr_json(&c, x->from));
    json_object_set_new(j, "asset", json_string(ak));
    json_object_set_new(j, "amount", etrace_u256_json(&x->amount));
    json_object_set_new(j, "taint", etrace_u256_json(&x->taint));
    return j;
}

int etrace_result_json(const evm_store *s, const etrace_result *res, json_t **out, util_err *err)
{
    json_t *xs = json_array(), *d = json_copy(res->doc);
    if (!xs || !d) goto nomem;
    for (size_t i = 0; i < res->n_xchain; i++)
        if (json_array_append_new(xs, etrace_xchain_json(s, &res->xchain[i]))) goto nomem;
    /* replaces the placeholder in place: the key keeps its position */
    if (json_object_set_new(d, "cross_chain", xs)) {
        xs = NULL;
        goto nomem;
    }
    *out = d;
    return 0;
nomem:
    json_decref(xs);
    json_decref(d);
    return util_errf(err, UTIL_ENOMEM, "out of memory writing the trace document");
}
