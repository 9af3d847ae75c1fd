/* gen: generates a synthetic Bitcoin main chain as Bitcoin Core block files, with a simulated
 * economy (users, exchanges, merchants, miners), CoinJoins shaped like the real ones and
 * laundering scenarios modelled on documented DPRK cases, and writes the truth beside it.
 *
 * What one gen_run writes into cfg->out_dir (formats in docs/generator.md):
 *   blk00000.dat, blk00001.dat, ...  records f9beb4d9 + LE size + raw block, each file at most
 *                                   cfg->file_size bytes; blocks in chain order
 *   xor.dat                          8-byte obfuscation key (only with cfg->xor)
 *   truth.jsonl                      JSON Lines: meta, totals, entity, coinjoin, whirlpool_tx0,
 *                                   scenario records
 *   labels.csv                       chain,address,category,actor,source,confidence: what an
 *                                   investigator would know (partial by design)
 *   incidents.csv                    one row per theft that happened: id, date, victim, chains,
 *                                   amount, attribution and the stolen outputs (EVM thefts: the
 *                                   theft txs) as seeds, in `cointrail incident import`'s format
 *
 * The same config (including seed) always gives byte-identical files. Signatures and proof of
 * work are dummies; everything else is consistent: serialization (BIP 144 witnesses), txids,
 * merkle roots, BIP 141 witness commitments, BIP 34 heights, prevouts, value conservation,
 * coinbase = subsidy + fees, and script hashes that match the keys and scripts that spend them. */
#ifndef CT_GEN_H
#define CT_GEN_H

#include <stdint.h>

#include "../util/util.h"

/* Everything that shapes a generated chain. Fill with gen_config_init, then override. */
typedef struct gen_config {
    const char *out_dir;       /* directory for the files; created if missing (not owned) */
    uint64_t seed;             /* all randomness derives from it */
    uint32_t blocks;           /* blocks to generate, genesis included */
    uint32_t txs_per_block;    /* target txs per block, coinbase included (fewer while the
                                  economy has no spendable coins, or at the 4M weight limit) */
    uint32_t users;            /* individual users (wallets of several addresses) */
    uint32_t exchanges;        /* custodial exchanges: hot/cold wallets, deposit addresses */
    uint32_t merchants;        /* merchants: a fresh invoice address per payment */
    uint32_t miners;           /* mining pools receiving the coinbases */
    uint32_t scenarios;        /* laundering scenarios (each a theft from an exchange) */
    uint32_t halving_interval; /* blocks per subsidy halving (210000 on mainnet) */
    uint32_t maturity;         /* blocks before a coinbase output may be spent (100) */
    uint32_t scenario_blocks;  /* blocks over which a scenario unfolds; 0 = automatic */
    int separate_rounds;       /* thieves of different scenarios never share a CoinJoin round,
                                  so each theft's haircut trace is exact per scenario (0: they
                                  may, as on mainnet; 1 changes the chain) */
    double reuse_rate;         /* chance that a receive or change address is a reused one */
    double privacy_rate;       /* share of users who mix (Wasabi, Whirlpool, JoinMarket) */
    double coinjoin_rate;      /* multiplier on the per-block chance of CoinJoin rounds */
    double era_start;          /* mainnet year the first block imitates (script mix, CoinJoin
                                  kinds, fees), e.g. 2009.0 */
    double era_end;            /* mainnet year the last block imitates, e.g. 2024.3 */
    uint32_t start_time;       /* genesis timestamp; 0 = the start of era_start */
    uint64_t file_size;        /* maximum bytes per blk file (128 MiB) */
    int xor_files;             /* write xor.dat and obfuscate the blk files with it */
    int user_addresses;        /* list user addresses in truth entity lines (1) */
    int overwrite;             /* replace blk files, truth and labels already in out_dir */
    /* The EVM side (docs/generator.md, "The EVM side"): with evm set, an Ethereum-like chain is
     * written to out_dir/evm/ as ethereum-etl CSVs, its swaps and bridge deposits to Bitcoin
     * get outbound legs in the Bitcoin chain, and truth/labels gain EVM lines. With evm 0 the
     * output is byte for byte what it was before the EVM side existed. */
    int evm;
    uint32_t evm_scenarios;   /* EVM thefts (each continues in Bitcoin as one more scenario) */
    double evm_txs_per_block; /* mean background txs per 12-second EVM block */
    uint32_t evm_services;    /* unlabelled exchanges, with lookalikes of their deposit
                               * addresses (DEX traders, airdrop claimers, payroll payees,
                               * a user's own wallets); 0: none, the chain as before */
    /* Harder cases for the CoinJoin detectors (docs/generator.md, "Generic rounds and
     * lookalikes"); each 0 by default, and with all three 0 every byte of the output is what it
     * was before they existed. */
    double generic_rounds; /* multiplier on the chance of equal-output rounds outside the known
                              implementations (any denomination, mixed scripts, remixes) */
    double lookalikes;     /* multiplier on the chance of one-payer batches with equal outputs
                              (payroll, payouts) that look like CoinJoins */
    double tx0_discount;   /* share of Whirlpool Tx0s that pay a discounted pool fee (SCODE) */
    /* Laundering that a demixing tracer must see through (docs/generator.md, "Swap returns and
     * remixes"); each 0 by default, and with all three off every byte of the output is what it
     * was before they existed. */
    double swap_returns; /* share of a thief's swap deposits the swap service pays back in BTC
                            (amount less its fee, within hours), which the thief cashes out */
    double thief_remix;  /* chance a thief's Whirlpool postmix coin remixes before it moves */
    int thief_truth;     /* write the per-output truth (thief_deposit, thief_mix_output,
                            swap_return lines) even with the two above at 0 */
    /* Called (if set) after every progress_every blocks and at the end; may be NULL. */
    void (*progress)(void *ctx, uint32_t height, uint64_t txs, uint64_t bytes);
    void *progress_ctx;
    uint32_t progress_every;
} gen_config;

