/* Unit tests of the Harbor scanner adapter client (scanner/harbor_client.c) through a scripted
 * fake transport: what the adapter receives, and how its answers and transport failures become
 * results and messages; and over loopback TLS against an adapter that requires a client
 * certificate (argv[1]: tests/data/tls). */
#include "check.h"
#include "http/server.h"
#include "http/transport.h"
#include "scanner/harbor_api.h"
#include "scanner/harbor_client.h"
#include "tls_server.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct canned {
    enum sl_http_failure failure;
    long status;
    const char *headers; /* "Name: value\r\n" lines, or NULL */
    const char *body;
};

struct script {
    const struct canned *answers;
    size_t n, next;
    /* the last request as the adapter saw it */
    char method[16];
    char url[256];
    char headers[1024];
    char body[1024];
};

static void scripted(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct script *s = ctx;
    snprintf(s->method, sizeof(s->method), "%s", x->method);
    snprintf(s->url, sizeof(s->url), "%s", x->url);
    s->headers[0] = '\0';
    for (size_t i = 0; i < x->n_headers; i++) {
        size_t l = strlen(s->headers);
        snprintf(s->headers + l, sizeof(s->headers) - l, "%s\n", x->headers[i]);
    }
    snprintf(s->body, sizeof(s->body), "%.*s", (int)(x->body ? x->body_len : 0),
             x->body ? (const char *)x->body : "");
    if (s->next >= s->n) {
        res->failure = SL_HTTP_NETWORK;
        snprintf(res->error, sizeof(res->error), "no answer scripted");
        return;
    }
    const struct canned *a = &s->answers[s->next++];
    res->failure = a->failure;
    if (a->failure != SL_HTTP_OK) {
        snprintf(res->error, sizeof(res->error), "scripted failure");
        return;
    }
    res->status = a->status;
    char line[64];
    snprintf(line, sizeof(line), "HTTP/1.1 %ld X\r\n", a->status);
    if (x->on_header) {
        x->on_header(x->ud, line, strlen(line));
        for (const char *h = a->headers; h && *h;) {
            size_t n = strcspn(h, "\n") + 1;
            x->on_header(x->ud, h, n);
            h += n;
        }
        x->on_header(x->ud, "\r\n", 2);
    }
    if (a->body && x->on_body &&
        x->on_body(x->ud, a->status, a->body, strlen(a->body)) != strlen(a->body))
        res->failure = SL_HTTP_ABORTED;
}

static const struct sl_transport_ops scripted_ops = {.perform = scripted};

static struct sl_harbor_client *client(struct script *s, struct sl_transport **t)
{
    *t = sl_transport_new_custom(&scripted_ops, s);
    struct sl_harbor_client_opts o = {
        .authorization = "Bearer adapter-token", .report_timeout_ms = 1, .transport = *t};
    return sl_harbor_client_new("https://adapter.example:8443/", &o);
}

/* metadata and scan: the adapter gets the token, the media types and the ScanRequest as given;
 * the answers come back as the caller needs them. */
static void test_metadata_and_scan(void)
{
    static const struct canned answers[] = {
        {SL_HTTP_OK, 200, "Content-Type: application/json\r\n", "{\"scanner\":{\"name\":\"T\"}}"},
        {SL_HTTP_OK, 202, NULL, "{\"id\":\"scan-42\"}"},
    };
    struct script s = {.answers = answers, .n = 2};
    struct sl_transport *t;
    struct sl_harbor_client *c = client(&s, &t);
    struct sl_err err = {0};
    char *body = NULL;
    size_t len = 0;
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), 0);
    CHECK_STR_EQ(body, "{\"scanner\":{\"name\":\"T\"}}");
    free(body);
    CHECK_STR_EQ(s.url, "https://adapter.example:8443/api/v1/metadata");
    CHECK_CONTAINS(s.headers, "Authorization: Bearer adapter-token\n");
    CHECK_CONTAINS(s.headers, "Accept: " SL_HARBOR_METADATA_MT);

    char *id = NULL;
    CHECK_INT_EQ(sl_harbor_client_scan(&id, c, "{\"artifact\":{}}", &err), 0);
    CHECK_STR_EQ(id, "scan-42");
    free(id);
    CHECK_STR_EQ(s.method, "POST");
    CHECK_STR_EQ(s.body, "{\"artifact\":{}}");
    CHECK_CONTAINS(s.headers, "Content-Type: " SL_HARBOR_SCAN_REQUEST_MT);
    sl_harbor_client_free(c);
    sl_transport_free(t);
}

/* A report not ready yet (302 + Refresh-After), then ready; polling past report_timeout_ms
 * says the scan is still running. */
