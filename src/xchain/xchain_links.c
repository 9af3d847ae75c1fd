/* Link building: THORChain memos, bridges, mixer pools (docs/xchain.md). */
#include <stdlib.h>
#include <string.h>

#include "xchain.h"

const char *xchain_method_name(int m)
{
    static const char *names[XCHAIN_METHODS] = {"unknown",
                                                "thorchain_memo",
                                                "bridge_nonce",
                                                "bridge_value_window",
                                                "mixer_same_address",
                                                "mixer_linked_address",
                                                "mixer_unique_timing",
                                                "mixer_gas_price",
                                                "mixer_relayer_batch"};
    return m > 0 && m < XCHAIN_METHODS ? names[m] : "unknown";
}

int xchain_method_parse(const char *name)
{
    for (int m = 1; m < XCHAIN_METHODS; m++)
        if (!strcmp(name, xchain_method_name(m))) return m;
    return 0;
}

void xchain_links_free(xchain_links *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static xchain_link *link_new(xchain_links *l, util_err *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        xchain_link *v = realloc(l->v, nc * sizeof *v);
        if (!v) {
            util_errf(err, UTIL_ENOMEM, "out of memory");
            return NULL;
        }
        l->v = v, l->cap = nc;
    }
    xchain_link *k = &l->v[l->n++];
    memset(k, 0, sizeof *k);
    k->from.log_index = k->to.log_index = -1;
    return k;
}

/* ---- what the stores hold, gathered once ---- */

typedef struct ev_info {
    evm_event_row e;
    size_t store;
    uint8_t tx_hash[32], from[20];
    uint64_t time, block;
    uint32_t tx_index;
    evm_u256 gas_price, value;
} ev_info;

typedef struct btc_memo {
    xchain_memo m;
    uint64_t tx, out; /* the tx and its OP_RETURN output */
} btc_memo;

typedef struct ctx {
    const store *btc;
    evm_store *const *evms;
    size_t n_evm;
    xchain_opts o;
    ev_info *ev;
    size_t n_ev;
    btc_memo *bm;
    size_t n_bm;
    xchain_links *out;
} ctx;

static void chain_upper(char *out, size_t cap, const char *chain)
{
    size_t i = 0;
    for (; chain[i] && i + 1 < cap; i++)
        out[i] = (char)(chain[i] >= 'a' && chain[i] <= 'z' ? chain[i] - 32 : chain[i]);
    out[i] = 0;
}

static void evm_asset(char *out, size_t cap, const char *chain, const uint8_t token[20])
{
    static const uint8_t zero[20];
    if (!memcmp(token, zero, 20)) {
        chain_upper(out, cap, chain);
        return;
    }
    char hex[41];
    util_hex(hex, token, 20);
    snprintf(out, cap, "%s:0x%s", chain, hex);
}

static void end_evm(xchain_end *e, const ctx *c, const ev_info *v)
{
    snprintf(e->chain, sizeof e->chain, "%s", evm_store_chain(c->evms[v->store]));
    memcpy(e->hash, v->tx_hash, 32);
    e->tx = v->e.tx;
    e->log_index = v->e.log_index;
}

static void end_btc(xchain_end *e, const store *s, uint64_t tx)
{
    snprintf(e->chain, sizeof e->chain, "btc");
    memcpy(e->hash, store_tx_hash(s, tx), 32);
    e->tx = tx;
    e->log_index = -1;
}

/* Name the outputs of tx paying addr (all outputs but OP_RETURNs when addr is NULL); returns
 * their total value. */
static int64_t end_outputs(xchain_end *e, const store *s, uint64_t tx, const btc_addr *addr)
{
    store_tx_row r;
    store_tx(s, tx, &r);
    uint32_t n = store_tx_n_out(s, tx);
    int64_t sum = 0;
    int64_t aid = addr ? store_find_addr(s, addr) : -1;
    for (uint32_t k = 0; k < n && e->n_outs < XCHAIN_MAX_OUTS; k++) {
        uint64_t o = r.first_out + k;
        if (store_out_type(s, o) == BTC_NULLDATA) continue;
        if (addr && (aid < 0 || store_out_addr(s, o) != (uint32_t)aid)) continue;
        e->vout[e->n_outs] = k, e->out_id[e->n_outs++] = o;
        sum += store_out_value(s, o);
    }
    return sum;
}

static void u256_from_i64(evm_u256 *v, int64_t x)
{
    memset(v, 0, sizeof *v);
    v->w[0] = (uint64_t)x;
}

