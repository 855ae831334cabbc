/* `sealift controller` (DESIGN.md section 4): the daemon. The runtime knows no reconciler by
 * name: the caller (main.c) hands it the wiring of reconcilers/ (reconcilers/wiring.h). */
#ifndef SL_RUNTIME_CMD_CONTROLLER_H
#define SL_RUNTIME_CMD_CONTROLLER_H

#include "runtime/config.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <stddef.h>

struct sl_manager;
struct sl_http_server;

/* What the controller runs. Every function is called from the controller's main thread with
 * ctx, which holds what the wiring makes (the caller's: made before sl_cmd_controller, freed
 * after it). */
struct sl_controller_wiring {
    void *ctx;
    /* Creates every reconciler with the settings cc (borrowed for the call; copied where they are
     * kept): *out gets a malloc'ed array of *n pointers; the caller owns the array (free()) and
     * the reconcilers (passed to sl_manager_add, which takes ownership). Returns 0, or a
     * negative code with err set (nothing allocated then). */
    int (*reconcilers)(void *ctx, const struct sl_controller_config *cc,
                       struct sl_reconciler ***out, size_t *n, struct sl_err *err);
    /* Lets reconcilers serve HTTP: called after every reconciler was added to the manager and
     * before the servers start. metrics is the --metrics-addr server, webhook the TLS
     * --webhook-addr server or NULL. Returns 0 or a negative code with err set. NULL = none. */
    int (*setup_servers)(void *ctx, struct sl_manager *m, struct sl_http_server *metrics,
                         struct sl_http_server *webhook, struct sl_err *err);
    /* Frees what setup_servers and reconcilers made, after the servers stopped and the
     * reconcilers were freed. NULL = none. */
    void (*teardown)(void *ctx);
};

/* Runs `sealift controller` with argv (argv[0] is "controller") and the reconcilers of wiring
 * (borrowed). Returns the process exit code (cli/commands.h). */
int sl_cmd_controller(int argc, char **argv, const struct sl_controller_wiring *wiring);

#endif
