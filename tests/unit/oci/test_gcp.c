/* Google Artifact Registry / Container Registry credentials from a ServiceAccount (oci/gcp.c):
 * the registry host, service account and audience grammars with the attacks next to the happy
 * paths, the STS and IAM Credentials answer readers over real answer shapes and hostile ones
 * (tests/data/gcp), the environment configuration, and whole logins over a fake transport
 * answering both services: what is sent where, how each failure is reported, and that no
 * secret ever reaches an error message. */
#include "check.h"
#include "cloudtest.h"
#include "http/transport.h"
#include "oci/auth.h"
#include "oci/gcp.h"
#include "testdata.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

/* The made-up tokens of tests/data/gcp and the fakes. */
#define SA_TOKEN_HEADER "eyJhbGciOiJSUzI1NiIsImtpZCI6ImdrZS1zYS1rZXkifQ"
#define SA_TOKEN_CLAIMS "eyJhdWQiOlsicHJvai0xMjMuc3ZjLmlkLmdvb2ciXX0"
#define SA_TOKEN_SIG    "c2VydmljZWFjY291bnQtc2lnbmF0dXJl"
#define SA_TOKEN        SA_TOKEN_HEADER "." SA_TOKEN_CLAIMS "." SA_TOKEN_SIG
#define FEDERATED       "ya29.d.FEDERATED-TOKEN-c2FtcGxlLWZlZGVyYXRlZC10b2tlbi1mb3ItdGVzdHM"
#define SA_ACCESS       "ya29.c.SA-ACCESS-TOKEN-c2FtcGxlLWltcGVyc29uYXRlZC10b2tlbi1mb3ItdGVzdHM"
#define GOOGLE_SA       "mirror-sa@proj-123.iam.gserviceaccount.com"
#define PROVIDER                                                                                   \
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/"           \
    "cluster-pool/providers/cluster-oidc"
#define NAMESPACE                                                                                  \
    "identitynamespace:proj-123.svc.id.goog:https://container.googleapis.com/v1/projects/"         \
    "proj-123/locations/europe-west1/clusters/prod-1"
#define NOW         ((int64_t)1796600000)
#define IAM_EXPIRES ((int64_t)1796602776) /* 2026-12-07T00:19:36Z */

/* The secrets of the exchange: none is ever in a message. */
static const char *const secrets[] = {
    SA_TOKEN,           SA_TOKEN_HEADER,    SA_TOKEN_CLAIMS, SA_TOKEN_SIG,
    "ZCI6ImdrZS1zYS1r", "c2VydmljZWFjY291", FEDERATED,       "FEDERATED-TOKEN",
    SA_ACCESS,          "SA-ACCESS-TOKEN",  "c2FtcGxlLW",
};
#define N_SECRETS (sizeof(secrets) / sizeof(secrets[0]))

/* No secret of the exchange is in msg. */
static void check_no_secret(const char *msg)
{
    for (size_t i = 0; i < N_SECRETS; i++) {
        if (strstr(msg, secrets[i]))
            fprintf(stderr, "secret %s in: %s\n", secrets[i], msg);
        CHECK(strstr(msg, secrets[i]) == NULL);
    }
}

/* ---- host, service account, audience ---- */

