/* Process-wide Prometheus metrics (text exposition format 0.0.4). Thread-safe. */
#ifndef SL_RUNTIME_METRICS_H
#define SL_RUNTIME_METRICS_H

#include "util/buf.h"

/* Counters: sealift_reconcile_total{kind,result} where result is success|error|requeue. */
void sl_metrics_reconcile_observe(const char *kind, const char *result, double seconds);
/* Gauge: sealift_workqueue_depth{kind}. */
void sl_metrics_queue_depth_set(const char *kind, long depth);
/* Counter: sealift_workqueue_retries_total{kind}. */
void sl_metrics_queue_retry_inc(const char *kind);
/* Generic counter with one label set given as a preformatted string, e.g.
 * sl_metrics_counter_add("sealift_blob_bytes_copied_total", "", 1024). */
void sl_metrics_counter_add(const char *name, const char *labels, double v);
/* Writes every metric (with HELP and TYPE lines) to out. */
void sl_metrics_render(struct sl_buf *out);

#endif
