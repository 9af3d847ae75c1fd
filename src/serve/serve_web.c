/* serve: the web UI's files (built into the program, docs/webui.md), who a key is
 * (GET /v1/whoami) and the one search box (GET /v1/search). The UI's pages carry no data: they
 * are served without a key, under a Content-Security-Policy that allows only the service's own
 * scripts and styles (no inline script, no other origin), and read the data from /v1 with the
 * key the user signed in with. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../btc/btc.h"
#include "../evmexpo/evmexpo.h"
#include "serve_int.h"

/* ---- the UI's files ---- */

/* What every UI answer carries. connect-src 'self' keeps the page's requests on this origin;
 * img-src allows the data: and blob: URLs of an exported picture. */
static void ui_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data: blob:; connect-src 'self'; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
}

static const serve_asset *asset_of(const char *url)
{
    for (size_t i = 0; i < serve_n_assets; i++)
        if (!strcmp(serve_assets[i].url, url)) return &serve_assets[i];
    return NULL;
}

static enum MHD_Result send_plain(struct MHD_Connection *c, req *r, unsigned status,
                                  const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    ui_headers(resp, "text/plain; charset=utf-8");
    if (status == 405) MHD_add_response_header(resp, "Allow", "GET, HEAD");
    r->status = (int)status;
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The file of a with --web DIR: read from DIR/SOURCE (malloc'd, the caller frees), or NULL. */
static char *read_web_dir(const server *sv, const serve_asset *a, size_t *len)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", sv->o.web_dir, a->source) >= sizeof path)
        return NULL;
    uint8_t *data = NULL;
    util_err err = {0};
    if (util_read_file(path, &data, len, &err)) {
        fprintf(stderr, "cointrail: --web: %s\n", err.msg);
        return NULL;
    }
    return (char *)data;
}

enum MHD_Result serve_route_ui(server *sv, struct MHD_Connection *c, req *r, const char *url,
                               const char *method)
{
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_plain(c, r, 405, "405: the web UI's pages are read with GET\n");
    const serve_asset *a = asset_of(url);
    unsigned status = 200;
    if (!a || !strcmp(url, "/ui/404.html")) {
        /* an unknown page: the UI's own 404 page (ids are looked up by the page itself, and
         * an unknown one shows its not-found view) */
        a = asset_of("/ui/404.html");
        status = 404;
        if (!a) return send_plain(c, r, 404, "404: no such page\n");
    }
    struct MHD_Response *resp = NULL;
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    if (sv->o.web_dir) {
        size_t len = 0;
        char *data = read_web_dir(sv, a, &len);
        if (!data) return send_plain(c, r, 500, "500: a file of --web DIR cannot be read\n");
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp) free(data);
    } else if (status == 200 && inm && !strcmp(inm, a->etag)) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    ui_headers(resp, a->type);
    if (!sv->o.web_dir) MHD_add_response_header(resp, "ETag", a->etag);
    r->status = (int)status;
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- who am I ---- */

enum MHD_Result serve_route_whoami(server *sv, struct MHD_Connection *c, req *r)
{
    json_t *scopes = json_array();
    for (unsigned b = SERVE_SCOPE_READ; b <= SERVE_SCOPE_WRITE; b <<= 1)
        if (r->who.scopes & b) json_array_append_new(scopes, json_string(serve_scope_name(b)));
    int missing = 0;
    for (size_t i = 0; i < serve_n_assets; i++)
        missing |= serve_assets[i].missing;
    snap *sn = serve_snap_get(sv);
    const store_totals *t = store_get_totals(sn->s);
    json_t *d = json_pack(
        "{s:s, s:s, s:s, s:o, s:{s:o, s:b, s:I}, s:{s:b, s:b}}", "owner", r->who.owner, "key_id",
        r->who.key_id, "role", serve_role_of(r->who.scopes), "scopes", scopes, "store", "height",
        t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null(), "clustered",
        sn->clusters != NULL, "labels", (json_int_t)labels_db_count(sn->labels), "features",
        "cases", 1, "ui_libraries_missing", missing);
    serve_snap_put(sn);
    return serve_send_json(c, r, 200, d);
}

/* ---- search ---- */

#define SEARCH_MAX_QUERY 256
#define SEARCH_MAX_ACTORS 50

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* Case-insensitive substring (both NUL-terminated; needle non-empty). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

static void add_result(json_t *results, json_t *item)
{
    if (item) json_array_append_new(results, item);
}

/* The chain a 0x search looks up: the service's EVM chain by default, as screening's. */
#define SEARCH_EVM_CHAIN "eth"

/* n bytes from 2n hex digits (checked by all_hex). */
static void hex_bytes(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        sscanf(hex + 2 * i, "%2x", &x);
        out[i] = (uint8_t)x;
    }
}

