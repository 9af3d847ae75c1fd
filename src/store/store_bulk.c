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
 * The finish runs on two threads (see "the finish's two threads"): resolve and validate on the
 * caller's, beside the txid index, addresses and the address index on a second one.
 * Every sort is store_spill.c's external stable sort: within the memory budget (shares below)
 * it is one run in memory; past it, sorted runs spilled to bulk-*.tmp and merged in a
 * stream. So the bytes are the same whatever the budget. The mapped columns and temp files
 * are dropped from the mapping past the budget too (drop_mapped).
 * Nothing is committed here: the caller commits once. Between blocks now and then, and after
 * the last block, the caller makes a checkpoint (store_bulk_checkpoint): the marker
 * STORE_BULK_MARKER, synced, with the run tables, the totals and sums of the columns, temp
 * files and runs, which are not synced (docs/formats.md, "bulk-resume"); the sorts' buffers
 * are not written either: a resume makes their records again from the columns and temp files.
 * Blocks after a checkpoint only append, and after the last one the temp files' checkpointed
 * bytes are only read and the later phases write into the columns only values a resume sets
 * back (reset_loop_values), so a kill at any later point is resumed from the checkpoint: the
 * next open keeps the columns the marker owns, and the next begin for the same chain restores
 * the sorters instead of adding the blocks again (those it holds). A kill before the first
 * checkpoint, or a marker that does not match, leaves the empty committed store
 * (rows past the MANIFEST cut, temp files removed): the import starts over. */
#include "store_int.h"
#include "store_spill.h"
#include "../crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* A temp file written in sequence through a buffer and read back through a mapping. The
 * running XXH3 of the bytes written stands in for syncing it at a checkpoint (a resume reads
 * it back and compares). */
typedef struct tmpf {
    char path[4200];
    int open;
    int fd;
    uint8_t *buf;
    size_t blen; /* bytes in buf, not yet written */
    const uint8_t *map;
    size_t bytes; /* all of them, buffered or not */
    XXH3_state_t *h;
} tmpf;

enum { TMPF_BUF = 1 << 20 };

/* A temp file opened (created empty, or the checkpoint's kept), its hash state reset. */
static int tmpf_open(tmpf *t, const char *dir, const char *name, int create, util_err *err)
{
    snprintf(t->path, sizeof t->path, "%s/%s", dir, name);
    t->fd = open(t->path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0644);
    if (t->fd < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot %s: %s", t->path, create ? "create" : "open",
                         strerror(errno));
    t->open = 1;
    t->buf = malloc(TMPF_BUF);
    t->h = XXH3_createState();
    if (!t->buf || !t->h) return util_errf(err, UTIL_ENOMEM, "out of memory");
    XXH3_64bits_reset(t->h);
    return 0;
}

static int tmpf_flush(tmpf *t, util_err *err)
{
    if (!t->blen) return 0;
    XXH3_64bits_update(t->h, t->buf, t->blen);
    if (colstore_pwrite_all(t->fd, t->buf, t->blen, t->bytes - t->blen) != 0)
        return util_errf(err, UTIL_EIO, "%s: write failed: %s", t->path, strerror(errno));
    t->blen = 0;
    return 0;
}

static int tmpf_write(tmpf *t, const void *p, size_t n, util_err *err)
{
    if (t->blen + n > TMPF_BUF) {
        int rc = tmpf_flush(t, err);
        if (rc) return rc;
    }
    if (n >= TMPF_BUF) { /* a block's worth larger than the buffer: written as it is */
        XXH3_64bits_update(t->h, p, n);
        if (colstore_pwrite_all(t->fd, p, n, t->bytes) != 0)
            return util_errf(err, UTIL_EIO, "%s: write failed: %s", t->path, strerror(errno));
        t->bytes += n;
        return 0;
    }
    memcpy(t->buf + t->blen, p, n);
    t->blen += n;
    t->bytes += n;
    return 0;
}

static int tmpf_map(tmpf *t, util_err *err)
{
    int rc = tmpf_flush(t, err);
    if (rc || !t->bytes) return rc;
    void *m = mmap(NULL, t->bytes, PROT_READ, MAP_SHARED, t->fd, 0);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map: %s", t->path, strerror(errno));
    t->map = m;
    return 0;
}

static void tmpf_close(tmpf *t)
{
    if (t->map) munmap((void *)t->map, t->bytes);
    if (t->open) {
        close(t->fd);
        unlink(t->path);
    }
    free(t->buf);
    XXH3_freeState(t->h);
    t->map = NULL, t->open = 0, t->buf = NULL, t->h = NULL;
}

/* Bytes [off, off + len) of fd into the hash h, read in chunks of buf (TMPF_BUF bytes).
 * 0, or -1 if they cannot be read (a short file). */
static int hash_file(int fd, uint64_t off, uint64_t len, XXH3_state_t *h, uint8_t *buf)
{
    while (len) {
        size_t k = len < TMPF_BUF ? (size_t)len : TMPF_BUF;
        if (colstore_pread_all(fd, buf, k, off) != 0) return -1;
        XXH3_64bits_update(h, buf, k);
        off += k, len -= k;
    }
    return 0;
}

#define PREVOUT_BYTES 36 /* an input's outpoint in the temp file: txid, vout (LE) */

/* The budget's shares, in twentieths, of the sorters: each holds at most its share (its
 * buffer, or its merge's read buffers), and each thread's sorters share one sort scratch (the
 * largest buffer sorted), which a sealed sorter gives back as the spare where the next
 * sorter's buffer or the next sort starts (store_spill.h). The finish runs on two threads:
 * resolve and validate (the chain side: tx, in, spent, byin) beside addresses (the address
 * side: ad, addrout). Alive at once, at most:
 *   block loop: tx + in + ad + scratch (<= in)                                        14
 *   chain side: sealing (in, then tx): tx + in + scratch (in)                          12
 *               merge: tx + in + spent + spent's scratch (when it spills)              13
 *               marking spent outputs: spent + byin + byin's scratch                    9
 *   address side: ad + addrout + scratch                                                6
 * so 13 + 6 = 19 for the finish. */
enum { SH_TX = 2, SH_IN = 5, SH_AD = 2, SH_SPENT = 3, SH_BYIN = 3, SH_ADDROUT = 2 };
enum { TXW = 7 }; /* words of a tx record and of an input record */

/* The file mappings a pass may use: the columns, then the two temp files. */
enum { M_PREVOUTS = NCOLS, M_ADDRKEYS, NMAPS };
#define MB(m) ((uint32_t)1 << (m))
/* The row numbers a pass walks in order (its cursors): a mapping streamed by a pass is done
 * with below its kind's cursor. K_ROWS: appended, its own row count. */
enum { K_ROWS, K_BLOCK, K_TX, K_IN, K_OUT, K_ADDR, K_AKEY, NKINDS };

/* Which mapped pages a thread may drop: all (the block loop), or those of one side of the
 * finish (each its own: the other may be growing its columns' mappings; see fin). */
enum { SIDE_ALL, SIDE_CHAIN, SIDE_ADDR };

/* One thread's care of the mapped pages: the pass it is in and its counts. */
typedef struct pager {
    int side;
    /* the current pass's use of the mappings (none set: the block loop, appending to all) */
    int pass_set;
    uint32_t streamed, random; /* MB() masks: read or written in order / at random */
    uint32_t clean;            /* not in use, and taken out of the mapping whole */
    uint64_t at[NKINDS];       /* the cursors */
    size_t dropped[NMAPS];     /* bytes from the start already out of the mapping */
    uint64_t work;             /* records since the last look at the mapped pages */
    uint64_t drops;            /* times the mappings in use were dropped whole */
    uint64_t rss_anon_peak;    /* RssAnon seen at a phase end or a look at the mapped pages */
} pager;

