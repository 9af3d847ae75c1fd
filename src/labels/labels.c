/* labels: the label set, its file (DIR/labels.db), look-ups, lists and the vocabulary. The
 * parsers of the import formats are in labels_import.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "labels_int.h"

struct labels_db {
    char dir[4096];
    char path[4200];
    int lock_fd;
    labels_vec set; /* sorted by (chain, address, source, category), keys unique */
};

/* The string fields in file order; confidence follows them. */
static const size_t str_off[] = {
    offsetof(labels_label, chain),      offsetof(labels_label, address),
    offsetof(labels_label, category),   offsetof(labels_label, actor),
    offsetof(labels_label, name),       offsetof(labels_label, source),
    offsetof(labels_label, url),        offsetof(labels_label, programs),
    offsetof(labels_label, first_seen), offsetof(labels_label, last_seen),
    offsetof(labels_label, updated)};
static const char *const str_names[] = {"chain",      "address",   "category", "actor",
                                        "name",       "source",    "url",      "programs",
                                        "first_seen", "last_seen", "updated"};
#define NSTR (sizeof str_off / sizeof *str_off)
#define FIELD(l, i) (*(char **)((char *)(l) + str_off[i]))
#define CFIELD(l, i) (*(char *const *)((const char *)(l) + str_off[i]))

void labels_label_free(labels_label *l)
{
    for (size_t i = 0; i < NSTR; i++) {
        free(FIELD(l, i));
        FIELD(l, i) = NULL;
    }
}

void labels_vec_free(labels_vec *lv)
{
    for (size_t i = 0; i < lv->n; i++)
        labels_label_free(&lv->v[i]);
    free(lv->v);
    memset(lv, 0, sizeof *lv);
}

static int vec_push(labels_vec *lv, const labels_label *l)
{
    if (lv->n == lv->cap) {
        size_t cap = lv->cap ? lv->cap * 2 : 64;
        labels_label *v = realloc(lv->v, cap * sizeof *v);
        if (!v) return UTIL_ENOMEM;
        lv->v = v, lv->cap = cap;
    }
    lv->v[lv->n++] = *l;
    return 0;
}

int labels_contains_ci(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80) return 1;
    size_t len = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
                 : (p[0] & 0xf0) == 0xe0        ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                                : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return len;
}

/* Offset of the first byte that is not valid UTF-8, or n. */
static size_t utf8_check(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;
    while (i < n && (k = utf8_seq(p + i, n - i)))
        i += k;
    return i;
}

/* ---------------- terminal safety ---------------- */

/* The character at p (n > 0 bytes left): its length in *len and what a terminal makes of it:
 * 0 plain text, 1 a C0 control or DEL (*cp its byte), 2 a C1 or bidi control (*cp its code
 * point), 3 a byte that is not UTF-8 (*cp the byte). */
static int char_kind(const unsigned char *p, size_t n, size_t *len, unsigned *cp)
{
    size_t k = utf8_seq(p, n);
    *len = k ? k : 1;
    *cp = p[0];
    if (!k) return 3;
    if (k == 1) return p[0] < 0x20 || p[0] == 0x7f ? 1 : 0;
    if (k == 2) {
        *cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
        return *cp < 0xa0 ? 2 : 0;
    }
    if (k == 3) {
        *cp = (unsigned)(p[0] & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return (*cp >= 0x202a && *cp <= 0x202e) || (*cp >= 0x2066 && *cp <= 0x2069) ? 2 : 0;
    }
    return 0;
}

size_t labels_text_check(const char *s, size_t n, int multiline, char what[48])
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len;
        unsigned cp;
        int kind = char_kind(p + i, n - i, &len, &cp);
        if (kind == 1 && multiline && (cp == '\t' || cp == '\n')) kind = 0;
        if (kind) {
            if (what)
                snprintf(what, 48,
                         kind == 1 ? "control character 0x%02x"
                         : kind == 2
                             ? (cp < 0xa0 ? "C1 control character U+%04X" : "bidi control U+%04X")
                             : "byte 0x%02x that is not UTF-8",
                         cp);
            return i;
        }
        i += len;
    }
    return n;
}

