/* gen_evm_truth: the EVM side's truth (accounts, txs, mixer notes, legs, scenario steps as
 * truth.jsonl records) and its labels.csv rows. Formats in docs/generator.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "gen_evm_int.h"

static const char *const role_names[R_NROLES] = {"user",
                                                 "exchange_hot_wallet",
                                                 "exchange_deposit",
                                                 "deployer",
                                                 "token",
                                                 "mixer_pool",
                                                 "bridge",
                                                 "router",
                                                 "thorchain_vault",
                                                 "relayer",
                                                 "thief",
                                                 "fee_recipient",
                                                 "exchange_hot_wallet",
                                                 "exchange_deposit",
                                                 "dex",
                                                 "dex_trader",
                                                 "distributor",
                                                 "airdrop_claimer",
                                                 "collector",
                                                 "payee",
                                                 "merchant",
                                                 "consolidator",
                                                 "own_wallet",
                                                 "saver"};
static const char *const step_names[S_NSTEPS] = {
    "theft",  "split",          "gas_funding", "mixer_deposit", "mixer_withdrawal",  "router_swap",
    "refund", "bridge_deposit", "approve",     "btc_swap_out",  "btc_bridge_release"};

/* ---- truth and labels ---- */

static json_t *jhex(const uint8_t *p, size_t n)
{
    char s[67];
    hex(s, p, n);
    return json_string(s);
}

static json_t *ju(u128 v)
{
    char s[48];
    u128_dec(s, v);
    return json_string(s);
}

static json_t *jacct(const gen_evm *e, uint32_t a)
{
    return a == E_NONE ? json_null() : jhex(e->acct[a].a, 20);
}

static json_t *jtxid(const uint8_t h[32])
{
    char s[65];
    util_hash_hex(s, h);
    return json_string(s);
}

