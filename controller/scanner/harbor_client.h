/* A client of one Harbor Pluggable Scanner API v1.1 adapter (base URL "https://host:port",
 * endpoints under /api/v1) over libcurl: GET /metadata, POST /scan, GET /scan/{id}/report
 * polled while the adapter answers 302 + Refresh-After. TLS verification is on unless insecure;
 * an extra CA may be given in PEM, and a client certificate the adapter may require (mTLS),
 * which goes to the adapter and nowhere else. Every body read is capped (harbor_api.h). Errors
 * carry the class SL_ERRC_SCANNER and a message naming the adapter and the cause (the adapter's
 * {"error": {"message"}} when it sent one); no secret is ever put into a message.
 *
 * Thread-safety: a client may be used by one thread at a time; create one per scan. */
#ifndef SL_SCANNER_HARBOR_CLIENT_H
#define SL_SCANNER_HARBOR_CLIENT_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

struct sl_transport;

struct sl_harbor_client_opts {
    int insecure;       /* skip TLS verification */
    const char *ca_pem; /* extra trusted CAs (PEM text), or NULL */
    /* the TLS client certificate (PEM, with its chain) and its unencrypted key presented to the
     * adapter, or NULL (both or neither; checked by the caller, see http/clientcert.h) */
    const char *client_cert_pem, *client_key_pem;
    const char *authorization;  /* Authorization header value for the adapter, or NULL */
    int64_t connect_timeout_ms; /* 0 = 10000 */
    int64_t request_timeout_ms; /* per exchange; 0 = 60000 */
    int64_t report_timeout_ms;  /* how long sl_harbor_client_wait_report polls; 0 = 600000 */
    /* the HTTP transport (borrowed, outlives the client), or NULL for a libcurl transport made
     * with the settings above; tests hand in a fake (http/transport.h) */
    struct sl_transport *transport;
};

struct sl_harbor_client;

/* base_url: "http(s)://host[:port][/prefix]" (a trailing '/' is ignored). opts may be NULL;
 * strings are copied (authorization and the client key wiped on free). Never fails. */
struct sl_harbor_client *sl_harbor_client_new(const char *base_url,
                                              const struct sl_harbor_client_opts *opts);
void sl_harbor_client_free(struct sl_harbor_client *c);

/* GET /api/v1/metadata. *body (caller frees, NUL-terminated) is the metadata JSON.
 * Returns 0; SL_ERETRY when unreachable or on 5xx; SL_EAUTH on 401/403 and when the adapter
 * ends the TLS session with a certificate alert (it requires a client certificate and got
 * none, or refused the one presented: the message says which); SL_EFAIL on other statuses.
 * The other calls fail the same ways. */
int sl_harbor_client_metadata(char **body, size_t *len, struct sl_harbor_client *c,
                              struct sl_err *err);

/* POST /api/v1/scan with request_json (a ScanRequest); on 202 *id_out (caller frees) is the
 * ScanResponse id. Returns 0, SL_EINVAL (400/422 or a response without id), SL_EAUTH,
 * SL_ERETRY, SL_EFAIL. */
int sl_harbor_client_scan(char **id_out, struct sl_harbor_client *c, const char *request_json,
                          struct sl_err *err);

/* One GET /api/v1/scan/{id}/report with Accept: SL_HARBOR_REPORT_MT. Returns 0 with *body
 * (caller frees) on 200; 1 when the report is not ready (302) with *refresh_after_ms set from
 * Refresh-After (seconds; 1000 when absent or invalid, at most 60000); SL_ENOTFOUND on 404;
 * SL_ETOOBIG past SL_HARBOR_REPORT_MAX; else as above. */
int sl_harbor_client_report(char **body, size_t *len, int64_t *refresh_after_ms,
                            struct sl_harbor_client *c, const char *id, struct sl_err *err);

/* Polls sl_harbor_client_report, sleeping Refresh-After between tries, until the report is
 * there or report_timeout_ms passed (SL_ERETRY "still running after N s"). */
int sl_harbor_client_wait_report(char **body, size_t *len, struct sl_harbor_client *c,
                                 const char *id, struct sl_err *err);

/* The base URL given at creation (borrowed), for messages. */
const char *sl_harbor_client_url(const struct sl_harbor_client *c);

#endif
