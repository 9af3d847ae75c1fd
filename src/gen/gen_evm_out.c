/* gen_evm_out: the EVM side's blocks written as ethereum-etl CSVs into out_dir/evm/ (blocks,
 * transactions, receipts, logs, token_transfers, traces, tokens), with the files' setup and
 * closing. The simulation that fills the block is gen_evm.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "gen_evm_int.h"

static const char *const file_names[F_N] = {"blocks",          "transactions", "receipts", "logs",
                                            "token_transfers", "traces",       "tokens"};
static const char *const file_headers[F_N] = {
    "number,hash,parent_hash,nonce,sha3_uncles,logs_bloom,transactions_root,state_root,receipts_"
    "root,miner,difficulty,total_difficulty,size,extra_data,gas_limit,gas_used,timestamp,"
    "transaction_count,base_fee_per_gas,withdrawals_root,withdrawals",
    "hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_"
    "price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type",
    "transaction_hash,transaction_index,block_hash,block_number,cumulative_gas_used,gas_used,"
    "contract_address,root,status,effective_gas_price,l1_fee,l1_gas_used,l1_gas_price,l1_fee_"
    "scalar",
    "log_index,transaction_hash,transaction_index,block_hash,block_number,address,data,topics",
    "token_address,from_address,to_address,value,transaction_hash,log_index,block_number",
    "block_number,transaction_hash,transaction_index,from_address,to_address,value,input,output,"
    "trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,error,status,trace_id",
    "address,symbol,name,decimals,total_supply,block_number"};

/* ---- writing a block ---- */