static void test_report_polling(void)
{
    static const struct canned answers[] = {
        {SL_HTTP_OK, 302, "Refresh-After: 7\r\n", NULL},
        {SL_HTTP_OK, 200, NULL, "{\"vulnerabilities\":[]}"},
        {SL_HTTP_OK, 302, NULL, NULL},
        {SL_HTTP_OK, 302, NULL, NULL},
    };
    struct script s = {.answers = answers, .n = 4};
    struct sl_transport *t;
    struct sl_harbor_client *c = client(&s, &t);
    struct sl_err err = {0};
    char *body = NULL;
    size_t len = 0;
    int64_t refresh = 0;
    CHECK_INT_EQ(sl_harbor_client_report(&body, &len, &refresh, c, "scan-42", &err), 1);
    CHECK_INT_EQ((int)refresh, 7000);
    CHECK_STR_EQ(s.url, "https://adapter.example:8443/api/v1/scan/scan-42/report");
    CHECK_INT_EQ(sl_harbor_client_report(&body, &len, &refresh, c, "scan-42", &err), 0);
    CHECK_STR_EQ(body, "{\"vulnerabilities\":[]}");
    free(body);
    body = NULL;
    CHECK_INT_EQ(sl_harbor_client_wait_report(&body, &len, c, "scan-42", &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "scan scan-42 still running");
    CHECK(body == NULL);
    sl_harbor_client_free(c);
    sl_transport_free(t);
}

/* Refusals and transport failures: 401 is SL_EAUTH, 503 and an unreachable adapter are retried,
 * a certificate that does not verify says where a private CA goes. No secret in messages. */
static void test_errors(void)
{
    static const struct canned answers[] = {
        {SL_HTTP_OK, 401, NULL, "{\"error\":{\"message\":\"bad token\"}}"},
        {SL_HTTP_OK, 503, NULL, NULL},
        {SL_HTTP_NETWORK, 0, NULL, NULL},
        {SL_HTTP_TLS_VERIFY, 0, NULL, NULL},
    };
    struct script s = {.answers = answers, .n = 4};
    struct sl_transport *t;
    struct sl_harbor_client *c = client(&s, &t);
    struct sl_err err = {0};
    char *body = NULL;
    size_t len = 0;
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "bad token");
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), SL_ERETRY);
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "unreachable");
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "TLS certificate verification failed");
    CHECK_CONTAINS(err.msg, "certSecretRef");
    CHECK(strstr(err.msg, "adapter-token") == NULL);
    CHECK(body == NULL);
    sl_harbor_client_free(c);
    sl_transport_free(t);
}

static const char *data_dir;

static void h_metadata(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)req;
    (*(int *)ctx)++;
    resp->content_type = SL_HARBOR_METADATA_MT;
    sl_buf_append_str(&resp->body, "{\"scanner\":{\"name\":\"T\"}}");
}

/* mTLS: an adapter whose TLS listener requires a certificate of its client CA answers the
 * client that was given one; without one, or with a certificate of another CA, the handshake
 * fails, no request reaches the adapter, and the message says which (SL_EAUTH: retrying with
 * the same settings cannot help). */
static void test_client_certificate(void)
{
    int hits = 0;
    struct sl_test_tls_server tls;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_test_tls_server_new(&tls, data_dir, SL_TEST_CLIENT_CERT_REQUIRED, &err), 0);
    sl_http_server_route(tls.srv, "GET", "/api/v1/metadata", h_metadata, &hits);
    CHECK_INT_EQ(sl_test_tls_server_start(&tls, &err), 0);
    const char *url = tls.url;
    char *body = NULL;
    size_t len = 0;

    struct sl_harbor_client_opts with = {.ca_pem = tls.ca_pem,
                                         .client_cert_pem = tls.client_crt_pem,
                                         .client_key_pem = tls.client_key_pem};
    struct sl_harbor_client *c = sl_harbor_client_new(url, &with);
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), 0);
    CHECK_STR_EQ(body, "{\"scanner\":{\"name\":\"T\"}}");
    free(body);
    body = NULL;
    sl_harbor_client_free(c);
    CHECK_INT_EQ(hits, 1);

    struct sl_harbor_client_opts without = {.ca_pem = tls.ca_pem};
    c = sl_harbor_client_new(url, &without);
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, url);
    CHECK_CONTAINS(err.msg, "the adapter requires a TLS client certificate and none was presented");
    CHECK_CONTAINS(err.msg, "certSecretRef");
    sl_harbor_client_free(c);

    struct sl_harbor_client_opts other = {.ca_pem = tls.ca_pem,
                                          .client_cert_pem = tls.server_crt_pem,
                                          .client_key_pem = tls.server_key_pem};
    c = sl_harbor_client_new(url, &other);
    CHECK_INT_EQ(sl_harbor_client_metadata(&body, &len, c, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "the adapter refused the TLS client certificate presented");
    CHECK(strstr(err.msg, "PRIVATE KEY") == NULL);
    sl_harbor_client_free(c);
    CHECK(body == NULL);
    CHECK_INT_EQ(hits, 1);

    sl_test_tls_server_free(&tls);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s TLS_DATA_DIR (tests/data/tls)\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    RUN(test_metadata_and_scan);
    RUN(test_report_polling);
    RUN(test_errors);
    RUN(test_client_certificate);
    return CHECK_EXIT();
}
