#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../util/util_hmap.h"

static json_t *hash_json(const uint8_t h[32])
{
    char hex[65];
    util_hash_hex(hex, h);
    return json_string(hex);
}

static json_t *addr_json(const btc_addr *a)
{
    if (!a || !a->kind) return json_null();
    char s[128];
    btc_addr_encode(s, a);
    return json_string(s);
}

json_t *query_stats_json(const query_stats_result *r)
{
    const store_totals *t = &r->totals;
    json_t *o = json_object();
    json_object_set_new(o, "blocks", json_integer((json_int_t)t->blocks));
    json_object_set_new(o, "tip_height",
                        r->has_tip ? json_integer((json_int_t)t->blocks - 1) : json_null());
    json_object_set_new(o, "tip_hash", r->has_tip ? hash_json(r->tip_hash) : json_null());
    json_object_set_new(o, "txs", json_integer((json_int_t)t->txs));
    json_object_set_new(o, "inputs", json_integer((json_int_t)t->inputs));
    json_object_set_new(o, "outputs", json_integer((json_int_t)t->outputs));
    json_object_set_new(o, "total_output_value", json_integer(t->total_output_value));
    json_object_set_new(o, "total_fees", json_integer(t->total_fees));
    json_object_set_new(o, "utxo_count", json_integer((json_int_t)t->utxo_count));
    json_object_set_new(o, "utxo_value", json_integer(t->utxo_value));
    json_object_set_new(o, "addresses", json_integer((json_int_t)t->addresses));
    json_t *types = json_object();
    for (int i = 0; i < BTC_NSCRIPT_TYPES; i++)
        json_object_set_new(types, btc_script_type_name(i),
                            json_integer((json_int_t)t->outputs_by_type[i]));
    json_object_set_new(o, "outputs_by_type", types);
    json_object_set_new(o, "unresolved_inputs", json_integer((json_int_t)t->unresolved_inputs));
    return o;
}

int query_stats_get(const store *s, int recompute, query_stats_result *out, util_err *err)
{
    query_stats_result r = {.totals = *store_get_totals(s)};
    if (recompute) {
        int rc =
            store_recompute_totals_threads(s, (unsigned)recompute, &r.totals, &r.fees_by_rows, err);
        if (rc) return rc;
        r.recomputed = 1;
    }
    if (r.totals.blocks) {
        r.has_tip = 1;
        memcpy(r.tip_hash, store_block_hash(s, r.totals.blocks - 1), 32);
    }
    *out = r;
    return 0;
}

int query_stats(const store *s, int recompute, json_t **out, util_err *err)
{
    query_stats_result r;
    int rc = query_stats_get(s, recompute, &r, err);
    if (rc) return rc;
    *out = query_stats_json(&r);
    return 0;
}

/* An OP_RETURN output's payload: "payload_hex", and "payload_text" when every byte is
 * printable ASCII (memos such as THORChain's OUT:HASH are); null payload on a format 1 store. */
static void payload_json(const query_tx_output *o, json_t *j)
{
    if (o->payload_state == QUERY_PAYLOAD_NOT_KEPT) {
        json_object_set_new(j, "payload_hex", json_null());
        json_object_set_new(j, "payload_note", json_string("store format 1: payloads not kept"));
        return;
    }
    if (o->payload_state != QUERY_PAYLOAD_KEPT) return;
    const uint8_t *p = o->payload;
    size_t n = o->payload_len;
    char *hex = malloc(2 * n + 1);
    if (!hex) return;
    util_hex(hex, p, n);
    json_object_set_new(j, "payload_hex", json_string(hex));
    free(hex);
    int printable = n > 0;
    for (size_t i = 0; i < n && printable; i++)
        printable = p[i] >= 0x20 && p[i] < 0x7f;
    if (printable) json_object_set_new(j, "payload_text", json_stringn((const char *)p, n));
}

/* The spending tx of an output: 1 and its txid in spent_by, or 0. */
static int spender_of(const store *s, uint64_t out, uint8_t spent_by[32])
{
    uint64_t in = store_out_spent_by(s, out);
    if (in == STORE_NONE) return 0;
    memcpy(spent_by, store_tx_hash(s, store_input_tx(s, in)), 32);
    return 1;
}

