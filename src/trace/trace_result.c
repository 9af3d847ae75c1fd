/* trace_result: a finished propagation as a trace_result (seeds, options, totals, endpoints,
 * by category, edges, txs), its release, and the text of the ids it holds. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "trace_int.h"

static const char *const fate_names[] = {"followed", "endpoint", "unspent", "below_min_value",
                                         "overlap"};
static const char *const status_names[] = {"pending",    "followed", "beyond_hops", "beyond_until",
                                           "unresolved", "coinbase", "not_followed"};
static const char *const pattern_names[] = {"split", "consolidate", "peel",   "coinjoin",
                                            "hop",   "fresh",       "bridge", "swap"};

const char *trace_fate_name(int fate)
{
    return fate >= 0 && fate < 5 ? fate_names[fate] : "?";
}

const char *trace_tx_status_name(int status)
{
    return status >= 0 && status < 7 ? status_names[status] : "?";
}

const char *trace_pattern_name(int bit)
{
    return bit >= 0 && bit < TRACE_N_PATTERNS ? pattern_names[bit] : "?";
}

void trace_result_free(trace_result *r)
{
    if (!r) return;
    free(r->seeds);
    for (size_t i = 0; r->endpoints && i < r->n_endpoints; i++)
        free(r->endpoints[i].path);
    free(r->endpoints);
    free(r->by_category);
    free(r->edges);
    free(r->txs);
    free(r->nodes);
    free(r->flows);
    trace_actors_free(&r->actors);
    if (!r->actor_index_borrowed) trace_actor_index_free(r->actor_index);
    memset(r, 0, sizeof *r);
}

/* ---- the text of ids ---- */

char *trace_result_txid(const trace_result *r, uint32_t tx_index, char *buf)
{
    util_hash_hex(buf, store_tx_hash(r->s, r->txs[tx_index].tx));
    return buf;
}

char *trace_result_outpoint(const trace_result *r, uint64_t output, char *buf, size_t size)
{
    uint64_t tx = store_output_tx(r->s, output);
    char h[65];
    util_hash_hex(h, store_tx_hash(r->s, tx));
    snprintf(buf, size, "%s:%" PRIu64, h, output - store_tx_first_out(r->s, tx));
    return buf;
}

char *trace_result_address(const trace_result *r, uint32_t address, char *buf, size_t size)
{
    if (address == STORE_NO_ADDR) return NULL;
    char a[128]; /* btc_addr_encode's size */
    store_addr_text(r->s, address, a);
    snprintf(buf, size, "%s", a);
    return buf;
}

char *trace_result_node_id(const trace_result *r, uint32_t node, char *buf, size_t size)
{
    const trace_node *n = &r->nodes[node];
    if (n->entity != CLUSTER_NO_ENTITY) {
        snprintf(buf, size, "e%" PRIu32, n->entity);
    } else if (n->address == STORE_NO_ADDR) {
        snprintf(buf, size, "no-address");
    } else {
        char a[128];
        store_addr_text(r->s, n->address, a);
        snprintf(buf, size, "a:%s", a);
    }
    return buf;
}

/* ---- filling the result ---- */

