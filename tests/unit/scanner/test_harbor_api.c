/* The Harbor Pluggable Scanner API v1.1 wire format: the ScanRequest sealift's client builds
 * (and the adapter parses back), malformed requests, the ScanResponse, error bodies and the
 * metadata capability check, and the registry credential an adapter gets. argv[1] is
 * tests/data/scan. */
#include "check.h"
#include "http/server.h"
#include "oci/registry.h"
#include "scanner/harbor_api.h"
#include "testdata.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir = "tests/data/scan";

#define DIGEST "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

static void test_request_build_and_parse(void)
{
    struct sl_harbor_scan_request r = {
        .registry_url = "http://127.0.0.1:5000",
        .authorization = "Basic dmVuZG9yOnZlbmRvci1wdw==",
        .repository = "acme/app",
        .digest = DIGEST,
        .mime_type = "application/vnd.oci.image.manifest.v1+json",
    };
    char *text = sl_harbor_scan_request_json(&r);
    json_t *doc = json_loads(text, 0, NULL);
    CHECK(doc != NULL);
    json_t *reg = json_object_get(doc, "registry"), *art = json_object_get(doc, "artifact");
    CHECK_STR_EQ(json_string_value(json_object_get(reg, "url")), "http://127.0.0.1:5000");
    CHECK_STR_EQ(json_string_value(json_object_get(reg, "authorization")),
                 "Basic dmVuZG9yOnZlbmRvci1wdw==");
    CHECK_STR_EQ(json_string_value(json_object_get(art, "repository")), "acme/app");
    CHECK_STR_EQ(json_string_value(json_object_get(art, "digest")), DIGEST);
    CHECK_STR_EQ(json_string_value(json_object_get(art, "mime_type")),
                 "application/vnd.oci.image.manifest.v1+json");
    CHECK(json_object_get(art, "tag") == NULL); /* NULL fields are left out */
    json_decref(doc);

    struct sl_harbor_scan_request back;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_scan_request_parse(&back, text, strlen(text), &err), 0);
    CHECK_STR_EQ(back.registry_url, r.registry_url);
    CHECK_STR_EQ(back.authorization, r.authorization);
    CHECK_STR_EQ(back.repository, r.repository);
    CHECK_STR_EQ(back.digest, r.digest);
    CHECK_STR_EQ(back.mime_type, r.mime_type);
    CHECK(back.tag == NULL);
    sl_harbor_scan_request_free(&back);
    sl_secure_free_str(text);

    /* anonymous: no authorization member */
    r.authorization = NULL;
    text = sl_harbor_scan_request_json(&r);
    CHECK(strstr(text, "authorization") == NULL);
    sl_secure_free_str(text);
}

static void expect_bad_request(const char *json, const char *needle)
{
    struct sl_harbor_scan_request r;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_scan_request_parse(&r, json, strlen(json), &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, needle);
}

static void test_malformed_requests(void)
{
    expect_bad_request("{", "not a JSON object");
    expect_bad_request("[]", "not a JSON object");
    expect_bad_request("{\"artifact\": {}}", "registry");
    expect_bad_request("{\"registry\": {\"url\": \"http://r\"}}", "artifact");
    expect_bad_request("{\"registry\": {\"url\": 5}, \"artifact\": {}}", "registry.url");
    expect_bad_request("{\"registry\": {\"url\": \"ftp://r\"}, \"artifact\": {\"repository\": "
                       "\"a\", \"digest\": \"" DIGEST "\"}}",
                       "registry.url");
    expect_bad_request(
        "{\"registry\": {\"url\": \"http://r\"}, \"artifact\": {\"digest\": \"" DIGEST "\"}}",
        "artifact.repository");
    expect_bad_request("{\"registry\": {\"url\": \"http://r\"}, \"artifact\": {\"repository\": "
                       "\"a\", \"digest\": \"latest\"}}",
                       "artifact.digest");
    expect_bad_request("{\"registry\": {\"url\": \"http://r\"}, \"artifact\": {\"repository\": "
                       "\"a\", \"digest\": \"" DIGEST "\", \"mime_type\": 1}}",
                       "artifact.mime_type");
    CHECK(sl_harbor_consumes("application/vnd.docker.distribution.manifest.v2+json"));
    CHECK(!sl_harbor_consumes("application/vnd.cncf.helm.config.v1+json"));
    CHECK(!sl_harbor_consumes(NULL));
}

