/* etrace: the exact multiply-divide against python ints; hand-built stores whose shares are
 * worked out by hand (haircut largest remainder, fifo order, poison's added value, backward
 * haircut and fifo, a DEX swap, hops, endpoints); random transfer sequences under every
 * policy and direction with the accounting checked from the document alone (and the cut list
 * against the buckets); a chain of 1500 transfers followed to its end by default, and each
 * limit's cut of it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/crypto/crypto.h"
#include "../src/etrace/etrace.h"
#include "check.h"

/* a * b / d and a * b mod d, computed by python 3 ints (the script is in the file). */
static const char *const vec[][5] = {
#include "etrace_muldiv.inc"
};

static evm_u256 dec(const char *s)
{
    evm_u256 v;
    if (evm_u256_parse(&v, s, strlen(s), NULL)) memset(&v, 0xff, sizeof v);
    return v;
}

static evm_u256 u(uint64_t x)
{
    evm_u256 v = {{x, 0, 0, 0}};
    return v;
}

static void test_muldiv(void)
{
    for (size_t i = 0; i < sizeof vec / sizeof *vec; i++) {
        evm_u256 a = dec(vec[i][0]), b = dec(vec[i][1]), d = dec(vec[i][2]), q, r;
        CHECK(etrace_muldiv(&q, &r, &a, &b, &d) == 0);
        evm_u256 eq = dec(vec[i][3]), er = dec(vec[i][4]);
        CHECK(!evm_u256_cmp(&q, &eq));
        CHECK(!evm_u256_cmp(&r, &er));
    }
    /* random widths: q * d + r = a * b and r < d, checked with a 512-bit multiply here */
    uint64_t seed = 12345;
    int wrong = 0;
    for (int i = 0; i < 20000; i++) {
        evm_u256 v[3];
        for (int k = 0; k < 3; k++) {
            for (int w = 0; w < 4; w++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                v[k].w[w] = seed;
            }
            int bits = (int)(seed % 257);
            for (int w = 0; w < 4; w++)
                if (bits <= 64 * w)
                    v[k].w[w] = 0;
                else if (bits < 64 * (w + 1))
                    v[k].w[w] &= ((uint64_t)1 << (bits - 64 * w)) - 1;
        }
        if (evm_u256_is_zero(&v[2])) continue;
        if (evm_u256_cmp(&v[1], &v[2]) > 0) { /* keep the quotient within 256 bits */
            evm_u256 t = v[1];
            v[1] = v[2], v[2] = t;
        }
        evm_u256 q, r;
        if (etrace_muldiv(&q, &r, &v[0], &v[1], &v[2])) {
            wrong++;
            continue;
        }
        uint64_t lhs[9] = {0}, rhs[9] = {0};
        for (int x = 0; x < 4; x++) {
            unsigned __int128 c = 0;
            for (int y = 0; y < 4; y++) {
                c += (unsigned __int128)q.w[x] * v[2].w[y] + lhs[x + y];
                lhs[x + y] = (uint64_t)c;
                c >>= 64;
            }
            lhs[x + 4] += (uint64_t)c;
            c = 0;
            for (int y = 0; y < 4; y++) {
                c += (unsigned __int128)v[0].w[x] * v[1].w[y] + rhs[x + y];
                rhs[x + y] = (uint64_t)c;
                c >>= 64;
            }
            rhs[x + 4] += (uint64_t)c;
        }
        unsigned __int128 c = 0;
        for (int x = 0; x < 9; x++) {
            c += (unsigned __int128)lhs[x] + (x < 4 ? r.w[x] : 0);
            lhs[x] = (uint64_t)c;
            c >>= 64;
        }
        if (memcmp(lhs, rhs, sizeof lhs) || evm_u256_cmp(&r, &v[2]) >= 0) wrong++;
    }
    CHECK(wrong == 0);
    evm_u256 z = u(0), one = u(1), two = u(2), q, r, max;
    memset(&max, 0xff, sizeof max);
    CHECK(etrace_muldiv(&q, &r, &one, &one, &z) == -1);   /* by zero */
    CHECK(etrace_muldiv(&q, &r, &max, &max, &two) == -1); /* quotient too wide */
    CHECK(etrace_muldiv(&q, &r, &max, &two, &max) == 0 && !evm_u256_cmp(&q, &two));
}

/* ---- a tiny block builder over a real store in a temp dir ---- */
typedef struct tb {
    evm_store *s;
    uint64_t num, hashes;
    uint8_t parent[32];
    evm_tx txs[32];
    evm_xfer xs[256];
    size_t ntx, nx;
} tb;

static void addr(uint8_t out[20], int i)
{
    memset(out, 0, 20);
    out[0] = 0xaa, out[18] = (uint8_t)((i + 1) >> 8), out[19] = (uint8_t)(i + 1);
}

