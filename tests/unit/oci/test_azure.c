/* Azure Container Registry credentials from a ServiceAccount (oci/azure.c): the registry host
 * and GUID grammars with the attacks next to the happy paths, the Entra ID and ACR answer
 * readers over real answer shapes and hostile ones (tests/data/azure), the environment
 * configuration, and whole logins over two fake transports (Entra ID's and the registry's):
 * what is sent where, how each failure is reported, and that no secret ever reaches an error
 * message. */
#include "check.h"
#include "cloudtest.h"
#include "http/transport.h"
#include "oci/auth.h"
#include "oci/azure.h"
#include "testdata.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

/* The made-up tokens of tests/data/azure and the fakes. */
#define SA_TOKEN_HEADER "eyJhbGciOiJSUzI1NiIsImtpZCI6InNhLWtleSJ9"
#define SA_TOKEN_CLAIMS "eyJhdWQiOlsiYXBpOi8vQXp1cmVBRFRva2VuRXhjaGFuZ2UiXX0"
#define SA_TOKEN_SIG    "c2VydmljZWFjY291bnQtc2lnbmF0dXJl"
#define SA_TOKEN        SA_TOKEN_HEADER "." SA_TOKEN_CLAIMS "." SA_TOKEN_SIG
#define AAD_TOKEN                                                                                  \
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0."    \
    "AAD-ACCESS-TOKEN-sig_value"
#define REFRESH_TOKEN                                                                              \
    "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJBQ1ItUkVGUkVTSCJ9.ACR-REFRESH-TOKEN-signature"
#define TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define CLIENT "11111111-2222-3333-4444-555555555555"
#define NOW    ((int64_t)1796600000)

