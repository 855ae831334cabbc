/* The scan gate: how the ImageDelivery reconciler (and the admission webhook) ask the scanner
 * whether a source digest may be delivered (DESIGN.md section 3: verify -> scan -> copy -> sign).
 * The scanner implements it (scan/policy.h over the loaded ScanPolicies, scan/record.h keeps
 * each verdict); reconcilers/ installs it (imagedelivery/gates.h). */
#ifndef SL_SCAN_GATE_H
#define SL_SCAN_GATE_H

#include "oci/registry.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

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
     * pass, so a cached answer must cost no registry request. Called from several worker
     * threads at once. Returns one of the codes above. */
    int (*scan)(void *ctx, struct sl_runtime *rt, const char *ns, const char *policy_name,
                struct sl_registry *src, const char *repo, const char *digest,
                const char *const *platforms, size_t n_platforms, json_t **out_summary,
                struct sl_err *err);
};

#endif
