/* cluster_state: the saved clustering on disk. The state file (the commit point), the journal
 * of an incremental commit and its recovery (by `cluster`, `import`, and in readers' private
 * pages), and cluster_open's reading of the entity map and per-tx CoinJoin kinds. The atomic
 * replace protocol is in docs/formats.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "cluster_int.h"

/* ---- the saved state ---- */

void cl_path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

int cl_state_write(const char *dir, const cl_state *st, util_err *err)
{
    util_buf b = {0};
    char hs[64], tip[65];
    cluster_format_heuristics(st->heuristics, hs, sizeof hs);
    util_hash_hex(tip, st->tip);
    util_buf_printf(&b, "cointrail-cluster %d\nrules %d\nheuristics %s\nguard %" PRIu32 "\n",
                    CLUSTER_FORMAT_VERSION, CLUSTER_RULES_VERSION, hs, st->guard);
    util_buf_printf(&b, "established %" PRIu32 "\nevidence %" PRIu32 "\nlabels %s %" PRIu64 "\n",
                    st->established, st->evidence, st->labels, st->labelled);
    util_buf_printf(&b, "blocks %" PRIu64 "\ntip %s\ntxs %" PRIu64 "\naddresses %" PRIu64 "\n",
                    st->blocks, tip, st->txs, st->addresses);
    util_buf_printf(&b, "gen %" PRIu64 "\nmap %s\nsizes %s\ncj %s\nlinks %s\nrefusals %s\n",
                    st->gen, st->map, st->sizes, st->cj, st->links, st->refusedf);
    util_buf_printf(&b,
                    "entities %" PRIu64 "\nsingletons %" PRIu64 "\nchange_links %" PRIu64
                    "\nrefused_merges %" PRIu64 "\nlink_count %" PRIu64 "\n",
                    st->entities, st->singletons, st->change_links, st->refused, st->n_links);
    util_buf_printf(
        &b, "merged multi_input=%" PRIu64 " change=%" PRIu64 " evidence=%" PRIu64 "\nrefused",
        st->links_multi, st->links_change, st->links_evidence);
    for (int k = 1; k < CLUSTER_NGUARDS; k++)
        util_buf_printf(&b, " %s=%" PRIu64, cluster_guard_name(k), st->refusals[k]);
    util_buf_printf(&b, "\ncoinjoins");
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        util_buf_printf(&b, " %s=%" PRIu64, cluster_cj_kind_name(k), st->cj_count[k]);
    util_buf_printf(&b, "\nlargest");
    for (unsigned i = 0; i < st->n_largest; i++)
        util_buf_printf(&b, " %" PRIu32 ":%" PRIu32, st->largest_id[i], st->largest_size[i]);
    util_buf_printf(&b, "\n");
    if (!b.data) return util_errf(err, UTIL_ENOMEM, "out of memory writing cluster.state");
    uint8_t sum[32];
    char hex[65];
    crypto_sha256(b.data, b.len, sum);
    util_hex(hex, sum, 32);
    util_buf_printf(&b, "checksum %s\n", hex);
    char path[4096];
    cl_path_in(path, sizeof path, dir, "cluster.state");
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

/* name=value tokens of a line (after its key) into the counters named by names[1..n). */
static void parse_counts(char *rest, const char *(*name_of)(int), int n, uint64_t *out)
{
    for (char *save = NULL, *tok = strtok_r(rest, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        for (int k = 1; k < n; k++)
            if (!strcmp(tok, name_of(k))) out[k] = strtoull(eq + 1, NULL, 10);
    }
}

static const char *merged_name(int k)
{
    static const char *const n[] = {"", "multi_input", "change", "evidence"};
    return k >= 0 && k < 4 ? n[k] : "";
}

/* Read DIR/cluster.state. UTIL_ENOTFOUND if absent, UTIL_ECORRUPT if damaged. */
int cl_state_read(const char *dir, cl_state *st, util_err *err)
{
    char path[4096];
    cl_path_in(path, sizeof path, dir, "cluster.state");
    memset(st, 0, sizeof *st);
    uint8_t *data;
    size_t len;
    struct stat sb;
    if (stat(path, &sb) < 0)
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: no clustering yet: run `cointrail cluster --db %s`", path, dir);
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *text = malloc(len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory reading %s", path);
    }
    memcpy(text, data, len);
    text[len] = 0;
    crypto_sha256(data, len, st->file_sum); /* a journal names the state by these bytes */
    free(data);
    rc = UTIL_ECORRUPT;
    char *cs = strstr(text, "checksum ");
    uint8_t sum[32];
    char hex[65];
    if (!cs || (cs != text && cs[-1] != '\n')) goto bad;
    crypto_sha256(text, (size_t)(cs - text), sum);
    util_hex(hex, sum, 32);
    if (strncmp(cs + 9, hex, 64)) {
        util_errf(err, UTIL_ECORRUPT, "%s: checksum mismatch: rerun `cointrail cluster --rebuild`",
                  path);
        free(text);
        return UTIL_ECORRUPT;
    }
    int version = 0;
    if (sscanf(text, "cointrail-cluster %d", &version) != 1 || version != CLUSTER_FORMAT_VERSION)
        goto bad;
    char hs[128] = "", tip[80] = "";
    unsigned got = 0;
    /* One "key value..." per line; keys compared whole (one is not a prefix of another). */
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *rest = strchr(line, ' ');
        if (rest) *rest++ = 0;
        const char *k = line, *v = rest ? rest : "";
        uint64_t merged[4] = {0};
        if (!strcmp(k, "heuristics")) got += sscanf(v, "%127s", hs) == 1;
        if (!strcmp(k, "rules")) got += sscanf(v, "%u", &st->rules) == 1;
        if (!strcmp(k, "guard")) got += sscanf(v, "%" SCNu32, &st->guard) == 1;
        if (!strcmp(k, "established")) got += sscanf(v, "%" SCNu32, &st->established) == 1;
        if (!strcmp(k, "evidence")) got += sscanf(v, "%" SCNu32, &st->evidence) == 1;
        if (!strcmp(k, "labels")) got += sscanf(v, "%64s %" SCNu64, st->labels, &st->labelled) == 2;
        if (!strcmp(k, "blocks")) got += sscanf(v, "%" SCNu64, &st->blocks) == 1;
        if (!strcmp(k, "tip")) got += sscanf(v, "%79s", tip) == 1;
        if (!strcmp(k, "txs")) got += sscanf(v, "%" SCNu64, &st->txs) == 1;
        if (!strcmp(k, "addresses")) got += sscanf(v, "%" SCNu64, &st->addresses) == 1;
        if (!strcmp(k, "gen")) got += sscanf(v, "%" SCNu64, &st->gen) == 1;
        if (!strcmp(k, "map")) got += sscanf(v, "%63s", st->map) == 1;
        if (!strcmp(k, "cj")) got += sscanf(v, "%63s", st->cj) == 1;
        if (!strcmp(k, "sizes")) got += sscanf(v, "%63s", st->sizes) == 1;
        if (!strcmp(k, "links")) got += sscanf(v, "%63s", st->links) == 1;
        if (!strcmp(k, "refusals")) got += sscanf(v, "%63s", st->refusedf) == 1;
        if (!strcmp(k, "link_count")) got += sscanf(v, "%" SCNu64, &st->n_links) == 1;
        if (!strcmp(k, "refused_merges")) got += sscanf(v, "%" SCNu64, &st->refused) == 1;
        if (!strcmp(k, "entities")) sscanf(v, "%" SCNu64, &st->entities);
        if (!strcmp(k, "singletons")) sscanf(v, "%" SCNu64, &st->singletons);
        if (!strcmp(k, "change_links")) sscanf(v, "%" SCNu64, &st->change_links);
        if (!strcmp(k, "merged") && rest) {
            parse_counts(rest, merged_name, 4, merged);
            st->links_multi = merged[1], st->links_change = merged[2];
            st->links_evidence = merged[3];
        }
        if (!strcmp(k, "refused") && rest)
            parse_counts(rest, cluster_guard_name, CLUSTER_NGUARDS, st->refusals);
        if (!strcmp(k, "coinjoins") && rest)
            parse_counts(rest, cluster_cj_kind_name, CLUSTER_CJ_NKINDS, st->cj_count);
        if (!strcmp(k, "largest") && rest) {
            for (char *save = NULL, *tok = strtok_r(rest, " ", &save); tok && st->n_largest < 10;
                 tok = strtok_r(NULL, " ", &save)) {
                if (sscanf(tok, "%" SCNu32 ":%" SCNu32, &st->largest_id[st->n_largest],
                           &st->largest_size[st->n_largest]) == 2)
                    st->n_largest++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (got != 18 || cluster_parse_heuristics(hs, &st->heuristics, NULL) ||
        util_hash_parse(st->tip, tip) || strchr(st->map, '/') || strchr(st->cj, '/') ||
        strchr(st->sizes, '/') || strchr(st->links, '/') || strchr(st->refusedf, '/'))
        goto bad;
    free(text);
    return 0;
bad:
    free(text);
    return util_errf(err, rc,
                     "%s: not a cointrail-cluster %d state file: rerun `cointrail cluster "
                     "--rebuild`",
                     path, CLUSTER_FORMAT_VERSION);
}

/* Whether the store still holds the chain the state was built on. */
int cl_state_matches_store(const cl_state *st, const store *s)
{
    const store_totals *t = store_get_totals(s);
    if (st->blocks > t->blocks || st->txs > t->txs || st->addresses > t->addresses) return 0;
    if (st->blocks == 0) return st->txs == 0;
    if (memcmp(store_block_hash(s, st->blocks - 1), st->tip, 32)) return 0;
    const store_block_row *b = store_block(s, st->blocks - 1);
    return b->first_tx + b->n_tx == st->txs;
}

/* Remove map/cj files of other generations (left by a crash or replaced by a commit), and so
 * the temp files of their replacement (NAME.tmp), and temp files of the state and journal that
 * a killed run left. */
void cl_remove_stale_files(const char *dir, const cl_state *st)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, "cluster.state.tmp") || !strcmp(e->d_name, "cluster.journal.tmp")) {
            char path[4096];
            cl_path_in(path, sizeof path, dir, e->d_name);
            unlink(path);
            continue;
        }
        if (strncmp(e->d_name, "cluster-map.", 12) && strncmp(e->d_name, "cluster-cj.", 11) &&
            strncmp(e->d_name, "cluster-size.", 13) && strncmp(e->d_name, "cluster-links.", 14) &&
            strncmp(e->d_name, "cluster-refused.", 16))
            continue;
        if (!strcmp(e->d_name, st->map) || !strcmp(e->d_name, st->cj) ||
            !strcmp(e->d_name, st->sizes) || !strcmp(e->d_name, st->links) ||
            !strcmp(e->d_name, st->refusedf))
            continue;
        char path[4096];
        cl_path_in(path, sizeof path, dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* ---- the journal of an incremental commit ----
 * An incremental run changes a few entries of the saved forest in place and appends the new
 * addresses. Before touching the files it writes the old values of every entry it will change
 * to DIR/cluster.journal (fsynced), tagged with the checksum of the cluster.state they belong
 * to; the new cluster.state is the commit point. A journal whose tag still matches the state
 * file is an interrupted commit: the next `cointrail cluster` or `cointrail import` puts the old
 * values back and cuts the files to their old length; meanwhile readers put them back in their
 * own copy of the pages concerned, so they read the last committed clustering. A journal whose
 * tag no longer matches belongs to a commit that went through and is deleted. */

static int pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return UTIL_EIO;
        c += w, n -= (size_t)w, off += w;
    }
    return 0;
}

/* Apply (index, parent, size) entries to the map and sizes files, cut or extend them to
 * addresses entries, and fsync both. */
int cl_write_entries(const char *dir, const cl_state *st, const cl_journal_rec *recs, size_t n,
                     const uint32_t *tail_parent, const uint32_t *tail_size, uint64_t tail_from,
                     uint64_t addresses, util_err *err)
{
    char mp[4096], sp[4096];
    cl_path_in(mp, sizeof mp, dir, st->map);
    cl_path_in(sp, sizeof sp, dir, st->sizes);
    int mfd = open(mp, O_RDWR), sfd = open(sp, O_RDWR);
    int rc = mfd < 0 || sfd < 0 ? UTIL_EIO : 0;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = pwrite_all(mfd, &recs[i].parent, 4, (off_t)recs[i].index * 4);
        if (!rc) rc = pwrite_all(sfd, &recs[i].size, 4, (off_t)recs[i].index * 4);
    }
    if (!rc && ftruncate(mfd, (off_t)addresses * 4) < 0) rc = UTIL_EIO;
    if (!rc && ftruncate(sfd, (off_t)addresses * 4) < 0) rc = UTIL_EIO;
    if (!rc && tail_parent && addresses > tail_from) {
        rc = pwrite_all(mfd, tail_parent + tail_from, (addresses - tail_from) * 4,
                        (off_t)tail_from * 4);
        if (!rc)
            rc = pwrite_all(sfd, tail_size + tail_from, (addresses - tail_from) * 4,
                            (off_t)tail_from * 4);
    }
    if (!rc && (fsync(mfd) < 0 || fsync(sfd) < 0)) rc = UTIL_EIO;
    if (rc) util_errf(err, UTIL_EIO, "%s, %s: cannot write: %s", mp, sp, strerror(errno));
    if (mfd >= 0) close(mfd);
    if (sfd >= 0) close(sfd);
    return rc;
}

