/* Unit tests of controller/runtime/outcome.c: the kstatus conditions (Ready, Reconciling,
 * Stalled) every kind writes, and the Reconciling mark written before a long reconcile. */
#include "check.h"
#include "fake_kube.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"

#include <stdlib.h>
#include <string.h>

static const struct sl_kube_resource RES_IMD = {.group = "sealift.dev",
                                                .version = "v1alpha1",
                                                .plural = "imagedeliveries",
                                                .kind = "ImageDelivery",
                                                .namespaced = true};

static const char *cond_str(const json_t *status, const char *type, const char *field)
{
    return json_string_value(json_object_get(sl_condition_get(status, type), field));
}

static long long observed(const json_t *status)
{
    return json_integer_value(json_object_get(status, "observedGeneration"));
}

static void test_outcome_kinds(void)
{
    json_t *st = json_object();
    /* retrying a registry outage: in progress, not stalled */
    struct sl_outcome o = {SL_RESULT_TRANSIENT, "False", "RegistryUnavailable",
                           "source: connection refused", false};
    CHECK(sl_outcome_apply(st, &o, 3));
    CHECK_STR_EQ(cond_str(st, "Ready", "reason"), "RegistryUnavailable");
    CHECK(sl_condition_is_true(st, "Reconciling"));
    CHECK_STR_EQ(cond_str(st, "Reconciling", "reason"), "ProgressingWithRetry");
    CHECK_STR_EQ(cond_str(st, "Reconciling", "message"), "source: connection refused");
    CHECK(sl_condition_get(st, "Stalled") == NULL);
    CHECK_INT_EQ(observed(st), 3);

    /* a spec that cannot work: stalled with Ready's reason, no longer reconciling */
    o = (struct sl_outcome){SL_RESULT_STALLED, "False", "InvalidSpec",
                            "spec.source.tagPattern: bad regular expression", false};
    CHECK(sl_outcome_apply(st, &o, 4));
    CHECK(sl_condition_is_true(st, "Stalled"));
    CHECK_STR_EQ(cond_str(st, "Stalled", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_str(st, "Stalled", "message"), "spec.source.tagPattern");
    CHECK(sl_condition_get(st, "Reconciling") == NULL);
    /* the same outcome again is no transition */
    CHECK(!sl_outcome_apply(st, &o, 4));

    /* converged on a failure (nothing retried before the next interval): stalled too */
    o = (struct sl_outcome){SL_RESULT_DONE, "False", "ScanFailed", "1.4.0: 2 critical", false};
    CHECK(sl_outcome_apply(st, &o, 4));
    CHECK_STR_EQ(cond_str(st, "Stalled", "reason"), "ScanFailed");

    /* a dependency not ready yet: in progress */
    o = (struct sl_outcome){SL_RESULT_WAITING, "False", "SigningKeyNotReady", "key k1", false};
    CHECK(sl_outcome_apply(st, &o, 4));
    CHECK(sl_condition_is_true(st, "Reconciling"));
    CHECK(sl_condition_get(st, "Stalled") == NULL);

    /* more work queued at once */
    o = (struct sl_outcome){SL_RESULT_REQUEUE, "Unknown", "Progressing", "copying", false};
    sl_outcome_apply(st, &o, 4);
    CHECK_STR_EQ(cond_str(st, "Reconciling", "reason"), "Progressing");

    /* success: Ready only */
    o = (struct sl_outcome){SL_RESULT_DONE, "True", "Delivered", "1 tag(s)", false};
    CHECK(sl_outcome_apply(st, &o, 4));
    CHECK(sl_condition_is_true(st, "Ready"));
    CHECK(sl_condition_get(st, "Reconciling") == NULL);
    CHECK(sl_condition_get(st, "Stalled") == NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(st, "conditions")), 1);

    /* suspended after a failure: neither in progress nor stalled */
    o = (struct sl_outcome){SL_RESULT_STALLED, "False", "InvalidSpec", "bad", false};
    sl_outcome_apply(st, &o, 5);
    o = (struct sl_outcome){SL_RESULT_DONE, "Unknown", "Suspended", "suspended", true};
    CHECK(sl_outcome_apply(st, &o, 6));
    CHECK_STR_EQ(cond_str(st, "Ready", "reason"), "Suspended");
    CHECK(sl_condition_get(st, "Reconciling") == NULL);
    CHECK(sl_condition_get(st, "Stalled") == NULL);
    CHECK_INT_EQ(observed(st), 6);

    CHECK(!sl_outcome_apply(json_null(), &o, 1));
    json_decref(st);
}

static json_t *seed(struct sl_fake_kube *fk, const char *name, bool suspend)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:b}}", "apiVersion", "sealift.dev/v1alpha1",
                          "kind", "ImageDelivery", "metadata", "name", name, "namespace", "apps",
                          "spec", "suspend", suspend);
    CHECK_INT_EQ(sl_fake_kube_put(fk, &RES_IMD, o), 0);
    json_decref(o);
    return json_deep_copy(sl_fake_kube_find(fk, &RES_IMD, "apps", name));
}

static void test_mark_progressing(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);

    /* a new object: Reconciling=True is stored before the work, observedGeneration left out */
    json_t *obj = seed(fk, "new", false);
    json_t *got = sl_outcome_mark_progressing(&ops, &RES_IMD, obj);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
    json_t *stored = json_object_get(sl_fake_kube_find(fk, &RES_IMD, "apps", "new"), "status");
    CHECK(sl_condition_is_true(stored, "Reconciling"));
    CHECK_STR_EQ(cond_str(stored, "Reconciling", "reason"), "Progressing");
    CHECK(json_object_get(stored, "observedGeneration") == NULL);
    CHECK(sl_condition_is_true(json_object_get(got, "status"), "Reconciling"));

    /* said already (a retry of the same generation): no second write */
    json_t *again = sl_outcome_mark_progressing(&ops, &RES_IMD, got);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
    CHECK(again == got);
    json_decref(again);

    /* the generation observed: nothing to say */
    struct sl_outcome o = {SL_RESULT_DONE, "True", "Delivered", "ok", false};
    json_t *st = json_deep_copy(json_object_get(got, "status"));
    sl_outcome_apply(st, &o, sl_kube_obj_generation(got));
    json_object_set_new(got, "status", st);
    json_t *done = sl_outcome_mark_progressing(&ops, &RES_IMD, got);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
    json_decref(done);

    /* suspended: not in progress */
    json_t *susp = seed(fk, "paused", true);
    int writes = sl_fake_kube_writes(fk);
    json_t *s2 = sl_outcome_mark_progressing(&ops, &RES_IMD, susp);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);
    CHECK(sl_condition_get(json_object_get(s2, "status"), "Reconciling") == NULL);
    json_decref(s2);

    /* a failed write leaves the object as it was */
    json_t *other = seed(fk, "other", false);
    sl_fake_kube_fail_next_verb(fk, "update_status", SL_ERETRY);
    json_t *s3 = sl_outcome_mark_progressing(&ops, &RES_IMD, other);
    CHECK(s3 == other);
    json_decref(s3);

    json_decref(other);
    json_decref(susp);
    json_decref(got);
    json_decref(obj);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_outcome_kinds);
    RUN(test_mark_progressing);
    return CHECK_EXIT();
}
