/* The registry client's retry policy against a loopback registry (sl_http_server on 127.0.0.1):
 * credentials the registry rejects are sent once per request, never again in the same call, so
 * that retries cannot lock an account on registries that count failed logins; a 401 to a
 * request without credentials (learning the scheme) and 5xx answers are still retried. */
#include "check.h"
#include "http/server.h"
#include "oci/registry.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* GET /v2/... answers 401 Basic to everyone (wrong password), or 503 while fail_5xx > 0. */
struct fake_registry {
    pthread_mutex_t mu;
    int with_creds, without_creds, fail_5xx;
};

static void h_v2(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct fake_registry *f = ctx;
    pthread_mutex_lock(&f->mu);
    if (sl_http_request_header(req, "Authorization"))
        f->with_creds++;
    else
        f->without_creds++;
    bool unavailable = f->fail_5xx > 0;
    if (unavailable)
        f->fail_5xx--;
    pthread_mutex_unlock(&f->mu);
    if (unavailable) {
        resp->status = 503;
        return;
    }
    resp->status = 401;
    sl_http_request_add_response_header(req, "WWW-Authenticate", "Basic realm=\"reg\"");
}

static struct sl_http_server *start(struct fake_registry *f)
{
    struct sl_http_server *srv = NULL;
    struct sl_err err = {0};
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_http_server_route(srv, "GET", "/v2/*", h_v2, f);
    sl_http_server_route(srv, "GET", "/v2/", h_v2, f);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    return srv;
}

static void test_wrong_password_sent_once(void)
{
    struct fake_registry f = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct sl_http_server *srv = start(&f);
    struct sl_creds c = {.username = "vendor", .password = "wrong"};
    struct sl_registry_opts o = {.insecure = 1, .backoff_base_ms = 1, .backoff_max_ms = 2};
    struct sl_registry *r = sl_registry_new(sl_http_server_addr(srv), &c, &o);
    char **tags = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_registry_tags_list(&tags, &n, r, "acme/app", 0, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "rejected the credentials");
    /* the ping learns the scheme without credentials; the password goes out exactly once */
    CHECK_INT_EQ(f.with_creds, 1);
    /* another call on the same client: one more attempt, not a burst */
    CHECK_INT_EQ(sl_registry_tags_list(&tags, &n, r, "acme/app", 0, &err), SL_EAUTH);
    CHECK_INT_EQ(f.with_creds, 2);
    sl_registry_free(r);

    /* a registry that is down first is still retried: 503 twice, then the 401 */
    f.with_creds = f.without_creds = 0;
    f.fail_5xx = 2;
    r = sl_registry_new(sl_http_server_addr(srv), &c, &o);
    CHECK_INT_EQ(sl_registry_tags_list(&tags, &n, r, "acme/app", 0, &err), SL_EAUTH);
    CHECK_INT_EQ(f.without_creds, 3); /* the ping, retried through the 503s */
    CHECK_INT_EQ(f.with_creds, 1);
    sl_registry_free(r);

    sl_http_server_stop(srv);
    sl_http_server_free(srv);
}

int main(void)
{
    RUN(test_wrong_password_sent_once);
    return CHECK_EXIT();
}
