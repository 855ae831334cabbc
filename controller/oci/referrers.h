/* OCI 1.1 referrers: artifacts (signatures, attestations, SBOMs, ...) whose manifest names an
 * image as its `subject`, and the legacy cosign tags (`sha256-<hex>.sig`, `.att`, `.sbom`).
 *
 * A registry with the referrers API (GET /v2/<repo>/referrers/<digest> answers 200) indexes a
 * referrer when its manifest is pushed. On one without it, the writer keeps the tag-schema
 * fallback index: an OCI image index at tag `sha256-<hex>` of the subject listing one descriptor
 * per referrer, with the referrer's artifactType and annotations (verifiers filter on them).
 * Entries are only ever added to that index, never dropped. */
#ifndef SL_OCI_REFERRERS_H
#define SL_OCI_REFERRERS_H

#include "oci/registry.h"
#include "util/err.h"

#include <stddef.h>

#define SL_REFERRERS_MAX_TOTAL 256 /* referrer manifests handled per call, all levels together */
#define SL_REFERRERS_MAX_DEPTH 4   /* a referrer's referrers, and so on */

/* Records the referrer descriptor (JSON object text: mediaType, digest, size, artifactType,
 * annotations) of subject_digest in reg/repo: nothing to do when the registry has the referrers
 * API (it indexed the manifest when it was pushed), else adds the descriptor to the fallback
 * index, keeping every entry it has. *written (may be NULL) is 1 when the index was written.
 * Returns 0, SL_EINVAL (descriptor or existing index malformed) or registry errors. */
int sl_referrers_record(int *written, struct sl_registry *reg, const char *repo,
                        const char *subject_digest, const char *descriptor_json,
                        struct sl_err *err);

struct sl_referrers_opts {
    /* artifactTypes to copy (NULL/0: all); legacy cosign tags are copied unless
     * skip_legacy_tags */
    const char *const *artifact_types;
    size_t n_artifact_types;
    int skip_legacy_tags;
};

struct sl_referrers_result {
    size_t copied;      /* referrer manifests written to the target */
    size_t present;     /* referrer manifests the target already had */
    size_t tags_copied; /* legacy cosign tags written to the target */
    /* counts of referrers (copied or present) by artifactType */
    struct {
        char artifact_type[128];
        size_t count;
    } by_type[8];
    size_t n_types;
};

/* Copies every referrer of digest (and their referrers, recursively; for an index, the
 * referrers of each child manifest too) from src/src_repo to dst/dst_repo, digest-preserving,
 * then the legacy cosign tags of each of those digests that the target lacks (a tag the target
 * has is left as it is). On a target without the referrers API the fallback index is merged.
 * Bounded by SL_REFERRERS_MAX_TOTAL and SL_REFERRERS_MAX_DEPTH (beyond: SL_ETOOBIG). opts may be
 * NULL. out (may be NULL) gets the counts. Returns 0 or the copy engine's and registry's errors.
 */
int sl_referrers_copy(struct sl_referrers_result *out, struct sl_registry *src,
                      const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                      const char *digest, const struct sl_referrers_opts *opts, struct sl_err *err);

#endif
