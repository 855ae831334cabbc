/* The wire format of the Harbor Pluggable Scanner API v1.1 (goharbor/pluggable-scanner-spec,
 * api/spec/scanner-adapter-openapi-v1.1.yaml), without any I/O: media types, the ScanRequest
 * (built by sealift's client, parsed by `sealift scanner-adapter`), the ScanResponse, the error
 * body {"error": {"message": ...}} and the adapter metadata with its capabilities. The mapping
 * of vulnerability reports onto sealift's findings is scan/harbor.h. */
#ifndef SL_SCANNER_HARBOR_API_H
#define SL_SCANNER_HARBOR_API_H

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

#define SL_HARBOR_METADATA_MT      "application/vnd.scanner.adapter.metadata+json; version=1.0"
#define SL_HARBOR_SCAN_REQUEST_MT  "application/vnd.scanner.adapter.scan.request+json; version=1.0"
#define SL_HARBOR_SCAN_RESPONSE_MT "application/vnd.scanner.adapter.scan.response+json; version=1.0"
#define SL_HARBOR_ERROR_MT         "application/vnd.scanner.adapter.error+json; version=1.0"
#define SL_HARBOR_REPORT_MT        "application/vnd.security.vulnerability.report; version=1.1"
/* Largest ScanRequest, metadata or error body accepted. */
#define SL_HARBOR_SMALL_MAX ((size_t)64 << 10)
/* Largest vulnerability report accepted (the JSON document cap of the project). */
#define SL_HARBOR_REPORT_MAX ((size_t)16 << 20)

/* A ScanRequest. Every string is owned (sl_harbor_scan_request_free); authorization is a secret
 * (wiped when freed, never logged). tag and authorization may be NULL. */
struct sl_harbor_scan_request {
    char *registry_url;  /* "https://core.harbor.domain" */
    char *authorization; /* Authorization header value for the registry, e.g. "Basic ..." */
    char *repository;    /* "library/mongo" */
    char *digest;        /* "sha256:<64 hex>" */
    char *tag;
    char *mime_type; /* the artifact's manifest media type */
};

void sl_harbor_scan_request_free(struct sl_harbor_scan_request *r);

/* The ScanRequest JSON of r (caller frees with sl_secure_free_str: it holds the registry
 * authorization). Fields that are NULL are left out. */
char *sl_harbor_scan_request_json(const struct sl_harbor_scan_request *r);

/* Parses a ScanRequest body. Returns 0 (out filled, caller frees), or SL_EINVAL with err naming
 * the field: not a JSON object, a member of the wrong type, registry.url not http(s), a missing
 * artifact.repository / artifact.digest, a digest that is not "algorithm:hex". */
int sl_harbor_scan_request_parse(struct sl_harbor_scan_request *out, const char *json, size_t len,
                                 struct sl_err *err);

/* Whether mime is an artifact media type sealift scans (OCI and Docker v2 image manifests). */
bool sl_harbor_consumes(const char *mime);

/* The error body {"error": {"message": message}} (caller frees). */
char *sl_harbor_error_json(const char *message);

/* Copies error.message of an adapter's error body into out (cap bytes, NUL-terminated, control
 * characters replaced); without one, a printable prefix of the body. Never fails. */
void sl_harbor_error_message(char *out, size_t cap, const char *body, size_t len);

/* The ScanResponse {"id": id} (caller frees). */
char *sl_harbor_scan_response_json(const char *id);

/* Parses a ScanResponse: *id_out (caller frees) is its non-empty id of at most 256 characters.
 * Returns 0 or SL_EINVAL. */
int sl_harbor_scan_response_parse(char **id_out, const char *json, size_t len, struct sl_err *err);

/* Scanner name, vendor, version from metadata. */
struct sl_harbor_scanner {
    char name[64];
    char vendor[64];
    char version[64];
};

/* sealift's metadata document: scanner name/vendor/version, one capability consuming the OCI
 * and Docker image manifest types and producing SL_HARBOR_REPORT_MT, and properties (db_updated
 * may be NULL). Caller frees. */
char *sl_harbor_metadata_json(const struct sl_harbor_scanner *s, const char *db_updated);

/* Checks an adapter's metadata: it must be a JSON object with scanner and capabilities, and one
 * capability must consume artifact_mime (NULL: either image manifest type) and produce
 * SL_HARBOR_REPORT_MT. Fills *out (may be NULL). Returns 0, SL_EINVAL (malformed metadata) or
 * SL_EUNSUPPORTED (no such capability; err lists what the adapter consumes/produces). */
int sl_harbor_metadata_check(struct sl_harbor_scanner *out, const char *json, size_t len,
                             const char *artifact_mime, struct sl_err *err);

/* Largest adapter token accepted (`sealift scanner-adapter --token-file`). */
#define SL_HARBOR_TOKEN_MAX 4096

/* Whether a request to the adapter presents token, in any of the forms a Harbor scanner
 * registration sends (auth "Bearer", "Basic", "X-ScannerAdapter-API-Key"):
 *   authorization "Bearer <token>";
 *   authorization "Basic base64(X)" where X is token itself or "<any user>:<token>" (so a
 *     token file holding "user:password" and a bare token both work);
 *   api_key (the X-ScannerAdapter-API-Key header) equal to token.
 * Scheme names are case-insensitive. The comparison takes the same time whatever the bytes of
 * the candidate (both sides are hashed with SHA-256 and compared with CRYPTO_memcmp), so a
 * caller cannot learn the token byte by byte. authorization and api_key may be NULL; a NULL or
 * empty token authorizes nothing. Decoded credentials are wiped. No I/O, never logs. */
bool sl_harbor_adapter_authorized(const char *authorization, const char *api_key,
                                  const char *token);

#endif