/* Column pages populated for the block loop by the parser threads (store_bulk_assist), in
 * pieces of PF_PIECE bytes. */
enum { PF_Q = 512, PF_PIECE = 4 << 20 };
typedef struct pf_item {
    uint8_t *p;
    size_t n;
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
    uint64_t keys_sorted; /* address keys sorted with their records, not mapped (link_outputs) */
    int64_t *subsidy;
    size_t subsidy_cap;
    tmpf prevouts;       /* PREVOUT_BYTES per input, every input */
    tmpf addrkeys;       /* btc_addr per addressed output */
    store_bulk_prep own; /* a block's prep when the caller gives none */
    /* between store_bulk_assist_begin and _end: pages for other threads to populate */
    int pf_on;
    pthread_mutex_t pf_mu; /* the queue */
    pf_item pf_q[PF_Q];
    size_t pf_head, pf_tail;
    store_sort_total tot; /* the heap count over both threads of the finish */
    double phase_s[STORE_BULK_PHASES];
    pager pg;                  /* the block loop's; the finish's two add their counts to it */
    uint8_t chain[32];         /* the chain being imported (the caller's digest) */
    int resumed;               /* restored from a checkpoint: 1 after the block loop (no blocks to
                                  add), 2 in it (add the blocks after n.blocks) */
    char note[1024];           /* why a checkpoint was not used, or that it was */
    XXH3_state_t *colh[NCOLS]; /* each column's sum over its first col_hashed rows */
    uint64_t col_hashed[NCOLS];
    uint8_t *rbuf; /* TMPF_BUF bytes to read files through */
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

/* The process's resident memory, bytes, from /proc/self/statm (shorter to make and to read
 * than /proc/self/status: a few microseconds): anonymous (heap, stacks) and mapped files
 * (its "shared" count: file and shmem pages); 0 if /proc cannot say. */
static void rss_now(uint64_t *anon, uint64_t *file)
{
    *anon = *file = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unsigned long long size, res, shared;
    if (n <= 0) return;
    buf[n] = 0;
    if (sscanf(buf, "%llu %llu %llu", &size, &res, &shared) != 3) return;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    *anon = res > shared ? (uint64_t)(res - shared) * page : 0;
    *file = (uint64_t)shared * page;
}

/* The kind of row number each mapping is indexed by. */
static const uint8_t map_kind[NMAPS] = {
    [COL_BLK_HASH] = K_BLOCK, [COL_BLK] = K_BLOCK,         [COL_TX_HASH] = K_TX,
    [COL_TX] = K_TX,          [COL_IN_PREV] = K_IN,        [COL_UNRES] = K_ROWS,
    [COL_OUT_VALUE] = K_OUT,  [COL_OUT_ADDR] = K_OUT,      [COL_OUT_TYPE] = K_OUT,
    [COL_OUT_SPENT] = K_OUT,  [COL_OUT_PREV_ADDR] = K_OUT, [COL_ADDR_KEY] = K_ADDR,
    [COL_ADDR_LAST] = K_ADDR, [COL_ND] = K_ROWS,           [COL_ND_DATA] = K_ROWS,
    [COL_ADDR_TAIL] = K_ROWS, [M_PREVOUTS] = K_IN,         [M_ADDRKEYS] = K_AKEY};

/* Mapping m: its start, bytes mapped and bytes per row. */
static const uint8_t *map_of(const store_bulk *b, int m, size_t *len, size_t *width)
{
    if (m < NCOLS) {
        const column *c = &b->s->cols[m];
        *len = c->base ? c->mapped : 0, *width = c->width;
        return c->base;
    }
    const tmpf *t = m == M_PREVOUTS ? &b->prevouts : &b->addrkeys;
    *len = t->map ? t->bytes : 0;
    *width = m == M_PREVOUTS ? PREVOUT_BYTES : sizeof(btc_addr);
    return t->map;
}

/* Bytes [p->dropped[m], to) of mapping m out of it, as whole pages (to rounded down). */
static void drop_range(const store_bulk *b, pager *p, int m, size_t to)
{
    size_t len, width, page = (size_t)sysconf(_SC_PAGESIZE);
    const uint8_t *base = map_of(b, m, &len, &width);
    if (!base || !len) return;
    if (to > len) to = len;
    uintptr_t a = (uintptr_t)base, end = (a + to) & ~(uintptr_t)(page - 1);
    uintptr_t start = (a + p->dropped[m] + page - 1) & ~(uintptr_t)(page - 1);
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
    if (end > a && end - a > p->dropped[m]) p->dropped[m] = end - a;
}

/* A pass starts: the mappings it streams through (in the order of their kind's cursor, set
 * by cursor()) and those it uses at random; the others are not in use. */
static void pass(pager *p, uint32_t streamed, uint32_t random)
{
    p->pass_set = 1;
    p->streamed = streamed, p->random = random;
    p->clean &= ~(streamed | random);
    memset(p->at, 0, sizeof p->at);
    memset(p->dropped, 0, sizeof p->dropped);
}

static void cursor(pager *p, int kind, uint64_t row)
{
    p->at[kind] = row;
}

static int addr_side_col(int c)
{
    return c == COL_OUT_ADDR || c == COL_OUT_PREV_ADDR || c == COL_ADDR_KEY || c == COL_ADDR_LAST ||
           c == COL_ADDR_TAIL;
}

/* Mapping m is one side's to drop: those its pass uses (in_use), and of the others the
 * address side's columns and key file are its own, the rest (read by both sides) the chain
 * side's. A mapping the pass uses is its own whatever its side: the other side may be done
 * (the chain side ends long before the address side, which reads the tx column). */
static int side_drops(int side, uint32_t in_use, int m)
{
    if (side == SIDE_ALL || (in_use & MB(m))) return 1;
    int addr = m == M_ADDRKEYS || (m < NCOLS && addr_side_col(m));
    return (side == SIDE_ADDR) == addr;
}

/* The columns and the two temp files are shared file mappings: every page the passes touch
 * stays in the process's resident set until unmapped, so a large chain's store would be
 * resident whole, whatever the budget. Their pages are taken out of the mapping
 * (MADV_DONTNEED: a shared mapping's pages stay in the page cache, written ones dirty, and
 * come back on the next touch; the kernel writes back and evicts them as it sizes its cache),
 * cheapest first. Past half the budget: what the pass is done with (the streamed mappings
 * behind its cursors, each page once) and the mappings it does not use (whole, once), which
 * no touch of this pass brings back. Past the whole budget still: the mappings it uses, whole
 * (a "drop": the pages it reads at random fault back in as the pass goes on, and so do the
 * pages that colstore_col_reserve populated ahead of the rows appended). Checked at a pace
 * set by touched (reading /proc costs ~20 us), so that a small budget is looked after as
 * closely as a large one. Each thread drops the mappings its pass uses and, of the others,
 * those of its side (side_drops). */
static void drop_mapped(const store_bulk *b, pager *p)
{
    uint64_t anon, file;
    rss_now(&anon, &file);
    if (anon > p->rss_anon_peak) p->rss_anon_peak = anon;
    if (file <= b->memory / 2) return;
    const store *s = b->s;
    uint32_t streamed = p->streamed, random = p->random;
    if (!p->pass_set) { /* the block loop: every column appended in order */
        streamed = MB(NCOLS) - 1, random = 0;
        p->at[K_BLOCK] = b->n.blocks, p->at[K_TX] = b->n.txs;
        p->at[K_IN] = b->n.inputs, p->at[K_OUT] = b->n.outputs;
    }
    for (int m = 0; m < NMAPS; m++) {
        size_t len, width;
        if (!side_drops(p->side, streamed | random, m) || !map_of(b, m, &len, &width) || !len)
            continue;
        if (streamed & MB(m)) {
            uint64_t row =
                map_kind[m] == K_ROWS && m < NCOLS ? s->cols[m].rows : p->at[map_kind[m]];
            drop_range(b, p, m, row > len / width ? len : (size_t)row * width);
        } else if (!(random & MB(m)) && !(p->clean & MB(m))) {
            p->dropped[m] = 0;
            drop_range(b, p, m, len);
            p->clean |= MB(m);
        }
    }
    rss_now(&anon, &file);
    if (file <= b->memory) return;
    for (int m = 0; m < NMAPS; m++)
        if ((streamed | random) & MB(m)) {
            size_t len, width;
            const uint8_t *base = map_of(b, m, &len, &width);
            if (base && len) madvise((void *)base, len, MADV_DONTNEED);
        }
    p->drops++;
}

/* Counts n records of work, looking at the mapped pages every budget / 1024 of them. */
static void touched(const store_bulk *b, pager *p, uint64_t n)
{
    p->work += n;
    if (p->work >= (b->memory >> 10)) {
        p->work = 0;
        drop_mapped(b, p);
    }
}

static uint64_t spilled_of(const store_sort *ss)
{
    return ss->file_recs * (uint64_t)ss->w * sizeof(uint64_t);
}

void store_bulk_memory(const store_bulk *b, store_bulk_mem *out)
{
    memset(out, 0, sizeof *out);
    if (!b) return;
    out->budget = b->memory;
    uint64_t both = atomic_load(&((store_bulk *)b)->tot.peak);
    out->sort_heap_peak = b->sm.peak > both ? b->sm.peak : both;
    out->spilled_bytes = b->spilled;
    out->rss_anon_peak = b->pg.rss_anon_peak;
    out->map_drops = b->pg.drops;
    out->keys_sorted = b->keys_sorted;
}

/* The two tmpf files first, then the sorters' in the order of sorter_names. */
const char *const store_bulk_tmp_names[STORE_BULK_TMP_FILES] = {
    "bulk-prevouts.tmp", "bulk-addrkeys.tmp", "bulk-txids.tmp",
    "bulk-inputs.tmp",   "bulk-addrs.tmp",    "bulk-spent.tmp",
    "bulk-byinput.tmp",  "bulk-addrout.tmp",  "bulk-addrkeyed.tmp"};
static const char *const *const tmp_names = store_bulk_tmp_names;

/* A sorter on a new temp file (one left by a killed import removed), counted in sm. */
static void sorter_in(store_bulk *b, store_sort_mem *sm, store_sort *ss, const char *name, int w,
                      int kw, int bits, int share)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", b->s->dir, name);
    unlink(path);
    store_sort_init(ss, sm, path, w, kw, bits, b->memory / 20 * share);
}

