/* Attestations of an image digest: finding them, verifying them, reading them.
 *
 * An attestation is an in-toto statement (v0.1 or v1: _type, subject[{name, digest{sha256}}],
 * predicateType, predicate) in a DSSE envelope (payloadType application/vnd.in-toto+json,
 * signatures over the pre-authentication encoding, sign/bundle.h). cosign stores them in two
 * places, both read here:
 *   - the `.att` tag: tag `sha256-<hex>.att` of the image's repository, an OCI manifest whose
 *     layers (media type application/vnd.dsse.envelope.v1+json) are the envelopes;
 *   - OCI 1.1 referrers of the digest (or the `sha256-<hex>` fallback index): artifact manifests
 *     whose layer is a Sigstore bundle (sign/bundle.h) holding the envelope.
 * Nothing unsigned counts: the predicate type and time are read from the statement after its
 * signature verified (annotations of manifests and layers only skip work), and the statement
 * must name the digest as a subject.
 *
 * The newest attestation of a type is the one with the latest signed timestamp, read from the
 * predicate: vuln metadata.scanFinishedOn (else scanStartedOn), SPDX creationInfo.created,
 * CycloneDX metadata.timestamp, SLSA provenance v0.2 metadata.buildFinishedOn / v1
 * runDetails.metadata.finishedOn, OpenVEX timestamp, cosign's custom predicate Timestamp; one
 * without a timestamp counts as older than any with one.
 *
 * Vulnerability findings of the vuln predicate (https://cosign.sigstore.dev/attestation/vuln/v1)
 * are read from predicate.scanner.result in the shapes scanners write: sealift's JSON report
 * (vulnerabilities[].severity), a findings[] list with severity, Trivy (Results[].
 * Vulnerabilities[].Severity) and Grype (matches[].vulnerability.severity). A finding marked
 * allowlisted or suppressed (by VEX) is not counted.
 *
 * Bounded: envelopes and bundles at most SL_ATTESTATION_MAX bytes each, limits on how many are
 * looked at and in total, a deadline; findings at most SL_ATTESTATION_MAX_FINDINGS. Pure parts
 * (parse, check) do no I/O. */
#ifndef SL_SIGN_ATTESTATION_H
#define SL_SIGN_ATTESTATION_H

#include "oci/registry.h"
#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SL_ATTESTATION_DSSE_MEDIA_TYPE "application/vnd.dsse.envelope.v1+json"
#define SL_ATTESTATION_VULN            "https://cosign.sigstore.dev/attestation/vuln/v1"
#define SL_ATTESTATION_SPDX            "https://spdx.dev/Document"
#define SL_ATTESTATION_CYCLONEDX       "https://cyclonedx.org/bom"
#define SL_ATTESTATION_MAX             ((size_t)4 << 20) /* one envelope or bundle */
#define SL_ATTESTATION_MAX_FINDINGS    100000
#define SL_ATTESTATION_TYPE_MAX        256 /* a predicateType URI */
#define SL_ATTESTATION_MAX_CHILDREN    32  /* platforms of an index checked one by one */

/* OpenVEX documents; also accepted with a version suffix (https://openvex.dev/ns/v0.2.0) */
#define SL_ATTESTATION_OPENVEX "https://openvex.dev/ns"

/* What a --type / requireAttestations type names: one or two predicate types. */
struct sl_attestation_type {
    char name[SL_ATTESTATION_TYPE_MAX];         /* as the user wrote it */
    char predicate[2][SL_ATTESTATION_TYPE_MAX]; /* predicate types it accepts */
    size_t n_predicates;
};

/* Parses a type: vuln, sbom (SPDX or CycloneDX), spdx, spdxjson, cyclonedx, openvex,
 * slsaprovenance (v0.2), slsaprovenance02, slsaprovenance1, custom, or a predicateType URI
 * (https://..., at most SL_ATTESTATION_TYPE_MAX - 1 bytes, no spaces or control characters).
 * Returns 0, or SL_EINVAL with err listing the names. */
int sl_attestation_type_parse(struct sl_attestation_type *out, const char *name,
                              struct sl_err *err);

