/* labels: the label set (its strings, ordering and growth), the vocabulary (chains,
 * addresses, categories, confidence names, formats) and the look-ups and lists. Its file is
 * labels_store.c, the import labels_merge.c and labels_import.c, text checks labels_text.c. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"

#include "labels_int.h"

/* The string fields in file order; confidence follows them. Sized by their initialisers: a
 * count other than LABELS_NSTR conflicts with the declarations in labels_int.h. */
const size_t labels_str_off[] = {
    offsetof(labels_label, chain),      offsetof(labels_label, address),
    offsetof(labels_label, category),   offsetof(labels_label, actor),
    offsetof(labels_label, name),       offsetof(labels_label, source),
    offsetof(labels_label, url),        offsetof(labels_label, programs),
    offsetof(labels_label, first_seen), offsetof(labels_label, last_seen),
    offsetof(labels_label, updated)};
const char *const labels_str_names[] = {"chain",      "address",   "category", "actor",
                                        "name",       "source",    "url",      "programs",
                                        "first_seen", "last_seen", "updated"};

void labels_label_free(labels_label *l)
{
    for (size_t i = 0; i < LABELS_NSTR; i++) {
        free(LABELS_FIELD(l, i));
        LABELS_FIELD(l, i) = NULL;
    }
}

void labels_vec_free(labels_vec *lv)
{
    for (size_t i = 0; i < lv->n; i++)
        labels_label_free(&lv->v[i]);
    free(lv->v);
    memset(lv, 0, sizeof *lv);
}

int labels_vec_push(labels_vec *lv, const labels_label *l)
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

/* ---------------- ordering ---------------- */

static int cmp_addr(const labels_label *a, const char *chain, const char *address)
{
    int c = strcmp(a->chain, chain);
    return c ? c : strcmp(a->address, address);
}

int labels_cmp_key(const labels_label *a, const labels_label *b)
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

int labels_category_is_threat(const char *category)
{
    static const char *const threat[] = {"sanctioned", "theft", "ransomware",
                                         "darknet",    "scam",  "terrorism"};
    for (size_t i = 0; i < sizeof threat / sizeof *threat; i++)
        if (!strcmp(category, threat[i])) return 1;
    return 0;
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
    case LABELS_FMT_STIX:
        return "stix";
    case LABELS_FMT_MISP:
        return "misp";
    default:
        return "auto";
    }
}

int labels_format_parse(const char *name)
{
    for (int f = LABELS_FMT_AUTO; f <= LABELS_FMT_MISP; f++)
        if (!strcmp(name, labels_format_name((labels_format)f))) return f;
    return -1;
}

/* ---------------- look-ups ---------------- */

void labels_find(const labels_db *db, const char *chain, const char *address,
                 const labels_label **first, size_t *n)
{
    if (labels_db_is_lazy(db)) {
        if (!labels_lazy_find(db->lazy, chain, address, first, n)) return;
        db = labels_db_full(db); /* the index disagrees with labels.db: read it whole */
    }
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
    if (labels_db_is_lazy(db)) {
        /* the chains present, from the index's keys (sorted by chain first) */
        uint64_t at = 0, end, nk = labels_lazy_keys(db->lazy);
        int bad = 0;
        while (at < nk && !bad) {
            const char *ch;
            if (labels_lazy_chain_run(db->lazy, at, &ch, &end)) {
                bad = 1;
                break;
            }
            char canon[128];
            if ((!chain || !strcmp(chain, ch)) && !labels_canon_address(canon, ch, address, NULL)) {
                const labels_label *f;
                size_t k;
                if (labels_lazy_find(db->lazy, ch, canon, &f, &k)) {
                    bad = 1;
                    break;
                }
                for (size_t j = 0; j < k; j++, (*n)++)
                    if (*n < cap) out[*n] = f + j;
            }
            at = end;
        }
        if (!bad) return;
        *n = 0;
        db = labels_db_full(db);
    }
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
    if (f->actor && strcasecmp(l->actor, f->actor)) return 0;
    if (f->source && strcasecmp(l->source, f->source)) return 0;
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
    for (size_t i = 0; i < LABELS_NSTR; i++) {
        const char *v = LABELS_CFIELD(l, i);
        if (!*v && i > 2) continue;
        if (labels_str_off[i] == offsetof(labels_label, programs)) {
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
                size_t at = k + labels_utf8_check(copy + k, n - k);
                if (at < n) copy[at] = '?';
                k = at + 1;
            }
            js = copy ? json_string(copy) : NULL;
            free(copy);
        }
        bad |= json_object_set_new(o, labels_str_names[i], js);
    }
    bad |= json_object_set_new(o, "confidence", json_integer(l->confidence));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int labels_json_text(const labels_label *l, util_buf *b)
{
    int bad = util_buf_append(b, "{", 1), first = 1;
    for (size_t i = 0; i < LABELS_NSTR && !bad; i++) {
        const char *v = LABELS_CFIELD(l, i);
        if (!*v && i > 2) continue;
        bad |= util_buf_append(b, ",\"" + first, 2 - first);
        first = 0;
        bad |= util_buf_append(b, labels_str_names[i], strlen(labels_str_names[i]));
        bad |= util_buf_append(b, "\":", 2);
        size_t n = strlen(v);
        if (labels_str_off[i] == offsetof(labels_label, programs)) {
            bad |= util_buf_append(b, "[", 1);
            for (const char *p = v; *p && !bad;) {
                const char *comma = strchr(p, ',');
                size_t k = comma ? (size_t)(comma - p) : strlen(p);
                if (p != v) bad |= util_buf_append(b, ",", 1);
                bad |= util_buf_json_str(b, p, k);
                p += k + (comma ? 1 : 0);
            }
            bad |= util_buf_append(b, "]", 1);
            continue;
        }
        if (labels_utf8_check(v, n) == n) {
            bad |= util_buf_json_str(b, v, n);
            continue;
        }
        /* not UTF-8 (an edited labels.db): the valid part, '?' for the rest, as labels_to_json */
        char *copy = strdup(v);
        if (!copy) return UTIL_ENOMEM;
        for (size_t k = 0; k < n;) {
            size_t at = k + labels_utf8_check(copy + k, n - k);
            if (at < n) copy[at] = '?';
            k = at + 1;
        }
        bad |= util_buf_json_str(b, copy, n);
        free(copy);
    }
    if (!bad) bad = util_buf_printf(b, ",\"confidence\":%d", (int)l->confidence);
    return bad ? UTIL_ENOMEM : 0;
}

int labels_query(const labels_db *db, const labels_filter *f, size_t offset, size_t limit,
                 json_t **out, util_err *err)
{
    *out = NULL;
    json_t *doc = json_object(), *arr = json_array();
    if (!doc || !arr) goto oom;
    db = labels_db_full(db);
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

int labels_remove(labels_db *db, const char *chain, const char *address, const char *source,
                  const char *category)
{
    const labels_label *first;
    size_t n;
    labels_db_full(db);
    labels_find(db, chain, address, &first, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(first[i].source, source) || strcmp(first[i].category, category)) continue;
        size_t at = (size_t)(first + i - db->set.v);
        /* strings read from labels.db live in its arena, freed with the set */
        if (!db->arena) labels_label_free(&db->set.v[at]);
        memmove(&db->set.v[at], &db->set.v[at + 1], (db->set.n - at - 1) * sizeof *db->set.v);
        db->set.n--;
        return 1;
    }
    return 0;
}
