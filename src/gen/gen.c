/* gen: the run loop. Each block: matured coinbases join their pools' wallets, scenarios move
 * stolen coins, CoinJoin rounds run, the economy fills the block, then the coinbase (subsidy +
 * fees, BIP 34 height, BIP 141 commitment) is built and the block is framed into blk files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen_int.h"

#define GEN_WBUF (4u << 20)

void gen_config_init(gen_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->blocks = 1000;
    c->txs_per_block = 500;
    c->users = 2000;
    c->exchanges = 5;
    c->merchants = 50;
    c->miners = 4;
    c->scenarios = 1;
    c->halving_interval = 210000;
    c->maturity = 100;
    c->reuse_rate = 0.2;
    c->privacy_rate = 0.1;
    c->coinjoin_rate = 1.0;
    c->era_start = 2009.0;
    c->era_end = 2024.3;
    c->file_size = 128u << 20;
    c->user_addresses = 1;
    c->progress_every = 100;
    c->evm_scenarios = 1;
    c->evm_txs_per_block = 1.0;
}

int gen_config_check(const gen_config *c, util_err *err)
{
    if (!c->out_dir || !*c->out_dir)
        return util_errf(err, UTIL_EINVAL, "no output directory given (--out DIR)");
    /* Timestamps are 32-bit: 3M blocks at ~600 s from 2030 still end before 2106. */
    if (c->blocks < 1 || c->blocks > 3000000)
        return util_errf(err, UTIL_EINVAL, "blocks %u: must be 1..3000000", c->blocks);
    if (c->txs_per_block < 1 || c->txs_per_block > 20000)
        return util_errf(err, UTIL_EINVAL, "txs per block %u: must be 1..20000", c->txs_per_block);
    if (c->users < 10 || c->users > 50000000)
        return util_errf(err, UTIL_EINVAL, "users %u: must be 10..50000000", c->users);
    if (c->exchanges < 1 || c->exchanges > 10000)
        return util_errf(err, UTIL_EINVAL, "exchanges %u: must be 1..10000", c->exchanges);
    if (c->merchants > 1000000)
        return util_errf(err, UTIL_EINVAL, "merchants %u: must be 0..1000000", c->merchants);
    if (c->miners < 1 || c->miners > 10000)
        return util_errf(err, UTIL_EINVAL, "miners %u: must be 1..10000", c->miners);
    if (c->scenarios > 10000)
        return util_errf(err, UTIL_EINVAL, "scenarios %u: must be 0..10000", c->scenarios);
    if (c->maturity > 1000)
        return util_errf(err, UTIL_EINVAL, "maturity %u: must be 0..1000", c->maturity);
    if (!(c->reuse_rate >= 0 && c->reuse_rate <= 1))
        return util_errf(err, UTIL_EINVAL, "reuse rate %g: must be 0..1", c->reuse_rate);
    if (!(c->privacy_rate >= 0 && c->privacy_rate <= 1))
        return util_errf(err, UTIL_EINVAL, "privacy rate %g: must be 0..1", c->privacy_rate);
    if (!(c->coinjoin_rate >= 0 && c->coinjoin_rate <= 100))
        return util_errf(err, UTIL_EINVAL, "coinjoin rate %g: must be 0..100", c->coinjoin_rate);
    if (!(c->era_start >= 2009.0 && c->era_end <= 2030.0 && c->era_start <= c->era_end))
        return util_errf(err, UTIL_EINVAL, "era %g..%g: must satisfy 2009 <= start <= end <= 2030",
                         c->era_start, c->era_end);
    if (!(c->generic_rounds >= 0 && c->generic_rounds <= 100))
        return util_errf(err, UTIL_EINVAL, "generic rounds %g: must be 0..100", c->generic_rounds);
    if (!(c->lookalikes >= 0 && c->lookalikes <= 100))
        return util_errf(err, UTIL_EINVAL, "lookalikes %g: must be 0..100", c->lookalikes);
    if (!(c->tx0_discount >= 0 && c->tx0_discount <= 1))
        return util_errf(err, UTIL_EINVAL, "tx0 discount %g: must be 0..1", c->tx0_discount);
    if (!(c->swap_returns >= 0 && c->swap_returns <= 1))
        return util_errf(err, UTIL_EINVAL, "swap returns %g: must be 0..1", c->swap_returns);
    if (!(c->thief_remix >= 0 && c->thief_remix <= 0.9))
        return util_errf(err, UTIL_EINVAL, "thief remix %g: must be 0..0.9", c->thief_remix);
    if (c->evm_services > 16)
        return util_errf(err, UTIL_EINVAL, "evm services %u: must be 0..16", c->evm_services);
    if (c->evm && c->evm_scenarios > 64)
        return util_errf(err, UTIL_EINVAL, "evm scenarios %u: must be 0..64", c->evm_scenarios);
    if (c->evm && !(c->evm_txs_per_block >= 0 && c->evm_txs_per_block <= 200))
        return util_errf(err, UTIL_EINVAL, "evm txs per block %g: must be 0..200",
                         c->evm_txs_per_block);
    if (c->file_size < (1u << 20) || c->file_size > (2047ull << 20))
        return util_errf(err, UTIL_EINVAL, "file size %llu: must be 1 MiB..2047 MiB",
                         (unsigned long long)c->file_size);
    return 0;
}

