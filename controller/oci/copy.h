/* The copy engine: copies an image (manifest, or index with its children) between registries,
 * preserving digests.
 *
 * Order of work, which keeps a target tag from ever pointing at incomplete content:
 *   1. fetch the source manifest (by digest when given, else by tag) and verify its sha256;
 *   2. when the target tag already names that digest, stop (nothing is written);
 *   3. copy every blob of every selected manifest, up to `concurrency` at a time: a mount from
 *      another repository of the target registry where the target client put or saw that blob
 *      before (sl_registry_blob_home), else HEAD on the target and skip when present, else
 *      cross-repository mount when source and target are the same registry, else stream
 *      source -> target with bounded memory, verifying the sha256 while streaming; transient
 *      failures are retried with backoff;
 *   4. put child manifests by digest, then the top manifest by the target tag (written last).
 *
 * Platform filter: with platforms set and a multi-arch source, only matching children are
 * copied. The delivered index then holds only those children, so its digest differs from the
 * source's (result.digest vs result.source_digest); with single_platform_image and exactly one
 * platform, the matching child manifest itself is delivered (its digest is the child's). */
#ifndef SL_OCI_COPY_H
#define SL_OCI_COPY_H

#include "oci/auth.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

struct sl_copy_endpoint {
    const char *image;            /* reference text: host[:port]/path[:tag][@sha256:...] */
    const struct sl_creds *creds; /* NULL = anonymous */
    int insecure;                 /* allow http, skip TLS verification */
    const char *ca_pem;           /* extra CA certificates (PEM text) or NULL */
    const char *insecure_flag;    /* named in hints (sl_registry_opts.insecure_flag) or NULL */
    const char *creds_hint;       /* appended to 401/403 (sl_registry_opts.creds_hint) or NULL */
};

struct sl_copy_opts {
    const char *const *platforms; /* "os/arch[/variant]"; NULL or 0 = the whole index */
    size_t n_platforms;
    int single_platform_image;  /* one platform selected -> deliver that manifest, not an index */
    int immutable_tag;          /* an existing target tag naming another digest -> SL_ECONFLICT */
    int concurrency;            /* parallel blob copies; 0 = 2 */
    int max_attempts;           /* per request and per blob; 0 = 5 */
    int64_t backoff_base_ms;    /* 0 = 250 */
    const volatile int *cancel; /* optional: nonzero stops between blobs with SL_ECANCELED */
    /* The caller has just read what the target reference names (a manifest HEAD of the target
     * tag): target_checked set, target_digest that digest, or NULL / "" when the tag is absent.
     * The copy then does not ask the target again. */
    int target_checked;
    const char *target_digest;
};

struct sl_copy_result {
    char digest[72];        /* digest delivered to the target ("sha256:...") */
    char source_digest[72]; /* digest of the source manifest the reference resolved to */
    char media_type[96];    /* media type of the delivered manifest */
    int already_in_sync;    /* the target tag already named digest; nothing was written */
    unsigned blobs_total, blobs_present, blobs_mounted, blobs_copied;
    unsigned manifests_put;
    int64_t bytes_copied;
};

/* What a target holds against what a copy would put there, from the answer to a HEAD of the
 * target reference (head_rc: 0 with have set, SL_ENOTFOUND, or the HEAD's error in err).
 * Returns 1 when the target already names digest (nothing to write), 0 when the copy goes on
 * (err cleared: absent, or a tag that may move), SL_ECONFLICT when immutable forbids moving
 * target_tag (NULL: the target is addressed by digest) from have to digest, or head_rc. Shared
 * by the registry and the OCI-layout copies. */
int sl_copy_target_verdict(int head_rc, const char *have, const char *digest,
                           const struct sl_ref *dst, const char *target_tag, int immutable,
                           struct sl_err *err);

/* Copies src to dst. dst may omit the tag (the source tag is used) and must not name a digest
 * other than the one delivered. Returns 0 and fills out, or: SL_EINVAL (bad reference/
 * platform), SL_ENOTFOUND (source tag/digest/blob missing, or no child matches the platforms),
 * SL_EAUTH (401/403), SL_EDIGEST (content does not match its digest; the message names both
 * digests), SL_ECONFLICT (immutable_tag and the target tag names another digest), SL_ERETRY
 * (still failing after the retries), SL_ECANCELED, SL_EFAIL. err holds one line saying which
 * image and which step failed. out is untouched on failure. */
int sl_copy_image(struct sl_copy_result *out, const struct sl_copy_endpoint *src,
                  const struct sl_copy_endpoint *dst, const struct sl_copy_opts *opts,
                  struct sl_err *err);

/* The same with parsed references and registry clients the caller owns (so a reconciler can
 * reuse one client for resolving, copying several tags and checking targets). */
int sl_copy_image_refs(struct sl_copy_result *out, struct sl_registry *src_reg,
                       const struct sl_ref *src, struct sl_registry *dst_reg,
                       const struct sl_ref *dst, const struct sl_copy_opts *opts,
                       struct sl_err *err);

#endif
