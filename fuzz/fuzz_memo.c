/* fuzz_memo: THORChain memos and protocol-event logs. xchain_memo_parse on arbitrary bytes: a
 * refusal is UTIL_EFORMAT with a message; an acceptance has a kind, and a swap an asset, a
 * destination and (when it lands on Bitcoin) an address that re-encodes to the destination
 * as written (lowercase for bech32). The bytes after the first '|' are also fed to
 * evm_decode_event_log as "topics|data": 0, 1 or UTIL_EFORMAT, a string within its buffer. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evm/evm.h"
#include "xchain/xchain.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xchain_memo m;
    util_err err = {0};
    int rc = xchain_memo_parse((const char *)data, size, &m, &err);
    FUZZ_ASSERT(rc == 0 || (rc == UTIL_EFORMAT && err.msg[0]));
    if (rc == 0) {
        FUZZ_ASSERT(m.kind >= XCHAIN_MEMO_SWAP && m.kind <= XCHAIN_MEMO_BRIDGE);
        if (m.kind == XCHAIN_MEMO_SWAP) {
            FUZZ_ASSERT(m.asset[0] && m.chain[0] && m.dest[0]);
            if (m.dest_is_btc) {
                char out[128], want[128];
                btc_addr_encode(out, &m.dest_addr);
                size_t i = 0;
                int bech = !strncasecmp(m.dest, "bc1", 3);
                for (; m.dest[i]; i++)
                    want[i] = bech ? (char)tolower((unsigned char)m.dest[i]) : m.dest[i];
                want[i] = 0;
                FUZZ_ASSERT(strcmp(out, want) == 0);
            }
        }
        xchain_memo again;
        FUZZ_ASSERT(xchain_memo_parse((const char *)data, size, &again, NULL) == 0 &&
                    !memcmp(&again, &m, sizeof m));
    }
    const uint8_t *bar = memchr(data, '|', size);
    if (bar) {
        evm_event ev;
        char text[EVM_EVENT_TEXT_MAX + 1];
        size_t tn = (size_t)(bar - data);
        rc = evm_decode_event_log((const char *)data, tn, (const char *)bar + 1, size - tn - 1, &ev,
                                  text, sizeof text, &err);
        FUZZ_ASSERT(rc == 0 || rc == 1 || rc == UTIL_EFORMAT || rc == UTIL_ENOMEM);
        if (rc == 1) {
            FUZZ_ASSERT(ev.kind >= 1 && ev.kind < EVM_EVENT_KINDS);
            FUZZ_ASSERT(ev.text_len <= EVM_EVENT_TEXT_MAX && ev.text[ev.text_len] == 0);
        }
    }
    return 0;
}
