/* JSON answers over the EVM store, shared by the CLI and (later) the API. */
#include <stdlib.h>
#include <string.h>

#include "evmquery.h"

static json_t *u256_json(const evm_u256 *v)
{
    char d[EVM_U256_DEC_MAX];
    evm_u256_format(d, v);
    return json_string(d);
}

static json_t *addr_json(const evm_store *s, uint32_t id)
{
    uint8_t a[20];
    if (id == EVM_NONE32 || evm_store_addr(s, id, a, NULL)) return json_null();
    char t[43];
    evm_addr_eip55(t, a);
    return json_string(t);
}

static json_t *hash_json(const uint8_t h[32])
{
    char t[67];
    evm_hash_hex(t, h);
    return json_string(t);
}

static int partial(const evm_store *s)
{
    uint64_t first, n;
    uint8_t tip[32];
    evm_store_tip(s, &first, &n, tip);
    return !n || first != 0;
}

int evm_query_stats(const evm_store *s, json_t **out, util_err *err)
{
    evm_stats st;
    if (evm_store_stats(s, &st))
        return util_errf(err, UTIL_ECORRUPT, "%s store: a row cannot be read", evm_store_chain(s));
    json_t *j = json_object();
    json_object_set_new(j, "chain", json_string(evm_store_chain(s)));
    json_object_set_new(j, "first_block",
                        st.blocks ? json_integer((json_int_t)st.first_block) : json_null());
    json_object_set_new(j, "last_block",
                        st.blocks ? json_integer((json_int_t)(st.first_block + st.blocks - 1))
                                  : json_null());
    json_object_set_new(j, "blocks", json_integer((json_int_t)st.blocks));
    json_object_set_new(j, "tip", st.blocks ? hash_json(st.tip) : json_null());
    json_object_set_new(j, "partial_history", json_boolean(partial(s)));
    json_object_set_new(j, "txs", json_integer((json_int_t)st.txs));
    json_object_set_new(j, "failed_txs", json_integer((json_int_t)st.failed_txs));
    json_object_set_new(j, "transfers", json_integer((json_int_t)st.transfers));
    json_t *k = json_object();
    for (int i = 1; i < EVM_XFER_KINDS; i++)
        json_object_set_new(k, evm_xfer_kind_name(i),
                            json_integer((json_int_t)st.xfers_by_kind[i]));
    json_object_set_new(j, "transfers_by_kind", k);
    json_object_set_new(j, "addresses", json_integer((json_int_t)st.addresses));
    json_object_set_new(j, "tokens", json_integer((json_int_t)st.tokens));
    json_object_set_new(j, "native_tx_value", u256_json(&st.native_tx_value));
    json_object_set_new(j, "native_internal_value", u256_json(&st.native_internal_value));
    json_object_set_new(j, "fees", u256_json(&st.fees));
    json_object_set_new(j, "rewards", u256_json(&st.rewards));
    json_object_set_new(j, "withdrawals", u256_json(&st.withdrawals));
    *out = j;
    return 0;
}

/* One transfer as JSON; with addr != EVM_NONE32 also its direction for that address. */
static json_t *xfer_json(const evm_store *s, uint64_t id, const evm_xfer_row *x, uint32_t addr,
                         util_err *err)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer((json_int_t)id));
    json_object_set_new(j, "kind", json_string(evm_xfer_kind_name(x->kind)));
    evm_block_row b;
    if (!evm_store_block(s, x->block, &b, err))
        json_object_set_new(j, "block", json_integer((json_int_t)b.number));
    if (x->tx != EVM_NONE64) {
        evm_tx_row t;
        if (!evm_store_tx(s, x->tx, &t, err)) json_object_set_new(j, "tx", hash_json(t.hash));
    }
    if (addr != EVM_NONE32)
        json_object_set_new(j, "direction",
                            json_string(x->from == addr && x->to == addr ? "self"
                                        : x->from == addr                ? "out"
                                                                         : "in"));
    json_object_set_new(j, "from", addr_json(s, x->from));
    json_object_set_new(j, "to", addr_json(s, x->to));
    if (x->token) {
        evm_token_meta m;
        if (!evm_store_token(s, x->token, &m, err)) {
            char a[43];
            evm_addr_eip55(a, m.addr);
            json_object_set_new(j, "token", json_string(a));
            if (m.symbol[0]) json_object_set_new(j, "symbol", json_string(m.symbol));
            if (m.decimals >= 0) json_object_set_new(j, "decimals", json_integer(m.decimals));
        }
    } else {
        json_object_set_new(j, "token", json_null());
    }
    json_object_set_new(j, "amount", u256_json(&x->amount));
    if (x->kind == EVM_XFER_ERC20)
        json_object_set_new(j, "log_index", json_integer((json_int_t)x->log_index));
    if (x->kind == EVM_XFER_INTERNAL) {
        char *ta = malloc((size_t)x->trace_len + 1);
        if (ta && !evm_store_xfer_trace(s, x, ta, (size_t)x->trace_len + 1, err))
            json_object_set_new(j, "trace_address", json_string(ta));
        free(ta);
    }
    return j;
}

