/* The metrics registry (controller/runtime/metrics.c): the exposition text Prometheus scrapes,
 * line by line, including the histogram's cumulative buckets and label escaping. */
#include "check.h"
#include "runtime/metrics.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Non-zero when out holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    }
    return 0;
}

#define CHECK_LINE(text, line)                                                                     \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!has_line(text, line)) {                                                               \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: missing line: %s\n", __FILE__, __LINE__, line);                \
        }                                                                                          \
    } while (0)

static char *render(struct sl_metrics *m)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    sl_metrics_render(m, &b);
    return sl_buf_steal(&b, NULL);
}

static void test_reconcile_histogram(void)
{
    struct sl_metrics *m = sl_metrics_new();
    sl_metrics_reconcile_observe(m, "ImageDelivery", "success", 0.003);
    sl_metrics_reconcile_observe(m, "ImageDelivery", "success", 0.2);
    sl_metrics_reconcile_observe(m, "ImageDelivery", "success", 0.25);
    sl_metrics_reconcile_observe(m, "ImageDelivery", "success", 120);
    sl_metrics_reconcile_observe(m, "GitSource", "error", 1);
    char *t = render(m);
    CHECK_LINE(t, "# HELP sealift_reconcile_total Reconciliations by kind and result "
                  "(success, error, requeue).");
    CHECK_LINE(t, "# TYPE sealift_reconcile_total counter");
    CHECK_LINE(t, "sealift_reconcile_total{kind=\"ImageDelivery\",result=\"success\"} 4");
    CHECK_LINE(t, "sealift_reconcile_total{kind=\"GitSource\",result=\"error\"} 1");
    CHECK_LINE(t, "# TYPE sealift_reconcile_duration_seconds histogram");
    const char *p = "sealift_reconcile_duration_seconds_bucket{kind=\"ImageDelivery\","
                    "result=\"success\",le=";
    char line[256];
    struct {
        const char *le;
        int n;
    } want[] = {{"0.005", 1}, {"0.01", 1}, {"0.025", 1}, {"0.05", 1}, {"0.1", 1},
                {"0.25", 3},  {"0.5", 3},  {"1", 3},     {"2.5", 3},  {"5", 3},
                {"10", 3},    {"30", 3},   {"60", 3},    {"+Inf", 4}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(line, sizeof(line), "%s\"%s\"} %d", p, want[i].le, want[i].n);
        CHECK_LINE(t, line);
    }
    CHECK_LINE(t, "sealift_reconcile_duration_seconds_sum{kind=\"ImageDelivery\","
                  "result=\"success\"} 120.453");
    CHECK_LINE(t, "sealift_reconcile_duration_seconds_count{kind=\"ImageDelivery\","
                  "result=\"success\"} 4");
    CHECK_LINE(t, "sealift_reconcile_duration_seconds_bucket{kind=\"GitSource\","
                  "result=\"error\",le=\"0.5\"} 0");
    CHECK_LINE(t, "sealift_reconcile_duration_seconds_bucket{kind=\"GitSource\","
                  "result=\"error\",le=\"1\"} 1");
    /* series are sorted: GitSource before ImageDelivery */
    CHECK(strstr(t, "kind=\"GitSource\"") < strstr(t, "kind=\"ImageDelivery\""));
    /* every family has exactly one TYPE line */
    const char *first = strstr(t, "# TYPE sealift_reconcile_duration_seconds ");
    CHECK(first && !strstr(first + 1, "# TYPE sealift_reconcile_duration_seconds "));
    free(t);
    sl_metrics_free(m);
}

