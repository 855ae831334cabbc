#include "runtime/status.h"

#include "util/err.h"

#include <string.h>

#define STATUS_WRITE_ATTEMPTS 5

static const char *meta_str(const json_t *obj, const char *k)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), k));
}

/* A copy of obj carrying status as its status, ready for PUT .../status. */
static json_t *with_status(const json_t *obj, json_t *status)
{
    json_t *body = json_deep_copy(obj);
    json_t *meta = json_object_get(body, "metadata");
    /* managedFields is server-owned bookkeeping; do not send it back */
    if (json_is_object(meta))
        json_object_del(meta, "managedFields");
    json_object_set(body, "status", status);
    return body;
}

int sl_status_write(json_t **out, const struct sl_kube_ops *kube,
                    const struct sl_kube_resource *res, const json_t *obj, json_t *new_status,
                    struct sl_err *err)
{
    json_t *desired = NULL, *fresh = NULL, *written = NULL;
    int rc = 0;
    const char *name = meta_str(obj, "name");
    const char *ns = res->namespaced ? meta_str(obj, "namespace") : NULL;
    const json_t *current = obj;
    if (!json_is_object(obj) || !name || !json_is_object(new_status)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL,
                        "status write: object without metadata.name or status not an object");
        goto done;
    }
    desired = json_deep_copy(new_status);
    if (!json_object_get(desired, "observedGeneration")) {
        json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
        if (json_is_integer(gen))
            json_object_set(desired, "observedGeneration", gen);
    }
    for (int attempt = 0; attempt < STATUS_WRITE_ATTEMPTS; attempt++) {
        json_t *cur_status = json_object_get(current, "status");
        if (cur_status && json_equal(cur_status, desired)) {
            /* steady state: nothing to write */
            written = json_incref((json_t *)current);
            rc = 0;
            goto done;
        }
        json_t *body = with_status(current, desired);
        json_decref(written);
        written = NULL;
        rc = kube->update_status(kube->ctx, &written, res, ns, body, err);
        json_decref(body);
        if (rc != SL_ECONFLICT)
            goto done;
        /* someone else wrote the object: re-read it and try again with our status */
        json_decref(fresh);
        fresh = NULL;
        rc = kube->get(kube->ctx, &fresh, res, ns, name, err);
        if (rc != 0)
            goto done;
        current = fresh;
        rc = SL_ECONFLICT;
    }
    if (rc == SL_ECONFLICT)
        sl_err_prefix(err, "status of %s/%s still conflicting after %d attempts", ns ? ns : "",
                      name, STATUS_WRITE_ATTEMPTS);
done:
    if (rc == 0 && out)
        *out = json_incref(written);
    json_decref(written);
    json_decref(fresh);
    json_decref(desired);
    return rc;
}
