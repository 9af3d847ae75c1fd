/* THORChain memos (https://dev.thorchain.org/concepts/memos.html) and our bridge release
 * convention. Only what links need is kept; anything else is refused with the field named. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "xchain.h"

#define MAX_FIELDS 8

typedef struct span {
    const char *p;
    size_t n;
} span;

static int span_is(span s, const char *word)
{
    return s.n == strlen(word) && !strncasecmp(s.p, word, s.n);
}

/* THORChain's short asset codes. */
static const struct {
    char code;
    const char *asset;
} short_assets[] = {{'a', "AVAX.AVAX"}, {'b', "BTC.BTC"},   {'c', "BCH.BCH"}, {'n', "BNB.BNB"},
                    {'s', "BSC.BNB"},   {'d', "DOGE.DOGE"}, {'e', "ETH.ETH"}, {'g', "GAIA.ATOM"},
                    {'l', "LTC.LTC"},   {'r', "THOR.RUNE"}};

/* CHAIN.SYMBOL[-CONTRACT], or synthetic (/), trade (~) and secured (-) forms. *native is 1
 * for the '.' form, whose destination is on CHAIN itself. */
static int parse_asset(span f, xchain_memo *m, int *native, util_err *err)
{
    if (f.n == 1) {
        for (size_t i = 0; i < sizeof short_assets / sizeof *short_assets; i++)
            if (tolower((unsigned char)f.p[0]) == short_assets[i].code) {
                snprintf(m->asset, sizeof m->asset, "%s", short_assets[i].asset);
                snprintf(m->chain, sizeof m->chain, "%.*s",
                         (int)(strchr(short_assets[i].asset, '.') - short_assets[i].asset),
                         short_assets[i].asset);
                *native = 1;
                return 0;
            }
        return util_errf(err, UTIL_EFORMAT, "asset '%.*s': not a known short code", (int)f.n, f.p);
    }
    if (f.n >= sizeof m->asset)
        return util_errf(err, UTIL_EFORMAT, "asset: longer than %zu characters",
                         sizeof m->asset - 1);
    size_t sep = 0;
    while (sep < f.n && isalnum((unsigned char)f.p[sep]))
        sep++;
    if (sep == 0 || sep >= f.n || sep >= sizeof m->chain || !strchr("./~-", f.p[sep]) ||
        sep + 1 == f.n)
        return util_errf(err, UTIL_EFORMAT,
                         "asset '%.*s': not CHAIN.SYMBOL (or CHAIN/SYMBOL, CHAIN~SYMBOL)",
                         (int)(f.n < 96 ? f.n : 96), f.p);
    for (size_t i = sep + 1; i < f.n; i++)
        if (!isalnum((unsigned char)f.p[i]) && f.p[i] != '-' && f.p[i] != '.')
            return util_errf(err, UTIL_EFORMAT, "asset: bad character '%c' in the symbol", f.p[i]);
    for (size_t i = 0; i < f.n; i++)
        m->asset[i] = (char)toupper((unsigned char)f.p[i]);
    m->asset[f.n] = 0;
    memcpy(m->chain, m->asset, sep);
    m->chain[sep] = 0;
    *native = f.p[sep] == '.';
    return 0;
}

/* A decimal number, or THORChain's scientific form MANTISSAeEXP (integer mantissa). */
static int parse_amount(span f, evm_u256 *v, const char *what, util_err *err)
{
    size_t e = 0;
    while (e < f.n && f.p[e] != 'e' && f.p[e] != 'E')
        e++;
    for (size_t i = 0; i < f.n; i++)
        if (i != e && !isdigit((unsigned char)f.p[i]))
            return util_errf(err, UTIL_EFORMAT, "%s '%.*s': not a number", what,
                             (int)(f.n < 40 ? f.n : 40), f.p);
    if (e == 0 || e + 1 == f.n)
        return util_errf(err, UTIL_EFORMAT, "%s '%.*s': not a number", what,
                         (int)(f.n < 40 ? f.n : 40), f.p);
    if (evm_u256_parse(v, f.p, e, NULL))
        return util_errf(err, UTIL_EFORMAT, "%s: exceeds 2^256-1", what);
    if (e < f.n) {
        if (f.n - e - 1 > 2) return util_errf(err, UTIL_EFORMAT, "%s: exponent too large", what);
        unsigned x = 0;
        for (size_t i = e + 1; i < f.n; i++)
            x = x * 10 + (unsigned)(f.p[i] - '0');
        for (unsigned i = 0; i < x; i++)
            if (evm_u256_mul64(v, v, 10))
                return util_errf(err, UTIL_EFORMAT, "%s: exceeds 2^256-1", what);
    }
    return 0;
}

