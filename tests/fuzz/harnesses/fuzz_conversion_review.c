/* libFuzzer harness: ConversionReview bodies as the API server sends them to /convert, and
 * through them every kind's conversion and the carried sealift.dev/v1*-fields annotations. */
#include "api/review.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    struct sl_err err = {0};
    if (sl_api_review(&out, (const char *)data, size, &err) == 0)
        free(out);
    return 0;
}
