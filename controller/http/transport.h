/* The one HTTP client transport: every outgoing exchange of the registry, Kubernetes and Harbor
 * clients goes through a struct sl_transport. The libcurl transport (sl_transport_new) owns the
 * process's single curl_global_init, a pool of connection-keeping handles and the settings all
 * clients share (user agent, connect timeout, TLS verification and CAs, client certificates,
 * TCP keepalive, no 100-continue, http/https only); callers describe an exchange without libcurl
 * types. A fake (sl_transport_new_custom) replaces the two operations, perform and relay, so
 * unit tests run the clients and everything above them without a network.
 *
 * Thread-safety: a transport may be used by several threads at once. */
#ifndef SL_HTTP_TRANSPORT_H
#define SL_HTTP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why an exchange produced no usable response. */
enum sl_http_failure {
    SL_HTTP_OK = 0,      /* a response came back (any status) */
    SL_HTTP_ABORTED,     /* a callback stopped the exchange (or cancelled() said so) */
    SL_HTTP_STOPPED,     /* relay: stopped because the other exchange ended first */
    SL_HTTP_TIMEOUT,     /* the exchange's time limit or low-speed limit */
    SL_HTTP_BAD_URL,     /* a malformed URL or a scheme other than http/https */
    SL_HTTP_TLS_VERIFY,  /* the server's certificate did not verify */
    SL_HTTP_TLS_CONNECT, /* the TLS handshake failed (plain http on the port, say) */
    SL_HTTP_NETWORK,     /* anything else: DNS, connection refused or reset */
    /* the server ended the TLS session with a certificate alert: it wants a client
     * certificate and got none, or refused the one presented */
    SL_HTTP_TLS_CLIENT_CERT,
};

/* One exchange. Strings are borrowed for the call. */
struct sl_http_exchange {
    const char *method;         /* GET HEAD POST PUT PATCH DELETE */
    const char *url;            /* absolute http(s) URL */
    const char *const *headers; /* n_headers "Name: value" lines */
    size_t n_headers;
    const void *body; /* request body, sent with any method but GET/HEAD; NULL = none */
    size_t body_len;
    int max_redirects;  /* redirects followed (0 = none) */
    int64_t timeout_ms; /* the whole exchange; 0 = no limit */
    /* cut the exchange when slower than low_speed_bytes per second for low_speed_s; 0 = off */
    long low_speed_bytes, low_speed_s;
    /* Each header line as received, CRLF included, the status line of every response (a
     * redirect's, a 100's) too. May be NULL. */
    void (*on_header)(void *ud, const char *line, size_t n);
    /* Each chunk of a response body with that response's status; a return other than n stops
     * the exchange (SL_HTTP_ABORTED). May be NULL (the body is dropped). */
    size_t (*on_body)(void *ud, long status, const char *p, size_t n);
    /* Polled while the exchange runs (about once a second); true stops it (SL_HTTP_ABORTED).
     * May be NULL. */
    bool (*cancelled)(void *ud);
    void *ud;
};

/* How an exchange ended. */
struct sl_http_result {
    enum sl_http_failure failure;
    long status;     /* the last response's status; 0 when none came */
    int64_t sent;    /* relay PUT: body bytes sent */
    char error[256]; /* what went wrong, for messages (failure != SL_HTTP_OK) */
};

/* A blob relay: the 200 body of get streams into put's request body through a bounded buffer,
 * both running at once. The last byte is held back until on_get_done accepts the whole
 * download, so a server never completes an upload the caller has not verified. */
struct sl_http_relay {
    struct sl_http_exchange get; /* its on_body sees only bodies of statuses other than 200 */
    struct sl_http_exchange put; /* method PUT; body/body_len unused */
    int64_t size;                /* bytes the PUT sends (its Content-Length) */
    /* Each chunk of the 200 body before the PUT may send it; nonzero stops both exchanges
     * (the GET ends SL_HTTP_ABORTED). */
    int (*on_chunk)(void *ud, const char *p, size_t n);
    /* Once the 200 body ended: 0 releases the last byte, nonzero stops the PUT. */
    int (*on_get_done)(void *ud);
    void *ud;
};

