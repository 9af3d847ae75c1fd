#include "query.h"

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

static json_t *store_addr_json(const store *s, uint32_t aid)
{
    return aid == STORE_NO_ADDR ? json_null() : addr_json(store_addr(s, aid));
}

static json_t *totals_json(const store *s, const store_totals *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "blocks", json_integer((json_int_t)t->blocks));
    json_object_set_new(o, "tip_height",
                        t->blocks ? json_integer((json_int_t)t->blocks - 1) : json_null());
    json_object_set_new(o, "tip_hash",
                        t->blocks ? hash_json(store_block_hash(s, t->blocks - 1)) : json_null());
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

int query_stats(const store *s, int recompute, json_t **out, util_err *err)
{
    store_totals t = *store_get_totals(s);
    if (recompute) {
        int rc = store_recompute_totals(s, &t, err);
        if (rc) return rc;
    }
    *out = totals_json(s, &t);
    return 0;
}

/* An OP_RETURN output's payload: "payload_hex", and "payload_text" when every byte is
 * printable ASCII (memos such as THORChain's OUT:HASH are); null payload on a format 1 store. */
static void payload_json(const store *s, uint64_t o, json_t *j)
{
    const uint8_t *p;
    size_t n;
    if (!store_has_payloads(s)) {
        json_object_set_new(j, "payload_hex", json_null());
        json_object_set_new(j, "payload_note", json_string("store format 1: payloads not kept"));
        return;
    }
    if (store_out_payload(s, o, &p, &n)) return;
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

static json_t *spender_json(const store *s, uint64_t out)
{
    uint64_t in = store_out_spent_by(s, out);
    if (in == STORE_NONE) return json_null();
    return hash_json(store_tx_hash(s, store_input_tx(s, in)));
}

/* The labels of one btc address as a JSON array (empty when none or no label set). */
static json_t *address_labels(const labels_db *labels, const char *address)
{
    json_t *arr = json_array();
    if (!labels || !address) return arr;
    const labels_label *first;
    size_t n;
    labels_find(labels, "btc", address, &first, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, labels_to_json(&first[i]));
    return arr;
}

/* Attach "labels" to an input or output object that has an "address". */
static void annotate_labels(const labels_db *labels, json_t *obj)
{
    if (!labels) return;
    json_t *arr = address_labels(labels, json_string_value(json_object_get(obj, "address")));
    if (json_array_size(arr))
        json_object_set_new(obj, "labels", arr);
    else
        json_decref(arr);
}

/* Labels carried by any address of entity, each as labels_to_json plus "address". Walks the
 * label set (thousands of entries), not the entity (possibly millions of addresses). */
static json_t *entity_labels(const store *s, const cluster_map *m, const labels_db *labels,
                             uint32_t entity)
{
    json_t *arr = json_array();
    if (!labels || !m) return arr;
    if (cluster_entity_size(m, entity) == 1) {
        /* A single address (the usual case): its own labels, without walking the label set. */
        char addr[128];
        btc_addr_encode(addr, store_addr(s, entity));
        const labels_label *first;
        size_t n;
        labels_find(labels, "btc", addr, &first, &n);
        for (size_t i = 0; i < n; i++) {
            json_t *j = labels_to_json(&first[i]);
            json_object_set_new(j, "address", json_string(addr));
            json_array_append_new(arr, j);
        }
        return arr;
    }
    for (size_t i = 0, n = labels_db_count(labels); i < n; i++) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, "btc") != 0) continue;
        btc_addr key;
        if (btc_addr_decode(&key, l->address, NULL)) continue;
        int64_t aid = store_find_addr(s, &key);
        if (aid < 0 || cluster_entity_of(m, (uint32_t)aid) != entity) continue;
        json_t *j = labels_to_json(l);
        json_object_set_new(j, "address", json_string(l->address));
        json_array_append_new(arr, j);
    }
    return arr;
}

