/* cointrail evm-exposure: the EVM exposure index (docs/exposure.md, "EVM chains"), and the
 * screening of EVM addresses and txs and of cross-chain exposure that `cointrail screen` calls. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../etrace/etrace.h"
#include "../evmexpo/evmexpo.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail evm-exposure build|status|dump --db DIR [--chain eth] [--json]\n"
    "  build [--rebuild [--floor-native WEI --floor-token UNITS]]: make or update the EVM\n"
    "        exposure index (evm-import does after every import)\n"
    "  status: coverage, rows, bytes, what fell below the floors\n"
    "  dump:   every row, record and drop as text (for independent checks)\n";

/* " (stops: N pairs re-propagated)" after an update that re-propagated changed stops. */
static const char *restop_note(const evmexpo_sync_result *r, char *b, size_t n)
{
    if (r->rebuilt || !r->why) return "";
    snprintf(b, n, " (stops: %" PRIu64 " (address, asset) pairs re-propagated)", r->repropagated);
    return b;
}

int cli_evm_exposure_update(const char *db, const evm_store *s, int quiet, util_err *err)
{
    labels_db *labels = NULL;
    int rc = labels_db_open(&labels, db, 0, err);
    if (rc) return rc;
    evmexpo_sync_opts o = {0};
    const char *crash = getenv("COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER"); /* tests only */
    if (crash) o.crash_after_xfers = strtoull(crash, NULL, 10);
    evmexpo_sync_result r;
    rc = evmexpo_sync(db, s, labels, &o, &r, err);
    labels_db_close(labels);
    char note[96];
    if (!rc && !quiet)
        fprintf(stderr,
                "evm exposure index: %s%s%s%s, %" PRIu64 " transfers propagated, %" PRIu64
                " rows added (%" PRIu64 " in all, %" PRIu64 " bytes), %.3f s\n",
                r.rebuilt ? "built (" : "updated", r.rebuilt ? r.why : "", r.rebuilt ? ")" : "",
                restop_note(&r, note, sizeof note), r.xfers_done, r.rows_added, r.rows, r.bytes,
                r.seconds);
    return rc;
}

static void u256_text(char *out, const evm_u256 *v)
{
    evm_u256_format(out, v);
}

static int dump(const char *db, const char *chain)
{
    util_err err = {0};
    evm_store *s = NULL;
    evmexpo_index *ix = NULL;
    if (evm_store_open(&s, db, chain, 0, &err) || evmexpo_open(&ix, db, chain, &err)) {
        evm_store_close(s);
        return cli_fail(&err);
    }
    evmexpo_info in;
    evmexpo_get_info(ix, &in);
    for (uint64_t i = 0; i < in.rows; i++) {
        evmexpo_row r;
        evmexpo_row_at(ix, i, &r);
        evm_xfer_row t;
        evm_tx_row tx;
        char ref[100], a[43], amt[EVM_U256_DEC_MAX];
        if (!evm_store_xfer(s, r.xfer, &t, NULL) && t.tx != EVM_NONE64 &&
            !evm_store_tx(s, t.tx, &tx, NULL)) {
            char h[67];
            evm_hash_hex(h, tx.hash);
            snprintf(ref, sizeof ref, "%s:%" PRIu64, h, r.xfer - tx.first_xfer);
        } else {
            snprintf(ref, sizeof ref, "xfer:%" PRIu64, r.xfer);
        }
        etrace_asset_text(s, r.asset, a);
        u256_text(amt, &r.amount);
        printf("row %s %s %s %s\n", ref, evmexpo_category_name(ix, r.cat), a, amt);
    }
    uint64_t nt, nx, na;
    evm_store_counts(s, &nt, &nx, &na);
    for (uint32_t id = 0; id < na; id++) {
        evmexpo_holding h[64];
        size_t n = evmexpo_address(ix, id, h, 64);
        if (!n) continue;
        char addr[43];
        etrace_addr_text(s, id, addr);
        for (size_t i = 0; i < n && i < 64; i++) {
            char a[43], b[EVM_U256_DEC_MAX], r[EVM_U256_DEC_MAX];
            etrace_asset_text(s, h[i].asset, a);
            u256_text(b, &h[i].balance);
            u256_text(r, &h[i].received);
            printf("address %s %s balance %s received %s\n", addr, a, b, r);
            for (size_t k = 0; k < h[i].n_cats; k++) {
                u256_text(b, &h[i].cats[k].held);
                u256_text(r, &h[i].cats[k].received);
                printf("address %s %s %s held %s received %s\n", addr, a,
                       evmexpo_category_name(ix, h[i].cats[k].cat), b, r);
            }
        }
    }
    for (size_t i = 0; i < in.n_drops; i++) {
        const evmexpo_drop *d = &in.drops[i];
        char a[43], b[EVM_U256_DEC_MAX], r[EVM_U256_DEC_MAX];
        etrace_asset_text(s, d->asset, a);
        u256_text(b, &d->below_floor);
        u256_text(r, &d->no_receiver);
        printf("drop %s %s below %s shares %" PRIu64 " no_receiver %s\n",
               evmexpo_category_name(ix, d->cat), a, b, d->below_shares, r);
    }
    evmexpo_close(ix);
    evm_store_close(s);
    return CLI_OK;
}