static void lower_of(const char *q, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)q[i]);
    out[n] = 0;
}

/* What q names on the chain: a txid (or TXID:N), an address, an entity. */
static void search_chain(const snap *sn, const char *q, json_t *results)
{
    size_t n = strlen(q);
    const char *colon = strchr(q, ':');
    size_t hexlen = colon ? (size_t)(colon - q) : n;
    if (hexlen == 64 && all_hex(q, 64)) {
        char hex[65];
        memcpy(hex, q, 64);
        hex[64] = 0;
        uint8_t h[32];
        if (!util_hash_parse(h, hex)) {
            int64_t tx = store_find_tx(sn->s, h);
            if (tx >= 0) {
                store_tx_row row;
                store_tx(sn->s, (uint64_t)tx, &row);
                add_result(results, json_pack("{s:s, s:s, s:s, s:I}", "kind", "tx", "id", hex,
                                              "chain", "btc", "height", (json_int_t)row.block));
            }
            int64_t height = store_find_block(sn->s, h);
            if (height >= 0)
                add_result(results, json_pack("{s:s, s:s, s:s, s:I}", "kind", "block", "id", hex,
                                              "chain", "btc", "height", (json_int_t)height));
        }
    }
    btc_addr key;
    if (!btc_addr_decode(&key, q, NULL)) {
        int64_t aid = store_find_addr(sn->s, &key);
        if (aid >= 0) {
            char canon[128];
            btc_addr_encode(canon, &key);
            json_t *it =
                json_pack("{s:s, s:s, s:s}", "kind", "address", "id", canon, "chain", "btc");
            uint32_t e =
                sn->clusters ? cluster_entity_of(sn->clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
            if (it && e != CLUSTER_NO_ENTITY)
                json_object_set_new(it, "entity", json_integer((json_int_t)e));
            add_result(results, it);
        }
    }
    /* an entity: "e123", "entity:123" or a bare number (an address id names its entity) */
    const char *num = !strncmp(q, "entity:", 7) ? q + 7 : (q[0] == 'e' || q[0] == 'E') ? q + 1 : q;
    if (sn->clusters && *num && strspn(num, "0123456789") == strlen(num) && strlen(num) <= 10) {
        unsigned long long id = strtoull(num, NULL, 10);
        if (id < cluster_map_addresses(sn->clusters)) {
            uint32_t e = cluster_entity_of(sn->clusters, (uint32_t)id);
            if (e != CLUSTER_NO_ENTITY)
                add_result(results, json_pack("{s:s, s:I, s:s, s:I}", "kind", "entity", "id",
                                              (json_int_t)e, "chain", "btc", "size",
                                              (json_int_t)cluster_entity_size(sn->clusters, e)));
        }
    }
    /* 0x: an address or tx of the EVM store (when the service has one), and what the
     * cross-chain links know of a tx */
    int is_0x = n >= 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X');
    if (is_0x && n == 42 && all_hex(q + 2, 40)) {
        uint8_t a[20];
        hex_bytes(q + 2, a, 20);
        const evm_store *es;
        uint32_t id;
        util_err err = {0};
        if (sn->xs && !evmexpo_screener_store(sn->xs, SEARCH_EVM_CHAIN, &es, &err) &&
            !evm_store_find_addr(es, a, &id, &err)) {
            char lower[43];
            lower_of(q, lower, 42);
            add_result(results, json_pack("{s:s, s:s, s:s}", "kind", "evm_address", "id", lower,
                                          "chain", evm_store_chain(es)));
        }
    }
    if (is_0x && n == 66 && all_hex(q + 2, 64)) {
        uint8_t h[32];
        hex_bytes(q + 2, h, 32);
        json_t *found = NULL;
        const evm_store *es;
        uint64_t id;
        evm_tx_row tx;
        util_err err = {0};
        char lower[67];
        lower_of(q, lower, 66);
        /* evm_store_find_tx scans the txs: one search, not a hot path */
        if (sn->xs && !evmexpo_screener_store(sn->xs, SEARCH_EVM_CHAIN, &es, &err) &&
            !evm_store_find_tx(es, h, &id, &err) && !evm_store_tx(es, id, &tx, &err)) {
            uint64_t first, nb;
            uint8_t tip[32];
            evm_store_tip(es, &first, &nb, tip);
            found =
                json_pack("{s:s, s:s, s:s, s:I, s:[]}", "kind", "evm_tx", "id", lower, "chain",
                          evm_store_chain(es), "block", (json_int_t)(first + tx.block), "links");
        }
        size_t idx[8];
        size_t k = 0;
        for (size_t i = 0; i < sn->links.n; i++) {
            const xchain_link *l = &sn->links.v[i];
            if ((strcmp(l->from.chain, "btc") && !memcmp(l->from.hash, h, 32)) ||
                (strcmp(l->to.chain, "btc") && !memcmp(l->to.hash, h, 32))) {
                if (k < 8) idx[k] = i;
                k++;
            }
        }
        if (k && !found)
            found = json_pack("{s:s, s:s, s:s, s:[]}", "kind", "evm_tx", "id", lower, "chain",
                              SEARCH_EVM_CHAIN, "links");
        json_t *links = found ? json_object_get(found, "links") : NULL;
        for (size_t i = 0; links && i < k && i < 8; i++)
            json_array_append_new(links, xchain_link_json(&sn->links.v[idx[i]]));
        add_result(results, found);
    }
}

/* Labels whose text holds q, and the actors among them (each once, with its categories). */
static int search_labels(const snap *sn, const char *q, size_t limit, json_t *results)
{
    json_t *actors = json_array(), *rows = json_array();
    size_t n = labels_db_count(sn->labels), n_rows = 0, n_match = 0;
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = labels_db_get(sn->labels, i);
        if (!contains_ci(l->address, q) && !contains_ci(l->actor, q) && !contains_ci(l->name, q) &&
            !contains_ci(l->source, q) && !contains_ci(l->category, q))
            continue;
        n_match++;
        if (l->actor[0] && contains_ci(l->actor, q)) {
            json_t *found = NULL, *a;
            size_t j;
            json_array_foreach(actors, j, a)
            {
                if (!strcmp(json_string_value(json_object_get(a, "id")), l->actor)) {
                    found = a;
                    break;
                }
            }
            if (!found && json_array_size(actors) < SEARCH_MAX_ACTORS) {
                found = json_pack("{s:s, s:s, s:i, s:[]}", "kind", "actor", "id", l->actor,
                                  "labels", 0, "categories");
                if (found) json_array_append_new(actors, found);
            }
            if (found) {
                json_object_set_new(
                    found, "labels",
                    json_integer(json_integer_value(json_object_get(found, "labels")) + 1));
                json_t *cats = json_object_get(found, "categories"), *cv;
                int have = 0;
                json_array_foreach(cats, j, cv) have |= !strcmp(json_string_value(cv), l->category);
                if (!have && json_array_size(cats) < 16)
                    json_array_append_new(cats, json_string(l->category));
            }
        }
        if (n_rows < limit) {
            json_t *it = labels_to_json(l);
            if (it) {
                json_object_set_new(it, "kind", json_string("label"));
                json_object_set_new(it, "label_index", json_integer((json_int_t)i));
                json_array_append_new(rows, it);
                n_rows++;
            }
        }
    }
    json_array_extend(results, actors);
    json_array_extend(results, rows);
    json_decref(actors);
    json_decref(rows);
    return n_match > n_rows;
}

