#include "oci/cloudlogin.h"

#include "util/mem.h"

#include <errno.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CA_BUNDLE_MAX ((size_t)1 << 20)

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

void sl_cloudlogin_quote(char *out, size_t cap, const char *s, size_t n, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < max && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            continue;
        out[o++] = c >= 0x80 ? '?' : (char)c;
    }
    out[o] = '\0';
}

static int is_token_char(int c)
{
    return is_alnum(c) || (c != 0 && strchr("-_.~+/=", c));
}

void sl_cloudlogin_quote_redacted(char *out, size_t cap, const char *s, size_t n, size_t max)
{
    char *clean = sl_xmalloc(n + 1);
    sl_cloudlogin_quote(clean, n + 1, s, n, n);
    size_t o = 0, i = 0;
    while (clean[i] && o < max && o + 1 < cap) {
        size_t run = 0;
        while (clean[i + run] && is_token_char((unsigned char)clean[i + run]))
            run++;
        const char *part = clean + i;
        size_t part_len = run ? run : 1;
        i += part_len;
        if (run >= SL_CLOUDLOGIN_REDACT_RUN_MIN) {
            part = "[redacted]";
            part_len = strlen(part);
        }
        for (size_t k = 0; k < part_len && o < max && o + 1 < cap; k++)
            out[o++] = part[k];
    }
    out[o] = '\0';
    sl_secure_free(clean, n + 1);
}

/* ---- endpoints and configuration ---- */

void sl_cloudlogin_endpoint_clear(struct sl_cloudlogin_endpoint *e)
{
    if (!e)
        return;
    free(e->url);
    free(e->host);
    memset(e, 0, sizeof(*e));
}

static int is_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "localhost") == 0;
}

int sl_cloudlogin_endpoint_parse(struct sl_cloudlogin_endpoint *out, const char *url,
                                 const char *what, struct sl_err *err)
{
    const char *rest;
    int https;
    if (strncmp(url, "https://", 8) == 0) {
        https = 1;
        rest = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        https = 0;
        rest = url + 7;
    } else {
        goto bad;
    }
    size_t alen = strcspn(rest, "/");
    if (rest[alen] && strcmp(rest + alen, "/") != 0)
        goto bad; /* a path, a query */
    if (alen == 0 || alen > 255)
        goto bad;
    char host[256];
    size_t hlen;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', alen);
        if (!close)
            goto bad;
        hlen = (size_t)(close - rest) + 1;
        for (size_t i = 1; i + 1 < hlen; i++)
            if (!is_digit((unsigned char)rest[i]) && !strchr("abcdefABCDEF:.", rest[i]))
                goto bad;
        if (hlen < 3)
            goto bad;
    } else {
        hlen = strcspn(rest, ":/");
        if (hlen == 0 || hlen > alen)
            goto bad;
        for (size_t i = 0; i < hlen; i++)
            if (!is_alnum((unsigned char)rest[i]) && rest[i] != '-' && rest[i] != '.')
                goto bad;
    }
    for (size_t i = 0; i < hlen; i++) {
        char c = rest[i];
        host[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    host[hlen] = '\0';
    long port = https ? 443 : 80;
    if (hlen < alen) {
        if (rest[hlen] != ':' || alen - hlen < 2 || alen - hlen > 6 ||
            !all_digits(rest + hlen + 1, alen - hlen - 1))
            goto bad;
        port = strtol(rest + hlen + 1, NULL, 10);
        if (port < 1 || port > 65535)
            goto bad;
    }
    if (!https && !is_loopback(host))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "%s: http:// only for a loopback host (127.0.0.1, ::1, localhost); "
                          "use https://",
                          what);
    char hostport[300];
    if (port == (https ? 443 : 80))
        snprintf(hostport, sizeof(hostport), "%s", host);
    else
        snprintf(hostport, sizeof(hostport), "%s:%ld", host, port);
    out->host = sl_xstrdup(hostport);
    out->url = sl_xasprintf("%s://%s/", https ? "https" : "http", hostport);
    return 0;
bad:
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "%s: %.100s is not an https://HOST[:PORT] URL (no path, no user)", what, url);
}

int sl_cloudlogin_read_ca_bundle(char **out, const char *path, const char *variable,
                                 struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EINVAL, SL_ERRC_OS,
                          "%s: cannot read %.200s: %s", variable, path, strerror(errno));
    struct sl_buf b;
    sl_buf_init(&b, CA_BUNDLE_MAX);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(&b, chunk, n) != 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: %.200s is larger than %zu bytes",
                            variable, path, CA_BUNDLE_MAX);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_OS, "%s: cannot read %.200s", variable, path);
    fclose(f);
    if (rc == 0 &&
        (!b.data || !strstr(b.data, "-----BEGIN CERTIFICATE-----") || strlen(b.data) != b.len))
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: %.200s holds no PEM certificate",
                        variable, path);
    if (rc == 0)
        *out = sl_buf_steal(&b, NULL);
    sl_buf_free(&b);
    return rc;
}

const char *sl_cloudlogin_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int sl_cloudlogin_jwt_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && !strchr("-_.=", s[i]))
            return 0;
    return 1;
}

