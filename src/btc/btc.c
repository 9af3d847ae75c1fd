#define _DEFAULT_SOURCE
#include "btc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "../util/util_vec.h"

const uint8_t btc_mainnet_magic[4] = {0xf9, 0xbe, 0xb4, 0xd9};

int btc_is_magic(const uint8_t m[4])
{
    static const uint8_t testnet[4] = {0x0b, 0x11, 0x09, 0x07},
                         regtest[4] = {0xfa, 0xbf, 0xb5, 0xda};
    return memcmp(m, btc_mainnet_magic, 4) == 0 || memcmp(m, testnet, 4) == 0 ||
           memcmp(m, regtest, 4) == 0;
}

static const char *const script_type_names[BTC_NSCRIPT_TYPES] = {
    "nonstandard", "p2pk", "p2pkh",           "p2sh",     "p2wpkh",
    "p2wsh",       "p2tr", "witness_unknown", "multisig", "nulldata"};

const char *btc_script_type_name(int type)
{
    return type >= 0 && type < BTC_NSCRIPT_TYPES ? script_type_names[type] : "?";
}

const char *btc_addr_kind_name(int kind)
{
    static const char *const names[] = {"none",  "p2pkh", "p2sh",           "p2wpkh",
                                        "p2wsh", "p2tr",  "witness_unknown"};
    return kind >= 0 && kind <= BTC_ADDR_WITNESS_UNKNOWN ? names[kind] : "?";
}

/* ---- script classification (Bitcoin Core's Solver rules) ---- */

enum {
    OP_0 = 0x00,
    OP_PUSHDATA1 = 0x4c,
    OP_PUSHDATA2 = 0x4d,
    OP_PUSHDATA4 = 0x4e,
    OP_1 = 0x51,
    OP_16 = 0x60,
    OP_RETURN = 0x6a,
    OP_DUP = 0x76,
    OP_EQUAL = 0x87,
    OP_EQUALVERIFY = 0x88,
    OP_HASH160 = 0xa9,
    OP_CHECKSIG = 0xac,
    OP_CHECKMULTISIG = 0xae
};

static int pubkey_size_ok(const uint8_t *k, size_t n)
{
    if (n == 33) return k[0] == 2 || k[0] == 3;
    if (n == 65) return k[0] == 4 || k[0] == 6 || k[0] == 7;
    return 0;
}

/* Reads one script op at *pos; returns the opcode, data pointer/size for pushes, or -1 when
 * the push runs past the end. */
static int script_next_op(const uint8_t *s, size_t len, size_t *pos, const uint8_t **data,
                          size_t *dlen)
{
    if (*pos >= len) return -1;
    int op = s[(*pos)++];
    size_t n = 0;
    if (op <= OP_PUSHDATA4) {
        if (op < OP_PUSHDATA1)
            n = (size_t)op;
        else {
            size_t w = op == OP_PUSHDATA1 ? 1 : op == OP_PUSHDATA2 ? 2 : 4;
            if (len - *pos < w) return -1;
            n = w == 1 ? s[*pos] : w == 2 ? util_le16(s + *pos) : util_le32(s + *pos);
            *pos += w;
        }
        if (len - *pos < n) return -1;
    }
    *data = s + *pos;
    *dlen = n;
    *pos += n;
    return op;
}

static int is_push_only(const uint8_t *s, size_t len, size_t pos)
{
    while (pos < len) {
        const uint8_t *d;
        size_t n;
        int op = script_next_op(s, len, &pos, &d, &n);
        if (op < 0 || op > OP_16) return 0;
    }
    return 1;
}

size_t btc_nulldata_payload(const uint8_t *script, size_t len, uint8_t *out)
{
    size_t pos = 1, n_out = 0;
    if (len < 1 || script[0] != OP_RETURN) return 0;
    while (pos < len) {
        const uint8_t *d;
        size_t n;
        int op = script_next_op(script, len, &pos, &d, &n);
        if (op < 0 || op > OP_16) return n_out; /* not push-only: what came before */
        if (op <= OP_PUSHDATA4 && n) {
            memcpy(out + n_out, d, n);
            n_out += n;
        }
    }
    return n_out;
}

static int classify_multisig(const uint8_t *s, size_t len)
{
    if (len < 3 || s[len - 1] != OP_CHECKMULTISIG) return 0;
    int m = s[0], n = s[len - 2];
    if (m < OP_1 || m > OP_16 || n < OP_1 || n > OP_16) return 0;
    m -= OP_1 - 1;
    n -= OP_1 - 1;
    if (m > n) return 0;
    size_t pos = 1;
    int keys = 0;
    while (pos < len - 2) {
        const uint8_t *d;
        size_t dl;
        int op = script_next_op(s, len - 2, &pos, &d, &dl);
        if (op < 0 || op > OP_PUSHDATA4 || !pubkey_size_ok(d, dl)) return 0;
        keys++;
    }
    return keys == n;
}

