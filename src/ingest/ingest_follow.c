/* ingest: following a running Bitcoin Core node's blocks directory (ingest_follow).
 *
 * The node appends block records (magic, size, block) to its last blk file, preallocating the
 * file in chunks of zeros, and starts a new file when one is full (truncating the old one to
 * its used size). A record can therefore be seen half written: its frame, or part of its bytes,
 * followed by zeros or the end of the file. Each poll reads the files with pread (never through
 * a mapping past what was admitted: a file the node truncates would fault it), from where the
 * last admitted record ended:
 *   - a record followed by more data in its file is complete: its header is admitted (its body
 *     is checked when it is imported, and a corrupt one is an error naming file and offset);
 *   - the last record of a file, with nothing but zeros after it, is admitted once it parses as
 *     a whole block whose merkle root matches; until then it is pending and read again at the
 *     next poll, unless a later blk file already had records at the start of this poll (the
 *     node had moved on, so the record is final): then its failure is an error;
 *   - the same for a frame that is cut short or not (yet) a frame at a file's end.
 * Admitted headers join one header tree kept across polls; each poll that admitted any resolves
 * the tree against the store and imports the best branch as ingest_run does (out-of-order
 * blocks wait for their parents, a heavier branch reorganises), committing once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "ingest_int.h"

#define PEEK_BYTES 4096
#define CHUNK (64 * 1024)
#define WHY_MAX sizeof(((util_err *)0)->msg)

/* What the follower knows of fl.files[i]. */
typedef struct ffile {
    uint64_t ino, size;
    int64_t mtime_ns;
    uint64_t pos;     /* end of the last admitted record: the next one starts at or after it */
    uint64_t records; /* admitted from this file */
    double changed;   /* util_now() when size, mtime or inode last changed */
    int pending;      /* a record at pending_off is incomplete (or not yet known to be) */
    uint64_t pending_off;
    char pending_why[WHY_MAX];
    int warned;  /* about this pending record */
    int ignored; /* replaced or cut below pos: left alone (reported once) */
} ffile;

typedef struct follower {
    store *s;
    const char *dir;
    ingest_opts o;
    const ingest_follow_opts *fo;
    file_list fl;
    ffile *ff;
    size_t ff_cap;
    util_hmap names; /* util_hash_bytes(path) -> index in fl */
    tree t;
    btc_net net;
    btc_block blk; /* scratch for checking a record at a file's end */
    uint8_t *buf;
    size_t buf_cap;
    int any_pending;
} follower;

