#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "../util/util_hmap.h"

void ingest_default_opts(ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->verify_merkle = 1;
    o->commit_seconds = 5.0;
}

/* ---------------- inputs: files ---------------- */

typedef struct file_list {
    btc_blockfile *files;
    size_t n, cap;
} file_list;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_file(file_list *fl, const char *path, const char *xor_dir, util_err *err)
{
    uint8_t key[8];
    int present;
    int rc = btc_read_xor_key(xor_dir, key, &present, err);
    if (rc) return rc;
    if (fl->n == fl->cap) {
        size_t cap = fl->cap ? fl->cap * 2 : 16;
        btc_blockfile *p = realloc(fl->files, cap * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory");
        fl->files = p;
        fl->cap = cap;
    }
    rc = btc_blockfile_open(&fl->files[fl->n], path, present ? key : NULL, err);
    if (rc) return rc;
    fl->n++;
    return 0;
}

static int add_path(file_list *fl, const char *path, util_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0) return util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        return add_file(fl, path, dir, err);
    }
    DIR *d = opendir(path);
    if (!d) return util_errf(err, UTIL_EIO, "%s: cannot list: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "blk", 3) != 0 || len < 8 || strcmp(e->d_name + len - 4, ".dat"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc && n == 0) rc = util_errf(err, UTIL_ENOTFOUND, "%s: no blk*.dat files here", path);
    if (!rc) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", path, names[i]);
            rc = add_file(fl, full, path, err);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---------------- the header tree ---------------- */

enum { PARENT_NONE = -1, PARENT_GENESIS = -2, PARENT_STORE = -3 };

typedef struct hdr {
    uint8_t hash[32], prev[32];
    uint32_t bits, time, file, size;
    uint32_t last_bits; /* see btc_pow_parent */
    uint64_t off;
    uint64_t height; /* once connected */
    int64_t parent;  /* index of the parent header, or PARENT_* */
    int64_t
        store_height; /* with PARENT_STORE: the parent's height; or the block's own if in store */
    unsigned __int128 work; /* cumulative */
    uint8_t state;          /* 0 unresolved, 1 resolving, 2 connected, 3 orphan, 4 in store */
} hdr;

typedef struct tree {
    hdr *h;
    size_t n, cap;
    util_hmap map; /* util_le64(hash) -> index; the caller compares the whole hash */
} tree;

static int64_t tree_find(const tree *t, const uint8_t hash[32])
{
    uint64_t key = util_le64(hash);
    for (size_t j = util_hmap_first(&t->map, key); j != SIZE_MAX;
         j = util_hmap_next(&t->map, key, j))
        if (memcmp(t->h[t->map.vals[j]].hash, hash, 32) == 0) return (int64_t)t->map.vals[j];
    return -1;
}

static int tree_index(tree *t, util_err *err)
{
    util_hmap_free(&t->map);
    if (util_hmap_init(&t->map, t->n))
        return util_errf(err, UTIL_ENOMEM, "out of memory for the header map");
    size_t kept = 0;
    for (size_t k = 0; k < t->n; k++) {
        if (tree_find(t, t->h[k].hash) >= 0) continue; /* the same block twice: keep the first */
        t->h[kept] = t->h[k];
        if (util_hmap_add(&t->map, util_le64(t->h[kept].hash), kept))
            return util_errf(err, UTIL_ENOMEM, "out of memory for the header map");
        kept++;
    }
    t->n = kept;
    return 0;
}

static int scan_files(const file_list *fl, tree *t, ingest_result *r, util_err *err)
{
    for (size_t f = 0; f < fl->n; f++) {
        const btc_blockfile *bf = &fl->files[f];
        size_t off = 0, boff, bsize;
        int rc;
        while ((rc = btc_blockfile_next(bf, &off, &boff, &bsize, err)) == 1) {
            if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 4096;
                hdr *p = realloc(t->h, cap * sizeof *p);
                if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for headers");
                t->h = p;
                t->cap = cap;
            }
            uint8_t raw[80];
            btc_blockfile_read(bf, boff, raw, 80);
            btc_header bh;
            btc_parse_header(&bh, raw);
            hdr *h = &t->h[t->n++];
            memset(h, 0, sizeof *h);
            memcpy(h->hash, bh.hash, 32);
            memcpy(h->prev, bh.prev, 32);
            h->bits = bh.bits;
            h->time = bh.time;
            h->file = (uint32_t)f;
            h->off = boff;
            h->size = (uint32_t)bsize;
        }
        if (rc < 0) return rc;
        r->bytes_scanned += bf->size;
    }
    return tree_index(t, err);
}

