/* Object field helpers declared in kube/client.h. */
#include "kube/client.h"
#include "kube/internal.h"

#include <stdarg.h>
#include <stdio.h>

#include <string.h>

static const char *metadata_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

const char *sl_kube_obj_name(const json_t *obj)
{
    return metadata_str(obj, "name");
}

const char *sl_kube_obj_namespace(const json_t *obj)
{
    return metadata_str(obj, "namespace");
}

const char *sl_kube_obj_resource_version(const json_t *obj)
{
    return metadata_str(obj, "resourceVersion");
}

const char *sl_kube_obj_uid(const json_t *obj)
{
    return metadata_str(obj, "uid");
}

long long sl_kube_obj_generation(const json_t *obj)
{
    return (long long)json_integer_value(
        json_object_get(json_object_get(obj, "metadata"), "generation"));
}

json_t *sl_kube_json_path(const json_t *obj, const char *dotted_path)
{
    if (!obj || !dotted_path)
        return NULL;
    const json_t *cur = obj;
    const char *p = dotted_path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        /* json_object_getn needs jansson 2.14; keys here are short path segments */
        char key[256];
        if (n >= sizeof(key) || !json_is_object(cur))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p = dot ? dot + 1 : p + n;
    }
    return (json_t *)cur;
}

const char *sl_kube_json_path_str(const json_t *obj, const char *dotted_path)
{
    return json_string_value(sl_kube_json_path(obj, dotted_path));
}

int sl_kube_fail(struct sl_err *err, int code, enum sl_err_class klass, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_err_set(err, code, klass, "%s", msg);
    if (err)
        err->http_status = 0;
    return code;
}
