/* trace_spec: seeds from SPECs (TXID:N, TXID, ADDRESS, entity:ADDRESS|ID) and --until
 * arguments (a height, or a time mapped to a height through the block times). No file is read
 * here: the CLI expands @FILE into SPECs. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "trace.h"

/* ---- seeds ---- */

static int seeds_add(trace_seeds *sd, uint64_t out)
{
    for (size_t i = 0; i < sd->n; i++) /* seeds lists are small; keep it simple */
        if (sd->out[i] == out) return 0;
    if (sd->n == sd->cap) {
        size_t nc = sd->cap ? sd->cap * 2 : 16;
        uint64_t *p = realloc(sd->out, nc * sizeof *p);
        if (!p) return UTIL_ENOMEM;
        sd->out = p;
        sd->cap = nc;
    }
    sd->out[sd->n++] = out;
    return 0;
}

static int is_hex64(const char *s, size_t n)
{
    if (n != 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

int trace_add_entity(trace_seeds *sd, const store *s, const cluster_map *m, const char *arg,
                     util_err *err)
{
    if (!m)
        return util_errf(err, UTIL_ENOTFOUND, "entity %s: no clustering (run cointrail cluster)",
                         arg);
    uint32_t aid;
    char *end;
    if (*arg >= '0' && *arg <= '9' && strlen(arg) < 12 && (strtoull(arg, &end, 10), !*end)) {
        unsigned long long v = strtoull(arg, NULL, 10);
        if (v >= cluster_map_addresses(m))
            return util_errf(err, UTIL_ENOTFOUND, "entity %s: no such address id", arg);
        aid = (uint32_t)v;
    } else {
        btc_addr key;
        int rc = btc_addr_decode(&key, arg, err);
        if (rc) return rc;
        int64_t a = store_find_addr(s, &key);
        if (a < 0 || (uint64_t)a >= cluster_map_addresses(m))
            return util_errf(err, UTIL_ENOTFOUND, "entity of %s: address not clustered", arg);
        aid = (uint32_t)a;
    }
    uint32_t ent = cluster_entity_of(m, aid);
    /* Members have ids from the entity id (its smallest member) up. */
    for (uint32_t a = ent; a < cluster_map_addresses(m); a++) {
        if (cluster_entity_of(m, a) != ent) continue;
        for (uint64_t o = store_addr_last_out(s, a); o != STORE_NONE;
             o = store_out_prev_same_addr(s, o))
            if (seeds_add(sd, o)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

static int add_one_spec(trace_seeds *sd, const store *s, const char *spec, util_err *err)
{
    size_t len = strlen(spec);
    if (!len) return util_errf(err, UTIL_EINVAL, "empty seed");
    const char *colon = strchr(spec, ':');
    if (is_hex64(spec, colon ? (size_t)(colon - spec) : len)) {
        char hex[65];
        memcpy(hex, spec, 64);
        hex[64] = 0;
        uint8_t h[32];
        if (util_hash_parse(h, hex)) return util_errf(err, UTIL_EINVAL, "bad txid '%s'", spec);
        int64_t tx = store_find_tx(s, h);
        if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "txid %s not in the store", hex);
        uint32_t nout = store_tx_n_out(s, (uint64_t)tx);
        uint64_t first = store_tx_first_out(s, (uint64_t)tx);
        if (!colon) {
            for (uint32_t i = 0; i < nout; i++)
                if (seeds_add(sd, first + i)) return util_errf(err, UTIL_ENOMEM, "out of memory");
            return 0;
        }
        const char *p = colon + 1;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(p, &end, 10);
        if (!*p || *end || errno || !isdigit((unsigned char)*p))
            return util_errf(err, UTIL_EINVAL, "bad output index in '%s' (want TXID:N)", spec);
        if (n >= nout)
            return util_errf(err, UTIL_ENOTFOUND, "tx %s has %u outputs, no output %llu", hex, nout,
                             n);
        if (seeds_add(sd, first + n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        return 0;
    }
    if (colon || len > 100)
        return util_errf(err, UTIL_EINVAL, "bad seed '%s': want TXID:N, TXID or an address", spec);
    btc_addr key;
    util_err aerr = {0};
    if (btc_addr_decode(&key, spec, &aerr))
        return util_errf(err, UTIL_EINVAL,
                         "bad seed '%s': not a txid, TXID:N or valid address (%s)", spec, aerr.msg);
    int64_t aid = store_find_addr(s, &key);
    if (aid < 0) return util_errf(err, UTIL_ENOTFOUND, "address %s not in the store", spec);
    for (uint64_t o = store_addr_last_out(s, (uint32_t)aid); o != STORE_NONE;
         o = store_out_prev_same_addr(s, o))
        if (seeds_add(sd, o)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return 0;
}

int trace_add_spec(trace_seeds *sd, const store *s, const char *spec, util_err *err)
{
    return add_one_spec(sd, s, spec, err);
}

int trace_add_spec_entities(trace_seeds *sd, const store *s, const cluster_map *clusters,
                            const char *spec, util_err *err)
{
    if (!strncmp(spec, "entity:", 7)) return trace_add_entity(sd, s, clusters, spec + 7, err);
    return add_one_spec(sd, s, spec, err);
}

/* ---- --until as a time ---- */

/* The first index whose value is >= t in a non-decreasing array (n if none). */
static uint64_t first_at_least(const uint32_t *v, uint64_t n, int64_t t)
{
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((int64_t)v[mid] >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int trace_until_parse(const store *s, const char *arg, int direction, int64_t *height,
                      int64_t *time, util_err *err)
{
    int64_t t;
    int rc = taint_until_syntax(arg, height, &t, err);
    *time = -1;
    if (rc || *height >= 0) return rc;
    uint64_t nb = store_get_totals(s)->blocks;
    if (!nb) return util_errf(err, UTIL_ENOTFOUND, "--until %s: the store has no blocks", arg);
    /* The running maximum of block times is monotonic where the times are not; it is what
     * Bitcoin Core searches (CBlockIndex::nTimeMax, FindEarliestAtLeast). */
    uint32_t *tmax = malloc(nb * sizeof *tmax);
    if (!tmax) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint32_t m = 0;
    for (uint64_t h = 0; h < nb; h++) {
        uint32_t bt = store_block(s, h)->time;
        tmax[h] = m = bt > m ? bt : m;
    }
    /* forward: the last height whose running maximum is <= t; backward: the first >= t */
    uint64_t first = first_at_least(tmax, nb, direction == TRACE_FORWARD ? t + 1 : t);
    free(tmax);
    if (direction == TRACE_FORWARD) {
        if (!first)
            return util_errf(err, UTIL_ENOTFOUND, "--until %s: before the first block (time %u)",
                             arg, store_block(s, 0)->time);
        *height = (int64_t)first - 1;
    } else {
        if (first == nb)
            return util_errf(err, UTIL_ENOTFOUND,
                             "--until %s: after the last block (height %" PRIu64 ")", arg, nb - 1);
        *height = (int64_t)first;
    }
    *time = t;
    return 0;
}
