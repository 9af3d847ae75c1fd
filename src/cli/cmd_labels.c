/* cointrail labels import|list|search|show: thin over src/labels. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../labels/labels.h"
#include "cli.h"

static const char labels_usage[] =
    "usage: cointrail labels import --db DIR [--format ofac-xml|ofac-list|tagpack|csv|stix|misp]\n"
    "                               [--chain btc|eth|...] [--source NAME] [--strict] [--json] "
    "FILE...\n"
    "       cointrail labels list   --db DIR [--category C] [--chain C] [--offset N] [--limit N] "
    "[--json]\n"
    "       cointrail labels search --db DIR [--limit N] [--json] TEXT\n"
    "       cointrail labels show   --db DIR [--chain C] [--json] ADDRESS\n"
    "       cointrail labels reindex --db DIR\n"
    "Imports are all or nothing: a malformed file (named with its line and field, or for STIX\n"
    "and MISP the JSON pointer of the field) saves none of the files given. Invalid addresses\n"
    "(bad checksums) are reported and skipped; with --strict they fail the import. A STIX 2.1\n"
    "bundle or MISP event gives the addresses of its indicators, wallets and coin-address\n"
    "objects with their actor, source and confidence (docs/labels.md); --chain names the chain\n"
    "of addresses the file gives none for. --limit 0 lists all (default 100).\n"
    "reindex writes labels.idx (and entity-labels.idx) for a label set saved by an older\n"
    "cointrail or edited by hand: look-ups then read only what they need.\n";

typedef struct labels_args {
    const char *db, *format, *chain, *source, *category;
    int json, strict;
    size_t offset, limit;
    int first; /* first positional argument in argv */
} labels_args;

static int parse_args(int argc, char **argv, labels_args *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"format", required_argument, 0, 'f'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"source", required_argument, 0, 's'},
                                         {"category", required_argument, 0, 'k'},
                                         {"offset", required_argument, 0, 'o'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"json", no_argument, 0, 'j'},
                                         {"strict", no_argument, 0, 'S'},
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
        case 'f':
            a->format = optarg;
            break;
        case 'c':
            a->chain = optarg;
            break;
        case 's':
            a->source = optarg;
            break;
        case 'k':
            a->category = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'S':
            a->strict = 1;
            break;
        case 'o':
        case 'l':
            uint64_t n;
            if (cli_opt_u64(c == 'o' ? "offset" : "limit", optarg, "a count", &n)) return CLI_USAGE;
            *(c == 'o' ? &a->offset : &a->limit) = (size_t)n;
            break;
        case 'h':
            fputs(labels_usage, stdout);
            return -1;
        default:
            fputs(labels_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (!a->db) {
        fprintf(stderr, "cointrail: labels: --db DIR is required\n%s", labels_usage);
        return CLI_USAGE;
    }
    a->first = optind;
    return 0;
}

/* Label text escaped for the terminal (labels_text_escape): b is one buffer per argument. */
#define ESC(b, s) labels_text_escape(b, sizeof b, s)

static void print_label(const labels_label *l)
{
    char b[5][LABELS_ESC_BUF];
    printf("%s %s  %s", ESC(b[0], l->chain), ESC(b[1], l->address), ESC(b[2], l->category));
    if (*l->actor) printf("  actor=%s", ESC(b[0], l->actor));
    if (*l->name && strcmp(l->name, l->actor)) printf("  \"%s\"", ESC(b[0], l->name));
    if (*l->programs) printf("  programs=%s", ESC(b[0], l->programs));
    printf("  confidence=%d  source=%s\n", l->confidence, ESC(b[3], l->source));
}