int btc_classify_script(const uint8_t *s, size_t len, btc_addr *addr)
{
    memset(addr, 0, sizeof *addr);
    if (len == 25 && s[0] == OP_DUP && s[1] == OP_HASH160 && s[2] == 20 &&
        s[23] == OP_EQUALVERIFY && s[24] == OP_CHECKSIG) {
        addr->kind = BTC_ADDR_P2PKH, addr->len = 20;
        memcpy(addr->prog, s + 3, 20);
        return BTC_P2PKH;
    }
    if (len == 23 && s[0] == OP_HASH160 && s[1] == 20 && s[22] == OP_EQUAL) {
        addr->kind = BTC_ADDR_P2SH, addr->len = 20;
        memcpy(addr->prog, s + 2, 20);
        return BTC_P2SH;
    }
    /* A witness program: a version opcode then one direct push of 2..40 bytes. */
    if (len >= 4 && len <= 42 && (s[0] == OP_0 || (s[0] >= OP_1 && s[0] <= OP_16)) &&
        (size_t)s[1] + 2 == len) {
        int ver = s[0] == OP_0 ? 0 : s[0] - OP_1 + 1;
        size_t plen = s[1];
        if (ver == 0 && plen == 20) {
            addr->kind = BTC_ADDR_P2WPKH, addr->len = 20;
            memcpy(addr->prog, s + 2, 20);
            return BTC_P2WPKH;
        }
        if (ver == 0 && plen == 32) {
            addr->kind = BTC_ADDR_P2WSH, addr->len = 32;
            memcpy(addr->prog, s + 2, 32);
            return BTC_P2WSH;
        }
        if (ver == 1 && plen == 32) {
            addr->kind = BTC_ADDR_P2TR, addr->len = 32, addr->witver = 1;
            memcpy(addr->prog, s + 2, 32);
            return BTC_P2TR;
        }
        if (ver != 0) {
            if (plen <= 32) {
                addr->kind = BTC_ADDR_WITNESS_UNKNOWN, addr->witver = (uint8_t)ver;
                addr->len = (uint8_t)plen;
                memcpy(addr->prog, s + 2, plen);
            }
            return BTC_WITNESS_UNKNOWN;
        }
        return BTC_NONSTANDARD;
    }
    if ((len == 35 || len == 67) && s[0] == len - 2 && s[len - 1] == OP_CHECKSIG &&
        pubkey_size_ok(s + 1, len - 2)) {
        addr->kind = BTC_ADDR_P2PKH, addr->len = 20;
        crypto_hash160(s + 1, len - 2, addr->prog);
        return BTC_P2PK;
    }
    if (len >= 1 && s[0] == OP_RETURN && is_push_only(s, len, 1)) return BTC_NULLDATA;
    if (classify_multisig(s, len)) return BTC_MULTISIG;
    return BTC_NONSTANDARD;
}

size_t btc_addr_encode(char *out, const btc_addr *a)
{
    switch (a->kind) {
    case BTC_ADDR_P2PKH:
        return crypto_base58check_encode(out, 0x00, a->prog, 20);
    case BTC_ADDR_P2SH:
        return crypto_base58check_encode(out, 0x05, a->prog, 20);
    case BTC_ADDR_P2WPKH:
    case BTC_ADDR_P2WSH:
        return crypto_segwit_encode(out, "bc", 0, a->prog, a->len);
    case BTC_ADDR_P2TR:
    case BTC_ADDR_WITNESS_UNKNOWN:
        return crypto_segwit_encode(out, "bc", a->witver, a->prog, a->len);
    }
    out[0] = 0;
    return 0;
}

int btc_addr_decode(btc_addr *a, const char *s, util_err *err)
{
    memset(a, 0, sizeof *a);
    if (strncasecmp(s, "bc1", 3) == 0) {
        int ver;
        uint8_t prog[40];
        size_t plen;
        int rc = crypto_segwit_decode(s, "bc", &ver, prog, &plen);
        if (rc == -2)
            return util_errf(err, UTIL_EINVAL, "address '%s': bad bech32/bech32m checksum", s);
        if (rc < 0)
            return util_errf(err, UTIL_EINVAL, "address '%s': not a valid bech32 address", s);
        if (plen > 32)
            return util_errf(err, UTIL_EINVAL,
                             "address '%s': witness programs over 32 bytes are not indexed", s);
        a->witver = (uint8_t)ver, a->len = (uint8_t)plen;
        memcpy(a->prog, prog, plen);
        a->kind = ver == 0                   ? (plen == 20 ? BTC_ADDR_P2WPKH : BTC_ADDR_P2WSH)
                  : (ver == 1 && plen == 32) ? BTC_ADDR_P2TR
                                             : BTC_ADDR_WITNESS_UNKNOWN;
        return 0;
    }
    uint8_t ver, payload[64];
    size_t n;
    int rc = crypto_base58check_decode(s, &ver, payload, sizeof payload, &n);
    if (rc == -2) return util_errf(err, UTIL_EINVAL, "address '%s': bad base58check checksum", s);
    if (rc < 0 || n != 20 || (ver != 0x00 && ver != 0x05))
        return util_errf(err, UTIL_EINVAL, "address '%s': not a mainnet Bitcoin address", s);
    a->kind = ver == 0 ? BTC_ADDR_P2PKH : BTC_ADDR_P2SH;
    a->len = 20;
    memcpy(a->prog, payload, 20);
    return 0;
}

