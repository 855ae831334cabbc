/* Unit tests of controller/runtime/leader.c: the Lease state machine against the in-memory API
 * server with a fake clock (acquire, renew, losing to another holder, expiry and take-over,
 * renew deadline, release). */
#include "check.h"
#include "fake_kube.h"
#include "runtime/leader.h"

#include <string.h>

static const struct sl_kube_resource RES_LEASE = {.group = "coordination.k8s.io",
                                                  .version = "v1",
                                                  .plural = "leases",
                                                  .kind = "Lease",
                                                  .namespaced = true};

static int64_t now_ms = 1000000;
static int64_t clock_mono(void *ctx)
{
    (void)ctx;
    return now_ms;
}
static int64_t clock_wall(void *ctx)
{
    (void)ctx;
    return 1790000000000LL + now_ms;
}

struct counts {
    int started, stopped;
};
static void on_started(void *ctx)
{
    ((struct counts *)ctx)->started++;
}
static void on_stopped(void *ctx)
{
    ((struct counts *)ctx)->stopped++;
}

static struct sl_leader *candidate(struct sl_kube_ops *ops, const char *id, struct counts *c)
{
    struct sl_leader_opts o = {.kube = ops,
                               .ns = "sealift-system",
                               .identity = id,
                               .mono_ms = clock_mono,
                               .wall_ms = clock_wall,
                               .started_leading = on_started,
                               .stopped_leading = on_stopped,
                               .cb_ctx = c};
    struct sl_leader *le = NULL;
    CHECK_INT_EQ(sl_leader_new(&le, &o, NULL), 0);
    return le;
}

static const char *lease_str(struct sl_fake_kube *fk, const char *field)
{
    json_t *l = sl_fake_kube_find(fk, &RES_LEASE, "sealift-system", "sealift-controller");
    return json_string_value(json_object_get(json_object_get(l, "spec"), field));
}

static long long lease_int(struct sl_fake_kube *fk, const char *field)
{
    json_t *l = sl_fake_kube_find(fk, &RES_LEASE, "sealift-system", "sealift-controller");
    return json_integer_value(json_object_get(json_object_get(l, "spec"), field));
}

static void test_acquire_renew_expire_takeover_release(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct counts ca = {0}, cb = {0};
    struct sl_leader *a = candidate(&ops, "host-a_1", &ca);
    struct sl_leader *b = candidate(&ops, "host-b_2", &cb);

    /* a creates the Lease and leads */
    CHECK(sl_leader_try(a, NULL));
    CHECK_INT_EQ(ca.started, 1);
    CHECK_STR_EQ(lease_str(fk, "holderIdentity"), "host-a_1");
    CHECK_INT_EQ(lease_int(fk, "leaseDurationSeconds"), 15);
    CHECK_INT_EQ(lease_int(fk, "leaseTransitions"), 0);
    char renew1[64];
    snprintf(renew1, sizeof(renew1), "%s", lease_str(fk, "renewTime"));
    CHECK(strchr(renew1, '.') != NULL); /* MicroTime */

    /* b cannot take a fresh Lease */
    CHECK(!sl_leader_try(b, NULL));
    CHECK_INT_EQ(cb.started, 0);

    /* a renews */
    now_ms += 2000;
    CHECK(sl_leader_try(a, NULL));
    CHECK_INT_EQ(ca.started, 1);
    CHECK(strcmp(lease_str(fk, "renewTime"), renew1) != 0);
    CHECK_STR_EQ(lease_str(fk, "holderIdentity"), "host-a_1");

    /* a goes silent; b saw the renewal only now, so it waits a full duration from here */
    now_ms += 10000;
    CHECK(!sl_leader_try(b, NULL));
    now_ms += 14000;
    CHECK(!sl_leader_try(b, NULL));
    now_ms += 2000;
    CHECK(sl_leader_try(b, NULL));
    CHECK_INT_EQ(cb.started, 1);
    CHECK_STR_EQ(lease_str(fk, "holderIdentity"), "host-b_2");
    CHECK_INT_EQ(lease_int(fk, "leaseTransitions"), 1);

    /* a comes back and finds it lost */
    CHECK(!sl_leader_try(a, NULL));
    CHECK_INT_EQ(ca.stopped, 1);
    CHECK(!sl_leader_is_leader(a));

    /* b releases: holder "", duration 1; a takes over at once */
    CHECK_INT_EQ(sl_leader_release(b, NULL), 0);
    CHECK_INT_EQ(cb.stopped, 1);
    CHECK_STR_EQ(lease_str(fk, "holderIdentity"), "");
    CHECK_INT_EQ(lease_int(fk, "leaseDurationSeconds"), 1);
    now_ms += 10;
    CHECK(sl_leader_try(a, NULL));
    CHECK_INT_EQ(ca.started, 2);
    CHECK_STR_EQ(lease_str(fk, "holderIdentity"), "host-a_1");
    CHECK_INT_EQ(lease_int(fk, "leaseTransitions"), 2);

    /* releasing when not leading touches nothing */
    int writes = sl_fake_kube_writes(fk);
    CHECK_INT_EQ(sl_leader_release(b, NULL), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);

    sl_leader_free(b);
    sl_leader_free(a); /* releases */
    CHECK_STR_EQ(lease_str(fk, "holderIdentity"), "");
    CHECK_INT_EQ(ca.stopped, 2);
    sl_fake_kube_free(fk);
}

