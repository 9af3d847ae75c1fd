/* gen_tx: addresses and their scripts, dummy signatures and witnesses of realistic sizes, and
 * the transaction builder that serializes straight into the block being built. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"
#include "../util/util_vec.h"

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        r->s[i] = gen_mix64(x);
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

/* ln and exp without libm (the library does not link it); accurate to ~1e-9, which is plenty
 * for drawing amounts and delays, and the same bits on every machine. */
double gen_ln(double x)
{
    if (x <= 0) return -745.0;
    union {
        double d;
        uint64_t u;
    } v = {x};
    int e = (int)((v.u >> 52) & 0x7ff) - 1023;
    v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m = v.d;
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double t = (m - 1) / (m + 1), t2 = t * t;
    double s =
        t * (2 + t2 * (2.0 / 3 +
                       t2 * (2.0 / 5 +
                             t2 * (2.0 / 7 + t2 * (2.0 / 9 + t2 * (2.0 / 11 + t2 * 2.0 / 13))))));
    return s + e * 0.6931471805599453;
}

double gen_exp(double x)
{
    if (x < -700) return 0;
    if (x > 700) x = 700;
    double kf = x * 1.4426950408889634;
    int k = (int)(kf < 0 ? kf - 0.5 : kf + 0.5);
    double r = x - k * 0.6931471805599453, term = 1, sum = 1;
    for (int i = 1; i < 14; i++) {
        term *= r / i;
        sum += term;
    }
    union {
        double d;
        uint64_t u;
    } v = {sum};
    v.u += (uint64_t)(int64_t)k << 52;
    return v.d;
}

double gen_logunif(gen_rng *r, double lo, double hi)
{
    return lo * gen_exp(gen_unif(r) * gen_ln(hi / lo));
}

int64_t gen_round_amount(gen_rng *r, int64_t v)
{
    if (v < 1000) return v;
    int64_t lim = 10;
    for (uint32_t d = gen_range(r, 1, 3); d > 1; d--)
        lim *= 10;
    int64_t p = 1;
    while (v / p >= lim)
        p *= 10;
    return v / p * p;
}

/* ---- vectors ---- */

int gen_vec_push(gen *g, gen_vec *v, uint32_t x)
{
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 8;
        uint32_t *p = realloc(v->v, (size_t)nc * sizeof *p);
        if (!p) {
            g->oom = 1;
            return UTIL_ENOMEM;
        }
        v->v = p;
        v->cap = nc;
    }
    v->v[v->n++] = x;
    return 0;
}

void gen_vec_free(gen_vec *v)
{
    free(v->v);
    memset(v, 0, sizeof *v);
}

static int grow(gen *g, void **arr, uint32_t *cap, uint64_t want, size_t elem)
{
    int rc = util_grow_u32(arr, cap, want, elem, 1024, 0xfffffff0u);
    if (rc) g->oom = 1;
    return rc;
}

/* Indexes of a new address record and a new utxo slot. The tables grow by doubling; if that
 * fails, g->oom is set (the run stops after this activity) and a harmless index is returned so
 * that nothing writes out of bounds meanwhile. Pointers into the tables do not survive these. */
static uint32_t new_addr_index(gen *g)
{
    if (g->n_addrs == g->cap_addrs &&
        grow(g, (void **)&g->addrs, &g->cap_addrs, (uint64_t)g->n_addrs + 1, sizeof(gen_addr)))
        return 0;
    return g->n_addrs++;
}

uint32_t gen_utxo_new(gen *g)
{
    if (g->free_utxos.n) return g->free_utxos.v[--g->free_utxos.n];
    if (g->n_utxos == g->cap_utxos &&
        grow(g, (void **)&g->utxos, &g->cap_utxos, (uint64_t)g->n_utxos + 1, sizeof(gen_utxo)))
        return 0;
    return g->n_utxos++;
}

/* ---- keys, addresses and scripts ---- */

static void key_bytes(const gen *g, uint32_t id, uint32_t k, uint8_t *out, size_t n)
{
    uint64_t x = gen_mix64(g->key_seed ^ ((uint64_t)id << 8 | k));
    for (size_t i = 0; i < n; i += 8) {
        x = gen_mix64(x);
        uint8_t b[8];
        util_put_le64(b, x);
        memcpy(out + i, b, n - i < 8 ? n - i : 8);
    }
}

