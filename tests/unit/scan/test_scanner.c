/* Scan evaluation policy: severity threshold, ignoreUnfixed, allowlist expiry, baseline rules
 * from the image config, and the JSON report fields users read. */
#include <jansson.h>

#include "check.h"
#include "scan/report.h"
#include "scan/scanner.h"
#include "tarbuild.h"
#include "testutil.h"

#include <time.h>

#include "util/timeutil.h"

static const char status[] = "Package: libc6\nStatus: install ok installed\nSource: glibc\n"
                             "Version: 2.36-9\n\n"
                             "Package: zlib1g\nStatus: install ok installed\nSource: zlib\n"
                             "Version: 1:1.2.13.dfsg-1\n\n"
                             "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n";

static void build(struct sl_imagefs *fs, struct sl_advdb *db)
{
    struct tb t = {0};
    tb_file(&t, "etc/os-release", 0644, "ID=debian\nVERSION_ID=\"12\"\n");
    tb_file(&t, "var/lib/dpkg/status", 0644, status);
    tb_end(&t);
    struct memstream m = {t.data, t.len, 0, 0};
    struct sl_layer_stream s = {memstream_read, &m};
    struct sl_err err = {0};
    sl_imagefs_init(fs, NULL);
    CHECK_INT_EQ(sl_imagefs_add_layer(fs, &s, NULL, &err), 0);
    free(t.data);
    sl_advdb_init(db);
    size_t len;
    char *data = read_data("osv/sample.json", &len);
    CHECK(data != NULL);
    if (data)
        CHECK_INT_EQ(sl_advdb_load_buffer(db, "sample.json", data, len, &err), 0);
    free(data);
}

static const struct sl_finding *finding(const struct sl_scan_report *rep, const char *id)
{
    for (size_t i = 0; i < rep->nfindings; i++)
        if (strcmp(rep->findings[i].id, id) == 0)
            return &rep->findings[i];
    return NULL;
}

