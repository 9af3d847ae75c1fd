/* evm_rpc_int.h: what the JSON-RPC source's files (evm_rpc_client.c, evm_rpc_rows.c,
 * evm_rpc.c) share and nothing else sees. */
#ifndef CT_EVM_RPC_INT_H
#define CT_EVM_RPC_INT_H

#include <curl/curl.h>

#include "evmingest.h"

struct evm_rpc {
    char *url;
    CURL *curl;
    struct curl_slist *hdr;
    long timeout_ms, backoff_ms;
    int retries;
    int last_code;
    uint64_t next_id, calls;
    util_buf body; /* response bytes of the current attempt */
};

/* Sleeps ms milliseconds, resumed across signals. */
void evm_rpc_sleep_ms(long ms);

/* o[k] as a JSON-RPC quantity ("0x..") that fits 64 bits; an error names what and k. */
int evm_rpc_get_u64(const json_t *o, const char *k, const char *what, uint64_t *out, util_err *err);

#endif
