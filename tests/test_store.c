/* test_store: the store's commit and reorganisation protocol (src/store/store.h), on chains
 * the test builds in memory. What the store says is compared with figures the test computes
 * itself by replaying the blocks it built (outputs created and spent, by outpoint), never with
 * the store's own output:
 *   - append + commit + reopen: the totals, every output's value and spent state and every
 *     input's previous output equal the replay's;
 *   - a writer that appends without committing (closed, or killed in a child process with
 *     _exit, also after a commit and after an uncommitted truncation) leaves the committed
 *     state only: after the next writable open every file of the store is byte-identical to
 *     that of a clean run that appended and committed just those blocks;
 *   - a reorganisation (store_truncate_blocks to a common ancestor, commit, append a heavier
 *     branch) leaves the totals of the new chain: outputs spent only on the abandoned branch
 *     are unspent again, its txids are gone;
 *   - an invalid block (double spend, a coinbase claiming too much) is refused and changes
 *     nothing;
 *   - the redo log (docs/formats.md): a writer killed after a commit whose in-place changes
 *     never reached the column and index files (each entry the log names overwritten with
 *     junk, as if its page had been lost) is repaired by the next writable open, byte for
 *     byte as the clean run; a reader after a restart (another boot id in the log) refuses
 *     until a writer has replayed it. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"

#define MAXTX 8
#define MAXIO 64
#define MAXBLK 32
#define SUBSIDY 5000000000LL

/* One block built in memory: the btc_block view and the arrays and scripts it points into. */
typedef struct tblock {
    btc_block b;
    btc_tx txs[MAXTX];
    btc_txin ins[MAXIO];
    btc_txout outs[MAXIO];
    uint8_t scripts[MAXIO][25];
} tblock;

/* An output of the replayed chain, in chain order (the store's output ids are the same). */
typedef struct rout {
    uint8_t txid[32];
    uint32_t vout;
    int64_t value;
    int spent;
    uint8_t kind, h; /* address: script kind and the byte its 20-byte hash repeats */
} rout;

/* What a chain of blocks adds up to, computed by the test alone. */
typedef struct replay {
    rout outs[MAXBLK * MAXIO];
    uint64_t n_out;
    uint64_t in_prev[MAXBLK * MAXIO]; /* per input: output index, or STORE_COINBASE */
    uint64_t n_in;
    uint64_t blocks, txs, addresses, utxo_count;
    int64_t total_output_value, total_fees, utxo_value;
} replay;

static uint32_t rng_next(uint32_t *r)
{
    *r = *r * 1103515245u + 12345u;
    return *r >> 8;
}

static int64_t find_out(const replay *rp, const uint8_t txid[32], uint32_t vout)
{
    for (uint64_t i = 0; i < rp->n_out; i++)
        if (rp->outs[i].vout == vout && memcmp(rp->outs[i].txid, txid, 32) == 0) return (int64_t)i;
    return -1;
}

/* Replay blocks in order: every output is recorded, every input marks the output it spends. */
static void replay_chain(replay *rp, tblock *const *blks, size_t n)
{
    memset(rp, 0, sizeof *rp);
    for (size_t bi = 0; bi < n; bi++) {
        const btc_block *b = &blks[bi]->b;
        rp->blocks++;
        for (uint32_t ti = 0; ti < b->n_tx; ti++) {
            const btc_tx *tx = &b->txs[ti];
            int64_t in = 0, out = 0;
            rp->txs++;
            for (uint32_t k = 0; k < tx->n_in; k++) {
                const btc_txin *x = &b->ins[tx->first_in + k];
                if (tx->coinbase) {
                    rp->in_prev[rp->n_in++] = STORE_COINBASE;
                    continue;
                }
                int64_t o = find_out(rp, x->prev_txid, x->prev_vout);
                CHECK(o >= 0 && !rp->outs[o].spent); /* the builder only spends what exists */
                if (o < 0) continue;
                rp->outs[o].spent = 1;
                rp->in_prev[rp->n_in++] = (uint64_t)o;
                in += rp->outs[o].value;
            }
            for (uint32_t k = 0; k < tx->n_out; k++) {
                const btc_txout *o = &b->outs[tx->first_out + k];
                rout *r = &rp->outs[rp->n_out++];
                memcpy(r->txid, tx->txid, 32);
                r->vout = k, r->value = o->value, r->spent = 0;
                r->kind = o->addr.kind, r->h = o->addr.prog[0];
                out += o->value;
            }
            rp->total_output_value += out;
            if (!tx->coinbase) rp->total_fees += in - out;
        }
    }
    for (uint64_t i = 0; i < rp->n_out; i++) {
        int seen = 0;
        for (uint64_t j = 0; j < i && !seen; j++)
            seen = rp->outs[j].kind == rp->outs[i].kind && rp->outs[j].h == rp->outs[i].h;
        rp->addresses += !seen;
        if (!rp->outs[i].spent) rp->utxo_count++, rp->utxo_value += rp->outs[i].value;
    }
}

