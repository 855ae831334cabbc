/* Unit tests of controller/runtime/informer.c over an in-memory list/watch source: paginated
 * initial list, watch events, bookmarks, relist on 410 and on dropped connections with deletes
 * for vanished keys, odd objects, stop. */
#include "check.h"
#include "fake_lw.h"
#include "runtime/informer.h"

static const struct sl_kube_resource RES_KEY = {.group = "sealift.dev",
                                                .version = "v1alpha1",
                                                .plural = "signingkeys",
                                                .kind = "SigningKey",
                                                .namespaced = true};

struct seen {
    pthread_mutex_t lock;
    int adds, updates, deletes;
    char last_key[300];
    bool last_old_present;
};

static void note(struct seen *s, int *counter, const json_t *obj, bool old_present)
{
    pthread_mutex_lock(&s->lock);
    (*counter)++;
    sl_informer_key(s->last_key, sizeof(s->last_key), obj);
    s->last_old_present = old_present;
    pthread_mutex_unlock(&s->lock);
}
static void h_add(void *ctx, const json_t *obj)
{
    struct seen *s = ctx;
    note(s, &s->adds, obj, false);
}
static void h_update(void *ctx, const json_t *o, const json_t *n)
{
    struct seen *s = ctx;
    note(s, &s->updates, n, o != NULL);
}
static void h_delete(void *ctx, const json_t *obj)
{
    struct seen *s = ctx;
    note(s, &s->deletes, obj, false);
}

static int get_count(struct seen *s, int *counter)
{
    pthread_mutex_lock(&s->lock);
    int v = *counter;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static struct sl_informer *make(struct fake_lw *f, struct seen *s, const char *selector)
{
    struct sl_informer_opts o = {
        .res = &RES_KEY,
        .label_selector = selector,
        .lw = fake_lw_iface(f),
        .handlers = {.ctx = s, .on_add = h_add, .on_update = h_update, .on_delete = h_delete},
        .relist_initial_ms = 5,
        .relist_max_ms = 40};
    return sl_informer_new(&o);
}

static void test_list_pages_and_watch(void)
{
    struct fake_lw f;
    fake_lw_init(&f);
    char name[32];
    for (int i = 0; i < 1203; i++) {
        snprintf(name, sizeof(name), "k%04d", i);
        json_t *o = fake_obj("ns1", name, 1, "Generate");
        fake_lw_apply(&f, "ADDED", o, false);
        json_decref(o);
    }
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_informer *inf = make(&f, &s, "sealift.dev/shard=a");
    CHECK(!sl_informer_has_synced(inf));
    CHECK_INT_EQ(sl_informer_start(inf, NULL), 0);
    CHECK(sl_informer_wait_synced(inf, 5000));
    CHECK_INT_EQ(sl_informer_count(inf), 1203);
    CHECK_INT_EQ(get_count(&s, &s.adds), 1203);
    CHECK_INT_EQ(f.list_pages, 5); /* 4 x 250 + 203 */
    CHECK_STR_EQ(f.last_selector, "sealift.dev/shard=a");
    json_t *o = sl_informer_get(inf, "ns1", "k0042");
    CHECK(o != NULL);
    /* managedFields are not kept in the cache */
    CHECK(json_object_get(json_object_get(o, "metadata"), "managedFields") == NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "spec"), "mode")),
                 "Generate");
    json_decref(o);

    /* the watch starts at the list's resourceVersion */
    WAIT_FOR(f.watch_calls >= 1);
    pthread_mutex_lock(&f.lock);
    CHECK_STR_EQ(f.last_watch_rv, "1303");
    pthread_mutex_unlock(&f.lock);

    /* watch events reach the cache and the handlers */
    json_t *n = fake_obj("ns1", "new", 1, "Generate");
    fake_lw_apply(&f, "ADDED", n, true);
    WAIT_FOR(get_count(&s, &s.adds) == 1204);
    CHECK_INT_EQ(get_count(&s, &s.adds), 1204);
    json_object_set_new(json_object_get(n, "spec"), "mode", json_string("Import"));
    fake_lw_apply(&f, "MODIFIED", n, true);
    WAIT_FOR(get_count(&s, &s.updates) == 1);
    CHECK_INT_EQ(get_count(&s, &s.updates), 1);
    CHECK(s.last_old_present);
    o = sl_informer_get_key(inf, "ns1/new");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "spec"), "mode")), "Import");
    json_decref(o);
    fake_lw_apply(&f, "DELETED", n, true);
    WAIT_FOR(get_count(&s, &s.deletes) == 1);
    CHECK_INT_EQ(get_count(&s, &s.deletes), 1);
    CHECK_STR_EQ(s.last_key, "ns1/new");
    CHECK(sl_informer_get_key(inf, "ns1/new") == NULL);
    json_decref(n);

    /* odd events are ignored */
    json_t *junk = json_pack("{s:i}", "x", 1);
    fake_lw_raw_event(&f, "ADDED", junk);
    json_decref(junk);
    junk = json_pack("{s:{s:s}}", "metadata", "resourceVersion", "5000");
    fake_lw_raw_event(&f, "BOOKMARK", junk);
    json_decref(junk);
    /* the bookmark moves the resume point: a normally ended watch resumes from there */
    WAIT_FOR(f.delivered == f.rv);
    int watches = f.watch_calls;
    fake_lw_end_watch(&f, 0);
    WAIT_FOR(f.watch_calls > watches);
    pthread_mutex_lock(&f.lock);
    CHECK_STR_EQ(f.last_watch_rv, "5000");
    pthread_mutex_unlock(&f.lock);
    CHECK_INT_EQ(f.list_calls, 1);
    CHECK_INT_EQ(sl_informer_count(inf), 1203);

    json_t *all = sl_informer_list(inf);
    CHECK_INT_EQ(json_array_size(all), 1203);
    json_decref(all);
    sl_informer_stop(inf);
    sl_informer_free(inf);
    fake_lw_destroy(&f);
}

