/* tally: the computation. Each incident's contribution (stolen, arrived and destinations per
 * asset) is worked out once from its latest trace's runs, then added to every group it belongs
 * to, the total and the year/actor series. */
#include "tally.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"

static const char *const kind_names[TALLY_NKINDS] = {
    "exchange", "otc", "bridge", "swap", "mixer", "converted", "unspent", "fees", "untraced"};

const char *tally_kind_name(int kind)
{
    return kind >= 0 && kind < TALLY_NKINDS ? kind_names[kind] : "?";
}

int tally_by_parse(const char *list, unsigned *by, util_err *err)
{
    *by = 0;
    const char *p = list ? list : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 5 && !strncmp(p, "actor", 5))
            *by |= TALLY_BY_ACTOR;
        else if (n == 4 && !strncmp(p, "year", 4))
            *by |= TALLY_BY_YEAR;
        else if (n == 5 && !strncmp(p, "chain", 5))
            *by |= TALLY_BY_CHAIN;
        else
            return util_errf(err, UTIL_EINVAL, "--by: '%.*s' is not actor, year or chain",
                             (int)(n < 40 ? n : 40), p);
        p += n + (p[n] == ',');
    }
    return 0;
}

void tally_units(char *out, size_t cap, const evm_u256 *v, int decimals)
{
    char d[EVM_U256_DEC_MAX], p[EVM_U256_DEC_MAX + 80];
    evm_u256_format(d, v);
    int n = (int)strlen(d);
    if (decimals < 0 || decimals > 77) decimals = 0;
    if (n <= decimals) { /* leading zeros: at least one digit before the point */
        memset(p, '0', (size_t)(decimals + 1 - n));
        memcpy(p + decimals + 1 - n, d, (size_t)n + 1);
    } else
        memcpy(p, d, (size_t)n + 1);
    int len = (int)strlen(p), w = len - decimals, fl = decimals;
    while (fl && p[w + fl - 1] == '0')
        fl--;
    snprintf(out, cap, "%.*s%s%.*s", w, p, fl ? "." : "", fl, p + w);
}

/* ---------------- assets ---------------- */

typedef struct ctx {
    tally_result *r;
    size_t cap_assets;
    util_err *err;
} ctx;

/* The asset of a run's totals: Bitcoin runs say "BTC", EVM runs "native" or a token. */
static const char *run_asset(const case_run *run, const char *asset)
{
    return !strcmp(run->chain, "btc") ? "native" : asset;
}

static long find_asset(const tally_result *r, const char *chain, const char *asset)
{
    for (size_t i = 0; i < r->n_assets; i++)
        if (!strcmp(r->assets[i].chain, chain) && !strcmp(r->assets[i].asset, asset))
            return (long)i;
    return -1;
}

/* Register an asset (symbol and decimals: NULL / -1 when the caller does not know them). */
static long add_asset(ctx *c, const char *chain, const char *asset, const char *symbol,
                      int decimals)
{
    tally_result *r = c->r;
    long i = find_asset(r, chain, asset);
    if (i < 0) {
        if (r->n_assets == c->cap_assets) {
            size_t nc = c->cap_assets ? 2 * c->cap_assets : 8;
            tally_asset *a = realloc(r->assets, nc * sizeof *a);
            if (!a) return -1;
            r->assets = a, c->cap_assets = nc;
        }
        tally_asset *a = &r->assets[r->n_assets];
        memset(a, 0, sizeof *a);
        snprintf(a->chain, sizeof a->chain, "%s", chain);
        snprintf(a->asset, sizeof a->asset, "%s", asset);
        a->decimals = -1;
        i = (long)r->n_assets++;
    }
    tally_asset *a = &r->assets[i];
    if (symbol && *symbol && !*a->symbol) snprintf(a->symbol, sizeof a->symbol, "%s", symbol);
    if (decimals >= 0 && a->decimals < 0) a->decimals = decimals;
    return i;
}

