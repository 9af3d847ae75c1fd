/* cluster_doc: presentation of a clustering: the entity document (`entity`, the API), the
 * document of a cluster_build result, and the --dump listing. */
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
#include "../util/util_vec.h"

/* ---- documents ---- */

json_t *cluster_detection_json(const cluster_detection *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(cluster_cj_kind_name(d->kind)));
    json_object_set_new(o, "rule", json_string(cluster_rule_name(d->rule)));
    json_object_set_new(o, "score", json_integer(d->score));
    json_object_set_new(o, "excludes", json_boolean(cluster_cj_excludes(d->kind)));
    if (d->equal_count) {
        json_object_set_new(o, "equal_value", json_integer(d->equal_value));
        json_object_set_new(o, "equal_count", json_integer(d->equal_count));
        json_object_set_new(o, "participants", json_integer(d->participants));
        json_object_set_new(o, "earning", json_integer(d->earning));
        json_object_set_new(o, "with_change", json_integer(d->with_change));
        json_object_set_new(o, "by_chance", json_integer(d->by_chance));
        json_object_set_new(o, "chance_permille", json_integer(d->chance_permille));
    }
    return o;
}

static json_t *activity_json(uint32_t height, uint32_t time)
{
    json_t *o = json_object();
    json_object_set_new(o, "height", json_integer(height));
    json_object_set_new(o, "time", json_integer(time));
    return o;
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
    qsort(v->v, v->n, sizeof *v->v, util_cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < v->n; i++)
        if (v->v[i] != v->v[k - 1]) v->v[k++] = v->v[i];
    return v->n = k;
}

void cluster_entity_free(cluster_entity_result *r)
{
    free(r->addresses);
    free(r->refusals);
    free(r->flagged);
    r->addresses = NULL, r->refusals = NULL, r->flagged = NULL;
    r->n_addresses = r->n_refusals = r->n_flagged = 0;
}

json_t *cluster_params_json(const cluster_params *p)
{
    char hs[64];
    cluster_format_heuristics(p->heuristics, hs, sizeof hs);
    json_t *o = json_object();
    json_object_set_new(o, "rules", json_integer(p->rules));
    json_object_set_new(o, "heuristics", json_string(hs));
    json_object_set_new(o, "guard", json_integer(p->guard));
    json_object_set_new(o, "established", json_integer(p->established));
    json_object_set_new(o, "evidence", json_integer(p->evidence));
    json_object_set_new(
        o, "labels",
        json_pack("{s:s,s:I}", "digest", p->labels, "addresses", (json_int_t)p->labelled));
    return o;
}

/* The flagged txs the entity took part in (sorted unique tx ids of cj_in and cj_out): the
 * total and the first CLUSTER_LIST_MAX with their detection. */
static int flagged_list(const cluster_map *m, const store *s, const u64vec *in, const u64vec *out,
                        cluster_entity_result *r)
{
    size_t i = 0, j = 0;
    cluster_scratch sc = {0};
    int rc = 0;
    while (i < in->n || j < out->n) {
        uint64_t t = j >= out->n || (i < in->n && in->v[i] <= out->v[j]) ? in->v[i] : out->v[j];
        int sp = i < in->n && in->v[i] == t, rf = j < out->n && out->v[j] == t;
        i += sp, j += rf;
        r->flagged_total++;
        if (r->n_flagged == CLUSTER_LIST_MAX) continue;
        if (!r->flagged && !(r->flagged = calloc(CLUSTER_LIST_MAX, sizeof *r->flagged))) {
            rc = UTIL_ENOMEM;
            break;
        }
        cluster_flagged_tx *f = &r->flagged[r->n_flagged++];
        f->tx = t;
        memcpy(f->txid, store_tx_hash(s, t), 32);
        f->kind = cluster_tx_kind(m, t);
        f->spent_into = sp, f->received_from = rf;
        if (cluster_detect_ex(s, t, &sc, &f->det)) {
            rc = UTIL_ENOMEM;
            break;
        }
    }
    cluster_scratch_free(&sc);
    return rc;
}

static int push_address(cluster_entity_result *r, size_t *cap, const store *s, uint32_t id)
{
    if (r->n_addresses == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        cluster_entity_address *na = realloc(r->addresses, nc * sizeof *na);
        if (!na) return -1;
        r->addresses = na, *cap = nc;
    }
    cluster_entity_address *a = &r->addresses[r->n_addresses++];
    a->id = id;
    store_addr_text(s, id, a->address);
    return 0;
}

