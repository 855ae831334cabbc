/* sealift's validating admission webhook: enforces the DeployPolicy rules that need crypto or
 * registry state — requireSignature (every image carries a valid cosign signature by one of the
 * policy's SigningKeys) and requireScanPassed (an ImageDelivery records a Passed scan for the
 * image's digest). Each policy has its own endpoint, POST /admission/<policy> (see
 * policy/reconciler.h), served over TLS; a request the webhook cannot decide is denied (the
 * ValidatingWebhookConfiguration is fail-closed too).
 *
 * Images must be pinned by digest or resolvable to one (a tag is resolved with a manifest HEAD).
 * Registry credentials come only from the imagePullSecrets of the admitted object, in its own
 * namespace. Decisions are cached per policy generation and image digest (bounded LRU, TTL), so
 * a warm request costs no API or registry call. Handlers run on the webhook server's event-loop
 * thread; cache misses block it while they talk to registries. */
#ifndef SL_POLICY_WEBHOOK_H
#define SL_POLICY_WEBHOOK_H

#include "http/server.h"
#include "runtime/reconciler.h"

#include <stddef.h>
#include <stdint.h>

/* Read access to sealift objects (informer caches in the controller, anything in tests). */
struct sl_admission_lookup {
    void *ctx;
    /* A new reference to kind ns/name (ns "" for DeployPolicy), or NULL. */
    json_t *(*get)(void *ctx, const char *kind, const char *ns, const char *name);
    /* A new reference to an array of every object of kind. */
    json_t *(*list)(void *ctx, const char *kind);
};

struct sl_admission_webhook_opts {
    const char *const *insecure_registries; /* hosts reached over plain http (labs, tests) */
    size_t n_insecure;
    int64_t cache_ttl_ms; /* 0 = 5 minutes */
    size_t cache_max;     /* 0 = 4096 decisions */
};

struct sl_admission_webhook;

/* rt (API access for Secrets) and lookup are borrowed and must outlive the webhook. */
int sl_admission_webhook_new(struct sl_admission_webhook **out, struct sl_runtime *rt,
                             const struct sl_admission_lookup *lookup,
                             const struct sl_admission_webhook_opts *opts, struct sl_err *err);
/* Registers POST /admission/<policy> on srv (before it starts). */
void sl_admission_webhook_register(struct sl_admission_webhook *w, struct sl_http_server *srv);
void sl_admission_webhook_free(struct sl_admission_webhook *w);

#endif
