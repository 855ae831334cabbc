/* The libcurl transport (http/transport.c) against a loopback server (sl_http_server on
 * 127.0.0.1): what a server receives from an exchange, what the callbacks see, how failures are
 * classified, and the relay: a GET streamed into a PUT whose last byte goes out only when the
 * caller accepts the download. */
#include "check.h"
#include "http/server.h"
#include "http/transport.h"
#include "testdata.h"
#include "tls_server.h"
#include "util/buf.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOB_LEN ((size_t)300 << 10) /* more than the relay's 64 KiB ring */

struct seen {
    pthread_mutex_t mu;
    int puts;
    size_t put_len;
    bool put_matches;
    char auth[128], ctype[128], expect[32], body[64], host[128];
};

static char blob[BLOB_LEN];

static void h_echo(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct seen *s = ctx;
    const char *a = sl_http_request_header(req, "Authorization");
    const char *c = sl_http_request_header(req, "Content-Type");
    const char *e = sl_http_request_header(req, "Expect");
    const char *h = sl_http_request_header(req, "Host");
    pthread_mutex_lock(&s->mu);
    snprintf(s->host, sizeof(s->host), "%s", h ? h : "");
    snprintf(s->auth, sizeof(s->auth), "%s", a ? a : "");
    snprintf(s->ctype, sizeof(s->ctype), "%s", c ? c : "");
    snprintf(s->expect, sizeof(s->expect), "%s", e ? e : "(none)");
    snprintf(s->body, sizeof(s->body), "%.*s", (int)req->body_len, req->body ? req->body : "");
    pthread_mutex_unlock(&s->mu);
    resp->status = 202;
    sl_http_request_add_response_header(req, "X-Test", "yes");
    sl_buf_append_str(&resp->body, "pong");
}

static void h_blob(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    sl_buf_append(&resp->body, blob, BLOB_LEN);
}

/* The first 100 bytes, or 20 KiB (more than one curl buffer, less than the ring), of blob. */
static void h_blob_100(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    sl_buf_append(&resp->body, blob, 100);
}

static void h_blob_20k(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    sl_buf_append(&resp->body, blob, (size_t)20 << 10);
}

static void h_old(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)ctx;
    resp->status = 302;
    sl_http_request_add_response_header(req, "Location", "/blob");
}

static void h_upload(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct seen *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->puts++;
    s->put_len = req->body_len;
    s->put_matches = req->body_len <= BLOB_LEN && memcmp(req->body, blob, req->body_len) == 0;
    pthread_mutex_unlock(&s->mu);
    resp->status = 201;
}

static struct sl_http_server *start(struct seen *s, char *base, size_t n)
{
    struct sl_http_server *srv = NULL;
    struct sl_err err = {0};
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0", .max_body_bytes = (size_t)1 << 20};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_http_server_route(srv, "POST", "/echo", h_echo, s);
    sl_http_server_route(srv, "GET", "/blob", h_blob, s);
    sl_http_server_route(srv, "GET", "/blob-100", h_blob_100, s);
    sl_http_server_route(srv, "GET", "/blob-20k", h_blob_20k, s);
    sl_http_server_route(srv, "GET", "/old", h_old, s);
    sl_http_server_route(srv, "PUT", "/upload", h_upload, s);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    snprintf(base, n, "http://%s", sl_http_server_addr(srv));
    return srv;
}

struct got {
    struct sl_buf headers, body;
    size_t chunked;
};

static void on_header(void *ud, const char *line, size_t n)
{
    sl_buf_append(&((struct got *)ud)->headers, line, n);
}

static size_t on_body(void *ud, long status, const char *p, size_t n)
{
    (void)status;
    return sl_buf_append(&((struct got *)ud)->body, p, n) == 0 ? n : 0;
}

static int on_chunk(void *ud, const char *p, size_t n)
{
    (void)p;
    ((struct got *)ud)->chunked += n;
    return 0;
}

static int accept_download(void *ud)
{
    (void)ud;
    return 0;
}

static int refuse_download(void *ud)
{
    (void)ud;
    return 1;
}

static void got_init(struct got *g)
{
    memset(g, 0, sizeof(*g));
    sl_buf_init(&g->headers, 1 << 16);
    sl_buf_init(&g->body, 1 << 20);
}

