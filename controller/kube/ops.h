/* The narrow interface reconcilers use to talk to the API server: a struct of function pointers
 * plus ctx, so unit tests can run reconcilers against an in-memory fake
 * (tests/unit/fake_kube.{c,h}) and the daemon against sl_kube_client. Semantics, ownership and
 * error codes are those of the matching sl_kube_* functions in kube/client.h. */
#ifndef SL_KUBE_OPS_H
#define SL_KUBE_OPS_H

#include "kube/client.h"

struct sl_kube_ops {
    void *ctx;
    int (*get)(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
               const char *name, struct sl_err *err);
    int (*list)(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                const struct sl_kube_list_opts *opts, struct sl_err *err);
    int (*create)(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                  json_t *obj, struct sl_err *err);
    int (*update)(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                  json_t *obj, struct sl_err *err);
    int (*update_status)(void *ctx, json_t **out, const struct sl_kube_resource *res,
                         const char *ns, json_t *obj, struct sl_err *err);
    int (*patch)(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                 const char *name, const char *body, const struct sl_kube_patch_opts *opts,
                 struct sl_err *err);
    int (*del)(void *ctx, const struct sl_kube_resource *res, const char *ns, const char *name,
               struct sl_err *err);
};

/* Fills ops with wrappers around a real client (c is borrowed and must outlive ops). */
void sl_kube_ops_from_client(struct sl_kube_ops *ops, struct sl_kube_client *c);

#endif
