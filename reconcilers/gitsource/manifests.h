/* Turning the files of a GitSource revision into the objects to apply: every YAML document of
 * every file, checked against the GitSource rules of DESIGN.md section 3:
 *   - only sealift.dev kinds (ImageDelivery, ScanPolicy, SigningKey, DeployPolicy, GitSource);
 *   - namespaced objects default to the GitSource's namespace and may name another namespace
 *     only when the GitSource lives in the controller's namespace;
 *   - cluster-scoped kinds (DeployPolicy) only from a GitSource in the controller's namespace;
 *   - no two documents for the same object.
 * A bad document is reported with its file path and line and skipped; the others still load.
 * Pure: no I/O. */
#ifndef SL_GITOPS_MANIFESTS_H
#define SL_GITOPS_MANIFESTS_H

#include "git/gitfetch.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>

struct sl_manifest_set {
    json_t *objects;      /* array of objects to apply (metadata.namespace filled in) */
    json_t *sources;      /* array of strings "path:line", where objects[i] was defined */
    json_t *errors;       /* array of strings "path:line: problem" */
    json_t *failed_files; /* array of paths of files that could not be parsed at all */
};

/* Loads files (borrowed) for a GitSource in namespace source_ns, with the controller running
 * in controller_ns. out is filled (free with sl_manifest_set_clear). Never fails on bad
 * content (that goes to out->errors); returns 0. */
int sl_manifests_load(struct sl_manifest_set *out, const struct sl_git_file *files, size_t count,
                      const char *source_ns, const char *controller_ns);
void sl_manifest_set_clear(struct sl_manifest_set *set);

/* Is kind one of sealift.dev's, and is it namespaced? */
bool sl_manifests_known_kind(const char *kind, bool *namespaced);

/* May a GitSource in source_ns (controller running in controller_ns) delete the object that a
 * status.inventory entry ({apiVersion, kind, namespace, name}, borrowed) names? The same rules as
 * for applying: a sealift.dev kind, a valid name, a namespaced object only in source_ns unless
 * the GitSource is in controller_ns, a cluster-scoped one only from controller_ns. The inventory
 * is status, which others may be allowed to write, so it is checked before anything is deleted.
 * Returns true, or false with the reason in why (why_size bytes, may be 0). */
bool sl_manifests_entry_allowed(const json_t *entry, const char *source_ns,
                                const char *controller_ns, char *why, size_t why_size);

#endif
