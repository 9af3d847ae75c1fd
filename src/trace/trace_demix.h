/* trace_demix: follow a thief's own coins forward through CoinJoin rounds and instant-swap
 * services (`cointrail trace --demix`). Part of the trace module's interface (trace.h includes
 * it); the model and the rules are in docs/tracing.md, "Demixing".
 *
 * A taint trace answers "where did the stolen value go, diluted"; demixing answers "which coins
 * did the thief itself hold next, and what did it deposit". It keeps, per output, a belief that
 * the thief owns it: owned (the seeds; every output of a non-CoinJoin tx an owned coin pays into)
 * or a candidate (an output of a CoinJoin round an owned coin or a candidate entered); when such
 * a tx also spends coins that are not the thief's, its outputs are the thief's with confidence its
 * share of the inputs (merge: a service sweeping a deposit with a hundred others is not the
 * thief's; a merge with coins bought elsewhere is, partly). A
 * candidate becomes owned only when a rule links it to the thief, each with a confidence:
 *   postmix-cospend-owned   spent in one tx with an owned coin
 *   postmix-cospend-rounds  spent in one tx with candidates of another round (or rounds)
 *   postmix-cospend-round   spent in one tx with candidates of its own round only
 *   deposit-address-reuse   its spender pays a deposit address (exchange or OTC) where an owned
 *                           coin was deposited
 *   address-reuse           paid to an address that held an owned coin
 *   postmix-path-to-deposit its coin reaches, through txs that spend nothing but it and the
 *                           thief's coins, an exchange or OTC deposit address where an owned
 *                           coin was deposited (deposit addresses are the customer's own)
 * and a deposit at an address labelled swap is matched with the service's payouts: an output of
 * a tx spending the service's coins within swap_window blocks, worth the deposit less at most
 * swap_fee_max and 20,000 sat, the earliest taken (swap-amount-time, confidence 1 / (the
 * payouts that fit x (1 + the other deposits at the service the payout fits)); a payout that
 * fits and reaches one of the thief's deposit addresses as above is taken first
 * (swap-payout-to-deposit). Links below
 * min_confidence are reported, not followed. An output's confidence is the weakest link on its
 * best path. Nothing is merged into an entity. Deterministic: the result is a fixpoint of
 * monotone rules, listed in output id order.
 *
 * Every function that can fail returns 0 or a negative UTIL_E* code and fills err (may be NULL).
 */
#ifndef CT_TRACE_DEMIX_H
#define CT_TRACE_DEMIX_H
#include <jansson.h>
#include <stdint.h>

/* The link rules (trace_demix_rule_name: the document's names). */
typedef enum {
    TRACE_DM_SEED = 0,
    TRACE_DM_SPEND,           /* an output of a tx an owned coin paid into (not a CoinJoin) */
    TRACE_DM_TX0,             /* the same through a Whirlpool Tx0 (premixes, toxic change) */
    TRACE_DM_COSPEND_OWNED,   /* postmix-cospend-owned */
    TRACE_DM_COSPEND_ROUNDS,  /* postmix-cospend-rounds */
    TRACE_DM_COSPEND_ROUND,   /* postmix-cospend-round */
    TRACE_DM_DEPOSIT_REUSE,   /* deposit-address-reuse */
    TRACE_DM_ADDRESS_REUSE,   /* address-reuse */
    TRACE_DM_SWAP_MATCH,      /* swap-amount-time */
    TRACE_DM_CANDIDATE,       /* a CoinJoin output no rule resolved (not followed) */
    TRACE_DM_MERGE,           /* an output of a tx that also spent coins not the thief's:
                                 confidence the thief's share of its inputs */
    TRACE_DM_DEPOSIT_PATH,    /* postmix-path-to-deposit: a candidate whose coin reaches, through
                                 txs spending nothing but it and the thief's coins, a deposit
                                 address where an owned coin was deposited */
    TRACE_DM_SWAP_DEPOSIT,    /* swap-payout-to-deposit: the one payout that fits a swap deposit
                                 and reaches such a deposit address the same way */
    TRACE_DM_DEPOSIT_ACCOUNT, /* deposit-account: another deposit at an exchange or OTC deposit
                                 address where an owned coin was deposited with a path of at
                                 least 0.9 (the customer's own address: its account) */
    TRACE_DM_NRULES
} trace_demix_rule;
const char *trace_demix_rule_name(int rule);

typedef struct trace_demix_opts {
    uint64_t max_outputs;  /* budget of outputs visited (owned and candidates): then partial */
    int64_t until;         /* -1, or no tx above this height is followed */
    double min_confidence; /* links below it are reported, not followed (default 0.5) */
    uint32_t remix_depth;  /* CoinJoin rounds entered by candidates alone, at most (default 3);
                              rounds of more than 20 outputs only when an owned coin entered */
    uint32_t swap_window;  /* blocks after a swap deposit its payout is looked for (36) */
    double swap_fee_max;   /* the most a swap service keeps, as a share (0.03) */
    int follow_mixers;     /* addresses labelled mixer are not endpoints */
    int no_account;        /* no deposit-account links (the rule's share of what is found) */
} trace_demix_opts;
void trace_demix_default_opts(trace_demix_opts *o);

