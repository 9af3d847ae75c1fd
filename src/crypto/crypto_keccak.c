/* Keccak-256 as Ethereum uses it: the sponge with Keccak's original padding (0x01 ... 0x80).
 * Debian 12's OpenSSL 3.0 has only SHA3 (padding 0x06) and its libtomcrypt (1.18.2) no
 * keccak_256_*, but Nettle exports the Keccak-f[1600] permutation itself (sha3_permute), so
 * only the padding is ours. Rate: 1088 bits = 136 bytes. */
#include <nettle/sha3.h>
#include <string.h>

#include "../util/util.h"
#include "crypto.h"

void crypto_keccak256(const void *p, size_t n, uint8_t out[32])
{
    enum { RATE = 136 };
    struct sha3_state st;
    memset(&st, 0, sizeof st);
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
            st.a[i] ^= util_le64(block + 8 * i);
        sha3_permute(&st);
        if (take < RATE) break;
        in += RATE, n -= RATE;
    }
    for (size_t i = 0; i < 4; i++)
        util_put_le64(out + 8 * i, st.a[i]);
}
