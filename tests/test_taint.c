/* test_taint: the one option parser both tracers' front ends use. The same key gives the same
 * limits on the CLI (text) and in the API (typed JSON values); a bad value has one message
 * format naming the option as that front end spells it; a key a model or front end does not
 * take is UTIL_ENOTFOUND; the trace and etrace option structs alias taint's core (o.hops and
 * o.core.hops are one field); the --until syntax gives a height or a time, never both; the
 * totals ledger's balance check over 256 bits; no hop limit by default, and the cut list's
 * document and texts. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "etrace/etrace.h"
#include "taint/taint.h"
#include "trace/trace.h"

static taint_val text(const char *s)
{
    return (taint_val){.kind = TAINT_VAL_TEXT, .text = s};
}
static taint_val num(long long n, const char *shown)
{
    return (taint_val){.kind = TAINT_VAL_INT, .num = n, .shown = shown};
}

static void test_cli_utxo(void)
{
    trace_opts o;
    trace_default_opts(&o);
    const char *until = NULL;
    taint_target t = {.model = TAINT_MODEL_UTXO,
                      .core = &o.core,
                      .min_value_sat = &o.min_value,
                      .until_text = &until};
    util_err err = {0};
    taint_val v;
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "hops", (v = text("1000"), &v), &err) == 0);
    CHECK(o.hops == 1000);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "hops", (v = text("1001"), &v), &err) == UTIL_EINVAL);
    CHECK_STR(err.msg, "--hops must be a whole number 1..1000, not '1001'");
    CHECK(o.hops == 1000); /* a refused value changes nothing */
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "hops", (v = text("+3"), &v), &err) == UTIL_EINVAL);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "hops", (v = text("3x"), &v), &err) == UTIL_EINVAL);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "policy", (v = text("fifo"), &v), &err) == 0);
    CHECK(o.policy == TRACE_FIFO && o.core.policy == TAINT_FIFO);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "direction", (v = text("up"), &v), &err) ==
          UTIL_EINVAL);
    CHECK_STR(err.msg, "--direction must be forward or backward, not 'up'");
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "min-value", (v = text("2100000000000000"), &v),
                        &err) == 0);
    CHECK(o.min_value == TAINT_MAX_SAT);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "min-value", (v = text("2100000000000001"), &v),
                        &err) == UTIL_EINVAL);
    CHECK_STR(err.msg, "--min-value must be satoshis (0..2.1e15), not '2100000000000001'");
    v = (taint_val){.kind = TAINT_VAL_BOOL, .flag = 1};
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "through-mixers", &v, &err) == 0);
    CHECK(o.follow_mixers == 1);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "max-outputs", (v = text("7"), &v), &err) == 0);
    CHECK(o.max_outputs == 7 && o.core.max_visits == 7);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "max-outputs", (v = text("0"), &v), &err) ==
          UTIL_EINVAL);
    CHECK_STR(err.msg, "--max-outputs must be a positive number, not '0'");
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "until", (v = text("2020-01-01"), &v), &err) == 0);
    CHECK(until && !strcmp(until, "2020-01-01")); /* resolved against the store by the caller */
    /* the account model's keys are not the UTXO model's */
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "max-xfers", (v = text("7"), &v), &err) ==
          UTIL_ENOTFOUND);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "until-time", (v = text("7"), &v), &err) ==
          UTIL_ENOTFOUND);
}

static void test_cli_account(void)
{
    etrace_opts o;
    etrace_default_opts(&o);
    const char *min = NULL, *until = NULL;
    taint_target t = {.model = TAINT_MODEL_ACCOUNT,
                      .core = &o.core,
                      .min_value_text = &min,
                      .until_text = &until};
    util_err err = {0};
    taint_val v;
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "hops", (v = text("0"), &v), &err) == UTIL_EINVAL);
    CHECK_STR(err.msg, "--hops must be a whole number 1..1000, not '0'"); /* the same as trace */
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "min-value", (v = text("0x10"), &v), &err) ==
          UTIL_EINVAL);
    CHECK_STR(err.msg, "--min-value must be a decimal amount in base units, not '0x10'");
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "min-value", (v = text("0012"), &v), &err) == 0);
    CHECK(min && !strcmp(min, "0012"));
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "until-time", (v = text("1700000000"), &v), &err) ==
          0);
    CHECK(o.until_time == 1700000000 && o.core.until_time == 1700000000);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "max-xfers", (v = text("9"), &v), &err) == 0);
    CHECK(o.max_xfers == 9);
    CHECK(taint_opt_set(&t, TAINT_FRONT_CLI, "max-outputs", (v = text("9"), &v), &err) ==
          UTIL_ENOTFOUND);
}

