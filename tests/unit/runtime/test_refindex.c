/* Unit tests of the reference index for secondary watches (runtime/refindex.h). */
#include "runtime/refindex.h"

#include "../check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Records enqueued "ns/name" keys, comma-separated, in call order. */
struct rec {
    char out[1024];
    int calls;
};

static void rec_enqueue(void *qctx, const char *ns, const char *name)
{
    struct rec *r = qctx;
    size_t len = strlen(r->out);
    snprintf(r->out + len, sizeof(r->out) - len, "%s%s/%s", len ? "," : "", ns, name);
    r->calls++;
}

/* What enqueueing kind/ns/name produces, as a string (static buffer). */
static const char *hits(struct sl_refindex *x, const char *kind, const char *ns, const char *name)
{
    static struct rec r;
    memset(&r, 0, sizeof(r));
    sl_refindex_enqueue(x, kind, ns, name, rec_enqueue, &r);
    return r.out;
}

static void test_replace_and_forget(void)
{
    struct sl_refindex *x = sl_refindex_new();
    struct sl_refindex_ref a[] = {{"Secret", "s1"}, {"ConfigMap", "cm1"}};
    sl_refindex_set(x, "ns", "owner", a, 2);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "s1"), "ns/owner");
    CHECK_STR_EQ(hits(x, "ConfigMap", "ns", "cm1"), "ns/owner");
    CHECK_STR_EQ(hits(x, "Secret", "ns", "s2"), "");
    /* replace: the old references are gone, the new ones count */
    struct sl_refindex_ref b[] = {{"Secret", "s2"}};
    sl_refindex_set(x, "ns", "owner", b, 1);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "s1"), "");
    CHECK_STR_EQ(hits(x, "ConfigMap", "ns", "cm1"), "");
    CHECK_STR_EQ(hits(x, "Secret", "ns", "s2"), "ns/owner");
    /* forget */
    sl_refindex_set(x, "ns", "owner", NULL, 0);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "s2"), "");
    sl_refindex_free(x);
    sl_refindex_free(NULL);
}

static void test_several_owners_each_once(void)
{
    struct sl_refindex *x = sl_refindex_new();
    struct sl_refindex_ref a[] = {{"Secret", "shared"}, {"Secret", "shared"}, {NULL, "x"}};
    struct sl_refindex_ref b[] = {{"Secret", "shared"}, {"Secret", "own"}};
    sl_refindex_set(x, "ns", "a", a, 3);
    sl_refindex_set(x, "ns", "b", b, 2);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "shared"), "ns/a,ns/b");
    CHECK_STR_EQ(hits(x, "Secret", "ns", "own"), "ns/b");
    /* forgetting one owner keeps the other */
    sl_refindex_set(x, "ns", "a", NULL, 0);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "shared"), "ns/b");
    sl_refindex_free(x);
}

static void test_kinds_kept_apart(void)
{
    struct sl_refindex *x = sl_refindex_new();
    struct sl_refindex_ref a[] = {{"Secret", "same"}};
    struct sl_refindex_ref b[] = {{"ConfigMap", "same"}};
    sl_refindex_set(x, "ns", "a", a, 1);
    sl_refindex_set(x, "ns", "b", b, 1);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "same"), "ns/a");
    CHECK_STR_EQ(hits(x, "ConfigMap", "ns", "same"), "ns/b");
    CHECK_STR_EQ(hits(x, "SigningKey", "ns", "same"), "");
    sl_refindex_free(x);
}

static void test_namespaces_kept_apart(void)
{
    struct sl_refindex *x = sl_refindex_new();
    struct sl_refindex_ref a[] = {{"Secret", "s"}};
    sl_refindex_set(x, "ns1", "owner", a, 1);
    sl_refindex_set(x, "ns2", "owner", a, 1);
    CHECK_STR_EQ(hits(x, "Secret", "ns1", "s"), "ns1/owner");
    CHECK_STR_EQ(hits(x, "Secret", "ns2", "s"), "ns2/owner");
    CHECK_STR_EQ(hits(x, "Secret", "ns3", "s"), "");
    /* forgetting ns1/owner does not forget ns2/owner */
    sl_refindex_set(x, "ns1", "owner", NULL, 0);
    CHECK_STR_EQ(hits(x, "Secret", "ns1", "s"), "");
    CHECK_STR_EQ(hits(x, "Secret", "ns2", "s"), "ns2/owner");
    sl_refindex_free(x);
}

static void test_order_is_last_set(void)
{
    struct sl_refindex *x = sl_refindex_new();
    struct sl_refindex_ref s[] = {{"Secret", "pull"}};
    sl_refindex_set(x, "ns", "a", s, 1);
    sl_refindex_set(x, "ns", "b", s, 1);
    sl_refindex_set(x, "ns", "c", s, 1);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "pull"), "ns/a,ns/b,ns/c");
    /* setting a again (a reconcile) moves it behind the others */
    sl_refindex_set(x, "ns", "a", s, 1);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "pull"), "ns/b,ns/c,ns/a");
    /* an owner whose references are all skipped is forgotten */
    struct sl_refindex_ref none[] = {{NULL, "x"}, {"Secret", NULL}};
    sl_refindex_set(x, "ns", "b", none, 2);
    CHECK_STR_EQ(hits(x, "Secret", "ns", "pull"), "ns/c,ns/a");
    sl_refindex_free(x);
}