enum MHD_Result serve_route_search(server *sv, struct MHD_Connection *c, req *r)
{
    const char *raw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    size_t limit = 50;
    if (lim) {
        char *end;
        unsigned long v = strtoul(lim, &end, 10);
        if (!*lim || *end || v < 1 || v > 1000)
            return serve_error(c, r, 400, "limit", "query argument limit: expected 1..1000");
        limit = v;
    }
    if (!raw) return serve_error(c, r, 400, "q", "query argument q is required");
    while (isspace((unsigned char)*raw))
        raw++;
    size_t n = strlen(raw);
    while (n && isspace((unsigned char)raw[n - 1]))
        n--;
    if (!n || n > SEARCH_MAX_QUERY)
        return serve_error(c, r, 400, "q", "query argument q: 1..%d characters", SEARCH_MAX_QUERY);
    char q[SEARCH_MAX_QUERY + 1];
    memcpy(q, raw, n);
    q[n] = 0;
    json_t *results = json_array();
    snap *sn = serve_snap_get(sv);
    serve_snap_aux(sv, sn);
    search_chain(sn, q, results);
    int truncated = search_labels(sn, q, limit, results);
    serve_snap_put(sn);
    json_t *d =
        json_pack("{s:s%, s:o, s:b}", "query", q, n, "results", results, "truncated", truncated);
    if (!d) return serve_error(c, r, 400, "q", "query argument q: not valid UTF-8");
    return serve_send_json(c, r, 200, d);
}
