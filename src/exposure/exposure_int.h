/* exposure's insides shared by its files: the row formats, the MANIFEST, the column files and
 * the look-up of an output's rows. Not part of the module's interface (exposure.h is). */
#ifndef CT_EXPOSURE_INT_H
#define CT_EXPOSURE_INT_H

#include <string.h>

#include "../colstore/colstore.h"
#include "exposure.h"

/* Rows are keyed output << 16 | tag: tag a category id (what the output received), or
 * EXPO_TAG_STOP (the output pays a stop; amount is the stop's category id). Sorted by key. */
#define EXPO_TAG_BITS 16
#define EXPO_TAG_STOP 0xFFFFu
#define EXPO_KEY(out, tag) ((uint64_t)(out) << EXPO_TAG_BITS | (tag))
#define EXPO_OUT(key) ((key) >> EXPO_TAG_BITS)
#define EXPO_TAG(key) ((uint32_t)((key)&0xFFFF))
/* The directory: one row per 2^EXPO_BUCKET_SHIFT outputs, the index of the first row of an
 * output at or above the bucket's first output. */
#define EXPO_BUCKET_SHIFT 8

/* pred: for a received amount, the output whose spending passed the tx the most of the
 * category (its input that passes on the most, ties to the lower input): one path back to a
 * source is a walk along pred, each step one look-up. EXPO_NO_PRED on stop rows. */
typedef struct expo_row {
    uint64_t key, amount, pred;
} expo_row;
#define EXPO_NO_PRED UINT64_MAX

typedef struct expo_stop {
    uint32_t addr, cat; /* category id */
} expo_stop;

/* Satoshis not stored, per block, category and kind (EXPO_DROP_*), sorted by (block, cat,
 * kind); only non-zero rows. */
typedef struct expo_drop {
    uint32_t block;
    uint16_t cat, kind;
    uint64_t amount, shares;
} expo_drop;
enum { EXPO_DROP_BELOW = 0, EXPO_DROP_UNRESOLVED = 1 };

_Static_assert(sizeof(expo_row) == 24, "row layout");
_Static_assert(sizeof(expo_stop) == 8, "stop layout");
_Static_assert(sizeof(expo_drop) == 24, "drop layout");

/* The columns, each a file NAME.GEN.col of the index's generation: a reorganisation or a
 * change of stops writes a new generation beside the committed one (docs/formats.md). */
enum { EC_ROWS, EC_DIR, EC_STOPS, EC_DROPS, EC_BLOCKS, EC_N };
extern const char *const expo_col_names[EC_N];
extern const size_t expo_col_widths[EC_N];

typedef struct expo_cat {
    char name[64];
    int tracked;
} expo_cat;

typedef struct expo_manifest {
    uint64_t floor, gen;
    uint64_t blocks, txs, outputs, addresses; /* covered */
    uint8_t tip[32];
    expo_cat *cats;
    size_t n_cats, cap_cats;
    uint64_t rows[EC_N];
} expo_manifest;

/* DIR/exposure/NAME.GEN.col and DIR/exposure/NAME (MANIFEST, LOCK). */
void expo_col_path(char *buf, size_t n, const char *dir, int col, uint64_t gen);
void expo_file_path(char *buf, size_t n, const char *dir, const char *name);

int expo_manifest_read(const char *dir, expo_manifest *m, util_err *err);
int expo_manifest_write(const char *dir, const expo_manifest *m, util_err *err);
void expo_manifest_free(expo_manifest *m);
int expo_manifest_copy(expo_manifest *dst, const expo_manifest *src);
/* The id of name, adding it if new (>= 0), or UTIL_ENOMEM / UTIL_EINVAL (table full). */
int64_t expo_cat_intern(expo_manifest *m, const char *name);
uint32_t expo_cat_find(const expo_manifest *m, const char *name);

/* [*first, *end) rows of output o among rows[0..n_rows) with directory dir[0..n_dir). */
static inline void expo_find(const expo_row *rows, uint64_t n_rows, const uint64_t *dir,
                             uint64_t n_dir, uint64_t o, uint64_t *first, uint64_t *end)
{
    uint64_t b = o >> EXPO_BUCKET_SHIFT;
    *first = *end = 0;
    if (b >= n_dir) return;
    uint64_t lo = dir[b], hi = b + 1 < n_dir ? dir[b + 1] : n_rows;
    if (lo >= hi) return;
    uint64_t k = EXPO_KEY(o, 0);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (rows[mid].key < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t e = lo, lim = b + 1 < n_dir ? dir[b + 1] : n_rows;
    while (e < lim && EXPO_OUT(rows[e].key) == o)
        e++;
    *first = lo, *end = e;
}

/* ---- stops (exposure_stops.c) ---- */

/* A stop by rank: the index of its category in the caller's order. */
typedef struct expo_rstop {
    uint32_t addr, rank;
} expo_rstop;

/* The stops of the store s's addresses below addr_limit under labels and clusters (see
 * exposure.h), sorted by address. *out is the caller's: free. */
int expo_stops_compute(const store *s, const labels_db *labels, const cluster_map *clusters,
                       const char *const *order, size_t n_order, uint64_t addr_limit,
                       expo_rstop **out, size_t *n, util_err *err);

/* ---- the writer (exposure_writer.c, exposure_sync.c) ---- */

struct exposure_writer {
    char dir[4096];
    int lock_fd;
    expo_manifest com;      /* committed */
    expo_manifest live;     /* what the next commit writes */
    colstore_col cur[EC_N]; /* the committed generation's files (mapped, writable) */
    colstore_col nxt[EC_N]; /* a new generation being written (fd -1 when none) */
    colstore_col *out;      /* where rows go: cur, or nxt once a new generation is started */
    int rebuild;
};

/* Start writing generation live.gen + 1 (empty files); out points at it afterwards. */
int expo_w_new_generation(exposure_writer *w, util_err *err);
/* Append n rows of column c (copied from p). */
int expo_w_append(exposure_writer *w, int c, const void *p, uint64_t n, util_err *err);
/* Directory rows up to the bucket of output o (inclusive): call before appending o's rows. */
int expo_w_dir_to(exposure_writer *w, uint64_t buckets, util_err *err);

#endif