static int put_line(gen *g, FILE *f, json_t *o, const char *path)
{
    if (!o) return g->oom = 1, UTIL_ENOMEM;
    int rc = json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc || fputc('\n', f) == EOF)
        return util_errf(g->err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

static const char *acct_name(const gen *g, const gen_evm *e, uint32_t i, char buf[128])
{
    const eacct *a = &e->acct[i];
    switch (a->role) {
    case R_EXHOT:
        snprintf(buf, 128, "%s (ETH hot wallet)", g->ents[g->e_ex].name);
        break;
    case R_EXDEP:
        snprintf(buf, 128, "%s (deposit of user %u)", g->ents[g->e_ex].name,
                 e->acct[a->owner].owner + 1);
        break;
    case R_USER:
        snprintf(buf, 128, "eth user %u", a->owner + 1);
        break;
    case R_TOKEN:
        snprintf(buf, 128, "USDT (token)");
        break;
    case R_MIXER:
        snprintf(buf, 128, "Tornado-like pool %s ETH",
                 a->owner == 0   ? "1"
                 : a->owner == 1 ? "10"
                                 : "100");
        break;
    case R_BRIDGE:
        snprintf(buf, 128, "Cross-chain bridge (lock contract)");
        break;
    case R_ROUTER:
        snprintf(buf, 128, "THORChain router");
        break;
    case R_VAULT:
        snprintf(buf, 128, "THORChain ETH vault");
        break;
    case R_RELAYER:
        snprintf(buf, 128, "Mixer relayer");
        break;
    case R_THIEF:
        snprintf(buf, 128, "Lazarus Group (EVM scenario %u)", a->owner + 1);
        break;
    case R_DEPLOYER:
        snprintf(buf, 128, "Contract deployer");
        break;
    case R_SVCHOT:
        snprintf(buf, 128, "Unlabelled exchange %u (ETH hot wallet)", a->svc + 1);
        break;
    case R_SVCDEP:
        snprintf(buf, 128, "Unlabelled exchange %u (deposit of user %u)", a->svc + 1,
                 e->acct[a->owner].owner + 1);
        break;
    case R_DEX:
        snprintf(buf, 128, "DEX pool (unlabelled)");
        break;
    case R_BOT:
        snprintf(buf, 128, "DEX trader %u", a->owner + 1);
        break;
    case R_DISTRIB:
        snprintf(buf, 128, "%s", a->owner ? "Payroll employer" : "Airdrop distributor");
        break;
    case R_SYBIL:
        snprintf(buf, 128, "Airdrop claimer %u", a->owner + 1);
        break;
    case R_COLLECT:
        snprintf(buf, 128, "Airdrop farmer's collector");
        break;
    case R_PAYEE:
        snprintf(buf, 128, "Payroll payee %u", a->owner + 1);
        break;
    case R_MERCHANT:
        snprintf(buf, 128, "%s (unlabelled)", a->owner ? "Shop" : "Merchant");
        break;
    case R_MAIN:
        snprintf(buf, 128, "Consolidating user %u", a->owner + 1);
        break;
    case R_SAVER:
        snprintf(buf, 128, "Saver %u", a->owner + 1);
        break;
    case R_SUBWAL:
        snprintf(buf, 128, "Consolidating user %u (own wallet)", e->acct[a->owner].owner + 1);
        break;
    default:
        snprintf(buf, 128, "Block builder %u", a->owner + 1);
        break;
    }
    return buf;
}

int gen_evm_write_truth(gen *g, FILE *f, const char *path)
{
    gen_evm *e = g->evm;
    char nb[128];
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string("evm_meta"));
    json_object_set_new(o, "chain", json_string("eth"));
    json_object_set_new(o, "dir", json_string("evm"));
    json_object_set_new(o, "blocks", json_integer((json_int_t)e->number));
    json_object_set_new(o, "block_time", json_integer(E_BLOCK_TIME));
    json_object_set_new(o, "genesis_timestamp", json_integer(e->t0));
    json_object_set_new(o, "txs", json_integer((json_int_t)e->n_txs));
    json_object_set_new(o, "failed_txs", json_integer((json_int_t)e->n_failed));
    json_object_set_new(o, "logs", json_integer((json_int_t)e->n_logs));
    json_object_set_new(o, "token_transfers", json_integer((json_int_t)e->n_xfers));
    json_object_set_new(o, "traces", json_integer((json_int_t)e->n_traces));
    json_object_set_new(o, "accounts", json_integer(e->n_acct));
    json_object_set_new(o, "sat_per_eth", json_integer(E_SAT_PER_ETH));
    json_object_set_new(o, "sat_per_usdt", json_integer(E_SAT_PER_USDT));
    json_object_set_new(o, "bridge_btc_chain_id", json_integer(E_CHAIN_BTC));
    json_object_set_new(o, "token", jacct(e, e->token));
    json_object_set_new(o, "exchange_entity", json_integer(g->e_ex));
    json_object_set_new(o, "vault_entity", json_integer(g->e_vault));
    json_object_set_new(o, "bridge_entity", json_integer(g->e_bridge));
    int rc = put_line(g, f, o, path);
    for (uint32_t i = 0; !rc && i < e->n_acct; i++) {
        const eacct *a = &e->acct[i];
        o = json_object();
        json_object_set_new(o, "kind", json_string("evm_account"));
        json_object_set_new(o, "address", jacct(e, i));
        json_object_set_new(o, "role", json_string(role_names[a->role]));
        json_object_set_new(o, "name", json_string(acct_name(g, e, i, nb)));
        if (a->role == R_THIEF) json_object_set_new(o, "scenario", json_integer(a->owner + 1));
        json_object_set_new(o, "genesis_wei", ju(a->eth0));
        json_object_set_new(o, "eth_wei", ju(a->eth));
        json_object_set_new(o, "usdt", ju(a->usdt));
        json_object_set_new(o, "nonce", json_integer((json_int_t)a->nonce));
        rc = put_line(g, f, o, path);
    }
    for (uint32_t i = 0; !rc && i < e->n_note; i++) {
        const enote *n = &e->note[i];
        static const char *const den[3] = {"1000000000000000000", "10000000000000000000",
                                           "100000000000000000000"};
        o = json_object();
        json_object_set_new(o, "kind", json_string("mixer_link"));
        json_object_set_new(o, "pool", jacct(e, e->pools[n->pool]));
        json_object_set_new(o, "denomination", json_string(den[n->pool]));
        json_object_set_new(o, "deposit_tx", jhex(n->dep_tx, 32));
        json_object_set_new(o, "deposit_log_index", json_integer((json_int_t)n->dep_log));
        json_object_set_new(o, "deposit_block", json_integer((json_int_t)n->dep_block));
        json_object_set_new(o, "commitment", jhex(n->commitment, 32));
        json_object_set_new(o, "depositor", jacct(e, n->depositor));
        json_object_set_new(o, "withdrawn", json_boolean(n->done));
        if (n->done) {
            json_object_set_new(o, "withdrawal_tx", jhex(n->wd_tx, 32));
            json_object_set_new(o, "withdrawal_log_index", json_integer((json_int_t)n->wd_log));
            json_object_set_new(o, "withdrawal_block", json_integer((json_int_t)n->wd_block));
            json_object_set_new(o, "nullifier_hash", jhex(n->nullifier, 32));
            json_object_set_new(o, "recipient", jacct(e, n->recipient));
            json_object_set_new(o, "relayer", jacct(e, n->relayer));
            json_object_set_new(o, "fee", ju(n->fee));
        }
        json_object_set_new(o, "scenario",
                            n->scen == E_NONE ? json_null() : json_integer(n->scen + 1));
        rc = put_line(g, f, o, path);
    }
    for (uint32_t i = 0; !rc && i < e->n_leg; i++) {
        const eleg *L = &e->leg[i];
        o = json_object();
        json_object_set_new(o, "kind", json_string(L->state ? "xchain_link" : "xchain_pending"));
        json_object_set_new(o, "method",
                            json_string(L->kind == L_REFUND ? "thorchain_refund"
                                        : L->kind == L_SWAP ? "thorchain_memo"
                                        : L->with_id        ? "bridge_id"
                                                            : "bridge_value"));
        json_object_set_new(o, "inbound_chain", json_string("eth"));
        json_object_set_new(o, "inbound_tx", jhex(L->in_tx, 32));
        json_object_set_new(o, "inbound_log_index", json_integer((json_int_t)L->in_log));
        json_object_set_new(o, "inbound_block", json_integer((json_int_t)L->in_block));
        json_object_set_new(o, "inbound_time", json_integer(L->in_time));
        json_object_set_new(o, "inbound_from", jacct(e, L->sender));
        json_object_set_new(o, "inbound_asset", json_string(L->asset ? "USDT" : "ETH"));
        json_object_set_new(o, "inbound_amount", ju(L->in_amount));
        if (L->kind == L_BRIDGE) {
            json_object_set_new(o, "bridge_nonce", json_integer((json_int_t)L->nonce));
            json_object_set_new(o, "dest_chain", json_integer(E_CHAIN_BTC));
            json_object_set_new(o, "recipient", json_string(L->memo));
        } else
            json_object_set_new(o, "memo", json_string(L->memo));
        if (L->limit_memo) json_object_set_new(o, "limit", json_integer(L->limit));
        if (L->kind == L_REFUND) {
            json_object_set_new(o, "outbound_chain", json_string("eth"));
            json_object_set_new(o, "outbound_asset", json_string("ETH"));
            json_object_set_new(o, "outbound_amount", ju(L->out_amount));
            if (L->state) {
                json_object_set_new(o, "outbound_tx", jhex(L->out_tx, 32));
                json_object_set_new(o, "outbound_log_index", json_integer((json_int_t)L->out_log));
                json_object_set_new(o, "outbound_block", json_integer((json_int_t)L->out_block));
                json_object_set_new(o, "outbound_to", jacct(e, L->sender));
            }
        } else {
            char s[128];
            btc_addr_string(g, L->btc_addr, s);
            json_object_set_new(o, "outbound_chain", json_string("btc"));
            json_object_set_new(o, "outbound_asset", json_string("BTC"));
            json_object_set_new(o, "outbound_amount", json_integer((json_int_t)L->out_amount));
            json_object_set_new(o, "outbound_address", json_string(s));
            json_object_set_new(o, "outbound_op_return",
                                json_boolean(L->kind == L_SWAP || L->with_id));
            if (L->state) {
                json_object_set_new(o, "outbound_txid", jtxid(L->out_tx));
                json_object_set_new(o, "outbound_vout", json_integer(L->out_vout));
                json_object_set_new(o, "outbound_height", json_integer(L->out_height));
                json_object_set_new(o, "outbound_time", json_integer(L->out_time));
            }
        }
        json_object_set_new(o, "scenario",
                            L->scen == E_NONE ? json_null() : json_integer(L->scen + 1));
        rc = put_line(g, f, o, path);
    }
    for (uint32_t i = 0; !rc && i < e->n_scen; i++) {
        const escen *s = &e->scen[i];
        o = json_object();
        json_object_set_new(o, "kind", json_string("evm_scenario"));
        json_object_set_new(o, "id", json_integer(i + 1));
        json_object_set_new(o, "name", json_string(g->ents[s->btc_thief].name));
        json_object_set_new(o, "model",
                            json_string(s->bridge ? "bridge theft (Ronin 2022 reporting): "
                                                    "forged releases of locked ETH and tokens, "
                                                    "split, mixer pools, THORChain swaps and "
                                                    "bridge deposits to Bitcoin"
                                                  : "exchange hot-wallet theft (Bybit 2025 "
                                                    "reporting): split to fresh addresses, "
                                                    "mixer pools, THORChain swaps and bridge "
                                                    "deposits to Bitcoin"));
        json_object_set_new(o, "victim", jacct(e, s->hot_src));
        json_object_set_new(o, "victim_entity", json_integer(s->victim_ent));
        json_object_set_new(o, "btc_scenario", json_integer(s->btc_scen + 1));
        json_object_set_new(o, "btc_thief", json_integer(s->btc_thief));
        json_object_set_new(o, "start_block", json_integer((json_int_t)s->start));
        json_object_set_new(o, "stolen_eth", ju(s->stolen_eth));
        json_object_set_new(o, "stolen_usdt", ju(s->stolen_usdt));
        json_t *ad = json_array(), *st = json_array();
        for (uint32_t k = 0; k < s->n_accts; k++)
            json_array_append_new(ad, jacct(e, s->accts[k]));
        json_object_set_new(o, "addresses", ad);
        for (uint32_t k = 0; k < s->n_steps; k++) {
            const estep *p = &s->steps[k];
            json_t *x = json_object();
            json_object_set_new(x, "kind", json_string(step_names[p->kind]));
            if (p->kind >= S_BTC_SWAP_OUT) {
                json_object_set_new(x, "txid", jtxid(p->hash));
                json_object_set_new(x, "height", json_integer((json_int_t)p->block));
                json_object_set_new(x, "asset", json_string("BTC"));
                json_object_set_new(x, "amount", json_integer((json_int_t)p->amount));
            } else {
                json_object_set_new(x, "tx", jhex(p->hash, 32));
                json_object_set_new(x, "block", json_integer((json_int_t)p->block));
                if (p->kind != S_THEFT || p->asset)
                    json_object_set_new(x, "log_index", json_integer((json_int_t)p->log));
                json_object_set_new(x, "from", jacct(e, p->from));
                json_object_set_new(x, "to", jacct(e, p->to));
                json_object_set_new(x, "asset", json_string(p->asset ? "USDT" : "ETH"));
                json_object_set_new(x, "amount", ju(p->amount));
            }
            json_array_append_new(st, x);
        }
        json_object_set_new(o, "steps", st);
        rc = put_line(g, f, o, path);
    }
    return rc;
}

