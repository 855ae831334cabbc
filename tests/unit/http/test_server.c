/* The HTTP server, started in-process on 127.0.0.1:0 and driven with libcurl: routing (exact,
 * prefix, 404, 405 with Allow, HEAD), request data seen by handlers, body caps (413), keep-alive,
 * HTTPS with a certificate generated here, certificate reload, stop/start, and deferred replies
 * (answered from another thread while the loop serves others; fallback at the deadline;
 * handles finished after the server stopped). */
#include "check.h"
#include "http/handlers.h"
#include "http/server.h"
#include "runtime/metrics.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

/* the server's sweep period (SL_HTTP_SWEEP_MS in http/server.c) */
#define SL_HTTP_SWEEP_MS_FOR_TESTS 200

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

/* /metrics answers with the runtime's metrics, handed to the HTTP layer as a callback. */
static void render_metrics(void *ctx, struct sl_buf *out)
{
    sl_metrics_render(ctx, out);
}
static struct sl_http_metrics_source metrics_source = {.render = render_metrics};

/* ---- handlers ---- */

static void h_hello(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    sl_buf_append_str(&resp->body, "hello\n");
}

static void h_echo(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    const char *hdr = sl_http_request_header(req, "x-test");
    char *line =
        sl_xasprintf("method=%s path=%s query=%s header=%s len=%zu body=", req->method, req->path,
                     req->query ? req->query : "(none)", hdr ? hdr : "(none)", req->body_len);
    sl_buf_append_str(&resp->body, line);
    free(line);
    /* body must be NUL-terminated at body_len */
    if (req->body[req->body_len] == '\0')
        sl_buf_append(&resp->body, req->body, req->body_len);
    else
        sl_buf_append_str(&resp->body, "NOT-TERMINATED");
}

static void h_tag(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    sl_buf_append_str(&resp->body, (const char *)ctx);
    sl_buf_append_str(&resp->body, ":");
    sl_buf_append_str(&resp->body, req->path);
}

static void h_teapot(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    resp->status = 418;
    resp->content_type = "application/json";
    CHECK_INT_EQ(sl_http_request_add_response_header(req, "Retry-After", "7"), 0);
    CHECK_INT_EQ(sl_http_request_add_response_header(req, "X-Bad", "a\r\nInjected: 1"), SL_EINVAL);
    CHECK(sl_http_request_peer(req) != NULL);
    sl_buf_append_str(&resp->body, "{\"short\":\"stout\"}");
}

/* ---- client side ---- */

struct reply {
    long status;
    long connects;
    int curl_rc;
    char content_type[128];
    char allow[128];
    char retry_after[32];
    char serial[128];
    struct sl_buf body;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    sl_buf_append(&r->body, ptr, size * n);
    return size * n;
}

static void copy_header(CURL *h, const char *name, char *out, size_t n)
{
    struct curl_header *hdr = NULL;
    out[0] = '\0';
    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
        snprintf(out, n, "%s", hdr->value);
}

struct req_opts {
    const char *method; /* NULL = GET, or POST when a body is given */
    const char *body;
    size_t body_len;
    int chunked;
    const char *header; /* one extra "Name: value" */
    const char *ca_file;
    const char *client_cert, *client_key; /* present this client certificate */
    int path_as_is;
};

/* Performs one request on h (reused for keep-alive); r->body must be initialised. */
static void request(CURL *h, const char *url, const struct req_opts *o, struct reply *r)
{
    struct curl_slist *headers = NULL;
    r->status = 0;
    r->serial[0] = '\0';
    sl_buf_reset(&r->body);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (o && o->path_as_is)
        curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    if (o && o->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        headers = curl_slist_append(headers, "Expect:");
        if (o->chunked)
            headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    }
    if (o && o->method && strcmp(o->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (o && o->method)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, o->method);
    if (o && o->header)
        headers = curl_slist_append(headers, o->header);
    if (headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (o && o->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
    }
    if (o && o->client_cert) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, o->client_cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, o->client_key);
    }
    r->curl_rc = (int)curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    long connects = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    r->connects += connects;
    copy_header(h, "Content-Type", r->content_type, sizeof(r->content_type));
    copy_header(h, "Allow", r->allow, sizeof(r->allow));
    copy_header(h, "Retry-After", r->retry_after, sizeof(r->retry_after));
    struct curl_certinfo *ci = NULL;
    if (r->curl_rc == 0 && o && o->ca_file &&
        curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci && ci->num_of_certs > 0) {
        for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
            if (strncmp(l->data, "Serial Number:", 14) == 0)
                snprintf(r->serial, sizeof(r->serial), "%s", l->data + 14);
        }
    }
    curl_slist_free_all(headers);
}

static char *url_for(struct sl_http_server *s, const char *scheme, const char *path)
{
    return sl_xasprintf("%s://%s%s", scheme, sl_http_server_addr(s), path);
}