/* Public key k of address id: 33 bytes (02/03 prefix) or 65 (04). Not on the curve, which
 * nothing here checks; the hashes that commit to it are real. */
static size_t pubkey(const gen *g, uint32_t id, uint32_t k, int uncompressed, uint8_t *out)
{
    if (uncompressed) {
        out[0] = 4;
        key_bytes(g, id, k, out + 1, 64);
        return 65;
    }
    key_bytes(g, id, k, out + 1, 32);
    out[0] = (uint8_t)(2 | (out[32] & 1));
    return 33;
}

/* The 2-of-3 multisig behind P2SH_MS and P2WSH addresses: 105 bytes. */
static size_t multisig_script(const gen *g, uint32_t id, uint8_t *out)
{
    size_t o = 0;
    out[o++] = 0x52;
    for (uint32_t k = 0; k < 3; k++) {
        out[o++] = 33;
        o += pubkey(g, id, k, 0, out + o);
    }
    out[o++] = 0x53;
    out[o++] = 0xae;
    return o;
}

static const uint8_t style_type[GEN_NSTYLES] = {BTC_P2PK,   BTC_P2PKH, BTC_P2SH, BTC_P2SH,
                                                BTC_P2WPKH, BTC_P2WSH, BTC_P2TR};
static const uint8_t style_script_len[GEN_NSTYLES] = {35, 25, 23, 23, 22, 34, 34};
/* Input vbytes by style (compressed keys; uncompressed P2PKH/P2PK add 32 bytes). */
static const uint16_t style_in_vbytes[GEN_NSTYLES] = {114, 148, 297, 91, 68, 105, 58};

static int style_witness(int s)
{
    return s == GEN_S_P2SH_WPKH || s == GEN_S_P2WPKH || s == GEN_S_P2WSH || s == GEN_S_P2TR;
}

uint32_t gen_addr_new(gen *g, uint32_t owner, int style)
{
    uint32_t id = new_addr_index(g);
    gen_addr *a = &g->addrs[id];
    memset(a, 0, sizeof *a);
    a->owner = owner;
    a->style = (uint8_t)style;
    uint8_t buf[128];
    size_t n;
    if (style == GEN_S_P2PK || style == GEN_S_P2PKH) {
        /* Uncompressed keys were the norm until 2012 and gone by 2015. */
        double p = g->era < 2011.5 ? 0.95 : g->era < 2014.5 ? (2014.5 - g->era) / 3.0 : 0.0;
        a->uncompressed = (uint8_t)gen_chance(&g->rng, p);
    }
    switch (style) {
    case GEN_S_P2PK:
    case GEN_S_P2PKH:
    case GEN_S_P2WPKH:
        n = pubkey(g, id, 0, a->uncompressed, buf);
        crypto_hash160(buf, n, a->prog);
        break;
    case GEN_S_P2SH_WPKH: {
        uint8_t redeem[22] = {0x00, 0x14};
        n = pubkey(g, id, 0, 0, buf);
        crypto_hash160(buf, n, redeem + 2);
        crypto_hash160(redeem, 22, a->prog);
        break;
    }
    case GEN_S_P2SH_MS:
        n = multisig_script(g, id, buf);
        crypto_hash160(buf, n, a->prog);
        break;
    case GEN_S_P2WSH:
        n = multisig_script(g, id, buf);
        crypto_sha256(buf, n, a->prog);
        break;
    default: /* P2TR: the x-only output key */
        key_bytes(g, id, 7, a->prog, 32);
        break;
    }
    return id;
}

size_t gen_script(const gen *g, uint32_t id, uint8_t *out)
{
    const gen_addr *a = &g->addrs[id];
    switch (a->style) {
    case GEN_S_P2PK: {
        size_t n = pubkey(g, id, 0, a->uncompressed, out + 1);
        out[0] = (uint8_t)n;
        out[n + 1] = 0xac;
        return n + 2;
    }
    case GEN_S_P2PKH:
        out[0] = 0x76, out[1] = 0xa9, out[2] = 0x14;
        memcpy(out + 3, a->prog, 20);
        out[23] = 0x88, out[24] = 0xac;
        return 25;
    case GEN_S_P2SH_MS:
    case GEN_S_P2SH_WPKH:
        out[0] = 0xa9, out[1] = 0x14;
        memcpy(out + 2, a->prog, 20);
        out[22] = 0x87;
        return 23;
    case GEN_S_P2WPKH:
        out[0] = 0x00, out[1] = 0x14;
        memcpy(out + 2, a->prog, 20);
        return 22;
    case GEN_S_P2WSH:
        out[0] = 0x00, out[1] = 0x20;
        memcpy(out + 2, a->prog, 32);
        return 34;
    default:
        out[0] = 0x51, out[1] = 0x20;
        memcpy(out + 2, a->prog, 32);
        return 34;
    }
}

