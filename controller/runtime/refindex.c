/* The reference index for secondary watches (see refindex.h). */
#include "runtime/refindex.h"

#include "util/mem.h"
#include "util/strmap.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What one owner references: the keys of its referenced objects, and when it was last set (the
 * order sl_refindex_enqueue reports owners in). */
struct owner_refs {
    char **targets; /* target keys (see target_key) */
    size_t n;
    uint64_t seq;
};

struct sl_refindex {
    pthread_mutex_t lock;   /* guards everything below: reconciles and map_secondary run on
                             * many threads */
    struct sl_strmap owner; /* owner key (ns + owner name) -> struct owner_refs* */
    struct sl_strmap refby; /* target key (kind + ns + name) -> struct sl_strmap* of owner
                             * names (values unused) */
    uint64_t seq;
};

/* Keys made of several strings, each but the last prefixed with its length, so that no two
 * different tuples make the same key whatever bytes they hold. */
static char *owner_key(const char *ns, const char *owner)
{
    return sl_xasprintf("%zu:%s%s", strlen(ns), ns, owner);
}

static char *target_key(const char *kind, const char *ns, const char *name)
{
    return sl_xasprintf("%zu:%s%zu:%s%s", strlen(kind), kind, strlen(ns), ns, name);
}

static void owner_refs_free(void *p)
{
    struct owner_refs *o = p;
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->targets[i]);
    free(o->targets);
    free(o);
}

static void owner_set_free(void *p)
{
    struct sl_strmap *m = p;
    if (!m)
        return;
    sl_strmap_clear(m, NULL);
    free(m);
}

struct sl_refindex *sl_refindex_new(void)
{
    struct sl_refindex *x = sl_xcalloc(1, sizeof(*x));
    pthread_mutex_init(&x->lock, NULL);
    sl_strmap_init(&x->owner);
    sl_strmap_init(&x->refby);
    return x;
}

void sl_refindex_free(struct sl_refindex *x)
{
    if (x == NULL)
        return;
    sl_strmap_clear(&x->owner, owner_refs_free);
    sl_strmap_clear(&x->refby, owner_set_free);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

/* Forgets every reference of the owner named okey (name `owner`). Lock held. */
static void forget_owner_locked(struct sl_refindex *x, const char *okey, const char *owner)
{
    struct owner_refs *o = sl_strmap_remove(&x->owner, okey, NULL);
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        struct sl_strmap *owners = sl_strmap_get(&x->refby, o->targets[i], NULL);
        if (!owners)
            continue;
        sl_strmap_remove(owners, owner, NULL);
        if (sl_strmap_count(owners) == 0)
            owner_set_free(sl_strmap_remove(&x->refby, o->targets[i], NULL));
    }
    owner_refs_free(o);
}

void sl_refindex_set(struct sl_refindex *x, const char *ns, const char *owner,
                     const struct sl_refindex_ref *refs, size_t n)
{
    char *okey = owner_key(ns, owner);
    pthread_mutex_lock(&x->lock);
    forget_owner_locked(x, okey, owner);
    struct owner_refs *o = NULL;
    for (size_t k = 0; k < n; k++) {
        if (refs[k].kind == NULL || refs[k].name == NULL)
            continue;
        char *tkey = target_key(refs[k].kind, ns, refs[k].name);
        struct sl_strmap *owners = sl_strmap_get(&x->refby, tkey, NULL);
        bool dup = false;
        if (!owners) {
            owners = sl_xcalloc(1, sizeof(*owners));
            sl_strmap_init(owners);
            sl_strmap_put(&x->refby, tkey, owners);
        } else {
            sl_strmap_get(owners, owner, &dup);
        }
        if (dup) { /* the same reference twice in refs: kept once */
            free(tkey);
            continue;
        }
        sl_strmap_put(owners, owner, NULL);
        if (!o) {
            o = sl_xcalloc(1, sizeof(*o));
            o->targets = sl_xcalloc(n, sizeof(*o->targets));
            o->seq = ++x->seq;
        }
        o->targets[o->n++] = tkey;
    }
    if (o)
        sl_strmap_put(&x->owner, okey, o);
    pthread_mutex_unlock(&x->lock);
    free(okey);
}

struct hit {
    char *owner;
    uint64_t seq;
};

struct collect_ctx {
    struct sl_refindex *x;
    const char *ns;
    struct hit *hits;
    size_t n;
};

static bool collect_one(void *ctx, const char *owner, void *value)
{
    (void)value;
    struct collect_ctx *c = ctx;
    char *okey = owner_key(c->ns, owner);
    const struct owner_refs *o = sl_strmap_get(&c->x->owner, okey, NULL);
    free(okey);
    c->hits[c->n++] = (struct hit){.owner = sl_xstrdup(owner), .seq = o ? o->seq : 0};
    return false;
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct hit *)a)->seq, y = ((const struct hit *)b)->seq;
    return x < y ? -1 : x > y;
}

void sl_refindex_enqueue(struct sl_refindex *x, const char *kind, const char *ns, const char *name,
                         void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    /* collect under the lock, enqueue after: enqueue may take the queue's own lock */
    char *tkey = target_key(kind, ns, name);
    struct collect_ctx c = {.x = x, .ns = ns};
    pthread_mutex_lock(&x->lock);
    struct sl_strmap *owners = sl_strmap_get(&x->refby, tkey, NULL);
    if (owners && sl_strmap_count(owners) > 0) {
        c.hits = sl_xcalloc(sl_strmap_count(owners), sizeof(*c.hits));
        sl_strmap_each(owners, collect_one, &c);
    }
    pthread_mutex_unlock(&x->lock);
    free(tkey);
    if (c.n > 1)
        qsort(c.hits, c.n, sizeof(*c.hits), by_seq);
    for (size_t i = 0; i < c.n; i++) {
        enqueue(qctx, ns, c.hits[i].owner);
        free(c.hits[i].owner);
    }
    free(c.hits);
}