const char *labels_text_escape(char *buf, size_t cap, const char *s)
{
    if (!s) return "";
    size_t n = strlen(s);
    if (labels_text_check(s, n, 0, NULL) == n) return s;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        unsigned cp;
        int kind = char_kind(p + i, n - i, &len, &cp);
        char piece[16];
        int k = kind == 0   ? (int)len
                : kind == 2 ? snprintf(piece, sizeof piece, "\\u{%04x}", cp)
                            : snprintf(piece, sizeof piece, "\\x%02x", cp);
        if (o + (size_t)k + 4 > cap) { /* room for "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, kind ? piece : s + i, (size_t)k);
        o += (size_t)k;
        i += len;
    }
    buf[o] = 0;
    return buf;
}

/* ---------------- ordering ---------------- */

static int cmp_addr(const labels_label *a, const char *chain, const char *address)
{
    int c = strcmp(a->chain, chain);
    return c ? c : strcmp(a->address, address);
}

static int cmp_key(const labels_label *a, const labels_label *b)
{
    int c = cmp_addr(a, b->chain, b->address);
    if (!c) c = strcmp(a->source, b->source);
    if (!c) c = strcmp(a->category, b->category);
    return c;
}

/* ---------------- vocabulary ---------------- */

int labels_chain_from_currency(char out[32], const char *currency, util_err *err)
{
    while (isspace((unsigned char)*currency))
        currency++;
    size_t n = strlen(currency);
    while (n && isspace((unsigned char)currency[n - 1]))
        n--;
    if (!n) return util_errf(err, UTIL_EINVAL, "empty currency");
    if (n > 31) return util_errf(err, UTIL_EINVAL, "currency of %zu bytes: too long", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)currency[i];
        if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.') {
            char shown[96], esc[LABELS_ESC_BUF];
            snprintf(shown, sizeof shown, "%.*s", (int)(n < 40 ? n : 40), currency);
            return util_errf(err, UTIL_EINVAL, "currency '%s': unexpected character",
                             labels_text_escape(esc, sizeof esc, shown));
        }
        out[i] = (char)tolower(ch);
    }
    out[n] = 0;
    if (!strcmp(out, "xbt")) strcpy(out, "btc");
    return 0;
}

int labels_canon_address(char out[128], const char *chain, const char *address, util_err *err)
{
    size_t n = strlen(address);
    if (!n) return util_errf(err, UTIL_EINVAL, "empty address");
    if (n > 127) return util_errf(err, UTIL_EINVAL, "address of %zu bytes: too long", n);
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)address[i])) {
            char esc[LABELS_ESC_BUF];
            return util_errf(err, UTIL_EINVAL, "address '%s': space or control character",
                             labels_text_escape(esc, sizeof esc, address));
        }
    if (!strcmp(chain, "btc")) {
        btc_addr a;
        int rc = btc_addr_decode(&a, address, err);
        if (rc) return rc;
        btc_addr_encode(out, &a);
        return 0;
    }
    if (address[0] == '0' && (address[1] == 'x' || address[1] == 'X')) {
        /* EVM chains: 20-byte hex accounts, compared lowercased (EIP-55 mixed case is only a
         * checksum). Other chains with 0x hex addresses (Aptos, Aion: 32 bytes) are lowercased
         * too; 0x strings that are not hex are kept as given there. */
        static const char *const evm[] = {"eth",     "etc",  "bsc", "bep20", "arb",  "matic",
                                          "polygon", "avax", "ftm", "op",    "base", "usdc"};
        int is_evm = 0, hex = n > 2;
        for (size_t i = 0; i < sizeof evm / sizeof *evm; i++)
            is_evm |= !strcmp(chain, evm[i]);
        for (size_t i = 2; i < n; i++)
            hex &= isxdigit((unsigned char)address[i]) != 0;
        if (is_evm && (n != 42 || !hex))
            return util_errf(err, UTIL_EINVAL,
                             "address '%s': not an account address (0x and 40 hex digits)",
                             address);
        if (hex) {
            for (size_t i = 0; i <= n; i++)
                out[i] = (char)tolower((unsigned char)address[i]);
            return 0;
        }
    }
    memcpy(out, address, n + 1);
    return 0;
}

void labels_category_map(char out[64], const char *word)
{
    static const char *const map[][2] = {
        {"sanction", "sanctioned"},
        {"sanctions", "sanctioned"},
        {"ofac", "sanctioned"},
        {"sdn", "sanctioned"},
        {"mixing_service", "mixer"},
        {"mixing", "mixer"},
        {"coinjoin", "mixer"},
        {"tumbler", "mixer"},
        {"defi_bridge", "bridge"},
        {"cross_chain_bridge", "bridge"},
        {"defi_dex", "swap"},
        {"dex", "swap"},
        {"instant_exchange", "swap"},
        {"defi_lending", "defi"},
        {"defi_amm", "defi"},
        {"otc_broker", "otc"},
        {"market", "darknet"},
        {"darknet_market", "darknet"},
        {"darkweb", "darknet"},
        {"mining_service", "miner"},
        {"mining_pool", "miner"},
        {"mining", "miner"},
        {"service_hack", "theft"},
        {"hack", "theft"},
        {"hacker", "theft"},
        {"stolen", "theft"},
        {"exploit", "theft"},
        {"ponzi_scheme", "scam"},
        {"phishing", "scam"},
        {"sextortion", "scam"},
        {"honey_pot", "scam"},
        {"investment_scam", "scam"},
        {"scamming", "scam"},
        {"fraud", "scam"},
        {"gambling_service", "gambling"},
        {"casino", "gambling"},
        {"terrorist_financing", "terrorism"},
    };
    size_t n = 0;
    while (isspace((unsigned char)*word))
        word++;
    for (; word[n] && n < 63; n++)
        out[n] = (char)tolower((unsigned char)word[n]);
    while (n && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] == ' ' || out[i] == '-') out[i] = '_';
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(out, map[i][0])) {
            snprintf(out, 64, "%s", map[i][1]);
            return;
        }
}

