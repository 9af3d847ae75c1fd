/* cointrail/labels.h: what outside sources (OFAC, TagPacks, CSV files) say about an address.
 * Labels are imported with `cointrail labels import`; docs/labels.md describes the fields. */
#ifndef CT_PUBLIC_LABELS_H
#define CT_PUBLIC_LABELS_H

#include "common.h"
#include "store.h"

CT_BEGIN_DECL

/* One label. Every string is borrowed from the ct_store (valid until ct_store_close), never
 * NULL, "" when the source gives nothing. Text comes from files anyone can write: escape it
 * before printing it to a terminal. */
typedef struct ct_label {
    const char *chain;    /* "btc", "eth", ... */
    const char *address;  /* canonical form for its chain */
    const char *category; /* exchange mixer bridge sanctioned theft ransomware ... */
    const char *actor;    /* who is behind it */
    const char *name;     /* the label text */
    const char *source;   /* where it comes from */
    const char *url;
    const char *programs;                         /* OFAC sanctions programs, comma-separated */
    const char *first_seen, *last_seen, *updated; /* YYYY-MM-DD or "" */
    int confidence;                               /* 0..100 */
} ct_label;

/* The labels of one address. */
typedef struct ct_labels {
    size_t n;
    ct_label *labels; /* n of them, sorted by (chain, address, source, category) */
} ct_labels;

/* The labels of an address on any chain of the label set (a Bitcoin address may be given in
 * any valid spelling; 0x addresses in any case).
 *
 * @param out      (out) the labels (n may be 0); owned by the caller, who frees it with
 *                 ct_labels_free before or after closing the store. Untouched on failure.
 * @param s        an open store
 * @param address  the address
 * @param err      (out, may be NULL) filled on failure
 * @return         0 (also when there are none); CT_EINVAL for an empty address; CT_ENOMEM */
CT_EXTERN(int)
ct_labels_lookup(ct_labels **out, const ct_store *s, const char *address, ct_error *err);

/* Free a ct_labels (not the strings: the store owns them).
 *
 * @param l  the labels; NULL is fine */
CT_EXTERN(void) ct_labels_free(ct_labels *l);

CT_END_DECL

#endif
