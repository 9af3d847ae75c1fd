/* sharing: the export of a case or an incident, built from the case module's typed results
 * (case_full, case_incident) and, for deposits, the trace module's (trace_result of a recorded
 * run computed again): labels, notes, txs and the incident, which every writer takes as any
 * other sharing_set. Nothing is read back from the runs' JSON documents but the list of seed
 * specs a run was given (case_run.seeds), as case_trace_rerun reads it. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../etrace/etrace.h"
#include "sharing_int.h"

struct sharing_built_own {
    char **strs; /* every string the export points at */
    size_t n_strs, cap_strs;
    labels_label *labels;
    const labels_label **ptrs;
    const char **notes;
    size_t n_labels, cap_labels;
    sharing_tx *txs;
    size_t n_txs, cap_txs;
    sharing_attribution *attrs;
    const char **urls;
    int oom;
};

/* ---- owned strings ---- */

static const char *keep(sharing_built *b, char *s)
{
    struct sharing_built_own *o = b->own;
    if (!s) {
        o->oom = 1;
        return "";
    }
    if (o->n_strs == o->cap_strs) {
        size_t nc = o->cap_strs ? 2 * o->cap_strs : 64;
        char **v = realloc(o->strs, nc * sizeof *v);
        if (!v) {
            free(s);
            o->oom = 1;
            return "";
        }
        o->strs = v, o->cap_strs = nc;
    }
    o->strs[o->n_strs++] = s;
    return s;
}

static const char *dup(sharing_built *b, const char *s)
{
    return keep(b, strdup(s ? s : ""));
}

static const char *fmt(sharing_built *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static const char *fmt(sharing_built *b, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return keep(b, s);
}

/* ---- labels ---- */

typedef struct label_in {
    const char *chain, *address, *category, *actor, *name, *source, *url;
    const char *first_seen, *last_seen, *updated, *note;
    int confidence;
} label_in;

/* Add a label, or merge it into the one with its key (chain, address, source, category):
 * replace (an analyst's newer label) or append the note and widen the seen dates. */
static void add_label(sharing_built *b, const label_in *in, int replace)
{
    struct sharing_built_own *o = b->own;
    char canon[128];
    const char *address = in->address;
    if (!labels_canon_address(canon, in->chain, in->address, NULL)) address = canon;
    for (size_t i = 0; i < o->n_labels; i++) {
        labels_label *l = &o->labels[i];
        if (strcmp(l->chain, in->chain) || strcmp(l->address, address) ||
            strcmp(l->source, in->source) || strcmp(l->category, in->category))
            continue;
        if (!replace) {
            if (in->note && *in->note)
                o->notes[i] =
                    *o->notes[i] ? fmt(b, "%s; %s", o->notes[i], in->note) : dup(b, in->note);
            if (in->first_seen && *in->first_seen &&
                (!*l->first_seen || strcmp(in->first_seen, l->first_seen) < 0))
                l->first_seen = (char *)dup(b, in->first_seen);
            if (in->last_seen && strcmp(in->last_seen, l->last_seen) > 0)
                l->last_seen = (char *)dup(b, in->last_seen);
            return;
        }
        memmove(l, l + 1, (o->n_labels - i - 1) * sizeof *l);
        memmove(&o->notes[i], &o->notes[i + 1], (o->n_labels - i - 1) * sizeof *o->notes);
        o->n_labels--;
        break;
    }
    if (o->n_labels == o->cap_labels) {
        size_t nc = o->cap_labels ? 2 * o->cap_labels : 32;
        labels_label *v = realloc(o->labels, nc * sizeof *v);
        if (v) o->labels = v;
        const char **nv = v ? realloc(o->notes, nc * sizeof *nv) : NULL;
        if (!v || !nv) {
            o->oom = 1;
            return;
        }
        o->notes = nv, o->cap_labels = nc;
    }
    labels_label *l = &o->labels[o->n_labels];
#define D(x) (char *)dup(b, x)
    *l = (labels_label){.chain = D(in->chain),
                        .address = D(address),
                        .category = D(in->category),
                        .actor = D(in->actor),
                        .name = D(in->name),
                        .source = D(in->source),
                        .url = D(in->url),
                        .programs = D(""),
                        .first_seen = D(in->first_seen),
                        .last_seen = D(in->last_seen),
                        .updated = D(in->updated),
                        .confidence = in->confidence};
#undef D
    o->notes[o->n_labels++] = dup(b, in->note);
}

/* The stop label's confidence and URL for an endpoint (the store's label of that address and
 * category), else 50 and "". */
static void stop_label(const labels_db *db, const char *chain, const char *address,
                       const char *category, int *confidence, const char **url)
{
    *confidence = 50;
    *url = "";
    if (!db) return;
    char canon[128];
    if (labels_canon_address(canon, chain, address, NULL)) return;
    const labels_label *first;
    size_t n;
    labels_find(db, chain, canon, &first, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(first[i].category, category)) {
            *confidence = first[i].confidence;
            *url = first[i].url;
            return;
        }
}

/* ---- transactions from the store ---- */

static char *addr_text(const store *s, uint64_t out, char buf[128])
{
    uint32_t a = store_out_addr(s, out);
    if (a == STORE_NO_ADDR) return NULL;
    store_addr_text(s, a, buf);
    return buf;
}

/* Add Bitcoin tx `tx` (store id) with its inputs and outputs, once. */
static void add_tx(sharing_built *b, const store *s, uint64_t tx)
{
    struct sharing_built_own *o = b->own;
    char txid[65], a[128], num[32];
    util_hash_hex(txid, store_tx_hash(s, tx));
    for (size_t i = 0; i < o->n_txs; i++)
        if (!strcmp(o->txs[i].chain, "btc") && !strcmp(o->txs[i].txid, txid)) return;
    if (o->n_txs == o->cap_txs) {
        size_t nc = o->cap_txs ? 2 * o->cap_txs : 16;
        sharing_tx *v = realloc(o->txs, nc * sizeof *v);
        if (!v) {
            o->oom = 1;
            return;
        }
        o->txs = v, o->cap_txs = nc;
    }
    store_tx_row row;
    store_tx(s, tx, &row);
    uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx);
    sharing_move *in = calloc(nin ? nin : 1, sizeof *in),
                 *outs = calloc(nout ? nout : 1, sizeof *outs);
    if (!in || !outs) {
        free(in), free(outs);
        o->oom = 1;
        return;
    }
    /* the moves arrays are kept as strings are: freed with the export */
    keep(b, (char *)in);
    keep(b, (char *)outs);
    size_t ni = 0, no = 0;
    for (uint32_t k = 0; k < nin && !(row.flags & STORE_TX_COINBASE); k++) {
        uint64_t prev = store_in_prev(s, row.first_in + k);
        if (prev == STORE_COINBASE || prev == STORE_UNRESOLVED) continue;
        if (!addr_text(s, prev, a)) continue;
        snprintf(num, sizeof num, "%" PRId64, store_out_value(s, prev));
        in[ni++] = (sharing_move){dup(b, a), dup(b, num)};
    }
    for (uint32_t k = 0; k < nout; k++) {
        uint64_t out = row.first_out + k;
        if (!addr_text(s, out, a)) continue;
        snprintf(num, sizeof num, "%" PRId64, store_out_value(s, out));
        outs[no++] = (sharing_move){dup(b, a), dup(b, num)};
    }
    const char *fee = NULL;
    if (!(row.flags & (STORE_TX_COINBASE | STORE_TX_UNRESOLVED))) fee = fmt(b, "%" PRId64, row.fee);
    const store_block_row *blk = store_block(s, row.block);
    o->txs[o->n_txs++] = (sharing_tx){.chain = "btc",
                                      .txid = dup(b, txid),
                                      .time = blk ? blk->time : 0,
                                      .fee = fee,
                                      .inputs = in,
                                      .n_inputs = ni,
                                      .outputs = outs,
                                      .n_outputs = no};
}

