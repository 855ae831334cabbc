/* A small bounded pool of worker threads for the blocking part of deferred HTTP requests
 * (server.h: sl_http_request_defer), e.g. the admission webhook's registry calls on a cache
 * miss.
 *
 * Jobs are keyed, and a key is worked on once at a time ("single flight"): submitting a key
 * that is already queued or running adds the submitter as one more waiter of that job instead
 * of queueing a second one; when the job ends, every waiter is told. The queue is bounded:
 * a submit beyond it is refused at once, so callers can fail fast instead of piling up work.
 *
 * Threads: sl_workpool_submit may be called from any thread (the HTTP event loop does) and
 * never blocks on anything but the pool's mutex. run() and done() are called without that
 * mutex held, on a worker thread; done() for jobs canceled at shutdown runs on the thread that
 * calls sl_workpool_free. */
#ifndef SL_HTTP_WORKPOOL_H
#define SL_HTTP_WORKPOOL_H

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sl_workpool_ops {
    void *ctx;
    /* Does job's work on a worker thread; blocking I/O is fine here. */
    void (*run)(void *ctx, void *job);
    /* Tells one waiter that job is over: after run() (canceled false), or when the pool shut
     * down before the job ran (canceled true). Called once per waiter. */
    void (*done)(void *ctx, void *job, void *waiter, bool canceled);
    /* Frees a job: after its waiters were told, or at once when it joined an equal one. */
    void (*job_free)(void *ctx, void *job);
};

struct sl_workpool_opts {
    size_t threads;   /* 0 = 4 */
    size_t queue_max; /* jobs waiting for a thread (running ones not counted); 0 = 64 */
    /* Fair share for jobs submitted with a group (sl_workpool_submit_group), e.g. the tenant a
     * job works for: at most group_running_max jobs of one group run at once (the others wait
     * while jobs of other groups get the free threads), and at most group_jobs_max jobs of one
     * group are queued or running (more are refused like a full queue). 0 = no limit. */
    size_t group_running_max;
    size_t group_jobs_max;
};

struct sl_workpool;

/* Starts the threads. ops is copied (all four functions required). Returns 0, or SL_EINVAL /
 * SL_EFAIL (a thread could not start) with err set; nothing is left running then. */
int sl_workpool_new(struct sl_workpool **out, const struct sl_workpool_ops *ops,
                    const struct sl_workpool_opts *opts, struct sl_err *err);

/* Hands job, identified by key (copied), to the pool on behalf of waiter. When a job with an
 * equal key is queued or running, waiter joins that one: job is freed at once (job_free) and
 * *joined_out (may be NULL) is set true. Otherwise job is queued and *joined_out set false.
 * Either way the pool owns job and will call done(waiter) exactly once.
 * Returns 0; SL_ERETRY when queue_max jobs are already waiting; SL_ECANCELED when the pool is
 * shutting down. On an error nothing was taken: job and waiter remain the caller's. */
int sl_workpool_submit(struct sl_workpool *p, const char *key, void *job, void *waiter,
                       bool *joined_out, struct sl_err *err);

/* sl_workpool_submit for a job on behalf of group (copied; NULL = no group, no share limits):
 * also SL_ERETRY when group already has group_jobs_max jobs queued or running. Joining an equal
 * job is always possible (it adds no work). */
int sl_workpool_submit_group(struct sl_workpool *p, const char *group, const char *key, void *job,
                             void *waiter, bool *joined_out, struct sl_err *err);

/* Jobs waiting for a thread right now (for metrics). */
size_t sl_workpool_queued(struct sl_workpool *p);

/* Shuts the pool down and frees it: no more submits; queued jobs are canceled (their waiters
 * are told, canceled true); running jobs finish and tell their waiters normally; the threads
 * are joined. Waits as long as the slowest running job. NULL is a no-op. */
void sl_workpool_free(struct sl_workpool *p);

#endif
