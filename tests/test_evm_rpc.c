/* The node's answers -> ethereum-etl rows, field by field against ethereum-etl's own expected
 * CSVs for the same answers (its test fixtures, tests/data/evm/README.md): blocks and txs
 * from eth_getBlockByNumber, receipts, logs and token transfers from eth_getTransactionReceipt,
 * traces from trace_block and from debug_traceBlockByNumber's callTracer. Then bad answers. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evm/evm.h"
#include "evmingest/evmingest.h"

#define D "tests/data/evm/"

static json_t *load_result(const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        fprintf(stderr, "%s: %s\n", path, je.text);
        CHECK(!"fixture loads");
        return NULL;
    }
    json_t *r = json_incref(json_object_get(doc, "result"));
    json_decref(doc);
    return r;
}

/* Compare CSV text with an expected file, row by row and field by field. skip_empty: a
 * field the expected file leaves empty is not compared (columns ethereum-etl fills in a later
 * step). */
static void same_csv(const char *label, const util_buf *got, const char *expected_path,
                     int skip_empty)
{
    uint8_t *exp;
    size_t elen;
    util_err err;
    if (util_read_file(expected_path, &exp, &elen, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(!"expected file reads");
        return;
    }
    evm_csv a, b;
    if (!elen) {
        /* ethereum-etl writes no header for an export without rows; we keep the header row
         * (files are recognised by it) and nothing else */
        const char *nl = memchr(got->data, '\n', got->len);
        CHECK(nl && (size_t)(nl - (const char *)got->data) + 1 == got->len);
        free(exp);
        return;
    }
    evm_csv_init(&a, "got", (const char *)got->data, got->len);
    evm_csv_init(&b, expected_path, (const char *)exp, elen);
    char header[EVM_CSV_MAX_FIELDS][40];
    size_t rows = 0;
    for (;;) {
        int ra = evm_csv_next(&a, &err), rb = evm_csv_next(&b, &err);
        check_count++;
        if (ra != rb) {
            check_failures++;
            fprintf(stderr, "%s: row %zu: %s\n", label, rows,
                    ra > rb ? "extra row" : "row missing");
            break;
        }
        if (ra <= 0) break;
        check_count++;
        if (a.nf != b.nf) {
            check_failures++;
            fprintf(stderr, "%s: row %zu: %zu fields, expected %zu\n", label, rows, a.nf, b.nf);
            break;
        }
        for (size_t i = 0; i < a.nf; i++) {
            if (!rows) {
                snprintf(header[i], sizeof header[i], "%.*s", (int)b.flen[i], b.f[i]);
                continue;
            }
            if (skip_empty && !b.flen[i]) continue;
            check_count++;
            if (a.flen[i] != b.flen[i] || memcmp(a.f[i], b.f[i], a.flen[i])) {
                check_failures++;
                fprintf(stderr, "%s: row %zu column %s: got '%.*s', ethereum-etl '%.*s'\n", label,
                        rows, header[i], (int)(a.flen[i] > 80 ? 80 : a.flen[i]), a.f[i],
                        (int)(b.flen[i] > 80 ? 80 : b.flen[i]), b.f[i]);
            }
        }
        if (!rows) CHECK(got->len >= a.pos && !memcmp(got->data, exp, a.pos)); /* header */
        rows++;
    }
    CHECK(rows > 1 || strstr(label, "empty"));
    evm_csv_free(&a);
    evm_csv_free(&b);
    free(exp);
}

static void blocks_case(const char *label, const char *dir, const char *const *files, size_t n)
{
    evm_rpc_csv o;
    util_err err;
    CHECK(!evm_rpc_csv_init(&o, &err));
    char p[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        json_t *b = load_result(p);
        int rc = evm_rpc_csv_block(&o, b, &err);
        if (rc) fprintf(stderr, "%s: %s\n", label, err.msg);
        CHECK(!rc);
        json_decref(b);
    }
    snprintf(p, sizeof p, "%s/blocks.csv", dir);
    same_csv(label, &o.blocks, p, 0);
    snprintf(p, sizeof p, "%s/transactions.csv", dir);
    char l2[128];
    snprintf(l2, sizeof l2, "%s txs%s", label, n == 1 && strstr(dir, "b0") ? " empty" : "");
    same_csv(l2, &o.txs, p, 0);
    evm_rpc_csv_free(&o);
}

static void receipts_case(void)
{
    /* fed in the order of ethereum-etl's expected receipts.csv (its job's input order) */
    static const char *const hashes[] = {
        "0x463d53f0ad57677a3b430a007c1c31d15d62c37fab5eee598551697c297c235c",
        "0x05287a561f218418892ab053adfb3d919860988b19458c570c5c30f51c146f02",
        "0x04cbcb236043d8fb7839e07bbc7f5eed692fb2ca55d897f1101eac3e3ad4fab8",
        "0xcea6f89720cc1d2f46cc7a935463ae0b99dd5fad9c91bb7357de5421511cee49"};
    evm_rpc_csv o;
    util_err err;
    CHECK(!evm_rpc_csv_init(&o, &err));
    for (size_t i = 0; i < 4; i++) {
        char p[256];
        snprintf(p, sizeof p, D "b483920/web3_response.eth_getTransactionReceipt_%s.json",
                 hashes[i]);
        json_t *r = load_result(p);
        int rc = evm_rpc_csv_receipt(&o, r, &err);
        if (rc) fprintf(stderr, "receipt: %s\n", err.msg);
        CHECK(!rc);
        json_decref(r);
    }
    same_csv("receipts", &o.receipts, D "b483920/receipts.csv", 0);
    same_csv("logs", &o.logs, D "b483920/logs.csv", 0);
    same_csv("token_transfers", &o.token_transfers, D "b483920/token_transfers.csv", 0);
    evm_rpc_csv_free(&o);
}

static void traces_case(const char *name, const char *file, int geth, uint64_t number)
{
    char p[512];
    /* traces/ holds only blocks with traces (tests/e2e_evm.sh imports each of its folders) */
    const char *dir = geth ? "geth_traces" : strstr(name, "without") ? "traces_empty" : "traces";
    snprintf(p, sizeof p, D "%s/%s/%s", dir, name, file);
    json_t *t = load_result(p);
    evm_rpc_csv o;
    util_err err;
    CHECK(!evm_rpc_csv_init(&o, &err));
    int rc = geth ? evm_rpc_csv_geth_traces(&o, number, t, NULL, &err)
                  : evm_rpc_csv_parity_traces(&o, t, &err);
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    CHECK(!rc);
    snprintf(p, sizeof p, D "%s/%s/traces.csv", dir, name);
    char label[128];
    snprintf(label, sizeof label, "%s traces %s%s", geth ? "geth" : "parity", name,
             strstr(name, "without") ? " empty" : "");
    same_csv(label, &o.traces, p, 0);
    evm_rpc_csv_free(&o);
    json_decref(t);
}

/* With the block given, callTracer rows get the tx hash, status and trace_id ethereum-etl
 * computes for trace_block rows: the geth and parity rows of one block then agree on every
 * column both fill (block 1000895: a failed call). */
static void geth_with_block(void)
{
    json_t *t =
        load_result(D "geth_traces/block_with_error/"
                      "web3_response.debug_traceBlockByNumber_0xf45bf_tracer_calltracer.json");
    json_t *pt = load_result(D "traces/block_with_error/web3_response.trace_block_0xf45bf.json");
    /* a minimal block: the tx hashes by position, from the parity answer */
    json_t *txs = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(pt, i, x)
    {
        json_t *h = json_object_get(x, "transactionHash");
        json_t *pos = json_object_get(x, "transactionPosition");
        if (h && json_is_integer(pos) && (size_t)json_integer_value(pos) == json_array_size(txs))
            json_array_append_new(txs, json_pack("{s:O}", "hash", h));
    }
    json_t *block = json_pack("{s:o}", "transactions", txs);
    evm_rpc_csv o;
    util_err err;
    CHECK(!evm_rpc_csv_init(&o, &err));
    CHECK(!evm_rpc_csv_geth_traces(&o, 1000895, t, block, &err));
    evm_csv c;
    evm_csv_init(&c, "geth", (const char *)o.traces.data, o.traces.len);
    size_t rows = 0, failed = 0;
    while (evm_csv_next(&c, &err) == 1) {
        if (rows++ == 0) continue;
        CHECK(c.flen[1] == 66); /* transaction_hash */
        CHECK(c.flen[16] == 1); /* status */
        CHECK(c.flen[17] > 5 && !memcmp(c.f[17], "call_0x", 7));
        if (c.f[16][0] == '0') failed++;
        /* the row of the parity answer with the same trace_id has the same status */
        json_array_foreach(pt, i, x)
        {
            const char *h = json_string_value(json_object_get(x, "transactionHash"));
            if (h && strlen(h) == c.flen[1] && !memcmp(h, c.f[1], c.flen[1]))
                CHECK((json_object_get(x, "error") != NULL) == (c.f[16][0] == '0'));
        }
    }
    CHECK(rows == 3 && failed == 1);
    evm_csv_free(&c);
    evm_rpc_csv_free(&o);
    json_decref(block);
    json_decref(t);
    json_decref(pt);
}

/* Bad answers: a clear error naming the object and the field, nothing half-written counts
 * (the caller drops the buffers). */
static void bad_answers(void)
{
    evm_rpc_csv o;
    util_err err = {0};
    CHECK(!evm_rpc_csv_init(&o, &err));
    json_t *b = load_result(D "b47218/web3_response.eth_getBlockByNumber_0xb872_true.json");
    json_t *tx0 = json_array_get(json_object_get(b, "transactions"), 0);
    json_object_set_new(tx0, "value", json_string("0xzz"));
    CHECK(evm_rpc_csv_block(&o, b, &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "block 0xb872") && strstr(err.msg, "value"));
    json_object_set_new(tx0, "value", json_string("0x1"));
    json_object_set_new(tx0, "from", json_string("0x12"));
    CHECK(evm_rpc_csv_block(&o, b, &err) == UTIL_EFORMAT && strstr(err.msg, "from"));
    json_array_set_new(
        json_object_get(b, "transactions"), 0,
        json_string("0x99f1097abd8f33a68f0ed63d60de5f3e7e2a3e0579b90d5f46a4f201c658b46d"));
    CHECK(evm_rpc_csv_block(&o, b, &err) == UTIL_EFORMAT && strstr(err.msg, "full transactions"));
    CHECK(evm_rpc_csv_block(&o, json_null(), &err) == UTIL_EFORMAT);
    json_t *obj = json_object();
    CHECK(evm_rpc_csv_parity_traces(&o, obj, &err) == UTIL_EFORMAT);
    json_decref(obj);
    json_decref(b);
    /* a client for a URL that is not http */
    evm_rpc *c;
    CHECK(evm_rpc_open(&c, "ftp://x", NULL, &err) == UTIL_EINVAL);
    /* nothing listens on port 1: refused, retried once, then an error naming the method */
    evm_rpc_opts ro = {.timeout_ms = 2000, .retries = 1, .backoff_ms = 10};
    CHECK(!evm_rpc_open(&c, "http://127.0.0.1:1", &ro, &err));
    json_t *res;
    CHECK(evm_rpc_call(c, "eth_blockNumber", json_array(), &res, &err) == UTIL_EIO);
    CHECK(strstr(err.msg, "eth_blockNumber") && strstr(err.msg, "2 attempts"));
    evm_rpc_close(c);
    evm_rpc_csv_free(&o);
}

int main(void)
{
    static const char *const b47218[] = {"web3_response.eth_getBlockByNumber_0xb872_true.json",
                                         "web3_response.eth_getBlockByNumber_0xb873_true.json"};
    static const char *const b483920[] = {"web3_response.eth_getBlockByNumber_0x76250_true.json"};
    static const char *const b0[] = {"web3_response.eth_getBlockByNumber_0x0_true.json"};
    blocks_case("blocks 47218-47219", D "b47218", b47218, 2);
    blocks_case("block 483920", D "b483920", b483920, 1);
    blocks_case("block 0", D "b0", b0, 1);
    receipts_case();
    traces_case("block_with_create", "web3_response.trace_block_0xf44f2.json", 0, 0);
    traces_case("block_with_error", "web3_response.trace_block_0xf45bf.json", 0, 0);
    traces_case("block_with_subtraces", "web3_response.trace_block_0xf4240.json", 0, 0);
    traces_case("block_with_suicide", "web3_response.trace_block_0xf7105.json", 0, 0);
    traces_case("block_without_transactions", "web3_response.trace_block_0x0.json", 0, 0);
    traces_case("block_with_create",
                "web3_response.debug_traceBlockByNumber_0xf44f2_tracer_calltracer.json", 1,
                1000690);
    traces_case("block_with_error",
                "web3_response.debug_traceBlockByNumber_0xf45bf_tracer_calltracer.json", 1,
                1000895);
    traces_case("block_with_subtraces",
                "web3_response.debug_traceBlockByNumber_0xf4240_tracer_calltracer.json", 1,
                1000000);
    traces_case("block_with_suicide",
                "web3_response.debug_traceBlockByNumber_0xf7105_tracer_calltracer.json", 1,
                1011973);
    traces_case("block_without_transactions",
                "web3_response.debug_traceBlockByNumber_0x1_tracer_calltracer.json", 1, 1);
    geth_with_block();
    bad_answers();
    return CHECK_DONE();
}
