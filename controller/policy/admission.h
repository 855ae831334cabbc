/* AdmissionReview v1 handling for sealift's validating webhook (DESIGN.md section 5).
 *
 * Pure: parses the request, lists every container image of the object (Pods, including the
 * Pod a pods/ephemeralcontainers UPDATE carries, and the pod templates of ReplicationControllers,
 * Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs; init and ephemeral
 * containers included), asks the caller's checker about each image, and builds the
 * AdmissionReview response. Registry and signature work happens in the checker. */
#ifndef SL_POLICY_ADMISSION_H
#define SL_POLICY_ADMISSION_H

#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A parsed AdmissionReview request. Strings borrow from the request JSON held inside. */
struct sl_admission_request {
    json_t *review;         /* the whole AdmissionReview (owned) */
    const char *uid;        /* request.uid */
    const char *kind;       /* request.kind.kind ("Pod", "Deployment", ...) */
    const char *namespace;  /* request.namespace ("" for cluster-scoped) */
    const char *operation;  /* CREATE, UPDATE, DELETE, CONNECT */
    const json_t *object;   /* request.object, or NULL (DELETE) */
    const json_t *pod_spec; /* the pod spec inside object, or NULL when the kind has none */
};

/* Parses an AdmissionReview v1 body. Returns 0, or SL_EINVAL with err saying what is missing
 * (the webhook answers 400). */
int sl_admission_parse(struct sl_admission_request *out, const char *body, size_t len,
                       struct sl_err *err);
void sl_admission_request_free(struct sl_admission_request *req);

/* The pod spec of an object of kind (NULL when there is none or the kind is not a workload).
 * A review of the pods/ephemeralcontainers subresource has kind Pod and the whole Pod as its
 * object, so its ephemeral containers are in the returned spec. */
const json_t *sl_admission_pod_spec(const char *kind, const json_t *object);

/* Calls fn for every container image of the pod spec (containers, initContainers,
 * ephemeralContainers), in that order, with the container name. Stops when fn returns
 * non-zero and returns that value. Images repeated in several containers are reported once. */
int sl_admission_each_image(const json_t *pod_spec,
                            int (*fn)(void *ctx, const char *container, const char *image),
                            void *ctx);

/* DeployPolicy spec.enforcement: what a violation does to the review. */
enum sl_enforcement {
    SL_ENFORCE_DENY,  /* rejected (403) */
    SL_ENFORCE_WARN,  /* admitted; the client sees the message as a warning */
    SL_ENFORCE_AUDIT, /* admitted; the message goes into the audit annotations (and a log line) */
};

/* The enforcement a policy asks for: "Warn" or "Audit"; anything else (absent, "Deny", an
 * unknown value the reconciler reports) is Deny, which is the fail-closed reading. */
enum sl_enforcement sl_admission_enforcement(const json_t *policy);

/* Builds the AdmissionReview v1 response for uid after a policy check: violation NULL means
 * allowed; otherwise the message says which image and rule, and enforcement decides the answer:
 * Deny rejects with status 403 and the message, Warn admits with the message in
 * response.warnings, Audit admits with auditAnnotations {"violation": message} (the API server
 * prefixes the webhook's name). Returns the serialised JSON (caller frees). */
char *sl_admission_verdict(const char *uid, const char *violation, enum sl_enforcement enforcement);

/* Builds the AdmissionReview v1 response for uid. When denied, message explains (which image,
 * which rule) and the status code is 403. Returns the serialised JSON (caller frees). */
char *sl_admission_response(const char *uid, bool allowed, const char *message);

#endif