/* The address of output o as text: 1, or 0 when it pays no address. */
static int out_address(const store *s, uint64_t o, char addr[QUERY_ADDR_SIZE])
{
    uint32_t aid = store_out_addr(s, o);
    addr[0] = 0;
    if (aid == STORE_NO_ADDR) return 0;
    btc_addr a;
    store_addr(s, aid, &a);
    if (!a.kind) return 0;
    btc_addr_encode(addr, &a);
    return 1;
}

static void find_labels(const labels_db *labels, int has_address, const char *address,
                        const labels_label **first, size_t *n)
{
    *first = NULL;
    *n = 0;
    if (labels && has_address) labels_find(labels, "btc", address, first, n);
}

/* The labels of one btc address as a JSON array. */
static json_t *labels_array(const labels_label *first, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, labels_to_json(&first[i]));
    return arr;
}

static json_t *entity_labels_json(const query_entity_label *l, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = labels_to_json(l[i].label);
        json_object_set_new(j, "address", json_string(l[i].address));
        json_array_append_new(arr, j);
    }
    return arr;
}

static int push_entity_label(query_entity_label **arr, size_t *n, size_t *cap,
                             const labels_label *l, const char *address)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        query_entity_label *g = realloc(*arr, c * sizeof *g);
        if (!g) return UTIL_ENOMEM;
        *arr = g;
        *cap = c;
    }
    (*arr)[*n].label = l;
    snprintf((*arr)[*n].address, QUERY_ADDR_SIZE, "%s", address);
    (*n)++;
    return 0;
}

/* The labels of entity from the entity index, appended: 0, or -1 if a record does not name
 * labels of one address (a damaged index: the caller walks the set instead) or out of memory. */
static int entix_labels(const store *s, const cluster_map *m, const query_entix *ix,
                        const labels_db *labels, uint32_t entity, query_entity_label **arr,
                        size_t *n, size_t *cap)
{
    size_t at, k;
    query_entix_find(ix, entity, &at, &k);
    for (size_t i = at; i < at + k; i++) {
        size_t first, cnt;
        const labels_label *l;
        if (query_entix_rec(ix, i, &first, &cnt) || !(l = labels_db_span(labels, first, cnt)) ||
            strcmp(l->chain, "btc"))
            return -1;
        /* the record's address is in the entity (cheap next to the walk it replaces) */
        btc_addr key;
        int64_t aid;
        if (btc_addr_decode(&key, l->address, NULL) || (aid = store_find_addr(s, &key)) < 0 ||
            cluster_entity_of(m, (uint32_t)aid) != entity)
            return -1;
        for (size_t j = 0; j < cnt; j++)
            if (push_entity_label(arr, n, cap, &l[j], l[j].address)) return -1;
    }
    return 0;
}

/* Labels carried by any address of entity (*out owned by the caller), in label-set order.
 * From the entity index when there is one; else walks the label set (not the entity, which
 * may have millions of addresses). */
static int entity_labels(const store *s, const cluster_map *m, const labels_db *labels,
                         const query_entix *ix, uint32_t entity, query_entity_label **out,
                         size_t *n_out)
{
    query_entity_label *arr = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    if (!labels || !m) return 0;
    if (cluster_entity_size(m, entity) == 1) {
        /* A single address (the usual case): its own labels, without walking the label set. */
        char addr[QUERY_ADDR_SIZE];
        store_addr_text(s, entity, addr);
        const labels_label *first;
        size_t k;
        labels_find(labels, "btc", addr, &first, &k);
        for (size_t i = 0; i < k; i++)
            if (push_entity_label(&arr, &n, &cap, &first[i], addr)) goto oom;
    } else if (ix && entix_labels(s, m, ix, labels, entity, &arr, &n, &cap) == 0) {
        /* from the index */
    } else {
        free(arr);
        arr = NULL;
        n = cap = 0;
        for (size_t i = 0, c = labels_db_count(labels); i < c; i++) {
            const labels_label *l = labels_db_get(labels, i);
            if (strcmp(l->chain, "btc") != 0) continue;
            btc_addr key;
            if (btc_addr_decode(&key, l->address, NULL)) continue;
            int64_t aid = store_find_addr(s, &key);
            if (aid < 0 || cluster_entity_of(m, (uint32_t)aid) != entity) continue;
            if (push_entity_label(&arr, &n, &cap, l, l->address)) goto oom;
        }
    }
    *out = arr;
    *n_out = n;
    return 0;
oom:
    free(arr);
    return UTIL_ENOMEM;
}

