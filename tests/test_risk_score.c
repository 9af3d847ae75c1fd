/* Risk scores from the typed screening result (risk_result), checked against values computed
 * here by hand from the rules: a direct label adds weight x confidence / 100, an indirect
 * category weight x min(1, share / full_exposure_share) x hop_decay^(hops - 1); the score is
 * the largest, capped at 100, to a tenth. The engine needs a store, so this screens the
 * scenario txs and addresses of a small generated chain under rules set here (weights not the
 * defaults), and checks every contribution, the score and level, and that the JSON writer
 * reports the same score and one reason per positive contribution. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btc/btc.h"
#include "check.h"
#include "fixture.h"
#include "gen/gen.h"
#include "ingest/ingest.h"
#include "labels/labels.h"
#include "risk/risk.h"
#include "store/store.h"
#include "trace/trace.h"

/* The rules of this test, written out again rather than read back from the config. */
static double W(const char *cat)
{
    static const struct {
        const char *c;
        double w;
    } t[] = {{"exchange", 3}, {"otc", 40},        {"bridge", 12}, {"swap", 7},
             {"mixer", 70},   {"sanctioned", 95}, {"theft", 90},  {"miner", 1}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(t[i].c, cat)) return t[i].w;
    return 11; /* default_weight */
}
#define DECAY 0.5
#define FULL 0.25

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1 + fabs(b));
}

static int n_direct, n_indirect, n_multi_hop, n_capped_share, n_results;

static void check_result(const risk_ctx *r, const risk_result *res)
{
    n_results++;
    double best = 0;
    for (size_t i = 0; i < res->n_contrib; i++) {
        const risk_contribution *c = &res->contrib[i];
        double want;
        if (c->basis == RISK_BY_ADDRESS_LABEL || c->basis == RISK_BY_ENTITY_LABEL) {
            want = W(c->label->category) * c->label->confidence / 100.0;
            n_direct++;
        } else {
            const risk_side *side = &res->side[c->basis == RISK_BY_INCOMING ? 0 : 1];
            CHECK(c->exposure < side->n_cat);
            if (c->exposure >= side->n_cat) continue;
            const risk_exposure *e = &side->cat[c->exposure];
            double share = (double)e->amount / (double)side->seeded;
            CHECK(near(e->share, share));
            double f = share / FULL < 1 ? share / FULL : 1;
            if (share >= FULL) n_capped_share++;
            double d = 1;
            for (uint32_t h = 1; h < e->hops; h++)
                d *= DECAY;
            if (e->hops > 1) n_multi_hop++;
            want = W(e->category) * f * d;
            n_indirect++;
        }
        CHECK(near(c->score, want));
        if (!near(c->score, want))
            fprintf(stderr, "basis %d: score %.12g, by hand %.12g\n", c->basis, c->score, want);
        if (want > best) best = want;
    }
    double score = round((best > 100 ? 100 : best) * 10) / 10;
    CHECK(res->score == score);
    risk_level lv = score >= 80   ? RISK_SEVERE
                    : score >= 50 ? RISK_HIGH
                    : score >= 20 ? RISK_MEDIUM
                    : score > 0   ? RISK_LOW
                                  : RISK_NONE;
    CHECK(res->level == lv);
    /* the writer reports the typed numbers */
    json_t *doc = NULL;
    util_err err = {0};
    CHECK(risk_result_json(r, res, &doc, &err) == 0);
    json_t *risk = json_object_get(doc, "risk");
    CHECK(json_real_value(json_object_get(risk, "score")) == res->score);
    CHECK_STR(json_string_value(json_object_get(risk, "level")), risk_level_name(lv));
    size_t positive = 0;
    for (size_t i = 0; i < res->n_contrib; i++)
        positive += res->contrib[i].score > 0;
    CHECK(json_array_size(json_object_get(risk, "reasons")) == positive);
    json_decref(doc);
}

