#include "oci/gcp.h"

#include "oci/cloudlogin.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The longest ServiceAccount token, federated and service account access token accepted. */
#define TOKEN_MAX          ((size_t)16 << 10)
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_STS        "https://sts.googleapis.com"
#define DEFAULT_IAM        "https://iamcredentials.googleapis.com"
/* STS gives at most an hour; a day is the most taken. */
#define EXPIRES_IN_MAX ((int64_t)86400)
#define AUDIENCE_MAX   512
/* "2026-12-07T00:19:36.123456789Z" and a little more. */
#define EXPIRE_TIME_MAX 40

#define SCOPE_CLOUD_PLATFORM "https://www.googleapis.com/auth/cloud-platform"
#define TOKEN_TYPE_ACCESS    "urn:ietf:params:oauth:token-type:access_token"

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Lowercase letters, digits and '-': the alphabet of Google's project IDs, service account
 * names, pools, providers, locations and clusters. */
static int is_name_char(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || c == '-';
}

/* The length of the run of name characters at s, stopping at n bytes. */
static size_t name_run(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_name_char((unsigned char)s[i]))
        i++;
    return i;
}

/* ---- registry host, service account, audience ---- */

int sl_gcp_registry_host_parse(struct sl_gcp_registry_host *out, const char *host,
                               struct sl_err *err)
{
    static const char *const gcr[] = {"gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io"};
    static const char ar_suffix[] = "-docker.pkg.dev";
    if (!host)
        goto bad;
    size_t n = strlen(host);
    int ok = 0;
    for (size_t i = 0; i < sizeof(gcr) / sizeof(gcr[0]) && !ok; i++)
        ok = strcmp(host, gcr[i]) == 0;
    size_t sl = sizeof(ar_suffix) - 1;
    if (!ok && n > sl && n < sizeof(out->host) && strcmp(host + n - sl, ar_suffix) == 0) {
        /* LOCATION: one DNS label, a letter first, no '-' last (europe-west1, us, asia-east2) */
        size_t loc = n - sl;
        ok = loc <= 63 && name_run(host, loc) == loc && host[0] >= 'a' && host[0] <= 'z' &&
             host[loc - 1] != '-';
    }
    if (ok) {
        struct sl_gcp_registry_host h;
        memset(&h, 0, sizeof(h));
        snprintf(h.host, sizeof(h.host), "%s", host);
        *out = h;
        return 0;
    }
bad:;
    char q[101];
    sl_cloudlogin_quote(q, sizeof(q), host ? host : "(none)", host ? strlen(host) : 6, 100);
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "%s is not a Google Artifact Registry or Container Registry host "
                      "(LOCATION-docker.pkg.dev, gcr.io)",
                      q);
}

/* Whether s (n bytes) is 6-30 name characters. */
static int valid_id(const char *s, size_t n)
{
    return n >= 6 && n <= 30 && name_run(s, n) == n;
}

int sl_gcp_service_account_check(const char *email, struct sl_err *err)
{
    static const char user_suffix[] = ".iam.gserviceaccount.com";
    static const char compute_suffix[] = "-compute@developer.gserviceaccount.com";
    size_t n = email ? strlen(email) : 0;
    const char *at = email ? strchr(email, '@') : NULL;
    int ok = 0;
    if (at && n <= 100) {
        size_t name_len = (size_t)(at - email);
        const char *domain = at + 1;
        size_t dlen = strlen(domain), us = sizeof(user_suffix) - 1;
        if (dlen > us && strcmp(domain + dlen - us, user_suffix) == 0)
            ok = valid_id(email, name_len) && valid_id(domain, dlen - us);
        size_t cs = sizeof(compute_suffix) - 1;
        if (!ok && n > cs && n - cs <= 20 && strcmp(email + n - cs, compute_suffix) == 0) {
            ok = 1;
            for (size_t i = 0; i < n - cs; i++)
                ok = ok && is_digit((unsigned char)email[i]);
        }
    }
    if (ok)
        return 0;
    char q[101];
    sl_cloudlogin_quote(q, sizeof(q), email ? email : "", n, 100);
    return sl_err_set(
        err, SL_EINVAL, SL_ERRC_INPUT,
        "\"%s\" is not a Google service account (NAME@PROJECT.iam.gserviceaccount.com "
        "or NUMBER-compute@developer.gserviceaccount.com)",
        q);
}

