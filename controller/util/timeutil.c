#include "util/timeutil.h"
#include "util/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

void sl_time_format_rfc3339(char *out, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void sl_time_now_rfc3339(char *out, size_t n)
{
    sl_time_format_rfc3339(out, n, time(NULL));
}

void sl_time_now_rfc3339_ms(char *out, size_t n)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03ldZ", base, (long)(tv.tv_usec / 1000));
}

static int parse_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int sl_time_parse_rfc3339(time_t *out, const char *s)
{
    if (!s)
        return SL_EINVAL;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (parse_digits(&p, 4, &y) || *p++ != '-' || parse_digits(&p, 2, &mo) || *p++ != '-' ||
        parse_digits(&p, 2, &d))
        return SL_EINVAL;
    long offset = 0;
    if (*p == '\0')
        goto build;
    if (*p != 'T' && *p != 't')
        return SL_EINVAL;
    p++;
    if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi) || *p++ != ':' ||
        parse_digits(&p, 2, &sec))
        return SL_EINVAL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return SL_EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om))
            return SL_EINVAL;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return SL_EINVAL;
    }
    if (*p != '\0')
        return SL_EINVAL;
build:
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return SL_EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm) - offset;
    return 0;
}

int64_t sl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl_duration_parse_ms(int64_t *out, const char *s)
{
    if (!s || !*s)
        return SL_EINVAL;
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    double total_ms = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return SL_EINVAL;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p)
            return SL_EINVAL;
        p = end;
        double mult;
        if (strncmp(p, "ns", 2) == 0) {
            mult = 1e-6;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            mult = 1e-3;
            p += 2;
        } else if (strncmp(p, "ms", 2) == 0) {
            mult = 1;
            p += 2;
        } else if (*p == 's') {
            mult = 1000;
            p++;
        } else if (*p == 'm') {
            mult = 60000;
            p++;
        } else if (*p == 'h') {
            mult = 3600000;
            p++;
        } else {
            return SL_EINVAL;
        }
        total_ms += v * mult;
        if (total_ms > 9.0e15)
            return SL_EINVAL;
    }
    *out = (int64_t)total_ms;
    return 0;
}