/* Which rules apply: the store's recorded network; else o->network; else what the genesis
 * declares (the store's block 0, or with an empty store a genesis header in the files). */
static int choose_network(store *s, const file_list *fl, const tree *t, const ingest_opts *o,
                          btc_net *net, util_err *err)
{
    static const uint8_t zero[32];
    const char *rec = store_network(s);
    btc_net recorded = rec[0] ? btc_net_parse(rec) : BTC_NET_UNKNOWN;
    if (rec[0] && recorded == BTC_NET_UNKNOWN)
        return util_errf(err, UTIL_ECORRUPT,
                         "the store's MANIFEST names network '%s', unknown to "
                         "this build",
                         rec);
    btc_net declared = BTC_NET_UNKNOWN;
    const hdr *gen = NULL;
    if (store_get_totals(s)->blocks) {
        declared = btc_net_of_genesis(store_block_hash(s, 0), store_block(s, 0)->bits);
    } else {
        /* With several candidates, a known network's genesis is the one that can connect. */
        for (size_t k = 0; k < t->n; k++) {
            const hdr *h = &t->h[k];
            if (memcmp(h->prev, zero, 32) != 0) continue;
            btc_net d = btc_net_of_genesis(h->hash, h->bits);
            if (!gen || (d != BTC_NET_UNKNOWN && (declared == BTC_NET_UNKNOWN || d < declared)))
                gen = h, declared = d;
        }
    }
    if (recorded) {
        if (o->network && o->network != recorded)
            return util_errf(err, UTIL_EINVAL,
                             "this store holds a %s chain (recorded at its first import); "
                             "--network %s disagrees",
                             btc_net_name(recorded), btc_net_name(o->network));
        *net = recorded;
        return 0;
    }
    if (o->network) {
        if ((declared == BTC_NET_MAINNET || declared == BTC_NET_TESTNET) && declared != o->network)
            return util_errf(err, UTIL_EINVAL, "the genesis block is %s's; --network %s disagrees",
                             btc_net_name(declared), btc_net_name(o->network));
        *net = o->network;
    } else if (declared) {
        *net = declared;
    } else if (store_get_totals(s)->blocks || gen) {
        char hex[65];
        util_hash_hex(hex, store_get_totals(s)->blocks ? store_block_hash(s, 0) : gen->hash);
        if (gen)
            return util_errf(
                err, UTIL_EINVAL,
                "%s: block at offset %llu: genesis %s with bits 0x%08x is neither mainnet's nor "
                "testnet3's, and does not declare regtest-like rules (bits 0x207fffff): pass "
                "--network mainnet|testnet|regtest to choose the proof-of-work rules",
                fl->files[gen->file].path, (unsigned long long)gen->off, hex, gen->bits);
        return util_errf(err, UTIL_EINVAL,
                         "the store's genesis %s is neither mainnet's nor testnet3's and does not "
                         "declare regtest-like rules (bits 0x207fffff): pass --network "
                         "mainnet|testnet|regtest to choose the proof-of-work rules",
                         hex);
    } else {
        *net = BTC_NET_UNKNOWN; /* no genesis anywhere: every header is an orphan */
        return 0;
    }
    return store_set_network(s, btc_net_name(*net), err);
}

/* Time of the ancestor at height of connected header idx (height <= its own). */
static uint32_t ancestor_time(const store *s, const tree *t, int64_t idx, uint64_t height)
{
    for (;;) {
        const hdr *h = &t->h[idx];
        if (h->height == height) return h->time;
        if (h->parent < 0) return store_block(s, height)->time; /* PARENT_STORE */
        idx = h->parent;
    }
}

