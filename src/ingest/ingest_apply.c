/* ingest: importing the chosen branch: the reorganisation when it forks below the tip, then
 * parsing spread over worker threads and appending in chain order, with commits at intervals
 * (ingest_commit, the one place every committed batch passes). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../btc/btc.h"
#include "../crypto/crypto.h"
#include "ingest_int.h"

int ingest_commit(store *s, const ingest_opts *o, ingest_result *r, util_err *err)
{
    (void)o;
    double c0 = util_now();
    int rc = store_commit(s, err);
    r->commit_seconds += util_now() - c0;
    if (!rc) r->commits++;
    return rc;
}

/* ---------------- parallel parse, in-order apply ---------------- */

typedef struct slot {
    btc_block blk;
    store_bulk_prep prep; /* the bulk path's share of the work, done on the parser thread */
    uint8_t *buf;
    size_t buf_cap;
    int64_t seq; /* which path position this slot holds, -1 if none */
    int rc;
    util_err err;
} slot;

#define RING 64
#define COMMIT_GAP_FACTOR 4.0        /* see the commit in apply_path */
#define BULK_CHECKPOINT_SECONDS 30.0 /* see the bulk checkpoint in apply_path */
#define BULK_CHECKPOINT_FACTOR 20.0

typedef struct pipeline {
    const file_list *fl;
    const tree *t;
    const int64_t *path; /* header indexes in chain order */
    size_t n;
    btc_net net;
    uint64_t total_bytes; /* of the n blocks, for the ETA */
    unsigned parse_flags;
    int bulk_prep;  /* parsers also make each block's store_bulk_prep */
    store_bulk *pf; /* the bulk import whose pages the parsers populate between blocks */
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
    /* A followed node can rewrite a file's end after a crash of its own: never append other
     * bytes than those whose header was chosen. */
    if (!sl->rc && memcmp(sl->blk.hdr.hash, h->hash, 32))
        sl->rc = util_errf(&sl->err, UTIL_EFORMAT,
                           "the record changed since its header was read (rewritten?)");
    if (!sl->rc && pl->bulk_prep) sl->rc = store_bulk_prepare(&sl->prep, &sl->blk, &sl->err);
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
            /* ahead of the appending thread: take some of its work (store_bulk_assist) */
            if (pl->pf) {
                pthread_mutex_unlock(&pl->mu);
                int did = store_bulk_assist(pl->pf);
                pthread_mutex_lock(&pl->mu);
                /* what changed while unlocked is seen again, not waited for */
                if (did || pl->stop || i < pl->applied + RING) continue;
            }
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
        if (pl->pf) {
            pthread_mutex_unlock(&pl->mu);
            store_bulk_assist(pl->pf);
            pthread_mutex_lock(&pl->mu);
        }
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

/* Parse pl's blocks on worker threads and append them in order, committing every
 * o->commit_seconds (or when the batch is full) and at the end: always_commit commits even when
 * nothing was appended (a first import records the network), else an empty run leaves the
 * MANIFEST alone (readers watching it see no change). o->wait is asked between blocks whether
 * to stop (r->stopped): what was appended is then committed. */
/* The header scan and the parsers read the blk files through private read-only mappings:
 * every page read stays in the process's resident set until unmapped, the whole chain by the
 * end. The bulk path, whose memory is bounded (--memory), takes them out of the mappings
 * every so often (they stay in the page cache and come back on the next read). */
static void drop_blk_pages(const file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        if (fl->files[i].map) madvise((void *)fl->files[i].map, fl->files[i].size, MADV_DONTNEED);
}

static int apply_path(store *s, pipeline *pl, const ingest_opts *o, int always_commit,
                      store_bulk *bulk, ingest_result *r, util_err *err)
{
    uint64_t since_drop = 0, drop_every = (o->memory ? o->memory : store_bulk_default_memory()) / 4;
    if (bulk) drop_blk_pages(pl->fl); /* read by the header scan */
    /* resumed from its checkpoint after the block loop: the blocks are in, nothing to parse;
     * in the loop: parsing goes on at the block after the checkpoint's */
    int resumed = store_bulk_resumed(bulk) == 1;
    size_t start = store_bulk_resumed(bulk) == 2 ? (size_t)store_bulk_blocks(bulk) : 0;
    if (start > pl->n) start = pl->n;
    pl->next_parse = pl->applied = start;
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    if (resumed) threads = 0;
    if (bulk && !resumed && threads > 0) {
        store_bulk_assist_begin(bulk);
        pl->pf = bulk;
    }
    pthread_t tids[16];
    int started = 0;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, parse_worker, pl) == 0) started++;
    if (!started && !resumed) {
        store_bulk_assist_end(pl->pf);
        pl->pf = NULL;
        return util_errf(err, UTIL_ENOMEM, "cannot start parser threads");
    }
    double t0 = util_now(), last_commit = t0, last_draw = t0, last_look = t0, commit_cost = 0;
    double last_ckpt = t0, ckpt_cost = 0;
    int rc = 0;
    size_t uncommitted = 0;
    for (size_t i = start; i < pl->n && !resumed; i++) {
        slot *sl = &pl->ring[i % RING];
        double w0 = util_now();
        pthread_mutex_lock(&pl->mu);
        while (sl->seq != (int64_t)i) {
            if (pl->pf) { /* waiting for the parsers: take back some of their share */
                pthread_mutex_unlock(&pl->mu);
                int did = store_bulk_assist(pl->pf);
                pthread_mutex_lock(&pl->mu);
                if (did || sl->seq == (int64_t)i) continue;
            }
            pthread_cond_wait(&pl->ready, &pl->mu);
        }
        pthread_mutex_unlock(&pl->mu);
        double w1 = util_now();
        r->wait_seconds += w1 - w0;
        if (sl->rc) {
            *err = sl->err;
            rc = sl->rc;
            break;
        }
        const hdr *h = &pl->t->h[pl->path[i]];
        int64_t subsidy = btc_subsidy(h->height, pl->net);
        rc = bulk ? store_bulk_add_prepared(bulk, &sl->blk, pl->bulk_prep ? &sl->prep : NULL,
                                            h->work, subsidy, err)
                  : store_append_block(s, &sl->blk, h->work, subsidy, err);
        r->append_seconds += util_now() - w1;
        if (rc) {
            util_err_prefix(err, "%s: block at offset %llu", pl->fl->files[h->file].path,
                            (unsigned long long)h->off);
            break;
        }
        r->blocks_added++;
        if (o->crash_after_blocks && r->blocks_added == o->crash_after_blocks) raise(SIGKILL);
        /* A checkpoint in the block loop, so that a kill there loses at most the blocks since:
         * every BULK_CHECKPOINT_SECONDS, stretched to BULK_CHECKPOINT_FACTOR times the last
         * one's cost (it sums the rows added since and rewrites the marker), or every
         * o->bulk_checkpoint_blocks blocks (tests). */
        if (bulk) {
            double now = util_now(), every = BULK_CHECKPOINT_SECONDS;
            if (every < BULK_CHECKPOINT_FACTOR * ckpt_cost)
                every = BULK_CHECKPOINT_FACTOR * ckpt_cost;
            if (o->bulk_checkpoint_blocks ? r->blocks_added % o->bulk_checkpoint_blocks == 0
                                          : now - last_ckpt >= every) {
                if ((rc = store_bulk_checkpoint(bulk, 0, err))) break;
                last_ckpt = util_now();
                ckpt_cost = last_ckpt - now;
            }
        }
        r->txs_added += sl->blk.n_tx;
        r->bytes_added += h->size;
        if (bulk && (since_drop += h->size) >= drop_every) {
            drop_blk_pages(pl->fl);
            since_drop = 0;
        }
        pthread_mutex_lock(&pl->mu);
        sl->seq = -1;
        pl->applied = i + 1;
        pthread_cond_broadcast(&pl->space);
        pthread_mutex_unlock(&pl->mu);
        uncommitted++;
        double now = util_now();
        /* A commit writes the pages changed since the last one; on a large store the random
         * ones (index slots, spent marks, address heads) approach all of them, so a fixed
         * interval would let committing grow to most of the import. The gap is stretched to
         * COMMIT_GAP_FACTOR times the last commit's cost: committing stays under 1 / (1 +
         * factor) of the time at any size. 0 still means every block. */
        double gap = o->commit_seconds;
        if (gap > 0 && gap < COMMIT_GAP_FACTOR * commit_cost) gap = COMMIT_GAP_FACTOR * commit_cost;
        if (!bulk && (now - last_commit >= gap || store_batch_full(s))) {
            if ((rc = ingest_commit(s, o, r, err))) break;
            last_commit = util_now();
            commit_cost = last_commit - now;
            uncommitted = 0;
        }
        if (o->progress && now - last_draw >= 0.5) {
            draw_progress(o->progress, r, i + 1, pl->n, pl->total_bytes, now - t0, 0);
            last_draw = now;
        }
        /* A signal stops a long catch-up between blocks, not only between polls. */
        if (o->wait && now - last_look >= 0.05) {
            last_look = now;
            if (o->wait(o->wait_ctx, -1, 0)) {
                r->stopped = 1;
                break;
            }
        }
    }
    pthread_mutex_lock(&pl->mu);
    pl->stop = 1;
    pthread_cond_broadcast(&pl->space);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (pl->pf) store_bulk_assist_end(pl->pf);
    pl->pf = NULL;
    if (bulk && !resumed) r->bulk_blocks_seconds = util_now() - t0;
    /* every block in: made durable, so that a kill from here on resumes at this point */
    if (bulk && !rc && !resumed && !r->stopped) rc = store_bulk_checkpoint(bulk, 1, err);
    if (bulk && (!rc || r->blocks_added)) {
        /* The store is empty and the path starts at genesis: height i is path position i.
         * A block that failed to parse (or to go in) ends the blocks before it, which the
         * incremental path would have appended first: a fault among them is the error it
         * reports, so it is the one reported here. Nothing is committed after an error. */
        double f0 = util_now();
        uint64_t bad = UINT64_MAX;
        util_err first = *err;
        int first_rc = rc;
        rc = store_bulk_finish(bulk, &bad, err);
        r->append_seconds += util_now() - f0;
        store_bulk_phase_seconds(bulk, r->bulk_seconds);
        store_bulk_memory(bulk, &r->bulk_mem);
        if (rc && bad < pl->n) {
            const hdr *h = &pl->t->h[pl->path[bad]];
            util_err_prefix(err, "%s: block at offset %llu", pl->fl->files[h->file].path,
                            (unsigned long long)h->off);
        }
        /* only a fault of the chain takes the place of the first error (not, say, the
         * full disk that stopped the appends failing again) */
        if (first_rc && (!rc || bad >= pl->n)) rc = first_rc, *err = first;
        uncommitted = 1;
    }
    if (!rc && (uncommitted || always_commit)) rc = ingest_commit(s, o, r, err);
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

