#include "policy/render.h"
#include "util/buf.h"
#include "util/mem.h"

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

static json_t *cel_validations(const json_t *rules, const char *policy_name)
{
    json_t *vals = json_array();
    struct sl_buf b;

    const json_t *regs = json_object_get(rules, "allowedRegistries");
    if (json_is_array(regs) && json_array_size(regs) > 0) {
        sl_buf_init(&b, 0);
        sl_buf_append_str(&b, "variables.containers.all(c, ");
        cel_string_list(&b, regs);
        sl_buf_append_str(&b, ".exists(p, c.image.startsWith(p)))");
        add_rule_validation(vals, policy_name, "allowedRegistries", sl_buf_cstr(&b),
                            "every image must come from an allowed registry");
        sl_buf_free(&b);
    }
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
    return vals;
}

static json_t *match_resource_rules(void)
{
    return json_pack("[{s:[s], s:[s], s:[s,s], s:[s]},"
                     " {s:[s], s:[s], s:[s,s], s:[s,s,s,s]},"
                     " {s:[s], s:[s], s:[s,s], s:[s,s]}]",
                     "apiGroups", "", "apiVersions", "v1", "operations", "CREATE", "UPDATE",
                     "resources", "pods", "apiGroups", "apps", "apiVersions", "v1", "operations",
                     "CREATE", "UPDATE", "resources", "deployments", "statefulsets", "daemonsets",
                     "replicasets", "apiGroups", "batch", "apiVersions", "v1", "operations",
                     "CREATE", "UPDATE", "resources", "jobs", "cronjobs");
}

static json_t *metadata_for(const char *name, const char *policy_name)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "name", name, "labels", "app.kubernetes.io/managed-by",
                     "sealift", SL_POLICY_LABEL, policy_name);
}

/* The namespaceSelector of the policy, or an empty selector (all namespaces). */
static json_t *namespace_selector(const json_t *spec)
{
    const json_t *sel = json_object_get(spec, "namespaceSelector");
    return json_is_object(sel) ? json_deep_copy(sel) : json_object();
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
    "allowed_registry(img) {\n"
    "  p := input.parameters.allowedRegistries[_]\n"
    "  startswith(img, p)\n"
    "}\n"
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
    "cap_allowed(cap) { input.parameters.allowedCapabilities[_] == cap }\n";

static json_t *gatekeeper_template(void)
{
    json_t *props =
        json_pack("{s:{s:s, s:{s:s}}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s},"
                  " s:{s:s, s:{s:s}}}",
                  "allowedRegistries", "type", "array", "items", "type", "string", "requireDigest",
                  "type", "boolean", "forbidPrivileged", "type", "boolean", "forbidHostNamespaces",
                  "type", "boolean", "forbidHostPath", "type", "boolean", "requireRunAsNonRoot",
                  "type", "boolean", "checkCapabilities", "type", "boolean", "allowedCapabilities",
                  "type", "array", "items", "type", "string");
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

static json_t *gatekeeper_constraint(const json_t *spec, const json_t *rules,
                                     const char *policy_name, const char *enforcement)
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
    /* Gatekeeper's enforcementAction: deny | warn | dryrun */
    const char *action = strcmp(enforcement, "Deny") == 0
                             ? "deny"
                             : (strcmp(enforcement, "Warn") == 0 ? "warn" : "dryrun");
    char *name = sl_xasprintf("%s%s", SL_POLICY_NAME_PREFIX, policy_name);
    json_t *kinds =
        json_pack("[{s:[s], s:[s]}, {s:[s], s:[s,s,s,s]}, {s:[s], s:[s,s]}]", "apiGroups", "",
                  "kinds", "Pod", "apiGroups", "apps", "kinds", "Deployment", "StatefulSet",
                  "DaemonSet", "ReplicaSet", "apiGroups", "batch", "kinds", "Job", "CronJob");
    json_t *c = json_pack("{s:s, s:s, s:o, s:{s:s, s:{s:o, s:o}, s:o}}", "apiVersion",
                          "constraints.gatekeeper.sh/v1beta1", "kind", "SealiftDeployPolicy",
                          "metadata", metadata_for(name, policy_name), "spec", "enforcementAction",
                          action, "match", "kinds", kinds, "namespaceSelector",
                          namespace_selector(spec), "parameters", params);
    free(name);
    return c;
}

int sl_policy_render(json_t **out, const json_t *policy, struct sl_err *err)
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
        rc = check_string_array(rules, "allowedCapabilities", err);
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
                      "matchConstraints", "resourceRules", match_resource_rules(), "variables",
                      variables, "validations", validations);
        /* enforcement -> validationActions; Audit also needs auditAnnotations to be visible */
        json_t *actions = json_array();
        json_array_append_new(actions, json_string(enforcement));
        json_t *binding =
            json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:{s:o}}}", "apiVersion",
                      "admissionregistration.k8s.io/v1", "kind", "ValidatingAdmissionPolicyBinding",
                      "metadata", metadata_for(name, policy_name), "spec", "policyName", name,
                      "validationActions", actions, "matchResources", "namespaceSelector",
                      namespace_selector(spec));
        json_array_append_new(objs, vap);
        json_array_append_new(objs, binding);
    }
    json_decref(validations);
    if (want_gk) {
        json_array_append_new(objs, gatekeeper_template());
        json_array_append_new(objs, gatekeeper_constraint(spec, rules, policy_name, enforcement));
    }
    free(name);
    json_decref(empty);
    *out = objs;
    return 0;
}
