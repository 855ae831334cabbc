/* A Prometheus metrics registry (text exposition format 0.0.4). Thread-safe. The controller
 * makes one per process and hands it to what records metrics (the manager, the admission
 * webhook); tests make their own. Every recording function does nothing with a NULL registry. */
#ifndef SL_RUNTIME_METRICS_H
#define SL_RUNTIME_METRICS_H

#include "util/buf.h"

struct sl_metrics;

/* A new, empty registry (sl_metrics_free). */
struct sl_metrics *sl_metrics_new(void);
void sl_metrics_free(struct sl_metrics *m);

/* Counters: sealift_reconcile_total{kind,result} where result is success|error|requeue. */
void sl_metrics_reconcile_observe(struct sl_metrics *m, const char *kind, const char *result,
                                  double seconds);
/* Gauge: sealift_workqueue_depth{kind}. */
void sl_metrics_queue_depth_set(struct sl_metrics *m, const char *kind, long depth);
/* Counter: sealift_workqueue_retries_total{kind}. */
void sl_metrics_queue_retry_inc(struct sl_metrics *m, const char *kind);
/* Generic counter with one label set given as a preformatted string, e.g.
 * sl_metrics_counter_add("sealift_blob_bytes_copied_total", "", 1024).
 * The label string is `key="value",...` (surrounding braces are tolerated); build it with
 * sl_metrics_label_append so values are escaped. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*;
 * bad names, negative increments and label strings with a newline are dropped. */
void sl_metrics_counter_add(struct sl_metrics *m, const char *name, const char *labels, double v);

/* Generic gauge with one preformatted label set (as sl_metrics_counter_add); sets the value.
 * A name keeps the type (counter or gauge) it was first used with. */
void sl_metrics_gauge_set(struct sl_metrics *m, const char *name, const char *labels, double v);
/* Sets the HELP text of a metric family (default: "Sealift counter <name>."). Copied. */
void sl_metrics_set_help(struct sl_metrics *m, const char *name, const char *help);
/* Appends `name="value"` to a label string in out, with a comma first when out is not empty;
 * the value is escaped (backslash, double quote, newline) as the text format requires. */
void sl_metrics_label_append(struct sl_buf *out, const char *name, const char *value);
/* Writes every metric (with HELP and TYPE lines) to out: the reconcile counter and histogram
 * (sealift_reconcile_duration_seconds, buckets 0.005 .. 60 s), queue depth and retries, the
 * generic series, then process_cpu_seconds_total, process_open_fds,
 * process_resident_memory_bytes and process_start_time_seconds. Content type for HTTP:
 * "text/plain; version=0.0.4; charset=utf-8". */
void sl_metrics_render(struct sl_metrics *m, struct sl_buf *out);

#endif
