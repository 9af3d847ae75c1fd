/* labels internals shared by labels.c (the set, vocabulary, look-ups), labels_text.c (text
 * checks), labels_store.c (the store file), labels_merge.c (the import into the set) and
 * labels_import.c (the file format parsers). Not part of the module's interface. */
#ifndef CT_LABELS_INT_H
#define CT_LABELS_INT_H

#include <stddef.h>

#include "labels.h"

/* A growing array of labels that owns their strings. */
typedef struct labels_vec {
    labels_label *v;
    size_t n, cap;
} labels_vec;

void labels_label_free(labels_label *l);
void labels_vec_free(labels_vec *lv);

typedef struct labels_lazy labels_lazy;

/* The set and where it lives; shared by the look-ups, the store file and the import. */
struct labels_db {
    char dir[4096];
    char path[4200];
    int lock_fd;
    labels_vec set; /* sorted by (chain, address, source, category), keys unique */
    /* The labels.db text the set was read from, its fields unescaped in place: the strings of
     * the set point into it (one allocation instead of eleven per label, which made reading
     * the file most of what opening a store cost). NULL once the strings are the set's own
     * (labels_db_own, before an import changes the set). */
    char *arena;
    /* Opened with LABELS_LAZY and a labels.idx that matches labels.db (labels_index.c): look-ups
     * answer from the index until something needs the whole set (loaded then sets loaded). */
    labels_lazy *lazy;
    int loaded; /* set holds labels.db's labels (always, without lazy) */
};

/* ---- the index, DIR/labels.idx (labels_index.c; docs/formats.md) ---- */
#define LABELS_IX_VERSION 1
#define LABELS_IX_HEADER 96 /* bytes before the keys */
#define LABELS_IX_KEY 24    /* bytes of one key entry */
void labels_ix_path(char *out, size_t n, const char *dir);
/* Write DIR/labels.idx for db's set, just saved as text (len bytes) to db->path, whose label
 * i's line starts at line_off[i]. Atomic (temp, fsync, rename). 0 or an error. */
int labels_ix_write(const labels_db *db, const uint64_t *line_off, const void *text, size_t len,
                    util_err *err);
/* Map DIR/labels.idx and labels.db and set db->lazy if the index is the one of this
 * labels.db; 1 if so, 0 if not (no index, stale, damaged: read labels.db whole instead). */
int labels_lazy_open(labels_db *db);
void labels_lazy_free(labels_lazy *z);
/* The labels of (chain, address) from the index: 0 (*n may be 0), or -1 if the index does not
 * agree with labels.db there (or memory ran out): read the whole set instead. */
int labels_lazy_find(labels_lazy *z, const char *chain, const char *address,
                     const labels_label **first, size_t *n);
/* Labels first..first+n-1 of the set, all of one address: 0; 1 if they are not (or out of
 * range); -1 as labels_lazy_find. */
int labels_lazy_span(labels_lazy *z, size_t first, size_t n, const labels_label **out);
/* The run of keys of the chain of key at: its name and the key past it. 0 or -1 (damaged). */
int labels_lazy_chain_run(const labels_lazy *z, uint64_t at, const char **chain, uint64_t *end);
uint64_t labels_lazy_keys(const labels_lazy *z);
/* A copy of the mapped labels.db (*data owned by the caller, NUL-terminated). 0 or UTIL_ENOMEM. */
int labels_lazy_copy(const labels_lazy *z, uint8_t **data, size_t *len);
size_t labels_lazy_count(const labels_lazy *z);
/* Make db->set hold the whole set (a lazy db reads labels.db now). 0 or an error. */
int labels_db_load(labels_db *db, util_err *err);
/* db with its set read whole (a lazy db reads it now; on an error the set stays empty). */
labels_db *labels_db_full(const labels_db *db);
/* One labels.db label line p..nl (nl at its '\n'), unescaped in place: its fields point into
 * it. 0, or -1 if malformed. */
int labels_parse_line(char *p, char *nl, labels_label *l);

/* Give every label of db's set strings of its own (as an import's merge frees and replaces
 * them) and drop the arena. 0 or UTIL_ENOMEM. */
int labels_db_own(labels_db *db, util_err *err);

/* The string fields of a label in file order (confidence follows them): their offsets and names. */
#define LABELS_NSTR 11
extern const size_t labels_str_off[LABELS_NSTR];
extern const char *const labels_str_names[LABELS_NSTR];
#define LABELS_FIELD(l, i) (*(char **)((char *)(l) + labels_str_off[i]))
#define LABELS_CFIELD(l, i) (*(char *const *)((const char *)(l) + labels_str_off[i]))

