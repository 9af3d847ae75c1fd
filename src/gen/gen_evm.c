/* gen_evm: the EVM side of the generator (--evm). An Ethereum-like chain of 12-second blocks
 * whose times follow the Bitcoin chain's, written as ethereum-etl CSVs into out_dir/evm/:
 * users, an exchange (hot wallet and per-user deposit addresses swept to it), a USDT-like token
 * (6 decimals), Tornado-like mixer pools, a lock-side bridge and a THORChain-style router, with
 * EIP-1559 gas fees paid exactly from an account model (balances in 128 bits, never negative).
 * Swaps and bridge deposits to Bitcoin get their outbound legs in the Bitcoin chain, paid by a
 * THORChain vault entity and the bridge's custody; EVM thefts (Bybit 2025 / Ronin 2022 shaped)
 * split, mix, swap and bridge, and what lands in Bitcoin continues as a Bitcoin scenario.
 * This file is the simulation; gen_evm_out.c writes each block as ethereum-etl CSVs and
 * gen_evm_truth.c the truth and labels. Conventions and the truth format are in
 * docs/generator.md ("The EVM side"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "gen_evm_int.h"

/* ---- small helpers ---- */

static void sig(uint8_t out[32], const char *s)
{
    crypto_keccak256(s, strlen(s), out);
}

/* Append to the block's byte scratch; returns the offset. */
uint32_t gen_evm_put(gen *g, gen_evm *e, const void *p, size_t n)
{
    if (grow(g, (void **)&e->buf, &e->buf_cap, e->buf_len + (uint32_t)n + 1, 1)) return 0;
    uint32_t off = e->buf_len;
    memcpy(e->buf + off, p, n);
    e->buf_len += (uint32_t)n;
    return off;
}

/* ABI-encode (sel or none) + words, the word at spos being a string's offset (spos < 0: no
 * string), into the scratch; *len gets the length. */
uint32_t gen_evm_abi(gen *g, gen_evm *e, const uint8_t *sel, uint8_t (*w)[32], int nw, int spos,
                     const char *s, uint32_t *len)
{
    uint32_t off = e->buf_len;
    if (sel) gen_evm_put(g, e, sel, 4);
    for (int i = 0; i < nw; i++) {
        uint8_t x[32];
        if (i == spos)
            word_u(x, (u128)(32 * nw));
        else
            memcpy(x, w[i], 32);
        gen_evm_put(g, e, x, 32);
    }
    if (spos >= 0) {
        size_t n = strlen(s);
        uint8_t x[32];
        word_u(x, n);
        gen_evm_put(g, e, x, 32);
        gen_evm_put(g, e, s, n);
        memset(x, 0, 32);
        if (n % 32) gen_evm_put(g, e, x, 32 - n % 32);
    }
    *len = e->buf_len - off;
    return off;
}

/* ---- accounts ---- */

uint32_t gen_evm_acct_new(gen *g, gen_evm *e, int role, uint32_t owner)
{
    if (PUSH(g, e, acct)) return 0;
    uint32_t id = e->n_acct++;
    eacct *a = &e->acct[id];
    memset(a, 0, sizeof *a);
    /* Not derived from a key (there are no signatures): a hash of (seed, id). */
    uint8_t in[36], h[32];
    memcpy(in, "cointrail-gen-evm-acct--", 24);
    util_put_le64(in + 24, g->cfg.seed);
    util_put_le32(in + 32, id);
    crypto_keccak256(in, sizeof in, h);
    memcpy(a->a, h + 12, 20);
    a->role = (uint8_t)role;
    a->owner = owner;
    a->dep = E_NONE;
    a->btc = GEN_NONE;
    a->svc = E_NONE;
    return id;
}

/* A contract created by deployer at its current nonce: keccak(rlp([sender, nonce]))[12:]. */
static uint32_t contract_new(gen *g, gen_evm *e, uint32_t deployer, int role, uint32_t owner)
{
    uint32_t id = gen_evm_acct_new(g, e, role, owner);
    if (g->oom) return 0;
    uint8_t r[32];
    size_t n = 0;
    uint64_t nonce = e->acct[deployer].nonce;
    uint8_t nb[9];
    size_t nn = 0;
    if (nonce == 0)
        nb[nn++] = 0x80;
    else if (nonce < 0x80)
        nb[nn++] = (uint8_t)nonce;
    else {
        uint8_t t[8];
        size_t k = 0;
        for (uint64_t v = nonce; v; v >>= 8)
            t[k++] = (uint8_t)v;
        nb[nn++] = (uint8_t)(0x80 + k);
        while (k)
            nb[nn++] = t[--k];
    }
    r[n++] = (uint8_t)(0xc0 + 21 + nn);
    r[n++] = 0x94;
    memcpy(r + n, e->acct[deployer].a, 20);
    n += 20;
    memcpy(r + n, nb, nn);
    n += nn;
    uint8_t h[32];
    crypto_keccak256(r, n, h);
    memcpy(e->acct[id].a, h + 12, 20);
    return id;
}

