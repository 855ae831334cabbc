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

/* Selects the tags of tags[0..n) that match the POSIX extended regular expression pattern
 * (regcomp REG_EXTENDED|REG_NOSUB; unanchored, as regexec: anchor with ^...$), sorted and without
 * duplicates. *out is an array of *n_out new strings (free with sl_imd_strv_free). Returns 0, or
 * SL_EINVAL with err holding regerror's text when the pattern does not compile. */
int sl_imd_select_tags(char ***out, size_t *n_out, char *const *tags, size_t n, const char *pattern,
                       struct sl_err *err);

/* Checks that pattern compiles as a POSIX ERE; 0 or SL_EINVAL with regerror's text in err. */
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
 * SL_EDIGEST, SL_EFAIL and other unexpected codes (retried with the queue's backoff); WAITING for
 * SL_ENOTFOUND (a tag that may be pushed later); DONE (re-checked at the interval) for
 * SL_ECONFLICT, SL_EINVAL, SL_EUNSUPPORTED and SL_ETOOBIG (the content or the target must
 * change). */
enum sl_result_kind sl_imd_kind_for_code(int code);

/* The worse of two result kinds for the object as a whole: TRANSIENT > WAITING > STALLED >
 * REQUEUE > DONE. */
enum sl_result_kind sl_imd_worse_kind(enum sl_result_kind a, enum sl_result_kind b);

/* Fills the printer-column fields of status from status.images:
 *   deliveredTags  images without "message" whose targets array has n_targets entries, each
 *                  with a digest;
 *   scanSummary    with scanning: the worst images[].scan.result (Failed > Error > Passed), "-"
 *                  when no image has a scan yet; without scanning: "-";
 *   signedSummary  with signing: "<delivered tags signed in every target>/<deliveredTags>";
 *                  without signing: "-". */
void sl_imd_summaries(json_t *status, size_t n_targets, bool scanning, bool signing);

#endif
