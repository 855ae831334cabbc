/* A client for one OCI distribution registry (host[:port]) over libcurl.
 *
 * Handles the /v2/ ping, anonymous / Basic / Bearer-token auth (tokens cached per scope until
 * they expire; credentials go only to the registry's own scheme://host:port and to an https
 * token realm, plain http only for an insecure registry: a Link or Location naming another host
 * gets no Authorization header), repository, tag and digest names checked against the
 * distribution grammar before they reach a URL (names read from a tag list too), TLS (verification
 * on unless insecure; an extra CA in PEM; a client certificate for mTLS), retries with
 * exponential backoff and jitter on 429, 5xx and connection errors (Retry-After honoured, bounded
 * attempts) and size caps on every response body (manifests 4 MiB).
 *
 * Thread-safety: one struct sl_registry may be used by several threads at once (the copy engine
 * does); auth state and the handle pool are guarded by a mutex inside. */
#ifndef SL_OCI_REGISTRY_H
#define SL_OCI_REGISTRY_H

#include "oci/auth.h"
#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_transport;

struct sl_registry_opts {
    int insecure;               /* allow plain http and skip TLS verification (both below) */
    int allow_http;             /* plain http allowed (https first, as Docker does) */
    int skip_tls_verify;        /* TLS without verifying the registry's certificate */
    const char *ca_pem;         /* extra trusted CA certificates (PEM text), or NULL */
    int max_attempts;           /* per request, including the first; 0 = 5 */
    int64_t backoff_base_ms;    /* 0 = 250 */
    int64_t backoff_max_ms;     /* 0 = 8000 */
    int64_t connect_timeout_ms; /* 0 = 15000 */
    /* Whole-exchange limit per attempt for requests whose body is kept in memory (ping, token,
     * manifests, tags, referrers, uploads of small blobs); blob streams are never cut by it.
     * 0 = 120 s. Every exchange is also cut when slower than 1 KiB/s for 30 s (blob streams:
     * 60 s), and none outlives the calling thread's deadline (sl_registry_deadline_set). */
    int64_t request_timeout_ms;
    /* the HTTP transport (borrowed, outlives the client), or NULL for a libcurl transport made
     * with the settings above; tests hand in a fake (http/transport.h) */
    struct sl_transport *transport;
    /* How the user marks this registry insecure ("--dest-insecure"), named in the hint of a
     * TLS failure against a plain-http registry; NULL: "the insecure option". Copied. */
    const char *insecure_flag;
    /* Where this client's credentials came from, or how to give some ("credentials from
     * --src-creds-file a.txt"), appended to 401/403 errors; NULL: nothing. Never a secret.
     * Copied. */
    const char *creds_hint;
    /* > 0: the client keeps the answers to its manifest reads (GET and HEAD, found or not found)
     * and referrers queries for this many milliseconds and gives them again instead of asking
     * (oci/readcache.h); a manifest PUT through the client forgets the repository's. For a
     * client that reads the same things for many callers (a controller's source registry);
     * 0: every read asks the registry. */
    int64_t read_cache_ms;
    /* TLS client certificate (PEM, possibly with its chain) and its unencrypted private key
     * (PEM), presented to this registry only; both or neither. Copied (the key is wiped when
     * the client is freed). */
    const char *client_cert_pem, *client_key_pem;
};

struct sl_registry;

/* Sets the calling thread's deadline for registry exchanges, on the sl_mono_ms() clock (0 or
 * less: none) and returns the previous one, so a caller can put it back. Every exchange of any
 * client on this thread is cut at the deadline, retries stop, and calls made after it fail at
 * once with SL_ERETRY and a message saying the time allowed ran out. The copy engine hands the
 * deadline on to its worker threads. */
int64_t sl_registry_deadline_set(int64_t at_mono_ms);
/* The calling thread's deadline (0 = none). */
int64_t sl_registry_deadline_get(void);

/* Creates a client for host ("127.0.0.1:5000", "registry-1.docker.io"). creds may be NULL
 * (anonymous); they are copied. opts may be NULL. Never fails (no I/O happens here). Free with
 * sl_registry_free. */
struct sl_registry *sl_registry_new(const char *host, const struct sl_creds *creds,
                                    const struct sl_registry_opts *opts);
void sl_registry_free(struct sl_registry *r);

/* The host given at creation (borrowed). */
const char *sl_registry_host(const struct sl_registry *r);

/* The base URL of the registry API, "https://host" or "http://host" (the scheme the ping
 * chose; pings when not known yet). *out is the caller's. Returns 0 or sl_registry_ping's errors.
 */
