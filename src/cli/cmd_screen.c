/* cointrail screen: risk and exposure of an address or a transaction (docs/screening.md). The
 * HTTP service answers /v1/screen/... with the same library call. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../evmexpo/evmexpo.h"
#include "../risk/risk.h"
#include "../trace/trace.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail screen --db DIR [--state URL] [--rules FILE] [--hops N]\n"
    "           [--direction incoming|outgoing|both] [--json] ADDRESS|TXID...\n"
    "  risk level and score, direct exposure (labels on the address or its entity) and\n"
    "  indirect exposure by actor and by category, with the evidence. Incoming amounts by\n"
    "  category come from the store's exposure index (the whole history; docs/exposure.md)\n"
    "  when it has an up-to-date one, and --hops N bounds only the trace that explains them\n"
    "  (the nearest endpoints, the actors); without the index, and for outgoing funds, the\n"
    "  trace within N hops gives the amounts\n"
    "  --json: one screening document for one ADDRESS|TXID; for several, one JSON array of\n"
    "          them in the order given (an item that fails is {\"item\", \"error\"} there,\n"
    "          and the exit status says an item failed)\n"
    "  0xADDRESS|0xTXHASH: an EVM address or tx of the --chain store (default eth), from its\n"
    "          EVM exposure index; Bitcoin screenings add exposure that crossed a chain-hop\n"
    "          link (cointrail xchain links) with the link's method and confidence\n"
    "          (docs/exposure.md, \"EVM chains\" and \"Across chains\")\n"
    "  --state URL: merge the analyst labels of a state database (docs/state.md) as serve\n"
    "          --state does; without it DIR/state.sqlite's when the store has one\n";

/* The exit status an item's error gives (as cli_fail maps it). */
static int exit_code(int e)
{
    return e == UTIL_EINVAL ? CLI_USAGE : e == UTIL_ENOTFOUND ? CLI_NOTFOUND : CLI_ERROR;
}

static void print_side(const store *s, const risk_side *side, const char *name)
{
    if (!side->screened) return;
    printf("  %s: %lld sat screened%s%s\n", name, (long long)side->seeded,
           side->indexed ? " (exposure index: the whole history)" : "",
           side->partial ? " (PARTIAL: caps reached)" : "");
    /* by actor first: who the funds came from or went to */
    for (size_t i = 0; i < side->actors.n; i++) {
        const trace_actor *g = &side->actors.v[i];
        char t[96], b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
        printf("    %-30s %-11s %16lld sat %6.2f%%  %llu deposit(s) at %zu address(es), %u "
               "hop(s)\n",
               labels_text_escape(b[0], sizeof b[0], labels_actor_text(&g->who, t, sizeof t)),
               labels_text_escape(b[1], sizeof b[1], g->category ? g->category : "-"),
               (long long)g->amount, 100 * g->share, (unsigned long long)g->deposits, g->n,
               g->hops);
    }
    if (side->n_cat) printf("    by category:\n");
    for (size_t i = 0; i < side->n_cat; i++) {
        const risk_exposure *k = &side->cat[i];
        char b[LABELS_ESC_BUF]; /* a label's category, escaped for the terminal */
        char addr[128] = "(null)";
        if (k->nearest_addr != STORE_NO_ADDR) store_addr_text(s, k->nearest_addr, addr);
        printf("      %-11s %16lld sat %6.2f%%  %lld hop(s)  %s %s\n",
               labels_text_escape(b, sizeof b, k->category), (long long)k->amount, 100 * k->share,
               (long long)k->hops,
               k->explained == RISK_EXPLAINED_INDEX ? "source (index path)" : "nearest", addr);
    }
}

static int print_text(const store *s, const risk_ctx *r, const risk_result *res, util_err *err)
{
    char txid[65];
    if (res->is_tx) util_hash_hex(txid, store_tx_hash(s, res->tx));
    printf("%s %s: risk %s (score %.1f)\n", res->is_tx ? "tx" : "address",
           res->is_tx ? txid : res->address, risk_level_name(res->level), res->score);
    char b[LABELS_ESC_BUF]; /* reasons quote label text: escaped for the terminal */
    for (size_t i = 0; i < res->n_contrib; i++) {
        if (!(res->contrib[i].score > 0)) continue;
        char *t = risk_reason_text(r, res, &res->contrib[i]);
        if (!t) return util_errf(err, UTIL_ENOMEM, "out of memory");
        printf("  - %s\n", labels_text_escape(b, sizeof b, t));
        free(t);
    }
    if (res->index != RISK_INDEX_USED && res->side[0].screened)
        printf("  (exposure index %s: incoming traced within %u hops)\n",
               risk_index_state_name(res->index), res->hops);
    print_side(s, &res->side[0], "incoming");
    print_side(s, &res->side[1], "outgoing");
    return 0;
}

/* The cross-chain part of a Bitcoin screening (evmexpo_screener_btc_json's additions), as
 * text. */
static void print_xchain(json_t *doc, double score)
{
    json_t *risk = json_object_get(doc, "risk"), *x = json_object_get(doc, "cross_chain");
    json_t *reasons = json_object_get(risk, "reasons"), *v;
    size_t i;
    if (!x || !json_array_size(json_object_get(x, "incoming"))) return;
    double now = json_number_value(json_object_get(risk, "score"));
    if (now > score)
        printf("  cross-chain exposure raises the risk to %s (score %.1f)\n",
               json_string_value(json_object_get(risk, "level")), now);
    char b[LABELS_ESC_BUF];
    json_array_foreach(reasons, i, v)
        printf("  - %s\n", labels_text_escape(b, sizeof b, json_string_value(v)));
}

static void warn_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "cointrail: warning: %s\n", msg);
}