/* ---- transactions of the block being built ---- */

uint64_t gen_evm_draw_tip(gen_evm *e, int eager)
{
    double t = gen_logunif(&e->rng, 0.05, eager ? 8.0 : 3.0);
    return (uint64_t)(t * 1e9);
}

/* Can from send value with gas_limit at the current prices (the node's admission rule)? */
int gen_evm_afford(const gen_evm *e, uint32_t from, u128 value, uint64_t gas, uint64_t tip)
{
    return e->acct[from].eth >= value + (u128)gas * max_fee(e, tip);
}

/* Begin a tx: the sender pays used * (base fee + tip); with ok the value moves too. The caller
 * checked gen_evm_afford(). Returns the tx index (E_NONE on out of memory). */
uint32_t gen_evm_tx_new(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 value, uint64_t gas,
                        uint64_t used, uint64_t tip, int ok)
{
    if (PUSH(g, e, tx)) return E_NONE;
    uint32_t i = e->n_tx++;
    etx *t = &e->tx[i];
    memset(t, 0, sizeof *t);
    t->from = from, t->to = to, t->created = E_NONE, t->value = value;
    t->gas = gas, t->used = used, t->tip = tip, t->ok = (uint8_t)ok;
    t->nonce = e->acct[from].nonce++;
    t->cum = (i ? e->tx[i - 1].cum : 0) + used;
    t->first_tr = e->n_tr, t->first_log = e->n_log;
    uint8_t in[80];
    util_put_le64(in, g->cfg.seed);
    util_put_le64(in + 8, e->number);
    util_put_le32(in + 16, i);
    memcpy(in + 20, e->acct[from].a, 20);
    util_put_le64(in + 40, t->nonce);
    memcpy(in + 48, "cointrail-gen-evm-tx-hash-------", 32);
    crypto_keccak256(in, sizeof in, t->hash);
    u128 fee = (u128)used * (e->base_fee + tip);
    eacct *f = &e->acct[from];
    if (f->eth < fee + (ok ? value : 0)) {
        e->bad = 1; /* a generator bug: callers check gen_evm_afford() */
        return i;
    }
    f->eth -= fee;
    if (ok && to != E_NONE) {
        f->eth -= value;
        e->acct[to].eth += value;
    }
    e->n_txs++;
    if (!ok) e->n_failed++;
    return i;
}

void gen_evm_tx_input(gen_evm *e, uint32_t ti, uint32_t off, uint32_t len)
{
    e->tx[ti].in_off = off, e->tx[ti].in_len = len;
}

/* An internal value transfer in tx ti (a child call of its top-level call). */
void gen_evm_tx_internal(gen *g, gen_evm *e, uint32_t ti, uint32_t from, uint32_t to, u128 v)
{
    if (PUSH(g, e, tr)) return;
    if (e->acct[from].eth < v) e->bad = 1;
    e->acct[from].eth -= v;
    e->acct[to].eth += v;
    e->tr[e->n_tr++] = (etr){from, to, v};
    e->tx[ti].n_tr++;
}

elog *gen_evm_tx_log(gen *g, gen_evm *e, uint32_t ti, uint32_t addr, int nt, uint32_t d_off,
                     uint32_t d_len)
{
    if (PUSH(g, e, log)) return NULL;
    elog *l = &e->log[e->n_log++];
    memset(l, 0, sizeof *l);
    l->addr = addr, l->nt = (uint8_t)nt, l->d_off = d_off, l->d_len = d_len;
    e->tx[ti].n_log++;
    return l;
}

/* The log index a log about to be added to the block gets. */
uint64_t gen_evm_next_log_index(const gen_evm *e)
{
    return e->log_index + e->n_log;
}

