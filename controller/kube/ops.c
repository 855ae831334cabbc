/* struct sl_kube_ops backed by a real sl_kube_client. */
#include "kube/ops.h"

#include "kube/internal.h"
#include "util/mem.h"

#include <stdio.h>
#include <string.h>

static int ops_get(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                   const char *name, struct sl_err *err)
{
    return sl_kube_get(out, ctx, res, ns, name, err);
}

static int ops_list(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                    const struct sl_kube_list_opts *opts, struct sl_err *err)
{
    return sl_kube_list(out, ctx, res, ns, opts, err);
}

static int ops_create(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                      json_t *obj, struct sl_err *err)
{
    return sl_kube_create(out, ctx, res, ns, obj, err);
}

static int ops_update(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                      json_t *obj, struct sl_err *err)
{
    return sl_kube_update(out, ctx, res, ns, obj, err);
}

static int ops_update_status(void *ctx, json_t **out, const struct sl_kube_resource *res,
                             const char *ns, json_t *obj, struct sl_err *err)
{
    return sl_kube_update_status(out, ctx, res, ns, obj, err);
}

static int ops_patch(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                     const char *name, const char *body, const struct sl_kube_patch_opts *opts,
                     struct sl_err *err)
{
    return sl_kube_patch(out, ctx, res, ns, name, body, opts, err);
}

static int ops_del(void *ctx, const struct sl_kube_resource *res, const char *ns, const char *name,
                   struct sl_err *err)
{
    return sl_kube_delete(ctx, res, ns, name, err);
}

static int ops_impersonate(void *ctx, struct sl_kube_ops *out, const char *user,
                           const char *const *groups, size_t n_groups, struct sl_err *err);

static void ops_release(void *ctx)
{
    sl_kube_client_free(ctx);
}

void sl_kube_ops_from_client(struct sl_kube_ops *ops, struct sl_kube_client *c)
{
    memset(ops, 0, sizeof(*ops));
    ops->ctx = c;
    ops->get = ops_get;
    ops->list = ops_list;
    ops->create = ops_create;
    ops->update = ops_update;
    ops->update_status = ops_update_status;
    ops->patch = ops_patch;
    ops->del = ops_del;
    ops->impersonate = ops_impersonate;
}

static int ops_impersonate(void *ctx, struct sl_kube_ops *out, const char *user,
                           const char *const *groups, size_t n_groups, struct sl_err *err)
{
    struct sl_kube_client *derived = NULL;
    int rc = sl_kube_client_impersonate(&derived, ctx, user, groups, n_groups, err);
    if (rc != 0)
        return rc;
    sl_kube_ops_from_client(out, derived);
    out->impersonate = NULL; /* a derived handle does not derive again */
    out->release = ops_release;
    return 0;
}

bool sl_kube_dns_name(const char *s, size_t max, bool dots)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && !(dots && c == '.')) || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

int sl_kube_ops_as_service_account(struct sl_kube_ops *out, const struct sl_kube_ops *base,
                                   const char *ns, const char *name, struct sl_err *err)
{
    if (!sl_kube_dns_name(ns, 63, false) || !sl_kube_dns_name(name, 63, false))
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                            "ServiceAccount name must be a DNS label (lowercase letters, digits "
                            "and '-', at most 63)");
    if (!base->impersonate)
        return sl_kube_fail(err, SL_EFAIL, SL_ERRC_KUBE,
                            "this API client cannot act as ServiceAccount %s/%s", ns, name);
    /* no Impersonate-Group: for a ServiceAccount user the API server adds the ServiceAccount
     * groups itself, while naming them would need `impersonate` on groups, a right that lets
     * the controller act as any group (system:masters included) */
    char user[160];
    snprintf(user, sizeof(user), "system:serviceaccount:%s:%s", ns, name);
    return base->impersonate(base->ctx, out, user, NULL, 0, err);
}

void sl_kube_ops_release(struct sl_kube_ops *ops)
{
    if (ops && ops->release)
        ops->release(ops->ctx);
    if (ops)
        memset(ops, 0, sizeof(*ops));
}
