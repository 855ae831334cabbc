/* Unit tests of controller/runtime/manager.c with a fake reconciler over an in-memory list/watch
 * source and the in-memory API server: results map to requeues and backoff, status-only updates
 * are not queued, deletes reconcile with no object, secondaries map to primaries, readiness,
 * leader election gates workers, graceful stop. */
#include "check.h"
#include "fake_kube.h"
#include "fake_lw.h"
#include "kube/client.h"
#include "runtime/manager.h"
#include "util/mem.h"

#include <ctype.h>

static const struct sl_kube_resource RES_KEY = {.group = "sealift.dev",
                                                .version = "v1alpha1",
                                                .plural = "signingkeys",
                                                .kind = "SigningKey",
                                                .namespaced = true};
static const struct sl_kube_resource RES_SECRET = {
    .group = "", .version = "v1", .plural = "secrets", .kind = "Secret", .namespaced = true};
static const struct sl_kube_resource *const SECONDARY[] = {&RES_SECRET, NULL};

#define MAX_KEYS 8

struct fake_rec {
    pthread_mutex_t lock;
    char keys[MAX_KEYS][64];
    int calls[MAX_KEYS];
    int null_obj_calls[MAX_KEYS];
    int in_flight, overlap;
    /* scripted results per key name: first `fail_times` calls TRANSIENT, then `then` */
    int fail_times[MAX_KEYS];
    enum sl_result_kind then[MAX_KEYS];
    int64_t requeue_ms[MAX_KEYS];
    bool bad_id;
    bool freed;
    int sleep_ms;
};

static int slot(struct fake_rec *r, const char *key)
{
    for (int i = 0; i < MAX_KEYS; i++) {
        if (strcmp(r->keys[i], key) == 0)
            return i;
        if (!r->keys[i][0]) {
            snprintf(r->keys[i], sizeof(r->keys[i]), "%s", key);
            return i;
        }
    }
    return MAX_KEYS - 1;
}

static void script(struct fake_rec *r, const char *key, int fail_times, enum sl_result_kind then,
                   int64_t requeue_ms)
{
    pthread_mutex_lock(&r->lock);
    int i = slot(r, key);
    r->fail_times[i] = fail_times;
    r->then[i] = then;
    r->requeue_ms[i] = requeue_ms;
    pthread_mutex_unlock(&r->lock);
}

static int calls(struct fake_rec *r, const char *key)
{
    pthread_mutex_lock(&r->lock);
    int v = r->calls[slot(r, key)];
    pthread_mutex_unlock(&r->lock);
    return v;
}

static int null_calls(struct fake_rec *r, const char *key)
{
    pthread_mutex_lock(&r->lock);
    int v = r->null_obj_calls[slot(r, key)];
    pthread_mutex_unlock(&r->lock);
    return v;
}

static int fake_reconcile(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                          struct sl_reconcile_result *out, struct sl_err *err)
{
    struct fake_rec *r = self;
    char key[80];
    snprintf(key, sizeof(key), "%s/%s", req->ns, req->name);
    pthread_mutex_lock(&r->lock);
    if (r->in_flight++ > 0)
        r->overlap++;
    int i = slot(r, key);
    int n = ++r->calls[i];
    if (!req->obj)
        r->null_obj_calls[i]++;
    if (!req->reconcile_id || strlen(req->reconcile_id) != 16 ||
        strcmp(req->log.reconcile_id, req->reconcile_id) != 0 ||
        strcmp(req->log.kind, "SigningKey") != 0)
        r->bad_id = true;
    for (const char *p = req->reconcile_id; p && *p; p++) {
        if (!isxdigit((unsigned char)*p))
            r->bad_id = true;
    }
    bool fail = n <= r->fail_times[i];
    enum sl_result_kind then = r->then[i];
    int64_t rq = r->requeue_ms[i];
    int sl = r->sleep_ms;
    pthread_mutex_unlock(&r->lock);
    if (sl)
        sleep_ms(sl);
    (void)rt;
    pthread_mutex_lock(&r->lock);
    r->in_flight--;
    pthread_mutex_unlock(&r->lock);
    if (fail)
        return sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "injected failure %d", n);
    out->kind = then;
    out->requeue_after_ms = rq;
    return 0;
}

