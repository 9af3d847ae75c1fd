/* Decoding logs: ERC-20 Transfer logs and the protocol events (mixers, bridges, routers). */
#include <string.h>

#include "evm.h"

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