/* A protocol event with its fields named as in the event's signature. */
static json_t *event_json(const evm_event_row *e)
{
    json_t *j = json_object();
    char a[43];
    json_object_set_new(j, "kind", json_string(evm_event_kind_name(e->kind)));
    json_object_set_new(j, "log_index", json_integer(e->log_index));
    evm_addr_eip55(a, e->contract);
    json_object_set_new(j, "contract", json_string(a));
#define ADDR(name, k) (evm_addr_eip55(a, e->addr[k]), json_object_set_new(j, name, json_string(a)))
#define U(name, k) json_object_set_new(j, name, u256_json(&e->u[k]))
#define TEXT(name) json_object_set_new(j, name, json_stringn(e->text, e->text_len))
    switch (e->kind) {
    case EVM_EV_MIXER_DEPOSIT:
        json_object_set_new(j, "commitment", hash_json(e->word));
        U("leaf_index", 0), U("timestamp", 1);
        break;
    case EVM_EV_MIXER_WITHDRAWAL:
        ADDR("to", 0), ADDR("relayer", 1), U("fee", 0);
        json_object_set_new(j, "nullifier_hash", hash_json(e->word));
        break;
    case EVM_EV_BRIDGE_DEPOSIT:
        U("dest_chain", 0), U("nonce", 1), U("amount", 2), ADDR("token", 0), TEXT("recipient");
        break;
    case EVM_EV_ROUTER_DEPOSIT:
        ADDR("to", 0), ADDR("asset", 1), U("amount", 0), TEXT("memo");
        break;
    case EVM_EV_ROUTER_TRANSFER_OUT:
        ADDR("vault", 0), ADDR("to", 1), ADDR("asset", 2), U("amount", 0), TEXT("memo");
        break;
    }
#undef ADDR
#undef U
#undef TEXT
    return j;
}

/* The events of tx id, found by binary search (events are in chain order). */
static int tx_events(const evm_store *s, uint64_t id, json_t **out, util_err *err)
{
    json_t *a = json_array();
    evm_event_row *e = malloc(sizeof *e);
    if (!e) {
        json_decref(a);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    uint64_t lo = 0, hi = evm_store_event_count(s);
    int rc = 0;
    while (lo < hi && !rc) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((rc = evm_store_event(s, mid, e, err))) break;
        if (e->tx < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint64_t k = lo; !rc && k < evm_store_event_count(s); k++) {
        if ((rc = evm_store_event(s, k, e, err)) || e->tx != id) break;
        json_array_append_new(a, event_json(e));
    }
    free(e);
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

int evm_query_tx(const evm_store *s, const uint8_t hash[32], json_t **out, util_err *err)
{
    uint64_t id;
    int rc = evm_store_find_tx(s, hash, &id, err);
    if (rc) return rc;
    evm_tx_row t;
    evm_block_row b;
    if ((rc = evm_store_tx(s, id, &t, err)) || (rc = evm_store_block(s, t.block, &b, err)))
        return rc;
    json_t *j = json_object();
    json_object_set_new(j, "chain", json_string(evm_store_chain(s)));
    json_object_set_new(j, "hash", hash_json(t.hash));
    json_object_set_new(j, "block", json_integer((json_int_t)b.number));
    json_object_set_new(j, "block_hash", hash_json(b.hash));
    json_object_set_new(j, "timestamp", json_integer((json_int_t)b.timestamp));
    json_object_set_new(j, "index", json_integer(t.index));
    json_object_set_new(j, "status",
                        json_string(t.flags & EVM_TX_FAILED           ? "failed"
                                    : t.flags & EVM_TX_STATUS_UNKNOWN ? "unknown"
                                                                      : "success"));
    json_object_set_new(j, "from", addr_json(s, t.from));
    json_object_set_new(j, "to", addr_json(s, t.to));
    json_object_set_new(j, "creation", json_boolean(t.flags & EVM_TX_CREATE));
    json_object_set_new(j, "value", u256_json(&t.value));
    if (t.flags & EVM_TX_NO_RECEIPT) {
        json_object_set_new(j, "gas_used", json_null());
        json_object_set_new(j, "fee", json_null());
    } else {
        json_object_set_new(j, "gas_used", json_integer((json_int_t)t.gas_used));
        json_object_set_new(j, "fee", u256_json(&t.fee));
    }
    json_object_set_new(j, "gas_price", u256_json(&t.gas_price));
    json_t *xs = json_array();
    uint64_t ntx, nx, na;
    evm_store_counts(s, &ntx, &nx, &na);
    for (uint64_t x = t.first_xfer; x < nx; x++) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(s, x, &r, err))) {
            json_decref(xs);
            json_decref(j);
            return rc;
        }
        if (r.tx != id) break;
        json_array_append_new(xs, xfer_json(s, x, &r, EVM_NONE32, err));
    }
    json_object_set_new(j, "transfers", xs);
    json_t *evs = NULL;
    if ((rc = tx_events(s, id, &evs, err))) {
        json_decref(j);
        return rc;
    }
    json_object_set_new(j, "events", evs);
    *out = j;
    return 0;
}

