/* sharing: FollowTheMoney entities, one JSON object a line, as OpenSanctions and Aleph load
 * them ({"id", "schema", "properties": {name: [values]}}):
 *   LegalEntity   per actor: name, topics
 *   CryptoWallet  per (chain, address), its labels merged: publicKey, currencySymbol, name (the
 *                 labels' names, else the actor, else the address: Thing requires one),
 *                 topics (FtM's vocabulary: sanctioned -> sanction, theft -> crime.theft, ...),
 *                 holder (the actors' LegalEntity ids), managingExchange (an exchange's or OTC
 *                 desk's name), sourceUrl, publisher (the sources), program, modifiedAt (dates),
 *                 notes (category, confidence and source of each label)
 * Ids are "cointrail-wallet-" / "cointrail-actor-" and a UUIDv5 of what identifies them. */
#include <stdlib.h>
#include <string.h>

#include "sharing_int.h"

static const char *topic(const char *category)
{
    static const char *const t[][2] = {{"sanctioned", "sanction"},
                                       {"theft", "crime.theft"},
                                       {"ransomware", "crime.cyber"},
                                       {"scam", "crime.fraud"},
                                       {"darknet", "crime"},
                                       {"terrorism", "crime.terror"},
                                       {"mixer", "crime.fin"},
                                       {"exchange", "fin"},
                                       {"otc", "fin"},
                                       {"swap", "fin"},
                                       {"bridge", "fin"},
                                       {"defi", "fin"}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(category, t[i][0])) return t[i][1];
    return NULL;
}

static void actor_id(char out[80], const char *actor)
{
    char u[37];
    sharing_uuid(u, "ftm-actor", actor, (const char *)NULL);
    snprintf(out, 80, "cointrail-actor-%s", u);
}

/* A property of distinct values: vals[0..n) with NULL and "" skipped. */
static void prop(sjw *w, const char *key, const char **vals, size_t n)
{
    int open = 0;
    for (size_t i = 0; i < n; i++) {
        if (!vals[i] || !*vals[i]) continue;
        size_t j = 0;
        while (j < i && (!vals[j] || strcmp(vals[j], vals[i])))
            j++;
        if (j < i) continue; /* seen */
        if (!open) {
            sjw_key(w, key);
            sjw_arr(w);
            open = 1;
        }
        sjw_str(w, vals[i]);
    }
    if (open) sjw_end_arr(w);
}

static int by_wallet(const void *a, const void *b)
{
    const labels_label *x = *(const labels_label *const *)a, *y = *(const labels_label *const *)b;
    int c = strcmp(x->chain, y->chain);
    return c ? c : strcmp(x->address, y->address);
}

#define FTM_MAX_PER_WALLET 256 /* labels merged into one wallet entity (more are left out) */

