#include "runtime/informer.h"

#include "util/strmap.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX 600 /* namespace (63) + "/" + name (253), with room to spare */

struct sl_informer {
    const struct sl_kube_resource *res;
    char *ns;
    char *label_selector;
    bool metadata_only;
    struct sl_list_watcher lw;
    struct sl_informer_handlers h;
    int64_t relist_initial_ms, relist_max_ms;
    int watch_timeout_s;

    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t cond;    /* CLOCK_MONOTONIC; signalled on sync and stop */
    struct sl_strmap cache; /* key -> struct centry* (owned) */
    char *last_rv;
    bool synced;
    bool stopping;
    bool running;
    long lists;
    long watch_events; /* events seen by the current watch */
    pthread_t thread;
    unsigned seed;
};

/* A cached object, stored as compact JSON text: a jansson tree costs about six times the size
 * of its text, and the scale bar (10,000 ImageDeliveries in 64 MiB) does not allow that. Readers
 * get a freshly parsed copy. */
struct centry {
    size_t json_len;
    const char *rv; /* resourceVersion, inside data after the JSON text ("" when absent) */
    char data[];    /* JSON text, NUL, resourceVersion, NUL */
};

/* One pending handler call, collected under the lock and delivered without it. Objects are
 * parsed only at delivery, so a relist of many objects never holds them all as trees. */
struct change {
    enum { CH_ADD, CH_UPDATE, CH_DELETE } type;
    struct centry *old_e;       /* the previous object, or NULL */
    bool own_old;               /* free old_e after delivery */
    const struct centry *new_e; /* the new object as cached (borrowed), or NULL */
    json_t *new_obj;            /* or the new object itself (a reference), or NULL */
};

int sl_informer_key(char *out, size_t n, const json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!name || !*name)
        return SL_EINVAL;
    int w = ns && *ns ? snprintf(out, n, "%s/%s", ns, name) : snprintf(out, n, "%s", name);
    if (w < 0 || (size_t)w >= n)
        return SL_EINVAL;
    return 0;
}

struct sl_informer *sl_informer_new(const struct sl_informer_opts *opts)
{
    struct sl_informer *inf = sl_xcalloc(1, sizeof(*inf));
    inf->res = opts->res;
    inf->ns = opts->ns && *opts->ns ? sl_xstrdup(opts->ns) : NULL;
    inf->label_selector =
        opts->label_selector && *opts->label_selector ? sl_xstrdup(opts->label_selector) : NULL;
    inf->metadata_only = opts->metadata_only;
    inf->lw = opts->lw;
    inf->h = opts->handlers;
    inf->relist_initial_ms =
        opts->relist_initial_ms > 0 ? opts->relist_initial_ms : SL_INFORMER_RELIST_INITIAL_MS;
    inf->relist_max_ms = opts->relist_max_ms > 0 ? opts->relist_max_ms : SL_INFORMER_RELIST_MAX_MS;
    inf->watch_timeout_s = opts->watch_timeout_s;
    pthread_mutex_init(&inf->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&inf->cond, &ca);
    pthread_condattr_destroy(&ca);
    sl_strmap_init(&inf->cache);
    inf->seed = (unsigned)sl_mono_ms() ^ (unsigned)(uintptr_t)inf;
    return inf;
}

void sl_informer_free(struct sl_informer *inf)
{
    if (!inf)
        return;
    sl_informer_stop(inf);
    sl_strmap_clear(&inf->cache, free);
    free(inf->last_rv);
    free(inf->ns);
    free(inf->label_selector);
    pthread_cond_destroy(&inf->cond);
    pthread_mutex_destroy(&inf->lock);
    free(inf);
}

const struct sl_kube_resource *sl_informer_resource(const struct sl_informer *inf)
{
    return inf->res;
}

static const char *obj_rv(const json_t *obj);

/* The cache entry for obj, without metadata.managedFields (often the biggest part of an object,
 * and never needed by a controller); with metadata_only, apiVersion, kind and metadata alone.
 * obj is not modified. NULL when obj cannot be encoded. */
