/* sealift's validating admission webhook: enforces the DeployPolicy rules that need crypto or
 * registry state — spec.verifyImages: every entry whose imageReferences cover an image
 * (policy/imagematch.h; an image no entry covers is admitted by these rules) must pass, in
 * order: authorities (the image carries a valid cosign signature by one of the entry's
 * SigningKeys), then rules.requireAttestations with the same keys (the newest attestation of
 * each listed type, sign/attestation.h, is signed by one of those keys for the digest,
 * readable, younger than its maxAge and, for vuln, lists no finding at or above its
 * severityThreshold, default High; an allowed decision is cached no longer than until the
 * attestation goes stale), and requireScanPassed (one of the ScanPolicies the entry names,
 * {scanPolicyRefs: [{namespace, name}]}, passed the digest in a scan sealift made itself: the
 * scan record of scan/record.h, filled by the ImageDelivery reconciler's scan gate in the same
 * process; on a miss the webhook scans the digest in the background with that ScanPolicy and
 * denies "scan pending" until the record has it. No object's status is trusted). Each policy has
 * its own endpoint, POST /admission/<policy> (see policy/reconciler.h), served over TLS; a
 * request the webhook cannot decide is denied (the ValidatingWebhookConfiguration is fail-closed
 * too). runtimeClassNames, a CEL rule, is checked here too (without I/O) for the reviews the
 * webhook receives. spec.enforcement Warn admits a violating object with the denial as a
 * warning, Audit admits it with the denial as an audit annotation (and a log line).
 *
 * Images must be pinned by digest or resolvable to one (a tag is resolved with a manifest HEAD).
 * Registry credentials come only from the imagePullSecrets of the admitted object, in its own
 * namespace. Decisions are cached (bounded LRU, TTL; denials 10 s) per policy generation,
 * namespace, pull Secret names, repository and digest, i.e. everything a decision depends on;
 * answers that depend on the moment (a registry error, a check out of time, a scan pending, a
 * SigningKey not ready) are never cached.
 *
 * A check is bounded: a total deadline (check_deadline_ms), at most max_signatures signature
 * layers and max_signature_bytes of payloads; one namespace runs at most namespace_share of the
 * workers (and has at most twice that queued or running), so slow images of one tenant do not
 * stop the reviews of the others.
 *
 * Without reveal_details (callers not authenticated by a client certificate), denials say only
 * that the image is not verified: no digest, no registry answer; the log has the details.
 *
 * Threads: the handler runs on the webhook server's event-loop thread and never does I/O there.
 * A review whose images are all in the cache (or that a cached denial already decides) is
 * answered inline. Otherwise the request is deferred (http/server.h) and each image that needs
 * registry or API work becomes a job of a small bounded worker pool (http/workpool.h); jobs for
 * the same policy generation and image digest (or, for an image given by tag, the same image
 * reference) are coalesced, so concurrent misses do the registry work once. The answer goes
 * back through the loop as soon as it is decided, in container order as a synchronous check
 * would give it. The webhook fails closed without waiting when the pool's queue is full or it
 * is shutting down, and the server sends a denial when the answer is not ready shortly before
 * the API server's timeout (the request's ?timeout=, at most SL_ADMISSION_TIMEOUT_S). A job
 * outliving its request still fills the cache for the next one. */
#ifndef SL_POLICY_WEBHOOK_H
#define SL_POLICY_WEBHOOK_H

#include "http/server.h"
#include "runtime/reconciler.h"
#include "scan/gate.h"

#include <stddef.h>
#include <stdint.h>

/* Read access to sealift objects (informer caches in the controller, anything in tests); called
 * from the webhook's worker threads, so it must be thread-safe. */
struct sl_admission_lookup {
    void *ctx;
    /* A new reference to kind ns/name (ns "" for DeployPolicy), or NULL. */
    json_t *(*get)(void *ctx, const char *kind, const char *ns, const char *name);
    /* A new reference to an array of every object of kind. */
    json_t *(*list)(void *ctx, const char *kind);
};

struct sl_scan_record;

struct sl_admission_webhook_opts {
    /* --insecure-registry entries (host:port, or host for any port) reached over plain http */
    const char *const *insecure_registries;
    size_t n_insecure;
    int64_t cache_ttl_ms;   /* 0 = 5 minutes */
    size_t cache_max;       /* 0 = 4096 decisions */
    size_t workers;         /* threads doing cache-miss checks; 0 = 4 */
    size_t queue_max;       /* checks waiting for a worker before new misses are denied; 0 = 64 */
    size_t namespace_share; /* checks of one namespace running at once; 0 = workers / 2 */
    int64_t check_deadline_ms;  /* one image's registry work; 0 = 8 s */
    size_t max_signatures;      /* signature layers / referrers looked at per image; 0 = 16 */
    size_t max_signature_bytes; /* signature payload bytes per image; 0 = 1 MiB */
    /* Callers are authenticated (the listener verifies the API server's client certificate):
     * denials may name digests and registry errors. false = only "not verified". */
    bool reveal_details;
    /* requireScanPassed: the record of sealift's own scans (borrowed, must outlive the webhook)
     * and the gate that scans a digest the record does not have (copied; its scans are recorded,
     * e.g. sl_scan_record_gate). NULL: digests not in the record are denied. */
    struct sl_scan_record *scans;
    const struct sl_scan_gate *scan_gate;
};

struct sl_admission_webhook;

/* Starts the worker threads. rt (API access for Secrets) and lookup are borrowed and must
 * outlive the webhook; both are used from the worker threads. */
int sl_admission_webhook_new(struct sl_admission_webhook **out, struct sl_runtime *rt,
                             const struct sl_admission_lookup *lookup,
                             const struct sl_admission_webhook_opts *opts, struct sl_err *err);
/* Registers POST /admission/<policy> on srv (before it starts). */
void sl_admission_webhook_register(struct sl_admission_webhook *w, struct sl_http_server *srv);
/* Stops the workers: checks still queued are answered with a denial (fail closed), running
 * ones finish (bounded by the registry client's timeouts), the threads are joined. The server
 * may have stopped already (answers to its closed requests are dropped). NULL is a no-op. */
void sl_admission_webhook_free(struct sl_admission_webhook *w);

#endif
