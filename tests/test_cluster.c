/* test_cluster: union-find, heuristic names, CoinJoin detection against the generator's truth,
 * and the saved clustering: every non-CoinJoin tx's input addresses share an entity, CoinJoin
 * inputs are not joined by their CoinJoin, entity ids are the smallest member, an incremental
 * build (store imported in three steps) equals a build from scratch, the state survives
 * reopening, and a damaged state file is refused. A small chain is generated and imported
 * into a temp dir under /tmp. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "gen/gen.h"
#include "ingest/ingest.h"
#include "store/store.h"

static void test_uf(void)
{
    cl_uf u = {0};
    CHECK(cl_uf_grow(&u, 10) == 0);
    for (uint32_t i = 0; i < 10; i++)
        CHECK(cl_uf_find(&u, i) == i);
    cl_uf_union(&u, 1, 2);
    cl_uf_union(&u, 3, 4);
    cl_uf_union(&u, 2, 4);
    CHECK(cl_uf_find(&u, 1) == cl_uf_find(&u, 3));
    CHECK(u.size[cl_uf_find(&u, 1)] == 4);
    CHECK(cl_uf_find(&u, 0) != cl_uf_find(&u, 1));
    CHECK(cl_uf_union(&u, 1, 4) == cl_uf_find(&u, 2)); /* already joined: no change */
    CHECK(cl_uf_grow(&u, 20) == 0 && cl_uf_find(&u, 15) == 15 && u.size[15] == 1);
    cl_uf_free(&u);
}

/* The guards on a union-find of 10 addresses: merges of two entities of >= 3 addresses need
 * co-spends in 2 distinct txs; a labelled service joins an unlabelled entity of >= 2 only on
 * evidence, another actor's labelled entity likewise. */