/* Secrets named "<key>-key" belong to SigningKey "<key>". */
static void fake_map(void *self, const struct sl_kube_resource *res, const json_t *obj,
                     void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    (void)self;
    (void)res;
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!name || strlen(name) < 5 || strcmp(name + strlen(name) - 4, "-key") != 0)
        return;
    char owner[64];
    snprintf(owner, sizeof(owner), "%.*s", (int)(strlen(name) - 4), name);
    enqueue(qctx, ns, owner);
}

static void fake_free(void *self)
{
    struct fake_rec *r = self;
    r->freed = true;
}

static struct sl_reconciler make_reconciler(struct fake_rec *r)
{
    struct sl_reconciler rc = {.kind = "SigningKey",
                               .resource = &RES_KEY,
                               .self = r,
                               .reconcile = fake_reconcile,
                               .secondary = SECONDARY,
                               .map_secondary = fake_map,
                               .free = fake_free};
    return rc;
}

struct env {
    struct fake_lw lw;
    struct sl_fake_kube *fk;
    struct fake_rec rec;
    struct sl_reconciler r;
    struct sl_manager *m;
};

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    fake_lw_init(&e->lw);
    e->fk = sl_fake_kube_new();
    pthread_mutex_init(&e->rec.lock, NULL);
    e->r = make_reconciler(&e->rec);
}

static struct sl_manager *env_manager(struct env *e, bool leader_elect, const char *id)
{
    struct sl_manager_opts o = {.lw = fake_lw_iface(&e->lw),
                                .controller_namespace = "sealift-system",
                                .concurrency = 3,
                                .leader_elect = leader_elect,
                                .leader_identity = id,
                                .lease_duration_ms = 1000,
                                .renew_deadline_ms = 600,
                                .retry_period_ms = 50,
                                .shutdown_timeout_ms = 5000};
    sl_fake_kube_ops(e->fk, &o.kube);
    struct sl_manager *m = NULL;
    CHECK_INT_EQ(sl_manager_new(&m, &o, NULL), 0);
    return m;
}

static void env_destroy(struct env *e)
{
    sl_fake_kube_free(e->fk);
    fake_lw_destroy(&e->lw);
}

static void put(struct env *e, const char *type, const char *name, long long gen, const char *mode)
{
    json_t *o = fake_obj("ns", name, gen, mode);
    fake_lw_apply(&e->lw, type, o, true);
    json_decref(o);
}