/* What the difficulty rules need of the parent of h (connected, not a genesis). */
static void pow_parent(const store *s, const tree *t, const hdr *h, btc_net net, btc_pow_parent *p)
{
    if (h->parent == PARENT_STORE) {
        uint64_t ph = (uint64_t)h->store_height;
        const store_block_row *b = store_block(s, ph);
        p->height = ph, p->bits = b->bits, p->time = b->time;
        /* testnet's fallback: walk back over min-difficulty blocks of this period. */
        uint64_t x = ph;
        uint32_t limit = btc_pow_limit_bits(net);
        while (x > 0 && x % 2016 != 0 && store_block(s, x)->bits == limit)
            x--;
        p->last_bits = store_block(s, x)->bits;
        if ((ph + 1) % 2016 == 0) p->period_start_time = store_block(s, ph + 1 - 2016)->time;
    } else {
        const hdr *ph = &t->h[h->parent];
        p->height = ph->height, p->bits = ph->bits, p->time = ph->time;
        p->last_bits = ph->last_bits;
        if ((ph->height + 1) % 2016 == 0)
            p->period_start_time = ancestor_time(s, t, h->parent, ph->height + 1 - 2016);
    }
}

static int refuse(const file_list *fl, const hdr *h, util_err *err)
{
    char hex[65];
    util_hash_hex(hex, h->hash);
    return util_err_prefix(err, "%s: block at offset %llu (hash %s)", fl->files[h->file].path,
                           (unsigned long long)h->off, hex);
}

/* Give every header its cumulative work, or mark it an orphan, without recursion; check the
 * proof of work of every header not in the store, and the difficulty rule of every one that
 * connects. */
static int resolve_work(store *s, const file_list *fl, tree *t, btc_net net, util_err *err)
{
    static const uint8_t zero[32];
    int64_t *stack = malloc((t->n + 1) * sizeof *stack);
    if (!stack) return util_errf(err, UTIL_ENOMEM, "out of memory");
    const store_totals *tot = store_get_totals(s);
    const uint8_t *genesis = btc_net_genesis(net);
    int rc = 0;
    for (size_t k = 0; k < t->n && !rc; k++) {
        size_t sp = 0;
        int64_t cur = (int64_t)k;
        /* Walk up to something already known. */
        while (t->h[cur].state == 0) {
            hdr *h = &t->h[cur];
            int64_t own = store_find_block(s, h->hash);
            if (own >= 0) {
                h->state = 4;
                h->store_height = own;
                h->height = (uint64_t)own;
                h->work = store_block_chainwork(s, (uint64_t)own);
                break;
            }
            h->state = 1;
            stack[sp++] = cur;
            int64_t ph = store_find_block(s, h->prev);
            if (ph >= 0) {
                h->parent = PARENT_STORE;
                h->store_height = ph;
                break;
            }
            if (memcmp(h->prev, zero, 32) == 0) {
                h->parent = PARENT_GENESIS;
                break;
            }
            int64_t p = tree_find(t, h->prev);
            if (p < 0) {
                h->parent = PARENT_NONE;
                break;
            }
            h->parent = p;
            cur = p;
        }
        /* Unwind: each node's work is its parent's plus its own. */
        while (sp > 0 && !rc) {
            hdr *h = &t->h[stack[--sp]];
            unsigned __int128 own = btc_work_from_bits(h->bits), base = 0;
            int ok = 1;
            if (h->parent == PARENT_STORE)
                base = store_block_chainwork(s, (uint64_t)h->store_height);
            else if (h->parent == PARENT_GENESIS)
                /* Mainnet and testnet have one genesis; a regtest-like store has its own. */
                ok = tot->blocks == 0 && (!genesis || memcmp(h->hash, genesis, 32) == 0);
            else if (h->parent == PARENT_NONE)
                ok = 0;
            else {
                const hdr *p = &t->h[h->parent];
                ok = p->state == 2 || p->state == 4;
                base = p->work;
            }
            h->state = ok ? 2 : 3;
            /* Saturating: once proof of work is checked no chain comes near 2^128 (mainnet's
             * whole chain is about 2^95), but a wrap must never make a chain light. */
            h->work = base + own < base ? ~(unsigned __int128)0 : base + own;
            if (net == BTC_NET_UNKNOWN) continue; /* no genesis: nothing connects */
            if ((rc = btc_check_pow(h->hash, h->bits, net, err))) {
                refuse(fl, h, err);
                break;
            }
            if (!ok) continue;
            if (h->parent == PARENT_GENESIS) {
                h->height = 0;
                h->last_bits = h->bits;
                continue;
            }
            btc_pow_parent pp = {0};
            pow_parent(s, t, h, net, &pp);
            h->height = pp.height + 1;
            uint32_t want = btc_next_bits(&pp, h->time, net);
            if (h->bits != want) {
                rc = util_errf(err, UTIL_EFORMAT,
                               "height %llu: bits 0x%08x, but %s's difficulty rules require "
                               "0x%08x",
                               (unsigned long long)h->height, h->bits, btc_net_name(net), want);
                refuse(fl, h, err);
                break;
            }
            h->last_bits = btc_last_bits(h->height, h->bits, 1, pp.last_bits, net);
        }
    }
    free(stack);
    return rc;
}