static void got_free(struct got *g)
{
    sl_buf_free(&g->headers);
    sl_buf_free(&g->body);
}

/* The server gets the caller's headers and body and no 100-continue; the callbacks get the
 * answer's headers and body; redirects are followed only when asked (to http only when
 * insecure); failures are classified. */
static void test_exchanges(void)
{
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char base[128], url[192];
    struct sl_http_server *srv = start(&s, base, sizeof(base));
    struct sl_transport *t = sl_transport_new(NULL);
    CHECK(t != NULL);

    const char *hdrs[] = {"Authorization: Bearer t0ken", "Content-Type: application/json"};
    struct got g;
    got_init(&g);
    snprintf(url, sizeof(url), "%s/echo", base);
    struct sl_http_exchange x = {.method = "POST",
                                 .url = url,
                                 .headers = hdrs,
                                 .n_headers = 2,
                                 .body = "{\"a\":1}",
                                 .body_len = 7,
                                 .timeout_ms = 30000,
                                 .on_header = on_header,
                                 .on_body = on_body,
                                 .ud = &g};
    struct sl_http_result res;
    CHECK_INT_EQ(sl_transport_perform(t, &x, &res), SL_HTTP_OK);
    CHECK_INT_EQ(res.status, 202);
    CHECK_STR_EQ(s.auth, "Bearer t0ken");
    CHECK_STR_EQ(s.ctype, "application/json");
    CHECK_STR_EQ(s.expect, "(none)");
    CHECK_STR_EQ(s.body, "{\"a\":1}");
    CHECK_CONTAINS(sl_buf_cstr(&g.headers), "X-Test: yes");
    CHECK_STR_EQ(sl_buf_cstr(&g.body), "pong");
    got_free(&g);

    got_init(&g);
    snprintf(url, sizeof(url), "%s/old", base);
    struct sl_http_exchange r = {
        .method = "GET", .url = url, .on_header = on_header, .on_body = on_body, .ud = &g};
    CHECK_INT_EQ(sl_transport_perform(t, &r, &res), SL_HTTP_OK);
    CHECK_INT_EQ(res.status, 302);
    /* followed when asked, but to plain http only with the insecure option */
    r.max_redirects = 5;
    CHECK_INT_EQ(sl_transport_perform(t, &r, &res), SL_HTTP_BAD_URL);
    struct sl_transport_opts insecure = {.insecure = true};
    struct sl_transport *ti = sl_transport_new(&insecure);
    sl_buf_reset(&g.body);
    CHECK_INT_EQ(sl_transport_perform(ti, &r, &res), SL_HTTP_OK);
    CHECK_INT_EQ(res.status, 200);
    CHECK_INT_EQ((int)g.body.len, (int)BLOB_LEN);
    sl_transport_free(ti);
    got_free(&g);

    struct sl_http_exchange bad = {.method = "GET", .url = "ftp://127.0.0.1/x"};
    CHECK_INT_EQ(sl_transport_perform(t, &bad, &res), SL_HTTP_BAD_URL);
    CHECK(res.error[0] != '\0');
    struct sl_http_exchange closed = {.method = "GET", .url = "http://127.0.0.1:1/"};
    CHECK_INT_EQ(sl_transport_perform(t, &closed, &res), SL_HTTP_NETWORK);
    CHECK_INT_EQ(res.status, 0);

    sl_transport_free(t);
    sl_http_server_stop(srv);
    sl_http_server_free(srv);
}

/* --connect-to: an exchange for HOST:PORT goes to the address given, the URL and the Host
 * header stay HOST; malformed entries are refused whole, and nothing changes. */