void query_entity_free(query_entity_result *r)
{
    cluster_entity_free(&r->entity);
    free(r->labels);
    r->labels = NULL;
    r->n_labels = 0;
}

int query_entity_get(const query_ctx *q, const char *arg, size_t offset, size_t limit,
                     query_entity_result *out, util_err *err)
{
    if (!q->clusters)
        return util_errf(err, UTIL_ENOTFOUND, "no entities yet: run cointrail cluster first");
    query_entity_result r = {0};
    int rc = cluster_entity_get(q->clusters, q->s, arg, offset, limit, &r.entity, err);
    if (rc) return rc;
    if (entity_labels(q->s, q->clusters, q->labels, q->entix, r.entity.entity, &r.labels,
                      &r.n_labels)) {
        long long ent = r.entity.entity;
        query_entity_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory listing the labels of entity %lld", ent);
    }
    *out = r;
    return 0;
}

json_t *query_entity_json(const query_entity_result *r)
{
    json_t *o = cluster_entity_result_json(&r->entity);
    json_object_set_new(o, "labels", entity_labels_json(r->labels, r->n_labels));
    return o;
}

int query_entity(const query_ctx *q, const char *arg, size_t offset, size_t limit, json_t **out,
                 util_err *err)
{
    *out = NULL;
    query_entity_result r;
    int rc = query_entity_get(q, arg, offset, limit, &r, err);
    if (rc) return rc;
    *out = query_entity_json(&r);
    query_entity_free(&r);
    return 0;
}

void query_tx_free(query_tx_result *r)
{
    if (!r) return;
    free(r->inputs);
    free(r->outputs);
    r->inputs = NULL;
    r->outputs = NULL;
}

int query_tx_get(const query_ctx *q, const char *txid_hex, query_tx_result *out, util_err *err)
{
    const store *s = q->s;
    uint8_t txid[32];
    if (util_hash_parse(txid, txid_hex))
        return util_errf(err, UTIL_EINVAL, "txid '%s': expected 64 hex digits", txid_hex);
    int64_t tx = store_find_tx(s, txid);
    if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "txid %s: not in the store", txid_hex);
    store_tx_row row;
    store_tx(s, (uint64_t)tx, &row);
    uint32_t n_in = store_tx_n_in(s, (uint64_t)tx), n_out = store_tx_n_out(s, (uint64_t)tx);
    query_tx_result r = {0};
    r.inputs = calloc(n_in ? n_in : 1, sizeof *r.inputs);
    r.outputs = calloc(n_out ? n_out : 1, sizeof *r.outputs);
    if (!r.inputs || !r.outputs) {
        query_tx_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory reading tx %s", txid_hex);
    }
    memcpy(r.txid, txid, 32);
    r.height = row.block;
    memcpy(r.block_hash, store_block_hash(s, row.block), 32);
    r.time = store_block(s, row.block)->time;
    r.size = row.size;
    r.vsize = row.vsize;
    r.coinbase = (row.flags & STORE_TX_COINBASE) != 0;
    r.fee_known = !(row.flags & STORE_TX_UNRESOLVED);
    r.n_inputs = n_in;
    r.n_outputs = n_out;
    int64_t in_total = 0, out_total = 0;
    for (uint32_t k = 0; k < n_in; k++) {
        query_tx_input *ci = &r.inputs[k];
        uint64_t in = row.first_in + k, prev = store_in_prev(s, in);
        ci->type = -1;
        if (prev == STORE_COINBASE) {
            ci->kind = QUERY_IN_COINBASE;
        } else if (prev == STORE_UNRESOLVED) {
            ci->kind = QUERY_IN_UNRESOLVED;
            ci->prev_known = store_in_unresolved(s, in, ci->prev_txid, &ci->vout) == 0;
            if (!ci->prev_known) ci->vout = 0;
        } else {
            uint64_t ptx = store_output_tx(s, prev);
            ci->kind = QUERY_IN_SPEND;
            ci->prev_known = 1;
            memcpy(ci->prev_txid, store_tx_hash(s, ptx), 32);
            ci->vout = (uint32_t)(prev - store_tx_first_out(s, ptx));
            ci->value = store_out_value(s, prev);
            ci->type = store_out_type(s, prev);
            ci->has_address = out_address(s, prev, ci->address);
            find_labels(q->labels, ci->has_address, ci->address, &ci->labels, &ci->n_labels);
            in_total += ci->value;
        }
    }
    for (uint32_t k = 0; k < n_out; k++) {
        query_tx_output *co = &r.outputs[k];
        uint64_t o = row.first_out + k;
        co->n = k;
        co->value = store_out_value(s, o);
        co->type = store_out_type(s, o);
        co->has_address = out_address(s, o, co->address);
        co->spent = spender_of(s, o, co->spent_by);
        if (co->type == BTC_NULLDATA) {
            if (!store_has_payloads(s))
                co->payload_state = QUERY_PAYLOAD_NOT_KEPT;
            else if (store_out_payload(s, o, &co->payload, &co->payload_len) == 0)
                co->payload_state = QUERY_PAYLOAD_KEPT;
        }
        find_labels(q->labels, co->has_address, co->address, &co->labels, &co->n_labels);
        out_total += co->value;
    }
    r.output_value = out_total;
    if (r.fee_known) {
        r.input_value = in_total;
        r.fee = row.fee;
    }
    cluster_scratch sc = {0};
    int drc = cluster_detect_ex(s, (uint64_t)tx, &sc, &r.detection);
    cluster_scratch_free(&sc);
    if (drc) {
        query_tx_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory reading tx %s", txid_hex);
    }
    if (q->clusters && (uint64_t)tx < cluster_map_txs(q->clusters)) {
        r.clustered = 1;
        r.clustered_kind = cluster_tx_kind(q->clusters, (uint64_t)tx);
    }
    *out = r;
    return 0;
}

