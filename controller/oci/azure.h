/* Azure Container Registry credentials from a Kubernetes ServiceAccount's identity (registry
 * `provider: azure`), the way Microsoft Entra Workload ID gives them to a pod:
 *   1. the caller gets a ServiceAccount token for the audience "api://AzureADTokenExchange"
 *      (TokenRequest; not done here);
 *   2. Microsoft Entra ID's token endpoint takes it as a client assertion (OAuth 2.0 client
 *      credentials, RFC 7523) of the application whose client ID the ServiceAccount's annotation
 *      "azure.workload.identity/client-id" names, and answers an access token for Azure Resource
 *      Manager (scope https://management.azure.com/.default);
 *   3. the registry's own /oauth2/exchange turns that into an ACR refresh token, which is the
 *      password of the user 00000000-0000-0000-0000-000000000000 for HTTP Basic (and the
 *      registry's token flow).
 * Only a registry host of ACR's form gets these credentials (sl_azure_acr_host_parse).
 *
 * The Entra ID endpoint is https://login.microsoftonline.com/TENANT/oauth2/v2.0/token unless
 * AZURE_AUTHORITY_HOST says otherwise (as the Azure SDKs read it: sovereign clouds, a test
 * stand-in); AZURE_TENANT_ID is the tenant when the ServiceAccount's annotation
 * "azure.workload.identity/tenant-id" gives none; AZURE_CA_BUNDLE (this project's own, as
 * AWS_CA_BUNDLE is for AWS) a PEM file of CAs trusted for the Entra ID endpoint besides the
 * system's. The exchange with the registry uses the registry endpoint's own TLS settings (the
 * caller's transport).
 *
 * Parsers of the outside answers (JSON) are separate functions with libFuzzer harnesses.
 * Secrets (the ServiceAccount token, the access token, the refresh token) are wiped when freed
 * and never appear in an err message. */
#ifndef SL_OCI_AZURE_H
#define SL_OCI_AZURE_H

#include "http/transport.h"
#include "oci/auth.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* The ServiceAccount annotations (as the Azure Workload Identity webhook reads them). */
#define SL_AZURE_CLIENT_ID_ANNOTATION "azure.workload.identity/client-id"
#define SL_AZURE_TENANT_ID_ANNOTATION "azure.workload.identity/tenant-id"
/* The audience of the ServiceAccount token Entra ID accepts as a client assertion. */
#define SL_AZURE_TOKEN_AUDIENCE "api://AzureADTokenExchange"
/* The user name ACR takes with a refresh token as the password. */
#define SL_AZURE_ACR_USER "00000000-0000-0000-0000-000000000000"
/* The largest Entra ID or ACR answer read. */
#define SL_AZURE_ANSWER_MAX ((size_t)64 << 10)

/* An ACR registry host: NAME.azurecr.io (or .azurecr.cn, .azurecr.us), NAME 5-50 lowercase
 * letters and digits, no port. */
struct sl_azure_acr_host {
    char host[80]; /* the whole host, e.g. "myregistry.azurecr.io" */
};

/* Parses host (as in an image reference). Returns 0 with *out filled, or SL_EINVAL (err: "HOST
 * is not an Azure Container Registry host (NAME.azurecr.io)"). */
int sl_azure_acr_host_parse(struct sl_azure_acr_host *out, const char *host, struct sl_err *err);

/* Checks a client or tenant ID: a GUID (8-4-4-4-12 hex digits, either case). Returns 0 or
 * SL_EINVAL (err quotes at most 100 characters). */
int sl_azure_guid_check(const char *s, struct sl_err *err);

