/* cointrail evm-import | evm-address | evm-tx | evm-stats: thin over src/evm. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "../evm/evm.h"
#include "../evmingest/evmingest.h"
#include "../evmquery/evmquery.h"
#include "cli.h"

static const char evm_usage[] =
    "usage: cointrail evm-import  --db DIR [--chain eth] [--commit-every N] [--json] "
    "FILE_OR_DIR...\n"
    "       cointrail evm-import  --db DIR [--chain eth] --rpc URL [--from N] [--to N|--follow]\n"
    "                             [--confirmations K] [--batch-blocks B] [--traces "
    "auto|trace_block|"
    "callTracer|none]\n"
    "                             [--timeout-ms MS] [--retries N] [--poll-ms MS] [--csv-out DIR] "
    "[--json]\n"
    "       cointrail evm-address --db DIR [--chain eth] [--offset N] [--limit N] [--json] "
    "0xADDRESS\n"
    "       cointrail evm-tx      --db DIR [--chain eth] [--json] 0xTXHASH\n"
    "       cointrail evm-stats   --db DIR [--chain eth] [--json]\n"
    "evm-import reads ethereum-etl CSV exports (blocks, transactions, receipts, logs,\n"
    "token_transfers, traces, tokens; recognised by their header row; a directory means its\n"
    "*.csv files). Nothing is written unless every file reads; blocks already stored are\n"
    "skipped, a stored block with another hash is replaced (reorganisation).\n"
    "With --rpc it reads a node's JSON-RPC instead, from the stored tip + 1, one commit per\n"
    "batch; --follow polls for new heads until SIGINT/SIGTERM; --csv-out DIR also appends the\n"
    "ethereum-etl rows of each committed batch to DIR/*.csv.\n"
    "After the import the EVM exposure index is brought up to date (--no-exposure: not).\n";

typedef struct evm_args {
    const char *db, *chain;
    int json;
    uint64_t offset, limit, commit_every;
    int first;
    const char *rpc, *traces, *csv_out;
    uint64_t from, to, confirmations, batch_blocks, timeout_ms, retries, poll_ms;
    int has_from, has_to, has_retries, follow;
    int no_exposure; /* evm-import: leave the EVM exposure index as it is */
} evm_args;

