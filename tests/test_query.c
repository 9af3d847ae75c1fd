/* test_query: the typed query results (query_tx_get, query_address_get, query_stats_get) on the
 * demo chain (demo/blk00000.dat) against figures computed here from the block file itself:
 * the frames walked by hand, each block parsed with btc_parse_block, heights from the prev-hash
 * links, previous outputs, spenders, fees and address histories derived in this file. Every
 * transaction and every address of the chain is checked, block 170's payment to Hal Finney
 * also against its published figures; labels on an output and the JSON writers' agreement
 * with the typed results too. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btc/btc.h"
#include "check.h"
#include "fixture.h"
#include "ingest/ingest.h"
#include "labels/labels.h"
#include "query/query.h"
#include "store/store.h"

/* One output of the chain as the block file says. */
typedef struct ref_out {
    int64_t value;
    int type;
    char addr[QUERY_ADDR_SIZE]; /* "" when none */
    int spent;
    uint8_t spent_by[32];
} ref_out;

typedef struct ref_tx {
    uint8_t txid[32];
    uint32_t height, time, size, vsize, n_in, n_out;
    int coinbase;
    uint8_t block_hash[32];
    btc_txin *ins; /* n_in */
    ref_out *outs; /* n_out */
} ref_tx;

typedef struct ref_chain {
    ref_tx *txs; /* in chain order: height, then position in the block */
    size_t n_txs;
    uint32_t n_blocks;
    uint8_t tip[32];
} ref_chain;

static ref_tx *find_tx(const ref_chain *c, const uint8_t txid[32])
{
    for (size_t i = 0; i < c->n_txs; i++)
        if (!memcmp(c->txs[i].txid, txid, 32)) return &c->txs[i];
    return NULL;
}

typedef struct raw_block {
    const uint8_t *p;
    size_t n;
    uint8_t hash[32], prev[32];
    int height;
} raw_block;

/* Walk the magic + size frames, order the blocks by their prev links from the genesis block
 * and collect every tx with its outputs; then mark spenders. */
static int load_chain(const char *path, ref_chain *c, uint8_t **buf_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *buf_out = buf;
    raw_block *blocks = NULL;
    size_t nb = 0;
    for (size_t off = 0; off + 8 <= (size_t)size;) {
        uint32_t len =
            buf[off + 4] | buf[off + 5] << 8 | buf[off + 6] << 16 | (uint32_t)buf[off + 7] << 24;
        if (memcmp(buf + off, "\xf9\xbe\xb4\xd9", 4) || off + 8 + len > (size_t)size) break;
        blocks = realloc(blocks, (nb + 1) * sizeof *blocks);
        blocks[nb] = (raw_block){buf + off + 8, len, {0}, {0}, -1};
        if (len < 80) break;
        btc_header h;
        btc_parse_header(&h, blocks[nb].p);
        memcpy(blocks[nb].hash, h.hash, 32);
        memcpy(blocks[nb].prev, h.prev, 32);
        nb++;
        off += 8 + len;
    }
    /* heights: the genesis has an all-zero prev; each other block is its parent's + 1 */
    static const uint8_t zero[32];
    raw_block **order = calloc(nb, sizeof *order);
    size_t n_order = 0;
    for (size_t i = 0; i < nb; i++)
        if (!memcmp(blocks[i].prev, zero, 32)) order[n_order++] = &blocks[i];
    for (size_t k = 0; k < n_order && n_order < nb; k++)
        for (size_t i = 0; i < nb; i++)
            if (!memcmp(blocks[i].prev, order[k]->hash, 32)) order[n_order++] = &blocks[i];
    c->n_blocks = (uint32_t)n_order;
    memcpy(c->tip, order[n_order - 1]->hash, 32);
    btc_block b = {0};
    for (size_t k = 0; k < n_order; k++) {
        util_err err = {0};
        if (btc_parse_block(&b, order[k]->p, order[k]->n, BTC_PARSE_VERIFY_MERKLE, &err)) {
            fprintf(stderr, "parse: %s\n", err.msg);
            return -1;
        }
        c->txs = realloc(c->txs, (c->n_txs + b.n_tx) * sizeof *c->txs);
        for (uint32_t i = 0; i < b.n_tx; i++) {
            const btc_tx *t = &b.txs[i];
            ref_tx *r = &c->txs[c->n_txs++];
            memset(r, 0, sizeof *r);
            memcpy(r->txid, t->txid, 32);
            memcpy(r->block_hash, b.hdr.hash, 32);
            r->height = (uint32_t)k;
            r->time = b.hdr.time;
            r->size = t->size;
            r->vsize = t->vsize;
            r->coinbase = t->coinbase;
            r->n_in = t->n_in;
            r->n_out = t->n_out;
            r->ins = calloc(t->n_in + 1, sizeof *r->ins);
            memcpy(r->ins, &b.ins[t->first_in], t->n_in * sizeof *r->ins);
            r->outs = calloc(t->n_out + 1, sizeof *r->outs);
            for (uint32_t o = 0; o < t->n_out; o++) {
                const btc_txout *x = &b.outs[t->first_out + o];
                r->outs[o].value = x->value;
                r->outs[o].type = x->type;
                if (x->addr.kind) btc_addr_encode(r->outs[o].addr, &x->addr);
            }
        }
    }
    btc_block_free(&b);
    for (size_t i = 0; i < c->n_txs; i++) {
        ref_tx *t = &c->txs[i];
        for (uint32_t k = 0; k < t->n_in && !t->coinbase; k++) {
            ref_tx *p = find_tx(c, t->ins[k].prev_txid);
            if (p && t->ins[k].prev_vout < p->n_out) {
                p->outs[t->ins[k].prev_vout].spent = 1;
                memcpy(p->outs[t->ins[k].prev_vout].spent_by, t->txid, 32);
            }
        }
    }
    free(order);
    free(blocks);
    return 0;
}