static void test_queue_and_generic(void)
{
    struct sl_metrics *m = sl_metrics_new();
    sl_metrics_queue_depth_set(m, "ImageDelivery", 7);
    sl_metrics_queue_depth_set(m, "ImageDelivery", 3);
    sl_metrics_queue_retry_inc(m, "SigningKey");
    sl_metrics_queue_retry_inc(m, "SigningKey");
    sl_metrics_counter_add(m, "sealift_blob_bytes_copied_total", "", 1024);
    sl_metrics_counter_add(m, "sealift_blob_bytes_copied_total", "", 1024);
    sl_metrics_counter_add(m, "sealift_blob_bytes_copied_total", "", -5); /* ignored */
    sl_metrics_counter_add(m, "sealift_webhook_requests_total", "{code=\"200\"}", 1);
    sl_metrics_counter_add(m, "sealift_webhook_requests_total", "code=\"500\"", 0.5);
    sl_metrics_counter_add(m, "bad name", "", 1);
    sl_metrics_counter_add(m, "sealift_evil_total", "a=\"x\"\n# TYPE fake counter", 1);
    sl_metrics_set_help(m, "sealift_blob_bytes_copied_total", "Bytes copied\\to targets\nfast.");
    sl_metrics_gauge_set(m, "sealift_leader", "", 1);
    sl_metrics_counter_add(m, "sealift_leader", "", 5); /* a gauge stays a gauge */
    char *t = render(m);
    CHECK_LINE(t, "# TYPE sealift_workqueue_depth gauge");
    CHECK_LINE(t, "sealift_workqueue_depth{kind=\"ImageDelivery\"} 3");
    CHECK_LINE(t, "# TYPE sealift_workqueue_retries_total counter");
    CHECK_LINE(t, "sealift_workqueue_retries_total{kind=\"SigningKey\"} 2");
    CHECK_LINE(t, "# HELP sealift_blob_bytes_copied_total Bytes copied\\\\to targets\\nfast.");
    CHECK_LINE(t, "# TYPE sealift_blob_bytes_copied_total counter");
    CHECK_LINE(t, "sealift_blob_bytes_copied_total 2048");
    CHECK_LINE(t, "sealift_webhook_requests_total{code=\"200\"} 1");
    CHECK_LINE(t, "sealift_webhook_requests_total{code=\"500\"} 0.5");
    CHECK_LINE(t, "# TYPE sealift_leader gauge");
    CHECK_LINE(t, "sealift_leader 1");
    CHECK(!strstr(t, "bad name"));
    CHECK(!strstr(t, "sealift_evil_total"));
    CHECK(!strstr(t, "fake"));
    CHECK_LINE(t, "# TYPE process_resident_memory_bytes gauge");
    CHECK_LINE(t, "# TYPE process_start_time_seconds gauge");
    /* process values are plausible: some resident memory, started after 2020 and not later
     * than now */
    const char *rss = strstr(t, "\nprocess_resident_memory_bytes ");
    const char *start = strstr(t, "\nprocess_start_time_seconds ");
    CHECK(rss && strtod(rss + 31, NULL) > 1e6);
    CHECK(start && strtod(start + 28, NULL) > 1577836800.0);
    CHECK(start && strtod(start + 28, NULL) <= (double)time(NULL) + 1);
    /* every line ends with a newline and the text has no empty lines */
    CHECK(t[strlen(t) - 1] == '\n');
    CHECK(!strstr(t, "\n\n"));
    free(t);
    sl_metrics_free(m);
}

static void test_label_escaping(void)
{
    struct sl_metrics *m = sl_metrics_new();
    struct sl_buf labels;
    sl_buf_init(&labels, 0);
    sl_metrics_label_append(&labels, "path", "C:\\dir \"quoted\"\nnext");
    sl_metrics_label_append(&labels, "plain", "ok");
    CHECK_STR_EQ(sl_buf_cstr(&labels), "path=\"C:\\\\dir \\\"quoted\\\"\\nnext\",plain=\"ok\"");
    sl_metrics_counter_add(m, "sealift_things_total", labels.data, 1);
    sl_buf_free(&labels);
    sl_metrics_reconcile_observe(m, "Weird\"Kind\\", "error\n", 0.01);
    sl_metrics_queue_depth_set(m, "a\"b", 1);
    char *t = render(m);
    CHECK_LINE(t, "sealift_things_total{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\",plain=\"ok\"} 1");
    CHECK_LINE(t, "sealift_reconcile_total{kind=\"Weird\\\"Kind\\\\\",result=\"error\\n\"} 1");
    CHECK_LINE(t, "sealift_workqueue_depth{kind=\"a\\\"b\"} 1");
    free(t);
    sl_metrics_free(m);
}

struct observer {
    struct sl_metrics *m;
    const char *kind;
};

static void *observe_many(void *arg)
{
    const struct observer *o = arg;
    struct sl_metrics *m = o->m;
    for (int i = 0; i < 2000; i++) {
        sl_metrics_reconcile_observe(m, o->kind, "success", 0.001);
        sl_metrics_queue_retry_inc(m, o->kind);
    }
    return NULL;
}

static void test_concurrent_updates(void)
{
    struct sl_metrics *m = sl_metrics_new();
    pthread_t th[4];
    struct observer obs[2] = {{m, "A"}, {m, "B"}};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, observe_many, &obs[i % 2]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    char *t = render(m);
    CHECK_LINE(t, "sealift_reconcile_total{kind=\"A\",result=\"success\"} 4000");
    CHECK_LINE(t, "sealift_reconcile_total{kind=\"B\",result=\"success\"} 4000");
    CHECK_LINE(t, "sealift_workqueue_retries_total{kind=\"A\"} 4000");
    free(t);
    sl_metrics_free(m);
}

int main(void)
{
    RUN(test_reconcile_histogram);
    RUN(test_queue_and_generic);
    RUN(test_label_escaping);
    RUN(test_concurrent_updates);
    return CHECK_EXIT();
}
