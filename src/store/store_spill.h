/* External stable sort of fixed-size records for the bulk import (store_bulk.c; docs/
 * performance.md, "Bulk import"): records are pushed into a buffer of at most a budget's share;
 * a full buffer is sorted and written as a sorted run to the sorter's temp file in the store
 * directory; once sealed, the runs are merged (k-way, streaming) and read back in order. A
 * sorter whose records all fit its buffer never writes: its one run is read from memory, by
 * the same merge. The sort is stable (equal keys come out in push order: runs are made in
 * order and ties in the merge go to the earlier run), so the result is the one a stable sort
 * of the whole vector gives, whatever the budget. Internal to the store module. */
#ifndef CT_STORE_SPILL_H
#define CT_STORE_SPILL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

/* The heap count of several store_sort_mem used at once (one per thread of the bulk import's
 * finish): bytes held now and at most, over all of them. */
typedef struct store_sort_total {
    _Atomic uint64_t bytes, peak;
} store_sort_total;

/* What the sorters of one thread of a bulk import share: the sort buffer (one, grown to the
 * largest run, since a fresh buffer per sort would fault and zero its pages again), the largest
 * buffer given back (a freed sorter's record buffer, or the sort buffer once a sorter is
 * sealed: the next sorter starts in it, and a sort takes it for its buffer, for the same
 * reason), and the heap count. Not for two threads at once: each has its own, their counts
 * summed in total (NULL: none). The caller frees scratch and spare. */
typedef struct store_sort_mem {
    uint64_t *scratch;
    size_t scratch_words;
    uint64_t *spare;
    size_t spare_words;
    uint64_t bytes, peak; /* heap held by the sorters and the scratch, now and at most */
    store_sort_total *total;
} store_sort_mem;

typedef struct store_sort_run {
    uint64_t off, n; /* in records, in the temp file; the reader's position and what is left */
    uint64_t sum;    /* a spilled run's XXH3-64 as written (0 for a run merged from others) */
    uint64_t *buf;   /* the reader's buffer */
    size_t at, len;  /* position and records in buf */
} store_sort_run;

typedef struct store_sort {
    store_sort_mem *mem;
    int w, kw, bits; /* words per record, key word, key bits (0: uniform 64-bit hash) */
    size_t cap;      /* records the buffer may hold (the budget share) */
    uint64_t *buf;
    size_t n, bcap;
    char path[4200];
    int fd;
    uint64_t file_recs; /* records written to the file */
    store_sort_run *runs;
    size_t nruns, runs_cap;
    uint64_t total; /* records pushed */
    int sealed;
    size_t *heap; /* run indices, a binary min-heap on (key, run) while merging */
    size_t hn, heap_cap;
    uint64_t keep;     /* records at the file's start a checkpoint needs: never punched */
    int keep_file;     /* a checkpoint's: left for the caller to remove */
    uint64_t mem_left; /* the single in-memory run: next record */
    uint64_t rec[8];   /* the record last returned */
} store_sort;

/* path: the temp file (created at the first spill, removed by store_sort_free; init leaves a
 * file already there alone: the caller removes a stale one or restores from it). budget: bytes
 * the sorter may hold (buffer or merge buffers), at least STORE_SORT_MIN_BUDGET. bits: the key
 * word's significant bits, 0 if it is a uniform hash. */
enum { STORE_SORT_MIN_BUDGET = 64 * 1024 };
void store_sort_init(store_sort *ss, store_sort_mem *mem, const char *path, int w, int kw, int bits,
                     uint64_t budget);
/* push appends (past the budget's share if need be); check spills the buffer if it is full;
 * put is both. drop takes back the records pushed after the total-th, if no check came
 * between: a bulk import's block goes in whole or not at all. */
int store_sort_push(store_sort *ss, const uint64_t *rec, util_err *err);
int store_sort_check(store_sort *ss, util_err *err);
int store_sort_put(store_sort *ss, const uint64_t *rec, util_err *err);
void store_sort_drop(store_sort *ss, uint64_t total);
/* No more pushes: sorts the buffer, spills it if runs were spilled before, and readies the
 * merge. */
int store_sort_seal(store_sort *ss, util_err *err);
/* The next record in key order: 1 and *rec (valid until the next call), 0 at the end, or an
 * error (a read of the temp file failed). */
int store_sort_next(store_sort *ss, const uint64_t **rec, util_err *err);
void store_sort_free(store_sort *ss);
/* The sorter (not sealed) counted from now on in mem to, no longer in its own: it goes on in
 * another thread. */
void store_sort_move(store_sort *ss, store_sort_mem *to);
/* The scratch and the spare freed (their count taken back). */
void store_sort_mem_free(store_sort_mem *m);

/* A resumable bulk import's checkpoint (store_bulk.c, docs/formats.md "bulk-resume"): the runs
 * spilled so far, each with the XXH3-64 of its bytes taken as it was written, and the count of
 * records pushed since (the buffer, in push order: the caller makes them again on a resume, so
 * a checkpoint writes nothing). Later spills and merges write past the runs and punch no hole
 * in them; store_sort_free then leaves the file (the caller removes it once the checkpoint is
 * no longer needed). */
typedef struct store_sort_state {
    uint64_t total, tail, file_recs, nruns; /* records pushed, in the buffer, in the runs */
} store_sort_state;
void store_sort_checkpoint(store_sort *ss, store_sort_state *st);
/* The runs of the checkpoint, st->nruns of them. */
const store_sort_run *store_sort_runs(const store_sort *ss);
/* Back to the checkpoint st's runs, runs[i] = (offset, records, sum), on a sorter fresh from
 * init: the file must hold them with their sums (else UTIL_ECORRUPT naming it). The tail is
 * the caller's to push again (store_sort_push); total counts the runs' records until then. */
int store_sort_restore(store_sort *ss, const store_sort_state *st, const uint64_t *runs,
                       util_err *err);
/* Bits needed for values up to maxval (at least 1). */
int store_sort_bits(uint64_t maxval);

/* In-memory stable sorts of n records of w words by word kw (the scratch is grown as needed):
 * by its low bits, or (bits 0) a uniform 64-bit hash. */
int store_sort_vec(store_sort_mem *mem, uint64_t *a, size_t n, int w, int kw, int bits,
                   util_err *err);

#endif
