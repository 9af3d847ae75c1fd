/* cointrail etrace: follow taint through an EVM store (see docs/etrace.md). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"
#include "../xtrace/xtrace.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail etrace --db DIR [--chain eth] --from SPEC [--from SPEC...]\n"
    "           [--asset native|0xTOKEN|all] [--policy poison|haircut|fifo]\n"
    "           [--direction forward|backward] [--hops N] [--min-value UNITS] [--until WHEN]\n"
    "           [--until-time UNIX_SECONDS] [--through-mixers] [--max-xfers N] [--json]\n"
    "           [--cross-chain [--btc-hops N] [--btc-min-value SAT] [--min-confidence C]]\n"
    "  SPEC: 0xTXHASH (its transfers), 0xTXHASH:N (its N-th transfer),\n"
    "        0xADDRESS (every transfer it received), 0xADDRESS:FROM-TO (in those blocks)\n"
    "  WHEN: a block number (digits), @UNIX_SECONDS, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC;\n"
    "        a time is the --until-time window): forward nothing after it, backward nothing\n"
    "        before it\n"
    "  defaults: eth, all assets, haircut, forward, no hop limit: the taint is followed until\n"
    "            it reaches an endpoint, is paid as fees, stays held (backward: minted or\n"
    "            before the store) or falls below --min-value (default 0), within a budget of\n"
    "            1000000 visited transfers (--max-xfers; then a partial result); no block or\n"
    "            time limit\n"
    "  --hops N: stop N transfers from the seeds (1..1000)\n"
    "  Taint a limit stopped (--hops, --until, --min-value, the budget) is reported: a warning\n"
    "  on stderr per limit and asset, with the option that lifts it, and the document's \"cut\"\n"
    "  --cross-chain: follow tainted bridge and router deposits over the links of\n"
    "            `cointrail xchain links` into the Bitcoin store (docs/xchain.md);\n"
    "            Bitcoin leg defaults: no hop limit within 200000 visited outputs per link,\n"
    "            shares under 10000 sat not followed\n";

/* Say on stderr, in every format, what the limits stopped (the result's cut) and what lifts
 * each: a shortfall must not be only a line among the totals. */
static void warn_cuts(const evm_store *s, const etrace_result *res)
{
    const etrace_opts *o = &res->opts;
    for (size_t i = 0; i < res->n_cut; i++) {
        const taint_cut *c = &res->cut[i];
        char lim[96], ak[43], v[EVM_U256_DEC_MAX], mv[EVM_U256_DEC_MAX];
        if (c->kind == TAINT_CUT_HOPS)
            snprintf(lim, sizeof lim, "--hops %" PRIu32, o->hops);
        else if (c->kind == TAINT_CUT_UNTIL)
            snprintf(lim, sizeof lim, "--until/--until-time");
        else if (c->kind == TAINT_CUT_MIN_VALUE) {
            evm_u256_format(mv, &o->min_value);
            snprintf(lim, sizeof lim, "--min-value %s", mv);
        } else
            snprintf(lim, sizeof lim, "the budget of %" PRIu64 " visited transfers (--max-xfers)",
                     o->max_xfers);
        evm_u256 a;
        memcpy(a.w, c->amount.w, sizeof a.w);
        evm_u256_format(v, &a);
        etrace_asset_text(s, c->asset, ak);
        fprintf(stderr,
                "cointrail: warning: trace cut by %s: %s of %s stopped at %" PRIu64
                " %s (totals.%s); %s\n",
                lim, v, ak, c->count, c->unit, c->bucket,
                taint_cut_lift(c->kind, TAINT_MODEL_ACCOUNT, TAINT_FRONT_CLI));
    }
}

#define TEXT_ACTORS 50         /* actors listed */
#define TEXT_ACTOR_ADDRESSES 5 /* addresses listed under each */

