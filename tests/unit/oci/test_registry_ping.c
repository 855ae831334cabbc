/* Which scheme the registry client's ping asks, through a fake transport that records every URL
 * and answers like a plain-http registry, a TLS port or an https registry: a registry marked
 * insecure whose host names its port, and which answers plain http like a registry, is never
 * asked over https (no TLS context, no handshake); one that is a TLS port is still found on
 * https; without a port, or without insecure, https comes first as before. */
#include "check.h"
#include "http/transport.h"
#include "oci/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum port_kind {
    PLAIN_REGISTRY,     /* plain http, answers /v2/ with 401 Basic */
    TLS_REGISTRY,       /* https only: plain http gets Go's 400 for a TLS port */
    PLAIN_NOT_REGISTRY, /* plain http, /v2/ is 404 */
    MTLS_REGISTRY,      /* https that ends every session with a client certificate alert */
};

struct fake {
    enum port_kind kind;
    char urls[8][128];
    int n;
};

static void answer(const struct sl_http_exchange *x, struct sl_http_result *res, long status,
                   const char *status_line, const char *header)
{
    res->failure = SL_HTTP_OK;
    res->status = status;
    if (x->on_header) {
        x->on_header(x->ud, status_line, strlen(status_line));
        if (header)
            x->on_header(x->ud, header, strlen(header));
        x->on_header(x->ud, "\r\n", 2);
    }
}

static void fake_perform(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct fake *f = ctx;
    if (f->n < 8)
        snprintf(f->urls[f->n++], sizeof(f->urls[0]), "%s", x->url);
    int https = strncmp(x->url, "https://", 8) == 0;
    if (f->kind == MTLS_REGISTRY) {
        if (!https) { /* Go's answer to plain http on a TLS port */
            answer(x, res, 400, "HTTP/1.0 400 Bad Request\r\n", NULL);
            return;
        }
        res->failure = SL_HTTP_TLS_CLIENT_CERT;
        snprintf(res->error, sizeof(res->error), "SSL_read: tlsv13 alert certificate required");
        return;
    }
    if (f->kind == TLS_REGISTRY) {
        if (https)
            answer(x, res, 200, "HTTP/1.1 200 OK\r\n", NULL);
        else
            answer(x, res, 400, "HTTP/1.0 400 Bad Request\r\n", NULL);
        return;
    }
    if (https) { /* a plain-http port does not speak TLS */
        res->failure = SL_HTTP_TLS_CONNECT;
        snprintf(res->error, sizeof(res->error), "wrong version number");
        return;
    }
    if (f->kind == PLAIN_REGISTRY)
        answer(x, res, 401, "HTTP/1.1 401 Unauthorized\r\n",
               "WWW-Authenticate: Basic realm=\"registry\"\r\n");
    else
        answer(x, res, 404, "HTTP/1.1 404 Not Found\r\n", NULL);
}

static void fake_relay(void *ctx, struct sl_transport *put_t, const struct sl_http_relay *r,
                       struct sl_http_result *get_res, struct sl_http_result *put_res)
{
    (void)ctx;
    (void)put_t;
    (void)r;
    get_res->failure = put_res->failure = SL_HTTP_NETWORK;
}

static const struct sl_transport_ops fake_ops = {.perform = fake_perform, .relay = fake_relay};

/* Pings host through a fake of kind with client certificate cert (may be NULL), in at most
 * attempts attempts; returns the base URL the client settled on (caller frees) or NULL, with rc
 * and the URLs asked in f. */
static char *ping_cert(struct fake *f, const char *host, int insecure, const char *cert,
                       int attempts, int *rc, struct sl_err *err)
{
    struct sl_transport *t = sl_transport_new_custom(&fake_ops, f);
    struct sl_registry_opts o = {.insecure = insecure,
                                 .transport = t,
                                 .max_attempts = attempts,
                                 .backoff_base_ms = 1,
                                 .backoff_max_ms = 2,
                                 .client_cert_pem = cert,
                                 .client_key_pem = cert ? "key" : NULL};
    struct sl_registry *r = sl_registry_new(host, NULL, &o);
    char *base = NULL;
    *rc = sl_registry_base_url(&base, r, err);
    sl_registry_free(r);
    sl_transport_free(t);
    return base;
}

static char *ping(struct fake *f, const char *host, int insecure, int *rc, struct sl_err *err)
{
    return ping_cert(f, host, insecure, NULL, 1, rc, err);
}

/* A registry that ends the TLS session with a client certificate alert: an authentication
 * failure, not retried (the same certificate would be refused again), and the message says
 * whether a certificate was presented. */
