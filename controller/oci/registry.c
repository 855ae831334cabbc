#include "oci/registry.h"
#include "http/transport.h"
#include "oci/backoff.h"
#include "oci/manifest.h"
#include "oci/readcache.h"
#include "oci/ref.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ERROR_BODY_MAX ((size_t)64 << 10)
/* a tag list, all pages together: 100000 tags of 128 bytes fit, a registry sending more is
 * refused before it fills the controller's memory */
#define TAGS_TOTAL_MAX     ((size_t)16 << 20)
#define MAX_TAGS           100000
#define DEFAULT_REQUEST_MS 120000
/* low-speed limits: an exchange slower than LOW_SPEED_BYTES per second for this long is cut
 * (a server dripping a few bytes a second cannot hold a worker) */
#define LOW_SPEED_BYTES    1024L
#define LOW_SPEED_S        30L
#define LOW_SPEED_STREAM_S 60L

enum auth_mode { AUTH_UNKNOWN = 0, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

/* A repository this client saw holding a blob: where a later copy may mount it from. */
struct blob_home {
    char digest[72];
    char *repo;
};
#define BLOB_HOMES_MAX 512

struct sl_registry {
    char *host;
    struct sl_creds creds;
    struct sl_registry_opts opts;
    char *ca_pem;
    /* the client certificate and its key (wiped when freed), or NULL */
    char *client_cert_pem, *client_key_pem;
    char *insecure_flag, *creds_hint; /* copies of the options' strings */
    pthread_mutex_t mu;               /* guards everything below */
    char *base;                       /* "https://host" or "http://host" once pinged */
    enum auth_mode mode;
    char *realm;
    char *service;
    struct sl_token_cache *tokens;
    struct sl_transport *transport;
    bool own_transport;
    struct sl_read_cache *reads; /* answers to reads, when opts.read_cache_ms asks for them */
    struct blob_home *homes;     /* where blobs were seen (sl_registry_blob_remember), under mu */
    size_t n_homes, next_home;
};

/* The calling thread's deadline for registry exchanges (sl_mono_ms clock; 0 = none). */
static _Thread_local int64_t thread_deadline_ms;

#define DEADLINE_MSG "the time allowed for this work ran out"

int64_t sl_registry_deadline_set(int64_t at_mono_ms)
{
    int64_t old = thread_deadline_ms;
    thread_deadline_ms = at_mono_ms > 0 ? at_mono_ms : 0;
    return old;
}

int64_t sl_registry_deadline_get(void)
{
    return thread_deadline_ms;
}

/* Milliseconds left before the thread's deadline (INT64_MAX without one; <= 0 once passed). */
static int64_t deadline_left_ms(void)
{
    return thread_deadline_ms > 0 ? thread_deadline_ms - sl_mono_ms() : INT64_MAX;
}

struct sl_registry *sl_registry_new(const char *host, const struct sl_creds *creds,
                                    const struct sl_registry_opts *opts)
{
    struct sl_registry *r = sl_xcalloc(1, sizeof(*r));
    r->host = sl_xstrdup(host);
    sl_creds_copy(&r->creds, creds);
    if (opts)
        r->opts = *opts;
    r->opts.ca_pem = NULL;
    r->opts.client_cert_pem = r->opts.client_key_pem = NULL;
    /* insecure is the CLI's both-at-once; from here on only the two settings count */
    r->opts.allow_http = r->opts.insecure || r->opts.allow_http;
    r->opts.skip_tls_verify = r->opts.insecure || r->opts.skip_tls_verify;
    r->opts.insecure = 0;
    r->insecure_flag = opts && opts->insecure_flag ? sl_xstrdup(opts->insecure_flag) : NULL;
    r->creds_hint = opts && opts->creds_hint ? sl_xstrdup(opts->creds_hint) : NULL;
    r->opts.insecure_flag = r->insecure_flag;
    r->opts.creds_hint = r->creds_hint;
    if (opts && opts->ca_pem)
        r->ca_pem = sl_xstrdup(opts->ca_pem);
    if (opts && opts->client_cert_pem && opts->client_key_pem) {
        r->client_cert_pem = sl_xstrdup(opts->client_cert_pem);
        r->client_key_pem = sl_xstrdup(opts->client_key_pem);
    }
    if (r->opts.max_attempts <= 0)
        r->opts.max_attempts = 5;
    if (r->opts.backoff_base_ms <= 0)
        r->opts.backoff_base_ms = 250;
    if (r->opts.backoff_max_ms <= 0)
        r->opts.backoff_max_ms = 8000;
    if (r->opts.connect_timeout_ms <= 0)
        r->opts.connect_timeout_ms = 15000;
    if (r->opts.request_timeout_ms <= 0)
        r->opts.request_timeout_ms = DEFAULT_REQUEST_MS;
    pthread_mutex_init(&r->mu, NULL);
    r->tokens = sl_token_cache_new();
    if (r->opts.read_cache_ms > 0)
        r->reads = sl_read_cache_new(r->opts.read_cache_ms, 0, 0);
    r->transport = opts ? opts->transport : NULL;
    r->opts.transport = NULL;
    if (!r->transport) {
        struct sl_transport_opts to = {.connect_timeout_ms = r->opts.connect_timeout_ms,
                                       .insecure = r->opts.skip_tls_verify != 0,
                                       .http_redirects = r->opts.allow_http != 0,
                                       .ca_pem = r->ca_pem,
                                       .client_cert_pem = r->client_cert_pem,
                                       .client_key_pem = r->client_key_pem};
        r->transport = sl_transport_new(&to);
        if (!r->transport) {
            fprintf(stderr, "sealift: cannot initialize libcurl\n");
            abort();
        }
        r->own_transport = true;
    }
    return r;
}

void sl_registry_free(struct sl_registry *r)
{
    if (!r)
        return;
    if (r->own_transport)
        sl_transport_free(r->transport);
    sl_token_cache_free(r->tokens);
    sl_read_cache_free(r->reads);
    for (size_t i = 0; i < r->n_homes; i++)
        free(r->homes[i].repo);
    free(r->homes);
    pthread_mutex_destroy(&r->mu);
    sl_creds_free(&r->creds);
    free(r->host);
    free(r->ca_pem);
    free(r->client_cert_pem);
    sl_secure_free_str(r->client_key_pem);
    free(r->insecure_flag);
    free(r->creds_hint);
    free(r->base);
    free(r->realm);
    free(r->service);
    free(r);
}

const char *sl_registry_host(const struct sl_registry *r)
{
    return r->host;
}

int sl_registry_max_attempts(const struct sl_registry *r)
{
    return r->opts.max_attempts;
}

void sl_registry_backoff_sleep(const struct sl_registry *r, int attempt, int64_t min_ms)
{
    int64_t d = sl_backoff_delay_ms(attempt, r->opts.backoff_base_ms, r->opts.backoff_max_ms,
                                    sl_backoff_random());
    if (d < min_ms)
        d = min_ms;
    if (d > 60000)
        d = 60000;
    int64_t left = deadline_left_ms();
    if (d > left)
        d = left > 0 ? left : 0;
    struct timespec ts = {.tv_sec = d / 1000, .tv_nsec = (long)(d % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- one HTTP exchange ---- */

struct resp {
    long status;
    struct sl_buf body;
    int too_big;
    char *content_type, *digest, *location, *link, *www_auth, *retry_after;
    int64_t content_length;
    /* streaming GET (sl_registry_blob_stream): a 200 body goes to on_data, hashed into md */
    int (*on_data)(void *ctx, const void *buf, size_t n);
    void *on_data_ctx;
    EVP_MD_CTX *md;
    uint64_t streamed; /* bytes handed to on_data */
    int cb_rc;         /* on_data's nonzero return, which aborted the transfer */
    long hdr_status;   /* status of the response whose headers are being read */
};

static void resp_init(struct resp *rs, size_t max_body)
{
    memset(rs, 0, sizeof(*rs));
    sl_buf_init(&rs->body, max_body ? max_body : ERROR_BODY_MAX);
    rs->content_length = -1;
}

static void resp_clear_headers(struct resp *rs)
{
    free(rs->content_type);
    free(rs->digest);
    free(rs->location);
    free(rs->link);
    free(rs->www_auth);
    free(rs->retry_after);
    rs->content_type = rs->digest = rs->location = rs->link = rs->www_auth = NULL;
    rs->retry_after = NULL;
    rs->content_length = -1;
}

static void resp_free(struct resp *rs)
{
    resp_clear_headers(rs);
    sl_buf_free(&rs->body);
}

static void resp_reset(struct resp *rs)
{
    resp_clear_headers(rs);
    sl_buf_reset(&rs->body);
    rs->too_big = 0;
    rs->status = 0;
    rs->hdr_status = 0;
}

static void header_cb(void *ud, const char *p, size_t n)
{
    struct resp *rs = ud;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100) */
        resp_clear_headers(rs);
        sl_buf_reset(&rs->body);
        const char *sp = memchr(p, ' ', n);
        rs->hdr_status = sp && (size_t)(sp - p) + 4 <= n ? strtol(sp + 1, NULL, 10) : 0;
        return;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    const char *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char **slot = NULL;
    if (name_len == 12 && strncasecmp(p, "Content-Type", 12) == 0)
        slot = &rs->content_type;
    else if (name_len == 21 && strncasecmp(p, "Docker-Content-Digest", 21) == 0)
        slot = &rs->digest;
    else if (name_len == 8 && strncasecmp(p, "Location", 8) == 0)
        slot = &rs->location;
    else if (name_len == 4 && strncasecmp(p, "Link", 4) == 0)
        slot = &rs->link;
    else if (name_len == 16 && strncasecmp(p, "WWW-Authenticate", 16) == 0)
        slot = &rs->www_auth;
    else if (name_len == 11 && strncasecmp(p, "Retry-After", 11) == 0)
        slot = &rs->retry_after;
    else if (name_len == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
        char tmp[32];
        size_t l = (size_t)(end - v);
        if (l < sizeof(tmp)) {
            memcpy(tmp, v, l);
            tmp[l] = '\0';
            rs->content_length = strtoll(tmp, NULL, 10);
        }
        return;
    }
    if (slot && !*slot)
        *slot = sl_xstrndup(v, (size_t)(end - v));
}

static size_t body_cb(void *ud, long status, const char *p, size_t n)
{
    struct resp *rs = ud;
    (void)status; /* hdr_status: the status line header_cb saw last */
    if (rs->on_data && rs->hdr_status == 200) {
        EVP_DigestUpdate(rs->md, p, n);
        rs->streamed += n;
        int crc = rs->on_data(rs->on_data_ctx, p, n);
        if (crc != 0) {
            rs->cb_rc = crc;
            return 0;
        }
        return n;
    }
    if (sl_buf_append(&rs->body, p, n) < 0) {
        rs->too_big = 1;
        return 0;
    }
    return n;
}

struct req {
    const char *method; /* GET HEAD PUT POST PATCH DELETE */
    const char *url;
    const char *accept;
    const char *content_type;
    const void *body;
    size_t body_len;
    size_t max_body;
    const char *extra_header; /* e.g. Content-Range */
    int follow;
    int to_realm; /* a token request: fetch_token checked the realm, which may be elsewhere */
};

static char *origin_of(const char *url)
{
    return sl_http_origin(url);
}

/* 1 when url has the scheme, host and port of the registry's API (where its credentials may
 * go), else 0: a Link or Location naming another host or port, or plain http on an https
 * registry, gets no Authorization header. */
static int same_origin(struct sl_registry *r, const char *url)
{
    pthread_mutex_lock(&r->mu);
    char *base = r->base ? sl_xstrdup(r->base) : NULL;
    pthread_mutex_unlock(&r->mu);
    char *a = base ? origin_of(base) : NULL, *b = origin_of(url);
    int same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    free(base);
    return same;
}

/* Copies s into out[cap] for a message: non-printable bytes become '?', long text is cut. */
static void printable(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 4 < cap && i < 160; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    if (s && s[i])
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = '\0';
}

/* Refuses names that are not of the distribution grammar before they reach a URL: repo must be
 * a repository name; reference (may be NULL) a tag or a digest, or only a digest when
 * digest_only. Returns 0 or SL_EINVAL naming the registry and the name. */
static int check_names(const struct sl_registry *r, const char *repo, const char *reference,
                       int digest_only, struct sl_err *err)
{
    char shown[176];
    if (!sl_ref_is_repository(repo)) {
        printable(shown, sizeof(shown), repo);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY,
                          "registry %s: \"%s\" is not a valid repository name", r->host, shown);
    }
    if (reference && !sl_ref_is_digest(reference) && (digest_only || !sl_ref_is_tag(reference))) {
        printable(shown, sizeof(shown), reference);
        return sl_err_set(
            err, SL_EINVAL, SL_ERRC_REGISTRY, "registry %s: \"%s\" is not a valid %s", r->host,
            shown, digest_only ? "digest" : "tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) or digest");
    }
    return 0;
}

/* Performs one exchange with auth_header (may be NULL). Returns 0 when an HTTP response came
 * back (any status), SL_ERETRY on connection-level errors, SL_ETOOBIG on a body over its cap. */
static int perform_once(struct sl_registry *r, const struct req *q, const char *auth_header,
                        struct resp *rs, struct sl_err *err)
{
    int rc = 0;
    int64_t left = deadline_left_ms();
    if (left <= 0)
        return sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY, "%s %s: %s", q->method, q->url,
                          DEADLINE_MSG);
    if (auth_header && !q->to_realm && !same_origin(r, q->url)) {
        /* the registry's credentials go to the registry only */
        sl_log_debug(NULL, "registry %s: no credentials sent to %s (another host)", r->host,
                     q->url);
        auth_header = NULL;
    }
    const char *hdrs[4];
    size_t nh = 0;
    char *accept = NULL, *ctype = NULL;
    if (q->accept)
        hdrs[nh++] = accept = sl_xasprintf("Accept: %s", q->accept);
    if (q->content_type)
        hdrs[nh++] = ctype = sl_xasprintf("Content-Type: %s", q->content_type);
    if (q->extra_header)
        hdrs[nh++] = q->extra_header;
    if (auth_header)
        hdrs[nh++] = auth_header;
    bool bodyless = strcmp(q->method, "HEAD") == 0 || strcmp(q->method, "GET") == 0;
    resp_reset(rs);
    if (q->max_body)
        rs->body.max_bytes = q->max_body;
    int64_t timeout_ms = rs->on_data ? 0 : r->opts.request_timeout_ms;
    if (left != INT64_MAX && (timeout_ms == 0 || left < timeout_ms))
        timeout_ms = left;
    struct sl_http_exchange x = {
        .method = q->method,
        .url = q->url,
        .headers = hdrs,
        .n_headers = nh,
        .body = bodyless ? NULL : (q->body ? q->body : ""),
        .body_len = bodyless ? 0 : q->body_len,
        .max_redirects = q->follow ? 5 : 0,
        .timeout_ms = timeout_ms > 0 ? timeout_ms : 0,
        .low_speed_bytes = LOW_SPEED_BYTES,
        .low_speed_s = rs->on_data ? LOW_SPEED_STREAM_S : LOW_SPEED_S,
        .on_header = header_cb,
        .on_body = body_cb,
        .ud = rs,
    };
    struct sl_http_result res;
    enum sl_http_failure f = sl_transport_perform(r->transport, &x, &res);
    rs->status = res.status;
    if (rs->cb_rc) {
        rc = sl_err_set(err, rs->cb_rc < 0 ? rs->cb_rc : SL_EFAIL, SL_ERRC_REGISTRY,
                        "%s %s: the reader stopped the transfer", q->method, q->url);
    } else if (rs->too_big) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY, "%s %s: response larger than %zu bytes",
                        q->method, q->url, rs->body.max_bytes);
    } else if (f == SL_HTTP_TIMEOUT && deadline_left_ms() <= 0) {
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY, "%s %s: %s", q->method, q->url,
                        DEADLINE_MSG);
    } else if (f == SL_HTTP_TLS_CLIENT_CERT) {
        /* an authentication failure: asking again with the same certificate cannot help */
        rc = sl_err_set(
            err, SL_EAUTH, SL_ERRC_REGISTRY, "%s %s: %s (%s)", q->method, q->url, res.error,
            r->client_cert_pem ? "the registry refused the TLS client certificate presented"
                               : "the registry requires a TLS client certificate and none was "
                                 "presented");
    } else if (f != SL_HTTP_OK) {
        int code = (f == SL_HTTP_BAD_URL || f == SL_HTTP_TLS_VERIFY) ? SL_EFAIL : SL_ERETRY;
        bool hint = f == SL_HTTP_TLS_CONNECT && !r->opts.allow_http;
        rc = sl_err_set(
            err, code, SL_ERRC_REGISTRY, "%s %s: %s%s%s%s", q->method, q->url, res.error,
            hint ? " (a plain-http registry needs " : "",
            hint ? (r->opts.insecure_flag ? r->opts.insecure_flag : "the insecure option") : "",
            hint ? ")" : "");
    }
    free(accept);
    free(ctype);
    return rc;
}