int cluster_entity_get(const cluster_map *m, const store *s, const char *arg, size_t offset,
                       size_t limit, cluster_entity_result *out, util_err *err)
{
    uint32_t aid;
    int rc = cl_resolve_arg(m, s, arg, &aid, err);
    if (rc) return rc;
    uint32_t ent = cluster_entity_of(m, aid);
    cluster_entity_result r = {0};
    r.entity = ent;
    r.offset = offset;
    int64_t received = 0, sent = 0;
    uint32_t first_h = UINT32_MAX, last_h = 0;
    uint64_t size = 0;
    size_t cap = 0;
    u64vec txs = {0}, cj_in = {0}, cj_out = {0}, peel_in = {0}, peel_out = {0};
    int oom = 0;
    for (uint32_t i = ent; i < m->st.addresses; i++) {
        if (cluster_entity_of(m, i) != ent) continue;
        if (size >= offset && size - offset < limit) oom |= push_address(&r, &cap, s, i);
        size++;
        for (uint64_t o = store_addr_last_out(s, i); o != STORE_NONE;
             o = store_out_prev_same_addr(s, o)) {
            uint64_t tx = store_output_tx(s, o);
            if (tx >= m->st.txs) continue; /* newer than the clustering */
            int64_t v = store_out_value(s, o);
            received += v;
            uint32_t h = store_tx_block(s, tx);
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
            h = store_tx_block(s, stx);
            if (h > last_h) last_h = h;
            oom |= vec_push(&txs, stx);
            if (cluster_tx_kind(m, stx) != CLUSTER_CJ_NONE) oom |= vec_push(&cj_in, stx);
            if (cluster_peel_chain(s, stx)) oom |= vec_push(&peel_in, stx);
        }
    }
    r.size = size;
    r.received = received;
    r.sent = sent;
    r.balance = received - sent;
    r.tx_count = vec_unique(&txs);
    if (first_h != UINT32_MAX) {
        r.has_activity = 1;
        r.first_height = first_h;
        r.first_time = store_block(s, first_h)->time;
        r.last_height = last_h;
        r.last_time = store_block(s, last_h)->time;
    }
    vec_unique(&cj_in);
    vec_unique(&cj_out);
    /* A kind byte past the known kinds (a damaged file) is counted nowhere, as before. */
    for (size_t i = 0; i < cj_in.n; i++)
        if (m->kinds[cj_in.v[i]] < CLUSTER_CJ_NKINDS) r.cj_spent_into[m->kinds[cj_in.v[i]]]++;
    for (size_t i = 0; i < cj_out.n; i++)
        if (m->kinds[cj_out.v[i]] < CLUSTER_CJ_NKINDS) r.cj_received_from[m->kinds[cj_out.v[i]]]++;
    r.peel_spent_into = vec_unique(&peel_in);
    r.peel_received_from = vec_unique(&peel_out);
    if (!oom) oom |= flagged_list(m, s, &cj_in, &cj_out, &r) != 0;
    if (!oom) oom |= cl_entity_formation(m, s, &r) != 0;
    r.clustered_txs = m->st.txs;
    r.up_to_date = store_get_totals(s)->txs == m->st.txs;
    r.heuristics = m->st.heuristics;
    free(txs.v);
    free(cj_in.v);
    free(cj_out.v);
    free(peel_in.v);
    free(peel_out.v);
    if (oom) {
        cluster_entity_free(&r);
        return util_errf(err, UTIL_ENOMEM, "out of memory describing entity %" PRIu32, ent);
    }
    *out = r;
    return 0;
}

