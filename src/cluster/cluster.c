/* cluster: union-find over address ids, the pass over the txs, and the saved clustering
 * (state file, entity map, per-tx CoinJoin kinds) with its atomic replace protocol. */
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

/* ---- union-find ---- */

int cl_uf_grow(cl_uf *u, uint32_t n)
{
    if (n <= u->n) return 0;
    uint32_t *p = realloc(u->parent, (size_t)n * sizeof *p);
    if (!p) return UTIL_ENOMEM;
    u->parent = p;
    uint32_t *z = realloc(u->size, (size_t)n * sizeof *z);
    if (!z) return UTIL_ENOMEM;
    u->size = z;
    for (uint32_t i = u->n; i < n; i++)
        u->parent[i] = i, u->size[i] = 1;
    u->entities_delta += n - u->n;
    u->singletons_delta += n - u->n;
    u->n = n;
    return 0;
}

int cl_uf_init_based(cl_uf *u, const uint32_t *base_parent, const uint32_t *base_size,
                     uint32_t base_n, uint32_t n)
{
    memset(u, 0, sizeof *u);
    u->base_parent = base_parent, u->base_size = base_size, u->base_n = base_n;
    u->parent = calloc(n ? n : 1, sizeof *u->parent);
    u->size = calloc(n ? n : 1, sizeof *u->size);
    u->touched = calloc((size_t)base_n / 8 + 1, 1);
    if (!u->parent || !u->size || !u->touched) return UTIL_ENOMEM;
    for (uint32_t i = base_n; i < n; i++)
        u->parent[i] = i, u->size[i] = 1;
    u->entities_delta = u->singletons_delta = n - base_n;
    u->n = n;
    return 0;
}

void cl_uf_free(cl_uf *u)
{
    free(u->parent);
    free(u->size);
    free(u->touched);
    free(u->changed);
    memset(u, 0, sizeof *u);
}

static inline int uf_is_base(const cl_uf *u, uint32_t x)
{
    return x < u->base_n && !(u->touched[x >> 3] & (1u << (x & 7)));
}

uint32_t cl_uf_parent(const cl_uf *u, uint32_t x)
{
    return uf_is_base(u, x) ? u->base_parent[x] : u->parent[x];
}

uint32_t cl_uf_size(const cl_uf *u, uint32_t root)
{
    return uf_is_base(u, root) ? u->base_size[root] : u->size[root];
}

/* Copy a saved entry into the dense arrays before its first change, and list it. */
static void uf_touch(cl_uf *u, uint32_t x)
{
    if (!uf_is_base(u, x)) return;
    u->parent[x] = u->base_parent[x];
    u->size[x] = u->base_size[x];
    u->touched[x >> 3] |= (uint8_t)(1u << (x & 7));
    if (u->n_changed == u->cap_changed) {
        size_t cap = u->cap_changed ? u->cap_changed * 2 : 1024;
        uint32_t *c = realloc(u->changed, cap * sizeof *c);
        if (!c) {
            u->oom = 1;
            return;
        }
        u->changed = c, u->cap_changed = cap;
    }
    u->changed[u->n_changed++] = x;
}

uint32_t cl_uf_find(cl_uf *u, uint32_t x)
{
    uint32_t r = x;
    while (cl_uf_parent(u, r) != r)
        r = cl_uf_parent(u, r);
    while (cl_uf_parent(u, x) != r) { /* path compression: everything on the way points at r */
        uint32_t next = cl_uf_parent(u, x);
        uf_touch(u, x);
        u->parent[x] = r;
        x = next;
    }
    return r;
}

uint32_t cl_uf_union(cl_uf *u, uint32_t a, uint32_t b)
{
    a = cl_uf_find(u, a), b = cl_uf_find(u, b);
    if (a == b) return a;
    if (b < a) {
        uint32_t t = a;
        a = b, b = t;
    }
    uint32_t sa = cl_uf_size(u, a), sb = cl_uf_size(u, b);
    uf_touch(u, a);
    uf_touch(u, b);
    u->parent[b] = a;
    u->size[a] = sa + sb;
    u->size[b] = 0;
    u->entities_delta--;
    u->singletons_delta -= (sa == 1) + (sb == 1);
    return a;
}

/* ---- the pass ---- */