/* Assets named only by runs: Bitcoin is BTC/8, an EVM chain's native coin CHAIN/18, a token
 * whose symbol no incident gave its address with 0 decimals (amounts then in base units). */
static void finish_assets(tally_result *r)
{
    for (size_t i = 0; i < r->n_assets; i++) {
        tally_asset *a = &r->assets[i];
        int native = !strcmp(a->asset, "native");
        if (!*a->symbol) {
            if (!strcmp(a->chain, "btc"))
                snprintf(a->symbol, sizeof a->symbol, "BTC");
            else if (native) {
                snprintf(a->symbol, sizeof a->symbol, "%s", a->chain);
                for (char *p = a->symbol; *p; p++)
                    *p = (char)toupper((unsigned char)*p);
            } else
                snprintf(a->symbol, sizeof a->symbol, "%s", a->asset);
        }
        if (a->decimals < 0) a->decimals = !strcmp(a->chain, "btc") ? 8 : native ? 18 : 0;
    }
}

/* ---------------- one incident's contribution ---------------- */

typedef struct contrib {
    evm_u256 *stolen, *arrived; /* per asset */
    tally_dest *dests;
    size_t n_dests, cap_dests;
} contrib;

static void contrib_free(contrib *k)
{
    for (size_t i = 0; i < k->n_dests; i++)
        free(k->dests[i].name);
    free(k->stolen), free(k->arrived), free(k->dests);
    memset(k, 0, sizeof *k);
}

/* Add amount to the destination (kind, name, asset) of a list, merging equal keys. */
static int dest_add(tally_dest **v, size_t *n, size_t *cap, int kind, const char *name,
                    size_t asset, const evm_u256 *amount)
{
    if (evm_u256_is_zero(amount)) return 0;
    for (size_t i = 0; i < *n; i++) {
        tally_dest *d = &(*v)[i];
        if (d->kind == kind && d->asset == asset && !strcmp(d->name, name)) {
            evm_u256_add(&d->amount, &d->amount, amount);
            return 0;
        }
    }
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        tally_dest *a = realloc(*v, nc * sizeof *a);
        if (!a) return UTIL_ENOMEM;
        *v = a, *cap = nc;
    }
    tally_dest *d = &(*v)[*n];
    if (!(d->name = strdup(name))) return UTIL_ENOMEM;
    d->kind = kind, d->asset = asset, d->amount = *amount;
    (*n)++;
    return 0;
}

static int num(const char *s, evm_u256 *v)
{
    return s && *s && !evm_u256_parse(v, s, strlen(s), NULL) ? 0 : -1;
}

static int kind_of(const char *category)
{
    for (int k = 0; k <= TALLY_MIXER; k++)
        if (!strcmp(category, kind_names[k])) return k;
    return -1;
}

/* x * num / den (num <= den), exact. */
static void scale(evm_u256 *out, const evm_u256 *x, const evm_u256 *n, const evm_u256 *d, int cross)
{
    evm_u256 r;
    if (!cross || etrace_muldiv(out, &r, x, n, d)) *out = *x;
}

