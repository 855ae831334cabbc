/* Attestations as cosign writes them: an in-toto statement (v0.1, as `cosign attest` writes it;
 * subject = the image digest, named by its repository) carrying a predicate, in a DSSE envelope
 * signed with a SigningKey (sign/bundle.h's DSSE code), stored
 *  - under cosign's attestation tag `sha256-<hex>.att`: an OCI image manifest whose layers are
 *    envelopes, media type application/vnd.dsse.envelope.v1+json, annotations predicateType and
 *    dev.cosignproject.cosign/signature (empty), layers already there kept (sign/cosign.h's
 *    merge, as for the .sig tag); and/or
 *  - as an OCI 1.1 referrer holding a Sigstore bundle (cosign v3's attestation format,
 *    annotation dev.sigstore.bundle.predicateType).
 * Every write adds an attestation: older ones stay and verify (the newest SL_ATTEST_KEEP of a key
 * and type under the .att tag); readers take the newest. */
#ifndef SL_SIGN_ATTEST_H
#define SL_SIGN_ATTEST_H

#include "oci/registry.h"
#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SL_ATTEST_STATEMENT_TYPE   "https://in-toto.io/Statement/v0.1"
#define SL_ATTEST_LAYER_MEDIA_TYPE "application/vnd.dsse.envelope.v1+json"
#define SL_ATTEST_ANN_PREDICATE    "predicateType"
/* Annotation on the .att layers sealift writes: "<predicateType> <key fingerprint>". Of the layers
 * carrying the same value only the newest SL_ATTEST_KEEP stay (older reports of the same key are
 * dropped when a new one is written; other writers' layers are never touched). */
#define SL_ATTEST_ANN_WRITER "dev.sealift.attestation"
#define SL_ATTEST_KEEP       8
/* Largest statement written (an SBOM of a big image stays far below). */
#define SL_ATTEST_STATEMENT_MAX ((size_t)16 << 20)

/* Builds the in-toto statement {"_type": v0.1, "predicateType", "subject": [{"name":
 * subject_name, "digest": {"sha256": hex}}], "predicate"} (compact JSON). *out is the caller's.
 * Returns 0, SL_EINVAL (not a sha256 digest, no name) or SL_ETOOBIG past
 * SL_ATTEST_STATEMENT_MAX. */
int sl_attest_statement(char **out, size_t *out_len, const char *subject_name, const char *digest,
                        const char *predicate_type, const json_t *predicate, struct sl_err *err);

/* Where sl_attest_write stores. */
struct sl_attest_where {
    bool tag;      /* the .att tag (cosign's default layout) */
    bool referrer; /* an OCI 1.1 referrer with a Sigstore bundle */
};

struct sl_attest_result {
    size_t layers;      /* attestations at the .att tag after the write (0 when not written) */
    char statement[72]; /* sha256 of the statement written */
};

/* Signs the statement of predicate (type predicate_type) for digest in reg/repo (subject_name:
 * "host/repo") with key and stores it where says. Returns 0, SL_EINVAL (public-only key, bad
 * digest, nowhere to store), SL_ETOOBIG, SL_ERETRY (concurrent writers, as sl_cosign_sign) or the
 * registry's errors (SL_EAUTH, ...). */
int sl_attest_write(struct sl_attest_result *out, struct sl_registry *reg, const char *repo,
                    const char *subject_name, const char *digest, const char *predicate_type,
                    const json_t *predicate, const struct sl_key *key,
                    const struct sl_attest_where *where, struct sl_err *err);

#endif
