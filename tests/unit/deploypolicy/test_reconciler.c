/* Unit tests of the DeployPolicy reconciler against the in-memory fake API server: what it
 * applies and when it says Ready. argv[1] is the directory of tests/data/keys. */
#include "check.h"
#include "runtime/webhookcert.h"
#include "fake_kube.h"
#include "deploypolicy/reconciler.h"
#include "recon_fixture.h"
#include "util/mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Fingerprints from tests/data/keys/README.md (computed with the openssl CLI). */
#define FP_P256    "sha256:bbb84394f85b56bff7c6bf119cf852a68cc7214e0290144a7e85ab88e3f338cd"
#define FP_ED25519 "sha256:27a232a4474df6d7f9a4917b63da7d8dc3637947d37f28bbe885c6b89c17f9cf"

static const char *data_dir = "tests/data/keys";

struct env {
    struct sl_fake_kube *fk;
    struct sl_runtime rt;
    struct sl_reconciler *r;
    json_t *events;
    bool serving;
    char cert_dir[64];
};

static bool serving(void *ctx)
{
    return ((struct env *)ctx)->serving;
}

static char *read_fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        exit(1);
    }
    char *buf = sl_xmalloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void write_ca(struct env *e)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/ca.crt", e->cert_dir);
    FILE *f = fopen(path, "wb");
    struct sl_webhookcert c = {0};
    CHECK_INT_EQ(sl_webhookcert_generate(&c, NULL, "sealift-system", time(NULL), NULL), 0);
    fputs(c.ca_pem, f);
    fclose(f);
    sl_webhookcert_clear(&c);
}

static void env_init(struct env *e, bool with_ca)
{
    memset(e, 0, sizeof(*e));
    e->fk = sl_fake_kube_new();
    sl_fake_kube_ops(e->fk, &e->rt.kube);
    e->rt.controller_namespace = "sealift-system";
    e->events = json_array();
    e->rt.record_event = sl_test_event_log;
    e->rt.event_ctx = e->events;
    e->serving = true;
    snprintf(e->cert_dir, sizeof(e->cert_dir), "/tmp/sl-policy-test-XXXXXX");
    CHECK(mkdtemp(e->cert_dir) != NULL);
    if (with_ca)
        write_ca(e);
    struct sl_deploypolicy_opts o = {
        .cert_dir = e->cert_dir, .webhook_serving = serving, .webhook_ctx = e};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_deploypolicy_reconciler_new(&e->r, &o, &err), 0);
}

static void env_free(struct env *e)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/ca.crt", e->cert_dir);
    unlink(path);
    rmdir(e->cert_dir);
    sl_reconciler_free(e->r);
    sl_fake_kube_free(e->fk);
    json_decref(e->events);
}

/* The SigningKey vendor/release publishing the public key of pub_file. */
static void put_signing_key(struct env *e, const char *pub_file)
{
    char *pem = read_fixture(pub_file);
    json_t *sk =
        json_pack("{s:{s:s, s:s}, s:{s:s}, s:{s:s}}", "metadata", "namespace", "vendor", "name",
                  "release", "spec", "mode", "VerifyOnly", "status", "publicKey", pem);
    free(pem);
    json_t *old = sl_fake_kube_find(e->fk, &SL_RES_SIGNINGKEY, "vendor", "release");
    if (old)
        sl_fake_kube_remove(e->fk, &SL_RES_SIGNINGKEY, "vendor", "release");
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SIGNINGKEY, sk), 0);
    json_decref(sk);
}

static void put_policy(struct env *e, const char *pin)
{
    json_t *p =
        json_pack("{s:{s:s}, s:{s:{s:{s:s}}, s:{s:b}, s:[{s:[s], s:[{s:s, s:{s:{s:s, s:s, "
                  "s:s}}}]}]}}",
                  "metadata", "name", "signed-only", "spec", "namespaceSelector", "matchLabels",
                  "sealift.dev/enforce", "true", "rules", "requireDigest", 1, "verifyImages",
                  "imageReferences", "*", "authorities", "name", "release", "key", "signingKeyRef",
                  "namespace", "vendor", "name", "release", "fingerprint", pin);
    if (sl_fake_kube_find(e->fk, &SL_RES_DEPLOYPOLICY, NULL, "signed-only"))
        sl_fake_kube_remove(e->fk, &SL_RES_DEPLOYPOLICY, NULL, "signed-only");
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_DEPLOYPOLICY, p), 0);
    json_decref(p);
}

