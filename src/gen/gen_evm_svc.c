/* gen_evm_svc: --evm-services (docs/generator.md, "Unlabelled services"). Exchanges that no label
 * names, whose deposit addresses forward to their hot wallet soon after they are paid, and the
 * patterns that look like them: traders who pass what they are paid on to a DEX (which pays them
 * back in USDT), an airdrop farmer's claim addresses swept into one collector, payroll payees
 * who spend their pay at one merchant, savers who spend everything at one shop long after
 * they were paid, and users who sweep wallets of their own (funded by
 * them) into their main address. Everything draws on e->rng2, so the chain without the option
 * is the same byte for byte. */
#include <string.h>

#include "gen_evm_int.h"

#define SVC_DEX_USDT_PER_ETH 2500u

static uint32_t new_accts(gen *g, gen_evm *e, int role, uint32_t n, uint32_t owner0, u128 eth,
                          uint32_t *first)
{
    *first = e->n_acct;
    for (uint32_t i = 0; i < n && !g->oom; i++) {
        uint32_t a = gen_evm_acct_new(g, e, role, owner0 == E_NONE ? i : owner0);
        if (!g->oom) e->acct[a].eth = eth;
    }
    return n;
}

void gen_evm_svc_accounts(gen *g, gen_evm *e)
{
    gen_rng_seed(&e->rng2, g->cfg.seed ^ 0x65766d2d73766373ULL);
    e->n_svc = g->cfg.evm_services;
    new_accts(g, e, R_SVCHOT, e->n_svc, E_NONE, 1500 * E_ETH, &e->svc0);
    for (uint32_t i = 0; i < e->n_svc && !g->oom; i++)
        e->acct[e->svc0 + i].svc = i;
    uint32_t x;
    new_accts(g, e, R_DEX, 1, 0, 50 * E_ETH, &x);
    e->dex = x;
    new_accts(g, e, R_DISTRIB, 1, 0, 400 * E_ETH, &x);
    e->distrib = x;
    new_accts(g, e, R_DISTRIB, 1, 1, 400 * E_ETH, &x);
    e->employer = x;
    new_accts(g, e, R_COLLECT, 1, 0, 0, &x);
    e->collector = x;
    new_accts(g, e, R_MERCHANT, 1, 0, E_ETH, &x);
    e->merchant = x;
    new_accts(g, e, R_MERCHANT, 1, 1, E_ETH, &x);
    e->shop = x;
    e->n_saver = new_accts(g, e, R_SAVER, 15, E_NONE, 0, &e->saver0);
    e->n_bot = new_accts(g, e, R_BOT, 20, E_NONE, E_ETH / 20, &e->bot0);
    e->n_sybil = new_accts(g, e, R_SYBIL, 30, E_NONE, 0, &e->sybil0);
    e->n_payee = new_accts(g, e, R_PAYEE, 20, E_NONE, E_ETH / 50, &e->payee0);
    e->n_main = new_accts(g, e, R_MAIN, 6, E_NONE, 40 * E_ETH, &e->main0);
    e->sub0 = e->n_acct;
    for (uint32_t m = 0; m < e->n_main && !g->oom; m++)
        for (int k = 0; k < 5 && !g->oom; k++)
            gen_evm_acct_new(g, e, R_SUBWAL, e->main0 + m);
    e->n_sub = e->n_acct - e->sub0;
}

/* Forward everything acct holds to to at block due (once: a pending forward is kept). */
static void later_fwd(gen *g, gen_evm *e, uint32_t acct, uint32_t to, uint64_t due)
{
    for (uint32_t i = 0; i < e->n_fwd; i++)
        if (e->fwd[i].acct == acct) return;
    if (PUSH(g, e, fwd)) return;
    e->fwd[e->n_fwd++] = (ejob){.due = due, .acct = acct, .aux = to};
}

/* A delay in blocks: mostly a few blocks (an exchange's sweeper, a bot), sometimes late. */
static uint64_t delay(gen_rng *r, double late)
{
    if (gen_chance(r, late)) return gen_range(r, 60, 900);
    return gen_range(r, 1, 25);
}

static void run_fwds(gen *g, gen_evm *e)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < e->n_fwd && !g->oom; i++) {
        ejob j = e->fwd[i];
        if (j.due > e->number) {
            e->fwd[k++] = j;
            continue;
        }
        u128 sent = 0;
        uint32_t ti = gen_evm_sweep_eth(g, e, j.acct, j.aux, 0, &sent);
        /* the DEX pays the trader back in USDT */
        if (ti != E_NONE && j.aux == e->dex) {
            u128 v = sent / (E_ETH / 1000000u) * SVC_DEX_USDT_PER_ETH;
            if (v && e->acct[e->dex].usdt >= v) gen_evm_pay_usdt(g, e, e->dex, j.acct, v, 0);
        }
    }
    e->n_fwd = k;
}