/* "UNAUTHORIZED: authentication required" from a distribution error body, else a short
 * excerpt of the body. */
static void error_detail(char *out, size_t cap, const struct resp *rs)
{
    out[0] = '\0';
    if (!rs->body.len)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(rs->body.data, rs->body.len, 0, &jerr);
    json_t *errors = json_object_get(root, "errors");
    json_t *first = json_array_get(errors, 0);
    if (json_is_object(first)) {
        json_t *code = json_object_get(first, "code");
        json_t *msg = json_object_get(first, "message");
        snprintf(out, cap, "%s%s%s", json_is_string(code) ? json_string_value(code) : "",
                 json_is_string(msg) ? ": " : "",
                 json_is_string(msg) ? json_string_value(msg) : "");
    } else if (rs->content_type && strncmp(rs->content_type, "text/", 5) == 0) {
        size_t n = rs->body.len < 120 ? rs->body.len : 120;
        snprintf(out, cap, "%.*s", (int)n, rs->body.data);
    }
    json_decref(root);
}

static int status_error(const struct req *q, const struct resp *rs, const char *what,
                        struct sl_err *err)
{
    char detail[300];
    error_detail(detail, sizeof(detail), rs);
    int code;
    char name[48];
    switch (rs->status) {
    case 401:
        code = SL_EAUTH;
        snprintf(name, sizeof(name), "401 unauthorized");
        break;
    case 403:
        code = SL_EAUTH;
        snprintf(name, sizeof(name), "403 forbidden");
        break;
    case 404:
        code = SL_ENOTFOUND;
        snprintf(name, sizeof(name), "404 not found");
        break;
    case 429:
        code = SL_ERETRY;
        snprintf(name, sizeof(name), "429 too many requests");
        break;
    default:
        code = (rs->status >= 500 && rs->status != 501 && rs->status != 505) ? SL_ERETRY : SL_EFAIL;
        snprintf(name, sizeof(name), "HTTP %ld", rs->status);
    }
    int rc = sl_err_set(err, code, SL_ERRC_REGISTRY, "%s: %s%s%s%s", what, name,
                        detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
    if (err)
        err->http_status = (int)rs->status;
    (void)q;
    return rc;
}

static int is_retry_status(long s)
{
    return s == 429 || (s >= 500 && s != 501 && s != 505);
}

/* ---- auth ---- */

static int learn_challenge(struct sl_registry *r, const char *www_auth, struct sl_err *err)
{
    struct sl_auth_challenge ch;
    int rc = sl_auth_challenge_parse(&ch, www_auth, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    if (strcasecmp(ch.scheme, "Bearer") == 0) {
        r->mode = AUTH_BEARER;
        free(r->realm);
        free(r->service);
        r->realm = ch.realm;
        r->service = ch.service;
        ch.realm = ch.service = NULL;
    } else if (strcasecmp(ch.scheme, "Basic") == 0) {
        r->mode = AUTH_BASIC;
    } else {
        rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_REGISTRY,
                        "registry %s asks for unsupported auth scheme %s", r->host, ch.scheme);
    }
    pthread_mutex_unlock(&r->mu);
    sl_auth_challenge_free(&ch);
    return rc;
}

static int fetch_token(char **token_out, struct sl_registry *r, const char *scope,
                       struct sl_err *err)
{
    int rc = SL_EFAIL;
    char *url = NULL, *realm = NULL, *service = NULL, *auth = NULL, *basic = NULL;
    char *post_body = NULL;
    size_t post_len = 0;
    struct resp rs;
    resp_init(&rs, (size_t)1 << 20);
    pthread_mutex_lock(&r->mu);
    realm = r->realm ? sl_xstrdup(r->realm) : NULL;
    service = r->service ? sl_xstrdup(r->service) : NULL;
    pthread_mutex_unlock(&r->mu);
    if (!realm) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_REGISTRY, "no token realm for %s", r->host);
        goto done;
    }
    if (strncasecmp(realm, "https://", 8) != 0 &&
        !(r->opts.allow_http && strncasecmp(realm, "http://", 7) == 0)) {
        char shown[176];
        printable(shown, sizeof(shown), realm);
        rc = sl_err_set(err, SL_EAUTH, SL_ERRC_REGISTRY,
                        "registry %s: token realm \"%s\" is not https; credentials are sent "
                        "only over https (plain http only to a registry marked insecure%s%s)",
                        r->host, shown, r->opts.insecure_flag ? " with " : "",
                        r->opts.insecure_flag ? r->opts.insecure_flag : "");
        goto done;
    }
    {
        struct sl_buf u;
        sl_buf_init(&u, 64 << 10);
        sl_buf_append_str(&u, realm);
        char sep = strchr(realm, '?') ? '&' : '?';
        if (service) {
            char *e = sl_http_escape(service);
            char *part = sl_xasprintf("%cservice=%s", sep, e);
            sl_buf_append_str(&u, part);
            free(part);
            free(e);
            sep = '&';
        }
        const char *s = scope ? scope : "";
        while (*s) {
            size_t n = strcspn(s, " ");
            char *one = sl_xstrndup(s, n);
            char *e = sl_http_escape(one);
            char *part = sl_xasprintf("%cscope=%s", sep, e);
            sl_buf_append_str(&u, part);
            free(part);
            free(e);
            free(one);
            sep = '&';
            s += n;
            while (*s == ' ')
                s++;
        }
        url = sl_buf_steal(&u, NULL);
    }
    struct req q = {
        .method = "GET", .url = url, .max_body = (size_t)1 << 20, .follow = 1, .to_realm = 1};
    if (r->creds.identity_token) {
        /* docker's identitytoken is an OAuth2 refresh token: POST it to the realm */
        struct sl_buf form;
        sl_buf_init(&form, 64 << 10);
        char *rt = sl_http_escape(r->creds.identity_token);
        char *part =
            sl_xasprintf("grant_type=refresh_token&client_id=sealift&refresh_token=%s", rt);
        sl_buf_append_str(&form, part);
        sl_secure_free_str(part);
        sl_secure_free_str(rt);
        const char *qs = strchr(url, '?');
        if (qs) { /* service and scope go in the form too */
            sl_buf_append_str(&form, "&");
            sl_buf_append_str(&form, qs + 1);
        }
        post_body = sl_buf_steal(&form, &post_len);
        free(url);
        url = sl_xstrdup(realm);
        q.url = url;
        q.method = "POST";
        q.content_type = "application/x-www-form-urlencoded";
        q.body = post_body;
        q.body_len = post_len;
    } else if (r->creds.username) {
        basic = sl_auth_basic_value(&r->creds);
        auth = sl_xasprintf("Authorization: Basic %s", basic);
    }
    for (int attempt = 0;; attempt++) {
        rc = perform_once(r, &q, auth, &rs, err);
        if (rc == 0 && is_retry_status(rs.status))
            rc = status_error(&q, &rs, "token request", err);
        if (rc != SL_ERETRY || attempt + 1 >= r->opts.max_attempts || deadline_left_ms() <= 0)
            break;
        int64_t ra = 0;
        if (rs.retry_after && sl_retry_after_parse_ms(&ra, rs.retry_after, time(NULL)) < 0)
            ra = 0;
        sl_registry_backoff_sleep(r, attempt, ra);
    }
    if (rc < 0)
        goto done;
    if (rs.status != 200) {
        rc = status_error(&q, &rs, "token server", err);
        if (rs.status == 401 || rs.status == 403)
            rc = SL_EAUTH;
        if (err)
            sl_err_prefix(err, "registry %s", r->host);
        goto done;
    }
    int64_t expires_in = 60;
    char *tok = NULL;
    rc = sl_auth_token_response_parse(&tok, &expires_in, rs.body.data, rs.body.len, err);
    if (rc < 0)
        goto done;
    /* renew a little early so a token does not expire in flight */
    int64_t margin_ms = expires_in > 60 ? 30000 : 5000;
    sl_token_cache_put(r->tokens, scope, tok, sl_mono_ms() + expires_in * 1000 - margin_ms);
    *token_out = tok;
    rc = 0;
