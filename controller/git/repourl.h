/* Repository URLs of GitSources and of the git Secrets that hold their credentials: which
 * transport a URL uses, and whether a Secret's `url` covers a GitSource's spec.url. Pure: no
 * I/O. */
#ifndef SL_GITOPS_REPOURL_H
#define SL_GITOPS_REPOURL_H

#include <stdbool.h>
#include <stddef.h>

enum sl_repourl_kind {
    SL_REPOURL_REMOTE,      /* https://, http://, ssh://, git:// or scp-like user@host:path */
    SL_REPOURL_LOCAL,       /* file:// or a path: the controller's own filesystem */
    SL_REPOURL_UNSUPPORTED, /* another scheme, or not a URL */
};

/* Which kind of URL url is. */
enum sl_repourl_kind sl_repourl_kind(const char *url);

/* Does secret_url (the `url` key of a git Secret: a repository URL or a prefix of one) cover
 * url (a GitSource's spec.url)? The schemes and hosts (with port) must be equal (user names are
 * ignored; scp-like user@host:path counts as ssh://host/path), and the Secret's path must be
 * url's path or a prefix of it that ends on a "/" boundary; a trailing "/" or ".git" does not
 * matter. A url path with "." or ".." segments, percent-escapes, a backslash, a query or a
 * fragment is never covered (a server could resolve it to another repository). Returns true,
 * or false with the reason in why (why_size bytes, may be 0). */
bool sl_repourl_covers(const char *secret_url, const char *url, char *why, size_t why_size);

/* Do a and b name the same server: equal schemes and hosts with port (user names ignored)?
 * False when either is not a URL. */
bool sl_repourl_same_server(const char *a, const char *b);

#endif
