/* libFuzzer harness: apk installed-database parsing and Alpine version comparison. */
#include <stdint.h>

#include "scan/pkgdb.h"
#include "scan/version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_pkgs pkgs;
    sl_pkgs_init(&pkgs);
    struct sl_err err = {0};
    sl_pkgdb_parse_apk(&pkgs, (const char *)data, size, &err);
    for (size_t i = 0; i + 1 < pkgs.count; i++) {
        int a = sl_version_apk_compare(pkgs.items[i].version, pkgs.items[i + 1].version);
        int b = sl_version_apk_compare(pkgs.items[i + 1].version, pkgs.items[i].version);
        if ((a < 0) != (b > 0))
            __builtin_trap(); /* the ordering must be antisymmetric */
        sl_version_apk_valid(pkgs.items[i].version);
    }
    sl_pkgs_clear(&pkgs);
    return 0;
}