int64_t gen_subsidy(uint32_t height, uint32_t interval)
{
    uint32_t halvings = interval ? height / interval : 0;
    return halvings >= 64 ? 0 : (50 * GEN_COIN) >> halvings;
}

/* ---- output files ---- */

static int wflush(gen *g)
{
    if (g->wlen && util_write_all(g->fd, g->wbuf, g->wlen))
        return util_errf(g->err, UTIL_EIO, "%s/blk%05u.dat: write failed: %s", g->cfg.out_dir,
                         g->file_no, strerror(errno));
    g->wlen = 0;
    return 0;
}

static int wbytes(gen *g, const uint8_t *p, size_t n)
{
    while (n) {
        size_t k = GEN_WBUF - g->wlen < n ? GEN_WBUF - g->wlen : n;
        uint8_t *d = g->wbuf + g->wlen;
        memcpy(d, p, k);
        if (g->cfg.xor_files)
            for (size_t i = 0; i < k; i++)
                d[i] ^= g->xor_key[(g->file_off + i) & 7];
        g->wlen += k, g->file_off += k, p += k, n -= k;
        g->st.bytes += k;
        if (g->wlen == GEN_WBUF && wflush(g)) return UTIL_EIO;
    }
    return 0;
}

static int open_blk(gen *g)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/blk%05u.dat", g->cfg.out_dir, g->file_no);
    g->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (g->fd < 0)
        return util_errf(g->err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
    g->file_off = 0;
    g->st.files++;
    return 0;
}

static int close_blk(gen *g)
{
    int rc = wflush(g);
    if (g->fd >= 0 && close(g->fd) < 0 && !rc)
        rc = util_errf(g->err, UTIL_EIO, "%s/blk%05u.dat: close failed: %s", g->cfg.out_dir,
                       g->file_no, strerror(errno));
    g->fd = -1;
    return rc;
}

static int is_ours(const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "xor.dat") || !strcmp(name, "truth.jsonl") || !strcmp(name, "labels.csv") ||
        !strcmp(name, "incidents.csv"))
        return 1;
    return n == 12 && !strncmp(name, "blk", 3) && !strcmp(name + 8, ".dat");
}

/* Create out_dir, or check that it holds no earlier output (removed with overwrite). */
static int prepare_dir(gen *g)
{
    const char *dir = g->cfg.out_dir;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return util_errf(g->err, UTIL_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return util_errf(g->err, UTIL_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && !rc) {
        if (!is_ours(de->d_name)) continue;
        if (!g->cfg.overwrite) {
            rc = util_errf(g->err, UTIL_EINVAL,
                           "%s already holds %s from an earlier run; choose an empty directory "
                           "or overwrite (--force)",
                           dir, de->d_name);
            break;
        }
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) < 0)
            rc = util_errf(g->err, UTIL_EIO, "%s: cannot remove: %s", path, strerror(errno));
    }
    closedir(d);
    return rc ? rc : gen_evm_prepare(g); /* an earlier --evm run's CSVs count as ours too */
}