static void hex_of(char out[65], const uint8_t h[32])
{
    util_hash_hex(out, h);
}

/* Every tx: the typed result equals the block file's figures. */
static void check_txs(const query_ctx *q, const ref_chain *c)
{
    size_t checked = 0;
    for (size_t i = 0; i < c->n_txs; i++) {
        const ref_tx *t = &c->txs[i];
        char id[65];
        hex_of(id, t->txid);
        query_tx_result r;
        util_err err = {0};
        CHECK(query_tx_get(q, id, &r, &err) == 0);
        if (err.code) continue;
        CHECK(!memcmp(r.txid, t->txid, 32) && !memcmp(r.block_hash, t->block_hash, 32));
        CHECK(r.height == t->height && r.time == t->time);
        CHECK(r.size == t->size && r.vsize == t->vsize && r.coinbase == t->coinbase);
        CHECK(r.n_inputs == t->n_in && r.n_outputs == t->n_out);
        int64_t in_sum = 0, out_sum = 0;
        for (uint32_t k = 0; k < t->n_in && k < r.n_inputs; k++) {
            const query_tx_input *qi = &r.inputs[k];
            if (t->coinbase) {
                CHECK(qi->kind == QUERY_IN_COINBASE);
                continue;
            }
            const ref_tx *p = find_tx(c, t->ins[k].prev_txid);
            CHECK(p != NULL); /* the demo chain spends only its own outputs */
            if (!p) continue;
            const ref_out *po = &p->outs[t->ins[k].prev_vout];
            CHECK(qi->kind == QUERY_IN_SPEND && qi->prev_known);
            CHECK(!memcmp(qi->prev_txid, t->ins[k].prev_txid, 32) &&
                  qi->vout == t->ins[k].prev_vout);
            CHECK(qi->value == po->value && qi->type == po->type);
            CHECK(qi->has_address == (po->addr[0] != 0));
            CHECK_STR(qi->address, po->addr);
            in_sum += po->value;
        }
        for (uint32_t k = 0; k < t->n_out && k < r.n_outputs; k++) {
            const query_tx_output *qo = &r.outputs[k];
            const ref_out *o = &t->outs[k];
            CHECK(qo->n == k && qo->value == o->value && qo->type == o->type);
            CHECK_STR(qo->address, o->addr);
            CHECK(qo->spent == o->spent);
            CHECK(!o->spent || !memcmp(qo->spent_by, o->spent_by, 32));
            out_sum += o->value;
        }
        CHECK(r.fee_known && r.output_value == out_sum);
        CHECK(r.input_value == (t->coinbase ? 0 : in_sum));
        CHECK(r.fee == (t->coinbase ? 0 : in_sum - out_sum));
        /* the JSON writer says what the typed result says */
        json_t *j = query_tx_json(&r);
        CHECK(json_integer_value(json_object_get(j, "fee")) == r.fee);
        CHECK(json_array_size(json_object_get(j, "outputs")) == r.n_outputs);
        json_decref(j);
        query_tx_free(&r);
        checked++;
    }
    CHECK(checked == c->n_txs && checked > 400);
}