int gen_evm_write_labels(gen *g, FILE *f)
{
    gen_evm *e = g->evm;
    gen_rng r;
    gen_rng_seed(&r, g->cfg.seed ^ 0x65766d6c6162ULL);
    int bad = 0;
    char nb[128], a[43];
    for (uint32_t i = 0; i < e->n_acct && !bad; i++) {
        const eacct *x = &e->acct[i];
        const char *cat = NULL, *src = "service attribution";
        const char *actor = acct_name(g, e, i, nb);
        double conf = 0.9;
        switch (x->role) {
        case R_EXHOT:
            cat = "exchange", actor = g->ents[g->e_ex].name, src = "exchange attribution";
            conf = 0.95;
            break;
        case R_EXDEP:
            if (gen_chance(&r, 0.3))
                cat = "exchange", actor = g->ents[g->e_ex].name, src = "test deposits", conf = 0.8;
            break;
        case R_MIXER:
            cat = "mixer", src = "contract attribution", conf = 1.0;
            break;
        case R_RELAYER:
            cat = "mixer", src = "relayer registry", conf = 0.8;
            break;
        case R_BRIDGE:
            cat = "bridge", src = "contract attribution", conf = 1.0;
            break;
        case R_ROUTER:
        case R_VAULT:
            cat = "swap", src = "contract attribution", conf = 1.0;
            break;
        case R_THIEF: {
            const escen *s = &e->scen[x->owner];
            if (i == s->thief0)
                cat = "theft", actor = "Lazarus Group", src = "victim incident report", conf = 1.0;
            else if (gen_chance(&r, 0.1))
                cat = "sanctioned", actor = "Lazarus Group", src = "OFAC SDN (simulated)",
                conf = 1.0;
            break;
        }
        default:
            break;
        }
        if (!cat) continue;
        hex(a, x->a, 20);
        bad |= fprintf(f, "eth,%s,%s,%s,%s,%.2f\n", a, cat, actor, src, conf) < 0;
    }
    return bad ? UTIL_EIO : 0;
}

