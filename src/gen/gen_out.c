/* gen_out: the truth file (JSON Lines via jansson) and the investigator's partial labels. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

static void addr_str(const gen *g, uint32_t id, char out[128])
{
    btc_addr b;
    gen_addr_to_btc(g, id, &b);
    btc_addr_encode(out, &b);
}

static void outpoint_str(char out[80], const uint8_t txid[32], uint32_t n)
{
    char hex[65];
    util_hash_hex(hex, txid);
    snprintf(out, 80, "%s:%u", hex, n);
}

/* Write one JSON object as a line; takes ownership of obj. */
static int put_line(gen *g, FILE *f, json_t *obj, const char *path)
{
    if (!obj) return g->oom = 1, UTIL_ENOMEM;
    int rc = json_dumpf(obj, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (rc || fputc('\n', f) == EOF)
        return util_errf(g->err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

static json_t *jhash(const uint8_t h[32])
{
    char hex[65];
    util_hash_hex(hex, h);
    return json_string(hex);
}

static json_t *totals(const gen *g)
{
    const gen_stats *s = &g->st;
    json_t *o = json_object(), *bt = json_object();
    json_object_set_new(o, "kind", json_string("totals"));
    json_object_set_new(o, "blocks", json_integer((json_int_t)s->blocks));
    json_object_set_new(o, "txs", json_integer((json_int_t)s->txs));
    json_object_set_new(o, "inputs", json_integer((json_int_t)s->inputs));
    json_object_set_new(o, "outputs", json_integer((json_int_t)s->outputs));
    json_object_set_new(o, "total_output_value", json_integer(s->total_output_value));
    json_object_set_new(o, "total_fees", json_integer(s->total_fees));
    json_object_set_new(o, "utxo_count", json_integer((json_int_t)s->utxo_count));
    json_object_set_new(o, "utxo_value", json_integer(s->utxo_value));
    json_object_set_new(o, "addresses", json_integer((json_int_t)s->addresses));
    for (int t = 1; t < BTC_NSCRIPT_TYPES; t++)
        json_object_set_new(bt, btc_script_type_name(t),
                            json_integer((json_int_t)s->outputs_by_type[t]));
    json_object_set_new(bt, btc_script_type_name(0),
                        json_integer((json_int_t)s->outputs_by_type[0]));
    json_object_set_new(o, "outputs_by_type", bt);
    json_object_set_new(o, "tip_hash", jhash(s->tip_hash));
    return o;
}

static json_t *meta(const gen *g)
{
    const gen_config *c = &g->cfg;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string("meta"));
    json_object_set_new(o, "generator", json_string("cointrail generate"));
    json_object_set_new(o, "format", json_integer(1));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(o, "blocks", json_integer(c->blocks));
    json_object_set_new(o, "txs_per_block", json_integer(c->txs_per_block));
    json_object_set_new(o, "users", json_integer(c->users));
    json_object_set_new(o, "exchanges", json_integer(c->exchanges));
    json_object_set_new(o, "merchants", json_integer(c->merchants));
    json_object_set_new(o, "miners", json_integer(c->miners));
    json_object_set_new(o, "scenarios", json_integer(c->scenarios));
    json_object_set_new(o, "halving_interval", json_integer(c->halving_interval));
    json_object_set_new(o, "maturity", json_integer(c->maturity));
    json_object_set_new(o, "reuse_rate", json_real(c->reuse_rate));
    json_object_set_new(o, "privacy_rate", json_real(c->privacy_rate));
    json_object_set_new(o, "coinjoin_rate", json_real(c->coinjoin_rate));
    json_object_set_new(o, "era_start", json_real(c->era_start));
    json_object_set_new(o, "era_end", json_real(c->era_end));
    if (c->generic_rounds > 0)
        json_object_set_new(o, "generic_rounds", json_real(c->generic_rounds));
    if (c->lookalikes > 0) json_object_set_new(o, "lookalikes", json_real(c->lookalikes));
    if (c->tx0_discount > 0) json_object_set_new(o, "tx0_discount", json_real(c->tx0_discount));
    if (c->swap_returns > 0) json_object_set_new(o, "swap_returns", json_real(c->swap_returns));
    if (c->thief_remix > 0) json_object_set_new(o, "thief_remix", json_real(c->thief_remix));
    if (gen_thief_truth(c)) json_object_set_new(o, "thief_truth", json_true());
    json_object_set_new(o, "xor", json_boolean(c->xor_files));
    json_object_set_new(o, "files", json_integer(g->st.files));
    json_object_set_new(o, "bytes", json_integer((json_int_t)g->st.bytes));
    json_object_set_new(o, "coinjoins", json_integer((json_int_t)g->st.coinjoins));
    json_object_set_new(o, "entities", json_integer(g->n_ents));
    if (g->cfg.evm) {
        json_object_set_new(o, "evm", json_true());
        json_object_set_new(o, "evm_scenarios", json_integer(g->cfg.evm_scenarios));
        json_object_set_new(o, "evm_txs_per_block", json_real(g->cfg.evm_txs_per_block));
        if (g->cfg.evm_services)
            json_object_set_new(o, "evm_services", json_integer(g->cfg.evm_services));
    }
    return o;
}

static json_t *entity(const gen *g, uint32_t i)
{
    const gen_entity *e = &g->ents[i];
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string("entity"));
    json_object_set_new(o, "id", json_integer(i));
    json_object_set_new(o, "type", json_string(gen_kind_names[e->kind]));
    json_object_set_new(o, "name", json_string(e->name));
    if (e->kind == GEN_K_USER) {
        json_object_set_new(o, "privacy", json_boolean(e->flags & GEN_F_PRIVACY));
        json_object_set_new(o, "maker", json_boolean(e->flags & GEN_F_MAKER));
    }
    if (e->kind == GEN_K_MERCHANT) json_object_set_new(o, "exchange", json_integer(e->home));
    if (e->kind == GEN_K_THIEF) json_object_set_new(o, "scenario", json_integer(e->home + 1));
    if (e->kind == GEN_K_MIXER)
        json_object_set_new(o, "implementation", json_string(gen_cj_names[e->home]));
    json_object_set_new(o, "address_count", json_integer(e->addrs.n));
    if (e->kind != GEN_K_USER || g->cfg.user_addresses) {
        json_t *a = json_array();
        char s[128];
        for (uint32_t k = 0; k < e->addrs.n; k++) {
            addr_str(g, e->addrs.v[k], s);
            json_array_append_new(a, json_string(s));
        }
        json_object_set_new(o, "addresses", a);
    }
    return o;
}

static const char *const batch_names[] = {"", "payroll", "payout"};

static json_t *coinjoin(const gen *g, const gen_cjrec *r)
{
    json_t *o = json_object();
    if (r->batch) {
        /* One payer's batch with equal outputs: what a CoinJoin detector must not flag. */
        json_object_set_new(o, "kind", json_string("batch"));
        json_object_set_new(o, "txid", jhash(r->txid));
        json_object_set_new(o, "type", json_string(batch_names[r->batch]));
        json_object_set_new(o, "payer", json_integer(r->payer));
        json_object_set_new(o, "payer_name", json_string(g->ents[r->payer].name));
        json_object_set_new(o, "height", json_integer(r->height));
        json_object_set_new(o, "inputs", json_integer(r->n_in));
        json_object_set_new(o, "outputs", json_integer(r->n_out));
        json_object_set_new(o, "equal_outputs", json_integer(r->n_equal));
        json_object_set_new(o, "value", json_integer(r->denom));
        return o;
    }
    json_object_set_new(o, "kind", json_string(r->tx0 ? "whirlpool_tx0" : "coinjoin"));
    json_object_set_new(o, "txid", jhash(r->txid));
    if (!r->tx0) json_object_set_new(o, "implementation", json_string(gen_cj_impl_name(r->impl)));
    json_object_set_new(o, "height", json_integer(r->height));
    json_object_set_new(o, "inputs", json_integer(r->n_in));
    json_object_set_new(o, "outputs", json_integer(r->n_out));
    if (r->denom) json_object_set_new(o, r->tx0 ? "pool" : "denomination", json_integer(r->denom));
    if (r->tx0 && r->discount) json_object_set_new(o, "fee_discount", json_integer(r->discount));
    return o;
}

static json_t *scenario(const gen *g, uint32_t k)
{
    const gen_scen *s = &g->scen[k];
    json_t *o = json_object(), *src = json_array(), *steps = json_array(), *ends = json_array();
    json_object_set_new(o, "kind", json_string("scenario"));
    json_object_set_new(o, "id", json_integer(k + 1));
    json_object_set_new(o, "name", json_string(g->ents[s->thief].name));
    if (k < g->cfg.scenarios)
        json_object_set_new(o, "model",
                            json_string("DPRK exchange hot-wallet theft: split, peel chains, "
                                        "CoinJoin, hops, swap/bridge, exchange and OTC cash-out"));
    else {
        json_object_set_new(o, "model",
                            json_string("DPRK EVM theft (Bybit 2025 / Ronin 2022): THORChain "
                                        "swap and bridge legs into Bitcoin, then split, peel "
                                        "chains, CoinJoin, hops, cash-out"));
        json_object_set_new(o, "evm_scenario", json_integer(k - g->cfg.scenarios + 1));
    }
    json_object_set_new(o, "thief", json_integer(s->thief));
    json_object_set_new(o, "victim", s->victim == GEN_NONE ? json_null() : json_integer(s->victim));
    json_object_set_new(o, "start_height",
                        s->theft_done && s->victim != GEN_NONE ? json_integer(s->start)
                                                               : json_null());
    char date[11];
    gen_scen_date(g, s->start, date);
    int happened = s->theft_done && s->victim != GEN_NONE;
    json_object_set_new(o, "date", happened ? json_string(date) : json_null());
    json_object_set_new(o, "actor", json_string(gen_scen_actor(k)));
    json_object_set_new(o, "stolen", json_integer(s->stolen));
    char buf[80];
    for (uint32_t i = 0; i < s->n_sources; i++) {
        outpoint_str(buf, s->sources[i], util_le32(s->sources[i] + 32));
        json_array_append_new(src, json_string(buf));
    }
    json_object_set_new(o, "sources", src);
    for (uint32_t i = 0; i < s->n_steps; i++) {
        const gen_steprec *r = &s->steps[i];
        json_t *st = json_object();
        json_object_set_new(st, "txid", jhash(r->txid));
        json_object_set_new(st, "kind", json_string(gen_step_names[r->kind]));
        json_object_set_new(st, "height", json_integer(r->height));
        if (r->kind == GEN_ST_COINJOIN || r->kind == GEN_ST_TX0)
            json_object_set_new(st, "implementation", json_string(gen_cj_names[r->impl]));
        json_array_append_new(steps, st);
    }
    json_object_set_new(o, "steps", steps);
    int64_t total = 0, remaining = 0;
    for (uint32_t i = 0; i < s->n_ends; i++) {
        const gen_endpoint *e = &s->ends[i];
        json_t *eo = json_object();
        json_object_set_new(eo, "entity", json_integer(e->entity));
        json_object_set_new(eo, "name", json_string(g->ents[e->entity].name));
        json_object_set_new(eo, "type", json_string(gen_kind_names[g->ents[e->entity].kind]));
        json_object_set_new(eo, "value", json_integer(e->value));
        json_object_set_new(eo, "deposits", json_integer(e->deposits));
        json_array_append_new(ends, eo);
        total += e->value;
    }
    json_object_set_new(o, "endpoints", ends);
    json_object_set_new(o, "endpoint_total", json_integer(total));
    json_object_set_new(o, "fees", json_integer(s->fees));
    json_t *left = json_array();
    for (uint32_t i = 0; i < s->n_jobs; i++) {
        const gen_job *j = &s->jobs[i];
        if (j->stage == GEN_J_DEAD || j->stage == GEN_J_SWAPRET) continue; /* at the service */
        const gen_utxo *u = &g->utxos[j->slot];
        remaining += u->value;
        outpoint_str(buf, u->txid, u->vout);
        json_array_append_new(left, json_string(buf));
    }
    json_object_set_new(o, "remaining", json_integer(remaining));
    json_object_set_new(o, "remaining_outputs", left);
    return o;
}

static json_t *outrec(const gen *g, const char *kind, uint32_t k, const gen_outrec *r)
{
    char buf[80];
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "scenario", json_integer(k + 1));
    outpoint_str(buf, r->txid, r->vout);
    json_object_set_new(o, "output", json_string(buf));
    json_object_set_new(o, "height", json_integer(r->height));
    json_object_set_new(o, "value", json_integer(r->value));
    if (!strcmp(kind, "thief_deposit")) {
        json_object_set_new(o, "entity", json_integer(r->entity));
        json_object_set_new(o, "type", json_string(gen_kind_names[g->ents[r->entity].kind]));
    } else {
        json_object_set_new(o, "implementation", json_string(gen_cj_names[r->impl]));
        json_object_set_new(o, "tx0", json_boolean(r->tx0));
    }
    return o;
}

