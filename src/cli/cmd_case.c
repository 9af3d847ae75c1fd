/* cointrail case new|list|show|add-seed|trace|label|note|export: thin over src/case. Every call
 * names its analyst (--analyst, else $USER) and records the command line and the store state in
 * the case's audit log. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../case/case.h"
#include "../state/state.h"
#include "cli.h"

static const char usage[] =
    "usage: cointrail case new      --db DIR --title TEXT [--date YYYY-MM-DD] [--victim TEXT]\n"
    "                               [--chains btc,eth] [--description TEXT]\n"
    "       cointrail case list     --db DIR\n"
    "       cointrail case show     --db DIR ID\n"
    "       cointrail case add-seed --db DIR ID SPEC [--note TEXT] [--chain eth]\n"
    "       cointrail case trace    --db DIR ID [--seed N]... [--chain btc|eth] [trace options]\n"
    "       cointrail case trace    --db DIR ID --rerun RUN\n"
    "       cointrail case label    --db DIR ID --address ADDR --category CAT [--chain btc]\n"
    "                               [--actor NAME] [--name TEXT] [--confidence 0..100]\n"
    "                               [--evidence TEXT]\n"
    "       cointrail case note     --db DIR ID --text TEXT|-\n"
    "       cointrail case export   --db DIR ID --format json|html|csv [--out FILE]\n"
    "  every command: [--analyst NAME] (default $USER) [--json] [--state postgresql://...]\n"
    "  Cases live in DIR/cases.sqlite, or with --state in the shared PostgreSQL database\n"
    "  (docs/state.md); every command and the store state it ran on (tip hash\n"
    "  and height) go to the case's append-only audit log (docs/cases.md).\n"
    "  SPEC: TXID:N, TXID or ADDRESS (Bitcoin), 0xTXHASH[:N] or 0xADDRESS[:FROM-TO] (EVM).\n"
    "  trace options: as `cointrail trace` (--direction --policy --hops --min-value --until\n"
    "  --through-mixers --max-outputs) or, for EVM seeds, `cointrail etrace` (--asset\n"
    "  --max-xfers --until-time); default: every seed of the case on one chain (Bitcoin when it\n"
    "  has Bitcoin seeds). --rerun RUN runs a recorded run again and compares the two.\n"
    "  label: also added to DIR/labels.db with source case:ID, so trace and screen stop at it.\n"
    "  export: json (everything), html (a self-contained evidence report that prints to PDF),\n"
    "  csv (the endpoints of every run).\n";

/* ---------------- the environment of one command ---------------- */

typedef cli_case_env env;

static int parse_id(const char *s, const char *what, int64_t *id)
{
    uint64_t v;
    if (!s || cli_parse_u64(s, &v) || v == 0 || v > INT64_MAX) {
        fprintf(stderr, "cointrail: %s must be a positive number, not '%s'\n", what, s ? s : "");
        return -1;
    }
    *id = (int64_t)v;
    return 0;
}

/* Text for the terminal: label and case text come from people and files. */
#define ESC(b, s) labels_text_escape(b, sizeof b, s)

/* ---------------- the subcommands ---------------- */

typedef struct args {
    cli_case_opts o; /* --db, --state, --analyst, --json */
    const char *title, *date, *victim, *chains, *description, *note, *chain;
    const char *address, *category, *actor, *name, *evidence, *text, *format, *out, *asset;
    int confidence;
    int64_t rerun;
    int64_t *seeds;
    size_t n_seeds;
    cli_tracer_args t; /* applied once the chain is known */
} args;

/* An amount in base units (sat, wei, a token's units) as the terminal shows it: BTC and ETH
 * with their decimals, exactly (the string is shifted, never turned into a float); other assets
 * in their base units, said so. out holds at least 128 bytes. */
