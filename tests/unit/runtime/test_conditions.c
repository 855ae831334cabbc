/* Unit tests of controller/runtime/conditions.c and status.c (status writes against the
 * in-memory API server). */
#include "check.h"
#include "fake_kube.h"
#include "runtime/conditions.h"
#include "runtime/status.h"

#include <stdlib.h>
#include <string.h>

static const struct sl_kube_resource RES_KEY = {.group = "sealift.dev",
                                                .version = "v1alpha1",
                                                .plural = "signingkeys",
                                                .kind = "SigningKey",
                                                .namespaced = true};

static const char *cond_str(const json_t *status, const char *type, const char *field)
{
    return json_string_value(json_object_get(sl_condition_get(status, type), field));
}

static void test_condition_transition_time(void)
{
    json_t *st = json_object();
    CHECK(sl_condition_set(st, "Ready", "False", "Progressing", "working", 1,
                           "2026-01-01T00:00:00Z"));
    CHECK_STR_EQ(cond_str(st, "Ready", "lastTransitionTime"), "2026-01-01T00:00:00Z");
    CHECK_STR_EQ(cond_str(st, "Ready", "reason"), "Progressing");
    /* same status, new message: time kept, change reported */
    CHECK(sl_condition_set(st, "Ready", "False", "Failed", "bad key", 1, "2026-01-02T00:00:00Z"));
    CHECK_STR_EQ(cond_str(st, "Ready", "lastTransitionTime"), "2026-01-01T00:00:00Z");
    CHECK_STR_EQ(cond_str(st, "Ready", "message"), "bad key");
    /* nothing different: no change */
    CHECK(!sl_condition_set(st, "Ready", "False", "Failed", "bad key", 1, "2026-01-03T00:00:00Z"));
    CHECK_STR_EQ(cond_str(st, "Ready", "lastTransitionTime"), "2026-01-01T00:00:00Z");
    /* flip: time moves */
    CHECK(sl_condition_set(st, "Ready", "True", "Succeeded", "", 1, "2026-01-04T00:00:00Z"));
    CHECK_STR_EQ(cond_str(st, "Ready", "lastTransitionTime"), "2026-01-04T00:00:00Z");
    CHECK(sl_condition_is_true(st, "Ready"));
    /* observedGeneration alone is a change and keeps the time */
    CHECK(sl_condition_set(st, "Ready", "True", "Succeeded", "", 2, "2026-01-05T00:00:00Z"));
    CHECK_INT_EQ(
        json_integer_value(json_object_get(sl_condition_get(st, "Ready"), "observedGeneration")),
        2);
    CHECK_STR_EQ(cond_str(st, "Ready", "lastTransitionTime"), "2026-01-04T00:00:00Z");
    /* a second type, then removal */
    CHECK(sl_condition_set(st, "Signed", "Unknown", "Pending", "", 2, NULL));
    CHECK_INT_EQ(json_array_size(json_object_get(st, "conditions")), 2);
    CHECK(cond_str(st, "Signed", "lastTransitionTime") != NULL);
    CHECK(!sl_condition_is_true(st, "Signed"));
    CHECK(sl_condition_remove(st, "Signed"));
    CHECK(!sl_condition_remove(st, "Signed"));
    CHECK(sl_condition_get(st, "Signed") == NULL);
    json_decref(st);
}

static void test_condition_odd_input(void)
{
    /* conditions that is not an array is replaced; non-object entries are skipped */
    json_t *st = json_pack("{s:s}", "conditions", "garbage");
    CHECK(sl_condition_set(st, "Ready", "True", "Ok", "", 1, NULL));
    CHECK(sl_condition_is_true(st, "Ready"));
    json_array_insert_new(json_object_get(st, "conditions"), 0, json_integer(3));
    CHECK(sl_condition_is_true(st, "Ready"));
    CHECK(!sl_condition_set(json_null(), "Ready", "True", "Ok", "", 1, NULL));
    CHECK(sl_condition_get(NULL, "Ready") == NULL);
    json_decref(st);
}