static int leg_contrib(ctx *c, const case_incident *inc, size_t li, contrib *k)
{
    const case_itrace *t = &inc->trace;
    const case_leg *l = &t->legs[li];
    const case_run *run = &t->runs[li];
    int cross = !strcmp(l->leg, "cross_chain");
    evm_u256 sn, sd;
    if (num(l->share_num, &sn) || num(l->share_den, &sd) || evm_u256_is_zero(&sd) ||
        evm_u256_cmp(&sn, &sd) > 0)
        return util_errf(c->err, UTIL_ECORRUPT, "incident %s, run %" PRId64 ": share %s/%s",
                         inc->slug, run->id, l->share_num, l->share_den);
    /* each asset of the run's totals */
    for (size_t i = 0; i < run->n_totals; i++) {
        const char *asset = run_asset(run, run->totals[i].asset);
        int first = 1;
        for (size_t j = 0; j < i; j++)
            first &= strcmp(run_asset(run, run->totals[j].asset), asset) != 0;
        if (!first) continue;
        long ai = find_asset(c->r, run->chain, asset);
        if (ai < 0) return util_errf(c->err, UTIL_ECORRUPT, "asset %s not registered", asset);
        evm_u256 in = {{0}}, out = {{0}}, v, s;
        for (size_t j = i; j < run->n_totals; j++) {
            const case_total *b = &run->totals[j];
            if (strcmp(run_asset(run, b->asset), asset)) continue;
            if (num(b->amount, &v))
                return util_errf(c->err, UTIL_ECORRUPT, "run %" PRId64 ": bucket %s: '%s'", run->id,
                                 b->bucket, b->amount);
            scale(&s, &v, &sn, &sd, cross);
            int kind = !strcmp(b->bucket, "unspent") || !strcmp(b->bucket, "held") ? TALLY_UNSPENT
                       : !strcmp(b->bucket, "fees")                                ? TALLY_FEES
                       : !strcmp(b->bucket, "swapped_out")                         ? TALLY_CONVERTED
                                                                                   : -1;
            if (!strcmp(b->bucket, "seeded") || !strcmp(b->bucket, "poison_added") ||
                !strcmp(b->bucket, "swapped_in")) {
                evm_u256_add(&in, &in, &s);
                /* what came from elsewhere: a cross-chain leg's seeds, a DEX swap's output */
                if ((cross && !strcmp(b->bucket, "seeded")) || !strcmp(b->bucket, "swapped_in"))
                    evm_u256_add(&k->arrived[ai], &k->arrived[ai], &s);
            } else if (kind >= 0) {
                evm_u256_add(&out, &out, &s);
                if (dest_add(&k->dests, &k->n_dests, &k->cap_dests, kind, "", (size_t)ai, &s))
                    return util_errf(c->err, UTIL_ENOMEM, "out of memory");
            }
        }
        /* the endpoints of this asset */
        for (size_t e = 0; e < run->n_endpoints; e++) {
            const case_endpoint *ep = &run->endpoints[e];
            if (strcmp(run_asset(run, ep->asset), asset)) continue;
            if (num(ep->amount, &v))
                return util_errf(c->err, UTIL_ECORRUPT, "run %" PRId64 ": endpoint amount '%s'",
                                 run->id, ep->amount);
            scale(&s, &v, &sn, &sd, cross);
            evm_u256_add(&out, &out, &s);
            int kind = kind_of(ep->category);
            const char *name = *ep->actor ? ep->actor : ep->name;
            int rc = 0;
            if (kind < 0)
                rc = dest_add(&k->dests, &k->n_dests, &k->cap_dests, TALLY_UNTRACED, "", (size_t)ai,
                              &s);
            else if (kind == TALLY_BRIDGE || kind == TALLY_SWAP) {
                /* by the chain a followed link took the deposits to */
                evm_u256 left = s;
                for (size_t d = 0; !rc && d < t->n_deposits; d++) {
                    const case_deposit *dp = &t->deposits[d];
                    evm_u256 taint;
                    if (dp->run_id != run->id || !*dp->to_chain || strcmp(dp->asset, asset) ||
                        strcasecmp(dp->address, ep->address) || num(dp->taint, &taint))
                        continue;
                    scale(&taint, &taint, &sn, &sd, cross);
                    if (evm_u256_cmp(&taint, &left) > 0) taint = left;
                    evm_u256_sub(&left, &left, &taint);
                    rc = dest_add(&k->dests, &k->n_dests, &k->cap_dests, kind, dp->to_chain,
                                  (size_t)ai, &taint);
                }
                if (!rc)
                    rc = dest_add(&k->dests, &k->n_dests, &k->cap_dests, kind, "", (size_t)ai,
                                  &left);
            } else
                rc = dest_add(
                    &k->dests, &k->n_dests, &k->cap_dests, kind,
                    kind == TALLY_EXCHANGE || kind == TALLY_OTC || kind == TALLY_MIXER ? name : "",
                    (size_t)ai, &s);
            if (rc) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
        }
        /* the rest of what came in: beyond the hops, below the minimum, not followed, ... */
        evm_u256 rest = {{0}};
        if (evm_u256_cmp(&in, &out) > 0) evm_u256_sub(&rest, &in, &out);
        if (dest_add(&k->dests, &k->n_dests, &k->cap_dests, TALLY_UNTRACED, "", (size_t)ai, &rest))
            return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

static int incident_contrib(ctx *c, const case_incident *inc, contrib *k)
{
    size_t na = c->r->n_assets ? c->r->n_assets : 1;
    if (!(k->stolen = calloc(na, sizeof *k->stolen)) ||
        !(k->arrived = calloc(na, sizeof *k->arrived)))
        return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < inc->n_stolen; i++) {
        long ai = find_asset(c->r, inc->stolen[i].chain, inc->stolen[i].asset);
        evm_u256 v;
        if (ai < 0 || num(inc->stolen[i].amount, &v))
            return util_errf(c->err, UTIL_ECORRUPT, "incident %s: stolen '%s'", inc->slug,
                             inc->stolen[i].amount);
        k->stolen[ai] = v;
        /* a chain no run of the trace covered: all of it untraced */
        int covered = 0;
        for (size_t l = 0; l < inc->trace.n_legs; l++)
            covered |= !strcmp(inc->trace.legs[l].leg, "seeds") &&
                       !strcmp(inc->trace.runs[l].chain, inc->stolen[i].chain);
        if (!covered &&
            dest_add(&k->dests, &k->n_dests, &k->cap_dests, TALLY_UNTRACED, "", (size_t)ai, &v))
            return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    }
    for (size_t l = 0; l < inc->trace.n_legs; l++) {
        int rc = leg_contrib(c, inc, l, k);
        if (rc) return rc;
    }
    return 0;
}

/* ---------------- groups ---------------- */

typedef struct glist {
    tally_group *v;
    size_t n, cap;
    size_t *cap_dests; /* per group */
} glist;

static int key_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static tally_group *group_get(ctx *c, glist *g, const char *actor, const char *year,
                              const char *chain)
{
    for (size_t i = 0; i < g->n; i++)
        if (key_eq(g->v[i].actor, actor) && key_eq(g->v[i].year, year) &&
            key_eq(g->v[i].chain, chain))
            return &g->v[i];
    if (g->n == g->cap) {
        size_t nc = g->cap ? 2 * g->cap : 16;
        tally_group *a = realloc(g->v, nc * sizeof *a);
        size_t *cd = realloc(g->cap_dests, nc * sizeof *cd);
        if (a) g->v = a;
        if (cd) g->cap_dests = cd;
        if (!a || !cd) return NULL;
        g->cap = nc;
    }
    tally_group *x = &g->v[g->n];
    memset(x, 0, sizeof *x);
    g->cap_dests[g->n] = 0;
    g->n++;
    size_t na = c->r->n_assets ? c->r->n_assets : 1;
    if ((actor && !(x->actor = strdup(actor))) || (year && !(x->year = strdup(year))) ||
        (chain && !(x->chain = strdup(chain))) || !(x->stolen = calloc(na, sizeof *x->stolen)) ||
        !(x->arrived = calloc(na, sizeof *x->arrived)))
        return NULL;
    return x;
}

static int64_t usd_cents(const char *usd, int *ok)
{
    *ok = 0;
    if (!usd || !*usd) return 0;
    int64_t v = 0;
    const char *p = usd;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > INT64_MAX / 1000) return 0;
        v = v * 10 + (*p - '0');
    }
    int frac = 0, digits = 0;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p) && digits < 2; p++, digits++)
            frac = frac * 10 + (*p - '0');
    if (digits == 1) frac *= 10;
    if (*p) return 0;
    *ok = 1;
    return v * 100 + frac;
}

