/* sharing: a MISP event in the MISP core format ({"Event": ...}): one coin-address object per
 * label and one cryptocurrency-transaction object per transaction output, their attributes as
 * the object templates define them (relation, MISP type, category).
 *   coin-address   address (type btc, for btc), address-xmr (xmr) or address-crypto (text),
 *                  category "Financial fraud", to_ids for categories that name wrongdoing;
 *                  symbol (the chain in capitals), text (the label's name), first-seen and
 *                  last-seen (datetime) when the label has those dates
 *   tags on the address attribute: the actor as the threat-actor galaxy's tag (wrongdoing) or
 *   cointrail:actor, and cointrail:category, :source, :confidence, :url, :programs, :updated
 *   (and :first-seen, :last-seen when not dates): what MISP has no attribute for, read back by
 *   the import (labels_misp.c).
 * Instance-local numeric ids (id, event_id, object_id, org_id) are left out, as MISP's feed
 * export does: the receiving instance assigns its own. uuids are UUIDv5 of the content. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sharing_int.h"

typedef struct misp_w {
    sjw w;
    char ts[24]; /* the export's Unix time, as MISP writes it: a decimal string */
} misp_w;

/* 'KEY="VALUE"' with '"' and '\' in VALUE escaped. */
static int tag_name(util_buf *b, const char *key, const char *value)
{
    b->len = 0;
    int rc = util_buf_printf(b, "%s=\"", key);
    for (const char *p = value; *p && !rc; p++) {
        if (*p == '"' || *p == '\\') rc = util_buf_append(b, "\\", 1);
        if (!rc) rc = util_buf_append(b, p, 1);
    }
    if (!rc) rc = util_buf_append(b, "\"", 2);
    return rc;
}

static int tag(misp_w *x, util_buf *b, const char *key, const char *value)
{
    if (!*value) return 0;
    char k[64];
    if (!strchr(key, ':'))
        snprintf(k, sizeof k, "%s:%s", LABELS_MISP_NS, key);
    else
        snprintf(k, sizeof k, "%s", key);
    if (tag_name(b, k, value)) return UTIL_ENOMEM;
    sjw *w = &x->w;
    sjw_obj(w);
    sjw_kstr(w, "name", (const char *)b->data);
    sjw_kstr(w, "colour", strcmp(k, LABELS_MISP_ACTOR_TAG) ? "#2f4f4f" : "#8b0000");
    sjw_kraw(w, "exportable", "true");
    sjw_end_obj(w);
    return 0;
}

/* An attribute without its closing brace (tags may follow). */
static void attr_open(misp_w *x, const char *obj_uuid, const char *relation, const char *type,
                      const char *category, int to_ids, const char *value, int correlate)
{
    sjw *w = &x->w;
    char uuid[37];
    sharing_uuid(uuid, "misp-attribute", obj_uuid, relation, (const char *)NULL);
    sjw_obj(w);
    sjw_kstr(w, "uuid", uuid);
    sjw_kstr(w, "object_relation", relation);
    sjw_kstr(w, "type", type);
    sjw_kstr(w, "category", category);
    sjw_kraw(w, "to_ids", to_ids ? "true" : "false");
    sjw_kstr(w, "value", value);
    sjw_kstr(w, "timestamp", x->ts);
    sjw_kstr(w, "distribution", "5");
    sjw_kstr(w, "sharing_group_id", "0");
    sjw_kstr(w, "comment", "");
    sjw_kraw(w, "deleted", "false");
    sjw_kraw(w, "disable_correlation", correlate ? "false" : "true");
}

static void attr(misp_w *x, const char *obj_uuid, const char *relation, const char *type,
                 const char *category, const char *value, int correlate)
{
    attr_open(x, obj_uuid, relation, type, category, 0, value, correlate);
    sjw_end_obj(&x->w);
}

