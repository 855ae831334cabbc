/* Unit tests of controller/scan/sbom.c: the SPDX 2.3 and CycloneDX 1.5 documents and the cosign
 * vulnerability predicate built from a package inventory and a scan report. argv[1] is
 * tests/data/scan (a dpkg status file and os-release files). */
#include "check.h"
#include "scan/pkgdb.h"
#include "scan/sbom.h"
#include "sign/attestation.h"
#include "util/mem.h"

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir = "tests/data/scan";

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *read_data(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        exit(2);
    }
    char *buf = sl_xmalloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void load_inventory(struct sl_pkgs *pkgs, struct sl_osinfo *os)
{
    size_t len = 0;
    char *status = read_data("pkgdb/dpkg_status", &len);
    struct sl_err err = {0};
    sl_pkgs_init(pkgs);
    CHECK_INT_EQ(sl_pkgdb_parse_dpkg(pkgs, status, len, true, &err), 0);
    free(status);
    char *osr = read_data("pkgdb/os-release.bookworm", &len);
    CHECK_INT_EQ(sl_osinfo_parse(os, osr, len), 0);
    free(osr);
}

static const struct sl_sbom_subject subject = {
    .image = "registry.example/acme/app",
    .digest = DIGEST,
    .created = "2026-12-06T08:00:00Z",
    .tool_version = "0.1.0",
};

/* The SPDX package of a name, or NULL. */
static json_t *spdx_package(json_t *doc, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "packages"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return p;
    }
    return NULL;
}

static const char *spdx_purl(json_t *p)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(p, "externalRefs"), 0), "referenceLocator"));
}

/* SPDX 2.3: every installed dpkg package with its version and a purl naming the distribution,
 * the OS and the image as packages, the image described by the document and containing the
 * rest; no removed or half-installed package. */
static void test_spdx_from_dpkg(void)
{
    struct sl_pkgs pkgs;
    struct sl_osinfo os;
    load_inventory(&pkgs, &os);
    json_t *doc = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_sbom_build(&doc, SL_SBOM_SPDX, &pkgs, &os, true, &subject, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "spdxVersion")), "SPDX-2.3");
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "SPDXID")), "SPDXRef-DOCUMENT");
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "dataLicense")), "CC0-1.0");
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(doc, "creationInfo"), "created")),
        subject.created);
    CHECK_INT_EQ((int)json_array_size(json_object_get(doc, "packages")), (int)pkgs.count + 2);
    json_t *libc = spdx_package(doc, "libc6");
    CHECK(libc != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(libc, "versionInfo")), "2.36-9+deb12u3");
    CHECK_STR_EQ(spdx_purl(libc), "pkg:deb/debian/libc6@2.36-9%2Bdeb12u3?distro=debian-12");
    CHECK_STR_EQ(json_string_value(json_object_get(libc, "sourceInfo")),
                 "built package from: glibc 2.36-9+deb12u3");
    json_t *osp = spdx_package(doc, "debian");
    CHECK(osp != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(osp, "primaryPackagePurpose")),
                 "OPERATING_SYSTEM");
    CHECK_STR_EQ(json_string_value(json_object_get(osp, "versionInfo")), "12");
    CHECK(spdx_package(doc, "removed-pkg") == NULL);
    CHECK(spdx_package(doc, "half-installed") == NULL);
    json_t *img = spdx_package(doc, subject.image);
    CHECK(img != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(img, "versionInfo")), DIGEST);
    /* DESCRIBES the image, which CONTAINS the OS and every package; SPDX ids follow the grammar */
    json_t *rels = json_object_get(doc, "relationships");
    CHECK_INT_EQ((int)json_array_size(rels), (int)pkgs.count + 2);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(rels, 0), "relationshipType")),
                 "DESCRIBES");
    regex_t re;
    CHECK_INT_EQ(regcomp(&re, "^SPDXRef-[0-9a-zA-Z.-]+$", REG_EXTENDED | REG_NOSUB), 0);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "packages"), i, p)
    {
        CHECK_INT_EQ(regexec(&re, json_string_value(json_object_get(p, "SPDXID")), 0, NULL, 0), 0);
        CHECK(json_object_get(p, "downloadLocation") != NULL);
    }
    regfree(&re);
    /* equal inputs, equal documents */
    json_t *again = NULL;
    CHECK_INT_EQ(sl_sbom_build(&again, SL_SBOM_SPDX, &pkgs, &os, true, &subject, &err), 0);
    CHECK(json_equal(doc, again));
    json_decref(again);
    json_decref(doc);
    sl_pkgs_clear(&pkgs);
}

