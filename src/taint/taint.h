/* taint: what the two chain models' tracers share (the UTXO tracer, src/trace, and the account
 * tracer, src/etrace; their propagation kernels stay their own): the policy and direction
 * names, the options both take with one meaning, the --until syntax, and ONE option parser for
 * every front end (the CLI's `trace` and `etrace`, the HTTP API's POST /v1/trace), so that an
 * option's name, limits and error message come from one table.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be
 * NULL). The module holds no global state. */
#ifndef CT_TAINT_H
#define CT_TAINT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../util/util.h"

typedef enum { TAINT_POISON = 0, TAINT_HAIRCUT, TAINT_FIFO } taint_policy;
typedef enum { TAINT_FORWARD = 0, TAINT_BACKWARD } taint_direction;

/* hops: an explicit limit is 1..TAINT_MAX_HOPS; TAINT_NO_HOP_LIMIT (the default) follows the
 * taint until it ends (an endpoint, fees, below the minimum value, unspent or held, a coinbase)
 * within the visit budget (max_visits), which is what bounds a trace's time and memory. */
#define TAINT_MAX_HOPS 1000
#define TAINT_NO_HOP_LIMIT UINT32_MAX
#define TAINT_DEFAULT_HOPS TAINT_NO_HOP_LIMIT
/* The default visit budget: outputs (UTXO) or transfers (account) visited. Measured on the
 * 10.4M-tx bench store with nothing to stop the taint (docs/tracing.md, "Depth"): 1M visited
 * outputs cost 4.2 s of CPU and 1.2 GB as text, 27 s and 4.9 GB as a JSON document (900 MB);
 * 5M cost 21 s and 2.6 GB as text, and as JSON would not fit a 24 GB machine. */
#define TAINT_DEFAULT_MAX_VISITS 1000000u

/* "poison" "haircut" "fifo" / "forward" "backward" ("?" if out of range), and back (-1 if
 * unknown). */
const char *taint_policy_name(int p);
int taint_policy_parse(const char *name);
const char *taint_direction_name(int d);
int taint_direction_parse(const char *name);

/* The options both models take, with one meaning in both. A model's options struct starts with
 * these fields (TAINT_OPTS_FIELDS inside an anonymous union with a taint_opts named core; the
 * model names the cap on visits, max_outputs or max_xfers), so code reads o.hops and hands
 * &o.core to the parser.
 *   until       -1: none; a block height. Forward: nothing in a block above it is followed;
 *               backward: nothing in a block below it
 *   until_time  -1: none; a block time (unix seconds), the same window by block timestamp.
 *               Only the account tracer applies it; the UTXO tracer refuses it (Bitcoin block
 *               times are not monotonic: trace_until_parse turns a time into a height through
 *               their running maximum and records the time in trace_opts.until_from_time) */
#define TAINT_OPTS_FIELDS(max_name)                                                                \
    int policy;         /* taint_policy */                                                         \
    int direction;      /* taint_direction */                                                      \
    uint32_t hops;      /* 1..TAINT_MAX_HOPS, or TAINT_NO_HOP_LIMIT */                             \
    int64_t until;      /* see above */                                                            \
    int64_t until_time; /* see above */                                                            \
    uint64_t max_name;  /* cap on outputs / transfers visited: then a partial result */            \
    int follow_mixers;  /* 1: addresses labelled mixer are not endpoints */
typedef struct taint_opts {
    TAINT_OPTS_FIELDS(max_visits)
} taint_opts;

/* Defaults: haircut, forward, no hop limit, no until, TAINT_DEFAULT_MAX_VISITS. */
void taint_default_opts(taint_opts *o);