static struct sl_http_server *start_server(const char *addr, size_t max_body, const char *cert,
                                           const char *key)
{
    struct sl_http_server *s = NULL;
    struct sl_err err;
    struct sl_http_server_opts opts = {
        .addr = addr, .tls_cert_file = cert, .tls_key_file = key, .max_body_bytes = max_body};
    sl_err_clear(&err);
    CHECK_INT_EQ(sl_http_server_new(&s, &opts, &err), 0);
    if (!s)
        return NULL;
    sl_http_server_set_tls_reload_interval_ms(s, 0);
    sl_http_server_route(s, "GET", "/hello", h_hello, NULL);
    sl_http_server_route(s, "POST", "/echo", h_echo, NULL);
    sl_http_server_route(s, NULL, "/hooks/*", h_tag, "prefix");
    sl_http_server_route(s, NULL, "/hooks/special", h_tag, "exact");
    sl_http_server_route(s, "GET", "/teapot", h_teapot, NULL);
    sl_http_server_route(s, "GET", "/metrics", sl_http_handle_metrics, (void *)&metrics_source);
    int rc = sl_http_server_start(s, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "start %s: %s\n", addr, err.msg);
        sl_http_server_free(s);
        return NULL;
    }
    return s;
}

/* ---- tests ---- */

