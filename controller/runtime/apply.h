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

/* Who applies an object and how it proves that an existing object is its own. */
struct sl_apply_owner {
    const char *field_manager;    /* server-side apply field manager (at most 128 characters) */
    const json_t *labels;         /* object of label -> value: set on what is applied; an existing
                                     object is the owner's when it carries all of them */
    const char *adopt_annotation; /* an existing object that has this annotation ... */
    const char *adopt_value;      /* ... with this value is handed over (NULL: never) */
    const char *owner_desc;       /* "GitSource team/src", for messages */
    bool take_over;               /* the object is the owner's without either (a GitSource
                                     that applies itself) */
    /* Drift correction (as Flux does): fields that kubectl-style field managers (a manager name
     * starting with "kubectl": kubectl edit, patch, annotate, client-side and server-side apply;
     * "before-first-apply") set on an existing object of the owner are handed to
     * field_manager before applying, so the apply removes those that obj does not have and
     * resets the others to obj's values. */
    bool take_back_hand_edits;
    /* Filled (may be NULL) with the comma-separated names of the managers whose fields were
     * taken back ("" when none); bounded by hand_edits_cap. */
    char *hand_edits;
    size_t hand_edits_cap;
};

/* Applies obj (borrowed; apiVersion, kind, metadata.name[, namespace]) with owner's labels
 * added, with server-side apply under owner->field_manager, unless the live object already holds
 * every field, as sl_apply_if_changed does. An existing object is changed only when it carries
 * all of owner->labels, the adopt annotation or owner->take_over is set (then it is taken over
 * with force); otherwise
 * nothing is written and SL_EEXISTS is returned with err naming the object and how to hand it
 * over. A new object is applied without force, so one created meanwhile by someone else is not
 * taken over silently. With owner->take_back_hand_edits, hand edits of an owned object are
 * taken back (one JSON patch of metadata.managedFields, guarded by the resourceVersion read, then
 * the apply, even when the live object holds every field of obj). *written (may be NULL) is 1
 * when a PATCH was sent. Returns 0, SL_EEXISTS, or the API error (err set; SL_ECONFLICT when the
 * object changed between the read and the patch: the next pass tries again). */
int sl_apply_owned(int *written, const struct sl_kube_ops *kube, const struct sl_kube_resource *res,
                   const json_t *obj, const struct sl_apply_owner *owner, struct sl_err *err);

#endif