/* ---- block and transaction parsing: pull helpers over a cursor ---- */

typedef struct cursor {
    const uint8_t *p;
    size_t off, end;
    int bad; /* set once a read runs past the end; later reads return zeros */
    const char *what;
    size_t bad_off;
} cursor;

static void mark_bad(cursor *c, const char *what)
{
    if (!c->bad) {
        c->bad = 1;
        c->what = what;
        c->bad_off = c->off;
    }
}

static int need(cursor *c, size_t n, const char *what)
{
    if (c->bad) return 0;
    if (c->end - c->off < n) {
        mark_bad(c, what);
        return 0;
    }
    return 1;
}

static uint32_t pull_u32(cursor *c, const char *what)
{
    if (!need(c, 4, what)) return 0;
    uint32_t v = util_le32(c->p + c->off);
    c->off += 4;
    return v;
}

static uint64_t pull_u64(cursor *c, const char *what)
{
    if (!need(c, 8, what)) return 0;
    uint64_t v = util_le64(c->p + c->off);
    c->off += 8;
    return v;
}

static uint64_t pull_varint(cursor *c, const char *what)
{
    if (!need(c, 1, what)) return 0;
    uint8_t b = c->p[c->off++];
    if (b < 0xfd) return b;
    size_t w = b == 0xfd ? 2 : b == 0xfe ? 4 : 8;
    if (!need(c, w, what)) return 0;
    uint64_t v = w == 2   ? util_le16(c->p + c->off)
                 : w == 4 ? util_le32(c->p + c->off)
                          : util_le64(c->p + c->off);
    c->off += w;
    return v;
}

static const uint8_t *pull_bytes(cursor *c, uint64_t n, const char *what)
{
    if (c->bad) return NULL;
    if (n > c->end - c->off) {
        mark_bad(c, what);
        return NULL;
    }
    const uint8_t *r = c->p + c->off;
    c->off += (size_t)n;
    return r;
}

/* Grow an array owned by the block to hold want elements. */
static int grow(void **arr, uint32_t *cap, uint64_t want, size_t elem)
{
    return util_grow_u32(arr, cap, want, elem, 64, UINT32_MAX);
}

void btc_parse_header(btc_header *h, const uint8_t *p)
{
    h->version = util_le32(p);
    memcpy(h->prev, p + 4, 32);
    memcpy(h->merkle, p + 36, 32);
    h->time = util_le32(p + 68);
    h->bits = util_le32(p + 72);
    h->nonce = util_le32(p + 76);
    crypto_sha256d(p, 80, h->hash);
}

