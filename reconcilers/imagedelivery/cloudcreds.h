/* Cloud registry credentials of ImageDelivery's `provider: aws`, `azure` and `gcp` (see
 * oci/aws.h, oci/azure.h and oci/gcp.h for the exchanges themselves): the login operations the
 * reconciler calls (the real ones go to AWS STS and ECR, Entra ID and the registry, or Google's
 * STS and IAM Credentials; unit tests give fakes), and a cache of the credentials they got, per
 * provider, namespace, ServiceAccount, cloud identity and registry, used until SL_IMD_CLOUD_RENEW_S
 * before they expire, so a resync pass makes no cloud request. Thread-safe. */
#ifndef SL_IMAGEDELIVERY_CLOUDCREDS_H
#define SL_IMAGEDELIVERY_CLOUDCREDS_H

#include "oci/auth.h"
#include "kube/secret.h"
#include "oci/aws.h"
#include "oci/azure.h"
#include "oci/gcp.h"
#include "util/err.h"

#include <stdint.h>

/* credentials are renewed this long before they expire (a copy of a large image must not
 * outlive them) */
#define SL_IMD_CLOUD_RENEW_S (15 * 60)
/* entries kept (one per namespace, ServiceAccount, role and registry in use) */
#define SL_IMD_CLOUD_CACHE_MAX 1024

struct sl_imd_cloud_ops {
    void *ctx;
    /* As sl_aws_ecr_login (oci/aws.h), with the endpoints, CAs and transport the operation
     * keeps: *out is the caller's, *expires_unix when they stop working. */
    int (*aws_login)(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                     const struct sl_aws_ecr_host *host, const char *role_arn,
                     const char *session_name, const char *web_identity_token, struct sl_err *err);
    /* As sl_azure_acr_login (oci/azure.h): tenant_id NULL = the controller's AZURE_TENANT_ID;
     * the exchange with the registry uses registry_tls (the endpoint's certSecretRef: CAs and
     * client certificate; may be empty). */
    int (*azure_login)(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                       const struct sl_azure_acr_host *host, const char *tenant_id,
                       const char *client_id, const char *sa_token,
                       const struct sl_kube_tls_secret *registry_tls, struct sl_err *err);
    /* The audience of the ServiceAccount token provider gcp exchanges (sl_gcp_token_audience of
     * the controller's GCP_WORKLOAD_IDENTITY_AUDIENCE) into buf (n bytes); SL_EINVAL when the
     * controller has none. */
    int (*gcp_token_audience)(void *ctx, char *buf, size_t n, struct sl_err *err);
    /* As sl_gcp_registry_login (oci/gcp.h): google_sa NULL = the workload identity itself. */
    int (*gcp_login)(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                     const struct sl_gcp_registry_host *host, const char *google_sa,
                     const char *sa_token, struct sl_err *err);
};

/* The real operations: endpoints and CAs from the environment (sl_aws_config_from_env,
 * sl_azure_config_from_env, sl_gcp_config_from_env, each read once; a malformed variable fails
 * every login of that cloud with a message naming it), one shared libcurl transport per cloud. */
void sl_imd_cloud_ops_real(struct sl_imd_cloud_ops *ops);

struct sl_imd_cloud_cache;

struct sl_imd_cloud_cache *sl_imd_cloud_cache_new(void);
/* Wipes every credential; NULL is a no-op. */
void sl_imd_cloud_cache_free(struct sl_imd_cloud_cache *c);

/* 0 with *out (a copy; caller frees with sl_creds_free) when key has credentials that stay
 * valid for more than SL_IMD_CLOUD_RENEW_S after now_unix; SL_ENOTFOUND otherwise. */
int sl_imd_cloud_cache_get(struct sl_imd_cloud_cache *c, struct sl_creds *out, const char *key,
                           int64_t now_unix);

/* Keeps a copy of creds for key until expires_unix (replacing key's entry; when full, the entry
 * that expires first goes). */
void sl_imd_cloud_cache_put(struct sl_imd_cloud_cache *c, const char *key,
                            const struct sl_creds *creds, int64_t expires_unix);

#endif
