/* evmclust: the deposit-address heuristic (evmclust.h). Two passes over every address's
 * transfer list: the first finds forwarders (addresses that sent nearly all of an asset they
 * received to labelled exchange addresses), the second keeps those whose target is fed by
 * enough forwarders to be a hot wallet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evmclust.h"

#define RULE "deposit-forward"
#define RULE_UNL "deposit-forward-unlabelled"

void evmclust_default_opts(evmclust_opts *o)
{
    o->min_share = 90;
    o->min_feeders = 3;
    o->window = 100;
    o->min_in_window = 50;
    o->min_feeders_unl = 5;
    o->max_funder_share = 50;
    o->max_return_share = 20;
    o->max_topup_gwei = 20000000; /* 0.02 ETH */
}

/* The exchange a labelled address belongs to (its "exchange" label's actor, else name), or
 * NULL. *other: it has a label of another category (a DEX, a bridge, a mixer: no hot wallet). */
static const char *exchange_of(const labels_db *labels, const char hex[43], int *other)
{
    const labels_label *first;
    size_t n;
    if (other) *other = 0;
    if (!labels) return NULL;
    labels_find(labels, "eth", hex, &first, &n);
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(first[i].category, "exchange")) {
            if (other) *other = 1;
            continue;
        }
        const char *w = first[i].actor && *first[i].actor ? first[i].actor : first[i].name;
        if (w && *w && (!best || (first[i].actor && *first[i].actor))) best = w;
    }
    return best;
}

/* Per asset of one address: what it received from others, sent to others, sent to the exchange
 * target, and the largest forwarding transfer. */
typedef struct acc {
    uint32_t token;
    evm_u256 in, out, fwd, big, win, bigin, in_fwd;
    uint64_t big_xfer, big_block, last_in;
    uint32_t funder, forwards;
    int64_t delay;
} acc;

typedef struct cand {
    uint32_t addr, target; /* address ids */
    const char *exchange;  /* borrowed from the labels */
    uint32_t token, funder, forwards;
    int unl;
    int64_t delay;
    evm_u256 in, fwd;
    uint64_t xfer;
    uint64_t fx[EVMCLUST_MAX_FWD]; /* forwarding transfers (first ones) */
    uint32_t nfx;
} cand;

typedef struct xf {
    uint64_t id;
    evm_xfer_row r;
} xf;

static int cmp_dep(const void *pa, const void *pb)
{
    return strcmp(((const evmclust_deposit *)pa)->address, ((const evmclust_deposit *)pb)->address);
}

static int cmp_hot(const void *pa, const void *pb)
{
    return strcmp(((const evmclust_hot *)pa)->address, ((const evmclust_hot *)pb)->address);
}

static int cmp_xf(const void *pa, const void *pb)
{
    uint64_t a = ((const xf *)pa)->id, b = ((const xf *)pb)->id;
    return a < b ? -1 : a > b;
}

/* Unlabelled candidates by target, then funder: the funders of a sink counted in one pass. */
static int cmp_cand_tf(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->unl != b->unl) return a->unl < b->unl ? -1 : 1;
    if (a->target != b->target) return a->target < b->target ? -1 : 1;
    if (a->funder != b->funder) return a->funder < b->funder ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static void addr_hex(const evm_store *s, uint32_t id, char hex[43])
{
    uint8_t a[20] = {0};
    evm_store_addr(s, id, a, NULL);
    hex[0] = '0', hex[1] = 'x';
    util_hex(hex + 2, a, 20);
}

/* share% of whole <= part, exactly (part*100 >= whole*share). */
static int at_least(const evm_u256 *part, const evm_u256 *whole, unsigned share)
{
    evm_u256 a, b;
    if (evm_u256_mul64(&a, part, 100)) return 1;
    if (evm_u256_mul64(&b, whole, share)) return 0;
    return evm_u256_cmp(&a, &b) >= 0;
}

static void make_source(evmclust_deposit *d, size_t n)
{
    snprintf(d->source, n, "%s: forwards %s to %s in tx %s", d->unlabelled ? RULE_UNL : RULE,
             d->asset, d->hot, d->tx);
}

static int fill_deposit(const evm_store *s, const cand *c, const char *exchange,
                        evmclust_deposit *d, util_err *err)
{
    addr_hex(s, c->addr, d->address);
    addr_hex(s, c->target, d->hot);
    evm_xfer_row x;
    evm_tx_row t;
    int rc;
    if ((rc = evm_store_xfer(s, c->xfer, &x, err))) return rc;
    if (x.tx == EVM_NONE64) return util_errf(err, UTIL_ECORRUPT, "forwarding transfer has no tx");
    if ((rc = evm_store_tx(s, x.tx, &t, err))) return rc;
    evm_hash_hex(d->tx, t.hash);
    for (uint32_t i = 0; i < c->nfx; i++) {
        if ((rc = evm_store_xfer(s, c->fx[i], &x, err))) return rc;
        if (x.tx == EVM_NONE64) continue;
        if ((rc = evm_store_tx(s, x.tx, &t, err))) return rc;
        evm_hash_hex(d->fwd_tx[d->n_fwd_tx++], t.hash);
    }
    if (!c->token) {
        strcpy(d->asset, "ETH");
    } else {
        evm_token_meta m;
        if ((rc = evm_store_token(s, c->token, &m, err))) return rc;
        d->asset[0] = '0', d->asset[1] = 'x';
        util_hex(d->asset + 2, m.addr, 20);
    }
    evm_u256_format(d->received, &c->in);
    evm_u256_format(d->forwarded, &c->fwd);
    if (c->funder != EVM_NONE32) addr_hex(s, c->funder, d->funder);
    d->delay = c->delay;
    d->unlabelled = c->unl;
    d->forwards = c->forwards;
    d->exchange = exchange ? strdup(exchange) : NULL;
    size_t n = strlen(RULE_UNL) + 200;
    d->source = malloc(n);
    if ((exchange && !d->exchange) || !d->source)
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    make_source(d, n);
    return 0;
}

