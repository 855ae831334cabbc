/* DeployPolicy -> admission objects (DESIGN.md section 3, DeployPolicy; section 5, admission).
 *
 * Rules that CEL can decide (allowedRegistries, requireDigest, forbidPrivileged,
 * forbidHostNamespaces, forbidHostPath, requireRunAsNonRoot, allowedCapabilities) become one
 * ValidatingAdmissionPolicy plus its ValidatingAdmissionPolicyBinding
 * (admissionregistration.k8s.io/v1) covering every request that puts an image into a pod: Pods
 * and ReplicationControllers (CREATE, UPDATE), the pods/ephemeralcontainers subresource
 * (UPDATE: `kubectl debug`) and the pod templates of Deployments, StatefulSets, DaemonSets,
 * ReplicaSets, Jobs and CronJobs (containers, initContainers and ephemeralContainers). With
 * `outputs: [Gatekeeper]` the same rules are also rendered as a Gatekeeper ConstraintTemplate
 * (Rego) and a Constraint. The ValidatingWebhookConfiguration for the rules sealift's webhook
 * enforces is rendered here too (sl_policy_render_webhook). Pure: no I/O.
 *
 * Namespaces: unless spec.includeSystemNamespaces is true, every binding and webhook selector
 * also excludes kube-system and the controller's namespace (label kubernetes.io/metadata.name),
 * so a webhook outage cannot keep sealift's own Pods or the cluster's system Pods from coming
 * back. */
#ifndef SL_POLICY_RENDER_H
#define SL_POLICY_RENDER_H

#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Name prefix of every generated object: "sealift-<policy name>". */
#define SL_POLICY_NAME_PREFIX "sealift-"
/* Label put on every generated object, value = DeployPolicy name. */
#define SL_POLICY_LABEL "sealift.dev/deploypolicy"
/* Path of a policy's webhook endpoint: "/admission/<policy name>". */
#define SL_POLICY_ADMISSION_PATH_PREFIX "/admission/"
#define SL_ADMISSION_PATH_PREFIX        SL_POLICY_ADMISSION_PATH_PREFIX
/* timeoutSeconds of the generated ValidatingWebhookConfiguration: how long the API server waits
 * for the webhook before failing the request (closed). The webhook answers within it. */
#define SL_ADMISSION_TIMEOUT_S 10
/* The controller's namespace when the caller does not know it (`sealift policy render`). */
#define SL_POLICY_DEFAULT_CONTROLLER_NAMESPACE "sealift-system"
/* The one apiVersion DeployPolicy is served as (crds/sealift.dev_deploypolicies.yaml). */
#define SL_POLICY_API_VERSION "sealift.dev/v1beta1"
/* The Service in front of the webhook listener, unless the controller is told otherwise. */
#define SL_POLICY_WEBHOOK_SERVICE_NAMESPACE "sealift-system"
#define SL_POLICY_WEBHOOK_SERVICE_NAME      "sealift-webhook"
#define SL_POLICY_WEBHOOK_SERVICE_PORT      443

/* One field of a DeployPolicy the API server would refuse. */
struct sl_policy_field_problem {
    char path[256]; /* "spec.rules.allowedRegistry", "spec.outputs[0]" (truncated) */
    char msg[512];  /* "<path>: unknown field", "<path>: Invalid value: ...", ... */
};

/* Checks the DeployPolicy `policy` (borrowed) against the CRD's schema, as the API server does
 * with strict field validation (kubectl's default): every field of spec must be one the schema
 * names, of its type (string, boolean, object, list), and enum fields (enforcement, outputs,
 * matchExpressions[].operator) one of their values; a null counts as absent. metadata and
 * status are not checked here; values (registry entries, fingerprints, image reference globs)
 * are sl_policy_render's. Stores the problems in document order
 * in out (at most max) and returns how many: 0 when the fields are all known and well typed. */
size_t sl_policy_check_fields(struct sl_policy_field_problem *out, size_t max,
                              const json_t *policy);

/* Whether the policy has rules sealift's webhook enforces (spec.verifyImages, requireAttestations),
 * i.e. whether the controller also creates a ValidatingWebhookConfiguration for it
 * (sl_policy_render_webhook). */
bool sl_policy_needs_webhook(const json_t *policy);

/* Renders the admission objects for the DeployPolicy `policy` (borrowed). controller_namespace
 * is excluded from the binding's namespaceSelector with kube-system (NULL or "" =
 * SL_POLICY_DEFAULT_CONTROLLER_NAMESPACE). *out gets a new JSON array of complete objects
 * (apiVersion, kind, metadata, spec), in apply order. Returns 0, or SL_EINVAL with err naming
 * the offending field (e.g. "spec.enforcement: unsupported value \"Sometimes\"", or an
 * allowedRegistries entry that is not host[:port][/path], a verifyImages authority without a
 * valid fingerprint pin, or a requireScanPassed that names no ScanPolicy). A policy with no
 * CEL-decidable rule renders no ValidatingAdmissionPolicy; the ValidatingWebhookConfiguration is
 * not part of *out (sl_policy_render_webhook). */
int sl_policy_render(json_t **out, const json_t *policy, const char *controller_namespace,
                     struct sl_err *err);

/* The namespaceSelector every generated binding, constraint and webhook uses: the policy's
 * spec.namespaceSelector plus, unless spec.includeSystemNamespaces is true, the requirement
 * kubernetes.io/metadata.name NotIn [kube-system, controller_namespace]. New reference. */
json_t *sl_policy_namespace_selector(const json_t *policy, const char *controller_namespace);

/* Where the API server reaches sealift's webhook. */
struct sl_policy_webhook_opts {
    const char *service_namespace; /* the Service in front of the webhook listener */
    const char *service_name;
    int service_port;
    const char *ca_bundle;            /* base64 PEM of the CA of the serving certificate, or NULL */
    const char *controller_namespace; /* excluded with kube-system, as for sl_policy_render */
    int timeout_seconds;
};

/* The fail-closed ValidatingWebhookConfiguration "sealift-<policy>" sending the requests
 * sl_policy_render's policy covers (including pods/ephemeralcontainers) in the selected
 * namespaces to POST /admission/<policy>. New reference; clientConfig.caBundle is absent when
 * opts->ca_bundle is NULL. */
json_t *sl_policy_render_webhook(const json_t *policy, const struct sl_policy_webhook_opts *opts);

/* The CEL expression that selects the pod spec of any supported kind (for tests and docs). */
const char *sl_policy_podspec_expression(void);

#endif