/* ---- answers ---- */

void sl_cloudlogin_json_wipe(json_t *v)
{
    if (json_is_string(v)) {
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
        {
            if (json_is_string(m))
                OPENSSL_cleanse((char *)json_string_value(m), json_string_length(m));
        }
    }
}

void sl_cloudlogin_json_free(json_t *v)
{
    sl_cloudlogin_json_wipe(v);
    json_decref(v);
}

int sl_cloudlogin_json_token_valid(json_t *v, size_t max)
{
    if (!json_is_string(v))
        return 0;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

json_t *sl_cloudlogin_json_token_get(json_t *root, const char *name, size_t max, struct sl_err *err)
{
    json_t *v = json_object_get(root, name);
    if (!v) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no %s", name);
        return NULL;
    }
    if (!sl_cloudlogin_json_token_valid(v, max)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "answer's %s is not a string of 1-%zu printable characters", name, max);
        return NULL;
    }
    return v;
}

void sl_cloudlogin_name_service(struct sl_err *err, const char *service)
{
    if (!err)
        return;
    char old[SL_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s %s", service, old);
}

json_t *sl_cloudlogin_json_load_object(const char *json, size_t len, struct sl_err *err)
{
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (json_is_object(root))
        return root;
    json_decref(root); /* without JSON_DECODE_ANY, a document that loads is an object or array */
    sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "answer is not a JSON object");
    return NULL;
}

int sl_cloudlogin_error_document(json_t *code, json_t *message, int (*code_of)(const char *code),
                                 const char *missing, struct sl_err *err)
{
    char c[65] = "", msg[SL_CLOUDLOGIN_QUOTE_MAX + 1] = "";
    if (json_is_string(code))
        sl_cloudlogin_quote(c, sizeof(c), json_string_value(code), json_string_length(code), 64);
    if (!c[0])
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s", missing);
    if (json_is_string(message))
        sl_cloudlogin_quote_redacted(msg, sizeof(msg), json_string_value(message),
                                     json_string_length(message), SL_CLOUDLOGIN_QUOTE_MAX);
    return sl_err_set(err, code_of(c), SL_ERRC_REGISTRY, "%s: %s", c,
                      msg[0] ? msg : "(no message)");
}

int sl_cloudlogin_oauth_error(json_t *root, int (*code_of)(const char *error), struct sl_err *err)
{
    return sl_cloudlogin_error_document(json_object_get(root, "error"),
                                        json_object_get(root, "error_description"), code_of,
                                        "error document without an error code", err);
}

/* expires_in under rules. Returns 0 with *out, or -1. */
static int expires_in_value(int64_t *out, json_t *v, const struct sl_cloudlogin_oauth_rules *rules)
{
    int64_t max = rules->expires_in_max;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 1 || i > max)
            return -1;
        *out = (int64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 1 || d > (double)max)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v) && rules->expires_in_digits) {
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (n == 0 || n > 10 || !all_digits(s, n))
            return -1;
        int64_t x = 0;
        for (size_t i = 0; i < n; i++)
            x = x * 10 + (s[i] - '0');
        if (x < 1 || x > max)
            return -1;
        *out = x;
        return 0;
    }
    return -1;
}

int sl_cloudlogin_oauth_token_parse(char **out_token, int64_t *expires_unix, const char *json,
                                    size_t len, int64_t now_unix,
                                    const struct sl_cloudlogin_oauth_rules *rules,
                                    struct sl_err *err)
{
    int rc = SL_EINVAL;
    json_t *root = sl_cloudlogin_json_load_object(json, len, err);
    if (!root)
        goto done;
    if (json_object_get(root, "error")) {
        rc = sl_cloudlogin_oauth_error(root, rules->error_code, err);
        goto done;
    }
    json_t *token = sl_cloudlogin_json_token_get(root, "access_token", rules->token_max, err);
    json_t *type = json_object_get(root, "token_type");
    json_t *issued = json_object_get(root, "issued_token_type");
    json_t *exp = json_object_get(root, "expires_in");
    int64_t expires_in = 0;
    if (!token)
        goto done;
    if (type && (!json_is_string(type) || strcasecmp(json_string_value(type), "Bearer") != 0)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer's token_type is not Bearer");
        goto done;
    }
    if (rules->issued_token_type && issued &&
        (!json_is_string(issued) ||
         strcmp(json_string_value(issued), rules->issued_token_type) != 0)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer's issued_token_type is not %s",
                   rules->issued_token_type);
        goto done;
    }
    if (!exp) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no expires_in");
        goto done;
    }
    if (expires_in_value(&expires_in, exp, rules) != 0 || now_unix > INT64_MAX - expires_in) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "answer's expires_in is not a number of seconds (1-%lld)",
                   (long long)rules->expires_in_max);
        goto done;
    }
    *out_token = sl_xstrndup(json_string_value(token), json_string_length(token));
    *expires_unix = now_unix + expires_in;
    rc = 0;
done:
    sl_cloudlogin_json_free(root);
    return rc;
}

/* ---- one exchange ---- */

