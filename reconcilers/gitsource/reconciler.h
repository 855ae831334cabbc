/* The GitSource reconciler (DESIGN.md section 3, GitSource).
 *
 * Steps: suspend check -> spec.url (file:// and local paths only with --allow-local-paths) ->
 * credentials from spec.secretRef (only a Secret labelled SL_GITSOURCE_SECRET_TYPE_LABEL whose
 * `url` covers spec.url, see git/repourl.h) -> fetch (libgit2, a bare clone per
 * GitSource under cache_root/<namespace>/<name>; stopped after spec.timeout, default 60s, when
 * the controller passes a bounded fetch) -> with spec.verify, the commit (mode HEAD) or the tag
 * (mode Tag) must carry a valid SSH signature by a key of the Secret spec.verify.secretRef
 * (git/sshsig.h), else Ready=False reason Unverified and nothing is applied -> read the YAML
 * files under spec.path, less those spec.ignore matches (gitignore syntax, git/ignore.h) -> load
 * and check objects -> server-side apply (the GitSource's own field manager and labels, below)
 * of every object that differs from the cluster (an object whose live state already holds every
 * field of the git state is not written, so an unchanged revision without drift costs no
 * writes; an existing object that is not the GitSource's is not touched and named in Ready) ->
 * prune the objects that carry the GitSource's labels, listed from the API server, that the new
 * revision no longer contains (spec.prune; not while a file of the revision fails to parse) ->
 * status (artifact, lastAppliedRevision, inventory = the objects with its labels, Ready). Runs
 * again every spec.interval, which also corrects drift. An unreachable repository keeps the last
 * applied state and retries with backoff.
 *
 * Deletion (Flux Kustomization semantics): with spec.prune (the default) the GitSource carries
 * the finalizer SL_GITSOURCE_FINALIZER, added before anything is applied; without it the
 * finalizer is removed. When a GitSource with the finalizer is deleted, every object with its
 * labels that the apply rules allow it to manage is deleted (already gone is fine; a SigningKey's
 * key Secret is not one of them and is kept), then the finalizer is removed. A failed delete keeps
 * the finalizer, sets Ready=False reason PruneFailed naming the object, and retries with backoff. A
 * GitSource deleted while spec.prune is false or spec.suspend is true leaves its objects in place
 * (as Flux does). */
#ifndef SL_GITOPS_RECONCILER_H
#define SL_GITOPS_RECONCILER_H

#include "git/gitfetch.h"
#include "runtime/config.h"
#include "runtime/reconciler.h"

/* The finalizer a GitSource with spec.prune carries so its objects are deleted with it. */
#define SL_GITSOURCE_FINALIZER "sealift.dev/gitsource-prune"

/* A Secret spec.secretRef names must carry this label with this value, and a `url` key naming
 * the repository (or URL prefix) it is for; otherwise nothing is fetched (CredentialsNotForURL). */
#define SL_GITSOURCE_SECRET_TYPE_LABEL "sealift.dev/secret-type"
#define SL_GITSOURCE_SECRET_TYPE       "repository"

/* What a GitSource applies carries these two labels (its namespace and name), is applied with
 * the field manager SL_GITSOURCE_FIELD_MANAGER_PREFIX "<namespace>/<name>" (a digest of
 * "<namespace>/<name>" after the prefix when that would exceed 128 characters), and only objects
 * with both labels are changed or pruned. An existing object without them (created by someone
 * else) is left alone unless it carries SL_GITSOURCE_ADOPT_ANNOTATION "<namespace>/<name>". */
#define SL_GITSOURCE_LABEL_NAMESPACE      "sealift.dev/gitsource-namespace"
#define SL_GITSOURCE_LABEL_NAME           "sealift.dev/gitsource-name"
#define SL_GITSOURCE_ADOPT_ANNOTATION     "sealift.dev/adopt"
#define SL_GITSOURCE_FIELD_MANAGER_PREFIX "sealift-gitsource/"

/* Git access, behind an interface so unit tests can use a fake. NULL members use the real
 * libgit2 functions of git/gitfetch.h in this process (a fetch then has no timeout); the
 * controller passes sl_git_fetch_bounded (git/fetchproc.h), which stops a fetch after
 * timeout_ms (spec.timeout). */
struct sl_git_ops {
    void *ctx;
    int (*fetch)(void *ctx, struct sl_git_result *out, const char *cache_dir, const char *url,
                 const struct sl_git_ref *ref, const struct sl_git_auth *auth, int64_t timeout_ms,
                 struct sl_err *err);
    int (*read_manifests)(void *ctx, struct sl_git_file **out, size_t *out_count,
                          const char *cache_dir, const char *commit, const char *dir,
                          struct sl_err *err);
    int (*read_signature)(void *ctx, struct sl_git_signature *out, const char *cache_dir,
                          const char *commit, const char *tag, struct sl_err *err);
};

/* Creates the reconciler. cache_root is the directory for clones (copied). cc holds the
 * administrator's settings it applies (--min-interval, --allow-local-paths; copied, its strings
 * borrowed; NULL = none of them). git may be NULL. */
int sl_gitsource_reconciler_new(struct sl_reconciler **out, const char *cache_root,
                                const struct sl_controller_config *cc, const struct sl_git_ops *git,
                                struct sl_err *err);

#endif
