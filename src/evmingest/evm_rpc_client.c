/* A node's JSON-RPC, part 1: the HTTP client (libcurl) with retries on transient
 * failures. The answers become ethereum-etl rows in evm_rpc_rows.c; the import that follows
 * the head is evm_rpc.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evm_rpc_int.h"

/* ------------------------------------------------------------------ HTTP client */

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
    util_buf *b = ctx;
    /* a block with full txs is a few MB at most; refuse a runaway answer */
    if (b->len + sz * n > (size_t)512 << 20) return 0;
    return util_buf_append(b, p, sz * n) ? 0 : sz * n;
}

int evm_rpc_open(evm_rpc **out, const char *url, const evm_rpc_opts *o, util_err *err)
{
    *out = NULL;
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return util_errf(err, UTIL_EINVAL, "--rpc '%s': not an http:// or https:// URL", url);
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return util_errf(err, UTIL_EIO, "libcurl failed to initialise");
    evm_rpc *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(url)) || !(c->curl = curl_easy_init()) ||
        !(c->hdr = curl_slist_append(NULL, "Content-Type: application/json"))) {
        evm_rpc_close(c);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    c->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 30000;
    c->retries = !o || !o->retries ? 5 : o->retries < 0 ? 0 : o->retries;
    c->backoff_ms = o && o->backoff_ms > 0 ? o->backoff_ms : 250;
    c->next_id = 1;
    *out = c;
    return 0;
}

void evm_rpc_close(evm_rpc *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->hdr);
    util_buf_free(&c->body);
    free(c->url);
    free(c);
    curl_global_cleanup();
}

int evm_rpc_last_code(const evm_rpc *c)
{
    return c->last_code;
}

void evm_rpc_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts))
        ;
}

/* Node answers that a later attempt may not repeat: a node still importing the block, a
 * load balancer in front of nodes at different heights, a rate limit. */
static int transient_rpc_error(int code, const char *msg)
{
    if (code == -32005) return 1; /* limit exceeded */
    if (code != -32000 || !msg) return 0;
    return strstr(msg, "header not found") || strstr(msg, "unknown block") ||
           strstr(msg, "not found") || strstr(msg, "busy") || strstr(msg, "timeout");
}

/* One attempt. 0 with *result; 1 transient (err filled); negative permanent. */
static int attempt(evm_rpc *c, const char *body, const char *what, json_t **result, util_err *err)
{
    c->body.len = 0;
    c->last_code = 0;
    CURL *cu = c->curl;
    curl_easy_reset(cu);
    curl_easy_setopt(cu, CURLOPT_URL, c->url);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, c->hdr);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &c->body);
    CURLcode cc = curl_easy_perform(cu);
    c->calls++;
    if (cc != CURLE_OK) {
        util_errf(err, UTIL_EIO, "%s: %s (%s)", what, curl_easy_strerror(cc), c->url);
        switch (cc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_COULDNT_RESOLVE_HOST:
            return 1;
        default:
            return UTIL_EIO;
        }
    }
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        int n = (int)(c->body.len < 200 ? c->body.len : 200);
        util_errf(err, UTIL_EIO, "%s: HTTP %ld from %s: %.*s", what, status, c->url, n,
                  (const char *)c->body.data);
        return status >= 500 || status == 429 ? 1 : UTIL_EIO;
    }
    json_error_t je;
    json_t *doc = json_loadb((const char *)c->body.data, c->body.len, 0, &je);
    if (!doc) {
        /* a body cut short is a dropped connection seen late */
        util_errf(err, UTIL_EIO, "%s: the node's answer is not JSON (%s at byte %d)", what, je.text,
                  je.position);
        return 1;
    }
    json_t *e = json_object_get(doc, "error");
    if (e && !json_is_null(e)) {
        c->last_code = (int)json_integer_value(json_object_get(e, "code"));
        const char *m = json_string_value(json_object_get(e, "message"));
        util_errf(err, UTIL_EIO, "%s: the node answered error %d: %s", what, c->last_code,
                  m ? m : "(no message)");
        int t = transient_rpc_error(c->last_code, m);
        json_decref(doc);
        return t ? 1 : UTIL_EIO;
    }
    json_t *res = json_object_get(doc, "result");
    if (!res) {
        json_decref(doc);
        util_errf(err, UTIL_EIO, "%s: the node's answer has neither result nor error", what);
        return UTIL_EIO;
    }
    *result = json_incref(res);
    json_decref(doc);
    return 0;
}

int evm_rpc_call(evm_rpc *c, const char *method, json_t *params, json_t **result, util_err *err)
{
    *result = NULL;
    if (!params) return util_errf(err, UTIL_ENOMEM, "out of memory");
    json_t *req = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", (json_int_t)c->next_id++,
                            "method", method, "params", params);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    char *ps = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(req);
    if (!body || !ps) {
        free(body);
        free(ps);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    char what[256];
    snprintf(what, sizeof what, "%s %.200s", method, ps);
    int rc = 1;
    long wait = c->backoff_ms;
    for (int i = 0; rc == 1; i++) {
        rc = attempt(c, body, what, result, err);
        if (rc != 1) break;
        if (i == c->retries) {
            util_err_prefix(err, "gave up after %d attempts", i + 1);
            rc = UTIL_EIO;
            break;
        }
        evm_rpc_sleep_ms(wait);
        wait = wait * 2 > 5000 ? 5000 : wait * 2;
    }
    free(body);
    free(ps);
    return rc;
}