static int64_t mtime_of(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Up to n bytes at off; how many were read (fewer at the end of the file). */
static size_t read_at(int fd, uint64_t off, uint8_t *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    return got;
}

static void unxor(const btc_blockfile *bf, uint64_t off, uint8_t *p, size_t n)
{
    if (bf->xored)
        for (size_t i = 0; i < n; i++)
            p[i] ^= bf->xor_key[(off + i) & 7];
}

/* The offset of the first byte at or after off that is not a raw zero, or end. Preallocated
 * space is raw zeros (never xored), so this skips it without decoding. */
static uint64_t skip_zeros(int fd, uint64_t off, uint64_t end)
{
    uint8_t chunk[CHUNK];
    size_t step = 64; /* usually the next record starts right here: read little first */
    while (off < end) {
        size_t want = end - off < step ? (size_t)(end - off) : step;
        step = CHUNK;
        size_t got = read_at(fd, off, chunk, want);
        if (!got) return end;
        for (size_t i = 0; i < got; i++)
            if (chunk[i]) return off + i;
        off += got;
    }
    return end;
}

static int grow_buf(follower *F, size_t n, util_err *err)
{
    if (F->buf_cap >= n) return 0;
    uint8_t *p = realloc(F->buf, n);
    if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for a block");
    F->buf = p;
    F->buf_cap = n;
    return 0;
}

/* Map file i again so that the mapping covers its current size (the pipeline parses admitted
 * records through it). */
static int remap(follower *F, size_t i, util_err *err)
{
    btc_blockfile *bf = &F->fl.files[i];
    char path[sizeof bf->path];
    uint8_t key[8];
    int xored = bf->xored;
    memcpy(path, bf->path, sizeof path);
    memcpy(key, bf->xor_key, 8);
    btc_blockfile_close(bf);
    return btc_blockfile_open(bf, path, xored ? key : NULL, err);
}

/* ---- the directory ---- */

static int known(const follower *F, const char *path)
{
    uint64_t key = util_hash_bytes(path, strlen(path));
    for (size_t j = util_hmap_first(&F->names, key); j != SIZE_MAX;
         j = util_hmap_next(&F->names, key, j))
        if (!strcmp(F->fl.files[F->names.vals[j]].path, path)) return 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the blk?????.dat files that appeared since the last look, in name order. */
static int add_new_files(follower *F, double now, util_err *err)
{
    DIR *d = opendir(F->dir);
    if (!d) return util_errf(err, UTIL_EIO, "%s: cannot list: %s", F->dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "blk", 3) != 0 || len < 8 || strcmp(e->d_name + len - 4, ".dat"))
            continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", F->dir, e->d_name);
        if (known(F, full)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(full))) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc && n) qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        if (!rc && F->fl.n + 1 > F->ff_cap) {
            size_t nc = F->ff_cap ? F->ff_cap * 2 : 16;
            ffile *p = realloc(F->ff, nc * sizeof *p);
            if (!p)
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            else
                F->ff = p, F->ff_cap = nc;
        }
        if (!rc && !(rc = ingest_add_file(&F->fl, names[i], F->dir, err)) &&
            util_hmap_add(&F->names, util_hash_bytes(names[i], strlen(names[i])), F->fl.n - 1))
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        if (!rc) {
            ffile *f = &F->ff[F->fl.n - 1];
            memset(f, 0, sizeof *f);
            f->changed = now;
            f->mtime_ns = -1; /* the first look counts as a change */
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- reading one file ---- */

/* A record at off of file i cannot be read as a block (why). If a later file already had
 * records when this poll began, the node had moved on and the record is final: corrupt, an
 * error. Else it is pending (being written), reported once if it stays so for settle seconds. */
static int problem(follower *F, size_t i, int later_has_records, uint64_t off, const char *why,
                   double now, util_err *err)
{
    ffile *f = &F->ff[i];
    const char *path = F->fl.files[i].path;
    if (later_has_records)
        return util_errf(err, UTIL_EFORMAT,
                         "%s: offset %llu: %s (the node has moved on to a later blk file, so "
                         "this record is final)",
                         path, (unsigned long long)off, why);
    if (!f->pending || f->pending_off != off) f->warned = 0;
    f->pending = 1;
    f->pending_off = off;
    snprintf(f->pending_why, sizeof f->pending_why, "%s", why);
    F->any_pending = 1;
    double settle = F->fo->settle_seconds > 0 ? F->fo->settle_seconds : 10;
    if (!f->warned && now - f->changed >= settle && F->fo->log) {
        fprintf(F->fo->log,
                "cointrail: follow: %s: offset %llu: %s; unchanged for %.0f s, still waiting "
                "for the node to complete or rewrite it\n",
                path, (unsigned long long)off, why, now - f->changed);
        f->warned = 1;
    }
    return 0;
}

/* Whether the record at off (its frame included) of n bytes is a whole, valid block. */
static int record_ok(follower *F, int fd, const btc_blockfile *bf, uint64_t off, uint32_t n,
                     char *why, size_t whyn, util_err *err)
{
    int rc = grow_buf(F, n, err);
    if (rc) return rc;
    if (read_at(fd, off + 8, F->buf, n) != n) {
        snprintf(why, whyn, "block of %u bytes not all there", n);
        return 1;
    }
    unxor(bf, off + 8, F->buf, n);
    util_err perr = {0};
    if (btc_parse_block(&F->blk, F->buf, n, BTC_PARSE_VERIFY_MERKLE, &perr)) {
        memcpy(why, perr.msg, whyn < sizeof perr.msg ? whyn : sizeof perr.msg);
        why[whyn - 1] = 0;
        return 1;
    }
    return 0;
}

/* Read file i from its position: admit every complete record, stop at the first that is not
 * (pending or an error). *added counts headers new to the tree. */
static int scan_file(follower *F, size_t i, int later_has_records, double now, size_t *added,
                     util_err *err)
{
    ffile *f = &F->ff[i];
    btc_blockfile *bf = &F->fl.files[i];
    int fd = open(bf->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0; /* gone (pruned): what was admitted stays mapped */
    struct stat st;
    int rc = 0, remapped = 0;
    if (fstat(fd, &st) < 0) goto out;
    uint64_t size = (uint64_t)st.st_size, off = f->pos;
    f->pending = 0;
    while (!rc) {
        uint64_t q = skip_zeros(fd, off, size);
        if (q >= size) break;
        /* A magic whose first bytes are raw zeros (xor) starts up to 3 bytes before q. */
        uint64_t start = q >= off + 3 ? q - 3 : off, rec = UINT64_MAX;
        uint8_t frame[8];
        for (uint64_t c = start; c <= q && rec == UINT64_MAX; c++) {
            if (read_at(fd, c, frame, 4) < 4) break;
            unxor(bf, c, frame, 4);
            if (btc_is_magic(frame)) rec = c;
        }
        char why[WHY_MAX];
        if (rec == UINT64_MAX) {
            uint8_t m[4] = {0};
            size_t got = read_at(fd, q, m, 4);
            unxor(bf, q, m, got);
            snprintf(why, sizeof why,
                     "wrong magic %02x%02x%02x%02x (want f9beb4d9, 0b110907 or fabfb5da)", m[0],
                     m[1], m[2], m[3]);
            rc = problem(F, i, later_has_records, q, why, now, err);
            break;
        }
        if (read_at(fd, rec, frame, 8) < 8) {
            rc = problem(F, i, later_has_records, rec, "truncated block header frame", now, err);
            break;
        }
        unxor(bf, rec, frame, 8);
        uint32_t n = util_le32(frame + 4);
        if (n < 81 || n > 8000000) {
            snprintf(why, sizeof why, "implausible block size %u", n);
            rc = problem(F, i, later_has_records, rec + 4, why, now, err);
            break;
        }
        if (n > size - rec - 8) {
            snprintf(why, sizeof why, "block size %u runs past the end of the file", n);
            rc = problem(F, i, later_has_records, rec + 4, why, now, err);
            break;
        }
        uint64_t end = rec + 8 + n;
        /* More data after it: the node finished this record before writing that. */
        int settled = skip_zeros(fd, end, size) < size;
        if (!settled) {
            int bad = record_ok(F, fd, bf, rec, n, why, sizeof why, err);
            if (bad < 0) {
                rc = bad;
                break;
            }
            if (bad) {
                rc = problem(F, i, later_has_records, rec, why, now, err);
                break;
            }
        }
        if (!remapped || bf->size < end) {
            if ((rc = remap(F, i, err))) break;
            remapped = 1;
            if (bf->size < end) break; /* cut meanwhile: look again at the next poll */
        }
        /* The header is read after the record is known complete, from the mapping the
         * pipeline will parse. */
        uint8_t raw[80];
        btc_blockfile_read(bf, rec + 8, raw, 80);
        rc = ingest_tree_add(&F->t, raw, (uint32_t)i, rec + 8, n, err);
        if (rc < 0) break;
        *added += (size_t)rc;
        rc = 0;
        f->records++;
        f->pos = off = end;
    }
out:
    close(fd);
    return rc;
}

/* Whether file i needs reading this poll: it changed, holds a pending record, or is one of the
 * last two files and has something other than zeros where its next record would start (a
 * write inside preallocated space can leave size and, within the clock's granularity, mtime as
 * they were). */
static int needs_scan(follower *F, size_t i, double now)
{
    ffile *f = &F->ff[i];
    const char *path = F->fl.files[i].path;
    struct stat st;
    if (f->ignored || stat(path, &st) < 0) return 0;
    if ((f->ino && st.st_ino != f->ino) || (uint64_t)st.st_size < f->pos) {
        if (F->fo->log)
            fprintf(F->fo->log,
                    "cointrail: follow: %s was replaced or cut below what was read: no longer "
                    "followed (restart to read it again)\n",
                    path);
        f->ignored = 1;
        return 0;
    }
    int changed =
        st.st_ino != f->ino || (uint64_t)st.st_size != f->size || mtime_of(&st) != f->mtime_ns;
    if (changed) {
        f->ino = st.st_ino;
        f->size = (uint64_t)st.st_size;
        f->mtime_ns = mtime_of(&st);
        f->changed = now;
        return 1;
    }
    if (f->pending) return 1;
    if (i + 2 < F->fl.n || f->pos >= f->size) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint8_t peek[PEEK_BYTES];
    size_t got = read_at(fd, f->pos, peek, sizeof peek);
    close(fd);
    for (size_t k = 0; k < got; k++)
        if (peek[k]) return 1;
    return 0;
}

/* ---- one poll ---- */

/* Headers whose state must be worked out again: all but those still in the store. */
static void reset_states(follower *F)
{
    uint64_t blocks = store_get_totals(F->s)->blocks;
    for (size_t k = 0; k < F->t.n; k++) {
        hdr *h = &F->t.h[k];
        if (h->state == HDR_STORED && (uint64_t)h->store_height < blocks &&
            !memcmp(store_block_hash(F->s, (uint64_t)h->store_height), h->hash, 32))
            continue;
        h->state = HDR_UNRESOLVED;
    }
}

static int poll_once(follower *F, ingest_result *r, util_err *err)
{
    double now = util_now();
    int rc = add_new_files(F, now, err);
    if (rc) return rc;
    r->files = F->fl.n;
    F->any_pending = 0;
    /* later[i]: a file after i had records before this poll read anything. */
    size_t added = 0, n = F->fl.n;
    int later = 0;
    unsigned char *later_has = calloc(n ? n : 1, 1);
    if (!later_has) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = n; i-- > 0;) {
        later_has[i] = (unsigned char)later;
        later |= F->ff[i].records > 0;
    }
    for (size_t i = 0; i < n && !rc; i++)
        if (needs_scan(F, i, now)) rc = scan_file(F, i, later_has[i], now, &added, err);
    free(later_has);
    if (rc || !added) return rc;

    double t0 = util_now();
    r->headers_found = F->t.n;
    if ((rc = ingest_choose_network(F->s, &F->fl, &F->t, &F->o, &F->net, err))) return rc;
    r->network = F->net;
    reset_states(F);
    if ((rc = ingest_resolve_work(F->s, &F->fl, &F->t, F->net, err))) return rc;
    uint64_t added0 = r->blocks_added, removed0 = r->blocks_removed, txs0 = r->txs_added;
    r->stale_blocks = r->orphan_blocks = 0; /* a picture of this poll's tree, not a sum */
    rc = ingest_apply_best(F->s, &F->fl, &F->t, F->net, &F->o, 0, r, err);
    F->o.progress = NULL; /* a progress line for the first catch-up only */
    r->height = store_get_totals(F->s)->blocks;
    if (!rc && (r->blocks_added != added0 || r->blocks_removed != removed0) && F->fo->on_round) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        ingest_round round = {.height = r->height,
                              .blocks_added = r->blocks_added - added0,
                              .blocks_removed = r->blocks_removed - removed0,
                              .txs_added = r->txs_added - txs0,
                              .unix_time = (double)wall.tv_sec + wall.tv_nsec / 1e9,
                              .seconds = util_now() - t0};
        F->fo->on_round(F->fo->round_ctx, &round);
    }
    return rc;
}

