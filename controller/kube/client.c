/* Kubernetes REST client over the HTTP transport (http/transport.h): connections, DNS answers
 * and TLS sessions shared by all threads. */
#include "kube/client.h"
#include "kube/internal.h"

#include "http/transport.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 10
#define REQUEST_TIMEOUT_S 60
/* a watch without a server-side timeout that receives nothing for this long is dead */
#define WATCH_IDLE_S   300
#define TOKEN_FILE_MAX ((size_t)1 << 20)
/* Accept, Content-Type, Authorization, Impersonate-User, Impersonate-Group... */
#define REQUEST_HEADERS_MAX (3 + 1 + SL_KUBE_IMPERSONATE_GROUPS_MAX)

struct sl_kube_client {
    struct sl_kube_config *cfg; /* cfg->token guarded by token_lock (re-read on 401) */
    char *user_agent;
    struct sl_transport *transport;
    pthread_mutex_t token_lock;
    /* a handle made by sl_kube_client_impersonate: base owns cfg, transport and the token (all
     * borrowed here); imp_headers are the Impersonate-* header lines of this handle only */
    struct sl_kube_client *base;
    char *imp_headers[1 + SL_KUBE_IMPERSONATE_GROUPS_MAX];
    size_t n_imp_headers;
};

/* The handle that owns the credentials (the client itself unless it impersonates). */
static struct sl_kube_client *owner_of(struct sl_kube_client *c)
{
    return c->base ? c->base : c;
}

int sl_kube_client_new(struct sl_kube_client **out, const struct sl_kube_config *cfg,
                       const char *user_agent, struct sl_err *err)
{
    if (!cfg || !cfg->server || !*cfg->server)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "kube client: no server configured");
    struct sl_kube_client *c = sl_xcalloc(1, sizeof(*c));
    c->cfg = sl_kube_config_dup(cfg);
    c->user_agent = user_agent ? sl_xstrdup(user_agent) : sl_xstrdup("sealift/" SL_VERSION);
    pthread_mutex_init(&c->token_lock, NULL);
    const struct sl_kube_config *kc = c->cfg;
    struct sl_transport_opts to = {
        .user_agent = c->user_agent,
        .connect_timeout_ms = CONNECT_TIMEOUT_S * 1000,
        .insecure = kc->insecure_skip_tls_verify,
        .ca_pem = kc->ca_pem,
        .ca_only = true,
        .client_cert_pem = kc->client_cert_pem && kc->client_key_pem ? kc->client_cert_pem : NULL,
        .client_key_pem = kc->client_cert_pem && kc->client_key_pem ? kc->client_key_pem : NULL,
        .accept_encoding = true,
        .keepalive_idle_s = 30,
        .keepalive_interval_s = 10,
        .share_connections = true,
    };
    c->transport = sl_transport_new(&to);
    if (!c->transport) {
        sl_kube_client_free(c);
        return sl_kube_fail(err, SL_EFAIL, SL_ERRC_HTTP, "cannot initialize libcurl");
    }
    *out = c;
    return 0;
}

/* A header value from an object's spec: printable ASCII only (no CR/LF that would start another
 * header), bounded. */
static bool header_value_ok(const char *v)
{
    size_t n = 0;
    for (; v && v[n]; n++) {
        if ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] > 0x7e || n >= 512)
            return false;
    }
    return v && n > 0;
}

