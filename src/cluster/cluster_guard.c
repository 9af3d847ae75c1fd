/* cluster_guard: the collapse guards. A merge that would join two large entities, or a
 * labelled service with another labelled entity or with an established unlabelled one, is not
 * made on one co-spend: it is refused and recorded, and made only once co-spends in `evidence`
 * distinct txs have linked the same two entities (after Moser and Narayanan's prevention of
 * cluster collapse: stop the few wrong links that weld large clusters together, and keep them
 * for review). Every union made is written as a link, the provenance `entity why` follows.
 * Rules and defaults: docs/clustering.md, "Collapse guards". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "cluster_int.h"

static const char *const guard_names[CLUSTER_NGUARDS] = {"none", "size", "labels", "service"};

const char *cluster_guard_name(int rule)
{
    return rule >= 0 && rule < CLUSTER_NGUARDS ? guard_names[rule] : "unknown";
}

const char *cluster_link_name(int kind)
{
    return (kind & ~CLUSTER_LINK_EVIDENCE) == CLUSTER_LINK_CHANGE ? "change" : "multi_input";
}

/* ---- labels ---- */

/* Categories of services (docs/labels.md's vocabulary): an entity carrying one of these is a
 * business that holds many people's coins, and wrongly joining it to anyone is costly. */
static int service_category(const char *c)
{
    static const char *const svc[] = {"exchange", "mixer", "bridge", "swap",   "otc",
                                      "gambling", "defi",  "miner",  "darknet"};
    for (size_t i = 0; i < sizeof svc / sizeof *svc; i++)
        if (!strcmp(c, svc[i])) return 1;
    return 0;
}

typedef struct lab_row {
    const char *address, *ident;
    int service;
} lab_row;

static int cmp_row(const void *a, const void *b)
{
    const lab_row *x = a, *y = b;
    int c = strcmp(x->address, y->address);
    if (c) return c;
    if ((c = strcmp(x->ident, y->ident))) return c;
    return x->service - y->service;
}

static int cmp_ident(const void *a, const void *b)
{
    const lab_row *x = *(const lab_row *const *)a, *y = *(const lab_row *const *)b;
    int c = strcmp(x->ident, y->ident);
    return c ? c : x->service - y->service;
}

typedef struct addr_ident {
    uint32_t addr, ident;
} addr_ident;

static int cmp_ai(const void *a, const void *b)
{
    const addr_ident *x = a, *y = b;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return (x->ident > y->ident) - (x->ident < y->ident);
}

