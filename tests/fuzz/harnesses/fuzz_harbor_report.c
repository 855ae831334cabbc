/* libFuzzer harness: Harbor vulnerability reports (Pluggable Scanner API v1.1) from a scanner
 * adapter, parsed into findings, run through a policy and rendered back; plus the adapter's
 * metadata check, ScanRequest and ScanResponse parsing and error bodies over the same bytes. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "scan/harbor.h"
#include "scanner/harbor_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct sl_err err = {0};
    struct sl_scan_report rep;
    if (sl_harbor_report_parse(&rep, text, size, &err) == 0) {
        struct sl_allow_entry allow = {.id = "CVE-2099-0001", .until = 0, .reason = "r"};
        struct sl_scan_policy pol = {.fail_on_enabled = true,
                                     .fail_on = SL_SEV_HIGH,
                                     .ignore_unfixed = size % 2 == 0,
                                     .allow = &allow,
                                     .nallow = 1,
                                     .now = 0};
        sl_scan_apply_policy(&rep, &pol);
        struct sl_harbor_artifact art = {"a", "sha256:00", NULL};
        struct sl_harbor_scanner sc = {"s", "v", "1"};
        json_decref(sl_harbor_report_render(&rep, &art, &sc, "2026-01-01T00:00:00Z"));
    }
    sl_scan_report_free(&rep);
    struct sl_harbor_scanner meta;
    sl_harbor_metadata_check(&meta, text, size, NULL, &err);
    sl_harbor_metadata_check(&meta, text, size, "application/vnd.oci.image.manifest.v1+json", &err);
    struct sl_harbor_scan_request req;
    if (sl_harbor_scan_request_parse(&req, text, size, &err) == 0)
        sl_harbor_scan_request_free(&req);
    char *id = NULL;
    if (sl_harbor_scan_response_parse(&id, text, size, &err) == 0)
        free(id);
    char msg[128];
    sl_harbor_error_message(msg, sizeof(msg), text, size);
    return 0;
}
