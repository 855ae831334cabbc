#include "recon_fixture.h"

#include "runtime/conditions.h"

#include <stdio.h>
#include <string.h>

void sl_test_event_log(void *ctx, const json_t *obj, const char *type, const char *reason,
                       const char *message)
{
    (void)obj;
    json_array_append_new(
        ctx, json_pack("{s:s, s:s, s:s}", "type", type, "reason", reason, "message", message));
}

static bool event_matches(const json_t *ev, const char *type, const char *reason)
{
    return (!type || strcmp(json_string_value(json_object_get(ev, "type")), type) == 0) &&
           strcmp(json_string_value(json_object_get(ev, "reason")), reason) == 0;
}

bool sl_test_has_event(const json_t *events, const char *type, const char *reason)
{
    for (size_t i = 0; i < json_array_size(events); i++)
        if (event_matches(json_array_get(events, i), type, reason))
            return true;
    return false;
}

int sl_test_count_events(const json_t *events, const char *reason)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(events); i++)
        if (event_matches(json_array_get(events, i), NULL, reason))
            n++;
    return n;
}

int sl_test_put_service_account(struct sl_fake_kube *fk, const char *ns, const char *name,
                                const char *const *annotations)
{
    json_t *sa = json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", ns);
    json_t *ann = json_object();
    for (size_t i = 0; annotations && annotations[i]; i += 2)
        if (annotations[i + 1])
            json_object_set_new(ann, annotations[i], json_string(annotations[i + 1]));
    if (json_object_size(ann) > 0)
        json_object_set(json_object_get(sa, "metadata"), "annotations", ann);
    json_decref(ann);
    int rc = sl_fake_kube_put(fk, &SL_RES_SERVICEACCOUNT, sa);
    json_decref(sa);
    return rc;
}

const char *sl_test_condition_field(const json_t *status, const char *type, const char *field)
{
    return json_string_value(json_object_get(sl_condition_get(status, type), field));
}

int sl_test_reconcile(struct sl_reconciler *r, struct sl_runtime *rt, struct sl_fake_kube *fk,
                      const struct sl_kube_resource *res, const char *kind, const char *ns,
                      const char *name, struct sl_reconcile_result *out)
{
    json_t *stored = sl_fake_kube_find(fk, res, ns, name);
    json_t *obj = stored ? json_deep_copy(stored) : NULL; /* the informer's copy */
    struct sl_reconcile_request req = {
        .ns = ns,
        .name = name,
        .reconcile_id = "test",
        .obj = obj,
        .log = {.kind = kind, .ns = ns, .name = name, .reconcile_id = "test"},
    };
    struct sl_err err = {0};
    memset(out, 0, sizeof(*out));
    int rc = r->reconcile(r->self, rt, &req, out, &err);
    if (rc != 0)
        fprintf(stderr, "  reconcile: %d %s\n", rc, err.msg);
    json_decref(obj);
    return rc;
}
