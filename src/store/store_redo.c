/* The redo log (docs/formats.md, "Redo log"): a commit appends the new values of the entries its
 * batch changed in place (spent marks, address list heads, index slots) to one sequential file
 * and syncs that, instead of syncing the pages those entries sit on. On a large store every such
 * entry is on a page of its own, so syncing pages costs up to 4 KiB per 8-byte change and, once a
 * batch changes more entries than a file has pages, the whole file: a commit then costs in
 * proportion to the store. A checkpoint syncs the pages changed since the last one, once for
 * many commits, and empties the log; it runs when the log reaches half the size of the files it
 * covers, so its cost per commit stays in proportion to what the commits changed.
 *
 * File: a 64-byte header (magic, version, the boot id of the writer that appended groups since
 * the last checkpoint, zeros when there are none), then one group per commit: a 64-byte group
 * header (magic, record count, a checksum of the records, the checksum of the MANIFEST that
 * commit wrote) and its 16-byte records (target << 56 | row or slot, value). */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define REDO_MAGIC 0x676f6c6f64657263ULL /* "credolog" */
#define REDO_GROUP 0x70756f72676f6463ULL /* "cdogroup" */
#define REDO_VERSION 1
#define REDO_GROUP_BYTES 64
#define REDO_CHUNK 65536 /* records per read or write */

typedef struct redo_hdr {
    uint64_t magic, version;
    char boot[48]; /* /proc/sys/kernel/random/boot_id of the writer, NUL-padded */
} redo_hdr;

typedef struct redo_group {
    uint64_t magic, count, xsum, pad;
    uint8_t sum[32]; /* checksum of the MANIFEST this commit wrote */
} redo_group;

_Static_assert(sizeof(redo_hdr) == REDO_HDR_BYTES, "redo header");
_Static_assert(sizeof(redo_group) == REDO_GROUP_BYTES, "redo group header");

static void redo_path(const store *s, char *path, size_t cap)
{
    snprintf(path, cap, "%s/redo.log", s->dir);
}

static void boot_id(char out[48])
{
    memset(out, 0, 48);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, out, 47);
    close(fd);
    if (n < 0) n = 0;
    out[n] = 0;
    char *nl = strchr(out, '\n');
    if (nl) memset(nl, 0, (size_t)(out + 48 - nl));
}

static uint64_t xsum_add(uint64_t h, const uint64_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = store_mix64(h ^ w[i]) + i;
    return h;
}

/* How large the log may grow before a checkpoint: half the bytes of the files it covers (the
 * in-place columns and the two indexes), at least REDO_MIN_LIMIT. */
static uint64_t redo_limit(const store *s)
{
    uint64_t b = s->cols[COL_OUT_SPENT].rows * s->cols[COL_OUT_SPENT].width +
                 s->cols[COL_ADDR_LAST].rows * s->cols[COL_ADDR_LAST].width +
                 (s->txidx.cap + s->addridx.cap) * 8;
    return b / 2 > REDO_MIN_LIMIT ? b / 2 : REDO_MIN_LIMIT;
}

int store_redo_grow_keys(store *s)
{
    /* A batch noting more than the log may take ends in a checkpoint: stop noting (the
     * memory would be what a checkpoint costs anyway). */
    if ((uint64_t)(s->redo_n + 1) * 16 > redo_limit(s) / 2) {
        s->redo_full = 1;
        free(s->redo_keys); /* the checkpoint needs none of them */
        s->redo_keys = NULL;
        s->redo_n = s->redo_cap = 0;
        return -1;
    }
    size_t cap = s->redo_cap ? s->redo_cap * 2 : 65536;
    uint64_t *k = realloc(s->redo_keys, cap * sizeof *k);
    if (!k) {
        s->redo_full = 1;
        return -1;
    }
    s->redo_keys = k, s->redo_cap = cap;
    return 0;
}

