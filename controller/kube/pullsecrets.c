/* Registry credentials from a ServiceAccount's imagePullSecrets (see pullsecrets.h). */
#include "kube/pullsecrets.h"

#include "kube/client.h"
#include "kube/secret.h"
#include "util/mem.h"

#include <stdio.h>
#include <string.h>

#define DOCKERCONFIG_KEY  ".dockerconfigjson"
#define DOCKERCONFIG_TYPE "kubernetes.io/dockerconfigjson"
/* a .dockerconfigjson larger than this (base64) is not a pull Secret */
#define DOCKERCONFIG_B64_MAX ((size_t)1 << 20)

static const char *entry_name(const json_t *sa, size_t i)
{
    const char *name = json_string_value(
        json_object_get(json_array_get(json_object_get(sa, "imagePullSecrets"), i), "name"));
    return name && *name ? name : NULL;
}

size_t sl_kube_pull_secret_names(const json_t *sa, const char **names, size_t cap)
{
    size_t n = json_array_size(json_object_get(sa, "imagePullSecrets")), out = 0;
    if (n > SL_KUBE_PULL_SECRETS_MAX)
        n = SL_KUBE_PULL_SECRETS_MAX;
    for (size_t i = 0; i < n && out < cap; i++)
        if (entry_name(sa, i))
            names[out++] = entry_name(sa, i);
    return out;
}

/* Searches Secret name (imagePullSecrets[i], called field in messages). Returns as
 * sl_kube_pull_secrets_find. */
static int search_secret(const char **reason, const struct sl_kube_pull_request *req,
                         const char *name, const char *field, struct sl_err *err)
{
    json_t *secret = NULL;
    char *text = NULL;
    size_t len = 0;
    struct sl_err local = {0};
    int rc = req->get_secret ? req->get_secret(req->ctx, &secret, name, field, &local)
                             : sl_kube_secret_get(&secret, req->kube, req->ns, name, field, &local);
    if (rc != 0) {
        *reason = rc == SL_ENOTFOUND ? "SecretNotFound" : "APIError";
        sl_err_set(err,
                   rc == SL_ENOTFOUND ? SL_ENOTFOUND
                   : rc == SL_EINVAL  ? SL_EFAIL
                                      : rc,
                   local.klass, "%s", local.msg);
        goto done;
    }
    *reason = "InvalidSecret";
    const char *type = json_string_value(json_object_get(secret, "type"));
    if (type && strcmp(type, DOCKERCONFIG_TYPE) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s: Secret \"%s\" is of type %.100s, not " DOCKERCONFIG_TYPE, field, name,
                        type);
        goto done;
    }
    const json_t *v = json_object_get(json_object_get(secret, "data"), DOCKERCONFIG_KEY);
    if (!json_is_string(v)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: Secret \"%s\" has no key %s", field,
                        name, DOCKERCONFIG_KEY);
        goto done;
    }
    unsigned char *buf = NULL;
    if (json_string_length(v) > DOCKERCONFIG_B64_MAX ||
        sl_kube_secret_decode(&buf, &len, json_string_value(v), json_string_length(v)) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s: Secret \"%s\" key %s: invalid base64 or too large", field, name,
                        DOCKERCONFIG_KEY);
        goto done;
    }
    text = (char *)buf;
    rc = req->match(req->ctx, text, len, &local);
    if (rc != 0 && rc != SL_ENOTFOUND)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: Secret \"%s\": %s", field, name,
                        local.msg);
done:
    if (text)
        sl_secure_free(text, len + 1);
    sl_kube_secret_decref(secret);
    return rc;
}

int sl_kube_pull_secrets_find(json_t **sa_out, const char **reason,
                              const struct sl_kube_pull_request *req, struct sl_err *err)
{
    struct sl_err local = {0};
    *sa_out = NULL;
    int rc = req->kube->get(req->kube->ctx, sa_out, &SL_RES_SERVICEACCOUNT, req->ns,
                            req->service_account, &local);
    if (rc == SL_ENOTFOUND) {
        *reason = "ServiceAccountNotFound";
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_KUBE,
                          "%s.serviceAccountName: ServiceAccount %s/%s not found", req->field,
                          req->ns, req->service_account);
    }
    if (rc != 0) {
        *reason = "APIError";
        return sl_err_set(err, rc == SL_EINVAL ? SL_EFAIL : rc, local.klass,
                          "%s.serviceAccountName: reading ServiceAccount %s/%s: %s", req->field,
                          req->ns, req->service_account, local.msg);
    }
    const json_t *pulls = json_object_get(*sa_out, "imagePullSecrets");
    size_t n = json_array_size(pulls);
    if (n > SL_KUBE_PULL_SECRETS_MAX)
        n = SL_KUBE_PULL_SECRETS_MAX;
    for (size_t i = 0; i < n; i++) {
        const char *name = entry_name(*sa_out, i);
        if (!name)
            continue;
        char field[320];
        snprintf(field, sizeof(field),
                 "%s.serviceAccountName: imagePullSecrets[%zu] of ServiceAccount %s/%s", req->field,
                 i, req->ns, req->service_account);
        rc = search_secret(reason, req, name, field, err);
        if (rc != SL_ENOTFOUND || strcmp(*reason, "SecretNotFound") == 0)
            return rc;
    }
    /* kubelet would pull anonymously here; an object that names where its credentials come
     * from does not silently go without them */
    *reason = "NoCredentials";
    return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                      "%s.serviceAccountName: no credentials for %s in imagePullSecrets of "
                      "ServiceAccount %s/%s%s",
                      req->field, req->registry, req->ns, req->service_account,
                      json_array_size(pulls) == 0 ? " (it lists none)" : "");
}