/* Parse one transaction at c; the txid is hashed from the non-witness bytes as they pass. */
static int parse_tx(btc_block *b, cursor *c, btc_tx *tx, util_err *err)
{
    size_t start = c->off;
    tx->offset = (uint32_t)start;
    crypto_sha256_ctx sha;
    crypto_sha256_init(&sha);
    pull_u32(c, "tx version");
    size_t body = c->off;
    int segwit = 0;
    uint64_t n_in = pull_varint(c, "input count");
    if (!c->bad && n_in == 0) {
        /* BIP 144: a zero marker then a non-zero flag announce witness data. */
        if (!need(c, 1, "segwit flag")) goto bad;
        if (c->p[c->off] != 1)
            return util_errf(err, UTIL_EFORMAT, "byte %zu of the block: segwit flag %u (want 1)",
                             c->off, c->p[c->off]);
        c->off++;
        segwit = 1;
        crypto_sha256_update(&sha, c->p + start, 4);
        body = c->off;
        n_in = pull_varint(c, "input count");
    }
    if (c->bad) goto bad;
    /* Each input takes at least 41 bytes; a count beyond that is garbage, not a huge tx. */
    if (n_in == 0 || n_in > (c->end - c->off) / 41)
        return util_errf(err, UTIL_EFORMAT, "byte %zu of the block: implausible input count %llu",
                         start, (unsigned long long)n_in);
    if (grow((void **)&b->ins, &b->cap_in, (uint64_t)b->n_in + n_in, sizeof(btc_txin)))
        return util_errf(err, UTIL_ENOMEM, "out of memory for %llu inputs",
                         (unsigned long long)n_in);
    tx->first_in = b->n_in;
    tx->n_in = (uint32_t)n_in;
    for (uint64_t i = 0; i < n_in; i++) {
        btc_txin *in = &b->ins[b->n_in + i];
        const uint8_t *prev = pull_bytes(c, 32, "input outpoint");
        in->prev_vout = pull_u32(c, "input outpoint index");
        uint64_t slen = pull_varint(c, "input script length");
        pull_bytes(c, slen, "input script");
        pull_u32(c, "input sequence");
        if (c->bad) goto bad;
        memcpy(in->prev_txid, prev, 32);
    }
    b->n_in += (uint32_t)n_in;
    uint64_t n_out = pull_varint(c, "output count");
    if (c->bad) goto bad;
    if (n_out > (c->end - c->off) / 9)
        return util_errf(err, UTIL_EFORMAT, "byte %zu of the block: implausible output count %llu",
                         start, (unsigned long long)n_out);
    if (grow((void **)&b->outs, &b->cap_out, (uint64_t)b->n_out + n_out, sizeof(btc_txout)))
        return util_errf(err, UTIL_ENOMEM, "out of memory for %llu outputs",
                         (unsigned long long)n_out);
    tx->first_out = b->n_out;
    tx->n_out = (uint32_t)n_out;
    for (uint64_t i = 0; i < n_out; i++) {
        btc_txout *o = &b->outs[b->n_out + i];
        size_t voff = c->off;
        uint64_t value = pull_u64(c, "output value");
        uint64_t slen = pull_varint(c, "output script length");
        const uint8_t *script = pull_bytes(c, slen, "output script");
        if (c->bad) goto bad;
        if (value > 2100000000000000ULL)
            return util_errf(err, UTIL_EFORMAT,
                             "byte %zu of the block: output value %llu exceeds 21M BTC", voff,
                             (unsigned long long)value);
        o->value = (int64_t)value;
        o->script = script;
        o->script_len = (uint32_t)slen;
        o->type = (uint8_t)btc_classify_script(script, slen, &o->addr);
    }
    b->n_out += (uint32_t)n_out;
    size_t body_end = c->off;
    tx->witness_off = segwit ? (uint32_t)c->off : 0;
    if (segwit) {
        int any_witness = 0;
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t items = pull_varint(c, "witness item count");
            any_witness |= items != 0;
            for (uint64_t k = 0; k < items && !c->bad; k++) {
                uint64_t ilen = pull_varint(c, "witness item length");
                pull_bytes(c, ilen, "witness item");
            }
            if (c->bad) goto bad;
        }
        if (!any_witness)
            return util_errf(err, UTIL_EFORMAT,
                             "byte %zu of the block: segwit marker but no witness data", start);
    }
    size_t lock = c->off;
    pull_u32(c, "tx locktime");
    if (c->bad) goto bad;
    crypto_sha256_update(&sha, segwit ? c->p + body : c->p + start,
                         segwit ? body_end - body : body_end - start);
    crypto_sha256_update(&sha, c->p + lock, 4);
    crypto_sha256d_final(&sha, tx->txid);
    size_t total = c->off - start;
    size_t base = segwit ? (body_end - body) + 8 : total;
    tx->size = (uint32_t)total;
    tx->weight = (uint32_t)(base * 3 + total);
    tx->vsize = (tx->weight + 3) / 4;
    const btc_txin *first = &b->ins[tx->first_in];
    static const uint8_t zero[32];
    tx->coinbase =
        n_in == 1 && first->prev_vout == 0xffffffffu && memcmp(first->prev_txid, zero, 32) == 0;
    return 0;
bad:
    return util_errf(err, UTIL_EFORMAT, "byte %zu of the block: %s runs past its end", c->bad_off,
                     c->what);
}

static void merkle_root(uint8_t *hashes, size_t n, uint8_t out[32])
{
    /* hashes holds n 32-byte txids and is overwritten level by level. */
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2) {
            uint8_t pair[64];
            memcpy(pair, hashes + 32 * i, 32);
            memcpy(pair + 32, hashes + 32 * (i + 1 < n ? i + 1 : i), 32);
            crypto_sha256d(pair, 64, hashes + 32 * m++);
        }
        n = m;
    }
    memcpy(out, hashes, 32);
}

/* BIP 141's commitment: the last coinbase output whose script starts OP_RETURN, a 36-byte
 * push and 0xaa21a9ed; NULL when there is none. */
static const uint8_t *witness_commitment(const btc_block *b)
{
    static const uint8_t head[6] = {0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};
    const uint8_t *found = NULL;
    const btc_tx *cb = &b->txs[0];
    for (uint32_t i = 0; i < cb->n_out; i++) {
        const btc_txout *o = &b->outs[cb->first_out + i];
        if (o->script_len >= 38 && memcmp(o->script, head, 6) == 0) found = o->script + 6;
    }
    return found;
}

/* The witness commitment checked as Bitcoin Core's CheckWitnessMalleation does, except that a
 * block with witnesses but no commitment is let through: we are not told the height at which
 * segwit activated, and such a block is only ever crafted (its witnesses change no txid, no
 * value and no address we store). Pre-activation blocks that carry a commitment but no coinbase
 * witness (miners signalling, as mainnet 481815 does) are let through too. */
