/* evmexpo's insides shared by its files (evmexpo.h is the interface). */
#ifndef CT_EVMEXPO_INT_H
#define CT_EVMEXPO_INT_H

#include "../util/util_hmap.h"
#include "evmexpo.h"

#define EVMEXPO_ROW_BYTES 48 /* u64 xfer, u32 cat, u32 asset, 32-byte amount (little-endian) */
#define EVMEXPO_STATE_MAGIC "CTEXS001"

/* The stops of a chain under labels: addresses (20 bytes) with a category name, sorted by
 * address; the category table (every stop category, sorted by name: ids are positions); a
 * hash of both with the floors (a change means a rebuild). */
typedef struct ex_stop {
    uint8_t addr[20];
    uint32_t cat;
} ex_stop;
typedef struct ex_stops {
    ex_stop *v;
    size_t n;
    char (*cats)[64];
    int *tracked;
    size_t n_cats;
    uint64_t hash;
} ex_stops;
int ex_stops_compute(const labels_db *labels, const char *chain, uint64_t floor_native,
                     uint64_t floor_token, ex_stops *out, util_err *err);
void ex_stops_free(ex_stops *st);
/* addr id -> cat id for the stops the store has seen. */
int ex_stops_map(const ex_stops *st, const evm_store *s, util_hmap *m, util_err *err);

struct evmexpo_index {
    char dir[4200];
    /* manifest */
    uint64_t gen, rows_gen, first_block, blocks, xfers, rows, floor_native, floor_token;
    uint64_t stops_hash, bytes;
    uint8_t tip[32];
    char (*cats)[64];
    int *tracked;
    size_t n_cats;
    /* rows (mapped) */
    const uint8_t *rowmap;
    size_t rowmap_len;
    /* state: records sorted by (addr, asset) and their categories */
    evmexpo_holding *recs;
    uint32_t *rec_addr;
    size_t n_recs;
    evmexpo_cat_amount *pool;
    size_t n_pool;
    evmexpo_drop *drops;
    size_t n_drops;
};

int ex_manifest_path(char *buf, size_t n, const char *db, const char *chain, const char *name);

#endif
