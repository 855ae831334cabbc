/* libFuzzer harness: docker config.json / .dockerconfigjson lookup (controller/oci/auth.c). */
#include "oci/auth.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *hosts[] = {"docker.io", "127.0.0.1:5000", "registry.example.com"};
    for (int i = 0; i < 3; i++) {
        struct sl_creds c;
        struct sl_err err = {0};
        if (sl_dockerconfig_lookup(&c, (const char *)data, size, hosts[i], &err) == 0)
            sl_creds_free(&c);
    }
    return 0;
}
