#include "oci/azure.h"

#include "oci/cloudlogin.h"
#include "util/buf.h"
#include "util/mem.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest ServiceAccount token, Entra ID access token and ACR refresh token accepted. */
#define TOKEN_MAX          ((size_t)16 << 10)
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_AUTHORITY  "https://login.microsoftonline.com/"
/* An ACR refresh token lives 3 hours: credentials are renewed before. */
#define REFRESH_TOKEN_LIFE_S ((int64_t)3 * 3600)
/* The longest expires_in taken (a year); more is not an answer of Entra ID. */
#define EXPIRES_IN_MAX ((int64_t)366 * 86400)

#define ENTRA_SCOPE          "https%3A%2F%2Fmanagement.azure.com%2F.default"
#define ENTRA_ASSERTION_TYPE "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ---- registry host and IDs ---- */

int sl_azure_acr_host_parse(struct sl_azure_acr_host *out, const char *host, struct sl_err *err)
{
    static const char *const suffixes[] = {".azurecr.io", ".azurecr.cn", ".azurecr.us"};
    size_t n = 0;
    if (!host)
        goto bad;
    while ((host[n] >= 'a' && host[n] <= 'z') || is_digit((unsigned char)host[n]))
        n++;
    if (n < 5 || n > 50)
        goto bad;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(host + n, suffixes[i]) == 0) {
            struct sl_azure_acr_host h;
            memset(&h, 0, sizeof(h));
            snprintf(h.host, sizeof(h.host), "%s", host);
            *out = h;
            return 0;
        }
    }
bad:;
    char q[101];
    sl_cloudlogin_quote(q, sizeof(q), host ? host : "(none)", host ? strlen(host) : 6, 100);
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "%s is not an Azure Container Registry host (NAME.azurecr.io)", q);
}

int sl_azure_guid_check(const char *s, struct sl_err *err)
{
    size_t n = s ? strlen(s) : 0;
    int ok = n == 36;
    for (size_t i = 0; ok && i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = s[i] == '-';
        else
            ok = is_hex((unsigned char)s[i]);
    }
    if (ok)
        return 0;
    char q[101];
    sl_cloudlogin_quote(q, sizeof(q), s ? s : "", n, 100);
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "\"%s\" is not a GUID (8-4-4-4-12 hexadecimal digits)", q);
}

/* ---- answers (JSON) ---- */

static int entra_error_code(const char *code)
{
    static const char *const auth[] = {"invalid_client", "unauthorized_client", "invalid_grant",
                                       "invalid_request"};
    return sl_cloudlogin_oauth_code(code, auth, sizeof(auth) / sizeof(auth[0]));
}

/* What Entra ID's token answer is held to: expires_in may be a string of digits. */
static const struct sl_cloudlogin_oauth_rules entra_rules = {
    .error_code = entra_error_code,
    .token_max = TOKEN_MAX,
    .expires_in_max = EXPIRES_IN_MAX,
    .expires_in_digits = 1,
};

int sl_azure_token_parse(char **out_token, int64_t *expires_unix, const char *json, size_t len,
                         int64_t now_unix, struct sl_err *err)
{
    int rc = sl_cloudlogin_oauth_token_parse(out_token, expires_unix, json, len, now_unix,
                                             &entra_rules, err);
    if (rc != 0)
        sl_cloudlogin_name_service(err, "Entra ID");
    return rc;
}

static int acr_error_code(const char *code)
{
    if (strcasecmp(code, "UNAUTHORIZED") == 0 || strcasecmp(code, "DENIED") == 0)
        return SL_EAUTH;
    return SL_EINVAL;
}

