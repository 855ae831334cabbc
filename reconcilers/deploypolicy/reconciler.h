/* The DeployPolicy reconciler (DESIGN.md section 3, DeployPolicy).
 *
 * Renders the policy (policy/render.h) and, for spec.verifyImages, a
 * ValidatingWebhookConfiguration that sends Pods (also their ephemeral containers) and
 * workloads of the selected namespaces to sealift's admission webhook (failurePolicy Fail, the
 * policy's namespaceSelector minus kube-system and the controller's namespace, caBundle from the
 * webhook certificate directory).
 *
 * Ready is True only when the policy works as written: everything applied; when the webhook is
 * needed, the configuration has a caBundle and the controller serves the webhook listener
 * (else WebhookNotReady); and every spec.verifyImages[].authorities entry's SigningKey
 * publishes the key whose fingerprint the entry pins (else KeyFingerprintMismatch naming the
 * SigningKey and both fingerprints, or SigningKeyNotReady). Not-ready policies are looked at
 * again every 10 s. Every generated object is applied with server-side apply
 * (only when it differs from the cluster), owned by the DeployPolicy (ownerReferences), updated
 * when the policy changes, deleted when the policy no longer produces it or is deleted, and
 * listed in status.generated. */
#ifndef SL_POLICY_RECONCILER_H
#define SL_POLICY_RECONCILER_H

#include "policy/render.h"
#include "runtime/reconciler.h"

#include <stdbool.h>

struct sl_deploypolicy_opts {
    /* Where the API server reaches the webhook: the Service (default
     * sealift-system/sealift-webhook, port 443). */
    const char *service_namespace;
    const char *service_name;
    int service_port; /* 0 = 443 */
    /* Directory of the webhook certificate (ca.crt, else tls.crt, is the caBundle); re-read on
     * every reconcile so rotated certificates reach the configuration. NULL = no caBundle. */
    const char *cert_dir;
    /* Whether this controller serves the admission webhook listener (--webhook-addr); NULL =
     * it does not. A policy that needs the webhook is Ready=False (WebhookNotReady) while the
     * webhook cannot answer: no listener, or no caBundle in the generated configuration. */
    bool (*webhook_serving)(void *ctx);
    void *webhook_ctx;
};

int sl_deploypolicy_reconciler_new(struct sl_reconciler **out,
                                   const struct sl_deploypolicy_opts *opts, struct sl_err *err);

#endif
