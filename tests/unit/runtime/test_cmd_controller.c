/* Unit tests of `sealift controller` argument handling (controller/runtime/cmd_controller.c):
 * usage errors exit 2 with a message, --help exits 0, a missing kubeconfig is an input error,
 * the process is made non-dumpable.
 * Nothing here reaches an API server. */
#include "check.h"
#include "cli/commands.h"
#include "runtime/cmd_controller.h"
#include "wiring.h"

#include <stdlib.h>
#include <sys/prctl.h>

static int run(int argc, char **argv)
{
    struct sl_reconcilers *w = sl_reconcilers_new();
    struct sl_controller_wiring wiring;
    sl_reconcilers_wiring(&wiring, w);
    int code = sl_cmd_controller(argc, argv, &wiring);
    sl_reconcilers_free(w);
    return code;
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
    CHECK_INT_EQ(RUN_ARGS("--shard", "Blue"), SL_EXIT_USAGE); /* no Lease can be named so */
    CHECK_INT_EQ(RUN_ARGS("--shard", "-a"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--shard", "a/b"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--shard", "a.b-"), SL_EXIT_USAGE);
    CHECK_INT_EQ(
        RUN_ARGS("--shard", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        SL_EXIT_USAGE); /* 64 characters */
    CHECK_INT_EQ(RUN_ARGS("--metrics-addr", ""), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("stray"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--kubeconfig"), SL_EXIT_USAGE);
    /* the generated webhook certificate needs the listener (and so a folder for its files) */
    CHECK_INT_EQ(RUN_ARGS("--webhook-cert-secret", "sealift-webhook-tls"), SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--webhook-addr", ":9443", "--webhook-cert-dir", "/tmp",
                          "--webhook-cert-secret", ""),
                 SL_EXIT_USAGE);
    CHECK_INT_EQ(RUN_ARGS("--webhook-cert-check-interval", "0s"), SL_EXIT_USAGE);
}

static void test_help(void)
{
    CHECK_INT_EQ(RUN_ARGS("--help"), SL_EXIT_OK);
}

static void test_missing_kubeconfig(void)
{
    CHECK_INT_EQ(RUN_ARGS("--kubeconfig", "/nonexistent/sealift-test/kubeconfig"), SL_EXIT_USAGE);
}

/* The controller's memory (registry passwords, keys, tokens) cannot be dumped or read by
 * another process of the same user: the process is not dumpable once it started. */
static void test_not_dumpable(void)
{
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    CHECK_INT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    CHECK_INT_EQ(RUN_ARGS("--kubeconfig", "/nonexistent/sealift-test/kubeconfig"), SL_EXIT_USAGE);
    CHECK_INT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

int main(void)
{
    RUN(test_usage_errors);
    RUN(test_help);
    RUN(test_missing_kubeconfig);
    RUN(test_not_dumpable);
    return CHECK_EXIT();
}
