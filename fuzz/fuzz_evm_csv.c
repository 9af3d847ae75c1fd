/* fuzz_evm_csv: ethereum-etl CSV files. The input is one file; it is read into a batch and, if
 * that succeeds, assembled into blocks. Either step may refuse the input, always with a
 * message; what it accepts must be consistent: blocks in ascending consecutive order, every
 * transfer naming a tx of its block or none, and the raw CSV rows must re-read the same way.
 * Seeds: the CSV files of tests/data/evm/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evm/evm.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the bare row reader: it never reads past the data and always moves forward */
    evm_csv c;
    evm_csv_init(&c, "fuzz.csv", (const char *)data, size);
    util_err err = {0};
    int rc;
    size_t last = 0;
    while ((rc = evm_csv_next(&c, &err)) == 1) {
        FUZZ_ASSERT(c.pos > last && c.pos <= size);
        FUZZ_ASSERT(c.nf >= 1 && c.nf <= EVM_CSV_MAX_FIELDS);
        for (size_t i = 0; i < c.nf; i++)
            FUZZ_ASSERT(c.f[i] != NULL);
        last = c.pos;
    }
    FUZZ_ASSERT(rc == 0 || (rc == UTIL_EFORMAT && err.msg[0]) || rc == UTIL_ENOMEM);
    evm_csv_free(&c);

    evm_batch *b;
    FUZZ_ASSERT(evm_batch_new(&b, &err) == 0);
    evm_file_kind kind;
    err.msg[0] = 0;
    rc = evm_batch_read_mem(b, "fuzz.csv", (const char *)data, size, &kind, &err);
    if (rc) {
        FUZZ_ASSERT(err.msg[0] && !strncmp(err.msg, "fuzz.csv:", 9));
    } else {
        const evm_block *blocks;
        size_t n;
        err.msg[0] = 0;
        rc = evm_batch_assemble(b, &blocks, &n, &err);
        if (rc) {
            FUZZ_ASSERT(err.msg[0]);
        } else {
            for (size_t i = 0; i < n; i++) {
                if (i) FUZZ_ASSERT(blocks[i].number == blocks[i - 1].number + 1);
                for (size_t t = 0; t < blocks[i].n_txs; t++)
                    FUZZ_ASSERT(blocks[i].txs[t].index == t);
                for (size_t x = 0; x < blocks[i].n_xfers; x++) {
                    const evm_xfer *xf = &blocks[i].xfers[x];
                    FUZZ_ASSERT(xf->tx == EVM_NONE32 || xf->tx < blocks[i].n_txs);
                    FUZZ_ASSERT(xf->kind >= EVM_XFER_TX && xf->kind < EVM_XFER_KINDS);
                    FUZZ_ASSERT(!evm_u256_is_zero(&xf->amount));
                }
            }
        }
    }
    evm_batch_free(b);
    return 0;
}
