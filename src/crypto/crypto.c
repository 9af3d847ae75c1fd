/* The low-level SHA-256 calls are deprecated in OpenSSL 3 but remain its fastest path for the
 * many short messages a block holds (no per-call EVP dispatch). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto.h"

#include <openssl/ripemd.h>
#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(crypto_sha256_ctx) >= sizeof(SHA256_CTX), "sha256 ctx too small");

void crypto_sha256_init(crypto_sha256_ctx *ctx)
{
    SHA256_Init((SHA256_CTX *)ctx);
}
void crypto_sha256_update(crypto_sha256_ctx *ctx, const void *p, size_t n)
{
    SHA256_Update((SHA256_CTX *)ctx, p, n);
}
void crypto_sha256_final(crypto_sha256_ctx *ctx, uint8_t out[32])
{
    SHA256_Final(out, (SHA256_CTX *)ctx);
}
/* OpenSSL 3's one-shot SHA256() and RIPEMD160() fetch an EVP method (locks, allocations) on
 * every call; a context on the stack goes straight to the compression function. */
void crypto_sha256(const void *p, size_t n, uint8_t out[32])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, p, n);
    SHA256_Final(out, &c);
}
void crypto_sha256d(const void *p, size_t n, uint8_t out[32])
{
    uint8_t first[32];
    crypto_sha256(p, n, first);
    crypto_sha256(first, 32, out);
}
void crypto_sha256d_final(crypto_sha256_ctx *ctx, uint8_t out[32])
{
    uint8_t first[32];
    SHA256_Final(first, (SHA256_CTX *)ctx);
    crypto_sha256(first, 32, out);
}
void crypto_sha1(const void *p, size_t n, uint8_t out[20])
{
    SHA_CTX c;
    SHA1_Init(&c);
    SHA1_Update(&c, p, n);
    SHA1_Final(out, &c);
}
void crypto_hash160(const void *p, size_t n, uint8_t out[20])
{
    uint8_t sha[32];
    crypto_sha256(p, n, sha);
    RIPEMD160_CTX c;
    RIPEMD160_Init(&c);
    RIPEMD160_Update(&c, sha, 32);
    RIPEMD160_Final(out, &c);
}

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

