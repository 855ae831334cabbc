/* ConversionReview decoding and encoding; see review.h. */
#include "api/review.h"

#include "api/convert.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define REVIEW_API_VERSION "apiextensions.k8s.io/v1"
#define MAX_UID_BYTES      128

/* the version part of a sealift.dev apiVersion, or NULL for any other group or version */
static const char *sealift_version(const char *api_version)
{
    size_t g = strlen(SL_API_GROUP);
    if (!api_version || strncmp(api_version, SL_API_GROUP, g) != 0 || api_version[g] != '/')
        return NULL;
    return sl_api_version_known(api_version + g + 1) ? api_version + g + 1 : NULL;
}

/* "ImageDelivery ns/name" of an object, for messages; bounded */
static void describe(char *out, size_t n, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    snprintf(out, n, "%.64s %.64s%s%.253s", kind ? kind : "(no kind)", ns ? ns : "", ns ? "/" : "",
             name ? name : "(no name)");
}

/* Converts every object of request into *converted, or sets message (size n) and returns -1. */
static int convert_all(json_t **converted, char *message, size_t n, const json_t *request)
{
    const char *desired = json_string_value(json_object_get(request, "desiredAPIVersion"));
    const json_t *objects = json_object_get(request, "objects");
    const char *to = sealift_version(desired);
    if (!to) {
        snprintf(message, n,
                 "desiredAPIVersion %.64s is not served by sealift's conversion webhook "
                 "(sealift.dev/v1alpha1, sealift.dev/v1beta1)",
                 desired ? desired : "(none)");
        return -1;
    }
    if (!json_is_array(objects)) {
        snprintf(message, n, "request.objects is not a list");
        return -1;
    }
    if (json_array_size(objects) > SL_API_REVIEW_MAX_OBJECTS) {
        snprintf(message, n, "%zu objects in one review, more than the %d sealift converts at once",
                 json_array_size(objects), SL_API_REVIEW_MAX_OBJECTS);
        return -1;
    }
    json_t *list = json_array();
    size_t i;
    const json_t *obj;
    json_array_foreach(objects, i, obj)
    {
        char what[400];
        describe(what, sizeof(what), obj);
        if (!json_is_object(obj)) {
            snprintf(message, n, "object %zu is not a JSON object", i);
            goto fail;
        }
        size_t bytes = json_dumpb(obj, NULL, 0, JSON_COMPACT);
        if (bytes == 0 || bytes > SL_API_REVIEW_MAX_OBJECT_BYTES) {
            snprintf(message, n, "object %zu (%s) is larger than %zu bytes", i, what,
                     SL_API_REVIEW_MAX_OBJECT_BYTES);
            goto fail;
        }
        const char *av = json_string_value(json_object_get(obj, "apiVersion"));
        const char *from = sealift_version(av);
        if (!from) {
            snprintf(message, n,
                     "object %zu (%s): apiVersion %.64s is not sealift.dev/v1alpha1 "
                     "or sealift.dev/v1beta1",
                     i, what, av ? av : "(none)");
            goto fail;
        }
        json_t *out = NULL;
        struct sl_err err = {0};
        if (sl_api_convert(&out, json_string_value(json_object_get(obj, "kind")), from, to, obj,
                           &err) != 0) {
            snprintf(message, n, "object %zu (%s): %s", i, what, err.msg);
            goto fail;
        }
        json_array_append_new(list, out);
    }
    *converted = list;
    return 0;
fail:
    json_decref(list);
    return -1;
}

int sl_api_review(char **out, const char *body, size_t len, struct sl_err *err)
{
    json_t *review = NULL, *resp = NULL, *converted = NULL;
    int rc = SL_EINVAL;
    if (len > SL_API_REVIEW_MAX_BYTES) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                        "ConversionReview of %zu bytes, more than the %zu accepted", len,
                        SL_API_REVIEW_MAX_BYTES);
        goto done;
    }
    json_error_t jerr;
    review = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!review) {
        sl_err_set(err, rc, SL_ERRC_JSON, "ConversionReview is not JSON: %s (line %d)", jerr.text,
                   jerr.line);
        goto done;
    }
    const char *api_version = json_string_value(json_object_get(review, "apiVersion"));
    const char *kind = json_string_value(json_object_get(review, "kind"));
    const json_t *request = json_object_get(review, "request");
    const char *uid = json_string_value(json_object_get(request, "uid"));
    if (!api_version || strcmp(api_version, REVIEW_API_VERSION) != 0 || !kind ||
        strcmp(kind, "ConversionReview") != 0) {
        sl_err_set(err, rc, SL_ERRC_INPUT, "not a ConversionReview of %s", REVIEW_API_VERSION);
        goto done;
    }
    if (!json_is_object(request) || !uid || !*uid || strlen(uid) > MAX_UID_BYTES) {
        sl_err_set(err, rc, SL_ERRC_INPUT, "ConversionReview without a request.uid (1 to %d bytes)",
                   MAX_UID_BYTES);
        goto done;
    }
    char message[1024];
    json_t *result = json_object();
    if (convert_all(&converted, message, sizeof(message), request) == 0) {
        json_object_set_new(result, "status", json_string("Success"));
    } else {
        json_object_set_new(result, "status", json_string("Failure"));
        json_object_set_new(result, "message", json_string(message));
    }
    json_t *response = json_object();
    json_object_set_new(response, "uid", json_string(uid));
    if (converted) {
        json_object_set(response, "convertedObjects", converted);
    }
    json_object_set_new(response, "result", result);
    resp = json_object();
    json_object_set_new(resp, "apiVersion", json_string(REVIEW_API_VERSION));
    json_object_set_new(resp, "kind", json_string("ConversionReview"));
    json_object_set_new(resp, "response", response);
    char *text = json_dumps(resp, JSON_COMPACT);
    if (!text) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_JSON, "encoding the ConversionReview response failed");
        rc = SL_EFAIL;
        goto done;
    }
    *out = text;
    rc = 0;
done:
    json_decref(review);
    json_decref(resp);
    json_decref(converted);
    return rc;
}
