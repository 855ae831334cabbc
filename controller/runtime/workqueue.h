/* A de-duplicating work queue of string keys ("ns/name"), with client-go's semantics:
 *
 * - a key is in the queue at most once ("dirty" set); adding a queued key does nothing;
 * - a key handed out by get() is "processing" until done(); adding it meanwhile marks it dirty
 *   and it is queued again by done(), so one key is never processed by two workers at once;
 * - add_after() delays an add (a heap ordered by ready time; an earlier time for a key already
 *   waiting wins);
 * - per-key exponential backoff for failures: 5 ms, 10 ms, 20 ms, ... capped at 1000 s;
 *   forget() resets it;
 * - shutdown() wakes every waiter; get() then returns SL_ECANCELED (queued keys are not
 *   drained: shutdown means "stop taking work") and adds are ignored.
 *
 * All functions are thread-safe. */
#ifndef SL_RUNTIME_WORKQUEUE_H
#define SL_RUNTIME_WORKQUEUE_H

#include "util/err.h"

#include <stdbool.h>
#include <stdint.h>

#define SL_WORKQUEUE_BASE_DELAY_MS 5
#define SL_WORKQUEUE_MAX_DELAY_MS  (1000 * 1000)

struct sl_workqueue;

/* Creates an empty queue. base_delay_ms / max_delay_ms <= 0 take the defaults above. Free
 * with sl_workqueue_free. */
struct sl_workqueue *sl_workqueue_new(int64_t base_delay_ms, int64_t max_delay_ms);
/* Frees the queue; no thread may be using it any more. NULL is a no-op. */
void sl_workqueue_free(struct sl_workqueue *q);

/* Adds key (copied) unless it is already queued. */
void sl_workqueue_add(struct sl_workqueue *q, const char *key);
/* Adds key after delay_ms (<= 0: now). */
void sl_workqueue_add_after(struct sl_workqueue *q, const char *key, int64_t delay_ms);
/* Adds key after its next backoff delay (see sl_workqueue_next_backoff_ms); returns the delay. */
int64_t sl_workqueue_add_rate_limited(struct sl_workqueue *q, const char *key);
/* Counts one more failure of key and returns the delay it earns: base * 2^(failures-1),
 * capped at the maximum. */
int64_t sl_workqueue_next_backoff_ms(struct sl_workqueue *q, const char *key);
/* Resets key's failure count. */
void sl_workqueue_forget(struct sl_workqueue *q, const char *key);
/* How many failures key has had since the last forget. */
int sl_workqueue_num_requeues(struct sl_workqueue *q, const char *key);

/* Blocks until a key is ready and hands it to the caller (*out, freed with free()), marking it
 * processing. Returns 0, or SL_ECANCELED once the queue is shut down. */
int sl_workqueue_get(char **out, struct sl_workqueue *q);
/* Like sl_workqueue_get but gives up after timeout_ms: SL_ERETRY when nothing came. */
int sl_workqueue_get_timeout(char **out, struct sl_workqueue *q, int64_t timeout_ms);
/* Marks key as no longer processing; queues it again when it was added meanwhile. */
void sl_workqueue_done(struct sl_workqueue *q, const char *key);

/* Stops the queue: wakes every get(), which returns SL_ECANCELED; later adds are ignored. */
void sl_workqueue_shutdown(struct sl_workqueue *q);
bool sl_workqueue_shutting_down(struct sl_workqueue *q);

/* Keys ready to be handed out (not counting delayed or processing ones): the queue depth
 * metric. */
long sl_workqueue_depth(struct sl_workqueue *q);
/* Keys waiting in the delay heap. */
long sl_workqueue_delayed(struct sl_workqueue *q);

/* A fixed set of threads running fn(ctx) once each (fn typically loops on sl_workqueue_get). */
struct sl_worker_pool;

/* Starts n threads. Returns 0 or SL_EFAIL (thread creation failed; threads already started are
 * joined before returning). */
int sl_worker_pool_start(struct sl_worker_pool **out, int n, void (*fn)(void *ctx), void *ctx,
                         struct sl_err *err);
/* Waits up to timeout_ms (< 0: forever) for every thread to return. Returns 0 when all joined
 * (the pool is freed), or SL_ERETRY when some are still running (the pool stays valid; call
 * again or give up and let the process exit). */
int sl_worker_pool_join(struct sl_worker_pool *p, int64_t timeout_ms);

#endif
