/* Bulk loading of an empty store (docs/performance.md, "Bulk import"): the same columns, the
 * same bytes as store_append_block gives block by block, but built by sorting and streaming
 * instead of one random look-up per input and per output.
 *
 *  add_block  every block in chain order: the columns that need nothing from other blocks are
 *             appended in sequence (blocks, tx hashes and rows, output values and types,
 *             payloads); inputs, txids and addresses become sort records;
 *  resolve    txids and outpoints sorted by the txid's first 8 bytes and merged (the newest
 *             earlier tx with the whole txid, as the incremental path's index answers); then
 *             by spent output (spent marks, values, double spends), then by input;
 *  validate   one pass in chain order with the incremental path's checks in its order, so the
 *             first failure is the one it reports, with its words;
 *  addresses  (key, output) sorted: ids in order of first appearance, each output's previous
 *             output of its address, each address's last output;
 *  indexes    both hash indexes built once, in id order, at their final size (what a store
 *             grown insert by insert holds after its close: see store_hindex_cap_for).
 * Every sort is store_spill.c's external stable sort: within the memory budget (shares below)
 * it is one run in memory; past it, sorted runs spilled to bulk-*.tmp and merged in a
 * stream. So the bytes are the same whatever the budget. The mapped columns and temp files
 * are dropped from the mapping past the budget too (drop_mapped).
 * Nothing is committed here: the caller commits once. After the last block the caller makes
 * a checkpoint (store_bulk_checkpoint): columns, temp files and sorted runs synced, then the
 * marker STORE_BULK_MARKER with the run tables and totals (docs/formats.md, "bulk-resume").
 * From then on the temp files' checkpointed bytes are only read, and the later phases write
 * into the columns only values they compute again alike, so a kill at any later point is
 * resumed from the checkpoint: the next open keeps the columns the marker owns, and the next
 * begin for the same chain restores the sorters instead of adding the blocks again. A kill
 * before the checkpoint, or a marker that does not match, leaves the empty committed store
 * (rows past the MANIFEST cut, temp files removed): the import starts over. */
#include "store_int.h"
#include "store_spill.h"
#include "../crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temp file written in sequence and read back through a mapping. */
#define TMPF_BUF ((size_t)1 << 20)
typedef struct tmpf {
    char path[4200];
    FILE *f;
    const uint8_t *map;
    size_t bytes;
} tmpf;

static int tmpf_open(tmpf *t, const char *dir, const char *name, util_err *err)
{
    snprintf(t->path, sizeof t->path, "%s/%s", dir, name);
    t->f = fopen(t->path, "w+b");
    if (!t->f) return util_errf(err, UTIL_EIO, "%s: cannot create: %s", t->path, strerror(errno));
    /* Written in large pieces: 4 KiB writes cost the kernel about four times the CPU per byte
     * of 1 MiB ones (a page cache folio, buffer heads and a delayed allocation per page). */
    setvbuf(t->f, NULL, _IOFBF, TMPF_BUF);
    return 0;
}

static int tmpf_write(tmpf *t, const void *p, size_t n, util_err *err)
{
    if (n && fwrite(p, 1, n, t->f) != n)
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", t->path, strerror(errno));
    t->bytes += n;
    return 0;
}

static int tmpf_map(tmpf *t, util_err *err)
{
    if (fflush(t->f) != 0 || ferror(t->f))
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", t->path, strerror(errno));
    if (!t->bytes) return 0;
    void *m = mmap(NULL, t->bytes, PROT_READ, MAP_SHARED, fileno(t->f), 0);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map: %s", t->path, strerror(errno));
    t->map = m;
    return 0;
}

static void tmpf_close(tmpf *t)
{
    if (t->map) munmap((void *)t->map, t->bytes);
    if (t->f) {
        fclose(t->f);
        unlink(t->path);
    }
    t->map = NULL, t->f = NULL;
}

#define PREVOUT_BYTES 36 /* an input's outpoint in the temp file: txid, vout (LE) */

/* The budget's shares, in twentieths, of the sorters (each holds at most its share: its
 * buffer, or its merge's read buffers) and of the one sort scratch (the largest buffer). The
 * sorters alive at once: add_block tx + in + ad + scratch (15); resolve tx + in + ad + spent +
 * scratch (20); mark_spent spent + byin + ad + scratch (18); addresses ad + addrout +
 * scratch (13). */
enum { SH_TX = 2, SH_IN = 5, SH_AD = 3, SH_SPENT = 5, SH_BYIN = 5, SH_ADDROUT = 5 };
enum { TXW = 7 }; /* words of a tx record and of an input record */

/* Pages populated for the block loop by the parser threads (store_bulk_assist): pieces of
 * PF_PIECE bytes, the sort buffers kept PF_AHEAD bytes ahead of their records. */
enum { PF_Q = 512, PF_PIECE = 4 << 20, PF_AHEAD = 32 << 20 };
typedef struct pf_item {
    uint8_t *p;
    size_t n;
    uint64_t moves; /* of a sort buffer: store_sort_mem.moves when posted; else UINT64_MAX */
} pf_item;

struct store_bulk {
    store *s;
    uint64_t memory; /* the budget */
    int crash_phase;
    store_totals n;    /* rows appended so far (blocks, txs, inputs, outputs) */
    store_sort_mem sm; /* the sorters' scratch and heap count */
    /* k (the txid's first 8 bytes), tx id, first_out, n_out, the txid's other 24 bytes; by k */
    store_sort tx;
    /* k of the spent txid, input id, tx id, vout, the txid's other 24 bytes: non-coinbase
     * inputs; by k */
    store_sort in;
    store_sort ad; /* key hash, output id, index of the key in addrkeys; by hash */
    store_sort spent, byin, addrout; /* made by the finish: see resolve and addresses */
    uint64_t spilled;                /* bytes written to the sorters' temp files */
    int64_t *subsidy;
    size_t subsidy_cap;
    tmpf prevouts;       /* PREVOUT_BYTES per input, every input */
    tmpf addrkeys;       /* btc_addr per addressed output */
    store_bulk_prep own; /* a block's prep when the caller gives none */
    /* between store_bulk_assist_begin and _end: pages for other threads to populate */
    int pf_on;
    pthread_mutex_t pf_mu; /* the queue */
    pthread_mutex_t mv_mu; /* a sort buffer neither moves nor is populated by another holder */
    pf_item pf_q[PF_Q];
    size_t pf_head, pf_tail;
    size_t pf_sort_end[3]; /* bytes of the tx, in, ad buffers posted or written */
    double phase_s[STORE_BULK_PHASES];
    double lap;             /* util_now() at the end of the last phase timed */
    uint64_t rss_anon_peak; /* RssAnon seen at a phase end or a look at the mapped pages */
    uint64_t work;          /* records since the last look at the mapped pages */
    uint64_t drops;         /* times they were dropped from the mapping */
    uint8_t chain[32];      /* the chain being imported (the caller's digest) */
    int resumed;            /* restored from a checkpoint: no blocks to add */
    char note[1024];        /* why a checkpoint was not used, or that it was */
};

const char *const store_bulk_phase_names[STORE_BULK_PHASES] = {"sort_txids_outpoints",
                                                               "merge_check_txids",
                                                               "mark_spent",
                                                               "sort_by_input",
                                                               "validate",
                                                               "addresses",
                                                               "indexes"};