/* sl_azure_acr_exchange_parse without the "ACR " prefix of messages. */
static int acr_exchange_parse(char **out_token, const char *json, size_t len, struct sl_err *err)
{
    int rc = SL_EINVAL;
    json_t *root = sl_cloudlogin_json_load_object(json, len, err);
    if (!root)
        goto done;
    json_t *errors = json_object_get(root, "errors");
    if (errors) {
        json_t *first = json_is_array(errors) ? json_array_get(errors, 0) : NULL;
        rc = sl_cloudlogin_error_document(json_object_get(first, "code"),
                                          json_object_get(first, "message"), acr_error_code,
                                          "error document without a code", err);
        goto done;
    }
    if (json_object_get(root, "error")) {
        rc = sl_cloudlogin_oauth_error(root, acr_error_code, err);
        goto done;
    }
    json_t *token = sl_cloudlogin_json_token_get(root, "refresh_token", TOKEN_MAX, err);
    if (!token)
        goto done;
    *out_token = sl_xstrndup(json_string_value(token), json_string_length(token));
    rc = 0;
done:
    sl_cloudlogin_json_free(root);
    return rc;
}

int sl_azure_acr_exchange_parse(char **out_token, const char *json, size_t len, struct sl_err *err)
{
    int rc = acr_exchange_parse(out_token, json, len, err);
    if (rc != 0)
        sl_cloudlogin_name_service(err, "ACR");
    return rc;
}

/* ---- configuration ---- */

int sl_azure_config_from_env(struct sl_azure_config *cfg, struct sl_err *err)
{
    struct sl_azure_config c;
    memset(&c, 0, sizeof(c));
    int rc = 0;
    if ((rc = sl_cloudlogin_env_endpoint(&c.authority_host, "AZURE_AUTHORITY_HOST", err)) != 0)
        goto done;
    const char *tenant = sl_cloudlogin_env("AZURE_TENANT_ID");
    if (tenant) {
        rc = sl_azure_guid_check(tenant, err);
        if (rc != 0) {
            sl_err_prefix(err, "AZURE_TENANT_ID");
            goto done;
        }
        c.tenant_id = sl_xstrdup(tenant);
    }
    if ((rc = sl_cloudlogin_env_ca_bundle(&c.ca_pem, "AZURE_CA_BUNDLE", err)) != 0)
        goto done;
    *cfg = c;
    return 0;
done:
    sl_azure_config_clear(&c);
    return rc;
}

void sl_azure_config_clear(struct sl_azure_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->authority_host);
    free(cfg->tenant_id);
    free(cfg->ca_pem);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the login ---- */

/* One POST of a form (sl_cloudlogin_exchange). */
static int post_form(struct sl_transport *t, const struct sl_azure_config *cfg, const char *where,
                     const char *url, const char *form, sl_cloudlogin_parse_fn parse, void *ctx,
                     struct sl_err *err)
{
    static const char *const headers[] = {
        "Content-Type: application/x-www-form-urlencoded",
        "Accept: application/json",
    };
    int64_t timeout_ms = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    return sl_cloudlogin_exchange(t, where, url, headers, 2, form, timeout_ms, SL_AZURE_ANSWER_MAX,
                                  parse, ctx, err);
}

static int parse_acr(void *ctx, const char *json, size_t len, struct sl_err *err)
{
    struct sl_cloudlogin_token_answer *ta = ctx;
    sl_cloudlogin_token_answer_reset(ta);
    return acr_exchange_parse(&ta->token, json, len, err);
}