/* A USDT Transfer event in tx ti, moving the balance (from E_NONE: a mint). */
void gen_evm_tok_transfer(gen *g, gen_evm *e, uint32_t ti, uint32_t from, uint32_t to, u128 v)
{
    uint8_t w[32];
    word_u(w, v);
    uint32_t off = gen_evm_put(g, e, w, 32);
    elog *l = gen_evm_tx_log(g, e, ti, e->token, 3, off, 32);
    if (!l) return;
    memcpy(l->topics[0], e->t_transfer, 32);
    uint8_t zero[20] = {0};
    word_a(l->topics[1], from == E_NONE ? zero : e->acct[from].a);
    word_a(l->topics[2], e->acct[to].a);
    if (from != E_NONE) {
        if (e->acct[from].usdt < v) e->bad = 1;
        e->acct[from].usdt -= v;
    }
    e->acct[to].usdt += v;
}

uint64_t gen_evm_gas_used(gen_evm *e, uint64_t lo, uint64_t hi)
{
    return lo + gen_below(&e->rng, (uint32_t)(hi - lo + 1));
}

/* Plain ETH payment; E_NONE if from cannot afford it. */
uint32_t gen_evm_pay_eth(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 v, int eager)
{
    uint64_t tip = gen_evm_draw_tip(e, eager);
    if (!v || !gen_evm_afford(e, from, v, 21000, tip)) return E_NONE;
    return gen_evm_tx_new(g, e, from, to, v, 21000, 21000, tip, 1);
}

/* Everything from an EOA to to, less the most the gas may cost. */
uint32_t gen_evm_sweep_eth(gen *g, gen_evm *e, uint32_t from, uint32_t to, int eager, u128 *sent)
{
    uint64_t tip = gen_evm_draw_tip(e, eager);
    u128 reserve = (u128)21000 * max_fee(e, tip);
    if (e->acct[from].eth <= reserve + E_ETH / 1000) return E_NONE;
    u128 v = e->acct[from].eth - reserve;
    if (sent) *sent = v;
    return gen_evm_tx_new(g, e, from, to, v, 21000, 21000, tip, 1);
}

uint32_t gen_evm_pay_usdt(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 v, int eager)
{
    uint64_t tip = gen_evm_draw_tip(e, eager);
    if (!gen_evm_afford(e, from, 0, 65000, tip)) return E_NONE;
    int ok = e->acct[from].usdt >= v && v > 0;
    uint32_t ti = gen_evm_tx_new(
        g, e, from, e->token, 0, 65000,
        ok ? gen_evm_gas_used(e, 34000, 52000) : gen_evm_gas_used(e, 22500, 24500), tip, ok);
    if (ti == E_NONE) return ti;
    uint8_t w[2][32];
    word_a(w[0], e->acct[to].a);
    word_u(w[1], v);
    uint32_t len, off = gen_evm_abi(g, e, e->sel_transfer, w, 2, -1, NULL, &len);
    gen_evm_tx_input(e, ti, off, len);
    if (ok) gen_evm_tok_transfer(g, e, ti, from, to, v);
    return ti;
}

/* ---- background activity ---- */

static uint32_t rand_user(gen_evm *e)
{
    return e->user0 + gen_below(&e->rng, e->n_users);
}

static uint32_t user_dep(gen *g, gen_evm *e, uint32_t u)
{
    if (e->acct[u].dep == E_NONE) {
        uint32_t d = gen_evm_acct_new(g, e, R_EXDEP, u);
        if (g->oom) return E_NONE;
        e->acct[u].dep = d;
    }
    return e->acct[u].dep;
}

static void mark_dirty(gen *g, gen_evm *e, uint32_t d)
{
    for (uint32_t i = 0; i < e->n_dirty; i++)
        if (e->dirty[i] == d) return;
    if (PUSH(g, e, dirty)) return;
    e->dirty[e->n_dirty++] = d;
}

