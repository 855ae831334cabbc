/* Standard Kubernetes conditions in status.conditions: type, status, reason, message,
 * lastTransitionTime, observedGeneration. lastTransitionTime changes only when the status
 * value changes. */
#ifndef SL_RUNTIME_CONDITIONS_H
#define SL_RUNTIME_CONDITIONS_H

#include <jansson.h>
#include <stdbool.h>

/* Sets (adds or updates) condition `type` in status["conditions"] (created when missing).
 * cond_status is "True", "False" or "Unknown"; now is an RFC 3339 time (NULL = current time);
 * observed_generation < 0 leaves observedGeneration out. status must be a JSON object (else
 * nothing happens). Returns true when anything changed. */
bool sl_condition_set(json_t *status, const char *type, const char *cond_status, const char *reason,
                      const char *message, long long observed_generation, const char *now);
/* Removes condition `type`; returns true when it was present. */
bool sl_condition_remove(json_t *status, const char *type);
/* Borrowed condition object, or NULL. */
json_t *sl_condition_get(const json_t *status, const char *type);
/* True when the condition exists with status "True". */
bool sl_condition_is_true(const json_t *status, const char *type);

#endif