static void test_connect_to(void)
{
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char base[128], entry[192], bad[64];
    struct sl_http_server *srv = start(&s, base, sizeof(base));
    const char *port = strrchr(base, ':') + 1;
    static const char *const malformed[] = {"a:80:b",      "a:80:b:c",    "a b:80:c:1",
                                            "a:99999:b:1", "[::1:80:b:1", "a:80:b:1:2"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        CHECK_INT_EQ(sl_transport_set_connect_to(&malformed[i], 1, bad, sizeof(bad)), SL_EINVAL);
        CHECK_STR_EQ(bad, malformed[i]);
    }
    snprintf(entry, sizeof(entry), "registry.example.invalid:80:127.0.0.1:%s", port);
    const char *entries[] = {entry, "[::1]::127.0.0.1:"};
    CHECK_INT_EQ(sl_transport_set_connect_to(entries, 2, bad, sizeof(bad)), 0);
    struct sl_transport *t = sl_transport_new(NULL);
    struct got g;
    got_init(&g);
    struct sl_http_exchange x = {.method = "POST",
                                 .url = "http://registry.example.invalid/echo",
                                 .body = "x",
                                 .body_len = 1,
                                 .timeout_ms = 30000,
                                 .on_body = on_body,
                                 .ud = &g};
    struct sl_http_result res;
    CHECK_INT_EQ(sl_transport_perform(t, &x, &res), SL_HTTP_OK);
    CHECK_INT_EQ(res.status, 202);
    CHECK_STR_EQ(sl_buf_cstr(&g.body), "pong");
    CHECK_STR_EQ(s.host, "registry.example.invalid");
    got_free(&g);
    /* another host is not redirected: it does not resolve */
    struct sl_http_exchange other = {
        .method = "GET", .url = "http://other.example.invalid/echo", .timeout_ms = 30000};
    CHECK_INT_EQ(sl_transport_perform(t, &other, &res), SL_HTTP_NETWORK);
    sl_transport_free(t);
    CHECK_INT_EQ(sl_transport_set_connect_to(NULL, 0, bad, sizeof(bad)), 0);
    sl_http_server_stop(srv);
    sl_http_server_free(srv);
}

/* A relay delivers the download byte for byte through the bounded ring when the caller accepts
 * it; when the caller refuses it (a digest mismatch) the upload never completes. */
static void test_relay(void)
{
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char base[128], get_url[192], put_url[192];
    struct sl_http_server *srv = start(&s, base, sizeof(base));
    snprintf(get_url, sizeof(get_url), "%s/blob", base);
    snprintf(put_url, sizeof(put_url), "%s/upload", base);
    struct sl_transport *t = sl_transport_new(NULL);
    struct sl_http_relayer *rl = sl_http_relayer_new();
    struct got g;
    got_init(&g);
    struct sl_http_relay relay = {
        .get = {.method = "GET", .url = get_url, .timeout_ms = 30000},
        .put = {.method = "PUT", .url = put_url, .timeout_ms = 30000},
        .size = (int64_t)BLOB_LEN,
        .on_chunk = on_chunk,
        .on_get_done = accept_download,
        .ud = &g,
    };
    struct sl_http_result gr, pr;
    sl_transport_relay(rl, t, t, &relay, &gr, &pr);
    CHECK_INT_EQ(gr.failure, SL_HTTP_OK);
    CHECK_INT_EQ(gr.status, 200);
    CHECK_INT_EQ(pr.failure, SL_HTTP_OK);
    CHECK_INT_EQ(pr.status, 201);
    CHECK_INT_EQ((int)pr.sent, (int)BLOB_LEN);
    CHECK_INT_EQ((int)g.chunked, (int)BLOB_LEN);
    pthread_mutex_lock(&s.mu);
    CHECK_INT_EQ(s.puts, 1);
    CHECK_INT_EQ((int)s.put_len, (int)BLOB_LEN);
    CHECK(s.put_matches);
    pthread_mutex_unlock(&s.mu);

    g.chunked = 0;
    relay.on_get_done = refuse_download;
    sl_transport_relay(rl, t, t, &relay, &gr, &pr);
    CHECK_INT_EQ(gr.status, 200);
    CHECK(pr.failure != SL_HTTP_OK);
    CHECK(pr.sent < (int64_t)BLOB_LEN);
    pthread_mutex_lock(&s.mu);
    CHECK_INT_EQ(s.puts, 1); /* the second upload never reached the handler */
    pthread_mutex_unlock(&s.mu);

    got_free(&g);
    sl_http_relayer_free(rl);
    sl_transport_free(t);
    sl_http_server_stop(srv);
    sl_http_server_free(srv);
}

/* Blobs smaller than the ring (a config, a small layer) get a ring of their size and arrive
 * byte for byte; a download longer than the upload's Content-Length is stopped at once (never
 * waiting for the time limit with the ring full) and the upload never completes. */
