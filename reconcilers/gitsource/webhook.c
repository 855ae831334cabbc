#include "gitsource/webhook.h"
#include "http/workpool.h"
#include "kube/client.h"
#include "kube/secret.h"
#include "util/log.h"
#include "util/mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_PREFIX "/hooks/gitsource/"

bool sl_gitsource_webhook_authentic(const char *secret, const char *hub_signature_256,
                                    const char *gitlab_token, const char *body, size_t body_len)
{
    if (!secret || !*secret)
        return false;
    size_t slen = strlen(secret);
    if (hub_signature_256 && strncmp(hub_signature_256, "sha256=", 7) == 0 &&
        strlen(hub_signature_256) == 7 + 64) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        if (!HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)body, body_len, mac,
                  &mac_len))
            return false;
        char hex[65];
        for (unsigned i = 0; i < mac_len && i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", mac[i]);
        /* GitHub sends lowercase hex; compare in constant time */
        char given[65];
        for (int i = 0; i < 64; i++) {
            char c = hub_signature_256[7 + i];
            given[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
        }
        given[64] = '\0';
        return CRYPTO_memcmp(hex, given, 64) == 0;
    }
    if (gitlab_token && strlen(gitlab_token) == slen)
        return CRYPTO_memcmp(gitlab_token, secret, slen) == 0;
    return false;
}

/* data.token of the webhook Secret, or NULL when absent, empty or not base64. */
static char *secret_token(const json_t *secret)
{
    char *token = sl_kube_secret_string(secret, "token");
    if (token && !*token) {
        free(token);
        return NULL;
    }
    return token;
}

static void reply(struct sl_http_response *resp, int status, const char *msg)
{
    resp->status = status;
    resp->content_type = "application/json";
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"message\":\"%s\"}\n", msg);
    sl_buf_append_str(&resp->body, buf);
}

struct sl_gitsource_webhook {
    struct sl_runtime *rt; /* borrowed */
    struct sl_workpool *pool;
    uint64_t serial; /* loop thread only: makes every hook its own job */
};

/* One push hook: what the worker needs, copied out of the request, and its answer. */
struct hook_job {
    char ns[64], name[254];
    char *hub_signature_256, *gitlab_token; /* copies, or NULL */
    char *body;
    size_t body_len;
    int status;
    const char *message; /* a literal */
};

static void hook_job_free(void *ctx, void *job)
{
    (void)ctx;
    struct hook_job *j = job;
    if (!j)
        return;
    sl_secure_free_str(j->gitlab_token);
    free(j->hub_signature_256);
    free(j->body);
    free(j);
}

/* The API calls and the signature check; runs on a worker thread (or inline, off any event
 * loop, when the request is not from a running server). */
static void hook_run(void *ctx, void *job)
{
    struct sl_gitsource_webhook *w = ctx;
    struct sl_runtime *rt = w->rt;
    struct hook_job *j = job;
    json_t *gs = NULL, *secret = NULL;
    char *token = NULL;
    struct sl_err err = {0};
    /* Unknown sources, sources without a webhook secret and bad signatures all answer 401
     * alike, so the endpoint does not reveal which GitSources exist. */
    j->status = 401;
    j->message = "unauthorized";
    if (rt->kube.get(rt->kube.ctx, &gs, &SL_RES_GITSOURCE, j->ns, j->name, &err) != 0)
        goto done;
    const char *secret_name = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(gs, "spec"), "webhook"), "secretRef"),
        "name"));
    if (!secret_name ||
        rt->kube.get(rt->kube.ctx, &secret, &SL_RES_SECRET, j->ns, secret_name, &err) != 0)
        goto done;
    token = secret_token(secret);
    if (!sl_gitsource_webhook_authentic(token, j->hub_signature_256, j->gitlab_token, j->body,
                                        j->body_len))
        goto done;
    if (rt->enqueue)
        rt->enqueue(rt->enqueue_ctx, "GitSource", j->ns, j->name);
    struct sl_log_ctx lc = {.kind = "GitSource", .ns = j->ns, .name = j->name};
    sl_log_info(&lc, "push webhook: fetch requested");
    j->status = 202;
    j->message = "fetch requested";
