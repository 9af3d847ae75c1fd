/* xtrace: a trace that crosses from an EVM chain to Bitcoin (docs/xchain.md, "Tracing across").
 *
 * It runs the account-model tracer (src/etrace) forward on the EVM chain. Every tainted deposit
 * into a bridge or swap router that it reports (its cross_chain records) is looked up in the
 * cross-chain links (DIR/xchain/links.jsonl, from `cointrail xchain links`); the Bitcoin outputs
 * a link names are traced on by the Bitcoin tracer (src/trace) under the same policy. What
 * reaches Bitcoin endpoints is scaled by the tainted share of the deposit (taint / amount):
 * exact for haircut, which is linear; poison counts a deposit with any taint in full; for fifo
 * the share is the same proportion (an approximation, marked in the document). Each hop says
 * how it was matched (method, rule, confidence, candidates). The Bitcoin leg is summarised per
 * endpoint category (amount, endpoints, hops, the nearest endpoint and the path to it), as
 * screening does, rather than as a full trace document per leg. */
#ifndef CT_XTRACE_H
#define CT_XTRACE_H

#include <jansson.h>

#include "../cluster/cluster.h"
#include "../etrace/etrace.h"
#include "../evm/evm.h"
#include "../labels/labels.h"
#include "../store/store.h"
#include "../util/util.h"
#include "../xchain/xchain.h"

typedef struct xtrace_opts {
    etrace_opts evm;          /* the EVM leg (direction must be forward) */
    uint32_t btc_hops;        /* the Bitcoin leg: txs followed from the linked outputs */
    uint64_t btc_min_value;   /* satoshis */
    uint64_t btc_max_outputs; /* per link: outputs visited at most (then "partial") */
    double min_confidence;    /* links below this confidence are listed, not followed */
} xtrace_opts;

void xtrace_default_opts(xtrace_opts *o);

/* Who the Bitcoin legs reached, by actor (trace.h, "answers by actor"), over every link
 * followed: the document's "btc_by_actor". */
typedef struct xtrace_actor {
    labels_actor who;     /* borrowed labels */
    const char *category; /* the stop category of its largest endpoint */
    uint64_t amount;      /* satoshis reaching its endpoints, scaled by each deposit's tainted
                             share (each link's amount rounded down) */
    uint64_t expected;    /* the same, each link's part weighed by the link's confidence */
    uint64_t deposits;    /* outputs paid to its endpoint addresses */
    uint32_t addresses;   /* distinct endpoint addresses */
    uint32_t hops;        /* Bitcoin txs from a linked output to the nearest of them */
    uint32_t links;       /* links whose Bitcoin leg reached it */
} xtrace_actor;
typedef struct xtrace_actors {
    xtrace_actor *v; /* largest amount first */
    size_t n;
} xtrace_actors;
void xtrace_actors_free(xtrace_actors *a);

/* Run from EVM seeds. btc may be NULL (then links are listed and not followed); clusters may be
 * NULL. links is the loaded link set. *out is a new reference owned by the caller. */
int xtrace_run(const evm_store *evm, const store *btc, const labels_db *labels,
               const cluster_map *clusters, const xchain_links *links, const etrace_seeds *seeds,
               const xtrace_opts *o, json_t **out, util_err *err);
/* xtrace_run that also hands over the EVM leg's typed result: *evm_out (zeroed first, owned by
 * the caller even after a failure; free with etrace_result_free) is what the document's "evm"
 * was written from. evm_out may be NULL. */
int xtrace_run_evm(const evm_store *evm, const store *btc, const labels_db *labels,
                   const cluster_map *clusters, const xchain_links *links,
                   const etrace_seeds *seeds, const xtrace_opts *o, etrace_result *evm_out,
                   json_t **out, util_err *err);
/* xtrace_run_evm that also hands over the Bitcoin legs by actor: *btc_actors (zeroed first,
 * owned by the caller even after a failure: xtrace_actors_free) is what the document's
 * "btc_by_actor" was written from. btc_actors may be NULL. */
int xtrace_run_actors(const evm_store *evm, const store *btc, const labels_db *labels,
                      const cluster_map *clusters, const xchain_links *links,
                      const etrace_seeds *seeds, const xtrace_opts *o, etrace_result *evm_out,
                      xtrace_actors *btc_actors, json_t **out, util_err *err);

#endif
