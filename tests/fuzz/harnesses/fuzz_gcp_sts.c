/* libFuzzer harness: the Google STS token-exchange answer reader (controller/oci/gcp.c), given
 * the raw bytes. */
#include "oci/gcp.h"
#include "util/mem.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = NULL;
    int64_t expires = 0;
    struct sl_err err = {0};
    if (sl_gcp_sts_parse(&token, &expires, (const char *)data, size, 1796600000, &err) == 0) {
        if (!token || !*token || expires <= 1796600000 || expires > 1796600000 + 86400)
            __builtin_trap();
        sl_secure_free_str(token);
    } else if (token) {
        __builtin_trap(); /* out untouched on failure */
    }
    if (strchr(err.msg, '\n') || strchr(err.msg, '\r'))
        __builtin_trap();
    return 0;
}
