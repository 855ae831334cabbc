#include "check.h"
#include "oci/auth.h"
#include "oci/backoff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_challenge_bearer(void)
{
    struct sl_auth_challenge c;
    CHECK_INT_EQ(sl_auth_challenge_parse(&c,
                                         "Bearer realm=\"https://auth.docker.io/token\","
                                         "service=\"registry.docker.io\","
                                         "scope=\"repository:samalba/my-app:pull,push\"",
                                         NULL),
                 0);
    CHECK_STR_EQ(c.scheme, "Bearer");
    CHECK_STR_EQ(c.realm, "https://auth.docker.io/token");
    CHECK_STR_EQ(c.service, "registry.docker.io");
    CHECK_STR_EQ(c.scope, "repository:samalba/my-app:pull,push");
    CHECK(c.error == NULL);
    sl_auth_challenge_free(&c);

    /* spaces, unquoted tokens, escapes, error field, unknown params */
    CHECK_INT_EQ(sl_auth_challenge_parse(&c,
                                         "bearer  realm=\"http://h/t?a=1\" , service=reg,"
                                         " x=\"y\\\"z\", error=\"insufficient_scope\"",
                                         NULL),
                 0);
    CHECK_STR_EQ(c.scheme, "bearer");
    CHECK_STR_EQ(c.realm, "http://h/t?a=1");
    CHECK_STR_EQ(c.service, "reg");
    CHECK_STR_EQ(c.error, "insufficient_scope");
    sl_auth_challenge_free(&c);
}

static void test_challenge_basic_and_bad(void)
{
    struct sl_auth_challenge c;
    CHECK_INT_EQ(sl_auth_challenge_parse(&c, "Basic realm=\"Registry Realm\"", NULL), 0);
    CHECK_STR_EQ(c.scheme, "Basic");
    CHECK_STR_EQ(c.realm, "Registry Realm");
    sl_auth_challenge_free(&c);
    struct sl_err err;
    CHECK_INT_EQ(sl_auth_challenge_parse(&c, "Bearer service=\"x\"", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "realm");
    CHECK_INT_EQ(sl_auth_challenge_parse(&c, "Bearer realm=\"unterminated", NULL), SL_EINVAL);
    CHECK_INT_EQ(sl_auth_challenge_parse(&c, "", NULL), SL_EINVAL);
    CHECK_INT_EQ(sl_auth_challenge_parse(&c, NULL, NULL), SL_EINVAL);
}

static void test_dockerconfig_lookup(void)
{
    size_t len;
    char *json = slurp("dockerconfig.json", &len);
    struct sl_creds c;
    struct sl_err err;

    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "docker.io", &err), 0);
    CHECK_STR_EQ(c.username, "hubuser");
    CHECK_STR_EQ(c.password, "hub:pass"); /* passwords may contain ':' */
    sl_creds_free(&c);
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "registry-1.docker.io", &err), 0);
    CHECK_STR_EQ(c.username, "hubuser");
    sl_creds_free(&c);

    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "registry.example.com", &err), 0);
    CHECK_STR_EQ(c.username, "exuser");
    CHECK_STR_EQ(c.password, "expass");
    sl_creds_free(&c);

    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "127.0.0.1:5000", &err), 0);
    CHECK_STR_EQ(c.username, "local");
    CHECK_STR_EQ(c.password, "pw");
    sl_creds_free(&c);

    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "quay.io", &err), 0);
    CHECK_STR_EQ(c.username, "quser");
    CHECK_STR_EQ(c.identity_token, "idt");
    sl_creds_free(&c);

    /* host without the port does not match host:port */
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "127.0.0.1", &err), SL_ENOTFOUND);
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "other.example", &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "other.example");

    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "broken.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "broken.example");
    CHECK(strstr(err.msg, "notbase64") == NULL); /* never echo the secret */
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, json, len, "empty.example", &err), SL_EINVAL);
    free(json);

    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, "{", 1, "x", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, "[]", 2, "x", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, "{}", 2, "x", &err), SL_ENOTFOUND);
    const char *bad_auths = "{\"auths\":[1]}";
    CHECK_INT_EQ(sl_dockerconfig_lookup(&c, bad_auths, strlen(bad_auths), "x", &err), SL_EINVAL);
}

static void test_dockerconfig_default_path(void)
{
    struct sl_creds c;
    struct sl_err err;
    setenv("DOCKER_CONFIG", data_dir, 1);
    /* data dir has dockerconfig.json, not config.json */
    CHECK_INT_EQ(sl_dockerconfig_lookup_default(&c, "docker.io", &err), SL_ENOTFOUND);
    unsetenv("DOCKER_CONFIG");
}

