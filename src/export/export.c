/* export-columns: the directory. Tables are written into OUT.partial-PID beside the target,
 * each file synced, then the schema files and export.json (last: it lists every file with its
 * hash), then the directory is renamed into place; on any error the temp directory is removed
 * and OUT is as it was. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../query/query.h"
#include "export_int.h"

/* Remove a directory holding only plain files (ours, or an old export with --force). */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* 0 missing, 1 empty directory, 2 directory of plain files, 3 anything else (a file, or a
 * directory holding a directory). */
static int out_state(const char *path)
{
    struct stat st;
    if (stat(path, &st)) return 0;
    if (!S_ISDIR(st.st_mode)) return 3;
    DIR *d = opendir(path);
    if (!d) return 3;
    int state = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) {
            state = 3;
            break;
        }
        state = 2;
    }
    closedir(d);
    return state;
}

static int sync_dir(const char *dir, util_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd)) {
        int e = errno;
        if (fd >= 0) close(fd);
        return util_errf(err, UTIL_EIO, "%s: cannot sync the directory: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

static const char *spark_type(const char *t)
{
    if (!strcmp(t, "VARCHAR")) return "STRING";
    if (!strcmp(t, "INTEGER")) return "INT";
    return t; /* BIGINT, BOOLEAN */
}

static int write_table(const char *dir, const export_table *t, const export_src *src, int level,
                       export_table_result *r, util_err *err)
{
    char path[4352];
    snprintf(path, sizeof path, "%s/%s.csv.gz", dir, t->name);
    export_w w;
    int rc = export_w_open(&w, path, level, err);
    if (rc) return rc;
    for (size_t i = 0; i < t->ncols; i++)
        export_w_str(&w, t->cols[i].name);
    export_w_end_row(&w);
    w.rows = 0;
    rc = t->rows(&w, src);
    r->name = t->name;
    r->rows = w.rows;
    if (rc) {
        if (err) *err = w.err;
        export_w_discard(&w);
        return rc;
    }
    rc = export_w_finish(&w, r->sha256, err);
    r->bytes = w.bytes;
    r->csv_bytes = w.csv_bytes;
    return rc;
}

static int write_text(const char *dir, const char *name, util_buf *b, util_err *err)
{
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!b->data) return util_errf(err, UTIL_ENOMEM, "%s: out of memory", path);
    int rc = util_replace_file(path, b->data, b->len, err);
    util_buf_free(b);
    return rc;
}

static int write_json(const char *dir, const char *name, json_t *doc, util_err *err)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    util_buf b = {0};
    if (text && (util_buf_append(&b, text, strlen(text)) || util_buf_append(&b, "\n", 1)))
        util_buf_free(&b);
    free(text);
    return write_text(dir, name, &b, err);
}

static int write_schemas(const char *dir, int level, util_err *err)
{
    util_buf sql = {0}, load = {0};
    int bad = util_buf_printf(&sql,
                              "-- cointrail export-columns, format %d: the tables of this export "
                              "(docs/columns.md).\n-- An empty CSV field is NULL; amounts are "
                              "satoshis; hashes are display-order hex.\n",
                              EXPORT_FORMAT_VERSION) < 0;
    bad |= util_buf_printf(&load, "-- Load the export into DuckDB: run from this directory, "
                                  "after schema.sql.\n") < 0;
    json_t *tables = json_array();
    for (size_t i = 0; i < EXPORT_NTABLES; i++) {
        const export_table *t = &export_tables[i];
        bad |= util_buf_printf(&sql, "\n-- %s\nCREATE TABLE %s (\n", t->doc, t->name) < 0;
        json_t *cols = json_array();
        util_buf ddl = {0};
        for (size_t k = 0; k < t->ncols; k++) {
            const export_col *c = &t->cols[k];
            bad |= util_buf_printf(&sql, "    %s %s%s -- %s\n", c->name, c->type,
                                   k + 1 < t->ncols ? "," : "", c->doc) < 0;
            bad |=
                util_buf_printf(&ddl, "%s%s %s", k ? ", " : "", c->name, spark_type(c->type)) < 0;
            json_array_append_new(cols, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name, "type",
                                                  c->type, "spark_type", spark_type(c->type), "doc",
                                                  c->doc));
        }
        bad |= util_buf_printf(&sql, ");\n") < 0;
        bad |= util_buf_printf(&load, "COPY %s FROM '%s.csv.gz' (FORMAT csv, HEADER true);\n",
                               t->name, t->name) < 0;
        bad |= util_buf_append(&ddl, "", 1) < 0;
        json_array_append_new(tables,
                              json_pack("{s:s, s:s+, s:s, s:o, s:s}", "name", t->name, "file",
                                        t->name, ".csv.gz", "doc", t->doc, "columns", cols,
                                        "spark_ddl", ddl.data ? (char *)ddl.data : ""));
        util_buf_free(&ddl);
    }
    if (bad) {
        util_buf_free(&sql);
        util_buf_free(&load);
        json_decref(tables);
        return util_errf(err, UTIL_ENOMEM, "%s: out of memory for the schema", dir);
    }
    json_t *schema = json_pack("{s:s, s:i, s:s, s:i, s:b, s:s, s:o}", "format", "cointrail-columns",
                               "version", EXPORT_FORMAT_VERSION, "compression", "gzip", "level",
                               level, "header", 1, "null", "", "tables", tables);
    int rc = write_text(dir, "schema.sql", &sql, err);
    if (!rc)
        rc = write_text(dir, "load.sql", &load, err);
    else
        util_buf_free(&load);
    if (!rc)
        rc = write_json(dir, "schema.json", schema, err);
    else
        json_decref(schema);
    return rc;
}

