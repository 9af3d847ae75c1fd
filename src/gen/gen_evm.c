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
#include "../util/util_vec.h"

/* ---- small helpers ---- */

static int grow(gen *g, void **p, uint32_t *cap, uint32_t need, size_t size)
{
    int rc = util_grow_u32(p, cap, need, size, 64, UINT32_MAX);
    if (rc) g->oom = 1;
    return rc;
}
#define PUSH(g, e, name)                                                                           \
    (grow((g), (void **)&(e)->name, &(e)->cap_##name, (e)->n_##name + 1, sizeof *(e)->name))

static void sig(uint8_t out[32], const char *s)
{
    crypto_keccak256(s, strlen(s), out);
}

static u128 eth_frac(double x) /* x ETH in wei, for amounts picked by chance */
{
    return x <= 0 ? 0 : (u128)(x * 1e9) * (u128)E_GWEI;
}

static double to_eth(u128 w)
{
    return (double)(w / E_GWEI) / 1e9;
}

static void word_u(uint8_t w[32], u128 v)
{
    memset(w, 0, 32);
    for (int i = 31; i >= 16; i--, v >>= 8)
        w[i] = (uint8_t)v;
}

static void word_a(uint8_t w[32], const uint8_t a[20])
{
    memset(w, 0, 12);
    memcpy(w + 12, a, 20);
}

/* Append to the block's byte scratch; returns the offset. */
static uint32_t put(gen *g, gen_evm *e, const void *p, size_t n)
{
    if (grow(g, (void **)&e->buf, &e->buf_cap, e->buf_len + (uint32_t)n + 1, 1)) return 0;
    uint32_t off = e->buf_len;
    memcpy(e->buf + off, p, n);
    e->buf_len += (uint32_t)n;
    return off;
}

/* ABI-encode (sel or none) + words, the word at spos being a string's offset (spos < 0: no
 * string), into the scratch; *len gets the length. */
static uint32_t abi(gen *g, gen_evm *e, const uint8_t *sel, uint8_t (*w)[32], int nw, int spos,
                    const char *s, uint32_t *len)
{
    uint32_t off = e->buf_len;
    if (sel) put(g, e, sel, 4);
    for (int i = 0; i < nw; i++) {
        uint8_t x[32];
        if (i == spos)
            word_u(x, (u128)(32 * nw));
        else
            memcpy(x, w[i], 32);
        put(g, e, x, 32);
    }
    if (spos >= 0) {
        size_t n = strlen(s);
        uint8_t x[32];
        word_u(x, n);
        put(g, e, x, 32);
        put(g, e, s, n);
        memset(x, 0, 32);
        if (n % 32) put(g, e, x, 32 - n % 32);
    }
    *len = e->buf_len - off;
    return off;
}

/* ---- accounts ---- */

static uint32_t acct_new(gen *g, gen_evm *e, int role, uint32_t owner)
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
    return id;
}

/* A contract created by deployer at its current nonce: keccak(rlp([sender, nonce]))[12:]. */
static uint32_t contract_new(gen *g, gen_evm *e, uint32_t deployer, int role, uint32_t owner)
{
    uint32_t id = acct_new(g, e, role, owner);
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

static uint64_t draw_tip(gen_evm *e, int eager)
{
    double t = gen_logunif(&e->rng, 0.05, eager ? 8.0 : 3.0);
    return (uint64_t)(t * 1e9);
}

/* Can from send value with gas_limit at the current prices (the node's admission rule)? */
static int afford(const gen_evm *e, uint32_t from, u128 value, uint64_t gas, uint64_t tip)
{
    return e->acct[from].eth >= value + (u128)gas * max_fee(e, tip);
}

/* Begin a tx: the sender pays used * (base fee + tip); with ok the value moves too. The caller
 * checked afford(). Returns the tx index (E_NONE on out of memory). */
static uint32_t tx_new(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 value, uint64_t gas,
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
        e->bad = 1; /* a generator bug: callers check afford() */
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

static void tx_input(gen_evm *e, uint32_t ti, uint32_t off, uint32_t len)
{
    e->tx[ti].in_off = off, e->tx[ti].in_len = len;
}

/* An internal value transfer in tx ti (a child call of its top-level call). */
static void tx_internal(gen *g, gen_evm *e, uint32_t ti, uint32_t from, uint32_t to, u128 v)
{
    if (PUSH(g, e, tr)) return;
    if (e->acct[from].eth < v) e->bad = 1;
    e->acct[from].eth -= v;
    e->acct[to].eth += v;
    e->tr[e->n_tr++] = (etr){from, to, v};
    e->tx[ti].n_tr++;
}

static elog *tx_log(gen *g, gen_evm *e, uint32_t ti, uint32_t addr, int nt, uint32_t d_off,
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
static uint64_t next_log_index(const gen_evm *e)
{
    return e->log_index + e->n_log;
}

/* A USDT Transfer event in tx ti, moving the balance (from E_NONE: a mint). */
static void tok_transfer(gen *g, gen_evm *e, uint32_t ti, uint32_t from, uint32_t to, u128 v)
{
    uint8_t w[32];
    word_u(w, v);
    uint32_t off = put(g, e, w, 32);
    elog *l = tx_log(g, e, ti, e->token, 3, off, 32);
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

static uint64_t gas_used(gen_evm *e, uint64_t lo, uint64_t hi)
{
    return lo + gen_below(&e->rng, (uint32_t)(hi - lo + 1));
}

/* Plain ETH payment; E_NONE if from cannot afford it. */
static uint32_t pay_eth(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 v, int eager)
{
    uint64_t tip = draw_tip(e, eager);
    if (!v || !afford(e, from, v, 21000, tip)) return E_NONE;
    return tx_new(g, e, from, to, v, 21000, 21000, tip, 1);
}

/* Everything from an EOA to to, less the most the gas may cost. */
static uint32_t sweep_eth(gen *g, gen_evm *e, uint32_t from, uint32_t to, int eager, u128 *sent)
{
    uint64_t tip = draw_tip(e, eager);
    u128 reserve = (u128)21000 * max_fee(e, tip);
    if (e->acct[from].eth <= reserve + E_ETH / 1000) return E_NONE;
    u128 v = e->acct[from].eth - reserve;
    if (sent) *sent = v;
    return tx_new(g, e, from, to, v, 21000, 21000, tip, 1);
}

static uint32_t pay_usdt(gen *g, gen_evm *e, uint32_t from, uint32_t to, u128 v, int eager)
{
    uint64_t tip = draw_tip(e, eager);
    if (!afford(e, from, 0, 65000, tip)) return E_NONE;
    int ok = e->acct[from].usdt >= v && v > 0;
    uint32_t ti = tx_new(g, e, from, e->token, 0, 65000,
                         ok ? gas_used(e, 34000, 52000) : gas_used(e, 22500, 24500), tip, ok);
    if (ti == E_NONE) return ti;
    uint8_t w[2][32];
    word_a(w[0], e->acct[to].a);
    word_u(w[1], v);
    uint32_t len, off = abi(g, e, e->sel_transfer, w, 2, -1, NULL, &len);
    tx_input(e, ti, off, len);
    if (ok) tok_transfer(g, e, ti, from, to, v);
    return ti;
}

/* ---- scenario bookkeeping ---- */

static void step(gen *g, gen_evm *e, uint32_t scen, int kind, const uint8_t hash[32], uint64_t log,
                 uint32_t from, uint32_t to, u128 amount, int asset)
{
    if (scen == E_NONE) return;
    escen *s = &e->scen[scen];
    if (grow(g, (void **)&s->steps, &s->cap_steps, s->n_steps + 1, sizeof *s->steps)) return;
    estep *p = &s->steps[s->n_steps++];
    memcpy(p->hash, hash, 32);
    p->block = kind >= S_BTC_SWAP_OUT ? g->height : e->number;
    p->log = log, p->from = from, p->to = to, p->amount = amount;
    p->kind = (uint8_t)kind, p->asset = (uint8_t)asset;
}

static uint32_t thief_acct(gen *g, gen_evm *e, uint32_t scen)
{
    uint32_t a = acct_new(g, e, R_THIEF, scen);
    escen *s = &e->scen[scen];
    if (!g->oom && !grow(g, (void **)&s->accts, &s->cap_accts, s->n_accts + 1, sizeof *s->accts))
        s->accts[s->n_accts++] = a;
    return a;
}

static void job(gen *g, gen_evm *e, int kind, uint32_t acct, uint32_t scen, uint32_t aux,
                uint64_t due)
{
    if (PUSH(g, e, job)) return;
    e->job[e->n_job++] = (ejob){due, acct, scen, aux, (uint8_t)kind, 0, 0};
}

static uint64_t later(gen_evm *e, double lo, double hi)
{
    double u = lo + (hi - lo) * gen_unif(&e->rng);
    uint64_t d = (uint64_t)(u * (double)e->unit);
    return e->number + (d ? d : 1);
}

/* ---- the protocols ---- */

/* Deposit denomination pool p from acct; returns the note or E_NONE. */
static uint32_t mixer_deposit(gen *g, gen_evm *e, uint32_t acct, int p, uint32_t scen)
{
    static const uint64_t denom_eth[3] = {1, 10, 100};
    u128 v = denom_eth[p] * E_ETH;
    uint64_t tip = draw_tip(e, scen != E_NONE);
    if (!afford(e, acct, v, 1200000, tip)) return E_NONE;
    if (PUSH(g, e, note)) return E_NONE;
    uint32_t pool = e->pools[p];
    uint32_t ti = tx_new(g, e, acct, pool, v, 1200000, gas_used(e, 880000, 1050000), tip, 1);
    if (ti == E_NONE) return E_NONE;
    enote *n = &e->note[e->n_note];
    memset(n, 0, sizeof *n);
    uint8_t in[48];
    util_put_le64(in, g->cfg.seed);
    util_put_le32(in + 8, e->n_note);
    memcpy(in + 12, "cointrail-gen-evm-note-commitment---", 36);
    crypto_keccak256(in, sizeof in, n->commitment);
    in[12] = 'N';
    crypto_keccak256(in, sizeof in, n->nullifier);
    uint8_t w[1][32];
    memcpy(w[0], n->commitment, 32);
    uint32_t len, off = abi(g, e, e->sel_deposit, w, 1, -1, NULL, &len);
    tx_input(e, ti, off, len);
    uint8_t d[2][32];
    n->leaf = (uint32_t)e->leaf[p]++;
    word_u(d[0], n->leaf);
    word_u(d[1], e->t0 + e->number * E_BLOCK_TIME);
    off = abi(g, e, NULL, d, 2, -1, NULL, &len);
    n->dep_log = next_log_index(e);
    elog *l = tx_log(g, e, ti, pool, 2, off, len);
    if (!l) return E_NONE;
    memcpy(l->topics[0], e->t_mdep, 32);
    memcpy(l->topics[1], n->commitment, 32);
    n->pool = (uint32_t)p, n->depositor = acct, n->scen = scen;
    n->recipient = n->relayer = E_NONE;
    memcpy(n->dep_tx, e->tx[ti].hash, 32);
    n->dep_block = e->number;
    step(g, e, scen, S_MIX_DEP, e->tx[ti].hash, n->dep_log, acct, pool, v, 0);
    return e->n_note++;
}

/* Withdraw note ni to recipient, by the relayer (fee) or by caller paying its own gas. */
static int mixer_withdraw(gen *g, gen_evm *e, uint32_t ni, uint32_t recipient, uint32_t caller)
{
    static const uint64_t denom_eth[3] = {1, 10, 100};
    enote *n = &e->note[ni];
    u128 v = denom_eth[n->pool] * E_ETH;
    int relayed = caller == e->relayer;
    u128 fee =
        relayed ? eth_frac((double)denom_eth[n->pool] * (0.001 + 0.004 * gen_unif(&e->rng))) : 0;
    uint64_t tip = draw_tip(e, n->scen != E_NONE);
    if (!afford(e, caller, 0, 450000, tip)) return 0;
    uint32_t pool = e->pools[n->pool];
    uint32_t ti = tx_new(g, e, caller, pool, 0, 450000, gas_used(e, 300000, 380000), tip, 1);
    if (ti == E_NONE) return 0;
    uint8_t w[4][32];
    memcpy(w[0], n->nullifier, 32);
    word_a(w[1], e->acct[recipient].a);
    uint8_t zero[20] = {0};
    word_a(w[2], relayed ? e->acct[e->relayer].a : zero);
    word_u(w[3], fee);
    uint32_t len, off = abi(g, e, e->sel_withdraw, w, 4, -1, NULL, &len);
    tx_input(e, ti, off, len);
    tx_internal(g, e, ti, pool, recipient, v - fee);
    if (fee) tx_internal(g, e, ti, pool, e->relayer, fee);
    uint8_t d[3][32];
    word_a(d[0], e->acct[recipient].a);
    memcpy(d[1], n->nullifier, 32);
    word_u(d[2], fee);
    off = abi(g, e, NULL, d, 3, -1, NULL, &len);
    n = &e->note[ni];
    n->wd_log = next_log_index(e);
    elog *l = tx_log(g, e, ti, pool, 2, off, len);
    if (!l) return 0;
    memcpy(l->topics[0], e->t_mwd, 32);
    word_a(l->topics[1], relayed ? e->acct[e->relayer].a : zero);
    n->recipient = recipient, n->relayer = relayed ? e->relayer : E_NONE, n->fee = fee;
    n->self = (uint8_t)!relayed;
    n->done = 1;
    n->wd_block = e->number;
    memcpy(n->wd_tx, e->tx[ti].hash, 32);
    step(g, e, n->scen, S_MIX_WD, e->tx[ti].hash, n->wd_log, pool, recipient, v - fee, 0);
    return 1;
}

/* A Bitcoin recipient for a swap or bridge: a fresh P2WPKH of the thief (scenario) or of a
 * random user (background), with where its coin goes. */
static void btc_recipient(gen *g, gen_evm *e, uint32_t scen, uint32_t *addr, uint32_t *dest)
{
    if (scen != E_NONE) {
        *addr = gen_addr_new(g, e->scen[scen].btc_thief, GEN_S_P2WPKH);
        *dest = GEN_DEST_HOLD;
        return;
    }
    uint32_t u = g->e_user + gen_below(&e->rng, g->n_user);
    *addr = gen_addr_new(g, u, GEN_S_P2WPKH);
    *dest = GEN_DEST(u, GEN_W_MAIN);
}

static int64_t sat_of(u128 amount, int asset)
{
    return asset ? (int64_t)(amount * E_SAT_PER_USDT / 1000000u)
                 : (int64_t)(amount * E_SAT_PER_ETH / E_ETH);
}

/* A router swap of v wei from acct to Bitcoin; refund: a limit it cannot meet. */
static int router_swap(gen *g, gen_evm *e, uint32_t acct, u128 v, uint32_t scen, int refund,
                       uint64_t tip)
{
    if (PUSH(g, e, leg)) return 0;
    eleg *L = &e->leg[e->n_leg];
    memset(L, 0, sizeof *L);
    btc_recipient(g, e, scen, &L->btc_addr, &L->btc_dest);
    char bc1[128];
    btc_addr_string(g, L->btc_addr, bc1);
    /* What THORChain pays: the pool price less 0.2-1% slippage and the outbound fee. */
    int64_t sat = (int64_t)((double)sat_of(v, 0) * (0.99 + 0.008 * gen_unif(&e->rng))) -
                  (int64_t)gen_range(&e->rng, 10000, 30000);
    if (sat < 20000) return 0;
    int limit = refund || gen_chance(&e->rng, 0.5);
    if (limit) {
        L->limit = refund ? (int64_t)(sat * (1.02 + 0.08 * gen_unif(&e->rng)))
                          : (int64_t)(sat * (0.95 + 0.045 * gen_unif(&e->rng)));
        snprintf(L->memo, sizeof L->memo, "=:BTC.BTC:%s:%lld", bc1, (long long)L->limit);
    } else
        snprintf(L->memo, sizeof L->memo, "SWAP:BTC.BTC:%s", bc1);
    uint32_t ti = tx_new(g, e, acct, e->router, v, 120000, gas_used(e, 58000, 82000), tip, 1);
    if (ti == E_NONE) return 0;
    uint8_t w[1][32];
    uint32_t len, off = abi(g, e, e->sel_swap, w, 1, 0, L->memo, &len);
    tx_input(e, ti, off, len);
    tx_internal(g, e, ti, e->router, e->vault, v);
    uint8_t d[2][32];
    word_u(d[0], v);
    off = abi(g, e, NULL, d, 2, 1, L->memo, &len);
    L->in_log = next_log_index(e);
    elog *l = tx_log(g, e, ti, e->router, 3, off, len);
    if (!l) return 0;
    memcpy(l->topics[0], e->t_rdep, 32);
    word_a(l->topics[1], e->acct[e->vault].a);
    memset(l->topics[2], 0, 32);
    L->kind = refund ? L_REFUND : L_SWAP;
    L->limit_memo = (uint8_t)limit;
    L->scen = scen, L->sender = acct, L->in_amount = v, L->in_block = e->number;
    L->in_time = (uint32_t)(e->t0 + e->number * E_BLOCK_TIME);
    memcpy(L->in_tx, e->tx[ti].hash, 32);
    if (refund) {
        L->due_block = e->number + gen_range(&e->rng, 10, 100);
        L->out_amount = v - eth_frac(0.0015 + 0.0025 * gen_unif(&e->rng));
    } else {
        L->out_amount = (u128)sat;
        L->due_time = L->in_time + gen_range(&e->rng, 300, 2400);
    }
    e->n_leg++;
    step(g, e, scen, S_SWAP, e->tx[ti].hash, L->in_log, acct, e->router, v, 0);
    return 1;
}

/* A bridge deposit of v (ETH, or USDT units with asset 1) from acct to Bitcoin. */
static int bridge_deposit(gen *g, gen_evm *e, uint32_t acct, u128 v, int asset, uint32_t scen,
                          uint64_t tip)
{
    if (PUSH(g, e, leg)) return 0;
    eleg *L = &e->leg[e->n_leg];
    memset(L, 0, sizeof *L);
    int64_t sat = (int64_t)((double)sat_of(v, asset) * 0.999) - 5000; /* 0.1% + 5000 sat */
    if (sat < 20000) return 0;
    btc_recipient(g, e, scen, &L->btc_addr, &L->btc_dest);
    char bc1[128];
    btc_addr_string(g, L->btc_addr, bc1);
    snprintf(L->memo, sizeof L->memo, "%s", bc1);
    uint32_t ti;
    if (!asset) {
        ti = tx_new(g, e, acct, e->bridge, v, 120000, gas_used(e, 52000, 76000), tip, 1);
        if (ti == E_NONE) return 0;
        uint8_t w[2][32];
        word_u(w[0], E_CHAIN_BTC);
        uint32_t len, off = abi(g, e, e->sel_bdep, w, 2, 1, bc1, &len);
        tx_input(e, ti, off, len);
    } else {
        ti = tx_new(g, e, acct, e->bridge, 0, 150000, gas_used(e, 78000, 98000), tip, 1);
        if (ti == E_NONE) return 0;
        uint8_t w[4][32];
        word_a(w[0], e->acct[e->token].a);
        word_u(w[1], v);
        word_u(w[2], E_CHAIN_BTC);
        uint32_t len, off = abi(g, e, e->sel_btok, w, 4, 3, bc1, &len);
        tx_input(e, ti, off, len);
        tok_transfer(g, e, ti, acct, e->bridge, v);
    }
    L = &e->leg[e->n_leg];
    L->nonce = e->bridge_nonce++;
    uint8_t d[5][32];
    word_u(d[0], E_CHAIN_BTC);
    word_u(d[2], L->nonce);
    word_a(d[3], asset ? e->acct[e->token].a : (const uint8_t[20]){0});
    word_u(d[4], v);
    uint32_t len, off = abi(g, e, NULL, d, 5, 1, bc1, &len);
    L->in_log = next_log_index(e);
    elog *l = tx_log(g, e, ti, e->bridge, 1, off, len);
    if (!l) return 0;
    memcpy(l->topics[0], e->t_bdep, 32);
    L->kind = L_BRIDGE, L->asset = (uint8_t)asset;
    L->with_id = (uint8_t)gen_chance(&e->rng, 0.5);
    L->scen = scen, L->sender = acct, L->in_amount = v, L->in_block = e->number;
    L->in_time = (uint32_t)(e->t0 + e->number * E_BLOCK_TIME);
    L->out_amount = (u128)sat;
    L->due_time = L->in_time + gen_range(&e->rng, 600, 3600);
    memcpy(L->in_tx, e->tx[ti].hash, 32);
    e->n_leg++;
    step(g, e, scen, S_BRIDGE, e->tx[ti].hash, L->in_log, acct, e->bridge, v, asset);
    return 1;
}

/* The vault refunds leg li through the router (THORChain's TransferOut). */
static int refund_out(gen *g, gen_evm *e, uint32_t li)
{
    eleg *L = &e->leg[li];
    uint64_t tip = draw_tip(e, 0);
    if (!afford(e, e->vault, L->out_amount, 100000, tip)) return 0;
    char hx[70], memo[80];
    hex(hx, L->in_tx, 32);
    for (char *p = hx + 2; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 32);
    snprintf(memo, sizeof memo, "REFUND:%s", hx + 2);
    uint32_t ti =
        tx_new(g, e, e->vault, e->router, L->out_amount, 100000, gas_used(e, 48000, 68000), tip, 1);
    if (ti == E_NONE) return 0;
    L = &e->leg[li];
    uint8_t w[4][32];
    word_a(w[0], e->acct[L->sender].a);
    memset(w[1], 0, 32);
    word_u(w[2], L->out_amount);
    uint32_t len, off = abi(g, e, e->sel_out, w, 4, 3, memo, &len);
    tx_input(e, ti, off, len);
    tx_internal(g, e, ti, e->router, L->sender, L->out_amount);
    uint8_t d[3][32];
    memset(d[0], 0, 32);
    word_u(d[1], L->out_amount);
    off = abi(g, e, NULL, d, 3, 2, memo, &len);
    L->out_log = next_log_index(e);
    elog *l = tx_log(g, e, ti, e->router, 3, off, len);
    if (!l) return 0;
    memcpy(l->topics[0], e->t_out, 32);
    word_a(l->topics[1], e->acct[e->vault].a);
    word_a(l->topics[2], e->acct[L->sender].a);
    L->state = 1;
    L->out_block = e->number;
    L->out_time = (uint32_t)(e->t0 + e->number * E_BLOCK_TIME);
    memcpy(L->out_tx, e->tx[ti].hash, 32);
    step(g, e, L->scen, S_REFUND, e->tx[ti].hash, L->out_log, e->router, L->sender, L->out_amount,
         0);
    /* The refunded thief tries again without a limit. */
    if (L->scen != E_NONE) job(g, e, J_RETRY, L->sender, L->scen, 0, later(e, 0.2, 1));
    return 1;
}

/* ---- scenario steps ---- */

/* Ronin 2022: with the validators' keys the attacker has the bridge release its locked ETH
 * and tokens to itself (value leaves the contract by an internal call, tokens by a Transfer). */
static uint32_t bridge_release(gen *g, gen_evm *e, uint32_t to, u128 v, int asset)
{
    uint64_t tip = draw_tip(e, 1);
    if (!afford(e, to, 0, 160000, tip)) return E_NONE;
    uint32_t ti = tx_new(g, e, to, e->bridge, 0, 160000, gas_used(e, 88000, 130000), tip, 1);
    if (ti == E_NONE) return ti;
    uint8_t w[3][32], zero[20] = {0};
    word_a(w[0], asset ? e->acct[e->token].a : zero);
    word_a(w[1], e->acct[to].a);
    word_u(w[2], v);
    uint32_t len, off = abi(g, e, e->sel_release, w, 3, -1, NULL, &len);
    tx_input(e, ti, off, len);
    if (asset)
        tok_transfer(g, e, ti, e->bridge, to, v);
    else
        tx_internal(g, e, ti, e->bridge, to, v);
    return ti;
}

static void do_theft(gen *g, gen_evm *e, uint32_t si)
{
    escen *s = &e->scen[si];
    eacct *hot = &e->acct[s->hot_src];
    u128 v = (u128)((double)to_eth(hot->eth) * (0.6 + 0.3 * gen_unif(&e->rng))) * E_ETH;
    u128 t = (u128)((double)(hot->usdt / 1000000u) * (0.6 + 0.3 * gen_unif(&e->rng))) * 1000000u;
    if (s->bridge) {
        uint32_t ti = bridge_release(g, e, s->thief0, v, 0);
        if (ti == E_NONE) return;
        s->stolen_eth = v;
        step(g, e, si, S_THEFT, e->tx[ti].hash, 0, e->bridge, s->thief0, v, 0);
        uint64_t l = next_log_index(e);
        if (t && (ti = bridge_release(g, e, s->thief0, t, 1)) != E_NONE) {
            s->stolen_usdt = t;
            step(g, e, si, S_THEFT, e->tx[ti].hash, l, e->bridge, s->thief0, t, 1);
        }
        job(g, e, J_SPLIT, s->thief0, si, 0, later(e, 0.3, 1.5));
        return;
    }
    uint32_t ti = pay_eth(g, e, e->hot, s->thief0, v, 1);
    if (ti == E_NONE) return;
    s->stolen_eth = v;
    step(g, e, si, S_THEFT, e->tx[ti].hash, 0, e->hot, s->thief0, v, 0);
    if (t) {
        uint64_t l = next_log_index(e);
        ti = pay_usdt(g, e, e->hot, s->thief0, t, 1);
        if (ti != E_NONE && e->tx[ti].ok) {
            s->stolen_usdt = t;
            step(g, e, si, S_THEFT, e->tx[ti].hash, l, e->hot, s->thief0, t, 1);
        }
    }
    job(g, e, J_SPLIT, s->thief0, si, 0, later(e, 0.3, 1.5));
}

static void do_split(gen *g, gen_evm *e, uint32_t si, uint32_t from)
{
    escen *s = &e->scen[si];
    /* A gas account for self-relayed mixer withdrawals, then the token pieces (each with gas),
     * then the ETH in 4-8 pieces. */
    s->gas = thief_acct(g, e, si);
    uint32_t ti = pay_eth(g, e, from, s->gas, 2 * E_ETH, 1);
    if (ti != E_NONE) step(g, e, si, S_GAS, e->tx[ti].hash, 0, from, s->gas, 2 * E_ETH, 0);
    u128 tok = e->acct[from].usdt;
    uint32_t nt = tok ? gen_range(&e->rng, 2, 3) : 0;
    for (uint32_t i = 0; i < nt; i++) {
        uint32_t a = thief_acct(g, e, si);
        u128 part = i + 1 == nt ? e->acct[from].usdt : tok / nt;
        uint64_t l = next_log_index(e);
        ti = pay_usdt(g, e, from, a, part, 1);
        if (ti == E_NONE || !e->tx[ti].ok) continue;
        step(g, e, si, S_SPLIT, e->tx[ti].hash, l, from, a, part, 1);
        u128 gas = E_ETH / 20;
        ti = pay_eth(g, e, from, a, gas, 1);
        if (ti != E_NONE) step(g, e, si, S_GAS, e->tx[ti].hash, 0, from, a, gas, 0);
        job(g, e, J_TOUT, a, si, 0, later(e, 0.5, 3));
    }
    uint32_t n = gen_range(&e->rng, 4, 8);
    u128 total = e->acct[from].eth;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = thief_acct(g, e, si);
        u128 sent = 0;
        if (i + 1 == n)
            ti = sweep_eth(g, e, from, a, 1, &sent);
        else {
            sent = (u128)((double)to_eth(total) / n * (0.7 + 0.6 * gen_unif(&e->rng))) * E_ETH;
            ti = pay_eth(g, e, from, a, sent, 1);
        }
        if (ti == E_NONE) continue;
        step(g, e, si, S_SPLIT, e->tx[ti].hash, 0, from, a, sent, 0);
        if (gen_chance(&e->rng, 0.6))
            job(g, e, J_MIX, a, si, 0, later(e, 0.5, 3));
        else
            job(g, e, J_OUT, a, si, 0, later(e, 1, 6));
    }
}

/* Deposit acct's ETH into the pools, largest first, a few per block; 1 when done. */
static int do_mix(gen *g, gen_evm *e, uint32_t si, uint32_t acct)
{
    for (int k = 0; k < 6; k++) {
        int p = -1;
        for (int q = 2; q >= 0 && p < 0; q--) {
            static const uint64_t d[3] = {1, 10, 100};
            if (e->acct[acct].eth >= (u128)d[q] * E_ETH + E_ETH / 2) p = q;
        }
        if (p < 0) return 1;
        uint32_t ni = mixer_deposit(g, e, acct, p, si);
        if (ni == E_NONE) return 1;
        job(g, e, J_NOTE, acct, si, ni, later(e, 2, 12));
    }
    return 0;
}

static void do_out(gen *g, gen_evm *e, uint32_t si, uint32_t acct, int retry)
{
    uint64_t tip = draw_tip(e, 1);
    int router = retry || gen_chance(&e->rng, 0.65);
    uint64_t gas = 120000;
    u128 reserve = (u128)gas * max_fee(e, tip);
    if (e->acct[acct].eth <= reserve + E_ETH / 50) return;
    u128 v = e->acct[acct].eth - reserve;
    v -= v % (E_ETH / 1000); /* wallets round the amount */
    if (router)
        router_swap(g, e, acct, v, si, !retry && gen_chance(&e->rng, 0.15), tip);
    else
        bridge_deposit(g, e, acct, v, 0, si, tip);
}

static void do_tout(gen *g, gen_evm *e, uint32_t si, uint32_t acct)
{
    u128 v = e->acct[acct].usdt;
    uint64_t tip = draw_tip(e, 1);
    if (!v || !afford(e, acct, 0, 60000 + 150000, tip)) return;
    uint32_t ti = tx_new(g, e, acct, e->token, 0, 60000, gas_used(e, 44000, 46500), tip, 1);
    if (ti == E_NONE) return;
    uint8_t w[2][32];
    word_a(w[0], e->acct[e->bridge].a);
    word_u(w[1], v);
    uint32_t len, off = abi(g, e, e->sel_approve, w, 2, -1, NULL, &len);
    tx_input(e, ti, off, len);
    off = put(g, e, w[1], 32);
    uint64_t li = next_log_index(e);
    elog *l = tx_log(g, e, ti, e->token, 3, off, 32);
    if (!l) return;
    memcpy(l->topics[0], e->t_approval, 32);
    word_a(l->topics[1], e->acct[acct].a);
    word_a(l->topics[2], e->acct[e->bridge].a);
    step(g, e, si, S_APPROVE, e->tx[ti].hash, li, acct, e->bridge, v, 1);
    bridge_deposit(g, e, acct, v, 1, si, tip);
}

static void run_jobs(gen *g, gen_evm *e)
{
    uint32_t n = e->n_job;
    for (uint32_t i = 0; i < n && !g->oom; i++) {
        ejob j = e->job[i];
        if (j.dead || j.due > e->number || j.kind == J_UNOTE) continue;
        int done = 1;
        switch (j.kind) {
        case J_THEFT:
            do_theft(g, e, j.scen);
            break;
        case J_SPLIT:
            do_split(g, e, j.scen, j.acct);
            break;
        case J_MIX:
            done = do_mix(g, e, j.scen, j.acct);
            if (done) job(g, e, J_OUT, j.acct, j.scen, 0, later(e, 1, 4));
            break;
        case J_NOTE: {
            uint32_t r = thief_acct(g, e, j.scen);
            uint32_t caller = gen_chance(&e->rng, 0.7) ? e->relayer : e->scen[j.scen].gas;
            if (!mixer_withdraw(g, e, j.aux, r, caller) &&
                !mixer_withdraw(g, e, j.aux, r, e->relayer))
                done = 0;
            else
                job(g, e, J_OUT, r, j.scen, 0, later(e, 0.5, 5));
            break;
        }
        case J_OUT:
        case J_RETRY:
            do_out(g, e, j.scen, j.acct, j.kind == J_RETRY);
            break;
        case J_TOUT:
            do_tout(g, e, j.scen, j.acct);
            break;
        }
        if (done) e->job[i].dead = 1;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < e->n_job; i++)
        if (!e->job[i].dead) e->job[k++] = e->job[i];
    e->n_job = k;
}

/* ---- background activity ---- */

static uint32_t rand_user(gen_evm *e)
{
    return e->user0 + gen_below(&e->rng, e->n_users);
}

static uint32_t user_dep(gen *g, gen_evm *e, uint32_t u)
{
    if (e->acct[u].dep == E_NONE) {
        uint32_t d = acct_new(g, e, R_EXDEP, u);
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
        pay_eth(g, e, u, v, amt, 0);
    } else if (x < 0.55) {
        if (u == v || !a->usdt) return;
        u128 amt = (u128)((double)(a->usdt / 10000u) * gen_logunif(r, 0.02, 0.8)) * 10000u;
        pay_usdt(g, e, u, v, amt, 0);
    } else if (x < 0.68) { /* a deposit at the exchange */
        uint32_t d = user_dep(g, e, u);
        if (d == E_NONE) return;
        a = &e->acct[u]; /* the table may have moved */
        uint32_t ti;
        if (a->usdt && gen_chance(r, 0.4))
            ti = pay_usdt(g, e, u, d, a->usdt, 0);
        else
            ti = pay_eth(g, e, u, d,
                         (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.1, 0.9) * 1e4) *
                             (E_ETH / 10000u),
                         0);
        if (ti != E_NONE) mark_dirty(g, e, d);
    } else if (x < 0.85) { /* a withdrawal from the exchange */
        if (gen_chance(r, 0.4)) {
            /* Sizes shrink with what the hot wallet holds, so deposits keep it going. */
            u128 amt = (u128)(gen_logunif(r, 20, 50000)) * 1000000u,
                 cap = e->acct[e->hot].usdt / 300;
            pay_usdt(g, e, e->hot, u, amt < cap ? amt : cap, 0);
        } else {
            u128 amt = eth_frac(gen_logunif(r, 0.02, 20)), cap = e->acct[e->hot].eth / 300;
            pay_eth(g, e, e->hot, u, amt < cap ? amt : cap, 0);
        }
    } else if (x < 0.86) { /* a token transfer that reverts (balance too low) */
        if (u != v) pay_usdt(g, e, u, v, a->usdt + 1000000u * gen_range(r, 1, 500), 0);
    } else if (x < 0.87) { /* privacy: a mixer deposit, withdrawn later to a fresh address */
        int p = a->eth > 11 * E_ETH ? 1 : a->eth > E_ETH + E_ETH / 5 ? 0 : -1;
        if (p < 0) return;
        uint32_t ni = mixer_deposit(g, e, u, p, E_NONE);
        if (ni != E_NONE) job(g, e, J_UNOTE, u, E_NONE, ni, later(e, 1, 20));
    } else if (x < 0.88) { /* a swap to Bitcoin */
        if (a->eth < E_ETH / 10) return;
        u128 amt =
            (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.1, 0.6) * 1e4) * (E_ETH / 10000u);
        uint64_t tip = draw_tip(e, 0);
        if (afford(e, u, amt, 120000, tip))
            router_swap(g, e, u, amt, E_NONE, gen_chance(r, 0.1), tip);
    } else if (x < 0.885) { /* a bridge deposit to Bitcoin */
        if (a->eth < E_ETH / 10) return;
        u128 amt =
            (u128)((double)to_eth(a->eth) * gen_logunif(r, 0.1, 0.6) * 1e4) * (E_ETH / 10000u);
        uint64_t tip = draw_tip(e, 0);
        if (afford(e, u, amt, 120000, tip)) bridge_deposit(g, e, u, amt, 0, E_NONE, tip);
    } else { /* a payment to another user */
        if (u == v || a->eth < E_ETH / 100) return;
        pay_eth(g, e, u, v, eth_frac(gen_logunif(r, 0.001, 0.05)), 0);
    }
}

/* Background notes: the user withdraws to a fresh address of its own through the relayer. */
static void user_notes(gen *g, gen_evm *e)
{
    for (uint32_t i = 0; i < e->n_job && !g->oom; i++) {
        ejob *j = &e->job[i];
        if (j->kind != J_UNOTE || j->dead || j->due > e->number) continue;
        uint32_t owner = e->acct[j->acct].owner, ni = j->aux;
        uint32_t fresh = acct_new(g, e, R_USER, owner);
        if (g->oom) return;
        j = &e->job[i];
        if (mixer_withdraw(g, e, ni, fresh, e->relayer)) j->dead = 1;
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
            uint64_t tip = draw_tip(e, 0);
            if (!afford(e, d, 0, 65000, tip)) {
                pay_eth(g, e, e->hot, d, E_ETH / 200, 0);
                keep = 1;
            } else {
                pay_usdt(g, e, d, e->hot, a->usdt, 0);
                keep = e->acct[d].eth > E_ETH / 100;
            }
        } else if (a->eth > E_ETH / 100) {
            sweep_eth(g, e, d, e->hot, 0, NULL);
        }
        if (keep) e->dirty[k++] = d;
    }
    memmove(e->dirty + k, e->dirty + n, (size_t)(e->n_dirty - n) * sizeof *e->dirty);
    e->n_dirty -= n - k;
}

/* ---- setup ---- */

static void deploy(gen *g, gen_evm *e, uint32_t c, const char *code)
{
    uint64_t tip = draw_tip(e, 0);
    uint32_t ti =
        tx_new(g, e, e->deployer, E_NONE, 0, 3000000, gas_used(e, 600000, 1900000), tip, 1);
    if (ti == E_NONE) return;
    e->tx[ti].created = c;
    uint32_t off = put(g, e, code, strlen(code));
    tx_input(e, ti, off, (uint32_t)strlen(code));
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
        if (i == 0) tok_transfer(g, e, e->n_tx - 1, E_NONE, e->deployer, E_USDT_SUPPLY);
    }
    pay_usdt(g, e, e->deployer, e->hot, E_USDT_SUPPLY / 200, 0);    /* 5M USDT */
    pay_usdt(g, e, e->deployer, e->bridge, E_USDT_SUPPLY / 500, 0); /* 2M locked */
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
    e->deployer = acct_new(g, e, R_DEPLOYER, 0);
    e->hot = acct_new(g, e, R_EXHOT, 0);
    e->vault = acct_new(g, e, R_VAULT, 0);
    e->relayer = acct_new(g, e, R_RELAYER, 0);
    for (int i = 0; i < 4; i++)
        e->builders[i] = acct_new(g, e, R_BUILDER, (uint32_t)i);
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
        acct_new(g, e, R_USER, i);
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
        s->thief0 = thief_acct(g, e, i);
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
        job(g, e, J_THEFT, s->hot_src, i, 0, s->start);
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
        run_jobs(g, e);
        user_notes(g, e);
        for (uint32_t i = 0; i < e->n_leg; i++)
            if (e->leg[i].kind == L_REFUND && !e->leg[i].state && e->leg[i].due_block <= e->number)
                refund_out(g, e, i);
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

/* ---- outbound legs in Bitcoin ---- */

/* Top up a Bitcoin payer (the vault or the bridge's custody) from the exchange hot wallet
 * holding the most: liquidity providers and custodians rebalancing. 1 done, 0 not possible. */
static int btc_topup(gen *g, uint32_t ent, int64_t need)
{
    uint32_t src = GEN_NONE;
    int64_t best = 0;
    for (uint32_t i = 0; i < g->n_ex; i++) {
        int64_t v = g->ents[g->e_ex + i].w[GEN_W_MAIN].sum;
        if (v > best) best = v, src = g->e_ex + i;
    }
    if (src == GEN_NONE) return 0;
    int64_t amt = need * 2 + 10 * GEN_COIN;
    if (amt > best / 2) amt = best / 2;
    if (amt < need + GEN_COIN / 100) return 0;
    gen_entity *t = &g->ents[ent];
    if (t->kind != GEN_K_BRIDGE && t->fixed[0] == GEN_NONE)
        t->fixed[0] = gen_addr_new(g, ent, GEN_S_P2WPKH);
    uint32_t to = t->kind == GEN_K_BRIDGE ? gen_deposit_addr(g, ent, ent) : t->fixed[0];
    gen_tx_begin(g, src);
    gen_tx_out(g, to, amt, GEN_DEST(ent, GEN_W_MAIN));
    if (!gen_fund(g, src, GEN_W_MAIN, GEN_MASK_ANY, gen_fee_rate(g), -1, 200)) return 0;
    return gen_tx_finish(g) ? -1 : 1;
}

static int btc_leg(gen *g, gen_evm *e, uint32_t li)
{
    eleg *L = &e->leg[li];
    uint32_t payer = L->kind == L_SWAP ? g->e_vault : g->e_bridge;
    int64_t sat = (int64_t)L->out_amount;
    gen_entity *p = &g->ents[payer];
    if (L->kind == L_SWAP && p->fixed[0] == GEN_NONE)
        p->fixed[0] = gen_addr_new(g, payer, GEN_S_P2WPKH);
    if (p->w[GEN_W_MAIN].sum < sat + GEN_COIN / 100) {
        int rc = btc_topup(g, payer, sat);
        if (rc <= 0) return rc;
    }
    uint8_t s[90];
    size_t n;
    if (L->kind == L_SWAP) {
        char hx[70];
        hex(hx, L->in_tx, 32);
        memcpy(s + 2, "OUT:", 4);
        for (int i = 0; i < 64; i++) {
            char c = hx[2 + i];
            s[6 + i] = (uint8_t)(c >= 'a' ? c - 32 : c);
        }
        n = 68;
    } else {
        n = (size_t)snprintf((char *)s + 2, 80, "BRIDGE:%u:%llu", E_CHAIN_BTC,
                             (unsigned long long)L->nonce);
    }
    s[0] = 0x6a, s[1] = (uint8_t)n;
    gen_tx_begin(g, payer);
    gen_tx_out(g, L->btc_addr, sat, L->btc_dest);
    if (L->kind == L_SWAP || L->with_id) gen_tx_out_raw(g, s, n + 2, 0);
    if (!gen_fund(g, payer, GEN_W_MAIN, GEN_MASK_ANY, gen_fee_rate(g), -1, 60)) return 0;
    int rc = gen_tx_finish(g);
    if (rc) return -1;
    L = &e->leg[li];
    L->state = 1;
    memcpy(L->out_tx, g->last_txid, 32);
    L->out_vout = 0;
    L->out_height = g->height;
    L->out_time = g->time;
    g->st.evm_links++;
    if (L->scen != E_NONE) {
        escen *sc = &e->scen[L->scen];
        step(g, e, L->scen, L->kind == L_SWAP ? S_BTC_SWAP_OUT : S_BTC_BRIDGE_OUT, g->last_txid, 0,
             E_NONE, E_NONE, (u128)sat, 2);
        if (gen_scen_inflow(g, sc->btc_scen, sc->victim_ent, g->out_slot[0], 0)) return -1;
    }
    return 1;
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
        int rc = btc_leg(g, e, i);
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
    free(e);
    g->evm = NULL;
}
