/* A thread-safe "reference index" for secondary watches: which owner objects (SigningKeys,
 * ScanPolicies, ImageDeliveries, ...) reference which other objects (Secrets, ConfigMaps, ...)
 * of their own namespace, so that a reconciler's map_secondary can enqueue exactly the owners
 * that reference a changed object. Both directions are hashed: setting an owner's references
 * costs what that owner references, and a lookup what references that object, never what the
 * whole index holds (a fleet of thousands of ImageDeliveries sets one owner per reconcile). */
#ifndef SL_RUNTIME_REFINDEX_H
#define SL_RUNTIME_REFINDEX_H

#include <stddef.h>

struct sl_refindex;

/* One reference of an owner: an object of kind `kind` named `name` in the owner's namespace. */
struct sl_refindex_ref {
    const char *kind; /* e.g. "Secret", "ConfigMap"; any string, compared exactly */
    const char *name;
};

/* A new, empty index (never NULL). Free it with sl_refindex_free. */
struct sl_refindex *sl_refindex_new(void);
/* Frees the index and everything it holds. x may be NULL. */
void sl_refindex_free(struct sl_refindex *x);
/* Replaces what the index knows about owner ns/owner with refs[0..n) (copied; duplicates are
 * kept once). n = 0 forgets the owner. Refs whose kind or name is NULL are skipped. */
void sl_refindex_set(struct sl_refindex *x, const char *ns, const char *owner,
                     const struct sl_refindex_ref *refs, size_t n);
/* Calls enqueue(qctx, ns, owner) once for every owner in namespace ns that references the
 * object kind/ns/name, in the order the references were set. enqueue is called without the
 * index's lock held, so it may take its own locks (or even call back into the index). */
void sl_refindex_enqueue(struct sl_refindex *x, const char *kind, const char *ns, const char *name,
                         void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx);

#endif
