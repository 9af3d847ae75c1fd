/* cointrail generate: parse options, run the chain generator (src/gen), print a summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../gen/gen.h"
#include "cli.h"

static void usage(FILE *f)
{
    gen_config d;
    gen_config_init(&d);
    fprintf(
        f,
        "usage: cointrail generate --out DIR [options]\n"
        "\n"
        "Generate a synthetic Bitcoin chain as Bitcoin Core block files (blk?????.dat), with\n"
        "users, exchanges, merchants, miners, CoinJoins and laundering scenarios, and write\n"
        "truth.jsonl, labels.csv and incidents.csv beside it. The same options and seed give\n"
        "the same bytes.\n"
        "\n"
        "  --out DIR               output directory (created if missing)\n"
        "  --seed N                random seed (%llu)\n"
        "  --blocks N              blocks, genesis included (%u)\n"
        "  --txs-per-block N       target txs per block, coinbase included (%u)\n"
        "  --users N               users (%u)\n"
        "  --exchanges N           exchanges (%u)\n"
        "  --merchants N           merchants (%u)\n"
        "  --miners N              mining pools (%u)\n"
        "  --scenarios N           laundering scenarios (%u)\n"
        "  --halving-interval N    blocks per subsidy halving (%u)\n"
        "  --maturity N            blocks before a coinbase can be spent (%u)\n"
        "  --scenario-blocks N     blocks a scenario unfolds over (0 = automatic)\n"
        "  --separate-rounds       thieves of different scenarios never share a CoinJoin round\n"
        "                          (each theft's trace is then exact per scenario)\n"
        "  --reuse-rate F          chance a receive/change address is reused (%.2f)\n"
        "  --privacy-rate F        share of users who mix coins (%.2f)\n"
        "  --coinjoin-rate F       multiplier on CoinJoin round frequency (%.1f)\n"
        "  --generic-rounds F      equal-output rounds outside the known implementations\n"
        "                          (any denomination, mixed scripts, remixes); 0 = none (0)\n"
        "  --lookalikes F          one-payer batches with equal outputs (payroll, payouts)\n"
        "                          that look like CoinJoins; 0 = none (0)\n"
        "  --tx0-discount F        share of Whirlpool Tx0s paying a discounted fee (0)\n"
        "  --swap-returns F        share of a thief's swap deposits paid back in BTC (0)\n"
        "  --thief-remix F         chance a thief's Whirlpool postmix coin remixes (0)\n"
        "  --thief-truth           per-output truth of the thieves (deposits, mix outputs,\n"
        "                          swap returns); on with either option above\n"
        "  --era START-END         mainnet years the chain imitates (%.1f-%.1f)\n"
        "  --start-time UNIX       genesis timestamp (default: start of the era)\n"
        "  --file-size MIB         maximum size of a blk file (%llu)\n"
        "  --xor                   write xor.dat and obfuscate the blk files with it\n"
        "  --no-user-addresses     leave user address lists out of truth.jsonl\n"
        "  --evm                   also an EVM chain in DIR/evm/ (ethereum-etl CSVs)\n"
        "  --evm-scenarios N       EVM thefts, continued in Bitcoin (1)\n"
        "  --evm-services N        unlabelled exchanges and their deposit lookalikes (0)\n"
        "  --evm-txs-per-block F   mean background txs per EVM block (1.0)\n"
        "  --force                 overwrite an earlier run's files in DIR\n"
        "  --quiet                 no progress on stderr\n"
        "  --json                  print the summary as JSON\n"
        "  --help                  this text\n",
        (unsigned long long)d.seed, d.blocks, d.txs_per_block, d.users, d.exchanges, d.merchants,
        d.miners, d.scenarios, d.halving_interval, d.maturity, d.reuse_rate, d.privacy_rate,
        d.coinjoin_rate, d.era_start, d.era_end, (unsigned long long)(d.file_size >> 20));
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v > max) {
        fprintf(stderr, "cointrail generate: %s '%s': expected a whole number up to %llu\n", opt, s,
                (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(opt, s, UINT32_MAX, &v)) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_f(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno) {
        fprintf(stderr, "cointrail generate: %s '%s': expected a number\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

typedef struct progress_ctx {
    uint32_t blocks;
    double t0;
} progress_ctx;

static void progress(void *ctx, uint32_t height, uint64_t txs, uint64_t bytes)
{
    const progress_ctx *p = ctx;
    double dt = util_now() - p->t0;
    fprintf(stderr, "\rblock %u/%u  %llu txs  %.0f MB  %.2fM txs/min   ", height + 1, p->blocks,
            (unsigned long long)txs, bytes / 1e6, dt > 0 ? txs / dt * 60 / 1e6 : 0.0);
    fflush(stderr);
}

int cmd_generate(int argc, char **argv)
{
    gen_config cfg;
    gen_config_init(&cfg);
    int quiet = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        if (eq && eq - a < (long)sizeof name && !strncmp(a, "--", 2)) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            usage(stdout);
            return CLI_OK;
        }
        /* Flags without a value. */
        if (!strcmp(name, "--xor")) {
            cfg.xor_files = 1;
            continue;
        }
        if (!strcmp(name, "--no-user-addresses")) {
            cfg.user_addresses = 0;
            continue;
        }
        if (!strcmp(name, "--evm")) {
            cfg.evm = 1;
            continue;
        }
        if (!strcmp(name, "--thief-truth")) {
            cfg.thief_truth = 1;
            continue;
        }
        if (!strcmp(name, "--separate-rounds")) {
            cfg.separate_rounds = 1;
            continue;
        }
        if (!strcmp(name, "--force")) {
            cfg.overwrite = 1;
            continue;
        }
        if (!strcmp(name, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(name, "--json")) {
            json = 1;
            continue;
        }
        if (strncmp(name, "--", 2) != 0) {
            fprintf(stderr, "cointrail generate: unexpected argument '%s' (see --help)\n", a);
            return CLI_USAGE;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cointrail generate: %s needs a value (see --help)\n", name);
                return CLI_USAGE;
            }
            val = argv[++i];
        }
        int bad = 0;
        uint64_t u64;
        if (!strcmp(name, "--out"))
            cfg.out_dir = val;
        else if (!strcmp(name, "--seed"))
            bad = parse_u64(name, val, UINT64_MAX, &cfg.seed);
        else if (!strcmp(name, "--blocks"))
            bad = parse_u32(name, val, &cfg.blocks);
        else if (!strcmp(name, "--txs-per-block"))
            bad = parse_u32(name, val, &cfg.txs_per_block);
        else if (!strcmp(name, "--users"))
            bad = parse_u32(name, val, &cfg.users);
        else if (!strcmp(name, "--exchanges"))
            bad = parse_u32(name, val, &cfg.exchanges);
        else if (!strcmp(name, "--merchants"))
            bad = parse_u32(name, val, &cfg.merchants);
        else if (!strcmp(name, "--miners"))
            bad = parse_u32(name, val, &cfg.miners);
        else if (!strcmp(name, "--scenarios"))
            bad = parse_u32(name, val, &cfg.scenarios);
        else if (!strcmp(name, "--halving-interval"))
            bad = parse_u32(name, val, &cfg.halving_interval);
        else if (!strcmp(name, "--maturity"))
            bad = parse_u32(name, val, &cfg.maturity);
        else if (!strcmp(name, "--scenario-blocks"))
            bad = parse_u32(name, val, &cfg.scenario_blocks);
        else if (!strcmp(name, "--reuse-rate"))
            bad = parse_f(name, val, &cfg.reuse_rate);
        else if (!strcmp(name, "--privacy-rate"))
            bad = parse_f(name, val, &cfg.privacy_rate);
        else if (!strcmp(name, "--coinjoin-rate"))
            bad = parse_f(name, val, &cfg.coinjoin_rate);
        else if (!strcmp(name, "--generic-rounds"))
            bad = parse_f(name, val, &cfg.generic_rounds);
        else if (!strcmp(name, "--lookalikes"))
            bad = parse_f(name, val, &cfg.lookalikes);
        else if (!strcmp(name, "--tx0-discount"))
            bad = parse_f(name, val, &cfg.tx0_discount);
        else if (!strcmp(name, "--swap-returns"))
            bad = parse_f(name, val, &cfg.swap_returns);
        else if (!strcmp(name, "--thief-remix"))
            bad = parse_f(name, val, &cfg.thief_remix);
        else if (!strcmp(name, "--evm-scenarios"))
            bad = parse_u32(name, val, &cfg.evm_scenarios);
        else if (!strcmp(name, "--evm-services"))
            bad = parse_u32(name, val, &cfg.evm_services);
        else if (!strcmp(name, "--evm-txs-per-block"))
            bad = parse_f(name, val, &cfg.evm_txs_per_block);
        else if (!strcmp(name, "--start-time"))
            bad = parse_u32(name, val, &cfg.start_time);
        else if (!strcmp(name, "--file-size")) {
            bad = parse_u64(name, val, 2047, &u64);
            cfg.file_size = u64 << 20;
        } else if (!strcmp(name, "--era")) {
            char *end;
            cfg.era_start = strtod(val, &end);
            if (*end == '-' || *end == ':')
                cfg.era_end = strtod(end + 1, &end);
            else
                cfg.era_end = cfg.era_start;
            if (*end || end == val) {
                fprintf(stderr,
                        "cointrail generate: --era '%s': expected START-END, e.g. "
                        "2017-2024.3\n",
                        val);
                bad = 1;
            }
        } else {
            fprintf(stderr, "cointrail generate: unknown option '%s' (see --help)\n", name);
            return CLI_USAGE;
        }
        if (bad) return CLI_USAGE;
    }
    if (!cfg.out_dir) {
        fprintf(stderr, "cointrail generate: --out DIR is required (see --help)\n");
        return CLI_USAGE;
    }
    progress_ctx pc = {cfg.blocks, util_now()};
    if (!quiet && isatty(2)) {
        cfg.progress = progress;
        cfg.progress_ctx = &pc;
        cfg.progress_every = cfg.blocks >= 1000 ? cfg.blocks / 200 : 10;
    }
    util_err err = {0, ""};
    gen_stats st;
    int rc = gen_run(&cfg, &st, &err);
    if (cfg.progress) fputc('\n', stderr);
    if (rc) return cli_fail(&err);
    double rate = st.seconds > 0 ? st.txs / st.seconds * 60 : 0.0;
    if (json) {
        char tip[65];
        util_hash_hex(tip, st.tip_hash);
        json_t *j = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:i,s:I,s:I,s:f,s:f}", "out", cfg.out_dir,
            "blocks", (json_int_t)st.blocks, "txs", (json_int_t)st.txs, "inputs",
            (json_int_t)st.inputs, "outputs", (json_int_t)st.outputs, "addresses",
            (json_int_t)st.addresses, "utxo_count", (json_int_t)st.utxo_count, "total_fees",
            (json_int_t)st.total_fees, "tip_hash", tip, "bytes", (json_int_t)st.bytes, "files",
            (int)st.files, "coinjoins", (json_int_t)st.coinjoins, "scenario_steps",
            (json_int_t)st.scenario_steps, "seconds", st.seconds, "txs_per_minute", rate);
        if (j && cfg.evm) {
            json_object_set_new(j, "evm_blocks", json_integer((json_int_t)st.evm_blocks));
            json_object_set_new(j, "evm_txs", json_integer((json_int_t)st.evm_txs));
            json_object_set_new(j, "evm_links", json_integer((json_int_t)st.evm_links));
        }
        cli_print_json(j);
        json_decref(j);
        return CLI_OK;
    }
    printf("generated %llu blocks, %llu txs, %llu outputs, %llu addresses, %llu coinjoins, "
           "%u scenarios (%.1f MB in %u blk files) into %s in %.1f s: %.2fM txs/min\n",
           (unsigned long long)st.blocks, (unsigned long long)st.txs,
           (unsigned long long)st.outputs, (unsigned long long)st.addresses,
           (unsigned long long)st.coinjoins, cfg.scenarios, st.bytes / 1e6, st.files, cfg.out_dir,
           st.seconds, rate / 1e6);
    if (cfg.evm)
        printf("EVM side: %llu blocks, %llu txs, %llu outbound legs in Bitcoin (%s/evm)\n",
               (unsigned long long)st.evm_blocks, (unsigned long long)st.evm_txs,
               (unsigned long long)st.evm_links, cfg.out_dir);
    return CLI_OK;
}
