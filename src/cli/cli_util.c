#include <stdio.h>

#include "cli.h"

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

void cli_print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
}
