/* Amazon ECR credentials from a Kubernetes ServiceAccount's identity (registry `provider: aws`),
 * the way EKS "IAM roles for service accounts" gives them to a pod:
 *   1. the caller gets a ServiceAccount token for the audience "sts.amazonaws.com"
 *      (TokenRequest; not done here);
 *   2. AWS STS AssumeRoleWithWebIdentity exchanges it for temporary credentials of the IAM role
 *      the ServiceAccount's annotation "eks.amazonaws.com/role-arn" names (an unsigned POST:
 *      the token is the proof);
 *   3. ECR GetAuthorizationToken, signed with those credentials (Signature Version 4), answers a
 *      base64 "AWS:<password>" valid for 12 hours, which is HTTP Basic auth to the ECR registry.
 * Only a registry host of Amazon ECR's form gets these credentials (sl_aws_ecr_host_parse).
 *
 * Endpoints are the regional ones of the registry's region and partition
 * (https://sts.REGION.amazonaws.com, https://api.ecr.REGION.amazonaws.com; ".com.cn" in China;
 * "sts-fips"/"ecr-fips" for a FIPS registry host), unless the AWS SDKs' own environment
 * variables say otherwise: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_ECR (VPC endpoints, a test
 * stand-in) and AWS_CA_BUNDLE (a PEM file of CAs trusted for those endpoints besides the
 * system's). sl_aws_config_from_env reads them.
 *
 * Parsers of the outside answers (STS XML, ECR JSON) are separate functions with libFuzzer
 * harnesses. Secrets (the web identity token, the secret access key, the session token, the
 * ECR password) are wiped when freed and never appear in an err message. */
#ifndef SL_OCI_AWS_H
#define SL_OCI_AWS_H

#include "http/transport.h"
#include "oci/auth.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* The ServiceAccount annotation naming the IAM role (as EKS's pod identity webhook reads it). */
#define SL_AWS_ROLE_ANNOTATION "eks.amazonaws.com/role-arn"
/* The audience of the ServiceAccount token STS accepts. */
#define SL_AWS_TOKEN_AUDIENCE "sts.amazonaws.com"
/* The largest STS or ECR answer read. */
#define SL_AWS_ANSWER_MAX ((size_t)64 << 10)

/* An ECR registry host: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn] (no port, no other
 * form; ACCOUNT is 12 digits, REGION as "us-east-1": lowercase letters, digits and '-'). */
struct sl_aws_ecr_host {
    char account[13];
    char region[32];
    int fips;  /* the host's "ecr-fips" form */
    int china; /* ".amazonaws.com.cn" */
};

/* Parses host (as in an image reference, lowercase). Returns 0 with *out filled, or SL_EINVAL
 * (err: "HOST is not an Amazon ECR registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"). */
int sl_aws_ecr_host_parse(struct sl_aws_ecr_host *out, const char *host, struct sl_err *err);

/* Checks an IAM role ARN: arn:PARTITION:iam::ACCOUNT:role/PATH-AND-NAME (partition "aws",
 * "aws-cn" or "aws-us-gov"; 12-digit account; the rest 1-512 characters of [A-Za-z0-9+=,.@_/-]).
 * Returns 0 or SL_EINVAL (err names what is wrong, quoting at most 100 characters). */
int sl_aws_role_arn_check(const char *arn, struct sl_err *err);

/* Temporary credentials from STS. */
struct sl_aws_session {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL for long-term keys (unit tests) */
    int64_t expires_unix; /* 0 = unknown */
};

/* Wipes and frees the strings; NULL is a no-op. */
void sl_aws_session_clear(struct sl_aws_session *s);

/* One request to sign. Strings are borrowed. */
struct sl_aws_sigv4_request {
    const char *method; /* "POST" */
    const char *host;   /* the Host header's value: host[:port] as sent */
    const char *path;   /* absolute path as sent, already URI-encoded, e.g. "/" */
    const char *query;  /* the query as sent, without '?', or NULL/"" (sorted when signed) */
    const char *const *headers; /* further "Name: value" lines to sign (e.g. X-Amz-Target,
                                 * Content-Type); host, x-amz-date and x-amz-security-token
                                 * are always signed and must not be listed */
    size_t n_headers;
    const void *payload; /* the body (NULL with payload_len 0 = empty) */
    size_t payload_len;
    const char *region;   /* "us-east-1" */
    const char *service;  /* "ecr", "sts" */
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" (UTC) */
};

/* Signs req with creds (AWS Signature Version 4, header form). *out_authorization is the
 * "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=...,
 * Signature=HEX" value of the Authorization header (caller frees). The caller also sends
 * "X-Amz-Date: <amz_date>" and, when creds->session_token is set, "X-Amz-Security-Token: ...".
 * Returns 0, SL_EINVAL (a missing field, a header line without ':' or with CR/LF, a listed
 * host/x-amz-date/x-amz-security-token/authorization header, a date not of that form, a region
 * or service not of lowercase letters, digits and '-'). */