/* A tx known only by its hash (an EVM seed, or a Bitcoin one without the store). */
static void add_bare_tx(sharing_built *b, const char *chain, const char *txid)
{
    struct sharing_built_own *o = b->own;
    for (size_t i = 0; i < o->n_txs; i++)
        if (!strcmp(o->txs[i].chain, chain) && !strcmp(o->txs[i].txid, txid)) return;
    if (o->n_txs == o->cap_txs) {
        size_t nc = o->cap_txs ? 2 * o->cap_txs : 16;
        sharing_tx *v = realloc(o->txs, nc * sizeof *v);
        if (!v) {
            o->oom = 1;
            return;
        }
        o->txs = v, o->cap_txs = nc;
    }
    o->txs[o->n_txs++] = (sharing_tx){.chain = dup(b, chain), .txid = dup(b, txid)};
}

/* ---- seeds ---- */

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

/* A seed spec as labels (its addresses) and txs: a btc TXID:N or TXID (the outputs' addresses
 * and the tx, from the store), a btc address, an EVM 0xTXHASH[:N] or 0xADDRESS[:FROM-TO]. */
static void add_seed(sharing_built *b, const store *s, const char *chain, const char *spec,
                     const label_in *tmpl)
{
    label_in l = *tmpl;
    l.chain = chain;
    size_t n = strlen(spec);
    if (!strcmp(chain, "btc")) {
        const char *colon = strchr(spec, ':');
        size_t hl = colon ? (size_t)(colon - spec) : n;
        if (hl == 64 && is_hex(spec, 64)) {
            char hex[65];
            memcpy(hex, spec, 64), hex[64] = 0;
            uint8_t h[32];
            int64_t tx = s && !util_hash_parse(h, hex) ? store_find_tx(s, h) : -1;
            if (tx < 0) {
                add_bare_tx(b, chain, hex);
                return;
            }
            add_tx(b, s, (uint64_t)tx);
            store_tx_row row;
            store_tx(s, (uint64_t)tx, &row);
            uint32_t nout = store_tx_n_out(s, (uint64_t)tx);
            long vout = colon ? strtol(colon + 1, NULL, 10) : -1;
            char a[128];
            for (uint32_t k = 0; k < nout; k++) {
                if (vout >= 0 && (long)k != vout) continue;
                if (!addr_text(s, row.first_out + k, a)) continue;
                l.address = a;
                add_label(b, &l, 0);
            }
            return;
        }
        l.address = spec;
        add_label(b, &l, 0);
        return;
    }
    /* EVM: a 32-byte hash is a tx, a 20-byte value an address (a range after ':' dropped) */
    const char *colon = strchr(spec, ':');
    size_t hl = colon ? (size_t)(colon - spec) : n;
    char head[80];
    if (hl >= sizeof head) return;
    memcpy(head, spec, hl), head[hl] = 0;
    if (hl == 66)
        add_bare_tx(b, chain, head);
    else {
        l.address = head;
        add_label(b, &l, 0);
    }
}

