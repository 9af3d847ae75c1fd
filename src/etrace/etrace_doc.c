/* etrace: the typed result of a finished run (etrace_collect, computed from the run's state
 * without JSON) and the JSON document written from it (etrace_result_json). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace_int.h"

static const char *const bucket_names[NB] = {
    "seeded",  "poison_added",    "swapped_in",   "to_endpoints", "held",
    "fees",    "below_min_value", "beyond_hops",  "beyond_until", "swapped_out",
    "overlap", "minted",          "before_store", "not_followed"};

const char *etrace_bucket_name(int k)
{
    return k >= 0 && k < NB ? bucket_names[k] : NULL;
}

/* ---- the typed result ---- */

static int cmp_ep(const void *a, const void *b)
{
    const ep *x = a, *y = b;
    int k = evm_u256_cmp(&y->amount, &x->amount);
    return k ? k : (x->ent > y->ent) - (x->ent < y->ent);
}

/* Every "eth" label of address id (none without labels or an unknown address). */
static void labels_of(ctx *c, uint32_t id, const labels_label **first, size_t *n)
{
    *first = NULL, *n = 0;
    uint8_t a[20];
    char hex[43] = "0x";
    if (!c->labels || evm_store_addr(c->s, id, a, NULL)) return;
    util_hex(hex + 2, a, 20);
    labels_find(c->labels, "eth", hex, first, n);
}

/* Add amount to the by_category entry of (category, asset), appended when new. */
static int add_category(etrace_result *out, size_t *cap, const char *cat, uint32_t asset,
                        const evm_u256 *amount)
{
    for (size_t i = 0; i < out->n_by_category; i++) {
        etrace_category *k = &out->by_category[i];
        if (k->asset == asset && !strcmp(k->category, cat)) {
            /* wraps as the document's sum always has: an endpoint total is below 2^256 */
            evm_u256_add(&k->amount, &k->amount, amount);
            return 0;
        }
    }
    if (util_grow((void **)&out->by_category, cap, out->n_by_category + 1, sizeof *out->by_category,
                  8, SIZE_MAX))
        return UTIL_ENOMEM;
    out->by_category[out->n_by_category++] = (etrace_category){cat, asset, *amount};
    return 0;
}

