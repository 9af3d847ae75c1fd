/* risk: watchlists, the scan for funds leaving watched addresses and entities (risk.h). */
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../util/util_hmap.h"
#include "risk_int.h"

/* One watched input of a tx: which item it matches and which input it is. */
typedef struct watch_hit {
    uint32_t item, input;
} watch_hit;

static int hit_order(const void *a, const void *b)
{
    const watch_hit *x = a, *y = b;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    return x->input < y->input ? -1 : x->input > y->input;
}

/* The items matching address a, appended to hits (grown as needed). by_addr maps an address id
 * to the address items (and the entity items without a clustering) naming it, by_ent an entity
 * id to the entity items in it: a look-up per input, whatever the number of items. */
static int add_hits(const cluster_map *clusters, const util_hmap *by_addr, const util_hmap *by_ent,
                    uint32_t a, uint32_t input, watch_hit **hits, size_t *n, size_t *cap)
{
    for (int m = 0; m < 2; m++) {
        const util_hmap *map = m ? by_ent : by_addr;
        if (m && (!clusters || !by_ent->n)) break;
        uint64_t key = m ? cluster_entity_of(clusters, a) : a;
        if (m && key == CLUSTER_NO_ENTITY) break;
        for (size_t j = util_hmap_first(map, key); j != SIZE_MAX; j = util_hmap_next(map, key, j)) {
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                watch_hit *p = realloc(*hits, nc * sizeof *p);
                if (!p) return -1;
                *hits = p, *cap = nc;
            }
            (*hits)[(*n)++] = (watch_hit){(uint32_t)map->vals[j], input};
        }
    }
    return 0;
}

int risk_watch_scan(const store *s, const labels_db *labels, const cluster_map *clusters,
                    const risk_watch_item *items, size_t n_items, uint64_t from_height,
                    uint64_t to_height, risk_alert_fn fn, void *arg, util_err *err)
{
    const store_totals *t = store_get_totals(s);
    if (to_height > t->blocks) to_height = t->blocks;
    if (from_height >= to_height || !n_items) return 0;
    util_hmap by_addr = {0}, by_ent = {0};
    watch_hit *hits = NULL;
    size_t cap_hits = 0;
    int rc = 0;
    for (size_t i = 0; i < n_items && !rc; i++) {
        int64_t addr = -1;
        btc_addr key;
        char *end;
        unsigned long long id = strtoull(items[i].value, &end, 10);
        if (!btc_addr_decode(&key, items[i].value, NULL))
            addr = store_find_addr(s, &key);
        else if (*items[i].value && !*end && id < t->addresses)
            addr = (int64_t)id;
        if (addr < 0) continue; /* nothing of it is stored (yet) */
        uint32_t ent = !strcmp(items[i].kind, "entity") && clusters
                           ? cluster_entity_of(clusters, (uint32_t)addr)
                           : CLUSTER_NO_ENTITY;
        if (ent != CLUSTER_NO_ENTITY ? util_hmap_add(&by_ent, ent, i)
                                     : util_hmap_add(&by_addr, (uint64_t)addr, i))
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    uint64_t first = store_block(s, from_height)->first_tx;
    uint64_t last = to_height < t->blocks ? store_block(s, to_height)->first_tx : t->txs;
    for (uint64_t tx = first; tx < last && !rc; tx++) {
        store_tx_row row;
        store_tx(s, tx, &row);
        if (row.flags & STORE_TX_COINBASE) continue;
        uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx);
        size_t n_hits = 0;
        for (uint32_t k = 0; k < nin && !rc; k++) {
            uint64_t p = store_in_prev(s, row.first_in + k);
            if (p == STORE_COINBASE || p == STORE_UNRESOLVED) continue;
            uint32_t a = store_out_addr(s, p);
            if (a != STORE_NO_ADDR &&
                add_hits(clusters, &by_addr, &by_ent, a, k, &hits, &n_hits, &cap_hits))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        if (!n_hits || rc) continue;
        /* One alert per item, in item order, its inputs in input order (as a scan item by
         * item would give them). */
        qsort(hits, n_hits, sizeof *hits, hit_order);
        for (size_t h0 = 0; h0 < n_hits && !rc;) {
            size_t i = hits[h0].item, h1 = h0;
            int64_t amount = 0;
            json_t *ins = json_array();
            for (; h1 < n_hits && hits[h1].item == i; h1++) {
                uint64_t p = store_in_prev(s, row.first_in + hits[h1].input);
                uint32_t a = store_out_addr(s, p);
                amount += store_out_value(s, p);
                json_array_append_new(ins, json_pack("{s:o, s:I}", "address", risk_addr_json(s, a),
                                                     "value", (json_int_t)store_out_value(s, p)));
            }
            h0 = h1;
            json_t *outs = json_array();
            for (uint32_t j = 0; j < nout; j++) {
                uint64_t op = row.first_out + j;
                uint32_t a = store_out_addr(s, op);
                json_t *jo = json_pack("{s:o, s:I}", "address", risk_addr_json(s, a), "value",
                                       (json_int_t)store_out_value(s, op));
                if (labels && a != STORE_NO_ADDR) {
                    char canon[128];
                    store_addr_text(s, a, canon);
                    const labels_label *first;
                    size_t n;
                    labels_find(labels, "btc", canon, &first, &n);
                    if (n) {
                        json_t *ls = json_array();
                        for (size_t q = 0; q < n; q++)
                            json_array_append_new(ls, risk_label_json(&first[q], NULL));
                        json_object_set_new(jo, "labels", ls);
                    }
                }
                json_array_append_new(outs, jo);
            }
            json_t *alert =
                json_pack("{s:s, s:{s:s, s:s}, s:o, s:I, s:I, s:I, s:o, s:o}", "list",
                          items[i].list, "item", "kind", items[i].kind, "value", items[i].value,
                          "txid", risk_txid_json(s, tx), "height", (json_int_t)row.block, "time",
                          (json_int_t)store_block(s, row.block)->time, "amount", (json_int_t)amount,
                          "inputs", ins, "outputs", outs);
            if (!alert) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            rc = fn(alert, arg);
            json_decref(alert);
        }
    }
    free(hits);
    util_hmap_free(&by_addr);
    util_hmap_free(&by_ent);
    return rc;
}
