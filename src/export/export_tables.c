/* The rows of each table, read from the store's columns in id order (so the same store gives
 * the same rows), and the column definitions the header and the schema files are made from. */
#include <string.h>

#include "../btc/btc.h"
#include "export_int.h"

static const export_col blocks_cols[] = {
    {"height", "BIGINT", "block height (0 = the first block of the store)"},
    {"hash", "VARCHAR", "block hash, display hex"},
    {"time", "BIGINT", "header time, Unix seconds"},
    {"bits", "BIGINT", "header difficulty target, compact form"},
    {"size", "BIGINT", "serialized size, bytes"},
    {"n_tx", "BIGINT", "transactions"},
    {"first_tx_id", "BIGINT", "tx_id of its coinbase"},
    {"chainwork", "VARCHAR", "cumulative work up to and including it, 32 hex digits"},
};

static const export_col txs_cols[] = {
    {"tx_id", "BIGINT", "dense id in chain order"},
    {"txid", "VARCHAR", "display hex"},
    {"block_height", "BIGINT", "block it is in"},
    {"block_index", "BIGINT", "position in the block (0 = coinbase)"},
    {"n_inputs", "BIGINT", "inputs"},
    {"n_outputs", "BIGINT", "outputs"},
    {"size", "BIGINT", "serialized size, bytes"},
    {"vsize", "BIGINT", "virtual size, vbytes"},
    {"coinbase", "BOOLEAN", "the block's coinbase"},
    {"segwit", "BOOLEAN", "serialized with witness data"},
    {"input_value", "BIGINT",
     "sum of the spent outputs, satoshis; 0 for a coinbase; NULL when an "
     "input is unresolved"},
    {"output_value", "BIGINT", "sum of its outputs, satoshis"},
    {"fee", "BIGINT",
     "input_value - output_value, satoshis; 0 for a coinbase; NULL when an "
     "input is unresolved"},
    {"coinjoin", "VARCHAR",
     "CoinJoin kind the clustering found (wasabi1 wasabi2 whirlpool "
     "joinmarket generic whirlpool_tx0); NULL for none or not clustered"},
};

static const export_col outputs_cols[] = {
    {"output_id", "BIGINT", "dense id in chain order"},
    {"tx_id", "BIGINT", "tx it belongs to"},
    {"vout", "BIGINT", "index in the tx"},
    {"block_height", "BIGINT", "block of the tx"},
    {"value", "BIGINT", "satoshis"},
    {"script_type", "VARCHAR",
     "nonstandard p2pk p2pkh p2sh p2wpkh p2wsh p2tr witness_unknown "
     "multisig nulldata"},
    {"address_id", "BIGINT", "address it pays; NULL for none"},
    {"address", "VARCHAR", "mainnet spelling (P2PK as its key's P2PKH); NULL for none"},
    {"spent_by_input_id", "BIGINT", "input that spends it; NULL while unspent"},
    {"spent_by_tx_id", "BIGINT", "tx of that input; NULL while unspent"},
    {"op_return_data", "VARCHAR", "nulldata: the pushed bytes as hex; NULL otherwise or empty"},
};

static const export_col inputs_cols[] = {
    {"input_id", "BIGINT", "dense id in chain order"},
    {"tx_id", "BIGINT", "tx it belongs to"},
    {"vin", "BIGINT", "index in the tx"},
    {"block_height", "BIGINT", "block of the tx"},
    {"kind", "VARCHAR", "spend, coinbase, or unresolved (spends an output the store lacks)"},
    {"prev_txid", "VARCHAR", "txid of the spent output; NULL for a coinbase"},
    {"prev_vout", "BIGINT", "index of the spent output; NULL for a coinbase"},
    {"prev_output_id", "BIGINT", "the spent output; NULL unless kind = spend"},
    {"prev_tx_id", "BIGINT", "its tx; NULL unless kind = spend"},
    {"value", "BIGINT", "its value, satoshis; NULL unless kind = spend"},
    {"script_type", "VARCHAR", "its script type; NULL unless kind = spend"},
    {"address_id", "BIGINT", "its address; NULL for none"},
    {"address", "VARCHAR", "its address's spelling; NULL for none"},
};

