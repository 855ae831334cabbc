#include "deploypolicy/reconciler.h"
#include "runtime/apply.h"
#include "policy/imagematch.h"
#include "policy/render.h"
#include "policy/trust.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"
#include "runtime/status.h"
#include "runtime/webhookcert.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MANAGER "sealift"

struct deploypolicy {
    struct sl_reconciler base; /* first: the manager frees everything through base.free */
    char *service_ns;
    char *service_name;
    int service_port;
    char *cert_dir;
    bool (*webhook_serving)(void *ctx);
    void *webhook_ctx;
    /* which SigningKeys ("ns/name") each policy trusts, so a change of one of them (its public
     * key swapped) re-checks the policies pinning it; guarded by lock (watch threads read it,
     * workers write it) */
    pthread_mutex_t lock;
    json_t *key_index; /* {policy name: ["ns/name", ...]} */
};

/* Resources of the kinds a DeployPolicy may generate. */
static const struct sl_kube_resource RES_CONSTRAINT_TEMPLATE = {
    "templates.gatekeeper.sh", "v1", "constrainttemplates", "ConstraintTemplate", false};
static const struct sl_kube_resource RES_GK_CONSTRAINT = {
    "constraints.gatekeeper.sh", "v1beta1", "sealiftdeploypolicy", "SealiftDeployPolicy", false};

static const struct sl_kube_resource *resource_for(const char *kind)
{
    if (!kind)
        return NULL;
    if (!strcmp(kind, "ValidatingAdmissionPolicy"))
        return &SL_RES_VAP;
    if (!strcmp(kind, "ValidatingAdmissionPolicyBinding"))
        return &SL_RES_VAP_BINDING;
    if (!strcmp(kind, "ValidatingWebhookConfiguration"))
        return &SL_RES_VWC;
    if (!strcmp(kind, "ConstraintTemplate"))
        return &RES_CONSTRAINT_TEMPLATE;
    if (!strcmp(kind, "SealiftDeployPolicy"))
        return &RES_GK_CONSTRAINT;
    return NULL;
}

/* base64 of the webhook CA (ca.crt, else tls.crt), or NULL. */
static char *ca_bundle(const char *cert_dir)
{
    char *out = NULL;
    return sl_webhookcert_ca_bundle(&out, NULL, cert_dir, NULL) == 0 ? out : NULL;
}

static json_t *webhook_configuration(const struct deploypolicy *d, const json_t *policy,
                                     const char *controller_namespace)
{
    char *ca = ca_bundle(d->cert_dir);
    struct sl_policy_webhook_opts wo = {.service_namespace = d->service_ns,
                                        .service_name = d->service_name,
                                        .service_port = d->service_port,
                                        .ca_bundle = ca,
                                        .controller_namespace = controller_namespace,
                                        .timeout_seconds = SL_ADMISSION_TIMEOUT_S};
    json_t *vwc = sl_policy_render_webhook(policy, &wo);
    free(ca);
    return vwc;
}

/* Why the webhook cannot answer the API server yet, or NULL when it can: the generated
 * configuration has a caBundle and this controller serves the webhook listener. */
static char *webhook_not_ready(const struct deploypolicy *d, const json_t *vwc)
{
    const char *name = json_string_value(json_object_get(json_object_get(vwc, "metadata"), "name"));
    const json_t *client =
        json_object_get(json_array_get(json_object_get(vwc, "webhooks"), 0), "clientConfig");
    if (!json_string_value(json_object_get(client, "caBundle"))) {
        struct sl_err err = {0};
        char *ca = NULL;
        if (sl_webhookcert_ca_bundle(&ca, NULL, d->cert_dir, &err) == 0)
            snprintf(err.msg, sizeof(err.msg), "the webhook CA changed while it was read");
        free(ca);
        return sl_xasprintf(
            "ValidatingWebhookConfiguration %s has no caBundle: %s; the API server cannot call "
            "the webhook and denies every Pod and workload in the selected namespaces "
            "(failurePolicy Fail)",
            name, d->cert_dir ? err.msg : "--webhook-cert-dir not set");
    }
    if (!d->webhook_serving || !d->webhook_serving(d->webhook_ctx))
        return sl_xasprintf(
            "the controller does not serve the admission webhook (--webhook-addr not set or "
            "its listener is down); the API server denies every Pod and workload in the "
            "selected namespaces (failurePolicy Fail, ValidatingWebhookConfiguration %s)",
            name);
    return NULL;
}

struct key_check {
    struct sl_runtime *rt;
    const char *reason;
    char *message;
};

