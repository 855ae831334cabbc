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
    unsigned list_gen; /* bumped by every list (and list restart); entries carry the one that
                          last saw them, so a list ends by dropping the entries it did not see */
    char *dump_buf;    /* scratch for encoding cache entries (informer thread only) */
    size_t dump_cap;
};

/* A cached object, stored as compact JSON text: a jansson tree costs about six times the size
 * of its text, and the scale bar (10,000 ImageDeliveries in 64 MiB) does not allow that. Readers
 * get a freshly parsed copy. */
struct centry {
    size_t json_len;
    const char *rv; /* resourceVersion, inside data after the JSON text ("" when absent) */
    unsigned gen;   /* the list_gen of the list (or watch) that stored it */
    char data[];    /* JSON text, NUL, resourceVersion, NUL */
};

/* One pending handler call, collected under the lock and delivered without it. A previous
 * object is parsed only at delivery (updates and deletes are few), and a list delivers page by
 * page, so a relist of many objects never holds them all as trees. */
struct change {
    enum { CH_ADD, CH_UPDATE, CH_DELETE } type;
    struct centry *old_e; /* the previous object, or NULL */
    bool own_old;         /* free old_e after delivery */
    json_t *new_obj;      /* the new object (a reference), or NULL */
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
    free(inf->dump_buf);
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

/* What the cache keeps of obj: obj without metadata.managedFields (often the biggest part of an
 * object, and never needed by a controller); with metadata_only, apiVersion, kind and metadata
 * alone. obj is not modified (list pages may share their items). A new reference. */
static json_t *cache_view(json_t *obj, bool metadata_only)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (metadata_only) {
        json_t *view = json_object();
        static const char *const keep[] = {"apiVersion", "kind"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
            if (json_object_get(obj, keep[i]))
                json_object_set(view, keep[i], json_object_get(obj, keep[i]));
        json_t *m = json_is_object(meta) ? json_copy(meta) : json_object();
        json_object_del(m, "managedFields");
        json_object_set_new(view, "metadata", m);
        return view;
    }
    if (!json_is_object(meta) || !json_object_get(meta, "managedFields"))
        return json_incref(obj);
    /* a shallow copy without the field */
    json_t *view = json_copy(obj);
    json_t *m = json_copy(meta);
    json_object_del(m, "managedFields");
    json_object_set_new(view, "metadata", m);
    return view;
}

/* The cache entry for view (from cache_view) with obj's resourceVersion, encoded once into the
 * informer's scratch buffer and copied (a second json_dumpb pass to size the entry costs as much
 * as the first). NULL when view cannot be encoded. Informer thread only. */
static struct centry *centry_from_view(struct sl_informer *inf, const json_t *view,
                                       const json_t *obj)
{
    size_t len = json_dumpb(view, inf->dump_buf, inf->dump_cap, JSON_COMPACT);
    if (len == 0)
        return NULL;
    if (len > inf->dump_cap) {
        free(inf->dump_buf);
        inf->dump_cap = len < 16384 ? 16384 : len;
        inf->dump_buf = sl_xmalloc(inf->dump_cap);
        if (json_dumpb(view, inf->dump_buf, inf->dump_cap, JSON_COMPACT) != len)
            return NULL;
    }
    const char *rv = obj_rv(obj);
    size_t rvlen = rv ? strlen(rv) : 0;
    struct centry *e = sl_xmalloc(sizeof(*e) + len + 1 + rvlen + 1);
    memcpy(e->data, inf->dump_buf, len);
    e->json_len = len;
    e->data[len] = '\0';
    memcpy(e->data + len + 1, rv ? rv : "", rvlen + 1);
    e->rv = e->data + len + 1;
    e->gen = inf->list_gen;
    return e;
}

static struct centry *centry_new(struct sl_informer *inf, json_t *obj)
{
    json_t *view = cache_view(obj, inf->metadata_only);
    struct centry *e = centry_from_view(inf, view, obj);
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
            new_obj = json_incref(c->new_obj);
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

/* One list request, run on a thread of its own so that the next page travels and is parsed
 * while this thread stores the current one (the API server's time and ours overlap). */
struct page_fetch {
    struct sl_informer *inf;
    char *cont; /* continue token (owned), NULL for the first page */
    bool paged;
    json_t *page; /* the answer, when rc is 0 */
    int rc;
    struct sl_err err;
    pthread_t thread;
    bool threaded; /* the thread must be joined */
};

static void fetch_run(struct page_fetch *pf)
{
    struct sl_informer *inf = pf->inf;
    struct sl_kube_list_opts lo = {.label_selector = inf->label_selector,
                                   .continue_token = pf->cont,
                                   .limit = !pf->paged           ? 0
                                            : inf->metadata_only ? SL_INFORMER_METADATA_PAGE_LIMIT
                                                                 : SL_INFORMER_PAGE_LIMIT};
    pf->rc = inf->lw.list(inf->lw.ctx, &pf->page, inf->res, inf->ns, &lo, &pf->err);
}

static void *fetch_main(void *arg)
{
    fetch_run(arg);
    return NULL;
}

/* Starts the request for the page after cont (taken; NULL = the first page). Without a thread
 * (pthread_create failed), the request runs here and now. */
static void fetch_start(struct page_fetch *pf, struct sl_informer *inf, char *cont, bool paged)
{
    *pf = (struct page_fetch){.inf = inf, .cont = cont, .paged = paged};
    if (pthread_create(&pf->thread, NULL, fetch_main, pf) == 0)
        pf->threaded = true;
    else
        fetch_run(pf);
}

/* Waits for the request. Returns its code; *out is the page (the caller's) on 0; err (may be
 * NULL) is filled on failure. */
static int fetch_finish(struct page_fetch *pf, json_t **out, struct sl_err *err)
{
    if (pf->threaded)
        pthread_join(pf->thread, NULL);
    pf->threaded = false;
    free(pf->cont);
    pf->cont = NULL;
    if (pf->rc != 0 && err)
        *err = pf->err;
    *out = pf->page;
    pf->page = NULL;
    return pf->rc;
}

struct change_list {
    struct change *chs;
    size_t n, cap;
};

static void push_change(struct change_list *l, struct change c)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->chs = sl_xrealloc(l->chs, l->cap * sizeof(*l->chs));
    }
    l->chs[l->n++] = c;
}

