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
    /* Optional (NULL = impersonation not available): fills *out with ops whose every request is
     * made as user/groups (sl_kube_client_impersonate), leaving these ops unchanged. Release
     * *out with sl_kube_ops_release. */
    int (*impersonate)(void *ctx, struct sl_kube_ops *out, const char *user,
                       const char *const *groups, size_t n_groups, struct sl_err *err);
    /* Frees what impersonate made for these ops (called by sl_kube_ops_release); may be NULL. */
    void (*release)(void *ctx);
};

/* Whether s is a Kubernetes name of at most max characters: lowercase letters, digits and '-'
 * (with dots, also '.': a DNS-1123 subdomain, else a DNS-1123 label), neither of the latter
 * first or last. Object names: max 253 with dots; namespaces and label values: 63. */
bool sl_kube_dns_name(const char *s, size_t max, bool dots);

/* Fills ops with wrappers around a real client (c is borrowed and must outlive ops). */
void sl_kube_ops_from_client(struct sl_kube_ops *ops, struct sl_kube_client *c);

/* *out = ops acting as Kubernetes ServiceAccount ns/name: `Impersonate-User:
 * system:serviceaccount:NS:NAME` and no group header, so the API server gives it the groups
 * `system:serviceaccounts` and `system:serviceaccounts:NS` itself and the caller needs
 * `impersonate` on that ServiceAccount only (not on groups). base is
 * borrowed and must outlive *out. Returns 0, SL_EINVAL (ns or name empty or invalid) or
 * SL_EFAIL (base cannot impersonate). Release *out with sl_kube_ops_release. */
int sl_kube_ops_as_service_account(struct sl_kube_ops *out, const struct sl_kube_ops *base,
                                   const char *ns, const char *name, struct sl_err *err);
/* Frees what sl_kube_ops_as_service_account made; ops is then unusable. */
void sl_kube_ops_release(struct sl_kube_ops *ops);

#endif