/* ---- blocks ---- */

static void merkle(uint8_t *hashes, uint32_t n, uint8_t out[32])
{
    while (n > 1) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i += 2) {
            uint8_t pair[64];
            memcpy(pair, hashes + 32 * (size_t)i, 32);
            memcpy(pair + 32, hashes + 32 * (size_t)(i + 1 < n ? i + 1 : i), 32);
            crypto_sha256d(pair, 64, hashes + 32 * (size_t)m++);
        }
        n = m;
    }
    memcpy(out, hashes, 32);
}

static void begin_block(gen *g, uint32_t h)
{
    const gen_config *c = &g->cfg;
    g->height = h;
    g->era = c->blocks > 1 ? c->era_start + (c->era_end - c->era_start) * h / (c->blocks - 1)
                           : c->era_start;
    gen_mix_at(g);
    if (h > 0) {
        double gap = -600.0 * gen_ln(1.0 - gen_unif(&g->rng));
        uint32_t step = gap < 1 ? 1 : gap > 7200 ? 7200 : (uint32_t)gap;
        g->time += g->time < 0xfff00000u ? step : 1;
    }
    gen_rng *r = &g->rng;
    if (g->era < 2010.5)
        g->fee_base = 0;
    else if (g->era < 2013.0)
        g->fee_base = gen_chance(r, 0.3) ? 0 : 10 + 40 * gen_unif(r);
    else if (g->era < 2016.0)
        g->fee_base = 10 + 20 * gen_unif(r);
    else
        g->fee_base = gen_chance(r, 0.03) ? gen_logunif(r, 80, 300) : gen_logunif(r, 2, 80);
    g->blk.len = 0;
    g->blk_ntx = 0;
    g->blk_weight = 4 * (80 + 3) + 4 * 200; /* header, tx count, a coinbase */
    g->blk_segwit = 0;
    g->blk_fees = 0;
    g->ex_total = 0;
    for (uint32_t i = 0; i < g->n_ex; i++)
        for (int w = 0; w < GEN_NWALLETS; w++)
            g->ex_total += g->ents[g->e_ex + i].w[w].sum;
    /* Coinbases that have matured join their pool's wallet. */
    while (g->pend_n && g->pend[g->pend_head].height <= h) {
        gen_pending *p = &g->pend[g->pend_head];
        gen_wallet_add(g, p->dest, p->slot);
        g->pend_head = (g->pend_head + 1) % g->pend_cap;
        g->pend_n--;
    }
}

static int pend_push(gen *g, uint32_t slot, uint32_t dest, uint32_t height)
{
    if (g->pend_n == g->pend_cap) {
        uint32_t nc = g->pend_cap ? g->pend_cap * 2 : 256;
        gen_pending *p = malloc((size_t)nc * sizeof *p);
        if (!p) return g->oom = 1, UTIL_ENOMEM;
        for (uint32_t i = 0; i < g->pend_n; i++)
            p[i] = g->pend[(g->pend_head + i) % g->pend_cap];
        free(g->pend);
        g->pend = p;
        g->pend_head = 0;
        g->pend_cap = nc;
    }
    g->pend[(g->pend_head + g->pend_n++) % g->pend_cap] = (gen_pending){slot, dest, height};
    return 0;
}

static uint32_t pick_pool(gen *g)
{
    double tot = 0, x;
    for (uint32_t i = 0; i < g->n_miner; i++)
        tot += 1.0 / (i + 2);
    x = gen_unif(&g->rng) * tot;
    for (uint32_t i = 0; i < g->n_miner; i++)
        if ((x -= 1.0 / (i + 2)) < 0) return g->e_miner + i;
    return g->e_miner + g->n_miner - 1;
}

