/* risk: the screening document written straight as compact JSON text (risk_result_text), the
 * same bytes as jansson's compact dump of risk_result_json, without building the tree: the
 * service answers a screening from the exposure index in about the time a look-up takes, and
 * the tree (an object per label, field and path step) cost more than the screening itself.
 * tests/e2e_screen_text.sh compares the two writers' documents. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "risk_int.h"

typedef struct w {
    util_buf *b;
    int bad;
} w;

static void raw(w *o, const char *s)
{
    if (!o->bad && util_buf_append(o->b, s, strlen(s))) o->bad = 1;
}

/* ,"key": (no comma when first) */
static void key(w *o, const char *k, int first)
{
    if (!first) raw(o, ",");
    raw(o, "\"");
    raw(o, k);
    raw(o, "\":");
}

static void str(w *o, const char *s)
{
    if (!o->bad && util_buf_json_str(o->b, s, strlen(s))) o->bad = 1;
}

/* Integers as jansson writes them (its json_int_t is signed), without printf's cost. */
static void i64(w *o, int64_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    if (!o->bad && util_buf_append(o->b, p, (size_t)(buf + sizeof buf - p))) o->bad = 1;
}

static void u64(w *o, uint64_t v)
{
    i64(o, (int64_t)v);
}

static void real(w *o, double v)
{
    if (!o->bad && util_buf_json_real(o->b, v)) o->bad = 1;
}

static void boolean(w *o, int v)
{
    raw(o, v ? "true" : "false");
}

static void txid(w *o, const store *s, uint64_t tx)
{
    char h[67];
    h[0] = '"';
    util_hash_hex(h + 1, store_tx_hash(s, tx));
    h[65] = '"', h[66] = 0;
    raw(o, h);
}

static void addr(w *o, const store *s, uint32_t a)
{
    if (a == STORE_NO_ADDR) {
        raw(o, "null");
        return;
    }
    char buf[128];
    store_addr_text(s, a, buf);
    str(o, buf);
}

int risk_text_cache_new(risk_ctx *r)
{
    r->n_labels = r->labels ? labels_db_count(r->labels) : 0;
    if (!r->n_labels) return 0;
    r->label_text = calloc(r->n_labels, sizeof *r->label_text);
    return r->label_text ? 0 : UTIL_ENOMEM;
}

void risk_text_cache_free(risk_ctx *r)
{
    for (size_t i = 0; r->label_text && i < r->n_labels; i++)
        free(atomic_load(&r->label_text[i]));
    free(r->label_text);
    r->label_text = NULL;
}

/* labels_json_text of l, from the cache (made and kept there the first time) */
static void label_body(w *o, const risk_ctx *r, const labels_label *l)
{
    /* labels_find and labels_db_get give pointers into one array */
    uintptr_t base = r->n_labels ? (uintptr_t)labels_db_get(r->labels, 0) : 0;
    size_t off = (size_t)((uintptr_t)l - base), i = off / sizeof *l;
    if (!base || (uintptr_t)l < base || off % sizeof *l) i = SIZE_MAX;
    if (i >= r->n_labels) { /* not one of the context's labels: written each time */
        if (!o->bad && labels_json_text(l, o->b)) o->bad = 1;
        return;
    }
    char *t = atomic_load_explicit(&r->label_text[i], memory_order_acquire);
    if (!t) {
        util_buf b = {0};
        if (labels_json_text(l, &b) || !(t = malloc(sizeof(size_t) + b.len))) {
            util_buf_free(&b);
            o->bad = 1;
            return;
        }
        memcpy(t, &b.len, sizeof(size_t));
        memcpy(t + sizeof(size_t), b.data, b.len);
        util_buf_free(&b);
        char *none = NULL;
        /* another thread may have made it meanwhile: theirs stands */
        if (!atomic_compare_exchange_strong_explicit(&r->label_text[i], &none, t,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            free(t);
            t = none;
        }
    }
    size_t n;
    memcpy(&n, t, sizeof n);
    if (!o->bad && util_buf_append(o->b, t + sizeof(size_t), n)) o->bad = 1;
}

/* risk_label_json: the label with "via" (when via), or null; open: leave the object open */
static void label(w *o, const risk_ctx *r, const labels_label *l, const char *via, int open)
{
    if (!l) {
        raw(o, "null");
        return;
    }
    label_body(o, r, l);
    if (via) {
        key(o, "via", 0);
        str(o, via);
    }
    if (!open) raw(o, "}");
}

static void path(w *o, const store *s, const uint64_t *p, size_t n)
{
    raw(o, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) raw(o, ",");
        txid(o, s, p[i]);
    }
    raw(o, "]");
}

