#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../export/export.h"
#include "cli.h"

static const char usage[] =
    "usage: cointrail export-columns --db DIR --out DIR [--force] [--level N] [--json]\n"
    "Write the chain as gzip CSV tables that DuckDB and Spark read directly: blocks, txs,\n"
    "outputs (with the spending input), inputs (with the spent output), addresses, entities\n"
    "(when clustered) and labels, plus schema.sql (CREATE TABLE for DuckDB), load.sql,\n"
    "schema.json (types, Spark DDL) and export.json (row counts, SHA-256 of each file).\n"
    "Amounts are satoshis (BIGINT), hashes display hex, an empty field is NULL; the same\n"
    "store gives the same bytes. Written to OUT.partial-PID and renamed into place.\n"
    "  --out DIR    must be new or empty\n"
    "  --force      replace a non-empty DIR (a directory of plain files, e.g. an old export)\n"
    "  --level N    gzip level 1..9 (default 6)\n"
    "  --json       print the summary (rows, bytes per table) as JSON\n"
    "Recipe (DuckDB, Parquet, Spark): docs/columns.md.\n";

int cmd_export_columns(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},
                                         {"force", no_argument, 0, 'f'},
                                         {"level", required_argument, 0, 'l'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *out = NULL;
    export_opts o = {0};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'l': {
            uint64_t v;
            if (cli_parse_u64(optarg, &v) || v < 1 || v > 9) {
                fprintf(stderr, "cointrail: --level: '%s' is not 1..9\n", optarg);
                return CLI_USAGE;
            }
            o.level = (int)v;
            break;
        }
        case 'j':
            json = 1;
            break;
        default:
            return cli_usage(usage, c == 'h');
        }
    }
    if (!db || !out || optind != argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    util_err err = {0};
    cli_ctx ctx;
    if (cli_open_ctx(&ctx, db, 0, &err)) return cli_fail(&err);
    export_result r;
    int rc = export_columns(ctx.s, ctx.labels, ctx.clusters, out, &o, &r, &err);
    cli_close_ctx(&ctx);
    if (rc) return cli_fail(&err);
    if (json) {
        json_t *doc = export_result_json(&r);
        cli_print_json(doc);
        json_decref(doc);
        return CLI_OK;
    }
    for (size_t i = 0; i < EXPORT_NTABLES; i++)
        printf("%-10s %12llu rows %14llu bytes\n", r.tables[i].name,
               (unsigned long long)r.tables[i].rows, (unsigned long long)r.tables[i].bytes);
    printf("exported %llu rows, %llu bytes (%llu bytes of CSV) to %s in %.2f s%s\n",
           (unsigned long long)r.rows, (unsigned long long)r.bytes, (unsigned long long)r.csv_bytes,
           out, r.seconds, r.clustered ? "" : " (not clustered: no entities)");
    return CLI_OK;
}
