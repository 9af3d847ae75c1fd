#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../btc/btc.h"
#include "../evmclust/evmclust.h"
#include "../labels/labels.h"
#include "../query/query.h"
#include "../store/store.h"
#include "cli.h"

typedef struct query_args {
    const char *db, *state; /* state: the state database whose analyst labels are merged in */
    int json, recompute;
    unsigned threads; /* stats --recompute: scan threads (0: not given) */
    size_t offset, limit;
    const char *arg, *arg2; /* the positional arguments, if wanted */
    int need_clusters; /* fail when the entities cannot be opened (instead of leaving them out) */
} query_args;

static int parse_query_args(int argc, char **argv, const char *usage, int want_arg, query_args *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"state", required_argument, 0, 'S'},
                                         {"json", no_argument, 0, 'j'},
                                         {"recompute", no_argument, 0, 'r'},
                                         {"offset", required_argument, 0, 'o'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->limit = 100;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->db = optarg;
            break;
        case 'S':
            a->state = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'r':
            a->recompute = 1;
            break;
        case 'o':
        case 'l': {
            uint64_t n;
            if (cli_opt_u64(c == 'o' ? "offset" : "limit", optarg, "a count", &n)) return CLI_USAGE;
            *(c == 'o' ? &a->offset : &a->limit) = (size_t)n;
            break;
        }
        case 't': {
            uint64_t n;
            if (cli_parse_u64(optarg, &n) || n < 1 || n > STORE_SCAN_THREADS_MAX) {
                fprintf(stderr, "cointrail: --threads: '%s' is not a count from 1 to %d\n", optarg,
                        STORE_SCAN_THREADS_MAX);
                return CLI_USAGE;
            }
            a->threads = (unsigned)n;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!a->db || optind + want_arg != argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (a->threads && !a->recompute) {
        fputs("cointrail: --threads counts the threads of --recompute's scan: give both\n", stderr);
        return CLI_USAGE;
    }
    if (want_arg) a->arg = argv[optind];
    if (want_arg > 1) a->arg2 = argv[optind + 1];
    return 0;
}

static const char *str_of(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "-";
}

static long long int_of(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void print_btc(const char *label, long long sat)
{
    printf("%-20s %lld sat (%lld.%08lld BTC)\n", label, sat, sat / 100000000,
           (sat < 0 ? -sat : sat) % 100000000);
}

/* One label line: category, name, actor, source, confidence, and with show_address the
 * address that carries it (for labels extended to an entity). The text is labels_to_json's
 * (which repairs a label that is not UTF-8), as the --json output shows it. */
static void print_label_json(json_t *l, int show_address)
{
    char b[2][LABELS_ESC_BUF]; /* label text escaped for the terminal */
    printf("    %-11s %s", labels_text_escape(b[0], sizeof b[0], str_of(l, "category")),
           labels_text_escape(b[1], sizeof b[1], str_of(l, "name")));
    if (json_object_get(l, "actor"))
        printf("  actor %s", labels_text_escape(b[0], sizeof b[0], str_of(l, "actor")));
    printf("  (%s, confidence %lld)", labels_text_escape(b[0], sizeof b[0], str_of(l, "source")),
           int_of(l, "confidence"));
    if (show_address)
        printf("  on %s", labels_text_escape(b[0], sizeof b[0], str_of(l, "address")));
    printf("\n");
}

static void print_labels(const char *title, const labels_label *labels, size_t n)
{
    if (!n) return;
    printf("%s:\n", title);
    for (size_t i = 0; i < n; i++) {
        json_t *l = labels_to_json(&labels[i]);
        print_label_json(l, 0);
        json_decref(l);
    }
}

static void print_entity_labels(const char *title, const query_entity_label *labels, size_t n)
{
    if (!n) return;
    printf("%s:\n", title);
    for (size_t i = 0; i < n; i++) {
        json_t *l = labels_to_json(labels[i].label);
        json_object_set_new(l, "address", json_string(labels[i].address));
        print_label_json(l, 1);
        json_decref(l);
    }
}

/* Open the store read-only with its labels and entities when there are any. */
static int open_query(const query_args *a, cli_ctx *c, query_ctx *q, util_err *err)
{
    /* look-ups only: labels.db is not read whole (labels.idx answers them) unless the state
     * has analyst labels to merge in */
    int rc = cli_open_ctx_state(c, a->db, a->state,
                                (a->need_clusters ? CLI_NEED_CLUSTERS : 0) | CLI_LAZY_LABELS, err);
    if (rc) return rc;
    *q = (query_ctx){c->s, c->labels, c->clusters, c->entix};
    return 0;
}

/* Print a JSON answer and free it. */
static int print_doc(json_t *doc)
{
    cli_print_json(doc);
    json_decref(doc);
    return CLI_OK;
}

static void stats_human(const query_stats_result *r)
{
    const store_totals *t = &r->totals;
    char tip[65] = "-";
    if (r->has_tip) util_hash_hex(tip, r->tip_hash);
    printf("%-20s %lld\n", "blocks", (long long)t->blocks);
    printf("%-20s %s\n", "tip_hash", tip);
    const char *names[] = {"txs",       "inputs",     "outputs",
                           "addresses", "utxo_count", "unresolved_inputs"};
    const uint64_t counts[] = {t->txs,       t->inputs,     t->outputs,
                               t->addresses, t->utxo_count, t->unresolved_inputs};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        printf("%-20s %lld\n", names[i], (long long)counts[i]);
    print_btc("total_output_value", t->total_output_value);
    print_btc("total_fees", t->total_fees);
    print_btc("utxo_value", t->utxo_value);
    /* how the scan summed the fees: the slow path on an intact store is a slip no figure shows */
    if (r->recomputed)
        printf("%-20s %s\n", "fees_summed", r->fees_by_rows ? "tx by tx" : "by runs");
    printf("outputs_by_type:\n");
    for (int i = 0; i < BTC_NSCRIPT_TYPES; i++)
        if (t->outputs_by_type[i])
            printf("  %-18s %lld\n", btc_script_type_name(i), (long long)t->outputs_by_type[i]);
}

int cmd_stats(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(
        argc, argv, "usage: cointrail stats --db DIR [--json] [--recompute [--threads N]]\n", 0,
        &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    util_err err = {0};
    /* The store alone: the totals need neither the labels nor the entities, and reading
     * labels.db would be most of what this command costs. */
    store *s;
    if (store_open(&s, a.db, 0, &err)) return cli_fail(&err);
    query_stats_result r;
    rc = query_stats_get(s, a.recompute ? (a.threads ? (int)a.threads : 1) : 0, &r, &err);
    store_close(s);
    if (rc) return cli_fail(&err);
    if (a.json) return print_doc(query_stats_json(&r));
    stats_human(&r);
    return CLI_OK;
}

static void tx_human(const query_tx_result *r)
{
    char h[2][65];
    util_hash_hex(h[0], r->txid);
    printf("tx %s\n", h[0]);
    util_hash_hex(h[0], r->block_hash);
    printf("  block %lld (%s), size %lld, vsize %lld\n", (long long)r->height, h[0],
           (long long)r->size, (long long)r->vsize);
    printf("  inputs:\n");
    for (size_t i = 0; i < r->n_inputs; i++) {
        const query_tx_input *e = &r->inputs[i];
        if (e->prev_known)
            util_hash_hex(h[0], e->prev_txid);
        else
            strcpy(h[0], "-");
        if (e->kind == QUERY_IN_COINBASE)
            printf("    #%zu coinbase\n", i);
        else if (e->kind == QUERY_IN_UNRESOLVED)
            printf("    #%zu %s:%lld  (unresolved: not in the store)\n", i, h[0],
                   (long long)e->vout);
        else
            printf("    #%zu %s:%lld  %lld sat  %s\n", i, h[0], (long long)e->vout,
                   (long long)e->value, e->has_address ? e->address : "-");
        print_labels("      labels", e->labels, e->n_labels);
    }
    printf("  outputs:\n");
    for (size_t i = 0; i < r->n_outputs; i++) {
        const query_tx_output *e = &r->outputs[i];
        if (e->spent) util_hash_hex(h[1], e->spent_by);
        printf("    #%lld %lld sat  %-8s %s  %s%s\n", (long long)e->n, (long long)e->value,
               btc_script_type_name(e->type), e->has_address ? e->address : "-",
               e->spent ? "spent by " : "unspent", e->spent ? h[1] : "");
        print_labels("      labels", e->labels, e->n_labels);
    }
    if (!r->fee_known)
        printf("  fee: unknown (unresolved inputs)\n");
    else
        printf("  fee: %lld sat\n", (long long)r->fee);
    const cluster_detection *d = &r->detection;
    if (d->kind == CLUSTER_CJ_NONE)
        printf("  coinjoin: none (no detector rule fits)");
    else
        printf("  coinjoin: %s (rule %s, score %d; %s)", cluster_cj_kind_name(d->kind),
               cluster_rule_name(d->rule), d->score,
               cluster_cj_excludes(d->kind) ? "inputs not joined" : "one wallet's: inputs joined");
    if (d->equal_count)
        printf("\n    %lld outputs of %lld sat: %lld participants paid for one each (%lld with "
               "change, %lld earning); chance gives as many in %.1f%%",
               (long long)d->equal_count, (long long)d->equal_value, (long long)d->participants,
               (long long)d->with_change, (long long)d->earning, d->chance_permille / 10.0);
    printf("\n");
    if (r->clustered && r->clustered_kind != d->kind)
        printf("  clustering recorded it as %s (built under other rules: run `cointrail "
               "cluster`)\n",
               cluster_cj_kind_name(r->clustered_kind));
}

int cmd_tx(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(argc, argv, "usage: cointrail tx --db DIR [--json] TXID\n", 1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    util_err err = {0};
    cli_ctx c;
    query_ctx q;
    if (open_query(&a, &c, &q, &err)) return cli_fail(&err);
    query_tx_result r;
    rc = query_tx_get(&q, a.arg, &r, &err);
    if (rc) {
        cli_close_ctx(&c);
        return cli_fail(&err);
    }
    /* the result borrows labels and payloads from the open store: print before closing */
    if (a.json)
        print_doc(query_tx_json(&r));
    else
        tx_human(&r);
    query_tx_free(&r);
    cli_close_ctx(&c);
    return CLI_OK;
}

static void address_human(const query_address_result *r)
{
    printf("address %s (%s)\n", r->address, btc_addr_kind_name(r->kind));
    print_btc("  received", r->received);
    print_btc("  sent", r->sent);
    print_btc("  balance", r->balance);
    print_labels("  labels", r->labels, r->n_labels);
    if (r->has_entity) {
        printf("  entity %lld (cointrail entity --db DIR %lld)\n", (long long)r->entity,
               (long long)r->entity);
        print_entity_labels("  entity labels", r->entity_labels, r->n_entity_labels);
    }
    printf("  %lld txs, %lld outputs (newest first, from #%lld):\n", (long long)r->tx_count,
           (long long)r->output_count, (long long)r->offset);
    for (size_t i = 0; i < r->n_outputs; i++) {
        const query_address_output *e = &r->outputs[i];
        char h[2][65];
        util_hash_hex(h[0], e->txid);
        if (e->spent) util_hash_hex(h[1], e->spent_by);
        printf("    %s:%lld  height %lld  %lld sat  %s%s\n", h[0], (long long)e->n,
               (long long)e->height, (long long)e->value, e->spent ? "spent by " : "unspent",
               e->spent ? h[1] : "");
    }
}

int cmd_address(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(
        argc, argv,
        "usage: cointrail address --db DIR [--state URL] [--json] [--offset N] [--limit N] "
        "ADDR\n",
        1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    util_err err = {0};
    cli_ctx c;
    query_ctx q;
    if (open_query(&a, &c, &q, &err)) return cli_fail(&err);
    query_address_result r;
    rc = query_address_get(&q, a.arg, a.offset, a.limit, 0, &r, &err);
    if (rc) {
        cli_close_ctx(&c);
        return cli_fail(&err);
    }
    if (a.json)
        print_doc(query_address_json(&r));
    else
        address_human(&r);
    query_address_free(&r);
    cli_close_ctx(&c);
    return CLI_OK;
}

static void refusal_human(const cluster_refusal *f)
{
    char h[65];
    util_hash_hex(h, f->txid);
    printf("    %s  %s: %s (entity %lld, %lld addresses then) + %s (entity %lld, %lld then), "
           "rule %s%s\n",
           h, cluster_link_name(f->heuristic), f->addr_a, (long long)f->entity_a,
           (long long)f->size_a, f->addr_b, (long long)f->entity_b, (long long)f->size_b,
           cluster_guard_name(f->rule),
           f->entity_a == f->entity_b ? "  (joined later, on evidence)" : "");
}

static void params_human(const char *indent, const cluster_params *p)
{
    char hs[64];
    cluster_format_heuristics(p->heuristics, hs, sizeof hs);
    printf("%sclustering: rules %u, heuristics %s, guard %lld, established %lld, evidence %lld, "
           "labels %lld addresses (%.12s)\n",
           indent, p->rules, hs, (long long)p->guard, (long long)p->established,
           (long long)p->evidence, (long long)p->labelled, p->labels);
}

static void entity_human(const query_entity_result *q)
{
    const cluster_entity_result *r = &q->entity;
    char hs[64];
    cluster_format_heuristics(r->heuristics, hs, sizeof hs);
    printf("entity %lld: %lld addresses (heuristics %s)\n", (long long)r->entity,
           (long long)r->size, hs);
    print_btc("  received", r->received);
    print_btc("  sent", r->sent);
    print_btc("  balance", r->balance);
    printf("  %-18s %lld\n", "txs", (long long)r->tx_count);
    if (r->has_activity) {
        printf("  %-18s height %lld, time %lld\n", "first_activity", (long long)r->first_height,
               (long long)r->first_time);
        printf("  %-18s height %lld, time %lld\n", "last_activity", (long long)r->last_height,
               (long long)r->last_time);
    }
    printf("  formed by %lld multi-input and %lld change links (%lld made on evidence); the "
           "guards refused %lld merges with other entities",
           (long long)r->formed_multi_input, (long long)r->formed_change,
           (long long)r->formed_evidence, (long long)(r->refused_apart + r->refused_joined));
    if (r->refused_joined) printf(" (%lld joined later)", (long long)r->refused_joined);
    printf("\n");
    if (r->n_refusals) {
        printf("  refused merges%s:\n",
               r->n_refusals < r->refused_apart + r->refused_joined ? " (the first ones)" : "");
        for (size_t i = 0; i < r->n_refusals; i++)
            refusal_human(&r->refusals[i]);
    }
    params_human("  ", &r->params);
    int any_cj = 0;
    for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
        any_cj |= r->cj_spent_into[k] || r->cj_received_from[k];
    if (any_cj) {
        printf("  flagged tx activity (txs spent into / received from):\n");
        for (int k = 1; k < CLUSTER_CJ_NKINDS; k++)
            if (r->cj_spent_into[k] || r->cj_received_from[k])
                printf("    %-16s %lld / %lld\n", cluster_cj_kind_name(k),
                       (long long)r->cj_spent_into[k], (long long)r->cj_received_from[k]);
        printf("  flagged txs (%lld%s):\n", (long long)r->flagged_total,
               r->n_flagged < r->flagged_total ? ", the first ones" : "");
        for (size_t i = 0; i < r->n_flagged; i++) {
            const cluster_flagged_tx *f = &r->flagged[i];
            char h[65];
            util_hash_hex(h, f->txid);
            printf("    %s  %-13s rule %s, score %d  %s%s%s\n", h, cluster_cj_kind_name(f->kind),
                   cluster_rule_name(f->det.rule), f->det.score, f->spent_into ? "spent into" : "",
                   f->spent_into && f->received_from ? ", " : "",
                   f->received_from ? "received from" : "");
        }
    } else
        printf("  no CoinJoin or other flagged tx activity\n");
    printf("  peel chain steps     %lld spent its coins, %lld paid it\n",
           (long long)r->peel_spent_into, (long long)r->peel_received_from);
    if (!r->up_to_date) printf("  (clustering is behind the store: run `cointrail cluster`)\n");
    print_entity_labels("  labels (on any of its addresses)", q->labels, q->n_labels);
    printf("  addresses from #%lld:\n", (long long)r->offset);
    for (size_t i = 0; i < r->n_addresses; i++)
        printf("    %s\n", r->addresses[i].address);
}

static void why_human(const cluster_why_result *r)
{
    printf("%s (entity %lld) and %s (entity %lld): ", r->addr_a, (long long)r->entity_a, r->addr_b,
           (long long)r->entity_b);
    if (r->joined && !r->n_steps) {
        printf("the same address\n");
    } else if (r->joined) {
        printf("joined by %zu link%s\n", r->n_steps, r->n_steps == 1 ? "" : "s");
        for (size_t i = 0; i < r->n_steps; i++) {
            const cluster_why_step *st = &r->steps[i];
            char h[65];
            util_hash_hex(h, st->txid);
            printf("  %zu. %s -> %s\n     tx %s: %s", i + 1, st->from_addr, st->to_addr, h,
                   (st->link & ~CLUSTER_LINK_EVIDENCE) == CLUSTER_LINK_CHANGE
                       ? "change heuristic (inputs and the change output)"
                       : "multi-input heuristic (inputs of one tx)");
            if (st->kind != CLUSTER_CJ_NONE)
                printf(", a %s (rule %s, score %d)", cluster_cj_kind_name(st->kind),
                       cluster_rule_name(st->det.rule), st->det.score);
            if (st->link & CLUSTER_LINK_EVIDENCE)
                printf("; a guarded merge, made once co-spends in %lld txs linked the two",
                       (long long)r->params.evidence);
            printf("\n");
        }
    } else {
        printf("not joined\n");
        if (r->refusals_total) {
            printf("  the guards refused %lld merge%s of their entities:\n",
                   (long long)r->refusals_total, r->refusals_total == 1 ? "" : "s");
            for (size_t i = 0; i < r->n_refusals; i++)
                refusal_human(&r->refusals[i]);
        } else {
            printf("  no tx co-spends their entities' coins (no refused merge between them)\n");
        }
    }
    params_human("  ", &r->params);
}

static int cmd_entity_why(int argc, char **argv)
{
    query_args a;
    int rc = parse_query_args(argc, argv,
                              "usage: cointrail entity why --db DIR [--json] ADDR1 ADDR2\n"
                              "The chain of txs and heuristics that joined two addresses into "
                              "one entity, or that they\nare not joined (and the merges of "
                              "their entities the guards refused).\n",
                              2, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    a.need_clusters = 1;
    util_err err = {0};
    cli_ctx c;
    query_ctx q;
    if (open_query(&a, &c, &q, &err)) return cli_fail(&err);
    cluster_why_result r;
    rc = cluster_why(q.clusters, q.s, a.arg, a.arg2, &r, &err);
    if (rc) {
        cli_close_ctx(&c);
        return cli_fail(&err);
    }
    if (a.json)
        print_doc(cluster_why_json(&r));
    else
        why_human(&r);
    cluster_why_free(&r);
    cli_close_ctx(&c);
    return CLI_OK;
}

/* An EVM address's entity (src/evmclust): the set `evm-cluster` saved, labels as they are now. */
static int entity_evm(const query_args *a)
{
    util_err err = {0};
    evmclust_set set = {0};
    evmclust_entity ent = {0};
    labels_db *labels = NULL;
    json_t *doc = NULL;
    int rc;
    if ((rc = evmclust_load(&set, a->db, "eth", &err)) ||
        (rc = labels_db_open(&labels, a->db, 0, &err)) ||
        (rc = evmclust_entity_get(&set, a->arg, &ent, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    if (!(doc = evmclust_entity_json(&set, &ent, labels, a->arg, a->offset, a->limit))) {
        util_errf(&err, UTIL_ENOMEM, "out of memory");
        rc = cli_fail(&err);
        goto done;
    }
    if (a->json) {
        cli_print_json(doc);
    } else {
        json_t *f = json_object_get(doc, "formed"), *h = json_object_get(f, "hot_wallet");
        printf("entity %s (eth): %s, %s\n", str_of(doc, "entity"),
               json_is_string(json_object_get(doc, "name")) ? str_of(doc, "name")
                                                            : "unnamed service",
               str_of(doc, "category"));
        printf("formed by %s over %" JSON_INTEGER_FORMAT
               " blocks; hot wallet %s fed by %" JSON_INTEGER_FORMAT " deposit addresses\n",
               str_of(f, "rule"), json_integer_value(json_object_get(f, "blocks")),
               str_of(h, "address"), json_integer_value(json_object_get(h, "deposits")));
        char *params = json_dumps(json_object_get(f, "params"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("parameters: %s\n", params ? params : "?");
        free(params);
        json_t *ms = json_object_get(doc, "members"), *m;
        size_t i;
        printf("members %" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
               ":\n",
               json_integer_value(json_object_get(doc, "offset")) + (json_array_size(ms) ? 1 : 0),
               json_integer_value(json_object_get(doc, "offset")) + (json_int_t)json_array_size(ms),
               json_integer_value(json_object_get(doc, "total")));
        json_array_foreach(ms, i, m)
            printf("  %s  forwards %s in %s (delay %" JSON_INTEGER_FORMAT " blocks, funder %s)\n",
                   str_of(m, "address"), str_of(m, "asset"), str_of(m, "tx"),
                   json_integer_value(json_object_get(m, "delay")), str_of(m, "funder"));
    }
    rc = CLI_OK;
done:
    json_decref(doc);
    evmclust_entity_free(&ent);
    evmclust_free(&set);
    labels_db_close(labels);
    return rc;
}

int cmd_entity(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "why")) return cmd_entity_why(argc - 1, argv + 1);
    query_args a;
    int rc = parse_query_args(argc, argv,
                              "usage: cointrail entity --db DIR [--json] [--offset N] [--limit N] "
                              "ADDR|ADDRESS_ID|0xEVMADDR\n"
                              "       cointrail entity why --db DIR [--json] ADDR1 ADDR2\n"
                              "The entity (cluster) an address belongs to, how it was formed and "
                              "the merges the guards\nrefused; `why`: the txs that joined two "
                              "addresses. Run `cointrail cluster` first (`evm-cluster` for a 0x "
                              "address).\n",
                              1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!strncmp(a.arg, "0x", 2) || !strncmp(a.arg, "0X", 2)) return entity_evm(&a);
    a.need_clusters = 1;
    util_err err = {0};
    cli_ctx c;
    query_ctx q;
    if (open_query(&a, &c, &q, &err)) return cli_fail(&err);
    query_entity_result r;
    rc = query_entity_get(&q, a.arg, a.offset, a.limit, &r, &err);
    if (rc) {
        cli_close_ctx(&c);
        return cli_fail(&err);
    }
    if (a.json)
        rc = print_doc(query_entity_json(&r));
    else {
        entity_human(&r);
        rc = CLI_OK;
    }
    query_entity_free(&r);
    cli_close_ctx(&c);
    return rc;
}
