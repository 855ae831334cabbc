/* What the logins to cloud registries (oci/aws.c, oci/azure.c, oci/gcp.c) share: quoting a
 * service's own message into an err, endpoint URLs given in the environment, a CA bundle file,
 * the check of a ServiceAccount token, the reader of an OAuth token answer, and one bounded POST
 * whose answer is mapped to the project's codes. Internal to controller/oci. */
#ifndef SL_OCI_CLOUDLOGIN_H
#define SL_OCI_CLOUDLOGIN_H

#include "http/transport.h"
#include "util/buf.h"
#include "util/err.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

/* What an error message quotes of a service's message. */
#define SL_CLOUDLOGIN_QUOTE_MAX 200

/* Copies at most max bytes of s (n bytes) into out (cap bytes, always NUL-terminated), dropping
 * control characters and showing bytes outside ASCII as '?', so a message a service wrote is
 * one printable line. */
void sl_cloudlogin_quote(char *out, size_t cap, const char *s, size_t n, size_t max);

/* sl_cloudlogin_quote with every run of token characters (letters, digits, "-_.~+/=") of
 * SL_CLOUDLOGIN_REDACT_RUN_MIN or more replaced by "[redacted]": a message that echoes a token
 * (a misbehaving stand-in) must not carry it into status. Control characters are dropped first,
 * so they cannot split a token into runs short enough to pass. */
#define SL_CLOUDLOGIN_REDACT_RUN_MIN 40 /* a GUID (36) is kept */
void sl_cloudlogin_quote_redacted(char *out, size_t cap, const char *s, size_t n, size_t max);

/* An endpoint URL, scheme://HOST[:PORT][/], as sent: the URL of its root and the Host value
 * libcurl sends for it (host lowercased, the port left out when it is the scheme's). */
struct sl_cloudlogin_endpoint {
    char *url;  /* "https://host[:port]/" */
    char *host; /* "host[:port]" */
};

/* Parses url (what names it in messages, e.g. the environment variable). http:// only for
 * 127.0.0.1, [::1] or localhost; no user, path or query. Returns 0 with *out (clear it), or
 * SL_EINVAL. */
int sl_cloudlogin_endpoint_parse(struct sl_cloudlogin_endpoint *out, const char *url,
                                 const char *what, struct sl_err *err);
void sl_cloudlogin_endpoint_clear(struct sl_cloudlogin_endpoint *e);

/* Reads the PEM CA bundle at path (variable names it in messages) into *out (caller frees).
 * Returns 0, SL_ENOTFOUND (no such file) or SL_EINVAL (unreadable, over 1 MiB, no PEM
 * certificate, a NUL byte). */
int sl_cloudlogin_read_ca_bundle(char **out, const char *path, const char *variable,
                                 struct sl_err *err);

/* The code of OAuth error code: SL_EAUTH when it is one of the n codes in auth (the service's
 * refusals), SL_ERETRY for temporarily_unavailable, SL_EINVAL otherwise. */
int sl_cloudlogin_oauth_code(const char *code, const char *const *auth, size_t n);

/* The value of environment variable name, or NULL when unset or empty. */
const char *sl_cloudlogin_env(const char *name);

/* The endpoint URL in environment variable variable, checked (sl_cloudlogin_endpoint_parse),
 * into *out (caller frees); 0 with *out untouched when it is unset, else the check's error. */
int sl_cloudlogin_env_endpoint(char **out, const char *variable, struct sl_err *err);

/* The CA bundle at the path in environment variable variable (sl_cloudlogin_read_ca_bundle)
 * into *out (caller frees); 0 with *out untouched when it is unset, else the read's error. */
int sl_cloudlogin_env_ca_bundle(char **out, const char *variable, struct sl_err *err);

/* Whether s looks like a JWT of at most max bytes: base64url parts and dots, nothing that could
 * end a form value or a line. */
int sl_cloudlogin_jwt_valid(const char *s, size_t max);

/* Wipes what jansson holds of v before the tree is freed: v itself when it is a string (a
 * token), every string member when it is an object (answers hold tokens where they should not,
 * too). NULL and other types are left alone. */
void sl_cloudlogin_json_wipe(json_t *v);

/* Whether v is a token fit to be used: a string of 1-max printable ASCII characters, no space
 * (it goes into a form, an Authorization header or a password). */
int sl_cloudlogin_json_token_valid(json_t *v, size_t max);

/* "SERVICE " before err's message (nothing when err is NULL): how a reader's public function
 * names the service its messages speak of. */
void sl_cloudlogin_name_service(struct sl_err *err, const char *service);

/* Parses json (len bytes, NULL for none) as one JSON object, duplicate keys refused. Returns the
 * object (the caller wipes it with sl_cloudlogin_json_wipe and frees it), or NULL with err
 * "answer is not a JSON object" (SL_EINVAL, klass SL_ERRC_JSON). */
json_t *sl_cloudlogin_json_load_object(const char *json, size_t len, struct sl_err *err);

/* An error document's code and message (members of the answer, NULL when absent) as err
 * "CODE: MESSAGE" (klass SL_ERRC_REGISTRY; CODE quoted up to 64 bytes, MESSAGE quoted and
 * redacted up to SL_CLOUDLOGIN_QUOTE_MAX, "(no message)" without one) with the project's code
 * code_of(CODE); when code is no string (or quotes empty), SL_EINVAL with err missing (e.g.
 * "error document without a code"). Returns err's code. */
int sl_cloudlogin_error_document(json_t *code, json_t *message, int (*code_of)(const char *code),
                                 const char *missing, struct sl_err *err);

