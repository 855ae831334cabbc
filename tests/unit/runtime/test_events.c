/* Unit tests of controller/runtime/events.c against the in-memory API server: the Event's
 * fields, aggregation of repeats within 10 minutes, message cap, bad input. */
#include "check.h"
#include "fake_kube.h"
#include "runtime/events.h"

#include <stdlib.h>
#include <string.h>

static const struct sl_kube_resource RES_EVENT = {
    .group = "", .version = "v1", .plural = "events", .kind = "Event", .namespaced = true};

static int64_t fake_now;
static int64_t clock_fn(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static json_t *list_events(struct sl_kube_ops *ops, const char *ns)
{
    json_t *l = NULL;
    struct sl_kube_list_opts lo = {0};
    if (ops->list(ops->ctx, &l, &RES_EVENT, ns, &lo, NULL) != 0)
        return json_array();
    json_t *items = json_incref(json_object_get(l, "items"));
    json_decref(l);
    return items ? items : json_array();
}

static json_t *key_obj(void)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "sealift.dev/v1alpha1",
                     "kind", "SigningKey", "metadata", "name", "k1", "namespace", "team-a", "uid",
                     "uid-1", "resourceVersion", "42");
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

static void test_event_fields_and_aggregation(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    fake_now = 1790000000000LL;
    struct sl_event_recorder *rec = sl_event_recorder_new(&ops, clock_fn, NULL);
    json_t *obj = key_obj();
    struct sl_err err = {0};
    CHECK_INT_EQ(
        sl_event_record(rec, obj, "Warning", "SecretMissing", "secret k1-key not found", &err), 0);
    json_t *evs = list_events(&ops, "team-a");
    CHECK_INT_EQ(json_array_size(evs), 1);
    json_t *ev = json_array_get(evs, 0);
    CHECK_STR_EQ(str_at(ev, "involvedObject", "kind"), "SigningKey");
    CHECK_STR_EQ(str_at(ev, "involvedObject", "apiVersion"), "sealift.dev/v1alpha1");
    CHECK_STR_EQ(str_at(ev, "involvedObject", "name"), "k1");
    CHECK_STR_EQ(str_at(ev, "involvedObject", "namespace"), "team-a");
    CHECK_STR_EQ(str_at(ev, "involvedObject", "uid"), "uid-1");
    CHECK_STR_EQ(str_at(ev, "involvedObject", "resourceVersion"), "42");
    CHECK_STR_EQ(str_at(ev, "reason", NULL), "SecretMissing");
    CHECK_STR_EQ(str_at(ev, "message", NULL), "secret k1-key not found");
    CHECK_STR_EQ(str_at(ev, "type", NULL), "Warning");
    CHECK_STR_EQ(str_at(ev, "source", "component"), "sealift-controller");
    CHECK_INT_EQ(json_integer_value(json_object_get(ev, "count")), 1);
    char first[64];
    snprintf(first, sizeof(first), "%s", str_at(ev, "firstTimestamp", NULL));
    CHECK(str_at(ev, "lastTimestamp", NULL) != NULL);
    json_decref(evs);

    /* the same event a minute later: one object, count 2, lastTimestamp moves */
    fake_now += 60 * 1000;
    CHECK_INT_EQ(
        sl_event_record(rec, obj, "Warning", "SecretMissing", "secret k1-key not found", &err), 0);
    evs = list_events(&ops, "team-a");
    CHECK_INT_EQ(json_array_size(evs), 1);
    ev = json_array_get(evs, 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(ev, "count")), 2);
    CHECK_STR_EQ(str_at(ev, "firstTimestamp", NULL), first);
    CHECK(strcmp(str_at(ev, "lastTimestamp", NULL), first) != 0);
    json_decref(evs);

    /* a different message is a different event */
    CHECK_INT_EQ(sl_event_record(rec, obj, "Normal", "KeyGenerated", "generated", &err), 0);
    evs = list_events(&ops, "team-a");
    CHECK_INT_EQ(json_array_size(evs), 2);
    json_decref(evs);

    /* more than 10 minutes after the last one: a new Event */
    fake_now += 11 * 60 * 1000;
    CHECK_INT_EQ(
        sl_event_record(rec, obj, "Warning", "SecretMissing", "secret k1-key not found", &err), 0);
    evs = list_events(&ops, "team-a");
    CHECK_INT_EQ(json_array_size(evs), 3);
    json_decref(evs);
    json_decref(obj);
    sl_event_recorder_free(rec);
    sl_fake_kube_free(fk);
}