int query_entity(const query_ctx *q, const char *arg, size_t offset, size_t limit, json_t **out,
                 util_err *err)
{
    if (!q->clusters)
        return util_errf(err, UTIL_ENOTFOUND, "no entities yet: run cointrail cluster first");
    int rc = cluster_entity_json(q->clusters, q->s, arg, offset, limit, out, err);
    if (rc) return rc;
    json_int_t entity = json_integer_value(json_object_get(*out, "entity"));
    json_object_set_new(*out, "labels",
                        entity_labels(q->s, q->clusters, q->labels, (uint32_t)entity));
    return 0;
}

int query_tx(const query_ctx *q, const char *txid_hex, json_t **out, util_err *err)
{
    const store *s = q->s;
    uint8_t txid[32];
    if (util_hash_parse(txid, txid_hex))
        return util_errf(err, UTIL_EINVAL, "txid '%s': expected 64 hex digits", txid_hex);
    int64_t tx = store_find_tx(s, txid);
    if (tx < 0) return util_errf(err, UTIL_ENOTFOUND, "txid %s: not in the store", txid_hex);
    const store_tx_row *row = store_tx(s, (uint64_t)tx);
    const store_block_row *blk = store_block(s, row->block);
    json_t *o = json_object();
    json_object_set_new(o, "txid", hash_json(txid));
    json_object_set_new(o, "block_height", json_integer(row->block));
    json_object_set_new(o, "block_hash", hash_json(store_block_hash(s, row->block)));
    json_object_set_new(o, "time", json_integer(blk->time));
    json_object_set_new(o, "size", json_integer(row->size));
    json_object_set_new(o, "vsize", json_integer(row->vsize));
    json_object_set_new(o, "coinbase", json_boolean(row->flags & STORE_TX_COINBASE));
    json_t *ins = json_array();
    uint32_t n_in = store_tx_n_in(s, (uint64_t)tx), n_out = store_tx_n_out(s, (uint64_t)tx);
    int64_t in_total = 0, out_total = 0;
    for (uint32_t k = 0; k < n_in; k++) {
        uint64_t in = row->first_in + k, prev = store_in_prev(s, in);
        json_t *j = json_object();
        if (prev == STORE_COINBASE) {
            json_object_set_new(j, "coinbase", json_true());
        } else if (prev == STORE_UNRESOLVED) {
            uint8_t ptxid[32];
            uint32_t vout = 0;
            if (store_in_unresolved(s, in, ptxid, &vout) == 0) {
                json_object_set_new(j, "prev_txid", hash_json(ptxid));
                json_object_set_new(j, "vout", json_integer(vout));
            }
            json_object_set_new(j, "unresolved", json_true());
            json_object_set_new(j, "value", json_null());
            json_object_set_new(j, "address", json_null());
        } else {
            uint64_t ptx = store_output_tx(s, prev);
            json_object_set_new(j, "prev_txid", hash_json(store_tx_hash(s, ptx)));
            json_object_set_new(j, "vout",
                                json_integer((json_int_t)(prev - store_tx(s, ptx)->first_out)));
            int64_t v = store_out_value(s, prev);
            in_total += v;
            json_object_set_new(j, "value", json_integer(v));
            json_object_set_new(j, "type",
                                json_string(btc_script_type_name(store_out_type(s, prev))));
            json_object_set_new(j, "address", store_addr_json(s, store_out_addr(s, prev)));
            annotate_labels(q->labels, j);
        }
        json_array_append_new(ins, j);
    }
    json_t *outs = json_array();
    for (uint32_t k = 0; k < n_out; k++) {
        uint64_t o_id = row->first_out + k;
        json_t *j = json_object();
        int64_t v = store_out_value(s, o_id);
        out_total += v;
        json_object_set_new(j, "n", json_integer(k));
        json_object_set_new(j, "value", json_integer(v));
        json_object_set_new(j, "type", json_string(btc_script_type_name(store_out_type(s, o_id))));
        json_object_set_new(j, "address", store_addr_json(s, store_out_addr(s, o_id)));
        json_object_set_new(j, "spent_by", spender_json(s, o_id));
        if (store_out_type(s, o_id) == BTC_NULLDATA) payload_json(s, o_id, j);
        annotate_labels(q->labels, j);
        json_array_append_new(outs, j);
    }
    json_object_set_new(o, "inputs", ins);
    json_object_set_new(o, "outputs", outs);
    json_object_set_new(o, "input_value",
                        (row->flags & STORE_TX_UNRESOLVED) ? json_null() : json_integer(in_total));
    json_object_set_new(o, "output_value", json_integer(out_total));
    json_object_set_new(o, "fee",
                        (row->flags & STORE_TX_UNRESOLVED) ? json_null() : json_integer(row->fee));
    *out = o;
    return 0;
}

