/* The EVM store: DIR/evm/<chain>/, append-only column files and a MANIFEST (docs/evm.md).
 *
 * Crash safety rests on one ordering: a batch's rows live in memory until the commit, which
 * writes and syncs every appended row first, then the per-address list heads (addr_last.col,
 * the only file changed in place), then replaces the MANIFEST. So a head on disk only ever
 * points at a complete row. After a crash, rows past the MANIFEST are still on disk and the
 * next writer walks them newest first, putting back every head that points into them, before
 * cutting the files to the committed length. Readers do the same walk on the fly. */
#include "evm_store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const col_names[C_NCOLS] = {"blk",  "tx_hash", "tx",    "xfer",      "trace",
                                               "addr", "tok",     "event", "event_text"};

/* ---- small helpers ---- */

int evm_store_read_row(const evm_store *s, int c, uint64_t row, void *out, util_err *err)
{
    if (colstore_pread_all(s->c[c].f.fd, out, col_width[c], row * col_width[c]))
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: row %llu cannot be read (file cut short?)",
                         s->dir, col_files[c], (unsigned long long)row);
    return 0;
}

/* ---- MANIFEST ---- */

int evm_store_manifest_text(const evm_store *s, const uint64_t rows[C_NCOLS], uint64_t gen,
                            const uint8_t tip[32], util_buf *b)
{
    char tiphex[67];
    evm_hash_hex(tiphex, tip);
    int rc = util_buf_printf(b, "cointrail-evm %d\nchain %s\nfirst_block %llu\nblocks %llu\n",
                             EVM_FORMAT_VERSION, s->chain, (unsigned long long)s->first_block,
                             (unsigned long long)rows[C_BLK]);
    rc |= util_buf_printf(b, "tip %s\ntoken_meta %llu\nrows", rows[C_BLK] ? tiphex : "-",
                          (unsigned long long)gen);
    rc |= colstore_manifest_rows(b, col_names, rows, C_NCOLS);
    rc |= util_buf_printf(b, "\n");
    rc |= colstore_manifest_seal(b, NULL);
    return rc;
}

static int manifest_read(evm_store *s, util_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *text = malloc(len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    memcpy(text, data, len);
    text[len] = 0;
    free(data);
    rc = UTIL_ECORRUPT;
    const char *ck = NULL;
    unsigned long long v[C_NCOLS], fb, nb, gen;
    char chain[32], tip[80];
    int ver, ok = colstore_manifest_check(text, 1, &ck, NULL);
    if (ok == UTIL_ENOTFOUND) goto bad;
    if (ok) {
        util_errf(err, UTIL_ECORRUPT, "%s: checksum mismatch", path);
        free(text);
        return UTIL_ECORRUPT;
    }
    if (sscanf(text,
               "cointrail-evm %d\nchain %31s\nfirst_block %llu\nblocks %llu\ntip %79s\n"
               "token_meta %llu\nrows blk=%llu tx_hash=%llu tx=%llu xfer=%llu trace=%llu "
               "addr=%llu tok=%llu\n",
               &ver, chain, &fb, &nb, tip, &gen, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6]) != 13)
        goto bad;
    {
        const char *rl = strstr(text, "\nrows ");
        uint64_t ev, et;
        if (rl && rl < ck && !colstore_manifest_row(rl, ck, "event", &ev) &&
            !colstore_manifest_row(rl, ck, "event_text", &et)) {
            v[C_EV] = ev, v[C_EVTEXT] = et;
        } else if (ver == 1) {
            v[C_EV] = v[C_EVTEXT] = 0;
            s->legacy = 1;
            ver = EVM_FORMAT_VERSION;
        } else {
            goto bad;
        }
    }
    if (ver != EVM_FORMAT_VERSION) {
        util_errf(err, UTIL_ECORRUPT, "%s: format %d, this cointrail reads %d", path, ver,
                  EVM_FORMAT_VERSION);
        free(text);
        return UTIL_ECORRUPT;
    }
    if (strcmp(chain, s->chain) || v[C_BLK] != nb || v[C_TXHASH] != v[C_TX]) goto bad;
    s->first_block = fb, s->token_gen = gen;
    for (int c = 0; c < C_NCOLS; c++)
        s->c[c].f.rows = v[c];
    memset(s->tip, 0, 32);
    if (nb && evm_hash_parse(s->tip, tip, strlen(tip), NULL)) goto bad;
    free(text);
    return 0;
bad:
    free(text);
    if (rc == UTIL_ECORRUPT)
        util_errf(err, UTIL_ECORRUPT, "%s: not a cointrail-evm MANIFEST", path);
    return rc;
}