int sl_kube_client_impersonate(struct sl_kube_client **out, struct sl_kube_client *base,
                               const char *user, const char *const *groups, size_t n_groups,
                               struct sl_err *err)
{
    if (!base || base->base)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                            "impersonation needs the controller's own client");
    if (!header_value_ok(user))
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                            "impersonation: invalid user name (1..512 printable characters)");
    if (n_groups > SL_KUBE_IMPERSONATE_GROUPS_MAX)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "impersonation: more than %d groups",
                            SL_KUBE_IMPERSONATE_GROUPS_MAX);
    for (size_t i = 0; i < n_groups; i++) {
        if (!header_value_ok(groups[i]))
            return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                                "impersonation: invalid group name (1..512 printable characters)");
    }
    struct sl_kube_client *c = sl_xcalloc(1, sizeof(*c));
    c->base = base;
    c->cfg = base->cfg;
    c->user_agent = base->user_agent;
    c->transport = base->transport;
    c->imp_headers[c->n_imp_headers++] = sl_xasprintf("Impersonate-User: %s", user);
    for (size_t i = 0; i < n_groups; i++)
        c->imp_headers[c->n_imp_headers++] = sl_xasprintf("Impersonate-Group: %s", groups[i]);
    *out = c;
    return 0;
}

void sl_kube_client_free(struct sl_kube_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_imp_headers; i++)
        free(c->imp_headers[i]);
    if (c->base) {
        free(c); /* everything else is the base's */
        return;
    }
    sl_transport_free(c->transport);
    pthread_mutex_destroy(&c->token_lock);
    sl_kube_config_free(c->cfg);
    free(c->user_agent);
    free(c);
}

const char *sl_kube_client_namespace(const struct sl_kube_client *c)
{
    return c->cfg->namespace;
}

/* ---- URLs ---- */

/* The same RFC 3986 unreserved-set escaping as every HTTP client of the transport. */
char *sl_kube_url_escape(const char *s)
{
    return sl_http_escape(s);
}

static void append_escaped(struct sl_buf *b, const char *s)
{
    char *e = sl_kube_url_escape(s);
    sl_buf_append_str(b, e);
    free(e);
}

char *sl_kube_build_path(const struct sl_kube_resource *res, const char *ns, const char *name,
                         const char *subresource, const char *const *query)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    if (res->group && res->group[0]) {
        sl_buf_append_str(&b, "/apis/");
        sl_buf_append_str(&b, res->group);
        sl_buf_append_str(&b, "/");
    } else {
        sl_buf_append_str(&b, "/api/");
    }
    sl_buf_append_str(&b, res->version);
    if (res->namespaced && ns && *ns) {
        sl_buf_append_str(&b, "/namespaces/");
        append_escaped(&b, ns);
    }
    sl_buf_append_str(&b, "/");
    sl_buf_append_str(&b, res->plural);
    if (name && *name) {
        sl_buf_append_str(&b, "/");
        append_escaped(&b, name);
    }
    if (subresource && *subresource) {
        sl_buf_append_str(&b, "/");
        sl_buf_append_str(&b, subresource);
    }
    char sep = '?';
    for (size_t i = 0; query && query[i]; i += 2) {
        if (!query[i + 1])
            continue;
        sl_buf_append(&b, &sep, 1);
        sep = '&';
        sl_buf_append_str(&b, query[i]);
        sl_buf_append_str(&b, "=");
        append_escaped(&b, query[i + 1]);
    }
    return sl_buf_steal(&b, NULL);
}

/* ---- errors ---- */