/* ---- deposits: a recorded Bitcoin run computed again ---- */

typedef struct dep_list {
    sharing_deposit *v;
    size_t n, cap;
} dep_list;

static int by_addr(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int run_deposits(sharing_built *b, const sharing_case_src *src, const case_run *run,
                        const char *share, dep_list *dl, util_err *err)
{
    const store *s = src->btc;
    trace_opts o;
    trace_default_opts(&o);
    int policy = trace_policy_parse(run->policy), dir = trace_direction_parse(run->direction);
    if (policy < 0 || dir < 0)
        return util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": policy or direction", run->id);
    o.policy = policy, o.direction = dir, o.hops = run->hops;
    o.until = run->until, o.max_outputs = run->max_visits;
    o.follow_mixers = run->follow_mixers;
    o.min_value = strtoull(run->min_value, NULL, 10);
    json_error_t je;
    json_t *seeds = json_loads(run->seeds, 0, &je);
    trace_seeds sd = {0};
    int rc = json_is_array(seeds) && json_array_size(seeds)
                 ? 0
                 : util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": seeds", run->id);
    for (size_t i = 0; !rc && i < json_array_size(seeds); i++) {
        const char *spec = json_string_value(json_array_get(seeds, i));
        if (!spec)
            rc = util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": seed %zu", run->id, i);
        else if ((rc = trace_add_spec(&sd, s, spec, err)))
            util_err_prefix(err, "trace run %" PRId64 ": seed %s", run->id, spec);
    }
    json_decref(seeds);
    trace_result r = {0};
    const cluster_map *cl = run->clustered ? src->clusters : NULL;
    if (!rc) rc = trace_compute(s, src->labels, cl, &sd, &o, &r, err);
    trace_seeds_free(&sd);
    if (rc) return rc;
    if (strcmp(run->state.btc_tip, "") && store_get_totals(s)->blocks &&
        (int64_t)store_get_totals(s)->blocks - 1 != run->state.btc_height)
        util_buf_printf(&b->warnings,
                        "trace run %" PRId64 " ran at height %" PRId64 "; the store is at %" PRIu64
                        " now: amounts may differ\n",
                        run->id, run->state.btc_height, store_get_totals(s)->blocks - 1);
    /* endpoint by address id, and each tx's nearest predecessor edge (the path) */
    uint64_t(*eps)[2] = calloc(r.n_endpoints ? r.n_endpoints : 1, sizeof *eps);
    uint32_t *pred = calloc(r.n_txs ? r.n_txs : 1, sizeof *pred);
    if (!eps || !pred) {
        free(eps), free(pred);
        trace_result_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r.n_endpoints; i++)
        eps[i][0] = r.endpoints[i].address, eps[i][1] = i;
    qsort(eps, r.n_endpoints, sizeof *eps, by_addr);
    for (size_t i = 0; i < r.n_txs; i++)
        pred[i] = TRACE_NONE;
    for (size_t e = 0; e < r.n_edges; e++) {
        const trace_edge *x = &r.edges[e];
        if (x->to_tx == TRACE_NONE) continue;
        uint32_t d = x->from_tx == TRACE_NONE ? 0 : r.txs[x->from_tx].depth;
        uint32_t p = pred[x->to_tx];
        uint32_t dp = p == TRACE_NONE                    ? UINT32_MAX
                      : r.edges[p].from_tx == TRACE_NONE ? 0
                                                         : r.txs[r.edges[p].from_tx].depth;
        if (d < dp) pred[x->to_tx] = (uint32_t)e;
    }
    for (size_t e = 0; !rc && e < r.n_edges; e++) {
        const trace_edge *x = &r.edges[e];
        if (x->fate != TRACE_FATE_ENDPOINT || x->address == STORE_NO_ADDR) continue;
        uint64_t key[2] = {x->address, 0};
        uint64_t(*hit)[2] = bsearch(key, eps, r.n_endpoints, sizeof *eps, by_addr);
        if (!hit) continue;
        size_t ei = (size_t)(*hit)[1];
        const labels_label *stop = labels_db_get(src->labels, r.endpoints[ei].label);
        labels_actor who;
        trace_result_endpoint_actor(&r, ei, &who);
        char abuf[160], txid[65], a[128], op[160];
        const char *actor = labels_actor_text(&who, abuf, sizeof abuf);
        uint64_t tx = store_output_tx(s, x->output);
        store_tx_row row;
        store_tx(s, tx, &row);
        util_hash_hex(txid, store_tx_hash(s, tx));
        /* the path, deposit side first, then reversed */
        size_t cap = 8, len = 0;
        const char **path = malloc(cap * sizeof *path);
        if (!path) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        uint32_t cur = x->from_tx;
        uint64_t seed_out = x->output;
        for (size_t guard = 0; cur != TRACE_NONE && guard <= r.n_txs; guard++) {
            char t[65];
            trace_result_txid(&r, cur, t);
            if (len + 1 >= cap) {
                const char **np = realloc(path, 2 * cap * sizeof *np);
                if (!np) break;
                path = np, cap *= 2;
            }
            path[len++] = dup(b, t);
            uint32_t pe = pred[cur];
            if (pe == TRACE_NONE) break;
            seed_out = r.edges[pe].output;
            cur = r.edges[pe].from_tx;
        }
        path[len++] = dup(b, trace_result_outpoint(&r, seed_out, op, sizeof op));
        for (size_t i = 0; i < len / 2; i++) {
            const char *t = path[i];
            path[i] = path[len - 1 - i], path[len - 1 - i] = t;
        }
        keep(b, (char *)path);
        if (dl->n == dl->cap) {
            size_t nc = dl->cap ? 2 * dl->cap : 64;
            sharing_deposit *v = realloc(dl->v, nc * sizeof *v);
            if (!v) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            dl->v = v, dl->cap = nc;
        }
        const store_block_row *blk = store_block(s, row.block);
        dl->v[dl->n++] = (sharing_deposit){
            .address = dup(b, addr_text(s, x->output, a) ? a : ""),
            .category = dup(b, stop->category),
            .actor = dup(b, actor),
            .txid = dup(b, txid),
            .vout = (uint32_t)(x->output - row.first_out),
            .height = row.block,
            .time = blk ? blk->time : 0,
            .value = (uint64_t)store_out_value(s, x->output),
            .traced = x->value,
            .share = dup(b, share),
            .run_id = run->id,
            .path = path,
            .path_len = len,
            .chain = "btc",
            .asset = "BTC",
            .symbol = "BTC",
            .decimals = 8,
            .amount = fmt(b, "%" PRId64, store_out_value(s, x->output)),
            .traced_amount = fmt(b, "%" PRIu64, x->value),
            .log_index = -1,
            .from = "",
        };
        add_tx(b, s, tx);
    }
    free(eps), free(pred);
    trace_result_free(&r);
    b->runs_recomputed++;
    return rc;
}