static void test_routes(void)
{
    struct sl_metrics *m = sl_metrics_new();
    metrics_source.ctx = m;
    struct sl_http_server *s = start_server("127.0.0.1:0", 0, NULL, NULL);
    if (!s)
        return;
    CHECK(strncmp(sl_http_server_addr(s), "127.0.0.1:", 10) == 0);
    CHECK(strcmp(sl_http_server_addr(s), "127.0.0.1:0") != 0);
    CURL *h = curl_easy_init();
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    char *u;

    request(h, u = url_for(s, "http", "/hello"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&r.body), "hello\n");
    CHECK_STR_EQ(r.content_type, "text/plain; charset=utf-8");

    request(h, u = url_for(s, "http", "/h%65llo"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);

    request(h, u = url_for(s, "http", "/nothing-here"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 404);

    request(h, u = url_for(s, "http", "/hello/"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 404);

    struct req_opts post = {.body = "x", .body_len = 1};
    request(h, u = url_for(s, "http", "/hello"), &post, &r);
    free(u);
    CHECK_INT_EQ(r.status, 405);
    CHECK_STR_EQ(r.allow, "GET, HEAD");

    struct req_opts head = {.method = "HEAD"};
    request(h, u = url_for(s, "http", "/hello"), &head, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.body.len, 0);

    request(h, u = url_for(s, "http", "/hooks/gitsource/ns/name"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&r.body), "prefix:/hooks/gitsource/ns/name");

    request(h, u = url_for(s, "http", "/hooks/special"), &post, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&r.body), "exact:/hooks/special");

    /* a dot segment must not sneak through a prefix route to another path */
    struct req_opts as_is = {.path_as_is = 1};
    request(h, u = url_for(s, "http", "/hooks/../hello"), &as_is, &r);
    free(u);
    CHECK_INT_EQ(r.status, 400);
    request(h, u = url_for(s, "http", "/hooks/%00x"), &as_is, &r);
    free(u);
    CHECK_INT_EQ(r.status, 400);
    request(h, u = url_for(s, "http", "/hooks/%zz"), &as_is, &r);
    free(u);
    CHECK_INT_EQ(r.status, 400);

    request(h, u = url_for(s, "http", "/teapot"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 418);
    CHECK_STR_EQ(r.content_type, "application/json");
    CHECK_STR_EQ(r.retry_after, "7");
    CHECK_STR_EQ(sl_buf_cstr(&r.body), "{\"short\":\"stout\"}");

    sl_metrics_reconcile_observe(m, "ImageDelivery", "success", 0.02);
    request(h, u = url_for(s, "http", "/metrics"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    CHECK_CONTAINS(sl_buf_cstr(&r.body),
                   "\nsealift_reconcile_total{kind=\"ImageDelivery\",result=\"success\"} 1\n");
    CHECK_CONTAINS(sl_buf_cstr(&r.body), "\nprocess_resident_memory_bytes ");

    sl_buf_free(&r.body);
    curl_easy_cleanup(h);
    sl_http_server_free(s);
    metrics_source.ctx = NULL;
    sl_metrics_free(m);
}

static void test_request_data_and_keepalive(void)
{
    struct sl_http_server *s = start_server("127.0.0.1:0", 0, NULL, NULL);
    if (!s)
        return;
    CURL *h = curl_easy_init();
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    char *u = url_for(s, "http", "/echo?a=1&b=%20x");
    struct req_opts o = {.body = "{\"k\":1}", .body_len = 7, .header = "X-Test: yes"};
    for (int i = 0; i < 5; i++) {
        request(h, u, &o, &r);
        CHECK_INT_EQ(r.status, 200);
    }
    CHECK_STR_EQ(sl_buf_cstr(&r.body),
                 "method=POST path=/echo query=a=1&b=%20x header=yes len=7 body={\"k\":1}");
    /* five requests, one TCP connection */
    CHECK_INT_EQ(r.connects, 1);
    free(u);

    /* an empty body is "" with length 0 */
    u = url_for(s, "http", "/echo");
    struct req_opts empty = {.method = "POST"};
    request(h, u, &empty, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&r.body),
                 "method=POST path=/echo query=(none) header=(none) len=0 body=");

    /* stop while the keep-alive connection is still open: must return, not hang */
    sl_http_server_stop(s);
    sl_buf_free(&r.body);
    curl_easy_cleanup(h);
    sl_http_server_free(s);
}

static void test_body_limits(void)
{
    struct sl_http_server *s = start_server("127.0.0.1:0", 1024, NULL, NULL);
    if (!s)
        return;
    CURL *h = curl_easy_init();
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    char *big = sl_xmalloc(70000);
    memset(big, 'a', 70000);
    char *u = url_for(s, "http", "/echo");

    struct req_opts at_cap = {.body = big, .body_len = 1024};
    request(h, u, &at_cap, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(sl_buf_cstr(&r.body), "len=1024 ");

    struct req_opts over = {.body = big, .body_len = 1025};
    request(h, u, &over, &r);
    CHECK_INT_EQ(r.status, 413);

    struct req_opts way_over = {.body = big, .body_len = 70000};
    request(h, u, &way_over, &r);
    CHECK_INT_EQ(r.status, 413);

    struct req_opts chunked = {.body = big, .body_len = 5000, .chunked = 1};
    request(h, u, &chunked, &r);
    CHECK_INT_EQ(r.status, 413);

    /* a header block far above the cap is refused, and the server keeps serving */
    char *hdr = sl_xmalloc(70000 + 16);
    memcpy(hdr, "X-Test: ", 8);
    memset(hdr + 8, 'h', 70000);
    hdr[70008] = '\0';
    struct req_opts big_header = {.body = "x", .body_len = 1, .header = hdr};
    request(h, u, &big_header, &r);
    CHECK(r.status != 200);
    free(hdr);

    free(u);
    request(h, u = url_for(s, "http", "/hello"), NULL, &r);
    free(u);
    CHECK_INT_EQ(r.status, 200);

    free(big);
    sl_buf_free(&r.body);
    curl_easy_cleanup(h);
    sl_http_server_free(s);
}

static int port_of(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    return colon ? (int)strtol(colon + 1, NULL, 10) : 0;
}

static void test_addresses(void)
{
    /* all interfaces */
    struct sl_http_server *s = start_server(":0", 0, NULL, NULL);
    if (s) {
        int port = port_of(sl_http_server_addr(s));
        CHECK(port > 0);
        char *u = sl_xasprintf("http://127.0.0.1:%d/hello", port);
        CURL *h = curl_easy_init();
        struct reply r = {0};
        sl_buf_init(&r.body, 0);
        request(h, u, NULL, &r);
        CHECK_INT_EQ(r.status, 200);
        free(u);
        sl_buf_free(&r.body);
        curl_easy_cleanup(h);
        sl_http_server_free(s);
    }

    /* IPv6 loopback, where the machine has it */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_loopback;
    int have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a6, sizeof(a6)) == 0;
    if (probe >= 0)
        close(probe);
    if (have_v6) {
        s = start_server("[::1]:0", 0, NULL, NULL);
        if (s) {
            CHECK(strncmp(sl_http_server_addr(s), "[::1]:", 6) == 0);
            char *u = url_for(s, "http", "/hello");
            CURL *h = curl_easy_init();
            struct reply r = {0};
            sl_buf_init(&r.body, 0);
            request(h, u, NULL, &r);
            CHECK_INT_EQ(r.status, 200);
            free(u);
            sl_buf_free(&r.body);
            curl_easy_cleanup(h);
            sl_http_server_free(s);
        }
    } else {
        fprintf(stderr, "no IPv6 loopback here; [::1] case skipped\n");
    }

    /* malformed addresses are refused with a message naming them */
    const char *bad[] = {
        "nohostport", "127.0.0.1:99999", "127.0.0.1:", "[::1]0", "::1:80", "127.0.0.1:8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_http_server *b = NULL;
        struct sl_err err;
        struct sl_http_server_opts opts = {.addr = bad[i]};
        sl_err_clear(&err);
        CHECK_INT_EQ(sl_http_server_new(&b, &opts, &err), 0);
        CHECK_INT_EQ(sl_http_server_start(b, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, bad[i]);
        sl_http_server_free(b);
    }

    /* a port already taken */
    s = start_server("127.0.0.1:0", 0, NULL, NULL);
    if (s) {
        struct sl_http_server *b = NULL;
        struct sl_err err;
        struct sl_http_server_opts opts = {.addr = sl_http_server_addr(s)};
        CHECK_INT_EQ(sl_http_server_new(&b, &opts, &err), 0);
        CHECK_INT_EQ(sl_http_server_start(b, &err), SL_EFAIL);
        CHECK_CONTAINS(err.msg, "in use");
        sl_http_server_free(b);
        sl_http_server_free(s);
    }
}

static void test_stop_start(void)
{
    struct sl_http_server *s = start_server("127.0.0.1:0", 0, NULL, NULL);
    if (!s)
        return;
    CURL *h = curl_easy_init();
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    struct sl_err err;
    for (int round = 0; round < 3; round++) {
        char *u = url_for(s, "http", "/hello");
        request(h, u, NULL, &r);
        CHECK_INT_EQ(r.status, 200);
        sl_http_server_stop(s);
        sl_http_server_stop(s); /* twice is fine */
        curl_easy_cleanup(h);
        h = curl_easy_init();
        request(h, u, NULL, &r);
        CHECK(r.curl_rc != 0); /* nobody listens any more */
        free(u);
        CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    }
    /* a second start while running is refused */
    CHECK_INT_EQ(sl_http_server_start(s, &err), SL_EINVAL);
    sl_buf_free(&r.body);
    curl_easy_cleanup(h);
    sl_http_server_free(s);
    sl_http_server_free(NULL);

    /* a server freed without ever starting */
    struct sl_http_server_opts opts = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&s, &opts, &err), 0);
    sl_http_server_free(s);

    /* cert without key is refused up front */
    struct sl_http_server_opts half = {.addr = "127.0.0.1:0", .tls_cert_file = "/x.pem"};
    s = NULL;
    CHECK_INT_EQ(sl_http_server_new(&s, &half, &err), SL_EINVAL);
    CHECK(s == NULL);
}

/* ---- deferred replies ---- */

/* The handler defers; the test thread picks the handle up from here. */
static pthread_mutex_t defer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t defer_cv = PTHREAD_COND_INITIALIZER;
static struct sl_http_deferred *deferred_slot;

/* ctx is the deadline in ms. */
static void h_defer(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct sl_http_response fallback = {.status = 503, .content_type = "text/x-fallback"};
    sl_buf_init(&fallback.body, 0);
    sl_buf_append_str(&fallback.body, "fallback\n");
    struct sl_http_deferred *d = sl_http_request_defer(req, (int64_t)(intptr_t)ctx, &fallback);
    CHECK(d != NULL);
    CHECK(sl_http_request_defer(req, 1000, &fallback) == NULL); /* only once */
    sl_buf_free(&fallback.body);
    CHECK_INT_EQ(sl_http_request_add_response_header(req, "X-Deferred", "1"), 0);
    sl_buf_append_str(&resp->body, "never sent\n"); /* a deferred handler's resp is ignored */
    pthread_mutex_lock(&defer_mu);
    deferred_slot = d;
    pthread_cond_broadcast(&defer_cv);
    pthread_mutex_unlock(&defer_mu);
}

static struct sl_http_deferred *take_deferred(void)
{
    pthread_mutex_lock(&defer_mu);
    while (!deferred_slot)
        pthread_cond_wait(&defer_cv, &defer_mu);
    struct sl_http_deferred *d = deferred_slot;
    deferred_slot = NULL;
    pthread_mutex_unlock(&defer_mu);
    return d;
}

struct bg_request {
    char *url;
    struct reply r;
    pthread_t thread;
    pthread_mutex_t mu;
    int done;
    int joined;
};

static void *bg_main(void *arg)
{
    struct bg_request *b = arg;
    CURL *h = curl_easy_init();
    request(h, b->url, NULL, &b->r);
    curl_easy_cleanup(h);
    pthread_mutex_lock(&b->mu);
    b->done = 1;
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Starts a GET of url on its own thread and connection. */
static struct bg_request *bg_start(char *url)
{
    struct bg_request *b = sl_xcalloc(1, sizeof(*b));
    b->url = url;
    sl_buf_init(&b->r.body, 0);
    pthread_mutex_init(&b->mu, NULL);
    pthread_create(&b->thread, NULL, bg_main, b);
    return b;
}

static int bg_done(struct bg_request *b)
{
    pthread_mutex_lock(&b->mu);
    int d = b->done;
    pthread_mutex_unlock(&b->mu);
    return d;
}

/* Waits for the request to end. */
static void bg_join(struct bg_request *b)
{
    if (!b->joined)
        pthread_join(b->thread, NULL);
    b->joined = 1;
}

static void bg_free(struct bg_request *b)
{
    bg_join(b);
    pthread_mutex_destroy(&b->mu);
    sl_buf_free(&b->r.body);
    free(b->url);
    free(b);
}

static void finish_with(struct sl_http_deferred *d, int status, const char *text)
{
    struct sl_http_response resp = {.status = status, .content_type = "text/x-late"};
    sl_buf_init(&resp.body, 0);
    sl_buf_append_str(&resp.body, text);
    sl_http_deferred_finish(d, &resp);
    CHECK_INT_EQ(resp.body.len, 0); /* taken over */
    sl_buf_free(&resp.body);
}

static void test_deferred(void)
{
    struct sl_http_server *s = start_server("127.0.0.1:0", 0, NULL, NULL);
    if (!s)
        return;
    /* start_server routes before start; these are added on a stopped server */
    sl_http_server_stop(s);
    sl_http_server_route(s, "GET", "/slow", h_defer, (void *)(intptr_t)60000);
    sl_http_server_route(s, "GET", "/stuck", h_defer, (void *)(intptr_t)100);
    struct sl_err err;
    CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    CURL *h = curl_easy_init();
    struct reply r = {0};
    sl_buf_init(&r.body, 0);

    /* while one request waits for its answer, the loop serves others on other connections */
    struct bg_request *slow = bg_start(url_for(s, "http", "/slow"));
    struct sl_http_deferred *d = take_deferred();
    char *u = url_for(s, "http", "/hello");
    for (int i = 0; i < 3; i++) {
        request(h, u, NULL, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_STR_EQ(sl_buf_cstr(&r.body), "hello\n");
    }
    free(u);
    CHECK(!bg_done(slow));                /* the deferred one is still open */
    finish_with(d, 201, "late answer\n"); /* from this thread, not the loop */
    bg_join(slow);
    CHECK_INT_EQ(slow->r.curl_rc, 0);
    CHECK_INT_EQ(slow->r.status, 201);
    CHECK_STR_EQ(slow->r.content_type, "text/x-late");
    CHECK_STR_EQ(sl_buf_cstr(&slow->r.body), "late answer\n");
    bg_free(slow);

    /* no answer by the deadline: the fallback goes out; the late answer is dropped */
    struct bg_request *stuck = bg_start(url_for(s, "http", "/stuck"));
    d = take_deferred();
    bg_join(stuck);
    CHECK_INT_EQ(stuck->r.status, 503);
    CHECK_STR_EQ(stuck->r.content_type, "text/x-fallback");
    CHECK_STR_EQ(sl_buf_cstr(&stuck->r.body), "fallback\n");
    finish_with(d, 200, "too late\n");
    bg_free(stuck);

    /* the connection is fine afterwards (keep-alive) */
    u = url_for(s, "http", "/hello");
    request(h, u, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    free(u);

    /* stopping closes open deferrals; their handles are finished after stop, even after free */
    slow = bg_start(url_for(s, "http", "/slow"));
    struct sl_http_deferred *d1 = take_deferred();
    struct bg_request *slow2 = bg_start(url_for(s, "http", "/slow"));
    struct sl_http_deferred *d2 = take_deferred();
    finish_with(d2, 200, "queued while stopping\n"); /* may or may not make it out */
    sl_http_server_stop(s);
    bg_free(slow);
    bg_free(slow2);
    finish_with(d1, 200, "after stop\n");
    CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    slow = bg_start(url_for(s, "http", "/slow"));
    d = take_deferred();
    sl_http_server_free(s);
    finish_with(d, 200, "after free\n");
    bg_free(slow);

    sl_http_deferred_finish(NULL, NULL);
    /* a request not served by a server cannot be deferred */
    struct sl_http_request plain = {.method = "GET", .path = "/"};
    struct sl_http_response fb = {.status = 503};
    sl_buf_init(&fb.body, 0);
    CHECK(sl_http_request_defer(&plain, 1000, &fb) == NULL);
    sl_buf_free(&r.body);
    curl_easy_cleanup(h);
}

/* ---- TLS ---- */

static void write_file_atomically(const char *path, const char *data, size_t len)
{
    char *tmp = sl_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
        CHECK_INT_EQ(rename(tmp, path), 0);
    }
    free(tmp);
}

/* Writes a self-signed P-256 certificate with the given serial and subject alternative names
 * (PEM), its key, and a copy of the certificate to ca_path for the peer to trust. */
static void make_cert_san(const char *cert_path, const char *key_path, const char *ca_path,
                          long serial, const char *cn, const char *san)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, pkey, EVP_sha256());

    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, x);
    PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL);
    char *cdata, *kdata;
    long clen = BIO_get_mem_data(cb, &cdata), klen = BIO_get_mem_data(kb, &kdata);
    write_file_atomically(key_path, kdata, (size_t)klen);
    write_file_atomically(cert_path, cdata, (size_t)clen);
    write_file_atomically(ca_path, cdata, (size_t)clen);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

/* A server certificate for 127.0.0.1. */
static void make_cert(const char *cert_path, const char *key_path, const char *ca_path, long serial,
                      const char *cn)
{
    make_cert_san(cert_path, key_path, ca_path, serial, cn, "IP:127.0.0.1,DNS:localhost");
}

static void test_tls_and_reload(void)
{
    char *cert = sl_xasprintf("%s/tls.crt", tmpdir), *key = sl_xasprintf("%s/tls.key", tmpdir);
    char *ca1 = sl_xasprintf("%s/ca1.pem", tmpdir), *ca2 = sl_xasprintf("%s/ca2.pem", tmpdir);
    char *other_cert = sl_xasprintf("%s/other.crt", tmpdir);
    char *other_key = sl_xasprintf("%s/other.key", tmpdir);
    make_cert(cert, key, ca1, 0x1001, "sealift-one");
    struct sl_http_server *s = start_server("127.0.0.1:0", 0, cert, key);
    if (!s)
        goto done;
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    char *u = url_for(s, "https", "/hello");
    CURL *h = curl_easy_init();

    struct req_opts o1 = {.ca_file = ca1};
    request(h, u, &o1, &r);
    CHECK_INT_EQ(r.curl_rc, 0);
    CHECK_STR_EQ(r.serial, "1001");
    for (int i = 0; i < 2; i++)
        request(h, u, &o1, &r);
    CHECK_INT_EQ(r.curl_rc, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&r.body), "hello\n");
    CHECK_INT_EQ(r.connects, 1); /* keep-alive over TLS too */

    /* plain HTTP on the TLS port gets no HTTP answer */
    char *plain = url_for(s, "http", "/hello");
    CURL *hp = curl_easy_init();
    struct reply rp = {0};
    sl_buf_init(&rp.body, 0);
    request(hp, plain, NULL, &rp);
    CHECK(rp.status != 200);
    curl_easy_cleanup(hp);
    sl_buf_free(&rp.body);
    free(plain);

    /* the client refuses the server when it trusts another certificate */
    make_cert(other_cert, other_key, ca2, 0x3003, "stranger");
    curl_easy_cleanup(h);
    h = curl_easy_init();
    struct req_opts o2 = {.ca_file = ca2};
    request(h, u, &o2, &r);
    CHECK_INT_EQ(r.curl_rc, CURLE_PEER_FAILED_VERIFICATION);

    /* replace the files: new connections get the new certificate */
    make_cert(cert, key, ca2, 0x2002, "sealift-two");
    curl_easy_cleanup(h);
    h = curl_easy_init();
    request(h, u, &o2, &r);
    CHECK_INT_EQ(r.curl_rc, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.serial, "2002");

    /* a broken certificate file is not loaded; the previous certificate keeps serving */
    write_file_atomically(cert, "not a certificate\n", 18);
    curl_easy_cleanup(h);
    h = curl_easy_init();
    request(h, u, &o2, &r);
    CHECK_INT_EQ(r.curl_rc, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.serial, "2002");

    /* TLS 1.1 and older are refused */
    curl_easy_cleanup(h);
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca2);
    curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
    curl_easy_setopt(h, CURLOPT_SSLVERSION,
                     (long)(CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1));
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    CHECK(curl_easy_perform(h) != CURLE_OK);

    curl_easy_cleanup(h);
    free(u);
    sl_http_server_free(s);

    /* with a long reload interval, changed files are not looked at yet */
    make_cert(cert, key, ca1, 0x4004, "sealift-four");
    s = start_server("127.0.0.1:0", 0, cert, key);
    if (s) {
        sl_http_server_stop(s);
        sl_http_server_set_tls_reload_interval_ms(s, 3600 * 1000);
        struct sl_err e2;
        CHECK_INT_EQ(sl_http_server_start(s, &e2), 0);
        make_cert(cert, key, ca2, 0x5005, "sealift-five");
        u = url_for(s, "https", "/hello");
        h = curl_easy_init();
        request(h, u, &o1, &r);
        CHECK_INT_EQ(r.curl_rc, 0);
        CHECK_STR_EQ(r.serial, "4004");
        curl_easy_cleanup(h);
        free(u);
        sl_http_server_free(s);
    }
    sl_buf_free(&r.body);
    write_file_atomically(cert, "not a certificate\n", 18);

    /* a TLS server whose files cannot be loaded does not start */
    struct sl_http_server_opts bad = {
        .addr = "127.0.0.1:0", .tls_cert_file = cert, .tls_key_file = key};
    struct sl_err err;
    CHECK_INT_EQ(sl_http_server_new(&s, &bad, &err), 0);
    CHECK_INT_EQ(sl_http_server_start(s, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "certificate");
    sl_http_server_free(s);
done:
    unlink(cert);
    unlink(key);
    unlink(ca1);
    unlink(ca2);
    unlink(other_cert);
    unlink(other_key);
    free(other_cert);
    free(other_key);
    free(cert);
    free(key);
    free(ca1);
    free(ca2);
}

static int hello_calls;

static void h_count(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    __atomic_add_fetch(&hello_calls, 1, __ATOMIC_SEQ_CST);
    sl_buf_append_str(&resp->body, "registry facts\n");
}

/* A listener with a client CA (the admission webhook's --webhook-client-ca): a caller with a
 * certificate of another CA, or one that does not carry the pinned name, fails the handshake
 * and never reaches a handler; a caller without a certificate gets 403 from the routes that
 * need one (the handler never runs) and answers from the anonymous ones (/convert, which
 * kube-apiserver calls without a client certificate); the API server's certificate gets
 * through everywhere. */
static void test_tls_client_certificates(void)
{
    char *cert = sl_xasprintf("%s/srv.crt", tmpdir), *key = sl_xasprintf("%s/srv.key", tmpdir);
    char *srv_ca = sl_xasprintf("%s/srv-ca.pem", tmpdir);
    char *api_cert = sl_xasprintf("%s/api.crt", tmpdir),
         *api_key = sl_xasprintf("%s/api.key", tmpdir);
    char *client_ca = sl_xasprintf("%s/client-ca.pem", tmpdir);
    char *rogue_cert = sl_xasprintf("%s/rogue.crt", tmpdir);
    char *rogue_key = sl_xasprintf("%s/rogue.key", tmpdir);
    char *rogue_ca = sl_xasprintf("%s/rogue-ca.pem", tmpdir);
    make_cert(cert, key, srv_ca, 0x6006, "sealift-webhook");
    /* self-signed: each client certificate is its own CA */
    make_cert_san(api_cert, api_key, client_ca, 0x7007, "kube-apiserver",
                  "DNS:sealift-apiserver-client");
    make_cert_san(rogue_cert, rogue_key, rogue_ca, 0x8008, "kube-apiserver",
                  "DNS:sealift-apiserver-client");

    for (int pinned = 0; pinned < 2; pinned++) {
        struct sl_http_server *s = NULL;
        struct sl_err err;
        struct sl_http_server_opts opts = {.addr = "127.0.0.1:0",
                                           .tls_cert_file = cert,
                                           .tls_key_file = key,
                                           .tls_client_ca_file = client_ca,
                                           .tls_client_name =
                                               pinned ? "sealift-apiserver-client" : NULL};
        CHECK_INT_EQ(sl_http_server_new(&s, &opts, &err), 0);
        sl_http_server_route(s, "GET", "/hello", h_count, NULL);
        sl_http_server_route_anonymous(s, "GET", "/open", h_count, NULL);
        CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
        char *u = url_for(s, "https", "/hello");
        char *open_u = url_for(s, "https", "/open");
        struct reply r = {0};
        sl_buf_init(&r.body, 0);
        CURL *h = curl_easy_init();
        hello_calls = 0;

        /* the API server's certificate */
        struct req_opts api = {.ca_file = srv_ca, .client_cert = api_cert, .client_key = api_key};
        request(h, u, &api, &r);
        CHECK_INT_EQ(r.curl_rc, 0);
        CHECK_INT_EQ(r.status, 200);
        CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 1);

        request(h, open_u, &api, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 2);

        /* no client certificate: 403 from a route that needs one, the handler never runs */
        struct req_opts anon = {.ca_file = srv_ca};
        curl_easy_cleanup(h);
        h = curl_easy_init();
        request(h, u, &anon, &r);
        CHECK_INT_EQ(r.curl_rc, 0);
        CHECK_INT_EQ(r.status, 403);
        CHECK_CONTAINS(r.body.data, "client certificate");
        CHECK(strstr(r.body.data, "registry facts") == NULL);
        CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 2);
        /* ... also on the same connection after an anonymous route answered */
        request(h, open_u, &anon, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_CONTAINS(r.body.data, "registry facts");
        CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 3);
        request(h, u, &anon, &r);
        CHECK_INT_EQ(r.status, 403);
        CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 3);
        /* a certificate of another CA (same name): the handshake fails, anonymous routes too */
        struct req_opts rogue = {
            .ca_file = srv_ca, .client_cert = rogue_cert, .client_key = rogue_key};
        curl_easy_cleanup(h);
        h = curl_easy_init();
        request(h, u, &rogue, &r);
        CHECK(r.curl_rc != 0);
        curl_easy_cleanup(h);
        h = curl_easy_init();
        request(h, open_u, &rogue, &r);
        CHECK(r.curl_rc != 0);
        CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 3);
        curl_easy_cleanup(h);
        sl_buf_free(&r.body);
        free(u);
        free(open_u);
        sl_http_server_free(s);
    }

    /* pinned to another name: the CA's certificate alone is not enough */
    struct sl_http_server *s = NULL;
    struct sl_err err;
    struct sl_http_server_opts other = {.addr = "127.0.0.1:0",
                                        .tls_cert_file = cert,
                                        .tls_key_file = key,
                                        .tls_client_ca_file = client_ca,
                                        .tls_client_name = "someone-else"};
    CHECK_INT_EQ(sl_http_server_new(&s, &other, &err), 0);
    sl_http_server_route(s, "GET", "/hello", h_count, NULL);
    CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    char *u = url_for(s, "https", "/hello");
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    CURL *h = curl_easy_init();
    hello_calls = 0;
    struct req_opts api = {.ca_file = srv_ca, .client_cert = api_cert, .client_key = api_key};
    request(h, u, &api, &r);
    CHECK(r.curl_rc != 0);
    CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 0);
    curl_easy_cleanup(h);
    sl_buf_free(&r.body);
    free(u);
    sl_http_server_free(s);

    /* required: a client without a certificate fails the handshake, even for an anonymous
     * route; the CA's certificate still gets through */
    struct sl_http_server_opts required = {.addr = "127.0.0.1:0",
                                           .tls_cert_file = cert,
                                           .tls_key_file = key,
                                           .tls_client_ca_file = client_ca,
                                           .tls_client_cert_required = true};
    s = NULL;
    CHECK_INT_EQ(sl_http_server_new(&s, &required, &err), 0);
    sl_http_server_route(s, "GET", "/hello", h_count, NULL);
    sl_http_server_route_anonymous(s, "GET", "/open", h_count, NULL);
    CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    u = url_for(s, "https", "/hello");
    char *open_u = url_for(s, "https", "/open");
    sl_buf_init(&r.body, 0);
    hello_calls = 0;
    struct req_opts anon = {.ca_file = srv_ca};
    h = curl_easy_init();
    request(h, open_u, &anon, &r);
    CHECK(r.curl_rc != 0);
    curl_easy_cleanup(h);
    h = curl_easy_init();
    request(h, u, &anon, &r);
    CHECK(r.curl_rc != 0);
    CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 0);
    curl_easy_cleanup(h);
    h = curl_easy_init();
    request(h, u, &api, &r);
    CHECK_INT_EQ(r.curl_rc, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(__atomic_load_n(&hello_calls, __ATOMIC_SEQ_CST), 1);
    curl_easy_cleanup(h);
    sl_buf_free(&r.body);
    free(u);
    free(open_u);
    sl_http_server_free(s);

    /* a client CA needs TLS */
    struct sl_http_server_opts plain = {.addr = "127.0.0.1:0", .tls_client_ca_file = client_ca};
    s = NULL;
    CHECK_INT_EQ(sl_http_server_new(&s, &plain, &err), SL_EINVAL);

    const char *files[] = {cert,      key,        srv_ca,    api_cert, api_key,
                           client_ca, rogue_cert, rogue_key, rogue_ca};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(files[i]);
        free((char *)files[i]);
    }
}

