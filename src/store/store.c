/* The store itself: its column files, the MANIFEST that commits them, opening (with crash
 * recovery), closing and committing. Indexes, the undo log, appends and reads live in the
 * store_*.c files beside it (shared declarations in store_int.h). */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t width;
} column_defs[NCOLS] = {
    [COL_BLK_HASH] = {"blk_hash", 32},
    [COL_BLK] = {"blk", sizeof(store_block_row)},
    [COL_TX_HASH] = {"tx_hash", 32},
    [COL_TX] = {"tx", STORE_TX_WIDTH},
    [COL_IN_PREV] = {"in_prev", STORE_ID_WIDTH},
    [COL_UNRES] = {"in_unresolved", sizeof(store_unresolved_row)},
    [COL_OUT_VALUE] = {"out_value", 8},
    [COL_OUT_ADDR] = {"out_addr", 4},
    [COL_OUT_TYPE] = {"out_type", 1},
    [COL_OUT_SPENT] = {"out_spent", STORE_ID_WIDTH},
    [COL_OUT_PREV_ADDR] = {"out_prev_addr", STORE_ID_WIDTH},
    [COL_ADDR_KEY] = {"addr_key", ADDR_ROW},
    [COL_ADDR_LAST] = {"addr_last", STORE_ID_WIDTH},
    [COL_ND] = {"nulldata", 16},
    [COL_ND_DATA] = {"nulldata_bytes", 1},
    [COL_ADDR_TAIL] = {"addr_key_tail", ADDR_TAIL},
};

/* ---------------- columns ---------------- */

static int column_open(store *s, column *c, int idx, util_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.col", s->dir, column_defs[idx].name);
    return colstore_col_open(c, path, c->width, COLSTORE_MAP | (s->writable ? COLSTORE_WRITE : 0),
                             0644, err);
}

/* ---------------- MANIFEST ---------------- */

/* The MANIFEST's text for totals t into b, its checksum into sum. */
static int manifest_text(store *s, const store_totals *t, util_buf *b, uint8_t sum[32],
                         util_err *err);

/* Write the MANIFEST text b (checksum sum) in place of the old one. */
static int manifest_put(store *s, util_buf *b, const uint8_t sum[32], util_err *err)
{
    memcpy(s->manifest_sum, sum, 32);
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    return util_replace_file(path, b->data, b->len, err);
}

static int manifest_write(store *s, const store_totals *t, util_err *err)
{
    util_buf b = {0};
    uint8_t sum[32];
    int rc = manifest_text(s, t, &b, sum, err);
    if (!rc) rc = manifest_put(s, &b, sum, err);
    util_buf_free(&b);
    return rc;
}

