/* exposure: the writer's files. The lock, opening the committed generation (and undoing a
 * writer that died), starting a new generation, appending rows, and the commit: columns
 * synced, then the MANIFEST replaced, then the previous generation's files deleted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exposure_int.h"

static void cols_init(colstore_col *c)
{
    for (int i = 0; i < EC_N; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].fd = -1;
    }
}

static void cols_close(colstore_col *c)
{
    for (int i = 0; i < EC_N; i++)
        colstore_col_close(&c[i]);
}

/* Open generation gen's files for writing; truncate: start them empty. */
static int cols_open(const char *dir, uint64_t gen, colstore_col *c, int truncate,
                     const uint64_t *rows, util_err *err)
{
    for (int i = 0; i < EC_N; i++) {
        char path[4400];
        expo_col_path(path, sizeof path, dir, i, gen);
        int rc = colstore_col_open(&c[i], path, expo_col_widths[i],
                                   COLSTORE_WRITE | COLSTORE_MAP | COLSTORE_CLOEXEC, 0644, err);
        if (rc) return rc;
        struct stat st;
        if (fstat(c[i].fd, &st) < 0)
            return util_errf(err, UTIL_EIO, "%s: cannot stat: %s", path, strerror(errno));
        uint64_t want = truncate ? 0 : rows[i];
        size_t need = (size_t)want * expo_col_widths[i];
        if ((size_t)st.st_size < need)
            return util_errf(err, UTIL_ECORRUPT, "%s: %lld bytes, the MANIFEST says %zu", path,
                             (long long)st.st_size, need);
        /* Rows past the commit are a dead writer's: cut them, so files are what the MANIFEST
         * says (and a rerun makes the same bytes). */
        if ((size_t)st.st_size != need && (rc = colstore_col_cut(&c[i], want, err))) return rc;
        if (need && (rc = colstore_col_map_to(&c[i], need, err))) return rc;
        c[i].rows = want;
    }
    return 0;
}

/* Delete what an uncommitted generation or replacement left in DIR/exposure. */
static void remove_leftovers(const char *dir, uint64_t gen)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/" EXPOSURE_SUBDIR, dir);
    DIR *d = opendir(sub);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        int del = !strcmp(n, "MANIFEST.tmp");
        for (int c = 0; c < EC_N && !del; c++) {
            size_t l = strlen(expo_col_names[c]);
            unsigned long long g;
            char tail[8];
            if (!strncmp(n, expo_col_names[c], l) && n[l] == '.' &&
                sscanf(n + l + 1, "%llu.%7s", &g, tail) == 2 && !strcmp(tail, "col") && g != gen)
                del = 1;
        }
        if (del) {
            char path[4500];
            snprintf(path, sizeof path, "%s/%s", sub, n);
            unlink(path);
        }
    }
    closedir(d);
}

