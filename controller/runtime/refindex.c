/* The reference index for secondary watches (see refindex.h). */
#include "runtime/refindex.h"

#include "util/mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ref_entry {
    char *kind;
    char *ns;
    char *name;  /* the referenced object's name */
    char *owner; /* the referencing object's name (same namespace) */
};

struct sl_refindex {
    pthread_mutex_t lock; /* guards refs: reconciles and map_secondary run on many threads */
    struct ref_entry *refs;
    size_t nrefs, cap;
};

static void ref_entry_free(struct ref_entry *e)
{
    free(e->kind);
    free(e->ns);
    free(e->name);
    free(e->owner);
}

struct sl_refindex *sl_refindex_new(void)
{
    struct sl_refindex *x = sl_xcalloc(1, sizeof(*x));
    pthread_mutex_init(&x->lock, NULL);
    return x;
}

void sl_refindex_free(struct sl_refindex *x)
{
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->nrefs; i++)
        ref_entry_free(&x->refs[i]);
    free(x->refs);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

/* True when owner ns/owner already has kind/name among refs[from..nrefs). Lock held. */
static bool has_ref_locked(const struct sl_refindex *x, size_t from, const char *kind,
                           const char *name)
{
    for (size_t i = from; i < x->nrefs; i++)
        if (strcmp(x->refs[i].kind, kind) == 0 && strcmp(x->refs[i].name, name) == 0)
            return true;
    return false;
}

void sl_refindex_set(struct sl_refindex *x, const char *ns, const char *owner,
                     const struct sl_refindex_ref *refs, size_t n)
{
    pthread_mutex_lock(&x->lock);
    size_t w = 0;
    for (size_t i = 0; i < x->nrefs; i++) {
        struct ref_entry *e = &x->refs[i];
        if (strcmp(e->ns, ns) == 0 && strcmp(e->owner, owner) == 0) {
            ref_entry_free(e);
            continue;
        }
        x->refs[w++] = *e;
    }
    x->nrefs = w;
    size_t first = x->nrefs; /* this owner's new entries start here */
    for (size_t k = 0; k < n; k++) {
        if (refs[k].kind == NULL || refs[k].name == NULL)
            continue;
        if (has_ref_locked(x, first, refs[k].kind, refs[k].name))
            continue;
        if (x->nrefs == x->cap) {
            x->cap = x->cap ? x->cap * 2 : 16;
            x->refs = sl_xrealloc(x->refs, x->cap * sizeof(*x->refs));
        }
        x->refs[x->nrefs++] = (struct ref_entry){
            .kind = sl_xstrdup(refs[k].kind),
            .ns = sl_xstrdup(ns),
            .name = sl_xstrdup(refs[k].name),
            .owner = sl_xstrdup(owner),
        };
    }
    pthread_mutex_unlock(&x->lock);
}

void sl_refindex_enqueue(struct sl_refindex *x, const char *kind, const char *ns, const char *name,
                         void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    /* collect under the lock, enqueue after: enqueue may take the queue's own lock */
    char **hits = NULL;
    size_t nhits = 0;
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < x->nrefs; i++) {
        const struct ref_entry *e = &x->refs[i];
        if (strcmp(e->kind, kind) != 0 || strcmp(e->ns, ns) != 0 || strcmp(e->name, name) != 0)
            continue;
        bool seen = false;
        for (size_t j = 0; j < nhits && !seen; j++)
            seen = strcmp(hits[j], e->owner) == 0;
        if (seen)
            continue;
        hits = sl_xrealloc(hits, (nhits + 1) * sizeof(*hits));
        hits[nhits++] = sl_xstrdup(e->owner);
    }
    pthread_mutex_unlock(&x->lock);
    for (size_t i = 0; i < nhits; i++) {
        enqueue(qctx, ns, hits[i]);
        free(hits[i]);
    }
    free(hits);
}
