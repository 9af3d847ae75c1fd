/* cointrail serve: the screening HTTP service (docs/screening.md, docs/openapi.yaml). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../serve/serve.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail serve --db DIR [--listen HOST:PORT] (--api-keys FILE | --insecure-no-auth)\n"
    "           [--rules FILE] [--threads N] [--max-body BYTES] [--max-batch N]\n"
    "           [--poll-ms MS] [--timeout S] [--port-file FILE] [--cache N]\n"
    "           [--request-deadline S] [--max-connections N] [--per-ip-connections N]\n"
    "           [--max-expensive N] [--max-answer BYTES] [--max-seeds N]\n"
    "           [--webhook-allow SCHEME://HOST:PORT/PATH]... [--webhook-attempts N]\n"
    "           [--webhook-workers N] [--max-watch-items N] [--max-watchlists N]\n"
    "           [--web DIR] [--state URL [--replica-id NAME] [--delivery-lease-ms MS]]\n"
    "  defaults: 127.0.0.1:8080, a thread per core (at most 256), 1 MiB bodies, 1000 items\n"
    "            per batch, the store checked for new blocks every 200 ms, idle connections\n"
    "            closed after 10 s, 16384 screening answers cached per store state (0: none);\n"
    "            a request must arrive whole within 10 s; 4096 connections, 64 per client\n"
    "            address; threads - 1 screenings or traces at once (more: 503); answers up to\n"
    "            8 MiB; traces from up to 10000 outputs; no webhooks allowed (an allowed URL\n"
    "            has the scheme, host and port of an entry and a path under its path;\n"
    "            --webhook-prefix is the same option), 15 attempts per alert, 4 deliveries at\n"
    "            once, 100000 watched items in all, 64 watchlists per owner; the web UI at /\n"
    "            from the files built into the program (--web DIR: from the repository's\n"
    "            web/ directory instead, read at each request, for work on the UI)\n";

#define MAX_ALLOW 16

int cmd_serve(int argc, char **argv)
{
    serve_opts o;
    serve_default_opts(&o);
    const char *allow[MAX_ALLOW];
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"api-keys", required_argument, 0, 'k'},
                                         {"insecure-no-auth", no_argument, 0, 'I'},
                                         {"rules", required_argument, 0, 'r'},
                                         {"threads", required_argument, 0, 't'},
                                         {"max-body", required_argument, 0, 'b'},
                                         {"max-batch", required_argument, 0, 'B'},
                                         {"poll-ms", required_argument, 0, 'p'},
                                         {"timeout", required_argument, 0, 'T'},
                                         {"webhook-allow", required_argument, 0, 'w'},
                                         {"webhook-prefix", required_argument, 0, 'w'},
                                         {"webhook-attempts", required_argument, 0, 'A'},
                                         {"webhook-workers", required_argument, 0, 'W'},
                                         {"max-watch-items", required_argument, 0, 'm'},
                                         {"max-watchlists", required_argument, 0, 'L'},
                                         {"port-file", required_argument, 0, 'P'},
                                         {"cache", required_argument, 0, 'C'},
                                         {"request-deadline", required_argument, 0, 'D'},
                                         {"max-connections", required_argument, 0, 'M'},
                                         {"per-ip-connections", required_argument, 0, 'i'},
                                         {"max-expensive", required_argument, 0, 'x'},
                                         {"max-answer", required_argument, 0, 'a'},
                                         {"max-seeds", required_argument, 0, 's'},
                                         {"web", required_argument, 0, 'U'},
                                         {"state", required_argument, 0, 'S'},
                                         {"replica-id", required_argument, 0, 'R'},
                                         {"delivery-lease-ms", required_argument, 0, 'E'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int numeric = strchr("tbBpTAWmL", ch) != NULL;
        if (numeric && (cli_parse_u64(optarg, &v) || v < 1 || v > (1u << 30))) {
            fprintf(stderr, "cointrail: --%s: expected a positive number, not '%s'\n",
                    ch == 't'   ? "threads"
                    : ch == 'b' ? "max-body"
                    : ch == 'B' ? "max-batch"
                    : ch == 'p' ? "poll-ms"
                    : ch == 'A' ? "webhook-attempts"
                    : ch == 'W' ? "webhook-workers"
                    : ch == 'm' ? "max-watch-items"
                    : ch == 'L' ? "max-watchlists"
                                : "timeout",
                    optarg);
            return CLI_USAGE;
        }
        /* upper bounds: --threads 100000 would spend minutes creating threads */
        static const struct {
            char ch;
            const char *name;
            uint64_t hi;
        } caps[] = {{'t', "threads", SERVE_MAX_THREADS},
                    {'p', "poll-ms", 60000},
                    {'T', "timeout", 3600},
                    {'B', "max-batch", 100000},
                    {'D', "request-deadline", 3600},
                    {'M', "max-connections", 65536},
                    {'i', "per-ip-connections", 65536},
                    {'x', "max-expensive", SERVE_MAX_THREADS},
                    {'a', "max-answer", 1u << 30},
                    {'s', "max-seeds", 10000000}};
        for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
            if (ch == caps[i].ch && (cli_parse_u64(optarg, &v) || v < 1 || v > caps[i].hi)) {
                fprintf(stderr, "cointrail: --%s: expected 1..%llu, not '%s'\n", caps[i].name,
                        (unsigned long long)caps[i].hi, optarg);
                return CLI_USAGE;
            }
        switch (ch) {
        case 'D':
            o.request_deadline_s = (unsigned)v;
            break;
        case 'M':
            o.max_connections = (unsigned)v;
            break;
        case 'i':
            o.per_ip_connections = (unsigned)v;
            break;
        case 'x':
            o.max_expensive = (unsigned)v;
            break;
        case 'a':
            o.max_answer = (size_t)v;
            break;
        case 's':
            o.max_seeds = (size_t)v;
            break;
        case 'd':
            o.db = optarg;
            break;
        case 'U':
            o.web_dir = optarg;
            break;
        case 'S':
            o.state_url = optarg;
            break;
        case 'R':
            o.replica_id = optarg;
            break;
        case 'E': {
            uint64_t v;
            if (cli_parse_u64(optarg, &v) || v < 100 || v > 3600000) {
                fprintf(stderr, "cointrail: --delivery-lease-ms: '%s' is not 100..3600000\n",
                        optarg);
                return CLI_USAGE;
            }
            o.lease_ms = (unsigned)v;
            break;
        }
        case 'l':
            o.listen = optarg;
            break;
        case 'k':
            o.api_keys_file = optarg;
            break;
        case 'I':
            o.insecure_no_auth = 1;
            break;
        case 'r':
            o.rules_file = optarg;
            break;
        case 't':
            o.threads = (unsigned)v;
            break;
        case 'b':
            o.max_body = (size_t)v;
            break;
        case 'B':
            o.max_batch = (size_t)v;
            break;
        case 'p':
            o.poll_ms = (unsigned)v;
            break;
        case 'T':
            o.timeout_s = (unsigned)v;
            break;
        case 'w':
            if (o.n_webhook_allow == MAX_ALLOW) {
                fprintf(stderr, "cointrail: at most %d --webhook-allow\n", MAX_ALLOW);
                return CLI_USAGE;
            }
            allow[o.n_webhook_allow++] = optarg;
            break;
        case 'A':
            o.webhook_attempts = (unsigned)v;
            break;
        case 'W':
            if (v > 64) {
                fprintf(stderr, "cointrail: --webhook-workers: at most 64\n");
                return CLI_USAGE;
            }
            o.webhook_workers = (unsigned)v;
            break;
        case 'm':
            o.max_watch_items = (size_t)v;
            break;
        case 'L':
            o.max_watchlists = (unsigned)v;
            break;
        case 'P':
            o.port_file = optarg;
            break;
        case 'C':
            if (cli_parse_u64(optarg, &v) || v > (1u << 24)) {
                fprintf(stderr, "cointrail: --cache: expected 0..16777216 answers, not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            o.cache_slots = (size_t)v;
            break;
        default:
            return cli_usage(usage, ch == 'h');
        }
    }
    o.webhook_allow = allow;
    if (!o.db || optind != argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    /* serve_run waits for these with sigwait: block them before any thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    util_err err = {0};
    if (serve_run(&o, &err)) return cli_fail(&err);
    return CLI_OK;
}
