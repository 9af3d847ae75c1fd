/* The whole import: read every file, assemble, append in commits of N blocks. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evmingest.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read one path: a file, or a directory's *.csv files in name order (not recursive). */
static int read_path(evm_batch *b, const char *path, evm_import_result *r, util_err *err)
{
    struct stat st;
    if (stat(path, &st)) return util_errf(err, UTIL_ENOTFOUND, "%s: no such file", path);
    if (!S_ISDIR(st.st_mode)) {
        r->files++;
        return evm_batch_read_file(b, path, NULL, err);
    }
    DIR *d = opendir(path);
    if (!d) return util_errf(err, UTIL_EIO, "%s: cannot read the directory", path);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".csv")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        size_t pl = strlen(path) + l + 2;
        if (!(names[n] = malloc(pl))) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        snprintf(names[n++], pl, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (!rc) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        r->files++;
        rc = evm_batch_read_file(b, names[i], NULL, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int evm_import(evm_store *s, const char *const *paths, size_t n_paths, const evm_import_opts *o,
               evm_import_result *r, util_err *err)
{
    memset(r, 0, sizeof *r);
    evm_batch *b;
    int rc = evm_batch_new(&b, err);
    if (rc) return rc;
    for (size_t i = 0; i < n_paths && !rc; i++)
        rc = read_path(b, paths[i], r, err);
    if (!rc) rc = evm_import_batch(s, b, o, r, err);
    evm_batch_free(b);
    return rc;
}

/* The one append loop of every source (files, a node's JSON-RPC): plan against the store,
 * cut back a reorganisation, append, commit every N blocks and at the end. */
int evm_import_batch(evm_store *s, evm_batch *b, const evm_import_opts *o, evm_import_result *r,
                     util_err *err)
{
    uint64_t every = o && o->commit_every ? o->commit_every : 1000;
    uint64_t crash_after = o ? o->crash_after : 0;
    const evm_block *blocks = NULL;
    size_t nb = 0;
    int rc = evm_batch_assemble(b, &blocks, &nb, err);
    r->blocks_read += nb;
    const evm_token_meta *toks;
    size_t ntok;
    evm_batch_tokens(b, &toks, &ntok);
    if (!rc && ntok) {
        rc = evm_store_set_tokens(s, toks, ntok, err);
        r->tokens_set += ntok;
    }
    /* plan against the store before writing anything, so a refused import changes nothing */
    uint64_t first, n;
    uint8_t tip[32];
    evm_store_tip(s, &first, &n, tip);
    size_t start = 0; /* first block to append */
    int cut = 0;      /* cut the store back to blocks[start].number first */
    if (!rc && nb && n) {
        uint64_t b0 = blocks[0].number;
        if (b0 < first)
            rc = util_errf(err, UTIL_EFORMAT,
                           "block %llu is before the store's first block %llu: blocks cannot "
                           "be added in front (import into a new store)",
                           (unsigned long long)b0, (unsigned long long)first);
        else if (b0 > first + n)
            rc = util_errf(err, UTIL_EFORMAT,
                           "blocks %llu to %llu are missing: the store ends at block %llu and "
                           "the blocks given start at %llu",
                           (unsigned long long)(first + n), (unsigned long long)b0 - 1,
                           (unsigned long long)(first + n - 1), (unsigned long long)b0);
        for (; !rc && start < nb && blocks[start].number < first + n; start++) {
            evm_block_row row;
            if ((rc = evm_store_block(s, blocks[start].number - first, &row, err))) break;
            if (!memcmp(row.hash, blocks[start].hash, 32)) continue;
            /* a different block at a stored height: a reorganisation, if it hangs off ours */
            if (blocks[start].number > first) {
                evm_block_row prev;
                if ((rc = evm_store_block(s, blocks[start].number - first - 1, &prev, err))) break;
                if (memcmp(prev.hash, blocks[start].parent, 32)) {
                    rc = util_errf(err, UTIL_EFORMAT,
                                   "block %llu: parent is not the stored block %llu (a "
                                   "reorganisation deeper than the blocks given: export from "
                                   "an earlier block)",
                                   (unsigned long long)blocks[start].number,
                                   (unsigned long long)blocks[start].number - 1);
                    break;
                }
            }
            cut = 1;
            break;
        }
        if (!rc && !cut && start < nb && memcmp(blocks[start].parent, tip, 32) &&
            blocks[start].number == first + n)
            rc = util_errf(err, UTIL_EFORMAT,
                           "block %llu: parent is not the stored tip (a reorganisation deeper "
                           "than the blocks given: export from an earlier block)",
                           (unsigned long long)blocks[start].number);
    }
    r->blocks_skipped += start;
    if (!rc && cut) {
        r->blocks_removed += first + n - blocks[start].number;
        rc = evm_store_truncate(s, blocks[start].number, err);
        if (!rc) r->commits++;
    }
    uint64_t since = 0, commits0 = r->commits;
    for (size_t i = start; i < nb && !rc; i++) {
        if ((rc = evm_store_append_block(s, &blocks[i], err))) break;
        r->blocks_added++;
        r->txs_added += blocks[i].n_txs;
        r->xfers_added += blocks[i].n_xfers;
        if (++since < every) continue;
        since = 0;
        if ((rc = evm_store_commit(s, err))) break;
        r->commits++;
        if (crash_after && r->commits == crash_after) _exit(9); /* crash-recovery tests */
    }
    if (!rc && (since || ntok || r->commits == commits0)) {
        rc = evm_store_commit(s, err);
        r->commits++;
    }
    return rc;
}