/* ---- deposits: a recorded EVM run computed again (etrace) ---- */

static int edge_by_to(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* (to << 32 | hop, edge index) */
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* The tx hash of a transfer as text ("xfer:ID" without a stored tx). */
static const char *evm_tx_text(sharing_built *b, const evm_store *s, const etrace_ref *r,
                               evm_tx_row *row)
{
    if (r->tx == UINT64_MAX || evm_store_tx(s, r->tx, row, NULL))
        return fmt(b, "xfer:%" PRIu64, r->xfer);
    char h[65]; /* EVM hashes read as stored (not Bitcoin's reversed display order) */
    for (int i = 0; i < 32; i++)
        snprintf(h + 2 * i, 3, "%02x", row->hash[i]);
    return fmt(b, "0x%s", h);
}

/* The EVM tx of a deposit as a sharing_tx: the transfer's sender and receiver with its amount
 * (native: wei; a token transfer's amount is in the token's units, so it is left out). */
static void add_evm_tx(sharing_built *b, const char *chain, const char *txid, int64_t time,
                       const char *from, const char *to, const char *wei)
{
    struct sharing_built_own *o = b->own;
    add_bare_tx(b, chain, txid);
    if (o->oom) return;
    sharing_tx *t = NULL;
    for (size_t i = 0; i < o->n_txs; i++)
        if (!strcmp(o->txs[i].chain, chain) && !strcmp(o->txs[i].txid, txid)) t = &o->txs[i];
    if (!t || t->n_outputs) return;
    sharing_move *mv = calloc(2, sizeof *mv);
    if (!mv) {
        o->oom = 1;
        return;
    }
    keep(b, (char *)mv);
    mv[0] = (sharing_move){dup(b, from), wei ? dup(b, wei) : NULL};
    mv[1] = (sharing_move){dup(b, to), wei ? dup(b, wei) : NULL};
    t->time = time;
    t->inputs = &mv[0], t->n_inputs = *from ? 1 : 0;
    t->outputs = &mv[1], t->n_outputs = 1;
}

static int evm_run_deposits(sharing_built *b, const sharing_case_src *src, const case_run *run,
                            const char *share, dep_list *dl, util_err *err)
{
    const evm_store *s = src->evm;
    etrace_opts o;
    etrace_default_opts(&o);
    int policy = etrace_policy_parse(run->policy), dir = etrace_direction_parse(run->direction);
    if (policy < 0 || dir < 0)
        return util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": policy or direction", run->id);
    if (dir != ETRACE_FORWARD) return 0; /* a backward run reaches sources, not deposits */
    o.policy = policy, o.direction = dir, o.hops = run->hops;
    o.until = run->until, o.until_time = run->until_time;
    o.max_xfers = run->max_visits, o.follow_mixers = run->follow_mixers;
    if (evm_u256_parse(&o.min_value, run->min_value, strlen(run->min_value), NULL))
        return util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": min_value", run->id);
    uint32_t asset;
    int rc = etrace_asset_parse(s, run->asset && *run->asset ? run->asset : "all", &asset, err);
    if (rc) return util_err_prefix(err, "trace run %" PRId64, run->id), rc;
    json_error_t je;
    json_t *seeds = json_loads(run->seeds, 0, &je);
    etrace_seeds sd = {0};
    rc = json_is_array(seeds) && json_array_size(seeds)
             ? 0
             : util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": seeds", run->id);
    for (size_t i = 0; !rc && i < json_array_size(seeds); i++) {
        const char *spec = json_string_value(json_array_get(seeds, i));
        if (!spec)
            rc = util_errf(err, UTIL_ECORRUPT, "trace run %" PRId64 ": seed %zu", run->id, i);
        else if ((rc = etrace_add_spec(&sd, s, spec, asset, err)))
            util_err_prefix(err, "trace run %" PRId64 ": seed %s", run->id, spec);
    }
    json_decref(seeds);
    etrace_result r = {0};
    if (!rc) rc = etrace_run_result(s, src->labels, &sd, &o, &r, err);
    etrace_seeds_free(&sd);
    if (rc) {
        etrace_result_free(&r);
        return rc;
    }
    uint64_t first_block, n_blocks;
    uint8_t tip[32];
    evm_store_tip(s, &first_block, &n_blocks, tip);
    if (run->state.evm_height >= 0 && n_blocks &&
        (int64_t)(first_block + n_blocks - 1) != run->state.evm_height)
        util_buf_printf(&b->warnings,
                        "trace run %" PRId64 " ran at EVM height %" PRId64
                        "; the store is at %" PRIu64 " now: amounts may differ\n",
                        run->id, run->state.evm_height, first_block + n_blocks - 1);
    /* the edges that carried taint, by receiver then hop: a deposit's path walks back through
     * the earliest-hop tainted receipt of each sender */
    uint64_t(*in)[2] = calloc(r.n_edges ? r.n_edges : 1, sizeof *in);
    if (!in) {
        etrace_result_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    size_t n_in = 0;
    for (size_t e = 0; e < r.n_edges; e++) {
        const etrace_edge *x = &r.edges[e];
        if (x->to == UINT32_MAX || evm_u256_is_zero(&x->taint)) continue;
        in[n_in][0] = (uint64_t)x->to << 32 | x->hop, in[n_in++][1] = e;
    }
    qsort(in, n_in, sizeof *in, edge_by_to);
    for (size_t e = 0; !rc && e < r.n_edges; e++) {
        const etrace_edge *x = &r.edges[e];
        if (strcmp(x->fate, "endpoint") || evm_u256_is_zero(&x->taint)) continue;
        size_t ei = 0;
        while (ei < r.n_endpoints &&
               (r.endpoints[ei].address != x->to || r.endpoints[ei].asset != x->asset))
            ei++;
        if (ei == r.n_endpoints) continue;
        const labels_label *stop = r.endpoints[ei].label;
        labels_actor who;
        etrace_endpoint_actor(&r, ei, &who);
        char abuf[160], to[43], from[43], at[43], num[EVM_U256_DEC_MAX];
        const char *actor = labels_actor_text(&who, abuf, sizeof abuf);
        evm_tx_row row;
        const char *txid = evm_tx_text(b, s, &x->ref, &row);
        /* the path, deposit side first, then reversed */
        size_t cap = 8, len = 0;
        const char **path = malloc(cap * sizeof *path);
        if (!path) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        path[len++] = txid;
        const etrace_edge *cur = x;
        for (size_t guard = 0; cur->hop > 0 && cur->from != UINT32_MAX && guard < r.n_edges;
             guard++) {
            uint64_t key[2] = {(uint64_t)cur->from << 32, 0};
            size_t lo = 0, hi = n_in; /* the first receipt of cur->from */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (edge_by_to(in[mid], key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == n_in || in[lo][0] >> 32 != cur->from) break;
            const etrace_edge *p = &r.edges[in[lo][1]];
            if (p->hop >= cur->hop) break;
            evm_tx_row pr;
            const char *t = evm_tx_text(b, s, &p->ref, &pr);
            if (strcmp(t, path[len - 1])) {
                if (len == cap) {
                    const char **np = realloc(path, 2 * cap * sizeof *np);
                    if (!np) break;
                    path = np, cap *= 2;
                }
                path[len++] = t;
            }
            cur = p;
        }
        for (size_t i = 0; i < len / 2; i++) {
            const char *t = path[i];
            path[i] = path[len - 1 - i], path[len - 1 - i] = t;
        }
        keep(b, (char *)path);
        evm_xfer_row xr;
        int64_t log_index = -1;
        if (!evm_store_xfer(s, x->ref.xfer, &xr, NULL) && xr.kind == EVM_XFER_ERC20)
            log_index = xr.log_index;
        int64_t time = 0, height = (int64_t)x->block;
        evm_block_row br;
        if (!evm_store_block(s, x->block - first_block, &br, NULL))
            time = (int64_t)br.timestamp, height = (int64_t)br.number;
        int decimals = sharing_chain_decimals(run->chain);
        char sym[32] = "";
        sharing_symbol(sym, run->chain);
        const char *symbol = dup(b, sym);
        etrace_asset_text(s, x->asset, at);
        if (x->asset) {
            evm_token_meta tm;
            decimals = -1, symbol = "";
            if (!evm_store_token(s, x->asset, &tm, NULL))
                decimals = tm.decimals, symbol = dup(b, tm.symbol);
        }
        if (etrace_addr_text(s, x->to, to)) to[0] = 0;
        if (x->from == UINT32_MAX || etrace_addr_text(s, x->from, from)) from[0] = 0;
        if (dl->n == dl->cap) {
            size_t nc = dl->cap ? 2 * dl->cap : 64;
            sharing_deposit *v = realloc(dl->v, nc * sizeof *v);
            if (!v) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                break;
            }
            dl->v = v, dl->cap = nc;
        }
        evm_u256_format(num, &x->amount);
        const char *amount = dup(b, num);
        evm_u256_format(num, &x->taint);
        dl->v[dl->n++] = (sharing_deposit){
            .address = dup(b, to),
            .category = dup(b, stop->category),
            .actor = dup(b, actor),
            .txid = txid,
            .height = height,
            .time = time,
            .share = dup(b, share),
            .run_id = run->id,
            .path = path,
            .path_len = len,
            .chain = dup(b, run->chain),
            .asset = dup(b, at),
            .symbol = symbol,
            .decimals = decimals,
            .amount = amount,
            .traced_amount = dup(b, num),
            .log_index = log_index,
            .from = dup(b, from),
        };
        add_evm_tx(b, run->chain, txid, time, from, to, x->asset ? NULL : amount);
    }
    free(in);
    etrace_result_free(&r);
    b->runs_recomputed++;
    return rc;
}