/* "N UNIT": v base units with `decimals` (< 40) digits after the point, trailing zeros cut. */
static int unit_amount(util_buf *b, u128 v, int decimals, const char *unit)
{
    char d[48], p[96];
    u128_dec(d, v);
    int n = (int)strlen(d), lead = n <= decimals ? decimals + 1 - n : 0;
    snprintf(p, sizeof p, "%0*d%s", lead ? lead : 1, 0, d);
    const char *digits = lead ? p : d; /* at least decimals + 1 digits */
    int len = (int)strlen(digits), w = len - decimals, fl = decimals;
    while (fl && digits[w + fl - 1] == '0')
        fl--;
    return util_buf_printf(b, "%s%.*s%s%.*s %s", b->len ? ";" : "", w, digits, fl ? "." : "", fl,
                           digits + w, unit);
}

int gen_evm_incident(const gen *g, uint32_t btc_scen, util_buf *seeds, util_buf *amounts)
{
    const gen_evm *e = g->evm;
    for (uint32_t i = 0; e && i < e->n_scen; i++) {
        const escen *s = &e->scen[i];
        if (s->btc_scen != btc_scen) continue;
        int rc = 0;
        /* the theft txs, once each (a tx moving ETH and USDT is listed once) */
        for (uint32_t k = 0; k < s->n_steps && !rc; k++) {
            const estep *p = &s->steps[k];
            if (p->kind != S_THEFT) continue;
            int seen = 0;
            for (uint32_t j = 0; j < k; j++)
                seen |= s->steps[j].kind == S_THEFT && !memcmp(s->steps[j].hash, p->hash, 32);
            if (seen) continue;
            char h[67];
            hex(h, p->hash, 32);
            rc = util_buf_printf(seeds, "%s%s", seeds->len ? ";" : "", h);
        }
        if (!rc && s->stolen_eth) rc = unit_amount(amounts, s->stolen_eth, 18, "ETH");
        if (!rc && s->stolen_usdt) rc = unit_amount(amounts, s->stolen_usdt, 6, "USDT");
        return rc ? UTIL_ENOMEM : 0;
    }
    return 0;
}