static void test_userpass_and_basic(void)
{
    struct sl_creds c;
    CHECK_INT_EQ(sl_creds_parse_userpass(&c, "alice:s3:cret", NULL), 0);
    CHECK_STR_EQ(c.username, "alice");
    CHECK_STR_EQ(c.password, "s3:cret");
    char *b = sl_auth_basic_value(&c);
    CHECK_STR_EQ(b, "YWxpY2U6czM6Y3JldA==");
    free(b);
    sl_creds_free(&c);
    CHECK_INT_EQ(sl_creds_parse_userpass(&c, "nocolon", NULL), SL_EINVAL);
    CHECK_INT_EQ(sl_creds_parse_userpass(&c, ":pw", NULL), SL_EINVAL);
}

static void test_token_response_and_cache(void)
{
    char *tok = NULL;
    int64_t exp = 0;
    const char *j1 = "{\"token\":\"abc\",\"expires_in\":300}";
    CHECK_INT_EQ(sl_auth_token_response_parse(&tok, &exp, j1, strlen(j1), NULL), 0);
    CHECK_STR_EQ(tok, "abc");
    CHECK_INT_EQ(exp, 300);
    free(tok);
    const char *j2 = "{\"access_token\":\"xyz\"}";
    CHECK_INT_EQ(sl_auth_token_response_parse(&tok, &exp, j2, strlen(j2), NULL), 0);
    CHECK_STR_EQ(tok, "xyz");
    CHECK_INT_EQ(exp, 60);
    free(tok);
    const char *j3 = "{\"token\":\"\"}";
    CHECK_INT_EQ(sl_auth_token_response_parse(&tok, &exp, j3, strlen(j3), NULL), SL_EINVAL);

    struct sl_token_cache *tc = sl_token_cache_new();
    sl_token_cache_put(tc, "repository:a:pull", "t1", 1000);
    sl_token_cache_put(tc, "repository:a:pull,push", "t2", 5000);
    char *g = sl_token_cache_get(tc, "repository:a:pull", 999);
    CHECK_STR_EQ(g, "t1");
    free(g);
    CHECK(sl_token_cache_get(tc, "repository:a:pull", 1000) == NULL); /* expired */
    g = sl_token_cache_get(tc, "repository:a:pull,push", 1000);
    CHECK_STR_EQ(g, "t2");
    free(g);
    sl_token_cache_put(tc, "repository:a:pull,push", "t3", 9000); /* replaces */
    g = sl_token_cache_get(tc, "repository:a:pull,push", 1000);
    CHECK_STR_EQ(g, "t3");
    free(g);
    sl_token_cache_drop(tc, "repository:a:pull,push");
    CHECK(sl_token_cache_get(tc, "repository:a:pull,push", 0) == NULL);
    sl_token_cache_free(tc);
}

static void test_backoff_and_retry_after(void)
{
    /* equal jitter: [d/2, d] with d = base * 2^attempt capped */
    CHECK_INT_EQ(sl_backoff_delay_ms(0, 100, 10000, 0), 50);
    CHECK_INT_EQ(sl_backoff_delay_ms(0, 100, 10000, 50), 100);
    CHECK_INT_EQ(sl_backoff_delay_ms(3, 100, 10000, 0), 400);
    CHECK_INT_EQ(sl_backoff_delay_ms(30, 100, 10000, 0), 5000);
    for (uint64_t r = 0; r < 1000; r += 37) {
        int64_t d = sl_backoff_delay_ms(2, 100, 10000, r * 2654435761u);
        CHECK(d >= 200 && d <= 400);
    }
    int64_t ms = -1;
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, "120", 0), 0);
    CHECK_INT_EQ(ms, 120000);
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, " 0 ", 0), 0);
    CHECK_INT_EQ(ms, 0);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 0);
    CHECK_INT_EQ(ms, 10000);
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
    CHECK_INT_EQ(ms, 0);
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, "soon", 0), -1);
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, "-1", 0), -1);
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, "5s", 0), -1);
    CHECK_INT_EQ(sl_retry_after_parse_ms(&ms, NULL, 0), -1);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/unit/oci/data";
    RUN(test_challenge_bearer);
    RUN(test_challenge_basic_and_bad);
    RUN(test_dockerconfig_lookup);
    RUN(test_dockerconfig_default_path);
    RUN(test_userpass_and_basic);
    RUN(test_token_response_and_cache);
    RUN(test_backoff_and_retry_after);
    return CHECK_EXIT();
}
