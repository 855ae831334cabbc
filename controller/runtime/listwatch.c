/* The default struct sl_list_watcher: list and watch through a real kube client. */
#include "runtime/informer.h"

static int lw_list(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                   const struct sl_kube_list_opts *opts, struct sl_err *err)
{
    return sl_kube_list(out, ctx, res, ns, opts, err);
}

static int lw_watch(void *ctx, const struct sl_kube_resource *res, const char *ns,
                    const struct sl_kube_watch_opts *opts, sl_kube_watch_fn fn, void *fn_ctx,
                    struct sl_err *err)
{
    return sl_kube_watch(ctx, res, ns, opts, fn, fn_ctx, err);
}

void sl_list_watcher_from_client(struct sl_list_watcher *lw, struct sl_kube_client *c)
{
    lw->ctx = c;
    lw->list = lw_list;
    lw->watch = lw_watch;
}