static struct centry *centry_new(json_t *obj, bool metadata_only)
{
    json_t *view = obj;
    json_t *meta = json_object_get(obj, "metadata");
    if (metadata_only) {
        view = json_object();
        static const char *const keep[] = {"apiVersion", "kind"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
            if (json_object_get(obj, keep[i]))
                json_object_set(view, keep[i], json_object_get(obj, keep[i]));
        json_t *m = json_is_object(meta) ? json_copy(meta) : json_object();
        json_object_del(m, "managedFields");
        json_object_set_new(view, "metadata", m);
    } else if (json_is_object(meta) && json_object_get(meta, "managedFields")) {
        /* a shallow copy without the field; obj may be borrowed */
        view = json_copy(obj);
        json_t *m = json_copy(meta);
        json_object_del(m, "managedFields");
        json_object_set_new(view, "metadata", m);
    }
    size_t len = json_dumpb(view, NULL, 0, JSON_COMPACT);
    const char *rv = obj_rv(obj);
    size_t rvlen = rv ? strlen(rv) : 0;
    struct centry *e = NULL;
    if (len > 0) {
        e = sl_xmalloc(sizeof(*e) + len + 1 + rvlen + 1);
        if (json_dumpb(view, e->data, len, JSON_COMPACT) != len) {
            free(e);
            e = NULL;
        } else {
            e->json_len = len;
            e->data[len] = '\0';
            memcpy(e->data + len + 1, rv ? rv : "", rvlen + 1);
            e->rv = e->data + len + 1;
        }
    }
    if (view != obj)
        json_decref(view);
    return e;
}

/* A new tree parsed from the entry (NULL only for a corrupt entry, which cannot happen). */
static json_t *centry_parse(const struct centry *e)
{
    return e ? json_loadb(e->data, e->json_len, 0, NULL) : NULL;
}

static const char *obj_rv(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void set_rv_locked(struct sl_informer *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    free(inf->last_rv);
    inf->last_rv = sl_xstrdup(rv);
}

static void deliver(struct sl_informer *inf, struct change *chs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct change *c = &chs[i];
        json_t *old_obj = NULL, *new_obj = NULL;
        bool want_old = (c->type == CH_UPDATE && inf->h.on_update) ||
                        (c->type == CH_DELETE && inf->h.on_delete);
        bool want_new =
            (c->type == CH_ADD && inf->h.on_add) || (c->type == CH_UPDATE && inf->h.on_update);
        if (want_old)
            old_obj = c->old_e ? centry_parse(c->old_e) : json_incref(c->new_obj);
        if (want_new)
            new_obj = c->new_obj ? json_incref(c->new_obj) : centry_parse(c->new_e);
        if (c->type == CH_ADD && new_obj)
            inf->h.on_add(inf->h.ctx, new_obj);
        else if (c->type == CH_UPDATE && new_obj)
            inf->h.on_update(inf->h.ctx, old_obj, new_obj);
        else if (c->type == CH_DELETE && old_obj)
            inf->h.on_delete(inf->h.ctx, old_obj);
        json_decref(old_obj);
        json_decref(new_obj);
        json_decref(c->new_obj);
        if (c->own_old)
            free(c->old_e);
    }
}

/* Sleeps up to ms unless stopped; returns true when stopping. */
static bool sleep_or_stop(struct sl_informer *inf, int64_t ms)
{
    pthread_mutex_lock(&inf->lock);
    int64_t at = sl_mono_ms() + ms;
    struct timespec ts = {.tv_sec = (time_t)(at / 1000), .tv_nsec = (long)(at % 1000) * 1000000L};
    while (!inf->stopping) {
        if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) != 0)
            break;
    }
    bool s = inf->stopping;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