static void background(gen *g, gen_evm *e)
{
    gen_rng *r = &e->rng;
    double x = gen_unif(r);
    uint32_t u = rand_user(e), v = rand_user(e);
    eacct *a = &e->acct[u];
    if (x < 0.40) { /* a payment to another user */
        if (u == v || a->eth < E_ETH / 100) return;
        u128 amt =
            (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.01, 0.5) * 1e6) * (E_ETH / 1000000u);
        gen_evm_pay_eth(g, e, u, v, amt, 0);
    } else if (x < 0.55) {
        if (u == v || !a->usdt) return;
        u128 amt = (u128)((double)(a->usdt / 10000u) * gen_logunif(r, 0.02, 0.8)) * 10000u;
        gen_evm_pay_usdt(g, e, u, v, amt, 0);
    } else if (x < 0.68) { /* a deposit at the exchange */
        uint32_t d = user_dep(g, e, u);
        if (d == E_NONE) return;
        a = &e->acct[u]; /* the table may have moved */
        uint32_t ti;
        if (a->usdt && gen_chance(r, 0.4))
            ti = gen_evm_pay_usdt(g, e, u, d, a->usdt, 0);
        else
            ti = gen_evm_pay_eth(g, e, u, d,
                                 (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.1, 0.9) * 1e4) *
                                     (E_ETH / 10000u),
                                 0);
        if (ti != E_NONE) mark_dirty(g, e, d);
    } else if (x < 0.85) { /* a withdrawal from the exchange */
        if (gen_chance(r, 0.4)) {
            /* Sizes shrink with what the hot wallet holds, so deposits keep it going. */
            u128 amt = (u128)(gen_logunif(r, 20, 50000)) * 1000000u,
                 cap = e->acct[e->hot].usdt / 300;
            gen_evm_pay_usdt(g, e, e->hot, u, amt < cap ? amt : cap, 0);
        } else {
            u128 amt = eth_frac(gen_logunif(r, 0.02, 20)), cap = e->acct[e->hot].eth / 300;
            gen_evm_pay_eth(g, e, e->hot, u, amt < cap ? amt : cap, 0);
        }
    } else if (x < 0.86) { /* a token transfer that reverts (balance too low) */
        if (u != v) gen_evm_pay_usdt(g, e, u, v, a->usdt + 1000000u * gen_range(r, 1, 500), 0);
    } else if (x < 0.87) { /* privacy: a mixer deposit, withdrawn later to a fresh address */
        int p = a->eth > 11 * E_ETH ? 1 : a->eth > E_ETH + E_ETH / 5 ? 0 : -1;
        if (p < 0) return;
        uint32_t ni = gen_evm_mixer_deposit(g, e, u, p, E_NONE);
        if (ni != E_NONE) gen_evm_job(g, e, J_UNOTE, u, E_NONE, ni, gen_evm_later(e, 1, 20));
    } else if (x < 0.88) { /* a swap to Bitcoin */
        if (a->eth < E_ETH / 10) return;
        u128 amt =
            (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.1, 0.6) * 1e4) * (E_ETH / 10000u);
        uint64_t tip = gen_evm_draw_tip(e, 0);
        if (gen_evm_afford(e, u, amt, 120000, tip))
            gen_evm_router_swap(g, e, u, amt, E_NONE, gen_chance(r, 0.1), tip);
    } else if (x < 0.885) { /* a bridge deposit to Bitcoin */
        if (a->eth < E_ETH / 10) return;
        u128 amt =
            (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.1, 0.6) * 1e4) * (E_ETH / 10000u);
        uint64_t tip = gen_evm_draw_tip(e, 0);
        if (gen_evm_afford(e, u, amt, 120000, tip))
            gen_evm_bridge_deposit(g, e, u, amt, 0, E_NONE, tip);
    } else { /* a payment to another user */
        if (u == v || a->eth < E_ETH / 100) return;
        gen_evm_pay_eth(g, e, u, v, eth_frac(gen_logunif(r, 0.001, 0.05)), 0);
    }
}

/* Background notes: the user withdraws to a fresh address of its own through the relayer. */
static void user_notes(gen *g, gen_evm *e)
{
    for (uint32_t i = 0; i < e->n_job && !g->oom; i++) {
        ejob *j = &e->job[i];
        if (j->kind != J_UNOTE || j->dead || j->due > e->number) continue;
        uint32_t owner = e->acct[j->acct].owner, ni = j->aux;
        uint32_t fresh = gen_evm_acct_new(g, e, R_USER, owner);
        if (g->oom) return;
        j = &e->job[i];
        if (gen_evm_mixer_withdraw(g, e, ni, fresh, e->relayer)) j->dead = 1;
    }
}

/* Sweep deposit accounts (a few per block): tokens first (the hot wallet sends gas if needed),
 * then the ETH. */
