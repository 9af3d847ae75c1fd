/* test_tally: the theft tally over hand-built incidents whose answers are worked out here: a
 * Bitcoin run's endpoints by actor (else name), unspent, fees and the rest untraced; an EVM run
 * whose bridge and swap deposits split by the chain their link went to, and a cross-chain
 * Bitcoin leg scaled by its deposit's tainted share (1/3, floored); an untraced incident; groups
 * by actor, year and chain (an incident on two chains in both, with its USD in each, once in the
 * total); whole-unit text; the HTML escapes every name; the CSV defuses formulas. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tally/tally.h"

#define S(x) ((char *)(x))

static case_total tot(const char *asset, const char *bucket, const char *amount)
{
    return (case_total){S(asset), S(bucket), S(amount)};
}

static case_endpoint ep(const char *addr, const char *cat, const char *actor, const char *name,
                        const char *asset, const char *amount)
{
    return (case_endpoint){.address = S(addr),
                           .category = S(cat),
                           .actor = S(actor),
                           .name = S(name),
                           .asset = S(asset),
                           .amount = S(amount)};
}

/* Find a destination of asset symbol sym in a group: its amount as decimal text ("" if none). */
static const char *dest(const tally_result *r, const tally_group *g, const char *sym, int kind,
                        const char *name, char buf[EVM_U256_DEC_MAX])
{
    buf[0] = 0;
    for (size_t i = 0; i < g->n_dests; i++) {
        const tally_dest *d = &g->dests[i];
        if (d->kind == kind && !strcmp(d->name, name) && !strcmp(r->assets[d->asset].symbol, sym))
            evm_u256_format(buf, &d->amount);
    }
    return buf;
}

static const char *stolen(const tally_result *r, const tally_group *g, const char *sym, int arrived,
                          char buf[EVM_U256_DEC_MAX])
{
    buf[0] = 0;
    for (size_t a = 0; a < r->n_assets; a++)
        if (!strcmp(r->assets[a].symbol, sym))
            evm_u256_format(buf, arrived ? &g->arrived[a] : &g->stolen[a]);
    return buf;
}

