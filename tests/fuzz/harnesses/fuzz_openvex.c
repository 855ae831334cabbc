/* libFuzzer harness: OpenVEX documents (sl_vex_load), then matching every loaded statement's
 * vulnerability against a few images, packages and versions. */
#include <stdint.h>

#include "scan/vex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_vex vex;
    sl_vex_init(&vex);
    struct sl_err err = {0};
    if (sl_vex_load(&vex, "fuzz", (const char *)data, size, &err) == 0) {
        static const struct sl_vex_image imgs[] = {
            {"sha256:1111111111111111111111111111111111111111111111111111111111111111", NULL,
             "registry.example/acme/app"},
            {"sha256:2222222222222222222222222222222222222222222222222222222222222222",
             "sha256:1111111111111111111111111111111111111111111111111111111111111111", NULL},
            {NULL, NULL, "docker.io/library/busybox"},
        };
        for (size_t i = 0; i < vex.nstatements && i < 64; i++)
            for (size_t k = 0; k < sizeof(imgs) / sizeof(imgs[0]); k++) {
                const struct sl_vex_statement *st = sl_vex_decide(
                    &vex, &imgs[k], vex.statements[i].vulnerability, "libc6", "glibc", "2.36-9");
                if (st)
                    (void)sl_vex_doc_name(&vex, st);
            }
    }
    sl_vex_free(&vex);
    return 0;
}
