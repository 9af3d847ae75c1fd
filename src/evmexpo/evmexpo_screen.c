/* evmexpo: screening an EVM address or tx from the EVM exposure index (docs/screening.md, "EVM
 * addresses and txs"). Risk follows the money: a contribution is the category's weight x
 * min(1, share / full_exposure_share), with no decay by distance (the index has none). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"
#include "../exposure/exposure.h"
#include "evmexpo_int.h"

#define MAX_HOLDINGS 64
#define PATH_STEPS 64

/* a / b as a double (b > 0). */
static double ratio(const evm_u256 *a, const evm_u256 *b)
{
    double n = 0, d = 0;
    for (int i = 3; i >= 0; i--) {
        n = n * 18446744073709551616.0 + (double)a->w[i];
        d = d * 18446744073709551616.0 + (double)b->w[i];
    }
    return d > 0 ? n / d : 0;
}

static json_t *u256_json(const evm_u256 *v)
{
    char b[EVM_U256_DEC_MAX];
    evm_u256_format(b, v);
    return json_string(b);
}

static risk_level level_of(const risk_config *c, double score)
{
    if (score >= c->thresholds[2]) return RISK_SEVERE;
    if (score >= c->thresholds[1]) return RISK_HIGH;
    if (score >= c->thresholds[0]) return RISK_MEDIUM;
    return score > 0 ? RISK_LOW : RISK_NONE;
}

/* The risk part: every reason with its score, the largest the score. */
typedef struct rsum {
    double score;
    json_t *reasons;  /* sentences, as a Bitcoin screening's */
    json_t *contribs; /* the same as objects with their figures */
} rsum;

static void reason(rsum *r, double score, json_t *why)
{
    if (!(score > 0)) {
        json_decref(why);
        return;
    }
    score = round(fmin(100, score) * 10) / 10;
    json_object_set_new(why, "score", json_real(score));
    json_array_append(r->reasons, json_object_get(why, "text"));
    json_array_append_new(r->contribs, why);
    if (score > r->score) r->score = score;
}

static void ref_text(const evm_store *s, uint64_t x, char *out, size_t n)
{
    evm_xfer_row t;
    evm_tx_row tx;
    if (evm_store_xfer(s, x, &t, NULL) || t.tx == EVM_NONE64 || evm_store_tx(s, t.tx, &tx, NULL)) {
        snprintf(out, n, "xfer:%" PRIu64, x);
        return;
    }
    char h[67];
    evm_hash_hex(h, tx.hash);
    snprintf(out, n, "%s:%" PRIu64, h, x - tx.first_xfer);
}

static json_t *addr_json(const evm_store *s, uint32_t id)
{
    char a[43];
    return id != EVM_NONE32 && !etrace_addr_text(s, id, a) ? json_string(a) : json_null();
}

/* Direct exposure: the labels of one address (lowercase 0x text). */
static void direct_labels(const labels_db *labels, const char *chain, const char *lower,
                          const char *role, const risk_config *cfg, json_t *arr, rsum *r)
{
    if (!labels) return;
    const labels_label *l;
    size_t n;
    labels_find(labels, chain, lower, &l, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "address", lower, "category",
                              l[i].category, "name", l[i].name, "actor", l[i].actor, "source",
                              l[i].source, "confidence", l[i].confidence);
        if (role) json_object_set_new(o, "role", json_string(role));
        json_array_append(arr, o);
        double w = risk_weight(cfg, l[i].category);
        char t[600];
        snprintf(t, sizeof t, "%s%s%s is labelled %s (%s, confidence %d)", role ? "the " : "",
                 role ? role : "", role ? " " : "the address", l[i].category, l[i].name,
                 l[i].confidence);
        reason(r, w * l[i].confidence / 100.0,
               json_pack("{s:s, s:s, s:f, s:s}", "basis", "address_label", "category",
                         l[i].category, "weight", w, "text", t));
        json_decref(o);
    }
}

static void lower_hex(char out[43], const uint8_t a[20])
{
    out[0] = '0', out[1] = 'x';
    util_hex(out + 2, a, 20);
}

static const char *state_name(int st)
{
    return st == EXPOSURE_NO_INDEX ? "none" : exposure_state_name(st);
}

