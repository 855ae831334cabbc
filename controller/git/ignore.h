/* GitSource spec.ignore: which repository files are not applied, in gitignore syntax (Flux's
 * `ignore`, the .gitignore format, as if the text were a .gitignore at the repository root).
 *
 * Rules: one pattern per line; blank lines and lines starting with `#` are skipped; `\#` and
 * `\!` start a pattern with a literal `#` or `!`; trailing spaces are dropped. `!` re-includes
 * what an earlier pattern excluded (the last matching pattern wins), except below an excluded
 * directory. A trailing `/` matches directories only. A pattern with a `/` at its start or in
 * its middle is anchored at the repository root; without one it matches a name at any depth.
 * `*` and `?` do not match `/`; `[a-z]`, `[!a-z]` are character classes; `**` as a whole path
 * segment matches any number of directories (`**` + `/foo`, `foo/` + `**`, `a/` + `**` +
 * `/b`).
 * Bounded: at most SL_GIT_IGNORE_MAX_PATTERNS patterns of SL_GIT_IGNORE_MAX_LINE bytes, and a
 * step budget per match (a pattern made to backtrack endlessly matches nothing). Pure: no I/O. */
#ifndef SL_GIT_IGNORE_H
#define SL_GIT_IGNORE_H

#include "util/err.h"

#include <stdbool.h>

#define SL_GIT_IGNORE_MAX_PATTERNS 256
#define SL_GIT_IGNORE_MAX_LINE     1024

struct sl_git_ignore;

/* Parses text (NUL-terminated; NULL or "" = nothing ignored) into *out (free with
 * sl_git_ignore_free). Returns 0, or SL_EINVAL naming the line (too long, too many patterns, an
 * unterminated `[`) in err. */
int sl_git_ignore_parse(struct sl_git_ignore **out, const char *text, struct sl_err *err);

/* Is the repository-relative file path (e.g. "deploy/a.yaml", no leading `/`) ignored: the file
 * itself, or a directory it is in? */
bool sl_git_ignore_file(const struct sl_git_ignore *ig, const char *path);

/* How many patterns ig holds (0 for NULL). */
int sl_git_ignore_count(const struct sl_git_ignore *ig);

void sl_git_ignore_free(struct sl_git_ignore *ig);

#endif