/* The journal in dir if it belongs to the state st read (an interrupted commit): *data (owned
 * by the caller, free it) holds the header and h->count records. 1 if so, 0 if there is none
 * or it belongs to a commit that went through, or a negative error. */
static int journal_load(const char *dir, const cl_state *st, uint8_t **data, cl_journal_hdr *h,
                        util_err *err)
{
    char path[4096];
    cl_path_in(path, sizeof path, dir, "cluster.journal");
    size_t len;
    *data = NULL;
    if (access(path, F_OK) != 0) return 0;
    int rc = util_read_file(path, data, &len, err);
    if (rc) return rc == UTIL_ENOTFOUND ? 0 : rc;
    int valid = len >= sizeof *h;
    if (valid) memcpy(h, *data, sizeof *h);
    /* Written whole by a rename, so a journal with another magic or a short tail is not one
     * of ours to apply. */
    valid = valid && h->magic == CL_JOURNAL_MAGIC &&
            h->count <= (len - sizeof *h) / sizeof(cl_journal_rec) &&
            h->base_addresses == st->addresses && memcmp(st->file_sum, h->base, 32) == 0;
    if (!valid) {
        free(*data);
        *data = NULL;
    }
    return valid;
}

/* Writer (holding cluster.lock): put back the old values of an interrupted commit and cut the
 * files to their old length, then delete the journal (also one of a finished commit). */
