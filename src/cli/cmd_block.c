#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../query/query.h"
#include "cli.h"

static const char block_usage[] =
    "usage: cointrail block decode [--json] FILE\n"
    "FILE holds one raw block, or framed blocks (f9beb4d9 + size + block, as in blk*.dat).\n";

static void block_human(json_t *b)
{
    printf("block %s  %lld bytes  %lld txs\n", json_string_value(json_object_get(b, "hash")),
           (long long)json_integer_value(json_object_get(b, "size")),
           (long long)json_integer_value(json_object_get(b, "tx_count")));
    size_t i, k;
    json_t *tx, *o;
    json_array_foreach(json_object_get(b, "txs"), i, tx)
    {
        printf("  tx %s  %lld in\n", json_string_value(json_object_get(tx, "txid")),
               (long long)json_integer_value(json_object_get(tx, "input_count")));
        json_array_foreach(json_object_get(tx, "outputs"), k, o)
        {
            const char *addr = json_string_value(json_object_get(o, "address"));
            printf("    #%zu %lld sat  %-8s %s\n", k,
                   (long long)json_integer_value(json_object_get(o, "value")),
                   json_string_value(json_object_get(o, "type")), addr ? addr : "-");
        }
    }
}

int cmd_block(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else
            return cli_usage(block_usage, c == 'h');
    }
    if (optind + 2 != argc || strcmp(argv[optind], "decode") != 0) {
        fputs(block_usage, stderr);
        return CLI_USAGE;
    }
    const char *path = argv[optind + 1];
    util_err err = {0};
    btc_blockfile f;
    int rc = btc_blockfile_open(&f, path, NULL, &err);
    if (rc) return cli_fail(&err);
    json_t *all = json_array();
    if (f.size >= 4 && memcmp(f.map, btc_mainnet_magic, 4) == 0) {
        size_t off = 0, boff, bsize;
        while ((rc = btc_blockfile_next(&f, &off, &boff, &bsize, &err)) == 1) {
            json_t *b;
            rc = query_decode_block(f.map + boff, bsize, &b, &err);
            if (rc) {
                util_err_prefix(&err, "%s: block at offset %zu", path, boff);
                break;
            }
            json_array_append_new(all, b);
        }
    } else {
        json_t *b;
        rc = query_decode_block(f.map, f.size, &b, &err);
        if (rc)
            util_err_prefix(&err, "%s: raw block", path);
        else
            json_array_append_new(all, b);
    }
    btc_blockfile_close(&f);
    if (rc < 0) {
        json_decref(all);
        return cli_fail(&err);
    }
    if (json)
        cli_print_json(json_array_size(all) == 1 ? json_array_get(all, 0) : all);
    else {
        size_t i;
        json_t *b;
        json_array_foreach(all, i, b) block_human(b);
    }
    json_decref(all);
    return CLI_OK;
}