static int dep_cmp(const void *a, const void *b)
{
    const sharing_deposit *x = a, *y = b;
    int c = strcmp(x->actor, y->actor);
    if (c) return c;
    if ((c = strcmp(x->chain, y->chain))) return c;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    if ((c = strcmp(x->txid, y->txid))) return c;
    if (x->vout != y->vout) return x->vout < y->vout ? -1 : 1;
    if (x->log_index != y->log_index) return x->log_index < y->log_index ? -1 : 1;
    return x->run_id < y->run_id ? -1 : x->run_id > y->run_id;
}

static void day_of(char out[16], int64_t t)
{
    char ts[32];
    sharing_ts(ts, t);
    snprintf(out, 16, "%.10s", ts);
}

/* A run's endpoints as labels of `source`, dated by the deposits found for them. */
static void add_endpoints(sharing_built *b, const sharing_case_src *src, const case_run *run,
                          const char *share, const char *source, const dep_list *dl)
{
    char day[16];
    snprintf(day, sizeof day, "%.10s", run->run_at);
    for (size_t i = 0; i < run->n_endpoints; i++) {
        const case_endpoint *e = &run->endpoints[i];
        label_in l = {.chain = run->chain,
                      .address = e->address,
                      .category = e->category,
                      .actor = e->actor,
                      .name = e->name,
                      .source = source,
                      .updated = day};
        stop_label(src->labels, run->chain, e->address, e->category, &l.confidence, &l.url);
        char amount[160] = "", first[16] = "", last[16] = "";
        int dec = !strcmp(e->asset, "BTC")      ? 8
                  : !strcmp(e->asset, "native") ? sharing_chain_decimals(run->chain)
                                                : -1;
        if (dec < 0 || sharing_amount(amount, sizeof amount, e->amount, dec))
            snprintf(amount, sizeof amount, "%s base units", e->amount);
        char sym[32];
        sharing_symbol(sym, !strcmp(e->asset, "native") ? run->chain : "btc");
        int64_t lo = INT64_MAX, hi = 0;
        for (size_t k = 0; k < dl->n; k++)
            if (dl->v[k].run_id == run->id && !strcasecmp(dl->v[k].address, e->address)) {
                if (dl->v[k].time < lo) lo = dl->v[k].time;
                if (dl->v[k].time > hi) hi = dl->v[k].time;
            }
        if (hi) day_of(first, lo), day_of(last, hi);
        l.first_seen = first, l.last_seen = last;
        l.note = fmt(b,
                     "trace run %" PRId64 "%s%s%s: %s %s in %" PRIu64 " deposit(s), %" PRIu32
                     " hop(s) from a seed",
                     run->id, strcmp(share, "1") ? " (share " : "", strcmp(share, "1") ? share : "",
                     strcmp(share, "1") ? ")" : "", amount, dec < 0 ? e->asset : sym, e->deposits,
                     e->hops);
        add_label(b, &l, 0);
    }
}

