/* test_xchain: THORChain memo parsing (examples of the memo documentation and garbage), the
 * protocol-event topics against Keccak of their signatures, ABI decoding of a TransferOut
 * built by hand, and malformed event data. */
#include <stdlib.h>
#include <string.h>

#include "../src/crypto/crypto.h"
#include "../src/evm/evm.h"
#include "../src/evmingest/evmingest.h"
#include "../src/xchain/xchain.h"
#include "check.h"

static int parse(const char *s, xchain_memo *m)
{
    util_err err = {0};
    int rc = xchain_memo_parse(s, strlen(s), m, &err);
    if (rc) CHECK(rc == UTIL_EFORMAT && err.code == UTIL_EFORMAT && err.msg[0]);
    return rc;
}

static void test_memos(void)
{
    xchain_memo m;
    const char *bc = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    char buf[400];
    snprintf(buf, sizeof buf, "SWAP:BTC.BTC:%s", bc);
    CHECK(parse(buf, &m) == 0 && m.kind == XCHAIN_MEMO_SWAP && m.dest_is_btc && !m.has_limit);
    CHECK_STR(m.asset, "BTC.BTC");
    CHECK_STR(m.chain, "BTC");
    CHECK_STR(m.dest, bc);
    CHECK(m.dest_addr.kind == BTC_ADDR_P2WPKH);

    snprintf(buf, sizeof buf, "=:BTC.BTC:%s:185000000", bc);
    CHECK(parse(buf, &m) == 0 && m.has_limit && m.limit.w[0] == 185000000 && !m.limit.w[1]);
    snprintf(buf, sizeof buf, "=:b:%s:1e6", bc); /* short code, scientific limit */
    CHECK(parse(buf, &m) == 0 && m.limit.w[0] == 1000000);
    CHECK_STR(m.asset, "BTC.BTC");
    snprintf(buf, sizeof buf, "=:BTC.BTC:%s:97000000/1/0", bc); /* streaming */
    CHECK(parse(buf, &m) == 0 && m.limit.w[0] == 97000000 && m.interval == 1 && m.quantity == 0);
    snprintf(buf, sizeof buf, "=:BTC.BTC:%s::t:15", bc); /* no limit, affiliate */
    CHECK(parse(buf, &m) == 0 && !m.has_limit && m.affiliate_bps == 15);
    CHECK_STR(m.affiliate, "t");
    CHECK(parse("s:ETH.ETH:0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc:0/1/0:wr:100", &m) == 0 &&
          m.kind == XCHAIN_MEMO_SWAP && !m.dest_is_btc && m.interval == 1);
    CHECK(parse("=:ETH.USDT-0xdac17f958d2ee523a2206206994597c13d831ec7:"
                "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
                &m) == 0);
    CHECK_STR(m.asset, "ETH.USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7");
    CHECK(parse("=:BTC/BTC:thor1g98cy3n9mmjrpn0sxmn63lztelera37n8n67c0", &m) == 0 &&
          !m.dest_is_btc); /* a synth lands on THORChain, not Bitcoin */
    snprintf(buf, sizeof buf, "=:BTC.BTC:%s",
             "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0");
    CHECK(parse(buf, &m) == 0 && m.dest_addr.kind == BTC_ADDR_P2TR);
    CHECK(parse("=:BTC.BTC:1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", &m) == 0 &&
          m.dest_addr.kind == BTC_ADDR_P2PKH);

    CHECK(parse("OUT:E03077B26154D73E393576EE81E6B7B5CA23CB434C5314E3FA10DB29CCB40B07", &m) == 0 &&
          m.kind == XCHAIN_MEMO_OUT && m.in_hash[0] == 0xe0 && m.in_hash[31] == 0x07);
    CHECK(parse("refund:0xe03077b26154d73e393576ee81e6b7b5ca23cb434c5314e3fa10db29ccb40b07", &m) ==
              0 &&
          m.kind == XCHAIN_MEMO_REFUND && m.in_hash[1] == 0x30);
    CHECK(parse("BRIDGE:8332:5", &m) == 0 && m.kind == XCHAIN_MEMO_BRIDGE &&
          m.dest_chain.w[0] == 8332 && m.nonce.w[0] == 5 && !m.has_bridge);
    CHECK(parse("BRIDGE:8332:5:0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9", &m) == 0 &&
          m.has_bridge && m.bridge[0] == 0xcf);

    /* garbage */
    const char *bad[] = {
        "",
        "SWAP",
        "SWAP:BTC.BTC",
        "SWAP:BTC.BTC:",
        "SWAP:BTC.BTC:notanaddress",
        "SWAP:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", /* bad checksum */
        "=:x:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",          /* unknown short code */
        "=:BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",        /* no symbol */
        "=:.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "=:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:12a",
        "=:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:1/2",
        "=:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:1e999",
        "=:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:0:aff:10001",
        "=:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:0:a;b:1",
        "=:ETH.ETH:0xZZ4cdddb6a900fa2b585dd299e03d12fa4293bc",
        "OUT:XYZ",
        "OUT:E03077B26154D73E393576EE81E6B7B5CA23CB434C5314E3FA10DB29CCB40B0",
        "OUT:E03077B26154D73E393576EE81E6B7B5CA23CB434C5314E3FA10DB29CCB40B0G",
        "OUT:a:b",
        "ADD:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "BRIDGE:8332",
        "BRIDGE:x:1",
        "BRIDGE:1:2:0x12",
        "SWAP:BTC.BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n",
        "::::::::::",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = parse(bad[i], &m);
        if (rc == 0) fprintf(stderr, "accepted garbage memo '%s'\n", bad[i]);
        CHECK(rc == UTIL_EFORMAT);
    }
    char nul[] = "OUT:\0BC";
    util_err err = {0};
    CHECK(xchain_memo_parse(nul, sizeof nul - 1, &m, &err) == UTIL_EFORMAT);
    char long_memo[300];
    memset(long_memo, 'a', sizeof long_memo);
    CHECK(xchain_memo_parse(long_memo, 251, &m, &err) == UTIL_EFORMAT);
}