static void test_guards(void)
{
    cl_pass p = {0};
    p.links_fd = -1;
    p.guard = 3, p.established = 2, p.evidence = 2;
    cl_labels l = {0};
    uint32_t addr[2] = {6, 8}, ident[2] = {0, 1};
    uint8_t service[2] = {1, 0};
    l.addr = addr, l.ident = ident, l.n = 2, l.service = service, l.n_ident = 2;
    CHECK(cl_uf_grow(&p.uf, 10) == 0 && cl_pass_guards_init(&p, &l, NULL, 0) == 0);
    cl_pass_merge(&p, 0, 1, 100, CLUSTER_LINK_MULTI_INPUT);
    cl_pass_merge(&p, 1, 2, 101, CLUSTER_LINK_MULTI_INPUT);
    cl_pass_merge(&p, 3, 4, 102, CLUSTER_LINK_MULTI_INPUT);
    cl_pass_merge(&p, 4, 5, 103, CLUSTER_LINK_CHANGE);
    CHECK(p.links_multi == 3 && p.links_change == 1 && p.refused == 0);
    /* {0,1,2} and {3,4,5}: both of 3 addresses. One co-spend is refused, a second input of the
     * same tx adds nothing, a second tx makes the merge. */
    cl_pass_merge(&p, 0, 3, 104, CLUSTER_LINK_MULTI_INPUT);
    CHECK(p.refused == 1 && p.refusals[CLUSTER_GUARD_SIZE] == 1 && cl_uf_find(&p.uf, 3) == 3);
    CHECK(p.ref[0].a == 0 && p.ref[0].b == 3 && p.ref[0].size_a == 3 && p.ref[0].size_b == 3);
    CHECK((p.ref[0].info >> 8) == 104 && (p.ref[0].info & 15) == CLUSTER_GUARD_SIZE);
    cl_pass_merge(&p, 2, 5, 104, CLUSTER_LINK_MULTI_INPUT);
    CHECK(p.refused == 1 && cl_uf_find(&p.uf, 5) == 3);
    cl_pass_merge(&p, 1, 4, 105, CLUSTER_LINK_MULTI_INPUT);
    CHECK(p.refused == 1 && p.links_evidence == 1 && cl_uf_find(&p.uf, 5) == 0);
    /* The labelled service 6 takes a singleton; another actor's labelled entity {8, 9} (8 is
     * labelled, no service) is refused until a second tx. */
    cl_pass_merge(&p, 6, 7, 106, CLUSTER_LINK_MULTI_INPUT);
    CHECK(cl_uf_find(&p.uf, 7) == 6 && p.refused == 1);
    cl_pass_merge(&p, 9, 8, 107, CLUSTER_LINK_MULTI_INPUT);
    CHECK(p.refused == 1 && cl_uf_find(&p.uf, 9) == 8);
    cl_pass_merge(&p, 7, 9, 108, CLUSTER_LINK_MULTI_INPUT);
    CHECK(p.refused == 2 && p.refusals[CLUSTER_GUARD_LABELS] == 1);
    cl_pass_merge(&p, 6, 8, 109, CLUSTER_LINK_CHANGE);
    CHECK(p.refused == 2 && p.links_evidence == 2 && cl_uf_find(&p.uf, 9) == 6);
    /* A labelled service and an unlabelled entity of `established` addresses. */
    cl_pass r = {0};
    r.links_fd = -1;
    r.guard = 100, r.established = 2, r.evidence = 2;
    CHECK(cl_uf_grow(&r.uf, 10) == 0 && cl_pass_guards_init(&r, &l, NULL, 0) == 0);
    cl_pass_merge(&r, 7, 9, 200, CLUSTER_LINK_MULTI_INPUT);
    cl_pass_merge(&r, 6, 7, 201, CLUSTER_LINK_MULTI_INPUT);
    CHECK(r.refused == 1 && r.refusals[CLUSTER_GUARD_SERVICE] == 1 && cl_uf_find(&r.uf, 7) == 7);
    cl_pass_merge(&r, 9, 6, 202, CLUSTER_LINK_MULTI_INPUT);
    CHECK(r.refused == 1 && cl_uf_find(&r.uf, 7) == 6 && r.links_evidence == 1);
    cl_pass_free(&r);
    /* The saved refusals rebuild the same evidence for an incremental run. */
    cl_pass q = {0};
    q.links_fd = -1;
    q.guard = 3, q.established = 2, q.evidence = 3;
    CHECK(cl_uf_grow(&q.uf, 10) == 0);
    cl_uf_union(&q.uf, 0, 1), cl_uf_union(&q.uf, 1, 2), cl_uf_union(&q.uf, 3, 4);
    cl_uf_union(&q.uf, 4, 5);
    CHECK(cl_pass_guards_init(&q, NULL, p.ref, 1) == 0 && q.n_ref == 1);
    cl_pass_merge(&q, 2, 5, 110, CLUSTER_LINK_MULTI_INPUT); /* 2 txs < evidence 3 */
    CHECK(q.n_ref == 2 && cl_uf_find(&q.uf, 5) == 3);
    cl_pass_merge(&q, 1, 4, 111, CLUSTER_LINK_MULTI_INPUT); /* the third */
    CHECK(q.n_ref == 2 && cl_uf_find(&q.uf, 5) == 0 && q.links_evidence == 1);
    cl_pass_free(&p);
    cl_pass_free(&q);
}

static void test_names(void)
{
    unsigned h;
    util_err err = {0};
    CHECK(cluster_parse_heuristics("none", &h, &err) == 0 && h == 0);
    CHECK(cluster_parse_heuristics(NULL, &h, &err) == 0 && h == 0);
    CHECK(cluster_parse_heuristics("round,fresh", &h, &err) == 0 &&
          h == (CLUSTER_H_ROUND | CLUSTER_H_FRESH));
    CHECK(cluster_parse_heuristics("all", &h, &err) == 0 && h == CLUSTER_H_ALL);
    CHECK(cluster_parse_heuristics("fresh,bogus", &h, &err) == UTIL_EINVAL &&
          strstr(err.msg, "bogus"));
    char buf[64];
    cluster_format_heuristics(CLUSTER_H_SCRIPT | CLUSTER_H_OPTIMAL, buf, sizeof buf);
    CHECK_STR(buf, "script,optimal");
    cluster_format_heuristics(0, buf, sizeof buf);
    CHECK_STR(buf, "none");
    CHECK_STR(cluster_cj_kind_name(CLUSTER_CJ_WHIRLPOOL), "whirlpool");
    CHECK(!cluster_cj_excludes(CLUSTER_CJ_WHIRLPOOL_TX0) &&
          cluster_cj_excludes(CLUSTER_CJ_GENERIC));
}

