/* etrace: answers by actor (etrace.h): the endpoints and the addresses still holding taint,
 * per asset, grouped by the actor labels_actor decides for each. */
#include <stdlib.h>
#include <string.h>

#include "etrace_int.h"

typedef struct arow {
    etrace_actor_addr a;
    labels_actor who;
    const char *category;
    int role;
    uint32_t asset, asset_rank; /* rank: the asset's place among the totals */
} arow;

static int kind_of(const labels_actor *w)
{
    return w->name ? 0 : w->label ? 1 : 2;
}

static int cmp_who(const labels_actor *x, const labels_actor *y)
{
    int kx = kind_of(x), ky = kind_of(y);
    if (kx != ky) return kx < ky ? -1 : 1;
    if (kx == 0) return strcmp(x->name, y->name);
    if (kx == 1) return strcmp(x->label->category, y->label->category);
    return 0;
}

static int cmp_group(const arow *x, const arow *y)
{
    if (x->role != y->role) return x->role < y->role ? -1 : 1;
    if (x->asset_rank != y->asset_rank) return x->asset_rank < y->asset_rank ? -1 : 1;
    return cmp_who(&x->who, &y->who);
}

static int cmp_row(const void *pa, const void *pb)
{
    const arow *x = pa, *y = pb;
    int k = cmp_group(x, y);
    if (k) return k;
    k = evm_u256_cmp(&y->a.amount, &x->a.amount);
    if (k) return k;
    return x->a.address < y->a.address ? -1 : x->a.address > y->a.address;
}

typedef struct rank_actor {
    etrace_actor g;
    uint32_t asset_rank;
} rank_actor;

static int cmp_actor(const void *pa, const void *pb)
{
    const rank_actor *x = pa, *y = pb;
    if (x->g.role != y->g.role) return x->g.role < y->g.role ? -1 : 1;
    if (x->asset_rank != y->asset_rank) return x->asset_rank < y->asset_rank ? -1 : 1;
    int k = evm_u256_cmp(&y->g.amount, &x->g.amount);
    return k ? k : cmp_who(&x->g.who, &y->g.who);
}

static double u256_double(const evm_u256 *v)
{
    double d = 0;
    for (int i = 3; i >= 0; i--)
        d = d * 18446744073709551616.0 + (double)v->w[i];
    return d;
}

static uint32_t asset_rank(const etrace_result *out, uint32_t asset, evm_u256 *seeded)
{
    for (size_t i = 0; i < out->n_totals; i++)
        if (out->totals[i].asset == asset) {
            if (seeded) *seeded = out->totals[i].b[ETRACE_B_SEEDED];
            return (uint32_t)i;
        }
    if (seeded) *seeded = (evm_u256){{0}};
    return (uint32_t)out->n_totals;
}

/* The labels of an address on the store's label chain ("eth", as endpoints are found). */
static void own_labels(ctx *c, uint32_t id, const labels_label **first, size_t *n)
{
    *first = NULL, *n = 0;
    uint8_t a[20];
    char hex[43] = "0x";
    if (!c->labels || evm_store_addr(c->s, id, a, NULL)) return;
    util_hex(hex + 2, a, 20);
    labels_find(c->labels, "eth", hex, first, n);
}

/* The address's deposit entity (evmclust), or NULL. */
static const evmclust_deposit *deposit_of(ctx *c, uint32_t id)
{
    uint8_t a[20];
    char hex[43] = "0x";
    if (!c->o->entities || evm_store_addr(c->s, id, a, NULL)) return NULL;
    util_hex(hex + 2, a, 20);
    return evmclust_find(c->o->entities, hex);
}

