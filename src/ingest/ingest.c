#include "ingest_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../btc/btc.h"

void ingest_default_opts(ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->verify_merkle = 1;
    o->commit_seconds = 5.0;
}

/* ---------------- inputs: files ---------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ingest_add_file(file_list *fl, const char *path, const char *xor_dir, util_err *err)
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

int ingest_add_path(file_list *fl, const char *path, util_err *err)
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
        return ingest_add_file(fl, path, dir, err);
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
            rc = ingest_add_file(fl, full, path, err);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---------------- the header tree ---------------- */

int64_t ingest_tree_find(const tree *t, const uint8_t hash[32])
{
    uint64_t key = util_le64(hash);
    for (size_t j = util_hmap_first(&t->map, key); j != SIZE_MAX;
         j = util_hmap_next(&t->map, key, j))
        if (memcmp(t->h[t->map.vals[j]].hash, hash, 32) == 0) return (int64_t)t->map.vals[j];
    return -1;
}

int ingest_tree_add(tree *t, const uint8_t raw[80], uint32_t file, uint64_t off, uint32_t size,
                    util_err *err)
{
    btc_header bh;
    btc_parse_header(&bh, raw);
    if (ingest_tree_find(t, bh.hash) >= 0) return 0; /* the same block twice: keep the first */
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        hdr *p = realloc(t->h, cap * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory for headers");
        t->h = p;
        t->cap = cap;
    }
    hdr *h = &t->h[t->n];
    memset(h, 0, sizeof *h);
    memcpy(h->hash, bh.hash, 32);
    memcpy(h->prev, bh.prev, 32);
    h->bits = bh.bits;
    h->time = bh.time;
    h->file = file;
    h->off = off;
    h->size = size;
    if (util_hmap_add(&t->map, util_le64(h->hash), t->n))
        return util_errf(err, UTIL_ENOMEM, "out of memory for the header map");
    t->n++;
    return 1;
}

void ingest_tree_free(tree *t)
{
    free(t->h);
    util_hmap_free(&t->map);
    memset(t, 0, sizeof *t);
}

void ingest_files_free(file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        btc_blockfile_close(&fl->files[i]);
    free(fl->files);
    memset(fl, 0, sizeof *fl);
}

/* Every file's framing is checked (an error names file and offset) and every record's header
 * goes into the tree. */
static int scan_files(const file_list *fl, tree *t, ingest_result *r, util_err *err)
{
    for (size_t f = 0; f < fl->n; f++) {
        const btc_blockfile *bf = &fl->files[f];
        size_t off = 0, boff, bsize;
        int rc;
        while ((rc = btc_blockfile_next(bf, &off, &boff, &bsize, err)) == 1) {
            uint8_t raw[80];
            btc_blockfile_read(bf, boff, raw, 80);
            if ((rc = ingest_tree_add(t, raw, (uint32_t)f, boff, (uint32_t)bsize, err)) < 0)
                return rc;
        }
        if (rc < 0) return rc;
        r->bytes_scanned += bf->size;
    }
    return 0;
}

/* Which rules apply: the store's recorded network; else o->network; else what the genesis
 * declares (the store's block 0, or with an empty store a genesis header in the files). */
int ingest_choose_network(store *s, const file_list *fl, const tree *t, const ingest_opts *o,
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
int ingest_resolve_work(store *s, const file_list *fl, tree *t, btc_net net, util_err *err)
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
        while (t->h[cur].state == HDR_UNRESOLVED) {
            hdr *h = &t->h[cur];
            int64_t own = store_find_block(s, h->hash);
            if (own >= 0) {
                h->state = HDR_STORED;
                h->store_height = own;
                h->height = (uint64_t)own;
                h->work = store_block_chainwork(s, (uint64_t)own);
                break;
            }
            h->state = HDR_RESOLVING;
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
            int64_t p = ingest_tree_find(t, h->prev);
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
                ok = p->state == HDR_CONNECTED || p->state == HDR_STORED;
                base = p->work;
            }
            h->state = ok ? HDR_CONNECTED : HDR_ORPHAN;
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

int ingest_run(store *s, const char *const *paths, int npaths, const ingest_opts *o,
               ingest_result *r, util_err *err)
{
    memset(r, 0, sizeof *r);
    double t0 = util_now();
    file_list fl = {0};
    tree t = {0};
    int rc = 0;
    for (int i = 0; i < npaths && !rc; i++)
        rc = ingest_add_path(&fl, paths[i], err);
    r->files = fl.n;
    /* Every file's framing is checked before the store is touched. */
    if (!rc) rc = scan_files(&fl, &t, r, err);
    btc_net net = BTC_NET_UNKNOWN;
    if (!rc) rc = ingest_choose_network(s, &fl, &t, o, &net, err);
    r->network = net;
    if (!rc) rc = ingest_resolve_work(s, &fl, &t, net, err);
    r->scan_seconds = util_now() - t0;
    r->headers_found = t.n;
    if (!rc) rc = ingest_apply_best(s, &fl, &t, net, o, 1, r, err);
    r->height = store_get_totals(s)->blocks;
    r->seconds = util_now() - t0;
    ingest_tree_free(&t);
    ingest_files_free(&fl);
    return rc;
}
