/* The reconcile outcome as kstatus-aware tools read it (Flux's health checks, `kubectl wait`,
 * Argo CD's health checks): `Ready` is the summary, `Reconciling=True` while work is in
 * progress, `Stalled=True` when the controller does no more work until something changes.
 * Every reconciler's finish step goes through sl_outcome_apply, so the five kinds agree. */
#ifndef SL_RUNTIME_OUTCOME_H
#define SL_RUNTIME_OUTCOME_H

#include "kube/ops.h"
#include "runtime/reconciler.h"
#include "util/log.h"

#include <jansson.h>
#include <stdbool.h>

struct sl_outcome {
    enum sl_result_kind kind; /* what the reconciler returns to the queue */
    const char *ready;        /* the Ready status: "True", "False" or "Unknown" */
    const char *reason;       /* the Ready reason (CamelCase) */
    const char *message;      /* the Ready message */
    bool suspended;           /* spec.suspend: the object reads as suspended, not in progress */
};

/* Sets Ready from o, then the kstatus conditions, and status.observedGeneration = generation:
 * - suspended: Reconciling and Stalled removed (Ready says Suspended);
 * - REQUEUE: Reconciling=True, reason Progressing; WAITING or TRANSIENT: Reconciling=True,
 *   reason ProgressingWithRetry (the message is Ready's); Stalled removed;
 * - STALLED, or DONE with Ready=False (nothing is retried before the spec, a referenced object
 *   or the next interval changes it): Stalled=True with Ready's reason and message,
 *   Reconciling removed;
 * - DONE otherwise: both removed.
 * status must be a JSON object. Returns true when Ready's status or reason changed (a
 * transition, which callers report as an event). */
bool sl_outcome_apply(json_t *status, const struct sl_outcome *o, long long generation);

/* The result kind of a failed read of an object the spec names (a ServiceAccount's pull
 * Secrets, a SigningKey, a ConfigMap): WAITING for SL_ENOTFOUND (it may appear, and its
 * creation enqueues the object), STALLED for SL_EINVAL (it must change), TRANSIENT for any
 * other error (the API server's: retried with backoff). */
enum sl_result_kind sl_outcome_kind_for_read(int rc);

/* A new status for a pass over obj (as last read, borrowed): a copy of its status.conditions, so
 * their transition times survive, and observedGeneration = generation. The caller's
 * (json_decref). */
json_t *sl_outcome_status_new(const json_t *obj, long long generation);

/* The finish step's write: applies o to status (sl_outcome_apply with generation), then writes
 * status (borrowed) as the status of obj (as last read, borrowed), an object of res, through
 * rt's API access (sl_status_write: conflicts retried, no write when nothing changed). Returns
 * 0, SL_ENOTFOUND (obj was deleted meanwhile: nothing is left to report on) or the write's
 * error, with err prefixed "writing status of <Kind> <namespace>/<name>". */
int sl_outcome_write(const struct sl_runtime *rt, const struct sl_kube_resource *res,
                     const json_t *obj, json_t *status, const struct sl_outcome *o,
                     long long generation, struct sl_err *err);

/* A kind's event for a Ready transition to o: fills *type ("Normal" or "Warning") and *reason,
 * or returns false for none (the kind announces that state with an event of its own). */
typedef bool (*sl_outcome_event_fn)(void *ctx, const struct sl_outcome *o, const char **type,
                                    const char **reason);

/* Announces a Ready transition the same way for every kind: when Ready's status or reason in
 * old_status (the status the pass started from; may be NULL) differs from o's, records on obj
 * the event fn chooses (NULL: Normal with o's reason for True and Unknown, Warning for False)
 * with o's message, and logs a warning on log when Ready became False. Call it once the status
 * write succeeded, so the pass that writes a transition announces it once. Returns whether Ready
 * changed. */
bool sl_outcome_announce(const struct sl_runtime *rt, const struct sl_log_ctx *log,
                         const json_t *obj, const json_t *old_status, const struct sl_outcome *o,
                         sl_outcome_event_fn fn, void *ctx);

/* Marks obj (as last read, borrowed) as in progress before a long reconcile: when its
 * metadata.generation differs from status.observedGeneration (a new object, or a new spec), it
 * is not suspended or being deleted, and it does not already say so, writes
 * Reconciling=True (reason Progressing) through the /status subresource, keeping
 * observedGeneration as it was so tools still see the new generation as unobserved. One
 * attempt, best effort: any failure leaves the object as it was (the finish step writes the
 * outcome anyway). Returns the object to reconcile (new reference): the one written, or obj. */
json_t *sl_outcome_mark_progressing(const struct sl_kube_ops *kube,
                                    const struct sl_kube_resource *res, const json_t *obj);

#endif
