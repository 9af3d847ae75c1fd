/* cointrail export: labels in a sharing format (STIX 2.1, MISP, TagPack, FollowTheMoney); thin
 * over src/labels (the query) and src/sharing (the writers). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "../sharing/sharing.h"
#include "cli.h"

static const char export_usage[] =
    "usage: cointrail export --labels QUERY --format stix|misp|tagpack|ftm --db DIR\n"
    "                        [--out FILE|DIR] [--producer NAME] [--title TEXT]\n"
    "       cointrail export --case ID | --incident ID --db DIR\n"
    "                        --format stix|misp|tagpack|ftm [--out FILE|DIR] [--producer NAME]\n"
    "                        [--title TEXT] [--analyst NAME] [--state postgresql://...]\n"
    "       cointrail export --case ID | --incident ID --db DIR --format freeze --out DIR\n"
    "Writes the labels QUERY selects, or what a case or an incident established, for other\n"
    "tools (docs/sharing.md):\n"
    "  stix     a STIX 2.1 bundle: indicators over cryptocurrency-wallet SCOs, threat actors,\n"
    "           relationships and sightings; a case or incident adds the incident, its\n"
    "           attributions, the seed and deposit transactions\n"
    "  misp     a MISP event: coin-address and cryptocurrency-transaction objects, their tags\n"
    "  tagpack  a GraphSense TagPack; one pack per source: labels from several sources need\n"
    "           --out DIR (one file a source)\n"
    "  ftm      FollowTheMoney CryptoWallet and LegalEntity entities, one JSON object a line\n"
    "  freeze   (case, incident) one folder per exchange or OTC desk the traced funds reached:\n"
    "           deposits.csv and letter.html (a printable freeze request), and index.csv and\n"
    "           index.html; written to a temporary directory renamed to --out DIR at the end\n"
    "QUERY: all, or KEY=VALUE terms joined by & (chain, category, actor, source, text), values\n"
    "URL-encoded, e.g. 'category=theft&actor=Lazarus+Group'. `cointrail labels import` reads\n"
    "stix, misp and tagpack exports back. A case or incident export contains its seeds, its\n"
    "analyst labels and the endpoints of its latest trace runs; with the Bitcoin store\n"
    "(DIR/evm/CHAIN for EVM runs) the runs are computed again to find the deposits: their txs\n"
    "join the export and freeze packets list them. --producer names who shares\n"
    "(default cointrail); --title is the MISP event's info and the TagPack's description.\n"
    "Timestamps use SOURCE_DATE_EPOCH when set, else the clock. --out is written atomically;\n"
    "default stdout. Reading a case or incident is recorded in its audit log (--analyst NAME,\n"
    "default $USER).\n";

typedef struct export_args {
    const char *db, *query, *format, *out, *producer, *title, *case_id, *incident, *analyst, *state;
} export_args;

static int parse_args(int argc, char **argv, export_args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},       {"state", required_argument, 0, 'Q'},
        {"labels", required_argument, 0, 'l'},   {"format", required_argument, 0, 'f'},
        {"out", required_argument, 0, 'o'},      {"producer", required_argument, 0, 'p'},
        {"title", required_argument, 0, 't'},    {"case", required_argument, 0, 'c'},
        {"incident", required_argument, 0, 'i'}, {"analyst", required_argument, 0, 'a'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->db = optarg;
            break;
        case 'Q':
            a->state = optarg;
            break;
        case 'l':
            a->query = optarg;
            break;
        case 'f':
            a->format = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'p':
            a->producer = optarg;
            break;
        case 't':
            a->title = optarg;
            break;
        case 'c':
            a->case_id = optarg;
            break;
        case 'i':
            a->incident = optarg;
            break;
        case 'a':
            a->analyst = optarg;
            break;
        case 'h':
            fputs(export_usage, stdout);
            return -1;
        default:
            fputs(export_usage, stderr);
            return CLI_USAGE;
        }
    }
    int what = !!a->query + !!a->case_id + !!a->incident;
    const char *missing = !a->db       ? "--db DIR"
                          : !what      ? "--labels QUERY, --case ID or --incident ID"
                          : !a->format ? "--format F"
                                       : NULL;
    if (missing || optind < argc || what > 1) {
        fprintf(stderr, "cointrail: export: %s\n%s",
                missing    ? missing
                : what > 1 ? "one of --labels, --case and --incident"
                           : "takes no positional argument",
                export_usage);
        return CLI_USAGE;
    }
    return 0;
}

/* The export's clock: SOURCE_DATE_EPOCH (reproducible output) when set, else now. */
static int export_time(int64_t *now)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    uint64_t v;
    if (!sde || !*sde) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    if (cli_parse_u64(sde, &v) || v > INT64_MAX / 2) {
        fprintf(stderr, "cointrail: SOURCE_DATE_EPOCH: '%s' is not a Unix time\n", sde);
        return -1;
    }
    *now = (int64_t)v;
    return 0;
}

