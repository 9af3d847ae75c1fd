/* trace: the propagation (see trace.h, docs/tracing.md): option names and defaults, the
 * priority queue of txs, the stop set, the kernel (route, process_tx) that moves taint through
 * one tx at a time, and the two ways out of it: a trace_result (trace_compute) and a per-category
 * exposure (trace_exposure_run). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../labels/labels_services.h"
#include "trace_int.h"

const char *trace_policy_name(int p)
{
    return taint_policy_name(p);
}

int trace_policy_parse(const char *name)
{
    return taint_policy_parse(name);
}

const char *trace_direction_name(int d)
{
    return taint_direction_name(d);
}

int trace_direction_parse(const char *name)
{
    return taint_direction_parse(name);
}

void trace_default_opts(trace_opts *o)
{
    memset(o, 0, sizeof *o);
    taint_default_opts(&o->core);
    o->until_from_time = -1;
}

void trace_seeds_free(trace_seeds *s)
{
    free(s->out);
    memset(s, 0, sizeof *s);
}

/* ---- the queue of txs to process ---- */

static int heap_push(tctx *c, uint64_t k)
{
    return util_heap64_push(&c->heap, &c->n_heap, &c->cap_heap, k);
}

static uint64_t heap_pop(tctx *c)
{
    return util_heap64_pop(c->heap, &c->n_heap);
}

/* ---- stops ---- */

static long category_rank(const char *cat, const char *const *cats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cat, cats[i])) return (long)i;
    return -1;
}

/* Point key at label i unless it already points at a label of a category ranked earlier. */
static int stop_set(trace_stops *st, hmap *m, uint64_t key, uint32_t i, const char *const *cats,
                    size_t n)
{
    if (!m->cap && hmap_grow(m)) return UTIL_ENOMEM;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->val[j] != NONE32) {
        if (m->key[j] == key) {
            const labels_label *cur = labels_db_get(st->labels, m->val[j]);
            const labels_label *l = labels_db_get(st->labels, i);
            if (category_rank(l->category, cats, n) < category_rank(cur->category, cats, n))
                m->val[j] = i;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return hmap_put(m, key, i);
}

int trace_stops_build(trace_stops **out, const store *s, const labels_db *labels,
                      const cluster_map *clusters, const char *const *categories,
                      size_t n_categories, util_err *err)
{
    trace_stops *st = calloc(1, sizeof *st);
    if (!st) return util_errf(err, UTIL_ENOMEM, "out of memory");
    st->labels = labels;
    size_t n = labels_db_count(labels);
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, "btc") || category_rank(l->category, categories, n_categories) < 0)
            continue;
        btc_addr key;
        if (btc_addr_decode(&key, l->address, NULL)) continue;
        int64_t aid = store_find_addr(s, &key);
        if (aid < 0) continue;
        if (stop_set(st, &st->addr, (uint64_t)aid, (uint32_t)i, categories, n_categories))
            goto nomem;
        if (!clusters) continue;
        uint32_t e = cluster_entity_of(clusters, (uint32_t)aid);
        if (e != CLUSTER_NO_ENTITY &&
            stop_set(st, &st->entity, e, (uint32_t)i, categories, n_categories))
            goto nomem;
    }
    *out = st;
    return 0;
nomem:
    trace_stops_free(st);
    return util_errf(err, UTIL_ENOMEM, "out of memory");
}

void trace_stops_free(trace_stops *st)
{
    if (!st) return;
    hmap_free(&st->addr);
    hmap_free(&st->entity);
    free(st);
}

void trace_stops_set_actors(trace_stops *st, const trace_actor_index *ix)
{
    st->actors = ix;
}

size_t trace_stops_count(const trace_stops *st)
{
    return st->addr.n;
}

/* ---- the kernel: taint through one output, one tx at a time ---- */

