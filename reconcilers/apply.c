#include "apply.h"

#include <stdlib.h>
#include <string.h>

bool sl_apply_json_subset(const json_t *desired, const json_t *live)
{
    if (!live)
        return false;
    if (json_is_object(desired)) {
        if (!json_is_object(live))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)desired, k, v)
        {
            if (!sl_apply_json_subset(v, json_object_get(live, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(desired)) {
        if (!json_is_array(live) || json_array_size(live) != json_array_size(desired))
            return false;
        for (size_t i = 0; i < json_array_size(desired); i++)
            if (!sl_apply_json_subset(json_array_get(desired, i), json_array_get(live, i)))
                return false;
        return true;
    }
    if (json_is_number(desired) && json_is_number(live))
        return json_number_value(desired) == json_number_value(live);
    return json_equal(desired, live);
}

int sl_apply_if_changed(int *written, const struct sl_kube_ops *kube,
                        const struct sl_kube_resource *res, const json_t *obj,
                        const char *field_manager, struct sl_err *err)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (written)
        *written = 0;
    if (!name)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "metadata.name: Required value");
    json_t *live = NULL;
    int rc = kube->get(kube->ctx, &live, res, ns, name, err);
    if (rc && rc != SL_ENOTFOUND)
        return rc;
    bool same = live && sl_apply_json_subset(obj, live);
    json_decref(live);
    if (same)
        return 0;
    char *body = json_dumps(obj, JSON_COMPACT);
    struct sl_kube_patch_opts po = {
        .type = SL_PATCH_APPLY, .field_manager = field_manager, .force = true};
    rc = kube->patch(kube->ctx, NULL, res, ns, name, body, &po, err);
    free(body);
    if (!rc && written)
        *written = 1;
    return rc;
}

/* Does live carry every label of owner->labels, or the adopt annotation? */
static bool owned_by(const json_t *live, const struct sl_apply_owner *owner)
{
    const json_t *meta = json_object_get(live, "metadata");
    const json_t *labels = json_object_get(meta, "labels");
    bool all = json_object_size(owner->labels) > 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)owner->labels, k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            all = false;
    }
    if (all)
        return true;
    const char *adopt = owner->adopt_annotation
                            ? json_string_value(json_object_get(
                                  json_object_get(meta, "annotations"), owner->adopt_annotation))
                            : NULL;
    return adopt && owner->adopt_value && strcmp(adopt, owner->adopt_value) == 0;
}

int sl_apply_owned(int *written, const struct sl_kube_ops *kube, const struct sl_kube_resource *res,
                   const json_t *obj, const struct sl_apply_owner *owner, struct sl_err *err)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    json_t *live = NULL, *desired = NULL;
    char *body = NULL;
    if (written)
        *written = 0;
    if (!name)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "metadata.name: Required value");
    int rc = kube->get(kube->ctx, &live, res, ns, name, err);
    if (rc && rc != SL_ENOTFOUND)
        goto done;
    rc = 0;
    if (live && !owner->take_over && !owned_by(live, owner)) {
        rc = sl_err_set(err, SL_EEXISTS, SL_ERRC_KUBE,
                        "%s %s%s%s exists and was not created by %s: not changed (to hand it "
                        "over, annotate it %s=%s)",
                        kind ? kind : "object", ns ? ns : "", ns ? "/" : "", name,
                        owner->owner_desc ? owner->owner_desc : owner->field_manager,
                        owner->adopt_annotation ? owner->adopt_annotation : "",
                        owner->adopt_value ? owner->adopt_value : "");
        goto done;
    }
    desired = json_deep_copy(obj);
    json_t *dmeta = json_object_get(desired, "metadata");
    json_t *labels = json_object_get(dmeta, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(dmeta, "labels", labels);
    }
    json_object_update(labels, (json_t *)owner->labels);
    if (live && sl_apply_json_subset(desired, live))
        goto done;
    body = json_dumps(desired, JSON_COMPACT);
    if (!body)
        abort(); /* json_dumps fails only when out of memory */
    struct sl_kube_patch_opts po = {
        .type = SL_PATCH_APPLY, .field_manager = owner->field_manager, .force = live != NULL};
    rc = kube->patch(kube->ctx, NULL, res, ns, name, body, &po, err);
    if (!rc && written)
        *written = 1;
done:
    json_decref(live);
    json_decref(desired);
    free(body);
    return rc;
}