int cl_labels_load(cl_labels *l, const labels_db *db, const store *s, util_err *err)
{
    memset(l, 0, sizeof *l);
    size_t n = db ? labels_db_count(db) : 0, m = 0;
    lab_row *rows = malloc((n ? n : 1) * sizeof *rows);
    const lab_row **byid = malloc((n ? n : 1) * sizeof *byid);
    addr_ident *ai = malloc((n ? n : 1) * sizeof *ai);
    int rc = 0;
    if (!rows || !byid || !ai) goto oom;
    for (size_t i = 0; i < n; i++) {
        const labels_label *lb = labels_db_get(db, i);
        if (strcmp(lb->chain, "btc") != 0) continue;
        rows[m].address = lb->address;
        rows[m].ident = *lb->actor ? lb->actor : lb->name;
        rows[m++].service = service_category(lb->category);
    }
    /* The digest covers every btc label the guards use, in an order of their own (not the
     * store's), so that it changes exactly when the label set does. */
    qsort(rows, m, sizeof *rows, cmp_row);
    crypto_sha256_ctx c;
    crypto_sha256_init(&c);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (i && !cmp_row(&rows[i], &rows[i - 1])) continue;
        rows[k++] = rows[i];
        crypto_sha256_update(&c, rows[i].address, strlen(rows[i].address));
        crypto_sha256_update(&c, "\t", 1);
        crypto_sha256_update(&c, rows[i].ident, strlen(rows[i].ident));
        crypto_sha256_update(&c, rows[i].service ? "\t1\n" : "\t0\n", 3);
    }
    m = k;
    crypto_sha256_final(&c, l->digest);
    for (size_t i = 0; i < m; i++)
        l->labelled += i == 0 || strcmp(rows[i].address, rows[i - 1].address) != 0;
    /* Identities: distinct (identity, service) pairs numbered in sorted order. */
    for (size_t i = 0; i < m; i++)
        byid[i] = &rows[i];
    qsort(byid, m, sizeof *byid, cmp_ident);
    l->service = malloc(m ? m : 1);
    if (!l->service) goto oom;
    uint32_t *id_of = malloc((m ? m : 1) * sizeof *id_of); /* per row, by its index in rows */
    if (!id_of) goto oom;
    for (size_t i = 0; i < m; i++) {
        if (i == 0 || cmp_ident(&byid[i], &byid[i - 1]) != 0)
            l->service[l->n_ident++] = (uint8_t)byid[i]->service;
        id_of[byid[i] - rows] = (uint32_t)l->n_ident - 1;
    }
    /* The store's addresses that carry them. */
    size_t na = 0;
    for (size_t i = 0; i < m; i++) {
        btc_addr key;
        int64_t id;
        if (btc_addr_decode(&key, rows[i].address, NULL) || (id = store_find_addr(s, &key)) < 0)
            continue;
        ai[na++] = (addr_ident){(uint32_t)id, id_of[i]};
    }
    free(id_of);
    qsort(ai, na, sizeof *ai, cmp_ai);
    l->addr = malloc((na ? na : 1) * sizeof *l->addr);
    l->ident = malloc((na ? na : 1) * sizeof *l->ident);
    if (!l->addr || !l->ident) goto oom;
    for (size_t i = 0; i < na; i++) {
        if (l->n && l->addr[l->n - 1] == ai[i].addr) {
            if (l->ident[l->n - 1] != ai[i].ident) l->ident[l->n - 1] = CL_LABEL_MULTI;
            continue;
        }
        l->addr[l->n] = ai[i].addr;
        l->ident[l->n++] = ai[i].ident;
    }
    goto done;
oom:
    rc = util_errf(err, UTIL_ENOMEM, "out of memory loading %zu labels for the guards", n);
    cl_labels_free(l);
done:
    free(rows);
    free(byid);
    free(ai);
    return rc;
}

void cl_labels_free(cl_labels *l)
{
    free(l->addr);
    free(l->ident);
    free(l->service);
    memset(l, 0, sizeof *l);
}

int cl_labels_is_service(const cl_labels *l, uint32_t ident)
{
    if (ident == CL_LABEL_MULTI) return 1; /* several actors: treat as the strictest case */
    return ident < l->n_ident && l->service[ident];
}

/* ---- the per-root state: labels and refusal lists ---- */

static uint32_t root_ident(const cl_pass *p, uint32_t root)
{
    uint64_t v;
    return util_hmap_get(&p->root_label, root, &v) ? (uint32_t)v : UINT32_MAX - 1;
}
#define NO_IDENT (UINT32_MAX - 1)

static void set_ident(cl_pass *p, uint32_t root, uint32_t ident)
{
    if (util_hmap_put(&p->root_label, root, ident)) p->oom = 1;
}

/* Combine the identities of two entities that merge. */
static uint32_t combine(uint32_t a, uint32_t b)
{
    if (a == NO_IDENT) return b;
    if (b == NO_IDENT || a == b) return a;
    return CL_LABEL_MULTI;
}

static void list_append(cl_pass *p, uint32_t root, uint32_t node)
{
    uint64_t v;
    p->ref_next[node] = UINT32_MAX;
    if (util_hmap_get(&p->ref_list, root, &v)) {
        p->ref_next[(uint32_t)v] = node;
        v = (v & 0xffffffff00000000ULL) | node;
    } else {
        v = (uint64_t)node << 32 | node;
    }
    if (util_hmap_put(&p->ref_list, root, v)) p->oom = 1;
}