static const export_col addresses_cols[] = {
    {"address_id", "BIGINT", "dense id in first-seen order"},
    {"address", "VARCHAR", "mainnet spelling"},
    {"type", "VARCHAR", "p2pkh p2sh p2wpkh p2wsh p2tr witness_unknown"},
    {"first_output_id", "BIGINT", "first output paying it"},
    {"entity_id", "BIGINT",
     "its entity (the smallest address_id of the cluster); NULL when not "
     "clustered"},
};

static const export_col entities_cols[] = {
    {"entity_id", "BIGINT", "the smallest address_id of the cluster"},
    {"size", "BIGINT", "addresses"},
};

static const export_col labels_cols[] = {
    {"chain", "VARCHAR", "btc, eth, ..."},
    {"address", "VARCHAR", "canonical spelling (docs/labels.md)"},
    {"address_id", "BIGINT", "btc labels of an address in the store: its address_id"},
    {"category", "VARCHAR", "exchange mixer sanctioned theft ..."},
    {"actor", "VARCHAR", "who is behind it"},
    {"name", "VARCHAR", "label text"},
    {"source", "VARCHAR", "where it comes from"},
    {"url", "VARCHAR", "source page"},
    {"programs", "VARCHAR", "OFAC programs, comma-separated"},
    {"first_seen", "VARCHAR", "YYYY-MM-DD"},
    {"last_seen", "VARCHAR", "YYYY-MM-DD"},
    {"updated", "VARCHAR", "the source's own date"},
    {"confidence", "INTEGER", "0..100"},
};

static int blocks_rows(export_w *w, const export_src *src)
{
    uint64_t n = store_get_totals(src->s)->blocks;
    for (uint64_t h = 0; h < n; h++) {
        const store_block_row *b = store_block(src->s, h);
        export_w_u64(w, h);
        export_w_hash(w, store_block_hash(src->s, h));
        export_w_u64(w, b->time);
        export_w_u64(w, b->bits);
        export_w_u64(w, b->size);
        export_w_u64(w, b->n_tx);
        export_w_u64(w, b->first_tx);
        unsigned __int128 cw = store_block_chainwork(src->s, h);
        uint8_t be[16];
        for (int i = 15; i >= 0; i--, cw >>= 8)
            be[i] = (uint8_t)cw;
        export_w_hex(w, be, 16);
        if (export_w_end_row(w)) return w->rc;
    }
    return 0;
}

static int txs_rows(export_w *w, const export_src *src)
{
    const store *s = src->s;
    uint64_t n = store_get_totals(s)->txs;
    uint64_t clustered = src->clusters ? cluster_map_txs(src->clusters) : 0;
    for (uint64_t tx = 0; tx < n; tx++) {
        store_tx_row r;
        store_tx(s, tx, &r);
        uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
        int64_t out_v = 0;
        for (uint32_t k = 0; k < n_out; k++)
            out_v += store_out_value(s, r.first_out + k);
        export_w_u64(w, tx);
        export_w_hash(w, store_tx_hash(s, tx));
        export_w_u64(w, r.block);
        export_w_u64(w, tx - store_block(s, r.block)->first_tx);
        export_w_u64(w, n_in);
        export_w_u64(w, n_out);
        export_w_u64(w, r.size);
        export_w_u64(w, r.vsize);
        export_w_bool(w, (r.flags & STORE_TX_COINBASE) != 0);
        export_w_bool(w, (r.flags & STORE_TX_SEGWIT) != 0);
        if (r.flags & STORE_TX_UNRESOLVED) {
            export_w_null(w);
            export_w_i64(w, out_v);
            export_w_null(w);
        } else {
            /* The store's fee (as `stats` sums it); input_value from it, so the two agree. */
            int64_t fee = (r.flags & STORE_TX_COINBASE) ? 0 : r.fee;
            export_w_i64(w, (r.flags & STORE_TX_COINBASE) ? 0 : out_v + fee);
            export_w_i64(w, out_v);
            export_w_i64(w, fee);
        }
        int kind = tx < clustered ? cluster_tx_kind(src->clusters, tx) : CLUSTER_CJ_NONE;
        export_w_str(w, kind == CLUSTER_CJ_NONE ? NULL : cluster_cj_kind_name(kind));
        if (export_w_end_row(w)) return w->rc;
    }
    return 0;
}