static int manifest_text(store *s, const store_totals *t, util_buf *bp, uint8_t sum[32],
                         util_err *err)
{
    util_buf b = {0};
    char hex[65];
    util_buf_printf(&b, "cointrail-store %d\nchain btc\n", STORE_FORMAT_VERSION);
    if (s->have_genesis) {
        util_hash_hex(hex, s->genesis);
        util_buf_printf(&b, "genesis %s\n", hex);
    }
    if (s->network[0]) util_buf_printf(&b, "network %s\n", s->network);
    if (t->blocks) {
        util_hash_hex(hex, store_block_hash(s, t->blocks - 1));
        util_buf_printf(&b, "tip %s\n", hex);
    }
    util_buf_printf(&b,
                    "blocks %llu\ntxs %llu\ninputs %llu\noutputs %llu\naddresses %llu\n"
                    "unresolved_inputs %llu\ntotal_output_value %lld\ntotal_fees %lld\n"
                    "utxo_count %llu\nutxo_value %lld\n",
                    (unsigned long long)t->blocks, (unsigned long long)t->txs,
                    (unsigned long long)t->inputs, (unsigned long long)t->outputs,
                    (unsigned long long)t->addresses, (unsigned long long)t->unresolved_inputs,
                    (long long)t->total_output_value, (long long)t->total_fees,
                    (unsigned long long)t->utxo_count, (long long)t->utxo_value);
    for (int i = 0; i < BTC_NSCRIPT_TYPES; i++)
        util_buf_printf(&b, "type %s %llu\n", btc_script_type_name(i),
                        (unsigned long long)t->outputs_by_type[i]);
    const char *names[NCOLS];
    uint64_t rows[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        names[i] = column_defs[i].name, rows[i] = s->cols[i].rows;
    util_buf_printf(&b, "rows");
    colstore_manifest_rows(&b, names, rows, NCOLS);
    util_buf_printf(&b, "\n");
    colstore_manifest_seal(&b, sum);
    if (!b.data) return util_errf(err, UTIL_ENOMEM, "out of memory writing MANIFEST");
    *bp = b;
    return 0;
}

static int manifest_read(store *s, uint64_t rows[NCOLS], util_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    text[len] = 0;
    rc = colstore_manifest_check(text, 0, NULL, s->manifest_sum);
    if (rc) {
        free(text);
        return util_errf(err, UTIL_ECORRUPT,
                         rc == UTIL_ENOTFOUND ? "%s: no checksum line"
                                              : "%s: checksum mismatch (file damaged)",
                         path);
    }
    store_totals *t = &s->committed;
    memset(t, 0, sizeof *t);
    int version = 0, lineno = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        char key[64], name[64], v[80];
        unsigned long long u;
        long long i;
        if (sscanf(line, "cointrail-store %d", &version) == 1) continue;
        if (sscanf(line, "genesis %64s", v) == 1) {
            if (util_hash_parse(s->genesis, v) == 0) s->have_genesis = 1;
        } else if (sscanf(line, "network %15s", s->network) == 1) {
        } else if (sscanf(line, "type %63s %llu", name, &u) == 2) {
            for (int k = 0; k < BTC_NSCRIPT_TYPES; k++)
                if (strcmp(name, btc_script_type_name(k)) == 0) t->outputs_by_type[k] = u;
        } else if (strncmp(line, "rows ", 5) == 0) {
            for (int c = 0; c < NCOLS; c++) {
                int at = colstore_manifest_row(line, line + strlen(line), column_defs[c].name,
                                               &rows[c]) == 0;
                if (!at && c == COL_ADDR_TAIL && version < 3) {
                    rows[c] = 0; /* not in formats 1 and 2: never opened */
                    continue;
                }
                if (!at && c >= COL_FIRST_V2) {
                    rows[c] = 0;
                    s->legacy = 1;
                    continue;
                }
                if (!at) {
                    free(text);
                    return util_errf(err, UTIL_ECORRUPT, "%s: no row count for column %s", path,
                                     column_defs[c].name);
                }
            }
        } else if (sscanf(line, "%63s %lld", key, &i) == 2) {
            if (!strcmp(key, "blocks"))
                t->blocks = (uint64_t)i;
            else if (!strcmp(key, "txs"))
                t->txs = (uint64_t)i;
            else if (!strcmp(key, "inputs"))
                t->inputs = (uint64_t)i;
            else if (!strcmp(key, "outputs"))
                t->outputs = (uint64_t)i;
            else if (!strcmp(key, "addresses"))
                t->addresses = (uint64_t)i;
            else if (!strcmp(key, "unresolved_inputs"))
                t->unresolved_inputs = (uint64_t)i;
            else if (!strcmp(key, "total_output_value"))
                t->total_output_value = i;
            else if (!strcmp(key, "total_fees"))
                t->total_fees = i;
            else if (!strcmp(key, "utxo_count"))
                t->utxo_count = (uint64_t)i;
            else if (!strcmp(key, "utxo_value"))
                t->utxo_value = i;
        }
    }
    free(text);
    s->format = version;
    /* Formats 1 to 3 have 40-byte tx rows, 1 and 2 also 8-byte id columns and whole btc_addr
     * address rows: read as they are (the width tells every accessor), never written
     * (store_open refuses a writer). */
    if (version < 4) s->cols[COL_TX].width = STORE_TX_WIDTH3;
    if (version < 3) {
        s->cols[COL_ADDR_KEY].width = sizeof(btc_addr);
        static const int ids[] = {COL_IN_PREV, COL_OUT_SPENT, COL_OUT_PREV_ADDR, COL_ADDR_LAST};
        for (size_t k = 0; k < sizeof ids / sizeof *ids; k++)
            s->cols[ids[k]].width = 8;
    }
    if (version == 1 && s->legacy) return 0; /* readable without payloads; writers refuse */
    if ((version == 2 || version == 3) && !s->legacy) return 0;
    if (version != STORE_FORMAT_VERSION || s->legacy)
        return util_errf(err, UTIL_ECORRUPT, "%s: format version %d, this build reads %d", path,
                         version, STORE_FORMAT_VERSION);
    return 0;
}

