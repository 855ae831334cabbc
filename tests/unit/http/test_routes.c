/* Route table and path decoding (controller/http/routes.c), without sockets. */
#include "check.h"
#include "http/routes.h"
#include "util/err.h"

#include <string.h>

static void h_a(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
}

static const char *find(const struct sl_http_routes *r, const char *method, const char *path,
                        int *rc)
{
    const struct sl_http_route *rt = NULL;
    *rc = sl_http_routes_find(&rt, r, method, path);
    return *rc == 0 ? (const char *)rt->ctx : NULL;
}

static void test_matching(void)
{
    struct sl_http_routes r;
    int rc;
    sl_http_routes_init(&r);
    const struct sl_http_route *added = sl_http_routes_add(&r, "GET", "/metrics", h_a, "metrics");
    CHECK(added != NULL && added->anonymous == 0); /* a client certificate needed by default */
    CHECK(sl_http_routes_add(&r, "GET", "/metrics", h_a, "duplicate") == NULL); /* ignored */
    sl_http_routes_add(&r, "POST", "/hooks/*", h_a, "hooks");
    sl_http_routes_add(&r, "POST", "/hooks/gitsource/*", h_a, "gitsource");
    sl_http_routes_add(&r, "GET", "/hooks/gitsource/status", h_a, "status");
    sl_http_routes_add(&r, NULL, "/any", h_a, "any");

    CHECK_STR_EQ(find(&r, "GET", "/metrics", &rc), "metrics");
    CHECK_STR_EQ(find(&r, "HEAD", "/metrics", &rc), "metrics");
    CHECK(find(&r, "POST", "/metrics", &rc) == NULL);
    CHECK_INT_EQ(rc, SL_EUNSUPPORTED);
    CHECK(find(&r, "GET", "/metrics/", &rc) == NULL);
    CHECK_INT_EQ(rc, SL_ENOTFOUND);
    CHECK(find(&r, "GET", "/metric", &rc) == NULL);
    CHECK_INT_EQ(rc, SL_ENOTFOUND);

    CHECK_STR_EQ(find(&r, "POST", "/hooks/", &rc), "hooks");
    CHECK_STR_EQ(find(&r, "POST", "/hooks/x/y", &rc), "hooks");
    CHECK(find(&r, "POST", "/hooks", &rc) == NULL); /* "/hooks/" prefix needs the slash */
    CHECK_STR_EQ(find(&r, "POST", "/hooks/gitsource/ns/n", &rc), "gitsource"); /* longest */
    CHECK_STR_EQ(find(&r, "GET", "/hooks/gitsource/status", &rc), "status");
    CHECK_STR_EQ(find(&r, "POST", "/hooks/gitsource/status", &rc), "gitsource");
    CHECK(find(&r, "GET", "/hooks/other", &rc) == NULL);
    CHECK_INT_EQ(rc, SL_EUNSUPPORTED);

    CHECK_STR_EQ(find(&r, "DELETE", "/any", &rc), "any");

    char allow[64];
    CHECK_INT_EQ(sl_http_routes_allow(allow, sizeof(allow), &r, "/hooks/gitsource/status"), 3);
    CHECK_STR_EQ(allow, "GET, HEAD, POST");
    CHECK_INT_EQ(sl_http_routes_allow(allow, sizeof(allow), &r, "/nothing"), 0);
    CHECK_STR_EQ(allow, "");
    char tiny[10];
    CHECK_INT_EQ(sl_http_routes_allow(tiny, sizeof(tiny), &r, "/hooks/gitsource/status"), 2);
    CHECK_STR_EQ(tiny, "GET, HEAD");
    sl_http_routes_free(&r);

    sl_http_routes_init(&r);
    sl_http_routes_add(&r, "GET", "*", h_a, "all");
    CHECK_STR_EQ(find(&r, "GET", "/whatever/x", &rc), "all");
    sl_http_routes_free(&r);
}

static void test_path_decode(void)
{
    char out[64];
    size_t len = 0;
    CHECK_INT_EQ(sl_http_path_decode(out, sizeof(out), &len, "/a%20b/%7Ec+d"), 0);
    CHECK_STR_EQ(out, "/a b/~c+d");
    CHECK_INT_EQ(len, 9);
    CHECK_INT_EQ(sl_http_path_decode(out, sizeof(out), &len, NULL), 0);
    CHECK_STR_EQ(out, "/");
    CHECK_INT_EQ(sl_http_path_decode(out, sizeof(out), &len, ""), 0);
    CHECK_STR_EQ(out, "/");
    CHECK_INT_EQ(sl_http_path_decode(out, sizeof(out), &len, "/%2e%2E./x"), 0); /* "..." ok */
    CHECK_STR_EQ(out, "/.../x");
    CHECK_INT_EQ(sl_http_path_decode(out, sizeof(out), &len, "/.hidden/..x"), 0);

    const char *bad[] = {"x",      "*",   "/a%",     "/a%4",   "/a%G1",       "/a%00b", "/a%0a",
                         "/a\x7f", "/..", "/a/../b", "/a/./b", "/a/%2e%2e/b", "/a/%2E", "/."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sl_http_path_decode(out, sizeof(out), &len, bad[i]);
        if (rc != SL_EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
    }
    CHECK_INT_EQ(sl_http_path_decode(out, 4, &len, "/abcd"), SL_ETOOBIG);
    CHECK_INT_EQ(sl_http_path_decode(out, 6, &len, "/abcd"), 0);
}

int main(void)
{
    RUN(test_matching);
    RUN(test_path_decode);
    return CHECK_EXIT();
}