/* The syntax of an --until WHEN, without a store:
 *   "H" (digits only, at most 10, <= INT32_MAX)  a block height: *height = H, *time = -1
 *   "@SECONDS" (0..4294967295)                   unix time:      *height = -1, *time = T
 *   "YYYY-MM-DD"                                 00:00:00 UTC of that day
 *   "YYYY-MM-DDTHH:MM[:SS][Z]"                   UTC (an offset other than Z is refused)
 * UTIL_EINVAL with a message naming "--until ARG" for anything else. */
int taint_until_syntax(const char *arg, int64_t *height, int64_t *time, util_err *err);

/* ---- the one option parser ---- */

/* Which tracer the options are for: the keys and limits differ a little (min-value in
 * satoshis or in base units; max-outputs or max-xfers; until-time only for accounts). */
typedef enum { TAINT_MODEL_UTXO = 0, TAINT_MODEL_ACCOUNT } taint_model;

/* Who gives the options: the CLI (text arguments, keys spelled "--min-value" in messages) or
 * the API (typed JSON values, keys spelled "min_value", only the keys the API takes). */
typedef enum { TAINT_FRONT_CLI = 0, TAINT_FRONT_API } taint_front;

/* One option's value: text from a command line, or a typed value from a JSON document (a JSON
 * string is TAINT_VAL_TEXT; the API takes numbers only as TAINT_VAL_INT). */
typedef enum { TAINT_VAL_TEXT = 0, TAINT_VAL_INT, TAINT_VAL_BOOL, TAINT_VAL_OTHER } taint_val_kind;
typedef struct taint_val {
    int kind;          /* taint_val_kind */
    const char *text;  /* TAINT_VAL_TEXT: the argument (NULL for a flag without one) */
    long long num;     /* TAINT_VAL_INT */
    int flag;          /* TAINT_VAL_BOOL */
    const char *shown; /* how an error message shows the value (the API: its JSON text); NULL:
                          'text' */
} taint_val;

/* What the parser fills: the shared core, and the model's own fields. */
typedef struct taint_target {
    int model;                   /* taint_model */
    taint_opts *core;            /* policy, direction, hops, through-mixers, until-time, max */
    uint64_t *min_value_sat;     /* UTXO: satoshis, 0..TAINT_MAX_SAT */
    const char **min_value_text; /* account: decimal base units, for the caller to read as a
                                    256-bit number (and refuse past 2^256 - 1) */
    const char **until_text;     /* --until WHEN, resolved by the caller against its store */
} taint_target;

#define TAINT_MAX_SAT ((uint64_t)21000000 * 100000000)

/* Set option key (spelled as the front end spells it, without "--": "min-value" on the CLI,
 * "min_value" in the API) to v. A bad value is UTIL_EINVAL with the one message format
 *   "NAME must be WHAT, not VALUE"
 * (NAME: "--min-value" / "field 'min_value'"; VALUE: 'text' / the JSON text). A key the front
 * end does not take for the model is UTIL_ENOTFOUND ("NAME: unknown option"). */
int taint_opt_set(taint_target *t, int front, const char *key, const taint_val *v, util_err *err);

/* The message of a bad value in that format, for a check a caller makes after parsing (the
 * API's cost limits, a 256-bit overflow): UTIL_EINVAL. */
int taint_opt_fail(util_err *err, int front, const char *key, const char *what, const taint_val *v);

/* ---- the document skeleton both tracers' documents share ---- */

/* Add to doc, in this order: "policy", "direction", "limits": {"hops", "min_value" (min_value,
 * a reference this steals: satoshis or a base-unit string), "until" (null if none),
 * "until_time" (until_time_shown, null if < 0), max_key (o->max_visits: "max_outputs" or
 * "max_xfers"), "follow_mixers"}. 0 or UTIL_ENOMEM. */
int taint_doc_options(json_t *doc, const taint_opts *o, json_t *min_value, int64_t until_time_shown,
                      const char *max_key);
/* Add "partial" and, when partial, "partial_reason". 0 or UTIL_ENOMEM. */
int taint_doc_partial(json_t *doc, int partial, const char *reason);