int cl_run_pass(const store *s, cl_pass *p, uint64_t from, uint64_t to, uint8_t *kinds,
                util_err *err)
{
    for (uint64_t t = from; t < to; t++) {
        int kind = cluster_detect(s, t, &p->sc);
        if (kind < 0)
            return util_errf(err, kind, "out of memory detecting CoinJoins at tx %" PRIu64, t);
        if (kinds) kinds[t - from] = (uint8_t)kind;
        p->cj[kind]++;
        const store_tx_row *row = store_tx(s, t);
        uint32_t n_out = store_tx_n_out(s, t);
        int excl = cluster_cj_excludes(kind) && !p->no_exclude;
        if (!(row->flags & STORE_TX_COINBASE)) {
            uint32_t n_in = store_tx_n_in(s, t);
            uint32_t first = STORE_NO_ADDR;
            for (uint32_t i = 0; i < n_in; i++) {
                uint64_t prev = store_in_prev(s, row->first_in + i);
                if (prev >= STORE_UNRESOLVED) continue;
                uint32_t a = store_out_addr(s, prev);
                if (a == STORE_NO_ADDR) continue;
                if (first == STORE_NO_ADDR)
                    first = a;
                else if (!excl)
                    cl_uf_union(&p->uf, first, a);
            }
            if (p->heuristics && first != STORE_NO_ADDR && !cluster_cj_excludes(kind)) {
                int c = cluster_pick_change(s, t, p->heuristics, p->addr_hwm);
                if (c >= 0) {
                    uint32_t a = store_out_addr(s, row->first_out + (uint32_t)c);
                    if (p->owner) p->picks++, p->picks_ok += p->owner[first] == p->owner[a];
                    uint32_t ra = cl_uf_find(&p->uf, first), rb = cl_uf_find(&p->uf, a);
                    if (ra != rb) {
                        if (cl_uf_size(&p->uf, ra) >= p->guard &&
                            cl_uf_size(&p->uf, rb) >= p->guard)
                            p->refused++;
                        else
                            cl_uf_union(&p->uf, ra, rb), p->change_links++;
                    }
                }
            }
        }
        for (uint32_t i = 0; i < n_out; i++) {
            uint32_t a = store_out_addr(s, row->first_out + i);
            if (a != STORE_NO_ADDR && a >= p->addr_hwm) p->addr_hwm = a + 1;
        }
    }
    return 0;
}

/* ---- the saved state ---- */

