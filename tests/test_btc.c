/* test_btc: script classification and addresses of hand-built scripts; address strings in
 * and out; chain work against values computed with Python big integers; every real block in
 * tests/data/btc/ and demo/blk00000.dat parsed and cross-checked against an independent walk of
 * the same bytes; truncated and corrupted blocks refused without a crash; block file framing
 * (magic, sizes, zero padding, xor.dat) with errors that name the file and the offset. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btc/btc.h"
#include "check.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Deterministic pseudo-random numbers (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- script classification ---- */

#define KEY_GC "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
/* The generator point G: x then y. */
#define G_XY                                                                                       \
    "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e"   \
    "1108a8fd17b448a68554199c47d08ffb10d4b8"
#define KEY_GU "04" G_XY
#define KEY_GH "06" G_XY
#define KEY_GENESIS                                                                                \
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504"     \
    "e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
#define KEY_BAD33 "0579be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
#define KEY_BAD65 "05" G_XY
#define H20 "751e76e8199196d454941c45d1b3a323f1433bd6"
#define H32 "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"

/* Expected addresses were computed independently (python3-bitcoinlib for base58 and bech32,
 * a reference bech32m encoder, and the BIP 173/350 vectors). */
static const struct {
    const char *what, *hex;
    int type;
    const char *addr; /* "" = no address */
} scripts[] = {
    {"p2pk compressed", "21" KEY_GC "ac", BTC_P2PK, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"},
    {"p2pk uncompressed", "41" KEY_GU "ac", BTC_P2PK, "1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm"},
    {"p2pk genesis", "41" KEY_GENESIS "ac", BTC_P2PK, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},
    {"p2pk hybrid 06 key", "41" KEY_GH "ac", BTC_P2PK, "1H7NX5uHwz2Ks5JSqeDcUpvRPNubMhLoLN"},
    {"p2pk 33-byte key with prefix 05", "21" KEY_BAD33 "ac", BTC_NONSTANDARD, ""},
    {"p2pk 65-byte key with prefix 05", "41" KEY_BAD65 "ac", BTC_NONSTANDARD, ""},
    {"p2pk 65-byte key with prefix 02", "4102" G_XY "ac", BTC_NONSTANDARD, ""},
    {"p2pk with CHECKSIGVERIFY", "21" KEY_GC "ad", BTC_NONSTANDARD, ""},
    {"p2pkh", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac", BTC_P2PKH,
     "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},
    {"p2pkh missing CHECKSIG", "76a914" H20 "88ad", BTC_NONSTANDARD, ""},
    {"p2sh", "a91474f209f6ea907e2ea48f74fae05782ae8a66525787", BTC_P2SH,
     "3CMNFxN1oHBc4R1EpboAL5yzHGgE611Xou"},
    {"p2sh with EQUALVERIFY", "a914" H20 "88", BTC_NONSTANDARD, ""},
    {"p2wpkh", "0014" H20, BTC_P2WPKH, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"},
    {"p2wsh", "0020" H32, BTC_P2WSH,
     "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"},
    {"p2tr", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", BTC_P2TR,
     "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"},
    {"witness v2, 16 bytes", "5210751e76e8199196d454941c45d1b3a323", BTC_WITNESS_UNKNOWN,
     "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"},
    {"witness v16, 2 bytes", "6002751e", BTC_WITNESS_UNKNOWN, "bc1sw50qgdz25j"},
    {"witness v1, 20 bytes", "5114" H20, BTC_WITNESS_UNKNOWN,
     "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kj9wkru"},
    {"witness v2, 32 bytes", "5220" H32, BTC_WITNESS_UNKNOWN,
     "bc1zrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q6jsa6x"},
    {"witness v3, 33 bytes (no address)", "5321" H32 "01", BTC_WITNESS_UNKNOWN, ""},
    {"witness v1, 40 bytes (no address)", "5128" H20 H20, BTC_WITNESS_UNKNOWN, ""},
    {"witness v0, 25 bytes", "0019" H20 "0102030405", BTC_NONSTANDARD, ""},
    {"witness v0, 21 bytes", "0015" H20 "01", BTC_NONSTANDARD, ""},
    {"witness push length off by one", "0014" H20 "00", BTC_NONSTANDARD, ""},
    {"witness v1, 1 byte", "5101ff", BTC_NONSTANDARD, ""},
    {"multisig 1-of-2", "5121" KEY_GC "41" KEY_GU "52ae", BTC_MULTISIG, ""},
    {"multisig 2-of-3", "5221" KEY_GC "41" KEY_GENESIS "21" KEY_GC "53ae", BTC_MULTISIG, ""},
    {"multisig keys by PUSHDATA1", "514c21" KEY_GC "51ae", BTC_MULTISIG, ""},
    {"multisig 3-of-2", "5321" KEY_GC "21" KEY_GC "52ae", BTC_NONSTANDARD, ""},
    {"multisig 1-of-2 with 3 keys", "5121" KEY_GC "21" KEY_GC "21" KEY_GC "52ae", BTC_NONSTANDARD,
     ""},
    {"multisig with a bad key", "5121" KEY_BAD33 "51ae", BTC_NONSTANDARD, ""},
    {"multisig 0-of-1", "0021" KEY_GC "51ae", BTC_NONSTANDARD, ""},
    {"multisig without keys", "5151ae", BTC_NONSTANDARD, ""},
    {"OP_RETURN alone", "6a", BTC_NULLDATA, ""},
    {"OP_RETURN 4 bytes", "6a04deadbeef", BTC_NULLDATA, ""},
    {"OP_RETURN two pushes", "6a04deadbeef0201ff", BTC_NULLDATA, ""},
    {"OP_RETURN PUSHDATA1", "6a4c050102030405", BTC_NULLDATA, ""},
    {"OP_RETURN PUSHDATA2", "6a4d0300aabbcc", BTC_NULLDATA, ""},
    {"OP_RETURN OP_0 OP_1 OP_16", "6a005160", BTC_NULLDATA, ""},
    {"OP_RETURN OP_RESERVED", "6a50", BTC_NULLDATA, ""},
    {"OP_RETURN OP_NOP", "6a61", BTC_NONSTANDARD, ""},
    {"OP_RETURN OP_DUP", "6a76", BTC_NONSTANDARD, ""},
    {"OP_RETURN push then CHECKSIG", "6a04deadbeefac", BTC_NONSTANDARD, ""},
    {"OP_RETURN push past the end", "6a05aabbcc", BTC_NONSTANDARD, ""},
    {"OP_RETURN PUSHDATA4 past the end", "6a4effffffff00", BTC_NONSTANDARD, ""},
    {"empty", "", BTC_NONSTANDARD, ""},
    {"OP_TRUE", "51", BTC_NONSTANDARD, ""},
};

static void test_classify(void)
{
    static const char *const names[BTC_NSCRIPT_TYPES] = {
        "nonstandard", "p2pk", "p2pkh",           "p2sh",     "p2wpkh",
        "p2wsh",       "p2tr", "witness_unknown", "multisig", "nulldata"};
    for (int t = 0; t < BTC_NSCRIPT_TYPES; t++)
        CHECK_STR(btc_script_type_name(t), names[t]);
    CHECK_STR(btc_script_type_name(-1), "?");
    CHECK_STR(btc_script_type_name(BTC_NSCRIPT_TYPES), "?");

    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        uint8_t s[200];
        size_t n = unhex(s, scripts[i].hex);
        /* A copy of exactly n bytes on the heap lets ASan see any read past the script. */
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, s, n);
        btc_addr a;
        memset(&a, 0xee, sizeof a);
        int type = btc_classify_script(exact, n, &a);
        CHECK_MSG(type == scripts[i].type, "%s: type %s, want %s", scripts[i].what,
                  btc_script_type_name(type), btc_script_type_name(scripts[i].type));
        char out[128];
        size_t len = btc_addr_encode(out, &a);
        CHECK_MSG(strcmp(out, scripts[i].addr) == 0 && len == strlen(out),
                  "%s: address '%s', want '%s'", scripts[i].what, out, scripts[i].addr);
        if (scripts[i].addr[0]) {
            btc_addr back;
            util_err err = {0};
            CHECK_MSG(btc_addr_decode(&back, out, &err) == 0 && memcmp(&back, &a, sizeof a) == 0,
                      "%s: decode of '%s' differs from the classified address (%s)",
                      scripts[i].what, out, err.msg);
        } else {
            CHECK_MSG(a.kind == BTC_ADDR_NONE, "%s: kind %d", scripts[i].what, a.kind);
        }
        free(exact);
    }

    /* The P2PKH, P2WPKH and P2PK-compressed forms of the same key share one hash. */
    uint8_t s1[40], s2[40];
    btc_addr a1, a2;
    size_t n1 = unhex(s1, "21" KEY_GC "ac"), n2 = unhex(s2, "0014" H20);
    btc_classify_script(s1, n1, &a1);
    btc_classify_script(s2, n2, &a2);
    CHECK(memcmp(a1.prog, a2.prog, 20) == 0 && a1.kind == BTC_ADDR_P2PKH &&
          a2.kind == BTC_ADDR_P2WPKH);

    /* Every 1-of-n and n-of-n bare multisig up to 16 keys. */
    for (int nk = 1; nk <= 16; nk++) {
        for (int m = 1; m <= nk; m += nk - 1 ? nk - 1 : 1) {
            uint8_t ms[16 * 34 + 3];
            size_t o = 0;
            ms[o++] = (uint8_t)(0x50 + m);
            for (int k = 0; k < nk; k++)
                o += unhex(ms + o, "21" KEY_GC);
            ms[o++] = (uint8_t)(0x50 + nk);
            ms[o++] = 0xae;
            btc_addr a;
            CHECK_MSG(btc_classify_script(ms, o, &a) == BTC_MULTISIG, "%d-of-%d", m, nk);
        }
    }
}

/* ---- address strings ---- */

static void test_addr_strings(void)
{
    static const struct {
        const char *s;
        int kind;
    } ok[] = {
        {"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", BTC_ADDR_P2PKH},
        {"1111111111111111111114oLvT2", BTC_ADDR_P2PKH},
        {"3CMNFxN1oHBc4R1EpboAL5yzHGgE611Xou", BTC_ADDR_P2SH},
        {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", BTC_ADDR_P2WPKH},
        {"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", BTC_ADDR_P2WPKH},
        {"bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", BTC_ADDR_P2WSH},
        {"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", BTC_ADDR_P2TR},
        {"bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", BTC_ADDR_WITNESS_UNKNOWN},
        {"BC1SW50QGDZ25J", BTC_ADDR_WITNESS_UNKNOWN},
        {"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kj9wkru", BTC_ADDR_WITNESS_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        btc_addr a;
        util_err err = {0};
        int rc = btc_addr_decode(&a, ok[i].s, &err);
        CHECK_MSG(rc == 0 && a.kind == ok[i].kind, "%s: rc %d kind %d (%s)", ok[i].s, rc, a.kind,
                  err.msg);
        char out[128], want[128];
        size_t k = 0;
        int bech = strncasecmp(ok[i].s, "bc1", 3) == 0;
        for (; ok[i].s[k]; k++)
            want[k] = bech && ok[i].s[k] >= 'A' && ok[i].s[k] <= 'Z' ? (char)(ok[i].s[k] + 32)
                                                                     : ok[i].s[k];
        want[k] = 0;
        btc_addr_encode(out, &a);
        CHECK_STR(out, want);
        CHECK_STR(btc_addr_kind_name(a.kind), ok[i].kind == BTC_ADDR_P2PKH    ? "p2pkh"
                                              : ok[i].kind == BTC_ADDR_P2SH   ? "p2sh"
                                              : ok[i].kind == BTC_ADDR_P2WPKH ? "p2wpkh"
                                              : ok[i].kind == BTC_ADDR_P2WSH  ? "p2wsh"
                                              : ok[i].kind == BTC_ADDR_P2TR   ? "p2tr"
                                                                              : "witness_unknown");
    }
    CHECK_STR(btc_addr_kind_name(BTC_ADDR_NONE), "none");
    CHECK_STR(btc_addr_kind_name(7), "?");
    CHECK_STR(btc_addr_kind_name(-1), "?");

    /* Refusals: UTIL_EINVAL, and a message that quotes the address and names the problem. */
    static const struct {
        const char *s, *says;
    } bad[] = {
        {"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "checksum"},
        {"3CMNFxN1oHBc4R1EpboAL5yzHGgE611Xov", "checksum"},
        {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "checksum"},
        {"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "checksum"},
        {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "checksum"},
        {"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
         "over 32 bytes"},
        {"mo9ncXisMeAoXwqcV5EWuyncbmCcQN4rVs", "not a mainnet"},
        {"2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br", "not a mainnet"},
        {"5Kd3NBUAdUnhyzenEwVLy9pBKxSwXvE9FMPyR4UKZvpe6E3AgLr", "not a mainnet"},
        {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "not a mainnet"},
        {"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", "not a mainnet"},
        {"", "not a mainnet"},
        {"hello world", "not a mainnet"},
        {"bC1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "not a valid bech32"},
        {"bc1gmk9yu", "not a valid bech32"},
        {"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "not a valid bech32"},
        {"bc1", "not a valid bech32"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        btc_addr a;
        util_err err = {0};
        int rc = btc_addr_decode(&a, bad[i].s, &err);
        CHECK_MSG(rc == UTIL_EINVAL && err.code == UTIL_EINVAL, "'%s': rc %d", bad[i].s, rc);
        CHECK_MSG(strstr(err.msg, bad[i].says) && strstr(err.msg, bad[i].s),
                  "'%s': message '%s' should quote it and say '%s'", bad[i].s, err.msg,
                  bad[i].says);
    }
    btc_addr a;
    CHECK(btc_addr_decode(&a, "nonsense", NULL) == UTIL_EINVAL); /* err may be NULL */

    /* Encoding an address of no kind gives the empty string. */
    memset(&a, 0, sizeof a);
    char out[128] = "x";
    CHECK(btc_addr_encode(out, &a) == 0 && out[0] == 0);
}

/* ---- chain work ---- */

static void test_work(void)
{
    /* Values from Python: (2^256 - 1 - t) // (t + 1) + 1 with t = the compact target, and 0
     * for negative, zero or overflowing targets, as Bitcoin Core's GetBlockProof. */
    typedef unsigned __int128 u128;
    static const struct {
        uint32_t bits;
        uint64_t hi, lo;
    } v[] = {
        {0x1d00ffff, 0, 0x100010001ull},            /* genesis difficulty 1: 4295032833 */
        {0x1b0404cb, 0, 70040908352512ull},         /* 2010 */
        {0x1a05db8b, 0, 12301577519373468ull},      /* 2012: mantissa straddles a 64-bit limb */
        {0x19015f53, 0, 0xba8a39c0bf755ec6ull},     /* shift 176: straddles too */
        {0x18009645, 0x1b4, 0x1f7d761312888a93ull}, /* 8045049515748916497043 */
        {0x1806b99f, 0x26, 0x1102bdffb391d87eull},
        {0x17053894, 0x3108, 0x5d594cb7e26e94b5ull},
        {0x1c0ffff0, 0, 0x1000100010ull},
        {0x1f00ffff, 0, 65537},
        {0x207fffff, 0, 2}, /* regtest */
        {0x1d800000, 0, 0}, /* negative zero */
        {0x04923456, 0, 0}, /* negative */
        {0x01003456, 0, 0}, /* rounds to a zero target */
        {0x00000000, 0, 0},
        {0x23000001, 0, 0}, /* overflows 256 bits */
        {0x21010000, 0, 0}, /* overflows: 0x010000 << 240 */
        {0x22000100, 0, 0}, /* overflows: 0x0100 << 248 */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        u128 w = btc_work_from_bits(v[i].bits), want = (u128)v[i].hi << 64 | v[i].lo;
        CHECK_MSG(w == want, "work(0x%08x) = %016llx%016llx, want %016llx%016llx", v[i].bits,
                  (unsigned long long)(w >> 64), (unsigned long long)w, (unsigned long long)v[i].hi,
                  (unsigned long long)v[i].lo);
    }
    /* Tiny targets need more than 128 bits of work: the result saturates. */
    CHECK(btc_work_from_bits(0x03000001) == ~(u128)0);
    CHECK(btc_work_from_bits(0x04123456) == ~(u128)0);

    /* Targets of 2^240 and up that Bitcoin Core still accepts (mantissa small enough not to
     * overflow 256 bits) carry work 1..65535 there. */
    static const struct {
        uint32_t bits;
        uint64_t work;
    } big[] = {{0x2100ffff, 1}, {0x21000001, 65535}, {0x22000001, 255}, {0x220000ff, 1}};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        u128 w = btc_work_from_bits(big[i].bits);
        CHECK_MSG(w == big[i].work, "work(0x%08x) = %llu, want %llu as Bitcoin Core computes it",
                  big[i].bits, (unsigned long long)w, (unsigned long long)big[i].work);
    }
}

/* ---- an independent walk over a block's bytes ---- */

typedef struct walk_tx {
    size_t start, end;
    int segwit;
    size_t flag_off;           /* the BIP 144 flag byte (segwit only) */
    size_t body, body_end;     /* input count .. last output */
    size_t wit_start, wit_end; /* witness section (segwit only) */
    uint32_t n_in, n_out;
} walk_tx;

static uint64_t w_varint(const uint8_t *p, size_t *o)
{
    uint8_t b = p[(*o)++];
    uint64_t v = b;
    if (b == 0xfd)
        v = util_le16(p + *o), *o += 2;
    else if (b == 0xfe)
        v = util_le32(p + *o), *o += 4;
    else if (b == 0xff)
        v = util_le64(p + *o), *o += 8;
    return v;
}

/* Walk a well-formed block; returns the tx count (txs has room for cap) or -1. */
static long walk_block(const uint8_t *p, size_t n, walk_tx *txs, size_t cap)
{
    size_t o = 80;
    uint64_t ntx = w_varint(p, &o);
    if (ntx > cap) return -1;
    for (uint64_t t = 0; t < ntx; t++) {
        walk_tx *w = &txs[t];
        memset(w, 0, sizeof *w);
        w->start = o;
        o += 4;
        if (p[o] == 0) {
            w->segwit = 1;
            w->flag_off = o + 1;
            o += 2;
        }
        w->body = o;
        uint64_t nin = w_varint(p, &o);
        for (uint64_t i = 0; i < nin; i++) {
            o += 36;
            uint64_t l = w_varint(p, &o);
            o += l + 4;
        }
        uint64_t nout = w_varint(p, &o);
        for (uint64_t i = 0; i < nout; i++) {
            o += 8;
            uint64_t l = w_varint(p, &o);
            o += l;
        }
        w->body_end = o;
        if (w->segwit) {
            w->wit_start = o;
            for (uint64_t i = 0; i < nin; i++) {
                uint64_t items = w_varint(p, &o);
                for (uint64_t k = 0; k < items; k++) {
                    uint64_t l = w_varint(p, &o);
                    o += l;
                }
            }
            w->wit_end = o;
        }
        o += 4;
        w->end = o;
        w->n_in = (uint32_t)nin;
        w->n_out = (uint32_t)nout;
        if (o > n) return -1;
    }
    return o == n ? (long)ntx : -1;
}

/* txid from the walk: version, body and locktime, without marker, flag or witness. */
static void walk_txid(const uint8_t *p, const walk_tx *w, uint8_t out[32])
{
    crypto_sha256_ctx c;
    crypto_sha256_init(&c);
    crypto_sha256_update(&c, p + w->start, 4);
    crypto_sha256_update(&c, p + w->body, w->body_end - w->body);
    crypto_sha256_update(&c, p + w->end - 4, 4);
    crypto_sha256d_final(&c, out);
}

/* Does a txid (and so the merkle root) depend on the byte at off? Not the header, not the
 * witness data, not the segwit flag byte; the marker byte, yes (changing it changes the parse). */
static int covered_by_txid(const walk_tx *txs, long ntx, size_t off)
{
    if (off < 80) return 0;
    for (long t = 0; t < ntx; t++) {
        const walk_tx *w = &txs[t];
        if (off < w->start || off >= w->end) continue;
        if (!w->segwit) return 1;
        if (off == w->flag_off || off == w->flag_off - 1) return off == w->flag_off - 1;
        return !(off >= w->wit_start && off < w->wit_end);
    }
    return 1; /* the tx count */
}

/* Does hash (internal byte order: little-endian number) meet the target of bits? */
static int meets_target(const uint8_t hash[32], uint32_t bits)
{
    uint8_t target[32] = {0}; /* little-endian */
    int exp = (int)(bits >> 24);
    uint32_t mant = bits & 0x7fffff;
    for (int i = 0; i < 3; i++) {
        int pos = exp - 3 + i;
        if (pos >= 0 && pos < 32) target[pos] = (uint8_t)(mant >> (8 * i));
    }
    for (int i = 31; i >= 0; i--)
        if (hash[i] != target[i]) return hash[i] < target[i];
    return 1;
}

/* Cross-check a parsed block against the walk: offsets, sizes, weights, txids, counts. */
static void check_block(const char *name, const uint8_t *p, size_t n, const btc_block *b)
{
    walk_tx *txs = malloc(sizeof *txs * 20000);
    long ntx = walk_block(p, n, txs, 20000);
    CHECK_MSG(ntx > 0 && (uint32_t)ntx == b->n_tx, "%s: walk found %ld txs, parser %u", name, ntx,
              b->n_tx);
    if (ntx <= 0 || (uint32_t)ntx != b->n_tx) {
        free(txs);
        return;
    }
    CHECK(b->size == n);
    CHECK_MSG(meets_target(b->hdr.hash, b->hdr.bits), "%s: hash above target", name);
    uint64_t total_weight = 0;
    uint32_t n_in = 0, n_out = 0;
    int bad_tx = 0;
    for (long t = 0; t < ntx; t++) {
        const btc_tx *tx = &b->txs[t];
        const walk_tx *w = &txs[t];
        uint8_t id[32];
        walk_txid(p, w, id);
        size_t total = w->end - w->start;
        size_t base = w->segwit ? total - 2 - (w->wit_end - w->wit_start) : total;
        uint32_t weight = (uint32_t)(base * 3 + total);
        if (tx->offset != w->start || tx->size != total || memcmp(tx->txid, id, 32) != 0 ||
            tx->weight != weight || tx->vsize != (weight + 3) / 4 || tx->n_in != w->n_in ||
            tx->n_out != w->n_out || tx->first_in != n_in || tx->first_out != n_out ||
            tx->coinbase != (t == 0)) {
            if (bad_tx++ < 5)
                fprintf(stderr, "%s: tx %ld disagrees with the walk (offset %u/%zu size %u/%zu)\n",
                        name, t, tx->offset, w->start, tx->size, total);
        }
        n_in += w->n_in;
        n_out += w->n_out;
        total_weight += weight;
    }
    CHECK_MSG(bad_tx == 0, "%s: %d txs disagree", name, bad_tx);
    CHECK(b->n_in == n_in && b->n_out == n_out);
    CHECK_MSG(total_weight + 4 * (80 + (txs[0].start - 80)) <= 4000000, "%s: weight %llu", name,
              (unsigned long long)total_weight);
    int bad_out = 0;
    for (uint32_t i = 0; i < b->n_out; i++) {
        const btc_txout *o = &b->outs[i];
        btc_addr a;
        int type = btc_classify_script(o->script, o->script_len, &a);
        if (o->script < p || o->script + o->script_len > p + n || type != o->type ||
            memcmp(&a, &o->addr, sizeof a) != 0 || o->value < 0 || o->value > 2100000000000000)
            bad_out++;
    }
    CHECK_MSG(bad_out == 0, "%s: %d outputs disagree", name, bad_out);
    free(txs);
}

/* ---- real blocks ---- */

static const struct {
    const char *file, *hash;
} known_blocks[] = {
    {"block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
     "0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2"},
    {"block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
     "00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab"},
    {"block169482.raw", "0000000000000756935f1ee9d5987857b604046f846d3df56d024cdb5f368665"},
    {"block227835.raw", "00000000000001aa077d7aa84c532a4d69bdbff519609d1da0835261b7a74eb6"},
    {"block227836.raw", "00000000000000d0dfd4c9d588d325dce4f32c1b31b7c0064cba7025a9b9adcc"},
    {"block277647.blk", "0000000000000000054a714e580b16c583701712ab91060e92dbde6eb1e052a8"},
    {"block363703.raw", "0000000000000000011b2a4cb91b63886ffe0d2263fd17ac5a9b902a219e0a14"},
    {"block370661.raw", "00000000000000001416a613602d73bbe5c79170fd8f39d509896b829cf9021e"},
    {"block383616.raw", "00000000000000000aab6a2b34e979b09ca185584bd1aecf204f24d150ff55e9"},
    {"block481815.raw", "000000000000000000893c019d81f2d48ee33892c12428f3121bbd16ed6db926"},
    {"block481829.raw", "000000000000000000917cba69f69b758fe396c8e30ae97bbcf08c4eb975e726"},
};

/* Read a block file from tests/data/btc: raw, or one framed record (magic + size + block). The
 * block is copied to a buffer of exactly its size so ASan sees any read past it. */
static uint8_t *load_block(const char *path, size_t *len)
{
    uint8_t *data;
    size_t n;
    util_err err;
    if (util_read_file(path, &data, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    size_t skip = 0;
    if (n >= 8 && memcmp(data, btc_mainnet_magic, 4) == 0) {
        skip = 8;
        CHECK_MSG(util_le32(data + 4) == n - 8, "%s: frame size %u for %zu bytes", path,
                  util_le32(data + 4), n - 8);
    }
    uint8_t *blk = malloc(n - skip);
    memcpy(blk, data + skip, n - skip);
    free(data);
    *len = n - skip;
    return blk;
}

static void test_real_blocks(void)
{
    DIR *d = opendir("tests/data/btc");
    CHECK_MSG(d != NULL, "tests/data/btc: %s (run from the repository root)", strerror(errno));
    if (!d) return;
    int files = 0, known = 0;
    btc_block b = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "tests/data/btc/%s", e->d_name);
        size_t n;
        uint8_t *p = load_block(path, &n);
        CHECK_MSG(p != NULL, "%s: unreadable", path);
        if (!p) continue;
        files++;
        util_err err = {0};
        int rc = btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, &err);
        CHECK_MSG(rc == 0, "%s: %s", path, err.msg);
        if (rc == 0) {
            check_block(path, p, n, &b);
            char hex[65];
            util_hash_hex(hex, b.hdr.hash);
            for (size_t i = 0; i < sizeof known_blocks / sizeof known_blocks[0]; i++) {
                if (strcmp(known_blocks[i].file, e->d_name) != 0) continue;
                known++;
                CHECK_MSG(strcmp(hex, known_blocks[i].hash) == 0, "%s: hash %s", path, hex);
            }
            /* Parsing again into the same (reused) block gives the same result. */
            uint8_t first[32];
            memcpy(first, b.txs[b.n_tx - 1].txid, 32);
            CHECK(btc_parse_block(&b, p, n, 0, &err) == 0 &&
                  memcmp(first, b.txs[b.n_tx - 1].txid, 32) == 0);
        }
        free(p);
    }
    closedir(d);
    CHECK_MSG(files >= 11 && known == (int)(sizeof known_blocks / sizeof known_blocks[0]),
              "%d files, %d known", files, known);
    btc_block_free(&b);
    CHECK(b.txs == NULL && b.cap_tx == 0);
}

/* demo/blk00000.dat: mainnet blocks 0..438 as Bitcoin Core stored them. */
static void test_demo_chain(void)
{
    btc_blockfile f;
    util_err err = {0};
    int rc = btc_blockfile_open(&f, "demo/blk00000.dat", NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    size_t off = 0, boff, bsize;
    int count = 0, linked = 0, bad = 0;
    uint8_t prev[32] = {0};
    btc_block b = {0};
    while ((rc = btc_blockfile_next(&f, &off, &boff, &bsize, &err)) == 1) {
        uint8_t *p = malloc(bsize);
        btc_blockfile_read(&f, boff, p, bsize);
        if (btc_parse_block(&b, p, bsize, BTC_PARSE_VERIFY_MERKLE, &err) != 0) {
            if (bad++ < 3) fprintf(stderr, "demo block %d: %s\n", count, err.msg);
            free(p);
            count++;
            continue;
        }
        if (count == 0) {
            /* The genesis block. */
            char hex[65];
            CHECK(boff == 8 && bsize == 285);
            util_hash_hex(hex, b.hdr.hash);
            CHECK_STR(hex, "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
            CHECK(b.n_tx == 1 && b.n_in == 1 && b.n_out == 1);
            util_hash_hex(hex, b.txs[0].txid);
            CHECK_STR(hex, "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
            CHECK(memcmp(b.hdr.merkle, b.txs[0].txid, 32) == 0);
            CHECK(b.txs[0].coinbase && b.txs[0].size == 204 && b.txs[0].weight == 816);
            CHECK(b.hdr.version == 1 && b.hdr.time == 1231006505 && b.hdr.bits == 0x1d00ffff &&
                  b.hdr.nonce == 2083236893);
            CHECK(b.outs[0].value == 5000000000 && b.outs[0].type == BTC_P2PK);
            char addr[128];
            btc_addr_encode(addr, &b.outs[0].addr);
            CHECK_STR(addr, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
            CHECK(btc_work_from_bits(b.hdr.bits) == 0x100010001ull);
        } else {
            linked += memcmp(b.hdr.prev, prev, 32) == 0;
        }
        check_block("demo", p, bsize, &b);
        memcpy(prev, b.hdr.hash, 32);
        free(p);
        count++;
    }
    CHECK_MSG(rc == 0, "demo/blk00000.dat: %s", err.msg);
    CHECK_MSG(count == 439 && linked == 438 && bad == 0, "%d blocks, %d linked, %d bad", count,
              linked, bad);
    CHECK(off == f.size);
    char hex[65];
    util_hash_hex(hex, prev);
    CHECK_STR(hex, "0000000025c6b644f8add734be7e666fa4afa43ca0204d623a0c0b1fd2104c7a");
    btc_block_free(&b);
    btc_blockfile_close(&f);
}

/* A small segwit block built from real transactions: the coinbase and a few segwit and legacy
 * txs of a 2023 block, under a header whose merkle root is recomputed for them. Returns a
 * malloc'd block of *len bytes. */
/* Merkle root of n hashes, the Bitcoin way (odd levels repeat the last hash); ids is
 * overwritten. */
static void walk_merkle(uint8_t *ids, int n, uint8_t root[32])
{
    int m = n;
    while (m > 1) {
        int k = 0;
        for (int i = 0; i < m; i += 2) {
            uint8_t pair[64];
            memcpy(pair, ids + 32 * i, 32);
            memcpy(pair + 32, ids + 32 * (i + 1 < m ? i + 1 : i), 32);
            crypto_sha256d(pair, 64, ids + 32 * k++);
        }
        m = k;
    }
    memcpy(root, ids, 32);
}

static uint8_t *make_segwit_block(size_t *len)
{
    size_t n;
    uint8_t *src = load_block(
        "tests/data/btc/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
        &n);
    if (!src) return NULL;
    walk_tx *txs = malloc(sizeof *txs * 20000);
    long ntx = walk_block(src, n, txs, 20000);
    long pick[12];
    int np = 0, nseg = 0, nleg = 0;
    pick[np++] = 0;
    for (long t = 1; t < ntx && np < 12; t++) {
        size_t sz = txs[t].end - txs[t].start;
        if (sz > 1500) continue;
        if (txs[t].segwit && nseg < 8)
            pick[np++] = t, nseg++;
        else if (!txs[t].segwit && nleg < 3)
            pick[np++] = t, nleg++;
    }
    util_buf out = {0};
    util_buf_append(&out, src, 80);
    uint8_t cnt = (uint8_t)np;
    util_buf_append(&out, &cnt, 1);
    uint8_t *ids = malloc(32 * (size_t)np);
    for (int i = 0; i < np; i++) {
        const walk_tx *w = &txs[pick[i]];
        util_buf_append(&out, src + w->start, w->end - w->start);
    }
    /* The coinbase commits to the witnesses of the original block's txs (BIP 141): commit it
     * to the picked ones' instead, as a miner would: wtxids (the coinbase's is zero), their
     * merkle root, hashed with the coinbase's reserved value into its last commitment output. */
    walk_tx mine[12];
    CHECK(walk_block(out.data, out.len, mine, 12) == np && mine[0].segwit);
    memset(ids, 0, 32);
    for (int i = 1; i < np; i++) {
        if (mine[i].segwit)
            crypto_sha256d(out.data + mine[i].start, mine[i].end - mine[i].start, ids + 32 * i);
        else
            walk_txid(out.data, &mine[i], ids + 32 * i);
    }
    uint8_t wroot[64];
    walk_merkle(ids, np, wroot);
    memcpy(wroot + 32, out.data + mine[0].wit_start + 2, 32);
    static const uint8_t head[6] = {0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};
    uint8_t *commit = NULL;
    for (size_t o = mine[0].start; o + 38 <= mine[0].wit_start; o++)
        if (!memcmp(out.data + o, head, 6)) commit = out.data + o + 6;
    CHECK(commit != NULL);
    if (commit) crypto_sha256d(wroot, 64, commit);
    for (int i = 0; i < np; i++)
        walk_txid(out.data, &mine[i], ids + 32 * i);
    walk_merkle(ids, np, out.data + 36);
    free(ids);
    free(txs);
    free(src);
    *len = out.len;
    uint8_t *blk = malloc(out.len);
    memcpy(blk, out.data, out.len);
    util_buf_free(&out);
    CHECK_MSG(nseg == 8 && nleg == 3, "picked %d segwit and %d legacy txs", nseg, nleg);
    return blk;
}

/* Every prefix in lengths must be refused with UTIL_EFORMAT (and an error naming a byte). */
static void check_truncations(const char *name, const uint8_t *p, size_t n, const size_t *lens,
                              size_t nlens)
{
    btc_block b = {0};
    int bad = 0;
    for (size_t i = 0; i < nlens; i++) {
        size_t len = lens[i];
        if (len >= n) continue;
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, p, len);
        for (unsigned flags = 0; flags <= BTC_PARSE_VERIFY_MERKLE; flags++) {
            util_err err = {0};
            int rc = btc_parse_block(&b, cut, len, flags, &err);
            if (rc != UTIL_EFORMAT || err.code != UTIL_EFORMAT || !strstr(err.msg, "byte")) {
                if (bad++ < 5)
                    fprintf(stderr, "%s cut to %zu bytes: rc %d '%s'\n", name, len, rc, err.msg);
            }
        }
        free(cut);
    }
    CHECK_MSG(bad == 0, "%s: %d truncations not refused with UTIL_EFORMAT", name, bad);
    btc_block_free(&b);
}

static void test_truncation(void)
{
    size_t n;
    /* A legacy block and a segwit block: every length. */
    uint8_t *p = load_block("tests/data/btc/block169482.raw", &n);
    if (p) {
        size_t *lens = malloc(sizeof *lens * n);
        for (size_t i = 0; i < n; i++)
            lens[i] = i;
        check_truncations("block169482", p, n, lens, n);
        free(lens);
        free(p);
    }
    p = make_segwit_block(&n);
    if (p) {
        size_t *lens = malloc(sizeof *lens * n);
        for (size_t i = 0; i < n; i++)
            lens[i] = i;
        check_truncations("segwit block", p, n, lens, n);
        free(lens);
        free(p);
    }
    /* A big segwit-era block: every length below 2000, every tx boundary and its neighbours,
     * and a random sample. */
    p = load_block("tests/data/btc/block481829.raw", &n);
    if (p) {
        walk_tx *txs = malloc(sizeof *txs * 20000);
        long ntx = walk_block(p, n, txs, 20000);
        CHECK(ntx > 0);
        size_t cap = 2000 + 3 * 64 + 300, k = 0;
        size_t *lens = malloc(sizeof *lens * cap);
        for (size_t i = 0; i < 2000; i++)
            lens[k++] = i;
        for (long t = 0; t < ntx && t < 64; t++) {
            long pickt = t * (ntx / 64 + 1) < ntx ? t * (ntx / 64 + 1) : ntx - 1;
            lens[k++] = txs[pickt].end - 1;
            lens[k++] = txs[pickt].end;
            lens[k++] = txs[pickt].end + 1;
        }
        while (k < cap)
            lens[k++] = 2000 + rng() % (n - 2000);
        check_truncations("block481829", p, n, lens, k);
        free(lens);
        free(txs);
        free(p);
    }
}

/* Single-byte corruptions: never a crash; with merkle verification, any change to a byte the
 * txids cover is refused, and so is any change to witness data when the coinbase commits to
 * it (committed), while header fields outside the merkle root (version, prev, time, bits,
 * nonce) may parse. */
static void check_corruptions(const char *name, const uint8_t *p, size_t n, int count,
                              int committed)
{
    walk_tx *txs = malloc(sizeof *txs * 20000);
    long ntx = walk_block(p, n, txs, 20000);
    CHECK(ntx > 0);
    btc_block b = {0}, orig = {0};
    util_err err = {0};
    CHECK(btc_parse_block(&orig, p, n, BTC_PARSE_VERIFY_MERKLE, &err) == 0);
    uint8_t *q = malloc(n);
    int missed = 0, header_refused = 0, changed_ids = 0, merkle_field_bad = 0;
    int counts[3] = {0, 0, 0}; /* refused, parsed without verify, parsed with verify */
    for (int i = 0; i < count; i++) {
        memcpy(q, p, n);
        size_t off = (size_t)(rng() % n);
        q[off] ^= (uint8_t)(1 + rng() % 255);
        int rc0 = btc_parse_block(&b, q, n, 0, &err);
        int rc1 = btc_parse_block(&b, q, n, BTC_PARSE_VERIFY_MERKLE, &err);
        counts[rc0 ? 0 : rc1 ? 1 : 2]++;
        if (rc1 == 0) {
            /* A verified parse must give back the original transactions. */
            int same = b.n_tx == orig.n_tx;
            for (uint32_t t = 0; same && t < b.n_tx; t++)
                same = memcmp(b.txs[t].txid, orig.txs[t].txid, 32) == 0;
            if (!same) changed_ids++;
        }
        if (off >= 36 && off < 68) {
            if (rc0 != 0 || rc1 == 0) merkle_field_bad++;
        } else if (off < 80) {
            if (rc1 != 0) header_refused++;
        } else if ((committed || covered_by_txid(txs, ntx, off)) && rc1 == 0) {
            if (missed++ < 5) fprintf(stderr, "%s: corrupt byte %zu not caught\n", name, off);
        }
    }
    printf("%s: %d single-byte corruptions: %d refused, %d parsed only without merkle check, %d "
           "parsed with it\n",
           name, count, counts[0], counts[1], counts[2]);
    CHECK_MSG(missed == 0, "%s: %d corruptions of txid bytes passed merkle verification", name,
              missed);
    CHECK_MSG(header_refused == 0, "%s: %d header-only corruptions refused", name, header_refused);
    CHECK_MSG(merkle_field_bad == 0, "%s: %d merkle-root corruptions mishandled", name,
              merkle_field_bad);
    CHECK_MSG(changed_ids == 0, "%s: %d verified parses changed txids", name, changed_ids);
    CHECK_MSG(counts[0] > 0 && counts[1] > 0 && counts[2] > 0,
              "%s: refused %d, unverified-only %d, verified %d", name, counts[0], counts[1],
              counts[2]);
    free(q);
    free(txs);
    btc_block_free(&b);
    btc_block_free(&orig);
}

static void test_corruption(void)
{
    size_t n;
    uint8_t *p = load_block("tests/data/btc/block169482.raw", &n);
    if (p) {
        check_corruptions("block169482", p, n, 2000, 0);
        free(p);
    }
    p = make_segwit_block(&n);
    if (p) {
        check_corruptions("segwit block", p, n, 3000, 1);
        free(p);
    }
    /* Targeted: the segwit flag must not be zero; an extra byte is stray; a coinbase in the
     * wrong place is refused. */
    p = make_segwit_block(&n);
    if (p) {
        walk_tx txs[16];
        long ntx = walk_block(p, n, txs, 16);
        btc_block b = {0};
        util_err err = {0};
        CHECK(ntx > 1 && txs[1].segwit);
        p[txs[1].flag_off] = 0;
        CHECK(btc_parse_block(&b, p, n, 0, &err) == UTIL_EFORMAT && strstr(err.msg, "flag"));
        p[txs[1].flag_off] = 1;
        uint8_t *longer = malloc(n + 1);
        memcpy(longer, p, n);
        longer[n] = 0;
        CHECK(btc_parse_block(&b, longer, n + 1, 0, &err) == UTIL_EFORMAT &&
              strstr(err.msg, "stray"));
        free(longer);
        /* Block with only the second tx (not a coinbase) in first place. */
        size_t l1 = txs[1].end - txs[1].start;
        uint8_t *nocb = malloc(81 + l1);
        memcpy(nocb, p, 80);
        nocb[80] = 1;
        memcpy(nocb + 81, p + txs[1].start, l1);
        CHECK(btc_parse_block(&b, nocb, 81 + l1, 0, &err) == UTIL_EFORMAT &&
              strstr(err.msg, "coinbase"));
        free(nocb);
        /* A tx count of zero, and one far beyond what the bytes can hold. */
        uint8_t save = p[80];
        p[80] = 0;
        CHECK(btc_parse_block(&b, p, n, 0, &err) == UTIL_EFORMAT && strstr(err.msg, "byte 80"));
        p[80] = 0xfc;
        CHECK(btc_parse_block(&b, p, n, 0, &err) == UTIL_EFORMAT && strstr(err.msg, "byte 80"));
        p[80] = save;
        CHECK(btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, &err) == 0);
        btc_block_free(&b);
        free(p);
    }
}

/* ---- block files ---- */

static char tmpdir[256];

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_MSG(fd >= 0 && util_write_all(fd, p, n) == 0, "cannot write %s", path);
    if (fd >= 0) close(fd);
}

static void frame(util_buf *b, const uint8_t *blk, size_t n)
{
    uint8_t hdr[8];
    memcpy(hdr, btc_mainnet_magic, 4);
    util_put_le32(hdr + 4, (uint32_t)n);
    util_buf_append(b, hdr, 8);
    util_buf_append(b, blk, n);
}

/* Open path with key and check its records: nblocks found at the given offsets, each block
 * parses with merkle verification, then the end (0) or an error (want_rc) whose message holds
 * the path and "offset <err_off>". */
static void check_file(const char *what, const char *path, const uint8_t *key, int nblocks,
                       const size_t *offs, int want_rc, size_t err_off)
{
    btc_blockfile f;
    util_err err = {0};
    int rc = btc_blockfile_open(&f, path, key, &err);
    CHECK_MSG(rc == 0, "%s: %s", what, err.msg);
    if (rc) return;
    size_t off = 0, boff = 0, bsize = 0;
    int found = 0;
    btc_block b = {0};
    while ((rc = btc_blockfile_next(&f, &off, &boff, &bsize, &err)) == 1) {
        CHECK_MSG(found < nblocks && boff == offs[found] + 8, "%s: record %d at %zu", what, found,
                  boff);
        CHECK(off == boff + bsize && boff + bsize <= f.size);
        uint8_t *p = malloc(bsize);
        btc_blockfile_read(&f, boff, p, bsize);
        util_err perr = {0};
        CHECK_MSG(btc_parse_block(&b, p, bsize, BTC_PARSE_VERIFY_MERKLE, &perr) == 0,
                  "%s: record %d: %s", what, found, perr.msg);
        free(p);
        found++;
    }
    CHECK_MSG(found == nblocks, "%s: %d records, want %d", what, found, nblocks);
    CHECK_MSG(rc == want_rc, "%s: rc %d, want %d (%s)", what, rc, want_rc, rc ? err.msg : "");
    if (want_rc == 0 && rc == 0) CHECK(off == f.size);
    if (want_rc < 0 && rc < 0) {
        char at[64];
        snprintf(at, sizeof at, "offset %zu", err_off);
        CHECK_MSG(err.code == want_rc && strstr(err.msg, path) && strstr(err.msg, at),
                  "%s: message '%s' should name %s and %s", what, err.msg, path, at);
    }
    btc_block_free(&b);
    btc_blockfile_close(&f);
}

static void xor_buf(uint8_t *p, size_t n, const uint8_t key[8])
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= key[i & 7];
}

static void test_blockfiles(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/ct_test_btc_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(tmpdir) != NULL);

    /* Three real blocks of different sizes: genesis, block 1 and block 169482. */
    uint8_t *demo;
    size_t demo_len;
    util_err err = {0};
    CHECK(util_read_file("demo/blk00000.dat", &demo, &demo_len, &err) == 0);
    size_t g_len = util_le32(demo + 4), b1_len = util_le32(demo + 8 + g_len + 4);
    const uint8_t *genesis = demo + 8, *block1 = demo + 8 + g_len + 8;
    size_t big_len;
    uint8_t *big = load_block("tests/data/btc/block169482.raw", &big_len);

    util_buf good = {0};
    frame(&good, genesis, g_len);
    frame(&good, block1, b1_len);
    frame(&good, big, big_len);
    size_t offs[3] = {0, 8 + g_len, 16 + g_len + b1_len};
    char path[512];

    snprintf(path, sizeof path, "%s/blk00000.dat", tmpdir);
    write_file(path, good.data, good.len);
    check_file("plain", path, NULL, 3, offs, 0, 0);

    /* Zero padding after the last block, as Bitcoin Core preallocates. */
    util_buf padded = {0};
    util_buf_append(&padded, good.data, good.len);
    uint8_t zeros[4096] = {0};
    util_buf_append(&padded, zeros, sizeof zeros);
    snprintf(path, sizeof path, "%s/padded.dat", tmpdir);
    write_file(path, padded.data, padded.len);
    check_file("padded", path, NULL, 3, offs, 0, 0);

    /* Wrong magic on the second record: the first is still returned. */
    util_buf bad = {0};
    util_buf_append(&bad, good.data, good.len);
    bad.data[offs[1] + 3] = 0xda;
    snprintf(path, sizeof path, "%s/badmagic.dat", tmpdir);
    write_file(path, bad.data, bad.len);
    check_file("wrong magic", path, NULL, 1, offs, UTIL_EFORMAT, offs[1]);

    /* The last block's size runs past the end of the file (a cut-off copy). */
    snprintf(path, sizeof path, "%s/cut.dat", tmpdir);
    write_file(path, good.data, good.len - 100);
    check_file("size past the end", path, NULL, 2, offs, UTIL_EFORMAT, offs[2] + 4);

    /* A size field too small to hold a block. */
    util_buf_free(&bad);
    util_buf_append(&bad, good.data, good.len);
    util_put_le32(bad.data + offs[1] + 4, 80);
    snprintf(path, sizeof path, "%s/small.dat", tmpdir);
    write_file(path, bad.data, bad.len);
    check_file("implausible size", path, NULL, 1, offs, UTIL_EFORMAT, offs[1] + 4);

    /* Trailing bytes too few for a frame. */
    util_buf_free(&bad);
    util_buf_append(&bad, good.data, good.len);
    util_buf_append(&bad, btc_mainnet_magic, 4);
    util_buf_append(&bad, "\x01", 1);
    snprintf(path, sizeof path, "%s/trail.dat", tmpdir);
    write_file(path, bad.data, bad.len);
    check_file("truncated frame", path, NULL, 3, offs, UTIL_EFORMAT, good.len);

    /* An empty file and a file of zeros hold no blocks. */
    snprintf(path, sizeof path, "%s/empty.dat", tmpdir);
    write_file(path, "", 0);
    check_file("empty", path, NULL, 0, offs, 0, 0);
    snprintf(path, sizeof path, "%s/zeros.dat", tmpdir);
    write_file(path, zeros, sizeof zeros);
    check_file("zeros", path, NULL, 0, offs, 0, 0);

    /* xor.dat obfuscation: each byte xored with key[file offset % 8]. */
    const uint8_t key[8] = {0x6a, 0x3f, 0x00, 0x91, 0xc4, 0x5e, 0x27, 0xb8};
    util_buf x = {0};
    util_buf_append(&x, good.data, good.len);
    xor_buf(x.data, x.len, key);
    snprintf(path, sizeof path, "%s/xored.dat", tmpdir);
    write_file(path, x.data, x.len);
    check_file("xored", path, key, 3, offs, 0, 0);
    /* Without the key the first frame is garbage: wrong magic at offset 0. */
    check_file("xored, no key", path, NULL, 0, offs, UTIL_EFORMAT, 0);
    /* An all-zero key is no obfuscation. */
    static const uint8_t zero_key[8];
    snprintf(path, sizeof path, "%s/blk00000.dat", tmpdir);
    check_file("plain, zero key", path, zero_key, 3, offs, 0, 0);
    {
        btc_blockfile f;
        CHECK(btc_blockfile_open(&f, path, zero_key, &err) == 0 && !f.xored);
        btc_blockfile_close(&f);
        snprintf(path, sizeof path, "%s/xored.dat", tmpdir);
        CHECK(btc_blockfile_open(&f, path, key, &err) == 0 && f.xored);
        /* btc_blockfile_read undoes the xor at any offset, aligned or not. */
        uint8_t got[64];
        btc_blockfile_read(&f, offs[1] - 3, got, sizeof got);
        CHECK(memcmp(got, good.data + offs[1] - 3, sizeof got) == 0);
        btc_blockfile_close(&f);
    }

    /* Xored data followed by padding that is zero after the xor. */
    util_buf xp = {0};
    util_buf_append(&xp, padded.data, padded.len);
    xor_buf(xp.data, xp.len, key);
    snprintf(path, sizeof path, "%s/xored_padded.dat", tmpdir);
    write_file(path, xp.data, xp.len);
    check_file("xored, padding xored too", path, key, 3, offs, 0, 0);

    /* Xored data followed by raw zero bytes: what Bitcoin Core leaves on disk, because it
     * preallocates blk files with posix_fallocate (AllocateFileRange), never through the xor
     * stream. Those bytes read back as the key, not as zeros, and are padding all the same. */
    util_buf xr = {0};
    util_buf_append(&xr, x.data, x.len);
    util_buf_append(&xr, zeros, sizeof zeros);
    snprintf(path, sizeof path, "%s/xored_rawpad.dat", tmpdir);
    write_file(path, xr.data, xr.len);
    check_file("xored, raw zero padding (Bitcoin Core preallocation)", path, key, 3, offs, 0, 0);

    /* Opening what is not there or not a file. */
    btc_blockfile f;
    snprintf(path, sizeof path, "%s/missing.dat", tmpdir);
    CHECK(btc_blockfile_open(&f, path, NULL, &err) == UTIL_EIO && strstr(err.msg, path));
    CHECK(btc_blockfile_open(&f, tmpdir, NULL, &err) == UTIL_EIO && strstr(err.msg, tmpdir));

    /* xor.dat: absent, present, all zero, the wrong size. */
    uint8_t k[8];
    int present = -1;
    CHECK(btc_read_xor_key(tmpdir, k, &present, &err) == 0 && present == 0);
    snprintf(path, sizeof path, "%s/xor.dat", tmpdir);
    write_file(path, key, 8);
    CHECK(btc_read_xor_key(tmpdir, k, &present, &err) == 0 && present == 1 &&
          memcmp(k, key, 8) == 0);
    write_file(path, zero_key, 8);
    CHECK(btc_read_xor_key(tmpdir, k, &present, &err) == 0 && present == 0);
    write_file(path, key, 7);
    CHECK(btc_read_xor_key(tmpdir, k, &present, &err) == UTIL_EFORMAT && strstr(err.msg, path));

    /* Clean up the temp directory. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(tmpdir);

    util_buf_free(&good);
    util_buf_free(&padded);
    util_buf_free(&bad);
    util_buf_free(&x);
    util_buf_free(&xp);
    util_buf_free(&xr);
    free(big);
    free(demo);
}

/* BIP 141: the coinbase of a segwit block commits to its witnesses, so a corrupt witness byte,
 * which no txid covers, is caught too. Real mainnet blocks: the miners' commitments are the
 * independent answer (each must match what we compute), and any single-byte change inside a
 * witness item or the coinbase's reserved value must be refused. */
static void test_witness_commitment(void)
{
    static const char *const files[] = {
        "tests/data/btc/block481829.raw",
        "tests/data/btc/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
        "tests/data/btc/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
    };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n;
        uint8_t *p = load_block(files[f], &n);
        if (!p) {
            CHECK_MSG(0, "%s: missing", files[f]);
            continue;
        }
        walk_tx *txs = malloc(sizeof *txs * 20000);
        long ntx = walk_block(p, n, txs, 20000);
        btc_block b = {0};
        util_err err = {0};
        CHECK_MSG(btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, &err) == 0, "%s: %s", files[f],
                  err.msg);
        CHECK_MSG(ntx > 1 && txs[0].segwit, "%s: a coinbase with a witness", files[f]);
        /* the coinbase's reserved value: count byte, length byte, then the 32 bytes */
        size_t reserved = txs[0].wit_start + 2;
        p[reserved + 5] ^= 0x40;
        int rc = btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, &err);
        CHECK_MSG(rc == UTIL_EFORMAT && strstr(err.msg, "witness commitment"),
                  "%s: reserved value changed: rc %d '%s'", files[f], rc, err.msg);
        p[reserved + 5] ^= 0x40;
        int refused = 0, by_commitment = 0, tried = 0;
        for (long t = 1; t < ntx && tried < 400; t++) {
            if (!txs[t].segwit) continue;
            for (int k = 0; k < 2; k++, tried++) {
                size_t span = txs[t].wit_end - txs[t].wit_start;
                size_t off = txs[t].wit_start + (size_t)(rng() % span);
                uint8_t old = p[off];
                p[off] ^= (uint8_t)(1 + rng() % 255);
                rc = btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, &err);
                refused += rc == UTIL_EFORMAT;
                by_commitment += rc == UTIL_EFORMAT && strstr(err.msg, "witness commitment");
                /* without verification, a witness byte changes nothing we read */
                if (rc == UTIL_EFORMAT && strstr(err.msg, "witness commitment"))
                    CHECK(btc_parse_block(&b, p, n, 0, &err) == 0);
                p[off] = old;
            }
        }
        printf("%s: %d witness-byte corruptions, %d refused (%d by the commitment)\n",
               files[f] + 15, tried, refused, by_commitment);
        /* 481829, the fifth block after activation, has no segwit tx but its coinbase */
        CHECK_MSG(refused == tried, "%s: %d of %d witness corruptions refused", files[f], refused,
                  tried);
        CHECK_MSG(f == 0 || (tried > 100 && by_commitment > tried / 2),
                  "%s: only %d of %d by the commitment", files[f], by_commitment, tried);
        btc_block_free(&b);
        free(txs);
        free(p);
    }
    /* Mainnet 481815 (before activation): a commitment and no coinbase witness parses. */
    size_t n;
    uint8_t *p = load_block("tests/data/btc/block481815.raw", &n);
    btc_block b = {0};
    util_err err = {0};
    CHECK(p && btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, &err) == 0);
    btc_block_free(&b);
    free(p);
}

int main(void)
{
    test_classify();
    test_addr_strings();
    test_work();
    test_real_blocks();
    test_demo_chain();
    test_truncation();
    test_corruption();
    test_witness_commitment();
    test_blockfiles();
    return CHECK_DONE();
}