static int status(const char *db, const char *chain, int json)
{
    util_err err = {0};
    evm_store *s = NULL;
    evmexpo_index *ix = NULL;
    labels_db *labels = NULL;
    if (evm_store_open(&s, db, chain, 0, &err) || evmexpo_open(&ix, db, chain, &err) ||
        labels_db_open(&labels, db, 0, &err)) {
        evmexpo_close(ix);
        evm_store_close(s);
        return cli_fail(&err);
    }
    int state = 0, rc = evmexpo_check(ix, s, labels, &state, &err);
    evmexpo_info in;
    evmexpo_get_info(ix, &in);
    if (!rc && json) {
        json_t *drops = json_array();
        for (size_t i = 0; i < in.n_drops; i++) {
            char a[43], b[EVM_U256_DEC_MAX], r[EVM_U256_DEC_MAX];
            etrace_asset_text(s, in.drops[i].asset, a);
            u256_text(b, &in.drops[i].below_floor);
            u256_text(r, &in.drops[i].no_receiver);
            json_array_append_new(
                drops, json_pack("{s:s, s:s, s:s, s:I, s:s}", "category",
                                 evmexpo_category_name(ix, in.drops[i].cat), "asset", a,
                                 "below_floor", b, "below_floor_shares",
                                 (json_int_t)in.drops[i].below_shares, "no_receiver", r));
        }
        json_t *j = json_pack(
            "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "chain", chain, "state",
            exposure_state_name(state), "generation", (json_int_t)in.gen, "first_block",
            (json_int_t)in.first_block, "blocks", (json_int_t)in.blocks, "transfers",
            (json_int_t)in.xfers, "rows", (json_int_t)in.rows, "records", (json_int_t)in.records,
            "bytes", (json_int_t)in.bytes, "floor_native", (json_int_t)in.floor_native,
            "floor_token", (json_int_t)in.floor_token, "drops", drops);
        cli_print_json(j);
        json_decref(j);
    } else if (!rc) {
        printf("%s EVM exposure index: %s, generation %" PRIu64 ", blocks %" PRIu64 " from %" PRIu64
               ", %" PRIu64 " transfers\n",
               chain, exposure_state_name(state), in.gen, in.blocks, in.first_block, in.xfers);
        printf("  %" PRIu64 " rows, %" PRIu64 " (address, asset) records, %" PRIu64
               " bytes; floors %" PRIu64 " wei, %" PRIu64 " token units\n",
               in.rows, in.records, in.bytes, in.floor_native, in.floor_token);
        for (size_t i = 0; i < in.n_drops; i++) {
            char a[43], b[EVM_U256_DEC_MAX], r[EVM_U256_DEC_MAX];
            etrace_asset_text(s, in.drops[i].asset, a);
            u256_text(b, &in.drops[i].below_floor);
            u256_text(r, &in.drops[i].no_receiver);
            printf("  %-11s %-42s below floor %s (%" PRIu64 " shares), paid as fees %s\n",
                   evmexpo_category_name(ix, in.drops[i].cat), a, b, in.drops[i].below_shares, r);
        }
    }
    labels_db_close(labels);
    evmexpo_close(ix);
    evm_store_close(s);
    return rc ? cli_fail(&err) : CLI_OK;
}

