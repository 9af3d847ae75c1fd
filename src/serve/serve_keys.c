/* serve: API keys and scopes. The key file holds only SHA-256 digests of keys; a request's key
 * is hashed and compared in constant time, and names its owner and scopes. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "serve_int.h"

/* ---- the key file ---- */

#define KEY_LINE_MAX 1024

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || !s[i]) return 0;
    return 1;
}

/* Parse "read,screen,watch,write,admin" into SERVE_SCOPE_* bits; 0 if a name is unknown or
 * empty. */
static unsigned parse_scopes(const char *v)
{
    unsigned bits = 0;
    while (*v) {
        size_t n = strcspn(v, ",");
        unsigned b = n == 4 && !strncmp(v, "read", 4)     ? SERVE_SCOPE_READ
                     : n == 6 && !strncmp(v, "screen", 6) ? SERVE_SCOPE_SCREEN
                     : n == 5 && !strncmp(v, "watch", 5)  ? SERVE_SCOPE_WATCH
                     : n == 5 && !strncmp(v, "write", 5)  ? SERVE_SCOPE_WRITE
                     : n == 5 && !strncmp(v, "admin", 5)  ? SERVE_SCOPE_ADMIN
                                                          : 0;
        if (!b) return 0;
        bits |= b;
        v += n;
        if (*v == ',' && !*++v) return 0;
    }
    return bits;
}

/* The roles (docs/webui.md, "Roles"): names for sets of scopes. A read key looks things up,
 * screens and traces; an analyst also keeps watchlists and writes (cases, labels, notes); an
 * admin may do everything for every owner. */
static const struct {
    const char *name;
    unsigned scopes;
} roles[] = {
    {"read", SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN},
    {"analyst", SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN | SERVE_SCOPE_WATCH | SERVE_SCOPE_WRITE},
    {"admin", SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN | SERVE_SCOPE_WATCH | SERVE_SCOPE_WRITE |
                  SERVE_SCOPE_ADMIN},
};

unsigned serve_role_scopes(const char *role)
{
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (!strcmp(role, roles[i].name)) return roles[i].scopes;
    return 0;
}

const char *serve_role_of(unsigned scopes)
{
    if (scopes & SERVE_SCOPE_ADMIN) return "admin";
    if (scopes & SERVE_SCOPE_WRITE) return "analyst";
    return "read";
}

/* One line of the key file into k. The format: "sha256:<64 hex> owner=NAME scopes=LIST" (or
 * role=ROLE instead of scopes=); a legacy plaintext key (one word, 16+ characters) is accepted with
 * a warning, as owner "default" with the scopes read, screen and watch. */
