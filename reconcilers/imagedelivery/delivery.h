/* Pure pieces of the ImageDelivery reconciler, with no I/O, kept apart so unit tests check them
 * directly: tag selection by pattern, the mapping of registry error codes to condition reasons,
 * and the printer-column summaries of status. */
#ifndef SL_IMAGEDELIVERY_DELIVERY_H
#define SL_IMAGEDELIVERY_DELIVERY_H

#include "runtime/reconciler.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The tagPattern dialect: POSIX extended regular expressions (regcomp REG_EXTENDED), unanchored
 * as regexec (anchor with ^...$), plus the shorthands people write from Perl/RE2 habit, rewritten
 * to their POSIX spelling: \d \D \w \W \s \S outside brackets ([0-9], [^0-9], [A-Za-z0-9_],
 * [^A-Za-z0-9_], [[:space:]], [^[:space:]]), \d \w \s inside brackets, and (?:...) as (...).
 * Refused with SL_EINVAL and a message naming the construct and what to write instead: flag
 * groups such as (?i), lookarounds (?= (?! (?<= (?<!, non-greedy quantifiers (*? +? ?? }?),
 * assertions \b \B \A \z \Z, other letter escapes, and \D \W \S inside brackets.
 * *out is the POSIX pattern (free()). 0 or SL_EINVAL. */
int sl_imd_pattern_translate(char **out, const char *pattern, struct sl_err *err);

/* Selects the tags of tags[0..n) that match pattern (the dialect above), sorted and without
 * duplicates. *out is an array of *n_out new strings (free with sl_imd_strv_free). Returns 0, or
 * SL_EINVAL with err saying why when the pattern is refused or does not compile. */
int sl_imd_select_tags(char ***out, size_t *n_out, char *const *tags, size_t n, const char *pattern,
                       struct sl_err *err);

/* Checks that pattern is accepted (the dialect above); 0 or SL_EINVAL with the reason in err. */
int sl_imd_pattern_check(const char *pattern, struct sl_err *err);

void sl_imd_strv_free(char **v, size_t n);

/* The condition reason for a registry / copy error code:
 *   SL_ENOTFOUND -> "NotFound" (callers say TagNotFound / DigestNotFound where they know which),
 *   SL_EAUTH -> "AuthenticationFailed", SL_ERETRY -> "RegistryUnavailable",
 *   SL_EDIGEST -> "DigestMismatch", SL_ECONFLICT -> "ImmutableTagConflict",
 *   SL_EINVAL / SL_EUNSUPPORTED -> "InvalidContent", SL_ETOOBIG -> "ContentTooLarge",
 *   anything else -> "RegistryError". Static string. */
const char *sl_imd_reason_for_code(int code);

/* The result kind for a registry / copy error code: TRANSIENT for SL_ERETRY, SL_EAUTH,
 * SL_EDIGEST, SL_EFAIL and other unexpected codes (retried with the queue's backoff; the
 * reconciler turns a pass with an AuthenticationFailed into WAITING with
 * sl_imd_auth_backoff_ms); WAITING for
 * SL_ENOTFOUND (a tag that may be pushed later); DONE (re-checked at the interval) for
 * SL_ECONFLICT, SL_EINVAL, SL_EUNSUPPORTED and SL_ETOOBIG (the content or the target must
 * change). */
enum sl_result_kind sl_imd_kind_for_code(int code);

#define SL_IMD_AUTH_BACKOFF_MIN_MS (30 * 1000)
#define SL_IMD_AUTH_BACKOFF_MAX_MS (10 * 60 * 1000)

/* How long to wait before trying credentials a registry rejected again, so that retries cannot
 * lock the account: as long as the object's Ready has been False with reason
 * AuthenticationFailed (read from old_status's Ready lastTransitionTime, against now), at least
 * SL_IMD_AUTH_BACKOFF_MIN_MS and at most SL_IMD_AUTH_BACKOFF_MAX_MS; the minimum when Ready says
 * something else. Each wait about doubles the time since the failure began. */
int64_t sl_imd_auth_backoff_ms(const json_t *old_status, time_t now);

/* True when reason (a condition reason, may be NULL) is AuthenticationFailed. */
bool sl_imd_reason_is_auth_failure(const char *reason);

/* The worse of two result kinds for the object as a whole: TRANSIENT > WAITING > STALLED >
 * REQUEUE > DONE. */
enum sl_result_kind sl_imd_worse_kind(enum sl_result_kind a, enum sl_result_kind b);

/* Fills the printer-column fields of status from status.images:
 *   summary.delivered  images without "message" whose targets array has n_targets entries,
 *                      each with a digest;
 *   summary.scanned    with scanning: images with a scan result (Passed, Error or Failed);
 *                      absent without scanning;
 *   summary.blocked    with scanning: images whose scan result is Failed; absent without;
 *   summary.signed     with signing: delivered images signed in every target; absent without;
 *   referrersTotal     referrers delivered along (status.images[].targets[].referrers.count
 *                      added up). */
void sl_imd_summaries(json_t *status, size_t n_targets, bool scanning, bool signing);

#endif
