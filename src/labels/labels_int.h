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

/* The set and where it lives; shared by the look-ups, the store file and the import. */
struct labels_db {
    char dir[4096];
    char path[4200];
    int lock_fd;
    labels_vec set; /* sorted by (chain, address, source, category), keys unique */
};

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
/* Offset of the first byte of s[0..n) that is not valid UTF-8, or n (labels_text.c). */
size_t labels_utf8_check(const char *s, size_t n);

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

/* Case-insensitive substring test. */
int labels_contains_ci(const char *hay, const char *needle);

#endif
