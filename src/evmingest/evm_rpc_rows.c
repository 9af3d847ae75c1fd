/* A node's JSON-RPC, part 2: its answers (blocks, receipts, parity or geth traces) turned
 * into ethereum-etl CSV rows, so the rows go through the very evm_batch functions a CSV
 * import uses. */
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

/* ------------------------------------------------------------------ ethereum-etl rows */

static const char H_BLOCKS[] =
    "number,hash,parent_hash,nonce,sha3_uncles,logs_bloom,transactions_root,state_root,"
    "receipts_root,miner,difficulty,total_difficulty,size,extra_data,gas_limit,gas_used,"
    "timestamp,transaction_count,base_fee_per_gas,withdrawals_root,withdrawals\n";
static const char H_TXS[] =
    "hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,"
    "gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type\n";
static const char H_RECEIPTS[] =
    "transaction_hash,transaction_index,block_hash,block_number,cumulative_gas_used,gas_used,"
    "contract_address,root,status,effective_gas_price,l1_fee,l1_gas_used,l1_gas_price,"
    "l1_fee_scalar\n";
static const char H_LOGS[] =
    "log_index,transaction_hash,transaction_index,block_hash,block_number,address,data,topics\n";
static const char H_XFERS[] =
    "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n";
static const char H_TRACES[] =
    "block_number,transaction_hash,transaction_index,from_address,to_address,value,input,"
    "output,trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,error,"
    "status,trace_id\n";

int evm_rpc_csv_init(evm_rpc_csv *o, util_err *err)
{
    memset(o, 0, sizeof *o);
    if (util_buf_append(&o->blocks, H_BLOCKS, sizeof H_BLOCKS - 1) ||
        util_buf_append(&o->txs, H_TXS, sizeof H_TXS - 1) ||
        util_buf_append(&o->receipts, H_RECEIPTS, sizeof H_RECEIPTS - 1) ||
        util_buf_append(&o->logs, H_LOGS, sizeof H_LOGS - 1) ||
        util_buf_append(&o->token_transfers, H_XFERS, sizeof H_XFERS - 1) ||
        util_buf_append(&o->traces, H_TRACES, sizeof H_TRACES - 1)) {
        evm_rpc_csv_free(o);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

void evm_rpc_csv_free(evm_rpc_csv *o)
{
    util_buf_free(&o->blocks);
    util_buf_free(&o->txs);
    util_buf_free(&o->receipts);
    util_buf_free(&o->logs);
    util_buf_free(&o->token_transfers);
    util_buf_free(&o->traces);
}

/* One CSV row being written. The first problem is kept (with the object it concerns) and
 * later fields are skipped, so callers check once per row. */
typedef struct row {
    util_buf *out;
    int n, rc;
    const char *what; /* "block 12", "receipt 0x..." for messages */
    util_err *err;
} row;

static void r_raw(row *r, const char *s, size_t n)
{
    if (r->rc) return;
    int q = 0;
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    int bad = r->n++ && util_buf_append(r->out, ",", 1);
    if (!q) {
        bad |= util_buf_append(r->out, s, n);
    } else { /* as Python's csv module quotes: only when needed, "" for a quote */
        bad |= util_buf_append(r->out, "\"", 1);
        for (size_t i = 0; i < n; i++)
            bad |= util_buf_append(r->out, s + i, 1) ||
                   (s[i] == '"' && util_buf_append(r->out, "\"", 1));
        bad |= util_buf_append(r->out, "\"", 1);
    }
    if (bad) r->rc = util_errf(r->err, UTIL_ENOMEM, "out of memory");
}

static void r_s(row *r, const char *s)
{
    r_raw(r, s ? s : "", s ? strlen(s) : 0);
}

static void r_u64(row *r, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v);
    r_s(r, t);
}

static int r_bad(row *r, const char *field, const char *problem)
{
    if (!r->rc)
        r->rc = util_errf(r->err, UTIL_EFORMAT, "%s: field %s: %s", r->what, field, problem);
    return r->rc;
}

/* A string field as is ("" for null or absent). */
static void r_str(row *r, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        r_s(r, "");
    else if (json_is_string(v))
        r_raw(r, json_string_value(v), json_string_length(v));
    else
        r_bad(r, k, "not a string");
}

/* An address, lower case (ethereum-etl's to_normalized_address). */
static void r_addr(row *r, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        r_s(r, "");
        return;
    }
    if (!json_is_string(v) || json_string_length(v) != 42) {
        r_bad(r, k, "not an address (0x + 40 hex digits)");
        return;
    }
    char a[43];
    memcpy(a, json_string_value(v), 43);
    for (int i = 0; i < 42; i++)
        if (a[i] >= 'A' && a[i] <= 'Z') a[i] = (char)(a[i] - 'A' + 'a');
    r_s(r, a);
}