static void sweeps(gen *g, gen_evm *e)
{
    uint32_t n = e->n_dirty < 3 ? e->n_dirty : 3, k = 0;
    if (!n) return;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t d = e->dirty[i];
        eacct *a = &e->acct[d];
        int keep = 0;
        if (a->usdt) {
            uint64_t tip = gen_evm_draw_tip(e, 0);
            if (!gen_evm_afford(e, d, 0, 65000, tip)) {
                gen_evm_pay_eth(g, e, e->hot, d, E_ETH / 200, 0);
                keep = 1;
            } else {
                gen_evm_pay_usdt(g, e, d, e->hot, a->usdt, 0);
                keep = e->acct[d].eth > E_ETH / 100;
            }
        } else if (a->eth > E_ETH / 100) {
            gen_evm_sweep_eth(g, e, d, e->hot, 0, NULL);
        }
        if (keep) e->dirty[k++] = d;
    }
    memmove(e->dirty + k, e->dirty + n, (size_t)(e->n_dirty - n) * sizeof *e->dirty);
    e->n_dirty -= n - k;
}

/* ---- setup ---- */

static void deploy(gen *g, gen_evm *e, uint32_t c, const char *code)
{
    uint64_t tip = gen_evm_draw_tip(e, 0);
    uint32_t ti = gen_evm_tx_new(g, e, e->deployer, E_NONE, 0, 3000000,
                                 gen_evm_gas_used(e, 600000, 1900000), tip, 1);
    if (ti == E_NONE) return;
    e->tx[ti].created = c;
    uint32_t off = gen_evm_put(g, e, code, strlen(code));
    gen_evm_tx_input(e, ti, off, (uint32_t)strlen(code));
}

/* Block 1: the deployer creates the token (minting the supply to itself), the pools, the
 * bridge and the router, and funds the exchange's hot wallet with tokens. */
static void block_one(gen *g, gen_evm *e)
{
    static const char code[] = "\x60\x80\x60\x40\x52\x34\x80\x15\x61\x00\x10\x57\x60\x00\x80\xfd";
    uint32_t *slots[6] = {&e->token,    &e->pools[0], &e->pools[1],
                          &e->pools[2], &e->bridge,   &e->router};
    for (int i = 0; i < 6; i++) {
        deploy(g, e, *slots[i], code);
        if (i == 0) gen_evm_tok_transfer(g, e, e->n_tx - 1, E_NONE, e->deployer, E_USDT_SUPPLY);
    }
    gen_evm_pay_usdt(g, e, e->deployer, e->hot, E_USDT_SUPPLY / 200, 0);    /* 5M USDT */
    gen_evm_pay_usdt(g, e, e->deployer, e->bridge, E_USDT_SUPPLY / 500, 0); /* 2M locked */
}

