#include "runtime/workqueue.h"

#include "util/strmap.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct delayed_item {
    int64_t ready_ms; /* monotonic */
    char *key;
};

struct sl_workqueue {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    /* FIFO of ready keys, a ring buffer */
    char **ring;
    size_t ring_cap, ring_head, ring_len;
    struct sl_strmap dirty;      /* key -> NULL */
    struct sl_strmap processing; /* key -> NULL */
    struct sl_strmap failures;   /* key -> (void *)(uintptr_t)count */
    /* min-heap of delayed adds; waiting maps key -> (void *)(index + 1) */
    struct delayed_item *heap;
    size_t heap_len, heap_cap;
    struct sl_strmap waiting;
    int64_t base_delay_ms, max_delay_ms;
    bool shutting_down;
};

/* Deadlines are compared with the condition variable's clock, CLOCK_MONOTONIC. */
struct sl_workqueue *sl_workqueue_new(int64_t base_delay_ms, int64_t max_delay_ms)
{
    struct sl_workqueue *q = sl_xcalloc(1, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &ca);
    pthread_condattr_destroy(&ca);
    sl_strmap_init(&q->dirty);
    sl_strmap_init(&q->processing);
    sl_strmap_init(&q->failures);
    sl_strmap_init(&q->waiting);
    q->base_delay_ms = base_delay_ms > 0 ? base_delay_ms : SL_WORKQUEUE_BASE_DELAY_MS;
    q->max_delay_ms = max_delay_ms > 0 ? max_delay_ms : SL_WORKQUEUE_MAX_DELAY_MS;
    return q;
}

void sl_workqueue_free(struct sl_workqueue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->ring_len; i++)
        free(q->ring[(q->ring_head + i) % q->ring_cap]);
    free(q->ring);
    for (size_t i = 0; i < q->heap_len; i++)
        free(q->heap[i].key);
    free(q->heap);
    sl_strmap_clear(&q->dirty, NULL);
    sl_strmap_clear(&q->processing, NULL);
    sl_strmap_clear(&q->failures, NULL);
    sl_strmap_clear(&q->waiting, NULL);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void ring_push(struct sl_workqueue *q, const char *key)
{
    if (q->ring_len == q->ring_cap) {
        size_t ncap = q->ring_cap ? q->ring_cap * 2 : 16;
        char **n = sl_xmalloc(ncap * sizeof(*n));
        for (size_t i = 0; i < q->ring_len; i++)
            n[i] = q->ring[(q->ring_head + i) % q->ring_cap];
        free(q->ring);
        q->ring = n;
        q->ring_cap = ncap;
        q->ring_head = 0;
    }
    q->ring[(q->ring_head + q->ring_len) % q->ring_cap] = sl_xstrdup(key);
    q->ring_len++;
}

static char *ring_pop(struct sl_workqueue *q)
{
    char *k = q->ring[q->ring_head];
    q->ring_head = (q->ring_head + 1) % q->ring_cap;
    q->ring_len--;
    return k;
}

/* The add of client-go's Type.Add; caller holds the lock. */
static void add_locked(struct sl_workqueue *q, const char *key)
{
    bool found;
    if (q->shutting_down)
        return;
    sl_strmap_get(&q->dirty, key, &found);
    if (found)
        return;
    sl_strmap_put(&q->dirty, key, NULL);
    sl_strmap_get(&q->processing, key, &found);
    if (found)
        return; /* done() queues it again */
    ring_push(q, key);
    pthread_cond_signal(&q->cond);
}

void sl_workqueue_add(struct sl_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    add_locked(q, key);
    pthread_mutex_unlock(&q->lock);
}

/* ---- delay heap ---- */

static void heap_set(struct sl_workqueue *q, size_t i, struct delayed_item it)
{
    q->heap[i] = it;
    sl_strmap_put(&q->waiting, it.key, (void *)(uintptr_t)(i + 1));
}

