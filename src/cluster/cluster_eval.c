/* Accuracy against a generator truth file: detector precision/recall, change-heuristic
 * precision, cluster purity and completeness. In memory only; nothing is saved. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "../util/util_vec.h"

typedef struct truth {
    uint32_t *owner; /* truth entity per address id, UINT32_MAX unknown */
    uint8_t *kind;   /* truth cluster_cj_kind per tx */
    uint64_t unknown_addrs, unknown_txs;
    uint8_t *peel; /* 1 for txs the truth lists as a scenario's peel step */
} truth;

static int kind_of_impl(const char *impl)
{
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        if (impl && !strcmp(impl, cluster_cj_kind_name(k))) return k;
    return CLUSTER_CJ_GENERIC;
}

static int truth_load(const store *s, const char *path, truth *t, util_err *err)
{
    const store_totals *tot = store_get_totals(s);
    t->owner = malloc((size_t)(tot->addresses ? tot->addresses : 1) * 4);
    t->kind = calloc(tot->txs ? tot->txs : 1, 1);
    t->peel = calloc(tot->txs ? tot->txs : 1, 1);
    if (!t->owner || !t->kind || !t->peel)
        return util_errf(err, UTIL_ENOMEM, "out of memory loading %s", path);
    memset(t->owner, 0xff, (size_t)tot->addresses * 4);
    FILE *f = fopen(path, "r");
    if (!f) return util_errf(err, UTIL_ENOTFOUND, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        if (!o) {
            rc = util_errf(err, UTIL_EFORMAT, "%s:%" PRIu64 ": %s", path, lineno, je.text);
            break;
        }
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (kind && !strcmp(kind, "entity")) {
            uint32_t id = (uint32_t)json_integer_value(json_object_get(o, "id"));
            size_t i;
            json_t *a;
            json_array_foreach(json_object_get(o, "addresses"), i, a)
            {
                btc_addr key;
                int64_t aid;
                if (btc_addr_decode(&key, json_string_value(a), NULL) ||
                    (aid = store_find_addr(s, &key)) < 0) {
                    t->unknown_addrs++;
                    continue;
                }
                t->owner[aid] = id;
            }
        } else if (kind && !strcmp(kind, "scenario")) {
            size_t i;
            json_t *st;
            json_array_foreach(json_object_get(o, "steps"), i, st)
            {
                const char *sk = json_string_value(json_object_get(st, "kind"));
                uint8_t txid[32];
                int64_t tx;
                if (!sk || strcmp(sk, "peel") != 0) continue;
                if (util_hash_parse(txid, json_string_value(json_object_get(st, "txid"))) == 0 &&
                    (tx = store_find_tx(s, txid)) >= 0)
                    t->peel[tx] = 1;
            }
        } else if (kind && (!strcmp(kind, "coinjoin") || !strcmp(kind, "whirlpool_tx0") ||
                            !strcmp(kind, "batch"))) {
            uint8_t txid[32];
            int64_t tx;
            if (util_hash_parse(txid, json_string_value(json_object_get(o, "txid"))) ||
                (tx = store_find_tx(s, txid)) < 0)
                t->unknown_txs++;
            else
                t->kind[tx] = (uint8_t)(!strcmp(kind, "whirlpool_tx0") ? CLUSTER_CJ_WHIRLPOOL_TX0
                                        : !strcmp(kind, "batch")
                                            ? CLUSTER_CJ_PAYOUT_BATCH
                                            : kind_of_impl(json_string_value(
                                                  json_object_get(o, "implementation"))));
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return rc;
}

static uint64_t pairs_of(uint64_t n)
{
    return n * (n - 1) / 2;
}

/* Purity: addresses in the majority truth entity of their cluster / addresses. Completeness:
 * addresses in the cluster holding most of their truth entity / addresses. Pairwise precision:
 * of the address pairs in one cluster, the share one owner holds; recall: of the pairs one
 * owner holds, the share in one cluster. The largest wrong cluster: the largest cluster
 * holding addresses of two or more owners. Only addresses with a known owner count. */
static int partition_json(cl_pass *p, const uint32_t *owner, json_t *o, util_err *err)
{
    uint32_t n = p->uf.n;
    uint64_t *pairs = malloc((size_t)(n ? n : 1) * 8);
    if (!pairs) return util_errf(err, UTIL_ENOMEM, "out of memory measuring purity");
    uint64_t m = 0, entities = 0, largest = 0, singletons = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = cl_uf_find(&p->uf, i);
        if (r == i) {
            entities++;
            singletons += p->uf.size[i] == 1;
            if (p->uf.size[i] > largest) largest = p->uf.size[i];
        }
        if (owner[i] != UINT32_MAX) pairs[m++] = (uint64_t)r << 32 | owner[i];
    }
    double score[2];
    uint64_t same_group[2] = {0, 0}, tp = 0;
    uint64_t wrong_size = 0, wrong_owners = 0, most_owners = 0, wrong_n = 0, largest_known = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) /* swap to owner-major */
            for (uint64_t i = 0; i < m; i++)
                pairs[i] = pairs[i] << 32 | pairs[i] >> 32;
        qsort(pairs, m, 8, util_cmp_u64);
        uint64_t good = 0;
        for (uint64_t i = 0; i < m;) {
            uint64_t best = 0, j = i, kinds = 0;
            while (j < m && pairs[j] >> 32 == pairs[i] >> 32) {
                uint64_t k = j;
                while (k < m && pairs[k] == pairs[j])
                    k++;
                if (k - j > best) best = k - j;
                if (!pass) tp += pairs_of(k - j);
                kinds++;
                j = k;
            }
            same_group[pass] += pairs_of(j - i);
            if (!pass) {
                if (j - i > largest_known) largest_known = j - i;
                if (kinds > most_owners) most_owners = kinds;
                if (kinds > 1) {
                    wrong_n++;
                    if (j - i > wrong_size || (j - i == wrong_size && kinds > wrong_owners))
                        wrong_size = j - i, wrong_owners = kinds;
                }
            }
            good += best;
            i = j;
        }
        score[pass] = m ? (double)good / (double)m : 1.0;
    }
    free(pairs);
    json_object_set_new(o, "entities", json_integer((json_int_t)entities));
    json_object_set_new(o, "singletons", json_integer((json_int_t)singletons));
    json_object_set_new(o, "largest", json_integer((json_int_t)largest));
    json_object_set_new(o, "purity", json_real(score[0]));
    json_object_set_new(o, "completeness", json_real(score[1]));
    json_t *pw = json_object();
    json_object_set_new(pw, "addresses", json_integer((json_int_t)m));
    json_object_set_new(pw, "precision",
                        same_group[0] ? json_real((double)tp / (double)same_group[0])
                                      : json_null());
    json_object_set_new(
        pw, "recall", same_group[1] ? json_real((double)tp / (double)same_group[1]) : json_null());
    json_object_set_new(pw, "largest_cluster", json_integer((json_int_t)largest_known));
    json_object_set_new(pw, "largest_wrong_cluster", json_integer((json_int_t)wrong_size));
    json_object_set_new(pw, "largest_wrong_cluster_owners", json_integer((json_int_t)wrong_owners));
    json_object_set_new(pw, "most_owners_in_a_cluster", json_integer((json_int_t)most_owners));
    json_object_set_new(pw, "wrong_clusters", json_integer((json_int_t)wrong_n));
    json_object_set_new(o, "pairwise", pw);
    return 0;
}

