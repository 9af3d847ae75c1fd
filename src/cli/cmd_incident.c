/* cointrail incident import|list|show|trace: thin over src/case (the incident registry in
 * DIR/cases.sqlite) and src/tally (where one incident's funds went). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../case/case.h"
#include "../tally/tally.h"
#include "cli.h"

static const char usage[] =
    "usage: cointrail incident import --db DIR FILE... [--update]\n"
    "       cointrail incident list   --db DIR\n"
    "       cointrail incident show   --db DIR ID\n"
    "       cointrail incident trace  --db DIR ID...|--all [trace options] [--min-confidence C]\n"
    "  every command: [--analyst NAME] (default $USER) [--json] [--state postgresql://...]\n"
    "  Incidents live in DIR/cases.sqlite beside the cases (with --state: in the shared\n"
    "  PostgreSQL database, docs/state.md); each owns a case, whose runs its\n"
    "  traces are (docs/incidents.md).\n"
    "  import: CSV files as data/incidents/ ships them (incidents: id,date,victim,chains,\n"
    "    amount_native,amount_fiat,attribution,attributed_by,attribution_kind,attribution_date,\n"
    "    confidence,incident_source_url,attribution_source_url,other_source_urls,official_url,\n"
    "    notes,seeds; seed rows: incident_id,chain,address,role,label,source_file,source_url,\n"
    "    notes) and YAML (.yaml/.yml). All files or nothing; a malformed field is named with\n"
    "    FILE:LINE and column (CSV) or its YAML path. Seeds on a chain whose store is in DIR\n"
    "    must be in it. Importing the same content again changes nothing; other content for an\n"
    "    id that exists is refused unless --update.\n"
    "  show: the incident, its attributions, sources, seeds, stolen amounts (computed from the\n"
    "    seeds in the store; USD as the sources state it) and where its funds went.\n"
    "  trace: runs the incident's seeds on every chain whose store is in DIR (Bitcoin: trace,\n"
    "    EVM: etrace, DIR/evm/<chain>, --chain to choose it) and follows deposits into bridges\n"
    "    and swaps to Bitcoin over DIR/xchain/links.jsonl (`cointrail xchain links`), each run\n"
    "    recorded in the incident's case. trace options: as `cointrail trace` / `etrace`\n"
    "    (--direction --policy --hops --min-value --until --through-mixers --max-outputs\n"
    "    --max-xfers --until-time), applied to every run whose tracer takes them.\n";

typedef cli_case_env env;

#define ESC(b, s) labels_text_escape(b, sizeof b, s)

/* ---------------- the subcommands ---------------- */

typedef struct args {
    cli_case_opts o; /* --db, --state, --analyst, --json */
    const char *chain;
    int update, all;
    double min_confidence;
    cli_tracer_args t;
} args;

static int do_import(env *e, const args *a, char **files, int n, util_err *err)
{
    case_import_report r;
    int rc = case_incident_import(e->db, &e->who, &e->st, (const char *const *)files, (size_t)n,
                                  a->update ? CASE_IMPORT_UPDATE : 0, &r, err);
    if (rc) return rc;
    if (a->o.json)
        printf("{\"files\": %zu, \"read\": %zu, \"added\": %zu, \"unchanged\": %zu, "
               "\"updated\": %zu, \"seeds_added\": %zu, \"seeds_unchecked\": %zu}\n",
               r.files, r.read, r.added, r.unchanged, r.updated, r.seeds_added, r.seeds_unchecked);
    else if (r.seeds_unchecked)
        printf("%zu incident(s) read from %zu file(s): %zu added, %zu unchanged, %zu updated; "
               "%zu seed(s) added, %zu not checked (no store for their chain)\n",
               r.read, r.files, r.added, r.unchanged, r.updated, r.seeds_added, r.seeds_unchecked);
    else
        printf("%zu incident(s) read from %zu file(s): %zu added, %zu unchanged, %zu updated; "
               "%zu seed(s) added\n",
               r.read, r.files, r.added, r.unchanged, r.updated, r.seeds_added);
    return 0;
}

/* "1.5 BTC, 20 ETH" from the stolen amounts (text for the terminal). */
static void stolen_text(const case_incident *i, char *out, size_t cap)
{
    out[0] = 0;
    size_t used = 0;
    for (size_t k = 0; k < i->n_stolen && used + 1 < cap; k++) {
        evm_u256 v;
        char u[128];
        if (evm_u256_parse(&v, i->stolen[k].amount, strlen(i->stolen[k].amount), NULL)) continue;
        tally_units(u, sizeof u, &v, i->stolen[k].decimals);
        int m = snprintf(out + used, cap - used, "%s%s %s", k ? ", " : "", u, i->stolen[k].symbol);
        if (m < 0) break;
        used += (size_t)m;
    }
    if (!out[0]) snprintf(out, cap, "-");
}

