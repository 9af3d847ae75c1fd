/* Reading ethereum-etl CSV exports into an evm_batch, and assembling evm_blocks from it. */
#include <jansson.h>
#include <stdlib.h>
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

int evm_batch_new(evm_batch **out, util_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : util_errf(err, UTIL_ENOMEM, "out of memory");
}

void evm_batch_free(evm_batch *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->files.n; i++)
        free(b->files.v[i]);
    free(b->files.v), free(b->blocks.v), free(b->wds.v), free(b->txs.v), free(b->receipts.v);
    free(b->tt.v), free(b->logs.v), free(b->traces.v), free(b->tokens.v);
    util_buf_free(&b->pool);
    free(b->out), free(b->out_txs), free(b->out_xfers);
    free(b->events.v), free(b->out_events);
    free(b);
}

void evm_batch_tokens(const evm_batch *b, const evm_token_meta **tokens, size_t *n)
{
    *tokens = b->tokens.v, *n = b->tokens.n;
}

const char *evm_file_kind_name(evm_file_kind k)
{
    static const char *names[] = {"unknown",         "blocks", "transactions", "receipts", "logs",
                                  "token_transfers", "traces", "tokens",       "contracts"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "unknown";
}

/* ---- one row's fields ---- */

typedef struct row_ctx {
    evm_csv *c;
    const char *const *cols; /* column names of this kind, in the order of idx */
    int idx[24];             /* position of each column in the file, -1 if absent */
} row_ctx;

static int field_err(const row_ctx *r, int col, util_err *err)
{
    return util_err_prefix(err, "%s:%llu: column %s", r->c->name, (unsigned long long)r->c->line,
                           r->cols[col]);
}

static void field(const row_ctx *r, int col, const char **s, size_t *n)
{
    int i = r->idx[col];
    if (i < 0) {
        *s = "", *n = 0;
    } else {
        *s = r->c->f[i], *n = r->c->flen[i];
    }
}

static int get_u64(const row_ctx *r, int col, uint64_t *out, util_err *err)
{
    const char *s;
    size_t n;
    field(r, col, &s, &n);
    evm_u256 v;
    if (evm_u256_parse(&v, s, n, err)) return field_err(r, col, err);
    if (v.w[1] | v.w[2] | v.w[3]) {
        util_errf(err, UTIL_EFORMAT, "'%.*s' exceeds 2^64-1", (int)(n < 80 ? n : 80), s);
        return field_err(r, col, err);
    }
    *out = v.w[0];
    return 0;
}

static int get_u256(const row_ctx *r, int col, evm_u256 *out, util_err *err)
{
    const char *s;
    size_t n;
    field(r, col, &s, &n);
    if (evm_u256_parse(out, s, n, err)) return field_err(r, col, err);
    return 0;
}

/* An optional field: 0 absent/empty (*has = 0), or parsed. */
static int get_addr(const row_ctx *r, int col, uint8_t out[20], int *has, util_err *err)
{
    const char *s;
    size_t n;
    field(r, col, &s, &n);
    if (has) *has = n > 0;
    if (!n && has) return 0;
    if (!n) {
        util_errf(err, UTIL_EFORMAT, "empty where an address is required");
        return field_err(r, col, err);
    }
    if (evm_addr_parse(out, s, n, err)) return field_err(r, col, err);
    return 0;
}

static int get_hash(const row_ctx *r, int col, uint8_t out[32], int *has, util_err *err)
{
    const char *s;
    size_t n;
    field(r, col, &s, &n);
    if (has) *has = n > 0;
    if (!n && has) return 0;
    if (evm_hash_parse(out, s, n, err)) return field_err(r, col, err);
    return 0;
}

static int get_str(const row_ctx *r, int col, char *out, size_t cap, util_err *err)
{
    const char *s;
    size_t n;
    field(r, col, &s, &n);
    if (n >= cap) {
        util_errf(err, UTIL_EFORMAT, "longer than %zu bytes", cap - 1);
        return field_err(r, col, err);
    }
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

/* Text that may be cut: a token's symbol and name come from its contract and may be any
 * length; keep what fits, without splitting a UTF-8 sequence. */
static void get_str_cut(const row_ctx *r, int col, char *out, size_t cap)
{
    const char *s;
    size_t n;
    field(r, col, &s, &n);
    if (n >= cap) {
        n = cap - 1;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = 0;
}

/* ---- the kinds: columns that must be present ([0..n_required)) and optional ones ---- */

enum { B_NUMBER, B_HASH, B_PARENT, B_TIMESTAMP, B_TXCOUNT, B_WITHDRAWALS };
static const char *const blocks_cols[] = {
    "number", "hash", "parent_hash", "timestamp", "transaction_count", "withdrawals", NULL};
enum { T_HASH, T_BLOCKNUM, T_INDEX, T_FROM, T_TO, T_VALUE, T_GASPRICE, T_BLOCKHASH };
static const char *const tx_cols[] = {"hash",         "block_number", "transaction_index",
                                      "from_address", "to_address",   "value",
                                      "gas_price",    "block_hash",   NULL};
enum { R_TXHASH, R_BLOCKNUM, R_GASUSED, R_STATUS, R_CUMGAS, R_PRICE, R_CONTRACT };
static const char *const receipt_cols[] = {
    "transaction_hash",    "block_number",        "gas_used",         "status",
    "cumulative_gas_used", "effective_gas_price", "contract_address", NULL};
enum { L_LOGINDEX, L_TXHASH, L_BLOCKNUM, L_ADDRESS, L_DATA, L_TOPICS };
static const char *const log_cols[] = {
    "log_index", "transaction_hash", "block_number", "address", "data", "topics", NULL};
enum { X_TOKEN, X_FROM, X_TO, X_VALUE, X_TXHASH, X_LOGINDEX, X_BLOCKNUM };
static const char *const tt_cols[] = {"token_address",    "from_address", "to_address",   "value",
                                      "transaction_hash", "log_index",    "block_number", NULL};
enum { TR_BLOCKNUM, TR_TXHASH, TR_FROM, TR_TO, TR_VALUE, TR_TYPE, TR_CALLTYPE, TR_ADDR, TR_STATUS };
static const char *const trace_cols[] = {
    "block_number", "transaction_hash", "from_address",  "to_address", "value",
    "trace_type",   "call_type",        "trace_address", "status",     NULL};
enum { K_ADDRESS, K_SYMBOL, K_DECIMALS, K_NAME };
static const char *const token_cols[] = {"address", "symbol", "decimals", "name", NULL};
static const char *const contract_cols[] = {NULL};

static const struct kind_def {
    evm_file_kind kind;
    const char *marker; /* a column only this kind has */
    const char *const *cols;
    int n_required;
} kinds[] = {
    {EVM_FILE_TRACES, "trace_type", trace_cols, 9},
    {EVM_FILE_TOKEN_TRANSFERS, "token_address", tt_cols, 7},
    {EVM_FILE_LOGS, "topics", log_cols, 6},
    {EVM_FILE_RECEIPTS, "cumulative_gas_used", receipt_cols, 5},
    {EVM_FILE_TRANSACTIONS, "gas_price", tx_cols, 7},
    {EVM_FILE_BLOCKS, "parent_hash", blocks_cols, 5},
    {EVM_FILE_TOKENS, "decimals", token_cols, 3},
    {EVM_FILE_CONTRACTS, "bytecode", contract_cols, 0},
};

static int has_col(const evm_csv *c, const char *name)
{
    for (size_t i = 0; i < c->nf; i++)
        if (c->flen[i] == strlen(name) && !memcmp(c->f[i], name, c->flen[i])) return (int)i;
    return -1;
}

/* ---- per-kind row readers ---- */

static int read_withdrawals(evm_batch *b, rd_block *blk, const row_ctx *r, util_err *err)
{
    const char *s;
    size_t n;
    field(r, B_WITHDRAWALS, &s, &n);
    blk->first_wd = b->wds.n;
    if (!n) return 0;
    /* ethereum-etl writes the objects comma-separated without brackets */
    util_buf t = {0};
    if ((s[0] != '[' && util_buf_append(&t, "[", 1)) || util_buf_append(&t, s, n) ||
        (s[0] != '[' && util_buf_append(&t, "]", 1))) {
        util_buf_free(&t);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    json_error_t je;
    json_t *arr = json_loadb((const char *)t.data, t.len, JSON_DISABLE_EOF_CHECK, &je);
    util_buf_free(&t);
    if (!arr || !json_is_array(arr)) {
        json_decref(arr);
        util_errf(err, UTIL_EFORMAT, "not a list of withdrawals: %s", arr ? "" : je.text);
        return field_err(r, B_WITHDRAWALS, err);
    }
    size_t i;
    json_t *w;
    json_array_foreach(arr, i, w)
    {
        json_t *a = json_object_get(w, "address"), *amt = json_object_get(w, "amount");
        rd_withdrawal *wd = VEC_PUSH(b->wds, err);
        if (!wd) {
            json_decref(arr);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        const char *as = json_string_value(a);
        if (!as || evm_addr_parse(wd->addr, as, strlen(as), err) || !json_is_integer(amt) ||
            json_integer_value(amt) < 0) {
            json_decref(arr);
            util_errf(err, UTIL_EFORMAT, "withdrawal %zu: needs an address and an amount (gwei)",
                      i);
            return field_err(r, B_WITHDRAWALS, err);
        }
        evm_u256 g = {{(uint64_t)json_integer_value(amt), 0, 0, 0}};
        evm_u256_mul64(&wd->amount, &g, 1000000000u); /* gwei to wei; cannot overflow */
    }
    json_decref(arr);
    blk->n_wd = b->wds.n - blk->first_wd;
    return 0;
}

static int read_row(evm_batch *b, evm_file_kind kind, const row_ctx *r, src_ref at, util_err *err)
{
    switch (kind) {
    case EVM_FILE_BLOCKS: {
        rd_block *x = VEC_PUSH(b->blocks, err);
        if (!x) break;
        x->at = at;
        if (get_u64(r, B_NUMBER, &x->number, err) || get_hash(r, B_HASH, x->hash, NULL, err) ||
            get_hash(r, B_PARENT, x->parent, NULL, err) ||
            get_u64(r, B_TIMESTAMP, &x->timestamp, err) ||
            get_u64(r, B_TXCOUNT, &x->tx_count, err) || read_withdrawals(b, x, r, err))
            return err ? err->code : UTIL_EFORMAT;
        return 0;
    }
    case EVM_FILE_TRANSACTIONS: {
        rd_tx *x = VEC_PUSH(b->txs, err);
        if (!x) break;
        x->at = at;
        uint64_t idx;
        if (get_hash(r, T_HASH, x->tx.hash, NULL, err) ||
            get_u64(r, T_BLOCKNUM, &x->block_number, err) || get_u64(r, T_INDEX, &idx, err) ||
            get_addr(r, T_FROM, x->tx.from, NULL, err) ||
            get_addr(r, T_TO, x->tx.to, &x->tx.has_to, err) ||
            get_u256(r, T_VALUE, &x->tx.value, err) ||
            get_u256(r, T_GASPRICE, &x->tx.gas_price, err) ||
            get_hash(r, T_BLOCKHASH, x->block_hash, &x->has_block_hash, err))
            return err ? err->code : UTIL_EFORMAT;
        if (idx > UINT32_MAX) {
            util_errf(err, UTIL_EFORMAT, "index too large");
            return field_err(r, T_INDEX, err);
        }
        x->tx.index = (uint32_t)idx;
        if (!x->tx.has_to) x->tx.flags |= EVM_TX_CREATE;
        return 0;
    }
    case EVM_FILE_RECEIPTS: {
        rd_receipt *x = VEC_PUSH(b->receipts, err);
        if (!x) break;
        x->at = at;
        const char *s;
        size_t n;
        if (get_hash(r, R_TXHASH, x->tx_hash, NULL, err) ||
            get_u64(r, R_BLOCKNUM, &x->block_number, err) ||
            get_u64(r, R_GASUSED, &x->gas_used, err))
            return err ? err->code : UTIL_EFORMAT;
        field(r, R_STATUS, &s, &n);
        if (!n) {
            x->status = -1;
        } else if (n == 1 && (s[0] == '0' || s[0] == '1')) {
            x->status = s[0] - '0';
        } else {
            util_errf(err, UTIL_EFORMAT, "'%.*s' is not 0, 1 or empty", (int)(n < 40 ? n : 40), s);
            return field_err(r, R_STATUS, err);
        }
        field(r, R_PRICE, &s, &n);
        x->has_price = n > 0;
        if (n && get_u256(r, R_PRICE, &x->price, err)) return err ? err->code : UTIL_EFORMAT;
        if (get_addr(r, R_CONTRACT, x->contract, &x->has_contract, err))
            return err ? err->code : UTIL_EFORMAT;
        return 0;
    }
    case EVM_FILE_LOGS: {
        const char *topics, *data;
        size_t tn, dn;
        uint8_t tx_hash[32], token[20], from[20], to[20];
        uint64_t li, bn;
        evm_u256 amount;
        if (get_u64(r, L_LOGINDEX, &li, err) || get_hash(r, L_TXHASH, tx_hash, NULL, err) ||
            get_u64(r, L_BLOCKNUM, &bn, err) || get_addr(r, L_ADDRESS, token, NULL, err))
            return err ? err->code : UTIL_EFORMAT;
        field(r, L_TOPICS, &topics, &tn);
        field(r, L_DATA, &data, &dn);
        /* data must be hex even when the log is not a Transfer */
        if (dn < 2 || data[0] != '0' || data[1] != 'x' || dn % 2) {
            util_errf(err, UTIL_EFORMAT, "not 0x and an even number of hex digits");
            return field_err(r, L_DATA, err);
        }
        for (size_t i = 2; i < dn; i++)
            if (!strchr("0123456789abcdefABCDEF", data[i])) {
                util_errf(err, UTIL_EFORMAT, "non-hex character at position %zu", i);
                return field_err(r, L_DATA, err);
            }
        if (li > UINT32_MAX) {
            util_errf(err, UTIL_EFORMAT, "too large");
            return field_err(r, L_LOGINDEX, err);
        }
        {
            evm_event ev;
            char text[EVM_EVENT_TEXT_MAX + 1];
            int k = evm_decode_event_log(topics, tn, data, dn, &ev, text, sizeof text, err);
            if (k < 0) return field_err(r, L_DATA, err);
            if (k == 1) {
                rd_event *e = VEC_PUSH(b->events, err);
                if (!e) break;
                e->ev = ev;
                e->ev.text = NULL;
                e->ev.log_index = (uint32_t)li;
                memcpy(e->ev.contract, token, 20);
                memcpy(e->tx_hash, tx_hash, 32);
                e->block_number = bn, e->at = at;
                e->text_off = b->pool.len;
                if (util_buf_append(&b->pool, text, ev.text_len + 1)) {
                    b->events.n--;
                    break;
                }
                return 0;
            }
        }
        if (!evm_decode_transfer_log(topics, tn, data, dn, from, to, &amount)) return 0;
        rd_token_xfer *x = VEC_PUSH(b->logs, err);
        if (!x) break;
        x->at = at;
        memcpy(x->tx_hash, tx_hash, 32), memcpy(x->token, token, 20);
        memcpy(x->from, from, 20), memcpy(x->to, to, 20);
        x->amount = amount, x->block_number = bn, x->log_index = (uint32_t)li;
        return 0;
    }
    case EVM_FILE_TOKEN_TRANSFERS: {
        rd_token_xfer *x = VEC_PUSH(b->tt, err);
        if (!x) break;
        x->at = at;
        uint64_t li;
        if (get_addr(r, X_TOKEN, x->token, NULL, err) || get_addr(r, X_FROM, x->from, NULL, err) ||
            get_addr(r, X_TO, x->to, NULL, err) || get_u256(r, X_VALUE, &x->amount, err) ||
            get_hash(r, X_TXHASH, x->tx_hash, NULL, err) || get_u64(r, X_LOGINDEX, &li, err) ||
            get_u64(r, X_BLOCKNUM, &x->block_number, err))
            return err ? err->code : UTIL_EFORMAT;
        if (li > UINT32_MAX) {
            util_errf(err, UTIL_EFORMAT, "too large");
            return field_err(r, X_LOGINDEX, err);
        }
        x->log_index = (uint32_t)li;
        return 0;
    }
    case EVM_FILE_TRACES: {
        rd_trace *x = VEC_PUSH(b->traces, err);
        if (!x) break;
        x->at = at;
        uint64_t st;
        if (get_u64(r, TR_BLOCKNUM, &x->block_number, err) ||
            get_hash(r, TR_TXHASH, x->tx_hash, &x->has_tx, err) ||
            get_addr(r, TR_FROM, x->from, &x->has_from, err) ||
            get_addr(r, TR_TO, x->to, &x->has_to, err) ||
            get_str(r, TR_TYPE, x->trace_type, sizeof x->trace_type, err) ||
            get_str(r, TR_CALLTYPE, x->call_type, sizeof x->call_type, err) ||
            get_u64(r, TR_STATUS, &st, err))
            return err ? err->code : UTIL_EFORMAT;
        const char *s;
        size_t n;
        field(r, TR_VALUE, &s, &n);
        if (n && get_u256(r, TR_VALUE, &x->value, err)) return err ? err->code : UTIL_EFORMAT;
        if (st > 1) {
            util_errf(err, UTIL_EFORMAT, "not 0 or 1");
            return field_err(r, TR_STATUS, err);
        }
        /* a call stack may be 1024 deep: the trace address has no fixed bound */
        field(r, TR_ADDR, &s, &n);
        for (size_t i = 0; i < n; i++)
            if (!(s[i] >= '0' && s[i] <= '9') && s[i] != ',') {
                util_errf(err, UTIL_EFORMAT, "not a comma-separated list of numbers");
                return field_err(r, TR_ADDR, err);
            }
        x->ta_off = b->pool.len, x->ta_len = n;
        if (util_buf_append(&b->pool, s, n) || util_buf_append(&b->pool, "", 1))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        x->status = (int)st;
        return 0;
    }
    case EVM_FILE_TOKENS: {
        evm_token_meta *x = VEC_PUSH(b->tokens, err);
        if (!x) break;
        const char *s;
        size_t n;
        if (get_addr(r, K_ADDRESS, x->addr, NULL, err)) return err ? err->code : UTIL_EFORMAT;
        get_str_cut(r, K_SYMBOL, x->symbol, sizeof x->symbol);
        get_str_cut(r, K_NAME, x->name, sizeof x->name);
        field(r, K_DECIMALS, &s, &n);
        x->decimals = -1;
        if (n) {
            uint64_t d;
            if (get_u64(r, K_DECIMALS, &d, err)) return err ? err->code : UTIL_EFORMAT;
            if (d > 255) {
                util_errf(err, UTIL_EFORMAT, "%llu decimals is more than 255",
                          (unsigned long long)d);
                return field_err(r, K_DECIMALS, err);
            }
            x->decimals = (int)d;
        }
        /* symbols and names come from contracts: keep them printable, one line */
        for (char *p = x->symbol; *p; p++)
            if ((unsigned char)*p < 32 || *p == 127) *p = '?';
        for (char *p = x->name; *p; p++)
            if ((unsigned char)*p < 32 || *p == 127) *p = '?';
        return 0;
    }
    default:
        break;
    }
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

int evm_batch_read_mem(evm_batch *b, const char *name, const char *data, size_t len,
                       evm_file_kind *kind_out, util_err *err)
{
    if (kind_out) *kind_out = EVM_FILE_UNKNOWN;
    char **fname = VEC_PUSH(b->files, err);
    if (!fname || !(*fname = strdup(name))) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint32_t file_no = (uint32_t)(b->files.n - 1);
    evm_csv c;
    evm_csv_init(&c, *fname, data, len);
    int rc = evm_csv_next(&c, err);
    if (rc <= 0) {
        evm_csv_free(&c);
        if (rc == 0) return util_errf(err, UTIL_EFORMAT, "%s: empty file (no header row)", name);
        return rc;
    }
    const struct kind_def *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds && !k; i++)
        if (has_col(&c, kinds[i].marker) >= 0) k = &kinds[i];
    if (!k) {
        evm_csv_free(&c);
        return util_errf(err, UTIL_EFORMAT,
                         "%s:1: header is not an ethereum-etl export (blocks, transactions, "
                         "receipts, logs, token_transfers, traces or tokens)",
                         name);
    }
    row_ctx r = {.c = &c, .cols = k->cols};
    for (int i = 0; k->cols[i]; i++) {
        r.idx[i] = has_col(&c, k->cols[i]);
        if (r.idx[i] < 0 && i < k->n_required) {
            evm_csv_free(&c);
            return util_errf(err, UTIL_EFORMAT, "%s:1: column %s missing (a %s file needs it)",
                             name, k->cols[i], evm_file_kind_name(k->kind));
        }
    }
    if (k->kind == EVM_FILE_CONTRACTS) { /* nothing in it moves value */
        evm_csv_free(&c);
        if (kind_out) *kind_out = k->kind;
        return 0;
    }
    size_t header_nf = c.nf;
    /* the header's names, to name the column where a short or long row goes wrong */
    char hdr[EVM_CSV_MAX_FIELDS][48];
    for (size_t i = 0; i < c.nf; i++)
        snprintf(hdr[i], sizeof hdr[i], "%.*s", (int)(c.flen[i] < 47 ? c.flen[i] : 47), c.f[i]);
    b->have_kind[k->kind] = 1;
    while ((rc = evm_csv_next(&c, err)) == 1) {
        if (c.nf < header_nf) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column %s: missing (row has %zu fields, the header %zu: "
                           "truncated or damaged row)",
                           name, (unsigned long long)c.line, hdr[c.nf], c.nf, header_nf);
            break;
        }
        if (c.nf > header_nf) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column %s: row has %zu fields, the header %zu (a comma "
                           "inside an unquoted field?)",
                           name, (unsigned long long)c.line, hdr[header_nf - 1], c.nf, header_nf);
            break;
        }
        if ((rc = read_row(b, k->kind, &r, (src_ref){file_no, c.line}, err))) break;
    }
    evm_csv_free(&c);
    if (rc < 0) return rc;
    if (kind_out) *kind_out = k->kind;
    return 0;
}

int evm_batch_read_file(evm_batch *b, const char *path, evm_file_kind *kind, util_err *err)
{
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    rc = evm_batch_read_mem(b, path, (const char *)data, len, kind, err);
    free(data);
    return rc;
}

/* ---- ERC-20 Transfer logs ---- */

static const char transfer_topic[] =
    "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

int evm_decode_transfer_log(const char *topics, size_t tn, const char *data, size_t dn,
                            uint8_t from[20], uint8_t to[20], evm_u256 *amount)
{
    /* topics: "t0,t1,t2" each 66 chars */
    if (tn != 3 * 66 + 2 || topics[66] != ',' || topics[133] != ',') return 0;
    if (strncasecmp(topics, transfer_topic, 66)) return 0;
    if (dn != 66) return 0;
    uint8_t w[32];
    const char *t[2] = {topics + 67, topics + 134};
    uint8_t *dst[2] = {from, to};
    for (int i = 0; i < 2; i++) {
        if (evm_hash_parse(w, t[i], 66, NULL)) return 0;
        for (int j = 0; j < 12; j++)
            if (w[j]) return 0; /* not an address-shaped topic */
        memcpy(dst[i], w + 12, 20);
    }
    if (evm_u256_parse(amount, data, dn, NULL)) return 0;
    return 1;
}

/* ---- protocol events ---- */

static const struct {
    const char *topic0; /* keccak of the signature (checked against crypto_keccak256 in tests) */
    int n_topics;
} event_defs[EVM_EVENT_KINDS] = {
    [EVM_EV_MIXER_DEPOSIT] = {"0xa945e51eec50ab98c161376f0db4cf2aeba3ec92755fe2fcd388bdbbb80ff196",
                              2},
    [EVM_EV_MIXER_WITHDRAWAL] =
        {"0xe9e508bad6d4c3227e881ca19068f099da81b5164dd6d62b2eaf1e8bc6c34931", 2},
    [EVM_EV_BRIDGE_DEPOSIT] = {"0xba03e68b2eb02d6bda462d0a13d859b2f283d7a27009b9e6b5e252022d53db79",
                               1},
    [EVM_EV_ROUTER_DEPOSIT] = {"0xef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395",
                               3},
    [EVM_EV_ROUTER_TRANSFER_OUT] =
        {"0xa9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7", 3},
};

const char *evm_event_kind_name(int kind)
{
    static const char *names[EVM_EVENT_KINDS] = {"unknown",          "mixer_deposit",
                                                 "mixer_withdrawal", "bridge_deposit",
                                                 "router_deposit",   "router_transfer_out"};
    return kind > 0 && kind < EVM_EVENT_KINDS ? names[kind] : "unknown";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* An address in a 32-byte word: the 12 high bytes must be zero. */
static int word_addr(const uint8_t *w, uint8_t out[20])
{
    for (int i = 0; i < 12; i++)
        if (w[i]) return -1;
    memcpy(out, w + 12, 20);
    return 0;
}

static void word_u256(const uint8_t *w, evm_u256 *v)
{
    for (int i = 0; i < 4; i++) {
        uint64_t x = 0;
        for (int j = 0; j < 8; j++)
            x = x << 8 | w[8 * (3 - i) + j];
        v->w[i] = x;
    }
}

/* The ABI string whose offset is in head word `at`. */
static int abi_string(const uint8_t *d, size_t n, size_t at, char *text, size_t cap, uint32_t *len,
                      util_err *err)
{
    evm_u256 off, l;
    word_u256(d + 32 * at, &off);
    if (off.w[1] | off.w[2] | off.w[3] || off.w[0] > n || n - off.w[0] < 32)
        return util_errf(err, UTIL_EFORMAT, "string offset %llu outside the %zu data bytes",
                         (unsigned long long)off.w[0], n);
    word_u256(d + off.w[0], &l);
    if (l.w[1] | l.w[2] | l.w[3] || l.w[0] > n - off.w[0] - 32)
        return util_errf(err, UTIL_EFORMAT, "string length runs past the %zu data bytes", n);
    if (l.w[0] > EVM_EVENT_TEXT_MAX || l.w[0] >= cap)
        return util_errf(err, UTIL_EFORMAT, "string of %llu bytes (at most %d kept)",
                         (unsigned long long)l.w[0], EVM_EVENT_TEXT_MAX);
    memcpy(text, d + off.w[0] + 32, l.w[0]);
    text[l.w[0]] = 0;
    *len = (uint32_t)l.w[0];
    return 0;
}

int evm_decode_event_log(const char *topics, size_t tn, const char *data, size_t dn, evm_event *ev,
                         char *text, size_t cap, util_err *err)
{
    if (tn < 66 || (tn + 1) % 67) return 0;
    int nt = (int)((tn + 1) / 67), kind = 0;
    for (int k = 1; k < EVM_EVENT_KINDS; k++)
        if (!strncasecmp(topics, event_defs[k].topic0, 66)) kind = k;
    if (!kind || nt != event_defs[kind].n_topics) return 0;
    uint8_t t[3][32];
    for (int i = 0; i < nt; i++)
        if ((i && topics[67 * i - 1] != ',') || evm_hash_parse(t[i], topics + 67 * i, 66, NULL))
            return util_errf(err, UTIL_EFORMAT, "topic %d is not 0x and 64 hex digits", i);
    if (dn < 2 || data[0] != '0' || (data[1] != 'x' && data[1] != 'X') || dn % 2)
        return util_errf(err, UTIL_EFORMAT, "data is not 0x and an even number of hex digits");
    size_t n = (dn - 2) / 2;
    static const size_t head_words[EVM_EVENT_KINDS] = {0, 2, 3, 5, 2, 3};
    if (n < 32 * head_words[kind])
        return util_errf(err, UTIL_EFORMAT, "%s: %zu data bytes, its arguments need %zu",
                         evm_event_kind_name(kind), n, 32 * head_words[kind]);
    uint8_t *d = malloc(n ? n : 1);
    if (!d) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(data[2 + 2 * i]), lo = hexval(data[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            free(d);
            return util_errf(err, UTIL_EFORMAT, "data: non-hex character at position %zu",
                             3 + 2 * i);
        }
        d[i] = (uint8_t)(hi << 4 | lo);
    }
    memset(ev->addr, 0, sizeof ev->addr);
    memset(ev->word, 0, sizeof ev->word);
    memset(ev->u, 0, sizeof ev->u);
    ev->kind = (uint8_t)kind;
    ev->text = text, ev->text_len = 0;
    if (cap) text[0] = 0;
    int rc = 0;
    const char *bad = NULL;
    switch (kind) {
    case EVM_EV_MIXER_DEPOSIT:
        memcpy(ev->word, t[1], 32);
        word_u256(d, &ev->u[0]);
        word_u256(d + 32, &ev->u[1]);
        if (ev->u[0].w[0] > UINT32_MAX || ev->u[0].w[1] | ev->u[0].w[2] | ev->u[0].w[3])
            bad = "leafIndex exceeds uint32";
        break;
    case EVM_EV_MIXER_WITHDRAWAL:
        if (word_addr(d, ev->addr[0]) || word_addr(t[1], ev->addr[1]))
            bad = "an address word has its 12 high bytes set";
        memcpy(ev->word, d + 32, 32);
        word_u256(d + 64, &ev->u[0]);
        break;
    case EVM_EV_BRIDGE_DEPOSIT:
        word_u256(d, &ev->u[0]);
        word_u256(d + 64, &ev->u[1]);
        word_u256(d + 128, &ev->u[2]);
        if (word_addr(d + 96, ev->addr[0])) bad = "token: an address word has high bytes set";
        if (!bad) rc = abi_string(d, n, 1, text, cap, &ev->text_len, err);
        break;
    case EVM_EV_ROUTER_DEPOSIT:
        if (word_addr(t[1], ev->addr[0]) || word_addr(t[2], ev->addr[1]))
            bad = "an address topic has its 12 high bytes set";
        word_u256(d, &ev->u[0]);
        if (!bad) rc = abi_string(d, n, 1, text, cap, &ev->text_len, err);
        break;
    case EVM_EV_ROUTER_TRANSFER_OUT:
        if (word_addr(t[1], ev->addr[0]) || word_addr(t[2], ev->addr[1]) ||
            word_addr(d, ev->addr[2]))
            bad = "an address word has its 12 high bytes set";
        word_u256(d + 32, &ev->u[0]);
        if (!bad) rc = abi_string(d, n, 2, text, cap, &ev->text_len, err);
        break;
    }
    free(d);
    if (bad) return util_errf(err, UTIL_EFORMAT, "%s: %s", evm_event_kind_name(kind), bad);
    if (rc) return util_err_prefix(err, "%s", evm_event_kind_name(kind));
    return 1;
}

/* ---- assembly ---- */

typedef struct hash_ix {
    uint8_t hash[32];
    size_t i;
} hash_ix;

static int cmp_hash_ix(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static int cmp_block(const void *a, const void *b)
{
    const rd_block *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

static const char *fname(const evm_batch *b, src_ref at)
{
    return b->files.v[at.file];
}

/* A transfer waiting for its place: slot = tx slot in the batch (or, for block-level ones, the
 * slot after the block's last tx), then sub (1 traces in file order, 2+log index for ERC-20). */
typedef struct item {
    size_t slot;
    uint64_t sub;
    size_t i;
    int src; /* 0 internal trace, 1 block-level trace, 2 token transfer */
    int block_level;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
    /* the previous block's block-level transfers share the slot number and come first */
    if (x->block_level != y->block_level) return x->block_level > y->block_level ? -1 : 1;
    if (x->sub != y->sub) return x->sub < y->sub ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

typedef struct ev_ord {
    size_t slot;
    uint32_t log_index;
    size_t i;
} ev_ord;

static int cmp_ev_ord(const void *a, const void *b)
{
    const ev_ord *x = a, *y = b;
    if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
    if (x->log_index != y->log_index) return x->log_index < y->log_index ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int find_tx(const hash_ix *ix, size_t n, const uint8_t h[32], size_t *out)
{
    const hash_ix *p = bsearch(h, ix, n, sizeof *ix, cmp_hash_ix);
    if (!p) return -1;
    *out = p->i;
    return 0;
}

int evm_batch_assemble(evm_batch *b, const evm_block **blocks, size_t *n, util_err *err)
{
    *blocks = NULL, *n = 0;
    size_t nb = b->blocks.n;
    if (!nb) {
        const char *what = b->txs.n        ? "transactions"
                           : b->receipts.n ? "receipts"
                           : b->tt.n       ? "token transfers"
                           : b->logs.n     ? "logs"
                           : b->events.n   ? "logs"
                           : b->traces.n   ? "traces"
                                           : NULL;
        if (what)
            return util_errf(err, UTIL_EFORMAT,
                             "%s given without their blocks: add the blocks.csv of the range",
                             what);
        return 0;
    }
    rd_block *bl = b->blocks.v;
    qsort(bl, nb, sizeof *bl, cmp_block);
    for (size_t i = 1; i < nb; i++) {
        if (bl[i].number == bl[i - 1].number)
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: block %llu given twice (also %s:%llu)",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i].number, fname(b, bl[i - 1].at),
                             (unsigned long long)bl[i - 1].at.line);
        if (bl[i].number != bl[i - 1].number + 1)
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: blocks %llu to %llu are missing",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i - 1].number + 1,
                             (unsigned long long)bl[i].number - 1);
        if (memcmp(bl[i].parent, bl[i - 1].hash, 32))
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column parent_hash: block %llu does not follow block %llu "
                             "given (mixed branches?)",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i].number,
                             (unsigned long long)bl[i - 1].number);
    }
    uint64_t first = bl[0].number;
/* A row's block must be one of the batch's (then the cleanup below runs). */
#define BLOCK_OF(num, at, col)                                                                     \
    if ((num) < first || (num)-first >= nb) {                                                      \
        rc = util_errf(                                                                            \
            err, UTIL_EFORMAT, "%s:%llu: column %s: block %llu is not among the blocks given",     \
            fname(b, at), (unsigned long long)(at).line, col, (unsigned long long)(num));          \
        goto out_items;                                                                            \
    }

    /* txs per block, in index order */
    size_t ntx = b->txs.n;
    size_t *per = calloc(nb + 1, sizeof *per); /* counts, then start offsets */
    hash_ix *ix = calloc(ntx ? ntx : 1, sizeof *ix);
    size_t *order = calloc(ntx ? ntx : 1, sizeof *order);
    int rc = 0;
    if (!per || !ix || !order) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ntx; i++) {
        rd_tx *t = &b->txs.v[i];
        if (t->block_number < first || t->block_number - first >= nb) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column block_number: block %llu is not among the blocks "
                           "given",
                           fname(b, t->at), (unsigned long long)t->at.line,
                           (unsigned long long)t->block_number);
            goto out;
        }
        const rd_block *blk = &bl[t->block_number - first];
        if (t->has_block_hash && memcmp(t->block_hash, blk->hash, 32)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column block_hash: not the hash of block %llu given",
                           fname(b, t->at), (unsigned long long)t->at.line,
                           (unsigned long long)t->block_number);
            goto out;
        }
        if (t->tx.index >= blk->tx_count) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_index: %u but block %llu has %llu txs",
                           fname(b, t->at), (unsigned long long)t->at.line, t->tx.index,
                           (unsigned long long)t->block_number, (unsigned long long)blk->tx_count);
            goto out;
        }
        per[t->block_number - first + 1]++;
        memcpy(ix[i].hash, t->tx.hash, 32);
        ix[i].i = i;
    }
    for (size_t i = 0; i < nb; i++) {
        if (per[i + 1] != bl[i].tx_count) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_count: block %llu has %llu txs, the "
                           "transactions given %zu",
                           fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                           (unsigned long long)bl[i].number, (unsigned long long)bl[i].tx_count,
                           per[i + 1]);
            goto out;
        }
        per[i + 1] += per[i];
    }
    /* place each tx at start + index: every index below the count appears once */
    for (size_t i = 0; i < ntx; i++)
        order[i] = SIZE_MAX;
    for (size_t i = 0; i < ntx; i++) {
        rd_tx *t = &b->txs.v[i];
        size_t slot = per[t->block_number - first] + t->tx.index;
        if (order[slot] != SIZE_MAX) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_index: block %llu has two txs with "
                           "index %u",
                           fname(b, t->at), (unsigned long long)t->at.line,
                           (unsigned long long)t->block_number, t->tx.index);
            goto out;
        }
        order[slot] = i;
    }
    qsort(ix, ntx, sizeof *ix, cmp_hash_ix);
    for (size_t i = 1; i < ntx; i++)
        if (!memcmp(ix[i].hash, ix[i - 1].hash, 32)) {
            const rd_tx *t = &b->txs.v[ix[i].i];
            rc = util_errf(err, UTIL_EFORMAT, "%s:%llu: column hash: tx given twice",
                           fname(b, t->at), (unsigned long long)t->at.line);
            goto out;
        }

    /* receipts */
    int have_receipts = b->have_kind[EVM_FILE_RECEIPTS];
    for (size_t i = 0; i < b->receipts.n; i++) {
        rd_receipt *rc_ = &b->receipts.v[i];
        size_t ti;
        if (find_tx(ix, ntx, rc_->tx_hash, &ti)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_hash: no such tx in the transactions "
                           "given",
                           fname(b, rc_->at), (unsigned long long)rc_->at.line);
            goto out;
        }
        rd_tx *t = &b->txs.v[ti];
        if (t->has_receipt) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_hash: a second receipt for the tx",
                           fname(b, rc_->at), (unsigned long long)rc_->at.line);
            goto out;
        }
        if (rc_->block_number != t->block_number) {
            rc = util_errf(
                err, UTIL_EFORMAT, "%s:%llu: column block_number: %llu, the tx is in block %llu",
                fname(b, rc_->at), (unsigned long long)rc_->at.line,
                (unsigned long long)rc_->block_number, (unsigned long long)t->block_number);
            goto out;
        }
        t->has_receipt = 1;
        t->tx.gas_used = rc_->gas_used;
        if (rc_->has_price) t->tx.gas_price = rc_->price;
        if (rc_->status == 0) t->tx.flags |= EVM_TX_FAILED;
        if (rc_->status < 0) t->tx.flags |= EVM_TX_STATUS_UNKNOWN;
        if (!t->tx.has_to && rc_->has_contract) {
            memcpy(t->tx.to, rc_->contract, 20);
            t->tx.has_to = 1;
        }
        if (evm_u256_mul64(&t->tx.fee, &t->tx.gas_price, t->tx.gas_used)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column gas_used: gas used times gas price exceeds 2^256-1",
                           fname(b, rc_->at), (unsigned long long)rc_->at.line);
            goto out;
        }
    }
    for (size_t i = 0; i < ntx; i++) {
        rd_tx *t = &b->txs.v[i];
        if (t->has_receipt) continue;
        if (have_receipts) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column hash: the receipts given have none for this tx",
                           fname(b, t->at), (unsigned long long)t->at.line);
            goto out;
        }
        t->tx.flags |= EVM_TX_NO_RECEIPT | EVM_TX_STATUS_UNKNOWN;
    }

    /* traces: the top-level trace settles a status the receipt left open */
    size_t nitems = 0, cap_items = b->traces.n + (b->tt.n > b->logs.n ? b->tt.n : b->logs.n);
    item *items = calloc(cap_items ? cap_items : 1, sizeof *items);
    if (!items) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < b->traces.n; i++) {
        rd_trace *tr = &b->traces.v[i];
        BLOCK_OF(tr->block_number, tr->at, "block_number")
        size_t bi = tr->block_number - first;
        if (!tr->has_tx) {
            /* block and uncle rewards, genesis allocations: value from nowhere */
            if (tr->status == 1 && !evm_u256_is_zero(&tr->value) && tr->has_to &&
                (!strcmp(tr->trace_type, "reward") || !strcmp(tr->trace_type, "genesis")))
                items[nitems++] = (item){.slot = per[bi + 1],
                                         .sub = 1,
                                         .i = i,
                                         .src = 1,
                                         .block_level = 1}; /* after the block's txs */
            continue;
        }
        size_t ti;
        if (find_tx(ix, ntx, tr->tx_hash, &ti)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_hash: no such tx in the transactions "
                           "given",
                           fname(b, tr->at), (unsigned long long)tr->at.line);
            goto out_items;
        }
        rd_tx *t = &b->txs.v[ti];
        if (t->block_number != tr->block_number) {
            rc = util_errf(
                err, UTIL_EFORMAT, "%s:%llu: column block_number: %llu, the tx is in block %llu",
                fname(b, tr->at), (unsigned long long)tr->at.line,
                (unsigned long long)tr->block_number, (unsigned long long)t->block_number);
            goto out_items;
        }
        if (!tr->ta_len) {
            /* the top-level call duplicates the tx's own value: only its status is used */
            if (t->tx.flags & EVM_TX_STATUS_UNKNOWN) {
                t->tx.flags &= ~(uint32_t)EVM_TX_STATUS_UNKNOWN;
                if (tr->status == 0) t->tx.flags |= EVM_TX_FAILED;
            }
            continue;
        }
        int moves = (!strcmp(tr->trace_type, "call") && !strcmp(tr->call_type, "call")) ||
                    !strcmp(tr->trace_type, "create") || !strcmp(tr->trace_type, "suicide");
        if (moves && tr->status == 1 && !evm_u256_is_zero(&tr->value) && tr->has_to)
            items[nitems++] = (item){.slot = per[bi] + t->tx.index, .sub = 1, .i = i};
    }
    int use_tt = b->have_kind[EVM_FILE_TOKEN_TRANSFERS];
    const rd_token_xfer *tts = use_tt ? b->tt.v : b->logs.v;
    size_t ntt = use_tt ? b->tt.n : b->logs.n;
    for (size_t i = 0; i < ntt; i++) {
        const rd_token_xfer *x = &tts[i];
        BLOCK_OF(x->block_number, x->at, "block_number")
        size_t ti;
        if (find_tx(ix, ntx, x->tx_hash, &ti)) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s:%llu: column transaction_hash: no such tx in the transactions "
                           "given",
                           fname(b, x->at), (unsigned long long)x->at.line);
            goto out_items;
        }
        const rd_tx *t = &b->txs.v[ti];
        if (t->block_number != x->block_number) {
            rc = util_errf(
                err, UTIL_EFORMAT, "%s:%llu: column block_number: %llu, the tx is in block %llu",
                fname(b, x->at), (unsigned long long)x->at.line,
                (unsigned long long)x->block_number, (unsigned long long)t->block_number);
            goto out_items;
        }
        if (t->tx.flags & EVM_TX_FAILED) continue; /* a reverted tx's events never happened */
        items[nitems++] = (item){.slot = per[x->block_number - first] + t->tx.index,
                                 .sub = 2 + (uint64_t)x->log_index,
                                 .i = i,
                                 .src = 2};
    }
    qsort(items, nitems, sizeof *items, cmp_item);

    /* the output: txs in chain order, then transfers per tx, block-level ones last */
    size_t n_wd = b->wds.n, nx = nitems + n_wd + 2 * ntx;
    b->out = calloc(nb, sizeof *b->out);
    b->out_txs = calloc(ntx ? ntx : 1, sizeof *b->out_txs);
    b->out_xfers = calloc(nx ? nx : 1, sizeof *b->out_xfers);
    if (!b->out || !b->out_txs || !b->out_xfers) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out_items;
    }
    size_t xo = 0, it = 0;
    for (size_t bi = 0; bi < nb; bi++) {
        evm_block *ob = &b->out[bi];
        ob->number = bl[bi].number, ob->timestamp = bl[bi].timestamp;
        memcpy(ob->hash, bl[bi].hash, 32), memcpy(ob->parent, bl[bi].parent, 32);
        ob->txs = b->out_txs + per[bi];
        ob->n_txs = per[bi + 1] - per[bi];
        ob->xfers = b->out_xfers + xo;
        for (size_t slot = per[bi]; slot <= per[bi + 1]; slot++) {
            int block_level = slot == per[bi + 1];
            uint32_t txi = block_level ? EVM_NONE32 : (uint32_t)(slot - per[bi]);
            if (!block_level) {
                const rd_tx *t = &b->txs.v[order[slot]];
                b->out_txs[slot] = t->tx;
                if (!(t->tx.flags & EVM_TX_FAILED) && !evm_u256_is_zero(&t->tx.value)) {
                    evm_xfer *x = &b->out_xfers[xo++];
                    x->kind = EVM_XFER_TX, x->tx = txi, x->has_from = 1, x->has_to = t->tx.has_to;
                    memcpy(x->from, t->tx.from, 20), memcpy(x->to, t->tx.to, 20);
                    x->amount = t->tx.value;
                }
                if (!evm_u256_is_zero(&t->tx.fee)) {
                    evm_xfer *x = &b->out_xfers[xo++];
                    x->kind = EVM_XFER_FEE, x->tx = txi, x->has_from = 1;
                    memcpy(x->from, t->tx.from, 20);
                    x->amount = t->tx.fee;
                }
            }
            /* items of this slot; a block-level slot equals the next block's first slot, so
             * the is-block-level mark tells them apart */
            for (; it < nitems && items[it].slot == slot &&
                   (items[it].block_level == 1) == block_level;
                 it++) {
                evm_xfer *x = &b->out_xfers[xo++];
                x->tx = txi;
                if (items[it].src == 2) {
                    const rd_token_xfer *tt = &tts[items[it].i];
                    x->kind = EVM_XFER_ERC20, x->has_from = 1, x->has_to = 1;
                    memcpy(x->from, tt->from, 20), memcpy(x->to, tt->to, 20);
                    memcpy(x->token, tt->token, 20);
                    x->amount = tt->amount, x->log_index = tt->log_index;
                } else {
                    const rd_trace *tr = &b->traces.v[items[it].i];
                    x->kind = block_level ? EVM_XFER_REWARD : EVM_XFER_INTERNAL;
                    x->has_from = !block_level && tr->has_from, x->has_to = 1;
                    memcpy(x->from, tr->from, 20), memcpy(x->to, tr->to, 20);
                    x->amount = tr->value;
                    x->trace_address = (const char *)b->pool.data + tr->ta_off;
                }
            }
        }
        for (size_t w = 0; w < bl[bi].n_wd; w++) {
            const rd_withdrawal *wd = &b->wds.v[bl[bi].first_wd + w];
            if (evm_u256_is_zero(&wd->amount)) continue;
            evm_xfer *x = &b->out_xfers[xo++];
            x->kind = EVM_XFER_WITHDRAWAL, x->tx = EVM_NONE32, x->has_to = 1;
            memcpy(x->to, wd->addr, 20);
            x->amount = wd->amount;
        }
        ob->n_xfers = (size_t)(b->out_xfers + xo - ob->xfers);
    }
    /* protocol events: per block in (tx, log index) order; a reverted tx's logs never were */
    {
        size_t ne = 0, nev = b->events.n;
        ev_ord *eo = calloc(nev ? nev : 1, sizeof *eo);
        b->out_events = calloc(nev ? nev : 1, sizeof *b->out_events);
        if (!eo || !b->out_events) {
            free(eo);
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto out_items;
        }
        for (size_t i = 0; i < nev; i++) {
            const rd_event *e = &b->events.v[i];
            size_t ti;
            if (e->block_number < first || e->block_number - first >= nb ||
                find_tx(ix, ntx, e->tx_hash, &ti) || b->txs.v[ti].block_number != e->block_number) {
                rc = util_errf(err, UTIL_EFORMAT,
                               "%s:%llu: column transaction_hash: the log's tx is not among the "
                               "transactions given in block %llu",
                               fname(b, e->at), (unsigned long long)e->at.line,
                               (unsigned long long)e->block_number);
                free(eo);
                goto out_items;
            }
            const rd_tx *t = &b->txs.v[ti];
            if (t->tx.flags & EVM_TX_FAILED) continue;
            eo[ne++] = (ev_ord){per[e->block_number - first] + t->tx.index, e->ev.log_index, i};
        }
        qsort(eo, ne, sizeof *eo, cmp_ev_ord);
        size_t k = 0;
        for (size_t bi = 0; bi < nb; bi++) {
            evm_block *ob = &b->out[bi];
            ob->events = b->out_events + k;
            for (; k < ne && eo[k].slot < per[bi + 1]; k++) {
                const rd_event *e = &b->events.v[eo[k].i];
                evm_event *o = &b->out_events[k];
                *o = e->ev;
                o->tx = (uint32_t)(eo[k].slot - per[bi]);
                o->text = (const char *)b->pool.data + e->text_off;
            }
            ob->n_events = (size_t)(b->out_events + k - ob->events);
        }
        free(eo);
    }
    b->n_out = nb;
    *blocks = b->out, *n = nb;
    rc = 0;
out_items:
    free(items);
out:
    free(per), free(ix), free(order);
    return rc;
}
