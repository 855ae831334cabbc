/* The DeployPolicy reconciler (DESIGN.md section 3, DeployPolicy).
 *
 * Renders the policy (policy/render.h) and, for requireSignature / requireScanPassed, a
 * ValidatingWebhookConfiguration that sends Pods and workloads of the selected namespaces to
 * sealift's admission webhook (failurePolicy Fail, the policy's namespaceSelector, caBundle from
 * the webhook certificate directory). Every generated object is applied with server-side apply
 * (only when it differs from the cluster), owned by the DeployPolicy (ownerReferences), updated
 * when the policy changes, deleted when the policy no longer produces it or is deleted, and
 * listed in status.generated. */
#ifndef SL_POLICY_RECONCILER_H
#define SL_POLICY_RECONCILER_H

#include "runtime/reconciler.h"

struct sl_deploypolicy_opts {
    /* Where the API server reaches the webhook: the Service (default
     * sealift-system/sealift-webhook, port 443). */
    const char *service_namespace;
    const char *service_name;
    int service_port; /* 0 = 443 */
    /* Directory of the webhook certificate (ca.crt, else tls.crt, is the caBundle); re-read on
     * every reconcile so rotated certificates reach the configuration. NULL = no caBundle. */
    const char *cert_dir;
};

/* Path of a policy's webhook endpoint: "/admission/<policy name>". */
#define SL_ADMISSION_PATH_PREFIX "/admission/"

/* timeoutSeconds of the generated ValidatingWebhookConfiguration: how long the API server waits
 * for the webhook before failing the request (closed). The webhook answers within it. */
#define SL_ADMISSION_TIMEOUT_S 10

int sl_deploypolicy_reconciler_new(struct sl_reconciler **out,
                                   const struct sl_deploypolicy_opts *opts, struct sl_err *err);

#endif