/* ---- the totals of a trace: every unit of taint in exactly one bucket ---- */

/* A trace document's totals (per asset for the account tracer) as a ledger: buckets [0,
 * first_out) are where taint came from (seeded, poison_added, swapped_in), [first_out, n) where
 * it ended. The amounts are 256-bit (the account tracer's evm_u256 limbs; the UTXO tracer's
 * satoshis are w[0]); sums wrap modulo 2^256, as the account tracer's accounting does. */
#define TAINT_LEDGER_MAX 16
typedef struct taint_amount {
    uint64_t w[4]; /* little-endian limbs: w[0] is the least significant */
} taint_amount;
typedef struct taint_ledger {
    size_t n, first_out;
    taint_amount b[TAINT_LEDGER_MAX];
} taint_ledger;

/* An empty ledger of n buckets (n <= TAINT_LEDGER_MAX), the first first_out of them sources. */
void taint_ledger_init(taint_ledger *l, size_t n, size_t first_out);
/* Bucket k = v. */
void taint_ledger_set_u64(taint_ledger *l, size_t k, uint64_t v);
void taint_ledger_set(taint_ledger *l, size_t k, const uint64_t w[4]);
/* The balance check of both documents' "balanced": 1 if the sources add up to the ends. */
int taint_ledger_balanced(const taint_ledger *l);

/* ---- what the limits cut off ---- */

/* A trace follows the taint until it ends (at an endpoint, as fees, unspent or held, at a
 * coinbase) or until a limit stops it. Each limit that stopped some taint is one cut: in the
 * result, in the document ("cut", taint_doc_cuts) and as a warning on the CLI's stderr, with
 * the option that lifts it, so that a shortfall is never only a line among the totals. */
typedef enum {
    TAINT_CUT_HOPS = 0,  /* hops (an explicit --hops): beyond_hops */
    TAINT_CUT_UNTIL,     /* until / until_time: beyond_until (account forward: held) */
    TAINT_CUT_MIN_VALUE, /* min_value: below_min_value */
    TAINT_CUT_BUDGET,    /* max_outputs / max_xfers reached: not_followed */
    TAINT_N_CUTS
} taint_cut_kind;

typedef struct taint_cut {
    int kind;            /* taint_cut_kind */
    uint32_t asset;      /* the account tracer's asset (token id, 0 native); UTXO: 0 */
    taint_amount amount; /* taint the limit stopped (the UTXO tracer's satoshis: w[0]) */
    uint64_t count;      /* where it stopped: how many of unit */
    const char *bucket;  /* the totals bucket the amount is in (static text) */
    const char *unit;    /* what count counts: "txs", "outputs", "transfers", "addresses" */
} taint_cut;

/* The limit's key in the document's "limits": "hops", "until", "min_value", "max_outputs"
 * (UTXO) / "max_xfers" (account); "?" out of range. */
const char *taint_cut_limit(int kind, int model);
/* How to lift the limit, naming the option as front spells it (TAINT_FRONT_API: the document's
 * text, which the CLI's --json shares). Static text. */
const char *taint_cut_lift(int kind, int model, int front);
/* Add "cut": [{"limit", "bucket", "amount" (UTXO: an integer; account: a decimal string),
 * unit: count, "lift"}] to doc, one object per cut in the given order (empty: nothing was cut).
 * 0 or UTIL_ENOMEM. */
int taint_doc_cuts(json_t *doc, const taint_cut *cuts, size_t n, int model);
/* "N hops", "1 hop" or "no hop limit" (TAINT_NO_HOP_LIMIT), into buf (at least
 * TAINT_HOPS_TEXT bytes). Returns buf. */
#define TAINT_HOPS_TEXT 24
char *taint_hops_text(uint32_t hops, char *buf);
/* The decimal text of a 256-bit amount (out: at least 79 bytes). Returns out. */
char *taint_amount_dec(const taint_amount *a, char *out);

#endif