static uint32_t tx_rec_of(tctx *c, uint64_t tx)
{
    uint32_t r = hmap_get(&c->txs, tx);
    if (r != NONE32) return r;
    if (c->n_tr >= NONE32 - 1) return NONE32;
    if (util_grow((void **)&c->tr, &c->cap_tr, c->n_tr + 1, sizeof *c->tr, 64, SIZE_MAX))
        return NONE32;
    r = (uint32_t)c->n_tr++;
    memset(&c->tr[r], 0, sizeof c->tr[r]);
    c->tr[r].tx = tx;
    c->tr[r].depth = UINT32_MAX;
    c->tr[r].parent = NONE32;
    if (hmap_put(&c->txs, tx, r)) return NONE32;
    return r;
}

/* Give amt of taint to output o (forward: created by tx rec from; backward: spent by it). */
static int route(tctx *c, uint64_t o, uint64_t amt, uint32_t from, int seed)
{
    if (!amt) return 0;
    uint32_t ex = hmap_get(&c->outs, o);
    if (ex != NONE32) { /* only a seed can be reached twice: it is already fully tainted */
        c->t.overlap += amt;
        return 0;
    }
    if (util_grow((void **)&c->or_, &c->cap_or, c->n_or + 1, sizeof *c->or_, 64, SIZE_MAX))
        return UTIL_ENOMEM;
    uint32_t ri = (uint32_t)c->n_or++;
    if (hmap_put(&c->outs, o, ri)) return UTIL_ENOMEM;
    out_rec *r = &c->or_[ri];
    r->out = o;
    r->taint = amt;
    r->from = from;
    r->to = NONE32;
    r->endpoint = NONE32;
    uint32_t depth = from == NONE32 ? 0 : c->tr[from].depth;
    if (!seed) {
        uint32_t addr = store_out_addr(c->s, o);
        uint32_t lab = NONE32, ent = CLUSTER_NO_ENTITY;
        int via_entity = 0;
        if (addr != STORE_NO_ADDR) {
            lab = hmap_get(&c->stops->addr, addr);
            if (c->clusters) ent = cluster_entity_of(c->clusters, addr);
            if (lab == NONE32 && ent != CLUSTER_NO_ENTITY) {
                lab = hmap_get(&c->stops->entity, ent);
                via_entity = lab != NONE32;
            }
        }
        if (lab != NONE32) {
            uint32_t e = hmap_get(&c->eps, addr);
            if (e == NONE32) {
                if (util_grow((void **)&c->er, &c->cap_er, c->n_er + 1, sizeof *c->er, 64,
                              SIZE_MAX))
                    return UTIL_ENOMEM;
                e = (uint32_t)c->n_er++;
                if (hmap_put(&c->eps, addr, e)) return UTIL_ENOMEM;
                c->er[e] = (ep_rec){addr, ent, lab, via_entity, 0, 0, ri};
            }
            c->er[e].amount += amt;
            c->er[e].deposits++;
            r->fate = F_ENDPOINT;
            r->endpoint = e;
            c->t.to_endpoints += amt;
            return 0;
        }
        if (amt < c->o->min_value) {
            r->fate = F_BELOW;
            c->t.below += amt;
            return 0;
        }
    }
    uint64_t next;
    if (c->o->direction == TRACE_FORWARD) {
        uint64_t in = store_out_spent_by(c->s, o);
        if (in == STORE_NONE) {
            r->fate = F_UNSPENT;
            c->t.unspent += amt;
            return 0;
        }
        next = store_input_tx(c->s, in);
    } else {
        next = store_output_tx(c->s, o);
    }
    uint32_t t = tx_rec_of(c, next);
    if (t == NONE32) return UTIL_ENOMEM;
    r = &c->or_[ri];
    r->fate = F_FOLLOWED;
    r->to = t;
    tx_rec *x = &c->tr[t];
    x->taint_in += amt;
    if (depth + 1 < x->depth) {
        x->depth = depth + 1;
        x->parent = from;
    }
    if (!x->queued) {
        x->queued = 1;
        if (heap_push(c, c->o->direction == TRACE_FORWARD ? next : ~next)) return UTIL_ENOMEM;
    }
    return 0;
}

