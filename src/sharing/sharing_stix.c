/* sharing: a STIX 2.1 bundle, one object a line, in this order:
 *   identity      the producer (identity_class organization), then one per label source
 *   threat-actor  per actor of a label whose category names wrongdoing (sanctioned, theft, ...)
 *   identity      per other actor (an exchange, a service: identity_class organization)
 *   cryptocurrency-wallet       per address (labels' and transactions'), holder_ref the first
 *                               non-threat actor of its labels
 *   cryptocurrency-transaction  per transaction, inputs and outputs with amounts in coins
 *   per label: an indicator ([cryptocurrency-wallet:value = 'ADDRESS'], created by the source's
 *     identity, confidence, labels [category], name, external reference to the label's URL,
 *     valid_from its date), a relationship to its actor (indicates a threat-actor, related-to
 *     an identity), and a sighting by its source between its first and last seen dates.
 * Ids: SCOs per the spec (UUIDv5 of their ID contributing properties); the others UUIDv5 in
 * sharing_ns of what identifies them, so the same labels give the same ids in every export.
 * Each indicator declares cointrail's toplevel-property extension (LABELS_STIX_LABEL_EXT) and
 * carries the label's chain, programs and dates exactly, for the import. */
#include <stdlib.h>
#include <string.h>

#include "../crypto/crypto.h"
#include "sharing_int.h"

typedef struct stix_w {
    sjw w;
    const sharing_set *s;
    char now[32];
    char producer_id[128];
    char incident_id[128];
} stix_w;

static void common(stix_w *x, const char *type, const char *id, const char *created_by)
{
    sjw *w = &x->w;
    sjw_nl(w);
    sjw_obj(w);
    sjw_kstr(w, "type", type);
    sjw_kstr(w, "spec_version", "2.1");
    sjw_kstr(w, "id", id);
    if (created_by) sjw_kstr(w, "created_by_ref", created_by);
    sjw_kstr(w, "created", x->now);
    sjw_kstr(w, "modified", x->now);
}

static void source_id(char out[128], const char *source)
{
    sharing_id(out, "identity", "source", source, (const char *)NULL);
}

static void actor_id(char out[128], const labels_label *l)
{
    if (labels_category_is_threat(l->category))
        sharing_id(out, "threat-actor", "actor", l->actor, (const char *)NULL);
    else
        sharing_id(out, "identity", "actor", l->actor, (const char *)NULL);
}

static void identity(stix_w *x, const char *id, const char *name, const char *cls)
{
    common(x, "identity", id, strcmp(id, x->producer_id) ? x->producer_id : NULL);
    sjw_kstr(&x->w, "name", name);
    if (cls) sjw_kstr(&x->w, "identity_class", cls);
    sjw_end_obj(&x->w);
}

static void wallet(stix_w *x, const char *address, const labels_label *holder)
{
    sjw *w = &x->w;
    char id[SHARING_SCO_ID], hid[128];
    sharing_stix_wallet_id(id, address);
    sjw_nl(w);
    sjw_obj(w);
    sjw_kstr(w, "type", "cryptocurrency-wallet");
    sjw_kstr(w, "spec_version", "2.1");
    sjw_kstr(w, "id", id);
    sjw_kstr(w, "value", address);
    if (holder) {
        actor_id(hid, holder);
        sjw_kstr(w, "holder_ref", hid);
    }
    sjw_key(w, "extensions");
    sjw_obj(w);
    sjw_key(w, LABELS_STIX_WALLET_EXT);
    sjw_obj(w);
    sjw_kstr(w, "extension_type", "new-sco");
    sjw_end_obj(w);
    sjw_end_obj(w);
    sjw_end_obj(w);
}

static void moves(stix_w *x, const char *key, const sharing_move *m, size_t n, int decimals)
{
    sjw *w = &x->w;
    if (!n) return;
    sjw_key(w, key);
    sjw_arr(w);
    for (size_t i = 0; i < n; i++) {
        char id[SHARING_SCO_ID], amount[160];
        sharing_stix_wallet_id(id, m[i].address);
        sjw_obj(w);
        if (m[i].amount && decimals >= 0 &&
            !sharing_amount(amount, sizeof amount, m[i].amount, decimals))
            sjw_kraw(w, "amount", amount);
        sjw_kstr(w, "address_ref", id);
        sjw_end_obj(w);
    }
    sjw_end_arr(w);
}

