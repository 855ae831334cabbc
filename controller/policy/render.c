#include "policy/render.h"
#include "policy/imagematch.h"
#include "policy/trust.h"
#include "sign/attestation.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Variables shared by the validations. podSpec works for every matched kind; missing optional
 * lists become empty lists so every rule can use .all() without has() guards. */
static const char PODSPEC_EXPR[] =
    "object.kind == 'Pod' ? object.spec : "
    "(object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : "
    "object.spec.template.spec)";
static const char CONTAINERS_EXPR[] =
    "(has(variables.podSpec.containers) ? variables.podSpec.containers : []) + "
    "(has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) + "
    "(has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])";
static const char PODSC_EXPR[] =
    "has(variables.podSpec.securityContext) ? variables.podSpec.securityContext : {}";

const char *sl_policy_podspec_expression(void)
{
    return PODSPEC_EXPR;
}

/* Appends s as a single-quoted CEL string literal. */
static void cel_quote(struct sl_buf *b, const char *s)
{
    sl_buf_append_str(b, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '\'')
            sl_buf_append_str(b, "\\");
        sl_buf_append(b, p, 1);
    }
    sl_buf_append_str(b, "'");
}

/* Appends a CEL list literal of the strings in arr: ['a', 'b']. */
static void cel_string_list(struct sl_buf *b, const json_t *arr)
{
    sl_buf_append_str(b, "[");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i)
            sl_buf_append_str(b, ", ");
        cel_quote(b, json_string_value(v));
    }
    sl_buf_append_str(b, "]");
}

static void add_validation(json_t *validations, const char *expression, const char *message)
{
    json_array_append_new(validations, json_pack("{s:s, s:s, s:s}", "expression", expression,
                                                 "message", message, "reason", "Forbidden"));
}

static bool rule_true(const json_t *rules, const char *name)
{
    return json_is_true(json_object_get(rules, name));
}

/* Checks that the array at rules[name] (if present) holds only strings. */
static int check_string_array(const json_t *rules, const char *name, struct sl_err *err)
{
    const json_t *arr = json_object_get(rules, name);
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.rules.%s: must be a list", name);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.%s[%zu]: must be a non-empty string", name, i);
    }
    return 0;
}

/* Adds a validation whose message is "sealift DeployPolicy <policy>: <rule>: <what>". */
static void add_rule_validation(json_t *validations, const char *policy_name, const char *rule,
                                const char *expression, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "sealift DeployPolicy %s: %s: %s", policy_name, rule, what);
    add_validation(validations, expression, msg);
}

/* The rules that are switched on with `true`: each adds one fixed CEL validation. */
static const struct {
    const char *rule;
    const char *expression;
    const char *what;
} boolean_rules[] = {
    {"requireDigest", "variables.containers.all(c, c.image.matches('@sha256:[a-f0-9]{64}$'))",
     "every image must be pinned by digest (@sha256:...)"},
    {"forbidPrivileged",
     "variables.containers.all(c, !has(c.securityContext) || "
     "((!has(c.securityContext.privileged) || "
     "c.securityContext.privileged != true) && "
     "(!has(c.securityContext.allowPrivilegeEscalation) || "
     "c.securityContext.allowPrivilegeEscalation != true)))",
     "privileged containers and allowPrivilegeEscalation are not allowed"},
    {"forbidHostNamespaces",
     "!(has(variables.podSpec.hostNetwork) && "
     "variables.podSpec.hostNetwork == true) && "
     "!(has(variables.podSpec.hostPID) && variables.podSpec.hostPID == true) && "
     "!(has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC == true)",
     "hostNetwork, hostPID and hostIPC are not allowed"},
    {"forbidHostPath",
     "!has(variables.podSpec.volumes) || "
     "variables.podSpec.volumes.all(v, !has(v.hostPath))",
     "hostPath volumes are not allowed"},
    /* A container's own securityContext overrides the pod's, as in the kubelet. */
    {"requireRunAsNonRoot",
     "variables.containers.all(c, "
     "((has(c.securityContext) && has(c.securityContext.runAsNonRoot)) ? "
     "c.securityContext.runAsNonRoot == true : "
     "(has(variables.podSC.runAsNonRoot) && variables.podSC.runAsNonRoot == true)) && "
     "!((has(c.securityContext) && has(c.securityContext.runAsUser)) ? "
     "c.securityContext.runAsUser == 0 : "
     "(has(variables.podSC.runAsUser) && variables.podSC.runAsUser == 0)))",
     "every container must run with runAsNonRoot: true and not as user 0"},
};

/* Length of a registry entry without its trailing '/' characters. */
static size_t entry_len(const char *e)
{
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/')
        n--;
    return n;
}

/* Checks an allowedRegistries entry: host[:port][/path], where the host has a '.' or a port or
 * is "localhost" (as container runtimes tell a registry host from a Docker Hub namespace), and
 * path components are lower-case repository components. A trailing '/' is ignored. */
static bool registry_entry_valid(const char *e)
{
    size_t n = entry_len(e);
    if (n == 0 || n > 255)
        return false;
    size_t i = 0;
    bool dot = false, port = false;
    while (i < n && e[i] != '/' && e[i] != ':') {
        char ch = e[i];
        if (ch == '.')
            dot = true;
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
        i++;
    }
    if (i == 0 || e[0] == '.' || e[i - 1] == '.')
        return false;
    if (i < n && e[i] == ':') {
        size_t digits = 0;
        for (i++; i < n && e[i] != '/'; i++, digits++)
            if (e[i] < '0' || e[i] > '9')
                return false;
        if (digits == 0 || digits > 5)
            return false;
        port = true;
    }
    if (!dot && !port && !(i == 9 && strncmp(e, "localhost", 9) == 0))
        return false;
    /* path: components of [a-z0-9._-], none empty, none "." or ".." */
    while (i < n) {
        size_t start = ++i; /* past the '/' */
        while (i < n && e[i] != '/') {
            char ch = e[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                  ch == '-'))
                return false;
            i++;
        }
        size_t len = i - start;
        if (len == 0 || (len == 1 && e[start] == '.') ||
            (len == 2 && e[start] == '.' && e[start + 1] == '.'))
            return false;
    }
    return true;
}