static const char *shown_amount(const char *asset, const char *amount, char *out, size_t cap)
{
    int dec = !strcmp(asset, "BTC") ? 8 : !strcmp(asset, "ETH") ? 18 : -1;
    size_t n = strlen(amount);
    if (dec < 0 || !n || n > 96 || strspn(amount, "0123456789") != n) {
        snprintf(out, cap, "%s%s", amount, dec < 0 ? " units" : "");
        return out;
    }
    char digits[128];
    size_t pad = n < (size_t)dec + 1 ? (size_t)dec + 1 - n : 0;
    memset(digits, '0', pad);
    memcpy(digits + pad, amount, n + 1);
    size_t m = pad + n;
    snprintf(out, cap, "%.*s.%s", (int)(m - (size_t)dec), digits, digits + m - (size_t)dec);
    return out;
}

static void print_run(const case_run *r)
{
    char amt[128];
    char b[3][LABELS_ESC_BUF], hops[TAINT_HOPS_TEXT];
    printf("run %" PRId64 " of case %" PRId64 ": %s %s, policy %s, %s%s\n", r->id, r->case_id,
           r->chain, r->direction, r->policy, taint_hops_text(r->hops, hops),
           r->partial ? "  PARTIAL (visit cap reached)" : "");
    if (r->state.btc_height >= 0)
        printf("  store: btc height %" PRId64 ", tip %s\n", r->state.btc_height, r->state.btc_tip);
    if (r->state.evm_height >= 0)
        printf("  store: %s block %" PRId64 ", tip %s\n", r->state.evm_chain, r->state.evm_height,
               r->state.evm_tip);
    printf("  totals:\n");
    for (size_t i = 0; i < r->n_totals; i++) {
        const case_total *t = &r->totals[i];
        if (strcmp(t->amount, "0") || !strcmp(t->bucket, "seeded"))
            printf("    %-8s %-16s %30s\n", t->asset, t->bucket,
                   shown_amount(t->asset, t->amount, amt, sizeof amt));
    }
    case_actor *actors = NULL;
    size_t n_actors = 0;
    if (!case_run_actors(r, &actors, &n_actors)) {
        printf("  by actor: %zu\n", n_actors);
        for (size_t i = 0; i < n_actors && i < 20; i++) {
            const case_actor *a = &actors[i];
            printf(
                "    %24s %-6s %-32s %-18s %" PRIu64 " deposit(s) at %zu address(es), %u hop(s)\n",
                shown_amount(a->asset, a->amount, amt, sizeof amt), a->asset, ESC(b[0], a->actor),
                ESC(b[1], a->categories), a->deposits, a->addresses, a->hops);
        }
        if (n_actors > 20) printf("    ... %zu more (case export --format html)\n", n_actors - 20);
        case_actors_free(actors, n_actors);
    }
    printf("  endpoints: %zu\n", r->n_endpoints);
    for (size_t i = 0; i < r->n_endpoints && i < 20; i++) {
        const case_endpoint *e = &r->endpoints[i];
        printf("    %24s %-6s %-9s %-42s %s%s%s, %u hop(s)\n",
               shown_amount(e->asset, e->amount, amt, sizeof amt), e->asset, ESC(b[0], e->category),
               e->address, ESC(b[1], *e->actor ? e->actor : e->name),
               *e->actor && strcmp(e->actor, e->name) ? " / " : "",
               *e->actor && strcmp(e->actor, e->name) ? ESC(b[2], e->name) : "", e->hops);
    }
    if (r->n_endpoints > 20)
        printf("    ... %zu more (case export --format csv)\n", r->n_endpoints - 20);
    printf("  reproduce: %s\n", r->command);
}

static int do_new(env *e, const args *a, util_err *err)
{
    case_new c = {.title = a->title,
                  .incident_date = a->date,
                  .victim = a->victim,
                  .chains = a->chains,
                  .description = a->description};
    int64_t id;
    int rc = case_create(e->db, &e->who, &c, &id, err);
    if (rc) return rc;
    if (a->o.json)
        printf("{\"case\": %" PRId64 "}\n", id);
    else
        printf("case %" PRId64 " created in %s/%s\n", id, e->dir, CASE_DB_FILE);
    return 0;
}

