/* libFuzzer harness: manifest / index parsing and the platform filter
 * (controller/oci/manifest.c). */
#include "oci/manifest.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_manifest m;
    struct sl_err err = {0};
    if (sl_manifest_parse(&m, (const char *)data, size, NULL, &err) == 0) {
        if (m.kind == SL_MANIFEST_INDEX) {
            struct sl_platform p;
            sl_platform_parse(&p, "linux/amd64", NULL);
            char *out = NULL;
            size_t out_len = 0;
            if (sl_manifest_filter_index(&out, &out_len, (const char *)data, size, &p, 1, &err) ==
                0)
                free(out);
        }
        sl_manifest_free(&m);
    }
    return 0;
}