/* Block 170: the first bitcoin payment, 10 BTC to Hal Finney and 40 BTC back, from block 9's
 * coinbase; no fee. */
static void check_block_170(const query_ctx *q)
{
    query_tx_result r;
    util_err err = {0};
    CHECK(query_tx_get(q, "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16", &r,
                       &err) == 0);
    if (err.code) return;
    char h[65];
    CHECK(r.height == 170 && r.n_inputs == 1 && r.n_outputs == 2 && !r.coinbase);
    hex_of(h, r.inputs[0].prev_txid);
    CHECK_STR(h, "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9");
    CHECK(r.inputs[0].vout == 0 && r.inputs[0].value == 5000000000);
    CHECK_STR(r.inputs[0].address, "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S");
    CHECK(r.outputs[0].value == 1000000000 && r.outputs[1].value == 4000000000);
    CHECK_STR(r.outputs[0].address, "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3");
    CHECK_STR(r.outputs[1].address, "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S");
    CHECK(r.outputs[0].type == BTC_P2PK && r.fee == 0 && r.input_value == 5000000000);
    /* the label imported on Hal's address, borrowed from the label set */
    CHECK(r.outputs[0].n_labels == 1 && r.outputs[1].n_labels == 0);
    if (r.outputs[0].n_labels) CHECK_STR(r.outputs[0].labels[0].category, "theft");
    query_tx_free(&r);
    CHECK(query_tx_get(q, "zz", &r, &err) == UTIL_EINVAL);
    CHECK(query_tx_get(q, "00000000000000000000000000000000000000000000000000000000000000ff", &r,
                       &err) == UTIL_ENOTFOUND);
}

/* Every address: received, sent, balance, output and tx counts, and pages of its outputs
 * (newest first) against its history in the block file. */