static json_t *addr_text_json(int has, const char *address)
{
    return has ? json_string(address) : json_null();
}

json_t *query_tx_json(const query_tx_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "txid", hash_json(r->txid));
    json_object_set_new(o, "block_height", json_integer(r->height));
    json_object_set_new(o, "block_hash", hash_json(r->block_hash));
    json_object_set_new(o, "time", json_integer(r->time));
    json_object_set_new(o, "size", json_integer(r->size));
    json_object_set_new(o, "vsize", json_integer(r->vsize));
    json_object_set_new(o, "coinbase", json_boolean(r->coinbase));
    json_t *ins = json_array();
    for (size_t k = 0; k < r->n_inputs; k++) {
        const query_tx_input *ci = &r->inputs[k];
        json_t *j = json_object();
        if (ci->kind == QUERY_IN_COINBASE) {
            json_object_set_new(j, "coinbase", json_true());
        } else if (ci->kind == QUERY_IN_UNRESOLVED) {
            if (ci->prev_known) {
                json_object_set_new(j, "prev_txid", hash_json(ci->prev_txid));
                json_object_set_new(j, "vout", json_integer(ci->vout));
            }
            json_object_set_new(j, "unresolved", json_true());
            json_object_set_new(j, "value", json_null());
            json_object_set_new(j, "address", json_null());
        } else {
            json_object_set_new(j, "prev_txid", hash_json(ci->prev_txid));
            json_object_set_new(j, "vout", json_integer((json_int_t)ci->vout));
            json_object_set_new(j, "value", json_integer(ci->value));
            json_object_set_new(j, "type", json_string(btc_script_type_name(ci->type)));
            json_object_set_new(j, "address", addr_text_json(ci->has_address, ci->address));
            if (ci->n_labels)
                json_object_set_new(j, "labels", labels_array(ci->labels, ci->n_labels));
        }
        json_array_append_new(ins, j);
    }
    json_t *outs = json_array();
    for (size_t k = 0; k < r->n_outputs; k++) {
        const query_tx_output *co = &r->outputs[k];
        json_t *j = json_object();
        json_object_set_new(j, "n", json_integer(co->n));
        json_object_set_new(j, "value", json_integer(co->value));
        json_object_set_new(j, "type", json_string(btc_script_type_name(co->type)));
        json_object_set_new(j, "address", addr_text_json(co->has_address, co->address));
        json_object_set_new(j, "spent_by", co->spent ? hash_json(co->spent_by) : json_null());
        if (co->type == BTC_NULLDATA) payload_json(co, j);
        if (co->n_labels) json_object_set_new(j, "labels", labels_array(co->labels, co->n_labels));
        json_array_append_new(outs, j);
    }
    json_object_set_new(o, "inputs", ins);
    json_object_set_new(o, "outputs", outs);
    json_object_set_new(o, "input_value",
                        r->fee_known ? json_integer(r->input_value) : json_null());
    json_object_set_new(o, "output_value", json_integer(r->output_value));
    json_object_set_new(o, "fee", r->fee_known ? json_integer(r->fee) : json_null());
    json_object_set_new(o, "coinjoin", cluster_detection_json(&r->detection));
    json_t *cl = json_null();
    if (r->clustered)
        cl = json_pack("{s:s,s:b}", "kind", cluster_cj_kind_name(r->clustered_kind), "excluded",
                       cluster_cj_excludes(r->clustered_kind));
    json_object_set_new(o, "clustering", cl);
    return o;
}

