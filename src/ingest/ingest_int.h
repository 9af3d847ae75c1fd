/* ingest: what the module's files share (ingest.c: files, the header tree, proof of work;
 * ingest_apply.c: choosing the branch, reorganising, parsing and appending, committing;
 * ingest_follow.c: following a running node's blocks directory). Not part of the interface. */
#ifndef CT_INGEST_INT_H
#define CT_INGEST_INT_H

#include "../util/util_hmap.h"
#include "ingest.h"

typedef struct file_list {
    btc_blockfile *files;
    size_t n, cap;
} file_list;

/* Add one block file, de-obfuscated with xor_dir/xor.dat if there is one. */
int ingest_add_file(file_list *fl, const char *path, const char *xor_dir, util_err *err);
/* Add a path: a directory (its blk?????.dat files in name order) or one block file. */
int ingest_add_path(file_list *fl, const char *path, util_err *err);
void ingest_files_free(file_list *fl);

enum { PARENT_NONE = -1, PARENT_GENESIS = -2, PARENT_STORE = -3 };
enum { HDR_UNRESOLVED, HDR_RESOLVING, HDR_CONNECTED, HDR_ORPHAN, HDR_STORED };

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
    uint8_t state;          /* HDR_* */
} hdr;

typedef struct tree {
    hdr *h;
    size_t n, cap;
    util_hmap map; /* util_le64(hash) -> index; the caller compares the whole hash */
} tree;

int64_t ingest_tree_find(const tree *t, const uint8_t hash[32]);
/* Append the header of the record at (file, off, size) whose 80 header bytes are raw, unless a
 * header of that hash is there already. 1 added, 0 a duplicate, or UTIL_ENOMEM. The map must
 * be current (ingest_tree_add keeps it so). */
int ingest_tree_add(tree *t, const uint8_t raw[80], uint32_t file, uint64_t off, uint32_t size,
                    util_err *err);
void ingest_tree_free(tree *t);

/* Which proof-of-work rules apply (see ingest_run); records them in the store when it has none
 * yet (written by the next commit). */
int ingest_choose_network(store *s, const file_list *fl, const tree *t, const ingest_opts *o,
                          btc_net *net, util_err *err);
/* Give every HDR_UNRESOLVED header its cumulative work, height and state, checking the proof of
 * work of each and the difficulty rule of each that connects (an error names file, offset and
 * hash). */
int ingest_resolve_work(store *s, const file_list *fl, tree *t, btc_net net, util_err *err);

/* Import the most-work connected branch of the resolved tree: reorganise the store if it forks
 * below the tip, then parse and append its blocks (o->stop_after_blocks of them at most),
 * committing through ingest_commit (at the end even if nothing changed when always_commit).
 * Adds to r's stale, orphan, removed and added counts. */
int ingest_apply_best(store *s, const file_list *fl, const tree *t, btc_net net,
                      const ingest_opts *o, int always_commit, ingest_result *r, util_err *err);

/* Commit what has been appended. Every commit of an import passes here, once per committed
 * batch, in both the one-shot and the --follow path: work that must see each committed batch of
 * blocks (an index kept beside the store, a notification) belongs in this function. */
int ingest_commit(store *s, const ingest_opts *o, ingest_result *r, util_err *err);

#endif