static void set_output(tblock *tb, uint32_t i, int64_t value, uint32_t *rng)
{
    uint8_t *s = tb->scripts[i];
    uint8_t h = (uint8_t)(1 + rng_next(rng) % 24);
    uint32_t len;
    if (rng_next(rng) % 3) { /* P2PKH */
        s[0] = 0x76, s[1] = 0xa9, s[2] = 0x14, s[23] = 0x88, s[24] = 0xac;
        memset(s + 3, h, 20);
        len = 25;
    } else { /* P2WPKH */
        s[0] = 0x00, s[1] = 0x14;
        memset(s + 2, h, 20);
        len = 22;
    }
    btc_txout *o = &tb->outs[i];
    o->value = value, o->script = s, o->script_len = len;
    o->type = (uint8_t)btc_classify_script(s, len, &o->addr);
}

/* Build a block on top of the chain blks[0..n): a coinbase claiming the subsidy and the fees,
 * then a few txs spending random unspent outputs of that chain; the last one spends an output
 * of the one before it, inside the block. tag makes the branch's hashes and txids its own. */
static void build_block(tblock *tb, tblock *const *blks, size_t n, uint8_t tag, uint32_t *rng)
{
    static replay rp; /* too big for the stack; read-only between calls */
    replay_chain(&rp, blks, n);
    memset(tb, 0, sizeof *tb);
    btc_block *b = &tb->b;
    b->txs = tb->txs, b->ins = tb->ins, b->outs = tb->outs;
    memset(b->hdr.hash, 0, 32);
    b->hdr.hash[0] = tag, b->hdr.hash[1] = (uint8_t)n, b->hdr.hash[31] = 0xbb;
    if (n) memcpy(b->hdr.prev, blks[n - 1]->b.hdr.hash, 32);
    b->hdr.time = 1600000000u + 600u * (uint32_t)n, b->hdr.bits = 0x207fffff;
    uint32_t ntx = n ? 1 + rng_next(rng) % 5 : 1; /* genesis: the coinbase alone */
    /* Unspent outputs of the chain below, to pick from. */
    uint64_t pool[MAXBLK * MAXIO], np = 0;
    for (uint64_t i = 0; i < rp.n_out; i++)
        if (!rp.outs[i].spent) pool[np++] = i;
    int64_t fees = 0;
    for (uint32_t ti = 0; ti < ntx; ti++) {
        btc_tx *tx = &tb->txs[b->n_tx++];
        memset(tx->txid, 0xa0 + ti, 32);
        tx->txid[0] = tag, tx->txid[1] = (uint8_t)n, tx->txid[2] = (uint8_t)ti;
        tx->first_in = b->n_in, tx->first_out = b->n_out;
        tx->size = tx->vsize = 150, tx->weight = 600;
        int64_t in = 0;
        if (ti == 0) {
            tx->coinbase = 1;
            tb->ins[b->n_in].prev_vout = UINT32_MAX;
            b->n_in++, tx->n_in = 1;
        } else if (ti == ntx - 1 && ti > 1) { /* spends the previous tx's output 0 */
            const btc_tx *p = &tb->txs[ti - 1];
            memcpy(tb->ins[b->n_in].prev_txid, p->txid, 32);
            tb->ins[b->n_in].prev_vout = 0;
            in = tb->outs[p->first_out].value;
            b->n_in++, tx->n_in = 1;
        } else {
            if (np == 0) { /* nothing left to spend: no more txs */
                b->n_tx--;
                break;
            }
            uint32_t k = 1 + rng_next(rng) % 3;
            for (uint32_t j = 0; j < k && np > 0; j++) {
                uint64_t pick = rng_next(rng) % np, o = pool[pick];
                pool[pick] = pool[--np];
                memcpy(tb->ins[b->n_in].prev_txid, rp.outs[o].txid, 32);
                tb->ins[b->n_in].prev_vout = rp.outs[o].vout;
                in += rp.outs[o].value;
                b->n_in++, tx->n_in++;
            }
        }
        if (ti == 0) continue; /* the coinbase's outputs once the fees are known */
        int64_t fee = tx->n_in ? 1000 + rng_next(rng) % 5000 : 0;
        if (in < fee + 2) fee = 0; /* dust: nothing to pay a fee with */
        uint32_t nout = 1 + rng_next(rng) % 3;
        int64_t left = in - fee;
        for (uint32_t k = 0; k < nout; k++) {
            int64_t v = k + 1 == nout ? left : left / 2;
            set_output(tb, b->n_out++, v, rng);
            left -= v, tx->n_out++;
        }
        fees += fee;
    }
    /* The coinbase's outputs come last in the arrays: the store (and the replay) take a tx's
     * outputs at its first_out, so the order in the arrays does not matter. */
    btc_tx *cb = &tb->txs[0];
    uint32_t first = b->n_out;
    set_output(tb, b->n_out++, SUBSIDY + fees - 1, rng);
    set_output(tb, b->n_out++, 1, rng);
    cb->first_out = first, cb->n_out = 2;
    b->size = 80;
    for (uint32_t ti = 0; ti < b->n_tx; ti++)
        b->size += tb->txs[ti].size;
}

