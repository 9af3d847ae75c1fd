/* cointrail exposure build|status|show|dump: the exposure index (docs/exposure.md), and the
 * one call import, labels import and cluster make to keep it current (cli_exposure_update). */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../exposure/exposure.h"
#include "../risk/risk.h"
#include "../trace/trace.h"
#include "cli.h"

static const char usage[] =
    "usage: cointrail exposure build  --db DIR [--floor SAT] [--rebuild] [--json]\n"
    "       cointrail exposure status --db DIR [--json]\n"
    "       cointrail exposure show   --db DIR [--json] TXID[:N]|ADDRESS\n"
    "       cointrail exposure dump   --db DIR\n"
    "The exposure index: for every output, the satoshis it received from each risk source\n"
    "category (theft, sanctioned, mixer, ...), through the whole history, under haircut.\n"
    "import, labels import and cluster keep it current; build makes it for a store that has\n"
    "none (or with --rebuild, again from block 0; --floor: satoshis below which a share is\n"
    "counted, not stored; default 1000). dump prints every stored row (for checks).\n";

/* ---- the update the writing commands make ---- */

int cli_exposure_update(const char *db, const store *s, labels_db *labels,
                        const cli_exposure_opts *xo, exposure_writer **pending,
                        exposure_sync_result *res, util_err *err)
{
    cli_exposure_opts none = {0, EXPOSURE_DEFAULT_FLOOR, 0};
    if (!xo) xo = &none;
    return risk_exposure_update(db, s, labels, xo->flags, xo->floor, pending, res, err);
}

/* ---- the subcommands ---- */

static void print_info(const exposure_index *ix, const exposure_info *in, exposure_state st,
                       const store *s)
{
    char tip[65] = "";
    if (in->blocks) util_hash_hex(tip, in->tip);
    const store_totals *t = store_get_totals(s);
    printf("exposure index: %s (generation %" PRIu64 ", floor %" PRIu64 " sat)\n",
           exposure_state_name(st), in->generation, in->floor);
    printf("covers %" PRIu64 " of %" PRIu64 " blocks, %" PRIu64 " txs, %" PRIu64
           " outputs; tip %s\n",
           in->blocks, t->blocks, in->txs, in->outputs, tip);
    printf("%" PRIu64 " amounts on %" PRIu64 " outputs, %" PRIu64 " stop addresses, %" PRIu64
           " bytes (%.1f per tx)\n",
           in->rows, in->outputs_with_rows, in->stops, in->bytes,
           in->txs ? (double)in->bytes / (double)in->txs : 0.0);
    for (size_t c = 0; c < in->n_categories; c++) {
        char b[LABELS_ESC_BUF];
        printf("  %-12s %s received %" PRIu64 " sat; below the floor %" PRIu64 " sat in %" PRIu64
               " shares; unresolved %" PRIu64 " sat\n",
               labels_text_escape(b, sizeof b, exposure_category_name(ix, (uint32_t)c)),
               exposure_category_tracked(exposure_category_name(ix, (uint32_t)c)) ? "tracked  "
                                                                                  : "untracked",
               in->received[c], in->below_floor[c], in->below_floor_shares[c], in->unresolved[c]);
    }
}

static json_t *info_json(const exposure_index *ix, const exposure_info *in, exposure_state st)
{
    char tip[65] = "";
    if (in->blocks) util_hash_hex(tip, in->tip);
    json_t *cats = json_array();
    for (size_t c = 0; c < in->n_categories; c++) {
        const char *name = exposure_category_name(ix, (uint32_t)c);
        json_array_append_new(cats,
                              json_pack("{s:s, s:b, s:I, s:I, s:I, s:I}", "category", name,
                                        "tracked", exposure_category_tracked(name), "received",
                                        (json_int_t)in->received[c], "below_floor",
                                        (json_int_t)in->below_floor[c], "below_floor_shares",
                                        (json_int_t)in->below_floor_shares[c], "unresolved",
                                        (json_int_t)in->unresolved[c]));
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:o}", "state",
                     exposure_state_name(st), "generation", (json_int_t)in->generation, "floor",
                     (json_int_t)in->floor, "blocks", (json_int_t)in->blocks, "txs",
                     (json_int_t)in->txs, "outputs", (json_int_t)in->outputs, "addresses",
                     (json_int_t)in->addresses, "tip", tip, "rows", (json_int_t)in->rows,
                     "outputs_with_rows", (json_int_t)in->outputs_with_rows, "stops",
                     (json_int_t)in->stops, "bytes", (json_int_t)in->bytes, "categories", cats);
}

/* The index and its state against the store's current state. */
static int open_checked(const char *db, cli_ctx *ctx, exposure_index **ix, exposure_state *st,
                        util_err *err)
{
    int rc = cli_open_ctx(ctx, db, 0, err);
    if (rc) return rc;
    if ((rc = exposure_open(ix, db, err))) {
        cli_close_ctx(ctx);
        return rc;
    }
    risk_config def;
    risk_config_default(&def);
    char **order;
    size_t n;
    if (!(rc = risk_stop_categories(ctx->labels, &def, &order, &n, err))) {
        rc = exposure_check(*ix, ctx->s, ctx->labels, ctx->clusters, (const char *const *)order, n,
                            st, err);
        risk_categories_free(order, n);
    }
    if (rc) {
        exposure_close(*ix);
        cli_close_ctx(ctx);
    }
    return rc;
}