static json_t *swaprec(uint32_t k, const gen_swaprec *r)
{
    char buf[80];
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string("swap_return"));
    json_object_set_new(o, "scenario", json_integer(k + 1));
    outpoint_str(buf, r->dep, r->dep_vout);
    json_object_set_new(o, "deposit", json_string(buf));
    json_object_set_new(o, "deposit_height", json_integer(r->dep_height));
    json_object_set_new(o, "deposit_value", json_integer(r->dep_value));
    outpoint_str(buf, r->pay, r->pay_vout);
    json_object_set_new(o, "payout", json_string(buf));
    json_object_set_new(o, "payout_height", json_integer(r->pay_height));
    json_object_set_new(o, "payout_value", json_integer(r->pay_value));
    return o;
}

/* The thieves' per-output truth (gen_thief_truth): what each deposited where, which outputs of
 * CoinJoins and Tx0s were its own, and which swap payouts returned its deposits. */
static int thief_lines(gen *g, FILE *f, const char *path)
{
    int rc = 0;
    for (uint32_t k = 0; !rc && k < g->n_scen; k++) {
        const gen_scen *s = &g->scen[k];
        for (uint32_t i = 0; !rc && i < s->n_deps; i++)
            rc = put_line(g, f, outrec(g, "thief_deposit", k, &s->deps[i]), path);
        for (uint32_t i = 0; !rc && i < s->n_mixouts; i++)
            rc = put_line(g, f, outrec(g, "thief_mix_output", k, &s->mixouts[i]), path);
        for (uint32_t i = 0; !rc && i < s->n_swaps; i++)
            rc = put_line(g, f, swaprec(k, &s->swaps[i]), path);
    }
    return rc;
}

