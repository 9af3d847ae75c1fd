/* test_colstore: the storage kit under both stores (src/colstore/colstore.h).
 *   - a mapped column grows in doubling steps from 1 MiB with its blocks allocated (not a
 *     hole), keeps rows written through the mapping across a cut back and a reopen, and the
 *     cut leaves the file exactly the committed length;
 *   - an unmapped column (the EVM store's) writes rows with pwrite and reads them back;
 *   - a full file system is an error naming the file, not a SIGBUS: in a forked child under a
 *     file size limit (RLIMIT_FSIZE, which binds root too, so this part always runs) growing a
 *     mapped column and writing an unmapped one fail with EFBIG and the file's path;
 *   - the writer lock refuses a second holder with UTIL_EBUSY and the caller's words;
 *   - MANIFEST parts: the checksum is the SHA-256 of the text before it (the expected value
 *     computed outside, with python3 hashlib), a changed byte is a mismatch, row counts are
 *     found by exact name;
 *   - the hash index slot table (colstore_ix_*), on hashes chosen so that the slots are worked
 *     out by hand: linear probing with wrap-around, look-ups limited to live ids, the capacity
 *     rule, and the two insert policies (a rerun after a killed writer leaves the table of an
 *     uninterrupted run under SKIP_EXACT and not without it; stale entries and a duplicate key
 *     are overwritten under STALE_FREE). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "colstore/colstore.h"

static off_t file_size(const char *path, blkcnt_t *blocks)
{
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (blocks) *blocks = st.st_blocks;
    return st.st_size;
}

static void test_mapped(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/m.col", dir);
    colstore_col c;
    util_err err = {0};
    CHECK(colstore_col_open(&c, path, 8, COLSTORE_WRITE | COLSTORE_MAP, 0644, &err) == 0);
    CHECK(colstore_col_reserve(&c, 10, &err) == 0);
    blkcnt_t blocks = 0;
    CHECK(file_size(path, &blocks) == (off_t)COLSTORE_GROW_MIN);
    CHECK((uint64_t)blocks * 512 >= COLSTORE_GROW_MIN); /* allocated, not a hole */
    /* past 1 MiB: doubled to 2 MiB */
    CHECK(colstore_col_reserve(&c, 200000, &err) == 0);
    CHECK(file_size(path, &blocks) == (off_t)(2 * COLSTORE_GROW_MIN));
    CHECK((uint64_t)blocks * 512 >= 2 * COLSTORE_GROW_MIN);
    for (uint64_t i = 0; i < 200000; i++)
        *(uint64_t *)colstore_col_at(&c, i) = i * 7 + 1;
    c.rows = 200000;
    /* committed 150000 rows: the file is cut to exactly that, the rows below stay */
    CHECK(colstore_col_sync(&c, &err) == 0);
    CHECK(colstore_col_cut(&c, 150000, &err) == 0);
    c.rows = 150000;
    CHECK(file_size(path, NULL) == 150000 * 8);
    CHECK(c.mapped == 150000 * 8);
    CHECK(*(uint64_t *)colstore_col_at(&c, 149999) == 149999 * 7 + 1);
    /* and it grows again from there */
    CHECK(colstore_col_reserve(&c, 1, &err) == 0);
    CHECK(file_size(path, NULL) == 2 * 150000 * 8);
    colstore_col_close(&c);
    CHECK(c.fd == -1);
    /* a reader maps what is there and sees every row */
    CHECK(colstore_col_open(&c, path, 8, COLSTORE_MAP, 0644, &err) == 0);
    CHECK(colstore_col_map_to(&c, (size_t)file_size(path, NULL), &err) == 0);
    int all = 1;
    for (uint64_t i = 0; i < 150000; i++)
        all &= *(uint64_t *)colstore_col_at(&c, i) == i * 7 + 1;
    CHECK(all);
    colstore_col_close(&c);
    /* a missing file for a reader: an error naming it */
    snprintf(path, sizeof path, "%s/none.col", dir);
    CHECK(colstore_col_open(&c, path, 8, COLSTORE_MAP, 0644, &err) == UTIL_EIO);
    CHECK(strstr(err.msg, path) != NULL);
    colstore_col_close(&c);
}

static void test_unmapped(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/u.col", dir);
    colstore_col c;
    util_err err = {0};
    CHECK(colstore_col_open(&c, path, 20, COLSTORE_WRITE | COLSTORE_CLOEXEC, 0666, &err) == 0);
    CHECK(c.base == NULL);
    uint8_t rows[3 * 20];
    for (int i = 0; i < 60; i++)
        rows[i] = (uint8_t)i;
    CHECK(colstore_col_write(&c, 0, rows, sizeof rows, &err) == 0);
    CHECK(colstore_col_write(&c, 3, rows, 20, &err) == 0);
    CHECK(colstore_col_sync(&c, &err) == 0);
    CHECK(file_size(path, NULL) == 80);
    uint8_t back[20];
    CHECK(colstore_col_pread(&c, back, 20, 40) == 0 && !memcmp(back, rows + 40, 20));
    CHECK(colstore_col_pread(&c, back, 20, 70) == -1); /* past the end */
    CHECK(colstore_col_cut(&c, 2, &err) == 0);
    CHECK(file_size(path, NULL) == 40);
    colstore_col_close(&c);
}

