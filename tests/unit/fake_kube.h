/* An in-memory Kubernetes API for reconciler unit tests: implements struct sl_kube_ops
 * (kube/ops.h) with kube-apiserver's object semantics, so a reconciler can be run against it
 * with no network.
 *
 * Usage:
 *     struct sl_fake_kube *fk = sl_fake_kube_new();
 *     struct sl_kube_ops ops;
 *     sl_fake_kube_ops(fk, &ops);
 *     sl_fake_kube_put(fk, &SL_RES_IMAGEDELIVERY, obj);        // seed (obj borrowed, copied)
 *     ... run the reconciler with &ops ...
 *     json_t *got = sl_fake_kube_find(fk, &SL_RES_IMAGEDELIVERY, "ns", "name");  // borrowed
 *     CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
 *     sl_fake_kube_free(fk);
 *
 * Semantics (as kube-apiserver):
 * - every stored object gets metadata.uid, creationTimestamp, resourceVersion (one global
 *   counter, a decimal string), generation (1 on create), apiVersion and kind from the resource;
 * - create: SL_EEXISTS when the name is taken, metadata.generateName is honoured; for kinds with
 *   a status subresource (all sealift.dev kinds) the status of the request is dropped;
 * - update / update_status: SL_EINVAL when metadata.resourceVersion is missing, SL_ECONFLICT when
 *   it is stale, SL_ENOTFOUND when the object is absent. update keeps the stored status (status
 *   subresource kinds); update_status changes only status. generation is bumped when anything
 *   outside metadata and status changes. A write that changes nothing keeps resourceVersion;
 * - patch: merge (RFC 7386), strategic (treated as merge), JSON patch (RFC 6902: add, remove,
 *   replace, test, move, copy) and apply (treated as merge; creates the object when absent,
 *   field_manager required). A metadata.resourceVersion in a merge patch is checked
 *   (SL_ECONFLICT when stale). opts->status patches only the status;
 * - delete: an object with metadata.finalizers gets metadata.deletionTimestamp and stays until an
 *   update removes the last finalizer; otherwise it is removed;
 * - list: items sorted by namespace/name; label selectors (k=v, k==v, k!=v, k, !k, k in (a,b),
 *   k notin (a,b)) and field selectors (metadata.name, metadata.namespace; = == !=); limit and
 *   continue are ignored (everything in one page); ns NULL/"" lists all namespaces.
 * Errors carry kube-apiserver's message texts (e.g. `imagedeliveries.sealift.dev "x" not found`),
 * klass SL_ERRC_KUBE and http_status. All functions are thread-safe. */
#ifndef SL_TESTS_FAKE_KUBE_H
#define SL_TESTS_FAKE_KUBE_H

#include "kube/ops.h"

#include <jansson.h>

struct sl_fake_kube;

/* A new empty fake API server. Free with sl_fake_kube_free. */
struct sl_fake_kube *sl_fake_kube_new(void);
/* Frees the fake and every stored object. NULL is a no-op. */
void sl_fake_kube_free(struct sl_fake_kube *fk);

/* Fills ops with functions that act on fk (fk must outlive ops). */
void sl_fake_kube_ops(struct sl_fake_kube *fk, struct sl_kube_ops *ops);

/* Stores a copy of obj (borrowed) as is, creating or replacing it, without counting a write and
 * without any of the checks of create/update: for seeding test state. Missing metadata
 * (uid, resourceVersion, generation, creationTimestamp, apiVersion, kind) is filled in; a given
 * status is kept. The namespace comes from metadata.namespace ("default" when absent for a
 * namespaced kind). Returns 0 or SL_EINVAL (no metadata.name). */
int sl_fake_kube_put(struct sl_fake_kube *fk, const struct sl_kube_resource *res, json_t *obj);

/* The stored object, borrowed (valid until the next call that changes it), or NULL. ns is
 * ignored for cluster-scoped kinds. */
json_t *sl_fake_kube_find(struct sl_fake_kube *fk, const struct sl_kube_resource *res,
                          const char *ns, const char *name);

/* Removes an object directly (ignores finalizers; not a counted write). Returns 0 or
 * SL_ENOTFOUND. */
int sl_fake_kube_remove(struct sl_fake_kube *fk, const struct sl_kube_resource *res, const char *ns,
                        const char *name);

/* How many stored objects of res (in ns; NULL/"" = all namespaces). */
int sl_fake_kube_count(struct sl_fake_kube *fk, const struct sl_kube_resource *res, const char *ns);

/* Number of successful write calls through ops (create, update, update_status, patch, del),
 * including writes that changed nothing. */
int sl_fake_kube_writes(struct sl_fake_kube *fk);

/* The successful write calls so far, one string each, "<verb> <plural> <ns>/<name>" (cluster-
 * scoped: "<verb> <plural> <name>"), verb one of create, update, update_status, patch,
 * patch_status, delete. A borrowed JSON array. */
json_t *sl_fake_kube_write_log(struct sl_fake_kube *fk);

/* Makes the next call through ops (any verb) fail with code (an SL_E* code), with message
 * "injected failure" and the matching HTTP status. */
void sl_fake_kube_fail_next(struct sl_fake_kube *fk, int code);

/* Makes the next call of one verb ("get", "list", "create", "update", "update_status",
 * "patch", "delete") fail with code; other verbs are unaffected. */
void sl_fake_kube_fail_next_verb(struct sl_fake_kube *fk, const char *verb, int code);

#endif