static void transaction(stix_w *x, const sharing_tx *t)
{
    sjw *w = &x->w;
    char sym[32], id[SHARING_SCO_ID], ts[32], fee[160];
    sharing_symbol(sym, t->chain);
    sharing_stix_tx_id(id, sym, t->txid);
    int decimals = sharing_chain_decimals(t->chain);
    sjw_nl(w);
    sjw_obj(w);
    sjw_kstr(w, "type", "cryptocurrency-transaction");
    sjw_kstr(w, "spec_version", "2.1");
    sjw_kstr(w, "id", id);
    sjw_kstr(w, "symbol", sym);
    sjw_kstr(w, "value", t->txid);
    if (t->fee && decimals >= 0 && !sharing_amount(fee, sizeof fee, t->fee, decimals))
        sjw_kraw(w, "fee", fee);
    if (t->time > 0) {
        sharing_ts(ts, t->time);
        ts[19] = 'Z', ts[20] = 0; /* the extension's examples: seconds */
        sjw_kstr(w, "execution_time", ts);
    }
    moves(x, "input", t->inputs, t->n_inputs, decimals);
    moves(x, "output", t->outputs, t->n_outputs, decimals);
    sjw_key(w, "extensions");
    sjw_obj(w);
    sjw_key(w, LABELS_STIX_TX_EXT);
    sjw_obj(w);
    sjw_kstr(w, "extension_type", "new-sco");
    sjw_end_obj(w);
    sjw_end_obj(w);
    sjw_end_obj(w);
}

/* The STIX pattern naming an address: ' and \ escaped. */
static int pattern(util_buf *b, const char *address)
{
    b->len = 0;
    int rc = util_buf_append(b, "[cryptocurrency-wallet:value = '", 32);
    for (const char *p = address; *p && !rc; p++) {
        if (*p == '\'' || *p == '\\') rc = util_buf_append(b, "\\", 1);
        if (!rc) rc = util_buf_append(b, p, 1);
    }
    if (!rc) rc = util_buf_append(b, "']", 3); /* with the NUL */
    return rc;
}

static const char *indicator_type(const char *category)
{
    if (labels_category_is_threat(category)) return "malicious-activity";
    if (!strcmp(category, "mixer")) return "anonymization";
    static const char *const benign[] = {"exchange", "bridge", "swap",    "otc",
                                         "defi",     "miner",  "gambling"};
    for (size_t i = 0; i < sizeof benign / sizeof *benign; i++)
        if (!strcmp(category, benign[i])) return "benign";
    return "unknown";
}

/* A relationship of the producer's. */
static void relationship(stix_w *x, const char *src_ref, const char *type, const char *target,
                         const char *created_by)
{
    char rel[128];
    sharing_id(rel, "relationship", src_ref, type, target, (const char *)NULL);
    common(x, "relationship", rel, created_by);
    sjw_kstr(&x->w, "relationship_type", type);
    sjw_kstr(&x->w, "source_ref", src_ref);
    sjw_kstr(&x->w, "target_ref", target);
    sjw_end_obj(&x->w);
}

