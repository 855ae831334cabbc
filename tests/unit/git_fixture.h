/* A scratch git repository made with the git CLI, for the unit tests that fetch from a real
 * local repository (file://): the git client's and the GitSource reconciler's. */
#ifndef SL_TEST_GIT_FIXTURE_H
#define SL_TEST_GIT_FIXTURE_H

#include <stddef.h>

/* Runs a shell command (formatted as printf does, at most 2 KiB); returns system()'s status. */
int sl_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes a scratch folder $TMPDIR/PREFIX-<random> (or under /tmp) into dir (dir_n bytes) and an
 * empty repository on branch main at dir/repo into repo (repo_n bytes). Ends the test program (exit
 * 2) when the folder cannot be made. The caller removes dir (sl_test_sh("rm -rf '%s'", dir)). */
void sl_test_git_init(char *dir, size_t dir_n, char *repo, size_t repo_n, const char *prefix);

/* Writes content to repo/rel, making the folders on the way. */
void sl_test_git_write(const char *repo, const char *rel, const char *content);

/* Commits everything in repo's work tree (added, changed, removed) with message msg, as
 * t <t@example.com>. */
void sl_test_git_commit(const char *repo, const char *msg);

#endif
