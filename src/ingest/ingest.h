/* ingest: bring Bitcoin Core block files into a store. Scans the files for block headers,
 * builds the header tree, picks the most-work chain (stale blocks ignored), reorganises the
 * store if a heavier branch appeared, then parses and appends the new blocks in chain order,
 * with parsing spread over worker threads and commits at intervals. */
#ifndef CT_INGEST_H
#define CT_INGEST_H

#include <stdint.h>
#include <stdio.h>

#include "../store/store.h"
#include "../util/util.h"

/* Waits up to ms milliseconds (0: only looks) for fd (-1: none) to become readable or for a
 * request to stop; returns 1 to stop (e.g. SIGINT or SIGTERM arrived), else 0. */
typedef int (*ingest_wait_fn)(void *ctx, int fd, long ms);

typedef struct ingest_opts {
    int threads;                 /* parser threads; 0 = one per core */
    int verify_merkle;           /* recompute merkle roots (default on) */
    double commit_seconds;       /* commit at least this often (default 5 s) */
    FILE *progress;              /* where to draw progress (a terminal), or NULL for quiet */
    uint64_t stop_after_blocks;  /* 0 = all; for tests: import at most this many new blocks */
    uint64_t crash_after_blocks; /* test hook: SIGKILL itself after appending this many blocks,
                                    before their commit (0 = never) */
    btc_net network;     /* proof-of-work rules to apply; BTC_NET_UNKNOWN = the store's recorded
                            network, else the one its genesis block declares */
    ingest_wait_fn wait; /* NULL: never stop early; else asked between blocks (ms 0) whether to
                            stop, and by ingest_follow to wait for changes */
    void *wait_ctx;
    /* Bulk path (store_bulk_*): a first import into an empty store is built by sorting and
     * streaming, the same bytes as the incremental path gives, committed once at the end. A
     * non-empty store is always imported incrementally. */
    int bulk;
    uint64_t memory;                 /* the bulk path's sort budget in bytes (0: its default) */
    int bulk_crash_phase;            /* test hook: SIGKILL on entering that bulk phase (2: after the
                                        checkpoint; 3-7), 0 never */
    uint64_t bulk_checkpoint_blocks; /* test hook: a checkpoint every this many blocks of the
                                        block loop (0: by time) */
} ingest_opts;

typedef struct ingest_result {
    uint64_t files, bytes_scanned;
    uint64_t headers_found;  /* block records in the files (duplicates counted once) */
    uint64_t stale_blocks;   /* connected to the chain but not on the most-work branch */
    uint64_t orphan_blocks;  /* whose parent is nowhere: ignored */
    uint64_t blocks_removed; /* by a reorganisation */
    uint64_t blocks_added, txs_added, bytes_added;
    uint64_t height; /* blocks in the store afterwards */
    btc_net network; /* the rules applied */
    double seconds;
    /* Where the time went: scanning headers, waiting for parsed blocks, appending to the store,
     * committing. */
    double scan_seconds, wait_seconds, append_seconds, commit_seconds;
    int bulk; /* the bulk path filled the empty store (else block by block) */
    double bulk_seconds[STORE_BULK_PHASES]; /* the bulk path's finish, by phase */
    double bulk_blocks_seconds; /* the bulk path's block loop: parser start to the last block in */
    store_bulk_mem bulk_mem;    /* and its memory */
    int bulk_resumed; /* from a killed bulk import's checkpoint: 1 after the block loop (no block
                         parsed or added), 2 in it (the blocks after it added) */
    char bulk_note[1024]; /* that, or why a checkpoint found was not used; "" if neither */
    uint64_t commits;     /* store commits made */
    int stopped;          /* o->wait said stop: what was appended is committed, the rest not read */
} ingest_result;

void ingest_default_opts(ingest_opts *o);

/* Import from paths: each a directory (its blk?????.dat files in name order, and its xor.dat) or a
 * block file (with xor.dat beside it, if any). Errors name the file and byte offset; blocks applied
 * before the failure and already committed stay (a consistent prefix of the chain), the rest
 * of the batch is rolled back.
 *
 * Every header not yet in the store must meet its own target (at most the network's powLimit)
 * and, when it connects to the chain, carry the bits the network's difficulty rules require
 * (btc_next_bits); one that fails refuses the whole import, naming its file, offset and hash,
 * before the store is touched. The network is recorded in the store at the first import:
 * o->network, else what the genesis declares (btc_net_of_genesis); a genesis that declares
 * nothing is refused unless o->network names the rules. */
int ingest_run(store *s, const char *const *paths, int npaths, const ingest_opts *o,
               ingest_result *r, util_err *err);

/* ---- following a running node ---- */

/* One poll of ingest_follow that changed the store, reported when it is committed. */
typedef struct ingest_round {
    uint64_t height;                                  /* blocks in the store after it */
    uint64_t blocks_added, blocks_removed, txs_added; /* by this round */
    double unix_time;                                 /* wall clock when committed */
    double seconds;                                   /* from the change seen to the commit */
} ingest_round;

typedef struct ingest_follow_opts {
    long poll_ms;          /* look at the directory at least this often (0: 250); with inotify a
                              change is seen at once */
    double settle_seconds; /* a record at a file's end that still fails after its file has
                              been unchanged this long is reported (a warning; 0: 10) */
    void (*on_round)(void *ctx, const ingest_round *round); /* NULL or called per commit */
    void *round_ctx;
    FILE *log; /* warnings (records that stay incomplete), or NULL */
} ingest_follow_opts;

/* Keep the store current from dir, the blocks directory of a running Bitcoin Core node, until
 * o->wait says stop (required). Each poll reads what was appended since the last one (new
 * records, new blk files, xor.dat) and imports it as ingest_run does (out-of-order blocks,
 * reorganisations, proof of work), committing once per poll (and every o->commit_seconds while
 * catching up). A record the node is still writing (its frame, or its bytes, not all there yet:
 * at the end of its file with only zeros or the end of the file after it, and not a complete
 * block) is waited for, never an error. A record that is complete because more data follows it
 * (in its file, or the node has moved on to a later blk file) and is corrupt is an error naming
 * file and offset, as in ingest_run. Returns 0 after a stop (r->stopped set) with everything
 * appended committed. */
int ingest_follow(store *s, const char *dir, const ingest_opts *o, const ingest_follow_opts *fo,
                  ingest_result *r, util_err *err);

#endif
