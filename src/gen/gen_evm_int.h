/* gen_evm_int.h: what the EVM side's files share and nothing else sees: the model (accounts,
 * txs, logs, mixer notes, cross-chain legs, jobs, scenarios) in struct gen_evm, and the few
 * helpers every part uses. gen_evm.c simulates the chain, gen_evm_jobs.c its scenarios and
 * cross-chain jobs, gen_evm_out.c writes the ethereum-etl CSVs, gen_evm_truth.c the truth and
 * labels. */
#ifndef CT_GEN_EVM_INT_H
#define CT_GEN_EVM_INT_H

#include "../evm/evm.h"
#include "gen_int.h"
#include "../util/util_vec.h"

__extension__ typedef unsigned __int128 u128;

#define E_NONE 0xffffffffu
#define E_GWEI 1000000000ULL
#define E_ETH ((u128)1000000000000000000ULL)
#define E_BLOCK_TIME 12u
#define E_CHAIN_BTC 8332u                 /* the bridge's id for Bitcoin (as tests/evm-node) */
#define E_SAT_PER_ETH 5000000u            /* 0.05 BTC per ETH */
#define E_SAT_PER_USDT 2000u              /* 1 USDT (10^6 units) = 2000 sat */
#define E_USDT_SUPPLY 1000000000000000ULL /* 10^9 USDT */

enum {
    R_USER,
    R_EXHOT,
    R_EXDEP,
    R_DEPLOYER,
    R_TOKEN,
    R_MIXER,
    R_BRIDGE,
    R_ROUTER,
    R_VAULT,
    R_RELAYER,
    R_THIEF,
    R_BUILDER,
    /* --evm-services: unlabelled exchanges and the lookalikes of their deposit addresses */
    R_SVCHOT,
    R_SVCDEP,
    R_DEX,
    R_BOT,
    R_DISTRIB,
    R_SYBIL,
    R_COLLECT,
    R_PAYEE,
    R_MERCHANT,
    R_MAIN,
    R_SUBWAL,
    R_SAVER,
    R_NROLES
};

typedef struct eacct {
    uint8_t a[20];
    uint8_t role;
    uint32_t owner; /* user: user no.; deposit: its user's account; thief: scenario; pool: index */
    uint32_t dep;   /* user: its deposit account at the exchange, or E_NONE */
    uint32_t btc;   /* user: a Bitcoin entity that receives its swaps */
    uint32_t svc;   /* --evm-services: a service's index; a user's deposit there (E_NONE) */
    u128 eth, usdt, eth0;
    uint64_t nonce;
} eacct;

typedef struct etx {
    uint8_t hash[32];
    uint32_t from, to, created; /* to E_NONE: a creation of account created */
    u128 value;
    uint64_t nonce, gas, used, tip, cum;
    uint32_t in_off, in_len;
    uint32_t first_tr, n_tr, first_log, n_log;
    uint8_t ok;
} etx;

typedef struct etr { /* an internal call (child of the tx's top-level call) */
    uint32_t from, to;
    u128 value;
} etr;

typedef struct elog {
    uint32_t addr, d_off, d_len;
    uint8_t nt;
    uint8_t topics[4][32];
} elog;

/* A mixer note: deposit, then (maybe) its withdrawal. */
typedef struct enote {
    uint32_t pool, depositor, recipient, relayer, scen;
    uint8_t commitment[32], nullifier[32], dep_tx[32], wd_tx[32];
    uint64_t dep_block, wd_block, dep_log, wd_log;
    u128 fee;
    uint32_t leaf;
    uint8_t done, self;
} enote;

enum { L_SWAP, L_BRIDGE, L_REFUND };
/* A leg: an inbound router or bridge deposit and what it caused on the other side. */
typedef struct eleg {
    uint8_t kind, with_id, asset, state; /* asset 0 ETH 1 USDT; state 0 pending 1 done */
    uint8_t limit_memo;
    uint32_t scen, sender, btc_addr, btc_dest, due_time, out_height, out_vout;
    uint64_t in_block, in_log, nonce, due_block, out_block, out_log;
    uint32_t in_time, out_time;
    uint8_t in_tx[32], out_tx[32];
    u128 in_amount, out_amount; /* out_amount: sat for Bitcoin legs, wei for refunds */
    int64_t limit;
    char memo[192];
} eleg;

enum { J_THEFT, J_SPLIT, J_MIX, J_NOTE, J_OUT, J_TOUT, J_RETRY, J_UNOTE };
typedef struct ejob {
    uint64_t due;
    uint32_t acct, scen, aux;
    uint8_t kind, dead, flags;
} ejob;

typedef struct estep {
    uint8_t hash[32];
    uint64_t block, log;
    uint32_t from, to;
    u128 amount;
    uint8_t kind, asset;
} estep;
enum {
    S_THEFT,
    S_SPLIT,
    S_GAS,
    S_MIX_DEP,
    S_MIX_WD,
    S_SWAP,
    S_REFUND,
    S_BRIDGE,
    S_APPROVE,
    S_BTC_SWAP_OUT,
    S_BTC_BRIDGE_OUT,
    S_NSTEPS
};

