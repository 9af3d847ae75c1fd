/* evm_read's insides shared by its files: the rows as read (evm_read.c) and assembled into
 * blocks (evm_assemble.c). Not part of the module's interface. */
#ifndef CT_EVM_READ_INT_H
#define CT_EVM_READ_INT_H

#include <string.h>

#include "evm.h"
#include "../util/util_vec.h"

/* Where a row came from, for messages after parsing (files[] are owned by the batch). */
typedef struct src_ref {
    uint32_t file;
    uint64_t line;
} src_ref;

typedef struct rd_withdrawal {
    uint8_t addr[20];
    evm_u256 amount; /* wei */
} rd_withdrawal;

typedef struct rd_block {
    uint64_t number, timestamp, tx_count;
    uint8_t hash[32], parent[32];
    size_t first_wd, n_wd; /* into batch->wds */
    src_ref at;
} rd_block;

typedef struct rd_tx {
    evm_tx tx;
    uint64_t block_number;
    uint8_t block_hash[32];
    int has_block_hash;
    int has_receipt, has_trace_status;
    src_ref at;
} rd_tx;

typedef struct rd_receipt {
    uint8_t tx_hash[32];
    uint64_t block_number, gas_used;
    int status; /* -1 empty (before Byzantium) */
    int has_price, has_contract;
    evm_u256 price;
    uint8_t contract[20];
    src_ref at;
} rd_receipt;

typedef struct rd_token_xfer {
    uint8_t tx_hash[32], token[20], from[20], to[20];
    evm_u256 amount;
    uint64_t block_number;
    uint32_t log_index;
    src_ref at;
} rd_token_xfer;

typedef struct rd_trace {
    uint64_t block_number;
    int has_tx;
    uint8_t tx_hash[32], from[20], to[20];
    int has_from, has_to;
    evm_u256 value;
    char trace_type[16], call_type[16];
    size_t ta_off, ta_len; /* the trace address, in the batch's string pool */
    int status;
    src_ref at;
} rd_trace;

typedef struct rd_event {
    evm_event ev; /* text: offset into the batch's pool until assembly (text_off) */
    size_t text_off;
    uint8_t tx_hash[32];
    uint64_t block_number;
    src_ref at;
} rd_event;

#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }

struct evm_batch {
    VEC(char *) files;
    VEC(rd_block) blocks;
    VEC(rd_withdrawal) wds;
    VEC(rd_tx) txs;
    VEC(rd_receipt) receipts;
    VEC(rd_token_xfer) tt;   /* from token_transfers.csv */
    VEC(rd_token_xfer) logs; /* decoded from logs.csv */
    VEC(rd_trace) traces;
    VEC(evm_token_meta) tokens;
    VEC(rd_event) events;
    util_buf pool; /* NUL-terminated trace addresses and event strings */
    int have_kind[9];
    /* assembled */
    evm_block *out;
    size_t n_out;
    evm_tx *out_txs;
    evm_xfer *out_xfers;
    evm_event *out_events;
};

#define VEC_PUSH(vec, err)                                                                         \
    (util_grow((void **)&(vec).v, &(vec).cap, (vec).n + 1, sizeof *(vec).v, 16, SIZE_MAX)          \
         ? NULL                                                                                    \
         : memset(&(vec).v[(vec).n++], 0, sizeof *(vec).v))

#endif