/* In a child limited to 64 KiB files: growing a mapped column to 1 MiB and writing an
 * unmapped one past the limit must both fail with EFBIG naming the file (SIGXFSZ ignored, as
 * the CLI does not ignore it: the point is the error path, not the signal). */
static void test_file_limit(const char *dir)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0) _exit(3);
        char path[512], out[2048];
        util_err e1 = {0}, e2 = {0};
        snprintf(path, sizeof path, "%s/big.col", dir);
        colstore_col c;
        if (colstore_col_open(&c, path, 8, COLSTORE_WRITE | COLSTORE_MAP, 0644, &e1)) _exit(4);
        int r1 = colstore_col_reserve(&c, 1000, &e1);
        colstore_col_close(&c);
        snprintf(path, sizeof path, "%s/big.dat", dir);
        if (colstore_col_open(&c, path, 1, COLSTORE_WRITE, 0644, &e2)) _exit(5);
        static uint8_t buf[100000];
        int r2 = colstore_col_write(&c, 0, buf, sizeof buf, &e2);
        colstore_col_close(&c);
        int n = snprintf(out, sizeof out, "%d\n%s\n%d\n%s\n", r1, e1.msg, r2, e2.msg);
        if (write(fds[1], out, (size_t)n) != n) _exit(6);
        _exit(0);
    }
    close(fds[1]);
    char got[2048] = {0};
    size_t len = 0;
    ssize_t k;
    while ((k = read(fds[0], got + len, sizeof got - 1 - len)) > 0)
        len += (size_t)k;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char want[2048];
    snprintf(want, sizeof want,
             "%d\n%s/big.col: cannot grow to 1048576 bytes: File too large\n"
             "%d\n%s/big.dat: write failed: File too large\n",
             UTIL_EIO, dir, UTIL_EIO, dir);
    CHECK_STR(got, want);
}

static void test_lock(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    int a = -1, b = -1;
    util_err err = {0};
    CHECK(colstore_lock(&a, path, 0644, 1, "first", &err) == 0);
    /* flock binds the open file, so a second open in the same process conflicts */
    CHECK(colstore_lock(&b, path, 0644, 1, "dir: somebody is writing", &err) == UTIL_EBUSY);
    CHECK_STR(err.msg, "dir: somebody is writing");
    if (b >= 0) close(b);
    close(a);
    CHECK(colstore_lock(&b, path, 0644, 1, "again", &err) == 0);
    if (b >= 0) close(b);
}

static void test_manifest(void)
{
    util_buf b = {0};
    const char *names[] = {"a", "ab", "b"};
    uint64_t rows[] = {1, 22, 333};
    util_buf_printf(&b, "cointrail-test 1\nrows");
    CHECK(colstore_manifest_rows(&b, names, rows, 3) == 0);
    util_buf_printf(&b, "\n");
    uint8_t sum[32];
    CHECK(colstore_manifest_seal(&b, sum) == 0);
    util_buf_printf(&b, "%c", 0);
    const char *text = (const char *)b.data;
    CHECK_STR(text, "cointrail-test 1\nrows a=1 ab=22 b=333\n"
                    "checksum 236349f2f61f0614dd72b93ee85ea15cef45be571b32071c316415f42ccc9464\n");
    const char *end = NULL;
    uint8_t sum2[32];
    CHECK(colstore_manifest_check(text, 1, &end, sum2) == 0);
    CHECK(!memcmp(sum, sum2, 32));
    CHECK(end && !strncmp(end, "checksum ", 9));
    const char *line = strstr(text, "rows ");
    uint64_t v = 0;
    CHECK(colstore_manifest_row(line, end, "ab", &v) == 0 && v == 22);
    CHECK(colstore_manifest_row(line, end, "a", &v) == 0 && v == 1);
    CHECK(colstore_manifest_row(line, end, "b", &v) == 0 && v == 333);
    CHECK(colstore_manifest_row(line, end, "c", &v) == UTIL_ENOTFOUND);
    CHECK(colstore_manifest_row(line, line + 8, "ab", &v) == UTIL_ENOTFOUND); /* bounded */
    char *bad = strdup(text);
    bad[strlen("cointrail-test 1\nrows a=")] = '2';
    CHECK(colstore_manifest_check(bad, 1, NULL, NULL) == UTIL_ECORRUPT);
    CHECK(colstore_manifest_check("x 1\n", 0, NULL, NULL) == UTIL_ENOTFOUND);
    /* at_line: "checksum " inside a line is not the checksum line */
    CHECK(colstore_manifest_check("x checksum 00\n", 1, NULL, NULL) == UTIL_ENOTFOUND);
    CHECK(colstore_manifest_check("x checksum 00\n", 0, NULL, NULL) == UTIL_ECORRUPT);
    free(bad);
    util_buf_free(&b);
}

