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
#include "../query/query.h"
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
    query_stats_result r;
    util_err e;
    /* without recompute the figures are the MANIFEST's: this cannot fail */
    if (query_stats_get(st->s, 0, &r, &e)) return e.code;
    const store_totals *t = &r.totals;
    memset(out, 0, sizeof *out);
    out->blocks = t->blocks;
    out->tip_height = r.has_tip ? (int64_t)t->blocks - 1 : -1;
    if (r.has_tip) util_hash_hex(out->tip_hash, r.tip_hash);
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
    if (aid != STORE_NO_ADDR) store_addr_text(s, aid, out);
}

_Static_assert(QUERY_ADDR_SIZE == CT_ADDRESS_SIZE, "addresses copy whole");
_Static_assert((int)CT_INPUT_SPEND == (int)QUERY_IN_SPEND &&
                   (int)CT_INPUT_COINBASE == (int)QUERY_IN_COINBASE &&
                   (int)CT_INPUT_UNRESOLVED == (int)QUERY_IN_UNRESOLVED,
               "ct_input_kind mirrors query_input_kind");

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
    uint8_t txid[32];
    if (!txid_hex || util_hash_parse(txid, txid_hex)) {
        util_errf(&e, UTIL_EINVAL, "txid '%.80s': expected 64 hex digits",
                  txid_hex ? txid_hex : "(null)");
        copy_err(err, &e);
        return e.code;
    }
    /* no labels: ct_tx leaves them to ct_labels_lookup */
    query_ctx q = {st->s, NULL, st->clusters, NULL};
    query_tx_result r;
    int rc = query_tx_get(&q, txid_hex, &r, &e);
    if (rc) {
        copy_err(err, &e);
        return rc;
    }
    ct_tx *t = calloc(1, sizeof *t);
    if (t) {
        t->inputs = calloc(r.n_inputs ? r.n_inputs : 1, sizeof *t->inputs);
        t->outputs = calloc(r.n_outputs ? r.n_outputs : 1, sizeof *t->outputs);
    }
    if (!t || !t->inputs || !t->outputs) {
        ct_tx_free(t);
        query_tx_free(&r);
        return fail(err, CT_ENOMEM, "out of memory");
    }
    util_hash_hex(t->txid, r.txid);
    t->height = r.height;
    util_hash_hex(t->block_hash, r.block_hash);
    t->time = r.time;
    t->size = r.size;
    t->vsize = r.vsize;
    t->coinbase = r.coinbase;
    t->fee_known = r.fee_known;
    t->n_inputs = r.n_inputs;
    t->n_outputs = r.n_outputs;
    for (size_t k = 0; k < r.n_inputs; k++) {
        const query_tx_input *qi = &r.inputs[k];
        ct_tx_input *ci = &t->inputs[k];
        ci->kind = qi->kind;
        ci->value = qi->kind == QUERY_IN_SPEND ? qi->value : -1;
        ci->type = qi->kind == QUERY_IN_SPEND ? qi->type : -1;
        if (qi->prev_known) {
            util_hash_hex(ci->prev_txid, qi->prev_txid);
            ci->prev_vout = qi->vout;
        }
        if (qi->has_address) memcpy(ci->address, qi->address, sizeof ci->address);
    }
    for (size_t k = 0; k < r.n_outputs; k++) {
        const query_tx_output *qo = &r.outputs[k];
        ct_tx_output *co = &t->outputs[k];
        co->n = qo->n;
        co->value = qo->value;
        co->type = qo->type;
        if (qo->has_address) memcpy(co->address, qo->address, sizeof co->address);
        co->spent = qo->spent;
        if (qo->spent) util_hash_hex(co->spent_by_txid, qo->spent_by);
    }
    t->output_value = r.output_value;
    if (t->fee_known) {
        t->input_value = r.input_value;
        t->fee = r.fee;
    }
    query_tx_free(&r);
    *out = t;
    return 0;
}

/* ---- address ---- */

CT_EXTERN(int)
ct_address_lookup(ct_address_summary *out, const ct_store *st, const char *address, ct_error *err)
{
    util_err e;
    if (!address) return fail(err, CT_EINVAL, "address: required");
    /* the totals only: no page of outputs, no walk of the label set for the entity's labels */
    query_ctx q = {st->s, st->labels, st->clusters, NULL};
    query_address_result r;
    int rc = query_address_get(&q, address, 0, 0, QUERY_NO_ENTITY_LABELS, &r, &e);
    if (rc) {
        copy_err(err, &e);
        return rc;
    }
    memset(out, 0, sizeof *out);
    memcpy(out->address, r.address, sizeof out->address);
    snprintf(out->type, sizeof out->type, "%s", btc_addr_kind_name(r.kind));
    out->received = r.received;
    out->sent = r.sent;
    out->balance = r.balance;
    out->tx_count = r.tx_count;
    out->output_count = r.output_count;
    out->has_entity = r.has_entity;
    out->entity = r.has_entity ? r.entity : 0;
    out->n_labels = r.n_labels;
    query_address_free(&r);
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
