/* Google Artifact Registry / Container Registry credentials from a Kubernetes ServiceAccount's
 * identity (registry `provider: gcp`), the way GKE Workload Identity Federation gives them to a
 * pod:
 *   1. the caller gets a ServiceAccount token for the audience the workload identity pool
 *      accepts (sl_gcp_token_audience; TokenRequest, not done here);
 *   2. Google's Security Token Service exchanges it (OAuth 2.0 token exchange, RFC 8693) for a
 *      federated access token (scope https://www.googleapis.com/auth/cloud-platform);
 *   3. when the ServiceAccount's annotation "iam.gke.io/gcp-service-account" names a Google
 *      service account, IAM Credentials' generateAccessToken, called with the federated token,
 *      gives that service account's access token (impersonation); without it the federated
 *      token is used as it is (direct resource access);
 *   4. the access token is the password of the user "oauth2accesstoken" for HTTP Basic.
 * Only a registry host of Google's forms gets these credentials (sl_gcp_registry_host_parse).
 *
 * The workload identity pool is the cluster's: GCP_WORKLOAD_IDENTITY_AUDIENCE (this project's
 * own variable) is the STS audience, either a workload identity provider
 * "//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/
 * PROVIDER" or GKE's "identitynamespace:PROJECT.svc.id.goog:https://container.googleapis.com/v1/
 * projects/PROJECT/locations/LOCATION/clusters/CLUSTER". Endpoints are
 * https://sts.googleapis.com and https://iamcredentials.googleapis.com unless GCP_STS_ENDPOINT or
 * GCP_IAM_CREDENTIALS_ENDPOINT say otherwise (Private Service Connect, a test stand-in), and
 * GCP_CA_BUNDLE is a PEM file of CAs trusted for them besides the system's.
 *
 * Parsers of the outside answers (JSON) are separate functions with libFuzzer harnesses.
 * Secrets (the ServiceAccount token, the federated and the service account's access tokens)
 * are wiped when freed and never appear in an err message. */
#ifndef SL_OCI_GCP_H
#define SL_OCI_GCP_H

#include "http/transport.h"
#include "oci/auth.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* The ServiceAccount annotation naming the Google service account to impersonate (as GKE
 * reads it); optional. */
#define SL_GCP_SERVICE_ACCOUNT_ANNOTATION "iam.gke.io/gcp-service-account"
/* The user name Google's registries take with an access token as the password. */
#define SL_GCP_REGISTRY_USER "oauth2accesstoken"
/* The largest STS or IAM Credentials answer read. */
#define SL_GCP_ANSWER_MAX ((size_t)64 << 10)

/* A Google registry host: gcr.io, us.gcr.io, eu.gcr.io, asia.gcr.io, or
 * LOCATION-docker.pkg.dev (LOCATION lowercase letters, digits and '-'); no port. */
struct sl_gcp_registry_host {
    char host[80];
};

/* Parses host (as in an image reference). Returns 0 with *out filled, or SL_EINVAL (err: "HOST
 * is not a Google Artifact Registry or Container Registry host (LOCATION-docker.pkg.dev,
 * gcr.io)"). */
int sl_gcp_registry_host_parse(struct sl_gcp_registry_host *out, const char *host,
                               struct sl_err *err);

/* Checks a Google service account e-mail: NAME@PROJECT.iam.gserviceaccount.com (NAME 6-30 of
 * lowercase letters, digits and '-'; PROJECT 6-30 of the same, or "domain.com:project" forms are
 * refused) or the default compute form NUMBER-compute@developer.gserviceaccount.com. Returns 0
 * or SL_EINVAL (err quotes at most 100 characters). */
int sl_gcp_service_account_check(const char *email, struct sl_err *err);

/* Checks an STS audience of one of the two forms above (at most 512 characters) and writes the
 * audience of the ServiceAccount token it takes into buf (n bytes): "https:" + the provider
 * name for a workload identity provider ("//iam.googleapis.com/..."), "PROJECT.svc.id.goog" for
 * GKE's identity namespace. Returns 0 or SL_EINVAL (also when the audience does not fit in buf;
 * buf untouched on failure). */
int sl_gcp_token_audience(char *buf, size_t n, const char *sts_audience, struct sl_err *err);

