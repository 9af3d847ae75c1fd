/* gen_evm_jobs: the EVM side's scenarios and cross-chain jobs. An EVM theft's steps (theft,
 * split, mix, swap or bridge out, Tornado-style withdrawals), the protocols they and the
 * background use (mixer pools, the THORChain-style router, the lock-side bridge, refunds) and
 * the outbound legs those owe in the Bitcoin chain. gen_evm.c runs the chain and calls in here. */
#include <stdlib.h>
#include <string.h>

#include "gen_evm_int.h"

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

uint32_t gen_evm_thief_acct(gen *g, gen_evm *e, uint32_t scen)
{
    uint32_t a = gen_evm_acct_new(g, e, R_THIEF, scen);
    escen *s = &e->scen[scen];
    if (!g->oom && !grow(g, (void **)&s->accts, &s->cap_accts, s->n_accts + 1, sizeof *s->accts))
        s->accts[s->n_accts++] = a;
    return a;
}

void gen_evm_job(gen *g, gen_evm *e, int kind, uint32_t acct, uint32_t scen, uint32_t aux,
                 uint64_t due)
{
    if (PUSH(g, e, job)) return;
    e->job[e->n_job++] = (ejob){due, acct, scen, aux, (uint8_t)kind, 0, 0};
}

uint64_t gen_evm_later(gen_evm *e, double lo, double hi)
{
    double u = lo + (hi - lo) * gen_unif(&e->rng);
    uint64_t d = (uint64_t)(u * (double)e->unit);
    return e->number + (d ? d : 1);
}

/* ---- the protocols ---- */

