/* sharing internals: a streaming JSON writer, ids, times and the vocabulary the writers share
 * (sharing_json.c), and one writer per format. Not part of the module's interface. */
#ifndef CT_SHARING_INT_H
#define CT_SHARING_INT_H

#include <stdint.h>
#include <stdio.h>

#include "sharing.h"

/* A JSON writer onto a FILE: keys in the order written (the writers choose a fixed one), the
 * commas placed by the writer. Strings are escaped per RFC 8259; a byte that is not UTF-8 (a
 * labels.db edited by hand) is written as U+FFFD. Errors show in ferror(f). */
typedef struct sjw {
    FILE *f;
    int depth;
    uint64_t has_item; /* bit d: the container at depth d has an item already */
    int after_key;
    int nl; /* a line break is due after the next item's comma */
} sjw;

void sjw_obj(sjw *w);
void sjw_end_obj(sjw *w);
void sjw_arr(sjw *w);
void sjw_end_arr(sjw *w);
void sjw_key(sjw *w, const char *key);
void sjw_str(sjw *w, const char *s);
/* A number or literal as given (the caller's text: digits, "true"). */
void sjw_raw(sjw *w, const char *text);
void sjw_int(sjw *w, long long v);
/* key and value in one call. */
void sjw_kstr(sjw *w, const char *key, const char *s);
void sjw_kraw(sjw *w, const char *key, const char *text);
/* A line break before the next item (one object a line): after its comma. */
void sjw_nl(sjw *w);
/* End a top-level value with a line break (JSON lines: the next value starts afresh). */
void sjw_line_end(sjw *w);
/* s as a JSON string (quotes included) per RFC 8785, appended to b: the form that STIX's
 * deterministic SCO ids hash. 0 or UTIL_ENOMEM. */
int sharing_jcs_str(util_buf *b, const char *s);

/* The namespace of cointrail's own name-based ids (STIX SDOs and SROs, MISP uuids):
 * 2ecfecdc-f45a-5b85-8b63-61edb2e2154d, the UUIDv5 of "urn:cointrail" in the URL namespace.
 * STIX forbids its SCO namespace for anything else. */
extern const uint8_t sharing_ns[16];
/* "TYPE--" + the UUIDv5 in sharing_ns of the parts (NUL-separated, the list ends at NULL):
 * the id of an object that these parts identify. out holds 128 bytes. */
void sharing_id(char out[128], const char *type, ...) __attribute__((sentinel));
/* A bare UUIDv5 in sharing_ns of the parts (MISP uuids). */
void sharing_uuid(char out[37], const char *first, ...) __attribute__((sentinel));

/* RFC 3339 UTC with milliseconds, "2024-05-01T12:00:00.000Z" (STIX's created, modified). */
void sharing_ts(char out[32], int64_t t);
/* "YYYY-MM-DDT00:00:00.000Z" for a label date that is YYYY-MM-DD, else NULL. */
const char *sharing_date_ts(char out[32], const char *date);
/* Whether s is exactly YYYY-MM-DD. */
int sharing_is_date(const char *s);
/* Whether s looks like an absolute URI (RFC 3986 scheme ":" and no space or control). */
int sharing_is_uri(const char *s);
/* The chain as a currency symbol, upper case ("btc" -> "BTC"). out holds 32 bytes. */
void sharing_symbol(char out[32], const char *chain);

/* Label pointers of a set in (key, index) order, for one object per distinct key. */
typedef struct sharing_key {
    const char *key;
    size_t index; /* into the set's labels, or SIZE_MAX for a transaction's address */
} sharing_key;
/* Sort by key, then index. */
void sharing_keys_sort(sharing_key *k, size_t n);

int sharing_write_stix(FILE *f, const sharing_set *s, util_err *err);
int sharing_write_misp(FILE *f, const sharing_set *s, util_err *err);
int sharing_write_tagpack(FILE *f, const sharing_set *s, util_err *err);
int sharing_write_ftm(FILE *f, const sharing_set *s, util_err *err);

#define SHARING_PRODUCER "cointrail"

#endif
