#include "runtime/leader.h"

#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* coordination.k8s.io/v1 leases; local so this module needs only kube/ops.h */
static const struct sl_kube_resource lease_resource = {.group = "coordination.k8s.io",
                                                       .version = "v1",
                                                       .plural = "leases",
                                                       .kind = "Lease",
                                                       .namespaced = true};

struct sl_leader {
    struct sl_kube_ops kube;
    char *ns, *name, *identity;
    int64_t lease_duration_ms, renew_deadline_ms, retry_period_ms;
    int64_t (*mono_ms)(void *);
    int64_t (*wall_ms)(void *);
    void *clock_ctx;
    void (*started_leading)(void *);
    void (*stopped_leading)(void *);
    void *cb_ctx;

    pthread_mutex_t lock; /* guards the fields below and serialises attempts */
    pthread_cond_t cond;
    json_t *observed_spec;   /* the Lease spec as we last saw it */
    int64_t observed_mono;   /* when (our clock) we saw it change */
    int64_t last_renew_mono; /* our last successful acquire/renew */
    bool leading;
    bool stopping;
    bool thread_started;
    char last_error[SL_ERR_MSG_MAX]; /* last API error logged, to log each new one once */
    pthread_t thread;
};

static int64_t real_mono_ms(void *ctx)
{
    (void)ctx;
    return sl_mono_ms();
}

static int64_t real_wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *default_identity(void)
{
    char host[256] = "";
    unsigned char r[4] = {0};
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "sealift");
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        unsigned t = (unsigned)real_mono_ms(NULL) ^ (unsigned)getpid();
        memcpy(r, &t, sizeof(r));
    }
    return sl_xasprintf("%s_%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3]);
}

int sl_leader_new(struct sl_leader **out, const struct sl_leader_opts *opts, struct sl_err *err)
{
    if (!opts || !opts->kube || !opts->ns || !*opts->ns)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "leader election needs a namespace for its Lease");
    struct sl_leader *le = sl_xcalloc(1, sizeof(*le));
    le->kube = *opts->kube;
    le->ns = sl_xstrdup(opts->ns);
    le->name = sl_xstrdup(opts->name ? opts->name : SL_LEADER_LEASE_NAME);
    le->identity = opts->identity ? sl_xstrdup(opts->identity) : default_identity();
    le->lease_duration_ms =
        opts->lease_duration_ms > 0 ? opts->lease_duration_ms : SL_LEADER_LEASE_DURATION_MS;
    le->renew_deadline_ms =
        opts->renew_deadline_ms > 0 ? opts->renew_deadline_ms : SL_LEADER_RENEW_DEADLINE_MS;
    le->retry_period_ms =
        opts->retry_period_ms > 0 ? opts->retry_period_ms : SL_LEADER_RETRY_PERIOD_MS;
    le->mono_ms = opts->mono_ms ? opts->mono_ms : real_mono_ms;
    le->wall_ms = opts->wall_ms ? opts->wall_ms : real_wall_ms;
    le->clock_ctx = opts->clock_ctx;
    le->started_leading = opts->started_leading;
    le->stopped_leading = opts->stopped_leading;
    le->cb_ctx = opts->cb_ctx;
    pthread_mutex_init(&le->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&le->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = le;
    return 0;
}

void sl_leader_free(struct sl_leader *le)
{
    if (!le)
        return;
    sl_leader_stop(le);
    json_decref(le->observed_spec);
    pthread_cond_destroy(&le->cond);
    pthread_mutex_destroy(&le->lock);
    free(le->ns);
    free(le->name);
    free(le->identity);
    free(le);
}

const char *sl_leader_identity(const struct sl_leader *le)
{
    return le->identity;
}

bool sl_leader_is_leader(struct sl_leader *le)
{
    pthread_mutex_lock(&le->lock);
    bool l = le->leading;
    pthread_mutex_unlock(&le->lock);
    return l;
}

/* metav1.MicroTime: "2026-11-29T07:28:22.123456Z" */
static void micro_time(char *out, size_t n, int64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03d000Z", base, (int)(wall_ms % 1000));
}

static json_t *lease_spec(struct sl_leader *le, const char *holder, int64_t duration_s,
                          const char *acquire, const char *renew, json_int_t transitions)
{
    json_t *spec = json_object();
    json_object_set_new(spec, "holderIdentity", json_string(holder));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(duration_s));
    json_object_set_new(spec, "acquireTime", json_string(acquire));
    json_object_set_new(spec, "renewTime", json_string(renew));
    json_object_set_new(spec, "leaseTransitions", json_integer(transitions));
    (void)le;
    return spec;
}

