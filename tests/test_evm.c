/* test_evm: EIP-55 against published vectors (Keccak-256's are in test_crypto), u256 edge cases,
 * the CSV reader and the ERC-20 log decoder. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "evm/evm.h"
#include "evmquery/evmquery.h"

#include "check.h"

static void test_eip55(void)
{
    /* the examples of EIP-55 itself */
    static const char *const v[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t addr[20];
        char lower[43], out[43];
        strcpy(lower, v[i]);
        for (char *p = lower + 2; *p; p++)
            if (*p >= 'A' && *p <= 'F') *p = (char)(*p + 32);
        CHECK(evm_addr_parse(addr, lower, 42, NULL) == 0);
        evm_addr_eip55(out, addr);
        CHECK_STR(out, v[i]);
        CHECK(evm_addr_parse(addr, v[i], 42, NULL) == 0); /* its own checksum passes */
    }
    uint8_t addr[20];
    util_err err = {0};
    /* one letter's case flipped: the checksum fails */
    CHECK(evm_addr_parse(addr, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", 42, &err) ==
          UTIL_EFORMAT);
    CHECK(strstr(err.msg, "EIP-55") != NULL);
    CHECK(evm_addr_parse(addr, "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", 42, NULL) == 0);
    CHECK(evm_addr_parse(addr, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", 41, NULL) ==
          UTIL_EFORMAT);
    CHECK(evm_addr_parse(addr, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", 42, NULL) ==
          UTIL_EFORMAT);
    CHECK(evm_addr_parse(addr, "005aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 42, NULL) ==
          UTIL_EFORMAT);
}

static int u256_eq_dec(const char *in, const char *want)
{
    evm_u256 v;
    char out[EVM_U256_DEC_MAX];
    if (evm_u256_parse(&v, in, strlen(in), NULL)) return 0;
    evm_u256_format(out, &v);
    if (strcmp(out, want)) fprintf(stderr, "u256 %s -> %s, want %s\n", in, out, want);
    return !strcmp(out, want);
}

static void test_u256(void)
{
    static const char max[] =
        "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    static const char over[] =
        "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    CHECK(u256_eq_dec("0", "0"));
    CHECK(u256_eq_dec("000", "0"));
    CHECK(u256_eq_dec("18446744073709551615", "18446744073709551615"));
    CHECK(u256_eq_dec("18446744073709551616", "18446744073709551616"));
    CHECK(u256_eq_dec("340282366920938463463374607431768211456",
                      "340282366920938463463374607431768211456")); /* 2^128 */
    CHECK(u256_eq_dec(max, max));
    CHECK(u256_eq_dec("0x0", "0"));
    CHECK(u256_eq_dec("0xde0b6b3a7640000", "1000000000000000000"));
    CHECK(u256_eq_dec("0x10000000000000000", "18446744073709551616"));
    CHECK(u256_eq_dec("0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", max));
    CHECK(u256_eq_dec("0x00000000000000000000000000000000000000000000000000000000000000000001",
                      "1")); /* leading zeros beyond 64 digits are fine */
    evm_u256 v, w, r;
    util_err err = {0};
    CHECK(evm_u256_parse(&v, over, strlen(over), &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "2^256") != NULL);
    CHECK(evm_u256_parse(&v, "0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                         67, NULL) == UTIL_EFORMAT);
    CHECK(evm_u256_parse(&v, "", 0, NULL) == UTIL_EFORMAT);
    CHECK(evm_u256_parse(&v, "-1", 2, NULL) == UTIL_EFORMAT);
    CHECK(evm_u256_parse(&v, "1e18", 4, NULL) == UTIL_EFORMAT);
    CHECK(evm_u256_parse(&v, "12 ", 3, NULL) == UTIL_EFORMAT);
    CHECK(evm_u256_parse(&v, "0xg", 3, NULL) == UTIL_EFORMAT);
    CHECK(evm_u256_parse(&v, "0x", 2, NULL) == UTIL_EFORMAT); /* "0x" alone is no number */
    /* add/sub carries across every limb, and overflow is caught */
    evm_u256_parse(&v, max, strlen(max), NULL);
    evm_u256 one = {{1, 0, 0, 0}}, zero = {{0}};
    CHECK(evm_u256_add(&r, &v, &one) == -1);
    CHECK(evm_u256_sub(&r, &zero, &one) == -1);
    CHECK(evm_u256_sub(&r, &v, &v) == 0 && evm_u256_is_zero(&r));
    evm_u256_parse(&w, "18446744073709551615", 20, NULL);
    CHECK(evm_u256_add(&r, &w, &one) == 0 && r.w[0] == 0 && r.w[1] == 1);
    CHECK(evm_u256_sub(&r, &r, &one) == 0 && r.w[0] == UINT64_MAX && r.w[1] == 0);
    evm_u256 big = {{0, 0, 0, 1}};
    CHECK(evm_u256_sub(&r, &big, &one) == 0 && r.w[0] == UINT64_MAX && r.w[2] == UINT64_MAX &&
          r.w[3] == 0);
    CHECK(evm_u256_mul64(&r, &v, 2) == -1);
    CHECK(evm_u256_mul64(&r, &w, 1000000007) == 0);
    char out[EVM_U256_DEC_MAX];
    evm_u256_format(out, &r);
    CHECK_STR(out, "18446744202836760130966861305"); /* (2^64-1) * 1000000007, by python3 */
    CHECK(evm_u256_cmp(&v, &w) == 1 && evm_u256_cmp(&w, &v) == -1 && evm_u256_cmp(&v, &v) == 0);
    uint8_t raw[32];
    evm_u256_store(raw, &v);
    evm_u256_load(&r, raw);
    CHECK(evm_u256_cmp(&r, &v) == 0);
}

static void test_csv(void)
{
    const char text[] = "a,b,c\r\n1,\"x,\"\"y\"\"\",\n\"multi\nline\",,\"\"\nlast,row,here";
    evm_csv c;
    evm_csv_init(&c, "t.csv", text, sizeof text - 1);
    util_err err = {0};
    CHECK(evm_csv_next(&c, &err) == 1 && c.nf == 3 && c.line == 1);
    CHECK(evm_csv_next(&c, &err) == 1 && c.nf == 3 && c.line == 2);
    CHECK(c.flen[1] == 5 && !memcmp(c.f[1], "x,\"y\"", 5) && c.flen[2] == 0);
    CHECK(evm_csv_next(&c, &err) == 1 && c.nf == 3 && c.line == 3);
    CHECK(c.flen[0] == 10 && !memcmp(c.f[0], "multi\nline", 10) && c.flen[2] == 0);
    CHECK(evm_csv_next(&c, &err) == 1 && c.line == 5 && c.flen[2] == 4);
    CHECK(evm_csv_next(&c, &err) == 0);
    evm_csv_free(&c);

    static const char *const bad[] = {"a,\"b\n", "a,\"b\"c\n", "a,b\"c\n", "a\rb\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        evm_csv_init(&c, "bad.csv", bad[i], strlen(bad[i]));
        CHECK(evm_csv_next(&c, &err) == UTIL_EFORMAT);
        CHECK(strstr(err.msg, "bad.csv:1: field") != NULL);
        evm_csv_free(&c);
    }
    const char nul[] = "a,b\0c\n";
    evm_csv_init(&c, "nul.csv", nul, sizeof nul - 1);
    CHECK(evm_csv_next(&c, &err) == UTIL_EFORMAT);
    evm_csv_free(&c);
}

static void test_reader(void)
{
    /* a row with a bad field: the message names file, line and column */
    const char tx[] = "hash,nonce,block_hash,block_number,transaction_index,from_address,"
                      "to_address,value,gas,gas_price\n"
                      "0x99f1097abd8f33a68f0ed63d60de5f3e7e2a3e0579b90d5f46a4f201c658b46d,9,,47218,"
                      "0,0x1406854d149e081ac09cb4ca560da463f3123059,"
                      "0xa0e74ae010d51894734c308d612131056bb721ad,11x,40000,62227241854\n";
    evm_batch *b;
    util_err err = {0};
    CHECK(evm_batch_new(&b, &err) == 0);
    evm_file_kind k;
    CHECK(evm_batch_read_mem(b, "tx.csv", tx, sizeof tx - 1, &k, &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "tx.csv:2: column value:") == err.msg);
    evm_batch_free(b);

    const char unknown[] = "foo,bar\n1,2\n";
    CHECK(evm_batch_new(&b, &err) == 0);
    CHECK(evm_batch_read_mem(b, "x.csv", unknown, sizeof unknown - 1, &k, &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "x.csv:1:") == err.msg);
    evm_batch_free(b);

    /* contracts.csv comes with ethereum-etl exports: recognised, nothing taken from it */
    const char contracts[] = "address,bytecode,function_sighashes,is_erc20,is_erc721,block_number\n"
                             "0x06012c8cf97bead5deae237070f9587f8e7a266d,0x6060,,False,True,1\n";
    CHECK(evm_batch_new(&b, &err) == 0);
    CHECK(evm_batch_read_mem(b, "c.csv", contracts, sizeof contracts - 1, &k, &err) == 0);
    CHECK(k == EVM_FILE_CONTRACTS);
    evm_batch_free(b);

    const char tokens[] = "address,symbol,name,decimals,total_supply\n"
                          "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0,EOS,,18,1\n";
    CHECK(evm_batch_new(&b, &err) == 0);
    CHECK(evm_batch_read_mem(b, "tok.csv", tokens, sizeof tokens - 1, &k, &err) == 0);
    CHECK(k == EVM_FILE_TOKENS);
    const evm_token_meta *t;
    size_t n;
    evm_batch_tokens(b, &t, &n);
    CHECK(n == 1 && t[0].decimals == 18 && !strcmp(t[0].symbol, "EOS") && !t[0].name[0]);
    evm_batch_free(b);
}

/* A call stack may be 1024 deep: a long trace address passes through whole; a token name longer
 * than the registry keeps is cut without splitting a UTF-8 character. */
static void test_deep_trace_and_long_name(void)
{
    char ta[2100] = "0";
    for (int i = 1; i < 1000; i++)
        strcat(ta, ",0");
    const char blocks[] =
        "number,hash,parent_hash,timestamp,transaction_count\n"
        "7,0x1111111111111111111111111111111111111111111111111111111111111111,"
        "0x2222222222222222222222222222222222222222222222222222222222222222,5,1\n";
    const char txs[] =
        "hash,block_number,transaction_index,from_address,to_address,value,gas_price\n"
        "0x3333333333333333333333333333333333333333333333333333333333333333,7,0,"
        "0x4444444444444444444444444444444444444444,,0,1\n";
    util_buf tr = {0};
    util_buf_printf(&tr,
                    "block_number,transaction_hash,from_address,to_address,value,trace_type,"
                    "call_type,trace_address,status\n"
                    "7,0x3333333333333333333333333333333333333333333333333333333333333333,"
                    "0x4444444444444444444444444444444444444444,"
                    "0x5555555555555555555555555555555555555555,9,call,call,\"%s\",1\n",
                    ta);
    evm_batch *b;
    util_err err = {0};
    CHECK(evm_batch_new(&b, &err) == 0);
    CHECK(evm_batch_read_mem(b, "b.csv", blocks, sizeof blocks - 1, NULL, &err) == 0);
    CHECK(evm_batch_read_mem(b, "t.csv", txs, sizeof txs - 1, NULL, &err) == 0);
    CHECK(evm_batch_read_mem(b, "tr.csv", (const char *)tr.data, tr.len, NULL, &err) == 0);
    const evm_block *blk;
    size_t n;
    CHECK(evm_batch_assemble(b, &blk, &n, &err) == 0);
    CHECK(n == 1 && blk[0].n_txs == 1 && blk[0].n_xfers == 1);
    if (n == 1 && blk[0].n_xfers == 1) {
        CHECK(blk[0].xfers[0].kind == EVM_XFER_INTERNAL && blk[0].xfers[0].amount.w[0] == 9);
        CHECK_STR(blk[0].xfers[0].trace_address, ta);
        CHECK(!blk[0].txs[0].has_to && (blk[0].txs[0].flags & EVM_TX_CREATE));
    }
    evm_batch_free(b);
    util_buf_free(&tr);

    util_buf tk = {0};
    util_buf_printf(&tk,
                    "address,symbol,name,decimals\n0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0,S,");
    for (int i = 0; i < 100; i++)
        util_buf_printf(&tk, "\xc3\xa9"); /* é, two bytes: 200 bytes */
    util_buf_printf(&tk, ",\n");
    CHECK(evm_batch_new(&b, &err) == 0);
    CHECK(evm_batch_read_mem(b, "tk.csv", (const char *)tk.data, tk.len, NULL, &err) == 0);
    const evm_token_meta *t;
    evm_batch_tokens(b, &t, &n);
    CHECK(n == 1 && t[0].decimals == -1 && strlen(t[0].name) == 126);
    evm_batch_free(b);
    util_buf_free(&tk);
}

/* Rows of a block that is not in the batch are refused, naming the file, line and column. */
static void test_block_not_given(void)
{
    const char blocks[] =
        "number,hash,parent_hash,timestamp,transaction_count\n"
        "7,0x1111111111111111111111111111111111111111111111111111111111111111,"
        "0x2222222222222222222222222222222222222222222222222222222222222222,5,0\n";
    const char tr[] = "block_number,transaction_hash,from_address,to_address,value,trace_type,"
                      "call_type,trace_address,status\n"
                      "7,,,0x5555555555555555555555555555555555555555,5,reward,,,1\n"
                      "8,,,0x5555555555555555555555555555555555555555,5,reward,,,1\n";
    evm_batch *b;
    util_err err = {0};
    const evm_block *blk;
    size_t n;
    CHECK(evm_batch_new(&b, &err) == 0);
    CHECK(evm_batch_read_mem(b, "b.csv", blocks, sizeof blocks - 1, NULL, &err) == 0);
    CHECK(evm_batch_read_mem(b, "tr.csv", tr, sizeof tr - 1, NULL, &err) == 0);
    CHECK(evm_batch_assemble(b, &blk, &n, &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "tr.csv:3: column block_number: block 8") == err.msg);
    evm_batch_free(b);
}

static void test_transfer_log(void)
{
    /* block 483920, log 0 (ethereum-etl's receipts fixture): 100000 units, 0x1b63.. -> 0xac4d.. */
    const char topics[] = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef,"
                          "0x0000000000000000000000001b63142628311395ceafeea5667e7c9026c862ca,"
                          "0x000000000000000000000000ac4df82fe37ea2187bc8c011a23d743b4f39019a";
    const char data[] = "0x00000000000000000000000000000000000000000000000000000000000186a0";
    uint8_t from[20], to[20], want[20];
    evm_u256 amount;
    CHECK(evm_decode_transfer_log(topics, strlen(topics), data, strlen(data), from, to, &amount));
    unhex(want, "1b63142628311395ceafeea5667e7c9026c862ca");
    CHECK(!memcmp(from, want, 20));
    unhex(want, "ac4df82fe37ea2187bc8c011a23d743b4f39019a");
    CHECK(!memcmp(to, want, 20));
    CHECK(amount.w[0] == 100000 && !amount.w[1]);
    /* two topics (not a Transfer of that shape), another event, short data: not decoded */
    CHECK(!evm_decode_transfer_log(topics, 133, data, strlen(data), from, to, &amount));
    char other[sizeof topics];
    memcpy(other, topics, sizeof topics);
    other[5] = '0';
    CHECK(!evm_decode_transfer_log(other, strlen(other), data, strlen(data), from, to, &amount));
    CHECK(!evm_decode_transfer_log(topics, strlen(topics), data, 10, from, to, &amount));
}

static int file_bytes(const char *path, uint8_t **data, size_t *len)
{
    return util_read_file(path, data, len, NULL);
}

/* The store through its C interface, as a second source (a node reader) would feed it: blocks
 * of many addresses so the hash indexes grow several times; every address and tx is found
 * through them, the per-address lists hold what was sent, and an index deleted and rebuilt by
 * the next writer is the same bytes as the one grown by appends. */
static void test_store_indexes(void)
{
    char dir[] = "/tmp/test_evm_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    evm_store *s;
    util_err err = {0};
    CHECK(evm_store_open(&s, dir, "test", EVM_STORE_WRITE | EVM_STORE_CREATE, &err) == 0);
    enum { BLOCKS = 12, PER = 250 };
    evm_tx txs[PER];
    evm_xfer xs[2 * PER];
    uint8_t prev[32] = {0};
    for (int b = 0; b < BLOCKS; b++) {
        memset(txs, 0, sizeof txs);
        memset(xs, 0, sizeof xs);
        for (int i = 0; i < PER; i++) {
            evm_tx *t = &txs[i];
            uint32_t n = (uint32_t)(b * PER + i);
            uint8_t seed[8];
            util_put_le32(seed, n), util_put_le32(seed + 4, 0x7478);
            crypto_keccak256(seed, 8, t->hash);
            util_put_le32(seed + 4, 0xad);
            uint8_t h[32];
            crypto_keccak256(seed, 8, h);
            memcpy(t->from, h, 20);  /* a new sender per tx */
            memset(t->to, 0x42, 20); /* one receiver for all */
            t->has_to = 1, t->index = (uint32_t)i;
            t->value.w[0] = n + 1;
            t->gas_used = 21000, t->gas_price.w[0] = 7;
            t->fee.w[0] = 21000 * 7;
            xs[2 * i] = (evm_xfer){.kind = EVM_XFER_TX,
                                   .tx = (uint32_t)i,
                                   .has_from = 1,
                                   .has_to = 1,
                                   .amount = t->value};
            memcpy(xs[2 * i].from, t->from, 20), memcpy(xs[2 * i].to, t->to, 20);
            xs[2 * i + 1] = (evm_xfer){
                .kind = EVM_XFER_FEE, .tx = (uint32_t)i, .has_from = 1, .amount = t->fee};
            memcpy(xs[2 * i + 1].from, t->from, 20);
        }
        evm_block blk = {.number = 100 + (uint64_t)b,
                         .timestamp = 1000 + (uint64_t)b,
                         .txs = txs,
                         .n_txs = PER,
                         .xfers = xs,
                         .n_xfers = 2 * PER};
        memcpy(blk.parent, prev, 32);
        crypto_keccak256(&blk.number, sizeof blk.number, blk.hash);
        memcpy(prev, blk.hash, 32);
        CHECK(evm_store_append_block(s, &blk, &err) == 0);
        CHECK(evm_store_commit(s, &err) == 0);
    }
    /* a block that does not extend the tip is refused */
    evm_block gap = {.number = 200};
    CHECK(evm_store_append_block(s, &gap, &err) == UTIL_EFORMAT);
    evm_store_close(s);

    CHECK(evm_store_open(&s, dir, "test", 0, &err) == 0);
    int all = 1;
    for (uint32_t n = 0; n < BLOCKS * PER; n++) {
        uint8_t seed[8], h[32], th[32];
        util_put_le32(seed, n), util_put_le32(seed + 4, 0xad);
        crypto_keccak256(seed, 8, h);
        util_put_le32(seed + 4, 0x7478);
        crypto_keccak256(seed, 8, th);
        uint32_t id;
        uint64_t tid, x, next;
        evm_tx_row t;
        evm_xfer_row xr;
        /* each sender: its fee (newest), then its value transfer, then nothing */
        if (evm_store_find_addr(s, h, &id, NULL) || evm_store_find_tx(s, th, &tid, NULL) ||
            evm_store_tx(s, tid, &t, NULL) || t.value.w[0] != n + 1 || t.from != id ||
            evm_store_addr_head(s, id, &x, NULL) || evm_store_xfer(s, x, &xr, NULL) ||
            xr.kind != EVM_XFER_FEE || evm_store_addr_next(s, id, x, &next, NULL) ||
            evm_store_xfer(s, next, &xr, NULL) || xr.kind != EVM_XFER_TX ||
            xr.amount.w[0] != n + 1 || evm_store_addr_next(s, id, next, &x, NULL) ||
            x != EVM_NONE64)
            all = 0;
    }
    CHECK(all);
    uint8_t nobody[20] = {1, 2, 3};
    uint32_t id;
    CHECK(evm_store_find_addr(s, nobody, &id, &err) == UTIL_ENOTFOUND);
    uint8_t recv[20];
    memset(recv, 0x42, 20);
    CHECK(evm_store_find_addr(s, recv, &id, &err) == 0);
    json_t *j;
    CHECK(evm_query_address(s, recv, 0, 3, &j, &err) == 0);
    CHECK(json_integer_value(json_object_get(j, "transfer_count")) == BLOCKS * PER);
    /* received: the sum of 1..n */
    char want[32];
    snprintf(want, sizeof want, "%d", BLOCKS * PER * (BLOCKS * PER + 1) / 2);
    json_t *bal = json_array_get(json_object_get(j, "balances"), 0);
    CHECK(bal && !strcmp(json_string_value(json_object_get(bal, "received")), want));
    json_decref(j);
    evm_store_close(s);

    /* delete the indexes: readers scan, the next writer rebuilds the same bytes */
    char p1[128], p2[128];
    uint8_t *a, *b2;
    size_t al, bl;
    snprintf(p1, sizeof p1, "%s/evm/test/addr.idx", dir);
    CHECK(file_bytes(p1, &a, &al) == 0);
    CHECK(al > 32 + 8 * 2048); /* grew past its first sizes */
    unlink(p1);
    snprintf(p2, sizeof p2, "%s/evm/test/tx_hash.idx", dir);
    unlink(p2);
    CHECK(evm_store_open(&s, dir, "test", 0, &err) == 0);
    CHECK(evm_store_find_addr(s, recv, &id, &err) == 0);
    evm_store_close(s);
    CHECK(evm_store_open(&s, dir, "test", EVM_STORE_WRITE, &err) == 0);
    evm_store_close(s);
    CHECK(file_bytes(p1, &b2, &bl) == 0);
    CHECK(al == bl && !memcmp(a, b2, al));
    free(a), free(b2);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_eip55();
    test_u256();
    test_csv();
    test_reader();
    test_transfer_log();
    test_deep_trace_and_long_name();
    test_store_indexes();
    test_block_not_given();
    return CHECK_DONE();
}
