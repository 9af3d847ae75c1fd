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
    "           [--policy poison|haircut|fifo] [--hops N] [--min-value SAT] [--until WHEN]\n"
    "           [--through-mixers] [--max-outputs N] [--format text|json|dot|html] [--json]\n"
    "           [--graph tx|entity]\n"
    "  SPEC: TXID:N (one output), TXID (all its outputs), ADDRESS (all its outputs),\n"
    "        entity:ADDRESS|ID (every output paid to that address's entity; needs clustering),\n"
    "        @FILE (one SPEC per line)\n"
    "  WHEN: a block height (digits), @UNIX_SECONDS, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC);\n"
    "        forward: nothing after it is followed; backward: nothing before it\n"
    "  --graph: what dot and html draw (default entity when the store is clustered, else tx)\n"
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

/* How many elements of arr have name in their "patterns". */
static size_t count_pattern(json_t *arr, const char *name)
{
    size_t n = 0, i, k;
    json_t *e, *p;
    json_array_foreach(arr, i, e)
    {
        json_array_foreach(json_object_get(e, "patterns"), k, p)
        {
            if (!strcmp(json_string_value(p), name)) n++;
        }
    }
    return n;
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
        char b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
        printf("  %16lld sat  %-9s %-42s %s%s, %lld deposit(s), %zu hop(s)\n", a,
               labels_text_escape(b[0], sizeof b[0], sval(e, "category")), sval(e, "address"),
               labels_text_escape(b[1], sizeof b[1], name),
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
    /* patterns: txs for the shapes of txs, edges (outputs) for the others */
    static const char *const pats[] = {"split", "consolidate", "peel",   "coinjoin",
                                       "hop",   "fresh",       "bridge", "swap"};
    size_t count[8] = {0};
    for (int q = 0; q < 8; q++)
        count[q] = count_pattern(json_object_get(d, q < 5 ? "txs" : "edges"), pats[q]);
    printf("patterns: txs: %zu split, %zu consolidate, %zu peel, %zu coinjoin, %zu hop; "
           "outputs: %zu fresh, %zu bridge, %zu swap\n",
           count[0], count[1], count[2], count[3], count[4], count[5], count[6], count[7]);
    json_t *g = json_object_get(d, "graph"), *ge = json_object_get(g, "edges");
    printf("%s graph: %zu nodes, %zu edges; largest flows:\n", sval(g, "level"),
           json_array_size(json_object_get(g, "nodes")), json_array_size(ge));
    json_array_foreach(ge, i, e)
    {
        if (i == 10) break;
        printf("  %16lld sat  %s -> %s", ival(e, "value"), sval(e, "from"), sval(e, "to"));
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(e, "patterns"), k, p)
            printf("%s%s", k ? "," : "  [", json_string_value(p));
        printf("%s\n", json_array_size(json_object_get(e, "patterns")) ? "]" : "");
    }
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
                                         {"graph", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *format = "text", *until = NULL;
    int graph = -1; /* trace_graph; -1: by whether the store is clustered */
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
            if (cli_opt_direction(optarg, &o.direction)) goto out;
            break;
        case 'p':
            if (cli_opt_policy(optarg, &o.policy)) goto out;
            break;
        case 'H':
            if (cli_opt_hops(optarg, TRACE_MAX_HOPS, &o.hops)) goto out;
            break;
        case 'm':
            if (cli_parse_u64(optarg, &v) || v > (uint64_t)21000000 * 100000000) {
                fprintf(stderr, "cointrail: --min-value must be satoshis (0..2.1e15), not '%s'\n",
                        optarg);
                goto out;
            }
            o.min_value = v;
            break;
        case 'u': /* a time needs the store's block times: parsed once it is open */
            until = optarg;
            break;
        case 'g':
            if (!strcmp(optarg, "tx") || !strcmp(optarg, "entity"))
                graph = !strcmp(optarg, "tx") ? TRACE_GRAPH_TX : TRACE_GRAPH_ENTITY;
            else {
                fprintf(stderr, "cointrail: --graph must be tx or entity, not '%s'\n", optarg);
                goto out;
            }
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
    if (until && (rc = trace_until_parse(s, until, o.direction, &o.until, &o.until_time, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    if (graph < 0) graph = ctx.clusters ? TRACE_GRAPH_ENTITY : TRACE_GRAPH_TX;
    for (size_t i = 0; i < nfrom; i++)
        if ((rc = trace_add_spec_entities(&seeds, s, ctx.clusters, from[i], &err))) {
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
        if ((rc = trace_write_html_graph(doc, stdout, graph, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
    } else if (!strcmp(format, "dot")) {
        if ((rc = trace_write_dot_graph(doc, stdout, graph, &err))) {
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
