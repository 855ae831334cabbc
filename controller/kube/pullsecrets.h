/* Registry credentials from a ServiceAccount's imagePullSecrets, as kubelet uses them: the
 * kubernetes.io/dockerconfigjson Secrets the ServiceAccount lists, in order, the first with an
 * entry for the registry. One reading (and one set of messages and reasons) for every kind with
 * a serviceAccountName for a registry (ImageDelivery, ScanPolicy). The .dockerconfigjson text is
 * searched by the caller's function, because the format belongs to the registry layer. */
#ifndef SL_KUBE_PULLSECRETS_H
#define SL_KUBE_PULLSECRETS_H

#include "kube/ops.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

/* imagePullSecrets read of one ServiceAccount (kubelet reads all; a list this long is a
 * mistake, and each entry is one more read of the API server) */
#define SL_KUBE_PULL_SECRETS_MAX 16

/* Reads Secret name of the namespace for field (messages): returns as sl_kube_secret_get, *out
 * a reference the callee drops with sl_kube_secret_decref. Lets a caller use its own cache. */
typedef int (*sl_kube_secret_getter)(void *ctx, json_t **out, const char *name, const char *field,
                                     struct sl_err *err);

/* Looks for the registry in one .dockerconfigjson text (len bytes, NUL-terminated): 0 when it
 * has an entry (the function kept the credentials), SL_ENOTFOUND when not, another code with
 * err for a text that cannot be read. */
typedef int (*sl_kube_dockerconfig_match)(void *ctx, const char *json, size_t len,
                                          struct sl_err *err);

struct sl_kube_pull_request {
    const struct sl_kube_ops *kube;
    const char *ns;                   /* the object's namespace, where both are read */
    const char *service_account;      /* serviceAccountName */
    const char *field;                /* the spec path holding it, e.g. "spec.source" */
    const char *registry;             /* for messages: "no credentials for REGISTRY" */
    sl_kube_secret_getter get_secret; /* NULL: sl_kube_secret_get */
    sl_kube_dockerconfig_match match;
    void *ctx; /* for get_secret and match */
};

/* Finds credentials for req->registry in the imagePullSecrets of ServiceAccount
 * req->ns/req->service_account (at most SL_KUBE_PULL_SECRETS_MAX of them). Returns 0 once
 * req->match accepted one Secret's text. Otherwise *reason and err say why, for the object's
 * status: SL_ENOTFOUND with reason "ServiceAccountNotFound", "SecretNotFound" (naming the Secret
 * and imagePullSecrets[i] of the ServiceAccount) or "NoCredentials" ("FIELD.serviceAccountName:
 * no credentials for REGISTRY in imagePullSecrets of ServiceAccount NS/NAME"): wait and look
 * again, ServiceAccounts are not watched; SL_EINVAL with "InvalidSecret" (a Secret of another
 * type, without .dockerconfigjson, or unreadable): a spec or Secret change is needed; another
 * code with "APIError". Never what a Secret holds. *sa_out is the ServiceAccount when it was read
 * (whatever the result; NULL otherwise), for sl_kube_pull_secret_names; release with
 * json_decref. */
int sl_kube_pull_secrets_find(json_t **sa_out, const char **reason,
                              const struct sl_kube_pull_request *req, struct sl_err *err);

/* The names of the first (at most cap, at most SL_KUBE_PULL_SECRETS_MAX) imagePullSecrets of
 * ServiceAccount sa (may be NULL), borrowed from it: the Secrets whose changes concern the
 * object. Returns how many were stored in names. */
size_t sl_kube_pull_secret_names(const json_t *sa, const char **names, size_t cap);

#endif