int ingest_follow(store *s, const char *dir, const ingest_opts *o, const ingest_follow_opts *fo,
                  ingest_result *r, util_err *err)
{
    memset(r, 0, sizeof *r);
    if (!o->wait) return util_errf(err, UTIL_EINVAL, "following needs a way to be stopped");
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return util_errf(err, UTIL_EIO, "%s: not a directory (--follow reads a node's blocks/)",
                         dir);
    double t0 = util_now();
    follower F = {.s = s, .dir = dir, .o = *o, .fo = fo};
    long poll_ms = fo->poll_ms > 0 ? fo->poll_ms : 250;
    /* inotify wakes the loop at the node's writes; without it, polling alone still works. */
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino >= 0 &&
        inotify_add_watch(ino, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
        close(ino);
        ino = -1;
    }
    int rc = 0;
    while (!(rc = poll_once(&F, r, err)) && !r->stopped) {
        /* A record is being written: give the writer a moment rather than waking at each of
         * its writes. */
        if (F.any_pending && o->wait(o->wait_ctx, -1, 2)) break;
        if (o->wait(o->wait_ctx, ino, poll_ms)) {
            r->stopped = 1;
            break;
        }
        char ev[4096];
        while (ino >= 0 && read(ino, ev, sizeof ev) > 0) {
        }
    }
    if (!r->stopped && !rc) r->stopped = 1;
    if (ino >= 0) close(ino);
    r->headers_found = F.t.n;
    r->height = store_get_totals(s)->blocks;
    r->seconds = util_now() - t0;
    btc_block_free(&F.blk);
    free(F.buf);
    ingest_tree_free(&F.t);
    ingest_files_free(&F.fl);
    util_hmap_free(&F.names);
    free(F.ff);
    return rc;
}
