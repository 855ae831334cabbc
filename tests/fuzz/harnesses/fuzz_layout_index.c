/* libFuzzer harness: the index.json of an OCI image layout given to `sealift copy oci:DIR`. */
#include "oci/layout.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char digest[72], media_type[128];
    struct sl_err err = {0};
    static const char *const tags[] = {NULL, "1.0", "latest"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        if (sl_layout_index_find(digest, media_type, (const char *)data, size, "layout", tags[i],
                                 &err) == 0 &&
            (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71))
            __builtin_trap(); /* a path component that is not a digest must never come out */
    }
    return 0;
}
