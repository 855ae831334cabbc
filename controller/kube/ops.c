/* struct sl_kube_ops backed by a real sl_kube_client. */
#include "kube/ops.h"

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
}