static void test_results_and_events(void)
{
    struct env e;
    env_init(&e);
    put(&e, "ADDED", "plain", 1, "Generate");
    put(&e, "ADDED", "flaky", 1, "Generate");
    put(&e, "ADDED", "stalled", 1, "Generate");
    put(&e, "ADDED", "interval", 1, "Generate");
    put(&e, "ADDED", "waiting", 1, "Generate");
    script(&e.rec, "ns/flaky", 3, SL_RESULT_DONE, 0);
    script(&e.rec, "ns/stalled", 0, SL_RESULT_STALLED, 0);
    script(&e.rec, "ns/interval", 0, SL_RESULT_DONE, 30);
    script(&e.rec, "ns/waiting", 0, SL_RESULT_WAITING, 20);
    struct sl_manager *m = env_manager(&e, false, NULL);
    CHECK_INT_EQ(sl_manager_add(m, &e.r, NULL), 0);
    /* a second reconciler for the same kind is refused (and its free is called) */
    struct fake_rec other = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_reconciler dup = make_reconciler(&other);
    CHECK_INT_EQ(sl_manager_add(m, &dup, NULL), SL_EINVAL);
    CHECK(other.freed);
    CHECK(!sl_manager_ready(m));
    CHECK_INT_EQ(sl_manager_start(m, NULL), 0);
    WAIT_FOR(sl_manager_ready(m));
    CHECK(sl_manager_ready(m));
    CHECK(sl_manager_is_leader(m));
    CHECK(sl_manager_http(m) == NULL);
    CHECK(sl_manager_runtime(m)->record_event != NULL);
    CHECK_STR_EQ(sl_manager_runtime(m)->controller_namespace, "sealift-system");

    WAIT_FOR(calls(&e.rec, "ns/flaky") == 4);
    CHECK_INT_EQ(calls(&e.rec, "ns/flaky"), 4); /* 3 transient failures, retried with backoff */
    WAIT_FOR(calls(&e.rec, "ns/interval") >= 3);
    CHECK(calls(&e.rec, "ns/interval") >= 3); /* DONE + requeue_after comes back */
    WAIT_FOR(calls(&e.rec, "ns/waiting") >= 2);
    CHECK(calls(&e.rec, "ns/waiting") >= 2);
    CHECK_INT_EQ(calls(&e.rec, "ns/plain"), 1);
    CHECK_INT_EQ(calls(&e.rec, "ns/stalled"), 1);

    /* a status-only update (same generation) is not queued; a spec change is */
    json_t *o = fake_obj("ns", "plain", 1, "Generate");
    json_object_set_new(o, "status", json_pack("{s:i}", "observedGeneration", 1));
    fake_lw_apply(&e.lw, "MODIFIED", o, true);
    json_decref(o);
    put(&e, "MODIFIED", "stalled", 2, "Import");
    WAIT_FOR(calls(&e.rec, "ns/stalled") == 2);
    CHECK_INT_EQ(calls(&e.rec, "ns/stalled"), 2);
    CHECK_INT_EQ(calls(&e.rec, "ns/plain"), 1);

    /* a Secret named after the key maps to it */
    json_t *sec = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Secret",
                            "metadata", "name", "plain-key", "namespace", "ns");
    fake_lw_apply(&e.lw, "ADDED", sec, true);
    json_decref(sec);
    WAIT_FOR(calls(&e.rec, "ns/plain") == 2);
    CHECK_INT_EQ(calls(&e.rec, "ns/plain"), 2);

    /* explicit enqueue through the runtime services */
    struct sl_runtime *rt = sl_manager_runtime(m);
    rt->enqueue(rt->enqueue_ctx, "SigningKey", "ns", "plain");
    rt->enqueue(rt->enqueue_ctx, "NoSuchKind", "ns", "plain");
    WAIT_FOR(calls(&e.rec, "ns/plain") == 3);
    CHECK_INT_EQ(calls(&e.rec, "ns/plain"), 3);

    /* delete: reconciled once more, with no object */
    put(&e, "DELETED", "plain", 1, "Generate");
    WAIT_FOR(null_calls(&e.rec, "ns/plain") == 1);
    CHECK_INT_EQ(null_calls(&e.rec, "ns/plain"), 1);

    CHECK(sl_manager_informer(m, "SigningKey") != NULL);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    int after = calls(&e.rec, "ns/interval");
    sleep_ms(80);
    CHECK_INT_EQ(calls(&e.rec, "ns/interval"), after); /* nothing runs after stop */
    CHECK(!e.rec.bad_id);
    sl_manager_free(m);
    CHECK(e.rec.freed);
    env_destroy(&e);
}

/* The Secret informer keeps metadata only: 100 large unrelated Secrets (Helm releases) add no
 * key material and almost no memory, and a change of a used Secret still queues its owner. */