int cl_journal_recover(const char *dir, const cl_state *st, util_err *err)
{
    uint8_t *data = NULL;
    cl_journal_hdr h = {0}; /* filled when journal_load returns 1, the only case it is read */
    int rc = journal_load(dir, st, &data, &h, err);
    if (rc < 0) return rc;
    if (rc == 1)
        rc = cl_write_entries(dir, st, (const cl_journal_rec *)(data + sizeof h), h.count, NULL,
                              NULL, 0, h.base_addresses, err);
    free(data);
    /* The append-only files past the committed counts (an interrupted run's records, which no
     * reader looks at) are cut, so that the files are the committed ones again. */
    const char *names[3] = {st->cj, st->links, st->refusedf};
    const uint64_t sizes[3] = {st->txs, st->n_links * sizeof(cl_link_rec),
                               st->refused * sizeof(cl_refusal_rec)};
    for (int i = 0; i < 3 && !rc; i++) {
        char path[4096];
        struct stat sb;
        cl_path_in(path, sizeof path, dir, names[i]);
        if (stat(path, &sb) == 0 && (uint64_t)sb.st_size > sizes[i] &&
            truncate(path, (off_t)sizes[i]) < 0)
            rc = util_errf(err, UTIL_EIO, "%s: cannot cut back: %s", path, strerror(errno));
    }
    if (!rc) {
        char path[4096];
        cl_path_in(path, sizeof path, dir, "cluster.journal");
        unlink(path);
    }
    return rc;
}