/* What a bulk import's checkpoint must match to be resumed: the branch (each block's hash
 * and place in the files), the rules, and the files (path, size, modification time). */
static void chain_digest(const file_list *fl, const tree *t, const int64_t *path, size_t n,
                         btc_net net, const ingest_opts *o, uint8_t out[32])
{
    crypto_sha256_ctx c;
    crypto_sha256_init(&c);
    uint64_t head[3] = {n, (uint64_t)net, (uint64_t)o->verify_merkle};
    crypto_sha256_update(&c, head, sizeof head);
    for (size_t i = 0; i < fl->n; i++) {
        struct stat st;
        uint64_t id[3] = {fl->files[i].size, 0, 0};
        if (stat(fl->files[i].path, &st) == 0)
            id[1] = (uint64_t)st.st_mtim.tv_sec, id[2] = (uint64_t)st.st_mtim.tv_nsec;
        crypto_sha256_update(&c, fl->files[i].path, strlen(fl->files[i].path) + 1);
        crypto_sha256_update(&c, id, sizeof id);
    }
    for (size_t i = 0; i < n; i++) {
        const hdr *h = &t->h[path[i]];
        uint64_t at[2] = {h->file, h->off};
        crypto_sha256_update(&c, h->hash, 32);
        crypto_sha256_update(&c, at, sizeof at);
    }
    crypto_sha256_final(&c, out);
}

