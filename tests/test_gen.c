/* test_gen: generated chains are consistent Bitcoin block files whose truth file is right.
 * Each chain is generated into a temp dir, then read back with the btc module alone: every
 * block parses with its merkle root verified, blocks link from a genesis with prev = 0, every
 * input spends an existing unspent output exactly once, value is conserved, each coinbase pays
 * subsidy + fees and starts with its BIP 34 height, witness commitments match, and the totals,
 * entities, CoinJoins, scenarios and labels in truth.jsonl and labels.csv agree with the chain.
 * The same seed gives the same bytes; another seed gives other bytes. */
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btc/btc.h"
#include "check.h"
#include "crypto/crypto.h"
#include "gen/gen.h"
#include "util/util.h"

/* ---- a small open-addressing map of 36-byte keys (outpoints, address keys) ---- */

typedef struct ent {
    uint8_t key[36];
    int64_t value;
    uint8_t used, spent, type;
} ent;

typedef struct map {
    ent *e;
    size_t n, cap;
} map;

static uint64_t key_hash(const uint8_t *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 36; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h;
}

static ent *map_find(map *m, const uint8_t *k, int insert)
{
    if (insert && (m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        ent *ne = calloc(nc, sizeof *ne);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].used) continue;
            size_t j = key_hash(m->e[i].key) & (nc - 1);
            while (ne[j].used)
                j = (j + 1) & (nc - 1);
            ne[j] = m->e[i];
        }
        free(m->e);
        m->e = ne;
        m->cap = nc;
    }
    if (!m->cap) return NULL;
    size_t j = key_hash(k) & (m->cap - 1);
    while (m->e[j].used) {
        if (!memcmp(m->e[j].key, k, 36)) return &m->e[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!insert) return NULL;
    memcpy(m->e[j].key, k, 36);
    m->e[j].used = 1;
    m->n++;
    return &m->e[j];
}

static void outpoint_key(uint8_t k[36], const uint8_t txid[32], uint32_t n)
{
    memcpy(k, txid, 32);
    util_put_le32(k + 32, n);
}

static void addr_key(uint8_t k[36], const btc_addr *a)
{
    memset(k, 0, 36);
    k[0] = a->kind, k[1] = a->witver, k[2] = a->len;
    memcpy(k + 3, a->prog, a->len);
}

/* ---- what the chain says, computed from the blk files ---- */

typedef struct chain {
    uint64_t blocks, txs, inputs, outputs, utxo_count, addresses;
    int64_t total_output_value, total_fees, utxo_value;
    uint64_t by_type[BTC_NSCRIPT_TYPES];
    uint8_t tip[32];
    map outs;  /* every output ever: value, spent flag */
    map addrs; /* distinct addresses */
    map txids; /* every txid */
    int segwit_blocks;
    uint32_t files;
} chain;

static void chain_free(chain *c)
{
    free(c->outs.e);
    free(c->addrs.e);
    free(c->txids.e);
}

/* The BIP 34 push at the start of a coinbase scriptSig, decoded; -1 if malformed. */
static int64_t bip34_height(const uint8_t *blk, const btc_tx *tx)
{
    const uint8_t *p = blk + tx->offset + 4;
    if (p[0] == 0 && p[1] == 1) p += 2; /* segwit marker and flag */
    p += 1 + 36;                        /* input count, outpoint */
    uint8_t slen = *p++;
    if (slen < 2) return -1;
    if (p[0] == 0) return 0;
    if (p[0] >= 0x51 && p[0] <= 0x60) return p[0] - 0x50;
    if (p[0] > 5) return -1;
    int64_t h = 0;
    for (int i = p[0]; i >= 1; i--)
        h = h << 8 | p[i];
    return h;
}

static void merkle(uint8_t *h, uint32_t n, uint8_t out[32])
{
    while (n > 1) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i += 2) {
            uint8_t pair[64];
            memcpy(pair, h + 32 * i, 32);
            memcpy(pair + 32, h + 32 * (i + 1 < n ? i + 1 : i), 32);
            crypto_sha256d(pair, 64, h + 32 * m++);
        }
        n = m;
    }
    memcpy(out, h, 32);
}

