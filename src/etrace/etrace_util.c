/* etrace: names, options, seeds and the exact multiply-divide. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etrace.h"

const char *etrace_policy_name(int p)
{
    return taint_policy_name(p);
}

int etrace_policy_parse(const char *name)
{
    return taint_policy_parse(name);
}

const char *etrace_direction_name(int d)
{
    return taint_direction_name(d);
}

int etrace_direction_parse(const char *name)
{
    return taint_direction_parse(name);
}

void etrace_default_opts(etrace_opts *o)
{
    memset(o, 0, sizeof *o);
    taint_default_opts(&o->core);
}

void etrace_seeds_free(etrace_seeds *s)
{
    free(s->x);
    free(s->taint);
    memset(s, 0, sizeof *s);
}

/* An all-ones taint stands for "whole" (the run reads the amount from the store). */
static const evm_u256 WHOLE = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};

static int seeds_add(etrace_seeds *s, uint64_t x, util_err *err)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i] == x) return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        uint64_t *p = realloc(s->x, nc * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory adding seeds");
        s->x = p;
        if (s->taint) {
            evm_u256 *t = realloc(s->taint, nc * sizeof *t);
            if (!t) return util_errf(err, UTIL_ENOMEM, "out of memory adding seeds");
            s->taint = t;
        }
        s->cap = nc;
    }
    if (s->taint) s->taint[s->n] = WHOLE;
    s->x[s->n++] = x;
    return 0;
}

int etrace_seeds_add_taint(etrace_seeds *s, uint64_t x, const evm_u256 *t, util_err *err)
{
    if (!s->taint) {
        s->taint = malloc((s->cap ? s->cap : 1) * sizeof *s->taint);
        if (!s->taint) return util_errf(err, UTIL_ENOMEM, "out of memory adding seeds");
        for (size_t i = 0; i < s->n; i++)
            s->taint[i] = WHOLE;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i] == x) return s->taint[i] = *t, 0;
    int rc = seeds_add(s, x, err);
    if (!rc) s->taint[s->n - 1] = *t;
    return rc;
}

/* A malformed argument is the user's: UTIL_EINVAL, whatever the parser said. */
static int einval(util_err *err, const char *what, const char *arg)
{
    util_err_prefix(err, "%s '%s'", what, arg);
    if (err) err->code = UTIL_EINVAL;
    return UTIL_EINVAL;
}

int etrace_asset_parse(const evm_store *s, const char *arg, uint32_t *asset, util_err *err)
{
    if (!strcmp(arg, "native")) return *asset = 0, 0;
    if (!strcmp(arg, "all")) return *asset = ETRACE_ASSET_ALL, 0;
    uint8_t a[20];
    if (evm_addr_parse(a, arg, strlen(arg), err))
        return einval(err, "--asset must be native, all or a token's 0x address, not", arg);
    for (uint32_t id = 1;; id++) {
        evm_token_meta m;
        if (evm_store_token(s, id, &m, NULL)) break;
        if (!memcmp(m.addr, a, 20)) return *asset = id, 0;
    }
    return util_errf(err, UTIL_ENOTFOUND, "--asset %s: no transfer of that token is stored", arg);
}

static int want(uint32_t asset, const evm_xfer_row *r)
{
    return r->kind != EVM_XFER_FEE && r->from != r->to &&
           (asset == ETRACE_ASSET_ALL || r->token == asset);
}

