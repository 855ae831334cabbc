#include "check.h"
#include "policy/render.h"
#include "util/mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static json_t *policy(const char *spec_json)
{
    json_error_t jerr;
    json_t *spec = json_loads(spec_json, 0, &jerr);
    if (!spec)
        fprintf(stderr, "bad test JSON: %s\n", jerr.text);
    return json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", "sealift.dev/v1alpha1", "kind",
                     "DeployPolicy", "metadata", "name", "p1", "spec", spec);
}

static const json_t *find_kind(const json_t *objs, const char *kind)
{
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0)
            return o;
    }
    return NULL;
}

static void test_enforcement_maps_to_validation_actions(void)
{
    const char *modes[] = {"Deny", "Warn", "Audit"};
    for (int i = 0; i < 3; i++) {
        char spec[256];
        snprintf(spec, sizeof(spec),
                 "{\"enforcement\":\"%s\",\"rules\":{\"requireDigest\":true},"
                 "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"a\"}}}",
                 modes[i]);
        json_t *p = policy(spec);
        json_t *objs = NULL;
        struct sl_err err = {0};
        CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
        const json_t *b = find_kind(objs, "ValidatingAdmissionPolicyBinding");
        CHECK(b != NULL);
        const json_t *spec_b = json_object_get(b, "spec");
        CHECK_STR_EQ(
            json_string_value(json_array_get(json_object_get(spec_b, "validationActions"), 0)),
            modes[i]);
        CHECK_STR_EQ(json_string_value(json_object_get(spec_b, "policyName")), "sealift-p1");
        CHECK_STR_EQ(json_string_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(spec_b, "matchResources"),
                                                         "namespaceSelector"),
                                         "matchLabels"),
                         "team")),
                     "a");
        json_decref(objs);
        json_decref(p);
    }
}

static void test_one_validation_per_rule(void)
{
    json_t *p = policy("{\"rules\":{\"allowedRegistries\":[\"r.example/mirror/\"],"
                       "\"forbidHostPath\":true,\"allowedCapabilities\":[]}}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    const json_t *vap = find_kind(objs, "ValidatingAdmissionPolicy");
    const json_t *vals = json_object_get(json_object_get(vap, "spec"), "validations");
    CHECK_INT_EQ(json_array_size(vals), 3);
    /* the trailing '/' of an entry is not significant: one path prefix, one repository */
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(vals, 0), "expression")),
                   "['r.example/mirror/'].exists(p, c.image.startsWith(p)) || "
                   "['r.example/mirror'].exists(r, c.image == r || ");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(vap, "spec"), "failurePolicy")),
                 "Fail");
    CHECK(find_kind(objs, "ConstraintTemplate") == NULL);
    json_decref(objs);
    json_decref(p);
}

static void test_gatekeeper_output(void)
{
    json_t *p = policy("{\"enforcement\":\"Warn\",\"outputs\":[\"Gatekeeper\"],"
                       "\"rules\":{\"forbidPrivileged\":true}}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    CHECK(find_kind(objs, "ValidatingAdmissionPolicy") == NULL);
    const json_t *tmpl = find_kind(objs, "ConstraintTemplate");
    CHECK(tmpl != NULL);
    const json_t *c = find_kind(objs, "SealiftDeployPolicy");
    CHECK(c != NULL);
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(c, "spec"), "enforcementAction")),
        "warn");
    CHECK(json_is_true(json_object_get(json_object_get(json_object_get(c, "spec"), "parameters"),
                                       "forbidPrivileged")));
    json_decref(objs);
    json_decref(p);
}