int labels_confidence_from_name(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"ownership", 100},         {"authority_data", 100}, {"service_data", 90},
                 {"manual_transaction", 80}, {"forensic", 70},        {"heuristic", 50},
                 {"web_crawl", 40},          {"unknown", 20}};
    while (isspace((unsigned char)*name))
        name++;
    if (isdigit((unsigned char)*name)) {
        char *end;
        errno = 0;
        long v = strtol(name, &end, 10);
        if (*end == '.' && v <= 1) {
            /* A fraction 0.0..1.0, as many sources (and `cointrail generate`) write it: in
             * percent, rounded. Exactly the digits are read, no locale or float parsing. */
            long num = 0, den = 1;
            for (end++; isdigit((unsigned char)*end) && den < 1000000; end++)
                num = num * 10 + (*end - '0'), den *= 10;
            long pct = v * 100 + (num * 100 + den / 2) / den;
            while (isspace((unsigned char)*end))
                end++;
            if (*end || pct > 100) return -1;
            return (int)pct;
        }
        while (isspace((unsigned char)*end))
            end++;
        if (errno || *end || v < 0 || v > 100) return -1;
        return (int)v;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcasecmp(name, names[i].name)) return names[i].level;
    return -1;
}

const char *labels_format_name(labels_format f)
{
    switch (f) {
    case LABELS_FMT_OFAC_XML:
        return "ofac-xml";
    case LABELS_FMT_OFAC_LIST:
        return "ofac-list";
    case LABELS_FMT_TAGPACK:
        return "tagpack";
    case LABELS_FMT_CSV:
        return "csv";
    default:
        return "auto";
    }
}

int labels_format_parse(const char *name)
{
    for (int f = LABELS_FMT_AUTO; f <= LABELS_FMT_CSV; f++)
        if (!strcmp(name, labels_format_name((labels_format)f))) return f;
    return -1;
}

/* ---------------- the file ---------------- */

/* Text fields are written with \\, \t, \n and \r escaped, so a label is one line. */
static int put_escaped(util_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '\\'   ? "\\\\"
                        : *s == '\t' ? "\\t"
                        : *s == '\n' ? "\\n"
                        : *s == '\r' ? "\\r"
                                     : NULL;
        if (util_buf_append(b, e ? e : s, e ? 2 : 1)) return UTIL_ENOMEM;
    }
    return 0;
}

static const char db_magic[] = "cointrail-labels";

static int serialise(const labels_vec *set, util_buf *b)
{
    if (util_buf_printf(b, "%s\t%d\t%zu\n", db_magic, LABELS_FORMAT_VERSION, set->n))
        return UTIL_ENOMEM;
    for (size_t i = 0; i < NSTR; i++)
        if (util_buf_printf(b, "%s\t", str_names[i])) return UTIL_ENOMEM;
    if (util_buf_printf(b, "confidence\n")) return UTIL_ENOMEM;
    for (size_t k = 0; k < set->n; k++) {
        const labels_label *l = &set->v[k];
        for (size_t i = 0; i < NSTR; i++)
            if (put_escaped(b, CFIELD(l, i)) || util_buf_append(b, "\t", 1)) return UTIL_ENOMEM;
        if (util_buf_printf(b, "%d\n", l->confidence)) return UTIL_ENOMEM;
    }
    return 0;
}

