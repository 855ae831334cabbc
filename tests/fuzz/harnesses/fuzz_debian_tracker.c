/* libFuzzer harness: advisory loading for Debian security tracker JSON and vuln-list-debian tracker
 * entries (the format is detected by content, so every parser is reachable), then matching each
 * loaded advisory against a few versions. */
#include <stdint.h>

#include "scan/advisory.h"

static void match_one(const struct sl_advisory *adv, void *ctx)
{
    (void)ctx;
    static const char *const versions[] = {"0", "1.0-1", "1:2.36-9+deb12u3", "1.2.5-r10",
                                           "1.0_rc1"};
    for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
        sl_advisory_affects(adv, SL_VERSION_DEB, versions[v], NULL);
        sl_advisory_affects(adv, SL_VERSION_APK, versions[v], NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_advdb db;
    sl_advdb_init(&db);
    struct sl_err err = {0};
    if (sl_advdb_load_buffer(&db, "fuzz", (const char *)data, size, &err) == 0)
        sl_advdb_each(&db, match_one, NULL);
    sl_advdb_free(&db);
    return 0;
}
