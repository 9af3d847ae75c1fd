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

static int serialise(const labels_vec *set, util_buf *b)
{
    if (util_buf_printf(b, "%s\t%d\t%zu\n", db_magic, LABELS_FORMAT_VERSION, set->n))
        return UTIL_ENOMEM;
    for (size_t i = 0; i < LABELS_NSTR; i++)
        if (util_buf_printf(b, "%s\t", labels_str_names[i])) return UTIL_ENOMEM;
    if (util_buf_printf(b, "confidence\n")) return UTIL_ENOMEM;
    for (size_t k = 0; k < set->n; k++) {
        const labels_label *l = &set->v[k];
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

static int load(labels_db *db, util_err *err)
{
    uint8_t *data;
    size_t len;
    if (access(db->path, F_OK) != 0) return 0; /* no labels yet */
    int rc = util_read_file(db->path, &data, &len, err);
    if (rc) return rc;
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
            int bad = 0;
            char *q = p;
            for (size_t i = 0; i < LABELS_NSTR && !bad; i++) {
                LABELS_FIELD(&l, i) = take_field(&q, nl, &bad);
                if (q >= nl)
                    bad = 1;
                else
                    q++;
            }
            char *e = NULL;
            long conf = bad ? -1 : strtol(q, &e, 10);
            if (bad || e != nl || conf < 0 || conf > 100 || !*l.chain || !*l.address)
                rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: malformed label line", db->path, line);
            else if (db->set.n && labels_cmp_key(&db->set.v[db->set.n - 1], &l) >= 0)
                rc = util_errf(err, UTIL_ECORRUPT, "%s:%ld: labels out of order", db->path, line);
            l.confidence = (int)conf;
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
    if ((rc = load(db, err))) goto fail;
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
    free(db);
}

int labels_db_save(labels_db *db, util_err *err)
{
    struct stat st;
    if (stat(db->dir, &st) != 0 && mkdir(db->dir, 0755) != 0 && errno != EEXIST)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", db->dir, strerror(errno));
    util_buf b = {0};
    int rc = serialise(&db->set, &b);
    if (rc)
        rc = util_errf(err, UTIL_ENOMEM, "out of memory writing %s", db->path);
    else
        rc = util_replace_file(db->path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

size_t labels_db_count(const labels_db *db)
{
    return db->set.n;
}

const labels_label *labels_db_get(const labels_db *db, size_t i)
{
    return i < db->set.n ? &db->set.v[i] : NULL;
}