int sl_kube_error_from_response(long http_status, const char *body, struct sl_err *err)
{
    int code;
    json_t *status = NULL;
    const char *reason = NULL, *message = NULL;
    if (body && *body) {
        status = json_loads(body, 0, NULL);
        if (json_is_object(status)) {
            reason = json_string_value(json_object_get(status, "reason"));
            message = json_string_value(json_object_get(status, "message"));
        }
    }
    switch (http_status) {
    case 404:
        code = SL_ENOTFOUND;
        break;
    case 409:
        code = reason && strcmp(reason, "AlreadyExists") == 0 ? SL_EEXISTS : SL_ECONFLICT;
        break;
    case 410:
        code = SL_EGONE;
        break;
    case 400:
    case 415:
    case 422:
        code = SL_EINVAL;
        break;
    case 401:
    case 403:
        code = SL_EAUTH;
        break;
    case 429:
        code = SL_ERETRY;
        break;
    default:
        code = http_status >= 500 ? SL_ERETRY : SL_EFAIL;
        break;
    }

    struct sl_buf msg;
    sl_buf_init(&msg, SL_ERR_MSG_MAX * 2);
    if (message && *message) {
        sl_buf_append_str(&msg, message);
    } else if (reason && *reason) {
        char line[128];
        snprintf(line, sizeof(line), "%s (HTTP %ld)", reason, http_status);
        sl_buf_append_str(&msg, line);
    } else {
        char line[64];
        snprintf(line, sizeof(line), "HTTP %ld from the API server", http_status);
        sl_buf_append_str(&msg, line);
        if (body && *body && !json_is_object(status)) {
            /* a short, printable excerpt of a non-Status body (proxies answer with HTML) */
            char excerpt[121];
            size_t n = 0;
            for (const char *p = body; *p && n < sizeof(excerpt) - 1; p++)
                excerpt[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : ' ';
            excerpt[n] = '\0';
            sl_buf_append_str(&msg, ": ");
            sl_buf_append_str(&msg, excerpt);
        }
    }
    /* details.causes, when the message does not already say them */
    size_t i;
    json_t *cause;
    json_array_foreach(json_object_get(json_object_get(status, "details"), "causes"), i, cause)
    {
        const char *field = json_string_value(json_object_get(cause, "field"));
        const char *cmsg = json_string_value(json_object_get(cause, "message"));
        if (!cmsg || (message && strstr(message, cmsg)))
            continue;
        sl_buf_append_str(&msg, i == 0 ? ": " : "; ");
        if (field && *field) {
            sl_buf_append_str(&msg, field);
            sl_buf_append_str(&msg, ": ");
        }
        sl_buf_append_str(&msg, cmsg);
    }
    sl_kube_fail(err, code, SL_ERRC_KUBE, "%s", sl_buf_cstr(&msg));
    if (err)
        err->http_status = (int)http_status;
    sl_buf_free(&msg);
    json_decref(status);
    return code;
}

/* ---- requests ---- */

struct response {
    struct sl_buf body;
    bool too_big;
};

static size_t write_body(void *userdata, long status, const char *ptr, size_t n)
{
    (void)status;
    struct response *r = userdata;
    if (sl_buf_append(&r->body, ptr, n) != 0) {
        r->too_big = true;
        return 0;
    }
    return n;
}

/* The request headers of a call: Accept, Content-Type (may be NULL), the credentials and the
 * handle's Impersonate-* lines. hdrs needs REQUEST_HEADERS_MAX slots; returns how many are used.
 * *auth_out (the Authorization header, a secret) is freed by the caller with sl_secure_free_str. */
static size_t request_headers(struct sl_kube_client *c, const char *content_type, const char **hdrs,
                              char **ct_out, char **auth_out)
{
    size_t n = 0;
    hdrs[n++] = "Accept: application/json";
    if (content_type)
        hdrs[n++] = *ct_out = sl_xasprintf("Content-Type: %s", content_type);
    struct sl_kube_client *owner = owner_of(c);
    const struct sl_kube_config *cfg = owner->cfg;
    pthread_mutex_lock(&owner->token_lock);
    if (cfg->token && *cfg->token) {
        *auth_out = sl_xasprintf("Authorization: Bearer %s", cfg->token);
    } else if (cfg->username) {
        /* Basic credentials, sent with the first request */
        char *pair = sl_xasprintf("%s:%s", cfg->username, cfg->password ? cfg->password : "");
        char *b64 = sl_base64_encode(pair, strlen(pair));
        *auth_out = sl_xasprintf("Authorization: Basic %s", b64);
        sl_secure_free_str(b64);
        sl_secure_free_str(pair);
    }
    pthread_mutex_unlock(&owner->token_lock);
    if (*auth_out)
        hdrs[n++] = *auth_out;
    for (size_t i = 0; i < c->n_imp_headers; i++)
        hdrs[n++] = c->imp_headers[i];
    return n;
}

/* Re-reads the token file after a 401. Returns true when a different token was loaded. */
static bool reload_token(struct sl_kube_client *c)
{
    c = owner_of(c);
    if (!c->cfg->token_file)
        return false;
    char *tok = NULL;
    struct sl_err ignored = {0};
    if (sl_kube_read_file(&tok, NULL, c->cfg->token_file, TOKEN_FILE_MAX, &ignored) != 0)
        return false;
    size_t n = strlen(tok);
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = '\0';
    bool changed = false;
    pthread_mutex_lock(&c->token_lock);
    if (!c->cfg->token || strcmp(c->cfg->token, tok) != 0) {
        sl_secure_free_str(c->cfg->token);
        c->cfg->token = tok;
        tok = NULL;
        changed = true;
    }
    pthread_mutex_unlock(&c->token_lock);
    sl_secure_free_str(tok);
    return changed;
}

static int transport_error(const struct sl_http_result *res, const char *method, const char *path,
                           struct sl_err *err)
{
    /* connection refused, reset, timed out, TLS handshake: all worth retrying with backoff */
    sl_kube_fail(err, SL_ERETRY, SL_ERRC_HTTP, "%s %s: %s", method, path, res->error);
    if (err)
        err->http_status = 0;
    return SL_ERETRY;
}

/* Does res hold secrets (core/v1 Secrets)? Their API answers are wiped from memory after use. */
static bool holds_secrets(const struct sl_kube_resource *res)
{
    return res && res->group[0] == '\0' && strcmp(res->plural, "secrets") == 0;
}

/* Performs one request; on 2xx leaves the body in *body_out (caller frees; with wipe, the caller
 * wipes it too). wipe: the answer may hold secrets, so the receive buffer is wiped as it grows
 * and when freed. */
static int perform(struct sl_kube_client *c, const char *method, const char *path,
                   const char *content_type, const char *body, size_t max_bytes, bool wipe,
                   long *status_out, char **body_out, size_t *len_out, struct sl_err *err)
{
    int rc = 0;
    bool retried_auth = false;
again:;
    const char *hdrs[REQUEST_HEADERS_MAX];
    char *ct = NULL, *auth = NULL;
    size_t nh = request_headers(c, body ? content_type : NULL, hdrs, &ct, &auth);
    struct response resp = {0};
    sl_buf_init(&resp.body, max_bytes);
    resp.body.wipe = wipe;
    char *url = sl_xasprintf("%s%s", c->cfg->server, path);
    struct sl_http_exchange x = {
        .method = method,
        .url = url,
        .headers = hdrs,
        .n_headers = nh,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = (int64_t)REQUEST_TIMEOUT_S * 1000,
        .on_body = write_body,
        .ud = &resp,
    };
    struct sl_http_result res;
    sl_transport_perform(c->transport, &x, &res);
    free(url);
    long status = res.status;
    if (res.failure != SL_HTTP_OK) {
        if (resp.too_big)
            rc = sl_kube_fail(err, SL_ETOOBIG, SL_ERRC_HTTP,
                              "%s %s: response larger than %zu bytes", method, path, max_bytes);
        else
            rc = transport_error(&res, method, path, err);
        goto done;
    }
    if (status_out)
        *status_out = status;
    if (status == 401 && !retried_auth && reload_token(c)) {
        retried_auth = true;
        free(ct);
        sl_secure_free_str(auth);
        sl_buf_free(&resp.body);
        goto again;
    }
    if (status < 200 || status > 299) {
        rc = sl_kube_error_from_response(status, sl_buf_cstr(&resp.body), err);
        goto done;
    }
    *body_out = sl_buf_steal(&resp.body, len_out);
done:
    free(ct);
    sl_secure_free_str(auth);
    sl_buf_free(&resp.body);
    return rc;
}

/* A request whose 2xx answer must be a JSON object; *out may be NULL to discard it. */
static int request_json(json_t **out, struct sl_kube_client *c, const char *method,
                        const char *path, const char *content_type, const char *body,
                        size_t max_bytes, bool wipe, struct sl_err *err)
{
    char *resp = NULL;
    size_t len = 0;
    int rc = perform(c, method, path, content_type, body, max_bytes, wipe, NULL, &resp, &len, err);
    if (rc != 0)
        return rc;
    if (out) {
        json_error_t jerr;
        json_t *doc = json_loadb(resp, len, 0, &jerr);
        if (!json_is_object(doc)) {
            json_decref(doc);
            rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_JSON,
                              "%s %s: the API server answered with invalid JSON: %s", method, path,
                              jerr.text);
        } else {
            *out = doc;
        }
    }
    if (wipe)
        OPENSSL_cleanse(resp, len);
    free(resp);
    return rc;
}

