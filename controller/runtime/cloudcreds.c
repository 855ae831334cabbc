/* Cloud registry credentials of `provider: aws`, `azure` and `gcp`: the real logins, the cache,
 * the spec's checks and the load from a ServiceAccount (cloudcreds.h). */
#include "runtime/cloudcreds.h"

#include "http/transport.h"
#include "util/mem.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the real login ---- */

static pthread_once_t aws_once = PTHREAD_ONCE_INIT;
static struct sl_aws_config aws_cfg;
static struct sl_transport *aws_transport;
static struct sl_err aws_init_err;
static int aws_init_rc;

static void aws_init(void)
{
    aws_init_rc = sl_aws_config_from_env(&aws_cfg, &aws_init_err);
    if (aws_init_rc != 0)
        return;
    struct sl_transport_opts opts = {.ca_pem = aws_cfg.ca_pem, .share_connections = true};
    aws_transport = sl_transport_new(&opts);
    if (!aws_transport)
        aws_init_rc = sl_err_set(&aws_init_err, SL_EFAIL, SL_ERRC_HTTP,
                                 "cannot initialise the HTTP client for AWS");
}

static int real_aws_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                          const struct sl_aws_ecr_host *host, const char *role_arn,
                          const char *session_name, const char *web_identity_token,
                          struct sl_err *err)
{
    (void)ctx;
    pthread_once(&aws_once, aws_init);
    if (aws_init_rc != 0) {
        sl_err_set(err, aws_init_rc, aws_init_err.klass, "%s", aws_init_err.msg);
        return aws_init_rc;
    }
    return sl_aws_ecr_login(out, expires_unix, aws_transport, &aws_cfg, host, role_arn,
                            session_name, web_identity_token, (int64_t)time(NULL), err);
}

static pthread_once_t azure_once = PTHREAD_ONCE_INIT;
static struct sl_azure_config azure_cfg;
static struct sl_transport *azure_transport;
static struct sl_err azure_init_err;
static int azure_init_rc;

static void azure_init(void)
{
    azure_init_rc = sl_azure_config_from_env(&azure_cfg, &azure_init_err);
    if (azure_init_rc != 0)
        return;
    struct sl_transport_opts opts = {.ca_pem = azure_cfg.ca_pem, .share_connections = true};
    azure_transport = sl_transport_new(&opts);
    if (!azure_transport)
        azure_init_rc = sl_err_set(&azure_init_err, SL_EFAIL, SL_ERRC_HTTP,
                                   "cannot initialise the HTTP client for Entra ID");
}

static int real_azure_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                            const struct sl_azure_acr_host *host, const char *tenant_id,
                            const char *client_id, const char *sa_token,
                            const struct sl_kube_tls_secret *registry_tls, struct sl_err *err)
{
    (void)ctx;
    pthread_once(&azure_once, azure_init);
    if (azure_init_rc != 0) {
        sl_err_set(err, azure_init_rc, azure_init_err.klass, "%s", azure_init_err.msg);
        return azure_init_rc;
    }
    /* the registry's own TLS settings (certSecretRef), for this one exchange: a login happens
     * once in hours per ServiceAccount and registry */
    struct sl_transport_opts opts = {.ca_pem = registry_tls ? registry_tls->ca_pem : NULL,
                                     .client_cert_pem =
                                         registry_tls ? registry_tls->cert_pem : NULL,
                                     .client_key_pem = registry_tls ? registry_tls->key_pem : NULL};
    struct sl_transport *registry_t = sl_transport_new(&opts);
    if (!registry_t)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_HTTP,
                          "cannot initialise the HTTP client for the registry");
    int rc = sl_azure_acr_login(out, expires_unix, azure_transport, registry_t, &azure_cfg, host,
                                tenant_id, client_id, sa_token, (int64_t)time(NULL), err);
    sl_transport_free(registry_t);
    return rc;
}

static pthread_once_t gcp_once = PTHREAD_ONCE_INIT;
static struct sl_gcp_config gcp_cfg;
static struct sl_transport *gcp_transport;
static struct sl_err gcp_init_err;
static int gcp_init_rc;

static void gcp_init(void)
{
    gcp_init_rc = sl_gcp_config_from_env(&gcp_cfg, &gcp_init_err);
    if (gcp_init_rc != 0)
        return;
    struct sl_transport_opts opts = {.ca_pem = gcp_cfg.ca_pem, .share_connections = true};
    gcp_transport = sl_transport_new(&opts);
    if (!gcp_transport)
        gcp_init_rc = sl_err_set(&gcp_init_err, SL_EFAIL, SL_ERRC_HTTP,
                                 "cannot initialise the HTTP client for Google");
}

