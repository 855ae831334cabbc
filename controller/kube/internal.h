/* Internals of controller/kube shared between its .c files and its unit tests and fuzz harness.
 * Not for use outside controller/kube and tests. The HTTP-independent parts of the client
 * (configuration parsing, URL building, error mapping, watch stream splitting) live behind these
 * functions so they can be tested without a server. */
#ifndef SL_KUBE_INTERNAL_H
#define SL_KUBE_INTERNAL_H

#include "kube/client.h"
#include "util/buf.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Response caps: lists of many objects can be large. */
#define SL_KUBE_LIST_MAX  ((size_t)256 << 20)
#define SL_KUBE_BODY_MAX  ((size_t)16 << 20)
#define SL_KUBE_EVENT_MAX ((size_t)16 << 20)

/* sl_err_set that also resets err->http_status (a reused struct sl_err must not keep the HTTP
 * status of an earlier failure). Returns code. */
int sl_kube_fail(struct sl_err *err, int code, enum sl_err_class klass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses a kubeconfig document held in memory (data need not be NUL-terminated). base_dir
 * resolves relative file paths (certificate-authority, client-certificate, client-key,
 * tokenFile); NULL means the current directory. origin names the document in error messages.
 * Returns 0, SL_EINVAL (malformed, missing current context, ...) or SL_ENOTFOUND (a referenced
 * file is missing). *out is the caller's (sl_kube_config_free). */
int sl_kube_config_parse(struct sl_kube_config **out, const char *data, size_t len,
                         const char *base_dir, const char *origin, struct sl_err *err);

/* In-cluster configuration from a service-account directory and a host/port pair (as the
 * KUBERNETES_SERVICE_HOST/PORT env vars give them). Returns 0, SL_ENOTFOUND or SL_EINVAL. */
int sl_kube_config_from_service_account(struct sl_kube_config **out, const char *dir,
                                        const char *host, const char *port, struct sl_err *err);

/* A deep copy of cfg (never NULL). */
struct sl_kube_config *sl_kube_config_dup(const struct sl_kube_config *cfg);

/* Reads a whole file (at most max_bytes) into a new NUL-terminated string. Returns 0,
 * SL_ENOTFOUND, SL_ETOOBIG or SL_EFAIL. */
int sl_kube_read_file(char **out, size_t *out_len, const char *path, size_t max_bytes,
                      struct sl_err *err);

/* Builds the path and query of a resource URL (appended to the server URL):
 *   /api/v1[/namespaces/NS]/PLURAL[/NAME][/SUBRESOURCE][?QUERY]
 *   /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME][/SUBRESOURCE][?QUERY]
 * ns is ignored for cluster-scoped resources and omitted when NULL/"". name and subresource
 * may be NULL. query is an array of key/value string pairs ending with a NULL key; pairs with a
 * NULL value are skipped; values are percent-encoded. Returns a new string. */
char *sl_kube_build_path(const struct sl_kube_resource *res, const char *ns, const char *name,
                         const char *subresource, const char *const *query);

/* Percent-encodes s for a URL path segment or query value (unreserved characters kept).
 * Returns a new string. */
char *sl_kube_url_escape(const char *s);

/* Maps a non-2xx HTTP answer to an SL_E* code and fills err (klass SL_ERRC_KUBE, http_status,
 * the Status message and details.causes when body is a Status object, else a generic text).
 * body may be NULL. Returns the code. */
int sl_kube_error_from_response(long http_status, const char *body, struct sl_err *err);

/* Splits a newline-delimited stream of watch events fed in arbitrary pieces. */
struct sl_kube_watch_splitter {
    struct sl_buf line; /* the incomplete event so far */
    sl_kube_watch_fn fn;
    void *ctx;
    int result;        /* 0 while running; SL_EGONE, SL_EINVAL, SL_ETOOBIG or 1 (stopped by fn) */
    struct sl_err err; /* set with a non-zero result (except stopped) */
    unsigned long events; /* events delivered */
};
void sl_kube_watch_splitter_init(struct sl_kube_watch_splitter *s, sl_kube_watch_fn fn, void *ctx,
                                 size_t max_event_bytes);
/* Feeds bytes; calls fn for every complete event. Returns 0 to go on or the non-zero result
 * (then the splitter ignores further input). */
int sl_kube_watch_splitter_feed(struct sl_kube_watch_splitter *s, const char *data, size_t n);
void sl_kube_watch_splitter_free(struct sl_kube_watch_splitter *s);

#endif
