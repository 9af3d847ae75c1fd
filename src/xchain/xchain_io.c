/* Links as JSON, and DIR/xchain/links.jsonl. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xchain.h"

static json_t *end_json(const xchain_end *e)
{
    json_t *j = json_object();
    json_object_set_new(j, "chain", json_string(e->chain));
    char hex[67];
    if (!strcmp(e->chain, "btc"))
        util_hash_hex(hex, e->hash);
    else
        evm_hash_hex(hex, e->hash);
    json_object_set_new(j, "tx", json_string(hex));
    json_object_set_new(j, "tx_id", json_integer((json_int_t)e->tx));
    if (e->log_index >= 0) json_object_set_new(j, "log_index", json_integer(e->log_index));
    if (e->n_outs) {
        json_t *a = json_array();
        for (uint32_t i = 0; i < e->n_outs; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "n", json_integer(e->vout[i]));
            json_object_set_new(o, "id", json_integer((json_int_t)e->out_id[i]));
            json_array_append_new(a, o);
        }
        json_object_set_new(j, "outputs", a);
    }
    return j;
}

static json_t *amount_json(const evm_u256 *v, const char *asset)
{
    char dec[EVM_U256_DEC_MAX];
    evm_u256_format(dec, v);
    json_t *j = json_object();
    json_object_set_new(j, "value", json_string(dec));
    json_object_set_new(j, "asset", json_string(asset));
    return j;
}

json_t *xchain_link_json(const xchain_link *l)
{
    json_t *j = json_object();
    json_object_set_new(j, "method", json_string(xchain_method_name(l->method)));
    json_object_set_new(j, "from", end_json(&l->from));
    json_object_set_new(j, "to", end_json(&l->to));
    json_object_set_new(j, "amount_in", amount_json(&l->amount_in, l->asset_in));
    json_object_set_new(j, "amount_out", amount_json(&l->amount_out, l->asset_out));
    json_object_set_new(j, "confidence", json_real(l->confidence));
    json_object_set_new(j, "candidates", json_integer(l->candidates));
    json_object_set_new(j, "rule", json_string(l->rule));
    return j;
}

static void links_path(char *out, size_t cap, const char *db, const char *leaf)
{
    snprintf(out, cap, "%s/xchain%s%s", db, leaf ? "/" : "", leaf ? leaf : "");
}

int xchain_links_save(const char *db, const xchain_links *l, util_err *err)
{
    char path[4200];
    links_path(path, sizeof path, db, NULL);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
    util_buf b = {0};
    int bad = util_buf_printf(&b,
                              "{\"format\": \"cointrail-xchain-links\", \"version\": %d, "
                              "\"links\": %zu}\n",
                              XCHAIN_FORMAT_VERSION, l->n);
    for (size_t i = 0; i < l->n && !bad; i++) {
        json_t *j = xchain_link_json(&l->v[i]);
        char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(j);
        bad = !s || util_buf_printf(&b, "%s\n", s);
        free(s);
    }
    if (bad) {
        util_buf_free(&b);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    links_path(path, sizeof path, db, "links.jsonl");
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

static int end_load(json_t *j, xchain_end *e)
{
    const char *chain = json_string_value(json_object_get(j, "chain"));
    const char *tx = json_string_value(json_object_get(j, "tx"));
    json_t *id = json_object_get(j, "tx_id"), *li = json_object_get(j, "log_index"),
           *outs = json_object_get(j, "outputs");
    if (!chain || !tx || !json_is_integer(id) || strlen(chain) >= sizeof e->chain) return -1;
    snprintf(e->chain, sizeof e->chain, "%s", chain);
    if (!strcmp(chain, "btc") ? util_hash_parse(e->hash, tx)
                              : evm_hash_parse(e->hash, tx, strlen(tx), NULL))
        return -1;
    e->tx = (uint64_t)json_integer_value(id);
    e->log_index = json_is_integer(li) ? json_integer_value(li) : -1;
    e->n_outs = 0;
    if (outs) {
        if (!json_is_array(outs) || json_array_size(outs) > XCHAIN_MAX_OUTS) return -1;
        for (size_t i = 0; i < json_array_size(outs); i++) {
            json_t *o = json_array_get(outs, i);
            json_t *n = json_object_get(o, "n"), *oid = json_object_get(o, "id");
            if (!json_is_integer(n) || !json_is_integer(oid)) return -1;
            e->vout[i] = (uint32_t)json_integer_value(n);
            e->out_id[i] = (uint64_t)json_integer_value(oid);
            e->n_outs++;
        }
    }
    return 0;
}

static int amount_load(json_t *j, evm_u256 *v, char *asset, size_t cap)
{
    const char *val = json_string_value(json_object_get(j, "value"));
    const char *a = json_string_value(json_object_get(j, "asset"));
    if (!val || !a || strlen(a) >= cap || evm_u256_parse(v, val, strlen(val), NULL)) return -1;
    snprintf(asset, cap, "%s", a);
    return 0;
}

int xchain_links_load(const char *db, xchain_links *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    char path[4200];
    links_path(path, sizeof path, db, "links.jsonl");
    struct stat st;
    if (stat(path, &st) < 0)
        return util_errf(err, UTIL_ENOTFOUND, "%s: no links built (cointrail xchain links)", path);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *p = (char *)data, *end = p + len;
    uint64_t line = 0;
    rc = 0;
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        line++;
        json_error_t je;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &je);
        if (!j) {
            rc = util_errf(err, UTIL_EFORMAT, "%s:%llu: %s", path, (unsigned long long)line,
                           je.text);
            break;
        }
        if (line == 1) {
            const char *f = json_string_value(json_object_get(j, "format"));
            json_int_t v = json_integer_value(json_object_get(j, "version"));
            if (!f || strcmp(f, "cointrail-xchain-links") || v != XCHAIN_FORMAT_VERSION)
                rc = util_errf(err, UTIL_EFORMAT,
                               "%s:1: not a cointrail-xchain-links version %d header (rebuild "
                               "with cointrail xchain links)",
                               path, XCHAIN_FORMAT_VERSION);
        } else {
            xchain_link l;
            memset(&l, 0, sizeof l);
            const char *m = json_string_value(json_object_get(j, "method"));
            const char *rule = json_string_value(json_object_get(j, "rule"));
            json_t *conf = json_object_get(j, "confidence"),
                   *cand = json_object_get(j, "candidates");
            l.method = m ? xchain_method_parse(m) : 0;
            if (!l.method || !rule || !json_is_number(conf) || !json_is_integer(cand) ||
                end_load(json_object_get(j, "from"), &l.from) ||
                end_load(json_object_get(j, "to"), &l.to) ||
                amount_load(json_object_get(j, "amount_in"), &l.amount_in, l.asset_in,
                            sizeof l.asset_in) ||
                amount_load(json_object_get(j, "amount_out"), &l.amount_out, l.asset_out,
                            sizeof l.asset_out)) {
                rc = util_errf(err, UTIL_EFORMAT, "%s:%llu: not a link", path,
                               (unsigned long long)line);
            } else {
                l.confidence = json_number_value(conf);
                l.candidates = (uint32_t)json_integer_value(cand);
                snprintf(l.rule, sizeof l.rule, "%s", rule);
                if (out->n == out->cap) {
                    size_t nc = out->cap ? 2 * out->cap : 64;
                    xchain_link *v = realloc(out->v, nc * sizeof *v);
                    if (!v)
                        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    else
                        out->v = v, out->cap = nc;
                }
                if (!rc) out->v[out->n++] = l;
            }
        }
        json_decref(j);
        p = nl + 1;
    }
    free(data);
    if (!rc && line == 0) rc = util_errf(err, UTIL_EFORMAT, "%s: empty", path);
    if (rc) xchain_links_free(out);
    return rc;
}