int gen_write_truth(gen *g)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/truth.jsonl", g->cfg.out_dir);
    FILE *f = fopen(path, "w");
    if (!f) return util_errf(g->err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
    int rc = put_line(g, f, meta(g), path);
    if (!rc) rc = put_line(g, f, totals(g), path);
    for (uint32_t i = 0; !rc && i < g->n_ents; i++)
        rc = put_line(g, f, entity(g, i), path);
    for (uint32_t i = 0; !rc && i < g->n_cj; i++)
        rc = put_line(g, f, coinjoin(g, &g->cj[i]), path);
    for (uint32_t i = 0; !rc && i < g->n_scen; i++)
        rc = put_line(g, f, scenario(g, i), path);
    if (!rc && gen_thief_truth(&g->cfg)) rc = thief_lines(g, f, path);
    if (!rc && g->cfg.evm) rc = gen_evm_write_truth(g, f, path);
    if (fclose(f) && !rc)
        rc = util_errf(g->err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    return rc;
}

/* ---- labels: what an investigator would have, partial on purpose ---- */

static int label(FILE *f, const gen *g, uint32_t addr, const char *category, const char *actor,
                 const char *source, double conf)
{
    char s[128];
    if (addr == GEN_NONE || !g->addrs[addr].used) return 0;
    addr_str(g, addr, s);
    /* Names here never hold commas or quotes, so no CSV quoting is needed. */
    return fprintf(f, "btc,%s,%s,%s,%s,%.2f\n", s, category, actor, source, conf) < 0;
}

int gen_write_labels(gen *g)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/labels.csv", g->cfg.out_dir);
    FILE *f = fopen(path, "w");
    if (!f) return util_errf(g->err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
    gen_rng r;
    gen_rng_seed(&r, g->cfg.seed ^ 0x6c6162656c73ULL);
    int bad = fprintf(f, "chain,address,category,actor,source,confidence\n") < 0;
    for (uint32_t i = 0; i < g->n_ents && !bad; i++) {
        const gen_entity *e = &g->ents[i];
        switch (e->kind) {
        case GEN_K_EXCHANGE: {
            bad |= label(f, g, e->fixed[0], "exchange", e->name, "exchange attribution", 0.95);
            bad |= label(f, g, e->fixed[1], "exchange", e->name, "exchange attribution", 0.9);
            /* Deposit addresses known from test deposits and subpoenas: about a third. */
            uint32_t n = 0;
            for (uint32_t k = 0; k < e->addrs.n && n < 5000 && !bad; k++) {
                uint32_t a = e->addrs.v[k];
                if (a == e->fixed[0] || a == e->fixed[1] || !gen_chance(&r, 0.3)) continue;
                bad |= label(f, g, a, "exchange", e->name, "test deposits", 0.8);
                n++;
            }
            break;
        }
        case GEN_K_MINER:
            bad |= label(f, g, e->fixed[0], "miner", e->name, "coinbase tag", 0.9);
            break;
        case GEN_K_MIXER:
            for (int k = 0; k < 4; k++)
                bad |= label(f, g, e->fixed[k], "mixer", e->name, "coordinator fee address", 1.0);
            break;
        case GEN_K_OTC:
        case GEN_K_SWAP:
        case GEN_K_BRIDGE: {
            const char *cat = e->kind == GEN_K_OTC    ? "otc"
                              : e->kind == GEN_K_SWAP ? "swap"
                                                      : "bridge";
            bad |= label(f, g, e->fixed[0], cat, e->name, "service attribution", 0.9);
            bad |= label(f, g, e->fixed[3], cat, e->name, "bridge custody address", 1.0);
            for (uint32_t k = 0; k < e->addrs.n && !bad; k++) {
                uint32_t a = e->addrs.v[k];
                if (a == e->fixed[0] || a == e->fixed[3] || !gen_chance(&r, 0.5)) continue;
                bad |= label(f, g, a, cat, e->name, "service attribution", 0.7);
            }
            break;
        }
        case GEN_K_THIEF: {
            const gen_scen *s = &g->scen[e->home];
            /* The victim's incident report names the addresses that received the theft; a
             * later sanctions listing names a few of the laundering addresses. */
            for (uint32_t k = 0; k < e->addrs.n && !bad; k++) {
                if (k < s->n_sources)
                    bad |= label(f, g, e->addrs.v[k], "theft", "Lazarus Group",
                                 "victim incident report", 1.0);
                else if (gen_chance(&r, 0.05))
                    bad |= label(f, g, e->addrs.v[k], "sanctioned", "Lazarus Group",
                                 "OFAC SDN (simulated)", 1.0);
            }
            break;
        }
        default:
            break;
        }
    }
    if (!bad && g->cfg.evm) bad = gen_evm_write_labels(g, f) != 0;
    if (fclose(f) || bad)
        return util_errf(g->err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