static int deposits_and_endpoints(sharing_built *b, const sharing_case_src *src,
                                  const case_run *const *runs, const char *const *shares, size_t n,
                                  const char *source, util_err *err)
{
    dep_list dl = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (strcmp(runs[i]->chain, "btc")) {
            if (src->evm && !strcmp(evm_store_chain(src->evm), runs[i]->chain))
                rc = evm_run_deposits(b, src, runs[i], shares[i], &dl, err);
            else
                util_buf_printf(&b->warnings,
                                "trace run %" PRId64 " not computed again: no %s store here\n",
                                runs[i]->id, runs[i]->chain);
            continue;
        }
        if (!src->btc) {
            util_buf_printf(&b->warnings,
                            "trace run %" PRId64 " not computed again: no Bitcoin store here\n",
                            runs[i]->id);
            continue;
        }
        rc = run_deposits(b, src, runs[i], shares[i], &dl, err);
    }
    for (size_t i = 0; i < n && !rc; i++)
        add_endpoints(b, src, runs[i], shares[i], source, &dl);
    if (rc) {
        free(dl.v);
        return rc;
    }
    if (dl.n) qsort(dl.v, dl.n, sizeof *dl.v, dep_cmp);
    b->deposits = dl.v;
    b->n_deposits = dl.n;
    return 0;
}

