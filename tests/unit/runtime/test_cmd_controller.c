/* Unit tests of `sealift controller` argument handling (controller/runtime/cmd_controller.c):
 * usage errors exit 2 with a message, --help exits 0, a missing kubeconfig is an input error.
 * Nothing here reaches an API server. */
#include "check.h"
#include "cli/commands.h"

#include <stdlib.h>

static int run(int argc, char **argv)
{
    return sl_cmd_controller(argc, argv);
}

#define ARGV(...)                                                                                  \
    (char *[])                                                                                     \
    {                                                                                              \
        "controller", __VA_ARGS__, NULL                                                            \
    }
#define ARGC(...)     ((int)(sizeof((char *[]){"controller", __VA_ARGS__}) / sizeof(char *)))
#define RUN_ARGS(...) run(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_usage_errors(void)
{
    CHECK_INT_EQ(RUN_ARGS("--bogus"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--concurrency", "0"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--concurrency", "two"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--concurrency", "3x"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--log-level", "loud"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--shard", ""), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--metrics-addr", ""), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("stray"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--kubeconfig"), SL_EXIT_USAGE);
}

static void test_help(void)
{
    CHECK_INT_EQ(RUN_ARGS("--help"), SL_EXIT_OK);
}

static void test_missing_kubeconfig(void)
{
    CHECK_INT_EQ(RUN_ARGS("--kubeconfig", "/nonexistent/sealift-test/kubeconfig"), SL_EXIT_USAGE);
}

int main(void)
{
    RUN(test_usage_errors);
    RUN(test_help);
    RUN(test_missing_kubeconfig);
    return CHECK_EXIT();
}
