/* What every subcommand of the sealift binary shares (DESIGN.md section 4): its exit codes and
 * how it reports an error. A subcommand takes argc/argv starting at its name and returns the
 * process exit code: 0 ok, 1 check failed, 2 usage or input error, 3 remote error. Errors go to
 * stderr as one line saying what failed and why. Each subcommand is declared by its own folder
 * (oci/cmd_copy.h, sign/cmd_sign.h, ...) and dispatched from main.c. */
#ifndef SL_CLI_COMMANDS_H
#define SL_CLI_COMMANDS_H

enum {
    SL_EXIT_OK = 0,
    SL_EXIT_CHECK_FAILED = 1,
    SL_EXIT_USAGE = 2,
    SL_EXIT_REMOTE = 3,
};

/* Prints "sealift <cmd>: <message>" to stderr. */
void sl_cli_errorf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit code of a registry-using command that failed with rc (an SL_E* code of
 * util/err.h): SL_EXIT_USAGE for what the user can fix in the command line or its files
 * (SL_EINVAL, SL_EUNSUPPORTED, SL_ETOOBIG), SL_EXIT_REMOTE for everything else. */
int sl_cli_exit_code(int rc);

#endif