static void heap_up(struct sl_workqueue *q, size_t i)
{
    struct delayed_item it = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->heap[parent].ready_ms <= it.ready_ms)
            break;
        heap_set(q, i, q->heap[parent]);
        i = parent;
    }
    heap_set(q, i, it);
}

static void heap_down(struct sl_workqueue *q, size_t i)
{
    struct delayed_item it = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t best = it.ready_ms;
        if (l < q->heap_len && q->heap[l].ready_ms < best) {
            m = l;
            best = q->heap[l].ready_ms;
        }
        if (r < q->heap_len && q->heap[r].ready_ms < best)
            m = r;
        if (m == i)
            break;
        heap_set(q, i, q->heap[m]);
        i = m;
    }
    heap_set(q, i, it);
}

/* Removes the heap's minimum and returns its key (caller frees). */
static char *heap_pop(struct sl_workqueue *q)
{
    char *key = q->heap[0].key;
    sl_strmap_remove(&q->waiting, key, NULL);
    q->heap_len--;
    if (q->heap_len > 0) {
        q->heap[0] = q->heap[q->heap_len];
        heap_down(q, 0);
    }
    return key;
}

void sl_workqueue_add_after(struct sl_workqueue *q, const char *key, int64_t delay_ms)
{
    if (delay_ms <= 0) {
        sl_workqueue_add(q, key);
        return;
    }
    int64_t ready = sl_mono_ms() + delay_ms;
    pthread_mutex_lock(&q->lock);
    if (q->shutting_down)
        goto done;
    bool found;
    uintptr_t idx1 = (uintptr_t)sl_strmap_get(&q->waiting, key, &found);
    if (found) {
        /* already waiting: keep the earlier of the two times */
        size_t i = idx1 - 1;
        if (ready < q->heap[i].ready_ms) {
            q->heap[i].ready_ms = ready;
            heap_up(q, i);
        }
    } else {
        if (q->heap_len == q->heap_cap) {
            q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
            q->heap = sl_xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
        }
        q->heap[q->heap_len].ready_ms = ready;
        q->heap[q->heap_len].key = sl_xstrdup(key);
        q->heap_len++;
        heap_up(q, q->heap_len - 1);
    }
    /* a waiting get() may need to wake earlier than it planned */
    pthread_cond_broadcast(&q->cond);
done:
    pthread_mutex_unlock(&q->lock);
}

/* Moves every due delayed key to the ready queue; caller holds the lock. */
static void promote_due(struct sl_workqueue *q, int64_t now)
{
    while (q->heap_len > 0 && q->heap[0].ready_ms <= now) {
        char *key = heap_pop(q);
        add_locked(q, key);
        free(key);
    }
}

/* ---- backoff ---- */

int64_t sl_workqueue_next_backoff_ms(struct sl_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    uintptr_t n = (uintptr_t)sl_strmap_get(&q->failures, key, NULL);
    sl_strmap_put(&q->failures, key, (void *)(n + 1));
    pthread_mutex_unlock(&q->lock);
    int64_t d = q->base_delay_ms;
    for (uintptr_t i = 0; i < n && d < q->max_delay_ms; i++)
        d *= 2;
    return d < q->max_delay_ms ? d : q->max_delay_ms;
}

int64_t sl_workqueue_add_rate_limited(struct sl_workqueue *q, const char *key)
{
    int64_t d = sl_workqueue_next_backoff_ms(q, key);
    sl_workqueue_add_after(q, key, d);
    return d;
}

void sl_workqueue_forget(struct sl_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    sl_strmap_remove(&q->failures, key, NULL);
    pthread_mutex_unlock(&q->lock);
}

int sl_workqueue_num_requeues(struct sl_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    uintptr_t n = (uintptr_t)sl_strmap_get(&q->failures, key, NULL);
    pthread_mutex_unlock(&q->lock);
    return (int)n;
}

/* ---- get / done ---- */

static void mono_deadline(struct timespec *ts, int64_t at_ms)
{
    ts->tv_sec = (time_t)(at_ms / 1000);
    ts->tv_nsec = (long)(at_ms % 1000) * 1000000L;
}