static int screen_address(const evm_store *s, const evmexpo_index *ix, const labels_db *labels,
                          const risk_config *cfg, const uint8_t a[20], json_t *doc, rsum *r,
                          util_err *err)
{
    char lower[43], eip[43];
    lower_hex(lower, a);
    evm_addr_eip55(eip, a);
    json_object_set_new(doc, "address", json_string(eip));
    uint32_t id;
    int seen = !evm_store_find_addr(s, a, &id, NULL);
    json_object_set_new(doc, "seen", json_boolean(seen));
    json_t *direct = json_array();
    direct_labels(labels, evm_store_chain(s), lower, NULL, cfg, direct, r);
    json_object_set_new(doc, "direct", direct);
    json_t *assets = json_array();
    json_object_set_new(
        doc, "indirect",
        json_pack("{s:{s:s, s:o}}", "incoming", "source", "index", "by_asset", assets));
    if (!seen || !ix) return 0;
    evmexpo_holding h[MAX_HOLDINGS];
    size_t n = evmexpo_address(ix, id, h, MAX_HOLDINGS);
    if (n > MAX_HOLDINGS) n = MAX_HOLDINGS;
    for (size_t i = 0; i < n; i++) {
        char asset[43];
        etrace_asset_text(s, h[i].asset, asset);
        json_t *cats = json_array();
        for (size_t k = 0; k < h[i].n_cats; k++) {
            const evmexpo_cat_amount *c = &h[i].cats[k];
            if (evm_u256_is_zero(&c->received)) continue;
            const char *name = evmexpo_category_name(ix, c->cat);
            double share = ratio(&c->received, &h[i].received);
            json_t *o =
                json_pack("{s:s, s:o, s:f, s:o}", "category", name, "amount",
                          u256_json(&c->received), "share", share, "held", u256_json(&c->held));
            uint64_t *path = NULL;
            size_t len = 0;
            uint32_t src;
            json_t *jp = json_array();
            const ex_seedinfo *link = NULL; /* the path starts at a link from Bitcoin */
            if (!evmexpo_path(ix, s, labels, id, h[i].asset, c->cat, PATH_STEPS, &path, &len, &src,
                              NULL)) {
                for (size_t p = 0; p < len; p++) {
                    char t[100];
                    ref_text(s, path[p], t, sizeof t);
                    json_array_append_new(jp, json_string(t));
                }
                json_object_set_new(o, "source_address", addr_json(s, src));
                if (len) link = ex_seed_find(ix, path[len - 1], name);
                if (link)
                    json_object_set_new(o, "cross_chain",
                                        json_pack("{s:s, s:s, s:f, s:i, s:s}", "from_chain", "btc",
                                                  "from_tx", link->from, "confidence",
                                                  link->confidence, "candidates",
                                                  (int)link->candidates, "method", link->method));
            }
            free(path);
            json_object_set_new(o, "path", jp);
            json_array_append_new(cats, o);
            double w = risk_weight(cfg, name);
            double f = fmin(1, cfg->full_exposure_share > 0 ? share / cfg->full_exposure_share : 1);
            char amt[EVM_U256_DEC_MAX], t[400];
            evm_u256_format(amt, &c->received);
            if (link)
                snprintf(t, sizeof t,
                         "cross-chain incoming: %.2f%% of the %s it received (%s) came from %s "
                         "sources on Bitcoin, over the link from btc tx %s (method %s, "
                         "confidence %.2f, %u candidates)",
                         100 * share, asset, amt, name, link->from, link->method, link->confidence,
                         link->candidates);
            else
                snprintf(t, sizeof t,
                         "incoming: %.2f%% of the %s it received (%s) came from %s sources, "
                         "through the whole history (EVM exposure index)",
                         100 * share, asset, amt, name);
            reason(r, w * f * (link ? link->confidence : 1),
                   json_pack("{s:s, s:s, s:s, s:f, s:f, s:s}", "basis", "incoming", "category",
                             name, "asset", asset, "weight", w, "share_factor", f, "text", t));
        }
        json_array_append_new(assets, json_pack("{s:s, s:o, s:o, s:o}", "asset", asset, "received",
                                                u256_json(&h[i].received), "balance",
                                                u256_json(&h[i].balance), "by_category", cats));
    }
    (void)err;
    return 0;
}

