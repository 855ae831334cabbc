#include "scan/sbom.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "util/buf.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_sbom_format_parse(enum sl_sbom_format *out, const char *s)
{
    if (s && (strcmp(s, "spdx") == 0 || strcmp(s, "spdxjson") == 0)) {
        *out = SL_SBOM_SPDX;
        return 0;
    }
    if (s && strcmp(s, "cyclonedx") == 0) {
        *out = SL_SBOM_CYCLONEDX;
        return 0;
    }
    return SL_EINVAL;
}

const char *sl_sbom_predicate_type(enum sl_sbom_format fmt)
{
    return fmt == SL_SBOM_CYCLONEDX ? SL_SBOM_CYCLONEDX_PREDICATE : SL_SBOM_SPDX_PREDICATE;
}

/* Appends s percent-encoded as a package URL component (unreserved characters kept). */
static void purl_encode(struct sl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '-' || *p == '_' || *p == '~') {
            sl_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sl_buf_append(b, e, 3);
        }
    }
}

/* The package URL of p: pkg:deb/<distro>/<name>@<version>?distro=<distro>-<release>,
 * pkg:apk/alpine/..., or pkg:generic/... when the OS is unknown. Caller frees. */
static char *package_url(const struct sl_pkg *p, const struct sl_osinfo *os)
{
    struct sl_buf b;
    sl_buf_init(&b, 3 * 2 * SL_PKGDB_MAX_FIELD + 256);
    const char *type = "generic";
    if (os && (os->family == SL_OS_DEBIAN || os->family == SL_OS_UBUNTU))
        type = "deb";
    else if (os && os->family == SL_OS_ALPINE)
        type = "apk";
    sl_buf_append_str(&b, "pkg:");
    sl_buf_append_str(&b, type);
    sl_buf_append_str(&b, "/");
    if (strcmp(type, "generic") != 0) {
        purl_encode(&b, os->id);
        sl_buf_append(&b, "/", 1);
    }
    purl_encode(&b, p->name);
    sl_buf_append(&b, "@", 1);
    purl_encode(&b, p->version);
    if (strcmp(type, "generic") != 0 && os->version_id[0]) {
        sl_buf_append(&b, "?distro=", 8);
        purl_encode(&b, os->id);
        sl_buf_append(&b, "-", 1);
        purl_encode(&b, os->version_id);
    }
    return sl_buf_steal(&b, NULL);
}

/* Whether p names a source package other than itself. */
static bool has_source(const struct sl_pkg *p)
{
    return p->src_name && (strcmp(p->src_name, p->name) != 0 ||
                           (p->src_version && strcmp(p->src_version, p->version) != 0));
}

static json_t *spdx_purl_ref(char *purl)
{
    json_t *r = json_pack("[{s:s, s:s, s:s}]", "referenceCategory", "PACKAGE-MANAGER",
                          "referenceType", "purl", "referenceLocator", purl);
    free(purl);
    return r;
}