static int wallet(sjw *w, const labels_label **g, size_t n, util_buf *notes)
{
    const labels_label *l0 = g[0];
    char u[37], id[80], sym[32];
    sharing_uuid(u, "ftm-wallet", l0->chain, l0->address, (const char *)NULL);
    snprintf(id, sizeof id, "cointrail-wallet-%s", u);
    sharing_symbol(sym, l0->chain);
    if (n > FTM_MAX_PER_WALLET) n = FTM_MAX_PER_WALLET;
    const char *v[FTM_MAX_PER_WALLET];
    char(*ids)[80] = malloc(n * sizeof *ids);
    char **note = calloc(n, sizeof *note);
    int rc = !ids || !note ? UTIL_ENOMEM : 0;
    sjw_obj(w);
    sjw_kstr(w, "id", id);
    sjw_kstr(w, "schema", "CryptoWallet");
    sjw_key(w, "properties");
    sjw_obj(w);
    prop(w, "publicKey", (const char *[]){l0->address}, 1);
    prop(w, "currencySymbol", (const char *[]){sym}, 1);
    int any_name = 0, any_actor = 0;
    for (size_t i = 0; i < n; i++)
        any_name |= *g[i]->name != 0, any_actor |= *g[i]->actor != 0;
    for (size_t i = 0; i < n; i++)
        v[i] = any_name ? g[i]->name : g[i]->actor;
    if (!any_name && !any_actor) v[0] = l0->address;
    prop(w, "name", v, any_name || any_actor ? n : 1);
    for (size_t i = 0; i < n; i++)
        v[i] = topic(g[i]->category);
    prop(w, "topics", v, n);
    for (size_t i = 0; i < n && !rc; i++) {
        v[i] = NULL;
        if (*g[i]->actor) actor_id(ids[i], g[i]->actor), v[i] = ids[i];
    }
    if (!rc) prop(w, "holder", v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = !strcmp(g[i]->category, "exchange") || !strcmp(g[i]->category, "otc") ? g[i]->actor
                                                                                     : NULL;
    prop(w, "managingExchange", v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = sharing_is_uri(g[i]->url) ? g[i]->url : NULL;
    prop(w, "sourceUrl", v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = g[i]->source;
    prop(w, "publisher", v, n);
    size_t np = 0;
    for (size_t i = 0; i < n && !rc; i++) /* each program of each label, split at commas */
        for (const char *p = g[i]->programs; *p && np < FTM_MAX_PER_WALLET && !rc;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char *one = strndup(p, len);
            if (!one) rc = UTIL_ENOMEM;
            v[np++] = one;
            p += len + (comma ? 1 : 0);
        }
    prop(w, "program", v, np);
    for (size_t i = 0; i < np; i++)
        free((char *)v[i]);
    for (size_t i = 0; i < n; i++)
        v[i] = sharing_is_date(g[i]->updated) ? g[i]->updated : NULL;
    prop(w, "modifiedAt", v, n);
    for (size_t i = 0; i < n && !rc; i++) {
        notes->len = 0;
        if (util_buf_printf(notes, "%s, confidence %d, from %s", g[i]->category, g[i]->confidence,
                            g[i]->source) ||
            !(note[i] = strndup((const char *)notes->data, notes->len)))
            rc = UTIL_ENOMEM;
        v[i] = note[i];
    }
    if (!rc) prop(w, "notes", v, n);
    sjw_end_obj(w);
    sjw_end_obj(w);
    sjw_line_end(w);
    for (size_t i = 0; note && i < n; i++)
        free(note[i]);
    free(note);
    free(ids);
    return rc;
}

int sharing_write_ftm(FILE *f, const sharing_set *s, util_err *err)
{
    size_t n = s->n_labels;
    const labels_label **v = malloc((n ? n : 1) * sizeof *v);
    sharing_key *act = malloc((n ? n : 1) * sizeof *act);
    util_buf notes = {0};
    int rc = !v || !act ? UTIL_ENOMEM : 0;
    size_t na = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        v[i] = s->labels[i];
        if (*v[i]->actor) act[na++] = (sharing_key){v[i]->actor, i};
    }
    sjw w = {.f = f};
    if (!rc) {
        sharing_keys_sort(act, na);
        for (size_t i = 0; i < na; i++) {
            if (i && !strcmp(act[i].key, act[i - 1].key)) continue;
            const char *topics[FTM_MAX_PER_WALLET];
            size_t nt = 0;
            for (size_t j = i; j < na && !strcmp(act[j].key, act[i].key); j++)
                if (nt < FTM_MAX_PER_WALLET)
                    topics[nt++] = topic(s->labels[act[j].index]->category);
            char id[80];
            actor_id(id, act[i].key);
            sjw_obj(&w);
            sjw_kstr(&w, "id", id);
            sjw_kstr(&w, "schema", "LegalEntity");
            sjw_key(&w, "properties");
            sjw_obj(&w);
            prop(&w, "name", &act[i].key, 1);
            prop(&w, "topics", topics, nt);
            sjw_end_obj(&w);
            sjw_end_obj(&w);
            sjw_line_end(&w);
        }
        if (n > 1) qsort(v, n, sizeof *v, by_wallet);
        for (size_t i = 0, j; i < n && !rc; i = j) {
            for (j = i + 1; j < n && !by_wallet(&v[i], &v[j]);)
                j++;
            rc = wallet(&w, v + i, j - i, &notes);
        }
    }
    util_buf_free(&notes);
    free(v);
    free(act);
    return rc ? util_errf(err, rc, "out of memory writing FollowTheMoney entities") : 0;
}