/* The secrets of the exchange: none is ever in a message. */
static const char *const secrets[] = {
    SA_TOKEN,           SA_TOKEN_HEADER,    SA_TOKEN_CLAIMS, SA_TOKEN_SIG,
    "ZCI6InNhLWtleSJ9", "QXp1cmVBRFRva2Vu", AAD_TOKEN,       "ACCESS-TOKEN",
    "AAD-ACCESS",       REFRESH_TOKEN,      "REFRESH-TOKEN", "ACR-REFRESH",
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

/* ---- host and GUIDs ---- */

static void test_host_parse(void)
{
    struct sl_azure_acr_host h;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_azure_acr_host_parse(&h, "myregistry.azurecr.io", &err), 0);
    CHECK_STR_EQ(h.host, "myregistry.azurecr.io");
    CHECK_INT_EQ(sl_azure_acr_host_parse(&h, "contoso01.azurecr.cn", &err), 0);
    CHECK_STR_EQ(h.host, "contoso01.azurecr.cn");
    CHECK_INT_EQ(sl_azure_acr_host_parse(&h, "gov12.azurecr.us", &err), 0);
    CHECK_STR_EQ(h.host, "gov12.azurecr.us");
    /* 50 characters, the longest name */
    CHECK_INT_EQ(sl_azure_acr_host_parse(
                     &h, "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn.azurecr.io", &err),
                 0);

    static const char *const bad[] = {
        "myregistry.azurecr.io:443",
        "myregistry.azurecr.io:5000",
        "MyRegistry.azurecr.io",
        "myregistry.AZURECR.IO",
        "abcd.azurecr.io",
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno.azurecr.io",
        "my-registry.azurecr.io",
        "my_registry.azurecr.io",
        "myreg.azurecr.io.evil.example",
        "myreg.azurecr.io.",
        "evil.example/myreg.azurecr.io",
        "evil.myreg.azurecr.io",
        "myreg.azurecr.io/v2/",
        "myreg.azurecr.com",
        "myreg.azurecr.evil",
        "myregazurecr.io",
        "myreg..azurecr.io",
        "myreg.privatelink.azurecr.io",
        ".azurecr.io",
        "myreg.azurecr.io\n",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&h, 0x5a, sizeof(h));
        struct sl_azure_acr_host before = h;
        int rc = sl_azure_acr_host_parse(&h, bad[i], &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "host accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK(memcmp(&h, &before, sizeof(h)) == 0); /* out untouched */
        CHECK_CONTAINS(err.msg, "is not an Azure Container Registry host (NAME.azurecr.io)");
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    CHECK_INT_EQ(sl_azure_acr_host_parse(&h, "myreg.azurecr.io.evil.example", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "myreg.azurecr.io.evil.example is not an Azure Container Registry host "
                          "(NAME.azurecr.io)");
    CHECK_INT_EQ(sl_azure_acr_host_parse(&h, NULL, &err), SL_EINVAL);
}

static void test_guid_check(void)
{
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_azure_guid_check(TENANT, &err), 0);
    CHECK_INT_EQ(sl_azure_guid_check("72F988BF-86F1-41AF-91AB-2D7CD011DB47", &err), 0);
    CHECK_INT_EQ(sl_azure_guid_check("00000000-0000-0000-0000-000000000000", &err), 0);
    static const char *const bad[] = {
        "72f988bf86f141af91ab2d7cd011db47",
        "{72f988bf-86f1-41af-91ab-2d7cd011db47}",
        "72f988bf-86f1-41af-91ab-2d7cd011db4",
        "72f988bf-86f1-41af-91ab-2d7cd011db477",
        "72f988bg-86f1-41af-91ab-2d7cd011db47",
        "72f988bf-86f1-41af-91ab2-d7cd011db47",
        "72f988bf-86f1-41af-91ab-2d7cd011db4\n",
        "contoso.onmicrosoft.com",
        "72f988bf-86f1-41af-91ab-2d7cd011db47&scope=x",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sl_azure_guid_check(bad[i], &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "GUID accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, "is not a GUID");
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    CHECK_INT_EQ(sl_azure_guid_check(NULL, &err), SL_EINVAL);
    /* a long value is quoted only in part */
    char long_value[400];
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    CHECK_INT_EQ(sl_azure_guid_check(long_value, &err), SL_EINVAL);
    CHECK(strlen(err.msg) < 160);
}

/* ---- Entra ID answers ---- */

static void test_token_success(void)
{
    static const struct sl_cloudtest_ok cases[] = {
        {"success.json", 3599},
        {"success-long-string.json", 86399},
        {"success-short-real.json", 600},
        {"success-no-type.json", 3599},
    };
    const struct sl_cloudtest_oauth entra = {
        .data_dir = data_dir, .folder = "entra", .parse = sl_azure_token_parse, .now_unix = NOW};
    sl_cloudtest_oauth_successes(SL_CLOUDTEST_COUNTERS, &entra, AAD_TOKEN, cases,
                                 sizeof(cases) / sizeof(cases[0]));
}

static void test_token_errors(void)
{
    /* msg: the whole message, or its start when it ends in "..." */
    static const struct sl_cloudtest_case cases[] = {
        {"invalid-client.json", SL_EAUTH,
         "Entra ID invalid_client: AADSTS700016: Application with identifier "
         "'11111111-2222-3333-4444-555555555555' was not found in the directory 'Contoso'. "
         "Trace ID: 0b1c2d3e-0000-4000-8000-000000000001 Correlation ID: ..."},
        {"unauthorized-client.json", SL_EAUTH,
         "Entra ID unauthorized_client: AADSTS700213: No matching federated identity record "
         "found for presented assertion subject 'system:serviceaccount:apps:mirror'."},
        {"invalid-grant.json", SL_EAUTH,
         "Entra ID invalid_grant: AADSTS700024: Client assertion is not within its valid time "
         "range."},
        {"invalid-request.json", SL_EAUTH,
         "Entra ID invalid_request: AADSTS90002: Tenant 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' "
         "not found."},
        {"temporarily-unavailable.json", SL_ERETRY,
         "Entra ID temporarily_unavailable: AADSTS50196: ..."},
        /* control characters dropped, bytes outside ASCII shown as '?' */
        {"invalid-scope.json", SL_EINVAL,
         "Entra ID invalid_scope: AADSTS70011: The provided value for the input parameter "
         "'scope' is not valid.Second line caf??"},
        {"error-not-string.json", SL_EINVAL, "Entra ID error document without an error code"},
        {"echo-token.json", SL_EAUTH,
         "Entra ID invalid_client: AADSTS50027: JWT token is invalid or malformed: [redacted]"},
        {"echo-token-split.json", SL_EAUTH,
         "Entra ID invalid_client: AADSTS50027: bad assertion [redacted]"},
        {"no-token.json", SL_EINVAL, "Entra ID answer has no access_token"},
        {"token-number.json", SL_EINVAL, "Entra ID answer's access_token is not a string of ..."},
        {"token-empty.json", SL_EINVAL, "Entra ID answer's access_token is not a string of ..."},
        {"token-space.json", SL_EINVAL, "Entra ID answer's access_token is not a string of ..."},
        {"no-expiry.json", SL_EINVAL, "Entra ID answer has no expires_in"},
        {"expiry-huge.json", SL_EINVAL, "Entra ID answer's expires_in is not a number of ..."},
        {"expiry-huge-integer.json", SL_EINVAL, "Entra ID answer is not a JSON object"},
        {"expiry-negative.json", SL_EINVAL, "Entra ID answer's expires_in is not a number of ..."},
        {"expiry-string-bad.json", SL_EINVAL,
         "Entra ID answer's expires_in is not a number of ..."},
        {"expiry-array.json", SL_EINVAL, "Entra ID answer's expires_in is not a number of ..."},
        {"token-type-mac.json", SL_EINVAL, "Entra ID answer's token_type is not Bearer"},
        {"duplicate-key.json", SL_EINVAL, "Entra ID answer is not a JSON object"},
        {"not-object.json", SL_EINVAL, "Entra ID answer is not a JSON object"},
        {"html.txt", SL_EINVAL, "Entra ID answer is not a JSON object"},
    };
    const struct sl_cloudtest_oauth reader = {.data_dir = data_dir,
                                              .folder = "entra",
                                              .parse = sl_azure_token_parse,
                                              .service = "Entra ID",
                                              .error_code = "invalid_client",
                                              .now_unix = NOW,
                                              .secrets = secrets,
                                              .n_secrets = N_SECRETS};
    sl_cloudtest_oauth_cases(SL_CLOUDTEST_COUNTERS, &reader, cases,
                             sizeof(cases) / sizeof(cases[0]));
}

/* ---- ACR answers ---- */

static int acr_file(char **tok, const char *name, struct sl_err *err)
{
    size_t len = 0;
    char *json = sl_test_read_file(&len, "%s/acr/%s", data_dir, name);
    int rc = sl_azure_acr_exchange_parse(tok, json, len, err);
    free(json);
    return rc;
}

static int read_acr(void *ctx, const char *doc, size_t len, struct sl_err *err)
{
    return sl_azure_acr_exchange_parse(ctx, doc, len, err);
}

static void test_acr_parse(void)
{
    char *tok = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(acr_file(&tok, "success.json", &err), 0);
    CHECK_STR_EQ(tok, REFRESH_TOKEN);
    sl_secure_free_str(tok);

    static const struct sl_cloudtest_case cases[] = {
        {"unauthorized.json", SL_EAUTH,
         "ACR UNAUTHORIZED: authentication required, visit https://aka.ms/acr/authorization for "
         "more information."},
        {"denied.json", SL_EAUTH, "ACR DENIED: requested access to the resource is denied"},
        {"oauth-unauthorized.json", SL_EAUTH,
         "ACR unauthorized: The access token is not valid for this registry."},
        {"name-invalid.json", SL_EINVAL,
         "ACR NAME_INVALID: the service name is not this registry's"},
        {"errors-empty.json", SL_EINVAL, "ACR error document without a code"},
        {"code-number.json", SL_EINVAL, "ACR error document without a code"},
        {"no-token.json", SL_EINVAL, "ACR answer has no refresh_token"},
        {"token-object.json", SL_EINVAL,
         "ACR answer's refresh_token is not a string of 1-16384 printable characters"},
        {"token-newline.json", SL_EINVAL,
         "ACR answer's refresh_token is not a string of 1-16384 printable characters"},
        {"duplicate-key.json", SL_EINVAL, "ACR answer is not a JSON object"},
        {"not-json.txt", SL_EINVAL, "ACR answer is not a JSON object"},
    };
    const struct sl_cloudtest_reader reader = {
        .data_dir = data_dir,
        .folder = "acr",
        .read = read_acr,
        .ctx = &tok,
        .outputs = {{&tok, sizeof(tok)}},
        .n_outputs = 1,
        .match = SL_CLOUDTEST_MSG_IS,
        .secrets = secrets,
        .n_secrets = N_SECRETS,
    };
    sl_cloudtest_read_cases(SL_CLOUDTEST_COUNTERS, &reader, cases,
                            sizeof(cases) / sizeof(cases[0]));
    CHECK_INT_EQ(sl_azure_acr_exchange_parse(&tok, NULL, 0, &err), SL_EINVAL);
    /* a message echoing a token is quoted without it */
    const char *echo =
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad token " AAD_TOKEN "\"}]}";
    CHECK_INT_EQ(sl_azure_acr_exchange_parse(&tok, echo, strlen(echo), &err), SL_EAUTH);
    CHECK_STR_EQ(err.msg, "ACR UNAUTHORIZED: bad token [redacted]");
}

/* ---- configuration ---- */

static void test_config_from_env(void)
{
    struct sl_azure_config cfg;
    struct sl_err err = {0};
    unsetenv("AZURE_AUTHORITY_HOST");
    setenv("AZURE_TENANT_ID", "", 1); /* empty counts as unset */
    unsetenv("AZURE_CA_BUNDLE");
    CHECK_INT_EQ(sl_azure_config_from_env(&cfg, &err), 0);
    CHECK(cfg.authority_host == NULL && cfg.tenant_id == NULL && cfg.ca_pem == NULL);
    CHECK_INT_EQ(cfg.timeout_ms, 0);
    sl_azure_config_clear(&cfg);

    setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/", 1);
    setenv("AZURE_TENANT_ID", TENANT, 1);
    char ca_path[1200];
    snprintf(ca_path, sizeof(ca_path), "%s/../tls/ca.crt", data_dir);
    setenv("AZURE_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_azure_config_from_env(&cfg, &err), 0);
    CHECK_STR_EQ(cfg.authority_host, "https://login.microsoftonline.us/");
    CHECK_STR_EQ(cfg.tenant_id, TENANT);
    CHECK(cfg.ca_pem && strstr(cfg.ca_pem, "-----BEGIN CERTIFICATE-----"));
    sl_azure_config_clear(&cfg);
    CHECK(cfg.ca_pem == NULL && cfg.tenant_id == NULL);
    unsetenv("AZURE_CA_BUNDLE");
    setenv("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8443", 1);
    CHECK_INT_EQ(sl_azure_config_from_env(&cfg, &err), 0);
    sl_azure_config_clear(&cfg);

    static const char *const bad_authorities[] = {
        "http://login.microsoftonline.com/",
        "ftp://login.microsoftonline.com",
        "https://user@login.microsoftonline.com",
        "https://login.microsoftonline.com/tenant",
        "https://login.microsoftonline.com?x=1",
        "https://login.microsoftonline.com:99999",
        "login.microsoftonline.com",
        "http://127.0.0.1.evil.example",
    };
    for (size_t i = 0; i < sizeof(bad_authorities) / sizeof(bad_authorities[0]); i++) {
        setenv("AZURE_AUTHORITY_HOST", bad_authorities[i], 1);
        memset(&cfg, 0, sizeof(cfg));
        int rc = sl_azure_config_from_env(&cfg, &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "authority accepted: %s\n", bad_authorities[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, "AZURE_AUTHORITY_HOST");
        CHECK(cfg.tenant_id == NULL); /* untouched */
    }
    unsetenv("AZURE_AUTHORITY_HOST");

    setenv("AZURE_TENANT_ID", "contoso.onmicrosoft.com", 1);
    memset(&cfg, 0, sizeof(cfg));
    CHECK_INT_EQ(sl_azure_config_from_env(&cfg, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "AZURE_TENANT_ID");
    CHECK_CONTAINS(err.msg, "is not a GUID");
    CHECK(cfg.authority_host == NULL);
    unsetenv("AZURE_TENANT_ID");

    snprintf(ca_path, sizeof(ca_path), "%s/no-such-ca.pem", data_dir);
    setenv("AZURE_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_azure_config_from_env(&cfg, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "AZURE_CA_BUNDLE");
    snprintf(ca_path, sizeof(ca_path), "%s/entra/success.json", data_dir);
    setenv("AZURE_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_azure_config_from_env(&cfg, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "AZURE_CA_BUNDLE");
    CHECK_CONTAINS(err.msg, "no PEM certificate");
    unsetenv("AZURE_CA_BUNDLE");
}

/* ---- logins over fake transports ---- */

/* One fake service: what it answers (a file under data_dir and a status, or a failure) and
 * what it saw. */
struct fake_service {
    const char *file;
    long status;
    enum sl_http_failure failure;
    size_t padding; /* spaces appended to the answer */
    int n;
    char url[512];
    char body[4096];
    char headers[4][256];
    size_t n_headers;
    int64_t timeout_ms;
};

static void fake_perform(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct fake_service *f = ctx;
    memset(res, 0, sizeof(*res));
    f->n++;
    f->timeout_ms = x->timeout_ms;
    snprintf(f->url, sizeof(f->url), "%s", x->url);
    snprintf(f->body, sizeof(f->body), "%.*s", (int)x->body_len, (const char *)x->body);
    f->n_headers = 0;
    for (size_t i = 0; i < x->n_headers && i < 4; i++)
        snprintf(f->headers[f->n_headers++], sizeof(f->headers[0]), "%s", x->headers[i]);
    if (strcmp(x->method, "POST") != 0 || f->failure || !f->file) {
        res->failure = f->failure ? f->failure : SL_HTTP_NETWORK;
        snprintf(res->error, sizeof(res->error), "Could not connect to the stand-in");
        return;
    }
    sl_cloudtest_serve(x, res, data_dir, f->file, f->status, f->padding);
}

static const struct sl_transport_ops fake_ops = {.perform = fake_perform,
                                                 .relay = sl_cloudtest_no_relay};

static int has_header(const struct fake_service *f, const char *line)
{
    for (size_t i = 0; i < f->n_headers; i++)
        if (strcmp(f->headers[i], line) == 0)
            return 1;
    return 0;
}

struct fakes {
    struct fake_service entra, acr;
};

static int login_with(struct fakes *fk, const struct sl_azure_config *cfg, const char *host_name,
                      const char *tenant, const char *client, const char *sa_token,
                      struct sl_creds *c, int64_t *exp, struct sl_err *err)
{
    struct sl_azure_acr_host host;
    if (sl_azure_acr_host_parse(&host, host_name, err) != 0)
        return -100;
    struct sl_transport *entra_t = sl_transport_new_custom(&fake_ops, &fk->entra);
    struct sl_transport *registry_t = sl_transport_new_custom(&fake_ops, &fk->acr);
    memset(c, 0, sizeof(*c));
    int rc = sl_azure_acr_login(c, exp, entra_t, registry_t, cfg, &host, tenant, client, sa_token,
                                NOW, err);
    sl_transport_free(entra_t);
    sl_transport_free(registry_t);
    return rc;
}

static int login(struct fakes *fk, const struct sl_azure_config *cfg, struct sl_creds *c,
                 int64_t *exp, struct sl_err *err)
{
    return login_with(fk, cfg, "myregistry.azurecr.io", TENANT, CLIENT, SA_TOKEN, c, exp, err);
}

static void test_login_success(void)
{
    struct fakes fk = {.entra = {.file = "entra/success.json", .status = 200},
                       .acr = {.file = "acr/success.json", .status = 200}};
    struct sl_creds c;
    int64_t exp = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(login(&fk, NULL, &c, &exp, &err), 0);
    CHECK_STR_EQ(c.username, "00000000-0000-0000-0000-000000000000");
    CHECK_STR_EQ(c.password, REFRESH_TOKEN);
    CHECK_INT_EQ(exp, NOW + 3599); /* the access token's end, before the 3 hours */
    sl_creds_free(&c);

    /* Entra ID over its own transport, the exchange over the registry's */
    CHECK_INT_EQ(fk.entra.n, 1);
    CHECK_INT_EQ(fk.acr.n, 1);
    CHECK_STR_EQ(fk.entra.url, "https://login.microsoftonline.com/" TENANT "/oauth2/v2.0/token");
    CHECK_STR_EQ(fk.entra.body,
                 "client_id=" CLIENT "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
                 "&grant_type=client_credentials"
                 "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
                 "client-assertion-type%3Ajwt-bearer"
                 "&client_assertion=" SA_TOKEN);
    CHECK(has_header(&fk.entra, "Content-Type: application/x-www-form-urlencoded"));
    CHECK_INT_EQ(fk.entra.timeout_ms, 30000);
    CHECK_STR_EQ(fk.acr.url, "https://myregistry.azurecr.io/oauth2/exchange");
    CHECK_STR_EQ(fk.acr.body, "grant_type=access_token&service=myregistry.azurecr.io"
                              "&tenant=" TENANT "&access_token=" AAD_TOKEN);
    CHECK(has_header(&fk.acr, "Content-Type: application/x-www-form-urlencoded"));
    CHECK_INT_EQ(fk.acr.timeout_ms, 30000);

    /* a day-long access token: the refresh token's 3 hours are the end */
    fk = (struct fakes){.entra = {.file = "entra/success-long-string.json", .status = 200},
                        .acr = {.file = "acr/success.json", .status = 200}};
    CHECK_INT_EQ(login(&fk, NULL, &c, &exp, &err), 0);
    CHECK_INT_EQ(exp, NOW + 3 * 3600);
    sl_creds_free(&c);
    fk = (struct fakes){.entra = {.file = "entra/success-short-real.json", .status = 200},
                        .acr = {.file = "acr/success.json", .status = 200}};
    CHECK_INT_EQ(login(&fk, NULL, &c, &exp, &err), 0);
    CHECK_INT_EQ(exp, NOW + 600);
    sl_creds_free(&c);
}

static void test_login_endpoints(void)
{
    static const struct {
        const char *authority, *url;
    } cases[] = {
        {"https://login.chinacloudapi.cn/",
         "https://login.chinacloudapi.cn/" TENANT "/oauth2/v2.0/token"},
        {"https://login.microsoftonline.us",
         "https://login.microsoftonline.us/" TENANT "/oauth2/v2.0/token"},
        {"http://127.0.0.1:8443/", "http://127.0.0.1:8443/" TENANT "/oauth2/v2.0/token"},
        {"https://Login.Example.com:443", "https://login.example.com/" TENANT "/oauth2/v2.0/token"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_azure_config cfg = {.authority_host = (char *)cases[i].authority,
                                      .timeout_ms = 5000};
        struct fakes fk = {.entra = {.file = "entra/success.json", .status = 200},
                           .acr = {.file = "acr/success.json", .status = 200}};
        struct sl_creds c;
        int64_t exp = 0;
        struct sl_err err = {0};
        CHECK_INT_EQ(login(&fk, &cfg, &c, &exp, &err), 0);
        sl_creds_free(&c);
        CHECK_STR_EQ(fk.entra.url, cases[i].url);
        CHECK_INT_EQ(fk.entra.timeout_ms, 5000);
        CHECK_INT_EQ(fk.acr.timeout_ms, 5000);
        /* the registry's exchange stays at the registry */
        CHECK_STR_EQ(fk.acr.url, "https://myregistry.azurecr.io/oauth2/exchange");
    }

    /* sovereign registry hosts: service is the host */
    struct fakes fk = {.entra = {.file = "entra/success.json", .status = 200},
                       .acr = {.file = "acr/success.json", .status = 200}};
    struct sl_creds c;
    int64_t exp = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(
        login_with(&fk, NULL, "contoso01.azurecr.cn", TENANT, CLIENT, SA_TOKEN, &c, &exp, &err), 0);
    sl_creds_free(&c);
    CHECK_STR_EQ(fk.acr.url, "https://contoso01.azurecr.cn/oauth2/exchange");
    CHECK_CONTAINS(fk.acr.body, "&service=contoso01.azurecr.cn&");

    /* the tenant: the annotation's, else the configuration's, else an error */
    struct sl_azure_config cfg = {.tenant_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"};
    fk = (struct fakes){.entra = {.file = "entra/success.json", .status = 200},
                        .acr = {.file = "acr/success.json", .status = 200}};
    CHECK_INT_EQ(
        login_with(&fk, &cfg, "myregistry.azurecr.io", NULL, CLIENT, SA_TOKEN, &c, &exp, &err), 0);
    sl_creds_free(&c);
    CHECK_STR_EQ(fk.entra.url, "https://login.microsoftonline.com/"
                               "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/oauth2/v2.0/token");
    CHECK_CONTAINS(fk.acr.body, "&tenant=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee&");
    fk = (struct fakes){.entra = {.file = "entra/success.json", .status = 200},
                        .acr = {.file = "acr/success.json", .status = 200}};
    CHECK_INT_EQ(
        login_with(&fk, &cfg, "myregistry.azurecr.io", TENANT, CLIENT, SA_TOKEN, &c, &exp, &err),
        0);
    sl_creds_free(&c);
    CHECK_STR_EQ(fk.entra.url, "https://login.microsoftonline.com/" TENANT "/oauth2/v2.0/token");
    fk = (struct fakes){0};
    CHECK_INT_EQ(
        login_with(&fk, NULL, "myregistry.azurecr.io", NULL, CLIENT, SA_TOKEN, &c, &exp, &err),
        SL_EINVAL);
    CHECK_CONTAINS(err.msg, "no tenant");
    CHECK_CONTAINS(err.msg, "azure.workload.identity/tenant-id");
    CHECK_CONTAINS(err.msg, "AZURE_TENANT_ID");
    struct sl_azure_config empty = {0};
    CHECK_INT_EQ(
        login_with(&fk, &empty, "myregistry.azurecr.io", NULL, CLIENT, SA_TOKEN, &c, &exp, &err),
        SL_EINVAL);
    CHECK_CONTAINS(err.msg, "no tenant");
    CHECK_INT_EQ(fk.entra.n + fk.acr.n, 0);

    /* an authority that is no https URL is refused before anything is sent */
    cfg = (struct sl_azure_config){.authority_host = "http://login.example.com/"};
    CHECK_INT_EQ(login(&fk, &cfg, &c, &exp, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "AZURE_AUTHORITY_HOST");
    cfg = (struct sl_azure_config){.authority_host = "https://login.example.com/x/../evil"};
    CHECK_INT_EQ(login(&fk, &cfg, &c, &exp, &err), SL_EINVAL);
    CHECK_INT_EQ(fk.entra.n + fk.acr.n, 0);
}

/* A login that fails: what Entra ID and the registry answer. */
struct login_case {
    struct sl_cloudtest_expect want;
    struct fakes fk;
};

static int login_case(const void *test_case, struct sl_creds *c, int64_t *exp, struct sl_err *err)
{
    const struct login_case *lc = test_case;
    struct fakes fk = lc->fk;
    int rc = login(&fk, NULL, c, exp, err);
    /* the registry is asked only with an access token from Entra ID */
    if (!lc->fk.acr.file && !lc->fk.acr.failure)
        CHECK_INT_EQ(fk.acr.n, 0);
    return rc;
}

static void test_login_failures(void)
{
    static const struct login_case cases[] = {
#define ENTRA_AT "Entra ID https://login.microsoftonline.com/" TENANT "/oauth2/v2.0/token: "
#define ACR_AT   "ACR https://myregistry.azurecr.io/oauth2/exchange: "
#define ENTRA_OK .entra = {.file = "entra/success.json", .status = 200}
        {{"entra 401 invalid_client", SL_EAUTH,
          ENTRA_AT "invalid_client: AADSTS700016: Application with identifier"},
         {.entra = {.file = "entra/invalid-client.json", .status = 401}}},
        {{"entra 400 unauthorized_client", SL_EAUTH,
          ENTRA_AT "unauthorized_client: AADSTS700213: "},
         {.entra = {.file = "entra/unauthorized-client.json", .status = 400}}},
        {{"entra 400 invalid_grant", SL_EAUTH, ENTRA_AT "invalid_grant: AADSTS700024: "},
         {.entra = {.file = "entra/invalid-grant.json", .status = 400}}},
        {{"entra 400 invalid_scope", SL_EINVAL, ENTRA_AT "invalid_scope: AADSTS70011: "},
         {.entra = {.file = "entra/invalid-scope.json", .status = 400}}},
        {{"entra 400 temporarily_unavailable", SL_ERETRY, ENTRA_AT "temporarily_unavailable: "},
         {.entra = {.file = "entra/temporarily-unavailable.json", .status = 400}}},
        {{"entra 400 echoing the token", SL_EAUTH,
          ENTRA_AT "invalid_client: AADSTS50027: JWT token is invalid or malformed: [redacted]"},
         {.entra = {.file = "entra/echo-token.json", .status = 400}}},
        {{"entra 401 echoing the token in parts", SL_EAUTH,
          ENTRA_AT "invalid_client: AADSTS50027: bad assertion [redacted]"},
         {.entra = {.file = "entra/echo-token-split.json", .status = 401}}},
        {{"entra 503 with a document", SL_ERETRY, ENTRA_AT "HTTP 503: temporarily_unavailable: "},
         {.entra = {.file = "entra/temporarily-unavailable.json", .status = 503}}},
        {{"entra 500 page", SL_ERETRY, ENTRA_AT "HTTP 500"},
         {.entra = {.file = "entra/html.txt", .status = 500}}},
        {{"entra 429", SL_ERETRY, "HTTP 429"},
         {.entra = {.file = "entra/html.txt", .status = 429}}},
        {{"entra 401 page", SL_EAUTH, ENTRA_AT "HTTP 401"},
         {.entra = {.file = "entra/html.txt", .status = 401}}},
        {{"entra 404 page", SL_EINVAL, ENTRA_AT "HTTP 404"},
         {.entra = {.file = "entra/html.txt", .status = 404}}},
        {{"entra 403 holding a token", SL_EAUTH, ENTRA_AT "HTTP 403"},
         {.entra = {.file = "entra/success.json", .status = 403}}},
        {{"entra 200 without a token", SL_EINVAL, ENTRA_AT "answer has no access_token"},
         {.entra = {.file = "entra/no-token.json", .status = 200}}},
        {{"entra 200 not JSON", SL_EINVAL, ENTRA_AT "answer is not a JSON object"},
         {.entra = {.file = "entra/html.txt", .status = 200}}},
        {{"entra unreachable", SL_ERETRY, ENTRA_AT "Could not connect to the stand-in"},
         {.entra = {.failure = SL_HTTP_NETWORK}}},
        {{"entra answer too big", SL_ETOOBIG, ENTRA_AT "answer larger than 65536 bytes"},
         {.entra = {.file = "entra/success.json", .status = 200, .padding = 70000}}},
        {{"acr 401 unauthorized", SL_EAUTH, ACR_AT "UNAUTHORIZED: authentication required"},
         {ENTRA_OK, .acr = {.file = "acr/unauthorized.json", .status = 401}}},
        {{"acr 401 oauth shape", SL_EAUTH,
          ACR_AT "unauthorized: The access token is not valid for this registry."},
         {ENTRA_OK, .acr = {.file = "acr/oauth-unauthorized.json", .status = 401}}},
        {{"acr 403 denied", SL_EAUTH, ACR_AT "DENIED: requested access"},
         {ENTRA_OK, .acr = {.file = "acr/denied.json", .status = 403}}},
        {{"acr 400 name invalid", SL_EINVAL, ACR_AT "NAME_INVALID: the service name"},
         {ENTRA_OK, .acr = {.file = "acr/name-invalid.json", .status = 400}}},
        {{"acr 502", SL_ERETRY, ACR_AT "HTTP 502"},
         {ENTRA_OK, .acr = {.file = "entra/html.txt", .status = 502}}},
        {{"acr 429", SL_ERETRY, ACR_AT "HTTP 429: UNAUTHORIZED: "},
         {ENTRA_OK, .acr = {.file = "acr/unauthorized.json", .status = 429}}},
        {{"acr 200 without a token", SL_EINVAL, ACR_AT "answer has no refresh_token"},
         {ENTRA_OK, .acr = {.file = "acr/no-token.json", .status = 200}}},
        {{"acr 401 holding a token", SL_EAUTH, ACR_AT "HTTP 401"},
         {ENTRA_OK, .acr = {.file = "acr/success.json", .status = 401}}},
        {{"acr reset", SL_ERETRY, ACR_AT "Could not connect to the stand-in"},
         {ENTRA_OK, .acr = {.failure = SL_HTTP_NETWORK}}},
        {{"acr answer too big", SL_ETOOBIG, ACR_AT "answer larger than 65536 bytes"},
         {ENTRA_OK, .acr = {.file = "acr/success.json", .status = 200, .padding = 70000}}},
#undef ENTRA_AT
#undef ACR_AT
#undef ENTRA_OK
    };
    static const struct sl_cloudtest_login l = {
        .login = login_case, .secrets = secrets, .n_secrets = N_SECRETS};
    sl_cloudtest_login_failures(SL_CLOUDTEST_COUNTERS, &l, cases, sizeof(cases) / sizeof(cases[0]),
                                sizeof(cases[0]));
}

/* The caller's own inputs are checked before anything is sent. */
static void test_login_inputs(void)
{
    static const struct {
        const char *tenant, *client, *sa_token, *msg;
    } cases[] = {
        {TENANT, "my-app", SA_TOKEN, "Azure login: client ID: \"my-app\" is not a GUID"},
        {TENANT, NULL, SA_TOKEN, "Azure login: client ID"},
        {"contoso.onmicrosoft.com", CLIENT, SA_TOKEN, "Azure login: tenant ID: "},
        {TENANT "/../common", CLIENT, SA_TOKEN, "Azure login: tenant ID: "},
        {TENANT, CLIENT, "", "the ServiceAccount token is not a JWT"},
        {TENANT, CLIENT, NULL, "the ServiceAccount token is not a JWT"},
        {TENANT, CLIENT, SA_TOKEN "&client_id=99999999-9999-9999-9999-999999999999",
         "the ServiceAccount token is not a JWT"},
        {TENANT, CLIENT, SA_TOKEN " " SA_TOKEN, "the ServiceAccount token is not a JWT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fakes fk = {0};
        struct sl_creds c;
        int64_t exp = -1;
        struct sl_err err = {0};
        int rc = login_with(&fk, NULL, "myregistry.azurecr.io", cases[i].tenant, cases[i].client,
                            cases[i].sa_token, &c, &exp, &err);
        if (rc != SL_EINVAL || !strstr(err.msg, cases[i].msg))
            fprintf(stderr, "case %zu: %d %s\n", i, rc, err.msg);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, cases[i].msg);
        CHECK(strstr(err.msg, "99999999-9999") == NULL);
        check_no_secret(err.msg);
        CHECK_INT_EQ(fk.entra.n + fk.acr.n, 0);
        CHECK_INT_EQ(exp, -1);
    }
    /* a token over 16 KiB */
    size_t n = (16 << 10) + 1;
    char *big = sl_xmalloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    struct fakes fk = {0};
    struct sl_creds c;
    int64_t exp = -1;
    struct sl_err err = {0};
    CHECK_INT_EQ(
        login_with(&fk, NULL, "myregistry.azurecr.io", TENANT, CLIENT, big, &c, &exp, &err),
        SL_EINVAL);
    CHECK_INT_EQ(fk.entra.n, 0);
    free(big);

    /* a host that did not come from sl_azure_acr_host_parse */
    struct sl_azure_acr_host host;
    memset(&host, 0, sizeof(host));
    snprintf(host.host, sizeof(host.host), "evil.example");
    struct sl_transport *t = sl_transport_new_custom(&fake_ops, &fk.entra);
    CHECK_INT_EQ(
        sl_azure_acr_login(&c, &exp, t, t, NULL, &host, TENANT, CLIENT, SA_TOKEN, NOW, &err),
        SL_EINVAL);
    CHECK_INT_EQ(
        sl_azure_acr_login(&c, &exp, t, t, NULL, NULL, TENANT, CLIENT, SA_TOKEN, NOW, &err),
        SL_EINVAL);
    CHECK_INT_EQ(fk.entra.n, 0);
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
    RUN(test_guid_check);
    RUN(test_token_success);
    RUN(test_token_errors);
    RUN(test_acr_parse);
    RUN(test_config_from_env);
    RUN(test_login_success);
    RUN(test_login_endpoints);
    RUN(test_login_failures);
    RUN(test_login_inputs);
    return CHECK_EXIT();
}
