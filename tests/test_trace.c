/* test_trace: the tracer's accounting on a generated chain. Every scenario's stolen outputs
 * are traced forward and backward under each policy: the totals balance exactly, every
 * followed tx conserves taint (in + added = out + fee), the edges into and out of each tx add
 * up to its taint, endpoints sum to to_endpoints; haircut and FIFO add nothing, poison's
 * outputs are fully tainted. Also: seed SPEC errors, bad options, the output cap (partial). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "gen/gen.h"
#include "ingest/ingest.h"
#include "labels/labels.h"
#include "store/store.h"
#include "trace/trace.h"

static uint64_t jint(json_t *o, const char *k)
{
    return (uint64_t)json_integer_value(json_object_get(o, k));
}

static const char *const buckets[] = {
    "to_endpoints", "unspent",    "fees",     "below_min_value", "beyond_hops",
    "beyond_until", "unresolved", "coinbase", "overlap",         "not_followed"};

/* The typed result of the same trace agrees with its document and with itself: the totals
 * balance, endpoints and categories sum to to_endpoints, edge and path indices are in range,
 * every followed tx conserves taint. */
static void check_result(const store *s, const labels_db *labels, const trace_seeds *seeds,
                         const trace_opts *o, json_t *d)
{
    trace_result r;
    util_err err = {0};
    CHECK(trace_compute(s, labels, NULL, seeds, o, &r, &err) == 0);
    json_t *t = json_object_get(d, "totals");
    CHECK(r.totals.balanced && r.totals.seeded == jint(t, "seeded") &&
          r.totals.to_endpoints == jint(t, "to_endpoints") &&
          r.totals.not_followed == jint(t, "not_followed"));
    CHECK(r.n_seeds == seeds->n && r.n_edges == r.outputs_visited &&
          r.n_endpoints == json_array_size(json_object_get(d, "endpoints")) &&
          r.n_txs == json_array_size(json_object_get(d, "txs")) &&
          r.n_flows == json_array_size(json_object_get(json_object_get(d, "graph"), "edges")));
    uint64_t ep = 0, cat = 0;
    for (size_t i = 0; i < r.n_endpoints; i++) {
        ep += r.endpoints[i].amount;
        CHECK(r.endpoints[i].labels_n >= 1);
        for (size_t k = 0; k < r.endpoints[i].path_len; k++)
            CHECK(r.endpoints[i].path[k] < r.n_txs);
        if (i) CHECK(r.endpoints[i - 1].amount >= r.endpoints[i].amount);
    }
    for (size_t i = 0; i < r.n_categories; i++)
        cat += r.by_category[i].amount;
    CHECK(ep == r.totals.to_endpoints && cat == ep);
    for (size_t i = 0; i < r.n_edges; i++)
        CHECK((r.edges[i].from_tx == TRACE_NONE || r.edges[i].from_tx < r.n_txs) &&
              (r.edges[i].to_tx == TRACE_NONE) == (r.edges[i].fate != TRACE_FATE_FOLLOWED));
    for (size_t i = 0; i < r.n_txs; i++)
        if (r.txs[i].status == TRACE_TX_FOLLOWED)
            CHECK(r.txs[i].taint_in + r.txs[i].added == r.txs[i].taint_out + r.txs[i].fee);
    /* the cut: one entry per limit that stopped taint (and the budget when reached), with its
     * bucket's amount and the txs (outputs for min_value) it stopped at; the same in the
     * document */
    const uint64_t amount[TAINT_N_CUTS] = {r.totals.beyond_hops, r.totals.beyond_until,
                                           r.totals.below_min_value, r.totals.not_followed};
    uint64_t count[TAINT_N_CUTS] = {0};
    for (size_t i = 0; i < r.n_txs; i++) {
        count[TAINT_CUT_HOPS] += r.txs[i].status == TRACE_TX_BEYOND_HOPS;
        count[TAINT_CUT_UNTIL] += r.txs[i].status == TRACE_TX_BEYOND_UNTIL;
        count[TAINT_CUT_BUDGET] += r.txs[i].status == TRACE_TX_NOT_FOLLOWED;
    }
    for (size_t i = 0; i < r.n_edges; i++)
        count[TAINT_CUT_MIN_VALUE] += r.edges[i].fate == TRACE_FATE_BELOW_MIN_VALUE;
    size_t want = 0;
    json_t *jc = json_object_get(d, "cut");
    for (int k = 0; k < TAINT_N_CUTS; k++) {
        if (!amount[k] && !(k == TAINT_CUT_BUDGET && r.partial)) continue;
        const taint_cut *c = want < r.n_cut ? &r.cut[want] : NULL;
        json_t *j = json_array_get(jc, want++);
        CHECK(c && c->kind == k && c->amount.w[0] == amount[k] && c->count == count[k]);
        CHECK(j && jint(j, "amount") == amount[k] &&
              !strcmp(json_string_value(json_object_get(j, "limit")),
                      taint_cut_limit(k, TAINT_MODEL_UTXO)) &&
              json_string_value(json_object_get(j, "lift")));
    }
    CHECK(r.n_cut == want && json_array_size(jc) == want);
    CHECK(r.opts.hops == TRACE_NO_HOP_LIMIT
              ? json_is_null(json_object_get(json_object_get(d, "limits"), "hops"))
              : jint(json_object_get(d, "limits"), "hops") == r.opts.hops);
    trace_result_free(&r);
    CHECK(r.endpoints == NULL && r.n_endpoints == 0);
}