static const json_t *policy_status(struct env *e)
{
    return json_object_get(sl_fake_kube_find(e->fk, &SL_RES_DEPLOYPOLICY, NULL, "signed-only"),
                           "status");
}

static int reconcile(struct env *e, struct sl_reconcile_result *res)
{
    return sl_test_reconcile(e->r, &e->rt, e->fk, &SL_RES_DEPLOYPOLICY, "DeployPolicy", NULL,
                             "signed-only", res);
}

static bool has_rule(const json_t *rules, const char *resource, const char *op)
{
    size_t i, j, k;
    json_t *r, *x, *o;
    json_array_foreach(rules, i, r) json_array_foreach(json_object_get(r, "resources"), j, x)
    {
        if (strcmp(json_string_value(x), resource) == 0)
            json_array_foreach(json_object_get(r, "operations"), k,
                               o) if (strcmp(json_string_value(o), op) == 0) return true;
    }
    return false;
}

static void test_ready_when_webhook_answers_and_key_matches(void)
{
    struct env e;
    env_init(&e, true);
    put_signing_key(&e, "ecdsa-p256.pub");
    put_policy(&e, FP_P256);
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    CHECK_STR_EQ(sl_test_condition_field(policy_status(&e), "Ready", "status"), "True");
    const json_t *vwc = sl_fake_kube_find(e.fk, &SL_RES_VWC, NULL, "sealift-signed-only");
    CHECK(vwc != NULL);
    const json_t *hook = json_array_get(json_object_get(vwc, "webhooks"), 0);
    CHECK(json_string_value(json_object_get(json_object_get(hook, "clientConfig"), "caBundle")));
    /* `kubectl debug` reaches the webhook */
    CHECK(has_rule(json_object_get(hook, "rules"), "pods/ephemeralcontainers", "UPDATE"));
    /* the controller's own namespace and kube-system are not sent to it */
    char *sel = json_dumps(json_object_get(hook, "namespaceSelector"), JSON_COMPACT);
    CHECK_CONTAINS(sel, "{\"key\":\"kubernetes.io/metadata.name\",\"operator\":\"NotIn\","
                        "\"values\":[\"kube-system\",\"sealift-system\"]}");
    free(sel);
    const json_t *vap = sl_fake_kube_find(e.fk, &SL_RES_VAP, NULL, "sealift-signed-only");
    CHECK(
        has_rule(json_object_get(json_object_get(json_object_get(vap, "spec"), "matchConstraints"),
                                 "resourceRules"),
                 "pods/ephemeralcontainers", "UPDATE"));
    env_free(&e);
}

/* The SigningKey's public key is replaced (by whoever can write that SigningKey): the policy
 * stops trusting it and says so, naming the SigningKey and both fingerprints; pinning the new
 * fingerprint in the policy trusts it again. */
static void collect_key(void *qctx, const char *ns, const char *name)
{
    json_array_append_new(qctx, json_sprintf("%s/%s", ns, name));
}