static int do_list(env *e, const args *a, util_err *err)
{
    case_info *c;
    size_t n;
    int rc = case_list(e->db, &e->who, &c, &n, err);
    if (rc) return rc;
    if (a->o.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr,
                json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id",
                          (json_int_t)c[i].id, "title", c[i].title, "status", c[i].status,
                          "incident_date", c[i].incident_date, "victim", c[i].victim, "created_by",
                          c[i].created_by, "created_at", c[i].created_at, "seeds",
                          (json_int_t)c[i].n_seeds, "runs", (json_int_t)c[i].n_runs, "labels",
                          (json_int_t)c[i].n_labels, "notes", (json_int_t)c[i].n_notes));
        cli_print_json(arr);
        json_decref(arr);
    } else {
        printf("%-5s %-6s %-24s %5s %5s %6s %5s  %s\n", "id", "status", "created", "seeds", "runs",
               "labels", "notes", "title");
        for (size_t i = 0; i < n; i++) {
            char b[LABELS_ESC_BUF];
            printf("%-5" PRId64 " %-6s %-24s %5" PRId64 " %5" PRId64 " %6" PRId64 " %5" PRId64
                   "  %s\n",
                   c[i].id, c[i].status, c[i].created_at, c[i].n_seeds, c[i].n_runs, c[i].n_labels,
                   c[i].n_notes, ESC(b, c[i].title));
        }
    }
    case_info_array_free(c, n);
    return 0;
}

static int do_show(env *e, const args *a, int64_t id, util_err *err)
{
    case_full c;
    int rc = case_get(e->db, &e->who, id, &c, err);
    if (rc) return rc;
    if (a->o.json) {
        json_t *doc;
        if (!(rc = case_full_json(&c, &doc, err))) {
            cli_print_json(doc);
            json_decref(doc);
        }
        case_full_free(&c);
        return rc;
    }
    char b[4][LABELS_ESC_BUF];
    const case_info *i = &c.info;
    printf("case %" PRId64 ": %s  [%s]\n", i->id, ESC(b[0], i->title), i->status);
    printf("  incident: %s, victim %s, chains %s\n", *i->incident_date ? i->incident_date : "-",
           *i->victim ? ESC(b[1], i->victim) : "-", *i->chains ? i->chains : "-");
    printf("  opened %s by %s\n", i->created_at, ESC(b[2], i->created_by));
    if (*i->description) printf("  %s\n", ESC(b[3], i->description));
    printf("seeds: %zu\n", c.n_seeds);
    for (size_t k = 0; k < c.n_seeds; k++)
        printf("  %" PRId64 "  %-4s %-12s %s  (%" PRIu64 " refs%s%s%s)\n", c.seeds[k].id,
               c.seeds[k].chain, c.seeds[k].kind, c.seeds[k].spec, c.seeds[k].n_refs,
               *c.seeds[k].amount ? ", " : "", c.seeds[k].amount, *c.seeds[k].amount ? " sat" : "");
    printf("trace runs: %zu\n", c.n_runs);
    for (size_t k = 0; k < c.n_runs; k++) {
        const case_run *r = &c.runs[k];
        const char *to = "?";
        for (size_t t = 0; t < r->n_totals; t++)
            if (!strcmp(r->totals[t].bucket, "to_endpoints")) {
                to = r->totals[t].amount;
                break;
            }
        char hops[TAINT_HOPS_TEXT];
        printf("  %" PRId64 "  %s %s %s %s, %zu endpoints, to endpoints %s, %s by %s%s\n", r->id,
               r->chain, r->direction, r->policy, taint_hops_text(r->hops, hops), r->n_endpoints,
               to, r->run_at, ESC(b[0], r->run_by), r->rerun_of ? " (re-run)" : "");
    }
    printf("labels: %zu\n", c.n_labels);
    for (size_t k = 0; k < c.n_labels; k++) {
        const case_label *l = &c.labels[k];
        printf("  %" PRId64 "  %s %s  %s  actor=%s  confidence=%d  by %s\n", l->id, l->chain,
               l->address, ESC(b[0], l->category), ESC(b[1], l->actor), l->confidence,
               ESC(b[2], l->author));
    }
    printf("notes: %zu\n", c.n_notes);
    for (size_t k = 0; k < c.n_notes; k++)
        printf("  %" PRId64 "  %s %s: %s\n", c.notes[k].id, c.notes[k].created_at,
               ESC(b[0], c.notes[k].author), ESC(b[1], c.notes[k].text));
    printf("audit log: %zu rows of this case; hash chain %s\n", c.n_audit,
           c.audit_ok ? "verified" : "BROKEN");
    case_full_free(&c);
    return 0;
}