static uint32_t svc_dep(gen *g, gen_evm *e, uint32_t u)
{
    if (e->acct[u].svc == E_NONE) {
        uint32_t d = gen_evm_acct_new(g, e, R_SVCDEP, u);
        if (g->oom) return E_NONE;
        e->acct[d].svc = e->acct[u].owner % e->n_svc;
        e->acct[u].svc = d;
    }
    return e->acct[u].svc;
}

void gen_evm_svc_block(gen *g, gen_evm *e)
{
    gen_rng *r = &e->rng2;
    if (e->number == 2) /* the DEX's USDT */
        gen_evm_pay_usdt(g, e, e->deployer, e->dex, E_USDT_SUPPLY / 100, 0);
    run_fwds(g, e);
    uint32_t u = e->user0 + gen_below(r, e->n_users);
    double x = gen_unif(r);
    if (x < 0.35) { /* a deposit at an unlabelled exchange, swept soon (or late) */
        if (e->acct[u].eth < E_ETH / 20) return;
        uint32_t d = svc_dep(g, e, u);
        if (d == E_NONE) return;
        u128 v = (u128)((double)to_eth(e->acct[u].eth) * gen_logunif(r, 0.1, 0.9) * 1e4) *
                 (E_ETH / 10000u);
        if (gen_evm_pay_eth(g, e, u, d, v, 0) != E_NONE)
            later_fwd(g, e, d, e->svc0 + e->acct[d].svc, e->number + delay(r, 0.08));
    } else if (x < 0.55) { /* a withdrawal from one */
        uint32_t h = e->svc0 + e->acct[u].owner % e->n_svc;
        u128 v = eth_frac(gen_logunif(r, 0.05, 8)), cap = e->acct[h].eth / 200;
        gen_evm_pay_eth(g, e, h, u, v < cap ? v : cap, 0);
    } else if (x < 0.65) { /* a user pays a DEX trader, who swaps it all soon */
        uint32_t b = e->bot0 + gen_below(r, e->n_bot);
        if (e->acct[u].eth < E_ETH / 10) return;
        if (gen_evm_pay_eth(g, e, u, b, eth_frac(gen_logunif(r, 0.05, 1)), 0) != E_NONE)
            later_fwd(g, e, b, e->dex, e->number + delay(r, 0));
    } else if (x < 0.73) { /* the airdrop: a claim address is paid and swept to the farmer */
        uint32_t s = e->sybil0 + gen_below(r, e->n_sybil);
        if (gen_evm_pay_eth(g, e, e->distrib, s, eth_frac(gen_logunif(r, 0.1, 1)), 0) != E_NONE)
            later_fwd(g, e, s, e->collector, e->number + delay(r, 0.05));
    } else if (x < 0.81) { /* payroll: a payee is paid and spends it all at the merchant */
        uint32_t p = e->payee0 + gen_below(r, e->n_payee);
        if (gen_evm_pay_eth(g, e, e->employer, p, eth_frac(gen_logunif(r, 0.3, 3)), 0) != E_NONE)
            later_fwd(g, e, p, e->merchant, e->number + delay(r, 0.1));
    } else if (x < 0.85) { /* a user pays the merchant, again and again */
        uint32_t c = e->user0 + gen_below(r, e->n_users < 10 ? e->n_users : 10);
        if (e->acct[c].eth > E_ETH / 10)
            gen_evm_pay_eth(g, e, c, e->merchant, eth_frac(gen_logunif(r, 0.01, 0.3)), 0);
    } else if (x < 0.88) { /* a saver is paid by anyone and, much later, spends it at a shop */
        uint32_t v = e->saver0 + gen_below(r, e->n_saver);
        if (e->acct[u].eth < E_ETH / 10) return;
        if (gen_evm_pay_eth(g, e, u, v, eth_frac(gen_logunif(r, 0.02, 1)), 0) != E_NONE)
            later_fwd(g, e, v, e->shop, e->number + gen_range(r, 150, 1500));
    } else if (x < 0.92) { /* a consolidating user funds one of its own wallets */
        uint32_t s = e->sub0 + gen_below(r, e->n_sub);
        gen_evm_pay_eth(g, e, e->acct[s].owner, s, eth_frac(gen_logunif(r, 0.05, 0.5)), 0);
    } else { /* someone pays that wallet, which is swept into its owner's main address */
        uint32_t s = e->sub0 + gen_below(r, e->n_sub);
        if (e->acct[u].eth < E_ETH / 10) return;
        if (gen_evm_pay_eth(g, e, u, s, eth_frac(gen_logunif(r, 0.02, 1)), 0) != E_NONE)
            later_fwd(g, e, s, e->acct[s].owner, e->number + delay(r, 0.1));
    }
}
