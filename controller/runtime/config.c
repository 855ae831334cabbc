/* Checks against the controller settings (runtime/config.h). */
#include "runtime/config.h"

#include <stdlib.h>
#include <string.h>

bool sl_controller_insecure_allowed(const struct sl_controller_config *cc, const char *hostport)
{
    if (!cc || !hostport || !*hostport)
        return false;
    /* the host part ends at the port's colon; an IPv6 literal keeps its brackets */
    const char *colon = strrchr(hostport, ':');
    if (colon && strchr(colon, ']'))
        colon = NULL;
    size_t host_len = colon ? (size_t)(colon - hostport) : strlen(hostport);
    for (size_t i = 0; i < cc->n_insecure_registries; i++) {
        const char *e = cc->insecure_registries[i];
        if (!e || !*e)
            continue;
        if (strcmp(e, hostport) == 0)
            return true;
        if (strlen(e) == host_len && strncmp(e, hostport, host_len) == 0)
            return true;
    }
    return false;
}

bool sl_controller_scanner_url_allowed(const struct sl_controller_config *cc, const char *url)
{
    if (!cc || !url)
        return false;
    for (size_t i = 0; i < cc->n_scanner_urls; i++) {
        const char *p = cc->scanner_urls[i];
        size_t n = p ? strlen(p) : 0;
        if (n == 0 || strncmp(url, p, n) != 0)
            continue;
        /* on a path boundary: "https://scan.example" must not admit "https://scan.example.evil" */
        if (p[n - 1] == '/' || url[n] == '\0' || url[n] == '/')
            return true;
    }
    return false;
}

int64_t sl_controller_clamp_interval_ms(const struct sl_controller_config *cc, int64_t interval_ms)
{
    if (!cc || interval_ms <= 0 || interval_ms >= cc->min_interval_ms)
        return interval_ms;
    return cc->min_interval_ms;
}