int gen_addr_to_btc(const gen *g, uint32_t id, btc_addr *b)
{
    const gen_addr *a = &g->addrs[id];
    memset(b, 0, sizeof *b);
    switch (a->style) {
    case GEN_S_P2PK:
    case GEN_S_P2PKH:
        b->kind = BTC_ADDR_P2PKH, b->len = 20;
        break;
    case GEN_S_P2SH_MS:
    case GEN_S_P2SH_WPKH:
        b->kind = BTC_ADDR_P2SH, b->len = 20;
        break;
    case GEN_S_P2WPKH:
        b->kind = BTC_ADDR_P2WPKH, b->len = 20;
        break;
    case GEN_S_P2WSH:
        b->kind = BTC_ADDR_P2WSH, b->len = 32;
        break;
    default:
        b->kind = BTC_ADDR_P2TR, b->len = 32, b->witver = 1;
        break;
    }
    memcpy(b->prog, a->prog, b->len);
    return b->kind;
}

/* Script-style shares over mainnet's history (year, then P2PK P2PKH P2SH-multisig
 * P2SH-P2WPKH P2WPKH P2WSH P2TR in percent of new outputs), interpolated linearly. */
static const double mix_table[][1 + GEN_NSTYLES] = {
    {2009.0, 90, 10, 0, 0, 0, 0, 0},       {2010.5, 15, 85, 0, 0, 0, 0, 0},
    {2012.2, 2, 98, 0, 0, 0, 0, 0},        {2014.0, 1, 90, 9, 0, 0, 0, 0},
    {2017.6, 0.5, 70, 29.5, 0, 0, 0, 0},   {2019.0, 0.2, 48, 17, 20, 13, 1.8, 0},
    {2021.8, 0.1, 33, 10, 15, 38, 3.9, 0}, {2023.0, 0.1, 24, 8, 11, 47, 4.5, 5.4},
    {2024.5, 0.1, 15, 5, 7, 50, 5, 17.9},
};

void gen_mix_at(gen *g)
{
    size_t n = sizeof mix_table / sizeof mix_table[0], i = 0;
    double shares[GEN_NSTYLES];
    if (g->era <= mix_table[0][0]) {
        for (int s = 0; s < GEN_NSTYLES; s++)
            shares[s] = mix_table[0][1 + s];
    } else if (g->era >= mix_table[n - 1][0]) {
        for (int s = 0; s < GEN_NSTYLES; s++)
            shares[s] = mix_table[n - 1][1 + s];
    } else {
        while (g->era >= mix_table[i + 1][0])
            i++;
        double f = (g->era - mix_table[i][0]) / (mix_table[i + 1][0] - mix_table[i][0]);
        for (int s = 0; s < GEN_NSTYLES; s++)
            shares[s] = mix_table[i][1 + s] * (1 - f) + mix_table[i + 1][1 + s] * f;
    }
    double tot = 0;
    for (int s = 0; s < GEN_NSTYLES; s++)
        tot += shares[s];
    double c = 0;
    for (int s = 0; s < GEN_NSTYLES; s++) {
        c += shares[s] / tot;
        g->mix[s] = c;
    }
    g->mix[GEN_NSTYLES - 1] = 1.0;
}

static int style_at(const gen *g, double q)
{
    for (int s = 0; s < GEN_NSTYLES; s++)
        if (q < g->mix[s]) return s;
    return GEN_NSTYLES - 1;
}

int gen_style_for(gen *g, uint32_t ent)
{
    const gen_entity *e = &g->ents[ent];
    if ((e->flags & GEN_F_PRIVACY) && g->era >= 2018.6)
        return g->era >= 2023.5 && e->type_q > 0.7 ? GEN_S_P2TR : GEN_S_P2WPKH;
    if (e->kind == GEN_K_THIEF) return g->era >= 2018.0 ? GEN_S_P2WPKH : GEN_S_P2PKH;
    int s = style_at(g, gen_chance(&g->rng, 0.05) ? gen_unif(&g->rng) : e->type_q);
    /* Plain P2PK receive addresses stopped early; after 2011 they come from old software. */
    if (s == GEN_S_P2PK && g->era > 2011.0 && e->kind != GEN_K_MINER) s = GEN_S_P2PKH;
    return s;
}

