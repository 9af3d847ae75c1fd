/* serve: EVM screening and the cross-chain part of Bitcoin screenings (docs/screening.md, "EVM
 * addresses and txs" and "Across chains"), through the snapshot's evmexpo_screener: the same
 * calls `cointrail screen` makes, so the documents are the CLI's. The snapshot follows the EVM
 * stores, their exposure indexes and the links file too (serve_xscreen_sig): an `evm-import`,
 * `evm-exposure build` or `xchain links` swaps in a new snapshot as a Bitcoin import does. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "../evmexpo/evmexpo.h"
#include "serve_int.h"

/* ---- following the EVM stores and the links ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t file_hash(const char *path, uint64_t seed)
{
    struct stat st;
    if (stat(path, &st)) return mix(seed, 1);
    uint64_t h = mix(seed, (uint64_t)st.st_ino);
    h = mix(h, (uint64_t)st.st_size);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec);
    return mix(h, (uint64_t)st.st_mtim.tv_nsec);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

uint64_t serve_xscreen_sig(const char *db)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/xchain/links.jsonl", db);
    uint64_t sig = file_hash(path, 7);
    snprintf(path, sizeof path, "%s/evm", db);
    DIR *d = opendir(path);
    if (!d) return sig;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) > 31) continue;
        uint64_t h = name_hash(e->d_name);
        snprintf(path, sizeof path, "%s/evm/%s/MANIFEST", db, e->d_name);
        h = file_hash(path, h);
        snprintf(path, sizeof path, "%s/evm/%s/" EVMEXPO_SUBDIR "/MANIFEST", db, e->d_name);
        h = file_hash(path, h);
        sig += h; /* a sum: the order readdir gives does not matter */
    }
    closedir(d);
    return sig;
}

void serve_xscreen_watch(int ino, const char *db)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/xchain", db);
    inotify_add_watch(ino, path, IN_MOVED_TO | IN_CLOSE_WRITE);
    snprintf(path, sizeof path, "%s/evm", db);
    DIR *d = opendir(path);
    if (!d) return; /* chains made after the start are found by the poll */
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) > 31) continue;
        snprintf(path, sizeof path, "%s/evm/%s", db, e->d_name);
        inotify_add_watch(ino, path, IN_MOVED_TO);
        snprintf(path, sizeof path, "%s/evm/%s/" EVMEXPO_SUBDIR, db, e->d_name);
        inotify_add_watch(ino, path, IN_MOVED_TO);
    }
    closedir(d);
}

static void warn_log(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "cointrail: serve: %s\n", msg);
}

int serve_xscreen_open(snap *sn, const char *db, util_err *err)
{
    sn->xsig = serve_xscreen_sig(db);
    return evmexpo_screener_new(&sn->xs, db, warn_log, NULL, err);
}

void serve_xscreen_close(snap *sn)
{
    evmexpo_screener_free(sn->xs);
    sn->xs = NULL;
}

/* ---- screening ---- */

int serve_is_evm(const char *what)
{
    return what[0] == '0' && (what[1] == 'x' || what[1] == 'X');
}

int serve_xscreen_btc(snap *sn, const server *sv, const char *what, json_t *doc, util_err *err)
{
    return evmexpo_screener_btc_json(sn->xs, sn->s, sn->labels, sn->clusters, &sv->cfg, what, doc,
                                     err);
}

int serve_xscreen_item(server *sv, snap *sn, const char *chain, int is_tx, const char *what,
                       const risk_opts *o, json_t **out, util_err *err)
{
    *out = NULL;
    if (serve_is_evm(what)) {
        /* the route names what it screens: an address is not taken for a tx, nor the reverse */
        if (strlen(what) != (is_tx ? 66u : 42u))
            return util_errf(err, UTIL_EINVAL, "%.100s: not an EVM %s", what,
                             is_tx ? "tx hash (0x + 64 hex digits)"
                                   : "address (0x + 40 hex digits)");
        return evmexpo_screener_evm(sn->xs, chain, sn->labels, &sv->cfg, what, out, err);
    }
    int rc = is_tx ? risk_screen_tx(sn->risk, what, o, out, err)
                   : risk_screen_address(sn->risk, what, o, out, err);
    if (!rc) rc = serve_xscreen_btc(sn, sv, what, *out, err);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

enum MHD_Result serve_route_screen_evm(server *sv, struct MHD_Connection *c, req *r, int is_tx,
                                       const char *what)
{
    const char *chain = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "chain");
    snap *sn = serve_snap_get(sv);
    json_t *doc = NULL;
    util_err err = {0};
    int rc = serve_xscreen_item(sv, sn, chain ? chain : "eth", is_tx, what, NULL, &doc, &err);
    serve_snap_put(sn);
    if (rc) {
        unsigned st = rc == UTIL_ENOTFOUND ? 404
                      : rc == UTIL_EINVAL  ? 400
                      : rc == UTIL_ENOMEM  ? 503
                                           : 500;
        const char *field = !strncmp(err.msg, "--chain", 7) ? "chain" : is_tx ? "txid" : "address";
        return serve_error(c, r, st, st == 400 ? field : NULL, "%s", err.msg);
    }
    return serve_send_json(c, r, 200, doc);
}
