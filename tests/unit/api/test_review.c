/* unit.api.review: ConversionReview requests as the API server sends them to /convert
 * (api/review.c): every object converted in order with the uid echoed, and a Failure result
 * (never a crash, never a partial list) for objects, versions and sizes sealift refuses. */
#include "check.h"

#include "api/convert.h"
#include "api/review.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *imagedelivery(const char *name)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s, s:{s:{s:s}}}, s:[{s:s}], s:{s:{s:s}}}}",
                     "apiVersion", "sealift.dev/v1alpha1", "kind", "ImageDelivery", "metadata",
                     "name", name, "namespace", "conv", "spec", "source", "image",
                     "registry.vendor.example/acme/app", "credentials", "secretRef", "name",
                     "vendor-pull", "targets", "image", "registry.customer.example/mirror/app",
                     "verify", "signingKeyRef", "name", "vendor-build");
}

static json_t *review_of(json_t *objects, const char *desired)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}}", "apiVersion", "apiextensions.k8s.io/v1",
                     "kind", "ConversionReview", "request", "uid", "705ab4f5-6393-11e8-b7cc",
                     "desiredAPIVersion", desired, "objects", objects);
}

/* runs a review; returns the parsed response (NULL and rc in *rc_out on refusal) */
static json_t *answer(json_t *review, int *rc_out, struct sl_err *err)
{
    char *body = json_dumps(review, JSON_COMPACT);
    char *out = NULL;
    int rc = sl_api_review(&out, body, strlen(body), err);
    if (rc_out)
        *rc_out = rc;
    json_t *resp = out ? json_loads(out, 0, NULL) : NULL;
    free(body);
    free(out);
    json_decref(review);
    return resp;
}

static const char *result_status(json_t *resp)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(resp, "response"), "result"), "status"));
}

static const char *result_message(json_t *resp)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(resp, "response"), "result"), "message"));
}

static json_t *converted(json_t *resp)
{
    return json_object_get(json_object_get(resp, "response"), "convertedObjects");
}

static void test_converts_in_order(void)
{
    json_t *objects = json_array();
    json_array_append_new(objects, imagedelivery("first"));
    json_array_append_new(objects, imagedelivery("second"));
    int rc = -1;
    json_t *resp = answer(review_of(objects, "sealift.dev/v1beta1"), &rc, NULL);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(resp, "kind")), "ConversionReview");
    CHECK_STR_EQ(json_string_value(json_object_get(resp, "apiVersion")), "apiextensions.k8s.io/v1");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(resp, "response"), "uid")),
                 "705ab4f5-6393-11e8-b7cc");
    CHECK_STR_EQ(result_status(resp), "Success");
    json_t *list = converted(resp);
    CHECK_INT_EQ(json_array_size(list), 2);
    json_t *second = json_array_get(list, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(second, "apiVersion")), "sealift.dev/v1beta1");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(second, "metadata"), "name")),
                 "second");
    json_t *source = json_object_get(json_object_get(second, "spec"), "source");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(source, "secretRef"), "name")),
                 "vendor-pull");
    json_decref(resp);
}

/* a list of one version converted to the same version (the API server asks for it when a list
 * mixes versions) is returned as is */
static void test_same_version(void)
{
    json_t *objects = json_array();
    json_array_append_new(objects, imagedelivery("same"));
    json_t *resp = answer(review_of(objects, "sealift.dev/v1alpha1"), NULL, NULL);
    CHECK_STR_EQ(result_status(resp), "Success");
    json_t *obj = json_array_get(converted(resp), 0);
    CHECK(json_object_get(json_object_get(json_object_get(obj, "spec"), "source"), "credentials") !=
          NULL);
    json_decref(resp);
}