/* Chain work of a chain of n blocks whose tip is on branch tag: the fork (2, and 3 above it)
 * weighs more per block. */
static unsigned __int128 work(size_t n, uint8_t tag)
{
    return (unsigned __int128)n * (tag >= 2 ? 3 : 2);
}

static int append_all(store *s, tblock *const *blks, size_t from, size_t to, uint8_t tag)
{
    util_err err = {0};
    for (size_t i = from; i < to; i++) {
        if (store_append_block(s, &blks[i]->b, work(i + 1, tag), SUBSIDY, &err)) {
            fprintf(stderr, "append %zu: %s\n", i, err.msg);
            return -1;
        }
    }
    return 0;
}

/* The store's totals and reads against the replay of the chain it should hold. */
static void check_against(const store *s, tblock *const *blks, size_t n)
{
    static replay rp;
    replay_chain(&rp, blks, n);
    const store_totals *t = store_get_totals(s);
    CHECK(t->blocks == rp.blocks);
    CHECK(t->txs == rp.txs);
    CHECK(t->inputs == rp.n_in);
    CHECK(t->outputs == rp.n_out);
    CHECK(t->addresses == rp.addresses);
    CHECK(t->unresolved_inputs == 0);
    CHECK(t->total_output_value == rp.total_output_value);
    CHECK(t->total_fees == rp.total_fees);
    CHECK(t->utxo_value == rp.utxo_value);
    CHECK(t->utxo_count == rp.utxo_count);
    uint64_t by_type = 0;
    for (int k = 0; k < BTC_NSCRIPT_TYPES; k++)
        by_type += t->outputs_by_type[k];
    CHECK(by_type == rp.n_out);
    if (t->outputs != rp.n_out || t->inputs != rp.n_in) return;
    size_t bad_out = 0, bad_in = 0;
    for (uint64_t o = 0; o < rp.n_out; o++) {
        if (store_out_value(s, o) != rp.outs[o].value) bad_out++;
        if ((store_out_spent_by(s, o) != STORE_NONE) != rp.outs[o].spent) bad_out++;
        int64_t tx = store_find_tx(s, rp.outs[o].txid);
        if (tx < 0 || store_tx_first_out(s, (uint64_t)tx) + rp.outs[o].vout != o) bad_out++;
    }
    for (uint64_t i = 0; i < rp.n_in; i++) {
        uint64_t p = store_in_prev(s, i);
        if (p != rp.in_prev[i]) bad_in++;
        if (p != STORE_COINBASE && p < rp.n_out && store_out_spent_by(s, p) != i) bad_in++;
    }
    /* The tx of every output and input, found by search: a reader's first searches run
     * without the tx sample, later ones (past its on-demand threshold) with it, so two passes
     * check both. The oracle: the replay's txid of each output, and each tx's input range. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t o = 0; o < rp.n_out; o++) {
            int64_t tx = store_find_tx(s, rp.outs[o].txid);
            if (tx < 0 || store_output_tx(s, o) != (uint64_t)tx) bad_out++;
        }
        for (uint64_t tx = 0; tx < t->txs; tx++) {
            uint64_t first = store_tx_first_in(s, tx), k = store_tx_n_in(s, tx);
            for (uint64_t i = first; i < first + k; i++)
                if (store_input_tx(s, i) != tx) bad_in++;
        }
    }
    CHECK(bad_out == 0);
    CHECK(bad_in == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(store_find_block(s, blks[i]->b.hdr.hash) == (int64_t)i);
    CHECK(store_block_chainwork(s, n - 1) == work(n, blks[n - 1]->b.hdr.hash[0]));
    util_err err = {0};
    store_totals re;
    CHECK(store_recompute_totals(s, &re, &err) == 0 && memcmp(&re, t, sizeof re) == 0);
    /* slices of every pass, some smaller than a tx's run or empty: the same figures */
    for (unsigned th = 2; th <= 9; th += 7) {
        memset(&re, 0xa5, sizeof re);
        int by_rows = -1;
        CHECK(store_recompute_totals_threads(s, th, &re, &by_rows, &err) == 0 &&
              memcmp(&re, t, sizeof re) == 0 && by_rows == 0);
    }
}