static void test_response_and_errors(void)
{
    char *text = sl_harbor_scan_response_json("abc-123");
    char *id = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_scan_response_parse(&id, text, strlen(text), &err), 0);
    CHECK_STR_EQ(id, "abc-123");
    free(id);
    free(text);
    CHECK_INT_EQ(sl_harbor_scan_response_parse(&id, "{\"id\": \"\"}", 10, &err), SL_EINVAL);
    CHECK_INT_EQ(sl_harbor_scan_response_parse(&id, "oops", 4, &err), SL_EINVAL);

    char msg[64];
    text = sl_harbor_error_json("registry\nunreachable");
    sl_harbor_error_message(msg, sizeof(msg), text, strlen(text));
    CHECK_STR_EQ(msg, "registry unreachable"); /* control characters do not reach conditions */
    free(text);
    sl_harbor_error_message(msg, sizeof(msg), "<html>Bad Gateway</html>", 24);
    CHECK_STR_EQ(msg, "<html>Bad Gateway</html>");
    sl_harbor_error_message(msg, sizeof(msg), NULL, 0);
    CHECK_STR_EQ(msg, "");
}

static void test_metadata(void)
{
    size_t len = 0;
    char *meta = sl_test_read_file(&len, "%s/harbor/metadata.json", data_dir);
    CHECK(meta != NULL);
    struct sl_harbor_scanner s;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_metadata_check(&s, meta, len, NULL, &err), 0);
    CHECK_STR_EQ(s.name, "Trivy");
    CHECK_STR_EQ(s.version, "0.50.1");
    CHECK_INT_EQ(sl_harbor_metadata_check(
                     &s, meta, len, "application/vnd.docker.distribution.manifest.v2+json", &err),
                 0);
    CHECK_INT_EQ(
        sl_harbor_metadata_check(&s, meta, len, "application/vnd.cncf.helm.config.v1+json", &err),
        SL_EUNSUPPORTED);
    CHECK_CONTAINS(err.msg, "consumes: application/vnd.oci.image.manifest.v1+json");
    free(meta);
    /* a v1.0-only adapter does not produce the report type sealift reads */
    const char *old = "{\"scanner\": {\"name\": \"Clair\"}, \"capabilities\": [{"
                      "\"consumes_mime_types\": [\"application/vnd.oci.image.manifest.v1+json\"],"
                      "\"produces_mime_types\": [\"application/"
                      "vnd.scanner.adapter.vuln.report.harbor+json; version=1.0\"]}]}";
    CHECK_INT_EQ(sl_harbor_metadata_check(&s, old, strlen(old), NULL, &err), SL_EUNSUPPORTED);
    CHECK_INT_EQ(sl_harbor_metadata_check(&s, "{}", 2, NULL, &err), SL_EINVAL);
    CHECK_INT_EQ(sl_harbor_metadata_check(&s, "<html>", 6, NULL, &err), SL_EINVAL);
    /* sealift's own metadata passes its own check */
    struct sl_harbor_scanner me = {"sealift", "sealift", "1.2.3"};
    char *mine = sl_harbor_metadata_json(&me, "2026-11-29T10:00:00Z");
    CHECK_INT_EQ(sl_harbor_metadata_check(&s, mine, strlen(mine),
                                          "application/vnd.oci.image.manifest.v1+json", &err),
                 0);
    CHECK_STR_EQ(s.version, "1.2.3");
    free(mine);
}