static int parse(int argc, char **argv, evm_args *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"offset", required_argument, 0, 'o'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"commit-every", required_argument, 0, 'n'},
                                         {"json", no_argument, 0, 'j'},
                                         {"rpc", required_argument, 0, 'R'},
                                         {"from", required_argument, 0, 'F'},
                                         {"to", required_argument, 0, 'T'},
                                         {"follow", no_argument, 0, 'W'},
                                         {"confirmations", required_argument, 0, 'K'},
                                         {"batch-blocks", required_argument, 0, 'B'},
                                         {"traces", required_argument, 0, 'X'},
                                         {"csv-out", required_argument, 0, 'O'},
                                         {"timeout-ms", required_argument, 0, 'M'},
                                         {"retries", required_argument, 0, 'Y'},
                                         {"poll-ms", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {"no-exposure", no_argument, 0, 'E'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->chain = "eth";
    a->limit = 50;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->db = optarg;
            break;
        case 'c':
            a->chain = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'E':
            a->no_exposure = 1;
            break;
        case 'o':
        case 'l':
        case 'n': {
            uint64_t *dst = c == 'o' ? &a->offset : c == 'l' ? &a->limit : &a->commit_every;
            const char *name = c == 'o' ? "offset" : c == 'l' ? "limit" : "commit-every";
            if (cli_opt_u64(name, optarg, "a count", dst)) return CLI_USAGE;
            break;
        }
        case 'R':
            a->rpc = optarg;
            break;
        case 'X':
            a->traces = optarg;
            break;
        case 'O':
            a->csv_out = optarg;
            break;
        case 'W':
            a->follow = 1;
            break;
        case 'F':
        case 'T':
        case 'K':
        case 'B':
        case 'M':
        case 'Y':
        case 'P': {
            static const char keys[] = "FTKBMYP";
            static const char *const names[] = {
                "from", "to", "confirmations", "batch-blocks", "timeout-ms", "retries", "poll-ms"};
            uint64_t *dst[] = {&a->from,       &a->to,      &a->confirmations, &a->batch_blocks,
                               &a->timeout_ms, &a->retries, &a->poll_ms};
            int k = (int)(strchr(keys, c) - keys);
            if (cli_opt_u64(names[k], optarg, "a number", dst[k])) return CLI_USAGE;
            a->has_from |= c == 'F';
            a->has_to |= c == 'T';
            a->has_retries |= c == 'Y';
            break;
        }
        case 'h':
            fputs(evm_usage, stdout);
            return -1;
        default:
            fputs(evm_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!a->db) {
        fprintf(stderr, "cointrail: %s: --db DIR is required\n%s", argv[0], evm_usage);
        return CLI_USAGE;
    }
    a->first = optind;
    return 0;
}

/* evm-import takes files, or --rpc and none */
static int a_rpc_given(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--rpc") || !strncmp(argv[i], "--rpc=", 6)) return 1;
    return 0;
}

/* Parse args; on a non-zero return *exit_code is what main returns. */
static int start(int argc, char **argv, evm_args *a, int positional, int *exit_code)
{
    int rc = parse(argc, argv, a);
    if (rc) {
        *exit_code = rc < 0 ? CLI_OK : rc;
        return 1;
    }
    if ((positional == 1 && argc - a->first != 1) || (positional == 0 && argc != a->first) ||
        (positional == 2 && argc == a->first)) {
        fprintf(stderr, "cointrail: %s: wrong number of arguments\n%s", argv[0], evm_usage);
        *exit_code = CLI_USAGE;
        return 1;
    }
    return 0;
}

/* --follow and a long import stop between batches on SIGINT/SIGTERM: the signals are blocked
 * and collected here, so no handler and no global flag. */
static int rpc_wait(void *ctx, long ms)
{
    const sigset_t *set = ctx;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return sigtimedwait(set, NULL, &ts) > 0;
}

static int evm_import_rpc(const evm_args *a)
{
    evm_rpc_import_opts o = {.from = a->from,
                             .has_from = a->has_from,
                             .to = a->to,
                             .has_to = a->has_to,
                             .follow = a->follow,
                             .confirmations = a->confirmations,
                             .batch_blocks = a->batch_blocks,
                             .poll_ms = (long)a->poll_ms,
                             .csv_out = a->csv_out};
    static const char *const tnames[] = {"auto", "trace_block", "callTracer", "none"};
    size_t ti = 0;
    while (a->traces && ti < 4 && strcmp(a->traces, tnames[ti]))
        ti++;
    if (ti == 4) {
        fprintf(stderr, "cointrail: --traces '%s': auto, trace_block, callTracer or none\n",
                a->traces);
        return CLI_USAGE;
    }
    if (a->follow && a->has_to) {
        fprintf(stderr, "cointrail: evm-import: --to and --follow exclude each other\n");
        return CLI_USAGE;
    }
    o.traces = (evm_rpc_traces)ti;
    const char *crash = getenv("COINTRAIL_TEST_EVM_CRASH_AFTER"); /* crash-recovery tests only */
    if (crash) o.crash_after = strtoull(crash, NULL, 10);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    o.wait = rpc_wait, o.wait_ctx = &set;
    evm_rpc_opts ro = {.timeout_ms = (long)a->timeout_ms,
                       .retries = a->has_retries ? (a->retries ? (int)a->retries : -1) : 0};
    util_err err = {0};
    evm_rpc *c;
    if (evm_rpc_open(&c, a->rpc, &ro, &err)) return cli_fail(&err);
    evm_store *s;
    int rc = evm_store_open(&s, a->db, a->chain, EVM_STORE_WRITE | EVM_STORE_CREATE, &err);
    if (rc) {
        evm_rpc_close(c);
        return cli_fail(&err);
    }
    const char *crash_in = getenv("COINTRAIL_TEST_EVM_CRASH_IN_COMMIT");
    if (crash_in) evm_store_test_crash_in_commit(s, strtoull(crash_in, NULL, 10));
    evm_rpc_import_result r;
    rc = evm_rpc_import(s, c, &o, &r, &err);
    if (!rc && !a->no_exposure) rc = cli_evm_exposure_update(a->db, s, a->json, &err);
    uint64_t first = 0, nb = 0;
    uint8_t tip[32];
    evm_store_tip(s, &first, &nb, tip);
    evm_store_close(s);
    evm_rpc_close(c);
    if (rc) return cli_fail(&err);
    if (a->json) {
        json_t *j = json_pack(
            "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:b,s:I,s:I}", "chain", a->chain,
            "rpc", a->rpc, "head", (json_int_t)r.head, "batches", (json_int_t)r.batches,
            "rpc_calls", (json_int_t)r.rpc_calls, "blocks_added", (json_int_t)r.r.blocks_added,
            "blocks_removed", (json_int_t)r.r.blocks_removed, "reorgs", (json_int_t)r.reorgs,
            "txs_added", (json_int_t)r.r.txs_added, "transfers_added", (json_int_t)r.r.xfers_added,
            "commits", (json_int_t)r.r.commits, "traces", r.traces, "stopped", r.stopped,
            "first_block", (json_int_t)first, "blocks", (json_int_t)nb);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s: node head %llu; added %llu blocks (%llu txs, %llu transfers) in %llu "
               "batches, %llu calls; traces from %s",
               a->chain, (unsigned long long)r.head, (unsigned long long)r.r.blocks_added,
               (unsigned long long)r.r.txs_added, (unsigned long long)r.r.xfers_added,
               (unsigned long long)r.batches, (unsigned long long)r.rpc_calls, r.traces);
        if (r.r.blocks_removed)
            printf(", replaced %llu (%llu reorganisations)", (unsigned long long)r.r.blocks_removed,
                   (unsigned long long)r.reorgs);
        if (r.stopped) printf(", stopped by a signal");
        printf("\n");
        if (nb)
            printf("store has blocks %llu to %llu\n", (unsigned long long)first,
                   (unsigned long long)(first + nb - 1));
    }
    return CLI_OK;
}