/* ---------------- parallel parse, in-order apply ---------------- */

typedef struct slot {
    btc_block blk;
    uint8_t *buf;
    size_t buf_cap;
    int64_t seq; /* which path position this slot holds, -1 if none */
    int rc;
    util_err err;
} slot;

#define RING 64

typedef struct pipeline {
    const file_list *fl;
    const tree *t;
    const int64_t *path; /* header indexes in chain order */
    size_t n;
    btc_net net;
    uint64_t total_bytes; /* of the n blocks, for the ETA */
    unsigned parse_flags;
    slot ring[RING];
    pthread_mutex_t mu;
    pthread_cond_t ready, space;
    size_t next_parse, applied;
    int stop;
} pipeline;

static void parse_one(pipeline *pl, slot *sl, size_t i)
{
    const hdr *h = &pl->t->h[pl->path[i]];
    const btc_blockfile *bf = &pl->fl->files[h->file];
    const uint8_t *bytes = bf->map + h->off;
    sl->rc = 0;
    if (bf->xored) {
        if (sl->buf_cap < h->size) {
            free(sl->buf);
            sl->buf = malloc(h->size);
            sl->buf_cap = sl->buf ? h->size : 0;
            if (!sl->buf) {
                sl->rc = util_errf(&sl->err, UTIL_ENOMEM, "out of memory for a block");
                return;
            }
        }
        btc_blockfile_read(bf, h->off, sl->buf, h->size);
        bytes = sl->buf;
    }
    sl->rc = btc_parse_block(&sl->blk, bytes, h->size, pl->parse_flags, &sl->err);
    if (sl->rc)
        util_err_prefix(&sl->err, "%s: block at offset %llu", bf->path, (unsigned long long)h->off);
}