static void test_renew_deadline(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct counts c = {0};
    struct sl_leader *a = candidate(&ops, "a", &c);
    CHECK(sl_leader_try(a, NULL));
    /* the API fails: still leader until the renew deadline (10 s) has passed */
    for (int i = 0; i < 4; i++) {
        now_ms += 2000;
        sl_fake_kube_fail_next(fk, SL_ERETRY);
        struct sl_err err = {0};
        CHECK(sl_leader_try(a, &err));
        CHECK(err.msg[0] != '\0');
    }
    CHECK_INT_EQ(c.stopped, 0);
    now_ms += 2000;
    sl_fake_kube_fail_next(fk, SL_ERETRY);
    CHECK(!sl_leader_try(a, NULL));
    CHECK_INT_EQ(c.stopped, 1);
    /* the API recovers and the Lease is still ours in the record: leads again */
    now_ms += 2000;
    CHECK(sl_leader_try(a, NULL));
    CHECK_INT_EQ(c.started, 2);
    sl_leader_free(a);
    sl_fake_kube_free(fk);
}

static void test_conflicting_writers(void)
{
    /* two candidates see an absent Lease; only one create wins */
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct counts ca = {0}, cb = {0};
    struct sl_leader *a = candidate(&ops, "a", &ca);
    struct sl_leader *b = candidate(&ops, "b", &cb);
    bool la = sl_leader_try(a, NULL);
    bool lb = sl_leader_try(b, NULL);
    CHECK(la != lb);
    CHECK_INT_EQ(ca.started + cb.started, 1);
    /* garbage in the Lease spec is not a crash: a holder-less record is taken */
    json_t *l =
        json_deep_copy(sl_fake_kube_find(fk, &RES_LEASE, "sealift-system", "sealift-controller"));
    json_object_set_new(l, "spec", json_string("nonsense"));
    CHECK_INT_EQ(sl_fake_kube_put(fk, &RES_LEASE, l), 0);
    json_decref(l);
    now_ms += 100;
    struct sl_leader *loser = la ? b : a;
    CHECK(sl_leader_try(loser, NULL));
    sl_leader_free(a);
    sl_leader_free(b);
    sl_fake_kube_free(fk);
}

static void test_default_identity(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct sl_leader_opts o = {.kube = &ops, .ns = "x"};
    struct sl_leader *le = NULL;
    CHECK_INT_EQ(sl_leader_new(&le, &o, NULL), 0);
    const char *id = sl_leader_identity(le);
    CHECK(id && strchr(id, '_') != NULL);
    sl_leader_free(le);
    struct sl_leader_opts bad = {.kube = &ops, .ns = ""};
    CHECK_INT_EQ(sl_leader_new(&le, &bad, NULL), SL_EINVAL);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_acquire_renew_expire_takeover_release);
    RUN(test_renew_deadline);
    RUN(test_conflicting_writers);
    RUN(test_default_identity);
    return CHECK_EXIT();
}
