/* cointrail xchain links | show: thin over src/xchain. */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../xchain/xchain.h"
#include "cli.h"

static const char xchain_usage[] =
    "usage: cointrail xchain links --db DIR [--method NAME] [--json]\n"
    "       cointrail xchain show  --db DIR [--json] TXID|0xHASH\n"
    "links builds every cross-chain and mixer link from the Bitcoin store in DIR and the EVM\n"
    "stores in DIR/evm/*, saves them in DIR/xchain/links.jsonl (a full rebuild) and lists\n"
    "them. show lists the links touching a Bitcoin txid or an EVM tx hash (0x...) from the\n"
    "saved set, building it first if there is none. Methods: thorchain_memo, bridge_nonce,\n"
    "bridge_value_window, mixer_same_address, mixer_linked_address, mixer_unique_timing,\n"
    "mixer_gas_price, mixer_relayer_batch (docs/xchain.md).\n";

typedef struct stores {
    store *btc;
    evm_store *evm[16];
    size_t n_evm;
} stores;

static void stores_close(stores *s)
{
    store_close(s->btc);
    for (size_t i = 0; i < s->n_evm; i++)
        evm_store_close(s->evm[i]);
}

static int stores_open(stores *s, const char *db, util_err *err)
{
    memset(s, 0, sizeof *s);
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", db);
    int rc;
    if (access(path, F_OK) == 0 && (rc = store_open(&s->btc, db, 0, err))) return rc;
    snprintf(path, sizeof path, "%s/evm", db);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char names[16][64];
        size_t n = 0;
        while ((e = readdir(d)) && n < 16) {
            char m[4600];
            snprintf(m, sizeof m, "%s/%s/MANIFEST", path, e->d_name);
            if (e->d_name[0] != '.' && strlen(e->d_name) < 64 && access(m, F_OK) == 0)
                snprintf(names[n++], 64, "%s", e->d_name);
        }
        closedir(d);
        /* name order: the links' order must not depend on the directory's */
        qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
        for (size_t i = 0; i < n; i++) {
            if ((rc = evm_store_open(&s->evm[s->n_evm], db, names[i], 0, err))) {
                stores_close(s);
                return rc;
            }
            s->n_evm++;
        }
    }
    if (!s->btc && !s->n_evm)
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: neither a Bitcoin store nor EVM chains here (import first)", db);
    return 0;
}

static int build(const char *db, xchain_links *l, util_err *err)
{
    stores s;
    int rc = stores_open(&s, db, err);
    if (rc) return rc;
    char warn[1024];
    rc = xchain_links_build(s.btc, s.evm, s.n_evm, NULL, l, warn, sizeof warn, err);
    if (warn[0]) fprintf(stderr, "cointrail: note: %s", warn);
    if (!rc && (rc = xchain_links_save(db, l, err))) xchain_links_free(l);
    /* links from Bitcoin seed the EVM indexes (docs/exposure.md, "Across chains"): each chain
     * with an index takes the new seeds now, not at its next import */
    for (size_t i = 0; !rc && i < s.n_evm; i++) {
        char m[4300];
        snprintf(m, sizeof m, "%s/evm/%s/exposure/MANIFEST", db, evm_store_chain(s.evm[i]));
        if (access(m, F_OK) == 0 && (rc = cli_evm_exposure_update(db, s.evm[i], 0, err)))
            xchain_links_free(l);
    }
    stores_close(&s);
    return rc;
}

static void print_end(const xchain_end *e)
{
    char hex[67];
    if (!strcmp(e->chain, "btc"))
        util_hash_hex(hex, e->hash);
    else
        evm_hash_hex(hex, e->hash);
    printf("%s:%s", e->chain, hex);
    if (e->log_index >= 0) printf("#log%lld", (long long)e->log_index);
    for (uint32_t i = 0; i < e->n_outs; i++)
        printf("%s%u", i ? "," : ":", e->vout[i]);
}