done:
    free(url);
    free(realm);
    free(service);
    if (post_body)
        sl_secure_free(post_body, post_len + 1);
    sl_secure_free_str(auth);
    sl_secure_free_str(basic);
    sl_buf_secure_free(&rs.body);
    resp_free(&rs);
    return rc;
}

/* Builds the Authorization header line for scope (caller frees securely), NULL for anonymous. */
static int auth_header_for(char **out, struct sl_registry *r, const char *scope, struct sl_err *err)
{
    pthread_mutex_lock(&r->mu);
    enum auth_mode mode = r->mode;
    pthread_mutex_unlock(&r->mu);
    *out = NULL;
    if (mode == AUTH_BASIC) {
        if (!r->creds.username)
            return 0;
        char *b = sl_auth_basic_value(&r->creds);
        *out = sl_xasprintf("Authorization: Basic %s", b);
        sl_secure_free_str(b);
        return 0;
    }
    if (mode != AUTH_BEARER || !scope)
        return 0;
    char *tok = sl_token_cache_get(r->tokens, scope, sl_mono_ms());
    if (!tok) {
        int rc = fetch_token(&tok, r, scope, err);
        if (rc < 0)
            return rc;
    }
    *out = sl_xasprintf("Authorization: Bearer %s", tok);
    sl_secure_free_str(tok);
    return 0;
}

/* 1 when host ("name:port", "[v6]:port" or a bare name) names its port. */
static int host_names_port(const char *host)
{
    const char *end = host[0] == '[' ? strchr(host, ']') : host;
    return end && strchr(end, ':') != NULL;
}

/* Decides http vs https and the auth scheme with GET /v2/ (never with credentials).
 *
 * A registry not marked insecure is asked over https only. One marked insecure is asked over
 * https first, then plain http, as Docker does: without a port the two schemes reach different
 * ports (443, 80), and a registry that serves https must get the credentials over it. When the
 * host names its port both schemes reach that one port, and a port that answers a plain GET
 * /v2/ as a registry does (200, or 401 with a challenge) does not speak TLS: plain http is then
 * asked first and https only when that answer is not a registry's (a TLS port answers 400 or
 * drops the connection), then plain http again to report what it said. The registry that is
 * plain http by the user's choice so costs no TLS handshake and no TLS context (OpenSSL's
 * context and handshake state, about 0.5 MB of a `sealift copy`, hack/bench/sync.sh). */
