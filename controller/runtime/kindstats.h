/* Per-kind tallies of what the objects' status says, kept from informer events and published as
 * Prometheus gauges, so an operator sees at a glance how many objects of each kind are Ready,
 * how many have blocked tags and how many tags are delivered, without listing them:
 *
 *   sealift_objects{kind,ready="True|False|Unknown"}  objects by their Ready condition (none yet:
 *                                                       Unknown)
 *   sealift_objects_blocked{kind}                       objects with condition Blocked=True
 *   sealift_delivered_tags{kind}                        sum of status.summary.delivered
 *
 * Each event moves the tallies by the difference between the object's old and new state (add:
 * nothing -> new; delete: old -> nothing), so a tally is always the sum over the objects the
 * informer holds. Thread-safe. */
#ifndef SL_RUNTIME_KINDSTATS_H
#define SL_RUNTIME_KINDSTATS_H

#include <jansson.h>

struct sl_kindstats;
struct sl_metrics;

/* A tally for objects of kind (copied; e.g. "ImageDelivery"); its gauges in metrics (borrowed,
 * may be NULL: no gauges) start at 0 and are published at once. Never NULL. Free with
 * sl_kindstats_free. */
struct sl_kindstats *sl_kindstats_new(const char *kind, struct sl_metrics *metrics);
/* Frees the tally (its gauges keep their last values). s may be NULL. */
void sl_kindstats_free(struct sl_kindstats *s);
/* One informer event: old_obj is the object before (NULL for an add), new_obj after (NULL for a
 * delete); both borrowed. Updates the tallies and the gauges. */
void sl_kindstats_observe(struct sl_kindstats *s, const json_t *old_obj, const json_t *new_obj);

#endif