static void test_bad_input_names_the_field(void)
{
    struct sl_err err = {0};
    json_t *objs = NULL;
    json_t *p = policy("{\"enforcement\":\"Sometimes\"}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.enforcement: Unsupported value: \"Sometimes\"");
    json_decref(p);
    p = policy("{\"rules\":{\"allowedRegistries\":[1]}}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.rules.allowedRegistries[0]");
    json_decref(p);
    /* a trusted key must be pinned */
    p = policy("{\"verifyImages\":[{\"imageReferences\":[\"*\"],\"authorities\":[{\"name\":"
               "\"k\",\"key\":{\"signingKeyRef\":{\"namespace\":\"v\",\"name\":\"k\"}}}]}]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.verifyImages[0].authorities[0].key.signingKeyRef.fingerprint: "
                            "Required");
    json_decref(p);
    p = policy("{\"verifyImages\":[{\"imageReferences\":[\"*\"],\"authorities\":[]}]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.verifyImages[0].authorities: Required value");
    json_decref(p);
    p = policy("{\"verifyImages\":[{\"imageReferences\":[\"*\"]}]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.verifyImages[0]: Required value: needs authorities or "
                            "requireScanPassed");
    json_decref(p);
    p = policy("{\"outputs\":[\"Kyverno\"]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.outputs[0]");
    json_decref(p);
    json_t *nometa = json_pack("{s:{}}", "spec");
    CHECK_INT_EQ(sl_policy_render(&objs, nometa, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "metadata.name");
    json_decref(nometa);
}

#define FP "sha256:bbb84394f85b56bff7c6bf119cf852a68cc7214e0290144a7e85ab88e3f338cd"
/* one verifyImages entry for every image, signed by SigningKey v/k pinned to FP */
#define SIG                                                                                        \
    "\"verifyImages\":[{\"imageReferences\":[\"*\"],\"authorities\":[{\"name\":\"k\","             \
    "\"key\":{\"signingKeyRef\":{\"namespace\":\"v\",\"name\":\"k\",\"fingerprint\":\"" FP         \
    "\"}}}]}]"

static const json_t *selector_expression(const json_t *sel, const char *key)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
            return e;
    }
    return NULL;
}

/* Registry entries match on reference boundaries: a raw prefix would let
 * "registry.example/mirror" admit "registry.example/mirror-evil/x" and "registry.example" admit
 * "registry.example.evil.com/x". The CEL tests (tests/cel) evaluate these expressions; here:
 * what is rendered, and which entries are refused. */
static void test_registries_render_on_boundaries(void)
{
    json_t *p = policy("{\"rules\":{\"allowedRegistries\":[\"registry.example\","
                       "\"registry.example/mirror\",\"localhost:5000/a/b//\"]}}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    const json_t *vap = find_kind(objs, "ValidatingAdmissionPolicy");
    const char *expr = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(vap, "spec"), "validations"), 0),
        "expression"));
    CHECK_CONTAINS(expr, "['registry.example/', 'registry.example/mirror/', 'localhost:5000/a/b/']"
                         ".exists(p, c.image.startsWith(p))");
    /* a host alone is never a repository (that would admit "registry.example:5000/...") */
    CHECK_CONTAINS(expr, "['registry.example/mirror', 'localhost:5000/a/b'].exists(r, c.image == r"
                         " || c.image.startsWith(r + ':') || c.image.startsWith(r + '@'))");
    json_decref(objs);
    json_decref(p);

    static const char *const bad[] = {
        "mirror",                   /* a Docker Hub namespace, not a registry host */
        "registry.example/mirror*", /* no wildcards */
        "registry.example/app:1.0", /* no tag */
        "registry.example/app@sha256:abc",
        "registry.example/../x",
        "registry.example/it's",
        "registry.example:/x",
        ".example/x",
        "registry.example/UPPER",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "{\"rules\":{\"allowedRegistries\":[\"ok.example\",\"%s\"]}}",
                 bad[i]);
        p = policy(spec);
        objs = NULL;
        CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, "spec.rules.allowedRegistries[1]: Invalid value");
        CHECK_CONTAINS(err.msg, bad[i]);
        CHECK(objs == NULL);
        json_decref(p);
    }
}

static bool rule_has(const json_t *rules, const char *resource, const char *operation,
                     const char *scope)
{
    size_t i, j, k;
    json_t *r, *res, *op;
    json_array_foreach(rules, i, r)
    {
        json_array_foreach(json_object_get(r, "resources"), j, res)
        {
            if (strcmp(json_string_value(res), resource) != 0)
                continue;
            const char *sc = json_string_value(json_object_get(r, "scope"));
            if (scope ? (!sc || strcmp(sc, scope) != 0) : sc != NULL)
                continue;
            json_array_foreach(json_object_get(r, "operations"), k, op)
            {
                if (strcmp(json_string_value(op), operation) == 0)
                    return true;
            }
        }
    }
    return false;
}