/* FIFO: tainted prefix of each segment of list A (lengths la, tainted ta) laid end to end,
 * against buckets B (lengths lb) laid end to end: sh[j] = tainted satoshis inside bucket j. */
static void split_fifo(const uint64_t *la, const uint64_t *ta, size_t na, const uint64_t *lb,
                       size_t nb, uint64_t *sh)
{
    size_t j = 0;
    uint64_t bs = 0, as = 0;
    for (size_t k = 0; k < nb; k++)
        sh[k] = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t lo = as, hi = as + ta[i];
        while (lo < hi && j < nb) {
            uint64_t be = bs + lb[j];
            if (be <= lo) {
                bs = be;
                j++;
                continue;
            }
            uint64_t e = hi < be ? hi : be;
            sh[j] += e - lo;
            lo = e;
            if (lo == be) {
                bs = be;
                j++;
            }
        }
        as += la[i];
    }
}

static int scratch(tctx *c, size_t n)
{
    if (n <= c->cap_s) return 0;
    size_t nc = n * 2;
    uint64_t *a = realloc(c->a, nc * sizeof *a);
    if (a) c->a = a;
    uint64_t *b = realloc(c->b, nc * sizeof *b);
    if (b) c->b = b;
    uint64_t *sh = realloc(c->sh, nc * sizeof *sh);
    if (sh) c->sh = sh;
    util_rem *rm = realloc(c->rm, nc * sizeof *rm);
    if (rm) c->rm = rm;
    if (!a || !b || !sh || !rm) return UTIL_ENOMEM;
    c->cap_s = nc;
    return 0;
}

/* Taint an output passed on to tx rec t (0 if it did not). */
static uint64_t taint_into(const tctx *c, uint64_t o, uint32_t t)
{
    uint32_t r = hmap_get(&c->outs, o);
    return r != NONE32 && c->or_[r].fate == F_FOLLOWED && c->or_[r].to == t ? c->or_[r].taint : 0;
}