static void bloom_add(uint8_t bloom[256], const uint8_t *p, size_t n)
{
    uint8_t h[32];
    crypto_keccak256(p, n, h);
    for (int i = 0; i < 6; i += 2) {
        unsigned bit = ((unsigned)h[i] << 8 | h[i + 1]) & 2047u;
        bloom[255 - bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

static void hexbuf(char *out, const uint8_t *p, size_t n) /* "0x" + hex, any length */
{
    hex(out, p, n);
}

int gen_evm_write_block(gen *g, gen_evm *e)
{
    uint64_t number = e->number, ts = e->t0 + number * E_BLOCK_TIME;
    uint8_t bh[32], roots[3][32], in[128], bloom[256];
    memset(bloom, 0, sizeof bloom);
    for (uint32_t i = 0; i < e->n_log; i++) {
        bloom_add(bloom, e->acct[e->log[i].addr].a, 20);
        for (int t = 0; t < e->log[i].nt; t++)
            bloom_add(bloom, e->log[i].topics[t], 32);
    }
    /* Block hash and roots: keccak over what the block holds (not a real header's RLP). */
    uint8_t txroot[32] = {0};
    for (uint32_t i = 0; i < e->n_tx; i++) {
        uint8_t two[64];
        memcpy(two, txroot, 32);
        memcpy(two + 32, e->tx[i].hash, 32);
        crypto_keccak256(two, 64, txroot);
    }
    memcpy(in, e->parent, 32);
    memcpy(in + 32, txroot, 32);
    util_put_le64(in + 64, number);
    util_put_le64(in + 72, ts);
    util_put_le64(in + 80, g->cfg.seed);
    memset(in + 88, 0, 40);
    memcpy(in + 88, "cointrail-gen-evm-block-hash", 28);
    crypto_keccak256(in, 128, bh);
    for (int k = 0; k < 3; k++) {
        in[120] = (uint8_t)('r' + k);
        crypto_keccak256(in, 128, roots[k]);
    }
    if (!e->n_tx)
        memcpy(roots[0],
               (const uint8_t[32]){0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45,
                                   0xe6, 0x92, 0xc0, 0xf8, 0x6e, 0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c,
                                   0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21},
               32);
    char h[67], ph[67], r0[67], r1[67], r2[67], bl[520], miner[43], a1[43], a2[43], v[48];
    hex(h, bh, 32);
    hex(ph, e->parent, 32);
    hex(r0, roots[0], 32);
    hex(r1, roots[1], 32);
    hex(r2, !e->n_tx ? roots[0] : roots[2], 32);
    hex(bl, bloom, 256);
    hex(miner, e->acct[e->builder].a, 20);
    uint64_t used = e->n_tx ? e->tx[e->n_tx - 1].cum : 0;
    uint64_t size = 620 + (uint64_t)e->n_tx * 150 + e->buf_len;
    fprintf(e->f[F_BLOCKS],
            "%llu,%s,%s,0x0000000000000000,"
            "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347,%s,%s,%s,%s,%s,0,"
            "58750003716598352816469,%llu,0x6275696c64657230,30000000,%llu,%llu,%u,%llu,"
            "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421,\n",
            (unsigned long long)number, h, ph, bl, r0, r1, r2, miner, (unsigned long long)size,
            (unsigned long long)used, (unsigned long long)ts, e->n_tx,
            (unsigned long long)e->base_fee);
    /* Hex of any input or log data of the block fits in twice the scratch. */
    char *big = malloc(2 * (size_t)e->buf_len + 3);
    if (!big) return g->oom = 1, UTIL_ENOMEM;
    uint64_t li = e->log_index;
    for (uint32_t i = 0; i < e->n_tx; i++) {
        const etx *t = &e->tx[i];
        char th[67];
        hex(th, t->hash, 32);
        hex(a1, e->acct[t->from].a, 20);
        if (t->to != E_NONE)
            hex(a2, e->acct[t->to].a, 20);
        else
            a2[0] = 0;
        hexbuf(big, e->buf + t->in_off, t->in_len);
        u128_dec(v, t->value);
        uint64_t price = e->base_fee + t->tip;
        fprintf(e->f[F_TXS], "%s,%llu,%s,%llu,%u,%s,%s,%s,%llu,%llu,%s,%llu,%llu,%llu,2\n", th,
                (unsigned long long)t->nonce, h, (unsigned long long)number, i, a1, a2, v,
                (unsigned long long)t->gas, (unsigned long long)price, big, (unsigned long long)ts,
                (unsigned long long)max_fee(e, t->tip), (unsigned long long)t->tip);
        char ca[43] = "";
        if (t->created != E_NONE) hex(ca, e->acct[t->created].a, 20);
        fprintf(e->f[F_RECEIPTS], "%s,%u,%s,%llu,%llu,%llu,%s,,%d,%llu,,,,\n", th, i, h,
                (unsigned long long)number, (unsigned long long)t->cum, (unsigned long long)t->used,
                ca, t->ok, (unsigned long long)price);
        /* traces: the top-level call (or create), then its internal calls */
        const char *err = t->ok ? "" : "Reverted";
        if (t->to == E_NONE) {
            hex(a2, e->acct[t->created].a, 20);
            fprintf(e->f[F_TRACES],
                    "%llu,%s,%u,%s,%s,%s,%s,0x,create,,,%llu,%llu,0,,%s,%d,"
                    "create_%s_\n",
                    (unsigned long long)number, th, i, a1, a2, v, big,
                    (unsigned long long)(t->gas - 21000), (unsigned long long)(t->used - 21000),
                    err, t->ok, th);
        } else {
            fprintf(e->f[F_TRACES],
                    "%llu,%s,%u,%s,%s,%s,%s,0x,call,call,,%llu,%llu,%u,,%s,%d,"
                    "call_%s_\n",
                    (unsigned long long)number, th, i, a1, a2, v, big,
                    (unsigned long long)(t->gas - 21000), (unsigned long long)(t->used - 21000),
                    t->n_tr, err, t->ok, th);
        }
        for (uint32_t k = 0; k < t->n_tr; k++) {
            const etr *c = &e->tr[t->first_tr + k];
            char f1[43], f2[43];
            hex(f1, e->acct[c->from].a, 20);
            hex(f2, e->acct[c->to].a, 20);
            u128_dec(v, c->value);
            fprintf(e->f[F_TRACES],
                    "%llu,%s,%u,%s,%s,%s,0x,0x,call,call,,2300,0,0,%u,,1,"
                    "call_%s_%u\n",
                    (unsigned long long)number, th, i, f1, f2, v, k, th, k);
        }
        e->n_traces += 1 + t->n_tr;
        for (uint32_t k = 0; k < t->n_log; k++, li++) {
            const elog *l = &e->log[t->first_log + k];
            char la[43], tp[4 * 67 + 4];
            hex(la, e->acct[l->addr].a, 20);
            size_t o = 0;
            for (int q = 0; q < l->nt; q++) {
                if (q) tp[o++] = ',';
                hex(tp + o, l->topics[q], 32);
                o += 66;
            }
            tp[o] = 0;
            hexbuf(big, e->buf + l->d_off, l->d_len);
            fprintf(e->f[F_LOGS], "%llu,%s,%u,%s,%llu,%s,%s,%s%s%s\n", (unsigned long long)li, th,
                    i, h, (unsigned long long)number, la, big, l->nt > 1 ? "\"" : "", tp,
                    l->nt > 1 ? "\"" : "");
            e->n_logs++;
            if (l->addr == e->token && l->nt == 3 && !memcmp(l->topics[0], e->t_transfer, 32) &&
                l->d_len == 32) {
                u128 amt = 0;
                for (int q = 16; q < 32; q++)
                    amt = amt << 8 | e->buf[l->d_off + q];
                u128_dec(v, amt);
                hex(a1, l->topics[1] + 12, 20);
                hex(a2, l->topics[2] + 12, 20);
                fprintf(e->f[F_XFERS], "%s,%s,%s,%s,%s,%llu,%llu\n", la, a1, a2, v, th,
                        (unsigned long long)li, (unsigned long long)number);
                e->n_xfers++;
            }
        }
    }
    free(big);
    e->log_index = li;
    memcpy(e->parent, bh, 32);
    for (int k = 0; k < F_N; k++)
        if (ferror(e->f[k]))
            return util_errf(g->err, UTIL_EIO, "%s/%s.csv: write failed: %s", e->dir, file_names[k],
                             strerror(errno));
    return 0;
}

int gen_evm_prepare(gen *g)
{
    for (int k = 0; k < F_N; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/evm/%s.csv", g->cfg.out_dir, file_names[k]);
        if (access(path, F_OK) != 0) continue;
        if (!g->cfg.overwrite)
            return util_errf(g->err, UTIL_EINVAL,
                             "%s already holds evm/%s.csv from an earlier run; choose an empty "
                             "directory or overwrite (--force)",
                             g->cfg.out_dir, file_names[k]);
        if (unlink(path) < 0)
            return util_errf(g->err, UTIL_EIO, "%s: cannot remove: %s", path, strerror(errno));
    }
    return 0;
}

int gen_evm_open_files(gen *g, gen_evm *e)
{
    snprintf(e->dir, sizeof e->dir, "%s/evm", g->cfg.out_dir);
    if (mkdir(e->dir, 0755) < 0 && errno != EEXIST)
        return util_errf(g->err, UTIL_EIO, "%s: cannot create directory: %s", e->dir,
                         strerror(errno));
    for (int k = 0; k < F_N; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.csv", e->dir, file_names[k]);
        e->f[k] = fopen(path, "w");
        if (!e->f[k])
            return util_errf(g->err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
        setvbuf(e->f[k], NULL, _IOFBF, 1 << 20);
        fprintf(e->f[k], "%s\n", file_headers[k]);
    }
    return 0;
}

int gen_evm_finish(gen *g)
{
    gen_evm *e = g->evm;
    int rc = 0;
    char t[48];
    u128_dec(t, E_USDT_SUPPLY);
    char a[43];
    hex(a, e->acct[e->token].a, 20);
    fprintf(e->f[F_TOKENS], "%s,USDT,Tether USD (cointrail gen),6,%s,1\n", a, t);
    for (int k = 0; k < F_N; k++) {
        if (e->f[k] && fclose(e->f[k]) && !rc)
            rc = util_errf(g->err, UTIL_EIO, "%s/%s.csv: write failed: %s", e->dir, file_names[k],
                           strerror(errno));
        e->f[k] = NULL;
    }
    g->st.evm_txs = e->n_txs;
    return rc;
}