static int cmd_import_labels(int argc, char **argv, const labels_args *a)
{
    if (a->first >= argc) {
        fprintf(stderr, "cointrail: labels import: no FILE given\n%s", labels_usage);
        return CLI_USAGE;
    }
    labels_import_opts o = {.chain = a->chain, .source = a->source, .strict = a->strict};
    if (a->format) {
        int f = labels_format_parse(a->format);
        if (f < 0) {
            fprintf(stderr,
                    "cointrail: --format: '%s' is not one of ofac-xml, ofac-list, "
                    "tagpack, csv, stix, misp\n",
                    a->format);
            return CLI_USAGE;
        }
        o.format = (labels_format)f;
    }
    util_err err = {0};
    labels_db *db;
    int rc = labels_db_open(&db, a->db, LABELS_WRITE, &err);
    if (rc) return cli_fail(&err);
    json_t *files = json_array();
    util_buf summary = {0}; /* printed once the set is saved: a later failure saves nothing */
    size_t before = labels_db_count(db);
    for (int i = a->first; i < argc && !rc; i++) {
        labels_import_result r;
        rc = labels_import_file(db, argv[i], &o, &r, &err);
        for (size_t w = 0; w < r.n_warnings; w++)
            fprintf(stderr, "cointrail: warning: %s\n", r.warnings[w]);
        if (r.n_rejected > r.n_warnings)
            fprintf(stderr, "cointrail: warning: %s: %zu more rejected addresses not shown\n",
                    argv[i], r.n_rejected - r.n_warnings);
        if (!rc) {
            if (a->json) {
                json_t *f =
                    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "file", argv[i], "format",
                              labels_format_name(r.format), "labels", (json_int_t)r.n_read, "added",
                              (json_int_t)r.n_added, "replaced", (json_int_t)r.n_replaced,
                              "rejected", (json_int_t)r.n_rejected);
                json_array_append_new(files, f);
            } else {
                util_buf_printf(&summary,
                                "%s: %s, %zu labels (%zu new, %zu already present), %zu rejected\n",
                                argv[i], labels_format_name(r.format), r.n_read, r.n_added,
                                r.n_replaced, r.n_rejected);
            }
        }
        labels_import_result_free(&r);
    }
    /* The exposure index is made ready for the new labels before they are saved, and committed
     * after: a failure before the save leaves both as they were (docs/exposure.md). */
    exposure_writer *xw = NULL;
    if (!rc && exposure_exists(a->db)) {
        rc = cli_exposure_update(a->db, NULL, db, NULL, &xw, NULL, &err);
        if (rc) util_err_prefix(&err, "exposure index");
    }
    if (!rc) rc = labels_db_save(db, &err);
    if (!rc && xw && (rc = exposure_commit(xw, &err)))
        util_err_prefix(&err, "labels saved, but the exposure index was not updated (rerun the "
                              "import)");
    exposure_writer_close(xw);
    if (rc) {
        json_decref(files);
        util_buf_free(&summary);
        labels_db_close(db);
        fprintf(stderr, "cointrail: nothing imported\n");
        return cli_fail(&err);
    }
    size_t total = labels_db_count(db);
    labels_db_close(db); /* its lock: the entity index opens the set again */
    db = NULL;
    if ((rc = cli_entix_refresh(a->db, NULL, &err))) {
        json_decref(files);
        util_buf_free(&summary);
        util_err_prefix(&err,
                        "labels saved, but %s was not updated (run cointrail labels "
                        "reindex)",
                        QUERY_ENTIX_FILE);
        return cli_fail(&err);
    }
    if (a->json) {
        json_t *doc = json_pack("{s:o,s:I,s:I}", "files", files, "labels", (json_int_t)total,
                                "added", (json_int_t)(total - before));
        cli_print_json(doc);
        json_decref(doc);
    } else {
        json_decref(files);
        if (summary.len) fwrite(summary.data, 1, summary.len, stdout);
        printf("%s/%s: %zu labels (%zu new)\n", a->db, LABELS_FILE, total, total - before);
    }
    util_buf_free(&summary);
    return CLI_OK;
}

/* labels reindex: write labels.idx for a labels.db without one (or with a stale one), then the
 * entity index. */
static int cmd_reindex_labels(const labels_args *a)
{
    util_err err = {0};
    labels_db *db;
    if (labels_db_open(&db, a->db, LABELS_WRITE, &err)) return cli_fail(&err);
    int rc = labels_db_reindex(db, &err);
    size_t n = labels_db_count(db);
    labels_db_close(db);
    if (!rc) rc = cli_entix_refresh(a->db, NULL, &err);
    if (rc) return cli_fail(&err);
    printf("%s/%s: %zu labels indexed\n", a->db, LABELS_INDEX_FILE, n);
    return CLI_OK;
}