static int import_blocks(const char *db, const char *chain, uint64_t stop)
{
    util_err err = {0};
    store *s;
    if (store_open(&s, db, STORE_WRITE | STORE_CREATE, &err)) return -1;
    ingest_opts o;
    ingest_default_opts(&o);
    o.progress = NULL;
    o.threads = 1;
    o.stop_after_blocks = stop;
    ingest_result r;
    const char *paths[] = {chain};
    int rc = ingest_run(s, paths, 1, &o, &r, &err);
    if (rc) fprintf(stderr, "import: %s\n", err.msg);
    store_close(s);
    return rc;
}

static int build(const char *db, unsigned h, cluster_result *r)
{
    util_err err = {0};
    store *s;
    if (store_open(&s, db, 0, &err)) return -1;
    cluster_opts o;
    cluster_default_opts(&o);
    o.heuristics = h;
    int rc = cluster_build(s, db, &o, r, &err);
    if (rc) fprintf(stderr, "cluster: %s\n", err.msg);
    store_close(s);
    return rc;
}

/* A copy of the entity map (caller frees), or NULL. */
static uint32_t *load_map(const char *db, uint32_t *n)
{
    util_err err = {0};
    store *s;
    if (store_open(&s, db, 0, &err)) return NULL;
    cluster_map *m;
    uint32_t *v = NULL;
    if (cluster_open(&m, s, db, &err) == 0) {
        *n = cluster_map_addresses(m);
        v = malloc((size_t)*n * 4 + 4);
        for (uint32_t i = 0; i < *n; i++)
            v[i] = cluster_entity_of(m, i);
        cluster_close(m);
    } else
        fprintf(stderr, "open: %s\n", err.msg);
    store_close(s);
    return v;
}

/* The typed entity of the entity holding address addr, against sums computed here by a scan
 * of every output of the store (not the per-address chains cluster_entity_get follows): size,
 * the address page (offset 2, limit 3: the 3rd to 5th smallest members), received, sent,
 * balance, first and last activity heights, and the CoinJoin txs that paid it. Returns the
 * number of CoinJoin txs that paid it. */
static uint64_t check_entity(const cluster_map *m, const store *s, uint32_t addr)
{
    util_err err = {0};
    char arg[16];
    snprintf(arg, sizeof arg, "%u", addr);
    cluster_entity_result r;
    if (cluster_entity_get(m, s, arg, 2, 3, &r, &err) != 0) {
        CHECK(!"cluster_entity_get");
        return 0;
    }
    uint32_t ent = cluster_entity_of(m, addr), naddr = cluster_map_addresses(m);
    CHECK(r.entity == ent && ent <= addr);
    uint64_t size = 0;
    uint32_t page[3];
    size_t np = 0;
    for (uint32_t i = 0; i < naddr; i++) {
        if (cluster_entity_of(m, i) != ent) continue;
        if (size >= 2 && np < 3) page[np++] = i;
        size++;
    }
    CHECK(r.size == size && size == cluster_entity_size(m, ent));
    CHECK(r.offset == 2 && r.n_addresses == np);
    for (size_t i = 0; i < np && i < r.n_addresses; i++)
        CHECK(r.addresses[i].id == page[i]);
    int64_t received = 0, sent = 0;
    uint32_t first = UINT32_MAX, last = 0;
    uint64_t txs = cluster_map_txs(m), cj_from = 0, last_cj = UINT64_MAX;
    for (uint64_t o = 0; o < store_get_totals(s)->outputs; o++) {
        uint64_t tx = store_output_tx(s, o);
        uint32_t a = store_out_addr(s, o);
        if (tx >= txs || a == STORE_NO_ADDR || a >= naddr || cluster_entity_of(m, a) != ent)
            continue;
        int64_t v = store_out_value(s, o);
        uint32_t h = store_tx_block(s, tx);
        received += v;
        first = h < first ? h : first;
        last = h > last ? h : last;
        if (cluster_tx_kind(m, tx) != CLUSTER_CJ_NONE && tx != last_cj) cj_from++, last_cj = tx;
        uint64_t in = store_out_spent_by(s, o);
        if (in == STORE_NONE || store_input_tx(s, in) >= txs) continue;
        sent += v;
        h = store_tx_block(s, store_input_tx(s, in));
        last = h > last ? h : last;
    }
    CHECK(r.received == received && r.sent == sent && r.balance == received - sent);
    CHECK(r.has_activity == (first != UINT32_MAX));
    CHECK(r.first_height == (first == UINT32_MAX ? 0 : first) && r.last_height == last);
    uint64_t cj = 0;
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        cj += r.cj_received_from[k];
    CHECK(cj == cj_from);
    /* The JSON writer says the same. */
    json_t *doc = cluster_entity_result_json(&r);
    CHECK(json_integer_value(json_object_get(doc, "received")) == received &&
          json_integer_value(json_object_get(doc, "size")) == (json_int_t)size &&
          json_array_size(json_object_get(doc, "addresses")) == np);
    json_t *a0 = json_array_get(json_object_get(doc, "addresses"), 0);
    if (np) CHECK(json_integer_value(json_object_get(a0, "id")) == page[0]);
    json_decref(doc);
    cluster_entity_free(&r);
    return cj_from;
}