/* A loopback registry for the pull credential: GET /v2/ answers 401 with the challenge in ctx
 * (Bearer with a realm on this server, or Basic); GET /token records its query and
 * Authorization and issues "pull-only-t0ken". */
struct fake_registry {
    const char *challenge;
    char token_query[512];
    char token_auth[256];
    int token_requests;
};

static void h_v2(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct fake_registry *f = ctx;
    resp->status = 401;
    sl_http_request_add_response_header(req, "WWW-Authenticate", f->challenge);
}

static void h_token(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct fake_registry *f = ctx;
    const char *auth = sl_http_request_header(req, "Authorization");
    snprintf(f->token_query, sizeof(f->token_query), "%s", req->query ? req->query : "");
    snprintf(f->token_auth, sizeof(f->token_auth), "%s", auth ? auth : "");
    f->token_requests++;
    resp->content_type = "application/json";
    sl_buf_append_str(&resp->body, "{\"token\": \"pull-only-t0ken\", \"expires_in\": 300}");
}

static struct sl_http_server *fake_registry_start(struct fake_registry *f)
{
    struct sl_http_server *srv = NULL;
    struct sl_err err = {0};
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_http_server_route(srv, "GET", "/v2/", h_v2, f);
    sl_http_server_route(srv, "GET", "/token", h_token, f);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    return srv;
}

/* What the scan gate hands to a scanner adapter for pulling: with token auth a token the
 * realm issued for repository:<repo>:pull only; with Basic auth nothing, never the password. */
static void test_pull_credential(void)
{
    struct fake_registry f = {0};
    struct sl_http_server *srv = fake_registry_start(&f);
    char challenge[300];
    snprintf(challenge, sizeof(challenge), "Bearer realm=\"http://%s/token\",service=\"reg\"",
             sl_http_server_addr(srv));
    f.challenge = challenge;
    struct sl_creds c = {.username = "vendor", .password = "vendor-pw"};
    struct sl_registry_opts o = {.insecure = 1};
    struct sl_registry *r = sl_registry_new(sl_http_server_addr(srv), &c, &o);
    char *auth = NULL;
    bool withheld = true;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_registry_pull_authorization(&auth, &withheld, r, "acme/app", &err), 0);
    CHECK_STR_EQ(auth, "Bearer pull-only-t0ken");
    CHECK(!withheld);
    CHECK(auth && strstr(auth, "vendor-pw") == NULL);
    CHECK(auth && strstr(auth, "dmVuZG9yOnZlbmRvci1wdw") == NULL); /* base64 of the password */
    /* the realm was asked for pull of that repository and nothing else */
    CHECK_CONTAINS(f.token_query, "scope=repository%3Aacme%2Fapp%3Apull");
    CHECK(strstr(f.token_query, "push") == NULL);
    CHECK(strstr(f.token_query, "%2C") == NULL && strstr(f.token_query, ",") == NULL);
    CHECK_STR_EQ(f.token_auth, "Basic dmVuZG9yOnZlbmRvci1wdw==");
    sl_secure_free_str(auth);
    sl_registry_free(r);

    /* Basic-only registry: no credential at all, and the caller learns one was withheld */
    f.challenge = "Basic realm=\"reg\"";
    f.token_requests = 0;
    r = sl_registry_new(sl_http_server_addr(srv), &c, &o);
    auth = (char *)"unset";
    CHECK_INT_EQ(sl_registry_pull_authorization(&auth, &withheld, r, "acme/app", &err), 0);
    CHECK(auth == NULL);
    CHECK(withheld);
    CHECK_INT_EQ(f.token_requests, 0);
    sl_registry_free(r);
    /* anonymous client of a Basic registry: nothing withheld */
    r = sl_registry_new(sl_http_server_addr(srv), NULL, &o);
    CHECK_INT_EQ(sl_registry_pull_authorization(&auth, &withheld, r, "acme/app", &err), 0);
    CHECK(auth == NULL);
    CHECK(!withheld);
    sl_registry_free(r);

    /* the adapter's side: a token from a ScanRequest is used for that repository's pulls
     * without asking the realm */
    f.challenge = challenge;
    f.token_requests = 0;
    r = sl_registry_new(sl_http_server_addr(srv), NULL, &o);
    sl_registry_use_pull_token(r, "acme/app", "given-t0ken", 60000);
    CHECK_INT_EQ(sl_registry_pull_authorization(&auth, &withheld, r, "acme/app", &err), 0);
    CHECK_STR_EQ(auth, "Bearer given-t0ken");
    CHECK_INT_EQ(f.token_requests, 0);
    sl_secure_free_str(auth);
    sl_registry_free(r);
    sl_http_server_stop(srv);
    sl_http_server_free(srv);
}

