/* Cloud registry credentials of ImageDelivery's `provider: aws`: the real login and the cache
 * (cloudcreds.h). */
#include "imagedelivery/cloudcreds.h"

#include "http/transport.h"
#include "util/mem.h"

#include <pthread.h>
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

void sl_imd_cloud_ops_real(struct sl_imd_cloud_ops *ops)
{
    *ops = (struct sl_imd_cloud_ops){.ctx = NULL,
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

struct sl_imd_cloud_cache {
    pthread_mutex_t lock;
    struct cloud_entry e[SL_IMD_CLOUD_CACHE_MAX];
    size_t n;
};

struct sl_imd_cloud_cache *sl_imd_cloud_cache_new(void)
{
    struct sl_imd_cloud_cache *c = sl_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void entry_clear(struct cloud_entry *e)
{
    free(e->key);
    sl_creds_free(&e->creds);
    memset(e, 0, sizeof(*e));
}

void sl_imd_cloud_cache_free(struct sl_imd_cloud_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_clear(&c->e[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct cloud_entry *find_locked(struct sl_imd_cloud_cache *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key, key) == 0)
            return &c->e[i];
    return NULL;
}

int sl_imd_cloud_cache_get(struct sl_imd_cloud_cache *c, struct sl_creds *out, const char *key,
                           int64_t now_unix)
{
    int rc = SL_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    const struct cloud_entry *e = find_locked(c, key);
    if (e && e->expires_unix - SL_IMD_CLOUD_RENEW_S > now_unix) {
        sl_creds_copy(out, &e->creds);
        rc = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void sl_imd_cloud_cache_put(struct sl_imd_cloud_cache *c, const char *key,
                            const struct sl_creds *creds, int64_t expires_unix)
{
    pthread_mutex_lock(&c->lock);
    struct cloud_entry *e = find_locked(c, key);
    if (!e && c->n < SL_IMD_CLOUD_CACHE_MAX)
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