int cmd_evm_import(int argc, char **argv)
{
    evm_args a;
    int code;
    if (start(argc, argv, &a, a_rpc_given(argc, argv) ? 0 : 2, &code)) return code;
    if (a.rpc) return evm_import_rpc(&a);
    evm_import_opts o = {.commit_every = a.commit_every};
    const char *crash = getenv("COINTRAIL_TEST_EVM_CRASH_AFTER"); /* crash-recovery tests only */
    if (crash) o.crash_after = strtoull(crash, NULL, 10);
    util_err err = {0};
    evm_store *s;
    int rc = evm_store_open(&s, a.db, a.chain, EVM_STORE_WRITE | EVM_STORE_CREATE, &err);
    if (rc) return cli_fail(&err);
    const char *crash_in = getenv("COINTRAIL_TEST_EVM_CRASH_IN_COMMIT");
    if (crash_in) evm_store_test_crash_in_commit(s, strtoull(crash_in, NULL, 10));
    evm_import_result r;
    rc = evm_import(s, (const char *const *)argv + a.first, (size_t)(argc - a.first), &o, &r, &err);
    /* the EVM exposure index follows the committed blocks (docs/exposure.md, "EVM chains") */
    if (!rc && !a.no_exposure) rc = cli_evm_exposure_update(a.db, s, a.json, &err);
    uint64_t first = 0, nb = 0;
    uint8_t tip[32];
    evm_store_tip(s, &first, &nb, tip);
    evm_store_close(s);
    if (rc) return cli_fail(&err);
    if (a.json) {
        json_t *j = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "chain", a.chain, "files",
            (json_int_t)r.files, "blocks_read", (json_int_t)r.blocks_read, "blocks_skipped",
            (json_int_t)r.blocks_skipped, "blocks_added", (json_int_t)r.blocks_added,
            "blocks_removed", (json_int_t)r.blocks_removed, "txs_added", (json_int_t)r.txs_added,
            "transfers_added", (json_int_t)r.xfers_added, "tokens", (json_int_t)r.tokens_set,
            "blocks", (json_int_t)nb);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s: read %llu files, %llu blocks; added %llu blocks (%llu txs, %llu transfers)",
               a.chain, (unsigned long long)r.files, (unsigned long long)r.blocks_read,
               (unsigned long long)r.blocks_added, (unsigned long long)r.txs_added,
               (unsigned long long)r.xfers_added);
        if (r.blocks_skipped)
            printf(", skipped %llu already stored", (unsigned long long)r.blocks_skipped);
        if (r.blocks_removed)
            printf(", replaced %llu (reorganisation)", (unsigned long long)r.blocks_removed);
        if (r.tokens_set) printf(", %llu token entries", (unsigned long long)r.tokens_set);
        printf("\n");
        if (nb)
            printf("store has blocks %llu to %llu\n", (unsigned long long)first,
                   (unsigned long long)(first + nb - 1));
    }
    return CLI_OK;
}