static int do_status(const char *db, int json)
{
    util_err err = {0};
    cli_ctx ctx;
    exposure_index *ix;
    exposure_state st;
    if (open_checked(db, &ctx, &ix, &st, &err)) return cli_fail(&err);
    exposure_info in;
    int rc = exposure_get_info(ix, &in, &err);
    if (!rc) {
        if (json) {
            json_t *d = info_json(ix, &in, st);
            cli_print_json(d);
            json_decref(d);
        } else {
            print_info(ix, &in, st, ctx.s);
        }
        exposure_info_free(&in);
    }
    exposure_close(ix);
    cli_close_ctx(&ctx);
    return rc ? cli_fail(&err) : CLI_OK;
}

static json_t *output_json(const exposure_index *ix, const store *s, uint64_t o)
{
    exposure_amount amt[256];
    uint32_t stop;
    size_t n = exposure_output(ix, o, amt, 256, &stop);
    char op[96];
    uint64_t tx = store_output_tx(s, o);
    util_hash_hex(op, store_tx_hash(s, tx));
    snprintf(op + 64, sizeof op - 64, ":%" PRIu64, o - store_tx_first_out(s, tx));
    json_t *by = json_object();
    for (size_t i = 0; i < n && i < 256; i++)
        json_object_set_new(by, exposure_category_name(ix, amt[i].cat),
                            json_integer((json_int_t)amt[i].amount));
    return json_pack("{s:s, s:I, s:o, s:o}", "output", op, "value",
                     (json_int_t)store_out_value(s, o), "received", by, "stop",
                     stop == EXPOSURE_NO_CAT ? json_null()
                                             : json_string(exposure_category_name(ix, stop)));
}

static int do_show(const char *db, const char *spec, int json)
{
    util_err err = {0};
    cli_ctx ctx;
    exposure_index *ix;
    exposure_state st;
    if (open_checked(db, &ctx, &ix, &st, &err)) return cli_fail(&err);
    trace_seeds seeds = {0};
    int rc = trace_add_spec(&seeds, ctx.s, spec, &err);
    uint64_t covered = exposure_outputs_covered(ix, ctx.s);
    if (!rc) {
        json_t *outs = json_array();
        for (size_t i = 0; i < seeds.n; i++)
            if (seeds.out[i] < covered)
                json_array_append_new(outs, output_json(ix, ctx.s, seeds.out[i]));
        json_t *d = json_pack("{s:s, s:s, s:o}", "spec", spec, "state", exposure_state_name(st),
                              "outputs", outs);
        if (json) {
            cli_print_json(d);
        } else {
            printf("exposure index: %s\n", exposure_state_name(st));
            size_t i;
            json_t *v;
            json_array_foreach(outs, i, v)
            {
                printf("%s  %" JSON_INTEGER_FORMAT " sat",
                       json_string_value(json_object_get(v, "output")),
                       json_integer_value(json_object_get(v, "value")));
                const char *k;
                json_t *a;
                json_object_foreach(json_object_get(v, "received"), k, a)
                {
                    char b[LABELS_ESC_BUF];
                    printf("  %s %" JSON_INTEGER_FORMAT, labels_text_escape(b, sizeof b, k),
                           json_integer_value(a));
                }
                json_t *stop = json_object_get(v, "stop");
                if (json_is_string(stop)) {
                    char b[LABELS_ESC_BUF];
                    printf("  (pays a %s stop)",
                           labels_text_escape(b, sizeof b, json_string_value(stop)));
                }
                printf("\n");
            }
        }
        json_decref(d);
    }
    trace_seeds_free(&seeds);
    exposure_close(ix);
    cli_close_ctx(&ctx);
    return rc ? cli_fail(&err) : CLI_OK;
}

/* Every row as text: "TXID:N CATEGORY AMOUNT PRED_TXID:N" (pred: the output the tx got most of
 * the category from), "TXID:N stop CATEGORY", and the amounts not
 * stored, "drop HEIGHT CATEGORY below|unresolved AMOUNT SHARES". */
