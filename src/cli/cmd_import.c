#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "../ingest/ingest.h"
#include "../store/store.h"
#include "cli.h"

static const char import_usage[] =
    "usage: cointrail import --db DIR [--threads N] [--no-verify-merkle] [--commit-seconds S]\n"
    "                        [--network mainnet|testnet|regtest] [--progress|--quiet] [--json]\n"
    "                        [--no-exposure] [--memory SIZE | --no-bulk] PATH...\n"
    "       cointrail import --db DIR --follow [--poll-ms MS] [--settle S] [--json]\n"
    "                        [--no-exposure] BLOCKS_DIR\n"
    "PATH is a Bitcoin Core blocks/ directory (blk*.dat, xor.dat) or block files.\n"
    "Blocks may be in any order; the most-work chain is imported, stale blocks ignored;\n"
    "a heavier branch reorganises the store; an interrupted import resumes when rerun.\n"
    "Every header's proof of work and difficulty are checked under the store's network,\n"
    "recorded at its first import: --network, else what the genesis block declares\n"
    "(mainnet's or testnet3's genesis, or bits 0x207fffff for regtest-like rules).\n"
    "Every block's merkle root and witness commitment (BIP 141) are checked unless\n"
    "--no-verify-merkle.\n"
    "Work is committed every --commit-seconds (5), or 4x the last commit's time if\n"
    "that is longer, so commits stay under a fifth of the import; 0: after every block.\n"
    "--follow keeps the store current from a running node's blocks directory until\n"
    "SIGINT/SIGTERM: new records and blk files are seen at once (inotify, else every\n"
    "--poll-ms, 250) and committed once per poll; a record the node is still writing is\n"
    "waited for (reported after --settle seconds, 10, without change), a complete corrupt\n"
    "one is an error. With --json, one line per commit: {\"height\", \"blocks_added\",\n"
    "\"blocks_removed\", \"txs_added\", \"time\" (unix seconds), \"seconds\"}, then the summary.\n"
    "A first import into an empty store is built by sorting and streaming (the bulk path,\n"
    "docs/performance.md, \"Bulk import\"): the same store, byte for byte, as block by\n"
    "block, committed once at the end; an interrupted one resumes when rerun after its last\n"
    "block was added (from a checkpoint of the blocks, kept until the commit), else starts\n"
    "again (said on stderr). A store with blocks is caught up block by block. --no-bulk (or\n"
    "--commit-seconds, whose periodic commits only the block-by-block path makes) imports an\n"
    "empty store block by block too; --bulk, the default, is still accepted. --memory SIZE\n"
    "(K, M, G suffixes; at least\n"
    "1M) bounds its sort records: what does not fit is spilled as sorted runs to temp files\n"
    "in the store directory (bulk-*.tmp) and merged; by default a quarter of the physical\n"
    "memory. The columns are memory-mapped files besides (page cache, not the budget).\n"
    "A new store gets an exposure index (docs/exposure.md), which every import (every commit\n"
    "with --follow) then brings up to date after its blocks; --no-exposure makes a store\n"
    "without one (or leaves an existing one behind: cointrail exposure build catches up).\n";

/* --follow stops on SIGINT/SIGTERM: the signals are blocked and read from a signalfd, polled
 * beside the directory's inotify descriptor, so no handler and no global flag. */
static int follow_wait(void *ctx, int fd, long ms)
{
    int sfd = *(int *)ctx;
    struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n = poll(p, fd >= 0 ? 2 : 1, (int)ms);
    if (n > 0 && (p[0].revents & POLLIN)) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) return 1;
    }
    return 0;
}

/* What a --follow round needs: the output mode and the exposure index to bring along. */
typedef struct follow_ctx {
    int json, exposure;
    const char *db;
    store *s;
    cli_exposure_opts xo;
    exposure_sync_result xr; /* summed over the rounds */
} follow_ctx;

/* The exposure hook: after the blocks are committed, propagate them (a store made before the
 * index existed has none: `cointrail exposure build` makes it). */
static int exposure_hook(const char *db, store *s, int exposure, const cli_exposure_opts *xo,
                         exposure_sync_result *sum, util_err *err)
{
    if (!exposure || !exposure_exists(db)) return 0;
    exposure_sync_result xr;
    int rc = cli_exposure_update(db, s, NULL, xo, NULL, &xr, err);
    if (rc)
        return util_err_prefix(err, "blocks imported, but the exposure index was not brought up "
                                    "to date (rerun the import or cointrail exposure build)");
    sum->txs_added += xr.txs_added, sum->blocks_removed += xr.blocks_removed;
    sum->seconds += xr.seconds, sum->stops_seconds += xr.stops_seconds;
    sum->forward_seconds += xr.forward_seconds, sum->commit_seconds += xr.commit_seconds;
    return 0;
}

