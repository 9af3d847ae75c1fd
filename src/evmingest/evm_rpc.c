/* A node's JSON-RPC as a source, part 3: the incremental import that follows the head,
 * one commit per batch, and handles reorganisations. The HTTP client is evm_rpc_client.c,
 * the answers-to-rows writers evm_rpc_rows.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evm_rpc_int.h"

/* ------------------------------------------------------------------ the import */

static json_t *hexnum(uint64_t n)
{
    char t[24];
    snprintf(t, sizeof t, "0x%" PRIx64, n);
    return json_string(t);
}

static int get_block(evm_rpc *c, uint64_t n, int full, json_t **out, util_err *err)
{
    int rc = evm_rpc_call(c, "eth_getBlockByNumber", json_pack("[o,b]", hexnum(n), full), out, err);
    if (rc) return rc;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return util_errf(
            err, UTIL_ENOTFOUND,
            "eth_getBlockByNumber 0x%" PRIx64 " (%" PRIu64 "): the node has no such block", n, n);
    }
    return 0;
}

static int block_hash(const json_t *b, uint8_t h[32], util_err *err)
{
    const char *s = json_string_value(json_object_get(b, "hash"));
    if (!s || evm_hash_parse(h, s, strlen(s), err))
        return util_errf(err, UTIL_EFORMAT, "eth_getBlockByNumber: block without a valid hash");
    return 0;
}

/* A field of a node's object must name the block we fetched: numbers are not stable across
 * a reorganisation, so answers for "block n" fetched one after another may disagree. */
static int same_block(const json_t *o, const char *bh)
{
    const char *h = json_string_value(json_object_get(o, "blockHash"));
    return h && !strcasecmp(h, bh);
}

/* Blocks [from, to] -> rows. 1 if the node changed its chain while we read (retry). */
static int fetch_range(evm_rpc *c, uint64_t from, uint64_t to, const char *parent, evm_rpc_csv *csv,
                       evm_rpc_traces *tr, int autom, const char **trname, int *per_tx_receipts,
                       util_err *err)
{
    char prev[67];
    snprintf(prev, sizeof prev, "%s", parent ? parent : "");
    for (uint64_t n = from; n <= to; n++) {
        json_t *b = NULL, *rs = NULL, *ts = NULL;
        int rc = get_block(c, n, 1, &b, err);
        if (rc) return rc;
        const char *bh = json_string_value(json_object_get(b, "hash"));
        const char *ph = json_string_value(json_object_get(b, "parentHash"));
        if (!bh || !ph) {
            json_decref(b);
            return util_errf(err, UTIL_EFORMAT, "block %" PRIu64 ": no hash or parentHash", n);
        }
        if (*prev && strcasecmp(prev, ph)) {
            json_decref(b);
            return 1;
        }
        snprintf(prev, sizeof prev, "%s", bh);
        rc = evm_rpc_csv_block(csv, b, err);
        const json_t *txs = json_object_get(b, "transactions");
        size_t ntx = json_array_size(txs);
        /* receipts: one call per block where the node has it, else one per tx */
        if (!rc && ntx && !*per_tx_receipts) {
            rc = evm_rpc_call(c, "eth_getBlockReceipts", json_pack("[o]", hexnum(n)), &rs, err);
            if (rc && evm_rpc_last_code(c) == -32601) {
                *per_tx_receipts = 1;
                rc = 0;
            } else if (!rc && (!json_is_array(rs) || json_array_size(rs) != ntx)) {
                rc = 1; /* null or another block's receipts: the chain moved */
            }
        }
        for (size_t i = 0; !rc && i < ntx; i++) {
            json_t *one = NULL;
            const json_t *r = rs ? json_array_get(rs, i) : NULL;
            if (!r) {
                const json_t *h = json_object_get(json_array_get(txs, i), "hash");
                rc = evm_rpc_call(c, "eth_getTransactionReceipt", json_pack("[O]", h), &one, err);
                if (rc) break;
                r = one;
            }
            if (!same_block(r, bh))
                rc = 1;
            else
                rc = evm_rpc_csv_receipt(csv, r, err);
            json_decref(one);
        }
        /* traces: Parity's trace_block (rewards included), else geth's callTracer */
        /* genesis has no txs, and geth refuses to trace it ("genesis is not traceable"); its
         * allocations are in no trace method (ethereum-etl's --genesis-traces rows) */
        while (!rc && n > 0 && *tr != EVM_RPC_TRACES_NONE) {
            if (*tr != EVM_RPC_TRACES_GETH) {
                rc = evm_rpc_call(c, "trace_block", json_pack("[o]", hexnum(n)), &ts, err);
                if (rc && autom && *tr == EVM_RPC_TRACES_AUTO && evm_rpc_last_code(c) == -32601) {
                    *tr = EVM_RPC_TRACES_GETH;
                    rc = 0;
                    continue;
                }
                if (rc) break;
                *tr = EVM_RPC_TRACES_PARITY;
                *trname = "trace_block";
                size_t i;
                const json_t *x;
                json_array_foreach(ts, i, x) if (!same_block(x, bh)) rc = 1;
                if (!rc) rc = evm_rpc_csv_parity_traces(csv, ts, err);
                break;
            }
            rc = evm_rpc_call(c, "debug_traceBlockByNumber",
                              json_pack("[o,{s:s}]", hexnum(n), "tracer", "callTracer"), &ts, err);
            if (rc && autom && !strcmp(*trname, "none") && evm_rpc_last_code(c) == -32601) {
                *tr = EVM_RPC_TRACES_NONE;
                rc = 0;
                break;
            }
            if (rc) break;
            *trname = "debug_traceBlockByNumber";
            if (json_array_size(ts) != ntx)
                rc = 1;
            else
                rc = evm_rpc_csv_geth_traces(csv, n, ts, b, err);
            break;
        }
        json_decref(ts);
        json_decref(rs);
        json_decref(b);
        if (rc) return rc;
    }
    return 0;
}

