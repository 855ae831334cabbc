#ifndef SL_OCI_CMD_COPY_H
#define SL_OCI_CMD_COPY_H

/* `sealift copy SRC DEST`: copies an image (or an index with its images) between registries
 * or OCI layouts, digests preserved. argc/argv start at the subcommand name; returns the
 * process exit code (cli/commands.h). */
int sl_cmd_copy(int argc, char **argv);

#endif
