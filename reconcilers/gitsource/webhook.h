/* Git push webhooks: POST /hooks/gitsource/<namespace>/<name> triggers an immediate fetch of
 * that GitSource when the request proves it knows the shared secret of
 * spec.webhook.secretRef (key "token"): GitHub's X-Hub-Signature-256 ("sha256=" + hex
 * HMAC-SHA256 of the body) or GitLab's X-Gitlab-Token (the token itself). Anything else is 401;
 * bodies over 1 MiB are refused (413) by the HTTP server. */
#ifndef SL_GITOPS_WEBHOOK_H
#define SL_GITOPS_WEBHOOK_H

#include "http/server.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Is the request authentic for secret (NUL-terminated)? Checks X-Hub-Signature-256 (HMAC over
 * body) or X-Gitlab-Token, in constant time. Pure. */
bool sl_gitsource_webhook_authentic(const char *secret, const char *hub_signature_256,
                                    const char *gitlab_token, const char *body, size_t body_len);

/* How long a push hook waits for the API server before it is answered 503. */
#define SL_GITSOURCE_WEBHOOK_TIMEOUT_MS 10000

/* The push hook endpoint. Its handler does no API call on the HTTP event loop (which also
 * answers /healthz): it defers the request and two worker threads read the GitSource and its
 * Secret through rt->kube, check the signature and enqueue the GitSource with rt->enqueue. At
 * most 64 hooks wait for a worker (more are answered 503 "busy" at once); one without an answer
 * after SL_GITSOURCE_WEBHOOK_TIMEOUT_MS gets 503. */
struct sl_gitsource_webhook;

/* Starts the worker threads. rt is borrowed and must outlive the webhook. Returns 0 or the
 * pool's errors; free with sl_gitsource_webhook_free. */
int sl_gitsource_webhook_new(struct sl_gitsource_webhook **out, struct sl_runtime *rt,
                             struct sl_err *err);
/* Registers the route on srv (before it starts); w must outlive srv's running. */
void sl_gitsource_webhook_register(struct sl_gitsource_webhook *w, struct sl_http_server *srv);
/* Waits for running hooks and frees; call after the server stopped. NULL is a no-op. */
void sl_gitsource_webhook_free(struct sl_gitsource_webhook *w);

#endif