static json_t *build_spdx(const struct sl_pkgs *pkgs, const struct sl_osinfo *os,
                          const struct sl_sbom_subject *s)
{
    char ns[256], tool[96];
    snprintf(ns, sizeof(ns), "https://sealift.dev/spdxdocs/sha256-%s/%s", s->digest + 7,
             s->created);
    snprintf(tool, sizeof(tool), "Tool: sealift-%s", s->tool_version ? s->tool_version : "");
    json_t *packages = json_array(), *rels = json_array();
    json_array_append_new(packages, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", s->image,
                                              "SPDXID", "SPDXRef-Image", "versionInfo", s->digest,
                                              "downloadLocation", "NOASSERTION", "filesAnalyzed", 0,
                                              "primaryPackagePurpose", "CONTAINER"));
    json_array_append_new(rels, json_pack("{s:s, s:s, s:s}", "spdxElementId", "SPDXRef-DOCUMENT",
                                          "relationshipType", "DESCRIBES", "relatedSpdxElement",
                                          "SPDXRef-Image"));
    if (os) {
        json_array_append_new(packages,
                              json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", os->id, "SPDXID",
                                        "SPDXRef-OperatingSystem", "versionInfo", os->version_id,
                                        "downloadLocation", "NOASSERTION", "filesAnalyzed", 0,
                                        "primaryPackagePurpose", "OPERATING_SYSTEM"));
        json_array_append_new(rels, json_pack("{s:s, s:s, s:s}", "spdxElementId", "SPDXRef-Image",
                                              "relationshipType", "CONTAINS", "relatedSpdxElement",
                                              "SPDXRef-OperatingSystem"));
    }
    for (size_t i = 0; i < pkgs->count; i++) {
        const struct sl_pkg *p = &pkgs->items[i];
        char id[48];
        snprintf(id, sizeof(id), "SPDXRef-Package-%zu", i + 1);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "name", p->name, "SPDXID", id,
                              "versionInfo", p->version, "downloadLocation", "NOASSERTION",
                              "filesAnalyzed", 0, "primaryPackagePurpose", "LIBRARY",
                              "externalRefs", spdx_purl_ref(package_url(p, os)));
        if (has_source(p)) {
            char src[SL_PKGDB_MAX_FIELD * 2 + 32];
            snprintf(src, sizeof(src), "built package from: %s %s", p->src_name,
                     p->src_version ? p->src_version : "");
            json_object_set_new(e, "sourceInfo", json_string(src));
        }
        json_array_append_new(packages, e);
        json_array_append_new(rels,
                              json_pack("{s:s, s:s, s:s}", "spdxElementId", "SPDXRef-Image",
                                        "relationshipType", "CONTAINS", "relatedSpdxElement", id));
    }
    char name[1024];
    snprintf(name, sizeof(name), "%s@%s", s->image, s->digest);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:[s]}, s:o, s:o}", "spdxVersion",
                     "SPDX-2.3", "dataLicense", "CC0-1.0", "SPDXID", "SPDXRef-DOCUMENT", "name",
                     name, "documentNamespace", ns, "creationInfo", "created", s->created,
                     "creators", tool, "packages", packages, "relationships", rels);
}

/* A version-5-shaped UUID URN derived from the digest and the creation time. */
static void serial_number(char out[64], const struct sl_sbom_subject *s)
{
    char seed[256], d[72];
    int n = snprintf(seed, sizeof(seed), "%s %s", s->digest, s->created);
    sl_digest_sha256(d, seed, n > 0 && (size_t)n < sizeof(seed) ? (size_t)n : 0);
    const char *h = d + 7;
    /* version nibble 5, variant 10xx */
    static const char variant[] = "89ab";
    char v = variant[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
    snprintf(out, 64, "urn:uuid:%.8s-%.4s-5%.3s-%c%.3s-%.12s", h, h + 8, h + 13, v, h + 17, h + 20);
}

static json_t *build_cyclonedx(const struct sl_pkgs *pkgs, const struct sl_osinfo *os,
                               const struct sl_sbom_subject *s)
{
    char serial[64];
    serial_number(serial, s);
    json_t *components = json_array();
    if (os)
        json_array_append_new(components, json_pack("{s:s, s:s, s:s, s:s}", "type",
                                                    "operating-system", "bom-ref", "os", "name",
                                                    os->id, "version", os->version_id));
    for (size_t i = 0; i < pkgs->count; i++) {
        const struct sl_pkg *p = &pkgs->items[i];
        char ref[48];
        snprintf(ref, sizeof(ref), "pkg-%zu", i + 1);
        char *purl = package_url(p, os);
        json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "library", "bom-ref", ref,
                              "name", p->name, "version", p->version, "purl", purl);
        free(purl);
        if (has_source(p))
            json_object_set_new(c, "properties",
                                json_pack("[{s:s, s:s}, {s:s, s:s}]", "name",
                                          "sealift:package:source", "value", p->src_name, "name",
                                          "sealift:package:source-version", "value",
                                          p->src_version ? p->src_version : ""));
        json_array_append_new(components, c);
    }
    return json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:{s:[{s:s, s:s, s:s}]}, s:{s:s, s:s, s:s, "
                     "s:s}}, s:o}",
                     "bomFormat", "CycloneDX", "specVersion", "1.5", "serialNumber", serial,
                     "version", 1, "metadata", "timestamp", s->created, "tools", "components",
                     "type", "application", "name", "sealift", "version",
                     s->tool_version ? s->tool_version : "", "component", "type", "container",
                     "bom-ref", "image", "name", s->image, "version", s->digest, "components",
                     components);
}

