#include "check.h"
#include "policy/admission.h"

#include <stdlib.h>
#include <string.h>

static const char *REVIEW =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"u-1\",\"kind\":{\"group\":\"batch\",\"version\":\"v1\",\"kind\":\"CronJob\"},"
    "\"namespace\":\"shop\",\"operation\":\"CREATE\",\"object\":{\"kind\":\"CronJob\","
    "\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{"
    "\"initContainers\":[{\"name\":\"i\",\"image\":\"r/a@sha256:1\"}],"
    "\"containers\":[{\"name\":\"c\",\"image\":\"r/b:1\"},{\"name\":\"d\",\"image\":\"r/"
    "a@sha256:1\"}],"
    "\"ephemeralContainers\":[{\"name\":\"e\",\"image\":\"r/e:1\"}]}}}}}}}}";

static int collect(void *ctx, const char *container, const char *image)
{
    char *buf = ctx;
    strcat(buf, container);
    strcat(buf, "=");
    strcat(buf, image);
    strcat(buf, ";");
    return 0;
}

static void test_parse_and_images(void)
{
    struct sl_admission_request req;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_admission_parse(&req, REVIEW, strlen(REVIEW), &err), 0);
    CHECK_STR_EQ(req.uid, "u-1");
    CHECK_STR_EQ(req.kind, "CronJob");
    CHECK_STR_EQ(req.namespace, "shop");
    CHECK(req.pod_spec != NULL);
    char buf[512] = "";
    sl_admission_each_image(req.pod_spec, collect, buf);
    /* containers first, duplicates once, init and ephemeral included */
    CHECK_STR_EQ(buf, "c=r/b:1;d=r/a@sha256:1;e=r/e:1;");
    sl_admission_request_free(&req);
}

/* `kubectl debug` on a running Pod: an UPDATE of pods/ephemeralcontainers whose object is the
 * whole Pod (as kube-apiserver sends it); the debug image must be among the checked images. */
static const char *DEBUG_REVIEW =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"u-2\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
    "\"subResource\":\"ephemeralcontainers\",\"namespace\":\"shop\",\"operation\":\"UPDATE\","
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\"},"
    "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"r/app@sha256:1\"}],"
    "\"ephemeralContainers\":[{\"name\":\"debugger\",\"image\":\"evil.example/shell:1\","
    "\"securityContext\":{\"privileged\":true}}]}},"
    "\"oldObject\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":["
    "{\"name\":\"app\",\"image\":\"r/app@sha256:1\"}]}}}}";

static void test_ephemeral_container_update(void)
{
    struct sl_admission_request req;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_admission_parse(&req, DEBUG_REVIEW, strlen(DEBUG_REVIEW), &err), 0);
    CHECK_STR_EQ(req.operation, "UPDATE");
    CHECK(req.pod_spec != NULL);
    char buf[512] = "";
    sl_admission_each_image(req.pod_spec, collect, buf);
    CHECK_STR_EQ(buf, "app=r/app@sha256:1;debugger=evil.example/shell:1;");
    sl_admission_request_free(&req);

    /* the same subresource's kind before Kubernetes 1.22, and a ReplicationController */
    json_t *eph = json_pack("{s:s, s:[{s:s, s:s}]}", "kind", "EphemeralContainers",
                            "ephemeralContainers", "name", "dbg", "image", "evil.example/x:1");
    buf[0] = '\0';
    sl_admission_each_image(sl_admission_pod_spec("EphemeralContainers", eph), collect, buf);
    CHECK_STR_EQ(buf, "dbg=evil.example/x:1;");
    json_decref(eph);
    json_t *rc = json_pack("{s:{s:{s:{s:[{s:s, s:s}]}}}}", "spec", "template", "spec", "containers",
                           "name", "c", "image", "evil.example/rc:1");
    buf[0] = '\0';
    sl_admission_each_image(sl_admission_pod_spec("ReplicationController", rc), collect, buf);
    CHECK_STR_EQ(buf, "c=evil.example/rc:1;");
    json_decref(rc);
}

static void test_bad_bodies(void)
{
    struct sl_admission_request req;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_admission_parse(&req, "{", 1, &err), SL_EINVAL);
    const char *wrong =
        "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\"}";
    CHECK_INT_EQ(sl_admission_parse(&req, wrong, strlen(wrong), &err), SL_EINVAL);
    const char *nouid = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                        "\"request\":{}}";
    CHECK_INT_EQ(sl_admission_parse(&req, nouid, strlen(nouid), &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "uid");
    const char *odd = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                      "\"request\":{\"uid\":\"x\",\"kind\":{\"kind\":\"Pod\"},\"object\":{\"spec\":"
                      "{\"containers\":[1,{\"image\":2},{\"name\":\"n\"}]}}}}";
    CHECK_INT_EQ(sl_admission_parse(&req, odd, strlen(odd), &err), 0);
    char buf[64] = "";
    sl_admission_each_image(req.pod_spec, collect, buf);
    CHECK_STR_EQ(buf, "");
    sl_admission_request_free(&req);
}

static void test_response(void)
{
    char *s = sl_admission_response("u-9", false, "image r/b:1: requireSignature: no signature");
    json_error_t jerr;
    json_t *j = json_loads(s, 0, &jerr);
    const json_t *resp = json_object_get(j, "response");
    CHECK_STR_EQ(json_string_value(json_object_get(resp, "uid")), "u-9");
    CHECK(json_is_false(json_object_get(resp, "allowed")));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(resp, "status"), "code")), 403);
    CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(resp, "status"), "message")),
                   "requireSignature");
    json_decref(j);
    free(s);
    s = sl_admission_response("u-10", true, NULL);
    CHECK_CONTAINS(s, "\"allowed\":true");
    free(s);
}

int main(void)
{
    RUN(test_parse_and_images);
    RUN(test_ephemeral_container_update);
    RUN(test_bad_bodies);
    RUN(test_response);
    return CHECK_EXIT();
}
