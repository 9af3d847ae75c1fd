/* serve: the webhook allow-list and one delivery attempt (see serve_int.h, docs/screening.md).
 *
 * An allow entry is an origin (scheme, host, explicit port) and a path prefix. A webhook URL is
 * parsed with libcurl's URL parser, the same one that later sends the request, and allowed only
 * if its scheme, host and port equal an entry's and its path lies under the entry's path; user
 * names, passwords and fragments are refused, so nothing in the URL text can move the request
 * to another host. The request is made from the parsed handle, never from the text.
 *
 * Private, loopback and link-local destinations are refused at connect time, on the address
 * actually connected to (CURLOPT_OPENSOCKETFUNCTION), unless the matching entry names an IP
 * literal: a hostname's answer can change between the check and the connect (DNS rebinding),
 * so a name, even one the operator wrote, only ever reaches public addresses. An internal
 * receiver is allowed by writing its address (http://10.1.2.3:9000/). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "serve_int.h"

typedef struct allow_entry {
    char scheme[8];
    char host[256]; /* as the URL parser gives it: IPv4 dotted, IPv6 in brackets */
    unsigned port;
    char path[512];
    int literal; /* host is an IP address */
} allow_entry;

struct serve_hook_allow {
    allow_entry *e;
    size_t n;
};

typedef struct url_parts {
    char scheme[8], host[256], path[512];
    unsigned port;
} url_parts;

static int host_is_literal(const char *h)
{
    struct in_addr a;
    return h[0] == '[' || inet_pton(AF_INET, h, &a) == 1;
}

/* Parse text into u (new handle, caller frees) and parts; NULL or the reason it is refused. */
static const char *parse(const char *text, CURLU **u, url_parts *p, int need_port)
{
    *u = curl_url();
    if (!*u) return "out of memory";
    char *s = NULL;
    if (!text || !*text || strlen(text) >= 1024 || curl_url_set(*u, CURLUPART_URL, text, 0))
        return "not a valid absolute URL";
    if (curl_url_get(*u, CURLUPART_SCHEME, &s, 0) || (strcmp(s, "http") && strcmp(s, "https"))) {
        curl_free(s);
        return "only http and https URLs";
    }
    snprintf(p->scheme, sizeof p->scheme, "%s", s);
    curl_free(s);
    s = NULL;
    if (curl_url_get(*u, CURLUPART_USER, &s, 0) != CURLUE_NO_USER ||
        curl_url_get(*u, CURLUPART_PASSWORD, &s, 0) != CURLUE_NO_PASSWORD ||
        curl_url_get(*u, CURLUPART_OPTIONS, &s, 0) != CURLUE_NO_OPTIONS) {
        curl_free(s);
        return "a user name or password ('@') is not allowed in the URL";
    }
    if (curl_url_get(*u, CURLUPART_FRAGMENT, &s, 0) != CURLUE_NO_FRAGMENT) {
        curl_free(s);
        return "a fragment ('#') is not allowed in the URL";
    }
    if (curl_url_get(*u, CURLUPART_HOST, &s, 0) || !*s || strlen(s) >= sizeof p->host) {
        curl_free(s);
        return "the URL has no host";
    }
    snprintf(p->host, sizeof p->host, "%s", s);
    curl_free(s);
    s = NULL;
    if (curl_url_get(*u, CURLUPART_PORT, &s, need_port ? 0 : CURLU_DEFAULT_PORT)) {
        curl_free(s);
        return "name the port explicitly (http://HOST:PORT/PATH)";
    }
    p->port = (unsigned)strtoul(s, NULL, 10);
    curl_free(s);
    s = NULL;
    if (curl_url_get(*u, CURLUPART_PATH, &s, 0) || s[0] != '/' || strlen(s) >= sizeof p->path) {
        curl_free(s);
        return "bad path";
    }
    snprintf(p->path, sizeof p->path, "%s", s);
    curl_free(s);
    return NULL;
}

