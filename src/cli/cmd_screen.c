/* cointrail screen: risk and exposure of an address or a transaction (docs/screening.md). The
 * HTTP service answers /v1/screen/... with the same library call. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../risk/risk.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail screen --db DIR [--rules FILE] [--hops N]\n"
    "           [--direction incoming|outgoing|both] [--json] ADDRESS|TXID...\n"
    "  risk level and score, direct exposure (labels on the address or its entity) and\n"
    "  indirect exposure (funds within N hops each way) by category, with the evidence\n";

static void print_side(json_t *side, const char *name)
{
    if (!side) return;
    printf("  %s: %lld sat screened%s\n", name,
           (long long)json_integer_value(json_object_get(side, "seeded")),
           json_is_true(json_object_get(side, "partial")) ? " (PARTIAL: caps reached)" : "");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(side, "by_category"), i, c)
    {
        json_t *cp = json_object_get(c, "counterparty");
        char b[LABELS_ESC_BUF]; /* a label's category, escaped for the terminal */
        printf("    %-11s %16lld sat %6.2f%%  %lld hop(s)  nearest %s\n",
               labels_text_escape(b, sizeof b, json_string_value(json_object_get(c, "category"))),
               (long long)json_integer_value(json_object_get(c, "amount")),
               100 * json_number_value(json_object_get(c, "share")),
               (long long)json_integer_value(json_object_get(c, "hops")),
               json_string_value(json_object_get(cp, "address")));
    }
}

static void print_text(json_t *d)
{
    json_t *risk = json_object_get(d, "risk");
    const char *what = json_string_value(json_object_get(d, "address"));
    printf("%s %s: risk %s (score %.1f)\n", what ? "address" : "tx",
           what ? what : json_string_value(json_object_get(d, "txid")),
           json_string_value(json_object_get(risk, "level")),
           json_number_value(json_object_get(risk, "score")));
    size_t i;
    json_t *r;
    char b[LABELS_ESC_BUF]; /* reasons quote label text: escaped for the terminal */
    json_array_foreach(json_object_get(risk, "reasons"), i, r)
        printf("  - %s\n", labels_text_escape(b, sizeof b, json_string_value(r)));
    json_t *ind = json_object_get(d, "indirect");
    print_side(json_object_get(ind, "incoming"), "incoming");
    print_side(json_object_get(ind, "outgoing"), "outgoing");
}

int cmd_screen(int argc, char **argv)
{
    const char *db = NULL, *rules = NULL;
    int json = 0;
    risk_opts o = {0, 0};
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"rules", required_argument, 0, 'r'},
                                         {"hops", required_argument, 0, 'n'},
                                         {"direction", required_argument, 0, 'D'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            db = optarg;
            break;
        case 'r':
            rules = optarg;
            break;
        case 'n':
            if (cli_opt_hops(optarg, RISK_MAX_HOPS, &o.hops)) return CLI_USAGE;
            break;
        case 'D':
            if (!strcmp(optarg, "incoming"))
                o.directions = 1;
            else if (!strcmp(optarg, "outgoing"))
                o.directions = 2;
            else if (!strcmp(optarg, "both"))
                o.directions = 3;
            else {
                fprintf(stderr, "cointrail: --direction: incoming, outgoing or both\n");
                return CLI_USAGE;
            }
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
    if (!db || optind >= argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    util_err err = {0};
    risk_config cfg;
    risk_config_default(&cfg);
    if (rules && risk_config_load(&cfg, rules, &err)) return cli_fail(&err);
    cli_ctx c;
    if (cli_open_ctx(&c, db, 0, &err)) return cli_fail(&err);
    risk_ctx *r = NULL;
    int rc = CLI_OK;
    if (risk_ctx_new(&r, c.s, c.labels, c.clusters, &cfg, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    for (int i = optind; i < argc; i++) {
        json_t *doc = NULL;
        uint8_t h[32];
        int e = strlen(argv[i]) == 64 && !util_hash_parse(h, argv[i])
                    ? risk_screen_tx(r, argv[i], &o, &doc, &err)
                    : risk_screen_address(r, argv[i], &o, &doc, &err);
        if (e) {
            rc = cli_fail(&err);
            continue;
        }
        if (json)
            cli_print_json(doc);
        else
            print_text(doc);
        json_decref(doc);
    }
done:
    risk_ctx_free(r);
    cli_close_ctx(&c);
    return rc;
}