/* Consumes the literal lit at *p. */
static int eat(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* Consumes a run of min-max name characters at *p (a letter first when letter_first), stopping
 * at the next character that is none. */
static int eat_name(const char **p, size_t min, size_t max, int letter_first)
{
    size_t n = name_run(*p, max + 1);
    if (n < min || n > max || (letter_first && !((*p)[0] >= 'a' && (*p)[0] <= 'z')))
        return 0;
    *p += n;
    return 1;
}

static int eat_digits(const char **p, size_t min, size_t max)
{
    size_t n = 0;
    while (n <= max && is_digit((unsigned char)(*p)[n]))
        n++;
    if (n < min || n > max)
        return 0;
    *p += n;
    return 1;
}

int sl_gcp_token_audience(char *buf, size_t n, const char *sts_audience, struct sl_err *err)
{
    const char *a = sts_audience;
    size_t len = a ? strlen(a) : 0;
    const char *p = a;
    char out[AUDIENCE_MAX + 16];
    int ok = 0;
    if (len > 0 && len <= AUDIENCE_MAX) {
        if (eat(&p, "//iam.googleapis.com/projects/")) {
            ok = eat_digits(&p, 1, 20) && eat(&p, "/locations/global/workloadIdentityPools/") &&
                 eat_name(&p, 4, 32, 0) && eat(&p, "/providers/") && eat_name(&p, 4, 32, 0) &&
                 *p == '\0';
            if (ok)
                snprintf(out, sizeof(out), "https:%s", a);
        } else if (eat(&p, "identitynamespace:")) {
            const char *project = p;
            ok = eat_name(&p, 6, 30, 1);
            size_t project_len = (size_t)(p - project);
            ok = ok && eat(&p, ".svc.id.goog:https://container.googleapis.com/v1/projects/") &&
                 eat_name(&p, 6, 30, 1) && eat(&p, "/locations/") && eat_name(&p, 1, 63, 1) &&
                 eat(&p, "/clusters/") && eat_name(&p, 1, 40, 1) && *p == '\0';
            if (ok)
                snprintf(out, sizeof(out), "%.*s.svc.id.goog", (int)project_len, project);
        }
    }
    if (!ok) {
        char q[101];
        sl_cloudlogin_quote(q, sizeof(q), a ? a : "", len, 100);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "\"%s\" is not a workload identity provider "
                          "(//iam.googleapis.com/projects/NUMBER/locations/global/"
                          "workloadIdentityPools/POOL/providers/PROVIDER) or a GKE identity "
                          "namespace (identitynamespace:PROJECT.svc.id.goog:https://"
                          "container.googleapis.com/v1/projects/...)",
                          q);
    }
    if (strlen(out) >= n)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "the ServiceAccount token audience is longer than %zu bytes",
                          n ? n - 1 : 0);
    memcpy(buf, out, strlen(out) + 1);
    return 0;
}

/* ---- answers (JSON) ---- */

static int sts_error_code(const char *code)
{
    static const char *const auth[] = {"invalid_grant", "invalid_request", "unauthorized_client",
                                       "access_denied", "invalid_target"};
    return sl_cloudlogin_oauth_code(code, auth, sizeof(auth) / sizeof(auth[0]));
}

/* What STS's token answer is held to: expires_in a number (not a string), issued_token_type
 * an access token's. */
static const struct sl_cloudlogin_oauth_rules sts_rules = {
    .error_code = sts_error_code,
    .token_max = TOKEN_MAX,
    .expires_in_max = EXPIRES_IN_MAX,
    .expires_in_digits = 0,
    .issued_token_type = TOKEN_TYPE_ACCESS,
};

int sl_gcp_sts_parse(char **out_token, int64_t *expires_unix, const char *json, size_t len,
                     int64_t now_unix, struct sl_err *err)
{
    int rc = sl_cloudlogin_oauth_token_parse(out_token, expires_unix, json, len, now_unix,
                                             &sts_rules, err);
    if (rc != 0)
        sl_cloudlogin_name_service(err, "STS");
    return rc;
}

static int iam_error_code(const char *status)
{
    if (strcmp(status, "PERMISSION_DENIED") == 0 || strcmp(status, "UNAUTHENTICATED") == 0)
        return SL_EAUTH;
    if (strcmp(status, "UNAVAILABLE") == 0 || strcmp(status, "RESOURCE_EXHAUSTED") == 0)
        return SL_ERETRY;
    return SL_EINVAL;
}

/* expireTime: RFC 3339 in UTC ('Z'), a date and a time. Returns 0 with *out, or -1. */
static int expire_time_value(int64_t *out, json_t *v)
{
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < 20 || n > EXPIRE_TIME_MAX || strlen(s) != n || s[10] != 'T' || s[n - 1] != 'Z')
        return -1;
    time_t t;
    if (sl_time_parse_rfc3339(&t, s) != 0 || t <= 0)
        return -1;
    *out = (int64_t)t;
    return 0;
}

