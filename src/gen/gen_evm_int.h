/* gen_evm_int.h: what the EVM side's files share and nothing else sees: the model (accounts,
 * txs, logs, mixer notes, cross-chain legs, jobs, scenarios) in struct gen_evm, and the few
 * helpers every part uses. gen_evm.c simulates, gen_evm_out.c writes the ethereum-etl CSVs,
 * gen_evm_truth.c the truth and labels. */
#ifndef CT_GEN_EVM_INT_H
#define CT_GEN_EVM_INT_H

#include "../evm/evm.h"
#include "gen_int.h"

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
    R_NROLES
};

typedef struct eacct {
    uint8_t a[20];
    uint8_t role;
    uint32_t owner; /* user: user no.; deposit: its user's account; thief: scenario; pool: index */
    uint32_t dep;   /* user: its deposit account at the exchange, or E_NONE */
    uint32_t btc;   /* user: a Bitcoin entity that receives its swaps */
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

/* gen_evm_out.c: creates out_dir/evm/ and its CSV files with their header rows. */
int gen_evm_open_files(gen *g, gen_evm *e);
/* gen_evm_out.c: writes the block being built (number e->number) to the CSV files. */
int gen_evm_write_block(gen *g, gen_evm *e);

#endif