static void sorter(store_bulk *b, store_sort *ss, const char *name, int w, int kw, int bits,
                   int share)
{
    sorter_in(b, &b->sm, ss, name, w, kw, bits, share);
}

uint64_t store_bulk_default_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t m = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 4 : (1ULL << 30);
    return m < STORE_BULK_MIN_MEMORY ? STORE_BULK_MIN_MEMORY : m;
}

/* Kill points of the crash-recovery tests: 2 after the checkpoint; then each thread of the
 * finish its own, raised from it (the whole process is killed, wherever the other one is): 3
 * after the merge and 4 after resolve (chain side), 5 after the address links and 6 after
 * addresses, the txid index built (address side); 7 once both are done. */
static void crash_at(const store_bulk *b, int phase)
{
    if (b->crash_phase == phase) raise(SIGKILL); /* crash-recovery tests only */
}

/* ---------------- the checkpoint (docs/formats.md, "bulk-resume") ---------------- */

static const char MARKER_MAGIC[8] = {'C', 'T', 'B', 'U', 'L', 'K', '0', '2'};

/* out_addr of an output with an address until the addresses are numbered (never read as an
 * id; a resume tells the outputs with an address by it) */
#define ADDR_PENDING 0u

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

static const char *const ck_what[3] = {"tx", "input", "address"};

/* Where the records in sorter i's buffer (pushed since its last spill, in push order) begin:
 * (tx) for txids, (input, its tx) for inputs, (output, its key's index) for addresses. A
 * resume makes them again from there. */
static void tail_start(store_bulk *b, int i, uint64_t at[2])
{
    const store_sort *ss = ck_sorter(b, i);
    const uint64_t *r = ss->n ? ss->buf : NULL;
    if (i == 0)
        at[0] = r ? r[1] : b->n.txs, at[1] = 0;
    else if (i == 1)
        at[0] = r ? r[1] : b->n.inputs, at[1] = r ? r[2] : b->n.txs;
    else
        at[0] = r ? r[1] : b->n.outputs, at[1] = r ? r[2] : ss->total;
}

/* Each column's XXH3-64 over its rows, carried on from the rows hashed by the last call (the
 * rows before them are not written again while blocks are added). */