/* CycloneDX 1.5: an operating-system component, a library per package with its purl, the image
 * as metadata.component, a serial number in the urn:uuid form the schema requires. */
static void test_cyclonedx_from_dpkg(void)
{
    struct sl_pkgs pkgs;
    struct sl_osinfo os;
    load_inventory(&pkgs, &os);
    json_t *doc = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_sbom_build(&doc, SL_SBOM_CYCLONEDX, &pkgs, &os, true, &subject, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "bomFormat")), "CycloneDX");
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "specVersion")), "1.5");
    regex_t re;
    CHECK_INT_EQ(regcomp(&re,
                         "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                         "[0-9a-f]{12}$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    CHECK_INT_EQ(regexec(&re, json_string_value(json_object_get(doc, "serialNumber")), 0, NULL, 0),
                 0);
    regfree(&re);
    json_t *meta = json_object_get(doc, "metadata");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(meta, "component"), "version")),
                 DIGEST);
    json_t *comps = json_object_get(doc, "components");
    CHECK_INT_EQ((int)json_array_size(comps), (int)pkgs.count + 1);
    json_t *first = json_array_get(comps, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(first, "type")), "operating-system");
    bool found = false;
    size_t i;
    json_t *c;
    json_array_foreach(comps, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), "e2fslibs") == 0) {
            found = true;
            CHECK_STR_EQ(json_string_value(json_object_get(c, "version")), "1.43.4-2+b1");
            CHECK_STR_EQ(json_string_value(json_object_get(c, "purl")),
                         "pkg:deb/debian/e2fslibs@1.43.4-2%2Bb1?distro=debian-12");
        }
    }
    CHECK(found);
    json_decref(doc);
    sl_pkgs_clear(&pkgs);
}

/* Without an OS the packages are generic ones and no OS entry is invented; a name that is not a
 * digest is refused. */
static void test_unknown_os_and_bad_subject(void)
{
    struct sl_pkgs pkgs;
    struct sl_osinfo os;
    load_inventory(&pkgs, &os);
    json_t *doc = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_sbom_build(&doc, SL_SBOM_SPDX, &pkgs, &os, false, &subject, &err), 0);
    CHECK_INT_EQ((int)json_array_size(json_object_get(doc, "packages")), (int)pkgs.count + 1);
    CHECK_STR_EQ(spdx_purl(spdx_package(doc, "bash")), "pkg:generic/bash@5.2.15-2%2Bb2");
    json_decref(doc);
    struct sl_sbom_subject bad = subject;
    bad.digest = "latest";
    doc = NULL;
    CHECK_INT_EQ(sl_sbom_build(&doc, SL_SBOM_CYCLONEDX, &pkgs, &os, true, &bad, &err), SL_EINVAL);
    CHECK(doc == NULL);
    enum sl_sbom_format f;
    CHECK_INT_EQ(sl_sbom_format_parse(&f, "cyclonedx"), 0);
    CHECK_INT_EQ(f, SL_SBOM_CYCLONEDX);
    CHECK_INT_EQ(sl_sbom_format_parse(&f, "spdx"), 0);
    CHECK_INT_EQ(f, SL_SBOM_SPDX);
    CHECK_INT_EQ(sl_sbom_format_parse(&f, "syft"), SL_EINVAL);
    CHECK_STR_EQ(sl_sbom_predicate_type(SL_SBOM_CYCLONEDX), "https://cyclonedx.org/bom");
    sl_pkgs_clear(&pkgs);
}

/* The vulnerability predicate: cosign's layout, the database digest, the scan times, counts of
 * findings not allowlisted and every finding with its fix and allowlist reason. */
