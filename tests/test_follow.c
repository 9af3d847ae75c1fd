/* ingest_follow driven poll by poll: its wait callback plays a node's writes between polls
 * (xor-obfuscated, a record written in pieces, preallocated zeros, a child before its parent,
 * a new blk file, a corrupt last record once the node moved on) and checks after each poll how
 * many blocks the store holds. The blocks come from the generator; the expected counts are
 * worked out here from what was written, and the final store is compared with a one-shot
 * import of the same files. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btc/btc.h"
#include "check.h"
#include "fixture.h"
#include "gen/gen.h"
#include "ingest/ingest.h"
#include "store/store.h"

#define NREC 10

typedef struct rec {
    uint8_t *p; /* magic, size, block */
    size_t n;
} rec;

static const uint8_t key[8] = {0x11, 0xf9, 0x00, 0xbe, 0x42, 0x00, 0xd9, 0x7a};

typedef struct play {
    char dir[256];
    rec r[NREC];
    store *s;
    int step;
    uint64_t used[3]; /* bytes written per file */
    int bad_step;     /* the step whose expectation failed, or 0 */
} play;

static void put(play *pl, int file, uint64_t off, const uint8_t *p, size_t n)
{
    char path[300];
    snprintf(path, sizeof path, "%s/blk%05d.dat", pl->dir, file);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    uint8_t *x = malloc(n);
    for (size_t i = 0; i < n; i++)
        x[i] = p[i] ^ key[(off + i) & 7];
    CHECK(pwrite(fd, x, n, (off_t)off) == (ssize_t)n);
    free(x);
    close(fd);
}

/* Append bytes [a, b) of record i to file f (the record starts at its file's used end when
 * a == 0). */
static void write_part(play *pl, int f, int i, size_t a, size_t b, uint64_t *start)
{
    if (a == 0) *start = pl->used[f];
    put(pl, f, *start + a, pl->r[i].p + a, b - a);
    if (b == pl->r[i].n) pl->used[f] = *start + b;
}

static void write_rec(play *pl, int f, int i)
{
    uint64_t start;
    write_part(pl, f, i, 0, pl->r[i].n, &start);
}

/* Called by ingest_follow; the main wait of each poll (ms 1000) checks the previous step's
 * outcome and plays the next. */
static int wait_fn(void *ctx, int fd, long ms)
{
    (void)fd;
    play *pl = ctx;
    if (ms != 1000) return 0;
    static const uint64_t want[] = {0, 2, 2, 2, 2, 3, 3, 3, 4, 4, 6, 8, 8, 8, 8};
    uint64_t blocks = store_get_totals(pl->s)->blocks;
    if (pl->step < (int)(sizeof want / sizeof *want) && blocks != want[pl->step] && !pl->bad_step) {
        fprintf(stderr, "after step %d: %llu blocks, want %llu\n", pl->step,
                (unsigned long long)blocks, (unsigned long long)want[pl->step]);
        pl->bad_step = pl->step ? pl->step : -1;
    }
    static uint64_t s2, s3;
    char path[300];
    switch (++pl->step) {
    case 1: /* two whole records */
        write_rec(pl, 0, 0);
        write_rec(pl, 0, 1);
        break;
    case 2: /* half a frame: the magic's first bytes */
        write_part(pl, 0, 2, 0, 5, &s2);
        break;
    case 3: /* the frame, no block: its size runs past the end of the file */
        write_part(pl, 0, 2, 5, 8, &s2);
        break;
    case 4: /* half the block */
        write_part(pl, 0, 2, 8, 8 + (pl->r[2].n - 8) / 2, &s2);
        break;
    case 5: /* the rest */
        write_part(pl, 0, 2, 8 + (pl->r[2].n - 8) / 2, pl->r[2].n, &s2);
        break;
    case 6: /* preallocated zeros, then a record all there but its last bytes */
        snprintf(path, sizeof path, "%s/blk00000.dat", pl->dir);
        CHECK(truncate(path, (off_t)(pl->used[0] + 65536)) == 0);
        write_part(pl, 0, 3, 0, pl->r[3].n - 7, &s3);
        break;
    case 7: /* nothing new: still pending */
        break;
    case 8:
        write_part(pl, 0, 3, pl->r[3].n - 7, pl->r[3].n, &s3);
        break;
    case 9: /* a child before its parent */
        write_rec(pl, 0, 5);
        break;
    case 10:
        write_rec(pl, 0, 4);
        break;
    case 11: /* the node finishes the file (cuts its zeros) and starts the next */
        snprintf(path, sizeof path, "%s/blk00000.dat", pl->dir);
        CHECK(truncate(path, (off_t)pl->used[0]) == 0);
        write_rec(pl, 1, 6);
        write_rec(pl, 1, 7);
        break;
    case 12: { /* a corrupt last record in blk00001: waited for while it is the last file */
        uint8_t *p = pl->r[8].p;
        p[pl->r[8].n - 2] ^= 0x5a; /* the locktime: part of the txid, so of the merkle root */
        write_rec(pl, 1, 8);
        p[pl->r[8].n - 2] ^= 0x5a;
        break;
    }
    case 13: /* the node moves on to blk00002 */
        write_rec(pl, 2, 9);
        break;
    case 14: /* this poll began with blk00002 holding a record: blk00001's last one is final */
        break;
    default:
        return 1; /* not reached in the first run: the error ends it */
    }
    return 0;
}