/* a jansson part (by_actor) dumped in place; doc is taken */
static void tree(w *o, json_t *doc)
{
    char *t = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!t) {
        o->bad = 1;
        return;
    }
    raw(o, t);
    free(t);
}

static const char *role_name(risk_role role)
{
    return role == RISK_ROLE_INPUT ? "input" : role == RISK_ROLE_OUTPUT ? "output" : NULL;
}

static void side_text(w *o, const risk_ctx *r, const risk_side *side)
{
    const store *s = r->s;
    raw(o, "{");
    int first = 1;
    if (side->traced) {
        key(o, "by_actor", 1);
        tree(o, trace_actors_json(s, &side->actors, RISK_ACTOR_ADDRESSES));
        first = 0;
    }
    key(o, "by_category", first);
    raw(o, "[");
    int listed = side->traced || side->indexed;
    for (size_t i = 0; listed && i < side->n_cat; i++) {
        const risk_exposure *k = &side->cat[i];
        if (i) raw(o, ",");
        raw(o, "{");
        key(o, "category", 1);
        str(o, k->category);
        key(o, "amount", 0);
        u64(o, k->amount);
        key(o, "share", 0);
        real(o, k->share);
        if (side->indexed) {
            static const char *const how[] = {"none", "trace", "index"};
            key(o, "indexed", 0);
            boolean(o, k->indexed);
            if (side->traced) {
                key(o, "within_hops", 0);
                u64(o, k->traced_amount);
            }
            key(o, "path_from", 0);
            str(o, how[k->explained]);
        }
        key(o, "endpoints", 0);
        i64(o, k->endpoints);
        key(o, "hops", 0);
        i64(o, k->hops);
        key(o, "counterparty", 0);
        raw(o, "{");
        key(o, "address", 1);
        addr(o, s, k->nearest_addr);
        key(o, "entity", 0);
        if (k->nearest_entity != CLUSTER_NO_ENTITY)
            i64(o, k->nearest_entity);
        else
            raw(o, "null");
        key(o, "amount", 0);
        u64(o, k->nearest_amount);
        key(o, "label", 0);
        label(o, r, k->nearest_label, k->nearest_via_entity ? "entity" : "address", 0);
        raw(o, "}");
        key(o, "path", 0);
        path(o, s, k->path, k->path_len);
        if (k->explained == RISK_EXPLAINED_INDEX) {
            key(o, "outputs_exposed", 0);
            i64(o, k->outputs_exposed);
            key(o, "outputs_walked", 0);
            i64(o, k->outputs_walked);
            key(o, "sources", 0);
            raw(o, "[");
            for (size_t j = 0; j < k->n_sources; j++) {
                const risk_source *q = &k->sources[j];
                if (j) raw(o, ",");
                raw(o, "{");
                key(o, "address", 1);
                addr(o, s, q->addr);
                key(o, "entity", 0);
                if (q->entity != CLUSTER_NO_ENTITY)
                    i64(o, q->entity);
                else
                    raw(o, "null");
                key(o, "label", 0);
                label(o, r, q->label, q->via_entity ? "entity" : "address", 0);
                key(o, "amount", 0);
                u64(o, q->amount);
                key(o, "outputs", 0);
                i64(o, q->outputs);
                key(o, "hops", 0);
                i64(o, (int64_t)q->path_len);
                key(o, "path", 0);
                path(o, s, q->path, q->path_len);
                raw(o, "}");
            }
            raw(o, "]");
        }
        raw(o, "}");
    }
    raw(o, "]");
    key(o, "seeded", 0);
    u64(o, side->seeded);
    key(o, "partial", 0);
    boolean(o, side->partial);
    key(o, "source", 0);
    str(o, side->indexed ? "index" : "trace");
    if (listed) {
        key(o, "outputs_visited", 0);
        u64(o, side->outputs_visited);
    }
    raw(o, "}");
}

