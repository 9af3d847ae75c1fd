#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../state/state.h"
#include "cli.h"
#include "../sqldb/sqldb.h"

int cli_fail(const util_err *err)
{
    fprintf(stderr, "cointrail: %s\n", err->msg);
    switch (err->code) {
    case UTIL_EINVAL:
        return CLI_USAGE;
    case UTIL_ENOTFOUND:
        return CLI_NOTFOUND;
    default:
        return CLI_ERROR;
    }
}

int cli_usage(const char *usage, int help)
{
    fputs(usage, help ? stdout : stderr);
    return help ? CLI_OK : CLI_USAGE;
}

void cli_print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
}

int cli_open_ctx(cli_ctx *c, const char *db, int flags, util_err *err)
{
    memset(c, 0, sizeof *c);
    int need_clusters = flags & CLI_NEED_CLUSTERS;
    int rc = store_open(&c->s, db, 0, err);
    if (rc) return rc;
    if ((rc = labels_db_open(&c->labels, db, flags & CLI_LAZY_LABELS ? LABELS_LAZY : 0, err))) {
        cli_close_ctx(c);
        return rc;
    }
    util_err cerr = {0};
    rc = cluster_open(&c->clusters, c->s, db, &cerr);
    if (rc) {
        c->clusters = NULL;
        if (need_clusters) {
            *err = cerr;
            cli_close_ctx(c);
            return rc;
        }
        if (rc != UTIL_ENOTFOUND) fprintf(stderr, "cointrail: entities left out: %s\n", cerr.msg);
    }
    if ((flags & CLI_LAZY_LABELS) && c->clusters)
        query_entix_open(&c->entix, c->clusters, c->labels, db);
    return 0;
}

/* The analyst labels of the state database url (NULL or "": DIR/state.sqlite when it exists,
 * never created). *found: whether there is a database to read. */
static int read_state_labels(const char *db, const char *url, state_labels *ls, int *found,
                             util_err *err)
{
    memset(ls, 0, sizeof *ls);
    *found = 0;
    if (!url || !*url) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", db, STATE_FILE);
        if (stat(path, &st)) return 0;
        url = NULL;
    }
    state_db *st;
    int rc = state_open(&st, url, db, err);
    if (rc) return rc;
    rc = state_labels_all(st, ls, err);
    state_close(st);
    if (!rc) *found = 1;
    return rc;
}

int cli_open_ctx_state(cli_ctx *c, const char *db, const char *url, int flags, util_err *err)
{
    state_labels ls;
    int found, rc = read_state_labels(db, url, &ls, &found, err);
    if (rc) {
        util_err_prefix(err, "state labels");
        return rc;
    }
    /* lazy look-ups answer from labels.db's index: only right when nothing is merged in */
    if (ls.n) flags &= ~CLI_LAZY_LABELS;
    rc = cli_open_ctx(c, db, flags, err);
    if (!rc && ls.n && (rc = state_labels_apply(&ls, c->labels, err))) {
        util_err_prefix(err, "state labels");
        cli_close_ctx(c);
    }
    state_labels_free(&ls);
    return rc;
}

void cli_close_ctx(cli_ctx *c)
{
    query_entix_close(c->entix);
    if (c->clusters) cluster_close(c->clusters);
    if (c->labels) labels_db_close(c->labels);
    if (c->s) store_close(c->s);
    memset(c, 0, sizeof *c);
}