/* Remembers spec as the record we saw at now (our clock). Caller holds the lock. */
static void observe(struct sl_leader *le, const json_t *spec, int64_t now)
{
    if (le->observed_spec && json_equal(le->observed_spec, (json_t *)spec))
        return;
    json_decref(le->observed_spec);
    le->observed_spec = json_deep_copy(spec);
    le->observed_mono = now;
}

/* One get + create-or-update of the Lease. Returns 0 when we hold it afterwards, SL_ECONFLICT
 * when someone else does, or the API's error. Caller holds the lock. */
static int try_acquire_or_renew(struct sl_leader *le, int64_t now, struct sl_err *err)
{
    json_t *lease = NULL, *written = NULL, *spec = NULL, *empty = NULL;
    char stamp[48];
    int rc;
    micro_time(stamp, sizeof(stamp), le->wall_ms(le->clock_ctx));
    int64_t duration_s = (le->lease_duration_ms + 999) / 1000;

    rc = le->kube.get(le->kube.ctx, &lease, &lease_resource, le->ns, le->name, err);
    if (rc == SL_ENOTFOUND) {
        spec = lease_spec(le, le->identity, duration_s, stamp, stamp, 0);
        json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O}", "apiVersion",
                                 "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                 le->name, "namespace", le->ns, "spec", spec);
        rc = le->kube.create(le->kube.ctx, &written, &lease_resource, le->ns, body, err);
        json_decref(body);
        if (rc == SL_EEXISTS)
            rc = SL_ECONFLICT; /* another candidate created it first */
        if (rc == 0)
            observe(le, spec, now);
        goto done;
    }
    if (rc != 0)
        goto done;

    json_t *cur = json_object_get(lease, "spec");
    if (!json_is_object(cur))
        cur = empty = json_object();
    observe(le, cur, now);
    const char *holder = json_string_value(json_object_get(cur, "holderIdentity"));
    json_t *dur = json_object_get(cur, "leaseDurationSeconds");
    int64_t cur_duration_ms = json_is_integer(dur) && json_integer_value(dur) > 0
                                  ? (int64_t)json_integer_value(dur) * 1000
                                  : le->lease_duration_ms;
    bool mine = holder && strcmp(holder, le->identity) == 0;
    if (holder && *holder && !mine && le->observed_mono + cur_duration_ms > now) {
        rc = SL_ECONFLICT; /* held by someone else and not expired */
        goto done;
    }
    json_t *trans = json_object_get(cur, "leaseTransitions");
    json_int_t transitions = json_is_integer(trans) ? json_integer_value(trans) : 0;
    const char *acquire = json_string_value(json_object_get(cur, "acquireTime"));
    if (!mine) {
        transitions++;
        acquire = stamp;
    }
    spec = lease_spec(le, le->identity, duration_s, acquire ? acquire : stamp, stamp, transitions);
    json_object_set(lease, "spec", spec);
    /* PUT carries the resourceVersion we read: a racing writer makes this a conflict */
    rc = le->kube.update(le->kube.ctx, &written, &lease_resource, le->ns, lease, err);
    if (rc == 0)
        observe(le, spec, now);
done:
    json_decref(empty);
    json_decref(spec);
    json_decref(written);
    json_decref(lease);
    return rc;
}

bool sl_leader_try(struct sl_leader *le, struct sl_err *err)
{
    void (*cb)(void *) = NULL;
    pthread_mutex_lock(&le->lock);
    int64_t now = le->mono_ms(le->clock_ctx);
    struct sl_err local = {0};
    int rc = try_acquire_or_renew(le, now, &local);
    if (rc == 0) {
        le->last_renew_mono = now;
        if (!le->leading) {
            le->leading = true;
            cb = le->started_leading;
            sl_log_kv(SL_LOG_INFO, NULL, "became leader", "lease", le->name, "identity",
                      le->identity, NULL);
        }
    } else if (le->leading) {
        /* another holder means we lost for sure; an API error only after the deadline */
        bool other = rc == SL_ECONFLICT;
        if (other || now - le->last_renew_mono >= le->renew_deadline_ms) {
            le->leading = false;
            cb = le->stopped_leading;
            sl_log_kv(SL_LOG_WARN, NULL, "lost leadership", "lease", le->name, "identity",
                      le->identity, "error", local.msg, NULL);
        }
    }
    bool leading = le->leading;
    /* an API error (RBAC, missing namespace) is logged once, not every retry period */
    bool log_error = false;
    if (rc != 0 && rc != SL_ECONFLICT && strcmp(le->last_error, local.msg) != 0) {
        snprintf(le->last_error, sizeof(le->last_error), "%s", local.msg);
        log_error = true;
    } else if (rc == 0) {
        le->last_error[0] = '\0';
    }
    pthread_mutex_unlock(&le->lock);
    if (log_error)
        sl_log_kv(SL_LOG_WARN, NULL, "leader election: lease request failed", "lease", le->name,
                  "namespace", le->ns, "error", local.msg, NULL);
    if (rc != 0 && err)
        *err = local;
    if (cb)
        cb(le->cb_ctx);
    return leading;
}