static int label_objects(stix_w *x, const labels_label *l, const char *note, util_buf *pat)
{
    sjw *w = &x->w;
    char id[128], src[128], ts[32], ts2[32], conf[16];
    sharing_id(id, "indicator", l->chain, l->address, l->source, l->category, (const char *)NULL);
    source_id(src, l->source);
    if (pattern(pat, l->address)) return UTIL_ENOMEM;
    common(x, "indicator", id, src);
    if (*l->name) sjw_kstr(w, "name", l->name);
    if (note && *note) sjw_kstr(w, "description", note);
    sjw_key(w, "indicator_types");
    sjw_arr(w);
    sjw_str(w, indicator_type(l->category));
    sjw_end_arr(w);
    sjw_kstr(w, "pattern", (const char *)pat->data);
    sjw_kstr(w, "pattern_type", "stix");
    sjw_kstr(w, "pattern_version", "2.1");
    const char *valid = sharing_date_ts(ts, l->updated);
    sjw_kstr(w, "valid_from", valid ? valid : x->now);
    sjw_key(w, "labels");
    sjw_arr(w);
    sjw_str(w, l->category);
    sjw_end_arr(w);
    snprintf(conf, sizeof conf, "%d", l->confidence);
    sjw_kraw(w, "confidence", conf);
    if (*l->url) {
        sjw_key(w, "external_references");
        sjw_arr(w);
        sjw_obj(w);
        sjw_kstr(w, "source_name", l->source);
        /* a URL where STIX wants one (RFC 3986); other text (a TagPack's "source" may be a
         * sentence) as the description */
        sjw_kstr(w, sharing_is_uri(l->url) ? "url" : "description", l->url);
        sjw_end_obj(w);
        sjw_end_arr(w);
    }
    sjw_key(w, "extensions");
    sjw_obj(w);
    sjw_key(w, LABELS_STIX_LABEL_EXT);
    sjw_obj(w);
    sjw_kstr(w, "extension_type", "toplevel-property-extension");
    sjw_end_obj(w);
    sjw_end_obj(w);
    sjw_kstr(w, LABELS_STIX_X_CHAIN, l->chain);
    if (*l->programs) {
        sjw_key(w, LABELS_STIX_X_PROGRAMS);
        sjw_arr(w);
        for (const char *p = l->programs; *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            char *one = strndup(p, n);
            if (!one) return UTIL_ENOMEM;
            sjw_str(w, one);
            free(one);
            p += n + (comma ? 1 : 0);
        }
        sjw_end_arr(w);
    }
    const char *const xk[] = {LABELS_STIX_X_FIRST_SEEN, LABELS_STIX_X_LAST_SEEN,
                              LABELS_STIX_X_UPDATED};
    const char *const xv[] = {l->first_seen, l->last_seen, l->updated};
    for (size_t k = 0; k < 3; k++)
        if (*xv[k]) sjw_kstr(w, xk[k], xv[k]);
    sjw_end_obj(w);

    if (*l->actor) {
        char target[128];
        const char *type = labels_category_is_threat(l->category) ? "indicates" : "related-to";
        actor_id(target, l);
        relationship(x, id, type, target, src);
    }
    if (x->s->incident) relationship(x, id, "related-to", x->incident_id, x->producer_id);
    const char *first = sharing_date_ts(ts, l->first_seen);
    const char *last = sharing_date_ts(ts2, l->last_seen);
    if (first && last && strcmp(last, first) < 0) last = NULL; /* STIX: last >= first */
    if (first || last) {
        char sid[128];
        sharing_id(sid, "sighting", id, (const char *)NULL);
        common(x, "sighting", sid, src);
        if (first) sjw_kstr(w, "first_seen", first);
        if (last) sjw_kstr(w, "last_seen", last);
        sjw_kstr(w, "sighting_of_ref", id);
        sjw_key(w, "where_sighted_refs");
        sjw_arr(w);
        sjw_str(w, src);
        sjw_end_arr(w);
        sjw_end_obj(w);
    }
    return 0;
}

/* External references of URLs: a URL where STIX wants one (RFC 3986), other text as the
 * description. */
static void url_refs(sjw *w, const char *source_name, const char *const *urls, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += *urls[i] != 0;
    if (!k) return;
    sjw_key(w, "external_references");
    sjw_arr(w);
    for (size_t i = 0; i < n; i++) {
        if (!*urls[i]) continue;
        sjw_obj(w);
        sjw_kstr(w, "source_name", source_name);
        sjw_kstr(w, sharing_is_uri(urls[i]) ? "url" : "description", urls[i]);
        sjw_end_obj(w);
    }
    sjw_end_arr(w);
}