int cli_entix_refresh(const char *db, const store *s, util_err *err)
{
    store *own = NULL;
    labels_db *labels = NULL;
    cluster_map *m = NULL;
    util_err cerr = {0};
    int rc, built;
    char state[4200];
    snprintf(state, sizeof state, "%s/cluster.state", db);
    if (access(state, F_OK) != 0) return 0;             /* not clustered: no entities to index */
    if (!s && store_open(&own, db, 0, &cerr)) return 0; /* nor without a store */
    if (!s) s = own;
    if (cluster_open(&m, s, db, &cerr)) {
        store_close(own); /* no (usable) clustering: no entities to index */
        return 0;
    }
    if (!(rc = labels_db_open(&labels, db, LABELS_LAZY, err)))
        rc = query_entix_build(s, m, labels, db, &built, err);
    labels_db_close(labels);
    cluster_close(m);
    store_close(own);
    return rc;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s < '0' || *s > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

taint_val cli_taint_val(const char *arg)
{
    if (!arg) return (taint_val){.kind = TAINT_VAL_BOOL, .flag = 1};
    return (taint_val){.kind = TAINT_VAL_TEXT, .text = arg};
}

int cli_opt_u64(const char *name, const char *arg, const char *what, uint64_t *out)
{
    if (!cli_parse_u64(arg, out)) return 0;
    fprintf(stderr, "cointrail: --%s: '%s' is not %s\n", name, arg, what);
    return -1;
}

int cli_taint_opt(taint_target *t, const char *key, const char *arg)
{
    taint_val v = cli_taint_val(arg);
    util_err err = {0};
    if (!taint_opt_set(t, TAINT_FRONT_CLI, key, &v, &err)) return 0;
    cli_fail(&err);
    return -1;
}

int cli_tracer_args_init(cli_tracer_args *t, int argc)
{
    memset(t, 0, sizeof *t);
    t->key = calloc((size_t)argc, sizeof *t->key);
    t->val = calloc((size_t)argc, sizeof *t->val);
    if (t->key && t->val) return 0;
    cli_tracer_args_free(t);
    return UTIL_ENOMEM;
}

void cli_tracer_args_add(cli_tracer_args *t, const char *key, const char *val)
{
    t->key[t->n] = key;
    t->val[t->n++] = val;
}

void cli_tracer_args_free(cli_tracer_args *t)
{
    free(t->key), free(t->val);
    memset(t, 0, sizeof *t);
}

void cli_tracer_targets(trace_opts *b, etrace_opts *e, cli_tracer_text *txt, taint_target *tb,
                        taint_target *te)
{
    trace_default_opts(b);
    etrace_default_opts(e);
    memset(txt, 0, sizeof *txt);
    *tb = (taint_target){.model = TAINT_MODEL_UTXO,
                         .core = &b->core,
                         .min_value_sat = &b->min_value,
                         .until_text = &txt->until_b};
    *te = (taint_target){.model = TAINT_MODEL_ACCOUNT,
                         .core = &e->core,
                         .min_value_text = &txt->min_e,
                         .until_text = &txt->until_e};
}

int cli_opt_hops(const char *arg, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(arg, &v) && v >= 1 && v <= max) {
        *out = (uint32_t)v;
        return 0;
    }
    fprintf(stderr, "cointrail: --hops must be a whole number 1..%u, not '%s'\n", max, arg);
    return -1;
}

const char *cli_audit_arg(char *const *argv, int i, char *buf, size_t n)
{
    if (i > 0 && !strcmp(argv[i - 1], "--state")) {
        sqldb_shown_url(argv[i], buf, n);
        return buf;
    }
    if (!strncmp(argv[i], "--state=", 8)) {
        char u[4200];
        sqldb_shown_url(argv[i] + 8, u, sizeof u);
        snprintf(buf, n, "--state=%s", u);
        return buf;
    }
    return argv[i];
}