static void test_relay_sizes(void)
{
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char base[128], get_url[192], put_url[192];
    struct sl_http_server *srv = start(&s, base, sizeof(base));
    snprintf(put_url, sizeof(put_url), "%s/upload", base);
    struct sl_transport *t = sl_transport_new(NULL);
    struct sl_http_relayer *rl = sl_http_relayer_new();
    static const struct {
        const char *path;
        size_t len;
    } cases[] = {{"/blob-100", 100}, {"/blob-20k", (size_t)20 << 10}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(get_url, sizeof(get_url), "%s%s", base, cases[i].path);
        struct got g;
        got_init(&g);
        struct sl_http_relay relay = {
            .get = {.method = "GET", .url = get_url, .timeout_ms = 30000},
            .put = {.method = "PUT", .url = put_url, .timeout_ms = 30000},
            .size = (int64_t)cases[i].len,
            .on_chunk = on_chunk,
            .on_get_done = accept_download,
            .ud = &g,
        };
        struct sl_http_result gr, pr;
        sl_transport_relay(rl, t, t, &relay, &gr, &pr);
        CHECK_INT_EQ(gr.failure, SL_HTTP_OK);
        CHECK_INT_EQ(pr.failure, SL_HTTP_OK);
        CHECK_INT_EQ(pr.status, 201);
        CHECK_INT_EQ((int)pr.sent, (int)cases[i].len);
        pthread_mutex_lock(&s.mu);
        CHECK_INT_EQ(s.puts, (int)i + 1);
        CHECK_INT_EQ((int)s.put_len, (int)cases[i].len);
        CHECK(s.put_matches);
        pthread_mutex_unlock(&s.mu);
        got_free(&g);
    }

    /* the server sends 300 KiB where the descriptor said 100 bytes */
    snprintf(get_url, sizeof(get_url), "%s/blob", base);
    struct sl_http_relay relay = {
        .get = {.method = "GET", .url = get_url, .timeout_ms = 30000},
        .put = {.method = "PUT", .url = put_url, .timeout_ms = 30000},
        .size = 100,
        .on_get_done = accept_download,
    };
    struct sl_http_result gr, pr;
    sl_transport_relay(rl, t, t, &relay, &gr, &pr);
    CHECK_INT_EQ(gr.failure, SL_HTTP_ABORTED);
    CHECK(pr.failure != SL_HTTP_OK);
    CHECK(pr.sent < 100);
    pthread_mutex_lock(&s.mu);
    CHECK_INT_EQ(s.puts, 2); /* no third upload completed */
    pthread_mutex_unlock(&s.mu);

    sl_http_relayer_free(rl);
    sl_transport_free(t);
    sl_http_server_stop(srv);
    sl_http_server_free(srv);
}

static enum sl_http_failure get_status(struct sl_transport *t, const char *url, long *status)
{
    struct sl_http_exchange x = {.method = "GET", .url = url, .timeout_ms = 30000};
    struct sl_http_result res;
    sl_transport_perform(t, &x, &res);
    *status = res.status;
    return res.failure;
}

/* Over https the transport verifies every connection against the CAs it was given (its
 * connections share one trust store): a server whose certificate chains to them is accepted
 * on every connection, a relay's two included; without them, with only another CA, or under a
 * name the certificate does not carry, the handshake is refused. */
static const char *data_dir; /* tests/data/tls, the first argument */