static void print_round(void *ctx, const ingest_round *r)
{
    follow_ctx *fc = ctx;
    util_err err = {0};
    /* a failure leaves the index behind (screening traces past it); the next round retries */
    if (exposure_hook(fc->db, fc->s, fc->exposure, &fc->xo, &fc->xr, &err))
        fprintf(stderr, "cointrail: warning: %s\n", err.msg);
    if (fc->json) {
        json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:f,s:f}", "height", (json_int_t)r->height,
                              "blocks_added", (json_int_t)r->blocks_added, "blocks_removed",
                              (json_int_t)r->blocks_removed, "txs_added", (json_int_t)r->txs_added,
                              "time", r->unix_time, "seconds", r->seconds);
        char *line = json_dumps(j, JSON_COMPACT);
        if (line) printf("%s\n", line);
        free(line);
        json_decref(j);
    } else {
        printf("follow: %llu blocks (+%llu", (unsigned long long)r->height,
               (unsigned long long)r->blocks_added);
        if (r->blocks_removed) printf(", -%llu reorganised", (unsigned long long)r->blocks_removed);
        printf(", %llu txs) committed in %.3fs\n", (unsigned long long)r->txs_added, r->seconds);
    }
    fflush(stdout);
}

/* "4G", "512M", "65536K", "1048576": bytes, the suffixes binary (K = 1024). */
static int parse_size(const char *arg, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || arg[0] == '-') return -1;
    static const char units[] = "KMGT"; /* K = 2^10, each next one 2^10 more */
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    int shift = u ? 10 * (int)(u - units + 1) : 0;
    if (u) end++;
    if (*end || v > (UINT64_MAX >> shift)) return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

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
                                         {"follow", no_argument, 0, 'f'},
                                         {"poll-ms", required_argument, 0, 'P'},
                                         {"settle", required_argument, 0, 'S'},
                                         {"no-exposure", no_argument, 0, 'x'},
                                         {"bulk", no_argument, 0, 'B'},
                                         {"no-bulk", no_argument, 0, 'I'},
                                         {"memory", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL;
    int json = 0, progress = isatty(2), follow = 0, exposure = 1;
    ingest_follow_opts fo = {0};
    ingest_opts o;
    ingest_default_opts(&o);
    /* -1: not asked; the bulk path unless --commit-seconds asks for periodic commits */
    int bulk = -1, commit_given = 0, memory_given = 0;
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
            commit_given = 1;
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
            if (cli_opt_u64("stop-after", optarg, "a block count", &o.stop_after_blocks))
                return CLI_USAGE;
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
        case 'f':
            follow = 1;
            break;
        case 'x':
            exposure = 0;
            break;
        case 'P':
            if (cli_parse_u64(optarg, &n) || n < 1 || n > 60000) {
                fprintf(stderr, "cointrail: --poll-ms: want 1 to 60000, not '%s'\n", optarg);
                return CLI_USAGE;
            }
            fo.poll_ms = (long)n;
            break;
        case 'S':
            if (cli_parse_u64(optarg, &n) || n < 1 || n > 86400) {
                fprintf(stderr, "cointrail: --settle: want 1 to 86400 seconds, not '%s'\n", optarg);
                return CLI_USAGE;
            }
            fo.settle_seconds = (double)n;
            break;
        case 'B':
            bulk = 1;
            break;
        case 'I':
            bulk = 0;
            break;
        case 'M':
            if (parse_size(optarg, &o.memory) || o.memory < STORE_BULK_MIN_MEMORY) {
                fprintf(stderr,
                        "cointrail: --memory: want a size of at least 1M (bytes, or with a K, M or "
                        "G suffix), not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            memory_given = 1;
            break;
        default:
            return cli_usage(import_usage, c == 'h');
        }
    }
    if (!db || optind >= argc) {
        fputs(import_usage, stderr);
        return CLI_USAGE;
    }
    if (bulk == 1 && commit_given) {
        fprintf(stderr, "cointrail: --bulk commits once, at the end: --commit-seconds is for the "
                        "block-by-block path (--no-bulk)\n");
        return CLI_USAGE;
    }
    o.bulk = bulk >= 0 ? bulk : !commit_given;
    if (!o.bulk && memory_given) {
        fprintf(stderr, "cointrail: --memory bounds the bulk path's sorts: not with %s\n",
                commit_given ? "--commit-seconds" : "--no-bulk");
        return CLI_USAGE;
    }
    if (follow && (argc - optind != 1 || o.stop_after_blocks)) {
        fprintf(stderr, "cointrail: --follow takes one blocks directory and no --stop-after\n");
        return CLI_USAGE;
    }
    o.progress = progress ? stderr : NULL;
    const char *crash = getenv("COINTRAIL_TEST_CRASH_AFTER"); /* crash-recovery tests only */
    if (crash) o.crash_after_blocks = strtoull(crash, NULL, 10);
    const char *phase = getenv("COINTRAIL_TEST_BULK_CRASH_PHASE"); /* likewise */
    if (phase) o.bulk_crash_phase = atoi(phase);
    const char *every = getenv("COINTRAIL_TEST_BULK_CHECKPOINT_BLOCKS"); /* likewise */
    if (every) o.bulk_checkpoint_blocks = strtoull(every, NULL, 10);
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
    follow_ctx fc = {json, exposure, db, s, {0, EXPOSURE_DEFAULT_FLOOR, o.commit_seconds}, {0}};
    ingest_result r;
    if (follow) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sfd = signalfd(-1, &set, SFD_CLOEXEC);
        if (sfd < 0) {
            store_close(s);
            fprintf(stderr, "cointrail: signalfd: %s\n", strerror(errno));
            return CLI_ERROR;
        }
        o.wait = follow_wait, o.wait_ctx = &sfd;
        fo.on_round = print_round, fo.round_ctx = &fc, fo.log = stderr;
        rc = ingest_follow(s, argv[optind], &o, &fo, &r, &err);
        close(sfd);
    } else {
        rc = ingest_run(s, (const char *const *)argv + optind, argc - optind, &o, &r, &err);
        if (r.bulk_note[0]) fprintf(stderr, "cointrail: %s\n", r.bulk_note);
        if (!rc) rc = exposure_hook(db, s, exposure, &fc.xo, &fc.xr, &err);
    }
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
        if (follow) json_object_set_new(j, "commits", json_integer((json_int_t)r.commits));
        json_t *phases =
            json_pack("{s:f,s:f,s:f,s:f}", "scan", r.scan_seconds, "wait_for_parse", r.wait_seconds,
                      "append", r.append_seconds, "commit", r.commit_seconds);
        if (r.bulk) {
            json_t *bp = json_object();
            for (int i = 0; i < STORE_BULK_PHASES; i++)
                json_object_set_new(bp, store_bulk_phase_names[i], json_real(r.bulk_seconds[i]));
            json_object_set_new(phases, "bulk_finish", bp);
            json_object_set_new(phases, "bulk_blocks", json_real(r.bulk_blocks_seconds));
            json_object_set_new(j, "resumed_from",
                                r.bulk_resumed == 1   ? json_string("blocks")
                                : r.bulk_resumed == 2 ? json_string("block_loop")
                                                      : json_null());
            const store_bulk_mem *m = &r.bulk_mem;
            json_object_set_new(
                j, "bulk_memory",
                json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "budget", (json_int_t)m->budget,
                          "sort_heap_peak", (json_int_t)m->sort_heap_peak, "spilled_bytes",
                          (json_int_t)m->spilled_bytes, "rss_anon_peak",
                          (json_int_t)m->rss_anon_peak, "map_drops", (json_int_t)m->map_drops,
                          "keys_sorted", (json_int_t)m->keys_sorted));
        }
        json_object_set_new(j, "phase_seconds", phases);
        const exposure_sync_result *xr = &fc.xr;
        json_object_set_new(j, "exposure",
                            json_pack("{s:b, s:I, s:I, s:f, s:{s:f, s:f, s:f}}", "updated",
                                      xr->seconds > 0, "txs_added", (json_int_t)xr->txs_added,
                                      "blocks_removed", (json_int_t)xr->blocks_removed, "seconds",
                                      xr->seconds, "phase_seconds", "stops", xr->stops_seconds,
                                      "propagate", xr->forward_seconds, "commit",
                                      xr->commit_seconds));
        if (follow) { /* after the per-commit lines: one line too, so stdout stays JSON Lines */
            char *line = json_dumps(j, JSON_COMPACT);
            if (line) printf("%s\n", line);
            free(line);
        } else {
            cli_print_json(j);
        }
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
        if (follow)
            printf("stopped by a signal after %llu commits\n", (unsigned long long)r.commits);
    }
    return CLI_OK;
}