/* Parses an STS token-exchange answer (JSON): access_token and expires_in (a JSON number of
 * seconds, 1 s to 1 day); token_type, when present, must be Bearer and issued_token_type, when
 * present, urn:ietf:params:oauth:token-type:access_token. *expires_unix = now_unix + expires_in.
 * Returns 0 with *out_token (caller frees securely), or SL_EINVAL; an error document
 * ({"error": "invalid_grant", "error_description": "..."}) is SL_EAUTH for invalid_grant,
 * invalid_request, unauthorized_client, access_denied and invalid_target, SL_ERETRY for
 * temporarily_unavailable, SL_EINVAL otherwise, err "STS ERROR: DESCRIPTION" (quoted as the
 * other clouds' are; long token-like runs redacted). */
int sl_gcp_sts_parse(char **out_token, int64_t *expires_unix, const char *json, size_t len,
                     int64_t now_unix, struct sl_err *err);

/* Parses an IAM Credentials generateAccessToken answer (JSON): accessToken and expireTime
 * (RFC 3339 UTC ending in 'Z', e.g. "2026-12-07T00:19:36Z", fractional seconds allowed; an
 * offset or a date alone is refused). Returns 0 with *out_token (caller frees securely) and
 * *expires_unix, or SL_EINVAL; an error document
 * ({"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}) is SL_EAUTH for
 * PERMISSION_DENIED and UNAUTHENTICATED, SL_ERETRY for UNAVAILABLE and RESOURCE_EXHAUSTED,
 * SL_EINVAL otherwise, err "IAM Credentials STATUS: MESSAGE". */
int sl_gcp_generate_token_parse(char **out_token, int64_t *expires_unix, const char *json,
                                size_t len, struct sl_err *err);

/* Where the exchanges go. */
struct sl_gcp_config {
    char *audience;     /* GCP_WORKLOAD_IDENTITY_AUDIENCE (checked), or NULL */
    char *sts_endpoint; /* GCP_STS_ENDPOINT, or NULL = https://sts.googleapis.com */
    char *iam_endpoint; /* GCP_IAM_CREDENTIALS_ENDPOINT, or NULL =
                         * https://iamcredentials.googleapis.com */
    char *ca_pem;       /* the contents of GCP_CA_BUNDLE's file, or NULL */
    int64_t timeout_ms; /* each exchange; 0 = 30000 */
};

/* Fills cfg from the environment (empty variables count as unset; cfg untouched on failure).
 * Returns 0, or SL_EINVAL/SL_ENOTFOUND naming the variable (as the other clouds' config). */
int sl_gcp_config_from_env(struct sl_gcp_config *cfg, struct sl_err *err);
void sl_gcp_config_clear(struct sl_gcp_config *cfg);

/* One login: the ServiceAccount token (audience sl_gcp_token_audience(cfg->audience)) becomes
 * registry credentials for host over t (a transport made with cfg->ca_pem): POST
 * {sts}/v1/token (JSON body: audience, grantType
 * urn:ietf:params:oauth:grant-type:token-exchange, requestedTokenType
 * urn:ietf:params:oauth:token-type:access_token, scope
 * https://www.googleapis.com/auth/cloud-platform, subjectTokenType
 * urn:ietf:params:oauth:token-type:jwt, subjectToken), then, when google_sa is not NULL, POST
 * {iam}/v1/projects/-/serviceAccounts/GOOGLE_SA:generateAccessToken (Authorization: Bearer
 * FEDERATED; JSON body {"scope": ["https://www.googleapis.com/auth/cloud-platform"],
 * "lifetime": "3600s"}). Returns 0 with *out (username SL_GCP_REGISTRY_USER, password the
 * access token; caller frees) and *expires_unix, or the parsers' codes, SL_EINVAL "no workload
 * identity audience (GCP_WORKLOAD_IDENTITY_AUDIENCE)" when cfg has none, SL_ERETRY for a network
 * failure or a 5xx/429 answer, SL_EAUTH when STS or IAM Credentials refuse, SL_ETOOBIG for an
 * answer over SL_GCP_ANSWER_MAX, SL_EFAIL when jansson cannot make the STS body (out of memory);
 * err names the endpoint and what it said, never a secret. cfg->audience, google_sa, sa_token
 * (a JWT of at most 16 KiB) and host are checked before anything is sent (SL_EINVAL). */
int sl_gcp_registry_login(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *t,
                          const struct sl_gcp_config *cfg, const struct sl_gcp_registry_host *host,
                          const char *google_sa, const char *sa_token, int64_t now_unix,
                          struct sl_err *err);

#endif