static void test_secret_cache_holds_metadata_only(void)
{
    struct env e;
    env_init(&e);
    put(&e, "ADDED", "plain", 1, "Generate");
    char *big = sl_xmalloc(64 * 1024 + 1);
    memset(big, 'A', 64 * 1024);
    big[64 * 1024] = '\0';
    for (int i = 0; i < 100; i++) {
        char name[64];
        snprintf(name, sizeof(name), "sh.helm.release.v1.app%d.v1", i);
        json_t *sec = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}, s:s}", "apiVersion", "v1",
                                "kind", "Secret", "metadata", "name", name, "namespace", "ns",
                                "data", "release", big, "type", "helm.sh/release.v1");
        fake_lw_apply(&e.lw, "ADDED", sec, false);
        json_decref(sec);
    }
    json_t *key = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                            "Secret", "metadata", "name", "plain-key", "namespace", "ns", "data",
                            "private.pem", "c2VjcmV0LWtleS1tYXRlcmlhbA==");
    fake_lw_apply(&e.lw, "ADDED", key, false);
    struct sl_manager *m = env_manager(&e, false, NULL);
    CHECK_INT_EQ(sl_manager_add(m, &e.r, NULL), 0);
    CHECK_INT_EQ(sl_manager_start(m, NULL), 0);
    WAIT_FOR(sl_manager_ready(m));
    struct sl_informer *inf = sl_manager_informer(m, "Secret");
    CHECK(inf != NULL);
    CHECK_INT_EQ(sl_informer_count(inf), 101);
    json_t *all = sl_informer_list(inf);
    size_t bytes = 0, with_data = 0;
    size_t i;
    json_t *obj;
    json_array_foreach(all, i, obj)
    {
        if (json_object_get(obj, "data") || json_object_get(obj, "type"))
            with_data++;
        char *text = json_dumps(obj, JSON_COMPACT);
        bytes += text ? strlen(text) : 0;
        free(text);
    }
    json_decref(all);
    CHECK_INT_EQ(with_data, 0);
    CHECK(bytes < 101 * 300); /* 6.4 MiB of Secret data, a few KiB of metadata */
    json_t *cached = sl_informer_get(inf, "ns", "plain-key");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(cached, "metadata"), "name")),
                 "plain-key");
    CHECK(json_object_get(cached, "data") == NULL);
    json_decref(cached);

    /* the Secret a SigningKey uses changes: the SigningKey is reconciled again */
    WAIT_FOR(calls(&e.rec, "ns/plain") >= 1);
    int before = calls(&e.rec, "ns/plain");
    json_object_set_new(json_object_get(key, "data"), "private.pem", json_string("bmV3"));
    fake_lw_apply(&e.lw, "MODIFIED", key, true);
    WAIT_FOR(calls(&e.rec, "ns/plain") > before);
    CHECK(calls(&e.rec, "ns/plain") > before);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    sl_manager_free(m);
    json_decref(key);
    free(big);
    env_destroy(&e);
}

static void test_same_key_never_concurrent(void)
{
    struct env e;
    env_init(&e);
    e.rec.sleep_ms = 5;
    put(&e, "ADDED", "busy", 1, "Generate");
    script(&e.rec, "ns/busy", 0, SL_RESULT_REQUEUE, 0);
    struct sl_manager *m = env_manager(&e, false, NULL);
    CHECK_INT_EQ(sl_manager_add(m, &e.r, NULL), 0);
    CHECK_INT_EQ(sl_manager_start(m, NULL), 0);
    WAIT_FOR(calls(&e.rec, "ns/busy") >= 10);
    CHECK(calls(&e.rec, "ns/busy") >= 10);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    /* one key, three workers, always requeued: still one reconcile at a time */
    CHECK_INT_EQ(e.rec.overlap, 0);
    sl_manager_free(m);
    env_destroy(&e);
}