uint32_t gen_addr_recv(gen *g, uint32_t ent, double reuse)
{
    gen_entity *e = &g->ents[ent];
    if (e->addrs.n && gen_chance(&g->rng, reuse)) return e->addrs.v[gen_below(&g->rng, e->addrs.n)];
    return gen_addr_new(g, ent, gen_style_for(g, ent));
}

/* ---- signatures and spends ---- */

/* A DER signature with sighash byte: 71-73 bytes as on mainnet (low-S after 2015). */
static size_t der_sig(gen *g, uint8_t *out)
{
    uint8_t r[33], s[33];
    size_t rl = 32, sl = 32;
    key_bytes(g, (uint32_t)gen_rand(&g->rng), 9, r + 1, 32);
    key_bytes(g, (uint32_t)gen_rand(&g->rng), 10, s + 1, 32);
    if (!r[1]) r[1] = 1;
    if (g->era >= 2015.8 || gen_chance(&g->rng, 0.5)) s[1] &= 0x7f;
    if (!s[1]) s[1] = 1;
    uint8_t *rp = r + 1, *sp = s + 1;
    if (r[1] & 0x80) rp = r, r[0] = 0, rl = 33;
    if (s[1] & 0x80) sp = s, s[0] = 0, sl = 33;
    size_t o = 0;
    out[o++] = 0x30;
    out[o++] = (uint8_t)(4 + rl + sl);
    out[o++] = 0x02;
    out[o++] = (uint8_t)rl;
    memcpy(out + o, rp, rl);
    o += rl;
    out[o++] = 0x02;
    out[o++] = (uint8_t)sl;
    memcpy(out + o, sp, sl);
    o += sl;
    out[o++] = 0x01; /* SIGHASH_ALL */
    return o;
}

static size_t push(uint8_t *p, const uint8_t *d, size_t n)
{
    size_t o = 0;
    if (n < 0x4c)
        p[o++] = (uint8_t)n;
    else
        p[o++] = 0x4c, p[o++] = (uint8_t)n;
    memcpy(p + o, d, n);
    return o + n;
}

/* Write the scriptSig (with its length) spending address id. */
static size_t script_sig(gen *g, uint32_t id, uint8_t *p)
{
    const gen_addr *a = &g->addrs[id];
    uint8_t s[320], tmp[128];
    size_t o = 0, n;
    switch (a->style) {
    case GEN_S_P2PK:
        o += push(s + o, tmp, der_sig(g, tmp));
        break;
    case GEN_S_P2PKH:
        o += push(s + o, tmp, der_sig(g, tmp));
        n = pubkey(g, id, 0, a->uncompressed, tmp);
        o += push(s + o, tmp, n);
        break;
    case GEN_S_P2SH_MS:
        s[o++] = 0x00; /* CHECKMULTISIG's extra pop */
        o += push(s + o, tmp, der_sig(g, tmp));
        o += push(s + o, tmp, der_sig(g, tmp));
        n = multisig_script(g, id, tmp);
        o += push(s + o, tmp, n);
        break;
    case GEN_S_P2SH_WPKH: {
        uint8_t redeem[22] = {0x00, 0x14};
        n = pubkey(g, id, 0, 0, tmp);
        crypto_hash160(tmp, n, redeem + 2);
        o += push(s + o, redeem, 22);
        break;
    }
    default:
        break; /* native witness: empty scriptSig */
    }
    size_t v = gen_varint(p, o); /* a 2-of-3 P2SH spend can reach 256 bytes */
    memcpy(p + v, s, o);
    return o + v;
}