/* ---------------- open / close ---------------- */

/* Return to the committed state: roll back in-place changes of an uncommitted batch and cut
 * every column file to its committed length, so files hold exactly what the MANIFEST says. */
static int cut_back(store *s, util_err *err)
{
    for (int c = 0; c < NCOLS; c++)
        s->cols[c].rows = s->undo_base[c];
    store_undo_rollback(s);
    /* Index entries of rows past the commit: removed newest first (their keys are still in
     * the column files), or the table rebuilt if the batch had grown it. */
    const store_totals *c0 = &s->committed;
    store_hindex_remove(s, &s->txidx, 0, &store_txidx_ops, c0->txs,
                        s->cols[COL_TX_HASH].mapped / 32, 0);
    store_hindex_remove(s, &s->addridx, 1, &store_addridx_ops, c0->addresses,
                        s->cols[COL_ADDR_KEY].mapped / ADDR_ROW, 0);
    int rc;
    /* A reader that opened an earlier, longer state (before a reorganisation) may still read
     * rows past the new end: shrinking the file under its mapping would fault it. While any
     * reader holds READERS, longer files are left as they are; the rows past the MANIFEST are
     * never read and the next append overwrites them. */
    int readers = 0;
    char rpath[4200];
    snprintf(rpath, sizeof rpath, "%s/READERS", s->dir);
    int rfd = open(rpath, O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        readers = flock(rfd, LOCK_EX | LOCK_NB) < 0;
        close(rfd);
    }
    for (int c = 0; c < NCOLS; c++) {
        column *col = &s->cols[c];
        size_t keep = (size_t)col->rows * col->width;
        struct stat st;
        if (fstat(col->fd, &st) == 0 && ((size_t)st.st_size == keep ||
                                         ((readers || s->bulk_keep) && (size_t)st.st_size > keep)))
            continue;
        if ((rc = colstore_col_cut(col, col->rows, err))) return rc;
    }
    /* After the cut, which gives back the space of the batch's rows: a batch that failed for
     * want of space leaves room for the smaller table (it reads committed rows only). */
    if (s->txidx.cap != store_hindex_cap_for(c0->txs) &&
        (rc = store_hindex_build(s, &s->txidx, &store_txidx_ops, c0->txs, c0->txs, err)))
        return rc;
    if (s->addridx.cap != store_hindex_cap_for(c0->addresses) &&
        (rc = store_hindex_build(s, &s->addridx, &store_addridx_ops, c0->addresses, c0->addresses,
                                 err)))
        return rc;
    s->live = s->committed;
    msync(s->undo, sizeof(undo_hdr), MS_SYNC);
    return 0;
}

static int ensure_dir(const char *dir, util_err *err)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return util_errf(err, UTIL_EINVAL, "%s: not a directory", dir);
        return 0;
    }
    if (mkdir(dir, 0755) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", dir, strerror(errno));
    return 0;
}