static void test_threshold_unfixed_allowlist(void)
{
    struct sl_imagefs fs;
    struct sl_advdb db;
    build(&fs, &db);
    struct sl_scan_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.now = 1800000000; /* 2027-01-15 */
    pol.fail_on_enabled = true;
    pol.fail_on = SL_SEV_HIGH;
    struct sl_scan_report rep;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    CHECK_STR_EQ(rep.ecosystem, "debian:12");
    CHECK_INT_EQ(rep.packages, 3);
    CHECK_INT_EQ(rep.nfindings, 2);
    const struct sl_finding *f = finding(&rep, "CVE-2099-0001");
    CHECK(f != NULL);
    if (f) {
        CHECK_STR_EQ(f->pkg, "libc6");
        CHECK_STR_EQ(f->src_pkg, "glibc");
        CHECK_STR_EQ(f->fixed, "2.36-9+deb12u4");
        CHECK_INT_EQ(f->severity, SL_SEV_CRITICAL);
    }
    f = finding(&rep, "CVE-2099-0002");
    CHECK(f && f->fixed == NULL && f->severity == SL_SEV_MEDIUM);
    /* sorted worst first */
    CHECK_STR_EQ(rep.findings[0].id, "CVE-2099-0001");
    CHECK(rep.vuln_failed && !rep.passed);
    CHECK_INT_EQ(rep.counts[SL_SEV_CRITICAL], 1);
    sl_scan_report_free(&rep);

    /* ignoreUnfixed drops the zlib one */
    pol.ignore_unfixed = true;
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    CHECK_INT_EQ(rep.nfindings, 1);
    sl_scan_report_free(&rep);
    pol.ignore_unfixed = false;

    /* allowlisted until a future date: listed, not counted, passes */
    time_t until;
    CHECK_INT_EQ(sl_time_parse_rfc3339(&until, "2027-06-01"), 0);
    struct sl_allow_entry allow[] = {{"CVE-2099-0001", until, "not reachable"}};
    pol.allow = allow;
    pol.nallow = 1;
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    f = finding(&rep, "CVE-2099-0001");
    CHECK(f && f->allowlisted && f->allow_reason && strcmp(f->allow_reason, "not reachable") == 0);
    CHECK_INT_EQ(rep.counts[SL_SEV_CRITICAL], 0);
    CHECK(rep.passed);
    sl_scan_report_free(&rep);

    /* expired entry: no longer suppresses */
    CHECK_INT_EQ(sl_time_parse_rfc3339(&allow[0].until, "2027-01-01"), 0);
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    f = finding(&rep, "CVE-2099-0001");
    CHECK(f && !f->allowlisted);
    CHECK(!rep.passed);
    sl_scan_report_free(&rep);

    /* at Critical the critical finding still fails; report-only never fails */
    pol.nallow = 0;
    pol.fail_on = SL_SEV_CRITICAL;
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    CHECK(!rep.passed);
    sl_scan_report_free(&rep);
    pol.fail_on_enabled = false;
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    CHECK(rep.passed);
    /* the JSON report carries what users read */
    char *json = NULL;
    size_t json_len = 0;
    FILE *mem = open_memstream(&json, &json_len);
    struct sl_report_meta meta = {"oci:x:t", "sha256:abc", "sha256:db", 3, NULL};
    CHECK_INT_EQ(sl_report_write(mem, &rep, SL_REPORT_JSON, &meta), 0);
    fclose(mem);
    CHECK_CONTAINS(json, "\"fixedVersion\": \"2.36-9+deb12u4\"");
    CHECK_CONTAINS(json, "\"fixedVersion\": null");
    CHECK_CONTAINS(json, "\"severity\": \"Critical\"");
    /* no threshold given: the findings were listed, not judged */
    CHECK_CONTAINS(json, "\"result\": \"not-evaluated\"");
    free(json);
    json = NULL;
    mem = open_memstream(&json, &json_len);
    CHECK_INT_EQ(sl_report_write(mem, &rep, SL_REPORT_SARIF, &meta), 0);
    fclose(mem);
    CHECK_CONTAINS(json, "\"result\": \"not-evaluated\"");
    free(json);
    /* the table says so next to the counts, never PASS */
    json = NULL;
    mem = open_memstream(&json, &json_len);
    CHECK_INT_EQ(sl_report_write(mem, &rep, SL_REPORT_TABLE, &meta), 0);
    fclose(mem);
    CHECK_CONTAINS(json, "Result: not evaluated (no --fail-on given): 1 Critical, 1 Medium");
    CHECK(strstr(json, "PASS") == NULL);
    free(json);
    sl_scan_report_free(&rep);
    /* with a threshold: FAIL names it and how many findings reached it */
    pol.fail_on_enabled = true;
    pol.fail_on = SL_SEV_HIGH;
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    meta.fail_on = "High";
    json = NULL;
    mem = open_memstream(&json, &json_len);
    CHECK_INT_EQ(sl_report_write(mem, &rep, SL_REPORT_TABLE, &meta), 0);
    fclose(mem);
    CHECK_CONTAINS(json, "Result: FAIL (findings at or above High: 1)");
    free(json);
    sl_scan_report_free(&rep);
    sl_imagefs_free(&fs);
    sl_advdb_free(&db);
}

/* A not_affected statement for the image's digest suppresses the finding: listed with the
 * statement's justification and document, not counted, the scan passes; for another digest or
 * with under_investigation nothing changes. */