int cmd_evm_exposure(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(usage, argc >= 2);
    const char *sub = argv[1], *db = NULL, *chain = "eth";
    int json = 0, rebuild = 0, set_floor = 0;
    uint64_t fn = EVMEXPO_FLOOR_NATIVE, ft = EVMEXPO_FLOOR_TOKEN;
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"json", no_argument, 0, 'j'},
                                         {"rebuild", no_argument, 0, 'r'},
                                         {"floor-native", required_argument, 0, 'n'},
                                         {"floor-token", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            chain = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'r':
            rebuild = 1;
            break;
        case 'n':
        case 't':
            if (cli_parse_u64(optarg, ch == 'n' ? &fn : &ft)) {
                fprintf(stderr, "cointrail: --floor-%s: a whole number of base units\n",
                        ch == 'n' ? "native" : "token");
                return CLI_USAGE;
            }
            set_floor = 1;
            break;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!db || optind != argc || (set_floor && !rebuild)) {
        if (set_floor && !rebuild) fprintf(stderr, "cointrail: the floors go with --rebuild\n");
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (!strcmp(sub, "status")) return status(db, chain, json);
    if (!strcmp(sub, "dump")) return dump(db, chain);
    if (strcmp(sub, "build")) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    util_err err = {0};
    evm_store *s;
    if (evm_store_open(&s, db, chain, 0, &err)) return cli_fail(&err);
    labels_db *labels = NULL;
    int rc = labels_db_open(&labels, db, 0, &err);
    evmexpo_sync_opts o = {rebuild, set_floor, fn, ft, 0};
    const char *crash = getenv("COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER");
    if (crash) o.crash_after_xfers = strtoull(crash, NULL, 10);
    evmexpo_sync_result r;
    if (!rc) rc = evmexpo_sync(db, s, labels, &o, &r, &err);
    labels_db_close(labels);
    evm_store_close(s);
    if (rc) return cli_fail(&err);
    if (json) {
        json_t *j =
            json_pack("{s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:f}", "rebuilt", r.rebuilt, "why",
                      r.why, "transfers_propagated", (json_int_t)r.xfers_done, "rows_added",
                      (json_int_t)r.rows_added, "records", (json_int_t)r.addresses, "rows",
                      (json_int_t)r.rows, "bytes", (json_int_t)r.bytes, "seconds", r.seconds);
        json_object_set_new(j, "pairs_repropagated", json_integer((json_int_t)r.repropagated));
        cli_print_json(j);
        json_decref(j);
    } else {
        char note[96];
        printf("%s EVM exposure index %s%s%s%s: %" PRIu64 " transfers propagated, %" PRIu64
               " rows (%" PRIu64 " added), %" PRIu64 " records, %" PRIu64 " bytes, %.3f s\n",
               chain, r.rebuilt ? "built (" : "updated", r.rebuilt ? r.why : "",
               r.rebuilt ? ")" : "", restop_note(&r, note, sizeof note), r.xfers_done, r.rows,
               r.rows_added, r.addresses, r.bytes, r.seconds);
    }
    return CLI_OK;
}