static void set_label(evmclust_deposit *d)
{
    memset(&d->label, 0, sizeof d->label);
    d->label.chain = (char *)"eth";
    d->label.address = d->address;
    d->label.category = (char *)"exchange";
    d->label.actor = d->exchange;
    d->label.name = d->exchange ? NULL : (char *)"deposit address of an unnamed service";
    d->label.source = d->source;
    d->label.confidence = d->unlabelled ? 60 : 80;
}

static int push_cand(cand **cs, size_t *n, size_t *cap, const cand *c, util_err *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        cand *n2 = realloc(*cs, nc * sizeof **cs);
        if (!n2) return util_errf(err, UTIL_ENOMEM, "out of memory");
        *cs = n2, *cap = nc;
    }
    (*cs)[(*n)++] = *c;
    return 0;
}

static acc *acc_of(acc **as, size_t *nas, size_t *acap, uint32_t token)
{
    for (size_t k = 0; k < *nas; k++)
        if ((*as)[k].token == token) return &(*as)[k];
    if (*nas == *acap) {
        size_t nc = *acap ? *acap * 2 : 4;
        acc *n2 = realloc(*as, nc * sizeof **as);
        if (!n2) return NULL;
        *as = n2, *acap = nc;
    }
    acc *p = &(*as)[(*nas)++];
    memset(p, 0, sizeof *p);
    p->token = token;
    p->funder = EVM_NONE32;
    p->last_in = EVM_NONE64;
    p->delay = -1;
    return p;
}

/* The unlabelled rule for one address's transfers (by id: in chain order): a candidate into *c
 * (1), none (0), or one the sink paid back (2: counted against the sink). */
static int unlabelled_one(const xf *xs, size_t nx, uint32_t a, const char **exch,
                          const uint8_t *other, const evmclust_opts *o, acc **as, size_t *acap,
                          cand *c)
{
    size_t nas = 0;
    uint32_t target = EVM_NONE32;
    evm_u256 bigout = {{0}};
    for (size_t i = 0; i < nx; i++)
        if (xs[i].r.from == a && xs[i].r.to != EVM_NONE32 &&
            evm_u256_cmp(&xs[i].r.amount, &bigout) > 0)
            bigout = xs[i].r.amount, target = xs[i].r.to;
    if (target == EVM_NONE32 || exch[target] || other[target]) return 0;
    evm_u256 back_eth = {{0}};
    int back_token = 0;
    uint64_t last_in = EVM_NONE64;
    for (size_t i = 0; i < nx; i++) {
        const evm_xfer_row *r = &xs[i].r;
        acc *p = acc_of(as, &nas, acap, r->token);
        if (!p) return -1;
        if (r->to == a) {
            if (r->from == target) {
                if (r->token)
                    back_token = 1;
                else
                    evm_u256_add(&back_eth, &back_eth, &r->amount);
                continue;
            }
            evm_u256_add(&p->in, &p->in, &r->amount);
            last_in = r->block;
            if (evm_u256_cmp(&r->amount, &p->bigin) > 0) p->bigin = r->amount, p->funder = r->from;
        } else {
            evm_u256_add(&p->out, &p->out, &r->amount);
            if (r->to != target) continue;
            evm_u256_add(&p->fwd, &p->fwd, &r->amount);
            p->in_fwd = p->in; /* receipts after its last forward are still pending */
            p->forwards++;
            int64_t d = last_in == EVM_NONE64 ? -1 : (int64_t)(r->block - last_in);
            if (d >= 0 && d <= (int64_t)o->window) evm_u256_add(&p->win, &p->win, &r->amount);
            if (evm_u256_cmp(&r->amount, &p->big) > 0)
                p->big = r->amount, p->big_xfer = xs[i].id, p->delay = d;
        }
    }
    const acc *best = NULL;
    for (size_t k = 0; k < nas; k++) {
        const acc *p = &(*as)[k];
        if (evm_u256_is_zero(&p->fwd) || evm_u256_is_zero(&p->in)) continue;
        if (!at_least(&p->fwd, &p->in_fwd, o->min_share) ||
            !at_least(&p->fwd, &p->out, o->min_share) ||
            !at_least(&p->win, &p->fwd, o->min_in_window))
            continue;
        if (!best || evm_u256_cmp(&p->big, &best->big) > 0) best = p;
    }
    if (!best) return 0;
    memset(c, 0, sizeof *c);
    c->addr = a, c->target = target, c->token = best->token, c->funder = best->funder;
    c->forwards = best->forwards, c->unl = 1, c->delay = best->delay;
    c->in = best->in_fwd, c->fwd = best->fwd, c->xfer = best->big_xfer;
    for (size_t i = 0; i < nx && c->nfx < EVMCLUST_MAX_FWD; i++)
        if (xs[i].r.from == a && xs[i].r.to == target && xs[i].r.token == best->token)
            c->fx[c->nfx++] = xs[i].id;
    evm_u256 topup, g;
    memset(&g, 0, sizeof g);
    g.w[0] = 1000000000ULL;
    if (evm_u256_mul64(&topup, &g, o->max_topup_gwei)) memset(&topup, 0xff, sizeof topup);
    if (back_token || evm_u256_cmp(&back_eth, &topup) > 0) return 2;
    return 1;
}