static int gather(ctx *c, char *warn, size_t cap, util_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < c->n_evm; i++)
        total += evm_store_event_count(c->evms[i]);
    c->ev = calloc(total ? total : 1, sizeof *c->ev);
    if (!c->ev) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_evm; i++) {
        evm_store *s = c->evms[i];
        if (!evm_store_has_events(s) && warn)
            snprintf(warn + strlen(warn), cap - strlen(warn),
                     "evm chain %s: format 1 store keeps no events (re-import it)\n",
                     evm_store_chain(s));
        uint64_t n = evm_store_event_count(s);
        for (uint64_t k = 0; k < n; k++) {
            ev_info *v = &c->ev[c->n_ev];
            int rc = evm_store_event(s, k, &v->e, err);
            evm_tx_row t;
            evm_block_row b;
            if (!rc) rc = evm_store_tx(s, v->e.tx, &t, err);
            if (!rc) rc = evm_store_block(s, t.block, &b, err);
            if (!rc) rc = evm_store_addr(s, t.from, v->from, err);
            if (rc) return rc;
            v->store = i;
            memcpy(v->tx_hash, t.hash, 32);
            v->time = b.timestamp, v->block = b.number, v->tx_index = t.index;
            v->gas_price = t.gas_price, v->value = t.value;
            c->n_ev++;
        }
    }
    if (!c->btc) return 0;
    if (!store_has_payloads(c->btc)) {
        if (warn)
            snprintf(warn + strlen(warn), cap - strlen(warn),
                     "bitcoin store is format 1: OP_RETURN payloads not kept, no Bitcoin-side "
                     "links (re-import it)\n");
        return 0;
    }
    uint64_t np = store_payload_count(c->btc);
    c->bm = calloc(np ? np : 1, sizeof *c->bm);
    if (!c->bm) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < np; i++) {
        uint64_t o;
        const uint8_t *p;
        size_t n;
        store_payload_at(c->btc, i, &o, &p, &n);
        btc_memo *b = &c->bm[c->n_bm];
        /* most OP_RETURNs are not memos (Omni, timestamps, ordinals): not an error */
        if (xchain_memo_parse((const char *)p, n, &b->m, NULL)) continue;
        b->out = o, b->tx = store_output_tx(c->btc, o);
        c->n_bm++;
    }
    return 0;
}

/* ---- THORChain ---- */

/* An outbound naming an inbound: a Bitcoin OP_RETURN (src 0, index into bm) or an EVM
 * TransferOut (src 1, index into ev), sorted by the hash it names. */
typedef struct outbound {
    uint8_t hash[32];
    int src, kind;
    size_t k;
} outbound;

static int cmp_outbound(const void *a, const void *b)
{
    const outbound *x = a, *y = b;
    int c = memcmp(x->hash, y->hash, 32);
    if (c) return c;
    if (x->src != y->src) return x->src - y->src;
    return x->k < y->k ? -1 : x->k > y->k;
}

typedef struct inbound {
    uint8_t hash[32]; /* as THORChain writes it: EVM hash, Bitcoin txid in display order */
    xchain_end from;
    xchain_memo memo;
    evm_u256 amount;
    char asset[48];
    int btc_sender_ok; /* Bitcoin inbound: sender known */
    btc_addr sender;
} inbound;