/* Accounting checks on one trace document. */
static void check_doc(json_t *d, int policy, int forward)
{
    json_t *t = json_object_get(d, "totals");
    uint64_t sinks = 0;
    for (size_t i = 0; i < sizeof buckets / sizeof *buckets; i++)
        sinks += jint(t, buckets[i]);
    CHECK(jint(t, "seeded") + jint(t, "poison_added") == sinks);
    CHECK(json_is_true(json_object_get(t, "balanced")));
    if (policy != TRACE_POISON) CHECK(jint(t, "poison_added") == 0);
    if (!forward) CHECK(jint(t, "fees") == 0 && jint(t, "unspent") == 0);
    json_t *ein = json_object(), *eout = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(d, "edges"), i, e)
    {
        const char *to = json_string_value(json_object_get(e, "to_tx"));
        const char *from = json_string_value(json_object_get(e, "from_tx"));
        uint64_t v = jint(e, "value");
        CHECK(v > 0);
        if (to) json_object_set_new(ein, to, json_integer((json_int_t)(jint(ein, to) + v)));
        if (from) json_object_set_new(eout, from, json_integer((json_int_t)(jint(eout, from) + v)));
    }
    json_t *x;
    size_t bad = 0;
    json_array_foreach(json_object_get(d, "txs"), i, x)
    {
        const char *id = json_string_value(json_object_get(x, "txid"));
        if (jint(x, "taint_in") != jint(ein, id)) bad++;
        if (strcmp(json_string_value(json_object_get(x, "status")), "followed")) continue;
        if (jint(x, "taint_in") + jint(x, "added") != jint(x, "taint_out") + jint(x, "fee")) bad++;
        if (jint(x, "taint_out") != jint(eout, id)) bad++;
        if (policy != TRACE_POISON && jint(x, "added")) bad++;
    }
    CHECK(bad == 0);
    uint64_t eps = 0;
    json_array_foreach(json_object_get(d, "endpoints"), i, e) eps += jint(e, "amount");
    CHECK(eps == jint(t, "to_endpoints"));
    /* every followed tx and every edge carries its pattern list */
    size_t no_patterns = 0;
    json_array_foreach(json_object_get(d, "txs"), i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "status")), "followed") &&
            !json_is_array(json_object_get(x, "patterns")))
            no_patterns++;
    }
    json_array_foreach(json_object_get(d, "edges"), i, e)
    {
        if (!json_is_array(json_object_get(e, "patterns"))) no_patterns++;
    }
    CHECK(no_patterns == 0);
    /* the graph: its edges carry exactly the taint the followed txs passed on; node totals
     * are the sums of their edges; seeds and endpoint arrivals are all on nodes */
    json_t *g = json_object_get(d, "graph");
    uint64_t passed = 0, gsum = 0, seeded = 0, toep = 0;
    json_array_foreach(json_object_get(d, "txs"), i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "status")), "followed"))
            passed += jint(x, "taint_out");
    }
    json_t *rcv = json_object(), *snt = json_object();
    json_array_foreach(json_object_get(g, "edges"), i, e)
    {
        const char *a = json_string_value(json_object_get(e, "from"));
        const char *b = json_string_value(json_object_get(e, "to"));
        uint64_t v = jint(e, "value");
        gsum += v;
        if (a) json_object_set_new(snt, a, json_integer((json_int_t)(jint(snt, a) + v)));
        if (b) json_object_set_new(rcv, b, json_integer((json_int_t)(jint(rcv, b) + v)));
    }
    size_t bad_nodes = 0;
    json_array_foreach(json_object_get(g, "nodes"), i, x)
    {
        const char *id = json_string_value(json_object_get(x, "id"));
        if (!id || jint(x, "received") != jint(rcv, id) || jint(x, "sent") != jint(snt, id))
            bad_nodes++;
        seeded += jint(x, "seeded");
        toep += jint(x, "to_endpoint");
    }
    CHECK(gsum == passed);
    CHECK(bad_nodes == 0);
    CHECK(seeded == jint(t, "seeded"));
    CHECK(toep == jint(t, "to_endpoints"));
    json_decref(rcv);
    json_decref(snt);
    json_decref(ein);
    json_decref(eout);
}