static int do_list(env *e, const args *a, util_err *err)
{
    case_incident *v;
    size_t n;
    int rc = case_incident_list(e->db, &e->who, a->o.json, &v, &n, err); /* JSON: with traces */
    if (rc) return rc;
    if (a->o.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n && !rc; i++) {
            json_t *d;
            if (!(rc = case_incident_json(&v[i], 0, &d, err))) json_array_append_new(arr, d);
        }
        if (!rc) cli_print_json(arr);
        json_decref(arr);
    } else {
        printf("%-28s %-10s %-24s %-12s %-22s %14s %6s  %s\n", "id", "date", "victim", "chains",
               "actor", "USD stated", "seeds", "stolen (from seeds)");
        for (size_t i = 0; i < n; i++) {
            char b[4][LABELS_ESC_BUF], s[512];
            stolen_text(&v[i], s, sizeof s);
            printf("%-28s %-10s %-24.24s %-12.12s %-22.22s %14s %6zu  %s\n", v[i].slug,
                   *v[i].date ? v[i].date : "-", ESC(b[0], v[i].victim),
                   *v[i].chains ? v[i].chains : "-",
                   v[i].n_attrs ? ESC(b[1], v[i].attrs[0].actor) : "-", *v[i].usd ? v[i].usd : "-",
                   v[i].n_seeds, s);
        }
    }
    case_incident_array_free(v, n);
    return rc;
}

/* Where one incident's funds went: the tally of that incident alone. */
static int print_where(const case_incident *i, util_err *err)
{
    tally_result t;
    int rc = tally_compute(i, 1, 0, &t, err);
    if (rc) return rc;
    printf("where the funds went (latest trace%s):\n", i->trace.id ? "" : ": none yet");
    rc = tally_write_text(&t, stdout, err);
    tally_result_free(&t);
    return rc;
}

static void print_incident(const case_incident *i)
{
    char b[4][LABELS_ESC_BUF], s[512];
    printf("incident %s: %s, %s (case %" PRId64 ")\n", i->slug, *i->date ? i->date : "undated",
           *i->victim ? ESC(b[0], i->victim) : "victim not given", i->case_id);
    printf("  chains: %s\n", *i->chains ? i->chains : "-");
    printf("  amount as stated: %s%s%s\n", *i->amount_native ? ESC(b[1], i->amount_native) : "",
           *i->amount_native && *i->amount_fiat ? "; " : "",
           *i->amount_fiat     ? ESC(b[2], i->amount_fiat)
           : *i->amount_native ? ""
                               : "-");
    stolen_text(i, s, sizeof s);
    printf("  stolen, computed from the seeds in the store: %s\n", s);
    for (size_t k = 0; k < i->n_attrs; k++) {
        const case_attribution *x = &i->attrs[k];
        printf("  attribution%s: %s", k ? "" : " (primary)", ESC(b[0], x->actor));
        if (*x->attributed_by) printf(", by %s", ESC(b[1], x->attributed_by));
        if (*x->kind) printf(" [%s]", x->kind);
        if (x->confidence >= 0) printf(", confidence %d", x->confidence);
        if (*x->date) printf(", %s", x->date);
        putchar('\n');
    }
    for (size_t k = 0; k < i->n_urls; k++)
        printf("  source (%s): %s\n", i->urls[k].role, ESC(b[0], i->urls[k].url));
    printf("  seeds: %zu\n", i->n_seeds);
    for (size_t k = 0; k < i->n_seeds; k++)
        printf("    %-4s %s%s%s%s\n", i->seeds[k].chain, ESC(b[0], i->seeds[k].spec),
               *i->seeds[k].role ? " (" : "", ESC(b[1], i->seeds[k].role),
               *i->seeds[k].role ? ")" : "");
    if (*i->notes) printf("  notes: %s\n", ESC(b[0], i->notes));
    printf("  imported from %s, by %s at %s\n", ESC(b[0], i->origin), ESC(b[1], i->created_by),
           i->created_at);
    const case_itrace *t = &i->trace;
    if (t->id) {
        printf("latest trace %" PRId64 ": %s by %s, %zu run(s), %zu deposit(s) into bridges and "
               "swaps\n",
               t->id, t->run_at, ESC(b[0], t->run_by), t->n_legs, t->n_deposits);
        for (size_t k = 0; k < t->n_legs; k++) {
            const case_run *r = &t->runs[k];
            printf("  run %" PRId64 " %-4s %-11s %s %s, %u hops, %zu endpoints%s%s%s%s\n", r->id,
                   r->chain, t->legs[k].leg, r->direction, r->policy, r->hops, r->n_endpoints,
                   t->legs[k].deposit >= 0 ? ", share " : "",
                   t->legs[k].deposit >= 0 ? t->legs[k].share_num : "",
                   t->legs[k].deposit >= 0 ? "/" : "",
                   t->legs[k].deposit >= 0 ? t->legs[k].share_den : "");
        }
        for (size_t k = 0; k < t->n_deposits; k++) {
            const case_deposit *d = &t->deposits[k];
            printf("  deposit %s %s into %s %s: %s%s%s%s\n", d->tx_hash, d->asset, d->category,
                   ESC(b[0], d->actor), *d->why_not ? "not followed: " : "followed to ",
                   *d->why_not ? d->why_not : d->to_chain, *d->method ? " by " : "", d->method);
        }
        if (strcmp(t->skipped, "[]")) printf("  seeds skipped: %s\n", t->skipped);
    }
}

