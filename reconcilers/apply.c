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
