#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cointrail/version.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"import", cmd_import, "import --db DIR PATH...     add Bitcoin Core block files to a store"},
    {"stats", cmd_stats, "stats --db DIR               whole-store figures"},
    {"tx", cmd_tx, "tx --db DIR TXID              one transaction, its inputs and outputs"},
    {"address", cmd_address, "address --db DIR ADDR         an address's balance and outputs"},
    {"block", cmd_block, "block decode FILE             decode raw or framed blocks, no store"},
    {"generate", cmd_generate, "generate --out DIR ...        write a synthetic chain with truth"},
    {"cluster", cmd_cluster,
     "cluster --db DIR              build or extend entities (CoinJoins excluded)"},
    {"entity", cmd_entity,
     "entity --db DIR ADDR|ID       an entity: size, addresses, balance, CoinJoins"},
    {"trace", cmd_trace,
     "trace --db DIR --from SPEC ... follow taint forward/backward to endpoints"},
    {"screen", cmd_screen,
     "screen --db DIR ADDR|TXID...  risk level and exposure by category, with evidence"},
    {"serve", cmd_serve,
     "serve --db DIR --api-keys FILE the screening HTTP API (watchlists, alerts)"},
    {"serve-key", cmd_serve_key,
     "serve-key --owner N --scopes L  a new API key and its hashed key-file line"},
    {"exposure", cmd_exposure,
     "exposure build|status|show|dump --db DIR  the exposure index screening reads"},
    {"labels", cmd_labels,
     "labels import|list|search|show|add|retire|history --db DIR ...  labels"},
    {"state", cmd_state,
     "state info|watchlist-put|key-add|... [--state URL]  shared state (docs/state.md)"},
    {"export", cmd_export,
     "export --labels QUERY --format F --db DIR  labels as STIX, MISP, TagPack or FtM"},
    {"evm-import", cmd_evm_import, "evm-import --db DIR PATH...  add ethereum-etl CSV exports"},
    {"evm-address", cmd_evm_address,
     "evm-address --db DIR 0xADDR  an EVM address's balances, transfers"},
    {"evm-tx", cmd_evm_tx, "evm-tx --db DIR 0xHASH        an EVM tx, its fee and transfers"},
    {"evm-stats", cmd_evm_stats, "evm-stats --db DIR            EVM store figures"},
    {"evm-cluster", cmd_evm_cluster,
     "evm-cluster --db DIR          EVM entities: exchange deposit addresses"},
    {"etrace", cmd_etrace, "etrace --db DIR --from SPEC    follow taint through an EVM store"},
    {"evm-exposure", cmd_evm_exposure,
     "evm-exposure build|status|dump --db DIR  the EVM exposure index screening reads"},
    {"xchain", cmd_xchain, "xchain links|show --db DIR    cross-chain swaps, bridges, mixer links"},
    {"case", cmd_case,
     "case new|list|show|add-seed|trace|label|note|export --db DIR ...  investigation cases"},
    {"export-columns", cmd_export_columns,
     "export-columns --db DIR --out DIR  the chain as gzip CSV tables for DuckDB/Spark"},
    {"incident", cmd_incident,
     "incident import|list|show|trace --db DIR ...  thefts: attribution, seeds, traces"},
    {"report", cmd_report,
     "report thefts --db DIR [--by actor,year,chain]  the theft tally (text, JSON, CSV, HTML)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cointrail COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %s\n", commands[i].help);
    fprintf(out, "\nAdd --json for machine-readable output; `cointrail COMMAND --help` for "
                 "options.\nExit codes: 0 ok, 1 error, 2 bad usage, 3 not found.\n");
}

int main(int argc, char **argv)
{
    /* A write past the file size limit (ulimit -f) then fails with EFBIG, which the store
     * reports naming the file, instead of killing the process half way through a batch. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("cointrail %s\n", CT_VERSION); /* the CMake project's VERSION */
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cointrail: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
