/* libFuzzer harness: ConversionReview bodies as the API server sends them to /convert, and
 * through them every kind's conversion and the carried sealift.dev/v1*-fields annotations.
 * Besides never crashing, every object the review converted must come back unchanged when it is
 * converted back, for objects as the API server stores them: metadata a map with a name,
 * annotations strings, no JSON null, none of sealift's own annotations. */
#include "api/convert.h"
#include "api/review.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int has_null(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_null(v))
        return 1;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) if (has_null(c)) return 1;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) if (has_null(c)) return 1;
    }
    return 0;
}

/* an object as the API server could store it, which the round trip must reproduce */
static int stored_shape(const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const json_t *ann = json_object_get(md, "annotations");
    if (!json_is_object(md) || !json_is_string(json_object_get(md, "name")) || has_null(obj))
        return 0;
    if (ann && (!json_is_object(ann) || json_object_size(ann) == 0))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ann, k, v)
    {
        if (!json_is_string(v) || strcmp(k, SL_API_V1BETA1_FIELDS) == 0 ||
            strcmp(k, SL_API_V1ALPHA1_FIELDS) == 0)
            return 0;
    }
    return 1;
}

static void check_round_trip(const json_t *request, const json_t *converted)
{
    const char *desired = json_string_value(json_object_get(request, "desiredAPIVersion"));
    const json_t *objects = json_object_get(request, "objects");
    size_t i;
    const json_t *in;
    json_array_foreach(objects, i, in)
    {
        const char *from = strchr(json_string_value(json_object_get(in, "apiVersion")), '/') + 1;
        const char *to = strchr(desired, '/') + 1;
        const char *kind = json_string_value(json_object_get(in, "kind"));
        json_t *back = NULL;
        struct sl_err err = {0};
        if (!stored_shape(in))
            continue;
        if (sl_api_convert(&back, kind, to, from, json_array_get(converted, i), &err) != 0 ||
            !json_equal((json_t *)in, back))
            abort();
        json_decref(back);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    struct sl_err err = {0};
    if (sl_api_review(&out, (const char *)data, size, &err) != 0)
        return 0;
    json_t *resp = json_loads(out, 0, NULL);
    json_t *converted = json_object_get(json_object_get(resp, "response"), "convertedObjects");
    if (converted) {
        json_t *review = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        check_round_trip(json_object_get(review, "request"), converted);
        json_decref(review);
    }
    json_decref(resp);
    free(out);
    return 0;
}