static int check_registries(const json_t *rules, struct sl_err *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rules, "allowedRegistries"), i, v)
    {
        const char *e = json_string_value(v);
        if (strpbrk(e, "*?["))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.allowedRegistries[%zu]: Invalid value: \"%.200s\": "
                              "entries are not globs: they match on reference boundaries "
                              "(\"registry.example/team\" admits registry.example/team/app "
                              "and registry.example/team:tag, not registry.example/team-x/app); "
                              "write the registry or repository prefix without wildcards",
                              i, e);
        if (!registry_entry_valid(e))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.allowedRegistries[%zu]: Invalid value: \"%.200s\": "
                              "want a registry host[:port] optionally followed by /path "
                              "(the host with a '.' or a port, e.g. registry.example/mirror), "
                              "no tag, digest or wildcard",
                              i, e);
    }
    return 0;
}

/* One verifyImages[].authorities list: every key is a SigningKey pinned by fingerprint
 * (policy/trust.h), names unique (the list's map key). */
static int check_authorities(const json_t *list, size_t entry, struct sl_err *err)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.verifyImages[%zu].authorities: Required value: at least one "
                          "authority with a SigningKey pinned by fingerprint",
                          entry);
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        if (!name || !*name)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu].authorities[%zu].name: Required value", entry,
                              i);
        for (size_t k = 0; k < i; k++) {
            const char *prev = json_string_value(json_object_get(json_array_get(list, k), "name"));
            if (prev && strcmp(prev, name) == 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "spec.verifyImages[%zu].authorities[%zu].name: Duplicate "
                                  "value: \"%.63s\"",
                                  entry, i, name);
        }
        const json_t *ref = json_object_get(json_object_get(a, "key"), "signingKeyRef");
        if (!json_is_object(ref))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu].authorities[%zu].key.signingKeyRef: "
                              "Required value",
                              entry, i);
        const char *ns = json_string_value(json_object_get(ref, "namespace"));
        const char *kname = json_string_value(json_object_get(ref, "name"));
        if (!ns || !*ns || !kname || !*kname)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu].authorities[%zu].key.signingKeyRef: needs "
                              "namespace and name",
                              entry, i);
        const char *fp = json_string_value(json_object_get(ref, "fingerprint"));
        if (!sl_policy_fingerprint_valid(fp))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu].authorities[%zu].key.signingKeyRef."
                              "fingerprint: %s: want sha256:<64 lower-case hex digits>, the "
                              "fingerprint the SigningKey's status shows",
                              entry, i, fp ? "Invalid value" : "Required value");
    }
    return 0;
}

/* requireScanPassed must name the ScanPolicies it trusts: the webhook trusts only scans of the
 * ScanPolicies named there. */
static int check_require_scan(const json_t *rule, size_t entry, struct sl_err *err)
{
    const json_t *refs = json_object_get(rule, "scanPolicyRefs");
    if (!json_is_object(rule) || !json_is_array(refs) || json_array_size(refs) == 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.verifyImages[%zu].requireScanPassed.scanPolicyRefs: Required "
                          "value: requireScanPassed must name the ScanPolicies it trusts",
                          entry);
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *ns = json_string_value(json_object_get(r, "namespace"));
        const char *name = json_string_value(json_object_get(r, "name"));
        if (!ns || !*ns || !name || !*name)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu].requireScanPassed.scanPolicyRefs[%zu]: "
                              "needs namespace and name",
                              entry, i);
    }
    return 0;
}

/* spec.verifyImages: at most SL_POLICY_VERIFY_IMAGES_MAX entries, each with image reference
 * globs and authorities or requireScanPassed (or both). */
static int check_verify_images(const json_t *spec, struct sl_err *err)
{
    const json_t *list = json_object_get(spec, "verifyImages");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.verifyImages: must be a list");
    if (json_array_size(list) > SL_POLICY_VERIFY_IMAGES_MAX)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.verifyImages: Too many: %zu: must have at most %d items",
                          json_array_size(list), SL_POLICY_VERIFY_IMAGES_MAX);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const json_t *refs = json_object_get(e, "imageReferences");
        if (!json_is_array(refs) || json_array_size(refs) == 0)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu].imageReferences: Required value", i);
        size_t j;
        json_t *pattern;
        json_array_foreach(refs, j, pattern)
        {
            struct sl_err perr = {0};
            if (sl_policy_pattern_check(json_string_value(pattern), &perr) != 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "spec.verifyImages[%zu].imageReferences[%zu]: %s", i, j,
                                  perr.msg);
        }
        const json_t *auths = json_object_get(e, "authorities");
        const json_t *scan = json_object_get(e, "requireScanPassed");
        bool has_auths = auths && !json_is_null(auths);
        bool has_scan = scan && !json_is_null(scan);
        if (!has_auths && !has_scan)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.verifyImages[%zu]: Required value: needs authorities or "
                              "requireScanPassed",
                              i);
        int rc = has_auths ? check_authorities(auths, i, err) : 0;
        if (!rc && has_scan)
            rc = check_require_scan(scan, i, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Whether some verifyImages entry has authorities (the keys requireAttestations uses). */
static bool has_authorities(const json_t *spec)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(spec, "verifyImages"), i, e)
    {
        if (json_array_size(json_object_get(e, "authorities")) > 0)
            return true;
    }
    return false;
}

/* rules.requireAttestations: known types, durations and thresholds, one entry per type, and the
 * keys of a verifyImages entry to verify them with. */
