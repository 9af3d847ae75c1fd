/* cointrail labels add|retire|history and cointrail state: thin over src/state (docs/state.md). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../exposure/exposure.h"
#include "../labels/labels.h"
#include "../serve/serve.h"
#include "../state/state.h"
#include "cli.h"

static const char state_labels_usage[] =
    "usage: cointrail labels add     [--db DIR] [--state URL] --address A --category C\n"
    "                                [--chain btc] [--name N] [--actor A] [--source S]\n"
    "                                [--confidence 0..100] [--url U] [--author WHO] [--json]\n"
    "       cointrail labels retire  [--db DIR] [--state URL] --address A --category C\n"
    "                                [--chain btc] [--source S] [--reason TEXT] [--author WHO]\n"
    "       cointrail labels history [--db DIR] [--state URL] [--json] [ADDRESS]\n"
    "The analyst labels live in the state database: DIR/state.sqlite, or the PostgreSQL server\n"
    "of --state postgresql://... (docs/state.md). With --db the store's label set (labels.db,\n"
    "and its exposure index) is brought up to date too, so that screen and trace see the change\n"
    "at once; `serve --state URL` replicas follow the database by themselves. --source defaults\n"
    "to \"analyst\", --author to $USER.\n";

static const char state_usage[] =
    "usage: cointrail state info        [--db DIR] [--state URL] [--json]\n"
    "       cointrail state watchlist-put [--db DIR] [--state URL] --owner O FILE\n"
    "       cointrail state watchlist-delete [--db DIR] [--state URL] --owner O NAME\n"
    "       cointrail state watchlists  [--db DIR] [--state URL]\n"
    "       cointrail state key-add     [--db DIR] [--state URL] --owner O (--role R|--scopes L)\n"
    "                                   [--key KEY]\n"
    "       cointrail state key-revoke  [--db DIR] [--state URL] KEY_ID\n"
    "       cointrail state keys        [--db DIR] [--state URL]\n"
    "       cointrail state deliveries  [--db DIR] [--state URL]\n"
    "The shared records of `serve --state URL` replicas (docs/state.md). watchlist-put takes a\n"
    "JSON file {\"name\", \"webhook\"?, \"items\": [...]} as POST /v1/watchlists does. key-add "
    "prints\n"
    "a new key once on stdout (or takes --key KEY) and stores only its SHA-256.\n";

typedef struct st_args {
    const char *db, *state, *chain, *address, *category, *name, *actor, *source, *url, *author,
        *reason, *owner, *role, *scopes, *key;
    int confidence, json, first;
} st_args;

static int parse(int argc, char **argv, st_args *a, const char *usage)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"state", required_argument, 0, 'S'},
                                         {"chain", required_argument, 0, 'c'},
                                         {"address", required_argument, 0, 'a'},
                                         {"category", required_argument, 0, 'k'},
                                         {"name", required_argument, 0, 'n'},
                                         {"actor", required_argument, 0, 'A'},
                                         {"source", required_argument, 0, 's'},
                                         {"url", required_argument, 0, 'u'},
                                         {"author", required_argument, 0, 'w'},
                                         {"reason", required_argument, 0, 'r'},
                                         {"confidence", required_argument, 0, 'C'},
                                         {"owner", required_argument, 0, 'o'},
                                         {"role", required_argument, 0, 'R'},
                                         {"scopes", required_argument, 0, 'P'},
                                         {"key", required_argument, 0, 'K'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->chain = "btc";
    a->source = "analyst";
    a->confidence = 50;
    a->author = getenv("USER");
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
        case 'c':
            a->chain = optarg;
            break;
        case 'a':
            a->address = optarg;
            break;
        case 'k':
            a->category = optarg;
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'A':
            a->actor = optarg;
            break;
        case 's':
            a->source = optarg;
            break;
        case 'u':
            a->url = optarg;
            break;
        case 'w':
            a->author = optarg;
            break;
        case 'r':
            a->reason = optarg;
            break;
        case 'o':
            a->owner = optarg;
            break;
        case 'R':
            a->role = optarg;
            break;
        case 'P':
            a->scopes = optarg;
            break;
        case 'K':
            a->key = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'C': {
            uint64_t n;
            if (cli_parse_u64(optarg, &n) || n > 100) {
                fprintf(stderr, "cointrail: --confidence: '%s' is not 0..100\n", optarg);
                return CLI_USAGE;
            }
            a->confidence = (int)n;
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
    if (!a->db && !a->state) {
        fprintf(stderr, "cointrail: give --db DIR (its embedded state) or --state URL\n%s", usage);
        return CLI_USAGE;
    }
    a->first = optind;
    return 0;
}

static int open_state(const st_args *a, state_db **st)
{
    util_err err = {0};
    if (state_open(st, a->state, a->db, &err)) return cli_fail(&err);
    return 0;
}

/* Bring DIR's label set (and its exposure index) to what the state says: the imported labels
 * with the active analyst labels merged in and the retired ones taken out. */