static uint64_t hh(uint64_t fp, uint64_t home)
{
    return fp << 40 | home;
}

static int match_id0(const void *ctx, uint64_t id)
{
    (void)ctx;
    return id == 0;
}

static void ix_putv(uint64_t *sl, uint64_t h, uint64_t id, unsigned policy, colstore_ix_match_fn m)
{
    sl[colstore_ix_slot_for(sl, 8, h, id, policy, m, NULL)] = colstore_ix_entry(h, id);
}

static void test_index(void)
{
    CHECK(colstore_ix_cap(0, 1024) == 1024 && colstore_ix_cap(768, 1024) == 1024 &&
          colstore_ix_cap(769, 1024) == 2048 && colstore_ix_cap(49152, 1 << 16) == 65536 &&
          colstore_ix_cap(49153, 1 << 16) == 131072);
    CHECK(colstore_ix_entry(hh(5, 3), 9) == (5ULL << 40 | 10) &&
          colstore_ix_id(5ULL << 40 | 10) == 9);
    uint64_t sl[8] = {0};
    const uint64_t h[4] = {hh(1, 3), hh(2, 3), hh(3, 7), hh(4, 7)};
    for (uint64_t id = 0; id < 4; id++)
        ix_putv(sl, h[id], id, COLSTORE_IX_SKIP_EXACT, NULL);
    /* by hand: 0 home 3; 1 collides, slot 4; 2 home 7; 3 collides and wraps to slot 0 */
    CHECK(sl[3] == colstore_ix_entry(h[0], 0) && sl[4] == colstore_ix_entry(h[1], 1) &&
          sl[7] == colstore_ix_entry(h[2], 2) && sl[0] == colstore_ix_entry(h[3], 3));
    CHECK(sl[1] == 0 && sl[2] == 0 && sl[5] == 0 && sl[6] == 0);
    uint64_t id = 99;
    CHECK(colstore_ix_find(sl, 8, h[3], 4, NULL, NULL, &id) == 0 && id == 3);
    CHECK(colstore_ix_find(sl, 8, h[1], 4, NULL, NULL, &id) == 4 && id == 1);
    id = 99;
    CHECK(colstore_ix_find(sl, 8, h[1], 1, NULL, NULL, &id) == -1 && id == 99); /* not live */
    CHECK(colstore_ix_find(sl, 8, hh(9, 3), 4, NULL, NULL, &id) == -1);         /* fp differs */
    CHECK(colstore_ix_find(sl, 8, h[0], 4, match_id0, NULL, &id) == 3 && id == 0);
    /* a rerun of ids 2 and 3 over their leftovers: the same table under SKIP_EXACT */
    uint64_t snap[8], other[8];
    memcpy(snap, sl, sizeof sl);
    memcpy(other, sl, sizeof sl);
    ix_putv(sl, h[2], 2, COLSTORE_IX_SKIP_EXACT, NULL);
    ix_putv(sl, h[3], 3, COLSTORE_IX_SKIP_EXACT, NULL);
    CHECK(!memcmp(sl, snap, sizeof sl));
    ix_putv(other, h[2], 2, 0, NULL); /* without it: a second entry, slot 1 */
    CHECK(other[1] == colstore_ix_entry(h[2], 2));
    /* STALE_FREE: with ids 2 and 3 past the commit, a new id 2 of another key takes the first
     * stale slot on its path (7), and a duplicate of id 0's key repoints slot 3 */
    ix_putv(sl, hh(9, 7), 2, COLSTORE_IX_STALE_FREE, NULL);
    CHECK(sl[7] == colstore_ix_entry(hh(9, 7), 2));
    ix_putv(sl, h[0], 5, COLSTORE_IX_STALE_FREE, match_id0);
    CHECK(sl[3] == colstore_ix_entry(h[0], 5) && sl[1] == 0 && sl[2] == 0);
}

int main(void)
{
    char dir[] = "/tmp/test_colstore.XXXXXX";
    if (!mkdtemp(dir)) return 2;
    test_mapped(dir);
    test_unmapped(dir);
    test_file_limit(dir);
    test_lock(dir);
    test_manifest();
    test_index();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 2;
    return CHECK_DONE();
}
