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
 * delivered platforms. */
#ifndef SL_SCAN_POLICY_H
#define SL_SCAN_POLICY_H

#include "imagedelivery/gates.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#define SL_SCANPOLICY_RECHECK_MS (10 * 60 * 1000)
#define SL_SCANPOLICY_RETRY_MS   (30 * 1000)
/* Scan results kept by the gate. */
#define SL_SCAN_CACHE_MAX 1024

int sl_scanpolicy_reconciler_new(struct sl_reconciler **out, struct sl_err *err);

/* The gate over the process-wide policy store (ctx unused). */
void sl_scanpolicy_gate(struct sl_scan_gate *out);

/* Forgets every loaded policy and cached result (tests). */
void sl_scanpolicy_store_reset(void);

#endif