static void test_tls_trust(void)
{
    char url[192], get_url[192], put_url[192], wrong_name[192];
    char *other = sl_test_read_file(NULL, "%s/other-ca.crt", data_dir);
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct sl_test_tls_server tls;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_test_tls_server_new(&tls, data_dir, SL_TEST_CLIENT_CERT_NONE, &err), 0);
    sl_http_server_route(tls.srv, "GET", "/blob-20k", h_blob_20k, &s);
    sl_http_server_route(tls.srv, "PUT", "/upload", h_upload, &s);
    CHECK_INT_EQ(sl_test_tls_server_start(&tls, &err), 0);
    const char *addr = sl_http_server_addr(tls.srv);
    snprintf(url, sizeof(url), "%s/blob-20k", tls.url);
    snprintf(get_url, sizeof(get_url), "%s/blob-20k", tls.url);
    snprintf(put_url, sizeof(put_url), "%s/upload", tls.url);
    snprintf(wrong_name, sizeof(wrong_name), "https://localhost:%s/blob-20k",
             strrchr(addr, ':') + 1);
    long status = 0;

    struct sl_transport_opts with_ca = {.ca_pem = tls.ca_pem};
    struct sl_transport *t = sl_transport_new(&with_ca);
    for (int i = 0; i < 3; i++) {
        CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_OK);
        CHECK_INT_EQ(status, 200);
    }
    struct sl_http_relayer *rl = sl_http_relayer_new();
    struct sl_http_relay relay = {
        .get = {.method = "GET", .url = get_url, .timeout_ms = 30000},
        .put = {.method = "PUT", .url = put_url, .timeout_ms = 30000},
        .size = (int64_t)20 << 10,
        .on_get_done = accept_download,
    };
    struct sl_http_result gr, pr;
    sl_transport_relay(rl, t, t, &relay, &gr, &pr);
    CHECK_INT_EQ(gr.failure, SL_HTTP_OK);
    CHECK_INT_EQ(pr.failure, SL_HTTP_OK);
    CHECK_INT_EQ(pr.status, 201);
    pthread_mutex_lock(&s.mu);
    CHECK_INT_EQ(s.puts, 1);
    CHECK(s.put_matches);
    pthread_mutex_unlock(&s.mu);
    sl_http_relayer_free(rl);
    /* the certificate names 127.0.0.1 only */
    CHECK_INT_EQ(get_status(t, wrong_name, &status), SL_HTTP_TLS_VERIFY);
    sl_transport_free(t);

    t = sl_transport_new(NULL); /* the system's CAs only */
    CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_TLS_VERIFY);
    sl_transport_free(t);

    struct sl_transport_opts only_other = {.ca_pem = other, .ca_only = true};
    t = sl_transport_new(&only_other);
    CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_TLS_VERIFY);
    sl_transport_free(t);

    struct sl_transport_opts only_ca = {.ca_pem = tls.ca_pem, .ca_only = true};
    t = sl_transport_new(&only_ca);
    CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_OK);
    CHECK_INT_EQ(status, 200);
    sl_transport_free(t);

    sl_test_tls_server_free(&tls);
    free(other);
}

/* mTLS: a server that asks for a client certificate of its CA gets the one the transport was
 * given (from memory) and answers; a transport without one presents none (this server then
 * refuses the route with 403); with a certificate of another CA the server ends the handshake
 * with a certificate alert, which the transport reports as such (SL_HTTP_TLS_CLIENT_CERT, not a
 * network error). */
static void test_client_certificate(void)
{
    char url[192];
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct sl_test_tls_server tls;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_test_tls_server_new(&tls, data_dir, SL_TEST_CLIENT_CERT_ASKED, &err), 0);
    sl_http_server_route(tls.srv, "GET", "/blob-20k", h_blob_20k, &s);
    CHECK_INT_EQ(sl_test_tls_server_start(&tls, &err), 0);
    snprintf(url, sizeof(url), "%s/blob-20k", tls.url);
    long status = 0;

    struct sl_transport_opts with_cert = {.ca_pem = tls.ca_pem,
                                          .client_cert_pem = tls.client_crt_pem,
                                          .client_key_pem = tls.client_key_pem};
    struct sl_transport *t = sl_transport_new(&with_cert);
    for (int i = 0; i < 2; i++) {
        CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_OK);
        CHECK_INT_EQ(status, 200);
    }
    sl_transport_free(t);

    struct sl_transport_opts without = {.ca_pem = tls.ca_pem};
    t = sl_transport_new(&without);
    CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_OK);
    CHECK_INT_EQ(status, 403);
    sl_transport_free(t);

    struct sl_transport_opts other_cert = {.ca_pem = tls.ca_pem,
                                           .client_cert_pem = tls.server_crt_pem,
                                           .client_key_pem = tls.server_key_pem};
    t = sl_transport_new(&other_cert);
    CHECK_INT_EQ(get_status(t, url, &status), SL_HTTP_TLS_CLIENT_CERT);
    sl_transport_free(t);

    sl_test_tls_server_free(&tls);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s TLS_DATA_DIR (tests/data/tls)\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    for (size_t i = 0; i < BLOB_LEN; i++)
        blob[i] = (char)(i * 7 + i / 251);
    RUN(test_exchanges);
    RUN(test_connect_to);
    RUN(test_relay);
    RUN(test_relay_sizes);
    RUN(test_tls_trust);
    RUN(test_client_certificate);
    sl_transport_global_cleanup();
    return CHECK_EXIT();
}