/* Build the coinbase into cb (returns its size), set txids[0], and account it. */
static size_t coinbase(gen *g, uint8_t *cb, uint32_t *pool_out)
{
    uint32_t pool = pick_pool(g);
    gen_entity *pe = &g->ents[pool];
    uint32_t addr;
    if (g->mix[GEN_S_P2PK] > 0.3) {
        addr = gen_addr_new(g, pool, GEN_S_P2PK); /* the early era: a fresh key per block */
    } else {
        if (pe->fixed[0] == GEN_NONE) {
            int st = gen_style_for(g, pool);
            if (st == GEN_S_P2PK || st == GEN_S_P2SH_MS || st == GEN_S_P2WSH) st = GEN_S_P2PKH;
            uint32_t a = gen_addr_new(g, pool, st);
            pe->fixed[0] = a;
        }
        addr = pe->fixed[0];
    }
    int64_t value = gen_subsidy(g->height, g->cfg.halving_interval) + g->blk_fees;
    g->supply += value - g->blk_fees;
    uint8_t *p = cb;
    util_put_le32(p, g->era < 2016.0 ? 1 : 2);
    p += 4;
    if (g->blk_segwit) *p++ = 0x00, *p++ = 0x01;
    uint8_t *body = p;
    *p++ = 1;
    memset(p, 0, 32);
    util_put_le32(p + 32, 0xffffffffu);
    p += 36;
    /* scriptSig: BIP 34 height (as CScript() << height), extra nonce, pool tag. */
    uint8_t s[100];
    size_t o = 0;
    uint32_t h = g->height;
    if (h == 0)
        s[o++] = 0x00;
    else if (h <= 16)
        s[o++] = (uint8_t)(0x50 + h);
    else {
        uint8_t num[5];
        size_t n = 0;
        for (uint32_t v = h; v; v >>= 8)
            num[n++] = (uint8_t)v;
        if (num[n - 1] & 0x80) num[n++] = 0;
        s[o++] = (uint8_t)n;
        memcpy(s + o, num, n);
        o += n;
    }
    s[o++] = 8;
    util_put_le64(s + o, gen_rand(&g->rng));
    o += 8;
    size_t tl = strlen(pe->name);
    if (tl > 40) tl = 40;
    s[o++] = (uint8_t)(tl + 2);
    s[o++] = '/';
    memcpy(s + o, pe->name, tl);
    o += tl;
    s[o++] = '/';
    *p++ = (uint8_t)o;
    memcpy(p, s, o);
    p += o;
    util_put_le32(p, 0xffffffffu);
    p += 4;
    uint32_t nout = g->blk_segwit ? 2 : 1;
    *p++ = (uint8_t)nout;
    util_put_le64(p, (uint64_t)value);
    p += 8;
    size_t sl = gen_script(g, addr, p + 1);
    *p = (uint8_t)sl;
    p += 1 + sl;
    if (g->blk_segwit) {
        /* BIP 141: commitment to the witness merkle root (coinbase wtxid = 0). */
        uint8_t root[64];
        memset(g->wtxids, 0, 32);
        merkle(g->wtxids, g->blk_ntx + 1, root);
        memset(root + 32, 0, 32);
        util_put_le64(p, 0);
        p += 8;
        static const uint8_t head[6] = {0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};
        *p++ = 38;
        memcpy(p, head, 6);
        crypto_sha256d(root, 64, p + 6);
        p += 38;
    }
    uint8_t *body_end = p;
    if (g->blk_segwit) {
        *p++ = 1;
        *p++ = 32;
        memset(p, 0, 32);
        p += 32;
    }
    util_put_le32(p, 0);
    p += 4;
    size_t total = (size_t)(p - cb);
    crypto_sha256_ctx c;
    crypto_sha256_init(&c);
    crypto_sha256_update(&c, cb, 4);
    crypto_sha256_update(&c, body, (size_t)(body_end - body));
    crypto_sha256_update(&c, p - 4, 4);
    crypto_sha256d_final(&c, g->txids);

    gen_addr *a = &g->addrs[addr];
    g->st.txs++;
    g->st.inputs++;
    g->st.outputs += nout;
    g->st.total_output_value += value;
    g->st.outputs_by_type[a->style == GEN_S_P2PK     ? BTC_P2PK
                          : a->style == GEN_S_P2PKH  ? BTC_P2PKH
                          : a->style == GEN_S_P2WPKH ? BTC_P2WPKH
                          : a->style == GEN_S_P2TR   ? BTC_P2TR
                                                     : BTC_P2SH]++;
    if (nout == 2) g->st.outputs_by_type[BTC_NULLDATA]++;
    if (!a->used) {
        a->used = 1;
        g->st.addresses++;
        gen_vec_push(g, &pe->addrs, addr);
    }
    uint32_t slot = gen_utxo_new(g);
    gen_utxo *u = &g->utxos[slot];
    memcpy(u->txid, g->txids, 32);
    u->value = value;
    u->vout = 0;
    u->addr = addr;
    pend_push(g, slot, GEN_DEST(pool, GEN_W_MAIN),
              g->height + (g->cfg.maturity ? g->cfg.maturity : 1));
    *pool_out = pool;
    return total;
}

