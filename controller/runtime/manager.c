#include "runtime/manager.h"

#include "runtime/events.h"
#include "runtime/kindstats.h"
#include "runtime/leader.h"
#include "runtime/metrics.h"
#include "runtime/outcome.h"
#include "runtime/workqueue.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define KEY_MAX 600
/* WAITING without a delay looks again after this long */
#define DEFAULT_WAIT_MS 10000

struct controller;

/* Who hears about changes of one informer's objects. */
struct subscriber {
    struct controller *ctl;
    bool primary;
};

struct informer_entry {
    struct sl_manager *m;
    const struct sl_kube_resource *res;
    char *selector;     /* NULL for none */
    bool metadata_only; /* secondary resources: reconcilers map them by name, read them by GET */
    struct sl_informer *inf;
    struct subscriber *subs;
    size_t nsubs;
    struct sl_kindstats *stats; /* per-kind status gauges, for a reconciler's primary kind */
};

struct controller {
    struct sl_manager *m;
    struct sl_reconciler *r;
    struct sl_workqueue *q;
    struct informer_entry *primary;
    struct sl_worker_pool *pool;
};

struct sl_manager {
    struct sl_kube_ops kube;
    struct sl_list_watcher lw;
    char *controller_ns, *watch_ns, *shard, *shard_selector, *lease_name, *leader_identity;
    char *webhook_addr, *webhook_cert_dir;
    struct sl_metrics *metrics;
    int concurrency;
    bool leader_elect;
    int64_t lease_duration_ms, renew_deadline_ms, retry_period_ms;
    int64_t shutdown_timeout_ms;

    struct controller **ctls;
    size_t nctls;
    struct informer_entry **entries;
    size_t nentries;

    struct sl_event_recorder *events;
    struct sl_leader *leader;
    struct sl_runtime rt;
    struct sl_http_server *http;

    pthread_mutex_t lock; /* guards leading / stopping / started / stopped */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC; signalled when leading or stopping changes */
    bool leading;
    bool stopping;
    bool started;
    bool stopped;
    int stop_rc;
};

/* ---- helpers ---- */

void sl_manager_reconcile_id(char *out, size_t n)
{
    unsigned char b[8];
    if (n < 17) {
        if (n)
            out[0] = '\0';
        return;
    }
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = (uint64_t)sl_mono_ms() * 6364136223846793005ULL + (uint64_t)(uintptr_t)out;
        memcpy(b, &t, sizeof(b));
    }
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void set_depth(struct controller *c)
{
    sl_metrics_queue_depth_set(c->m->metrics, c->r->kind, sl_workqueue_depth(c->q));
}

static void enqueue_key(struct controller *c, const char *ns, const char *name)
{
    char key[KEY_MAX];
    if (!name || !*name)
        return;
    int w = c->r->resource->namespaced && ns && *ns ? snprintf(key, sizeof(key), "%s/%s", ns, name)
                                                    : snprintf(key, sizeof(key), "%s", name);
    if (w < 0 || (size_t)w >= sizeof(key))
        return;
    sl_workqueue_add(c->q, key);
    set_depth(c);
}

static void enqueue_from_map(void *qctx, const char *ns, const char *name)
{
    enqueue_key(qctx, ns, name);
}

static void runtime_enqueue(void *ctx, const char *kind, const char *ns, const char *name)
{
    sl_manager_enqueue(ctx, kind, ns, name);
}

void sl_manager_enqueue(struct sl_manager *m, const char *kind, const char *ns, const char *name)
{
    for (size_t i = 0; kind && i < m->nctls; i++) {
        if (strcmp(m->ctls[i]->r->kind, kind) == 0) {
            enqueue_key(m->ctls[i], ns, name);
            return;
        }
    }
}

/* ---- informer handlers ---- */

static void notify(struct informer_entry *e, const json_t *obj)
{
    for (size_t i = 0; i < e->nsubs; i++) {
        struct subscriber *s = &e->subs[i];
        if (s->primary) {
            json_t *meta = json_object_get(obj, "metadata");
            enqueue_key(s->ctl, json_string_value(json_object_get(meta, "namespace")),
                        json_string_value(json_object_get(meta, "name")));
        } else if (s->ctl->r->map_secondary) {
            s->ctl->r->map_secondary(s->ctl->r->self, e->res, obj, enqueue_from_map, s->ctl);
        }
    }
}

