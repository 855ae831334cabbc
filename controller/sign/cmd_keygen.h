#ifndef SL_SIGN_CMD_KEYGEN_H
#define SL_SIGN_CMD_KEYGEN_H

/* `sealift keygen`: generates a signing key pair. argc/argv start at the subcommand name; returns
 * the process exit code (cli/commands.h). */
int sl_cmd_keygen(int argc, char **argv);

#endif
