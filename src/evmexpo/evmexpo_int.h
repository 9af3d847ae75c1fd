/* evmexpo's insides shared by its files (evmexpo.h is the interface). */
#ifndef CT_EVMEXPO_INT_H
#define CT_EVMEXPO_INT_H

#include "../util/util_hmap.h"
#include "evmexpo.h"

#define EVMEXPO_ROW_BYTES 48 /* u64 xfer, u32 cat, u32 asset, 32-byte amount (little-endian) */
#define EVMEXPO_STATE_MAGIC "CTEXS001"
#define EVMEXPO_STOPS_MAGIC "CTEXP001"

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

/* Seeds from Bitcoin (evmexpo_seeds.c): per outbound transfer of a Bitcoin -> EVM link and
 * category, the amount it carries in, sorted by (xfer, cat). */
typedef struct ex_seed {
    uint64_t xfer;
    uint32_t cat;
    evm_u256 amount;
} ex_seed;
typedef struct ex_seeds {
    ex_seed *v;
    size_t n;
    uint64_t hash; /* 0: none */
    json_t *doc;   /* the MANIFEST's "seeds": each with its link's method, confidence, ... */
} ex_seeds;
/* The seeds of the links of db (DIR/xchain/links.jsonl) into chain s from Bitcoin outputs the
 * Bitcoin exposure index of db has amounts for; a category of theirs st lacks is added to st
 * (ids shift: the caller rebuilds its map of stops). stop_of: st's map before. None (n 0) when
 * there are no links or no Bitcoin index. */
int ex_seeds_compute(const char *db, const evm_store *s, ex_stops *st, const util_hmap *stop_of,
                     ex_seeds *out, util_err *err);
void ex_seeds_free(ex_seeds *sd);

/* A seed as a reader sees it: the link it came by. */
typedef struct ex_seedinfo {
    uint64_t xfer;
    char cat[64], method[32], from[80], rule[200];
    double confidence;
    uint32_t candidates;
} ex_seedinfo;
/* The first seed of transfer x and category name (NULL when none). */
const ex_seedinfo *ex_seed_find(const evmexpo_index *ix, uint64_t x, const char *cat);

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
    uint64_t seeds_hash;
    ex_seedinfo *seeds; /* sorted by xfer */
    size_t n_seeds;
};

int ex_manifest_path(char *buf, size_t n, const char *db, const char *chain, const char *name);

/* The writer's state (evmexpo_index.c) and what the re-propagation of changed stops
 * (evmexpo_restop.c) shares with it. */
typedef struct wcat {
    uint32_t cat;
    evm_u256 held, recv;
} wcat;

typedef struct wrec {
    uint32_t addr, asset;
    evm_u256 bal, recv;
    wcat *c;
    uint32_t n, cap;
} wrec;

typedef struct wctx {
    const evm_store *s;
    ex_stops st;
    util_hmap stop_of; /* addr id -> cat id */
    util_hmap rec_of;  /* addr << 32 | asset -> index in recs */
    wrec *recs;
    size_t n_recs, cap_recs;
    util_hmap drop_of; /* cat << 32 | asset -> index in drops */
    evmexpo_drop *drops;
    size_t n_drops, cap_drops;
    uint64_t floor_native, floor_token;
    util_buf rows; /* pending rows not yet written */
    int rows_fd;
    uint64_t rows_written; /* rows in the file (committed and pending flushed) */
    uint64_t rows_added;
    uint64_t *hist;
    size_t cap_hist;
    const ex_seed *seeds; /* borrowed: seeds to add to the transfers they name */
    size_t n_seeds;
} wctx;

void ex_wctx_free(wctx *c);
int ex_rec_new(wctx *c, uint32_t addr, uint32_t asset, size_t *idx);
/* The record's entry of cat, made (categories kept sorted) if new; NULL when out of memory. */
wcat *ex_rec_cat(wrec *r, uint32_t cat);
evmexpo_drop *ex_drop_at(wctx *c, uint32_t cat, uint32_t asset);
/* A send of a from a balance: a clean opening grows when the store shows less than is sent. */
void ex_bal_send(evm_u256 *bal, const evm_u256 *a);
int ex_row_push(wctx *c, uint64_t x, uint32_t cat, uint32_t asset, const evm_u256 *amt);
int ex_rows_flush(wctx *c, util_err *err);

/* Bring c (the committed state of ix decoded into it, c->st the new stops, c->stop_of their
 * map) to the new stops over the transfers ix covers, re-propagating only what the changed
 * stops touch, and write the rows of [0, ix->xfers) into c->rows_fd (empty, at offset 0).
 * old/n_old: the stops ix was built with (sorted by address, category ids of ix's table, which
 * must be c->st's). *pairs gets how many (address, asset) pairs were re-propagated.
 * crash_after (tests): SIGKILL itself after that many touched transfers, its rows half written.
 * UTIL_ECORRUPT: replaying the touched pairs under the old stops did not give the committed
 * records and rows (the caller rebuilds instead); c is then unusable. */
int ex_restop(wctx *c, const evmexpo_index *ix, const ex_stop *old, size_t n_old,
              uint64_t crash_after, uint64_t *pairs, util_err *err);

#endif