/* Write one export to path atomically (temp file, fsync, rename), or to stdout. */
static int write_one(const char *path, sharing_format f, const sharing_set *s, util_err *err)
{
    if (!path) return sharing_write(stdout, f, s, err);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) return util_errf(err, UTIL_EIO, "%s: %s", tmp, strerror(errno));
    int rc = sharing_write(out, f, s, err);
    if (!rc && fsync(fileno(out))) rc = util_errf(err, UTIL_EIO, "%s: %s", tmp, strerror(errno));
    if (fclose(out) && !rc) rc = util_errf(err, UTIL_EIO, "%s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path)) rc = util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp);
        if (err && !strstr(err->msg, path)) util_err_prefix(err, "%s", path);
    }
    return rc;
}

/* A file name for one source's TagPack: its letters and digits, then a hash of the whole name
 * (two sources that differ only in punctuation get two files). */
static void pack_name(char out[128], const char *source)
{
    size_t k = 0;
    for (const char *p = source; *p && k < 60; p++) {
        char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            out[k++] = ch;
        else if (ch >= 'A' && ch <= 'Z')
            out[k++] = (char)(ch - 'A' + 'a');
        else if (k && out[k - 1] != '-')
            out[k++] = '-';
    }
    uint8_t h[20];
    char hex[41];
    crypto_sha1(source, strlen(source), h);
    util_hex(hex, h, 20);
    snprintf(out + k, 128 - k, "%s%.8s.yaml", k ? "-" : "", hex);
}

/* TagPacks: one per source; several need a directory. */
static int write_tagpacks(const export_args *a, sharing_set *s, util_err *err)
{
    const labels_label **v = (const labels_label **)s->labels;
    sharing_sort_by_source(v, s->n_labels);
    size_t sources = s->n_labels ? 1 : 0;
    for (size_t i = 1; i < s->n_labels; i++)
        sources += strcmp(v[i]->source, v[i - 1]->source) != 0;
    struct stat st;
    int is_dir = a->out && stat(a->out, &st) == 0 && S_ISDIR(st.st_mode);
    if (sources <= 1 && !is_dir) return write_one(a->out, SHARING_TAGPACK, s, err);
    if (!a->out)
        return util_errf(err, UTIL_EINVAL,
                         "the labels come from %zu sources and a TagPack holds one: give --out "
                         "DIR for one file a source",
                         sources);
    if (!is_dir && mkdir(a->out, 0755))
        return util_errf(err, UTIL_EIO, "%s: %s (with %zu sources, --out is a directory)", a->out,
                         strerror(errno), sources);
    const labels_label *const *all = s->labels;
    size_t n = s->n_labels;
    int rc = 0;
    for (size_t i = 0, j; i < n && !rc; i = j) {
        for (j = i + 1; j < n && !strcmp(all[j]->source, all[i]->source);)
            j++;
        char name[128], path[4300];
        pack_name(name, all[i]->source);
        snprintf(path, sizeof path, "%s/%s", a->out, name);
        s->labels = all + i;
        s->n_labels = j - i;
        rc = write_one(path, SHARING_TAGPACK, s, err);
    }
    s->labels = all;
    s->n_labels = n;
    if (!rc) fprintf(stderr, "cointrail: %zu TagPacks in %s\n", sources, a->out);
    return rc;
}