static int parse_key_line(const char *file, int lineno, char *line, serve_key *k, util_err *err)
{
    static const char keychars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_.~+/=";
    memset(k, 0, sizeof *k);
    if (strncmp(line, "sha256:", 7)) {
        size_t n = strlen(line);
        if (n < 16 || strspn(line, keychars) != n) {
            if (strchr(line, ' ') || strchr(line, '\t'))
                return util_errf(err, UTIL_EINVAL,
                                 "%s:%d: expected sha256:<64 hex digits> owner=NAME "
                                 "scopes=LIST (keys are stored as hashes: make a line with "
                                 "`cointrail serve-key`, or hash an existing key with "
                                 "`cointrail serve-key --hash`)",
                                 file, lineno);
            return util_errf(err, UTIL_EINVAL,
                             "%s:%d: an API key is 16 or more printable characters without "
                             "spaces (better: a sha256: line made by `cointrail serve-key`)",
                             file, lineno);
        }
        crypto_sha256(line, n, k->digest);
        snprintf(k->who.owner, sizeof k->who.owner, "default");
        k->who.scopes = SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN | SERVE_SCOPE_WATCH;
        fprintf(stderr,
                "cointrail: warning: %s:%d: a plaintext key (owner \"default\", scopes "
                "read,screen,watch); store its hash instead: `cointrail serve-key --hash`\n",
                file, lineno);
    } else {
        char *save = NULL, *tok = strtok_r(line, " \t", &save);
        int have_owner = 0, have_role = 0;
        if (strlen(tok) != 7 + 64 || !is_hex(tok + 7, 64))
            return util_errf(err, UTIL_EINVAL,
                             "%s:%d: expected sha256: and 64 lowercase hex digits", file, lineno);
        for (int i = 0; i < 32; i++) {
            unsigned x;
            sscanf(tok + 7 + 2 * i, "%2x", &x);
            k->digest[i] = (uint8_t)x;
        }
        while ((tok = strtok_r(NULL, " \t", &save))) {
            if (!strncmp(tok, "owner=", 6)) {
                const char *o = tok + 6;
                size_t n = strlen(o);
                if (!n || n >= sizeof k->who.owner ||
                    strspn(o,
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                        n)
                    return util_errf(err, UTIL_EINVAL,
                                     "%s:%d: owner: 1..63 letters, digits, '.', '_' or '-'", file,
                                     lineno);
                memcpy(k->who.owner, o, n + 1);
                have_owner = 1;
            } else if (!strncmp(tok, "scopes=", 7) || !strncmp(tok, "role=", 5)) {
                int is_role = tok[0] == 'r';
                /* a repeated scopes= is the last one, as before roles existed */
                if (have_role || (is_role && k->who.scopes))
                    return util_errf(err, UTIL_EINVAL, "%s:%d: give scopes= or role=, not both",
                                     file, lineno);
                have_role = is_role;
                if (is_role && !(k->who.scopes = serve_role_scopes(tok + 5)))
                    return util_errf(err, UTIL_EINVAL, "%s:%d: role: read, analyst or admin", file,
                                     lineno);
                if (!is_role && !(k->who.scopes = parse_scopes(tok + 7)))
                    return util_errf(err, UTIL_EINVAL,
                                     "%s:%d: scopes: a comma-separated list of read, screen, "
                                     "watch, write, admin",
                                     file, lineno);
            } else {
                return util_errf(err, UTIL_EINVAL,
                                 "%s:%d: unknown field '%.40s' (expected owner= and scopes= or "
                                 "role=)",
                                 file, lineno, tok);
            }
        }
        if (!have_owner || !k->who.scopes)
            return util_errf(err, UTIL_EINVAL, "%s:%d: owner= and scopes= (or role=) are required",
                             file, lineno);
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        k->who.key_id[2 * i] = hex[k->digest[i] >> 4];
        k->who.key_id[2 * i + 1] = hex[k->digest[i] & 15];
    }
    return 0;
}

int serve_key_make(const char *key, const char *owner, const char *scopes, char *key_out,
                   char *line, util_err *err)
{
    return serve_key_make_line(key, owner, "scopes", scopes, key_out, line, err);
}

int serve_key_make_line(const char *key, const char *owner, const char *field, const char *value,
                        char *key_out, char *line, util_err *err)
{
    if (!key) {
        static const char b64url[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t raw[33] = {0};
        /* drawn again when it would begin with '-' (1 in 64), which a command line would take
         * for an option (`--key -x...`, argument parsers in scripts) */
        do {
            if (RAND_bytes(raw, 32) != 1)
                return util_errf(err, UTIL_EIO, "OpenSSL RAND_bytes failed: no key made");
            size_t n = 0;
            for (size_t i = 0; i < 33; i += 3) { /* 256 bits: 43 digits of 6 bits */
                uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
                for (int j = 0; j < 4 && n < 43; j++)
                    key_out[n++] = b64url[(v >> (18 - 6 * j)) & 63];
            }
            key_out[n] = 0;
        } while (key_out[0] == '-');
        OPENSSL_cleanse(raw, sizeof raw);
        key = key_out;
    }
    size_t kn = strlen(key);
    if (kn < 16 || kn > KEY_LINE_MAX ||
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                    "vwxyz0123456789-_.~+/=") != kn)
        return util_errf(err, UTIL_EINVAL,
                         "an API key is 16 to %d printable characters without spaces",
                         KEY_LINE_MAX);
    uint8_t d[32];
    crypto_sha256(key, kn, d);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    int n = snprintf(line, SERVE_KEY_LINE_MAX, "sha256:%s owner=%s %s=%s", hex, owner,
                     strcmp(field, "role") ? "scopes" : "role", value);
    if (n < 0 || n > KEY_LINE_MAX) return util_errf(err, UTIL_EINVAL, "owner or scopes too long");
    /* check it the way the service will read it */
    char copy[SERVE_KEY_LINE_MAX];
    memcpy(copy, line, (size_t)n + 1);
    serve_key k;
    int rc = parse_key_line("", 0, copy, &k, err);
    if (rc && !strncmp(err->msg, ":0: ", 4))
        memmove(err->msg, err->msg + 4, strlen(err->msg + 4) + 1);
    return rc;
}

int serve_load_keys(server *sv, util_err *err)
{
    const char *file = sv->o.api_keys_file;
    struct serve_front *f = sv->front;
    FILE *in = fopen(file, "r");
    if (!in) return util_errf(err, UTIL_EINVAL, "%s: %s", file, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(in), &st) < 0)
        rc = util_errf(err, UTIL_EIO, "%s: %s", file, strerror(errno));
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        rc = util_errf(err, UTIL_EINVAL,
                       "%s: mode %04o lets other users change the keys: chmod go-w %s", file,
                       (unsigned)(st.st_mode & 07777), file);
    else if (st.st_uid != geteuid() && st.st_uid != 0)
        rc = util_errf(err, UTIL_EINVAL,
                       "%s: owned by uid %u, neither this user (%u) nor root: another user "
                       "could change the keys",
                       file, (unsigned)st.st_uid, (unsigned)geteuid());
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = util_errf(err, UTIL_EINVAL, "%s:%d: a NUL byte in the line", file, lineno);
            break;
        }
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (n > KEY_LINE_MAX) {
            rc = util_errf(err, UTIL_EINVAL, "%s:%d: line of %zu characters, over %d", file, lineno,
                           n, KEY_LINE_MAX);
            break;
        }
        if (!n || line[0] == '#') continue;
        serve_key k;
        if ((rc = parse_key_line(file, lineno, line, &k, err))) break;
        for (size_t i = 0; i < f->n_keys && !rc; i++)
            if (!memcmp(f->keys[i].digest, k.digest, 32))
                rc = util_errf(err, UTIL_EINVAL, "%s:%d: the same key as an earlier line", file,
                               lineno);
        if (rc) break;
        serve_key *nk = realloc(f->keys, (f->n_keys + 1) * sizeof *nk);
        if (!nk) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        f->keys = nk;
        f->keys[f->n_keys++] = k;
    }
    free(line);
    fclose(in);
    if (!rc && !f->n_keys && !sv->o.state_url)
        rc = util_errf(err, UTIL_EINVAL, "%s: no API keys", file);
    sv->n_file_keys = f->n_keys;
    return rc;
}