/* A decimal block number, or empty for an open end: 1 if given, 0 if empty, -1 if malformed. */
static int block_bound(const char *s, size_t n, uint64_t *out)
{
    if (!n) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

int etrace_add_spec(etrace_seeds *seeds, const evm_store *s, const char *spec, uint32_t asset,
                    util_err *err)
{
    const char *colon = strchr(spec, ':');
    size_t head = colon ? (size_t)(colon - spec) : strlen(spec);
    size_t before = seeds->n;
    int rc;
    uint64_t ntx, nx, na;
    evm_store_counts(s, &ntx, &nx, &na);
    if (head == 66) {
        uint8_t h[32];
        uint64_t id;
        if (evm_hash_parse(h, spec, 66, err)) return einval(err, "seed", spec);
        if ((rc = evm_store_find_tx(s, h, &id, err)))
            return util_err_prefix(err, "seed '%s'", spec);
        evm_tx_row t;
        if ((rc = evm_store_tx(s, id, &t, err))) return rc;
        uint64_t want_n = UINT64_MAX;
        if (colon && (block_bound(colon + 1, strlen(colon + 1), &want_n) != 1))
            return util_errf(err, UTIL_EINVAL,
                             "seed '%s': after the tx hash comes ':N', N a transfer "
                             "index",
                             spec);
        for (uint64_t x = t.first_xfer; x < nx; x++) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(s, x, &r, err))) return rc;
            if (r.tx != id) break;
            if (want_n != UINT64_MAX && x - t.first_xfer != want_n) continue;
            if (want_n != UINT64_MAX && r.kind == EVM_XFER_FEE)
                return util_errf(err, UTIL_EINVAL,
                                 "seed '%s': transfer %" PRIu64 " is the fee, which "
                                 "is not value moved to anyone",
                                 spec, want_n);
            if (want(asset, &r) && (rc = seeds_add(seeds, x, err))) return rc;
        }
    } else if (head == 42) {
        uint8_t a[20];
        uint32_t id;
        if (evm_addr_parse(a, spec, 42, err)) return einval(err, "seed", spec);
        uint64_t lo = 0, hi = UINT64_MAX;
        if (colon) {
            const char *dash = strchr(colon + 1, '-');
            if (!dash || block_bound(colon + 1, (size_t)(dash - colon - 1), &lo) < 0 ||
                block_bound(dash + 1, strlen(dash + 1), &hi) < 0)
                return util_errf(err, UTIL_EINVAL,
                                 "seed '%s': after the address comes ':FROM-TO', "
                                 "a block range (either side may be empty)",
                                 spec);
        }
        if ((rc = evm_store_find_addr(s, a, &id, err)))
            return util_err_prefix(err, "seed '%s'", spec);
        uint64_t first, nb;
        uint8_t tip[32];
        evm_store_tip(s, &first, &nb, tip);
        uint64_t x;
        if ((rc = evm_store_addr_head(s, id, &x, err))) return rc;
        size_t mark = seeds->n;
        while (x != EVM_NONE64) {
            evm_xfer_row r;
            if ((rc = evm_store_xfer(s, x, &r, err))) return rc;
            uint64_t bn = first + r.block;
            if (r.to == id && r.from != id && bn >= lo && bn <= hi && want(asset, &r) &&
                (rc = seeds_add(seeds, x, err)))
                return rc;
            if ((rc = evm_store_addr_next(s, id, x, &x, err))) return rc;
        }
        /* The list is newest first; seeds read better in chain order. */
        for (size_t i = mark, j = seeds->n; i + 1 < j; i++, j--) {
            uint64_t t = seeds->x[i];
            seeds->x[i] = seeds->x[j - 1];
            seeds->x[j - 1] = t;
        }
    } else {
        return util_errf(err, UTIL_EINVAL,
                         "seed '%s' is neither 0xTXHASH[:N] (66 characters "
                         "before ':') nor 0xADDRESS[:FROM-TO] (42)",
                         spec);
    }
    if (seeds->n == before)
        return util_errf(err, UTIL_ENOTFOUND,
                         "seed '%s' selects no transfer of the asset asked for", spec);
    return 0;
}

/* ---- exact multiply-divide ---- */

/* Knuth's algorithm D over 32-bit digits (as in Hacker's Delight, divmnu): q = u / v, r = u mod v.
 * u has m digits, v has n >= 2 digits with v[n-1] != 0, m >= n; q receives m - n + 1 digits. */