/* A raw TCP connection to the server (blocking, 5 s receive timeout); -1 on failure. */
static int raw_connect(struct sl_http_server *s)
{
    const char *addr = sl_http_server_addr(s);
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    CHECK(fd >= 0);
    return fd;
}

/* True when the server closed fd: a read gives EOF or a reset (within the 5 s timeout). */
static int closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A client without a certificate, where one is required, hears why: with TLS 1.3 its side of the
 * handshake is complete before the server refuses it, and the server stops reading there, with
 * the client's Finished unread. Closed like that the socket sends a reset, which (on a loaded
 * machine, the client not yet past its handshake) can reach the client before the alert and
 * turn "certificate required" into "connection reset" or a failed getpeername. The server
 * drains what the client sent before closing: after the sweep has closed the connection the
 * client still has its address and reads the alert. */
static void test_refused_handshake_ends_with_the_alert(void)
{
    char *cert = sl_xasprintf("%s/srv4.crt", tmpdir), *key = sl_xasprintf("%s/srv4.key", tmpdir);
    char *srv_ca = sl_xasprintf("%s/srv4-ca.pem", tmpdir);
    char *api_cert = sl_xasprintf("%s/api4.crt", tmpdir);
    char *api_key = sl_xasprintf("%s/api4.key", tmpdir);
    char *client_ca = sl_xasprintf("%s/client4-ca.pem", tmpdir);
    make_cert(cert, key, srv_ca, 0x6106, "sealift-webhook");
    make_cert_san(api_cert, api_key, client_ca, 0x7107, "kube-apiserver",
                  "DNS:sealift-apiserver-client");
    struct sl_http_server *s = NULL;
    struct sl_err err;
    struct sl_http_server_opts required = {.addr = "127.0.0.1:0",
                                           .tls_cert_file = cert,
                                           .tls_key_file = key,
                                           .tls_client_ca_file = client_ca,
                                           .tls_client_cert_required = true};
    CHECK_INT_EQ(sl_http_server_new(&s, &required, &err), 0);
    sl_http_server_route_anonymous(s, "GET", "/open", h_count, NULL);
    CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    int fd = raw_connect(s);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    CHECK_INT_EQ(SSL_connect(ssl), 1);        /* the client's side of a TLS 1.3 handshake */
    sleep_ms(3 * SL_HTTP_SWEEP_MS_FOR_TESTS); /* the server refused it and closed the socket */
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    CHECK_INT_EQ(getpeername(fd, (struct sockaddr *)&peer, &plen), 0);
    char buf[64];
    ERR_clear_error();
    CHECK(SSL_read(ssl, buf, sizeof(buf)) <= 0);
    CHECK_INT_EQ(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED);
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    sl_http_server_free(s);
    const char *files[] = {cert, key, srv_ca, api_cert, api_key, client_ca};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(files[i]);
        free((char *)files[i]);
    }
}