static int ping_registry(struct sl_registry *r, struct sl_err *err)
{
    int rc = SL_EFAIL;
    struct resp rs;
    resp_init(&rs, 0);
    const char *schemes[3] = {"https", "http", NULL};
    int n_schemes = r->opts.allow_http ? 2 : 1;
    int http_probe = r->opts.allow_http && host_names_port(r->host);
    if (http_probe) {
        schemes[0] = "http";
        schemes[1] = "https";
        schemes[2] = "http";
        n_schemes = 3;
    }
    /* an https answer whose certificate did not verify says more than the plain http answer
     * of a TLS port that follows it ("400"): it is what the user has to act on */
    struct sl_err tls_err = {0};
    bool tls_failed = false;
    int tls_rc = SL_EFAIL;
    for (int attempt = 0;; attempt++) {
        for (int i = 0; i < n_schemes; i++) {
            char *url = sl_xasprintf("%s://%s/v2/", schemes[i], r->host);
            struct req q = {.method = "GET", .url = url};
            rc = perform_once(r, &q, NULL, &rs, err);
            free(url);
            /* a certificate alert (SL_EAUTH: the port wants a client certificate) likewise */
            if ((rc == SL_EFAIL || rc == SL_EAUTH) && n_schemes > 1 &&
                !strcmp(schemes[i], "https") && err) {
                tls_err = *err;
                tls_failed = true;
                tls_rc = rc;
            }
            if (http_probe && i == 0 &&
                !(rc == 0 && (rs.status / 100 == 2 || (rs.status == 401 && rs.www_auth))))
                continue; /* not a registry's answer: perhaps a TLS port */
            if (rc == 0 && !is_retry_status(rs.status)) {
                pthread_mutex_lock(&r->mu);
                if (!r->base)
                    r->base = sl_xasprintf("%s://%s", schemes[i], r->host);
                pthread_mutex_unlock(&r->mu);
                break;
            }
            if (rc == 0)
                rc = status_error(&q, &rs, "ping", err);
        }
        if (rc != SL_ERETRY || attempt + 1 >= r->opts.max_attempts || deadline_left_ms() <= 0)
            break;
        int64_t ra = 0;
        if (rs.retry_after && sl_retry_after_parse_ms(&ra, rs.retry_after, time(NULL)) < 0)
            ra = 0;
        sl_registry_backoff_sleep(r, attempt, ra);
    }
    if (rc < 0 && tls_failed) {
        if (err)
            *err = tls_err;
        rc = tls_rc;
    }
    if (rc < 0) {
        sl_err_prefix(err, rc == SL_ERETRY ? "registry %s unreachable" : "registry %s", r->host);
        goto done;
    }
    if (rs.status == 401 && rs.www_auth) {
        rc = learn_challenge(r, rs.www_auth, err);
    } else if (rs.status / 100 == 2) {
        pthread_mutex_lock(&r->mu);
        if (r->mode == AUTH_UNKNOWN)
            r->mode = AUTH_NONE;
        pthread_mutex_unlock(&r->mu);
        rc = 0;
    } else if (tls_failed) {
        /* plain http reached a TLS port (400): the https answer is the one that counts, and
         * the next request asks again rather than use that port over plain http */
        pthread_mutex_lock(&r->mu);
        free(r->base);
        r->base = NULL;
        pthread_mutex_unlock(&r->mu);
        if (err)
            *err = tls_err;
        rc = tls_rc;
        sl_err_prefix(err, "registry %s", r->host);
    } else if (rs.status == 404) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_REGISTRY,
                        "%s does not serve the registry API (/v2/ is 404)", r->host);
    } else {
        struct req q = {.method = "GET", .url = "/v2/"};
        rc = status_error(&q, &rs, "ping", err);
        sl_err_prefix(err, "registry %s", r->host);
    }
done:
    resp_free(&rs);
    return rc;
}

int sl_registry_ping(struct sl_registry *r, struct sl_err *err)
{
    return ping_registry(r, err);
}

int sl_registry_base_url(char **out, struct sl_registry *r, struct sl_err *err)
{
    pthread_mutex_lock(&r->mu);
    char *base = r->base ? sl_xstrdup(r->base) : NULL;
    pthread_mutex_unlock(&r->mu);
    if (!base) {
        int rc = ping_registry(r, err);
        if (rc != 0)
            return rc;
        pthread_mutex_lock(&r->mu);
        base = r->base ? sl_xstrdup(r->base) : NULL;
        pthread_mutex_unlock(&r->mu);
        if (!base)
            return sl_err_set(err, SL_EFAIL, SL_ERRC_REGISTRY, "registry %s: no base URL", r->host);
    }
    *out = base;
    return 0;
}

static int ensure_base(struct sl_registry *r, struct sl_err *err)
{
    pthread_mutex_lock(&r->mu);
    int have = r->base != NULL && r->mode != AUTH_UNKNOWN;
    pthread_mutex_unlock(&r->mu);
    return have ? 0 : ping_registry(r, err);
}

static char *url_for(struct sl_registry *r, const char *path)
{
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
        return sl_xstrdup(path);
    pthread_mutex_lock(&r->mu);
    char *u = sl_xasprintf("%s%s", r->base, path);
    pthread_mutex_unlock(&r->mu);
    return u;
}

/* A request with auth and retries. path is "/v2/..." or an absolute URL. */
static int request(struct sl_registry *r, struct req *q, const char *path, const char *scope,
                   struct resp *rs, const char *what, struct sl_err *err)
{
    int rc = ensure_base(r, err);
    char *url = NULL, *auth = NULL;
    if (rc < 0)
        return rc;
    url = url_for(r, path);
    q->url = url;
    int auth_retried = 0;
    for (int attempt = 0;;) {
        sl_secure_free_str(auth);
        auth = NULL;
        rc = auth_header_for(&auth, r, scope, err);
        if (rc < 0)
            break;
        rc = perform_once(r, q, auth, rs, err);
        if (rs->streamed > 0 || rs->cb_rc)
            break; /* a streamed body cannot be taken back: the caller decides */
        /* a 401 to credentials sent as Basic is the registry rejecting them: asking again with
         * the same password only counts towards an account lockout. Retry once only to learn a
         * scheme (nothing or a token was sent: a token may have expired, a challenge may be
         * new) */
        bool sent_basic = auth && strncmp(auth, "Authorization: Basic ", 21) == 0;
        bool basic_again = !rs->www_auth || strncasecmp(rs->www_auth, "Basic", 5) == 0;
        if (rc == 0 && rs->status == 401 && !auth_retried && !(sent_basic && basic_again)) {
            auth_retried = 1;
            if (scope)
                sl_token_cache_drop(r->tokens, scope);
            if (rs->www_auth) {
                rc = learn_challenge(r, rs->www_auth, err);
                if (rc < 0)
                    break;
                continue; /* once more with credentials for the scheme just learned */
            }
        }
        if (rc == 0 && is_retry_status(rs->status))
            rc = status_error(q, rs, what, err);
        if (rc != SL_ERETRY || attempt + 1 >= r->opts.max_attempts || deadline_left_ms() <= 0)
            break;
        int64_t ra = 0;
        if (rs->retry_after && sl_retry_after_parse_ms(&ra, rs->retry_after, time(NULL)) < 0)
            ra = 0;
        sl_log_debug(NULL, "registry %s: %s, retrying", r->host, err ? err->msg : "");
        sl_registry_backoff_sleep(r, attempt, ra);
        attempt++;
    }
    if (rc == 0 && (rs->status == 401 || rs->status == 403)) {
        /* say whose credentials failed: that is what the user has to fix */
        rc = status_error(q, rs, what, err);
        if (err) {
            size_t l = strlen(err->msg);
            snprintf(err->msg + l, sizeof(err->msg) - l, "%s%s%s%s",
                     !r->creds.username  ? "; no credentials were given for this registry"
                     : rs->status == 401 ? "; the registry rejected the credentials"
                                         : "; the credentials lack permission",
                     r->opts.creds_hint ? " (" : "", r->opts.creds_hint ? r->opts.creds_hint : "",
                     r->opts.creds_hint ? ")" : "");
        }
    } else if (rc == SL_ERETRY && err && !strstr(err->msg, DEADLINE_MSG)) {
        sl_err_prefix(err, "after %d attempts", r->opts.max_attempts);
    }
    sl_secure_free_str(auth);
    free(url);
    q->url = NULL;
    return rc;
}

static char *scope_pull(const char *repo)
{
    return sl_xasprintf("repository:%s:pull", repo);
}

static char *scope_push(const char *repo)
{
    return sl_xasprintf("repository:%s:pull,push", repo);
}