/* Write the witness stack spending address id (0x00 for a non-witness input). */
static size_t witness(gen *g, uint32_t id, uint8_t *p)
{
    const gen_addr *a = &g->addrs[id];
    uint8_t tmp[128];
    size_t o = 0, n;
    switch (a->style) {
    case GEN_S_P2SH_WPKH:
    case GEN_S_P2WPKH:
        p[o++] = 2;
        n = der_sig(g, tmp);
        p[o++] = (uint8_t)n;
        memcpy(p + o, tmp, n);
        o += n;
        n = pubkey(g, id, 0, 0, tmp);
        p[o++] = (uint8_t)n;
        memcpy(p + o, tmp, n);
        return o + n;
    case GEN_S_P2WSH:
        p[o++] = 4;
        p[o++] = 0;
        for (int k = 0; k < 2; k++) {
            n = der_sig(g, tmp);
            p[o++] = (uint8_t)n;
            memcpy(p + o, tmp, n);
            o += n;
        }
        n = multisig_script(g, id, tmp);
        p[o++] = (uint8_t)n;
        memcpy(p + o, tmp, n);
        return o + n;
    case GEN_S_P2TR:
        /* Key path: one 64-byte Schnorr signature (SIGHASH_DEFAULT). */
        p[o++] = 1;
        p[o++] = 64;
        key_bytes(g, (uint32_t)gen_rand(&g->rng), 11, p + o, 64);
        return o + 64;
    default:
        p[0] = 0;
        return 1;
    }
}

size_t gen_varint(uint8_t *p, uint64_t v)
{
    if (v < 0xfd) {
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v <= 0xffff) {
        p[0] = 0xfd, p[1] = (uint8_t)v, p[2] = (uint8_t)(v >> 8);
        return 3;
    }
    p[0] = 0xfe;
    util_put_le32(p + 1, (uint32_t)v);
    return 5;
}

/* ---- the tx builder ---- */

void gen_tx_begin(gen *g, uint32_t ent)
{
    g->nin = g->nout = g->raw_len = g->n_attr = 0;
    int fp = ent == GEN_NONE ? 2 : g->ents[ent].fp;
    g->version = g->era < 2016.0 ? 1 : (fp == 1 || fp == 2) ? 2 : 1;
    g->locktime = 0;
    g->sequence = 0xffffffffu;
    if (fp == 1 && g->era >= 2014.5 && g->height > 0) g->locktime = g->height - 1;
    if (fp == 1) g->sequence = g->era >= 2016.5 ? 0xfffffffdu : 0xfffffffeu;
    if (fp == 3) g->sequence = 0xfffffffeu;
}

void gen_tx_add_input(gen *g, uint32_t slot, uint32_t from)
{
    if (g->nin >= GEN_TX_MAX_IN) return; /* callers stay below; never reached */
    gen_in *in = &g->tin[g->nin++];
    const gen_utxo *u = &g->utxos[slot];
    memcpy(in->txid, u->txid, 32);
    in->value = u->value;
    in->vout = u->vout;
    in->addr = u->addr;
    in->slot = slot;
    in->from = from;
}

void gen_tx_take(gen *g, uint32_t ent, int w, uint32_t idx)
{
    gen_wallet *wl = &g->ents[ent].w[w];
    uint32_t slot = wl->coins.v[idx];
    wl->coins.v[idx] = wl->coins.v[--wl->coins.n];
    wl->sum -= g->utxos[slot].value;
    gen_tx_add_input(g, slot, GEN_DEST(ent, w));
}

void gen_wallet_add(gen *g, uint32_t dest, uint32_t slot)
{
    gen_wallet *w = &g->ents[dest / GEN_NWALLETS].w[dest % GEN_NWALLETS];
    if (gen_vec_push(g, &w->coins, slot)) return;
    w->sum += g->utxos[slot].value;
}

int gen_tx_out(gen *g, uint32_t addr, int64_t value, uint32_t dest)
{
    if (g->nout >= GEN_TX_MAX_OUT) return -1;
    gen_out *o = &g->tout[g->nout];
    o->value = value;
    o->addr = addr;
    o->dest = dest;
    o->raw_off = o->raw_len = 0;
    o->key = 0;
    o->tag = 0;
    return (int)g->nout++;
}

int gen_tx_out_raw(gen *g, const uint8_t *script, size_t len, int64_t value)
{
    if (g->nout >= GEN_TX_MAX_OUT || len > 0xffff || g->raw_len + len > GEN_RAW_CAP) return -1;
    gen_out *o = &g->tout[g->nout];
    o->value = value;
    o->addr = GEN_NONE;
    o->dest = GEN_DEST_NONE;
    o->raw_off = g->raw_len;
    o->raw_len = (uint16_t)len;
    o->key = 0;
    o->tag = 0;
    memcpy(g->raw + g->raw_len, script, len);
    g->raw_len += (uint32_t)len;
    return (int)g->nout++;
}

