#ifndef SL_SIGN_CMD_SIGN_H
#define SL_SIGN_CMD_SIGN_H

/* `sealift sign`: signs an image digest in the registry (cosign format). argc/argv start at the
 * subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_sign(int argc, char **argv);

/* `sealift verify`: verifies an image's signature against a public key. argc/argv start at the
 * subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_verify(int argc, char **argv);

/* `sealift verify-attestation`: verifies an image's newest attestation of a type against a public
 * key. argc/argv start at the subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_verify_attestation(int argc, char **argv);

#endif
