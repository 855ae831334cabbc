/* Harbor vulnerability reports (Pluggable Scanner API v1.1) <-> sealift findings: parsing an
 * adapter's report, the ScanPolicy rules applied to those findings exactly as to builtin ones
 * (threshold, ignoreUnfixed = empty fix_version, allowlist with expiry), malformed reports, and
 * rendering sealift's own report back (round trip). argv[1] is tests/data/scan. */
#include "check.h"
#include "scan/harbor.h"
#include "scan/policy.h"
#include "scan/scanner.h"
#include "testutil.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

static const struct sl_finding *find(const struct sl_scan_report *rep, const char *id)
{
    for (size_t i = 0; i < rep->nfindings; i++)
        if (strcmp(rep->findings[i].id, id) == 0)
            return &rep->findings[i];
    return NULL;
}

static void test_parse_report(void)
{
    size_t len = 0;
    char *json = read_data("harbor/report.json", &len);
    CHECK(json != NULL);
    struct sl_scan_report rep;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
    CHECK_INT_EQ(rep.nfindings, 7); /* the duplicate CVE-2023-4911 item is kept once */
    const struct sl_finding *f = find(&rep, "CVE-2099-0001");
    CHECK(f != NULL);
    if (f) {
        CHECK_STR_EQ(f->pkg, "libc6");
        CHECK_STR_EQ(f->installed, "2.36-9+deb12u1");
        CHECK_STR_EQ(f->fixed, "2.36-9+deb12u4");
        CHECK_INT_EQ(f->severity, SL_SEV_CRITICAL);
        CHECK_STR_EQ(f->summary, "a test advisory");
        CHECK_STR_EQ(f->source, "harbor");
    }
    f = find(&rep, "CVE-2024-0002"); /* fix_version "" = no fix */
    CHECK(f && f->fixed == NULL && f->severity == SL_SEV_HIGH);
    f = find(&rep, "CVE-2024-0003"); /* fix_version absent */
    CHECK(f && f->fixed == NULL && f->severity == SL_SEV_MEDIUM);
    f = find(&rep, "CVE-2024-0005");
    CHECK(f && f->severity == SL_SEV_NONE);
    f = find(&rep, "CVE-2024-0006");
    CHECK(f && f->severity == SL_SEV_UNKNOWN);
    sl_scan_report_free(&rep);
    free(json);
}

static void test_policy_on_adapter_findings(void)
{
    size_t len = 0;
    char *json = read_data("harbor/report.json", &len);
    struct sl_scan_report rep;
    struct sl_err err = {0};

    /* threshold High: Critical and High block; counts cover every severity */
    struct sl_scan_policy pol = {
        .fail_on_enabled = true, .fail_on = SL_SEV_HIGH, .now = time(NULL)};
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
    sl_scan_apply_policy(&rep, &pol);
    CHECK(!rep.passed && rep.vuln_failed);
    CHECK_INT_EQ(rep.counts[SL_SEV_CRITICAL], 1);
    CHECK_INT_EQ(rep.counts[SL_SEV_HIGH], 2);
    CHECK_INT_EQ(rep.counts[SL_SEV_MEDIUM], 1);
    CHECK_INT_EQ(rep.counts[SL_SEV_LOW], 1);
    CHECK_INT_EQ(rep.counts[SL_SEV_NONE], 1);
    CHECK_INT_EQ(rep.counts[SL_SEV_UNKNOWN], 1);
    CHECK_STR_EQ(rep.findings[0].id, "CVE-2099-0001"); /* sorted: worst first */
    sl_scan_report_free(&rep);

    /* allowlist the Critical and High (one entry expired: it does not count), ignoreUnfixed
     * drops the unfixed High: still blocked by the High whose allowlist entry expired */
    struct sl_allow_entry allow[] = {
        {.id = "CVE-2099-0001", .until = 0, .reason = "not reachable"},
        {.id = "CVE-2023-4911", .until = time(NULL) - 3600, .reason = NULL},
    };
    pol.allow = allow;
    pol.nallow = 2;
    pol.ignore_unfixed = true;
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
    sl_scan_apply_policy(&rep, &pol);
    CHECK(find(&rep, "CVE-2024-0002") == NULL);
    CHECK(find(&rep, "CVE-2024-0005") == NULL);
    const struct sl_finding *f = find(&rep, "CVE-2099-0001");
    CHECK(f && f->allowlisted && f->allow_reason && strcmp(f->allow_reason, "not reachable") == 0);
    CHECK_INT_EQ(rep.counts[SL_SEV_CRITICAL], 0);
    CHECK_INT_EQ(rep.counts[SL_SEV_HIGH], 1);
    CHECK(!rep.passed);
    /* applying again changes nothing (the gate may re-apply) */
    sl_scan_apply_policy(&rep, &pol);
    CHECK_INT_EQ(rep.counts[SL_SEV_HIGH], 1);
    sl_scan_report_free(&rep);

    /* with the High allowlisted too, the image passes */
    allow[1].until = time(NULL) + 3600;
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
    sl_scan_apply_policy(&rep, &pol);
    CHECK(rep.passed);
    sl_scan_report_free(&rep);

    /* report only */
    struct sl_scan_policy none = {.now = time(NULL)};
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
    sl_scan_apply_policy(&rep, &none);
    CHECK(rep.passed);
    CHECK_INT_EQ(rep.nfindings, 7);
    sl_scan_report_free(&rep);
    free(json);
}

