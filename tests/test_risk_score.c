/* Risk scores from the typed screening result (risk_result), checked against values computed
 * here by hand from the rules: a direct label adds weight x confidence / 100, an indirect
 * category weight x curve(share) x hop_decay^(hops - 1), where curve is the straight lines
 * through (0, 0), (level share, threshold / 100) per level and (full_exposure_share, 1), and the
 * share counts every category of the side weighed at least as much (cumulative_share); the
 * score is the largest, capped at 100, to a tenth. The engine needs a store, so this screens
 * the scenario txs and addresses of a small generated chain under rules set here (weights not
 * the defaults), and checks every contribution, the score and level, and that the JSON writer
 * reports the same score and one reason per positive contribution.
 *
 * The rules file's semantics on their own: the built-in share curve at its points and between,
 * a deposit all stolen is severe whatever its distance under the defaults, a file of the
 * format before level_shares (full_exposure_share alone) keeps its straight line, and bad
 * level shares are refused naming the file and key. */
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
#define FULL 0.6
/* the level shares of this test's rules: medium, high, severe */
static const double SH[3] = {0.01, 0.05, 0.3};

/* The share curve of this test's rules (thresholds 20, 50, 80), segment by segment. */
static double curve(double s)
{
    if (s >= FULL) return 1;
    if (s >= SH[2]) return 0.8 + 0.2 * (s - SH[2]) / (FULL - SH[2]);
    if (s >= SH[1]) return 0.5 + 0.3 * (s - SH[1]) / (SH[2] - SH[1]);
    if (s >= SH[0]) return 0.2 + 0.3 * (s - SH[0]) / (SH[1] - SH[0]);
    return 0.2 * s / SH[0];
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1 + fabs(b));
}

static int n_direct, n_indirect, n_multi_hop, n_capped_share, n_cumulative, n_results;

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
            double used = 0;
            for (size_t k = 0; k < side->n_cat; k++)
                if (W(side->cat[k].category) >= W(e->category))
                    used += (double)side->cat[k].amount / (double)side->seeded;
            CHECK(near(c->share_used, used));
            if (used > share * 1.001) n_cumulative++;
            double f = curve(used);
            CHECK(near(c->share_factor, f));
            if (used >= FULL) n_capped_share++;
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
            "\"level_shares\": {\"medium\": %g, \"high\": %g, \"severe\": %g}, "
            "\"categories\": {\"exchange\": 3, \"otc\": 40, \"bridge\": 12, \"swap\": 7, "
            "\"mixer\": 70, \"sanctioned\": 95, \"theft\": 90, \"miner\": 1}}",
            DECAY, FULL, SH[0], SH[1], SH[2]);
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
                    uint32_t a = store_out_addr(s, store_tx_first_out(s, res.tx) + j);
                    if (a == STORE_NO_ADDR) continue;
                    char canon[128];
                    store_addr_text(s, a, canon);
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
    printf("%d results, %d direct, %d indirect (%d beyond 1 hop, %d at full share, %d with "
           "heavier categories added)\n",
           n_results, n_direct, n_indirect, n_multi_hop, n_capped_share, n_cumulative);
    CHECK(n_direct > 10 && n_indirect > 10 && n_multi_hop > 5 && n_capped_share > 0 &&
          n_cumulative > 0);

    risk_ctx_free(r);
    labels_db_close(labels);
    store_close(s);
}