static void test_leader_election_gates_workers(void)
{
    struct env e;
    env_init(&e);
    put(&e, "ADDED", "led", 1, "Generate");
    struct fake_rec rec2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sl_reconciler r2 = make_reconciler(&rec2);
    struct sl_manager *a = env_manager(&e, true, "a");
    struct sl_manager *b = env_manager(&e, true, "b");
    CHECK_INT_EQ(sl_manager_add(a, &e.r, NULL), 0);
    CHECK_INT_EQ(sl_manager_add(b, &r2, NULL), 0);
    CHECK_INT_EQ(sl_manager_start(a, NULL), 0);
    WAIT_FOR(sl_manager_is_leader(a));
    CHECK(sl_manager_is_leader(a));
    CHECK_INT_EQ(sl_manager_start(b, NULL), 0);
    WAIT_FOR(sl_manager_ready(b));
    CHECK(sl_manager_ready(b)); /* ready without leading */
    WAIT_FOR(calls(&e.rec, "ns/led") == 1);
    CHECK_INT_EQ(calls(&e.rec, "ns/led"), 1);
    sleep_ms(100);
    CHECK(!sl_manager_is_leader(b));
    CHECK_INT_EQ(calls(&rec2, "ns/led"), 0);
    /* a stops and releases; b takes over and works its queue */
    CHECK_INT_EQ(sl_manager_stop(a), 0);
    WAIT_FOR(sl_manager_is_leader(b));
    CHECK(sl_manager_is_leader(b));
    WAIT_FOR(calls(&rec2, "ns/led") == 1);
    CHECK_INT_EQ(calls(&rec2, "ns/led"), 1);
    CHECK_INT_EQ(sl_manager_stop(b), 0);
    sl_manager_free(a);
    sl_manager_free(b);
    env_destroy(&e);
}

/* Two shards with leader election lead at the same time, each through its own Lease. */
static void test_each_shard_elects_its_own_leader(void)
{
    struct env e;
    env_init(&e);
    struct sl_manager *m[2] = {NULL, NULL};
    const char *shards[2] = {"blue", "green"};
    for (int i = 0; i < 2; i++) {
        struct sl_manager_opts o = {.lw = fake_lw_iface(&e.lw),
                                    .controller_namespace = "sealift-system",
                                    .shard = shards[i],
                                    .leader_elect = true,
                                    .leader_identity = shards[i],
                                    .lease_duration_ms = 1000,
                                    .renew_deadline_ms = 600,
                                    .retry_period_ms = 50,
                                    .shutdown_timeout_ms = 5000};
        sl_fake_kube_ops(e.fk, &o.kube);
        CHECK_INT_EQ(sl_manager_new(&m[i], &o, NULL), 0);
        CHECK_INT_EQ(sl_manager_start(m[i], NULL), 0);
    }
    WAIT_FOR(sl_manager_is_leader(m[0]) && sl_manager_is_leader(m[1]));
    CHECK(sl_manager_is_leader(m[0]));
    CHECK(sl_manager_is_leader(m[1]));
    json_t *blue =
        sl_fake_kube_find(e.fk, &SL_RES_LEASE, "sealift-system", "sealift-controller-blue");
    json_t *green =
        sl_fake_kube_find(e.fk, &SL_RES_LEASE, "sealift-system", "sealift-controller-green");
    CHECK(blue != NULL);
    CHECK(green != NULL);
    if (blue && green) {
        CHECK_STR_EQ(
            json_string_value(json_object_get(json_object_get(blue, "spec"), "holderIdentity")),
            "blue");
        CHECK_STR_EQ(
            json_string_value(json_object_get(json_object_get(green, "spec"), "holderIdentity")),
            "green");
    }
    CHECK(sl_fake_kube_find(e.fk, &SL_RES_LEASE, "sealift-system", "sealift-controller") == NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_INT_EQ(sl_manager_stop(m[i]), 0);
        sl_manager_free(m[i]);
    }
    env_destroy(&e);
}

static const struct sl_kube_resource RES_LEASE = {.group = "coordination.k8s.io",
                                                  .version = "v1",
                                                  .plural = "leases",
                                                  .kind = "Lease",
                                                  .namespaced = true};