static int open_ro(const evm_args *a, evm_store **s)
{
    util_err err = {0};
    int rc = evm_store_open(s, a->db, a->chain, 0, &err);
    return rc ? cli_fail(&err) : 0;
}

static void print_xfer(json_t *x)
{
    const char *dir = json_string_value(json_object_get(x, "direction"));
    const char *sym = json_string_value(json_object_get(x, "symbol"));
    const char *tok = json_string_value(json_object_get(x, "token"));
    const char *from = json_string_value(json_object_get(x, "from"));
    const char *to = json_string_value(json_object_get(x, "to"));
    printf("  %-10s", json_string_value(json_object_get(x, "kind")));
    if (dir) printf(" %-4s", dir);
    printf(" block %lld  %s %s  %s -> %s",
           (long long)json_integer_value(json_object_get(x, "block")),
           json_string_value(json_object_get(x, "amount")), tok ? (sym ? sym : tok) : "wei",
           from ? from : "(none)", to ? to : "(none)");
    const char *tx = json_string_value(json_object_get(x, "tx"));
    if (tx) printf("  tx %s", tx);
    printf("\n");
}

int cmd_evm_address(int argc, char **argv)
{
    evm_args a;
    int code;
    if (start(argc, argv, &a, 1, &code)) return code;
    util_err err = {0};
    uint8_t addr[20];
    const char *arg = argv[a.first];
    if (evm_addr_parse(addr, arg, strlen(arg), &err)) {
        fprintf(stderr, "cointrail: evm-address: '%s': %s\n", arg, err.msg);
        return CLI_USAGE;
    }
    evm_store *s;
    int rc = open_ro(&a, &s);
    if (rc) return rc;
    json_t *j;
    rc = evm_query_address(s, addr, (size_t)a.offset, (size_t)a.limit, &j, &err);
    evm_store_close(s);
    if (rc) return cli_fail(&err);
    if (a.json) {
        cli_print_json(j);
    } else {
        printf("%s address %s\n", json_string_value(json_object_get(j, "chain")),
               json_string_value(json_object_get(j, "address")));
        if (json_is_true(json_object_get(j, "partial_history")))
            printf("partial history: the store does not start at block 0, so balances count "
                   "only the transfers stored\n");
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(j, "balances"), i, b)
        {
            const char *tok = json_string_value(json_object_get(b, "token"));
            const char *sym = json_string_value(json_object_get(b, "symbol"));
            printf("  %-12s balance %s  received %s  sent %s",
                   tok ? (sym ? sym : "token") : "native (wei)",
                   json_string_value(json_object_get(b, "balance")),
                   json_string_value(json_object_get(b, "received")),
                   json_string_value(json_object_get(b, "sent")));
            if (!tok) printf("  fees %s", json_string_value(json_object_get(b, "fees")));
            if (tok) printf("  %s", tok);
            printf("\n");
        }
        printf("%lld transfers, newest first (offset %lld):\n",
               (long long)json_integer_value(json_object_get(j, "transfer_count")),
               (long long)a.offset);
        json_array_foreach(json_object_get(j, "transfers"), i, b) print_xfer(b);
    }
    json_decref(j);
    return CLI_OK;
}