static int cmp_ep(const void *pa, const void *pb)
{
    const ep_rec *a = *(const ep_rec *const *)pa, *b = *(const ep_rec *const *)pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* One endpoint: its labels (every label of the address, which are consecutive in the set, or
 * the entity's stop label alone) and its path (the txs from a seed to the first arrival). */
static int fill_endpoint(const tctx *c, const ep_rec *e, trace_endpoint *d)
{
    const labels_label *stop = labels_db_get(c->labels, e->label);
    memset(d, 0, sizeof *d);
    d->address = e->addr;
    d->entity = e->entity;
    d->via_entity = e->via_entity;
    d->label = e->label;
    d->amount = e->amount;
    d->deposits = e->deposits;
    if (e->via_entity) {
        d->labels_first = e->label;
        d->labels_n = 1;
    } else {
        size_t lo = e->label, nl = labels_db_count(c->labels), k;
        while (lo > 0 && !strcmp(labels_db_get(c->labels, lo - 1)->address, stop->address) &&
               !strcmp(labels_db_get(c->labels, lo - 1)->chain, stop->chain))
            lo--;
        for (k = lo; k < nl; k++) {
            const labels_label *l = labels_db_get(c->labels, k);
            if (strcmp(l->address, stop->address) || strcmp(l->chain, stop->chain)) break;
        }
        d->labels_first = lo;
        d->labels_n = k - lo;
    }
    /* a parent is one tx shallower: the path has as many txs as the last one's depth, which
     * no hop limit bounds */
    uint32_t from = c->or_[e->first_out].from;
    size_t np = from == NONE32 ? 0 : c->tr[from].depth, at = np;
    if (!(d->path = malloc((np ? np : 1) * sizeof *d->path))) return UTIL_ENOMEM;
    for (uint32_t r = from; r != NONE32 && at; r = c->tr[r].parent)
        d->path[--at] = r;
    if (at) memmove(d->path, d->path + at, (np - at) * sizeof *d->path); /* never: defensive */
    d->path_len = np - at;
    return 0;
}

static int add_category(trace_result *r, const char *cat, uint64_t amount)
{
    for (size_t i = 0; i < r->n_categories; i++)
        if (!strcmp(r->by_category[i].category, cat)) {
            r->by_category[i].amount += amount;
            return 0;
        }
    trace_category_total *p = realloc(r->by_category, (r->n_categories + 1) * sizeof *p);
    if (!p) return UTIL_ENOMEM;
    r->by_category = p;
    p[r->n_categories++] = (trace_category_total){cat, amount};
    return 0;
}

int trace_fill_result(const tctx *c, const trace_seeds *seeds, trace_result *r)
{
    const store *s = c->s;
    r->s = s;
    r->labels = c->labels;
    r->clustered = c->clusters != NULL;
    r->opts = *c->o;
    r->partial = c->partial;
    if (!(r->seeds = malloc((seeds->n ? seeds->n : 1) * sizeof *r->seeds))) return UTIL_ENOMEM;
    memcpy(r->seeds, seeds->out, seeds->n * sizeof *r->seeds);
    r->n_seeds = seeds->n;

    const totals *t = &c->t;
    trace_totals *rt = &r->totals;
    *rt = (trace_totals){t->seeded,
                         t->poison_added,
                         t->to_endpoints,
                         t->unspent,
                         t->fees,
                         t->below,
                         t->beyond_hops,
                         t->beyond_until,
                         t->unresolved,
                         t->coinbase,
                         t->overlap,
                         t->not_followed,
                         0};
    trace_bucket buckets[TRACE_TOTALS_BUCKETS];
    trace_totals_buckets(rt, buckets);
    taint_ledger led;
    taint_ledger_init(&led, TRACE_TOTALS_BUCKETS, 2); /* seeded, poison_added in */
    for (size_t k = 0; k < led.n; k++)
        taint_ledger_set_u64(&led, k, buckets[k].value);
    rt->balanced = taint_ledger_balanced(&led);
    r->outputs_visited = c->n_or;

    /* txs, in the order the trace reached them; their patterns come later */
    if (!(r->txs = calloc(c->n_tr ? c->n_tr : 1, sizeof *r->txs))) return UTIL_ENOMEM;
    r->n_txs = c->n_tr;
    for (size_t i = 0; i < c->n_tr; i++) {
        const tx_rec *x = &c->tr[i];
        r->txs[i] = (trace_tx){x->tx,
                               store_tx_block(s, x->tx),
                               x->depth,
                               x->status,
                               x->taint_in,
                               x->added,
                               x->taint_out,
                               x->fee,
                               -1,
                               0,
                               0};
    }

    /* edges: one per output that received taint */
    if (!(r->edges = calloc(c->n_or ? c->n_or : 1, sizeof *r->edges))) return UTIL_ENOMEM;
    r->n_edges = c->n_or;
    for (size_t i = 0; i < c->n_or; i++) {
        const out_rec *o = &c->or_[i];
        r->edges[i] =
            (trace_edge){o->from, o->to, o->out, store_out_addr(s, o->out), o->taint, o->fate, 0};
    }

    /* endpoints, largest first, and the totals per category in that order */
    const ep_rec **sorted = malloc((c->n_er ? c->n_er : 1) * sizeof *sorted);
    if (!sorted) return UTIL_ENOMEM;
    for (size_t i = 0; i < c->n_er; i++)
        sorted[i] = &c->er[i];
    qsort(sorted, c->n_er, sizeof *sorted, cmp_ep);
    int rc = 0;
    if (!(r->endpoints = calloc(c->n_er ? c->n_er : 1, sizeof *r->endpoints))) rc = UTIL_ENOMEM;
    for (size_t i = 0; !rc && i < c->n_er; i++) {
        rc = fill_endpoint(c, sorted[i], &r->endpoints[i]);
        r->n_endpoints = i + 1; /* what trace_result_free releases */
        if (!rc)
            rc = add_category(r, labels_db_get(c->labels, sorted[i]->label)->category,
                              sorted[i]->amount);
    }
    free(sorted);
    return rc ? rc : trace_fill_actors(c, r);
}

void trace_totals_buckets(const trace_totals *t, trace_bucket out[TRACE_TOTALS_BUCKETS])
{
    const trace_bucket b[TRACE_TOTALS_BUCKETS] = {{"seeded", t->seeded},
                                                  {"poison_added", t->poison_added},
                                                  {"to_endpoints", t->to_endpoints},
                                                  {"unspent", t->unspent},
                                                  {"fees", t->fees},
                                                  {"below_min_value", t->below_min_value},
                                                  {"beyond_hops", t->beyond_hops},
                                                  {"beyond_until", t->beyond_until},
                                                  {"unresolved", t->unresolved},
                                                  {"coinbase", t->coinbase},
                                                  {"overlap", t->overlap},
                                                  {"not_followed", t->not_followed}};
    memcpy(out, b, sizeof b);
}