/* export.json: what the export holds, with no time or path in it (same store, same bytes). */
static int write_manifest(const char *dir, const export_src *src, const export_result *r, int level,
                          util_err *err)
{
    query_stats_result st;
    int rc = query_stats_get(src->s, 0, &st, err);
    if (rc) return rc;
    json_t *doc =
        json_pack("{s:s, s:i, s:s, s:s, s:i, s:b, s:o, s:o}", "format", "cointrail-columns",
                  "version", EXPORT_FORMAT_VERSION, "network", store_network(src->s), "compression",
                  "gzip", "level", level, "clustered", r->clustered, "tables", json_array(),
                  "store_stats", query_stats_json(&st));
    if (!doc) return util_errf(err, UTIL_ENOMEM, "%s: out of memory", dir);
    json_t *tables = json_object_get(doc, "tables");
    for (size_t i = 0; i < EXPORT_NTABLES; i++) {
        const export_table_result *t = &r->tables[i];
        char sha[65];
        util_hex(sha, t->sha256, 32);
        json_array_append_new(
            tables, json_pack("{s:s, s:s+, s:I, s:I, s:I, s:s}", "name", t->name, "file", t->name,
                              ".csv.gz", "rows", (json_int_t)t->rows, "bytes", (json_int_t)t->bytes,
                              "csv_bytes", (json_int_t)t->csv_bytes, "sha256", sha));
    }
    return write_json(dir, "export.json", doc, err);
}

/* Put the finished temp directory tmp at out (state: out_state's). */
static int put_in_place(const char *tmp, const char *out, int state, util_err *err)
{
    if (state == 1 && rmdir(out))
        return util_errf(err, UTIL_EIO, "%s: cannot replace the empty directory: %s", out,
                         strerror(errno));
    if (state == 2) {
        /* Swap in one step, so OUT is the old export or the new one at every moment. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE))
            return util_errf(err, UTIL_EIO, "%s: cannot swap in the new export: %s", out,
                             strerror(errno));
        remove_flat_dir(tmp); /* now the old export */
        return 0;
    }
    if (rename(tmp, out))
        return util_errf(err, UTIL_EIO, "%s: cannot rename %s into place: %s", out, tmp,
                         strerror(errno));
    return 0;
}

int export_columns(const store *s, const labels_db *labels, const cluster_map *clusters,
                   const char *out_dir, const export_opts *o, export_result *r, util_err *err)
{
    int level = o && o->level ? o->level : 6;
    if (level < 1 || level > 9)
        return util_errf(err, UTIL_EINVAL, "gzip level %d: give 1 to 9", level);
    double t0 = util_now();
    char out[4096];
    size_t n = strlen(out_dir);
    while (n > 1 && out_dir[n - 1] == '/')
        n--; /* OUT/ and OUT are one directory */
    if (n == 0 || n >= sizeof out - 32) return util_errf(err, UTIL_EINVAL, "--out: bad path");
    memcpy(out, out_dir, n);
    out[n] = 0;
    int state = out_state(out);
    if (state == 3)
        return util_errf(err, UTIL_EINVAL,
                         "%s: exists and is not a directory of plain files: give a new or empty "
                         "directory",
                         out);
    if (state == 2 && !(o && o->force))
        return util_errf(err, UTIL_EINVAL,
                         "%s: directory is not empty: give an empty one, or --force to replace it",
                         out);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.partial-%ld", out, (long)getpid());
    remove_flat_dir(tmp); /* a leftover of an earlier run that had this pid */
    if (mkdir(tmp, 0755))
        return util_errf(err, UTIL_EIO, "%s: cannot create the temp directory: %s", tmp,
                         strerror(errno));
    memset(r, 0, sizeof *r);
    r->clustered = clusters != NULL;
    export_src src = {s, labels, clusters};
    int rc = 0;
    for (size_t i = 0; i < EXPORT_NTABLES && !rc; i++) {
        rc = write_table(tmp, &export_tables[i], &src, level, &r->tables[i], err);
        r->rows += r->tables[i].rows;
        r->bytes += r->tables[i].bytes;
        r->csv_bytes += r->tables[i].csv_bytes;
    }
    if (!rc) rc = write_schemas(tmp, level, err);
    if (!rc) rc = write_manifest(tmp, &src, r, level, err);
    if (!rc) rc = sync_dir(tmp, err);
    if (!rc) rc = put_in_place(tmp, out, state, err);
    if (rc) {
        remove_flat_dir(tmp);
        return rc;
    }
    /* The rename is durable once the parent directory is synced. */
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    if (!slash)
        strcpy(parent, ".");
    else if (slash == parent)
        parent[1] = 0;
    else
        *slash = 0;
    rc = sync_dir(parent, err);
    r->seconds = util_now() - t0;
    return rc;
}

json_t *export_result_json(const export_result *r)
{
    json_t *tables = json_array();
    for (size_t i = 0; i < EXPORT_NTABLES; i++) {
        const export_table_result *t = &r->tables[i];
        char sha[65];
        util_hex(sha, t->sha256, 32);
        json_array_append_new(tables,
                              json_pack("{s:s, s:I, s:I, s:I, s:s}", "name", t->name, "rows",
                                        (json_int_t)t->rows, "bytes", (json_int_t)t->bytes,
                                        "csv_bytes", (json_int_t)t->csv_bytes, "sha256", sha));
    }
    return json_pack("{s:o, s:I, s:I, s:I, s:b, s:f}", "tables", tables, "rows",
                     (json_int_t)r->rows, "bytes", (json_int_t)r->bytes, "csv_bytes",
                     (json_int_t)r->csv_bytes, "clustered", r->clustered, "seconds", r->seconds);
}
