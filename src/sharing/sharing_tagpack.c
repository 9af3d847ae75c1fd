/* sharing: a GraphSense TagPack (YAML), the format the labels import reads back. A TagPack's
 * title is where its tags come from, so a pack holds the labels of one source (title = the
 * label's source; GraphSense allows no title per tag). Per tag:
 *   address, currency and network (the chain in capitals), label (the name), source (the
 *   label's URL: the TagPack's "where the tag comes from"), confidence (GraphSense's name when
 *   the level is one of its table's, else the number), abuse or category (GraphSense's words:
 *   sanctioned -> abuse sanction, mixer -> category mixing_service, ...), actor, lastmod
 *   (the label's date), and context (JSON text) with the programs and first/last seen dates
 *   that TagPacks have no field for (the import does not read them back).
 * Every string is double-quoted with YAML escapes, so no text can break the structure. */
#include <stdlib.h>
#include <string.h>

#include "sharing_int.h"

/* s as a YAML double-quoted scalar. */
static void yq(FILE *f, const char *s)
{
    putc_unlocked('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            putc_unlocked('\\', f), putc_unlocked(*p, f);
        else if (*p == '\n')
            fputs_unlocked("\\n", f);
        else if (*p == '\t')
            fputs_unlocked("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            putc_unlocked(*p, f);
    }
    putc_unlocked('"', f);
}

static void field(FILE *f, const char *indent, const char *key, const char *value)
{
    fprintf(f, "%s%s: ", indent, key);
    yq(f, value);
    putc_unlocked('\n', f);
}

/* The GraphSense word a category is written as, and whether it is an abuse. */
static const char *tagpack_word(const char *category, int *abuse)
{
    static const struct {
        const char *category, *word;
        int abuse;
    } t[] = {{"sanctioned", "sanction", 1},
             {"theft", "service_hack", 1},
             {"ransomware", "ransomware", 1},
             {"scam", "scam", 1},
             {"terrorism", "terrorist_financing", 1},
             {"mixer", "mixing_service", 0},
             {"darknet", "market", 0},
             {"bridge", "defi_bridge", 0},
             {"swap", "defi_dex", 0},
             {"otc", "otc_broker", 0},
             {"miner", "mining_service", 0}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(category, t[i].category)) {
            *abuse = t[i].abuse;
            return t[i].word;
        }
    *abuse = 0;
    return category;
}

/* GraphSense's confidence name for a level of the table in docs/labels.md, else the number. */
static const char *confidence(char out[16], const labels_label *l)
{
    static const struct {
        int level;
        const char *name;
    } t[] = {{90, "service_data"}, {80, "manual_transaction"}, {70, "forensic"},
             {50, "heuristic"},    {40, "web_crawl"},          {20, "unknown"}};
    if (l->confidence == 100)
        return !strcmp(l->category, "sanctioned") ? "authority_data" : "ownership";
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (l->confidence == t[i].level) return t[i].name;
    snprintf(out, 16, "%d", l->confidence);
    return out;
}

/* {"programs": [...], "first_seen": ..., "last_seen": ...} of what a tag cannot hold. */
static int context(util_buf *b, const labels_label *l)
{
    b->len = 0;
    if (!*l->programs && !*l->first_seen && !*l->last_seen) return 0;
    int rc = util_buf_append(b, "{", 1);
    const char *sep = "";
    if (*l->programs && !rc) {
        rc = util_buf_append(b, "\"programs\":[", 12);
        for (const char *p = l->programs; *p && !rc;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            char *one = strndup(p, n);
            rc =
                !one || (p != l->programs && util_buf_append(b, ",", 1)) || sharing_jcs_str(b, one);
            free(one);
            p += n + (comma ? 1 : 0);
        }
        if (!rc) rc = util_buf_append(b, "]", 1);
        sep = ",";
    }
    const char *keys[] = {"first_seen", "last_seen"}, *vals[] = {l->first_seen, l->last_seen};
    for (size_t k = 0; k < 2 && !rc; k++) {
        if (!*vals[k]) continue;
        rc = util_buf_printf(b, "%s\"%s\":", sep, keys[k]) || sharing_jcs_str(b, vals[k]);
        sep = ",";
    }
    if (!rc) rc = util_buf_append(b, "}", 2);
    return rc ? UTIL_ENOMEM : 0;
}

int sharing_write_tagpack(FILE *f, const sharing_set *s, util_err *err)
{
    for (size_t i = 1; i < s->n_labels; i++)
        if (strcmp(s->labels[i]->source, s->labels[0]->source))
            return util_errf(err, UTIL_EINVAL,
                             "labels from more than one source: a TagPack holds one (its title); "
                             "write one pack per source");
    char desc[128];
    snprintf(desc, sizeof desc, "cointrail export: %zu labels", s->n_labels);
    field(f, "", "title", s->n_labels ? s->labels[0]->source : "cointrail export");
    field(f, "", "creator", s->producer ? s->producer : SHARING_PRODUCER);
    field(f, "", "description", s->title ? s->title : desc);
    fputs_unlocked(s->n_labels ? "tags:\n" : "tags: []\n", f);
    util_buf ctx = {0};
    for (size_t i = 0; i < s->n_labels; i++) {
        const labels_label *l = s->labels[i];
        char sym[32], conf[16];
        int abuse;
        sharing_symbol(sym, l->chain);
        const char *word = tagpack_word(l->category, &abuse);
        field(f, "- ", "address", l->address);
        field(f, "  ", "currency", sym);
        field(f, "  ", "network", sym);
        field(f, "  ", "label", l->name);
        field(f, "  ", "source", l->url);
        field(f, "  ", "confidence", confidence(conf, l));
        field(f, "  ", abuse ? "abuse" : "category", word);
        if (*l->actor) field(f, "  ", "actor", l->actor);
        if (sharing_is_date(l->updated))
            fprintf(f, "  lastmod: %s\n", l->updated); /* a YAML date, as GraphSense writes it */
        else if (*l->updated)
            field(f, "  ", "lastmod", l->updated);
        if (context(&ctx, l)) {
            util_buf_free(&ctx);
            return util_errf(err, UTIL_ENOMEM, "out of memory writing a TagPack");
        }
        if (ctx.len) field(f, "  ", "context", (const char *)ctx.data);
    }
    util_buf_free(&ctx);
    return 0;
}
