/* The reconciler contract between the manager (informers, work queues, workers) and the
 * per-kind reconcilers in reconcilers/.
 *
 * A reconciler is an ordered list of steps; each returns a result (done / requeue / error kind)
 * and conditions are written from that result in one place (runtime/conditions.h,
 * runtime/status.h). The manager calls reconcile() for one namespace/name at a time per key
 * (never concurrently for the same key), from a worker thread. */
#ifndef SL_RUNTIME_RECONCILER_H
#define SL_RUNTIME_RECONCILER_H

#include "kube/client.h"
#include "kube/ops.h"
#include "util/err.h"
#include "util/log.h"

#include <jansson.h>
#include <stdint.h>

enum sl_result_kind {
    SL_RESULT_DONE = 0,  /* converged; requeue_after_ms > 0 schedules the next interval check */
    SL_RESULT_REQUEUE,   /* more work; requeue after requeue_after_ms (0 = immediately) */
    SL_RESULT_STALLED,   /* the spec must change; no retry until the object changes */
    SL_RESULT_WAITING,   /* a dependency is not ready; look again after requeue_after_ms */
    SL_RESULT_TRANSIENT, /* retry with the queue's per-item exponential backoff */
};

struct sl_reconcile_result {
    enum sl_result_kind kind;
    int64_t requeue_after_ms;
};

/* Services shared by all reconcilers; owned by the manager, valid for its lifetime. */
struct sl_metrics;

struct sl_runtime {
    struct sl_kube_ops kube;          /* API access */
    const char *controller_namespace; /* namespace the controller runs in */
    /* Records a Kubernetes Event on obj (type "Normal"/"Warning"); best effort, never fails
     * the reconcile. May be called with ctx from any worker. */
    void (*record_event)(void *ctx, const json_t *obj, const char *type, const char *reason,
                         const char *message);
    void *event_ctx;
    /* Enqueue another object of a kind for reconciliation (e.g. from a webhook). May be NULL. */
    void (*enqueue)(void *ctx, const char *kind, const char *ns, const char *name);
    void *enqueue_ctx;
    struct sl_metrics
        *metrics; /* the process's metrics registry (runtime/metrics.h); may be NULL */
};

struct sl_reconcile_request {
    const char *ns; /* "" for cluster-scoped kinds */
    const char *name;
    const char *reconcile_id; /* unique per call, for logs */
    /* The object as the informer cache has it right now (borrowed), or NULL when it no longer
     * exists (deleted). Reconcilers that need the freshest copy GET it themselves. */
    const json_t *obj;
    struct sl_log_ctx log; /* kind/namespace/name/reconcile id, for sl_log */
};

struct sl_reconciler {
    const char *kind;                        /* "SigningKey" */
    const struct sl_kube_resource *resource; /* primary resource, watched by the manager */
    void *self;
    /* Reconciles one object. Returns 0 and fills *out, or a negative code (treated as
     * SL_RESULT_TRANSIENT with err logged). */
    int (*reconcile)(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                     struct sl_reconcile_result *out, struct sl_err *err);
    /* Optional: secondary resources whose changes enqueue primaries. For each event on an
     * object of secondary[i], map() is called and may enqueue keys with enqueue(). */
    const struct sl_kube_resource *const *secondary; /* NULL-terminated array, or NULL */
    void (*map_secondary)(void *self, const struct sl_kube_resource *res, const json_t *obj,
                          void (*enqueue)(void *qctx, const char *ns, const char *name),
                          void *qctx);
    void (*free)(void *self); /* may be NULL */
};

/* Frees a reconciler through its free member (which frees the struct sl_reconciler too, when
 * the reconciler embeds it). NULL, or a reconciler without free, is a no-op. */
void sl_reconciler_free(struct sl_reconciler *r);

/* Records a Kubernetes Event on obj through rt's recorder (type "Normal"/"Warning"); best
 * effort. A NULL rt, recorder or obj is a no-op, so reconcilers need no guard of their own. */
void sl_runtime_event(const struct sl_runtime *rt, const json_t *obj, const char *type,
                      const char *reason, const char *message);

#endif
