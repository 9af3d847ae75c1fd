/* api: the public C API (include/cointrail.h) over the internal modules. Nothing here decides
 * anything the modules do not: each function converts arguments, calls the module that owns the
 * answer and copies the result into the public typed structs, so the library and the CLI give
 * the same figures. Only the ct_ functions are exported from the shared library (CT_EXTERN with
 * -fvisibility=hidden). */
#include <stdlib.h>
#include <string.h>

#include "cointrail.h"

#include "../btc/btc.h"
#include "../cluster/cluster.h"
#include "../labels/labels.h"
#include "../risk/risk.h"
#include "../store/store.h"
#include "../trace/trace.h"
#include "../util/util.h"

/* The public constants are the internal ones under another name: the error struct is copied
 * as is and the enums are passed through. */
_Static_assert((int)CT_EIO == (int)UTIL_EIO && (int)CT_EFORMAT == (int)UTIL_EFORMAT &&
                   (int)CT_ENOTFOUND == (int)UTIL_ENOTFOUND && (int)CT_EINVAL == (int)UTIL_EINVAL &&
                   (int)CT_ENOMEM == (int)UTIL_ENOMEM && (int)CT_ECORRUPT == (int)UTIL_ECORRUPT &&
                   (int)CT_EBUSY == (int)UTIL_EBUSY,
               "ct_error_code mirrors UTIL_E*");
_Static_assert(sizeof(((ct_error *)0)->message) == sizeof(((util_err *)0)->msg),
               "ct_error.message mirrors util_err.msg");
_Static_assert((int)CT_SCRIPT_NTYPES == (int)BTC_NSCRIPT_TYPES &&
                   (int)CT_SCRIPT_P2TR == (int)BTC_P2TR &&
                   (int)CT_SCRIPT_NULLDATA == (int)BTC_NULLDATA,
               "ct_script_type mirrors btc's script types");
_Static_assert((int)CT_FORWARD == (int)TRACE_FORWARD && (int)CT_BACKWARD == (int)TRACE_BACKWARD &&
                   (int)CT_POLICY_POISON == (int)TRACE_POISON &&
                   (int)CT_POLICY_HAIRCUT == (int)TRACE_HAIRCUT &&
                   (int)CT_POLICY_FIFO == (int)TRACE_FIFO &&
                   (int)CT_EXPOSURE_MAX_HOPS == (int)TRACE_MAX_HOPS,
               "trace enums");

struct ct_store {
    store *s;
    labels_db *labels;
    cluster_map *clusters; /* NULL: not clustered, or the clustering cannot be used */
    trace_stops *stops;    /* the exposure endpoints, built once at open */
    char **cats;           /* every label category, heaviest first (owned) */
    size_t n_cats;
};

static void copy_err(ct_error *out, const util_err *in)
{
    if (!out) return;
    out->code = in->code;
    memcpy(out->message, in->msg, sizeof out->message);
    out->message[sizeof out->message - 1] = 0;
}

static int fail(ct_error *out, int code, const char *msg)
{
    util_err e;
    util_errf(&e, code, "%s", msg);
    copy_err(out, &e);
    return code;
}

CT_EXTERN(const char *) ct_error_code_name(int code)
{
    switch (code) {
    case CT_OK:
        return "ok";
    case CT_EIO:
        return "io";
    case CT_EFORMAT:
        return "format";
    case CT_ENOTFOUND:
        return "not_found";
    case CT_EINVAL:
        return "invalid";
    case CT_ENOMEM:
        return "no_memory";
    case CT_ECORRUPT:
        return "corrupt";
    case CT_EBUSY:
        return "busy";
    }
    return "unknown";
}

CT_EXTERN(const char *) ct_script_type_name(int type)
{
    return type >= 0 && type < CT_SCRIPT_NTYPES ? btc_script_type_name(type) : "?";
}