static void *parse_worker(void *arg)
{
    pipeline *pl = arg;
    pthread_mutex_lock(&pl->mu);
    while (!pl->stop && pl->next_parse < pl->n) {
        size_t i = pl->next_parse;
        if (i >= pl->applied + RING) {
            pthread_cond_wait(&pl->space, &pl->mu);
            continue;
        }
        pl->next_parse++;
        slot *sl = &pl->ring[i % RING];
        pthread_mutex_unlock(&pl->mu);
        parse_one(pl, sl, i);
        pthread_mutex_lock(&pl->mu);
        sl->seq = (int64_t)i;
        pthread_cond_broadcast(&pl->ready);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static void draw_progress(FILE *out, const ingest_result *r, size_t done, size_t total,
                          uint64_t total_bytes, double elapsed, int final)
{
    double bps = elapsed > 0 ? (double)done / elapsed : 0;
    double mbs = elapsed > 0 ? (double)r->bytes_added / elapsed / 1e6 : 0;
    /* Blocks grew a thousandfold over Bitcoin's history: estimate by bytes, not blocks. */
    double eta = mbs > 0 ? (double)(total_bytes - r->bytes_added) / 1e6 / mbs : 0;
    fprintf(out, "\r\033[Kimport: block %zu/%zu  %.0f blk/s  %.1f MB/s  %llu txs  ETA %.0fs%s",
            done, total, bps, mbs, (unsigned long long)r->txs_added, eta, final ? "\n" : "");
    fflush(out);
}

static int apply_path(store *s, pipeline *pl, const ingest_opts *o, ingest_result *r, util_err *err)
{
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    pthread_t tids[16];
    int started = 0;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, parse_worker, pl) == 0) started++;
    if (!started) return util_errf(err, UTIL_ENOMEM, "cannot start parser threads");
    double t0 = util_now(), last_commit = t0, last_draw = t0;
    int rc = 0;
    for (size_t i = 0; i < pl->n; i++) {
        slot *sl = &pl->ring[i % RING];
        double w0 = util_now();
        pthread_mutex_lock(&pl->mu);
        while (sl->seq != (int64_t)i)
            pthread_cond_wait(&pl->ready, &pl->mu);
        pthread_mutex_unlock(&pl->mu);
        double w1 = util_now();
        r->wait_seconds += w1 - w0;
        if (sl->rc) {
            *err = sl->err;
            rc = sl->rc;
            break;
        }
        const hdr *h = &pl->t->h[pl->path[i]];
        rc = store_append_block(s, &sl->blk, h->work, btc_subsidy(h->height, pl->net), err);
        r->append_seconds += util_now() - w1;
        if (rc) {
            util_err_prefix(err, "%s: block at offset %llu", pl->fl->files[h->file].path,
                            (unsigned long long)h->off);
            break;
        }
        r->blocks_added++;
        if (o->crash_after_blocks && r->blocks_added == o->crash_after_blocks) raise(SIGKILL);
        r->txs_added += sl->blk.n_tx;
        r->bytes_added += h->size;
        pthread_mutex_lock(&pl->mu);
        sl->seq = -1;
        pl->applied = i + 1;
        pthread_cond_broadcast(&pl->space);
        pthread_mutex_unlock(&pl->mu);
        double now = util_now();
        if (now - last_commit >= o->commit_seconds || store_batch_full(s)) {
            if ((rc = store_commit(s, err))) break;
            last_commit = util_now();
            r->commit_seconds += last_commit - now;
        }
        if (o->progress && now - last_draw >= 0.5) {
            draw_progress(o->progress, r, i + 1, pl->n, pl->total_bytes, now - t0, 0);
            last_draw = now;
        }
    }
    pthread_mutex_lock(&pl->mu);
    pl->stop = 1;
    pthread_cond_broadcast(&pl->space);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (!rc) {
        double c0 = util_now();
        rc = store_commit(s, err);
        r->commit_seconds += util_now() - c0;
    }
    if (o->progress && pl->n)
        draw_progress(o->progress, r, (size_t)r->blocks_added, pl->n, pl->total_bytes,
                      util_now() - t0, 1);
    return rc;
}

/* Parse path[0..] until the branch's work passes old_work. 0 or the first block's error. */
static int check_branch(const file_list *fl, const tree *t, const int64_t *path, size_t n,
                        unsigned __int128 old_work, const ingest_opts *o, util_err *err)
{
    pipeline one = {.fl = fl, .t = t, .path = path, .n = n};
    one.parse_flags = o->verify_merkle ? BTC_PARSE_VERIFY_MERKLE : 0;
    slot *sl = &one.ring[0];
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        parse_one(&one, sl, i);
        if ((rc = sl->rc)) *err = sl->err;
        if (t->h[path[i]].work > old_work) break;
    }
    btc_block_free(&sl->blk);
    free(sl->buf);
    return rc;
}