int etrace_collect(ctx *c, const etrace_seeds *seeds, etrace_result *out)
{
    out->opts = *c->o;
    out->seeds = calloc(seeds->n ? seeds->n : 1, sizeof *out->seeds);
    if (!out->seeds) return etrace_oom(c);
    for (size_t i = 0; i < seeds->n; i++) {
        evm_xfer_row r;
        if (!evm_store_xfer(c->s, seeds->x[i], &r, NULL))
            out->seeds[out->n_seeds++] = etrace_ref_of(seeds->x[i], &r);
    }
    out->partial = c->partial;
    out->reason = c->partial ? c->reason : NULL;
    out->until_reached = c->until_reached;
    uint64_t fb, nb;
    uint8_t tip[32];
    evm_store_tip(c->s, &fb, &nb, tip);
    out->partial_history = c->partial_history || fb != 0;
    if (c->ntot && !(out->totals = calloc(c->ntot, sizeof *out->totals))) return etrace_oom(c);
    for (size_t i = 0; i < c->ntot; i++) {
        etrace_totals *t = &out->totals[out->n_totals++];
        taint_ledger led;
        taint_ledger_init(&led, NB, B_FIRST_OUT);
        t->asset = c->tot[i].asset;
        for (int k = 0; k < NB; k++) {
            t->b[k] = c->tot[i].b[k];
            taint_ledger_set(&led, (size_t)k, c->tot[i].b[k].w);
        }
        t->balanced = taint_ledger_balanced(&led);
    }
    out->xfers_visited = c->visited;
    if (c->nep) qsort(c->ep, c->nep, sizeof *c->ep, cmp_ep);
    if (c->nep && !(out->endpoints = calloc(c->nep, sizeof *out->endpoints))) return etrace_oom(c);
    size_t catcap = 0;
    for (size_t i = 0; i < c->nep; i++) {
        ep *p = &c->ep[i];
        const labels_label *l = c->e[p->ent].stop;
        etrace_endpoint *o = &out->endpoints[out->n_endpoints++];
        o->address = c->e[p->ent].id;
        o->label = l;
        labels_of(c, o->address, &o->labels, &o->n_labels);
        o->asset = p->asset;
        o->amount = p->amount;
        o->deposits = p->deposits;
        o->cross_chain_candidate = etrace_cross_chain_category(l->category);
        o->path = p->path, o->n_path = p->npath;
        p->path = NULL, p->npath = 0;
        if (add_category(out, &catcap, l->category, p->asset, &p->amount)) return etrace_oom(c);
    }
    out->xchain = c->xc, out->n_xchain = c->nxc;
    c->xc = NULL, c->nxc = 0;
    out->swaps = c->swaps, out->n_swaps = c->nswaps;
    c->swaps = NULL, c->nswaps = 0;
    out->edges = c->edges, out->n_edges = c->nedges;
    c->edges = NULL, c->nedges = 0;
    size_t na = 0;
    for (size_t i = 0; i < c->ne; i++)
        na += c->e[i].nas != 0;
    if (na && !(out->addresses = calloc(na, sizeof *out->addresses))) return etrace_oom(c);
    for (size_t i = 0; i < c->ne; i++) {
        ent *e = &c->e[i];
        if (!e->nas) continue;
        etrace_address *o = &out->addresses[out->n_addresses++];
        o->address = e->id, o->depth = e->depth;
        if (!(o->assets = calloc(e->nas, sizeof *o->assets))) return etrace_oom(c);
        o->n_assets = e->nas;
        for (size_t k = 0; k < e->nas; k++) {
            ast *a = &e->as[k];
            o->assets[k] =
                (etrace_address_asset){a->asset, a->t_in, a->t_out, a->fees, a->taint, a->bal};
        }
    }
    return etrace_fill_actors(c, out);
}

/* ---- the document ---- */

static json_t *u256_json(const evm_u256 *v)
{
    char d[EVM_U256_DEC_MAX];
    evm_u256_format(d, v);
    return json_string(d);
}

int etrace_addr_text(const evm_store *s, uint32_t id, char out[43])
{
    uint8_t a[20];
    out[0] = 0;
    if (id == NONE32 || evm_store_addr(s, id, a, NULL)) return -1;
    evm_addr_eip55(out, a);
    return 0;
}

void etrace_asset_text(const evm_store *s, uint32_t asset, char out[43])
{
    evm_token_meta m;
    if (!asset || evm_store_token(s, asset, &m, NULL)) {
        strcpy(out, asset ? "?" : "native");
        return;
    }
    out[0] = '0', out[1] = 'x';
    util_hex(out + 2, m.addr, 20);
}

static json_t *addr_json(const evm_store *s, uint32_t id)
{
    char t[43];
    return etrace_addr_text(s, id, t) ? json_null() : json_string(t);
}

static json_t *asset_json(const evm_store *s, uint32_t asset)
{
    char t[43];
    etrace_asset_text(s, asset, t);
    return json_string(t);
}

/* "TXHASH:INDEX" (null if the tx is not readable) or "xfer:X" without a transaction. */
static json_t *ref_json(const evm_store *s, const etrace_ref *r)
{
    if (r->tx == NONE64) {
        char b[64];
        snprintf(b, sizeof b, "xfer:%" PRIu64, r->xfer);
        return json_string(b);
    }
    evm_tx_row t;
    if (evm_store_tx(s, r->tx, &t, NULL)) return json_null();
    char h[67], b[100];
    evm_hash_hex(h, t.hash);
    snprintf(b, sizeof b, "%s:%" PRIu64, h, r->xfer - t.first_xfer);
    return json_string(b);
}

/* o[key] = v for a new object keyed by the asset's text, in insertion order. */
static void set_asset(const evm_store *s, json_t *o, uint32_t asset, json_t *v)
{
    char k[43];
    etrace_asset_text(s, asset, k);
    json_object_set_new(o, k, v);
}

