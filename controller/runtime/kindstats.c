#include "runtime/kindstats.h"

#include "runtime/conditions.h"
#include "runtime/metrics.h"
#include "util/buf.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { READY_TRUE, READY_FALSE, READY_UNKNOWN, READY_N };
static const char *const ready_names[READY_N] = {"True", "False", "Unknown"};

struct sl_kindstats {
    char *kind;
    struct sl_metrics *metrics; /* borrowed; NULL = no gauges */
    pthread_mutex_t lock;       /* guards the tallies: informer threads and relists */
    long long ready[READY_N];
    long long blocked;
    long long delivered;
};

/* What one object contributes. */
struct contribution {
    int ready; /* index in ready_names, or -1 for no object */
    bool blocked;
    long long delivered;
};

static struct contribution contribution_of(const json_t *obj)
{
    struct contribution c = {.ready = -1};
    if (!obj)
        return c;
    const json_t *status = json_object_get(obj, "status");
    const char *ready =
        json_string_value(json_object_get(sl_condition_get(status, "Ready"), "status"));
    c.ready = READY_UNKNOWN;
    if (ready && strcmp(ready, "True") == 0)
        c.ready = READY_TRUE;
    else if (ready && strcmp(ready, "False") == 0)
        c.ready = READY_FALSE;
    const char *blocked =
        json_string_value(json_object_get(sl_condition_get(status, "Blocked"), "status"));
    c.blocked = blocked && strcmp(blocked, "True") == 0;
    json_int_t n =
        json_integer_value(json_object_get(json_object_get(status, "summary"), "delivered"));
    c.delivered = n > 0 ? (long long)n : 0;
    return c;
}

static void publish_locked(struct sl_kindstats *s)
{
    struct sl_buf labels;
    for (int i = 0; i < READY_N; i++) {
        sl_buf_init(&labels, 0);
        sl_metrics_label_append(&labels, "kind", s->kind);
        sl_metrics_label_append(&labels, "ready", ready_names[i]);
        sl_metrics_gauge_set(s->metrics, "sealift_objects", sl_buf_cstr(&labels),
                             (double)s->ready[i]);
        sl_buf_free(&labels);
    }
    sl_buf_init(&labels, 0);
    sl_metrics_label_append(&labels, "kind", s->kind);
    sl_metrics_gauge_set(s->metrics, "sealift_objects_blocked", sl_buf_cstr(&labels),
                         (double)s->blocked);
    sl_metrics_gauge_set(s->metrics, "sealift_delivered_tags", sl_buf_cstr(&labels),
                         (double)s->delivered);
    sl_buf_free(&labels);
}

struct sl_kindstats *sl_kindstats_new(const char *kind, struct sl_metrics *metrics)
{
    struct sl_kindstats *s = sl_xcalloc(1, sizeof(*s));
    s->metrics = metrics;
    s->kind = sl_xstrdup(kind);
    pthread_mutex_init(&s->lock, NULL);
    sl_metrics_set_help(s->metrics, "sealift_objects",
                        "Objects the controller watches, by kind and Ready condition status.");
    sl_metrics_set_help(s->metrics, "sealift_objects_blocked",
                        "Objects with condition Blocked=True (tags a gate refused), by kind.");
    sl_metrics_set_help(
        s->metrics, "sealift_delivered_tags",
        "Tags delivered to every target (sum of status.summary.delivered), by kind.");
    pthread_mutex_lock(&s->lock);
    publish_locked(s);
    pthread_mutex_unlock(&s->lock);
    return s;
}

void sl_kindstats_free(struct sl_kindstats *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->kind);
    free(s);
}

void sl_kindstats_observe(struct sl_kindstats *s, const json_t *old_obj, const json_t *new_obj)
{
    struct contribution was = contribution_of(old_obj), is = contribution_of(new_obj);
    if (was.ready == is.ready && was.blocked == is.blocked && was.delivered == is.delivered)
        return;
    pthread_mutex_lock(&s->lock);
    if (was.ready >= 0)
        s->ready[was.ready]--;
    if (is.ready >= 0)
        s->ready[is.ready]++;
    s->blocked += (is.blocked ? 1 : 0) - (was.blocked ? 1 : 0);
    s->delivered += is.delivered - was.delivered;
    publish_locked(s);
    pthread_mutex_unlock(&s->lock);
}
