/* The work pool (controller/http/workpool.c): equal keys share one run while it is queued or
 * running, different keys run in parallel, the queue bound refuses work at once, and shutdown
 * cancels queued jobs, lets running ones finish and joins the threads. Jobs block on a gate the
 * test opens, so every assertion is about order, not time. */
#include "check.h"
#include "http/workpool.h"
#include "util/err.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
    char name[32];
    int result; /* set by run */
};

struct state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate_open;
    int started;  /* run() calls begun */
    int finished; /* run() calls ended */
    int freed;    /* jobs freed */
    int told;     /* done() calls */
    int canceled; /* done() calls with canceled */
    char log[512];
};

static void st_init(struct state *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
}

static void st_destroy(struct state *st)
{
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
}

static void run(void *ctx, void *jobp)
{
    struct state *st = ctx;
    struct job *job = jobp;
    pthread_mutex_lock(&st->mu);
    st->started++;
    pthread_cond_broadcast(&st->cv);
    while (!st->gate_open)
        pthread_cond_wait(&st->cv, &st->mu);
    job->result = 42;
    st->finished++;
    pthread_mutex_unlock(&st->mu);
}

/* waiter is a string naming who waits; the log records "waiter=job:result" entries */
static void done(void *ctx, void *jobp, void *waiter, bool canceled)
{
    struct state *st = ctx;
    struct job *job = jobp;
    pthread_mutex_lock(&st->mu);
    st->told++;
    if (canceled)
        st->canceled++;
    size_t len = strlen(st->log);
    snprintf(st->log + len, sizeof(st->log) - len, "%s=%s:%d%s ", (const char *)waiter, job->name,
             job->result, canceled ? "(canceled)" : "");
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static void job_free(void *ctx, void *jobp)
{
    struct state *st = ctx;
    pthread_mutex_lock(&st->mu);
    st->freed++;
    pthread_mutex_unlock(&st->mu);
    free(jobp);
}

static struct job *job_new(const char *name)
{
    struct job *j = sl_xcalloc(1, sizeof(*j));
    snprintf(j->name, sizeof(j->name), "%s", name);
    return j;
}

/* Waits until *counter reaches n. */
static void wait_count(struct state *st, const int *counter, int n)
{
    pthread_mutex_lock(&st->mu);
    while (*counter < n)
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
}

static void open_gate(struct state *st)
{
    pthread_mutex_lock(&st->mu);
    st->gate_open = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static struct sl_workpool *new_pool(struct state *st, size_t threads, size_t queue_max)
{
    struct sl_workpool *p = NULL;
    struct sl_workpool_ops ops = {.ctx = st, .run = run, .done = done, .job_free = job_free};
    struct sl_workpool_opts o = {.threads = threads, .queue_max = queue_max};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_workpool_new(&p, &ops, &o, &err), 0);
    return p;
}

static void test_coalescing(void)
{
    struct state st;
    st_init(&st);
    struct sl_workpool *p = new_pool(&st, 2, 4);
    struct sl_err err = {0};
    bool joined = true;
    CHECK_INT_EQ(sl_workpool_submit(p, "img@sha256:a", job_new("first"), "w1", &joined, &err), 0);
    CHECK(!joined);
    wait_count(&st, &st.started, 1);
    /* the same key while it runs: joins, the new job is freed at once, nothing new runs */
    CHECK_INT_EQ(sl_workpool_submit(p, "img@sha256:a", job_new("second"), "w2", &joined, &err), 0);
    CHECK(joined);
    CHECK_INT_EQ(st.freed, 1);
    /* another key runs beside it */
    CHECK_INT_EQ(sl_workpool_submit(p, "img@sha256:b", job_new("other"), "w3", &joined, &err), 0);
    CHECK(!joined);
    wait_count(&st, &st.started, 2);
    CHECK_INT_EQ(st.told, 0);
    open_gate(&st);
    wait_count(&st, &st.told, 3);
    CHECK_INT_EQ(st.started, 2);
    /* both waiters got the one run's result, in the order they came */
    const char *w1 = strstr(st.log, "w1=first:42 "), *w2 = strstr(st.log, "w2=first:42 ");
    CHECK(w1 && w2 && w1 < w2);
    CHECK_CONTAINS(st.log, "w3=other:42 ");
    sl_workpool_free(p);
    CHECK_INT_EQ(st.freed, 3);
    CHECK_INT_EQ(st.canceled, 0);
    st_destroy(&st);
}

static void test_queue_bound(void)
{
    struct state st;
    st_init(&st);
    struct sl_workpool *p = new_pool(&st, 1, 1);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_workpool_submit(p, "a", job_new("a"), "wa", NULL, &err), 0);
    wait_count(&st, &st.started, 1); /* the only thread is busy */
    CHECK_INT_EQ(sl_workpool_submit(p, "b", job_new("b"), "wb", NULL, &err), 0);
    CHECK_INT_EQ(sl_workpool_queued(p), 1);
    struct job *c = job_new("c");
    CHECK_INT_EQ(sl_workpool_submit(p, "c", c, "wc", NULL, &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "queued");
    free(c); /* refused: still ours */
    /* joining a queued job needs no queue slot */
    bool joined = false;
    CHECK_INT_EQ(sl_workpool_submit(p, "b", job_new("b2"), "wb2", &joined, &err), 0);
    CHECK(joined);
    open_gate(&st);
    wait_count(&st, &st.told, 3);
    CHECK_CONTAINS(st.log, "wb=b:42 wb2=b:42 ");
    CHECK_INT_EQ(sl_workpool_queued(p), 0);
    sl_workpool_free(p);
    CHECK_INT_EQ(st.freed, 3);
    st_destroy(&st);
}

struct freer {
    struct sl_workpool *p;
    pthread_t thread;
};

static void *free_main(void *arg)
{
    struct freer *f = arg;
    sl_workpool_free(f->p);
    return NULL;
}

static void test_shutdown(void)
{
    struct state st;
    st_init(&st);
    struct sl_workpool *p = new_pool(&st, 1, 8);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_workpool_submit(p, "running", job_new("r"), "wr", NULL, &err), 0);
    wait_count(&st, &st.started, 1);
    CHECK_INT_EQ(sl_workpool_submit(p, "queued", job_new("q"), "wq", NULL, &err), 0);
    CHECK_INT_EQ(sl_workpool_submit(p, "queued", job_new("q2"), "wq2", NULL, &err), 0);
    /* shutting down: queued waiters are told at once (canceled) while the running job is still
     * blocked; free returns only after it finished */
    struct freer f = {.p = p};
    pthread_create(&f.thread, NULL, free_main, &f);
    wait_count(&st, &st.canceled, 2);
    CHECK_INT_EQ(st.finished, 0);
    CHECK_CONTAINS(st.log, "wq=q:0(canceled) wq2=q:0(canceled) ");
    open_gate(&st);
    pthread_join(f.thread, NULL);
    CHECK_INT_EQ(st.finished, 1);
    CHECK_CONTAINS(st.log, "wr=r:42 ");
    CHECK_INT_EQ(st.told, 3);
    CHECK_INT_EQ(st.freed, 3);
    st_destroy(&st);

    /* an idle pool shuts down at once; NULL is a no-op */
    st_init(&st);
    sl_workpool_free(new_pool(&st, 3, 0));
    sl_workpool_free(NULL);
    st_destroy(&st);

    struct sl_workpool *none = NULL;
    struct sl_workpool_ops bad = {.run = run};
    CHECK_INT_EQ(sl_workpool_new(&none, &bad, NULL, &err), SL_EINVAL);
    CHECK(none == NULL);
}

