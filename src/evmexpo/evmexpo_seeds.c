/* evmexpo: exposure that enters an EVM chain from Bitcoin over a cross-chain link
 * (docs/exposure.md, "Across chains"). A link from a Bitcoin deposit (the output paying the vault
 * or bridge) to an outbound tx of this chain seeds each outbound transfer (sent by a bridge or swap
 * stop in the link's asset) with floor(a x X_c / V) of category c: a its amount, V the deposit's
 * value in satoshis and X_c what the Bitcoin exposure index says the deposit received of c. The
 * writer then carries the seeds forward under the EVM rule like a source's sends. Only the Bitcoin
 * index is read, not the overlay from EVM chains: a round trip ETH -> BTC -> ETH is not followed.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"
#include "../exposure/exposure.h"
#include "../util/util_vec.h"
#include "evmexpo_int.h"

#define MAX_BTC_CATS 64

void ex_seeds_free(ex_seeds *sd)
{
    free(sd->v);
    json_decref(sd->doc);
    memset(sd, 0, sizeof *sd);
}

static int is_service(const ex_stops *st, const util_hmap *stop_of, uint32_t addr)
{
    uint64_t c;
    if (addr == EVM_NONE32 || !util_hmap_get(stop_of, addr, &c)) return 0;
    return !strcmp(st->cats[c], "bridge") || !strcmp(st->cats[c], "swap");
}

/* The token id of asset text ("ETH"-like without ':' is native; "chain:0x<token>"), or -1. */
static int64_t asset_id(const evm_store *s, const char *asset)
{
    const char *p = strchr(asset, ':');
    if (!p) return 0;
    uint8_t a[20];
    if (evm_addr_parse(a, p + 1, strlen(p + 1), NULL)) return -1;
    for (uint32_t id = 1;; id++) {
        evm_token_meta m;
        if (evm_store_token(s, id, &m, NULL)) return -1;
        if (!memcmp(m.addr, a, 20)) return id;
    }
}

/* Add category name to the table (kept sorted: ids are positions) and remap the stops. */
static int add_cat(ex_stops *st, const char *name, util_err *err)
{
    for (size_t i = 0; i < st->n_cats; i++)
        if (!strcmp(st->cats[i], name)) return 0;
    if (st->n_cats + 1 > EVMEXPO_MAX_CATS)
        return util_errf(err, UTIL_EINVAL, "more than %d categories", EVMEXPO_MAX_CATS);
    char(*cats)[64] = realloc(st->cats, (st->n_cats + 1) * sizeof *cats);
    if (!cats) return util_errf(err, UTIL_ENOMEM, "out of memory");
    st->cats = cats;
    int *tr = realloc(st->tracked, (st->n_cats + 1) * sizeof *tr);
    if (!tr) return util_errf(err, UTIL_ENOMEM, "out of memory");
    st->tracked = tr;
    size_t pos = 0;
    while (pos < st->n_cats && strcmp(st->cats[pos], name) < 0)
        pos++;
    memmove(st->cats + pos + 1, st->cats + pos, (st->n_cats - pos) * sizeof *st->cats);
    snprintf(st->cats[pos], 64, "%s", name);
    st->n_cats++;
    for (size_t i = 0; i < st->n; i++)
        if (st->v[i].cat >= pos) st->v[i].cat++;
    for (size_t c = 0; c < st->n_cats; c++)
        st->tracked[c] = exposure_category_tracked(st->cats[c]);
    return 0;
}

typedef struct pseed {
    uint64_t xfer;
    char cat[64];
    evm_u256 amount;
    uint32_t link;
} pseed;

static int cmp_pseed(const void *pa, const void *pb)
{
    const pseed *a = pa, *b = pb;
    if (a->xfer != b->xfer) return a->xfer < b->xfer ? -1 : 1;
    return strcmp(a->cat, b->cat);
}