static int thorchain(ctx *c, util_err *err)
{
    size_t cap = c->n_ev + c->n_bm + 1;
    inbound *in = calloc(cap, sizeof *in);
    if (!in) return util_errf(err, UTIL_ENOMEM, "out of memory");
    size_t n_in = 0;
    for (size_t i = 0; i < c->n_ev; i++) {
        const ev_info *v = &c->ev[i];
        if (v->e.kind != EVM_EV_ROUTER_DEPOSIT) continue;
        inbound *b = &in[n_in];
        if (xchain_memo_parse(v->e.text, v->e.text_len, &b->memo, NULL) ||
            b->memo.kind != XCHAIN_MEMO_SWAP)
            continue;
        memcpy(b->hash, v->tx_hash, 32);
        end_evm(&b->from, c, v);
        b->amount = v->e.u[0];
        evm_asset(b->asset, sizeof b->asset, evm_store_chain(c->evms[v->store]), v->e.addr[1]);
        n_in++;
    }
    for (size_t i = 0; i < c->n_bm; i++) {
        const btc_memo *m = &c->bm[i];
        if (m->m.kind != XCHAIN_MEMO_SWAP) continue;
        inbound *b = &in[n_in++];
        b->memo = m->m;
        const uint8_t *h = store_tx_hash(c->btc, m->tx);
        for (int k = 0; k < 32; k++)
            b->hash[k] = h[31 - k];
        end_btc(&b->from, c->btc, m->tx);
        /* THORChain's inbound convention: the vault is paid by the first output */
        store_tx_row r;
        store_tx(c->btc, m->tx, &r);
        u256_from_i64(&b->amount, store_out_value(c->btc, r.first_out));
        b->from.vout[0] = 0, b->from.out_id[0] = r.first_out, b->from.n_outs = 1;
        snprintf(b->asset, sizeof b->asset, "BTC");
        uint64_t p =
            store_tx_n_in(c->btc, m->tx) ? store_in_prev(c->btc, r.first_in) : STORE_COINBASE;
        if (p < STORE_UNRESOLVED && store_out_addr(c->btc, p) != STORE_NO_ADDR) {
            store_addr(c->btc, store_out_addr(c->btc, p), &b->sender);
            b->btc_sender_ok = 1;
        }
    }
    outbound *ob = calloc(c->n_ev + c->n_bm + 1, sizeof *ob);
    if (!ob) {
        free(in);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    size_t n_ob = 0;
    for (size_t k = 0; k < c->n_bm; k++)
        if (c->bm[k].m.kind == XCHAIN_MEMO_OUT || c->bm[k].m.kind == XCHAIN_MEMO_REFUND) {
            memcpy(ob[n_ob].hash, c->bm[k].m.in_hash, 32);
            ob[n_ob].src = 0, ob[n_ob].kind = c->bm[k].m.kind, ob[n_ob++].k = k;
        }
    xchain_memo om;
    for (size_t k = 0; k < c->n_ev; k++)
        if (c->ev[k].e.kind == EVM_EV_ROUTER_TRANSFER_OUT &&
            !xchain_memo_parse(c->ev[k].e.text, c->ev[k].e.text_len, &om, NULL) &&
            (om.kind == XCHAIN_MEMO_OUT || om.kind == XCHAIN_MEMO_REFUND)) {
            memcpy(ob[n_ob].hash, om.in_hash, 32);
            ob[n_ob].src = 1, ob[n_ob].kind = om.kind, ob[n_ob++].k = k;
        }
    qsort(ob, n_ob, sizeof *ob, cmp_outbound);
    int rc = 0;
    for (size_t i = 0; i < n_in && !rc; i++) {
        inbound *b = &in[i];
        size_t first = 0, hi = n_ob;
        while (first < hi) {
            size_t mid = first + (hi - first) / 2;
            if (memcmp(ob[mid].hash, b->hash, 32) < 0)
                first = mid + 1;
            else
                hi = mid;
        }
        size_t last = first;
        while (last < n_ob && !memcmp(ob[last].hash, b->hash, 32))
            last++;
        /* outbounds naming this inbound: Bitcoin OP_RETURNs and EVM TransferOut events */
        uint32_t n_out = (uint32_t)(last - first);
        char hh[65];
        util_hex(hh, b->hash, 32);
        for (size_t q = first; q < last && !rc; q++) {
            if (ob[q].src != 0) continue;
            const btc_memo *m = &c->bm[ob[q].k];
            xchain_link *l = link_new(c->out, err);
            if (!l) {
                rc = err ? err->code : UTIL_ENOMEM;
                break;
            }
            l->method = XCHAIN_THORCHAIN_MEMO;
            l->from = b->from;
            l->amount_in = b->amount;
            snprintf(l->asset_in, sizeof l->asset_in, "%s", b->asset);
            end_btc(&l->to, c->btc, m->tx);
            snprintf(l->asset_out, sizeof l->asset_out, "BTC");
            const btc_addr *want = NULL;
            const char *who = "";
            if (m->m.kind == XCHAIN_MEMO_OUT && b->memo.dest_is_btc)
                want = &b->memo.dest_addr, who = "the memo's destination";
            else if (m->m.kind == XCHAIN_MEMO_REFUND && b->btc_sender_ok)
                want = &b->sender, who = "the inbound's sender";
            int64_t v = end_outputs(&l->to, c->btc, m->tx, want);
            l->candidates = n_out;
            l->confidence = 1.0;
            if (want && !l->to.n_outs) {
                /* the hash matches but the payee does not: anyone can write OUT:HASH */
                v = end_outputs(&l->to, c->btc, m->tx, NULL);
                l->confidence = 0.5;
                snprintf(l->rule, sizeof l->rule, "%s:%s in an OP_RETURN, but %s is not paid",
                         m->m.kind == XCHAIN_MEMO_OUT ? "OUT" : "REFUND", hh, who);
            } else if (!want && m->m.kind == XCHAIN_MEMO_OUT) {
                l->confidence = 0.5;
                snprintf(l->rule, sizeof l->rule,
                         "OUT:%s in an OP_RETURN; the memo's destination (%s) is not on Bitcoin",
                         hh, b->memo.asset);
            } else {
                snprintf(l->rule, sizeof l->rule, "%s:%s in an OP_RETURN paying %s (%s)",
                         m->m.kind == XCHAIN_MEMO_OUT ? "OUT" : "REFUND", hh, who,
                         m->m.kind == XCHAIN_MEMO_OUT ? b->memo.dest : "refund");
            }
            u256_from_i64(&l->amount_out, v);
        }
        for (size_t q = first; q < last && !rc; q++) {
            if (ob[q].src != 1) continue;
            const ev_info *v = &c->ev[ob[q].k];
            om.kind = ob[q].kind;
            xchain_link *l = link_new(c->out, err);
            if (!l) {
                rc = err ? err->code : UTIL_ENOMEM;
                break;
            }
            l->method = XCHAIN_THORCHAIN_MEMO;
            l->from = b->from;
            l->amount_in = b->amount;
            snprintf(l->asset_in, sizeof l->asset_in, "%s", b->asset);
            end_evm(&l->to, c, v);
            l->amount_out = v->e.u[0];
            evm_asset(l->asset_out, sizeof l->asset_out, evm_store_chain(c->evms[v->store]),
                      v->e.addr[2]);
            l->candidates = n_out;
            l->confidence = 1.0;
            char to[43];
            evm_addr_eip55(to, v->e.addr[1]);
            snprintf(l->rule, sizeof l->rule, "TransferOut memo %s:%s paying %s",
                     om.kind == XCHAIN_MEMO_OUT ? "OUT" : "REFUND", hh, to);
            if (om.kind == XCHAIN_MEMO_OUT && strcasecmp(b->memo.dest, to) != 0) {
                l->confidence = 0.5;
                snprintf(l->rule + strlen(l->rule), sizeof l->rule - strlen(l->rule),
                         ", not the memo's %s", b->memo.dest);
            }
        }
    }
    free(in);
    free(ob);
    return rc;
}

/* ---- bridges ---- */

/* Whether a token is a Bitcoin peg (symbol containing BTC, 8 decimals): then its amount is
 * comparable with satoshis. */
static int btc_pegged(evm_store *s, const uint8_t token[20])
{
    static const uint8_t zero[20];
    if (!memcmp(token, zero, 20)) return 0;
    for (uint32_t id = 1;; id++) {
        evm_token_meta m;
        if (evm_store_token(s, id, &m, NULL)) return 0;
        if (!memcmp(m.addr, token, 20)) return m.decimals == 8 && strstr(m.symbol, "BTC") != NULL;
    }
}

static int bridges(ctx *c, util_err *err)
{
    uint64_t window = c->o.bridge_window ? c->o.bridge_window : 3 * 86400;
    uint32_t fee_bps = c->o.bridge_fee_bps ? c->o.bridge_fee_bps : 300;
    for (size_t i = 0; i < c->n_ev; i++) {
        const ev_info *v = &c->ev[i];
        if (v->e.kind != EVM_EV_BRIDGE_DEPOSIT) continue;
        btc_addr to;
        if (!c->btc || btc_addr_decode(&to, v->e.text, NULL)) continue; /* not to Bitcoin */
        /* deposits sharing this one's (destChain, nonce): a release naming it is ambiguous
         * among them unless it also names the bridge contract */
        uint32_t same = 0, released = 0;
        for (size_t k = 0; k < c->n_ev; k++)
            same += c->ev[k].e.kind == EVM_EV_BRIDGE_DEPOSIT &&
                    !evm_u256_cmp(&c->ev[k].e.u[0], &v->e.u[0]) &&
                    !evm_u256_cmp(&c->ev[k].e.u[1], &v->e.u[1]);
        char nonce[EVM_U256_DEC_MAX], dchain[EVM_U256_DEC_MAX];
        evm_u256_format(nonce, &v->e.u[1]);
        evm_u256_format(dchain, &v->e.u[0]);
        char asset[48];
        evm_asset(asset, sizeof asset, evm_store_chain(c->evms[v->store]), v->e.addr[0]);
        for (size_t k = 0; k < c->n_bm; k++) {
            const btc_memo *m = &c->bm[k];
            if (m->m.kind != XCHAIN_MEMO_BRIDGE || evm_u256_cmp(&m->m.nonce, &v->e.u[1]) ||
                evm_u256_cmp(&m->m.dest_chain, &v->e.u[0]))
                continue;
            if (m->m.has_bridge && memcmp(m->m.bridge, v->e.contract, 20)) continue;
            xchain_link *l = link_new(c->out, err);
            if (!l) return err ? err->code : UTIL_ENOMEM;
            l->method = XCHAIN_BRIDGE_NONCE;
            end_evm(&l->from, c, v);
            l->amount_in = v->e.u[2];
            snprintf(l->asset_in, sizeof l->asset_in, "%s", asset);
            end_btc(&l->to, c->btc, m->tx);
            snprintf(l->asset_out, sizeof l->asset_out, "BTC");
            int64_t val = end_outputs(&l->to, c->btc, m->tx, &to);
            uint32_t cands = m->m.has_bridge ? 1 : same;
            l->candidates = cands;
            l->confidence = 1.0 / cands;
            if (!l->to.n_outs) {
                val = end_outputs(&l->to, c->btc, m->tx, NULL);
                l->confidence /= 2;
                snprintf(l->rule, sizeof l->rule,
                         "OP_RETURN BRIDGE:%.20s:%.30s names the deposit, but %.80s is not paid",
                         dchain, nonce, v->e.text);
            } else {
                snprintf(l->rule, sizeof l->rule, "OP_RETURN BRIDGE:%.20s:%.30s%s paying %.80s",
                         dchain, nonce, m->m.has_bridge ? " (bridge contract named)" : "",
                         v->e.text);
            }
            u256_from_i64(&l->amount_out, val);
            released++;
        }
        if (released) continue;
        /* no release names it: outputs paying the recipient inside the window */
        int64_t aid = store_find_addr(c->btc, &to);
        if (aid < 0) continue;
        int pegged = btc_pegged(c->evms[v->store], v->e.addr[0]);
        uint64_t cand_tx[64];
        uint32_t n_c = 0;
        for (uint64_t o = store_addr_last_out(c->btc, (uint32_t)aid); o != STORE_NONE;
             o = store_out_prev_same_addr(c->btc, o)) {
            uint64_t tx = store_output_tx(c->btc, o);
            uint32_t t = store_block(c->btc, store_tx_block(c->btc, tx))->time;
            if (t < v->time || t > v->time + window) continue;
            if (pegged) {
                evm_u256 val, lo;
                u256_from_i64(&val, store_out_value(c->btc, o));
                if (evm_u256_cmp(&val, &v->e.u[2]) > 0) continue;
                evm_u256_mul64(&lo, &v->e.u[2], 10000 - fee_bps);
                evm_u256 vv;
                evm_u256_mul64(&vv, &val, 10000);
                if (evm_u256_cmp(&vv, &lo) < 0) continue;
            }
            int seen = 0;
            for (uint32_t q = 0; q < n_c; q++)
                seen |= cand_tx[q] == tx;
            if (!seen && n_c < 64) cand_tx[n_c++] = tx;
        }
        for (uint32_t q = 0; q < n_c; q++) {
            xchain_link *l = link_new(c->out, err);
            if (!l) return err ? err->code : UTIL_ENOMEM;
            l->method = XCHAIN_BRIDGE_VALUE_WINDOW;
            end_evm(&l->from, c, v);
            l->amount_in = v->e.u[2];
            snprintf(l->asset_in, sizeof l->asset_in, "%s", asset);
            end_btc(&l->to, c->btc, cand_tx[q]);
            snprintf(l->asset_out, sizeof l->asset_out, "BTC");
            u256_from_i64(&l->amount_out, end_outputs(&l->to, c->btc, cand_tx[q], &to));
            l->candidates = n_c;
            l->confidence = 1.0 / n_c;
            snprintf(l->rule, sizeof l->rule, "pays %.80s within %llu s of deposit nonce %.20s%s",
                     v->e.text, (unsigned long long)window, nonce,
                     pegged ? ", value within the fee allowance"
                            : "; value not compared (no fixed rate to BTC)");
        }
    }
    return 0;
}

/* ---- mixer pools ---- */

static const uint8_t zero20[20];

static int cmp_addr(const void *a, const void *b)
{
    return memcmp(a, b, 20);
}

/* Every address that moved value directly to or from addr (fees excepted), sorted, into *out
 * (owned by the caller, free()). */
static int counterparties(evm_store *s, const uint8_t addr[20], uint8_t **out, size_t *n,
                          util_err *err)
{
    *out = NULL, *n = 0;
    uint32_t ia;
    if (evm_store_find_addr(s, addr, &ia, NULL)) return 0;
    size_t cap = 0;
    uint64_t x;
    int rc = evm_store_addr_head(s, ia, &x, err);
    while (!rc && x != EVM_NONE64) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(s, x, &r, err))) break;
        uint32_t other = r.from == ia ? r.to : r.from;
        if (r.kind != EVM_XFER_FEE && other != EVM_NONE32 && other != ia) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                uint8_t *p = realloc(*out, cap * 20);
                if (!p) {
                    rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                    break;
                }
                *out = p;
            }
            if ((rc = evm_store_addr(s, other, *out + 20 * *n, err))) break;
            (*n)++;
        }
        rc = evm_store_addr_next(s, ia, x, &x, err);
    }
    if (rc) {
        free(*out);
        *out = NULL, *n = 0;
        return rc;
    }
    if (*n) qsort(*out, *n, 20, cmp_addr);
    return 0;
}

