/* unit.git.ignore: GitSource spec.ignore, gitignore syntax (controller/git/ignore.c): negation,
 * anchors, directories, `**`, classes, escapes, and the bounds on hostile patterns. */
#include "check.h"
#include "git/ignore.h"

#include <stdlib.h>
#include <string.h>

static struct sl_git_ignore *parse(const char *text)
{
    struct sl_git_ignore *ig = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_git_ignore_parse(&ig, text, &err), 0);
    return ig;
}

#define IGNORED(ig, path) CHECK(sl_git_ignore_file((ig), (path)))
#define KEPT(ig, path)    CHECK(!sl_git_ignore_file((ig), (path)))

static void test_names_at_any_depth_and_anchors(void)
{
    struct sl_git_ignore *ig = parse("# drafts\n\n*.draft.yaml\n/root-only.yaml\n");
    CHECK_INT_EQ(sl_git_ignore_count(ig), 2);
    IGNORED(ig, "x.draft.yaml");
    IGNORED(ig, "deploy/deep/x.draft.yaml");
    KEPT(ig, "deploy/x.yaml");
    KEPT(ig, "deploy/x.draft.yaml.orig"); /* the whole name must match */
    IGNORED(ig, "root-only.yaml");
    KEPT(ig, "deploy/root-only.yaml"); /* anchored at the root */
    sl_git_ignore_free(ig);
    /* a slash in the middle anchors too; `*` does not cross `/` */
    ig = parse("deploy/*.yaml\n");
    IGNORED(ig, "deploy/a.yaml");
    KEPT(ig, "deploy/more/a.yaml");
    KEPT(ig, "other/deploy/a.yaml");
    sl_git_ignore_free(ig);
}

static void test_negation_last_match_wins(void)
{
    struct sl_git_ignore *ig = parse("*.yaml\n!keep.yaml\n");
    IGNORED(ig, "deploy/a.yaml");
    KEPT(ig, "deploy/keep.yaml");
    sl_git_ignore_free(ig);
    ig = parse("!keep.yaml\n*.yaml\n"); /* order matters */
    IGNORED(ig, "keep.yaml");
    sl_git_ignore_free(ig);
    /* below an excluded directory nothing comes back (as git) */
    ig = parse("secret/\n!secret/keep.yaml\n");
    IGNORED(ig, "secret/keep.yaml");
    sl_git_ignore_free(ig);
    /* `\!` and `\#` are literal */
    ig = parse("\\!bang.yaml\n\\#hash.yaml\n");
    IGNORED(ig, "!bang.yaml");
    IGNORED(ig, "#hash.yaml");
    KEPT(ig, "bang.yaml");
    sl_git_ignore_free(ig);
}

static void test_directories(void)
{
    struct sl_git_ignore *ig = parse("staging/\n");
    IGNORED(ig, "staging/a.yaml");
    IGNORED(ig, "clusters/staging/deep/a.yaml");
    KEPT(ig, "staging"); /* a file named staging is not a directory */
    KEPT(ig, "clusters/staging.yaml");
    sl_git_ignore_free(ig);
    ig = parse("/clusters/dev\n"); /* without the slash: file or directory */
    IGNORED(ig, "clusters/dev/a.yaml");
    IGNORED(ig, "clusters/dev");
    KEPT(ig, "x/clusters/dev/a.yaml");
    sl_git_ignore_free(ig);
}

static void test_double_star(void)
{
    struct sl_git_ignore *ig = parse("**/tests/*.yaml\n");
    IGNORED(ig, "tests/a.yaml");
    IGNORED(ig, "a/b/tests/a.yaml");
    KEPT(ig, "a/b/tests/c/a.yaml");
    sl_git_ignore_free(ig);
    ig = parse("vendor/**\n");
    IGNORED(ig, "vendor/a.yaml");
    IGNORED(ig, "vendor/x/y/a.yaml");
    KEPT(ig, "vendor.yaml");
    KEPT(ig, "a/vendor/b.yaml");
    sl_git_ignore_free(ig);
    ig = parse("a/**/b.yaml\n");
    IGNORED(ig, "a/b.yaml");
    IGNORED(ig, "a/x/y/b.yaml");
    KEPT(ig, "a/x/y/c.yaml");
    sl_git_ignore_free(ig);
    /* `**` inside a name is two stars, which do not cross `/` */
    ig = parse("/a**b.yaml\n");
    IGNORED(ig, "axxb.yaml");
    KEPT(ig, "ax/xb.yaml");
    sl_git_ignore_free(ig);
}

static void test_classes_and_question_mark(void)
{
    struct sl_git_ignore *ig = parse("v[0-9].yaml\nx[!a-c].yaml\n?.yml\n");
    IGNORED(ig, "v1.yaml");
    KEPT(ig, "vx.yaml");
    IGNORED(ig, "xd.yaml");
    KEPT(ig, "xa.yaml");
    IGNORED(ig, "a.yml");
    KEPT(ig, "ab.yml");
    sl_git_ignore_free(ig);
}

static void test_bounds(void)
{
    struct sl_git_ignore *ig = NULL;
    struct sl_err err = {0};
    /* an unterminated class is refused, naming the line */
    CHECK_INT_EQ(sl_git_ignore_parse(&ig, "ok.yaml\nbad[.yaml\n", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "line 2");
    char *many = malloc(300 * 3 + 1);
    for (int i = 0; i < 300; i++)
        memcpy(many + i * 3, "a*\n", 3);
    many[300 * 3] = '\0';
    CHECK_INT_EQ(sl_git_ignore_parse(&ig, many, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "more than 256 patterns");
    free(many);
    char *long_line = malloc(2000);
    memset(long_line, 'a', 1999);
    long_line[1999] = '\0';
    CHECK_INT_EQ(sl_git_ignore_parse(&ig, long_line, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "longer than 1024 bytes");
    free(long_line);
    /* a pattern built to backtrack endlessly gives up (matches nothing) instead of hanging */
    ig = parse("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n");
    char path[200];
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    KEPT(ig, path);
    sl_git_ignore_free(ig);
    /* nothing to ignore */
    ig = parse(NULL);
    CHECK_INT_EQ(sl_git_ignore_count(ig), 0);
    KEPT(ig, "a.yaml");
    sl_git_ignore_free(ig);
    KEPT(NULL, "a.yaml");
}

int main(void)
{
    RUN(test_names_at_any_depth_and_anchors);
    RUN(test_negation_last_match_wins);
    RUN(test_directories);
    RUN(test_double_star);
    RUN(test_classes_and_question_mark);
    RUN(test_bounds);
    return CHECK_EXIT();
}
