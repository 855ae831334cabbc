/* The ScanPolicy reconciler and the ImageDelivery scan gate.
 *
 * The reconciler loads a policy's advisory database (spec.database.image, an artifact made by
 * `sealift db push`, pulled with the dockerconfigjson Secret spec.database.credentials, or
 * spec.database.path) and its malware hashes (ConfigMap spec.malware.hashes.configMapRef) into
 * a process-wide store, one refcounted database per ScanPolicy, and reports Ready with
 * status.database {digest, records, loadedAt} and status.malwareHashes. It re-checks every
 * SL_SCANPOLICY_RECHECK_MS (or rescanInterval when shorter): the image is HEADed and reloaded
 * only when its digest changed. A database that fails to load keeps the last good one: Ready
 * stays True with reason StaleDatabase and a message saying what failed; without a previous
 * database Ready is False (DatabaseLoadFailed).
 *
 * The gate (gates.h) scans a source digest with the policy's database and settings
 * (severityThreshold, ignoreUnfixed, allowlist with until dates, baseline, malware): the image,
 * or the platforms of an index that the ImageDelivery delivers (spec.platforms; all of them
 * when empty). It caches the answer per ScanPolicy + image digest + platform filter + database
 * digest + policy revision for rescanInterval (bounded LRU), so steady passes cost no registry
 * request and a new database or an expired entry rescans delivered digests, again only their
 * delivered platforms.
 *
 * With spec.scanner.harbor the policy has no database: the reconciler reads the adapter's
 * credentials (Secret with token, or username and password) and CA (Secret key ca.crt) from the
 * policy's namespace and its GET /api/v1/metadata, and is Ready (ScannerReady) when the adapter
 * produces the v1.1 vulnerability report for image manifests, else Ready=False ScannerError
 * (transient). The gate then asks the adapter for each delivered image (harbor_client.h) with
 * the source registry's URL and the ImageDelivery's pull credential, and applies the same
 * policy rules to the report's findings (sl_scan_apply_policy). Adapter failures are SL_ERETRY
 * with class SL_ERRC_SCANNER.
 *
 * spec.vex lists OpenVEX documents (vex.h): a ConfigMap key (configMapRef) or an OCI artifact
 * (image, e.g. pushed by `oras push --artifact-type application/openvex+json`; every layer is
 * one document; credentials and insecure as for the database image). They are reloaded when
 * the ConfigMap changes or the artifact's digest does; status.vex says how many documents and
 * statements are in use. A document that cannot be read or is not valid OpenVEX makes the
 * policy Ready=False (InvalidVEX, naming the entry and the error; ConfigMapNotFound,
 * VEXLoadFailed) and the gate waits: findings are never let through on a VEX that was not
 * read. The gate suppresses findings a not_affected or fixed statement covers for the scanned
 * digest, its index or its source repository, and lists them in the ImageDelivery's scan
 * summary (vexSuppressed, suppressed). An attestations entry names the keys (SigningKeys or
 * ConfigMap keys, loaded by the reconciler) whose OpenVEX attestations attached to the scanned
 * digest count too: the gate reads them on every pass (scan/vexatt.h), merges their statements
 * and keys its cache on them; the summary's vexAttestations says how many were used and
 * ignored. */
#ifndef SL_SCAN_POLICY_H
#define SL_SCAN_POLICY_H

#include "scan/gate.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#define SL_SCANPOLICY_RECHECK_MS (10 * 60 * 1000)
/* Entries of spec.vex, and layers read from one VEX artifact. */
#define SL_SCANPOLICY_MAX_VEX        16
#define SL_SCANPOLICY_MAX_VEX_LAYERS 16
#define SL_SCANPOLICY_RETRY_MS       (30 * 1000)
/* Scan results kept by the gate. */
#define SL_SCAN_CACHE_MAX 1024

int sl_scanpolicy_reconciler_new(struct sl_reconciler **out, struct sl_err *err);

/* The gate over the process-wide policy store (ctx unused). */
void sl_scanpolicy_gate(struct sl_scan_gate *out);

/* The attestation gate over the same store (ctx unused): SBOMs from the image's packages and
 * vulnerability reports with the policy's loaded database and rules, for every image manifest a
 * delivery put in a target; revision_out is the database digest, and a fresh report is due when
 * it changed or the policy's rescanInterval passed since the last one. */
void sl_scanpolicy_attest_gate(struct sl_attest_gate *out);

/* The revision of ScanPolicy ns/name as the gate uses it: its loaded database digest and spec
 * revision, written to out (cap bytes; 128 is enough). Two equal revisions mean the same
 * database and rules. Returns 0, or SL_ENOTFOUND when the policy is not loaded and Ready. */
int sl_scanpolicy_revision(char *out, size_t cap, const char *ns, const char *name);

/* Forgets every loaded policy and cached result (tests). */
void sl_scanpolicy_store_reset(void);

#endif