int cluster_recover(const char *dir, util_err *err)
{
    char lockpath[4096];
    cl_path_in(lockpath, sizeof lockpath, dir, "cluster.lock");
    int lock = open(lockpath, O_RDWR | O_CLOEXEC);
    if (lock < 0) return 0; /* never clustered */
    if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
        close(lock); /* a `cluster` run holds it and recovers first itself */
        return 0;
    }
    cl_state st;
    int rc = 0;
    if (cl_state_read(dir, &st, NULL) == 0) {
        if ((rc = cl_journal_recover(dir, &st, err)) == 0) cl_remove_stale_files(dir, &st);
    }
    close(lock);
    return rc;
}

/* ---- reading a saved clustering ---- */

/* Map want bytes of DIR/name read-only. With private set the mapping is a private writable
 * copy-on-write one instead, for the caller to change in memory only. */
static int map_file_as(const char *dir, const char *name, size_t want, int private,
                       const void **out, util_err *err)
{
    *out = NULL;
    if (!want) return 0;
    char path[4096];
    cl_path_in(path, sizeof path, dir, name);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0 || (size_t)sb.st_size < want) {
        if (fd >= 0) close(fd);
        return util_errf(err, UTIL_ECORRUPT,
                         "%s: missing or shorter than the %zu bytes cluster.state says: rerun "
                         "`cointrail cluster --rebuild`",
                         path, want);
    }
    void *p = mmap(NULL, want, PROT_READ | (private ? PROT_WRITE : 0),
                   private ? MAP_PRIVATE : MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return util_errf(err, UTIL_EIO, "%s: cannot map: %s", path, strerror(errno));
    *out = p;
    return 0;
}

static int map_file(const char *dir, const char *name, size_t want, const void **out, util_err *err)
{
    return map_file_as(dir, name, want, 0, out, err);
}