int store_open(store **out, const char *dir, unsigned flags, util_err *err)
{
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->lock_fd = s->undo_fd = s->txidx.fd = s->addridx.fd = s->redo_fd = -1;
    s->format = STORE_FORMAT_VERSION; /* a new store's; an existing one's MANIFEST says */
    for (int c = 0; c < NCOLS; c++)
        s->cols[c].fd = -1, s->cols[c].width = column_defs[c].width;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->writable = (flags & STORE_WRITE) != 0;
    int rc = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    int exists = access(path, F_OK) == 0;
    if (!exists && !(flags & STORE_CREATE)) {
        free(s);
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: no cointrail store here (run cointrail import "
                         "--db %s first)",
                         dir, dir);
    }
    if (!exists && (rc = ensure_dir(dir, err))) goto fail;
    if (s->writable) {
        snprintf(path, sizeof path, "%s/LOCK", dir);
        char what[4200];
        snprintf(what, sizeof what, "%s: another cointrail process is writing this store", dir);
        if ((rc = colstore_lock(&s->lock_fd, path, 0644, 0, what, err))) goto fail;
        snprintf(path, sizeof path, "%s/READERS", dir);
        int r = open(path, O_RDONLY | O_CREAT, 0644);
        if (r >= 0) close(r);
        /* An index rebuild killed half way leaves its table (the size of the whole index),
         * a bulk import killed before its commit its temp files (store_bulk.c) and maybe a
         * half-written marker; nothing reads them, and holding the lock, this process is the
         * only one to write them. */
        static const char *const leftovers[] = {"txid.idx.new", "addr.idx.new",
                                                STORE_BULK_MARKER ".new"};
        for (size_t i = 0; i < sizeof leftovers / sizeof *leftovers; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, leftovers[i]);
            unlink(path);
        }
        /* unless its checkpoint says a resume may want them (kept until store_bulk_begin
         * judges it, below once the MANIFEST says the store is still empty) */
        snprintf(path, sizeof path, "%s/%s", dir, STORE_BULK_MARKER);
        s->bulk_keep = access(path, F_OK) == 0;
        for (int i = 0; i < STORE_BULK_TMP_FILES && !s->bulk_keep; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, store_bulk_tmp_names[i]);
            unlink(path);
        }
    } else {
        /* A shared lock for as long as this reader maps the columns: a writer does not shrink
         * column files under it (see cut_back). Without the file (a store written before it
         * existed) there is nothing to announce to. */
        snprintf(path, sizeof path, "%s/READERS", dir);
        s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->lock_fd >= 0) flock(s->lock_fd, LOCK_SH | LOCK_NB);
    }
    uint64_t rows[NCOLS] = {0};
    int clean = 1;
    if (exists && (rc = manifest_read(s, rows, err))) goto fail;
    if (s->bulk_keep && s->committed.blocks) {
        /* killed between the bulk import's commit and the marker's removal */
        s->bulk_keep = 0;
        snprintf(path, sizeof path, "%s/%s", dir, STORE_BULK_MARKER);
        unlink(path);
        for (int i = 0; i < STORE_BULK_TMP_FILES; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, store_bulk_tmp_names[i]);
            unlink(path);
        }
    }
    if (s->legacy && s->writable) {
        rc = util_errf(err, UTIL_EFORMAT,
                       "%s: store format 1 has no OP_RETURN payload columns; this cointrail "
                       "writes format %d: re-import the chain into a new --db directory (it can "
                       "still be read as is)",
                       dir, STORE_FORMAT_VERSION);
        goto fail;
    }
    if (exists && s->format == 2 && s->writable) {
        rc = util_errf(err, UTIL_EFORMAT,
                       "%s: store format 2 has 8-byte id columns; this cointrail writes format "
                       "%d (5-byte ids): re-import the chain into a new --db directory (it can "
                       "still be read as is)",
                       dir, STORE_FORMAT_VERSION);
        goto fail;
    }
    if (exists && s->format == 3 && s->writable) {
        rc = util_errf(err, UTIL_EFORMAT,
                       "%s: store format 3 has 40-byte tx rows; this cointrail writes format "
                       "%d (29-byte tx rows): re-import the chain into a new --db directory (it "
                       "can still be read as is)",
                       dir, STORE_FORMAT_VERSION);
        goto fail;
    }
    for (int c = 0; c < NCOLS; c++) {
        if ((s->legacy && c >= COL_FIRST_V2) || (c == COL_ADDR_TAIL && s->format < 3)) {
            continue;
        }
        if ((rc = column_open(s, &s->cols[c], c, err))) goto fail;
        column *col = &s->cols[c];
        struct stat st;
        fstat(col->fd, &st);
        size_t need = (size_t)rows[c] * col->width;
        if ((size_t)st.st_size < need) {
            rc = util_errf(err, UTIL_ECORRUPT, "%s: %lld bytes, MANIFEST says %zu", col->path,
                           (long long)st.st_size, need);
            goto fail;
        }
        col->rows = rows[c];
        if ((size_t)st.st_size != need) clean = 0;
        if ((rc = colstore_col_map_to(col, (size_t)st.st_size, err))) goto fail;
    }
    s->live = s->committed;
    s->opened_clean = clean;
    if (s->writable) {
        if ((rc = store_undo_open(s, err))) goto fail;
        /* A batch to roll back may have changed index slots: then the header's count is off. */
        if (s->undo->magic == UNDO_MAGIC && s->undo->count &&
            memcmp(s->undo->base, s->manifest_sum, 32) == 0)
            s->opened_clean = 0;
        for (int c = 0; c < NCOLS; c++)
            s->undo_base[c] = rows[c];
    }
    if ((rc = store_hindex_open(s, &s->txidx, "txid", &store_txidx_ops, s->live.txs, err)))
        goto fail;
    if ((rc = store_hindex_open(s, &s->addridx, "addr",
                                s->format < 3 ? &store_addridx_ops_v2 : &store_addridx_ops,
                                s->live.addresses, err)))
        goto fail;
    if (s->writable) {
        /* Committed changes the redo log holds that a crash may have kept from the files:
         * put back before the uncommitted batch is rolled back (both give committed values,
         * so the order does not matter), then made durable by the checkpoint below. */
        int applied_ix = 0;
        if ((rc = store_redo_open(s, &applied_ix, err))) goto fail;
        for (int w = 0; w < 2; w++) {
            hindex *x = w ? &s->addridx : &s->txidx;
            if (!(applied_ix & (1 << w))) continue;
            x->used = 0; /* the header's occupancy word may be older than the slots */
            for (uint64_t i = 0; i < x->cap; i++)
                x->used += x->slots[i] != 0;
        }
        s->redo_ready = 1;
        if ((rc = cut_back(s, err))) goto fail;
        store_hindex_note_used(&s->txidx);
        store_hindex_note_used(&s->addridx);
        if ((rc = store_redo_checkpoint(s, err))) goto fail;
    } else if ((rc = store_redo_check_reader(s, err))) {
        goto fail;
    }
    /* The block map is the writer's (ingest asks it for every header); a reader finds a
     * block by scanning the hash column instead of hashing all of it at open. */
    if (s->writable && store_blkmap_rebuild(s, s->live.blocks)) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory for the block map");
        goto fail;
    }
    if (!s->writable) {
        s->lazy = calloc(1, sizeof *s->lazy);
        if (!s->lazy) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            goto fail;
        }
        pthread_mutex_init(&s->lazy->mu, NULL);
        s->lazy->n_sample = (s->live.txs + TX_SAMPLE - 1) / TX_SAMPLE;
    }
    if (s->writable) {
        if (!exists && (rc = manifest_write(s, &s->committed, err))) goto fail;
        store_undo_start_batch(s);
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (!s) return;
    if (s->writable && s->undo && s->txidx.slots && s->addridx.slots && s->redo_ready &&
        cut_back(s, NULL) == 0) {
        store_hindex_note_used(&s->txidx);
        store_hindex_note_used(&s->addridx);
        /* A closed store has an empty redo log: every file holds its committed bytes. */
        store_redo_checkpoint(s, NULL);
    }
    store_redo_close(s);
    for (int c = 0; c < NCOLS; c++) {
        colstore_col_close(&s->cols[c]);
    }
    store_hindex_unmap(&s->txidx);
    store_hindex_unmap(&s->addridx);
    if (s->txidx.fd >= 0) close(s->txidx.fd);
    if (s->addridx.fd >= 0) close(s->addridx.fd);
    if (s->undo) munmap(s->undo, s->undo_mapped);
    if (s->undo_fd >= 0) close(s->undo_fd);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->blkmap);
    if (s->lazy) {
        free(atomic_load(&s->lazy->sample));
        pthread_mutex_destroy(&s->lazy->mu);
        free(s->lazy);
    }
    free(s->pf_scratch);
    free(s->nd_scratch);
    free(s);
}

