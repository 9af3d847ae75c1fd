/* gen internals: the state shared by the files in src/gen. Not part of the module's
 * interface (gen.h is); nothing outside src/gen includes this. */
#ifndef CT_GEN_INT_H
#define CT_GEN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../btc/btc.h"
#include "../crypto/crypto.h"
#include "../util/util.h"
#include "../util/util_hmap.h"
#include "gen.h"

#define GEN_NONE 0xffffffffu
#define GEN_COIN 100000000LL
#define GEN_DUST 1000           /* no output below this many satoshi (OP_RETURN aside) */
#define GEN_MAX_WEIGHT 3990000u /* stop filling a block here (consensus limit 4,000,000) */
#define GEN_TX_MAX_IN 400u      /* inputs of one tx, kept under the 400k standard weight */
#define GEN_TX_MAX_OUT 1200u
#define GEN_RAW_CAP 16384u /* bytes of raw (non-address) scripts in one tx */

/* ---- randomness: xoshiro256** from one seed; keys from a stateless mix of (seed, id) ---- */

typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;

static inline uint64_t gen_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t gen_rand(gen_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, res = (x << 7 | x >> 57) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return res;
}

/* Uniform in [0, 1). */
static inline double gen_unif(gen_rng *r)
{
    return (double)(gen_rand(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t gen_below(gen_rng *r, uint32_t n)
{
    return (uint32_t)(((gen_rand(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi], inclusive. */
static inline uint32_t gen_range(gen_rng *r, uint32_t lo, uint32_t hi)
{
    return lo + gen_below(r, hi - lo + 1);
}

static inline int gen_chance(gen_rng *r, double p)
{
    return gen_unif(r) < p;
}

void gen_rng_seed(gen_rng *r, uint64_t seed);
/* Log-uniform in [lo, hi]. */
double gen_logunif(gen_rng *r, double lo, double hi);
/* Round a satoshi amount to 1..3 significant decimal digits (round payment amounts). */
int64_t gen_round_amount(gen_rng *r, int64_t v);

/* ---- growable arrays (amortised growth: no allocation per tx) ---- */

typedef struct gen_vec {
    uint32_t *v;
    uint32_t n, cap;
} gen_vec;

/* ---- entities and wallets ---- */

enum gen_kind {
    GEN_K_USER,
    GEN_K_EXCHANGE,
    GEN_K_MERCHANT,
    GEN_K_MINER,
    GEN_K_MIXER,
    GEN_K_OTC,
    GEN_K_SWAP,
    GEN_K_BRIDGE,
    GEN_K_THIEF,
    GEN_NKINDS
};
extern const char *const gen_kind_names[GEN_NKINDS];

/* An entity's wallets: MAIN spends (users, hot wallets), IN receives what waits for a sweep
 * (service deposits) or mixed coins (users' postmix), COLD is an exchange's cold storage. */
enum { GEN_W_MAIN, GEN_W_IN, GEN_W_COLD, GEN_NWALLETS };

typedef struct gen_wallet {
    gen_vec coins; /* utxo slots */
    int64_t sum;
} gen_wallet;

enum { GEN_F_PRIVACY = 1, GEN_F_MAKER = 2, GEN_F_MINER = 4 };

typedef struct gen_entity {
    uint8_t kind;      /* enum gen_kind */
    uint8_t fp;        /* wallet fingerprint: tx version, locktime and sequence habits */
    uint8_t flags;     /* GEN_F_* */
    uint8_t bip69;     /* sorts inputs and outputs (BIP 69) */
    float type_q;      /* where this entity sits on the script-type adoption curve, 0..1 */
    uint32_t home;     /* merchant: its exchange; thief: its scenario; mixer: its implementation */
    uint32_t fixed[4]; /* reused addresses: hot wallet, cold wallet, coordinator, custody */
    uint32_t last_round;
    gen_vec addrs; /* every address it owns that appeared in an output */
    gen_wallet w[GEN_NWALLETS];
    char name[48];
} gen_entity;

/* ---- addresses and unspent outputs ---- */

/* Address styles: what script an address pays to and how it is spent. */
enum gen_style {
    GEN_S_P2PK,
    GEN_S_P2PKH,
    GEN_S_P2SH_MS,   /* P2SH of a 2-of-3 multisig */
    GEN_S_P2SH_WPKH, /* P2SH-wrapped P2WPKH (nested SegWit) */
    GEN_S_P2WPKH,
    GEN_S_P2WSH, /* P2WSH of a 2-of-3 multisig */
    GEN_S_P2TR,
    GEN_NSTYLES
};
#define GEN_STYLE_BIT(s) (1u << (s))
#define GEN_MASK_ANY 0xffu
#define GEN_MASK_SEGWIT_NATIVE (GEN_STYLE_BIT(GEN_S_P2WPKH) | GEN_STYLE_BIT(GEN_S_P2TR))

typedef struct gen_addr {
    uint8_t prog[32]; /* the 20- or 32-byte hash or program its script commits to */
    uint32_t owner;   /* entity index */
    uint8_t style;    /* enum gen_style */
    uint8_t uncompressed;
    uint8_t used; /* appeared in an output */
    uint8_t pad;
} gen_addr;

typedef struct gen_utxo {
    uint8_t txid[32];
    int64_t value;
    uint32_t vout;
    uint32_t addr;
} gen_utxo;

/* ---- the transaction being built ---- */

/* Where a new output's slot goes: a wallet (entity * GEN_NWALLETS + wallet), held for the
 * caller (GEN_DEST_HOLD, slot in gen.out_slot[]), or not tracked (unspendable or never spent). */
#define GEN_DEST_NONE 0xffffffffu
#define GEN_DEST_HOLD 0xfffffffeu
#define GEN_DEST(e, w) ((uint32_t)(e)*GEN_NWALLETS + (uint32_t)(w))

typedef struct gen_in {
    uint8_t txid[32];
    int64_t value;
    uint32_t vout, addr, slot;
    uint32_t from; /* wallet code it was taken from (GEN_DEST_HOLD if none) */
} gen_in;

typedef struct gen_out {
    int64_t value;
    uint32_t addr; /* GEN_NONE for a raw script */
    uint32_t dest;
    uint32_t raw_off;
    uint16_t raw_len;
    uint8_t key; /* sort key tiebreak for BIP 69 */
    uint8_t tag; /* for the builder's own use (e.g. the job stage of a thief's output) */
} gen_out;

/* ---- CoinJoins and scenarios ---- */

enum gen_cj_impl { GEN_CJ_WW1, GEN_CJ_WW2, GEN_CJ_WHIRLPOOL, GEN_CJ_JOINMARKET, GEN_NCJ };
extern const char *const gen_cj_names[GEN_NCJ];
/* Equal-output rounds outside the known implementations (gen_round.c). Not in GEN_NCJ: thieves
 * never pick it, and the scenarios' choice among the implementations stays as it was. */
#define GEN_CJ_GENERIC GEN_NCJ
/* Truth name of an implementation, GEN_CJ_GENERIC included ("generic"). */
const char *gen_cj_impl_name(int impl);

/* One-payer batches that look like CoinJoins (gen_round.c): gen_cjrec.batch. */
enum { GEN_BATCH_NONE, GEN_BATCH_PAYROLL, GEN_BATCH_PAYOUT };

typedef struct gen_cjrec {
    uint8_t txid[32];
    uint32_t height;
    uint8_t impl;
    uint8_t tx0;      /* a Whirlpool Tx0, not a CoinJoin itself */
    uint8_t discount; /* a Tx0's pool fee discount in percent (SCODE), 0 = full fee */
    uint8_t batch;    /* GEN_BATCH_*: a one-payer batch, not a CoinJoin (impl unused) */
    uint16_t n_in, n_out;
    uint16_t n_equal; /* batch: outputs of the equal value */
    uint32_t payer;   /* batch: the paying entity */
    int64_t denom;    /* batch: the equal value */
} gen_cjrec;

enum gen_step {
    GEN_ST_THEFT,
    GEN_ST_SPLIT,
    GEN_ST_PEEL,
    GEN_ST_HOP,
    GEN_ST_COINJOIN,
    GEN_ST_TX0,
    GEN_ST_CONSOLIDATE,
    GEN_ST_EXCHANGE,
    GEN_ST_OTC,
    GEN_ST_SWAP,
    GEN_ST_BRIDGE,
    GEN_ST_XCHAIN_IN,   /* an EVM swap's or bridge's outbound leg paying the thief in Bitcoin */
    GEN_ST_SWAP_RETURN, /* the swap service paying a thief's deposit back (cfg.swap_returns) */
    GEN_NSTEPS
};
extern const char *const gen_step_names[GEN_NSTEPS];

typedef struct gen_steprec {
    uint8_t txid[32];
    uint32_t height;
    uint8_t kind, impl;
} gen_steprec;

/* A stolen coin the thief is moving: job stages. */
enum {
    GEN_J_DEAD,
    GEN_J_SPLIT,
    GEN_J_PEEL,
    GEN_J_HOP,
    GEN_J_MIX,
    GEN_J_WAIT,
    GEN_J_POSTMIX,
    GEN_J_FINAL,
    GEN_J_SWAPRET, /* a swap deposit the service will pay back (ref, amount); slot unused */
    GEN_J_REMIX,   /* a postmix coin waiting in a Whirlpool pool's remix queue */
    GEN_J_CASHOUT  /* a final deposit at an exchange or the OTC broker (after a swap return) */
};

typedef struct gen_job {
    uint32_t slot;
    uint32_t due;
    uint8_t stage, left, then, impl;
    uint8_t pool, dest;
    uint32_t ref_vout; /* GEN_J_SWAPRET: the deposit output */
    uint32_t ref_height;
    int64_t amount;
    uint8_t ref[32];
} gen_job;

/* Per-output truth of a thief (cfg.thief_truth and the demixing options): an output of the
 * thief's own tx that paid another entity, or an output of a CoinJoin or Tx0 it owns. */
typedef struct gen_outrec {
    uint8_t txid[32];
    uint32_t vout, entity, height;
    int64_t value;
    uint8_t impl, tx0;
} gen_outrec;

/* A swap return: the thief's deposit at the swap service and the payout it got back. */
typedef struct gen_swaprec {
    uint8_t dep[32], pay[32];
    uint32_t dep_vout, pay_vout, dep_height, pay_height;
    int64_t dep_value, pay_value;
} gen_swaprec;

typedef struct gen_endpoint {
    uint32_t entity;
    uint32_t deposits;
    int64_t value;
} gen_endpoint;

typedef struct gen_scen {
    uint32_t thief, victim, start, span, delay;
    int started, theft_done;
    int64_t stolen, fees;
    gen_job *jobs;
    uint32_t n_jobs, cap_jobs;
    gen_steprec *steps;
    uint32_t n_steps, cap_steps;
    uint8_t (*sources)[36]; /* txid + LE vout */
    uint32_t n_sources;
    gen_endpoint *ends;
    uint32_t n_ends, cap_ends;
    gen_outrec *deps, *mixouts; /* only recorded when gen_thief_truth */
    uint32_t n_deps, cap_deps, n_mixouts, cap_mixouts;
    gen_swaprec *swaps;
    uint32_t n_swaps, cap_swaps;
} gen_scen;

/* The per-output truth of the thieves is kept and written (the demixing options, or
 * cfg.thief_truth alone). */
static inline int gen_thief_truth(const gen_config *c)
{
    return c->thief_truth || c->swap_returns > 0 || c->thief_remix > 0;
}

/* ---- the whole generator state (one per gen_run; no globals) ---- */

typedef struct gen_pending {
    uint32_t slot, dest, height;
} gen_pending;

typedef struct gen {
    gen_config cfg;
    gen_rng rng;
    uint64_t key_seed;
    int oom;

    /* chain position */
    uint32_t height;
    uint32_t time;
    double era;
    double fee_base;         /* sat/vB for this block */
    int64_t supply;          /* all subsidies so far */
    int64_t ex_total;        /* what exchanges hold, at the start of this block */
    double mix[GEN_NSTYLES]; /* cumulative script-style shares at this era */
    uint8_t prev[32];

    /* tables */
    gen_addr *addrs;
    uint32_t n_addrs, cap_addrs;
    gen_utxo *utxos;
    uint32_t n_utxos, cap_utxos;
    gen_vec free_utxos;
    gen_entity *ents;
    uint32_t n_ents;
    uint32_t e_user, n_user, e_ex, n_ex, e_merch, n_merch, e_miner, n_miner;
    uint32_t e_mixer, e_otc, e_swap, e_bridge, e_thief;
    gen_vec privacy, makers, home_miners; /* user entity indices */
    util_hmap dmap;                       /* service << 32 | customer -> deposit address */
    gen_pending *pend;
    uint32_t pend_head, pend_n, pend_cap;

    /* CoinJoin state */
    int64_t ww2_denoms[160];
    uint32_t n_ww2_denoms;
    gen_vec premix[4], remix[4];
    gen_vec gremix[6]; /* generic rounds: equal outputs waiting for a remix, per denomination */
    uint8_t tx0_disc;  /* discount of the Tx0 being built (tx0_outputs -> tx0_finish) */
    gen_cjrec *cj;
    uint32_t n_cj, cap_cj;
    uint32_t round_id;

    gen_scen *scen;
    uint32_t n_scen;

    /* the EVM side (cfg.evm): its state, the THORChain BTC vault entity */
    struct gen_evm *evm;
    uint32_t e_vault;

    /* the block being built: non-coinbase tx bytes, their txids and wtxids */
    util_buf blk;
    uint32_t blk_ntx; /* txs in blk (coinbase not included) */
    uint64_t blk_weight;
    int blk_segwit;
    int64_t blk_fees;
    int64_t spent_value; /* all inputs ever spent: utxo_value = outputs - this */
    uint8_t *txids, *wtxids;
    uint32_t cap_txids;

    /* the tx being built */
    gen_in *tin;
    gen_out *tout;
    uint32_t nin, nout;
    uint32_t *out_slot;
    uint8_t raw[GEN_RAW_CAP];
    uint32_t raw_len;
    uint32_t version, locktime, sequence;
    /* In a multi-party tx, value the thief's inputs pay to others (coordinator and maker
     * fees), set by the CoinJoin builders for the scenario accounting. */
    struct {
        uint32_t thief, ent;
        int64_t value;
    } attr[32];
    uint32_t n_attr;
    uint8_t last_txid[32];

    /* output files */
    int fd;
    uint32_t file_no;
    uint64_t file_off;
    uint8_t xor_key[8];
    uint8_t *wbuf;
    size_t wlen, wcap;
    util_err *err;

    gen_stats st;
} gen;

/* gen_tx.c: vectors, addresses, scripts, the tx builder */
int gen_vec_push(gen *g, gen_vec *v, uint32_t x);
void gen_vec_free(gen_vec *v);
/* A fresh utxo slot (recycled from spent ones first). */
uint32_t gen_utxo_new(gen *g);
/* ln and exp without libm (which the library does not link). */
double gen_ln(double x);
double gen_exp(double x);
/* Set g->mix (cumulative script-style shares) for g->era. */
void gen_mix_at(gen *g);
uint32_t gen_addr_new(gen *g, uint32_t owner, int style);
int gen_style_for(gen *g, uint32_t ent);
/* A receiving address of ent: reused (with cfg.reuse_rate) or fresh of its style. */
uint32_t gen_addr_recv(gen *g, uint32_t ent, double reuse);
size_t gen_script(const gen *g, uint32_t addr, uint8_t *out);
int gen_addr_to_btc(const gen *g, uint32_t addr, btc_addr *a);
void gen_tx_begin(gen *g, uint32_t ent);
void gen_tx_add_input(gen *g, uint32_t slot, uint32_t from);
/* Take coin idx out of ent's wallet w and add it as an input. */
void gen_tx_take(gen *g, uint32_t ent, int w, uint32_t idx);
int gen_tx_out(gen *g, uint32_t addr, int64_t value, uint32_t dest);
int gen_tx_out_raw(gen *g, const uint8_t *script, size_t len, int64_t value);
void gen_tx_abort(gen *g);
int64_t gen_tx_in_sum(const gen *g);
int64_t gen_tx_out_sum(const gen *g);
/* Estimated vsize of the tx as built, plus extra_outs outputs of 31 vbytes. */
uint32_t gen_tx_vsize(const gen *g, uint32_t extra_outs);
double gen_fee_rate(gen *g);
int64_t gen_fee(gen *g, double rate, uint32_t extra_outs);
/* Fund the outputs already added from ent's wallet w (coins matching mask), add change to ent
 * (wallet cw) and leave the tx ready. flex (an output index or -1) is scaled down when the coins
 * do not cover it. Returns 1 funded, 0 impossible (tx aborted). */
int gen_fund(gen *g, uint32_t ent, int w, unsigned mask, double rate, int flex, uint32_t max_in);
void gen_tx_shuffle(gen *g);
/* Serialize the tx into the block, account it and create its outputs. 0 or negative error. */
int gen_tx_finish(gen *g);
size_t gen_varint(uint8_t *p, uint64_t v);
void gen_wallet_add(gen *g, uint32_t dest, uint32_t slot);
int gen_pick_coin(gen *g, gen_wallet *w, unsigned mask, int64_t min_value, uint32_t *idx);

/* gen_econ.c: the economy */
int gen_econ_init(gen *g);
int gen_econ_fill(gen *g, uint32_t target);
uint32_t gen_deposit_addr(gen *g, uint32_t service, uint32_t customer);

/* gen_mix.c: CoinJoins */
void gen_mix_init(gen *g);
int gen_mix_block(gen *g);
int gen_cj_active(const gen *g, int impl);
int gen_cj_record(gen *g, int impl, int tx0, int64_t denom);
/* Whirlpool pools. */
extern const int64_t gen_wp_denom[4];
extern const int64_t gen_wp_fee[4];
/* A Whirlpool Tx0 by a thief: slot (held by a job) becomes premix outputs queued for pool
 * (adopted as waiting jobs) and toxic change (adopted as a hop). 1 done, 0 not possible. */
int gen_whirlpool_tx0_thief(gen *g, uint32_t thief, uint32_t slot, int pool);

/* gen_round.c: equal-output rounds outside the known implementations and one-payer batches
 * that look like CoinJoins (only with cfg.generic_rounds or cfg.lookalikes). */
int gen_round_block(gen *g);
/* Record the batch just finished (g->last_txid) for the truth. 0 or UTIL_ENOMEM. */
int gen_batch_record(gen *g, int type, uint32_t payer, uint32_t n_equal, int64_t value);

/* gen_scen.c: laundering scenarios */
int gen_scen_init(gen *g);
int gen_scen_block(gen *g);
/* A new output owned by a thief in a CoinJoin or Tx0: the scenario adopts it as a job at stage
 * (GEN_J_POSTMIX, GEN_J_HOP or GEN_J_WAIT for a premix of pool), and records the tx as a step. */
int gen_scen_adopt(gen *g, uint32_t thief_ent, uint32_t slot, int stage, int impl, int pool);
/* Up to max thief coins waiting for a round of impl (and Whirlpool pool), oldest first. With
 * commit their jobs are marked taken; without, the same call just looks. */
uint32_t gen_scen_waiting(gen *g, int impl, int pool, uint32_t *slots, uint32_t max, int commit);
/* Account the tx being finished if it spends thief coins (called by gen_tx_finish): value
 * that leaves the thief goes to the endpoint that owns it, or to fees. */
void gen_scen_account(gen *g);
void gen_scen_free(gen *g);

/* An EVM leg paid thief coin slot (output vout of g->last_txid) to scenario scen (one of the
 * EVM scenarios after cfg.scenarios): it joins the stolen coins as a source to be split. */
int gen_scen_inflow(gen *g, uint32_t scen, uint32_t victim, uint32_t slot, uint32_t vout);

/* gen_evm*.c: the EVM side (only with cfg.evm). init after the economy and the scenarios;
 * block after each Bitcoin block began (advances the EVM chain to g->time and pays the
 * outbound legs that are due); finish closes the CSVs; the writers append EVM lines. */
/* Refuse (or with cfg.overwrite remove) an earlier run's CSVs in evm/; called for every run. */
int gen_evm_prepare(gen *g);
int gen_evm_init(gen *g);
int gen_evm_block(gen *g);
int gen_evm_finish(gen *g);
int gen_evm_write_truth(gen *g, FILE *f, const char *path);
int gen_evm_write_labels(gen *g, FILE *f);
void gen_evm_free(gen *g);

/* gen_out.c: truth and labels */
int gen_write_truth(gen *g);
int gen_write_labels(gen *g);
/* gen_incidents.c: DIR/incidents.csv, one row per theft that happened (the scenarios' actor,
 * date and sources). */
int gen_write_incidents(gen *g);
/* The attributed actor of scenario k (0-based) and the date of its theft in the imitated era
 * (YYYY-MM-DD of the era year at its start height; out holds 11 bytes). The actor is chosen by
 * k alone, so no random draw is spent on it. */
const char *gen_scen_actor(uint32_t k);
void gen_scen_date(const gen *g, uint32_t height, char out[11]);
/* gen_evm_truth.c: the EVM theft txs of the EVM scenario that continues as Bitcoin scenario
 * btc_scen (0-based), appended to b as ';'-separated 0x hashes, and its stolen amounts as
 * "N ETH;N USDT" (decimal, in whole units) to amounts. 0, or UTIL_ENOMEM. */
int gen_evm_incident(const gen *g, uint32_t btc_scen, util_buf *seeds, util_buf *amounts);

#endif
