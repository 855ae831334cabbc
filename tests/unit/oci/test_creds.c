/* Where CLI credentials come from (oci/creds.c): the precedence flag > file > environment >
 * docker config.json > anonymous, both file formats, and error messages that name the source
 * but never the secret. */
#include "check.h"
#include "oci/creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;
static char path_buf[4][1024];

static const char *data(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof(path_buf[slot]), "%s/%s", data_dir, name);
    return path_buf[slot];
}

static void use_docker_dir(const char *dir)
{
    setenv("DOCKER_CONFIG", dir, 1);
}

static void test_precedence(void)
{
    struct sl_creds c;
    int have = -1;
    struct sl_err err = {0};
    setenv("SL_TEST_CREDS", "envuser:env-s3cret", 1);
    use_docker_dir(data(0, "dockerdir"));
    struct sl_cli_creds_source src = {.flag = "flaguser:flag-pw",
                                      .flag_name = "--creds",
                                      .file = data(1, "creds-line.txt"),
                                      .file_name = "--creds-file",
                                      .env_name = "SL_TEST_CREDS"};
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "127.0.0.1:5000", &err), 0);
    CHECK_INT_EQ(have, 1);
    CHECK_STR_EQ(c.username, "flaguser");
    sl_creds_free(&c);

    src.flag = NULL; /* the file is next; its password keeps every ':' after the first */
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "127.0.0.1:5000", &err), 0);
    CHECK_STR_EQ(c.username, "filer");
    CHECK_STR_EQ(c.password, "file-s3cret:x");
    sl_creds_free(&c);

    src.file = NULL; /* then the environment */
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "127.0.0.1:5000", &err), 0);
    CHECK_STR_EQ(c.username, "envuser");
    CHECK_STR_EQ(c.password, "env-s3cret");
    sl_creds_free(&c);

    setenv("SL_TEST_CREDS", "", 1); /* an empty variable counts as unset: docker config.json */
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "127.0.0.1:5000", &err), 0);
    CHECK_INT_EQ(have, 1);
    CHECK_STR_EQ(c.username, "homeuser");
    sl_creds_free(&c);

    have = -1; /* a registry docker config.json does not know: anonymous */
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "other.example", &err), 0);
    CHECK_INT_EQ(have, 0);
    use_docker_dir(data(0, "no-such-dir"));
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, NULL, "127.0.0.1:5000", &err), 0);
    CHECK_INT_EQ(have, 0);
    unsetenv("SL_TEST_CREDS");
}

static void test_docker_config_file(void)
{
    struct sl_creds c;
    int have = 0;
    struct sl_err err = {0};
    struct sl_cli_creds_source src = {.file = data(0, "creds-dockerconfig.json"),
                                      .file_name = "--dest-creds-file"};
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "reg.example:5000", &err), 0);
    CHECK_STR_EQ(c.username, "cfguser");
    CHECK_STR_EQ(c.password, "cfg-s3cret");
    sl_creds_free(&c);
    /* the file was asked for: no entry for this registry is an error, not anonymous access */
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "other.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "--dest-creds-file");
    CHECK_CONTAINS(err.msg, "no entry for other.example");
    CHECK(!strstr(err.msg, "cfg-s3cret"));
}

static void test_errors_name_the_source_not_the_secret(void)
{
    struct sl_creds c;
    int have = 0;
    struct sl_err err = {0};
    struct sl_cli_creds_source src = {.file = data(0, "missing-file"), .file_name = "--creds-file"};
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "r.example", &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "--creds-file");
    CHECK_CONTAINS(err.msg, "missing-file");
    CHECK_CONTAINS(err.msg, "No such file");

    src.file = data(0, "creds-nocolon.txt");
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "r.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "USER:PASSWORD");
    CHECK(!strstr(err.msg, "no-colon-secret"));

    src.file = data(0, "creds-two-lines.txt");
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "r.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "one line");
    CHECK(!strstr(err.msg, "second-pw"));

    src.file = data(0, "creds-empty.txt");
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &src, "r.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "is empty");

    setenv("SL_TEST_CREDS", "secret-without-user", 1);
    struct sl_cli_creds_source env = {.env_name = "SL_TEST_CREDS"};
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &env, "r.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "environment variable SL_TEST_CREDS");
    CHECK(!strstr(err.msg, "secret-without-user"));
    unsetenv("SL_TEST_CREDS");

    struct sl_cli_creds_source flag = {.flag = ":pw-only", .flag_name = "--src-creds"};
    CHECK_INT_EQ(sl_cli_creds_resolve(&c, &have, &flag, "r.example", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "--src-creds");
    CHECK(!strstr(err.msg, "pw-only"));
    CHECK_INT_EQ(have, 0);
}

static void test_hint_names_the_source(void)
{
    char buf[320];
    struct sl_cli_creds_source src = {
        .flag_name = "--dest-creds", .file_name = "--dest-creds-file", .env_name = "SL_TEST_CREDS"};
    unsetenv("SL_TEST_CREDS");
    CHECK_STR_EQ(sl_cli_creds_hint(buf, sizeof(buf), &src, 0),
                 "give credentials with --dest-creds-file, --dest-creds or SL_TEST_CREDS");
    CHECK_STR_EQ(sl_cli_creds_hint(buf, sizeof(buf), &src, 1),
                 "credentials from docker config.json");
    setenv("SL_TEST_CREDS", "u:env-s3cret", 1);
    CHECK_STR_EQ(sl_cli_creds_hint(buf, sizeof(buf), &src, 1),
                 "credentials from the environment variable SL_TEST_CREDS");
    src.file = "/etc/sealift/creds";
    CHECK_STR_EQ(sl_cli_creds_hint(buf, sizeof(buf), &src, 1),
                 "credentials from --dest-creds-file /etc/sealift/creds");
    src.flag = "u:flag-s3cret";
    CHECK_STR_EQ(sl_cli_creds_hint(buf, sizeof(buf), &src, 1), "credentials from --dest-creds");
    unsetenv("SL_TEST_CREDS");
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/unit/cli/data";
    RUN(test_precedence);
    RUN(test_docker_config_file);
    RUN(test_errors_name_the_source_not_the_secret);
    RUN(test_hint_names_the_source);
    return CHECK_EXIT();
}