CT_EXTERN(int) ct_version(int *major, int *minor, int *patch)
{
    if (major) *major = CT_VERSION_MAJOR;
    if (minor) *minor = CT_VERSION_MINOR;
    if (patch) *patch = CT_VERSION_PATCH;
    return 0;
}

CT_EXTERN(const char *) ct_version_string(void)
{
    return CT_VERSION;
}

/* ---- store ---- */

/* The endpoints screening stops at: every category present, heaviest first under the built-in
 * risk rules (so an address with several labels counts under its worst one), as risk_ctx_new
 * orders them; `cointrail screen` with its default rules then reports the same amounts. */
static int build_stops(ct_store *st, util_err *err)
{
    risk_config cfg;
    risk_config_default(&cfg);
    int rc = risk_stop_categories(st->labels, &cfg, &st->cats, &st->n_cats, err);
    if (rc) return rc;
    return trace_stops_build(&st->stops, st->s, st->labels, st->clusters,
                             (const char *const *)st->cats, st->n_cats, err);
}

CT_EXTERN(void) ct_store_close(ct_store *st)
{
    if (!st) return;
    if (st->stops) trace_stops_free(st->stops);
    risk_categories_free(st->cats, st->n_cats);
    if (st->clusters) cluster_close(st->clusters);
    if (st->labels) labels_db_close(st->labels);
    if (st->s) store_close(st->s);
    free(st);
}

CT_EXTERN(int) ct_store_open(ct_store **out, const char *dir, ct_error *err)
{
    if (!out || !dir) return fail(err, CT_EINVAL, "ct_store_open: out and dir are required");
    util_err e = {0};
    ct_store *st = calloc(1, sizeof *st);
    if (!st) return fail(err, CT_ENOMEM, "out of memory");
    int rc = store_open(&st->s, dir, 0, &e);
    if (!rc) rc = labels_db_open(&st->labels, dir, 0, &e);
    if (!rc) {
        /* As the CLI's read-only commands: a missing or unusable clustering leaves entities
         * out (ct_store_totals.clustered says so) instead of failing the open. */
        util_err cerr;
        if (cluster_open(&st->clusters, st->s, dir, &cerr)) st->clusters = NULL;
        rc = build_stops(st, &e);
    }
    if (rc) {
        ct_store_close(st);
        copy_err(err, &e);
        return rc;
    }
    *out = st;
    return 0;
}

CT_EXTERN(int) ct_store_stats(ct_store_totals *out, const ct_store *st)
{
    const store_totals *t = store_get_totals(st->s);
    memset(out, 0, sizeof *out);
    out->blocks = t->blocks;
    out->tip_height = t->blocks ? (int64_t)t->blocks - 1 : -1;
    if (t->blocks) util_hash_hex(out->tip_hash, store_block_hash(st->s, t->blocks - 1));
    out->txs = t->txs;
    out->inputs = t->inputs;
    out->outputs = t->outputs;
    out->addresses = t->addresses;
    out->unresolved_inputs = t->unresolved_inputs;
    out->total_output_value = t->total_output_value;
    out->total_fees = t->total_fees;
    out->utxo_count = t->utxo_count;
    out->utxo_value = t->utxo_value;
    for (int i = 0; i < CT_SCRIPT_NTYPES; i++)
        out->outputs_by_type[i] = t->outputs_by_type[i];
    out->labels = labels_db_count(st->labels);
    out->clustered = st->clusters != NULL;
    return 0;
}

/* ---- tx ---- */

static void addr_text(char out[CT_ADDRESS_SIZE], const store *s, uint32_t aid)
{
    out[0] = 0;
    if (aid != STORE_NO_ADDR) btc_addr_encode(out, store_addr(s, aid));
}

CT_EXTERN(void) ct_tx_free(ct_tx *tx)
{
    if (!tx) return;
    free(tx->inputs);
    free(tx->outputs);
    free(tx);
}