typedef struct cl_state {
    unsigned heuristics, rules;
    uint32_t guard;
    uint64_t blocks, txs, addresses, gen;
    uint8_t tip[32];
    char map[64], cj[64], sizes[64];
    uint64_t entities, singletons, change_links, refused;
    uint64_t cj_count[CLUSTER_CJ_NKINDS];
    uint32_t largest_id[10], largest_size[10];
    unsigned n_largest;
    uint8_t file_sum[32]; /* sha256 of the state file as read (not written into it) */
} cl_state;

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int state_write(const char *dir, const cl_state *st, util_err *err)
{
    util_buf b = {0};
    char hs[64], tip[65];
    cluster_format_heuristics(st->heuristics, hs, sizeof hs);
    util_hash_hex(tip, st->tip);
    util_buf_printf(&b, "cointrail-cluster %d\nrules %d\nheuristics %s\nguard %" PRIu32 "\n",
                    CLUSTER_FORMAT_VERSION, CLUSTER_RULES_VERSION, hs, st->guard);
    util_buf_printf(&b, "blocks %" PRIu64 "\ntip %s\ntxs %" PRIu64 "\naddresses %" PRIu64 "\n",
                    st->blocks, tip, st->txs, st->addresses);
    util_buf_printf(&b, "gen %" PRIu64 "\nmap %s\nsizes %s\ncj %s\n", st->gen, st->map, st->sizes,
                    st->cj);
    util_buf_printf(&b,
                    "entities %" PRIu64 "\nsingletons %" PRIu64 "\nchange_links %" PRIu64
                    "\nrefused_merges %" PRIu64 "\ncoinjoins",
                    st->entities, st->singletons, st->change_links, st->refused);
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
    path_in(path, sizeof path, dir, "cluster.state");
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

/* Read DIR/cluster.state. UTIL_ENOTFOUND if absent, UTIL_ECORRUPT if damaged. */
static int state_read(const char *dir, cl_state *st, util_err *err)
{
    char path[4096];
    path_in(path, sizeof path, dir, "cluster.state");
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
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        got += sscanf(line, "heuristics %127s", hs) == 1;
        got += sscanf(line, "rules %u", &st->rules) == 1;
        got += sscanf(line, "guard %" SCNu32, &st->guard) == 1;
        got += sscanf(line, "blocks %" SCNu64, &st->blocks) == 1;
        got += sscanf(line, "tip %79s", tip) == 1;
        got += sscanf(line, "txs %" SCNu64, &st->txs) == 1;
        got += sscanf(line, "addresses %" SCNu64, &st->addresses) == 1;
        got += sscanf(line, "gen %" SCNu64, &st->gen) == 1;
        got += sscanf(line, "map %63s", st->map) == 1;
        got += sscanf(line, "cj %63s", st->cj) == 1;
        got += sscanf(line, "sizes %63s", st->sizes) == 1;
        sscanf(line, "entities %" SCNu64, &st->entities);
        sscanf(line, "singletons %" SCNu64, &st->singletons);
        sscanf(line, "change_links %" SCNu64, &st->change_links);
        sscanf(line, "refused_merges %" SCNu64, &st->refused);
        if (!strncmp(line, "coinjoins", 9)) {
            for (char *tok = strtok(line + 9, " "); tok; tok = strtok(NULL, " ")) {
                char *eq = strchr(tok, '=');
                if (!eq) continue;
                *eq = 0;
                for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
                    if (!strcmp(tok, cluster_cj_kind_name(k)))
                        st->cj_count[k] = strtoull(eq + 1, NULL, 10);
            }
        }
        if (!strncmp(line, "largest", 7)) {
            for (char *tok = strtok(line + 7, " "); tok && st->n_largest < 10;
                 tok = strtok(NULL, " ")) {
                if (sscanf(tok, "%" SCNu32 ":%" SCNu32, &st->largest_id[st->n_largest],
                           &st->largest_size[st->n_largest]) == 2)
                    st->n_largest++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (got != 11 || cluster_parse_heuristics(hs, &st->heuristics, NULL) ||
        util_hash_parse(st->tip, tip) || strchr(st->map, '/') || strchr(st->cj, '/') ||
        strchr(st->sizes, '/'))
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
static int state_matches_store(const cl_state *st, const store *s)
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
static void remove_stale_files(const char *dir, const cl_state *st)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, "cluster.state.tmp") || !strcmp(e->d_name, "cluster.journal.tmp")) {
            char path[4096];
            path_in(path, sizeof path, dir, e->d_name);
            unlink(path);
            continue;
        }
        if (strncmp(e->d_name, "cluster-map.", 12) && strncmp(e->d_name, "cluster-cj.", 11) &&
            strncmp(e->d_name, "cluster-size.", 13))
            continue;
        if (!strcmp(e->d_name, st->map) || !strcmp(e->d_name, st->cj) ||
            !strcmp(e->d_name, st->sizes))
            continue;
        char path[4096];
        path_in(path, sizeof path, dir, e->d_name);
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
#define CL_JOURNAL_MAGIC 0x6c6e72756f6a6c63ULL /* "cljournl" */
typedef struct cl_journal_hdr {
    uint64_t magic;
    uint8_t base[32]; /* sha256 of the cluster.state file the old values belong to */
    uint64_t base_addresses;
    uint64_t count;
} cl_journal_hdr;
typedef struct cl_journal_rec {
    uint32_t index, parent, size, pad;
} cl_journal_rec;

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
static int write_entries(const char *dir, const cl_state *st, const cl_journal_rec *recs, size_t n,
                         const uint32_t *tail_parent, const uint32_t *tail_size, uint64_t tail_from,
                         uint64_t addresses, util_err *err)
{
    char mp[4096], sp[4096];
    path_in(mp, sizeof mp, dir, st->map);
    path_in(sp, sizeof sp, dir, st->sizes);
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
    path_in(path, sizeof path, dir, "cluster.journal");
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
static int journal_recover(const char *dir, const cl_state *st, util_err *err)
{
    uint8_t *data = NULL;
    cl_journal_hdr h = {0}; /* filled when journal_load returns 1, the only case it is read */
    int rc = journal_load(dir, st, &data, &h, err);
    if (rc < 0) return rc;
    if (rc == 1)
        rc = write_entries(dir, st, (const cl_journal_rec *)(data + sizeof h), h.count, NULL, NULL,
                           0, h.base_addresses, err);
    free(data);
    if (!rc) {
        char path[4096];
        path_in(path, sizeof path, dir, "cluster.journal");
        unlink(path);
    }
    return rc;
}

int cluster_recover(const char *dir, util_err *err)
{
    char lockpath[4096];
    path_in(lockpath, sizeof lockpath, dir, "cluster.lock");
    int lock = open(lockpath, O_RDWR | O_CLOEXEC);
    if (lock < 0) return 0; /* never clustered */
    if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
        close(lock); /* a `cluster` run holds it and recovers first itself */
        return 0;
    }
    cl_state st;
    int rc = 0;
    if (state_read(dir, &st, NULL) == 0) {
        if ((rc = journal_recover(dir, &st, err)) == 0) remove_stale_files(dir, &st);
    }
    close(lock);
    return rc;
}

/* Keep the ten largest entities in st, larger first, smaller id first on ties. */
static void top10_add(cl_state *st, uint32_t id, uint32_t sz)
{
    for (unsigned i = 0; i < st->n_largest; i++)
        if (st->largest_id[i] == id) return;
    unsigned k = st->n_largest < 10 ? st->n_largest++ : 10;
    while (k > 0 && (st->largest_size[k - 1] < sz ||
                     (st->largest_size[k - 1] == sz && st->largest_id[k - 1] > id))) {
        if (k < 10)
            st->largest_size[k] = st->largest_size[k - 1],
            st->largest_id[k] = st->largest_id[k - 1];
        k--;
    }
    if (k < 10) st->largest_size[k] = sz, st->largest_id[k] = id;
}

/* Map a whole u32 file of the saved clustering read-only (n entries). */
static int map_u32(const char *dir, const char *name, uint64_t n, const uint32_t **out,
                   util_err *err);

void cluster_default_opts(cluster_opts *o)
{
    memset(o, 0, sizeof *o);
    o->guard = CLUSTER_DEFAULT_GUARD;
}

int cluster_build(store *s, const char *dir, const cluster_opts *o, cluster_result *r,
                  util_err *err)
{
    double t0 = util_now();
    memset(r, 0, sizeof *r);
    uint32_t guard = o->guard ? o->guard : CLUSTER_DEFAULT_GUARD;
    char lockpath[4096];
    path_in(lockpath, sizeof lockpath, dir, "cluster.lock");
    int lock = open(lockpath, O_RDWR | O_CREAT, 0644);
    if (lock < 0) return util_errf(err, UTIL_EIO, "%s: cannot open: %s", lockpath, strerror(errno));
    if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
        close(lock);
        return util_errf(err, UTIL_EBUSY, "%s: another `cointrail cluster` is running", lockpath);
    }
    const store_totals *tot = store_get_totals(s);
    if (tot->addresses >= UINT32_MAX) {
        close(lock);
        return util_errf(err, UTIL_EINVAL, "%s: %" PRIu64 " addresses do not fit u32 ids", dir,
                         tot->addresses);
    }
    cl_state old, st;
    util_err e2 = {0};
    int rc0;
    int have = state_read(dir, &old, &e2) == 0;
    if (have && (rc0 = journal_recover(dir, &old, err))) {
        close(lock);
        return rc0;
    }
    const char *why = NULL;
    if (!have)
        why = e2.code == UTIL_ENOTFOUND ? "no clustering yet" : "state file damaged";
    else if (o->rebuild)
        why = "--rebuild";
    else if (old.rules != CLUSTER_RULES_VERSION)
        why = "other detector rules";
    else if (old.heuristics != o->heuristics || old.guard != guard)
        why = "other heuristics";
    else if (!state_matches_store(&old, s))
        why = "the store was reorganised below the clustering";
    int full = why != NULL;
    uint64_t from = full ? 0 : old.txs;
    uint64_t to = tot->txs;
    uint32_t n_addr = (uint32_t)tot->addresses;
    int rc = 0, wrote = 0; /* wrote: files or journal of this run may exist (undone on failure) */
    cl_pass p = {0};
    uint8_t *kinds = NULL;
    uint32_t *map = NULL;
    const uint32_t *base_map = NULL, *base_size = NULL;
    r->heuristics = o->heuristics;
    r->guard = guard;
    if (!full && from == to) { /* up to date: report the saved figures */
        st = old;
        r->mode = 0;
        goto report;
    }
    p.heuristics = o->heuristics;
    p.guard = guard;
    if (full) {
        if (cl_uf_grow(&p.uf, n_addr)) goto oom;
    } else {
        /* The saved forest stays on disk; the run copies only the entries it changes. */
        if ((rc = map_u32(dir, old.map, old.addresses, &base_map, err)) ||
            (rc = map_u32(dir, old.sizes, old.addresses, &base_size, err)))
            goto fail;
        if (cl_uf_init_based(&p.uf, base_map, base_size, (uint32_t)old.addresses, n_addr)) goto oom;
        p.addr_hwm = (uint32_t)old.addresses;
        memcpy(p.cj, old.cj_count, sizeof p.cj);
        p.change_links = old.change_links;
        p.refused = old.refused;
    }
    r->load_seconds = util_now() - t0;
    double t1 = util_now();
    kinds = malloc(to - from ? to - from : 1);
    if (!kinds) goto oom;
    if ((rc = cl_run_pass(s, &p, from, to, kinds, err))) goto fail;
    if (p.uf.oom) goto oom;
    r->pass_seconds = util_now() - t1;
    double t2 = util_now();

    memset(&st, 0, sizeof st);
    st.heuristics = o->heuristics;
    st.guard = guard;
    st.blocks = tot->blocks;
    if (tot->blocks) memcpy(st.tip, store_block_hash(s, tot->blocks - 1), 32);
    st.txs = to;
    st.addresses = n_addr;
    memcpy(st.cj_count, p.cj, sizeof st.cj_count);
    st.change_links = p.change_links;
    st.refused = p.refused;
    char path[4096];
    if (full) {
        /* Every address points straight at its entity (the root: the smallest member). */
        map = malloc((size_t)(n_addr ? n_addr : 1) * 4);
        if (!map) goto oom;
        for (uint32_t i = 0; i < n_addr; i++) {
            map[i] = cl_uf_find(&p.uf, i);
            if (map[i] != i) continue;
            st.entities++;
            st.singletons += p.uf.size[i] == 1;
            top10_add(&st, i, p.uf.size[i]);
        }
        st.gen = (have ? old.gen : 0) + 1;
        snprintf(st.map, sizeof st.map, "cluster-map.%" PRIu64 ".col", st.gen);
        snprintf(st.sizes, sizeof st.sizes, "cluster-size.%" PRIu64 ".col", st.gen);
        snprintf(st.cj, sizeof st.cj, "cluster-cj.%" PRIu64 ".col", st.gen);
        /* New files under new names, then the state file replaced atomically: a crash before
         * the rename leaves the old state with its files untouched. */
        wrote = 1;
        path_in(path, sizeof path, dir, st.map);
        if ((rc = util_replace_file(path, map, (size_t)n_addr * 4, err))) goto fail;
        path_in(path, sizeof path, dir, st.sizes);
        if ((rc = util_replace_file(path, p.uf.size, (size_t)n_addr * 4, err))) goto fail;
    } else {
        st.gen = old.gen;
        snprintf(st.map, sizeof st.map, "%s", old.map);
        snprintf(st.sizes, sizeof st.sizes, "%s", old.sizes);
        snprintf(st.cj, sizeof st.cj, "%s", old.cj);
        st.entities = (uint64_t)((int64_t)old.entities + p.uf.entities_delta);
        st.singletons = (uint64_t)((int64_t)old.singletons + p.uf.singletons_delta);
        /* The ten largest: the old ones still standing and every set this run touched; if an
         * old one was absorbed, an untouched set may now rank tenth, so look at all roots. */
        int absorbed = 0;
        for (unsigned i = 0; i < old.n_largest; i++)
            absorbed |= cl_uf_parent(&p.uf, old.largest_id[i]) != old.largest_id[i];
        if (absorbed && old.n_largest == 10) {
            for (uint32_t i = 0; i < n_addr; i++)
                if (cl_uf_parent(&p.uf, i) == i) top10_add(&st, i, cl_uf_size(&p.uf, i));
        } else {
            for (unsigned i = 0; i < old.n_largest; i++)
                if (cl_uf_parent(&p.uf, old.largest_id[i]) == old.largest_id[i])
                    top10_add(&st, old.largest_id[i], cl_uf_size(&p.uf, old.largest_id[i]));
            for (size_t i = 0; i < p.uf.n_changed; i++) {
                uint32_t x = p.uf.changed[i];
                if (cl_uf_parent(&p.uf, x) == x) top10_add(&st, x, cl_uf_size(&p.uf, x));
            }
            for (uint32_t x = (uint32_t)old.addresses; x < n_addr; x++)
                if (p.uf.parent[x] == x) top10_add(&st, x, p.uf.size[x]);
        }
        /* Journal the old values, then change the files in place, then commit the state. */
        size_t nc = p.uf.n_changed;
        cl_journal_rec *recs = malloc((nc ? nc : 1) * sizeof *recs);
        cl_journal_rec *news = malloc((nc ? nc : 1) * sizeof *news);
        if (!recs || !news) {
            free(recs);
            free(news);
            goto oom;
        }
        for (size_t i = 0; i < nc; i++) {
            uint32_t x = p.uf.changed[i];
            recs[i] = (cl_journal_rec){x, base_map[x], base_size[x], 0};
            news[i] = (cl_journal_rec){x, p.uf.parent[x], p.uf.size[x], 0};
        }
        cl_journal_hdr h = {
            .magic = CL_JOURNAL_MAGIC, .base_addresses = old.addresses, .count = nc};
        memcpy(h.base, old.file_sum, 32); /* the state file as read, under the same lock */
        {
            util_buf jb = {0};
            util_buf_append(&jb, &h, sizeof h);
            util_buf_append(&jb, recs, nc * sizeof *recs);
            path_in(path, sizeof path, dir, "cluster.journal");
            wrote = 1;
            rc = jb.data ? util_replace_file(path, jb.data, jb.len, err)
                         : util_errf(err, UTIL_ENOMEM, "out of memory for the journal");
            util_buf_free(&jb);
        }
        if (!rc)
            rc = write_entries(dir, &st, news, nc, p.uf.parent, p.uf.size, old.addresses, n_addr,
                               err);
        free(recs);
        free(news);
        if (rc) goto fail;
        if (o->test_crash) raise(SIGKILL);
    }
    path_in(path, sizeof path, dir, st.cj);
    int fd = open(path, O_WRONLY | O_CREAT | (full ? O_TRUNC : 0), 0644);
    if (fd < 0 || ftruncate(fd, (off_t)from) < 0 || lseek(fd, (off_t)from, SEEK_SET) < 0 ||
        util_write_all(fd, kinds, to - from) || fsync(fd) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s: cannot write: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        goto fail;
    }
    close(fd);
    if ((rc = state_write(dir, &st, err))) goto fail;
    if (!full) {
        path_in(path, sizeof path, dir, "cluster.journal");
        unlink(path);
    }
    remove_stale_files(dir, &st);
    r->write_seconds = util_now() - t2;
    r->mode = full ? 2 : 1;
    r->why_rebuilt = why;
    r->txs_done = to - from;
report:
    r->txs = st.txs;
    r->addresses = st.addresses;
    r->entities = st.entities;
    r->singletons = st.singletons;
    memcpy(r->coinjoins, st.cj_count, sizeof r->coinjoins);
    r->change_links = st.change_links;
    r->refused_merges = st.refused;
    r->n_largest = st.n_largest;
    memcpy(r->largest_id, st.largest_id, sizeof r->largest_id);
    memcpy(r->largest_size, st.largest_size, sizeof r->largest_size);
    r->seconds = util_now() - t0;
    rc = 0;
    goto done;
oom:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory clustering %" PRIu64 " addresses",
                   tot->addresses);
fail:
    /* Not committed: leave the last committed clustering as it was, without this run's files
     * taking space (the failure may well be a full disk). */
    if (wrote && full) {
        const char *names[] = {st.map, st.sizes, st.cj};
        for (int i = 0; i < 3; i++) {
            path_in(path, sizeof path, dir, names[i]);
            unlink(path);
        }
    } else if (wrote) {
        cl_state cur;
        if (state_read(dir, &cur, NULL) == 0) journal_recover(dir, &cur, NULL);
    }
done:
    cl_uf_free(&p.uf);
    cluster_scratch_free(&p.sc);
    free(kinds);
    free(map);
    if (base_map) munmap((void *)base_map, (size_t)old.addresses * 4);
    if (base_size) munmap((void *)base_size, (size_t)old.addresses * 4);
    close(lock);
    return rc;
}