/* The second run: stop at the first wait. */
static int stop_fn(void *ctx, int fd, long ms)
{
    (void)ctx, (void)fd;
    return ms == 1000;
}

int main(void)
{
    char tmp[] = "/tmp/ct_follow_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char src[300], db[300], ref[300], path[400];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(db, sizeof db, "%s/db", tmp);
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    gen_config cfg;
    gen_config_init(&cfg);
    cfg.out_dir = src;
    cfg.seed = 3;
    cfg.blocks = NREC;
    cfg.txs_per_block = 12;
    cfg.users = 30;
    cfg.merchants = 3;
    cfg.maturity = 2;
    cfg.scenarios = 0;
    gen_stats st;
    util_err err = {0};
    if (gen_run(&cfg, &st, &err)) {
        fprintf(stderr, "gen_run: %s\n", err.msg);
        return 1;
    }
    /* The records, framing read here from the generator's plain file. */
    play pl = {0};
    snprintf(pl.dir, sizeof pl.dir, "%s/node", tmp);
    mkdir(pl.dir, 0755);
    snprintf(path, sizeof path, "%s/blk00000.dat", src);
    FILE *f = fopen(path, "rb");
    for (int i = 0; f && i < NREC; i++) {
        uint8_t fr[8];
        CHECK(fread(fr, 1, 8, f) == 8);
        uint32_t n =
            (uint32_t)fr[4] | (uint32_t)fr[5] << 8 | (uint32_t)fr[6] << 16 | (uint32_t)fr[7] << 24;
        pl.r[i].n = 8 + n;
        pl.r[i].p = malloc(8 + n);
        memcpy(pl.r[i].p, fr, 8);
        CHECK(fread(pl.r[i].p + 8, 1, n, f) == n);
    }
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/xor.dat", pl.dir);
    f = fopen(path, "wb");
    fwrite(key, 1, 8, f);
    fclose(f);

    /* First run: the node's writes, poll by poll, up to the corrupt record. */
    CHECK(store_open(&pl.s, db, STORE_WRITE | STORE_CREATE, &err) == 0);
    ingest_opts o;
    ingest_default_opts(&o);
    o.threads = 1;
    o.wait = wait_fn, o.wait_ctx = &pl;
    ingest_follow_opts fo = {.poll_ms = 1000, .settle_seconds = 1000};
    ingest_result r;
    int rc = ingest_follow(pl.s, pl.dir, &o, &fo, &r, &err);
    CHECK(pl.bad_step == 0);
    CHECK(pl.step == 14);
    CHECK(rc == UTIL_EFORMAT);
    char want[400];
    snprintf(want, sizeof want,
             "node/blk00001.dat: offset %llu: ", (unsigned long long)(pl.used[1] - pl.r[8].n));
    CHECK(strstr(err.msg, want) != NULL);
    CHECK(strstr(err.msg, "moved on") != NULL);
    if (!strstr(err.msg, want)) fprintf(stderr, "error: %s (want %s)\n", err.msg, want);
    CHECK(store_get_totals(pl.s)->blocks == 8);
    store_close(pl.s);

    /* The node rewrites the record: a second run resumes from the store, reads every file
     * again and imports the last two; a stop request ends it with everything committed. */
    put(&pl, 1, pl.used[1] - pl.r[8].n, pl.r[8].p, pl.r[8].n);
    CHECK(store_open(&pl.s, db, STORE_WRITE, &err) == 0);
    o.wait = stop_fn;
    memset(&err, 0, sizeof err);
    rc = ingest_follow(pl.s, pl.dir, &o, &fo, &r, &err);
    CHECK(rc == 0);
    CHECK(r.stopped == 1);
    CHECK(r.blocks_added == 2);
    CHECK(r.commits == 1);
    store_totals followed = *store_get_totals(pl.s);
    store_close(pl.s);
    CHECK(followed.blocks == NREC);

    /* The same files imported in one go. */
    CHECK(fixture_import(ref, pl.dir) == 0);
    store *s2;
    CHECK(store_open(&s2, ref, 0, &err) == 0);
    CHECK(memcmp(store_get_totals(s2), &followed, sizeof followed) == 0);
    CHECK(followed.txs == st.txs);
    store_close(s2);
    for (int i = 0; i < NREC; i++)
        free(pl.r[i].p);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) return 1;
    return CHECK_DONE();
}