int sl_registry_base_url(char **out, struct sl_registry *r, struct sl_err *err);

/* The credential another component (a scanner adapter) may use to pull repo from this registry,
 * as an Authorization header value. When the registry uses token auth: "Bearer <token>", a token
 * the registry's token realm issued for the scope repository:<repo>:pull alone (with this
 * client's credentials), short-lived as the token server decides. When the registry asks for
 * Basic auth or for none: *out NULL, because the only thing to give would be the password; then
 * *withheld says whether this client has credentials that the other component does not get.
 * Pings the registry first when needed. *out is the caller's (sl_secure_free_str). Returns 0 or
 * the registry's errors (SL_EAUTH when the token realm refuses the credentials, SL_ERETRY...). */
int sl_registry_pull_authorization(char **out, bool *withheld, struct sl_registry *r,
                                   const char *repo, struct sl_err *err);

/* Makes the client use token (a Bearer token obtained elsewhere, e.g. the one a ScanRequest
 * carries) for pulls of repo for valid_ms, when the registry asks for token auth; the token is
 * copied. After it expires or is refused the client asks the token realm with its own
 * credentials. */
void sl_registry_use_pull_token(struct sl_registry *r, const char *repo, const char *token,
                                int64_t valid_ms);

/* GET /v2/ and learn the auth scheme. Returns 0, SL_EAUTH, SL_ERETRY (unreachable after
 * retries) or SL_EFAIL. Other calls ping on first use, so calling this is optional. */
int sl_registry_ping(struct sl_registry *r, struct sl_err *err);

/* A fetched manifest. */
struct sl_registry_manifest {
    char *data; /* the exact bytes (NUL-terminated for convenience) */
    size_t len;
    char *media_type; /* Content-Type sent by the registry (or NULL) */
    char digest[72];  /* sha256 of data, verified (see sl_registry_manifest_get) */
};
void sl_registry_manifest_free(struct sl_registry_manifest *m);

/* GET a manifest by tag or digest with an Accept header of all Docker/OCI manifest and index
 * types, capped at 4 MiB. By digest, the bytes must hash to that digest; by tag, the computed
 * digest must equal Docker-Content-Digest when the registry sends one. A mismatch is
 * SL_EDIGEST naming both digests. Returns 0, SL_ENOTFOUND, SL_EAUTH, SL_ERETRY, SL_ETOOBIG,
 * SL_EDIGEST or SL_EFAIL. out is the caller's. */
int sl_registry_manifest_get(struct sl_registry_manifest *out, struct sl_registry *r,
                             const char *repo, const char *reference, struct sl_err *err);

/* HEAD a manifest: writes the digest (Docker-Content-Digest; falls back to a GET when the
 * header is missing) to digest_out[72]. media_type_out may be NULL. Returns 0, SL_ENOTFOUND,
 * SL_EAUTH, SL_ERETRY or SL_EFAIL. */
int sl_registry_manifest_head(char digest_out[72], char **media_type_out, struct sl_registry *r,
                              const char *repo, const char *reference, struct sl_err *err);

/* PUT a manifest under reference (tag or digest). The registry's Docker-Content-Digest must
 * equal the sha256 of data (else SL_EDIGEST). digest_out[72] may be NULL. */
int sl_registry_manifest_put(char digest_out[72], struct sl_registry *r, const char *repo,
                             const char *reference, const char *media_type, const void *data,
                             size_t len, struct sl_err *err);

/* HEAD a blob. Returns 0 (present; *size_out set when not NULL), SL_ENOTFOUND, or an error. */
int sl_registry_blob_head(int64_t *size_out, struct sl_registry *r, const char *repo,
                          const char *digest, struct sl_err *err);

/* GET a small blob into memory (cap max_bytes), verifying its digest. out/out_len are the
 * caller's (free). */
int sl_registry_blob_get(char **out, size_t *out_len, struct sl_registry *r, const char *repo,
                         const char *digest, size_t max_bytes, struct sl_err *err);

/* Streams blob digest through on_data (called with consecutive chunks of a 200 body; a nonzero
 * return aborts the transfer and is returned). The sha256 is computed while streaming and
 * checked at the end: SL_EDIGEST when it differs, so a reader must discard what it built
 * unless this returns 0. Requests are retried only until the first byte was handed over.
 * *bytes_out (may be NULL) gets the bytes streamed. */
int sl_registry_blob_stream(int64_t *bytes_out, struct sl_registry *r, const char *repo,
                            const char *digest,
                            int (*on_data)(void *ctx, const void *buf, size_t n), void *ctx,
                            struct sl_err *err);