/* BIP 141: if a block has witness data, its coinbase commits to the wtxid merkle root. */
static int witness_commitment_ok(const uint8_t *blk, const btc_block *b)
{
    int any = 0;
    for (uint32_t i = 0; i < b->n_tx; i++) {
        const uint8_t *t = blk + b->txs[i].offset;
        any |= t[4] == 0 && t[5] == 1;
    }
    const btc_tx *cb = &b->txs[0];
    const btc_txout *last = &b->outs[cb->first_out + cb->n_out - 1];
    int has = last->script_len == 38 && !memcmp(last->script, "\x6a\x24\xaa\x21\xa9\xed", 6);
    if (!any) return !has;
    if (!has) return 0;
    uint8_t *w = malloc(32 * (size_t)b->n_tx), root[64], c[32];
    memset(w, 0, 32);
    for (uint32_t i = 1; i < b->n_tx; i++)
        crypto_sha256d(blk + b->txs[i].offset, b->txs[i].size, w + 32 * i);
    merkle(w, b->n_tx, root);
    free(w);
    memset(root + 32, 0, 32);
    crypto_sha256d(root, 64, c);
    return !memcmp(c, last->script + 6, 32);
}

static int read_chain(const char *dir, uint32_t halving, chain *c)
{
    memset(c, 0, sizeof *c);
    util_err err = {0, ""};
    uint8_t key[8];
    int xored;
    CHECK(btc_read_xor_key(dir, key, &xored, &err) == 0);
    btc_block b;
    memset(&b, 0, sizeof b);
    uint8_t prev[32] = {0}, k[36];
    uint32_t last_time = 0;
    int bad_link = 0, bad_time = 0, bad_parse = 0, bad_bits = 0, bad_spend = 0, bad_value = 0;
    int bad_cb = 0, bad_bip34 = 0, bad_commit = 0;
    for (uint32_t fno = 0;; fno++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/blk%05u.dat", dir, fno);
        if (access(path, F_OK) != 0) break;
        btc_blockfile f;
        if (btc_blockfile_open(&f, path, xored ? key : NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            CHECK(0);
            break;
        }
        c->files++;
        size_t off = 0, boff, bsize;
        int r;
        while ((r = btc_blockfile_next(&f, &off, &boff, &bsize, &err)) == 1) {
            uint8_t *raw = malloc(bsize);
            btc_blockfile_read(&f, boff, raw, bsize);
            if (btc_parse_block(&b, raw, bsize, BTC_PARSE_VERIFY_MERKLE, &err)) {
                if (!bad_parse++)
                    fprintf(stderr, "block %llu: %s\n", (unsigned long long)c->blocks, err.msg);
                free(raw);
                continue;
            }
            bad_link += memcmp(b.hdr.prev, prev, 32) != 0;
            bad_time += c->blocks && b.hdr.time <= last_time;
            bad_bits += b.hdr.bits != 0x207fffff;
            memcpy(prev, b.hdr.hash, 32);
            last_time = b.hdr.time;
            bad_commit += !witness_commitment_ok(raw, &b);
            int64_t fees = 0, cb_out = 0;
            for (uint32_t t = 0; t < b.n_tx; t++) {
                const btc_tx *tx = &b.txs[t];
                outpoint_key(k, tx->txid, 0);
                util_put_le32(k + 32, 0xffffffffu);
                map_find(&c->txids, k, 1);
                int64_t in = 0, out = 0;
                if (tx->coinbase) {
                    bad_bip34 += bip34_height(raw, tx) != (int64_t)c->blocks;
                } else {
                    for (uint32_t i = 0; i < tx->n_in; i++) {
                        const btc_txin *ti = &b.ins[tx->first_in + i];
                        outpoint_key(k, ti->prev_txid, ti->prev_vout);
                        ent *e = map_find(&c->outs, k, 0);
                        if (!e || e->spent) {
                            if (!bad_spend++)
                                fprintf(stderr, "block %llu tx %u input %u: %s\n",
                                        (unsigned long long)c->blocks, t, i,
                                        e ? "double spend" : "missing prevout");
                            continue;
                        }
                        e->spent = 1;
                        in += e->value;
                        c->utxo_count--;
                        c->utxo_value -= e->value;
                    }
                }
                for (uint32_t o = 0; o < tx->n_out; o++) {
                    const btc_txout *to = &b.outs[tx->first_out + o];
                    outpoint_key(k, tx->txid, o);
                    ent *e = map_find(&c->outs, k, 1);
                    e->value = to->value;
                    e->type = to->type;
                    out += to->value;
                    c->utxo_count++;
                    c->utxo_value += to->value;
                    c->by_type[to->type]++;
                    if (to->addr.kind) {
                        addr_key(k, &to->addr);
                        ent *a = map_find(&c->addrs, k, 1);
                        if (!a->value) c->addresses++;
                        a->value = 1;
                    }
                }
                c->inputs += tx->n_in;
                c->outputs += tx->n_out;
                c->total_output_value += out;
                if (tx->coinbase) {
                    cb_out = out;
                } else {
                    if (in < out && !bad_value++)
                        fprintf(stderr, "block %llu tx %u: outputs exceed inputs\n",
                                (unsigned long long)c->blocks, t);
                    fees += in - out;
                }
            }
            if (cb_out != gen_subsidy((uint32_t)c->blocks, halving) + fees && !bad_cb++)
                fprintf(stderr, "block %llu: coinbase %lld != subsidy + fees %lld\n",
                        (unsigned long long)c->blocks, (long long)cb_out,
                        (long long)(gen_subsidy((uint32_t)c->blocks, halving) + fees));
            c->total_fees += fees;
            c->txs += b.n_tx;
            c->blocks++;
            free(raw);
        }
        CHECK(r == 0);
        if (r < 0) fprintf(stderr, "%s\n", err.msg);
        btc_blockfile_close(&f);
    }
    memcpy(c->tip, prev, 32);
    btc_block_free(&b);
    CHECK(c->blocks > 0);
    CHECK(bad_parse == 0);
    CHECK(bad_link == 0);
    CHECK(bad_time == 0);
    CHECK(bad_bits == 0);
    CHECK(bad_spend == 0);
    CHECK(bad_value == 0);
    CHECK(bad_cb == 0);
    CHECK(bad_bip34 == 0);
    CHECK(bad_commit == 0);
    return 0;
}

/* ---- the truth file against the chain ---- */

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int lookup_outpoint(chain *c, const char *s, ent **e)
{
    uint8_t txid[32], k[36];
    char hex[65];
    if (strlen(s) < 66 || s[64] != ':') return -1;
    memcpy(hex, s, 64);
    hex[64] = 0;
    if (util_hash_parse(txid, hex)) return -1;
    outpoint_key(k, txid, (uint32_t)strtoul(s + 65, NULL, 10));
    *e = map_find(&c->outs, k, 0);
    return *e ? 0 : -1;
}

static int has_txid(chain *c, const char *hex)
{
    uint8_t txid[32], k[36];
    if (util_hash_parse(txid, hex)) return 0;
    outpoint_key(k, txid, 0xffffffffu);
    return map_find(&c->txids, k, 0) != NULL;
}

/* Outputs of tx txid_hex (n_out of them) worth value. */
static int count_value(chain *c, const char *txid_hex, int64_t n_out, int64_t value)
{
    int n = 0;
    char op[80];
    for (int64_t i = 0; txid_hex && i < n_out; i++) {
        ent *e;
        snprintf(op, sizeof op, "%s:%lld", txid_hex, (long long)i);
        if (lookup_outpoint(c, op, &e) == 0 && e->value == value) n++;
    }
    return n;
}

typedef struct seen {
    int totals, entities, coinjoins, tx0s, scenarios, kinds[9];
    int cj_impl[4];
    int generic, batches, discounted, bad_new; /* --generic-rounds, --lookalikes, --tx0-discount */
    int evm_lines, xchain_links, btc_links_found; /* --evm: EVM lines; links whose txid exists */
} seen;

static void check_truth(const char *dir, chain *c, seen *sn)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/truth.jsonl", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    memset(sn, 0, sizeof *sn);
    map owner; /* address -> entity id, to catch an address in two entities */
    memset(&owner, 0, sizeof owner);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int bad_addr = 0, dup_addr = 0, bad_cj = 0, bad_step = 0, bad_src = 0;
    static const char *const kinds[9] = {"user", "exchange", "merchant", "miner", "mixer",
                                         "otc",  "swap",     "bridge",   "thief"};
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        CHECK(o != NULL);
        if (!o) continue;
        const char *kind = json_string_value(json_object_get(o, "kind"));
        CHECK(kind != NULL);
        if (!kind) kind = "";
        if (!strcmp(kind, "totals")) {
            sn->totals++;
            /* Exactly the keys an importer's stats has. */
            CHECK(json_object_size(o) == 12);
            CHECK(jint(o, "blocks") == (int64_t)c->blocks);
            CHECK(jint(o, "txs") == (int64_t)c->txs);
            CHECK(jint(o, "inputs") == (int64_t)c->inputs);
            CHECK(jint(o, "outputs") == (int64_t)c->outputs);
            CHECK(jint(o, "total_output_value") == c->total_output_value);
            CHECK(jint(o, "total_fees") == c->total_fees);
            CHECK(jint(o, "utxo_count") == (int64_t)c->utxo_count);
            CHECK(jint(o, "utxo_value") == c->utxo_value);
            CHECK(jint(o, "addresses") == (int64_t)c->addresses);
            json_t *bt = json_object_get(o, "outputs_by_type");
            CHECK(json_object_size(bt) == BTC_NSCRIPT_TYPES);
            for (int t = 0; t < BTC_NSCRIPT_TYPES; t++)
                CHECK(jint(bt, btc_script_type_name(t)) == (int64_t)c->by_type[t]);
            char tip[65];
            util_hash_hex(tip, c->tip);
            const char *jt = json_string_value(json_object_get(o, "tip_hash"));
            CHECK(jt && !strcmp(jt, tip));
        } else if (!strcmp(kind, "entity")) {
            sn->entities++;
            const char *type = json_string_value(json_object_get(o, "type"));
            for (int i = 0; type && i < 9; i++)
                if (!strcmp(type, kinds[i])) sn->kinds[i]++;
            json_t *arr = json_object_get(o, "addresses");
            size_t i;
            json_t *v;
            json_array_foreach(arr, i, v)
            {
                btc_addr a;
                util_err err;
                uint8_t k[36];
                if (btc_addr_decode(&a, json_string_value(v), &err)) {
                    bad_addr++;
                    continue;
                }
                addr_key(k, &a);
                if (!map_find(&c->addrs, k, 0)) bad_addr++;
                ent *e = map_find(&owner, k, 1);
                if (e->value) dup_addr++;
                e->value = 1;
            }
        } else if (!strcmp(kind, "coinjoin") || !strcmp(kind, "whirlpool_tx0")) {
            if (*kind == 'c')
                sn->coinjoins++;
            else
                sn->tx0s++;
            const char *impl = json_string_value(json_object_get(o, "implementation"));
            static const char *const names[4] = {"wasabi1", "wasabi2", "whirlpool", "joinmarket"};
            for (int k = 0; impl && k < 4; k++)
                if (!strcmp(impl, names[k])) sn->cj_impl[k]++;
            const char *txid = json_string_value(json_object_get(o, "txid"));
            bad_cj += !has_txid(c, txid);
            int64_t nout = jint(o, "outputs");
            if (impl && !strcmp(impl, "generic")) {
                /* 3 or more outputs of the round's denomination */
                sn->generic++;
                sn->bad_new += count_value(c, txid, nout, jint(o, "denomination")) < 3;
            }
            if (json_object_get(o, "fee_discount")) {
                /* an output of the pool fee less the discount */
                static const int64_t pools[4] = {100000, 1000000, 5000000, 50000000};
                static const int64_t fees[4] = {5000, 50000, 175000, 1750000};
                int64_t fee = 0, d = jint(o, "fee_discount");
                for (int k = 0; k < 4; k++)
                    if (pools[k] == jint(o, "pool")) fee = fees[k] * (100 - d) / 100;
                sn->discounted++;
                sn->bad_new += d <= 0 || d >= 100 || count_value(c, txid, nout, fee) < 1;
            }
        } else if (!strcmp(kind, "batch")) {
            /* exactly equal_outputs outputs of value, >= 3 of them, from one payer's inputs */
            const char *txid = json_string_value(json_object_get(o, "txid"));
            sn->batches++;
            bad_cj += !has_txid(c, txid);
            sn->bad_new += jint(o, "equal_outputs") < 3 ||
                           count_value(c, txid, jint(o, "outputs"), jint(o, "value")) !=
                               jint(o, "equal_outputs");
        } else if (!strcmp(kind, "scenario")) {
            sn->scenarios++;
            int64_t stolen = jint(o, "stolen"), src_sum = 0, ends = 0, rem = 0;
            size_t i;
            json_t *v;
            json_array_foreach(json_object_get(o, "sources"), i, v)
            {
                ent *e;
                if (lookup_outpoint(c, json_string_value(v), &e))
                    bad_src++;
                else
                    src_sum += e->value;
            }
            CHECK(stolen > 0);
            CHECK(src_sum == stolen);
            json_array_foreach(json_object_get(o, "steps"), i, v) bad_step +=
                !has_txid(c, json_string_value(json_object_get(v, "txid")));
            CHECK(json_array_size(json_object_get(o, "steps")) > 10);
            json_array_foreach(json_object_get(o, "endpoints"), i, v) ends += jint(v, "value");
            CHECK(ends == jint(o, "endpoint_total"));
            json_array_foreach(json_object_get(o, "remaining_outputs"), i, v)
            {
                ent *e;
                if (lookup_outpoint(c, json_string_value(v), &e) || e->spent)
                    bad_src++;
                else
                    rem += e->value;
            }
            CHECK(rem == jint(o, "remaining"));
            /* Every stolen satoshi is at an endpoint, paid as a fee, or still with the thief. */
            CHECK(stolen == ends + jint(o, "fees") + rem);
            CHECK(ends > stolen / 2);
        } else if (!strncmp(kind, "evm_", 4) || !strcmp(kind, "mixer_link") ||
                   !strcmp(kind, "xchain_link") || !strcmp(kind, "xchain_pending")) {
            /* The EVM side (checked against its CSVs by tests/gen_evm_check.py); here: every
             * Bitcoin leg it names is in the chain. */
            sn->evm_lines++;
            const char *oc = json_string_value(json_object_get(o, "outbound_chain"));
            if (!strcmp(kind, "xchain_link") && oc && !strcmp(oc, "btc")) {
                sn->xchain_links++;
                sn->btc_links_found +=
                    has_txid(c, json_string_value(json_object_get(o, "outbound_txid")));
            }
        } else {
            CHECK(!strcmp(kind, "meta"));
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    CHECK(sn->totals == 1);
    /* Every address in the chain belongs to exactly one entity. */
    CHECK(owner.n == c->addresses);
    CHECK(bad_addr == 0);
    CHECK(dup_addr == 0);
    CHECK(bad_cj == 0);
    CHECK(bad_step == 0);
    CHECK(bad_src == 0);
    free(owner.e);
}

static void check_labels(const char *dir, chain *c, int *n_labels, int *n_theft)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int first = 1, bad = 0;
    *n_labels = *n_theft = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (first) {
            CHECK_STR(line, "chain,address,category,actor,source,confidence");
            first = 0;
            continue;
        }
        char *fields[6], *p = line;
        int nf = 0;
        while (nf < 6 && (fields[nf++] = strsep(&p, ",")) != NULL) {
        }
        if (nf == 6 && p == NULL && !strcmp(fields[0], "eth")) { /* --evm: 0x + 40 hex */
            bad += strlen(fields[1]) != 42 || strncmp(fields[1], "0x", 2) ||
                   strspn(fields[1] + 2, "0123456789abcdef") != 40;
            (*n_labels)++;
            continue;
        }
        if (nf != 6 || p != NULL || strcmp(fields[0], "btc") != 0) {
            bad++;
            continue;
        }
        btc_addr a;
        util_err err;
        uint8_t k[36];
        if (btc_addr_decode(&a, fields[1], &err)) {
            bad++;
            continue;
        }
        addr_key(k, &a);
        bad += map_find(&c->addrs, k, 0) == NULL;
        double conf = strtod(fields[5], NULL);
        bad += conf <= 0 || conf > 1;
        (*n_labels)++;
        *n_theft += !strcmp(fields[2], "theft");
    }
    free(line);
    fclose(f);
    CHECK(bad == 0);
}