/* The namespace a call acts in: the argument, else the object's, else the client's. */
static const char *effective_ns(struct sl_kube_client *c, const struct sl_kube_resource *res,
                                const char *ns, const json_t *obj)
{
    if (!res->namespaced)
        return NULL;
    if (ns && *ns)
        return ns;
    const char *obj_ns = obj ? sl_kube_obj_namespace(obj) : NULL;
    if (obj_ns && *obj_ns)
        return obj_ns;
    return c->cfg->namespace;
}

int sl_kube_get(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                const char *ns, const char *name, struct sl_err *err)
{
    if (!name || !*name)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "get %s: no name", res->plural);
    char *path = sl_kube_build_path(res, effective_ns(c, res, ns, NULL), name, NULL, NULL);
    int rc =
        request_json(out, c, "GET", path, NULL, NULL, SL_KUBE_BODY_MAX, holds_secrets(res), err);
    free(path);
    return rc;
}

int sl_kube_list(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                 const char *ns, const struct sl_kube_list_opts *opts, struct sl_err *err)
{
    char limit[32] = "";
    if (opts && opts->limit > 0)
        snprintf(limit, sizeof(limit), "%ld", opts->limit);
    const char *query[] = {
        "labelSelector",
        opts && opts->label_selector && *opts->label_selector ? opts->label_selector : NULL,
        "fieldSelector",
        opts && opts->field_selector && *opts->field_selector ? opts->field_selector : NULL,
        "limit",
        limit[0] ? limit : NULL,
        "continue",
        opts && opts->continue_token && *opts->continue_token ? opts->continue_token : NULL,
        NULL,
    };
    char *path = sl_kube_build_path(res, ns, NULL, NULL, query);
    int rc =
        request_json(out, c, "GET", path, NULL, NULL, SL_KUBE_LIST_MAX, holds_secrets(res), err);
    free(path);
    return rc;
}

