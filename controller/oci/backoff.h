/* Retry timing for registry calls: exponential backoff with jitter, and the Retry-After
 * header (delta-seconds or HTTP-date). Pure functions. */
#ifndef SL_OCI_BACKOFF_H
#define SL_OCI_BACKOFF_H

#include <stdint.h>
#include <time.h>

/* Delay before retry number attempt (0 = first retry): base_ms * 2^attempt capped at max_ms,
 * then "equal jitter": a value in [d/2, d] chosen by random (any 64-bit value). */
int64_t sl_backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, uint64_t random);

/* Parses a Retry-After value: "120" (seconds) or an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00
 * GMT") relative to now. A date in the past gives 0. Returns 0 and *out_ms, or -1 when the
 * value is neither form. */
int sl_retry_after_parse_ms(int64_t *out_ms, const char *value, time_t now);

/* A random 64-bit value for jitter (not for secrets). */
uint64_t sl_backoff_random(void);

#endif