static void tb_tx(tb *b, int from)
{
    evm_tx *t = &b->txs[b->ntx];
    memset(t, 0, sizeof *t);
    uint64_t h = ++b->hashes;
    crypto_keccak256(&h, sizeof h, t->hash);
    addr(t->from, from);
    addr(t->to, from);
    t->has_to = 1;
    t->index = (uint32_t)b->ntx++;
}

/* from/to -1: none; tx -1: block-level; token 0 native, 1 the token */
static void tb_x(tb *b, int kind, int tx, int from, int to, int token, evm_u256 amt)
{
    evm_xfer *x = &b->xs[b->nx++];
    memset(x, 0, sizeof *x);
    x->kind = (uint8_t)kind;
    x->tx = tx < 0 ? EVM_NONE32 : (uint32_t)tx;
    x->has_from = from >= 0, x->has_to = to >= 0;
    if (from >= 0) addr(x->from, from);
    if (to >= 0) addr(x->to, to);
    if (token) memset(x->token, 0xbb, 20);
    x->amount = amt;
}

static int tb_block(tb *b)
{
    evm_block blk;
    memset(&blk, 0, sizeof blk);
    blk.number = b->num;
    memcpy(blk.parent, b->parent, 32);
    uint64_t h = 1000000 + b->num;
    crypto_keccak256(&h, sizeof h, blk.hash);
    blk.timestamp = 1700000000 + b->num * 12;
    blk.txs = b->txs, blk.n_txs = b->ntx, blk.xfers = b->xs, blk.n_xfers = b->nx;
    util_err err = {0};
    int rc = evm_store_append_block(b->s, &blk, &err);
    if (rc) fprintf(stderr, "append: %s\n", err.msg);
    memcpy(b->parent, blk.hash, 32);
    b->num++, b->ntx = b->nx = 0;
    return rc;
}

static char tmpl[] = "/tmp/ct_etrace_XXXXXX";

static evm_store *reopen(tb *b, const char *dir)
{
    util_err err = {0};
    if (evm_store_commit(b->s, &err)) fprintf(stderr, "commit: %s\n", err.msg);
    evm_store_close(b->s);
    b->s = NULL;
    evm_store *r = NULL;
    if (evm_store_open(&r, dir, "eth", 0, &err)) fprintf(stderr, "open: %s\n", err.msg);
    return r;
}

static int tb_open(tb *b, const char *dir)
{
    memset(b, 0, sizeof *b);
    return evm_store_open(&b->s, dir, "eth", EVM_STORE_WRITE | EVM_STORE_CREATE, NULL);
}

/* ---- reading a document ---- */
static evm_u256 jv(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? dec(s) : dec("x");
}

static int jeq(json_t *o, const char *k, uint64_t v)
{
    evm_u256 a = jv(o, k), b = u(v);
    return !evm_u256_cmp(&a, &b);
}

static json_t *totals(json_t *d, const char *asset)
{
    return json_object_get(json_object_get(d, "totals"), asset);
}

/* The taint on the edge of the N-th transfer of the document's edges list with fate F. */
static json_t *edge(json_t *d, size_t n)
{
    return json_array_get(json_object_get(d, "edges"), n);
}

static const char *const in_b[] = {"seeded", "poison_added", "swapped_in"};
static const char *const out_b[] = {
    "to_endpoints", "held",    "fees",   "below_min_value", "beyond_hops", "beyond_until",
    "swapped_out",  "overlap", "minted", "before_store",    "not_followed"};

/* Every check the document allows without knowing the answer: totals balance per asset, every
 * address's taint in = out + fees + held, endpoints add up to to_endpoints. */
static int doc_consistent(json_t *d)
{
    int ok = 1;
    const char *asset;
    json_t *t;
    json_object_foreach(json_object_get(d, "totals"), asset, t)
    {
        evm_u256 in = u(0), out = u(0), eps = u(0);
        for (size_t i = 0; i < 3; i++) {
            evm_u256 v = jv(t, in_b[i]);
            if (evm_u256_add(&in, &in, &v)) ok = 0;
        }
        for (size_t i = 0; i < sizeof out_b / sizeof *out_b; i++) {
            evm_u256 v = jv(t, out_b[i]);
            if (evm_u256_add(&out, &out, &v)) ok = 0;
        }
        if (evm_u256_cmp(&in, &out) || !json_is_true(json_object_get(t, "balanced"))) ok = 0;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(d, "endpoints"), i, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "asset")), asset)) continue;
            evm_u256 v = jv(e, "amount");
            evm_u256_add(&eps, &eps, &v);
        }
        evm_u256 te = jv(t, "to_endpoints");
        if (evm_u256_cmp(&eps, &te)) ok = 0;
    }
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(d, "edges"), i, a)
    {
        evm_u256 t = jv(a, "taint"), m = jv(a, "amount");
        if (evm_u256_cmp(&t, &m) > 0) ok = 0; /* never more than fully tainted */
    }
    json_array_foreach(json_object_get(d, "addresses"), i, a)
    {
        json_object_foreach(json_object_get(a, "assets"), asset, t)
        {
            evm_u256 r = jv(t, "taint_out"), f = jv(t, "fees"), h = jv(t, "held"),
                     in = jv(t, "taint_in");
            evm_u256_add(&r, &r, &f);
            evm_u256_add(&r, &r, &h);
            if (evm_u256_cmp(&r, &in)) ok = 0;
        }
    }
    return ok;
}