static int attribution_first(const sharing_incident *in, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (!strcmp(in->attrs[j].actor, in->attrs[i].actor)) return 0;
    return *in->attrs[i].actor != 0;
}

/* Whether a label's threat-actor is one of the incident's attributions (written with them). */
static int attributed(const sharing_incident *in, const char *actor)
{
    for (size_t i = 0; in && i < in->n_attrs; i++)
        if (!strcmp(in->attrs[i].actor, actor)) return 1;
    return 0;
}

/* The incident, the threat-actors it is attributed to, and attributed-to relationships (the
 * attribution's confidence, who made it, its statement). */
static void incident_objects(stix_w *x, const sharing_incident *in)
{
    sjw *w = &x->w;
    char id[128];
    common(x, "incident", x->incident_id, x->producer_id);
    sjw_kstr(w, "name", *in->name ? in->name : in->key);
    if (*in->description) sjw_kstr(w, "description", in->description);
    url_refs(w, "source", in->urls, in->n_urls);
    sjw_end_obj(w);
    for (size_t i = 0; i < in->n_attrs; i++) {
        const sharing_attribution *a = &in->attrs[i];
        if (!*a->actor) continue;
        sharing_id(id, "threat-actor", "actor", a->actor, (const char *)NULL);
        if (attribution_first(in, i)) {
            common(x, "threat-actor", id, x->producer_id);
            sjw_kstr(w, "name", a->actor);
            sjw_end_obj(w);
        }
        char rel[128], n[24];
        snprintf(n, sizeof n, "%zu", i);
        sharing_id(rel, "relationship", x->incident_id, "attributed-to", id, n, (const char *)NULL);
        common(x, "relationship", rel, x->producer_id);
        sjw_kstr(w, "relationship_type", "attributed-to");
        if (*a->by || *a->date) {
            util_buf d = {0};
            if (!util_buf_printf(&d, "attributed%s%s%s%s", *a->by ? " by " : "", a->by,
                                 *a->date ? " on " : "", a->date) &&
                !util_buf_append(&d, "", 1))
                sjw_kstr(w, "description", (const char *)d.data);
            util_buf_free(&d);
        }
        sjw_kstr(w, "source_ref", x->incident_id);
        sjw_kstr(w, "target_ref", id);
        if (a->confidence >= 0) {
            snprintf(n, sizeof n, "%d", a->confidence);
            sjw_kraw(w, "confidence", n);
        }
        const char *u = a->url;
        url_refs(w, *a->by ? a->by : "attribution", &u, 1);
        sjw_end_obj(w);
    }
}

/* The bundle's id: of everything it holds (label keys and txids) and its time. */
static void bundle_id(char out[128], const sharing_set *s, const char *now)
{
    crypto_sha256_ctx h;
    crypto_sha256_init(&h);
    for (size_t i = 0; i < s->n_labels; i++) {
        const labels_label *l = s->labels[i];
        const char *k[] = {l->chain, l->address, l->source, l->category};
        for (size_t j = 0; j < 4; j++)
            crypto_sha256_update(&h, k[j], strlen(k[j]) + 1);
    }
    for (size_t i = 0; i < s->n_txs; i++)
        crypto_sha256_update(&h, s->txs[i].txid, strlen(s->txs[i].txid) + 1);
    if (s->incident) crypto_sha256_update(&h, s->incident->key, strlen(s->incident->key) + 1);
    uint8_t d[32];
    char hex[65];
    crypto_sha256_final(&h, d);
    util_hex(hex, d, 32);
    sharing_id(out, "bundle", hex, now, (const char *)NULL);
}