/* Unescape one field of line (ending at tab or end) into a new string; *p advances past it. */
static char *take_field(const char **p, const char *end, int *bad)
{
    const char *s = *p;
    size_t n = 0;
    char *out = malloc((size_t)(end - s) + 1);
    if (!out) return NULL;
    while (s < end && *s != '\t') {
        if (*s == '\\') {
            if (s + 1 >= end) {
                *bad = 1;
                break;
            }
            char c = s[1];
            out[n++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '\\' ? '\\' : 0;
            if (!out[n - 1]) *bad = 1;
            s += 2;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = 0;
    *p = s;
    return out;
}

static int load(labels_db *db, util_err *err)
{
    uint8_t *data;
    size_t len;
    if (access(db->path, F_OK) != 0) return 0; /* no labels yet */
    int rc = util_read_file(db->path, &data, &len, err);
    if (rc) return rc;
    const char *p = (const char *)data, *end = p + len;
    long line = 0;
    size_t want = 0;
    rc = 0;
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: line not terminated", db->path, line + 1);
            break;
        }
        line++;
        if (line == 1) {
            char head[64];
            int ver;
            snprintf(head, sizeof head, "%.*s", (int)(nl - p), p);
            if (sscanf(head, "cointrail-labels\t%d\t%zu", &ver, &want) != 2 ||
                strncmp(head, db_magic, sizeof db_magic - 1))
                rc = util_errf(err, UTIL_ECORRUPT, "%s:1: not a cointrail labels file", db->path);
            else if (ver != LABELS_FORMAT_VERSION)
                rc = util_errf(err, UTIL_ECORRUPT,
                               "%s:1: labels format version %d, this cointrail reads %d", db->path,
                               ver, LABELS_FORMAT_VERSION);
        } else if (line == 2) {
            /* the column names: informative only */
        } else {
            labels_label l = {0};
            int bad = 0;
            const char *q = p;
            for (size_t i = 0; i < NSTR && !bad; i++) {
                FIELD(&l, i) = take_field(&q, nl, &bad);
                if (!FIELD(&l, i)) {
                    bad = 2;
                    break;
                }
                if (q >= nl)
                    bad = 1;
                else
                    q++;
            }
            char *e = NULL;
            long conf = bad ? -1 : strtol(q, &e, 10);
            if (bad == 2)
                rc = util_errf(err, UTIL_ENOMEM, "out of memory reading %s", db->path);
            else if (bad || e != nl || conf < 0 || conf > 100 || !*l.chain || !*l.address)
                rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: malformed label line", db->path, line);
            else if (db->set.n && cmp_key(&db->set.v[db->set.n - 1], &l) >= 0)
                rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: labels out of order", db->path, line);
            l.confidence = (int)conf;
            if (!rc && vec_push(&db->set, &l))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory reading %s", db->path);
            if (rc) labels_label_free(&l);
        }
        p = nl + 1;
    }
    if (!rc && line < 2) rc = util_errf(err, UTIL_ECORRUPT, "%s: truncated header", db->path);
    if (!rc && db->set.n != want)
        rc = util_errf(err, UTIL_ECORRUPT, "%s: %zu labels, header says %zu", db->path, db->set.n,
                       want);
    free(data);
    return rc;
}

int labels_db_open(labels_db **out, const char *store_dir, unsigned flags, util_err *err)
{
    *out = NULL;
    labels_db *db = calloc(1, sizeof *db);
    if (!db) return util_errf(err, UTIL_ENOMEM, "out of memory");
    db->lock_fd = -1;
    snprintf(db->dir, sizeof db->dir, "%s", store_dir);
    snprintf(db->path, sizeof db->path, "%s/%s", store_dir, LABELS_FILE);
    int rc = 0;
    if (flags & LABELS_WRITE) {
        struct stat st;
        if (stat(store_dir, &st) != 0 && mkdir(store_dir, 0755) != 0 && errno != EEXIST) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot create: %s", store_dir, strerror(errno));
            goto fail;
        }
        char lock[4200];
        snprintf(lock, sizeof lock, "%s/labels.lock", store_dir);
        db->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (db->lock_fd < 0) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot open: %s", lock, strerror(errno));
            goto fail;
        }
        if (flock(db->lock_fd, LOCK_EX | LOCK_NB) < 0) {
            rc = util_errf(err, UTIL_EBUSY,
                           "%s: another cointrail process is importing labels; try again when "
                           "it is done",
                           lock);
            goto fail;
        }
    }
    if ((rc = load(db, err))) goto fail;
    *out = db;
    return 0;
fail:
    labels_db_close(db);
    return rc;
}

void labels_db_close(labels_db *db)
{
    if (!db) return;
    labels_vec_free(&db->set);
    if (db->lock_fd >= 0) close(db->lock_fd);
    free(db);
}

