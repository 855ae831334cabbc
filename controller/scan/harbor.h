/* Harbor vulnerability reports (Pluggable Scanner API v1.1, media type
 * "application/vnd.security.vulnerability.report; version=1.1") <-> sealift's findings, in both
 * directions and in one place: the ImageDelivery scan gate parses an adapter's report into a
 * struct sl_scan_report (then applies the ScanPolicy with sl_scan_apply_policy, as for builtin
 * findings), and `sealift scanner-adapter` renders its own scans as such reports. No I/O.
 *
 * Severities: Critical, High, Medium, Low map one to one; Negligible and None map to sealift's
 * None (below Low, never blocking), Unknown to Unknown. sealift's None is written as
 * Negligible, the spec's name for it. */
#ifndef SL_SCAN_HARBOR_H
#define SL_SCAN_HARBOR_H

#include <jansson.h>
#include <stddef.h>

#include "scan/scanner.h"
#include "scanner/harbor_api.h"
#include "util/err.h"

/* Vulnerabilities accepted from one report. */
#define SL_HARBOR_MAX_VULNS 200000

/* The report's name of a severity ("Critical" ... "Negligible", "Unknown"). */
const char *sl_harbor_severity_name(enum sl_severity sev);

/* Parses a report severity (exact spelling of the spec, or "None"). Returns 0 or SL_EINVAL. */
int sl_harbor_severity_parse(enum sl_severity *out, const char *s);

/* Parses a vulnerability report into rep (zeroed first): one finding per vulnerabilities[] item
 * (id, package, version, fix_version: empty or absent means no fix, severity, description as
 * summary; source "harbor"; package also as source package). Duplicate id+package items are
 * kept once. No policy is applied and nothing is counted: call sl_scan_apply_policy. Returns 0,
 * or SL_EINVAL with err saying what is malformed (not JSON, vulnerabilities not an array, an
 * item without id/package/version, an unknown severity), SL_ETOOBIG past SL_HARBOR_MAX_VULNS.
 * Free rep with sl_scan_report_free (also after errors). */
int sl_harbor_report_parse(struct sl_scan_report *rep, const char *json, size_t len,
                           struct sl_err *err);

/* The artifact a report describes. */
struct sl_harbor_artifact {
    const char *repository, *digest, *mime_type; /* any may be NULL */
};

/* Renders rep's findings (all of them: a report carries no policy) as a report JSON object with
 * generated_at (RFC 3339 text), artifact, scanner, severity (the highest severity found; left
 * out when there are no findings, since the spec has no value for "nothing") and
 * vulnerabilities (fix_version left out when there is no fix). Caller owns the result. */
json_t *sl_harbor_report_render(const struct sl_scan_report *rep,
                                const struct sl_harbor_artifact *artifact,
                                const struct sl_harbor_scanner *scanner, const char *generated_at);

#endif
