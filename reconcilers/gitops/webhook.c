#include "gitops/webhook.h"
#include "kube/client.h"
#include "kube/secret.h"
#include "util/log.h"
#include "util/mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

static void handle(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct sl_runtime *rt = ctx;
    const char *rest = req->path + strlen(HOOK_PREFIX);
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/') || slash - rest > 63 ||
        strlen(slash + 1) > 253) {
        reply(resp, 404, "use POST /hooks/gitsource/<namespace>/<name>");
        return;
    }
    char ns[64], name[254];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - rest), rest);
    snprintf(name, sizeof(name), "%s", slash + 1);
    json_t *gs = NULL, *secret = NULL;
    char *token = NULL;
    struct sl_err err = {0};
    /* Unknown sources, sources without a webhook secret and bad signatures all answer 401
     * alike, so the endpoint does not reveal which GitSources exist. */
    if (rt->kube.get(rt->kube.ctx, &gs, &SL_RES_GITSOURCE, ns, name, &err) != 0)
        goto unauthorized;
    const char *secret_name = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(gs, "spec"), "webhook"), "secretRef"),
        "name"));
    if (!secret_name ||
        rt->kube.get(rt->kube.ctx, &secret, &SL_RES_SECRET, ns, secret_name, &err) != 0)
        goto unauthorized;
    token = secret_token(secret);
    if (!sl_gitsource_webhook_authentic(token, sl_http_request_header(req, "X-Hub-Signature-256"),
                                        sl_http_request_header(req, "X-Gitlab-Token"), req->body,
                                        req->body_len))
        goto unauthorized;
    if (rt->enqueue)
        rt->enqueue(rt->enqueue_ctx, "GitSource", ns, name);
    struct sl_log_ctx lc = {.kind = "GitSource", .ns = ns, .name = name};
    sl_log_info(&lc, "push webhook: fetch requested");
    reply(resp, 202, "fetch requested");
    goto done;
unauthorized:
    reply(resp, 401, "unauthorized");
done:
    sl_secure_free_str(token);
    json_decref(gs);
    json_decref(secret);
}

void sl_gitsource_webhook_register(struct sl_http_server *srv, struct sl_runtime *rt)
{
    sl_http_server_route(srv, "POST", HOOK_PREFIX "*", handle, rt);
}
