/* cluster internals shared by the module's files (not part of the interface). */
#ifndef CT_CLUSTER_INT_H
#define CT_CLUSTER_INT_H

#include "../util/util_hmap.h"
#include "cluster.h"

/* Union-find over address ids: parent and size arrays (u32), owned by the struct. The root of
 * every set is its smallest id (union keeps the smaller root), so the root is the entity id.
 *
 * Based mode (an incremental run): ids below base_n start as the saved forest base_parent /
 * base_size (memory-mapped, read-only) and are copied into parent/size only when first
 * changed; changed lists those ids, so a commit writes just them. The dense arrays come from
 * calloc, so pages never touched cost no memory. */
typedef struct cl_uf {
    uint32_t *parent, *size;
    uint32_t n;
    const uint32_t *base_parent, *base_size;
    uint32_t base_n;
    uint8_t *touched; /* based mode: bit per id below base_n, set once copied */
    uint32_t *changed;
    size_t n_changed, cap_changed;
    int oom;                /* a changed-list allocation failed */
    int64_t entities_delta; /* sets added by grow minus unions made */
    int64_t singletons_delta;
} cl_uf;

/* Grow to n elements (new ones singletons). 0 or UTIL_ENOMEM. */
int cl_uf_grow(cl_uf *u, uint32_t n);
/* Start based on a saved forest of base_n ids (see above), then grow to n. 0 or UTIL_ENOMEM. */
int cl_uf_init_based(cl_uf *u, const uint32_t *base_parent, const uint32_t *base_size,
                     uint32_t base_n, uint32_t n);
void cl_uf_free(cl_uf *u);
uint32_t cl_uf_find(cl_uf *u, uint32_t x);
/* Size of the set rooted at root. */
uint32_t cl_uf_size(const cl_uf *u, uint32_t root);
/* Parent of x as stored (x itself for a root). */
uint32_t cl_uf_parent(const cl_uf *u, uint32_t x);
/* The root of x, without compressing the path (so no entry changes). */
uint32_t cl_uf_root(const cl_uf *u, uint32_t x);
/* Union, keeping the smaller root; returns the new root. */
uint32_t cl_uf_union(cl_uf *u, uint32_t a, uint32_t b);
/* The same for two roots (no finds). */
uint32_t cl_uf_join_roots(cl_uf *u, uint32_t a, uint32_t b);

/* ---- collapse guards (cluster_guard.c) ---- */

/* The labels the guards use: every labelled address of the store with its identity (the
 * label's actor, else its name; CL_LABEL_MULTI when the address carries several), and per
 * identity whether its category is a service's. Built once per run (cl_labels_load). */
#define CL_LABEL_MULTI 0xffffffffu
typedef struct cl_labels {
    uint32_t *addr;  /* ascending address ids */
    uint32_t *ident; /* identity of addr[i] (0-based), or CL_LABEL_MULTI */
    size_t n;
    uint8_t *service; /* per identity: 1 if a service (exchange, mixer, ...) */
    size_t n_ident;
    uint64_t labelled;  /* btc addresses in the digest (the store may not hold them all) */
    uint8_t digest[32]; /* sha256 over the sorted (address, identity, service) lines */
} cl_labels;

/* Collect the btc labels of db (may be NULL: none) for the store s. 0 or UTIL_ENOMEM. */
int cl_labels_load(cl_labels *l, const labels_db *db, const store *s, util_err *err);
void cl_labels_free(cl_labels *l);
/* Whether an identity (or CL_LABEL_MULTI) counts as a service's. */
int cl_labels_is_service(const cl_labels *l, uint32_t ident);

/* A refused merge, as stored in cluster-refused.<gen>.col (24 bytes, host order). info =
 * tx << 8 | heuristic << 4 | rule. */
typedef struct cl_refusal_rec {
    uint32_t a, b;           /* the addresses the tx would have joined */
    uint32_t size_a, size_b; /* their entities' sizes then */
    uint64_t info;
} cl_refusal_rec;
/* A union, as stored in cluster-links.<gen>.col (16 bytes, host order). info = tx << 8 |
 * CLUSTER_LINK_* (with CLUSTER_LINK_EVIDENCE for merges made on evidence). */
typedef struct cl_link_rec {
    uint32_t a, b;
    uint64_t info;
} cl_link_rec;

/* One pass over txs [from, to): multi-input unions (CoinJoins excluded) and change links, each
 * through the guards. kinds (may be NULL) receives the kind of tx from+i at kinds[i]. */
typedef struct cl_pass {
    cl_uf uf;
    unsigned heuristics;
    uint32_t guard, established, evidence;
    uint32_t addr_hwm; /* address count before the next tx */
    uint64_t cj[CLUSTER_CJ_NKINDS];
    uint64_t change_links, refused;
    uint64_t links_multi, links_change, links_evidence;
    uint64_t refusals[CLUSTER_NGUARDS];
    cluster_scratch sc;
    /* Labels: the run's label set (may be NULL) and the identity of every labelled root. */
    const cl_labels *labels;
    util_hmap root_label; /* root -> identity */
    /* Refused merges: every record of the clustering (the saved ones loaded first), and per
     * root the list of its records' nodes (node 2i is record i's side a, 2i+1 its side b):
     * ref_list maps a root to head << 32 | tail, ref_next chains the nodes. */
    cl_refusal_rec *ref;
    size_t n_ref, cap_ref;
    uint32_t *ref_next;
    util_hmap ref_list;
    /* Links: written to links_fd (-1: only counted) through a buffer; n_links counts all of
     * the clustering's. */
    int links_fd;
    cl_link_rec *lbuf;
    size_t lbuf_n;
    uint64_t n_links;
    int io_error; /* errno of a failed links write */
    int oom;
    /* For evaluation only: with owner set (truth entity per address id), every change pick is
     * counted in picks and, when input and output have one owner, in picks_ok; no_exclude
     * joins CoinJoin inputs too (to measure what the exclusion is worth). */
    const uint32_t *owner;
    uint64_t picks, picks_ok;
    int no_exclude;
} cl_pass;

