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

void evmclust_default_opts(evmclust_opts *o)
{
    o->min_share = 90;
    o->min_feeders = 3;
}

/* The exchange a labelled address belongs to (its "exchange" label's actor, else name), or
 * NULL. */
static const char *exchange_of(const labels_db *labels, const char hex[43])
{
    const labels_label *first;
    size_t n;
    if (!labels) return NULL;
    labels_find(labels, "eth", hex, &first, &n);
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(first[i].category, "exchange")) continue;
        const char *w = first[i].actor && *first[i].actor ? first[i].actor : first[i].name;
        if (w && *w && (!best || (first[i].actor && *first[i].actor))) best = w;
    }
    return best;
}

/* Per asset of one address: what it received from others, sent to others, sent to the exchange
 * target, and the largest forwarding transfer. */
typedef struct acc {
    uint32_t token;
    evm_u256 in, out, fwd, big;
    uint64_t big_xfer;
} acc;

typedef struct cand {
    uint32_t addr, target; /* address ids */
    const char *exchange;  /* borrowed from the labels */
    uint32_t token;
    evm_u256 in, fwd;
    uint64_t xfer;
} cand;

static int cmp_dep(const void *pa, const void *pb)
{
    return strcmp(((const evmclust_deposit *)pa)->address, ((const evmclust_deposit *)pb)->address);
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

static int fill_deposit(const evm_store *s, const cand *c, evmclust_deposit *d, util_err *err)
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
    d->exchange = strdup(c->exchange);
    size_t n = strlen(RULE) + 200;
    d->source = malloc(n);
    if (!d->exchange || !d->source) return util_errf(err, UTIL_ENOMEM, "out of memory");
    snprintf(d->source, n, "%s: forwards %s to %s in tx %s", RULE, d->asset, d->hot, d->tx);
    return 0;
}

static void set_label(evmclust_deposit *d)
{
    memset(&d->label, 0, sizeof d->label);
    d->label.chain = (char *)"eth";
    d->label.address = d->address;
    d->label.category = (char *)"exchange";
    d->label.actor = d->exchange;
    d->label.source = d->source;
    d->label.confidence = 80;
}

int evmclust_compute(const evm_store *s, const labels_db *labels, const evmclust_opts *o,
                     evmclust_set *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    out->opts = *o;
    if (o->min_share < 1 || o->min_share > 100)
        return util_errf(err, UTIL_EINVAL, "min_share: %u is not a percentage 1-100", o->min_share);
    uint64_t ntx, nx, na, first;
    uint8_t tip[32];
    evm_store_counts(s, &ntx, &nx, &na);
    evm_store_tip(s, &first, &out->blocks, tip);
    /* exch[i]: the exchange of address i if labelled one, cached (NULL: not an exchange's) */
    const char **exch = calloc(na ? na : 1, sizeof *exch);
    uint32_t *feeders = calloc(na ? na : 1, sizeof *feeders);
    cand *cs = NULL;
    size_t ncs = 0, ccap = 0;
    acc *as = NULL;
    size_t nas = 0, acap = 0;
    int rc = 0;
    if (!exch || !feeders) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < na; i++) {
        char hex[43];
        addr_hex(s, (uint32_t)i, hex);
        exch[i] = exchange_of(labels, hex);
    }
    for (uint64_t a = 0; a < na; a++) {
        uint64_t x;
        nas = 0;
        uint32_t target = EVM_NONE32;
        int mixed = 0; /* forwards to two exchanges */
        if ((rc = evm_store_addr_head(s, (uint32_t)a, &x, err))) goto done;
        while (x != EVM_NONE64) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(s, x, &r, err))) goto done;
            uint64_t cur = x;
            if ((rc = evm_store_addr_next(s, (uint32_t)a, x, &x, err))) goto done;
            if (r.kind == EVM_XFER_FEE || evm_u256_is_zero(&r.amount) || r.from == r.to) continue;
            acc *p = NULL;
            for (size_t k = 0; k < nas; k++)
                if (as[k].token == r.token) p = &as[k];
            if (!p) {
                if (nas == acap) {
                    size_t nc = acap ? acap * 2 : 4;
                    acc *na2 = realloc(as, nc * sizeof *as);
                    if (!na2) {
                        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                        goto done;
                    }
                    as = na2, acap = nc;
                }
                p = &as[nas++];
                memset(p, 0, sizeof *p);
                p->token = r.token;
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
        if (target == EVM_NONE32) continue;
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
        if (ncs == ccap) {
            size_t nc = ccap ? ccap * 2 : 64;
            cand *n2 = realloc(cs, nc * sizeof *cs);
            if (!n2) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                goto done;
            }
            cs = n2, ccap = nc;
        }
        evm_xfer_row r;
        if ((rc = evm_store_xfer(s, best->big_xfer, &r, err))) goto done;
        cs[ncs++] =
            (cand){(uint32_t)a, r.to, exch[r.to], best->token, best->in, best->fwd, best->big_xfer};
        feeders[r.to]++;
    }
    for (uint64_t i = 0; i < na; i++)
        out->hot_wallets += feeders[i] >= o->min_feeders && feeders[i] > 0;
    size_t keep = 0;
    for (size_t i = 0; i < ncs; i++)
        keep += feeders[cs[i].target] >= o->min_feeders;
    if (keep && !(out->d = calloc(keep, sizeof *out->d))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ncs; i++) {
        if (feeders[cs[i].target] < o->min_feeders) continue;
        evmclust_deposit *d = &out->d[out->n++];
        if ((rc = fill_deposit(s, &cs[i], d, err))) goto done;
    }
    if (out->n) qsort(out->d, out->n, sizeof *out->d, cmp_dep);
    for (size_t i = 0; i < out->n; i++)
        set_label(&out->d[i]);