int evmclust_compute(const evm_store *s, const labels_db *labels, const evmclust_opts *o,
                     evmclust_set *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    out->opts = *o;
    if (o->min_share < 1 || o->min_share > 100)
        return util_errf(err, UTIL_EINVAL, "min_share: %u is not a percentage 1-100", o->min_share);
    if (o->min_in_window > 100 || o->max_funder_share < 1 || o->max_funder_share > 100 ||
        o->max_return_share > 100)
        return util_errf(err, UTIL_EINVAL, "max_funder_share/max_return_share: not a percentage");
    uint64_t ntx, nx, na, first;
    uint8_t tip[32];
    evm_store_counts(s, &ntx, &nx, &na);
    evm_store_tip(s, &first, &out->blocks, tip);
    /* exch[i]: the exchange of address i if labelled one, cached (NULL: not an exchange's) */
    const char **exch = calloc(na ? na : 1, sizeof *exch);
    uint8_t *other = calloc(na ? na : 1, 1);
    uint32_t *feeders = calloc(na ? na : 1, sizeof *feeders);
    uint32_t *returned = calloc(na ? na : 1, sizeof *returned);
    cand *cs = NULL;
    size_t ncs = 0, ccap = 0;
    acc *as = NULL;
    size_t nas = 0, acap = 0;
    xf *xs = NULL;
    size_t nxs = 0, xcap = 0;
    const char **names = NULL;
    int rc = 0;
    if (!exch || !feeders || !other || !returned) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < na; i++) {
        char hex[43];
        int oth;
        addr_hex(s, (uint32_t)i, hex);
        exch[i] = exchange_of(labels, hex, &oth);
        other[i] = (uint8_t)oth;
    }
    for (uint64_t a = 0; a < na; a++) {
        uint64_t x;
        nas = 0, nxs = 0;
        uint32_t target = EVM_NONE32;
        int mixed = 0; /* forwards to two exchanges */
        if ((rc = evm_store_addr_head(s, (uint32_t)a, &x, err))) goto done;
        while (x != EVM_NONE64) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(s, x, &r, err))) goto done;
            uint64_t cur = x;
            if ((rc = evm_store_addr_next(s, (uint32_t)a, x, &x, err))) goto done;
            if (r.kind == EVM_XFER_FEE || evm_u256_is_zero(&r.amount) || r.from == r.to) continue;
            if (nxs == xcap) {
                size_t nc = xcap ? xcap * 2 : 16;
                xf *n2 = realloc(xs, nc * sizeof *xs);
                if (!n2) {
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    goto done;
                }
                xs = n2, xcap = nc;
            }
            xs[nxs++] = (xf){cur, r};
            acc *p = acc_of(&as, &nas, &acap, r.token);
            if (!p) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                goto done;
            }
            /* sums may wrap only past 2^256, which no asset's supply reaches */
            if (r.to == a) {
                evm_u256_add(&p->in, &p->in, &r.amount);
            } else if (r.from == a) {
                evm_u256_add(&p->out, &p->out, &r.amount);
                if (r.to != EVM_NONE32 && exch[r.to]) {
                    if (target != EVM_NONE32 && strcmp(exch[target], exch[r.to])) mixed = 1;
                    evm_u256_add(&p->fwd, &p->fwd, &r.amount);
                    if (evm_u256_cmp(&r.amount, &p->big) > 0) {
                        p->big = r.amount, p->big_xfer = cur;
                        if (target == EVM_NONE32 || !exch[target] ||
                            !strcmp(exch[target], exch[r.to]))
                            target = r.to;
                    }
                }
            }
        }
        if (target == EVM_NONE32) {
            /* no labelled exchange: the unlabelled rule, over the transfers in chain order */
            if (!nxs || !o->min_feeders_unl) continue;
            qsort(xs, nxs, sizeof *xs, cmp_xf);
            cand c;
            int u = unlabelled_one(xs, nxs, (uint32_t)a, exch, other, o, &as, &acap, &c);
            if (u < 0) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                goto done;
            }
            if (u == 2) returned[c.target]++;
            /* with the guard off (100%), one the sink paid back is a forwarder like any other */
            if ((u == 1 || (u == 2 && o->max_return_share >= 100)) &&
                (rc = push_cand(&cs, &ncs, &ccap, &c, err)))
                goto done;
            continue;
        }
        if (mixed) {
            out->ambiguous++;
            continue;
        }
        /* the asset forwarded best: nearly all of what it received and of what it sent */
        const acc *best = NULL;
        for (size_t k = 0; k < nas; k++) {
            const acc *p = &as[k];
            if (evm_u256_is_zero(&p->fwd) || evm_u256_is_zero(&p->in)) continue;
            if (!at_least(&p->fwd, &p->in, o->min_share) ||
                !at_least(&p->fwd, &p->out, o->min_share))
                continue;
            if (!best || evm_u256_cmp(&p->big, &best->big) > 0) best = p;
        }
        if (!best) continue;
        evm_xfer_row r;
        if ((rc = evm_store_xfer(s, best->big_xfer, &r, err))) goto done;
        cand c;
        memset(&c, 0, sizeof c);
        c.addr = (uint32_t)a, c.target = r.to, c.exchange = exch[r.to], c.token = best->token;
        c.in = best->in, c.fwd = best->fwd, c.xfer = best->big_xfer, c.funder = EVM_NONE32;
        c.delay = -1;
        /* provenance: its forwards of that asset to the hot wallet, the funder, the delay */
        qsort(xs, nxs, sizeof *xs, cmp_xf);
        uint64_t last_in = EVM_NONE64;
        evm_u256 bigin = {{0}};
        for (size_t i = 0; i < nxs; i++) {
            const evm_xfer_row *q = &xs[i].r;
            if (q->token != best->token) continue;
            if (q->to == a) {
                last_in = q->block;
                if (evm_u256_cmp(&q->amount, &bigin) > 0) bigin = q->amount, c.funder = q->from;
            } else if (q->to == r.to) {
                c.forwards++;
                if (c.nfx < EVMCLUST_MAX_FWD) c.fx[c.nfx++] = xs[i].id;
                if (xs[i].id == best->big_xfer && last_in != EVM_NONE64)
                    c.delay = (int64_t)(q->block - last_in);
            }
        }
        if ((rc = push_cand(&cs, &ncs, &ccap, &c, err))) goto done;
        feeders[r.to]++;
    }
    /* Unlabelled sinks: count forwarders, their distinct funders and the largest funder's
     * share; a sink that passes every guard is a hot wallet, its forwarders its deposits. */
    if (ncs) qsort(cs, ncs, sizeof *cs, cmp_cand_tf);
    size_t nhot_cap = 0;
    for (uint64_t i = 0; i < na; i++)
        nhot_cap += feeders[i] >= o->min_feeders && feeders[i] > 0;
    out->hot_wallets = nhot_cap;
    for (size_t i = 0; i < ncs;) {
        size_t j = i;
        while (j < ncs && cs[j].unl == cs[i].unl && cs[j].target == cs[i].target)
            j++;
        nhot_cap += cs[i].unl && j - i >= o->min_feeders_unl;
        i = j;
    }
    /* sinks whose would-be forwarders it paid back, listed as refused even with none left */
    uint32_t *unl_n = feeders; /* reused: the labelled counts are no longer needed below */
    for (uint64_t i = 0; i < na; i++)
        if (!exch[i]) unl_n[i] = 0;
    for (size_t i = 0; i < ncs; i++)
        if (cs[i].unl) unl_n[cs[i].target]++;
    for (uint64_t i = 0; i < na; i++)
        nhot_cap += !exch[i] && !unl_n[i] && returned[i] && returned[i] >= o->min_feeders_unl;
    if (nhot_cap && !(out->hots = calloc(nhot_cap, sizeof *out->hots))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    uint8_t *ok_unl = calloc(ncs ? ncs : 1, 1);
    names = calloc(ncs ? ncs : 1, sizeof *names);
    if (!ok_unl || !names) {
        free(ok_unl);
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ncs;) {
        size_t j = i;
        while (j < ncs && cs[j].unl == cs[i].unl && cs[j].target == cs[i].target)
            j++;
        uint32_t t = cs[i].target;
        if (!cs[i].unl) {
            if (feeders[t] >= o->min_feeders) {
                evmclust_hot *h = &out->hots[out->n_hots++];
                addr_hex(s, t, h->address);
                h->exchange = strdup(exch[t]);
                h->forwarders = feeders[t];
                for (size_t k = i; k < j; k++)
                    names[k] = exch[t], ok_unl[k] = 1;
                if (!h->exchange) {
                    free(ok_unl);
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    goto done;
                }
            }
            i = j;
            continue;
        }
        uint64_t n = j - i, funders = 0, top = 0, run = 0;
        for (size_t k = i; k < j; k++) {
            if (k == i || cs[k].funder != cs[k - 1].funder) funders++, run = 0;
            if (++run > top) top = run;
        }
        if (n >= o->min_feeders_unl) {
            evmclust_hot *h = &out->hots[out->n_hots++];
            addr_hex(s, t, h->address);
            h->unlabelled = 1;
            h->forwarders = n, h->funders = funders, h->top_funder = top;
            h->returned = returned[t];
            if (returned[t] * 100 > (n + returned[t]) * o->max_return_share)
                h->refused = "the sink pays its forwarders back (a DEX, or a user's own wallets)";
            else if (funders < o->min_feeders_unl && o->max_funder_share < 100)
                h->refused = "too few distinct funders of its forwarders";
            else if (top * 100 > n * o->max_funder_share)
                h->refused = "one payer funded most forwarders (an airdrop, a payroll)";
            if (!h->refused) {
                out->hot_wallets++;
                /* named when a label names a member: the most common exchange among them */
                const char *nm = NULL;
                size_t best_n = 0;
                for (size_t k = i; k < j; k++) {
                    const char *e = exch[cs[k].addr];
                    if (!e) continue;
                    size_t m = 0;
                    for (size_t q = i; q < j; q++)
                        m += exch[cs[q].addr] && !strcmp(exch[cs[q].addr], e);
                    if (m > best_n || (m == best_n && nm && strcmp(e, nm) < 0)) best_n = m, nm = e;
                }
                if (nm && !(h->exchange = strdup(nm))) {
                    free(ok_unl);
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    goto done;
                }
                for (size_t k = i; k < j; k++)
                    names[k] = nm, ok_unl[k] = 1;
            }
        }
        i = j;
    }
    for (uint64_t i = 0; i < na; i++) {
        if (exch[i] || unl_n[i] || !returned[i] || returned[i] < o->min_feeders_unl) continue;
        evmclust_hot *h = &out->hots[out->n_hots++];
        addr_hex(s, (uint32_t)i, h->address);
        h->unlabelled = 1, h->returned = returned[i];
        h->refused = "the sink pays its forwarders back (a DEX, or a user's own wallets)";
    }
    size_t keep = 0;
    for (size_t i = 0; i < ncs; i++)
        keep += ok_unl[i];
    if (keep && !(out->d = calloc(keep, sizeof *out->d))) {
        free(ok_unl);
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ncs; i++) {
        if (!ok_unl[i]) continue;
        evmclust_deposit *d = &out->d[out->n++];
        if ((rc = fill_deposit(s, &cs[i], names[i], d, err))) {
            free(ok_unl);
            goto done;
        }
    }
    free(ok_unl);
    if (out->n) qsort(out->d, out->n, sizeof *out->d, cmp_dep);
    if (out->n_hots) qsort(out->hots, out->n_hots, sizeof *out->hots, cmp_hot);
    for (size_t i = 0; i < out->n; i++)
        set_label(&out->d[i]);
done:
    free(exch);
    free(other);
    free(feeders);
    free(returned);
    free(names);
    free(cs);
    free(as);
    free(xs);
    if (rc) evmclust_free(out);
    return rc;
}