void gen_tx_abort(gen *g)
{
    for (uint32_t i = 0; i < g->nin; i++)
        if (g->tin[i].from < GEN_DEST_HOLD) gen_wallet_add(g, g->tin[i].from, g->tin[i].slot);
    g->nin = g->nout = g->raw_len = g->n_attr = 0;
}

int64_t gen_tx_in_sum(const gen *g)
{
    int64_t s = 0;
    for (uint32_t i = 0; i < g->nin; i++)
        s += g->tin[i].value;
    return s;
}

int64_t gen_tx_out_sum(const gen *g)
{
    int64_t s = 0;
    for (uint32_t i = 0; i < g->nout; i++)
        s += g->tout[i].value;
    return s;
}

uint32_t gen_tx_vsize(const gen *g, uint32_t extra_outs)
{
    uint32_t v = 11 + extra_outs * 31;
    for (uint32_t i = 0; i < g->nin; i++) {
        const gen_addr *a = &g->addrs[g->tin[i].addr];
        v += style_in_vbytes[a->style] + (a->uncompressed ? 32 : 0);
    }
    for (uint32_t i = 0; i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        if (o->addr == GEN_NONE)
            v += 9 + o->raw_len;
        else {
            const gen_addr *a = &g->addrs[o->addr];
            v += 9 + style_script_len[a->style] +
                 (a->uncompressed && a->style == GEN_S_P2PK ? 32 : 0);
        }
    }
    return v;
}

double gen_fee_rate(gen *g)
{
    return g->fee_base * (0.8 + 0.7 * gen_unif(&g->rng));
}

int64_t gen_fee(gen *g, double rate, uint32_t extra_outs)
{
    return (int64_t)(rate * gen_tx_vsize(g, extra_outs) + 0.5);
}

int gen_pick_coin(gen *g, gen_wallet *w, unsigned mask, int64_t min_value, uint32_t *idx)
{
    uint32_t n = w->coins.n;
    if (!n) return 0;
    uint32_t start = gen_below(&g->rng, n);
    if (mask == GEN_MASK_ANY && min_value <= 0) {
        *idx = start;
        return 1;
    }
    uint32_t tries = n < 64 ? n : 64;
    for (uint32_t k = 0; k < tries; k++) {
        uint32_t i = (start + k) % n;
        const gen_utxo *u = &g->utxos[w->coins.v[i]];
        if (u->value >= min_value && (mask & GEN_STYLE_BIT(g->addrs[u->addr].style))) {
            *idx = i;
            return 1;
        }
    }
    return 0;
}

static uint32_t change_addr(gen *g, uint32_t ent)
{
    gen_entity *e = &g->ents[ent];
    if (e->fixed[0] != GEN_NONE && e->kind != GEN_K_USER && gen_chance(&g->rng, 0.7))
        return e->fixed[0];
    if (g->nin && gen_chance(&g->rng, g->cfg.reuse_rate * 0.5)) {
        uint32_t a = g->tin[gen_below(&g->rng, g->nin)].addr;
        if (g->addrs[a].owner == ent) return a;
    }
    return gen_addr_new(g, ent, gen_style_for(g, ent));
}