/* ---- token metadata file ---- */

int evm_store_cmp_meta(const void *a, const void *b)
{
    return memcmp(((const evm_token_meta *)a)->addr, ((const evm_token_meta *)b)->addr, 20);
}

static void meta_path(const evm_store *s, uint64_t gen, char *out, size_t cap)
{
    snprintf(out, cap, "%s/tokens.meta.%llu", s->dir, (unsigned long long)gen);
}

static int meta_load(evm_store *s, util_err *err)
{
    free(s->meta);
    s->meta = NULL, s->n_meta = 0;
    if (!s->token_gen) return 0;
    char path[4200];
    meta_path(s, s->token_gen, path, sizeof path);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    s->meta = calloc(lines ? lines : 1, sizeof *s->meta);
    if (!s->meta) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char *p = (char *)data, *end = (char *)data + len;
    uint64_t line = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        *nl = 0;
        line++;
        if (line > 1) {
            evm_token_meta *m = &s->meta[s->n_meta];
            char *f[4];
            int k = 0;
            f[k++] = p;
            for (char *q = p; *q && k < 4; q++)
                if (*q == '\t') *q = 0, f[k++] = q + 1;
            if (k != 4 || evm_addr_parse(m->addr, f[0], strlen(f[0]), NULL) ||
                strlen(f[2]) >= sizeof m->symbol || strlen(f[3]) >= sizeof m->name) {
                free(data);
                return util_errf(err, UTIL_ECORRUPT, "%s:%llu: not a token line", path,
                                 (unsigned long long)line);
            }
            m->decimals = f[1][0] == '-' ? -1 : atoi(f[1]);
            strcpy(m->symbol, f[2]), strcpy(m->name, f[3]);
            s->n_meta++;
        } else if (strcmp(p, "cointrail-evm-tokens 1")) {
            free(data);
            return util_errf(err, UTIL_ECORRUPT, "%s: not a token metadata file", path);
        }
        p = nl + 1;
    }
    free(data);
    return 0;
}