static int do_add_seed(env *e, const args *a, int64_t id, const char *spec, util_err *err)
{
    case_seed s;
    int rc = case_seed_add(e->db, &e->who, id, &e->st, spec, a->note, &s, err);
    if (rc) return rc;
    if (a->o.json)
        printf("{\"seed\": %" PRId64 ", \"chain\": \"%s\", \"kind\": \"%s\", \"refs\": %" PRIu64
               ", \"amount\": \"%s\"}\n",
               s.id, s.chain, s.kind, s.n_refs, s.amount);
    else
        printf("seed %" PRId64 " of case %" PRId64 ": %s %s, %" PRIu64 " %s%s%s%s\n", s.id, id,
               s.chain, s.kind, s.n_refs, strcmp(s.chain, "btc") ? "transfer(s)" : "output(s)",
               *s.amount ? ", " : "", s.amount, *s.amount ? " sat" : "");
    case_seed_free(&s);
    return 0;
}

/* The tracers' options onto both targets; the chain is the one whose tracer took them all. */
static int trace_options(env *e, const args *a, case_trace_req *req, util_err *err)
{
    cli_tracer_text txt;
    taint_target tb, te;
    cli_tracer_targets(&req->btc, &req->evm, &txt, &tb, &te);
    util_err eb = {0}, ee = {0};
    int bad_b = 0, bad_e = 0;
    for (size_t i = 0; i < a->t.n; i++) {
        taint_val v = cli_taint_val(a->t.val[i]);
        if (!bad_b && taint_opt_set(&tb, TAINT_FRONT_CLI, a->t.key[i], &v, &eb)) bad_b = 1;
        if (!bad_e && taint_opt_set(&te, TAINT_FRONT_CLI, a->t.key[i], &v, &ee)) bad_e = 1;
    }
    if (!bad_e && txt.min_e &&
        evm_u256_parse(&req->evm.min_value, txt.min_e, strlen(txt.min_e), NULL)) {
        taint_val mv = {.kind = TAINT_VAL_TEXT, .text = txt.min_e};
        taint_opt_fail(&ee, TAINT_FRONT_CLI, "min-value", "a decimal amount in base units", &mv);
        bad_e = 1;
    }
    int64_t h, t;
    if (!bad_e && txt.until_e) {
        if (taint_until_syntax(txt.until_e, &h, &t, &ee))
            bad_e = 1;
        else if (h >= 0)
            req->evm.until = h;
        else
            req->evm.until_time = t;
    }
    if (!bad_b && txt.until_b &&
        (!e->st.btc || trace_until_parse(e->st.btc, txt.until_b, req->btc.direction,
                                         &req->btc.until, &req->btc.until_from_time, &eb)))
        bad_b = 1;
    req->asset = a->asset;
    if (a->asset && !a->chain) bad_b = 1; /* --asset is the account tracer's */
    const char *evm_chain = e->evm ? evm_store_chain(e->evm) : "eth";
    if (a->chain) {
        int btc = !strcmp(a->chain, "btc");
        req->chain = a->chain;
        if (btc && bad_b) return *err = eb, eb.code;
        if (!btc && bad_e) return *err = ee, ee.code;
        return 0;
    }
    if (bad_b && bad_e) return *err = eb.code ? eb : ee, (eb.code ? eb : ee).code;
    if (bad_b) req->chain = evm_chain;
    if (bad_e) req->chain = "btc";
    return 0;
}