static void test_scores(const char *tmp)
{
    char chain[512], db[512], path[600];
    snprintf(chain, sizeof chain, "%s/chain", tmp);
    snprintf(db, sizeof db, "%s/db", tmp);
    gen_config cfg;
    gen_config_init(&cfg);
    cfg.out_dir = chain;
    cfg.seed = 9;
    cfg.blocks = 200;
    cfg.txs_per_block = 50;
    cfg.users = 300;
    cfg.maturity = 5;
    cfg.halving_interval = 50;
    cfg.era_start = 2019, cfg.era_end = 2024.3;
    cfg.scenarios = 3;
    util_err err = {0};
    CHECK(gen_run(&cfg, NULL, &err) == 0);
    CHECK(fixture_import(db, chain) == 0);
    store *s = NULL;
    labels_db *labels = NULL;
    CHECK(store_open(&s, db, 0, &err) == 0);
    CHECK(labels_db_open(&labels, db, 0, &err) == 0);
    if (!s || !labels) return;
    labels_import_opts lo = {0};
    snprintf(path, sizeof path, "%s/labels.csv", chain);
    CHECK(labels_import_file(labels, path, &lo, NULL, &err) == 0);

    /* the rules: written as a file, as an exchange would */
    snprintf(path, sizeof path, "%s/rules.json", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f,
            "{\"hop_decay\": %g, \"full_exposure_share\": %g, \"default_weight\": 11, "
            "\"categories\": {\"exchange\": 3, \"otc\": 40, \"bridge\": 12, \"swap\": 7, "
            "\"mixer\": 70, \"sanctioned\": 95, \"theft\": 90, \"miner\": 1}}",
            DECAY, FULL);
    fclose(f);
    risk_config rc;
    risk_config_default(&rc);
    CHECK(risk_config_load(&rc, path, &err) == 0);
    risk_ctx *r = NULL;
    CHECK(risk_ctx_new(&r, s, labels, NULL, &rc, &err) == 0);
    if (!r) return;

    /* the scenario txs and the addresses they touch, at 1, 3 and 10 hops */
    snprintf(path, sizeof path, "%s/truth.jsonl", chain);
    f = fopen(path, "r");
    CHECK(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        if (!strstr(line, "\"kind\":\"scenario\"")) continue;
        json_t *sc = json_loads(line, 0, NULL);
        size_t i;
        json_t *st;
        json_array_foreach(json_object_get(sc, "steps"), i, st)
        {
            if (i >= 12) break;
            const char *txid = json_string_value(json_object_get(st, "txid"));
            for (uint32_t hops = 1; hops <= 10; hops += hops == 1 ? 2 : 7) {
                risk_opts o = {hops, 0};
                risk_result res;
                CHECK(risk_screen_tx_result(r, txid, &o, &res, &err) == 0);
                check_result(r, &res);
                /* the addresses of its outputs */
                for (uint32_t j = 0; j < store_tx_n_out(s, res.tx) && j < 3; j++) {
                    uint32_t a = store_out_addr(s, store_tx(s, res.tx)->first_out + j);
                    if (a == STORE_NO_ADDR) continue;
                    char canon[128];
                    btc_addr_encode(canon, store_addr(s, a));
                    risk_result ra;
                    CHECK(risk_screen_address_result(r, canon, &o, &ra, &err) == 0);
                    check_result(r, &ra);
                    risk_result_free(&ra);
                }
                risk_result_free(&res);
            }
        }
        json_decref(sc);
    }
    free(line);
    if (f) fclose(f);
    /* labelled addresses themselves: direct exposure */
    for (size_t i = 0; i < labels_db_count(labels) && i < 400; i += 7) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, "btc")) continue;
        risk_result ra;
        risk_opts o = {2, 0};
        CHECK(risk_screen_address_result(r, l->address, &o, &ra, &err) == 0);
        check_result(r, &ra);
        risk_result_free(&ra);
    }
    /* the test reached every kind of rule */
    printf("%d results, %d direct, %d indirect (%d beyond 1 hop, %d at full share)\n", n_results,
           n_direct, n_indirect, n_multi_hop, n_capped_share);
    CHECK(n_direct > 10 && n_indirect > 10 && n_multi_hop > 5 && n_capped_share > 0);

    risk_ctx_free(r);
    labels_db_close(labels);
    store_close(s);
}

int main(void)
{
    char tmp[] = "/tmp/test_risk_score.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_scores(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return CHECK_DONE();
}