typedef struct escen {
    uint32_t hot_src, thief0, gas, btc_scen, btc_thief, victim_ent;
    int bridge; /* a bridge theft (Ronin 2022) rather than an exchange's (Bybit 2025) */
    uint64_t start;
    u128 stolen_eth, stolen_usdt;
    estep *steps;
    uint32_t n_steps, cap_steps;
    uint32_t *accts;
    uint32_t n_accts, cap_accts;
} escen;

#define VEC(T, name)                                                                               \
    T *name;                                                                                       \
    uint32_t n_##name, cap_##name

typedef struct gen_evm {
    gen_rng rng;
    uint32_t t0;
    uint64_t number, est_blocks, unit;
    uint8_t parent[32];
    uint64_t base_fee, log_index;
    uint32_t builder;
    VEC(eacct, acct);
    uint32_t deployer, token, pools[3], bridge, router, vault, relayer, hot, builders[4];
    uint32_t user0, n_users;
    VEC(etx, tx);
    VEC(etr, tr);
    VEC(elog, log);
    uint8_t *buf;
    uint32_t buf_len, buf_cap;
    VEC(enote, note);
    VEC(eleg, leg);
    VEC(ejob, job);
    VEC(uint32_t, dirty); /* deposit accounts waiting for a sweep */
    escen *scen;
    uint32_t n_scen;
    /* --evm-services (gen_evm_svc.c): its own random stream, so that without it the chain is
     * the same byte for byte */
    gen_rng rng2;
    uint32_t svc0, n_svc, dex, distrib, employer, collector, merchant, shop, saver0, n_saver;
    uint32_t bot0, n_bot, sybil0, n_sybil, payee0, n_payee, main0, n_main, sub0, n_sub;
    VEC(ejob, fwd); /* pending forwards: acct -> aux at due */
    uint64_t bridge_nonce, leaf[3];
    uint64_t n_txs, n_failed, n_logs, n_xfers, n_traces;
    uint8_t sel_transfer[4], sel_approve[4], sel_deposit[4], sel_withdraw[4], sel_swap[4],
        sel_out[4], sel_bdep[4], sel_btok[4], sel_release[4];
    uint8_t t_transfer[32], t_approval[32], t_mdep[32], t_mwd[32], t_bdep[32], t_rdep[32],
        t_out[32];
    FILE *f[7];
    char dir[4200];
    int bad;
} gen_evm;

enum { F_BLOCKS, F_TXS, F_RECEIPTS, F_LOGS, F_XFERS, F_TRACES, F_TOKENS, F_N };

/* ---- helpers shared by the parts ---- */

static inline void u128_dec(char out[48], u128 v)
{
    char t[48];
    int n = 0;
    do
        t[n++] = (char)('0' + (int)(v % 10));
    while (v /= 10);
    for (int i = 0; i < n; i++)
        out[i] = t[n - 1 - i];
    out[n] = 0;
}

static inline void hex(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    out[0] = '0', out[1] = 'x';
    for (size_t i = 0; i < n; i++)
        out[2 + 2 * i] = d[p[i] >> 4], out[3 + 2 * i] = d[p[i] & 15];
    out[2 + 2 * n] = 0;
}

static inline uint64_t max_fee(const gen_evm *e, uint64_t tip)
{
    return 2 * e->base_fee + tip;
}

static inline void btc_addr_string(const gen *g, uint32_t addr, char out[128])
{
    btc_addr b;
    gen_addr_to_btc(g, addr, &b);
    btc_addr_encode(out, &b);
}

/* ---- small helpers (gen_evm.c, gen_evm_jobs.c) ---- */