int sl_aws_sigv4_authorization(char **out_authorization, const struct sl_aws_sigv4_request *req,
                               const struct sl_aws_session *creds, struct sl_err *err);

/* Parses an STS AssumeRoleWithWebIdentity answer (XML, len bytes, need not be NUL-terminated):
 * AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials with
 * AccessKeyId, SecretAccessKey, SessionToken and Expiration (ISO 8601 UTC). Returns 0 with *out
 * filled (caller clears), or SL_EINVAL for anything else (err says what is missing, never a
 * value). An STS error document (ErrorResponse/Error/Code, Message) is SL_EAUTH for the codes
 * AccessDenied, InvalidIdentityToken, ExpiredTokenException and IDPRejectedClaim, SL_ERETRY for
 * Throttling and IDPCommunicationError, SL_EINVAL for others; err then reads "STS CODE:
 * MESSAGE" (the message cut at 200 characters, control characters dropped, bytes outside ASCII
 * shown as '?'). The reader is strict: no DOCTYPE, comment, CDATA or processing instruction but
 * a leading XML declaration; only the five predefined entities and character references to
 * ASCII; each value at most 4 KiB; a field given twice is SL_EINVAL. */
int sl_aws_sts_parse(struct sl_aws_session *out, const char *xml, size_t len, struct sl_err *err);

/* Parses an ECR GetAuthorizationToken answer (JSON, len bytes): the first entry of
 * authorizationData, whose authorizationToken is base64 "USER:PASSWORD" and expiresAt epoch
 * seconds (a number, possibly fractional). Returns 0 with *out (username, password; caller
 * frees with sl_creds_free) and *expires_unix, or SL_EINVAL (never quoting the token). An ECR
 * error document ({"__type": "...#AccessDeniedException", "message": "..."}) is SL_EAUTH for
 * AccessDeniedException and UnrecognizedClientException, SL_ERETRY for ThrottlingException,
 * SL_EINVAL otherwise, err "ECR TYPE: MESSAGE" as above. */
int sl_aws_ecr_token_parse(struct sl_creds *out, int64_t *expires_unix, const char *json,
                           size_t len, struct sl_err *err);

/* Where the exchanges go. */
struct sl_aws_config {
    char *sts_endpoint; /* AWS_ENDPOINT_URL_STS, or NULL = the regional default */
    char *ecr_endpoint; /* AWS_ENDPOINT_URL_ECR, or NULL */
    char *ca_pem;       /* the contents of AWS_CA_BUNDLE's file, or NULL */
    int64_t timeout_ms; /* each exchange; 0 = 30000 */
};

/* Fills cfg from the environment (empty variables count as unset; cfg is untouched on failure).
 * An endpoint is scheme://HOST[:PORT][/]: no user, path or query. Returns 0, or
 * SL_EINVAL/SL_ENOTFOUND (err names the variable: an endpoint that is not an https:// URL,
 * http:// only for 127.0.0.1, [::1] or localhost; an AWS_CA_BUNDLE file that is missing
 * (SL_ENOTFOUND), cannot be read, is larger than 1 MiB or holds no PEM certificate). */
int sl_aws_config_from_env(struct sl_aws_config *cfg, struct sl_err *err);
void sl_aws_config_clear(struct sl_aws_config *cfg);

/* One login: the web identity token (a ServiceAccount token for SL_AWS_TOKEN_AUDIENCE) becomes
 * ECR registry credentials for host's registry, through STS (role_arn, session_name: 2-64 of
 * [A-Za-z0-9+=,.@_-], the caller builds it from the object) and ECR, over t (a transport made
 * with cfg->ca_pem; a fake in unit tests; cfg may be NULL: default endpoints, 30 s). The token
 * must be a JWT (base64url parts and dots, at most 16 KiB). now_unix signs the ECR request; the
 * Host signed is the endpoint's host[:port] as libcurl sends it (a default port left out).
 * Returns 0 with *out (caller frees) and *expires_unix (the earlier of the ECR token's and the
 * STS session's ends), or the parsers' codes, SL_ERETRY for a network failure or a
 * 5xx/throttling answer, SL_EAUTH when STS or ECR refuse, SL_ETOOBIG for an answer larger than
 * SL_AWS_ANSWER_MAX; err names the endpoint and what it said, never a secret. */
int sl_aws_ecr_login(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *t,
                     const struct sl_aws_config *cfg, const struct sl_aws_ecr_host *host,
                     const char *role_arn, const char *session_name, const char *web_identity_token,
                     int64_t now_unix, struct sl_err *err);

#endif
