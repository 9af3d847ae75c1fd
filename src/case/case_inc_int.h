/* case: the helpers the incident file readers share (case_incident_parse.c: the checks and CSV;
 * case_incident_yaml.c: YAML). Internal to the case module. */
#ifndef CT_CASE_INC_INT_H
#define CT_CASE_INC_INT_H

#include "case_int.h"

#define INC_MAX_URL 2048
#define INC_MAX_SLUG 128
#define INC_MAX_DEPTH 16 /* nesting of YAML lists and mappings */

/* Where a value came from, for messages: a CSV line and column, or a YAML path and line. */
typedef struct inc_loc {
    const char *path;
    long line;
    const char *col;   /* CSV column */
    const char *ypath; /* YAML path ("incidents[2].seeds[0].spec") */
} inc_loc;

/* Fill err with "FILE:LINE: column C: msg" (CSV) or "FILE: PATH (line L): msg" (YAML). */
int inc_fail(const inc_loc *l, util_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "FILE:LINE" or "FILE: PATH (line L)", a new string (NULL: out of memory). */
char *inc_origin(const inc_loc *l);
/* Grow *a (elements of elem bytes, zeroed) to hold n + 1. 0 or UTIL_ENOMEM. */
int inc_grow(void **a, size_t *cap, size_t n, size_t elem);
/* *dst = a copy of n bytes of v (freeing the old value). 0 or UTIL_ENOMEM. */
int inc_set_str(char **dst, const char *v, size_t n);
/* v trimmed, checked as case text (at most max bytes, no terminal controls), into *dst. */
int inc_set_text(const inc_loc *l, util_err *err, char **dst, const char *v, size_t max,
                 int multiline);
/* The field checks; each names l in its error. */
int inc_check_date(const inc_loc *l, util_err *err, const char *d);
int inc_check_slug(const inc_loc *l, util_err *err, const char *s);
int inc_check_kind(const inc_loc *l, util_err *err, const char *k);
int inc_check_url(const inc_loc *l, util_err *err, const char *u, size_t n);
int inc_parse_confidence(const inc_loc *l, util_err *err, const char *v, int *out);
/* "bitcoin;ethereum" -> "btc,eth" into *dst. */
int inc_set_chains(const inc_loc *l, util_err *err, char **dst, const char *v);
/* ';'-separated "DECIMAL UNIT" pairs into *dst; with usd, the USD figure too. */
int inc_set_amounts(const inc_loc *l, util_err *err, char **dst, char **usd, const char *v);
/* Add a source URL (once per role), or each of a space-separated list. */
int inc_add_url(const inc_loc *l, util_err *err, case_incident *inc, const char *role,
                const char *u, size_t n);
int inc_add_urls(const inc_loc *l, util_err *err, case_incident *inc, const char *role,
                 const char *v);
/* A checked seed into *out (owned strings), and adding it to an incident (once). */
int inc_make_seed(const inc_loc *l, util_err *err, const case_incident *inc, const char *chain,
                  const char *spec, const char *role, const char *note, const char *url,
                  case_incident_seed *out);
int inc_push_seed(util_err *err, case_incident *inc, case_incident_seed *s);

/* Split v at seps into trimmed items, fn for each; an empty item: UTIL_EFORMAT, *empty set. */
typedef int (*inc_item_fn)(const char *s, size_t n, void *ctx);
int inc_split_items(const char *v, const char *seps, inc_item_fn fn, void *ctx, int *empty);
/* inc_split_items's fn adding one attribution per actor, with the other fields from ctx. */
typedef struct inc_attr_ctx {
    case_incident *inc;
    const char *by, *kind, *date, *url;
    int confidence;
    util_err *err;
} inc_attr_ctx;
int inc_attr_item(const char *s, size_t n, void *ctx);

/* The YAML reader (case_incident_yaml.c). */
int case_inc_parse_yaml(const char *path, const char *data, size_t len, case_inc_set *set,
                        util_err *err);

#endif
