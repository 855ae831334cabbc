/* Conversion of sealift's objects between API versions (sealift.dev/v1alpha1 <-> v1beta1):
 * pure JSON -> JSON functions, one pair per kind, no I/O (docs/design/v1beta1.md, "Shape
 * changes"). The conversion webhook (api/review.h) calls them for the API server.
 *
 * Lossless in both directions: what the target version cannot express is kept in an annotation
 * of the converted object as a JSON merge patch (RFC 7386) and applied again on the way back,
 * so up(down(x)) == x and down(up(y)) == y for every object. A v1alpha1 object carries the
 * v1beta1-only content in "sealift.dev/v1beta1-fields"; a v1beta1 object carries what it cannot
 * express of a v1alpha1 object (a display string that integers do not reproduce, the old
 * `requireScanPassed: true`) in "sealift.dev/v1alpha1-fields". Neither patch ever touches
 * apiVersion, kind or metadata. A carried patch that contradicts the object it rides on (a
 * writer of that version changed a field the patch covers since) is dropped as a whole: the
 * version that was written wins. */
#ifndef SL_API_CONVERT_H
#define SL_API_CONVERT_H

#include "util/err.h"

#include <jansson.h>

#define SL_API_GROUP "sealift.dev"
/* annotation on v1alpha1 objects: the merge patch that restores v1beta1-only content */
#define SL_API_V1BETA1_FIELDS "sealift.dev/v1beta1-fields"
/* annotation on v1beta1 objects: the merge patch that restores v1alpha1-only content */
#define SL_API_V1ALPHA1_FIELDS "sealift.dev/v1alpha1-fields"

/* Whether kind is one of sealift's five kinds (ImageDelivery, ScanPolicy, SigningKey,
 * DeployPolicy, GitSource) and version one this build converts ("v1alpha1", "v1beta1"). */
int sl_api_kind_known(const char *kind);
int sl_api_version_known(const char *version);

/* An ImageDelivery image's scan result (images[].scan.result) as a rank, worst highest: 0 none
 * or unknown, 1 "Passed", 2 "Error", 3 "Failed". v1beta1's status.summary counts from it
 * (scanned: rank > 0, blocked: rank 3) and v1alpha1's scanSummary is the worst; the controller
 * (reconcilers/imagedelivery/delivery.c) and both directions of the conversion use it. */
int sl_api_scan_result_rank(const char *result);

/* Converts obj, an object of kind `kind` in version from_version ("v1alpha1" or "v1beta1",
 * without the group), to to_version. obj is only read. *out is a new object (caller frees with
 * json_decref) whose apiVersion is "sealift.dev/<to_version>"; equal versions give a copy.
 * Returns 0; SL_EINVAL (err says why) for an unknown kind or version, an object that is not a
 * JSON object, a carried annotation that is not a JSON object, or nesting deeper than 64 levels.
 * *out is untouched on failure. */
int sl_api_convert(json_t **out, const char *kind, const char *from_version, const char *to_version,
                   const json_t *obj, struct sl_err *err);

#endif