int sl_registry_pull_authorization(char **out, bool *withheld, struct sl_registry *r,
                                   const char *repo, struct sl_err *err)
{
    *out = NULL;
    *withheld = false;
    int rc = ensure_base(r, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    enum auth_mode mode = r->mode;
    pthread_mutex_unlock(&r->mu);
    if (mode != AUTH_BEARER) {
        /* Basic auth has only the password to give: the third party gets nothing */
        *withheld = mode == AUTH_BASIC && (r->creds.username || r->creds.identity_token);
        return 0;
    }
    char *scope = scope_pull(repo), *header = NULL;
    rc = auth_header_for(&header, r, scope, err);
    free(scope);
    if (rc != 0)
        return rc;
    static const char prefix[] = "Authorization: ";
    if (header && strncmp(header, prefix, sizeof(prefix) - 1) == 0)
        *out = sl_xstrdup(header + sizeof(prefix) - 1);
    sl_secure_free_str(header);
    return 0;
}

void sl_registry_use_pull_token(struct sl_registry *r, const char *repo, const char *token,
                                int64_t valid_ms)
{
    char *scope = scope_pull(repo);
    sl_token_cache_put(r->tokens, scope, token, sl_mono_ms() + valid_ms);
    free(scope);
}

/* Sends q to /v2/<repo>/<endpoint>/<reference> with repo's pull scope (push: pull,push) and
 * turns any answer but 200 (push: also 201 Created) into status_error's code. Returns 0 or
 * SL_E*; rs holds the answer either way. */
static int repo_request(struct sl_registry *r, struct req *q, const char *repo,
                        const char *endpoint, const char *reference, int push, struct resp *rs,
                        const char *what, struct sl_err *err)
{
    int rc = check_names(r, repo, reference, strcmp(endpoint, "blobs") == 0, err);
    if (rc < 0)
        return rc;
    char *path = sl_xasprintf("/v2/%s/%s/%s", repo, endpoint, reference);
    char *scope = push ? scope_push(repo) : scope_pull(repo);
    rc = request(r, q, path, scope, rs, what, err);
    free(path);
    free(scope);
    if (rc >= 0 && rs->status != 200 && !(push && rs->status == 201))
        rc = status_error(q, rs, what, err);
    return rc;
}

/* ---- manifests ---- */

void sl_registry_manifest_free(struct sl_registry_manifest *m)
{
    if (!m)
        return;
    free(m->data);
    free(m->media_type);
    memset(m, 0, sizeof(*m));
}

static char *strip_params(const char *ct)
{
    if (!ct)
        return NULL;
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    return sl_xstrndup(ct, n);
}

static int manifest_get_uncached(struct sl_registry_manifest *out, struct sl_registry *r,
                                 const char *repo, const char *reference, struct sl_err *err);
static int manifest_head_uncached(char digest_out[72], char **media_type_out, struct sl_registry *r,
                                  const char *repo, const char *reference, struct sl_err *err);

/* A kept answer of the read cache: a "not found" sets err as the registry's 404 did. Returns 1
 * (*rc set) on a hit, else 0. */
static int cached_read(int *rc, struct sl_read_answer *a, struct sl_registry *r, const char *kind,
                       const char *repo, const char *key, bool need_data, struct sl_err *err)
{
    memset(a, 0, sizeof(*a));
    if (!r->reads || !sl_read_cache_get(r->reads, a, kind, repo, key, need_data, sl_mono_ms()))
        return 0;
    *rc = 0;
    if (!a->found) {
        *rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_REGISTRY, "%s", a->msg ? a->msg : "not found");
        if (err)
            err->http_status = 404;
        sl_read_answer_free(a);
    }
    return 1;
}

/* Keeps the outcome rc of a read in the read cache when it is an answer (found, or 404). */
static void keep_read(struct sl_registry *r, const char *kind, const char *repo, const char *key,
                      int rc, struct sl_read_answer *a, const struct sl_err *err)
{
    if (!r->reads || (rc != 0 && rc != SL_ENOTFOUND))
        return;
    if (rc == SL_ENOTFOUND) {
        struct sl_read_answer nf = {.found = false, .msg = err ? (char *)err->msg : NULL};
        sl_read_cache_put(r->reads, kind, repo, key, &nf, sl_mono_ms());
        return;
    }
    a->found = true;
    sl_read_cache_put(r->reads, kind, repo, key, a, sl_mono_ms());
}

int sl_registry_manifest_get(struct sl_registry_manifest *out, struct sl_registry *r,
                             const char *repo, const char *reference, struct sl_err *err)
{
    struct sl_read_answer kept;
    int rc = 0;
    if (cached_read(&rc, &kept, r, "manifest", repo, reference, true, err)) {
        if (rc == 0) {
            memset(out, 0, sizeof(*out));
            out->data = kept.data;
            out->len = kept.len;
            out->media_type = kept.media_type;
            memcpy(out->digest, kept.digest, sizeof(out->digest));
            free(kept.msg);
        }
        return rc;
    }
    rc = manifest_get_uncached(out, r, repo, reference, err);
    struct sl_read_answer a = {0};
    if (rc == 0) {
        a.data = out->data;
        a.len = out->len;
        a.media_type = out->media_type;
        memcpy(a.digest, out->digest, sizeof(a.digest));
    }
    keep_read(r, "manifest", repo, reference, rc, &a, err);
    return rc;
}

static int manifest_get_uncached(struct sl_registry_manifest *out, struct sl_registry *r,
                                 const char *repo, const char *reference, struct sl_err *err)
{
    struct resp rs;
    resp_init(&rs, SL_MANIFEST_MAX);
    char what[512];
    snprintf(what, sizeof(what), "manifest %s/%s:%s", r->host, repo, reference);
    struct req q = {.method = "GET", .accept = SL_MANIFEST_ACCEPT, .max_body = SL_MANIFEST_MAX};
    int rc = repo_request(r, &q, repo, "manifests", reference, 0, &rs, what, err);
    if (rc == SL_ETOOBIG) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY, "%s is larger than 4 MiB", what);
        goto done;
    }
    if (rc < 0)
        goto done;
    char computed[72];
    sl_digest_sha256(computed, rs.body.data ? rs.body.data : "", rs.body.len);
    const char *expected = sl_ref_is_digest(reference) ? reference : rs.digest;
    if (expected && strcmp(expected, computed) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_REGISTRY,
                        "%s: digest mismatch: registry says %s, content is %s", what, expected,
                        computed);
        goto done;
    }
    memset(out, 0, sizeof(*out));
    out->media_type = strip_params(rs.content_type);
    memcpy(out->digest, computed, sizeof(computed));
    out->data = sl_buf_steal(&rs.body, &out->len);
    rc = 0;
done:
    resp_free(&rs);
    return rc;
}

int sl_registry_manifest_head(char digest_out[72], char **media_type_out, struct sl_registry *r,
                              const char *repo, const char *reference, struct sl_err *err)
{
    struct sl_read_answer kept;
    int rc = 0;
    if (cached_read(&rc, &kept, r, "manifest", repo, reference, false, err)) {
        if (rc == 0) {
            memcpy(digest_out, kept.digest, 72);
            if (media_type_out) {
                *media_type_out = kept.media_type;
                kept.media_type = NULL;
            }
            sl_read_answer_free(&kept);
        }
        return rc;
    }
    char *mt = NULL;
    rc = manifest_head_uncached(digest_out, &mt, r, repo, reference, err);
    struct sl_read_answer a = {.media_type = mt};
    if (rc == 0)
        memcpy(a.digest, digest_out, 72);
    keep_read(r, "manifest", repo, reference, rc, &a, err);
    if (media_type_out)
        *media_type_out = mt;
    else
        free(mt);
    return rc;
}

static int manifest_head_uncached(char digest_out[72], char **media_type_out, struct sl_registry *r,
                                  const char *repo, const char *reference, struct sl_err *err)
{
    struct resp rs;
    resp_init(&rs, 0);
    char what[512];
    snprintf(what, sizeof(what), "manifest %s/%s:%s", r->host, repo, reference);
    struct req q = {.method = "HEAD", .accept = SL_MANIFEST_ACCEPT};
    int rc = repo_request(r, &q, repo, "manifests", reference, 0, &rs, what, err);
    if (rc < 0)
        goto done;
    if (!rs.digest || !sl_ref_is_digest(rs.digest)) {
        struct sl_registry_manifest m;
        rc = sl_registry_manifest_get(&m, r, repo, reference, err);
        if (rc < 0)
            goto done;
        memcpy(digest_out, m.digest, 72);
        if (media_type_out)
            *media_type_out = m.media_type ? sl_xstrdup(m.media_type) : NULL;
        sl_registry_manifest_free(&m);
        goto done;
    }
    snprintf(digest_out, 72, "%s", rs.digest);
    if (media_type_out)
        *media_type_out = strip_params(rs.content_type);
done:
    resp_free(&rs);
    return rc;
}

int sl_registry_manifest_put(char digest_out[72], struct sl_registry *r, const char *repo,
                             const char *reference, const char *media_type, const void *data,
                             size_t len, struct sl_err *err)
{
    struct resp rs;
    resp_init(&rs, 0);
    char what[512];
    snprintf(what, sizeof(what), "put manifest %s/%s:%s", r->host, repo, reference);
    char computed[72];
    sl_digest_sha256(computed, data, len);
    struct req q = {.method = "PUT", .content_type = media_type, .body = data, .body_len = len};
    if (r->reads) /* whatever happens, what was kept about repo may be out of date now */
        sl_read_cache_forget_repo(r->reads, repo);
    int rc = repo_request(r, &q, repo, "manifests", reference, 1, &rs, what, err);
    if (r->reads) /* and what another thread read meanwhile */
        sl_read_cache_forget_repo(r->reads, repo);
    if (rc < 0)
        goto done;
    if (rs.digest && strcmp(rs.digest, computed) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_REGISTRY,
                        "%s: registry stored digest %s, expected %s", what, rs.digest, computed);
        goto done;
    }
    if (digest_out)
        memcpy(digest_out, computed, 72);
