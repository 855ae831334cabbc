/* An in-memory list/watch source for informer and manager tests (struct sl_list_watcher).
 * Objects live in a map keyed "ns/name"; changes made with fake_lw_apply are also delivered to
 * an open watch. A test can make the next watch end with an error (SL_EGONE, SL_ERETRY) and
 * inspect how often list and watch were called and from which resourceVersion. Header-only:
 * included by one test file each. */
#ifndef SL_TESTS_FAKE_LW_H
#define SL_TESTS_FAKE_LW_H

#include "runtime/informer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fake_lw {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *objs;   /* key -> object */
    json_t *log;    /* every change: [{seq, type, object}], seq = resourceVersion */
    long delivered; /* highest seq any watch has delivered */
    long rv;
    bool end_watch; /* the open watch ends with watch_result */
    int watch_result;
    int list_calls, list_pages, watch_calls;
    char last_watch_rv[32];
    char last_selector[128];
    json_t *selectors;    /* kind -> label selector of its last list */
    bool expire_continue; /* the next list with a continue token fails with SL_EGONE */
    int fail_continue;    /* the next list with a continue token fails with this code (SL_E*) */
    /* called (without the fake's lock) at every list with a continue token, before it answers */
    void (*on_continue)(struct fake_lw *f, void *ctx);
    void *on_continue_ctx;
    int unpaged_lists;
    bool watching;
};

static inline void fake_lw_init(struct fake_lw *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->objs = json_object();
    f->log = json_array();
    f->selectors = json_object();
    f->rv = 100;
}

static inline void fake_lw_destroy(struct fake_lw *f)
{
    json_decref(f->objs);
    json_decref(f->log);
    json_decref(f->selectors);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls cond() every 5 ms for up to 5 s. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int wait_i_ = 0; wait_i_ < 1000 && !(cond); wait_i_++)                                \
            sleep_ms(5);                                                                           \
    } while (0)

/* Makes a SigningKey-like object with managedFields. Returns a new reference. */
static inline json_t *fake_obj(const char *ns, const char *name, long long generation,
                               const char *spec)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:I, s:[{s:s}]}, s:{s:s}}", "apiVersion",
                          "sealift.dev/v1alpha1", "kind", "SigningKey", "metadata", "name", name,
                          "namespace", ns, "generation", (json_int_t)generation, "managedFields",
                          "manager", "kubectl", "spec", "mode", spec);
    return o;
}

/* Stores a change; type "ADDED", "MODIFIED" or "DELETED". emit=false changes the state without
 * telling the watch (as if it happened while disconnected). obj is borrowed. */
static inline void fake_lw_apply(struct fake_lw *f, const char *type, json_t *obj, bool emit)
{
    char key[300];
    json_t *meta = json_object_get(obj, "metadata");
    snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(meta, "namespace")),
             json_string_value(json_object_get(meta, "name")));
    pthread_mutex_lock(&f->lock);
    json_t *copy = json_deep_copy(obj);
    char rv[32];
    snprintf(rv, sizeof(rv), "%ld", ++f->rv);
    json_object_set_new(json_object_get(copy, "metadata"), "resourceVersion", json_string(rv));
    if (strcmp(type, "DELETED") == 0)
        json_object_del(f->objs, key);
    else
        json_object_set(f->objs, key, copy);
    /* a change made while "disconnected" is not in the log: only a relist sees it */
    if (emit)
        json_array_append_new(f->log, json_pack("{s:I, s:s, s:o}", "seq", (json_int_t)f->rv, "type",
                                                type, "object", copy));
    else
        json_decref(copy);
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

/* Queues a raw watch event (any JSON object, for odd-input tests). */
static inline void fake_lw_raw_event(struct fake_lw *f, const char *type, json_t *obj)
{
    pthread_mutex_lock(&f->lock);
    ++f->rv;
    json_array_append_new(f->log, json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)f->rv, "type",
                                            type, "object", obj));
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