static int verify_witness_commitment(const btc_block *b, const uint8_t *p, util_err *err)
{
    const uint8_t *want = witness_commitment(b);
    if (!want) return 0;
    const btc_tx *cb = &b->txs[0];
    if (!cb->witness_off) {
        for (uint32_t i = 1; i < b->n_tx; i++)
            if (b->txs[i].witness_off)
                return util_errf(err, UTIL_EFORMAT,
                                 "byte %u of the block: tx %u has witnesses but the coinbase has "
                                 "no witness reserved value for its commitment",
                                 b->txs[i].offset, i);
        return 0;
    }
    /* the coinbase's witness: one item of 32 bytes, the reserved value */
    const uint8_t *w = p + cb->witness_off;
    if (w[0] != 1 || w[1] != 32)
        return util_errf(err, UTIL_EFORMAT,
                         "byte %u of the block: the coinbase witness is not one 32-byte item",
                         cb->witness_off);
    uint8_t *hashes = malloc(32 * (size_t)b->n_tx);
    if (!hashes) return util_errf(err, UTIL_ENOMEM, "out of memory for the witness merkle tree");
    memset(hashes, 0, 32); /* the coinbase's wtxid */
    for (uint32_t i = 1; i < b->n_tx; i++) {
        const btc_tx *t = &b->txs[i];
        if (t->witness_off)
            crypto_sha256d(p + t->offset, t->size, hashes + 32 * (size_t)i);
        else
            memcpy(hashes + 32 * (size_t)i, t->txid, 32);
    }
    uint8_t pair[64];
    merkle_root(hashes, b->n_tx, pair);
    free(hashes);
    memcpy(pair + 32, w + 2, 32);
    uint8_t got[32];
    crypto_sha256d(pair, 64, got);
    if (memcmp(got, want, 32) != 0)
        return util_errf(err, UTIL_EFORMAT,
                         "byte %zu of the block: witness commitment does not match the witnesses "
                         "(corrupt witness data)",
                         (size_t)(want - p));
    return 0;
}

int btc_parse_block(btc_block *b, const uint8_t *p, size_t n, unsigned flags, util_err *err)
{
    b->n_tx = b->n_in = b->n_out = 0;
    b->size = (uint32_t)n;
    if (n < 81) return util_errf(err, UTIL_EFORMAT, "block of %zu bytes is too short", n);
    btc_parse_header(&b->hdr, p);
    cursor c = {.p = p, .off = 80, .end = n};
    uint64_t n_tx = pull_varint(&c, "tx count");
    if (c.bad || n_tx == 0 || n_tx > (n - c.off) / 60)
        return util_errf(err, UTIL_EFORMAT, "byte 80 of the block: implausible tx count %llu",
                         (unsigned long long)n_tx);
    if (grow((void **)&b->txs, &b->cap_tx, n_tx, sizeof(btc_tx)))
        return util_errf(err, UTIL_ENOMEM, "out of memory for %llu txs", (unsigned long long)n_tx);
    for (uint64_t i = 0; i < n_tx; i++) {
        int rc = parse_tx(b, &c, &b->txs[i], err);
        if (rc) return util_err_prefix(err, "tx %llu", (unsigned long long)i);
        if ((i == 0) != b->txs[i].coinbase)
            return util_errf(err, UTIL_EFORMAT, "byte %u of the block: tx %llu %s a coinbase",
                             b->txs[i].offset, (unsigned long long)i,
                             i == 0 ? "is not" : "is unexpectedly");
        b->n_tx++;
    }
    if (c.off != n)
        return util_errf(err, UTIL_EFORMAT,
                         "byte %zu of the block: %zu stray bytes after the last tx", c.off,
                         n - c.off);
    if (flags & BTC_PARSE_VERIFY_MERKLE) {
        uint8_t *hashes = malloc(32 * (size_t)b->n_tx);
        if (!hashes) return util_errf(err, UTIL_ENOMEM, "out of memory for the merkle tree");
        for (uint32_t i = 0; i < b->n_tx; i++)
            memcpy(hashes + 32 * i, b->txs[i].txid, 32);
        uint8_t root[32];
        merkle_root(hashes, b->n_tx, root);
        free(hashes);
        if (memcmp(root, b->hdr.merkle, 32) != 0)
            return util_errf(err, UTIL_EFORMAT,
                             "byte 36 of the block: merkle root does not match the transactions "
                             "(corrupt tx data)");
        return verify_witness_commitment(b, p, err);
    }
    return 0;
}

void btc_block_free(btc_block *b)
{
    free(b->txs);
    free(b->ins);
    free(b->outs);
    memset(b, 0, sizeof *b);
}

/* ---- chain work ---- */

/* 256-bit numbers as four little-endian 64-bit limbs, just enough for 2^256 / (target+1). */
typedef struct u256 {
    uint64_t w[4];
} u256;

static int u256_cmp(const u256 *a, const u256 *b)
{
    for (int i = 3; i >= 0; i--)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}
static void u256_sub(u256 *a, const u256 *b)
{
    unsigned __int128 borrow = 0;
    for (int i = 0; i < 4; i++) {
        unsigned __int128 d = (unsigned __int128)a->w[i] - b->w[i] - borrow;
        a->w[i] = (uint64_t)d;
        borrow = (d >> 64) ? 1 : 0;
    }
}
static void u256_shl1(u256 *a)
{
    for (int i = 3; i > 0; i--)
        a->w[i] = a->w[i] << 1 | a->w[i - 1] >> 63;
    a->w[0] <<= 1;
}