/* sl_gcp_generate_token_parse without the "IAM Credentials " prefix of messages. */
static int generate_token_parse(char **out_token, int64_t *expires_unix, const char *json,
                                size_t len, struct sl_err *err)
{
    int rc = SL_EINVAL;
    json_t *root = sl_cloudlogin_json_load_object(json, len, err);
    if (!root)
        goto done;
    json_t *e = json_object_get(root, "error");
    if (e) {
        rc = sl_cloudlogin_error_document(json_object_get(e, "status"),
                                          json_object_get(e, "message"), iam_error_code,
                                          "error document without a status", err);
        sl_cloudlogin_json_wipe(e);
        goto done;
    }
    json_t *token = sl_cloudlogin_json_token_get(root, "accessToken", TOKEN_MAX, err);
    json_t *exp = json_object_get(root, "expireTime");
    int64_t expires = 0;
    if (!token)
        goto done;
    if (!exp) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no expireTime");
        goto done;
    }
    if (expire_time_value(&expires, exp) != 0) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "answer's expireTime is not an RFC 3339 UTC time (2006-01-02T15:04:05Z)");
        goto done;
    }
    *out_token = sl_xstrndup(json_string_value(token), json_string_length(token));
    *expires_unix = expires;
    rc = 0;
done:
    sl_cloudlogin_json_free(root);
    return rc;
}

int sl_gcp_generate_token_parse(char **out_token, int64_t *expires_unix, const char *json,
                                size_t len, struct sl_err *err)
{
    int rc = generate_token_parse(out_token, expires_unix, json, len, err);
    if (rc != 0)
        sl_cloudlogin_name_service(err, "IAM Credentials");
    return rc;
}

/* ---- configuration ---- */

int sl_gcp_config_from_env(struct sl_gcp_config *cfg, struct sl_err *err)
{
    struct sl_gcp_config c;
    memset(&c, 0, sizeof(c));
    int rc = 0;
    const char *audience = sl_cloudlogin_env("GCP_WORKLOAD_IDENTITY_AUDIENCE");
    if (audience) {
        char token_audience[AUDIENCE_MAX + 16];
        rc = sl_gcp_token_audience(token_audience, sizeof(token_audience), audience, err);
        if (rc != 0) {
            sl_err_prefix(err, "GCP_WORKLOAD_IDENTITY_AUDIENCE");
            goto done;
        }
        c.audience = sl_xstrdup(audience);
    }
    rc = sl_cloudlogin_env_endpoint(&c.sts_endpoint, "GCP_STS_ENDPOINT", err);
    if (rc == 0)
        rc = sl_cloudlogin_env_endpoint(&c.iam_endpoint, "GCP_IAM_CREDENTIALS_ENDPOINT", err);
    if (rc == 0)
        rc = sl_cloudlogin_env_ca_bundle(&c.ca_pem, "GCP_CA_BUNDLE", err);
    if (rc != 0)
        goto done;
    *cfg = c;
    return 0;
done:
    sl_gcp_config_clear(&c);
    return rc;
}

void sl_gcp_config_clear(struct sl_gcp_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->audience);
    free(cfg->sts_endpoint);
    free(cfg->iam_endpoint);
    free(cfg->ca_pem);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the login ---- */

static int parse_iam(void *ctx, const char *json, size_t len, struct sl_err *err)
{
    struct sl_cloudlogin_token_answer *ta = ctx;
    sl_cloudlogin_token_answer_reset(ta);
    return generate_token_parse(&ta->token, &ta->expires_unix, json, len, err);
}

/* One POST of a JSON body (sl_cloudlogin_exchange), with authorization as a header when set. */
static int post_json(struct sl_transport *t, const struct sl_gcp_config *cfg, const char *where,
                     const char *url, const char *authorization, const char *body,
                     sl_cloudlogin_parse_fn parse, void *ctx, struct sl_err *err)
{
    const char *headers[3] = {"Content-Type: application/json", "Accept: application/json"};
    size_t n_headers = 2;
    if (authorization)
        headers[n_headers++] = authorization;
    int64_t timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    return sl_cloudlogin_exchange(t, where, url, headers, n_headers, body, timeout_ms,
                                  SL_GCP_ANSWER_MAX, parse, ctx, err);
}

/* The STS request body (holds the ServiceAccount token: caller frees securely), or NULL when
 * jansson cannot make it (out of memory; both strings are checked ASCII). */
static char *sts_body(const char *audience, const char *sa_token)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "audience", audience, "grantType",
                          "urn:ietf:params:oauth:grant-type:token-exchange", "requestedTokenType",
                          TOKEN_TYPE_ACCESS, "scope", SCOPE_CLOUD_PLATFORM, "subjectTokenType",
                          "urn:ietf:params:oauth:token-type:jwt", "subjectToken", sa_token);
    if (!o)
        return NULL;
    char *dumped = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *body = dumped ? sl_xstrdup(dumped) : NULL;
    if (dumped) {
        OPENSSL_cleanse(dumped, strlen(dumped));
        free(dumped);
    }
    json_t *subject = json_object_get(o, "subjectToken");
    OPENSSL_cleanse((char *)json_string_value(subject), json_string_length(subject));
    json_decref(o);
    return body;
}

