/* The conversion webhook's wire format: decodes an apiextensions.k8s.io/v1 ConversionReview
 * request, converts every object with sl_api_convert (api/convert.h) and encodes the response.
 * No I/O: the HTTP handler (POST /convert on the webhook listener) passes the body in and sends
 * what comes out. */
#ifndef SL_API_REVIEW_H
#define SL_API_REVIEW_H

#include "util/err.h"

#include <stddef.h>

/* bounds of one review, as the admission handler bounds its requests */
#define SL_API_REVIEW_MAX_OBJECTS      500
#define SL_API_REVIEW_MAX_OBJECT_BYTES ((size_t)1 << 20)
#define SL_API_REVIEW_MAX_BYTES        ((size_t)4 << 20)

/* Answers the ConversionReview in body (len bytes, need not be NUL-terminated).
 * Returns 0 with *out a NUL-terminated ConversionReview response (caller frees): request.uid
 * echoed, and either result.status "Success" with convertedObjects in request order, or
 * result.status "Failure" with a message naming the first object that could not be converted
 * (its index, kind and namespace/name) or the bound that was exceeded; a Failure response
 * converts nothing. Returns SL_ETOOBIG for a body over SL_API_REVIEW_MAX_BYTES and SL_EINVAL for
 * a body that is not a ConversionReview of apiextensions.k8s.io/v1 with a request.uid (no
 * response can be addressed: answer HTTP 413/400 with err->msg); *out untouched then. */
int sl_api_review(char **out, const char *body, size_t len, struct sl_err *err);

#endif