/* Stores the objects of one list page in the cache, marked as seen by the current list, and
 * delivers what changed: new keys as adds, other resourceVersions as updates. The handlers get
 * the page's own objects (as the cache keeps them), so nothing is parsed twice. Encoding happens
 * before the lock is taken: readers wait only for the map updates. */
static void store_page(struct sl_informer *inf, json_t *page, struct change_list *l)
{
    json_t *items = json_object_get(page, "items");
    size_t nitems = json_array_size(items);
    json_t **views = sl_xcalloc(nitems ? nitems : 1, sizeof(*views));
    struct centry **entries = sl_xcalloc(nitems ? nitems : 1, sizeof(*entries));
    char key[KEY_MAX];
    for (size_t i = 0; i < nitems; i++) {
        json_t *item = json_array_get(items, i);
        if (!json_is_object(item) || sl_informer_key(key, sizeof(key), item) != 0)
            continue; /* not an object we can key: ignore rather than crash */
        views[i] = cache_view(item, inf->metadata_only);
        entries[i] = centry_from_view(inf, views[i], item);
    }
    l->n = 0;
    pthread_mutex_lock(&inf->lock);
    for (size_t i = 0; i < nitems; i++) {
        if (!entries[i] || sl_informer_key(key, sizeof(key), views[i]) != 0)
            continue;
        struct centry *old = sl_strmap_put(&inf->cache, key, entries[i]);
        const char *new_rv = entries[i]->rv;
        entries[i] = NULL;
        if (!old) {
            push_change(l, (struct change){.type = CH_ADD, .new_obj = views[i]});
            views[i] = NULL;
        } else if (strcmp(old->rv, new_rv) != 0 || !*new_rv) {
            push_change(l,
                        (struct change){
                            .type = CH_UPDATE, .old_e = old, .own_old = true, .new_obj = views[i]});
            views[i] = NULL;
        } else {
            free(old);
        }
    }
    pthread_mutex_unlock(&inf->lock);
    for (size_t i = 0; i < nitems; i++) {
        json_decref(views[i]);
        free(entries[i]); /* NULL once stored */
    }
    free(views);
    free(entries);
    deliver(inf, l->chs, l->n);
}