static void test_vex_suppression(void)
{
    struct sl_imagefs fs;
    struct sl_advdb db;
    build(&fs, &db);
    struct sl_vex vex;
    sl_vex_init(&vex);
    size_t len = 0;
    char *doc = read_data("vex/sample-app.openvex.json", &len);
    struct sl_err err = {0};
    CHECK(doc != NULL);
    if (doc)
        CHECK_INT_EQ(sl_vex_load(&vex, "sample-app.openvex.json", doc, len, &err), 0);
    free(doc);
    struct sl_scan_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.now = 1800000000;
    pol.fail_on_enabled = true;
    pol.fail_on = SL_SEV_HIGH;
    pol.vex = &vex;
    pol.vex_image.digest =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    struct sl_scan_report rep;
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    const struct sl_finding *f = finding(&rep, "CVE-2099-0001");
    CHECK(f && f->vex_suppressed);
    if (f && f->vex_suppressed) {
        CHECK_STR_EQ(f->vex_status, "not_affected");
        CHECK_STR_EQ(f->vex_justification, "vulnerable_code_not_in_execute_path");
        CHECK_STR_EQ(f->vex_document, "sample-app.openvex.json");
    }
    f = finding(&rep, "CVE-2099-0002");
    CHECK(f && !f->vex_suppressed); /* under_investigation */
    CHECK_INT_EQ(rep.counts[SL_SEV_CRITICAL], 0);
    CHECK_INT_EQ(rep.vex_suppressed, 1);
    CHECK(rep.passed);

    /* the report says which finding was suppressed and why */
    char *out = NULL;
    size_t out_len = 0;
    FILE *mf = open_memstream(&out, &out_len);
    struct sl_report_meta meta = {"app", pol.vex_image.digest, NULL, 0, "High"};
    CHECK_INT_EQ(sl_report_write(mf, &rep, SL_REPORT_JSON, &meta), 0);
    fclose(mf);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    json_t *v0 = json_array_get(json_object_get(j, "vulnerabilities"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(v0, "id")), "CVE-2099-0001");
    CHECK(json_is_true(json_object_get(v0, "vexSuppressed")));
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(v0, "vex"), "justification")),
                 "vulnerable_code_not_in_execute_path");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(v0, "vex"), "document")),
                 "sample-app.openvex.json");
    CHECK_INT_EQ(
        json_integer_value(json_object_get(json_object_get(j, "summary"), "vexSuppressed")), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "result")), "pass");
    json_decref(j);
    free(out);
    mf = open_memstream(&out, &out_len);
    CHECK_INT_EQ(sl_report_write(mf, &rep, SL_REPORT_TABLE, &meta), 0);
    fclose(mf);
    CHECK_CONTAINS(out, "VEX not_affected: vulnerable_code_not_in_execute_path "
                        "(sample-app.openvex.json)");
    CHECK_CONTAINS(out, "Suppressed by VEX: 1");
    free(out);
    mf = open_memstream(&out, &out_len);
    CHECK_INT_EQ(sl_report_write(mf, &rep, SL_REPORT_SARIF, &meta), 0);
    fclose(mf);
    CHECK_CONTAINS(out, "OpenVEX not_affected: vulnerable_code_not_in_execute_path");
    free(out);
    sl_scan_report_free(&rep);

    /* another image: the statement does not apply and the Critical finding fails the scan */
    pol.vex_image.digest =
        "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, NULL, 0, &db, &pol, &err), 0);
    f = finding(&rep, "CVE-2099-0001");
    CHECK(f && !f->vex_suppressed);
    CHECK_INT_EQ(rep.vex_suppressed, 0);
    CHECK(!rep.passed);
    sl_scan_report_free(&rep);
    sl_vex_free(&vex);
    sl_advdb_free(&db);
    sl_imagefs_free(&fs);
}

static void test_config_baseline(void)
{
    struct sl_imagefs fs;
    struct sl_advdb db;
    build(&fs, &db);
    struct sl_scan_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.forbid_root_user = true;
    pol.forbid_secrets_in_env = true;
    static const struct {
        const char *cfg;
        int root, secrets;
    } cases[] = {
        {"{\"config\":{\"User\":\"app\"}}", 0, 0},
        {"{\"config\":{\"User\":\"0:0\"}}", 1, 0},
        {"{\"config\":{\"User\":\"root\"}}", 1, 0},
        {"{\"config\":{}}", 1, 0},
        {"{}", 1, 0},
        {"{\"config\":{\"User\":\"1000\",\"Env\":[\"AWS_SECRET_ACCESS_KEY=abc\","
         "\"GITHUB_TOKEN=x\",\"MY_API_KEY=k\",\"PASSWORD=\",\"DB_PASSWORD_FILE=/run/x\","
         "\"HOME=/root\"]}}",
         0, 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_scan_report rep;
        struct sl_err err = {0};
        CHECK_INT_EQ(
            sl_scan_evaluate(&rep, &fs, cases[i].cfg, strlen(cases[i].cfg), NULL, &pol, &err), 0);
        int root = 0, secrets = 0;
        for (size_t k = 0; k < rep.nbaseline; k++) {
            root += rep.baseline[k].rule == SL_RULE_ROOT_USER;
            secrets += rep.baseline[k].rule == SL_RULE_SECRET_ENV;
            CHECK(rep.baseline[k].enforced);
        }
        if (root != cases[i].root || secrets != cases[i].secrets)
            fprintf(stderr, "case %zu: root %d secrets %d\n", i, root, secrets);
        CHECK_INT_EQ(root, cases[i].root);
        CHECK_INT_EQ(secrets, cases[i].secrets);
        CHECK_INT_EQ(rep.passed, cases[i].root + cases[i].secrets == 0);
        sl_scan_report_free(&rep);
    }
    struct sl_scan_report rep;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_scan_evaluate(&rep, &fs, "not json", 8, NULL, &pol, &err), SL_EINVAL);
    sl_scan_report_free(&rep);
    sl_imagefs_free(&fs);
    sl_advdb_free(&db);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_threshold_unfixed_allowlist);
    RUN(test_vex_suppression);
    RUN(test_config_baseline);
    return CHECK_EXIT();
}
