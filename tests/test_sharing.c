/* sharing: name-based UUIDs against Python's uuid.uuid5 (RFC 9562's example namespace and
 * STIX's SCO namespace, values computed with python3 and json.dumps as RFC 8785 serialises),
 * amounts against Python's Decimal, the label query, the writers with transactions checked by
 * tests/sharing_check.py (OASIS and extension schemas, MISP templates), and a label with every
 * field through STIX and MISP and back through labels_import_file unchanged. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "labels/labels.h"
#include "sharing/sharing.h"

static char dir[64];

static void test_ids(void)
{
    static const uint8_t dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    char u[37], id[SHARING_SCO_ID];
    sharing_uuid5(u, dns, "python.org", 10); /* Python's documentation example */
    CHECK_STR(u, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    sharing_stix_wallet_id(id, "1KFHE7w8BhaENAswwryaoccDb6qcT6DbYY");
    CHECK_STR(id, "cryptocurrency-wallet--27fadc91-1e1c-5474-988f-07a16840be45");
    /* RFC 8785 escapes: quote, backslash, a control character as \u0001; UTF-8 as is */
    sharing_stix_wallet_id(id, "a\"b\\c\x01\xc3\xa9");
    CHECK_STR(id, "cryptocurrency-wallet--a03ab634-a3cc-5a60-a0e1-4275d86905a0");
    sharing_stix_tx_id(id, "BTC", "3FZbgi29cpjq2GjdwV8eyHuJJnkLtktZc5");
    CHECK_STR(id, "cryptocurrency-transaction--4175ade4-96dc-5ef3-9cc1-3597db264589");
    sharing_stix_tx_id(id, "ETH", "0xabc");
    CHECK_STR(id, "cryptocurrency-transaction--2698ad1b-3bd6-58ef-a5d9-f8585dcb97f2");
}

static void test_amounts(void)
{
    static const struct {
        const char *base;
        int decimals;
        const char *want;
    } t[] = {{"84000000", 8, "0.84"},
             {"0", 8, "0"},
             {"100000000", 8, "1"},
             {"1", 18, "0.000000000000000001"},
             {"123456789012345678901234567890", 18, "123456789012.34567890123456789"},
             {"00012", 2, "0.12"},
             {"12", 0, "12"},
             {"1000", 3, "1"}};
    char out[160];
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        CHECK(sharing_amount(out, sizeof out, t[i].base, t[i].decimals) == 0);
        CHECK_STR(out, t[i].want);
    }
    CHECK(sharing_amount(out, sizeof out, "1a", 8) == UTIL_EINVAL);
    CHECK(sharing_amount(out, sizeof out, "", 8) == UTIL_EINVAL);
    CHECK(sharing_amount(out, 3, "12345", 0) == UTIL_EINVAL);
    CHECK(sharing_chain_decimals("btc") == 8 && sharing_chain_decimals("eth") == 18);
    CHECK(sharing_chain_decimals("nope") == -1);
}

static void test_query(void)
{
    labels_filter f;
    util_err err;
    char q1[] = "category=theft&actor=Lazarus+Group&source=OFAC%20SDN%20%2334&chain=btc";
    CHECK(sharing_query_parse(q1, &f, &err) == 0);
    CHECK_STR(f.category, "theft");
    CHECK_STR(f.actor, "Lazarus Group");
    CHECK_STR(f.source, "OFAC SDN #34");
    CHECK_STR(f.chain, "btc");
    CHECK(!f.text);
    char q2[] = "ronin";
    CHECK(sharing_query_parse(q2, &f, &err) == 0 && f.text && !strcmp(f.text, "ronin"));
    char q3[] = "all";
    CHECK(sharing_query_parse(q3, &f, &err) == 0 && !f.text && !f.category);
    char q4[] = "colour=red";
    CHECK(sharing_query_parse(q4, &f, &err) == UTIL_EINVAL && strstr(err.msg, "colour"));
    char q5[] = "actor=a&actor=b";
    CHECK(sharing_query_parse(q5, &f, &err) == UTIL_EINVAL && strstr(err.msg, "twice"));
    char q6[] = "text=%4";
    CHECK(sharing_query_parse(q6, &f, &err) == UTIL_EINVAL);
    /* the filter's new fields match case-insensitively and exactly */
    labels_label l = {.chain = "btc",
                      .address = "1x",
                      .category = "theft",
                      .actor = "Lazarus Group",
                      .name = "",
                      .source = "S",
                      .url = "",
                      .programs = "",
                      .first_seen = "",
                      .last_seen = "",
                      .updated = "",
                      .confidence = 50};
    labels_filter a = {.actor = "lazarus group"}, b = {.actor = "lazarus"}, c = {.source = "s"};
    CHECK(labels_match(&l, &a) && !labels_match(&l, &b) && labels_match(&l, &c));
}