static int u256_is_zero(const u256 *a)
{
    return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) == 0;
}
static void u256_from_le(u256 *a, const uint8_t b[32])
{
    for (int i = 0; i < 4; i++)
        a->w[i] = util_le64(b + 8 * i);
}
static void u256_to_le(const u256 *a, uint8_t b[32])
{
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++)
            b[8 * i + k] = (uint8_t)(a->w[i] >> (8 * k));
}
static unsigned u256_bits(const u256 *a)
{
    for (int i = 3; i >= 0; i--)
        if (a->w[i]) return 64 * (unsigned)i + 64 - (unsigned)__builtin_clzll(a->w[i]);
    return 0;
}
static void u256_shr(u256 *a, unsigned n)
{
    u256 r = {{0, 0, 0, 0}};
    unsigned limbs = n / 64, sh = n % 64;
    for (unsigned i = 0; i + limbs < 4; i++) {
        r.w[i] = a->w[i + limbs] >> sh;
        if (sh && i + limbs + 1 < 4) r.w[i] |= a->w[i + limbs + 1] << (64 - sh);
    }
    *a = r;
}
/* a *= m; the carry out of the top limb is returned (0 for every retarget: see btc_retarget). */
static uint64_t u256_mul32(u256 *a, uint32_t m)
{
    unsigned __int128 carry = 0;
    for (int i = 0; i < 4; i++) {
        unsigned __int128 p = (unsigned __int128)a->w[i] * m + carry;
        a->w[i] = (uint64_t)p;
        carry = p >> 64;
    }
    return (uint64_t)carry;
}
static void u256_div32(u256 *a, uint32_t d)
{
    unsigned __int128 rem = 0;
    for (int i = 3; i >= 0; i--) {
        unsigned __int128 cur = rem << 64 | a->w[i];
        a->w[i] = (uint64_t)(cur / d);
        rem = cur % d;
    }
}

/* SetCompact, refusing what DeriveTarget refuses apart from the powLimit. */
static int compact_to_u256(uint32_t bits, u256 *t)
{
    uint32_t size = bits >> 24, word = bits & 0x007fffff;
    memset(t, 0, sizeof *t);
    if (size <= 3) {
        word >>= 8 * (3 - size);
        t->w[0] = word;
    } else {
        if (word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)))
            return -1; /* overflows 256 bits */
        if (word) {
            unsigned shift = 8 * (size - 3);
            t->w[shift / 64] = (uint64_t)word << (shift % 64);
            if (shift % 64 > 40 && shift / 64 < 3)
                t->w[shift / 64 + 1] = (uint64_t)word >> (64 - shift % 64);
        }
    }
    if (word != 0 && (bits & 0x00800000)) return -1; /* negative */
    return u256_is_zero(t) ? -1 : 0;
}

int btc_compact_decode(uint32_t bits, uint8_t target[32])
{
    u256 t;
    int rc = compact_to_u256(bits, &t);
    u256_to_le(&t, target);
    return rc;
}

static uint32_t u256_to_compact(const u256 *a)
{
    unsigned size = (u256_bits(a) + 7) / 8;
    uint32_t compact;
    if (size <= 3) {
        compact = (uint32_t)(a->w[0] << (8 * (3 - size)));
    } else {
        u256 t = *a;
        u256_shr(&t, 8 * (size - 3));
        compact = (uint32_t)t.w[0];
    }
    /* The 0x00800000 bit is the sign: move a set top bit into the next byte. */
    if (compact & 0x00800000) {
        compact >>= 8;
        size++;
    }
    return compact | (uint32_t)size << 24;
}

uint32_t btc_compact_encode(const uint8_t target[32])
{
    u256 t;
    u256_from_le(&t, target);
    return u256_to_compact(&t);
}

unsigned __int128 btc_work_from_bits(uint32_t bits)
{
    u256 target;
    if (compact_to_u256(bits, &target)) return 0; /* negative, zero or overflowing: no work */
    /* work = ~target / (target + 1) + 1, by long division one bit at a time. */
    u256 num = {{~target.w[0], ~target.w[1], ~target.w[2], ~target.w[3]}};
    u256 den = target;
    for (int i = 0; i < 4; i++)
        if (++den.w[i] != 0) break;
    u256 rem = {{0, 0, 0, 0}};
    unsigned __int128 q = 0;
    for (int bit = 255; bit >= 0; bit--) {
        u256_shl1(&rem);
        rem.w[0] |= (num.w[bit / 64] >> (bit % 64)) & 1;
        int ge = u256_cmp(&rem, &den) >= 0;
        if (ge) u256_sub(&rem, &den);
        if (bit < 128)
            q = q << 1 | (unsigned)ge;
        else if (ge)
            return (unsigned __int128)-1; /* >2^128 work: saturate */
    }
    return q == (unsigned __int128)-1 ? q : q + 1;
}