static int ref_push(cl_pass *p, const cl_refusal_rec *r)
{
    if (p->n_ref == p->cap_ref) {
        size_t nc = p->cap_ref ? p->cap_ref * 2 : 256;
        cl_refusal_rec *nr = realloc(p->ref, nc * sizeof *nr);
        if (!nr) return p->oom = 1, UTIL_ENOMEM;
        p->ref = nr;
        uint32_t *nn = realloc(p->ref_next, 2 * nc * sizeof *nn);
        if (!nn) return p->oom = 1, UTIL_ENOMEM;
        p->ref_next = nn;
        p->cap_ref = nc;
    }
    p->ref[p->n_ref++] = *r;
    return 0;
}

int cl_pass_guards_init(cl_pass *p, const cl_labels *labels, const cl_refusal_rec *saved, size_t n)
{
    p->labels = labels;
    for (size_t i = 0; labels && i < labels->n; i++) {
        if (labels->addr[i] >= p->uf.n) break;
        uint32_t r = cl_uf_root(&p->uf, labels->addr[i]);
        set_ident(p, r, combine(root_ident(p, r), labels->ident[i]));
    }
    for (size_t i = 0; i < n; i++) {
        if (ref_push(p, &saved[i])) return UTIL_ENOMEM;
        uint32_t ra = cl_uf_root(&p->uf, saved[i].a), rb = cl_uf_root(&p->uf, saved[i].b);
        if (ra == rb) continue; /* joined since: no evidence for anything */
        list_append(p, ra, (uint32_t)(2 * i));
        list_append(p, rb, (uint32_t)(2 * i + 1));
    }
    return p->oom ? UTIL_ENOMEM : 0;
}

/* ---- merging ---- */

static int guard_rule(const cl_pass *p, uint32_t ra, uint32_t rb, uint32_t sa, uint32_t sb)
{
    if (sa >= p->guard && sb >= p->guard) return CLUSTER_GUARD_SIZE;
    if (!p->root_label.n) return CLUSTER_GUARD_NONE; /* no labelled entity at all */
    uint32_t la = root_ident(p, ra), lb = root_ident(p, rb);
    int svc_a = la != NO_IDENT && cl_labels_is_service(p->labels, la);
    int svc_b = lb != NO_IDENT && cl_labels_is_service(p->labels, lb);
    if (la != NO_IDENT && lb != NO_IDENT && (la != lb || la == CL_LABEL_MULTI) && (svc_a || svc_b))
        return CLUSTER_GUARD_LABELS;
    if ((svc_a && lb == NO_IDENT && sb >= p->established) ||
        (svc_b && la == NO_IDENT && sa >= p->established))
        return CLUSTER_GUARD_SERVICE;
    return CLUSTER_GUARD_NONE;
}

static void link_push(cl_pass *p, uint32_t a, uint32_t b, uint64_t tx, int kind)
{
    p->n_links++;
    if (p->links_fd < 0) return;
    if (!p->lbuf && !(p->lbuf = malloc(65536 * sizeof *p->lbuf))) {
        p->oom = 1;
        return;
    }
    p->lbuf[p->lbuf_n++] = (cl_link_rec){a, b, tx << 8 | (uint64_t)kind};
    if (p->lbuf_n == 65536) cl_pass_flush_links(p);
}

int cl_pass_flush_links(cl_pass *p)
{
    if (p->links_fd >= 0 && p->lbuf_n && !p->io_error &&
        util_write_all(p->links_fd, p->lbuf, p->lbuf_n * sizeof *p->lbuf))
        p->io_error = errno ? errno : EIO;
    p->lbuf_n = 0;
    return p->io_error ? UTIL_EIO : 0;
}

/* Union of two roots with the per-root state carried over to the one that stays. */
static void join(cl_pass *p, uint32_t ra, uint32_t rb)
{
    uint32_t keep = cl_uf_join_roots(&p->uf, ra, rb), gone = keep == ra ? rb : ra;
    if (p->root_label.n) {
        uint32_t lg = root_ident(p, gone);
        if (lg != NO_IDENT) {
            set_ident(p, keep, combine(root_ident(p, keep), lg));
            util_hmap_del(&p->root_label, gone);
        }
    }
    uint64_t vg, vk;
    if (p->ref_list.n && util_hmap_get(&p->ref_list, gone, &vg)) {
        if (util_hmap_get(&p->ref_list, keep, &vk)) {
            p->ref_next[(uint32_t)vk] = (uint32_t)(vg >> 32);
            vk = (vk & 0xffffffff00000000ULL) | (vg & 0xffffffffULL);
        } else {
            vk = vg;
        }
        if (util_hmap_put(&p->ref_list, keep, vk)) p->oom = 1;
        util_hmap_del(&p->ref_list, gone);
    }
}