int sl_sbom_build(json_t **out, enum sl_sbom_format fmt, const struct sl_pkgs *pkgs,
                  const struct sl_osinfo *os, bool os_found, const struct sl_sbom_subject *subject,
                  struct sl_err *err)
{
    if (!subject || !subject->digest || !sl_ref_is_digest(subject->digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "the SBOM's subject is not a sha256 digest");
    if (!subject->image || !subject->created)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the SBOM needs an image name and a time");
    const struct sl_osinfo *o = os_found && os && os->id[0] ? os : NULL;
    json_t *doc =
        fmt == SL_SBOM_CYCLONEDX ? build_cyclonedx(pkgs, o, subject) : build_spdx(pkgs, o, subject);
    if (!doc)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "a package name or version is not valid UTF-8");
    *out = doc;
    return 0;
}

int sl_vuln_predicate(json_t **out, const struct sl_scan_report *rep,
                      const struct sl_vuln_meta *meta, struct sl_err *err)
{
    if (!meta || !meta->started || !meta->finished)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "the scan's start and finish times are "
                          "needed");
    json_t *findings = json_array();
    for (size_t i = 0; i < rep->nfindings; i++) {
        const struct sl_finding *f = &rep->findings[i];
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", f->id, "package", f->pkg,
                              "sourcePackage", f->src_pkg ? f->src_pkg : f->pkg, "installedVersion",
                              f->installed ? f->installed : "", "severity",
                              sl_severity_name(f->severity), "allowlisted", f->allowlisted);
        if (!e)
            continue;
        if (f->fixed)
            json_object_set_new(e, "fixedVersion", json_string(f->fixed));
        if (f->allowlisted && f->allow_reason)
            json_object_set_new(e, "allowlistReason", json_string(f->allow_reason));
        /* suppressed by the vendor's OpenVEX: the admission check does not count it
         * (sign/attestation.c), and the statement that suppressed it is named */
        json_object_set_new(e, "suppressed", json_boolean(f->vex_suppressed));
        if (f->vex_suppressed) {
            json_t *vex = json_object();
            if (f->vex_status)
                json_object_set_new(vex, "status", json_string(f->vex_status));
            if (f->vex_justification)
                json_object_set_new(vex, "justification", json_string(f->vex_justification));
            if (f->vex_impact)
                json_object_set_new(vex, "impactStatement", json_string(f->vex_impact));
            if (f->vex_document)
                json_object_set_new(vex, "document", json_string(f->vex_document));
            json_object_set_new(e, "vex", vex);
        }
        json_array_append_new(findings, e);
    }
    json_t *summary = json_pack(
        "{s:I, s:I, s:I, s:I, s:I}", "critical", (json_int_t)rep->counts[SL_SEV_CRITICAL], "high",
        (json_int_t)rep->counts[SL_SEV_HIGH], "medium", (json_int_t)rep->counts[SL_SEV_MEDIUM],
        "low", (json_int_t)rep->counts[SL_SEV_LOW], "unknown",
        (json_int_t)(rep->counts[SL_SEV_UNKNOWN] + rep->counts[SL_SEV_NONE]));
    json_t *result = json_pack("{s:b, s:s, s:I, s:o, s:o}", "passed", !rep->vuln_failed,
                               "ecosystem", rep->ecosystem, "packages", (json_int_t)rep->packages,
                               "summary", summary, "findings", findings);
    json_t *p = json_pack("{s:{s:n, s:s, s:s, s:s}, s:{s:s, s:s, s:{s:s, s:s}, s:o}, s:{s:s, s:s}}",
                          "invocation", "parameters", "uri", "", "event_id", "", "builder.id",
                          "sealift", "scanner", "uri", meta->scanner_uri ? meta->scanner_uri : "",
                          "version", meta->scanner_version ? meta->scanner_version : "", "db",
                          "uri", meta->db_uri ? meta->db_uri : "", "version",
                          meta->db_digest ? meta->db_digest : "", "result", result, "metadata",
                          "scanStartedOn", meta->started, "scanFinishedOn", meta->finished);
    if (!p)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the scan metadata is not valid UTF-8");
    *out = p;
    return 0;
}
