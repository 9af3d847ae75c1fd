/* export: the Bitcoin chain of a store as tables that columnar engines (DuckDB, Spark, Trino)
 * read directly: gzip-compressed CSV (RFC 4180, a header line) per table, a schema.sql of
 * CREATE TABLE statements DuckDB accepts, a load.sql that loads them, a schema.json with each
 * column's type (and a Spark DDL string per table), and export.json with row counts and the
 * SHA-256 of every file. Why CSV and not Parquet, the tables and their columns:
 * docs/columns.md.
 *
 * Exact and deterministic: satoshi amounts are integers (BIGINT), hashes are display-order
 * hex, an empty field is NULL (no column holds an empty string), and the same store, labels
 * and clustering give the same bytes (rows in id order, fixed gzip header with no time).
 * All or nothing: the files are written into a temp directory beside the target, synced, and
 * the directory is renamed into place last; an interrupted export leaves only that temp
 * directory (OUT.partial-PID), never a directory that looks complete. */
#ifndef CT_EXPORT_H
#define CT_EXPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"

#define EXPORT_FORMAT_VERSION 1 /* of the export directory (docs/columns.md) */
#define EXPORT_NTABLES 7        /* blocks txs outputs inputs addresses entities labels */

typedef struct export_opts {
    int force; /* replace an --out directory that is not empty (only one of plain files) */
    int level; /* gzip level 1..9; 0 = 6 */
} export_opts;

typedef struct export_table_result {
    const char *name; /* static: "blocks", ... */
    uint64_t rows;
    uint64_t bytes;     /* of the compressed file */
    uint64_t csv_bytes; /* of the CSV before compression */
    uint8_t sha256[32]; /* of the compressed file */
} export_table_result;

typedef struct export_result {
    export_table_result tables[EXPORT_NTABLES];
    uint64_t rows, bytes, csv_bytes; /* sums over the tables */
    int clustered;                   /* entities and coinjoin kinds were written */
    double seconds;
} export_result;

/* Write the export of store s (with its labels and clustering; either may be NULL: their
 * tables and columns are then empty / NULL) to the directory out_dir. out_dir must not exist
 * or be empty, unless o->force. 0, UTIL_EINVAL (out_dir not empty, bad level), UTIL_EIO naming
 * the file (disk full, ...), UTIL_ENOMEM. On error nothing at out_dir has changed and the temp
 * directory is removed. *r is filled on success. */
int export_columns(const store *s, const labels_db *labels, const cluster_map *clusters,
                   const char *out_dir, const export_opts *o, export_result *r, util_err *err);

/* The summary `export-columns --json` prints: per table rows, bytes, csv_bytes, sha256, and
 * the sums. New object, owned by the caller. */
json_t *export_result_json(const export_result *r);

#endif