static void relist_case(int code)
{
    struct fake_lw f;
    fake_lw_init(&f);
    json_t *a = fake_obj("ns", "a", 1, "Generate");
    json_t *b = fake_obj("ns", "b", 1, "Generate");
    json_t *c = fake_obj("ns", "c", 1, "Generate");
    fake_lw_apply(&f, "ADDED", a, false);
    fake_lw_apply(&f, "ADDED", b, false);
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_informer *inf = make(&f, &s, NULL);
    CHECK_INT_EQ(sl_informer_start(inf, NULL), 0);
    CHECK(sl_informer_wait_synced(inf, 5000));
    WAIT_FOR(f.watching);
    CHECK_INT_EQ(get_count(&s, &s.adds), 2);
    /* while the watch is "disconnected": b goes away, a changes, c appears */
    fake_lw_apply(&f, "DELETED", b, false);
    json_object_set_new(json_object_get(a, "spec"), "mode", json_string("Import"));
    fake_lw_apply(&f, "MODIFIED", a, false);
    fake_lw_apply(&f, "ADDED", c, false);
    fake_lw_end_watch(&f, code);
    WAIT_FOR(f.list_calls == 2 && get_count(&s, &s.deletes) == 1);
    CHECK_INT_EQ(f.list_calls, 2);
    CHECK_INT_EQ(sl_informer_list_count(inf), 2);
    CHECK_INT_EQ(get_count(&s, &s.deletes), 1);
    WAIT_FOR(get_count(&s, &s.adds) == 3 && get_count(&s, &s.updates) == 1);
    CHECK_INT_EQ(get_count(&s, &s.adds), 3);
    CHECK_INT_EQ(get_count(&s, &s.updates), 1);
    CHECK(sl_informer_get_key(inf, "ns/b") == NULL);
    json_t *got = sl_informer_get_key(inf, "ns/a");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "spec"), "mode")),
                 "Import");
    json_decref(got);
    CHECK_INT_EQ(sl_informer_count(inf), 2);
    sl_informer_free(inf); /* stops */
    json_decref(a);
    json_decref(b);
    json_decref(c);
    fake_lw_destroy(&f);
}