/* An address column pair: id and spelling, or two NULLs. */
static void w_address(export_w *w, const store *s, uint32_t a)
{
    if (a == STORE_NO_ADDR) {
        export_w_null(w);
        export_w_null(w);
        return;
    }
    char text[128];
    store_addr_text(s, a, text);
    export_w_u64(w, a);
    export_w_str(w, text);
}

static int outputs_rows(export_w *w, const export_src *src)
{
    const store *s = src->s;
    uint64_t n = store_get_totals(s)->txs;
    for (uint64_t tx = 0; tx < n; tx++) {
        store_tx_row r;
        store_tx(s, tx, &r);
        uint32_t n_out = store_tx_n_out(s, tx);
        for (uint32_t k = 0; k < n_out; k++) {
            uint64_t o = r.first_out + k;
            int type = store_out_type(s, o);
            export_w_u64(w, o);
            export_w_u64(w, tx);
            export_w_u64(w, k);
            export_w_u64(w, r.block);
            export_w_i64(w, store_out_value(s, o));
            export_w_str(w, btc_script_type_name(type));
            w_address(w, s, store_out_addr(s, o));
            uint64_t in = store_out_spent_by(s, o);
            if (in == STORE_NONE) {
                export_w_null(w);
                export_w_null(w);
            } else {
                export_w_u64(w, in);
                export_w_u64(w, store_input_tx(s, in));
            }
            const uint8_t *p = NULL;
            size_t pn = 0;
            if (type == BTC_NULLDATA && store_out_payload(s, o, &p, &pn)) pn = 0;
            export_w_hex(w, p, pn);
            if (export_w_end_row(w)) return w->rc;
        }
    }
    return 0;
}

static int inputs_rows(export_w *w, const export_src *src)
{
    const store *s = src->s;
    uint64_t n = store_get_totals(s)->txs;
    for (uint64_t tx = 0; tx < n; tx++) {
        store_tx_row r;
        store_tx(s, tx, &r);
        uint32_t n_in = store_tx_n_in(s, tx);
        for (uint32_t k = 0; k < n_in; k++) {
            uint64_t in = r.first_in + k, prev = store_in_prev(s, in);
            export_w_u64(w, in);
            export_w_u64(w, tx);
            export_w_u64(w, k);
            export_w_u64(w, r.block);
            if (prev == STORE_COINBASE) {
                export_w_str(w, "coinbase");
                for (int i = 0; i < 8; i++)
                    export_w_null(w);
            } else if (prev == STORE_UNRESOLVED) {
                uint8_t txid[32];
                uint32_t vout;
                export_w_str(w, "unresolved");
                if (store_in_unresolved(s, in, txid, &vout) == 0) {
                    export_w_hash(w, txid);
                    export_w_u64(w, vout);
                } else {
                    export_w_null(w);
                    export_w_null(w);
                }
                for (int i = 0; i < 6; i++)
                    export_w_null(w);
            } else {
                uint64_t ptx = store_output_tx(s, prev);
                export_w_str(w, "spend");
                export_w_hash(w, store_tx_hash(s, ptx));
                export_w_u64(w, prev - store_tx_first_out(s, ptx));
                export_w_u64(w, prev);
                export_w_u64(w, ptx);
                export_w_i64(w, store_out_value(s, prev));
                export_w_str(w, btc_script_type_name(store_out_type(s, prev)));
                w_address(w, s, store_out_addr(s, prev));
            }
            if (export_w_end_row(w)) return w->rc;
        }
    }
    return 0;
}