int evmclust_path(char *buf, size_t cap, const char *dir, const char *chain, util_err *err)
{
    if (!chain || !*chain || strchr(chain, '/') || chain[0] == '.')
        return util_errf(err, UTIL_EINVAL, "chain: '%s' is not a chain name", chain ? chain : "");
    int n = snprintf(buf, cap, "%s/evm/%s.entities.json", dir, chain);
    if (n < 0 || (size_t)n >= cap) return util_errf(err, UTIL_EINVAL, "--db: path too long");
    return 0;
}

static json_t *jstr_or_null(const char *v)
{
    return v ? json_string(v) : json_null();
}

static json_t *deposit_json(const evmclust_deposit *d)
{
    json_t *fx = json_array();
    for (uint32_t k = 0; fx && k < d->n_fwd_tx; k++)
        json_array_append_new(fx, json_string(d->fwd_tx[k]));
    return json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:o}", "address",
                     d->address, "exchange", jstr_or_null(d->exchange), "rule",
                     d->unlabelled ? RULE_UNL : RULE, "hot_wallet", d->hot, "tx", d->tx, "asset",
                     d->asset, "received", d->received, "forwarded", d->forwarded, "funder",
                     d->funder[0] ? json_string(d->funder) : json_null(), "delay",
                     (json_int_t)d->delay, "forwards", (json_int_t)d->forwards, "forward_txs", fx);
}

