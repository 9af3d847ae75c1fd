/* tally: the theft tally (docs/incidents.md, "The tally"). Over incidents read with their latest
 * trace (case_incident_list with traces), per group of incidents (by actor, year, chain or any
 * combination of them; always also a total): how many incidents, how many traced, the USD the
 * sources state, what was stolen per asset (computed from the seeds in the store), and where the
 * traced funds are now: per named exchange (the stop label's actor), OTC desks, bridges and
 * swaps (with the chain a followed link took the funds to), mixers, DEX swaps into another
 * asset, still unspent (what could still be frozen), paid as fees, and untraced.
 *
 * Amounts are exact base units (satoshis, wei, token units) in 256 bits. For each asset of a
 * group: stolen + arrived = the destinations' sum, where arrived is what came in from another
 * asset (a cross-chain leg's Bitcoin, scaled by the tainted share of its deposit, or a DEX swap's
 * output), as long as no trace used the poison policy (whose clean additions are counted where
 * they went, so the destinations then exceed). An untraced incident's stolen amounts are all
 * untraced. The primary attribution (the first) is the actor; an incident on several chains is in
 * each chain's group with the amounts of that chain's assets (and its USD figure in each: the
 * total counts it once).
 *
 * Writers over the typed result: text, JSON, CSV and one self-contained HTML page (a bar chart
 * per year and a flow chart of where each asset went, as inline SVG; every label and incident
 * text escaped; nothing fetched, no script). Every function that can fail returns 0 or a
 * negative UTIL_E* code and fills err. */
#ifndef CT_TALLY_H
#define CT_TALLY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../case/case.h"
#include "../evm/evm.h"
#include "../util/util.h"

enum { TALLY_BY_ACTOR = 1, TALLY_BY_YEAR = 2, TALLY_BY_CHAIN = 4 };

/* "actor,year,chain" (any of them, in any order, comma-separated) into TALLY_BY_* bits; ""
 * gives 0 (the total only). UTIL_EINVAL naming the word. */
int tally_by_parse(const char *list, unsigned *by, util_err *err);

/* Where funds ended, in report order. */
typedef enum {
    TALLY_EXCHANGE = 0,
    TALLY_OTC,
    TALLY_BRIDGE,
    TALLY_SWAP,
    TALLY_MIXER,
    TALLY_CONVERTED, /* swapped into another asset on the same chain (a DEX in the same tx) */
    TALLY_UNSPENT,   /* still held by unlabelled addresses: what could still be frozen */
    TALLY_FEES,      /* paid to miners / burnt as gas */
    TALLY_UNTRACED,  /* beyond the hops, below the minimum value, not followed, never traced */
    TALLY_NKINDS
} tally_kind;
/* "exchange" "otc" "bridge" "swap" "mixer" "converted" "unspent" "fees" "untraced" */
const char *tally_kind_name(int kind);

typedef struct tally_asset {
    char chain[16];  /* "btc", "eth" */
    char asset[48];  /* "native" or a token's 0x address */
    char symbol[64]; /* "BTC", "ETH", "USDT" */
    int decimals;
} tally_asset;

typedef struct tally_dest {
    int kind;     /* tally_kind */
    char *name;   /* exchange, otc, mixer: the stop label's actor, else its name; bridge, swap:
                     the chain a followed link took the funds to ("" not followed or unknown);
                     other kinds "" */
    size_t asset; /* index in tally_result.assets */
    evm_u256 amount;
} tally_dest;

typedef struct tally_group {
    char *actor, *year, *chain; /* the group's key; NULL where the tally is not grouped by it */
    size_t incidents, traced;
    char **ids;           /* the incidents' ids (slugs), n = incidents */
    int64_t usd_cents;    /* the USD figures stated, summed */
    size_t usd_incidents; /* incidents with a USD figure */
    evm_u256 *stolen;     /* per asset (n_assets of the result) */
    evm_u256 *arrived;    /* per asset: in from another asset (cross-chain, DEX) */
    tally_dest *dests;    /* by kind, then amount (largest first), then name */
    size_t n_dests;
} tally_group;

typedef struct tally_result {
    unsigned by; /* TALLY_BY_* */
    tally_asset *assets;
    size_t n_assets;
    tally_group *groups; /* sorted by their keys */
    size_t n_groups;
    tally_group total;  /* every incident once */
    tally_group *years; /* by year and actor whatever `by` is: the HTML bar chart's data */
    size_t n_years;
} tally_result;

/* Tally n incidents (read with their traces). *out is owned by the caller: tally_result_free.
 * UTIL_ENOMEM, UTIL_ECORRUPT for an amount in the records that is not a number. */
int tally_compute(const case_incident *inc, size_t n, unsigned by, tally_result *out,
                  util_err *err);
void tally_result_free(tally_result *r);

/* The amount of v base units in whole units ("25.71357352", "0.5"), cap at least 100. */
void tally_units(char *out, size_t cap, const evm_u256 *v, int decimals);

/* The writers (docs/incidents.md has each format). tally_json: *out is a new reference. */
int tally_json(const tally_result *r, json_t **out, util_err *err);
int tally_write_text(const tally_result *r, FILE *f, util_err *err);
int tally_write_csv(const tally_result *r, FILE *f, util_err *err);
int tally_write_html(const tally_result *r, FILE *f, util_err *err);

#endif