static void test_event_expired_object_recreated(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    fake_now = 1790000000000LL;
    struct sl_event_recorder *rec = sl_event_recorder_new(&ops, clock_fn, NULL);
    json_t *obj = key_obj();
    CHECK_INT_EQ(sl_event_record(rec, obj, "Normal", "Ready", "ok", NULL), 0);
    json_t *evs = list_events(&ops, "team-a");
    const char *name = str_at(json_array_get(evs, 0), "metadata", "name");
    CHECK(name && strncmp(name, "k1.", 3) == 0);
    CHECK_INT_EQ(sl_fake_kube_remove(fk, &RES_EVENT, "team-a", name), 0);
    json_decref(evs);
    /* the remembered Event is gone (TTL): the repeat creates a fresh one */
    fake_now += 1000;
    CHECK_INT_EQ(sl_event_record(rec, obj, "Normal", "Ready", "ok", NULL), 0);
    evs = list_events(&ops, "team-a");
    CHECK_INT_EQ(json_array_size(evs), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(evs, 0), "count")), 1);
    json_decref(evs);
    json_decref(obj);
    sl_event_recorder_free(rec);
    sl_fake_kube_free(fk);
}

static void test_event_cap_and_bad_input(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct sl_event_recorder *rec = sl_event_recorder_new(&ops, NULL, NULL);
    /* cluster-scoped object: event in "default" */
    json_t *dp = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "sealift.dev/v1alpha1", "kind",
                           "DeployPolicy", "metadata", "name", "strict");
    char *big = malloc(3000);
    memset(big, 'x', 2999);
    big[2999] = '\0';
    /* a multi-byte character straddling the cap is not split */
    memcpy(big + 1023, "\xc3\xa9", 2);
    CHECK_INT_EQ(sl_event_record(rec, dp, "Normal", "Generated", big, NULL), 0);
    json_t *evs = list_events(&ops, "default");
    CHECK_INT_EQ(json_array_size(evs), 1);
    const char *msg = str_at(json_array_get(evs, 0), "message", NULL);
    CHECK(msg && strlen(msg) == 1023);
    json_decref(evs);
    /* invalid UTF-8 (say, bytes from a registry's error body) is replaced, not refused */
    CHECK_INT_EQ(sl_event_record(rec, dp, "Warning", "Bad", "bad \xff\xfe bytes", NULL), 0);
    evs = list_events(&ops, "default");
    CHECK_INT_EQ(json_array_size(evs), 2);
    json_decref(evs);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_event_record(rec, dp, "Bad", "R", "m", &err), SL_EINVAL);
    json_t *nokind = json_pack("{s:{s:s}}", "metadata", "name", "x");
    CHECK_INT_EQ(sl_event_record(rec, nokind, "Normal", "R", "m", &err), SL_EINVAL);
    json_t *num = json_integer(5);
    CHECK_INT_EQ(sl_event_record(rec, num, "Normal", "R", "m", &err), SL_EINVAL);
    /* the callback form never fails loudly */
    sl_event_record_cb(rec, num, "Normal", "R", "m");
    json_decref(num);
    json_decref(nokind);
    free(big);
    json_decref(dp);
    sl_event_recorder_free(rec);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_event_fields_and_aggregation);
    RUN(test_event_expired_object_recreated);
    RUN(test_event_cap_and_bad_input);
    return CHECK_EXIT();
}
