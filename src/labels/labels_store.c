/* labels: the store file DIR/labels.db: its serialised form, reading it back (shape, order and
 * count checked), the lock, and opening, saving and closing a set. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labels_int.h"

/* ---------------- the file ---------------- */

/* Text fields are written with \\, \t, \n and \r escaped, so a label is one line. */
static int put_escaped(util_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '\\'   ? "\\\\"
                        : *s == '\t' ? "\\t"
                        : *s == '\n' ? "\\n"
                        : *s == '\r' ? "\\r"
                                     : NULL;
        if (util_buf_append(b, e ? e : s, e ? 2 : 1)) return UTIL_ENOMEM;
    }
    return 0;
}

static const char db_magic[] = "cointrail-labels";

/* The file's text into b; with line_off (set->n entries), where each label's line starts. */
static int serialise(const labels_vec *set, util_buf *b, uint64_t *line_off)
{
    if (util_buf_printf(b, "%s\t%d\t%zu\n", db_magic, LABELS_FORMAT_VERSION, set->n))
        return UTIL_ENOMEM;
    for (size_t i = 0; i < LABELS_NSTR; i++)
        if (util_buf_printf(b, "%s\t", labels_str_names[i])) return UTIL_ENOMEM;
    if (util_buf_printf(b, "confidence\n")) return UTIL_ENOMEM;
    for (size_t k = 0; k < set->n; k++) {
        const labels_label *l = &set->v[k];
        if (line_off) line_off[k] = b->len;
        for (size_t i = 0; i < LABELS_NSTR; i++)
            if (put_escaped(b, LABELS_CFIELD(l, i)) || util_buf_append(b, "\t", 1))
                return UTIL_ENOMEM;
        if (util_buf_printf(b, "%d\n", l->confidence)) return UTIL_ENOMEM;
    }
    return 0;
}

/* Unescape one field of line (ending at tab or end) in place, NUL-terminated (unescaping only
 * shortens it, so the terminator lands at most on the tab that ends it); *p advances to the
 * tab or end. */
static char *take_field(char **p, char *end, int *bad)
{
    char *s = *p, *out = s, *w = s;
    while (s < end && *s != '\t') {
        if (*s == '\\') {
            if (s + 1 >= end) {
                *bad = 1;
                break;
            }
            char c = s[1];
            *w = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '\\' ? '\\' : 0;
            if (!*w) *bad = 1;
            w++, s += 2;
        } else {
            *w++ = *s++;
        }
    }
    *p = s;
    *w = 0;
    return out;
}

int labels_parse_line(char *p, char *nl, labels_label *l)
{
    int bad = 0;
    char *q = p;
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < LABELS_NSTR && !bad; i++) {
        LABELS_FIELD(l, i) = take_field(&q, nl, &bad);
        if (q >= nl)
            bad = 1;
        else
            q++;
    }
    char *e = NULL;
    long conf = bad ? -1 : strtol(q, &e, 10);
    l->confidence = (int)conf;
    return bad || e != nl || conf < 0 || conf > 100 || !*l->chain || !*l->address ? -1 : 0;
}

