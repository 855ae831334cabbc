/* libFuzzer harness: GitSource manifest loading (YAML documents -> checked sealift objects). */
#include "gitsource/manifests.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_git_file f = {.path = "fuzz.yaml"};
    f.content = malloc(size + 1);
    if (!f.content)
        return 0;
    memcpy(f.content, data, size);
    f.content[size] = '\0';
    f.len = size;
    struct sl_manifest_set set;
    sl_manifests_load(&set, &f, 1, "team", "sealift-system");
    sl_manifest_set_clear(&set);
    free(f.content);
    return 0;
}