static int gcp_ready(struct sl_err *err)
{
    pthread_once(&gcp_once, gcp_init);
    if (gcp_init_rc != 0)
        sl_err_set(err, gcp_init_rc, gcp_init_err.klass, "%s", gcp_init_err.msg);
    return gcp_init_rc;
}

static int real_gcp_token_audience(void *ctx, char *buf, size_t n, struct sl_err *err)
{
    (void)ctx;
    if (gcp_ready(err) != 0)
        return gcp_init_rc;
    if (!gcp_cfg.audience)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "the controller has no workload identity audience "
                          "(GCP_WORKLOAD_IDENTITY_AUDIENCE)");
    return sl_gcp_token_audience(buf, n, gcp_cfg.audience, err);
}

static int real_gcp_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                          const struct sl_gcp_registry_host *host, const char *google_sa,
                          const char *sa_token, struct sl_err *err)
{
    (void)ctx;
    if (gcp_ready(err) != 0)
        return gcp_init_rc;
    return sl_gcp_registry_login(out, expires_unix, gcp_transport, &gcp_cfg, host, google_sa,
                                 sa_token, (int64_t)time(NULL), err);
}

void sl_cloud_ops_real(struct sl_cloud_ops *ops)
{
    *ops = (struct sl_cloud_ops){.ctx = NULL,
                                 .aws_login = real_aws_login,
                                 .azure_login = real_azure_login,
                                 .gcp_token_audience = real_gcp_token_audience,
                                 .gcp_login = real_gcp_login};
}

/* ---- the cache ---- */

struct cloud_entry {
    char *key;
    struct sl_creds creds;
    int64_t expires_unix;
};

struct sl_cloud_cache {
    pthread_mutex_t lock;
    struct cloud_entry e[SL_CLOUD_CACHE_MAX];
    size_t n;
};

