/* test_crypto: SHA-256, double SHA-256, hash160 and Keccak-256 against published digests;
 * base58check against Bitcoin Core's base58_keys_valid vectors; bech32/bech32m segwit addresses
 * against every segwit test vector of BIP 173 and BIP 350, valid and invalid, with the reason each
 * invalid one is refused. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "util/util.h"

static void check_hex(const uint8_t *p, size_t n, const char *want, const char *what)
{
    char got[2 * 128 + 1];
    util_hex(got, p, n);
    check_count++;
    if (strcmp(got, want) != 0) {
        check_failures++;
        fprintf(stderr, "%s: got %s, want %s\n", what, got, want);
    }
}

static void test_sha256(void)
{
    uint8_t out[32];
    crypto_sha256("", 0, out);
    check_hex(out, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              "sha256('')");
    crypto_sha256("abc", 3, out);
    check_hex(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              "sha256('abc')");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    crypto_sha256(m448, strlen(m448), out);
    check_hex(out, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
              "sha256(448-bit message)");

    /* One million 'a', streamed in uneven pieces: the FIPS 180-2 long-message vector. */
    static uint8_t as[1000];
    memset(as, 'a', sizeof as);
    crypto_sha256_ctx ctx;
    crypto_sha256_init(&ctx);
    size_t left = 1000000, piece = 1;
    while (left) {
        size_t k = piece < left ? piece : left;
        if (k > sizeof as) k = sizeof as;
        crypto_sha256_update(&ctx, as, k);
        left -= k;
        piece = piece * 7 % 997 + 1;
    }
    crypto_sha256_final(&ctx, out);
    check_hex(out, 32, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
              "sha256(10^6 x 'a')");
}

static void test_sha256d(void)
{
    uint8_t out[32];
    crypto_sha256d("", 0, out);
    check_hex(out, 32, "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456",
              "sha256d('')");
    crypto_sha256d("abc", 3, out);
    check_hex(out, 32, "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358",
              "sha256d('abc')");

    /* The genesis block header hashes to the famous block hash (display order). */
    uint8_t hdr[80];
    CHECK(unhex(hdr, "0100000000000000000000000000000000000000000000000000000000000000000000003b"
                     "a3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff"
                     "001d1dac2b7c") == 80);
    char disp[65];
    crypto_sha256d(hdr, 80, out);
    util_hash_hex(disp, out);
    CHECK_STR(disp, "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");

    /* The streaming form (how txids are hashed while parsing) agrees with the one-shot form. */
    crypto_sha256_ctx ctx;
    uint8_t out2[32];
    crypto_sha256_init(&ctx);
    crypto_sha256_update(&ctx, hdr, 4);
    crypto_sha256_update(&ctx, hdr + 4, 0);
    crypto_sha256_update(&ctx, hdr + 4, 76);
    crypto_sha256d_final(&ctx, out2);
    CHECK(memcmp(out, out2, 32) == 0);

    /* util_hash_parse is the inverse of util_hash_hex. */
    uint8_t back[32];
    CHECK(util_hash_parse(back, disp) == 0 && memcmp(back, out, 32) == 0);
    CHECK(util_hash_parse(back, "00") == UTIL_EINVAL);
    CHECK(
        util_hash_parse(back, "g00000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f") ==
        UTIL_EINVAL);
}

static void test_hash160(void)
{
    uint8_t key[65], out[20];
    /* The key paid by the genesis coinbase. */
    CHECK(unhex(key, "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc"
                     "3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f") == 65);
    crypto_hash160(key, 65, out);
    check_hex(out, 20, "62e907b15cbf27d5425399ebf6f0fb50ebb88f18", "hash160(genesis pubkey)");
    /* The compressed generator point G (private key 1). */
    CHECK(unhex(key, "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798") == 33);
    crypto_hash160(key, 33, out);
    check_hex(out, 20, "751e76e8199196d454941c45d1b3a323f1433bd6", "hash160(G compressed)");
    crypto_hash160("", 0, out);
    check_hex(out, 20, "b472a266d0bd89c13706a4132ccfb16f7c3b9fcb", "hash160('')");
}