static void test_api(void)
{
    trace_opts o;
    trace_default_opts(&o);
    taint_target t = {.model = TAINT_MODEL_UTXO, .core = &o.core, .min_value_sat = &o.min_value};
    util_err err = {0};
    taint_val v;
    /* the API's spelling, and the CLI's limits */
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "hops", (v = num(1000, "1000"), &v), &err) == 0);
    CHECK(o.hops == 1000);
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "hops", (v = num(1001, "1001"), &v), &err) ==
          UTIL_EINVAL);
    CHECK_STR(err.msg, "field 'hops' must be a whole number 1..1000, not 1001");
    /* a number as a JSON string is refused in the API (the CLI's arguments are all text) */
    v = (taint_val){.kind = TAINT_VAL_TEXT, .text = "3", .shown = "\"3\""};
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "hops", &v, &err) == UTIL_EINVAL);
    CHECK_STR(err.msg, "field 'hops' must be a whole number 1..1000, not \"3\"");
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "min_value", (v = num(-1, "-1"), &v), &err) ==
          UTIL_EINVAL);
    CHECK_STR(err.msg, "field 'min_value' must be satoshis (0..2.1e15), not -1");
    v = (taint_val){.kind = TAINT_VAL_INT, .num = 1, .shown = "1"};
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "through_mixers", &v, &err) == UTIL_EINVAL);
    v = (taint_val){.kind = TAINT_VAL_BOOL, .flag = 1, .shown = "true"};
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "through_mixers", &v, &err) == 0);
    CHECK(o.follow_mixers == 1);
    /* the API takes no CLI-only option, nor the CLI's spelling */
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "max_outputs", (v = num(5, "5"), &v), &err) ==
          UTIL_ENOTFOUND);
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "until", (v = num(5, "5"), &v), &err) ==
          UTIL_ENOTFOUND);
    CHECK(taint_opt_set(&t, TAINT_FRONT_API, "min-value", (v = num(5, "5"), &v), &err) ==
          UTIL_ENOTFOUND);
}

static void test_until_syntax(void)
{
    int64_t h, t;
    util_err err = {0};
    CHECK(taint_until_syntax("17", &h, &t, &err) == 0 && h == 17 && t == -1);
    CHECK(taint_until_syntax("@1700000000", &h, &t, &err) == 0 && h == -1 && t == 1700000000);
    CHECK(taint_until_syntax("2020-01-01", &h, &t, &err) == 0 && h == -1 && t == 1577836800);
    CHECK(taint_until_syntax("2020-01-01T00:01Z", &h, &t, &err) == 0 && t == 1577836860);
    CHECK(taint_until_syntax("2021-02-29", &h, &t, &err) == UTIL_EINVAL && h == -1 && t == -1);
    CHECK(taint_until_syntax("99999999999", &h, &t, &err) == UTIL_EINVAL);
    CHECK(taint_until_syntax("x", &h, &t, &err) == UTIL_EINVAL);
    CHECK_STR(
        err.msg,
        "--until x: want a height, @UNIX_SECONDS, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC)");
}

/* The balance check: sources against ends, exact over 256 bits (a carry between limbs). */
static void test_ledger(void)
{
    taint_ledger l;
    taint_ledger_init(&l, 4, 2);
    taint_ledger_set_u64(&l, 0, UINT64_MAX);
    taint_ledger_set_u64(&l, 1, 1);
    const uint64_t two64[4] = {0, 1, 0, 0};
    taint_ledger_set(&l, 2, two64);
    CHECK(taint_ledger_balanced(&l)); /* (2^64 - 1) + 1 == 2^64 + 0 */
    taint_ledger_set_u64(&l, 3, 1);
    CHECK(!taint_ledger_balanced(&l));
    taint_ledger_set_u64(&l, 1, 2);
    CHECK(taint_ledger_balanced(&l));
    taint_ledger_init(&l, 2, 1);
    CHECK(taint_ledger_balanced(&l)); /* nothing seeded, nothing anywhere */
    taint_ledger_set_u64(&l, 1, 5);
    CHECK(!taint_ledger_balanced(&l));
}

/* The default has no hop limit (the visit budget bounds a trace), shown as null; the cut list
 * names each limit, its bucket, amount and count and how to lift it, the CLI's and the API's
 * spelling each; amounts in decimal past 64 bits (the figures from python ints). */
