/* cointrail evm-cluster: EVM entities by the deposit-address heuristic (src/evmclust,
 * docs/clustering.md "Entities on EVM chains"). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../evmclust/evmclust.h"
#include "cli.h"

static const char usage[] =
    "usage: cointrail evm-cluster --db DIR [--chain eth] [--min-share PCT] [--min-feeders N]\n"
    "                             [--json]\n"
    "  Joins each EVM address that forwards nearly all it receives (PCT%, default 90) to a\n"
    "  labelled exchange address fed by at least N such forwarders (default 3) to that\n"
    "  exchange, as its deposit address; saves DIR/evm/<chain>.entities.json, which etrace's\n"
    "  answers by actor read. The chain data is not changed.\n";

static int parse_uint(const char *arg, const char *name, unsigned lo, unsigned hi, unsigned *out)
{
    uint64_t v;
    if (cli_parse_u64(arg, &v) || v < lo || v > hi) {
        fprintf(stderr, "cointrail: %s: '%s' is not a number %u-%u\n", name, arg, lo, hi);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int cmd_evm_cluster(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"min-share", required_argument, 0, 's'},
                                         {"min-feeders", required_argument, 0, 'n'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *chain = "eth";
    int json = 0, c, li;
    evmclust_opts o;
    evmclust_default_opts(&o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            chain = optarg;
            break;
        case 's':
            if (parse_uint(optarg, "--min-share", 1, 100, &o.min_share)) return CLI_USAGE;
            break;
        case 'n':
            if (parse_uint(optarg, "--min-feeders", 1, 1000000, &o.min_feeders)) return CLI_USAGE;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!db || optind < argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    util_err err = {0};
    evm_store *s = NULL;
    labels_db *labels = NULL;
    evmclust_set set = {0};
    int rc;
    if ((rc = evm_store_open(&s, db, chain, 0, &err)) ||
        (rc = labels_db_open(&labels, db, 0, &err)) ||
        (rc = evmclust_compute(s, labels, &o, &set, &err)) ||
        (rc = evmclust_save(&set, db, chain, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    if (json) {
        json_t *doc = evmclust_json(&set);
        if (!doc) {
            util_errf(&err, UTIL_ENOMEM, "out of memory");
            rc = cli_fail(&err);
            goto done;
        }
        cli_print_json(doc);
        json_decref(doc);
    } else {
        printf("deposit addresses: %zu (hot wallets %" PRIu64 ", ambiguous forwarders %" PRIu64
               ")\n",
               set.n, set.hot_wallets, set.ambiguous);
        for (size_t i = 0; i < set.n; i++)
            printf("%s  %s  via %s (%s)\n", set.d[i].address, set.d[i].exchange, set.d[i].tx,
                   set.d[i].asset);
    }
    rc = CLI_OK;
done:
    evmclust_free(&set);
    labels_db_close(labels);
    evm_store_close(s);
    return rc;
}