static bool json_field_equal(const json_t *a, const json_t *b, const char *k)
{
    json_t *x = json_object_get(a, k), *y = json_object_get(b, k);
    if (!x || !y)
        return x == y;
    return json_equal(x, y);
}

/* True when the update touched only status (and server bookkeeping). */
static bool status_only_update(const json_t *old_obj, const json_t *new_obj)
{
    json_t *om = json_object_get(old_obj, "metadata"), *nm = json_object_get(new_obj, "metadata");
    if (!json_is_integer(json_object_get(om, "generation")) ||
        !json_is_integer(json_object_get(nm, "generation")))
        return false;
    static const char *const fields[] = {"generation",        "labels", "annotations", "finalizers",
                                         "deletionTimestamp", "uid"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!json_field_equal(om, nm, fields[i]))
            return false;
    }
    return true;
}

static void on_add(void *ctx, const json_t *obj)
{
    struct informer_entry *e = ctx;
    if (e->stats)
        sl_kindstats_observe(e->stats, NULL, obj);
    notify(ctx, obj);
}

static void on_update(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    struct informer_entry *e = ctx;
    if (e->stats)
        sl_kindstats_observe(e->stats, old_obj, new_obj);
    bool status_only = status_only_update(old_obj, new_obj);
    for (size_t i = 0; i < e->nsubs; i++) {
        struct subscriber *s = &e->subs[i];
        if (s->primary && status_only)
            continue;
        struct informer_entry one = *e;
        one.subs = s;
        one.nsubs = 1;
        notify(&one, new_obj);
    }
}

static void on_delete(void *ctx, const json_t *obj)
{
    struct informer_entry *e = ctx;
    if (e->stats)
        sl_kindstats_observe(e->stats, obj, NULL);
    notify(ctx, obj);
}

/* ---- construction ---- */

int sl_manager_new(struct sl_manager **out, const struct sl_manager_opts *opts, struct sl_err *err)
{
    if (!opts || !opts->controller_namespace || !*opts->controller_namespace || !opts->kube.get ||
        !opts->lw.list || !opts->lw.watch)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "manager needs API access and a controller namespace");
    struct sl_manager *m = sl_xcalloc(1, sizeof(*m));
    m->kube = opts->kube;
    m->lw = opts->lw;
    m->controller_ns = sl_xstrdup(opts->controller_namespace);
    m->watch_ns =
        opts->watch_namespace && *opts->watch_namespace ? sl_xstrdup(opts->watch_namespace) : NULL;
    /* Flux's convention: a shard sees only its label value, the unsharded controller only
     * objects without the label, so every object has exactly one owner; each shard elects its
     * leader on its own Lease */
    bool sharded = opts->shard && *opts->shard;
    m->shard = sharded ? sl_xstrdup(opts->shard) : NULL;
    m->shard_selector = sharded ? sl_xasprintf("%s=%s", SL_SHARD_LABEL, opts->shard)
                                : sl_xasprintf("!%s", SL_SHARD_LABEL);
    m->lease_name = sharded ? sl_xasprintf("%s-%s", SL_LEADER_LEASE_NAME, opts->shard)
                            : sl_xstrdup(SL_LEADER_LEASE_NAME);
    m->leader_identity = opts->leader_identity ? sl_xstrdup(opts->leader_identity) : NULL;
    m->webhook_addr = opts->webhook_addr ? sl_xstrdup(opts->webhook_addr) : NULL;
    m->webhook_cert_dir = opts->webhook_cert_dir ? sl_xstrdup(opts->webhook_cert_dir) : NULL;
    m->metrics = opts->metrics;
    m->concurrency = opts->concurrency > 0 ? opts->concurrency : 2;
    m->leader_elect = opts->leader_elect;
    m->lease_duration_ms = opts->lease_duration_ms;
    m->renew_deadline_ms = opts->renew_deadline_ms;
    m->retry_period_ms = opts->retry_period_ms;
    m->shutdown_timeout_ms =
        opts->shutdown_timeout_ms > 0 ? opts->shutdown_timeout_ms : SL_MANAGER_SHUTDOWN_TIMEOUT_MS;
    m->events = sl_event_recorder_new(&m->kube, NULL, NULL);
    m->rt.kube = m->kube;
    m->rt.controller_namespace = m->controller_ns;
    m->rt.record_event = sl_event_record_cb;
    m->rt.event_ctx = m->events;
    m->rt.enqueue = runtime_enqueue;
    m->rt.metrics = m->metrics;
    m->rt.enqueue_ctx = m;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = m;
    return 0;
}