CT_EXTERN(int) ct_tx_lookup(ct_tx **out, const ct_store *st, const char *txid_hex, ct_error *err)
{
    util_err e;
    const store *s = st->s;
    uint8_t txid[32];
    if (!txid_hex || util_hash_parse(txid, txid_hex)) {
        util_errf(&e, UTIL_EINVAL, "txid '%.80s': expected 64 hex digits",
                  txid_hex ? txid_hex : "(null)");
        copy_err(err, &e);
        return e.code;
    }
    int64_t id = store_find_tx(s, txid);
    if (id < 0) {
        util_errf(&e, UTIL_ENOTFOUND, "txid %s: not in the store", txid_hex);
        copy_err(err, &e);
        return e.code;
    }
    uint64_t tx = (uint64_t)id;
    const store_tx_row *row = store_tx(s, tx);
    uint32_t n_in = store_tx_n_in(s, tx), n_out = store_tx_n_out(s, tx);
    ct_tx *t = calloc(1, sizeof *t);
    if (t) {
        t->inputs = calloc(n_in ? n_in : 1, sizeof *t->inputs);
        t->outputs = calloc(n_out ? n_out : 1, sizeof *t->outputs);
    }
    if (!t || !t->inputs || !t->outputs) {
        ct_tx_free(t);
        return fail(err, CT_ENOMEM, "out of memory");
    }
    util_hash_hex(t->txid, store_tx_hash(s, tx));
    t->height = row->block;
    util_hash_hex(t->block_hash, store_block_hash(s, row->block));
    t->time = store_block(s, row->block)->time;
    t->size = row->size;
    t->vsize = row->vsize;
    t->coinbase = (row->flags & STORE_TX_COINBASE) != 0;
    t->fee_known = !(row->flags & STORE_TX_UNRESOLVED);
    t->n_inputs = n_in;
    t->n_outputs = n_out;
    int64_t in_total = 0, out_total = 0;
    for (uint32_t k = 0; k < n_in; k++) {
        ct_tx_input *ci = &t->inputs[k];
        uint64_t in = row->first_in + k, prev = store_in_prev(s, in);
        ci->value = -1;
        ci->type = -1;
        if (prev == STORE_COINBASE) {
            ci->kind = CT_INPUT_COINBASE;
        } else if (prev == STORE_UNRESOLVED) {
            uint8_t ptxid[32];
            uint32_t vout = 0;
            ci->kind = CT_INPUT_UNRESOLVED;
            if (store_in_unresolved(s, in, ptxid, &vout) == 0) {
                util_hash_hex(ci->prev_txid, ptxid);
                ci->prev_vout = vout;
            }
        } else {
            uint64_t ptx = store_output_tx(s, prev);
            ci->kind = CT_INPUT_SPEND;
            util_hash_hex(ci->prev_txid, store_tx_hash(s, ptx));
            ci->prev_vout = (uint32_t)(prev - store_tx(s, ptx)->first_out);
            ci->value = store_out_value(s, prev);
            ci->type = store_out_type(s, prev);
            addr_text(ci->address, s, store_out_addr(s, prev));
            in_total += ci->value;
        }
    }
    for (uint32_t k = 0; k < n_out; k++) {
        ct_tx_output *co = &t->outputs[k];
        uint64_t o = row->first_out + k, in = store_out_spent_by(s, o);
        co->n = k;
        co->value = store_out_value(s, o);
        co->type = store_out_type(s, o);
        addr_text(co->address, s, store_out_addr(s, o));
        if (in != STORE_NONE) {
            co->spent = 1;
            util_hash_hex(co->spent_by_txid, store_tx_hash(s, store_input_tx(s, in)));
        }
        out_total += co->value;
    }
    t->output_value = out_total;
    if (t->fee_known) {
        t->input_value = in_total;
        t->fee = row->fee;
    }
    *out = t;
    return 0;
}