/* --until as a time, against a linear scan of the running maximum of block times. */
static void test_until(const store *s)
{
    uint64_t nb = store_get_totals(s)->blocks;
    util_err err = {0};
    int64_t h, t;
    size_t wrong = 0, n = 0;
    for (uint64_t b = 0; b < nb; b += 7)
        for (int d = -1; d <= 1; d++) {
            int64_t T = (int64_t)store_block(s, b)->time + d;
            int64_t fwd = -1, back = -1;
            uint32_t m = 0;
            for (uint64_t k = 0; k < nb; k++) {
                uint32_t bt = store_block(s, k)->time;
                m = bt > m ? bt : m;
                if (m <= T) fwd = (int64_t)k;
                if (m >= T && back < 0) back = (int64_t)k;
            }
            char arg[32];
            snprintf(arg, sizeof arg, "@%lld", (long long)T);
            for (int dir = 0; dir < 2; dir++) {
                int64_t want = dir == TRACE_FORWARD ? fwd : back;
                int rc = trace_until_parse(s, arg, dir, &h, &t, &err);
                n++;
                if (want < 0 ? rc != UTIL_ENOTFOUND : rc || h != want || t != T) wrong++;
            }
        }
    CHECK(n > 50 && wrong == 0);
    CHECK(trace_until_parse(s, "17", TRACE_FORWARD, &h, &t, &err) == 0 && h == 17 && t == -1);
    CHECK(trace_until_parse(s, "2020-02-30", TRACE_FORWARD, &h, &t, &err) == UTIL_EINVAL);
    CHECK(trace_until_parse(s, "2020-02-29T00:00:60Z", TRACE_FORWARD, &h, &t, &err) == UTIL_EINVAL);
    CHECK(trace_until_parse(s, "1970-01-02", TRACE_FORWARD, &h, &t, &err) == UTIL_ENOTFOUND &&
          strstr(err.msg, "before the first block"));
    CHECK(trace_until_parse(s, "2100-01-01T00:00Z", TRACE_BACKWARD, &h, &t, &err) ==
          UTIL_ENOTFOUND);
    CHECK(trace_until_parse(s, "2100-01-01T00:00Z", TRACE_FORWARD, &h, &t, &err) == 0 &&
          h == (int64_t)nb - 1 && t == 4102444800);
}

