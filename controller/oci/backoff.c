#include "oci/backoff.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

int64_t sl_backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, uint64_t random)
{
    if (attempt < 0)
        attempt = 0;
    int64_t d = base_ms;
    for (int i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    if (d <= 1)
        return d < 0 ? 0 : d;
    int64_t half = d / 2;
    return half + (int64_t)(random % (uint64_t)(d - half + 1));
}

int sl_retry_after_parse_ms(int64_t *out_ms, const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ')
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end = NULL;
        errno = 0;
        long long s = strtoll(value, &end, 10);
        while (end && *end == ' ')
            end++;
        if (errno || !end || *end || s < 0)
            return -1;
        if (s > 86400)
            s = 86400;
        *out_ms = (int64_t)s * 1000;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    time_t t = timegm(&tm);
    *out_ms = t > now ? (int64_t)(t - now) * 1000 : 0;
    return 0;
}

uint64_t sl_backoff_random(void)
{
    uint64_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint64_t)rand();
    return r;
}