void etrace_address_actor(const evm_store *s, const labels_db *labels, const evmclust_set *entities,
                          uint32_t id, labels_actor *out, const labels_label **stop)
{
    labels_actor_init(out);
    if (stop) *stop = NULL;
    uint8_t a[20];
    char hex[43] = "0x";
    if (evm_store_addr(s, id, a, NULL)) return;
    util_hex(hex + 2, a, 20);
    const labels_label *first = NULL, *st = NULL;
    size_t n = 0;
    if (labels) labels_find(labels, "eth", hex, &first, &n);
    for (size_t i = 0; i < n && !st; i++)
        for (size_t k = 0; k < labels_service_stops(0); k++)
            if (!strcmp(first[i].category, labels_service_categories()[k])) {
                st = &first[i];
                break;
            }
    labels_actor_offer(out, st, LABELS_OFFER_PRIMARY, 0);
    for (size_t i = 0; i < n; i++)
        if (&first[i] != st) labels_actor_offer(out, &first[i], LABELS_OFFER_OWN, 0);
    const evmclust_deposit *dep = entities ? evmclust_find(entities, hex) : NULL;
    if (dep) labels_actor_offer(out, &dep->label, LABELS_OFFER_ENTITY, 0);
    if (stop) *stop = st;
}

void etrace_endpoint_actor(const etrace_result *res, size_t i, labels_actor *out)
{
    const etrace_endpoint *e = &res->endpoints[i];
    labels_actor_init(out);
    labels_actor_offer(out, e->label, LABELS_OFFER_PRIMARY, 0);
    for (size_t k = 0; k < e->n_labels; k++)
        labels_actor_offer(out, &e->labels[k], LABELS_OFFER_OWN, 0);
}

static int cmp_holder(const void *pa, const void *pb)
{
    const arow *x = pa, *y = pb;
    if (x->a.address != y->a.address) return x->a.address < y->a.address ? -1 : 1;
    return x->asset < y->asset ? -1 : x->asset > y->asset;
}

int etrace_fill_actors(ctx *c, etrace_result *out)
{
    size_t cap = out->n_endpoints, n = 0;
    for (size_t i = 0; i < out->n_addresses; i++)
        cap += out->addresses[i].n_assets;
    arow *rows = calloc(cap ? cap : 1, sizeof *rows);
    if (!rows) return etrace_oom(c);
    for (size_t i = 0; i < out->n_endpoints; i++) {
        const etrace_endpoint *e = &out->endpoints[i];
        arow *w = &rows[n++];
        w->a = (etrace_actor_addr){e->address, (uint32_t)i, e->amount, e->deposits,
                                   e->n_path ? (uint32_t)(e->n_path - 1) : 0};
        etrace_endpoint_actor(out, i, &w->who);
        w->category = e->label->category;
        w->role = ETRACE_ACTOR_ENDPOINT;
        w->asset = e->asset;
        w->asset_rank = asset_rank(out, e->asset, NULL);
    }
    /* holders: addresses (never endpoints: taint reaching those is not held) with taint left */
    size_t first_holder = n;
    for (size_t i = 0; i < out->n_addresses; i++) {
        const etrace_address *d = &out->addresses[i];
        for (size_t k = 0; k < d->n_assets; k++) {
            if (evm_u256_is_zero(&d->assets[k].held)) continue;
            arow *w = &rows[n++];
            w->a = (etrace_actor_addr){d->address, NONE32, d->assets[k].held, 0,
                                       d->depth == NONE32 ? 0 : d->depth};
            const labels_label *first;
            size_t nl;
            own_labels(c, d->address, &first, &nl);
            labels_actor_init(&w->who);
            for (size_t q = 0; q < nl; q++)
                labels_actor_offer(&w->who, &first[q], LABELS_OFFER_OWN, 0);
            const evmclust_deposit *dep = deposit_of(c, d->address);
            if (dep) labels_actor_offer(&w->who, &dep->label, LABELS_OFFER_ENTITY, 0);
            w->category = w->who.label ? w->who.label->category : NULL;
            w->role = ETRACE_ACTOR_HOLDER;
            w->asset = d->assets[k].asset;
            w->asset_rank = asset_rank(out, w->asset, NULL);
        }
    }
    /* a holder's deposits: the tainted transfers it was credited with */
    size_t nh = n - first_holder;
    if (nh) {
        qsort(rows + first_holder, nh, sizeof *rows, cmp_holder);
        for (size_t i = 0; i < out->n_edges; i++) {
            const etrace_edge *g = &out->edges[i];
            if (strcmp(g->fate, "followed") || evm_u256_is_zero(&g->taint)) continue;
            arow key = {.a = {.address = g->to}, .asset = g->asset};
            arow *hit = bsearch(&key, rows + first_holder, nh, sizeof *rows, cmp_holder);
            if (hit) hit->a.deposits++;
        }
    }
    int rc = 0;
    size_t groups = 0;
    rank_actor *ra = NULL;
    if (n) {
        qsort(rows, n, sizeof *rows, cmp_row);
        groups = 1;
        for (size_t i = 1; i < n; i++)
            groups += cmp_group(&rows[i - 1], &rows[i]) != 0;
        ra = calloc(groups, sizeof *ra);
        out->actor_addrs = malloc(n * sizeof *out->actor_addrs);
        if (!ra || !out->actor_addrs) {
            rc = etrace_oom(c);
            goto done;
        }
    }
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        out->actor_addrs[i] = rows[i].a;
        if (i == 0 || cmp_group(&rows[i - 1], &rows[i])) {
            rank_actor *g = &ra[ng++];
            g->g.who = rows[i].who; /* the largest address's decision speaks for the group */
            g->g.category = rows[i].category;
            g->g.role = rows[i].role;
            g->g.asset = rows[i].asset;
            g->g.hops = UINT32_MAX;
            g->g.first = i;
            g->asset_rank = rows[i].asset_rank;
        }
        etrace_actor *g = &ra[ng - 1].g;
        g->n++;
        /* wraps as the document's sums always have: an asset's total is below 2^256 */
        evm_u256_add(&g->amount, &g->amount, &rows[i].a.amount);
        g->deposits += rows[i].a.deposits;
        if (rows[i].a.hops < g->hops) g->hops = rows[i].a.hops;
    }
    out->n_actor_addrs = n;
    for (size_t k = 0; k < ng; k++) {
        evm_u256 seeded;
        asset_rank(out, ra[k].g.asset, &seeded);
        double sd = u256_double(&seeded);
        ra[k].g.share = sd > 0 ? u256_double(&ra[k].g.amount) / sd : 0;
    }
    if (ng) qsort(ra, ng, sizeof *ra, cmp_actor);
    if (ng && !(out->actors = malloc(ng * sizeof *out->actors))) {
        rc = etrace_oom(c);
        goto done;
    }
    for (size_t k = 0; k < ng; k++)
        out->actors[k] = ra[k].g;
    out->n_actors = ng;
