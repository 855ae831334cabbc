#include "cli/commands.h"

#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

void sl_cli_errorf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sealift %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int sl_cli_exit_code(int rc)
{
    switch (rc) {
    case SL_EINVAL:
    case SL_EUNSUPPORTED:
    case SL_ETOOBIG:
        return SL_EXIT_USAGE;
    default:
        return SL_EXIT_REMOTE;
    }
}