static json_t *params_json(const evmclust_opts *o)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "min_share", (int)o->min_share,
                     "min_feeders", (int)o->min_feeders, "window", (int)o->window, "min_in_window",
                     (int)o->min_in_window, "min_feeders_unlabelled", (int)o->min_feeders_unl,
                     "max_funder_share", (int)o->max_funder_share, "max_return_share",
                     (int)o->max_return_share, "max_topup_gwei", (json_int_t)o->max_topup_gwei);
}

static json_t *hot_json(const evmclust_hot *h, uint64_t deposits)
{
    return json_pack("{s:s, s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:I}", "address", h->address,
                     "exchange", jstr_or_null(h->exchange), "rule", h->unlabelled ? RULE_UNL : RULE,
                     "refused", jstr_or_null(h->refused), "deposits", (json_int_t)deposits,
                     "forwarders", (json_int_t)h->forwarders, "funders", (json_int_t)h->funders,
                     "top_funder", (json_int_t)h->top_funder, "paid_back", (json_int_t)h->returned);
}

static uint64_t deposits_of(const evmclust_set *set, const char *hot)
{
    uint64_t n = 0;
    for (size_t i = 0; i < set->n; i++)
        n += !strcmp(set->d[i].hot, hot);
    return n;
}

json_t *evmclust_json(const evmclust_set *set)
{
    json_t *arr = json_array(), *hots = json_array();
    json_t *doc = json_pack("{s:i, s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:o}", "format",
                            EVMCLUST_FORMAT, "rule", RULE, "params", params_json(&set->opts),
                            "blocks", (json_int_t)set->blocks, "hot_wallets",
                            (json_int_t)set->hot_wallets, "ambiguous", (json_int_t)set->ambiguous,
                            "deposits_found", (json_int_t)set->n, "sinks", hots, "deposits", arr);
    if (!doc) return NULL;
    for (size_t i = 0; i < set->n_hots; i++) {
        json_t *o = hot_json(&set->hots[i], deposits_of(set, set->hots[i].address));
        if (!o || json_array_append_new(hots, o)) {
            json_decref(doc);
            return NULL;
        }
    }
    for (size_t i = 0; i < set->n; i++) {
        json_t *o = deposit_json(&set->d[i]);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

int evmclust_save(const evmclust_set *set, const char *dir, const char *chain, util_err *err)
{
    char path[4096];
    int rc = evmclust_path(path, sizeof path, dir, chain, err);
    if (rc) return rc;
    json_t *doc = evmclust_json(set);
    char *text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text) return util_errf(err, UTIL_ENOMEM, "out of memory");
    rc = util_replace_file(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int get_str(json_t *o, const char *key, char *out, size_t cap, const char *path, size_t i,
                   util_err *err)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v || strlen(v) >= cap || !*v)
        return util_errf(err, UTIL_EFORMAT, "%s: deposits[%zu]: field %s missing or malformed",
                         path, i, key);
    strcpy(out, v);
    return 0;
}

static int get_opt_str(json_t *o, const char *key, char **out, const char *path, const char *what,
                       size_t i, util_err *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (json_is_null(v)) return 0;
    const char *t = json_string_value(v);
    if (!t || !*t || strlen(t) > LABELS_MAX_TEXT)
        return util_errf(err, UTIL_EFORMAT, "%s: %s[%zu]: field %s missing or malformed", path,
                         what, i, key);
    if (!(*out = strdup(t))) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

static int load_hots(json_t *doc, evmclust_set *out, const char *path, util_err *err)
{
    static const char *const reasons[] = {
        "the sink pays its forwarders back (a DEX, or a user's own wallets)",
        "too few distinct funders of its forwarders",
        "one payer funded most forwarders (an airdrop, a payroll)"};
    json_t *arr = json_object_get(doc, "sinks");
    if (!json_is_array(arr))
        return util_errf(err, UTIL_EFORMAT, "%s: field sinks: not an array", path);
    size_t n = json_array_size(arr);
    if (n && !(out->hots = calloc(n, sizeof *out->hots)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        evmclust_hot *h = &out->hots[out->n_hots];
        const char *rule = json_string_value(json_object_get(o, "rule"));
        json_t *ref = json_object_get(o, "refused");
        uint8_t chk[20];
        int rc = get_str(o, "address", h->address, sizeof h->address, path, i, err);
        if (rc) return rc;
        if (evm_addr_parse(chk, h->address, strlen(h->address), NULL) || !rule ||
            (strcmp(rule, RULE) && strcmp(rule, RULE_UNL)) ||
            (!json_is_null(ref) && !json_is_string(ref)))
            return util_errf(err, UTIL_EFORMAT,
                             "%s: sinks[%zu]: address, rule or refused malformed", path, i);
        out->n_hots++;
        if ((rc = get_opt_str(o, "exchange", &h->exchange, path, "sinks", i, err))) return rc;
        h->unlabelled = !strcmp(rule, RULE_UNL);
        if (json_is_string(ref)) {
            h->refused = "refused";
            for (size_t k = 0; k < sizeof reasons / sizeof *reasons; k++)
                if (!strcmp(json_string_value(ref), reasons[k])) h->refused = reasons[k];
        }
        h->forwarders = (uint64_t)json_integer_value(json_object_get(o, "forwarders"));
        h->funders = (uint64_t)json_integer_value(json_object_get(o, "funders"));
        h->top_funder = (uint64_t)json_integer_value(json_object_get(o, "top_funder"));
        h->returned = (uint64_t)json_integer_value(json_object_get(o, "paid_back"));
    }
    if (out->n_hots) qsort(out->hots, out->n_hots, sizeof *out->hots, cmp_hot);
    return 0;
}

int evmclust_load(evmclust_set *out, const char *dir, const char *chain, util_err *err)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    int rc = evmclust_path(path, sizeof path, dir, chain, err);
    if (rc) return rc;
    struct stat sb;
    if (stat(path, &sb) && errno == ENOENT)
        return util_errf(err, UTIL_ENOTFOUND, "%s: no EVM entities (run evm-cluster)", path);
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        return util_errf(err, UTIL_EFORMAT, "%s: line %d column %d: %s", path, je.line, je.column,
                         je.text);
    }
    json_t *fmt = json_object_get(doc, "format"), *arr = json_object_get(doc, "deposits");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != EVMCLUST_FORMAT) {
        rc = util_errf(err, UTIL_EFORMAT, "%s: field format: not %d (run evm-cluster again)", path,
                       EVMCLUST_FORMAT);
        goto done;
    }
    if (!json_is_array(arr)) {
        rc = util_errf(err, UTIL_EFORMAT, "%s: field deposits: not an array", path);
        goto done;
    }
    size_t n = json_array_size(arr);
    if (n && !(out->d = calloc(n, sizeof *out->d))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        evmclust_deposit *d = &out->d[out->n];
        uint8_t chk[32];
        if ((rc = get_str(o, "address", d->address, sizeof d->address, path, i, err)) ||
            (rc = get_str(o, "hot_wallet", d->hot, sizeof d->hot, path, i, err)) ||
            (rc = get_str(o, "tx", d->tx, sizeof d->tx, path, i, err)) ||
            (rc = get_str(o, "asset", d->asset, sizeof d->asset, path, i, err)) ||
            (rc = get_str(o, "received", d->received, sizeof d->received, path, i, err)) ||
            (rc = get_str(o, "forwarded", d->forwarded, sizeof d->forwarded, path, i, err)))
            goto done;
        const char *rule = json_string_value(json_object_get(o, "rule"));
        json_t *fx = json_object_get(o, "forward_txs"), *fu = json_object_get(o, "funder");
        if (evm_addr_parse(chk, d->address, strlen(d->address), NULL) ||
            evm_addr_parse(chk, d->hot, strlen(d->hot), NULL) ||
            evm_hash_parse(chk, d->tx, strlen(d->tx), NULL)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s: deposits[%zu]: address, hot_wallet or tx "
                           "is not hex of the right length",
                           path, i);
            goto done;
        }
        if (!rule || (strcmp(rule, RULE) && strcmp(rule, RULE_UNL)) || !json_is_array(fx) ||
            json_array_size(fx) > EVMCLUST_MAX_FWD || (!json_is_null(fu) && !json_is_string(fu)) ||
            !json_is_integer(json_object_get(o, "delay"))) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s: deposits[%zu]: field rule, forward_txs, funder or delay malformed",
                           path, i);
            goto done;
        }
        for (size_t k = 0; k < json_array_size(fx); k++) {
            const char *t = json_string_value(json_array_get(fx, k));
            if (!t || strlen(t) != 66 || evm_hash_parse(chk, t, 66, NULL)) {
                rc = util_errf(err, UTIL_EFORMAT, "%s: deposits[%zu]: forward_txs[%zu] malformed",
                               path, i, k);
                goto done;
            }
            strcpy(d->fwd_tx[d->n_fwd_tx++], t);
        }
        if (json_is_string(fu)) snprintf(d->funder, sizeof d->funder, "%s", json_string_value(fu));
        d->unlabelled = !strcmp(rule, RULE_UNL);
        d->delay = (int64_t)json_integer_value(json_object_get(o, "delay"));
        d->forwards = (uint32_t)json_integer_value(json_object_get(o, "forwards"));
        for (char *p = d->address; *p; p++)
            if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
        out->n++;
        if ((rc = get_opt_str(o, "exchange", &d->exchange, path, "deposits", i, err))) goto done;
        size_t sn = strlen(RULE_UNL) + 200;
        if (!(d->source = malloc(sn))) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto done;
        }
        make_source(d, sn);
    }
    if ((rc = load_hots(doc, out, path, err))) goto done;
    json_t *p = json_object_get(doc, "params");
    out->opts.min_share = (unsigned)json_integer_value(json_object_get(p, "min_share"));
    out->opts.min_feeders = (unsigned)json_integer_value(json_object_get(p, "min_feeders"));
    out->opts.window = (unsigned)json_integer_value(json_object_get(p, "window"));
    out->opts.min_in_window = (unsigned)json_integer_value(json_object_get(p, "min_in_window"));
    out->opts.min_feeders_unl =
        (unsigned)json_integer_value(json_object_get(p, "min_feeders_unlabelled"));
    out->opts.max_funder_share =
        (unsigned)json_integer_value(json_object_get(p, "max_funder_share"));
    out->opts.max_return_share =
        (unsigned)json_integer_value(json_object_get(p, "max_return_share"));
    out->opts.max_topup_gwei = (uint64_t)json_integer_value(json_object_get(p, "max_topup_gwei"));
    out->blocks = (uint64_t)json_integer_value(json_object_get(doc, "blocks"));
    out->hot_wallets = (uint64_t)json_integer_value(json_object_get(doc, "hot_wallets"));
    out->ambiguous = (uint64_t)json_integer_value(json_object_get(doc, "ambiguous"));
    if (out->n) qsort(out->d, out->n, sizeof *out->d, cmp_dep);
    for (size_t i = 0; i < out->n; i++)
        set_label(&out->d[i]);
