#ifndef SL_SCAN_CMD_SCAN_H
#define SL_SCAN_CMD_SCAN_H

/* `sealift scan`: scans an image or an OCI layout for vulnerabilities. argc/argv start at the
 * subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_scan(int argc, char **argv);

#endif