int query_tx(const query_ctx *q, const char *txid_hex, json_t **out, util_err *err)
{
    query_tx_result r;
    int rc = query_tx_get(q, txid_hex, &r, err);
    if (rc) return rc;
    *out = query_tx_json(&r);
    query_tx_free(&r);
    return 0;
}

void query_address_free(query_address_result *r)
{
    if (!r) return;
    free(r->outputs);
    free(r->entity_labels);
    r->outputs = NULL;
    r->entity_labels = NULL;
}

int query_address_get(const query_ctx *q, const char *address, size_t offset, size_t limit,
                      unsigned flags, query_address_result *out, util_err *err)
{
    const store *s = q->s;
    btc_addr key;
    int rc = btc_addr_decode(&key, address, err);
    if (rc) return rc;
    int64_t aid = store_find_addr(s, &key);
    if (aid < 0)
        return util_errf(err, UTIL_ENOTFOUND, "address %s: never seen in the store", address);
    query_address_result r = {0};
    size_t cap = 0;
    util_hmap txs = {0}; /* the distinct txs the address appears in */
    for (uint64_t o = store_addr_last_out(s, (uint32_t)aid); o != STORE_NONE;
         o = store_out_prev_same_addr(s, o)) {
        int64_t v = store_out_value(s, o);
        uint64_t tx = store_output_tx(s, o);
        uint64_t spender = store_out_spent_by(s, o);
        r.received += v;
        if (util_hmap_put(&txs, tx, 0)) goto oom;
        if (spender != STORE_NONE) {
            r.sent += v;
            if (util_hmap_put(&txs, store_input_tx(s, spender), 0)) goto oom;
        }
        if (r.output_count >= offset && r.output_count - offset < limit) {
            if (r.n_outputs == cap) {
                size_t c = cap ? cap * 2 : 16;
                query_address_output *g = realloc(r.outputs, c * sizeof *g);
                if (!g) goto oom;
                r.outputs = g;
                cap = c;
            }
            query_address_output *e = &r.outputs[r.n_outputs++];
            memset(e, 0, sizeof *e);
            store_tx_row row;
            store_tx(s, tx, &row);
            memcpy(e->txid, store_tx_hash(s, tx), 32);
            e->n = (uint32_t)(o - row.first_out);
            e->value = v;
            e->height = row.block;
            e->type = store_out_type(s, o);
            e->spent = spender_of(s, o, e->spent_by);
        }
        r.output_count++;
    }
    btc_addr_encode(r.address, &key);
    r.kind = key.kind;
    r.addr_id = (uint32_t)aid;
    r.balance = r.received - r.sent;
    r.tx_count = txs.n;
    r.offset = offset;
    find_labels(q->labels, 1, r.address, &r.labels, &r.n_labels);
    uint32_t entity =
        q->clusters ? cluster_entity_of(q->clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
    if (entity != CLUSTER_NO_ENTITY) {
        r.has_entity = 1;
        r.entity = entity;
        if (!(flags & QUERY_NO_ENTITY_LABELS) &&
            entity_labels(s, q->clusters, q->labels, q->entix, entity, &r.entity_labels,
                          &r.n_entity_labels))
            goto oom;
    }
    util_hmap_free(&txs);
    *out = r;
    return 0;
oom:
    util_hmap_free(&txs);
    query_address_free(&r);
    return util_errf(err, UTIL_ENOMEM, "out of memory listing %s", address);
}

json_t *query_address_json(const query_address_result *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < r->n_outputs; i++) {
        const query_address_output *e = &r->outputs[i];
        json_t *j = json_object();
        json_object_set_new(j, "txid", hash_json(e->txid));
        json_object_set_new(j, "n", json_integer((json_int_t)e->n));
        json_object_set_new(j, "value", json_integer(e->value));
        json_object_set_new(j, "height", json_integer(e->height));
        json_object_set_new(j, "type", json_string(btc_script_type_name(e->type)));
        json_object_set_new(j, "spent_by", e->spent ? hash_json(e->spent_by) : json_null());
        json_array_append_new(list, j);
    }
    json_t *o = json_object();
    json_object_set_new(o, "address", json_string(r->address));
    json_object_set_new(o, "type", json_string(btc_addr_kind_name(r->kind)));
    json_object_set_new(o, "received", json_integer(r->received));
    json_object_set_new(o, "sent", json_integer(r->sent));
    json_object_set_new(o, "balance", json_integer(r->balance));
    json_object_set_new(o, "tx_count", json_integer((json_int_t)r->tx_count));
    json_object_set_new(o, "output_count", json_integer((json_int_t)r->output_count));
    json_object_set_new(o, "offset", json_integer((json_int_t)r->offset));
    json_object_set_new(o, "outputs", list);
    json_object_set_new(o, "labels", labels_array(r->labels, r->n_labels));
    if (r->has_entity) {
        json_t *e = json_object();
        json_object_set_new(e, "id", json_integer(r->entity));
        json_object_set_new(e, "labels", entity_labels_json(r->entity_labels, r->n_entity_labels));
        json_object_set_new(o, "entity", e);
    } else {
        json_object_set_new(o, "entity", json_null());
    }
    return o;
}