/* Deposits in pool order: store, contract, then chain order (block, tx index, log index). */
typedef struct pool_key {
    size_t store;
    uint8_t contract[20];
    uint64_t block;
    uint32_t tx_index, log_index;
    size_t i;
} pool_key;

static int cmp_pool_key(const void *a, const void *b)
{
    const pool_key *x = a, *y = b;
    if (x->store != y->store) return x->store < y->store ? -1 : 1;
    int c = memcmp(x->contract, y->contract, 20);
    if (c) return c;
    if (x->block != y->block) return x->block < y->block ? -1 : 1;
    if (x->tx_index != y->tx_index) return x->tx_index < y->tx_index ? -1 : 1;
    return x->log_index < y->log_index ? -1 : x->log_index > y->log_index;
}

static int same_pool(const ev_info *d, const ev_info *w)
{
    return d->store == w->store && !memcmp(d->e.contract, w->e.contract, 20);
}

static int before(const ev_info *d, const ev_info *w)
{
    return same_pool(d, w) &&
           (d->block < w->block || (d->block == w->block && d->tx_index < w->tx_index));
}

/* The deposits of w's pool that come before w: dep[*lo .. *hi). */
static void pool_prefix(const ctx *c, const size_t *dep, size_t nd, const ev_info *w, size_t *lo,
                        size_t *hi)
{
    size_t a = 0, b = nd;
    while (a < b) { /* first deposit of the pool */
        size_t m = a + (b - a) / 2;
        const ev_info *d = &c->ev[dep[m]];
        int k = d->store != w->store ? (d->store < w->store ? -1 : 1)
                                     : memcmp(d->e.contract, w->e.contract, 20);
        if (k < 0)
            a = m + 1;
        else
            b = m;
    }
    *lo = a;
    b = nd;
    while (a < b) { /* first one not before w */
        size_t m = a + (b - a) / 2;
        if (before(&c->ev[dep[m]], w))
            a = m + 1;
        else
            b = m;
    }
    *hi = a;
}