int ingest_run(store *s, const char *const *paths, int npaths, const ingest_opts *o,
               ingest_result *r, util_err *err)
{
    memset(r, 0, sizeof *r);
    double t0 = util_now();
    file_list fl = {0};
    tree t = {0};
    int64_t *path = NULL;
    pipeline *pl = NULL;
    int rc = 0;
    for (int i = 0; i < npaths && !rc; i++)
        rc = add_path(&fl, paths[i], err);
    r->files = fl.n;
    /* Every file's framing is checked before the store is touched. */
    if (!rc) rc = scan_files(&fl, &t, r, err);
    btc_net net = BTC_NET_UNKNOWN;
    if (!rc) rc = choose_network(s, &fl, &t, o, &net, err);
    r->network = net;
    if (!rc) rc = resolve_work(s, &fl, &t, net, err);
    r->scan_seconds = util_now() - t0;
    if (rc) goto done;
    r->headers_found = t.n;

    const store_totals *tot = store_get_totals(s);
    uint64_t tip_height = tot->blocks;
    unsigned __int128 tip_work = tip_height ? store_block_chainwork(s, tip_height - 1) : 0;
    int64_t best = -1;
    for (size_t k = 0; k < t.n; k++) {
        const hdr *h = &t.h[k];
        if (h->state == 3) r->orphan_blocks++;
        if (h->state == 2 && h->work > tip_work && (best < 0 || h->work > t.h[best].work))
            best = (int64_t)k;
    }
    size_t n = 0;
    int64_t fork = tip_height ? (int64_t)tip_height - 1 : -1; /* last kept store height */
    if (best >= 0) {
        for (int64_t c = best; c >= 0; c = t.h[c].parent)
            n++;
        path = malloc(n * sizeof *path);
        if (!path) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto done;
        }
        size_t i = n;
        int64_t c = best;
        for (; c >= 0; c = t.h[c].parent)
            path[--i] = c;
        const hdr *first = &t.h[path[0]];
        fork = first->parent == PARENT_STORE ? first->store_height : -1;
    }
    /* Stale: connected to the chain, but neither on the new branch nor already stored. */
    for (size_t k = 0; k < t.n; k++)
        r->stale_blocks += t.h[k].state == 2;
    r->stale_blocks -= n;
    if (best >= 0 && fork + 1 < (int64_t)tip_height) {
        /* Before cutting the store back, parse the new branch up to the block that makes it
         * heavier than the old tip: a corrupt block there must leave the old chain in place,
         * not a shorter one. (Reorganisations are short; this parses a few blocks twice.) */
        if ((rc = check_branch(&fl, &t, path, n, tip_work, o, err))) goto done;
        r->blocks_removed = tip_height - (uint64_t)(fork + 1);
        r->stale_blocks += r->blocks_removed;
        if ((rc = store_truncate_blocks(s, (uint64_t)(fork + 1), err))) goto done;
        if ((rc = store_commit(s, err))) goto done;
    }
    if (o->stop_after_blocks && n > o->stop_after_blocks) n = (size_t)o->stop_after_blocks;
    pl = calloc(1, sizeof *pl);
    if (!pl) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    pl->fl = &fl;
    pl->t = &t;
    pl->path = path;
    pl->n = n;
    pl->net = net;
    for (size_t i = 0; i < n; i++)
        pl->total_bytes += t.h[path[i]].size;
    pl->parse_flags = o->verify_merkle ? BTC_PARSE_VERIFY_MERKLE : 0;
    for (int i = 0; i < RING; i++)
        pl->ring[i].seq = -1;
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->ready, NULL);
    pthread_cond_init(&pl->space, NULL);
    rc = apply_path(s, pl, o, r, err);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->ready);
    pthread_cond_destroy(&pl->space);
    for (int i = 0; i < RING; i++) {
        btc_block_free(&pl->ring[i].blk);
        free(pl->ring[i].buf);
    }
done:
    r->height = store_get_totals(s)->blocks;
    r->seconds = util_now() - t0;
    free(pl);
    free(path);
    free(t.h);
    util_hmap_free(&t.map);
    for (size_t i = 0; i < fl.n; i++)
        btc_blockfile_close(&fl.files[i]);
    free(fl.files);
    return rc;
}