static int write_file(const char *path, sharing_format f, const sharing_set *s)
{
    FILE *out = fopen(path, "w");
    if (!out) return -1;
    util_err err;
    int rc = sharing_write(out, f, s, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return fclose(out) || rc;
}

static int run(const char *cmd, const char *path)
{
    char line[512];
    snprintf(line, sizeof line, "/usr/bin/python3 tests/sharing_check.py %s %s >%s.out 2>&1", cmd,
             path, path);
    int rc = system(line);
    if (rc) {
        snprintf(line, sizeof line, "cat %s.out >&2", path);
        if (system(line)) rc = -1;
    }
    return rc;
}

/* Writers over labels and transactions: the schemas and templates accept them, and the
 * amounts are the exact coin values. */
static void test_transactions(void)
{
    labels_label l[2] = {{.chain = "btc",
                          .address = "1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn",
                          .category = "theft",
                          .actor = "Lazarus Group",
                          .name = "stolen funds",
                          .source = "case 7",
                          .url = "https://example.org/case/7",
                          .programs = "",
                          .first_seen = "2022-03-23",
                          .last_seen = "2022-04-01",
                          .updated = "2022-04-02",
                          .confidence = 80},
                         {.chain = "eth",
                          .address = "0x098b716b8aaf21512996dc57eb0615e2383e2f96",
                          .category = "exchange",
                          .actor = "Example Exchange",
                          .name = "deposit",
                          .source = "case 7",
                          .url = "",
                          .programs = "",
                          .first_seen = "",
                          .last_seen = "",
                          .updated = "",
                          .confidence = 90}};
    const labels_label *lp[2] = {&l[0], &l[1]};
    sharing_move in0[] = {{"1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn", "84000000"}};
    sharing_move out0[] = {{"1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "80000000"},
                           {"3FupZp77ySr7jwoLYEJ9mwzJpvoNBXsBnE", NULL}};
    sharing_move in1[] = {{"0xa0e1c89ef1a489c9c7de96311ed5ce5d32c20e4b", "1500000000000000001"}};
    sharing_move out1[] = {{"0x098b716b8aaf21512996dc57eb0615e2383e2f96", "1500000000000000000"}};
    sharing_tx tx[2] = {{.chain = "btc",
                         .txid = "d3b3642a97595078",
                         .time = 1664724141,
                         .fee = "728",
                         .inputs = in0,
                         .n_inputs = 1,
                         .outputs = out0,
                         .n_outputs = 2},
                        {.chain = "eth",
                         .txid = "0x4a3e5f6b",
                         .time = 0,
                         .fee = NULL,
                         .inputs = in1,
                         .n_inputs = 1,
                         .outputs = out1,
                         .n_outputs = 1}};
    sharing_set s = {.labels = lp, .n_labels = 2, .txs = tx, .n_txs = 2, .now = 1700000000};
    char path[128];
    snprintf(path, sizeof path, "%s/tx.stix", dir);
    CHECK(write_file(path, SHARING_STIX, &s) == 0);
    CHECK(run("stix", path) == 0);
    uint8_t *d;
    size_t n;
    util_err err;
    CHECK(util_read_file(path, &d, &n, &err) == 0);
    char *text = (char *)d;
    text[n - 1] = 0;
    CHECK(strstr(text, "\"fee\":0.00000728"));
    CHECK(strstr(text, "{\"amount\":0.84,\"address_ref\":\"cryptocurrency-wallet--"));
    CHECK(strstr(text, "{\"amount\":1.500000000000000001,"));
    CHECK(strstr(text, "\"execution_time\":\"2022-10-02T15:22:21Z\""));
    /* a wallet for every address, each once */
    CHECK(strstr(text, "\"value\":\"1BoatSLRHtKNngkdXEeobR76b53LETtpyT\""));
    char id[SHARING_SCO_ID];
    sharing_stix_wallet_id(id, "3FupZp77ySr7jwoLYEJ9mwzJpvoNBXsBnE");
    CHECK(strstr(text, id) && strstr(strstr(text, id) + 1, id)); /* the SCO and the output */
    free(d);
    snprintf(path, sizeof path, "%s/tx.misp", dir);
    CHECK(write_file(path, SHARING_MISP, &s) == 0);
    CHECK(run("misp", path) == 0);
    CHECK(util_read_file(path, &d, &n, &err) == 0);
    text = (char *)d;
    text[n - 1] = 0;
    CHECK(strstr(text, "\"object_relation\":\"value\",\"type\":\"float\",\"category\":\"Other\","
                       "\"to_ids\":false,\"value\":\"0.8\""));
    CHECK(strstr(text, "output 0 to 0x098b716b8aaf21512996dc57eb0615e2383e2f96"));
    free(d);
    /* a TagPack holds one source */
    l[1].source = "other";
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(sharing_write(devnull, SHARING_TAGPACK, &s, &err) == UTIL_EINVAL &&
          strstr(err.msg, "more than one source"));
    fclose(devnull);
}

/* Every field of a label, with text that needs escaping in each format, through STIX and
 * MISP and back. */
static void test_round_trip(void)
{
    char csv[128], path[128];
    snprintf(csv, sizeof csv, "%s/l.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs("chain,address,category,actor,label,source,confidence,url,programs,first_seen,"
          "last_seen,updated\n"
          "xyz,o'b\\\\c,scam,\"A \"\"q\"\" \\\\\",\"two\nlines\",\"s \"\"1\"\"\",33,not a url,"
          "\"P1,P2\",2019,2020-13-45,someday\n"
          "btc,bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4,mixer,,,s2,0,https://e.org/?a=1&b=2,,"
          "2021-01-01,2020-12-31,2021-02-03\n",
          f);
    /* one key three times with long names: joined, the name is over LABELS_MAX_TEXT */
    for (int k = 0; k < 3; k++) {
        fprintf(f, "btc,1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn,theft,,");
        for (int j = 0; j < 600; j++)
            fputc('a' + k, f);
        fprintf(f, ",s3,50,,,,,\n");
    }
    fclose(f);
    labels_db *a, *b;
    util_err err;
    labels_import_opts o = {0};
    char da[80], db[80];
    snprintf(da, sizeof da, "%s/a", dir);
    CHECK(labels_db_open(&a, da, 0, &err) == 0);
    CHECK(labels_import_file(a, csv, &o, NULL, &err) == 0);
    CHECK(labels_db_count(a) == 3);
    size_t n = labels_db_count(a);
    const labels_label *v[3] = {labels_db_get(a, 0), labels_db_get(a, 1), labels_db_get(a, 2)};
    CHECK(strlen(v[0]->name) == 3 * 600 + 2 * 2); /* "aaa...; bbb...; ccc..." */
    sharing_set s = {.labels = v, .n_labels = n, .now = 1700000000};
    for (sharing_format fmt = SHARING_STIX; fmt <= SHARING_MISP; fmt++) {
        snprintf(path, sizeof path, "%s/rt.%s", dir, sharing_format_name(fmt));
        CHECK(write_file(path, fmt, &s) == 0);
        snprintf(db, sizeof db, "%s/b%d", dir, (int)fmt);
        CHECK(labels_db_open(&b, db, 0, &err) == 0);
        labels_import_result r;
        CHECK(labels_import_file(b, path, &o, &r, &err) == 0);
        CHECK(r.format == (fmt == SHARING_STIX ? LABELS_FMT_STIX : LABELS_FMT_MISP));
        labels_import_result_free(&r);
        CHECK(labels_db_count(b) == n);
        for (size_t i = 0; i < n && i < labels_db_count(b); i++) {
            const labels_label *x = labels_db_get(a, i), *y = labels_db_get(b, i);
            const char *fx[] = {x->chain,      x->address,   x->category, x->actor,
                                x->name,       x->source,    x->url,      x->programs,
                                x->first_seen, x->last_seen, x->updated};
            const char *fy[] = {y->chain,      y->address,   y->category, y->actor,
                                y->name,       y->source,    y->url,      y->programs,
                                y->first_seen, y->last_seen, y->updated};
            for (size_t k = 0; k < 11; k++)
                CHECK_STR(fx[k], fy[k]);
            CHECK(x->confidence == y->confidence);
        }
        labels_db_close(b);
    }
    labels_db_close(a);
}

/* Patterns that end in the middle of a name or a string: no address, or an error; the
 * scanner never reads past the end (the fuzzer found it did). */
static void test_patterns(void)
{
    static const char *const patterns[] = {"[cryptocurrency-wallet:value",
                                           "cryptocurrency-wallet:", "[a:b = 'x'] AND c_d",
                                           "[x:y = t'", "'"};
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/p%zu.json", dir, i);
        FILE *f = fopen(path, "w");
        json_t *b = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}]}", "type", "bundle",
                              "id", "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects",
                              "type", "indicator", "spec_version", "2.1", "id",
                              "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created",
                              "2023-04-01T00:00:00.000Z", "modified", "2023-04-01T00:00:00.000Z",
                              "pattern", patterns[i], "pattern_type", "stix", "valid_from",
                              "2023-04-01T00:00:00.000Z");
        json_dumpf(b, f, 0);
        json_decref(b);
        fclose(f);
        labels_db *db;
        util_err err;
        labels_import_opts o = {0};
        CHECK(labels_db_open(&db, dir, 0, &err) == 0);
        int rc = labels_import_file(db, path, &o, NULL, &err);
        CHECK(labels_db_count(db) == 0);
        if (rc) CHECK(strstr(err.msg, "field /objects/0/pattern: the string that starts at byte"));
        CHECK(rc == 0 || i >= 3);
        labels_db_close(db);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ct_sharing_%d", (int)getpid());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) return 1;
    test_ids();
    test_amounts();
    test_query();
    test_transactions();
    test_round_trip();
    test_patterns();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return CHECK_DONE();
}
