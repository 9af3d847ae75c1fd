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
    "Writes the labels QUERY selects for other tools (docs/sharing.md):\n"
    "  stix     a STIX 2.1 bundle: indicators over cryptocurrency-wallet SCOs, threat actors,\n"
    "           relationships and sightings\n"
    "  misp     a MISP event: coin-address objects, their tags\n"
    "  tagpack  a GraphSense TagPack; one pack per source: labels from several sources need\n"
    "           --out DIR (one file a source)\n"
    "  ftm      FollowTheMoney CryptoWallet and LegalEntity entities, one JSON object a line\n"
    "QUERY: all, or KEY=VALUE terms joined by & (chain, category, actor, source, text), values\n"
    "URL-encoded, e.g. 'category=theft&actor=Lazarus+Group'. `cointrail labels import` reads\n"
    "stix, misp and tagpack exports back. --producer names who shares (default cointrail);\n"
    "--title is the MISP event's info and the TagPack's description. Timestamps use\n"
    "SOURCE_DATE_EPOCH when set, else the clock. --out is written atomically; default stdout.\n";

typedef struct export_args {
    const char *db, *query, *format, *out, *producer, *title;
} export_args;

static int parse_args(int argc, char **argv, export_args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},       {"labels", required_argument, 0, 'l'},
        {"format", required_argument, 0, 'f'},   {"out", required_argument, 0, 'o'},
        {"producer", required_argument, 0, 'p'}, {"title", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->db = optarg;
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
        case 'h':
            fputs(export_usage, stdout);
            return -1;
        default:
            fputs(export_usage, stderr);
            return CLI_USAGE;
        }
    }
    const char *missing = !a->db       ? "--db DIR"
                          : !a->query  ? "--labels QUERY"
                          : !a->format ? "--format F"
                                       : NULL;
    if (missing || optind < argc) {
        fprintf(stderr, "cointrail: export: %s\n%s",
                missing ? missing : "takes no positional argument", export_usage);
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

int cmd_export(int argc, char **argv)
{
    export_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    int f = sharing_format_parse(a.format);
    if (f < 0) {
        fprintf(stderr, "cointrail: --format: '%s' is not one of stix, misp, tagpack, ftm\n",
                a.format);
        return CLI_USAGE;
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