static int u256_is(const evm_u256 *v, json_t *s)
{
    char b[EVM_U256_DEC_MAX];
    evm_u256_format(b, v);
    return json_is_string(s) && !strcmp(b, json_string_value(s));
}

/* The typed result on its own: each asset's buckets balance (and say so), its endpoints add up
 * to to_endpoints and by_category to the same, every address's taint in = out + fees + held. */
static int typed_balanced(const etrace_result *r)
{
    int ok = 1;
    for (size_t i = 0; i < r->n_totals; i++) {
        const etrace_totals *t = &r->totals[i];
        evm_u256 in = u(0), out = u(0), eps = u(0), cats = u(0);
        for (int k = 0; k < ETRACE_NB; k++)
            if (evm_u256_add(k < ETRACE_B_TO_ENDPOINTS ? &in : &out,
                             k < ETRACE_B_TO_ENDPOINTS ? &in : &out, &t->b[k]))
                ok = 0;
        if (evm_u256_cmp(&in, &out) || !t->balanced) ok = 0;
        for (size_t k = 0; k < r->n_endpoints; k++)
            if (r->endpoints[k].asset == t->asset)
                evm_u256_add(&eps, &eps, &r->endpoints[k].amount);
        for (size_t k = 0; k < r->n_by_category; k++)
            if (r->by_category[k].asset == t->asset)
                evm_u256_add(&cats, &cats, &r->by_category[k].amount);
        if (evm_u256_cmp(&eps, &t->b[ETRACE_B_TO_ENDPOINTS]) || evm_u256_cmp(&cats, &eps)) ok = 0;
    }
    for (size_t i = 0; i < r->n_addresses; i++)
        for (size_t k = 0; k < r->addresses[i].n_assets; k++) {
            const etrace_address_asset *a = &r->addresses[i].assets[k];
            evm_u256 x = a->taint_out;
            evm_u256_add(&x, &x, &a->fees);
            evm_u256_add(&x, &x, &a->held);
            if (evm_u256_cmp(&x, &a->taint_in)) ok = 0;
        }
    for (size_t i = 0; i < r->n_edges; i++)
        if (evm_u256_cmp(&r->edges[i].taint, &r->edges[i].amount) > 0) ok = 0;
    return ok;
}

/* The typed result against a document of the same run (etrace_run's): the same counts and
 * values field by field, and the document written from it is the same text, key order too. */
static int typed_agrees(const evm_store *s, const etrace_result *r, json_t *d)
{
    int ok = 1;
    json_t *w = NULL;
    util_err err = {0};
    if (etrace_result_json(s, r, &w, &err)) return 0;
    char *a = json_dumps(w, JSON_COMPACT), *b = json_dumps(d, JSON_COMPACT);
    if (!a || !b || strcmp(a, b)) ok = 0;
    free(a), free(b);
    json_decref(w);
    if (json_array_size(json_object_get(d, "seeds")) != r->n_seeds ||
        json_is_true(json_object_get(d, "partial")) != !!r->partial ||
        json_is_true(json_object_get(d, "partial_history")) != !!r->partial_history ||
        json_integer_value(json_object_get(d, "xfers_visited")) != (json_int_t)r->xfers_visited ||
        json_object_size(json_object_get(d, "totals")) != r->n_totals)
        return 0;
    size_t i = 0;
    const char *asset;
    json_t *t;
    json_object_foreach(json_object_get(d, "totals"), asset, t)
    {
        for (int k = 0; k < ETRACE_NB; k++)
            if (!u256_is(&r->totals[i].b[k], json_object_get(t, etrace_bucket_name(k)))) ok = 0;
        if (json_is_true(json_object_get(t, "balanced")) != !!r->totals[i].balanced) ok = 0;
        i++;
    }
    json_t *eps = json_object_get(d, "endpoints"), *ed = json_object_get(d, "edges"),
           *sw = json_object_get(d, "swaps"), *ad = json_object_get(d, "addresses");
    if (json_array_size(eps) != r->n_endpoints || json_array_size(ed) != r->n_edges ||
        json_array_size(sw) != r->n_swaps || json_array_size(ad) != r->n_addresses ||
        json_array_size(json_object_get(d, "cross_chain")) != r->n_xchain)
        return 0;
    for (i = 0; i < r->n_endpoints; i++) {
        json_t *e = json_array_get(eps, i);
        const etrace_endpoint *p = &r->endpoints[i];
        if (!u256_is(&p->amount, json_object_get(e, "amount")) ||
            json_integer_value(json_object_get(e, "deposits")) != (json_int_t)p->deposits ||
            json_array_size(json_object_get(e, "path")) != p->n_path ||
            strcmp(json_string_value(json_object_get(e, "category")), p->label->category))
            ok = 0;
    }
    for (i = 0; i < r->n_edges; i++) {
        json_t *e = json_array_get(ed, i);
        if (!u256_is(&r->edges[i].taint, json_object_get(e, "taint")) ||
            !u256_is(&r->edges[i].amount, json_object_get(e, "amount")) ||
            json_integer_value(json_object_get(e, "hop")) != r->edges[i].hop ||
            strcmp(json_string_value(json_object_get(e, "fate")), r->edges[i].fate))
            ok = 0;
    }
    for (i = 0; i < r->n_swaps; i++) {
        json_t *e = json_array_get(sw, i);
        if (!u256_is(&r->swaps[i].sent_taint, json_object_get(e, "sent_taint")) ||
            !u256_is(&r->swaps[i].received_taint, json_object_get(e, "received_taint")))
            ok = 0;
    }
    for (i = 0; i < r->n_addresses; i++) {
        json_t *e = json_array_get(ad, i);
        if (json_object_size(json_object_get(e, "assets")) != r->addresses[i].n_assets) ok = 0;
    }
    return ok;
}