static void test_chain(const char *tmp)
{
    char chain[512], db[512], path[600];
    snprintf(chain, sizeof chain, "%s/chain", tmp);
    snprintf(db, sizeof db, "%s/db", tmp);
    gen_config cfg;
    gen_config_init(&cfg);
    cfg.out_dir = chain;
    cfg.seed = 5;
    cfg.blocks = 250;
    cfg.txs_per_block = 60;
    cfg.users = 300;
    cfg.maturity = 5;
    cfg.halving_interval = 50;
    cfg.era_start = 2019, cfg.era_end = 2024.3;
    cfg.privacy_rate = 0.25;
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

    /* the scenarios' sources */
    snprintf(path, sizeof path, "%s/truth.jsonl", chain);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    int traced = 0, endpoints_seen = 0;
    while (f && getline(&line, &cap, f) > 0) {
        if (!strstr(line, "\"kind\":\"scenario\"")) continue;
        json_t *sc = json_loads(line, 0, NULL);
        if (!sc || !jint(sc, "stolen")) {
            json_decref(sc);
            continue;
        }
        trace_seeds seeds = {0};
        size_t i;
        json_t *src;
        json_array_foreach(json_object_get(sc, "sources"), i, src)
            CHECK(trace_add_spec(&seeds, s, json_string_value(src), &err) == 0);
        for (int dir = 0; dir < 2; dir++)
            for (int p = 0; p < 3; p++) {
                trace_opts o;
                trace_default_opts(&o);
                o.policy = p;
                o.direction = dir;
                /* an explicit limit, far or near, and the default (none) */
                o.hops = p == TRACE_POISON ? 40 : p == TRACE_HAIRCUT ? TRACE_NO_HOP_LIMIT : 3;
                json_t *d = NULL;
                CHECK(trace_run(s, labels, NULL, &seeds, &o, &d, &err) == 0);
                if (!d) continue;
                json_t *t = json_object_get(d, "totals");
                CHECK(jint(t, "seeded") == jint(sc, "stolen"));
                check_doc(d, p, dir == TRACE_FORWARD);
                check_result(s, labels, &seeds, &o, d);
                if (dir == TRACE_FORWARD && p != TRACE_POISON && jint(t, "to_endpoints"))
                    endpoints_seen++;
                traced++;
                json_decref(d);
            }
        /* the output cap gives a partial, still balanced result */
        trace_opts o;
        trace_default_opts(&o);
        o.policy = TRACE_POISON;
        o.max_outputs = 20;
        json_t *d = NULL;
        CHECK(trace_run(s, labels, NULL, &seeds, &o, &d, &err) == 0);
        if (d) {
            CHECK(json_is_true(json_object_get(d, "partial")));
            CHECK(jint(d, "outputs_visited") <= 20);
            check_doc(d, TRACE_POISON, 1);
            check_result(s, labels, &seeds, &o, d);
            json_decref(d);
        }
        /* a window that splits no tx: an empty graph, still a whole document */
        trace_default_opts(&o);
        o.until = 0;
        CHECK(trace_run(s, labels, NULL, &seeds, &o, &d, &err) == 0);
        if (d) {
            CHECK(jint(json_object_get(d, "totals"), "beyond_until") > 0);
            CHECK(json_array_size(json_object_get(json_object_get(d, "graph"), "edges")) == 0);
            check_doc(d, o.policy, 1);
            check_result(s, labels, &seeds, &o, d);
            json_decref(d);
        }
        /* bad options */
        o.max_outputs = 1000;
        o.hops = 0;
        CHECK(trace_run(s, labels, NULL, &seeds, &o, &d, &err) == UTIL_EINVAL);
        o.hops = TRACE_MAX_HOPS + 1;
        CHECK(trace_run(s, labels, NULL, &seeds, &o, &d, &err) == UTIL_EINVAL);
        /* seed specs */
        const char *txid = json_string_value(json_array_get(json_object_get(sc, "sources"), 0));
        char spec[128];
        snprintf(spec, sizeof spec, "%.64s:x", txid);
        CHECK(trace_add_spec(&seeds, s, spec, &err) == UTIL_EINVAL);
        snprintf(spec, sizeof spec, "%.64s:4000", txid);
        CHECK(trace_add_spec(&seeds, s, spec, &err) == UTIL_ENOTFOUND);
        size_t n = seeds.n;
        snprintf(spec, sizeof spec, "%.64s", txid);
        CHECK(trace_add_spec(&seeds, s, spec, &err) == 0 && seeds.n >= n); /* no duplicates */
        trace_seeds_free(&seeds);
        json_decref(sc);
    }
    free(line);
    if (f) fclose(f);
    CHECK(traced >= 6);
    CHECK(endpoints_seen > 0);

    trace_seeds seeds = {0};
    CHECK(trace_add_spec(&seeds, s,
                         "0000000000000000000000000000000000000000000000000000000000000001",
                         &err) == UTIL_ENOTFOUND);
    CHECK(trace_add_spec(&seeds, s, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &err) == UTIL_ENOTFOUND);
    CHECK(trace_add_spec(&seeds, s, "nonsense", &err) == UTIL_EINVAL);
    snprintf(path, sizeof path, "%s/seeds.txt", tmp);
    f = fopen(path, "w");
    if (f) {
        fputs("# comment\n\nnot-a-seed\n", f);
        fclose(f);
    }
    char at[620];
    snprintf(at, sizeof at, "@%s", path);
    /* The library reads no file a SPEC names (the CLI expands @FILE): "@PATH" is a malformed
     * SPEC, whether the file exists (its line 3 is not even looked at) or not. */
    CHECK(trace_add_spec(&seeds, s, at, &err) == UTIL_EINVAL && !strstr(err.msg, "seeds.txt:3") &&
          strstr(err.msg, "bad seed"));
    snprintf(at, sizeof at, "@%s/no-such-file", tmp);
    CHECK(trace_add_spec(&seeds, s, at, &err) == UTIL_EINVAL && !strstr(err.msg, "cannot open"));
    CHECK(trace_add_spec_entities(&seeds, s, NULL, at, &err) == UTIL_EINVAL);
    CHECK(seeds.n == 0);
    /* entity: refused by trace_add_spec; trace_add_spec_entities takes it and, without a
     * clustering, says so */
    CHECK(trace_add_spec(&seeds, s, "entity:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &err) ==
          UTIL_EINVAL);
    CHECK(trace_add_spec_entities(&seeds, s, NULL, "entity:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                                  &err) == UTIL_ENOTFOUND &&
          strstr(err.msg, "no clustering"));
    test_until(s);
    trace_opts o;
    trace_default_opts(&o);
    json_t *d = NULL;
    CHECK(trace_run(s, labels, NULL, &seeds, &o, &d, &err) == UTIL_EINVAL); /* no seeds */
    trace_seeds_free(&seeds);
    CHECK(trace_policy_parse("fifo") == TRACE_FIFO && trace_policy_parse("x") == -1);
    CHECK(trace_direction_parse("backward") == TRACE_BACKWARD);
    labels_db_close(labels);
    store_close(s);
}

int main(void)
{
    char tmp[] = "/tmp/test_trace.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_chain(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return CHECK_DONE();
}