int exposure_writer_open(exposure_writer **out, const char *dir, unsigned flags, uint64_t floor,
                         util_err *err)
{
    *out = NULL;
    exposure_writer *w = calloc(1, sizeof *w);
    if (!w) return util_errf(err, UTIL_ENOMEM, "out of memory");
    w->lock_fd = -1;
    cols_init(w->cur);
    cols_init(w->nxt);
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    char path[4400];
    int rc = 0;
    int exists = exposure_exists(dir);
    if (!exists && !(flags & (EXPOSURE_CREATE | EXPOSURE_REBUILD))) {
        free(w);
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: this store has no exposure index (run cointrail exposure build "
                         "--db %s)",
                         dir, dir);
    }
    snprintf(path, sizeof path, "%s/" EXPOSURE_SUBDIR, dir);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        rc = util_errf(err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    expo_file_path(path, sizeof path, dir, "LOCK");
    w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0) {
        rc = util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    /* Writers take turns: an import's update waits for a labels import's, and so on. */
    while (flock(w->lock_fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot lock: %s", path, strerror(errno));
            goto fail;
        }
    }
    exists = exposure_exists(dir); /* another writer may have made it meanwhile */
    if (exists) {
        rc = expo_manifest_read(dir, &w->com, err);
        /* A damaged index is only mended by building it again: start from nothing. */
        if (rc == UTIL_ECORRUPT && (flags & EXPOSURE_REBUILD)) {
            expo_manifest_free(&w->com);
            exists = 0, rc = 0;
        }
        if (rc) goto fail;
    }
    if (!exists) w->com.floor = floor;
    remove_leftovers(dir, w->com.gen);
    if ((rc = cols_open(dir, w->com.gen, w->cur, !exists, w->com.rows, err))) goto fail;
    if (!exists && (rc = expo_manifest_write(dir, &w->com, err))) goto fail;
    if ((rc = expo_manifest_copy(&w->live, &w->com))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto fail;
    }
    w->out = w->cur;
    if (flags & EXPOSURE_REBUILD) {
        /* a build from nothing: categories numbered afresh too */
        w->rebuild = 1;
        w->live.floor = floor;
        w->live.n_cats = 0;
    }
    *out = w;
    return 0;
fail:
    exposure_writer_close(w);
    return rc;
}

void exposure_writer_close(exposure_writer *w)
{
    if (!w) return;
    /* Files hold what the MANIFEST says: the committed generation cut to its rows, an
     * uncommitted one deleted. */
    if (w->nxt[0].fd >= 0) {
        cols_close(w->nxt);
        remove_leftovers(w->dir, w->com.gen);
    }
    for (int i = 0; i < EC_N; i++)
        if (w->cur[i].fd >= 0 && w->cur[i].writable)
            colstore_col_cut(&w->cur[i], w->com.rows[i], NULL);
    cols_close(w->cur);
    expo_manifest_free(&w->com);
    expo_manifest_free(&w->live);
    if (w->lock_fd >= 0) close(w->lock_fd);
    free(w);
}

int expo_w_new_generation(exposure_writer *w, util_err *err)
{
    if (w->nxt[0].fd >= 0) return 0;
    uint64_t gen = w->com.gen + 1;
    uint64_t zero[EC_N] = {0};
    int rc = cols_open(w->dir, gen, w->nxt, 1, zero, err);
    if (rc) {
        cols_close(w->nxt);
        cols_init(w->nxt);
        return rc;
    }
    w->live.gen = gen;
    w->out = w->nxt;
    return 0;
}

/* Room for more rows past col->rows: the file grows in doubling steps from EXPO_GROW_MIN
 * (allocated: a block the disk cannot give is an error naming the file, not a SIGBUS). The
 * index's columns are small beside the store's: colstore_col_reserve's first step of 1 MiB would
 * take more room than most of them ever need. */
#define EXPO_GROW_MIN ((size_t)64 << 10)
static int reserve(colstore_col *col, uint64_t more, util_err *err)
{
    size_t need = (size_t)(col->rows + more) * col->width;
    if (need <= col->mapped) return 0;
    size_t want = col->mapped < EXPO_GROW_MIN ? EXPO_GROW_MIN : col->mapped;
    while (want < need)
        want *= 2;
    int rc = colstore_file_grow(col->fd, col->path, col->mapped, want, err);
    return rc ? rc : colstore_col_map_to(col, want, err);
}

int expo_w_append(exposure_writer *w, int c, const void *p, uint64_t n, util_err *err)
{
    colstore_col *col = &w->out[c];
    int rc = reserve(col, n, err);
    if (rc) return rc;
    if (n) /* p may be NULL for nothing to append */
        memcpy(colstore_col_at(col, col->rows), p, (size_t)n * col->width);
    col->rows += n;
    return 0;
}

int expo_w_dir_to(exposure_writer *w, uint64_t buckets, util_err *err)
{
    colstore_col *d = &w->out[EC_DIR];
    while (d->rows < buckets) {
        uint64_t start = w->out[EC_ROWS].rows;
        int rc = expo_w_append(w, EC_DIR, &start, 1, err);
        if (rc) return rc;
    }
    return 0;
}

int exposure_commit(exposure_writer *w, util_err *err)
{
    /* (a deferred commit after a sync that changed nothing rewrites the same MANIFEST) */
    for (int i = 0; i < EC_N; i++) {
        int rc = colstore_col_sync(&w->out[i], err);
        if (rc) return rc;
        w->live.rows[i] = w->out[i].rows;
    }
    int rc = expo_manifest_write(w->dir, &w->live, err);
    if (rc) return rc;
    if ((rc = expo_manifest_copy(&w->com, &w->live)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (w->out == w->nxt) {
        /* The new generation is the committed one: the old files go. */
        cols_close(w->cur);
        memcpy(w->cur, w->nxt, sizeof w->cur);
        cols_init(w->nxt);
        w->out = w->cur;
        remove_leftovers(w->dir, w->com.gen);
    }
    return 0;
}
