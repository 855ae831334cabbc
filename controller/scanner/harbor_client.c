/* Client of a Harbor Pluggable Scanner API v1.1 adapter (see harbor_client.h). */
#include "scanner/harbor_client.h"

#include "http/transport.h"
#include "scanner/harbor_api.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct sl_harbor_client {
    char *base; /* without a trailing '/' */
    struct sl_harbor_client_opts opts;
    char *ca_pem;
    bool has_client_cert; /* a client certificate was given (for messages) */
    char *auth_header;    /* "Authorization: ..." (secret) or NULL */
    struct sl_transport *transport;
    bool own_transport;
};

struct sl_harbor_client *sl_harbor_client_new(const char *base_url,
                                              const struct sl_harbor_client_opts *opts)
{
    struct sl_harbor_client *c = sl_xcalloc(1, sizeof(*c));
    c->base = sl_xstrdup(base_url);
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    if (opts)
        c->opts = *opts;
    c->ca_pem = opts && opts->ca_pem ? sl_xstrdup(opts->ca_pem) : NULL;
    if (opts && opts->authorization && *opts->authorization)
        c->auth_header = sl_xasprintf("Authorization: %s", opts->authorization);
    c->has_client_cert = opts && opts->client_cert_pem && opts->client_key_pem;
    c->opts.ca_pem = NULL;
    c->opts.authorization = NULL;
    c->opts.client_cert_pem = c->opts.client_key_pem = NULL;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 10000;
    if (c->opts.request_timeout_ms <= 0)
        c->opts.request_timeout_ms = 60000;
    if (c->opts.report_timeout_ms <= 0)
        c->opts.report_timeout_ms = 600000;
    c->transport = c->opts.transport;
    c->opts.transport = NULL;
    if (!c->transport) {
        struct sl_transport_opts to = {.connect_timeout_ms = c->opts.connect_timeout_ms,
                                       .insecure = c->opts.insecure != 0,
                                       .ca_pem = c->ca_pem};
        /* the transport copies them (the key into a buffer it wipes) */
        if (c->has_client_cert) {
            to.client_cert_pem = opts->client_cert_pem;
            to.client_key_pem = opts->client_key_pem;
        }
        c->transport = sl_transport_new(&to);
        if (!c->transport) {
            fprintf(stderr, "sealift: cannot initialize libcurl\n");
            abort();
        }
        c->own_transport = true;
    }
    return c;
}

void sl_harbor_client_free(struct sl_harbor_client *c)
{
    if (!c)
        return;
    if (c->own_transport)
        sl_transport_free(c->transport);
    free(c->base);
    free(c->ca_pem);
    sl_secure_free_str(c->auth_header);
    free(c);
}

const char *sl_harbor_client_url(const struct sl_harbor_client *c)
{
    return c->base;
}

struct resp {
    long status;
    struct sl_buf body;
    int too_big;
    char refresh_after[32];
    char content_type[160];
};

static size_t on_body(void *ud, long status, const char *ptr, size_t n)
{
    (void)status;
    struct resp *r = ud;
    if (sl_buf_append(&r->body, ptr, n) != 0) {
        r->too_big = 1;
        return 0;
    }
    return n;
}

static void header_value(char *out, size_t cap, const char *line, size_t n, size_t name_len)
{
    const char *v = line + name_len;
    size_t vl = n - name_len;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    snprintf(out, cap, "%.*s", (int)vl, v);
}

static void on_header(void *ud, const char *ptr, size_t n)
{
    struct resp *r = ud;
    if (n > 14 && strncasecmp(ptr, "Refresh-After:", 14) == 0)
        header_value(r->refresh_after, sizeof(r->refresh_after), ptr, n, 14);
    else if (n > 13 && strncasecmp(ptr, "Content-Type:", 13) == 0)
        header_value(r->content_type, sizeof(r->content_type), ptr, n, 13);
}