/* Set up the guards' state of a pass whose union-find already holds the saved forest: the
 * labels of every root, and the refusal lists from the n saved records (copied). 0 or
 * UTIL_ENOMEM. */
int cl_pass_guards_init(cl_pass *p, const cl_labels *labels, const cl_refusal_rec *saved, size_t n);
/* Join the entities of addresses a and b for tx by heuristic (CLUSTER_LINK_*), through the
 * guards: made (and linked), or refused and recorded unless enough evidence has come. */
void cl_pass_merge(cl_pass *p, uint32_t a, uint32_t b, uint64_t tx, int heuristic);
/* Write out buffered links (links_fd). 0 or UTIL_EIO. */
int cl_pass_flush_links(cl_pass *p);
void cl_pass_free(cl_pass *p);

int cl_run_pass(const store *s, cl_pass *p, uint64_t from, uint64_t to, uint8_t *kinds,
                util_err *err);

/* ---- the saved clustering (cluster_state.c) ---- */

typedef struct cl_state {
    unsigned heuristics, rules;
    uint32_t guard, established, evidence;
    uint64_t labelled;
    char labels[65]; /* digest hex or "none" */
    uint64_t blocks, txs, addresses, gen;
    uint8_t tip[32];
    char map[64], cj[64], sizes[64], links[64], refusedf[64];
    uint64_t entities, singletons, change_links, refused, n_links;
    uint64_t links_multi, links_change, links_evidence;
    uint64_t refusals[CLUSTER_NGUARDS];
    uint64_t cj_count[CLUSTER_CJ_NKINDS];
    uint32_t largest_id[10], largest_size[10];
    unsigned n_largest;
    uint8_t file_sum[32]; /* sha256 of the state file as read (not written into it) */
} cl_state;

/* An open clustering (cluster_open): its state and the mapped map, sizes, kinds, links and
 * refusals files. */
struct cluster_map {
    cl_state st;
    const uint32_t *map, *sizes;
    const uint8_t *kinds;
    const cl_link_rec *links;
    const cl_refusal_rec *refusals;
    size_t map_len, kinds_len, links_len, refusals_len;
    int recovered; /* an interrupted commit's old values were put back in private pages */
};

/* DIR/cluster.journal (the protocol is described in cluster_state.c): a header, then count
 * records of the old values of the entries an incremental commit changes. */
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

/* DIR/name into out (n bytes). */
void cl_path_in(char *out, size_t n, const char *dir, const char *name);
/* Write DIR/cluster.state atomically (temp file, fsync, rename): the commit point. */
int cl_state_write(const char *dir, const cl_state *st, util_err *err);
/* Read DIR/cluster.state. UTIL_ENOTFOUND if absent, UTIL_ECORRUPT if damaged. */
int cl_state_read(const char *dir, cl_state *st, util_err *err);
/* Whether the store still holds the chain the state was built on. */
int cl_state_matches_store(const cl_state *st, const store *s);
/* Remove map/cj files of other generations, and temp files a killed run left. */
void cl_remove_stale_files(const char *dir, const cl_state *st);
/* Apply (index, parent, size) entries to the map and sizes files, cut or extend them to
 * addresses entries (those from tail_from taken from tail_parent/tail_size when given),
 * and fsync both. */
int cl_write_entries(const char *dir, const cl_state *st, const cl_journal_rec *recs, size_t n,
                     const uint32_t *tail_parent, const uint32_t *tail_size, uint64_t tail_from,
                     uint64_t addresses, util_err *err);
/* Writer (holding cluster.lock): put back the old values of an interrupted commit and cut the
 * files to their old length, then delete the journal (also one of a finished commit). */
int cl_journal_recover(const char *dir, const cl_state *st, util_err *err);
/* Map len bytes of a file of the saved clustering read-only (*out NULL when len is 0). */
int cl_map_bytes(const char *dir, const char *name, size_t len, const void **out, util_err *err);
/* The address id of arg: an address, or a decimal address id (cluster_prov.c). */
int cl_resolve_arg(const cluster_map *m, const store *s, const char *arg, uint32_t *out,
                   util_err *err);
/* How r->entity was formed: links inside it by heuristic, the refused merges touching it, the
 * clustering's parameters. 0 or UTIL_ENOMEM. */
int cl_entity_formation(const cluster_map *m, const store *s, cluster_entity_result *r);
/* The parameters of options and labels, and of a saved state (cluster.c). */
void cl_params_from_opts(cluster_params *pr, const cluster_opts *o, const cl_labels *l);
void cl_params_from_state(cluster_params *pr, const cl_state *st);
/* Map a whole u32 file of the saved clustering read-only (n entries). */
int cl_map_u32(const char *dir, const char *name, uint64_t n, const uint32_t **out, util_err *err);

#endif