static int write_rules(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_rules(const char *tmp)
{
    char path[600];
    snprintf(path, sizeof path, "%s/r.json", tmp);
    util_err err = {0};
    risk_config c;
    risk_config_default(&c);
    /* the built-in curve: its points (20, 50, 80 at 5 %, 20 %, 50 %; 100 at all) and between */
    const double pts[][2] = {{0, 0},     {0.025, 0.1}, {0.05, 0.2}, {0.125, 0.35},
                             {0.2, 0.5}, {0.35, 0.65}, {0.5, 0.8},  {0.75, 0.9},
                             {1, 1},     {1e-6, 4e-6}, {-1, 0}};
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++) {
        CHECK(near(risk_share_factor(&c, pts[i][0]), pts[i][1]));
        if (!near(risk_share_factor(&c, pts[i][0]), pts[i][1]))
            fprintf(stderr, "share %g: %.12g, by hand %g\n", pts[i][0],
                    risk_share_factor(&c, pts[i][0]), pts[i][1]);
    }
    /* distance alone is no risk: a deposit all stolen, 30 txs away, is severe under the
     * defaults; diluted to 5 % it is medium, to 1 % low */
    CHECK(c.hop_decay == 1 && c.cumulative_share == 1);
    double far = risk_weight(&c, "theft") * risk_share_factor(&c, 1) * pow(c.hop_decay, 29);
    CHECK(far >= c.thresholds[2]);
    double diluted = risk_weight(&c, "theft") * risk_share_factor(&c, 0.05);
    CHECK(diluted >= c.thresholds[0] && diluted < c.thresholds[1]);
    CHECK(risk_weight(&c, "theft") * risk_share_factor(&c, 0.01) < c.thresholds[0]);
    /* a mixer all the way is high, never severe; sanctioned severe from half */
    CHECK(risk_weight(&c, "mixer") * risk_share_factor(&c, 1) < c.thresholds[2]);
    CHECK(risk_weight(&c, "mixer") * risk_share_factor(&c, 1) >= c.thresholds[1]);
    CHECK(risk_weight(&c, "sanctioned") * risk_share_factor(&c, 0.5) >= c.thresholds[2]);

    /* the format before level_shares: full_exposure_share alone is the old straight line */
    CHECK(write_rules(path, "{\"full_exposure_share\": 0.25, \"hop_decay\": 0.8}") == 0);
    risk_config_default(&c);
    CHECK(risk_config_load(&c, path, &err) == 0);
    for (double sh = 0.005; sh < 0.4; sh += 0.0125) {
        double old = sh / 0.25 < 1 ? sh / 0.25 : 1;
        CHECK(near(risk_share_factor(&c, sh), old));
    }
    CHECK(c.hop_decay == 0.8);
    /* ... with other thresholds too */
    CHECK(write_rules(path, "{\"thresholds\": {\"medium\": 30, \"high\": 60, \"severe\": 90}, "
                            "\"full_exposure_share\": 0.1}") == 0);
    risk_config_default(&c);
    CHECK(risk_config_load(&c, path, &err) == 0);
    for (double sh = 0.001; sh < 0.2; sh += 0.003) {
        double old = sh / 0.1 < 1 ? sh / 0.1 : 1;
        CHECK(near(risk_share_factor(&c, sh), old));
    }
    /* level shares given: keys left out keep theirs */
    CHECK(write_rules(path, "{\"level_shares\": {\"severe\": 0.6}}") == 0);
    risk_config_default(&c);
    CHECK(risk_config_load(&c, path, &err) == 0);
    CHECK(c.level_shares[0] == 0.05 && c.level_shares[1] == 0.2 && c.level_shares[2] == 0.6);
    CHECK(near(risk_share_factor(&c, 0.8), 0.9));
    /* a step where two levels share a point */
    CHECK(write_rules(path,
                      "{\"level_shares\": {\"medium\": 0.02, \"high\": 0.02, \"severe\": "
                      "0.2}, \"full_exposure_share\": 0.4, \"cumulative_share\": false}") == 0);
    risk_config_default(&c);
    CHECK(risk_config_load(&c, path, &err) == 0);
    CHECK(c.level_shares[0] == 0.02 && c.level_shares[1] == 0.02 && c.cumulative_share == 0);
    CHECK(near(risk_share_factor(&c, 0.01), 0.1));
    CHECK(near(risk_share_factor(&c, 0.02), 0.5));
    CHECK(near(risk_share_factor(&c, 0.11), 0.65));
    CHECK(near(risk_share_factor(&c, 0.3), 0.9));
    CHECK(near(risk_share_factor(&c, 0.4), 1));
    /* the rules as JSON read back give the same rules */
    json_t *j = risk_config_json(&c);
    CHECK(j && json_dump_file(j, path, 0) == 0);
    json_decref(j);
    risk_config back;
    risk_config_default(&back);
    CHECK(risk_config_load(&back, path, &err) == 0);
    CHECK(!memcmp(back.level_shares, c.level_shares, sizeof c.level_shares) &&
          back.full_exposure_share == c.full_exposure_share &&
          back.cumulative_share == c.cumulative_share);
    /* refused, naming the file and the key */
    static const struct {
        const char *text, *key;
    } bad[] = {
        {"{\"level_shares\": {\"severe\": 0.9}, \"full_exposure_share\": 0.5}", "level_shares"},
        {"{\"level_shares\": {\"medium\": 0.2, \"high\": 0.1}}", "level_shares"},
        {"{\"level_shares\": {\"extreme\": 0.2}}", "level_shares.extreme"},
        {"{\"level_shares\": {\"medium\": -0.1}}", "level_shares.medium"},
        {"{\"level_shares\": {\"medium\": \"2%\"}}", "level_shares.medium"},
        {"{\"level_shares\": [0.1]}", "level_shares"},
        {"{\"cumulative_share\": 1}", "cumulative_share"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(write_rules(path, bad[i].text) == 0);
        risk_config_default(&c);
        util_err e2 = {0};
        CHECK(risk_config_load(&c, path, &e2) == UTIL_EFORMAT);
        CHECK(strstr(e2.msg, path) && strstr(e2.msg, bad[i].key));
        if (!strstr(e2.msg, bad[i].key)) fprintf(stderr, "%s: %s\n", bad[i].text, e2.msg);
    }
}

int main(void)
{
    char tmp[] = "/tmp/test_risk_score.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_rules(tmp);
    test_scores(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return CHECK_DONE();
}
