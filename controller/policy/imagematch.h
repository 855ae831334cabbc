/* DeployPolicy spec.verifyImages: which entries apply to an image (docs/design/v1beta1.md).
 * An entry's imageReferences are globs on reference boundaries: a lone star is every image;
 * otherwise a star matches any run of characters except '/', ':' and '@', so the pattern
 * registry.vendor/<star> covers registry.vendor/app (with any tag or digest) but neither
 * registry.vendor/team/app nor registry.vendor.evil/app, and registry.vendor/app:1.<star> covers
 * the tags 1.x of that repository. A pattern is matched against the parsed reference's
 * "registry/repository", "registry/repository:tag" and "registry/repository@digest" (Docker Hub
 * names normalised: "nginx" is docker.io/library/nginx). Boundaries align one to one, so a
 * match costs at most pattern length x reference length, both bounded. Pure: no I/O. */
#ifndef SL_POLICY_IMAGEMATCH_H
#define SL_POLICY_IMAGEMATCH_H

#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct sl_ref; /* oci/ref.h */

/* Longest imageReferences pattern (the CRD's maxLength). */
#define SL_POLICY_PATTERN_MAX 1024
/* Most verifyImages entries a policy may have (the CRD's maxItems); the webhook keeps the
 * matching entries of an image as a bit mask. */
#define SL_POLICY_VERIFY_IMAGES_MAX 16

/* Whether pattern (an imageReferences entry) covers ref. A NULL or empty pattern, or one longer
 * than SL_POLICY_PATTERN_MAX, covers nothing. */
bool sl_policy_image_matches(const char *pattern, const struct sl_ref *ref);

/* Checks one imageReferences pattern: non-empty, at most SL_POLICY_PATTERN_MAX bytes, printable
 * ASCII without spaces. Returns 0 or SL_EINVAL with err saying what is wrong (without the
 * field's path, which the caller prefixes). */
int sl_policy_pattern_check(const char *pattern, struct sl_err *err);

/* The verifyImages entries (a JSON array, borrowed; at most SL_POLICY_VERIFY_IMAGES_MAX are
 * looked at) whose imageReferences cover ref, as a bit mask (bit i = entry i). 0: no entry
 * applies, so these rules admit the image. */
unsigned sl_policy_matching_entries(const json_t *verify_images, const struct sl_ref *ref);

/* Every SigningKey reference of a DeployPolicy (borrowed), in order: calls fn with the
 * reference ({namespace, name, fingerprint}, borrowed), its field path
 * ("spec.verifyImages[0].authorities[1].key.signingKeyRef") and ctx. Stops early when fn returns
 * non-zero and returns that value; 0 when all were visited. */
int sl_policy_each_key_ref(const json_t *policy,
                           int (*fn)(void *ctx, const json_t *ref, const char *path), void *ctx);

#endif