/* Every regular file of a against the one of the same name in b (the LOCK and READERS files
 * are empty lock files in both). Returns the number that differ or are missing; names them
 * when say is set. */
static int dir_diff_say(const char *a, const char *b, int say)
{
    int diff = 0, files = 0;
    DIR *d = opendir(a);
    if (!d) return 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char pa[600], pb[600];
        snprintf(pa, sizeof pa, "%s/%s", a, e->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, e->d_name);
        FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
        int same = fa && fb;
        while (same) {
            int ca = fgetc(fa), cb = fgetc(fb);
            if (ca != cb) same = 0;
            if (ca == EOF) break;
        }
        if (fa) fclose(fa);
        if (fb) fclose(fb);
        if (!same && say) fprintf(stderr, "%s differs from %s\n", pa, pb);
        diff += !same;
        files++;
    }
    closedir(d);
    return files ? diff : 1;
}

#define dir_diff(a, b) dir_diff_say(a, b, 1)
#define dir_changed(a, b) (dir_diff_say(a, b, 0) != 0)

static int count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* A store in dir holding blks[0..n) committed (tag: the branch of the last block). */
static int make_store(const char *dir, tblock *const *blks, size_t n, uint8_t tag)
{
    store *s;
    util_err err = {0};
    if (store_open(&s, dir, STORE_WRITE | STORE_CREATE, &err)) return -1;
    int rc = append_all(s, blks, 0, n, tag) || store_commit(s, &err) ? -1 : 0;
    store_close(s);
    return rc;
}

/* Run crash(dir) in a child that ends with _exit (no close, no commit: a writer that died),
 * then open dir for writing once (the recovery) and close it. Before the recovery the files
 * must differ from those of ref (the clean run), or the crash proved nothing; after it they
 * must be the same, byte for byte. */
static void crash_child(const char *dir, void (*crash)(const char *, tblock *const *),
                        tblock *const *blks, const char *ref)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        crash(dir, blks);
        _exit(0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(dir_changed(ref, dir));
    store *s;
    util_err err = {0};
    CHECK(store_open(&s, dir, STORE_WRITE, &err) == 0);
    if (s) store_close(s);
    CHECK(dir_diff(ref, dir) == 0 && count_files(ref) == count_files(dir));
}

