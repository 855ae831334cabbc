/* Which URLs a git Secret's `url` covers, and which spec.url values read the local disk. */
#include "check.h"
#include "git/repourl.h"

static bool covers(const char *secret_url, const char *url)
{
    char why[200];
    return sl_repourl_covers(secret_url, url, why, sizeof(why));
}

static void test_prefix_on_path_boundary(void)
{
    const char *team = "https://git.example/team-a";
    CHECK(covers(team, "https://git.example/team-a/app.git"));
    CHECK(covers(team, "https://git.example/team-a"));
    CHECK(covers(team, "https://git.example/team-a.git"));
    CHECK(covers("https://git.example/team-a/", "https://git.example/team-a/x/y"));
    CHECK(covers("https://git.example/team-a/app.git", "https://git.example/team-a/app"));
    CHECK(covers("https://git.example", "https://git.example/anything"));
    CHECK(covers("HTTPS://Git.Example/team-a", "https://git.example/team-a/app"));
    CHECK(covers("ssh://git@git.example/team-a", "git@git.example:team-a/app.git"));
    /* the attacks: a sibling path, another host, another scheme, another port */
    CHECK(!covers(team, "https://git.example/team-a-evil"));
    CHECK(!covers(team, "https://git.example/team-ab/app"));
    CHECK(!covers(team, "https://git.example.evil/team-a/app"));
    CHECK(!covers(team, "https://evil.example/team-a"));
    CHECK(!covers(team, "https://git.example@evil.example/team-a"));
    CHECK(!covers(team, "http://git.example/team-a"));
    CHECK(!covers(team, "https://git.example:8443/team-a"));
    CHECK(!covers("https://git.example/team-a.git", "https://git.example/team-a/other"));
    /* paths a server could resolve elsewhere */
    CHECK(!covers(team, "https://git.example/team-a/../team-b/app"));
    CHECK(!covers(team, "https://git.example/team-a/./app/.."));
    CHECK(!covers(team, "https://git.example/team-a/%2e%2e/team-b"));
    CHECK(!covers(team, "https://git.example/team-a\\..\\team-b"));
    CHECK(!covers(team, "https://git.example/team-a?x=/team-a"));
    /* no url key, or not a URL */
    char why[200];
    CHECK(!sl_repourl_covers(NULL, "https://git.example/team-a", why, sizeof(why)));
    CHECK_STR_EQ(why, "the Secret has no url key");
    CHECK(!covers("team-a", "https://git.example/team-a"));
}

static void test_kinds(void)
{
    CHECK_INT_EQ(sl_repourl_kind("https://git.example/a.git"), SL_REPOURL_REMOTE);
    CHECK_INT_EQ(sl_repourl_kind("ssh://git@git.example/a.git"), SL_REPOURL_REMOTE);
    CHECK_INT_EQ(sl_repourl_kind("git@git.example:a.git"), SL_REPOURL_REMOTE);
    CHECK_INT_EQ(sl_repourl_kind("git://127.0.0.1:9418/a.git"), SL_REPOURL_REMOTE);
    CHECK_INT_EQ(sl_repourl_kind("file:///var/lib/sealift"), SL_REPOURL_LOCAL);
    CHECK_INT_EQ(sl_repourl_kind("FILE:///etc"), SL_REPOURL_LOCAL);
    CHECK_INT_EQ(sl_repourl_kind("/var/run/secrets"), SL_REPOURL_LOCAL);
    CHECK_INT_EQ(sl_repourl_kind("./repo"), SL_REPOURL_LOCAL);
    CHECK_INT_EQ(sl_repourl_kind("ext::sh -c id"), SL_REPOURL_UNSUPPORTED);
    CHECK_INT_EQ(sl_repourl_kind("ftp://x/y"), SL_REPOURL_UNSUPPORTED);
    CHECK_INT_EQ(sl_repourl_kind(""), SL_REPOURL_UNSUPPORTED);
}

static void test_same_server(void)
{
    CHECK(sl_repourl_same_server("https://git.example/a.git", "https://u@GIT.example/b"));
    CHECK(sl_repourl_same_server("ssh://git@127.0.0.1:2222/srv/a.git",
                                 "ssh://127.0.0.1:2222/srv/a.git"));
    CHECK(!sl_repourl_same_server("https://git.example/a.git", "https://evil.example/a.git"));
    CHECK(!sl_repourl_same_server("https://git.example/a.git", "http://git.example/a.git"));
    CHECK(!sl_repourl_same_server("http://127.0.0.1:80/a", "http://127.0.0.1:8080/a"));
    CHECK(!sl_repourl_same_server("not a url", "not a url"));
}

int main(void)
{
    RUN(test_prefix_on_path_boundary);
    RUN(test_kinds);
    RUN(test_same_server);
    return CHECK_EXIT();
}
