#ifndef SL_SCAN_CMD_ADAPTER_H
#define SL_SCAN_CMD_ADAPTER_H

/* `sealift scanner-adapter`: serves the Harbor Pluggable Scanner API v1.1 from the built-in
 * scanner. argc/argv start at the subcommand name; returns the
 * process exit code (cli/commands.h). */
int sl_cmd_scanner_adapter(int argc, char **argv);

#endif