static int hash_columns(store_bulk *b, uint64_t sums[NCOLS], util_err *err)
{
    store *s = b->s;
    if (!b->rbuf && !(b->rbuf = malloc(TMPF_BUF)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (int c = 0; c < NCOLS; c++) {
        column *col = &s->cols[c];
        sums[c] = 0;
        if (col->fd < 0) continue;
        if (!b->colh[c]) {
            if (!(b->colh[c] = XXH3_createState()))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            XXH3_64bits_reset(b->colh[c]);
            b->col_hashed[c] = 0;
        }
        uint64_t from = b->col_hashed[c] * col->width, to = col->rows * col->width;
        if (to > from && hash_file(col->fd, from, to - from, b->colh[c], b->rbuf) != 0)
            return util_errf(err, UTIL_ECORRUPT, "%s: cannot read %llu rows", col->path,
                             (unsigned long long)col->rows);
        b->col_hashed[c] = col->rows;
        sums[c] = XXH3_64bits_digest(b->colh[c]);
    }
    return 0;
}

/* No file but the marker is synced: the columns, the temp files and the runs are in the page
 * cache, and the marker holds their sums (a power loss that lost some of their pages is a
 * mismatch at the resume, which then starts again). The sorters' buffers are not written:
 * they hold the last records pushed, which a resume makes again from the columns and the
 * temp files. */
int store_bulk_checkpoint(store_bulk *b, int final, util_err *err)
{
    store *s = b->s;
    uint64_t colsum[NCOLS];
    int rc = tmpf_flush(&b->prevouts, err);
    if (!rc) rc = tmpf_flush(&b->addrkeys, err);
    if (!rc) rc = hash_columns(b, colsum, err);
    if (rc) return rc;
    store_sort_state st[3];
    uint64_t at[3][2];
    for (int i = 0; i < 3; i++) {
        store_sort_checkpoint(ck_sorter(b, i), &st[i]);
        tail_start(b, i, at[i]);
    }
    util_buf m = {0};
    rc = util_buf_append(&m, MARKER_MAGIC, sizeof MARKER_MAGIC);
    rc = rc ? rc : util_buf_append(&m, b->chain, 32);
    uint64_t head[] = {b->memory,
                       (uint64_t) final,
                       b->n.blocks,
                       b->n.txs,
                       b->n.inputs,
                       b->n.outputs,
                       b->prevouts.bytes,
                       b->addrkeys.bytes,
                       XXH3_64bits_digest(b->prevouts.h),
                       XXH3_64bits_digest(b->addrkeys.h),
                       b->spilled,
                       NCOLS};
    for (size_t i = 0; i < sizeof head / sizeof *head && !rc; i++)
        rc = put64(&m, head[i]);
    for (int c = 0; c < NCOLS && !rc; c++)
        if (!(rc = put64(&m, s->cols[c].rows))) rc = put64(&m, colsum[c]);
    for (int i = 0; i < 3 && !rc; i++) {
        const store_sort_run *runs = store_sort_runs(ck_sorter(b, i));
        uint64_t w[] = {st[i].total, st[i].tail, st[i].file_recs, st[i].nruns, at[i][0], at[i][1]};
        for (int k = 0; k < 6 && !rc; k++)
            rc = put64(&m, w[k]);
        for (uint64_t k = 0; k < st[i].nruns && !rc; k++)
            if (!(rc = put64(&m, runs[k].off)) && !(rc = put64(&m, runs[k].n)))
                rc = put64(&m, runs[k].sum);
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
    if (final) crash_at(b, 2);
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

static uint64_t tx_end(const store_bulk *b, uint64_t txno, int in)
{
    if (txno + 1 >= b->n.txs) return in ? b->n.inputs : b->n.outputs;
    return in ? store_txrow_in(b->s, txno + 1) : store_txrow_out(b->s, txno + 1);
}

/* The columns the finish writes in place (spent marks, resolved inputs, fees, address ids
 * and links) back to what the block loop left in them, as the checkpoint's sums saw them: a
 * kill in the finish left some of them computed. Only rows that differ are written. Rows
 * damaged past their bounds are left to the sums to refuse. */
static void reset_loop_values(store_bulk *b)
{
    store *s = b->s;
    for (uint64_t h = 0; h < b->n.blocks; h++) {
        store_block_row *br = store_col_at(s, COL_BLK, h);
        if (br->first_addr) br->first_addr = 0;
    }
    for (uint64_t txno = 0; txno < b->n.txs; txno++) {
        store_tx_row row;
        store_txrow_get(s, txno, &row);
        if (row.fee || (row.flags & STORE_TX_UNRESOLVED)) {
            row.fee = 0;
            row.flags &= ~(uint32_t)STORE_TX_UNRESOLVED;
            store_txrow_put(s, txno, &row);
        }
        uint64_t v = row.flags & STORE_TX_COINBASE ? STORE_COINBASE : STORE_UNRESOLVED;
        uint64_t end = tx_end(b, txno, 1);
        if (end > b->n.inputs) end = b->n.inputs;
        for (uint64_t in = row.first_in; in < end; in++)
            if (store_id_get(s, COL_IN_PREV, in) != v) store_id_put(s, COL_IN_PREV, in, v);
    }
    for (uint64_t out = 0; out < b->n.outputs; out++) {
        if (store_id_get(s, COL_OUT_SPENT, out) != STORE_NONE)
            store_id_put(s, COL_OUT_SPENT, out, STORE_NONE);
        if (store_id_get(s, COL_OUT_PREV_ADDR, out) != STORE_NONE)
            store_id_put(s, COL_OUT_PREV_ADDR, out, STORE_NONE);
        uint32_t *a = store_col_at(s, COL_OUT_ADDR, out);
        if (*a != STORE_NO_ADDR && *a != ADDR_PENDING) *a = ADDR_PENDING;
    }
}

/* Reads a temp file in sequence from a record on, through buf (TMPF_BUF bytes). */
typedef struct seq {
    const tmpf *t;
    uint8_t *buf;
    size_t len, at;
    uint64_t off; /* of the file, after what is in buf */
} seq;

static const uint8_t *seq_next(seq *q, size_t n)
{
    if (q->len - q->at < n) {
        memmove(q->buf, q->buf + q->at, q->len - q->at);
        q->len -= q->at, q->at = 0;
        uint64_t k = TMPF_BUF - q->len;
        if (k > q->t->bytes - q->off) k = q->t->bytes - q->off;
        if (k < n - q->len || colstore_pread_all(q->t->fd, q->buf + q->len, (size_t)k, q->off))
            return NULL;
        q->len += (size_t)k, q->off += k;
    }
    const uint8_t *p = q->buf + q->at;
    q->at += n;
    return p;
}

/* The records the sorters held in their buffers at the checkpoint, pushed again in the order
 * add_block pushed them, from where the marker says they begin (at[i], tail_start). */
static int regenerate(store_bulk *b, const uint64_t at[3][2], const uint64_t tail[3],
                      uint64_t *made, util_err *err)
{
    store *s = b->s;
    int rc = 0;
    uint64_t n[3] = {0, 0, 0};
    for (uint64_t txno = at[0][0]; txno < b->n.txs && !rc; txno++, n[0]++) {
        const uint8_t *id = store_col_at(s, COL_TX_HASH, txno);
        uint64_t first = store_txrow_out(s, txno);
        uint64_t rec[TXW] = {util_le64(id),
                             txno,
                             first,
                             tx_end(b, txno, 0) - first,
                             util_le64(id + 8),
                             util_le64(id + 16),
                             util_le64(id + 24)};
        rc = store_sort_push(&b->tx, rec, err);
    }
    seq q = {&b->prevouts, b->rbuf, 0, 0, at[1][0] * PREVOUT_BYTES};
    for (uint64_t txno = at[1][1], in = at[1][0]; txno < b->n.txs && !rc; txno++) {
        int coinbase = (store_txrow_flags(store_txrow_at(s, txno), s->cols[COL_TX].width) &
                        STORE_TX_COINBASE) != 0;
        for (uint64_t end = tx_end(b, txno, 1); in < end && !rc; in++) {
            const uint8_t *po = seq_next(&q, PREVOUT_BYTES);
            if (!po) {
                n[1] = UINT64_MAX; /* counts as a mismatch below */
                txno = b->n.txs;
                break;
            }
            if (coinbase) continue;
            uint64_t r[TXW] = {util_le64(po),
                               in,
                               txno,
                               util_le32(po + 32),
                               util_le64(po + 8),
                               util_le64(po + 16),
                               util_le64(po + 24)};
            rc = store_sort_push(&b->in, r, err);
            n[1]++;
        }
    }
    q = (seq){&b->addrkeys, b->rbuf, 0, 0, at[2][1] * sizeof(btc_addr)};
    for (uint64_t out = at[2][0], j = at[2][1]; out < b->n.outputs && !rc; out++) {
        if (*(const uint32_t *)store_col_at(s, COL_OUT_ADDR, out) == STORE_NO_ADDR) continue;
        const uint8_t *key = seq_next(&q, sizeof(btc_addr));
        if (!key) {
            n[2] = UINT64_MAX;
            break;
        }
        uint64_t r[3] = {store_key_hash(key, sizeof(btc_addr)), out, j++};
        rc = store_sort_push(&b->ad, r, err);
        n[2]++;
    }
    if (rc) return rc;
    for (int i = 0; i < 3; i++)
        if (n[i] != tail[i])
            return util_errf(err, UTIL_ECORRUPT,
                             "the checkpoint's %llu %s records past the runs cannot be made "
                             "again from the columns",
                             (unsigned long long)tail[i], ck_what[i]);
    *made = n[0] + n[1] + n[2];
    return 0;
}

/* The checkpoint's state restored into b (fresh, with nothing added): 0, or a reason (in
 * err) not to trust it. Everything the marker counts is read back and compared with its sums
 * (nothing was synced but the marker). */
static int restore(store_bulk *b, uint64_t *made, int *final_out, util_err *err)
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
    int final = get64(&r) != 0;
    b->n.blocks = get64(&r), b->n.txs = get64(&r), b->n.inputs = get64(&r);
    b->n.outputs = get64(&r);
    uint64_t want[2] = {get64(&r), get64(&r)}, tsum[2] = {get64(&r), get64(&r)};
    b->spilled = get64(&r);
    if (get64(&r) != NCOLS || r.bad) {
        util_errf(err, rc, "%s: not this build's checkpoint", path);
        goto out;
    }
    uint64_t rows[NCOLS], colsum[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        rows[c] = get64(&r), colsum[c] = get64(&r);
        column *col = &s->cols[c];
        struct stat sb;
        if (col->fd < 0 ? rows[c] != 0
                        : fstat(col->fd, &sb) < 0 || (uint64_t)sb.st_size < rows[c] * col->width) {
            util_errf(err, rc, "%s: shorter than the checkpoint's %llu rows", col->path,
                      (unsigned long long)rows[c]);
            goto out;
        }
    }
    uint64_t at[3][2], tail[3];
    for (int i = 0; i < 3; i++) {
        store_sort_state st = {get64(&r), get64(&r), get64(&r), get64(&r)};
        at[i][0] = get64(&r), at[i][1] = get64(&r);
        tail[i] = st.tail;
        if (r.bad || st.nruns > (r.len - r.at) / 24 || st.tail > st.total) {
            util_errf(err, rc, "%s: not a whole checkpoint", path);
            goto out;
        }
        uint64_t *rv = malloc((st.nruns ? st.nruns : 1) * 24);
        if (!rv) {
            util_errf(err, rc = UTIL_ENOMEM, "out of memory");
            goto out;
        }
        for (uint64_t j = 0; j < 3 * st.nruns; j++)
            rv[j] = get64(&r);
        int e = store_sort_restore(ck_sorter(b, i), &st, rv, err);
        free(rv);
        if (e) goto out;
    }
    if ((r.len - r.at) / 8 != b->n.blocks || r.len % 8) {
        util_errf(err, rc, "%s: not a whole checkpoint", path);
        goto out;
    }
    b->subsidy = malloc((b->n.blocks ? b->n.blocks : 1) * sizeof *b->subsidy);
    if (!b->subsidy || (!b->rbuf && !(b->rbuf = malloc(TMPF_BUF)))) {
        util_errf(err, rc = UTIL_ENOMEM, "out of memory");
        goto out;
    }
    b->subsidy_cap = b->n.blocks;
    for (uint64_t h = 0; h < b->n.blocks; h++)
        b->subsidy[h] = (int64_t)get64(&r);
    tmpf *t[2] = {&b->prevouts, &b->addrkeys};
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        if (tmpf_open(t[i], s->dir, tmp_names[i], 0, err)) goto out;
        /* (longer after a kill in the block loop: the bytes past the count are written again) */
        if (fstat(t[i]->fd, &sb) < 0 || (uint64_t)sb.st_size < want[i]) {
            util_errf(err, rc, "%s: missing, or not the checkpoint's %llu bytes", t[i]->path,
                      (unsigned long long)want[i]);
            goto out;
        }
        t[i]->bytes = want[i];
        if (hash_file(t[i]->fd, 0, want[i], t[i]->h, b->rbuf) != 0 ||
            XXH3_64bits_digest(t[i]->h) != tsum[i]) {
            util_errf(err, rc, "%s: not the checkpoint's bytes (checksum)", t[i]->path);
            goto out;
        }
    }
    for (int c = 0; c < NCOLS; c++) {
        if (s->cols[c].fd < 0) continue;
        s->cols[c].rows = rows[c];
        if ((rc = colstore_col_reserve(&s->cols[c], 0, err))) goto out;
    }
    rc = UTIL_ECORRUPT;
    reset_loop_values(b);
    uint64_t now[NCOLS];
    if (hash_columns(b, now, err)) goto out;
    for (int c = 0; c < NCOLS; c++)
        if (now[c] != colsum[c]) {
            util_errf(err, rc, "%s: not the checkpoint's rows (checksum)", s->cols[c].path);
            goto out;
        }
    /* as store_check_extends records it at block 0 */
    const uint8_t *g = store_col_at(s, COL_BLK_HASH, 0);
    if (!b->n.blocks || (s->have_genesis && memcmp(s->genesis, g, 32))) {
        util_errf(err, rc, "%s: not this store's genesis", path);
        goto out;
    }
    if ((rc = regenerate(b, (const uint64_t(*)[2])at, tail, made, err))) goto out;
    memcpy(s->genesis, g, 32);
    s->have_genesis = 1;
    *final_out = final;
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
    int rc = tmpf_open(&b->prevouts, s->dir, tmp_names[0], 1, err);
    if (!rc) rc = tmpf_open(&b->addrkeys, s->dir, tmp_names[1], 1, err);
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
        uint64_t made = 0;
        int final = 0;
        if (!restore(b, &made, &final, &why)) {
            b->resumed = final ? 1 : 2;
            store_set_chain_rows(s, &b->n);
            snprintf(b->note, sizeof b->note,
                     final ? "bulk import: resumed from its checkpoint after the block loop (%llu "
                             "blocks), %llu sort records made again from the columns"
                           : "bulk import: resumed from its checkpoint in the block loop (%llu "
                             "blocks in), %llu sort records made again from the columns",
                     (unsigned long long)b->n.blocks, (unsigned long long)made);
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
    return b ? b->resumed : 0;
}

uint64_t store_bulk_blocks(const store_bulk *b)
{
    return b ? b->n.blocks : 0;
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
    free(b->rbuf);
    for (int c = 0; c < NCOLS; c++)
        XXH3_freeState(b->colh[c]);
    store_bulk_prep_free(&b->own);
    store_bulk_assist_end(b);
    store_sort_mem_free(&b->sm);
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

/* reserve, without populating the pages ahead: for a column sized whole at once and written
 * over a long pass, populating would make the whole column resident in one go (at 10M txs the
 * address columns, 1.1 GB, whatever the budget); its pages are faulted in as written and
 * dropped behind the pass instead. */
static int reserve_cold(store *s, int col, uint64_t more, util_err *err)
{
    column *c = &s->cols[col];
    size_t populated = c->populated;
    c->populated = SIZE_MAX; /* colstore_col_reserve populates only past it */
    int rc = colstore_col_reserve(c, more, err);
    c->populated = populated;
    return rc;
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

/* The block loop's thread spent much of its time in the kernel, first touching the columns'
 * pages (MADV_POPULATE_WRITE ahead of the rows). They are posted here instead, in pieces, and
 * populated by the parser threads between blocks (store_bulk_assist). Advice only: a piece
 * not yet populated when written is faulted in by the writer, as before.
 * The sort buffers' pages are not: populating them on the parser threads made those the
 * bottleneck on two cores (the appending thread waited 6.4 s for them instead of 0.5-2.3 s,
 * at 10M txs, the import no faster; docs/performance.md). */
static void pf_column(void *ctx, uint8_t *p, size_t n)
{
    store_bulk *b = ctx;
    pthread_mutex_lock(&b->pf_mu);
    while (n) {
        size_t k = n < PF_PIECE ? n : PF_PIECE;
        if (b->pf_tail - b->pf_head == PF_Q) break; /* full: the writer faults them in */
        b->pf_q[b->pf_tail++ % PF_Q] = (pf_item){p, k};
        p += k, n -= k;
    }
    pthread_mutex_unlock(&b->pf_mu);
}

void store_bulk_assist_begin(store_bulk *b)
{
    if (!b || b->resumed == 1 || b->pf_on) return;
    pthread_mutex_init(&b->pf_mu, NULL);
    b->pf_head = b->pf_tail = 0;
    for (int c = 0; c < NCOLS; c++)
        if (b->s->cols[c].base) b->s->cols[c].populate = pf_column, b->s->cols[c].populate_ctx = b;
    b->pf_on = 1;
}

void store_bulk_assist_end(store_bulk *b)
{
    if (!b || !b->pf_on) return;
    for (int c = 0; c < NCOLS; c++)
        b->s->cols[c].populate = NULL, b->s->cols[c].populate_ctx = NULL;
    pthread_mutex_destroy(&b->pf_mu);
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
        madvise(it.p, it.n, MADV_POPULATE_WRITE);
#endif
        done++;
    }
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
    touched(b, &b->pg, blk->n_in + blk->n_out);
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
        store_put_tx(s, tx, txno, t->inputs, t->outputs, height, NULL);
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
            *(uint32_t *)store_col_at(s, COL_OUT_ADDR, outno) =
                o->addr.kind ? ADDR_PENDING : STORE_NO_ADDR;
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

/* ---------------- the finish's two threads ---------------- */

/* One thread of the finish (store_bulk_finish owns both): the chain side (resolve, validate)
 * on the calling thread, the address side (the txid index, addresses, the address index) on a
 * second one. What each writes is its own: the chain side in_prev, in_unresolved, out_spent,
 * the tx rows' fees and flags and s->live; the address side out_addr, out_prev_addr, addr_key,
 * addr_last, addr_key_tail, the blocks' first_addr (a field no one else writes) and the index
 * files; both only read the rest. Its counts are summed into b once both are done. */
typedef struct fin {
    store_bulk *b;
    pager pg;           /* side SIDE_CHAIN or SIDE_ADDR */
    store_sort_mem *sm; /* its sorters' scratch and heap count */
    store_sort_mem own; /* the address side's (the chain side's is b->sm) */
    uint64_t spilled;
    double lap;       /* util_now() at the end of the last phase timed */
    atomic_int *stop; /* the chain side failed: the address side's work is void */
    int mute_rc;      /* store_hindex_mute_both's: 0, the indexes may be built */
    util_err mute_err;
    int rc; /* the address side's result, err, bad block and addresses */
    util_err err;
    uint64_t bad, groups;
    uint64_t keys_sorted; /* link_outputs' */
} fin;

/* Phases are the threads' own: the chain side times 0-4, the address side 5 and 6. */
static void lap(fin *f, int phase)
{
    double now = util_now();
    f->b->phase_s[phase] += now - f->lap;
    f->lap = now;
    uint64_t anon, file;
    rss_now(&anon, &file);
    if (anon > f->pg.rss_anon_peak) f->pg.rss_anon_peak = anon;
}

static int stopped(const fin *f, util_err *err)
{
    return atomic_load(f->stop) ? util_errf(err, UTIL_EINVAL, "bulk import: stopped") : 0;
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
static int merge_check(fin *f, const uint64_t codes[3], util_err *err)
{
    store_bulk *b = f->b;
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
        touched(f->b, &f->pg, 1);
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

static int resolve(fin *f, const uint64_t codes[3], util_err *err)
{
    store_bulk *b = f->b;
    store *s = b->s;
    int rc;
    pass(&f->pg, 0, 0); /* the sorts and the merge read no mapping */
    /* the inputs first: their sort's scratch, the larger, is then the txids' */
    if ((rc = store_sort_seal(&b->in, err)) || (rc = store_sort_seal(&b->tx, err))) return rc;
    lap(f, 0);
    sorter(b, &b->spent, "bulk-spent.tmp", RW, R_PREV, store_sort_bits(codes[2]), SH_SPENT);
    if ((rc = merge_check(f, codes, err))) return rc;
    f->spilled += spilled_of(&b->tx) + spilled_of(&b->in);
    store_sort_free(&b->tx);
    store_sort_free(&b->in);
    if ((rc = store_sort_seal(&b->spent, err))) return rc;
    lap(f, 1);
    crash_at(b, 3);
    /* by spent output: the first spender (lowest input id) marks it; later ones spend twice.
     * R_POS of a valid spend then holds the spent value. Back by input into b->byin. */
    sorter(b, &b->byin, "bulk-byinput.tmp", RW, R_IN, store_sort_bits(b->n.inputs), SH_BYIN);
    const uint64_t *rec;
    uint64_t last = UINT64_MAX;
    pass(&f->pg, MB(COL_OUT_SPENT) | MB(COL_OUT_VALUE), 0);
    while ((rc = store_sort_next(&b->spent, &rec, err)) > 0) {
        uint64_t o[RW];
        memcpy(o, rec, sizeof o);
        cursor(&f->pg, K_OUT, o[R_PREV]); /* by spent output; the codes come last */
        touched(f->b, &f->pg, 1);
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
    f->spilled += spilled_of(&b->spent);
    store_sort_free(&b->spent);
    lap(f, 2);
    rc = store_sort_seal(&b->byin, err);
    lap(f, 3);
    return rc;
}

/* ---------------- validating, in chain order ---------------- */

/* The incremental path's checks and totals (store_append_block), in its order. */
static int validate(fin *f, const uint64_t codes[3], uint64_t *bad, util_err *err)
{
    store_bulk *b = f->b;
    store *s = b->s;
    store_totals *t = &s->live;
    memset(t, 0, sizeof *t);
    pass(&f->pg,
         MB(COL_BLK) | MB(COL_TX) | MB(COL_IN_PREV) | MB(COL_UNRES) | MB(COL_OUT_VALUE) |
             MB(COL_OUT_TYPE) | MB(M_PREVOUTS),
         MB(COL_BLK_HASH));
    int rc = reserve(s, COL_UNRES, 0, err);
    for (uint64_t h = 0; h < b->n.blocks && !rc; h++) {
        const store_block_row *br = store_col_at(s, COL_BLK, h);
        int64_t coinbase_value = 0, block_fees = 0;
        int fees_known = 1;
        for (uint32_t ti = 0; ti < br->n_tx && !rc; ti++) {
            uint64_t txno = br->first_tx + ti;
            store_tx_row row;
            store_txrow_get(s, txno, &row);
            int coinbase = (row.flags & STORE_TX_COINBASE) != 0;
            uint64_t in_end = txno + 1 < b->n.txs ? store_txrow_in(s, txno + 1) : b->n.inputs;
            uint64_t out_end = txno + 1 < b->n.txs ? store_txrow_out(s, txno + 1) : b->n.outputs;
            int64_t in_value = 0, out_value = 0, utxo_value = t->utxo_value;
            for (uint64_t in = row.first_in; in < in_end && !coinbase; in++) {
                const uint64_t *o;
                if ((rc = store_sort_next(&b->byin, &o, err)) <= 0) {
                    if (!rc)
                        rc = util_errf(err, UTIL_ECORRUPT,
                                       "bulk import: an input's record is missing");
                    break;
                }
                rc = 0;
                uint32_t k = (uint32_t)(in - row.first_in);
                char hex[65];
                if (o[R_PREV] == codes[0]) {
                    if ((rc = reserve(s, COL_UNRES, 1, err))) break;
                    store_unresolved_row *u = store_col_at(s, COL_UNRES, s->cols[COL_UNRES].rows++);
                    memset(u, 0, sizeof *u);
                    u->input = in;
                    memcpy(u->txid, prevout_at(b, in), 32);
                    u->vout = (uint32_t)o[R_VOUT];
                    row.flags |= STORE_TX_UNRESOLVED;
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
            cursor(&f->pg, K_BLOCK, h), cursor(&f->pg, K_TX, txno);
            cursor(&f->pg, K_IN, row.first_in), cursor(&f->pg, K_OUT, row.first_out);
            touched(f->b, &f->pg, in_end - row.first_in + out_end - row.first_out);
            for (uint64_t out = row.first_out; out < out_end; out++) {
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
            row.fee = 0;
            if (coinbase) coinbase_value = out_value;
            if (row.flags & STORE_TX_UNRESOLVED) fees_known = 0;
            if (!coinbase && !(row.flags & STORE_TX_UNRESOLVED)) {
                row.fee = in_value - out_value;
                if (row.fee < 0) {
                    rc = util_errf(err, UTIL_EFORMAT, "tx %u spends %lld sat but pays out %lld", ti,
                                   (long long)in_value, (long long)out_value);
                    break;
                }
                if ((rc = store_add_sat(&t->total_fees, row.fee, "the chain's total fees", ti,
                                        err)) ||
                    (rc = store_add_sat(&block_fees, row.fee, "the block's fees", ti, err)))
                    break;
            }
            store_txrow_put(s, txno, &row);
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

/* A key-hash record with its key (keyed): hash, output, the key's words. */
enum { KEYED_W = 2 + (sizeof(btc_addr) + 7) / 8 };

/* The keys link_outputs compares, those of one key-hash run: through the mapping of the key
 * file by key index, or (keyed) from the records themselves. */
typedef struct run_keys {
    const store_bulk *b;
    int keyed;
    uint64_t *ids; /* per key of the run: key index (mapped), first output, last output */
    btc_addr *key; /* per key of the run, keyed: its key */
    size_t n, cap;
} run_keys;

/* Which key of the run record r is (rk->n: a new one); keys are compared only once the run has
 * a second record. */
static size_t run_find(const run_keys *rk, const uint64_t *r)
{
    if (!rk->n) return 0;
    const btc_addr *a = rk->keyed ? (const btc_addr *)(r + 2) : key_at(rk->b, r[2]);
    for (size_t i = 0; i < rk->n; i++) {
        const btc_addr *o = rk->keyed ? &rk->key[i] : key_at(rk->b, rk->ids[i * 3]);
        if (memcmp(a, o, sizeof *a) == 0) return i;
    }
    return rk->n;
}

static int run_add(run_keys *rk, const uint64_t *r, util_err *err)
{
    if (rk->n == rk->cap) {
        size_t cap = rk->cap ? rk->cap * 2 : 4;
        uint64_t *p = realloc(rk->ids, cap * 3 * sizeof *p);
        if (p) rk->ids = p;
        btc_addr *q = p ? realloc(rk->key, cap * sizeof *q) : NULL;
        if (!q) return util_errf(err, UTIL_ENOMEM, "out of memory for addresses");
        rk->key = q, rk->cap = cap;
    }
    rk->ids[rk->n * 3] = rk->keyed ? 0 : r[2];
    rk->ids[rk->n * 3 + 1] = rk->ids[rk->n * 3 + 2] = r[1];
    if (rk->keyed) memcpy(&rk->key[rk->n], r + 2, sizeof *rk->key);
    rk->n++;
    return 0;
}

/* Under a budget smaller than the key file, the key-hash records are made again with their
 * keys, from the out_addr column and the key file read in order, and sorted: the runs' keys
 * are then compared in the records. Comparing them through the file meant a read at random per
 * output of an address seen before (25M at 30M txs), each a disk read once the key file is
 * out of the page cache: in a memory cgroup of 3x the budget the import took 5.5x as long
 * (docs/performance.md, "What --memory bounds"). The records sorted during the block loop are
 * dropped unread; which outputs have a key is what regenerate reads too. */
static int keyed_records(fin *f, store_sort *ks, util_err *err)
{
    store_bulk *b = f->b;
    store *s = b->s;
    f->spilled += spilled_of(&b->ad);
    store_sort_free(&b->ad);
    sorter_in(b, f->sm, ks, tmp_names[8], KEYED_W, 0, 0, SH_AD);
    uint8_t *buf = malloc(TMPF_BUF);
    if (!buf) return util_errf(err, UTIL_ENOMEM, "out of memory for the address keys");
    seq q = {&b->addrkeys, buf, 0, 0, 0};
    pass(&f->pg, MB(COL_OUT_ADDR), 0);
    int rc = 0;
    uint64_t j = 0;
    for (uint64_t out = 0; out < b->n.outputs && !rc; out++) {
        if (*(const uint32_t *)store_col_at(s, COL_OUT_ADDR, out) == STORE_NO_ADDR) continue;
        const uint8_t *key = seq_next(&q, sizeof(btc_addr));
        if (!key) {
            rc = util_errf(err, UTIL_ECORRUPT, "%s: %llu keys, fewer than the outputs with one",
                           b->addrkeys.path, (unsigned long long)j);
            break;
        }
        uint64_t r[KEYED_W] = {store_key_hash(key, sizeof(btc_addr)), out};
        memcpy(&r[2], key, sizeof(btc_addr));
        rc = store_sort_put(ks, r, err);
        cursor(&f->pg, K_OUT, out);
        touched(b, &f->pg, 1);
        if ((++j & 0xffff) == 0 && !rc) rc = stopped(f, err);
    }
    free(buf);
    if (!rc && j * sizeof(btc_addr) != b->addrkeys.bytes)
        rc = util_errf(err, UTIL_ECORRUPT, "%s: %llu bytes, %llu keys expected", b->addrkeys.path,
                       (unsigned long long)b->addrkeys.bytes, (unsigned long long)j);
    f->keys_sorted = j;
    return rc ? rc : store_sort_seal(ks, err);
}

/* (key hash, output) in order: per address its outputs in order, each given the previous one
 * and the address's first, as (output, first output, previous output) into b->addrout. Keys
 * sharing a hash (nearly never) are told apart by comparing the keys of the run. Returns the
 * number of addresses in *groups. */
static int link_outputs(fin *f, uint64_t *groups, util_err *err)
{
    store_bulk *b = f->b;
    run_keys rk = {.b = b, .keyed = b->addrkeys.bytes > b->memory};
    store_sort ks, *in = &b->ad;
    memset(&ks, 0, sizeof ks);
    int rc = rk.keyed ? keyed_records(f, &ks, err) : store_sort_seal(&b->ad, err);
    if (rk.keyed) in = &ks;
    if (rc) {
        store_sort_free(&ks);
        return rc;
    }
    sorter_in(b, f->sm, &b->addrout, "bulk-addrout.tmp", 3, 0, store_sort_bits(b->n.outputs),
              SH_ADDROUT);
    /* keys compared in key-hash order: at random through the mapping, or in the records */
    pass(&f->pg, 0, rk.keyed ? 0 : MB(M_ADDRKEYS));
    uint64_t hk = 0, g = 0, seen = 0;
    const uint64_t *r;
    while ((rc = store_sort_next(in, &r, err)) > 0) {
        if (!rk.n || r[0] != hk) hk = r[0], rk.n = 0;
        size_t i = run_find(&rk, r);
        uint64_t rec[3] = {r[1], r[1], STORE_NONE};
        touched(f->b, &f->pg, 1);
        if ((++seen & 0xffff) == 0 && (rc = stopped(f, err))) break;
        if (i < rk.n) {
            rec[1] = rk.ids[i * 3 + 1], rec[2] = rk.ids[i * 3 + 2];
            rk.ids[i * 3 + 2] = r[1];
        } else {
            if ((rc = run_add(&rk, r, err))) break;
            g++;
        }
        if ((rc = store_sort_put(&b->addrout, rec, err))) break;
    }
    free(rk.ids);
    free(rk.key);
    *groups = g;
    if (!rc) f->spilled += spilled_of(in);
    store_sort_free(in);
    return rc;
}

static int addresses(fin *f, uint64_t *bad, util_err *err)
{
    store_bulk *b = f->b;
    store *s = b->s;
    uint64_t groups = 0;
    int rc = link_outputs(f, &groups, err);
    if (rc) return rc;
    if (groups >= STORE_NO_ADDR) {
        /* (the last block, as validate's totals, which passed, would have it) */
        *bad = b->n.blocks ? b->n.blocks - 1 : 0;
        return util_errf(err, UTIL_ENOMEM, "more than 2^32-1 addresses");
    }
    crash_at(b, 5);
    /* In output order, an address's first output is the record without a previous one: ids
     * are handed out in that pass (order of first appearance), and the key of the i-th record
     * is the i-th in the temp file (written in output order), read in sequence. A later
     * output finds its id in the out_addr row of its address's first output, written before. */
    rc = store_sort_seal(&b->addrout, err);
    rc = rc ? rc : reserve_cold(s, COL_ADDR_KEY, groups, err);
    rc = rc ? rc : reserve_cold(s, COL_ADDR_LAST, groups, err);
    rc = rc ? rc : reserve_cold(s, COL_ADDR_TAIL, groups, err);
    if (rc) return rc;
    pass(&f->pg,
         MB(COL_BLK) | MB(COL_TX) | MB(COL_OUT_PREV_ADDR) | MB(COL_ADDR_KEY) | MB(COL_ADDR_TAIL) |
             MB(M_ADDRKEYS),
         MB(COL_OUT_ADDR) | MB(COL_ADDR_LAST));
    uint64_t ring[KEY_AHEAD][3];
    size_t head = 0, have = 0;
    int more = 1;
    uint32_t next = 0;
    uint64_t i = 0;
    for (uint64_t h = 0; h <= b->n.blocks; h++) {
        uint64_t end = b->n.outputs;
        store_block_row *br = NULL;
        if ((rc = stopped(f, err))) return rc;
        if (h < b->n.blocks) {
            br = store_col_at(s, COL_BLK, h);
            end = store_txrow_out(s, br->first_tx);
            cursor(&f->pg, K_TX, br->first_tx);
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
            cursor(&f->pg, K_BLOCK, h), cursor(&f->pg, K_OUT, r[0]), cursor(&f->pg, K_ADDR, next);
            head = (head + 1) % KEY_AHEAD, have--, i++;
            cursor(&f->pg, K_AKEY, i);
            touched(f->b, &f->pg, 1);
        }
        if (br) br->first_addr = next;
    }
    s->cols[COL_ADDR_KEY].rows = s->cols[COL_ADDR_LAST].rows = groups;
    f->groups = groups; /* s->live is the chain side's: set once both are done */
    f->spilled += spilled_of(&b->addrout);
    store_sort_free(&b->addrout);
    return 0;
}

/* The address side: the txid index (it needs the tx hashes only), addresses, the address
 * index. Its errors in the serial order's: addresses', then the txid index's, then the address
 * index's. */
static void *addr_side(void *arg)
{
    fin *f = arg;
    store_bulk *b = f->b;
    store *s = b->s;
    util_err txe = {0};
    int txrc = f->mute_rc;
    /* as the incremental path leaves them at its close: built in id order at the final size.
     * Their pairs within a quarter of the budget: beside them are the chain side's sorters
     * (13/20 at most) and this side's (6/20), with the address index built after this side's
     * are freed. The builds drop their own pages. */
    pass(&f->pg, 0, 0);
    drop_mapped(b, &f->pg);
    if (txrc)
        txe = f->mute_err;
    else
        txrc = store_hindex_rebuild_muted(s, &s->txidx, &store_txidx_ops, b->n.txs, b->n.txs,
                                          b->memory / 4, &txe);
    lap(f, 6);
    f->rc = addresses(f, &f->bad, &f->err);
    lap(f, 5);
    if (!f->rc && txrc) f->rc = txrc, f->err = txe;
    if (!f->rc) {
        crash_at(b, 6);
        pass(&f->pg, 0, 0);
        drop_mapped(b, &f->pg);
        f->rc = store_hindex_rebuild_muted(s, &s->addridx, &store_addridx_ops, f->groups, f->groups,
                                           b->memory / 4, &f->err);
        lap(f, 6);
    }
    store_sort_free(&b->ad); /* (a failure may leave them) */
    store_sort_free(&b->addrout);
    store_sort_mem_free(&f->own);
    return NULL;
}

int store_bulk_finish(store_bulk *b, uint64_t *bad_block, util_err *err)
{
    store *s = b->s;
    *bad_block = UINT64_MAX;
    fin c = {.b = b, .pg = {.side = SIDE_CHAIN}, .sm = &b->sm, .lap = util_now()};
    fin a = {.b = b, .pg = {.side = SIDE_ADDR}, .lap = c.lap};
    a.sm = &a.own;
    int rc = tmpf_map(&b->prevouts, err);
    if (!rc) rc = tmpf_map(&b->addrkeys, err);
    if (rc) return rc;
    /* codes in place of an output id: unresolved, past the tx's outputs, spent twice */
    uint64_t codes[3] = {b->n.outputs, b->n.outputs + 1, b->n.outputs + 2};
    atomic_int stop = 0;
    c.stop = a.stop = &stop;
    atomic_store(&b->tot.bytes, b->sm.bytes);
    atomic_store(&b->tot.peak, b->sm.peak);
    b->sm.total = a.own.total = &b->tot;
    store_sort_move(&b->ad, &a.own);
    a.mute_rc = store_hindex_mute_both(s, &a.mute_err);
    pthread_t t;
    int threaded = pthread_create(&t, NULL, addr_side, &a) == 0;
    rc = resolve(&c, codes, err);
    if (!rc) {
        crash_at(b, 4);
        rc = validate(&c, codes, bad_block, err);
    }
    c.spilled += spilled_of(&b->byin);
    store_sort_free(&b->byin);
    if (!rc) lap(&c, 4);
    if (rc) atomic_store(&stop, 1);
    if (threaded)
        pthread_join(t, NULL);
    else
        addr_side(&a);
    if (!a.mute_rc) s->redo_mute--;
    b->spilled += c.spilled + a.spilled;
    b->pg.drops += c.pg.drops + a.pg.drops;
    if (c.pg.rss_anon_peak > b->pg.rss_anon_peak) b->pg.rss_anon_peak = c.pg.rss_anon_peak;
    if (a.pg.rss_anon_peak > b->pg.rss_anon_peak) b->pg.rss_anon_peak = a.pg.rss_anon_peak;
    /* the first error of the serial order: the chain side's (validate's in chain order) */
    if (rc) return rc;
    if (a.rc) {
        *bad_block = a.bad;
        *err = a.err;
        return a.rc;
    }
    s->live.addresses = a.groups;
    b->keys_sorted = a.keys_sorted;
    if (store_blkmap_rebuild(s, s->live.blocks))
        return util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
    lap(&c, 6);
    crash_at(b, 7);
    return 0;
}
