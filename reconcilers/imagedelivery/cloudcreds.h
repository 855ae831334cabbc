/* Cloud registry credentials of ImageDelivery's `provider: aws` (see oci/aws.h for the
 * exchange itself): the login operation the reconciler calls (the real one goes to AWS STS and
 * ECR; unit tests give a fake), and a cache of the credentials it got, per namespace,
 * ServiceAccount, IAM role and registry, used until SL_IMD_CLOUD_RENEW_S before they expire, so
 * a resync pass makes no cloud request. Thread-safe. */
#ifndef SL_IMAGEDELIVERY_CLOUDCREDS_H
#define SL_IMAGEDELIVERY_CLOUDCREDS_H

#include "oci/auth.h"
#include "oci/aws.h"
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
};

/* The real operations: AWS endpoints and CAs from the environment (sl_aws_config_from_env,
 * read once; a malformed variable fails every login with a message naming it), one shared
 * libcurl transport. */
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
