/* The ImageDelivery reconciler (DESIGN.md section 3): delivers the selected tags of a source
 * repository to every target registry, by digest.
 *
 * Per tag, in this order: resolve the digest (manifest HEAD on the source) -> verify
 * (spec.verify: a cosign signature on the source digest by the public key of any one of the
 * SigningKeys of spec.verify.authorities[], so a key can be rotated by listing both) -> scan
 * (spec.scanPolicyRef, through the scan gate of gates.h; of what the copy delivers: with
 * spec.platforms only the selected platforms of an index) -> copy to every target (the copy engine
 * writes the tag last; the source's cosign signatures are copied along) -> sign in every target
 * (spec.sign: the SigningKey's private key, docker-reference = the target repository). A failed
 * gate stops that tag before any target is written.
 *
 * Steady state: one manifest HEAD per tag on the source and one per tag and target; when every
 * target names the digest status already records, nothing is copied, verified again or signed
 * again, and status is written once, with only lastCheckTime moved (the manager does not queue
 * the object again for that status-only write: the next check comes at the interval). Status is
 * only a report: the verify gate skips a digest only when this process itself verified it with
 * the same key (an in-memory record keyed by source, digest and key fingerprint), so a rotated
 * key re-checks everything and a forged status lets nothing through. Verification and signing run
 * again when the source digest moves, when a target is found in sync for the first time, and after
 * a spec change (metadata.generation != status.observedGeneration). Re-checked every spec.interval
 * (default 10m; raised to the controller's --min-interval).
 *
 * Administrator limits: `insecure: true` (plain http allowed, https still verified) or
 * `insecureSkipTLSVerify: true` on the source or a target is honoured only for a registry
 * listed with --insecure-registry (else Ready=False InsecureRegistryNotAllowed, stalled,
 * before anything is sent); all registry exchanges of one pass share the --registry-timeout
 * deadline (default 30m), after which the pass ends TRANSIENT with reason RegistryTimeout.
 *
 * Status: images[] {tag, digest, verified, scan, message, targets[] {image, digest, signed,
 * syncedAt}}, lastSyncTime (set when a pass delivered something), lastCheckTime (set by every
 * completed check: a pass that went over every selected tag, or found that no tag matches
 * spec.source.tagPattern; not by a suspended object nor by a pass that stopped on an
 * object-wide failure), summary {delivered, scanned, blocked, signed} (printer columns),
 * observedGeneration and conditions Verified (with spec.verify), Scanned (with
 * spec.scanPolicyRef), Synced, Signed (with spec.sign; Unknown NothingSigned when no tag is
 * signed in every target), Blocked, Ready. Conditions of gates the spec no longer has are
 * removed. syncedAt changes only when a target was written or first found in sync.
 *
 * Blocked tags: a tag a gate refuses by policy (ScanFailed, SignatureMissing, SignatureInvalid)
 * is listed in Blocked=True and does not fail the object: with a tag delivered and nothing else
 * wrong Ready is True (Delivered, the message names the blocked tags); with every tag blocked
 * Ready and Synced are False with the gate's reason. Any other failure owns Ready.
 *
 * Ready reasons and what happens next:
 *   Delivered (True)                      every selected tag that no gate blocked is in
 *                                         every target
 *   Suspended (Unknown)                   spec.suspend: no registry work at all; status keeps
 *                                         its other fields; re-checked when the spec changes
 *   InvalidSpec                           stalled until the spec changes (message names the
 *                                         field: unparseable reference, tag selection, ...)
 *   InsecureRegistryNotAllowed            stalled: `insecure: true` for a registry not listed
 *                                         by --insecure-registry
 *   WorkloadIdentityDisabled              stalled: provider aws without the controller's
 *                                         --workload-identity
 *   ServiceAccountNotFound,               waiting (30 s): serviceAccountName missing, or for
 *   InvalidServiceAccount                 provider aws without an IAM role annotation
 *   CloudAuthFailed                       provider aws: STS or ECR refused (waiting, 30 s) or
 *                                         were unreachable (transient)
 *   RegistryTimeout                       transient: the pass ran past --registry-timeout
 *   SecretNotFound, SigningKeyNotFound,   waiting: re-checked every 30 s and whenever the Secret
 *   SigningKeyNotReady                    / SigningKey changes
 *   InvalidSecret, InvalidSigningKey      stalled until the Secret / SigningKey or spec changes
 *   TagNotFound, DigestNotFound           waiting (30 s): the vendor may push it later
 *   AuthenticationFailed (401/403), RegistryUnavailable, DigestMismatch, RegistryError
 *                                         transient: the queue's exponential backoff
 *   ImmutableTagConflict                  the target keeps its digest; re-checked every interval
 *   SignatureMissing, SignatureInvalid,   every selected tag is blocked; re-checked every
 *   ScanFailed                            interval
 *   ScannerUnavailable                    the tag is not delivered; re-checked every interval
 *   ScanPolicyNotReady                    waiting (30 s)
 *   SigningFailed                         transient
 * Secrets must be of type kubernetes.io/dockerconfigjson and live in the ImageDelivery's own
 * namespace; their content never appears in messages, events or logs.
 *
 * Events: one Normal Delivered per pass that wrote (every tag written to a target, as many as fit
 * in the message); one Warning <reason> per distinct per-tag failure that the previous status did
 * not report for that tag (at most 16 a pass), so a new failure is told even while an older one
 * owns Ready; for object-wide failures Warning <reason> when the Ready reason changes; Normal
 * Ready when Ready becomes True again.
 *
 * Caches that keep the steady state cheap (all bounded, all thread-safe): registry clients per
 * host + TLS settings + credentials hash (connections, auth scheme and tokens survive between
 * reconciles; regops.h); the source client's answers (tag digests, manifests, signatures,
 * referrers) are shared for SL_IMD_RESOLVE_TTL_MS between the ImageDeliveries reading them;
 * Secrets read in the last 5 s are shared, and dropped as soon as the Secret watch reports any
 * event for them (before the reconciles that event enqueues run).
 *
 * Secondary watches: Secrets, SigningKeys and ScanPolicies. The reconciler remembers which
 * objects each ImageDelivery references (an in-memory index, updated when its spec is read, before
 * any registry work, and again after the pass), so a change to one of them (a ScanPolicy or
 * SigningKey becoming Ready) enqueues exactly the ImageDeliveries of that namespace that use it,
 * even while their first pass is still waiting on it. */