/* Severity threshold of vuln findings: 4 Critical, 3 High, 2 Medium, 1 Low; 0 = none (Unknown
 * or Negligible findings never reach a threshold). Parses "Critical", "High", "Medium", "Low"
 * (any case) into *out. Returns 0 or SL_EINVAL. */
int sl_attestation_severity_parse(int *out, const char *name);
/* "Critical", "High", "Medium", "Low" or "Unknown" for a rank. Static string. */
const char *sl_attestation_severity_name(int rank);

/* One verified attestation. */
struct sl_attestation {
    json_t *statement; /* the whole statement (owned) */
    char predicate_type[SL_ATTESTATION_TYPE_MAX];
    bool has_time;
    time_t time;       /* the predicate's signed timestamp, when has_time */
    int key_index;     /* which key verified it */
    const char *where; /* "att-tag" or "referrer" (static) */
    char source[72];   /* digest of the .att layer or referrer manifest that held it */
};
void sl_attestation_clear(struct sl_attestation *a);

/* Parses an in-toto statement (payload bytes of a verified envelope): JSON object with _type
 * https://in-toto.io/Statement/v0.1 or /v1, a subject naming digest (sha256), a predicateType
 * string of at most SL_ATTESTATION_TYPE_MAX - 1 bytes and an object predicate; reads the
 * timestamp (see above; a timestamp that is present but not RFC 3339 is an error). On success
 * fills out (statement owned by out; key_index and where untouched). Returns 0, SL_EDIGEST (the
 * statement is for another digest) or SL_EINVAL (not a statement; err says which field). */
int sl_attestation_parse_statement(struct sl_attestation *out, const char *payload, size_t len,
                                   const char *digest, struct sl_err *err);

/* Verifies a DSSE envelope (JSON bytes: payloadType application/vnd.in-toto+json, payload,
 * signatures) with keys[0..nkeys) and parses its statement for digest. Returns 0 (out filled,
 * key_index set), SL_EDIGEST (no signature verifies with these keys, or the statement names
 * another digest), or SL_EINVAL (not an envelope, or the signed statement is malformed). */
int sl_attestation_check_envelope(struct sl_attestation *out, const char *envelope, size_t len,
                                  const char *digest, const struct sl_key *const *keys,
                                  size_t nkeys, struct sl_err *err);

/* Counts the findings of a vuln attestation's statement at or above threshold (a rank, >= 1);
 * *worst gets the highest rank seen among counted findings (0 none) and *first (may be NULL)
 * the id of the first finding at or above threshold ("" when none; out needs 128 bytes).
 * Returns 0, or SL_EINVAL when predicate.scanner.result has none of the known shapes, a finding
 * has no severity string, or there are more than SL_ATTESTATION_MAX_FINDINGS. */
int sl_attestation_vuln_count(size_t *at_or_above, int *worst, char first[128],
                              const json_t *statement, int threshold, struct sl_err *err);

/* Bounds of one lookup in a possibly hostile registry. */
struct sl_attestation_limits {
    size_t max_attestations; /* envelopes and bundle referrers looked at; 0 = 64 */
    size_t max_bytes;        /* bytes of envelopes and bundles fetched in total; 0 = 16 MiB */
    int64_t deadline_ms;     /* sl_mono_ms() time after which no request starts; 0 = none */
};

/* The newest attestation of type for digest in reg/repo that verifies with one of keys.
 * Returns 0 (*out filled), SL_ENOTFOUND (no attestation of the type, signed or not: err says
 * so), SL_EDIGEST (there are candidates, none of them signed by these keys for this digest:
 * err gives the first reason), SL_EINVAL (one verified but its statement is malformed: err
 * says why; a malformed one is never skipped in favour of an older one), SL_ETOOBIG (a limit
 * stopped the lookup before an answer), SL_ERETRY (the deadline did), or registry errors.
 * *out is untouched on failure. */