static uint32_t header_version(gen *g)
{
    if (g->era < 2013.2) return 1;
    if (g->era < 2015.5) return 2;
    if (g->era < 2015.95) return 3;
    if (g->era < 2016.4) return 4;
    return 0x20000000u | (gen_chance(&g->rng, 0.6) ? (uint32_t)gen_rand(&g->rng) & 0x1fffe000u : 0);
}

enum { GEN_BITS = 0x207fffff };

static int finish_block(gen *g)
{
    uint8_t cb[400];
    uint32_t pool;
    if (g->cap_txids < 2) {
        uint8_t *a = realloc(g->txids, 64 * 32), *b;
        if (!a) return g->oom = 1, UTIL_ENOMEM;
        g->txids = a;
        b = realloc(g->wtxids, 64 * 32);
        if (!b) return g->oom = 1, UTIL_ENOMEM;
        g->wtxids = b;
        g->cap_txids = 64;
    }
    size_t cbn = coinbase(g, cb, &pool);
    uint32_t ntx = g->blk_ntx + 1;
    uint8_t hdr[80 + 8 + 9];
    util_put_le32(hdr + 8, header_version(g));
    memcpy(hdr + 12, g->prev, 32);
    merkle(g->txids, ntx, hdr + 44);
    util_put_le32(hdr + 76, g->time);
    /* Regtest-like rules, declared by these bits from the genesis on (docs/generator.md): no
     * retargeting, and a proof of work solved at powLimit, about 2 nonces per block. */
    util_put_le32(hdr + 80, GEN_BITS);
    uint32_t nonce = (uint32_t)gen_rand(&g->rng);
    do {
        util_put_le32(hdr + 84, nonce++);
        crypto_sha256d(hdr + 8, 80, g->prev);
    } while (btc_check_pow(g->prev, GEN_BITS, BTC_NET_REGTEST, NULL) != 0);
    size_t vn = gen_varint(hdr + 88, ntx);
    uint64_t size = 80 + vn + cbn + g->blk.len;
    memcpy(hdr, btc_mainnet_magic, 4);
    util_put_le32(hdr + 4, (uint32_t)size);
    if (g->file_off && g->file_off + 8 + size > g->cfg.file_size) {
        int rc = close_blk(g);
        if (rc) return rc;
        g->file_no++;
        if ((rc = open_blk(g))) return rc;
    }
    if (wbytes(g, hdr, 88 + vn) || wbytes(g, cb, cbn) || wbytes(g, g->blk.data, g->blk.len))
        return UTIL_EIO;
    g->st.blocks++;
    return 0;
}

static void gen_free(gen *g)
{
    if (g->fd >= 0) close(g->fd);
    for (uint32_t i = 0; g->ents && i < g->n_ents; i++) {
        gen_vec_free(&g->ents[i].addrs);
        for (int w = 0; w < GEN_NWALLETS; w++)
            gen_vec_free(&g->ents[i].w[w].coins);
    }
    free(g->ents);
    for (int p = 0; p < 4; p++) {
        gen_vec_free(&g->premix[p]);
        gen_vec_free(&g->remix[p]);
    }
    for (int p = 0; p < 6; p++)
        gen_vec_free(&g->gremix[p]);
    gen_vec_free(&g->privacy);
    gen_vec_free(&g->makers);
    gen_vec_free(&g->home_miners);
    gen_vec_free(&g->free_utxos);
    gen_scen_free(g);
    gen_evm_free(g);
    free(g->addrs);
    free(g->utxos);
    util_hmap_free(&g->dmap);
    free(g->pend);
    free(g->cj);
    util_buf_free(&g->blk);
    free(g->txids);
    free(g->wtxids);
    free(g->tin);
    free(g->tout);
    free(g->out_slot);
    free(g->wbuf);
    free(g);
}