/* One group (a tenant) gets its share of the threads and of the queue; another group's job runs
 * on a free thread while the first group's extra jobs wait. */
static void test_group_share(void)
{
    struct state st;
    st_init(&st);
    struct sl_workpool *p = NULL;
    struct sl_workpool_ops ops = {.ctx = &st, .run = run, .done = done, .job_free = job_free};
    struct sl_workpool_opts o = {
        .threads = 3, .queue_max = 8, .group_running_max = 1, .group_jobs_max = 2};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_workpool_new(&p, &ops, &o, &err), 0);
    CHECK_INT_EQ(sl_workpool_submit_group(p, "evil", "e1", job_new("e1"), "w1", NULL, &err), 0);
    wait_count(&st, &st.started, 1);
    /* the second evil job waits although two threads are idle */
    CHECK_INT_EQ(sl_workpool_submit_group(p, "evil", "e2", job_new("e2"), "w2", NULL, &err), 0);
    /* a third is refused at once: the group has its two jobs in flight */
    struct job *e3 = job_new("e3");
    CHECK_INT_EQ(sl_workpool_submit_group(p, "evil", "e3", e3, "w3", NULL, &err), SL_ERETRY);
    free(e3);
    /* joining a job of the group adds no work and is allowed */
    bool joined = false;
    CHECK_INT_EQ(sl_workpool_submit_group(p, "evil", "e2", job_new("e2b"), "w2b", &joined, &err),
                 0);
    CHECK(joined);
    /* another group runs now, on an idle thread */
    CHECK_INT_EQ(sl_workpool_submit_group(p, "shop", "s1", job_new("s1"), "ws", NULL, &err), 0);
    wait_count(&st, &st.started, 2);
    pthread_mutex_lock(&st.mu);
    CHECK_INT_EQ(st.started, 2); /* e1 and s1; e2 still queued */
    pthread_mutex_unlock(&st.mu);
    CHECK_INT_EQ((int)sl_workpool_queued(p), 1);
    open_gate(&st);
    wait_count(&st, &st.told, 4);
    CHECK_CONTAINS(st.log, "w2=e2:42");
    CHECK_CONTAINS(st.log, "w2b=e2:42");
    sl_workpool_free(p);
    st_destroy(&st);
}

int main(void)
{
    RUN(test_coalescing);
    RUN(test_queue_bound);
    RUN(test_shutdown);
    RUN(test_group_share);
    return CHECK_EXIT();
}