static bool same_resource(const struct sl_kube_resource *a, const struct sl_kube_resource *b)
{
    return a == b || (strcmp(a->group, b->group) == 0 && strcmp(a->plural, b->plural) == 0 &&
                      strcmp(a->version, b->version) == 0);
}

static struct informer_entry *entry_for(struct sl_manager *m, const struct sl_kube_resource *res,
                                        const char *selector, bool metadata_only)
{
    for (size_t i = 0; i < m->nentries; i++) {
        struct informer_entry *e = m->entries[i];
        bool same_sel = (!e->selector && !selector) ||
                        (e->selector && selector && strcmp(e->selector, selector) == 0);
        if (same_sel && e->metadata_only == metadata_only && same_resource(e->res, res))
            return e;
    }
    struct informer_entry *e = sl_xcalloc(1, sizeof(*e));
    e->m = m;
    e->res = res;
    e->selector = selector ? sl_xstrdup(selector) : NULL;
    e->metadata_only = metadata_only;
    m->entries = sl_xrealloc(m->entries, (m->nentries + 1) * sizeof(*m->entries));
    m->entries[m->nentries++] = e;
    return e;
}

static void subscribe(struct informer_entry *e, struct controller *c, bool primary)
{
    e->subs = sl_xrealloc(e->subs, (e->nsubs + 1) * sizeof(*e->subs));
    e->subs[e->nsubs++] = (struct subscriber){.ctl = c, .primary = primary};
}

int sl_manager_add(struct sl_manager *m, struct sl_reconciler *r, struct sl_err *err)
{
    int rc = 0;
    if (!r)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "no reconciler");
    if (!r->kind || !r->resource || !r->reconcile) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "reconciler without kind/resource");
        goto fail;
    }
    if (m->started) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "manager already started");
        goto fail;
    }
    for (size_t i = 0; i < m->nctls; i++) {
        if (strcmp(m->ctls[i]->r->kind, r->kind) == 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "two reconcilers for kind %s",
                            r->kind);
            goto fail;
        }
    }
    struct controller *c = sl_xcalloc(1, sizeof(*c));
    c->m = m;
    c->r = r;
    c->q = sl_workqueue_new(0, 0);
    c->primary = entry_for(m, r->resource, m->shard_selector, false);
    subscribe(c->primary, c, true);
    if (!c->primary->stats)
        c->primary->stats = sl_kindstats_new(r->kind, m->metrics);
    /* secondary objects (Secrets, SigningKeys, ScanPolicies a delivery uses) are not sharded:
     * a shard's delivery may use any of them, so they are watched without a selector, but
     * metadata only (map_secondary needs names and annotations, reconcilers GET what they use),
     * so N shards do not each hold every object of the cluster */
    for (size_t i = 0; r->secondary && r->secondary[i]; i++)
        subscribe(entry_for(m, r->secondary[i], NULL, true), c, false);
    m->ctls = sl_xrealloc(m->ctls, (m->nctls + 1) * sizeof(*m->ctls));
    m->ctls[m->nctls++] = c;
    return 0;
fail:
    sl_reconciler_free(r);
    return rc;
}

/* ---- workers ---- */

static const char *result_name(enum sl_result_kind k)
{
    switch (k) {
    case SL_RESULT_DONE:
        return "done";
    case SL_RESULT_REQUEUE:
        return "requeue";
    case SL_RESULT_STALLED:
        return "stalled";
    case SL_RESULT_WAITING:
        return "waiting";
    default:
        return "transient";
    }
}

/* Sets *moved when the object behind a key that left our cache still exists in the API under
 * another owner: its sealift.dev/shard label is not this controller's (relabelled to another
 * shard, or between a shard and the unsharded controller). Such an object must not go through
 * the reconciler's deletion path (a DeployPolicy's would delete its rendered admission policies
 * under the new owner). Returns 0 (*moved false when the object is gone), or the GET's error. */