done:
    free(exch);
    free(feeders);
    free(cs);
    free(as);
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

json_t *evmclust_json(const evmclust_set *set)
{
    json_t *arr = json_array();
    json_t *doc =
        json_pack("{s:i, s:s, s:{s:i, s:i}, s:I, s:I, s:I, s:I, s:o}", "format", EVMCLUST_FORMAT,
                  "rule", RULE, "params", "min_share", (int)set->opts.min_share, "min_feeders",
                  (int)set->opts.min_feeders, "blocks", (json_int_t)set->blocks, "hot_wallets",
                  (json_int_t)set->hot_wallets, "ambiguous", (json_int_t)set->ambiguous,
                  "deposits_found", (json_int_t)set->n, "deposits", arr);
    if (!doc) return NULL;
    for (size_t i = 0; i < set->n; i++) {
        const evmclust_deposit *d = &set->d[i];
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "address", d->address, "exchange",
                      d->exchange, "rule", RULE, "hot_wallet", d->hot, "tx", d->tx, "asset",
                      d->asset, "received", d->received, "forwarded", d->forwarded);
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
        rc = util_errf(err, UTIL_EFORMAT, "%s: field format: not %d", path, EVMCLUST_FORMAT);
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
        char ex[LABELS_MAX_TEXT + 1];
        uint8_t chk[32];
        if ((rc = get_str(o, "address", d->address, sizeof d->address, path, i, err)) ||
            (rc = get_str(o, "hot_wallet", d->hot, sizeof d->hot, path, i, err)) ||
            (rc = get_str(o, "tx", d->tx, sizeof d->tx, path, i, err)) ||
            (rc = get_str(o, "asset", d->asset, sizeof d->asset, path, i, err)) ||
            (rc = get_str(o, "received", d->received, sizeof d->received, path, i, err)) ||
            (rc = get_str(o, "forwarded", d->forwarded, sizeof d->forwarded, path, i, err)) ||
            (rc = get_str(o, "exchange", ex, sizeof ex, path, i, err)))
            goto done;
        if (evm_addr_parse(chk, d->address, strlen(d->address), NULL) ||
            evm_addr_parse(chk, d->hot, strlen(d->hot), NULL) ||
            evm_hash_parse(chk, d->tx, strlen(d->tx), NULL)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s: deposits[%zu]: address, hot_wallet or tx "
                           "is not hex of the right length",
                           path, i);
            goto done;
        }
        for (char *p = d->address; *p; p++)
            if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
        out->n++;
        d->exchange = strdup(ex);
        size_t sn = strlen(RULE) + 200;
        d->source = malloc(sn);
        if (!d->exchange || !d->source) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto done;
        }
        snprintf(d->source, sn, "%s: forwards %s to %s in tx %s", RULE, d->asset, d->hot, d->tx);
    }
    json_t *p = json_object_get(doc, "params");
    out->opts.min_share = (unsigned)json_integer_value(json_object_get(p, "min_share"));
    out->opts.min_feeders = (unsigned)json_integer_value(json_object_get(p, "min_feeders"));
    out->blocks = (uint64_t)json_integer_value(json_object_get(doc, "blocks"));
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
    free(set->d);
    memset(set, 0, sizeof *set);
}