void store_bulk_phase_seconds(const store_bulk *b, double out[STORE_BULK_PHASES])
{
    for (int i = 0; i < STORE_BULK_PHASES; i++)
        out[i] = b ? b->phase_s[i] : 0;
}

/* The process's resident memory, bytes, from /proc/self/status: anonymous (heap, stacks) and
 * mapped files (RssFile + RssShmem); 0 if /proc cannot say. */
static void rss_now(uint64_t *anon, uint64_t *file)
{
    *anon = *file = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %llu", &kb) == 1)
            *anon = (uint64_t)kb * 1024;
        else if (sscanf(line, "RssFile: %llu", &kb) == 1 ||
                 sscanf(line, "RssShmem: %llu", &kb) == 1)
            *file += (uint64_t)kb * 1024;
    fclose(f);
}

/* The columns and the two temp files are shared file mappings: every page the passes touch
 * stays in the process's resident set until unmapped, so a large chain's store would be
 * resident whole, whatever the budget. Past the budget, their pages are taken out of the
 * mapping (MADV_DONTNEED: a shared mapping's pages stay in the page cache, written ones
 * dirty, and come back on the next touch); the kernel then writes back and evicts them as it
 * sizes its cache. Checked every budget / 1024 records (reading /proc costs ~20 us), so that
 * a small budget is looked after as closely as a large one. */
static void drop_mapped(store_bulk *b)
{
    uint64_t anon, file;
    rss_now(&anon, &file);
    if (anon > b->rss_anon_peak) b->rss_anon_peak = anon;
    if (file <= b->memory) return;
    store *s = b->s;
    for (int c = 0; c < NCOLS; c++)
        if (s->cols[c].base && s->cols[c].mapped)
            madvise(s->cols[c].base, s->cols[c].mapped, MADV_DONTNEED);
    const tmpf *t[2] = {&b->prevouts, &b->addrkeys};
    for (int i = 0; i < 2; i++)
        if (t[i]->map) madvise((void *)t[i]->map, t[i]->bytes, MADV_DONTNEED);
    b->drops++;
}

/* Counts n records of work, looking at the mapped pages every budget / 1024 of them. */
static void touched(store_bulk *b, uint64_t n)
{
    b->work += n;
    if (b->work >= (b->memory >> 10)) {
        b->work = 0;
        drop_mapped(b);
    }
}

static void lap(store_bulk *b, int phase)
{
    double now = util_now();
    b->phase_s[phase] += now - b->lap;
    b->lap = now;
    uint64_t anon, file;
    rss_now(&anon, &file);
    if (anon > b->rss_anon_peak) b->rss_anon_peak = anon;
}

static uint64_t spilled_of(const store_sort *ss)
{
    return (ss->file_recs - ss->dead) * (uint64_t)ss->w * sizeof(uint64_t);
}

void store_bulk_memory(const store_bulk *b, store_bulk_mem *out)
{
    memset(out, 0, sizeof *out);
    if (!b) return;
    out->budget = b->memory;
    out->sort_heap_peak = b->sm.peak;
    out->spilled_bytes = b->spilled;
    out->rss_anon_peak = b->rss_anon_peak;
    out->map_drops = b->drops;
}

/* The two tmpf files first, then the sorters' in the order of sorter_names. */
const char *const store_bulk_tmp_names[STORE_BULK_TMP_FILES] = {
    "bulk-prevouts.tmp", "bulk-addrkeys.tmp", "bulk-txids.tmp",   "bulk-inputs.tmp",
    "bulk-addrs.tmp",    "bulk-spent.tmp",    "bulk-byinput.tmp", "bulk-addrout.tmp"};
static const char *const *const tmp_names = store_bulk_tmp_names;

/* A sorter on a new temp file (one left by a killed import removed). */
static void sorter(store_bulk *b, store_sort *ss, const char *name, int w, int kw, int bits,
                   int share)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", b->s->dir, name);
    unlink(path);
    store_sort_init(ss, &b->sm, path, w, kw, bits, b->memory / 20 * share);
}

uint64_t store_bulk_default_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t m = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 4 : (1ULL << 30);
    return m < STORE_BULK_MIN_MEMORY ? STORE_BULK_MIN_MEMORY : m;
}

static void crash_at(const store_bulk *b, int phase)
{
    if (b->crash_phase == phase) raise(SIGKILL); /* crash-recovery tests only */
}

/* ---------------- the checkpoint (docs/formats.md, "bulk-resume") ---------------- */

static const char MARKER_MAGIC[8] = {'C', 'T', 'B', 'U', 'L', 'K', '0', '1'};

static int put64(util_buf *m, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return util_buf_append(m, x, 8);
}

static store_sort *ck_sorter(store_bulk *b, int i)
{
    return i == 0 ? &b->tx : i == 1 ? &b->in : &b->ad;
}

