/* libFuzzer harness: dpkg status / status.d parsing, os-release parsing, and Debian version
 * comparison of whatever versions the input yields. */
#include <stdint.h>

#include "scan/pkgdb.h"
#include "scan/version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_pkgs pkgs;
    sl_pkgs_init(&pkgs);
    struct sl_err err = {0};
    sl_pkgdb_parse_dpkg(&pkgs, (const char *)data, size, true, &err);
    sl_pkgdb_parse_dpkg(&pkgs, (const char *)data, size, false, &err);
    for (size_t i = 0; i + 1 < pkgs.count; i++) {
        int a = sl_version_deb_compare(pkgs.items[i].version, pkgs.items[i + 1].version);
        int b = sl_version_deb_compare(pkgs.items[i + 1].version, pkgs.items[i].version);
        if ((a < 0) != (b > 0))
            __builtin_trap(); /* the ordering must be antisymmetric */
        sl_version_deb_valid(pkgs.items[i].src_version);
    }
    sl_pkgs_clear(&pkgs);
    struct sl_osinfo os;
    if (sl_osinfo_parse(&os, (const char *)data, size) == 0) {
        char eco[64];
        sl_osinfo_ecosystem(eco, sizeof(eco), &os);
        sl_osinfo_apply_apk_repositories(&os, (const char *)data, size);
    }
    return 0;
}