/* An EVM screening document, as JSON or text. */
static void print_evm(json_t *doc, int json)
{
    if (json) {
        cli_print_json(doc);
        return;
    }
    json_t *risk = json_object_get(doc, "risk"), *v, *a, *k;
    const char *subj = json_string_value(json_object_get(doc, "address"));
    printf("%s %s %s: risk %s (score %.1f)\n", json_string_value(json_object_get(doc, "chain")),
           subj ? "address" : "tx", subj ? subj : json_string_value(json_object_get(doc, "tx")),
           json_string_value(json_object_get(risk, "level")),
           json_number_value(json_object_get(risk, "score")));
    char b[LABELS_ESC_BUF];
    size_t i, j;
    json_array_foreach(json_object_get(risk, "reasons"), i, v)
        printf("  - %s\n", labels_text_escape(b, sizeof b, json_string_value(v)));
    const char *st = json_string_value(json_object_get(doc, "exposure_index"));
    if (st && strcmp(st, "ok")) printf("  (EVM exposure index: %s)\n", st);
    json_t *inc = json_object_get(json_object_get(doc, "indirect"), "incoming");
    json_array_foreach(json_object_get(inc, "by_asset"), i, a)
    {
        printf("  incoming %s: received %s\n", json_string_value(json_object_get(a, "asset")),
               json_string_value(json_object_get(a, "received")));
        json_array_foreach(json_object_get(a, "by_category"), j, k) printf(
            "    %-11s %s %6.2f%%  path of %zu transfer(s) from %s\n",
            labels_text_escape(b, sizeof b, json_string_value(json_object_get(k, "category"))),
            json_string_value(json_object_get(k, "amount")),
            100 * json_number_value(json_object_get(k, "share")),
            json_array_size(json_object_get(k, "path")),
            json_is_string(json_object_get(k, "source_address"))
                ? json_string_value(json_object_get(k, "source_address"))
                : "(not found)");
    }
}

int cmd_screen(int argc, char **argv)
{
    const char *db = NULL, *rules = NULL, *chain = "eth", *state_url = NULL;
    int json = 0;
    risk_opts o = {0, 0};
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"rules", required_argument, 0, 'r'},
                                         {"hops", required_argument, 0, 'n'},
                                         {"direction", required_argument, 0, 'D'},
                                         {"json", no_argument, 0, 'j'},
                                         {"chain", required_argument, 0, 'C'},
                                         {"state", required_argument, 0, 'S'},
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
        case 'C':
            chain = optarg;
            break;
        case 'S':
            state_url = optarg;
            break;
        default:
            return cli_usage(usage, ch == 'h');
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
    if (cli_open_ctx_state(&c, db, state_url, 0, &err)) return cli_fail(&err);
    risk_ctx *r = NULL;
    evmexpo_screener *xs = NULL;
    int rc = CLI_OK;
    if (evmexpo_screener_new(&xs, db, warn_stderr, NULL, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    if (risk_ctx_new(&r, c.s, c.labels, c.clusters, &cfg, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    /* several items with --json: one array, so the output is one JSON document */
    json_t *all = json && argc - optind > 1 ? json_array() : NULL;
    if (json && argc - optind > 1 && !all) {
        rc = cli_fail(&(util_err){UTIL_ENOMEM, "out of memory"});
        goto done;
    }
    for (int i = optind; i < argc; i++) {
        risk_result res;
        uint8_t h[32];
        if (!strncmp(argv[i], "0x", 2) || !strncmp(argv[i], "0X", 2)) { /* EVM */
            json_t *doc = NULL;
            int e = evmexpo_screener_evm(xs, chain, c.labels, &cfg, argv[i], &doc, &err);
            if (!e && all && json_array_append(all, doc))
                e = util_errf(&err, UTIL_ENOMEM, "out of memory");
            else if (!e)
                print_evm(doc, json);
            json_decref(doc);
            if (e && all)
                json_array_append_new(all,
                                      json_pack("{s:s, s:{s:i, s:s}}", "item", argv[i], "error",
                                                "code", exit_code(e), "message", err.msg));
            if (e) rc = cli_fail(&err);
            continue;
        }
        int e = strlen(argv[i]) == 64 && !util_hash_parse(h, argv[i])
                    ? risk_screen_tx_result(r, argv[i], &o, &res, &err)
                    : risk_screen_address_result(r, argv[i], &o, &res, &err);
        if (!e) {
            if (json) {
                json_t *doc = NULL;
                if (!(e = risk_result_json(r, &res, &doc, &err)) &&
                    !(e = evmexpo_screener_btc_json(xs, c.s, c.labels, c.clusters, &cfg, argv[i],
                                                    doc, &err))) {
                    if (!all)
                        cli_print_json(doc);
                    else if (json_array_append(all, doc))
                        e = util_errf(&err, UTIL_ENOMEM, "out of memory");
                }
                json_decref(doc);
            } else {
                json_t *doc = json_pack("{s:{s:f, s:[]}}", "risk", "score", res.score, "reasons");
                e = print_text(c.s, r, &res, &err);
                if (!e)
                    e = evmexpo_screener_btc_json(xs, c.s, c.labels, c.clusters, &cfg, argv[i], doc,
                                                  &err);
                if (!e) print_xchain(doc, res.score);
                json_decref(doc);
            }
        }
        risk_result_free(&res);
        if (e && all) /* the item keeps its place in the array, with what went wrong */
            json_array_append_new(all, json_pack("{s:s, s:{s:i, s:s}}", "item", argv[i], "error",
                                                 "code", exit_code(e), "message", err.msg));
        if (e) rc = cli_fail(&err);
    }
    if (all) cli_print_json(all);
    json_decref(all);
done:
    evmexpo_screener_free(xs);
    risk_ctx_free(r);
    cli_close_ctx(&c);
    return rc;
}
