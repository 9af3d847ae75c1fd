/* EIP-55, 256-bit integers and the CSV reader. */
#include <string.h>

#include "../crypto/crypto.h"
#include "evm.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void evm_addr_eip55(char out[43], const uint8_t addr[20])
{
    char lower[41];
    util_hex(lower, addr, 20);
    uint8_t h[32];
    crypto_keccak256(lower, 40, h);
    out[0] = '0', out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        int nib = i % 2 ? h[i / 2] & 15 : h[i / 2] >> 4;
        char c = lower[i];
        out[2 + i] = (c >= 'a' && nib >= 8) ? (char)(c - 32) : c;
    }
    out[42] = 0;
}

static int parse_hex_bytes(uint8_t *out, size_t nbytes, const char *s, size_t n, const char *what,
                           util_err *err)
{
    if (n != 2 + 2 * nbytes || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return util_errf(err, UTIL_EFORMAT, "%s must be 0x and %zu hex digits", what, 2 * nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hexval((unsigned char)s[2 + 2 * i]), lo = hexval((unsigned char)s[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return util_errf(err, UTIL_EFORMAT, "%s has a non-hex character at position %zu", what,
                             2 + 2 * i + (hi >= 0));
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int evm_addr_parse(uint8_t out[20], const char *s, size_t n, util_err *err)
{
    int rc = parse_hex_bytes(out, 20, s, n, "address", err);
    if (rc) return rc;
    int upper = 0, lower = 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] >= 'a' && s[i] <= 'f') lower = 1;
        if (s[i] >= 'A' && s[i] <= 'F') upper = 1;
    }
    if (upper && lower) {
        char want[43];
        evm_addr_eip55(want, out);
        if (memcmp(want + 2, s + 2, 40))
            return util_errf(err, UTIL_EFORMAT,
                             "address has mixed case but not its EIP-55 checksum (%s)", want);
    }
    return 0;
}

int evm_hash_parse(uint8_t out[32], const char *s, size_t n, util_err *err)
{
    return parse_hex_bytes(out, 32, s, n, "hash", err);
}

void evm_hash_hex(char out[67], const uint8_t h[32])
{
    out[0] = '0', out[1] = 'x';
    util_hex(out + 2, h, 32);
}

/* ---- u256 ---- */

int evm_u256_add(evm_u256 *r, const evm_u256 *a, const evm_u256 *b)
{
    unsigned __int128 carry = 0;
    evm_u256 t;
    for (int i = 0; i < 4; i++) {
        carry += (unsigned __int128)a->w[i] + b->w[i];
        t.w[i] = (uint64_t)carry;
        carry >>= 64;
    }
    *r = t;
    return carry ? -1 : 0;
}

int evm_u256_sub(evm_u256 *r, const evm_u256 *a, const evm_u256 *b)
{
    uint64_t borrow = 0;
    evm_u256 t;
    for (int i = 0; i < 4; i++) {
        uint64_t x = a->w[i], y = b->w[i];
        t.w[i] = x - y - borrow;
        borrow = (x < y) || (x - y < borrow);
    }
    *r = t;
    return borrow ? -1 : 0;
}

int evm_u256_mul64(evm_u256 *r, const evm_u256 *a, uint64_t m)
{
    unsigned __int128 carry = 0;
    evm_u256 t;
    for (int i = 0; i < 4; i++) {
        carry += (unsigned __int128)a->w[i] * m;
        t.w[i] = (uint64_t)carry;
        carry >>= 64;
    }
    *r = t;
    return carry ? -1 : 0;
}

int evm_u256_cmp(const evm_u256 *a, const evm_u256 *b)
{
    for (int i = 3; i >= 0; i--)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

void evm_u256_load(evm_u256 *v, const uint8_t p[32])
{
    for (int i = 0; i < 4; i++)
        v->w[i] = util_le64(p + 8 * i);
}

void evm_u256_store(uint8_t p[32], const evm_u256 *v)
{
    for (int i = 0; i < 4; i++)
        util_put_le64(p + 8 * i, v->w[i]);
}

int evm_u256_parse(evm_u256 *out, const char *s, size_t n, util_err *err)
{
    memset(out, 0, sizeof *out);
    if (!n) return util_errf(err, UTIL_EFORMAT, "empty where a number is required");
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        size_t i = 2;
        while (i < n && s[i] == '0')
            i++;
        if (n - i > 64) return util_errf(err, UTIL_EFORMAT, "'%.*s' exceeds 2^256-1", (int)n, s);
        for (; i < n; i++) {
            int v = hexval((unsigned char)s[i]);
            if (v < 0)
                return util_errf(err, UTIL_EFORMAT, "'%.*s' is not a hex number",
                                 (int)(n < 80 ? n : 80), s);
            size_t bit = 4 * (n - 1 - i);
            out->w[bit / 64] |= (uint64_t)v << (bit % 64);
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return util_errf(err, UTIL_EFORMAT, "'%.*s' is not a decimal number",
                             (int)(n < 80 ? n : 80), s);
        evm_u256 d = {{(uint64_t)(s[i] - '0'), 0, 0, 0}};
        if (evm_u256_mul64(out, out, 10) || evm_u256_add(out, out, &d))
            return util_errf(err, UTIL_EFORMAT, "'%.*s' exceeds 2^256-1", (int)(n < 100 ? n : 100),
                             s);
    }
    return 0;
}

void evm_u256_format(char out[EVM_U256_DEC_MAX], const evm_u256 *v)
{
    char tmp[EVM_U256_DEC_MAX];
    size_t k = 0;
    evm_u256 x = *v;
    do {
        /* divide by 10 limb by limb, high to low, keeping the remainder */
        unsigned __int128 rem = 0;
        for (int i = 3; i >= 0; i--) {
            unsigned __int128 cur = rem << 64 | x.w[i];
            x.w[i] = (uint64_t)(cur / 10);
            rem = cur % 10;
        }
        tmp[k++] = (char)('0' + (int)rem);
    } while (!evm_u256_is_zero(&x));
    for (size_t i = 0; i < k; i++)
        out[i] = tmp[k - 1 - i];
    out[k] = 0;
}

/* ---- CSV ---- */

void evm_csv_init(evm_csv *c, const char *name, const char *data, size_t len)
{
    memset(c, 0, sizeof *c);
    c->name = name, c->data = data, c->len = len, c->next_line = 1;
}

void evm_csv_free(evm_csv *c)
{
    util_buf_free(&c->scratch);
}

int evm_csv_next(evm_csv *c, util_err *err)
{
    c->nf = 0;
    c->line = c->next_line;
    if (c->pos >= c->len) return 0;
    c->scratch.len = 0;
    /* offsets into scratch, turned into pointers once the row is complete (it may move) */
    size_t soff[EVM_CSV_MAX_FIELDS];
    int quoted[EVM_CSV_MAX_FIELDS];
    const char *d = c->data;
    for (;;) {
        if (c->nf == EVM_CSV_MAX_FIELDS)
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: more than %d fields", c->name,
                             (unsigned long long)c->line, EVM_CSV_MAX_FIELDS);
        size_t k = c->nf++;
        quoted[k] = 0;
        if (c->pos < c->len && d[c->pos] == '"') {
            quoted[k] = 1;
            soff[k] = c->scratch.len;
            c->pos++;
            for (;;) {
                if (c->pos >= c->len)
                    return util_errf(err, UTIL_EFORMAT, "%s:%llu: field %zu: unterminated quote",
                                     c->name, (unsigned long long)c->line, k + 1);
                char ch = d[c->pos++];
                if (ch == '"') {
                    if (c->pos < c->len && d[c->pos] == '"') {
                        c->pos++;
                    } else {
                        break;
                    }
                } else if (ch == '\n') {
                    c->next_line++;
                } else if (ch == 0) {
                    return util_errf(err, UTIL_EFORMAT, "%s:%llu: field %zu: NUL byte", c->name,
                                     (unsigned long long)c->line, k + 1);
                }
                if (util_buf_append(&c->scratch, &ch, 1))
                    return util_errf(err, UTIL_ENOMEM, "out of memory");
            }
            c->flen[k] = c->scratch.len - soff[k];
            if (c->pos < c->len && d[c->pos] != ',' && d[c->pos] != '\n' && d[c->pos] != '\r')
                return util_errf(err, UTIL_EFORMAT, "%s:%llu: field %zu: text after closing quote",
                                 c->name, (unsigned long long)c->line, k + 1);
        } else {
            size_t start = c->pos;
            while (c->pos < c->len && d[c->pos] != ',' && d[c->pos] != '\n' && d[c->pos] != '\r') {
                if (d[c->pos] == 0)
                    return util_errf(err, UTIL_EFORMAT, "%s:%llu: field %zu: NUL byte", c->name,
                                     (unsigned long long)c->line, k + 1);
                if (d[c->pos] == '"')
                    return util_errf(err, UTIL_EFORMAT,
                                     "%s:%llu: field %zu: quote inside an unquoted field", c->name,
                                     (unsigned long long)c->line, k + 1);
                c->pos++;
            }
            c->f[k] = d + start;
            c->flen[k] = c->pos - start;
        }
        if (c->pos < c->len && d[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->pos < c->len && d[c->pos] == '\r') c->pos++;
        if (c->pos < c->len && d[c->pos] == '\n') {
            c->pos++;
        } else if (c->pos < c->len) {
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: field %zu: carriage return inside a row",
                             c->name, (unsigned long long)c->line, k + 1);
        }
        c->next_line++;
        break;
    }
    for (size_t k = 0; k < c->nf; k++)
        if (quoted[k]) c->f[k] = c->scratch.data ? (const char *)c->scratch.data + soff[k] : "";
    return 1;
}

const char *evm_xfer_kind_name(int kind)
{
    static const char *const names[EVM_XFER_KINDS] = {"?",      "tx",         "internal", "erc20",
                                                      "reward", "withdrawal", "fee"};
    return kind > 0 && kind < EVM_XFER_KINDS ? names[kind] : "?";
}