/* Tries a cross-repository mount (POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from>).
 * Sets *mounted to 1 when the registry mounted the blob (201), 0 when it started an upload
 * instead (202; that upload is cancelled). Returns 0 or an error. */
int sl_registry_blob_mount(int *mounted, struct sl_registry *r, const char *repo,
                           const char *digest, const char *from_repo, struct sl_err *err);

/* Remembers that repo holds blob digest (the copy engine just found, mounted or uploaded it
 * there through this client), so a later copy of the same blob to another repository of this
 * registry can mount it from there instead of moving its bytes again (sl_registry_blob_home).
 * Kept per client, so only for the same credentials; at most 512 blobs, the oldest go first. */
void sl_registry_blob_remember(struct sl_registry *r, const char *repo, const char *digest);

/* A repository other than not_repo that this client remembers holding digest, copied into
 * out[out_len]. Returns false when there is none. */
bool sl_registry_blob_home(char *out, size_t out_len, struct sl_registry *r, const char *digest,
                           const char *not_repo);

/* Forgets that repo holds digest (a mount from it did not happen: the blob or the permission
 * to read it is gone). */
void sl_registry_blob_forget(struct sl_registry *r, const char *repo, const char *digest);

/* Uploads a blob held in memory. chunk_bytes 0: POST then one monolithic PUT; else POST,
 * PATCH chunks of chunk_bytes, PUT to finish. The registry checks the digest. */
int sl_registry_blob_upload(struct sl_registry *r, const char *repo, const char *digest,
                            const void *data, size_t len, size_t chunk_bytes, struct sl_err *err);

/* Lists tags, asking for page_size tags per request (0 = 1000) and following
 * Link: <...>; rel="next" pagination (at most 100000 tags and 16 MiB of answers, all pages
 * together: more is SL_ETOOBIG naming the registry). A tag name outside the distribution grammar
 * is SL_EINVAL naming it. *tags_out is an array of *n_out strings; free with
 * sl_registry_strv_free. */
int sl_registry_tags_list(char ***tags_out, size_t *n_out, struct sl_registry *r, const char *repo,
                          size_t page_size, struct sl_err *err);
void sl_registry_strv_free(char **v, size_t n);

/* Referrers of digest: GET /v2/<repo>/referrers/<digest>[?artifactType=]; when the registry
 * has no referrers API (404; also 400, 405, 406), falls back to the tag schema (manifest at tag
 * "sha256-<hex>"). Writes an OCI index JSON (caller frees) to *index_out; an empty index when none
 * exist. */
int sl_registry_referrers(char **index_out, size_t *len_out, struct sl_registry *r,
                          const char *repo, const char *digest, const char *artifact_type,
                          struct sl_err *err);

/* sl_registry_referrers that also tells where the answer came from: *from_api (may be NULL) is 1
 * when the registry's referrers API answered, 0 when it has none (404, 400, 405, 406) and the
 * tag-schema fallback index (or its absence) was read. */
int sl_registry_referrers_ex(char **index_out, size_t *len_out, int *from_api,
                             struct sl_registry *r, const char *repo, const char *digest,
                             const char *artifact_type, struct sl_err *err);

/* ---- streaming blob copy (used by the copy engine) ---- */

/* Per-worker streaming state: a curl multi handle with one download and one upload easy
 * handle, reused across blobs so connections stay alive. Not shared between threads. */
struct sl_blob_streamer;

struct sl_blob_streamer *sl_blob_streamer_new(void);
void sl_blob_streamer_free(struct sl_blob_streamer *s);

/* Streams blob digest (size bytes) from src/src_repo to dst/dst_repo: starts an upload (POST),
 * then runs GET and PUT together, the download feeding the upload through a bounded ring buffer
 * (memory does not grow with the blob size). The sha256 is checked while streaming and the
 * upload's last byte is held back until it matches, so a bad blob aborts the upload
 * (SL_EDIGEST). One attempt; the caller retries SL_ERETRY. *bytes_out gets bytes moved. */
int sl_blob_stream_copy(int64_t *bytes_out, struct sl_blob_streamer *s, struct sl_registry *src,
                        const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                        const char *digest, int64_t size, struct sl_err *err);

/* Sleeps the backoff delay for retry number attempt on r's settings, at least min_ms. */
void sl_registry_backoff_sleep(const struct sl_registry *r, int attempt, int64_t min_ms);
/* max_attempts of r's options (>= 1). */
int sl_registry_max_attempts(const struct sl_registry *r);

#endif