static int do_show(env *e, const args *a, const char *id, util_err *err)
{
    case_incident i;
    int rc = case_incident_get(e->db, &e->who, id, &i, err);
    if (rc) return rc;
    if (a->o.json) {
        json_t *d, *w = NULL;
        tally_result t;
        if (!(rc = case_incident_json(&i, 0, &d, err))) {
            if (!(rc = tally_compute(&i, 1, 0, &t, err))) {
                if (!(rc = tally_json(&t, &w, err)))
                    json_object_set_new(d, "where", json_incref(json_object_get(w, "total")));
                json_decref(w);
                tally_result_free(&t);
            }
            if (!rc) cli_print_json(d);
            json_decref(d);
        }
    } else {
        print_incident(&i);
        rc = print_where(&i, err);
    }
    case_incident_free(&i);
    return rc;
}

/* The tracers' options onto both tracers: an option one of them refuses is the other's. */
static int trace_options(env *e, const args *a, case_itrace_req *req, util_err *err)
{
    cli_tracer_text txt;
    taint_target tb, te;
    cli_tracer_targets(&req->btc, &req->evm, &txt, &tb, &te);
    req->min_confidence = a->min_confidence;
    for (size_t i = 0; i < a->t.n; i++) {
        taint_val v = cli_taint_val(a->t.val[i]);
        util_err eb = {0}, ee = {0};
        int bb = taint_opt_set(&tb, TAINT_FRONT_CLI, a->t.key[i], &v, &eb);
        int be = taint_opt_set(&te, TAINT_FRONT_CLI, a->t.key[i], &v, &ee);
        if (bb && be) return *err = eb, eb.code;
    }
    if (txt.min_e && evm_u256_parse(&req->evm.min_value, txt.min_e, strlen(txt.min_e), NULL))
        return util_errf(err, UTIL_EINVAL, "--min-value: '%s' is not a decimal amount", txt.min_e);
    int64_t h, t;
    if (txt.until_e) {
        if (taint_until_syntax(txt.until_e, &h, &t, err)) return UTIL_EINVAL;
        if (h >= 0)
            req->evm.until = h;
        else
            req->evm.until_time = t;
    }
    if (txt.until_b && e->st.btc &&
        trace_until_parse(e->st.btc, txt.until_b, req->btc.direction, &req->btc.until,
                          &req->btc.until_from_time, err))
        return UTIL_EINVAL;
    return 0;
}

