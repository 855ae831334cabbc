/* The manager runs the reconcilers: it owns one informer per watched resource (primaries and the
 * secondary resources reconcilers map back to primaries; shared between reconcilers that watch
 * the same resource with the same selector), one work queue and `concurrency` worker threads per
 * reconciler, the Event recorder, optional leader election, and the sl_runtime services handed
 * to reconcile().
 *
 * Work flow: informer change -> key "ns/name" in the reconciler's queue -> a worker pops it,
 * reads the object from the cache, calls reconcile() with a fresh reconcile id, and applies the
 * result: DONE (+ requeue_after) / REQUEUE / WAITING -> add_after; STALLED -> no retry until the
 * object changes; TRANSIENT or an error -> per-key exponential backoff (5 ms .. 1000 s).
 * Updates of a primary that change only its status (same generation, labels, annotations,
 * finalizers and deletionTimestamp) are not queued, so a reconciler's own status write does not
 * trigger another pass.
 *
 * Workers start once their informers have synced and, with leader election, only while this
 * process holds the Lease; informers run (and readiness is reported) either way.
 *
 * Sharding (docs/sharding.md): primaries are listed and watched with the label selector
 * "sealift.dev/shard=<shard>", or "!sealift.dev/shard" without a shard, so every object has one
 * owner; the Lease is "sealift-controller-<shard>" (or "sealift-controller"). Secondary
 * resources are watched without a selector and cached as metadata only: reconcilers map them
 * to primaries by name and read the ones they use through the API. An object relabelled away
 * leaves the cache (its watch reports it deleted); before running the reconciler's deletion
 * path for a key that left the cache, the manager GETs the object, and when it still exists
 * under another shard label it lets go without a reconcile.
 *
 * Thread-safety: sl_manager_add before start from one thread; the rest may be called from any
 * thread. */
#ifndef SL_RUNTIME_MANAGER_H
#define SL_RUNTIME_MANAGER_H

#include "http/server.h"
#include "kube/ops.h"
#include "runtime/informer.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <stdbool.h>
#include <stdint.h>

#define SL_SHARD_LABEL                 "sealift.dev/shard"
#define SL_MANAGER_SHUTDOWN_TIMEOUT_MS 30000

struct sl_metrics;

struct sl_manager_opts {
    struct sl_kube_ops kube;          /* API access (copied; its ctx must outlive the manager) */
    struct sl_list_watcher lw;        /* list/watch for informers (copied, same rule) */
    const char *controller_namespace; /* for the Lease and sl_runtime; required */
    const char *watch_namespace;      /* NULL = all namespaces */
    const char *shard;                /* only primaries labelled sealift.dev/shard=<shard>; NULL:
                                         only primaries without that label */
    int concurrency;                  /* workers per reconciler; <= 0 = 2 */
    bool leader_elect;
    const char *leader_identity; /* NULL = hostname_random */
    int64_t lease_duration_ms;   /* 0 = leader.h defaults (tests shorten them) */
    int64_t renew_deadline_ms;
    int64_t retry_period_ms;
    int64_t shutdown_timeout_ms;  /* how long stop waits for running reconciles; 0 = 30 s */
    const char *webhook_addr;     /* --webhook-addr, kept for the admission webhook; or NULL */
    const char *webhook_cert_dir; /* --webhook-cert-dir; or NULL */
    struct sl_metrics *metrics;   /* borrowed, outlives the manager; NULL = none recorded */
};

struct sl_manager;

/* Creates a manager (strings copied). Returns 0 or SL_EINVAL. */
int sl_manager_new(struct sl_manager **out, const struct sl_manager_opts *opts, struct sl_err *err);
/* Adds a reconciler before start; the manager takes ownership (calls r->free and frees
 * nothing else of r: r itself belongs to r->free), also when this fails. Returns 0 or
 * SL_EINVAL (no kind/resource/reconcile, duplicate kind, or already started). */
int sl_manager_add(struct sl_manager *m, struct sl_reconciler *r, struct sl_err *err);

/* Starts informers, leader election (if enabled) and workers; returns without waiting for
 * caches. Returns 0 or SL_EFAIL. */
int sl_manager_start(struct sl_manager *m, struct sl_err *err);
/* True when every informer has synced (readiness). */
bool sl_manager_ready(struct sl_manager *m);
/* True while workers may run: always without leader election, else while holding the Lease. */
bool sl_manager_is_leader(struct sl_manager *m);
/* Graceful stop: queues stop handing out work, running reconciles get up to the shutdown
 * timeout to finish, informers stop, the Lease is released. Returns 0, or SL_ERETRY when some
 * reconcile was still running at the deadline (then the Lease is not released and the manager
 * must not be freed: exit the process). Safe to call twice. */
int sl_manager_stop(struct sl_manager *m);
/* Frees a stopped (or never started) manager. NULL is a no-op. */
void sl_manager_free(struct sl_manager *m);

/* Queues ns/name for the reconciler of kind; unknown kinds are ignored. */
void sl_manager_enqueue(struct sl_manager *m, const char *kind, const char *ns, const char *name);
/* The services given to reconcilers. Borrowed, valid for the manager's lifetime. */
struct sl_runtime *sl_manager_runtime(struct sl_manager *m);
/* The informer of kind's primary resource, else of a secondary resource of that kind (the
 * Secret informer keeps metadata only); borrowed, or NULL. */
struct sl_informer *sl_manager_informer(struct sl_manager *m, const char *kind);

/* The controller's HTTP server (metrics, health, webhooks). `sealift controller` creates it and
 * registers it here before starting it, so code that serves more routes (admission webhook,
 * git push hooks) can fetch it with sl_manager_http() and call sl_http_server_route() before
 * the server starts. The manager does not own it. */
void sl_manager_set_http(struct sl_manager *m, struct sl_http_server *srv);
struct sl_http_server *sl_manager_http(struct sl_manager *m);
/* --webhook-addr and --webhook-cert-dir as given (borrowed), or NULL. The admission webhook
 * (a later module, with its own TLS sl_http_server) reads them from here. */
const char *sl_manager_webhook_addr(const struct sl_manager *m);
const char *sl_manager_webhook_cert_dir(const struct sl_manager *m);

/* 16 lowercase hex characters of randomness plus NUL into out (>= 17 bytes). */
void sl_manager_reconcile_id(char *out, size_t n);

#endif
