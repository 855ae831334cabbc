/* A git fetch bounded in time: sl_git_fetch (gitfetch.h) run in a child process of the sealift
 * binary (`sealift git-fetch`), which is killed when the fetch outlives its timeout. libgit2
 * 1.5 has no timeout of its own: a server that accepts the connection and then stalls would hold
 * the fetch, and the GitSource's worker, forever; a stopped thread cannot be taken back, a
 * stopped process can.
 *
 * The request (cache directory, URL, ref and credentials) goes to the child on a pipe, never on
 * the command line or in the environment; the answer comes back on another pipe as one JSON
 * object. */
#ifndef SL_GIT_FETCHPROC_H
#define SL_GIT_FETCHPROC_H

#include "git/gitfetch.h"
#include "util/err.h"

#include <stdint.h>

/* Longest timeout a caller may ask for, and the answer's size cap. */
#define SL_GIT_FETCH_TIMEOUT_MAX_MS ((int64_t)3600 * 1000)

/* Runs `exe git-fetch` (exe: the sealift binary, e.g. /proc/self/exe), hands it the fetch of
 * url at ref into cache_dir with auth (borrowed, written to the child's stdin only), and waits at
 * most timeout_ms (1 ms .. SL_GIT_FETCH_TIMEOUT_MAX_MS) for its answer. On time: the child's
 * result, as sl_git_fetch would return it (out filled on 0; the error code and message on
 * failure). Past the deadline the child is killed, cache_dir is removed (a fetch stopped halfway
 * may leave lock files that would fail the next one; the next fetch clones again), and
 * SL_ERETRY is returned with a message naming the timeout. SL_EFAIL when the child cannot be
 * started or answers nothing readable. */
int sl_git_fetch_bounded(struct sl_git_result *out, const char *exe, const char *cache_dir,
                         const char *url, const struct sl_git_ref *ref,
                         const struct sl_git_auth *auth, int64_t timeout_ms, struct sl_err *err);

/* The child's side, `sealift git-fetch`: reads one request from stdin (at most 1 MiB), runs
 * sl_git_fetch and writes the answer to stdout. argc/argv start at the command name (no flags).
 * After the answer the process ends (_exit, no exit handlers); it returns only with the exit code
 * of a usage error or an unreadable request (2) or of --help (0). */
int sl_git_fetch_child_main(int argc, char **argv);

#endif