static void test_saved(const char *tmp)
{
    char chain[512], db[512], db2[512], truth[600];
    snprintf(chain, sizeof chain, "%s/chain", tmp);
    snprintf(db, sizeof db, "%s/db", tmp);
    snprintf(db2, sizeof db2, "%s/db2", tmp);
    snprintf(truth, sizeof truth, "%s/truth.jsonl", chain);
    gen_config cfg;
    gen_config_init(&cfg);
    cfg.out_dir = chain;
    cfg.seed = 21;
    cfg.blocks = 200;
    cfg.txs_per_block = 50;
    cfg.users = 300;
    cfg.maturity = 5;
    cfg.halving_interval = 50;
    cfg.era_start = 2019, cfg.era_end = 2024.3;
    cfg.privacy_rate = 0.25;
    util_err err = {0};
    CHECK(gen_run(&cfg, NULL, &err) == 0);

    /* Built in three steps, the second and third incremental. */
    cluster_result r;
    CHECK(import_blocks(db, chain, 120) == 0);
    CHECK(build(db, 0, &r) == 0 && r.mode == 2);
    CHECK(import_blocks(db, chain, 40) == 0);
    CHECK(build(db, 0, &r) == 0 && r.mode == 1 && r.txs_done > 0);
    uint64_t before = r.txs;
    CHECK(import_blocks(db, chain, 0) == 0);
    CHECK(build(db, 0, &r) == 0 && r.mode == 1 && r.txs_done == r.txs - before);
    CHECK(build(db, 0, &r) == 0 && r.mode == 0 && r.txs_done == 0);
    uint64_t excluded = 0;
    for (int k = 0; k < CLUSTER_CJ_NKINDS; k++)
        excluded += cluster_cj_excludes(k) ? r.coinjoins[k] : 0;
    CHECK(excluded > 0 && r.coinjoins[CLUSTER_CJ_WHIRLPOOL] > 0);

    /* From scratch in another store: the same map. */
    CHECK(import_blocks(db2, chain, 0) == 0);
    CHECK(build(db2, 0, &r) == 0 && r.mode == 2);
    uint32_t n1 = 0, n2 = 0;
    uint32_t *m1 = load_map(db, &n1), *m2 = load_map(db2, &n2);
    CHECK(m1 && m2 && n1 == n2 && n1 > 0 && !memcmp(m1, m2, (size_t)n1 * 4));

    /* Every tx's inputs: one entity unless a CoinJoin; entity = smallest member. */
    store *s;
    cluster_map *m;
    CHECK(store_open(&s, db, 0, &err) == 0);
    CHECK(cluster_open(&m, s, db, &err) == 0);
    uint64_t joined_txs = 0, split_cj = 0, bad = 0;
    for (uint64_t t = 0; t < cluster_map_txs(m); t++) {
        store_tx_row row;
        store_tx(s, t, &row);
        if (row.flags & STORE_TX_COINBASE) continue;
        uint32_t e0 = CLUSTER_NO_ENTITY;
        int split = 0;
        for (uint32_t i = 0; i < store_tx_n_in(s, t); i++) {
            uint32_t a = store_out_addr(s, store_in_prev(s, row.first_in + i));
            if (a == STORE_NO_ADDR) continue;
            uint32_t e = cluster_entity_of(m, a);
            if (e0 == CLUSTER_NO_ENTITY)
                e0 = e;
            else if (e != e0)
                split = 1;
        }
        int kind = cluster_tx_kind(m, t);
        if (cluster_cj_excludes(kind))
            split_cj += split;
        else
            bad += split, joined_txs++;
    }
    CHECK(bad == 0 && joined_txs > 1000);
    CHECK(split_cj > 0); /* CoinJoins really are left apart */
    for (uint32_t i = 0; i < n1; i++) {
        if (m1[i] > i || m1[m1[i]] != m1[i]) {
            CHECK(!"entity id is not the smallest member");
            break;
        }
    }
    json_t *doc = NULL;
    CHECK(cluster_entity_json(m, s, "0", 0, 5, &doc, &err) == 0);
    CHECK(doc && json_integer_value(json_object_get(doc, "entity")) == 0 &&
          json_array_size(json_object_get(doc, "addresses")) <= 5);
    json_decref(doc);
    CHECK(cluster_entity_json(m, s, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 0, 5, &doc, &err) ==
          UTIL_ENOTFOUND);
    CHECK(cluster_entity_json(m, s, "nonsense", 0, 5, &doc, &err) == UTIL_EINVAL);
    /* Typed entities: of address 0, of the largest entity, and of an address a CoinJoin paid. */
    uint32_t big = 0;
    for (uint32_t i = 0; i < cluster_map_addresses(m); i++)
        if (cluster_entity_size(m, cluster_entity_of(m, i)) > cluster_entity_size(m, big)) big = i;
    CHECK(cluster_entity_size(m, cluster_entity_of(m, big)) > 5);
    check_entity(m, s, 0);
    check_entity(m, s, big);
    uint32_t paid = STORE_NO_ADDR;
    for (uint64_t t = 0; t < cluster_map_txs(m) && paid == STORE_NO_ADDR; t++)
        if (cluster_cj_excludes(cluster_tx_kind(m, t)))
            paid = store_out_addr(s, store_tx_first_out(s, t));
    CHECK(paid != STORE_NO_ADDR && check_entity(m, s, paid) > 0);
    cluster_close(m);

    /* Detectors against the truth: no false positive among the excluding kinds, and
     * Whirlpool found completely. */
    cluster_opts eo;
    cluster_default_opts(&eo);
    CHECK(cluster_evaluate(s, truth, &eo, &doc, &err) == 0);
    json_t *det = json_object_get(doc, "detectors");
    CHECK(json_real_value(json_object_get(json_object_get(det, "any_coinjoin"), "precision")) ==
          1.0);
    CHECK(json_real_value(json_object_get(json_object_get(det, "any_coinjoin"), "recall")) > 0.95);
    CHECK(json_real_value(json_object_get(json_object_get(det, "whirlpool"), "recall")) == 1.0);
    json_t *base = json_object_get(doc, "clustering");
    CHECK(json_real_value(json_object_get(base, "purity")) > 0.98);
    CHECK(json_real_value(json_object_get(json_object_get(doc, "pairwise"), "precision")) > 0.99);
    json_decref(doc);
    store_close(s);

    /* Other heuristics rebuild; a damaged state file is refused and rebuilt. */
    CHECK(build(db, CLUSTER_H_ROUND, &r) == 0 && r.mode == 2 && r.change_links > 0);
    char path[700];
    snprintf(path, sizeof path, "%s/cluster.state", db);
    FILE *f = fopen(path, "r+");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 20, SEEK_SET);
        fputc('#', f);
        fclose(f);
    }
    CHECK(store_open(&s, db, 0, &err) == 0);
    CHECK(cluster_open(&m, s, db, &err) == UTIL_ECORRUPT);
    store_close(s);
    CHECK(build(db, 0, &r) == 0 && r.mode == 2);
    free(m1);
    free(m2);
}

int main(void)
{
    test_uf();
    test_guards();
    test_names();
    char tmp[] = "/tmp/test_cluster.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_saved(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return CHECK_DONE();
}
