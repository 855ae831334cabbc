/* Unit tests of the per-kind status gauges (controller/runtime/kindstats.c): what /metrics says
 * after informer events (add, update, relist update, delete). */
#include "check.h"
#include "runtime/kindstats.h"
#include "runtime/metrics.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of one series in the rendered metrics, or -1 when absent. */
static double series(struct sl_metrics *m, const char *line_prefix)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    sl_metrics_render(m, &b);
    const char *text = sl_buf_cstr(&b);
    double v = -1;
    size_t n = strlen(line_prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, line_prefix, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    sl_buf_free(&b);
    return v;
}

/* An ImageDelivery status with Ready=ready, Blocked=True when blocked, summary.delivered. */
static json_t *imd(const char *ready, int blocked, int delivered)
{
    json_t *conds = json_array();
    if (ready)
        json_array_append_new(conds, json_pack("{s:s, s:s}", "type", "Ready", "status", ready));
    if (blocked)
        json_array_append_new(conds, json_pack("{s:s, s:s}", "type", "Blocked", "status", "True"));
    return json_pack("{s:{s:s}, s:{s:o, s:{s:i}}}", "metadata", "name", "x", "status", "conditions",
                     conds, "summary", "delivered", delivered);
}

#define OBJ(k, r)  "sealift_objects{kind=\"" k "\",ready=\"" r "\"}"
#define BLOCKED(k) "sealift_objects_blocked{kind=\"" k "\"}"
#define TAGS(k)    "sealift_delivered_tags{kind=\"" k "\"}"

static void test_tallies_follow_events(void)
{
    struct sl_metrics *m = sl_metrics_new();
    struct sl_kindstats *s = sl_kindstats_new("ImageDelivery", m);
    struct sl_kindstats *other = sl_kindstats_new("GitSource", m);
    /* published from the start, at 0 */
    CHECK(series(m, OBJ("ImageDelivery", "True")) == 0);
    CHECK(series(m, BLOCKED("ImageDelivery")) == 0);
    CHECK(series(m, TAGS("ImageDelivery")) == 0);

    json_t *fresh = json_pack("{s:{s:s}}", "metadata", "name", "x"); /* no status yet */
    json_t *partly = imd("True", 1, 1), *failing = imd("False", 1, 1), *clean = imd("True", 0, 2);
    sl_kindstats_observe(s, NULL, fresh);
    CHECK(series(m, OBJ("ImageDelivery", "Unknown")) == 1);
    sl_kindstats_observe(s, fresh, partly);
    CHECK(series(m, OBJ("ImageDelivery", "Unknown")) == 0);
    CHECK(series(m, OBJ("ImageDelivery", "True")) == 1);
    CHECK(series(m, BLOCKED("ImageDelivery")) == 1);
    CHECK(series(m, TAGS("ImageDelivery")) == 1);
    sl_kindstats_observe(s, NULL, clean); /* a second object */
    CHECK(series(m, OBJ("ImageDelivery", "True")) == 2);
    CHECK(series(m, TAGS("ImageDelivery")) == 3);
    sl_kindstats_observe(s, partly, failing);
    CHECK(series(m, OBJ("ImageDelivery", "True")) == 1);
    CHECK(series(m, OBJ("ImageDelivery", "False")) == 1);
    CHECK(series(m, BLOCKED("ImageDelivery")) == 1);
    sl_kindstats_observe(s, failing, NULL); /* deleted */
    CHECK(series(m, OBJ("ImageDelivery", "False")) == 0);
    CHECK(series(m, BLOCKED("ImageDelivery")) == 0);
    CHECK(series(m, TAGS("ImageDelivery")) == 2);
    /* kinds are counted apart */
    CHECK(series(m, OBJ("GitSource", "True")) == 0);
    json_t *applied = imd("True", 0, 0);
    sl_kindstats_observe(other, NULL, applied);
    CHECK(series(m, OBJ("GitSource", "True")) == 1);
    CHECK(series(m, OBJ("ImageDelivery", "True")) == 1);
    json_decref(applied);
    json_decref(fresh);
    json_decref(partly);
    json_decref(failing);
    json_decref(clean);
    sl_kindstats_free(s);
    sl_kindstats_free(other);
    sl_metrics_free(m);
}

int main(void)
{
    RUN(test_tallies_follow_events);
    return CHECK_EXIT();
}