int query_address(const query_ctx *q, const char *address, size_t offset, size_t limit,
                  json_t **out, util_err *err)
{
    const store *s = q->s;
    btc_addr key;
    int rc = btc_addr_decode(&key, address, err);
    if (rc) return rc;
    int64_t aid = store_find_addr(s, &key);
    if (aid < 0)
        return util_errf(err, UTIL_ENOTFOUND, "address %s: never seen in the store", address);
    int64_t received = 0, sent = 0;
    uint64_t n_outputs = 0;
    util_hmap txs = {0}; /* the distinct txs the address appears in */
    json_t *list = json_array();
    for (uint64_t o = store_addr_last_out(s, (uint32_t)aid); o != STORE_NONE;
         o = store_out_prev_same_addr(s, o)) {
        int64_t v = store_out_value(s, o);
        uint64_t tx = store_output_tx(s, o);
        uint64_t spender = store_out_spent_by(s, o);
        received += v;
        if (util_hmap_put(&txs, tx, 0)) goto oom;
        if (spender != STORE_NONE) {
            sent += v;
            if (util_hmap_put(&txs, store_input_tx(s, spender), 0)) goto oom;
        }
        if (n_outputs >= offset && n_outputs - offset < limit) {
            json_t *j = json_object();
            json_object_set_new(j, "txid", hash_json(store_tx_hash(s, tx)));
            json_object_set_new(j, "n", json_integer((json_int_t)(o - store_tx(s, tx)->first_out)));
            json_object_set_new(j, "value", json_integer(v));
            json_object_set_new(j, "height", json_integer(store_tx(s, tx)->block));
            json_object_set_new(j, "type", json_string(btc_script_type_name(store_out_type(s, o))));
            json_object_set_new(j, "spent_by", spender_json(s, o));
            json_array_append_new(list, j);
        }
        n_outputs++;
    }
    json_t *r = json_object();
    char canon[128];
    btc_addr_encode(canon, &key);
    json_object_set_new(r, "address", json_string(canon));
    json_object_set_new(r, "type", json_string(btc_addr_kind_name(key.kind)));
    json_object_set_new(r, "received", json_integer(received));
    json_object_set_new(r, "sent", json_integer(sent));
    json_object_set_new(r, "balance", json_integer(received - sent));
    json_object_set_new(r, "tx_count", json_integer((json_int_t)txs.n));
    json_object_set_new(r, "output_count", json_integer((json_int_t)n_outputs));
    json_object_set_new(r, "offset", json_integer((json_int_t)offset));
    json_object_set_new(r, "outputs", list);
    json_object_set_new(r, "labels", address_labels(q->labels, canon));
    uint32_t entity =
        q->clusters ? cluster_entity_of(q->clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
    if (entity != CLUSTER_NO_ENTITY) {
        json_t *e = json_object();
        json_object_set_new(e, "id", json_integer(entity));
        json_object_set_new(e, "labels", entity_labels(s, q->clusters, q->labels, entity));
        json_object_set_new(r, "entity", e);
    } else {
        json_object_set_new(r, "entity", json_null());
    }
    util_hmap_free(&txs);
    *out = r;
    return 0;
oom:
    util_hmap_free(&txs);
    json_decref(list);
    return util_errf(err, UTIL_ENOMEM, "out of memory listing %s", address);
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
