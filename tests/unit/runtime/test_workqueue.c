/* Unit tests of controller/runtime/workqueue.c: de-duplication, the processing/dirty rules,
 * the backoff sequence, delayed adds, shutdown, and many threads at once. */
#include "check.h"
#include "runtime/workqueue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_dedup_and_fifo(void)
{
    struct sl_workqueue *q = sl_workqueue_new(0, 0);
    sl_workqueue_add(q, "ns/a");
    sl_workqueue_add(q, "ns/b");
    sl_workqueue_add(q, "ns/a");
    CHECK_INT_EQ(sl_workqueue_depth(q), 2);
    char *k = NULL;
    CHECK_INT_EQ(sl_workqueue_get(&k, q), 0);
    CHECK_STR_EQ(k, "ns/a");
    /* added while processing: not handed out again until done */
    sl_workqueue_add(q, "ns/a");
    CHECK_INT_EQ(sl_workqueue_depth(q), 1);
    char *k2 = NULL;
    CHECK_INT_EQ(sl_workqueue_get(&k2, q), 0);
    CHECK_STR_EQ(k2, "ns/b");
    char *k3 = NULL;
    CHECK_INT_EQ(sl_workqueue_get_timeout(&k3, q, 20), SL_ERETRY);
    sl_workqueue_done(q, "ns/b");
    /* done re-queues the key that was added meanwhile */
    sl_workqueue_done(q, k);
    CHECK_INT_EQ(sl_workqueue_depth(q), 1);
    free(k);
    k = NULL;
    CHECK_INT_EQ(sl_workqueue_get(&k, q), 0);
    CHECK_STR_EQ(k, "ns/a");
    sl_workqueue_done(q, k);
    CHECK_INT_EQ(sl_workqueue_depth(q), 0);
    free(k);
    free(k2);
    sl_workqueue_free(q);
}

static void test_backoff_sequence(void)
{
    struct sl_workqueue *q = sl_workqueue_new(0, 0);
    int64_t want = 5;
    for (int i = 0; i < 40; i++) {
        int64_t d = sl_workqueue_next_backoff_ms(q, "k");
        CHECK_INT_EQ(d, want);
        want = want * 2 > 1000000 ? 1000000 : want * 2;
    }
    CHECK_INT_EQ(sl_workqueue_num_requeues(q, "k"), 40);
    /* another key has its own count */
    CHECK_INT_EQ(sl_workqueue_next_backoff_ms(q, "other"), 5);
    sl_workqueue_forget(q, "k");
    CHECK_INT_EQ(sl_workqueue_num_requeues(q, "k"), 0);
    CHECK_INT_EQ(sl_workqueue_next_backoff_ms(q, "k"), 5);
    CHECK_INT_EQ(sl_workqueue_next_backoff_ms(q, "k"), 10);
    CHECK_INT_EQ(sl_workqueue_next_backoff_ms(q, "k"), 20);
    sl_workqueue_free(q);
}

static void test_add_after_ordering(void)
{
    struct sl_workqueue *q = sl_workqueue_new(0, 0);
    sl_workqueue_add_after(q, "late", 120);
    sl_workqueue_add_after(q, "mid", 60);
    sl_workqueue_add_after(q, "now", 0);
    /* a second, later add_after of a waiting key keeps the earlier time */
    sl_workqueue_add_after(q, "mid", 100000);
    CHECK_INT_EQ(sl_workqueue_delayed(q), 2);
    const char *want[] = {"now", "mid", "late"};
    for (int i = 0; i < 3; i++) {
        char *k = NULL;
        CHECK_INT_EQ(sl_workqueue_get_timeout(&k, q, 5000), 0);
        CHECK_STR_EQ(k, want[i]);
        if (k)
            sl_workqueue_done(q, k);
        free(k);
    }
    CHECK_INT_EQ(sl_workqueue_delayed(q), 0);
    /* a delayed key that is also added directly is handed out only once */
    sl_workqueue_add_after(q, "x", 30);
    sl_workqueue_add(q, "x");
    char *k = NULL;
    CHECK_INT_EQ(sl_workqueue_get(&k, q), 0);
    sl_workqueue_done(q, k);
    free(k);
    k = NULL;
    CHECK_INT_EQ(sl_workqueue_get_timeout(&k, q, 2000), 0); /* the delayed add arrives */
    CHECK_STR_EQ(k, "x");
    sl_workqueue_done(q, "x");
    free(k);
    k = NULL;
    CHECK_INT_EQ(sl_workqueue_get_timeout(&k, q, 80), SL_ERETRY);
    sl_workqueue_free(q);
}