/* ---- a case or an incident ---- */

#define FORMAT_FREEZE 100

/* A folder name for an exchange: its letters and digits, then a hash of the whole name (two
 * names that differ only in punctuation get two folders). */
static void folder_name(char out[128], const char *name)
{
    pack_name(out, name);
    char *dot = strrchr(out, '.');
    if (dot) *dot = 0; /* no ".yaml" */
}

static int write_file(const char *path, const sharing_built *b, const sharing_packet *p, size_t n,
                      const char *const *dirs,
                      int (*one)(FILE *, const sharing_built *, const sharing_packet *, util_err *),
                      int (*index)(FILE *, const sharing_built *, const sharing_packet *, size_t,
                                   const char *const *, util_err *),
                      util_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    int rc = one ? one(f, b, p, err) : index(f, b, p, n, dirs, err);
    if (!rc && fsync(fileno(f))) rc = util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    if (fclose(f) && !rc) rc = util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
    if (rc && !strstr(err->msg, path)) util_err_prefix(err, "%s", path);
    return rc;
}

/* Remove a directory this command made, with the files it wrote (one level of folders). */
static void remove_tree(const char *dir, char (*dirs)[128], size_t n)
{
    static const char *const files[] = {"deposits.csv", "letter.html"};
    char p[4400];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s/%s/%s", dir, dirs[i], files[k]);
            unlink(p);
        }
        snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
        rmdir(p);
    }
    snprintf(p, sizeof p, "%s/index.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/index.html", dir);
    unlink(p);
    rmdir(dir);
}

/* The freeze packets into a fresh directory next to out, renamed to out when complete: a
 * failure leaves nothing behind, and an existing out is never half overwritten. */