static int write_object(json_t **out, struct sl_kube_client *c, const char *method,
                        const struct sl_kube_resource *res, const char *ns, json_t *obj,
                        bool with_name, const char *subresource, struct sl_err *err)
{
    const char *name = NULL;
    if (!json_is_object(obj))
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "%s %s: object must be a JSON object",
                            method, res->plural);
    if (with_name) {
        name = sl_kube_obj_name(obj);
        if (!name || !*name)
            return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "%s %s: object has no metadata.name",
                                method, res->plural);
    }
    char *body = json_dumps(obj, JSON_COMPACT);
    if (!body)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_JSON, "%s %s: cannot serialize object", method,
                            res->plural);
    char *path = sl_kube_build_path(res, effective_ns(c, res, ns, obj), name, subresource, NULL);
    bool wipe = holds_secrets(res);
    int rc =
        request_json(out, c, method, path, "application/json", body, SL_KUBE_BODY_MAX, wipe, err);
    free(path);
    if (wipe)
        OPENSSL_cleanse(body, strlen(body));
    free(body);
    return rc;
}

int sl_kube_create(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                   const char *ns, json_t *obj, struct sl_err *err)
{
    return write_object(out, c, "POST", res, ns, obj, false, NULL, err);
}

int sl_kube_update(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                   const char *ns, json_t *obj, struct sl_err *err)
{
    return write_object(out, c, "PUT", res, ns, obj, true, NULL, err);
}

