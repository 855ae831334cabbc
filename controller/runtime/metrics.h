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
 * sl_metrics_counter_add("sealift_blob_bytes_copied_total", "", 1024).
 * The label string is `key="value",...` (surrounding braces are tolerated); build it with
 * sl_metrics_label_append so values are escaped. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*;
 * bad names, negative increments and label strings with a newline are dropped. */
void sl_metrics_counter_add(const char *name, const char *labels, double v);

/* Generic gauge with one preformatted label set (as sl_metrics_counter_add); sets the value.
 * A name keeps the type (counter or gauge) it was first used with. */
void sl_metrics_gauge_set(const char *name, const char *labels, double v);
/* Sets the HELP text of a metric family (default: "Sealift counter <name>."). Copied. */
void sl_metrics_set_help(const char *name, const char *help);
/* Appends `name="value"` to a label string in out, with a comma first when out is not empty;
 * the value is escaped (backslash, double quote, newline) as the text format requires. */
void sl_metrics_label_append(struct sl_buf *out, const char *name, const char *value);
/* Forgets every series and help text (for tests). */
void sl_metrics_reset(void);
/* Writes every metric (with HELP and TYPE lines) to out: the reconcile counter and histogram
 * (sealift_reconcile_duration_seconds, buckets 0.005 .. 60 s), queue depth and retries, the
 * generic series, then process_cpu_seconds_total, process_open_fds,
 * process_resident_memory_bytes and process_start_time_seconds. Content type for HTTP:
 * "text/plain; version=0.0.4; charset=utf-8". */
void sl_metrics_render(struct sl_buf *out);

#endif
