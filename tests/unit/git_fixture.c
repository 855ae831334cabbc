#include "git_fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int sl_test_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

void sl_test_git_init(char *dir, size_t dir_n, char *repo, size_t repo_n, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dir_n, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix); /* mkdtemp template */
    if (!mkdtemp(dir)) {
        fprintf(stderr, "cannot make the scratch folder %s\n", dir);
        exit(2);
    }
    snprintf(repo, repo_n, "%s/repo", dir);
    sl_test_sh("git init -q -b main '%s'", repo);
}

void sl_test_git_write(const char *repo, const char *rel, const char *content)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", repo, rel);
    sl_test_sh("mkdir -p \"$(dirname '%s')\"", path);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fputs(content, f);
    fclose(f);
}

void sl_test_git_commit(const char *repo, const char *msg)
{
    sl_test_sh(
        "cd '%s' && git add -A && git -c user.name=t -c user.email=t@example.com commit -qm '%s'",
        repo, msg);
}