/* Append l to lv (taking its strings); UTIL_ENOMEM if it cannot grow. */
int labels_vec_push(labels_vec *lv, const labels_label *l);
/* The set order: (chain, address, source, category). */
int labels_cmp_key(const labels_label *a, const labels_label *b);
/* labels_utf8_check (labels.h) is in labels_text.c. */

/* One label as a parser found it: borrowed strings, NULL for absent. currency is the raw
 * currency or chain code (mapped by labels_chain_from_currency); address is canonicalised. */
typedef struct labels_raw {
    const char *currency, *address, *category, *actor, *name, *source, *url, *programs;
    const char *first_seen, *last_seen, *updated;
    int confidence;
} labels_raw;

/* The state of one file's import. */
typedef struct labels_ctx {
    const char *path; /* as given, for messages */
    const char *base; /* its file name */
    const labels_import_opts *opts;
    labels_import_result *res;
    labels_vec out;          /* labels parsed so far */
    const char *chain_field; /* how the format names the chain field, for messages */
    const char *addr_field;  /* and the address field ("address", a JSON pointer) */
    size_t name_max;         /* bytes of a name: LABELS_MAX_TEXT, or LABELS_MAX_NAME */
    util_err *err;
} labels_ctx;

/* Validate and copy one label found at line (0 if unknown). An invalid currency is an
 * UTIL_EFORMAT error; an invalid address is rejected with a warning (or, strict, an error). */
int labels_ctx_add(labels_ctx *c, long line, const labels_raw *r);
/* Check one field of line (0 if unknown) as labels_ctx_add would store it (trimmed): at most
 * max bytes and nothing labels_text_check refuses (multiline: TAB and LF allowed). An
 * UTIL_EFORMAT error "PATH:LINE: field FIELD: ..." otherwise; the message never quotes s. */
int labels_ctx_check(labels_ctx *c, long line, const char *field, const char *s, size_t n,
                     size_t max, int multiline);
/* Record a warning "PATH:LINE: ..." in the result (kept up to LABELS_MAX_WARNINGS). */
void labels_ctx_warn(labels_ctx *c, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The parsers: data is the whole file (len bytes, NUL-terminated at data[len]). Each adds its
 * labels to c->out with labels_ctx_add, or returns an error naming PATH:LINE and the field. */
int labels_parse_csv(labels_ctx *c, const char *data, size_t len);
int labels_parse_list(labels_ctx *c, const char *data, size_t len);
int labels_parse_tagpack(labels_ctx *c, const char *data, size_t len);
int labels_parse_ofac_xml(labels_ctx *c, const char *data, size_t len);
/* A JSON document (labels_json.c): a STIX 2.1 bundle or a MISP event, told apart by content
 * ("type": "bundle", "Event"); want is LABELS_FMT_STIX or _MISP when --format says which, else
 * LABELS_FMT_AUTO. c->res->format is set to the one found. Errors name the JSON pointer. */
int labels_parse_json(labels_ctx *c, const char *data, size_t len, labels_format want);

/* ---- for the JSON parsers (labels_json.c, labels_stix.c, labels_misp.c) ---- */
/* A JSON pointer being built: push a key or an index, pop back to an earlier length. */
typedef struct labels_jptr {
    char s[1024];
    size_t n;
} labels_jptr;
size_t labels_jp_key(labels_jptr *p, const char *key);
size_t labels_jp_idx(labels_jptr *p, size_t i);
static inline void labels_jp_pop(labels_jptr *p, size_t n)
{
    p->n = n;
    p->s[n] = 0;
}
/* UTIL_EFORMAT "PATH: field POINTER: message". */
int labels_jerr(labels_ctx *c, const labels_jptr *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Member key of object o at pointer p: NULL if absent; an error (returned in *rc) if present but
 * not a string, or a string that labels_ctx_check refuses (max bytes; multiline: TAB and LF). */
struct json_t;
const char *labels_jstr(labels_ctx *c, labels_jptr *p, struct json_t *o, const char *key,
                        size_t max, int multiline, int *rc);
/* The chain of an address a file names no chain for: --chain, else btc for a valid Bitcoin
 * address, eth for 0x and 40 hex digits; NULL if none of these. */
const char *labels_guess_chain(const labels_ctx *c, const char *address);
/* Whether s is a date YYYY-MM-DD (an RFC 3339 full-date), or starts with one (n 10). */
int labels_is_date(const char *s, size_t n);
/* The parsers of the two JSON formats over a loaded document. */
int labels_parse_stix(labels_ctx *c, struct json_t *root);
int labels_parse_misp(labels_ctx *c, struct json_t *root);

/* Case-insensitive substring test. */
int labels_contains_ci(const char *hay, const char *needle);

#endif
