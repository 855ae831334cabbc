/* Error codes and the error struct every fallible sealift function reports through.
 *
 * Functions return 0 on success, one of the named negative codes below for outcomes callers act
 * on, or SL_EFAIL for the rest. Details go into a caller-provided struct sl_err: one line, no
 * newline, never containing secret material. */
#ifndef SL_UTIL_ERR_H
#define SL_UTIL_ERR_H

#include <stddef.h>

enum {
    SL_OK = 0,
    SL_EFAIL = -1,     /* anything not listed below */
    SL_ENOTFOUND = -2, /* 404, missing file, missing key */
    SL_ECONFLICT = -3, /* 409 Conflict (stale resourceVersion) */
    SL_EEXISTS = -4,   /* 409 AlreadyExists */
    SL_EGONE = -5,     /* 410 Gone / Expired (watch too old) */
    SL_EINVAL = -6,    /* bad input: 400/422, parse errors, schema errors */
    SL_ERETRY = -7,    /* transient: 429, 5xx, connection errors; retry with backoff */
    SL_EAUTH = -8,     /* 401/403 */
    SL_ETOOBIG = -9,   /* a size cap was hit */
    SL_EDIGEST = -10,  /* content did not match its digest */
    SL_EUNSUPPORTED = -11,
    SL_ECANCELED = -12, /* shutdown requested */
};

/* Error classes: where the failure came from. */
enum sl_err_class {
    SL_ERRC_NONE = 0,
    SL_ERRC_INTERNAL,
    SL_ERRC_OS,
    SL_ERRC_INPUT,
    SL_ERRC_HTTP,
    SL_ERRC_KUBE,
    SL_ERRC_REGISTRY,
    SL_ERRC_CRYPTO,
    SL_ERRC_GIT,
    SL_ERRC_JSON,
    SL_ERRC_YAML,
    SL_ERRC_SCANNER, /* an external scanner adapter (Harbor Pluggable Scanner API) */
};

#define SL_ERR_MSG_MAX 512

struct sl_err {
    enum sl_err_class klass;
    int code;        /* the SL_E* code that was returned */
    int http_status; /* HTTP status when klass is HTTP/KUBE/REGISTRY, else 0 */
    char msg[SL_ERR_MSG_MAX];
};

/* Sets err (may be NULL) and returns code, so callers can write `return sl_err_set(...)`. */
int sl_err_set(struct sl_err *err, int code, enum sl_err_class klass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "prefix: " to the message already in err (e.g. the field or object being handled). */
void sl_err_prefix(struct sl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sl_err_clear(struct sl_err *err);

/* Short stable name of a code ("not found", "conflict", ...). Never NULL. */
const char *sl_err_code_name(int code);

#endif