/* The answer by actor, per asset: who received how much, who still holds taint. */
static void print_actors(const evm_store *s, const etrace_result *res)
{
    if (!res->n_actors) return;
    printf("by actor (endpoints first, then holders of taint; per asset):\n");
    for (size_t i = 0; i < res->n_actors; i++) {
        if (i == TEXT_ACTORS) {
            printf("  ... %zu more actors (see --json)\n", res->n_actors - TEXT_ACTORS);
            break;
        }
        const etrace_actor *g = &res->actors[i];
        char t[96], b[2][LABELS_ESC_BUF], v[EVM_U256_DEC_MAX], ak[43];
        evm_u256_format(v, &g->amount);
        etrace_asset_text(s, g->asset, ak);
        printf("  %-30s %-9s %-8s %30s %-8s %6.2f%%\n",
               labels_text_escape(b[0], sizeof b[0], labels_actor_text(&g->who, t, sizeof t)),
               g->category ? labels_text_escape(b[1], sizeof b[1], g->category) : "-",
               g->role == ETRACE_ACTOR_HOLDER ? "holder" : "endpoint", v, ak, 100 * g->share);
        printf("    %llu deposit(s) at %zu address(es), %u hop(s) at the nearest\n",
               (unsigned long long)g->deposits, g->n, g->hops);
        for (size_t k = 0; k < g->n && k < TEXT_ACTOR_ADDRESSES; k++) {
            const etrace_actor_addr *d = &res->actor_addrs[g->first + k];
            char ad[43];
            if (etrace_addr_text(s, d->address, ad)) strcpy(ad, "(null)");
            evm_u256_format(v, &d->amount);
            printf("      %s %30s  %llu deposit(s), %u hop(s)\n", ad, v,
                   (unsigned long long)d->deposits, d->hops);
        }
        if (g->n > TEXT_ACTOR_ADDRESSES)
            printf("      ... %zu more address(es)\n", g->n - TEXT_ACTOR_ADDRESSES);
    }
}

static void print_text(const evm_store *s, const etrace_result *res)
{
    printf("etrace %s, policy %s, %zu seed transfer(s)%s%s\n",
           etrace_direction_name(res->opts.direction), etrace_policy_name(res->opts.policy),
           res->n_seeds, res->partial ? "  PARTIAL (transfer cap reached)" : "",
           res->partial_history ? "  (partial history)" : "");
    char ak[43], ad[43];
    for (size_t i = 0; i < res->n_totals; i++) {
        const etrace_totals *t = &res->totals[i];
        etrace_asset_text(s, t->asset, ak);
        printf("totals, %s%s:\n", ak, t->balanced ? "" : "  NOT BALANCED");
        for (int k = 0; k < ETRACE_NB; k++) {
            char v[EVM_U256_DEC_MAX];
            if (evm_u256_is_zero(&t->b[k]) && k != ETRACE_B_SEEDED) continue;
            evm_u256_format(v, &t->b[k]);
            printf("  %-16s %s\n", etrace_bucket_name(k), v);
        }
    }
    print_actors(s, res);
    printf("endpoints: %zu\n", res->n_endpoints);
    for (size_t i = 0; i < res->n_endpoints; i++) {
        if (i == 50) {
            printf("  ... %zu more (see --json)\n", res->n_endpoints - 50);
            break;
        }
        const etrace_endpoint *e = &res->endpoints[i];
        labels_actor w;
        char t[96];
        etrace_endpoint_actor(res, i, &w);
        const char *name = labels_actor_text(&w, t, sizeof t);
        char b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
        char v[EVM_U256_DEC_MAX];
        evm_u256_format(v, &e->amount);
        etrace_asset_text(s, e->asset, ak);
        /* an endpoint's address is always stored; "(null)" is what the JSON reader printed */
        if (etrace_addr_text(s, e->address, ad)) strcpy(ad, "(null)");
        printf("  %30s %-8s %-9s %s %s%s, %zu hop(s)\n", v, ak,
               labels_text_escape(b[0], sizeof b[0], e->label->category), ad,
               labels_text_escape(b[1], sizeof b[1], name),
               e->cross_chain_candidate ? " [cross-chain]" : "", e->n_path);
    }
    printf("swaps converted: %zu; cross-chain deposits: %zu; transfers visited: %lld\n",
           res->n_swaps, res->n_xchain, (long long)res->xfers_visited);
}

/* The EVM trace continued over cross-chain links into the Bitcoin store (src/xtrace). */
static int cross_chain(const char *db, const evm_store *s, const labels_db *labels,
                       const etrace_seeds *seeds, const etrace_opts *o, xtrace_opts *xo,
                       etrace_result *res, xtrace_actors *xa, json_t **doc, util_err *err)
{
    xchain_links links = {0};
    int rc = xchain_links_load(db, &links, err);
    if (rc == UTIL_ENOTFOUND)
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: no cross-chain links yet (run `cointrail xchain links --db %s`)", db,
                         db);
    if (rc) return rc;
    cli_ctx btc;
    util_err berr = {0};
    int have_btc = cli_open_ctx(&btc, db, 0, &berr) == 0;
    if (!have_btc) fprintf(stderr, "cointrail: links listed, not followed: %s\n", berr.msg);
    xo->evm = *o;
    rc = xtrace_run_actors(s, have_btc ? btc.s : NULL, labels, have_btc ? btc.clusters : NULL,
                           &links, seeds, xo, res, xa, doc, err);
    if (have_btc) cli_close_ctx(&btc);
    xchain_links_free(&links);
    return rc;
}