static void test_swapped_signing_key_is_reported(void)
{
    struct env e;
    env_init(&e, true);
    put_signing_key(&e, "ecdsa-p256.pub");
    put_policy(&e, FP_P256);
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    CHECK_STR_EQ(sl_test_condition_field(policy_status(&e), "Ready", "status"), "True");

    put_signing_key(&e, "ed25519.pub");
    /* the change of the SigningKey re-checks the policy that trusts it */
    json_t *queued = json_array();
    e.r->map_secondary(e.r->self, &SL_RES_SIGNINGKEY,
                       sl_fake_kube_find(e.fk, &SL_RES_SIGNINGKEY, "vendor", "release"),
                       collect_key, queued);
    CHECK_INT_EQ((int)json_array_size(queued), 1);
    CHECK_STR_EQ(json_string_value(json_array_get(queued, 0)), "/signed-only");
    json_decref(queued);
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    const json_t *st = policy_status(&e);
    CHECK_STR_EQ(sl_test_condition_field(st, "Ready", "status"), "False");
    CHECK_STR_EQ(sl_test_condition_field(st, "Ready", "reason"), "KeyFingerprintMismatch");
    const char *msg = sl_test_condition_field(st, "Ready", "message");
    CHECK_CONTAINS(msg, "spec.verifyImages[0].authorities[0].key.signingKeyRef: SigningKey "
                        "vendor/release");
    CHECK_CONTAINS(msg, FP_ED25519);
    CHECK_CONTAINS(msg, FP_P256);
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    CHECK(res.requeue_after_ms > 0);
    CHECK(sl_test_has_event(e.events, "Warning", "KeyFingerprintMismatch"));

    put_policy(&e, FP_ED25519);
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    CHECK_STR_EQ(sl_test_condition_field(policy_status(&e), "Ready", "status"), "True");

    /* a SigningKey that does not exist (yet) */
    sl_fake_kube_remove(e.fk, &SL_RES_SIGNINGKEY, "vendor", "release");
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    CHECK_STR_EQ(sl_test_condition_field(policy_status(&e), "Ready", "reason"),
                 "SigningKeyNotReady");
    env_free(&e);
}

/* failurePolicy Fail with no caBundle, or with no webhook listener, denies every Pod of the
 * selected namespaces: the policy must not say Ready. */
static void test_not_ready_until_the_webhook_can_answer(void)
{
    struct env e;
    env_init(&e, false);
    put_signing_key(&e, "ecdsa-p256.pub");
    put_policy(&e, FP_P256);
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    const json_t *st = policy_status(&e);
    CHECK_STR_EQ(sl_test_condition_field(st, "Ready", "status"), "False");
    CHECK_STR_EQ(sl_test_condition_field(st, "Ready", "reason"), "WebhookNotReady");
    CHECK_CONTAINS(sl_test_condition_field(st, "Ready", "message"),
                   "ValidatingWebhookConfiguration sealift-signed-only has no caBundle");
    CHECK_CONTAINS(sl_test_condition_field(st, "Ready", "message"),
                   "no ca.crt or tls.crt in the webhook certificate directory");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    /* the configuration is applied all the same: fail closed */
    CHECK(sl_fake_kube_find(e.fk, &SL_RES_VWC, NULL, "sealift-signed-only") != NULL);

    /* the certificate arrives: caBundle set, but no listener */
    write_ca(&e);
    e.serving = false;
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    st = policy_status(&e);
    CHECK_STR_EQ(sl_test_condition_field(st, "Ready", "reason"), "WebhookNotReady");
    CHECK_CONTAINS(sl_test_condition_field(st, "Ready", "message"),
                   "does not serve the admission webhook");
    e.serving = true;
    CHECK_INT_EQ(reconcile(&e, &res), 0);
    CHECK_STR_EQ(sl_test_condition_field(policy_status(&e), "Ready", "status"), "True");
    env_free(&e);
}

/* The API server refuses the status write (a 503, say): the reconcile is retried with backoff
 * instead of ending converged with the old status, and the transition's event is recorded once,
 * by the pass that writes the status. */
static void test_failed_status_write_is_retried(void)
{
    struct env e;
    env_init(&e, true);
    put_signing_key(&e, "ecdsa-p256.pub");
    put_policy(&e, FP_P256);
    struct sl_reconcile_result res;
    sl_fake_kube_fail_next_verb(e.fk, "update_status", SL_ERETRY);
    CHECK_INT_EQ(reconcile(&e, &res), SL_ERETRY);
    CHECK_INT_EQ(res.kind, SL_RESULT_TRANSIENT);
    CHECK(sl_test_condition_field(policy_status(&e), "Ready", "status") == NULL);
    CHECK_INT_EQ(json_array_size(e.events), 0);

    CHECK_INT_EQ(reconcile(&e, &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_STR_EQ(sl_test_condition_field(policy_status(&e), "Ready", "status"), "True");
    CHECK_INT_EQ(json_array_size(e.events), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(e.events, 0), "reason")),
                 "Applied");
    env_free(&e);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_ready_when_webhook_answers_and_key_matches);
    RUN(test_swapped_signing_key_is_reported);
    RUN(test_not_ready_until_the_webhook_can_answer);
    RUN(test_failed_status_write_is_retried);
    return CHECK_EXIT();
}