done:
    resp_free(&rs);
    return rc;
}

/* ---- blobs ---- */

int sl_registry_blob_head(int64_t *size_out, struct sl_registry *r, const char *repo,
                          const char *digest, struct sl_err *err)
{
    struct resp rs;
    resp_init(&rs, 0);
    char what[512];
    snprintf(what, sizeof(what), "blob %s/%s@%s", r->host, repo, digest);
    struct req q = {.method = "HEAD", .follow = 1};
    int rc = repo_request(r, &q, repo, "blobs", digest, 0, &rs, what, err);
    if (rc < 0)
        goto done;
    if (size_out)
        *size_out = rs.content_length;
done:
    resp_free(&rs);
    return rc;
}

int sl_registry_blob_get(char **out, size_t *out_len, struct sl_registry *r, const char *repo,
                         const char *digest, size_t max_bytes, struct sl_err *err)
{
    struct resp rs;
    resp_init(&rs, max_bytes);
    char what[512];
    snprintf(what, sizeof(what), "blob %s/%s@%s", r->host, repo, digest);
    struct req q = {.method = "GET", .follow = 1, .max_body = max_bytes};
    int rc = repo_request(r, &q, repo, "blobs", digest, 0, &rs, what, err);
    if (rc < 0)
        goto done;
    char computed[72];
    sl_digest_sha256(computed, rs.body.data ? rs.body.data : "", rs.body.len);
    if (strcmp(computed, digest) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_REGISTRY, "%s: content has digest %s", what,
                        computed);
        goto done;
    }
    *out = sl_buf_steal(&rs.body, out_len);
done:
    resp_free(&rs);
    return rc;
}

int sl_registry_blob_stream(int64_t *bytes_out, struct sl_registry *r, const char *repo,
                            const char *digest,
                            int (*on_data)(void *ctx, const void *buf, size_t n), void *ctx,
                            struct sl_err *err)
{
    int rc = check_names(r, repo, digest, 1, err);
    if (rc < 0)
        return rc;
    struct resp rs;
    resp_init(&rs, 0);
    rs.on_data = on_data;
    rs.on_data_ctx = ctx;
    rs.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(rs.md, EVP_sha256(), NULL);
    char *path = sl_xasprintf("/v2/%s/blobs/%s", repo, digest);
    char *scope = scope_pull(repo);
    char what[512];
    snprintf(what, sizeof(what), "blob %s/%s@%s", r->host, repo, digest);
    struct req q = {.method = "GET", .follow = 1};
    rc = request(r, &q, path, scope, &rs, what, err);
    if (bytes_out)
        *bytes_out = (int64_t)rs.streamed;
    if (rc < 0) {
        if (rs.streamed > 0 && !rs.cb_rc)
            sl_err_prefix(err, "%s: transfer broke after %llu bytes", what,
                          (unsigned long long)rs.streamed);
        goto done;
    }
    if (rs.status != 200) {
        rc = status_error(&q, &rs, what, err);
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(rs.md, md, &mdlen);
    char computed[72] = "sha256:";
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(computed + 7 + 2 * i, 3, "%02x", md[i]);
    if (strcmp(computed, digest) != 0)
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_REGISTRY, "%s: content has digest %s", what,
                        computed);
done:
    EVP_MD_CTX_free(rs.md);
    free(path);
    free(scope);
    resp_free(&rs);
    return rc;
}

static void cancel_upload(struct sl_registry *r, const char *location, const char *scope)
{
    struct resp rs;
    resp_init(&rs, 0);
    char *url = url_for(r, location);
    char *auth = NULL;
    if (auth_header_for(&auth, r, scope, NULL) == 0) {
        struct req q = {.method = "DELETE", .url = url};
        perform_once(r, &q, auth, &rs, NULL);
    }
    sl_secure_free_str(auth);
    free(url);
    resp_free(&rs);
}

int sl_registry_blob_mount(int *mounted, struct sl_registry *r, const char *repo,
                           const char *digest, const char *from_repo, struct sl_err *err)
{
    int rc = check_names(r, repo, digest, 1, err);
    if (rc == 0)
        rc = check_names(r, from_repo, NULL, 0, err);
    if (rc < 0)
        return rc;
    struct resp rs;
    resp_init(&rs, 0);
    char *path = sl_xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest, from_repo);
    char *scope = sl_xasprintf("repository:%s:pull,push repository:%s:pull", repo, from_repo);
    char what[512];
    snprintf(what, sizeof(what), "mount %s into %s/%s", digest, r->host, repo);
    struct req q = {.method = "POST"};
    rc = request(r, &q, path, scope, &rs, what, err);
    if (rc < 0)
        goto done;
    if (rs.status == 201) {
        *mounted = 1;
    } else if (rs.status == 202) {
        *mounted = 0;
        if (rs.location)
            cancel_upload(r, rs.location, scope);
    } else {
        rc = status_error(&q, &rs, what, err);
    }
done:
    free(path);
    free(scope);
    resp_free(&rs);
    return rc;
}

void sl_registry_blob_remember(struct sl_registry *r, const char *repo, const char *digest)
{
    if (!sl_ref_is_digest(digest) || strlen(digest) >= sizeof(r->homes[0].digest))
        return;
    pthread_mutex_lock(&r->mu);
    struct blob_home *h = NULL;
    for (size_t i = 0; i < r->n_homes && !h; i++)
        if (strcmp(r->homes[i].digest, digest) == 0)
            h = &r->homes[i];
    if (!h) {
        if (!r->homes)
            r->homes = sl_xcalloc(BLOB_HOMES_MAX, sizeof(*r->homes));
        if (r->n_homes < BLOB_HOMES_MAX) {
            h = &r->homes[r->n_homes++];
        } else { /* full: the oldest goes */
            h = &r->homes[r->next_home];
            r->next_home = (r->next_home + 1) % BLOB_HOMES_MAX;
        }
        snprintf(h->digest, sizeof(h->digest), "%s", digest);
    }
    if (!h->repo || strcmp(h->repo, repo) != 0) {
        free(h->repo);
        h->repo = sl_xstrdup(repo);
    }
    pthread_mutex_unlock(&r->mu);
}

