#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ingest/ingest.h"
#include "../store/store.h"
#include "cli.h"

static const char import_usage[] =
    "usage: cointrail import --db DIR [--threads N] [--no-verify-merkle] [--commit-seconds S]\n"
    "                        [--network mainnet|testnet|regtest] [--progress|--quiet] [--json]\n"
    "                        [--no-exposure] PATH...\n"
    "PATH is a Bitcoin Core blocks/ directory (blk*.dat, xor.dat) or block files.\n"
    "Blocks may be in any order; the most-work chain is imported, stale blocks ignored;\n"
    "a heavier branch reorganises the store; an interrupted import resumes when rerun.\n"
    "Every header's proof of work and difficulty are checked under the store's network,\n"
    "recorded at its first import: --network, else what the genesis block declares\n"
    "(mainnet's or testnet3's genesis, or bits 0x207fffff for regtest-like rules).\n"
    "A new store gets an exposure index (docs/exposure.md), which every import then brings up\n"
    "to date after its blocks; --no-exposure makes a store without one (or leaves one behind).\n";

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"threads", required_argument, 0, 't'},
                                         {"no-verify-merkle", no_argument, 0, 'm'},
                                         {"commit-seconds", required_argument, 0, 'c'},
                                         {"progress", no_argument, 0, 'p'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"json", no_argument, 0, 'j'},
                                         {"stop-after", required_argument, 0, 's'},
                                         {"network", required_argument, 0, 'n'},
                                         {"no-exposure", no_argument, 0, 'x'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL;
    int json = 0, progress = isatty(2), exposure = 1;
    ingest_opts o;
    ingest_default_opts(&o);
    int c;
    uint64_t n;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 't':
            if (cli_parse_u64(optarg, &n) || n > 64) {
                fprintf(stderr, "cointrail: --threads: want 0 (one per core) to 64, not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            o.threads = (int)n;
            break;
        case 'm':
            o.verify_merkle = 0;
            break;
        case 'c':
            o.commit_seconds = atof(optarg);
            break;
        case 'p':
            progress = 1;
            break;
        case 'q':
            progress = 0;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            if (cli_parse_u64(optarg, &o.stop_after_blocks)) {
                fprintf(stderr, "cointrail: --stop-after: '%s' is not a block count\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 'n':
            o.network = btc_net_parse(optarg);
            if (!o.network) {
                fprintf(stderr,
                        "cointrail: --network: want mainnet, testnet or regtest, not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            break;
        case 'x':
            exposure = 0;
            break;
        case 'h':
            fputs(import_usage, stdout);
            return CLI_OK;
        default:
            fputs(import_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!db || optind >= argc) {
        fputs(import_usage, stderr);
        return CLI_USAGE;
    }
    o.progress = progress ? stderr : NULL;
    const char *crash = getenv("COINTRAIL_TEST_CRASH_AFTER"); /* crash-recovery tests only */
    if (crash) o.crash_after_blocks = strtoull(crash, NULL, 10);
    util_err err = {0};
    store *s;
    int rc = store_open(&s, db, STORE_WRITE | STORE_CREATE, &err);
    if (rc) return cli_fail(&err);
    /* Crash recovery needs no human: a `cluster` killed in its commit is put back here too. */
    if (cluster_recover(db, &err))
        fprintf(stderr, "cointrail: warning: %s (readers still see the last clustering)\n",
                err.msg);
    /* A store without blocks gets an exposure index before its first block, so an import
     * killed half way still has one to complete when rerun. */
    if (exposure && !store_get_totals(s)->blocks && !exposure_exists(db)) {
        exposure_writer *w;
        rc = exposure_writer_open(&w, db, EXPOSURE_CREATE, EXPOSURE_DEFAULT_FLOOR, &err);
        exposure_writer_close(w);
        if (rc) {
            store_close(s);
            return cli_fail(&err);
        }
    }
    ingest_result r;
    rc = ingest_run(s, (const char *const *)argv + optind, argc - optind, &o, &r, &err);
    /* The one exposure hook: after the blocks are committed, propagate them (a store made
     * before the index existed has none: `cointrail exposure build` makes it). */
    exposure_sync_result xr = {0};
    cli_exposure_opts xo = {0, EXPOSURE_DEFAULT_FLOOR, o.commit_seconds};
    if (!rc && exposure && exposure_exists(db) &&
        (rc = cli_exposure_update(db, s, NULL, &xo, NULL, &xr, &err)))
        util_err_prefix(&err, "blocks imported, but the exposure index was not brought up to date "
                              "(rerun the import or cointrail exposure build)");
    store_close(s);
    if (rc) return cli_fail(&err);
    if (json) {
        json_t *j = json_pack(
            "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s}", "files", (json_int_t)r.files,
            "bytes_scanned", (json_int_t)r.bytes_scanned, "headers_found",
            (json_int_t)r.headers_found, "stale_blocks", (json_int_t)r.stale_blocks,
            "orphan_blocks", (json_int_t)r.orphan_blocks, "blocks_removed",
            (json_int_t)r.blocks_removed, "blocks_added", (json_int_t)r.blocks_added, "txs_added",
            (json_int_t)r.txs_added, "bytes_added", (json_int_t)r.bytes_added, "blocks",
            (json_int_t)r.height, "seconds", r.seconds, "network", btc_net_name(r.network));
        json_t *phases =
            json_pack("{s:f,s:f,s:f,s:f}", "scan", r.scan_seconds, "wait_for_parse", r.wait_seconds,
                      "append", r.append_seconds, "commit", r.commit_seconds);
        json_object_set_new(j, "phase_seconds", phases);
        json_object_set_new(j, "exposure",
                            json_pack("{s:b, s:I, s:I, s:f, s:{s:f, s:f, s:f}}", "updated",
                                      xr.seconds > 0, "txs_added", (json_int_t)xr.txs_added,
                                      "blocks_removed", (json_int_t)xr.blocks_removed, "seconds",
                                      xr.seconds, "phase_seconds", "stops", xr.stops_seconds,
                                      "propagate", xr.forward_seconds, "commit",
                                      xr.commit_seconds));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("imported %llu blocks (%llu txs, %.1f MB) in %.2fs: %.1f MB/s, %.0f tx/s\n",
               (unsigned long long)r.blocks_added, (unsigned long long)r.txs_added,
               (double)r.bytes_added / 1e6, r.seconds,
               r.seconds > 0 ? (double)r.bytes_added / 1e6 / r.seconds : 0,
               r.seconds > 0 ? (double)r.txs_added / r.seconds : 0);
        printf("store now has %llu blocks; scanned %llu files, %llu block records",
               (unsigned long long)r.height, (unsigned long long)r.files,
               (unsigned long long)r.headers_found);
        if (r.stale_blocks) printf(", %llu stale", (unsigned long long)r.stale_blocks);
        if (r.orphan_blocks)
            printf(", %llu orphaned (parent unknown)", (unsigned long long)r.orphan_blocks);
        if (r.blocks_removed)
            printf(", reorganised away %llu", (unsigned long long)r.blocks_removed);
        printf("\n");
    }
    return CLI_OK;
}