int serve_keys_set(server *sv, json_t *arr, util_err *err)
{
    struct serve_front *f = sv->front;
    size_t n = json_array_size(arr), i;
    serve_key *keys = malloc((sv->n_file_keys + n + 1) * sizeof *keys), k;
    if (!keys) return util_errf(err, UTIL_ENOMEM, "out of memory");
    pthread_mutex_lock(&sv->lock);
    if (sv->n_file_keys) memcpy(keys, f->keys, sv->n_file_keys * sizeof *keys);
    pthread_mutex_unlock(&sv->lock);
    size_t m = sv->n_file_keys;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char line[KEY_LINE_MAX + 1];
        util_err kerr = {0};
        snprintf(line, sizeof line, "%s", json_string_value(json_object_get(v, "line")));
        if (parse_key_line("state", (int)i + 1, line, &k, &kerr)) {
            fprintf(stderr, "cointrail: key skipped: %s\n", kerr.msg);
            continue;
        }
        keys[m++] = k;
    }
    pthread_mutex_lock(&sv->lock);
    serve_key *old = f->keys;
    f->keys = keys;
    f->n_keys = m;
    pthread_mutex_unlock(&sv->lock);
    free(old);
    return 0;
}

/* ---- who a request is ---- */

/* Who presents the request's key (X-API-Key, or Authorization with the Bearer scheme in any
 * case): 1 with *who filled, 0 if there is no key or no key matches. The presented key is
 * hashed and its digest compared with every stored digest in constant time (CRYPTO_memcmp, no
 * early exit), so neither the time nor the key file reveals a key. */
int serve_key_lookup(server *sv, struct MHD_Connection *c, serve_caller *who)
{
    memset(who, 0, sizeof *who);
    if (sv->o.insecure_no_auth) { /* one anonymous owner (""); acting for others needs a key */
        who->scopes = SERVE_SCOPE_READ | SERVE_SCOPE_SCREEN | SERVE_SCOPE_WATCH;
        return 1;
    }
    const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!k && a && !strncasecmp(a, "Bearer ", 7)) k = a + 7;
    if (!k) return 0;
    uint8_t d[32];
    crypto_sha256(k, strlen(k), d);
    const struct serve_front *f = sv->front;
    /* with --state the keys are replaced while serving (serve_keys_set) */
    if (sv->st) pthread_mutex_lock(&sv->lock);
    size_t hit = f->n_keys;
    for (size_t i = 0; i < f->n_keys; i++)
        if (!CRYPTO_memcmp(d, f->keys[i].digest, 32)) hit = i;
    int found = hit < f->n_keys;
    if (found) *who = f->keys[hit].who;
    if (sv->st) pthread_mutex_unlock(&sv->lock);
    return found;
}

/* The scope a route needs (0: none). */
unsigned serve_scope_of(int route)
{
    switch (route) {
    case R_METRICS:
    case R_ADDRESS:
    case R_TX:
    case R_ENTITY:
    case R_LABELS:
    case R_RULES:
        return SERVE_SCOPE_READ;
    case R_SCREEN_ADDRESS:
    case R_SCREEN_TX:
    case R_SCREEN_BATCH:
    case R_TRACE:
        return SERVE_SCOPE_SCREEN;
    case R_SEARCH:
    case R_GRAPH:
    case R_CASES: /* changes need SERVE_SCOPE_WRITE: serve.c */
        return SERVE_SCOPE_READ;
    case R_WATCHLISTS:
    case R_ALERTS:
        return SERVE_SCOPE_WATCH;
    default:
        return 0;
    }
}

const char *serve_scope_name(unsigned scope)
{
    return scope == SERVE_SCOPE_READ     ? "read"
           : scope == SERVE_SCOPE_SCREEN ? "screen"
           : scope == SERVE_SCOPE_WATCH  ? "watch"
           : scope == SERVE_SCOPE_WRITE  ? "write"
                                         : "admin";
}