static void print_link(const xchain_link *l)
{
    char a[EVM_U256_DEC_MAX], b[EVM_U256_DEC_MAX];
    evm_u256_format(a, &l->amount_in);
    evm_u256_format(b, &l->amount_out);
    printf("%-20s conf %.3f of %u  ", xchain_method_name(l->method), l->confidence, l->candidates);
    print_end(&l->from);
    printf(" -> ");
    print_end(&l->to);
    printf("  %s %s -> %s %s  (%s)\n", a, l->asset_in, b, l->asset_out, l->rule);
}

static void output(const xchain_links *l, const size_t *idx, size_t n, int json)
{
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, xchain_link_json(&l->v[idx ? idx[i] : i]));
        json_t *doc = json_object();
        json_object_set_new(doc, "links", a);
        json_object_set_new(doc, "count", json_integer((json_int_t)n));
        cli_print_json(doc);
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        print_link(&l->v[idx ? idx[i] : i]);
    printf("%zu links\n", n);
}

int cmd_xchain(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"method", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    if (argc < 2 || (strcmp(argv[1], "links") && strcmp(argv[1], "show"))) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(xchain_usage, stdout);
            return CLI_OK;
        }
        fputs(xchain_usage, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1], *db = NULL, *method = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'm':
            method = optarg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return cli_usage(xchain_usage, c == 'h');
        }
    }
    int nargs = argc - 1 - optind;
    if (!db || (!strcmp(sub, "links") && nargs != 0) || (!strcmp(sub, "show") && nargs != 1)) {
        fprintf(stderr, "cointrail: xchain %s: %s\n%s", sub,
                !db ? "--db DIR is required" : "wrong number of arguments", xchain_usage);
        return CLI_USAGE;
    }
    int m = 0;
    if (method && !(m = xchain_method_parse(method))) {
        fprintf(stderr, "cointrail: --method: '%s' is not a link method\n%s", method, xchain_usage);
        return CLI_USAGE;
    }
    util_err err = {0};
    xchain_links l;
    if (!strcmp(sub, "links")) {
        if (build(db, &l, &err)) return cli_fail(&err);
        size_t *idx = calloc(l.n + 1, sizeof *idx), n = 0;
        if (!idx) {
            xchain_links_free(&l);
            util_errf(&err, UTIL_ENOMEM, "out of memory");
            return cli_fail(&err);
        }
        for (size_t i = 0; i < l.n; i++)
            if (!m || l.v[i].method == m) idx[n++] = i;
        output(&l, idx, n, json);
        free(idx);
        xchain_links_free(&l);
        return CLI_OK;
    }
    /* show */
    const char *arg = argv[1 + optind];
    uint8_t hash[32];
    const char *chain = NULL;
    if (!strncmp(arg, "0x", 2) || !strncmp(arg, "0X", 2)) {
        if (evm_hash_parse(hash, arg, strlen(arg), &err)) {
            fprintf(stderr, "cointrail: '%s': %s\n", arg, err.msg);
            return CLI_USAGE;
        }
    } else if (strlen(arg) != 64 || util_hash_parse(hash, arg)) {
        fprintf(stderr, "cointrail: '%s': not a txid (64 hex digits) or 0x + 64 hex digits\n", arg);
        return CLI_USAGE;
    } else {
        chain = "btc";
    }
    int rc = xchain_links_load(db, &l, &err);
    if (rc == UTIL_ENOTFOUND) rc = build(db, &l, &err);
    if (rc) return cli_fail(&err);
    size_t *idx = calloc(l.n + 1, sizeof *idx), n = 0;
    if (!idx) {
        xchain_links_free(&l);
        util_errf(&err, UTIL_ENOMEM, "out of memory");
        return cli_fail(&err);
    }
    for (size_t i = 0; i < l.n; i++) {
        const xchain_link *k = &l.v[i];
        const xchain_end *e[2] = {&k->from, &k->to};
        for (int j = 0; j < 2; j++)
            if ((chain ? !strcmp(e[j]->chain, chain) : strcmp(e[j]->chain, "btc") != 0) &&
                !memcmp(e[j]->hash, hash, 32) && (!m || k->method == m)) {
                idx[n++] = i;
                break;
            }
    }
    output(&l, idx, n, json);
    free(idx);
    xchain_links_free(&l);
    if (!n && !json) return CLI_NOTFOUND;
    return CLI_OK;
}