static int parse_u32(span f, uint32_t *out, const char *what, util_err *err)
{
    uint64_t x = 0;
    if (!f.n || f.n > 10) return util_errf(err, UTIL_EFORMAT, "%s: not a number", what);
    for (size_t i = 0; i < f.n; i++) {
        if (!isdigit((unsigned char)f.p[i]))
            return util_errf(err, UTIL_EFORMAT, "%s: not a number", what);
        x = x * 10 + (uint64_t)(f.p[i] - '0');
    }
    if (x > UINT32_MAX) return util_errf(err, UTIL_EFORMAT, "%s: exceeds 2^32-1", what);
    *out = (uint32_t)x;
    return 0;
}

static int parse_hash(span f, uint8_t out[32], util_err *err)
{
    if (f.n == 66 && f.p[0] == '0' && (f.p[1] == 'x' || f.p[1] == 'X')) f.p += 2, f.n -= 2;
    if (f.n != 64)
        return util_errf(err, UTIL_EFORMAT, "hash: %zu characters, expected 64 hex digits", f.n);
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = f.p[2 * i + (size_t)k];
            int d = isdigit((unsigned char)c) ? c - '0'
                    : (c >= 'a' && c <= 'f')  ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F')  ? c - 'A' + 10
                                              : -1;
            if (d < 0) return util_errf(err, UTIL_EFORMAT, "hash: '%c' is not a hex digit", c);
            v = v << 4 | d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int parse_swap(const span *f, int nf, xchain_memo *m, util_err *err)
{
    int native = 0, rc;
    if (nf < 3 || !f[1].n || !f[2].n)
        return util_errf(err, UTIL_EFORMAT, "swap memo: needs ASSET and DESTINATION fields");
    if ((rc = parse_asset(f[1], m, &native, err))) return rc;
    if (f[2].n >= sizeof m->dest)
        return util_errf(err, UTIL_EFORMAT, "destination: longer than %zu characters",
                         sizeof m->dest - 1);
    memcpy(m->dest, f[2].p, f[2].n);
    m->dest[f[2].n] = 0;
    for (size_t i = 0; i < f[2].n; i++)
        if (!isalnum((unsigned char)f[2].p[i]))
            return util_errf(err, UTIL_EFORMAT, "destination: bad character '%c'", f[2].p[i]);
    if (native && !strcmp(m->chain, "BTC")) {
        util_err e2 = {0};
        if (btc_addr_decode(&m->dest_addr, m->dest, &e2))
            return util_errf(err, UTIL_EFORMAT, "destination '%s': not a Bitcoin address (%s)",
                             m->dest, e2.msg);
        m->dest_is_btc = 1;
    } else if (native && !strcmp(m->chain, "ETH")) {
        uint8_t a[20];
        util_err e2 = {0};
        if (evm_addr_parse(a, m->dest, f[2].n, &e2))
            return util_errf(err, UTIL_EFORMAT, "destination '%s': not an Ethereum address (%s)",
                             m->dest, e2.msg);
    }
    if (nf > 3 && f[3].n) {
        span lim = f[3];
        const char *slash = memchr(lim.p, '/', lim.n);
        if (slash) {
            span rest = {slash + 1, lim.n - (size_t)(slash + 1 - lim.p)};
            lim.n = (size_t)(slash - lim.p);
            const char *s2 = memchr(rest.p, '/', rest.n);
            if (!s2)
                return util_errf(err, UTIL_EFORMAT,
                                 "limit: streaming form is LIMIT/INTERVAL/QUANTITY");
            span iv = {rest.p, (size_t)(s2 - rest.p)},
                 qt = {s2 + 1, rest.n - (size_t)(s2 + 1 - rest.p)};
            if ((rc = parse_u32(iv, &m->interval, "streaming interval", err)) ||
                (rc = parse_u32(qt, &m->quantity, "streaming quantity", err)))
                return rc;
        }
        if (lim.n) {
            if ((rc = parse_amount(lim, &m->limit, "limit", err))) return rc;
            m->has_limit = 1;
        }
    }
    if (nf > 4 && f[4].n) {
        if (f[4].n >= sizeof m->affiliate)
            return util_errf(err, UTIL_EFORMAT, "affiliate: longer than %zu characters",
                             sizeof m->affiliate - 1);
        for (size_t i = 0; i < f[4].n; i++)
            if (!isalnum((unsigned char)f[4].p[i]) && f[4].p[i] != '-' && f[4].p[i] != '_' &&
                f[4].p[i] != '/')
                return util_errf(err, UTIL_EFORMAT, "affiliate: bad character '%c'", f[4].p[i]);
        memcpy(m->affiliate, f[4].p, f[4].n);
        m->affiliate[f[4].n] = 0;
    }
    if (nf > 5 && f[5].n) {
        if ((rc = parse_u32(f[5], &m->affiliate_bps, "affiliate fee", err))) return rc;
        if (m->affiliate_bps > 10000)
            return util_errf(err, UTIL_EFORMAT, "affiliate fee: %u basis points exceeds 10000",
                             m->affiliate_bps);
    }
    return 0;
}

int xchain_memo_parse(const char *s, size_t n, xchain_memo *m, util_err *err)
{
    memset(m, 0, sizeof *m);
    if (!n) return util_errf(err, UTIL_EFORMAT, "empty memo");
    if (n > 250) return util_errf(err, UTIL_EFORMAT, "memo of %zu bytes (THORChain allows 250)", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return util_errf(err, UTIL_EFORMAT, "byte %zu: 0x%02x is not printable ASCII", i,
                             (unsigned char)s[i]);
    span f[MAX_FIELDS];
    int nf = 0;
    for (size_t a = 0;;) {
        const char *c = memchr(s + a, ':', n - a);
        size_t b = c ? (size_t)(c - s) : n;
        if (nf == MAX_FIELDS)
            return util_errf(err, UTIL_EFORMAT, "more than %d ':'-separated fields", MAX_FIELDS);
        f[nf++] = (span){s + a, b - a};
        if (!c) break;
        a = b + 1;
    }
    int rc;
    if (span_is(f[0], "SWAP") || span_is(f[0], "s") || span_is(f[0], "=")) {
        m->kind = XCHAIN_MEMO_SWAP;
        rc = parse_swap(f, nf, m, err);
    } else if (span_is(f[0], "OUT") || span_is(f[0], "REFUND")) {
        m->kind = span_is(f[0], "OUT") ? XCHAIN_MEMO_OUT : XCHAIN_MEMO_REFUND;
        if (nf != 2)
            return util_errf(err, UTIL_EFORMAT, "%.*s memo: exactly one field, the inbound hash",
                             (int)f[0].n, f[0].p);
        rc = parse_hash(f[1], m->in_hash, err);
    } else if (span_is(f[0], "BRIDGE")) {
        m->kind = XCHAIN_MEMO_BRIDGE;
        if (nf < 3 || nf > 4)
            return util_errf(err, UTIL_EFORMAT, "bridge memo: BRIDGE:DESTCHAIN:NONCE[:0xBRIDGE]");
        rc = parse_amount(f[1], &m->dest_chain, "destination chain", err);
        if (!rc) rc = parse_amount(f[2], &m->nonce, "nonce", err);
        if (!rc && nf == 4) {
            util_err e2 = {0};
            if (evm_addr_parse(m->bridge, f[3].p, f[3].n, &e2))
                return util_errf(err, UTIL_EFORMAT, "bridge contract: %s", e2.msg);
            m->has_bridge = 1;
        }
    } else {
        return util_errf(err, UTIL_EFORMAT, "action '%.*s': not a swap, OUT, REFUND or BRIDGE",
                         (int)(f[0].n < 32 ? f[0].n : 32), f[0].p);
    }
    if (rc) memset(m, 0, sizeof *m);
    return rc;
}
