/* Key-based signatures in the Sigstore bundle format, as cosign v3 writes them by default.
 *
 * A bundle (media type application/vnd.dev.sigstore.bundle.v0.3+json) holds a DSSE envelope whose
 * payload is an in-toto statement: subject = the image digest, predicateType
 * https://sigstore.dev/cosign/sign/v1, empty predicate. The envelope's signature is over the DSSE
 * pre-authentication encoding PAE(payloadType, payload) =
 *   "DSSEv1" SP len(type) SP type SP len(body) SP body
 * and verificationMaterial.publicKey.hint is the base64 SHA-256 of the key's DER
 * SubjectPublicKeyInfo.
 *
 * In a registry the bundle is the one layer of an OCI 1.1 artifact manifest (artifactType = the
 * bundle media type, config = the empty descriptor, subject = the signed image), found through
 * the referrers API or, on a registry without it, the `sha256-<hex>` tag-schema fallback index.
 *
 * No transparency-log entry or timestamp is written or required: sealift verifies offline against
 * the configured key only (cosign's `--insecure-ignore-tlog`). */
#ifndef SL_SIGN_BUNDLE_H
#define SL_SIGN_BUNDLE_H

#include "oci/registry.h"
#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

#define SL_BUNDLE_MEDIA_TYPE     "application/vnd.dev.sigstore.bundle.v0.3+json"
#define SL_BUNDLE_PREDICATE_TYPE "https://sigstore.dev/cosign/sign/v1"
#define SL_BUNDLE_PAYLOAD_TYPE   "application/vnd.in-toto+json"
#define SL_BUNDLE_MAX            ((size_t)1 << 20)

/* Verifies a DSSE envelope (env, borrowed: {payloadType, payload, signatures[{sig}]}) with
 * keys[0..nkeys): the payload type must be SL_BUNDLE_PAYLOAD_TYPE and one of the first 16
 * signatures (each at most 64 KiB of base64) must verify over PAE(payloadType, payload) with one
 * of the keys. On success *payload (caller frees; NUL-terminated) gets the decoded payload,
 * *payload_len its length and *key_index the verifying key. Returns 0, SL_EINVAL (not an
 * envelope, payload not base64) or SL_EDIGEST (another payload type, or no signature verifies:
 * err names the first key's fingerprint). Outputs are untouched on failure. */
int sl_dsse_verify(unsigned char **payload, size_t *payload_len, int *key_index, const json_t *env,
                   const struct sl_key *const *keys, size_t nkeys, struct sl_err *err);

/* Checks one bundle (JSON bytes) for digest and key: the DSSE signature over the PAE encoding
 * verifies with key, the payload is an in-toto statement whose subject names digest (sha256) and
 * whose predicateType is SL_BUNDLE_PREDICATE_TYPE. Returns 0 (valid), SL_EDIGEST (well formed but
 * not valid for this digest and key: err says which check failed) or SL_EINVAL (not a DSSE bundle).
 */
int sl_bundle_check(const char *bundle, size_t len, const char *digest, const struct sl_key *key,
                    struct sl_err *err);

/* Builds a signed bundle for digest with key (private). *out (NUL-terminated JSON, *out_len bytes)
 * is the caller's (free). Returns 0, SL_EINVAL (public-only key, not a sha256 digest) or SL_EFAIL.
 */
int sl_bundle_build(char **out, size_t *out_len, const char *digest, const struct sl_key *key,
                    struct sl_err *err);

/* Signs payload (len bytes, of payload_type) as a DSSE envelope, as cosign writes attestation
 * layers: {"payloadType": ..., "payload": base64, "signatures": [{"keyid": "", "sig": base64}]},
 * the signature over PAE(payloadType, payload). *out (NUL-terminated JSON, *out_len bytes) is the
 * caller's. Returns 0, SL_EINVAL (public-only key) or SL_EFAIL. */
int sl_dsse_envelope(char **out, size_t *out_len, const char *payload_type, const void *payload,
                     size_t len, const struct sl_key *key, struct sl_err *err);

/* Builds a signed bundle whose DSSE envelope carries statement (an in-toto statement, len bytes,
 * payload type SL_BUNDLE_PAYLOAD_TYPE). *out is the caller's. Returns 0, SL_EINVAL (public-only
 * key) or SL_EFAIL. sl_bundle_build is this with the cosign signature statement. */
int sl_bundle_build_statement(char **out, size_t *out_len, const char *statement, size_t len,
                              const struct sl_key *key, struct sl_err *err);

/* Stores a bundle of statement (predicate type predicate_type, subject digest) signed with key in
 * reg/repo as an OCI 1.1 referrer of digest, the way cosign v3 stores attestations (annotation
 * dev.sigstore.bundle.predicateType), recorded in the fallback index without a referrers API.
 * Every call adds one referrer. Returns 0, SL_EINVAL (not a sha256 digest, public-only key) or the
 * registry's errors. */
int sl_bundle_attach_statement(struct sl_registry *reg, const char *repo, const char *digest,
                               const char *statement, size_t len, const char *predicate_type,
                               const struct sl_key *key, struct sl_err *err);

/* Stores a bundle for digest (signed with key) in reg/repo as an OCI 1.1 referrer, and records it
 * in the tag-schema fallback index (keeping its entries, with artifactType and annotations) when
 * the registry has no referrers API. Does nothing when a bundle of this key for digest is already
 * there (*added = 0). Returns 0 or the registry's errors; SL_EINVAL for a public-only key. */
int sl_bundle_sign(int *added, struct sl_registry *reg, const char *repo, const char *digest,
                   const struct sl_key *key, struct sl_err *err);

/* Checks the referrer manifest manifest_digest of digest in reg/repo: fetches it, requires a
 * bundle layer, fetches the bundle (at most SL_BUNDLE_MAX bytes) and runs sl_bundle_check for
 * each key. *key_index gets the index of the key that verified. *bytes (may be NULL) gets the
 * bundle bytes fetched. Returns 0, SL_EDIGEST / SL_EINVAL as sl_bundle_check (err names the first
 * problem), SL_ENOTFOUND when the manifest holds no bundle layer, or registry errors. */
int sl_bundle_verify_referrer(int *key_index, size_t *bytes, struct sl_registry *reg,
                              const char *repo, const char *digest, const char *manifest_digest,
                              const struct sl_key *const *keys, size_t nkeys, struct sl_err *err);

#endif
