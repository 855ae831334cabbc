/* Request-target handling for the HTTP server: percent-decoding and checking of request paths,
 * and the route table (exact paths and '*' prefixes, per method). Pure functions over strings,
 * no I/O, so unit tests and the fuzz harness drive them directly. Not thread-safe by itself: the
 * server fills the table before its loop starts and only reads it afterwards. */
#ifndef SL_HTTP_ROUTES_H
#define SL_HTTP_ROUTES_H

#include "http/server.h"

#include <stddef.h>

struct sl_http_route {
    char *method;     /* NULL matches any method */
    char *pattern;    /* as registered */
    size_t match_len; /* bytes of pattern compared; for prefix routes, those before the '*' */
    int is_prefix;
    sl_http_handler_fn fn;
    void *ctx;
    /* answered without a client certificate on a listener that asks for one (see
     * sl_http_server_route_anonymous) */
    int anonymous;
};

struct sl_http_routes {
    struct sl_http_route *items;
    size_t count;
};

void sl_http_routes_init(struct sl_http_routes *r);
/* Adds a route. method NULL matches any method; a GET route also answers HEAD. pattern is an
 * exact path, or a prefix when it ends in a star ("/hooks/" + star; a lone star matches all).
 * Both strings are copied. A duplicate of an existing (method, pattern) pair is ignored (first one
 * wins). Returns the route added (borrowed from r, valid until the next add), or NULL when
 * nothing was added. */
struct sl_http_route *sl_http_routes_add(struct sl_http_routes *r, const char *method,
                                         const char *pattern, sl_http_handler_fn fn, void *ctx);
void sl_http_routes_free(struct sl_http_routes *r);

/* Finds the route for (method, path): an exact pattern beats a prefix, a longer prefix beats a
 * shorter one, and among equals the first registered wins. *out is borrowed from r.
 * Returns 0, SL_ENOTFOUND when no pattern matches the path (404), or SL_EUNSUPPORTED when some
 * pattern matches but none for this method (405). */
int sl_http_routes_find(const struct sl_http_route **out, const struct sl_http_routes *r,
                        const char *method, const char *path);

/* Writes the methods routed for path as an Allow header value ("GET, HEAD, POST") into out
 * (size n, always NUL-terminated, truncated at a method boundary if short). Returns the
 * number of methods written. */
size_t sl_http_routes_allow(char *out, size_t n, const struct sl_http_routes *r, const char *path);

/* Decodes a raw request path (percent escapes; '+' stays '+') into out (size out_size, NUL
 * terminated) and stores its length in *len_out. NULL or "" decodes to "/".
 * Returns 0; SL_EINVAL when the path does not start with '/', has a malformed escape, or decodes
 * to a NUL or another control byte, or to a "." or ".." segment; SL_ETOOBIG when out is too
 * small (out_size >= strlen(raw) + 2 is always enough). */
int sl_http_path_decode(char *out, size_t out_size, size_t *len_out, const char *raw);

#endif
