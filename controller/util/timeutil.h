/* Time helpers: wall-clock RFC 3339 stamps (Kubernetes metav1.Time), monotonic milliseconds,
 * and Go-style durations ("10m", "1h30m", "500ms") as used in sealift specs. */
#ifndef SL_UTIL_TIMEUTIL_H
#define SL_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "2026-11-29T07:28:22Z" (second precision, as metav1.Time). out needs >= 21 bytes. */
void sl_time_format_rfc3339(char *out, size_t n, time_t t);
void sl_time_now_rfc3339(char *out, size_t n);
/* With milliseconds, for logs: "2026-11-29T07:28:22.123Z". */
void sl_time_now_rfc3339_ms(char *out, size_t n);
/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)" or a plain date "YYYY-MM-DD" (midnight UTC).
 * Returns 0 or SL_EINVAL. */
int sl_time_parse_rfc3339(time_t *out, const char *s);

/* Monotonic clock in milliseconds. */
int64_t sl_mono_ms(void);

/* Parses a Go duration: sequence of <number><unit> with units ns, us, ms, s, m, h. "0" is 0.
 * Result in milliseconds (sub-millisecond parts round down). Returns 0 or SL_EINVAL. */
int sl_duration_parse_ms(int64_t *out, const char *s);

#endif
