#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sl_err_set(struct sl_err *err, int code, enum sl_err_class klass, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        /* one line: newlines from remote bodies would break logs and condition messages */
        for (char *p = err->msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        err->klass = klass;
        err->code = code;
        err->http_status = 0; /* callers that have one set it after this call */
    }
    return code;
}

void sl_err_prefix(struct sl_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[SL_ERR_MSG_MAX];
    char old[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}

void sl_err_clear(struct sl_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

const char *sl_err_code_name(int code)
{
    switch (code) {
    case SL_OK:
        return "ok";
    case SL_ENOTFOUND:
        return "not found";
    case SL_ECONFLICT:
        return "conflict";
    case SL_EEXISTS:
        return "already exists";
    case SL_EGONE:
        return "gone";
    case SL_EINVAL:
        return "invalid";
    case SL_ERETRY:
        return "transient";
    case SL_EAUTH:
        return "unauthorized";
    case SL_ETOOBIG:
        return "too big";
    case SL_EDIGEST:
        return "digest mismatch";
    case SL_EUNSUPPORTED:
        return "unsupported";
    case SL_ECANCELED:
        return "canceled";
    default:
        return "error";
    }
}