/* A quantity ("0x..." hex, or a JSON integer as some nodes write block numbers) into *v;
 * 0 absent/null, 1 present, negative on a bad value. */
static int get_qty(row *r, const json_t *o, const char *k, evm_u256 *v)
{
    const json_t *j = json_object_get(o, k);
    if (!j || json_is_null(j)) return 0;
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        memset(v, 0, sizeof *v);
        v->w[0] = (uint64_t)json_integer_value(j);
        return 1;
    }
    util_err e;
    if (!json_is_string(j) || json_string_length(j) < 3 || json_string_value(j)[0] != '0' ||
        (json_string_value(j)[1] != 'x' && json_string_value(j)[1] != 'X') ||
        evm_u256_parse(v, json_string_value(j), json_string_length(j), &e))
        return r_bad(r, k, "not a hex quantity");
    return 1;
}

/* A quantity as decimal (ethereum-etl's hex_to_dec); "" for null or absent. */
static void r_dec(row *r, const json_t *o, const char *k)
{
    evm_u256 v;
    int h = get_qty(r, o, k, &v);
    if (h < 0 || r->rc) return;
    if (!h) {
        r_s(r, "");
        return;
    }
    char t[EVM_U256_DEC_MAX];
    evm_u256_format(t, &v);
    r_s(r, t);
}

static int get_u64q(row *r, const json_t *o, const char *k, uint64_t *out)
{
    evm_u256 v;
    int h = get_qty(r, o, k, &v);
    if (h <= 0) return h < 0 ? h : r_bad(r, k, "missing");
    if (v.w[1] | v.w[2] | v.w[3]) return r_bad(r, k, "too large");
    *out = v.w[0];
    return 0;
}

int evm_rpc_get_u64(const json_t *o, const char *k, const char *what, uint64_t *out, util_err *err)
{
    row chk = {NULL, 0, 0, what, err};
    return get_u64q(&chk, o, k, out);
}

static int r_end(row *r)
{
    if (!r->rc && util_buf_append(r->out, "\n", 1))
        r->rc = util_errf(r->err, UTIL_ENOMEM, "out of memory");
    return r->rc;
}

