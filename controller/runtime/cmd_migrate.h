#ifndef SL_RUNTIME_CMD_MIGRATE_H
#define SL_RUNTIME_CMD_MIGRATE_H

/* `sealift migrate [--to v1beta1] [--check] PATH...`: rewrites the sealift.dev v1alpha1 objects
 * of manifest files (or of every *.yaml / *.yml below a directory; "-" is stdin to stdout) to
 * v1beta1 with sl_api_migrate_text, each file replaced whole through a temporary file and a
 * rename. `sealift migrate --stored [--kubeconfig FILE]`: writes every stored object of the five
 * kinds back through v1beta1 and sets each CRD's status.storedVersions to ["v1beta1"].
 * argc/argv start at the subcommand name; returns the process exit code (cli/commands.h). */
int sl_cmd_migrate(int argc, char **argv);

#endif
