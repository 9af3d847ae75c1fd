/* cointrail trace --demix: the demixing options and the run (docs/tracing.md, "Demixing").
 * cmd_trace.c parses the shared options and the seeds and hands over here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../trace/trace.h"
#include "cli.h"

int cli_demix_opt(trace_demix_opts *d, const char *name, const char *val)
{
    char *end;
    errno = 0;
    if (!strcmp(name, "min-confidence")) {
        double v = strtod(val, &end);
        if (errno || *end || end == val || !(v > 0 && v <= 1)) {
            fprintf(stderr, "cointrail: --min-confidence must be a number in (0, 1], not '%s'\n",
                    val);
            return -1;
        }
        d->min_confidence = v;
    } else if (!strcmp(name, "swap-fee-max")) {
        double v = strtod(val, &end);
        if (errno || *end || end == val || !(v >= 0 && v < 1)) {
            fprintf(stderr, "cointrail: --swap-fee-max must be a share in [0, 1), not '%s'\n", val);
            return -1;
        }
        d->swap_fee_max = v;
    } else {
        unsigned long v = strtoul(val, &end, 10);
        unsigned long max = !strcmp(name, "remix-depth") ? 10 : 10000;
        if (errno || *end || end == val || val[0] == '-' || v > max) {
            fprintf(stderr, "cointrail: --%s must be a whole number 0..%lu, not '%s'\n", name, max,
                    val);
            return -1;
        }
        if (!strcmp(name, "remix-depth"))
            d->remix_depth = (uint32_t)v;
        else
            d->swap_window = (uint32_t)v;
    }
    return 0;
}

int cli_demix_run(const cli_ctx *ctx, const trace_seeds *seeds, trace_demix_opts *d,
                  const trace_opts *o, const char *format)
{
    util_err err = {0};
    if (o->direction != TRACE_FORWARD) {
        fprintf(stderr, "cointrail: --demix follows the thief forward: --direction backward "
                        "cannot be used with it\n");
        return CLI_USAGE;
    }
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "cointrail: --demix writes text or json, not '%s'\n", format);
        return CLI_USAGE;
    }
    d->max_outputs = o->max_outputs;
    d->until = o->until;
    d->follow_mixers = o->follow_mixers;
    trace_demix_result r;
    int rc = trace_demix(ctx->s, ctx->labels, ctx->clusters, seeds, d, &r, &err);
    if (rc) return cli_fail(&err);
    if (r.partial)
        fprintf(stderr,
                "cointrail: warning: demix stopped at the budget of %llu visited outputs "
                "(--max-outputs): what lies beyond is not in the answer\n",
                (unsigned long long)d->max_outputs);
    if (!strcmp(format, "json")) {
        json_t *doc = NULL;
        rc = trace_demix_json(&r, &doc, &err);
        if (!rc) {
            cli_print_json(doc);
            json_decref(doc);
        }
    } else
        rc = trace_demix_write_text(&r, stdout, &err);
    trace_demix_free(&r);
    return rc ? cli_fail(&err) : CLI_OK;
}