/* ---- reading a saved clustering ---- */

struct cluster_map {
    cl_state st;
    const uint32_t *map, *sizes;
    const uint8_t *kinds;
    size_t map_len, kinds_len;
    int recovered; /* an interrupted commit's old values were put back in private pages */
};

/* Map want bytes of DIR/name read-only. With private set the mapping is a private writable
 * copy-on-write one instead, for the caller to change in memory only. */
static int map_file_as(const char *dir, const char *name, size_t want, int private,
                       const void **out, util_err *err)
{
    *out = NULL;
    if (!want) return 0;
    char path[4096];
    path_in(path, sizeof path, dir, name);
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

static int map_u32(const char *dir, const char *name, uint64_t n, const uint32_t **out,
                   util_err *err)
{
    return map_file(dir, name, (size_t)n * 4, (const void **)out, err);
}

int cluster_open(cluster_map **out, const store *s, const char *dir, util_err *err)
{
    *out = NULL;
    cluster_map *m = calloc(1, sizeof *m);
    if (!m) return util_errf(err, UTIL_ENOMEM, "out of memory");
    int rc = state_read(dir, &m->st, err);
    if (rc) goto fail;
    uint8_t *journal = NULL;
    cl_journal_hdr h;
    if ((rc = journal_load(dir, &m->st, &journal, &h, err)) < 0) goto fail;
    m->recovered = rc == 1;
    rc = 0;
    if (!state_matches_store(&m->st, s)) {
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
        (rc = map_file(dir, m->st.cj, m->kinds_len, (const void **)&m->kinds, err))) {
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
    free(m);
}

int cluster_map_recovered(const cluster_map *m)
{
    return m->recovered;
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

/* ---- documents ---- */

static json_t *activity_json(const store *s, uint32_t height)
{
    json_t *o = json_object();
    json_object_set_new(o, "height", json_integer(height));
    json_object_set_new(o, "time", json_integer(store_block(s, height)->time));
    return o;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct u64vec {
    uint64_t *v;
    size_t n, cap;
} u64vec;

static int vec_push(u64vec *v, uint64_t x)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        uint64_t *nv = realloc(v->v, nc * sizeof *nv);
        if (!nv) return -1;
        v->v = nv, v->cap = nc;
    }
    v->v[v->n++] = x;
    return 0;
}

static size_t vec_unique(u64vec *v)
{
    if (!v->n) return 0;
    qsort(v->v, v->n, sizeof *v->v, cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < v->n; i++)
        if (v->v[i] != v->v[k - 1]) v->v[k++] = v->v[i];
    return v->n = k;
}

int cluster_entity_json(const cluster_map *m, const store *s, const char *arg, size_t offset,
                        size_t limit, json_t **out, util_err *err)
{
    *out = NULL;
    uint32_t aid;
    char *end;
    if (*arg >= '0' && *arg <= '9' && strlen(arg) < 12 && (strtoull(arg, &end, 10), !*end)) {
        unsigned long long v = strtoull(arg, NULL, 10);
        if (v >= m->st.addresses)
            return util_errf(err, UTIL_ENOTFOUND,
                             "entity %llu: no such address id (the clustering has %" PRIu64
                             " addresses)",
                             v, m->st.addresses);
        aid = (uint32_t)v;
    } else {
        btc_addr key;
        int rc = btc_addr_decode(&key, arg, err);
        if (rc) return rc;
        int64_t a = store_find_addr(s, &key);
        if (a < 0)
            return util_errf(err, UTIL_ENOTFOUND, "address %s: never seen in the store", arg);
        if ((uint64_t)a >= m->st.addresses)
            return util_errf(err, UTIL_ENOTFOUND,
                             "address %s: newer than the clustering (built to tx %" PRIu64
                             "): run `cointrail cluster`",
                             arg, m->st.txs);
        aid = (uint32_t)a;
    }
    uint32_t ent = cluster_entity_of(m, aid);
    int64_t received = 0, sent = 0;
    uint32_t first_h = UINT32_MAX, last_h = 0;
    uint64_t size = 0;
    u64vec txs = {0}, cj_in = {0}, cj_out = {0}, peel_in = {0}, peel_out = {0};
    json_t *list = json_array();
    int oom = 0;
    for (uint32_t i = ent; i < m->st.addresses; i++) {
        if (cluster_entity_of(m, i) != ent) continue;
        if (size >= offset && size - offset < limit) {
            json_t *a = json_object();
            char str[128];
            btc_addr_encode(str, store_addr(s, i));
            json_object_set_new(a, "address", json_string(str));
            json_object_set_new(a, "id", json_integer(i));
            json_array_append_new(list, a);
        }
        size++;
        for (uint64_t o = store_addr_last_out(s, i); o != STORE_NONE;
             o = store_out_prev_same_addr(s, o)) {
            uint64_t tx = store_output_tx(s, o);
            if (tx >= m->st.txs) continue; /* newer than the clustering */
            int64_t v = store_out_value(s, o);
            received += v;
            uint32_t h = store_tx(s, tx)->block;
            if (h < first_h) first_h = h;
            if (h > last_h) last_h = h;
            oom |= vec_push(&txs, tx);
            if (cluster_tx_kind(m, tx) != CLUSTER_CJ_NONE) oom |= vec_push(&cj_out, tx);
            if (cluster_peel_chain(s, tx)) oom |= vec_push(&peel_out, tx);
            uint64_t in = store_out_spent_by(s, o);
            if (in == STORE_NONE) continue;
            uint64_t stx = store_input_tx(s, in);
            if (stx >= m->st.txs) continue;
            sent += v;
            h = store_tx(s, stx)->block;
            if (h > last_h) last_h = h;
            oom |= vec_push(&txs, stx);
            if (cluster_tx_kind(m, stx) != CLUSTER_CJ_NONE) oom |= vec_push(&cj_in, stx);
            if (cluster_peel_chain(s, stx)) oom |= vec_push(&peel_in, stx);
        }
    }
    json_t *r = json_object();
    json_object_set_new(r, "entity", json_integer(ent));
    json_object_set_new(r, "size", json_integer((json_int_t)size));
    json_object_set_new(r, "received", json_integer(received));
    json_object_set_new(r, "sent", json_integer(sent));
    json_object_set_new(r, "balance", json_integer(received - sent));
    json_object_set_new(r, "tx_count", json_integer((json_int_t)vec_unique(&txs)));
    json_object_set_new(r, "first_activity",
                        first_h == UINT32_MAX ? json_null() : activity_json(s, first_h));
    json_object_set_new(r, "last_activity",
                        first_h == UINT32_MAX ? json_null() : activity_json(s, last_h));
    /* CoinJoin activity: txs of each kind it spent coins into, or received coins from. */
    vec_unique(&cj_in);
    vec_unique(&cj_out);
    json_t *cj = json_object();
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++) {
        uint64_t ni = 0, no = 0;
        for (size_t i = 0; i < cj_in.n; i++)
            ni += m->kinds[cj_in.v[i]] == k;
        for (size_t i = 0; i < cj_out.n; i++)
            no += m->kinds[cj_out.v[i]] == k;
        if (!ni && !no) continue;
        json_t *o = json_object();
        json_object_set_new(o, "spent_into", json_integer((json_int_t)ni));
        json_object_set_new(o, "received_from", json_integer((json_int_t)no));
        json_object_set_new(cj, cluster_cj_kind_name(k), o);
    }
    json_object_set_new(r, "coinjoin_activity", cj);
    /* Peel chains: steps that spent its coins (it peels) or paid it (it receives peels). */
    json_object_set_new(r, "peel_chain_activity",
                        json_pack("{s:I,s:I}", "steps_spent_into", (json_int_t)vec_unique(&peel_in),
                                  "steps_received_from", (json_int_t)vec_unique(&peel_out)));
    json_object_set_new(r, "offset", json_integer((json_int_t)offset));
    json_object_set_new(r, "addresses", list);
    json_object_set_new(r, "clustered_txs", json_integer((json_int_t)m->st.txs));
    const store_totals *t = store_get_totals(s);
    json_object_set_new(r, "up_to_date", json_boolean(t->txs == m->st.txs));
    char hs[64];
    cluster_format_heuristics(m->st.heuristics, hs, sizeof hs);
    json_object_set_new(r, "heuristics", json_string(hs));
    free(txs.v);
    free(cj_in.v);
    free(cj_out.v);
    free(peel_in.v);
    free(peel_out.v);
    if (oom) {
        json_decref(r);
        return util_errf(err, UTIL_ENOMEM, "out of memory describing entity %" PRIu32, ent);
    }
    *out = r;
    return 0;
}

int cluster_result_json(const cluster_result *r, const store *s, json_t **out, util_err *err)
{
    (void)err;
    static const char *const modes[] = {"up to date", "extended", "built"};
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(modes[r->mode]));
    if (r->mode == 2) json_object_set_new(o, "why", json_string(r->why_rebuilt));
    char hs[64];
    cluster_format_heuristics(r->heuristics, hs, sizeof hs);
    json_object_set_new(o, "heuristics", json_string(hs));
    json_object_set_new(o, "guard", json_integer(r->guard));
    json_object_set_new(o, "txs_processed", json_integer((json_int_t)r->txs_done));
    json_object_set_new(o, "txs", json_integer((json_int_t)r->txs));
    json_object_set_new(o, "addresses", json_integer((json_int_t)r->addresses));
    json_object_set_new(o, "entities", json_integer((json_int_t)r->entities));
    json_object_set_new(o, "singletons", json_integer((json_int_t)r->singletons));
    json_t *cj = json_object();
    uint64_t excluded = 0;
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++) {
        json_object_set_new(cj, cluster_cj_kind_name(k), json_integer((json_int_t)r->coinjoins[k]));
        if (cluster_cj_excludes(k)) excluded += r->coinjoins[k];
    }
    json_object_set_new(o, "coinjoins", cj);
    json_object_set_new(o, "coinjoins_excluded", json_integer((json_int_t)excluded));
    json_object_set_new(o, "change_links", json_integer((json_int_t)r->change_links));
    json_object_set_new(o, "refused_merges", json_integer((json_int_t)r->refused_merges));
    json_t *big = json_array();
    for (unsigned i = 0; i < r->n_largest; i++) {
        json_t *e = json_object();
        char str[128];
        json_object_set_new(e, "entity", json_integer(r->largest_id[i]));
        json_object_set_new(e, "size", json_integer(r->largest_size[i]));
        btc_addr_encode(str, store_addr(s, r->largest_id[i]));
        json_object_set_new(e, "first_address", json_string(str));
        json_array_append_new(big, e);
    }
    json_object_set_new(o, "largest", big);
    json_object_set_new(o, "seconds", json_real(r->seconds));
    json_t *ph = json_object();
    json_object_set_new(ph, "load", json_real(r->load_seconds));
    json_object_set_new(ph, "pass", json_real(r->pass_seconds));
    json_object_set_new(ph, "write", json_real(r->write_seconds));
    json_object_set_new(o, "phases", ph);
    *out = o;
    return 0;
}

int cluster_dump(const cluster_map *m, const store *s, FILE *f, util_err *err)
{
    char str[128], hex[65];
    for (uint32_t i = 0; i < m->st.addresses; i++) {
        btc_addr_encode(str, store_addr(s, i));
        fprintf(f, "a %s %" PRIu32 "\n", str, cluster_entity_of(m, i));
    }
    for (uint64_t t = 0; t < m->st.txs; t++) {
        if (!m->kinds[t]) continue;
        util_hash_hex(hex, store_tx_hash(s, t));
        fprintf(f, "c %s %s\n", hex, cluster_cj_kind_name(m->kinds[t]));
    }
    if (fflush(f) || ferror(f))
        return util_errf(err, UTIL_EIO, "cannot write the dump: %s", strerror(errno));
    return 0;
}