json_t *etrace_xchain_json(const evm_store *s, const etrace_xchain *x)
{
    evm_xfer_row r;
    json_t *j = json_object();
    if (!j) return NULL;
    json_object_set_new(j, "endpoint", addr_json(s, x->endpoint));
    json_object_set_new(j, "category", json_string(x->label->category));
    json_object_set_new(j, "name", json_string(x->label->name));
    etrace_ref ref = {x->xfer, NONE64};
    int stored = !evm_store_xfer(s, x->xfer, &r, NULL);
    if (stored) ref = etrace_ref_of(x->xfer, &r);
    json_object_set_new(j, "transfer", stored ? ref_json(s, &ref) : json_null());
    json_object_set_new(j, "block", json_integer((json_int_t)x->block));
    json_object_set_new(j, "timestamp", json_integer((json_int_t)x->timestamp));
    json_object_set_new(j, "from", addr_json(s, x->from));
    json_object_set_new(j, "asset", asset_json(s, x->asset));
    json_object_set_new(j, "amount", u256_json(&x->amount));
    json_object_set_new(j, "taint", u256_json(&x->taint));
    return j;
}

static json_t *refs_json(const evm_store *s, const etrace_ref *r, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, ref_json(s, &r[i]));
    return a;
}

static json_t *endpoint_json(const evm_store *s, const etrace_result *res, size_t i)
{
    const etrace_endpoint *p = &res->endpoints[i];
    json_t *o = json_object();
    labels_actor w;
    etrace_endpoint_actor(res, i, &w);
    json_object_set_new(o, "address", addr_json(s, p->address));
    json_object_set_new(o, "category", json_string(p->label->category));
    json_object_set_new(o, "actor", w.name ? json_string(w.name) : json_null());
    json_object_set_new(o, "actor_from", json_string(labels_actor_from_name(w.from)));
    json_t *ls = json_array();
    for (size_t k = 0; k < p->n_labels; k++)
        json_array_append_new(ls, labels_to_json(&p->labels[k]));
    json_object_set_new(o, "labels", ls);
    json_object_set_new(o, "asset", asset_json(s, p->asset));
    json_object_set_new(o, "amount", u256_json(&p->amount));
    json_object_set_new(o, "deposits", json_integer((json_int_t)p->deposits));
    json_object_set_new(o, "cross_chain_candidate", json_boolean(p->cross_chain_candidate));
    json_object_set_new(o, "path", refs_json(s, p->path, p->n_path));
    return o;
}

static json_t *swap_json(const evm_store *s, const etrace_swap *w)
{
    json_t *j = json_object();
    json_object_set_new(j, "address", addr_json(s, w->address));
    json_object_set_new(j, "transfer", ref_json(s, &w->ref));
    json_object_set_new(j, "sent_asset", asset_json(s, w->sent_asset));
    json_object_set_new(j, "sent", u256_json(&w->sent));
    json_object_set_new(j, "sent_taint", u256_json(&w->sent_taint));
    json_object_set_new(j, "received_asset", asset_json(s, w->received_asset));
    json_object_set_new(j, "received", u256_json(&w->received));
    json_object_set_new(j, "received_taint", u256_json(&w->received_taint));
    return j;
}

static json_t *edge_json(const evm_store *s, const etrace_edge *g)
{
    json_t *j = json_object();
    json_object_set_new(j, "transfer", ref_json(s, &g->ref));
    json_object_set_new(j, "kind", json_string(evm_xfer_kind_name(g->kind)));
    json_object_set_new(j, "block", json_integer((json_int_t)g->block));
    json_object_set_new(j, "from", addr_json(s, g->from));
    json_object_set_new(j, "to", addr_json(s, g->to));
    json_object_set_new(j, "asset", asset_json(s, g->asset));
    json_object_set_new(j, "amount", u256_json(&g->amount));
    json_object_set_new(j, "taint", u256_json(&g->taint));
    json_object_set_new(j, "hop", json_integer(g->hop));
    json_object_set_new(j, "fate", json_string(g->fate));
    return j;
}

