#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "cli.h"

static const char cluster_usage[] =
    "usage: cointrail cluster --db DIR [--heuristics LIST] [--guard N] [--established N]\n"
    "                         [--evidence N] [--no-labels] [--rebuild] [--json]\n"
    "       cointrail cluster --db DIR --dump        (every address and its entity, and every\n"
    "                                                 flagged tx: `a ADDR ENTITY`, `c TXID "
    "KIND`)\n"
    "       cointrail cluster --db DIR --evaluate TRUTH.jsonl [options above] [--json]\n"
    "Builds or extends the entities (multi-input heuristic, CoinJoins excluded).\n"
    "LIST: none (default) or a comma list of fresh, script, round, optimal (or all); several\n"
    "must agree on the change output.\n"
    "Collapse guards: a merge of two entities of --guard N or more addresses each (default\n"
    "1000), of a labelled service with an entity of another actor's label, or of a labelled\n"
    "service with an unlabelled entity of --established N or more addresses (default 10), is\n"
    "made only once co-spends in --evidence N distinct txs (default 2) linked the two; until\n"
    "then it is refused and kept (see `cointrail entity`). Labels: the store's (`cointrail\n"
    "labels import`); --no-labels ignores them. Other parameters rebuild the clustering.\n";

/* The text of a build result (the --json document's figures; s names the largest). */
static void print_human(const cluster_result *r, const store *s)
{
    static const char *const modes[] = {"up to date", "extended", "built"};
    printf("clustering %s", modes[r->mode]);
    if (r->mode == 2) printf(" (%s)", r->why_rebuilt);
    printf(": %lld new txs in %.3f s\n", (long long)r->txs_done, r->seconds);
    const cluster_params *p = &r->params;
    char hs[64];
    cluster_format_heuristics(p->heuristics, hs, sizeof hs);
    printf("%-20s rules %u, heuristics %s, guard %lld, established %lld, evidence %lld\n",
           "parameters", p->rules, hs, (long long)p->guard, (long long)p->established,
           (long long)p->evidence);
    printf("%-20s %lld addresses (%s)\n", "labels", (long long)p->labelled, p->labels);
    uint64_t excluded = 0;
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        if (cluster_cj_excludes(k)) excluded += r->coinjoins[k];
    const char *keys[] = {"txs",          "addresses",      "entities",          "singletons",
                          "change_links", "refused_merges", "coinjoins_excluded"};
    const uint64_t vals[] = {r->txs,          r->addresses,      r->entities, r->singletons,
                             r->change_links, r->refused_merges, excluded};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        printf("%-20s %lld\n", keys[i], (long long)vals[i]);
    printf("merges: %lld multi-input, %lld change, %lld of them on evidence\n",
           (long long)r->links_multi_input, (long long)r->links_change,
           (long long)r->links_evidence);
    printf("refused by rule:");
    for (int k = 1; k < CLUSTER_NGUARDS; k++)
        printf(" %s %lld", cluster_guard_name(k), (long long)r->refusals[k]);
    printf("\nflagged txs by kind:\n");
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        printf("  %-18s %lld%s\n", cluster_cj_kind_name(k), (long long)r->coinjoins[k],
               cluster_cj_excludes(k) ? "" : "  (not a CoinJoin: inputs joined)");
    printf("largest entities:\n");
    for (unsigned i = 0; i < r->n_largest; i++) {
        char str[128];
        store_addr_text(s, r->largest_id[i], str);
        printf("  entity %-10lld %8lld addresses  %s\n", (long long)r->largest_id[i],
               (long long)r->largest_size[i], str);
    }
}

static int parse_count(const char *opt, const char *arg, uint32_t *out)
{
    uint64_t g;
    if (cli_parse_u64(arg, &g) || g == 0 || g > UINT32_MAX) {
        fprintf(stderr, "cointrail: %s %s: want a number from 1 to %u\n", opt, arg, UINT32_MAX);
        return -1;
    }
    *out = (uint32_t)g;
    return 0;
}

int cmd_cluster(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},       {"heuristics", required_argument, 0, 'H'},
        {"guard", required_argument, 0, 'g'},    {"established", required_argument, 0, 'E'},
        {"evidence", required_argument, 0, 'V'}, {"no-labels", no_argument, 0, 'L'},
        {"rebuild", no_argument, 0, 'r'},        {"json", no_argument, 0, 'j'},
        {"dump", no_argument, 0, 'D'},           {"evaluate", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *db = NULL, *hlist = NULL, *truth = NULL;
    int json = 0, dump = 0, no_labels = 0, c;
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
        case 'g':
            if (parse_count("--guard", optarg, &o.guard)) return CLI_USAGE;
            break;
        case 'E':
            if (parse_count("--established", optarg, &o.established)) return CLI_USAGE;
            break;
        case 'V':
            if (parse_count("--evidence", optarg, &o.evidence)) return CLI_USAGE;
            break;
        case 'L':
            no_labels = 1;
            break;
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
        default:
            return cli_usage(cluster_usage, c == 'h');
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
    labels_db *labels = NULL;
    if (!no_labels && !dump && labels_db_open(&labels, db, 0, &err)) {
        store_close(s);
        return cli_fail(&err);
    }
    o.labels = labels;
    json_t *doc = NULL;
    int rc = 0;
    if (truth) {
        rc = cluster_evaluate(s, truth, &o, &doc, &err);
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
        /* and the entity index of the labels */
        if (!rc && (rc = cli_entix_refresh(db, s, &err)))
            util_err_prefix(&err,
                            "clustering saved, but %s was not updated (rerun cointrail "
                            "cluster or cointrail labels reindex)",
                            QUERY_ENTIX_FILE);
        if (!rc && json) rc = cluster_result_json(&r, s, &doc, &err);
        if (!rc && !json) print_human(&r, s);
    }
    labels_db_close(labels);
    store_close(s);
    if (rc) return cli_fail(&err);
    if (doc) {
        cli_print_json(doc);
        json_decref(doc);
    }
    return CLI_OK;
}