/* Add an incident's contribution to a group; chain: only that chain's assets (NULL: all). */
static int group_add(ctx *c, tally_group *g, size_t *cap_dests, const case_incident *inc,
                     const contrib *k, const char *chain)
{
    char **ids = realloc(g->ids, (g->incidents + 1) * sizeof *ids);
    if (!ids) return UTIL_ENOMEM;
    g->ids = ids;
    if (!(ids[g->incidents] = strdup(inc->slug))) return UTIL_ENOMEM;
    g->incidents++;
    g->traced += inc->trace.id != 0;
    int ok;
    int64_t cents = usd_cents(inc->usd, &ok);
    if (ok) g->usd_cents += cents, g->usd_incidents++;
    for (size_t a = 0; a < c->r->n_assets; a++) {
        if (chain && strcmp(c->r->assets[a].chain, chain)) continue;
        evm_u256_add(&g->stolen[a], &g->stolen[a], &k->stolen[a]);
        evm_u256_add(&g->arrived[a], &g->arrived[a], &k->arrived[a]);
    }
    for (size_t i = 0; i < k->n_dests; i++) {
        const tally_dest *d = &k->dests[i];
        if (chain && strcmp(c->r->assets[d->asset].chain, chain)) continue;
        if (dest_add(&g->dests, &g->n_dests, cap_dests, d->kind, d->name, d->asset, &d->amount))
            return UTIL_ENOMEM;
    }
    return 0;
}

