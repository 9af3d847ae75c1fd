/* cointrail trace: follow taint forward or backward from outputs (see docs/tracing.md). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../trace/trace.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail trace --db DIR --from SPEC [--from SPEC...] [--direction forward|backward]\n"
    "           [--policy poison|haircut|fifo] [--hops N] [--min-value SAT] [--until HEIGHT]\n"
    "           [--through-mixers] [--max-outputs N] [--format text|json|dot|html] [--json]\n"
    "  SPEC: TXID:N (one output), TXID (all its outputs), ADDRESS (all its outputs),\n"
    "        entity:ADDRESS|ID (every output paid to that address's entity; needs clustering),\n"
    "        @FILE (one SPEC per line, no entity:)\n"
    "  defaults: forward, haircut, 10 hops (1..1000), no minimum, no height limit,\n"
    "            at most 5000000 outputs visited (then a partial result)\n";

static long long ival(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *sval(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static void btc_line(const char *label, long long sat, long long seeded)
{
    printf("  %-18s %16lld sat  %4lld.%08lld BTC", label, sat, sat / 100000000, sat % 100000000);
    if (seeded > 0) printf("  %5.1f%%", 100.0 * (double)sat / (double)seeded);
    printf("\n");
}

static void print_text(json_t *d)
{
    json_t *t = json_object_get(d, "totals");
    long long seeded = ival(t, "seeded");
    printf("trace %s, policy %s, from %zu output(s)%s\n", sval(d, "direction"), sval(d, "policy"),
           json_array_size(json_object_get(d, "seeds")),
           json_is_true(json_object_get(d, "partial")) ? "  PARTIAL (output cap reached)" : "");
    printf("totals:\n");
    const char *keys[] = {"seeded",     "poison_added",    "to_endpoints", "unspent",
                          "fees",       "below_min_value", "beyond_hops",  "beyond_until",
                          "unresolved", "coinbase",        "overlap",      "not_followed"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        long long v = ival(t, keys[i]);
        if (v || i < 3) btc_line(keys[i], v, i ? seeded : 0);
    }
    json_t *bc = json_object_get(d, "by_category");
    if (json_object_size(bc)) {
        printf("by category:\n");
        const char *k;
        json_t *v;
        json_object_foreach(bc, k, v) btc_line(k, (long long)json_integer_value(v), seeded);
    }
    json_t *eps = json_object_get(d, "endpoints");
    printf("endpoints: %zu\n", json_array_size(eps));
    size_t i;
    json_t *e;
    json_array_foreach(eps, i, e)
    {
        if (i == 50) {
            printf("  ... %zu more (see --format json)\n", json_array_size(eps) - 50);
            break;
        }
        json_t *l = json_array_get(json_object_get(e, "labels"), 0);
        const char *name = sval(l, "name");
        if (!strcmp(name, "-") || !*name) name = sval(l, "source");
        long long a = ival(e, "amount");
        printf("  %16lld sat  %-9s %-42s %s%s, %lld deposit(s), %zu hop(s)\n", a,
               sval(e, "category"), sval(e, "address"), name,
               !strcmp(sval(e, "via"), "entity") ? " via its entity" : "", ival(e, "deposits"),
               json_array_size(json_object_get(e, "path")));
    }
    size_t cj = 0, peel = 0;
    json_array_foreach(json_object_get(d, "txs"), i, e)
    {
        const char *k = json_string_value(json_object_get(e, "coinjoin"));
        if (k && strcmp(k, "none") && strcmp(k, "whirlpool_tx0")) cj++;
        if (ival(e, "peel") > 0) peel++;
    }
    printf("txs on the flow: %zu (%zu CoinJoin, %zu peel-chain steps); outputs visited: %lld\n",
           json_array_size(json_object_get(d, "txs")), cj, peel, ival(d, "outputs_visited"));
}

int cmd_trace(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"from", required_argument, 0, 'f'},
                                         {"direction", required_argument, 0, 'D'},
                                         {"policy", required_argument, 0, 'p'},
                                         {"hops", required_argument, 0, 'H'},
                                         {"min-value", required_argument, 0, 'm'},
                                         {"until", required_argument, 0, 'u'},
                                         {"through-mixers", no_argument, 0, 'x'},
                                         {"max-outputs", required_argument, 0, 'M'},
                                         {"format", required_argument, 0, 'F'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *format = "text";
    const char **from = calloc((size_t)argc + 1, sizeof *from);
    size_t nfrom = 0;
    if (!from) return CLI_ERROR;
    trace_opts o;
    trace_default_opts(&o);
    uint64_t v;
    int c, rc = CLI_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            from[nfrom++] = optarg;
            break;
        case 'D':
            if ((o.direction = trace_direction_parse(optarg)) < 0) {
                fprintf(stderr, "cointrail: --direction must be forward or backward, not '%s'\n",
                        optarg);
                goto out;
            }
            break;
        case 'p':
            if ((o.policy = trace_policy_parse(optarg)) < 0) {
                fprintf(stderr, "cointrail: --policy must be poison, haircut or fifo, not '%s'\n",
                        optarg);
                goto out;
            }
            break;
        case 'H':
            if (cli_parse_u64(optarg, &v) || v < 1 || v > TRACE_MAX_HOPS) {
                fprintf(stderr, "cointrail: --hops must be a whole number 1..%d, not '%s'\n",
                        TRACE_MAX_HOPS, optarg);
                goto out;
            }
            o.hops = (uint32_t)v;
            break;
        case 'm':
            if (cli_parse_u64(optarg, &v) || v > (uint64_t)21000000 * 100000000) {
                fprintf(stderr, "cointrail: --min-value must be satoshis (0..2.1e15), not '%s'\n",
                        optarg);
                goto out;
            }
            o.min_value = v;
            break;
        case 'u':
            if (cli_parse_u64(optarg, &v) || v > INT32_MAX) {
                fprintf(stderr, "cointrail: --until must be a block height, not '%s'\n", optarg);
                goto out;
            }
            o.until = (int64_t)v;
            break;
        case 'x':
            o.follow_mixers = 1;
            break;
        case 'M':
            if (cli_parse_u64(optarg, &v) || v < 1) {
                fprintf(stderr, "cointrail: --max-outputs must be a positive number, not '%s'\n",
                        optarg);
                goto out;
            }
            o.max_outputs = v;
            break;
        case 'F':
            format = optarg;
            break;
        case 'j':
            format = "json";
            break;
        case 'h':
            fputs(usage, stdout);
            rc = CLI_OK;
            goto out;
        default:
            fputs(usage, stderr);
            goto out;
        }
    }
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "dot") &&
        strcmp(format, "html")) {
        fprintf(stderr, "cointrail: --format must be text, json, dot or html, not '%s'\n", format);
        goto out;
    }
    if (!db || !nfrom || optind != argc) {
        fputs(usage, stderr);
        goto out;
    }
    util_err err = {0};
    cli_ctx ctx;
    trace_seeds seeds = {0};
    json_t *doc = NULL;
    if ((rc = cli_open_ctx(&ctx, db, 0, &err))) {
        rc = cli_fail(&err);
        goto out;
    }
    store *s = ctx.s;
    for (size_t i = 0; i < nfrom; i++)
        if ((rc = !strncmp(from[i], "entity:", 7)
                      ? trace_add_entity(&seeds, s, ctx.clusters, from[i] + 7, &err)
                      : trace_add_spec(&seeds, s, from[i], &err))) {
            util_err_prefix(&err, "--from");
            rc = cli_fail(&err);
            goto done;
        }
    if ((rc = trace_run(s, ctx.labels, ctx.clusters, &seeds, &o, &doc, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    if (!strcmp(format, "json"))
        cli_print_json(doc);
    else if (!strcmp(format, "html")) {
        if ((rc = trace_write_html(doc, stdout, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
    } else if (!strcmp(format, "dot")) {
        if ((rc = trace_write_dot(doc, stdout, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
    } else
        print_text(doc);
    rc = CLI_OK;
done:
    json_decref(doc);
    trace_seeds_free(&seeds);
    cli_close_ctx(&ctx);
out:
    free(from);
    return rc;
}