/* One exchange: method on base + path. Returns 0 with r filled (any status) or a transport
 * error (SL_ERETRY, SL_ETOOBIG, SL_EFAIL) with err set. */
static int perform(struct sl_harbor_client *c, const char *method, const char *path,
                   const char *accept, const char *content_type, const char *body, size_t max_bytes,
                   struct resp *r, struct sl_err *err)
{
    char *url = sl_xasprintf("%s%s", c->base, path);
    const char *hdrs[3];
    size_t nh = 0;
    char *accept_h = sl_xasprintf("Accept: %s", accept);
    char *ct = content_type ? sl_xasprintf("Content-Type: %s", content_type) : NULL;
    hdrs[nh++] = accept_h;
    if (ct)
        hdrs[nh++] = ct;
    if (c->auth_header)
        hdrs[nh++] = c->auth_header;
    sl_buf_init(&r->body, max_bytes);
    /* no redirects: a 302 means "not ready" here */
    struct sl_http_exchange x = {
        .method = body ? "POST" : method,
        .url = url,
        .headers = hdrs,
        .n_headers = nh,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = c->opts.request_timeout_ms,
        .on_header = on_header,
        .on_body = on_body,
        .ud = r,
    };
    struct sl_http_result res;
    enum sl_http_failure f = sl_transport_perform(c->transport, &x, &res);
    int rc = 0;
    if (r->too_big) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_SCANNER,
                        "scanner adapter %s: %s %s: response larger than %zu bytes", c->base,
                        method, path, max_bytes);
    } else if (f == SL_HTTP_TLS_VERIFY) {
        /* retried like other failures (a CA Secret may be fixed), but said plainly */
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_SCANNER,
                        "scanner adapter %s: %s %s: TLS certificate verification failed: %s "
                        "(a private CA goes in certSecretRef)",
                        c->base, method, path, res.error);
    } else if (f == SL_HTTP_TLS_CLIENT_CERT) {
        /* an authentication failure: asking again with the same certificate cannot help */
        rc = sl_err_set(err, SL_EAUTH, SL_ERRC_SCANNER, "scanner adapter %s: %s %s: %s (%s)",
                        c->base, method, path, res.error,
                        c->has_client_cert
                            ? "the adapter refused the TLS client certificate presented"
                            : "the adapter requires a TLS client certificate and none was "
                              "presented (tls.crt and tls.key go in certSecretRef)");
    } else if (f != SL_HTTP_OK) {
        rc =
            sl_err_set(err, SL_ERETRY, SL_ERRC_SCANNER, "scanner adapter %s unreachable: %s %s: %s",
                       c->base, method, path, res.error);
    } else {
        r->status = res.status;
    }
    free(accept_h);
    free(ct);
    free(url);
    return rc;
}

/* Turns a status the caller did not expect into an error naming the adapter and its message. */
static int status_error(struct sl_harbor_client *c, const char *method, const char *path,
                        const struct resp *r, struct sl_err *err)
{
    char msg[300];
    sl_harbor_error_message(msg, sizeof(msg), r->body.data, r->body.len);
    int code = SL_EFAIL;
    if (r->status == 401 || r->status == 403)
        code = SL_EAUTH;
    else if (r->status == 429 || r->status >= 500)
        code = SL_ERETRY;
    else if (r->status == 400 || r->status == 422)
        code = SL_EINVAL;
    else if (r->status == 404)
        code = SL_ENOTFOUND;
    return sl_err_set(err, code, SL_ERRC_SCANNER, "scanner adapter %s: %s %s: HTTP %ld%s%s",
                      c->base, method, path, r->status, msg[0] ? ": " : "", msg);
}

static char *take_body(struct resp *r, size_t *len)
{
    size_t n = 0;
    char *s = sl_buf_steal(&r->body, &n);
    if (!s)
        s = sl_xstrdup("");
    if (len)
        *len = n;
    return s;
}