static int do_trace(env *e, const args *a, int64_t id, util_err *err)
{
    case_run r, old;
    int rc;
    if (a->rerun) {
        if (a->t.n || a->n_seeds || a->asset) {
            fprintf(stderr, "cointrail: --rerun takes the run's own seeds and options\n");
            return util_errf(err, UTIL_EINVAL, "--rerun: no other trace option");
        }
        if ((rc = case_run_get(e->db, &e->who, a->rerun, &old, err))) return rc;
        if (old.case_id != id) {
            case_run_free(&old);
            return util_errf(err, UTIL_ENOTFOUND, "run %" PRId64 " is not a run of case %" PRId64,
                             a->rerun, id);
        }
        rc = case_trace_rerun(e->db, &e->who, a->rerun, &e->st, &r, err);
        if (rc) {
            case_run_free(&old);
            return rc;
        }
        case_run_diff d;
        case_run_compare(&old, &r, &d);
        if (a->o.json) {
            json_t *doc;
            if (!(rc = case_run_json(&r, &doc, err))) {
                json_object_set_new(doc, "compared_with_run",
                                    json_pack("{s:I,s:b,s:b,s:I,s:I,s:I,s:I}", "run",
                                              (json_int_t)old.id, "same_tips", d.same_tips,
                                              "same_labels", d.same_labels, "totals_differ",
                                              (json_int_t)d.totals_differ, "endpoints_only_before",
                                              (json_int_t)d.endpoints_only_a, "endpoints_only_now",
                                              (json_int_t)d.endpoints_only_b, "endpoints_changed",
                                              (json_int_t)d.endpoints_changed));
                cli_print_json(doc);
                json_decref(doc);
            }
        } else {
            print_run(&r);
            printf("compared with run %" PRId64 ": chain tip %s, label set %s; %zu totals "
                   "differ, %zu endpoints gone, %zu new, %zu with another amount%s\n",
                   old.id, d.same_tips ? "the same" : "DIFFERENT",
                   d.same_labels ? "the same" : "DIFFERENT", d.totals_differ, d.endpoints_only_a,
                   d.endpoints_only_b, d.endpoints_changed,
                   d.totals_differ || d.endpoints_only_a || d.endpoints_only_b ||
                           d.endpoints_changed
                       ? ""
                       : ": identical");
        }
        case_run_free(&old);
        case_run_free(&r);
        return rc;
    }
    case_trace_req req = {.seed_ids = a->seeds, .n_seed_ids = a->n_seeds};
    if ((rc = trace_options(e, a, &req, err))) return rc;
    if ((rc = case_trace(e->db, &e->who, id, &e->st, &req, &r, err))) return rc;
    if (a->o.json) {
        json_t *doc;
        if (!(rc = case_run_json(&r, &doc, err))) {
            cli_print_json(doc);
            json_decref(doc);
        }
    } else
        print_run(&r);
    case_run_free(&r);
    return rc;
}

static int do_label(env *e, const args *a, int64_t id, util_err *err)
{
    case_label_new l = {.chain = a->chain ? a->chain : "btc",
                        .address = a->address,
                        .category = a->category,
                        .actor = a->actor,
                        .name = a->name,
                        .confidence = a->confidence,
                        .evidence = a->evidence};
    case_label out;
    int rc = case_label_add(e->db, &e->who, id, &l, &out, err);
    if (!rc && a->o.state) { /* shared: every analyst and replica following the state sees it */
        state_db *st = NULL;
        char src[32], day[16];
        labels_label shared;
        case_label_as_label(&out, src, day, &shared);
        rc = state_open(&st, a->o.state, e->dir, err);
        if (!rc) rc = state_label_add(st, &shared, e->analyst, NULL, err);
        state_close(st);
    }
    if (out.id && a->o.json)
        printf("{\"label\": %" PRId64 ", \"address\": \"%s\", \"fed\": %s}\n", out.id, out.address,
               rc ? "false" : "true");
    else if (out.id && !rc)
        printf("label %" PRId64 " of case %" PRId64 ": %s, also in %s/%s as source case:%" PRId64
               "\n",
               out.id, id, out.address, e->dir, LABELS_FILE, id);
    case_label_free(&out);
    return rc;
}