static void test_host_parse(void)
{
    struct sl_gcp_registry_host h;
    struct sl_err err = {0};
    static const char *const good[] = {
        "gcr.io",
        "us.gcr.io",
        "eu.gcr.io",
        "asia.gcr.io",
        "europe-west1-docker.pkg.dev",
        "us-docker.pkg.dev",
        "asia-northeast3-docker.pkg.dev",
        /* a 63-character location, the longest DNS label */
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyza-docker.pkg.dev",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&h, 0, sizeof(h));
        int rc = sl_gcp_registry_host_parse(&h, good[i], &err);
        if (rc != 0)
            fprintf(stderr, "host refused: %s: %s\n", good[i], err.msg);
        CHECK_INT_EQ(rc, 0);
        CHECK_STR_EQ(h.host, good[i]);
    }

    static const char *const bad[] = {
        "gcr.io:443",
        "europe-west1-docker.pkg.dev:443",
        "us.gcr.io:5000",
        "GCR.io",
        "Europe-West1-docker.pkg.dev",
        "europe-west1-docker.PKG.dev",
        "evil.gcr.io",
        "mirror.gcr.io",
        "us.gcr.io.evil.example",
        "gcr.io.evil.example",
        "x-docker.pkg.dev.evil.example",
        "docker.pkg.dev",
        "-docker.pkg.dev",
        "europe-west1--docker.pkg.dev",
        "1europe-docker.pkg.dev",
        "europe_west1-docker.pkg.dev",
        "europe.west1-docker.pkg.dev",
        "evil.example/europe-docker.pkg.dev",
        "europe-docker.pkg.dev/v2/",
        "europe-docker.pkg.dev.",
        "gcr.io.",
        "pkg.dev",
        "europe-west1.pkg.dev",
        "gcr.io\n",
        "",
        /* a 64-character location is no DNS label */
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzab-docker.pkg.dev",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&h, 0x5a, sizeof(h));
        struct sl_gcp_registry_host before = h;
        int rc = sl_gcp_registry_host_parse(&h, bad[i], &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "host accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK(memcmp(&h, &before, sizeof(h)) == 0); /* out untouched */
        CHECK_CONTAINS(err.msg, "is not a Google Artifact Registry or Container Registry host "
                                "(LOCATION-docker.pkg.dev, gcr.io)");
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    CHECK_INT_EQ(sl_gcp_registry_host_parse(&h, "gcr.io.evil.example", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "gcr.io.evil.example is not a Google Artifact Registry or Container "
                          "Registry host (LOCATION-docker.pkg.dev, gcr.io)");
    CHECK_INT_EQ(sl_gcp_registry_host_parse(&h, NULL, &err), SL_EINVAL);
}

static void test_service_account_check(void)
{
    struct sl_err err = {0};
    static const char *const good[] = {
        GOOGLE_SA,
        "abcdef@abcdef.iam.gserviceaccount.com",
        "abcdefghijklmnopqrstuvwxyz0123@abcdefghijklmnopqrstuvwxyz0123.iam.gserviceaccount.com",
        "123456789012-compute@developer.gserviceaccount.com",
        "1-compute@developer.gserviceaccount.com",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int rc = sl_gcp_service_account_check(good[i], &err);
        if (rc != 0)
            fprintf(stderr, "service account refused: %s: %s\n", good[i], err.msg);
        CHECK_INT_EQ(rc, 0);
    }
    static const char *const bad[] = {
        "mirro@proj-123.iam.gserviceaccount.com",                           /* name of 5 */
        "mirror-sa@proj.iam.gserviceaccount.com",                           /* project of 4 */
        "abcdefghijklmnopqrstuvwxyz01234@proj-123.iam.gserviceaccount.com", /* name of 31 */
        "Mirror-SA@proj-123.iam.gserviceaccount.com",
        "mirror-sa@example.com:proj-123.iam.gserviceaccount.com",
        "mirror-sa@proj-123.iam.gserviceaccount.com.evil.example",
        "mirror-sa@proj-123.iam.gserviceaccount.co",
        "mirror-sa@proj-123.evil.iam.gserviceaccount.com",
        "mirror-sa@@proj-123.iam.gserviceaccount.com",
        "mirror_sa@proj-123.iam.gserviceaccount.com",
        "mirror-sa/../x@proj-123.iam.gserviceaccount.com",
        "mirror-sa%40x@proj-123.iam.gserviceaccount.com",
        "mirror-sa@proj-123.iam.gserviceaccount.com:generateIdToken",
        "mirror-sa@proj-123.iam.gserviceaccount.com\n",
        "mirror-sa",
        "project-compute@developer.gserviceaccount.com",
        "-compute@developer.gserviceaccount.com",
        "123456789012345678901-compute@developer.gserviceaccount.com",
        "123-compute@developer.gserviceaccount.com.evil.example",
        "@proj-123.iam.gserviceaccount.com",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sl_gcp_service_account_check(bad[i], &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "service account accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, "is not a Google service account");
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    CHECK_INT_EQ(sl_gcp_service_account_check("mirror", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "\"mirror\" is not a Google service account "
                          "(NAME@PROJECT.iam.gserviceaccount.com or "
                          "NUMBER-compute@developer.gserviceaccount.com)");
    CHECK_INT_EQ(sl_gcp_service_account_check(NULL, &err), SL_EINVAL);
    /* a long value is quoted only in part */
    char long_value[400];
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    CHECK_INT_EQ(sl_gcp_service_account_check(long_value, &err), SL_EINVAL);
    CHECK(strlen(err.msg) < 240);
    CHECK(strstr(err.msg, long_value) == NULL);
}

static void test_token_audience(void)
{
    char buf[600];
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_gcp_token_audience(buf, sizeof(buf), PROVIDER, &err), 0);
    CHECK_STR_EQ(buf, "https:" PROVIDER);
    CHECK_STR_EQ(buf, "https://iam.googleapis.com/projects/123456789012/locations/global/"
                      "workloadIdentityPools/cluster-pool/providers/cluster-oidc");
    CHECK_INT_EQ(sl_gcp_token_audience(buf, sizeof(buf), NAMESPACE, &err), 0);
    CHECK_STR_EQ(buf, "proj-123.svc.id.goog");
    /* fleet-wide: the pool's project is not the cluster's */
    CHECK_INT_EQ(sl_gcp_token_audience(buf, sizeof(buf),
                                       "identitynamespace:fleet-host.svc.id.goog:https://"
                                       "container.googleapis.com/v1/projects/member-project/"
                                       "locations/us-central1-a/clusters/c",
                                       &err),
                 0);
    CHECK_STR_EQ(buf, "fleet-host.svc.id.goog");
    /* the buffer is too small: nothing written past it */
    memset(buf, 'x', sizeof(buf));
    CHECK_INT_EQ(sl_gcp_token_audience(buf, 20, NAMESPACE, &err), SL_EINVAL);
    CHECK(buf[0] == 'x');
    CHECK_INT_EQ(sl_gcp_token_audience(buf, 21, NAMESPACE, &err), 0);
    CHECK_STR_EQ(buf, "proj-123.svc.id.goog");

    static const char *const bad[] = {
        "https://iam.googleapis.com/projects/123456789012/locations/global/"
        "workloadIdentityPools/cluster-pool/providers/cluster-oidc",
        "//iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/cluster-oidc",
        "//iam.googleapis.com/projects/123/locations/europe-west1/workloadIdentityPools/"
        "cluster-pool/providers/cluster-oidc",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/cluster-oidc/",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/cluster-oidc?x=1",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "Cluster-Pool/providers/cluster-oidc",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "abc/providers/cluster-oidc",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/abcdefghijklmnopqrstuvwxyz0123456",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/../../x",
        "//iam.evil.example/projects/123/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/cluster-oidc",
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        "cluster-pool/providers/cluster-oidc\"",
        "identitynamespace:proj-123.svc.id.goog",
        "identitynamespace:proj-123.svc.id.goog:https://container.googleapis.com/v1/projects/"
        "proj-123/locations/europe-west1/clusters/prod-1/",
        "identitynamespace:Proj-123.svc.id.goog:https://container.googleapis.com/v1/projects/"
        "proj-123/locations/europe-west1/clusters/prod-1",
        "identitynamespace:proj.svc.id.goog:https://container.googleapis.com/v1/projects/"
        "proj-123/locations/europe-west1/clusters/prod-1",
        "identitynamespace:proj-123.svc.id.goog:https://container.evil.example/v1/projects/"
        "proj-123/locations/europe-west1/clusters/prod-1",
        "identitynamespace:proj-123.svc.id.goog:http://container.googleapis.com/v1/projects/"
        "proj-123/locations/europe-west1/clusters/prod-1",
        "identitynamespace:example.com:proj-123.svc.id.goog:https://container.googleapis.com/"
        "v1/projects/proj-123/locations/europe-west1/clusters/prod-1",
        "proj-123.svc.id.goog",
        "sts.googleapis.com",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(buf, 'x', sizeof(buf));
        int rc = sl_gcp_token_audience(buf, sizeof(buf), bad[i], &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "audience accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK(buf[0] == 'x');
        CHECK_CONTAINS(err.msg, "is not a workload identity provider");
        CHECK(strlen(err.msg) < SL_ERR_MSG_MAX - 1);
    }
    CHECK_INT_EQ(sl_gcp_token_audience(buf, sizeof(buf), NULL, &err), SL_EINVAL);
    /* over 512 characters */
    char long_aud[700];
    snprintf(long_aud, sizeof(long_aud), "%s", PROVIDER);
    size_t n = strlen(long_aud);
    memset(long_aud + n, 'a', 520 - n);
    long_aud[520] = '\0';
    CHECK_INT_EQ(sl_gcp_token_audience(buf, sizeof(buf), long_aud, &err), SL_EINVAL);
}

/* ---- STS answers ---- */

static void test_sts_success(void)
{
    static const struct sl_cloudtest_ok cases[] = {
        {"success.json", 3600},
        {"success-minimal.json", 599},
        {"success-real.json", 1800},
    };
    const struct sl_cloudtest_oauth sts = {
        .data_dir = data_dir, .folder = "sts", .parse = sl_gcp_sts_parse, .now_unix = NOW};
    sl_cloudtest_oauth_successes(SL_CLOUDTEST_COUNTERS, &sts, FEDERATED, cases,
                                 sizeof(cases) / sizeof(cases[0]));
}

static void test_sts_errors(void)
{
    /* msg: the whole message, or its start when it ends in "..." */
    static const struct sl_cloudtest_case cases[] = {
        {"invalid-grant.json", SL_EAUTH,
         /* a long path is a run of token characters too: it goes with them */
         "STS invalid_grant: The audience in ID Token [proj-123.svc.id.goog] does not match the "
         "expected audience https:[redacted]"},
        {"invalid-request.json", SL_EAUTH,
         "STS invalid_request: Invalid value for \"audience\"..."},
        {"unauthorized-client.json", SL_EAUTH,
         "STS unauthorized_client: The given credential is rejected by the attribute condition."},
        {"access-denied.json", SL_EAUTH, "STS access_denied: The caller does not have permission"},
        {"invalid-target.json", SL_EAUTH,
         "STS invalid_target: The target service indicated by the \"audience\" parameters is "
         "invalid..."},
        {"temporarily-unavailable.json", SL_ERETRY,
         "STS temporarily_unavailable: The service is currently unavailable."},
        /* control characters dropped, bytes outside ASCII shown as '?' */
        {"invalid-scope.json", SL_EINVAL,
         "STS invalid_scope: The requested scope is not valid.Second line caf??"},
        {"error-not-string.json", SL_EINVAL, "STS error document without an error code"},
        {"echo-token.json", SL_EAUTH,
         "STS invalid_grant: Unable to parse the ID Token: [redacted]"},
        {"echo-token-split.json", SL_EAUTH, "STS invalid_grant: bad subject token [redacted]"},
        {"no-token.json", SL_EINVAL, "STS answer has no access_token"},
        {"token-number.json", SL_EINVAL,
         "STS answer's access_token is not a string of 1-16384 printable characters"},
        {"token-empty.json", SL_EINVAL, "STS answer's access_token is not a string of ..."},
        {"token-space.json", SL_EINVAL, "STS answer's access_token is not a string of ..."},
        {"no-expiry.json", SL_EINVAL, "STS answer has no expires_in"},
        {"expiry-huge.json", SL_EINVAL,
         "STS answer's expires_in is not a number of seconds (1-86400)"},
        {"expiry-zero.json", SL_EINVAL, "STS answer's expires_in is not a number of ..."},
        {"expiry-negative.json", SL_EINVAL, "STS answer's expires_in is not a number of ..."},
        {"expiry-string.json", SL_EINVAL, "STS answer's expires_in is not a number of ..."},
        {"expiry-huge-integer.json", SL_EINVAL, "STS answer is not a JSON object"},
        {"token-type-mac.json", SL_EINVAL, "STS answer's token_type is not Bearer"},
        {"issued-type-id-token.json", SL_EINVAL,
         "STS answer's issued_token_type is not urn:ietf:params:oauth:token-type:access_token"},
        {"duplicate-key.json", SL_EINVAL, "STS answer is not a JSON object"},
        {"not-object.json", SL_EINVAL, "STS answer is not a JSON object"},
        {"html.txt", SL_EINVAL, "STS answer is not a JSON object"},
    };
    const struct sl_cloudtest_oauth reader = {.data_dir = data_dir,
                                              .folder = "sts",
                                              .parse = sl_gcp_sts_parse,
                                              .service = "STS",
                                              .error_code = "invalid_grant",
                                              .now_unix = NOW,
                                              .secrets = secrets,
                                              .n_secrets = N_SECRETS};
    sl_cloudtest_oauth_cases(SL_CLOUDTEST_COUNTERS, &reader, cases,
                             sizeof(cases) / sizeof(cases[0]));
}

/* ---- IAM Credentials answers ---- */

static int iam_file(char **tok, int64_t *exp, const char *name, struct sl_err *err)
{
    size_t len = 0;
    char *json = sl_test_read_file(&len, "%s/iam/%s", data_dir, name);
    int rc = sl_gcp_generate_token_parse(tok, exp, json, len, err);
    free(json);
    return rc;
}

/* What a token answer is read into. */
struct token_out {
    char *tok;
    int64_t exp;
};

static int read_iam(void *ctx, const char *doc, size_t len, struct sl_err *err)
{
    struct token_out *o = ctx;
    return sl_gcp_generate_token_parse(&o->tok, &o->exp, doc, len, err);
}

static void test_generate_token_parse(void)
{
    char *tok = NULL;
    int64_t exp = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(iam_file(&tok, &exp, "success.json", &err), 0);
    CHECK_STR_EQ(tok, SA_ACCESS);
    CHECK_INT_EQ(exp, IAM_EXPIRES);
    sl_secure_free_str(tok);
    CHECK_INT_EQ(iam_file(&tok, &exp, "success-fraction.json", &err), 0);
    CHECK_STR_EQ(tok, SA_ACCESS);
    CHECK_INT_EQ(exp, IAM_EXPIRES);
    sl_secure_free_str(tok);

#define BAD_TIME "IAM Credentials answer's expireTime is not an RFC 3339 UTC time ..."
    static const struct sl_cloudtest_case cases[] = {
        {"permission-denied.json", SL_EAUTH,
         "IAM Credentials PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' "
         "denied on resource (or it may not exist)."},
        {"unauthenticated.json", SL_EAUTH,
         "IAM Credentials UNAUTHENTICATED: Request had invalid authentication credentials..."},
        {"unavailable.json", SL_ERETRY,
         "IAM Credentials UNAVAILABLE: The service is currently unavailable."},
        {"resource-exhausted.json", SL_ERETRY,
         "IAM Credentials RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Generate "
         "credentials requests'."},
        {"not-found.json", SL_EINVAL,
         "IAM Credentials NOT_FOUND: Not found; Gaia id not found for email "
         "mirror-sa@proj-123.iam.gserviceaccount.com"},
        {"invalid-argument.json", SL_EINVAL, "IAM Credentials INVALID_ARGUMENT: Invalid form..."},
        {"error-no-status.json", SL_EINVAL, "IAM Credentials error document without a status"},
        {"error-string.json", SL_EINVAL, "IAM Credentials error document without a status"},
        {"echo-token.json", SL_EAUTH,
         "IAM Credentials UNAUTHENTICATED: Invalid Credentials: [redacted]"},
        {"no-token.json", SL_EINVAL, "IAM Credentials answer has no accessToken"},
        {"token-object.json", SL_EINVAL,
         "IAM Credentials answer's accessToken is not a string of 1-16384 printable characters"},
        {"token-newline.json", SL_EINVAL,
         "IAM Credentials answer's accessToken is not a string of ..."},
        {"no-expiry.json", SL_EINVAL, "IAM Credentials answer has no expireTime"},
        {"expiry-number.json", SL_EINVAL,
         "IAM Credentials answer's expireTime is not an RFC 3339 UTC time "
         "(2006-01-02T15:04:05Z)"},
        {"expiry-offset.json", SL_EINVAL, BAD_TIME},
        {"expiry-date.json", SL_EINVAL, BAD_TIME},
        {"expiry-month13.json", SL_EINVAL, BAD_TIME},
        {"expiry-words.json", SL_EINVAL, BAD_TIME},
        {"expiry-long.json", SL_EINVAL, BAD_TIME},
        {"expiry-nul.json", SL_EINVAL, "IAM Credentials answer is not a JSON object"},
        {"duplicate-key.json", SL_EINVAL, "IAM Credentials answer is not a JSON object"},
        {"not-json.txt", SL_EINVAL, "IAM Credentials answer is not a JSON object"},
    };
#undef BAD_TIME
    struct token_out out;
    const struct sl_cloudtest_reader reader = {
        .data_dir = data_dir,
        .folder = "iam",
        .read = read_iam,
        .ctx = &out,
        .outputs = {{&out.tok, sizeof(out.tok)}, {&out.exp, sizeof(out.exp)}},
        .n_outputs = 2,
        .match = SL_CLOUDTEST_MSG_IS,
        .secrets = secrets,
        .n_secrets = N_SECRETS,
    };
    sl_cloudtest_read_cases(SL_CLOUDTEST_COUNTERS, &reader, cases,
                            sizeof(cases) / sizeof(cases[0]));
    CHECK_INT_EQ(sl_gcp_generate_token_parse(&tok, &exp, NULL, 0, &err), SL_EINVAL);
    /* a long message is cut at 200 characters */
    char json[2048], msg[1001];
    for (size_t i = 0; i < 1000; i++)
        msg[i] = "denied "[i % 7];
    msg[1000] = '\0';
    snprintf(json, sizeof(json),
             "{\"error\":{\"code\":403,\"message\":\"%s\",\"status\":\"PERMISSION_DENIED\"}}", msg);
    CHECK_INT_EQ(sl_gcp_generate_token_parse(&tok, &exp, json, strlen(json), &err), SL_EAUTH);
    CHECK_INT_EQ((long)strlen(err.msg),
                 (long)(strlen("IAM Credentials PERMISSION_DENIED: ") + 200));
}

/* ---- configuration ---- */

static void unset_all(void)
{
    unsetenv("GCP_WORKLOAD_IDENTITY_AUDIENCE");
    unsetenv("GCP_STS_ENDPOINT");
    unsetenv("GCP_IAM_CREDENTIALS_ENDPOINT");
    unsetenv("GCP_CA_BUNDLE");
}

static void test_config_from_env(void)
{
    struct sl_gcp_config cfg;
    struct sl_err err = {0};
    unset_all();
    setenv("GCP_STS_ENDPOINT", "", 1); /* empty counts as unset */
    CHECK_INT_EQ(sl_gcp_config_from_env(&cfg, &err), 0);
    CHECK(cfg.audience == NULL && cfg.sts_endpoint == NULL && cfg.iam_endpoint == NULL &&
          cfg.ca_pem == NULL);
    CHECK_INT_EQ(cfg.timeout_ms, 0);
    sl_gcp_config_clear(&cfg);

    setenv("GCP_WORKLOAD_IDENTITY_AUDIENCE", PROVIDER, 1);
    setenv("GCP_STS_ENDPOINT", "https://sts-psc.p.googleapis.com/", 1);
    setenv("GCP_IAM_CREDENTIALS_ENDPOINT", "http://127.0.0.1:8443", 1);
    char ca_path[1200];
    snprintf(ca_path, sizeof(ca_path), "%s/../tls/ca.crt", data_dir);
    setenv("GCP_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_gcp_config_from_env(&cfg, &err), 0);
    CHECK_STR_EQ(cfg.audience, PROVIDER);
    CHECK_STR_EQ(cfg.sts_endpoint, "https://sts-psc.p.googleapis.com/");
    CHECK_STR_EQ(cfg.iam_endpoint, "http://127.0.0.1:8443");
    CHECK(cfg.ca_pem && strstr(cfg.ca_pem, "-----BEGIN CERTIFICATE-----"));
    sl_gcp_config_clear(&cfg);
    CHECK(cfg.ca_pem == NULL && cfg.audience == NULL);
    sl_gcp_config_clear(NULL);
    unset_all();

    setenv("GCP_WORKLOAD_IDENTITY_AUDIENCE", NAMESPACE, 1);
    CHECK_INT_EQ(sl_gcp_config_from_env(&cfg, &err), 0);
    CHECK_STR_EQ(cfg.audience, NAMESPACE);
    sl_gcp_config_clear(&cfg);

    static const struct {
        const char *variable, *value;
        int rc;
        const char *msg;
    } bad[] = {
        {"GCP_WORKLOAD_IDENTITY_AUDIENCE", "proj-123.svc.id.goog", SL_EINVAL,
         "GCP_WORKLOAD_IDENTITY_AUDIENCE: \"proj-123.svc.id.goog\" is not a workload identity "
         "provider"},
        {"GCP_STS_ENDPOINT", "http://sts.googleapis.com", SL_EINVAL, "GCP_STS_ENDPOINT: http://"},
        {"GCP_STS_ENDPOINT", "https://sts.googleapis.com/v1/token", SL_EINVAL,
         "GCP_STS_ENDPOINT: https://sts.googleapis.com/v1/token is not an https://HOST[:PORT]"},
        {"GCP_STS_ENDPOINT", "https://user@sts.googleapis.com", SL_EINVAL, "GCP_STS_ENDPOINT"},
        {"GCP_IAM_CREDENTIALS_ENDPOINT", "ftp://iamcredentials.googleapis.com", SL_EINVAL,
         "GCP_IAM_CREDENTIALS_ENDPOINT"},
        {"GCP_IAM_CREDENTIALS_ENDPOINT", "https://iamcredentials.googleapis.com?x=1", SL_EINVAL,
         "GCP_IAM_CREDENTIALS_ENDPOINT"},
        {"GCP_IAM_CREDENTIALS_ENDPOINT", "http://127.0.0.1.evil.example", SL_EINVAL,
         "GCP_IAM_CREDENTIALS_ENDPOINT"},
        {"GCP_CA_BUNDLE", "no-such-ca.pem", SL_ENOTFOUND, "GCP_CA_BUNDLE: cannot read"},
        {"GCP_CA_BUNDLE", "sts/success.json", SL_EINVAL, "no PEM certificate"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unset_all();
        /* a good variable set too: cfg stays untouched all the same */
        setenv("GCP_WORKLOAD_IDENTITY_AUDIENCE", PROVIDER, 1);
        char value[1200];
        if (strcmp(bad[i].variable, "GCP_CA_BUNDLE") == 0)
            snprintf(value, sizeof(value), "%s/%s", data_dir, bad[i].value);
        else
            snprintf(value, sizeof(value), "%s", bad[i].value);
        setenv(bad[i].variable, value, 1);
        memset(&cfg, 0, sizeof(cfg));
        cfg.timeout_ms = 1234;
        int rc = sl_gcp_config_from_env(&cfg, &err);
        if (rc != bad[i].rc || !strstr(err.msg, bad[i].msg))
            fprintf(stderr, "case %s=%s: %d %s\n", bad[i].variable, value, rc, err.msg);
        CHECK_INT_EQ(rc, bad[i].rc);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        CHECK(cfg.audience == NULL && cfg.sts_endpoint == NULL); /* untouched */
        CHECK_INT_EQ(cfg.timeout_ms, 1234);
    }
    unset_all();
}

/* ---- logins over a fake transport ---- */

/* What the fake answers to its nth request (a file under data_dir and a status, or a failure)
 * and what it saw. */
struct fake_answer {
    const char *file;
    long status;
    enum sl_http_failure failure;
    size_t padding; /* spaces appended to the answer */
};

struct fake_request {
    char method[8];
    char url[512];
    char body[4096];
    char headers[4][512];
    size_t n_headers;
    int64_t timeout_ms;
};

struct fake {
    struct fake_answer answers[2]; /* STS's, then IAM Credentials' */
    int n;
    struct fake_request seen[3];
};

static void fake_perform(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct fake *f = ctx;
    memset(res, 0, sizeof(*res));
    int i = f->n++;
    const struct fake_answer *a = i < 2 ? &f->answers[i] : NULL;
    if (i < 3) {
        struct fake_request *r = &f->seen[i];
        snprintf(r->method, sizeof(r->method), "%s", x->method);
        r->timeout_ms = x->timeout_ms;
        snprintf(r->url, sizeof(r->url), "%s", x->url);
        snprintf(r->body, sizeof(r->body), "%.*s", (int)x->body_len, (const char *)x->body);
        r->n_headers = 0;
        for (size_t k = 0; k < x->n_headers && k < 4; k++)
            snprintf(r->headers[r->n_headers++], sizeof(r->headers[0]), "%s", x->headers[k]);
    }
    if (!a || a->failure || !a->file) {
        res->failure = a && a->failure ? a->failure : SL_HTTP_NETWORK;
        snprintf(res->error, sizeof(res->error), "Could not connect to the stand-in");
        return;
    }
    sl_cloudtest_serve(x, res, data_dir, a->file, a->status, a->padding);
}

static const struct sl_transport_ops fake_ops = {.perform = fake_perform,
                                                 .relay = sl_cloudtest_no_relay};

static int has_header(const struct fake_request *r, const char *line)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i], line) == 0)
            return 1;
    return 0;
}

static const struct sl_gcp_config default_cfg = {.audience = (char *)PROVIDER};

static int login_with(struct fake *f, const struct sl_gcp_config *cfg, const char *host_name,
                      const char *google_sa, const char *sa_token, struct sl_creds *c, int64_t *exp,
                      struct sl_err *err)
{
    struct sl_gcp_registry_host host;
    if (sl_gcp_registry_host_parse(&host, host_name, err) != 0)
        return -100;
    struct sl_transport *t = sl_transport_new_custom(&fake_ops, f);
    memset(c, 0, sizeof(*c));
    int rc = sl_gcp_registry_login(c, exp, t, cfg, &host, google_sa, sa_token, NOW, err);
    sl_transport_free(t);
    return rc;
}

#define STS_BODY(aud)                                                                              \
    "{\"audience\":\"" aud "\",\"grantType\":\"urn:ietf:params:oauth:grant-type:token-exchange\"," \
    "\"requestedTokenType\":\"urn:ietf:params:oauth:token-type:access_token\","                    \
    "\"scope\":\"https://www.googleapis.com/auth/cloud-platform\","                                \
    "\"subjectTokenType\":\"urn:ietf:params:oauth:token-type:jwt\",\"subjectToken\":\"" SA_TOKEN   \
    "\"}"
#define IAM_URL                                                                                    \
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" GOOGLE_SA               \
    ":generateAccessToken"

static void test_login_impersonation(void)
{
    struct fake f = {.answers = {{.file = "sts/success.json", .status = 200},
                                 {.file = "iam/success.json", .status = 200}}};
    struct sl_creds c;
    int64_t exp = -1;
    struct sl_err err = {0};
    CHECK_INT_EQ(login_with(&f, &default_cfg, "europe-west1-docker.pkg.dev", GOOGLE_SA, SA_TOKEN,
                            &c, &exp, &err),
                 0);
    CHECK_STR_EQ(c.username, "oauth2accesstoken");
    CHECK_STR_EQ(c.password, SA_ACCESS);
    CHECK(c.identity_token == NULL);
    CHECK_INT_EQ(exp, IAM_EXPIRES); /* the final token's, not STS's */
    sl_creds_free(&c);
    CHECK_INT_EQ(f.n, 2);

    const struct fake_request *sts = &f.seen[0];
    CHECK_STR_EQ(sts->method, "POST");
    CHECK_STR_EQ(sts->url, "https://sts.googleapis.com/v1/token");
    CHECK_STR_EQ(sts->body, STS_BODY(PROVIDER));
    CHECK(has_header(sts, "Content-Type: application/json"));
    for (size_t i = 0; i < sts->n_headers; i++)
        CHECK(strncmp(sts->headers[i], "Authorization:", 14) != 0);
    CHECK_INT_EQ(sts->timeout_ms, 30000);

    const struct fake_request *iam = &f.seen[1];
    CHECK_STR_EQ(iam->method, "POST");
    CHECK_STR_EQ(iam->url, IAM_URL);
    CHECK_STR_EQ(iam->body, "{\"scope\":[\"https://www.googleapis.com/auth/cloud-platform\"],"
                            "\"lifetime\":\"3600s\"}");
    CHECK(has_header(iam, "Authorization: Bearer " FEDERATED));
    CHECK(has_header(iam, "Content-Type: application/json"));
    CHECK_INT_EQ(iam->timeout_ms, 30000);
    /* the ServiceAccount token goes to STS only */
    CHECK(strstr(iam->body, SA_TOKEN) == NULL);
}

static void test_login_direct(void)
{
    /* without a Google service account the federated token is the password */
    struct fake f = {.answers = {{.file = "sts/success.json", .status = 200},
                                 {.file = "iam/success.json", .status = 200}}};
    struct sl_creds c;
    int64_t exp = -1;
    struct sl_err err = {0};
    struct sl_gcp_config cfg = {.audience = (char *)NAMESPACE, .timeout_ms = 5000};
    CHECK_INT_EQ(login_with(&f, &cfg, "gcr.io", NULL, SA_TOKEN, &c, &exp, &err), 0);
    CHECK_STR_EQ(c.username, "oauth2accesstoken");
    CHECK_STR_EQ(c.password, FEDERATED);
    CHECK_INT_EQ(exp, NOW + 3600);
    sl_creds_free(&c);
    CHECK_INT_EQ(f.n, 1); /* no second step */
    CHECK_STR_EQ(f.seen[0].body, STS_BODY(NAMESPACE));
    CHECK_INT_EQ(f.seen[0].timeout_ms, 5000);
}

static void test_login_endpoints(void)
{
    struct sl_gcp_config cfg = {.audience = (char *)PROVIDER,
                                .sts_endpoint = (char *)"https://STS-psc.p.googleapis.com/",
                                .iam_endpoint = (char *)"http://127.0.0.1:8443",
                                .timeout_ms = 2500};
    struct fake f = {.answers = {{.file = "sts/success-minimal.json", .status = 200},
                                 {.file = "iam/success-fraction.json", .status = 200}}};
    struct sl_creds c;
    int64_t exp = -1;
    struct sl_err err = {0};
    CHECK_INT_EQ(login_with(&f, &cfg, "us.gcr.io",
                            "123456789012-compute@developer."
                            "gserviceaccount.com",
                            SA_TOKEN, &c, &exp, &err),
                 0);
    sl_creds_free(&c);
    CHECK_STR_EQ(f.seen[0].url, "https://sts-psc.p.googleapis.com/v1/token");
    CHECK_STR_EQ(f.seen[1].url, "http://127.0.0.1:8443/v1/projects/-/serviceAccounts/"
                                "123456789012-compute@developer.gserviceaccount.com"
                                ":generateAccessToken");
    CHECK_INT_EQ(f.seen[0].timeout_ms, 2500);
    CHECK_INT_EQ(f.seen[1].timeout_ms, 2500);
    CHECK_INT_EQ(exp, IAM_EXPIRES);

    /* no audience: nothing is sent */
    static const struct sl_gcp_config no_audience = {.sts_endpoint = (char *)"https://x.example"};
    const struct sl_gcp_config *none[] = {NULL, &no_audience};
    for (size_t i = 0; i < 2; i++) {
        f = (struct fake){0};
        CHECK_INT_EQ(login_with(&f, none[i], "gcr.io", NULL, SA_TOKEN, &c, &exp, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, "no workload identity audience (GCP_WORKLOAD_IDENTITY_AUDIENCE)");
        CHECK_INT_EQ(f.n, 0);
    }

    /* bad endpoints and audiences are refused before anything is sent */
    static const struct {
        struct sl_gcp_config cfg;
        const char *msg;
    } bad[] = {
        {{.audience = (char *)PROVIDER, .sts_endpoint = (char *)"http://sts.example.com"},
         "GCP_STS_ENDPOINT"},
        {{.audience = (char *)PROVIDER, .sts_endpoint = (char *)"https://sts.example.com/x/../y"},
         "GCP_STS_ENDPOINT"},
        {{.audience = (char *)PROVIDER, .iam_endpoint = (char *)"https://iam.example.com/v1"},
         "GCP_IAM_CREDENTIALS_ENDPOINT"},
        {{.audience = (char *)"proj-123.svc.id.goog"}, "GCP_WORKLOAD_IDENTITY_AUDIENCE"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f = (struct fake){0};
        int rc = login_with(&f, &bad[i].cfg, "gcr.io", GOOGLE_SA, SA_TOKEN, &c, &exp, &err);
        if (rc != SL_EINVAL || !strstr(err.msg, bad[i].msg))
            fprintf(stderr, "case %zu: %d %s\n", i, rc, err.msg);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        CHECK_INT_EQ(f.n, 0);
    }
}

/* A login that fails: what STS and IAM Credentials answer. */
struct login_case {
    struct sl_cloudtest_expect want;
    struct fake_answer sts, iam;
};

static int login_case(const void *test_case, struct sl_creds *c, int64_t *exp, struct sl_err *err)
{
    const struct login_case *lc = test_case;
    struct fake f = {.answers = {lc->sts, lc->iam}};
    int rc = login_with(&f, &default_cfg, "europe-west1-docker.pkg.dev", GOOGLE_SA, SA_TOKEN, c,
                        exp, err);
    /* IAM Credentials is asked only with a token from STS */
    if (!lc->iam.file && !lc->iam.failure)
        CHECK_INT_EQ(f.n, 1);
    return rc;
}

static void test_login_failures(void)
{
    static const struct login_case cases[] = {
#define STS_AT "STS https://sts.googleapis.com/v1/token: "
#define IAM_AT "IAM Credentials " IAM_URL ": "
#define STS_OK {.file = "sts/success.json", .status = 200}
        {{"sts 400 invalid_grant", SL_EAUTH, STS_AT "invalid_grant: The audience in ID Token"},
         {.file = "sts/invalid-grant.json", .status = 400},
         {0}},
        {{"sts 400 invalid_target", SL_EAUTH, STS_AT "invalid_target: "},
         {.file = "sts/invalid-target.json", .status = 400},
         {0}},
        {{"sts 401 unauthorized_client", SL_EAUTH,
          STS_AT "unauthorized_client: The given credential is rejected"},
         {.file = "sts/unauthorized-client.json", .status = 401},
         {0}},
        {{"sts 401 invalid_scope", SL_EAUTH, STS_AT "invalid_scope: "},
         {.file = "sts/invalid-scope.json", .status = 401},
         {0}},
        {{"sts 400 invalid_scope", SL_EINVAL, STS_AT "invalid_scope: "},
         {.file = "sts/invalid-scope.json", .status = 400},
         {0}},
        {{"sts 400 temporarily_unavailable", SL_ERETRY, STS_AT "temporarily_unavailable: "},
         {.file = "sts/temporarily-unavailable.json", .status = 400},
         {0}},
        {{"sts 400 echoing the token", SL_EAUTH,
          STS_AT "invalid_grant: Unable to parse the ID Token: [redacted]"},
         {.file = "sts/echo-token.json", .status = 400},
         {0}},
        {{"sts 401 echoing the token in parts", SL_EAUTH,
          STS_AT "invalid_grant: bad subject token [redacted]"},
         {.file = "sts/echo-token-split.json", .status = 401},
         {0}},
        {{"sts 503 with a document", SL_ERETRY, STS_AT "HTTP 503: temporarily_unavailable: "},
         {.file = "sts/temporarily-unavailable.json", .status = 503},
         {0}},
        {{"sts 502 page", SL_ERETRY, STS_AT "HTTP 502"},
         {.file = "sts/html.txt", .status = 502},
         {0}},
        {{"sts 429", SL_ERETRY, STS_AT "HTTP 429"}, {.file = "sts/html.txt", .status = 429}, {0}},
        {{"sts 401 page", SL_EAUTH, STS_AT "HTTP 401"},
         {.file = "sts/html.txt", .status = 401},
         {0}},
        {{"sts 404 page", SL_EINVAL, STS_AT "HTTP 404"},
         {.file = "sts/html.txt", .status = 404},
         {0}},
        {{"sts 403 holding a token", SL_EAUTH, STS_AT "HTTP 403"},
         {.file = "sts/success.json", .status = 403},
         {0}},
        {{"sts 200 without a token", SL_EINVAL, STS_AT "answer has no access_token"},
         {.file = "sts/no-token.json", .status = 200},
         {0}},
        {{"sts 200 not JSON", SL_EINVAL, STS_AT "answer is not a JSON object"},
         {.file = "sts/html.txt", .status = 200},
         {0}},
        {{"sts unreachable", SL_ERETRY, STS_AT "Could not connect to the stand-in"},
         {.failure = SL_HTTP_NETWORK},
         {0}},
        {{"sts answer too big", SL_ETOOBIG, STS_AT "answer larger than 65536 bytes"},
         {.file = "sts/success.json", .status = 200, .padding = 70000},
         {0}},
        {{"iam 403 permission denied", SL_EAUTH,
          IAM_AT "PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied"},
         STS_OK,
         {.file = "iam/permission-denied.json", .status = 403}},
        {{"iam 401 unauthenticated", SL_EAUTH,
          IAM_AT "UNAUTHENTICATED: Request had invalid authentication credentials."},
         STS_OK,
         {.file = "iam/unauthenticated.json", .status = 401}},
        {{"iam 401 echoing the token", SL_EAUTH,
          IAM_AT "UNAUTHENTICATED: Invalid Credentials: [redacted]"},
         STS_OK,
         {.file = "iam/echo-token.json", .status = 401}},
        {{"iam 400 invalid argument", SL_EINVAL,
          IAM_AT "INVALID_ARGUMENT: Invalid form of account ID"},
         STS_OK,
         {.file = "iam/invalid-argument.json", .status = 400}},
        {{"iam 404 not found", SL_EINVAL,
          IAM_AT "HTTP 404: NOT_FOUND: Not found; Gaia id not found"},
         STS_OK,
         {.file = "iam/not-found.json", .status = 404}},
        {{"iam 503 unavailable", SL_ERETRY, IAM_AT "HTTP 503: UNAVAILABLE: "},
         STS_OK,
         {.file = "iam/unavailable.json", .status = 503}},
        {{"iam 429 resource exhausted", SL_ERETRY,
          IAM_AT "HTTP 429: RESOURCE_EXHAUSTED: Quota exceeded"},
         STS_OK,
         {.file = "iam/resource-exhausted.json", .status = 429}},
        {{"iam 500 page", SL_ERETRY, IAM_AT "HTTP 500"},
         STS_OK,
         {.file = "iam/not-json.txt", .status = 500}},
        {{"iam 401 holding a token", SL_EAUTH, IAM_AT "HTTP 401"},
         STS_OK,
         {.file = "iam/success.json", .status = 401}},
        {{"iam 200 without a token", SL_EINVAL, IAM_AT "answer has no accessToken"},
         STS_OK,
         {.file = "iam/no-token.json", .status = 200}},
        {{"iam 200 bad time", SL_EINVAL, IAM_AT "answer's expireTime is not an RFC 3339 UTC time"},
         STS_OK,
         {.file = "iam/expiry-offset.json", .status = 200}},
        {{"iam reset", SL_ERETRY, IAM_AT "Could not connect to the stand-in"},
         STS_OK,
         {.failure = SL_HTTP_NETWORK}},
        {{"iam answer too big", SL_ETOOBIG, IAM_AT "answer larger than 65536 bytes"},
         STS_OK,
         {.file = "iam/success.json", .status = 200, .padding = 70000}},
#undef STS_AT
#undef IAM_AT
#undef STS_OK
    };
    static const struct sl_cloudtest_login l = {
        .login = login_case, .secrets = secrets, .n_secrets = N_SECRETS, .one_line = 1};
    sl_cloudtest_login_failures(SL_CLOUDTEST_COUNTERS, &l, cases, sizeof(cases) / sizeof(cases[0]),
                                sizeof(cases[0]));
}

/* The caller's own inputs are checked before anything is sent. */
static void test_login_inputs(void)
{
    static const struct {
        const char *google_sa, *sa_token, *msg;
    } cases[] = {
        {"mirror", SA_TOKEN,
         "Google login: iam.gke.io/gcp-service-account: \"mirror\" is not a Google service "
         "account"},
        {GOOGLE_SA "/../../x", SA_TOKEN, "is not a Google service account"},
        {"", SA_TOKEN, "is not a Google service account"},
        {GOOGLE_SA, "", "the ServiceAccount token is not a JWT"},
        {GOOGLE_SA, NULL, "the ServiceAccount token is not a JWT"},
        {NULL, SA_TOKEN "\",\"audience\":\"x", "the ServiceAccount token is not a JWT"},
        {NULL, SA_TOKEN " " SA_TOKEN, "the ServiceAccount token is not a JWT"},
        {NULL, SA_TOKEN "\n", "the ServiceAccount token is not a JWT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake f = {0};
        struct sl_creds c;
        int64_t exp = -1;
        struct sl_err err = {0};
        int rc = login_with(&f, &default_cfg, "gcr.io", cases[i].google_sa, cases[i].sa_token, &c,
                            &exp, &err);
        if (rc != SL_EINVAL || !strstr(err.msg, cases[i].msg))
            fprintf(stderr, "case %zu: %d %s\n", i, rc, err.msg);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, cases[i].msg);
        check_no_secret(err.msg);
        CHECK_INT_EQ(f.n, 0);
        CHECK_INT_EQ(exp, -1);
    }
    /* a token over 16 KiB */
    size_t n = (16 << 10) + 1;
    char *big = sl_xmalloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    struct fake f = {0};
    struct sl_creds c;
    int64_t exp = -1;
    struct sl_err err = {0};
    CHECK_INT_EQ(login_with(&f, &default_cfg, "gcr.io", NULL, big, &c, &exp, &err), SL_EINVAL);
    CHECK_INT_EQ(f.n, 0);
    free(big);

    /* a host that did not come from sl_gcp_registry_host_parse */
    struct sl_gcp_registry_host host;
    memset(&host, 0, sizeof(host));
    snprintf(host.host, sizeof(host.host), "evil.example");
    struct sl_transport *t = sl_transport_new_custom(&fake_ops, &f);
    CHECK_INT_EQ(sl_gcp_registry_login(&c, &exp, t, &default_cfg, &host, NULL, SA_TOKEN, NOW, &err),
                 SL_EINVAL);
    CHECK_CONTAINS(err.msg, "no registry host");
    memset(&host, 'a', sizeof(host)); /* not terminated */
    CHECK_INT_EQ(sl_gcp_registry_login(&c, &exp, t, &default_cfg, &host, NULL, SA_TOKEN, NOW, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(sl_gcp_registry_login(&c, &exp, t, &default_cfg, NULL, NULL, SA_TOKEN, NOW, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(f.n, 0);
    sl_transport_free(t);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    RUN(test_host_parse);
    RUN(test_service_account_check);
    RUN(test_token_audience);
    RUN(test_sts_success);
    RUN(test_sts_errors);
    RUN(test_generate_token_parse);
    RUN(test_config_from_env);
    RUN(test_login_impersonation);
    RUN(test_login_direct);
    RUN(test_login_endpoints);
    RUN(test_login_failures);
    RUN(test_login_inputs);
    return CHECK_EXIT();
}