/* The adapter's token check (`sealift scanner-adapter --token-file`): every form Harbor's
 * scanner registration sends, and nothing else. */
static void test_adapter_authorization(void)
{
    const char *tok = "s3cret-t0ken";
    CHECK(sl_harbor_adapter_authorized("Bearer s3cret-t0ken", NULL, tok));
    CHECK(sl_harbor_adapter_authorized("bearer s3cret-t0ken", NULL, tok));
    CHECK(sl_harbor_adapter_authorized(NULL, "s3cret-t0ken", tok));
    /* Basic: base64("harbor:s3cret-t0ken") (any user) and base64("s3cret-t0ken") */
    CHECK(sl_harbor_adapter_authorized("Basic aGFyYm9yOnMzY3JldC10MGtlbg==", NULL, tok));
    CHECK(sl_harbor_adapter_authorized("Basic czNjcmV0LXQwa2Vu", NULL, tok));
    /* a token file holding user:password matches Basic of exactly that */
    CHECK(sl_harbor_adapter_authorized("Basic aGFyYm9yOnMzY3JldC10MGtlbg==", NULL,
                                       "harbor:s3cret-t0ken"));
    CHECK(!sl_harbor_adapter_authorized("Bearer harbor:s3cret-t0ken", NULL, tok));

    CHECK(!sl_harbor_adapter_authorized(NULL, NULL, tok));
    CHECK(!sl_harbor_adapter_authorized("", "", tok));
    CHECK(!sl_harbor_adapter_authorized("Bearer s3cret-t0ke", NULL, tok));   /* prefix */
    CHECK(!sl_harbor_adapter_authorized("Bearer s3cret-t0kenX", NULL, tok)); /* longer */
    CHECK(!sl_harbor_adapter_authorized("Bearer ", NULL, tok));
    CHECK(!sl_harbor_adapter_authorized("s3cret-t0ken", NULL, tok)); /* no scheme */
    CHECK(!sl_harbor_adapter_authorized("Token s3cret-t0ken", NULL, tok));
    CHECK(!sl_harbor_adapter_authorized(NULL, "wrong", tok));
    CHECK(!sl_harbor_adapter_authorized("Basic aGFyYm9yOndyb25n", NULL, tok)); /* harbor:wrong */
    CHECK(!sl_harbor_adapter_authorized("Basic !!!not-base64", NULL, tok));
    /* a wrong API key does not spoil a right Authorization, nor the reverse */
    CHECK(sl_harbor_adapter_authorized("Bearer s3cret-t0ken", "wrong", tok));
    CHECK(sl_harbor_adapter_authorized("Bearer wrong", "s3cret-t0ken", tok));
    /* an empty token authorizes nobody, not even an empty credential */
    CHECK(!sl_harbor_adapter_authorized("Bearer ", "", ""));
    CHECK(!sl_harbor_adapter_authorized("Bearer x", "x", NULL));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_request_build_and_parse);
    RUN(test_malformed_requests);
    RUN(test_response_and_errors);
    RUN(test_metadata);
    RUN(test_pull_credential);
    RUN(test_adapter_authorization);
    return CHECK_EXIT();
}