json_t *cluster_entity_result_json(const cluster_entity_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "entity", json_integer(r->entity));
    json_object_set_new(o, "size", json_integer((json_int_t)r->size));
    json_object_set_new(o, "received", json_integer(r->received));
    json_object_set_new(o, "sent", json_integer(r->sent));
    json_object_set_new(o, "balance", json_integer(r->balance));
    json_object_set_new(o, "tx_count", json_integer((json_int_t)r->tx_count));
    json_object_set_new(o, "first_activity",
                        r->has_activity ? activity_json(r->first_height, r->first_time)
                                        : json_null());
    json_object_set_new(o, "last_activity",
                        r->has_activity ? activity_json(r->last_height, r->last_time)
                                        : json_null());
    json_t *cj = json_object();
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++) {
        if (!r->cj_spent_into[k] && !r->cj_received_from[k]) continue;
        json_t *c = json_object();
        json_object_set_new(c, "spent_into", json_integer((json_int_t)r->cj_spent_into[k]));
        json_object_set_new(c, "received_from", json_integer((json_int_t)r->cj_received_from[k]));
        json_object_set_new(cj, cluster_cj_kind_name(k), c);
    }
    json_object_set_new(o, "coinjoin_activity", cj);
    json_object_set_new(o, "peel_chain_activity",
                        json_pack("{s:I,s:I}", "steps_spent_into", (json_int_t)r->peel_spent_into,
                                  "steps_received_from", (json_int_t)r->peel_received_from));
    json_object_set_new(o, "offset", json_integer((json_int_t)r->offset));
    json_t *list = json_array();
    for (size_t i = 0; i < r->n_addresses; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "address", json_string(r->addresses[i].address));
        json_object_set_new(a, "id", json_integer(r->addresses[i].id));
        json_array_append_new(list, a);
    }
    json_object_set_new(o, "addresses", list);
    json_object_set_new(o, "clustered_txs", json_integer((json_int_t)r->clustered_txs));
    json_object_set_new(o, "up_to_date", json_boolean(r->up_to_date));
    char hs[64];
    cluster_format_heuristics(r->heuristics, hs, sizeof hs);
    json_object_set_new(o, "heuristics", json_string(hs));
    json_t *f = json_object();
    json_object_set_new(f, "multi_input", json_integer((json_int_t)r->formed_multi_input));
    json_object_set_new(f, "change", json_integer((json_int_t)r->formed_change));
    json_object_set_new(f, "on_evidence", json_integer((json_int_t)r->formed_evidence));
    json_object_set_new(f, "refused_apart", json_integer((json_int_t)r->refused_apart));
    json_object_set_new(f, "refused_joined_later", json_integer((json_int_t)r->refused_joined));
    json_t *ref = json_array();
    for (size_t i = 0; i < r->n_refusals; i++)
        json_array_append_new(ref, cluster_refusal_json(&r->refusals[i]));
    json_object_set_new(f, "refusals", ref);
    json_object_set_new(o, "formation", f);
    json_t *fl = json_array();
    for (size_t i = 0; i < r->n_flagged; i++) {
        const cluster_flagged_tx *x = &r->flagged[i];
        char hex[65];
        util_hash_hex(hex, x->txid);
        json_t *j = cluster_detection_json(&x->det);
        json_object_set_new(j, "txid", json_string(hex));
        json_object_set_new(j, "kind", json_string(cluster_cj_kind_name(x->kind)));
        json_object_set_new(j, "excludes", json_boolean(cluster_cj_excludes(x->kind)));
        json_object_set_new(j, "spent_into", json_boolean(x->spent_into));
        json_object_set_new(j, "received_from", json_boolean(x->received_from));
        json_array_append_new(fl, j);
    }
    json_object_set_new(o, "flagged_txs", fl);
    json_object_set_new(o, "flagged_total", json_integer((json_int_t)r->flagged_total));
    json_object_set_new(o, "params", cluster_params_json(&r->params));
    return o;
}

int cluster_entity_json(const cluster_map *m, const store *s, const char *arg, size_t offset,
                        size_t limit, json_t **out, util_err *err)
{
    *out = NULL;
    cluster_entity_result r;
    int rc = cluster_entity_get(m, s, arg, offset, limit, &r, err);
    if (rc) return rc;
    *out = cluster_entity_result_json(&r);
    cluster_entity_free(&r);
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
    json_object_set_new(o, "merged",
                        json_pack("{s:I,s:I,s:I}", "multi_input", (json_int_t)r->links_multi_input,
                                  "change", (json_int_t)r->links_change, "on_evidence",
                                  (json_int_t)r->links_evidence));
    json_t *rf = json_object();
    for (int k = 1; k < CLUSTER_NGUARDS; k++)
        json_object_set_new(rf, cluster_guard_name(k), json_integer((json_int_t)r->refusals[k]));
    json_object_set_new(o, "refused_by_rule", rf);
    json_object_set_new(o, "params", cluster_params_json(&r->params));
    json_t *big = json_array();
    for (unsigned i = 0; i < r->n_largest; i++) {
        json_t *e = json_object();
        char str[128];
        json_object_set_new(e, "entity", json_integer(r->largest_id[i]));
        json_object_set_new(e, "size", json_integer(r->largest_size[i]));
        store_addr_text(s, r->largest_id[i], str);
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
        store_addr_text(s, i, str);
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