static void divmnu(uint32_t *q, uint32_t *r, const uint32_t *u, const uint32_t *v, int m, int n)
{
    const uint64_t b = (uint64_t)1 << 32;
    uint32_t un[17], vn[8];
    int s = __builtin_clz(v[n - 1]);
    for (int i = n - 1; i > 0; i--)
        vn[i] = (uint32_t)(v[i] << s | (uint64_t)v[i - 1] >> (32 - s));
    vn[0] = v[0] << s;
    un[m] = (uint32_t)((uint64_t)u[m - 1] >> (32 - s));
    for (int i = m - 1; i > 0; i--)
        un[i] = (uint32_t)(u[i] << s | (uint64_t)u[i - 1] >> (32 - s));
    un[0] = u[0] << s;
    for (int j = m - n; j >= 0; j--) {
        uint64_t num = (uint64_t)un[j + n] << 32 | un[j + n - 1];
        uint64_t qhat = num / vn[n - 1], rhat = num % vn[n - 1];
        while (qhat >= b || qhat * vn[n - 2] > (rhat << 32 | un[j + n - 2])) {
            qhat--;
            rhat += vn[n - 1];
            if (rhat >= b) break;
        }
        /* multiply and subtract */
        int64_t k = 0, t;
        for (int i = 0; i < n; i++) {
            uint64_t p = qhat * vn[i];
            t = (int64_t)un[i + j] - k - (int64_t)(p & 0xffffffffu);
            un[i + j] = (uint32_t)t;
            k = (int64_t)(p >> 32) - (t >> 32);
        }
        t = (int64_t)un[j + n] - k;
        un[j + n] = (uint32_t)t;
        q[j] = (uint32_t)qhat;
        if (t < 0) { /* qhat was one too large: add back */
            q[j]--;
            uint64_t c = 0;
            for (int i = 0; i < n; i++) {
                c += (uint64_t)un[i + j] + vn[i];
                un[i + j] = (uint32_t)c;
                c >>= 32;
            }
            un[j + n] = (uint32_t)(un[j + n] + c);
        }
    }
    for (int i = 0; i < n - 1; i++)
        r[i] = (uint32_t)(un[i] >> s | (uint64_t)un[i + 1] << (32 - s));
    r[n - 1] = un[n - 1] >> s;
}

int etrace_muldiv(evm_u256 *q, evm_u256 *r, const evm_u256 *a, const evm_u256 *b, const evm_u256 *d)
{
    if (evm_u256_is_zero(d)) return -1;
    uint64_t p[8] = {0};
    for (int i = 0; i < 4; i++) {
        unsigned __int128 carry = 0;
        for (int j = 0; j < 4; j++) {
            carry += (unsigned __int128)a->w[i] * b->w[j] + p[i + j];
            p[i + j] = (uint64_t)carry;
            carry >>= 64;
        }
        p[i + 4] = (uint64_t)carry;
    }
    uint32_t u[16], v[8], qd[16] = {0}, rd[8] = {0};
    for (int i = 0; i < 8; i++)
        u[2 * i] = (uint32_t)p[i], u[2 * i + 1] = (uint32_t)(p[i] >> 32);
    for (int i = 0; i < 4; i++)
        v[2 * i] = (uint32_t)d->w[i], v[2 * i + 1] = (uint32_t)(d->w[i] >> 32);
    int m = 16, n = 8;
    while (m > 0 && !u[m - 1])
        m--;
    while (!v[n - 1])
        n--;
    if (m < n) {
        memcpy(rd, u, (size_t)m * sizeof *u);
    } else if (n == 1) {
        uint64_t k = 0;
        for (int j = m - 1; j >= 0; j--) {
            uint64_t cur = k << 32 | u[j];
            qd[j] = (uint32_t)(cur / v[0]);
            k = cur % v[0];
        }
        rd[0] = (uint32_t)k;
    } else {
        divmnu(qd, rd, u, v, m, n);
    }
    for (int i = 8; i < 16; i++)
        if (qd[i]) return -1;
    for (int i = 0; i < 4; i++) {
        q->w[i] = (uint64_t)qd[2 * i + 1] << 32 | qd[2 * i];
        r->w[i] = (uint64_t)rd[2 * i + 1] << 32 | rd[2 * i];
    }
    return 0;
}