static bool is_stopping(struct sl_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    bool s = inf->stopping;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

/* ---- list ---- */

struct diff_ctx {
    struct sl_strmap *other;
    struct change *chs;
    size_t n, cap;
    bool from_new; /* walking the new map (adds/updates) or the old one (deletes) */
};

static void push_change(struct diff_ctx *d, struct change c)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->chs = sl_xrealloc(d->chs, d->cap * sizeof(*d->chs));
    }
    d->chs[d->n++] = c;
}

static bool diff_one(void *ctx, const char *key, void *value)
{
    struct diff_ctx *d = ctx;
    bool found;
    struct centry *other = sl_strmap_get(d->other, key, &found);
    struct centry *e = value;
    if (d->from_new) {
        if (!found)
            push_change(d, (struct change){.type = CH_ADD, .new_e = e});
        else if (strcmp(other->rv, e->rv) != 0 || !*e->rv)
            push_change(d, (struct change){.type = CH_UPDATE, .old_e = other, .new_e = e});
    } else if (!found) {
        push_change(d, (struct change){.type = CH_DELETE, .old_e = e});
    }
    return false;
}

/* Lists everything, replaces the cache and delivers the differences. */
static int list_and_replace(struct sl_informer *inf, struct sl_err *err)
{
    struct sl_strmap fresh;
    sl_strmap_init(&fresh);
    char *cont = NULL, *rv = NULL;
    json_t *page = NULL;
    int rc = 0;
    char key[KEY_MAX];
    bool paged = true;
    for (;;) {
        if (is_stopping(inf)) {
            rc = SL_ECANCELED;
            goto done;
        }
        struct sl_kube_list_opts lo = {.label_selector = inf->label_selector,
                                       .continue_token = cont,
                                       .limit = !paged ? 0
                                                : inf->metadata_only
                                                    ? SL_INFORMER_METADATA_PAGE_LIMIT
                                                    : SL_INFORMER_PAGE_LIMIT};
        json_decref(page);
        page = NULL;
        rc = inf->lw.list(inf->lw.ctx, &page, inf->res, inf->ns, &lo, err);
        if (rc == SL_EGONE && cont && paged) {
            /* the continue token expired mid-list (as client-go's pager does): start over
             * with one unpaginated list, which cannot expire */
            paged = false;
            free(cont);
            cont = NULL;
            free(rv);
            rv = NULL;
            sl_strmap_clear(&fresh, free);
            continue;
        }
        if (rc != 0)
            goto done;
        json_t *items = json_object_get(page, "items");
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            if (!json_is_object(item) || sl_informer_key(key, sizeof(key), item) != 0)
                continue; /* not an object we can key: ignore rather than crash */
            struct centry *ce = centry_new(item, inf->metadata_only);
            if (ce)
                free(sl_strmap_put(&fresh, key, ce));
        }
        json_t *lmeta = json_object_get(page, "metadata");
        const char *prv = json_string_value(json_object_get(lmeta, "resourceVersion"));
        if (prv) {
            free(rv);
            rv = sl_xstrdup(prv);
        }
        const char *c = json_string_value(json_object_get(lmeta, "continue"));
        free(cont);
        cont = c && *c ? sl_xstrdup(c) : NULL;
        if (!cont)
            break;
    }

    struct sl_strmap old;
    struct diff_ctx d = {0};
    pthread_mutex_lock(&inf->lock);
    old = inf->cache;
    inf->cache = fresh;
    sl_strmap_init(&fresh);
    free(inf->last_rv);
    inf->last_rv = rv;
    rv = NULL;
    inf->lists++;
    pthread_mutex_unlock(&inf->lock);

    d.other = &old;
    d.from_new = true;
    /* only this thread writes the cache, so reading it unlocked here is safe */
    sl_strmap_each(&inf->cache, diff_one, &d);
    d.other = &inf->cache;
    d.from_new = false;
    sl_strmap_each(&old, diff_one, &d);
    deliver(inf, d.chs, d.n);
    free(d.chs);
    sl_strmap_clear(&old, free);

    pthread_mutex_lock(&inf->lock);
    inf->synced = true;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