static int check_moved(struct sl_manager *m, struct controller *c, const char *ns, const char *name,
                       bool *moved, struct sl_err *err)
{
    json_t *live = NULL;
    *moved = false;
    const struct sl_kube_resource *res = c->r->resource;
    int rc = m->kube.get(m->kube.ctx, &live, res, res->namespaced ? ns : NULL, name, err);
    if (rc == SL_ENOTFOUND) {
        rc = 0;
        goto done;
    }
    if (rc != 0)
        goto done;
    json_t *labels = json_object_get(json_object_get(live, "metadata"), "labels");
    const char *key = json_string_value(json_object_get(labels, SL_SHARD_LABEL));
    *moved = m->shard ? !key || strcmp(key, m->shard) != 0 : key != NULL;
done:
    json_decref(live);
    return rc;
}

/* For a key no longer in the cache: true when this controller is done with it without a
 * reconcile, because the object moved to another owner (let go) or the check failed (queued
 * again with backoff); false when it is gone and the reconciler's deletion path runs. */
static bool let_go(struct controller *c, const char *key, const char *ns, const char *name)
{
    struct sl_err err = {0};
    struct sl_log_ctx lc = {.kind = c->r->kind, .ns = ns, .name = name};
    bool moved = false;
    if (check_moved(c->m, c, ns, name, &moved, &err) != 0) {
        sl_workqueue_add_rate_limited(c->q, key);
        sl_log_kv(SL_LOG_WARN, &lc, "object left the cache; reading it to see where it went failed",
                  "error", err.msg, NULL);
        return true;
    }
    if (moved) {
        /* its new owner's watch has it already */
        sl_workqueue_forget(c->q, key);
        sl_log_kv(SL_LOG_INFO, &lc, "moved to another shard; letting go", NULL);
    }
    return moved;
}

static void process(struct controller *c, const char *key)
{
    struct sl_manager *m = c->m;
    char ns[KEY_MAX] = "", id[17];
    const char *name = key;
    const char *slash = strchr(key, '/');
    if (slash) {
        size_t n = (size_t)(slash - key);
        memcpy(ns, key, n);
        ns[n] = '\0';
        name = slash + 1;
    }
    json_t *obj = sl_informer_get_key(c->primary->inf, key);
    if (!obj && let_go(c, key, ns, name))
        return;
    struct sl_err err = {0};
    if (obj) {
        /* a new object or spec: say Reconciling before the work, so kstatus-aware tools do not
         * call it current in the middle of its first copy */
        json_t *marked = sl_outcome_mark_progressing(&m->rt.kube, c->r->resource, obj);
        json_decref(obj);
        obj = marked;
    }
    sl_manager_reconcile_id(id, sizeof(id));
    struct sl_reconcile_request req = {
        .ns = ns,
        .name = name,
        .reconcile_id = id,
        .obj = obj,
        .log = {.kind = c->r->kind, .ns = ns, .name = name, .reconcile_id = id}};
    struct sl_reconcile_result res = {.kind = SL_RESULT_DONE};
    int64_t t0 = sl_mono_ms();
    int rc = c->r->reconcile(c->r->self, &m->rt, &req, &res, &err);
    double secs = (double)(sl_mono_ms() - t0) / 1000.0;
    if (rc != 0 || res.kind == SL_RESULT_TRANSIENT) {
        int64_t delay = sl_workqueue_add_rate_limited(c->q, key);
        sl_metrics_reconcile_observe(c->m->metrics, c->r->kind, "error", secs);
        sl_metrics_queue_retry_inc(c->m->metrics, c->r->kind);
        char delay_s[32];
        snprintf(delay_s, sizeof(delay_s), "%lld", (long long)delay);
        sl_log_kv(SL_LOG_ERROR, &req.log, "reconcile failed", "error",
                  err.msg[0] ? err.msg : sl_err_code_name(rc), "retryAfterMs", delay_s, NULL);
        goto done;
    }
    sl_workqueue_forget(c->q, key);
    int64_t after = res.requeue_after_ms > 0 ? res.requeue_after_ms : 0;
    switch (res.kind) {
    case SL_RESULT_DONE:
        sl_metrics_reconcile_observe(c->m->metrics, c->r->kind, "success", secs);
        if (after > 0)
            sl_workqueue_add_after(c->q, key, after);
        break;
    case SL_RESULT_REQUEUE:
        sl_metrics_reconcile_observe(c->m->metrics, c->r->kind, "requeue", secs);
        sl_workqueue_add_after(c->q, key, after);
        break;
    case SL_RESULT_WAITING:
        sl_metrics_reconcile_observe(c->m->metrics, c->r->kind, "requeue", secs);
        sl_workqueue_add_after(c->q, key, after > 0 ? after : DEFAULT_WAIT_MS);
        break;
    case SL_RESULT_STALLED:
        /* the spec must change: the next watch event queues it again */
        sl_metrics_reconcile_observe(c->m->metrics, c->r->kind, "error", secs);
        break;
    default:
        break;
    }
    sl_log_kv(SL_LOG_DEBUG, &req.log, "reconciled", "result", result_name(res.kind), NULL);
done:
    json_decref(obj);
}

