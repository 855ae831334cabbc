#include "runtime/conditions.h"

#include "util/timeutil.h"

#include <string.h>

static const char *str_field(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Sets o[k] to s when it differs; returns true when it changed. */
static bool set_str(json_t *o, const char *k, const char *s)
{
    const char *cur = str_field(o, k);
    if (cur && str_eq(cur, s))
        return false;
    json_object_set_new(o, k, json_string(s ? s : ""));
    return true;
}

json_t *sl_condition_get(const json_t *status, const char *type)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    if (!json_is_array(conds))
        return NULL;
    json_array_foreach(conds, i, c)
    {
        if (json_is_object(c) && str_eq(str_field(c, "type"), type))
            return c;
    }
    return NULL;
}

bool sl_condition_is_true(const json_t *status, const char *type)
{
    json_t *c = sl_condition_get(status, type);
    return c && str_eq(str_field(c, "status"), "True");
}

bool sl_condition_set(json_t *status, const char *type, const char *cond_status, const char *reason,
                      const char *message, long long observed_generation, const char *now)
{
    char stamp[40];
    if (!json_is_object(status) || !type)
        return false;
    if (!now) {
        sl_time_now_rfc3339(stamp, sizeof(stamp));
        now = stamp;
    }
    json_t *conds = json_object_get(status, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    json_t *c = sl_condition_get(status, type);
    if (!c) {
        /* field order as kube-apiserver prints metav1.Condition */
        c = json_object();
        json_object_set_new(c, "type", json_string(type));
        json_object_set_new(c, "status", json_string(cond_status ? cond_status : "Unknown"));
        if (observed_generation >= 0)
            json_object_set_new(c, "observedGeneration", json_integer(observed_generation));
        json_object_set_new(c, "lastTransitionTime", json_string(now));
        json_object_set_new(c, "reason", json_string(reason ? reason : ""));
        json_object_set_new(c, "message", json_string(message ? message : ""));
        json_array_append_new(conds, c);
        return true;
    }
    bool changed = false;
    if (!str_eq(str_field(c, "status"), cond_status ? cond_status : "Unknown")) {
        json_object_set_new(c, "status", json_string(cond_status ? cond_status : "Unknown"));
        json_object_set_new(c, "lastTransitionTime", json_string(now));
        changed = true;
    } else if (!str_field(c, "lastTransitionTime")) {
        json_object_set_new(c, "lastTransitionTime", json_string(now));
        changed = true;
    }
    changed |= set_str(c, "reason", reason);
    changed |= set_str(c, "message", message);
    if (observed_generation >= 0) {
        json_t *og = json_object_get(c, "observedGeneration");
        if (!json_is_integer(og) || json_integer_value(og) != observed_generation) {
            json_object_set_new(c, "observedGeneration", json_integer(observed_generation));
            changed = true;
        }
    }
    return changed;
}

bool sl_condition_remove(json_t *status, const char *type)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    if (!json_is_array(conds))
        return false;
    json_array_foreach(conds, i, c)
    {
        if (json_is_object(c) && str_eq(str_field(c, "type"), type)) {
            json_array_remove(conds, i);
            return true;
        }
    }
    return false;
}