static void print_cross(json_t *d, const xtrace_actors *xa)
{
    json_t *sum = json_object_get(d, "summary");
    printf("cross-chain: %lld tainted deposit(s) into bridges and routers, %lld linked, %lld "
           "link(s) followed into Bitcoin\n",
           (long long)json_integer_value(json_object_get(sum, "cross_chain_deposits")),
           (long long)json_integer_value(json_object_get(sum, "deposits_linked")),
           (long long)json_integer_value(json_object_get(sum, "links_followed")));
    size_t i, k;
    json_t *h, *l;
    json_array_foreach(json_object_get(d, "hops"), i, h)
    {
        json_t *dep = json_object_get(h, "deposit");
        printf("  %s %s (taint share %.4f)\n", json_string_value(json_object_get(dep, "category")),
               json_string_value(json_object_get(dep, "transfer")),
               json_number_value(json_object_get(h, "taint_share")));
        json_array_foreach(json_object_get(h, "links"), k, l)
        {
            json_t *b = json_object_get(l, "btc");
            printf("    -> %s, confidence %.2f: %s\n",
                   json_string_value(json_object_get(l, "method")),
                   json_number_value(json_object_get(l, "confidence")),
                   b ? "followed" : json_string_value(json_object_get(l, "why_not")));
            const char *cat;
            json_t *v;
            json_object_foreach(json_object_get(b, "totals_by_category"), cat, v)
                printf("       %-10s %lld sat\n", cat, (long long)json_integer_value(v));
        }
    }
    printf("Bitcoin endpoints by actor (scaled by taint share; weighed by confidence):\n");
    for (size_t i = 0; i < xa->n; i++) {
        const xtrace_actor *g = &xa->v[i];
        char t[96], b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
        printf("  %-30s %-9s %16llu sat (%llu weighed), %llu deposit(s) at %u address(es), "
               "%u hop(s), %u link(s)\n",
               labels_text_escape(b[0], sizeof b[0], labels_actor_text(&g->who, t, sizeof t)),
               labels_text_escape(b[1], sizeof b[1], g->category), (unsigned long long)g->amount,
               (unsigned long long)g->expected, (unsigned long long)g->deposits, g->addresses,
               g->hops, g->links);
    }
    printf("Bitcoin endpoints by category (scaled by taint share, weighed by confidence):\n");
    const char *cat;
    json_t *v;
    json_object_foreach(json_object_get(d, "btc_by_category"), cat, v)
        printf("  %-10s %lld sat\n", cat, (long long)json_integer_value(v));
}

