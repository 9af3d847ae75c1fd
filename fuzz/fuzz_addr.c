/* fuzz_addr: address strings. btc_addr_decode on arbitrary NUL-terminated strings: a success
 * must re-encode to the canonical string (the input itself for base58, its lowercase form for
 * bech32) and decode again to the same address; a refusal must be UTIL_EINVAL with a message.
 * The lower-level crypto_segwit_decode and crypto_base58check_decode round-trip the same way. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "btc/btc.h"
#include "crypto/crypto.h"

#include "fuzz_common.h"

static void lower(char *out, const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = 0;
}

static void check_segwit(const char *s, const char *hrp)
{
    int ver;
    uint8_t prog[40];
    size_t plen;
    int rc = crypto_segwit_decode(s, hrp, &ver, prog, &plen);
    FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2 || rc == -3);
    if (rc != 0) return;
    FUZZ_ASSERT(ver >= 0 && ver <= 16 && plen >= 2 && plen <= 40);
    char out[128], want[128];
    size_t n = crypto_segwit_encode(out, hrp, ver, prog, plen);
    lower(want, s);
    FUZZ_ASSERT(n == strlen(out) && strcmp(out, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[201];
    if (size > 200) size = 200;
    memcpy(s, data, size);
    s[size] = 0; /* the string ends at the first NUL, wherever that is */

    btc_addr a;
    util_err err = {0};
    int rc = btc_addr_decode(&a, s, &err);
    if (rc == 0) {
        FUZZ_ASSERT(a.kind >= BTC_ADDR_P2PKH && a.kind <= BTC_ADDR_WITNESS_UNKNOWN);
        FUZZ_ASSERT(a.len >= 2 && a.len <= 32);
        char out[128], want[201];
        if (strncasecmp(s, "bc1", 3) == 0)
            lower(want, s);
        else
            strcpy(want, s);
        size_t n = btc_addr_encode(out, &a);
        if (strcmp(out, want) != 0) {
            fprintf(stderr, "decoded '%s' re-encodes as '%s'\n", s, out);
            abort();
        }
        FUZZ_ASSERT(n == strlen(out));
        btc_addr back;
        FUZZ_ASSERT(btc_addr_decode(&back, out, &err) == 0 && memcmp(&back, &a, sizeof a) == 0);
    } else {
        FUZZ_ASSERT(rc == UTIL_EINVAL && err.code == UTIL_EINVAL && err.msg[0]);
    }

    check_segwit(s, "bc");
    check_segwit(s, "tb");

    uint8_t ver, payload[100];
    size_t n;
    rc = crypto_base58check_decode(s, &ver, payload, sizeof payload, &n);
    FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2 || rc == -3);
    if (rc == 0 && n <= 64) {
        char out[128];
        size_t len = crypto_base58check_encode(out, ver, payload, n);
        FUZZ_ASSERT(len == strlen(out) && strcmp(out, s) == 0);
    }
    return 0;
}