/* ---- address ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

CT_EXTERN(int)
ct_address_lookup(ct_address_summary *out, const ct_store *st, const char *address, ct_error *err)
{
    util_err e;
    const store *s = st->s;
    btc_addr key;
    if (!address) return fail(err, CT_EINVAL, "address: required");
    if (btc_addr_decode(&key, address, &e)) {
        copy_err(err, &e);
        return e.code;
    }
    int64_t aid = store_find_addr(s, &key);
    if (aid < 0) {
        util_errf(&e, UTIL_ENOTFOUND, "address %.200s: never seen in the store", address);
        copy_err(err, &e);
        return e.code;
    }
    /* every tx paying or spending from it, sorted to count each once */
    uint64_t *txs = NULL;
    size_t n_txs = 0, cap = 0;
    int64_t received = 0, sent = 0;
    uint64_t n_outputs = 0;
    for (uint64_t o = store_addr_last_out(s, (uint32_t)aid); o != STORE_NONE;
         o = store_out_prev_same_addr(s, o)) {
        uint64_t spender = store_out_spent_by(s, o);
        if (n_txs + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *n = realloc(txs, cap * sizeof *n);
            if (!n) {
                free(txs);
                return fail(err, CT_ENOMEM, "out of memory");
            }
            txs = n;
        }
        int64_t v = store_out_value(s, o);
        received += v;
        txs[n_txs++] = store_output_tx(s, o);
        if (spender != STORE_NONE) {
            sent += v;
            txs[n_txs++] = store_input_tx(s, spender);
        }
        n_outputs++;
    }
    uint64_t distinct = 0;
    if (n_txs) {
        qsort(txs, n_txs, sizeof *txs, cmp_u64);
        distinct = 1;
        for (size_t i = 1; i < n_txs; i++)
            distinct += txs[i] != txs[i - 1];
    }
    free(txs);
    memset(out, 0, sizeof *out);
    btc_addr_encode(out->address, &key);
    snprintf(out->type, sizeof out->type, "%s", btc_addr_kind_name(key.kind));
    out->received = received;
    out->sent = sent;
    out->balance = received - sent;
    out->tx_count = distinct;
    out->output_count = n_outputs;
    uint32_t ent =
        st->clusters ? cluster_entity_of(st->clusters, (uint32_t)aid) : CLUSTER_NO_ENTITY;
    if (ent != CLUSTER_NO_ENTITY) {
        out->has_entity = 1;
        out->entity = ent;
    }
    const labels_label *first;
    size_t n;
    labels_find(st->labels, "btc", out->address, &first, &n);
    out->n_labels = n;
    return 0;
}

/* ---- labels ---- */

CT_EXTERN(void) ct_labels_free(ct_labels *l)
{
    if (!l) return;
    free(l->labels);
    free(l);
}

CT_EXTERN(int)
ct_labels_lookup(ct_labels **out, const ct_store *st, const char *address, ct_error *err)
{
    if (!address || !*address) return fail(err, CT_EINVAL, "address: required");
    size_t n = 0;
    labels_find_any(st->labels, NULL, address, NULL, 0, &n);
    const labels_label **found = calloc(n ? n : 1, sizeof *found);
    ct_labels *r = calloc(1, sizeof *r);
    if (r) r->labels = calloc(n ? n : 1, sizeof *r->labels);
    if (!found || !r || !r->labels) {
        free(found);
        ct_labels_free(r);
        return fail(err, CT_ENOMEM, "out of memory");
    }
    labels_find_any(st->labels, NULL, address, found, n, &n);
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = found[i];
        r->labels[i] = (ct_label){l->chain,      l->address,   l->category, l->actor,
                                  l->name,       l->source,    l->url,      l->programs,
                                  l->first_seen, l->last_seen, l->updated,  l->confidence};
    }
    r->n = n;
    free(found);
    *out = r;
    return 0;
}

/* ---- exposure ---- */

CT_EXTERN(int) ct_exposure_opts_init(ct_exposure_opts *o, unsigned int version)
{
    if (!o || version != CT_EXPOSURE_OPTS_VERSION) return CT_EINVAL;
    risk_config cfg;
    risk_config_default(&cfg);
    memset(o, 0, sizeof *o);
    o->version = version;
    o->direction = CT_FORWARD;
    o->policy = cfg.policy;
    o->hops = cfg.hops;
    o->min_value = cfg.min_value;
    o->max_outputs = cfg.max_outputs;
    return 0;
}

