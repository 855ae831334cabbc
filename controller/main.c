/* sealift: entry point and subcommand dispatch (DESIGN.md section 4). */
#include "build_info.h"
#include "cli/commands.h"
#include "git/fetchproc.h"
#include "http/transport.h"
#include "oci/cmd_copy.h"
#include "policy/cmd_policy.h"
#include "runtime/cmd_controller.h"
#include "runtime/cmd_migrate.h"
#include "scan/cmd_adapter.h"
#include "scan/cmd_db.h"
#include "scan/cmd_attest.h"
#include "scan/cmd_scan.h"
#include "sign/cmd_keygen.h"
#include "sign/cmd_sign.h"
#include "wiring.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* `sealift controller` with the reconcilers of reconcilers/ (wiring.h): wired here, at the top,
 * so the runtime below knows no reconciler by name. */
static int run_controller(int argc, char **argv)
{
    struct sl_reconcilers *w = sl_reconcilers_new();
    struct sl_controller_wiring wiring;
    sl_reconcilers_wiring(&wiring, w);
    int code = sl_cmd_controller(argc, argv, &wiring);
    sl_reconcilers_free(w);
    return code;
}

static const struct command commands[] = {
    {"controller", run_controller, "run the Kubernetes controller"},
    {"copy", sl_cmd_copy, "copy an image between registries, preserving digests"},
    {"sign", sl_cmd_sign, "sign an image digest (cosign format)"},
    {"verify", sl_cmd_verify, "verify an image's signature against a public key"},
    {"verify-attestation", sl_cmd_verify_attestation,
     "verify an image's newest attestation of a type (signature, age, findings)"},
    {"scan", sl_cmd_scan, "scan an image or OCI layout for vulnerabilities"},
    {"attest", sl_cmd_attest, "write a signed SBOM or vulnerability attestation of an image"},
    {"scanner-adapter", sl_cmd_scanner_adapter,
     "serve the Harbor Pluggable Scanner API v1.1 from the built-in scanner"},
    {"db", sl_cmd_db, "advisory database tools (db push DIR IMAGE)"},
    {"policy", sl_cmd_policy, "render admission policies (policy render FILE)"},
    {"keygen", sl_cmd_keygen, "generate a signing key pair"},
    {"migrate", sl_cmd_migrate, "rewrite manifests or stored objects to sealift.dev/v1beta1"},
    {"git-fetch", sl_git_fetch_child_main,
     "one git fetch for `sealift controller` (request on stdin; stopped at spec.timeout)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sealift <command> [flags]\n"
               "`sealift COMMAND --help` describes a command's flags, exit codes and an example.\n"
               "Exit codes: 0 ok, 1 a check failed, 2 usage or input error, 3 remote error.\n"
               "\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-19s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-19s %s\n", "version", "print the version and the git commit it was built from");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sealift %s (commit %s)\n", SL_VERSION, SL_COMMIT);
        return SL_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return SL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            /* glibc gives each thread that allocates an arena of its own (up to 8 per core),
             * each keeping up to 128 KiB of freed memory and its own fragments: the copy
             * engine's blob workers added about 0.2 MB to a 4-worker `sealift copy`
             * (hack/bench/sync.sh). Our threads allocate little while they work (per request,
             * not per byte), so two arenas shared by all of them cost no measurable speed. */
            mallopt(M_ARENA_MAX, 2);
            sl_transport_global_init(); /* before any thread starts */
            int rc = commands[i].run(argc - 1, argv + 1);
            sl_transport_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "sealift: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return SL_EXIT_USAGE;
}
