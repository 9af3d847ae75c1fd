/* export internals: the gzip CSV writer and the table definitions shared by export.c (the
 * directory, schema files, export.json) and export_tables.c (the rows). */
#ifndef CT_EXPORT_INT_H
#define CT_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "../crypto/crypto.h"
#include "export.h"

/* One compressed CSV file being written. Field appenders never fail on their own: the first
 * error (a write, an allocation) is kept in rc/err and returned by export_w_end_row and
 * export_w_finish, after which nothing more is written. */
typedef struct export_w {
    char path[4352];
    int fd;
    int zinit;
    z_stream z;
    uint8_t *in; /* CSV text not yet compressed: owned */
    size_t in_len, in_cap;
    uint8_t *out; /* compressed bytes not yet written: owned */
    size_t out_cap;
    int nfield; /* fields in the current row */
    crypto_sha256_ctx sha;
    uint64_t rows, bytes, csv_bytes;
    int rc;
    util_err err;
} export_w;

/* Create path (O_EXCL) for a new gzip stream at level. 0 or UTIL_EIO / UTIL_ENOMEM. */
int export_w_open(export_w *w, const char *path, int level, util_err *err);
/* Finish the stream, fsync and close the file; sha256 gets the compressed file's hash. */
int export_w_finish(export_w *w, uint8_t sha256[32], util_err *err);
/* Free everything of a writer that was not finished (after an error); the file stays for the
 * caller's cleanup of the temp directory. */
void export_w_discard(export_w *w);

void export_w_null(export_w *w);
void export_w_u64(export_w *w, uint64_t v);
void export_w_i64(export_w *w, int64_t v);
void export_w_bool(export_w *w, int v);
/* Text, quoted as RFC 4180 says when it holds a comma, quote, CR or LF; "" or NULL is NULL. */
void export_w_str(export_w *w, const char *s);
/* Bytes as lowercase hex (n may be 0: NULL). */
void export_w_hex(export_w *w, const uint8_t *p, size_t n);
/* A 32-byte hash in display (reversed) order. */
void export_w_hash(export_w *w, const uint8_t h[32]);
/* End the row (LF). 0 or the writer's first error. */
int export_w_end_row(export_w *w);

/* The tables: column names and types (DuckDB SQL types: BIGINT INTEGER VARCHAR BOOLEAN) in
 * one place, so the CSV header, schema.sql and schema.json cannot disagree. */
typedef struct export_col {
    const char *name, *type, *doc;
} export_col;

typedef struct export_src {
    const store *s;
    const labels_db *labels;     /* may be NULL */
    const cluster_map *clusters; /* may be NULL */
} export_src;

typedef struct export_table {
    const char *name, *doc;
    const export_col *cols;
    size_t ncols;
    /* Write every row (the header is written by the caller). 0 or the writer's error. */
    int (*rows)(export_w *w, const export_src *src);
} export_table;

/* The EXPORT_NTABLES tables, in the order they are written. */
extern const export_table export_tables[EXPORT_NTABLES];

#endif
