/* Kubernetes Events (core/v1) about the objects sealift reconciles.
 *
 * An event names its object (involvedObject: apiVersion, kind, name, namespace, uid,
 * resourceVersion), a reason, a message (capped at 1 KiB), a type (Normal or Warning) and the
 * source component "sealift-controller". Like client-go's recorder, an identical event (same
 * object, type, reason and message) repeated within 10 minutes bumps count and lastTimestamp of
 * the existing Event with a merge patch instead of creating a new one; a small LRU remembers
 * recent events for that. Events of cluster-scoped objects go to namespace "default".
 *
 * Callers must never put secret material in reason or message. Thread-safe. */
#ifndef SL_RUNTIME_EVENTS_H
#define SL_RUNTIME_EVENTS_H

#include "kube/ops.h"
#include "util/err.h"

#include <jansson.h>
#include <stdint.h>

#define SL_EVENT_COMPONENT    "sealift-controller"
#define SL_EVENT_MESSAGE_MAX  1024
#define SL_EVENT_AGGREGATE_MS (10 * 60 * 1000)
#define SL_EVENT_LRU_SIZE     256

struct sl_event_recorder;

/* Creates a recorder writing through kube (borrowed; must outlive the recorder). now_ms (may be
 * NULL = wall clock) returns milliseconds since the epoch, for tests; clock_ctx is its
 * argument. Free with sl_event_recorder_free. */
struct sl_event_recorder *sl_event_recorder_new(const struct sl_kube_ops *kube,
                                                int64_t (*now_ms)(void *clock_ctx),
                                                void *clock_ctx);
void sl_event_recorder_free(struct sl_event_recorder *rec);

/* Records an event about obj (borrowed; must carry kind and metadata.name). type is "Normal" or
 * "Warning". Returns 0, SL_EINVAL (obj unusable or bad type) or the API's error. */
int sl_event_record(struct sl_event_recorder *rec, const json_t *obj, const char *type,
                    const char *reason, const char *message, struct sl_err *err);

/* Adapter with the signature of struct sl_runtime.record_event (ctx = the recorder): errors
 * are logged at debug level, never returned. */
void sl_event_record_cb(void *ctx, const json_t *obj, const char *type, const char *reason,
                        const char *message);

#endif