/* Slow clients and too many clients cannot take the listener: a request trickling in one byte
 * at a time is cut off when its time is up (though it never idles for long), connections beyond
 * the cap are closed at once, and a fresh client is served once they are gone. */
static void test_slow_clients_and_connection_cap(void)
{
    struct sl_http_server *s = NULL;
    struct sl_err err;
    struct sl_http_server_opts opts = {
        .addr = "127.0.0.1:0", .request_timeout_ms = 800, .max_connections = 4};
    CHECK_INT_EQ(sl_http_server_new(&s, &opts, &err), 0);
    sl_http_server_route(s, "GET", "/hello", h_hello, NULL);
    sl_http_server_route(s, "GET", "/slow", h_defer, (void *)(intptr_t)60000);
    CHECK_INT_EQ(sl_http_server_start(s, &err), 0);
    CURL *h = curl_easy_init();
    struct reply r = {0};
    sl_buf_init(&r.body, 0);
    char *hello = url_for(s, "http", "/hello");

    /* slow loris: one byte every 150 ms of a 40-byte request; closed before it is complete */
    static const char trickle[] = "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: bbbbb\r\n\r\n";
    int fd = raw_connect(s);
    int closed = 0;
    size_t sent = 0;
    for (; sent < sizeof(trickle) - 1 && !closed; sent++) {
        if (send(fd, trickle + sent, 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        sleep_ms(150);
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    CHECK(closed);
    CHECK(sent < sizeof(trickle) - 1);
    close(fd);
    /* the listener still answers */
    request(h, hello, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    curl_easy_cleanup(h);
    h = curl_easy_init();

    /* a handler's time does not count: a deferred answer after 1.5 s still goes out */
    struct bg_request *slow = bg_start(url_for(s, "http", "/slow"));
    struct sl_http_deferred *d = take_deferred();
    sleep_ms(1500);
    finish_with(d, 200, "late but sent\n");
    bg_join(slow);
    CHECK_INT_EQ(slow->r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&slow->r.body), "late but sent\n");
    bg_free(slow);

    /* four idle connections take the cap; the fifth and sixth are closed at once */
    int idle[4];
    for (int i = 0; i < 4; i++)
        idle[i] = raw_connect(s);
    sleep_ms(100);
    int extra1 = raw_connect(s), extra2 = raw_connect(s);
    CHECK(closed_by_server(extra1));
    CHECK(closed_by_server(extra2));
    close(extra1);
    close(extra2);
    /* the idle ones are closed when their time is up; then a fresh client is served */
    for (int i = 0; i < 4; i++) {
        CHECK(closed_by_server(idle[i]));
        close(idle[i]);
    }
    sleep_ms(300);
    request(h, hello, NULL, &r);
    CHECK_INT_EQ(r.curl_rc, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(sl_buf_cstr(&r.body), "hello\n");

    free(hello);
    sl_buf_free(&r.body);
    curl_easy_cleanup(h);
    sl_http_server_free(s);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/sl-http-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    RUN(test_routes);
    RUN(test_request_data_and_keepalive);
    RUN(test_body_limits);
    RUN(test_addresses);
    RUN(test_stop_start);
    RUN(test_deferred);
    RUN(test_tls_and_reload);
    RUN(test_tls_client_certificates);
    RUN(test_refused_handshake_ends_with_the_alert);

    RUN(test_slow_clients_and_connection_cap);
    curl_global_cleanup();
    rmdir(tmpdir);
    return CHECK_EXIT();
}