int sl_attestation_newest(struct sl_attestation *out, struct sl_registry *reg, const char *repo,
                          const char *digest, const struct sl_attestation_type *type,
                          const struct sl_key *const *keys, size_t nkeys,
                          const struct sl_attestation_limits *limits, struct sl_err *err);

/* Every attestation of a type for one digest, as sl_attestation_list finds them. */
struct sl_attestation_list {
    struct sl_attestation *items; /* verified by one of the keys, for the digest; in the order
                                     found (.att tag layers, then referrers) */
    size_t n;
    size_t ignored;        /* candidates of the type that are unsigned, signed by another key,
                              for another digest, unreadable or not statements */
    char ignored_why[400]; /* the first of them and why ("sha256:...: ..."), "" when none */
};
void sl_attestation_list_free(struct sl_attestation_list *list);

/* Every attestation of type for digest in reg/repo: those that verify with one of keys go to
 * out->items, the others (a candidate claims the type but does not verify or cannot be read)
 * are counted in out->ignored. Returns 0 (out filled, maybe empty: the caller's, freed with
 * sl_attestation_list_free), SL_ETOOBIG (a limit stopped the lookup: more candidates than
 * max_attestations or bytes; never a partial list), SL_ERETRY (the deadline), or registry
 * errors. *out is untouched on failure. */
int sl_attestation_list(struct sl_attestation_list *out, struct sl_registry *reg, const char *repo,
                        const char *digest, const struct sl_attestation_type *type,
                        const struct sl_key *const *keys, size_t nkeys,
                        const struct sl_attestation_limits *limits, struct sl_err *err);

/* A requirement on the attestations of an image (DeployPolicy requireAttestations[], or the
 * flags of `sealift verify-attestation`). */
struct sl_attestation_requirement {
    struct sl_attestation_type type;
    int64_t max_age_ms; /* 0 = any age */
    int threshold;      /* vuln only: deny findings at or above this rank; 0 = not checked */
};

enum sl_attestation_verdict {
    SL_ATTESTATION_OK = 0,
    SL_ATTESTATION_MISSING,     /* none of the type */
    SL_ATTESTATION_UNSIGNED,    /* none signed by the keys (or for this digest) */
    SL_ATTESTATION_UNPARSEABLE, /* the newest signed one cannot be read */
    SL_ATTESTATION_STALE,       /* older than max_age, or no timestamp to tell */
    SL_ATTESTATION_FINDINGS,    /* vuln findings at or above the threshold */
};

struct sl_attestation_decision {
    enum sl_attestation_verdict verdict;
    char reason[512]; /* one line: why not OK, or what was accepted */
    /* OK: when the accepted attestation goes stale (wall clock), 0 = never */
    time_t stale_at;
    /* the digest was an index without attestations of its own: how many platforms were
     * checked (0: the digest's own attestations decided) */
    size_t platforms;
};

/* Decides req for digest in reg/repo at wall-clock time now: finds the newest attestation of the
 * type signed by keys, checks its age and (vuln) its findings. When digest has none of the type
 * and is an index, every platform child (at most SL_ATTESTATION_MAX_CHILDREN; build tools'
 * unknown/unknown entries skipped) must meet req, since any of them may run: the first child
 * that does not decides, naming its platform; OK goes stale with the first child's. Returns 0 when
 * decided (out filled: OK or the verdict and reason, a fact of the image and keys), SL_ETOOBIG when
 * a limit stopped it, SL_ERETRY on the deadline, or registry errors (err says which; out
 * untouched). */
int sl_attestation_decide(struct sl_attestation_decision *out, struct sl_registry *reg,
                          const char *repo, const char *digest,
                          const struct sl_attestation_requirement *req,
                          const struct sl_key *const *keys, size_t nkeys,
                          const struct sl_attestation_limits *limits, time_t now,
                          struct sl_err *err);

/* The pure part of sl_attestation_decide: judges the verified attestation a against req at
 * time now into out (verdict OK, STALE, UNPARSEABLE or FINDINGS). */
void sl_attestation_judge(struct sl_attestation_decision *out, const struct sl_attestation *a,
                          const struct sl_attestation_requirement *req, time_t now);

#endif