int gen_run(const gen_config *cfg, gen_stats *stats, util_err *err)
{
    double t0 = util_now();
    int rc = gen_config_check(cfg, err);
    if (rc) return rc;
    gen *g = calloc(1, sizeof *g);
    if (!g) return util_errf(err, UTIL_ENOMEM, "out of memory for the generator state");
    g->cfg = *cfg;
    g->err = err;
    g->fd = -1;
    gen_rng_seed(&g->rng, cfg->seed);
    g->key_seed = gen_mix64(cfg->seed ^ 0x6b657973ULL);
    g->tin = malloc(GEN_TX_MAX_IN * sizeof *g->tin);
    g->tout = malloc(GEN_TX_MAX_OUT * sizeof *g->tout);
    g->out_slot = malloc(GEN_TX_MAX_OUT * sizeof *g->out_slot);
    g->wbuf = malloc(GEN_WBUF);
    if (!g->tin || !g->tout || !g->out_slot || !g->wbuf || gen_econ_init(g) || gen_scen_init(g)) {
        gen_free(g);
        return util_errf(err, UTIL_ENOMEM, "out of memory setting up the generator");
    }
    gen_mix_init(g);
    g->time = cfg->start_time ? cfg->start_time
                              : (uint32_t)((cfg->era_start - 1970.0) * 365.2425 * 86400.0);
    if (!cfg->start_time && cfg->era_start == 2009.0) g->time = 1231006505; /* as mainnet */
    if ((rc = prepare_dir(g))) goto out;
    if (cfg->xor_files) {
        uint64_t k;
        do
            k = gen_rand(&g->rng);
        while (!k);
        util_put_le64(g->xor_key, k);
        char path[4200];
        snprintf(path, sizeof path, "%s/xor.dat", cfg->out_dir);
        if ((rc = util_replace_file(path, g->xor_key, 8, err))) goto out;
    }
    if ((rc = open_blk(g))) goto out;
    if (cfg->evm && (rc = gen_evm_init(g))) goto out;
    for (uint32_t h = 0; h < cfg->blocks; h++) {
        begin_block(g, h);
        if (cfg->evm && (rc = gen_evm_block(g)) < 0) goto out;
        if (h > 0) {
            if ((rc = gen_scen_block(g)) < 0) goto out;
            if ((rc = gen_mix_block(g)) < 0) goto out;
            /* Only with the options on: otherwise the random stream is untouched. */
            if ((cfg->generic_rounds > 0 || cfg->lookalikes > 0) && (rc = gen_round_block(g)) < 0)
                goto out;
            if ((rc = gen_econ_fill(g, cfg->txs_per_block)) < 0) goto out;
        }
        if (g->oom) break;
        if ((rc = finish_block(g))) goto out;
        if (cfg->progress && cfg->progress_every && (h + 1) % cfg->progress_every == 0)
            cfg->progress(cfg->progress_ctx, h, g->st.txs, g->st.bytes);
    }
    if (g->oom) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory at height %u (%llu txs generated)",
                       g->height, (unsigned long long)g->st.txs);
        goto out;
    }
    if ((rc = close_blk(g))) goto out;
    if (cfg->evm && (rc = gen_evm_finish(g))) goto out;
    memcpy(g->st.tip_hash, g->prev, 32);
    g->st.utxo_count = g->st.outputs - (g->st.inputs - g->st.blocks);
    g->st.utxo_value = g->st.total_output_value - g->spent_value;
    g->st.entities = g->n_ents;
    if ((rc = gen_write_truth(g)) || (rc = gen_write_labels(g)) || (rc = gen_write_incidents(g)))
        goto out;
    if (g->oom) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory writing the truth file");
        goto out;
    }
    g->st.seconds = util_now() - t0;
    if (stats) *stats = g->st;
    if (cfg->progress) cfg->progress(cfg->progress_ctx, g->height, g->st.txs, g->st.bytes);
out:
    gen_free(g);
    return rc;
}