int ex_seeds_compute(const char *db, const evm_store *s, ex_stops *st, const util_hmap *stop_of,
                     ex_seeds *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    xchain_links links = {0};
    util_err e = {0};
    int rc = xchain_links_load(db, &links, &e);
    if (rc == UTIL_ENOTFOUND) return 0;
    if (rc) return util_errf(err, rc, "%s", e.msg);
    const char *chain = evm_store_chain(s);
    size_t n_use = 0;
    for (size_t i = 0; i < links.n; i++)
        if (!strcmp(links.v[i].from.chain, "btc") && !strcmp(links.v[i].to.chain, chain) &&
            links.v[i].from.n_outs && links.v[i].method >= XCHAIN_THORCHAIN_MEMO &&
            links.v[i].method <= XCHAIN_BRIDGE_VALUE_WINDOW)
            n_use++;
    exposure_index *bix = NULL;
    if (!n_use || (rc = exposure_open(&bix, db, &e))) {
        xchain_links_free(&links);
        return rc == UTIL_ENOTFOUND ? 0 : rc ? util_errf(err, rc, "%s", e.msg) : 0;
    }
    uint64_t n_tx, n_xf, n_ad;
    evm_store_counts(s, &n_tx, &n_xf, &n_ad);
    pseed *ps = NULL;
    size_t n_ps = 0, cap = 0;
    for (size_t li = 0; li < links.n && !rc; li++) {
        const xchain_link *l = &links.v[li];
        if (strcmp(l->from.chain, "btc") || strcmp(l->to.chain, chain) || !l->from.n_outs ||
            l->method < XCHAIN_THORCHAIN_MEMO || l->method > XCHAIN_BRIDGE_VALUE_WINDOW)
            continue;
        uint64_t V = l->amount_in.w[0];
        if (!V || l->to.tx >= n_tx) continue;
        exposure_amount amt[MAX_BTC_CATS];
        uint32_t stop_cat;
        size_t na = exposure_output(bix, l->from.out_id[0], amt, MAX_BTC_CATS, &stop_cat);
        if (na > MAX_BTC_CATS) na = MAX_BTC_CATS;
        if (!na) continue;
        int64_t asset = asset_id(s, l->asset_out);
        if (asset < 0) continue;
        evm_tx_row tr, nx;
        if ((rc = evm_store_tx(s, l->to.tx, &tr, err))) break;
        uint64_t end = n_xf;
        if (l->to.tx + 1 < n_tx && !evm_store_tx(s, l->to.tx + 1, &nx, NULL)) end = nx.first_xfer;
        for (uint64_t x = tr.first_xfer; x < end && !rc; x++) {
            evm_xfer_row t;
            if ((rc = evm_store_xfer(s, x, &t, err))) break;
            if (t.tx != l->to.tx || t.token != (uint32_t)asset || t.kind == EVM_XFER_FEE ||
                t.to == EVM_NONE32 || !is_service(st, stop_of, t.from) ||
                is_service(st, stop_of, t.to))
                continue;
            for (size_t k = 0; k < na && !rc; k++) {
                const char *name = exposure_category_name(bix, amt[k].cat);
                if (!name || !exposure_category_tracked(name) || strlen(name) >= 64) continue;
                uint64_t xc = amt[k].amount < V ? amt[k].amount : V;
                evm_u256 xv = {{xc, 0, 0, 0}}, vv = {{V, 0, 0, 0}}, q, r;
                if (etrace_muldiv(&q, &r, &t.amount, &xv, &vv) || evm_u256_is_zero(&q)) continue;
                if (util_grow((void **)&ps, &cap, n_ps + 1, sizeof *ps, 16, SIZE_MAX)) {
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    break;
                }
                pseed *p = &ps[n_ps++];
                memset(p, 0, sizeof *p);
                p->xfer = x, p->amount = q, p->link = (uint32_t)li;
                snprintf(p->cat, sizeof p->cat, "%s", name);
            }
        }
    }
    exposure_close(bix);
    if (!rc && n_ps) qsort(ps, n_ps, sizeof *ps, cmp_pseed);
    /* a transfer named by two links (never by the linker's rules) keeps one seed per category */
    size_t k = 0;
    for (size_t i = 0; !rc && i < n_ps; i++) {
        if (k && ps[k - 1].xfer == ps[i].xfer && !strcmp(ps[k - 1].cat, ps[i].cat)) continue;
        ps[k++] = ps[i];
    }
    n_ps = k;
    for (size_t i = 0; !rc && i < n_ps; i++)
        rc = add_cat(st, ps[i].cat, err);
    if (!rc && n_ps) {
        out->v = calloc(n_ps, sizeof *out->v);
        out->doc = json_array();
        if (!out->v || !out->doc) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    util_buf hb = {0};
    for (size_t i = 0; !rc && i < n_ps; i++) {
        uint32_t c = 0;
        while (strcmp(st->cats[c], ps[i].cat))
            c++;
        out->v[i] = (ex_seed){ps[i].xfer, c, ps[i].amount};
        const xchain_link *l = &links.v[ps[i].link];
        char amt[EVM_U256_DEC_MAX], from[65], to[67], line[512];
        evm_u256_format(amt, &ps[i].amount);
        util_hash_hex(from, l->from.hash);
        evm_hash_hex(to, l->to.hash);
        json_t *j =
            json_pack("{s:I, s:s, s:s, s:s, s:f, s:I, s:s, s:s, s:s}", "xfer",
                      (json_int_t)ps[i].xfer, "category", ps[i].cat, "amount", amt, "method",
                      xchain_method_name(l->method), "confidence", l->confidence, "candidates",
                      (json_int_t)l->candidates, "from", from, "to", to, "rule", l->rule);
        if (!j || json_array_append_new(out->doc, j)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        snprintf(line, sizeof line, "%" PRIu64 " %s %s %s %.6f %u %s;", ps[i].xfer, ps[i].cat, amt,
                 xchain_method_name(l->method), l->confidence, l->candidates, from);
        if (util_buf_append(&hb, line, strlen(line)))
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (!rc && n_ps) {
        out->n = n_ps;
        out->hash = util_hash_bytes(hb.data, hb.len);
        if (!out->hash) out->hash = 1; /* 0 means no seeds */
    }
    util_buf_free(&hb);
    free(ps);
    xchain_links_free(&links);
    if (rc) ex_seeds_free(out);
    return rc;
}