/* ---- networks, proof of work, difficulty ---- */

/* Genesis hashes in internal byte order (the displayed hex reversed). */
static const uint8_t genesis_mainnet[32] = {
    0x6f, 0xe2, 0x8c, 0x0a, 0xb6, 0xf1, 0xb3, 0x72, 0xc1, 0xa6, 0xa2, 0x46, 0xae, 0x63, 0xf7, 0x4f,
    0x93, 0x1e, 0x83, 0x65, 0xe1, 0x5a, 0x08, 0x9c, 0x68, 0xd6, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t genesis_testnet[32] = {
    0x43, 0x49, 0x7f, 0xd7, 0xf8, 0x26, 0x95, 0x71, 0x08, 0xf4, 0xa3, 0x0f, 0xd9, 0xce, 0xc3, 0xae,
    0xba, 0x79, 0x97, 0x20, 0x84, 0xe9, 0x0e, 0xad, 0x01, 0xea, 0x33, 0x09, 0x00, 0x00, 0x00, 0x00};

enum {
    RETARGET_INTERVAL = 2016,
    TARGET_TIMESPAN = 14 * 24 * 60 * 60, /* two weeks */
    TARGET_SPACING = 10 * 60,
};

const char *btc_net_name(btc_net net)
{
    switch (net) {
    case BTC_NET_MAINNET:
        return "mainnet";
    case BTC_NET_TESTNET:
        return "testnet";
    case BTC_NET_REGTEST:
        return "regtest";
    default:
        return "unknown";
    }
}

btc_net btc_net_parse(const char *name)
{
    for (int n = BTC_NET_MAINNET; n <= BTC_NET_REGTEST; n++)
        if (strcmp(name, btc_net_name((btc_net)n)) == 0) return (btc_net)n;
    return BTC_NET_UNKNOWN;
}

const uint8_t *btc_net_genesis(btc_net net)
{
    return net == BTC_NET_MAINNET   ? genesis_mainnet
           : net == BTC_NET_TESTNET ? genesis_testnet
                                    : NULL;
}

btc_net btc_net_of_genesis(const uint8_t hash[32], uint32_t bits)
{
    if (memcmp(hash, genesis_mainnet, 32) == 0) return BTC_NET_MAINNET;
    if (memcmp(hash, genesis_testnet, 32) == 0) return BTC_NET_TESTNET;
    if (bits == 0x207fffff) return BTC_NET_REGTEST;
    return BTC_NET_UNKNOWN;
}

uint32_t btc_pow_limit_bits(btc_net net)
{
    return net == BTC_NET_REGTEST ? 0x207fffff : 0x1d00ffff;
}

/* powLimit as Bitcoin Core states it: 2^224-1 (mainnet, testnet3) or 2^255-1 (regtest). Its
 * compact form rounds down, so the comparison uses the full value as Core does. */
static void pow_limit(btc_net net, u256 *l)
{
    l->w[0] = l->w[1] = l->w[2] = UINT64_MAX;
    l->w[3] = net == BTC_NET_REGTEST ? INT64_MAX : 0xffffffffu;
}

int btc_check_pow(const uint8_t hash[32], uint32_t bits, btc_net net, util_err *err)
{
    u256 target, limit, h;
    if (compact_to_u256(bits, &target))
        return util_errf(err, UTIL_EFORMAT,
                         "bits 0x%08x is not a valid target (negative, zero or "
                         "over 256 bits)",
                         bits);
    pow_limit(net, &limit);
    if (u256_cmp(&target, &limit) > 0)
        return util_errf(err, UTIL_EFORMAT,
                         "bits 0x%08x is easier than %s's proof-of-work limit 0x%08x", bits,
                         btc_net_name(net), btc_pow_limit_bits(net));
    u256_from_le(&h, hash);
    if (u256_cmp(&h, &target) > 0)
        return util_errf(err, UTIL_EFORMAT,
                         "proof of work fails: the header hash is above the target of its bits "
                         "0x%08x",
                         bits);
    return 0;
}

uint32_t btc_retarget(uint32_t last_bits, int64_t first_time, int64_t last_time, btc_net net)
{
    if (net == BTC_NET_REGTEST) return last_bits; /* fPowNoRetargeting */
    int64_t span = last_time - first_time;
    if (span < TARGET_TIMESPAN / 4) span = TARGET_TIMESPAN / 4;
    if (span > TARGET_TIMESPAN * 4) span = TARGET_TIMESPAN * 4;
    u256 t, limit;
    pow_limit(net, &limit);
    if (compact_to_u256(last_bits, &t)) t = limit; /* the parent passed btc_check_pow */
    /* Below 2^224 times at most 2^23: no carry out of 256 bits. */
    if (u256_cmp(&t, &limit) > 0 || u256_mul32(&t, (uint32_t)span)) return u256_to_compact(&limit);
    u256_div32(&t, TARGET_TIMESPAN);
    if (u256_cmp(&t, &limit) > 0) t = limit;
    return u256_to_compact(&t);
}

uint32_t btc_next_bits(const btc_pow_parent *p, uint32_t time, btc_net net)
{
    uint32_t limit = btc_pow_limit_bits(net);
    if ((p->height + 1) % RETARGET_INTERVAL != 0) {
        /* testnet3 and regtest (fPowAllowMinDifficultyBlocks): a block more than 20 minutes
         * after its parent may be at powLimit; otherwise the last bits not at powLimit. */
        if (net == BTC_NET_TESTNET || net == BTC_NET_REGTEST) {
            if ((int64_t)time > (int64_t)p->time + 2 * TARGET_SPACING) return limit;
            return p->last_bits;
        }
        return p->bits;
    }
    return btc_retarget(p->bits, p->period_start_time, p->time, net);
}

uint32_t btc_last_bits(uint64_t height, uint32_t bits, int has_parent, uint32_t parent_last_bits,
                       btc_net net)
{
    if (!has_parent || height % RETARGET_INTERVAL == 0 || bits != btc_pow_limit_bits(net))
        return bits;
    return parent_last_bits;
}

int64_t btc_subsidy(uint64_t height, btc_net net)
{
    const int64_t coin = 100000000;
    if (net == BTC_NET_REGTEST) return 50 * coin;
    uint64_t halvings = height / 210000;
    return halvings >= 64 ? 0 : (50 * coin) >> halvings;
}

/* ---- block files ---- */

int btc_blockfile_open(btc_blockfile *f, const char *path, const uint8_t *xor_key, util_err *err)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return util_errf(err, UTIL_EIO, "%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return util_errf(err, UTIL_EIO, "%s: cannot map: %s", path, strerror(errno));
        }
        madvise(m, f->size, MADV_SEQUENTIAL);
        f->map = m;
    }
    close(fd);
    if (xor_key) {
        memcpy(f->xor_key, xor_key, 8);
        for (int i = 0; i < 8; i++)
            f->xored |= xor_key[i] != 0;
    }
    return 0;
}