int sl_kube_update_status(json_t **out, struct sl_kube_client *c,
                          const struct sl_kube_resource *res, const char *ns, json_t *obj,
                          struct sl_err *err)
{
    return write_object(out, c, "PUT", res, ns, obj, true, "status", err);
}

int sl_kube_patch(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                  const char *ns, const char *name, const char *body,
                  const struct sl_kube_patch_opts *opts, struct sl_err *err)
{
    enum sl_kube_patch_type type = opts ? opts->type : SL_PATCH_MERGE;
    const char *ct;
    switch (type) {
    case SL_PATCH_JSON:
        ct = "application/json-patch+json";
        break;
    case SL_PATCH_APPLY:
        ct = "application/apply-patch+yaml";
        break;
    case SL_PATCH_STRATEGIC:
        ct = "application/strategic-merge-patch+json";
        break;
    case SL_PATCH_MERGE:
    default:
        ct = "application/merge-patch+json";
        break;
    }
    if (!name || !*name)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "patch %s: no name", res->plural);
    if (!body)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "patch %s: no body", res->plural);
    if (type == SL_PATCH_APPLY && (!opts->field_manager || !*opts->field_manager))
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                            "patch %s: server-side apply needs a field manager", res->plural);
    const char *query[] = {
        "fieldManager",
        opts && opts->field_manager && *opts->field_manager ? opts->field_manager : NULL,
        "force",
        type == SL_PATCH_APPLY && opts->force ? "true" : NULL,
        NULL,
    };
    char *path = sl_kube_build_path(res, effective_ns(c, res, ns, NULL), name,
                                    opts && opts->status ? "status" : NULL, query);
    int rc =
        request_json(out, c, "PATCH", path, ct, body, SL_KUBE_BODY_MAX, holds_secrets(res), err);
    free(path);
    return rc;
}

int sl_kube_delete(struct sl_kube_client *c, const struct sl_kube_resource *res, const char *ns,
                   const char *name, struct sl_err *err)
{
    if (!name || !*name)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "delete %s: no name", res->plural);
    const char *query[] = {"propagationPolicy", "Background", NULL};
    char *path = sl_kube_build_path(res, effective_ns(c, res, ns, NULL), name, NULL, query);
    int rc = request_json(NULL, c, "DELETE", path, NULL, NULL, SL_KUBE_BODY_MAX, holds_secrets(res),
                          err);
    free(path);
    return rc;
}

int sl_kube_request(json_t **out, long *out_status, struct sl_kube_client *c, const char *method,
                    const char *path, const char *content_type, const char *body,
                    struct sl_err *err)
{
    if (!path || path[0] != '/')
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "request path must start with /");
    char *resp = NULL;
    size_t len = 0;
    long status = 0;
    bool wipe = strstr(path, "/secrets") != NULL;
    int rc =
        perform(c, method ? method : "GET", path, content_type ? content_type : "application/json",
                body, SL_KUBE_LIST_MAX, wipe, &status, &resp, &len, err);
    if (out_status)
        *out_status = status;
    if (rc != 0)
        return rc;
    if (out)
        *out = len ? json_loadb(resp, len, JSON_DECODE_ANY, NULL) : NULL;
    if (wipe)
        OPENSSL_cleanse(resp, len);
    free(resp);
    return 0;
}

/* ---- watch ---- */

struct watch_state {
    struct sl_kube_watch_splitter splitter;
    const struct sl_kube_watch_opts *opts;
    void *ctx;
    long status;            /* HTTP status once known */
    struct sl_buf err_body; /* body of a non-2xx answer */
    bool cancelled;
};