/* `kubectl debug --image=...` adds an ephemeral container with an UPDATE of the
 * pods/ephemeralcontainers subresource, which a rule on "pods" does not match; a running Pod's
 * image can be changed with an UPDATE of the Pod; ReplicationControllers have pod templates. */
static void test_every_path_into_a_pod_is_matched(void)
{
    json_t *p = policy("{\"rules\":{\"forbidPrivileged\":true}," SIG "}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    const json_t *vap = find_kind(objs, "ValidatingAdmissionPolicy");
    const json_t *rules = json_object_get(
        json_object_get(json_object_get(vap, "spec"), "matchConstraints"), "resourceRules");
    CHECK(rule_has(rules, "pods/ephemeralcontainers", "UPDATE", NULL));
    CHECK(rule_has(rules, "pods", "CREATE", NULL));
    CHECK(rule_has(rules, "pods", "UPDATE", NULL));
    CHECK(rule_has(rules, "replicationcontrollers", "CREATE", NULL));
    CHECK(rule_has(rules, "cronjobs", "UPDATE", NULL));
    /* the pod spec of every kind walks ephemeral and init containers */
    const json_t *vars = json_object_get(json_object_get(vap, "spec"), "variables");
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(vars, 1), "expression")),
                   "variables.podSpec.ephemeralContainers");
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(vars, 1), "expression")),
                   "variables.podSpec.initContainers");

    struct sl_policy_webhook_opts wo = {.service_namespace = "sealift-system",
                                        .service_name = "sealift-webhook",
                                        .service_port = 443,
                                        .ca_bundle = "Q0E=",
                                        .controller_namespace = "sealift-system",
                                        .timeout_seconds = 10};
    json_t *vwc = sl_policy_render_webhook(p, &wo);
    const json_t *hook = json_array_get(json_object_get(vwc, "webhooks"), 0);
    const json_t *hrules = json_object_get(hook, "rules");
    CHECK(rule_has(hrules, "pods/ephemeralcontainers", "UPDATE", "Namespaced"));
    CHECK(rule_has(hrules, "pods", "UPDATE", "Namespaced"));
    CHECK(rule_has(hrules, "replicationcontrollers", "CREATE", "Namespaced"));
    CHECK(rule_has(hrules, "deployments", "CREATE", "Namespaced"));
    CHECK_STR_EQ(json_string_value(json_object_get(hook, "failurePolicy")), "Fail");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_object_get(hook, "clientConfig"), "service"), "path")),
                 "/admission/p1");
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(hook, "clientConfig"), "caBundle")),
        "Q0E=");
    json_decref(vwc);
    wo.ca_bundle = NULL;
    vwc = sl_policy_render_webhook(p, &wo);
    hook = json_array_get(json_object_get(vwc, "webhooks"), 0);
    CHECK(json_object_get(json_object_get(hook, "clientConfig"), "caBundle") == NULL);
    json_decref(vwc);
    json_decref(objs);
    json_decref(p);
}

/* With the webhook down (fail closed), a Pod in kube-system or in sealift's own namespace could
 * not come back: both are excluded from every selector unless the policy opts in. */
static void test_system_namespaces_excluded_by_default(void)
{
    json_t *p = policy("{\"rules\":{\"requireDigest\":true},\"verifyImages\":[{"
                       "\"imageReferences\":[\"*\"],\"requireScanPassed\":"
                       "{\"scanPolicyRefs\":[{\"namespace\":\"v\",\"name\":\"s\"}]}}],"
                       "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"a\"},"
                       "\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Exists\"}]}}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, "sealift-ops", &err), 0);
    const json_t *b = find_kind(objs, "ValidatingAdmissionPolicyBinding");
    const json_t *sel = json_object_get(
        json_object_get(json_object_get(b, "spec"), "matchResources"), "namespaceSelector");
    const json_t *e = selector_expression(sel, "kubernetes.io/metadata.name");
    CHECK(e != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(e, "operator")), "NotIn");
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(e, "values"), 0)), "kube-system");
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(e, "values"), 1)), "sealift-ops");
    /* the policy's own selector is kept */
    CHECK(selector_expression(sel, "tier") != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(sel, "matchLabels"), "team")),
                 "a");
    json_decref(objs);

    struct sl_policy_webhook_opts wo = {.service_namespace = "sealift-ops",
                                        .service_name = "sealift-webhook",
                                        .service_port = 443,
                                        .controller_namespace = "sealift-ops",
                                        .timeout_seconds = 10};
    json_t *vwc = sl_policy_render_webhook(p, &wo);
    sel = json_object_get(json_array_get(json_object_get(vwc, "webhooks"), 0), "namespaceSelector");
    e = selector_expression(sel, "kubernetes.io/metadata.name");
    CHECK(e != NULL);
    CHECK_INT_EQ((int)json_array_size(json_object_get(e, "values")), 2);
    json_decref(vwc);
    json_decref(p);

    /* opting in: the selector is the policy's own */
    p = policy("{\"includeSystemNamespaces\":true,\"rules\":{\"requireDigest\":true}}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, "sealift-ops", &err), 0);
    b = find_kind(objs, "ValidatingAdmissionPolicyBinding");
    sel = json_object_get(json_object_get(json_object_get(b, "spec"), "matchResources"),
                          "namespaceSelector");
    CHECK(json_object_size(sel) == 0);
    json_decref(objs);
    json_decref(p);
}

