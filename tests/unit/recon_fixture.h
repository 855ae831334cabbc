/* Helpers the reconciler unit tests share: an event log for struct sl_runtime.record_event,
 * condition lookups, and one reconcile of an object stored in the fake API (fake_kube.h). */
#ifndef SL_TEST_RECON_FIXTURE_H
#define SL_TEST_RECON_FIXTURE_H

#include "fake_kube.h"
#include "runtime/reconciler.h"

#include <jansson.h>
#include <stdbool.h>

/* record_event callback: ctx is a JSON array that gets {type, reason, message} per event. */
void sl_test_event_log(void *ctx, const json_t *obj, const char *type, const char *reason,
                       const char *message);
/* Whether the log holds an event of type (NULL = any) and reason. */
bool sl_test_has_event(const json_t *events, const char *type, const char *reason);
/* How many events of the log have reason. */
int sl_test_count_events(const json_t *events, const char *reason);

/* Stores the ServiceAccount ns/name in fk with the annotations of the list key, value, key,
 * value, ... ended by a NULL key (a NULL value leaves its key out; annotations NULL: none), as
 * a cloud identity is given (eks.amazonaws.com/role-arn, azure.workload.identity/client-id,
 * ...). Returns sl_fake_kube_put's code. */
int sl_test_put_service_account(struct sl_fake_kube *fk, const char *ns, const char *name,
                                const char *const *annotations);

/* A field ("status", "reason", "message"...) of the condition of type in status, or NULL. */
const char *sl_test_condition_field(const json_t *status, const char *type, const char *field);

/* Runs r once on a copy of the object res/ns/name stored in fk (NULL when absent, as for a
 * deleted object), the way the manager does; kind names it in the log. Prints the error of a
 * failed reconcile to stderr. Returns the reconcile's result code. */
int sl_test_reconcile(struct sl_reconciler *r, struct sl_runtime *rt, struct sl_fake_kube *fk,
                      const struct sl_kube_resource *res, const char *kind, const char *ns,
                      const char *name, struct sl_reconcile_result *out);

#endif
