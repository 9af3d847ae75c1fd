#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../cluster/cluster.h"
#include "../store/store.h"
#include "cli.h"

static const char cluster_usage[] =
    "usage: cointrail cluster --db DIR [--heuristics LIST] [--guard N] [--rebuild] [--json]\n"
    "       cointrail cluster --db DIR --dump        (every address and its entity, and every\n"
    "                                                 CoinJoin tx: `a ADDR ENTITY`, `c TXID "
    "KIND`)\n"
    "       cointrail cluster --db DIR --evaluate TRUTH.jsonl [--heuristics LIST] [--json]\n"
    "Builds or extends the entities (multi-input heuristic, CoinJoins excluded).\n"
    "LIST: none (default) or a comma list of fresh, script, round, optimal (or all); several\n"
    "must agree on the change output. --guard N: refuse a change link joining two entities of\n"
    "N or more addresses each (default 1000).\n";

/* The text of a build result (the --json document's figures; s names the largest). */
static void print_human(const cluster_result *r, const store *s)
{
    static const char *const modes[] = {"up to date", "extended", "built"};
    printf("clustering %s", modes[r->mode]);
    if (r->mode == 2) printf(" (%s)", r->why_rebuilt);
    printf(": %lld new txs in %.3f s\n", (long long)r->txs_done, r->seconds);
    char hs[64];
    cluster_format_heuristics(r->heuristics, hs, sizeof hs);
    printf("%-20s %s (guard %lld)\n", "heuristics", hs, (long long)r->guard);
    uint64_t excluded = 0;
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        if (cluster_cj_excludes(k)) excluded += r->coinjoins[k];
    const char *keys[] = {"txs",          "addresses",      "entities",          "singletons",
                          "change_links", "refused_merges", "coinjoins_excluded"};
    const uint64_t vals[] = {r->txs,          r->addresses,      r->entities, r->singletons,
                             r->change_links, r->refused_merges, excluded};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        printf("%-20s %lld\n", keys[i], (long long)vals[i]);
    printf("coinjoins by kind:\n");
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        printf("  %-18s %lld%s\n", cluster_cj_kind_name(k), (long long)r->coinjoins[k],
               k == CLUSTER_CJ_WHIRLPOOL_TX0 ? "  (not a CoinJoin: inputs joined)" : "");
    printf("largest entities:\n");
    for (unsigned i = 0; i < r->n_largest; i++) {
        char str[128];
        btc_addr_encode(str, store_addr(s, r->largest_id[i]));
        printf("  entity %-10lld %8lld addresses  %s\n", (long long)r->largest_id[i],
               (long long)r->largest_size[i], str);
    }
}

int cmd_cluster(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"heuristics", required_argument, 0, 'H'},
                                         {"guard", required_argument, 0, 'g'},
                                         {"rebuild", no_argument, 0, 'r'},
                                         {"json", no_argument, 0, 'j'},
                                         {"dump", no_argument, 0, 'D'},
                                         {"evaluate", required_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *hlist = NULL, *truth = NULL;
    int json = 0, dump = 0, c;
    cluster_opts o;
    cluster_default_opts(&o);
    util_err err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'H':
            hlist = optarg;
            break;
        case 'g': {
            uint64_t g;
            if (cli_parse_u64(optarg, &g) || g == 0 || g > UINT32_MAX) {
                fprintf(stderr, "cointrail: --guard %s: want a number from 1 to %u\n", optarg,
                        UINT32_MAX);
                return CLI_USAGE;
            }
            o.guard = (uint32_t)g;
            break;
        }
        case 'r':
            o.rebuild = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'D':
            dump = 1;
            break;
        case 'e':
            truth = optarg;
            break;
        case 'h':
            fputs(cluster_usage, stdout);
            return CLI_OK;
        default:
            fputs(cluster_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!db || optind != argc) {
        fputs(cluster_usage, stderr);
        return CLI_USAGE;
    }
    if (cluster_parse_heuristics(hlist, &o.heuristics, &err)) {
        cli_fail(&err);
        return CLI_USAGE;
    }
    store *s;
    if (store_open(&s, db, 0, &err)) return cli_fail(&err);
    json_t *doc = NULL;
    int rc = 0;
    if (truth) {
        rc = cluster_evaluate(s, truth, o.heuristics, o.guard, &doc, &err);
    } else if (dump) {
        cluster_map *m;
        rc = cluster_open(&m, s, db, &err);
        if (!rc) {
            rc = cluster_dump(m, s, stdout, &err);
            cluster_close(m);
        }
    } else {
        cluster_result r;
        o.test_crash = getenv("COINTRAIL_TEST_CLUSTER_CRASH") != NULL; /* recovery tests only */
        rc = cluster_build(s, db, &o, &r, &err);
        /* Entities make stops of their labelled addresses' fellows: the exposure index follows. */
        if (!rc && exposure_exists(db) &&
            (rc = cli_exposure_update(db, s, NULL, NULL, NULL, NULL, &err)))
            util_err_prefix(&err, "clustering saved, but the exposure index was not updated "
                                  "(rerun cointrail cluster or cointrail exposure build)");
        if (!rc && json) rc = cluster_result_json(&r, s, &doc, &err);
        if (!rc && !json) print_human(&r, s);
    }
    store_close(s);
    if (rc) return cli_fail(&err);
    if (doc) {
        cli_print_json(doc);
        json_decref(doc);
    }
    return CLI_OK;
}
