/* evmexpo: the screener, the one code path of EVM and cross-chain screening that `cointrail
 * screen` and the service's /v1/screen routes both call (evmexpo.h, "the screener"). Stores,
 * indexes and the overlay are opened or built once, on first use, under the screener's lock;
 * after that they are only read, so screenings run in parallel. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../exposure/exposure.h"
#include "evmexpo_int.h"

#define MAX_CHAINS 16

typedef struct chain_slot {
    char name[32];
    evm_store *s;      /* NULL: the chain has no store (or it could not be opened) */
    evmexpo_index *ix; /* NULL: no usable index */
    int rc;            /* evm_store_open's code when s is NULL */
    char msg[sizeof(((util_err *)0)->msg)];
} chain_slot;

struct evmexpo_screener {
    char *db;
    evmexpo_warn_fn warn;
    void *warn_ctx;
    pthread_mutex_t lock;
    chain_slot chains[MAX_CHAINS];
    size_t n_chains;
    int tried_x; /* the overlay was attempted (x NULL: there is none) */
    int have_links;
    xchain_links links;
    evmexpo_xbtc *x;
};

static void warn(evmexpo_screener *sc, const char *msg)
{
    if (sc->warn) sc->warn(sc->warn_ctx, msg);
}

int evmexpo_screener_new(evmexpo_screener **out, const char *db, evmexpo_warn_fn warn_fn,
                         void *warn_ctx, util_err *err)
{
    *out = NULL;
    evmexpo_screener *sc = calloc(1, sizeof *sc);
    if (!sc || !(sc->db = strdup(db))) {
        free(sc);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    sc->warn = warn_fn, sc->warn_ctx = warn_ctx;
    pthread_mutex_init(&sc->lock, NULL);
    *out = sc;
    return 0;
}

void evmexpo_screener_free(evmexpo_screener *sc)
{
    if (!sc) return;
    evmexpo_xbtc_free(sc->x);
    if (sc->have_links) xchain_links_free(&sc->links);
    for (size_t i = 0; i < sc->n_chains; i++) {
        evmexpo_close(sc->chains[i].ix);
        evm_store_close(sc->chains[i].s);
    }
    pthread_mutex_destroy(&sc->lock);
    free(sc->db);
    free(sc);
}

/* The chain's slot, opened on first use (with sc->lock held). NULL only when out of slots. */
static chain_slot *chain_locked(evmexpo_screener *sc, const char *chain)
{
    for (size_t i = 0; i < sc->n_chains; i++)
        if (!strcmp(sc->chains[i].name, chain)) return &sc->chains[i];
    if (sc->n_chains == MAX_CHAINS) return NULL;
    chain_slot *c = &sc->chains[sc->n_chains];
    memset(c, 0, sizeof *c);
    util_err e = {0};
    c->rc = evm_store_open(&c->s, sc->db, chain, 0, &e);
    if (c->rc) {
        c->s = NULL;
        snprintf(c->msg, sizeof c->msg, "%s", e.msg);
    } else if (evmexpo_open(&c->ix, sc->db, chain, &e)) {
        c->ix = NULL;
        if (e.code != UTIL_ENOTFOUND) warn(sc, e.msg);
    }
    /* a chain without a store is not kept: names asked for (the service's ?chain=) must not
     * use up the slots; asking again only looks for its MANIFEST again */
    if (!c->s) return c;
    snprintf(c->name, sizeof c->name, "%s", chain);
    sc->n_chains++;
    return c;
}

int evmexpo_screener_evm(evmexpo_screener *sc, const char *chain, const labels_db *labels,
                         const risk_config *cfg, const char *arg, json_t **out, util_err *err)
{
    *out = NULL;
    pthread_mutex_lock(&sc->lock);
    chain_slot *c = chain_locked(sc, chain ? chain : "eth");
    evm_store *s = c ? c->s : NULL;
    evmexpo_index *ix = c ? c->ix : NULL;
    int rc = !c   ? util_errf(err, UTIL_ENOMEM, "more than %d EVM chains asked for", MAX_CHAINS)
             : !s ? util_errf(err, c->rc, "%s", c->msg)
                  : 0;
    pthread_mutex_unlock(&sc->lock);
    if (rc) return rc;
    return evmexpo_screen(s, ix, labels, cfg, arg, out, err);
}

int evmexpo_screener_store(evmexpo_screener *sc, const char *chain, const evm_store **out,
                           util_err *err)
{
    *out = NULL;
    pthread_mutex_lock(&sc->lock);
    chain_slot *c = chain_locked(sc, chain);
    int rc = !c      ? util_errf(err, UTIL_ENOMEM, "more than %d EVM chains asked for", MAX_CHAINS)
             : !c->s ? util_errf(err, c->rc, "%s", c->msg)
                     : 0;
    if (!rc) *out = c->s;
    pthread_mutex_unlock(&sc->lock);
    return rc;
}

/* Build the overlay once (with sc->lock held): the links, and every EVM chain a link to
 * Bitcoin comes from that has a store and an index. */
static int overlay_locked(evmexpo_screener *sc, const store *btc, const labels_db *labels,
                          const cluster_map *clusters, const risk_config *cfg, util_err *err)
{
    if (sc->tried_x) return 0;
    sc->tried_x = 1;
    util_err e = {0};
    if (xchain_links_load(sc->db, &sc->links, &e)) {
        if (e.code != UTIL_ENOTFOUND) warn(sc, e.msg);
        return 0;
    }
    sc->have_links = 1;
    evm_store *evms[MAX_CHAINS];
    evmexpo_index *ixs[MAX_CHAINS];
    size_t n = 0;
    for (size_t i = 0; i < sc->links.n; i++) {
        const xchain_link *l = &sc->links.v[i];
        if (strcmp(l->to.chain, "btc") || !strcmp(l->from.chain, "btc")) continue;
        chain_slot *c = chain_locked(sc, l->from.chain);
        if (!c || !c->s || !c->ix) continue;
        size_t k = 0;
        while (k < n && evms[k] != c->s)
            k++;
        if (k == n) evms[n] = c->s, ixs[n++] = c->ix;
    }
    if (!n) return 0;
    int rc = evmexpo_xbtc_build(&sc->x, btc, labels, clusters, cfg, evms, ixs, n, &sc->links,
                                EXPOSURE_DEFAULT_FLOOR, err);
    if (rc) { /* (out of memory) tried again by the next screening */
        xchain_links_free(&sc->links);
        sc->have_links = 0, sc->tried_x = 0;
    }
    return rc;
}

int evmexpo_screener_btc(evmexpo_screener *sc, const store *btc, const labels_db *labels,
                         const cluster_map *clusters, const risk_config *cfg, const char *arg,
                         int *has, evmexpo_xresult *res, const xchain_links **links, util_err *err)
{
    *has = 0;
    pthread_mutex_lock(&sc->lock);
    int rc = overlay_locked(sc, btc, labels, clusters, cfg, err);
    const evmexpo_xbtc *x = sc->x;
    pthread_mutex_unlock(&sc->lock);
    if (rc || !x) return rc;
    if ((rc = evmexpo_xbtc_result(x, btc, &sc->links, cfg, arg, res, err))) return rc;
    *has = 1;
    if (links) *links = &sc->links;
    return 0;
}

int evmexpo_screener_btc_json(evmexpo_screener *sc, const store *btc, const labels_db *labels,
                              const cluster_map *clusters, const risk_config *cfg, const char *arg,
                              json_t *doc, util_err *err)
{
    int has = 0;
    evmexpo_xresult res;
    const xchain_links *links = NULL;
    int rc = evmexpo_screener_btc(sc, btc, labels, clusters, cfg, arg, &has, &res, &links, err);
    if (rc || !has) return rc;
    rc = evmexpo_xresult_json(&res, links, cfg, doc, err);
    evmexpo_xresult_free(&res);
    return rc;
}
