/* Where a CLI command gets the credentials for one registry. In order of precedence:
 *   1. the USER:PASSWORD flag (--creds, --src-creds, --dest-creds): visible in `ps` and shell
 *      history, so the other sources exist;
 *   2. the file flag (--creds-file PATH, ...): a file holding one line "user:password", or a
 *      docker config.json (looked up by the registry's host, as `docker login` writes it);
 *   3. an environment variable holding "user:password" (SEALIFT_CREDS, or per side
 *      SEALIFT_SRC_CREDS / SEALIFT_DEST_CREDS for copy);
 *   4. $DOCKER_CONFIG/config.json or ~/.docker/config.json, by the registry's host;
 *   5. anonymous.
 * Messages name the flag, file or variable, never the user name's password or the file's bytes. */
#ifndef SL_CLI_CREDS_H
#define SL_CLI_CREDS_H

#include "oci/auth.h"
#include "util/err.h"

/* The largest credentials file read (a docker config.json with many registries fits). */
#define SL_CLI_CREDS_FILE_MAX ((size_t)1 << 20)

/* The sources a command offers for one registry; every field may be NULL. */
struct sl_cli_creds_source {
    const char *flag;      /* the USER:PASSWORD flag's value */
    const char *flag_name; /* its name for messages, e.g. "--dest-creds" */
    const char *file;      /* the file flag's value */
    const char *file_name; /* its name for messages, e.g. "--dest-creds-file" */
    const char *env_name;  /* the environment variable read, e.g. "SEALIFT_DEST_CREDS" */
};

/* Resolves the credentials for registry (host[:port] as in a reference) from src in the order
 * above. On success *have is 1 and *out holds credentials (the caller frees them with
 * sl_creds_free), or *have is 0 for anonymous access (out untouched). Returns 0; SL_EINVAL when
 * the chosen source is malformed or a docker config.json given by the file flag has no entry
 * for registry; SL_ENOTFOUND when the file flag names a file that cannot be opened; SL_ETOOBIG
 * for a file over SL_CLI_CREDS_FILE_MAX. err says which flag, file or variable is wrong. */
int sl_cli_creds_resolve(struct sl_creds *out, int *have, const struct sl_cli_creds_source *src,
                         const char *registry, struct sl_err *err);

/* Writes into buf (n bytes) where the credentials resolved from src came from, for messages
 * after a registry refused them: "credentials from --dest-creds-file F", "... from the
 * environment variable SEALIFT_DEST_CREDS", "... from docker config.json"; or, when have is 0,
 * how to give some ("give credentials with --dest-creds-file, --dest-creds or
 * SEALIFT_DEST_CREDS"). Never a secret. Returns buf. */
const char *sl_cli_creds_hint(char *buf, size_t n, const struct sl_cli_creds_source *src, int have);

#endif