typedef struct asset_sum {
    uint32_t token;
    evm_u256 in, out, fees;
} asset_sum;

int evm_query_address(const evm_store *s, const uint8_t addr[20], size_t offset, size_t limit,
                      json_t **out, util_err *err)
{
    uint32_t id;
    int rc = evm_store_find_addr(s, addr, &id, err);
    if (rc) return rc;
    asset_sum *sums = NULL;
    size_t ns = 0;
    uint64_t count = 0;
    json_t *list = json_array();
    uint64_t x;
    if ((rc = evm_store_addr_head(s, id, &x, err))) goto fail;
    while (x != EVM_NONE64) {
        evm_xfer_row r;
        if ((rc = evm_store_xfer(s, x, &r, err))) goto fail;
        size_t k = 0;
        while (k < ns && sums[k].token != r.token)
            k++;
        if (k == ns) {
            asset_sum *n2 = realloc(sums, (ns + 1) * sizeof *sums);
            if (!n2) {
                rc = util_errf(err, UTIL_ENOMEM, "out of memory");
                goto fail;
            }
            sums = n2;
            memset(&sums[ns++], 0, sizeof *sums);
            sums[k].token = r.token;
        }
        /* sums of real balances stay below 2^256; an overflow here means damaged rows */
        int ov = 0;
        if (r.to == id) ov |= evm_u256_add(&sums[k].in, &sums[k].in, &r.amount);
        if (r.from == id && r.kind == EVM_XFER_FEE)
            ov |= evm_u256_add(&sums[k].fees, &sums[k].fees, &r.amount);
        else if (r.from == id)
            ov |= evm_u256_add(&sums[k].out, &sums[k].out, &r.amount);
        if (ov) {
            rc = util_errf(err, UTIL_ECORRUPT, "address sums exceed 2^256-1");
            goto fail;
        }
        if (count >= offset && (!limit || count < offset + limit))
            json_array_append_new(list, xfer_json(s, x, &r, id, err));
        count++;
        if ((rc = evm_store_addr_next(s, id, x, &x, err))) goto fail;
    }
    json_t *j = json_object();
    char a[43];
    evm_addr_eip55(a, addr);
    json_object_set_new(j, "chain", json_string(evm_store_chain(s)));
    json_object_set_new(j, "address", json_string(a));
    json_object_set_new(j, "partial_history", json_boolean(partial(s)));
    json_t *bal = json_array();
    /* native first, then tokens by id */
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < ns; k++) {
            if ((sums[k].token == 0) != (pass == 0)) continue;
            json_t *o = json_object();
            if (sums[k].token) {
                evm_token_meta m;
                if (!evm_store_token(s, sums[k].token, &m, NULL)) {
                    char ta[43];
                    evm_addr_eip55(ta, m.addr);
                    json_object_set_new(o, "token", json_string(ta));
                    if (m.symbol[0]) json_object_set_new(o, "symbol", json_string(m.symbol));
                    if (m.decimals >= 0)
                        json_object_set_new(o, "decimals", json_integer(m.decimals));
                }
            } else {
                json_object_set_new(o, "token", json_null());
                json_object_set_new(o, "decimals", json_integer(18));
            }
            json_object_set_new(o, "received", u256_json(&sums[k].in));
            json_object_set_new(o, "sent", u256_json(&sums[k].out));
            if (!sums[k].token) json_object_set_new(o, "fees", u256_json(&sums[k].fees));
            evm_u256 spent, diff;
            evm_u256_add(&spent, &sums[k].out, &sums[k].fees);
            char d[EVM_U256_DEC_MAX + 1];
            if (evm_u256_cmp(&sums[k].in, &spent) >= 0) {
                evm_u256_sub(&diff, &sums[k].in, &spent);
                evm_u256_format(d, &diff);
            } else {
                /* more out than in: history before the first stored block is missing */
                evm_u256_sub(&diff, &spent, &sums[k].in);
                d[0] = '-';
                evm_u256_format(d + 1, &diff);
            }
            json_object_set_new(o, "balance", json_string(d));
            json_array_append_new(bal, o);
        }
    json_object_set_new(j, "balances", bal);
    json_object_set_new(j, "transfer_count", json_integer((json_int_t)count));
    json_object_set_new(j, "offset", json_integer((json_int_t)offset));
    json_object_set_new(j, "limit", json_integer((json_int_t)limit));
    json_object_set_new(j, "transfers", list);
    free(sums);
    *out = j;
    return 0;
fail:
    free(sums);
    json_decref(list);
    return rc;
}