/* The chains an incident is on: those it names, its stolen assets' and its runs'. */
static int inc_chains(const case_incident *inc, char (*out)[16], size_t cap, size_t *n)
{
    *n = 0;
#define ADD(s, len)                                                                                \
    do {                                                                                           \
        char t[16];                                                                                \
        snprintf(t, sizeof t, "%.*s", (int)(len), s);                                              \
        size_t j = 0;                                                                              \
        while (j < *n && strcmp(out[j], t))                                                        \
            j++;                                                                                   \
        if (j == *n && *n < cap) memcpy(out[(*n)++], t, sizeof t);                                 \
    } while (0)
    for (const char *p = inc->chains; p && *p;) {
        size_t k = strcspn(p, ",");
        ADD(p, k);
        p += k + (p[k] == ',');
    }
    for (size_t i = 0; i < inc->n_stolen; i++)
        ADD(inc->stolen[i].chain, strlen(inc->stolen[i].chain));
    for (size_t i = 0; i < inc->trace.n_legs; i++)
        ADD(inc->trace.runs[i].chain, strlen(inc->trace.runs[i].chain));
#undef ADD
    return 0;
}

static int cmp_key(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int cmp_group(const void *x, const void *y)
{
    const tally_group *a = x, *b = y;
    int c = cmp_key(a->actor, b->actor);
    if (!c) c = cmp_key(a->year, b->year);
    if (!c) c = cmp_key(a->chain, b->chain);
    return c;
}

static int cmp_group_year(const void *x, const void *y)
{
    const tally_group *a = x, *b = y;
    int c = cmp_key(a->year, b->year);
    return c ? c : cmp_key(a->actor, b->actor);
}

static int cmp_dest(const void *x, const void *y)
{
    const tally_dest *a = x, *b = y;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    if (a->asset != b->asset) return a->asset < b->asset ? -1 : 1;
    int c = evm_u256_cmp(&b->amount, &a->amount);
    return c ? c : strcmp(a->name, b->name);
}

/* qsort, which must not be given a NULL array even for no elements */
static void sort(void *a, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) qsort(a, n, size, cmp);
}

static void group_free(tally_group *g)
{
    free(g->actor), free(g->year), free(g->chain);
    for (size_t i = 0; i < g->incidents; i++)
        free(g->ids[i]);
    for (size_t i = 0; i < g->n_dests; i++)
        free(g->dests[i].name);
    free(g->ids), free(g->stolen), free(g->arrived), free(g->dests);
    memset(g, 0, sizeof *g);
}

void tally_result_free(tally_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_groups; i++)
        group_free(&r->groups[i]);
    for (size_t i = 0; i < r->n_years; i++)
        group_free(&r->years[i]);
    group_free(&r->total);
    free(r->groups), free(r->years), free(r->assets);
    memset(r, 0, sizeof *r);
}

