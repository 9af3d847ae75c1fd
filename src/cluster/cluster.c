/* cluster: union-find over address ids, the pass over the txs, and cluster_build, which runs
 * the pass and commits the result. The files on disk and their reading are cluster_state.c,
 * the documents cluster_doc.c. */
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
    return cl_uf_join_roots(u, cl_uf_find(u, a), cl_uf_find(u, b));
}

uint32_t cl_uf_join_roots(cl_uf *u, uint32_t a, uint32_t b)
{
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

/* The root of x without compressing the path (no entry changes). */
uint32_t cl_uf_root(const cl_uf *u, uint32_t x)
{
    while (cl_uf_parent(u, x) != x)
        x = cl_uf_parent(u, x);
    return x;
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
        store_tx_row row;
        store_tx(s, t, &row);
        uint32_t n_out = store_tx_n_out(s, t);
        int excl = cluster_cj_excludes(kind) && !p->no_exclude;
        if (!(row.flags & STORE_TX_COINBASE)) {
            uint32_t n_in = store_tx_n_in(s, t);
            uint32_t first = STORE_NO_ADDR;
            for (uint32_t i = 0; i < n_in; i++) {
                uint64_t prev = store_in_prev(s, row.first_in + i);
                if (prev >= STORE_UNRESOLVED) continue;
                uint32_t a = store_out_addr(s, prev);
                if (a == STORE_NO_ADDR) continue;
                if (first == STORE_NO_ADDR)
                    first = a;
                else if (!excl)
                    cl_pass_merge(p, first, a, t, CLUSTER_LINK_MULTI_INPUT);
            }
            if (p->heuristics && first != STORE_NO_ADDR && !cluster_cj_excludes(kind)) {
                int c = cluster_pick_change(s, t, p->heuristics, p->addr_hwm);
                if (c >= 0) {
                    uint32_t a = store_out_addr(s, row.first_out + (uint32_t)c);
                    if (p->owner) p->picks++, p->picks_ok += p->owner[first] == p->owner[a];
                    cl_pass_merge(p, first, a, t, CLUSTER_LINK_CHANGE);
                }
            }
        }
        for (uint32_t i = 0; i < n_out; i++) {
            uint32_t a = store_out_addr(s, row.first_out + i);
            if (a != STORE_NO_ADDR && a >= p->addr_hwm) p->addr_hwm = a + 1;
        }
        if (p->oom || p->uf.oom)
            return util_errf(err, UTIL_ENOMEM, "out of memory clustering at tx %" PRIu64, t);
    }
    return 0;
}

/* ---- building or extending a clustering ---- */

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

void cluster_default_opts(cluster_opts *o)
{
    memset(o, 0, sizeof *o);
    o->guard = CLUSTER_DEFAULT_GUARD;
    o->established = CLUSTER_DEFAULT_ESTABLISHED;
    o->evidence = CLUSTER_DEFAULT_EVIDENCE;
}

void cl_params_from_opts(cluster_params *pr, const cluster_opts *o, const cl_labels *l)
{
    memset(pr, 0, sizeof *pr);
    pr->rules = CLUSTER_RULES_VERSION;
    pr->heuristics = o->heuristics;
    pr->guard = o->guard ? o->guard : CLUSTER_DEFAULT_GUARD;
    pr->established = o->established ? o->established : CLUSTER_DEFAULT_ESTABLISHED;
    pr->evidence = o->evidence ? o->evidence : CLUSTER_DEFAULT_EVIDENCE;
    pr->labelled = l->labelled;
    if (l->labelled)
        util_hex(pr->labels, l->digest, 32);
    else
        snprintf(pr->labels, sizeof pr->labels, "none");
}

void cl_params_from_state(cluster_params *pr, const cl_state *st)
{
    memset(pr, 0, sizeof *pr);
    pr->rules = st->rules;
    pr->heuristics = st->heuristics;
    pr->guard = st->guard;
    pr->established = st->established;
    pr->evidence = st->evidence;
    pr->labelled = st->labelled;
    snprintf(pr->labels, sizeof pr->labels, "%s", st->labels);
}

/* Cut an append-only file of the clustering to n records of size bytes and open it for
 * appending after them. The fd, or -1 with errno set. */