/* Starts a manager with leader election for shard (NULL: unsharded) and waits until it leads. */
static struct sl_manager *start_shard(struct env *e, const char *shard)
{
    struct sl_manager_opts o = {.lw = fake_lw_iface(&e->lw),
                                .controller_namespace = "sealift-system",
                                .shard = shard,
                                .leader_elect = true,
                                .leader_identity = "me",
                                .lease_duration_ms = 1000,
                                .renew_deadline_ms = 600,
                                .retry_period_ms = 50};
    sl_fake_kube_ops(e->fk, &o.kube);
    struct sl_manager *m = NULL;
    CHECK_INT_EQ(sl_manager_new(&m, &o, NULL), 0);
    CHECK_INT_EQ(sl_manager_add(m, &e->r, NULL), 0);
    CHECK_INT_EQ(sl_manager_start(m, NULL), 0);
    WAIT_FOR(sl_manager_ready(m) && sl_manager_is_leader(m));
    CHECK(sl_manager_is_leader(m));
    return m;
}

static const char *lease_holder(struct env *e, const char *name)
{
    json_t *lease = sl_fake_kube_find(e->fk, &RES_LEASE, "sealift-system", name);
    return json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
}

/* A shard lists its primaries by its label value and leads on its own Lease; secondaries are
 * listed whole (a shard's delivery may use any Secret). */
static void test_shard_selects_primaries_only(void)
{
    struct env e;
    env_init(&e);
    struct sl_manager *m = start_shard(&e, "blue");
    pthread_mutex_lock(&e.lw.lock);
    CHECK_STR_EQ(json_string_value(json_object_get(e.lw.selectors, "SigningKey")),
                 "sealift.dev/shard=blue");
    CHECK_STR_EQ(json_string_value(json_object_get(e.lw.selectors, "Secret")), "");
    pthread_mutex_unlock(&e.lw.lock);
    CHECK_STR_EQ(lease_holder(&e, "sealift-controller-blue"), "me");
    CHECK(sl_fake_kube_find(e.fk, &RES_LEASE, "sealift-system", "sealift-controller") == NULL);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    sl_manager_free(m);
    env_destroy(&e);
}

/* The unsharded controller leaves labelled objects to their shards: its primaries are listed
 * with "!sealift.dev/shard", and it leads on the plain Lease. */
static void test_unsharded_leaves_labelled_objects(void)
{
    struct env e;
    env_init(&e);
    struct sl_manager *m = start_shard(&e, NULL);
    pthread_mutex_lock(&e.lw.lock);
    CHECK_STR_EQ(json_string_value(json_object_get(e.lw.selectors, "SigningKey")),
                 "!sealift.dev/shard");
    CHECK_STR_EQ(json_string_value(json_object_get(e.lw.selectors, "Secret")), "");
    pthread_mutex_unlock(&e.lw.lock);
    CHECK_STR_EQ(lease_holder(&e, "sealift-controller"), "me");
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    sl_manager_free(m);
    env_destroy(&e);
}

static json_t *shard_obj(const char *name, const char *shard)
{
    json_t *o = fake_obj("ns", name, 1, "Generate");
    json_object_set_new(json_object_get(o, "metadata"), "labels",
                        json_pack("{s:s}", "sealift.dev/shard", shard));
    return o;
}

/* An object relabelled to another shard leaves this shard's cache like a deleted one, but it
 * still exists: the shard lets go without the reconciler's deletion path (which for a
 * DeployPolicy deletes what it rendered). An object really deleted still goes through it. */