/* What was generated. The first group equals the truth file's totals line, which is what an
 * importer of the main chain computes. */
typedef struct gen_stats {
    uint64_t blocks, txs;
    uint64_t inputs;            /* all inputs, the coinbase's included */
    uint64_t outputs;           /* all outputs, OP_RETURN included */
    int64_t total_output_value; /* sum over all outputs, coinbases included */
    int64_t total_fees;         /* sum over non-coinbase txs of inputs - outputs */
    uint64_t utxo_count;        /* outputs never spent (OP_RETURN included) */
    int64_t utxo_value;
    uint64_t addresses;           /* distinct standard addresses appearing in outputs */
    uint64_t outputs_by_type[16]; /* indexed by btc_script_type */
    uint8_t tip_hash[32];
    /* Not in the totals line. */
    uint64_t bytes;     /* bytes written to blk files (framing included) */
    uint32_t files;     /* blk files written */
    uint64_t coinjoins; /* CoinJoin transactions (Tx0s not counted) */
    uint64_t scenario_steps;
    uint32_t entities;
    uint64_t evm_blocks, evm_txs, evm_links; /* EVM side: blocks, txs, cross-chain links made */
    double seconds;                          /* wall time of gen_run */
} gen_stats;

/* Fill cfg with the defaults (documented in docs/generator.md); out_dir is left NULL. */
void gen_config_init(gen_config *cfg);

/* Check cfg for values the generator cannot honour. 0, or UTIL_EINVAL with err naming the
 * field and the allowed range. */
int gen_config_check(const gen_config *cfg, util_err *err);

/* Block subsidy in satoshi at height: 50 BTC halved every halving_interval blocks (0 after 64
 * halvings). halving_interval 0 means no halving. */
int64_t gen_subsidy(uint32_t height, uint32_t halving_interval);

/* Generate the chain, truth and labels described by cfg into cfg->out_dir. stats (may be NULL)
 * is filled on success. Refuses an out_dir already holding blk files or truth unless
 * cfg->overwrite. Memory is released before returning, on success or failure. Returns 0, or
 * UTIL_EINVAL (bad config), UTIL_EIO (a file could not be written; err names it) or
 * UTIL_ENOMEM. */
int gen_run(const gen_config *cfg, gen_stats *stats, util_err *err);

#endif