/* One clustering in memory: change heuristics h, CoinJoins excluded unless no_exclude, the
 * options' guards and labels unless no_guards (then nothing is refused). */
static int run_variant(const store *s, const truth *t, const cluster_opts *opt,
                       const cl_labels *labels, unsigned h, int no_exclude, int no_guards,
                       json_t **out, util_err *err)
{
    const store_totals *tot = store_get_totals(s);
    cl_pass p = {0};
    cluster_params pr;
    cl_params_from_opts(&pr, opt, labels);
    p.links_fd = -1;
    p.heuristics = h;
    p.guard = no_guards ? UINT32_MAX : pr.guard;
    if (no_guards) labels = NULL;
    p.established = pr.established;
    p.evidence = pr.evidence;
    p.owner = t->owner;
    p.no_exclude = no_exclude;
    int rc = 0;
    json_t *o = json_object();
    if (cl_uf_grow(&p.uf, (uint32_t)tot->addresses) || cl_pass_guards_init(&p, labels, NULL, 0)) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    double t0 = util_now();
    if ((rc = cl_run_pass(s, &p, 0, tot->txs, NULL, err))) goto done;
    char hs[64];
    cluster_format_heuristics(h, hs, sizeof hs);
    json_object_set_new(o, "heuristics", json_string(hs));
    json_object_set_new(o, "coinjoins_excluded", json_boolean(!no_exclude));
    json_object_set_new(o, "guards", json_boolean(!no_guards));
    if (h) {
        json_object_set_new(o, "change_picks", json_integer((json_int_t)p.picks));
        json_object_set_new(o, "change_precision",
                            p.picks ? json_real((double)p.picks_ok / (double)p.picks)
                                    : json_null());
        json_object_set_new(o, "change_links", json_integer((json_int_t)p.change_links));
    }
    json_object_set_new(o, "refused_merges", json_integer((json_int_t)p.refused));
    json_object_set_new(o, "merged_on_evidence", json_integer((json_int_t)p.links_evidence));
    json_object_set_new(o, "seconds", json_real(util_now() - t0));
    rc = partition_json(&p, t->owner, o, err);
done:
    cl_pass_free(&p);
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int cluster_evaluate(const store *s, const char *truth_path, const cluster_opts *opt, json_t **out,
                     util_err *err)
{
    *out = NULL;
    unsigned h = opt->heuristics;
    cl_labels labels = {0};
    const store_totals *tot = store_get_totals(s);
    truth t = {0};
    cluster_scratch sc = {0};
    json_t *doc = json_object(), *v = NULL;
    int rc = truth_load(s, truth_path, &t, err);
    if (!rc) rc = cl_labels_load(&labels, opt->labels, s, err);
    if (rc) goto done;
    json_object_set_new(doc, "truth", json_string(truth_path));
    json_object_set_new(doc, "txs", json_integer((json_int_t)tot->txs));
    json_object_set_new(doc, "addresses", json_integer((json_int_t)tot->addresses));
    json_object_set_new(doc, "truth_addresses_not_in_store",
                        json_integer((json_int_t)t.unknown_addrs));
    json_object_set_new(doc, "truth_txs_not_in_store", json_integer((json_int_t)t.unknown_txs));

    /* Detectors: counts[truth kind][detected kind]. */
    uint64_t cm[CLUSTER_CJ_NKINDS][CLUSTER_CJ_NKINDS] = {{0}};
    for (uint64_t tx = 0; tx < tot->txs; tx++) {
        int k = cluster_detect(s, tx, &sc);
        if (k < 0) {
            rc = util_errf(err, k, "out of memory");
            goto done;
        }
        cm[t.kind[tx]][k]++;
    }
    json_t *det = json_object();
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++) {
        uint64_t truth_n = 0, det_n = 0;
        for (int j = 0; j < CLUSTER_CJ_NKINDS; j++)
            truth_n += cm[k][j], det_n += cm[j][k];
        json_t *o = json_object();
        uint64_t tp = cm[k][k];
        json_object_set_new(o, "truth", json_integer((json_int_t)truth_n));
        json_object_set_new(o, "recall",
                            truth_n ? json_real((double)tp / (double)truth_n) : json_null());
        if (k == CLUSTER_CJ_GENERIC) { /* a generic detection is right on any CoinJoin */
            tp = 0;
            for (int j = 1; j < CLUSTER_CJ_NKINDS; j++)
                if (cluster_cj_excludes(j)) tp += cm[j][k];
        }
        json_object_set_new(o, "detected", json_integer((json_int_t)det_n));
        json_object_set_new(o, "correct", json_integer((json_int_t)tp));
        json_object_set_new(o, "precision",
                            det_n ? json_real((double)tp / (double)det_n) : json_null());
        json_t *missed = json_object();
        for (int j = 0; j < CLUSTER_CJ_NKINDS; j++)
            if (j != k && cm[k][j])
                json_object_set_new(missed, cluster_cj_kind_name(j),
                                    json_integer((json_int_t)cm[k][j]));
        json_object_set_new(o, "truth_detected_as", missed);
        json_object_set_new(det, cluster_cj_kind_name(k), o);
    }
    /* All CoinJoin kinds together: what the exclusion itself gets right. */
    uint64_t any_truth = 0, any_det = 0, any_tp = 0;
    for (int i = 0; i < CLUSTER_CJ_NKINDS; i++)
        for (int j = 0; j < CLUSTER_CJ_NKINDS; j++) {
            any_truth += cluster_cj_excludes(i) ? cm[i][j] : 0;
            any_det += cluster_cj_excludes(j) ? cm[i][j] : 0;
            any_tp += cluster_cj_excludes(i) && cluster_cj_excludes(j) ? cm[i][j] : 0;
        }
    json_t *any = json_object();
    json_object_set_new(any, "truth", json_integer((json_int_t)any_truth));
    json_object_set_new(any, "detected", json_integer((json_int_t)any_det));
    json_object_set_new(any, "correct", json_integer((json_int_t)any_tp));
    json_object_set_new(any, "precision",
                        any_det ? json_real((double)any_tp / (double)any_det) : json_null());
    json_object_set_new(any, "recall",
                        any_truth ? json_real((double)any_tp / (double)any_truth) : json_null());
    json_object_set_new(det, "any_coinjoin", any);
    /* Peel chains: every tx on a detected chain against the truth's peel steps. */
    uint64_t peel_truth = 0, peel_det = 0, peel_tp = 0;
    for (uint64_t tx = 0; tx < store_get_totals(s)->txs; tx++) {
        int d = cluster_peel_chain(s, tx) > 0;
        peel_truth += t.peel[tx], peel_det += d, peel_tp += d && t.peel[tx];
    }
    json_t *peel = json_object();
    json_object_set_new(peel, "truth", json_integer((json_int_t)peel_truth));
    json_object_set_new(peel, "detected", json_integer((json_int_t)peel_det));
    json_object_set_new(peel, "correct", json_integer((json_int_t)peel_tp));
    json_object_set_new(peel, "precision",
                        peel_det ? json_real((double)peel_tp / (double)peel_det) : json_null());
    json_object_set_new(peel, "recall",
                        peel_truth ? json_real((double)peel_tp / (double)peel_truth) : json_null());
    json_object_set_new(det, "peel_chain", peel);
    json_object_set_new(doc, "detectors", det);

    /* Clusterings: multi-input without and with CoinJoin exclusion, each change heuristic
     * alone, all of them together and the set asked for. */
    json_t *cl = json_array();
    json_object_set_new(doc, "clusterings", cl);
    unsigned variants[CLUSTER_NHEURISTICS + 3];
    int nv = 0;
    variants[nv++] = 0;
    for (unsigned i = 0; i < CLUSTER_NHEURISTICS; i++)
        variants[nv++] = 1u << i;
    variants[nv++] = CLUSTER_H_ALL;
    if (h && h != CLUSTER_H_ALL && (h & (h - 1))) variants[nv++] = h;
    for (int g = 1; g >= 0; g--) { /* without the guards, then with them */
        if ((rc = run_variant(s, &t, opt, &labels, 0, 1, g, &v, err))) goto done;
        json_array_append_new(cl, v);
    }
    for (int i = 0; i < nv; i++)
        for (int g = 1; g >= 0; g--) {
            if ((rc = run_variant(s, &t, opt, &labels, variants[i], 0, g, &v, err))) goto done;
            json_array_append_new(cl, v);
        }
    /* The clustering asked for (multi-input and the set h, with the guards) again at the top,
     * as the headline figures. */
    if ((rc = run_variant(s, &t, opt, &labels, h, 0, 0, &v, err))) goto done;
    json_object_set_new(doc, "pairwise", json_incref(json_object_get(v, "pairwise")));
    json_object_set_new(doc, "clustering", v);
    cluster_params pr;
    cl_params_from_opts(&pr, opt, &labels);
    json_object_set_new(doc, "params", cluster_params_json(&pr));
    json_object_set_new(doc, "guard", json_integer(pr.guard));
done:
    cl_labels_free(&labels);
    free(t.owner);
    free(t.kind);
    free(t.peel);
    cluster_scratch_free(&sc);
    if (rc)
        json_decref(doc);
    else
        *out = doc;
    return rc;
}
