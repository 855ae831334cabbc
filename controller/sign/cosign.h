/* cosign-compatible signatures in OCI registries (DESIGN.md section 5).
 *
 * Layout (cosign's "tag" scheme): the signatures of image digest sha256:<hex> in repository R
 * live in R under the tag `sha256-<hex>.sig`: an OCI image manifest whose config is
 * application/vnd.oci.image.config.v1+json and which has one layer per signature, media type
 * application/vnd.dev.cosign.simplesigning.v1+json, blob = the simple-signing payload
 *   {"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
 *    "type":"cosign container image signature"},"optional":{...}}
 * and annotation dev.cosignproject.cosign/signature = base64 of the signature over the payload
 * bytes. Adding a signature keeps the layers already there; signing a digest again with the
 * same key adds nothing. Registries have no conditional manifest write, so a write re-reads the
 * manifest and re-merges until a read shows every signature it should hold (also after a settle
 * delay that lets a concurrent writer who read before us land its write), at most 8 writes.
 *
 * Verification looks at the `.sig` tag and at OCI referrers of the digest, and accepts the
 * image when any layer's payload names the digest and its signature verifies with one of the
 * given public keys, or when a referrer (OCI 1.1 referrers API or the tag-schema fallback index)
 * holds a Sigstore bundle that sl_bundle_check accepts (sign/bundle.h: cosign v3's format). */
#ifndef SL_SIGN_COSIGN_H
#define SL_SIGN_COSIGN_H

#include "oci/registry.h"
#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_COSIGN_SIG_MEDIA_TYPE "application/vnd.dev.cosign.simplesigning.v1+json"
#define SL_COSIGN_SIG_ANNOTATION "dev.cosignproject.cosign/signature"
#define SL_COSIGN_ARTIFACT_TYPE  "application/vnd.dev.cosign.artifact.sig.v1+json"
#define SL_COSIGN_PAYLOAD_MAX    ((size_t)1 << 20)

/* The signature tag of a digest: "sha256-<hex>.sig" into out (at least 80 bytes). Returns 0 or
 * SL_EINVAL when digest is not a sha256 digest. */
int sl_cosign_sig_tag(char *out, size_t n, const char *digest);

/* Builds the simple-signing payload for docker_reference ("host/repo") and digest; *out is the
 * caller's (free). */
int sl_cosign_payload(char **out, size_t *out_len, const char *docker_reference, const char *digest,
                      struct sl_err *err);

/* Checks one payload + base64 signature against digest and key. Returns 0 (valid),
 * SL_EDIGEST (payload names another digest, or the signature does not verify) or SL_EINVAL
 * (malformed payload or base64), with err saying which. */
int sl_cosign_check(const char *payload, size_t payload_len, const char *signature_b64,
                    const char *digest, const struct sl_key *key, struct sl_err *err);

struct sl_cosign_sign_result {
    bool added;        /* false: an equivalent signature by this key was already there */
    size_t signatures; /* layers in the signature manifest after the call */
    char manifest_digest[72];
};

/* Signs digest in reg/repo with key (private) and stores the signature under the .sig tag,
 * keeping existing signatures. docker_reference is what the payload's identity names ("host/repo").
 * A concurrent writer's signatures are kept and ours is re-added when one overwrote it (see
 * above); when another writer signed with the same key meanwhile, ours is withdrawn (added =
 * false). Returns 0, or the registry's error codes (SL_EAUTH, SL_ERETRY, ...), SL_EINVAL for a
 * public-only key or an existing .sig tag that is not a signature manifest, SL_ERETRY when
 * concurrent writers kept replacing the manifest through every write allowed. */
int sl_cosign_sign(struct sl_cosign_sign_result *out, struct sl_registry *reg, const char *repo,
                   const char *docker_reference, const char *digest, const struct sl_key *key,
                   struct sl_err *err);

/* Copies the signatures of digest from src (src_repo) into dst (dst_repo), keeping the ones
 * dst already has (union by payload digest and signature). *copied (may be NULL) gets how many
 * layers were added. The write re-merges like sl_cosign_sign's. Returns 0 (also when the
 * source has no signatures: *copied = 0) or an error (SL_ERETRY as for sl_cosign_sign). */
int sl_cosign_copy_signatures(size_t *copied, struct sl_registry *src, const char *src_repo,
                              struct sl_registry *dst, const char *dst_repo, const char *digest,
                              struct sl_err *err);

struct sl_cosign_verify_result {
    size_t signatures;        /* signature layers looked at */
    int key_index;            /* index in keys[] of the key that verified, -1 if none */
    char key_fingerprint[72]; /* fingerprint of that key */
};

/* Verifies that digest in reg/repo carries a valid signature by one of keys[0..nkeys).
 * Returns 0 (valid), SL_ENOTFOUND (no signature at all: "SignatureMissing"), SL_EDIGEST
 * (signatures exist but none is valid for these keys and this digest: "SignatureInvalid"; err
 * says why, e.g. wrong key or payload for another digest), or registry errors. */
int sl_cosign_verify(struct sl_cosign_verify_result *out, struct sl_registry *reg, const char *repo,
                     const char *digest, const struct sl_key *const *keys, size_t nkeys,
                     struct sl_err *err);

/* Bounds of one verification whose signature manifest may come from a hostile registry. */
struct sl_cosign_limits {
    size_t max_signatures;    /* signature layers and referrer manifests looked at; 0 = any */
    size_t max_payload_bytes; /* payload bytes fetched in total; 0 = any */
    int64_t deadline_ms; /* sl_mono_ms() time after which no further request starts; 0 = none */
};

/* sl_cosign_verify within limits (NULL = none). Besides its return codes: SL_ETOOBIG when a count
 * or byte limit stopped the check before a valid signature was found, SL_ERETRY when the deadline
 * did; err says which. */
int sl_cosign_verify_limited(struct sl_cosign_verify_result *out, struct sl_registry *reg,
                             const char *repo, const char *digest, const struct sl_key *const *keys,
                             size_t nkeys, const struct sl_cosign_limits *limits,
                             struct sl_err *err);

/* Which layers sl_cosign_attach_layer may drop: those whose annotation `annotation` equals value,
 * beyond the newest keep. */
struct sl_cosign_prune {
    const char *annotation;
    const char *value;
    size_t keep;
};

/* Adds layer (a descriptor: mediaType, size, digest, annotations; its blob already uploaded to
 * reg/repo) to the manifest at the sha256-<hex>.<suffix> tag of digest, suffix "sig" or "att"
 * (cosign's attestation tag: layers are DSSE envelopes), keeping the layers already there and
 * re-merging against concurrent writers as sl_cosign_sign does. An equal layer already there
 * (same digest and signature annotation) is not added twice. With prune (may be NULL), the oldest
 * layers it matches beyond its keep newest are dropped in the same write, so that a writer's own
 * repeated layers (reports written at every rescan) stay bounded. *layers_out (may be NULL) gets
 * how many layers the manifest holds after the call. Returns 0, SL_EINVAL (not a sha256 digest,
 * another suffix, a tag that holds no such manifest), SL_ERETRY as for sl_cosign_sign, or registry
 * errors. */
int sl_cosign_attach_layer(size_t *layers_out, struct sl_registry *reg, const char *repo,
                           const char *digest, const char *suffix, const json_t *layer,
                           const struct sl_cosign_prune *prune, struct sl_err *err);

#endif