static int check_require_attestations(const json_t *spec, const json_t *rules, struct sl_err *err)
{
    const json_t *list = json_object_get(rules, "requireAttestations");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.rules.requireAttestations: must be a list of at least one "
                          "{type, maxAge, severityThreshold}");
    if (!has_authorities(spec))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.rules.requireAttestations: Required value: attestations are "
                          "verified with the keys of spec.verifyImages[].authorities, which the "
                          "policy does not set");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        struct sl_attestation_type t;
        struct sl_err terr = {0};
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *max_age = json_string_value(json_object_get(e, "maxAge"));
        const char *sev = json_string_value(json_object_get(e, "severityThreshold"));
        int64_t ms = 0;
        int rank = 0;
        if (!type)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.requireAttestations[%zu].type: Required value", i);
        if (sl_attestation_type_parse(&t, type, &terr) != 0)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.requireAttestations[%zu].type: Invalid value: %s", i,
                              terr.msg);
        for (size_t k = 0; k < i; k++) {
            const char *prev = json_string_value(json_object_get(json_array_get(list, k), "type"));
            if (prev && strcmp(prev, type) == 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "spec.rules.requireAttestations[%zu].type: Duplicate value: "
                                  "\"%.100s\"",
                                  i, type);
        }
        if (max_age && (sl_duration_parse_ms(&ms, max_age) != 0 || ms <= 0))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.requireAttestations[%zu].maxAge: Invalid value: "
                              "\"%.60s\": want a positive duration such as 168h or 30m",
                              i, max_age);
        if (sev && strcmp(sev, "None") != 0 && sl_attestation_severity_parse(&rank, sev) != 0)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.requireAttestations[%zu].severityThreshold: "
                              "Unsupported value: \"%.60s\": supported values: \"Critical\", "
                              "\"High\", \"Medium\", \"Low\", \"None\"",
                              i, sev);
        if (sev && strcmp(t.predicate[0], SL_ATTESTATION_VULN) != 0)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.requireAttestations[%zu].severityThreshold: Forbidden: "
                              "applies to type vuln only",
                              i);
    }
    return 0;
}

/* rules.runtimeClassNames: RuntimeClass names (DNS subdomains). */
static int check_runtime_classes(const json_t *rules, struct sl_err *err)
{
    int rc = check_string_array(rules, "runtimeClassNames", err);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rules, "runtimeClassNames"), i, v)
    {
        const char *n = json_string_value(v);
        bool ok = !rc && n && strlen(n) <= 253 && n[0] != '.' && n[0] != '-';
        for (const char *p = n; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
        if (!rc && !ok)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.rules.runtimeClassNames[%zu]: Invalid value: \"%.100s\": "
                              "want a RuntimeClass name (lower-case DNS subdomain)",
                              i, n ? n : "");
    }
    return rc;
}

/* ---- the CRD's schema (crds/sealift.dev_deploypolicies.yaml), for the fields render knows ---- */

enum field_type { FT_ANY, FT_OBJECT, FT_STRING_MAP, FT_ARRAY, FT_STRING, FT_BOOL };

struct field {
    const char *name;
    enum field_type type;
    enum field_type items;          /* FT_ARRAY: type of the items */
    const struct field *props;      /* FT_OBJECT, or FT_ARRAY of FT_OBJECT: known fields */
    const char *const *enum_values; /* FT_STRING (or items): allowed values, or NULL */
};