static size_t watch_write(void *userdata, long status, const char *ptr, size_t n)
{
    struct watch_state *w = userdata;
    if (w->status == 0)
        w->status = status;
    if (w->status < 200 || w->status > 299) {
        /* an error Status instead of a stream; keep what fits */
        sl_buf_append(&w->err_body, ptr, n);
        return n;
    }
    if (sl_kube_watch_splitter_feed(&w->splitter, ptr, n) != 0)
        return 0;
    return n;
}

static bool watch_cancelled(void *userdata)
{
    struct watch_state *w = userdata;
    if (w->opts && w->opts->cancelled && w->opts->cancelled(w->ctx)) {
        w->cancelled = true;
        return true;
    }
    return false;
}

int sl_kube_watch(struct sl_kube_client *c, const struct sl_kube_resource *res, const char *ns,
                  const struct sl_kube_watch_opts *opts, sl_kube_watch_fn fn, void *ctx,
                  struct sl_err *err)
{
    int rc = 0;
    char timeout[32] = "";
    if (opts && opts->timeout_seconds > 0)
        snprintf(timeout, sizeof(timeout), "%d", opts->timeout_seconds);
    const char *query[] = {
        "watch",
        "1",
        "resourceVersion",
        opts && opts->resource_version && *opts->resource_version ? opts->resource_version : NULL,
        "allowWatchBookmarks",
        opts && opts->allow_bookmarks ? "true" : NULL,
        "labelSelector",
        opts && opts->label_selector && *opts->label_selector ? opts->label_selector : NULL,
        "timeoutSeconds",
        timeout[0] ? timeout : NULL,
        NULL,
    };
    char *path = sl_kube_build_path(res, ns, NULL, NULL, query);
    const char *hdrs[REQUEST_HEADERS_MAX];
    char *ct = NULL, *auth = NULL;
    struct watch_state w = {.opts = opts, .ctx = ctx};
    sl_kube_watch_splitter_init(&w.splitter, fn, ctx, SL_KUBE_EVENT_MAX);
    w.splitter.line.wipe = holds_secrets(res);
    sl_buf_init(&w.err_body, 64 << 10);

    /* no total timeout: the server ends the stream (timeoutSeconds); a stream that stays
     * silent well past that is a dead connection */
    long idle =
        opts && opts->timeout_seconds > 0 ? (long)opts->timeout_seconds + 60 : (long)WATCH_IDLE_S;
    char *url = sl_xasprintf("%s%s", c->cfg->server, path);
    struct sl_http_exchange x = {
        .method = "GET",
        .url = url,
        .headers = hdrs,
        .n_headers = request_headers(c, NULL, hdrs, &ct, &auth),
        .low_speed_bytes = 1,
        .low_speed_s = idle,
        .on_body = watch_write,
        .cancelled = watch_cancelled,
        .ud = &w,
    };
    struct sl_http_result hres;
    sl_transport_perform(c->transport, &x, &hres);
    free(url);
    if (w.status == 0)
        w.status = hres.status;
    if (w.cancelled) {
        rc = sl_kube_fail(err, SL_ECANCELED, SL_ERRC_KUBE, "watch %s: canceled", res->plural);
        goto done;
    }
    if (w.splitter.result == 1) {
        rc = 0; /* stopped by the callback */
        goto done;
    }
    if (w.splitter.result != 0) {
        rc = w.splitter.result;
        if (err)
            *err = w.splitter.err;
        goto done;
    }
    if (hres.failure == SL_HTTP_TIMEOUT) {
        rc = sl_kube_fail(err, SL_ERETRY, SL_ERRC_HTTP,
                          "watch %s: no data from the API server for %ld s", res->plural, idle);
        goto done;
    }
    if (hres.failure != SL_HTTP_OK) {
        rc = transport_error(&hres, "watch", path, err);
        goto done;
    }
    if (w.status < 200 || w.status > 299) {
        rc = sl_kube_error_from_response(w.status, sl_buf_cstr(&w.err_body), err);
        goto done;
    }
    /* an event without its final newline before the stream ended */
    if (w.splitter.line.len > 0 && sl_kube_watch_splitter_feed(&w.splitter, "\n", 1) != 0 &&
        w.splitter.result != 1) {
        rc = w.splitter.result;
        if (err)
            *err = w.splitter.err;
        /* a cut-off event is a dropped connection, not a server bug */
        if (rc == SL_EINVAL)
            rc = sl_kube_fail(err, SL_ERETRY, SL_ERRC_KUBE, "watch %s: stream ended mid-event",
                              res->plural);
    }
done:
    free(ct);
    sl_secure_free_str(auth);
    sl_kube_watch_splitter_free(&w.splitter);
    sl_buf_free(&w.err_body);
    free(path);
    return rc;
}