/* ---- the whole export ---- */

static const char *date_or_empty(const char *s)
{
    return sharing_is_date(s) ? s : "";
}

static void analyst_labels(sharing_built *b, const case_full *c)
{
    const char *source = fmt(b, "case:%" PRId64, c->info.id);
    for (size_t i = 0; i < c->n_labels; i++) { /* oldest first: the newest of a key wins */
        const case_label *x = &c->labels[i];
        char day[16];
        snprintf(day, sizeof day, "%.10s", x->created_at);
        label_in l = {.chain = x->chain,
                      .address = x->address,
                      .category = x->category,
                      .actor = x->actor,
                      .name = *x->name ? x->name : x->actor,
                      .source = source,
                      .updated = day,
                      .note = x->evidence,
                      .confidence = x->confidence};
        add_label(b, &l, 1);
    }
}

static int build_incident(sharing_built *b, const sharing_case_src *src, util_err *err)
{
    const case_incident *in = src->incident;
    struct sharing_built_own *o = b->own;
    sharing_incident *si = &b->incident;
    si->key = fmt(b, "incident:%s", in->slug);
    si->name = *in->victim ? fmt(b, "%s: theft from %s", in->slug, in->victim) : dup(b, in->slug);
    si->date = dup(b, in->date);
    util_buf d = {0};
    if (*in->victim) util_buf_printf(&d, "Victim: %s. ", in->victim);
    if (*in->date) util_buf_printf(&d, "Date: %s. ", in->date);
    if (*in->amount_native || *in->amount_fiat)
        util_buf_printf(&d, "Stolen as stated: %s%s%s. ", in->amount_native,
                        *in->amount_native && *in->amount_fiat ? "; " : "", in->amount_fiat);
    for (size_t i = 0; i < in->n_stolen; i++) {
        char amount[160];
        const case_stolen *st = &in->stolen[i];
        if (sharing_amount(amount, sizeof amount, st->amount, st->decimals))
            snprintf(amount, sizeof amount, "%s", st->amount);
        util_buf_printf(&d, "%s %s %s on %s in its seeds. ", i ? "and" : "Found:", amount,
                        st->symbol, st->chain);
    }
    if (*in->notes) util_buf_printf(&d, "%s", in->notes);
    util_buf_append(&d, "", 1);
    si->description = keep(b, d.data ? (char *)d.data : strdup(""));
    if (in->n_attrs && !(o->attrs = calloc(in->n_attrs, sizeof *o->attrs))) o->oom = 1;
    for (size_t i = 0; o->attrs && i < in->n_attrs; i++) {
        const case_attribution *a = &in->attrs[i];
        o->attrs[i] = (sharing_attribution){dup(b, a->actor), dup(b, a->attributed_by),
                                            dup(b, a->date), dup(b, a->url), a->confidence};
    }
    si->attrs = o->attrs;
    si->n_attrs = o->attrs ? in->n_attrs : 0;
    if (in->n_urls && !(o->urls = calloc(in->n_urls, sizeof *o->urls))) o->oom = 1;
    for (size_t i = 0; o->urls && i < in->n_urls; i++)
        o->urls[i] = dup(b, in->urls[i].url);
    si->urls = o->urls;
    si->n_urls = o->urls ? in->n_urls : 0;

    const char *actor = in->n_attrs ? in->attrs[0].actor : "";
    const char *seed_src = si->key;
    char updated[16]; /* the incident's date says when the seeds were theft outputs */
    snprintf(updated, sizeof updated, "%.10s",
             sharing_is_date(in->date) ? in->date : in->updated_at);
    for (size_t i = 0; i < in->n_seeds; i++) {
        const case_incident_seed *sd = &in->seeds[i];
        const char *name =
            *sd->role ? fmt(b, "%s seed (%s)", in->slug, sd->role) : fmt(b, "%s seed", in->slug);
        label_in l = {.category = "theft",
                      .actor = actor,
                      .name = name,
                      .source = seed_src,
                      .url = sd->url,
                      .first_seen = date_or_empty(in->date),
                      .updated = updated,
                      .note = fmt(b, "seed %s%s%s", sd->spec, *sd->note ? ": " : "", sd->note),
                      .confidence = 100};
        add_seed(b, src->btc, sd->chain, sd->spec, &l);
    }
    if (src->c) analyst_labels(b, src->c);
    const case_itrace *t = &in->trace;
    const case_run **runs = calloc(t->n_legs ? t->n_legs : 1, sizeof *runs);
    const char **shares = calloc(t->n_legs ? t->n_legs : 1, sizeof *shares);
    int rc = 0;
    if (!runs || !shares) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < t->n_legs; i++) {
        runs[i] = &t->runs[i];
        shares[i] = !strcmp(t->legs[i].share_num, t->legs[i].share_den)
                        ? "1"
                        : fmt(b, "%s/%s", t->legs[i].share_num, t->legs[i].share_den);
    }
    if (!rc)
        rc = deposits_and_endpoints(b, src, runs, shares, t->n_legs, fmt(b, "%s trace", si->key),
                                    err);
    free(runs), free(shares);
    return rc;
}