int tally_compute(const case_incident *inc, size_t n, unsigned by, tally_result *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    out->by = by;
    ctx c = {.r = out, .err = err};
    int rc = 0;
    /* pass 1: every asset, with the symbols the incidents' amounts give */
    for (size_t i = 0; i < n && !rc; i++) {
        for (size_t s = 0; s < inc[i].n_stolen && !rc; s++)
            if (add_asset(&c, inc[i].stolen[s].chain, inc[i].stolen[s].asset,
                          inc[i].stolen[s].symbol, inc[i].stolen[s].decimals) < 0)
                rc = UTIL_ENOMEM;
        for (size_t l = 0; l < inc[i].trace.n_legs && !rc; l++) {
            const case_run *run = &inc[i].trace.runs[l];
            for (size_t t = 0; t < run->n_totals && !rc; t++)
                if (add_asset(&c, run->chain, run_asset(run, run->totals[t].asset), NULL, -1) < 0)
                    rc = UTIL_ENOMEM;
        }
    }
    if (rc) {
        tally_result_free(out);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    finish_assets(out);
    /* pass 2: contributions into the groups */
    glist groups = {0}, years = {0};
    size_t total_cap = 0;
    size_t na = out->n_assets ? out->n_assets : 1;
    if (!(out->total.stolen = calloc(na, sizeof(evm_u256))) ||
        !(out->total.arrived = calloc(na, sizeof(evm_u256))))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        contrib k = {0};
        if ((rc = incident_contrib(&c, &inc[i], &k))) {
            contrib_free(&k);
            break;
        }
        const char *actor = inc[i].n_attrs ? inc[i].attrs[0].actor : "(unattributed)";
        char year[16] = "(undated)";
        if (strlen(inc[i].date) >= 4) snprintf(year, sizeof year, "%.4s", inc[i].date);
        if (group_add(&c, &out->total, &total_cap, &inc[i], &k, NULL)) rc = UTIL_ENOMEM;
        tally_group *yg = rc ? NULL : group_get(&c, &years, actor, year, NULL);
        if (!rc && (!yg || group_add(&c, yg, &years.cap_dests[yg - years.v], &inc[i], &k, NULL)))
            rc = UTIL_ENOMEM;
        char chains[32][16];
        size_t nc = 0;
        inc_chains(&inc[i], chains, 32, &nc);
        if (!nc) snprintf(chains[nc++], 16, "(unknown)");
        for (size_t ci = 0; !rc && ci < ((by & TALLY_BY_CHAIN) ? nc : 1); ci++) {
            const char *ch = (by & TALLY_BY_CHAIN) ? chains[ci] : NULL;
            tally_group *g = group_get(&c, &groups, (by & TALLY_BY_ACTOR) ? actor : NULL,
                                       (by & TALLY_BY_YEAR) ? year : NULL, ch);
            if (!g || group_add(&c, g, &groups.cap_dests[g - groups.v], &inc[i], &k, ch))
                rc = UTIL_ENOMEM;
        }
        contrib_free(&k);
        if (rc == UTIL_ENOMEM) util_errf(err, rc, "out of memory");
    }
    out->groups = groups.v, out->n_groups = groups.n;
    out->years = years.v, out->n_years = years.n;
    free(groups.cap_dests), free(years.cap_dests);
    if (rc) {
        tally_result_free(out);
        return rc;
    }
    sort(out->groups, out->n_groups, sizeof *out->groups, cmp_group);
    sort(out->years, out->n_years, sizeof *out->years, cmp_group_year);
    for (size_t i = 0; i < out->n_groups; i++)
        sort(out->groups[i].dests, out->groups[i].n_dests, sizeof(tally_dest), cmp_dest);
    for (size_t i = 0; i < out->n_years; i++)
        sort(out->years[i].dests, out->years[i].n_dests, sizeof(tally_dest), cmp_dest);
    sort(out->total.dests, out->total.n_dests, sizeof(tally_dest), cmp_dest);
    return 0;
}
