/* risk: watchlists, the scan for funds leaving watched addresses and entities (risk.h). */
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "risk_int.h"

static int item_matches(const store *s, const cluster_map *clusters, const risk_watch_item *it,
                        const int64_t *item_addr, const uint32_t *item_ent, size_t i, uint32_t a)
{
    (void)s;
    if (!strcmp(it->kind, "address")) return item_addr[i] >= 0 && (uint32_t)item_addr[i] == a;
    if (item_ent[i] != CLUSTER_NO_ENTITY && clusters)
        return cluster_entity_of(clusters, a) == item_ent[i];
    return item_addr[i] >= 0 && (uint32_t)item_addr[i] == a;
}

int risk_watch_scan(const store *s, const labels_db *labels, const cluster_map *clusters,
                    const risk_watch_item *items, size_t n_items, uint64_t from_height,
                    uint64_t to_height, risk_alert_fn fn, void *arg, util_err *err)
{
    const store_totals *t = store_get_totals(s);
    if (to_height > t->blocks) to_height = t->blocks;
    if (from_height >= to_height || !n_items) return 0;
    int64_t *item_addr = malloc(n_items * sizeof *item_addr);
    uint32_t *item_ent = malloc(n_items * sizeof *item_ent);
    int rc = 0;
    if (!item_addr || !item_ent) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_items; i++) {
        item_addr[i] = -1;
        item_ent[i] = CLUSTER_NO_ENTITY;
        btc_addr key;
        char *end;
        unsigned long long id = strtoull(items[i].value, &end, 10);
        if (!btc_addr_decode(&key, items[i].value, NULL))
            item_addr[i] = store_find_addr(s, &key);
        else if (*items[i].value && !*end && id < t->addresses)
            item_addr[i] = (int64_t)id;
        if (!strcmp(items[i].kind, "entity") && clusters && item_addr[i] >= 0)
            item_ent[i] = cluster_entity_of(clusters, (uint32_t)item_addr[i]);
    }
    uint64_t first = store_block(s, from_height)->first_tx;
    uint64_t last = to_height < t->blocks ? store_block(s, to_height)->first_tx : t->txs;
    for (uint64_t tx = first; tx < last && !rc; tx++) {
        const store_tx_row *row = store_tx(s, tx);
        if (row->flags & STORE_TX_COINBASE) continue;
        uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx);
        for (size_t i = 0; i < n_items && !rc; i++) {
            if (item_addr[i] < 0) continue;
            int64_t amount = 0;
            json_t *ins = NULL;
            for (uint32_t k = 0; k < nin; k++) {
                uint64_t p = store_in_prev(s, row->first_in + k);
                if (p == STORE_COINBASE || p == STORE_UNRESOLVED) continue;
                uint32_t a = store_out_addr(s, p);
                if (a == STORE_NO_ADDR ||
                    !item_matches(s, clusters, &items[i], item_addr, item_ent, i, a))
                    continue;
                if (!ins) ins = json_array();
                amount += store_out_value(s, p);
                json_array_append_new(ins, json_pack("{s:o, s:I}", "address", risk_addr_json(s, a),
                                                     "value", (json_int_t)store_out_value(s, p)));
            }
            if (!ins) continue;
            json_t *outs = json_array();
            for (uint32_t j = 0; j < nout; j++) {
                uint64_t op = row->first_out + j;
                uint32_t a = store_out_addr(s, op);
                json_t *jo = json_pack("{s:o, s:I}", "address", risk_addr_json(s, a), "value",
                                       (json_int_t)store_out_value(s, op));
                if (labels && a != STORE_NO_ADDR) {
                    char canon[128];
                    btc_addr_encode(canon, store_addr(s, a));
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
                          "txid", risk_txid_json(s, tx), "height", (json_int_t)row->block, "time",
                          (json_int_t)store_block(s, row->block)->time, "amount",
                          (json_int_t)amount, "inputs", ins, "outputs", outs);
            if (!alert) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            rc = fn(alert, arg);
            json_decref(alert);
        }
    }
done:
    free(item_addr);
    free(item_ent);
    return rc;
}