done:
    json_decref(doc);
    if (rc) evmclust_free(out);
    return rc;
}

const evmclust_deposit *evmclust_find(const evmclust_set *set, const char *address)
{
    if (!set || !set->n) return NULL;
    evmclust_deposit key;
    snprintf(key.address, sizeof key.address, "%s", address);
    return bsearch(&key, set->d, set->n, sizeof *set->d, cmp_dep);
}

void evmclust_free(evmclust_set *set)
{
    if (!set) return;
    for (size_t i = 0; i < set->n; i++) {
        free(set->d[i].exchange);
        free(set->d[i].source);
    }
    for (size_t i = 0; i < set->n_hots; i++)
        free(set->hots[i].exchange);
    free(set->hots);
    free(set->d);
    memset(set, 0, sizeof *set);
}

static const evmclust_hot *hot_find(const evmclust_set *set, const char *address)
{
    if (!set || !set->n_hots) return NULL;
    evmclust_hot key;
    snprintf(key.address, sizeof key.address, "%s", address);
    return bsearch(&key, set->hots, set->n_hots, sizeof *set->hots, cmp_hot);
}

int evmclust_entity_get(const evmclust_set *set, const char *address, evmclust_entity *out,
                        util_err *err)
{
    memset(out, 0, sizeof *out);
    char a[43];
    size_t n = strlen(address);
    if (n != 42 || address[0] != '0' || (address[1] != 'x' && address[1] != 'X'))
        return util_errf(err, UTIL_EINVAL, "address: '%.60s' is not an EVM address", address);
    for (size_t i = 0; i <= n; i++)
        a[i] = (char)(address[i] >= 'A' && address[i] <= 'F' ? address[i] - 'A' + 'a'
                      : address[i] == 'X'                    ? 'x'
                                                             : address[i]);
    const evmclust_deposit *d = evmclust_find(set, a);
    const evmclust_hot *h = hot_find(set, d ? d->hot : a);
    if (!d && !h)
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: in no EVM entity (not a deposit address or "
                         "a hot wallet the deposit-address heuristic found)",
                         a);
    if (!h)
        return util_errf(err, UTIL_ECORRUPT, "%s: its hot wallet %s is not in the set", a, d->hot);
    if (h->refused)
        return util_errf(err, UTIL_ENOTFOUND, "%s: a sink the guards refused as a hot wallet: %s",
                         a, h->refused);
    out->hot = h;
    for (size_t i = 0; i < set->n; i++)
        out->n += !strcmp(set->d[i].hot, h->address);
    if (out->n && !(out->members = malloc(out->n * sizeof *out->members)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->d[i].hot, h->address)) out->members[k++] = i;
    return 0;
}

