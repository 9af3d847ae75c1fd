/* fuzz_block: btc_parse_block on arbitrary bytes, with and without merkle verification.
 * Beyond "no crash, no sanitizer report", a successful parse must describe the bytes it was
 * given: txs tile the block, the first and only the first is a coinbase, sizes and weights
 * agree, every output's script lies inside the block and its stored type and address are what
 * btc_classify_script says, and each address string decodes back to the same address. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btc/btc.h"

#include "fuzz_common.h"

static void check_parsed(const btc_block *b, const uint8_t *data, size_t size)
{
    FUZZ_ASSERT(b->n_tx >= 1 && b->size == size);
    uint32_t n_in = 0, n_out = 0;
    size_t expect_off = b->txs[0].offset;
    FUZZ_ASSERT(expect_off > 80 && expect_off <= 89);
    for (uint32_t t = 0; t < b->n_tx; t++) {
        const btc_tx *tx = &b->txs[t];
        FUZZ_ASSERT(tx->offset == expect_off);
        FUZZ_ASSERT(tx->coinbase == (t == 0));
        FUZZ_ASSERT(tx->first_in == n_in && tx->first_out == n_out && tx->n_in >= 1);
        FUZZ_ASSERT(tx->weight >= tx->size && tx->weight <= 4 * tx->size);
        FUZZ_ASSERT(tx->vsize == (tx->weight + 3) / 4);
        expect_off += tx->size;
        n_in += tx->n_in;
        n_out += tx->n_out;
    }
    FUZZ_ASSERT(expect_off == size);
    FUZZ_ASSERT(n_in == b->n_in && n_out == b->n_out);
    for (uint32_t i = 0; i < b->n_out; i++) {
        const btc_txout *o = &b->outs[i];
        FUZZ_ASSERT(o->value >= 0 && o->value <= 2100000000000000);
        FUZZ_ASSERT(o->script >= data && o->script_len <= size &&
                    (size_t)(o->script - data) <= size - o->script_len);
        btc_addr a;
        int type = btc_classify_script(o->script, o->script_len, &a);
        FUZZ_ASSERT(type == o->type && memcmp(&a, &o->addr, sizeof a) == 0);
        if (a.kind != BTC_ADDR_NONE) {
            char s[128];
            size_t len = btc_addr_encode(s, &a);
            FUZZ_ASSERT(len > 0 && len == strlen(s));
            btc_addr back;
            util_err err;
            FUZZ_ASSERT(btc_addr_decode(&back, s, &err) == 0);
            FUZZ_ASSERT(memcmp(&back, &a, sizeof a) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btc_block b = {0};
    util_err err = {0};
    int rc0 = btc_parse_block(&b, data, size, 0, &err);
    if (rc0 == 0)
        check_parsed(&b, data, size);
    else
        FUZZ_ASSERT(err.code == rc0 && err.msg[0] && (rc0 == UTIL_EFORMAT || rc0 == UTIL_ENOMEM));
    uint8_t first_txid[32];
    if (rc0 == 0) memcpy(first_txid, b.txs[0].txid, 32);

    /* The same block object again (arrays reused), now checking the merkle root. */
    int rc1 = btc_parse_block(&b, data, size, BTC_PARSE_VERIFY_MERKLE, &err);
    if (rc1 == 0) {
        FUZZ_ASSERT(rc0 == 0);
        check_parsed(&b, data, size);
        FUZZ_ASSERT(memcmp(first_txid, b.txs[0].txid, 32) == 0);
        if (b.n_tx == 1) FUZZ_ASSERT(memcmp(b.hdr.merkle, b.txs[0].txid, 32) == 0);
    } else {
        FUZZ_ASSERT(err.code == rc1 && err.msg[0]);
        if (rc0 == 0) /* only the merkle root or the witness commitment (BIP 141) can fail */
            FUZZ_ASSERT(
                rc1 == UTIL_ENOMEM ||
                (rc1 == UTIL_EFORMAT && (strstr(err.msg, "merkle") || strstr(err.msg, "witness"))));
        else
            FUZZ_ASSERT(rc1 == rc0);
    }
    btc_block_free(&b);
    return 0;
}