/* The cut list of a result against its buckets: one cut per limit and asset that stopped
 * taint, with that bucket's amount (forward --until: what was held when it stopped). */
static int cuts_agree(const etrace_result *r)
{
    int ok = 1, fwd = r->opts.direction == ETRACE_FORWARD;
    size_t want = 0;
    for (size_t i = 0; i < r->n_totals; i++) {
        const etrace_totals *t = &r->totals[i];
        const int b[TAINT_N_CUTS] = {ETRACE_B_BEYOND_HOPS,
                                     fwd ? ETRACE_B_HELD : ETRACE_B_BEYOND_UNTIL,
                                     ETRACE_B_BELOW_MIN, ETRACE_B_NOT_FOLLOWED};
        for (int k = 0; k < TAINT_N_CUTS; k++) {
            if (evm_u256_is_zero(&t->b[b[k]]) || (k == TAINT_CUT_UNTIL && fwd && !r->until_reached))
                continue;
            want++;
            const taint_cut *c = NULL;
            for (size_t j = 0; j < r->n_cut; j++)
                if (r->cut[j].kind == k && r->cut[j].asset == t->asset) c = &r->cut[j];
            if (!c || memcmp(c->amount.w, t->b[b[k]].w, sizeof c->amount.w) || !c->count ||
                strcmp(c->bucket, etrace_bucket_name(b[k])))
                ok = 0;
        }
    }
    return ok && want == r->n_cut;
}

/* etrace_run_result's typed result balances on its own and agrees with d, etrace_run's
 * document of the same trace. */
static int typed_ok(const evm_store *s, const labels_db *l, const etrace_seeds *seeds,
                    const etrace_opts *o, json_t *d)
{
    etrace_result r;
    util_err err = {0};
    int rc = etrace_run_result(s, l, seeds, o, &r, &err);
    /* and its cut list agrees with its buckets */
    int ok = !rc && typed_balanced(&r) && typed_agrees(s, &r, d) && cuts_agree(&r);
    if (!ok) fprintf(stderr, "typed result: rc %d %s\n", rc, err.msg);
    etrace_result_free(&r);
    return ok;
}

static json_t *run(evm_store *s, labels_db *l, const char *spec, uint64_t xfer, int policy,
                   int direction, uint32_t hops)
{
    etrace_seeds seeds = {0};
    util_err err = {0};
    if (spec) {
        if (etrace_add_spec(&seeds, s, spec, ETRACE_ASSET_ALL, &err))
            fprintf(stderr, "spec: %s\n", err.msg);
    } else {
        seeds.x = malloc(sizeof *seeds.x), seeds.x[0] = xfer, seeds.n = seeds.cap = 1;
    }
    etrace_opts o;
    etrace_default_opts(&o);
    o.policy = policy, o.direction = direction, o.hops = hops;
    json_t *d = NULL;
    if (etrace_run(s, l, &seeds, &o, &d, &err)) fprintf(stderr, "run: %s\n", err.msg);
    /* every hand-built case checks its typed result too: a failing one drops the document */
    if (d && !typed_ok(s, l, &seeds, &o, d)) {
        fprintf(stderr, "run: the typed result disagrees with its document\n");
        json_decref(d);
        d = NULL;
    }
    etrace_seeds_free(&seeds);
    return d;
}

/* Address 0 gets 2 clean (a reward) then 1 tainted (the seed, from 1); in one tx it sends 1
 * to each of 2, 3 and 4. */