/* Base58check pairs from Bitcoin Core's src/test/data/base58_keys_valid.json, the genesis
 * coinbase address and the all-zero hash160 (leading '1's for leading zero bytes). */
static const struct {
    const char *b58, *hex; /* hex = version byte then payload */
} b58_valid[] = {
    {"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "0062e907b15cbf27d5425399ebf6f0fb50ebb88f18"},
    {"1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62i", "0065a16059864a2fdbc7c99a4723a8395bc6f188eb"},
    {"3CMNFxN1oHBc4R1EpboAL5yzHGgE611Xou", "0574f209f6ea907e2ea48f74fae05782ae8a665257"},
    {"mo9ncXisMeAoXwqcV5EWuyncbmCcQN4rVs", "6f53c0307d6851aa0ce7825ba883c6bd9ad242b486"},
    {"2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br", "c46349a418fc4578d10a372b54b45c280cc8c4382f"},
    {"5Kd3NBUAdUnhyzenEwVLy9pBKxSwXvE9FMPyR4UKZvpe6E3AgLr",
     "80eddbdc1168f1daeadbd3e44c1e3f8f5a284c2029f78ad26af98583a499de5b19"},
    {"Kz6UJmQACJmLtaQj5A3JAge4kVTNQ8gbvXuwbmCj7bsaabudb3RD",
     "8055c9bccb9ed68446d1b75273bbce89d7fe013a8acd1625514420fb2aca1a21c401"},
    {"1111111111111111111114oLvT2", "000000000000000000000000000000000000000000"},
};

static void keccak_hex(char out[65], const void *p, size_t n)
{
    uint8_t h[32];
    crypto_keccak256(p, n, h);
    util_hex(out, h, 32);
}

static void test_keccak(void)
{
    char hex[65];
    /* the Ethereum yellow paper's empty-string hash (the hash of empty code / KECCAK_EMPTY) */
    keccak_hex(hex, "", 0);
    CHECK_STR(hex, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    keccak_hex(hex, "abc", 3);
    CHECK_STR(hex, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    /* ERC-20's Transfer(address,address,uint256) topic, as every token contract emits it */
    const char *sig = "Transfer(address,address,uint256)";
    keccak_hex(hex, sig, strlen(sig));
    CHECK_STR(hex, "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
    /* function selector of transfer(address,uint256): a9059cbb */
    const char *tr = "transfer(address,uint256)";
    keccak_hex(hex, tr, strlen(tr));
    CHECK(!strncmp(hex, "a9059cbb", 8));
    /* around the 136-byte rate: values from pycryptodome's Keccak (Debian 3.11.0) */
    char a[300];
    memset(a, 'a', sizeof a);
    keccak_hex(hex, a, 135);
    CHECK_STR(hex, "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446");
    keccak_hex(hex, a, 136);
    CHECK_STR(hex, "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e");
    keccak_hex(hex, a, 137);
    CHECK_STR(hex, "d869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39");
    keccak_hex(hex, a, 272);
    CHECK_STR(hex, "cf7fcd4f705ee749930d19ca84561a9bf62516bd90a471545fa2f49fdc7e63c8");
}

static void test_base58check(void)
{
    for (size_t i = 0; i < sizeof b58_valid / sizeof b58_valid[0]; i++) {
        uint8_t raw[64], payload[64], ver;
        size_t n = unhex(raw, b58_valid[i].hex), got_n = 0;
        char out[128];
        size_t len = crypto_base58check_encode(out, raw[0], raw + 1, n - 1);
        CHECK_STR(out, b58_valid[i].b58);
        CHECK(len == strlen(b58_valid[i].b58));
        int rc = crypto_base58check_decode(b58_valid[i].b58, &ver, payload, sizeof payload, &got_n);
        CHECK(rc == 0);
        CHECK(rc == 0 && ver == raw[0] && got_n == n - 1 && memcmp(payload, raw + 1, n - 1) == 0);
    }

    uint8_t ver, payload[64];
    size_t n;
    /* A changed last character keeps every character valid: only the checksum catches it. */
    CHECK(crypto_base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", &ver, payload,
                                    sizeof payload, &n) == -2);
    CHECK(crypto_base58check_decode("3CMNFxN1oHBc4R1EpboAL5yzHGgE611Xov", &ver, payload,
                                    sizeof payload, &n) == -2);
    /* Two swapped characters. */
    CHECK(crypto_base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivNfa", &ver, payload,
                                    sizeof payload, &n) == -2);
    /* 0, O, I and l are not in the alphabet; nor are spaces, '+' or non-ASCII bytes. */
    const char *bad_chars[] = {
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNO",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNI", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNl",
        "0A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5 SLmv7DivfNa",
        "1A1zP1eP5QGefi2DMPTfTL5+Lmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5\xc3\xa9mv7DivfNa",
    };
    for (size_t i = 0; i < sizeof bad_chars / sizeof bad_chars[0]; i++)
        CHECK(crypto_base58check_decode(bad_chars[i], &ver, payload, sizeof payload, &n) == -1);
    /* Lengths: empty, too short to hold a checksum, too long, payload bigger than cap. */
    CHECK(crypto_base58check_decode("", &ver, payload, sizeof payload, &n) == -3);
    CHECK(crypto_base58check_decode("1", &ver, payload, sizeof payload, &n) == -3);
    CHECK(crypto_base58check_decode("2222", &ver, payload, sizeof payload, &n) == -3);
    char longs[102];
    memset(longs, '2', 101);
    longs[101] = 0;
    CHECK(crypto_base58check_decode(longs, &ver, payload, sizeof payload, &n) == -3);
    CHECK(crypto_base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &ver, payload, 19, &n) ==
          -3);
    CHECK(crypto_base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &ver, payload, 20, &n) ==
          0);

    /* Round trip of every payload length 0..64 with several version bytes, including the
     * all-zero payloads that encode as a run of '1's. */
    uint32_t seed = 12345;
    for (size_t len = 0; len <= 64; len++) {
        for (int v = 0; v < 4; v++) {
            uint8_t p[64], back[64], bv;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                p[i] = v == 1 ? 0 : (uint8_t)(seed >> 16);
            }
            uint8_t version = v == 3 ? 0xff : (uint8_t)(v * 5);
            char s[128];
            size_t sl = crypto_base58check_encode(s, version, p, len);
            size_t bn = 999;
            int rc = crypto_base58check_decode(s, &bv, back, sizeof back, &bn);
            CHECK(sl == strlen(s));
            CHECK(rc == 0 && bv == version && bn == len && memcmp(back, p, len) == 0);
        }
    }
}