static int check_one_key(void *ctx, const json_t *ref, const char *path)
{
    struct key_check *kc = ctx;
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    json_t *sk = NULL;
    struct sl_err err = {0};
    if (ns && name)
        kc->rt->kube.get(kc->rt->kube.ctx, &sk, &SL_RES_SIGNINGKEY, ns, name, &err);
    struct sl_key *key = NULL;
    int rc = sl_policy_trusted_key(&key, ref, sk, &err);
    sl_key_free(key);
    json_decref(sk);
    if (rc == 0)
        return 0;
    kc->reason = rc == SL_ECONFLICT   ? "KeyFingerprintMismatch"
                 : rc == SL_EINVAL    ? "InvalidSpec"
                 : rc == SL_ENOTFOUND ? "SigningKeyNotReady"
                                      : "KeyError";
    kc->message = sl_xasprintf("%s: %s", path, err.msg);
    return 1;
}

/* Checks the SigningKey of every spec.verifyImages[].authorities entry. Returns NULL when all
 * are trusted, else the reason (*reason) and a message for the first that is not:
 * KeyFingerprintMismatch (the SigningKey publishes another key than the one pinned),
 * SigningKeyNotReady (missing, or no public key yet) or InvalidSpec (no valid pin). */
static char *untrusted_keys(struct sl_runtime *rt, const json_t *policy, const char **reason)
{
    struct key_check kc = {.rt = rt};
    if (sl_policy_each_key_ref(policy, check_one_key, &kc) == 0)
        return NULL;
    *reason = kc.reason;
    return kc.message;
}

static int index_one_key(void *ctx, const json_t *ref, const char *path)
{
    (void)path;
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    if (ns && name)
        json_array_append_new(ctx, json_sprintf("%s/%s", ns, name));
    return 0;
}

/* Records which SigningKeys policy_name trusts (policy NULL: none, the policy is gone). */
static void index_keys(struct deploypolicy *d, const char *policy_name, const json_t *policy)
{
    json_t *keys = json_array();
    sl_policy_each_key_ref(policy, index_one_key, keys);
    pthread_mutex_lock(&d->lock);
    if (json_array_size(keys))
        json_object_set(d->key_index, policy_name, keys);
    else
        json_object_del(d->key_index, policy_name);
    pthread_mutex_unlock(&d->lock);
    json_decref(keys);
}

/* A SigningKey changed: re-check every policy that trusts it. */
static void map_secondary(void *self, const struct sl_kube_resource *res, const json_t *obj,
                          void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    struct deploypolicy *d = self;
    const char *ns = sl_kube_obj_namespace(obj), *name = sl_kube_obj_name(obj);
    if (res != &SL_RES_SIGNINGKEY || !ns || !name)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    pthread_mutex_lock(&d->lock);
    const char *policy;
    json_t *keys;
    json_object_foreach(d->key_index, policy, keys)
    {
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
        {
            if (strcmp(json_string_value(k), key) == 0) {
                enqueue(qctx, "", policy);
                break;
            }
        }
    }
    pthread_mutex_unlock(&d->lock);
}

static json_t *generated_entry(const json_t *obj)
{
    return json_pack("{s:s, s:s, s:s}", "apiVersion",
                     json_string_value(json_object_get(obj, "apiVersion")), "kind",
                     json_string_value(json_object_get(obj, "kind")), "name",
                     json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
}

static bool entry_in(const json_t *list, const json_t *e)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        if (json_equal(x, e))
            return true;
    }
    return false;
}

static void delete_generated(struct sl_runtime *rt, const char *policy_name)
{
    /* the names are deterministic, so a deleted policy's objects can be found without status */
    const struct sl_kube_resource *const all[] = {&SL_RES_VAP_BINDING, &SL_RES_VAP, &SL_RES_VWC};
    char *name = sl_xasprintf("%s%s", SL_POLICY_NAME_PREFIX, policy_name);
    for (size_t i = 0; i < 3; i++) {
        json_t *live = NULL;
        struct sl_err err = {0};
        if (rt->kube.get(rt->kube.ctx, &live, all[i], NULL, name, &err) != 0)
            continue;
        const char *owner = json_string_value(json_object_get(
            json_object_get(json_object_get(live, "metadata"), "labels"), SL_POLICY_LABEL));
        if (owner && strcmp(owner, policy_name) == 0)
            rt->kube.del(rt->kube.ctx, all[i], NULL, name, &err);
        json_decref(live);
    }
    free(name);
}