/* ---- runs ---- */

static int files_equal(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    util_err err;
    if (util_read_file(a, &x, &nx, &err)) return 0;
    if (util_read_file(b, &y, &ny, &err)) {
        free(x);
        return 0;
    }
    int eq = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return eq;
}

static int dirs_equal(const char *a, const char *b)
{
    DIR *d = opendir(a);
    if (!d) return 0;
    struct dirent *de;
    int eq = 1, n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char pa[4200], pb[4200];
        snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
        eq &= files_equal(pa, pb);
        n++;
    }
    closedir(d);
    return eq && n > 0;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4200];
        int n = snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof p) continue; /* too deep for this test's temp dirs */
        if (unlink(p) < 0) rm_tree(p);                /* evm/ */
    }
    closedir(d);
    rmdir(dir);
}

static int run(gen_config *cfg, const char *dir, gen_stats *st)
{
    util_err err = {0, ""};
    cfg->out_dir = dir;
    int rc = gen_run(cfg, st, &err);
    if (rc && !cfg->overwrite && strstr(err.msg, "already holds")) return rc; /* expected */
    if (rc) fprintf(stderr, "gen_run: %s\n", err.msg);
    return rc;
}

int main(void)
{
    char root[] = "/tmp/test_gen.XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    char a[4200], b[4200], c2[4200], e[4200];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    snprintf(c2, sizeof c2, "%s/c", root);
    snprintf(e, sizeof e, "%s/early", root);

    /* Subsidy and config checks. */
    CHECK(gen_subsidy(0, 210000) == 5000000000LL);
    CHECK(gen_subsidy(209999, 210000) == 5000000000LL);
    CHECK(gen_subsidy(210000, 210000) == 2500000000LL);
    CHECK(gen_subsidy(50 * 64, 50) == 0);
    CHECK(gen_subsidy(1000000, 0) == 5000000000LL);
    gen_config bad;
    gen_config_init(&bad);
    util_err err = {0, ""};
    CHECK(gen_config_check(&bad, &err) == UTIL_EINVAL); /* no out_dir */
    bad.out_dir = a;
    CHECK(gen_config_check(&bad, &err) == 0);
    bad.blocks = 0;
    CHECK(gen_config_check(&bad, &err) == UTIL_EINVAL);
    CHECK(strstr(err.msg, "blocks") != NULL);
    bad.blocks = 10;
    bad.era_start = 2020, bad.era_end = 2019;
    CHECK(gen_config_check(&bad, &err) == UTIL_EINVAL);

    /* A modern chain: SegWit, Taproot, all CoinJoin kinds, two scenarios, xor.dat, several
     * blk files, halvings. */
    gen_config cfg;
    gen_config_init(&cfg);
    cfg.seed = 7;
    cfg.blocks = 240;
    cfg.txs_per_block = 60;
    cfg.users = 400;
    cfg.merchants = 20;
    cfg.maturity = 5;
    cfg.halving_interval = 100;
    cfg.scenarios = 2;
    cfg.privacy_rate = 0.25;
    cfg.era_start = 2019.5;
    cfg.era_end = 2024.3;
    cfg.xor_files = 1;
    cfg.file_size = 1u << 20;
    gen_stats st;
    CHECK(run(&cfg, a, &st) == 0);
    CHECK(st.files >= 3);
    chain ch;
    read_chain(a, cfg.halving_interval, &ch);
    CHECK(ch.files == st.files);
    CHECK(ch.blocks == cfg.blocks);
    CHECK(ch.txs == st.txs);
    CHECK(ch.txs > 100 * cfg.txs_per_block);
    CHECK(ch.by_type[BTC_P2WPKH] > 0 && ch.by_type[BTC_P2TR] > 0 && ch.by_type[BTC_P2WSH] > 0);
    CHECK(ch.by_type[BTC_P2SH] > 0 && ch.by_type[BTC_P2PKH] > 0 && ch.by_type[BTC_NULLDATA] > 0);
    CHECK(ch.by_type[BTC_NONSTANDARD] == 0);
    seen sn;
    check_truth(a, &ch, &sn);
    CHECK(sn.scenarios == 2);
    CHECK(sn.kinds[0] == 400 && sn.kinds[1] == 5 && sn.kinds[8] == 2);
    for (int k = 0; k < 9; k++)
        CHECK(sn.kinds[k] > 0);
    CHECK(sn.cj_impl[1] > 0 && sn.cj_impl[2] > 0 && sn.cj_impl[3] > 0);
    CHECK(sn.tx0s > 0);
    int nl = 0, nt = 0;
    check_labels(a, &ch, &nl, &nt);
    CHECK(nl > 20);
    CHECK(nt >= 2);
    printf("modern chain: %llu blocks, %llu txs in %u files, %llu coinjoins, %d labels\n",
           (unsigned long long)ch.blocks, (unsigned long long)ch.txs, ch.files,
           (unsigned long long)st.coinjoins, nl);
    chain_free(&ch);

    /* The harder cases: generic rounds, one-payer batches, discounted Tx0s, each with the
     * outputs its truth line says; the rest of the chain passes the same checks. */
    gen_config hc = cfg;
    hc.generic_rounds = 1, hc.lookalikes = 1, hc.tx0_discount = 0.3;
    hc.xor_files = 0, hc.file_size = 128u << 20;
    CHECK(run(&hc, e, &st) == 0);
    read_chain(e, hc.halving_interval, &ch);
    check_truth(e, &ch, &sn);
    CHECK(sn.generic > 10 && sn.batches > 10 && sn.discounted > 5 && sn.bad_new == 0);
    printf("harder cases: %d generic rounds, %d batches, %d discounted Tx0s\n", sn.generic,
           sn.batches, sn.discounted);
    chain_free(&ch);
    rm_tree(e);

    /* Determinism: the same seed gives the same bytes in every file. */
    CHECK(run(&cfg, b, &st) == 0);
    CHECK(dirs_equal(a, b));
    /* An existing output directory is refused unless overwriting. */
    CHECK(run(&cfg, b, &st) == UTIL_EINVAL);
    cfg.overwrite = 1;
    CHECK(run(&cfg, b, &st) == 0);
    CHECK(dirs_equal(a, b));
    /* Another seed gives another chain. */
    cfg.seed = 8;
    CHECK(run(&cfg, c2, &st) == 0);
    {
        char pa[4300], pc[4300];
        snprintf(pa, sizeof pa, "%s/blk00000.dat", a);
        snprintf(pc, sizeof pc, "%s/blk00000.dat", c2);
        CHECK(!files_equal(pa, pc));
    }

    /* The early era: P2PK coinbases with uncompressed keys, P2PKH, no SegWit; and a Wasabi 1
     * era slice for the one CoinJoin kind the modern chain does not reach. */
    gen_config ec;
    gen_config_init(&ec);
    ec.seed = 11;
    ec.blocks = 120;
    ec.txs_per_block = 40;
    ec.users = 150;
    ec.maturity = 3;
    ec.era_start = 2009.0;
    ec.era_end = 2013.0;
    CHECK(run(&ec, e, &st) == 0);
    read_chain(e, ec.halving_interval, &ch);
    CHECK(ch.by_type[BTC_P2PK] > 0 && ch.by_type[BTC_P2PKH] > 0);
    CHECK(ch.by_type[BTC_P2WPKH] == 0 && ch.by_type[BTC_P2TR] == 0);
    check_truth(e, &ch, &sn);
    CHECK(sn.scenarios == 1 && sn.coinjoins == 0);
    chain_free(&ch);
    rm_tree(e);
    ec.era_start = 2019.0;
    ec.era_end = 2021.0;
    ec.privacy_rate = 0.4;
    ec.users = 300;
    CHECK(run(&ec, e, &st) == 0);
    read_chain(e, ec.halving_interval, &ch);
    check_truth(e, &ch, &sn);
    CHECK(sn.cj_impl[0] > 0);
    chain_free(&ch);

    /* --evm: the Bitcoin chain with its EVM legs passes the same checks; every leg is in it,
     * and the EVM scenario continues as a Bitcoin scenario (accounting checked above). */
    rm_tree(e);
    cfg.seed = 9;
    cfg.evm = 1;
    cfg.overwrite = 0;
    CHECK(run(&cfg, e, &st) == 0);
    CHECK(st.evm_blocks > 1000 && st.evm_txs > 1000 && st.evm_links > 20);
    read_chain(e, cfg.halving_interval, &ch);
    check_truth(e, &ch, &sn);
    CHECK(sn.scenarios == 3);
    CHECK(sn.evm_lines > 100);
    CHECK(sn.xchain_links == (int)st.evm_links && sn.btc_links_found == sn.xchain_links);
    check_labels(e, &ch, &nl, &nt);
    CHECK(nl > 20);
    printf("evm chain: %llu blocks, %llu txs, %llu EVM blocks, %llu EVM txs, %llu legs\n",
           (unsigned long long)ch.blocks, (unsigned long long)ch.txs,
           (unsigned long long)st.evm_blocks, (unsigned long long)st.evm_txs,
           (unsigned long long)st.evm_links);
    chain_free(&ch);

    rm_tree(a);
    rm_tree(b);
    rm_tree(c2);
    rm_tree(e);
    rmdir(root);
    return CHECK_DONE();
}