static void hex_word(char *out, const uint8_t w[32])
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", w[i]);
}

static void test_events(void)
{
    /* topic0 of every event = Keccak-256 of its signature */
    static const struct {
        const char *sig;
        int kind, n_topics, words;
    } sigs[] = {
        {"Deposit(bytes32,uint32,uint256)", EVM_EV_MIXER_DEPOSIT, 2, 2},
        {"Withdrawal(address,bytes32,address,uint256)", EVM_EV_MIXER_WITHDRAWAL, 2, 3},
        {"Deposit(uint256,string,uint256,address,uint256)", EVM_EV_BRIDGE_DEPOSIT, 1, 7},
        {"Deposit(address,address,uint256,string)", EVM_EV_ROUTER_DEPOSIT, 3, 4},
        {"TransferOut(address,address,address,uint256,string)", EVM_EV_ROUTER_TRANSFER_OUT, 3, 5}};
    char topics[67 * 3], data[2 + 64 * 8];
    evm_event ev;
    char text[EVM_EVENT_TEXT_MAX + 1];
    util_err err = {0};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        uint8_t h[32], w[32] = {0};
        crypto_keccak256(sigs[i].sig, strlen(sigs[i].sig), h);
        topics[0] = '0', topics[1] = 'x';
        hex_word(topics + 2, h);
        size_t tn = 66;
        for (int t = 1; t < sigs[i].n_topics; t++) {
            topics[tn++] = ',';
            topics[tn++] = '0', topics[tn++] = 'x';
            hex_word(topics + tn, w);
            tn += 64;
        }
        /* all-zero words: strings at offset 0 read their length from word 0 (zero): valid */
        data[0] = '0', data[1] = 'x';
        for (int k = 0; k < sigs[i].words; k++)
            hex_word(data + 2 + 64 * k, w);
        size_t dn = 2 + 64 * (size_t)sigs[i].words;
        int rc = evm_decode_event_log(topics, tn, data, dn, &ev, text, sizeof text, &err);
        if (rc != 1) fprintf(stderr, "%s: %d %s\n", sigs[i].sig, rc, err.msg);
        CHECK(rc == 1 && ev.kind == sigs[i].kind);
        /* one topic fewer: another event with the same signature, not ours */
        CHECK(evm_decode_event_log(topics, tn - 67 * (sigs[i].n_topics > 1), data, dn, &ev, text,
                                   sizeof text, &err) == (sigs[i].n_topics > 1 ? 0 : 1));
    }

    /* a TransferOut(vault, to, asset, amount, "OUT:ABC") by hand */
    const char *sig = "TransferOut(address,address,address,uint256,string)";
    uint8_t h[32], w[32];
    crypto_keccak256(sig, strlen(sig), h);
    size_t tn = 0;
    topics[tn++] = '0', topics[tn++] = 'x';
    hex_word(topics + tn, h), tn += 64;
    for (int t = 0; t < 2; t++) {
        memset(w, 0, 32);
        memset(w + 12, 0x11 * (t + 1), 20);
        topics[tn++] = ',', topics[tn++] = '0', topics[tn++] = 'x';
        hex_word(topics + tn, w), tn += 64;
    }
    size_t dn = 0;
    data[dn++] = '0', data[dn++] = 'x';
    memset(w, 0, 32), memset(w + 12, 0x33, 20); /* asset */
    hex_word(data + dn, w), dn += 64;
    memset(w, 0, 32), w[31] = 0x2a; /* amount 42 */
    hex_word(data + dn, w), dn += 64;
    memset(w, 0, 32), w[31] = 0x60; /* offset of the string */
    hex_word(data + dn, w), dn += 64;
    memset(w, 0, 32), w[31] = 7; /* length */
    hex_word(data + dn, w), dn += 64;
    memset(w, 0, 32), memcpy(w, "OUT:ABC", 7);
    hex_word(data + dn, w), dn += 64;
    CHECK(evm_decode_event_log(topics, tn, data, dn, &ev, text, sizeof text, &err) == 1);
    CHECK(ev.kind == EVM_EV_ROUTER_TRANSFER_OUT && ev.addr[0][0] == 0x11 &&
          ev.addr[1][19] == 0x22 && ev.addr[2][5] == 0x33 && ev.u[0].w[0] == 42 &&
          ev.text_len == 7);
    CHECK_STR(ev.text, "OUT:ABC");
    /* string length past the data */
    char bad[sizeof data];
    memcpy(bad, data, dn);
    bad[2 + 64 * 3 + 62] = 'f', bad[2 + 64 * 3 + 63] = 'f';
    CHECK(evm_decode_event_log(topics, tn, bad, dn, &ev, text, sizeof text, &err) == UTIL_EFORMAT);
    /* offset past the data */
    memcpy(bad, data, dn);
    bad[2 + 64 * 2 + 60] = 'f';
    CHECK(evm_decode_event_log(topics, tn, bad, dn, &ev, text, sizeof text, &err) == UTIL_EFORMAT);
    /* short data, odd hex, non-hex, a dirty address word */
    CHECK(evm_decode_event_log(topics, tn, data, 2 + 64 * 2, &ev, text, sizeof text, &err) ==
          UTIL_EFORMAT);
    CHECK(evm_decode_event_log(topics, tn, data, dn - 1, &ev, text, sizeof text, &err) ==
          UTIL_EFORMAT);
    memcpy(bad, data, dn);
    bad[10] = 'g';
    CHECK(evm_decode_event_log(topics, tn, bad, dn, &ev, text, sizeof text, &err) == UTIL_EFORMAT);
    memcpy(bad, data, dn);
    bad[2] = '1'; /* high byte of the asset word */
    CHECK(evm_decode_event_log(topics, tn, bad, dn, &ev, text, sizeof text, &err) == UTIL_EFORMAT);
    /* not an event of ours */
    CHECK(evm_decode_event_log("0x1234", 6, data, dn, &ev, text, sizeof text, &err) == 0);
}

