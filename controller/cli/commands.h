/* Subcommands of the sealift binary (DESIGN.md section 4). Each takes argc/argv starting at the
 * subcommand name and returns the process exit code: 0 ok, 1 check failed, 2 usage or input
 * error, 3 remote error. Errors go to stderr as one line saying what failed and why. */
#ifndef SL_CLI_COMMANDS_H
#define SL_CLI_COMMANDS_H

enum {
    SL_EXIT_OK = 0,
    SL_EXIT_CHECK_FAILED = 1,
    SL_EXIT_USAGE = 2,
    SL_EXIT_REMOTE = 3,
};

int sl_cmd_controller(int argc, char **argv);      /* controller/runtime/cmd_controller.c */
int sl_cmd_copy(int argc, char **argv);            /* controller/oci/cmd_copy.c */
int sl_cmd_sign(int argc, char **argv);            /* reconcilers/sign/cmd_sign.c */
int sl_cmd_verify(int argc, char **argv);          /* reconcilers/sign/cmd_sign.c */
int sl_cmd_keygen(int argc, char **argv);          /* reconcilers/sign/cmd_keygen.c */
int sl_cmd_scan(int argc, char **argv);            /* reconcilers/scan/cmd_scan.c */
int sl_cmd_attest(int argc, char **argv);          /* reconcilers/scan/cmd_attest.c */
int sl_cmd_db(int argc, char **argv);              /* reconcilers/scan/cmd_db.c */
int sl_cmd_scanner_adapter(int argc, char **argv); /* reconcilers/scan/cmd_adapter.c */
int sl_cmd_policy(int argc, char **argv);          /* reconcilers/policy/cmd_policy.c */

/* Prints "sealift <cmd>: <message>" to stderr. */
void sl_cli_errorf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
