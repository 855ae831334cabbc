/* `sealift sign`, `verify` and `verify-attestation`, and what the sign commands share with the
 * other key-using commands (scan/cmd_attest.c). */
#ifndef SL_SIGN_CMD_SIGN_H
#define SL_SIGN_CMD_SIGN_H

#include "sign/keys.h"
#include "util/err.h"

#include <stdbool.h>

/* `sealift sign`: signs an image digest in the registry (cosign format). argc/argv start at the
 * subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_sign(int argc, char **argv);

/* `sealift verify`: verifies an image's signature against a public key. argc/argv start at the
 * subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_verify(int argc, char **argv);

/* `sealift verify-attestation`: verifies an image's newest attestation of a type against a public
 * key. argc/argv start at the subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_verify_attestation(int argc, char **argv);

/* Reads a PEM key file (at most SL_KEY_PEM_MAX bytes; wiped after parsing) into *out (caller's,
 * sl_key_free): the private key when want_private, else a public (or private) key. Returns 0,
 * SL_ENOTFOUND (cannot open), SL_ETOOBIG or the key parser's errors; err names the file. */
int sl_sign_cli_read_key(struct sl_key **out, const char *path, bool want_private,
                         struct sl_err *err);

#endif