/* Parses an Entra ID token answer (JSON, len bytes): access_token and expires_in (seconds, a
 * number or a string of digits, 1 second to a year; token_type, when present, "Bearer" in any
 * case). now_unix + expires_in is *expires_unix. Returns 0 with *out_token (caller frees
 * securely), or SL_EINVAL. An error document ({"error": "...",
 * "error_description": "AADSTS...: ..."}) is SL_EAUTH for invalid_client, unauthorized_client,
 * invalid_grant and invalid_request, SL_ERETRY for temporarily_unavailable, SL_EINVAL
 * otherwise; err then reads "Entra ID ERROR: DESCRIPTION" (cut at 200 characters, control
 * characters dropped, bytes outside ASCII shown as '?'). Never quotes a token: in a quoted
 * message every run of 40 or more token characters ([A-Za-z0-9-_.~+/=]) reads "[redacted]". */
int sl_azure_token_parse(char **out_token, int64_t *expires_unix, const char *json, size_t len,
                         int64_t now_unix, struct sl_err *err);

/* Parses an ACR /oauth2/exchange answer (JSON): refresh_token. Returns 0 with *out_token
 * (caller frees securely), or SL_EINVAL; an error document ({"errors": [{"code": "...",
 * "message": "..."}]} or {"error": ..., "error_description": ...}) is SL_EAUTH for
 * UNAUTHORIZED / DENIED / unauthorized (any case), SL_EINVAL otherwise, err "ACR CODE: MESSAGE"
 * (quoted as sl_azure_token_parse quotes). The refresh token is 1-16 KiB of printable ASCII
 * without spaces. */
int sl_azure_acr_exchange_parse(char **out_token, const char *json, size_t len, struct sl_err *err);

/* Where the Entra ID exchange goes. */
struct sl_azure_config {
    char *authority_host; /* AZURE_AUTHORITY_HOST (https://HOST[:PORT], trailing '/' allowed,
                           * no path), or NULL = https://login.microsoftonline.com/ */
    char *tenant_id;      /* AZURE_TENANT_ID, or NULL */
    char *ca_pem;         /* the contents of AZURE_CA_BUNDLE's file, or NULL */
    int64_t timeout_ms;   /* each exchange; 0 = 30000 */
};

/* Fills cfg from the environment (empty variables count as unset; cfg untouched on failure).
 * Returns 0, or SL_EINVAL/SL_ENOTFOUND naming the variable (an authority that is not an
 * https:// URL, http:// only for a loopback host; a tenant that is not a GUID; a CA file
 * missing, unreadable, over 1 MiB or without a PEM certificate). */
int sl_azure_config_from_env(struct sl_azure_config *cfg, struct sl_err *err);
void sl_azure_config_clear(struct sl_azure_config *cfg);

/* One login: the ServiceAccount token (audience SL_AZURE_TOKEN_AUDIENCE) becomes ACR registry
 * credentials for host (as sl_azure_acr_host_parse filled it; checked again): Entra ID
 * (tenant_id, client_id: GUIDs; tenant_id NULL or "" = cfg->tenant_id, and SL_EINVAL "no
 * tenant ..." when both are unset; cfg NULL = the defaults, no tenant) over entra_t (a transport
 * made with cfg->ca_pem), then POST https://HOST/oauth2/exchange (grant_type=access_token,
 * service=HOST, tenant=TENANT, access_token=...) over registry_t (the registry endpoint's
 * transport: its CAs and client certificate). now_unix dates the answer. Returns 0 with *out
 * (username SL_AZURE_ACR_USER, password the refresh token; caller frees) and *expires_unix (the
 * access token's end, at most 3 hours after now_unix: an ACR refresh token's life), or the
 * parsers' codes, SL_ERETRY for a network failure or a 5xx/429 answer, SL_EAUTH when Entra ID or
 * the registry refuse, SL_ETOOBIG for an answer over SL_AZURE_ANSWER_MAX; err names the
 * endpoint and what it said, never a secret. */
int sl_azure_acr_login(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *entra_t,
                       struct sl_transport *registry_t, const struct sl_azure_config *cfg,
                       const struct sl_azure_acr_host *host, const char *tenant_id,
                       const char *client_id, const char *sa_token, int64_t now_unix,
                       struct sl_err *err);

#endif
