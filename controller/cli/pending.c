/* Weak fallbacks for subcommands whose engine is not built yet; the real implementation in its
 * module overrides the symbol at link time. Each says plainly that the command is unavailable. */
#include "cli/commands.h"

#define SL_PENDING(fn, name)                                                                       \
    __attribute__((weak)) int fn(int argc, char **argv)                                            \
    {                                                                                              \
        (void)argc;                                                                                \
        (void)argv;                                                                                \
        sl_cli_errorf(name, "this command is not available in this build");                        \
        return SL_EXIT_USAGE;                                                                      \
    }

SL_PENDING(sl_cmd_controller, "controller")
SL_PENDING(sl_cmd_copy, "copy")
SL_PENDING(sl_cmd_sign, "sign")
SL_PENDING(sl_cmd_verify, "verify")
SL_PENDING(sl_cmd_keygen, "keygen")
SL_PENDING(sl_cmd_scan, "scan")
SL_PENDING(sl_cmd_db, "db")
SL_PENDING(sl_cmd_policy, "policy")
