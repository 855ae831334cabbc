/* libFuzzer harness: the ACR /oauth2/exchange answer reader (controller/oci/azure.c), given the
 * raw bytes. */
#include "oci/azure.h"
#include "util/mem.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = NULL;
    struct sl_err err = {0};
    if (sl_azure_acr_exchange_parse(&token, (const char *)data, size, &err) == 0) {
        if (!token || !*token || strchr(token, ' '))
            __builtin_trap();
        sl_secure_free_str(token);
    }
    if (strchr(err.msg, '\n') || strchr(err.msg, '\r'))
        __builtin_trap();
    return 0;
}