/* Applies objs (what the policy renders), owned by DeployPolicy obj named name, and lists each
 * one in generated (also when its apply fails, so a transient failure never deletes it). Failures
 * go into message ("; "-separated, cap bytes); a retryable one makes *kind TRANSIENT. Returns how
 * many failed; *written gets how many were changed. */
static size_t apply_objects(size_t *written, json_t *generated, char *message, size_t cap,
                            enum sl_result_kind *kind, struct sl_runtime *rt, const json_t *obj,
                            const char *name, json_t *objs)
{
    json_t *owner = json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
                              "sealift.dev/v1beta1", "kind", "DeployPolicy", "name", name, "uid",
                              sl_kube_obj_uid(obj) ? sl_kube_obj_uid(obj) : "", "controller", 1,
                              "blockOwnerDeletion", 1);
    size_t i, failed = 0;
    json_t *o;
    message[0] = '\0';
    *written = 0;
    json_array_foreach(objs, i, o)
    {
        json_object_set(json_object_get(o, "metadata"), "ownerReferences", owner);
        const char *okind = json_string_value(json_object_get(o, "kind"));
        const struct sl_kube_resource *res = resource_for(okind);
        json_array_append_new(generated, generated_entry(o));
        struct sl_err aerr = {0};
        int w = 0;
        int rc = res ? sl_apply_if_changed(&w, &rt->kube, res, o, FIELD_MANAGER, &aerr)
                     : sl_err_set(&aerr, SL_EINVAL, SL_ERRC_INPUT, "unknown kind");
        if (rc) {
            failed++;
            size_t len = strlen(message);
            bool gk = res == &RES_CONSTRAINT_TEMPLATE || res == &RES_GK_CONSTRAINT;
            snprintf(message + len, cap - len, "%s%s %s: %s", len ? "; " : "", okind,
                     json_string_value(json_object_get(json_object_get(o, "metadata"), "name")),
                     (gk && rc == SL_ENOTFOUND) ? "Gatekeeper is not installed in the cluster"
                                                : aerr.msg);
            if (rc == SL_ERETRY)
                *kind = SL_RESULT_TRANSIENT;
            continue;
        }
        *written += (size_t)w;
    }
    json_decref(owner);
    return failed;
}

/* Deletes what obj's status lists as generated before and generated no longer holds. */
static void delete_stale(struct sl_runtime *rt, const json_t *obj, const json_t *generated)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(json_object_get(obj, "status"), "generated"), i, o)
    {
        if (entry_in(generated, o))
            continue;
        const struct sl_kube_resource *res =
            resource_for(json_string_value(json_object_get(o, "kind")));
        struct sl_err derr = {0};
        if (res)
            rt->kube.del(rt->kube.ctx, res, NULL, json_string_value(json_object_get(o, "name")),
                         &derr);
    }
}

/* A DeployPolicy announces every Ready transition: Normal when True, else a Warning. */
static bool deploypolicy_event(void *ctx, const struct sl_outcome *o, const char **type,
                               const char **reason)
{
    (void)ctx;
    *type = o->ready && strcmp(o->ready, "True") == 0 ? "Normal" : "Warning";
    *reason = o->reason;
    return true;
}

