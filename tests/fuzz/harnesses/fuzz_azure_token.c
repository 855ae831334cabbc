/* libFuzzer harness: the Entra ID token answer reader (controller/oci/azure.c), given the raw
 * bytes. */
#include "oci/azure.h"
#include "util/mem.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = NULL;
    int64_t expires = 0;
    struct sl_err err = {0};
    if (sl_azure_token_parse(&token, &expires, (const char *)data, size, 1796600000, &err) == 0) {
        if (!token || !*token || expires <= 1796600000)
            __builtin_trap();
        sl_secure_free_str(token);
    }
    if (strchr(err.msg, '\n') || strchr(err.msg, '\r'))
        __builtin_trap();
    return 0;
}