/* Append a batch's rows to DIR/KIND.csv, the header only into an empty file. */
static int append_csv(const char *dir, const char *kind, const util_buf *b, util_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.csv", dir, kind);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0) close(fd);
        return util_errf(err, UTIL_EIO, "--csv-out: %s: %s", path, strerror(errno));
    }
    const uint8_t *p = b->data;
    size_t n = b->len;
    if (st.st_size) { /* the header is there already */
        const uint8_t *nl = memchr(p, '\n', n);
        size_t h = nl ? (size_t)(nl - p) + 1 : n;
        p += h, n -= h;
    }
    int rc = util_write_all(fd, p, n);
    if (close(fd) || rc)
        return util_errf(err, UTIL_EIO, "--csv-out: %s: %s", path, strerror(errno));
    return 0;
}

static int stop_now(const evm_rpc_import_opts *o, long ms)
{
    if (o->wait) return o->wait(o->wait_ctx, ms);
    if (ms) evm_rpc_sleep_ms(ms);
    return 0;
}

/* The node's newest block we may import: head - confirmations, capped by --to. 0 with
 * *target, or 1 when there is none yet. */
static int target_of(evm_rpc *c, const evm_rpc_import_opts *o, evm_rpc_import_result *r,
                     uint64_t *target, util_err *err)
{
    json_t *h = NULL;
    int rc = evm_rpc_call(c, "eth_blockNumber", json_array(), &h, err);
    if (rc) return rc;
    json_t *w = json_pack("{s:O}", "n", h);
    json_decref(h);
    if (!w) return util_errf(err, UTIL_ENOMEM, "out of memory");
    rc = evm_rpc_get_u64(w, "n", "eth_blockNumber", &r->head, err);
    json_decref(w);
    if (rc) return rc;
    if (r->head < o->confirmations) return 1;
    *target = r->head - o->confirmations;
    if (o->has_to && o->to < *target) *target = o->to;
    return 0;
}

/* Does the node's block at height h have the stored hash? 1 yes, 0 no (or the node has no
 * block there), negative on an error. */
static int agrees(evm_store *s, evm_rpc *c, uint64_t first, uint64_t h, util_err *err)
{
    evm_block_row row;
    int rc = evm_store_block(s, h - first, &row, err);
    if (rc) return rc;
    json_t *b = NULL;
    uint8_t nh[32];
    rc = get_block(c, h, 0, &b, err);
    if (rc == UTIL_ENOTFOUND) return 0; /* the node is behind us */
    if (!rc) rc = block_hash(b, nh, err);
    json_decref(b);
    return rc ? rc : !memcmp(nh, row.hash, 32);
}

/* The first height where the node and the store disagree, the store's tip known to differ.
 * Blocks are chained by hash, so agreement holds for every height below one that agrees: a
 * binary search needs log2(blocks) calls, and a node of another chain is seen at once. */
static int fork_point(evm_store *s, evm_rpc *c, uint64_t *next, util_err *err)
{
    uint64_t first, n;
    uint8_t tip[32];
    evm_store_tip(s, &first, &n, tip);
    int a = agrees(s, c, first, first, err);
    if (a < 0) return a;
    if (!a)
        return util_errf(err, UTIL_EFORMAT,
                         "the node's chain shares no block with the store (its block %" PRIu64
                         " differs from the store's first): another chain, or a reorganisation "
                         "deeper than the store",
                         first);
    uint64_t lo = first, hi = first + n - 1; /* lo agrees, hi does not */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((a = agrees(s, c, first, mid, err)) < 0) return a;
        if (a)
            lo = mid;
        else
            hi = mid;
    }
    *next = hi;
    return 0;
}