static void test_relabelled_object_let_go_not_deleted(void)
{
    struct env e;
    env_init(&e);
    json_t *moved = shard_obj("moved", "blue"), *gone = shard_obj("gone", "blue");
    fake_lw_apply(&e.lw, "ADDED", moved, true);
    fake_lw_apply(&e.lw, "ADDED", gone, true);
    struct sl_manager *m = start_shard(&e, "blue");
    WAIT_FOR(calls(&e.rec, "ns/moved") == 1 && calls(&e.rec, "ns/gone") == 1);
    CHECK_INT_EQ(calls(&e.rec, "ns/moved"), 1);
    /* "moved" now carries shard red in the API; its watch event here is a DELETED */
    json_t *red = shard_obj("moved", "red");
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &RES_KEY, red), 0);
    fake_lw_apply(&e.lw, "DELETED", moved, true);
    /* "gone" is deleted for real (not in the API) */
    fake_lw_apply(&e.lw, "DELETED", gone, true);
    WAIT_FOR(null_calls(&e.rec, "ns/gone") == 1);
    CHECK_INT_EQ(null_calls(&e.rec, "ns/gone"), 1);
    sleep_ms(100);
    CHECK_INT_EQ(null_calls(&e.rec, "ns/moved"), 0);
    CHECK_INT_EQ(calls(&e.rec, "ns/moved"), 1);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    sl_manager_free(m);
    json_decref(red);
    json_decref(moved);
    json_decref(gone);
    env_destroy(&e);
}

/* A custom resource used as a secondary (a SigningKey a delivery signs with) is cached as
 * metadata only, so each shard does not hold the spec of every object in the cluster; its
 * changes still queue the primaries that use it. */
static const struct sl_kube_resource RES_DELIVERY = {.group = "sealift.dev",
                                                     .version = "v1alpha1",
                                                     .plural = "imagedeliveries",
                                                     .kind = "ImageDelivery",
                                                     .namespaced = true};
static const struct sl_kube_resource *const KEY_SECONDARY[] = {&RES_KEY, NULL};

static void test_secondary_custom_resource_metadata_only(void)
{
    struct env e;
    env_init(&e);
    put(&e, "ADDED", "plain-key", 1, "Generate");
    e.r.kind = "ImageDelivery";
    e.r.resource = &RES_DELIVERY;
    e.r.secondary = KEY_SECONDARY;
    struct sl_manager *m = start_shard(&e, "blue");
    struct sl_informer *inf = sl_manager_informer(m, "SigningKey");
    CHECK(inf != NULL);
    json_t *cached = sl_informer_get(inf, "ns", "plain-key");
    CHECK(cached != NULL);
    CHECK(json_object_get(cached, "spec") == NULL);
    json_decref(cached);
    pthread_mutex_lock(&e.lw.lock);
    CHECK_STR_EQ(json_string_value(json_object_get(e.lw.selectors, "SigningKey")), "");
    pthread_mutex_unlock(&e.lw.lock);
    /* the key changes: the delivery that uses it ("plain", by fake_map) is queued */
    put(&e, "MODIFIED", "plain-key", 2, "Import");
    WAIT_FOR(calls(&e.rec, "ns/plain") >= 1);
    CHECK(calls(&e.rec, "ns/plain") >= 1);
    CHECK_INT_EQ(sl_manager_stop(m), 0);
    sl_manager_free(m);
    env_destroy(&e);
}

static void test_bad_options(void)
{
    struct sl_manager *m = NULL;
    struct sl_manager_opts o = {0};
    CHECK_INT_EQ(sl_manager_new(&m, &o, NULL), SL_EINVAL);
    char id[17];
    sl_manager_reconcile_id(id, sizeof(id));
    CHECK_INT_EQ(strlen(id), 16);
    char id2[17];
    sl_manager_reconcile_id(id2, sizeof(id2));
    CHECK(strcmp(id, id2) != 0);
}

int main(void)
{
    RUN(test_bad_options);
    RUN(test_results_and_events);
    RUN(test_secret_cache_holds_metadata_only);
    RUN(test_shard_selects_primaries_only);
    RUN(test_each_shard_elects_its_own_leader);
    RUN(test_unsharded_leaves_labelled_objects);
    RUN(test_secondary_custom_resource_metadata_only);
    RUN(test_relabelled_object_let_go_not_deleted);
    RUN(test_same_key_never_concurrent);
    RUN(test_leader_election_gates_workers);
    return CHECK_EXIT();
}