static int open_append(const char *dir, const char *name, uint64_t n, size_t size, int create)
{
    char path[4096];
    cl_path_in(path, sizeof path, dir, name);
    int fd = open(path, O_WRONLY | (create ? O_CREAT | O_TRUNC : 0), 0644);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)(n * size)) < 0 || lseek(fd, (off_t)(n * size), SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int cluster_build(store *s, const char *dir, const cluster_opts *o, cluster_result *r,
                  util_err *err)
{
    double t0 = util_now();
    memset(r, 0, sizeof *r);
    char lockpath[4096];
    cl_path_in(lockpath, sizeof lockpath, dir, "cluster.lock");
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
    cl_labels labels;
    int rc = cl_labels_load(&labels, o->labels, s, err);
    if (rc) {
        close(lock);
        return rc;
    }
    cluster_params pr;
    cl_params_from_opts(&pr, o, &labels);
    cl_state old, st;
    util_err e2 = {0};
    int have = cl_state_read(dir, &old, &e2) == 0;
    if (have && (rc = cl_journal_recover(dir, &old, err))) {
        cl_labels_free(&labels);
        close(lock);
        return rc;
    }
    const char *why = NULL;
    if (!have)
        why = e2.code == UTIL_ENOTFOUND ? "no clustering yet" : "state file damaged";
    else if (o->rebuild)
        why = "--rebuild";
    else if (old.rules != CLUSTER_RULES_VERSION)
        why = "other detector rules";
    else if (old.heuristics != pr.heuristics || old.guard != pr.guard)
        why = "other heuristics";
    else if (old.established != pr.established || old.evidence != pr.evidence)
        why = "other guard settings";
    else if (strcmp(old.labels, pr.labels) != 0)
        why = "other labels";
    else if (!cl_state_matches_store(&old, s))
        why = "the store was reorganised below the clustering";
    int full = why != NULL;
    uint64_t from = full ? 0 : old.txs;
    uint64_t to = tot->txs;
    uint32_t n_addr = (uint32_t)tot->addresses;
    int wrote = 0; /* wrote: files or journal of this run may exist (undone on failure) */
    cl_pass p = {0};
    p.links_fd = -1;
    uint8_t *kinds = NULL;
    uint32_t *map = NULL;
    const uint32_t *base_map = NULL, *base_size = NULL;
    const cl_refusal_rec *base_ref = NULL;
    char path[4096];
    r->heuristics = pr.heuristics;
    r->guard = pr.guard;
    r->params = pr;
    memset(&st, 0, sizeof st);
    if (!full && from == to) { /* up to date: report the saved figures */
        st = old;
        r->mode = 0;
        goto report;
    }
    p.heuristics = pr.heuristics;
    p.guard = pr.guard;
    p.established = pr.established;
    p.evidence = pr.evidence;
    st.gen = full ? (have ? old.gen : 0) + 1 : old.gen;
    if (full) {
        snprintf(st.map, sizeof st.map, "cluster-map.%" PRIu64 ".col", st.gen);
        snprintf(st.sizes, sizeof st.sizes, "cluster-size.%" PRIu64 ".col", st.gen);
        snprintf(st.cj, sizeof st.cj, "cluster-cj.%" PRIu64 ".col", st.gen);
        snprintf(st.links, sizeof st.links, "cluster-links.%" PRIu64 ".col", st.gen);
        snprintf(st.refusedf, sizeof st.refusedf, "cluster-refused.%" PRIu64 ".col", st.gen);
        if (cl_uf_grow(&p.uf, n_addr)) goto oom;
        if ((rc = cl_pass_guards_init(&p, &labels, NULL, 0))) goto oom;
    } else {
        memcpy(st.map, old.map, sizeof st.map);
        memcpy(st.sizes, old.sizes, sizeof st.sizes);
        memcpy(st.cj, old.cj, sizeof st.cj);
        memcpy(st.links, old.links, sizeof st.links);
        memcpy(st.refusedf, old.refusedf, sizeof st.refusedf);
        /* The saved forest stays on disk; the run copies only the entries it changes. */
        if ((rc = cl_map_u32(dir, old.map, old.addresses, &base_map, err)) ||
            (rc = cl_map_u32(dir, old.sizes, old.addresses, &base_size, err)) ||
            (rc = cl_map_bytes(dir, old.refusedf, old.refused * sizeof(cl_refusal_rec),
                               (const void **)&base_ref, err)))
            goto fail;
        if (cl_uf_init_based(&p.uf, base_map, base_size, (uint32_t)old.addresses, n_addr)) goto oom;
        if ((rc = cl_pass_guards_init(&p, &labels, base_ref, old.refused))) goto oom;
        p.addr_hwm = (uint32_t)old.addresses;
        memcpy(p.cj, old.cj_count, sizeof p.cj);
        p.change_links = old.change_links;
        p.refused = old.refused;
        p.links_multi = old.links_multi, p.links_change = old.links_change;
        p.links_evidence = old.links_evidence;
        memcpy(p.refusals, old.refusals, sizeof p.refusals);
        p.n_links = old.n_links;
    }
    /* Links are written as the pass makes them: a new file for a full build, appended after
     * the committed ones for an incremental run (readers read only the committed count). */
    wrote = 1;
    if ((p.links_fd =
             open_append(dir, st.links, full ? 0 : old.n_links, sizeof(cl_link_rec), full)) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s/%s: cannot open: %s", dir, st.links, strerror(errno));
        goto fail;
    }
    r->load_seconds = util_now() - t0;
    double t1 = util_now();
    kinds = malloc(to - from ? to - from : 1);
    if (!kinds) goto oom;
    if ((rc = cl_run_pass(s, &p, from, to, kinds, err))) goto fail;
    r->pass_seconds = util_now() - t1;
    double t2 = util_now();
    if (cl_pass_flush_links(&p) || fsync(p.links_fd) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s/%s: cannot write: %s", dir, st.links,
                       strerror(p.io_error ? p.io_error : errno));
        goto fail;
    }

    st.heuristics = pr.heuristics;
    st.rules = pr.rules;
    st.guard = pr.guard;
    st.established = pr.established;
    st.evidence = pr.evidence;
    st.labelled = pr.labelled;
    memcpy(st.labels, pr.labels, sizeof st.labels);
    st.blocks = tot->blocks;
    if (tot->blocks) memcpy(st.tip, store_block_hash(s, tot->blocks - 1), 32);
    st.txs = to;
    st.addresses = n_addr;
    memcpy(st.cj_count, p.cj, sizeof st.cj_count);
    st.change_links = p.change_links;
    st.refused = p.refused;
    st.n_links = p.n_links;
    st.links_multi = p.links_multi, st.links_change = p.links_change;
    st.links_evidence = p.links_evidence;
    memcpy(st.refusals, p.refusals, sizeof st.refusals);
    /* Refused merges: the whole file for a full build, the new ones appended otherwise (none
     * new: the committed file as it is, no write and no fsync). */
    if (full || p.n_ref > old.refused) {
        size_t old_n = full ? 0 : old.refused;
        int fd = open_append(dir, st.refusedf, old_n, sizeof(cl_refusal_rec), full);
        if (fd < 0 || util_write_all(fd, p.ref + old_n, (p.n_ref - old_n) * sizeof *p.ref) ||
            fsync(fd) < 0) {
            rc = util_errf(err, UTIL_EIO, "%s/%s: cannot write: %s", dir, st.refusedf,
                           strerror(errno));
            if (fd >= 0) close(fd);
            goto fail;
        }
        close(fd);
    }
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
        /* New files under new names, then the state file replaced atomically: a crash before
         * the rename leaves the old state with its files untouched. */
        cl_path_in(path, sizeof path, dir, st.map);
        if ((rc = util_replace_file(path, map, (size_t)n_addr * 4, err))) goto fail;
        cl_path_in(path, sizeof path, dir, st.sizes);
        if ((rc = util_replace_file(path, p.uf.size, (size_t)n_addr * 4, err))) goto fail;
    } else {
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
            cl_path_in(path, sizeof path, dir, "cluster.journal");
            rc = jb.data ? util_replace_file(path, jb.data, jb.len, err)
                         : util_errf(err, UTIL_ENOMEM, "out of memory for the journal");
            util_buf_free(&jb);
        }
        if (!rc)
            rc = cl_write_entries(dir, &st, news, nc, p.uf.parent, p.uf.size, old.addresses, n_addr,
                                  err);
        free(recs);
        free(news);
        if (rc) goto fail;
        if (o->test_crash) raise(SIGKILL);
    }
    cl_path_in(path, sizeof path, dir, st.cj);
    int fd = open(path, O_WRONLY | O_CREAT | (full ? O_TRUNC : 0), 0644);
    if (fd < 0 || ftruncate(fd, (off_t)from) < 0 || lseek(fd, (off_t)from, SEEK_SET) < 0 ||
        util_write_all(fd, kinds, to - from) || fsync(fd) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s: cannot write: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        goto fail;
    }
    close(fd);
    if ((rc = cl_state_write(dir, &st, err))) goto fail;
    if (!full) {
        cl_path_in(path, sizeof path, dir, "cluster.journal");
        unlink(path);
    }
    cl_remove_stale_files(dir, &st);
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
    r->links_multi_input = st.links_multi, r->links_change = st.links_change;
    r->links_evidence = st.links_evidence;
    memcpy(r->refusals, st.refusals, sizeof r->refusals);
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
        const char *names[] = {st.map, st.sizes, st.cj, st.links, st.refusedf};
        for (int i = 0; i < 5; i++) {
            cl_path_in(path, sizeof path, dir, names[i]);
            unlink(path);
        }
    } else if (wrote) {
        cl_state cur;
        if (cl_state_read(dir, &cur, NULL) == 0) cl_journal_recover(dir, &cur, NULL);
    }
done:
    if (p.links_fd >= 0) close(p.links_fd);
    cl_pass_free(&p);
    cl_labels_free(&labels);
    free(kinds);
    free(map);
    if (base_map) munmap((void *)base_map, (size_t)old.addresses * 4);
    if (base_size) munmap((void *)base_size, (size_t)old.addresses * 4);
    if (base_ref) munmap((void *)base_ref, (size_t)old.refused * sizeof(cl_refusal_rec));
    close(lock);
    return rc;
}
