#ifndef SL_POLICY_CMD_POLICY_H
#define SL_POLICY_CMD_POLICY_H

/* `sealift policy render FILE`: renders the objects the controller creates for a
 * DeployPolicy. argc/argv start at the subcommand name; returns the
 * process exit code (cli/commands.h). */
int sl_cmd_policy(int argc, char **argv);

#endif