/* email percent-encoded as a path segment: what a checked service account holds (letters,
 * digits, "-._@") as it is, anything else as %XX. Caller frees. */
static char *path_segment(const char *email)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(email);
    char *out = sl_xmalloc(3 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)email[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || strchr("-._~@", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

int sl_gcp_registry_login(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *t,
                          const struct sl_gcp_config *cfg, const struct sl_gcp_registry_host *host,
                          const char *google_sa, const char *sa_token, int64_t now_unix,
                          struct sl_err *err)
{
    struct sl_cloudlogin_endpoint sts = {0}, iam = {0};
    struct sl_gcp_registry_host h;
    struct sl_cloudlogin_token_answer federated = {.rules = &sts_rules}, impersonated = {0};
    char *url = NULL, *where = NULL, *body = NULL, *authorization = NULL, *segment = NULL;
    char token_audience[AUDIENCE_MAX + 16];
    int rc;
    if (!out || !expires_unix || !t || !host || !memchr(host->host, '\0', sizeof(host->host)) ||
        sl_gcp_registry_host_parse(&h, host->host, NULL) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Google login: no registry host");
        goto done;
    }
    if (!cfg || !cfg->audience) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "Google login: no workload identity audience "
                        "(GCP_WORKLOAD_IDENTITY_AUDIENCE)");
        goto done;
    }
    rc = sl_gcp_token_audience(token_audience, sizeof(token_audience), cfg->audience, err);
    if (rc != 0) {
        sl_err_prefix(err, "Google login: GCP_WORKLOAD_IDENTITY_AUDIENCE");
        goto done;
    }
    if (google_sa) {
        rc = sl_gcp_service_account_check(google_sa, err);
        if (rc != 0) {
            sl_err_prefix(err, "Google login: %s", SL_GCP_SERVICE_ACCOUNT_ANNOTATION);
            goto done;
        }
    }
    if (!sl_cloudlogin_jwt_valid(sa_token, TOKEN_MAX)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "Google login: the ServiceAccount token is not a JWT of at most %zu bytes",
                        TOKEN_MAX);
        goto done;
    }
    rc = sl_cloudlogin_endpoint_parse(&sts, cfg->sts_endpoint ? cfg->sts_endpoint : DEFAULT_STS,
                                      "GCP_STS_ENDPOINT", err);
    if (rc != 0)
        goto done;
    if (google_sa) {
        rc = sl_cloudlogin_endpoint_parse(&iam, cfg->iam_endpoint ? cfg->iam_endpoint : DEFAULT_IAM,
                                          "GCP_IAM_CREDENTIALS_ENDPOINT", err);
        if (rc != 0)
            goto done;
    }

    /* 1. STS: the ServiceAccount token for a federated access token; sts.url ends in one '/' */
    url = sl_xasprintf("%sv1/token", sts.url);
    where = sl_xasprintf("STS %s", url);
    body = sts_body(cfg->audience, sa_token);
    if (!body) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_JSON, "Google login: cannot make the STS request");
        goto done;
    }
    federated.now_unix = now_unix;
    rc = post_json(t, cfg, where, url, NULL, body, sl_cloudlogin_oauth_answer_parse, &federated,
                   err);
    if (rc != 0)
        goto done;

    /* 2. IAM Credentials: the federated token for the Google service account's */
    const struct sl_cloudlogin_token_answer *final = &federated;
    if (google_sa) {
        free(url);
        free(where);
        sl_secure_free_str(body);
        segment = path_segment(google_sa);
        url = sl_xasprintf("%sv1/projects/-/serviceAccounts/%s:generateAccessToken", iam.url,
                           segment);
        where = sl_xasprintf("IAM Credentials %s", url);
        body = sl_xstrdup("{\"scope\":[\"" SCOPE_CLOUD_PLATFORM "\"],\"lifetime\":\"3600s\"}");
        authorization = sl_xasprintf("Authorization: Bearer %s", federated.token);
        impersonated.now_unix = now_unix;
        rc = post_json(t, cfg, where, url, authorization, body, parse_iam, &impersonated, err);
        if (rc != 0)
            goto done;
        final = &impersonated;
    }

    memset(out, 0, sizeof(*out));
    out->username = sl_xstrdup(SL_GCP_REGISTRY_USER);
    out->password = sl_xstrdup(final->token);
    *expires_unix = final->expires_unix;
done:
    sl_secure_free_str(federated.token);
    sl_secure_free_str(impersonated.token);
    sl_secure_free_str(body);
    sl_secure_free_str(authorization);
    free(segment);
    free(url);
    free(where);
    sl_cloudlogin_endpoint_clear(&sts);
    sl_cloudlogin_endpoint_clear(&iam);
    return rc;
}