/* Addresses in id order with their first output. Ids are given in first-seen order, so one
 * pass over the outputs meets each address's first output in increasing id, and only the
 * addresses some output pays (those `stats` counts). */
static int addresses_rows(export_w *w, const export_src *src)
{
    const store *s = src->s;
    const store_totals *t = store_get_totals(s);
    uint32_t next = 0;
    uint32_t clustered = src->clusters ? cluster_map_addresses(src->clusters) : 0;
    for (uint64_t o = 0; o < t->outputs; o++) {
        uint32_t a = store_out_addr(s, o);
        if (a == STORE_NO_ADDR || a < next) continue;
        next = a + 1;
        btc_addr key, *ad = &key;
        store_addr(s, a, &key);
        char text[128];
        btc_addr_encode(text, ad);
        export_w_u64(w, a);
        export_w_str(w, text);
        export_w_str(w, btc_addr_kind_name(ad->kind));
        export_w_u64(w, o);
        if (a < clustered)
            export_w_u64(w, cluster_entity_of(src->clusters, a));
        else
            export_w_null(w);
        if (export_w_end_row(w)) return w->rc;
    }
    return 0;
}

static int entities_rows(export_w *w, const export_src *src)
{
    if (!src->clusters) return 0;
    uint32_t n = cluster_map_addresses(src->clusters);
    for (uint32_t a = 0; a < n; a++) {
        if (cluster_entity_of(src->clusters, a) != a) continue;
        export_w_u64(w, a);
        export_w_u64(w, cluster_entity_size(src->clusters, a));
        if (export_w_end_row(w)) return w->rc;
    }
    return 0;
}

static int labels_rows(export_w *w, const export_src *src)
{
    if (!src->labels) return 0;
    size_t n = labels_db_count(src->labels);
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = labels_db_get(src->labels, i);
        const char *text[] = {l->category, l->actor,      l->name,      l->source, l->url,
                              l->programs, l->first_seen, l->last_seen, l->updated};
        export_w_str(w, l->chain);
        export_w_str(w, l->address);
        btc_addr key;
        int64_t id = -1;
        if (!strcmp(l->chain, "btc") && btc_addr_decode(&key, l->address, NULL) == 0)
            id = store_find_addr(src->s, &key);
        if (id >= 0)
            export_w_u64(w, (uint64_t)id);
        else
            export_w_null(w);
        for (size_t k = 0; k < sizeof text / sizeof *text; k++) {
            /* labels.db files from before import refused them can hold bytes that are not
             * UTF-8, which DuckDB's reader rejects: those fields are written escaped. */
            char buf[LABELS_ESC_BUF];
            size_t len = strlen(text[k]);
            export_w_str(w, labels_text_check(text[k], len, 1, NULL) == len
                                ? text[k]
                                : labels_text_escape(buf, sizeof buf, text[k]));
        }
        export_w_i64(w, l->confidence);
        if (export_w_end_row(w)) return w->rc;
    }
    return 0;
}

#define T(name, doc, fn)                                                                           \
    {                                                                                              \
#name, doc, name##_cols, sizeof name##_cols / sizeof *name##_cols, fn                      \
    }
const export_table export_tables[EXPORT_NTABLES] = {
    T(blocks, "one row per block of the main chain", blocks_rows),
    T(txs, "one row per transaction", txs_rows),
    T(outputs, "one row per output, with its spending input", outputs_rows),
    T(inputs, "one row per input, with the output it spends", inputs_rows),
    T(addresses, "one row per address paid by some output", addresses_rows),
    T(entities, "one row per entity of the clustering (empty when not clustered)", entities_rows),
    T(labels, "one row per label of the store's label set (every chain)", labels_rows),
};