static size_t answer_body(void *ud, long status, const char *p, size_t n)
{
    (void)status;
    struct sl_cloudlogin_answer *a = ud;
    if (sl_buf_append(&a->body, p, n) != 0) {
        a->too_big = 1;
        return 0;
    }
    return n;
}

void sl_cloudlogin_answer_clear(struct sl_cloudlogin_answer *a)
{
    if (a)
        sl_buf_secure_free(&a->body);
}

int sl_cloudlogin_post(struct sl_cloudlogin_answer *a, long *status, struct sl_transport *t,
                       const char *where, const char *url, const char *const *headers,
                       size_t n_headers, const char *body, int64_t timeout_ms, size_t max,
                       struct sl_err *err)
{
    sl_buf_init(&a->body, max);
    a->body.wipe = 1; /* answers hold credentials */
    a->too_big = 0;
    struct sl_http_exchange x = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .n_headers = n_headers,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = timeout_ms,
        .on_body = answer_body,
        .ud = a,
    };
    struct sl_http_result res;
    memset(&res, 0, sizeof(res));
    enum sl_http_failure f = sl_transport_perform(t, &x, &res);
    if (a->too_big)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_HTTP, "%s: answer larger than %zu bytes", where,
                          max);
    if (f != SL_HTTP_OK) {
        res.error[sizeof(res.error) - 1] = '\0';
        return sl_err_set(err, SL_ERETRY, SL_ERRC_HTTP, "%s: %s", where,
                          res.error[0] ? res.error : "no answer");
    }
    *status = res.status;
    return 0;
}

int sl_cloudlogin_outcome(struct sl_err *err, const char *where, long status, int prc,
                          const struct sl_err *perr, int doc_on_401)
{
    int rc;
    int doc = prc != 0 && perr->klass == SL_ERRC_REGISTRY;
    if (status >= 200 && status < 300) {
        if (prc == 0)
            return 0;
        rc = prc;
        if (err)
            *err = *perr;
    } else if ((status == 400 || status == 403) && doc) {
        rc = prc;
        if (err)
            *err = *perr;
    } else if (status == 401 && doc && doc_on_401) {
        rc = SL_EAUTH; /* whatever the document's code: the service refused */
        if (err)
            *err = *perr;
    } else {
        rc = status == 429 || status >= 500   ? SL_ERETRY
             : status == 401 || status == 403 ? SL_EAUTH
                                              : SL_EINVAL;
        sl_err_set(err, rc, SL_ERRC_HTTP, "HTTP %ld%s%s", status, doc ? ": " : "",
                   doc ? perr->msg : "");
    }
    sl_err_prefix(err, "%s", where);
    if (err) {
        err->code = rc;
        err->http_status = (int)status;
    }
    return rc;
}

int sl_cloudlogin_exchange(struct sl_transport *t, const char *where, const char *url,
                           const char *const *headers, size_t n_headers, const char *body,
                           int64_t timeout_ms, size_t max, sl_cloudlogin_parse_fn parse, void *ctx,
                           struct sl_err *err)
{
    struct sl_cloudlogin_answer a;
    long status = 0;
    int rc = sl_cloudlogin_post(&a, &status, t, where, url, headers, n_headers, body, timeout_ms,
                                max, err);
    if (rc == 0) {
        struct sl_err perr = {0};
        int prc = parse(ctx, sl_buf_cstr(&a.body), a.body.len, &perr);
        rc = sl_cloudlogin_outcome(err, where, status, prc, &perr, 1);
    }
    sl_cloudlogin_answer_clear(&a);
    return rc;
}

void sl_cloudlogin_token_answer_reset(struct sl_cloudlogin_token_answer *ta)
{
    sl_secure_free_str(ta->token);
    ta->token = NULL;
}

int sl_cloudlogin_oauth_answer_parse(void *ctx, const char *json, size_t len, struct sl_err *err)
{
    struct sl_cloudlogin_token_answer *ta = ctx;
    sl_cloudlogin_token_answer_reset(ta);
    return sl_cloudlogin_oauth_token_parse(&ta->token, &ta->expires_unix, json, len, ta->now_unix,
                                           ta->rules, err);
}

int sl_cloudlogin_env_endpoint(char **out, const char *variable, struct sl_err *err)
{
    const char *v = sl_cloudlogin_env(variable);
    if (!v)
        return 0;
    struct sl_cloudlogin_endpoint e = {0};
    int rc = sl_cloudlogin_endpoint_parse(&e, v, variable, err);
    sl_cloudlogin_endpoint_clear(&e);
    if (rc == 0)
        *out = sl_xstrdup(v);
    return rc;
}

int sl_cloudlogin_env_ca_bundle(char **out, const char *variable, struct sl_err *err)
{
    const char *path = sl_cloudlogin_env(variable);
    return path ? sl_cloudlogin_read_ca_bundle(out, path, variable, err) : 0;
}

int sl_cloudlogin_oauth_code(const char *code, const char *const *auth, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, auth[i]) == 0)
            return SL_EAUTH;
    return strcmp(code, "temporarily_unavailable") == 0 ? SL_ERETRY : SL_EINVAL;
}
