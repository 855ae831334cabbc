/* Server-side apply shared by the reconcilers that write whole objects (GitSource applies git
 * content; DeployPolicy applies generated admission objects). */
#ifndef SL_RECONCILERS_APPLY_H
#define SL_RECONCILERS_APPLY_H

#include "kube/ops.h"

#include <jansson.h>
#include <stdbool.h>

/* Does live hold every field of desired with the same value? Objects are compared key by key
 * (live may have more), arrays element by element and must have the same length. */
bool sl_apply_json_subset(const json_t *desired, const json_t *live);

/* Applies obj (borrowed; apiVersion, kind, metadata.name[, namespace]) to res with server-side
 * apply (field manager, force) unless the live object already holds every field of obj, so an
 * unchanged object costs one GET and no write. *written (may be NULL) is set to 1 when a PATCH
 * was sent. Returns 0 or the API error (err set). */
int sl_apply_if_changed(int *written, const struct sl_kube_ops *kube,
                        const struct sl_kube_resource *res, const json_t *obj,
                        const char *field_manager, struct sl_err *err);

#endif