bool sl_registry_blob_home(char *out, size_t out_len, struct sl_registry *r, const char *digest,
                           const char *not_repo)
{
    bool found = false;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_homes; i++) {
        const struct blob_home *h = &r->homes[i];
        if (strcmp(h->digest, digest) == 0 && strcmp(h->repo, not_repo) != 0 &&
            strlen(h->repo) < out_len) {
            snprintf(out, out_len, "%s", h->repo);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

void sl_registry_blob_forget(struct sl_registry *r, const char *repo, const char *digest)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_homes; i++) {
        struct blob_home *h = &r->homes[i];
        if (strcmp(h->digest, digest) == 0 && strcmp(h->repo, repo) == 0) {
            /* the slot stays (the ring order is kept); it just names nothing any more */
            h->digest[0] = '\0';
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* POST /v2/<repo>/blobs/uploads/ -> absolute upload URL (caller frees). */
static int upload_start(char **location_out, struct sl_registry *r, const char *repo,
                        struct sl_err *err)
{
    int rc = check_names(r, repo, NULL, 0, err);
    if (rc < 0)
        return rc;
    struct resp rs;
    resp_init(&rs, 0);
    char *path = sl_xasprintf("/v2/%s/blobs/uploads/", repo);
    char *scope = scope_push(repo);
    char what[512];
    snprintf(what, sizeof(what), "start upload to %s/%s", r->host, repo);
    struct req q = {.method = "POST"};
    rc = request(r, &q, path, scope, &rs, what, err);
    if (rc < 0)
        goto done;
    if (rs.status != 202 || !rs.location) {
        rc = rs.status == 202 ? sl_err_set(err, SL_EFAIL, SL_ERRC_REGISTRY,
                                           "%s: no Location in 202 response", what)
                              : status_error(&q, &rs, what, err);
        goto done;
    }
    *location_out = url_for(r, rs.location);
done:
    free(path);
    free(scope);
    resp_free(&rs);
    return rc;
}

static char *with_digest_param(const char *location, const char *digest)
{
    char *e = sl_http_escape(digest);
    char *u = sl_xasprintf("%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?', e);
    free(e);
    return u;
}

int sl_registry_blob_upload(struct sl_registry *r, const char *repo, const char *digest,
                            const void *data, size_t len, size_t chunk_bytes, struct sl_err *err)
{
    char *location = NULL, *url = NULL, *scope = scope_push(repo);
    struct resp rs;
    resp_init(&rs, 0);
    char what[512];
    snprintf(what, sizeof(what), "upload %s to %s/%s", digest, r->host, repo);
    int rc = check_names(r, repo, digest, 1, err);
    if (rc == 0)
        rc = upload_start(&location, r, repo, err);
    if (rc < 0)
        goto done;
    if (chunk_bytes > 0) {
        for (size_t off = 0; off < len; off += chunk_bytes) {
            size_t n = len - off < chunk_bytes ? len - off : chunk_bytes;
            char range[96];
            snprintf(range, sizeof(range), "Content-Range: %zu-%zu", off, off + n - 1);
            struct req q = {.method = "PATCH",
                            .content_type = "application/octet-stream",
                            .body = (const char *)data + off,
                            .body_len = n,
                            .extra_header = range};
            /* a chunk is not safely repeatable once the registry has taken it: one attempt */
            char *auth = NULL;
            rc = auth_header_for(&auth, r, scope, err);
            if (rc == 0) {
                q.url = location;
                rc = perform_once(r, &q, auth, &rs, err);
            }
            sl_secure_free_str(auth);
            if (rc < 0)
                goto done;
            if (rs.status != 202 || !rs.location) {
                rc = status_error(&q, &rs, what, err);
                goto done;
            }
            free(location);
            location = url_for(r, rs.location);
        }
        url = with_digest_param(location, digest);
        struct req q = {.method = "PUT"};
        rc = request(r, &q, url, scope, &rs, what, err);
    } else {
        url = with_digest_param(location, digest);
        struct req q = {.method = "PUT",
                        .content_type = "application/octet-stream",
                        .body = data,
                        .body_len = len};
        rc = request(r, &q, url, scope, &rs, what, err);
    }
    if (rc < 0)
        goto done;
    if (rs.status != 201) {
        struct req q = {.method = "PUT"};
        rc = status_error(&q, &rs, what, err);
        if (rs.status == 400 && strstr(err ? err->msg : "", "DIGEST_INVALID"))
            rc = err ? (err->code = SL_EDIGEST) : SL_EDIGEST;
    }
done:
    if (rc < 0 && location)
        cancel_upload(r, location, scope);
    free(location);
    free(url);
    free(scope);
    resp_free(&rs);
    return rc;
}

/* ---- tags and referrers ---- */

void sl_registry_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Link: </v2/x/tags/list?last=a&n=100>; rel="next" -> "/v2/x/tags/list?last=a&n=100" */
static char *next_link(const char *link)
{
    if (!link || !strstr(link, "rel=\"next\"") || link[0] != '<')
        return NULL;
    const char *end = strchr(link, '>');
    return end ? sl_xstrndup(link + 1, (size_t)(end - link - 1)) : NULL;
}

int sl_registry_tags_list(char ***tags_out, size_t *n_out, struct sl_registry *r, const char *repo,
                          size_t page_size, struct sl_err *err)
{
    int rc = check_names(r, repo, NULL, 0, err);
    if (rc < 0)
        return rc;
    char **tags = NULL;
    size_t n = 0, cap = 0, total_bytes = 0;
    char *path = sl_xasprintf("/v2/%s/tags/list?n=%zu", repo, page_size ? page_size : 1000);
    char *scope = scope_pull(repo);
    struct resp rs;
    resp_init(&rs, TAGS_TOTAL_MAX);
    char what[512];
    snprintf(what, sizeof(what), "tags of %s/%s", r->host, repo);
    for (int page = 0; path && page < 1000; page++) {
        /* the bound covers every page together: many pages cannot add up past it */
        struct req q = {.method = "GET", .max_body = TAGS_TOTAL_MAX - total_bytes};
        rc = q.max_body > 0 ? request(r, &q, path, scope, &rs, what, err) : SL_ETOOBIG;
        if (rc == SL_ETOOBIG) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY,
                            "registry %s: the tag list of %s is larger than %zu MiB; refused",
                            r->host, repo, TAGS_TOTAL_MAX >> 20);
            goto done;
        }
        if (rc < 0)
            goto done;
        if (rs.status != 200) {
            rc = status_error(&q, &rs, what, err);
            goto done;
        }
        total_bytes += rs.body.len;
        json_error_t jerr;
        json_t *root = json_loadb(rs.body.data ? rs.body.data : "", rs.body.len, 0, &jerr);
        sl_buf_reset(&rs.body);
        json_t *arr = json_object_get(root, "tags");
        if (!json_is_object(root) || (arr && !json_is_array(arr) && !json_is_null(arr))) {
            json_decref(root);
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "%s: malformed tag list", what);
            goto done;
        }
        size_t i;
        json_t *t;
        json_array_foreach(arr, i, t)
        {
            if (!json_is_string(t))
                continue;
            const char *tag = json_string_value(t);
            if (!sl_ref_is_tag(tag)) {
                /* a name like "1.0/../../other/repo/manifests/x" must never reach a URL */
                char shown[176];
                printable(shown, sizeof(shown), tag);
                json_decref(root);
                rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY,
                                "registry %s: the tag list of %s holds an invalid tag name "
                                "\"%s\" (a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127})",
                                r->host, repo, shown);
                goto done;
            }
            if (n >= MAX_TAGS) {
                json_decref(root);
                rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY,
                                "registry %s: the tag list of %s has more than %d tags; refused",
                                r->host, repo, MAX_TAGS);
                goto done;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                tags = sl_xrealloc(tags, cap * sizeof(*tags));
            }
            tags[n++] = sl_xstrdup(tag);
        }
        json_decref(root);
        free(path);
        path = next_link(rs.link);
    }
    *tags_out = tags;
    *n_out = n;
    tags = NULL;
done:
    if (tags)
        sl_registry_strv_free(tags, n);
    free(path);
    free(scope);
    resp_free(&rs);
    return rc;
}

#define EMPTY_INDEX "{\"schemaVersion\":2,\"mediaType\":\"" SL_MT_OCI_INDEX "\",\"manifests\":[]}"

int sl_registry_referrers(char **index_out, size_t *len_out, struct sl_registry *r,
                          const char *repo, const char *digest, const char *artifact_type,
                          struct sl_err *err)
{
    return sl_registry_referrers_ex(index_out, len_out, NULL, r, repo, digest, artifact_type, err);
}

static int referrers_uncached(char **index_out, size_t *len_out, int *from_api,
                              struct sl_registry *r, const char *repo, const char *digest,
                              const char *artifact_type, struct sl_err *err);

int sl_registry_referrers_ex(char **index_out, size_t *len_out, int *from_api,
                             struct sl_registry *r, const char *repo, const char *digest,
                             const char *artifact_type, struct sl_err *err)
{
    char key[400];
    /* a key cut short would name other referrers: such a query is neither looked up nor kept */
    bool keyed = strlen(digest) + 1 + (artifact_type ? strlen(artifact_type) : 0) < sizeof(key);
    snprintf(key, sizeof(key), "%s|%s", digest, artifact_type ? artifact_type : "");
    struct sl_read_answer kept;
    int rc = 0;
    if (keyed && cached_read(&rc, &kept, r, "referrers", repo, key, true, err)) {
        if (rc == 0) {
            *index_out = kept.data;
            *len_out = kept.len;
            if (from_api)
                *from_api = kept.flag;
            kept.data = NULL;
            sl_read_answer_free(&kept);
        }
        return rc;
    }
    int api = 0;
    rc = referrers_uncached(index_out, len_out, &api, r, repo, digest, artifact_type, err);
    if (from_api)
        *from_api = api;
    if (keyed) {
        struct sl_read_answer a = {.flag = api};
        if (rc == 0) {
            a.data = *index_out;
            a.len = *len_out;
        }
        keep_read(r, "referrers", repo, key, rc, &a, err);
    }
    return rc;
}

static int referrers_uncached(char **index_out, size_t *len_out, int *from_api,
                              struct sl_registry *r, const char *repo, const char *digest,
                              const char *artifact_type, struct sl_err *err)
{
    int rc = check_names(r, repo, digest, 1, err);
    if (rc < 0)
        return rc;
    struct resp rs;
    resp_init(&rs, SL_MANIFEST_MAX);
    char *path = NULL, *scope = scope_pull(repo);
    if (artifact_type) {
        char *e = sl_http_escape(artifact_type);
        path = sl_xasprintf("/v2/%s/referrers/%s?artifactType=%s", repo, digest, e);
        free(e);
    } else {
        path = sl_xasprintf("/v2/%s/referrers/%s", repo, digest);
    }
    char what[512];
    snprintf(what, sizeof(what), "referrers of %s/%s@%s", r->host, repo, digest);
    struct req q = {.method = "GET", .accept = SL_MT_OCI_INDEX, .max_body = SL_MANIFEST_MAX};
    rc = request(r, &q, path, scope, &rs, what, err);
    if (rc < 0)
        goto done;
    if (rs.status == 200) {
        *index_out = sl_buf_steal(&rs.body, len_out);
        if (from_api)
            *from_api = 1;
        goto done;
    }
    /* 404 is what the distribution spec says a registry without the API answers; some answer
     * 400, 405 or 406 for a path they do not know, which means the same here */
    if (rs.status != 404 && rs.status != 400 && rs.status != 405 && rs.status != 406) {
        rc = status_error(&q, &rs, what, err);
        goto done;
    }
    if (from_api)
        *from_api = 0;
    /* no referrers API: the tag schema keeps an index at sha256-<hex> */
    char tag[80];
    snprintf(tag, sizeof(tag), "sha256-%s", digest + 7);
    struct sl_registry_manifest m;
    rc = sl_registry_manifest_get(&m, r, repo, tag, err);
    if (rc == SL_ENOTFOUND) {
        *index_out = sl_xstrdup(EMPTY_INDEX);
        *len_out = strlen(EMPTY_INDEX);
        rc = 0;
        sl_err_clear(err);
        goto done;
    }
    if (rc < 0)
        goto done;
    *index_out = m.data;
    *len_out = m.len;
    m.data = NULL;
    sl_registry_manifest_free(&m);
done:
    free(path);
    free(scope);
    resp_free(&rs);
    return rc;
}

