/* libFuzzer harness: kubeconfig parsing (controller/kube/config.c). Relative file references
 * resolve against a directory that does not exist, so inputs cannot read test files. */
#include "kube/client.h"
#include "kube/internal.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    if (sl_kube_config_parse(&cfg, (const char *)data, size, "/nonexistent-sealift-fuzz", "fuzz",
                             &err) == 0)
        sl_kube_config_free(cfg);
    return 0;
}
