/* Unit tests of controller/runtime/outcome.c: the kstatus conditions (Ready, Reconciling,
 * Stalled) every kind writes, and the Reconciling mark written before a long reconcile. */
#include "check.h"
#include "fake_kube.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"

#include <stdio.h>
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

/* Events the announce step recorded: type and reason of the last, and how many. */
struct seen {
    int n;
    char type[16], reason[64], message[128];
};

static void record(void *ctx, const json_t *obj, const char *type, const char *reason,
                   const char *message)
{
    (void)obj;
    struct seen *s = ctx;
    s->n++;
    snprintf(s->type, sizeof(s->type), "%s", type);
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
    snprintf(s->message, sizeof(s->message), "%s", message);
}

static bool quiet_when_true(void *ctx, const struct sl_outcome *o, const char **type,
                            const char **reason)
{
    (void)ctx;
    (void)type;
    if (strcmp(o->ready, "True") == 0)
        return false;
    *reason = "Custom";
    return true;
}

/* Every kind announces a Ready transition through one step: nothing when Ready's status and
 * reason are unchanged, Normal/Warning by default, and the kind's own choice when it has one. */
static void test_announce(void)
{
    struct seen seen = {0};
    struct sl_runtime rt = {.record_event = record, .event_ctx = &seen};
    json_t *obj = json_object();
    json_t *old = json_object();
    sl_condition_set(old, "Ready", "True", "Delivered", "ok", 1, NULL);
    struct sl_outcome same = {SL_RESULT_DONE, "True", "Delivered", "ok again", false};
    CHECK(!sl_outcome_announce(&rt, NULL, obj, old, &same, NULL, NULL));
    CHECK_INT_EQ(seen.n, 0);

    struct sl_outcome failed = {SL_RESULT_TRANSIENT, "False", "RegistryError", "503", false};
    CHECK(sl_outcome_announce(&rt, NULL, obj, old, &failed, NULL, NULL));
    CHECK_INT_EQ(seen.n, 1);
    CHECK_STR_EQ(seen.type, "Warning");
    CHECK_STR_EQ(seen.reason, "RegistryError");
    CHECK_STR_EQ(seen.message, "503");

    /* a new object (no status yet) is a transition too */
    struct sl_outcome first = {SL_RESULT_DONE, "Unknown", "Suspended", "suspended", true};
    CHECK(sl_outcome_announce(&rt, NULL, obj, NULL, &first, NULL, NULL));
    CHECK_STR_EQ(seen.type, "Normal");
    CHECK_STR_EQ(seen.reason, "Suspended");

    /* the kind's policy: silent for True, its own reason otherwise */
    CHECK(sl_outcome_announce(&rt, NULL, obj, NULL, &same, quiet_when_true, NULL));
    CHECK_INT_EQ(seen.n, 2);
    CHECK(sl_outcome_announce(&rt, NULL, obj, old, &failed, quiet_when_true, NULL));
    CHECK_INT_EQ(seen.n, 3);
    CHECK_STR_EQ(seen.reason, "Custom");
    json_decref(obj);
    json_decref(old);
}

int main(void)
{
    RUN(test_outcome_kinds);
    RUN(test_mark_progressing);
    RUN(test_announce);
    return CHECK_EXIT();
}
