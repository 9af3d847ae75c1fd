/* cointrail report thefts: the theft tally (src/tally) over the incidents of DIR/cases.sqlite,
 * as text, JSON, CSV or one HTML page. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../case/case.h"
#include "../tally/tally.h"
#include "cli.h"

static const char usage[] =
    "usage: cointrail report thefts --db DIR [--by actor,year,chain] [--json|--csv|--html FILE]\n"
    "                               [--out FILE] [--analyst NAME] [--state postgresql://...]\n"
    "  The theft tally over the incidents in DIR/cases.sqlite or, with --state, the shared\n"
    "  PostgreSQL database (`cointrail incident`): per group\n"
    "  (--by any of actor, year, chain; always a total too) the incidents, the USD their\n"
    "  sources state, what was stolen per asset (computed from the seeds in the store), and\n"
    "  where each incident's latest trace found the funds: per named exchange (the label's\n"
    "  actor), OTC desks, bridges and swaps (and the chain they went to), mixers, converted\n"
    "  by a DEX, still unspent (what could still be frozen), fees, and untraced. The actor is\n"
    "  an incident's first attribution; an incident on several chains is in each chain's group.\n"
    "  --html FILE writes one self-contained page (a bar chart per year, a flow chart of where\n"
    "  the funds went); --csv and --json print to stdout, or to --out FILE (docs/incidents.md).\n";

int cmd_report(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(usage, argc >= 2);
    if (strcmp(argv[1], "thefts")) {
        fprintf(stderr, "cointrail: report: unknown report '%s' (thefts)\n%s", argv[1], usage);
        return CLI_USAGE;
    }
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},  {"state", required_argument, 0, 'Q'},
        {"by", required_argument, 0, 'b'},  {"json", no_argument, 0, 'j'},
        {"csv", no_argument, 0, 'c'},       {"html", required_argument, 0, 'H'},
        {"out", required_argument, 0, 'o'}, {"analyst", required_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'},      {0, 0, 0, 0}};
    const char *db = NULL, *by_s = NULL, *html = NULL, *out = NULL, *analyst = NULL, *state = NULL;
    int json = 0, csv = 0, c, li = 0;
    util_buf cmd = {0};
    if (cli_command_text(&cmd, "report", argc - 1, argv + 1, 0)) {
        util_buf_free(&cmd);
        return CLI_ERROR;
    }
    int rc = CLI_USAGE;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, &li)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'Q':
            state = optarg;
            break;
        case 'b':
            by_s = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'c':
            csv = 1;
            break;
        case 'H':
            html = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'A':
            analyst = optarg;
            break;
        default:
            rc = cli_usage(usage, c == 'h');
            goto done;
        }
    }
    if (!db || json + csv + (html != NULL) > 1 || (html && out) || optind + 1 != argc) {
        fprintf(stderr, "cointrail: report thefts: %s\n%s",
                !db                               ? "--db DIR is required"
                : json + csv + (html != NULL) > 1 ? "one of --json, --csv, --html"
                : html && out                     ? "--html names its file; no --out"
                                                  : "unexpected argument",
                usage);
        goto done;
    }
    util_err err = {0};
    unsigned by = 0;
    if (tally_by_parse(by_s, &by, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    if (!analyst) analyst = cli_default_analyst();
    if (!analyst) {
        fprintf(stderr, "cointrail: --analyst NAME is required ($USER is not set)\n");
        goto done;
    }
    case_db *cdb = NULL;
    if ((rc = case_db_open_at(&cdb, db, state, 0, &err))) {
        if (rc == UTIL_ENOTFOUND && strstr(err.msg, CASE_DB_FILE))
            util_errf(&err, rc, "%s/%s: no incidents yet (`cointrail incident import` adds them)",
                      db, CASE_DB_FILE);
        rc = cli_fail(&err);
        goto done;
    }
    case_origin who = {.analyst = analyst, .command = (const char *)cmd.data};
    case_state_init(&who.state);
    case_incident *inc = NULL;
    size_t n = 0;
    tally_result t;
    rc = case_incident_list(cdb, &who, 1, &inc, &n, &err);
    case_db_close(cdb);
    if (!rc) rc = tally_compute(inc, n, by, &t, &err);
    case_incident_array_free(inc, n);
    if (rc) {
        rc = cli_fail(&err);
        goto done;
    }
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f)
        rc = util_errf(&err, UTIL_ENOMEM, "out of memory");
    else {
        if (json) {
            json_t *d;
            if (!(rc = tally_json(&t, &d, &err))) {
                json_dumpf(d, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                fputc('\n', f);
                json_decref(d);
            }
        } else if (csv)
            rc = tally_write_csv(&t, f, &err);
        else if (html)
            rc = tally_write_html(&t, f, &err);
        else
            rc = tally_write_text(&t, f, &err);
        fclose(f);
    }
    tally_result_free(&t);
    const char *path = html ? html : out;
    if (!rc) {
        if (path)
            rc = util_replace_file(path, mem, len, &err);
        else if (fwrite(mem, 1, len, stdout) != len)
            rc = util_errf(&err, UTIL_EIO, "stdout: %s", strerror(errno));
    }
    free(mem);
    if (!rc && path) fprintf(stderr, "theft tally written to %s\n", path);
    rc = rc ? cli_fail(&err) : CLI_OK;
done:
    util_buf_free(&cmd);
    return rc;
}