static int reconcile(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                     struct sl_reconcile_result *out, struct sl_err *err)
{
    struct deploypolicy *d = self;
    out->kind = SL_RESULT_DONE;
    out->requeue_after_ms = 0;
    if (!req->obj) {
        index_keys(d, req->name, NULL);
        delete_generated(rt, req->name);
        return 0;
    }
    const json_t *obj = req->obj;
    long long generation = sl_kube_obj_generation(obj);
    json_t *status = json_object();
    json_t *generated = json_array();
    json_t *objs = NULL;
    const char *cond = "True", *reason = "Applied";
    char message[1500];
    struct sl_err rerr = {0};
    char *not_ready = NULL;
    const char *not_ready_reason = NULL;
    if (sl_policy_render(&objs, obj, rt->controller_namespace, &rerr) != 0) {
        cond = "False";
        reason = "InvalidSpec";
        snprintf(message, sizeof(message), "%s", rerr.msg);
        out->kind = SL_RESULT_STALLED;
        goto write;
    }
    index_keys(d, req->name, obj);
    if (sl_policy_needs_webhook(obj)) {
        json_t *vwc = webhook_configuration(d, obj, rt->controller_namespace);
        not_ready = webhook_not_ready(d, vwc);
        if (not_ready)
            not_ready_reason = "WebhookNotReady";
        json_array_append_new(objs, vwc);
    }
    if (!not_ready)
        not_ready = untrusted_keys(rt, obj, &not_ready_reason);

    size_t written = 0;
    size_t failed = apply_objects(&written, generated, message, sizeof(message), &out->kind, rt,
                                  obj, req->name, objs);
    delete_stale(rt, obj, generated);
    if (failed) {
        cond = "False";
        reason = "ApplyFailed";
        if (out->kind == SL_RESULT_DONE)
            out->requeue_after_ms = 60 * 1000;
    } else if (not_ready) {
        /* the objects are in place (fail closed), but the policy does not work as written:
         * look again, a certificate, a listener or a SigningKey may change without the policy
         * changing */
        cond = "False";
        reason = not_ready_reason;
        snprintf(message, sizeof(message), "%s", not_ready);
        out->kind = strcmp(reason, "InvalidSpec") == 0 ? SL_RESULT_STALLED : SL_RESULT_WAITING;
        out->requeue_after_ms = 10 * 1000;
    } else {
        snprintf(message, sizeof(message), "%zu admission object(s) in place%s",
                 json_array_size(generated),
                 sl_policy_needs_webhook(obj)
                     ? "; signatures/scan results enforced by sealift's webhook"
                     : "");
    }
    if (written)
        sl_log_info(&req->log, "applied %zu admission object(s)", written);
write:
    json_object_set_new(status, "generated", generated);
    json_object_set_new(status, "observedGeneration", json_integer(generation));
    /* keep the condition's transition time from the current status */
    json_t *prev = json_object_get(json_object_get(obj, "status"), "conditions");
    if (json_is_array(prev))
        json_object_set_new(status, "conditions", json_deep_copy(prev));
    struct sl_outcome outcome = {out->kind, cond, reason, message, false};
    sl_outcome_apply(status, &outcome, generation);
    struct sl_err werr = {0};
    int wrc = sl_status_write(NULL, &rt->kube, &SL_RES_DEPLOYPOLICY, obj, status, &werr);
    if (wrc && wrc != SL_ENOTFOUND) {
        /* retried with backoff; the event waits for the pass that writes the transition, so
         * it is recorded once */
        sl_log_warn(&req->log, "status write failed: %s", werr.msg);
        out->kind = SL_RESULT_TRANSIENT;
        snprintf(message, sizeof(message), "writing status: %s", werr.msg);
    } else {
        sl_outcome_announce(rt, &req->log, obj, json_object_get(obj, "status"), &outcome,
                            deploypolicy_event, NULL);
    }
    json_decref(status);
    json_decref(objs);
    free(not_ready);
    if (out->kind == SL_RESULT_TRANSIENT)
        return sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "%s", message);
    return 0;
}

static void deploypolicy_free(void *self)
{
    struct deploypolicy *d = self;
    if (!d)
        return;
    free(d->service_ns);
    free(d->service_name);
    free(d->cert_dir);
    json_decref(d->key_index);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static const struct sl_kube_resource *const secondary_resources[] = {&SL_RES_SIGNINGKEY, NULL};

int sl_deploypolicy_reconciler_new(struct sl_reconciler **out,
                                   const struct sl_deploypolicy_opts *opts, struct sl_err *err)
{
    struct deploypolicy *d = sl_xcalloc(1, sizeof(*d));
    d->service_ns =
        sl_xstrdup(opts && opts->service_namespace ? opts->service_namespace
                                                   : SL_POLICY_WEBHOOK_SERVICE_NAMESPACE);
    d->service_name = sl_xstrdup(opts && opts->service_name ? opts->service_name
                                                            : SL_POLICY_WEBHOOK_SERVICE_NAME);
    d->service_port =
        opts && opts->service_port > 0 ? opts->service_port : SL_POLICY_WEBHOOK_SERVICE_PORT;
    d->cert_dir = opts && opts->cert_dir ? sl_xstrdup(opts->cert_dir) : NULL;
    d->webhook_serving = opts ? opts->webhook_serving : NULL;
    d->webhook_ctx = opts ? opts->webhook_ctx : NULL;
    pthread_mutex_init(&d->lock, NULL);
    d->key_index = json_object();
    d->base = (struct sl_reconciler){.kind = "DeployPolicy",
                                     .resource = &SL_RES_DEPLOYPOLICY,
                                     .self = d,
                                     .reconcile = reconcile,
                                     .secondary = secondary_resources,
                                     .map_secondary = map_secondary,
                                     .free = deploypolicy_free};
    *out = &d->base;
    return 0;
}
