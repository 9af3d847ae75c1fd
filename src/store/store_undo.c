/* The undo log: the old value of every entry an open batch changes below the committed
 * length, written before the change, so a crashed batch can be rolled back at the next open. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------- undo log ---------------- */

/* Record an old value before it is overwritten. The record and then the count are stored
 * before the caller's change, in program order, so a process killed at any instruction leaves
 * a log that covers every change made. (target: a column, or NCOLS + 0/1 for index slots) */
void store_undo_log(store *s, uint64_t target, uint64_t index, uint64_t old)
{
    undo_rec *recs = (undo_rec *)(s->undo + 1);
    recs[s->undo->count] = (undo_rec){target, index, old};
    atomic_signal_fence(memory_order_seq_cst);
    s->undo->count++;
    atomic_signal_fence(memory_order_seq_cst);
}

/* Make room in the log file for n more records (callers reserve before changing anything,
 * so a full disk is an error before the first change, not a lost record after it). */
int store_undo_reserve(store *s, uint64_t n, util_err *err)
{
    if (s->undo->count + n > UNDO_CAP_RECORDS)
        return util_errf(err, UTIL_EINVAL, "undo log full: commit before changing more");
    size_t end = sizeof(undo_hdr) + (s->undo->count + n) * sizeof(undo_rec),
           want = s->undo_file_bytes < UNDO_INITIAL_BYTES ? UNDO_INITIAL_BYTES : s->undo_file_bytes;
    while (want < end)
        want *= 2;
    if (want > s->undo_mapped) want = s->undo_mapped;
    if (want > s->undo_file_bytes) {
        /* Records are written through the mapping: allocated, not a hole (see file_grow). */
        char path[4200];
        snprintf(path, sizeof path, "%s/undo.log", s->dir);
        int rc = colstore_file_grow(s->undo_fd, path, s->undo_file_bytes, want, err);
        if (rc) return rc;
        s->undo_file_bytes = want;
    }
    return 0;
}

/* Write an entry of a mutable id column (store_id_put's width); below the committed length
 * the old value, as a u64, goes to the undo log first. */
void store_col_set_u64(store *s, int col, uint64_t row, uint64_t value)
{
    if (row < s->undo_base[col]) store_undo_log(s, (uint64_t)col, row, store_id_get(s, col, row));
    store_id_put(s, col, row, value);
    store_dirty_row(s, col, row);
}

int store_undo_open(store *s, util_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/undo.log", s->dir);
    s->undo_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (s->undo_fd < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(s->undo_fd, &st) < 0)
        return util_errf(err, UTIL_EIO, "%s: cannot stat: %s", path, strerror(errno));
    int rc;
    if ((size_t)st.st_size < UNDO_INITIAL_BYTES &&
        (rc = colstore_file_grow(s->undo_fd, path, (size_t)st.st_size, UNDO_INITIAL_BYTES, err)))
        return rc;
    s->undo_file_bytes =
        (size_t)st.st_size < UNDO_INITIAL_BYTES ? UNDO_INITIAL_BYTES : (size_t)st.st_size;
    /* Map the whole capacity once; the file grows under the mapping as records arrive. */
    size_t bytes = sizeof(undo_hdr) + UNDO_CAP_RECORDS * sizeof(undo_rec);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, s->undo_fd, 0);
    if (m == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map: %s", path, strerror(errno));
    s->undo = m;
    s->undo_mapped = bytes;
    return 0;
}

/* Start a batch on top of the committed MANIFEST, clearing the previous batch's records so
 * the log's bytes depend only on the committed state. */
void store_undo_start_batch(store *s)
{
    for (int c = 0; c < NCOLS; c++)
        s->undo_base[c] = s->cols[c].rows;
    /* Empty the log: count first (a crash after it leaves nothing to replay), then cut the
     * records away, so the file's bytes depend only on the committed state. */
    s->undo->count = 0;
    atomic_signal_fence(memory_order_seq_cst);
    /* Allocated again, not a hole: records go through the mapping (see file_grow). If the
     * disk is full the log stays short and store_undo_reserve reports it before any change. */
    char path[4200];
    snprintf(path, sizeof path, "%s/undo.log", s->dir);
    if (ftruncate(s->undo_fd, sizeof(undo_hdr)) == 0) {
        s->undo_file_bytes = sizeof(undo_hdr);
        if (colstore_file_grow(s->undo_fd, path, sizeof(undo_hdr), UNDO_INITIAL_BYTES, NULL) == 0)
            s->undo_file_bytes = UNDO_INITIAL_BYTES;
    }
    s->undo->magic = UNDO_MAGIC;
    memcpy(s->undo->base, s->manifest_sum, 32);
}

/* Put back the old values of records [mark, count), newest first, and drop them. */
void store_undo_replay(store *s, uint64_t mark)
{
    undo_rec *recs = (undo_rec *)(s->undo + 1);
    for (uint64_t i = s->undo->count; i-- > mark;) {
        uint64_t target = recs[i].col;
        if (target == NCOLS || target == NCOLS + 1) {
            hindex *x = target == NCOLS ? &s->txidx : &s->addridx;
            /* Slot numbers hold for the table the batch started with; a batch that grew the
             * table gets it rebuilt by cut_back instead. */
            if (x->slots && recs[i].index < x->cap) {
                if (!x->slots[recs[i].index] && recs[i].old) x->used++;
                x->slots[recs[i].index] = recs[i].old;
                store_redo_note(s, (int)target, recs[i].index);
            }
        } else if (target < NCOLS && store_id_col(s, (int)target) &&
                   (recs[i].index + 1) * s->cols[target].width <= s->cols[target].mapped) {
            store_id_put(s, (int)target, recs[i].index, recs[i].old);
            store_dirty_row(s, (int)target, recs[i].index);
        }
        recs[i] = (undo_rec){0, 0, 0};
    }
    s->undo->count = mark;
}

/* Roll back a batch that never committed (its base is still the committed MANIFEST). A
 * committed batch's records are simply dropped. */
void store_undo_rollback(store *s)
{
    if (s->undo->magic == UNDO_MAGIC && memcmp(s->undo->base, s->manifest_sum, 32) == 0 &&
        s->undo->count <= UNDO_CAP_RECORDS)
        store_undo_replay(s, 0);
    else if (s->undo->magic != UNDO_MAGIC || s->undo->count > UNDO_CAP_RECORDS)
        s->undo->count = 0;
    store_undo_start_batch(s);
}