/* A v1beta1 ScanPolicy spec parsed and applied to the adapter's findings: action Block (the
 * default) blocks at the threshold, action Warn reports the same findings and never blocks on
 * them; v1alpha1's threshold None and an unknown action are refused naming the field. */
static json_t *parse_spec(struct sl_scanpolicy_rules *rules, const char *text, int want_rc,
                          struct sl_err *err)
{
    json_t *spec = json_loads(text, 0, NULL);
    CHECK(spec != NULL);
    CHECK_INT_EQ(sl_scanpolicy_rules_parse(rules, spec, err), want_rc);
    return spec;
}

static void test_action_block_and_warn(void)
{
    size_t len = 0;
    char *json = read_data("harbor/report.json", &len);
    struct sl_scan_report rep;
    struct sl_err err = {0};
    struct sl_scanpolicy_rules rules;
    const char *specs[] = {"{\"severityThreshold\": \"Critical\"}",
                           "{\"severityThreshold\": \"Critical\", \"action\": \"Block\"}",
                           "{\"severityThreshold\": \"Critical\", \"action\": \"Warn\"}"};
    for (int i = 0; i < 3; i++) {
        json_t *spec = parse_spec(&rules, specs[i], 0, &err);
        CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
        sl_scan_apply_policy(&rep, &rules.pol);
        CHECK_INT_EQ(rep.counts[SL_SEV_CRITICAL], 1); /* reported either way */
        CHECK(rep.passed == (i == 2));
        sl_scan_report_free(&rep);
        sl_scanpolicy_rules_free(&rules);
        json_decref(spec);
    }
    json_t *spec = parse_spec(&rules, "{\"severityThreshold\": \"None\"}", SL_EINVAL, &err);
    CHECK_CONTAINS(err.msg, "spec.severityThreshold: Unsupported value: \"None\"");
    json_decref(spec);
    spec = parse_spec(&rules, "{\"action\": \"Ignore\"}", SL_EINVAL, &err);
    CHECK_CONTAINS(err.msg, "spec.action: Unsupported value: \"Ignore\"");
    json_decref(spec);
    free(json);
}

static void expect_malformed(const char *json, int code, const char *needle)
{
    struct sl_scan_report rep;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, strlen(json), &err), code);
    CHECK_CONTAINS(err.msg, needle);
    CHECK_INT_EQ(err.klass, SL_ERRC_SCANNER);
    sl_scan_report_free(&rep);
}