int gen_fund(gen *g, uint32_t ent, int w, unsigned mask, double rate, int flex, uint32_t max_in)
{
    gen_wallet *wl = &g->ents[ent].w[w];
    int64_t out = gen_tx_out_sum(g), in = gen_tx_in_sum(g);
    if (max_in > GEN_TX_MAX_IN) max_in = GEN_TX_MAX_IN;
    /* Like common wallets: the smallest coin that covers the payment alone, else the largest
     * coins first (looking at up to 128 coins from a random start, to stay cheap); some
     * wallets just take coins in no particular order. */
    int random_order = gen_chance(&g->rng, 0.3);
    while (g->nin < max_in && wl->coins.n) {
        int64_t need = out + gen_fee(g, rate, 1) + 68 * (int64_t)rate - in;
        if (g->nin && need <= 0) break;
        if (random_order) {
            uint32_t idx;
            if (!gen_pick_coin(g, wl, mask, 0, &idx)) break;
            in += g->utxos[wl->coins.v[idx]].value;
            gen_tx_take(g, ent, w, idx);
            continue;
        }
        uint32_t n = wl->coins.n, start = gen_below(&g->rng, n), lim = n < 128 ? n : 128;
        uint32_t best = GEN_NONE, big = GEN_NONE;
        int64_t bestv = 0, bigv = -1;
        for (uint32_t k = 0; k < lim; k++) {
            uint32_t i = (start + k) % n;
            const gen_utxo *u = &g->utxos[wl->coins.v[i]];
            if (!(mask & GEN_STYLE_BIT(g->addrs[u->addr].style))) continue;
            if (u->value >= need && (best == GEN_NONE || u->value < bestv))
                best = i, bestv = u->value;
            if (u->value > bigv) big = i, bigv = u->value;
        }
        uint32_t idx = best != GEN_NONE ? best : big;
        if (idx == GEN_NONE) break;
        in += g->utxos[wl->coins.v[idx]].value;
        gen_tx_take(g, ent, w, idx);
    }
    int64_t fee0 = gen_fee(g, rate, 0);
    if (!g->nin || in < out + fee0) {
        int64_t v = flex >= 0 ? in - fee0 - (out - g->tout[flex].value) : 0;
        if (flex < 0 || !g->nin || v < GEN_DUST) {
            gen_tx_abort(g);
            return 0;
        }
        g->tout[flex].value = v;
        return 1;
    }
    int64_t change = in - out - gen_fee(g, rate, 1);
    if (change >= GEN_DUST) gen_tx_out(g, change_addr(g, ent), change, GEN_DEST(ent, GEN_W_MAIN));
    return 1;
}

void gen_tx_shuffle(gen *g)
{
    for (uint32_t i = g->nin; i > 1; i--) {
        uint32_t j = gen_below(&g->rng, i);
        gen_in t = g->tin[i - 1];
        g->tin[i - 1] = g->tin[j];
        g->tin[j] = t;
    }
    for (uint32_t i = g->nout; i > 1; i--) {
        uint32_t j = gen_below(&g->rng, i);
        gen_out t = g->tout[i - 1];
        g->tout[i - 1] = g->tout[j];
        g->tout[j] = t;
    }
}

/* BIP 69: inputs by previous txid (display order) then index, outputs by value then script
 * (approximated by the committed hash, which orders the same way within one script type). */
static int cmp_in(const void *a, const void *b)
{
    const gen_in *x = a, *y = b;
    for (int i = 31; i >= 0; i--)
        if (x->txid[i] != y->txid[i]) return x->txid[i] < y->txid[i] ? -1 : 1;
    return x->vout < y->vout ? -1 : x->vout > y->vout;
}
static int cmp_out(const void *a, const void *b)
{
    const gen_out *x = a, *y = b;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return x->raw_off < y->raw_off ? -1 : x->raw_off > y->raw_off;
}

static void bip69(gen *g)
{
    qsort(g->tin, g->nin, sizeof(gen_in), cmp_in);
    for (uint32_t i = 0; i < g->nout; i++)
        g->tout[i].key = g->tout[i].addr == GEN_NONE ? 0 : g->addrs[g->tout[i].addr].prog[0];
    qsort(g->tout, g->nout, sizeof(gen_out), cmp_out);
}