int sl_azure_acr_login(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *entra_t,
                       struct sl_transport *registry_t, const struct sl_azure_config *cfg,
                       const struct sl_azure_acr_host *host, const char *tenant_id,
                       const char *client_id, const char *sa_token, int64_t now_unix,
                       struct sl_err *err)
{
    struct sl_cloudlogin_endpoint authority = {0};
    struct sl_azure_acr_host h;
    struct sl_cloudlogin_token_answer aad = {.rules = &entra_rules}, acr = {0};
    char *entra_url = NULL, *where = NULL, *form = NULL, *q = NULL;
    int rc;
    if (!out || !expires_unix || !entra_t || !registry_t || !host ||
        !memchr(host->host, '\0', sizeof(host->host)) ||
        sl_azure_acr_host_parse(&h, host->host, NULL) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Azure login: no registry host");
        goto done;
    }
    rc = sl_azure_guid_check(client_id, err);
    if (rc != 0) {
        sl_err_prefix(err, "Azure login: client ID");
        goto done;
    }
    const char *tenant = tenant_id && *tenant_id                    ? tenant_id
                         : cfg && cfg->tenant_id && *cfg->tenant_id ? cfg->tenant_id
                                                                    : NULL;
    if (!tenant) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "Azure login: no tenant (neither the ServiceAccount's annotation "
                        "%s nor AZURE_TENANT_ID)",
                        SL_AZURE_TENANT_ID_ANNOTATION);
        goto done;
    }
    rc = sl_azure_guid_check(tenant, err);
    if (rc != 0) {
        sl_err_prefix(err, "Azure login: tenant ID");
        goto done;
    }
    if (!sl_cloudlogin_jwt_valid(sa_token, TOKEN_MAX)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "Azure login: the ServiceAccount token is not a JWT of at most %zu bytes",
                        TOKEN_MAX);
        goto done;
    }
    rc = sl_cloudlogin_endpoint_parse(
        &authority, cfg && cfg->authority_host ? cfg->authority_host : DEFAULT_AUTHORITY,
        "AZURE_AUTHORITY_HOST", err);
    if (rc != 0)
        goto done;

    /* 1. Entra ID: the ServiceAccount token as the client assertion; authority.url ends in one
     * '/' whatever AZURE_AUTHORITY_HOST ends with */
    entra_url = sl_xasprintf("%s%s/oauth2/v2.0/token", authority.url, tenant);
    where = sl_xasprintf("Entra ID %s", entra_url);
    q = sl_http_escape(client_id);
    char *assertion_q = sl_http_escape(sa_token);
    form = sl_xasprintf("client_id=%s&scope=%s&grant_type=client_credentials"
                        "&client_assertion_type=%s&client_assertion=%s",
                        q, ENTRA_SCOPE, ENTRA_ASSERTION_TYPE, assertion_q);
    sl_secure_free_str(assertion_q);
    aad.now_unix = now_unix;
    rc = post_form(entra_t, cfg, where, entra_url, form, sl_cloudlogin_oauth_answer_parse, &aad,
                   err);
    if (rc != 0)
        goto done;

    /* 2. the registry's exchange, over the registry's own transport */
    free(entra_url);
    free(where);
    free(q);
    sl_secure_free_str(form);
    entra_url = sl_xasprintf("https://%s/oauth2/exchange", h.host);
    where = sl_xasprintf("ACR %s", entra_url);
    q = sl_http_escape(aad.token);
    form = sl_xasprintf("grant_type=access_token&service=%s&tenant=%s&access_token=%s", h.host,
                        tenant, q);
    sl_secure_free_str(q);
    q = NULL;
    rc = post_form(registry_t, cfg, where, entra_url, form, parse_acr, &acr, err);
    if (rc != 0)
        goto done;

    memset(out, 0, sizeof(*out));
    out->username = sl_xstrdup(SL_AZURE_ACR_USER);
    out->password = acr.token;
    acr.token = NULL;
    /* the refresh token ends 3 hours after it was made, the access token may end before */
    int64_t cap =
        now_unix > INT64_MAX - REFRESH_TOKEN_LIFE_S ? INT64_MAX : now_unix + REFRESH_TOKEN_LIFE_S;
    *expires_unix = aad.expires_unix < cap ? aad.expires_unix : cap;
done:
    sl_secure_free_str(aad.token);
    sl_secure_free_str(acr.token);
    sl_secure_free_str(form);
    free(q);
    free(entra_url);
    free(where);
    sl_cloudlogin_endpoint_clear(&authority);
    return rc;
}