static int materialise(const char *dir, state_db *st, util_err *err)
{
    labels_db *set;
    state_labels ls;
    int rc = labels_db_open(&set, dir, LABELS_WRITE, err);
    if (rc) return rc;
    if (!(rc = state_labels_all(st, &ls, err))) {
        rc = state_labels_apply(&ls, set, err);
        state_labels_free(&ls);
    }
    exposure_writer *xw = NULL;
    if (!rc && exposure_exists(dir)) {
        rc = cli_exposure_update(dir, NULL, set, NULL, &xw, NULL, err);
        if (rc) util_err_prefix(err, "exposure index");
    }
    if (!rc) rc = labels_db_save(set, err);
    if (!rc && xw && (rc = exposure_commit(xw, err)))
        util_err_prefix(err, "labels saved, but the exposure index was not updated");
    exposure_writer_close(xw);
    labels_db_close(set);
    if (!rc && (rc = cli_entix_refresh(dir, NULL, err)))
        util_err_prefix(err,
                        "labels saved, but %s was not updated (run cointrail labels "
                        "reindex)",
                        QUERY_ENTIX_FILE);
    else if (rc)
        util_err_prefix(err,
                        "the state changed, but %s/%s was not updated (run the command "
                        "again)",
                        dir, LABELS_FILE);
    return rc;
}

int cmd_labels_state(int argc, char **argv)
{
    const char *sub = argv[1];
    st_args a;
    int rc = parse(argc - 1, argv + 1, &a, state_labels_usage);
    if (rc) return rc < 0 ? CLI_OK : rc;
    int npos = argc - 1 - a.first;
    char **pos = argv + 1 + a.first;
    if (strcmp(sub, "history") && (!a.address || !a.category || npos)) {
        fprintf(stderr,
                "cointrail: labels %s: --address and --category are required, and no "
                "positional argument\n%s",
                sub, state_labels_usage);
        return CLI_USAGE;
    }
    if (!strcmp(sub, "history") && npos > 1) {
        fprintf(stderr, "cointrail: labels history: at most one ADDRESS\n%s", state_labels_usage);
        return CLI_USAGE;
    }
    if (strcmp(sub, "history") && (!a.author || !*a.author)) {
        fprintf(stderr, "cointrail: labels %s: give --author (or set $USER)\n", sub);
        return CLI_USAGE;
    }
    state_db *st;
    if ((rc = open_state(&a, &st))) return rc;
    util_err err = {0};
    if (!strcmp(sub, "history")) {
        json_t *h;
        const char *addr = npos ? pos[0] : NULL;
        if ((rc = state_label_history(st, addr, &h, &err))) {
            state_close(st);
            return cli_fail(&err);
        }
        if (a.json) {
            json_t *doc = json_pack("{s:s, s:o}", "backend", state_backend(st), "events", h);
            cli_print_json(doc);
            json_decref(doc);
        } else {
            size_t i;
            json_t *e;
            char b[4][LABELS_ESC_BUF];
            json_array_foreach(h, i, e)
            {
                printf("%lld  %-6s label %lld  %s %s  %s  source=%s  by %s",
                       (long long)json_integer_value(json_object_get(e, "at_ms")),
                       json_string_value(json_object_get(e, "event")),
                       (long long)json_integer_value(json_object_get(e, "label")),
                       json_string_value(json_object_get(e, "chain")),
                       labels_text_escape(b[0], sizeof b[0],
                                          json_string_value(json_object_get(e, "address"))),
                       json_string_value(json_object_get(e, "category")),
                       labels_text_escape(b[1], sizeof b[1],
                                          json_string_value(json_object_get(e, "source"))),
                       labels_text_escape(b[2], sizeof b[2],
                                          json_string_value(json_object_get(e, "author"))));
                const char *d = json_string_value(json_object_get(e, "detail"));
                if (d && *d) printf("  \"%s\"", labels_text_escape(b[3], sizeof b[3], d));
                putchar('\n');
            }
            json_decref(h);
        }
        state_close(st);
        return CLI_OK;
    }
    int64_t id = 0;
    if (!strcmp(sub, "add")) {
        labels_label l = {.chain = (char *)a.chain,
                          .address = (char *)a.address,
                          .category = (char *)a.category,
                          .actor = (char *)a.actor,
                          .name = (char *)a.name,
                          .source = (char *)a.source,
                          .url = (char *)a.url,
                          .confidence = a.confidence};
        rc = state_label_add(st, &l, a.author, &id, &err);
    } else {
        rc = state_label_retire(st, a.chain, a.address, a.source, a.category, a.author, a.reason,
                                &err);
    }
    if (!rc && a.db) rc = materialise(a.db, st, &err);
    const char *backend = state_backend(st);
    state_close(st);
    if (rc) return cli_fail(&err);
    if (a.json) {
        json_t *doc = json_pack("{s:s, s:s}", "event", sub, "backend", backend);
        if (id) json_object_set_new(doc, "label", json_integer((json_int_t)id));
        cli_print_json(doc);
        json_decref(doc);
    } else if (id) {
        printf("label %lld added (%s)\n", (long long)id, backend);
    } else {
        printf("label retired (%s)\n", backend);
    }
    return CLI_OK;
}

