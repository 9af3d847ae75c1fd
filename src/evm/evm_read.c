/* Reading ethereum-etl CSV exports into an evm_batch: each row's fields checked and kept for
 * assembly (evm_assemble.c). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "evm_read_int.h"

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

static int oom(util_err *err)
{
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

/* A row of blocks.csv. */
static int read_block(evm_batch *b, const row_ctx *r, src_ref at, util_err *err)
{
    rd_block *x = VEC_PUSH(b->blocks, err);
    if (!x) return oom(err);
    x->at = at;
    if (get_u64(r, B_NUMBER, &x->number, err) || get_hash(r, B_HASH, x->hash, NULL, err) ||
        get_hash(r, B_PARENT, x->parent, NULL, err) ||
        get_u64(r, B_TIMESTAMP, &x->timestamp, err) || get_u64(r, B_TXCOUNT, &x->tx_count, err) ||
        read_withdrawals(b, x, r, err))
        return err ? err->code : UTIL_EFORMAT;
    return 0;
}

/* A row of transactions.csv. */
static int read_tx(evm_batch *b, const row_ctx *r, src_ref at, util_err *err)
{
    rd_tx *x = VEC_PUSH(b->txs, err);
    if (!x) return oom(err);
    x->at = at;
    uint64_t idx;
    if (get_hash(r, T_HASH, x->tx.hash, NULL, err) ||
        get_u64(r, T_BLOCKNUM, &x->block_number, err) || get_u64(r, T_INDEX, &idx, err) ||
        get_addr(r, T_FROM, x->tx.from, NULL, err) ||
        get_addr(r, T_TO, x->tx.to, &x->tx.has_to, err) ||
        get_u256(r, T_VALUE, &x->tx.value, err) || get_u256(r, T_GASPRICE, &x->tx.gas_price, err) ||
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

/* A row of receipts.csv. */
static int read_receipt(evm_batch *b, const row_ctx *r, src_ref at, util_err *err)
{
    rd_receipt *x = VEC_PUSH(b->receipts, err);
    if (!x) return oom(err);
    x->at = at;
    const char *s;
    size_t n;
    if (get_hash(r, R_TXHASH, x->tx_hash, NULL, err) ||
        get_u64(r, R_BLOCKNUM, &x->block_number, err) || get_u64(r, R_GASUSED, &x->gas_used, err))
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

/* A row of logs.csv: kept as a protocol event or an ERC-20 Transfer, or
 * only checked. */
static int read_log(evm_batch *b, const row_ctx *r, src_ref at, util_err *err)
{
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
            if (!e) return oom(err);
            e->ev = ev;
            e->ev.text = NULL;
            e->ev.log_index = (uint32_t)li;
            memcpy(e->ev.contract, token, 20);
            memcpy(e->tx_hash, tx_hash, 32);
            e->block_number = bn, e->at = at;
            e->text_off = b->pool.len;
            if (util_buf_append(&b->pool, text, ev.text_len + 1)) {
                b->events.n--;
                return oom(err);
            }
            return 0;
        }
    }
    if (!evm_decode_transfer_log(topics, tn, data, dn, from, to, &amount)) return 0;
    rd_token_xfer *x = VEC_PUSH(b->logs, err);
    if (!x) return oom(err);
    x->at = at;
    memcpy(x->tx_hash, tx_hash, 32), memcpy(x->token, token, 20);
    memcpy(x->from, from, 20), memcpy(x->to, to, 20);
    x->amount = amount, x->block_number = bn, x->log_index = (uint32_t)li;
    return 0;
}

/* A row of token_transfers.csv. */
static int read_token_xfer(evm_batch *b, const row_ctx *r, src_ref at, util_err *err)
{
    rd_token_xfer *x = VEC_PUSH(b->tt, err);
    if (!x) return oom(err);
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

/* A row of traces.csv. */
static int read_trace(evm_batch *b, const row_ctx *r, src_ref at, util_err *err)
{
    rd_trace *x = VEC_PUSH(b->traces, err);
    if (!x) return oom(err);
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

/* A row of tokens.csv. */
static int read_token(evm_batch *b, const row_ctx *r, util_err *err)
{
    evm_token_meta *x = VEC_PUSH(b->tokens, err);
    if (!x) return oom(err);
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
            util_errf(err, UTIL_EFORMAT, "%llu decimals is more than 255", (unsigned long long)d);
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

static int read_row(evm_batch *b, evm_file_kind kind, const row_ctx *r, src_ref at, util_err *err)
{
    switch (kind) {
    case EVM_FILE_BLOCKS:
        return read_block(b, r, at, err);
    case EVM_FILE_TRANSACTIONS:
        return read_tx(b, r, at, err);
    case EVM_FILE_RECEIPTS:
        return read_receipt(b, r, at, err);
    case EVM_FILE_LOGS:
        return read_log(b, r, at, err);
    case EVM_FILE_TOKEN_TRANSFERS:
        return read_token_xfer(b, r, at, err);
    case EVM_FILE_TRACES:
        return read_trace(b, r, at, err);
    case EVM_FILE_TOKENS:
        return read_token(b, r, err);
    default: /* contracts: nothing in it moves value, never read row by row */
        return oom(err);
    }
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