done:
    sl_strmap_clear(&fresh, free);
    json_decref(page);
    free(cont);
    free(rv);
    return rc;
}

/* ---- watch ---- */

static int watch_cancelled(void *ctx)
{
    return is_stopping(ctx) ? 1 : 0;
}

static int on_watch_event(void *ctx, enum sl_watch_event_type type, json_t *obj)
{
    struct sl_informer *inf = ctx;
    char key[KEY_MAX];
    struct change ch = {0};
    bool have = false;
    if (is_stopping(inf))
        return 1;
    if (type == SL_WATCH_ERROR)
        return 0; /* the watch call reports 410 itself */
    if (!json_is_object(obj))
        return 0;
    pthread_mutex_lock(&inf->lock);
    inf->watch_events++;
    if (type == SL_WATCH_BOOKMARK) {
        set_rv_locked(inf, obj_rv(obj));
        pthread_mutex_unlock(&inf->lock);
        return 0;
    }
    if (sl_informer_key(key, sizeof(key), obj) != 0) {
        pthread_mutex_unlock(&inf->lock);
        return 0;
    }
    set_rv_locked(inf, obj_rv(obj));
    if (type == SL_WATCH_DELETED) {
        struct centry *old = sl_strmap_remove(&inf->cache, key, NULL);
        /* without a cached copy, the event's own object is the last state */
        ch = (struct change){.type = CH_DELETE,
                             .old_e = old,
                             .own_old = true,
                             .new_obj = old ? NULL : json_incref(obj)};
        have = true;
    } else {
        struct centry *ne = centry_new(obj, inf->metadata_only);
        if (ne) {
            struct centry *old = sl_strmap_put(&inf->cache, key, ne);
            ch = (struct change){.type = old ? CH_UPDATE : CH_ADD,
                                 .old_e = old,
                                 .own_old = true,
                                 .new_obj = json_incref(obj)};
            have = true;
        }
    }
    pthread_mutex_unlock(&inf->lock);
    if (have)
        deliver(inf, &ch, 1);
    return 0;
}

static void *informer_main(void *arg)
{
    struct sl_informer *inf = arg;
    int64_t backoff = inf->relist_initial_ms;
    struct sl_log_ctx lc = {.kind = inf->res->kind};
    while (!is_stopping(inf)) {
        struct sl_err err = {0};
        int rc = list_and_replace(inf, &err);
        if (rc == SL_ECANCELED)
            break;
        if (rc != 0) {
            sl_log_warn(&lc, "listing %s failed (retrying): %s", inf->res->plural, err.msg);
            int64_t jitter = (int64_t)(rand_r(&inf->seed) % (unsigned)(backoff / 2 + 1));
            if (sleep_or_stop(inf, backoff + jitter))
                break;
            backoff = backoff * 2 < inf->relist_max_ms ? backoff * 2 : inf->relist_max_ms;
            continue;
        }
        /* watch from the list's resourceVersion until something requires a relist */
        for (;;) {
            char *rv = NULL;
            pthread_mutex_lock(&inf->lock);
            rv = inf->last_rv ? sl_xstrdup(inf->last_rv) : NULL;
            inf->watch_events = 0;
            pthread_mutex_unlock(&inf->lock);
            int timeout_s = inf->watch_timeout_s > 0 ? inf->watch_timeout_s
                                                     : 300 + (int)(rand_r(&inf->seed) % 300);
            struct sl_kube_watch_opts wo = {.resource_version = rv,
                                            .label_selector = inf->label_selector,
                                            .timeout_seconds = timeout_s,
                                            .allow_bookmarks = true,
                                            .cancelled = watch_cancelled};
            int64_t started = sl_mono_ms();
            struct sl_err werr = {0};
            rc = inf->lw.watch(inf->lw.ctx, inf->res, inf->ns, &wo, on_watch_event, inf, &werr);
            free(rv);
            if (is_stopping(inf))
                goto out;
            pthread_mutex_lock(&inf->lock);
            long events = inf->watch_events;
            pthread_mutex_unlock(&inf->lock);
            bool healthy = events > 0 || sl_mono_ms() - started >= 10000;
            if (healthy)
                backoff = inf->relist_initial_ms;
            if (rc == 0 && healthy)
                continue; /* the server ended a good watch: resume it */
            if (rc == SL_EGONE)
                sl_log_info(&lc, "watch of %s expired, relisting", inf->res->plural);
            else if (rc != 0)
                sl_log_warn(&lc, "watch of %s failed, relisting: %s", inf->res->plural, werr.msg);
            if (!healthy || rc != SL_EGONE) {
                /* a watch that keeps failing fast must not turn into a hot loop */
                int64_t jitter = (int64_t)(rand_r(&inf->seed) % (unsigned)(backoff / 2 + 1));
                if (sleep_or_stop(inf, backoff + jitter))
                    goto out;
                backoff = backoff * 2 < inf->relist_max_ms ? backoff * 2 : inf->relist_max_ms;
            }
            break;
        }
    }
out:
    pthread_mutex_lock(&inf->lock);
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
    return NULL;
}

