/* Shape: one mutex guards everything; jobs ("flights") live in one list, queued ones first in
 * FIFO order behind a head pointer, running ones marked. The list holds at most
 * threads + queue_max flights, so finding a key is a short linear scan. A worker takes the
 * oldest queued flight, runs it without the lock, then unlinks it under the lock, so a waiter
 * joining while it ran is still told, and a submit after that starts a new flight (whose run()
 * typically finds the answer in the caller's cache). */
#include "http/workpool.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_THREADS   4
#define DEFAULT_QUEUE_MAX 64

struct waiter {
    void *ptr;
    struct waiter *next;
};

struct flight {
    char *key;
    char *group; /* or NULL */
    void *job;
    bool running;
    struct waiter *waiters; /* newest first; told in submit order */
    struct flight *next;
};

struct sl_workpool {
    struct sl_workpool_ops ops;
    pthread_mutex_t lock;
    pthread_cond_t work; /* a flight was queued, or stopping */
    struct flight *flights;
    size_t queued;
    size_t queue_max;
    size_t group_running_max, group_jobs_max;
    bool stopping;
    pthread_t *threads;
    size_t nthreads;
};

static struct flight *find_flight(struct sl_workpool *p, const char *key)
{
    for (struct flight *f = p->flights; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static void unlink_flight(struct sl_workpool *p, struct flight *f)
{
    for (struct flight **pp = &p->flights; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            f->next = NULL;
            return;
        }
    }
}

static void add_waiter(struct flight *f, void *ptr)
{
    struct waiter *w = sl_xcalloc(1, sizeof(*w));
    w->ptr = ptr;
    w->next = f->waiters;
    f->waiters = w;
}

/* Tells f's waiters (oldest first) and frees f. Called without the lock. */
static void finish_flight(struct sl_workpool *p, struct flight *f, bool canceled)
{
    struct waiter *rev = NULL;
    while (f->waiters) {
        struct waiter *w = f->waiters;
        f->waiters = w->next;
        w->next = rev;
        rev = w;
    }
    while (rev) {
        struct waiter *w = rev;
        rev = w->next;
        p->ops.done(p->ops.ctx, f->job, w->ptr, canceled);
        free(w);
    }
    p->ops.job_free(p->ops.ctx, f->job);
    free(f->key);
    free(f->group);
    free(f);
}

/* Flights of group (all, or only running ones). Under the lock. */
static size_t group_count(struct sl_workpool *p, const char *group, bool running_only)
{
    size_t n = 0;
    for (struct flight *f = p->flights; f; f = f->next)
        if (f->group && strcmp(f->group, group) == 0 && (!running_only || f->running))
            n++;
    return n;
}

/* The oldest queued flight whose group is below its share of running flights, or NULL. Under
 * the lock. */
static struct flight *oldest_runnable(struct sl_workpool *p)
{
    struct flight *found = NULL;
    for (struct flight *f = p->flights; f; f = f->next)
        if (!f->running && (!f->group || !p->group_running_max ||
                            group_count(p, f->group, true) < p->group_running_max))
            found = f; /* new flights go to the front: the last one seen is the oldest */
    return found;
}

static void *worker_main(void *arg)
{
    struct sl_workpool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct flight *f = NULL;
        while (!p->stopping && !(f = oldest_runnable(p)))
            pthread_cond_wait(&p->work, &p->lock);
        if (!f)
            break; /* stopping: the queued flights are canceled by sl_workpool_free */
        f->running = true;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        p->ops.run(p->ops.ctx, f->job);
        pthread_mutex_lock(&p->lock);
        unlink_flight(p, f);
        /* a flight held back by its group's share may run now */
        if (f->group)
            pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->lock);
        finish_flight(p, f, false);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int sl_workpool_new(struct sl_workpool **out, const struct sl_workpool_ops *ops,
                    const struct sl_workpool_opts *opts, struct sl_err *err)
{
    if (!ops || !ops->run || !ops->done || !ops->job_free)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL,
                          "work pool: run, done and job_free "
                          "are required");
    struct sl_workpool *p = sl_xcalloc(1, sizeof(*p));
    p->ops = *ops;
    p->queue_max = opts && opts->queue_max ? opts->queue_max : DEFAULT_QUEUE_MAX;
    p->group_running_max = opts ? opts->group_running_max : 0;
    p->group_jobs_max = opts ? opts->group_jobs_max : 0;
    size_t want = opts && opts->threads ? opts->threads : DEFAULT_THREADS;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    p->threads = sl_xcalloc(want, sizeof(*p->threads));
    for (; p->nthreads < want; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) != 0) {
            sl_workpool_free(p);
            return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "work pool: cannot start a thread");
        }
    }
    *out = p;
    return 0;
}

int sl_workpool_submit(struct sl_workpool *p, const char *key, void *job, void *waiter,
                       bool *joined_out, struct sl_err *err)
{
    return sl_workpool_submit_group(p, NULL, key, job, waiter, joined_out, err);
}

int sl_workpool_submit_group(struct sl_workpool *p, const char *group, const char *key, void *job,
                             void *waiter, bool *joined_out, struct sl_err *err)
{
    int rc = 0;
    bool joined = false;
    struct flight *dup = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        rc = sl_err_set(err, SL_ECANCELED, SL_ERRC_INTERNAL, "work pool is shutting down");
        goto done;
    }
    dup = find_flight(p, key);
    if (dup) {
        add_waiter(dup, waiter);
        joined = true;
        goto done;
    }
    if (p->queued >= p->queue_max) {
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_INTERNAL, "work pool: %zu jobs already queued",
                        p->queued);
        goto done;
    }
    if (group && p->group_jobs_max && group_count(p, group, false) >= p->group_jobs_max) {
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_INTERNAL,
                        "work pool: %zu jobs of this group already queued or running",
                        p->group_jobs_max);
        goto done;
    }
    struct flight *f = sl_xcalloc(1, sizeof(*f));
    f->key = sl_xstrdup(key);
    f->group = group ? sl_xstrdup(group) : NULL;
    f->job = job;
    add_waiter(f, waiter);
    f->next = p->flights;
    p->flights = f;
    p->queued++;
    pthread_cond_signal(&p->work);
done:
    pthread_mutex_unlock(&p->lock);
    /* the joined job is not needed; freed outside the lock, like every callback */
    if (joined)
        p->ops.job_free(p->ops.ctx, job);
    if (rc == 0 && joined_out)
        *joined_out = joined;
    return rc;
}

size_t sl_workpool_queued(struct sl_workpool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->queued;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void sl_workpool_free(struct sl_workpool *p)
{
    if (!p)
        return;
    struct flight *canceled = NULL;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    /* take the queued flights out; running ones stay listed so late joiners still find them
     * (submit refuses new waiters from now on, though) */
    for (struct flight **pp = &p->flights; *pp;) {
        struct flight *f = *pp;
        if (f->running) {
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        f->next = canceled;
        canceled = f;
        p->queued--;
    }
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    while (canceled) {
        struct flight *f = canceled;
        canceled = f->next;
        finish_flight(p, f, true);
    }
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