static void *blocked_getter(void *arg)
{
    char *k = NULL;
    int rc = sl_workqueue_get(&k, arg);
    free(k);
    return (void *)(intptr_t)rc;
}

static void test_shutdown_wakes_waiters(void)
{
    struct sl_workqueue *q = sl_workqueue_new(0, 0);
    sl_workqueue_add_after(q, "far", 1000000);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, blocked_getter, q);
    sl_workqueue_shutdown(q);
    for (int i = 0; i < 4; i++) {
        void *rv = NULL;
        pthread_join(t[i], &rv);
        CHECK_INT_EQ((intptr_t)rv, SL_ECANCELED);
    }
    CHECK(sl_workqueue_shutting_down(q));
    sl_workqueue_add(q, "ignored");
    CHECK_INT_EQ(sl_workqueue_depth(q), 0);
    char *k = NULL;
    CHECK_INT_EQ(sl_workqueue_get(&k, q), SL_ECANCELED);
    sl_workqueue_free(q);
}

/* Many producers and consumers: every key is processed, never by two workers at once. */
#define NKEYS      50
#define NPRODUCERS 4
#define NCONSUMERS 6

struct stress {
    struct sl_workqueue *q;
    atomic_int in_flight[NKEYS];
    atomic_int processed[NKEYS];
    atomic_int overlap;
};

static void *producer(void *arg)
{
    struct stress *s = arg;
    char key[16];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < NKEYS; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            if (round % 3 == 0)
                sl_workqueue_add_after(s->q, key, 1);
            else
                sl_workqueue_add(s->q, key);
        }
    }
    return NULL;
}

static void consumer(void *arg)
{
    struct stress *s = arg;
    char *k = NULL;
    while (sl_workqueue_get(&k, s->q) == 0) {
        int i = atoi(k + 1);
        if (atomic_fetch_add(&s->in_flight[i], 1) != 0)
            atomic_fetch_add(&s->overlap, 1);
        atomic_fetch_add(&s->processed[i], 1);
        atomic_fetch_sub(&s->in_flight[i], 1);
        sl_workqueue_done(s->q, k);
        free(k);
    }
}

static void test_many_threads(void)
{
    struct stress *s = calloc(1, sizeof(*s));
    s->q = sl_workqueue_new(0, 0);
    struct sl_worker_pool *pool = NULL;
    CHECK_INT_EQ(sl_worker_pool_start(&pool, NCONSUMERS, consumer, s, NULL), 0);
    pthread_t p[NPRODUCERS];
    for (int i = 0; i < NPRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, s);
    for (int i = 0; i < NPRODUCERS; i++)
        pthread_join(p[i], NULL);
    /* wait for the queue to drain (delayed adds are 1 ms) */
    for (int i = 0; i < 500 && (sl_workqueue_depth(s->q) > 0 || sl_workqueue_delayed(s->q) > 0);
         i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    sl_workqueue_shutdown(s->q);
    CHECK_INT_EQ(sl_worker_pool_join(pool, -1), 0);
    CHECK_INT_EQ(atomic_load(&s->overlap), 0);
    int missing = 0;
    for (int i = 0; i < NKEYS; i++)
        missing += atomic_load(&s->processed[i]) == 0;
    CHECK_INT_EQ(missing, 0);
    sl_workqueue_free(s->q);
    free(s);
}

static void slow_worker(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void test_pool_join_timeout(void)
{
    struct sl_worker_pool *pool = NULL;
    CHECK_INT_EQ(sl_worker_pool_start(&pool, 2, slow_worker, NULL, NULL), 0);
    CHECK_INT_EQ(sl_worker_pool_join(pool, 10), SL_ERETRY);
    CHECK_INT_EQ(sl_worker_pool_join(pool, -1), 0);
}

int main(void)
{
    RUN(test_dedup_and_fifo);
    RUN(test_backoff_sequence);
    RUN(test_add_after_ordering);
    RUN(test_shutdown_wakes_waiters);
    RUN(test_many_threads);
    RUN(test_pool_join_timeout);
    return CHECK_EXIT();
}