int labels_db_save(labels_db *db, util_err *err)
{
    struct stat st;
    if (stat(db->dir, &st) != 0 && mkdir(db->dir, 0755) != 0 && errno != EEXIST)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", db->dir, strerror(errno));
    util_buf b = {0};
    int rc = serialise(&db->set, &b);
    if (rc)
        rc = util_errf(err, UTIL_ENOMEM, "out of memory writing %s", db->path);
    else
        rc = util_replace_file(db->path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

size_t labels_db_count(const labels_db *db)
{
    return db->set.n;
}

const labels_label *labels_db_get(const labels_db *db, size_t i)
{
    return i < db->set.n ? &db->set.v[i] : NULL;
}

/* ---------------- import: merge ---------------- */

void labels_import_result_free(labels_import_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    memset(r, 0, sizeof *r);
}

void labels_ctx_warn(labels_ctx *c, long line, const char *fmt, ...)
{
    labels_import_result *r = c->res;
    if (r->n_warnings >= LABELS_MAX_WARNINGS) return;
    char msg[900];
    int off = line > 0 ? snprintf(msg, sizeof msg, "%s:%ld: ", c->path, line)
                       : snprintf(msg, sizeof msg, "%s: ", c->path);
    if (off < 0 || (size_t)off >= sizeof msg) off = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
    va_end(ap);
    char **w = realloc(r->warnings, (r->n_warnings + 1) * sizeof *w);
    if (!w) return;
    r->warnings = w;
    if ((w[r->n_warnings] = strdup(msg))) r->n_warnings++;
}

static char *dup_trim(const char *s)
{
    if (!s) s = "";
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

int labels_ctx_check(labels_ctx *c, long line, const char *field, const char *s, size_t n,
                     size_t max, int multiline)
{
    char where[4300], what[48];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%ld", c->path, line);
    else
        snprintf(where, sizeof where, "%s", c->path);
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n > max)
        return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: %zu bytes, over the limit of %zu",
                         where, field, n, max);
    size_t at = labels_text_check(s, n, multiline, what);
    if (at < n)
        return util_errf(c->err, UTIL_EFORMAT,
                         "%s: field %s: %s at byte %zu (label text may not carry terminal "
                         "control characters)",
                         where, field, what, at + 1);
    return 0;
}

int labels_ctx_add(labels_ctx *c, long line, const labels_raw *r)
{
    char where[4300];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%ld", c->path, line);
    else
        snprintf(where, sizeof where, "%s", c->path);
    /* The parsers check their fields under their own names; this catches the rest (OFAC XML
     * names, --source) before any message quotes a value. */
    const char *const text[] = {r->currency,   r->address,   r->category, r->actor,
                                r->name,       r->source,    r->url,      r->programs,
                                r->first_seen, r->last_seen, r->updated,  c->opts->source};
    const char *const tname[] = {c->chain_field, "address",   "category", "actor",
                                 "name",         "source",    "url",      "programs",
                                 "first_seen",   "last_seen", "updated",  "source"};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
        if (!text[i]) continue;
        int free_text = i >= 3 && i <= 5;
        int rc = labels_ctx_check(c, line, tname[i], text[i], strlen(text[i]),
                                  i == 2 ? LABELS_MAX_CATEGORY : LABELS_MAX_TEXT, free_text);
        if (rc) return rc;
    }
    const char *cur = r->currency && *r->currency ? r->currency : c->opts->chain;
    if (!cur || !*cur)
        return util_errf(c->err, UTIL_EFORMAT,
                         "%s: field %s: missing (the file does not say the chain; give --chain)",
                         where, c->chain_field);
    char chain[32], addr[128];
    util_err e = {0};
    if (labels_chain_from_currency(chain, cur, &e))
        return util_errf(c->err, UTIL_EFORMAT, "%s: field %s: %s", where, c->chain_field, e.msg);
    char *a = dup_trim(r->address);
    if (!a) return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    if (!*a) {
        free(a);
        return util_errf(c->err, UTIL_EFORMAT, "%s: field address: missing or empty", where);
    }
    int rc = labels_canon_address(addr, chain, a, &e);
    free(a);
    if (rc) {
        c->res->n_rejected++;
        if (c->opts->strict)
            return util_errf(c->err, UTIL_EFORMAT, "%s: field address: %s (chain %s)", where, e.msg,
                             chain);
        labels_ctx_warn(c, line, "field address: %s (chain %s): rejected", e.msg, chain);
        return 0;
    }
    labels_label l = {0};
    const char *src[NSTR] = {
        chain,        addr,        r->category,
        r->actor,     r->name,     c->opts->source ? c->opts->source : r->source,
        r->url,       r->programs, r->first_seen,
        r->last_seen, r->updated};
    int oom = 0;
    for (size_t i = 0; i < NSTR; i++)
        if (!(FIELD(&l, i) = dup_trim(src[i]))) oom = 1;
    if (!oom && !*l.category) {
        free(l.category);
        oom = !(l.category = strdup("unknown"));
    }
    l.confidence = r->confidence;
    if (oom || vec_push(&c->out, &l)) {
        labels_label_free(&l);
        return util_errf(c->err, UTIL_ENOMEM, "out of memory");
    }
    c->res->n_read++;
    return 0;
}