/* What the API server refuses (strict field validation) render refuses too, naming the field. */
static void test_fields_checked_like_the_api_server(void)
{
    static const struct {
        const char *spec;
        const char *path;
        const char *msg;
    } bad[] = {
        {"{\"rules\":{\"allowedRegistry\":[\"r.example\"]}}", "spec.rules.allowedRegistry",
         "spec.rules.allowedRegistry: unknown field"},
        {"{\"rules\":{\"requireDigets\":true}}", "spec.rules.requireDigets",
         "spec.rules.requireDigets: unknown field"},
        {"{\"rule\":{}}", "spec.rule", "spec.rule: unknown field"},
        {"{\"verifyImages\":[{\"imageReferences\":[\"*\"],\"authorities\":[{\"name\":\"k\","
         "\"key\":{\"signingKeyRef\":{\"name\":\"k\",\"namespace\":\"v\",\"fingerprnt\":"
         "\"x\"}}}]}]}",
         "spec.verifyImages[0].authorities[0].key.signingKeyRef.fingerprnt", "unknown field"},
        {"{\"rules\":{\"requireSignature\":{}}}", "spec.rules.requireSignature", "unknown field"},
        {"{\"verifyImages\":[{\"imageReferences\":\"*\"}]}", "spec.verifyImages[0].imageReferences",
         "must be of type array"},
        {"{\"rules\":{\"requireDigest\":\"true\"}}", "spec.rules.requireDigest",
         "Invalid value: \"string\": must be of type boolean"},
        {"{\"rules\":{\"allowedRegistries\":\"r.example\"}}", "spec.rules.allowedRegistries",
         "must be of type array"},
        {"{\"rules\":{\"allowedCapabilities\":[1]}}", "spec.rules.allowedCapabilities[0]",
         "Invalid value: \"integer\": must be of type string"},
        {"{\"enforcement\":\"deny\"}", "spec.enforcement",
         "Unsupported value: \"deny\": supported values: \"Deny\", \"Warn\", \"Audit\""},
        {"{\"outputs\":[\"Kyverno\"]}", "spec.outputs[0]", "Unsupported value: \"Kyverno\""},
        {"{\"namespaceSelector\":{\"matchLabels\":{\"a\":true}}}",
         "spec.namespaceSelector.matchLabels.a", "must be of type string"},
        {"{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"in\"}]}}",
         "spec.namespaceSelector.matchExpressions[0].operator", "Unsupported value: \"in\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *p = policy(bad[i].spec);
        struct sl_policy_field_problem pr[4];
        CHECK_INT_EQ(sl_policy_check_fields(pr, 4, p), 1);
        CHECK_STR_EQ(pr[0].path, bad[i].path);
        CHECK_CONTAINS(pr[0].msg, bad[i].msg);
        json_decref(p);
    }
    /* all of them, in document order, up to the caller's bound */
    json_t *many = policy("{\"rules\":{\"allowedRegistry\":[\"r.example\"],\"requireDigets\":true,"
                          "\"requireDigest\":1},\"enforcment\":\"Deny\"}");
    struct sl_policy_field_problem pr[3];
    CHECK_INT_EQ(sl_policy_check_fields(pr, 3, many), 3);
    CHECK_STR_EQ(pr[0].path, "spec.rules.allowedRegistry");
    CHECK_STR_EQ(pr[1].path, "spec.rules.requireDigets");
    CHECK_STR_EQ(pr[2].path, "spec.rules.requireDigest");
    CHECK_INT_EQ(sl_policy_check_fields(pr, 1, many), 1);
    json_decref(many);
    /* every field of the schema, nulls (pruned by the API server) and preserved fields pass */
    json_t *p = policy(
        "{\"namespaceSelector\":{\"matchLabels\":{\"a\":\"b\"},\"matchExpressions\":[{\"key\":"
        "\"t\",\"operator\":\"In\",\"values\":[\"x\"]}]},\"includeSystemNamespaces\":false,"
        "\"enforcement\":\"Warn\",\"outputs\":[\"Gatekeeper\"],\"rules\":{\"allowedRegistries\":"
        "[\"r.example\"],\"requireDigest\":true,\"forbidPrivileged\":true,"
        "\"forbidHostNamespaces\":null,\"forbidHostPath\":false,\"requireRunAsNonRoot\":true,"
        "\"allowedCapabilities\":[]},\"verifyImages\":[{\"imageReferences\":[\"*\"],"
        "\"authorities\":[{\"name\":\"k\",\"key\":{\"signingKeyRef\":{\"namespace\":\"v\","
        "\"name\":\"k\",\"fingerprint\":\"sha256:00\"}}}],\"requireScanPassed\":{"
        "\"scanPolicyRefs\":[{\"namespace\":\"v\",\"name\":\"s\"}]}}]}");
    json_object_set_new(p, "status", json_pack("{s:[]}", "conditions"));
    json_object_set_new(json_object_get(p, "metadata"), "uid", json_string("u"));
    CHECK_INT_EQ(sl_policy_check_fields(pr, 3, p), 0);
    json_decref(p);
}

/* Entries scoped by image reference globs render (in order, each with its own checks); a
 * pattern that is no image reference glob is refused naming it. */
static void test_scoped_verify_images(void)
{
    json_t *p =
        policy("{\"verifyImages\":[{\"imageReferences\":[\"registry.vendor.example/*\","
               "\"registry.vendor.example/*/*\"],\"authorities\":[{\"name\":\"k\",\"key\":"
               "{\"signingKeyRef\":{\"namespace\":\"v\",\"name\":\"k\",\"fingerprint\":\"" FP
               "\"}}}]},{\"imageReferences\":[\"*\"],\"requireScanPassed\":{\"scanPolicyRefs\":"
               "[{\"namespace\":\"v\",\"name\":\"s\"}]}}]}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    CHECK(sl_policy_needs_webhook(p));
    json_decref(objs);
    json_decref(p);
    p = policy("{\"verifyImages\":[{\"imageReferences\":[\"registry.vendor.example/a b\"],"
               "\"requireScanPassed\":{\"scanPolicyRefs\":[{\"namespace\":\"v\",\"name\":"
               "\"s\"}]}}]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.verifyImages[0].imageReferences[0]: Invalid value");
    json_decref(p);
}

/* verifyImages needs the webhook: the controller creates a ValidatingWebhookConfiguration for
 * it, and an entry naming no ScanPolicy (v1alpha1's `requireScanPassed: true`) is refused. */
static void test_webhook_rules(void)
{
    json_t *p = policy("{" SIG "}");
    CHECK(sl_policy_needs_webhook(p));
    json_decref(p);
    p = policy("{\"rules\":{\"requireDigest\":true}}");
    CHECK(!sl_policy_needs_webhook(p));
    json_decref(p);
    p = policy("{\"verifyImages\":[{\"imageReferences\":[\"*\"],\"requireScanPassed\":{}}]}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.verifyImages[0].requireScanPassed.scanPolicyRefs: Required "
                            "value: requireScanPassed must name the ScanPolicies it trusts");
    json_decref(p);
}

/* requireAttestations goes to the webhook, with its keys; entries a user gets wrong are refused
 * naming the field. */
static void test_require_attestations(void)
{
    struct sl_err err = {0};
    json_t *objs = NULL;
    json_t *p = policy("{" SIG ",\"rules\":{\"requireAttestations\":[{\"type\":\"vuln\","
                       "\"maxAge\":\"168h\",\"severityThreshold\":\"Critical\"},{\"type\":"
                       "\"https://example.com/provenance/v1\"}]}}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    CHECK(sl_policy_needs_webhook(p));
    struct sl_policy_field_problem probs[4];
    CHECK_INT_EQ((int)sl_policy_check_fields(probs, 4, p), 0);
    json_decref(objs);
    json_decref(p);
    static const struct {
        const char *rules, *msg;
    } bad[] = {
        {"\"rules\":{\"requireAttestations\":[{\"type\":\"vuln\"}]}",
         "verified with the keys of spec.verifyImages[].authorities"},
        {SIG ",\"rules\":{\"requireAttestations\":[{\"type\":\"vulns\"}]}",
         "spec.rules.requireAttestations[0].type: Invalid value"},
        {SIG ",\"rules\":{\"requireAttestations\":[{\"type\":\"vuln\"},{\"type\":\"vuln\"}]}",
         "spec.rules.requireAttestations[1].type: Duplicate value"},
        {SIG ",\"rules\":{\"requireAttestations\":[{\"type\":\"vuln\",\"maxAge\":\"a week\"}]}",
         "spec.rules.requireAttestations[0].maxAge: Invalid value"},
        {SIG ",\"rules\":{\"requireAttestations\":[{\"type\":\"sbom\",\"severityThreshold\":"
             "\"High\"}]}",
         "severityThreshold: Forbidden: applies to type vuln only"},
        {SIG ",\"rules\":{\"requireAttestations\":[]}", "must be a list of at least one"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = sl_xasprintf("{%s}", bad[i].rules);
        p = policy(text);
        CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        json_decref(p);
        free(text);
    }
    p = policy("{\"rules\":{\"requireAttestations\":[{\"type\":\"vuln\",\"maxage\":\"1h\"}]}}");
    CHECK_INT_EQ((int)sl_policy_check_fields(probs, 4, p), 1);
    CHECK_STR_EQ(probs[0].path, "spec.rules.requireAttestations[0].maxage");
    json_decref(p);
}

/* runtimeClassNames is a CEL rule naming the allowed classes; not a webhook rule by itself. */
static void test_runtime_class_names(void)
{
    struct sl_err err = {0};
    json_t *objs = NULL;
    json_t *p = policy("{\"rules\":{\"runtimeClassNames\":[\"gvisor\",\"kata\"]},"
                       "\"outputs\":[\"ValidatingAdmissionPolicy\",\"Gatekeeper\"]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), 0);
    CHECK(!sl_policy_needs_webhook(p));
    const json_t *vap = find_kind(objs, "ValidatingAdmissionPolicy");
    const json_t *v =
        json_array_get(json_object_get(json_object_get(vap, "spec"), "validations"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(v, "expression")),
                 "has(variables.podSpec.runtimeClassName) && variables.podSpec.runtimeClassName "
                 "in ['gvisor', 'kata']");
    CHECK_CONTAINS(json_string_value(json_object_get(v, "message")),
                   "runtimeClassNames: every workload must set runtimeClassName to one of gvisor, "
                   "kata");
    const json_t *c = find_kind(objs, "SealiftDeployPolicy");
    const json_t *params = json_object_get(json_object_get(c, "spec"), "parameters");
    CHECK(json_is_true(json_object_get(params, "checkRuntimeClass")));
    CHECK_INT_EQ((int)json_array_size(json_object_get(params, "runtimeClassNames")), 2);
    json_decref(objs);
    json_decref(p);
    p = policy("{\"rules\":{\"runtimeClassNames\":[\"Kata_QEMU\"]}}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.rules.runtimeClassNames[0]: Invalid value: \"Kata_QEMU\"");
    json_decref(p);
}

int main(void)
{
    RUN(test_require_attestations);
    RUN(test_runtime_class_names);
    RUN(test_fields_checked_like_the_api_server);
    RUN(test_webhook_rules);
    RUN(test_scoped_verify_images);
    RUN(test_enforcement_maps_to_validation_actions);
    RUN(test_one_validation_per_rule);
    RUN(test_gatekeeper_output);
    RUN(test_bad_input_names_the_field);
    RUN(test_registries_render_on_boundaries);
    RUN(test_every_path_into_a_pod_is_matched);
    RUN(test_system_namespaces_excluded_by_default);
    return CHECK_EXIT();
}