static int do_note(env *e, const args *a, int64_t id, util_err *err)
{
    util_buf in = {0};
    const char *text = a->text;
    if (text && !strcmp(text, "-")) { /* the note from stdin */
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
            if (util_buf_append(&in, buf, n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        if (util_buf_append(&in, "", 1)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        text = (const char *)in.data;
        if (strlen(text) + 1 != in.len) {
            util_buf_free(&in);
            return util_errf(err, UTIL_EINVAL, "--text -: a NUL byte in the note");
        }
    }
    case_note n;
    int rc = case_note_add(e->db, &e->who, id, text, &n, err);
    util_buf_free(&in);
    if (rc) return rc;
    if (a->o.json)
        printf("{\"note\": %" PRId64 "}\n", n.id);
    else
        printf("note %" PRId64 " of case %" PRId64 "\n", n.id, id);
    case_note_free(&n);
    return 0;
}

static int do_export(env *e, const args *a, int64_t id, util_err *err)
{
    const char *fmt = a->o.json && !a->format ? "json" : a->format;
    if (!fmt || (strcmp(fmt, "json") && strcmp(fmt, "html") && strcmp(fmt, "csv")))
        return util_errf(err, UTIL_EINVAL, "--format must be json, html or csv, not '%s'",
                         fmt ? fmt : "");
    case_full c;
    int rc = case_get(e->db, &e->who, id, &c, err);
    if (rc) return rc;
    /* written whole into memory, then to stdout or atomically to --out */
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f) {
        case_full_free(&c);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    if (!strcmp(fmt, "json")) {
        json_t *doc;
        if (!(rc = case_full_json(&c, &doc, err))) {
            json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fputc('\n', f);
            json_decref(doc);
        }
    } else if (!strcmp(fmt, "html"))
        rc = case_write_html(&c, f, err);
    else
        rc = case_write_csv(&c, f, err);
    fclose(f);
    case_full_free(&c);
    if (!rc) {
        if (a->out)
            rc = util_replace_file(a->out, mem, len, err);
        else if (fwrite(mem, 1, len, stdout) != len)
            rc = util_errf(err, UTIL_EIO, "stdout: %s", strerror(errno));
    }
    free(mem);
    if (!rc && a->out) fprintf(stderr, "case %" PRId64 " written to %s (%s)\n", id, a->out, fmt);
    return rc;
}

/* ---------------- the command ---------------- */

int cmd_case(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(usage, argc >= 2);
    const char *sub = argv[1];
    static const char *const subs[] = {"new",   "list",  "show", "add-seed",
                                       "trace", "label", "note", "export"};
    size_t si = 0;
    while (si < sizeof subs / sizeof *subs && strcmp(sub, subs[si]))
        si++;
    if (si == sizeof subs / sizeof *subs) {
        fprintf(stderr, "cointrail: case: unknown subcommand '%s'\n%s", sub, usage);
        return CLI_USAGE;
    }
    static const struct option opts[] = {
        CLI_CASE_OPTIONS,
        {"title", required_argument, 0, 'T'},
        {"date", required_argument, 0, 'D'},
        {"victim", required_argument, 0, 'V'},
        {"chains", required_argument, 0, 'C'},
        {"description", required_argument, 0, 'E'},
        {"note", required_argument, 0, 'N'},
        {"chain", required_argument, 0, 'c'},
        {"address", required_argument, 0, 'a'},
        {"category", required_argument, 0, 'k'},
        {"actor", required_argument, 0, 'o'},
        {"name", required_argument, 0, 'n'},
        {"confidence", required_argument, 0, 'f'},
        {"evidence", required_argument, 0, 'v'},
        {"text", required_argument, 0, 't'},
        {"format", required_argument, 0, 'F'},
        {"out", required_argument, 0, 'O'},
        {"seed", required_argument, 0, 's'},
        {"rerun", required_argument, 0, 'R'},
        {"asset", required_argument, 0, 'S'},
        /* the tracers' own options, passed through to taint's parser */
        CLI_TRACER_OPTIONS(1),
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    args a = {.confidence = 80};
    util_buf cmd = {0}; /* before getopt reorders argv */
    if (cli_command_text(&cmd, "case", argc - 1, argv + 1, 1)) return CLI_ERROR;
    a.seeds = calloc((size_t)argc, sizeof *a.seeds);
    int rc = CLI_USAGE, c, li = 0;
    if (!a.seeds || cli_tracer_args_init(&a.t, argc)) {
        rc = CLI_ERROR;
        goto out;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, &li)) != -1) {
        uint64_t v;
        if (cli_case_opt(&a.o, c, optarg)) continue;
        switch (c) {
        case 'T':
            a.title = optarg;
            break;
        case 'D':
            a.date = optarg;
            break;
        case 'V':
            a.victim = optarg;
            break;
        case 'C':
            a.chains = optarg;
            break;
        case 'E':
            a.description = optarg;
            break;
        case 'N':
            a.note = optarg;
            break;
        case 'c':
            a.chain = optarg;
            break;
        case 'a':
            a.address = optarg;
            break;
        case 'k':
            a.category = optarg;
            break;
        case 'o':
            a.actor = optarg;
            break;
        case 'n':
            a.name = optarg;
            break;
        case 'f':
            if (cli_parse_u64(optarg, &v) || v > 100) {
                fprintf(stderr, "cointrail: --confidence must be 0..100, not '%s'\n", optarg);
                goto out;
            }
            a.confidence = (int)v;
            break;
        case 'v':
            a.evidence = optarg;
            break;
        case 't':
            a.text = optarg;
            break;
        case 'F':
            a.format = optarg;
            break;
        case 'O':
            a.out = optarg;
            break;
        case 's':
            if (parse_id(optarg, "--seed", &a.seeds[a.n_seeds])) goto out;
            a.n_seeds++;
            break;
        case 'R':
            if (parse_id(optarg, "--rerun", &a.rerun)) goto out;
            break;
        case 'S':
            a.asset = optarg;
            break;
        case 1:
            cli_tracer_args_add(&a.t, opts[li].name, optarg);
            break;
        default:
            rc = cli_usage(usage, c == 'h');
            goto out;
        }
    }
    int first = optind + 1; /* positional arguments, in argv */
    int npos = argc - first;
    static const int want_pos[] = {0, 0, 1, 2, 1, 1, 1, 1};
    if (!a.o.db || npos != want_pos[si]) {
        fprintf(stderr, "cointrail: case %s: %s\n%s", sub,
                !a.o.db               ? "--db DIR is required"
                : npos < want_pos[si] ? "missing argument"
                                      : "too many arguments",
                usage);
        goto out;
    }
    int64_t id = 0;
    if (want_pos[si] && parse_id(argv[first], "ID", &id)) goto out;
    /* what each subcommand cannot do without */
    const char *missing = si == 0 && !a.title                 ? "--title"
                          : si == 5 && !a.address             ? "--address"
                          : si == 5 && !a.category            ? "--category"
                          : si == 6 && !a.text                ? "--text"
                          : si == 7 && !a.format && !a.o.json ? "--format"
                                                              : NULL;
    if (missing) {
        fprintf(stderr, "cointrail: case %s: %s is required\n", sub, missing);
        goto out;
    }
    util_err err = {0};
    env e;
    const char *evm_chain = a.chain && strcmp(a.chain, "btc") ? a.chain : "eth";
    if ((rc = cli_case_env_open(&e, a.o.db, a.o.state, a.o.analyst, evm_chain, si == 0, 0, &cmd,
                                &err))) {
        cli_case_env_close(&e);
        rc = cli_fail(&err);
        goto out;
    }
    switch (si) {
    case 0:
        rc = do_new(&e, &a, &err);
        break;
    case 1:
        rc = do_list(&e, &a, &err);
        break;
    case 2:
        rc = do_show(&e, &a, id, &err);
        break;
    case 3:
        rc = do_add_seed(&e, &a, id, argv[first + 1], &err);
        break;
    case 4:
        rc = do_trace(&e, &a, id, &err);
        break;
    case 5:
        rc = do_label(&e, &a, id, &err);
        break;
    case 6:
        rc = do_note(&e, &a, id, &err);
        break;
    default:
        rc = do_export(&e, &a, id, &err);
    }
    cli_case_env_close(&e);
    rc = rc ? cli_fail(&err) : CLI_OK;
out:
    util_buf_free(&cmd);
    free(a.seeds);
    cli_tracer_args_free(&a.t);
    return rc;
}
