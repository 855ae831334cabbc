#include "check.h"
#include "policy/render.h"

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
        CHECK_INT_EQ(sl_policy_render(&objs, p, &err), 0);
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
    json_t *p = policy("{\"rules\":{\"allowedRegistries\":[\"r.example/it's/\"],"
                       "\"forbidHostPath\":true,\"allowedCapabilities\":[]}}");
    json_t *objs = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_render(&objs, p, &err), 0);
    const json_t *vap = find_kind(objs, "ValidatingAdmissionPolicy");
    const json_t *vals = json_object_get(json_object_get(vap, "spec"), "validations");
    CHECK_INT_EQ(json_array_size(vals), 3);
    /* the quote in the prefix is escaped in the CEL string literal */
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(vals, 0), "expression")),
                   "'r.example/it\\'s/'");
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
    CHECK_INT_EQ(sl_policy_render(&objs, p, &err), 0);
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
    CHECK_INT_EQ(sl_policy_render(&objs, p, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.enforcement: Unsupported value: \"Sometimes\"");
    json_decref(p);
    p = policy("{\"rules\":{\"allowedRegistries\":[1]}}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.rules.allowedRegistries[0]");
    json_decref(p);
    p = policy("{\"outputs\":[\"Kyverno\"]}");
    CHECK_INT_EQ(sl_policy_render(&objs, p, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "spec.outputs[0]");
    json_decref(p);
    json_t *nometa = json_pack("{s:{}}", "spec");
    CHECK_INT_EQ(sl_policy_render(&objs, nometa, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "metadata.name");
    json_decref(nometa);
}

int main(void)
{
    RUN(test_enforcement_maps_to_validation_actions);
    RUN(test_one_validation_per_rule);
    RUN(test_gatekeeper_output);
    RUN(test_bad_input_names_the_field);
    return CHECK_EXIT();
}