static int process_tx(tctx *c, uint32_t t, util_err *err)
{
    tx_rec *x = &c->tr[t];
    uint64_t tx = x->tx;
    store_tx_row row;
    store_tx(c->s, tx, &row);
    uint32_t nin = store_tx_n_in(c->s, tx), nout = store_tx_n_out(c->s, tx);
    int64_t height = row.block;
    int fwd = c->o->direction == TRACE_FORWARD;
    if (x->depth > c->o->hops) {
        x->status = S_BEYOND_HOPS;
        c->t.beyond_hops += x->taint_in;
        return 0;
    }
    if (c->o->until >= 0 && (fwd ? height > c->o->until : height < c->o->until)) {
        x->status = S_BEYOND_UNTIL;
        c->t.beyond_until += x->taint_in;
        return 0;
    }
    if (row.flags & STORE_TX_COINBASE) {
        x->status = S_COINBASE;
        c->t.coinbase += x->taint_in;
        return 0;
    }
    if (row.flags & STORE_TX_UNRESOLVED) {
        x->status = S_UNRESOLVED;
        c->t.unresolved += x->taint_in;
        return 0;
    }
    if (c->n_or + (fwd ? nout : nin) > c->o->max_outputs) {
        c->partial = 1;
        return 1; /* stop */
    }
    size_t n = 2 * ((size_t)nin + nout + 1);
    if (scratch(c, n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    uint64_t *a = c->a, *b = c->b, *sh = c->sh;
    uint64_t sum_in = 0, sum_out = 0;
    /* a[]: input values; b[]: output values then the fee */
    for (uint32_t i = 0; i < nin; i++) {
        int64_t v = store_out_value(c->s, store_in_prev(c->s, row.first_in + i));
        a[i] = v > 0 ? (uint64_t)v : 0;
        sum_in += a[i];
    }
    for (uint32_t j = 0; j < nout; j++) {
        int64_t v = store_out_value(c->s, row.first_out + j);
        b[j] = v > 0 ? (uint64_t)v : 0;
        sum_out += b[j];
    }
    if (sum_out > sum_in)
        return util_errf(err, UTIL_ECORRUPT, "tx %" PRIu64 " spends more than its inputs", tx);
    uint64_t fee = sum_in - sum_out;
    b[nout] = fee;
    uint64_t X = x->taint_in;
    uint64_t *ta = sh + nout + 1; /* per-segment taint, after the shares (n >= nin+nout+1) */
    if (fwd) {
        /* shares over outputs and the fee */
        if (c->o->policy == TRACE_POISON) {
            for (uint32_t j = 0; j <= nout; j++)
                sh[j] = b[j];
            x->added = sum_in - X;
        } else if (c->o->policy == TRACE_HAIRCUT) {
            util_split_haircut(X, b, nout + 1, sum_in, sh, c->rm);
        } else {
            for (uint32_t i = 0; i < nin; i++)
                ta[i] = taint_into(c, store_in_prev(c->s, row.first_in + i), t);
            split_fifo(a, ta, nin, b, nout + 1, sh);
        }
        x->fee = sh[nout];
        c->t.fees += sh[nout];
        uint64_t out_sum = 0;
        for (uint32_t j = 0; j < nout; j++)
            out_sum += sh[j];
        x->taint_out = out_sum;
        x->status = S_FOLLOWED;
        for (uint32_t j = 0; j < nout; j++)
            if (route(c, row.first_out + j, sh[j], t, 0))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
    } else {
        /* shares over inputs */
        if (c->o->policy == TRACE_POISON) {
            for (uint32_t i = 0; i < nin; i++)
                sh[i] = a[i];
            x->added = sum_in - X;
        } else if (c->o->policy == TRACE_HAIRCUT) {
            util_split_haircut(X, a, nin, sum_in, sh, c->rm);
        } else {
            ta = sh + nin;
            for (uint32_t j = 0; j < nout; j++)
                ta[j] = taint_into(c, row.first_out + j, t);
            split_fifo(b, ta, nout, a, nin, sh);
        }
        uint64_t in_sum = 0;
        for (uint32_t i = 0; i < nin; i++)
            in_sum += sh[i];
        x->taint_out = in_sum;
        x->status = S_FOLLOWED;
        for (uint32_t i = 0; i < nin; i++) {
            uint64_t p = store_in_prev(c->s, row.first_in + i);
            if (route(c, p, sh[i], t, 0)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
    }
    x = &c->tr[t];
    if (x->taint_in + x->added != x->taint_out + x->fee)
        return util_errf(err, UTIL_ECORRUPT,
                         "trace accounting broken at tx %" PRIu64 " (internal error)", tx);
    return 0;
}

/* ---- running a trace ---- */

static void tctx_free(tctx *c)
{
    hmap_free(&c->outs);
    hmap_free(&c->txs);
    hmap_free(&c->eps);
    free(c->or_);
    free(c->tr);
    free(c->er);
    free(c->heap);
    free(c->a);
    free(c->b);
    free(c->sh);
    free(c->rm);
}

static int check_opts(const trace_opts *o, const trace_seeds *seeds, util_err *err)
{
    if (o->policy < 0 || o->policy > TRACE_FIFO)
        return util_errf(err, UTIL_EINVAL, "unknown policy");
    if (o->direction < 0 || o->direction > TRACE_BACKWARD)
        return util_errf(err, UTIL_EINVAL, "unknown direction");
    if ((o->hops < 1 || o->hops > TRACE_MAX_HOPS) && o->hops != TRACE_NO_HOP_LIMIT)
        return util_errf(err, UTIL_EINVAL, "hops must be 1..%d (or no limit), not %u",
                         TRACE_MAX_HOPS, o->hops);
    if (!seeds->n) return util_errf(err, UTIL_EINVAL, "no seeds to trace from");
    if (!o->max_outputs) return util_errf(err, UTIL_EINVAL, "max_outputs must be positive");
    if (o->until_time >= 0) /* Bitcoin block times are not monotonic: a time is a height here */
        return util_errf(err, UTIL_EINVAL,
                         "until_time: the UTXO tracer bounds by height (trace_until_parse turns a "
                         "time into one)");
    return 0;
}

/* Propagate the seeds' taint to the end (or to the output cap). */
static int trace_exec(tctx *c, const trace_seeds *seeds, util_err *err)
{
    const trace_opts *o = c->o;
    for (size_t i = 0; i < seeds->n; i++) {
        uint64_t v = (uint64_t)store_out_value(c->s, seeds->out[i]);
        c->t.seeded += v;
        if (route(c, seeds->out[i], v, NONE32, 1))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    while (c->n_heap) {
        uint64_t k = heap_pop(c);
        uint64_t tx = o->direction == TRACE_FORWARD ? k : ~k;
        uint32_t t = hmap_get(&c->txs, tx);
        int rc = process_tx(c, t, err);
        if (rc < 0) return rc;
        if (rc > 0) { /* cap reached: this tx and everything queued is not followed */
            c->tr[t].status = S_NOT_FOLLOWED;
            c->t.not_followed += c->tr[t].taint_in;
            while (c->n_heap) {
                uint64_t k2 = heap_pop(c);
                uint32_t t2 = hmap_get(&c->txs, o->direction == TRACE_FORWARD ? k2 : ~k2);
                c->tr[t2].status = S_NOT_FOLLOWED;
                c->t.not_followed += c->tr[t2].taint_in;
            }
            return 0;
        }
        c->t.poison_added += c->tr[t].added;
    }
    return 0;
}

/* The limits that stopped taint, from the totals and the txs and outputs they stopped at. */
static void fill_cuts(const tctx *c, trace_result *r)
{
    uint64_t n[TAINT_N_CUTS] = {0};
    for (size_t i = 0; i < c->n_tr; i++) {
        int st = c->tr[i].status;
        n[TAINT_CUT_HOPS] += st == S_BEYOND_HOPS;
        n[TAINT_CUT_UNTIL] += st == S_BEYOND_UNTIL;
        n[TAINT_CUT_BUDGET] += st == S_NOT_FOLLOWED;
    }
    for (size_t i = 0; i < c->n_or; i++)
        n[TAINT_CUT_MIN_VALUE] += c->or_[i].fate == F_BELOW;
    const uint64_t amount[TAINT_N_CUTS] = {c->t.beyond_hops, c->t.beyond_until, c->t.below,
                                           c->t.not_followed};
    static const char *const bucket[TAINT_N_CUTS] = {"beyond_hops", "beyond_until",
                                                     "below_min_value", "not_followed"};
    r->n_cut = 0;
    for (int k = 0; k < TAINT_N_CUTS; k++) {
        /* the budget is a cut even when the txs it left had no taint left to carry */
        if (!amount[k] && !(k == TAINT_CUT_BUDGET && c->partial)) continue;
        taint_cut *x = &r->cut[r->n_cut++];
        *x = (taint_cut){.kind = k, .count = n[k], .bucket = bucket[k]};
        x->amount.w[0] = amount[k];
        x->unit = k == TAINT_CUT_MIN_VALUE ? "outputs" : "txs";
    }
}

int trace_compute(const store *s, const labels_db *labels, const cluster_map *clusters,
                  const trace_seeds *seeds, const trace_opts *o, trace_result *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(o, seeds, err);
    if (rc) return rc;
    trace_stops *stops = NULL;
    rc = trace_stops_build(&stops, s, labels, clusters, labels_service_categories(),
                           labels_service_stops(o->follow_mixers), err);
    if (rc) return rc;
    rc = trace_compute_stops(s, labels, clusters, stops, seeds, o, out, err);
    trace_stops_free(stops);
    return rc;
}

int trace_compute_stops(const store *s, const labels_db *labels, const cluster_map *clusters,
                        const trace_stops *stops, const trace_seeds *seeds, const trace_opts *o,
                        trace_result *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(o, seeds, err);
    if (rc) return rc;
    tctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.labels = labels;
    c.clusters = clusters;
    c.o = o;
    c.stops = stops;
    rc = trace_exec(&c, seeds, err);
    if (!rc && (trace_fill_result(&c, seeds, out) || trace_fill_patterns(&c, out)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory building the trace result");
    if (!rc) fill_cuts(&c, out);
    tctx_free(&c);
    if (rc) trace_result_free(out);
    return rc;
}

int trace_run(const store *s, const labels_db *labels, const cluster_map *clusters,
              const trace_seeds *seeds, const trace_opts *o, json_t **out, util_err *err)
{
    trace_result r;
    int rc = trace_compute(s, labels, clusters, seeds, o, &r, err);
    if (rc) return rc;
    rc = trace_result_json(&r, out, err);
    trace_result_free(&r);
    return rc;
}

/* ---- exposure ---- */

void trace_exposure_free(trace_exposure *x)
{
    for (size_t i = 0; i < x->n_cat; i++)
        free(x->cat[i].path);
    free(x->cat);
    free(x->eps);
    memset(x, 0, sizeof *x);
}

static int exposure_collect(tctx *c, trace_exposure *x)
{
    x->seeded = c->t.seeded;
    x->to_endpoints = c->t.to_endpoints;
    x->outputs_visited = c->n_or;
    x->partial = c->partial;
    if (trace_exposure_fill_eps(c, x)) return UTIL_ENOMEM;
    for (size_t i = 0; i < c->n_er; i++) {
        const ep_rec *e = &c->er[i];
        const labels_label *l = labels_db_get(c->labels, e->label);
        trace_exposure_cat *k = NULL;
        for (size_t j = 0; j < x->n_cat; j++)
            if (!strcmp(x->cat[j].category, l->category)) k = &x->cat[j];
        if (!k) {
            trace_exposure_cat *nc = realloc(x->cat, (x->n_cat + 1) * sizeof *nc);
            if (!nc) return UTIL_ENOMEM;
            x->cat = nc;
            k = &x->cat[x->n_cat++];
            memset(k, 0, sizeof *k);
            k->category = l->category;
            k->hops = UINT32_MAX;
        }
        k->amount += e->amount;
        k->endpoints++;
        uint32_t from = c->or_[e->first_out].from;
        uint32_t hops = from == NONE32 ? 0 : c->tr[from].depth;
        if (hops < k->hops || (hops == k->hops && e->amount > k->nearest_amount)) {
            k->hops = hops;
            k->nearest_amount = e->amount;
            k->nearest_label = e->label;
            k->nearest_addr = e->addr;
            k->nearest_entity = e->entity;
            k->nearest_via_entity = e->via_entity;
            /* a parent is one tx shallower, so the path has exactly `hops` txs */
            size_t np = hops;
            uint64_t *path = malloc((np ? np : 1) * sizeof *path);
            if (!path) return UTIL_ENOMEM;
            size_t at = np;
            for (uint32_t r = from; r != NONE32 && at; r = c->tr[r].parent)
                path[--at] = c->tr[r].tx;
            if (at) memmove(path, path + at, (np - at) * sizeof *path); /* never: defensive */
            np -= at;
            free(k->path);
            k->path = path;
            k->path_len = np;
        }
    }
    return 0;
}

int trace_exposure_run(const store *s, const labels_db *labels, const cluster_map *clusters,
                       const trace_stops *stops, const trace_seeds *seeds, const trace_opts *o,
                       trace_exposure *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(o, seeds, err);
    if (rc) return rc;
    tctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.labels = labels;
    c.clusters = clusters;
    c.o = o;
    c.stops = stops;
    rc = trace_exec(&c, seeds, err);
    if (!rc && exposure_collect(&c, out)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    tctx_free(&c);
    if (rc) trace_exposure_free(out);
    return rc;
}