typedef struct seq_label {
    labels_label l;
    size_t seq;
} seq_label;

static int cmp_seq(const void *a, const void *b)
{
    const seq_label *x = a, *y = b;
    int c = cmp_key(&x->l, &y->l);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int bsearch_key(const labels_vec *set, const labels_label *k, size_t *pos)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(&set->v[mid], k);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return lo < set->n && cmp_key(&set->v[lo], k) == 0;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The name of a key that one file gives m times (labels in[0..m), oldest first): its distinct
 * non-empty names in order, joined with "; ", at most LABELS_MAX_NAMES of them and then
 * "; +N more". Each name is looked up once in a hash set (slots, at least 2m entries, scratch),
 * so a key repeated 400,000 times costs linear time. A new string, or NULL if out of memory. */
static char *join_names(const seq_label *in, size_t m, size_t *slots, size_t nslots)
{
    memset(slots, 0, nslots * sizeof *slots); /* 0 empty, else index + 1 */
    util_buf b = {0};
    size_t kept = 0, more = 0;
    for (size_t i = 0; i < m; i++) {
        const char *name = in[i].l.name;
        if (!*name) continue;
        size_t h = (size_t)name_hash(name) & (nslots - 1);
        while (slots[h] && strcmp(in[slots[h] - 1].l.name, name))
            h = (h + 1) & (nslots - 1);
        if (slots[h]) continue; /* seen */
        slots[h] = i + 1;
        if (kept == LABELS_MAX_NAMES) {
            more++;
            continue;
        }
        if ((kept && util_buf_append(&b, "; ", 2)) || util_buf_append(&b, name, strlen(name)))
            goto oom;
        kept++;
    }
    if (more && util_buf_printf(&b, "; +%zu more", more)) goto oom;
    char *out = strndup(b.len ? (const char *)b.data : "", b.len);
    util_buf_free(&b);
    return out;
oom:
    util_buf_free(&b);
    return NULL;
}

/* Merge the parsed labels into the set: the newest of each key wins. Takes the strings of
 * in (in is emptied). Only fails for memory, and then leaves the set unchanged. */
static int merge(labels_vec *set, labels_vec *in, util_err *err)
{
    size_t total = set->n + in->n;
    seq_label *all = malloc((total ? total : 1) * sizeof *all);
    labels_label *merged = malloc((total ? total : 1) * sizeof *merged);
    size_t *slots = NULL, nslots = 0;
    if (!all || !merged) goto oom;
    for (size_t i = 0; i < set->n; i++)
        all[i] = (seq_label){set->v[i], i};
    for (size_t i = 0; i < in->n; i++)
        all[set->n + i] = (seq_label){in->v[i], set->n + i};
    qsort(all, total, sizeof *all, cmp_seq);
    /* Pass 1: the joined names of keys the file repeats, before anything is freed, so that
     * running out of memory leaves the set as it was. */
    char **joined = calloc(total ? total : 1, sizeof *joined);
    if (!joined) goto oom;
    for (size_t i = 0, j; i < total; i = j) {
        for (j = i + 1; j < total && cmp_key(&all[i].l, &all[j].l) == 0;)
            j++;
        size_t f = i; /* the run's first label from the file (older copies come first) */
        while (f < j && all[f].seq < set->n)
            f++;
        if (j - f < 2) continue;
        size_t want = 4;
        while (want < 2 * (j - f))
            want *= 2;
        if (want > nslots) {
            size_t *ns = realloc(slots, want * sizeof *ns);
            if (!ns) goto oom_joined;
            slots = ns, nslots = want;
        }
        if (!(joined[j - 1] = join_names(all + f, j - f, slots, want))) goto oom_joined;
    }
    /* Pass 2: keep the newest label of each key. */
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        if (i + 1 < total && cmp_key(&all[i].l, &all[i + 1].l) == 0) {
            labels_label_free(&all[i].l); /* an older copy of this key */
            continue;
        }
        if (joined[i]) {
            free(all[i].l.name);
            all[i].l.name = joined[i];
        }
        merged[n++] = all[i].l;
    }
    free(joined);
    free(slots);
    free(all);
    free(set->v);
    set->v = merged;
    set->n = n;
    set->cap = total ? total : 1;
    free(in->v);
    memset(in, 0, sizeof *in);
    return 0;
oom_joined:
    for (size_t i = 0; i < total; i++)
        free(joined[i]);
    free(joined);
oom:
    free(slots);
    free(all);
    free(merged);
    return util_errf(err, UTIL_ENOMEM, "out of memory merging labels");
}