static void test_hand(void)
{
    char dir[sizeof tmpl];
    memcpy(dir, tmpl, sizeof tmpl);
    CHECK(mkdtemp(dir) != NULL);
    tb b;
    CHECK(tb_open(&b, dir) == 0);
    tb_x(&b, EVM_XFER_REWARD, -1, -1, 1, 0, u(1)); /* xfer 0: 1 gets 1 */
    tb_x(&b, EVM_XFER_REWARD, -1, -1, 0, 0, u(2)); /* xfer 1: 0 gets 2 clean */
    CHECK(tb_block(&b) == 0);
    tb_tx(&b, 1);
    tb_x(&b, EVM_XFER_TX, 0, 1, 0, 0, u(1)); /* xfer 2: the seed */
    CHECK(tb_block(&b) == 0);
    tb_tx(&b, 0);
    tb_x(&b, EVM_XFER_TX, 0, 0, 2, 0, u(1));       /* xfer 3 */
    tb_x(&b, EVM_XFER_INTERNAL, 0, 0, 3, 0, u(1)); /* xfer 4 */
    tb_x(&b, EVM_XFER_INTERNAL, 0, 0, 4, 0, u(1)); /* xfer 5 */
    CHECK(tb_block(&b) == 0);
    evm_store *s = reopen(&b, dir);
    CHECK(s != NULL);

    /* haircut: 1 x 1/3 each, remainders equal: the lowest index takes the unit */
    json_t *d = run(s, NULL, NULL, 2, ETRACE_HAIRCUT, ETRACE_FORWARD, 5);
    CHECK(d && doc_consistent(d));
    CHECK(json_array_size(json_object_get(d, "edges")) == 2); /* the seed, then xfer 3 */
    CHECK(jeq(edge(d, 1), "taint", 1));
    CHECK(!strcmp(json_string_value(json_object_get(edge(d, 1), "to")) + 40, "03"));
    CHECK(jeq(totals(d, "native"), "held", 1));
    json_decref(d);

    /* fifo: 2 clean first: xfers 3 and 4 clean, 5 takes the tainted unit */
    d = run(s, NULL, NULL, 2, ETRACE_FIFO, ETRACE_FORWARD, 5);
    CHECK(d && doc_consistent(d));
    CHECK(json_array_size(json_object_get(d, "edges")) == 2);
    CHECK(!strcmp(json_string_value(json_object_get(edge(d, 1), "to")) + 40, "05"));
    json_decref(d);

    /* poison: the 2 clean units are added; all three transfers fully tainted */
    d = run(s, NULL, NULL, 2, ETRACE_POISON, ETRACE_FORWARD, 5);
    CHECK(d && doc_consistent(d));
    CHECK(jeq(totals(d, "native"), "poison_added", 2));
    CHECK(jeq(totals(d, "native"), "held", 3));
    CHECK(json_array_size(json_object_get(d, "edges")) == 4);
    json_decref(d);

    /* hops 1: the seed's receiver sends at hop 1, still followed; --hops can not go below 1 */
    d = run(s, NULL, NULL, 2, ETRACE_POISON, ETRACE_FORWARD, 1);
    CHECK(d && jeq(totals(d, "native"), "beyond_hops", 0));
    json_decref(d);

    /* backward from xfer 5 (1 unit of 0's 3): haircut walks back: the seed (1 of 3) gets
     * 1/3 -> 0 with remainder, the reward (2 of 2) gets the rest, 1 */
    d = run(s, NULL, NULL, 5, ETRACE_HAIRCUT, ETRACE_BACKWARD, 5);
    CHECK(d && doc_consistent(d));
    CHECK(jeq(totals(d, "native"), "minted", 1));
    json_decref(d);
    /* fifo backward from xfer 3: 0's queue is [2 reward][1 seed]: the first unit is the
     * reward's, which is newly issued value */
    d = run(s, NULL, NULL, 3, ETRACE_FIFO, ETRACE_BACKWARD, 5);
    CHECK(d && doc_consistent(d) && jeq(totals(d, "native"), "minted", 1));
    json_decref(d);
    /* fifo backward from xfer 5: after 3 and 4 took the reward's 2, xfer 5 is the seed's unit,
     * which 1 got as a reward */
    d = run(s, NULL, NULL, 5, ETRACE_FIFO, ETRACE_BACKWARD, 5);
    CHECK(d && doc_consistent(d) && jeq(totals(d, "native"), "minted", 1));
    CHECK(json_array_size(json_object_get(d, "edges")) == 2); /* 5 <- 2 <- 0 */
    json_decref(d);
    /* hops 1 backward: the reward behind the seed is 2 transfers away */
    d = run(s, NULL, NULL, 5, ETRACE_FIFO, ETRACE_BACKWARD, 1);
    CHECK(d && jeq(totals(d, "native"), "beyond_hops", 1));
    json_decref(d);

    /* bad options and seeds */
    etrace_seeds none = {0};
    etrace_opts o;
    etrace_default_opts(&o);
    util_err err = {0};
    CHECK(etrace_run(s, NULL, &none, &o, &d, &err) == UTIL_EINVAL);
    etrace_seeds one = {0};
    CHECK(etrace_add_spec(&one, s, "0x1234", ETRACE_ASSET_ALL, &err) == UTIL_EINVAL);
    CHECK(strstr(err.msg, "0x1234") != NULL);
    CHECK(etrace_add_spec(&one, s, "0xaa00000000000000000000000000000000000063", 0, &err) ==
          UTIL_ENOTFOUND);
    CHECK(etrace_add_spec(&one, s, "0xaa00000000000000000000000000000000000003:x-", 0, &err) ==
          UTIL_EINVAL);
    CHECK(etrace_add_spec(&one, s, "0xaa00000000000000000000000000000000000003", 0, &err) == 0);
    CHECK(one.n == 1 && one.x[0] == 3);
    o.hops = 0;
    CHECK(etrace_run(s, NULL, &one, &o, &d, &err) == UTIL_EINVAL);
    etrace_seeds_free(&one);
    evm_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* A DEX swap: 0 holds 100 tainted tokens, and in one tx sends 40 of them to pool 5 and gets 8
 * native back from it (an internal transfer, stored before the token event). */
static void test_swap(void)
{
    char dir[sizeof tmpl];
    memcpy(dir, tmpl, sizeof tmpl);
    CHECK(mkdtemp(dir) != NULL);
    tb b;
    CHECK(tb_open(&b, dir) == 0);
    tb_x(&b, EVM_XFER_REWARD, -1, -1, 5, 0, u(1000));
    tb_x(&b, EVM_XFER_REWARD, -1, -1, 0, 0, u(12)); /* 0's own clean native */
    CHECK(tb_block(&b) == 0);
    tb_tx(&b, 1);
    tb_x(&b, EVM_XFER_ERC20, 0, 1, 0, 1, u(100)); /* xfer 2: the seed */
    CHECK(tb_block(&b) == 0);
    tb_tx(&b, 0);
    tb_x(&b, EVM_XFER_FEE, 0, 0, -1, 0, u(2));
    tb_x(&b, EVM_XFER_INTERNAL, 0, 5, 0, 0, u(8));
    tb_x(&b, EVM_XFER_ERC20, 0, 0, 5, 1, u(40));
    CHECK(tb_block(&b) == 0);
    tb_tx(&b, 0);
    tb_x(&b, EVM_XFER_TX, 0, 0, 6, 0, u(18)); /* all its native to 6 */
    CHECK(tb_block(&b) == 0);
    evm_store *s = reopen(&b, dir);
    json_t *d = run(s, NULL, NULL, 2, ETRACE_HAIRCUT, ETRACE_FORWARD, 5);
    CHECK(d && doc_consistent(d));
    const char *tok = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    CHECK(jeq(totals(d, tok), "swapped_out", 40));
    CHECK(jeq(totals(d, tok), "held", 60));
    CHECK(jeq(totals(d, "native"), "swapped_in", 8)); /* 8 x 40 / 40 */
    /* 0 then holds 8 tainted of 12 - 2 + 8 = 18 and sends all 18 to 6 */
    CHECK(jeq(totals(d, "native"), "held", 8));
    CHECK(json_array_size(json_object_get(d, "swaps")) == 1);
    json_decref(d);
    d = run(s, NULL, NULL, 2, ETRACE_FIFO, ETRACE_FORWARD, 5);
    CHECK(d && doc_consistent(d) && jeq(totals(d, "native"), "swapped_in", 8));
    json_decref(d);
    evm_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static evm_u256 ramt(void)
{
    evm_u256 v = u(rnd() % 1000 + 1);
    if (rnd() % 5 == 0) v.w[1] = rnd(), v.w[2] = rnd() >> 8; /* wide amounts */
    return v;
}

/* Random transfer sequences (balances need not be consistent: an unknown opening covers it),
 * labelled endpoints, every policy and direction, random limits: the accounting must hold. */
static void test_random(void)
{
    char dir[sizeof tmpl];
    int bad = 0, runs = 0, swaps = 0, partial = 0;
    for (int round = 0; round < 25; round++) {
        memcpy(dir, tmpl, sizeof tmpl);
        CHECK(mkdtemp(dir) != NULL);
        tb b;
        CHECK(tb_open(&b, dir) == 0);
        int nb = 2 + (int)(rnd() % 6);
        for (int k = 0; k < nb; k++) {
            int ntx = (int)(rnd() % 4);
            for (int t = 0; t < ntx; t++) {
                int from = (int)(rnd() % 7);
                tb_tx(&b, from);
                int n = 1 + (int)(rnd() % 6);
                for (int i = 0; i < n; i++) {
                    int kind = (int[]){EVM_XFER_TX, EVM_XFER_INTERNAL, EVM_XFER_ERC20,
                                       EVM_XFER_FEE}[rnd() % 4];
                    int f = i == 0 || rnd() % 2 ? from : (int)(rnd() % 7);
                    int to = kind == EVM_XFER_FEE ? -1 : (int)(rnd() % 7);
                    tb_x(&b, kind, t, f, to, kind == EVM_XFER_ERC20, ramt());
                }
            }
            if (rnd() % 2) tb_x(&b, EVM_XFER_REWARD, -1, -1, (int)(rnd() % 7), 0, ramt());
            CHECK(tb_block(&b) == 0);
        }
        evm_store *s = reopen(&b, dir);
        /* labels: 4 and 5 exchanges (two endpoints of one category: by_category adds them), 6 a
         * bridge */
        char path[256];
        snprintf(path, sizeof path, "%s/l.csv", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "chain,address,category,source\n"
                   "eth,0xaa00000000000000000000000000000000000005,exchange,t\n"
                   "eth,0xaa00000000000000000000000000000000000006,exchange,t\n"
                   "eth,0xaa00000000000000000000000000000000000007,bridge,t\n");
        fclose(f);
        labels_db *l = NULL;
        CHECK(labels_db_open(&l, dir, 0, NULL) == 0);
        labels_import_opts lo = {0};
        CHECK(labels_import_file(l, path, &lo, NULL, NULL) == 0);
        uint64_t ntx, nx, na;
        evm_store_counts(s, &ntx, &nx, &na);
        for (int trial = 0; nx && trial < 6; trial++) {
            etrace_seeds seeds = {0};
            for (int k = 1 + (int)(rnd() % 3); k > 0; k--) {
                uint64_t *p = realloc(seeds.x, (seeds.n + 1) * sizeof *p);
                seeds.x = p;
                uint64_t x = rnd() % nx;
                int dup = 0;
                for (size_t i = 0; i < seeds.n; i++)
                    dup |= seeds.x[i] == x;
                if (!dup) seeds.x[seeds.n++] = x;
            }
            for (int pol = 0; pol < 3; pol++)
                for (int dirn = 0; dirn < 2; dirn++) {
                    etrace_opts o;
                    etrace_default_opts(&o);
                    o.policy = pol, o.direction = dirn;
                    o.hops = rnd() % 4 ? 1 + (uint32_t)(rnd() % 6) : TAINT_NO_HOP_LIMIT;
                    if (rnd() % 3 == 0) o.min_value = u(rnd() % 300);
                    if (rnd() % 4 == 0) o.max_xfers = 1 + rnd() % 8;
                    if (rnd() % 4 == 0) o.until = (int64_t)(rnd() % (uint64_t)nb);
                    if (rnd() % 4 == 0) o.until_time = 1700000000 + (int64_t)(rnd() % 100);
                    o.follow_mixers = (int)(rnd() % 2);
                    json_t *d = NULL;
                    util_err err = {0};
                    int rc = etrace_run(s, l, &seeds, &o, &d, &err);
                    runs++;
                    int self = 0;
                    for (size_t i = 0; i < seeds.n; i++) {
                        evm_xfer_row r;
                        evm_store_xfer(s, seeds.x[i], &r, NULL);
                        self |= r.from == r.to && r.from != EVM_NONE32;
                    }
                    if (self ? rc != UTIL_EINVAL
                             : rc || !doc_consistent(d) || !typed_ok(s, l, &seeds, &o, d)) {
                        bad++;
                        fprintf(stderr, "round %d policy %d dir %d: rc %d %s\n", round, pol, dirn,
                                rc, err.msg);
                    }
                    swaps += d && json_array_size(json_object_get(d, "swaps")) > 0;
                    partial += d && json_is_true(json_object_get(d, "partial"));
                    json_decref(d);
                }
            etrace_seeds_free(&seeds);
        }
        labels_db_close(l);
        evm_store_close(s);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
    CHECK(bad == 0);
    printf("random: %d runs (%d with a swap, %d partial), %d inconsistent\n", runs, swaps, partial,
           bad);
}

/* A chain of 1500 transfers, past the 1000 an explicit hops allows: address k - 1 sends what
 * it holds to address k; address 1500 is an exchange. By default all of it reaches the
 * exchange along a path of every transfer, and backward all of it is the reward at the start;
 * each limit that stops it is one cut of the whole amount. */
static void test_deep(void)
{
    enum { N = 1500, PER = 25 };
    char dir[sizeof tmpl];
    memcpy(dir, tmpl, sizeof tmpl);
    CHECK(mkdtemp(dir) != NULL);
    tb b;
    CHECK(tb_open(&b, dir) == 0);
    const uint64_t amt = 1000000007;
    tb_x(&b, EVM_XFER_REWARD, -1, -1, 0, 0, u(amt)); /* xfer 0: the seed */
    CHECK(tb_block(&b) == 0);
    for (int k = 1; k <= N; k++) { /* xfer k: k - 1 to k, in block (k - 1) / PER + 1 */
        tb_tx(&b, k - 1);
        tb_x(&b, EVM_XFER_TX, (int)b.ntx - 1, k - 1, k, 0, u(amt));
        if (k % PER == 0) CHECK(tb_block(&b) == 0);
    }
    evm_store *s = reopen(&b, dir);
    char path[256];
    snprintf(path, sizeof path, "%s/l.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "chain,address,category,source\neth,0xaa000000000000000000000000000000000005dd,"
               "exchange,t\n"); /* address 1500 */
    fclose(f);
    labels_db *l = NULL;
    CHECK(labels_db_open(&l, dir, 0, NULL) == 0);
    labels_import_opts lo = {0};
    CHECK(labels_import_file(l, path, &lo, NULL, NULL) == 0);

    etrace_seeds seeds = {0};
    CHECK(etrace_add_spec(&seeds, s, "0xaa00000000000000000000000000000000000001", 0, NULL) == 0);
    CHECK(seeds.n == 1 && seeds.x[0] == 0);
    etrace_seeds last = {0};
    CHECK(etrace_add_spec(&last, s, "0xaa000000000000000000000000000000000005dd", 0, NULL) == 0);
    CHECK(last.n == 1 && last.x[0] == N);
    struct {
        int direction;
        uint32_t hops;
        uint64_t max_xfers, min_value;
        int64_t until;
        int cut;    /* the one cut expected, -1: none */
        int bucket; /* where the amount ends */
    } cases[] = {
        {ETRACE_FORWARD, TAINT_NO_HOP_LIMIT, 0, 0, -1, -1, ETRACE_B_TO_ENDPOINTS},
        {ETRACE_FORWARD, 1000, 0, 0, -1, TAINT_CUT_HOPS, ETRACE_B_BEYOND_HOPS},
        {ETRACE_FORWARD, TAINT_NO_HOP_LIMIT, 100, 0, -1, TAINT_CUT_BUDGET, ETRACE_B_NOT_FOLLOWED},
        {ETRACE_FORWARD, TAINT_NO_HOP_LIMIT, 0, amt + 1, -1, TAINT_CUT_MIN_VALUE,
         ETRACE_B_BELOW_MIN},
        {ETRACE_FORWARD, TAINT_NO_HOP_LIMIT, 0, 0, 30, TAINT_CUT_UNTIL, ETRACE_B_HELD},
        {ETRACE_BACKWARD, TAINT_NO_HOP_LIMIT, 0, 0, -1, -1, ETRACE_B_MINTED},
        {ETRACE_BACKWARD, 1000, 0, 0, -1, TAINT_CUT_HOPS, ETRACE_B_BEYOND_HOPS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        etrace_opts o;
        etrace_default_opts(&o);
        CHECK(o.hops == TAINT_NO_HOP_LIMIT); /* the default */
        o.direction = cases[i].direction, o.hops = cases[i].hops;
        if (cases[i].max_xfers) o.max_xfers = cases[i].max_xfers;
        o.min_value = u(cases[i].min_value);
        o.until = cases[i].until;
        etrace_result r;
        util_err err = {0};
        int rc =
            etrace_run_result(s, l, o.direction == ETRACE_FORWARD ? &seeds : &last, &o, &r, &err);
        CHECK(rc == 0);
        if (rc) {
            fprintf(stderr, "deep case %zu: %s\n", i, err.msg);
            continue;
        }
        CHECK(typed_balanced(&r) && cuts_agree(&r));
        CHECK(r.n_totals == 1 &&
              !evm_u256_cmp(&r.totals[0].b[cases[i].bucket], &(evm_u256){{amt}}));
        CHECK(r.n_cut == (cases[i].cut >= 0));
        if (r.n_cut) CHECK(r.cut[0].kind == cases[i].cut && r.cut[0].amount.w[0] == amt);
        if (i == 0) { /* the path: the seed and every transfer of the chain, in order */
            CHECK(r.n_endpoints == 1 && r.endpoints[0].n_path == N + 1);
            for (size_t k = 0; r.n_endpoints && k < r.endpoints[0].n_path; k++)
                CHECK(r.endpoints[0].path[k].xfer == k);
            json_t *d = NULL;
            CHECK(etrace_result_json(s, &r, &d, &err) == 0);
            CHECK(json_is_null(json_object_get(json_object_get(d, "limits"), "hops")));
            CHECK(json_array_size(json_object_get(d, "cut")) == 0);
            json_decref(d);
        }
        if (i == 1) { /* the document's cut */
            json_t *d = NULL;
            CHECK(etrace_result_json(s, &r, &d, &err) == 0);
            json_t *c = json_array_get(json_object_get(d, "cut"), 0);
            CHECK(c && !strcmp(json_string_value(json_object_get(c, "limit")), "hops"));
            CHECK(c && !strcmp(json_string_value(json_object_get(c, "amount")), "1000000007"));
            CHECK(c && !strcmp(json_string_value(json_object_get(c, "asset")), "native"));
            CHECK(c && json_integer_value(json_object_get(c, "transfers")) == 1);
            json_decref(d);
        }
        etrace_result_free(&r);
    }
    etrace_seeds_free(&seeds);
    etrace_seeds_free(&last);
    labels_db_close(l);
    evm_store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_muldiv();
    test_hand();
    test_swap();
    test_random();
    test_deep();
    return CHECK_DONE();
}