CT_EXTERN(void) ct_exposure_free(ct_exposure *x)
{
    if (!x) return;
    free(x->categories);
    free(x);
}

static int cmp_cat(const void *pa, const void *pb)
{
    const ct_exposure_category *a = pa, *b = pb;
    if (a->amount != b->amount) return a->amount > b->amount ? -1 : 1;
    return strcmp(a->category, b->category);
}

CT_EXTERN(int)
ct_trace_exposure(ct_exposure **out, const ct_store *st, const char *spec,
                  const ct_exposure_opts *opts, ct_error *err)
{
    ct_exposure_opts def;
    ct_exposure_opts_init(&def, CT_EXPOSURE_OPTS_VERSION);
    if (!opts) opts = &def;
    if (opts->version != CT_EXPOSURE_OPTS_VERSION)
        return fail(err, CT_EINVAL,
                    "ct_exposure_opts: unknown version (use ct_exposure_opts_init)");
    if (!spec) return fail(err, CT_EINVAL, "spec: required");
    trace_opts to;
    trace_default_opts(&to);
    to.policy = opts->policy;
    to.direction = opts->direction;
    to.hops = opts->hops;
    to.min_value = opts->min_value;
    to.max_outputs = opts->max_outputs;
    if (to.policy < TRACE_POISON || to.policy > TRACE_FIFO || to.direction < TRACE_FORWARD ||
        to.direction > TRACE_BACKWARD || !to.hops || to.hops > TRACE_MAX_HOPS || !to.max_outputs)
        return fail(err, CT_EINVAL,
                    "ct_exposure_opts: direction, policy, hops (1..1000) or "
                    "max_outputs out of range");
    util_err e = {0};
    trace_seeds seeds = {0};
    int rc = trace_add_spec(&seeds, st->s, spec, &e);
    if (rc) {
        trace_seeds_free(&seeds);
        copy_err(err, &e);
        return rc;
    }
    ct_exposure *r = calloc(1, sizeof *r);
    if (!r) {
        trace_seeds_free(&seeds);
        return fail(err, CT_ENOMEM, "out of memory");
    }
    trace_exposure x = {0};
    if (seeds.n) {
        rc = trace_exposure_run(st->s, st->labels, st->clusters, st->stops, &seeds, &to, &x, &e);
        if (!rc && x.n_cat && !(r->categories = calloc(x.n_cat, sizeof *r->categories)))
            rc = util_errf(&e, UTIL_ENOMEM, "out of memory");
    }
    trace_seeds_free(&seeds);
    if (rc) {
        trace_exposure_free(&x);
        ct_exposure_free(r);
        copy_err(err, &e);
        return rc;
    }
    r->seeded = x.seeded;
    r->to_endpoints = x.to_endpoints;
    r->outputs_visited = x.outputs_visited;
    r->partial = x.partial;
    r->n_categories = x.n_cat;
    for (size_t i = 0; i < x.n_cat; i++) {
        const trace_exposure_cat *k = &x.cat[i];
        ct_exposure_category *c = &r->categories[i];
        c->category = k->category;
        c->amount = k->amount;
        c->share = x.seeded ? (double)k->amount / (double)x.seeded : 0;
        c->endpoints = k->endpoints;
        c->hops = k->hops;
        addr_text(c->nearest_address, st->s, k->nearest_addr);
        c->nearest_amount = k->nearest_amount;
        c->nearest_has_entity = k->nearest_entity != CLUSTER_NO_ENTITY;
        c->nearest_entity = c->nearest_has_entity ? k->nearest_entity : 0;
        c->nearest_via_entity = k->nearest_via_entity;
    }
    trace_exposure_free(&x);
    if (r->n_categories > 1) qsort(r->categories, r->n_categories, sizeof *r->categories, cmp_cat);
    *out = r;
    return 0;
}