static int same_key_qsort(const void *a, const void *b)
{
    return cmp_key(*(const labels_label *const *)a, *(const labels_label *const *)b);
}

/* How many distinct keys of in are new to set; the rest replace (or repeat) a key. */
static int count_added(const labels_vec *set, const labels_vec *in, labels_import_result *res)
{
    if (!in->n) return 0;
    const labels_label **p = malloc(in->n * sizeof *p);
    if (!p) return UTIL_ENOMEM;
    for (size_t i = 0; i < in->n; i++)
        p[i] = &in->v[i];
    qsort(p, in->n, sizeof *p, same_key_qsort);
    size_t added = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (i && cmp_key(p[i - 1], p[i]) == 0) continue;
        size_t pos;
        if (!bsearch_key(set, p[i], &pos)) added++;
    }
    free(p);
    res->n_added = added;
    res->n_replaced = in->n - added;
    return 0;
}

/* ---------------- import: detection and dispatch ---------------- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static labels_format detect(const char *path, const char *d, size_t n)
{
    const char *dot = strrchr(base_name(path), '.');
    if (dot) {
        if (!strcasecmp(dot, ".xml")) return LABELS_FMT_OFAC_XML;
        if (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")) return LABELS_FMT_TAGPACK;
        if (!strcasecmp(dot, ".csv")) return LABELS_FMT_CSV;
        if (!strcasecmp(dot, ".txt") || !strcasecmp(dot, ".json")) return LABELS_FMT_OFAC_LIST;
    }
    size_t i = 0;
    if (n >= 3 && !memcmp(d, "\xef\xbb\xbf", 3)) i = 3;
    while (i < n && isspace((unsigned char)d[i]))
        i++;
    if (i == n) return LABELS_FMT_AUTO;
    if (d[i] == '<') return LABELS_FMT_OFAC_XML;
    if (d[i] == '[') return LABELS_FMT_OFAC_LIST;
    const char *nl = memchr(d + i, '\n', n - i);
    size_t ll = nl ? (size_t)(nl - (d + i)) : n - i;
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)(ll < 255 ? ll : 255), d + i);
    if (!strncasecmp(first, "chain,", 6) || strcasestr(first, ",address")) return LABELS_FMT_CSV;
    if (!strncmp(first, "---", 3)) return LABELS_FMT_TAGPACK;
    size_t k = 0;
    while (isalnum((unsigned char)first[k]) || first[k] == '_')
        k++;
    if (k && first[k] == ':') return LABELS_FMT_TAGPACK;
    if (!strpbrk(first, " \t,:;\"'")) return LABELS_FMT_OFAC_LIST;
    return LABELS_FMT_AUTO;
}

int labels_import_file(labels_db *db, const char *path, const labels_import_opts *opts,
                       labels_import_result *res, util_err *err)
{
    labels_import_result scratch;
    util_err local;
    if (!res) res = &scratch;
    if (!err) err = &local;
    memset(res, 0, sizeof *res);
    labels_import_opts def = {0};
    if (!opts) opts = &def;
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    /* The parsers want a NUL-terminated text. */
    uint8_t *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory reading %s", path);
    }
    text[len] = 0;
    labels_format f = opts->format ? opts->format : detect(path, (const char *)text, len);
    res->format = f;
    labels_ctx c = {.path = path,
                    .base = base_name(path),
                    .opts = opts,
                    .res = res,
                    .chain_field = "chain",
                    .err = err};
    if (f != LABELS_FMT_OFAC_XML && memchr(text, 0, len)) {
        size_t at = (size_t)((uint8_t *)memchr(text, 0, len) - text);
        long line = 1;
        for (size_t i = 0; i < at; i++)
            line += text[i] == '\n';
        rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: a NUL byte: not a %s text file", path, line,
                       labels_format_name(f));
        goto done;
    }
    size_t bad_at = utf8_check((const char *)text, len);
    if ((f == LABELS_FMT_CSV || f == LABELS_FMT_OFAC_LIST) && bad_at < len) {
        long line = 1;
        for (size_t i = 0; i < bad_at; i++)
            line += text[i] == '\n';
        rc = util_errf(err, UTIL_EFORMAT, "%s:%ld: byte 0x%02x is not UTF-8 text", path, line,
                       text[bad_at]);
        goto done;
    }
    switch (f) {
    case LABELS_FMT_CSV:
        rc = labels_parse_csv(&c, (const char *)text, len);
        break;
    case LABELS_FMT_OFAC_LIST:
        rc = labels_parse_list(&c, (const char *)text, len);
        break;
    case LABELS_FMT_TAGPACK:
        rc = labels_parse_tagpack(&c, (const char *)text, len);
        break;
    case LABELS_FMT_OFAC_XML:
        rc = labels_parse_ofac_xml(&c, (const char *)text, len);
        break;
    default:
        rc = util_errf(err, UTIL_EINVAL,
                       "%s: cannot tell the format from the name or the content; give --format "
                       "ofac-xml, ofac-list, tagpack or csv",
                       path);
    }
    if (!rc && (rc = count_added(&db->set, &c.out, res)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!rc) rc = merge(&db->set, &c.out, err);
done:
    labels_vec_free(&c.out);
    free(text);
    if (res == &scratch) labels_import_result_free(&scratch);
    return rc;
}