int store_bulk_checkpoint(store_bulk *b, util_err *err)
{
    store *s = b->s;
    int rc = 0;
    /* every file's write-back started before the first wait: the device does them together */
    store_sort_state st[3];
    for (int i = 0; i < 3 && !rc; i++)
        rc = store_sort_checkpoint(ck_sorter(b, i), &st[i], err);
    tmpf *t[2] = {&b->prevouts, &b->addrkeys};
    for (int i = 0; i < 2 && !rc; i++) {
        if (fflush(t[i]->f) != 0)
            rc = util_errf(err, UTIL_EIO, "%s: write failed: %s", t[i]->path, strerror(errno));
        else
            (void)sync_file_range(fileno(t[i]->f), 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    for (int c = 0; c < NCOLS && !rc; c++)
        if (s->cols[c].fd >= 0)
            rc = colstore_col_sync_range(&s->cols[c], 0, (size_t)s->cols[c].rows * s->cols[c].width,
                                         err);
    for (int i = 0; i < 2 && !rc; i++)
        if (fsync(fileno(t[i]->f)) < 0)
            rc = util_errf(err, UTIL_EIO, "%s: cannot sync: %s", t[i]->path, strerror(errno));
    for (int i = 0; i < 3 && !rc; i++)
        rc = store_sort_sync(ck_sorter(b, i), err);
    if (rc) return rc;
    util_buf m = {0};
    rc = util_buf_append(&m, MARKER_MAGIC, sizeof MARKER_MAGIC);
    rc = rc ? rc : util_buf_append(&m, b->chain, 32);
    uint64_t head[] = {b->memory,         b->n.blocks,       b->n.txs,   b->n.inputs, b->n.outputs,
                       b->prevouts.bytes, b->addrkeys.bytes, b->spilled, NCOLS};
    for (size_t i = 0; i < sizeof head / sizeof *head && !rc; i++)
        rc = put64(&m, head[i]);
    for (int c = 0; c < NCOLS && !rc; c++)
        rc = put64(&m, s->cols[c].rows);
    for (int i = 0; i < 3 && !rc; i++) {
        const store_sort_run *runs = store_sort_runs(ck_sorter(b, i));
        uint64_t w[] = {st[i].total, st[i].tail, st[i].file_recs, st[i].nruns};
        for (int k = 0; k < 4 && !rc; k++)
            rc = put64(&m, w[k]);
        for (uint64_t k = 0; k < st[i].nruns && !rc; k++)
            if (!(rc = put64(&m, runs[k].off))) rc = put64(&m, runs[k].n);
    }
    for (uint64_t h = 0; h < b->n.blocks && !rc; h++)
        rc = put64(&m, (uint64_t)b->subsidy[h]);
    uint8_t sum[32];
    if (!rc) {
        crypto_sha256(m.data, m.len, sum);
        rc = util_buf_append(&m, sum, 32);
    }
    if (rc) {
        util_buf_free(&m);
        return util_errf(err, UTIL_ENOMEM, "out of memory for the bulk checkpoint");
    }
    char tmp[4300], path[4300];
    snprintf(tmp, sizeof tmp, "%s/%s.new", s->dir, STORE_BULK_MARKER);
    snprintf(path, sizeof path, "%s/%s", s->dir, STORE_BULK_MARKER);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || colstore_pwrite_all(fd, m.data, m.len, 0) != 0 || fsync(fd) < 0 ||
        rename(tmp, path) < 0)
        rc = util_errf(err, UTIL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    util_buf_free(&m);
    if (!rc) rc = store_fsync_dir(s->dir, err);
    if (rc) return rc;
    s->bulk_keep = 1; /* a failure after this forgets it (store_bulk_free) */
    crash_at(b, 2);
    return 0;
}

/* Reads the marker's words in sequence; past the end it sets bad. */
typedef struct rd {
    const uint8_t *p;
    size_t len, at;
    int bad;
} rd;

static uint64_t get64(rd *r)
{
    if (r->len - r->at < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = util_le64(r->p + r->at);
    r->at += 8;
    return v;
}

/* The checkpoint's state restored into b (fresh, with nothing added): 0, or a reason (in
 * err) not to trust it. */
static int restore(store_bulk *b, util_err *err)
{
    store *s = b->s;
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", s->dir, STORE_BULK_MARKER);
    util_buf m = {0};
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return util_errf(err, UTIL_EIO, "%s: cannot read: %s", path, strerror(errno));
    uint8_t chunk[65536];
    size_t k;
    while (!rc && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = util_buf_append(&m, chunk, k);
    fclose(f);
    uint8_t sum[32];
    if (!rc && m.len >= 8 + 32 + 32) crypto_sha256(m.data, m.len - 32, sum);
    if (rc || m.len < 8 + 32 + 32 || memcmp(m.data, MARKER_MAGIC, 8) ||
        memcmp(sum, m.data + m.len - 32, 32)) {
        util_buf_free(&m);
        return util_errf(err, UTIL_ECORRUPT, "%s: not a whole checkpoint (checksum)", path);
    }
    rd r = {m.data, m.len - 32, 40, 0};
    rc = UTIL_ECORRUPT;
    uint64_t memory = get64(&r);
    if (memcmp(m.data + 8, b->chain, 32)) {
        util_errf(err, rc, "%s: made for another chain or other block files", path);
        goto out;
    }
    if (memory != b->memory) {
        util_errf(err, rc, "%s: made with a memory budget of %llu bytes, not %llu", path,
                  (unsigned long long)memory, (unsigned long long)b->memory);
        goto out;
    }
    b->n.blocks = get64(&r), b->n.txs = get64(&r), b->n.inputs = get64(&r);
    b->n.outputs = get64(&r);
    uint64_t pbytes = get64(&r), abytes = get64(&r);
    b->spilled = get64(&r);
    if (get64(&r) != NCOLS || r.bad) {
        util_errf(err, rc, "%s: not this build's checkpoint", path);
        goto out;
    }
    uint64_t rows[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        rows[c] = get64(&r);
        column *col = &s->cols[c];
        struct stat sb;
        if (col->fd < 0 ? rows[c] != 0
                        : fstat(col->fd, &sb) < 0 || (uint64_t)sb.st_size < rows[c] * col->width) {
            util_errf(err, rc, "%s: shorter than the checkpoint's %llu rows", col->path,
                      (unsigned long long)rows[c]);
            goto out;
        }
    }
    for (int i = 0; i < 3; i++) {
        store_sort_state st = {get64(&r), get64(&r), get64(&r), get64(&r)};
        if (r.bad || st.nruns > (r.len - r.at) / 16 || st.tail > st.file_recs) {
            util_errf(err, rc, "%s: not a whole checkpoint", path);
            goto out;
        }
        const uint64_t *runs = NULL;
        uint64_t *rv = malloc((st.nruns ? st.nruns : 1) * 16);
        if (!rv) {
            util_errf(err, rc = UTIL_ENOMEM, "out of memory");
            goto out;
        }
        for (uint64_t j = 0; j < 2 * st.nruns; j++)
            rv[j] = get64(&r);
        runs = rv;
        int e = store_sort_restore(ck_sorter(b, i), &st, runs, err);
        free(rv);
        if (e) goto out;
    }
    if ((r.len - r.at) / 8 != b->n.blocks || r.len % 8) {
        util_errf(err, rc, "%s: not a whole checkpoint", path);
        goto out;
    }
    b->subsidy = malloc((b->n.blocks ? b->n.blocks : 1) * sizeof *b->subsidy);
    if (!b->subsidy) {
        util_errf(err, rc = UTIL_ENOMEM, "out of memory");
        goto out;
    }
    b->subsidy_cap = b->n.blocks;
    for (uint64_t h = 0; h < b->n.blocks; h++)
        b->subsidy[h] = (int64_t)get64(&r);
    tmpf *t[2] = {&b->prevouts, &b->addrkeys};
    uint64_t want[2] = {pbytes, abytes};
    for (int i = 0; i < 2; i++) {
        snprintf(t[i]->path, sizeof t[i]->path, "%s/%s", s->dir, tmp_names[i]);
        struct stat sb;
        t[i]->f = fopen(t[i]->path, "r+b");
        if (!t[i]->f || fstat(fileno(t[i]->f), &sb) < 0 || (uint64_t)sb.st_size != want[i]) {
            util_errf(err, rc, "%s: missing, or not the checkpoint's %llu bytes", t[i]->path,
                      (unsigned long long)want[i]);
            goto out;
        }
        t[i]->bytes = want[i];
    }
    for (int c = 0; c < NCOLS; c++) {
        if (s->cols[c].fd < 0) continue;
        s->cols[c].rows = rows[c];
        if ((rc = colstore_col_reserve(&s->cols[c], 0, err))) goto out;
    }
    rc = UTIL_ECORRUPT;
    /* as store_check_extends records it at block 0 */
    const uint8_t *g = store_col_at(s, COL_BLK_HASH, 0);
    if (!b->n.blocks || (s->have_genesis && memcmp(s->genesis, g, 32))) {
        util_errf(err, rc, "%s: not this store's genesis", path);
        goto out;
    }
    memcpy(s->genesis, g, 32);
    s->have_genesis = 1;
    rc = 0;
out:
    util_buf_free(&m);
    return rc;
}

static int fresh(store_bulk *b, util_err *err)
{
    store *s = b->s;
    sorter(b, &b->tx, tmp_names[2], TXW, 0, 0, SH_TX);
    sorter(b, &b->in, tmp_names[3], TXW, 0, 0, SH_IN);
    sorter(b, &b->ad, tmp_names[4], 3, 0, 0, SH_AD);
    int rc = tmpf_open(&b->prevouts, s->dir, tmp_names[0], err);
    if (!rc) rc = tmpf_open(&b->addrkeys, s->dir, tmp_names[1], err);
    return rc;
}

int store_bulk_begin(store *s, uint64_t memory, int crash_phase, const uint8_t chain[32],
                     store_bulk **out, util_err *err)
{
    *out = NULL;
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    if (s->live.blocks || s->committed.blocks)
        return util_errf(err, UTIL_EINVAL, "a bulk import needs an empty store");
    if (memory && memory < STORE_BULK_MIN_MEMORY)
        return util_errf(err, UTIL_EINVAL, "a bulk import's memory budget is at least %u MiB",
                         STORE_BULK_MIN_MEMORY >> 20);
    store_bulk *b = calloc(1, sizeof *b);
    if (!b) return util_errf(err, UTIL_ENOMEM, "out of memory");
    b->s = s;
    b->memory = memory ? memory : store_bulk_default_memory();
    b->crash_phase = crash_phase;
    memcpy(b->chain, chain, 32);
    int rc;
    if (s->bulk_keep) {
        for (int i = 0; i < 3; i++) { /* init only: the files are the checkpoint's */
            static const int w[3] = {TXW, TXW, 3}, share[3] = {SH_TX, SH_IN, SH_AD};
            char path[4300];
            snprintf(path, sizeof path, "%s/%s", s->dir, tmp_names[2 + i]);
            store_sort_init(ck_sorter(b, i), &b->sm, path, w[i], 0, 0, b->memory / 20 * share[i]);
        }
        util_err why = {0};
        if (!restore(b, &why)) {
            b->resumed = 1;
            store_set_chain_rows(s, &b->n);
            snprintf(b->note, sizeof b->note,
                     "bulk import: resumed from its checkpoint after the block loop (%llu "
                     "blocks)",
                     (unsigned long long)b->n.blocks);
            *out = b;
            return 0;
        }
        snprintf(b->note, sizeof b->note,
                 "bulk import: not resuming, starting again from the first block: %s", why.msg);
        /* back to a fresh state: the restored parts dropped, the columns cut */
        char note[sizeof b->note];
        memcpy(note, b->note, sizeof note);
        for (int c = 0; c < NCOLS; c++)
            s->cols[c].rows = s->undo_base[c];
        rc = store_bulk_forget(s, err); /* marker, temp files; the columns cut */
        store_bulk_free(b);
        if (rc) return rc;
        b = calloc(1, sizeof *b);
        if (!b) return util_errf(err, UTIL_ENOMEM, "out of memory");
        b->s = s;
        b->memory = memory ? memory : store_bulk_default_memory();
        b->crash_phase = crash_phase;
        memcpy(b->chain, chain, 32);
        memcpy(b->note, note, sizeof note);
    }
    if ((rc = fresh(b, err))) {
        store_bulk_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int store_bulk_resumed(const store_bulk *b)
{
    return b && b->resumed;
}

const char *store_bulk_note(const store_bulk *b)
{
    return b && b->note[0] ? b->note : NULL;
}

void store_bulk_free(store_bulk *b)
{
    if (!b) return;
    /* not committed (the commit drops the marker): a failure, the checkpoint is void */
    if (b->s->bulk_keep) store_bulk_forget(b->s, NULL);
    store_sort_free(&b->tx);
    store_sort_free(&b->in);
    store_sort_free(&b->ad);
    store_sort_free(&b->spent);
    store_sort_free(&b->byin);
    store_sort_free(&b->addrout);
    tmpf_close(&b->prevouts);
    tmpf_close(&b->addrkeys);
    free(b->subsidy);
    store_bulk_prep_free(&b->own);
    store_bulk_assist_end(b);
    free(b->sm.scratch);
    free(b->sm.spare);
    char path[4300];
    for (int i = 0; i < STORE_BULK_TMP_FILES; i++) { /* a checkpoint's, kept until now */
        snprintf(path, sizeof path, "%s/%s", b->s->dir, tmp_names[i]);
        unlink(path);
    }
    free(b);
}

static int reserve(store *s, int col, uint64_t more, util_err *err)
{
    return colstore_col_reserve(&s->cols[col], more, err);
}

static int block_error(store *s, const uint8_t hash[32], uint64_t height, util_err *err)
{
    (void)s;
    char hex[65];
    util_hash_hex(hex, hash);
    return util_err_prefix(err, "block %s (height %llu)", hex, (unsigned long long)height);
}

static int add_block(store_bulk *b, const btc_block *blk, const store_bulk_prep *p,
                     unsigned __int128 chainwork, int64_t max_subsidy, util_err *err);

static int grow(void **a, size_t *cap, size_t need, size_t size, util_err *err)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*a, c * size);
    if (!q) return util_errf(err, UTIL_ENOMEM, "out of memory for a block");
    *a = q, *cap = c;
    return 0;
}

int store_bulk_prepare(store_bulk_prep *p, const btc_block *blk, util_err *err)
{
    p->n_in = p->n_out = p->n_addr = p->n_nd = 0;
    uint32_t n_addr = 0, n_nd = 0;
    uint64_t nd_bytes = 0;
    for (uint32_t k = 0; k < blk->n_out; k++) {
        const btc_txout *o = &blk->outs[k];
        n_addr += o->addr.kind != 0;
        if (o->type == BTC_NULLDATA) n_nd++, nd_bytes += o->script_len;
    }
    int rc = grow((void **)&p->prevouts, &p->cap_in, blk->n_in, PREVOUT_BYTES, err);
    if (!rc) rc = grow((void **)&p->addrs, &p->cap_addr, n_addr, sizeof(btc_addr), err);
    if (!rc) rc = grow((void **)&p->key_hash, &p->cap_hash, n_addr, sizeof *p->key_hash, err);
    if (!rc) rc = grow((void **)&p->nd_len, &p->cap_nd, n_nd, sizeof *p->nd_len, err);
    if (!rc) rc = grow((void **)&p->nd, &p->cap_nd_bytes, (size_t)nd_bytes, 1, err);
    if (rc) return rc;
    uint8_t *po = p->prevouts;
    for (uint32_t k = 0; k < blk->n_in; k++, po += PREVOUT_BYTES) {
        const btc_txin *in = &blk->ins[k];
        memcpy(po, in->prev_txid, 32);
        po[32] = (uint8_t)in->prev_vout, po[33] = (uint8_t)(in->prev_vout >> 8);
        po[34] = (uint8_t)(in->prev_vout >> 16), po[35] = (uint8_t)(in->prev_vout >> 24);
    }
    btc_addr *ad = (btc_addr *)p->addrs;
    size_t at = 0;
    for (uint32_t k = 0; k < blk->n_out; k++) {
        const btc_txout *o = &blk->outs[k];
        if (o->addr.kind) {
            ad[p->n_addr] = o->addr;
            p->key_hash[p->n_addr++] = store_key_hash((const uint8_t *)&o->addr, sizeof o->addr);
        }
        if (o->type == BTC_NULLDATA) {
            size_t n = btc_nulldata_payload(o->script, o->script_len, p->nd + at);
            p->nd_len[p->n_nd++] = (uint32_t)n;
            at += n;
        }
    }
    p->n_in = blk->n_in, p->n_out = blk->n_out;
    p->nd_script_bytes = nd_bytes;
    return 0;
}

void store_bulk_prep_free(store_bulk_prep *p)
{
    free(p->prevouts);
    free(p->addrs);
    free(p->key_hash);
    free(p->nd);
    free(p->nd_len);
    memset(p, 0, sizeof *p);
}

/* ---------------- populating pages on the parser threads ---------------- */

/* The block loop's thread spent about half its time in the kernel, first touching pages: the
 * columns' (MADV_POPULATE_WRITE ahead of the rows) and the sort buffers' (a fault per page as
 * records are pushed). Both are posted here instead, in pieces, and populated by the parser
 * threads between blocks (store_bulk_assist), which on two cores have time to spare while
 * the loop's thread is the bottleneck. Advice only: a piece not yet populated when written
 * is faulted in by the writer, as before. */
static void pf_post(store_bulk *b, uint8_t *p, size_t n, uint64_t moves)
{
    pthread_mutex_lock(&b->pf_mu);
    while (n) {
        size_t k = n < PF_PIECE ? n : PF_PIECE;
        if (b->pf_tail - b->pf_head == PF_Q) break; /* full: the writer faults them in */
        b->pf_q[b->pf_tail++ % PF_Q] = (pf_item){p, k, moves};
        p += k, n -= k;
    }
    pthread_mutex_unlock(&b->pf_mu);
}

static void pf_column(void *ctx, uint8_t *p, size_t n)
{
    pf_post(ctx, p, n, UINT64_MAX);
}

/* After a block: each loop sorter's buffer posted up to PF_AHEAD bytes past its records,
 * within what is allocated. */
static void pf_sorters(store_bulk *b)
{
    store_sort *ss[3] = {&b->tx, &b->in, &b->ad};
    for (int i = 0; i < 3; i++) {
        size_t rec = (size_t)ss[i]->w * sizeof(uint64_t);
        size_t used = ss[i]->n * rec, alloc = ss[i]->bcap * rec, *end = &b->pf_sort_end[i];
        if (*end < used) *end = used;
        if (*end >= used + PF_AHEAD / 2 || *end >= alloc) continue;
        size_t to = used + PF_AHEAD < alloc ? used + PF_AHEAD : alloc;
        pf_post(b, (uint8_t *)ss[i]->buf + *end, to - *end, b->sm.moves);
        *end = to;
    }
}

void store_bulk_assist_begin(store_bulk *b)
{
    if (!b || b->resumed || b->pf_on) return;
    pthread_mutex_init(&b->pf_mu, NULL);
    pthread_mutex_init(&b->mv_mu, NULL);
    b->pf_head = b->pf_tail = 0;
    b->sm.move_lock = &b->mv_mu;
    for (int c = 0; c < NCOLS; c++)
        if (b->s->cols[c].base) b->s->cols[c].populate = pf_column, b->s->cols[c].populate_ctx = b;
    b->pf_on = 1;
}

void store_bulk_assist_end(store_bulk *b)
{
    if (!b || !b->pf_on) return;
    for (int c = 0; c < NCOLS; c++)
        b->s->cols[c].populate = NULL, b->s->cols[c].populate_ctx = NULL;
    b->sm.move_lock = NULL;
    pthread_mutex_destroy(&b->pf_mu);
    pthread_mutex_destroy(&b->mv_mu);
    b->pf_on = 0;
}

int store_bulk_assist(store_bulk *b)
{
    int done = 0;
    for (;;) {
        pthread_mutex_lock(&b->pf_mu);
        if (b->pf_head == b->pf_tail) {
            pthread_mutex_unlock(&b->pf_mu);
            return done;
        }
        pf_item it = b->pf_q[b->pf_head++ % PF_Q];
        pthread_mutex_unlock(&b->pf_mu);
#ifdef MADV_POPULATE_WRITE
        if (it.moves == UINT64_MAX) {
            madvise(it.p, it.n, MADV_POPULATE_WRITE);
        } else {
            pthread_mutex_lock(&b->mv_mu);
            if (it.moves == b->sm.moves) madvise(it.p, it.n, MADV_POPULATE_WRITE);
            pthread_mutex_unlock(&b->mv_mu);
        }
#endif
        done++;
    }
}

int store_bulk_add_block(store_bulk *b, const btc_block *blk, unsigned __int128 chainwork,
                         int64_t max_subsidy, util_err *err)
{
    return store_bulk_add_prepared(b, blk, NULL, chainwork, max_subsidy, err);
}

/* A block that fails half way (no space, no memory) is taken out whole: the blocks before it
 * stay a consistent prefix, which store_bulk_finish can still check. */
int store_bulk_add_prepared(store_bulk *b, const btc_block *blk, const store_bulk_prep *p,
                            unsigned __int128 chainwork, int64_t max_subsidy, util_err *err)
{
    store *s = b->s;
    store_totals saved = b->n;
    uint64_t tx_n = b->tx.total, in_n = b->in.total, ad_n = b->ad.total;
    uint64_t nd_rows = s->cols[COL_ND].rows, nd_bytes = s->cols[COL_ND_DATA].rows;
    int rc = 0;
    if (!p || p->n_in != blk->n_in || p->n_out != blk->n_out) {
        p = &b->own;
        rc = store_bulk_prepare(&b->own, blk, err);
    }
    if (!rc) rc = add_block(b, blk, p, chainwork, max_subsidy, err);
    if (rc) {
        b->n = saved;
        store_sort_drop(&b->tx, tx_n), store_sort_drop(&b->in, in_n), store_sort_drop(&b->ad, ad_n);
        s->cols[COL_ND].rows = nd_rows, s->cols[COL_ND_DATA].rows = nd_bytes;
        return rc;
    }
    /* Full buffers are spilled between blocks only, so that a failed block can be dropped.
     * A failed spill (no space) leaves this block in and its records in the buffer. */
    if ((rc = store_sort_check(&b->tx, err)) || (rc = store_sort_check(&b->in, err)) ||
        (rc = store_sort_check(&b->ad, err)))
        return rc;
    if (b->pf_on) pf_sorters(b);
    touched(b, blk->n_in + blk->n_out);
    return 0;
}

static int add_block(store_bulk *b, const btc_block *blk, const store_bulk_prep *p,
                     unsigned __int128 chainwork, int64_t max_subsidy, util_err *err)
{
    store *s = b->s;
    store_totals *t = &b->n;
    int rc = store_check_extends(s, blk, t->blocks, err);
    if (!rc) rc = store_check_id_room(t, blk, err);
    if (rc) return rc;
    uint64_t nd = p->n_nd, nd_bytes = p->nd_script_bytes;
    rc = rc ? rc : reserve(s, COL_BLK_HASH, 1, err);
    rc = rc ? rc : reserve(s, COL_BLK, 1, err);
    rc = rc ? rc : reserve(s, COL_TX_HASH, blk->n_tx, err);
    rc = rc ? rc : reserve(s, COL_TX, blk->n_tx, err);
    rc = rc ? rc : reserve(s, COL_IN_PREV, blk->n_in, err);
    for (int c = COL_OUT_VALUE; c <= COL_OUT_PREV_ADDR && !rc; c++)
        rc = reserve(s, c, blk->n_out, err);
    rc = rc ? rc : reserve(s, COL_ND, nd, err);
    rc = rc ? rc : reserve(s, COL_ND_DATA, nd_bytes, err);
    if (rc) return block_error(s, blk->hdr.hash, t->blocks, err);
    if (t->blocks == b->subsidy_cap) {
        size_t cap = b->subsidy_cap ? b->subsidy_cap * 2 : 1024;
        int64_t *q = realloc(b->subsidy, cap * sizeof *q);
        if (!q) return util_errf(err, UTIL_ENOMEM, "out of memory");
        b->subsidy = q, b->subsidy_cap = cap;
    }
    if ((rc = tmpf_write(&b->prevouts, p->prevouts, (size_t)blk->n_in * PREVOUT_BYTES, err)) ||
        (rc = tmpf_write(&b->addrkeys, p->addrs, (size_t)p->n_addr * sizeof(btc_addr), err)))
        return rc;
    const uint64_t *key_hash = p->key_hash;
    const uint8_t *payload = p->nd;
    const uint32_t *payload_len = p->nd_len;
    uint64_t height = t->blocks;
    b->subsidy[height] = max_subsidy;
    memcpy(store_col_at(s, COL_BLK_HASH, height), blk->hdr.hash, 32);
    store_block_row *br = store_col_at(s, COL_BLK, height);
    memset(br, 0, sizeof *br);
    br->first_tx = t->txs;
    br->first_addr = 0; /* known once addresses are numbered */
    for (int i = 0; i < 16; i++)
        br->chainwork[i] = (uint8_t)(chainwork >> (8 * i));
    br->time = blk->hdr.time, br->bits = blk->hdr.bits, br->size = blk->size;
    br->n_tx = blk->n_tx;
    for (uint32_t ti = 0; ti < blk->n_tx; ti++) {
        const btc_tx *tx = &blk->txs[ti];
        uint64_t txno = t->txs + ti;
        store_put_tx(s, tx, txno, t->inputs, t->outputs, height);
        uint64_t rec[TXW] = {util_le64(tx->txid),
                             txno,
                             t->outputs,
                             tx->n_out,
                             util_le64(tx->txid + 8),
                             util_le64(tx->txid + 16),
                             util_le64(tx->txid + 24)};
        if ((rc = store_sort_push(&b->tx, rec, err))) return rc;
        for (uint32_t k = 0; k < tx->n_in; k++) {
            const btc_txin *in = &blk->ins[tx->first_in + k];
            uint64_t inno = t->inputs + k;
            store_id_put(s, COL_IN_PREV, inno, tx->coinbase ? STORE_COINBASE : STORE_UNRESOLVED);
            if (tx->coinbase) continue;
            uint64_t r[TXW] = {util_le64(in->prev_txid),
                               inno,
                               txno,
                               in->prev_vout,
                               util_le64(in->prev_txid + 8),
                               util_le64(in->prev_txid + 16),
                               util_le64(in->prev_txid + 24)};
            if ((rc = store_sort_push(&b->in, r, err))) return rc;
        }
        t->inputs += tx->n_in;
        for (uint32_t k = 0; k < tx->n_out; k++) {
            const btc_txout *o = &blk->outs[tx->first_out + k];
            uint64_t outno = t->outputs + k;
            *(int64_t *)store_col_at(s, COL_OUT_VALUE, outno) = o->value;
            *(uint8_t *)store_col_at(s, COL_OUT_TYPE, outno) = o->type;
            store_id_put(s, COL_OUT_SPENT, outno, STORE_NONE);
            store_id_put(s, COL_OUT_PREV_ADDR, outno, STORE_NONE);
            *(uint32_t *)store_col_at(s, COL_OUT_ADDR, outno) = STORE_NO_ADDR;
            if (o->addr.kind) {
                uint64_t r[3] = {*key_hash++, outno, b->ad.total};
                if ((rc = store_sort_push(&b->ad, r, err))) return rc;
            }
            if (o->type == BTC_NULLDATA) {
                size_t n = *payload_len++;
                column *dc = &s->cols[COL_ND_DATA];
                memcpy(store_col_at(s, COL_ND_DATA, dc->rows), payload, n);
                payload += n;
                dc->rows += n;
                uint64_t *ndr = store_col_at(s, COL_ND, s->cols[COL_ND].rows++);
                ndr[0] = outno, ndr[1] = dc->rows;
            }
        }
        t->outputs += tx->n_out;
    }
    t->txs += blk->n_tx;
    t->blocks++;
    store_set_chain_rows(s, t);
    return 0;
}

/* ---------------- resolving inputs ---------------- */

/* R records: input id, a value (the spent output's value once marked; for a vout past the
 * tx's outputs, their count), vout, then the spent output id or a code. */
enum { R_IN, R_POS, R_VOUT, R_PREV, RW };

static const uint8_t *prevout_at(const store_bulk *b, uint64_t in)
{
    return b->prevouts.map + in * PREVOUT_BYTES;
}

/* Merges the txids (sorted by k, then id) with the outpoints (by k, then input id): each input
 * gets the newest tx with its whole txid that comes before its own tx (what the incremental
 * path's index answers; two txids sharing their first 8 bytes fall back to the older ones),
 * as R records sorted by spent output into b->spent. Both kinds of records carry the whole
 * txid, so the merge reads nothing else: no random read of the tx hashes or the outpoints. */
static int merge_check(store_bulk *b, const uint64_t codes[3], util_err *err)
{
    const uint64_t *t = NULL, *r;
    int ht = store_sort_next(&b->tx, &t, err), hr, rc = 0;
    uint64_t *grp = NULL, gk = 0;
    size_t gn = 0, gcap = 0;
    int gvalid = 0;
    while (ht >= 0 && (hr = store_sort_next(&b->in, &r, err)) > 0) {
        if (!gvalid || gk != r[0]) { /* the txs with the input's k, in id order */
            while (ht > 0 && t[0] < r[0])
                ht = store_sort_next(&b->tx, &t, err);
            gn = 0, gk = r[0], gvalid = 1;
            while (ht > 0 && t[0] == r[0]) {
                if (gn == gcap) {
                    size_t cap = gcap ? gcap * 2 : 8;
                    uint64_t *p = realloc(grp, cap * TXW * sizeof *p);
                    if (!p) {
                        rc = util_errf(err, UTIL_ENOMEM, "out of memory for txids");
                        goto out;
                    }
                    grp = p, gcap = cap;
                }
                memcpy(grp + gn++ * TXW, t, TXW * sizeof *t);
                ht = store_sort_next(&b->tx, &t, err);
            }
            if (ht < 0) break;
        }
        touched(b, 1);
        size_t q = 0;
        while (q < gn && grp[q * TXW + 1] < r[2])
            q++;
        uint64_t o[RW] = {r[1], 0, r[3], codes[0]};
        for (size_t p = q; p-- > 0;) {
            const uint64_t *g = grp + p * TXW;
            if (g[4] != r[4] || g[5] != r[5] || g[6] != r[6]) continue;
            if (o[R_VOUT] >= g[3])
                o[R_PREV] = codes[1], o[R_POS] = g[3];
            else
                o[R_PREV] = g[2] + o[R_VOUT];
            break;
        }
        if ((rc = store_sort_put(&b->spent, o, err))) goto out;
    }
    if (ht < 0)
        rc = ht;
    else if (hr < 0)
        rc = hr;
out:
    free(grp);
    return rc;
}

static int resolve(store_bulk *b, const uint64_t codes[3], util_err *err)
{
    store *s = b->s;
    int rc;
    if ((rc = store_sort_seal(&b->tx, err)) || (rc = store_sort_seal(&b->in, err))) return rc;
    lap(b, 0);
    sorter(b, &b->spent, "bulk-spent.tmp", RW, R_PREV, store_sort_bits(codes[2]), SH_SPENT);
    if ((rc = merge_check(b, codes, err))) return rc;
    b->spilled += spilled_of(&b->tx) + spilled_of(&b->in);
    store_sort_free(&b->tx);
    store_sort_free(&b->in);
    if ((rc = store_sort_seal(&b->spent, err))) return rc;
    lap(b, 1);
    crash_at(b, 3);
    /* by spent output: the first spender (lowest input id) marks it; later ones spend twice.
     * R_POS of a valid spend then holds the spent value. Back by input into b->byin. */
    sorter(b, &b->byin, "bulk-byinput.tmp", RW, R_IN, store_sort_bits(b->n.inputs), SH_BYIN);
    const uint64_t *rec;
    uint64_t last = UINT64_MAX;
    while ((rc = store_sort_next(&b->spent, &rec, err)) > 0) {
        uint64_t o[RW];
        memcpy(o, rec, sizeof o);
        touched(b, 1);
        if (o[R_PREV] < codes[0]) {
            if (o[R_PREV] == last) {
                o[R_PREV] = codes[2];
            } else {
                store_id_put(s, COL_OUT_SPENT, o[R_PREV], o[R_IN]);
                o[R_POS] = *(const uint64_t *)store_col_at(s, COL_OUT_VALUE, o[R_PREV]);
            }
        }
        last = o[R_PREV];
        if ((rc = store_sort_put(&b->byin, o, err))) return rc;
    }
    if (rc) return rc;
    b->spilled += spilled_of(&b->spent);
    store_sort_free(&b->spent);
    lap(b, 2);
    rc = store_sort_seal(&b->byin, err);
    lap(b, 3);
    return rc;
}

/* ---------------- validating, in chain order ---------------- */

/* The incremental path's checks and totals (store_append_block), in its order. */
static int validate(store_bulk *b, const uint64_t codes[3], uint64_t *bad, util_err *err)
{
    store *s = b->s;
    store_totals *t = &s->live;
    memset(t, 0, sizeof *t);
    int rc = reserve(s, COL_UNRES, 0, err);
    for (uint64_t h = 0; h < b->n.blocks && !rc; h++) {
        const store_block_row *br = store_col_at(s, COL_BLK, h);
        int64_t coinbase_value = 0, block_fees = 0;
        int fees_known = 1;
        for (uint32_t ti = 0; ti < br->n_tx && !rc; ti++) {
            uint64_t txno = br->first_tx + ti;
            store_tx_row *row = store_col_at(s, COL_TX, txno);
            int coinbase = (row->flags & STORE_TX_COINBASE) != 0;
            uint64_t in_end = txno + 1 < b->n.txs
                                  ? ((store_tx_row *)store_col_at(s, COL_TX, txno + 1))->first_in
                                  : b->n.inputs;
            uint64_t out_end = txno + 1 < b->n.txs
                                   ? ((store_tx_row *)store_col_at(s, COL_TX, txno + 1))->first_out
                                   : b->n.outputs;
            int64_t in_value = 0, out_value = 0, utxo_value = t->utxo_value;
            for (uint64_t in = row->first_in; in < in_end && !coinbase; in++) {
                const uint64_t *o;
                if ((rc = store_sort_next(&b->byin, &o, err)) <= 0) {
                    if (!rc)
                        rc = util_errf(err, UTIL_ECORRUPT,
                                       "bulk import: an input's record is missing");
                    break;
                }
                rc = 0;
                uint32_t k = (uint32_t)(in - row->first_in);
                char hex[65];
                if (o[R_PREV] == codes[0]) {
                    if ((rc = reserve(s, COL_UNRES, 1, err))) break;
                    store_unresolved_row *u = store_col_at(s, COL_UNRES, s->cols[COL_UNRES].rows++);
                    memset(u, 0, sizeof *u);
                    u->input = in;
                    memcpy(u->txid, prevout_at(b, in), 32);
                    u->vout = (uint32_t)o[R_VOUT];
                    row->flags |= STORE_TX_UNRESOLVED;
                    t->unresolved_inputs++;
                    store_id_put(s, COL_IN_PREV, in, STORE_UNRESOLVED);
                } else if (o[R_PREV] == codes[1]) {
                    util_hash_hex(hex, prevout_at(b, in));
                    rc = util_errf(err, UTIL_EFORMAT,
                                   "tx %u input %u spends %s:%u, which has only %llu outputs", ti,
                                   k, hex, (unsigned)o[R_VOUT], (unsigned long long)o[R_POS]);
                } else if (o[R_PREV] == codes[2]) {
                    util_hash_hex(hex, prevout_at(b, in));
                    rc = util_errf(err, UTIL_EFORMAT, "tx %u input %u spends %s:%u twice", ti, k,
                                   hex, (unsigned)o[R_VOUT]);
                } else {
                    store_id_put(s, COL_IN_PREV, in, o[R_PREV]);
                    int64_t v = (int64_t)o[R_POS];
                    if ((rc = store_add_sat(&in_value, v, "the sum of the spent outputs", ti, err)))
                        break;
                    t->utxo_count--;
                    utxo_value -= v;
                }
                if (rc) break;
            }
            if (rc) break;
            t->inputs = in_end;
            touched(b, in_end - row->first_in + out_end - row->first_out);
            for (uint64_t out = row->first_out; out < out_end; out++) {
                int64_t v = *(const int64_t *)store_col_at(s, COL_OUT_VALUE, out);
                if ((rc = store_add_sat(&out_value, v, "the sum of the outputs", ti, err)) ||
                    (rc = store_add_sat(&utxo_value, v, "the unspent value of the chain", ti, err)))
                    break;
                t->outputs_by_type[*(const uint8_t *)store_col_at(s, COL_OUT_TYPE, out)]++;
                t->utxo_count++;
            }
            if (rc) break;
            t->utxo_value = utxo_value;
            t->outputs = out_end;
            if ((rc = store_add_sat(&t->total_output_value, out_value,
                                    "the chain's total output value", ti, err)))
                break;
            row->fee = 0;
            if (coinbase) coinbase_value = out_value;
            if (row->flags & STORE_TX_UNRESOLVED) fees_known = 0;
            if (!coinbase && !(row->flags & STORE_TX_UNRESOLVED)) {
                row->fee = in_value - out_value;
                if (row->fee < 0) {
                    rc = util_errf(err, UTIL_EFORMAT, "tx %u spends %lld sat but pays out %lld", ti,
                                   (long long)in_value, (long long)out_value);
                    break;
                }
                if ((rc = store_add_sat(&t->total_fees, row->fee, "the chain's total fees", ti,
                                        err)) ||
                    (rc = store_add_sat(&block_fees, row->fee, "the block's fees", ti, err)))
                    break;
            }
            t->txs = txno + 1;
        }
        int64_t max_subsidy = b->subsidy[h];
        if (!rc && max_subsidy >= 0 && fees_known) {
            int64_t allowed;
            if (__builtin_add_overflow(max_subsidy, block_fees, &allowed)) allowed = INT64_MAX;
            if (coinbase_value > allowed)
                rc = util_errf(
                    err, UTIL_EFORMAT,
                    "tx 0: the coinbase pays %lld sat, more than the subsidy %lld plus the "
                    "block's fees %lld",
                    (long long)coinbase_value, (long long)max_subsidy, (long long)block_fees);
        }
        if (rc) {
            *bad = h;
            return block_error(s, store_col_at(s, COL_BLK_HASH, h), h, err);
        }
        t->blocks = h + 1;
    }
    return rc;
}

/* ---------------- addresses ---------------- */

static const btc_addr *key_at(const store_bulk *b, uint64_t j)
{
    return (const btc_addr *)(b->addrkeys.map + j * sizeof(btc_addr));
}

enum { KEY_AHEAD = 16 }; /* records prefetched ahead of random reads */

/* (key hash, output) in order: per address its outputs in order, each given the previous one
 * and the address's first, as (output, first output, previous output) into b->addrout. Keys
 * sharing a hash (nearly never) are told apart by a small table of the run's keys. Returns
 * the number of addresses in *groups. */
static int link_outputs(store_bulk *b, uint64_t *groups, util_err *err)
{
    int rc = store_sort_seal(&b->ad, err);
    if (rc) return rc;
    sorter(b, &b->addrout, "bulk-addrout.tmp", 3, 0, store_sort_bits(b->n.outputs), SH_ADDROUT);
    uint64_t *keys = NULL; /* per key of the hash run: key index, first output, last output */
    size_t nk = 0, kcap = 0;
    uint64_t hk = 0, g = 0;
    const uint64_t *r;
    while ((rc = store_sort_next(&b->ad, &r, err)) > 0) {
        if (!nk || r[0] != hk) hk = r[0], nk = 0;
        size_t i = 0;
        for (; i < nk; i++)
            if (memcmp(key_at(b, r[2]), key_at(b, keys[i * 3]), sizeof(btc_addr)) == 0) break;
        uint64_t rec[3] = {r[1], r[1], STORE_NONE};
        touched(b, 1);
        if (i < nk) {
            rec[1] = keys[i * 3 + 1], rec[2] = keys[i * 3 + 2];
            keys[i * 3 + 2] = r[1];
        } else {
            if (nk == kcap) {
                size_t cap = kcap ? kcap * 2 : 4;
                uint64_t *p = realloc(keys, cap * 3 * sizeof *p);
                if (!p) {
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory for addresses");
                    break;
                }
                keys = p, kcap = cap;
            }
            keys[nk * 3] = r[2], keys[nk * 3 + 1] = r[1], keys[nk * 3 + 2] = r[1];
            nk++, g++;
        }
        if ((rc = store_sort_put(&b->addrout, rec, err))) break;
    }
    free(keys);
    *groups = g;
    if (!rc) b->spilled += spilled_of(&b->ad);
    store_sort_free(&b->ad);
    return rc;
}

static int addresses(store_bulk *b, uint64_t *bad, util_err *err)
{
    store *s = b->s;
    uint64_t groups = 0;
    int rc = link_outputs(b, &groups, err);
    if (rc) return rc;
    if (groups >= STORE_NO_ADDR) {
        *bad = s->live.blocks ? s->live.blocks - 1 : 0;
        return util_errf(err, UTIL_ENOMEM, "more than 2^32-1 addresses");
    }
    crash_at(b, 5);
    /* In output order, an address's first output is the record without a previous one: ids
     * are handed out in that pass (order of first appearance), and the key of the i-th record
     * is the i-th in the temp file (written in output order), read in sequence. A later
     * output finds its id in the out_addr row of its address's first output, written before. */
    rc = store_sort_seal(&b->addrout, err);
    rc = rc ? rc : reserve(s, COL_ADDR_KEY, groups, err);
    rc = rc ? rc : reserve(s, COL_ADDR_LAST, groups, err);
    rc = rc ? rc : reserve(s, COL_ADDR_TAIL, groups, err);
    if (rc) return rc;
    uint64_t ring[KEY_AHEAD][3];
    size_t head = 0, have = 0;
    int more = 1;
    uint32_t next = 0;
    uint64_t i = 0;
    for (uint64_t h = 0; h <= b->n.blocks; h++) {
        uint64_t end = b->n.outputs;
        store_block_row *br = NULL;
        if (h < b->n.blocks) {
            br = store_col_at(s, COL_BLK, h);
            end = ((const store_tx_row *)store_col_at(s, COL_TX, br->first_tx))->first_out;
        }
        for (;;) {
            while (more && have < KEY_AHEAD) { /* read ahead, prefetching the first's id */
                const uint64_t *r;
                if ((more = store_sort_next(&b->addrout, &r, err)) < 0) return more;
                if (!more) break;
                uint64_t *q = ring[(head + have++) % KEY_AHEAD];
                q[0] = r[0], q[1] = r[1], q[2] = r[2];
                __builtin_prefetch(store_col_at(s, COL_OUT_ADDR, r[1]));
            }
            if (!have || ring[head][0] >= end) break;
            const uint64_t *r = ring[head];
            uint32_t id;
            if (r[2] == STORE_NONE) {
                id = next++;
                store_addr_put(s, id, key_at(b, i));
            } else {
                id = *(const uint32_t *)store_col_at(s, COL_OUT_ADDR, r[1]);
            }
            store_id_put(s, COL_ADDR_LAST, id, r[0]);
            *(uint32_t *)store_col_at(s, COL_OUT_ADDR, r[0]) = id;
            store_id_put(s, COL_OUT_PREV_ADDR, r[0], r[2]);
            head = (head + 1) % KEY_AHEAD, have--, i++;
            touched(b, 1);
        }
        if (br) br->first_addr = next;
    }
    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = groups;
    s->live.addresses = groups;
    b->spilled += spilled_of(&b->addrout);
    store_sort_free(&b->addrout);
    return 0;
}

int store_bulk_finish(store_bulk *b, uint64_t *bad_block, util_err *err)
{
    store *s = b->s;
    *bad_block = UINT64_MAX;
    b->lap = util_now();
    int rc = tmpf_map(&b->prevouts, err);
    if (!rc) rc = tmpf_map(&b->addrkeys, err);
    if (rc) return rc;
    /* codes in place of an output id: unresolved, past the tx's outputs, spent twice */
    uint64_t codes[3] = {b->n.outputs, b->n.outputs + 1, b->n.outputs + 2};
    if ((rc = resolve(b, codes, err))) return rc;
    crash_at(b, 4);
    if ((rc = validate(b, codes, bad_block, err))) return rc;
    b->spilled += spilled_of(&b->byin);
    store_sort_free(&b->byin);
    lap(b, 4);
    if ((rc = addresses(b, bad_block, err))) return rc;
    lap(b, 5);
    crash_at(b, 6);
    /* as the incremental path leaves them at its close: built in id order at the final size */
    if ((rc = store_hindex_build_both(s, s->live.txs, s->live.addresses, err))) return rc;
    if (store_blkmap_rebuild(s, s->live.blocks))
        return util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
    lap(b, 6);
    crash_at(b, 7);
    return 0;
}