static void object_open(misp_w *x, const char *uuid, const char *name, const char *description,
                        const char *template_uuid, const char *template_version,
                        const char *comment)
{
    sjw *w = &x->w;
    sjw_nl(w);
    sjw_obj(w);
    sjw_kstr(w, "uuid", uuid);
    sjw_kstr(w, "name", name);
    sjw_kstr(w, "meta-category", "financial");
    sjw_kstr(w, "description", description);
    sjw_kstr(w, "template_uuid", template_uuid);
    sjw_kstr(w, "template_version", template_version);
    sjw_kstr(w, "timestamp", x->ts);
    sjw_kstr(w, "distribution", "5");
    sjw_kstr(w, "sharing_group_id", "0");
    sjw_kstr(w, "comment", comment);
    sjw_kraw(w, "deleted", "false");
    sjw_key(w, "ObjectReference");
    sjw_arr(w);
    sjw_end_arr(w);
    sjw_key(w, "Attribute");
    sjw_arr(w);
}

static void object_close(misp_w *x)
{
    sjw_end_arr(&x->w);
    sjw_end_obj(&x->w);
}

static void symbol_attr(misp_w *x, const char *uuid, const char *chain)
{
    char sym[32];
    sharing_symbol(sym, chain);
    attr(x, uuid, "symbol", "text", "Other", sym, 0);
}

/* A label date as a MISP datetime. */
static const char *datetime(char out[40], const char *date)
{
    if (!sharing_is_date(date)) return NULL;
    snprintf(out, 40, "%sT00:00:00+00:00", date);
    return out;
}

static int label_object(misp_w *x, const labels_label *l, const char *note, util_buf *b)
{
    char uuid[37], dt[40];
    sharing_uuid(uuid, "misp-object", l->chain, l->address, l->source, l->category,
                 (const char *)NULL);
    object_open(x, uuid, "coin-address", "An address used in a cryptocurrency",
                "d0e6997e-78da-4815-a6a1-cfc1c1cb8a46", "7", note ? note : "");
    int btc = !strcmp(l->chain, "btc"), xmr = !strcmp(l->chain, "xmr");
    int threat = labels_category_is_threat(l->category);
    attr_open(x, uuid,
              btc   ? "address"
              : xmr ? "address-xmr"
                    : "address-crypto",
              btc   ? "btc"
              : xmr ? "xmr"
                    : "text",
              "Financial fraud", threat, l->address, 1);
    sjw *w = &x->w;
    sjw_key(w, "Tag");
    sjw_arr(w);
    char conf[16];
    snprintf(conf, sizeof conf, "%d", l->confidence);
    int rc = tag(x, b, threat ? LABELS_MISP_ACTOR_TAG : "actor", l->actor);
    const char *keys[] = {"category", "source", "confidence", "url", "programs", "updated"};
    const char *vals[] = {l->category, l->source, conf, l->url, l->programs, l->updated};
    for (size_t k = 0; k < 6 && !rc; k++)
        rc = tag(x, b, keys[k], vals[k]);
    /* dates that are not YYYY-MM-DD cannot be a datetime attribute: kept as tags */
    if (!rc && !sharing_is_date(l->first_seen)) rc = tag(x, b, "first-seen", l->first_seen);
    if (!rc && !sharing_is_date(l->last_seen)) rc = tag(x, b, "last-seen", l->last_seen);
    sjw_end_arr(w);
    sjw_end_obj(w);
    symbol_attr(x, uuid, l->chain);
    if (*l->name) attr(x, uuid, "text", "text", "Other", l->name, 0);
    if (datetime(dt, l->first_seen)) attr(x, uuid, "first-seen", "datetime", "Other", dt, 0);
    if (datetime(dt, l->last_seen)) attr(x, uuid, "last-seen", "datetime", "Other", dt, 0);
    object_close(x);
    return rc;
}