static void test_vuln_predicate(void)
{
    struct sl_finding f[3] = {
        {.id = "CVE-2026-0001",
         .pkg = "libc6",
         .src_pkg = "glibc",
         .installed = "2.36-9",
         .fixed = "2.36-9+deb12u4",
         .severity = SL_SEV_HIGH},
        {.id = "CVE-2026-0002",
         .pkg = "bash",
         .src_pkg = "bash",
         .installed = "5.2.15-2+b2",
         .severity = SL_SEV_CRITICAL,
         .allowlisted = true,
         .allow_reason = "not reachable"},
        {.id = "CVE-2023-4911",
         .pkg = "libc6",
         .src_pkg = "glibc",
         .installed = "2.36-9",
         .severity = SL_SEV_CRITICAL,
         .vex_suppressed = true,
         .vex_status = "not_affected",
         .vex_justification = "vulnerable_code_not_in_execute_path",
         .vex_document = "configmap vendor-acme/vex:app.json"},
    };
    struct sl_scan_report rep = {.findings = f, .nfindings = 3, .packages = 3, .vuln_failed = true};
    snprintf(rep.ecosystem, sizeof(rep.ecosystem), "debian:12");
    rep.counts[SL_SEV_HIGH] = 1;
    struct sl_vuln_meta meta = {.scanner_uri = "https://sealift.dev/scanner",
                                .scanner_version = "0.1.0",
                                .db_uri = "registry.example/security/advisories",
                                .db_digest = DIGEST,
                                .started = "2026-12-06T08:00:00Z",
                                .finished = "2026-12-06T08:00:02Z"};
    json_t *p = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_vuln_predicate(&p, &rep, &meta, &err), 0);
    json_t *scanner = json_object_get(p, "scanner");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "version")), "0.1.0");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(scanner, "db"), "version")),
                 DIGEST);
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(p, "metadata"), "scanFinishedOn")),
        "2026-12-06T08:00:02Z");
    CHECK(json_object_get(json_object_get(p, "invocation"), "parameters") != NULL);
    json_t *result = json_object_get(scanner, "result");
    CHECK(json_is_false(json_object_get(result, "passed")));
    CHECK_INT_EQ(
        (int)json_integer_value(json_object_get(json_object_get(result, "summary"), "high")), 1);
    CHECK_INT_EQ(
        (int)json_integer_value(json_object_get(json_object_get(result, "summary"), "critical")),
        0);
    json_t *fs = json_object_get(result, "findings");
    CHECK_INT_EQ((int)json_array_size(fs), 3);
    /* the VEX-suppressed finding is there, marked, with the statement that suppressed it */
    json_t *vexed = json_array_get(fs, 2);
    CHECK(json_is_true(json_object_get(vexed, "suppressed")));
    CHECK(json_is_false(json_object_get(json_array_get(fs, 0), "suppressed")));
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(vexed, "vex"), "justification")),
                 "vulnerable_code_not_in_execute_path");
    /* and the admission check reads the predicate as the webhook does: the High finding counts,
     * the allowlisted and the VEX-suppressed Critical ones do not */
    json_t *statement = json_pack("{s:O}", "predicate", p);
    size_t at_or_above = 0;
    int worst = 0;
    char first[128];
    CHECK_INT_EQ(sl_attestation_vuln_count(&at_or_above, &worst, first, statement, 3, &err), 0);
    CHECK_INT_EQ((int)at_or_above, 1);
    CHECK_STR_EQ(first, "CVE-2026-0001");
    CHECK_INT_EQ(sl_attestation_vuln_count(&at_or_above, &worst, first, statement, 4, &err), 0);
    CHECK_INT_EQ((int)at_or_above, 0);
    json_decref(statement);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(fs, 0), "fixedVersion")),
                 "2.36-9+deb12u4");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(fs, 0), "severity")), "High");
    CHECK(json_object_get(json_array_get(fs, 1), "fixedVersion") == NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(fs, 1), "allowlistReason")),
                 "not reachable");
    json_decref(p);
    meta.finished = NULL;
    p = NULL;
    CHECK_INT_EQ(sl_vuln_predicate(&p, &rep, &meta, &err), SL_EINVAL);
    CHECK(p == NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_spdx_from_dpkg);
    RUN(test_cyclonedx_from_dpkg);
    RUN(test_unknown_os_and_bad_subject);
    RUN(test_vuln_predicate);
    return CHECK_EXIT();
}