/* Waits until this controller may work (caches synced and, with leader election, leading).
 * Returns false when stopping. */
static bool wait_may_work(struct controller *c)
{
    struct sl_manager *m = c->m;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (m->stopping)
            break;
        if (m->leading && sl_informer_has_synced(c->primary->inf))
            break;
        /* leadership changes signal the condition; cache sync is polled every 20 ms until the
         * first list is in (start-up only), so a fresh controller starts working at once */
        int64_t at = sl_mono_ms() + (sl_informer_has_synced(c->primary->inf) ? 1000 : 20);
        struct timespec ts = {.tv_sec = (time_t)(at / 1000),
                              .tv_nsec = (long)(at % 1000) * 1000000L};
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    bool ok = !m->stopping;
    pthread_mutex_unlock(&m->lock);
    return ok;
}

static void worker_main(void *arg)
{
    struct controller *c = arg;
    struct sl_manager *m = c->m;
    while (wait_may_work(c)) {
        char *key = NULL;
        if (sl_workqueue_get(&key, c->q) != 0)
            break;
        set_depth(c);
        pthread_mutex_lock(&m->lock);
        bool leading = m->leading;
        pthread_mutex_unlock(&m->lock);
        if (leading) {
            process(c, key);
            sl_workqueue_done(c->q, key);
        } else {
            /* lost the Lease while waiting: leave the key for whoever works next */
            sl_workqueue_done(c->q, key);
            sl_workqueue_add(c->q, key);
        }
        free(key);
    }
}

/* ---- leadership ---- */

static void set_leading(struct sl_manager *m, bool leading)
{
    pthread_mutex_lock(&m->lock);
    m->leading = leading;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static void started_leading(void *ctx)
{
    set_leading(ctx, true);
}

static void stopped_leading(void *ctx)
{
    set_leading(ctx, false);
}

/* ---- start / stop ---- */

int sl_manager_start(struct sl_manager *m, struct sl_err *err)
{
    int rc = 0;
    if (m->started)
        return 0;
    m->started = true;
    for (size_t i = 0; i < m->nentries; i++) {
        struct informer_entry *e = m->entries[i];
        struct sl_informer_opts io = {
            .res = e->res,
            .ns = e->res->namespaced ? m->watch_ns : NULL,
            .label_selector = e->selector,
            /* reconcilers watch Secrets to hear of changes and read the ones they use through
             * the API: the cluster's other Secrets (Helm releases, other tenants' keys) are not
             * kept in memory */
            .metadata_only = e->metadata_only || same_resource(e->res, &SL_RES_SECRET),
            .lw = m->lw,
            .handlers = {
                .ctx = e, .on_add = on_add, .on_update = on_update, .on_delete = on_delete}};
        e->inf = sl_informer_new(&io);
        rc = sl_informer_start(e->inf, err);
        if (rc != 0)
            goto done;
    }
    if (m->leader_elect) {
        struct sl_leader_opts lo = {.kube = &m->kube,
                                    .ns = m->controller_ns,
                                    .name = m->lease_name,
                                    .identity = m->leader_identity,
                                    .lease_duration_ms = m->lease_duration_ms,
                                    .renew_deadline_ms = m->renew_deadline_ms,
                                    .retry_period_ms = m->retry_period_ms,
                                    .started_leading = started_leading,
                                    .stopped_leading = stopped_leading,
                                    .cb_ctx = m};
        rc = sl_leader_new(&m->leader, &lo, err);
        if (rc != 0)
            goto done;
        rc = sl_leader_start(m->leader, err);
        if (rc != 0)
            goto done;
    } else {
        set_leading(m, true);
    }
    for (size_t i = 0; i < m->nctls; i++) {
        set_depth(m->ctls[i]); /* the gauge exists from the start, at 0 */
        rc = sl_worker_pool_start(&m->ctls[i]->pool, m->concurrency, worker_main, m->ctls[i], err);
        if (rc != 0)
            goto done;
    }
    sl_log_kv(SL_LOG_INFO, NULL, "manager started", "leaderElection",
              m->leader_elect ? "true" : "false", NULL);
done:
    return rc;
}

bool sl_manager_ready(struct sl_manager *m)
{
    if (!m->started)
        return false;
    for (size_t i = 0; i < m->nentries; i++) {
        if (!m->entries[i]->inf || !sl_informer_has_synced(m->entries[i]->inf))
            return false;
    }
    return true;
}

bool sl_manager_is_leader(struct sl_manager *m)
{
    pthread_mutex_lock(&m->lock);
    bool l = m->leading;
    pthread_mutex_unlock(&m->lock);
    return l;
}

int sl_manager_stop(struct sl_manager *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->stopped) {
        int rc = m->stop_rc;
        pthread_mutex_unlock(&m->lock);
        return rc;
    }
    m->stopping = true;
    m->stopped = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);

    int rc = 0;
    for (size_t i = 0; i < m->nctls; i++)
        sl_workqueue_shutdown(m->ctls[i]->q);
    int64_t deadline = sl_mono_ms() + m->shutdown_timeout_ms;
    for (size_t i = 0; i < m->nctls; i++) {
        struct controller *c = m->ctls[i];
        if (!c->pool)
            continue;
        int64_t left = deadline - sl_mono_ms();
        if (sl_worker_pool_join(c->pool, left > 0 ? left : 1) != 0) {
            sl_log_error(NULL, "reconciles of %s still running after %lld ms; exiting anyway",
                         c->r->kind, (long long)m->shutdown_timeout_ms);
            rc = SL_ERETRY;
        } else {
            c->pool = NULL;
        }
    }
    /* all watches wind down in parallel (each polls for cancellation about once a second) */
    for (size_t i = 0; i < m->nentries; i++) {
        if (m->entries[i]->inf)
            sl_informer_request_stop(m->entries[i]->inf);
    }
    for (size_t i = 0; i < m->nentries; i++) {
        if (m->entries[i]->inf)
            sl_informer_stop(m->entries[i]->inf);
    }
    /* a reconcile that is still running may still write: keep the Lease until it expires */
    if (m->leader && rc == 0)
        sl_leader_stop(m->leader);
    pthread_mutex_lock(&m->lock);
    m->stop_rc = rc;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