struct sl_cloud_cache *sl_cloud_cache_new(void)
{
    struct sl_cloud_cache *c = sl_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void entry_clear(struct cloud_entry *e)
{
    free(e->key);
    sl_creds_free(&e->creds);
    memset(e, 0, sizeof(*e));
}

void sl_cloud_cache_free(struct sl_cloud_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_clear(&c->e[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct cloud_entry *find_locked(struct sl_cloud_cache *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key, key) == 0)
            return &c->e[i];
    return NULL;
}

int sl_cloud_cache_get(struct sl_cloud_cache *c, struct sl_creds *out, const char *key,
                       int64_t now_unix)
{
    int rc = SL_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    const struct cloud_entry *e = find_locked(c, key);
    if (e && e->expires_unix - SL_CLOUD_RENEW_S > now_unix) {
        sl_creds_copy(out, &e->creds);
        rc = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void sl_cloud_cache_put(struct sl_cloud_cache *c, const char *key, const struct sl_creds *creds,
                        int64_t expires_unix)
{
    pthread_mutex_lock(&c->lock);
    struct cloud_entry *e = find_locked(c, key);
    if (!e && c->n < SL_CLOUD_CACHE_MAX)
        e = &c->e[c->n++];
    if (!e) {
        e = &c->e[0];
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].expires_unix < e->expires_unix)
                e = &c->e[i];
    }
    entry_clear(e);
    e->key = sl_xstrdup(key);
    sl_creds_copy(&e->creds, creds);
    e->expires_unix = expires_unix;
    pthread_mutex_unlock(&c->lock);
}

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Drops the entries whose key starts with prefix and ends with suffix and that hold refused
 * (NULL: any). */
static void cache_forget(struct sl_cloud_cache *c, const char *prefix, const char *suffix,
                         const struct sl_creds *refused)
{
    size_t np = strlen(prefix), ns = strlen(suffix);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n;) {
        struct cloud_entry *e = &c->e[i];
        size_t nk = strlen(e->key);
        bool match = nk >= np + ns && strncmp(e->key, prefix, np) == 0 &&
                     strcmp(e->key + nk - ns, suffix) == 0 &&
                     (!refused || (str_same(e->creds.username, refused->username) &&
                                   str_same(e->creds.password, refused->password) &&
                                   str_same(e->creds.identity_token, refused->identity_token)));
        if (!match) {
            i++;
            continue;
        }
        entry_clear(e);
        /* the last entry takes the hole: the order of entries means nothing */
        if (i != c->n - 1) {
            *e = c->e[c->n - 1];
            memset(&c->e[c->n - 1], 0, sizeof(c->e[0]));
        }
        c->n--;
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- the spec's checks ---- */

static int fail_set(struct sl_cloud_fail *fail, enum sl_result_kind kind, const char *reason,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_set(struct sl_cloud_fail *fail, enum sl_result_kind kind, const char *reason,
                    const char *fmt, ...)
{
    fail->kind = kind;
    fail->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail->message, sizeof(fail->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* The registry host of provider p parsed from registry, into whichever of the three p uses. */
struct cloud_host {
    struct sl_aws_ecr_host ecr;
    struct sl_azure_acr_host acr;
    struct sl_gcp_registry_host gar;
};

static int host_parse(struct cloud_host *h, enum sl_cloud_provider p, const char *registry,
                      struct sl_err *err)
{
    if (p == SL_CLOUD_AWS)
        return sl_aws_ecr_host_parse(&h->ecr, registry, err);
    if (p == SL_CLOUD_AZURE)
        return sl_azure_acr_host_parse(&h->acr, registry, err);
    return sl_gcp_registry_host_parse(&h->gar, registry, err);
}

int sl_cloud_provider_parse(enum sl_cloud_provider *out, const char *provider, const char *registry,
                            const char *service_account, bool insecure, bool skip_tls_verify,
                            bool enabled, const char *field, struct sl_cloud_fail *fail)
{
    struct sl_err err = {0};
    struct cloud_host host;
    enum sl_cloud_provider p;
    *out = SL_CLOUD_GENERIC;
    if (!provider || strcmp(provider, "generic") == 0)
        return 0;
    if (strcmp(provider, "aws") == 0)
        p = SL_CLOUD_AWS;
    else if (strcmp(provider, "azure") == 0)
        p = SL_CLOUD_AZURE;
    else if (strcmp(provider, "gcp") == 0)
        p = SL_CLOUD_GCP;
    else
        return fail_set(fail, SL_RESULT_STALLED, "InvalidSpec",
                        "%s.provider: Unsupported value: \"%.40s\": supported values: "
                        "\"generic\", \"aws\", \"azure\", \"gcp\"",
                        field, provider);
    if (host_parse(&host, p, registry, &err) != 0)
        return fail_set(fail, SL_RESULT_STALLED, "InvalidSpec", "%s.provider: %s: %s", field,
                        provider, err.msg);
    if (!service_account)
        return fail_set(fail, SL_RESULT_STALLED, "InvalidSpec",
                        "%s: provider %s needs serviceAccountName (the ServiceAccount whose "
                        "identity is exchanged for registry credentials)",
                        field, provider);
    /* the schema's pattern does not hold for what a conversion annotation carries: the name
     * goes into the TokenRequest's path */
    if (!sl_kube_dns_name(service_account, 253, true))
        return fail_set(fail, SL_RESULT_STALLED, "InvalidSpec",
                        "%s.serviceAccountName: \"%.100s\" is not a ServiceAccount name "
                        "(lowercase letters, digits, '-' and '.')",
                        field, service_account);
    if (insecure || skip_tls_verify)
        return fail_set(fail, SL_RESULT_STALLED, "InvalidSpec",
                        "%s: provider %s sends credentials over verified TLS only (no insecure "
                        "or insecureSkipTLSVerify)",
                        field, provider);
    if (!enabled)
        return fail_set(fail, SL_RESULT_STALLED, "WorkloadIdentityDisabled",
                        "%s.provider: %s needs the controller's --workload-identity flag (the "
                        "administrator allows exchanging ServiceAccount tokens for cloud "
                        "credentials; docs/api.md, Cloud registries)",
                        field, provider);
    *out = p;
    return 0;
}

/* ---- the credentials ---- */

/* The AWS STS session name: who asked, as CloudTrail shows it ("sealift.NS.SA", cut to 64 of
 * STS's characters). */
static void aws_session_name(char *buf, size_t n, const char *ns, const char *sa)
{
    snprintf(buf, n, "sealift.%s.%s", ns, sa);
    if (strlen(buf) > 64)
        buf[64] = '\0';
}

/* A token of ServiceAccount req->service_account for audience (TokenRequest; valid for an
 * hour). 0 with *out (caller frees securely), or -1 with *fail. */
static int request_sa_token(const struct sl_cloud_request *req, char **out, const char *audience,
                            const char *field, struct sl_cloud_fail *fail)
{
    /* POST .../serviceaccounts/NAME/token: sl_cloud_provider_parse checked that the name is a
     * DNS subdomain, so it cannot leave its path segment */
    char *plural = sl_xasprintf("serviceaccounts/%s/token", req->service_account);
    const struct sl_kube_resource res = {"", "v1", plural, "TokenRequest", true};
    json_t *body =
        json_pack("{s:s, s:s, s:{s:[s], s:i}}", "apiVersion", "authentication.k8s.io/v1", "kind",
                  "TokenRequest", "spec", "audiences", audience, "expirationSeconds", 3600);
    json_t *resp = NULL;
    struct sl_err err = {0};
    int rc = req->kube->create(req->kube->ctx, &resp, &res, req->ns, body, &err);
    json_decref(body);
    free(plural);
    if (rc != 0)
        return fail_set(fail, rc == SL_ENOTFOUND ? SL_RESULT_WAITING : SL_RESULT_TRANSIENT,
                        rc == SL_ENOTFOUND ? "ServiceAccountNotFound" : "APIError",
                        "%s: requesting a token of ServiceAccount %s/%s: %s", field, req->ns,
                        req->service_account, err.msg);
    const char *token =
        json_string_value(json_object_get(json_object_get(resp, "status"), "token"));
    if (!token || !*token) {
        json_decref(resp);
        return fail_set(fail, SL_RESULT_TRANSIENT, "APIError",
                        "%s: the API server's TokenRequest answer for ServiceAccount %s/%s has "
                        "no token",
                        field, req->ns, req->service_account);
    }
    *out = sl_xstrdup(token);
    json_decref(resp);
    return 0;
}

/* The identity a ServiceAccount's annotations give for the provider: aws, the IAM role ARN;
 * azure, the Entra ID application's client ID and, optionally, its tenant (NULL: the
 * controller's AZURE_TENANT_ID); gcp, optionally, the Google service account to impersonate
 * (NULL: the workload identity itself). Pointers into sa. 0, or -1 with *fail (waiting:
 * ServiceAccounts are not watched, a fixed one is read at the next look). */
static int cloud_identity(const struct sl_cloud_request *req, const json_t *sa, const char *field,
                          const char **id, const char **tenant, struct sl_cloud_fail *fail)
{
    const json_t *ann = json_object_get(json_object_get(sa, "metadata"), "annotations");
    enum sl_cloud_provider p = req->provider;
    const char *name = p == SL_CLOUD_AWS     ? SL_AWS_ROLE_ANNOTATION
                       : p == SL_CLOUD_AZURE ? SL_AZURE_CLIENT_ID_ANNOTATION
                                             : SL_GCP_SERVICE_ACCOUNT_ANNOTATION;
    const char *what = p == SL_CLOUD_AWS ? "the IAM role whose ECR credentials it gets"
                                         : "the Entra ID application whose ACR credentials it gets";
    struct sl_err err = {0};
    *id = json_string_value(json_object_get(ann, name));
    *tenant = NULL;
    if (!*id && p == SL_CLOUD_GCP)
        return 0;
    if (!*id)
        return fail_set(fail, SL_RESULT_WAITING, "InvalidServiceAccount",
                        "%s: ServiceAccount %s/%s has no annotation %s (%s)", field, req->ns,
                        req->service_account, name, what);
    int crc = p == SL_CLOUD_AWS     ? sl_aws_role_arn_check(*id, &err)
              : p == SL_CLOUD_AZURE ? sl_azure_guid_check(*id, &err)
                                    : sl_gcp_service_account_check(*id, &err);
    if (crc == 0 && p == SL_CLOUD_AZURE) {
        name = SL_AZURE_TENANT_ID_ANNOTATION;
        *tenant = json_string_value(json_object_get(ann, name));
        if (*tenant)
            crc = sl_azure_guid_check(*tenant, &err);
    }
    if (crc != 0)
        return fail_set(fail, SL_RESULT_WAITING, "InvalidServiceAccount",
                        "%s: ServiceAccount %s/%s: annotation %s: %s", field, req->ns,
                        req->service_account, name, err.msg);
    return 0;
}

/* The provider's login with the ServiceAccount token (struct sl_cloud_ops), into *out. */
static int cloud_login(const struct sl_cloud_request *req, struct sl_creds *out,
                       const struct cloud_host *host, const char *id, const char *tenant,
                       const char *token, int64_t *expires, struct sl_err *err)
{
    const struct sl_cloud_ops *c = req->ops;
    if (req->provider == SL_CLOUD_AWS) {
        char session[80];
        aws_session_name(session, sizeof(session), req->ns, req->service_account);
        return c->aws_login(c->ctx, out, expires, &host->ecr, id, session, token, err);
    }
    if (req->provider == SL_CLOUD_AZURE)
        return c->azure_login(c->ctx, out, expires, &host->acr, tenant, id, token,
                              req->registry_tls, err);
    return c->gcp_login(c->ctx, out, expires, &host->gar, id, token, err);
}

static const char *const provider_names[] = {"", "aws", "azure", "gcp"};

void sl_cloud_creds_forget(const struct sl_cloud_request *req, const struct sl_creds *refused)
{
    if (!req->cache || req->provider == SL_CLOUD_GENERIC)
        return;
    /* the key (sl_cloud_creds_load): provider, namespace, ServiceAccount, identity, tenant,
     * registry, one a line; none of them holds a newline (names, checked identities, a host),
     * so the prefix and the suffix each match their own fields only */
    char *prefix =
        sl_xasprintf("%s\n%s\n%s\n", provider_names[req->provider], req->ns, req->service_account);
    char *suffix = sl_xasprintf("\n%s", req->registry);
    cache_forget(req->cache, prefix, suffix, refused);
    free(prefix);
    free(suffix);
}

int sl_cloud_creds_load(struct sl_creds *out, bool *cached, const struct sl_cloud_request *req,
                        struct sl_cloud_fail *fail)
{
    static const struct sl_kube_tls_secret no_tls;
    struct sl_cloud_request r = *req;
    struct sl_err err = {0};
    struct cloud_host host;
    json_t *sa = NULL;
    char *token = NULL;
    char *key = NULL;
    int64_t expires = 0;
    int rc = -1;
    const char *id = NULL, *tenant = NULL;
    static const char *const clouds[] = {"", "AWS", "Azure", "Google"};
    char audience[600];
    char field[96];
    if (!r.registry_tls)
        r.registry_tls = &no_tls;
    snprintf(field, sizeof(field), "%s.serviceAccountName", r.field);
    if (r.provider == SL_CLOUD_GENERIC || host_parse(&host, r.provider, r.registry, &err) != 0)
        return fail_set(fail, SL_RESULT_STALLED, "InvalidSpec", "%s.provider: %s", r.field,
                        r.provider == SL_CLOUD_GENERIC ? "not a cloud provider" : err.msg);
    int grc = r.kube->get(r.kube->ctx, &sa, &SL_RES_SERVICEACCOUNT, r.ns, r.service_account, &err);
    if (grc == SL_ENOTFOUND) {
        fail_set(fail, SL_RESULT_WAITING, "ServiceAccountNotFound",
                 "%s: ServiceAccount %s/%s not found", field, r.ns, r.service_account);
        goto done;
    }
    if (grc != 0) {
        fail_set(fail, SL_RESULT_TRANSIENT, "APIError", "%s: reading ServiceAccount %s/%s: %s",
                 field, r.ns, r.service_account, err.msg);
        goto done;
    }
    if (cloud_identity(&r, sa, field, &id, &tenant, fail) != 0)
        goto done;
    key = sl_xasprintf("%s\n%s\n%s\n%s\n%s\n%s", provider_names[r.provider], r.ns,
                       r.service_account, id ? id : "", tenant ? tenant : "", r.registry);
    if (sl_cloud_cache_get(r.cache, out, key, r.now_unix) == 0) {
        if (cached)
            *cached = true;
        rc = 0;
        goto done;
    }
    int lrc = 0;
    if (r.provider == SL_CLOUD_AWS)
        snprintf(audience, sizeof(audience), "%s", SL_AWS_TOKEN_AUDIENCE);
    else if (r.provider == SL_CLOUD_AZURE)
        snprintf(audience, sizeof(audience), "%s", SL_AZURE_TOKEN_AUDIENCE);
    else /* the cluster's workload identity pool, from the controller's settings */
        lrc = r.ops->gcp_token_audience(r.ops->ctx, audience, sizeof(audience), &err);
    if (lrc == 0) {
        if (request_sa_token(&r, &token, audience, field, fail) != 0)
            goto done;
        lrc = cloud_login(&r, out, &host, id, tenant, token, &expires, &err);
    }
    if (lrc != 0) {
        /* a refusal needs a change in the cloud's IAM (not watched): look again later; anything
         * else is retried with backoff */
        sl_creds_free(out);
        fail_set(fail,
                 lrc == SL_EAUTH || lrc == SL_EINVAL ? SL_RESULT_WAITING : SL_RESULT_TRANSIENT,
                 "CloudAuthFailed", "%s: %s login as %s%s for ServiceAccount %s/%s: %s", r.field,
                 clouds[r.provider], r.provider == SL_CLOUD_AZURE ? "client " : "",
                 id ? id : "the workload identity", r.ns, r.service_account, err.msg);
        goto done;
    }
    sl_cloud_cache_put(r.cache, key, out, expires);
    if (cached)
        *cached = false;
    rc = 0;
done:
    sl_secure_free_str(token);
    free(key);
    json_decref(sa);
    return rc;
}
