/* Git push webhooks: POST /hooks/gitsource/<namespace>/<name> triggers an immediate fetch of
 * that GitSource when the request proves it knows the shared secret of
 * spec.webhook.secretRef (key "token"): GitHub's X-Hub-Signature-256 ("sha256=" + hex
 * HMAC-SHA256 of the body) or GitLab's X-Gitlab-Token (the token itself). Anything else is 401;
 * bodies over 1 MiB are refused (413) by the HTTP server. */
#ifndef SL_GITOPS_WEBHOOK_H
#define SL_GITOPS_WEBHOOK_H

#include "http/server.h"
#include "runtime/reconciler.h"

#include <stdbool.h>
#include <stddef.h>

/* Is the request authentic for secret (NUL-terminated)? Checks X-Hub-Signature-256 (HMAC over
 * body) or X-Gitlab-Token, in constant time. Pure. */
bool sl_gitsource_webhook_authentic(const char *secret, const char *hub_signature_256,
                                    const char *gitlab_token, const char *body, size_t body_len);

/* Registers the route on srv (before it starts). rt must outlive srv: the handler reads the
 * GitSource and its Secret through rt->kube and enqueues the GitSource with rt->enqueue. */
void sl_gitsource_webhook_register(struct sl_http_server *srv, struct sl_runtime *rt);

#endif