static void check_addresses(const query_ctx *q, const ref_chain *c)
{
    size_t checked = 0;
    for (size_t i = 0; i < c->n_txs; i++)
        for (uint32_t k = 0; k < c->txs[i].n_out; k++) {
            const char *a = c->txs[i].outs[k].addr;
            if (!a[0]) continue;
            /* once per address: at its first output */
            int first = 1;
            for (size_t j = 0; j <= i && first; j++)
                for (uint32_t m = 0; m < c->txs[j].n_out && first; m++)
                    if ((j < i || m < k) && !strcmp(c->txs[j].outs[m].addr, a)) first = 0;
            if (!first) continue;
            /* its outputs in chain order, and the distinct txs */
            const ref_tx *otx[64];
            uint32_t on[64];
            size_t n = 0;
            int64_t received = 0, sent = 0;
            const uint8_t *txids[128];
            size_t n_txids = 0;
            for (size_t j = i; j < c->n_txs; j++)
                for (uint32_t m = 0; m < c->txs[j].n_out; m++) {
                    const ref_out *o = &c->txs[j].outs[m];
                    if (strcmp(o->addr, a) || n == 64) continue;
                    otx[n] = &c->txs[j], on[n++] = m;
                    received += o->value;
                    if (o->spent) sent += o->value;
                    const uint8_t *add[2] = {c->txs[j].txid, o->spent ? o->spent_by : NULL};
                    for (int x = 0; x < 2; x++) {
                        int seen = !add[x];
                        for (size_t y = 0; y < n_txids && !seen; y++)
                            seen = !memcmp(txids[y], add[x], 32);
                        if (!seen && n_txids < 128) txids[n_txids++] = add[x];
                    }
                }
            size_t offsets[2] = {0, 1}, limits[2] = {100, 2};
            for (int p = 0; p < 2; p++) {
                query_address_result r;
                util_err err = {0};
                CHECK(query_address_get(q, a, offsets[p], limits[p], 0, &r, &err) == 0);
                if (err.code) continue;
                CHECK_STR(r.address, a);
                CHECK(r.received == received && r.sent == sent && r.balance == received - sent);
                CHECK(r.output_count == n && r.tx_count == n_txids && r.offset == offsets[p]);
                size_t want = n > offsets[p] ? n - offsets[p] : 0;
                if (want > limits[p]) want = limits[p];
                CHECK(r.n_outputs == want);
                for (size_t x = 0; x < r.n_outputs && x < want; x++) {
                    size_t at = n - 1 - offsets[p] - x; /* newest first */
                    const query_address_output *e = &r.outputs[x];
                    const ref_out *o = &otx[at]->outs[on[at]];
                    CHECK(!memcmp(e->txid, otx[at]->txid, 32) && e->n == on[at]);
                    CHECK(e->height == otx[at]->height && e->value == o->value);
                    CHECK(e->type == o->type && e->spent == o->spent);
                    CHECK(!o->spent || !memcmp(e->spent_by, o->spent_by, 32));
                }
                query_address_free(&r);
            }
            checked++;
        }
    CHECK(checked > 400);
    query_address_result r;
    util_err err = {0};
    CHECK(query_address_get(q, "1BadAddress", 0, 10, 0, &r, &err) == UTIL_EINVAL);
    CHECK(query_address_get(q, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", 0, 10, 0, &r, &err) ==
          UTIL_ENOTFOUND);
}

static void check_stats(const query_ctx *q, const ref_chain *c)
{
    uint64_t outputs = 0, inputs = 0, utxo = 0;
    int64_t value = 0, utxo_value = 0;
    for (size_t i = 0; i < c->n_txs; i++) {
        inputs += c->txs[i].n_in;
        for (uint32_t k = 0; k < c->txs[i].n_out; k++) {
            const ref_out *o = &c->txs[i].outs[k];
            outputs++, value += o->value;
            if (!o->spent) utxo++, utxo_value += o->value;
        }
    }
    for (int recompute = 0; recompute < 2; recompute++) {
        query_stats_result r;
        util_err err = {0};
        CHECK(query_stats_get(q->s, recompute, &r, &err) == 0);
        CHECK(r.has_tip && !memcmp(r.tip_hash, c->tip, 32));
        CHECK(r.totals.blocks == c->n_blocks && r.totals.txs == c->n_txs);
        CHECK(r.totals.inputs == inputs && r.totals.outputs == outputs);
        CHECK(r.totals.total_output_value == value && r.totals.total_fees == 0);
        CHECK(r.totals.utxo_count == utxo && r.totals.utxo_value == utxo_value);
        /* a valid store's runs partition its rows: the scan's fast sum of the fees */
        CHECK(r.recomputed == recompute && (!recompute || r.fees_by_rows == 0));
        json_t *j = query_stats_json(&r);
        CHECK(json_integer_value(json_object_get(j, "tip_height")) == (json_int_t)c->n_blocks - 1);
        json_decref(j);
    }
}

int main(void)
{
    char tmp[] = "/tmp/test_query.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char db[600], csv[600], cmd[700];
    snprintf(db, sizeof db, "%s/db", tmp);
    snprintf(csv, sizeof csv, "%s/l.csv", tmp);
    ref_chain c = {0};
    uint8_t *buf = NULL;
    CHECK(load_chain("demo/blk00000.dat", &c, &buf) == 0);
    CHECK(c.n_blocks == 439 && c.n_txs == 446);
    CHECK(fixture_import(db, "demo/blk00000.dat") == 0);
    FILE *f = fopen(csv, "w");
    if (f) {
        fputs("chain,address,category,actor,source,confidence\n"
              "btc,1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3,theft,test,test_query,80\n",
              f);
        fclose(f);
    }
    store *s = NULL;
    labels_db *labels = NULL;
    util_err err = {0};
    CHECK(store_open(&s, db, 0, &err) == 0);
    CHECK(labels_db_open(&labels, db, 0, &err) == 0);
    labels_import_opts lo = {0};
    if (labels) CHECK(labels_import_file(labels, csv, &lo, NULL, &err) == 0);
    if (s && labels && c.n_txs) {
        query_ctx q = {s, labels, NULL, NULL};
        check_txs(&q, &c);
        check_block_170(&q);
        check_addresses(&q, &c);
        check_stats(&q, &c);
    }
    if (labels) labels_db_close(labels);
    if (s) store_close(s);
    for (size_t i = 0; i < c.n_txs; i++)
        free(c.txs[i].ins), free(c.txs[i].outs);
    free(c.txs);
    free(buf);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return CHECK_DONE();
}