/* An output the thief is believed to own (or a CoinJoin candidate), and the link that made it
 * so. */
typedef struct trace_demix_link {
    uint64_t output;        /* store output id */
    uint64_t from;          /* the owned (or candidate) output it came from; STORE_NONE: a seed */
    uint64_t round;         /* the CoinJoin tx it left, for postmix rules; else STORE_NONE */
    int rule;               /* trace_demix_rule */
    uint32_t candidates;    /* outputs the rule chose among (round outputs, swap payouts) */
    double confidence;      /* of this link */
    double path_confidence; /* the weakest link from a seed */
    int64_t value;
    uint32_t hops;  /* txs from a seed */
    int followed;   /* owned and path_confidence >= min_confidence */
    uint32_t depth; /* candidates: remixes from a round an owned coin entered */
} trace_demix_link;

/* A deposit of an owned coin at a labelled service (exchange, otc, bridge, swap, mixer): paid to
 * a labelled address, an address of a labelled entity, or an address the service swept together
 * with its labelled coins (service-sweep). */
typedef struct trace_demix_deposit {
    uint64_t output;
    uint32_t address, entity; /* entity: CLUSTER_NO_ENTITY without a clustering */
    uint32_t label;           /* the stop label (index in the labels_db) */
    int via; /* 0: its address is labelled, 1: its entity, 2: swept with a service's coins */
    int64_t value;
    double confidence; /* its path's weakest link */
    uint32_t hops;
    uint32_t rules; /* bit r: rule r occurs on its best path */
} trace_demix_deposit;

/* A CoinJoin round the thief's coins (owned or candidates) entered. */
typedef struct trace_demix_round {
    uint64_t tx;
    int kind;       /* cluster_cj_kind */
    uint32_t depth; /* 0: an owned coin entered; k: only candidates of depth k-1 rounds */
    uint32_t inputs, thief_inputs, outputs, resolved;
    int64_t thief_in_value, resolved_value;
    int expanded; /* its outputs became candidates (within remix_depth) */
} trace_demix_round;

/* An owned coin deposited at a swap service and what came back. */
typedef struct trace_demix_swap {
    uint64_t deposit, payout; /* payout STORE_NONE: none matched */
    int64_t deposit_value, payout_value;
    uint32_t candidates; /* payouts that fit the deposit (the earliest is taken) */
    uint32_t rivals;     /* other deposits at the service that the payout fits too */
    int rule;            /* TRACE_DM_SWAP_MATCH or TRACE_DM_SWAP_DEPOSIT */
    double confidence;   /* swap-amount-time: 1 / (candidates * (1 + rivals)); the other: the
                            deposit path's confidence over the fitting payouts that reach one */
    int followed;
} trace_demix_swap;

typedef struct trace_demix_totals {
    int64_t seeded;         /* the seeds' value */
    int64_t deposited;      /* owned coins at services (followed deposits), swaps included */
    int64_t held;           /* owned coins unspent at the tip (or past until) */
    int64_t into_rounds;    /* owned coins that entered CoinJoin rounds */
    int64_t out_of_rounds;  /* postmix outputs linked back to the thief (followed) */
    int64_t swap_deposited; /* owned coins deposited at swap services */
    int64_t swap_returned;  /* payouts matched and followed */
    int64_t unresolved;     /* candidate outputs no rule linked, summed (an upper bound on
                               what the rounds hide, not the thief's) */
} trace_demix_totals;

/* The result. Refers to the store and labels (ids): they must outlive it. Owned by the caller:
 * trace_demix_free. */
typedef struct trace_demix_result {
    const store *s;
    const labels_db *labels;
    uint64_t *seeds;
    size_t n_seeds;
    trace_demix_opts opts;
    int partial;
    trace_demix_totals totals;
    trace_demix_link *links; /* owned outputs and candidates, output id order */
    size_t n_links;
    trace_demix_deposit *deposits; /* followed deposits, largest first */
    size_t n_deposits;
    trace_demix_round *rounds; /* tx order */
    size_t n_rounds;
    trace_demix_swap *swaps; /* deposit order */
    size_t n_swaps;
    trace_actors actors; /* the deposits by actor */
} trace_demix_result;

/* Demix forward from seeds. labels may be empty; clusters may be NULL (CoinJoin kinds are then
 * detected per tx, stops by address only). UTIL_EINVAL for bad options, UTIL_ENOMEM. Reaching
 * max_outputs is not an error: out->partial. On error *out is empty. */
int trace_demix(const store *s, const labels_db *labels, const cluster_map *clusters,
                const trace_seeds *seeds, const trace_demix_opts *o, trace_demix_result *out,
                util_err *err);
void trace_demix_free(trace_demix_result *r);

/* The result as a JSON document (docs/tracing.md, "Demixing"). *out is a new reference owned by
 * the caller. UTIL_ENOMEM. */
int trace_demix_json(const trace_demix_result *r, json_t **out, util_err *err);
/* The result as text: totals, deposits by actor, swaps, rounds, the rules' links. */
int trace_demix_write_text(const trace_demix_result *r, FILE *f, util_err *err);
#endif