int main(void)
{
    /* incident 1: Bitcoin, one run */
    case_total t1[] = {tot("BTC", "seeded", "1000"),      tot("BTC", "poison_added", "0"),
                       tot("BTC", "to_endpoints", "700"), tot("BTC", "unspent", "200"),
                       tot("BTC", "fees", "50"),          tot("BTC", "beyond_hops", "50")};
    case_endpoint e1[] = {ep("1X", "exchange", "X", "x label", "BTC", "400"),
                          ep("1Y", "exchange", "", "<b>Y</b>", "BTC", "100"),
                          ep("1M", "mixer", "M", "m", "BTC", "200")};
    case_run r1 = {
        .id = 1, .chain = S("btc"), .totals = t1, .n_totals = 6, .endpoints = e1, .n_endpoints = 3};
    case_leg l1 = {
        .run_id = 1, .leg = S("seeds"), .deposit = -1, .share_num = S("1"), .share_den = S("1")};
    case_attribution a1 = {.actor = S("=Lazarus"),
                           .attributed_by = S(""),
                           .kind = S(""),
                           .confidence = -1,
                           .date = S(""),
                           .url = S("")};
    case_stolen s1 = {S("btc"), S("native"), S("BTC"), 8, S("1000"), 1};
    /* incident 2: eth, bridge/swap deposits, a Bitcoin leg at share 1/3 */
    case_total t2[] = {tot("native", "seeded", "3000"), tot("native", "to_endpoints", "2500"),
                       tot("native", "held", "400"), tot("native", "fees", "100")};
    case_endpoint e2[] = {ep("0xB", "bridge", "", "bridge", "native", "1500"),
                          ep("0xS", "swap", "R", "router", "native", "1000")};
    case_run r2 = {
        .id = 2, .chain = S("eth"), .totals = t2, .n_totals = 4, .endpoints = e2, .n_endpoints = 2};
    case_total t3[] = {tot("BTC", "seeded", "901"), tot("BTC", "to_endpoints", "601"),
                       tot("BTC", "unspent", "300")};
    case_endpoint e3[] = {ep("1X", "exchange", "X", "x label", "BTC", "601")};
    case_run r3 = {
        .id = 3, .chain = S("btc"), .totals = t3, .n_totals = 3, .endpoints = e3, .n_endpoints = 1};
    case_deposit d2[] = {{.run_id = 2,
                          .address = S("0xb"),
                          .asset = S("native"),
                          .amount = S("1000"),
                          .taint = S("1000"),
                          .to_chain = S("btc"),
                          .why_not = S("")},
                         {.run_id = 2,
                          .address = S("0xB"),
                          .asset = S("native"),
                          .amount = S("500"),
                          .taint = S("500"),
                          .to_chain = S(""),
                          .why_not = S("no link found")},
                         {.run_id = 2,
                          .address = S("0xS"),
                          .asset = S("native"),
                          .amount = S("1000"),
                          .taint = S("1000"),
                          .to_chain = S("eth"),
                          .why_not = S("a refund")}};
    case_run runs2[] = {r2, r3};
    case_leg l2[] = {
        {.run_id = 2, .leg = S("seeds"), .deposit = -1, .share_num = S("1"), .share_den = S("1")},
        {.run_id = 3,
         .leg = S("cross_chain"),
         .deposit = 0,
         .share_num = S("1"),
         .share_den = S("3")}};
    case_attribution a2 = {.actor = S("=Lazarus"), .confidence = 80};
    case_stolen s2 = {S("eth"), S("native"), S("ETH"), 18, S("3000"), 1};
    /* incident 3: stolen, never traced */
    case_attribution a3 = {.actor = S("B")};
    case_stolen s3 = {S("btc"), S("native"), S("BTC"), 8, S("77"), 1};
    case_incident inc[4] = {
        {.slug = S("one"),
         .date = S("2020-05-01"),
         .chains = S("btc"),
         .usd = S("100.50"),
         .attrs = &a1,
         .n_attrs = 1,
         .stolen = &s1,
         .n_stolen = 1,
         .trace = {.id = 1, .legs = &l1, .runs = &r1, .n_legs = 1}},
        {.slug = S("two"),
         .date = S("2021"),
         .chains = S("eth,btc"),
         .usd = S("7"),
         .attrs = &a2,
         .n_attrs = 1,
         .stolen = &s2,
         .n_stolen = 1,
         .trace =
             {.id = 2, .legs = l2, .runs = runs2, .n_legs = 2, .deposits = d2, .n_deposits = 3}},
        {.slug = S("three"),
         .date = S("2021-02"),
         .chains = S("btc"),
         .usd = S(""),
         .attrs = &a3,
         .n_attrs = 1,
         .stolen = &s3,
         .n_stolen = 1},
        {.slug = S("four"), .date = S(""), .chains = S(""), .usd = S("")},
    };
    tally_result r;
    util_err err = {0};
    char b[EVM_U256_DEC_MAX];
    CHECK(tally_compute(inc, 4, TALLY_BY_ACTOR | TALLY_BY_YEAR, &r, &err) == 0);
    CHECK(r.n_groups == 4 && r.total.incidents == 4 && r.total.traced == 2);
    /* groups sorted: (unattributed)/(undated), =Lazarus/2020, =Lazarus/2021, B/2021 */
    CHECK_STR(r.groups[0].actor, "(unattributed)");
    CHECK_STR(r.groups[0].year, "(undated)");
    const tally_group *g1 = &r.groups[1], *g2 = &r.groups[2], *g3 = &r.groups[3];
    CHECK_STR(g1->year, "2020");
    CHECK(g1->usd_cents == 10050 && g1->usd_incidents == 1);
    CHECK_STR(stolen(&r, g1, "BTC", 0, b), "1000");
    CHECK_STR(dest(&r, g1, "BTC", TALLY_EXCHANGE, "X", b), "400");
    CHECK_STR(dest(&r, g1, "BTC", TALLY_EXCHANGE, "<b>Y</b>", b), "100"); /* no actor: name */
    CHECK_STR(dest(&r, g1, "BTC", TALLY_MIXER, "M", b), "200");
    CHECK_STR(dest(&r, g1, "BTC", TALLY_UNSPENT, "", b), "200");
    CHECK_STR(dest(&r, g1, "BTC", TALLY_FEES, "", b), "50");
    CHECK_STR(dest(&r, g1, "BTC", TALLY_UNTRACED, "", b), "50");
    /* incident two: 1000 of the bridge went to btc, 500 nowhere known, the swap's refund to eth */
    CHECK_STR(dest(&r, g2, "ETH", TALLY_BRIDGE, "btc", b), "1000");
    CHECK_STR(dest(&r, g2, "ETH", TALLY_BRIDGE, "", b), "500");
    CHECK_STR(dest(&r, g2, "ETH", TALLY_SWAP, "eth", b), "1000");
    CHECK_STR(dest(&r, g2, "ETH", TALLY_UNSPENT, "", b), "400");
    CHECK_STR(dest(&r, g2, "ETH", TALLY_UNTRACED, "", b), "");
    /* the leg at 1/3: 901 -> 300 arrived, 601 -> 200 at X, 300 -> 100 unspent, the rest untraced */
    CHECK_STR(stolen(&r, g2, "BTC", 1, b), "300");
    CHECK_STR(dest(&r, g2, "BTC", TALLY_EXCHANGE, "X", b), "200");
    CHECK_STR(dest(&r, g2, "BTC", TALLY_UNSPENT, "", b), "100");
    CHECK_STR(dest(&r, g2, "BTC", TALLY_UNTRACED, "", b), "");
    CHECK_STR(stolen(&r, g3, "BTC", 0, b), "77");
    CHECK_STR(dest(&r, g3, "BTC", TALLY_UNTRACED, "", b), "77");
    CHECK(r.total.usd_cents == 10750 && r.total.usd_incidents == 2);
    CHECK_STR(dest(&r, &r.total, "BTC", TALLY_EXCHANGE, "X", b), "600");
    /* the year series: one entry per (year, actor) */
    CHECK(r.n_years == 4);
    /* HTML: every name escaped, nothing from the data as markup */
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    CHECK(tally_write_html(&r, f, &err) == 0);
    fclose(f);
    CHECK(strstr(mem, "&lt;b&gt;Y&lt;/b&gt;") && !strstr(mem, "<b>Y"));
    CHECK(strstr(mem, "<svg") && strstr(mem, "default-src 'none'"));
    free(mem);
    /* CSV: the actor "=Lazarus" does not start a formula */
    f = open_memstream(&mem, &len);
    CHECK(tally_write_csv(&r, f, &err) == 0);
    fclose(f);
    CHECK(strstr(mem, "\"'=Lazarus\"") && !strstr(mem, "\"=Lazarus"));
    free(mem);
    tally_result_free(&r);

    /* by chain: incident two in eth (its ETH) and in btc (its Bitcoin leg), USD in both */
    CHECK(tally_compute(inc, 4, TALLY_BY_CHAIN, &r, &err) == 0);
    const tally_group *gb = NULL, *ge = NULL;
    for (size_t i = 0; i < r.n_groups; i++) {
        if (!strcmp(r.groups[i].chain, "btc")) gb = &r.groups[i];
        if (!strcmp(r.groups[i].chain, "eth")) ge = &r.groups[i];
    }
    CHECK(gb && ge && gb->incidents == 3 && ge->incidents == 1);
    CHECK(ge && ge->usd_cents == 700 && gb && gb->usd_cents == 10750);
    CHECK(gb && !strcmp(stolen(&r, gb, "BTC", 1, b), "300") &&
          !strcmp(stolen(&r, gb, "ETH", 0, b), "0"));
    CHECK(ge && !strcmp(stolen(&r, ge, "ETH", 0, b), "3000") &&
          !strcmp(dest(&r, ge, "BTC", TALLY_EXCHANGE, "X", b), ""));
    CHECK(r.total.incidents == 4);
    tally_result_free(&r);

    /* --by parsing and whole units */
    unsigned by;
    CHECK(tally_by_parse("year,actor", &by, &err) == 0 && by == (TALLY_BY_YEAR | TALLY_BY_ACTOR));
    CHECK(tally_by_parse("year,colour", &by, &err) == UTIL_EINVAL && strstr(err.msg, "colour"));
    CHECK(tally_by_parse("", &by, &err) == 0 && by == 0);
    evm_u256 v = {{123456789, 0, 0, 0}};
    char u[100];
    tally_units(u, sizeof u, &v, 8);
    CHECK_STR(u, "1.23456789");
    v.w[0] = 100000000;
    tally_units(u, sizeof u, &v, 8);
    CHECK_STR(u, "1");
    v.w[0] = 5;
    tally_units(u, sizeof u, &v, 8);
    CHECK_STR(u, "0.00000005");
    v.w[0] = 0;
    tally_units(u, sizeof u, &v, 18);
    CHECK_STR(u, "0");
    v = (evm_u256){{0, 0, 0, 1}}; /* 2^192 wei */
    tally_units(u, sizeof u, &v, 18);
    CHECK_STR(u, "6277101735386680763835789423207666416102.355444464034512896");
    return CHECK_DONE();
}