int sl_leader_release(struct sl_leader *le, struct sl_err *err)
{
    json_t *lease = NULL, *written = NULL;
    int rc = 0;
    void (*cb)(void *) = NULL;
    pthread_mutex_lock(&le->lock);
    if (!le->leading)
        goto done;
    le->leading = false;
    cb = le->stopped_leading;
    rc = le->kube.get(le->kube.ctx, &lease, &lease_resource, le->ns, le->name, err);
    if (rc != 0)
        goto done;
    json_t *cur = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(cur, "holderIdentity"));
    if (!holder || strcmp(holder, le->identity) != 0)
        goto done; /* someone else holds it already */
    char stamp[48];
    micro_time(stamp, sizeof(stamp), le->wall_ms(le->clock_ctx));
    json_t *trans = json_object_get(cur, "leaseTransitions");
    json_t *spec =
        lease_spec(le, "", 1, stamp, stamp, json_is_integer(trans) ? json_integer_value(trans) : 0);
    json_object_set_new(lease, "spec", spec);
    rc = le->kube.update(le->kube.ctx, &written, &lease_resource, le->ns, lease, err);
    if (rc == 0)
        sl_log_kv(SL_LOG_INFO, NULL, "released leadership", "lease", le->name, NULL);
done:
    pthread_mutex_unlock(&le->lock);
    json_decref(written);
    json_decref(lease);
    if (cb)
        cb(le->cb_ctx);
    return rc;
}

static void *leader_main(void *arg)
{
    struct sl_leader *le = arg;
    unsigned seed = (unsigned)real_mono_ms(NULL) ^ (unsigned)(uintptr_t)le;
    for (;;) {
        bool leading = sl_leader_try(le, NULL);
        /* candidates spread their attempts (client-go jitters the acquire loop); a leader
         * renews on the period */
        int64_t wait = le->retry_period_ms;
        if (!leading)
            wait += (int64_t)(rand_r(&seed) % (unsigned)(le->retry_period_ms / 5 + 1));
        pthread_mutex_lock(&le->lock);
        int64_t at = sl_mono_ms() + wait;
        struct timespec ts;
        ts.tv_sec = (time_t)(at / 1000);
        ts.tv_nsec = (long)(at % 1000) * 1000000L;
        while (!le->stopping) {
            if (pthread_cond_timedwait(&le->cond, &le->lock, &ts) != 0)
                break;
        }
        bool stop = le->stopping;
        pthread_mutex_unlock(&le->lock);
        if (stop)
            break;
    }
    return NULL;
}

int sl_leader_start(struct sl_leader *le, struct sl_err *err)
{
    pthread_mutex_lock(&le->lock);
    int rc = 0;
    if (!le->thread_started) {
        int prc = pthread_create(&le->thread, NULL, leader_main, le);
        if (prc != 0)
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "starting leader election: %s",
                            strerror(prc));
        else
            le->thread_started = true;
    }
    pthread_mutex_unlock(&le->lock);
    return rc;
}

void sl_leader_stop(struct sl_leader *le)
{
    pthread_mutex_lock(&le->lock);
    le->stopping = true;
    bool join = le->thread_started;
    le->thread_started = false;
    pthread_cond_broadcast(&le->cond);
    pthread_mutex_unlock(&le->lock);
    if (join)
        pthread_join(le->thread, NULL);
    struct sl_err err = {0};
    if (sl_leader_release(le, &err) != 0)
        sl_log_warn(NULL, "releasing lease %s/%s: %s", le->ns, le->name, err.msg);
}