static int mixer_link(ctx *c, int method, const ev_info *d, const ev_info *w, uint32_t cands,
                      double conf, const char *rule, util_err *err)
{
    xchain_link *l = link_new(c->out, err);
    if (!l) return err ? err->code : UTIL_ENOMEM;
    l->method = method;
    end_evm(&l->from, c, d);
    end_evm(&l->to, c, w);
    const char *chain = evm_store_chain(c->evms[d->store]);
    l->amount_in = d->value;
    evm_u256_sub(&l->amount_out, &d->value, &w->e.u[0]); /* the relayer's fee stays behind */
    evm_asset(l->asset_in, sizeof l->asset_in, chain, zero20);
    evm_asset(l->asset_out, sizeof l->asset_out, chain, zero20);
    l->candidates = cands;
    l->confidence = conf;
    snprintf(l->rule, sizeof l->rule, "%s", rule);
    return 0;
}

/* Rules 1-4 for one withdrawal; dep[lo, hi) are its pool's earlier deposits. */
static int mixer_rules(ctx *c, const ev_info *w, const size_t *dep, size_t lo, size_t hi,
                       size_t pool_end, size_t *sel, util_err *err)
{
    uint64_t win = c->o.mixer_window ? c->o.mixer_window : 86400;
    evm_store *s = c->evms[w->store];
    int relayed = memcmp(w->e.addr[1], zero20, 20) != 0;
    /* the withdrawer: the recipient, and the caller when it is not a relayer */
    const uint8_t *who[2] = {w->e.addr[0], relayed ? NULL : w->from};
    char rule[200], a1[43], gp[EVM_U256_DEC_MAX];
    int rc = 0;
    /* 1. same address */
    size_t n = 0;
    for (size_t k = lo; k < hi; k++) {
        const ev_info *d = &c->ev[dep[k]];
        if (!memcmp(d->from, who[0], 20) || (who[1] && !memcmp(d->from, who[1], 20)))
            sel[n++] = dep[k];
    }
    for (size_t q = 0; q < n && !rc; q++) {
        evm_addr_eip55(a1, c->ev[sel[q]].from);
        snprintf(rule, sizeof rule, "%s deposited and withdraws (recipient or caller)", a1);
        rc = mixer_link(c, XCHAIN_MIXER_SAME_ADDRESS, &c->ev[sel[q]], w, (uint32_t)n,
                        0.9 / (double)n, rule, err);
    }
    /* 2. linked by a direct transfer: the withdrawers' counterparties, then a look-up each */
    uint8_t *cp[2] = {NULL, NULL};
    size_t ncp[2] = {0, 0};
    for (int j = 0; j < 2 && !rc; j++)
        if (who[j]) rc = counterparties(s, who[j], &cp[j], &ncp[j], err);
    n = 0;
    for (size_t k = lo; k < hi && !rc; k++) {
        const ev_info *d = &c->ev[dep[k]];
        for (int j = 0; j < 2; j++)
            if (who[j] && memcmp(d->from, who[j], 20) && ncp[j] &&
                bsearch(d->from, cp[j], ncp[j], 20, cmp_addr)) {
                sel[n++] = dep[k];
                break;
            }
    }
    free(cp[0]), free(cp[1]);
    for (size_t q = 0; q < n && !rc; q++) {
        evm_addr_eip55(a1, c->ev[sel[q]].from);
        snprintf(rule, sizeof rule,
                 "depositor %s and the withdrawer moved value directly to each other", a1);
        rc = mixer_link(c, XCHAIN_MIXER_LINKED_ADDRESS, &c->ev[sel[q]], w, (uint32_t)n,
                        0.7 / (double)n, rule, err);
    }
    /* 3. the only deposit of the pool in the window before the withdrawal */
    n = 0;
    for (size_t k = hi; k-- > lo && c->ev[dep[k]].time + win >= w->time;)
        sel[n++] = dep[k];
    if (n == 1 && !rc) {
        snprintf(rule, sizeof rule, "the pool's only deposit in the %llu s before",
                 (unsigned long long)win);
        rc = mixer_link(c, XCHAIN_MIXER_UNIQUE_TIMING, &c->ev[sel[0]], w, 1, 0.5, rule, err);
    }
    /* 4. the same gas price as exactly one of the pool's deposits (a relayer sets its own) */
    if (!relayed && !rc) {
        size_t same = 0, hit = 0;
        for (size_t k = lo; k < pool_end && same < 2; k++)
            if (!evm_u256_cmp(&c->ev[dep[k]].gas_price, &w->gas_price)) same++, hit = dep[k];
        if (same == 1 && before(&c->ev[hit], w)) {
            evm_u256_format(gp, &w->gas_price);
            snprintf(rule, sizeof rule, "gas price %s wei, no other deposit of the pool's", gp);
            rc = mixer_link(c, XCHAIN_MIXER_GAS_PRICE, &c->ev[hit], w, 1, 0.6, rule, err);
        }
    }
    return rc;
}

