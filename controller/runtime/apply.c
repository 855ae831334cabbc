#include "runtime/apply.h"

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

/* Is a managedFields entry one of a person's hand edits (kubectl, or the entry the API server
 * makes for fields that predate server-side apply) on the object itself, not a subresource? */
static bool hand_edit_entry(const json_t *entry)
{
    const char *manager = json_string_value(json_object_get(entry, "manager"));
    const char *sub = json_string_value(json_object_get(entry, "subresource"));
    if (!manager || (sub && *sub) || !json_is_object(json_object_get(entry, "fieldsV1")))
        return false;
    return strncmp(manager, "kubectl", 7) == 0 || strcmp(manager, "before-first-apply") == 0;
}

/* Adds the field set `from` (FieldsV1: nested objects of "f:"/"k:"/"v:"/"i:" keys) into `into`. */
static void fields_merge(json_t *into, const json_t *from)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v)
    {
        json_t *have = json_object_get(into, k);
        if (json_is_object(have) && json_is_object(v))
            fields_merge(have, v);
        else if (!have)
            json_object_set_new(into, k, json_deep_copy(v));
    }
}

/* Hands the fields of live's hand-edit managers to field_manager's Apply entry. Sets *taken to
 * whether there was anything to take (names appended to names, bounded). Returns 0 or the API
 * error. */
static int take_back_hand_edits(bool *taken, const struct sl_kube_ops *kube,
                                const struct sl_kube_resource *res, const json_t *live,
                                const char *field_manager, char *names, size_t names_cap,
                                struct sl_err *err)
{
    const json_t *meta = json_object_get(live, "metadata");
    const json_t *entries = json_object_get(meta, "managedFields");
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    *taken = false;
    json_t *mine = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        const char *manager = json_string_value(json_object_get(e, "manager"));
        const char *op = json_string_value(json_object_get(e, "operation"));
        const char *sub = json_string_value(json_object_get(e, "subresource"));
        if (manager && op && strcmp(manager, field_manager) == 0 && strcmp(op, "Apply") == 0 &&
            !(sub && *sub) && json_is_object(json_object_get(e, "fieldsV1")))
            mine = e;
    }
    /* without an entry of our own there is nothing to hand the fields to: the apply that
     * follows creates it, and the next pass takes the edits back */
    if (!mine || !rv)
        return 0;
    json_t *kept = json_array();
    json_t *merged = json_deep_copy(mine);
    json_array_foreach(entries, i, e)
    {
        if (e == mine)
            continue;
        if (!hand_edit_entry(e)) {
            json_array_append(kept, e);
            continue;
        }
        fields_merge(json_object_get(merged, "fieldsV1"), json_object_get(e, "fieldsV1"));
        size_t len = strlen(names);
        const char *manager = json_string_value(json_object_get(e, "manager"));
        if (!strstr(names, manager) && len + strlen(manager) + 3 < names_cap)
            snprintf(names + len, names_cap - len, "%s%s", len ? ", " : "", manager);
        *taken = true;
    }
    int rc = 0;
    if (*taken) {
        json_array_append(kept, merged);
        json_t *ops = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:O}]", "op", "test", "path",
                                "/metadata/resourceVersion", "value", rv, "op", "replace", "path",
                                "/metadata/managedFields", "value", kept);
        char *body = json_dumps(ops, JSON_COMPACT);
        json_decref(ops);
        if (!body)
            abort(); /* json_dumps fails only when out of memory */
        struct sl_kube_patch_opts po = {.type = SL_PATCH_JSON};
        const json_t *lmeta = json_object_get(live, "metadata");
        rc = kube->patch(kube->ctx, NULL, res,
                         json_string_value(json_object_get(lmeta, "namespace")),
                         json_string_value(json_object_get(lmeta, "name")), body, &po, err);
        free(body);
        /* a failed "test" (the object changed since it was read) is a conflict: next pass */
        if (rc == SL_EINVAL || rc == SL_ECONFLICT)
            rc = SL_ECONFLICT;
    }
    json_decref(kept);
    json_decref(merged);
    return rc;
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
    bool taken = false;
    if (owner->hand_edits && owner->hand_edits_cap)
        owner->hand_edits[0] = '\0';
    if (live && owner->take_back_hand_edits) {
        char names[256] = "";
        rc = take_back_hand_edits(&taken, kube, res, live, owner->field_manager, names,
                                  sizeof(names), err);
        if (rc)
            goto done;
        if (taken && owner->hand_edits && owner->hand_edits_cap)
            snprintf(owner->hand_edits, owner->hand_edits_cap, "%s", names);
    }
    if (live && !taken && sl_apply_json_subset(desired, live))
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