/* The files of the redo log's targets, in the store's column order, then the two indexes. */
static const char *const redo_files[] = {
    "blk_hash.col",      "blk.col",       "tx_hash.col",   "tx.col",       "in_prev.col",
    "in_unresolved.col", "out_value.col", "out_addr.col",  "out_type.col", "out_spent.col",
    "out_prev_addr.col", "addr_key.col",  "addr_last.col", "nulldata.col", "nulldata_bytes.col",
    "addr_key_tail.col", "txid.idx",      "addr.idx"};
#define REDO_NCOLS 16 /* targets from here on are the indexes */

/* Overwrite every entry the committed groups of dir/redo.log name with junk (as the format
 * says: 64-byte header, groups of a 64-byte header {magic, count, ...} and 16-byte records
 * {target << 56 | index, value}). Returns the number of entries spoiled, -1 on error. */
static long spoil_redo_entries(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/redo.log", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    long spoiled = 0;
    fseek(f, 64, SEEK_SET);
    uint64_t g[8];
    while (fread(g, 8, 8, f) == 8 && g[0] == 0x70756f72676f6463ULL) {
        for (uint64_t i = 0; i < g[1]; i++) {
            uint64_t r[2];
            if (fread(r, 8, 2, f) != 2) break;
            uint64_t t = r[0] >> 56, idx = r[0] & ((1ULL << 56) - 1);
            if (t >= sizeof redo_files / sizeof *redo_files) return -1;
            char cp[700];
            snprintf(cp, sizeof cp, "%s/%s", dir, redo_files[t]);
            FILE *c = fopen(cp, "r+b");
            if (!c) return -1;
            uint64_t junk = 0x5a5a5a5a5a5a5a5aULL ^ idx;
            /* id columns have 5-byte rows (format 3), index slots 8 bytes after a 4-word header */
            if (t >= REDO_NCOLS) {
                fseek(c, (long)((idx + 4) * 8), SEEK_SET);
                fwrite(&junk, 8, 1, c);
            } else {
                fseek(c, (long)(idx * 5), SEEK_SET);
                fwrite(&junk, 5, 1, c);
            }
            fclose(c);
            spoiled++;
        }
    }
    fclose(f);
    return spoiled;
}

/* The main chain is 12 blocks; the crash cases commit 8 of them. */
#define MAIN 12
#define KEEP 8
#define FORK 6

static void crash_uncommitted(const char *dir, tblock *const *blks)
{
    store *s;
    util_err err = {0};
    if (store_open(&s, dir, STORE_WRITE, &err)) _exit(3);
    if (append_all(s, blks, KEEP, MAIN, 1)) _exit(4);
    _exit(0); /* died before the commit */
}

static void crash_after_commit(const char *dir, tblock *const *blks)
{
    store *s;
    util_err err = {0};
    if (store_open(&s, dir, STORE_WRITE | STORE_CREATE, &err)) _exit(3);
    if (append_all(s, blks, 0, KEEP, 1) || store_commit(s, &err)) _exit(4);
    if (append_all(s, blks, KEEP, MAIN, 1)) _exit(5);
    _exit(0);
}

/* Commit all of the main chain on top of KEEP blocks, then die before closing. */
static void crash_committed(const char *dir, tblock *const *blks)
{
    store *s;
    util_err err = {0};
    if (store_open(&s, dir, STORE_WRITE, &err)) _exit(3);
    if (append_all(s, blks, KEEP, MAIN, 1) || store_commit(s, &err)) _exit(4);
    _exit(0);
}

static void crash_in_truncate(const char *dir, tblock *const *blks)
{
    (void)blks;
    store *s;
    util_err err = {0};
    if (store_open(&s, dir, STORE_WRITE, &err)) _exit(3);
    if (store_truncate_blocks(s, 3, &err)) _exit(4);
    _exit(0); /* the removal never committed */
}

