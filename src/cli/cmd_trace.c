/* cointrail trace: follow taint forward or backward from outputs (see docs/tracing.md). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../trace/trace.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail trace --db DIR --from SPEC [--from SPEC...] [--direction forward|backward]\n"
    "           [--policy poison|haircut|fifo] [--hops N] [--min-value SAT] [--until WHEN]\n"
    "           [--through-mixers] [--max-outputs N] [--format text|json|dot|html] [--json]\n"
    "           [--graph tx|entity] [--state URL]\n"
    "       cointrail trace --demix --db DIR --from SPEC... [--min-confidence F] [--remix-depth "
    "N]\n"
    "           [--swap-window BLOCKS] [--swap-fee-max F] [--no-deposit-account] [--until WHEN]\n"
    "           [--max-outputs N] [--format text|json]\n"
    "  SPEC: TXID:N (one output), TXID (all its outputs), ADDRESS (all its outputs),\n"
    "        entity:ADDRESS|ID (every output paid to that address's entity; needs clustering),\n"
    "        @FILE (one SPEC per line)\n"
    "  WHEN: a block height (digits), @UNIX_SECONDS, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC);\n"
    "        forward: nothing after it is followed; backward: nothing before it\n"
    "  --graph: what dot and html draw (default entity when the store is clustered, else tx)\n"
    "  defaults: forward, haircut, no hop limit: the taint is followed until it reaches an\n"
    "            endpoint, is paid as fees, stays unspent (backward: a coinbase) or falls\n"
    "            below --min-value (default 0), within a budget of 1000000 visited outputs\n"
    "            (--max-outputs; then a partial result); no height limit\n"
    "  --hops N: stop N txs from the seeds (1..1000)\n"
    "  --demix: follow the thief's own coins through CoinJoins (postmix co-spends, address\n"
    "           reuse) and swap services (amount and time), each link with its rule and\n"
    "           confidence (defaults: min confidence 0.5, remix depth 3, swap window 36\n"
    "           blocks, swap fee max 0.03)\n"
    "  Taint a limit stopped (--hops, --until, --min-value, the budget) is reported: a warning\n"
    "  on stderr per limit, with the option that lifts it, and the document's \"cut\" list\n"
    "  --state URL: the analyst labels of a state database (docs/state.md) merged in, as serve\n"
    "           --state does (stops, endpoints); without it DIR/state.sqlite's when there is one\n";

static void btc_line(const char *label, long long sat, long long seeded)
{
    printf("  %-18s %16lld sat  %4lld.%08lld BTC", label, sat, sat / 100000000, sat % 100000000);
    if (seeded > 0) printf("  %5.1f%%", 100.0 * (double)sat / (double)seeded);
    printf("\n");
}

#define TEXT_ACTORS 50         /* actors listed */
#define TEXT_ACTOR_ADDRESSES 5 /* addresses listed under each */

/* The answer by actor: who received how much, then the largest of their addresses. */
static void print_actors(const store *s, const trace_actors *a, long long seeded)
{
    if (!a->n) return;
    printf("by actor (endpoints first, then holders of unspent taint):\n");
    for (size_t i = 0; i < a->n; i++) {
        if (i == TEXT_ACTORS) {
            printf("  ... %zu more actors (see --format json)\n", a->n - TEXT_ACTORS);
            break;
        }
        const trace_actor *g = &a->v[i];
        char t[96], b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
        const char *name =
            labels_text_escape(b[0], sizeof b[0], labels_actor_text(&g->who, t, sizeof t));
        long long v = (long long)g->amount;
        printf("  %-30s %-9s %-8s %16lld sat %4lld.%08lld BTC", name,
               g->category ? labels_text_escape(b[1], sizeof b[1], g->category) : "-",
               trace_actor_role_name(g->role), v, v / 100000000, v % 100000000);
        if (seeded > 0) printf("  %5.1f%%", 100.0 * (double)v / (double)seeded);
        printf("\n    %llu %s at %zu address(es), %u hop(s) at the nearest%s\n",
               (unsigned long long)g->deposits,
               g->role == TRACE_ACTOR_HOLDER ? "unspent output(s)" : "deposit(s)", g->n, g->hops,
               g->who.from == LABELS_ACTOR_ENTITY ? ", named by its entity" : "");
        for (size_t k = 0; k < g->n && k < TEXT_ACTOR_ADDRESSES; k++) {
            const trace_actor_addr *d = &a->addrs[g->first + k];
            char addr[128] = "(no address)";
            if (d->address != STORE_NO_ADDR) store_addr_text(s, d->address, addr);
            printf("      %-62s %16llu sat  %llu %s, %u hop(s)\n", addr,
                   (unsigned long long)d->amount, (unsigned long long)d->deposits,
                   g->role == TRACE_ACTOR_HOLDER ? "output(s)" : "deposit(s)", d->hops);
        }
        if (g->n > TEXT_ACTOR_ADDRESSES)
            printf("      ... %zu more address(es)\n", g->n - TEXT_ACTOR_ADDRESSES);
    }
}