static int print_doc(json_t *a)
{
    cli_print_json(a);
    json_decref(a);
    return CLI_OK;
}

int cmd_state(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cli_usage(state_usage, argc >= 2);
    const char *sub = argv[1];
    st_args a;
    int rc = parse(argc - 1, argv + 1, &a, state_usage);
    if (rc) return rc < 0 ? CLI_OK : rc;
    int npos = argc - 1 - a.first;
    char **pos = argv + 1 + a.first;
    state_db *st;
    if ((rc = open_state(&a, &st))) return rc;
    util_err err = {0};
    json_t *doc = NULL;
    if (!strcmp(sub, "info")) {
        int v = 0, rows = 0;
        uint64_t ser[STATE_NTOPICS];
        if (!(rc = state_schema(st, &v, &rows, &err)) && !(rc = state_serials(st, ser, &err)))
            doc = json_pack("{s:s, s:i, s:i, s:{s:I, s:I, s:I}}", "backend", state_backend(st),
                            "schema_version", v, "migrations", rows, "serials", "labels",
                            (json_int_t)ser[0], "watchlists", (json_int_t)ser[1], "keys",
                            (json_int_t)ser[2]);
    } else if (!strcmp(sub, "watchlists")) {
        rc = state_watch_all(st, &doc, &err);
    } else if (!strcmp(sub, "keys")) {
        rc = state_keys_all(st, 0, &doc, &err);
        /* the line names the digest only; nothing secret, but keep the listing short */
    } else if (!strcmp(sub, "deliveries")) {
        rc = state_deliveries(st, &doc, &err);
    } else if (!strcmp(sub, "watchlist-put") || !strcmp(sub, "watchlist-delete")) {
        int put = !strcmp(sub, "watchlist-put");
        if (!a.owner || npos != 1) {
            fprintf(stderr, "cointrail: state %s: --owner and one %s are required\n", sub,
                    put ? "FILE" : "NAME");
            state_close(st);
            return CLI_USAGE;
        }
        if (put) {
            json_error_t je;
            json_t *w = json_load_file(pos[0], 0, &je);
            const char *name = json_string_value(json_object_get(w, "name"));
            if (!w || !name || !json_is_array(json_object_get(w, "items"))) {
                fprintf(stderr, "cointrail: %s:%d: %s\n", pos[0], w ? 0 : je.line,
                        w ? "a watchlist needs \"name\" and an \"items\" array" : je.text);
                json_decref(w);
                state_close(st);
                return CLI_ERROR;
            }
            json_object_set_new(w, "owner", json_string(a.owner));
            char *text = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
            rc = text ? state_watch_put(st, a.owner, name, text, &err)
                      : util_errf(&err, UTIL_ENOMEM, "out of memory");
            free(text);
            json_decref(w);
        } else {
            rc = state_watch_delete(st, a.owner, pos[0], &err);
        }
        if (!rc) doc = json_pack("{s:s}", "done", sub);
    } else if (!strcmp(sub, "key-add")) {
        char key[SERVE_KEY_MAX], line[SERVE_KEY_LINE_MAX], digest[65];
        if (!a.owner || (!a.role == !a.scopes)) {
            fprintf(stderr, "cointrail: state key-add: --owner and one of --role or --scopes\n");
            state_close(st);
            return CLI_USAGE;
        }
        rc = serve_key_make_line(a.key, a.owner, a.role ? "role" : "scopes",
                                 a.role ? a.role : a.scopes, key, line, &err);
        if (!rc) {
            snprintf(digest, sizeof digest, "%.64s", line + 7); /* after "sha256:" */
            rc = state_key_add(st, digest, a.owner, line, &err);
        }
        if (!rc) {
            if (!a.key) printf("%s\n", key);
            fprintf(stderr, "cointrail: key %.16s for %s stored in the state (%s)\n", line + 7,
                    a.owner, state_backend(st));
        }
    } else if (!strcmp(sub, "key-revoke")) {
        if (npos != 1) {
            fprintf(stderr, "cointrail: state key-revoke: one KEY_ID\n");
            state_close(st);
            return CLI_USAGE;
        }
        rc = state_key_revoke(st, pos[0], &err);
        if (!rc) doc = json_pack("{s:s, s:s}", "revoked", pos[0], "backend", state_backend(st));
    } else {
        fprintf(stderr, "cointrail: state: unknown subcommand '%s'\n%s", sub, state_usage);
        state_close(st);
        return CLI_USAGE;
    }
    state_close(st);
    if (rc) return cli_fail(&err);
    return doc ? print_doc(doc) : CLI_OK;
}
