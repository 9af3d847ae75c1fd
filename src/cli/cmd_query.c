#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../query/query.h"
#include "../store/store.h"
#include "cli.h"

typedef struct query_args {
    const char *db;
    int json, recompute;
    size_t offset, limit;
    const char *arg;   /* the positional argument, if one is wanted */
    int need_clusters; /* fail when the entities cannot be opened (instead of leaving them out) */
} query_args;

static int parse_query_args(int argc, char **argv, const char *usage, int want_arg, query_args *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {"recompute", no_argument, 0, 'r'},
                                         {"offset", required_argument, 0, 'o'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->limit = 100;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->db = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'r':
            a->recompute = 1;
            break;
        case 'o':
        case 'l': {
            uint64_t n;
            if (cli_parse_u64(optarg, &n)) {
                fprintf(stderr, "cointrail: --%s: '%s' is not a count\n",
                        c == 'o' ? "offset" : "limit", optarg);
                return CLI_USAGE;
            }
            *(c == 'o' ? &a->offset : &a->limit) = (size_t)n;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!a->db || (want_arg && optind != argc - 1) || (!want_arg && optind != argc)) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (want_arg) a->arg = argv[optind];
    return 0;
}

static const char *str_of(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "-";
}

static long long int_of(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void print_btc(const char *label, long long sat)
{
    printf("%-20s %lld sat (%lld.%08lld BTC)\n", label, sat, sat / 100000000,
           (sat < 0 ? -sat : sat) % 100000000);
}

/* One line per label: category, name, actor, source, confidence, and with show_address the
 * address that carries it (for labels extended to an entity). */
static void print_labels(const char *title, json_t *labels, int show_address)
{
    if (!json_array_size(labels)) return;
    printf("%s:\n", title);
    size_t i;
    json_t *l;
    json_array_foreach(labels, i, l)
    {
        char b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
        printf("    %-11s %s", labels_text_escape(b[0], sizeof b[0], str_of(l, "category")),
               labels_text_escape(b[1], sizeof b[1], str_of(l, "name")));
        if (json_object_get(l, "actor"))
            printf("  actor %s", labels_text_escape(b[0], sizeof b[0], str_of(l, "actor")));
        printf("  (%s, confidence %lld)",
               labels_text_escape(b[0], sizeof b[0], str_of(l, "source")), int_of(l, "confidence"));
        if (show_address)
            printf("  on %s", labels_text_escape(b[0], sizeof b[0], str_of(l, "address")));
        printf("\n");
    }
}

/* Run one query against a read-only store, with its labels and entities when there are any,
 * and print it. */
static int run_query(const query_args *a,
                     int (*fn)(const query_ctx *, const query_args *, json_t **, util_err *),
                     void (*human)(json_t *))
{
    util_err err = {0};
    cli_ctx c;
    int rc = cli_open_ctx(&c, a->db, a->need_clusters, &err);
    if (rc) return cli_fail(&err);
    query_ctx q = {c.s, c.labels, c.clusters};
    json_t *doc = NULL;
    rc = fn(&q, a, &doc, &err);
    cli_close_ctx(&c);
    if (rc) return cli_fail(&err);
    if (a->json)
        cli_print_json(doc);
    else
        human(doc);
    json_decref(doc);
    return CLI_OK;
}

static int stats_fn(const query_ctx *q, const query_args *a, json_t **out, util_err *err)
{
    return query_stats(q->s, a->recompute, out, err);
}

static void stats_human(json_t *d)
{
    printf("%-20s %lld\n", "blocks", int_of(d, "blocks"));
    printf("%-20s %s\n", "tip_hash", str_of(d, "tip_hash"));
    const char *counts[] = {"txs",       "inputs",     "outputs",
                            "addresses", "utxo_count", "unresolved_inputs"};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        printf("%-20s %lld\n", counts[i], int_of(d, counts[i]));
    print_btc("total_output_value", int_of(d, "total_output_value"));
    print_btc("total_fees", int_of(d, "total_fees"));
    print_btc("utxo_value", int_of(d, "utxo_value"));
    printf("outputs_by_type:\n");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(d, "outputs_by_type"), k, v) if (json_integer_value(v))
        printf("  %-18s %lld\n", k, (long long)json_integer_value(v));
}

int cmd_stats(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(argc, argv,
                              "usage: cointrail stats --db DIR [--json] [--recompute]\n", 0, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    return run_query(&a, stats_fn, stats_human);
}

static int tx_fn(const query_ctx *q, const query_args *a, json_t **out, util_err *err)
{
    return query_tx(q, a->arg, out, err);
}

static void tx_human(json_t *d)
{
    printf("tx %s\n", str_of(d, "txid"));
    printf("  block %lld (%s), size %lld, vsize %lld\n", int_of(d, "block_height"),
           str_of(d, "block_hash"), int_of(d, "size"), int_of(d, "vsize"));
    size_t i;
    json_t *e;
    printf("  inputs:\n");
    json_array_foreach(json_object_get(d, "inputs"), i, e)
    {
        if (json_is_true(json_object_get(e, "coinbase")))
            printf("    #%zu coinbase\n", i);
        else if (json_is_true(json_object_get(e, "unresolved")))
            printf("    #%zu %s:%lld  (unresolved: not in the store)\n", i, str_of(e, "prev_txid"),
                   int_of(e, "vout"));
        else
            printf("    #%zu %s:%lld  %lld sat  %s\n", i, str_of(e, "prev_txid"), int_of(e, "vout"),
                   int_of(e, "value"), str_of(e, "address"));
        print_labels("      labels", json_object_get(e, "labels"), 0);
    }
    printf("  outputs:\n");
    json_array_foreach(json_object_get(d, "outputs"), i, e)
    {
        json_t *sp = json_object_get(e, "spent_by");
        printf("    #%lld %lld sat  %-8s %s  %s%s\n", int_of(e, "n"), int_of(e, "value"),
               str_of(e, "type"), str_of(e, "address"), json_is_null(sp) ? "unspent" : "spent by ",
               json_is_null(sp) ? "" : json_string_value(sp));
        print_labels("      labels", json_object_get(e, "labels"), 0);
    }
    json_t *fee = json_object_get(d, "fee");
    if (json_is_null(fee))
        printf("  fee: unknown (unresolved inputs)\n");
    else
        printf("  fee: %lld sat\n", (long long)json_integer_value(fee));
}

int cmd_tx(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(argc, argv, "usage: cointrail tx --db DIR [--json] TXID\n", 1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    return run_query(&a, tx_fn, tx_human);
}

static int address_fn(const query_ctx *q, const query_args *a, json_t **out, util_err *err)
{
    return query_address(q, a->arg, a->offset, a->limit, out, err);
}

static void address_human(json_t *d)
{
    printf("address %s (%s)\n", str_of(d, "address"), str_of(d, "type"));
    print_btc("  received", int_of(d, "received"));
    print_btc("  sent", int_of(d, "sent"));
    print_btc("  balance", int_of(d, "balance"));
    print_labels("  labels", json_object_get(d, "labels"), 0);
    json_t *entity = json_object_get(d, "entity");
    if (json_is_object(entity)) {
        printf("  entity %lld (cointrail entity --db DIR %lld)\n", int_of(entity, "id"),
               int_of(entity, "id"));
        print_labels("  entity labels", json_object_get(entity, "labels"), 1);
    }
    printf("  %lld txs, %lld outputs (newest first, from #%lld):\n", int_of(d, "tx_count"),
           int_of(d, "output_count"), int_of(d, "offset"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(d, "outputs"), i, e)
    {
        json_t *sp = json_object_get(e, "spent_by");
        printf("    %s:%lld  height %lld  %lld sat  %s%s\n", str_of(e, "txid"), int_of(e, "n"),
               int_of(e, "height"), int_of(e, "value"), json_is_null(sp) ? "unspent" : "spent by ",
               json_is_null(sp) ? "" : json_string_value(sp));
    }
}

int cmd_address(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(
        argc, argv, "usage: cointrail address --db DIR [--json] [--offset N] [--limit N] ADDR\n", 1,
        &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    return run_query(&a, address_fn, address_human);
}

static void entity_human(json_t *d)
{
    printf("entity %lld: %lld addresses (heuristics %s)\n",
           (long long)json_integer_value(json_object_get(d, "entity")),
           (long long)json_integer_value(json_object_get(d, "size")),
           json_string_value(json_object_get(d, "heuristics")));
    print_btc("  received", json_integer_value(json_object_get(d, "received")));
    print_btc("  sent", json_integer_value(json_object_get(d, "sent")));
    print_btc("  balance", json_integer_value(json_object_get(d, "balance")));
    printf("  %-18s %lld\n", "txs", (long long)json_integer_value(json_object_get(d, "tx_count")));
    const char *which[] = {"first_activity", "last_activity"};
    for (int i = 0; i < 2; i++) {
        json_t *a = json_object_get(d, which[i]);
        if (json_is_object(a))
            printf("  %-18s height %lld, time %lld\n", which[i],
                   (long long)json_integer_value(json_object_get(a, "height")),
                   (long long)json_integer_value(json_object_get(a, "time")));
    }
    json_t *cj = json_object_get(d, "coinjoin_activity");
    if (json_object_size(cj)) {
        printf("  CoinJoin activity (txs spent into / received from):\n");
        const char *k;
        json_t *v;
        json_object_foreach(cj, k, v)
            printf("    %-16s %lld / %lld\n", k,
                   (long long)json_integer_value(json_object_get(v, "spent_into")),
                   (long long)json_integer_value(json_object_get(v, "received_from")));
    } else
        printf("  no CoinJoin activity\n");
    json_t *peel = json_object_get(d, "peel_chain_activity");
    if (json_is_object(peel))
        printf("  peel chain steps     %lld spent its coins, %lld paid it\n",
               int_of(peel, "steps_spent_into"), int_of(peel, "steps_received_from"));
    if (!json_is_true(json_object_get(d, "up_to_date")))
        printf("  (clustering is behind the store: run `cointrail cluster`)\n");
    print_labels("  labels (on any of its addresses)", json_object_get(d, "labels"), 1);
    printf("  addresses from #%lld:\n",
           (long long)json_integer_value(json_object_get(d, "offset")));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(d, "addresses"), i, a)
        printf("    %s\n", json_string_value(json_object_get(a, "address")));
}

static int entity_fn(const query_ctx *q, const query_args *a, json_t **out, util_err *err)
{
    return query_entity(q, a->arg, a->offset, a->limit, out, err);
}

int cmd_entity(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(argc, argv,
                              "usage: cointrail entity --db DIR [--json] [--offset N] [--limit N] "
                              "ADDR|ADDRESS_ID\n"
                              "The entity (cluster) an address belongs to: run `cointrail cluster` "
                              "first.\n",
                              1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    a.need_clusters = 1;
    return run_query(&a, entity_fn, entity_human);
}