static void tx_objects(misp_w *x, const sharing_tx *t)
{
    int decimals = sharing_chain_decimals(t->chain);
    char dt[40] = "";
    if (t->time > 0) {
        time_t tt = (time_t)t->time;
        struct tm tm;
        if (gmtime_r(&tt, &tm)) strftime(dt, sizeof dt, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    }
    for (size_t k = 0; k < t->n_outputs; k++) {
        const sharing_move *m = &t->outputs[k];
        char uuid[37], index[24], amount[160];
        snprintf(index, sizeof index, "%zu", k);
        sharing_uuid(uuid, "misp-transaction", t->chain, t->txid, index, (const char *)NULL);
        int btc = !strcmp(t->chain, "btc");
        util_buf comment = {0};
        /* the template's address is of MISP type btc: another chain's address goes in the
         * comment */
        if (!btc && util_buf_printf(&comment, "output %zu to %s", k, m->address)) comment.len = 0;
        object_open(x, uuid, "cryptocurrency-transaction",
                    "An object to describe a cryptocurrency transaction.",
                    "a4aab70f-e43a-48cb-bf82-505de8228dd6", "3",
                    comment.len ? (const char *)comment.data : "");
        util_buf_free(&comment);
        attr(x, uuid, "transaction-number", "text", "Financial fraud", t->txid, 1);
        symbol_attr(x, uuid, t->chain);
        if (*dt) attr(x, uuid, "time", "datetime", "Other", dt, 0);
        if (m->amount && decimals >= 0 &&
            !sharing_amount(amount, sizeof amount, m->amount, decimals))
            attr(x, uuid, "value", "float", "Other", amount, 0);
        if (btc) attr(x, uuid, "address", "btc", "Financial fraud", m->address, 1);
        object_close(x);
    }
}

/* An attribute of the event itself (no object). */
static void event_attr(misp_w *x, const char *event_uuid, const char *what, const char *type,
                       const char *category, const char *value, const char *comment)
{
    sjw *w = &x->w;
    char uuid[37];
    sharing_uuid(uuid, "misp-event-attribute", event_uuid, what, (const char *)NULL);
    sjw_nl(w);
    sjw_obj(w);
    sjw_kstr(w, "uuid", uuid);
    sjw_kstr(w, "type", type);
    sjw_kstr(w, "category", category);
    sjw_kraw(w, "to_ids", "false");
    sjw_kstr(w, "value", value);
    sjw_kstr(w, "timestamp", x->ts);
    sjw_kstr(w, "distribution", "5");
    sjw_kstr(w, "sharing_group_id", "0");
    sjw_kstr(w, "comment", comment);
    sjw_kraw(w, "deleted", "false");
    sjw_kraw(w, "disable_correlation", "true");
    sjw_end_obj(w);
}

/* The incident's own attributes: its description (text, Other), each attribution (text,
 * Attribution) and each source URL (link, External analysis). With event_uuid NULL only
 * counts them. */
static size_t event_attributes(misp_w *x, const sharing_incident *in, const char *event_uuid,
                               util_buf *b)
{
    size_t n = 0;
    char what[48];
    if (*in->description) {
        if (event_uuid)
            event_attr(x, event_uuid, "description", "text", "Other", in->description, in->key);
        n++;
    }
    for (size_t i = 0; i < in->n_attrs; i++) {
        const sharing_attribution *a = &in->attrs[i];
        if (!*a->actor) continue;
        if (event_uuid) {
            b->len = 0;
            char conf[16] = "";
            if (a->confidence >= 0) snprintf(conf, sizeof conf, "%d", a->confidence);
            if (util_buf_printf(b, "attributed to %s%s%s%s%s%s%s", a->actor, *a->by ? " by " : "",
                                a->by, *a->date ? " on " : "", a->date,
                                *conf ? ", confidence " : "", conf) ||
                util_buf_append(b, "", 1))
                continue;
            snprintf(what, sizeof what, "attribution-%zu", i);
            event_attr(x, event_uuid, what, "text", "Attribution", (const char *)b->data, a->url);
        }
        n++;
    }
    for (size_t i = 0; i < in->n_urls; i++) {
        if (!sharing_is_uri(in->urls[i])) continue;
        snprintf(what, sizeof what, "url-%zu", i);
        if (event_uuid)
            event_attr(x, event_uuid, what, "link", "External analysis", in->urls[i], "source");
        n++;
    }
    return n;
}

int sharing_write_misp(FILE *f, const sharing_set *s, util_err *err)
{
    misp_w x = {.w = {.f = f}};
    snprintf(x.ts, sizeof x.ts, "%lld", (long long)s->now);
    const char *producer = s->producer ? s->producer : SHARING_PRODUCER;
    char info[128];
    snprintf(info, sizeof info, "cointrail export: %zu labels, %zu transactions", s->n_labels,
             s->n_txs);
    const char *title = s->title ? s->title : info;
    size_t count = 0;
    for (size_t i = 0; i < s->n_labels; i++) {
        const labels_label *l = s->labels[i];
        count +=
            2 + (*l->name != 0) + sharing_is_date(l->first_seen) + sharing_is_date(l->last_seen);
    }
    for (size_t i = 0; i < s->n_txs; i++) {
        const sharing_tx *t = &s->txs[i];
        int decimals = sharing_chain_decimals(t->chain);
        for (size_t k = 0; k < t->n_outputs; k++) {
            char amount[160];
            count += 2 + (t->time > 0) + !strcmp(t->chain, "btc") +
                     (t->outputs[k].amount && decimals >= 0 &&
                      !sharing_amount(amount, sizeof amount, t->outputs[k].amount, decimals));
        }
    }
    const sharing_incident *in = s->incident;
    util_buf b = {0};
    int rc = 0;
    if (in) count += event_attributes(&x, in, NULL, &b);
    char uuid[37], org[37], date[32], n[24];
    sharing_uuid(uuid, "misp-event", producer, title, (const char *)NULL);
    sharing_uuid(org, "misp-org", producer, (const char *)NULL);
    sharing_ts(date, s->now);
    date[10] = 0;
    if (in && sharing_is_date(in->date)) snprintf(date, sizeof date, "%s", in->date);
    snprintf(n, sizeof n, "%zu", count);
    sjw *w = &x.w;
    sjw_obj(w);
    sjw_key(w, "Event");
    sjw_obj(w);
    sjw_kstr(w, "uuid", uuid);
    sjw_kstr(w, "info", title);
    sjw_kstr(w, "date", date);
    sjw_kstr(w, "timestamp", x.ts);
    sjw_kraw(w, "published", "false");
    sjw_kstr(w, "publish_timestamp", "0");
    sjw_kstr(w, "analysis", "2");
    sjw_kstr(w, "threat_level_id", "4");
    sjw_kstr(w, "distribution", "0");
    sjw_kstr(w, "sharing_group_id", "0");
    sjw_kstr(w, "attribute_count", n);
    sjw_key(w, "Orgc");
    sjw_obj(w);
    sjw_kstr(w, "uuid", org);
    sjw_kstr(w, "name", producer);
    sjw_end_obj(w);
    sjw_key(w, "Tag");
    sjw_arr(w);
    for (size_t i = 0; in && i < in->n_attrs && !rc; i++) {
        size_t j = 0;
        while (j < i && strcmp(in->attrs[j].actor, in->attrs[i].actor))
            j++;
        if (j == i) rc = tag(&x, &b, LABELS_MISP_ACTOR_TAG, in->attrs[i].actor);
    }
    sjw_end_arr(w);
    sjw_key(w, "Attribute");
    sjw_arr(w);
    if (in && !rc) event_attributes(&x, in, uuid, &b);
    sjw_end_arr(w);
    sjw_key(w, "Object");
    sjw_arr(w);
    for (size_t i = 0; i < s->n_labels && !rc; i++)
        rc = label_object(&x, s->labels[i], s->notes ? s->notes[i] : NULL, &b);
    util_buf_free(&b);
    if (rc) return util_errf(err, rc, "out of memory writing MISP");
    for (size_t i = 0; i < s->n_txs; i++)
        tx_objects(&x, &s->txs[i]);
    sjw_nl(w);
    sjw_end_arr(w);
    sjw_end_obj(w);
    sjw_end_obj(w);
    sjw_line_end(w);
    return 0;
}