static inline int grow(gen *g, void **p, uint32_t *cap, uint32_t need, size_t size)
{
    int rc = util_grow_u32(p, cap, need, size, 64, UINT32_MAX);
    if (rc) g->oom = 1;
    return rc;
}
#define PUSH(g, e, name)                                                                           \
    (grow((g), (void **)&(e)->name, &(e)->cap_##name, (e)->n_##name + 1, sizeof *(e)->name))

static inline u128 eth_frac(double x) /* x ETH in wei, for amounts picked by chance */
{
    return x <= 0 ? 0 : (u128)(x * 1e9) * (u128)E_GWEI;
}

static inline double to_eth(u128 w)
{
    return (double)(w / E_GWEI) / 1e9;
}

static inline void word_u(uint8_t w[32], u128 v)
{
    memset(w, 0, 32);
    for (int i = 31; i >= 16; i--, v >>= 8)
        w[i] = (uint8_t)v;
}

static inline void word_a(uint8_t w[32], const uint8_t a[20])
{
    memset(w, 0, 12);
    memcpy(w + 12, a, 20);
}

/* gen_evm.c: the block being built, its accounts and txs. */
/* Append to the block's byte scratch; returns the offset. */
uint32_t gen_evm_put(gen *g, gen_evm *e, const void *p, size_t n);
/* ABI-encode (sel or none) + words, the word at spos being a string's offset (spos < 0: no
 * string), into the scratch; *len gets the length. */
uint32_t gen_evm_abi(gen *g, gen_evm *e, const uint8_t *sel, uint8_t (*w)[32], int nw, int spos,
                     const char *s, uint32_t *len);
/* A new account (role R_*, owner an entity or scenario); 0 on out of memory. */
uint32_t gen_evm_acct_new(gen *g, gen_evm *e, int role, uint32_t owner);
/* A priority fee in wei per gas, higher when eager. */
uint64_t gen_evm_draw_tip(gen_evm *e, int eager);
/* Can from send value with gas_limit at the current prices (the node's admission rule)? */
int gen_evm_afford(const gen_evm *e, uint32_t from, u128 value, uint64_t gas, uint64_t tip);
/* Begin a tx: the sender pays used * (base fee + tip); with ok the value moves too. The caller
 * checked afford(). Returns the tx index (E_NONE on out of memory). */
uint32_t gen_evm_tx_new(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 value, uint64_t gas,
                        uint64_t used, uint64_t tip, int ok);
/* Tx ti's input data: len bytes at off in the scratch. */
void gen_evm_tx_input(gen_evm *e, uint32_t ti, uint32_t off, uint32_t len);
/* An internal value transfer in tx ti (a child call of its top-level call). */
void gen_evm_tx_internal(gen *g, gen_evm *e, uint32_t ti, uint32_t from, uint32_t to, u128 v);
/* A log of tx ti by contract addr with nt topics (the caller fills them) and data at d_off. */
elog *gen_evm_tx_log(gen *g, gen_evm *e, uint32_t ti, uint32_t addr, int nt, uint32_t d_off,
                     uint32_t d_len);
/* The log index a log about to be added to the block gets. */
uint64_t gen_evm_next_log_index(const gen_evm *e);
/* A USDT Transfer event in tx ti, moving the balance (from E_NONE: a mint). */
void gen_evm_tok_transfer(gen *g, gen_evm *e, uint32_t ti, uint32_t from, uint32_t to, u128 v);
/* Gas used, drawn in lo..hi. */
uint64_t gen_evm_gas_used(gen_evm *e, uint64_t lo, uint64_t hi);
/* Plain ETH payment; E_NONE if from cannot afford it. */
uint32_t gen_evm_pay_eth(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 v, int eager);
/* Everything from an EOA to to, less the most the gas may cost. */
uint32_t gen_evm_sweep_eth(gen *g, gen_evm *e, uint32_t from, uint32_t to, int eager, u128 *sent);
/* A USDT transfer (fails in the chain if from holds less); E_NONE if from cannot pay gas. */
uint32_t gen_evm_pay_usdt(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 v, int eager);

/* gen_evm_jobs.c: scenarios, protocols and cross-chain legs. */
/* A new account of scenario scen's thief, recorded with the scenario. */
uint32_t gen_evm_thief_acct(gen *g, gen_evm *e, uint32_t scen);
/* Queue a job (J_*) for acct in scenario scen, due at block due. */
void gen_evm_job(gen *g, gen_evm *e, int kind, uint32_t acct, uint32_t scen, uint32_t aux,
                 uint64_t due);
/* A block number lo..hi time units from now (at least the next block). */
uint64_t gen_evm_later(gen_evm *e, double lo, double hi);
/* Deposit denomination pool p from acct; returns the note or E_NONE. */
uint32_t gen_evm_mixer_deposit(gen *g, gen_evm *e, uint32_t acct, int p, uint32_t scen);
/* Withdraw note ni to recipient, by the relayer (fee) or by caller paying its own gas. */
int gen_evm_mixer_withdraw(gen *g, gen_evm *e, uint32_t ni, uint32_t recipient, uint32_t caller);
/* A router swap of v wei from acct to Bitcoin; refund: a limit it cannot meet. */
int gen_evm_router_swap(gen *g, gen_evm *e, uint32_t acct, u128 v, uint32_t scen, int refund,
                        uint64_t tip);
/* A bridge deposit of v (ETH, or USDT units with asset 1) from acct to Bitcoin. */
int gen_evm_bridge_deposit(gen *g, gen_evm *e, uint32_t acct, u128 v, int asset, uint32_t scen,
                           uint64_t tip);
/* The vault refunds leg li through the router (THORChain's TransferOut). */
int gen_evm_refund_out(gen *g, gen_evm *e, uint32_t li);
/* Run the jobs due at the block being built. */
void gen_evm_run_jobs(gen *g, gen_evm *e);
/* Pay leg li's outbound Bitcoin tx in the block being built: 1 paid, 0 not yet, -1 error. */
int gen_evm_btc_leg(gen *g, gen_evm *e, uint32_t li);

/* gen_evm_svc.c: the accounts of --evm-services (at init, after the users), their genesis ETH,
 * and one block's activity. */
void gen_evm_svc_accounts(gen *g, gen_evm *e);
void gen_evm_svc_block(gen *g, gen_evm *e);

/* gen_evm_out.c: creates out_dir/evm/ and its CSV files with their header rows. */
int gen_evm_open_files(gen *g, gen_evm *e);
/* gen_evm_out.c: writes the block being built (number e->number) to the CSV files. */
int gen_evm_write_block(gen *g, gen_evm *e);

#endif