done:
    free(ra);
    free(rows);
    return rc;
}

static json_t *u256_str(const evm_u256 *v)
{
    char d[EVM_U256_DEC_MAX];
    evm_u256_format(d, v);
    return json_string(d);
}

json_t *etrace_actors_json(const evm_store *s, const etrace_result *res)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < res->n_actors; i++) {
        const etrace_actor *g = &res->actors[i];
        char asset[43];
        etrace_asset_text(s, g->asset, asset);
        json_t *addrs = json_array();
        json_t *o = json_pack("{s:o, s:s, s:o, s:s, s:s, s:o, s:f, s:I, s:I, s:I, s:o}", "actor",
                              g->who.name ? json_string(g->who.name) : json_null(), "actor_from",
                              labels_actor_from_name(g->who.from), "category",
                              g->category ? json_string(g->category) : json_null(), "role",
                              g->role == ETRACE_ACTOR_HOLDER ? "holder" : "endpoint", "asset",
                              asset, "amount", u256_str(&g->amount), "share", g->share, "deposits",
                              (json_int_t)g->deposits, "deposit_addresses", (json_int_t)g->n,
                              "hops", (json_int_t)g->hops, "addresses", addrs);
        if (!o || json_array_append_new(arr, o)) goto nomem;
        for (size_t k = 0; k < g->n; k++) {
            const etrace_actor_addr *d = &res->actor_addrs[g->first + k];
            char a[43];
            json_t *j = json_pack("{s:o, s:o, s:I, s:I}", "address",
                                  etrace_addr_text(s, d->address, a) ? json_null() : json_string(a),
                                  "amount", u256_str(&d->amount), "deposits",
                                  (json_int_t)d->deposits, "hops", (json_int_t)d->hops);
            if (!j || json_array_append_new(addrs, j)) goto nomem;
        }
    }
    return arr;
nomem:
    json_decref(arr);
    return NULL;
}