void btc_blockfile_close(btc_blockfile *f)
{
    if (f->map) munmap((void *)f->map, f->size);
    f->map = NULL;
}

void btc_blockfile_read(const btc_blockfile *f, size_t off, uint8_t *dst, size_t n)
{
    memcpy(dst, f->map + off, n);
    if (f->xored)
        for (size_t i = 0; i < n; i++)
            dst[i] ^= f->xor_key[(off + i) & 7];
}

int btc_blockfile_next(const btc_blockfile *f, size_t *off, size_t *block_off, size_t *block_size,
                       util_err *err)
{
    size_t o = *off;
    for (;;) {
        /* Bitcoin Core preallocates files in chunks with posix_fallocate, so the tail is raw
         * zeros that never went through the xor. A record may also start with a raw zero (a
         * key byte of f9), so look for the magic before treating a byte as padding. */
        uint8_t head[4];
        while (o < f->size) {
            if (f->size - o >= 4) {
                btc_blockfile_read(f, o, head, 4);
                if (btc_is_magic(head)) break;
            }
            uint8_t raw = f->map[o], plain = raw ^ (f->xored ? f->xor_key[o & 7] : 0);
            if (raw != 0 && plain != 0) break;
            o++;
        }
        if (o >= f->size) {
            *off = o;
            return 0;
        }
        uint8_t frame[8];
        if (f->size - o < 8)
            return util_errf(err, UTIL_EFORMAT, "%s: offset %zu: truncated block header frame",
                             f->path, o);
        btc_blockfile_read(f, o, frame, 8);
        if (!btc_is_magic(frame))
            return util_errf(err, UTIL_EFORMAT,
                             "%s: offset %zu: wrong magic %02x%02x%02x%02x (want f9beb4d9, "
                             "0b110907 or fabfb5da)",
                             f->path, o, frame[0], frame[1], frame[2], frame[3]);
        uint32_t size = util_le32(frame + 4);
        if (size < 81 || size > 8000000)
            return util_errf(err, UTIL_EFORMAT, "%s: offset %zu: implausible block size %u",
                             f->path, o + 4, size);
        if (size > f->size - o - 8)
            return util_errf(err, UTIL_EFORMAT,
                             "%s: offset %zu: block size %u runs past the end of the file "
                             "(%zu bytes; truncated?)",
                             f->path, o + 4, size, f->size);
        *block_off = o + 8;
        *block_size = size;
        *off = o + 8 + size;
        return 1;
    }
}

int btc_read_xor_key(const char *dir, uint8_t key[8], int *present, util_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/xor.dat", dir);
    memset(key, 0, 8);
    *present = 0;
    uint8_t *data;
    size_t len;
    if (access(path, F_OK) != 0) return 0;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    if (len != 8) {
        free(data);
        return util_errf(err, UTIL_EFORMAT, "%s: xor key must be 8 bytes, found %zu", path, len);
    }
    memcpy(key, data, 8);
    free(data);
    for (int i = 0; i < 8; i++)
        *present |= key[i] != 0;
    return 0;
}
