/* fuzz_blockfile: the input is a block file. A btc_blockfile is pointed at the input bytes
 * (the struct is plain data, so no temp file is needed) and btc_blockfile_next walks it, once
 * as it is and once with the first 8 bytes taken as an xor.dat key for the rest. Every record
 * found must lie inside the file and parse (or be refused) without a crash; the walk must end
 * at the end of the file or with UTIL_EFORMAT naming the file and an offset. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btc/btc.h"

#include "fuzz_common.h"

static void walk(const uint8_t *map, size_t size, const uint8_t *key)
{
    btc_blockfile f;
    memset(&f, 0, sizeof f);
    snprintf(f.path, sizeof f.path, "fuzz-input/blk00000.dat");
    f.map = map;
    f.size = size;
    if (key) {
        memcpy(f.xor_key, key, 8);
        for (int i = 0; i < 8; i++)
            f.xored |= key[i] != 0;
    }
    size_t off = 0, boff, bsize;
    util_err err = {0};
    btc_block b = {0};
    int rc;
    while ((rc = btc_blockfile_next(&f, &off, &boff, &bsize, &err)) == 1) {
        FUZZ_ASSERT(boff >= 8 && bsize >= 81 && bsize <= size && boff <= size - bsize);
        FUZZ_ASSERT(off == boff + bsize);
        uint8_t frame[8];
        btc_blockfile_read(&f, boff - 8, frame, 8);
        FUZZ_ASSERT(btc_is_magic(frame)); /* mainnet, testnet3 or regtest framing */
        uint8_t *blk = malloc(bsize);
        FUZZ_ASSERT(blk != NULL);
        btc_blockfile_read(&f, boff, blk, bsize);
        int r0 = btc_parse_block(&b, blk, bsize, 0, &err);
        int r1 = btc_parse_block(&b, blk, bsize, BTC_PARSE_VERIFY_MERKLE, &err);
        FUZZ_ASSERT(r1 != 0 || r0 == 0);
        free(blk);
    }
    if (rc == 0) {
        FUZZ_ASSERT(off == size);
    } else {
        FUZZ_ASSERT(rc == UTIL_EFORMAT && err.code == UTIL_EFORMAT);
        FUZZ_ASSERT(strstr(err.msg, f.path) && strstr(err.msg, "offset "));
    }
    btc_block_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size, NULL);
    if (size >= 8) walk(data + 8, size - 8, data);
    return 0;
}