/* Import the most-work connected branch (see ingest_int.h). */
int ingest_apply_best(store *s, const file_list *fl, const tree *t, btc_net net,
                      const ingest_opts *o, int always_commit, ingest_result *r, util_err *err)
{
    int64_t *path = NULL;
    pipeline *pl = NULL;
    int rc = 0;
    const store_totals *tot = store_get_totals(s);
    uint64_t tip_height = tot->blocks;
    unsigned __int128 tip_work = tip_height ? store_block_chainwork(s, tip_height - 1) : 0;
    int64_t best = -1;
    for (size_t k = 0; k < t->n; k++) {
        const hdr *h = &t->h[k];
        if (h->state == HDR_ORPHAN) r->orphan_blocks++;
        if (h->state == HDR_CONNECTED && h->work > tip_work &&
            (best < 0 || h->work > t->h[best].work))
            best = (int64_t)k;
    }
    size_t n = 0;
    int64_t fork = tip_height ? (int64_t)tip_height - 1 : -1; /* last kept store height */
    if (best >= 0) {
        for (int64_t c = best; c >= 0; c = t->h[c].parent)
            n++;
        path = malloc(n * sizeof *path);
        if (!path) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto done;
        }
        size_t i = n;
        int64_t c = best;
        for (; c >= 0; c = t->h[c].parent)
            path[--i] = c;
        const hdr *first = &t->h[path[0]];
        fork = first->parent == PARENT_STORE ? first->store_height : -1;
    }
    /* Stale: connected to the chain, but neither on the new branch nor already stored. */
    for (size_t k = 0; k < t->n; k++)
        r->stale_blocks += t->h[k].state == HDR_CONNECTED;
    r->stale_blocks -= n;
    if (best >= 0 && fork + 1 < (int64_t)tip_height) {
        /* Before cutting the store back, parse the new branch up to the block that makes it
         * heavier than the old tip: a corrupt block there must leave the old chain in place,
         * not a shorter one. (Reorganisations are short; this parses a few blocks twice.) */
        if ((rc = check_branch(fl, t, path, n, tip_work, o, err))) goto done;
        uint64_t removed = tip_height - (uint64_t)(fork + 1);
        r->blocks_removed += removed;
        r->stale_blocks += removed;
        if ((rc = store_truncate_blocks(s, (uint64_t)(fork + 1), err))) goto done;
        if ((rc = ingest_commit(s, o, r, err))) goto done;
    }
    if (o->stop_after_blocks && n > o->stop_after_blocks) n = (size_t)o->stop_after_blocks;
    pl = calloc(1, sizeof *pl);
    if (!pl) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    pl->fl = fl;
    pl->t = t;
    pl->path = path;
    pl->n = n;
    pl->net = net;
    for (size_t i = 0; i < n; i++)
        pl->total_bytes += t->h[path[i]].size;
    pl->parse_flags = o->verify_merkle ? BTC_PARSE_VERIFY_MERKLE : 0;
    for (int i = 0; i < RING; i++)
        pl->ring[i].seq = -1;
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->ready, NULL);
    pthread_cond_init(&pl->space, NULL);
    store_bulk *bulk = NULL;
    /* The bulk path fills an empty store from genesis; anything else (a catch-up, a
     * reorganisation) goes block by block. */
    if (o->bulk && tip_height == 0 && n > 0) {
        uint8_t chain[32];
        chain_digest(fl, t, path, n, net, o, chain);
        rc = store_bulk_begin(s, o->memory, o->bulk_crash_phase, chain, &bulk, err);
        r->bulk_resumed = store_bulk_resumed(bulk);
        const char *note = store_bulk_note(bulk);
        if (note) snprintf(r->bulk_note, sizeof r->bulk_note, "%s", note);
    }
    r->bulk = bulk != NULL;
    pl->bulk_prep = bulk != NULL;
    if (!rc) rc = apply_path(s, pl, o, always_commit, bulk, r, err);
    store_bulk_free(bulk);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->ready);
    pthread_cond_destroy(&pl->space);
    for (int i = 0; i < RING; i++) {
        btc_block_free(&pl->ring[i].blk);
        store_bulk_prep_free(&pl->ring[i].prep);
        free(pl->ring[i].buf);
    }
done:
    free(pl);
    free(path);
    return rc;
}