/* 5. Relayed bursts: withdrawals of one pool through one relayer, each within rwin of the
 * previous, matched with the depositors who made at least as many deposits before it. */
static int mixer_bursts(ctx *c, const size_t *dep, size_t nd, size_t *sel, util_err *err)
{
    uint64_t rwin = c->o.relayer_window ? c->o.relayer_window : 3600;
    char rule[200], a1[43], a2[43];
    int rc = 0;
    uint8_t *addrs = malloc(20 * (nd + 1));
    if (!addrs) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_ev && !rc; i++) {
        const ev_info *w = &c->ev[i];
        if (w->e.kind != EVM_EV_MIXER_WITHDRAWAL || !memcmp(w->e.addr[1], zero20, 20)) continue;
        /* the burst, if w starts one (events are in chain order) */
        size_t burst[64], nb = 0;
        uint64_t last = w->time;
        int starts = 1;
        for (size_t k = i; k-- > 0 && starts;) {
            const ev_info *p = &c->ev[k];
            if (p->store != w->store || p->time + rwin < w->time) break;
            if (p->e.kind == EVM_EV_MIXER_WITHDRAWAL && same_pool(p, w) &&
                !memcmp(p->e.addr[1], w->e.addr[1], 20))
                starts = 0;
        }
        if (!starts) continue;
        for (size_t k = i; k < c->n_ev && nb < 64; k++) {
            const ev_info *p = &c->ev[k];
            if (p->store != w->store || p->time > last + rwin) break;
            if (p->e.kind != EVM_EV_MIXER_WITHDRAWAL || !same_pool(p, w) ||
                memcmp(p->e.addr[1], w->e.addr[1], 20))
                continue;
            burst[nb++] = k, last = p->time;
        }
        if (nb < 2) continue;
        /* depositors with >= nb deposits in the pool before the burst */
        size_t lo, hi;
        pool_prefix(c, dep, nd, w, &lo, &hi);
        for (size_t k = lo; k < hi; k++)
            memcpy(addrs + 20 * (k - lo), c->ev[dep[k]].from, 20);
        qsort(addrs, hi - lo, 20, cmp_addr);
        size_t n = 0, n_who = 0;
        for (size_t k = lo; k < hi; k++) {
            const uint8_t *f = c->ev[dep[k]].from;
            const uint8_t *p = bsearch(f, addrs, hi - lo, 20, cmp_addr);
            while (p > addrs && !memcmp(p - 20, f, 20))
                p -= 20;
            size_t cnt = 0;
            while (p + 20 * cnt < addrs + 20 * (hi - lo) && !memcmp(p + 20 * cnt, f, 20))
                cnt++;
            if (cnt < nb) continue;
            sel[n++] = dep[k];
            int first = 1; /* count each depositor once: is this its first deposit? */
            for (size_t j = lo; j < k && first; j++)
                first = memcmp(c->ev[dep[j]].from, f, 20) != 0;
            n_who += first;
        }
        if (!n || n_who > 3) continue; /* nobody, or too many to say anything */
        evm_addr_eip55(a2, w->e.addr[1]);
        for (size_t q = 0; q < n && !rc; q++) {
            evm_addr_eip55(a1, c->ev[sel[q]].from);
            snprintf(rule, sizeof rule,
                     "%zu withdrawals relayed by %s in a burst after %s's %zu+ deposits", nb, a2,
                     a1, nb);
            for (size_t b = 0; b < nb && !rc; b++)
                rc = mixer_link(c, XCHAIN_MIXER_RELAYER_BATCH, &c->ev[sel[q]], &c->ev[burst[b]],
                                (uint32_t)n, 1.0 / (double)n, rule, err);
        }
    }
    free(addrs);
    return rc;
}