/* The OAuth error document (RFC 6749 section 5.2) in root: sl_cloudlogin_error_document of
 * "error" and "error_description", missing "error document without an error code". */
int sl_cloudlogin_oauth_error(json_t *root, int (*code_of)(const char *error), struct sl_err *err);

/* What one service's OAuth token answer is held to: where the services differ. */
struct sl_cloudlogin_oauth_rules {
    /* The project's code for the "error" of an error document. */
    int (*error_code)(const char *error);
    /* The longest access_token taken, in bytes. */
    size_t token_max;
    /* The longest expires_in taken, in seconds. */
    int64_t expires_in_max;
    /* Whether expires_in may also be a string of 1-10 digits (Entra ID writes one). */
    int expires_in_digits;
    /* When set, an issued_token_type the answer holds must be this (RFC 8693 token exchange). */
    const char *issued_token_type;
};

/* Parses an OAuth token answer (RFC 6749 section 5.1; JSON, len bytes) under rules: an error
 * document as sl_cloudlogin_oauth_error; else access_token (printable ASCII, no space,
 * 1-token_max bytes), token_type (when present "Bearer" in any case), issued_token_type (see
 * rules) and expires_in (whole seconds, 1-expires_in_max: a JSON integer, a JSON real taken
 * without its fraction, or a string of digits where rules allow). The messages do not name the
 * service (see sl_cloudlogin_name_service). Returns 0 with *out_token (caller frees securely)
 * and *expires_unix (now_unix + expires_in), or the error document's code or SL_EINVAL with
 * err; the outputs are untouched on failure. What jansson held of the answer is wiped on every
 * path. */
int sl_cloudlogin_oauth_token_parse(char **out_token, int64_t *expires_unix, const char *json,
                                    size_t len, int64_t now_unix,
                                    const struct sl_cloudlogin_oauth_rules *rules,
                                    struct sl_err *err);

/* The member name of root when it is a token (sl_cloudlogin_json_token_valid up to max): the
 * member, borrowed from root; else NULL with err SL_EINVAL "answer has no NAME" or "answer's NAME
 * is not a string of 1-MAX printable characters". */
json_t *sl_cloudlogin_json_token_get(json_t *root, const char *name, size_t max,
                                     struct sl_err *err);

/* sl_cloudlogin_json_wipe(v), then json_decref(v): how an answer's tree is freed. */
void sl_cloudlogin_json_free(json_t *v);

/* An answer read by sl_cloudlogin_post: the body (wiped when freed). */
struct sl_cloudlogin_answer {
    struct sl_buf body;
    int too_big;
};

/* Wipes and frees a's body. */
void sl_cloudlogin_answer_clear(struct sl_cloudlogin_answer *a);

/* One POST of body to url over t (timeout_ms each; the answer read up to max bytes). where names
 * the endpoint in messages ("SERVICE URL"). Returns 0 with the status in *status and the body in
 * *a (clear it whatever is returned), or SL_ERETRY (no answer: the transport's text) /
 * SL_ETOOBIG with err set. */
int sl_cloudlogin_post(struct sl_cloudlogin_answer *a, long *status, struct sl_transport *t,
                       const char *where, const char *url, const char *const *headers,
                       size_t n_headers, const char *body, int64_t timeout_ms, size_t max,
                       struct sl_err *err);

/* The outcome of an answer: 0 for a 2xx the parser took (prc 0), else the error to report,
 * prefixed with where. perr is the parser's: an error document (klass SL_ERRC_REGISTRY) of a 400
 * or 403 gives its own code and message; with doc_on_401 a 401 holding a document is SL_EAUTH
 * with the document's message; 429 and 5xx are SL_ERETRY whatever they hold; other statuses say
 * what they are ("HTTP STATUS[: document]"). err->http_status is set. */
int sl_cloudlogin_outcome(struct sl_err *err, const char *where, long status, int prc,
                          const struct sl_err *perr, int doc_on_401);

/* A token read from an answer, and when it ends (now_unix: the time the answer is read at). */
struct sl_cloudlogin_token_answer {
    char *token;
    int64_t expires_unix;
    int64_t now_unix;
    /* for sl_cloudlogin_oauth_answer_parse: the service's OAuth rules */
    const struct sl_cloudlogin_oauth_rules *rules;
};

/* Drops the token of an earlier answer before another is read: a token taken from an answer
 * with an error status is not used. */
void sl_cloudlogin_token_answer_reset(struct sl_cloudlogin_token_answer *ta);

/* A parser of an answer's body (ctx is the caller's); its error document, if any, has klass
 * SL_ERRC_REGISTRY (see sl_cloudlogin_outcome). */
typedef int (*sl_cloudlogin_parse_fn)(void *ctx, const char *json, size_t len, struct sl_err *err);

/* An sl_cloudlogin_parse_fn of OAuth token answers: ctx is a struct sl_cloudlogin_token_answer
 * (reset first), read with sl_cloudlogin_oauth_token_parse and its rules. */
int sl_cloudlogin_oauth_answer_parse(void *ctx, const char *json, size_t len, struct sl_err *err);

/* sl_cloudlogin_post, then parse on the answer whatever its status, then
 * sl_cloudlogin_outcome with a document on 401 as the refusal's text: 0 when a 2xx answer
 * parsed, else the error with err set. The answer is wiped. */
int sl_cloudlogin_exchange(struct sl_transport *t, const char *where, const char *url,
                           const char *const *headers, size_t n_headers, const char *body,
                           int64_t timeout_ms, size_t max, sl_cloudlogin_parse_fn parse, void *ctx,
                           struct sl_err *err);

#endif
