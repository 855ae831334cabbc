/* Software bills of materials and vulnerability reports of a scanned image, as the documents
 * attestations carry (sign/attest.h): SPDX 2.3 JSON or CycloneDX 1.5 JSON built from the
 * scanner's package inventory (dpkg/apk, pkgdb.h) and the OS identity, and the cosign
 * vulnerability predicate (https://cosign.sigstore.dev/attestation/vuln/v1) built from a scan
 * report. Pure functions: data in, JSON out, no I/O and no clock (times are parameters). */
#ifndef SL_SCAN_SBOM_H
#define SL_SCAN_SBOM_H

#include "scan/pkgdb.h"
#include "scan/scanner.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>

/* The predicate types cosign's `attest --type` / `verify-attestation --type` use. */
#define SL_SBOM_SPDX_PREDICATE      "https://spdx.dev/Document"
#define SL_SBOM_CYCLONEDX_PREDICATE "https://cyclonedx.org/bom"
#define SL_VULN_PREDICATE           "https://cosign.sigstore.dev/attestation/vuln/v1"

enum sl_sbom_format { SL_SBOM_SPDX = 0, SL_SBOM_CYCLONEDX };

/* Parses "spdx" (also "spdxjson") or "cyclonedx". Returns 0 or SL_EINVAL. */
int sl_sbom_format_parse(enum sl_sbom_format *out, const char *s);

/* The predicate type of an SBOM format (static string). */
const char *sl_sbom_predicate_type(enum sl_sbom_format fmt);

/* What the documents say about themselves and the image. */
struct sl_sbom_subject {
    const char *image;        /* "host/repo" the image was read from */
    const char *digest;       /* the image manifest's digest (sha256:<hex>) */
    const char *created;      /* RFC 3339 time the document is dated */
    const char *tool_version; /* sealift's version */
};

/* Builds the SBOM of pkgs (os: the image's OS, NULL or os_found false when unknown) in fmt.
 * Each package carries name, version, its source package and a package URL
 * (pkg:deb/<distro>/..., pkg:apk/alpine/...; pkg:generic/... when the OS is unknown); the OS is
 * a package of its own (SPDX primaryPackagePurpose OPERATING_SYSTEM, CycloneDX type
 * operating-system) and the image is the document's described element. Identifiers are derived
 * from the inputs, so equal inputs give equal documents. *out is the caller's (json_decref).
 * Returns 0, or SL_EINVAL when digest is not a sha256 digest. */
int sl_sbom_build(json_t **out, enum sl_sbom_format fmt, const struct sl_pkgs *pkgs,
                  const struct sl_osinfo *os, bool os_found, const struct sl_sbom_subject *subject,
                  struct sl_err *err);

/* What the vulnerability predicate says about the scan that made it. */
struct sl_vuln_meta {
    const char *scanner_uri;     /* e.g. "https://sealift.dev/scanner" */
    const char *scanner_version; /* sealift's version */
    const char *db_uri;          /* where the advisories came from, may be NULL */
    const char *db_digest;       /* advisory database digest, may be NULL */
    const char *started;         /* RFC 3339 */
    const char *finished;        /* RFC 3339 */
};

/* Builds cosign's vulnerability predicate (the CosignVulnPredicate layout: invocation, scanner
 * {uri, version, db {uri, version}, result}, metadata {scanStartedOn, scanFinishedOn}) for rep.
 * scanner.result holds the verdict ("passed"), the counts per severity of findings not
 * allowlisted, and every finding (id, package, source package, installed and fixed version,
 * severity, allowlisted with its reason). *out is the caller's. Returns 0, or SL_EINVAL when a
 * time is missing. */
int sl_vuln_predicate(json_t **out, const struct sl_scan_report *rep,
                      const struct sl_vuln_meta *meta, struct sl_err *err);

#endif