/* ---- watch stream splitting ---- */

void sl_kube_watch_splitter_init(struct sl_kube_watch_splitter *s, sl_kube_watch_fn fn, void *ctx,
                                 size_t max_event_bytes)
{
    memset(s, 0, sizeof(*s));
    sl_buf_init(&s->line, max_event_bytes ? max_event_bytes : SL_KUBE_EVENT_MAX);
    s->fn = fn;
    s->ctx = ctx;
}

static bool event_type(enum sl_watch_event_type *out, const char *t)
{
    static const struct {
        const char *name;
        enum sl_watch_event_type type;
    } types[] = {
        {"ADDED", SL_WATCH_ADDED},     {"MODIFIED", SL_WATCH_MODIFIED},
        {"DELETED", SL_WATCH_DELETED}, {"BOOKMARK", SL_WATCH_BOOKMARK},
        {"ERROR", SL_WATCH_ERROR},
    };
    for (size_t i = 0; t && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(t, types[i].name) == 0) {
            *out = types[i].type;
            return true;
        }
    }
    return false;
}

/* Handles one complete line. */
static void splitter_event(struct sl_kube_watch_splitter *s, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    enum sl_watch_event_type t;
    if (!ev || !type || !json_is_object(obj)) {
        s->result = sl_kube_fail(&s->err, SL_EINVAL, SL_ERRC_KUBE,
                                 "malformed watch event from the API server: %s",
                                 ev ? "missing type or object" : jerr.text);
        json_decref(ev);
        return;
    }
    if (!event_type(&t, type)) {
        /* unknown event types are skipped, as client-go does not fail on them either */
        json_decref(ev);
        return;
    }
    s->events++;
    if (s->fn && s->fn(s->ctx, t, obj) != 0) {
        s->result = 1;
        json_decref(ev);
        return;
    }
    if (t == SL_WATCH_ERROR) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        if (code == 410)
            s->result =
                sl_kube_fail(&s->err, SL_EGONE, SL_ERRC_KUBE, "%s", msg ? msg : "watch expired");
        else
            s->result = sl_kube_fail(&s->err, SL_ERETRY, SL_ERRC_KUBE, "watch error: %s",
                                     msg ? msg : "unknown");
        s->err.http_status = (int)code;
    }
    json_decref(ev);
}

int sl_kube_watch_splitter_feed(struct sl_kube_watch_splitter *s, const char *data, size_t n)
{
    while (s->result == 0 && n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (sl_buf_append(&s->line, data, take) != 0) {
            s->result = sl_kube_fail(&s->err, SL_ETOOBIG, SL_ERRC_KUBE,
                                     "watch event larger than %zu bytes", s->line.max_bytes);
            break;
        }
        if (!nl)
            break;
        splitter_event(s, s->line.data ? s->line.data : "", s->line.len);
        sl_buf_reset(&s->line);
        data = nl + 1;
        n -= take + 1;
    }
    return s->result;
}

void sl_kube_watch_splitter_free(struct sl_kube_watch_splitter *s)
{
    sl_buf_free(&s->line);
}