static int do_dump(const char *db)
{
    util_err err = {0};
    cli_ctx ctx;
    exposure_index *ix;
    exposure_state st;
    if (open_checked(db, &ctx, &ix, &st, &err)) return cli_fail(&err);
    uint64_t covered = exposure_outputs_covered(ix, ctx.s);
    char txid[65];
    uint64_t tx = 0, ntx = store_get_totals(ctx.s)->txs;
    for (uint64_t o = 0; o < covered; o++) {
        exposure_amount amt[256];
        uint32_t stop;
        size_t n = exposure_output(ix, o, amt, 256, &stop);
        if (!n && stop == EXPOSURE_NO_CAT) continue;
        while (tx + 1 < ntx && store_tx_first_out(ctx.s, tx + 1) <= o)
            tx++;
        util_hash_hex(txid, store_tx_hash(ctx.s, tx));
        uint64_t vout = o - store_tx_first_out(ctx.s, tx);
        for (size_t i = 0; i < n && i < 256; i++) {
            /* the predecessor as an outpoint (a store id would not survive a rebuild) */
            uint64_t p = amt[i].pred, ptx = store_output_tx(ctx.s, p);
            char ptxid[65];
            util_hash_hex(ptxid, store_tx_hash(ctx.s, ptx));
            printf("%s:%" PRIu64 " %s %" PRIu64 " %s:%" PRIu64 "\n", txid, vout,
                   exposure_category_name(ix, amt[i].cat), amt[i].amount, ptxid,
                   p - store_tx_first_out(ctx.s, ptx));
        }
        if (stop != EXPOSURE_NO_CAT)
            printf("%s:%" PRIu64 " stop %s\n", txid, vout, exposure_category_name(ix, stop));
    }
    size_t nd = exposure_drops(ix, NULL, 0);
    exposure_drop *d = malloc((nd ? nd : 1) * sizeof *d);
    int ok = d != NULL;
    if (d) {
        exposure_drops(ix, d, nd);
        for (size_t i = 0; i < nd; i++)
            printf("drop %" PRIu32 " %s %s %" PRIu64 " %" PRIu64 "\n", d[i].block,
                   exposure_category_name(ix, d[i].cat), d[i].kind ? "unresolved" : "below",
                   d[i].amount, d[i].shares);
    }
    free(d);
    exposure_close(ix);
    cli_close_ctx(&ctx);
    if (ok) return CLI_OK;
    return cli_fail(&(util_err){UTIL_ENOMEM, "out of memory for the dump"});
}

static int do_build(const char *db, int rebuild, uint64_t floor, int have_floor, int json)
{
    util_err err = {0};
    unsigned flags = EXPOSURE_CREATE;
    if (!have_floor) floor = EXPOSURE_DEFAULT_FLOOR;
    if (rebuild) flags |= EXPOSURE_REBUILD;
    if (have_floor && !rebuild && exposure_exists(db)) {
        /* the floor of an existing index changes only by building it again */
        exposure_index *ix;
        if (exposure_open(&ix, db, &err)) return cli_fail(&err);
        exposure_info in;
        int rc = exposure_get_info(ix, &in, &err);
        uint64_t have = in.floor;
        if (!rc) exposure_info_free(&in);
        exposure_close(ix);
        if (rc) return cli_fail(&err);
        if (have != floor) {
            fprintf(stderr,
                    "cointrail: the index has floor %" PRIu64 "; --floor %" PRIu64
                    " needs --rebuild\n",
                    have, floor);
            return CLI_USAGE;
        }
    }
    exposure_sync_result r;
    cli_exposure_opts xo = {flags, floor, 0};
    if (cli_exposure_update(db, NULL, NULL, &xo, NULL, &r, &err)) return cli_fail(&err);
    if (json) {
        json_t *d = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:f}", "blocks_removed",
            (json_int_t)r.blocks_removed, "blocks_added", (json_int_t)r.blocks_added, "txs_added",
            (json_int_t)r.txs_added, "stops_changed", (json_int_t)r.stops_changed,
            "outputs_changed", (json_int_t)r.outputs_changed, "txs_recomputed",
            (json_int_t)r.txs_recomputed, "new_generation", r.new_generation, "seconds", r.seconds);
        cli_print_json(d);
        json_decref(d);
    } else {
        printf("exposure index: %" PRIu64 " blocks (%" PRIu64 " txs) propagated, %" PRIu64
               " removed, %" PRIu64 " stops changed (%" PRIu64 " txs propagated again) in %.2fs\n",
               r.blocks_added, r.txs_added, r.blocks_removed, r.stops_changed, r.txs_recomputed,
               r.seconds);
    }
    return CLI_OK;
}

int cmd_exposure(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"floor", required_argument, 0, 'f'},
        {"rebuild", no_argument, 0, 'r'},  {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},     {0, 0, 0, 0}};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(usage, argc >= 2);
    const char *sub = argv[1], *db = NULL;
    int json = 0, rebuild = 0, have_floor = 0, c;
    uint64_t floor = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            if (cli_parse_u64(optarg, &floor) || floor > TAINT_MAX_SAT) {
                fprintf(stderr, "cointrail: --floor: want satoshis 0..2.1e15, not '%s'\n", optarg);
                return CLI_USAGE;
            }
            have_floor = 1;
            break;
        case 'r':
            rebuild = 1;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return cli_usage(usage, c == 'h');
        }
    }
    if (!db) {
        fprintf(stderr, "cointrail: exposure: --db DIR is required\n%s", usage);
        return CLI_USAGE;
    }
    int rest = argc - optind;
    if (!strcmp(sub, "build") && !rest) return do_build(db, rebuild, floor, have_floor, json);
    if (!strcmp(sub, "status") && !rest) return do_status(db, json);
    if (!strcmp(sub, "dump") && !rest) return do_dump(db);
    if (!strcmp(sub, "show") && rest == 1) return do_show(db, argv[optind], json);
    fputs(usage, stderr);
    return CLI_USAGE;
}
