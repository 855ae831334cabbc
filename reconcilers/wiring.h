/* The reconcilers `sealift controller` runs and the HTTP routes they serve: the one place that
 * knows every kind. main.c makes a struct sl_reconcilers and passes its functions to
 * sl_cmd_controller (runtime/cmd_controller.h, struct sl_controller_wiring); nothing below
 * reconcilers/ calls them. Reconcilers get what they depend on through their constructors: the
 * controller's settings (runtime/config.h), the ScanPolicy store the ScanPolicy reconciler loads
 * and the gates over it (scan/store.h, scan/policy.h), the scan record the admission webhook
 * reads (scan/record.h). */
#ifndef SL_RECONCILERS_WIRING_H
#define SL_RECONCILERS_WIRING_H

#include "runtime/cmd_controller.h"
#include "runtime/config.h"
#include "runtime/reconciler.h"
#include "util/err.h"

#include <stddef.h>

struct sl_manager;
struct sl_http_server;

/* What the wiring makes for one `sealift controller` run: the ScanPolicy store, the scan record,
 * the admission webhook and the git push hooks. */
struct sl_reconcilers;

/* An empty wiring. Caller frees with sl_reconcilers_free once sl_cmd_controller returned. */
struct sl_reconcilers *sl_reconcilers_new(void);
/* Frees w. After a run whose reconcilers were not torn down (sl_cmd_controller exited with
 * reconciles still running) it frees nothing: they may still use it. NULL is a no-op. */
void sl_reconcilers_free(struct sl_reconcilers *w);

/* Fills *out with w as ctx and the three functions below, for sl_cmd_controller. */
void sl_reconcilers_wiring(struct sl_controller_wiring *out, struct sl_reconcilers *w);

/* Creates every reconciler (SigningKey, GitSource, DeployPolicy, ImageDelivery, ScanPolicy) with
 * the settings cc (copied into ctx, a struct sl_reconcilers): the ImageDelivery reconciler gets
 * the scan gate of the built-in scanner over the ScanPolicy store (its verdicts recorded for
 * the admission webhook) and the attestation gate; the ScanPolicy reconciler loads that store.
 * *out gets a malloc'ed array of *n pointers; the caller owns the array (free()) and the
 * reconcilers (passed to sl_manager_add, which takes ownership and calls each one's free()).
 * Returns 0, or a negative code with err set (no reconciler made then). */
int sl_reconcilers_all(void *ctx, const struct sl_controller_config *cc,
                       struct sl_reconciler ***out, size_t *n, struct sl_err *err);

/* Serves the git push hooks on metrics (when not NULL) and the admission webhook on webhook
 * (the TLS --webhook-addr server, when not NULL). ctx is the struct sl_reconcilers that made
 * the reconcilers. Returns 0 or a negative code with err set. */
int sl_reconcilers_setup_servers(void *ctx, struct sl_manager *m, struct sl_http_server *metrics,
                                 struct sl_http_server *webhook, struct sl_err *err);

/* Frees what sl_reconcilers_setup_servers and sl_reconcilers_all made in ctx (webhook, push
 * hooks, the scan record, the ScanPolicy store), after the servers have stopped and the
 * reconcilers were freed. */
void sl_reconcilers_teardown(void *ctx);

#endif