/* Names that contain what a naive key would join them with stay apart. */
static void test_no_key_collisions(void)
{
    struct sl_refindex *x = sl_refindex_new();
    struct sl_refindex_ref a[] = {{"Secret/ns", "s"}};
    struct sl_refindex_ref b[] = {{"Secret", "ns/s"}};
    struct sl_refindex_ref c[] = {{"Secret", "s"}};
    sl_refindex_set(x, "x", "a", a, 1);
    sl_refindex_set(x, "x", "b", b, 1);
    sl_refindex_set(x, "x/ns", "c", c, 1);
    CHECK_STR_EQ(hits(x, "Secret/ns", "x", "s"), "x/a");
    CHECK_STR_EQ(hits(x, "Secret", "x", "ns/s"), "x/b");
    CHECK_STR_EQ(hits(x, "Secret", "x/ns", "s"), "x/ns/c");
    CHECK_STR_EQ(hits(x, "Secret", "x", "s"), "");
    sl_refindex_free(x);
}

/* A fleet: thousands of owners sharing one Secret, each with its own second reference. */
#define FLEET 5000

struct count_rec {
    int calls;
    char last[64];
};

static void count_rec_enqueue(void *qctx, const char *ns, const char *name)
{
    struct count_rec *r = qctx;
    r->calls++;
    snprintf(r->last, sizeof(r->last), "%s/%s", ns, name);
}

static void test_fleet(void)
{
    struct sl_refindex *x = sl_refindex_new();
    char owner[32], own[32];
    for (int i = 0; i < FLEET; i++) {
        snprintf(owner, sizeof(owner), "app%d", i);
        snprintf(own, sizeof(own), "push-%d", i);
        struct sl_refindex_ref refs[] = {{"Secret", "pull"}, {"Secret", own}};
        sl_refindex_set(x, "fleet", owner, refs, 2);
    }
    struct count_rec r = {0};
    sl_refindex_enqueue(x, "Secret", "fleet", "pull", count_rec_enqueue, &r);
    CHECK_INT_EQ(r.calls, FLEET);
    CHECK_STR_EQ(r.last, "fleet/app4999");
    CHECK_STR_EQ(hits(x, "Secret", "fleet", "push-1234"), "fleet/app1234");
    /* every other owner lets go of the shared Secret */
    for (int i = 0; i < FLEET; i += 2) {
        snprintf(owner, sizeof(owner), "app%d", i);
        snprintf(own, sizeof(own), "push-%d", i);
        struct sl_refindex_ref refs[] = {{"Secret", own}};
        sl_refindex_set(x, "fleet", owner, refs, 1);
    }
    memset(&r, 0, sizeof(r));
    sl_refindex_enqueue(x, "Secret", "fleet", "pull", count_rec_enqueue, &r);
    CHECK_INT_EQ(r.calls, FLEET / 2);
    CHECK_STR_EQ(r.last, "fleet/app4999");
    CHECK_STR_EQ(hits(x, "Secret", "fleet", "push-1234"), "fleet/app1234");
    /* all forgotten: nothing is left to find */
    for (int i = 0; i < FLEET; i++) {
        snprintf(owner, sizeof(owner), "app%d", i);
        sl_refindex_set(x, "fleet", owner, NULL, 0);
    }
    CHECK_STR_EQ(hits(x, "Secret", "fleet", "pull"), "");
    CHECK_STR_EQ(hits(x, "Secret", "fleet", "push-1234"), "");
    sl_refindex_free(x);
}

/* ---- concurrency smoke test: writers and readers on one index ---- */

#define THREADS 4
#define ROUNDS  300

struct worker {
    struct sl_refindex *x;
    int id;
    int calls;
};

static void count_enqueue(void *qctx, const char *ns, const char *name)
{
    (void)ns;
    (void)name;
    ((struct worker *)qctx)->calls++;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char owner[32];
    snprintf(owner, sizeof(owner), "owner-%d", w->id);
    struct sl_refindex_ref refs[] = {{"Secret", "shared"}, {"ConfigMap", owner}};
    for (int i = 0; i < ROUNDS; i++) {
        sl_refindex_set(w->x, "ns", owner, refs, 2);
        sl_refindex_enqueue(w->x, "Secret", "ns", "shared", count_enqueue, w);
        if (i % 3 == 0)
            sl_refindex_set(w->x, "ns", owner, NULL, 0);
    }
    sl_refindex_set(w->x, "ns", owner, refs, 2); /* each ends referencing "shared" */
    return NULL;
}

static void test_concurrency_smoke(void)
{
    struct sl_refindex *x = sl_refindex_new();
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.x = x, .id = i};
        CHECK_INT_EQ(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].calls >= ROUNDS); /* at least its own owner each round */
        CHECK(w[i].calls <= ROUNDS * THREADS);
    }
    struct rec r = {0};
    sl_refindex_enqueue(x, "Secret", "ns", "shared", rec_enqueue, &r);
    CHECK_INT_EQ(r.calls, THREADS);
    for (int i = 0; i < THREADS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "ns/owner-%d", i);
        CHECK_CONTAINS(r.out, key);
        char cm[32];
        snprintf(cm, sizeof(cm), "owner-%d", i);
        snprintf(key, sizeof(key), "ns/owner-%d", i);
        CHECK_STR_EQ(hits(x, "ConfigMap", "ns", cm), key);
    }
    sl_refindex_free(x);
}

int main(void)
{
    RUN(test_replace_and_forget);
    RUN(test_several_owners_each_once);
    RUN(test_kinds_kept_apart);
    RUN(test_namespaces_kept_apart);
    RUN(test_order_is_last_set);
    RUN(test_no_key_collisions);
    RUN(test_fleet);
    RUN(test_concurrency_smoke);
    return CHECK_EXIT();
}