#ifndef SL_IMAGEDELIVERY_RECONCILER_H
#define SL_IMAGEDELIVERY_RECONCILER_H

#include "imagedelivery/gates.h"
#include "imagedelivery/regops.h"
#include "runtime/cloudcreds.h"
#include "runtime/config.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <time.h>

#define SL_IMAGEDELIVERY_DEFAULT_INTERVAL_MS (10 * 60 * 1000)
#define SL_IMAGEDELIVERY_WAIT_MS             (30 * 1000)

/* What the reconciler depends on, given to its constructor (the wiring passes the controller's;
 * unit tests their own). Every member is copied; NULL members mean: */
struct sl_imagedelivery_deps {
    /* the administrator's settings (--insecure-registry, --min-interval, --registry-timeout;
     * strings borrowed for the reconciler's life); NULL = none of them */
    const struct sl_controller_config *config;
    const struct sl_imd_registry_ops *registry; /* NULL = real client with a cache */
    /* the scan gate (gates.h); NULL or .scan NULL = no scanner in this controller */
    const struct sl_scan_gate *scan_gate;
    /* the attestation gate; NULL or .attest NULL = deliveries write no attestations */
    const struct sl_attest_gate *attest_gate;
    /* provider: aws logins (runtime/cloudcreds.h); NULL = the real AWS STS and ECR */
    const struct sl_cloud_ops *cloud;
    /* the wall clock the status times (lastCheckTime, syncedAt, ...) are read from, for tests;
     * NULL = time(NULL). clock_ctx is its argument. */
    time_t (*wall_now)(void *clock_ctx);
    void *clock_ctx;
};

/* Creates the ImageDelivery reconciler with deps (may be NULL). *out is the caller's until
 * handed to sl_manager_add; (*out)->free((*out)->self) frees everything, the struct
 * sl_reconciler included. Returns 0. */
int sl_imagedelivery_reconciler_new(struct sl_reconciler **out,
                                    const struct sl_imagedelivery_deps *deps, struct sl_err *err);

#endif