int gen_tx_finish(gen *g)
{
    if (!g->nin || !g->nout)
        return util_errf(g->err, UTIL_EINVAL, "generator bug: tx with %u inputs, %u outputs",
                         g->nin, g->nout);
    int64_t in_sum = gen_tx_in_sum(g), out_sum = gen_tx_out_sum(g);
    if (out_sum > in_sum)
        return util_errf(g->err, UTIL_EINVAL,
                         "generator bug: tx at height %u spends %lld but pays %lld", g->height,
                         (long long)in_sum, (long long)out_sum);
    uint32_t thief = GEN_NONE;
    int segwit = 0;
    for (uint32_t i = 0; i < g->nin; i++) {
        const gen_addr *a = &g->addrs[g->tin[i].addr];
        segwit |= style_witness(a->style);
        if (g->ents[a->owner].kind == GEN_K_THIEF) thief = a->owner;
    }
    if (g->ents[g->addrs[g->tin[0].addr].owner].bip69) bip69(g);

    size_t bound = 16 + (size_t)g->nin * (41 + 260 + 270) + (size_t)g->nout * (12 + 8) +
                   g->raw_len + (size_t)g->nout * 70;
    if (util_buf_reserve(&g->blk, bound)) return g->oom = 1, UTIL_ENOMEM;
    if (g->blk_ntx + 2 > g->cap_txids) {
        uint32_t nc = g->cap_txids * 2 + 64;
        uint8_t *a = realloc(g->txids, (size_t)nc * 32), *b;
        if (!a) return g->oom = 1, UTIL_ENOMEM;
        g->txids = a;
        b = realloc(g->wtxids, (size_t)nc * 32);
        if (!b) return g->oom = 1, UTIL_ENOMEM;
        g->wtxids = b;
        g->cap_txids = nc;
    }
    uint8_t *start = g->blk.data + g->blk.len, *p = start;
    util_put_le32(p, g->version);
    p += 4;
    if (segwit) *p++ = 0x00, *p++ = 0x01;
    uint8_t *body = p;
    p += gen_varint(p, g->nin);
    for (uint32_t i = 0; i < g->nin; i++) {
        memcpy(p, g->tin[i].txid, 32);
        util_put_le32(p + 32, g->tin[i].vout);
        p += 36;
        p += script_sig(g, g->tin[i].addr, p);
        util_put_le32(p, g->sequence);
        p += 4;
    }
    p += gen_varint(p, g->nout);
    for (uint32_t i = 0; i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        util_put_le64(p, (uint64_t)o->value);
        p += 8;
        size_t n;
        if (o->addr == GEN_NONE) {
            n = o->raw_len;
            p += gen_varint(p, n);
            memcpy(p, g->raw + o->raw_off, n);
        } else {
            n = gen_script(g, o->addr, p + 1);
            p[0] = (uint8_t)n;
            p++;
        }
        p += n;
    }
    uint8_t *body_end = p;
    if (segwit)
        for (uint32_t i = 0; i < g->nin; i++)
            p += witness(g, g->tin[i].addr, p);
    util_put_le32(p, g->locktime);
    p += 4;
    size_t total = (size_t)(p - start), base = segwit ? (size_t)(body_end - body) + 8 : total;

    uint8_t *txid = g->txids + 32 * (size_t)(g->blk_ntx + 1);
    uint8_t *wtxid = g->wtxids + 32 * (size_t)(g->blk_ntx + 1);
    if (segwit) {
        crypto_sha256_ctx c;
        crypto_sha256_init(&c);
        crypto_sha256_update(&c, start, 4);
        crypto_sha256_update(&c, body, (size_t)(body_end - body));
        crypto_sha256_update(&c, p - 4, 4);
        crypto_sha256d_final(&c, txid);
        crypto_sha256d(start, total, wtxid);
    } else {
        crypto_sha256d(start, total, txid);
        memcpy(wtxid, txid, 32);
    }
    memcpy(g->last_txid, txid, 32);
    g->blk.len += total;
    g->blk_ntx++;
    g->blk_weight += base * 3 + total;
    g->blk_segwit |= segwit;
    int64_t fee = in_sum - out_sum;
    g->blk_fees += fee;
    g->st.txs++;
    g->st.inputs += g->nin;
    g->st.outputs += g->nout;
    g->st.total_output_value += out_sum;
    g->st.total_fees += fee;
    g->spent_value += in_sum;

    if (thief != GEN_NONE) gen_scen_account(g);
    for (uint32_t i = 0; i < g->nin; i++)
        gen_vec_push(g, &g->free_utxos, g->tin[i].slot);
    for (uint32_t i = 0; i < g->nout; i++) {
        const gen_out *o = &g->tout[i];
        g->out_slot[i] = GEN_NONE;
        if (o->addr == GEN_NONE) {
            btc_addr dummy;
            g->st.outputs_by_type[btc_classify_script(g->raw + o->raw_off, o->raw_len, &dummy)]++;
            continue;
        }
        gen_addr *a = &g->addrs[o->addr];
        g->st.outputs_by_type[style_type[a->style]]++;
        if (!a->used) {
            a->used = 1;
            g->st.addresses++;
            gen_vec_push(g, &g->ents[a->owner].addrs, o->addr);
        }
        if (o->dest == GEN_DEST_NONE) continue;
        uint32_t slot = gen_utxo_new(g);
        gen_utxo *u = &g->utxos[slot];
        memcpy(u->txid, txid, 32);
        u->value = o->value;
        u->vout = i;
        u->addr = o->addr;
        g->out_slot[i] = slot;
        if (o->dest != GEN_DEST_HOLD) gen_wallet_add(g, o->dest, slot);
    }
    return 0;
}