const char *cli_default_analyst(void)
{
    const char *u = getenv("USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name && *pw->pw_name ? pw->pw_name : NULL;
}

int cli_case_opt(cli_case_opts *o, int c, const char *arg)
{
    switch (c) {
    case 'd':
        o->db = arg;
        return 1;
    case 'Q':
        o->state = arg;
        return 1;
    case 'A':
        o->analyst = arg;
        return 1;
    case 'j':
        o->json = 1;
        return 1;
    default:
        return 0;
    }
}

int cli_case_env_open(cli_case_env *e, const char *dir, const char *state, const char *analyst,
                      const char *evm_chain, int create, int links, util_buf *cmd, util_err *err)
{
    memset(e, 0, sizeof *e);
    e->dir = dir;
    e->cmd = *cmd;
    memset(cmd, 0, sizeof *cmd);
    if (!analyst) analyst = cli_default_analyst();
    if (!analyst)
        return util_errf(err, UTIL_EINVAL, "--analyst NAME is required ($USER is not set)");
    if (strlen(analyst) >= sizeof e->analyst)
        return util_errf(err, UTIL_EINVAL, "--analyst: over %zu bytes", sizeof e->analyst - 1);
    snprintf(e->analyst, sizeof e->analyst, "%s", analyst);
    int rc = cli_open_ctx(&e->btc, dir, 0, err);
    if (!rc)
        e->have_btc = 1;
    else if (rc == UTIL_ENOTFOUND) { /* no Bitcoin store: labels alone */
        if ((rc = labels_db_open(&e->labels, dir, 0, err))) return rc;
    } else
        return rc;
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/evm/%s", dir, evm_chain);
    if (!stat(p, &sb) && (rc = evm_store_open(&e->evm, dir, evm_chain, 0, err))) return rc;
    if (links) {
        util_err le = {0};
        rc = xchain_links_load(dir, &e->links, &le);
        if (!rc)
            e->have_links = 1;
        else if (rc != UTIL_ENOTFOUND) {
            *err = le;
            return rc;
        }
    }
    if ((rc = case_db_open_at(&e->db, dir, state, create ? CASE_OPEN_CREATE : 0, err))) return rc;
    e->st = (case_stores){.dir = dir,
                          .btc = e->have_btc ? e->btc.s : NULL,
                          .clusters = e->have_btc ? e->btc.clusters : NULL,
                          .evm = e->evm,
                          .labels = e->have_btc ? e->btc.labels : e->labels,
                          .links = e->have_links ? &e->links : NULL};
    e->who.analyst = e->analyst;
    e->who.command = (const char *)e->cmd.data;
    case_state_init(&e->who.state);
    case_state_btc(&e->who.state, e->st.btc);
    case_state_evm(&e->who.state, e->evm);
    return 0;
}

void cli_case_env_close(cli_case_env *e)
{
    case_db_close(e->db);
    if (e->have_btc) cli_close_ctx(&e->btc);
    labels_db_close(e->labels);
    evm_store_close(e->evm);
    if (e->have_links) xchain_links_free(&e->links);
    util_buf_free(&e->cmd);
    memset(e, 0, sizeof *e);
}

/* How many of s's first n bytes (s has at least n) hold whole UTF-8 characters: a cut inside a
 * character drops its lead byte too, or the audit log would refuse the text as not UTF-8. */
static size_t utf8_whole(const char *s, size_t n)
{
    size_t lead = n;
    while (lead && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (!lead) return n; /* no lead byte at all: not UTF-8, and not ours to mend */
    unsigned char c = (unsigned char)s[lead - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return n - (lead - 1) >= need ? n : lead - 1;
}

int cli_command_text(util_buf *b, const char *name, int argc, char **argv, int shorten)
{
    int rc = util_buf_printf(b, "cointrail %s", name);
    for (int i = 0; i < argc && !rc; i++) {
        rc = util_buf_append(b, " ", 1);
        char masked[4300];
        const char *arg = cli_audit_arg(argv, i, masked, sizeof masked);
        size_t n = strlen(arg);
        if (!shorten || n <= 512) {
            if (!rc) rc = case_shell_quote(b, arg);
            continue;
        }
        char head[401];
        size_t keep = utf8_whole(arg, 400);
        memcpy(head, arg, keep);
        head[keep] = 0;
        if (!rc) rc = case_shell_quote(b, head);
        if (!rc) rc = util_buf_printf(b, "...(%zu bytes)", n);
    }
    return rc ? rc : util_buf_append(b, "", 1);
}