int evm_rpc_import(evm_store *s, evm_rpc *c, const evm_rpc_import_opts *o, evm_rpc_import_result *r,
                   util_err *err)
{
    memset(r, 0, sizeof *r);
    r->traces = "none";
    uint64_t per = o->batch_blocks ? o->batch_blocks : 100;
    long poll = o->poll_ms > 0 ? o->poll_ms : 2000;
    evm_rpc_traces tr = o->traces;
    int per_tx_receipts = 0;
    evm_import_opts io = {.commit_every = per, .crash_after = o->crash_after};
    uint64_t first, n;
    uint8_t tip[32];
    evm_store_tip(s, &first, &n, tip);
    if (n && o->has_from && o->from != first + n)
        return util_errf(err, UTIL_EINVAL,
                         "--from %" PRIu64 ": the store already holds blocks %" PRIu64
                         " to %" PRIu64 " and continues at %" PRIu64
                         " (--from is for an empty store)",
                         o->from, first, first + n - 1, first + n);
    int retries_left = 5, rc = 0;
    while (!rc) {
        if (stop_now(o, 0)) {
            r->stopped = 1;
            break;
        }
        uint64_t target = 0;
        rc = target_of(c, o, r, &target, err);
        if (rc < 0) break;
        evm_store_tip(s, &first, &n, tip);
        uint64_t next = n ? first + n : o->has_from ? o->from : 0;
        int fork = 0;
        if (!rc && n) {
            uint64_t f = 0;
            evm_block_row row;
            /* cheap check of the tip first; the walk back only on a mismatch */
            json_t *b = NULL;
            uint8_t nh[32];
            int g = get_block(c, first + n - 1, 0, &b, err);
            if (!g) g = block_hash(b, nh, err);
            json_decref(b);
            if (g && g != UTIL_ENOTFOUND) {
                rc = g;
                break;
            }
            if ((rc = evm_store_block(s, n - 1, &row, err))) break;
            if (g == UTIL_ENOTFOUND || memcmp(nh, row.hash, 32)) {
                if ((rc = fork_point(s, c, &f, err))) break;
                next = f, fork = 1;
            }
        }
        if (fork && rc != 1 && next <= target) r->reorgs++;
        if (rc == 1 || next > target || (o->has_to && next > o->to)) {
            rc = 0;
            int done = o->has_to && first + n > o->to;
            if (!o->follow || done) break;
            if (stop_now(o, poll)) {
                r->stopped = 1;
                break;
            }
            continue;
        }
        uint64_t end = next + per - 1 < target ? next + per - 1 : target;
        evm_rpc_csv csv;
        if ((rc = evm_rpc_csv_init(&csv, err))) break;
        /* the batch must hang off the stored block before it (a reorganisation between the
         * tip check and the fetch shows here) */
        char parent[67] = "";
        if (!rc && n && next > first) {
            evm_block_row prow;
            if (!(rc = evm_store_block(s, next - 1 - first, &prow, err)))
                evm_hash_hex(parent, prow.hash);
        }
        if (!rc)
            rc = fetch_range(c, next, end, *parent ? parent : NULL, &csv, &tr,
                             o->traces == EVM_RPC_TRACES_AUTO, &r->traces, &per_tx_receipts, err);
        if (rc == 1) { /* the chain moved under us: start over from the store's tip */
            evm_rpc_csv_free(&csv);
            if (!retries_left--) {
                rc = util_errf(err, UTIL_EIO,
                               "blocks %" PRIu64 " to %" PRIu64
                               ": the node's chain kept changing while they were read",
                               next, end);
                break;
            }
            rc = 0;
            stop_now(o, 200);
            continue;
        }
        retries_left = 5;
        evm_batch *b = NULL;
        if (!rc) rc = evm_batch_new(&b, err);
        char name[96];
        struct {
            const char *kind;
            util_buf *buf;
        } parts[] = {{"blocks", &csv.blocks},
                     {"transactions", &csv.txs},
                     {"receipts", &csv.receipts},
                     {"logs", &csv.logs},
                     {"token_transfers", &csv.token_transfers},
                     {"traces", &csv.traces}};
        for (size_t i = 0; !rc && i < sizeof parts / sizeof *parts; i++) {
            if (i == 5 && tr == EVM_RPC_TRACES_NONE) continue;
            snprintf(name, sizeof name, "rpc %s of blocks %" PRIu64 "-%" PRIu64, parts[i].kind,
                     next, end);
            rc = evm_batch_read_mem(b, name, (const char *)parts[i].buf->data, parts[i].buf->len,
                                    NULL, err);
        }
        if (!rc) rc = evm_import_batch(s, b, &io, &r->r, err);
        for (size_t i = 0; !rc && o->csv_out && i < sizeof parts / sizeof *parts; i++)
            if (i != 5 || tr != EVM_RPC_TRACES_NONE)
                rc = append_csv(o->csv_out, parts[i].kind, parts[i].buf, err);
        evm_batch_free(b);
        evm_rpc_csv_free(&csv);
        if (rc) {
            util_err_prefix(err, "blocks %" PRIu64 " to %" PRIu64 " (nothing of them stored)", next,
                            end);
            break;
        }
        r->batches++;
    }
    r->rpc_calls = c->calls;
    return rc;
}
