/* A git fetch in a child process, bounded in time (controller/git/fetchproc.c): the real
 * `sealift git-fetch` child fetching a file:// repository, a child that stalls (killed at the
 * timeout, its half-written clone removed), and children that answer an error or nonsense. */
#include "check.h"
#include "git_fixture.h"
#include "git/fetchproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];
static char repo[300];

/* An executable shell script at tmp/name holding body; returns its path (static buffer). */
static const char *script(const char *name, const char *body)
{
    static char path[400];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    if (!f)
        exit(2);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
    return path;
}

static void test_real_child_fetches(void)
{
    const char *exe = getenv("SEALIFT_BIN");
    CHECK(exe != NULL);
    if (!exe)
        return;
    char cache[400], url[400], head[64] = "";
    snprintf(cache, sizeof(cache), "%s/cache-real", tmp);
    snprintf(url, sizeof(url), "file://%s", repo);
    struct sl_git_result res = {0};
    struct sl_git_ref ref = {.branch = "main"};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, url, &ref, NULL, 60000, &err), 0);
    FILE *p = popen("git -C \"$SL_TEST_REPO\" rev-parse HEAD", "r");
    if (p) {
        if (!fgets(head, sizeof(head), p))
            head[0] = '\0';
        pclose(p);
    }
    head[strcspn(head, "\n")] = '\0';
    CHECK_STR_EQ(res.commit, head);
    char want[80];
    snprintf(want, sizeof(want), "main@sha1:%s", head);
    CHECK_STR_EQ(res.revision, want);
    /* the child's errors come back with their code and message */
    ref.branch = "no-such-branch";
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, url, &ref, NULL, 60000, &err),
                 SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no-such-branch");
}

static void test_stalled_child_is_stopped(void)
{
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache-stalled", tmp);
    /* a clone stopped halfway: a ref lock file that would fail the next fetch */
    sl_test_sh("mkdir -p '%s/refs/sealift/heads' && touch '%s/refs/sealift/heads/main.lock'", cache,
               cache);
    char body[600];
    snprintf(body, sizeof(body), "echo $$ > '%s/stalled.pid'\nexec sleep 60", tmp);
    const char *exe = script("stall.sh", body);
    struct sl_git_result res = {0};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, "https://user@git.example/x.git", NULL,
                                      NULL, 1000, &err),
                 SL_ERETRY);
    CHECK_CONTAINS(err.msg, "did not finish within the timeout of 1s (spec.timeout)");
    CHECK_CONTAINS(err.msg, "https://git.example/x.git");
    CHECK(access(cache, F_OK) != 0); /* the next fetch starts from a fresh clone */
    /* the child is gone, not left running */
    CHECK_INT_EQ(sl_test_sh("kill -0 $(cat '%s/stalled.pid') 2>/dev/null", tmp) != 0, 1);
    CHECK_INT_EQ(
        sl_git_fetch_bounded(&res, exe, cache, "https://git.example/x.git", NULL, NULL, 1500, &err),
        SL_ERETRY);
    CHECK_CONTAINS(err.msg, "timeout of 1500ms");
}

static void test_child_answers(void)
{
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache-answers", tmp);
    struct sl_git_result res = {0};
    struct sl_err err = {0};
    const char *exe =
        script("auth.sh", "cat >/dev/null; printf '%s' '{\"rc\":-8,\"message\":\"credentials were "
                          "rejected\"}'");
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, "https://git.example/x.git", NULL, NULL,
                                      10000, &err),
                 SL_EAUTH);
    CHECK_STR_EQ(err.msg, "credentials were rejected");
    exe = script("junk.sh", "cat >/dev/null; echo not json");
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, "https://git.example/x.git", NULL, NULL,
                                      10000, &err),
                 SL_EFAIL);
    exe = script("badcommit.sh",
                 "cat >/dev/null; printf '%s' '{\"rc\":0,\"commit\":\"../../etc\",\"revision\":"
                 "\"x\"}'");
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, "https://git.example/x.git", NULL, NULL,
                                      10000, &err),
                 SL_EFAIL);
    exe = script("dies.sh", "cat >/dev/null; exit 3");
    CHECK_INT_EQ(sl_git_fetch_bounded(&res, exe, cache, "https://git.example/x.git", NULL, NULL,
                                      10000, &err),
                 SL_EFAIL);
    CHECK_CONTAINS(err.msg, "exit code 3");
    /* the request reaches the child on stdin, credentials included, never on its command line */
    char body[600];
    snprintf(body, sizeof(body), "cat > '%s/request.json'; echo \"$@\" > '%s/args'", tmp, tmp);
    exe = script("record.sh", body);
    struct sl_git_auth auth = {.username = "u", .password = "pw-123"};
    sl_git_fetch_bounded(&res, exe, cache, "https://git.example/x.git", NULL, &auth, 10000, &err);
    CHECK_INT_EQ(sl_test_sh("grep -q pw-123 '%s/request.json'", tmp), 0);
    CHECK_INT_EQ(sl_test_sh("grep -q pw-123 '%s/args'", tmp) != 0, 1);
    CHECK_INT_EQ(sl_test_sh("grep -qx git-fetch '%s/args'", tmp), 0);
}

int main(void)
{
    sl_test_git_init(tmp, sizeof(tmp), repo, sizeof(repo), "sealift-unit-fetchproc");
    sl_test_git_write(repo, "a.yaml", "a: 1\n");
    sl_test_git_commit(repo, "first");
    setenv("SL_TEST_REPO", repo, 1);
    RUN(test_real_child_fetches);
    RUN(test_stalled_child_is_stopped);
    RUN(test_child_answers);
    sl_test_sh("rm -rf '%s'", tmp);
    return CHECK_EXIT();
}
