/* The controller's HTTP server: one libevent event loop on its own thread, serving routes
 * registered before start (metrics, health, git push webhooks) and, on a second listener with
 * TLS, the admission webhook. Handlers run on the event-loop thread and must not block: a
 * handler whose answer needs slow work (network calls) defers the request
 * (sl_http_request_defer), hands the work to its own threads and answers from there
 * (sl_http_deferred_finish); the loop keeps serving other requests meanwhile. */
#ifndef SL_HTTP_SERVER_H
#define SL_HTTP_SERVER_H

#include "util/buf.h"
#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* decoded path without the query string */
    const char *query;  /* raw query string or NULL */
    const char *body;   /* request body (NUL-terminated), length body_len */
    size_t body_len;
    void *impl; /* the server's per-request state (headers, peer, deferral); may be NULL */
};

/* Value of a request header (case-insensitive), or NULL. Borrowed. */
const char *sl_http_request_header(const struct sl_http_request *req, const char *name);

/* Adds a header to the response of req (e.g. "Retry-After", "WWW-Authenticate"); call from the
 * handler. Content-Type comes from sl_http_response. Returns 0, or SL_EINVAL for a NULL argument
 * or a value with CR/LF. Strings are copied. */
int sl_http_request_add_response_header(const struct sl_http_request *req, const char *name,
                                        const char *value);

/* The peer's numeric IP address, for logs. Borrowed; valid during the handler; may be NULL. */
const char *sl_http_request_peer(const struct sl_http_request *req);

struct sl_http_response {
    int status;               /* default 200 */
    const char *content_type; /* default "text/plain; charset=utf-8" */
    struct sl_buf body;       /* handler appends here */
};

/* A handler fills resp. Routes match an exact path, or a prefix when the pattern ends in '*'. */
typedef void (*sl_http_handler_fn)(void *ctx, const struct sl_http_request *req,
                                   struct sl_http_response *resp);

/* ---- deferred replies ----
 * A handler that cannot answer without blocking calls sl_http_request_defer() and returns; the
 * server then ignores the handler's resp and keeps the request open. Any thread later answers
 * with sl_http_deferred_finish(): the answer is queued and the loop thread, woken through a
 * libevent user event, sends it. If no answer arrived within timeout_ms, the loop sends the
 * fallback response given at deferral instead (a handler's fail-closed answer), so a client
 * never waits longer than that; an answer arriving later is dropped. */
struct sl_http_deferred;

/* Defers req. Call from req's handler, at most once. timeout_ms > 0. fallback is copied (status,
 * content type, body). Returns a handle the caller must pass to sl_http_deferred_finish exactly
 * once, also when the fallback already went out or the server has stopped meanwhile; or NULL
 * when req does not come from a running server (then answer through resp as usual). */
struct sl_http_deferred *sl_http_request_defer(const struct sl_http_request *req,
                                               int64_t timeout_ms,
                                               const struct sl_http_response *fallback);

/* Answers a deferred request; thread-safe, never blocks on I/O. resp's body is taken over (left
 * empty), its content type copied. The answer is dropped when the fallback already went out,
 * or the server stopped (stopping closes deferred requests unanswered). d is consumed. May be
 * called after sl_http_server_stop and sl_http_server_free, but not concurrently with free. */
void sl_http_deferred_finish(struct sl_http_deferred *d, struct sl_http_response *resp);

struct sl_http_server;

struct sl_http_server_opts {
    const char *addr;          /* "host:port"; port 0 picks a free port */
    const char *tls_cert_file; /* PEM; both set = TLS, reloaded when the files change */
    const char *tls_key_file;
    /* PEM CA bundle: with it, every client is asked for a certificate signed by one of these
     * CAs. One that presents another certificate fails the TLS handshake (no request reaches a
     * handler); one that presents none gets through the handshake, and only routes registered
     * with sl_http_server_route_anonymous answer it (every other route answers 403 without
     * calling its handler). Reloaded with the certificate. Needs TLS. NULL = no client
     * certificates asked for. */
    const char *tls_client_ca_file;
    /* With a client CA: the client certificate must also carry this DNS SAN (or, without DNS
     * SANs, this CN). NULL = any certificate of the CA. */
    const char *tls_client_name;
    /* With a client CA: a client that presents no certificate fails the TLS handshake too
     * (anonymous routes then answer nobody without one). For listeners whose every caller has
     * a certificate (the scanner adapter's --client-ca). */
    bool tls_client_cert_required;
    size_t max_body_bytes; /* larger bodies get 413; 0 = 1 MiB */
    /* A connection that has not delivered a whole request (headers and body) within this time
     * of being accepted (30 s, or this when longer, of its previous answer: keep-alive) is
     * closed (slow clients); the time a handler takes does not count. 0 = 10 s. */
    int64_t request_timeout_ms;
    /* Connections accepted beyond this many open ones are closed at once. 0 = 256. */
    size_t max_connections;
};

int sl_http_server_new(struct sl_http_server **out, const struct sl_http_server_opts *opts,
                       struct sl_err *err);
/* Registers a route before sl_http_server_start. method NULL matches any method. With
 * tls_client_ca_file, only a caller that presented a verified client certificate reaches fn;
 * others get 403. */
void sl_http_server_route(struct sl_http_server *s, const char *method, const char *pattern,
                          sl_http_handler_fn fn, void *ctx);
/* The same for a route that answers callers without a client certificate too (a caller that
 * presents an unverifiable one still fails the handshake). For routes that answer only from
 * the request, holding no secret and doing nothing on the caller's behalf (health, the CRDs'
 * conversion, to which kube-apiserver presents no client certificate). */
void sl_http_server_route_anonymous(struct sl_http_server *s, const char *method,
                                    const char *pattern, sl_http_handler_fn fn, void *ctx);
/* How often (at most) a new TLS connection checks whether the cert/key files changed; default
 * 2000 ms, 0 = on every new connection (tests). Call before sl_http_server_start. */
void sl_http_server_set_tls_reload_interval_ms(struct sl_http_server *s, int interval_ms);
/* Binds and starts serving on a background thread. */
int sl_http_server_start(struct sl_http_server *s, struct sl_err *err);
/* The bound "host:port" (after start). Borrowed. */
const char *sl_http_server_addr(const struct sl_http_server *s);
/* Stops serving and joins the thread; safe to call twice. Deferred requests still open are
 * closed without an answer (their handles stay valid until finished). */
void sl_http_server_stop(struct sl_http_server *s);
void sl_http_server_free(struct sl_http_server *s);

#endif