struct sweep_ctx {
    unsigned gen;
    struct change_list *l;
};

/* Drops (and notes as a delete) an entry the current list did not see. */
static bool sweep_unseen(void *ctx, const char *key, void *value)
{
    (void)key;
    struct sweep_ctx *s = ctx;
    struct centry *e = value;
    if (e->gen == s->gen)
        return false;
    push_change(s->l, (struct change){.type = CH_DELETE, .old_e = e, .own_old = true});
    return true;
}

/* Lists everything page by page, storing each page as it arrives, then drops the keys the list
 * did not hold and delivers their deletes. On failure the pages stored so far stay (they are
 * newer than what they replaced) and the next list completes the picture. */
static int list_and_replace(struct sl_informer *inf, struct sl_err *err)
{
    struct page_fetch pf;
    struct change_list l = {0};
    json_t *page = NULL;
    char *rv = NULL;
    bool paged = true, fetching = false, asked_with_cont = false;
    int rc = 0;
    pthread_mutex_lock(&inf->lock);
    inf->list_gen++;
    pthread_mutex_unlock(&inf->lock);
    if (is_stopping(inf))
        return SL_ECANCELED;
    fetch_start(&pf, inf, NULL, paged);
    fetching = true;
    for (;;) {
        rc = fetch_finish(&pf, &page, err);
        fetching = false;
        if (rc == SL_EGONE && asked_with_cont && paged) {
            /* the continue token expired mid-list (as client-go's pager does): start over
             * with one unpaginated list, which cannot expire; a new generation, so that what
             * only the abandoned pages held is dropped at the end */
            paged = false;
            asked_with_cont = false;
            free(rv);
            rv = NULL;
            pthread_mutex_lock(&inf->lock);
            inf->list_gen++;
            pthread_mutex_unlock(&inf->lock);
            if (is_stopping(inf)) {
                rc = SL_ECANCELED;
                goto done;
            }
            fetch_start(&pf, inf, NULL, paged);
            fetching = true;
            continue;
        }
        if (rc != 0)
            goto done;
        if (is_stopping(inf)) {
            rc = SL_ECANCELED;
            goto done;
        }
        json_t *lmeta = json_object_get(page, "metadata");
        const char *prv = json_string_value(json_object_get(lmeta, "resourceVersion"));
        if (prv) {
            free(rv);
            rv = sl_xstrdup(prv);
        }
        const char *c = json_string_value(json_object_get(lmeta, "continue"));
        bool more = c && *c;
        if (more) {
            fetch_start(&pf, inf, sl_xstrdup(c), paged);
            fetching = true;
            asked_with_cont = true;
        }
        store_page(inf, page, &l);
        json_decref(page);
        page = NULL;
        if (!more)
            break;
    }

    l.n = 0;
    pthread_mutex_lock(&inf->lock);
    struct sweep_ctx sw = {.gen = inf->list_gen, .l = &l};
    sl_strmap_each(&inf->cache, sweep_unseen, &sw);
    free(inf->last_rv);
    inf->last_rv = rv;
    rv = NULL;
    inf->lists++;
    pthread_mutex_unlock(&inf->lock);
    deliver(inf, l.chs, l.n);

    pthread_mutex_lock(&inf->lock);
    inf->synced = true;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
done:
    if (fetching) {
        json_t *unused = NULL;
        fetch_finish(&pf, &unused, NULL);
        json_decref(unused);
    }
    json_decref(page);
    free(l.chs);
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
        struct centry *ne = centry_new(inf, obj);
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