/* The value an entry holds now; 0 with *ok 0 for an entry past its file. */
static uint64_t entry_value(const store *s, uint64_t key, int *ok)
{
    uint64_t t = key >> 56, i = key & REDO_INDEX_MASK;
    *ok = 0;
    if (t < NCOLS) {
        const column *c = &s->cols[t];
        if (!store_id_col(s, (int)t) || i >= c->rows || (i + 1) * c->width > c->mapped) return 0;
        *ok = 1;
        return store_id_get(s, (int)t, i);
    }
    const hindex *x = t == REDO_TXIDX ? &s->txidx : t == REDO_ADDRIDX ? &s->addridx : NULL;
    if (!x || !x->slots || i >= x->cap) return 0;
    *ok = 1;
    return x->slots[i];
}

static int write_header(store *s, int with_boot, util_err *err)
{
    redo_hdr h = {REDO_MAGIC, REDO_VERSION, {0}};
    if (with_boot) boot_id(h.boot);
    if (colstore_pwrite_all(s->redo_fd, &h, sizeof h, 0)) {
        char path[4200];
        redo_path(s, path, sizeof path);
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

/* Sync the pages changed in place since the last checkpoint, then empty the log. */
int store_redo_checkpoint(store *s, util_err *err)
{
    int rc;
    for (int c = 0; c < NCOLS; c++) {
        column *col = &s->cols[c];
        uint64_t lo = s->ck[c][0], hi = s->ck[c][1];
        if (hi > col->rows) hi = col->rows;
        if (hi > lo && (rc = colstore_col_sync_range(col, (size_t)lo * col->width,
                                                     (size_t)hi * col->width, err)))
            return rc;
        s->ck[c][0] = s->ck[c][1] = 0;
    }
    for (int w = 0; w < 2; w++) {
        hindex *x = w ? &s->addridx : &s->txidx;
        uint64_t *span = s->ck[REDO_TXIDX + w];
        /* one range from the header (its occupancy word) to the last changed slot */
        if (x->slots && span[1] > span[0]) {
            uint64_t hi = span[1] < x->cap ? span[1] : x->cap;
            if (msync(x->slots - IDX_HEADER_WORDS, (size_t)(IDX_HEADER_WORDS + hi) * 8, MS_SYNC) <
                0)
                return util_errf(err, UTIL_EIO, "%s/%s.idx: sync failed: %s", s->dir, x->name,
                                 strerror(errno));
        }
        span[0] = span[1] = 0;
    }
    s->redo_n = 0;
    if (s->redo_fd < 0) return 0;
    struct stat st;
    if (s->redo_end == REDO_HDR_BYTES && fstat(s->redo_fd, &st) == 0 &&
        st.st_size == REDO_HDR_BYTES)
        return 0; /* empty already */
    char path[4200];
    redo_path(s, path, sizeof path);
    /* Header first (no boot id: nothing to replay), then cut: the file's bytes depend only on
     * the committed state. */
    if ((rc = write_header(s, 0, err))) return rc;
    if (ftruncate(s->redo_fd, REDO_HDR_BYTES) < 0 || fdatasync(s->redo_fd) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot empty: %s", path, strerror(errno));
    s->redo_end = s->redo_file_bytes = REDO_HDR_BYTES;
    return 0;
}

/* The commit's part: append this batch's group (or checkpoint instead, *checkpointed 1). */
int store_redo_commit_group(store *s, const uint8_t sum[32], int *checkpointed, util_err *err)
{
    *checkpointed = 0;
    uint64_t bytes = REDO_GROUP_BYTES + (uint64_t)s->redo_n * 16;
    if (s->redo_full || s->redo_fd < 0 || s->redo_end + bytes > redo_limit(s)) {
        *checkpointed = 1;
        int rc = store_redo_checkpoint(s, err);
        if (!rc) s->redo_full = 0;
        return rc;
    }
    /* Even a group of no records when the log holds earlier ones: the open replays the groups
     * up to the one naming the current MANIFEST, so the last commit must have one. */
    if (s->redo_n == 0 && s->redo_end == REDO_HDR_BYTES) return 0;
    char path[4200];
    redo_path(s, path, sizeof path);
    uint64_t end = s->redo_end + bytes;
    if (end > s->redo_file_bytes) {
        uint64_t want =
            s->redo_file_bytes < ((uint64_t)1 << 20) ? (uint64_t)1 << 20 : s->redo_file_bytes;
        while (want < end)
            want *= 2;
        /* Allocated before writing: a full disk is this error, not a short log. */
        int rc = colstore_file_grow(s->redo_fd, path, s->redo_file_bytes, want, err);
        if (rc) return rc;
        s->redo_file_bytes = want;
    }
    uint64_t *buf = malloc(REDO_CHUNK * 16);
    if (!buf) return util_errf(err, UTIL_ENOMEM, "out of memory writing %s", path);
    redo_group g = {REDO_GROUP, 0, 0x243f6a8885a308d3ULL, 0, {0}};
    memcpy(g.sum, sum, 32);
    uint64_t off = s->redo_end + REDO_GROUP_BYTES;
    int rc = 0;
    for (size_t i = 0; i < s->redo_n && !rc;) {
        size_t k = 0;
        for (; i < s->redo_n && k < REDO_CHUNK; i++) {
            int ok;
            uint64_t v = entry_value(s, s->redo_keys[i], &ok);
            if (!ok) continue;
            buf[2 * k] = s->redo_keys[i], buf[2 * k + 1] = v;
            k++;
        }
        g.xsum = xsum_add(g.xsum, buf, 2 * k);
        if (k && colstore_pwrite_all(s->redo_fd, buf, k * 16, off))
            rc = util_errf(err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
        off += k * 16;
        g.count += k;
    }
    free(buf);
    if (rc) return rc;
    if (s->redo_end == REDO_HDR_BYTES && (rc = write_header(s, 1, err))) return rc;
    if (colstore_pwrite_all(s->redo_fd, &g, sizeof g, s->redo_end) || fdatasync(s->redo_fd) < 0)
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    s->redo_end = off;
    s->redo_n = 0;
    return 0;
}

/* The groups of the log up to the last one that the committed MANIFEST names (the later ones
 * belong to a commit that never finished): their count, or -1 when the log is damaged. Group
 * offsets go to *offs (malloc'd, caller frees). */
static int64_t committed_groups(store *s, uint64_t size, uint64_t **offs)
{
    *offs = NULL;
    size_t n = 0, cap = 0;
    int64_t last = 0;
    for (uint64_t off = REDO_HDR_BYTES; off + REDO_GROUP_BYTES <= size;) {
        redo_group g;
        if (colstore_pread_all(s->redo_fd, &g, sizeof g, off) || g.magic != REDO_GROUP ||
            g.count > (size - off - REDO_GROUP_BYTES) / 16)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *o = realloc(*offs, cap * sizeof *o);
            if (!o) return -1;
            *offs = o;
        }
        (*offs)[n++] = off;
        if (memcmp(g.sum, s->manifest_sum, 32) == 0) last = (int64_t)n;
        off += REDO_GROUP_BYTES + g.count * 16;
    }
    return last;
}

/* Read group at off: verify (apply 0) or put its values in place (apply 1). */
static int group_pass(store *s, uint64_t off, int apply, int *applied_ix)
{
    redo_group g;
    if (colstore_pread_all(s->redo_fd, &g, sizeof g, off)) return -1;
    uint64_t *buf = malloc(REDO_CHUNK * 16);
    if (!buf) return -1;
    uint64_t h = 0x243f6a8885a308d3ULL, at = off + REDO_GROUP_BYTES;
    for (uint64_t done = 0; done < g.count;) {
        size_t k = g.count - done < REDO_CHUNK ? (size_t)(g.count - done) : REDO_CHUNK;
        if (colstore_pread_all(s->redo_fd, buf, k * 16, at)) {
            free(buf);
            return -1;
        }
        h = xsum_add(h, buf, 2 * k);
        for (size_t j = 0; apply && j < k; j++) {
            uint64_t key = buf[2 * j], t = key >> 56, i = key & REDO_INDEX_MASK, v = buf[2 * j + 1];
            if (t < NCOLS) {
                column *c = &s->cols[t];
                if (!store_id_col(s, (int)t) || i >= c->rows || (i + 1) * c->width > c->mapped)
                    continue;
                store_id_put(s, (int)t, i, v);
            } else if ((t == REDO_TXIDX || t == REDO_ADDRIDX) &&
                       !(s->redo_rebuilt & (1 << (t - REDO_TXIDX)))) {
                hindex *x = t == REDO_TXIDX ? &s->txidx : &s->addridx;
                if (!x->slots || i >= x->cap) continue;
                x->slots[i] = v;
                *applied_ix |= 1 << (t - REDO_TXIDX);
            } else {
                continue;
            }
            store_span_add(s->ck[t], i);
        }
        done += k, at += k * 16;
    }
    free(buf);
    return !apply && h != g.xsum ? -2 : 0;
}

int store_redo_open(store *s, int *applied_ix, util_err *err)
{
    char path[4200];
    redo_path(s, path, sizeof path);
    *applied_ix = 0;
    s->redo_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->redo_fd < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(s->redo_fd, &st) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot stat: %s", path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    redo_hdr h;
    int rc = 0;
    if (size < REDO_HDR_BYTES) { /* new, or a store from before the log */
        if ((rc = write_header(s, 0, err))) return rc;
        if (ftruncate(s->redo_fd, REDO_HDR_BYTES) < 0)
            return util_errf(err, UTIL_EIO, "%s: cannot cut: %s", path, strerror(errno));
        s->redo_end = s->redo_file_bytes = REDO_HDR_BYTES;
        return 0;
    }
    if (colstore_pread_all(s->redo_fd, &h, sizeof h, 0) || h.magic != REDO_MAGIC ||
        h.version != REDO_VERSION)
        return util_errf(err, UTIL_ECORRUPT, "%s: not a cointrail redo log (version %llu?)", path,
                         (unsigned long long)h.version);
    uint64_t *offs;
    int64_t n = committed_groups(s, size, &offs);
    if (n < 0) return util_errf(err, UTIL_ENOMEM, "out of memory reading %s", path);
    /* All committed groups check out before any is applied: a damaged one stops the open
     * with the store as it is. */
    for (int64_t g = 0; g < n && !rc; g++) {
        int r = group_pass(s, offs[g], 0, applied_ix);
        if (r)
            rc = util_errf(err, r == -2 ? UTIL_ECORRUPT : UTIL_EIO,
                           r == -2 ? "%s: the group at byte %llu does not match its checksum"
                                   : "%s: cannot read the group at byte %llu",
                           path, (unsigned long long)offs[g]);
    }
    for (int64_t g = 0; g < n && !rc; g++)
        if (group_pass(s, offs[g], 1, applied_ix))
            rc = util_errf(err, UTIL_EIO, "%s: cannot read the group at byte %llu", path,
                           (unsigned long long)offs[g]);
    free(offs);
    /* What follows the committed groups is never replayed; the checkpoint at the end of the
     * open empties the log (nothing to do when it is the bare header already). */
    s->redo_end = size == REDO_HDR_BYTES && !h.boot[0] ? REDO_HDR_BYTES : REDO_HDR_BYTES + 1;
    s->redo_file_bytes = size;
    return rc;
}

int store_redo_check_reader(store *s, util_err *err)
{
    char path[4200];
    redo_path(s, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0; /* a store from before the log */
    struct stat st;
    redo_hdr h;
    int rc = 0;
    if (fstat(fd, &st) == 0 && st.st_size > REDO_HDR_BYTES &&
        colstore_pread_all(fd, &h, sizeof h, 0) == 0 && h.magic == REDO_MAGIC && h.boot[0]) {
        char now[48];
        boot_id(now);
        /* Same boot: the page cache holds every committed change, whatever is on disk. After
         * a restart, committed groups are changes the column files may lack. */
        if (memcmp(now, h.boot, sizeof now) != 0) {
            uint64_t *offs;
            s->redo_fd = fd;
            int64_t n = committed_groups(s, (uint64_t)st.st_size, &offs);
            s->redo_fd = -1;
            free(offs);
            if (n != 0)
                rc = util_errf(err, UTIL_ECORRUPT,
                               "%s: changes committed before the machine restarted are not "
                               "applied yet; open the store for writing once (cointrail import "
                               "--db %s) to apply them",
                               path, s->dir);
        }
    }
    close(fd);
    return rc;
}

void store_redo_close(store *s)
{
    if (s->redo_fd >= 0) close(s->redo_fd);
    s->redo_fd = -1;
    free(s->redo_keys);
    s->redo_keys = NULL;
    s->redo_n = s->redo_cap = 0;
}
