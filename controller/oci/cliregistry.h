/* The registry-connection flags of the CLI commands, parsed in one place: `--creds USER:PASS`,
 * `--creds-file PATH` and `--insecure` (sign, verify, verify-attestation, attest, scan,
 * scanner-adapter, db push), and their per-side forms `--src-creds`, `--src-creds-file`,
 * `--src-insecure`, `--dest-...` (copy). A command puts SL_CLI_REGISTRY_OPTIONS (or the _SRC /
 * _DEST forms) into its getopt_long table, hands every option getopt_long returns to
 * sl_cli_registry_option first, and connects with sl_cli_registry_connect (or resolves the
 * credentials with sl_cli_registry_resolve when another engine opens the client). Where the
 * credentials come from and in which order is oci/creds.h. */
#ifndef SL_OCI_CLIREGISTRY_H
#define SL_OCI_CLIREGISTRY_H

#include "oci/auth.h"
#include "oci/creds.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "util/err.h"

#include <getopt.h>

/* Which flags a struct sl_cli_registry takes. */
enum sl_cli_registry_side {
    SL_CLI_REGISTRY_ONE = 0, /* --creds, --creds-file, --insecure, SEALIFT_CREDS */
    SL_CLI_REGISTRY_SRC,     /* --src-creds, --src-creds-file, --src-insecure, SEALIFT_SRC_CREDS */
    SL_CLI_REGISTRY_DEST,    /* --dest-..., SEALIFT_DEST_CREDS */
};

/* The getopt_long values of these flags: above every character a command uses for its own. */
#define SL_CLI_REGISTRY_OPTVAL(side, n) (0x1000 + 4 * (int)(side) + (n))

/* (clang-format cannot lay out brace initialisers inside a macro) */
/* clang-format off */
#define SL_CLI_REGISTRY_OPTIONS_(prefix, side)                                               \
    {prefix "creds", required_argument, NULL, SL_CLI_REGISTRY_OPTVAL(side, 0)},              \
    {prefix "creds-file", required_argument, NULL, SL_CLI_REGISTRY_OPTVAL(side, 1)},         \
    {prefix "insecure", no_argument, NULL, SL_CLI_REGISTRY_OPTVAL(side, 2)}
/* clang-format on */

/* Three rows of a struct option table: --creds, --creds-file, --insecure. */
#define SL_CLI_REGISTRY_OPTIONS SL_CLI_REGISTRY_OPTIONS_("", SL_CLI_REGISTRY_ONE)
/* Three rows: --src-creds, --src-creds-file, --src-insecure. */
#define SL_CLI_REGISTRY_SRC_OPTIONS SL_CLI_REGISTRY_OPTIONS_("src-", SL_CLI_REGISTRY_SRC)
/* Three rows: --dest-creds, --dest-creds-file, --dest-insecure. */
#define SL_CLI_REGISTRY_DEST_OPTIONS SL_CLI_REGISTRY_OPTIONS_("dest-", SL_CLI_REGISTRY_DEST)

/* What the user said about one registry. The strings are borrowed from argv. */
struct sl_cli_registry {
    enum sl_cli_registry_side side;
    struct sl_cli_creds_source creds; /* flag and file values, names for messages */
    int insecure;                     /* allow plain http, skip TLS verification */
    const char *insecure_flag;        /* "--insecure", "--src-insecure", "--dest-insecure" */
};

/* Credentials resolved for one registry, ready for a client. */
struct sl_cli_registry_creds {
    struct sl_creds creds; /* valid when have; wiped by sl_cli_registry_creds_free */
    int have;              /* 0: anonymous */
    char hint[320];        /* sl_cli_creds_hint: where they came from, or how to give some */
};

/* Sets r to no flags given for side (names for messages and the environment variable set). */
void sl_cli_registry_init(struct sl_cli_registry *r, enum sl_cli_registry_side side);

/* Records opt (a value getopt_long returned, arg its optarg) when it is one of r's three flags.
 * Returns 1 when it was (the caller goes on with the next option), 0 when it is not r's. When
 * both --creds and --creds-file are given, --creds is used (oci/creds.h's precedence). */
int sl_cli_registry_option(struct sl_cli_registry *r, int opt, const char *arg);

/* Resolves the credentials of r for registry (host[:port] as in a reference) into *out (the
 * caller's, sl_cli_registry_creds_free also after a failure). Returns 0, or
 * sl_cli_creds_resolve's errors (SL_EINVAL: a malformed flag, file or variable; SL_ENOTFOUND:
 * a --creds-file that cannot be opened; SL_ETOOBIG); err names the flag, never a secret. */
int sl_cli_registry_resolve(struct sl_cli_registry_creds *out, const struct sl_cli_registry *r,
                            const char *registry, struct sl_err *err);

/* Wipes and frees the credentials of c; NULL is a no-op. */
void sl_cli_registry_creds_free(struct sl_cli_registry_creds *c);

/* The options of a client for r with the credentials c: insecure, the flag named in hints
 * and c's hint (borrowed from r and c: they outlive sl_registry_new, which copies them). */
struct sl_registry_opts sl_cli_registry_client_opts(const struct sl_cli_registry *r,
                                                    const struct sl_cli_registry_creds *c);

/* Parses image (HOST[:PORT]/REPO[:TAG][@DIGEST]) into *ref and opens a client for its registry
 * with r's credentials and settings into *out. Both are the caller's (sl_ref_free,
 * sl_registry_free); on failure neither is set. base, when not NULL, gives the client's other
 * settings (tests pass a fake transport there). Returns 0, sl_ref_parse's errors for the
 * reference, or sl_cli_registry_resolve's for the credentials. */
int sl_cli_registry_connect(struct sl_registry **out, struct sl_ref *ref, const char *image,
                            const struct sl_cli_registry *r, const struct sl_registry_opts *base,
                            struct sl_err *err);

#endif