/* ---- segwit addresses ---- */

struct seg_valid {
    const char *addr, *hrp, *spk; /* spk: the scriptPubKey hex the address stands for */
};

/* BIP 350's valid segwit addresses: all of them, whatever their hrp. */
static const struct seg_valid bip350_valid[] = {
    {"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc",
     "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "tb",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
    {"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "bc",
     "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"},
    {"BC1SW50QGDZ25J", "bc", "6002751e"},
    {"bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "bc", "5210751e76e8199196d454941c45d1b3a323"},
    {"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "tb",
     "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
    {"tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "tb",
     "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
    {"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "bc",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
};

/* BIP 173's valid segwit addresses. Its v0 ones stay valid; its v1+ ones use the bech32
 * checksum, which BIP 350 replaced with bech32m for versions 1..16, so they must now fail with
 * the checksum code (-2). */
static const struct seg_valid bip173_valid_v0[] = {
    {"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc",
     "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "tb",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
    {"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "tb",
     "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
};
static const char *const bip173_valid_v1plus[] = {
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
    "BC1SW50QA3JX3S",
    "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
};

struct seg_invalid {
    const char *addr, *hrp;
    int rc; /* 0 = any failure; else the exact code */
    const char *why;
};

static const struct seg_invalid seg_invalid[] = {
    /* BIP 350 */
    {"tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "bc", -3, "hrp"},
    {"tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "tb", -3, "hrp"},
    {"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bc", -2,
     "bech32 instead of bech32m"},
    {"tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "tb", -2,
     "bech32 instead of bech32m"},
    {"BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "bc", -2,
     "bech32 instead of bech32m"},
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "bc", -2, "bech32m instead of bech32"},
    {"tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "tb", -2,
     "bech32m instead of bech32"},
    {"bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "bc", -1,
     "invalid character in checksum"},
    {"BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "bc", -3,
     "invalid witness version"},
    {"bc1pw5dgrnzv", "bc", -3, "program length 1"},
    {"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", "bc", -3,
     "program length 41"},
    {"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "bc", -3, "v0 program length 16"},
    {"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "tb", -1, "mixed case"},
    {"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "bc", -3,
     "zero padding of more than 4 bits"},
    {"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "tb", -3,
     "non-zero padding"},
    {"bc1gmk9yu", "bc", -3, "empty data section"},
    /* BIP 173 (some fail earlier under BIP 350: a v1+ bech32 checksum is now wrong) */
    {"tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "bc", -3, "hrp"},
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bc", -2, "checksum"},
    {"BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "bc", -3, "invalid witness version"},
    {"bc1rw5uspcuh", "bc", 0, "program length"},
    {"bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "bc", 0,
     "program length"},
    {"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "bc", -3, "v0 program length 16"},
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "tb", -1, "mixed case"},
    {"bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "bc", 0, "zero padding of more than 4 bits"},
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", "tb", -3,
     "non-zero padding"},
    /* Ours: characters out of range, no separator, too long, wrong hrp for a valid address. */
    {" bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc", -1, "leading space"},
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\x7f", "bc", -1, "DEL"},
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t\x80", "bc", -1, "byte 0x80"},
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb", "bc", -1, "'b' is not a data character"},
    {"bcqw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc", -3, "no separator"},
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "tb", -3, "mainnet address, testnet hrp"},
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "bc", -3,
     "testnet address, mainnet hrp"},
    {"", "bc", -3, "empty"},
};

static void lower(char *out, const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = 0;
}

static void check_seg_valid(const struct seg_valid *v)
{
    uint8_t spk[42], prog[40];
    size_t spk_len = unhex(spk, v->spk), plen = 0;
    int ver = -1;
    int rc = crypto_segwit_decode(v->addr, v->hrp, &ver, prog, &plen);
    check_count++;
    if (rc != 0) {
        check_failures++;
        fprintf(stderr, "valid %s refused: %d\n", v->addr, rc);
        return;
    }
    /* The scriptPubKey is OP_n (OP_0 or 0x50+n) and a direct push of the program. */
    int want_ver = spk[0] == 0 ? 0 : spk[0] - 0x50;
    CHECK(ver == want_ver);
    CHECK(plen == spk[1] && plen + 2 == spk_len && memcmp(prog, spk + 2, plen) == 0);
    char out[128], want[128];
    size_t len = crypto_segwit_encode(out, v->hrp, ver, prog, plen);
    lower(want, v->addr);
    CHECK_STR(out, want);
    CHECK(len == strlen(want));
}

/* An independent bech32/bech32m checksum (BIP 173 reference polymod) to build strings with
 * a valid checksum around data the encoder would never produce. */
static uint32_t ref_polymod(const uint8_t *v, size_t n)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t top = chk >> 25;
        chk = (chk & 0x1ffffff) << 5 ^ v[i];
        for (int k = 0; k < 5; k++)
            if (top >> k & 1) chk ^= gen[k];
    }
    return chk;
}

/* "bc1" + the 5-bit groups in data + a checksum made with constant. */
static void ref_build(char *out, const uint8_t *data, size_t n, uint32_t constant)
{
    static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    uint8_t v[5 + 100 + 6] = {3, 3, 0, 2, 3}; /* "bc" expanded: high bits, 0, low bits */
    memcpy(v + 5, data, n);
    memset(v + 5 + n, 0, 6);
    uint32_t mod = ref_polymod(v, 5 + n + 6) ^ constant;
    size_t o = 0;
    out[o++] = 'b', out[o++] = 'c', out[o++] = '1';
    for (size_t i = 0; i < n; i++)
        out[o++] = charset[data[i]];
    for (int i = 0; i < 6; i++)
        out[o++] = charset[(mod >> (5 * (5 - i))) & 31];
    out[o] = 0;
}

static void test_segwit_crafted(void)
{
    uint8_t d[80];
    char s[128];
    int ver;
    uint8_t prog[40];
    size_t plen;
    /* v1, 32 groups = exactly 20 bytes: valid. */
    memset(d, 0, sizeof d);
    d[0] = 1;
    for (int i = 1; i <= 32; i++)
        d[i] = (uint8_t)(i & 31);
    ref_build(s, d, 33, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == 0 && ver == 1 && plen == 20);
    /* The same with the bech32 constant: wrong variant for v1. */
    ref_build(s, d, 33, 1);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -2);
    /* 33 groups = 20 bytes and 5 zero bits: more than 4 bits of padding. */
    d[33] = 0;
    ref_build(s, d, 34, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -3);
    /* 4 groups = 2 bytes and 4 bits: zero padding is fine, non-zero padding is not. */
    d[1] = 7, d[2] = 1, d[3] = 2, d[4] = 0;
    ref_build(s, d, 5, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == 0 && plen == 2);
    d[4] = 1;
    ref_build(s, d, 5, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -3);
    /* v0 with a bech32m checksum, v0 with bech32: only the latter decodes. */
    d[0] = 0;
    for (int i = 1; i <= 32; i++)
        d[i] = (uint8_t)((i * 7) & 31);
    ref_build(s, d, 33, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -2);
    ref_build(s, d, 33, 1);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == 0 && ver == 0 && plen == 20);
    /* 64 groups = 40 bytes (the maximum), 65 groups = 40 bytes + 5 bits, 66 = 41 bytes. */
    d[0] = 2;
    memset(d + 1, 0, 66);
    ref_build(s, d, 65, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == 0 && plen == 40);
    ref_build(s, d, 66, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -3);
    ref_build(s, d, 67, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -3);
    /* Version symbols above 16 are not witness versions. */
    d[0] = 17;
    ref_build(s, d, 33, 0x2bc830a3);
    CHECK(crypto_segwit_decode(s, "bc", &ver, prog, &plen) == -3);
    /* The encoder's output matches the reference checksum. */
    uint8_t p20[20];
    for (int i = 0; i < 20; i++)
        p20[i] = (uint8_t)(i * 13);
    char enc[128];
    crypto_segwit_encode(enc, "bc", 5, p20, 20);
    d[0] = 5;
    size_t nd = 1;
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < 20; i++) {
        acc = acc << 8 | p20[i];
        bits += 8;
        while (bits >= 5)
            d[nd++] = (uint8_t)(acc >> (bits -= 5) & 31);
    }
    ref_build(s, d, nd, 0x2bc830a3);
    CHECK_STR(enc, s);
}

static void test_segwit(void)
{
    for (size_t i = 0; i < sizeof bip350_valid / sizeof bip350_valid[0]; i++)
        check_seg_valid(&bip350_valid[i]);
    for (size_t i = 0; i < sizeof bip173_valid_v0 / sizeof bip173_valid_v0[0]; i++)
        check_seg_valid(&bip173_valid_v0[i]);
    for (size_t i = 0; i < sizeof bip173_valid_v1plus / sizeof bip173_valid_v1plus[0]; i++) {
        int ver;
        uint8_t prog[40];
        size_t plen;
        CHECK(crypto_segwit_decode(bip173_valid_v1plus[i], "bc", &ver, prog, &plen) == -2);
    }
    for (size_t i = 0; i < sizeof seg_invalid / sizeof seg_invalid[0]; i++) {
        const struct seg_invalid *v = &seg_invalid[i];
        int ver;
        uint8_t prog[40];
        size_t plen;
        int rc = crypto_segwit_decode(v->addr, v->hrp, &ver, prog, &plen);
        check_count++;
        if (v->rc ? rc != v->rc : rc >= 0) {
            check_failures++;
            fprintf(stderr, "invalid '%s' (hrp %s, %s): got %d, want %d\n", v->addr, v->hrp, v->why,
                    rc, v->rc);
        }
    }

    /* BIP 173 caps an address at 90 characters: a 40-byte v1 program is 74, so pad the hrp. */
    {
        char hrp[32], addr[160], out2[160];
        uint8_t p[40] = {1, 2, 3}, back[40];
        int ver;
        size_t blen;
        memset(hrp, 'x', 17);
        hrp[17] = 0; /* 17 + 1 + 1 + 64 + 6 = 89: allowed */
        size_t n = crypto_segwit_encode(addr, hrp, 1, p, 40);
        CHECK(n == 89 && crypto_segwit_decode(addr, hrp, &ver, back, &blen) == 0 && blen == 40);
        memset(hrp, 'x', 18);
        hrp[18] = 0; /* 90: allowed */
        n = crypto_segwit_encode(addr, hrp, 1, p, 40);
        CHECK(n == 90 && crypto_segwit_decode(addr, hrp, &ver, back, &blen) == 0);
        memset(hrp, 'x', 19);
        hrp[19] = 0; /* 91: too long, even with a valid checksum */
        n = crypto_segwit_encode(out2, hrp, 1, p, 40);
        CHECK(n == 91 && crypto_segwit_decode(out2, hrp, &ver, back, &blen) == -3);
    }

    /* Encoding refuses what the decoder would refuse. */
    uint8_t prog[41] = {0};
    char out[128];
    CHECK(crypto_segwit_encode(out, "bc", 0, prog, 21) == 0);
    CHECK(crypto_segwit_encode(out, "bc", 0, prog, 33) == 0);
    CHECK(crypto_segwit_encode(out, "bc", 1, prog, 1) == 0);
    CHECK(crypto_segwit_encode(out, "bc", 1, prog, 41) == 0);
    CHECK(crypto_segwit_encode(out, "bc", 17, prog, 32) == 0);
    CHECK(crypto_segwit_encode(out, "bc", -1, prog, 32) == 0);

    /* Every version and every allowed program length round-trips, and one changed data
     * character is always caught by the checksum (bech32 and bech32m detect any single
     * substitution). */
    uint32_t seed = 99;
    for (int ver = 0; ver <= 16; ver++) {
        for (size_t len = 2; len <= 40; len++) {
            if (ver == 0 && len != 20 && len != 32) continue;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1664525u + 1013904223u;
                prog[i] = (uint8_t)(seed >> 24);
            }
            size_t n = crypto_segwit_encode(out, "bc", ver, prog, len);
            int dver = -1;
            uint8_t back[40];
            size_t blen = 0;
            CHECK(n > 0 && n == strlen(out) && strncmp(out, "bc1", 3) == 0);
            CHECK(crypto_segwit_decode(out, "bc", &dver, back, &blen) == 0 && dver == ver &&
                  blen == len && memcmp(back, prog, len) == 0);
            /* Uppercase is the same address. */
            char up[128];
            for (size_t i = 0; i <= n; i++)
                up[i] = (char)toupper((unsigned char)out[i]);
            CHECK(crypto_segwit_decode(up, "bc", &dver, back, &blen) == 0 && dver == ver);
            /* Not the version character: changing it also changes which checksum applies. */
            size_t pos = 4 + (seed >> 8) % (n - 4);
            char orig = out[pos];
            out[pos] = orig == 'q' ? 'p' : 'q';
            CHECK(crypto_segwit_decode(out, "bc", &dver, back, &blen) < 0);
            out[pos] = orig;
        }
    }
}

int main(void)
{
    test_sha256();
    test_sha256d();
    test_hash160();
    test_keccak();
    test_base58check();
    test_segwit();
    test_segwit_crafted();
    return CHECK_DONE();
}