/* A graph node: its id, and its actor when it has labels. */
static void print_node(const trace_result *r, uint32_t node)
{
    char id[160], t[96], b[LABELS_ESC_BUF];
    labels_actor w;
    trace_result_node_actor(r, node, &w);
    printf("%s", trace_result_node_id(r, node, id, sizeof id));
    if (w.label)
        printf(" (%s)", labels_text_escape(b, sizeof b, labels_actor_text(&w, t, sizeof t)));
}

static void print_text(const trace_result *r)
{
    const trace_totals *t = &r->totals;
    long long seeded = (long long)t->seeded;
    printf("trace %s, policy %s, from %zu output(s)%s\n", trace_direction_name(r->opts.direction),
           trace_policy_name(r->opts.policy), r->n_seeds,
           r->partial ? "  PARTIAL (output cap reached)" : "");
    printf("totals:\n");
    trace_bucket rows[TRACE_TOTALS_BUCKETS];
    trace_totals_buckets(t, rows);
    for (size_t i = 0; i < TRACE_TOTALS_BUCKETS; i++) {
        long long v = (long long)rows[i].value;
        if (v || i < 3) btc_line(rows[i].name, v, i ? seeded : 0);
    }
    print_actors(r->s, &r->actors, seeded);
    if (r->n_categories) {
        printf("by category:\n");
        for (size_t i = 0; i < r->n_categories; i++)
            btc_line(r->by_category[i].category, (long long)r->by_category[i].amount, seeded);
    }
    printf("endpoints: %zu\n", r->n_endpoints);
    for (size_t i = 0; i < r->n_endpoints; i++) {
        if (i == 50) {
            printf("  ... %zu more (see --format json)\n", r->n_endpoints - 50);
            break;
        }
        const trace_endpoint *e = &r->endpoints[i];
        labels_actor w;
        trace_result_endpoint_actor(r, i, &w);
        char b[2][LABELS_ESC_BUF], addr[128], t[96]; /* label text escaped for the terminal */
        printf("  %16lld sat  %-9s %-42s %s%s, %lld deposit(s), %zu hop(s)\n", (long long)e->amount,
               labels_text_escape(b[0], sizeof b[0], labels_db_get(r->labels, e->label)->category),
               trace_result_address(r, e->address, addr, sizeof addr),
               labels_text_escape(b[1], sizeof b[1], labels_actor_text(&w, t, sizeof t)),
               e->via_entity ? " via its entity" : "", (long long)e->deposits, e->path_len);
    }
    size_t cj = 0, peel = 0;
    for (size_t i = 0; i < r->n_txs; i++) {
        const trace_tx *x = &r->txs[i];
        if (x->status != TRACE_TX_FOLLOWED) continue; /* kind and peel: followed txs only */
        const char *k = cluster_cj_kind_name(x->coinjoin);
        if (k && strcmp(k, "none") && strcmp(k, "whirlpool_tx0")) cj++;
        if (x->peel > 0) peel++;
    }
    printf("txs on the flow: %zu (%zu CoinJoin, %zu peel-chain steps); outputs visited: %lld\n",
           r->n_txs, cj, peel, (long long)r->outputs_visited);
    /* patterns: txs for the shapes of txs, edges (outputs) for the others */
    size_t count[TRACE_N_PATTERNS] = {0};
    for (size_t i = 0; i < r->n_txs; i++)
        for (int q = 0; q < 5; q++)
            count[q] += (r->txs[i].patterns >> q) & 1;
    for (size_t i = 0; i < r->n_edges; i++)
        for (int q = 5; q < TRACE_N_PATTERNS; q++)
            count[q] += (r->edges[i].patterns >> q) & 1;
    printf("patterns: txs: %zu split, %zu consolidate, %zu peel, %zu coinjoin, %zu hop; "
           "outputs: %zu fresh, %zu bridge, %zu swap\n",
           count[0], count[1], count[2], count[3], count[4], count[5], count[6], count[7]);
    printf("%s graph: %zu nodes, %zu edges; largest flows:\n", r->clustered ? "entity" : "address",
           r->n_nodes, r->n_flows);
    for (size_t i = 0; i < r->n_flows && i < 10; i++) {
        const trace_flow *e = &r->flows[i];
        printf("  %16lld sat  ", (long long)e->value);
        print_node(r, e->from);
        printf(" -> ");
        print_node(r, e->to);
        for (int k = 0, j = 0; k < TRACE_N_PATTERNS; k++)
            if (e->patterns & (1u << k)) printf("%s%s", j++ ? "," : "  [", trace_pattern_name(k));
        printf("%s\n", e->patterns ? "]" : "");
    }
}