static void test_malformed_reports(void)
{
    expect_malformed("", SL_EINVAL, "not JSON");
    expect_malformed("[1,2]", SL_EINVAL, "not a JSON object");
    expect_malformed("{\"vulnerabilities\": {}}", SL_EINVAL, "not an array");
    expect_malformed("{\"vulnerabilities\": [{\"package\": \"a\", \"version\": \"1\"}]}", SL_EINVAL,
                     "vulnerabilities[0] needs");
    expect_malformed("{\"vulnerabilities\": [{\"id\": \"X\", \"package\": \"a\", \"version\": "
                     "\"1\", \"severity\": \"Severe\"}]}",
                     SL_EINVAL, "\"Severe\"");
    expect_malformed("{\"vulnerabilities\": [{\"id\": \"X\", \"package\": \"a\", \"version\": "
                     "\"1\", \"severity\": 5}]}",
                     SL_EINVAL, "not a string");
    expect_malformed("{\"vulnerabilities\": [\"CVE-1\"]}", SL_EINVAL, "vulnerabilities[0]");
    /* no vulnerabilities at all is a clean report */
    struct sl_scan_report rep;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, "{\"generated_at\": \"x\"}",
                                        strlen("{\"generated_at\": \"x\"}"), &err),
                 0);
    CHECK_INT_EQ(rep.nfindings, 0);
    sl_scan_report_free(&rep);
}

static void test_render_round_trip(void)
{
    size_t len = 0;
    char *json = read_data("harbor/report.json", &len);
    struct sl_scan_report rep, back;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_harbor_report_parse(&rep, json, len, &err), 0);
    struct sl_harbor_artifact art = {"acme/app", "sha256:abc",
                                     "application/vnd.oci.image.manifest.v1+json"};
    struct sl_harbor_scanner sc = {"sealift", "sealift", "1.0"};
    json_t *doc = sl_harbor_report_render(&rep, &art, &sc, "2026-11-29T10:00:00Z");
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "severity")), "Critical");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(doc, "artifact"), "digest")),
                 "sha256:abc");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(doc, "scanner"), "name")),
                 "sealift");
    char *text = json_dumps(doc, JSON_COMPACT);
    CHECK(strstr(text, "\"Negligible\"") != NULL); /* sealift's None, by the spec's name */
    CHECK_INT_EQ(sl_harbor_report_parse(&back, text, strlen(text), &err), 0);
    CHECK_INT_EQ(back.nfindings, rep.nfindings);
    for (size_t i = 0; i < rep.nfindings && i < back.nfindings; i++) {
        CHECK_STR_EQ(back.findings[i].id, rep.findings[i].id);
        CHECK_STR_EQ(back.findings[i].installed, rep.findings[i].installed);
        CHECK_INT_EQ(back.findings[i].severity, rep.findings[i].severity);
        CHECK((back.findings[i].fixed == NULL) == (rep.findings[i].fixed == NULL));
    }
    free(text);
    json_decref(doc);
    /* an empty report has no overall severity */
    struct sl_scan_report empty;
    memset(&empty, 0, sizeof(empty));
    doc = sl_harbor_report_render(&empty, &art, &sc, "2026-11-29T10:00:00Z");
    CHECK(json_object_get(doc, "severity") == NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(doc, "vulnerabilities")), 0);
    json_decref(doc);
    sl_scan_report_free(&back);
    sl_scan_report_free(&rep);
    free(json);
}

static void test_severity_names(void)
{
    enum sl_severity s;
    CHECK_INT_EQ(sl_harbor_severity_parse(&s, "Negligible"), 0);
    CHECK_INT_EQ(s, SL_SEV_NONE);
    CHECK_INT_EQ(sl_harbor_severity_parse(&s, "None"), 0);
    CHECK_INT_EQ(s, SL_SEV_NONE);
    CHECK_INT_EQ(sl_harbor_severity_parse(&s, "critical"), SL_EINVAL); /* the spec's spelling */
    CHECK_STR_EQ(sl_harbor_severity_name(SL_SEV_CRITICAL), "Critical");
    CHECK_STR_EQ(sl_harbor_severity_name(SL_SEV_UNKNOWN), "Unknown");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_parse_report);
    RUN(test_policy_on_adapter_findings);
    RUN(test_action_block_and_warn);
    RUN(test_malformed_reports);
    RUN(test_render_round_trip);
    RUN(test_severity_names);
    return CHECK_EXIT();
}