/* The recorded scenario imported through the C interface: 26 events (10 mixer deposits, 7
 * withdrawals, 5 bridge deposits, 4 router deposits: truth.json's counts); a reorganisation
 * from block 9 keeps the 14 of blocks 4-8 (10 deposits in blocks 4 and 7, bridge nonces 0-3 in
 * block 8); importing again restores the same rows. */
static void test_event_store(void)
{
    char dir[] = "/tmp/test_xchain.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *names[] = {"blocks",          "transactions", "receipts", "logs",
                           "token_transfers", "traces",       "tokens"};
    char paths[7][256];
    const char *pp[7];
    for (int i = 0; i < 7; i++) {
        snprintf(paths[i], sizeof paths[i], "tests/data/evm-node-run/%s.csv", names[i]);
        pp[i] = paths[i];
    }
    evm_store *s = NULL;
    util_err err = {0};
    evm_import_result r;
    CHECK(evm_store_open(&s, dir, "eth", EVM_STORE_WRITE | EVM_STORE_CREATE, &err) == 0);
    CHECK(s && evm_import(s, pp, 7, NULL, &r, &err) == 0);
    CHECK(evm_store_has_events(s) && evm_store_event_count(s) == 26);
    int kinds[EVM_EVENT_KINDS] = {0};
    evm_event_row before[26], e;
    for (uint64_t i = 0; i < evm_store_event_count(s) && i < 26; i++) {
        CHECK(evm_store_event(s, i, &before[i], &err) == 0);
        kinds[before[i].kind]++;
    }
    CHECK(kinds[EVM_EV_MIXER_DEPOSIT] == 10 && kinds[EVM_EV_MIXER_WITHDRAWAL] == 7 &&
          kinds[EVM_EV_BRIDGE_DEPOSIT] == 5 && kinds[EVM_EV_ROUTER_DEPOSIT] == 4);
    CHECK(before[24].kind == EVM_EV_ROUTER_DEPOSIT &&
          !strcmp(before[24].text,
                  "=:BTC.BTC:bc1q6890qxshhfuwjkmuqlcshujy6fnw7krf3cyla2:97000000/1/0"));
    CHECK(before[25].kind == EVM_EV_BRIDGE_DEPOSIT && before[25].u[1].w[0] == 4 &&
          !strcmp(before[25].text, "bc1qv3gmtaal8rjtf4naf9euy868u70f5qzvj7ew8x"));
    CHECK(evm_store_truncate(s, 9, &err) == 0);
    CHECK(evm_store_event_count(s) == 14);
    CHECK(evm_store_event(s, 14, &e, &err) == UTIL_ENOTFOUND);
    CHECK(evm_import(s, pp, 7, NULL, &r, &err) == 0 && r.blocks_added == 4);
    CHECK(evm_store_event_count(s) == 26);
    for (uint64_t i = 0; i < 26; i++)
        CHECK(evm_store_event(s, i, &e, &err) == 0 && !memcmp(&e, &before[i], sizeof e));
    evm_store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_memos();
    test_events();
    test_event_store();
    return CHECK_DONE();
}
