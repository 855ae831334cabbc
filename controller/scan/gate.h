/* The scan gate: how the ImageDelivery reconciler (and the admission webhook) ask the scanner
 * whether a source digest may be delivered (DESIGN.md section 3: verify -> scan -> copy -> sign).
 * The scanner implements it (scan/policy.h over the ScanPolicy store, scan/record.h keeps
 * each verdict); the wiring of reconcilers/ hands it to the ImageDelivery reconciler's
 * constructor (imagedelivery/gates.h). */
#ifndef SL_SCAN_GATE_H
#define SL_SCAN_GATE_H

#include "oci/registry.h"
#include "runtime/reconciler.h"
#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* At most this many entries in spec.platforms (the copy engine's limit too). */
#define SL_IMD_MAX_PLATFORMS 16

/* Return codes of sl_scan_gate.scan (besides 0 = passed). */
#define SL_SCAN_GATE_PASSED 0
/* The policy blocks this digest (findings at or above the threshold, a failed baseline rule,
 * malware). *out_summary must be set (result "Failed") and err->msg names the worst findings. */
#define SL_SCAN_GATE_BLOCKED SL_ECONFLICT
/* The ScanPolicy does not exist yet or is not Ready (database not loaded): the reconciler waits
 * (re-check in 30 s, Scanned=Unknown reason ScanPolicyNotReady). err->msg says which. Only for
 * that: a manifest or blob the registry does not find while scanning is another error. */
#define SL_SCAN_GATE_WAITING SL_ENOTFOUND
/* Any other negative code is an error (SL_ERETRY, SL_EAUTH, SL_EFAIL...): Scanned=False reason
 * ScanError; SL_ERETRY and registry errors retry with the queue's backoff. */

struct sl_scan_gate {
    void *ctx;
    /* Scans digest of src/repo under ScanPolicy ns/policy_name. src is the reconciler's client of
     * the source registry (borrowed, thread-safe). platforms[0..n_platforms) are
     * spec.platforms ("os/arch[/variant]", borrowed; n_platforms <= SL_IMD_MAX_PLATFORMS).
     * What is scanned is exactly what the copy delivers: with n_platforms 0 every image of an
     * index, otherwise only the index children that match (sl_platform_match, the copy
     * engine's rule; an index with no match is SL_EINVAL); an image manifest (not an index) is
     * scanned whatever the filter says. *out_summary (caller's, may
     * be left NULL on errors) is the images[].scan object: {"result": "Passed"|"Failed",
     * "critical": n, "high": n, "medium": n, "low": n, "unknown": n} plus optional "baseline",
     * "malware", "policy", "scannedAt", "message"; its counts cover the scanned images only.
     * The gate caches per digest + platform filter + database digest; it is called on every
     * pass, so a cached answer must cost no registry request (except reading the digest's
     * OpenVEX attestations when the policy trusts them, bounded: scan/vexatt.h). Called from
     * several worker threads at once. Returns one of the codes above. */
    int (*scan)(void *ctx, struct sl_runtime *rt, const char *ns, const char *policy_name,
                struct sl_registry *src, const char *repo, const char *digest,
                const char *const *platforms, size_t n_platforms, json_t **out_summary,
                struct sl_err *err);
};

/* What the attestation gate writes for one delivered digest (spec.sign.attestations). */
struct sl_attest_request {
    bool sbom;
    bool sbom_cyclonedx; /* CycloneDX 1.5 JSON, else SPDX 2.3 JSON */
    bool vuln;           /* with the ScanPolicy ns/policy_name's database and rules */
    bool vuln_optional;  /* vuln by default: skipped (revision_out "") when the policy has no
                            advisory database for the built-in scanner, instead of an error */
    const char *ns, *policy_name;
    /* "host/repo" of the delivery's source: the repository OpenVEX products are matched
     * against, as the scan gate matches them (NULL: the target's) */
    const char *vex_repository;
    /* the delivery's source client and repository (borrowed; NULL: not read): with a
     * ScanPolicy that trusts OpenVEX attestations, the report follows those of the digest
     * there, as the scan gate does */
    struct sl_registry *vex_source;
    const char *vex_source_repo;
    bool tag, referrer;           /* the .att tag and/or an OCI 1.1 referrer (spec.sign.format) */
    const struct sl_key *key;     /* the sign SigningKey's private key (borrowed) */
    const char *const *platforms; /* spec.platforms, as for the scan gate */
    size_t n_platforms;
};

/* The attestation gate: signed SBOM and vulnerability attestations of delivered images, written
 * after signing (sign/attest.h). The scanner (scan/policy.c, ScanPolicy store) implements it
 * and the wiring hands it to the ImageDelivery reconciler's constructor; without one,
 * deliveries write no attestations. */
struct sl_attest_gate {
    void *ctx;
    /* Attests digest in reg/repo (the target's client, borrowed) under subject_name ("host/
     * repo"): an image manifest, or every child of an index that the delivery holds (the
     * platforms filter). revision_out (128 bytes) gets the ScanPolicy revision the vulnerability
     * report was made with ("" without vuln); *images_out the image manifests attested.
     * Returns 0, SL_SCAN_GATE_WAITING (ScanPolicy not Ready: err says why), or an error (scan or
     * registry; SL_ERETRY and registry errors retry). Called from several worker threads. */
    int (*attest)(void *ctx, struct sl_registry *reg, const char *repo, const char *subject_name,
                  const char *digest, const struct sl_attest_request *req, char revision_out[128],
                  size_t *images_out, struct sl_err *err);
    /* Whether a fresh vulnerability report is due for an attestation made at attested_at
     * (0: none made yet) with ScanPolicy revision ("" when none was made): the database changed,
     * or the policy's rescanInterval passed by now; never for a policy without an advisory
     * database. May be NULL: due only when none was made. */
    bool (*vuln_due)(void *ctx, const char *ns, const char *policy_name, const char *revision,
                     time_t attested_at, time_t now);
};

#endif