int evm_rpc_csv_block(evm_rpc_csv *o, const json_t *b, util_err *err)
{
    if (!json_is_object(b)) return util_errf(err, UTIL_EFORMAT, "a block is not a JSON object");
    const json_t *txs = json_object_get(b, "transactions");
    if (!json_is_array(txs))
        return util_errf(err, UTIL_EFORMAT, "block %s: no transactions array",
                         json_string_value(json_object_get(b, "number")));
    char what[96];
    snprintf(what, sizeof what, "block %.70s",
             json_is_string(json_object_get(b, "number"))
                 ? json_string_value(json_object_get(b, "number"))
                 : "?");
    row r = {&o->blocks, 0, 0, what, err};
    r_dec(&r, b, "number");
    r_str(&r, b, "hash");
    r_str(&r, b, "parentHash");
    r_str(&r, b, "nonce");
    r_str(&r, b, "sha3Uncles");
    r_str(&r, b, "logsBloom");
    r_str(&r, b, "transactionsRoot");
    r_str(&r, b, "stateRoot");
    r_str(&r, b, "receiptsRoot");
    r_addr(&r, b, "miner");
    r_dec(&r, b, "difficulty");
    r_dec(&r, b, "totalDifficulty");
    r_dec(&r, b, "size");
    r_str(&r, b, "extraData");
    r_dec(&r, b, "gasLimit");
    r_dec(&r, b, "gasUsed");
    r_dec(&r, b, "timestamp");
    r_u64(&r, json_array_size(txs));
    r_dec(&r, b, "baseFeePerGas");
    r_str(&r, b, "withdrawalsRoot");
    /* ethereum-etl writes the list as its JSON objects joined by commas */
    util_buf w = {0};
    const json_t *ws = json_object_get(b, "withdrawals");
    size_t i;
    const json_t *x;
    json_array_foreach(ws, i, x)
    {
        uint64_t idx = 0, vi = 0, amt = 0;
        char a[43] = "";
        row t = {&w, 0, 0, what, err};
        get_u64q(&t, x, "index", &idx);
        get_u64q(&t, x, "validatorIndex", &vi);
        get_u64q(&t, x, "amount", &amt);
        const char *ad = json_string_value(json_object_get(x, "address"));
        if (!ad || strlen(ad) != 42) r_bad(&t, "withdrawals.address", "not an address");
        if (t.rc) {
            r.rc = t.rc;
            break;
        }
        for (int k = 0; k < 42; k++)
            a[k] = (char)(ad[k] >= 'A' && ad[k] <= 'Z' ? ad[k] - 'A' + 'a' : ad[k]);
        if (util_buf_printf(&w,
                            "%s{\"index\":%" PRIu64 ",\"validator_index\":%" PRIu64
                            ",\"address\":\"%s\",\"amount\":%" PRIu64 "}",
                            i ? "," : "", idx, vi, a, amt)) {
            r.rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
    }
    r_raw(&r, w.data ? (const char *)w.data : "", w.len);
    util_buf_free(&w);
    if (r_end(&r)) return r.rc;

    json_array_foreach(txs, i, x)
    {
        if (!json_is_object(x))
            return util_errf(err, UTIL_EFORMAT,
                             "%s: transaction %zu is not an object (ask for full transactions: "
                             "eth_getBlockByNumber(n, true))",
                             what, i);
        row t = {&o->txs, 0, 0, what, err};
        r_str(&t, x, "hash");
        r_dec(&t, x, "nonce");
        r_str(&t, x, "blockHash");
        r_dec(&t, x, "blockNumber");
        r_dec(&t, x, "transactionIndex");
        r_addr(&t, x, "from");
        r_addr(&t, x, "to");
        r_dec(&t, x, "value");
        r_dec(&t, x, "gas");
        r_dec(&t, x, "gasPrice");
        r_str(&t, x, "input");
        r_dec(&t, b, "timestamp");
        r_dec(&t, x, "maxFeePerGas");
        r_dec(&t, x, "maxPriorityFeePerGas");
        r_dec(&t, x, "type");
        if (r_end(&t)) return t.rc;
    }
    return 0;
}

int evm_rpc_csv_receipt(evm_rpc_csv *o, const json_t *x, util_err *err)
{
    if (!json_is_object(x)) return util_errf(err, UTIL_EFORMAT, "a receipt is not an object");
    char what[112];
    snprintf(what, sizeof what, "receipt %.80s",
             json_is_string(json_object_get(x, "transactionHash"))
                 ? json_string_value(json_object_get(x, "transactionHash"))
                 : "?");
    row r = {&o->receipts, 0, 0, what, err};
    r_str(&r, x, "transactionHash");
    r_dec(&r, x, "transactionIndex");
    r_str(&r, x, "blockHash");
    r_dec(&r, x, "blockNumber");
    r_dec(&r, x, "cumulativeGasUsed");
    r_dec(&r, x, "gasUsed");
    r_addr(&r, x, "contractAddress");
    r_str(&r, x, "root");
    r_dec(&r, x, "status");
    r_dec(&r, x, "effectiveGasPrice");
    r_dec(&r, x, "l1Fee");
    r_dec(&r, x, "l1GasUsed");
    r_dec(&r, x, "l1GasPrice");
    r_str(&r, x, "l1FeeScalar");
    if (r_end(&r)) return r.rc;
    const json_t *logs = json_object_get(x, "logs"), *lg;
    size_t i;
    json_array_foreach(logs, i, lg)
    {
        row l = {&o->logs, 0, 0, what, err};
        r_dec(&l, lg, "logIndex");
        r_str(&l, lg, "transactionHash");
        r_dec(&l, lg, "transactionIndex");
        r_str(&l, lg, "blockHash");
        r_dec(&l, lg, "blockNumber");
        r_addr(&l, lg, "address");
        r_str(&l, lg, "data");
        util_buf tp = {0};
        const json_t *topics = json_object_get(lg, "topics"), *t;
        size_t k;
        json_array_foreach(topics, k, t)
        {
            if (!json_is_string(t)) {
                r_bad(&l, "topics", "not a list of strings");
                break;
            }
            if ((k && util_buf_append(&tp, ",", 1)) ||
                util_buf_append(&tp, json_string_value(t), json_string_length(t))) {
                l.rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
        }
        r_raw(&l, tp.data ? (const char *)tp.data : "", tp.len);
        if (r_end(&l)) {
            util_buf_free(&tp);
            return l.rc;
        }
        /* ethereum-etl's token transfer extraction, same rule as the CSV import's */
        const char *data = json_string_value(json_object_get(lg, "data"));
        uint8_t from[20], to[20];
        evm_u256 amount;
        if (tp.len && data &&
            evm_decode_transfer_log((const char *)tp.data, tp.len, data, strlen(data), from, to,
                                    &amount)) {
            char fa[43], ta[43], am[EVM_U256_DEC_MAX];
            fa[0] = ta[0] = '0', fa[1] = ta[1] = 'x';
            util_hex(fa + 2, from, 20);
            util_hex(ta + 2, to, 20);
            evm_u256_format(am, &amount);
            row t2 = {&o->token_transfers, 0, 0, what, err};
            r_addr(&t2, lg, "address");
            r_s(&t2, fa);
            r_s(&t2, ta);
            r_s(&t2, am);
            r_str(&t2, lg, "transactionHash");
            r_dec(&t2, lg, "logIndex");
            r_dec(&t2, lg, "blockNumber");
            if (r_end(&t2)) {
                util_buf_free(&tp);
                return t2.rc;
            }
        }
        util_buf_free(&tp);
    }
    return 0;
}

/* A trace row before it is written: ethereum-etl computes status and trace_id over all of a
 * block's traces, so rows are collected first. Strings point into the JSON. */
typedef struct trow {
    const json_t *src, *action, *result; /* parity: the item; geth: the frame */
    char type[16], call_type[16];
    const char *tx_hash; /* NULL: block-level (reward) */
    char *ta;            /* trace address "0,1" (owned) */
    size_t depth;
    int failed, status; /* status -1: leave empty (geth frames without a tx hash) */
    uint64_t tx_index;
    int has_tx_index;
} trow;

typedef struct tvec {
    trow *v;
    size_t n, cap;
} tvec;

static void tvec_free(tvec *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].ta);
    free(t->v);
}