static int screen_tx(const evm_store *s, const evmexpo_index *ix, const labels_db *labels,
                     const risk_config *cfg, const uint8_t hash[32], json_t *doc, rsum *r,
                     util_err *err)
{
    uint64_t id;
    int rc = evm_store_find_tx(s, hash, &id, err);
    if (rc) return rc;
    evm_tx_row tx;
    if ((rc = evm_store_tx(s, id, &tx, err))) return rc;
    char h[67];
    evm_hash_hex(h, hash);
    json_object_set_new(doc, "tx", json_string(h));
    evm_block_row b;
    if (!evm_store_block(s, tx.block, &b, NULL))
        json_object_set_new(doc, "block", json_integer((json_int_t)b.number));
    uint64_t nt, nx, na;
    evm_store_counts(s, &nt, &nx, &na);
    uint64_t end = nx;
    if (id + 1 < nt) {
        evm_tx_row nxt;
        if (!evm_store_tx(s, id + 1, &nxt, NULL)) end = nxt.first_xfer;
    }
    json_t *direct = json_array(), *xs = json_array();
    /* every address the tx moves value between, once per role */
    uint32_t seen_from[64], seen_to[64];
    size_t nf = 0, ntt = 0;
    for (uint64_t x = tx.first_xfer; x < end; x++) {
        evm_xfer_row t;
        if ((rc = evm_store_xfer(s, x, &t, err))) break;
        if (t.tx != id) break;
        for (int side = 0; side < 2; side++) {
            uint32_t who = side ? t.to : t.from;
            uint32_t *set = side ? seen_to : seen_from;
            size_t *ns = side ? &ntt : &nf, k = 0;
            if (who == EVM_NONE32) continue;
            while (k < *ns && set[k] != who)
                k++;
            if (k < *ns || *ns == 64) continue;
            set[(*ns)++] = who;
            uint8_t a[20];
            char lower[43];
            if (evm_store_addr(s, who, a, NULL)) continue;
            lower_hex(lower, a);
            direct_labels(labels, evm_store_chain(s), lower, side ? "receiver" : "sender", cfg,
                          direct, r);
        }
        char ref[100], asset[43];
        ref_text(s, x, ref, sizeof ref);
        etrace_asset_text(s, t.token, asset);
        json_t *cats = json_array();
        if (ix) {
            uint64_t f, n;
            evmexpo_rows_of(ix, x, x + 1, &f, &n);
            for (uint64_t i = f; i < f + n; i++) {
                evmexpo_row row;
                evmexpo_row_at(ix, i, &row);
                const char *name = evmexpo_category_name(ix, row.cat);
                double share = ratio(&row.amount, &t.amount);
                json_array_append_new(cats, json_pack("{s:s, s:o, s:f}", "category", name, "amount",
                                                      u256_json(&row.amount), "share", share));
                double w = risk_weight(cfg, name);
                double fct =
                    fmin(1, cfg->full_exposure_share > 0 ? share / cfg->full_exposure_share : 1);
                char amt[EVM_U256_DEC_MAX], txt[400];
                evm_u256_format(amt, &row.amount);
                snprintf(txt, sizeof txt,
                         "transfer %s: %.2f%% of it (%s %s) came from %s sources, through the "
                         "whole history (EVM exposure index)",
                         ref, 100 * share, amt, asset, name);
                reason(r, w * fct,
                       json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:s}", "basis", "incoming",
                                 "category", name, "transfer", ref, "asset", asset, "weight", w,
                                 "share_factor", fct, "text", txt));
            }
        }
        json_array_append_new(xs, json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "transfer", ref,
                                            "kind", evm_xfer_kind_name(t.kind), "from",
                                            addr_json(s, t.from), "to", addr_json(s, t.to), "asset",
                                            asset, "amount", u256_json(&t.amount), "by_category",
                                            cats));
    }
    json_object_set_new(doc, "direct", direct);
    json_object_set_new(doc, "transfers", xs);
    return rc;
}

int evmexpo_screen(const evm_store *s, const evmexpo_index *ix, const labels_db *labels,
                   const risk_config *cfg, const char *arg, json_t **out, util_err *err)
{
    *out = NULL;
    size_t n = strlen(arg);
    uint8_t a[32];
    int is_tx = n == 66;
    if (is_tx ? evm_hash_parse(a, arg, n, NULL) : evm_addr_parse(a, arg, n, NULL))
        return util_errf(err, UTIL_EINVAL,
                         "%s: not an EVM address (0x + 40 hex digits, EIP-55 or one case) or "
                         "tx hash (0x + 64 hex digits)",
                         arg);
    int state = EXPOSURE_NO_INDEX;
    int rc = ix ? evmexpo_check(ix, s, labels, &state, err) : 0;
    if (rc) return rc;
    json_t *doc = json_pack("{s:s}", "chain", evm_store_chain(s));
    rsum r = {0, json_array(), json_array()};
    rc = is_tx ? screen_tx(s, ix, labels, cfg, a, doc, &r, err)
               : screen_address(s, ix, labels, cfg, a, doc, &r, err);
    if (rc) {
        json_decref(doc);
        json_decref(r.reasons);
        json_decref(r.contribs);
        return rc;
    }
    uint64_t first, nb;
    uint8_t tip[32];
    evm_store_tip(s, &first, &nb, tip);
    json_object_set_new(doc, "exposure_index", json_string(state_name(state)));
    json_object_set_new(doc, "risk",
                        json_pack("{s:f, s:s, s:o, s:o}", "score", r.score, "level",
                                  risk_level_name(level_of(cfg, r.score)), "reasons", r.reasons,
                                  "contributions", r.contribs));
    json_object_set_new(doc, "height",
                        nb ? json_integer((json_int_t)(first + nb - 1)) : json_integer(-1));
    *out = doc;
    return 0;
}