int gen_evm_init(gen *g)
{
    gen_evm *e = calloc(1, sizeof *e);
    if (!e) return g->oom = 1, util_errf(g->err, UTIL_ENOMEM, "out of memory (EVM side)");
    g->evm = e;
    gen_rng_seed(&e->rng, g->cfg.seed ^ 0x65766d2d73696465ULL);
    e->t0 = g->time;
    e->base_fee = 15 * E_GWEI;
    e->est_blocks = (uint64_t)(g->cfg.blocks > 1 ? g->cfg.blocks - 1 : 1) * 600 / E_BLOCK_TIME;
    e->unit = e->est_blocks / 500 ? e->est_blocks / 500 : 1;
    int rc = gen_evm_open_files(g, e);
    if (rc) return rc;
    sig(e->t_transfer, "Transfer(address,address,uint256)");
    sig(e->t_approval, "Approval(address,address,uint256)");
    sig(e->t_mdep, "Deposit(bytes32,uint32,uint256)");
    sig(e->t_mwd, "Withdrawal(address,bytes32,address,uint256)");
    sig(e->t_bdep, "Deposit(uint256,string,uint256,address,uint256)");
    sig(e->t_rdep, "Deposit(address,address,uint256,string)");
    sig(e->t_out, "TransferOut(address,address,address,uint256,string)");
    uint8_t h[32];
    static const char *const sels[9] = {"transfer(address,uint256)",
                                        "approve(address,uint256)",
                                        "deposit(bytes32)",
                                        "withdraw(bytes32,address,address,uint256)",
                                        "swapOut(string)",
                                        "transferOut(address,address,uint256,string)",
                                        "deposit(uint256,string)",
                                        "depositToken(address,uint256,uint256,string)",
                                        "release(address,address,uint256)"};
    uint8_t *dst[9] = {e->sel_transfer, e->sel_approve, e->sel_deposit,
                       e->sel_withdraw, e->sel_swap,    e->sel_out,
                       e->sel_bdep,     e->sel_btok,    e->sel_release};
    for (int i = 0; i < 9; i++) {
        sig(h, sels[i]);
        memcpy(dst[i], h, 4);
    }
    /* Accounts: the services, then the users (a quarter of the Bitcoin users, 50..20000). */
    e->deployer = gen_evm_acct_new(g, e, R_DEPLOYER, 0);
    e->hot = gen_evm_acct_new(g, e, R_EXHOT, 0);
    e->vault = gen_evm_acct_new(g, e, R_VAULT, 0);
    e->relayer = gen_evm_acct_new(g, e, R_RELAYER, 0);
    for (int i = 0; i < 4; i++)
        e->builders[i] = gen_evm_acct_new(g, e, R_BUILDER, (uint32_t)i);
    /* Contracts at the deployer's nonces 0..5 (their creation order in block 1). */
    uint32_t *slots[6] = {&e->token,    &e->pools[0], &e->pools[1],
                          &e->pools[2], &e->bridge,   &e->router};
    static const int roles[6] = {R_TOKEN, R_MIXER, R_MIXER, R_MIXER, R_BRIDGE, R_ROUTER};
    for (int i = 0; i < 6; i++) {
        *slots[i] =
            contract_new(g, e, e->deployer, roles[i], (uint32_t)(i >= 1 && i <= 3 ? i - 1 : 0));
        e->acct[e->deployer].nonce++;
    }
    e->acct[e->deployer].nonce = 0;
    e->n_users = g->cfg.users / 4;
    if (e->n_users < 50) e->n_users = 50;
    if (e->n_users > 20000) e->n_users = 20000;
    e->user0 = e->n_acct;
    for (uint32_t i = 0; i < e->n_users; i++)
        gen_evm_acct_new(g, e, R_USER, i);
    if (g->cfg.evm_services) gen_evm_svc_accounts(g, e);
    /* Scenarios alternate: an exchange's hot wallet (Bybit 2025), a bridge (Ronin 2022), whose
     * attacker starts with a little ETH of its own for gas. */
    e->n_scen = g->cfg.evm_scenarios;
    if (e->n_scen) {
        e->scen = calloc(e->n_scen, sizeof *e->scen);
        if (!e->scen) return g->oom = 1, util_errf(g->err, UTIL_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < e->n_scen; i++) {
        escen *s = &e->scen[i];
        s->btc_scen = g->cfg.scenarios + i;
        s->btc_thief = g->e_thief + g->cfg.scenarios + i;
        s->bridge = i % 2 == 1;
        s->hot_src = s->bridge ? e->bridge : e->hot;
        s->victim_ent = s->bridge ? g->e_bridge : g->e_ex;
        s->thief0 = gen_evm_thief_acct(g, e, i);
    }
    if (g->oom) return util_errf(g->err, UTIL_ENOMEM, "out of memory (EVM accounts)");
    /* Genesis allocation (with the bridge's ETH locked before the chain's start). */
    e->acct[e->bridge].eth = 2000 * E_ETH;
    for (uint32_t i = 0; i < e->n_scen; i++)
        if (e->scen[i].bridge) e->acct[e->scen[i].thief0].eth = E_ETH;
    e->acct[e->deployer].eth = 100 * E_ETH;
    e->acct[e->hot].eth = 3000 * E_ETH;
    e->acct[e->vault].eth = 200 * E_ETH;
    e->acct[e->relayer].eth = 50 * E_ETH;
    for (uint32_t i = 0; i < e->n_users; i++)
        e->acct[e->user0 + i].eth = eth_frac(gen_logunif(&e->rng, 0.05, 60));
    uint32_t *ord = malloc((size_t)e->n_acct * sizeof *ord), n = 0;
    if (!ord) return g->oom = 1, util_errf(g->err, UTIL_ENOMEM, "out of memory (EVM genesis)");
    for (uint32_t i = 0; i < e->n_acct; i++) {
        e->acct[i].eth0 = e->acct[i].eth;
        if (e->acct[i].eth) ord[n++] = i;
    }
    /* By address, as ethereum-etl's genesis traces (an insertion sort: once, a few thousand). */
    for (uint32_t i = 1; i < n; i++) { /* insertion sort: a few thousand accounts once */
        uint32_t x = ord[i], j = i;
        while (j && memcmp(e->acct[ord[j - 1]].a, e->acct[x].a, 20) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = x;
    }
    for (uint32_t i = 0; i < n; i++) {
        char a[43], v[48];
        hex(a, e->acct[ord[i]].a, 20);
        u128_dec(v, e->acct[ord[i]].eth);
        fprintf(e->f[F_TRACES], "0,,,,%s,%s,,,genesis,,,,,,,,1,genesis_0_%u\n", a, v, i);
    }
    e->n_traces += n;
    free(ord);
    /* The thefts happen between 30% and 50% of the chain. */
    for (uint32_t i = 0; i < e->n_scen; i++) {
        escen *s = &e->scen[i];
        s->start = (uint64_t)((double)e->est_blocks * (0.3 + 0.2 * gen_unif(&e->rng)));
        if (s->start < 10) s->start = 10;
        gen_evm_job(g, e, J_THEFT, s->hot_src, i, 0, s->start);
    }
    return g->oom ? util_errf(g->err, UTIL_ENOMEM, "out of memory") : 0;
}

static int evm_one_block(gen *g, gen_evm *e)
{
    e->n_tx = e->n_tr = e->n_log = 0;
    e->buf_len = 0;
    e->log_index = 0; /* ethereum-etl's log_index counts within a block */
    if (e->number) {
        double m = 0.97 + 0.06 * gen_unif(&e->rng);
        e->base_fee = (uint64_t)((double)e->base_fee * m);
        if (e->base_fee < 2 * E_GWEI) e->base_fee = 2 * E_GWEI;
        if (e->base_fee > 150 * E_GWEI) e->base_fee = 150 * E_GWEI;
        e->builder = e->builders[gen_below(&e->rng, 4)];
        if (e->number == 1) block_one(g, e);
        gen_evm_run_jobs(g, e);
        user_notes(g, e);
        for (uint32_t i = 0; i < e->n_leg; i++)
            if (e->leg[i].kind == L_REFUND && !e->leg[i].state && e->leg[i].due_block <= e->number)
                gen_evm_refund_out(g, e, i);
        sweeps(g, e);
        /* Poisson number of background txs. */
        double lim = gen_exp(-g->cfg.evm_txs_per_block), p = gen_unif(&e->rng);
        uint32_t k = 0;
        while (p > lim && k < 1000) {
            p *= gen_unif(&e->rng);
            k++;
        }
        for (uint32_t i = 0; i < k && !g->oom; i++)
            background(g, e);
        if (g->cfg.evm_services) gen_evm_svc_block(g, e);
    } else
        e->builder = e->builders[0];
    if (g->oom) return util_errf(g->err, UTIL_ENOMEM, "out of memory (EVM block)");
    if (e->bad)
        return util_errf(g->err, UTIL_EINVAL,
                         "generator bug: EVM block %llu spends more than an account holds",
                         (unsigned long long)e->number);
    int rc = gen_evm_write_block(g, e);
    if (rc) return rc;
    e->number++;
    g->st.evm_blocks++;
    return 0;
}

int gen_evm_block(gen *g)
{
    gen_evm *e = g->evm;
    while (e->t0 + e->number * E_BLOCK_TIME <= g->time) {
        int rc = evm_one_block(g, e);
        if (rc) return rc;
    }
    if (!g->height) return 0;
    for (uint32_t i = 0; i < e->n_leg; i++) {
        eleg *L = &e->leg[i];
        if (L->state || L->kind == L_REFUND || L->due_time > g->time) continue;
        if (g->blk_weight + 200000 > GEN_MAX_WEIGHT) break;
        int rc = gen_evm_btc_leg(g, e, i);
        if (rc < 0) return g->oom ? UTIL_ENOMEM : UTIL_EINVAL;
    }
    return 0;
}

void gen_evm_free(gen *g)
{
    gen_evm *e = g->evm;
    if (!e) return;
    for (int k = 0; k < F_N; k++)
        if (e->f[k]) fclose(e->f[k]);
    for (uint32_t i = 0; i < e->n_scen; i++) {
        free(e->scen[i].steps);
        free(e->scen[i].accts);
    }
    free(e->scen);
    free(e->acct);
    free(e->tx);
    free(e->tr);
    free(e->log);
    free(e->buf);
    free(e->note);
    free(e->leg);
    free(e->job);
    free(e->dirty);
    free(e->fwd);
    free(e);
    g->evm = NULL;
}