int cl_map_bytes(const char *dir, const char *name, size_t len, const void **out, util_err *err)
{
    return map_file(dir, name, len, out, err);
}

int cl_map_u32(const char *dir, const char *name, uint64_t n, const uint32_t **out, util_err *err)
{
    return map_file(dir, name, (size_t)n * 4, (const void **)out, err);
}

int cluster_open(cluster_map **out, const store *s, const char *dir, util_err *err)
{
    *out = NULL;
    cluster_map *m = calloc(1, sizeof *m);
    if (!m) return util_errf(err, UTIL_ENOMEM, "out of memory");
    int rc = cl_state_read(dir, &m->st, err);
    if (rc) goto fail;
    uint8_t *journal = NULL;
    cl_journal_hdr h;
    if ((rc = journal_load(dir, &m->st, &journal, &h, err)) < 0) goto fail;
    m->recovered = rc == 1;
    rc = 0;
    if (!cl_state_matches_store(&m->st, s)) {
        free(journal);
        rc = util_errf(err, UTIL_ECORRUPT,
                       "%s/cluster.state: built on blocks the store no longer has (reorganised): "
                       "run `cointrail cluster --db %s`",
                       dir, dir);
        goto fail;
    }
    m->map_len = (size_t)m->st.addresses * 4;
    m->kinds_len = (size_t)m->st.txs;
    /* An interrupted commit changed some map and size entries in place (the tx kinds only past
     * the state's txs, and the files only grew past its addresses): put the journal's old
     * values back in private copies of the pages concerned, which gives the committed state. */
    if ((rc = map_file_as(dir, m->st.map, m->map_len, m->recovered, (const void **)&m->map, err)) ||
        (rc = map_file_as(dir, m->st.sizes, m->map_len, m->recovered, (const void **)&m->sizes,
                          err)) ||
        (rc = map_file(dir, m->st.cj, m->kinds_len, (const void **)&m->kinds, err)) ||
        (rc = map_file(dir, m->st.links, m->links_len = m->st.n_links * sizeof(cl_link_rec),
                       (const void **)&m->links, err)) ||
        (rc =
             map_file(dir, m->st.refusedf, m->refusals_len = m->st.refused * sizeof(cl_refusal_rec),
                      (const void **)&m->refusals, err))) {
        free(journal);
        goto fail;
    }
    if (m->recovered) {
        const cl_journal_rec *recs = (const cl_journal_rec *)(journal + sizeof h);
        uint32_t *map = (uint32_t *)m->map, *sizes = (uint32_t *)m->sizes;
        for (uint64_t i = 0; i < h.count; i++) {
            if (recs[i].index >= m->st.addresses) continue; /* never journalled: new entries */
            map[recs[i].index] = recs[i].parent;
            sizes[recs[i].index] = recs[i].size;
        }
        if (m->map_len) {
            mprotect(map, m->map_len, PROT_READ);
            mprotect(sizes, m->map_len, PROT_READ);
        }
    }
    free(journal);
    *out = m;
    return 0;
fail:
    cluster_close(m);
    return rc;
}

void cluster_close(cluster_map *m)
{
    if (!m) return;
    if (m->map) munmap((void *)m->map, m->map_len);
    if (m->kinds) munmap((void *)m->kinds, m->kinds_len);
    if (m->sizes) munmap((void *)m->sizes, m->map_len);
    if (m->links) munmap((void *)m->links, m->links_len);
    if (m->refusals) munmap((void *)m->refusals, m->refusals_len);
    free(m);
}

int cluster_map_recovered(const cluster_map *m)
{
    return m->recovered;
}

void cluster_map_sum(const cluster_map *m, uint8_t out[32])
{
    memcpy(out, m->st.file_sum, 32);
}

uint64_t cluster_map_txs(const cluster_map *m)
{
    return m->st.txs;
}
uint32_t cluster_map_addresses(const cluster_map *m)
{
    return (uint32_t)m->st.addresses;
}
uint32_t cluster_entity_of(const cluster_map *m, uint32_t addr)
{
    if (addr >= m->st.addresses) return CLUSTER_NO_ENTITY;
    /* Parents are always smaller ids (roots are their sets' smallest member): follow them. */
    uint32_t x = addr;
    while (m->map[x] < x)
        x = m->map[x];
    return x;
}
uint32_t cluster_entity_size(const cluster_map *m, uint32_t entity)
{
    return entity < m->st.addresses ? m->sizes[entity] : 0;
}

int cluster_tx_kind(const cluster_map *m, uint64_t tx)
{
    return tx < m->st.txs ? m->kinds[tx] : CLUSTER_CJ_NONE;
}