static void test_bad_object_fails_the_review(void)
{
    json_t *objects = json_array();
    json_array_append_new(objects, imagedelivery("fine"));
    json_t *pod = imagedelivery("web");
    json_object_set_new(pod, "kind", json_string("Pod"));
    json_array_append_new(objects, pod);
    int rc = -1;
    json_t *resp = answer(review_of(objects, "sealift.dev/v1beta1"), &rc, NULL);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(result_status(resp), "Failure");
    CHECK_CONTAINS(result_message(resp), "object 1 (Pod conv/web)");
    CHECK_CONTAINS(result_message(resp), "not one of sealift's kinds");
    CHECK(converted(resp) == NULL);
    json_decref(resp);

    objects = json_array();
    json_t *other = imagedelivery("other-group");
    json_object_set_new(other, "apiVersion", json_string("evil.example/v1beta1"));
    json_array_append_new(objects, other);
    resp = answer(review_of(objects, "sealift.dev/v1beta1"), NULL, NULL);
    CHECK_STR_EQ(result_status(resp), "Failure");
    CHECK_CONTAINS(result_message(resp), "apiVersion evil.example/v1beta1");
    json_decref(resp);

    objects = json_array();
    json_array_append_new(objects, json_string("not an object"));
    resp = answer(review_of(objects, "sealift.dev/v1beta1"), NULL, NULL);
    CHECK_STR_EQ(result_status(resp), "Failure");
    CHECK_CONTAINS(result_message(resp), "object 0 is not a JSON object");
    json_decref(resp);

    objects = json_array();
    json_array_append_new(objects, imagedelivery("x"));
    resp = answer(review_of(objects, "sealift.dev/v2"), NULL, NULL);
    CHECK_STR_EQ(result_status(resp), "Failure");
    CHECK_CONTAINS(result_message(resp), "desiredAPIVersion sealift.dev/v2 is not served");
    json_decref(resp);
}

static void test_bounds(void)
{
    json_t *objects = json_array();
    for (int i = 0; i <= SL_API_REVIEW_MAX_OBJECTS; i++)
        json_array_append_new(objects, json_pack("{s:s, s:s}", "apiVersion", "sealift.dev/v1alpha1",
                                                 "kind", "GitSource"));
    json_t *resp = answer(review_of(objects, "sealift.dev/v1beta1"), NULL, NULL);
    CHECK_STR_EQ(result_status(resp), "Failure");
    CHECK_CONTAINS(result_message(resp), "501 objects in one review");
    json_decref(resp);

    /* one object over 1 MiB */
    size_t big = SL_API_REVIEW_MAX_OBJECT_BYTES + 10;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = '\0';
    json_t *obj = imagedelivery("huge");
    json_object_set_new(json_object_get(obj, "spec"), "padding", json_string(s));
    free(s);
    objects = json_array();
    json_array_append_new(objects, obj);
    resp = answer(review_of(objects, "sealift.dev/v1beta1"), NULL, NULL);
    CHECK_STR_EQ(result_status(resp), "Failure");
    CHECK_CONTAINS(result_message(resp), "object 0 (ImageDelivery conv/huge) is larger than");
    json_decref(resp);

    char *out = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_api_review(&out, "{}", SL_API_REVIEW_MAX_BYTES + 1, &err), SL_ETOOBIG);
    CHECK(out == NULL);
}

static void test_not_a_review(void)
{
    char *out = NULL;
    struct sl_err err = {0};
    const char *cases[] = {
        "",
        "{\"apiVersion\":",
        "[]",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"
        "\"u\"}}",
        "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"ConversionReview\",\"request\":{}}",
        "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"ConversionReview\","
        "\"request\":{\"uid\":\"a\",\"uid\":\"b\"}}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT_EQ(sl_api_review(&out, cases[i], strlen(cases[i]), &err), SL_EINVAL);
        CHECK(out == NULL);
    }
    CHECK_CONTAINS(err.msg, "ConversionReview is not JSON");
    CHECK_INT_EQ(sl_api_review(&out, NULL, 0, &err), SL_EINVAL);
}

int main(void)
{
    RUN(test_converts_in_order);
    RUN(test_same_version);
    RUN(test_bad_object_fails_the_review);
    RUN(test_bounds);
    RUN(test_not_a_review);
    return CHECK_EXIT();
}