static void test_depth_and_cuts(void)
{
    trace_opts o;
    trace_default_opts(&o);
    CHECK(o.hops == TAINT_NO_HOP_LIMIT && o.max_outputs == TAINT_DEFAULT_MAX_VISITS);
    etrace_opts eo;
    etrace_default_opts(&eo);
    CHECK(eo.hops == TAINT_NO_HOP_LIMIT);
    json_t *d = json_object();
    CHECK(taint_doc_options(d, &o.core, json_integer(0), -1, "max_outputs") == 0);
    CHECK(json_is_null(json_object_get(json_object_get(d, "limits"), "hops")));
    o.hops = 7;
    CHECK(taint_doc_options(d, &o.core, json_integer(0), -1, "max_outputs") == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(d, "limits"), "hops")) == 7);

    char dec[80];
    taint_amount a = {{0}};
    CHECK_STR(taint_amount_dec(&a, dec), "0");
    a.w[1] = 1;
    CHECK_STR(taint_amount_dec(&a, dec), "18446744073709551616");
    a = (taint_amount){{5, 0, 1, 0}};
    CHECK_STR(taint_amount_dec(&a, dec), "340282366920938463463374607431768211461");
    memset(a.w, 0xff, sizeof a.w);
    CHECK_STR(taint_amount_dec(&a, dec),
              "1157920892373161954235709850086879078532699846656405640394"
              "57584007913129639935");

    taint_cut cuts[2] = {
        {.kind = TAINT_CUT_HOPS, .count = 3, .bucket = "beyond_hops", .unit = "txs"},
        {.kind = TAINT_CUT_BUDGET, .count = 1, .bucket = "not_followed", .unit = "transfers"}};
    cuts[0].amount.w[0] = 12345;
    cuts[1].amount.w[2] = 1; /* 2^128 */
    CHECK(taint_doc_cuts(d, cuts, 1, TAINT_MODEL_UTXO) == 0);
    json_t *c = json_array_get(json_object_get(d, "cut"), 0);
    CHECK(json_array_size(json_object_get(d, "cut")) == 1);
    CHECK_STR(json_string_value(json_object_get(c, "limit")), "hops");
    CHECK_STR(json_string_value(json_object_get(c, "bucket")), "beyond_hops");
    CHECK(json_integer_value(json_object_get(c, "amount")) == 12345);
    CHECK(json_integer_value(json_object_get(c, "txs")) == 3);
    CHECK_STR(json_string_value(json_object_get(c, "lift")), taint_cut_lift(0, 0, 1));
    CHECK(taint_doc_cuts(d, cuts, 2, TAINT_MODEL_ACCOUNT) == 0);
    c = json_array_get(json_object_get(d, "cut"), 1);
    CHECK_STR(json_string_value(json_object_get(c, "limit")), "max_xfers");
    CHECK_STR(json_string_value(json_object_get(c, "amount")),
              "340282366920938463463374607431768211456");
    CHECK(json_integer_value(json_object_get(c, "transfers")) == 1);
    CHECK(taint_doc_cuts(d, NULL, 0, TAINT_MODEL_UTXO) == 0);
    CHECK(json_array_size(json_object_get(d, "cut")) == 0);
    json_decref(d);
    /* each limit's lift names the option as the front end spells it */
    CHECK(strstr(taint_cut_lift(TAINT_CUT_HOPS, TAINT_MODEL_UTXO, TAINT_FRONT_CLI), "--hops"));
    CHECK(strstr(taint_cut_lift(TAINT_CUT_MIN_VALUE, TAINT_MODEL_UTXO, TAINT_FRONT_API),
                 "min_value") &&
          !strstr(taint_cut_lift(TAINT_CUT_MIN_VALUE, TAINT_MODEL_UTXO, TAINT_FRONT_API), "--"));
    CHECK(strstr(taint_cut_lift(TAINT_CUT_BUDGET, TAINT_MODEL_UTXO, TAINT_FRONT_CLI),
                 "--max-outputs"));
    CHECK(strstr(taint_cut_lift(TAINT_CUT_BUDGET, TAINT_MODEL_ACCOUNT, TAINT_FRONT_CLI),
                 "--max-xfers"));
    CHECK(strstr(taint_cut_lift(TAINT_CUT_UNTIL, TAINT_MODEL_ACCOUNT, TAINT_FRONT_CLI),
                 "--until-time"));
    CHECK_STR(taint_cut_limit(TAINT_CUT_UNTIL, TAINT_MODEL_UTXO), "until");
    CHECK_STR(taint_cut_limit(TAINT_N_CUTS, TAINT_MODEL_UTXO), "?");
}

int main(void)
{
    CHECK_STR(taint_policy_name(TAINT_HAIRCUT), "haircut");
    CHECK(taint_policy_parse("fifo") == TAINT_FIFO && taint_policy_parse("x") == -1);
    CHECK_STR(taint_direction_name(TAINT_BACKWARD), "backward");
    CHECK(taint_direction_parse("forward") == TAINT_FORWARD);
    CHECK_STR(etrace_policy_name(ETRACE_POISON), trace_policy_name(TRACE_POISON));
    test_cli_utxo();
    test_cli_account();
    test_api();
    test_until_syntax();
    test_ledger();
    test_depth_and_cuts();
    return CHECK_DONE();
}