/* Add the seeds of one --from: a SPEC, or "@FILE" with one SPEC per line (blank lines and lines
 * starting with '#' skipped; an error names FILE:LINE). The CLI reads the file, the library
 * only ever sees SPECs. */
static int add_from(trace_seeds *sd, const store *s, const cluster_map *clusters, const char *spec,
                    util_err *err)
{
    if (spec[0] != '@') return trace_add_spec_entities(sd, s, clusters, spec, err);
    const char *path = spec + 1;
    FILE *f = fopen(path, "r");
    if (!f) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    char line[4096];
    unsigned lineno = 0;
    int rc = 0;
    size_t before = sd->n;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = util_errf(err, UTIL_EINVAL, "%s:%u: line too long", path, lineno);
            break;
        }
        while (n && isspace((unsigned char)line[n - 1]))
            line[--n] = 0;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#') continue;
        if (*p == '@') {
            rc = util_errf(err, UTIL_EINVAL, "%s:%u: nested @FILE not allowed", path, lineno);
            break;
        }
        if ((rc = trace_add_spec_entities(sd, s, clusters, p, err))) {
            util_err_prefix(err, "%s:%u", path, lineno);
            break;
        }
    }
    if (!rc && ferror(f)) rc = util_errf(err, UTIL_EIO, "%s: read error", path);
    fclose(f);
    if (!rc && sd->n == before) rc = util_errf(err, UTIL_EINVAL, "%s: no seeds in the file", path);
    return rc;
}

/* Say on stderr, in every format, what the limits stopped (the result's cut) and what lifts
 * each: a shortfall must not be only a line among the totals. */