int main(void)
{
    static tblock mainb[MAIN], forkb[FORK];
    tblock *main_chain[MAIN], *fork_chain[KEEP + FORK];
    uint32_t rng = 42;
    for (size_t i = 0; i < MAIN; i++) {
        main_chain[i] = &mainb[i];
        build_block(&mainb[i], main_chain, i, 1, &rng);
    }
    for (size_t i = 0; i < KEEP; i++)
        fork_chain[i] = &mainb[i];
    rng = 4242;
    for (size_t i = 0; i < FORK; i++) {
        fork_chain[KEEP + i] = &forkb[i];
        build_block(&forkb[i], fork_chain, KEEP + i, 2, &rng);
    }

    char base[] = "/tmp/test_store.XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char clean[300], db[300], db2[300], fresh[300];
    snprintf(clean, sizeof clean, "%s/clean", base);
    snprintf(db, sizeof db, "%s/db", base);
    snprintf(db2, sizeof db2, "%s/db2", base);
    snprintf(fresh, sizeof fresh, "%s/fresh", base);
    util_err err = {0};
    store *s = NULL;

    /* 1. Append, commit, reopen read-only: the totals and every row match the replay. */
    CHECK(make_store(clean, main_chain, KEEP, 1) == 0);
    CHECK(store_open(&s, clean, 0, &err) == 0);
    if (s) {
        check_against(s, main_chain, KEEP);
        store_close(s);
    }

    /* 2. Appends without a commit, then store_close: the next writable open has the committed
     * state only, file for file. */
    CHECK(make_store(db, main_chain, KEEP, 1) == 0);
    CHECK(store_open(&s, db, STORE_WRITE, &err) == 0);
    if (s) {
        CHECK(append_all(s, main_chain, KEEP, MAIN, 1) == 0);
        CHECK(store_get_totals(s)->blocks == KEEP); /* the totals are the committed ones */
        store_close(s);
    }
    CHECK(store_open(&s, db, STORE_WRITE, &err) == 0);
    if (s) {
        check_against(s, main_chain, KEEP);
        store_close(s);
    }
    CHECK(dir_diff(clean, db) == 0 && count_files(clean) == count_files(db));

    /* 3. The same, the writer killed (_exit in a child): after an open, after a commit. */
    crash_child(db, crash_uncommitted, main_chain, clean);
    crash_child(db2, crash_after_commit, main_chain, clean);
    CHECK(store_open(&s, db2, 0, &err) == 0);
    if (s) {
        check_against(s, main_chain, KEEP);
        store_close(s);
    }

    /* 3b. Lost writeback: the commit's in-place changes are only in the redo log. */
    {
        char full[300];
        snprintf(full, sizeof full, "%s/full", base);
        CHECK(make_store(full, main_chain, MAIN, 1) == 0);
        rm_dir(db);
        CHECK(make_store(db, main_chain, KEEP, 1) == 0);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) crash_committed(db, main_chain);
        int st = 0;
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        long spoiled = spoil_redo_entries(db);
        CHECK(spoiled > 20); /* spent marks, list heads and index slots of blocks KEEP.. */
        CHECK(dir_changed(full, db));
        /* Another boot: a reader must not trust the files. */
        char rp[600];
        snprintf(rp, sizeof rp, "%s/redo.log", db);
        FILE *f = fopen(rp, "r+b");
        CHECK(f != NULL);
        if (f) {
            fseek(f, 16, SEEK_SET);
            fwrite("00000000-0000-0000-0000-000000000000", 36, 1, f);
            fclose(f);
        }
        CHECK(store_open(&s, db, 0, &err) == UTIL_ECORRUPT && strstr(err.msg, "redo.log"));
        if (s) store_close(s);
        s = NULL;
        CHECK(store_open(&s, db, STORE_WRITE, &err) == 0);
        if (s) store_close(s);
        CHECK(dir_diff(full, db) == 0 && count_files(full) == count_files(db));
        CHECK(store_open(&s, db, 0, &err) == 0);
        if (s) {
            check_against(s, main_chain, MAIN);
            store_close(s);
        }
        rm_dir(full);
    }

    /* 4. The whole main chain, then a reorganisation: roll back to KEEP blocks, commit, append
     * the heavier fork. Against the replay of KEEP main blocks + the fork. */
    rm_dir(db);
    CHECK(make_store(db, main_chain, MAIN, 1) == 0);
    /* A writer killed half way through a removal leaves the whole main chain. */
    CHECK(make_store(fresh, main_chain, MAIN, 1) == 0);
    crash_child(db, crash_in_truncate, main_chain, fresh);
    CHECK(store_open(&s, db, STORE_WRITE, &err) == 0);
    if (s) {
        check_against(s, main_chain, MAIN);
        CHECK(store_truncate_blocks(s, KEEP, &err) == 0);
        CHECK(store_commit(s, &err) == 0);
        check_against(s, main_chain, KEEP);
        /* The abandoned branch's txids are gone. */
        for (size_t i = KEEP; i < MAIN; i++)
            CHECK(store_find_tx(s, mainb[i].txs[0].txid) == -1);
        CHECK(append_all(s, fork_chain, KEEP, KEEP + FORK, 2) == 0);
        CHECK(store_commit(s, &err) == 0);
        check_against(s, fork_chain, KEEP + FORK);
        store_close(s);
    }
    CHECK(store_open(&s, db, 0, &err) == 0);
    if (s) {
        check_against(s, fork_chain, KEEP + FORK);
        for (size_t i = KEEP; i < MAIN; i++)
            CHECK(store_find_block(s, mainb[i].b.hdr.hash) == -1);
        store_close(s);
    }
    /* Some output spent on the abandoned branch must be unspent on the new chain, or the
     * reorganisation above proved nothing about undoing spends. */
    {
        static replay a, b;
        replay_chain(&a, main_chain, MAIN);
        replay_chain(&b, fork_chain, KEEP + FORK);
        uint64_t kept_outs = 0, respent = 0;
        for (size_t i = 0; i < KEEP; i++)
            kept_outs += mainb[i].b.n_out;
        for (uint64_t o = 0; o < kept_outs; o++)
            respent += a.outs[o].spent && !b.outs[o].spent;
        CHECK(respent > 0);
    }

    /* 5. Invalid blocks are refused and leave nothing behind: a double spend, a coinbase
     * claiming more than the subsidy and the fees; then the valid block is appended and
     * committed, and the store holds exactly the chain with it. */
    CHECK(store_open(&s, db, STORE_WRITE, &err) == 0);
    if (s) {
        store_totals before = *store_get_totals(s);
        static tblock bad;
        tblock *chain2[KEEP + FORK + 1];
        memcpy(chain2, fork_chain, sizeof fork_chain);
        chain2[KEEP + FORK] = &bad;
        build_block(&bad, fork_chain, KEEP + FORK, 3, &rng);
        /* Input of tx 1 -> an output the chain has already spent (the fork's first spend). */
        const btc_tx *ft = &forkb[0].txs[1];
        CHECK(bad.b.n_tx > 1 && bad.b.txs[1].n_in > 0 && forkb[0].b.n_tx > 1);
        bad.b.ins[bad.b.txs[1].first_in] = forkb[0].ins[ft->first_in];
        CHECK(store_append_block(s, &bad.b, work(KEEP + FORK + 1, 2), SUBSIDY, &err) != 0);
        CHECK(memcmp(store_get_totals(s), &before, sizeof before) == 0);
        build_block(&bad, fork_chain, KEEP + FORK, 3, &rng);
        bad.outs[bad.b.txs[0].first_out].value += 1;
        CHECK(store_append_block(s, &bad.b, work(KEEP + FORK + 1, 2), SUBSIDY, &err) != 0);
        CHECK(memcmp(store_get_totals(s), &before, sizeof before) == 0);
        bad.outs[bad.b.txs[0].first_out].value -= 1; /* now valid: accepted */
        CHECK(store_append_block(s, &bad.b, work(KEEP + FORK + 1, 2), SUBSIDY, &err) == 0);
        CHECK(store_commit(s, &err) == 0);
        check_against(s, chain2, KEEP + FORK + 1);
        store_close(s);
    }

    rm_dir(clean);
    rm_dir(db);
    rm_dir(db2);
    rm_dir(fresh);
    rmdir(base);
    return CHECK_DONE();
}