static int get_locked(char **out, struct sl_workqueue *q, int64_t deadline_ms)
{
    for (;;) {
        int64_t now = sl_mono_ms();
        promote_due(q, now);
        if (q->shutting_down)
            return SL_ECANCELED;
        if (q->ring_len > 0) {
            char *key = ring_pop(q);
            sl_strmap_put(&q->processing, key, NULL);
            sl_strmap_remove(&q->dirty, key, NULL);
            *out = key;
            return 0;
        }
        if (deadline_ms >= 0 && now >= deadline_ms)
            return SL_ERETRY;
        int64_t wake = -1;
        if (q->heap_len > 0)
            wake = q->heap[0].ready_ms;
        if (deadline_ms >= 0 && (wake < 0 || deadline_ms < wake))
            wake = deadline_ms;
        if (wake < 0) {
            pthread_cond_wait(&q->cond, &q->lock);
        } else {
            struct timespec ts;
            mono_deadline(&ts, wake);
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        }
    }
}

int sl_workqueue_get(char **out, struct sl_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    int rc = get_locked(out, q, -1);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int sl_workqueue_get_timeout(char **out, struct sl_workqueue *q, int64_t timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    int rc = get_locked(out, q, sl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void sl_workqueue_done(struct sl_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    sl_strmap_remove(&q->processing, key, NULL);
    bool dirty;
    sl_strmap_get(&q->dirty, key, &dirty);
    if (dirty && !q->shutting_down) {
        ring_push(q, key);
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
}

void sl_workqueue_shutdown(struct sl_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    q->shutting_down = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

bool sl_workqueue_shutting_down(struct sl_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    bool s = q->shutting_down;
    pthread_mutex_unlock(&q->lock);
    return s;
}

long sl_workqueue_depth(struct sl_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    promote_due(q, sl_mono_ms());
    long d = (long)q->ring_len;
    pthread_mutex_unlock(&q->lock);
    return d;
}

long sl_workqueue_delayed(struct sl_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    long d = (long)q->heap_len;
    pthread_mutex_unlock(&q->lock);
    return d;
}

/* ---- worker pool ---- */

struct sl_worker_pool {
    int n;
    pthread_t *threads;
    bool *joined;
    void (*fn)(void *ctx);
    void *ctx;
};

static void *worker_main(void *arg)
{
    struct sl_worker_pool *p = arg;
    p->fn(p->ctx);
    return NULL;
}

static void pool_free(struct sl_worker_pool *p)
{
    free(p->threads);
    free(p->joined);
    free(p);
}

int sl_worker_pool_start(struct sl_worker_pool **out, int n, void (*fn)(void *ctx), void *ctx,
                         struct sl_err *err)
{
    if (n < 1)
        n = 1;
    struct sl_worker_pool *p = sl_xcalloc(1, sizeof(*p));
    p->threads = sl_xcalloc((size_t)n, sizeof(pthread_t));
    p->joined = sl_xcalloc((size_t)n, sizeof(bool));
    p->fn = fn;
    p->ctx = ctx;
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker_main, p);
        if (rc != 0) {
            for (int j = 0; j < i; j++)
                pthread_join(p->threads[j], NULL);
            pool_free(p);
            return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "starting worker thread: %s",
                              strerror(rc));
        }
        p->n = i + 1;
    }
    *out = p;
    return 0;
}

int sl_worker_pool_join(struct sl_worker_pool *p, int64_t timeout_ms)
{
    if (!p)
        return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += (time_t)(timeout_ms / 1000);
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    bool all = true;
    for (int i = 0; i < p->n; i++) {
        if (p->joined[i])
            continue;
        int rc = timeout_ms < 0 ? pthread_join(p->threads[i], NULL)
                                : pthread_timedjoin_np(p->threads[i], NULL, &deadline);
        if (rc == 0)
            p->joined[i] = true;
        else
            all = false;
    }
    if (!all)
        return SL_ERETRY;
    pool_free(p);
    return 0;
}
