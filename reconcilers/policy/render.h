/* DeployPolicy -> admission objects (DESIGN.md section 3, DeployPolicy; section 5, admission).
 *
 * Rules that CEL can decide (allowedRegistries, requireDigest, forbidPrivileged,
 * forbidHostNamespaces, forbidHostPath, requireRunAsNonRoot, allowedCapabilities) become one
 * ValidatingAdmissionPolicy plus its ValidatingAdmissionPolicyBinding
 * (admissionregistration.k8s.io/v1) covering Pods and the pod templates of Deployments,
 * StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs (containers, initContainers and
 * ephemeralContainers). With `outputs: [Gatekeeper]` the same rules are also rendered as a
 * Gatekeeper ConstraintTemplate (Rego) and a Constraint. Pure: no I/O. */
#ifndef SL_POLICY_RENDER_H
#define SL_POLICY_RENDER_H

#include "util/err.h"

#include <jansson.h>

/* Name prefix of every generated object: "sealift-<policy name>". */
#define SL_POLICY_NAME_PREFIX "sealift-"
/* Label put on every generated object, value = DeployPolicy name. */
#define SL_POLICY_LABEL "sealift.dev/deploypolicy"

/* Renders the admission objects for the DeployPolicy `policy` (borrowed). *out gets a new JSON
 * array of complete objects (apiVersion, kind, metadata, spec), in apply order. Returns 0, or
 * SL_EINVAL with err naming the offending field (e.g. "spec.enforcement: unsupported value
 * \"Sometimes\""). A policy with no CEL-decidable rule renders no ValidatingAdmissionPolicy. */
int sl_policy_render(json_t **out, const json_t *policy, struct sl_err *err);

/* The CEL expression that selects the pod spec of any supported kind (for tests and docs). */
const char *sl_policy_podspec_expression(void);

#endif