int cmd_evm_tx(int argc, char **argv)
{
    evm_args a;
    int code;
    if (start(argc, argv, &a, 1, &code)) return code;
    util_err err = {0};
    uint8_t h[32];
    const char *arg = argv[a.first];
    if (evm_hash_parse(h, arg, strlen(arg), &err)) {
        fprintf(stderr, "cointrail: evm-tx: '%s': %s\n", arg, err.msg);
        return CLI_USAGE;
    }
    evm_store *s;
    int rc = open_ro(&a, &s);
    if (rc) return rc;
    json_t *j;
    rc = evm_query_tx(s, h, &j, &err);
    evm_store_close(s);
    if (rc) return cli_fail(&err);
    if (a.json) {
        cli_print_json(j);
    } else {
        const char *to = json_string_value(json_object_get(j, "to"));
        const char *fee = json_string_value(json_object_get(j, "fee"));
        printf("tx %s\nblock %lld index %lld  status %s\nfrom %s\nto   %s%s\nvalue %s wei\n"
               "fee   %s\n",
               json_string_value(json_object_get(j, "hash")),
               (long long)json_integer_value(json_object_get(j, "block")),
               (long long)json_integer_value(json_object_get(j, "index")),
               json_string_value(json_object_get(j, "status")),
               json_string_value(json_object_get(j, "from")), to ? to : "(none)",
               json_is_true(json_object_get(j, "creation")) ? " (contract creation)" : "",
               json_string_value(json_object_get(j, "value")),
               fee ? fee : "unknown (no receipt imported)");
        size_t i;
        json_t *x;
        printf("%zu transfers:\n", json_array_size(json_object_get(j, "transfers")));
        json_array_foreach(json_object_get(j, "transfers"), i, x) print_xfer(x);
        json_array_foreach(json_object_get(j, "events"), i, x)
        {
            const char *k, *f;
            json_t *v;
            printf("event %s (log %lld):", json_string_value(json_object_get(x, "kind")),
                   (long long)json_integer_value(json_object_get(x, "log_index")));
            json_object_foreach(x, k, v)
            {
                if (!strcmp(k, "kind") || !strcmp(k, "log_index")) continue;
                f = json_string_value(v);
                printf(" %s=%s", k, f ? f : "?");
            }
            printf("\n");
        }
    }
    json_decref(j);
    return CLI_OK;
}

int cmd_evm_stats(int argc, char **argv)
{
    evm_args a;
    int code;
    if (start(argc, argv, &a, 0, &code)) return code;
    evm_store *s;
    int rc = open_ro(&a, &s);
    if (rc) return rc;
    util_err err = {0};
    json_t *j;
    rc = evm_query_stats(s, &j, &err);
    evm_store_close(s);
    if (rc) return cli_fail(&err);
    if (a.json) {
        cli_print_json(j);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (json_is_object(v)) {
                const char *k2;
                json_t *v2;
                printf("%s:", k);
                json_object_foreach(v, k2, v2)
                    printf(" %s=%lld", k2, (long long)json_integer_value(v2));
                printf("\n");
            } else {
                char *t = json_dumps(v, JSON_ENCODE_ANY);
                printf("%s: %s\n", k, t ? t : "?");
                free(t);
            }
        }
    }
    json_decref(j);
    return CLI_OK;
}
