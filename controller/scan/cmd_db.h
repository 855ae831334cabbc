#ifndef SL_SCAN_CMD_DB_H
#define SL_SCAN_CMD_DB_H

/* `sealift db`: advisory database tools (db push DIR IMAGE). argc/argv start at the subcommand
 * name; returns the process exit code (cli/commands.h). */
int sl_cmd_db(int argc, char **argv);

#endif