int cmd_etrace(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"from", required_argument, 0, 'f'},
                                         {"asset", required_argument, 0, 'a'},
                                         {"direction", required_argument, 0, 'D'},
                                         {"policy", required_argument, 0, 'p'},
                                         {"hops", required_argument, 0, 'H'},
                                         {"min-value", required_argument, 0, 'm'},
                                         {"until", required_argument, 0, 'u'},
                                         {"until-time", required_argument, 0, 't'},
                                         {"through-mixers", no_argument, 0, 'x'},
                                         {"max-xfers", required_argument, 0, 'M'},
                                         {"json", no_argument, 0, 'j'},
                                         {"cross-chain", no_argument, 0, 'X'},
                                         {"btc-hops", required_argument, 0, 'B'},
                                         {"btc-min-value", required_argument, 0, 'S'},
                                         {"min-confidence", required_argument, 0, 'C'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *chain = "eth", *asset_arg = "all", *min_arg = NULL, *until = NULL;
    const char **from = calloc((size_t)argc + 1, sizeof *from);
    size_t nfrom = 0;
    if (!from) return CLI_ERROR;
    etrace_opts o;
    etrace_default_opts(&o);
    xtrace_opts xo;
    xtrace_default_opts(&xo);
    taint_target tg = {.model = TAINT_MODEL_ACCOUNT,
                       .core = &o.core,
                       .min_value_text = &min_arg,
                       .until_text = &until};
    uint64_t v;
    int c, li = 0, rc = CLI_USAGE, json = 0, cross = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            chain = optarg;
            break;
        case 'f':
            from[nfrom++] = optarg;
            break;
        case 'a':
            asset_arg = optarg;
            break;
        case 'D':
        case 'p':
        case 'H':
        case 'm':
        case 'u':
        case 't':
        case 'x':
        case 'M':
            if (cli_taint_opt(&tg, opts[li].name, optarg)) goto out;
            break;
        case 'j':
            json = 1;
            break;
        case 'X':
            cross = 1;
            break;
        case 'B':
            if (cli_parse_u64(optarg, &v) || v < 1 || v > TAINT_MAX_HOPS) {
                fprintf(stderr, "cointrail: --btc-hops must be 1..%d, not '%s'\n", TAINT_MAX_HOPS,
                        optarg);
                goto out;
            }
            xo.btc_hops = (uint32_t)v;
            break;
        case 'S':
            if (cli_parse_u64(optarg, &v)) {
                fprintf(stderr, "cointrail: --btc-min-value must be satoshis, not '%s'\n", optarg);
                goto out;
            }
            xo.btc_min_value = v;
            break;
        case 'C': {
            char *end;
            xo.min_confidence = strtod(optarg, &end);
            if (*end || !*optarg || !(xo.min_confidence >= 0 && xo.min_confidence <= 1)) {
                fprintf(stderr, "cointrail: --min-confidence must be 0..1, not '%s'\n", optarg);
                goto out;
            }
            break;
        }
        default:
            rc = cli_usage(usage, c == 'h');
            goto out;
        }
    }
    util_err err = {0};
    if (min_arg && evm_u256_parse(&o.min_value, min_arg, strlen(min_arg), NULL)) {
        /* the parser let only decimal digits through: this is past 2^256 - 1 */
        taint_val mv = {.kind = TAINT_VAL_TEXT, .text = min_arg};
        taint_opt_fail(&err, TAINT_FRONT_CLI, "min-value", "a decimal amount in base units", &mv);
        rc = cli_fail(&err);
        goto out;
    }
    /* --until WHEN: a block number, or a time applied as the block-time window (until_time: EVM
     * block timestamps never decrease, so a time needs no mapping to a height) */
    int64_t until_h, until_t;
    if (until && taint_until_syntax(until, &until_h, &until_t, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (until && until_h >= 0) o.until = until_h;
    if (until && until_t >= 0) o.until_time = until_t;
    if (!db || !nfrom || optind != argc) {
        fputs(usage, stderr);
        goto out;
    }
    evm_store *s = NULL;
    labels_db *labels = NULL;
    etrace_seeds seeds = {0};
    json_t *doc = NULL;
    etrace_result res = {0};
    evmclust_set ents = {0};
    uint32_t asset;
    if ((rc = evm_store_open(&s, db, chain, 0, &err)) ||
        (rc = labels_db_open(&labels, db, 0, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    /* EVM entities, when evm-cluster has computed them: a deposit address answers as its
     * exchange */
    util_err eerr = {0};
    int erc = evmclust_load(&ents, db, chain, &eerr);
    if (!erc) {
        o.entities = &ents;
    } else if (erc != UTIL_ENOTFOUND) {
        rc = cli_fail(&eerr);
        goto done;
    }
    if ((rc = etrace_asset_parse(s, asset_arg, &asset, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    for (size_t i = 0; i < nfrom; i++)
        if ((rc = etrace_add_spec(&seeds, s, from[i], asset, &err))) {
            util_err_prefix(&err, "--from");
            rc = cli_fail(&err);
            goto done;
        }
    if (cross) {
        xtrace_actors xa = {0};
        if ((rc = cross_chain(db, s, labels, &seeds, &o, &xo, &res, &xa, &doc, &err))) {
            xtrace_actors_free(&xa);
            rc = cli_fail(&err);
            goto done;
        }
        warn_cuts(s, &res);
        if (json) {
            cli_print_json(doc);
        } else {
            print_text(s, &res);
            print_cross(doc, &xa);
        }
        xtrace_actors_free(&xa);
        rc = CLI_OK;
        goto done;
    }
    if ((rc = etrace_run_result(s, labels, &seeds, &o, &res, &err)) ||
        (json && (rc = etrace_result_json(s, &res, &doc, &err)))) {
        rc = cli_fail(&err);
        goto done;
    }
    warn_cuts(s, &res);
    if (json)
        cli_print_json(doc);
    else
        print_text(s, &res);
    rc = CLI_OK;
done:
    json_decref(doc);
    etrace_result_free(&res);
    etrace_seeds_free(&seeds);
    labels_db_close(labels);
    evmclust_free(&ents);
    evm_store_close(s);
out:
    free(from);
    return rc;
}