static json_t *seed_key(struct sl_fake_kube *fk)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "sealift.dev/v1alpha1",
                          "kind", "SigningKey", "metadata", "name", "k1", "namespace", "default",
                          "spec", "mode", "Generate");
    CHECK_INT_EQ(sl_fake_kube_put(fk, &RES_KEY, o), 0);
    json_decref(o);
    return json_deep_copy(sl_fake_kube_find(fk, &RES_KEY, "default", "k1"));
}

static void test_status_write_steady_state(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    json_t *obj = seed_key(fk);
    json_t *st = json_object();
    sl_condition_set(st, "Ready", "True", "Succeeded", "key ready", 1, NULL);
    json_t *written = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_status_write(&written, &ops, &RES_KEY, obj, st, &err), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
    json_t *stored = sl_fake_kube_find(fk, &RES_KEY, "default", "k1");
    CHECK(sl_condition_is_true(json_object_get(stored, "status"), "Ready"));
    /* observedGeneration comes from metadata.generation */
    CHECK_INT_EQ(
        json_integer_value(
            json_object_get(json_object_get(stored, "status"), "observedGeneration")),
        json_integer_value(json_object_get(json_object_get(stored, "metadata"), "generation")));
    /* same status again, from the written object: no write */
    json_t *again = NULL;
    CHECK_INT_EQ(sl_status_write(&again, &ops, &RES_KEY, written, st, &err), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
    CHECK(again != NULL);
    json_decref(again);
    json_decref(written);
    json_decref(st);
    json_decref(obj);
    sl_fake_kube_free(fk);
}

static void test_status_write_conflict_retry(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    json_t *stale = seed_key(fk);
    /* someone else changes the object after we read it */
    json_t *other = json_deep_copy(sl_fake_kube_find(fk, &RES_KEY, "default", "k1"));
    json_object_set_new(json_object_get(other, "metadata"), "labels",
                        json_pack("{s:s}", "team", "a"));
    json_t *tmp = NULL;
    CHECK_INT_EQ(ops.update(ops.ctx, &tmp, &RES_KEY, "default", other, NULL), 0);
    json_decref(tmp);
    json_decref(other);
    int writes_before = sl_fake_kube_writes(fk);

    json_t *st = json_object();
    sl_condition_set(st, "Ready", "False", "Failed", "secret missing", 1, NULL);
    struct sl_err err = {0};
    json_t *written = NULL;
    CHECK_INT_EQ(sl_status_write(&written, &ops, &RES_KEY, stale, st, &err), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes_before + 1);
    json_t *stored = sl_fake_kube_find(fk, &RES_KEY, "default", "k1");
    CHECK_STR_EQ(cond_str(json_object_get(stored, "status"), "Ready", "message"), "secret missing");
    /* the other writer's change survived */
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_object_get(stored, "metadata"), "labels"), "team")),
                 "a");
    json_decref(written);

    /* deleted meanwhile: SL_ENOTFOUND */
    CHECK_INT_EQ(sl_fake_kube_remove(fk, &RES_KEY, "default", "k1"), 0);
    json_t *st2 = json_pack("{s:s}", "phase", "x");
    CHECK_INT_EQ(sl_status_write(NULL, &ops, &RES_KEY, stale, st2, &err), SL_ENOTFOUND);
    json_decref(st2);
    json_decref(st);
    json_decref(stale);
    sl_fake_kube_free(fk);
}

static void test_status_write_bad_object(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    json_t *st = json_object();
    json_t *noname = json_pack("{s:{}}", "metadata");
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_status_write(NULL, &ops, &RES_KEY, noname, st, &err), SL_EINVAL);
    json_t *num = json_integer(1);
    CHECK_INT_EQ(sl_status_write(NULL, &ops, &RES_KEY, num, st, &err), SL_EINVAL);
    json_decref(num);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 0);
    json_decref(noname);
    json_decref(st);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_condition_transition_time);
    RUN(test_condition_odd_input);
    RUN(test_status_write_steady_state);
    RUN(test_status_write_conflict_retry);
    RUN(test_status_write_bad_object);
    return CHECK_EXIT();
}
