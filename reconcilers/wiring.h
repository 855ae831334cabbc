/* The reconcilers `sealift controller` runs and the HTTP routes they serve: the one place that
 * knows every kind. main.c passes these functions to sl_cmd_controller
 * (runtime/cmd_controller.h, struct sl_controller_wiring); nothing below reconcilers/ calls them.
 * They read the settings of runtime/config.h, which the controller sets first. */
#ifndef SL_RECONCILERS_WIRING_H
#define SL_RECONCILERS_WIRING_H

#include "runtime/reconciler.h"
#include "util/err.h"

#include <stddef.h>

struct sl_manager;
struct sl_http_server;

/* Creates every reconciler (SigningKey, GitSource, DeployPolicy, ImageDelivery, ScanPolicy) and
 * installs the scan gate of ImageDelivery (the built-in scanner, its verdicts recorded for the
 * admission webhook). *out gets a malloc'ed array of *n pointers; the caller owns the array
 * (free()) and the reconcilers (passed to sl_manager_add, which takes ownership and calls each
 * one's free()). Returns 0, or a negative code with err set (nothing allocated then). */
int sl_reconcilers_all(struct sl_reconciler ***out, size_t *n, struct sl_err *err);

/* Serves the git push hooks on metrics (when not NULL) and the admission webhook on webhook
 * (the TLS --webhook-addr server, when not NULL). Returns 0 or a negative code with err set. */
int sl_reconcilers_setup_servers(struct sl_manager *m, struct sl_http_server *metrics,
                                 struct sl_http_server *webhook, struct sl_err *err);

/* Frees what sl_reconcilers_setup_servers and sl_reconcilers_all made (webhook, push hooks, the
 * scan record), after the servers have stopped. */
void sl_reconcilers_teardown(void);

#endif