struct sl_transport_opts {
    const char *user_agent;     /* NULL = "sealift/<version>" */
    int64_t connect_timeout_ms; /* 0 = 15000 */
    bool insecure;              /* skip TLS verification; redirects may then go to http */
    bool http_redirects;        /* redirects may go to plain http (a registry allowed http) */
    const char *ca_pem;         /* CA certificates (PEM) to trust, or NULL */
    bool ca_only;               /* ca_pem replaces the system's CAs instead of adding to them */
    const char *client_cert_pem, *client_key_pem; /* TLS client certificate, or NULL */
    bool accept_encoding; /* offer compressed answers (decoded before on_body) */
    long keepalive_idle_s, keepalive_interval_s; /* TCP keepalive probes; 0 = system's */
    /* connections, DNS answers and TLS sessions shared by all threads using the transport */
    bool share_connections;
};

struct sl_transport;

/* Operations of a custom (fake) transport: the same contract as the libcurl one. relay runs
 * r->get itself and r->put through put_t (sl_transport_perform with the held-back body). */
struct sl_transport_ops {
    void (*perform)(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res);
    void (*relay)(void *ctx, struct sl_transport *put_t, const struct sl_http_relay *r,
                  struct sl_http_result *get_res, struct sl_http_result *put_res);
};

/* The handles of one relay at a time, kept between relays so connections are reused. One per
 * thread that relays. */
struct sl_http_relayer;

/* Initializes libcurl once for the process (any thread, any number of times). Returns 0 or
 * SL_EFAIL; sl_transport_new calls it. */
int sl_transport_global_init(void);
/* Releases what sl_transport_global_init set up; at exit, after every transport is freed. */
void sl_transport_global_cleanup(void);

/* Connects every later exchange of every libcurl transport for HOST:PORT to
 * CONNECT-HOST:CONNECT-PORT instead, as curl's --connect-to does: the URL, the Host header and
 * the TLS name checked stay HOST (split-horizon DNS, a registry reached through another
 * address, a test's local stand-ins). Each entry is "HOST:PORT:CONNECT-HOST:CONNECT-PORT"; a
 * part may be empty ("any HOST" / "the same port"); IPv6 addresses in brackets. Call once at
 * start-up, before any transport is in use (not thread-safe). Returns 0, or SL_EINVAL with the
 * first malformed entry copied into bad (bad_len bytes) and nothing changed. */
int sl_transport_set_connect_to(const char *const *entries, size_t n, char *bad, size_t bad_len);

/* A libcurl transport with opts (may be NULL; strings are copied). NULL only when libcurl
 * cannot be initialized. */
struct sl_transport *sl_transport_new(const struct sl_transport_opts *opts);

/* A transport whose exchanges ops performs with ctx (borrowed; for tests). Never NULL. */
struct sl_transport *sl_transport_new_custom(const struct sl_transport_ops *ops, void *ctx);

void sl_transport_free(struct sl_transport *t);

/* Performs one exchange; res is always filled. Returns res->failure. */
enum sl_http_failure sl_transport_perform(struct sl_transport *t, const struct sl_http_exchange *x,
                                          struct sl_http_result *res);

struct sl_http_relayer *sl_http_relayer_new(void);
void sl_http_relayer_free(struct sl_http_relayer *rl);

/* Runs a relay with rl: r->get through get_t (its settings), r->put through put_t. When get_t
 * is a custom transport its relay operation runs it. Both results are always filled. */
void sl_transport_relay(struct sl_http_relayer *rl, struct sl_transport *get_t,
                        struct sl_transport *put_t, const struct sl_http_relay *r,
                        struct sl_http_result *get_res, struct sl_http_result *put_res);

/* s percent-encoded for a URL query (everything but A-Z a-z 0-9 - . _ ~). Caller frees. */
char *sl_http_escape(const char *s);

/* "scheme://host:port" of url (scheme and host lowercased, the default port filled in; caller
 * frees), or NULL when url does not parse. */
char *sl_http_origin(const char *url);

#endif
