/* The ScanPolicy rules and the gates over the ScanPolicy store (scan/store.h).
 *
 * The ScanPolicy reconciler (reconcilers/scanpolicy) loads each policy's database, Harbor
 * adapter settings and OpenVEX statements into the store; the gates here answer from it.
 *
 * The scan gate (scan/gate.h) scans a source digest with the policy's database and settings
 * (severityThreshold, ignoreUnfixed, allowlist with until dates, baseline, malware): the image,
 * or the platforms of an index that the ImageDelivery delivers (spec.platforms; all of them
 * when empty). It caches the answer per ScanPolicy + image digest + platform filter + database
 * digest + policy revision for rescanInterval (bounded LRU, in the store), so steady passes cost
 * no registry request and a new database or an expired entry rescans delivered digests, again
 * only their delivered platforms.
 *
 * With spec.scanner.harbor the gate asks the policy's adapter for each delivered image
 * (harbor_client.h) with the source registry's URL and the ImageDelivery's pull credential, and
 * applies the same policy rules to the report's findings (sl_scan_apply_policy). Adapter
 * failures are SL_ERETRY with class SL_ERRC_SCANNER.
 *
 * The gate suppresses findings a not_affected or fixed statement of spec.vex covers for the
 * scanned digest, its index or its source repository, and lists them in the ImageDelivery's scan
 * summary (vexSuppressed, suppressed). A policy whose VEX could not be read is not Ready, and
 * the gate waits. An attestations entry of spec.vex names the keys (SigningKeys or ConfigMap
 * keys, loaded by the reconciler into the store) whose OpenVEX attestations attached to the
 * scanned digest count too: the gate reads them on every pass (scan/vexatt.h), merges their
 * statements and keys its cache on them; the summary's vexAttestations says how many were used
 * and ignored. */
#ifndef SL_SCAN_POLICY_H
#define SL_SCAN_POLICY_H

#include "scan/gate.h"
#include "scan/scanner.h"
#include "scan/store.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The rules of a ScanPolicy spec as the scanner applies them. */
struct sl_scanpolicy_rules {
    struct sl_scan_policy pol;
    struct sl_allow_entry *allow;
    size_t nallow;
};

/* Fills p from a v1beta1 spec: severityThreshold, action (Warn: findings never block),
 * ignoreUnfixed, allowlist (until: a date or an RFC 3339 time), baseline (strings borrowed from
 * spec). Returns 0 (p freed with sl_scanpolicy_rules_free), or SL_EINVAL with err naming the field
 * (nothing to free). */
int sl_scanpolicy_rules_parse(struct sl_scanpolicy_rules *p, const json_t *spec,
                              struct sl_err *err);
/* Frees what sl_scanpolicy_rules_parse allocated and zeroes p. */
void sl_scanpolicy_rules_free(struct sl_scanpolicy_rules *p);

/* spec.rescanInterval in milliseconds (default 24h, at least one second, not yet raised to the
 * administrator's --min-interval). */
int64_t sl_scanpolicy_rescan_ms(const json_t *spec);

/* The scan gate over store (borrowed; it must outlive the gate). */
void sl_scanpolicy_gate(struct sl_scan_gate *out, struct sl_scan_store *store);

/* The attestation gate over store: SBOMs from the image's packages and vulnerability reports
 * with the policy's loaded database and rules, for every image manifest a delivery put in a
 * target; revision_out is the database digest, and a fresh report is due when it changed or the
 * policy's rescanInterval passed since the last one. */
void sl_scanpolicy_attest_gate(struct sl_attest_gate *out, struct sl_scan_store *store);

/* The revision of ScanPolicy ns/name as the gate uses it: its loaded database digest and spec
 * revision, written to out (cap bytes; 128 is enough). Two equal revisions mean the same
 * database and rules. store is a struct sl_scan_store (the scan record's sl_scan_revision_fn).
 * Returns 0, or SL_ENOTFOUND when the policy is not loaded and Ready. */
int sl_scanpolicy_revision(void *store, char *out, size_t cap, const char *ns, const char *name);

#endif
