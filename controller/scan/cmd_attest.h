#ifndef SL_SCAN_CMD_ATTEST_H
#define SL_SCAN_CMD_ATTEST_H

/* `sealift attest`: writes a signed SBOM or vulnerability attestation of an image (in-toto
 * statement in a DSSE envelope, under the cosign .att tag and/or as an OCI 1.1 referrer). argc/argv
 * start at the subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_attest(int argc, char **argv);

#endif
