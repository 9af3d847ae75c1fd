/* Keccak-256 as Ethereum uses it. Debian 12's OpenSSL 3.0 only has SHA3 (padding 0x06) and its
 * libtomcrypt (1.18.2) no keccak_256_*, so the sponge and the Keccak-f[1600] permutation are
 * written here (FIPS 202 section 3, the step mappings theta, rho, pi, chi, iota), which keeps
 * the library's reader modules free of another dependency. */
#include <string.h>

#include "../util/util.h"
#include "crypto.h"

static const uint64_t keccak_rc[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* Lane (x, y) is a[x + 5 * y]. One round written out lane by lane (theta, then rho and pi into
 * b, then chi, then iota): a loop over offset tables runs about three times slower, and the
 * generator hashes every synthetic tx and address with it. */
static void keccak_f1600(uint64_t a[25])
{
    for (int round = 0; round < 24; round++) {
        uint64_t c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
        uint64_t c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
        uint64_t c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
        uint64_t c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
        uint64_t c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
        uint64_t d0 = c4 ^ rotl64(c1, 1);
        uint64_t d1 = c0 ^ rotl64(c2, 1);
        uint64_t d2 = c1 ^ rotl64(c3, 1);
        uint64_t d3 = c2 ^ rotl64(c4, 1);
        uint64_t d4 = c3 ^ rotl64(c0, 1);
        uint64_t b[25];
        b[0] = a[0] ^ d0;
        b[10] = rotl64(a[1] ^ d1, 1);
        b[20] = rotl64(a[2] ^ d2, 62);
        b[5] = rotl64(a[3] ^ d3, 28);
        b[15] = rotl64(a[4] ^ d4, 27);
        b[16] = rotl64(a[5] ^ d0, 36);
        b[1] = rotl64(a[6] ^ d1, 44);
        b[11] = rotl64(a[7] ^ d2, 6);
        b[21] = rotl64(a[8] ^ d3, 55);
        b[6] = rotl64(a[9] ^ d4, 20);
        b[7] = rotl64(a[10] ^ d0, 3);
        b[17] = rotl64(a[11] ^ d1, 10);
        b[2] = rotl64(a[12] ^ d2, 43);
        b[12] = rotl64(a[13] ^ d3, 25);
        b[22] = rotl64(a[14] ^ d4, 39);
        b[23] = rotl64(a[15] ^ d0, 41);
        b[8] = rotl64(a[16] ^ d1, 45);
        b[18] = rotl64(a[17] ^ d2, 15);
        b[3] = rotl64(a[18] ^ d3, 21);
        b[13] = rotl64(a[19] ^ d4, 8);
        b[14] = rotl64(a[20] ^ d0, 18);
        b[24] = rotl64(a[21] ^ d1, 2);
        b[9] = rotl64(a[22] ^ d2, 61);
        b[19] = rotl64(a[23] ^ d3, 56);
        b[4] = rotl64(a[24] ^ d4, 14);
        a[0] = b[0] ^ (~b[1] & b[2]);
        a[1] = b[1] ^ (~b[2] & b[3]);
        a[2] = b[2] ^ (~b[3] & b[4]);
        a[3] = b[3] ^ (~b[4] & b[0]);
        a[4] = b[4] ^ (~b[0] & b[1]);
        a[5] = b[5] ^ (~b[6] & b[7]);
        a[6] = b[6] ^ (~b[7] & b[8]);
        a[7] = b[7] ^ (~b[8] & b[9]);
        a[8] = b[8] ^ (~b[9] & b[5]);
        a[9] = b[9] ^ (~b[5] & b[6]);
        a[10] = b[10] ^ (~b[11] & b[12]);
        a[11] = b[11] ^ (~b[12] & b[13]);
        a[12] = b[12] ^ (~b[13] & b[14]);
        a[13] = b[13] ^ (~b[14] & b[10]);
        a[14] = b[14] ^ (~b[10] & b[11]);
        a[15] = b[15] ^ (~b[16] & b[17]);
        a[16] = b[16] ^ (~b[17] & b[18]);
        a[17] = b[17] ^ (~b[18] & b[19]);
        a[18] = b[18] ^ (~b[19] & b[15]);
        a[19] = b[19] ^ (~b[15] & b[16]);
        a[20] = b[20] ^ (~b[21] & b[22]);
        a[21] = b[21] ^ (~b[22] & b[23]);
        a[22] = b[22] ^ (~b[23] & b[24]);
        a[23] = b[23] ^ (~b[24] & b[20]);
        a[24] = b[24] ^ (~b[20] & b[21]);
        a[0] ^= keccak_rc[round];
    }
}

/* The sponge with Keccak's original padding (0x01 ... 0x80). Rate: 1088 bits = 136 bytes. */
void crypto_keccak256(const void *p, size_t n, uint8_t out[32])
{
    enum { RATE = 136 };
    uint64_t st[25] = {0};
    const uint8_t *in = p;
    uint8_t block[RATE];
    for (;;) {
        size_t take = n < RATE ? n : RATE;
        memset(block, 0, RATE);
        if (take) memcpy(block, in, take);
        if (take < RATE) {
            block[take] ^= 0x01;
            block[RATE - 1] ^= 0x80;
        }
        for (size_t i = 0; i < RATE / 8; i++)
            st[i] ^= util_le64(block + 8 * i);
        keccak_f1600(st);
        if (take < RATE) break;
        in += RATE, n -= RATE;
    }
    for (size_t i = 0; i < 4; i++)
        util_put_le64(out + 8 * i, st[i]);
}
