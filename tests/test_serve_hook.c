/* test_serve_hook: the webhook allow-list (src/serve/serve_hook.c). Allow entries are origins
 * with a path prefix (bad entries refused); URLs are matched by parsed scheme, host, port and
 * path, so userinfo, port and host tricks, path escapes and other schemes are refused; the
 * address check at connect time knows every private, loopback and link-local range. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "serve/serve_int.h"

static int priv(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s4->sin_addr);
    }
    return serve_hook_private_addr((struct sockaddr *)&ss);
}

/* Made API keys: 43 base64url digits, never beginning with '-' (a command line takes such a
 * key for an option; 1 in 64 did), and the line holds the key's SHA-256. 4,000 keys: with
 * 1 in 64 beginning with '-', the chance that none would is 2e-28. */
static void test_made_keys(void)
{
    util_err err = {0};
    char key[SERVE_KEY_MAX], line[SERVE_KEY_LINE_MAX];
    int dash = 0, bad_len = 0;
    for (int i = 0; i < 4000; i++) {
        CHECK(serve_key_make(NULL, "t", "read", key, line, &err) == 0);
        dash += key[0] == '-';
        bad_len +=
            strlen(key) != 43 ||
            strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != 43;
    }
    CHECK(dash == 0);
    CHECK(bad_len == 0);
    /* a given key keeps its first character, '-' included */
    CHECK(serve_key_make("-abcdefghijklmnopq", "t", "read", key, line, &err) == 0);
    CHECK(!strncmp(line, "sha256:", 7));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    util_err err = {0};
    test_made_keys();
    serve_hook_allow *a = NULL;

    /* entries that would leave the host or port open are refused, naming the entry */
    static const char *const bad[] = {"",
                                      "http://",
                                      "http://127.0.0.1:",
                                      "http://127.0.0.1/",
                                      "https://hooks.example.com/",
                                      "http://u@127.0.0.1:80/",
                                      "http://u:p@127.0.0.1:80/",
                                      "ftp://127.0.0.1:21/",
                                      "file:///etc/passwd",
                                      "http://127.0.0.1:80/?a=1",
                                      "http://127.0.0.1:80/#x",
                                      "127.0.0.1:80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *one[] = {bad[i]};
        memset(&err, 0, sizeof err);
        CHECK(serve_hook_allow_new(one, 1, &a, &err) != 0 && !a);
        CHECK(strstr(err.msg, "--webhook-allow") != NULL);
    }

    static const char *const allow[] = {"http://127.0.0.1:41111/hooks",
                                        "https://hooks.example.com:443/", "http://[::1]:8080/v6/"};
    CHECK(serve_hook_allow_new(allow, 3, &a, &err) == 0 && a);
    static const char *const yes[] = {
        "http://127.0.0.1:41111/hooks",        "http://127.0.0.1:41111/hooks/a?x=1",
        "http://127.0.0.1:41111/hooks/",       "https://hooks.example.com/anything",
        "https://HOOKS.example.com:443/x",     "http://[::1]:8080/v6/x",
        "http://127.0.0.1:41111/x/../hooks/y", "http://0x7f.0.0.1:41111/hooks"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        const char *why = serve_hook_check(a, yes[i]);
        if (why) fprintf(stderr, "%s: %s\n", yes[i], why);
        CHECK(why == NULL);
    }
    static const char *const no[] = {
        "http://127.0.0.1:41111@127.0.0.1:41112/hooks", /* the review's SSRF */
        "http://127.0.0.1:41111@10.0.0.5:8500/hooks",
        "http://x:y@127.0.0.1:41111/hooks",
        "http://127.0.0.1:411119/hooks",
        "http://127.0.0.1:41112/hooks",
        "http://127.0.0.1/hooks",
        "http://localhost:41111/hooks",
        "http://127.0.0.2:41111/hooks",
        "http://127.0.0.1:41111/hooksevil",
        "http://127.0.0.1:41111/hooks/../admin",
        "http://127.0.0.1:41111/other",
        "https://127.0.0.1:41111/hooks",
        "http://hooks.example.com:443/",
        "https://hooks.example.com:8443/",
        "https://hooks.example.com.evil.net/",
        "https://hooks.example.com@evil.net/",
        "https://evil.net#@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "http://[::1]:8080/other",
        "http://[::ffff:127.0.0.1]:41111/hooks",
        "gopher://127.0.0.1:41111/hooks",
        "file:///etc/passwd",
        "",
        "http://",
        "not a url",
        "http://127.0.0.1:41111/hooks\r\nX: y"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        const char *why = serve_hook_check(a, no[i]);
        if (!why) fprintf(stderr, "allowed but should not be: %s\n", no[i]);
        CHECK(why != NULL);
    }
    CHECK(serve_hook_check(NULL, "http://127.0.0.1:41111/hooks") != NULL); /* none allowed */
    serve_hook_allow_free(a);

    /* the connect-time check */
    static const char *const private_ips[] = {"127.0.0.1",
                                              "127.255.0.9",
                                              "10.1.2.3",
                                              "172.16.0.1",
                                              "172.31.255.255",
                                              "192.168.1.1",
                                              "169.254.169.254",
                                              "0.0.0.0",
                                              "100.64.0.1",
                                              "224.0.0.1",
                                              "255.255.255.255",
                                              "::1",
                                              "::",
                                              "fc00::1",
                                              "fd12:3456::1",
                                              "fe80::1",
                                              "ff02::1",
                                              "::ffff:127.0.0.1",
                                              "::ffff:169.254.169.254",
                                              "64:ff9b::a00:1"};
    for (size_t i = 0; i < sizeof private_ips / sizeof *private_ips; i++) {
        if (!priv(private_ips[i])) fprintf(stderr, "not private: %s\n", private_ips[i]);
        CHECK(priv(private_ips[i]));
    }
    static const char *const public_ips[] = {"8.8.8.8",         "172.32.0.1",    "172.15.255.255",
                                             "192.169.0.1",     "100.128.0.1",   "1.1.1.1",
                                             "2606:4700::1111", "::ffff:8.8.8.8"};
    for (size_t i = 0; i < sizeof public_ips / sizeof *public_ips; i++) {
        if (priv(public_ips[i])) fprintf(stderr, "not public: %s\n", public_ips[i]);
        CHECK(!priv(public_ips[i]));
    }
    curl_global_cleanup();
    return CHECK_DONE();
}