static int cmd_list_labels(const labels_args *a, const char *text)
{
    util_err err = {0};
    labels_db *db;
    if (labels_db_open(&db, a->db, 0, &err)) return cli_fail(&err);
    labels_filter f = {.chain = a->chain, .category = a->category, .text = text};
    json_t *doc;
    int rc = labels_query(db, &f, a->offset, a->limit, &doc, &err);
    labels_db_close(db);
    if (rc) return cli_fail(&err);
    if (a->json) {
        cli_print_json(doc);
    } else {
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(doc, "labels"), i, l)
        {
            char b[LABELS_ESC_BUF];
            const char *fields[] = {"chain", "address", "category"};
            for (size_t k = 0; k < 3; k++)
                printf("%s%s", k ? "  " : "",
                       ESC(b, json_string_value(json_object_get(l, fields[k]))));
            const char *actor = json_string_value(json_object_get(l, "actor"));
            const char *name = json_string_value(json_object_get(l, "name"));
            if (actor) printf("  actor=%s", ESC(b, actor));
            if (name && (!actor || strcmp(name, actor))) printf("  \"%s\"", ESC(b, name));
            printf("  source=%s\n", ESC(b, json_string_value(json_object_get(l, "source"))));
        }
        long long total = (long long)json_integer_value(json_object_get(doc, "total"));
        printf("%lld matching label%s", total, total == 1 ? "" : "s");
        if ((long long)json_array_size(json_object_get(doc, "labels")) < total)
            printf(" (%zu shown from #%zu; --offset/--limit for more)",
                   json_array_size(json_object_get(doc, "labels")), a->offset);
        printf("\n");
    }
    json_decref(doc);
    return CLI_OK;
}

static int cmd_show_labels(const labels_args *a, const char *address)
{
    util_err err = {0};
    labels_db *db;
    if (labels_db_open(&db, a->db, LABELS_LAZY, &err)) return cli_fail(&err);
    const labels_label *found[256];
    size_t n;
    labels_find_any(db, a->chain, address, found, 256, &n);
    if (n > 256) n = 256;
    if (!n) {
        labels_db_close(db);
        util_errf(&err, UTIL_ENOTFOUND, "no labels for %s%s%s", address,
                  a->chain ? " on chain " : "", a->chain ? a->chain : "");
        return cli_fail(&err);
    }
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, labels_to_json(found[i]));
        json_t *doc = json_pack("{s:s,s:o}", "address", address, "labels", arr);
        cli_print_json(doc);
        json_decref(doc);
    } else {
        for (size_t i = 0; i < n; i++)
            print_label(found[i]);
    }
    labels_db_close(db);
    return CLI_OK;
}

int cmd_labels(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(labels_usage, argc >= 2);
    const char *sub = argv[1];
    if (!strcmp(sub, "add") || !strcmp(sub, "retire") || !strcmp(sub, "history"))
        return cmd_labels_state(argc, argv);
    labels_args a;
    int rc = parse_args(argc - 1, argv + 1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    int npos = argc - 1 - a.first;
    char **pos = argv + 1 + a.first;
    if (!strcmp(sub, "import")) return cmd_import_labels(argc - 1, argv + 1, &a);
    if (!strcmp(sub, "reindex")) {
        if (npos) {
            fprintf(stderr, "cointrail: labels reindex: takes no positional argument\n%s",
                    labels_usage);
            return CLI_USAGE;
        }
        return cmd_reindex_labels(&a);
    }
    if (!strcmp(sub, "list") || !strcmp(sub, "search") || !strcmp(sub, "show")) {
        int want = strcmp(sub, "list") ? 1 : 0;
        if (npos != want) {
            fprintf(stderr, "cointrail: labels %s: %s\n%s", sub,
                    want ? "give exactly one TEXT or ADDRESS" : "takes no positional argument",
                    labels_usage);
            return CLI_USAGE;
        }
        if (!strcmp(sub, "list")) return cmd_list_labels(&a, NULL);
        if (!strcmp(sub, "search")) return cmd_list_labels(&a, pos[0]);
        return cmd_show_labels(&a, pos[0]);
    }
    fprintf(stderr, "cointrail: labels: unknown subcommand '%s'\n%s", sub, labels_usage);
    return CLI_USAGE;
}