static inline void fake_lw_end_watch(struct fake_lw *f, int code)
{
    pthread_mutex_lock(&f->lock);
    f->watch_result = code;
    f->end_watch = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

static inline int fake_list(void *ctx, json_t **out, const struct sl_kube_resource *res,
                            const char *ns, const struct sl_kube_list_opts *opts,
                            struct sl_err *err)
{
    struct fake_lw *f = ctx;
    (void)ns;
    if (opts && opts->continue_token && f->on_continue)
        f->on_continue(f, f->on_continue_ctx);
    pthread_mutex_lock(&f->lock);
    if (opts && opts->continue_token && f->fail_continue) {
        int code = f->fail_continue;
        f->fail_continue = 0;
        pthread_mutex_unlock(&f->lock);
        return sl_err_set(err, code, SL_ERRC_KUBE, "list page failed");
    }
    if (opts && opts->continue_token && f->expire_continue) {
        f->expire_continue = false;
        pthread_mutex_unlock(&f->lock);
        return sl_err_set(err, SL_EGONE, SL_ERRC_KUBE, "continue token expired");
    }
    if (!opts || opts->limit <= 0)
        f->unpaged_lists++;
    long start = opts && opts->continue_token ? strtol(opts->continue_token, NULL, 10) : 0;
    if (start == 0)
        f->list_calls++;
    f->list_pages++;
    snprintf(f->last_selector, sizeof(f->last_selector), "%s",
             opts && opts->label_selector ? opts->label_selector : "");
    json_object_set_new(f->selectors, res->kind, json_string(f->last_selector));
    long limit = opts && opts->limit > 0 ? opts->limit : 1 << 30;
    json_t *items = json_array();
    const char *k;
    json_t *v;
    long i = 0, next = 0;
    /* insertion order is stable in jansson objects, which is all pagination needs here */
    json_object_foreach(f->objs, k, v)
    {
        const char *kind = json_string_value(json_object_get(v, "kind"));
        if (kind && strcmp(kind, res->kind) != 0)
            continue;
        if (i >= start && i < start + limit)
            json_array_append(items, v);
        else if (i >= start + limit && !next)
            next = i;
        i++;
    }
    /* odd entries a real list would never hold: must be skipped, not crash */
    if (start == 0) {
        json_array_append_new(items, json_integer(7));
        json_array_append_new(items, json_pack("{s:{}}", "metadata"));
    }
    char rv[32], cont[32] = "";
    snprintf(rv, sizeof(rv), "%ld", f->rv);
    if (next)
        snprintf(cont, sizeof(cont), "%ld", next);
    *out = json_pack("{s:s, s:{s:s, s:s}, s:o}", "kind", "List", "metadata", "resourceVersion", rv,
                     "continue", cont, "items", items);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static inline int fake_watch(void *ctx, const struct sl_kube_resource *res, const char *ns,
                             const struct sl_kube_watch_opts *opts, sl_kube_watch_fn fn,
                             void *fn_ctx, struct sl_err *err)
{
    struct fake_lw *f = ctx;
    (void)ns;
    pthread_mutex_lock(&f->lock);
    f->watch_calls++;
    f->watching = true;
    snprintf(f->last_watch_rv, sizeof(f->last_watch_rv), "%s",
             opts->resource_version ? opts->resource_version : "");
    int rc = 0;
    long pos = opts->resource_version ? strtol(opts->resource_version, NULL, 10) : f->rv;
    for (;;) {
        size_t i;
        json_t *ev = NULL;
        json_array_foreach(f->log, i, ev)
        {
            long seq = (long)json_integer_value(json_object_get(ev, "seq"));
            if (seq <= pos)
                continue;
            pos = seq;
            const char *kind =
                json_string_value(json_object_get(json_object_get(ev, "object"), "kind"));
            if (kind && strcmp(kind, res->kind) != 0)
                continue;
            json_incref(ev);
            pthread_mutex_unlock(&f->lock);
            const char *t = json_string_value(json_object_get(ev, "type"));
            enum sl_watch_event_type type = strcmp(t, "ADDED") == 0      ? SL_WATCH_ADDED
                                            : strcmp(t, "MODIFIED") == 0 ? SL_WATCH_MODIFIED
                                            : strcmp(t, "DELETED") == 0  ? SL_WATCH_DELETED
                                            : strcmp(t, "BOOKMARK") == 0 ? SL_WATCH_BOOKMARK
                                                                         : SL_WATCH_ERROR;
            int stop = fn(fn_ctx, type, json_object_get(ev, "object"));
            json_decref(ev);
            pthread_mutex_lock(&f->lock);
            if (seq > f->delivered)
                f->delivered = seq;
            if (stop)
                goto out;
            /* the log may have grown while unlocked; indexes stay valid (append-only) */
        }
        if (f->end_watch) {
            rc = f->watch_result;
            f->end_watch = false;
            if (rc)
                sl_err_set(err, rc, SL_ERRC_KUBE, "fake watch ended: %s", sl_err_code_name(rc));
            goto out;
        }
        if (opts->cancelled && opts->cancelled(fn_ctx)) {
            rc = SL_ECANCELED;
            goto out;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    }
out:
    f->watching = false;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static inline struct sl_list_watcher fake_lw_iface(struct fake_lw *f)
{
    struct sl_list_watcher lw = {.ctx = f, .list = fake_list, .watch = fake_watch};
    return lw;
}

#endif
