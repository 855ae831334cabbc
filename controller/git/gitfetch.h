/* Git access for GitSource (libgit2): keep a bare clone per source, fetch incrementally,
 * resolve a branch / tag / commit, and read manifest files straight from the commit's tree
 * (nothing is checked out on disk).
 *
 * Transports: https (username/password or token; TLS verified, optionally against a private CA),
 * ssh:// (private key + known_hosts; the host key must match), git:// and file://.
 * Thread-safety: calls on different cache directories may run concurrently. */
#ifndef SL_GITOPS_GITFETCH_H
#define SL_GITOPS_GITFETCH_H

#include "util/err.h"

#include <stddef.h>

struct sl_git_ref {
    const char *branch; /* exactly one of these is set; none = branch "main"... see below */
    const char *tag;
    const char *commit; /* 40 hex */
};

/* Credentials and trust; every field may be NULL. Secrets are borrowed and never logged. */
struct sl_git_auth {
    const char *username;
    const char *password;     /* password or token (https) */
    const char *identity_pem; /* ssh private key (OpenSSH or PEM format) */
    const char *known_hosts;  /* OpenSSH known_hosts text; required for ssh:// */
    const char *ca_pem;       /* private CA for https */
};

struct sl_git_result {
    char commit[41];    /* resolved commit id, hex */
    char revision[320]; /* "<branch>@sha1:<hex>", "<tag>@sha1:<hex>" or "sha1:<hex>" */
};

/* Initialises libgit2 once per process (safe to call repeatedly). */
void sl_git_global_init(void);

/* Fetches url into the bare repository at cache_dir (created when missing; the remote URL is
 * updated when it changed) and resolves ref (no ref = the remote's default branch HEAD).
 * Returns 0, SL_ENOTFOUND (branch/tag/commit missing), SL_EAUTH (rejected credentials or host
 * key), SL_ERETRY (network), SL_EINVAL (bad URL or options). */
int sl_git_fetch(struct sl_git_result *out, const char *cache_dir, const char *url,
                 const struct sl_git_ref *ref, const struct sl_git_auth *auth, struct sl_err *err);

/* One file read from a commit. */
struct sl_git_file {
    char *path;    /* repository-relative path */
    char *content; /* NUL-terminated */
    size_t len;
};

/* Reads every regular file named *.yaml or *.yml below dir (repository-relative; "" or "." is
 * the root) in commit `commit` of the bare repository at cache_dir, sorted by path. Files over
 * 16 MiB, and more than 10,000 files, are refused with SL_ETOOBIG. SL_ENOTFOUND when dir does
 * not exist in that commit. */
int sl_git_read_manifests(struct sl_git_file **out, size_t *out_count, const char *cache_dir,
                          const char *commit, const char *dir, struct sl_err *err);
void sl_git_files_free(struct sl_git_file *files, size_t count);

/* A commit's or a tag's signature as git stores it. */
struct sl_git_signature {
    char *signature; /* armored, e.g. "-----BEGIN SSH SIGNATURE-----..." */
    size_t signature_len;
    char *signed_data; /* what was signed: the object without its signature */
    size_t signed_len;
};

/* Reads the signature of commit `commit` (tag NULL) or of the annotated tag that the last fetch
 * of tag `tag` stored (refs/sealift/tags/<tag>) in the bare repository at cache_dir into out
 * (free with sl_git_signature_clear). Returns 0, SL_ENOTFOUND when the object carries no
 * signature (or the tag is a lightweight one, which cannot), SL_EFAIL otherwise. */
int sl_git_read_signature(struct sl_git_signature *out, const char *cache_dir, const char *commit,
                          const char *tag, struct sl_err *err);
void sl_git_signature_clear(struct sl_git_signature *s);

#endif