int risk_result_text(const risk_ctx *r, const risk_result *res, util_buf *b, util_err *err)
{
    w o = {b, 0};
    const store *s = r->s;
    raw(&o, "{");
    if (res->is_tx) {
        key(&o, "txid", 1);
        txid(&o, s, res->tx);
        key(&o, "block_height", 0);
        i64(&o, res->block_height);
    } else {
        key(&o, "address", 1);
        str(&o, res->address);
        key(&o, "seen", 0);
        boolean(&o, res->seen);
        key(&o, "entity", 0);
        if (res->entity != CLUSTER_NO_ENTITY)
            i64(&o, res->entity);
        else
            raw(&o, "null");
    }
    key(&o, "direct", 0);
    raw(&o, "[");
    for (size_t i = 0; i < res->n_direct; i++) {
        const risk_direct *d = &res->direct[i];
        if (i) raw(&o, ",");
        label(&o, r, d->label, d->via_entity ? "entity" : "address", 1);
        if (d->via_entity) {
            key(&o, "entity", 0);
            i64(&o, d->entity);
        }
        if (role_name(d->role)) {
            key(&o, "role", 0);
            str(&o, role_name(d->role));
        }
        raw(&o, "}");
    }
    raw(&o, "]");
    if (res->direct_entity_labels_not_listed) {
        key(&o, "direct_entity_labels_not_listed", 0);
        u64(&o, res->direct_entity_labels_not_listed);
    }
    if (!res->is_tx) {
        key(&o, "outputs_screened", 0);
        u64(&o, res->outputs_screened);
    }
    key(&o, "indirect", 0);
    raw(&o, "{");
    int first = 1;
    for (int d = 0; d < 2; d++) {
        if (!res->side[d].screened) continue;
        key(&o, d == 0 ? "incoming" : "outgoing", first);
        first = 0;
        side_text(&o, r, &res->side[d]);
    }
    raw(&o, "}");
    key(&o, "risk", 0);
    raw(&o, "{");
    key(&o, "score", 1);
    real(&o, res->score);
    key(&o, "level", 0);
    str(&o, risk_level_name(res->level));
    key(&o, "reasons", 0);
    raw(&o, "[");
    int listed = 0;
    for (size_t i = 0; i < res->n_contrib && !o.bad; i++) {
        if (!(res->contrib[i].score > 0)) continue;
        char *t = risk_reason_text(r, res, &res->contrib[i]);
        if (!t) {
            o.bad = 1;
            break;
        }
        size_t n = strlen(t);
        /* jansson refuses text that is not UTF-8, and risk_result_json's array then goes
         * without it: the same here */
        if (labels_utf8_check(t, n) == n) {
            if (listed++) raw(&o, ",");
            if (!o.bad && util_buf_json_str(b, t, n)) o.bad = 1;
        }
        free(t);
    }
    raw(&o, "]}");
    key(&o, "rules", 0);
    raw(&o, "{");
    key(&o, "hops", 1);
    i64(&o, res->hops);
    key(&o, "policy", 0);
    str(&o, trace_policy_name(res->policy));
    key(&o, "min_value", 0);
    u64(&o, res->min_value);
    raw(&o, "}");
    key(&o, "height", 0);
    if (res->height >= 0)
        i64(&o, res->height);
    else
        raw(&o, "null");
    key(&o, "exposure_index", 0);
    str(&o, risk_index_state_name(res->index));
    raw(&o, "}");
    return o.bad ? util_errf(err, UTIL_ENOMEM, "out of memory") : 0;
}