static json_t *labels_of(const labels_db *labels, const char *hex)
{
    json_t *arr = json_array();
    const labels_label *first;
    size_t n = 0;
    if (labels) labels_find(labels, "eth", hex, &first, &n);
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, labels_to_json(&first[i]));
    return arr;
}

json_t *evmclust_entity_json(const evmclust_set *set, const evmclust_entity *ent,
                             const labels_db *labels, const char *address, uint64_t offset,
                             uint64_t limit)
{
    const evmclust_hot *h = ent->hot;
    /* a label added after the run names an unnamed entity: the hot wallet's, else a member's */
    const char *name = h->exchange, *named_by = h->exchange ? "run" : NULL;
    if (!name && labels) {
        name = exchange_of(labels, h->address, NULL);
        for (size_t i = 0; !name && i < ent->n; i++)
            name = exchange_of(labels, set->d[ent->members[i]].address, NULL);
        if (name) named_by = "labels";
    }
    json_t *members = json_array();
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:s, s:{s:s, s:o, s:I, s:o}, s:I, s:I, s:I, s:o, s:o}", "chain",
        "eth", "address", address, "entity", h->address, "name", jstr_or_null(name), "named_by",
        jstr_or_null(named_by), "category", "exchange", "formed", "rule",
        h->unlabelled ? RULE_UNL : RULE, "params", params_json(&set->opts), "blocks",
        (json_int_t)set->blocks, "hot_wallet", hot_json(h, ent->n), "size",
        (json_int_t)(ent->n + 1), "offset", (json_int_t)offset, "total", (json_int_t)ent->n,
        "hot_wallet_labels", labels_of(labels, h->address), "members", members);
    if (!doc) return NULL;
    for (uint64_t i = offset; i < ent->n && i - offset < limit; i++) {
        const evmclust_deposit *d = &set->d[ent->members[i]];
        json_t *o = deposit_json(d);
        if (!o || json_object_set_new(o, "labels", labels_of(labels, d->address)) ||
            json_array_append_new(members, o)) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

void evmclust_entity_free(evmclust_entity *e)
{
    if (!e) return;
    free(e->members);
    memset(e, 0, sizeof *e);
}
