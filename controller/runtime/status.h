/* Status writes through the /status subresource. */
#ifndef SL_RUNTIME_STATUS_H
#define SL_RUNTIME_STATUS_H

#include "kube/ops.h"

/* Writes new_status (borrowed) as the status of the object `obj` (as last read, borrowed).
 * Sets status.observedGeneration from obj's metadata.generation when new_status lacks it.
 * Does nothing (and returns 0) when new_status equals obj's current status, so a steady state
 * costs no writes. On 409 Conflict it re-reads the object and retries (up to 5 times) with the
 * fresh resourceVersion, keeping new_status. *out (may be NULL) gets the object as written.
 * Returns 0, SL_ENOTFOUND (object deleted meanwhile) or the client's error. */
int sl_status_write(json_t **out, const struct sl_kube_ops *kube,
                    const struct sl_kube_resource *res, const json_t *obj, json_t *new_status,
                    struct sl_err *err);

#endif
