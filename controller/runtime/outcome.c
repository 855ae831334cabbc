#include "runtime/outcome.h"

#include "runtime/conditions.h"
#include "runtime/status.h"
#include "util/err.h"

#include <string.h>

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool sl_outcome_apply(json_t *status, const struct sl_outcome *o, long long generation)
{
    if (!json_is_object(status) || !o)
        return false;
    const char *ready = o->ready ? o->ready : "Unknown";
    json_t *old = sl_condition_get(status, "Ready");
    bool transition = !old || !str_eq(json_string_value(json_object_get(old, "status")), ready) ||
                      !str_eq(json_string_value(json_object_get(old, "reason")), o->reason);
    sl_condition_set(status, "Ready", ready, o->reason, o->message, generation, NULL);

    bool reconciling = false, stalled = false;
    if (!o->suspended) {
        switch (o->kind) {
        case SL_RESULT_REQUEUE:
        case SL_RESULT_WAITING:
        case SL_RESULT_TRANSIENT:
            reconciling = true;
            break;
        case SL_RESULT_STALLED:
            stalled = true;
            break;
        default:
            stalled = str_eq(ready, "False");
            break;
        }
    }
    if (reconciling)
        sl_condition_set(status, "Reconciling", "True",
                         o->kind == SL_RESULT_REQUEUE ? "Progressing" : "ProgressingWithRetry",
                         o->message, generation, NULL);
    else
        sl_condition_remove(status, "Reconciling");
    if (stalled)
        sl_condition_set(status, "Stalled", "True", o->reason, o->message, generation, NULL);
    else
        sl_condition_remove(status, "Stalled");
    json_object_set_new(status, "observedGeneration", json_integer(generation));
    return transition;
}

enum sl_result_kind sl_outcome_kind_for_read(int rc)
{
    if (rc == SL_ENOTFOUND)
        return SL_RESULT_WAITING;
    return rc == SL_EINVAL ? SL_RESULT_STALLED : SL_RESULT_TRANSIENT;
}

json_t *sl_outcome_status_new(const json_t *obj, long long generation)
{
    json_t *status = json_object();
    json_t *old_conditions = json_object_get(json_object_get(obj, "status"), "conditions");
    if (json_is_array(old_conditions))
        json_object_set_new(status, "conditions", json_deep_copy(old_conditions));
    json_object_set_new(status, "observedGeneration", json_integer(generation));
    return status;
}

int sl_outcome_write(const struct sl_runtime *rt, const struct sl_kube_resource *res,
                     const json_t *obj, json_t *status, const struct sl_outcome *o,
                     long long generation, struct sl_err *err)
{
    sl_outcome_apply(status, o, generation);
    int rc = sl_status_write(NULL, &rt->kube, res, obj, status, err);
    if (rc != 0 && rc != SL_ENOTFOUND) {
        const char *ns = sl_kube_obj_namespace(obj), *name = sl_kube_obj_name(obj);
        sl_err_prefix(err, "writing status of %s %s/%s", res->kind, ns ? ns : "", name ? name : "");
    }
    return rc;
}

bool sl_outcome_announce(const struct sl_runtime *rt, const struct sl_log_ctx *log,
                         const json_t *obj, const json_t *old_status, const struct sl_outcome *o,
                         sl_outcome_event_fn fn, void *ctx)
{
    const char *ready = o->ready ? o->ready : "Unknown";
    json_t *old = sl_condition_get(old_status, "Ready");
    if (old && str_eq(json_string_value(json_object_get(old, "status")), ready) &&
        str_eq(json_string_value(json_object_get(old, "reason")), o->reason))
        return false;
    const char *type = str_eq(ready, "False") ? "Warning" : "Normal", *reason = o->reason;
    bool record = fn ? fn(ctx, o, &type, &reason) : true;
    if (record && reason)
        sl_runtime_event(rt, obj, type, reason, o->message ? o->message : "");
    if (str_eq(ready, "False"))
        sl_log_warn(log, "%s: %s", o->reason ? o->reason : "", o->message ? o->message : "");
    return true;
}

json_t *sl_outcome_mark_progressing(const struct sl_kube_ops *kube,
                                    const struct sl_kube_resource *res, const json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    json_t *old_status = json_object_get(obj, "status");
    json_t *gen = json_object_get(meta, "generation");
    json_t *observed = json_object_get(old_status, "observedGeneration");
    json_t *cur_gen =
        json_object_get(sl_condition_get(old_status, "Reconciling"), "observedGeneration");
    json_t *body = NULL, *written = NULL, *out = NULL;
    struct sl_err err = {0};
    char msg[96];
    if (!kube || !kube->update_status || !res || !json_is_integer(gen) ||
        json_object_get(meta, "deletionTimestamp") ||
        json_is_true(json_object_get(json_object_get(obj, "spec"), "suspend")))
        goto done;
    /* the generation is observed, or already marked as in progress */
    if (json_is_integer(observed) && json_integer_value(observed) == json_integer_value(gen))
        goto done;
    if (sl_condition_is_true(old_status, "Reconciling") && json_is_integer(cur_gen) &&
        json_integer_value(cur_gen) == json_integer_value(gen))
        goto done;

    body = json_deep_copy(obj);
    json_object_del(json_object_get(body, "metadata"), "managedFields");
    json_t *status = json_object_get(body, "status");
    if (!json_is_object(status)) {
        status = json_object();
        json_object_set_new(body, "status", status);
    }
    snprintf(msg, sizeof(msg), "reconciling generation %lld", (long long)json_integer_value(gen));
    sl_condition_set(status, "Reconciling", "True", "Progressing", msg, json_integer_value(gen),
                     NULL);
    const char *ns = res->namespaced ? json_string_value(json_object_get(meta, "namespace")) : NULL;
    if (kube->update_status(kube->ctx, &written, res, ns, body, &err) == 0 &&
        json_is_object(written))
        out = json_incref(written);
done:
    json_decref(written);
    json_decref(body);
    return out ? out : json_incref((json_t *)obj);
}