static void warn_cuts(const trace_result *r)
{
    const trace_opts *o = &r->opts;
    uint64_t in = r->totals.seeded + r->totals.poison_added;
    for (size_t i = 0; i < r->n_cut; i++) {
        const taint_cut *c = &r->cut[i];
        char lim[96];
        if (c->kind == TAINT_CUT_HOPS)
            snprintf(lim, sizeof lim, "--hops %" PRIu32, o->hops);
        else if (c->kind == TAINT_CUT_UNTIL)
            snprintf(lim, sizeof lim, "--until (height %" PRId64 ")", o->until);
        else if (c->kind == TAINT_CUT_MIN_VALUE)
            snprintf(lim, sizeof lim, "--min-value %" PRIu64, o->min_value);
        else
            snprintf(lim, sizeof lim, "the budget of %" PRIu64 " visited outputs (--max-outputs)",
                     o->max_outputs);
        uint64_t v = c->amount.w[0];
        fprintf(stderr,
                "cointrail: warning: trace cut by %s: %" PRIu64 ".%08" PRIu64
                " BTC (%.1f%% of the taint) stopped at %" PRIu64 " %s (totals.%s); %s\n",
                lim, v / 100000000, v % 100000000, in ? 100.0 * (double)v / (double)in : 0.0,
                c->count, c->unit, c->bucket,
                taint_cut_lift(c->kind, TAINT_MODEL_UTXO, TAINT_FRONT_CLI));
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
                                         {"demix", no_argument, 0, 'X'},
                                         {"min-confidence", required_argument, 0, 'C'},
                                         {"remix-depth", required_argument, 0, 'C'},
                                         {"swap-window", required_argument, 0, 'C'},
                                         {"swap-fee-max", required_argument, 0, 'C'},
                                         {"no-deposit-account", no_argument, 0, 'A'},
                                         {"state", required_argument, 0, 'S'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *format = "text", *until = NULL, *state_url = NULL;
    int graph = -1; /* trace_graph; -1: by whether the store is clustered */
    const char **from = calloc((size_t)argc + 1, sizeof *from);
    size_t nfrom = 0;
    if (!from) return CLI_ERROR;
    trace_opts o;
    trace_default_opts(&o);
    trace_demix_opts dm;
    trace_demix_default_opts(&dm);
    int demix = 0;
    taint_target tg = {.model = TAINT_MODEL_UTXO,
                       .core = &o.core,
                       .min_value_sat = &o.min_value,
                       .until_text = &until};
    int c, li = 0, rc = CLI_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'S':
            state_url = optarg;
            break;
        case 'f':
            from[nfrom++] = optarg;
            break;
        case 'D':
        case 'p':
        case 'H':
        case 'm':
            if (cli_taint_opt(&tg, opts[li].name, optarg)) goto out;
            break;
        case 'u': /* a time needs the store's block times: resolved once it is open */
            if (cli_taint_opt(&tg, opts[li].name, optarg)) goto out;
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
        case 'M':
            if (cli_taint_opt(&tg, opts[li].name, optarg)) goto out;
            break;
        case 'F':
            format = optarg;
            break;
        case 'X':
            demix = 1;
            break;
        case 'C':
            if (cli_demix_opt(&dm, opts[li].name, optarg)) goto out;
            break;
        case 'A':
            dm.no_account = 1;
            break;
        case 'j':
            format = "json";
            break;
        default:
            rc = cli_usage(usage, c == 'h');
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
    trace_result res = {0};
    if ((rc = cli_open_ctx_state(&ctx, db, state_url, 0, &err))) {
        rc = cli_fail(&err);
        goto out;
    }
    store *s = ctx.s;
    if (until &&
        (rc = trace_until_parse(s, until, o.direction, &o.until, &o.until_from_time, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    if (graph < 0) graph = ctx.clusters ? TRACE_GRAPH_ENTITY : TRACE_GRAPH_TX;
    for (size_t i = 0; i < nfrom; i++)
        if ((rc = add_from(&seeds, s, ctx.clusters, from[i], &err))) {
            util_err_prefix(&err, "--from");
            rc = cli_fail(&err);
            goto done;
        }
    if (demix) {
        rc = cli_demix_run(&ctx, &seeds, &dm, &o, format);
        goto done;
    }
    if ((rc = trace_compute(s, ctx.labels, ctx.clusters, &seeds, &o, &res, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    warn_cuts(&res);
    if (!strcmp(format, "json")) {
        json_t *doc = NULL;
        if ((rc = trace_result_json(&res, &doc, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
        cli_print_json(doc);
        json_decref(doc);
    } else if (!strcmp(format, "html")) {
        if ((rc = trace_write_html_graph(&res, stdout, graph, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
    } else if (!strcmp(format, "dot")) {
        if ((rc = trace_write_dot_graph(&res, stdout, graph, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
    } else
        print_text(&res);
    rc = CLI_OK;
done:
    trace_result_free(&res);
    trace_seeds_free(&seeds);
    cli_close_ctx(&ctx);
out:
    free(from);
    return rc;
}