static trow *tvec_push(tvec *t, util_err *err)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        trow *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv) {
            util_errf(err, UTIL_ENOMEM, "out of memory");
            return NULL;
        }
        t->v = nv, t->cap = nc;
    }
    trow *r = &t->v[t->n++];
    memset(r, 0, sizeof *r);
    return r;
}

/* ethereum-etl's calculate_trace_statuses: a trace fails if it or an ancestor (same tx,
 * trace address a prefix) has an error. Rows of one tx are contiguous, parents first. */
static void trace_statuses(tvec *t)
{
    for (size_t i = 0; i < t->n; i++) {
        trow *x = &t->v[i];
        if (x->status < 0) continue;
        if (!x->failed && x->tx_hash)
            for (size_t j = i; j-- > 0;) {
                trow *p = &t->v[j];
                if (!p->tx_hash || strcmp(p->tx_hash, x->tx_hash)) break;
                size_t pl = strlen(p->ta);
                if (p->failed && p->depth < x->depth &&
                    (pl == 0 || (!strncmp(p->ta, x->ta, pl) && x->ta[pl] == ','))) {
                    x->failed = 1;
                    break;
                }
            }
        x->status = !x->failed;
    }
}

static int cmp_str0(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* ethereum-etl sorts a block's block-level traces by (reward_type, from, to, value) and
 * numbers them: trace_id = TYPE_BLOCK_INDEX. */
static int cmp_reward(const void *pa, const void *pb)
{
    const trow *a = *(const trow *const *)pa, *b = *(const trow *const *)pb;
    const json_t *aa = a->action, *ba = b->action;
    int c = cmp_str0(json_string_value(json_object_get(aa, "rewardType")),
                     json_string_value(json_object_get(ba, "rewardType")));
    if (!c)
        c = cmp_str0(json_string_value(json_object_get(aa, "author")),
                     json_string_value(json_object_get(ba, "author")));
    if (!c) {
        evm_u256 va = {{0}}, vb = {{0}};
        const char *sa = json_string_value(json_object_get(aa, "value"));
        const char *sb = json_string_value(json_object_get(ba, "value"));
        util_err e;
        if (sa) evm_u256_parse(&va, sa, strlen(sa), &e);
        if (sb) evm_u256_parse(&vb, sb, strlen(sb), &e);
        c = evm_u256_cmp(&va, &vb);
    }
    return c ? c : (a < b ? -1 : a > b);
}

static int write_traces(evm_rpc_csv *o, tvec *t, uint64_t number, int geth, util_err *err)
{
    trace_statuses(t);
    /* block-level trace ids */
    size_t nb = 0;
    trow **blk = malloc((t->n + 1) * sizeof *blk);
    uint64_t *bidx = calloc(t->n + 1, sizeof *bidx);
    if (!blk || !bidx) {
        free(blk);
        free(bidx);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < t->n; i++)
        if (!t->v[i].tx_hash && !geth) blk[nb++] = &t->v[i];
    qsort(blk, nb, sizeof *blk, cmp_reward);
    for (size_t i = 0; i < nb; i++)
        bidx[blk[i] - t->v] = i;
    free(blk);
    char what[64];
    snprintf(what, sizeof what, "traces of block %" PRIu64, number);
    int rc = 0;
    for (size_t i = 0; i < t->n && !rc; i++) {
        trow *x = &t->v[i];
        const json_t *a = x->action, *res = x->result;
        row r = {&o->traces, 0, 0, what, err};
        r_u64(&r, number);
        r_s(&r, x->tx_hash);
        if (x->has_tx_index)
            r_u64(&r, x->tx_index);
        else
            r_s(&r, "");
        const char *ty = x->type;
        int call = !strcmp(ty, "call"), create = !strcmp(ty, "create") || !strcmp(ty, "create2");
        int suicide = !strcmp(ty, "suicide"), reward = !strcmp(ty, "reward");
        if (geth) { /* frames carry from, to, value, input, output, gas, gasUsed directly */
            r_addr(&r, a, "from");
            r_addr(&r, a, "to");
            r_dec(&r, a, "value");
            r_str(&r, a, "input");
            r_str(&r, a, "output");
        } else {
            /* from */
            if (call || create)
                r_addr(&r, a, "from");
            else if (suicide)
                r_addr(&r, a, "address");
            else
                r_s(&r, "");
            /* to */
            if (call)
                r_addr(&r, a, "to");
            else if (create)
                r_str(&r, res, "address");
            else if (suicide)
                r_addr(&r, a, "refundAddress");
            else if (reward)
                r_addr(&r, a, "author");
            else
                r_s(&r, "");
            /* value */
            if (call || create || reward)
                r_dec(&r, a, "value");
            else if (suicide)
                r_dec(&r, a, "balance");
            else
                r_s(&r, "");
            if (call)
                r_str(&r, a, "input"), r_str(&r, res, "output");
            else if (create)
                r_str(&r, a, "init"), r_str(&r, res, "code");
            else
                r_s(&r, ""), r_s(&r, "");
        }
        r_s(&r, ty);
        r_s(&r, x->call_type);
        if (reward)
            r_str(&r, a, "rewardType");
        else
            r_s(&r, "");
        if (geth || call || create)
            r_dec(&r, a, "gas"), r_dec(&r, geth ? a : res, "gasUsed");
        else
            r_s(&r, ""), r_s(&r, "");
        if (geth) {
            r_u64(&r, json_array_size(json_object_get(a, "calls")));
        } else {
            uint64_t st = 0;
            get_u64q(&r, x->src, "subtraces", &st);
            r_u64(&r, st);
        }
        r_s(&r, x->ta);
        r_str(&r, geth ? a : x->src, "error");
        if (x->status < 0)
            r_s(&r, "");
        else
            r_u64(&r, (uint64_t)x->status);
        if (x->status < 0) {
            r_s(&r, "");
        } else {
            util_buf id = {0};
            int bad;
            if (x->tx_hash) {
                bad = util_buf_printf(&id, "%s_%s_", ty, x->tx_hash);
                for (const char *p = x->ta; *p && !bad; p++)
                    bad = util_buf_append(&id, *p == ',' ? "_" : p, 1);
            } else {
                bad = util_buf_printf(&id, "%s_%" PRIu64 "_%" PRIu64, ty, number, bidx[i]);
            }
            if (bad) r.rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            r_raw(&r, (const char *)id.data, id.len);
            util_buf_free(&id);
        }
        rc = r_end(&r);
    }
    free(bidx);
    return rc;
}

static char *join_ta(const json_t *arr, size_t *depth)
{
    util_buf b = {0};
    size_t i;
    const json_t *v;
    *depth = json_array_size(arr);
    json_array_foreach(arr, i, v)
    {
        if (util_buf_printf(&b, i ? ",%lld" : "%lld", (long long)json_integer_value(v))) {
            util_buf_free(&b);
            return NULL;
        }
    }
    if (util_buf_append(&b, "", 1)) return NULL;
    return (char *)b.data;
}

int evm_rpc_csv_parity_traces(evm_rpc_csv *o, const json_t *traces, util_err *err)
{
    if (!json_is_array(traces))
        return util_errf(err, UTIL_EFORMAT, "trace_block: the answer is not an array");
    tvec t = {0};
    uint64_t number = 0;
    int rc = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(traces, i, x)
    {
        trow *r = tvec_push(&t, err);
        if (!r) {
            rc = UTIL_ENOMEM;
            break;
        }
        row chk = {NULL, 0, 0, "trace_block", err};
        uint64_t bn = 0;
        if (get_u64q(&chk, x, "blockNumber", &bn)) {
            rc = chk.rc;
            break;
        }
        if (i && bn != number) {
            rc =
                util_errf(err, UTIL_EFORMAT,
                          "trace_block: traces of blocks %" PRIu64 " and %" PRIu64 " in one answer",
                          number, bn);
            break;
        }
        number = bn;
        r->src = x;
        r->action = json_object_get(x, "action");
        r->result = json_object_get(x, "result");
        const char *ty = json_string_value(json_object_get(x, "type"));
        const char *ct = json_string_value(json_object_get(r->action, "callType"));
        if (!ty || strlen(ty) >= sizeof r->type) {
            rc =
                util_errf(err, UTIL_EFORMAT, "trace_block %" PRIu64 ": trace %zu: bad type", bn, i);
            break;
        }
        strcpy(r->type, ty);
        if (!strcmp(ty, "call") && ct) snprintf(r->call_type, sizeof r->call_type, "%s", ct);
        r->tx_hash = json_string_value(json_object_get(x, "transactionHash"));
        if (get_qty(&chk, x, "transactionPosition", &(evm_u256){{0}}) > 0) {
            get_u64q(&chk, x, "transactionPosition", &r->tx_index);
            r->has_tx_index = 1;
        }
        if (!(r->ta = join_ta(json_object_get(x, "traceAddress"), &r->depth))) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        const char *e = json_string_value(json_object_get(x, "error"));
        r->failed = e && *e;
    }
    if (!rc && t.n) rc = write_traces(o, &t, number, 0, err);
    tvec_free(&t);
    return rc;
}

/* Depth first, a frame before its calls, as ethereum-etl's EthGethTraceMapper. */
static int geth_frame(tvec *t, const json_t *f, uint64_t txi, const char *txh, const char *ta,
                      size_t depth, util_err *err)
{
    trow *r = tvec_push(t, err);
    if (!r) return UTIL_ENOMEM;
    r->src = r->action = f;
    r->tx_hash = txh;
    r->tx_index = txi, r->has_tx_index = 1;
    r->depth = depth;
    r->status = txh ? 0 : -1;
    if (!(r->ta = strdup(ta))) return util_errf(err, UTIL_ENOMEM, "out of memory");
    const char *ty = json_string_value(json_object_get(f, "type"));
    if (!ty || strlen(ty) >= sizeof r->type)
        return util_errf(err, UTIL_EFORMAT, "callTracer frame of tx %" PRIu64 ": bad type", txi);
    char low[16];
    size_t n = strlen(ty);
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(ty[i] >= 'A' && ty[i] <= 'Z' ? ty[i] - 'A' + 'a' : ty[i]);
    if (!strcmp(low, "selfdestruct")) {
        strcpy(r->type, "suicide");
    } else if (!strcmp(low, "call") || !strcmp(low, "callcode") || !strcmp(low, "delegatecall") ||
               !strcmp(low, "staticcall")) {
        strcpy(r->type, "call");
        strcpy(r->call_type, low);
    } else {
        strcpy(r->type, low);
    }
    const char *e = json_string_value(json_object_get(f, "error"));
    r->failed = e && *e;
    const json_t *calls = json_object_get(f, "calls"), *c;
    size_t i;
    json_array_foreach(calls, i, c)
    {
        char *sub = malloc(strlen(ta) + 24);
        if (!sub) return util_errf(err, UTIL_ENOMEM, "out of memory");
        sprintf(sub, *ta ? "%s,%zu" : "%s%zu", ta, i);
        int rc = geth_frame(t, c, txi, txh, sub, depth + 1, err);
        free(sub);
        if (rc) return rc;
    }
    return 0;
}

int evm_rpc_csv_geth_traces(evm_rpc_csv *o, uint64_t number, const json_t *traces,
                            const json_t *block, util_err *err)
{
    if (!json_is_array(traces))
        return util_errf(err, UTIL_EFORMAT,
                         "debug_traceBlockByNumber %" PRIu64 ": the answer is not an array",
                         number);
    const json_t *btx = json_object_get(block, "transactions");
    tvec t = {0};
    int rc = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(traces, i, x)
    {
        /* geth answers [{txHash, result}], older geth [{frame}] */
        const json_t *f = json_object_get(x, "result") ? json_object_get(x, "result") : x;
        const char *h = json_string_value(json_object_get(x, "txHash"));
        if (!h && btx) h = json_string_value(json_object_get(json_array_get(btx, i), "hash"));
        if (json_object_get(x, "error") && !json_object_get(x, "result")) {
            rc = util_errf(err, UTIL_EIO, "debug_traceBlockByNumber %" PRIu64 ": tx %zu: %s",
                           number, i, json_string_value(json_object_get(x, "error")));
            break;
        }
        if ((rc = geth_frame(&t, f, i, h, "", 0, err))) break;
    }
    if (!rc && t.n) rc = write_traces(o, &t, number, 1, err);
    tvec_free(&t);
    return rc;
}