static int do_trace(env *e, const args *a, char **ids, int n, util_err *err)
{
    case_itrace_req req;
    int rc = trace_options(e, a, &req, err);
    if (rc) return rc;
    /* --all: every incident that has seeds */
    case_incident *all = NULL;
    size_t n_all = 0;
    char **list = ids;
    if (a->all) {
        if ((rc = case_incident_list(e->db, &e->who, 0, &all, &n_all, err))) return rc;
        if (!(list = calloc(n_all + 1, sizeof *list))) {
            case_incident_array_free(all, n_all);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        n = 0;
        for (size_t i = 0; i < n_all; i++)
            if (all[i].n_seeds) list[n++] = all[i].slug;
    }
    json_t *arr = json_array();
    size_t traced = 0, skipped = 0;
    for (int k = 0; k < n && !rc; k++) {
        case_incident out;
        util_err e2 = {0};
        int r = case_incident_trace(e->db, &e->who, list[k], &e->st, &req, &out, &e2);
        if (r == UTIL_EINVAL && a->all) { /* nothing traceable here: say so, go on */
            fprintf(stderr, "cointrail: %s\n", e2.msg);
            skipped++;
            continue;
        }
        if (r) {
            *err = e2;
            rc = r;
            break;
        }
        traced++;
        if (a->o.json) {
            json_t *d;
            if (!(rc = case_incident_json(&out, 0, &d, err))) json_array_append_new(arr, d);
        } else {
            print_incident(&out);
            rc = print_where(&out, err);
            putchar('\n');
        }
        case_incident_free(&out);
    }
    if (!rc && a->o.json)
        cli_print_json(arr);
    else if (!rc && a->all)
        printf("%zu incident(s) traced, %zu with no seed traceable in this store\n", traced,
               skipped);
    json_decref(arr);
    if (a->all) free(list);
    case_incident_array_free(all, n_all);
    return rc;
}

/* ---------------- the command ---------------- */

int cmd_incident(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(usage, argc >= 2);
    const char *sub = argv[1];
    static const char *const subs[] = {"import", "list", "show", "trace"};
    size_t si = 0;
    while (si < 4 && strcmp(sub, subs[si]))
        si++;
    if (si == 4) {
        fprintf(stderr, "cointrail: incident: unknown subcommand '%s'\n%s", sub, usage);
        return CLI_USAGE;
    }
    static const struct option opts[] = {CLI_CASE_OPTIONS,
                                         {"update", no_argument, 0, 'u'},
                                         {"all", no_argument, 0, 'a'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"min-confidence", required_argument, 0, 'm'},
                                         CLI_TRACER_OPTIONS(1),
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    args a = {0};
    util_buf cmd = {0};
    if (cli_command_text(&cmd, "incident", argc - 1, argv + 1, 0)) return CLI_ERROR;
    int rc = CLI_USAGE, c, li = 0;
    if (cli_tracer_args_init(&a.t, argc)) {
        rc = CLI_ERROR;
        goto out;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, &li)) != -1) {
        char *end;
        if (cli_case_opt(&a.o, c, optarg)) continue;
        switch (c) {
        case 'u':
            a.update = 1;
            break;
        case 'a':
            a.all = 1;
            break;
        case 'c':
            a.chain = optarg;
            break;
        case 'm':
            errno = 0;
            a.min_confidence = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(a.min_confidence >= 0) ||
                a.min_confidence > 1) {
                fprintf(stderr, "cointrail: --min-confidence must be 0..1, not '%s'\n", optarg);
                goto out;
            }
            break;
        case 1:
            cli_tracer_args_add(&a.t, opts[li].name, optarg);
            break;
        default:
            rc = cli_usage(usage, c == 'h');
            goto out;
        }
    }
    int first = optind + 1, npos = argc - first;
    const char *bad = !a.o.db                                  ? "--db DIR is required"
                      : si == 0 && npos < 1                    ? "no file to import"
                      : si == 1 && npos                        ? "too many arguments"
                      : si == 2 && npos != 1                   ? "one incident id"
                      : si == 3 && a.all && npos               ? "--all or ids, not both"
                      : si == 3 && !a.all && npos < 1          ? "an incident id (or --all)"
                      : si != 3 && (a.t.n || a.all || a.chain) ? "trace options are trace's"
                      : si != 0 && a.update                    ? "--update is import's"
                                                               : NULL;
    if (bad) {
        fprintf(stderr, "cointrail: incident %s: %s\n%s", sub, bad, usage);
        goto out;
    }
    util_err err = {0};
    env e;
    if ((rc = cli_case_env_open(&e, a.o.db, a.o.state, a.o.analyst, a.chain ? a.chain : "eth",
                                si == 0, si == 3, &cmd, &err))) {
        cli_case_env_close(&e);
        rc = cli_fail(&err);
        goto out;
    }
    switch (si) {
    case 0:
        rc = do_import(&e, &a, argv + first, npos, &err);
        break;
    case 1:
        rc = do_list(&e, &a, &err);
        break;
    case 2:
        rc = do_show(&e, &a, argv[first], &err);
        break;
    default:
        rc = do_trace(&e, &a, argv + first, npos, &err);
    }
    cli_case_env_close(&e);
    rc = rc ? cli_fail(&err) : CLI_OK;
out:
    util_buf_free(&cmd);
    cli_tracer_args_free(&a.t);
    return rc;
}