static json_t *address_json(const evm_store *s, const etrace_address *e)
{
    json_t *o = json_object(), *per = json_object();
    json_object_set_new(o, "address", addr_json(s, e->address));
    json_object_set_new(o, "depth", e->depth == NONE32 ? json_null() : json_integer(e->depth));
    for (size_t k = 0; k < e->n_assets; k++) {
        const etrace_address_asset *a = &e->assets[k];
        json_t *x = json_object();
        json_object_set_new(x, "taint_in", u256_json(&a->taint_in));
        json_object_set_new(x, "taint_out", u256_json(&a->taint_out));
        json_object_set_new(x, "fees", u256_json(&a->fees));
        json_object_set_new(x, "held", u256_json(&a->held));
        json_object_set_new(x, "balance", u256_json(&a->balance));
        set_asset(s, per, a->asset, x);
    }
    json_object_set_new(o, "assets", per);
    return o;
}

int etrace_result_json(const evm_store *s, const etrace_result *res, json_t **out, util_err *err)
{
    json_t *d = json_object();
    if (!d) goto nomem;
    json_object_set_new(d, "chain", json_string(evm_store_chain(s)));
    json_object_set_new(d, "seeds", refs_json(s, res->seeds, res->n_seeds));
    if (taint_doc_options(d, &res->opts.core, u256_json(&res->opts.min_value), res->opts.until_time,
                          "max_xfers") ||
        taint_doc_partial(d, res->partial, res->reason))
        goto nomem;
    json_object_set_new(d, "until_reached", json_boolean(res->until_reached));
    json_object_set_new(d, "partial_history", json_boolean(res->partial_history));
    json_t *tj = json_object();
    for (size_t i = 0; i < res->n_totals; i++) {
        json_t *o = json_object();
        for (int k = 0; k < NB; k++)
            json_object_set_new(o, bucket_names[k], u256_json(&res->totals[i].b[k]));
        json_object_set_new(o, "balanced", json_boolean(res->totals[i].balanced));
        set_asset(s, tj, res->totals[i].asset, o);
    }
    json_object_set_new(d, "totals", tj);
    json_object_set_new(d, "xfers_visited", json_integer((json_int_t)res->xfers_visited));
    json_t *a = etrace_actors_json(s, res);
    if (!a) goto nomem;
    json_object_set_new(d, "by_actor", a);
    a = json_array();
    for (size_t i = 0; i < res->n_endpoints; i++)
        json_array_append_new(a, endpoint_json(s, res, i));
    json_object_set_new(d, "endpoints", a);
    json_t *bycat = json_object();
    for (size_t i = 0; i < res->n_by_category; i++) {
        const etrace_category *k = &res->by_category[i];
        json_t *cat = json_object_get(bycat, k->category);
        if (!cat) json_object_set_new(bycat, k->category, cat = json_object());
        set_asset(s, cat, k->asset, u256_json(&k->amount));
    }
    json_object_set_new(d, "by_category", bycat);
    a = json_array();
    for (size_t i = 0; i < res->n_xchain; i++)
        json_array_append_new(a, etrace_xchain_json(s, &res->xchain[i]));
    json_object_set_new(d, "cross_chain", a);
    a = json_array();
    for (size_t i = 0; i < res->n_swaps; i++)
        json_array_append_new(a, swap_json(s, &res->swaps[i]));
    json_object_set_new(d, "swaps", a);
    a = json_array();
    for (size_t i = 0; i < res->n_edges; i++)
        json_array_append_new(a, edge_json(s, &res->edges[i]));
    json_object_set_new(d, "edges", a);
    a = json_array();
    for (size_t i = 0; i < res->n_addresses; i++)
        json_array_append_new(a, address_json(s, &res->addresses[i]));
    json_object_set_new(d, "addresses", a);
    *out = d;
    return 0;
nomem:
    json_decref(d);
    return util_errf(err, UTIL_ENOMEM, "out of memory writing the trace document");
}