const store_totals *store_get_totals(const store *s)
{
    return &s->committed;
}

/* ---------------- commit ---------------- */

int store_commit(store *s, util_err *err)
{
    if (!s->writable) return util_errf(err, UTIL_EINVAL, "store opened read-only");
    /* Columns and the redo log first, then the MANIFEST that points at them: a crash between
     * leaves the old MANIFEST, and the next open rolls the batch back. Only what changed since
     * the last commit is made durable (docs/formats.md, "Commits"): the rows appended past the
     * committed length (and, after a reorganisation, from its new end) are synced in sequence;
     * entries changed in place go to the redo log, or, when this commit is a checkpoint, their
     * pages since the last checkpoint are synced. */
    for (int c = 0; c < NCOLS; c++) {
        column *col = &s->cols[c];
        uint64_t lo = s->undo_base[c], hi = col->rows;
        if (s->dirty[c][1] > s->dirty[c][0] && s->dirty[c][0] < lo) lo = s->dirty[c][0];
        int rc =
            colstore_col_sync_range(col, (size_t)lo * col->width, (size_t)hi * col->width, err);
        if (rc) return rc;
    }
    store_hindex_note_used(&s->txidx);
    store_hindex_note_used(&s->addridx);
    util_buf b = {0};
    uint8_t sum[32];
    int rc = manifest_text(s, &s->live, &b, sum, err), checkpointed = 0;
    if (!rc) rc = store_redo_commit_group(s, sum, &checkpointed, err);
    if (!rc) rc = manifest_put(s, &b, sum, err);
    util_buf_free(&b);
    if (rc) return rc;
    for (int c = 0; c < NCOLS; c++)
        s->dirty[c][0] = s->dirty[c][1] = 0;
    s->committed = s->live;
    store_undo_start_batch(s);
    if (s->bulk_keep) { /* the commit holds what the checkpoint was kept for */
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", s->dir, STORE_BULK_MARKER);
        unlink(path);
        s->bulk_keep = 0;
        if ((rc = store_fsync_dir(s->dir, err))) return rc;
    }
    return 0;
}

int store_fsync_dir(const char *dir, util_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return util_errf(err, UTIL_EIO, "%s: cannot sync the directory: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

int store_bulk_forget(store *s, util_err *err)
{
    if (!s->bulk_keep) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s->dir, STORE_BULK_MARKER);
    unlink(path);
    s->bulk_keep = 0;
    int rc = store_fsync_dir(s->dir, err);
    for (int i = 0; i < STORE_BULK_TMP_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, store_bulk_tmp_names[i]);
        unlink(path);
    }
    for (int c = 0; c < NCOLS && !rc; c++)
        if (s->cols[c].fd >= 0) rc = colstore_col_cut(&s->cols[c], s->cols[c].rows, err);
    return rc;
}

int store_batch_full(const store *s)
{
    return s->undo && s->undo->count > UNDO_CAP_RECORDS / 2;
}
