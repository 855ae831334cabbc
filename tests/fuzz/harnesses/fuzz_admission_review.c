/* libFuzzer harness: AdmissionReview bodies as the webhook receives them. */
#include "policy/admission.h"

#include <stdint.h>
#include <stdlib.h>

static int count_image(void *ctx, const char *container, const char *image)
{
    (*(int *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_admission_request req;
    struct sl_err err = {0};
    if (sl_admission_parse(&req, (const char *)data, size, &err) != 0)
        return 0;
    int n = 0;
    if (req.pod_spec)
        sl_admission_each_image(req.pod_spec, count_image, &n);
    char *resp = sl_admission_response(req.uid, n == 0, "denied");
    free(resp);
    sl_admission_request_free(&req);
    return 0;
}
