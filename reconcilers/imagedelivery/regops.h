/* The registry operations the ImageDelivery reconciler needs, behind a struct of function
 * pointers so unit tests run the reconciler against an in-memory fake (tests/unit/imagedelivery)
 * while the controller uses the real client (controller/oci/) and cosign engine (sign/cosign.h).
 *
 * The real implementation keeps a cache of registry clients keyed by host, TLS settings (hashes
 * of the CA and of the client certificate and key), a hash of the credentials and the read-cache
 * setting, so consecutive reconciles reuse connections,
 * learned auth schemes, Bearer tokens and (source clients) read answers: a delivery in sync costs
 * one manifest HEAD per tag and target, nothing else. */
#ifndef SL_IMAGEDELIVERY_REGOPS_H
#define SL_IMAGEDELIVERY_REGOPS_H

#include "oci/auth.h"
#include "oci/copy.h"
#include "oci/ref.h"
#include "oci/referrers.h"
#include "oci/registry.h"
#include "sign/bundle.h"
#include "sign/cosign.h"
#include "sign/keys.h"
#include "util/err.h"

#include <stddef.h>

struct sl_imd_registry_ops {
    void *ctx;
    /* A client for host with creds (may be NULL: anonymous) and opts (insecure, ca_pem, client
     * certificate). Never fails. Give it back with release(). */
    struct sl_registry *(*open)(void *ctx, const char *host, const struct sl_creds *creds,
                                const struct sl_registry_opts *opts);
    void (*release)(void *ctx, struct sl_registry *r);
    /* The semantics of sl_registry_manifest_head (media type not returned). */
    int (*head)(void *ctx, char digest_out[72], struct sl_registry *r, const char *repo,
                const char *reference, struct sl_err *err);
    /* Resolves a source tag to its digest: the semantics of head. May be NULL (then head is
     * used, as the real implementation does: the reconciler opens its source client with
     * sl_registry_opts.read_cache_ms, so one vendor image delivered to many customers costs one
     * source HEAD per tag and SL_IMD_RESOLVE_TTL_MS, not one per delivery). */
    int (*resolve)(void *ctx, char digest_out[72], struct sl_registry *r, const char *repo,
                   const char *reference, struct sl_err *err);
    /* The semantics of sl_registry_tags_list (free with sl_registry_strv_free). */
    int (*tags)(void *ctx, char ***tags_out, size_t *n_out, struct sl_registry *r, const char *repo,
                struct sl_err *err);
    /* The semantics of sl_registry_manifest_get (*out is the caller's,
     * sl_registry_manifest_free). Used only to work out what a platform-filtered delivery wrote
     * (gates.h: a tag stopped by the scan gate). May be NULL: such a tag is then never taken for
     * delivered before. */
    int (*manifest)(void *ctx, struct sl_registry_manifest *out, struct sl_registry *r,
                    const char *repo, const char *reference, struct sl_err *err);
    /* The semantics of sl_copy_image_refs. */
    int (*copy)(void *ctx, struct sl_copy_result *out, struct sl_registry *src_reg,
                const struct sl_ref *src, struct sl_registry *dst_reg, const struct sl_ref *dst,
                const struct sl_copy_opts *opts, struct sl_err *err);
    /* The semantics of sl_cosign_verify, sl_cosign_copy_signatures and sl_cosign_sign. */
    int (*verify)(void *ctx, struct sl_cosign_verify_result *out, struct sl_registry *r,
                  const char *repo, const char *digest, const struct sl_key *const *keys,
                  size_t nkeys, struct sl_err *err);
    int (*copy_signatures)(void *ctx, size_t *copied, struct sl_registry *src, const char *src_repo,
                           struct sl_registry *dst, const char *dst_repo, const char *digest,
                           struct sl_err *err);
    int (*sign)(void *ctx, struct sl_cosign_sign_result *out, struct sl_registry *r,
                const char *repo, const char *docker_reference, const char *digest,
                const struct sl_key *key, struct sl_err *err);
    /* The semantics of sl_bundle_sign (sign/bundle.h): a cosign v3 bundle as an OCI 1.1
     * referrer (spec.sign.format bundle or both). May be NULL: those formats then fail. */
    int (*sign_bundle)(void *ctx, int *added, struct sl_registry *r, const char *repo,
                       const char *digest, const struct sl_key *key, struct sl_err *err);
    /* The semantics of sl_referrers_copy (oci/referrers.h). May be NULL: no referrers are
     * delivered. */
    /* The sha256 of the source's referrers answer for digest (referrers API or fallback index),
     * into digest_out[72]: what tells a delivery in sync whether referrers were added since. May
     * be NULL: referrers then go along with fresh deliveries only. */
    int (*referrers_digest)(void *ctx, char digest_out[72], struct sl_registry *r, const char *repo,
                            const char *digest, struct sl_err *err);
    int (*copy_referrers)(void *ctx, struct sl_referrers_result *out, struct sl_registry *src,
                          const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                          const char *digest, const struct sl_referrers_opts *opts,
                          struct sl_err *err);
};

/* A thread-safe cache of registry clients (at most max_clients; 0 = 256). Clients unused for
 * idle_ms (0 = 30 minutes) or beyond the cap are freed when nobody holds them. */
struct sl_imd_registry_cache;

struct sl_imd_registry_cache *sl_imd_registry_cache_new(size_t max_clients, int64_t idle_ms);
/* Frees the cache and every client (none may be held any more). NULL is a no-op. */
void sl_imd_registry_cache_free(struct sl_imd_registry_cache *c);
/* How long the source client of a delivery keeps its read answers (sl_registry_opts.
 * read_cache_ms): the tag resolutions, manifests, signatures and referrers that every delivery of
 * the same vendor image reads. A tag moved at the source is seen at most this much later. */
#define SL_IMD_RESOLVE_TTL_MS 3000
/* Number of clients cached (for tests). */
size_t sl_imd_registry_cache_size(struct sl_imd_registry_cache *c);

/* Fills ops with the real implementation on cache (borrowed; must outlive ops). */
void sl_imd_registry_ops_real(struct sl_imd_registry_ops *ops, struct sl_imd_registry_cache *c);

#endif
