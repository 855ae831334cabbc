/* OpenVEX attestations attached to the scanned image (ScanPolicy spec.vex[].attestations).
 *
 * A vendor attests an image with `cosign attest --type openvex --predicate vex.json --key
 * vendor.key IMAGE`: an in-toto statement whose predicate (type https://openvex.dev/ns, or a
 * versioned https://openvex.dev/ns/v...) is an OpenVEX document, in a DSSE envelope at the
 * image's `.att` tag or in a Sigstore bundle referrer (sign/attestation.h). The policy names the
 * authorities whose keys it trusts for that: SigningKeys of its namespace (their published
 * status.publicKey) or a PEM public key in a ConfigMap key.
 *
 * For each delivered digest the gate reads that digest's OpenVEX attestations, keeps those that
 * verify with one of the trusted keys and name the digest as subject, parses their predicates
 * as OpenVEX (vex.h) and merges their statements after the policy's other documents. An
 * attestation that is unsigned, signed by another key, for another digest or not valid OpenVEX
 * suppresses nothing and is counted as ignored, with the first reason, in what the gate reports.
 * The statements still have to name the image as a product (vex.h): a signature binds the
 * document to the digest, the product says what it is about.
 *
 * Bounded: at most SL_VEXATT_MAX_ATTESTATIONS envelopes or bundles and SL_VEXATT_MAX_BYTES in
 * all per digest, each at most SL_ATTESTATION_MAX bytes, and a deadline; a registry that holds
 * more is an error (no partial answer). */
#ifndef SL_SCAN_VEXATT_H
#define SL_SCAN_VEXATT_H

#include "kube/ops.h"
#include "oci/registry.h"
#include "scan/vex.h"
#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

#define SL_VEXATT_MAX_AUTHORITIES  8
#define SL_VEXATT_NAME_MAX         64 /* an authority's name, with its NUL */
#define SL_VEXATT_MAX_ATTESTATIONS 32
#define SL_VEXATT_MAX_BYTES        ((size_t)16 << 20)
#define SL_VEXATT_TIMEOUT_MS       (60 * 1000)
/* room for every authority's "name=sha256:<hex>;" */
#define SL_VEXATT_TRUST_FP_MAX (SL_VEXATT_MAX_AUTHORITIES * (SL_VEXATT_NAME_MAX + 80))

/* The keys of one spec.vex[].attestations entry. */
struct sl_vexatt_trust {
    struct sl_key *keys[SL_VEXATT_MAX_AUTHORITIES];
    char names[SL_VEXATT_MAX_AUTHORITIES][SL_VEXATT_NAME_MAX];
    size_t nkeys;
    /* every authority's name and key fingerprint: equal strings, equal trust */
    char fingerprint[SL_VEXATT_TRUST_FP_MAX];
};

/* Frees the keys and zeroes t. NULL is a no-op. */
void sl_vexatt_trust_clear(struct sl_vexatt_trust *t);

/* Checks the shape of att, the spec.vex[index].attestations object: authorities, 1 to
 * SL_VEXATT_MAX_AUTHORITIES of {name (1 to 63 bytes, unique), key: exactly one of
 * signingKeyRef{name} and configMapRef{name, key}}. Returns 0, or SL_EINVAL with err naming
 * the field ("spec.vex[0].attestations.authorities[1].key: ..."). */
int sl_vexatt_spec_check(const json_t *att, size_t index, struct sl_err *err);

/* Loads the public keys att (checked by sl_vexatt_spec_check) names, from the SigningKeys'
 * status.publicKey or the ConfigMap keys in namespace ns, into *out (the caller's, cleared
 * with sl_vexatt_trust_clear). On failure *reason (static) is the condition reason and err the
 * message naming the entry: SL_ENOTFOUND "SigningKeyNotReady" (missing, or no public key
 * published yet) or "ConfigMapNotFound"; SL_EINVAL "InvalidVEX" (the ConfigMap lacks the key, or
 * the text is no public key); other codes "APIError". *out is untouched on failure. */
int sl_vexatt_trust_load(struct sl_vexatt_trust *out, const struct sl_kube_ops *kube,
                         const char *ns, const json_t *att, size_t index, const char **reason,
                         struct sl_err *err);

/* What the attestations of one digest add to the policy's statements. */
struct sl_vexatt {
    struct sl_vex vex;     /* the verified attestations' statements (after sl_vexatt_merge:
                              the policy's, then these) */
    size_t verified;       /* attestations whose statements are in vex */
    size_t ignored;        /* OpenVEX attestations that suppress nothing (see above) */
    char ignored_why[600]; /* the first of them and why; "" when none */
    /* sha256 hex over the digests of every attestation read and the reason of each ignored
     * one: a cached verdict for the digest is reusable only while this is unchanged */
    char fingerprint[65];
};

/* Reads the OpenVEX attestations of digest in reg/repo (borrowed), verifies them with trust's
 * keys and fills *out (the caller's, freed with sl_vexatt_free) with the verified statements.
 * Returns 0 (also when nothing was found or everything was ignored), SL_ETOOBIG (more
 * attestations or bytes than the limits), SL_ERETRY (the deadline) or registry errors; err
 * names the digest. *out is untouched on failure. */
int sl_vexatt_read(struct sl_vexatt *out, struct sl_registry *reg, const char *repo,
                   const char *digest, const struct sl_vexatt_trust *trust, struct sl_err *err);

/* Puts base's statements (the policy's documents; may be NULL) before a's, so that a->vex is
 * what a scan applies (at equal times the attestations decide). Done only when a scan is due:
 * the copy costs as much as the policy's documents. Returns 0, or SL_ETOOBIG past
 * SL_VEX_MAX_SET_STATEMENTS (a unchanged). */
int sl_vexatt_merge(struct sl_vexatt *a, const struct sl_vex *base, struct sl_err *err);

/* Frees what a holds and zeroes it. NULL is a no-op. */
void sl_vexatt_free(struct sl_vexatt *a);

/* {"verified": n, "ignored": n, "ignoredReason": "..." (when any)}: the summary's
 * vexAttestations. New reference. */
json_t *sl_vexatt_summary(const struct sl_vexatt *a);

#endif
