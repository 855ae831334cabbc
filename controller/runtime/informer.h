/* An informer keeps a local, thread-safe cache of one resource and tells handlers about changes:
 * it lists (paginated, 250 per page), then watches from the list's resourceVersion with
 * bookmarks. A list stores each page as it arrives and delivers its adds and updates, while the
 * next page is requested on a second thread (the API server's time and ours overlap; at most two
 * pages are held, as much as one page of 500 before); at its end, keys it did not see are dropped
 * with delete callbacks. A 410 Gone (SL_EGONE) or a dropped connection (SL_ERETRY) leads to a
 * relist after a backoff (200 ms doubling to 30 s, with jitter); on a relist, keys that vanished
 * get delete callbacks, changed ones update callbacks. A watch the server ends normally is resumed
 * from the last resourceVersion seen.
 *
 * Keys are "namespace/name" for namespaced objects and "name" for cluster-scoped ones.
 * Cached objects are stored as compact JSON text without metadata.managedFields: a jansson tree
 * costs several times its text, and the controller must hold 10,000 ImageDeliveries in well
 * under 64 MiB. Readers (sl_informer_get*, sl_informer_list, handlers) get freshly parsed
 * copies, which they own and may modify.
 *
 * List and watch go through struct sl_list_watcher, so tests drive an informer without an API
 * server; sl_list_watcher_from_client (listwatch.c) builds one on kube/client.h. */
#ifndef SL_RUNTIME_INFORMER_H
#define SL_RUNTIME_INFORMER_H

#include "kube/client.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_INFORMER_PAGE_LIMIT 250
/* Pages of metadata_only informers are smaller: their objects arrive whole (a Helm release
 * Secret is up to 1 MiB) although only metadata is kept. */
#define SL_INFORMER_METADATA_PAGE_LIMIT 20
#define SL_INFORMER_RELIST_INITIAL_MS   200
#define SL_INFORMER_RELIST_MAX_MS       30000

/* The list and watch calls of kube/client.h, behind function pointers. */
struct sl_list_watcher {
    void *ctx;
    int (*list)(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                const struct sl_kube_list_opts *opts, struct sl_err *err);
    int (*watch)(void *ctx, const struct sl_kube_resource *res, const char *ns,
                 const struct sl_kube_watch_opts *opts, sl_kube_watch_fn fn, void *fn_ctx,
                 struct sl_err *err);
};

/* Fills lw with list/watch calls on a real client (c borrowed, must outlive lw). */
void sl_list_watcher_from_client(struct sl_list_watcher *lw, struct sl_kube_client *c);

/* Change callbacks; objects are borrowed for the call (incref to keep; do not modify). They run
 * on the informer's thread, in the order of the changes, without informer locks held; they
 * should be quick (enqueue a key). Any may be NULL. */
struct sl_informer_handlers {
    void *ctx;
    void (*on_add)(void *ctx, const json_t *obj);
    void (*on_update)(void *ctx, const json_t *old_obj, const json_t *new_obj);
    void (*on_delete)(void *ctx, const json_t *obj);
};

struct sl_informer_opts {
    const struct sl_kube_resource *res; /* borrowed; must outlive the informer */
    const char *ns;                     /* NULL or "" = all namespaces */
    const char *label_selector;         /* or NULL */
    /* Keep only apiVersion, kind and metadata of each object (for Secrets: the controller
     * learns which changed and reads the ones it uses through the API, so the cluster's key
     * material is not held in memory). Handlers of watch events still get the whole object. */
    bool metadata_only;
    struct sl_list_watcher lw;
    struct sl_informer_handlers handlers;
    int64_t relist_initial_ms; /* 0 = SL_INFORMER_RELIST_INITIAL_MS */
    int64_t relist_max_ms;     /* 0 = SL_INFORMER_RELIST_MAX_MS */
    int watch_timeout_s;       /* server-side watch timeout; 0 = random 300..600 s */
};

struct sl_informer;

/* Creates a stopped informer (strings copied). Free with sl_informer_free. */
struct sl_informer *sl_informer_new(const struct sl_informer_opts *opts);
/* Frees (stops first). NULL is a no-op. */
void sl_informer_free(struct sl_informer *inf);

/* Starts the list/watch thread. Returns 0 or SL_EFAIL. */
int sl_informer_start(struct sl_informer *inf, struct sl_err *err);
/* Stops the thread and waits for it (at most about a second: watches poll for cancellation).
 * The cache stays readable. Safe to call twice. */
void sl_informer_stop(struct sl_informer *inf);
/* Asks the thread to stop without waiting (stop many informers at once, then
 * sl_informer_stop each to join). */
void sl_informer_request_stop(struct sl_informer *inf);
/* True once the first full list has been stored (and handlers called for it). Before that,
 * the cache may hold the pages listed so far. */
bool sl_informer_has_synced(struct sl_informer *inf);
/* Blocks until synced, stopped, or timeout_ms passed (< 0: no limit). Returns has_synced. */
bool sl_informer_wait_synced(struct sl_informer *inf, int64_t timeout_ms);

/* A copy of the cached object for key (the caller's: json_decref it), or NULL. */
json_t *sl_informer_get_key(struct sl_informer *inf, const char *key);
/* Same with ns (ignored/"" for cluster-scoped) and name. */
json_t *sl_informer_get(struct sl_informer *inf, const char *ns, const char *name);
/* A JSON array with a copy of every cached object (the caller's). Never NULL. Parses every
 * object: meant for tests and small caches. */
json_t *sl_informer_list(struct sl_informer *inf);
/* Number of cached objects. */
size_t sl_informer_count(struct sl_informer *inf);
/* How many lists (the first one included) this informer has done, for tests and logs. */
long sl_informer_list_count(struct sl_informer *inf);
const struct sl_kube_resource *sl_informer_resource(const struct sl_informer *inf);

/* The cache key of obj ("ns/name" or "name"), written to out (size n). Returns 0, or
 * SL_EINVAL when obj has no metadata.name (or out is too small). */
int sl_informer_key(char *out, size_t n, const json_t *obj);

#endif