/* ---- streaming copy ---- */

struct sl_blob_streamer {
    struct sl_http_relayer *relayer;
};

struct sl_blob_streamer *sl_blob_streamer_new(void)
{
    struct sl_blob_streamer *s = sl_xcalloc(1, sizeof(*s));
    s->relayer = sl_http_relayer_new();
    return s;
}

void sl_blob_streamer_free(struct sl_blob_streamer *s)
{
    if (!s)
        return;
    sl_http_relayer_free(s->relayer);
    free(s);
}

struct stream {
    EVP_MD_CTX *md;
    const char *digest;
    int64_t size, received;
    int oversize, mismatch;
    struct resp get_rs, put_rs;
    char computed[72];
};

/* A chunk of the 200 body: counted and hashed before the upload may send it. */
static int stream_chunk(void *ud, const char *p, size_t n)
{
    struct stream *st = ud;
    if (st->received + (int64_t)n > st->size) {
        st->oversize = 1;
        return 1;
    }
    EVP_DigestUpdate(st->md, p, n);
    st->received += (int64_t)n;
    return 0;
}

/* The download ended: the last byte goes out only when size and digest match. */
static int stream_get_done(void *ud)
{
    struct stream *st = ud;
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(st->md, md, &mdlen);
    memcpy(st->computed, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(st->computed + 7 + 2 * i, 3, "%02x", md[i]);
    if (st->received != st->size || strcmp(st->computed, st->digest) != 0)
        st->mismatch = 1;
    return st->mismatch;
}

/* An error body of the download: a little of it is kept for the message. */
static size_t stream_error_body(void *ud, long status, const char *p, size_t n)
{
    (void)status;
    struct resp *rs = ud;
    sl_buf_append(&rs->body, p, n);
    return n;
}

static int64_t retry_after_of(const struct resp *rs)
{
    int64_t ra = 0;
    if (rs->retry_after && sl_retry_after_parse_ms(&ra, rs->retry_after, time(NULL)) == 0)
        return ra;
    return 0;
}

int sl_blob_stream_copy(int64_t *bytes_out, struct sl_blob_streamer *s, struct sl_registry *src,
                        const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                        const char *digest, int64_t size, struct sl_err *err)
{
    int rc = 0;
    char *location = NULL, *put_url = NULL, *get_url = NULL;
    char *src_auth = NULL, *dst_auth = NULL;
    char *src_scope = scope_pull(src_repo), *dst_scope = scope_push(dst_repo);
    struct stream st;
    memset(&st, 0, sizeof(st));
    st.digest = digest;
    st.size = size;
    resp_init(&st.get_rs, 4096);
    resp_init(&st.put_rs, ERROR_BODY_MAX);
    char what[512];
    snprintf(what, sizeof(what), "copy blob %s from %s/%s to %s/%s", digest, src->host, src_repo,
             dst->host, dst_repo);

    rc = check_names(src, src_repo, digest, 1, err);
    if (rc == 0)
        rc = check_names(dst, dst_repo, NULL, 0, err);
    if (rc < 0)
        goto done;
    if (size == 0) {
        rc = sl_registry_blob_upload(dst, dst_repo, digest, "", 0, 0, err);
        goto done;
    }
    rc = ensure_base(src, err);
    if (rc < 0)
        goto done;
    rc = upload_start(&location, dst, dst_repo, err);
    if (rc < 0)
        goto done;
    rc = auth_header_for(&src_auth, src, src_scope, err);
    if (rc < 0)
        goto done;
    rc = auth_header_for(&dst_auth, dst, dst_scope, err);
    if (rc < 0)
        goto done;
    {
        char *path = sl_xasprintf("/v2/%s/blobs/%s", src_repo, digest);
        get_url = url_for(src, path);
        free(path);
    }
    put_url = with_digest_param(location, digest);
    st.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(st.md, EVP_sha256(), NULL);

    int64_t left = deadline_left_ms();
    if (left <= 0) {
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY, "%s: %s", what, DEADLINE_MSG);
        goto done;
    }
    const char *get_hdrs[1], *put_hdrs[2];
    size_t n_get = 0, n_put = 0;
    if (src_auth)
        get_hdrs[n_get++] = src_auth;
    put_hdrs[n_put++] = "Content-Type: application/octet-stream";
    if (dst_auth && same_origin(dst, put_url)) /* an upload Location elsewhere gets none */
        put_hdrs[n_put++] = dst_auth;
    int64_t limit = left != INT64_MAX ? left : 0;
    struct sl_http_relay relay = {
        .get = {.method = "GET",
                .url = get_url,
                .headers = get_hdrs,
                .n_headers = n_get,
                .max_redirects = 5,
                .timeout_ms = limit,
                .low_speed_bytes = LOW_SPEED_BYTES,
                .low_speed_s = LOW_SPEED_STREAM_S,
                .on_header = header_cb,
                .on_body = stream_error_body,
                .ud = &st.get_rs},
        .put = {.method = "PUT",
                .url = put_url,
                .headers = put_hdrs,
                .n_headers = n_put,
                .timeout_ms = limit,
                .low_speed_bytes = LOW_SPEED_BYTES,
                .low_speed_s = LOW_SPEED_STREAM_S,
                .on_header = header_cb,
                .on_body = body_cb,
                .ud = &st.put_rs},
        .size = size,
        .on_chunk = stream_chunk,
        .on_get_done = stream_get_done,
        .ud = &st,
    };
    struct sl_http_result get_res, put_res;
    sl_transport_relay(s->relayer, src->transport, dst->transport, &relay, &get_res, &put_res);
    *bytes_out = put_res.sent;

    if (get_res.failure != SL_HTTP_STOPPED &&
        (get_res.failure != SL_HTTP_OK || get_res.status != 200)) {
        if (get_res.failure != SL_HTTP_OK) {
            rc = sl_err_set(err, st.oversize ? SL_EDIGEST : SL_ERETRY, SL_ERRC_REGISTRY,
                            "%s: download: %s", what,
                            st.oversize ? "more bytes than the descriptor size"
                            : get_res.failure == SL_HTTP_TIMEOUT && deadline_left_ms() <= 0
                                ? DEADLINE_MSG
                                : get_res.error);
        } else {
            struct req q = {.method = "GET"};
            st.get_rs.status = get_res.status;
            rc = status_error(&q, &st.get_rs, what, err);
            if (get_res.status == 401) {
                sl_token_cache_drop(src->tokens, src_scope);
                rc = SL_ERETRY;
                if (err)
                    err->code = SL_ERETRY;
            }
            if (rc == SL_ERETRY)
                sl_registry_backoff_sleep(src, 0, retry_after_of(&st.get_rs));
        }
        goto done;
    }
    if (st.mismatch) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_REGISTRY,
                        "%s: content does not match its digest (got %s, %lld of %lld bytes); "
                        "upload aborted",
                        what, st.computed[0] ? st.computed : "incomplete", (long long)st.received,
                        (long long)size);
        goto done;
    }
    if (put_res.failure != SL_HTTP_OK) {
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY, "%s: upload: %s", what,
                        put_res.failure == SL_HTTP_TIMEOUT && deadline_left_ms() <= 0
                            ? DEADLINE_MSG
                            : put_res.error);
        goto done;
    }
    long put_status = put_res.status;
    st.put_rs.status = put_status;
    if (put_status != 201) {
        struct req q = {.method = "PUT"};
        rc = status_error(&q, &st.put_rs, what, err);
        if (put_status == 401) {
            sl_token_cache_drop(dst->tokens, dst_scope);
            rc = SL_ERETRY;
            if (err)
                err->code = SL_ERETRY;
        } else if (put_status == 400 && strstr(err ? err->msg : "", "DIGEST_INVALID")) {
            rc = SL_EDIGEST;
            if (err)
                err->code = SL_EDIGEST;
        }
        goto done;
    }
    rc = 0;
done:
    if (rc < 0 && location)
        cancel_upload(dst, location, dst_scope);
    if (st.md)
        EVP_MD_CTX_free(st.md);
    sl_secure_free_str(src_auth);
    sl_secure_free_str(dst_auth);
    free(src_scope);
    free(dst_scope);
    free(location);
    free(put_url);
    free(get_url);
    resp_free(&st.get_rs);
    resp_free(&st.put_rs);
    return rc;
}