static const char *const OPERATORS[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
static const char *const ENFORCEMENTS[] = {"Deny", "Warn", "Audit", NULL};
static const char *const OUTPUTS[] = {"ValidatingAdmissionPolicy", "Gatekeeper", NULL};
static const char *const THRESHOLDS[] = {"Critical", "High", "Medium", "Low", "None", NULL};

static const struct field SELECTOR_REQUIREMENT[] = {
    {"key", FT_STRING, FT_ANY, NULL, NULL},
    {"operator", FT_STRING, FT_ANY, NULL, OPERATORS},
    {"values", FT_ARRAY, FT_STRING, NULL, NULL},
    {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field NAMESPACE_SELECTOR[] = {
    {"matchLabels", FT_STRING_MAP, FT_ANY, NULL, NULL},
    {"matchExpressions", FT_ARRAY, FT_OBJECT, SELECTOR_REQUIREMENT, NULL},
    {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field KEY_REF[] = {{"fingerprint", FT_STRING, FT_ANY, NULL, NULL},
                                       {"namespace", FT_STRING, FT_ANY, NULL, NULL},
                                       {"name", FT_STRING, FT_ANY, NULL, NULL},
                                       {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field AUTHORITY_KEY[] = {{"signingKeyRef", FT_OBJECT, FT_ANY, KEY_REF, NULL},
                                             {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field AUTHORITY[] = {{"name", FT_STRING, FT_ANY, NULL, NULL},
                                         {"key", FT_OBJECT, FT_ANY, AUTHORITY_KEY, NULL},
                                         {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field SCAN_REF[] = {{"namespace", FT_STRING, FT_ANY, NULL, NULL},
                                        {"name", FT_STRING, FT_ANY, NULL, NULL},
                                        {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field REQUIRE_SCAN[] = {{"scanPolicyRefs", FT_ARRAY, FT_OBJECT, SCAN_REF, NULL},
                                            {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field VERIFY_IMAGE[] = {
    {"imageReferences", FT_ARRAY, FT_STRING, NULL, NULL},
    {"authorities", FT_ARRAY, FT_OBJECT, AUTHORITY, NULL},
    {"requireScanPassed", FT_OBJECT, FT_ANY, REQUIRE_SCAN, NULL},
    {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field REQUIRE_ATTESTATION[] = {
    {"type", FT_STRING, FT_ANY, NULL, NULL},
    {"maxAge", FT_STRING, FT_ANY, NULL, NULL},
    {"severityThreshold", FT_STRING, FT_ANY, NULL, THRESHOLDS},
    {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field RULES[] = {
    {"allowedRegistries", FT_ARRAY, FT_STRING, NULL, NULL},
    {"requireDigest", FT_BOOL, FT_ANY, NULL, NULL},
    {"forbidPrivileged", FT_BOOL, FT_ANY, NULL, NULL},
    {"forbidHostNamespaces", FT_BOOL, FT_ANY, NULL, NULL},
    {"forbidHostPath", FT_BOOL, FT_ANY, NULL, NULL},
    {"requireRunAsNonRoot", FT_BOOL, FT_ANY, NULL, NULL},
    {"allowedCapabilities", FT_ARRAY, FT_STRING, NULL, NULL},
    {"requireAttestations", FT_ARRAY, FT_OBJECT, REQUIRE_ATTESTATION, NULL},
    {"runtimeClassNames", FT_ARRAY, FT_STRING, NULL, NULL},
    {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field SPEC[] = {
    {"namespaceSelector", FT_OBJECT, FT_ANY, NAMESPACE_SELECTOR, NULL},
    {"includeSystemNamespaces", FT_BOOL, FT_ANY, NULL, NULL},
    {"enforcement", FT_STRING, FT_ANY, NULL, ENFORCEMENTS},
    {"verifyImages", FT_ARRAY, FT_OBJECT, VERIFY_IMAGE, NULL},
    {"rules", FT_OBJECT, FT_ANY, RULES, NULL},
    {"outputs", FT_ARRAY, FT_STRING, NULL, OUTPUTS},
    {NULL, FT_ANY, FT_ANY, NULL, NULL}};
static const struct field TOP[] = {
    {"apiVersion", FT_STRING, FT_ANY, NULL, NULL}, {"kind", FT_STRING, FT_ANY, NULL, NULL},
    {"metadata", FT_ANY, FT_ANY, NULL, NULL},      {"spec", FT_OBJECT, FT_ANY, SPEC, NULL},
    {"status", FT_ANY, FT_ANY, NULL, NULL},        {NULL, FT_ANY, FT_ANY, NULL, NULL}};

struct field_check {
    struct sl_policy_field_problem *out; /* the caller's array */
    size_t max, n;
};

static const char *type_name(enum field_type t)
{
    switch (t) {
    case FT_OBJECT:
    case FT_STRING_MAP:
        return "object";
    case FT_ARRAY:
        return "array";
    case FT_STRING:
        return "string";
    case FT_BOOL:
        return "boolean";
    default:
        return "any";
    }
}

static const char *json_type_name(const json_t *v)
{
    if (json_is_object(v))
        return "object";
    if (json_is_array(v))
        return "array";
    if (json_is_string(v))
        return "string";
    if (json_is_boolean(v))
        return "boolean";
    if (json_is_integer(v))
        return "integer";
    return "number";
}

/* Records a problem; returns -1 (stop looking) once fc->max are recorded, else 0. */
static int field_fail(struct field_check *fc, const char *path, const char *fmt, const char *a,
                      const char *b)
{
    struct sl_policy_field_problem *p = &fc->out[fc->n++];
    snprintf(p->path, sizeof(p->path), "%s", path);
    char what[300];
    snprintf(what, sizeof(what), fmt, a, b);
    snprintf(p->msg, sizeof(p->msg), "%.250s: %s", path, what);
    return fc->n >= fc->max ? -1 : 0;
}

static int check_value(struct field_check *fc, const char *path, const json_t *v,
                       enum field_type type, const struct field *props,
                       const char *const *enum_values, enum field_type items);

static int check_object(struct field_check *fc, const char *path, const json_t *obj,
                        const struct field *props)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char sub[600];
        snprintf(sub, sizeof(sub), "%s%s%.200s", path, *path ? "." : "", key);
        const struct field *f = props;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        int rc = f->name ? check_value(fc, sub, v, f->type, f->props, f->enum_values, f->items)
                         : field_fail(fc, sub, "%s%sunknown field", "", "");
        if (rc)
            return rc;
    }
    return 0;
}

/* Like the API server: a null is dropped (pruned) before validation, so it is no error. */
static int check_value(struct field_check *fc, const char *path, const json_t *v,
                       enum field_type type, const struct field *props,
                       const char *const *enum_values, enum field_type items)
{
    if (type == FT_ANY || json_is_null(v))
        return 0;
    bool ok = (type == FT_OBJECT || type == FT_STRING_MAP) ? json_is_object(v)
              : type == FT_ARRAY                           ? json_is_array(v)
              : type == FT_STRING                          ? json_is_string(v)
                                                           : json_is_boolean(v);
    if (!ok)
        return field_fail(fc, path, "Invalid value: \"%s\": must be of type %s", json_type_name(v),
                          type_name(type));
    if (type == FT_OBJECT)
        return check_object(fc, path, v, props);
    if (type == FT_STRING_MAP) {
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x)
        {
            char sub[600];
            snprintf(sub, sizeof(sub), "%s.%.200s", path, key);
            int rc = check_value(fc, sub, x, FT_STRING, NULL, NULL, FT_ANY);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (type == FT_ARRAY) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            char sub[600];
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            int rc = check_value(fc, sub, x, items, props, enum_values, FT_ANY);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (type == FT_STRING && enum_values) {
        const char *s = json_string_value(v);
        for (const char *const *e = enum_values; *e; e++)
            if (strcmp(*e, s) == 0)
                return 0;
        char supported[200] = "";
        size_t used = 0;
        for (const char *const *e = enum_values; *e; e++)
            used += (size_t)snprintf(supported + used, sizeof(supported) - used, "%s\"%s\"",
                                     e == enum_values ? "" : ", ", *e);
        return field_fail(fc, path, "Unsupported value: \"%.100s\": supported values: %s", s,
                          supported);
    }
    return 0;
}

size_t sl_policy_check_fields(struct sl_policy_field_problem *out, size_t max, const json_t *policy)
{
    struct field_check fc = {.out = out, .max = max, .n = 0};
    if (max == 0)
        return 0;
    if (!json_is_object(policy))
        field_fail(&fc, "", "%s%smust be an object", "", "");
    else
        check_object(&fc, "", policy, TOP);
    return fc.n;
}

bool sl_policy_needs_webhook(const json_t *policy)
{
    const json_t *spec = json_object_get(policy, "spec");
    return json_array_size(json_object_get(spec, "verifyImages")) > 0 ||
           json_array_size(json_object_get(json_object_get(spec, "rules"), "requireAttestations")) >
               0;
}

/* The allowedRegistries validation. Entries match on reference boundaries, never as raw
 * prefixes: "host[:port]" admits every repository on exactly that host and port
 * ("host/..."), "host/path" admits the repositories below it ("host/path/...") and the
 * repository "host/path" itself (bare, ":tag" or "@digest"), so "registry.example/mirror" never
 * admits "registry.example/mirror-evil/x" and "registry.example" never admits
 * "registry.example.evil.com/x" or "registry.example:5000/x". */
static void registries_validation(json_t *vals, const json_t *regs, const char *policy_name)
{
    struct sl_buf prefixes, repos, b;
    sl_buf_init(&prefixes, 0);
    sl_buf_init(&repos, 0);
    sl_buf_init(&b, 0);
    size_t i, nrepos = 0;
    json_t *v;
    json_array_foreach(regs, i, v)
    {
        const char *e = json_string_value(v);
        size_t n = entry_len(e);
        char *entry = sl_xstrndup(e, n);
        char *prefix = sl_xasprintf("%s/", entry);
        if (prefixes.len)
            sl_buf_append_str(&prefixes, ", ");
        cel_quote(&prefixes, prefix);
        if (memchr(entry, '/', n)) {
            if (nrepos++)
                sl_buf_append_str(&repos, ", ");
            cel_quote(&repos, entry);
        }
        free(prefix);
        free(entry);
    }
    sl_buf_append_str(&b, "variables.containers.all(c, [");
    sl_buf_append_str(&b, sl_buf_cstr(&prefixes));
    sl_buf_append_str(&b, "].exists(p, c.image.startsWith(p))");
    if (nrepos) {
        sl_buf_append_str(&b, " || [");
        sl_buf_append_str(&b, sl_buf_cstr(&repos));
        sl_buf_append_str(&b, "].exists(r, c.image == r || c.image.startsWith(r + ':') || "
                              "c.image.startsWith(r + '@'))");
    }
    sl_buf_append_str(&b, ")");
    add_rule_validation(vals, policy_name, "allowedRegistries", sl_buf_cstr(&b),
                        "every image must come from an allowed registry");
    sl_buf_free(&b);
    sl_buf_free(&repos);
    sl_buf_free(&prefixes);
}

static json_t *cel_validations(const json_t *rules, const char *policy_name)
{
    json_t *vals = json_array();
    struct sl_buf b;

    const json_t *regs = json_object_get(rules, "allowedRegistries");
    if (json_is_array(regs) && json_array_size(regs) > 0)
        registries_validation(vals, regs, policy_name);
    for (size_t i = 0; i < sizeof(boolean_rules) / sizeof(boolean_rules[0]); i++) {
        if (rule_true(rules, boolean_rules[i].rule))
            add_rule_validation(vals, policy_name, boolean_rules[i].rule,
                                boolean_rules[i].expression, boolean_rules[i].what);
    }
    const json_t *caps = json_object_get(rules, "allowedCapabilities");
    if (json_is_array(caps)) {
        sl_buf_init(&b, 0);
        sl_buf_append_str(&b, "variables.containers.all(c, !has(c.securityContext) || "
                              "!has(c.securityContext.capabilities) || "
                              "!has(c.securityContext.capabilities.add) || "
                              "c.securityContext.capabilities.add.all(x, x in ");
        cel_string_list(&b, caps);
        sl_buf_append_str(&b, "))");
        add_rule_validation(vals, policy_name, "allowedCapabilities", sl_buf_cstr(&b),
                            "capabilities.add may only hold allowed capabilities");
        sl_buf_free(&b);
    }
    const json_t *classes = json_object_get(rules, "runtimeClassNames");
    if (json_is_array(classes)) {
        struct sl_buf what;
        sl_buf_init(&b, 0);
        sl_buf_init(&what, 0);
        sl_buf_append_str(&b, "has(variables.podSpec.runtimeClassName) && "
                              "variables.podSpec.runtimeClassName in ");
        cel_string_list(&b, classes);
        sl_buf_append_str(&what, "every workload must set runtimeClassName to one of");
        size_t i;
        json_t *v;
        json_array_foreach(classes, i, v)
        {
            sl_buf_append_str(&what, i ? ", " : " ");
            sl_buf_append_str(&what, json_string_value(v));
        }
        add_rule_validation(vals, policy_name, "runtimeClassNames", sl_buf_cstr(&b),
                            sl_buf_cstr(&what));
        sl_buf_free(&what);
        sl_buf_free(&b);
    }
    return vals;
}

/* The requests that put an image into a pod, one rule per API group: Pods and
 * ReplicationControllers (create, and update: a running Pod's container image may be changed),
 * the pods/ephemeralcontainers subresource (`kubectl debug` adds a container to a running Pod
 * with an UPDATE of it; its object is the whole Pod), and the workload controllers of apps and
 * batch. scope is set for webhook rules ("Namespaced"), NULL for a ValidatingAdmissionPolicy. */
static json_t *match_resource_rules(const char *scope)
{
    json_t *rules = json_pack(
        "[{s:[s], s:[s], s:[s,s], s:[s,s]}, {s:[s], s:[s], s:[s], s:[s]},"
        " {s:[s], s:[s], s:[s,s], s:[s,s,s,s]}, {s:[s], s:[s], s:[s,s], s:[s,s]}]",
        "apiGroups", "", "apiVersions", "v1", "operations", "CREATE", "UPDATE", "resources", "pods",
        "replicationcontrollers", "apiGroups", "", "apiVersions", "v1", "operations", "UPDATE",
        "resources", "pods/ephemeralcontainers", "apiGroups", "apps", "apiVersions", "v1",
        "operations", "CREATE", "UPDATE", "resources", "deployments", "statefulsets", "daemonsets",
        "replicasets", "apiGroups", "batch", "apiVersions", "v1", "operations", "CREATE", "UPDATE",
        "resources", "jobs", "cronjobs");
    if (scope) {
        size_t i;
        json_t *r;
        json_array_foreach(rules, i, r) json_object_set_new(r, "scope", json_string(scope));
    }
    return rules;
}

static json_t *metadata_for(const char *name, const char *policy_name)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "name", name, "labels", "app.kubernetes.io/managed-by",
                     "sealift", SL_POLICY_LABEL, policy_name);
}

json_t *sl_policy_namespace_selector(const json_t *policy, const char *controller_namespace)
{
    const json_t *spec = json_object_get(policy, "spec");
    const json_t *sel = json_object_get(spec, "namespaceSelector");
    json_t *out = json_is_object(sel) ? json_deep_copy(sel) : json_object();
    if (json_is_true(json_object_get(spec, "includeSystemNamespaces")))
        return out;
    if (!controller_namespace || !*controller_namespace)
        controller_namespace = SL_POLICY_DEFAULT_CONTROLLER_NAMESPACE;
    json_t *values = json_pack("[s]", "kube-system");
    if (strcmp(controller_namespace, "kube-system") != 0)
        json_array_append_new(values, json_string(controller_namespace));
    json_t *exprs = json_object_get(out, "matchExpressions");
    if (!json_is_array(exprs)) {
        exprs = json_array();
        json_object_set_new(out, "matchExpressions", exprs);
    }
    json_array_append_new(exprs, json_pack("{s:s, s:s, s:o}", "key", "kubernetes.io/metadata.name",
                                           "operator", "NotIn", "values", values));
    return out;
}

json_t *sl_policy_render_webhook(const json_t *policy, const struct sl_policy_webhook_opts *opts)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(policy, "metadata"), "name"));
    if (!name)
        name = "";
    char *path = sl_xasprintf("%s%s", SL_POLICY_ADMISSION_PATH_PREFIX, name);
    char *hook_name = sl_xasprintf("%s.deploypolicy.sealift.dev", name);
    char *cfg_name = sl_xasprintf("%s%s", SL_POLICY_NAME_PREFIX, name);
    json_t *client =
        json_pack("{s:{s:s, s:s, s:s, s:i}}", "service", "namespace", opts->service_namespace,
                  "name", opts->service_name, "path", path, "port", opts->service_port);
    if (opts->ca_bundle && *opts->ca_bundle)
        json_object_set_new(client, "caBundle", json_string(opts->ca_bundle));
    json_t *hook =
        json_pack("{s:s, s:[s], s:s, s:s, s:i, s:o, s:o, s:o}", "name", hook_name,
                  "admissionReviewVersions", "v1", "sideEffects", "None", "failurePolicy", "Fail",
                  "timeoutSeconds", opts->timeout_seconds, "namespaceSelector",
                  sl_policy_namespace_selector(policy, opts->controller_namespace), "rules",
                  match_resource_rules("Namespaced"), "clientConfig", client);
    json_t *vwc =
        json_pack("{s:s, s:s, s:o, s:[o]}", "apiVersion", "admissionregistration.k8s.io/v1", "kind",
                  "ValidatingWebhookConfiguration", "metadata", metadata_for(cfg_name, name),
                  "webhooks", hook);
    free(path);
    free(hook_name);
    free(cfg_name);
    return vwc;
}

static const char REGO[] =
    "package sealiftdeploypolicy\n"
    "\n"
    "pod_spec(obj) = s {\n"
    "  obj.kind == \"Pod\"\n"
    "  s := obj.spec\n"
    "}\n"
    "pod_spec(obj) = s {\n"
    "  obj.kind == \"CronJob\"\n"
    "  s := obj.spec.jobTemplate.spec.template.spec\n"
    "}\n"
    "pod_spec(obj) = s {\n"
    "  not obj.kind == \"Pod\"\n"
    "  not obj.kind == \"CronJob\"\n"
    "  s := obj.spec.template.spec\n"
    "}\n"
    "\n"
    "containers[c] { c := pod_spec(input.review.object).containers[_] }\n"
    "containers[c] { c := pod_spec(input.review.object).initContainers[_] }\n"
    "containers[c] { c := pod_spec(input.review.object).ephemeralContainers[_] }\n"
    "\n"
    "# entries match on reference boundaries: host[:port] admits host[:port]/..., host/path\n"
    "# admits host/path/... and the repository host/path itself (bare, :tag or @digest)\n"
    "registry_entry(p) = e { e := trim_right(p, \"/\") }\n"
    "allowed_registry(img) {\n"
    "  e := registry_entry(input.parameters.allowedRegistries[_])\n"
    "  startswith(img, concat(\"\", [e, \"/\"]))\n"
    "}\n"
    "allowed_registry(img) {\n"
    "  e := registry_entry(input.parameters.allowedRegistries[_])\n"
    "  contains(e, \"/\")\n"
    "  repository_end(img, e)\n"
    "}\n"
    "repository_end(img, e) { img == e }\n"
    "repository_end(img, e) { startswith(img, concat(\"\", [e, \":\"])) }\n"
    "repository_end(img, e) { startswith(img, concat(\"\", [e, \"@\"])) }\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  count(input.parameters.allowedRegistries) > 0\n"
    "  c := containers[_]\n"
    "  not allowed_registry(c.image)\n"
    "  msg := sprintf(\"allowedRegistries: image %v is not from an allowed registry\", "
    "[c.image])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.requireDigest\n"
    "  c := containers[_]\n"
    "  not regex.match(\"@sha256:[a-f0-9]{64}$\", c.image)\n"
    "  msg := sprintf(\"requireDigest: image %v is not pinned by digest\", [c.image])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.forbidPrivileged\n"
    "  c := containers[_]\n"
    "  c.securityContext.privileged == true\n"
    "  msg := sprintf(\"forbidPrivileged: container %v is privileged\", [c.name])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.forbidPrivileged\n"
    "  c := containers[_]\n"
    "  c.securityContext.allowPrivilegeEscalation == true\n"
    "  msg := sprintf(\"forbidPrivileged: container %v allows privilege escalation\", "
    "[c.name])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.forbidHostNamespaces\n"
    "  f := [\"hostNetwork\", \"hostPID\", \"hostIPC\"][_]\n"
    "  pod_spec(input.review.object)[f] == true\n"
    "  msg := sprintf(\"forbidHostNamespaces: %v is not allowed\", [f])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.forbidHostPath\n"
    "  v := pod_spec(input.review.object).volumes[_]\n"
    "  v.hostPath\n"
    "  msg := sprintf(\"forbidHostPath: volume %v is a hostPath\", [v.name])\n"
    "}\n"
    "\n"
    "run_as_non_root(c) { c.securityContext.runAsNonRoot == true }\n"
    "run_as_non_root(c) {\n"
    "  not c.securityContext.runAsNonRoot == false\n"
    "  pod_spec(input.review.object).securityContext.runAsNonRoot == true\n"
    "}\n"
    "run_as_root(c) { c.securityContext.runAsUser == 0 }\n"
    "run_as_root(c) {\n"
    "  not c.securityContext.runAsUser\n"
    "  pod_spec(input.review.object).securityContext.runAsUser == 0\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.requireRunAsNonRoot\n"
    "  c := containers[_]\n"
    "  not run_as_non_root(c)\n"
    "  msg := sprintf(\"requireRunAsNonRoot: container %v must set runAsNonRoot: true\", "
    "[c.name])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.requireRunAsNonRoot\n"
    "  c := containers[_]\n"
    "  run_as_root(c)\n"
    "  msg := sprintf(\"requireRunAsNonRoot: container %v runs as user 0\", [c.name])\n"
    "}\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.checkCapabilities\n"
    "  c := containers[_]\n"
    "  cap := c.securityContext.capabilities.add[_]\n"
    "  not cap_allowed(cap)\n"
    "  msg := sprintf(\"allowedCapabilities: container %v adds %v\", [c.name, cap])\n"
    "}\n"
    "\n"
    "cap_allowed(cap) { input.parameters.allowedCapabilities[_] == cap }\n"
    "\n"
    "violation[{\"msg\": msg}] {\n"
    "  input.parameters.checkRuntimeClass\n"
    "  not runtime_class_allowed\n"
    "  msg := sprintf(\"runtimeClassNames: the workload must set runtimeClassName to one of %v\", "
    "[input.parameters.runtimeClassNames])\n"
    "}\n"
    "\n"
    "runtime_class_allowed {\n"
    "  pod_spec(input.review.object).runtimeClassName == input.parameters.runtimeClassNames[_]\n"
    "}\n";

static json_t *gatekeeper_template(void)
{
    json_t *props =
        json_pack("{s:{s:s, s:{s:s}}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s},"
                  " s:{s:s, s:{s:s}}, s:{s:s}, s:{s:s, s:{s:s}}}",
                  "allowedRegistries", "type", "array", "items", "type", "string", "requireDigest",
                  "type", "boolean", "forbidPrivileged", "type", "boolean", "forbidHostNamespaces",
                  "type", "boolean", "forbidHostPath", "type", "boolean", "requireRunAsNonRoot",
                  "type", "boolean", "checkCapabilities", "type", "boolean", "allowedCapabilities",
                  "type", "array", "items", "type", "string", "checkRuntimeClass", "type",
                  "boolean", "runtimeClassNames", "type", "array", "items", "type", "string");
    json_t *crd =
        json_pack("{s:{s:{s:s}, s:{s:{s:s, s:o}}}}", "spec", "names", "kind", "SealiftDeployPolicy",
                  "validation", "openAPIV3Schema", "type", "object", "properties", props);
    json_t *targets =
        json_pack("[{s:s, s:s}]", "target", "admission.k8s.gatekeeper.sh", "rego", REGO);
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:o, s:o}}", "apiVersion",
                     "templates.gatekeeper.sh/v1", "kind", "ConstraintTemplate", "metadata", "name",
                     "sealiftdeploypolicy", "labels", "app.kubernetes.io/managed-by", "sealift",
                     "spec", "crd", crd, "targets", targets);
}

static json_t *gatekeeper_constraint(const json_t *policy, const json_t *rules,
                                     const char *policy_name, const char *enforcement,
                                     const char *controller_namespace)
{
    json_t *params = json_object();
    const json_t *regs = json_object_get(rules, "allowedRegistries");
    json_object_set_new(params, "allowedRegistries",
                        json_is_array(regs) ? json_deep_copy(regs) : json_array());
    static const char *const flags[] = {"requireDigest", "forbidPrivileged", "forbidHostNamespaces",
                                        "forbidHostPath", "requireRunAsNonRoot"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        json_object_set_new(params, flags[i], json_boolean(rule_true(rules, flags[i])));
    const json_t *caps = json_object_get(rules, "allowedCapabilities");
    json_object_set_new(params, "checkCapabilities", json_boolean(json_is_array(caps)));
    json_object_set_new(params, "allowedCapabilities",
                        json_is_array(caps) ? json_deep_copy(caps) : json_array());
    const json_t *classes = json_object_get(rules, "runtimeClassNames");
    json_object_set_new(params, "checkRuntimeClass", json_boolean(json_is_array(classes)));
    json_object_set_new(params, "runtimeClassNames",
                        json_is_array(classes) ? json_deep_copy(classes) : json_array());
    /* Gatekeeper's enforcementAction: deny | warn | dryrun */
    const char *action = strcmp(enforcement, "Deny") == 0
                             ? "deny"
                             : (strcmp(enforcement, "Warn") == 0 ? "warn" : "dryrun");
    char *name = sl_xasprintf("%s%s", SL_POLICY_NAME_PREFIX, policy_name);
    json_t *kinds = json_pack("[{s:[s], s:[s,s]}, {s:[s], s:[s,s,s,s]}, {s:[s], s:[s,s]}]",
                              "apiGroups", "", "kinds", "Pod", "ReplicationController", "apiGroups",
                              "apps", "kinds", "Deployment", "StatefulSet", "DaemonSet",
                              "ReplicaSet", "apiGroups", "batch", "kinds", "Job", "CronJob");
    json_t *c =
        json_pack("{s:s, s:s, s:o, s:{s:s, s:{s:o, s:o}, s:o}}", "apiVersion",
                  "constraints.gatekeeper.sh/v1beta1", "kind", "SealiftDeployPolicy", "metadata",
                  metadata_for(name, policy_name), "spec", "enforcementAction", action, "match",
                  "kinds", kinds, "namespaceSelector",
                  sl_policy_namespace_selector(policy, controller_namespace), "parameters", params);
    free(name);
    return c;
}

int sl_policy_render(json_t **out, const json_t *policy, const char *controller_namespace,
                     struct sl_err *err)
{
    const char *policy_name =
        json_string_value(json_object_get(json_object_get(policy, "metadata"), "name"));
    if (!policy_name || !*policy_name)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "metadata.name: Required value");
    const json_t *spec = json_object_get(policy, "spec");
    if (!json_is_object(spec))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec: Required value");
    const json_t *rules = json_object_get(spec, "rules");
    json_t *empty = NULL;
    if (!rules || json_is_null(rules))
        rules = empty = json_object();
    if (!json_is_object(rules)) {
        json_decref(empty);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.rules: must be an object");
    }
    int rc = check_string_array(rules, "allowedRegistries", err);
    if (!rc)
        rc = check_registries(rules, err);
    if (!rc)
        rc = check_verify_images(spec, err);
    if (!rc)
        rc = check_string_array(rules, "allowedCapabilities", err);
    if (!rc)
        rc = check_require_attestations(spec, rules, err);
    if (!rc)
        rc = check_runtime_classes(rules, err);
    const char *enforcement = json_string_value(json_object_get(spec, "enforcement"));
    if (!enforcement)
        enforcement = "Deny";
    if (!rc && strcmp(enforcement, "Deny") && strcmp(enforcement, "Warn") &&
        strcmp(enforcement, "Audit"))
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "spec.enforcement: Unsupported value: \"%s\": supported values: "
                        "\"Deny\", \"Warn\", \"Audit\"",
                        enforcement);
    bool want_vap = false, want_gk = false;
    const json_t *outputs = json_object_get(spec, "outputs");
    if (!rc && (!outputs || json_is_null(outputs) || json_array_size(outputs) == 0)) {
        want_vap = true;
    } else if (!rc) {
        size_t i;
        json_t *o;
        json_array_foreach(outputs, i, o)
        {
            const char *s = json_string_value(o);
            if (s && strcmp(s, "ValidatingAdmissionPolicy") == 0) {
                want_vap = true;
            } else if (s && strcmp(s, "Gatekeeper") == 0) {
                want_gk = true;
            } else {
                rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                "spec.outputs[%zu]: Unsupported value: \"%s\": supported values: "
                                "\"ValidatingAdmissionPolicy\", \"Gatekeeper\"",
                                i, s ? s : "");
                break;
            }
        }
    }
    if (rc) {
        json_decref(empty);
        return rc;
    }

    json_t *objs = json_array();
    char *name = sl_xasprintf("%s%s", SL_POLICY_NAME_PREFIX, policy_name);
    json_t *validations = cel_validations(rules, policy_name);
    if (want_vap && json_array_size(validations) > 0) {
        json_t *variables =
            json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name", "podSpec", "expression",
                      PODSPEC_EXPR, "name", "containers", "expression", CONTAINERS_EXPR, "name",
                      "podSC", "expression", PODSC_EXPR);
        json_t *vap =
            json_pack("{s:s, s:s, s:o, s:{s:s, s:{s:o}, s:o, s:O}}", "apiVersion",
                      "admissionregistration.k8s.io/v1", "kind", "ValidatingAdmissionPolicy",
                      "metadata", metadata_for(name, policy_name), "spec", "failurePolicy", "Fail",
                      "matchConstraints", "resourceRules", match_resource_rules(NULL), "variables",
                      variables, "validations", validations);
        /* enforcement -> validationActions; Audit also needs auditAnnotations to be visible */
        json_t *actions = json_array();
        json_array_append_new(actions, json_string(enforcement));
        json_t *binding =
            json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:{s:o}}}", "apiVersion",
                      "admissionregistration.k8s.io/v1", "kind", "ValidatingAdmissionPolicyBinding",
                      "metadata", metadata_for(name, policy_name), "spec", "policyName", name,
                      "validationActions", actions, "matchResources", "namespaceSelector",
                      sl_policy_namespace_selector(policy, controller_namespace));
        json_array_append_new(objs, vap);
        json_array_append_new(objs, binding);
    }
    json_decref(validations);
    if (want_gk) {
        json_array_append_new(objs, gatekeeper_template());
        json_array_append_new(objs, gatekeeper_constraint(policy, rules, policy_name, enforcement,
                                                          controller_namespace));
    }
    free(name);
    json_decref(empty);
    *out = objs;
    return 0;
}