/* Distinct txs among the refused records between roots ra and rb (walking the shorter list),
 * and whether tx is one of them. */
static uint32_t evidence_of(cl_pass *p, uint32_t ra, uint32_t rb, uint64_t tx, int *has_tx)
{
    uint64_t va, vb;
    *has_tx = 0;
    int ha = util_hmap_get(&p->ref_list, ra, &va), hb = util_hmap_get(&p->ref_list, rb, &vb);
    if (!ha || !hb) return 0;
    /* The lists' lengths are not kept; walk both in step and stop at the shorter one's end. */
    uint32_t na = (uint32_t)(va >> 32), nb = (uint32_t)(vb >> 32), other = rb;
    while (na != UINT32_MAX && nb != UINT32_MAX)
        na = p->ref_next[na], nb = p->ref_next[nb];
    uint32_t node = (uint32_t)(va >> 32);
    if (na != UINT32_MAX) node = (uint32_t)(vb >> 32), other = ra; /* b's list is the shorter */
    uint64_t txs[64];
    uint32_t n = 0, extra = 0;
    for (; node != UINT32_MAX; node = p->ref_next[node]) {
        const cl_refusal_rec *r = &p->ref[node / 2];
        uint32_t far = node & 1 ? r->a : r->b;
        if (cl_uf_root(&p->uf, far) != other) continue;
        uint64_t t = r->info >> 8;
        if (t == tx) *has_tx = 1;
        int seen = 0;
        for (uint32_t i = 0; i < n && !seen; i++)
            seen = txs[i] == t;
        if (seen) continue;
        if (n < 64)
            txs[n++] = t;
        else
            extra++; /* more than enough evidence for any setting; exactness no longer matters */
    }
    return n + extra;
}

void cl_pass_merge(cl_pass *p, uint32_t a, uint32_t b, uint64_t tx, int heuristic)
{
    uint32_t ra = cl_uf_find(&p->uf, a), rb = cl_uf_find(&p->uf, b);
    if (ra == rb) return;
    uint32_t sa = cl_uf_size(&p->uf, ra), sb = cl_uf_size(&p->uf, rb);
    int rule = guard_rule(p, ra, rb, sa, sb);
    int kind = heuristic;
    if (rule) {
        int has_tx;
        uint32_t ev = evidence_of(p, ra, rb, tx, &has_tx);
        if (has_tx) return; /* this tx already asked to join these two: still one co-spend */
        if (ev + 1 < p->evidence) {
            cl_refusal_rec r = {a, b, sa, sb, tx << 8 | (uint64_t)heuristic << 4 | (uint64_t)rule};
            if (ref_push(p, &r)) return;
            list_append(p, ra, (uint32_t)(2 * (p->n_ref - 1)));
            list_append(p, rb, (uint32_t)(2 * (p->n_ref - 1) + 1));
            p->refused++;
            p->refusals[rule]++;
            return;
        }
        kind |= CLUSTER_LINK_EVIDENCE;
        p->links_evidence++;
    }
    link_push(p, a, b, tx, kind);
    if (heuristic == CLUSTER_LINK_CHANGE)
        p->links_change++, p->change_links++;
    else
        p->links_multi++;
    join(p, ra, rb);
}

void cl_pass_free(cl_pass *p)
{
    cl_uf_free(&p->uf);
    cluster_scratch_free(&p->sc);
    util_hmap_free(&p->root_label);
    util_hmap_free(&p->ref_list);
    free(p->ref);
    free(p->ref_next);
    free(p->lbuf);
    p->ref = NULL, p->ref_next = NULL, p->lbuf = NULL;
}