int sl_informer_start(struct sl_informer *inf, struct sl_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&inf->lock);
    if (!inf->running) {
        inf->stopping = false;
        int prc = pthread_create(&inf->thread, NULL, informer_main, inf);
        if (prc != 0)
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "starting informer for %s: %s",
                            inf->res->plural, strerror(prc));
        else
            inf->running = true;
    }
    pthread_mutex_unlock(&inf->lock);
    return rc;
}

void sl_informer_request_stop(struct sl_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    inf->stopping = true;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
}

void sl_informer_stop(struct sl_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    inf->stopping = true;
    bool join = inf->running;
    inf->running = false;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
    if (join)
        pthread_join(inf->thread, NULL);
}

bool sl_informer_has_synced(struct sl_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

bool sl_informer_wait_synced(struct sl_informer *inf, int64_t timeout_ms)
{
    pthread_mutex_lock(&inf->lock);
    int64_t at = sl_mono_ms() + timeout_ms;
    struct timespec ts = {.tv_sec = (time_t)(at / 1000), .tv_nsec = (long)(at % 1000) * 1000000L};
    while (!inf->synced && !inf->stopping) {
        if (timeout_ms < 0)
            pthread_cond_wait(&inf->cond, &inf->lock);
        else if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) != 0)
            break;
    }
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

json_t *sl_informer_get_key(struct sl_informer *inf, const char *key)
{
    pthread_mutex_lock(&inf->lock);
    /* parsing under the lock: the informer thread may free the entry once we let go */
    json_t *o = centry_parse(sl_strmap_get(&inf->cache, key, NULL));
    pthread_mutex_unlock(&inf->lock);
    return o;
}

json_t *sl_informer_get(struct sl_informer *inf, const char *ns, const char *name)
{
    char key[KEY_MAX];
    int w = inf->res->namespaced && ns && *ns ? snprintf(key, sizeof(key), "%s/%s", ns, name)
                                              : snprintf(key, sizeof(key), "%s", name);
    if (w < 0 || (size_t)w >= sizeof(key))
        return NULL;
    return sl_informer_get_key(inf, key);
}

static bool append_value(void *ctx, const char *key, void *value)
{
    (void)key;
    json_t *o = centry_parse(value);
    if (o)
        json_array_append_new(ctx, o);
    return false;
}

json_t *sl_informer_list(struct sl_informer *inf)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&inf->lock);
    sl_strmap_each(&inf->cache, append_value, arr);
    pthread_mutex_unlock(&inf->lock);
    return arr;
}

size_t sl_informer_count(struct sl_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    size_t n = sl_strmap_count(&inf->cache);
    pthread_mutex_unlock(&inf->lock);
    return n;
}

long sl_informer_list_count(struct sl_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    long n = inf->lists;
    pthread_mutex_unlock(&inf->lock);
    return n;
}