done:
    sl_secure_free_str(token);
    json_decref(gs);
    json_decref(secret);
}

static void hook_done(void *ctx, void *job, void *waiter, bool canceled)
{
    (void)ctx;
    struct hook_job *j = job;
    struct sl_http_response resp = {0};
    sl_buf_init(&resp.body, 0);
    if (canceled)
        reply(&resp, 503, "shutting down");
    else
        reply(&resp, j->status, j->message);
    sl_http_deferred_finish(waiter, &resp);
    sl_buf_free(&resp.body);
}

static char *dup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

/* Runs on the HTTP event loop, which also answers /healthz: no API call here. The request is
 * deferred and the worker pool reads the GitSource and its Secret. */
static void handle(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct sl_gitsource_webhook *w = ctx;
    const char *rest = req->path + strlen(HOOK_PREFIX);
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/') || slash - rest > 63 ||
        strlen(slash + 1) > 253) {
        reply(resp, 404, "use POST /hooks/gitsource/<namespace>/<name>");
        return;
    }
    struct hook_job *j = sl_xcalloc(1, sizeof(*j));
    snprintf(j->ns, sizeof(j->ns), "%.*s", (int)(slash - rest), rest);
    snprintf(j->name, sizeof(j->name), "%s", slash + 1);
    j->hub_signature_256 = dup_or_null(sl_http_request_header(req, "X-Hub-Signature-256"));
    j->gitlab_token = dup_or_null(sl_http_request_header(req, "X-Gitlab-Token"));
    j->body = sl_xmalloc(req->body_len + 1);
    memcpy(j->body, req->body, req->body_len);
    j->body[req->body_len] = '\0';
    j->body_len = req->body_len;

    struct sl_http_response fallback = {0};
    sl_buf_init(&fallback.body, 0);
    reply(&fallback, 503, "timed out reading the GitSource");
    struct sl_http_deferred *d =
        sl_http_request_defer(req, SL_GITSOURCE_WEBHOOK_TIMEOUT_MS, &fallback);
    sl_buf_free(&fallback.body);
    if (!d) {
        /* not from a running server (a direct call): no event loop to keep free */
        hook_run(w, j);
        reply(resp, j->status, j->message);
        hook_job_free(w, j);
        return;
    }
    char key[48];
    snprintf(key, sizeof(key), "hook-%llu", (unsigned long long)++w->serial);
    struct sl_err err = {0};
    if (sl_workpool_submit(w->pool, key, j, d, NULL, &err) != 0) {
        hook_job_free(w, j);
        struct sl_http_response busy = {0};
        sl_buf_init(&busy.body, 0);
        reply(&busy, 503, "busy");
        sl_http_deferred_finish(d, &busy);
        sl_buf_free(&busy.body);
    }
}

int sl_gitsource_webhook_new(struct sl_gitsource_webhook **out, struct sl_runtime *rt,
                             struct sl_err *err)
{
    struct sl_gitsource_webhook *w = sl_xcalloc(1, sizeof(*w));
    w->rt = rt;
    struct sl_workpool_ops ops = {
        .ctx = w, .run = hook_run, .done = hook_done, .job_free = hook_job_free};
    struct sl_workpool_opts po = {.threads = 2, .queue_max = 64};
    int rc = sl_workpool_new(&w->pool, &ops, &po, err);
    if (rc != 0) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void sl_gitsource_webhook_register(struct sl_gitsource_webhook *w, struct sl_http_server *srv)
{
    sl_http_server_route(srv, "POST", HOOK_PREFIX "*", handle, w);
}

void sl_gitsource_webhook_free(struct sl_gitsource_webhook *w)
{
    if (!w)
        return;
    sl_workpool_free(w->pool);
    free(w);
}