static int load(labels_db *db, util_err *err)
{
    uint8_t *data;
    size_t len;
    int rc;
    if (db->lazy) {
        /* the bytes the index was checked against (labels.db may have been replaced since) */
        if ((rc = labels_lazy_copy(db->lazy, &data, &len)))
            return util_errf(err, rc, "out of memory reading %s", db->path);
    } else {
        if (access(db->path, F_OK) != 0) return 0; /* no labels yet */
        if ((rc = util_read_file(db->path, &data, &len, err))) return rc;
    }
    char *p = (char *)data, *end = p + len;
    long line = 0;
    size_t want = 0;
    rc = 0;
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: line not terminated", db->path, line + 1);
            break;
        }
        line++;
        if (line == 1) {
            char head[64];
            int ver;
            snprintf(head, sizeof head, "%.*s", (int)(nl - p), p);
            if (sscanf(head, "cointrail-labels\t%d\t%zu", &ver, &want) != 2 ||
                strncmp(head, db_magic, sizeof db_magic - 1))
                rc = util_errf(err, UTIL_ECORRUPT, "%s:1: not a cointrail labels file", db->path);
            else if (ver != LABELS_FORMAT_VERSION)
                rc = util_errf(err, UTIL_ECORRUPT,
                               "%s:1: labels format version %d, this cointrail reads %d", db->path,
                               ver, LABELS_FORMAT_VERSION);
            /* One allocation for the set when the count is plausible (a label takes at least
             * a dozen bytes of the file): no copies while it grows. */
            else if (want && want <= len / 12 &&
                     (db->set.v = malloc(want * sizeof *db->set.v)) != NULL)
                db->set.cap = want;
        } else if (line == 2) {
            /* the column names: informative only */
        } else {
            labels_label l = {0};
            if (labels_parse_line(p, nl, &l))
                rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: malformed label line", db->path, line);
            else if (db->set.n && labels_cmp_key(&db->set.v[db->set.n - 1], &l) >= 0)
                rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: labels out of order", db->path, line);
            if (!rc && labels_vec_push(&db->set, &l))
                rc = util_errf(err, UTIL_ENOMEM, "out of memory reading %s", db->path);
        }
        p = nl + 1;
    }
    if (!rc && line < 2) rc = util_errf(err, UTIL_ECORRUPT, "%s: truncated header", db->path);
    if (!rc && db->set.n != want)
        rc = util_errf(err, UTIL_ECORRUPT, "%s: %zu labels, header says %zu", db->path, db->set.n,
                       want);
    db->arena = (char *)data; /* the set's strings; freed with it (labels_db_close) */
    return rc;
}

int labels_db_own(labels_db *db, util_err *err)
{
    int rc = labels_db_load(db, err); /* a lazy set is read whole before it changes */
    if (rc) return rc;
    if (!db->arena) return 0;
    for (size_t k = 0; k < db->set.n; k++) {
        labels_label *l = &db->set.v[k];
        for (size_t i = 0; i < LABELS_NSTR; i++) {
            char *d = strdup(LABELS_FIELD(l, i));
            if (!d) {
                /* undo: the strings copied so far go, the arena's stay */
                for (size_t j = 0; j < i; j++) {
                    free(LABELS_FIELD(l, j));
                    LABELS_FIELD(l, j) = NULL;
                }
                for (size_t m = 0; m < k; m++)
                    for (size_t j = 0; j < LABELS_NSTR; j++)
                        free(LABELS_FIELD(&db->set.v[m], j));
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            }
            LABELS_FIELD(l, i) = d;
        }
    }
    free(db->arena);
    db->arena = NULL;
    return 0;
}

int labels_db_open(labels_db **out, const char *store_dir, unsigned flags, util_err *err)
{
    *out = NULL;
    labels_db *db = calloc(1, sizeof *db);
    if (!db) return util_errf(err, UTIL_ENOMEM, "out of memory");
    db->lock_fd = -1;
    snprintf(db->dir, sizeof db->dir, "%s", store_dir);
    snprintf(db->path, sizeof db->path, "%s/%s", store_dir, LABELS_FILE);
    int rc = 0;
    if (flags & LABELS_WRITE) {
        struct stat st;
        if (stat(store_dir, &st) != 0 && mkdir(store_dir, 0755) != 0 && errno != EEXIST) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot create: %s", store_dir, strerror(errno));
            goto fail;
        }
        char lock[4200];
        snprintf(lock, sizeof lock, "%s/labels.lock", store_dir);
        db->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (db->lock_fd < 0) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot open: %s", lock, strerror(errno));
            goto fail;
        }
        if (flock(db->lock_fd, LOCK_EX | LOCK_NB) < 0) {
            rc = util_errf(err, UTIL_EBUSY,
                           "%s: another cointrail process is importing labels; try again when "
                           "it is done",
                           lock);
            goto fail;
        }
    }
    if (!(flags & LABELS_WRITE) && (flags & LABELS_LAZY) && labels_lazy_open(db)) {
        *out = db;
        return 0;
    }
    if ((rc = load(db, err))) goto fail;
    db->loaded = 1;
    *out = db;
    return 0;
fail:
    labels_db_close(db);
    return rc;
}