static int write_freeze(const char *out, const sharing_built *b, util_err *err)
{
    struct stat st;
    if (!stat(out, &st))
        return util_errf(err, UTIL_EINVAL, "%s exists: --out names a new directory", out);
    sharing_packet *p;
    size_t n;
    if (sharing_freeze_packets(b, &p, &n)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
    char(*dirs)[128] = calloc(n ? n : 1, sizeof *dirs);
    const char **dp = calloc(n ? n : 1, sizeof *dp);
    int rc = 0;
    if (!dirs || !dp)
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    else if (!mkdtemp(tmp))
        rc = util_errf(err, UTIL_EIO, "%s: %s", tmp, strerror(errno));
    size_t made = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        folder_name(dirs[i], p[i].actor);
        if (strcmp(p[i].chain, "btc")) { /* an exchange reached on two chains: two packets */
            size_t l = strlen(dirs[i]);
            snprintf(dirs[i] + (l > 100 ? 100 : l), 128 - (l > 100 ? 100 : l), "-%.20s",
                     p[i].chain);
        }
        dp[i] = dirs[i];
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", tmp, dirs[i]);
        if (mkdir(path, 0755)) {
            rc = util_errf(err, UTIL_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        made = i + 1;
        snprintf(path, sizeof path, "%s/%s/deposits.csv", tmp, dirs[i]);
        rc = write_file(path, b, &p[i], 0, NULL, sharing_freeze_csv, NULL, err);
        snprintf(path, sizeof path, "%s/%s/letter.html", tmp, dirs[i]);
        if (!rc) rc = write_file(path, b, &p[i], 0, NULL, sharing_freeze_html, NULL, err);
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/index.csv", tmp);
    if (!rc) rc = write_file(path, b, p, n, dp, NULL, sharing_freeze_index_csv, err);
    snprintf(path, sizeof path, "%s/index.html", tmp);
    if (!rc) rc = write_file(path, b, p, n, dp, NULL, sharing_freeze_index_html, err);
    if (!rc && rename(tmp, out)) rc = util_errf(err, UTIL_EIO, "%s: %s", out, strerror(errno));
    if (rc && dirs) remove_tree(tmp, dirs, made);
    if (!rc) {
        size_t deps = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t k = p[i].first; k < p[i].first + p[i].n; k++)
                deps += sharing_freeze_category(b->deposits[k].category);
        fprintf(stderr, "cointrail: %zu freeze packet(s), %zu deposit(s), in %s\n", n, deps, out);
    }
    free(dirs), free(dp), free(p);
    return rc;
}

static int export_case(const export_args *a, int f, int64_t now, int argc, char **argv)
{
    util_err err = {0};
    const char *analyst = a->analyst;
    if (!analyst) analyst = cli_default_analyst();
    if (!analyst) {
        fprintf(stderr, "cointrail: export: --analyst NAME is required ($USER is not set)\n");
        return CLI_USAGE;
    }
    uint64_t case_id = 0;
    if (a->case_id && (cli_parse_u64(a->case_id, &case_id) || !case_id || case_id > INT64_MAX)) {
        fprintf(stderr, "cointrail: --case: '%s' is not a case id (a number from 1)\n", a->case_id);
        return CLI_USAGE;
    }
    if (f == FORMAT_FREEZE && !a->out) {
        fprintf(stderr, "cointrail: --format freeze needs --out DIR (a new directory)\n");
        return CLI_USAGE;
    }
    if (f == FORMAT_FREEZE) {
        struct stat st;
        if (!stat(a->out, &st)) {
            fprintf(stderr, "cointrail: %s exists: --out names a new directory\n", a->out);
            return CLI_USAGE;
        }
    }
    util_buf cmd = {0};
    if (cli_command_text(&cmd, "export", argc - 1, argv + 1, 0))
        return cli_fail(&(util_err){UTIL_ENOMEM, "out of memory"});
    cli_ctx ctx = {0};
    int have_btc = 0;
    labels_db *labels = NULL;
    case_db *db = NULL;
    case_full full = {0};
    case_incident inc = {0};
    int have_full = 0, have_inc = 0;
    sharing_built b = {0};
    int rc = cli_open_ctx(&ctx, a->db, 0, &err);
    if (!rc)
        have_btc = 1;
    else if (rc == UTIL_ENOTFOUND)
        rc = labels_db_open(&labels, a->db, 0, &err);
    if (!rc && (rc = case_db_open_at(&db, a->db, a->state, 0, &err)) == UTIL_ENOTFOUND)
        util_err_prefix(&err, "no case or incident here");
    case_origin who = {.analyst = analyst, .command = (const char *)cmd.data};
    case_state_init(&who.state);
    if (have_btc) case_state_btc(&who.state, ctx.s);
    if (!rc && a->incident) {
        rc = case_incident_get(db, &who, a->incident, &inc, &err);
        have_inc = !rc;
        if (!rc && inc.case_id > 0) {
            rc = case_get(db, &who, inc.case_id, &full, &err);
            have_full = !rc;
        }
    } else if (!rc) {
        rc = case_get(db, &who, (int64_t)case_id, &full, &err);
        have_full = !rc;
    }
    /* the EVM store of the runs' EVM chain (the first such run's), when DIR holds it */
    evm_store *evm = NULL;
    const char *evm_chain = NULL;
    if (!rc && have_full)
        for (size_t i = 0; !evm_chain && i < full.n_runs; i++)
            if (strcmp(full.runs[i].chain, "btc")) evm_chain = full.runs[i].chain;
    if (!rc && have_inc)
        for (size_t i = 0; !evm_chain && i < inc.trace.n_legs; i++)
            if (strcmp(inc.trace.runs[i].chain, "btc")) evm_chain = inc.trace.runs[i].chain;
    if (!rc && evm_chain) {
        char p[4200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/evm/%s", a->db, evm_chain);
        if (!stat(p, &sb)) rc = evm_store_open(&evm, a->db, evm_chain, 0, &err);
    }
    if (!rc && f == FORMAT_FREEZE && !have_btc && !evm)
        rc = util_errf(&err, UTIL_EINVAL,
                       "a freeze request needs the Bitcoin or EVM store in %s (the deposits are "
                       "found by computing the trace runs again)",
                       a->db);
    if (!rc) {
        sharing_case_src src = {.c = have_full ? &full : NULL,
                                .incident = have_inc ? &inc : NULL,
                                .btc = have_btc ? ctx.s : NULL,
                                .evm = evm,
                                .labels = have_btc ? ctx.labels : labels,
                                .clusters = have_btc ? ctx.clusters : NULL,
                                .producer = a->producer,
                                .title = a->title,
                                .now = now};
        rc = sharing_build(&b, &src, &err);
    }
    if (!rc && b.warnings.data && *(const char *)b.warnings.data)
        fprintf(stderr, "cointrail: %s", (const char *)b.warnings.data);
    if (!rc) {
        if (f == FORMAT_FREEZE)
            rc = write_freeze(a->out, &b, &err);
        else if (f == SHARING_TAGPACK)
            rc = write_tagpacks(a, &b.set, &err);
        else
            rc = write_one(a->out, (sharing_format)f, &b.set, &err);
    }
    if (!rc && a->out && f != SHARING_TAGPACK && f != FORMAT_FREEZE)
        fprintf(stderr, "cointrail: %zu labels, %zu transactions as %s in %s\n", b.set.n_labels,
                b.set.n_txs, a->format, a->out);
    sharing_built_free(&b);
    if (have_full) case_full_free(&full);
    if (have_inc) case_incident_free(&inc);
    case_db_close(db);
    if (have_btc) cli_close_ctx(&ctx);
    evm_store_close(evm);
    labels_db_close(labels);
    util_buf_free(&cmd);
    return rc ? cli_fail(&err) : CLI_OK;
}

int cmd_export(int argc, char **argv)
{
    export_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    int f = !strcmp(a.format, "freeze") ? FORMAT_FREEZE : sharing_format_parse(a.format);
    if (f < 0 || (f == FORMAT_FREEZE && a.query)) {
        fprintf(stderr, "cointrail: --format: '%s' is not one of stix, misp, tagpack, ftm%s\n",
                a.format, a.query ? "" : ", freeze");
        return CLI_USAGE;
    }
    if (!a.query) {
        int64_t now;
        if (export_time(&now)) return CLI_USAGE;
        return export_case(&a, f, now, argc, argv);
    }
    util_err err = {0};
    char *query = strdup(a.query);
    labels_filter filter;
    if (!query) return cli_fail(&(util_err){UTIL_ENOMEM, "out of memory"});
    if (sharing_query_parse(query, &filter, &err)) {
        free(query);
        fprintf(stderr, "cointrail: --labels: %s\n", err.msg);
        return CLI_USAGE;
    }
    sharing_set s = {.producer = a.producer, .title = a.title};
    if (export_time(&s.now)) {
        free(query);
        return CLI_USAGE;
    }
    labels_db *db;
    if (labels_db_open(&db, a.db, 0, &err)) {
        free(query);
        return cli_fail(&err);
    }
    size_t n = labels_db_count(db), k = 0;
    const labels_label **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        labels_db_close(db);
        free(query);
        return cli_fail(&(util_err){UTIL_ENOMEM, "out of memory"});
    }
    for (size_t i = 0; i < n; i++)
        if (labels_match(labels_db_get(db, i), &filter)) v[k++] = labels_db_get(db, i);
    s.labels = v;
    s.n_labels = k;
    if (!k)
        rc = util_errf(&err, UTIL_ENOTFOUND, "no label matches '%s' in %s/%s", a.query, a.db,
                       LABELS_FILE);
    else if (f == SHARING_TAGPACK)
        rc = write_tagpacks(&a, &s, &err);
    else
        rc = write_one(a.out, (sharing_format)f, &s, &err);
    if (!rc && a.out && f != SHARING_TAGPACK)
        fprintf(stderr, "cointrail: %zu labels as %s in %s\n", k, a.format, a.out);
    free(v);
    labels_db_close(db);
    free(query);
    return rc ? cli_fail(&err) : CLI_OK;
}
