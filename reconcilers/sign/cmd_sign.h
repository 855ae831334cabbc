/* What the sign commands share with the other key-using commands (cmd_attest.c). */
#ifndef SL_SIGN_CMD_SIGN_H
#define SL_SIGN_CMD_SIGN_H

#include "sign/keys.h"
#include "util/err.h"

#include <stdbool.h>

/* Reads a PEM key file (at most SL_KEY_PEM_MAX bytes; wiped after parsing) into *out (caller's,
 * sl_key_free): the private key when want_private, else a public (or private) key. Returns 0,
 * SL_ENOTFOUND (cannot open), SL_ETOOBIG or the key parser's errors; err names the file. */
int sl_sign_cli_read_key(struct sl_key **out, const char *path, bool want_private,
                         struct sl_err *err);

#endif