static void test_relist_on_gone(void)
{
    relist_case(SL_EGONE);
}

static void test_relist_on_dropped_connection(void)
{
    relist_case(SL_ERETRY);
}

static void test_expired_continue_token(void)
{
    struct fake_lw f;
    fake_lw_init(&f);
    char name[32];
    for (int i = 0; i < 1100; i++) {
        snprintf(name, sizeof(name), "k%04d", i);
        json_t *o = fake_obj("ns1", name, 1, "Generate");
        fake_lw_apply(&f, "ADDED", o, false);
        json_decref(o);
    }
    f.expire_continue = true;
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_informer *inf = make(&f, &s, NULL);
    CHECK_INT_EQ(sl_informer_start(inf, NULL), 0);
    CHECK(sl_informer_wait_synced(inf, 5000));
    /* first page, expired second page, then one unpaginated list */
    CHECK_INT_EQ(f.unpaged_lists, 1);
    CHECK_INT_EQ(sl_informer_count(inf), 1100);
    CHECK_INT_EQ(get_count(&s, &s.adds), 1100);
    CHECK_INT_EQ(sl_informer_list_count(inf), 1);
    sl_informer_free(inf);
    fake_lw_destroy(&f);
}

static void fill(struct fake_lw *f, int n)
{
    char name[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "k%04d", i);
        json_t *o = fake_obj("ns1", name, 1, "Generate");
        fake_lw_apply(f, "ADDED", o, false);
        json_decref(o);
    }
}

/* While the list is on its second page: k0001 (already listed) is deleted, k0002 changes. */
static void change_midlist(struct fake_lw *f, void *ctx)
{
    (void)ctx;
    if (f->list_pages != 1)
        return;
    json_t *gone = fake_obj("ns1", "k0001", 1, "Generate");
    fake_lw_apply(f, "DELETED", gone, false);
    json_decref(gone);
    json_t *changed = fake_obj("ns1", "k0002", 2, "Import");
    fake_lw_apply(f, "MODIFIED", changed, false);
    json_decref(changed);
}

/* A list restarted on 410 Gone ends with the server's state, and the handlers hear of what
 * changed since the abandoned pages: a delete for the object that went away, an update for the
 * one that changed. */
static void test_restarted_list_ends_with_right_cache(void)
{
    struct fake_lw f;
    fake_lw_init(&f);
    fill(&f, 1100);
    f.expire_continue = true;
    f.on_continue = change_midlist;
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_informer *inf = make(&f, &s, NULL);
    CHECK_INT_EQ(sl_informer_start(inf, NULL), 0);
    CHECK(sl_informer_wait_synced(inf, 5000));
    CHECK_INT_EQ(f.unpaged_lists, 1);
    CHECK_INT_EQ(sl_informer_count(inf), 1099);
    CHECK(sl_informer_get_key(inf, "ns1/k0001") == NULL);
    json_t *got = sl_informer_get_key(inf, "ns1/k0002");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "spec"), "mode")),
                 "Import");
    json_decref(got);
    CHECK_INT_EQ(get_count(&s, &s.adds), 1100);
    CHECK_INT_EQ(get_count(&s, &s.updates), 1);
    CHECK_INT_EQ(get_count(&s, &s.deletes), 1);
    CHECK_INT_EQ(sl_informer_list_count(inf), 1);
    sl_informer_free(inf);
    fake_lw_destroy(&f);
}