void labels_db_close(labels_db *db)
{
    if (!db) return;
    if (db->arena) { /* the strings are the arena's */
        free(db->set.v);
        free(db->arena);
    } else {
        labels_vec_free(&db->set);
    }
    if (db->lock_fd >= 0) close(db->lock_fd);
    labels_lazy_free(db->lazy);
    free(db);
}

int labels_db_load(labels_db *db, util_err *err)
{
    if (db->loaded) return 0;
    int rc = load(db, err);
    if (rc) {
        /* what load kept of a bad file goes: the set stays empty */
        free(db->set.v);
        free(db->arena);
        memset(&db->set, 0, sizeof db->set);
        db->arena = NULL;
        return rc;
    }
    db->loaded = 1;
    return 0;
}

int labels_db_is_lazy(const labels_db *db)
{
    return db->lazy && !db->loaded;
}

int labels_db_save(labels_db *db, util_err *err)
{
    struct stat st;
    if (stat(db->dir, &st) != 0 && mkdir(db->dir, 0755) != 0 && errno != EEXIST)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", db->dir, strerror(errno));
    util_buf b = {0};
    uint64_t *off = malloc((db->set.n ? db->set.n : 1) * sizeof *off);
    int rc = off ? serialise(&db->set, &b, off) : UTIL_ENOMEM;
    if (rc)
        rc = util_errf(err, UTIL_ENOMEM, "out of memory writing %s", db->path);
    else
        rc = util_replace_file(db->path, b.data, b.len, err);
    /* The index after the file it describes: it names that file's size, time and hash, so a
     * crash between the two leaves an index that is not used. */
    if (!rc) rc = labels_ix_write(db, off, b.data, b.len, err);
    free(off);
    util_buf_free(&b);
    return rc;
}

int labels_db_reindex(labels_db *db, util_err *err)
{
    int rc = labels_db_load(db, err);
    if (rc) return rc;
    if (access(db->path, F_OK) != 0) return 0; /* no labels.db: nothing to index */
    /* The index describes labels.db's bytes as they are; they are what serialise writes for
     * the set read from them (checked: a hand-edited file may differ, then it is rewritten). */
    util_buf b = {0};
    uint64_t *off = malloc((db->set.n ? db->set.n : 1) * sizeof *off);
    uint8_t *data = NULL;
    size_t len = 0;
    rc = off ? serialise(&db->set, &b, off) : UTIL_ENOMEM;
    if (rc) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory indexing %s", db->path);
    } else if (!(rc = util_read_file(db->path, &data, &len, err))) {
        if (len != b.len || memcmp(data, b.data, len))
            rc = util_replace_file(db->path, b.data, b.len, err);
        if (!rc) rc = labels_ix_write(db, off, b.data, b.len, err);
    }
    free(data);
    free(off);
    util_buf_free(&b);
    return rc;
}

/* A lazy set reads labels.db whole the first time something needs all of it. The set is
 * logically unchanged by that (the same labels, read later), hence the const callers. */
labels_db *labels_db_full(const labels_db *db)
{
    labels_db *m = (labels_db *)db;
    if (!m->loaded) labels_db_load(m, NULL);
    return m;
}

size_t labels_db_count(const labels_db *db)
{
    if (labels_db_is_lazy(db)) return labels_lazy_count(db->lazy);
    return db->set.n;
}

const labels_label *labels_db_get(const labels_db *db, size_t i)
{
    db = labels_db_full(db);
    return i < db->set.n ? &db->set.v[i] : NULL;
}

const labels_label *labels_db_span(const labels_db *db, size_t first, size_t n)
{
    if (!n) return NULL;
    if (labels_db_is_lazy(db)) {
        const labels_label *out;
        int rc = labels_lazy_span(db->lazy, first, n, &out);
        if (rc >= 0) return out;
        db = labels_db_full(db); /* the index disagrees with labels.db: read it whole */
    }
    if (first >= db->set.n || n > db->set.n - first) return NULL;
    const labels_label *a = &db->set.v[first], *b = &db->set.v[first + n - 1];
    return strcmp(a->chain, b->chain) || strcmp(a->address, b->address) ? NULL : a;
}
