#include "policy/admission.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

const json_t *sl_admission_pod_spec(const char *kind, const json_t *object)
{
    if (!kind || !json_is_object(object))
        return NULL;
    const json_t *spec = json_object_get(object, "spec");
    const json_t *ps = NULL;
    if (strcmp(kind, "Pod") == 0)
        ps = spec; /* also the object of a pods/ephemeralcontainers review (`kubectl debug`) */
    else if (strcmp(kind, "EphemeralContainers") == 0)
        ps = object; /* that subresource's own kind before Kubernetes 1.22 */
    else if (strcmp(kind, "CronJob") == 0)
        ps = json_object_get(
            json_object_get(json_object_get(json_object_get(spec, "jobTemplate"), "spec"),
                            "template"),
            "spec");
    else if (!strcmp(kind, "Deployment") || !strcmp(kind, "StatefulSet") ||
             !strcmp(kind, "DaemonSet") || !strcmp(kind, "ReplicaSet") || !strcmp(kind, "Job") ||
             !strcmp(kind, "ReplicationController"))
        ps = json_object_get(json_object_get(spec, "template"), "spec");
    return json_is_object(ps) ? ps : NULL;
}

int sl_admission_parse(struct sl_admission_request *out, const char *body, size_t len,
                       struct sl_err *err)
{
    json_error_t jerr;
    json_t *r = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "AdmissionReview is not JSON: %s",
                          jerr.text);
    const char *api = json_string_value(json_object_get(r, "apiVersion"));
    const char *kind = json_string_value(json_object_get(r, "kind"));
    const json_t *req = json_object_get(r, "request");
    const char *uid = json_string_value(json_object_get(req, "uid"));
    if (!api || strcmp(api, "admission.k8s.io/v1") != 0 || !kind ||
        strcmp(kind, "AdmissionReview") != 0) {
        json_decref(r);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "expected apiVersion admission.k8s.io/v1, kind AdmissionReview");
    }
    if (!json_is_object(req) || !uid || !*uid) {
        json_decref(r);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "AdmissionReview without request.uid");
    }
    memset(out, 0, sizeof(*out));
    out->review = r;
    out->uid = uid;
    out->kind = json_string_value(json_object_get(json_object_get(req, "kind"), "kind"));
    out->namespace = json_string_value(json_object_get(req, "namespace"));
    if (!out->namespace)
        out->namespace = "";
    out->operation = json_string_value(json_object_get(req, "operation"));
    if (!out->operation)
        out->operation = "";
    const json_t *obj = json_object_get(req, "object");
    out->object = json_is_object(obj) ? obj : NULL;
    out->pod_spec = sl_admission_pod_spec(out->kind, out->object);
    return 0;
}

void sl_admission_request_free(struct sl_admission_request *req)
{
    if (req) {
        json_decref(req->review);
        memset(req, 0, sizeof(*req));
    }
}

int sl_admission_each_image(const json_t *pod_spec,
                            int (*fn)(void *ctx, const char *container, const char *image),
                            void *ctx)
{
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    json_t *seen = json_object();
    int rc = 0;
    for (size_t l = 0; l < 3 && !rc; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(pod_spec, lists[l]), i, c)
        {
            const char *image = json_string_value(json_object_get(c, "image"));
            const char *name = json_string_value(json_object_get(c, "name"));
            if (!image || json_object_get(seen, image))
                continue;
            json_object_set_new(seen, image, json_true());
            rc = fn(ctx, name ? name : "", image);
            if (rc)
                break;
        }
    }
    json_decref(seen);
    return rc;
}

char *sl_admission_response(const char *uid, bool allowed, const char *message)
{
    json_t *resp = json_pack("{s:s, s:b}", "uid", uid ? uid : "", "allowed", allowed);
    if (!allowed)
        json_object_set_new(resp, "status",
                            json_pack("{s:i, s:s, s:s}", "code", 403, "reason", "Forbidden",
                                      "message", message ? message : "denied"));
    json_t *review = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                               "AdmissionReview", "response", resp);
    char *s = json_dumps(review, JSON_COMPACT);
    json_decref(review);
    return s;
}

enum sl_enforcement sl_admission_enforcement(const json_t *policy)
{
    const char *e =
        json_string_value(json_object_get(json_object_get(policy, "spec"), "enforcement"));
    if (e && strcmp(e, "Warn") == 0)
        return SL_ENFORCE_WARN;
    if (e && strcmp(e, "Audit") == 0)
        return SL_ENFORCE_AUDIT;
    return SL_ENFORCE_DENY;
}

char *sl_admission_verdict(const char *uid, const char *violation, enum sl_enforcement enforcement)
{
    if (!violation || enforcement == SL_ENFORCE_DENY)
        return sl_admission_response(uid, violation == NULL, violation);
    json_t *resp = json_pack("{s:s, s:b}", "uid", uid ? uid : "", "allowed", 1);
    if (enforcement == SL_ENFORCE_WARN)
        json_object_set_new(resp, "warnings", json_pack("[s]", violation));
    else
        json_object_set_new(resp, "auditAnnotations", json_pack("{s:s}", "violation", violation));
    json_t *review = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                               "AdmissionReview", "response", resp);
    char *s = json_dumps(review, JSON_COMPACT);
    json_decref(review);
    return s;
}