/* A list whose second page fails is retried whole; every object reaches the handlers once. */
static void test_failed_page_retried_without_repeats(void)
{
    struct fake_lw f;
    fake_lw_init(&f);
    fill(&f, 1100);
    f.fail_continue = SL_ERETRY;
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_informer *inf = make(&f, &s, NULL);
    CHECK_INT_EQ(sl_informer_start(inf, NULL), 0);
    CHECK(sl_informer_wait_synced(inf, 5000));
    CHECK_INT_EQ(f.list_calls, 2);
    CHECK_INT_EQ(sl_informer_count(inf), 1100);
    CHECK_INT_EQ(get_count(&s, &s.adds), 1100);
    CHECK_INT_EQ(get_count(&s, &s.updates), 0);
    CHECK_INT_EQ(get_count(&s, &s.deletes), 0);
    sl_informer_free(inf);
    fake_lw_destroy(&f);
}

struct adds_at_page {
    struct seen *s;
    int adds[5]; /* handler adds seen when page i (1-based) was asked for */
};

static void note_adds(struct fake_lw *f, void *ctx)
{
    struct adds_at_page *a = ctx;
    /* list_pages counts the pages answered so far: this request is page list_pages + 1 */
    if (f->list_pages >= 1 && f->list_pages < 4)
        a->adds[f->list_pages + 1] = get_count(a->s, &a->s->adds);
}

/* The handlers hear of each page as it arrives, one page behind the requests: no list holds
 * more than two pages, and no whole-list change set is built before the first delivery. */
static void test_pages_delivered_as_they_arrive(void)
{
    struct fake_lw f;
    fake_lw_init(&f);
    fill(&f, 2 * SL_INFORMER_PAGE_LIMIT + 200);
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct adds_at_page a = {.s = &s};
    f.on_continue = note_adds;
    f.on_continue_ctx = &a;
    struct sl_informer *inf = make(&f, &s, NULL);
    CHECK_INT_EQ(sl_informer_start(inf, NULL), 0);
    CHECK(sl_informer_wait_synced(inf, 30000));
    CHECK_INT_EQ(f.list_pages, 3);
    /* page 3 is asked for only once page 1 reached the handlers (no more than two pages are
     * held), and page 1 reached them before the list ended. How much of page 2 they heard of
     * by then depends on when the prefetching thread runs (all of it on a loaded machine). */
    CHECK(a.adds[3] >= SL_INFORMER_PAGE_LIMIT);
    CHECK(a.adds[3] <= 2 * SL_INFORMER_PAGE_LIMIT);
    CHECK_INT_EQ(get_count(&s, &s.adds), 2 * SL_INFORMER_PAGE_LIMIT + 200);
    sl_informer_free(inf);
    fake_lw_destroy(&f);
}

static void test_key(void)
{
    char k[64];
    json_t *o = json_pack("{s:{s:s, s:s}}", "metadata", "name", "n", "namespace", "ns");
    CHECK_INT_EQ(sl_informer_key(k, sizeof(k), o), 0);
    CHECK_STR_EQ(k, "ns/n");
    json_decref(o);
    o = json_pack("{s:{s:s}}", "metadata", "name", "cluster");
    CHECK_INT_EQ(sl_informer_key(k, sizeof(k), o), 0);
    CHECK_STR_EQ(k, "cluster");
    json_decref(o);
    o = json_pack("[]");
    CHECK_INT_EQ(sl_informer_key(k, sizeof(k), o), SL_EINVAL);
    json_decref(o);
    o = json_pack("{s:{s:s}}", "metadata", "name",
                  "0123456789012345678901234567890123456789"
                  "0123456789012345678901234567890123456789");
    CHECK_INT_EQ(sl_informer_key(k, sizeof(k), o), SL_EINVAL);
    json_decref(o);
}

int main(void)
{
    RUN(test_key);
    RUN(test_list_pages_and_watch);
    RUN(test_relist_on_gone);
    RUN(test_relist_on_dropped_connection);
    RUN(test_expired_continue_token);
    RUN(test_restarted_list_ends_with_right_cache);
    RUN(test_failed_page_retried_without_repeats);
    RUN(test_pages_delivered_as_they_arrive);
    return CHECK_EXIT();
}