int evm_store_meta_write(evm_store *s, uint64_t gen, util_err *err)
{
    util_buf b = {0};
    int rc = util_buf_printf(&b, "cointrail-evm-tokens 1\n");
    for (size_t i = 0; i < s->n_meta; i++) {
        char a[43];
        evm_addr_eip55(a, s->meta[i].addr);
        rc |= util_buf_printf(&b, "%s\t%d\t%s\t%s\n", a, s->meta[i].decimals, s->meta[i].symbol,
                              s->meta[i].name);
    }
    if (rc) {
        util_buf_free(&b);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char path[4200];
    meta_path(s, gen, path, sizeof path);
    rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

/* Remove tokens.meta.N files other than the committed generation, and the temp files of
 * replacements that never finished (NAME.tmp), all left by a crash. Only the writer, holding
 * the lock, writes in this directory. */
void evm_store_meta_cleanup(const evm_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long g;
        char tail;
        size_t n = strlen(e->d_name);
        if ((sscanf(e->d_name, "tokens.meta.%llu%c", &g, &tail) == 1 && g != s->token_gen) ||
            (n > 4 && !strcmp(e->d_name + n - 4, ".tmp"))) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* ---- open, recover, close ---- */

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0777) && errno != EEXIST ? -1 : 0;
}

/* Put back every list head that points at a transfer past the commit, newest first (which
 * undoes the appends exactly), then cut every file to its committed length. */
int evm_store_recover(evm_store *s, util_err *err)
{
    struct stat st;
    if (fstat(s->c[C_XFER].f.fd, &st)) return util_errf(err, UTIL_EIO, "%s: stat failed", s->dir);
    uint64_t phys = (uint64_t)st.st_size / col_width[C_XFER];
    uint64_t naddr = evm_store_crows(s, C_ADDR);
    for (uint64_t r = phys; r-- > evm_store_crows(s, C_XFER);) {
        uint8_t row[96];
        if (evm_store_read_row(s, C_XFER, r, row, err)) return err ? err->code : UTIL_ECORRUPT;
        uint32_t ids[2] = {util_le32(row + 4), util_le32(row + 8)};
        uint64_t prevs[2] = {util_le64(row + 48), util_le64(row + 56)};
        for (int k = 0; k < 2; k++) {
            if (ids[k] >= naddr) continue; /* none, or an address that is cut away anyway */
            uint8_t h[8];
            if (colstore_pread_all(s->head_fd, h, 8, 8 * (uint64_t)ids[k]))
                return util_errf(err, UTIL_ECORRUPT, "%s/%s: short", s->dir, HEAD_FILE);
            if (util_le64(h) != r) continue;
            util_put_le64(h, prevs[k]);
            if (colstore_pwrite_all(s->head_fd, h, 8, 8 * (uint64_t)ids[k]))
                return util_errf(err, UTIL_EIO, "%s/%s: write failed", s->dir, HEAD_FILE);
        }
    }
    if (fdatasync(s->head_fd)) return util_errf(err, UTIL_EIO, "%s: sync failed", HEAD_FILE);
    for (int c = 0; c < C_NCOLS; c++) {
        if (s->c[c].f.fd < 0) continue; /* a format 1 store's missing columns */
        int rc = colstore_col_cut(&s->c[c].f, evm_store_crows(s, c), err);
        if (rc) return rc;
    }
    if (ftruncate(s->head_fd, (off_t)(naddr * 8)))
        return util_errf(err, UTIL_EIO, "%s/%s: cannot cut back", s->dir, HEAD_FILE);
    evm_store_meta_cleanup(s);
    return 0;
}

/* The writer's in-memory state from the committed files. */
int evm_store_load_state(evm_store *s, util_err *err)
{
    uint64_t n = evm_store_crows(s, C_ADDR);
    uint64_t cap = 1024;
    while (cap < n + 1)
        cap *= 2;
    free(s->addrs), free(s->heads), free(s->head_dirty), free(s->toks);
    s->addrs = malloc(cap * 20);
    s->heads = malloc(cap * sizeof *s->heads);
    s->head_dirty = calloc(cap, 1);
    s->toks = malloc((evm_store_crows(s, C_TOK) / 1024 + 1) * 1024 * 20);
    if (!s->addrs || !s->heads || !s->head_dirty || !s->toks)
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->n_addrs = n;
    s->n_toks = evm_store_crows(s, C_TOK);
    if ((n && colstore_pread_all(s->c[C_ADDR].f.fd, s->addrs, n * 20, 0)) ||
        (s->n_toks && colstore_pread_all(s->c[C_TOK].f.fd, s->toks, s->n_toks * 20, 0)))
        return util_errf(err, UTIL_ECORRUPT, "%s: address or token file shorter than MANIFEST",
                         s->dir);
    uint8_t *raw = malloc(n * 8 + 1);
    if (!raw) return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (n && colstore_pread_all(s->head_fd, raw, n * 8, 0)) {
        free(raw);
        return util_errf(err, UTIL_ECORRUPT, "%s/%s: shorter than MANIFEST", s->dir, HEAD_FILE);
    }
    for (uint64_t i = 0; i < n; i++)
        s->heads[i] = util_le64(raw + 8 * i);
    free(raw);
    if (evm_store_ht_rebuild(s, n + 1)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    return meta_load(s, err);
}

int evm_store_open(evm_store **out, const char *dir, const char *chain, unsigned flags,
                   util_err *err)
{
    *out = NULL;
    size_t cl = strlen(chain);
    if (!cl || cl > 31 || strspn(chain, "abcdefghijklmnopqrstuvwxyz0123456789-_") != cl)
        return util_errf(err, UTIL_EINVAL,
                         "--chain '%s': use 1 to 31 lowercase letters, digits, - or _", chain);
    evm_store *s = calloc(1, sizeof *s);
    if (!s) return util_errf(err, UTIL_ENOMEM, "out of memory");
    s->lock_fd = s->head_fd = -1;
    for (int i = 0; i < IX_N; i++)
        s->ix[i].fd = -1;
    for (int c = 0; c < C_NCOLS; c++)
        s->c[c].f.fd = -1;
    strcpy(s->chain, chain);
    int rc = 0;
    size_t dl = strlen(dir) + cl + 8;
    if (!(s->dir = malloc(dl))) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(s->dir, dl, "%s/evm/%s", dir, chain);
    s->writer = !!(flags & EVM_STORE_WRITE);
    char path[4400];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists && !(flags & EVM_STORE_CREATE)) {
        rc = util_errf(err, UTIL_ENOTFOUND, "%s: no %s chain imported here (evm-import first)", dir,
                       chain);
        goto fail;
    }
    if (s->writer) {
        if (mkdir_p(s->dir)) {
            rc = util_errf(err, UTIL_EIO, "%s: cannot create: %s", s->dir, strerror(errno));
            goto fail;
        }
        snprintf(path, sizeof path, "%s/LOCK", s->dir);
        char what[4600];
        snprintf(what, sizeof what, "%s: another import holds the lock", s->dir);
        if ((rc = colstore_lock(&s->lock_fd, path, 0666, 1, what, err))) goto fail;
    }
    if (exists) {
        if ((rc = manifest_read(s, err))) goto fail;
        if (s->legacy && s->writer) {
            rc = util_errf(err, UTIL_EFORMAT,
                           "%s: format 1 store without the events table; this cointrail writes "
                           "format %d: import the exports again into a new --db directory (the "
                           "store can still be read)",
                           s->dir, EVM_FORMAT_VERSION);
            goto fail;
        }
    } else {
        if (s->writer) evm_store_meta_cleanup(s);
    }
    int oflags = (s->writer ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC;
    for (int c = 0; c < C_NCOLS; c++) {
        if (s->legacy && c >= C_FIRST_V2) continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, col_files[c]);
        uint64_t committed = s->c[c].f.rows; /* from the MANIFEST; the open starts at 0 */
        if (colstore_col_open(&s->c[c].f, path, col_width[c],
                              COLSTORE_CLOEXEC | (s->writer ? COLSTORE_WRITE : 0), 0666, err)) {
            rc = err ? (err->code = UTIL_ECORRUPT) : UTIL_ECORRUPT;
            goto fail;
        }
        s->c[c].f.rows = committed;
    }
    snprintf(path, sizeof path, "%s/%s", s->dir, HEAD_FILE);
    if ((s->head_fd = open(path, oflags, 0666)) < 0) {
        rc = util_errf(err, UTIL_ECORRUPT, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (s->writer) {
        if ((rc = evm_store_recover(s, err)) || (rc = evm_store_load_state(s, err))) goto fail;
        for (int i = 0; i < IX_N && !rc; i++) {
            evm_store_ix_map(s, i, &s->ix[i], 1); /* a missing or damaged index is rebuilt */
            rc = evm_store_ix_extend(s, i, s->ix[i].map ? s->ix[i].count : UINT64_MAX,
                                     evm_store_crows(s, evm_store_ix_col(i)), err);
        }
        if (rc) goto fail;
        if (!exists) { /* an empty store is committed from the start */
            if ((rc = evm_store_commit(s, err))) goto fail;
        }
    } else if ((rc = meta_load(s, err))) {
        goto fail;
    } else {
        for (int i = 0; i < IX_N; i++)
            evm_store_ix_map(s, i, &s->ix[i], 0); /* no index: look-ups scan */
    }
    *out = s;
    return 0;
fail:
    evm_store_close(s);
    return rc;
}

void evm_store_close(evm_store *s)
{
    if (!s) return;
    for (int c = 0; c < C_NCOLS; c++) {
        colstore_col_close(&s->c[c].f);
        util_buf_free(&s->c[c].pending);
    }
    if (s->head_fd >= 0) close(s->head_fd);
    for (int i = 0; i < IX_N; i++)
        evm_store_ix_unmap(&s->ix[i]);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->addrs), free(s->heads), free(s->head_dirty), free(s->addr_ht), free(s->toks);
    free(s->meta);
    free(s->dir);
    free(s);
}

const char *evm_store_chain(const evm_store *s)
{
    return s->chain;
}