int query_address(const query_ctx *q, const char *address, size_t offset, size_t limit,
                  json_t **out, util_err *err)
{
    query_address_result r;
    int rc = query_address_get(q, address, offset, limit, 0, &r, err);
    if (rc) return rc;
    *out = query_address_json(&r);
    query_address_free(&r);
    return 0;
}

int query_decode_block(const uint8_t *p, size_t n, json_t **out, util_err *err)
{
    btc_block b = {0};
    int rc = btc_parse_block(&b, p, n, BTC_PARSE_VERIFY_MERKLE, err);
    if (rc) {
        btc_block_free(&b);
        return rc;
    }
    json_t *o = json_object();
    json_object_set_new(o, "hash", hash_json(b.hdr.hash));
    json_object_set_new(o, "prev_hash", hash_json(b.hdr.prev));
    json_object_set_new(o, "merkle_root", hash_json(b.hdr.merkle));
    json_object_set_new(o, "version", json_integer(b.hdr.version));
    json_object_set_new(o, "time", json_integer(b.hdr.time));
    json_object_set_new(o, "bits", json_integer(b.hdr.bits));
    json_object_set_new(o, "nonce", json_integer(b.hdr.nonce));
    json_object_set_new(o, "size", json_integer(b.size));
    json_object_set_new(o, "tx_count", json_integer(b.n_tx));
    json_t *txs = json_array();
    for (uint32_t i = 0; i < b.n_tx; i++) {
        const btc_tx *tx = &b.txs[i];
        json_t *t = json_object();
        json_object_set_new(t, "txid", hash_json(tx->txid));
        json_object_set_new(t, "size", json_integer(tx->size));
        json_object_set_new(t, "vsize", json_integer(tx->vsize));
        json_object_set_new(t, "input_count", json_integer(tx->n_in));
        json_t *outs = json_array();
        for (uint32_t k = 0; k < tx->n_out; k++) {
            const btc_txout *txo = &b.outs[tx->first_out + k];
            json_t *j = json_object();
            json_object_set_new(j, "value", json_integer(txo->value));
            json_object_set_new(j, "type", json_string(btc_script_type_name(txo->type)));
            json_object_set_new(j, "address", addr_json(&txo->addr));
            json_array_append_new(outs, j);
        }
        json_object_set_new(t, "outputs", outs);
        json_array_append_new(txs, t);
    }
    json_object_set_new(o, "txs", txs);
    btc_block_free(&b);
    *out = o;
    return 0;
}