/* Deposit denomination pool p from acct; returns the note or E_NONE. */
uint32_t gen_evm_mixer_deposit(gen *g, gen_evm *e, uint32_t acct, int p, uint32_t scen)
{
    static const uint64_t denom_eth[3] = {1, 10, 100};
    u128 v = denom_eth[p] * E_ETH;
    uint64_t tip = gen_evm_draw_tip(e, scen != E_NONE);
    if (!gen_evm_afford(e, acct, v, 1200000, tip)) return E_NONE;
    if (PUSH(g, e, note)) return E_NONE;
    uint32_t pool = e->pools[p];
    uint32_t ti =
        gen_evm_tx_new(g, e, acct, pool, v, 1200000, gen_evm_gas_used(e, 880000, 1050000), tip, 1);
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
    uint32_t len, off = gen_evm_abi(g, e, e->sel_deposit, w, 1, -1, NULL, &len);
    gen_evm_tx_input(e, ti, off, len);
    uint8_t d[2][32];
    n->leaf = (uint32_t)e->leaf[p]++;
    word_u(d[0], n->leaf);
    word_u(d[1], e->t0 + e->number * E_BLOCK_TIME);
    off = gen_evm_abi(g, e, NULL, d, 2, -1, NULL, &len);
    n->dep_log = gen_evm_next_log_index(e);
    elog *l = gen_evm_tx_log(g, e, ti, pool, 2, off, len);
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
int gen_evm_mixer_withdraw(gen *g, gen_evm *e, uint32_t ni, uint32_t recipient, uint32_t caller)
{
    static const uint64_t denom_eth[3] = {1, 10, 100};
    enote *n = &e->note[ni];
    u128 v = denom_eth[n->pool] * E_ETH;
    int relayed = caller == e->relayer;
    u128 fee =
        relayed ? eth_frac((double)denom_eth[n->pool] * (0.001 + 0.004 * gen_unif(&e->rng))) : 0;
    uint64_t tip = gen_evm_draw_tip(e, n->scen != E_NONE);
    if (!gen_evm_afford(e, caller, 0, 450000, tip)) return 0;
    uint32_t pool = e->pools[n->pool];
    uint32_t ti =
        gen_evm_tx_new(g, e, caller, pool, 0, 450000, gen_evm_gas_used(e, 300000, 380000), tip, 1);
    if (ti == E_NONE) return 0;
    uint8_t w[4][32];
    memcpy(w[0], n->nullifier, 32);
    word_a(w[1], e->acct[recipient].a);
    uint8_t zero[20] = {0};
    word_a(w[2], relayed ? e->acct[e->relayer].a : zero);
    word_u(w[3], fee);
    uint32_t len, off = gen_evm_abi(g, e, e->sel_withdraw, w, 4, -1, NULL, &len);
    gen_evm_tx_input(e, ti, off, len);
    gen_evm_tx_internal(g, e, ti, pool, recipient, v - fee);
    if (fee) gen_evm_tx_internal(g, e, ti, pool, e->relayer, fee);
    uint8_t d[3][32];
    word_a(d[0], e->acct[recipient].a);
    memcpy(d[1], n->nullifier, 32);
    word_u(d[2], fee);
    off = gen_evm_abi(g, e, NULL, d, 3, -1, NULL, &len);
    n = &e->note[ni];
    n->wd_log = gen_evm_next_log_index(e);
    elog *l = gen_evm_tx_log(g, e, ti, pool, 2, off, len);
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
int gen_evm_router_swap(gen *g, gen_evm *e, uint32_t acct, u128 v, uint32_t scen, int refund,
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
    uint32_t ti =
        gen_evm_tx_new(g, e, acct, e->router, v, 120000, gen_evm_gas_used(e, 58000, 82000), tip, 1);
    if (ti == E_NONE) return 0;
    uint8_t w[1][32];
    uint32_t len, off = gen_evm_abi(g, e, e->sel_swap, w, 1, 0, L->memo, &len);
    gen_evm_tx_input(e, ti, off, len);
    gen_evm_tx_internal(g, e, ti, e->router, e->vault, v);
    uint8_t d[2][32];
    word_u(d[0], v);
    off = gen_evm_abi(g, e, NULL, d, 2, 1, L->memo, &len);
    L->in_log = gen_evm_next_log_index(e);
    elog *l = gen_evm_tx_log(g, e, ti, e->router, 3, off, len);
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
int gen_evm_bridge_deposit(gen *g, gen_evm *e, uint32_t acct, u128 v, int asset, uint32_t scen,
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
        ti = gen_evm_tx_new(g, e, acct, e->bridge, v, 120000, gen_evm_gas_used(e, 52000, 76000),
                            tip, 1);
        if (ti == E_NONE) return 0;
        uint8_t w[2][32];
        word_u(w[0], E_CHAIN_BTC);
        uint32_t len, off = gen_evm_abi(g, e, e->sel_bdep, w, 2, 1, bc1, &len);
        gen_evm_tx_input(e, ti, off, len);
    } else {
        ti = gen_evm_tx_new(g, e, acct, e->bridge, 0, 150000, gen_evm_gas_used(e, 78000, 98000),
                            tip, 1);
        if (ti == E_NONE) return 0;
        uint8_t w[4][32];
        word_a(w[0], e->acct[e->token].a);
        word_u(w[1], v);
        word_u(w[2], E_CHAIN_BTC);
        uint32_t len, off = gen_evm_abi(g, e, e->sel_btok, w, 4, 3, bc1, &len);
        gen_evm_tx_input(e, ti, off, len);
        gen_evm_tok_transfer(g, e, ti, acct, e->bridge, v);
    }
    L = &e->leg[e->n_leg];
    L->nonce = e->bridge_nonce++;
    uint8_t d[5][32];
    word_u(d[0], E_CHAIN_BTC);
    word_u(d[2], L->nonce);
    word_a(d[3], asset ? e->acct[e->token].a : (const uint8_t[20]){0});
    word_u(d[4], v);
    uint32_t len, off = gen_evm_abi(g, e, NULL, d, 5, 1, bc1, &len);
    L->in_log = gen_evm_next_log_index(e);
    elog *l = gen_evm_tx_log(g, e, ti, e->bridge, 1, off, len);
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
int gen_evm_refund_out(gen *g, gen_evm *e, uint32_t li)
{
    eleg *L = &e->leg[li];
    uint64_t tip = gen_evm_draw_tip(e, 0);
    if (!gen_evm_afford(e, e->vault, L->out_amount, 100000, tip)) return 0;
    char hx[70], memo[80];
    hex(hx, L->in_tx, 32);
    for (char *p = hx + 2; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 32);
    snprintf(memo, sizeof memo, "REFUND:%s", hx + 2);
    uint32_t ti = gen_evm_tx_new(g, e, e->vault, e->router, L->out_amount, 100000,
                                 gen_evm_gas_used(e, 48000, 68000), tip, 1);
    if (ti == E_NONE) return 0;
    L = &e->leg[li];
    uint8_t w[4][32];
    word_a(w[0], e->acct[L->sender].a);
    memset(w[1], 0, 32);
    word_u(w[2], L->out_amount);
    uint32_t len, off = gen_evm_abi(g, e, e->sel_out, w, 4, 3, memo, &len);
    gen_evm_tx_input(e, ti, off, len);
    gen_evm_tx_internal(g, e, ti, e->router, L->sender, L->out_amount);
    uint8_t d[3][32];
    memset(d[0], 0, 32);
    word_u(d[1], L->out_amount);
    off = gen_evm_abi(g, e, NULL, d, 3, 2, memo, &len);
    L->out_log = gen_evm_next_log_index(e);
    elog *l = gen_evm_tx_log(g, e, ti, e->router, 3, off, len);
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
    if (L->scen != E_NONE)
        gen_evm_job(g, e, J_RETRY, L->sender, L->scen, 0, gen_evm_later(e, 0.2, 1));
    return 1;
}

/* ---- scenario steps ---- */

/* Ronin 2022: with the validators' keys the attacker has the bridge release its locked ETH
 * and tokens to itself (value leaves the contract by an internal call, tokens by a Transfer). */
static uint32_t bridge_release(gen *g, gen_evm *e, uint32_t to, u128 v, int asset)
{
    uint64_t tip = gen_evm_draw_tip(e, 1);
    if (!gen_evm_afford(e, to, 0, 160000, tip)) return E_NONE;
    uint32_t ti =
        gen_evm_tx_new(g, e, to, e->bridge, 0, 160000, gen_evm_gas_used(e, 88000, 130000), tip, 1);
    if (ti == E_NONE) return ti;
    uint8_t w[3][32], zero[20] = {0};
    word_a(w[0], asset ? e->acct[e->token].a : zero);
    word_a(w[1], e->acct[to].a);
    word_u(w[2], v);
    uint32_t len, off = gen_evm_abi(g, e, e->sel_release, w, 3, -1, NULL, &len);
    gen_evm_tx_input(e, ti, off, len);
    if (asset)
        gen_evm_tok_transfer(g, e, ti, e->bridge, to, v);
    else
        gen_evm_tx_internal(g, e, ti, e->bridge, to, v);
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
        uint64_t l = gen_evm_next_log_index(e);
        if (t && (ti = bridge_release(g, e, s->thief0, t, 1)) != E_NONE) {
            s->stolen_usdt = t;
            step(g, e, si, S_THEFT, e->tx[ti].hash, l, e->bridge, s->thief0, t, 1);
        }
        gen_evm_job(g, e, J_SPLIT, s->thief0, si, 0, gen_evm_later(e, 0.3, 1.5));
        return;
    }
    uint32_t ti = gen_evm_pay_eth(g, e, e->hot, s->thief0, v, 1);
    if (ti == E_NONE) return;
    s->stolen_eth = v;
    step(g, e, si, S_THEFT, e->tx[ti].hash, 0, e->hot, s->thief0, v, 0);
    if (t) {
        uint64_t l = gen_evm_next_log_index(e);
        ti = gen_evm_pay_usdt(g, e, e->hot, s->thief0, t, 1);
        if (ti != E_NONE && e->tx[ti].ok) {
            s->stolen_usdt = t;
            step(g, e, si, S_THEFT, e->tx[ti].hash, l, e->hot, s->thief0, t, 1);
        }
    }
    gen_evm_job(g, e, J_SPLIT, s->thief0, si, 0, gen_evm_later(e, 0.3, 1.5));
}

static void do_split(gen *g, gen_evm *e, uint32_t si, uint32_t from)
{
    escen *s = &e->scen[si];
    /* A gas account for self-relayed mixer withdrawals, then the token pieces (each with gas),
     * then the ETH in 4-8 pieces. */
    s->gas = gen_evm_thief_acct(g, e, si);
    uint32_t ti = gen_evm_pay_eth(g, e, from, s->gas, 2 * E_ETH, 1);
    if (ti != E_NONE) step(g, e, si, S_GAS, e->tx[ti].hash, 0, from, s->gas, 2 * E_ETH, 0);
    u128 tok = e->acct[from].usdt;
    uint32_t nt = tok ? gen_range(&e->rng, 2, 3) : 0;
    for (uint32_t i = 0; i < nt; i++) {
        uint32_t a = gen_evm_thief_acct(g, e, si);
        u128 part = i + 1 == nt ? e->acct[from].usdt : tok / nt;
        uint64_t l = gen_evm_next_log_index(e);
        ti = gen_evm_pay_usdt(g, e, from, a, part, 1);
        if (ti == E_NONE || !e->tx[ti].ok) continue;
        step(g, e, si, S_SPLIT, e->tx[ti].hash, l, from, a, part, 1);
        u128 gas = E_ETH / 20;
        ti = gen_evm_pay_eth(g, e, from, a, gas, 1);
        if (ti != E_NONE) step(g, e, si, S_GAS, e->tx[ti].hash, 0, from, a, gas, 0);
        gen_evm_job(g, e, J_TOUT, a, si, 0, gen_evm_later(e, 0.5, 3));
    }
    uint32_t n = gen_range(&e->rng, 4, 8);
    u128 total = e->acct[from].eth;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = gen_evm_thief_acct(g, e, si);
        u128 sent = 0;
        if (i + 1 == n)
            ti = gen_evm_sweep_eth(g, e, from, a, 1, &sent);
        else {
            sent = (u128)((double)to_eth(total) / n * (0.7 + 0.6 * gen_unif(&e->rng))) * E_ETH;
            ti = gen_evm_pay_eth(g, e, from, a, sent, 1);
        }
        if (ti == E_NONE) continue;
        step(g, e, si, S_SPLIT, e->tx[ti].hash, 0, from, a, sent, 0);
        if (gen_chance(&e->rng, 0.6))
            gen_evm_job(g, e, J_MIX, a, si, 0, gen_evm_later(e, 0.5, 3));
        else
            gen_evm_job(g, e, J_OUT, a, si, 0, gen_evm_later(e, 1, 6));
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
        uint32_t ni = gen_evm_mixer_deposit(g, e, acct, p, si);
        if (ni == E_NONE) return 1;
        gen_evm_job(g, e, J_NOTE, acct, si, ni, gen_evm_later(e, 2, 12));
    }
    return 0;
}

static void do_out(gen *g, gen_evm *e, uint32_t si, uint32_t acct, int retry)
{
    uint64_t tip = gen_evm_draw_tip(e, 1);
    int router = retry || gen_chance(&e->rng, 0.65);
    uint64_t gas = 120000;
    u128 reserve = (u128)gas * max_fee(e, tip);
    if (e->acct[acct].eth <= reserve + E_ETH / 50) return;
    u128 v = e->acct[acct].eth - reserve;
    v -= v % (E_ETH / 1000); /* wallets round the amount */
    if (router)
        gen_evm_router_swap(g, e, acct, v, si, !retry && gen_chance(&e->rng, 0.15), tip);
    else
        gen_evm_bridge_deposit(g, e, acct, v, 0, si, tip);
}

static void do_tout(gen *g, gen_evm *e, uint32_t si, uint32_t acct)
{
    u128 v = e->acct[acct].usdt;
    uint64_t tip = gen_evm_draw_tip(e, 1);
    if (!v || !gen_evm_afford(e, acct, 0, 60000 + 150000, tip)) return;
    uint32_t ti =
        gen_evm_tx_new(g, e, acct, e->token, 0, 60000, gen_evm_gas_used(e, 44000, 46500), tip, 1);
    if (ti == E_NONE) return;
    uint8_t w[2][32];
    word_a(w[0], e->acct[e->bridge].a);
    word_u(w[1], v);
    uint32_t len, off = gen_evm_abi(g, e, e->sel_approve, w, 2, -1, NULL, &len);
    gen_evm_tx_input(e, ti, off, len);
    off = gen_evm_put(g, e, w[1], 32);
    uint64_t li = gen_evm_next_log_index(e);
    elog *l = gen_evm_tx_log(g, e, ti, e->token, 3, off, 32);
    if (!l) return;
    memcpy(l->topics[0], e->t_approval, 32);
    word_a(l->topics[1], e->acct[acct].a);
    word_a(l->topics[2], e->acct[e->bridge].a);
    step(g, e, si, S_APPROVE, e->tx[ti].hash, li, acct, e->bridge, v, 1);
    gen_evm_bridge_deposit(g, e, acct, v, 1, si, tip);
}

void gen_evm_run_jobs(gen *g, gen_evm *e)
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
            if (done) gen_evm_job(g, e, J_OUT, j.acct, j.scen, 0, gen_evm_later(e, 1, 4));
            break;
        case J_NOTE: {
            uint32_t r = gen_evm_thief_acct(g, e, j.scen);
            uint32_t caller = gen_chance(&e->rng, 0.7) ? e->relayer : e->scen[j.scen].gas;
            if (!gen_evm_mixer_withdraw(g, e, j.aux, r, caller) &&
                !gen_evm_mixer_withdraw(g, e, j.aux, r, e->relayer))
                done = 0;
            else
                gen_evm_job(g, e, J_OUT, r, j.scen, 0, gen_evm_later(e, 0.5, 5));
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

int gen_evm_btc_leg(gen *g, gen_evm *e, uint32_t li)
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