size_t crypto_base58check_encode(char *out, uint8_t version, const uint8_t *payload, size_t n)
{
    uint8_t raw[64 + 5];
    if (n > 64) n = 64;
    raw[0] = version;
    memcpy(raw + 1, payload, n);
    uint8_t check[32];
    crypto_sha256d(raw, n + 1, check);
    memcpy(raw + 1 + n, check, 4);
    size_t len = n + 5;
    /* Repeated division of a big-endian base-256 number by 58. */
    uint8_t digits[128];
    size_t nd = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned carry = raw[i];
        for (size_t j = 0; j < nd; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            digits[nd++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < len && raw[i] == 0; i++)
        out[o++] = '1';
    while (nd)
        out[o++] = b58_alphabet[digits[--nd]];
    out[o] = 0;
    return o;
}

int crypto_base58check_decode(const char *s, uint8_t *version, uint8_t *payload, size_t cap,
                              size_t *n)
{
    size_t slen = strlen(s);
    if (slen == 0 || slen > 100) return -3;
    uint8_t bytes[100];
    size_t nb = 0;
    for (size_t i = 0; i < slen; i++) {
        const char *p = strchr(b58_alphabet, s[i]);
        if (!p || !s[i]) return -1;
        unsigned carry = (unsigned)(p - b58_alphabet);
        for (size_t j = 0; j < nb; j++) {
            carry += (unsigned)bytes[j] * 58;
            bytes[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry) {
            bytes[nb++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    size_t zeros = 0;
    while (zeros < slen && s[zeros] == '1')
        zeros++;
    size_t total = zeros + nb;
    if (total < 5 || total - 5 > cap) return -3;
    uint8_t raw[100];
    memset(raw, 0, zeros);
    for (size_t i = 0; i < nb; i++)
        raw[zeros + i] = bytes[nb - 1 - i];
    uint8_t check[32];
    crypto_sha256d(raw, total - 4, check);
    if (memcmp(check, raw + total - 4, 4) != 0) return -2;
    *version = raw[0];
    memcpy(payload, raw + 1, total - 5);
    *n = total - 5;
    return 0;
}

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
enum { BECH32_CONST = 1, BECH32M_CONST = 0x2bc830a3 };

static uint32_t bech32_polymod_step(uint32_t pre)
{
    uint8_t b = (uint8_t)(pre >> 25);
    return ((pre & 0x1FFFFFF) << 5) ^ (-((b >> 0) & 1) & 0x3b6a57b2UL) ^
           (-((b >> 1) & 1) & 0x26508e6dUL) ^ (-((b >> 2) & 1) & 0x1ea119faUL) ^
           (-((b >> 3) & 1) & 0x3d4233ddUL) ^ (-((b >> 4) & 1) & 0x2a1462b3UL);
}

static uint32_t bech32_hrp_checksum_start(const char *hrp)
{
    uint32_t chk = 1;
    for (const char *c = hrp; *c; c++)
        chk = bech32_polymod_step(chk) ^ ((uint8_t)*c >> 5);
    chk = bech32_polymod_step(chk);
    for (const char *c = hrp; *c; c++)
        chk = bech32_polymod_step(chk) ^ ((uint8_t)*c & 0x1f);
    return chk;
}

/* Regroup bits: 8-bit bytes to 5-bit groups (pad) or back (no padding allowed). */
static int convert_bits(uint8_t *out, size_t *outlen, int outbits, const uint8_t *in, size_t inlen,
                        int inbits, int pad)
{
    uint32_t val = 0;
    int bits = 0;
    uint32_t maxv = (((uint32_t)1) << outbits) - 1;
    *outlen = 0;
    for (size_t i = 0; i < inlen; i++) {
        val = (val << inbits) | in[i];
        bits += inbits;
        while (bits >= outbits) {
            bits -= outbits;
            out[(*outlen)++] = (uint8_t)((val >> bits) & maxv);
        }
    }
    if (pad) {
        if (bits) out[(*outlen)++] = (uint8_t)((val << (outbits - bits)) & maxv);
    } else if (((val << (outbits - bits)) & maxv) || bits >= inbits) {
        return -1;
    }
    return 0;
}

size_t crypto_segwit_encode(char *out, const char *hrp, int version, const uint8_t *prog,
                            size_t prog_len)
{
    if (version < 0 || version > 16 || prog_len < 2 || prog_len > 40) return 0;
    if (version == 0 && prog_len != 20 && prog_len != 32) return 0;
    uint8_t data[1 + 64];
    size_t dlen;
    data[0] = (uint8_t)version;
    convert_bits(data + 1, &dlen, 5, prog, prog_len, 8, 1);
    dlen += 1;
    uint32_t chk = bech32_hrp_checksum_start(hrp);
    size_t o = 0;
    for (const char *c = hrp; *c; c++)
        out[o++] = *c;
    out[o++] = '1';
    for (size_t i = 0; i < dlen; i++) {
        chk = bech32_polymod_step(chk) ^ data[i];
        out[o++] = bech32_charset[data[i]];
    }
    for (int i = 0; i < 6; i++)
        chk = bech32_polymod_step(chk);
    chk ^= version == 0 ? BECH32_CONST : BECH32M_CONST;
    for (int i = 0; i < 6; i++)
        out[o++] = bech32_charset[(chk >> ((5 - i) * 5)) & 31];
    out[o] = 0;
    return o;
}

int crypto_segwit_decode(const char *s, const char *hrp, int *version, uint8_t prog[40],
                         size_t *prog_len)
{
    size_t len = strlen(s), hrplen = strlen(hrp);
    if (len < 8 || len > 90) return -3;
    int lower = 0, upper = 0;
    char lc[91];
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c < 33 || c > 126) return -1;
        if (c >= 'a' && c <= 'z') lower = 1;
        if (c >= 'A' && c <= 'Z') {
            upper = 1;
            c = (char)(c - 'A' + 'a');
        }
        lc[i] = c;
    }
    lc[len] = 0;
    if (lower && upper) return -1;
    const char *sep = strrchr(lc, '1');
    if (!sep || (size_t)(sep - lc) != hrplen || strncmp(lc, hrp, hrplen) != 0) return -3;
    size_t dlen = len - hrplen - 1;
    if (dlen < 7) return -3;
    uint8_t data[90];
    uint32_t chk = bech32_hrp_checksum_start(hrp);
    for (size_t i = 0; i < dlen; i++) {
        const char *p = strchr(bech32_charset, sep[1 + i]);
        if (!p || !sep[1 + i]) return -1;
        data[i] = (uint8_t)(p - bech32_charset);
        chk = bech32_polymod_step(chk) ^ data[i];
    }
    *version = data[0];
    if (*version > 16) return -3;
    uint32_t want = *version == 0 ? BECH32_CONST : BECH32M_CONST;
    if (chk != want) return -2;
    if (dlen - 7 > 64) return -3; /* more than a 40-byte program: would overflow prog */
    if (convert_bits(prog, prog_len, 8, data + 1, dlen - 7, 5, 0) < 0) return -3;
    if (*prog_len < 2 || *prog_len > 40) return -3;
    if (*version == 0 && *prog_len != 20 && *prog_len != 32) return -3;
    return 0;
}