static int build_case(sharing_built *b, const sharing_case_src *src, util_err *err)
{
    const case_full *c = src->c;
    sharing_incident *si = &b->incident;
    si->key = fmt(b, "case:%" PRId64, c->info.id);
    si->name = dup(b, c->info.title);
    si->date = dup(b, c->info.incident_date);
    util_buf d = {0};
    if (*c->info.victim) util_buf_printf(&d, "Victim: %s. ", c->info.victim);
    if (*c->info.chains) util_buf_printf(&d, "Chains: %s. ", c->info.chains);
    util_buf_printf(&d, "%s", c->info.description);
    util_buf_append(&d, "", 1);
    si->description = keep(b, d.data ? (char *)d.data : strdup(""));
    const char *seed_src = fmt(b, "case:%" PRId64 " seeds", c->info.id);
    for (size_t i = 0; i < c->n_seeds; i++) {
        const case_seed *sd = &c->seeds[i];
        char day[16];
        snprintf(day, sizeof day, "%.10s", sd->added_at);
        label_in l = {.category = "theft",
                      .name = fmt(b, "case %" PRId64 " seed", c->info.id),
                      .source = seed_src,
                      .first_seen = date_or_empty(c->info.incident_date),
                      .updated = day,
                      .note = fmt(b, "seed %s%s%s", sd->spec, *sd->note ? ": " : "", sd->note),
                      .confidence = 100};
        add_seed(b, src->btc, sd->chain, sd->spec, &l);
    }
    analyst_labels(b, c);
    /* the newest run of each chain */
    const case_run **runs = calloc(c->n_runs ? c->n_runs : 1, sizeof *runs);
    const char **shares = calloc(c->n_runs ? c->n_runs : 1, sizeof *shares);
    size_t n = 0;
    if (!runs || !shares) {
        free(runs), free(shares);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    for (size_t i = c->n_runs; i-- > 0;) {
        size_t k = 0;
        while (k < n && strcmp(runs[k]->chain, c->runs[i].chain))
            k++;
        if (k == n) runs[n] = &c->runs[i], shares[n++] = "1";
    }
    int rc = deposits_and_endpoints(b, src, runs, shares, n, fmt(b, "%s trace", si->key), err);
    free(runs), free(shares);
    return rc;
}

int sharing_build(sharing_built *out, const sharing_case_src *src, util_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(out->own = calloc(1, sizeof *out->own)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    if (!src->c && !src->incident)
        return util_errf(err, UTIL_EINVAL, "sharing_build: neither a case nor an incident");
    int rc = src->incident ? build_incident(out, src, err) : build_case(out, src, err);
    util_buf_append(&out->warnings, "", 1);
    struct sharing_built_own *o = out->own;
    if (!rc && o->oom) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    if (rc) return rc;
    if (o->n_labels && !(o->ptrs = malloc(o->n_labels * sizeof *o->ptrs)))
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < o->n_labels; i++)
        o->ptrs[i] = &o->labels[i];
    out->set = (sharing_set){.labels = o->ptrs,
                             .n_labels = o->n_labels,
                             .notes = o->notes,
                             .txs = o->txs,
                             .n_txs = o->n_txs,
                             .incident = &out->incident,
                             .producer = src->producer,
                             .title = src->title ? src->title : out->incident.name,
                             .now = src->now};
    return 0;
}

void sharing_built_free(sharing_built *b)
{
    struct sharing_built_own *o = b->own;
    if (o) {
        for (size_t i = 0; i < o->n_strs; i++)
            free(o->strs[i]);
        free(o->strs), free(o->labels), free(o->ptrs), free(o->notes), free(o->txs);
        free(o->attrs), free(o->urls);
        free(o);
    }
    free(b->deposits);
    util_buf_free(&b->warnings);
    memset(b, 0, sizeof *b);
}
