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
    "                             [--window BLOCKS] [--min-in-window PCT]\n"
    "                             [--min-feeders-unlabelled N]\n"
    "                             [--max-funder-share PCT] [--max-return-share PCT] [--json]\n"
    "  Joins each EVM address that forwards nearly all it receives (PCT%, default 90) to a\n"
    "  labelled exchange address fed by at least N such forwarders (default 3) to that\n"
    "  exchange, as its deposit address. A sink no label names is a service's hot wallet\n"
    "  when at least --min-feeders-unlabelled forwarders (default 5; 0: off) feed it, each\n"
    "  forwarding within --window blocks of a receipt (default 100; --min-in-window% of\n"
    "  what it forwards, default 50), funded by as many\n"
    "  payers with none funding more than --max-funder-share% of them (default 50), and\n"
    "  the sink pays no more than --max-return-share% of them (default 20) back more than gas. "
    "Saves DIR/evm/<chain>.entities.json, which\n"
    "  etrace's answers by actor and `cointrail entity 0xADDR` read. The chain data is not\n"
    "  changed.\n";

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
                                         {"window", required_argument, 0, 'w'},
                                         {"min-in-window", required_argument, 0, 'i'},
                                         {"max-return-share", required_argument, 0, 'r'},
                                         {"min-feeders-unlabelled", required_argument, 0, 'u'},
                                         {"max-funder-share", required_argument, 0, 'f'},
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
        case 'w':
            if (parse_uint(optarg, "--window", 0, 100000000, &o.window)) return CLI_USAGE;
            break;
        case 'i':
            if (parse_uint(optarg, "--min-in-window", 0, 100, &o.min_in_window)) return CLI_USAGE;
            break;
        case 'r':
            if (parse_uint(optarg, "--max-return-share", 0, 100, &o.max_return_share))
                return CLI_USAGE;
            break;
        case 'u':
            if (parse_uint(optarg, "--min-feeders-unlabelled", 0, 1000000, &o.min_feeders_unl))
                return CLI_USAGE;
            break;
        case 'f':
            if (parse_uint(optarg, "--max-funder-share", 1, 100, &o.max_funder_share))
                return CLI_USAGE;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return cli_usage(usage, c == 'h');
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
            printf("%s  %s  via %s (%s)\n", set.d[i].address,
                   set.d[i].exchange ? set.d[i].exchange : "(unnamed service)", set.d[i].tx,
                   set.d[i].asset);
        for (size_t i = 0; i < set.n_hots; i++)
            if (set.hots[i].refused)
                printf("refused sink %s (%" PRIu64 " forwarders): %s\n", set.hots[i].address,
                       set.hots[i].forwarders, set.hots[i].refused);
    }
    rc = CLI_OK;
done:
    evmclust_free(&set);
    labels_db_close(labels);
    evm_store_close(s);
    return rc;
}
