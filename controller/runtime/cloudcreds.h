/* Cloud registry credentials of `provider: aws`, `azure` and `gcp` (ImageDelivery's endpoints,
 * ScanPolicy's database and VEX images; see oci/aws.h, oci/azure.h and oci/gcp.h for the
 * exchanges themselves): the checks of the spec, the ServiceAccount's identity, the login
 * operations the reconcilers call (the real ones go to AWS STS and ECR, Entra ID and the registry,
 * or Google's STS and IAM Credentials; unit tests give fakes), and a cache of the credentials they
 * got, per provider, namespace, ServiceAccount, cloud identity and registry, used until
 * SL_CLOUD_RENEW_S before they expire, so a resync pass makes no cloud request. Thread-safe. */
#ifndef SL_RUNTIME_CLOUDCREDS_H
#define SL_RUNTIME_CLOUDCREDS_H

#include "oci/auth.h"
#include "kube/secret.h"
#include "oci/aws.h"
#include "oci/azure.h"
#include "oci/gcp.h"
#include "kube/ops.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <stdbool.h>

#include <stdint.h>

/* credentials are renewed this long before they expire (a copy of a large image must not
 * outlive them) */
#define SL_CLOUD_RENEW_S (15 * 60)
/* entries kept (one per namespace, ServiceAccount, role and registry in use) */
#define SL_CLOUD_CACHE_MAX 1024

struct sl_cloud_ops {
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
void sl_cloud_ops_real(struct sl_cloud_ops *ops);

struct sl_cloud_cache;

struct sl_cloud_cache *sl_cloud_cache_new(void);
/* Wipes every credential; NULL is a no-op. */
void sl_cloud_cache_free(struct sl_cloud_cache *c);

/* 0 with *out (a copy; caller frees with sl_creds_free) when key has credentials that stay
 * valid for more than SL_CLOUD_RENEW_S after now_unix; SL_ENOTFOUND otherwise. */
int sl_cloud_cache_get(struct sl_cloud_cache *c, struct sl_creds *out, const char *key,
                       int64_t now_unix);

/* Keeps a copy of creds for key until expires_unix (replacing key's entry; when full, the entry
 * that expires first goes). */
void sl_cloud_cache_put(struct sl_cloud_cache *c, const char *key, const struct sl_creds *creds,
                        int64_t expires_unix);

enum sl_cloud_provider { SL_CLOUD_GENERIC, SL_CLOUD_AWS, SL_CLOUD_AZURE, SL_CLOUD_GCP };

/* Why a check or a load failed, for the reconciler's outcome: the result kind, the Ready reason
 * (a static string: InvalidSpec, WorkloadIdentityDisabled, ServiceAccountNotFound,
 * InvalidServiceAccount, CloudAuthFailed or APIError) and the message (no secret in it). */
struct sl_cloud_fail {
    enum sl_result_kind kind;
    const char *reason;
    char message[2048];
};

/* provider (NULL = generic) of an endpoint at field ("spec.source", "spec.database", ...) whose
 * image is on registry: *out, 0 for generic or a usable cloud provider; -1 with *fail when the
 * value is unknown, registry is not one of that cloud's registry hosts, service_account is
 * missing or not a ServiceAccount name, insecure or skip_tls_verify is set, or enabled (the
 * controller's --workload-identity) is false. The API server's rules say the same for v1beta1
 * writes; these checks also hold for what reaches the controller another way (a v1alpha1 write
 * whose conversion annotation carries the field, an older schema): credentials of a cloud
 * identity go to that cloud's registry hosts only, over verified TLS, and only when the
 * administrator turned the feature on. */
int sl_cloud_provider_parse(enum sl_cloud_provider *out, const char *provider, const char *registry,
                            const char *service_account, bool insecure, bool skip_tls_verify,
                            bool enabled, const char *field, struct sl_cloud_fail *fail);

struct sl_cloud_request {
    const struct sl_kube_ops *kube;
    const char *ns;                  /* the object's namespace */
    const char *service_account;     /* checked by sl_cloud_provider_parse */
    const char *field;               /* "spec.source", "spec.vex[2]", ... */
    const char *registry;            /* the image's registry host (checked likewise) */
    enum sl_cloud_provider provider; /* not generic */
    /* the registry's certSecretRef (CAs, client certificate), for Azure's exchange with the
     * registry itself; NULL or empty = none */
    const struct sl_kube_tls_secret *registry_tls;
    const struct sl_cloud_ops *ops;
    struct sl_cloud_cache *cache;
    int64_t now_unix;
};

/* Registry credentials from the cloud identity of ServiceAccount req->service_account (its
 * annotations), through a TokenRequest of that ServiceAccount and the cloud's exchange, or from
 * req->cache of earlier logins (then nothing is sent). 0 with *out (caller frees with
 * sl_creds_free) and, when cached is not NULL, *cached: true when they came from the cache
 * (a registry refusing them is worth one fresh login, sl_cloud_creds_forget), false after a
 * login; or -1 with *fail. */
int sl_cloud_creds_load(struct sl_creds *out, bool *cached, const struct sl_cloud_request *req,
                        struct sl_cloud_fail *fail);

/* The registry of req refused credentials: drops the cache entries of req's provider,
 * namespace, ServiceAccount and registry (whatever cloud identity) that hold refused, wiping
 * them, so the next sl_cloud_creds_load logs in again instead of offering them until they near
 * expiry (a token revoked, a role's policy changed, a registry re-keyed). An entry holding other
 * credentials stays: another worker already logged in again. refused NULL: drops them whatever
 * they hold. Only req's kube-independent fields are read (provider, ns, service_account,
 * registry, cache); thread-safe. */
void sl_cloud_creds_forget(const struct sl_cloud_request *req, const struct sl_creds *refused);

#endif