static int mixers(ctx *c, util_err *err)
{
    size_t *dep = calloc(c->n_ev + 1, sizeof *dep), *sel = calloc(c->n_ev + 1, sizeof *sel);
    if (!dep || !sel) {
        free(dep), free(sel);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    pool_key *keys = calloc(c->n_ev + 1, sizeof *keys);
    if (!keys) {
        free(dep), free(sel);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    size_t nd = 0;
    for (size_t i = 0; i < c->n_ev; i++) {
        const ev_info *v = &c->ev[i];
        if (v->e.kind != EVM_EV_MIXER_DEPOSIT) continue;
        pool_key *k = &keys[nd++];
        k->store = v->store, k->block = v->block, k->tx_index = v->tx_index;
        k->log_index = v->e.log_index, k->i = i;
        memcpy(k->contract, v->e.contract, 20);
    }
    qsort(keys, nd, sizeof *keys, cmp_pool_key);
    for (size_t k = 0; k < nd; k++)
        dep[k] = keys[k].i;
    free(keys);
    int rc = 0;
    for (size_t i = 0; i < c->n_ev && !rc; i++) {
        const ev_info *w = &c->ev[i];
        if (w->e.kind != EVM_EV_MIXER_WITHDRAWAL) continue;
        size_t lo, hi, end = 0;
        pool_prefix(c, dep, nd, w, &lo, &hi);
        for (end = hi; end < nd && same_pool(&c->ev[dep[end]], w);)
            end++;
        rc = mixer_rules(c, w, dep, lo, hi, end, sel, err);
    }
    if (!rc) rc = mixer_bursts(c, dep, nd, sel, err);
    free(dep), free(sel);
    return rc;
}

int xchain_links_build(const store *btc, evm_store *const *evms, size_t n_evm, const xchain_opts *o,
                       xchain_links *out, char *warn, size_t cap, util_err *err)
{
    memset(out, 0, sizeof *out);
    if (warn && cap) warn[0] = 0;
    ctx c = {.btc = btc, .evms = evms, .n_evm = n_evm, .out = out};
    if (o) c.o = *o;
    int rc = gather(&c, warn, cap, err);
    if (!rc) rc = thorchain(&c, err);
    if (!rc) rc = bridges(&c, err);
    if (!rc) rc = mixers(&c, err);
    free(c.ev);
    free(c.bm);
    if (rc) xchain_links_free(out);
    return rc;
}

/* ---- look-ups for the tracers ---- */

static int end_is(const xchain_end *e, const char *chain, const uint8_t hash[32])
{
    return !strcmp(e->chain, chain) && !memcmp(e->hash, hash, 32);
}

size_t xchain_links_from(const xchain_links *l, const char *chain, const uint8_t hash[32],
                         size_t *idx, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (end_is(&l->v[i].from, chain, hash)) {
            if (n < cap) idx[n] = i;
            n++;
        }
    return n;
}

size_t xchain_links_touching(const xchain_links *l, const char *chain, const uint8_t hash[32],
                             size_t *idx, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (end_is(&l->v[i].from, chain, hash) || end_is(&l->v[i].to, chain, hash)) {
            if (n < cap) idx[n] = i;
            n++;
        }
    return n;
}