/* ---------------- look-ups ---------------- */

void labels_find(const labels_db *db, const char *chain, const char *address,
                 const labels_label **first, size_t *n)
{
    size_t lo = 0, hi = db->set.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_addr(&db->set.v[mid], chain, address) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < db->set.n && cmp_addr(&db->set.v[end], chain, address) == 0)
        end++;
    *first = lo < db->set.n ? &db->set.v[lo] : NULL;
    *n = end - lo;
}

void labels_find_any(const labels_db *db, const char *chain, const char *address,
                     const labels_label **out, size_t cap, size_t *n)
{
    *n = 0;
    size_t i = 0;
    while (i < db->set.n) {
        const char *ch = db->set.v[i].chain;
        /* the end of this chain's run */
        size_t lo = i, hi = db->set.n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(db->set.v[mid].chain, ch) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (!chain || !strcmp(chain, ch)) {
            char canon[128];
            if (!labels_canon_address(canon, ch, address, NULL)) {
                const labels_label *f;
                size_t k;
                labels_find(db, ch, canon, &f, &k);
                for (size_t j = 0; j < k; j++, (*n)++)
                    if (*n < cap) out[*n] = f + j;
            }
        }
        i = lo;
    }
}

int labels_match(const labels_label *l, const labels_filter *f)
{
    if (!f) return 1;
    if (f->chain && strcmp(l->chain, f->chain)) return 0;
    if (f->category && strcmp(l->category, f->category)) return 0;
    if (f->text && *f->text) {
        const char *fields[] = {l->address, l->actor, l->name,    l->category,
                                l->source,  l->url,   l->programs};
        for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
            if (labels_contains_ci(fields[i], f->text)) return 1;
        return 0;
    }
    return 1;
}

json_t *labels_to_json(const labels_label *l)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    for (size_t i = 0; i < NSTR; i++) {
        const char *v = CFIELD(l, i);
        if (!*v && i > 2) continue;
        if (str_off[i] == offsetof(labels_label, programs)) {
            json_t *a = json_array();
            const char *p = v;
            while (a && *p) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                bad |= json_array_append_new(a, json_stringn(p, n));
                p += n + (comma ? 1 : 0);
            }
            bad |= !a || json_object_set_new(o, "programs", a);
            continue;
        }
        json_t *js = json_string(v);
        if (!js) { /* not UTF-8 (an edited labels.db): show the valid part, '?' for the rest */
            char *copy = strdup(v);
            size_t n = copy ? strlen(copy) : 0;
            for (size_t k = 0; copy && k < n;) {
                size_t at = k + utf8_check(copy + k, n - k);
                if (at < n) copy[at] = '?';
                k = at + 1;
            }
            js = copy ? json_string(copy) : NULL;
            free(copy);
        }
        bad |= json_object_set_new(o, str_names[i], js);
    }
    bad |= json_object_set_new(o, "confidence", json_integer(l->confidence));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int labels_query(const labels_db *db, const labels_filter *f, size_t offset, size_t limit,
                 json_t **out, util_err *err)
{
    *out = NULL;
    json_t *doc = json_object(), *arr = json_array();
    if (!doc || !arr) goto oom;
    size_t total = 0;
    for (size_t i = 0; i < db->set.n; i++) {
        if (!labels_match(&db->set.v[i], f)) continue;
        if (total >= offset && (!limit || total - offset < limit)) {
            json_t *j = labels_to_json(&db->set.v[i]);
            if (!j || json_array_append_new(arr, j)) goto oom;
        }
        total++;
    }
    if (json_object_set_new(doc, "total", json_integer((json_int_t)total)) ||
        json_object_set_new(doc, "offset", json_integer((json_int_t)offset)) ||
        json_object_set_new(doc, "limit", json_integer((json_int_t)limit)) ||
        json_object_set_new(doc, "labels", arr))
        goto oom_arr_owned;
    *out = doc;
    return 0;
oom:
    json_decref(arr);
oom_arr_owned:
    json_decref(doc);
    return util_errf(err, UTIL_ENOMEM, "out of memory listing labels");
}
