/* evmingest: filling an EVM store (src/evm) from ethereum-etl CSV exports (evm_import.c) or
 * from a node's JSON-RPC (evm_rpc_client.c, evm_rpc_rows.c, evm_rpc.c), as src/ingest does for
 * Bitcoin block files. Both go through evm_import_batch: the rows read into an evm_batch,
 * assembled into blocks, appended and committed (docs/evm.md). Functions return 0 or a
 * negative UTIL_E* code and fill err with a message naming the file, line and column, or the
 * method and what the node said. */
#ifndef CT_EVMINGEST_H
#define CT_EVMINGEST_H

#include <jansson.h>

#include "../evm/evm.h"

/* ---- the whole import ---- */
typedef struct evm_import_opts {
    uint64_t commit_every; /* blocks per commit (0: 1000) */
    uint64_t crash_after;  /* test hook: _exit(9) after this many commits (0: never) */
} evm_import_opts;

typedef struct evm_import_result {
    uint64_t files, blocks_read, blocks_skipped, blocks_added, blocks_removed, txs_added,
        xfers_added, tokens_set, commits;
} evm_import_result;

/* Read paths (files, or directories whose *.csv files are read in name order), assemble,
 * then append: blocks already stored with the same hash are skipped, a stored block with a
 * different hash is cut back (reorganisation) and replaced, a gap is UTIL_EFORMAT. Nothing is
 * written unless every file reads and assembles. */
int evm_import(evm_store *s, const char *const *paths, size_t n_paths, const evm_import_opts *o,
               evm_import_result *r, util_err *err);
/* The append half of evm_import, shared by every source: assemble the batch, then skip the
 * blocks already stored, cut back a reorganisation, append and commit (every commit_every
 * blocks and at the end). Adds to *r (the caller zeroes it once). */
int evm_import_batch(evm_store *s, evm_batch *b, const evm_import_opts *o, evm_import_result *r,
                     util_err *err);

/* ---- a node's JSON-RPC (evm_rpc_client.c, evm_rpc_rows.c, evm_rpc.c) ---- */

/* A JSON-RPC client over HTTP (libcurl). Opaque; evm_rpc_close it. */
typedef struct evm_rpc evm_rpc;

typedef struct evm_rpc_opts {
    long timeout_ms; /* per request, connect included (0: 30000) */
    int retries;     /* further attempts after a transient failure (<0: none; 0: 5) */
    long backoff_ms; /* first wait between attempts, doubled each time up to 5 s (0: 250) */
} evm_rpc_opts;

/* url: "http://HOST:PORT[/path]" (copied). */
int evm_rpc_open(evm_rpc **out, const char *url, const evm_rpc_opts *o, util_err *err);
void evm_rpc_close(evm_rpc *c);
/* Call method with params (a JSON array; the reference is stolen). *result is a new
 * reference (JSON null when the node answered null). Transient failures (connection refused
 * or reset, timeouts, HTTP 5xx/429, JSON-RPC -32000 "header not found"-like answers) are
 * retried with backoff; then, or for a permanent error, UTIL_EIO with a message naming the
 * method, its params and what the node said. */
int evm_rpc_call(evm_rpc *c, const char *method, json_t *params, json_t **result, util_err *err);
/* The JSON-RPC error code of the last failed call (0 if it failed below JSON-RPC). */
int evm_rpc_last_code(const evm_rpc *c);

/* ethereum-etl CSV text built from a node's answers: each buffer starts with ethereum-etl's
 * header row and gets one line per row, as ethereum-etl's export jobs write them. */
typedef struct evm_rpc_csv {
    util_buf blocks, txs, receipts, logs, token_transfers, traces;
} evm_rpc_csv;

int evm_rpc_csv_init(evm_rpc_csv *o, util_err *err);
void evm_rpc_csv_free(evm_rpc_csv *o);
/* eth_getBlockByNumber(n, true) -> a blocks row and its transactions rows. */
int evm_rpc_csv_block(evm_rpc_csv *o, const json_t *block, util_err *err);
/* One receipt (eth_getTransactionReceipt or an element of eth_getBlockReceipts) -> a receipts
 * row, its logs rows and the token_transfers rows of its ERC-20 Transfer logs. */
int evm_rpc_csv_receipt(evm_rpc_csv *o, const json_t *receipt, util_err *err);
/* trace_block's (Parity) array -> traces rows with ethereum-etl's status and trace_id. */
int evm_rpc_csv_parity_traces(evm_rpc_csv *o, const json_t *traces, util_err *err);
/* debug_traceBlockByNumber(n, callTracer)'s array for block `number` -> traces rows, frames
 * flattened depth first as ethereum-etl's extract_geth_traces does. tx_hashes (may be NULL)
 * gives each position's tx hash when the items carry no txHash: with a hash, status (0 when
 * a frame or an ancestor errored) and trace_id are filled as for trace_block; without one
 * they stay empty, as in ethereum-etl's geth_traces output. */
int evm_rpc_csv_geth_traces(evm_rpc_csv *o, uint64_t number, const json_t *traces,
                            const json_t *block, util_err *err);

typedef enum {
    EVM_RPC_TRACES_AUTO = 0, /* trace_block, else debug_traceBlockByNumber, else none */
    EVM_RPC_TRACES_PARITY,   /* trace_block only */
    EVM_RPC_TRACES_GETH,     /* debug_traceBlockByNumber with callTracer only */
    EVM_RPC_TRACES_NONE,     /* no internal transfers */
} evm_rpc_traces;

/* Returns 1 to stop (e.g. SIGINT/SIGTERM arrived) after waiting up to ms milliseconds (0:
 * just look). */
typedef int (*evm_rpc_wait_fn)(void *ctx, long ms);

typedef struct evm_rpc_import_opts {
    uint64_t from; /* first block of an empty store (has_from) */
    int has_from;
    uint64_t to; /* last block (has_to); else the head minus confirmations */
    int has_to;
    int follow;             /* keep polling for new heads until wait says stop */
    uint64_t confirmations; /* stay this many blocks behind the head */
    uint64_t batch_blocks;  /* blocks per fetch and commit (0: 100) */
    long poll_ms;           /* --follow: between polls of eth_blockNumber (0: 2000) */
    evm_rpc_traces traces;
    uint64_t crash_after; /* test hook, as evm_import_opts */
    const char *csv_out;  /* a directory: append each committed batch's rows to its KIND.csv
                           * files (ethereum-etl's names; NULL: none) */
    evm_rpc_wait_fn wait; /* NULL: sleep, never stop */
    void *wait_ctx;
} evm_rpc_import_opts;

typedef struct evm_rpc_import_result {
    evm_import_result r; /* blocks added, skipped, removed, txs, transfers, commits */
    uint64_t batches, rpc_calls, reorgs, head;
    const char *traces; /* "trace_block", "debug_traceBlockByNumber" or "none" (static) */
    int stopped;        /* wait said stop */
} evm_rpc_import_result;

/* Import from a node: continue at the stored tip + 1 (o->from for an empty store, default
 * 0), fetch batch_blocks blocks with their receipts and traces, turn them into ethereum-etl
 * rows and hand them to evm_import_batch, which commits them. Before each batch the stored
 * tip is compared with the node's block at that height: a different hash is a
 * reorganisation, walked back to the last common block and replaced. A failed call leaves
 * the store at the last committed batch, so the next run resumes exactly. */
int evm_rpc_import(evm_store *s, evm_rpc *c, const evm_rpc_import_opts *o, evm_rpc_import_result *r,
                   util_err *err);

#endif