int sl_harbor_client_metadata(char **body, size_t *len, struct sl_harbor_client *c,
                              struct sl_err *err)
{
    struct resp r;
    memset(&r, 0, sizeof(r));
    int rc = perform(c, "GET", "/api/v1/metadata", SL_HARBOR_METADATA_MT ", application/json", NULL,
                     NULL, SL_HARBOR_SMALL_MAX, &r, err);
    if (rc == 0 && r.status != 200)
        rc = status_error(c, "GET", "/api/v1/metadata", &r, err);
    if (rc == 0)
        *body = take_body(&r, len);
    sl_buf_free(&r.body);
    return rc;
}

int sl_harbor_client_scan(char **id_out, struct sl_harbor_client *c, const char *request_json,
                          struct sl_err *err)
{
    struct resp r;
    memset(&r, 0, sizeof(r));
    int rc = perform(c, "POST", "/api/v1/scan", SL_HARBOR_SCAN_RESPONSE_MT ", application/json",
                     SL_HARBOR_SCAN_REQUEST_MT, request_json, SL_HARBOR_SMALL_MAX, &r, err);
    if (rc == 0 && r.status != 202 && r.status != 200)
        rc = status_error(c, "POST", "/api/v1/scan", &r, err);
    if (rc == 0) {
        rc = sl_harbor_scan_response_parse(id_out, r.body.data ? r.body.data : "", r.body.len, err);
        if (rc != 0) {
            err->klass = SL_ERRC_SCANNER;
            sl_err_prefix(err, "scanner adapter %s: POST /api/v1/scan", c->base);
        }
    }
    sl_buf_free(&r.body);
    return rc;
}

/* A safe path segment for the id the adapter chose (it goes into our URL). */
static int id_ok(const char *id)
{
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-._~", *p)))
            return 0;
    return *id != '\0';
}

int sl_harbor_client_report(char **body, size_t *len, int64_t *refresh_after_ms,
                            struct sl_harbor_client *c, const char *id, struct sl_err *err)
{
    if (!id_ok(id))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER,
                          "scanner adapter %s: the scan id has characters outside [A-Za-z0-9-._~]",
                          c->base);
    char path[320];
    snprintf(path, sizeof(path), "/api/v1/scan/%s/report", id);
    struct resp r;
    memset(&r, 0, sizeof(r));
    int rc =
        perform(c, "GET", path, SL_HARBOR_REPORT_MT, NULL, NULL, SL_HARBOR_REPORT_MAX, &r, err);
    if (rc == 0 && r.status == 302) {
        char *end = NULL;
        errno = 0;
        long long s = strtoll(r.refresh_after, &end, 10);
        if (errno || end == r.refresh_after || *end || s < 1)
            s = 1;
        if (s > 60)
            s = 60;
        *refresh_after_ms = s * 1000;
        rc = 1;
    } else if (rc == 0 && r.status != 200) {
        rc = status_error(c, "GET", path, &r, err);
    } else if (rc == 0) {
        *body = take_body(&r, len);
    }
    sl_buf_free(&r.body);
    return rc;
}

int sl_harbor_client_wait_report(char **body, size_t *len, struct sl_harbor_client *c,
                                 const char *id, struct sl_err *err)
{
    int64_t start = sl_mono_ms();
    for (;;) {
        int64_t wait_ms = 0;
        int rc = sl_harbor_client_report(body, len, &wait_ms, c, id, err);
        if (rc != 1)
            return rc;
        int64_t left = c->opts.report_timeout_ms - (sl_mono_ms() - start);
        if (left <= 0)
            return sl_err_set(err, SL_ERETRY, SL_ERRC_SCANNER,
                              "scanner adapter %s: scan %s still running after %lld s", c->base, id,
                              (long long)(c->opts.report_timeout_ms / 1000));
        if (wait_ms > left)
            wait_ms = left;
        struct timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}