static void test_client_certificate_alert(void)
{
    struct fake f = {.kind = MTLS_REGISTRY};
    struct sl_err err = {0};
    int rc = 0;
    char *base = ping_cert(&f, "registry.example:5000", 0, NULL, 3, &rc, &err);
    CHECK(base == NULL);
    CHECK_INT_EQ(rc, SL_EAUTH);
    CHECK_INT_EQ(f.n, 1);
    CHECK_CONTAINS(err.msg,
                   "registry registry.example:5000: GET https://registry.example:5000/v2/");
    CHECK_CONTAINS(err.msg, "alert certificate required (the registry requires a TLS client "
                            "certificate and none was presented)");

    f = (struct fake){.kind = MTLS_REGISTRY};
    base = ping_cert(&f, "registry.example:5000", 0, "-----BEGIN CERTIFICATE-----", 3, &rc, &err);
    CHECK(base == NULL);
    CHECK_INT_EQ(rc, SL_EAUTH);
    CHECK_INT_EQ(f.n, 1);
    CHECK_CONTAINS(err.msg, "(the registry refused the TLS client certificate presented)");

    /* marked insecure, with a port: plain http first (a TLS port's 400), then https, whose
     * certificate alert is the answer reported, not the 400 plain http gets again */
    f = (struct fake){.kind = MTLS_REGISTRY};
    base = ping_cert(&f, "127.0.0.1:5000", 1, NULL, 3, &rc, &err);
    CHECK(base == NULL);
    CHECK_INT_EQ(rc, SL_EAUTH);
    CHECK_STR_EQ(f.urls[1], "https://127.0.0.1:5000/v2/");
    CHECK_CONTAINS(err.msg, "requires a TLS client certificate and none was presented");
}

static void test_insecure_plain_port_is_never_asked_over_tls(void)
{
    struct fake f = {.kind = PLAIN_REGISTRY};
    struct sl_err err = {0};
    int rc = -1;
    char *base = ping(&f, "127.0.0.1:5000", 1, &rc, &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(base, "http://127.0.0.1:5000");
    CHECK_INT_EQ(f.n, 1);
    CHECK_STR_EQ(f.urls[0], "http://127.0.0.1:5000/v2/");
    free(base);

    f = (struct fake){.kind = PLAIN_REGISTRY};
    base = ping(&f, "[::1]:5000", 1, &rc, &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(base, "http://[::1]:5000");
    CHECK_INT_EQ(f.n, 1);
    free(base);
}

static void test_insecure_tls_port_is_found_on_https(void)
{
    struct fake f = {.kind = TLS_REGISTRY};
    struct sl_err err = {0};
    int rc = -1;
    char *base = ping(&f, "registry.example:5000", 1, &rc, &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(base, "https://registry.example:5000");
    CHECK_INT_EQ(f.n, 2);
    CHECK_STR_EQ(f.urls[0], "http://registry.example:5000/v2/");
    CHECK_STR_EQ(f.urls[1], "https://registry.example:5000/v2/");
    free(base);
}

/* A plain-http port that is no registry is reported as before (its own answer, not the TLS
 * failure of the https attempt). */
static void test_insecure_plain_port_not_a_registry(void)
{
    struct fake f = {.kind = PLAIN_NOT_REGISTRY};
    struct sl_err err = {0};
    int rc = 0;
    char *base = ping(&f, "127.0.0.1:8080", 1, &rc, &err);
    CHECK(rc < 0);
    CHECK(base == NULL);
    CHECK(strstr(err.msg, "does not serve the registry API") != NULL);
    free(base);
}

/* Without a port the schemes reach different ports (443, 80): https first, as Docker does. */
static void test_insecure_without_port_asks_https_first(void)
{
    struct fake f = {.kind = PLAIN_REGISTRY};
    struct sl_err err = {0};
    int rc = -1;
    char *base = ping(&f, "registry.example", 1, &rc, &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(base, "http://registry.example");
    CHECK_INT_EQ(f.n, 2);
    CHECK_STR_EQ(f.urls[0], "https://registry.example/v2/");
    CHECK_STR_EQ(f.urls[1], "http://registry.example/v2/");
    free(base);
}

/* Not insecure: https only, whatever the port answers over plain http. */
static void test_secure_asks_https_only(void)
{
    struct fake f = {.kind = PLAIN_REGISTRY};
    struct sl_err err = {0};
    int rc = 0;
    char *base = ping(&f, "127.0.0.1:5000", 0, &rc, &err);
    CHECK(rc < 0);
    CHECK(base == NULL);
    CHECK_INT_EQ(f.n, 1);
    CHECK_STR_EQ(f.urls[0], "https://127.0.0.1:5000/v2/");
    free(base);
}

int main(void)
{
    RUN(test_insecure_plain_port_is_never_asked_over_tls);
    RUN(test_insecure_tls_port_is_found_on_https);
    RUN(test_insecure_plain_port_not_a_registry);
    RUN(test_insecure_without_port_asks_https_first);
    RUN(test_secure_asks_https_only);
    RUN(test_client_certificate_alert);
    return CHECK_EXIT();
}
