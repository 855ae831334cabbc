#include "gitsource/manifests.h"
#include "util/mem.h"
#include "util/yamljson.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *kind;
    bool namespaced;
} kinds[] = {
    {"ImageDelivery", true}, {"ScanPolicy", true},    {"SigningKey", true},
    {"GitSource", true},     {"DeployPolicy", false},
};

bool sl_manifests_known_kind(const char *kind, bool *namespaced)
{
    for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kinds[i].kind) == 0) {
            if (namespaced)
                *namespaced = kinds[i].namespaced;
            return true;
        }
    }
    return false;
}

static void add_error(json_t *errors, const char *path, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(json_t *errors, const char *path, size_t line, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *full =
        line ? sl_xasprintf("%s:%zu: %s", path, line, msg) : sl_xasprintf("%s: %s", path, msg);
    json_array_append_new(errors, json_string(full));
    free(full);
}

/* Kubernetes object names: DNS-1123 subdomain (lowercase alphanumerics, '-', '.'), <= 253. */
static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

static void load_doc(struct sl_manifest_set *out, json_t *seen, const char *path, size_t line,
                     json_t *doc, const char *source_ns, const char *controller_ns)
{
    if (!json_is_object(doc)) {
        add_error(out->errors, path, line, "document is not a mapping");
        return;
    }
    const char *api = json_string_value(json_object_get(doc, "apiVersion"));
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    if (!api || !kind) {
        add_error(out->errors, path, line, "apiVersion and kind are required");
        return;
    }
    bool namespaced = true;
    if (strncmp(api, "sealift.dev/", 12) != 0 || !sl_manifests_known_kind(kind, &namespaced)) {
        add_error(out->errors, path, line,
                  "%s %s is not a sealift.dev kind; a GitSource applies only ImageDelivery, "
                  "ScanPolicy, SigningKey, DeployPolicy and GitSource",
                  api, kind);
        return;
    }
    if (strcmp(api, "sealift.dev/v1beta1") != 0 && strcmp(api, "sealift.dev/v1alpha1") != 0) {
        add_error(out->errors, path, line,
                  "unsupported apiVersion %s (want sealift.dev/v1beta1 or the deprecated "
                  "sealift.dev/v1alpha1)",
                  api);
        return;
    }
    json_t *meta = json_object_get(doc, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name || !valid_name(name, 253)) {
        add_error(out->errors, path, line, "%s: metadata.name: %s", kind,
                  name ? "must be a lowercase DNS-1123 name" : "Required value");
        return;
    }
    bool privileged = controller_ns && strcmp(source_ns, controller_ns) == 0;
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!namespaced) {
        if (!privileged) {
            add_error(out->errors, path, line,
                      "%s %s is cluster-scoped: only a GitSource in the controller's namespace "
                      "(%s) may apply it",
                      kind, name, controller_ns ? controller_ns : "?");
            return;
        }
        if (ns && *ns) {
            add_error(out->errors, path, line, "%s %s is cluster-scoped: remove metadata.namespace",
                      kind, name);
            return;
        }
    } else {
        if (!ns || !*ns) {
            ns = source_ns;
        } else if (strcmp(ns, source_ns) != 0 && !privileged) {
            add_error(out->errors, path, line,
                      "%s %s: namespace %s is not allowed: a GitSource in %s applies only into "
                      "its own namespace",
                      kind, name, ns, source_ns);
            return;
        }
        if (!valid_name(ns, 63)) {
            add_error(out->errors, path, line, "%s %s: metadata.namespace: invalid name", kind,
                      name);
            return;
        }
    }
    char *key = sl_xasprintf("%s/%s/%s", kind, namespaced ? ns : "", name);
    json_t *prev = json_object_get(seen, key);
    if (prev) {
        add_error(out->errors, path, line, "%s %s%s%s is defined twice (first in %s)", kind,
                  namespaced ? ns : "", namespaced ? "/" : "", name, json_string_value(prev));
        free(key);
        return;
    }
    char *where = sl_xasprintf("%s:%zu", path, line);
    json_object_set_new(seen, key, json_string(where));
    json_array_append_new(out->sources, json_string(where));
    free(where);
    free(key);

    json_t *obj = json_deep_copy(doc);
    json_t *m = json_object_get(obj, "metadata");
    if (namespaced)
        json_object_set_new(m, "namespace", json_string(ns));
    /* server-populated fields in a committed file would make apply fail or fight the server */
    static const char *const server_fields[] = {"resourceVersion",   "uid",
                                                "creationTimestamp", "generation",
                                                "managedFields",     "deletionTimestamp"};
    for (size_t i = 0; i < sizeof(server_fields) / sizeof(server_fields[0]); i++)
        json_object_del(m, server_fields[i]);
    json_object_del(obj, "status");
    json_array_append_new(out->objects, obj);
}

int sl_manifests_load(struct sl_manifest_set *out, const struct sl_git_file *files, size_t count,
                      const char *source_ns, const char *controller_ns)
{
    out->objects = json_array();
    out->sources = json_array();
    out->errors = json_array();
    out->failed_files = json_array();
    json_t *seen = json_object();
    for (size_t i = 0; i < count; i++) {
        struct sl_yaml_doc *docs = NULL;
        size_t n = 0;
        struct sl_err err = {0};
        if (sl_yaml_parse_all(&docs, &n, files[i].content, files[i].len, &err) != 0) {
            add_error(out->errors, files[i].path, 0, "%s", err.msg);
            json_array_append_new(out->failed_files, json_string(files[i].path));
            continue;
        }
        for (size_t d = 0; d < n; d++) {
            if (!docs[d].value)
                continue; /* empty documents between --- separators */
            load_doc(out, seen, files[i].path, docs[d].line, docs[d].value, source_ns,
                     controller_ns);
        }
        sl_yaml_docs_free(docs, n);
    }
    json_decref(seen);
    return 0;
}

bool sl_manifests_entry_allowed(const json_t *entry, const char *source_ns,
                                const char *controller_ns, char *why, size_t why_size)
{
    const char *api = json_string_value(json_object_get(entry, "apiVersion"));
    const char *kind = json_string_value(json_object_get(entry, "kind"));
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *ns = json_string_value(json_object_get(entry, "namespace"));
    bool namespaced = true;
    bool privileged = controller_ns && source_ns && strcmp(source_ns, controller_ns) == 0;
    const char *problem = NULL;
    if (!api || strncmp(api, "sealift.dev/", 12) != 0 ||
        !sl_manifests_known_kind(kind, &namespaced))
        problem = "not a sealift.dev kind";
    else if (!name || !valid_name(name, 253))
        problem = "invalid name";
    else if (!namespaced && ns && *ns)
        problem = "cluster-scoped kind with a namespace";
    else if (!namespaced && !privileged)
        problem = "cluster-scoped: only a GitSource in the controller's namespace manages it";
    else if (namespaced && (!ns || !valid_name(ns, 63)))
        problem = "namespaced kind without a valid namespace";
    else if (namespaced && !privileged && (!source_ns || strcmp(ns, source_ns) != 0))
        problem = "another namespace than the GitSource's";
    if (!problem)
        return true;
    if (why && why_size)
        snprintf(why, why_size, "%s", problem);
    return false;
}

void sl_manifest_set_clear(struct sl_manifest_set *set)
{
    json_decref(set->objects);
    json_decref(set->sources);
    json_decref(set->errors);
    json_decref(set->failed_files);
    set->objects = set->sources = set->errors = set->failed_files = NULL;
}