int sharing_write_stix(FILE *f, const sharing_set *s, util_err *err)
{
    stix_w x = {.w = {.f = f}, .s = s};
    sharing_ts(x.now, s->now);
    const char *producer = s->producer ? s->producer : SHARING_PRODUCER;
    sharing_id(x.producer_id, "identity", "producer", producer, (const char *)NULL);
    if (s->incident) sharing_id(x.incident_id, "incident", s->incident->key, (const char *)NULL);
    size_t nmoves = 0;
    for (size_t i = 0; i < s->n_txs; i++)
        nmoves += s->txs[i].n_inputs + s->txs[i].n_outputs;
    size_t n = s->n_labels, cap = n + nmoves + 1;
    sharing_key *src = malloc(cap * sizeof *src), *act = malloc(cap * sizeof *act),
                *addr = malloc(cap * sizeof *addr);
    util_buf pat = {0};
    int rc = 0;
    if (!src || !act || !addr) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory writing STIX");
        goto done;
    }
    size_t na = 0, nw = 0;
    for (size_t i = 0; i < n; i++) {
        const labels_label *l = s->labels[i];
        src[i] = (sharing_key){l->source, i};
        if (*l->actor) act[na++] = (sharing_key){l->actor, i};
        addr[nw++] = (sharing_key){l->address, i};
    }
    for (size_t i = 0; i < s->n_txs; i++) {
        const sharing_tx *t = &s->txs[i];
        for (size_t k = 0; k < t->n_inputs; k++)
            addr[nw++] = (sharing_key){t->inputs[k].address, SIZE_MAX};
        for (size_t k = 0; k < t->n_outputs; k++)
            addr[nw++] = (sharing_key){t->outputs[k].address, SIZE_MAX};
    }
    sharing_keys_sort(src, n);
    sharing_keys_sort(act, na);
    sharing_keys_sort(addr, nw);

    sjw *w = &x.w;
    char id[128];
    sjw_obj(w);
    sjw_kstr(w, "type", "bundle");
    bundle_id(id, s, x.now);
    sjw_kstr(w, "id", id);
    sjw_key(w, "objects");
    sjw_arr(w);
    identity(&x, x.producer_id, producer, "organization");
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(src[i].key, src[i - 1].key)) continue;
        source_id(id, src[i].key);
        if (strcmp(id, x.producer_id)) identity(&x, id, src[i].key, NULL);
    }
    /* an actor is a threat-actor, an identity (organization), or both */
    for (int threat = 1; threat >= 0; threat--)
        for (size_t i = 0, last = SIZE_MAX; i < na; i++) {
            const labels_label *l = s->labels[act[i].index];
            if (labels_category_is_threat(l->category) != threat) continue;
            if (last != SIZE_MAX && !strcmp(act[last].key, act[i].key)) continue;
            last = i;
            if (threat && attributed(s->incident, l->actor)) continue; /* with the incident */
            actor_id(id, l);
            if (threat) {
                common(&x, "threat-actor", id, x.producer_id);
                sjw_kstr(w, "name", l->actor);
                sjw_end_obj(w);
            } else {
                identity(&x, id, l->actor, "organization");
            }
        }
    for (size_t i = 0; i < nw;) {
        size_t j = i;
        const labels_label *holder = NULL;
        for (; j < nw && !strcmp(addr[j].key, addr[i].key); j++) {
            const labels_label *l = addr[j].index == SIZE_MAX ? NULL : s->labels[addr[j].index];
            if (!holder && l && *l->actor && !labels_category_is_threat(l->category)) holder = l;
        }
        wallet(&x, addr[i].key, holder);
        i = j;
    }
    for (size_t i = 0; i < s->n_txs; i++)
        transaction(&x, &s->txs[i]);
    if (s->incident) {
        incident_objects(&x, s->incident);
        for (size_t i = 0; i < s->n_txs; i++) {
            char sym[32], tid[SHARING_SCO_ID];
            sharing_symbol(sym, s->txs[i].chain);
            sharing_stix_tx_id(tid, sym, s->txs[i].txid);
            relationship(&x, x.incident_id, "related-to", tid, x.producer_id);
        }
    }
    for (size_t i = 0; i < n && !rc; i++)
        if ((rc = label_objects(&x, s->labels[i], s->notes ? s->notes[i] : NULL, &pat)))
            util_errf(err, rc, "out of memory writing STIX");
    sjw_nl(w);
    sjw_end_arr(w);
    sjw_end_obj(w);
    sjw_line_end(w);
done:
    util_buf_free(&pat);
    free(src);
    free(act);
    free(addr);
    return rc;
}