int serve_hook_allow_new(const char *const *entries, size_t n, serve_hook_allow **out,
                         util_err *err)
{
    *out = NULL;
    serve_hook_allow *a = calloc(1, sizeof *a);
    if (!a || !(a->e = calloc(n ? n : 1, sizeof *a->e))) {
        free(a);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        CURLU *u;
        url_parts p;
        const char *why = parse(entries[i], &u, &p, 1);
        char *q = NULL;
        if (!why && curl_url_get(u, CURLUPART_QUERY, &q, 0) != CURLUE_NO_QUERY)
            why = "an allow entry has no query";
        curl_free(q);
        curl_url_cleanup(u);
        if (why) {
            serve_hook_allow_free(a);
            return util_errf(err, UTIL_EINVAL,
                             "--webhook-allow '%s': %s (expected scheme://HOST:PORT/PATH-PREFIX, "
                             "e.g. http://127.0.0.1:9000/hooks/)",
                             entries[i], why);
        }
        allow_entry *e = &a->e[a->n++];
        memcpy(e->scheme, p.scheme, sizeof e->scheme);
        memcpy(e->host, p.host, sizeof e->host);
        memcpy(e->path, p.path, sizeof e->path);
        e->port = p.port;
        e->literal = host_is_literal(p.host);
    }
    *out = a;
    return 0;
}

void serve_hook_allow_free(serve_hook_allow *a)
{
    if (!a) return;
    free(a->e);
    free(a);
}

/* The path is under prefix: equal, or continuing it at a segment boundary ("/hooks" covers
 * "/hooks/x", not "/hooksevil"). */
static int path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n)) return 0;
    return prefix[n - 1] == '/' || path[n] == 0 || path[n] == '/';
}

static const char *match(const serve_hook_allow *a, const char *url, CURLU **u,
                         const allow_entry **hit)
{
    url_parts p;
    const char *why = parse(url, u, &p, 0);
    if (why) return why;
    for (size_t i = 0; a && i < a->n; i++) {
        const allow_entry *e = &a->e[i];
        if (!strcmp(e->scheme, p.scheme) && !strcasecmp(e->host, p.host) && e->port == p.port &&
            path_under(p.path, e->path)) {
            *hit = e;
            return NULL;
        }
    }
    return "scheme, host, port and path do not match an entry of the service's --webhook-allow";
}

const char *serve_hook_check(const serve_hook_allow *a, const char *url)
{
    CURLU *u = NULL;
    const allow_entry *hit = NULL;
    const char *why = match(a, url, &u, &hit);
    curl_url_cleanup(u);
    return why;
}

static int private_v4(uint32_t a)
{
    return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xa9fe ||
           (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == (100u << 2 | 1) ||
           (a >> 28) >= 0xe; /* 100.64/10 carrier NAT; 224/4 multicast and 240/4 reserved */
}

int serve_hook_private_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return private_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6) return 1;
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const uint8_t zero[16] = {0};
    if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
        return private_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 |
                          b[15]);
    if (!memcmp(b, zero, 15)) return 1; /* :: and ::1 */
    return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff;
}

typedef struct conn_ctx {
    int literal;
    char refused[INET6_ADDRSTRLEN];
} conn_ctx;

static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    conn_ctx *cx = arg;
    (void)purpose;
    if (!cx->literal && serve_hook_private_addr(&a->addr)) {
        const void *in = a->family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr;
        if (!inet_ntop(a->family, in, cx->refused, sizeof cx->refused))
            snprintf(cx->refused, sizeof cx->refused, "?");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(void *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

int serve_hook_post(const serve_hook_allow *a, const char *url, const char *body,
                    const char *idem_key, long timeout_ms, long *status, char *why, size_t whyn)
{
    *status = 0;
    CURLU *u = NULL;
    const allow_entry *hit = NULL;
    const char *no = match(a, url, &u, &hit);
    if (no) {
        curl_url_cleanup(u);
        snprintf(why, whyn, "not allowed: %s", no);
        return SERVE_HOOK_NOT_ALLOWED;
    }
    conn_ctx cx = {hit->literal, ""};
    char idem[160];
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", idem_key);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = hdr ? curl_slist_append(hdr, idem) : NULL;
    CURL *cu = curl_easy_init();
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (cu && h2) {
        curl_easy_setopt(cu, CURLOPT_CURLU, u);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(cu, CURLOPT_USERAGENT, "cointrail-webhook");
        curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(cu, CURLOPT_PROXY, ""); /* no proxy from the environment */
        curl_easy_setopt(cu, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(cu, CURLOPT_OPENSOCKETDATA, &cx);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
        cc = curl_easy_perform(cu);
        if (cc == CURLE_OK) curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(hdr);
    if (cu) curl_easy_cleanup(cu);
    curl_url_cleanup(u);
    if (cc == CURLE_OK) return 0;
    if (cx.refused[0])
        snprintf(why, whyn,
                 "refused: the host resolves to %s, a private, loopback or link-local address "
                 "(allow an internal receiver by its IP address)",
                 cx.refused);
    else
        snprintf(why, whyn, "%s", curl_easy_strerror(cc));
    return SERVE_HOOK_FAILED;
}