struct sl_runtime *sl_manager_runtime(struct sl_manager *m)
{
    return &m->rt;
}

struct sl_informer *sl_manager_informer(struct sl_manager *m, const char *kind)
{
    for (size_t i = 0; kind && i < m->nctls; i++) {
        if (strcmp(m->ctls[i]->r->kind, kind) == 0)
            return m->ctls[i]->primary->inf;
    }
    /* a kind only watched as a secondary resource (Secrets, ConfigMaps) */
    for (size_t i = 0; kind && i < m->nentries; i++) {
        if (strcmp(m->entries[i]->res->kind, kind) == 0)
            return m->entries[i]->inf;
    }
    return NULL;
}

void sl_manager_set_http(struct sl_manager *m, struct sl_http_server *srv)
{
    m->http = srv;
}

struct sl_http_server *sl_manager_http(struct sl_manager *m)
{
    return m->http;
}

const char *sl_manager_webhook_addr(const struct sl_manager *m)
{
    return m->webhook_addr;
}

const char *sl_manager_webhook_cert_dir(const struct sl_manager *m)
{
    return m->webhook_cert_dir;
}

void sl_manager_free(struct sl_manager *m)
{
    if (!m)
        return;
    if (m->started && sl_manager_stop(m) != 0)
        return; /* workers still running: leaking beats freeing under them */
    for (size_t i = 0; i < m->nctls; i++) {
        struct controller *c = m->ctls[i];
        sl_workqueue_free(c->q);
        sl_reconciler_free(c->r);
        free(c);
    }
    free(m->ctls);
    for (size_t i = 0; i < m->nentries; i++) {
        sl_informer_free(m->entries[i]->inf);
        free(m->entries[i]->selector);
        free(m->entries[i]->subs);
        sl_kindstats_free(m->entries[i]->stats);
        free(m->entries[i]);
    }
    free(m->entries);
    sl_leader_free(m->leader);
    sl_event_recorder_free(m->events);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m->controller_ns);
    free(m->watch_ns);
    free(m->shard);
    free(m->shard_selector);
    free(m->lease_name);
    free(m->leader_identity);
    free(m->webhook_addr);
    free(m->webhook_cert_dir);
    free(m);
}
