#include "policy/webhook.h"
#include "kube/secret.h"
#include "oci/auth.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "policy/admission.h"
#include "policy/reconciler.h"
#include "sign/cosign.h"
#include "sign/keys.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TTL_MS    (5 * 60 * 1000)
#define DEFAULT_CACHE_MAX 4096

struct cache_entry {
    char *key;
    bool allowed;
    char *message;
    int64_t expires_ms;
    struct cache_entry *prev, *next; /* LRU list, most recent first */
};

struct sl_admission_webhook {
    struct sl_runtime *rt;
    struct sl_admission_lookup lookup;
    char **insecure;
    size_t n_insecure;
    int64_t ttl_ms;
    size_t cache_max;
    pthread_mutex_t lock;
    struct cache_entry *head, *tail;
    size_t cache_size;
};

/* ---- decision cache (bounded LRU with TTL) ---- */

static void entry_unlink(struct sl_admission_webhook *w, struct cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        w->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        w->tail = e->prev;
    e->prev = e->next = NULL;
}

static void entry_push_front(struct sl_admission_webhook *w, struct cache_entry *e)
{
    e->next = w->head;
    e->prev = NULL;
    if (w->head)
        w->head->prev = e;
    w->head = e;
    if (!w->tail)
        w->tail = e;
}

static void entry_free(struct cache_entry *e)
{
    free(e->key);
    free(e->message);
    free(e);
}

/* Looks key up; on a fresh hit copies the decision out and returns true. */
static bool cache_get(struct sl_admission_webhook *w, const char *key, bool *allowed,
                      char **message)
{
    bool hit = false;
    int64_t now = sl_mono_ms();
    pthread_mutex_lock(&w->lock);
    for (struct cache_entry *e = w->head; e; e = e->next) {
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->expires_ms > now) {
            *allowed = e->allowed;
            *message = e->message ? sl_xstrdup(e->message) : NULL;
            entry_unlink(w, e);
            entry_push_front(w, e);
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&w->lock);
    return hit;
}

static void cache_put(struct sl_admission_webhook *w, const char *key, bool allowed,
                      const char *message)
{
    pthread_mutex_lock(&w->lock);
    for (struct cache_entry *e = w->head; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            entry_unlink(w, e);
            entry_free(e);
            w->cache_size--;
            break;
        }
    }
    struct cache_entry *e = sl_xcalloc(1, sizeof(*e));
    e->key = sl_xstrdup(key);
    e->allowed = allowed;
    e->message = message ? sl_xstrdup(message) : NULL;
    /* denials are cached briefly so a fix (signing the image, a passed scan) shows up soon */
    e->expires_ms = sl_mono_ms() + (allowed ? w->ttl_ms : (w->ttl_ms < 10000 ? w->ttl_ms : 10000));
    entry_push_front(w, e);
    if (++w->cache_size > w->cache_max) {
        struct cache_entry *old = w->tail;
        entry_unlink(w, old);
        entry_free(old);
        w->cache_size--;
    }
    pthread_mutex_unlock(&w->lock);
}

/* ---- per-request checking ---- */

struct check {
    struct sl_admission_webhook *w;
    const struct sl_admission_request *req;
    const json_t *policy;
    const char *policy_name;
    long long generation;
    bool require_signature, require_scan;
    struct sl_key **keys;
    size_t nkeys;
    char *key_problem;    /* why the policy's keys cannot be used, or NULL */
    json_t *pull_configs; /* decoded .dockerconfigjson texts of the imagePullSecrets */
    json_t *deliveries;   /* ImageDeliveries, loaded on first need */
    char denial[1024];
};

static bool insecure_host(const struct sl_admission_webhook *w, const char *host)
{
    for (size_t i = 0; i < w->n_insecure; i++)
        if (strcmp(w->insecure[i], host) == 0)
            return true;
    return false;
}

/* Credentials for registry from the object's imagePullSecrets (its own namespace only). */
static int pull_creds(struct sl_creds *out, struct check *c, const char *registry)
{
    if (!c->pull_configs) {
        c->pull_configs = json_array();
        size_t i;
        json_t *ref;
        json_array_foreach(json_object_get(c->req->pod_spec, "imagePullSecrets"), i, ref)
        {
            const char *name = json_string_value(json_object_get(ref, "name"));
            json_t *secret = NULL;
            struct sl_err err = {0};
            if (!name || !*c->req->namespace ||
                c->w->rt->kube.get(c->w->rt->kube.ctx, &secret, &SL_RES_SECRET, c->req->namespace,
                                   name, &err) != 0)
                continue;
            char *text = sl_kube_secret_string(secret, ".dockerconfigjson");
            if (text && *text)
                json_array_append_new(c->pull_configs, json_string(text));
            sl_secure_free_str(text);
            json_decref(secret);
        }
    }
    size_t i;
    json_t *cfg;
    json_array_foreach(c->pull_configs, i, cfg)
    {
        if (sl_dockerconfig_lookup(out, json_string_value(cfg), json_string_length(cfg), registry,
                                   NULL) == 0)
            return 0;
    }
    return SL_ENOTFOUND;
}

static void load_keys(struct check *c)
{
    const json_t *refs = json_object_get(
        json_object_get(json_object_get(json_object_get(c->policy, "spec"), "rules"),
                        "requireSignature"),
        "signingKeyRefs");
    size_t n = json_array_size(refs);
    c->keys = sl_xcalloc(n ? n : 1, sizeof(*c->keys));
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *ns = json_string_value(json_object_get(r, "namespace"));
        const char *name = json_string_value(json_object_get(r, "name"));
        json_t *sk = ns && name ? c->w->lookup.get(c->w->lookup.ctx, "SigningKey", ns, name) : NULL;
        const char *pem =
            json_string_value(json_object_get(json_object_get(sk, "status"), "publicKey"));
        struct sl_key *key = NULL;
        struct sl_err err = {0};
        if (pem && sl_key_load_public_pem(&key, pem, strlen(pem), &err) == 0) {
            c->keys[c->nkeys++] = key;
        } else if (!c->key_problem) {
            c->key_problem = sl_xasprintf("SigningKey %s/%s is not ready (no public key)",
                                          ns ? ns : "?", name ? name : "?");
        }
        json_decref(sk);
    }
    if (c->nkeys == 0 && !c->key_problem)
        c->key_problem = sl_xstrdup("the policy names no usable signing key");
}

/* Does some ImageDelivery record a Passed scan for repo (registry/repository) at digest? */
static bool scan_passed(struct check *c, const char *repo, const char *digest)
{
    if (!c->deliveries)
        c->deliveries = c->w->lookup.list(c->w->lookup.ctx, "ImageDelivery");
    size_t i, j, k;
    json_t *d, *img, *t;
    json_array_foreach(c->deliveries, i, d)
    {
        json_array_foreach(json_object_get(json_object_get(d, "status"), "images"), j, img)
        {
            const char *result =
                json_string_value(json_object_get(json_object_get(img, "scan"), "result"));
            if (!result || strcmp(result, "Passed") != 0)
                continue;
            json_array_foreach(json_object_get(img, "targets"), k, t)
            {
                const char *td = json_string_value(json_object_get(t, "digest"));
                const char *ti = json_string_value(json_object_get(t, "image"));
                if (!td || !ti || strcmp(td, digest) != 0)
                    continue;
                struct sl_ref tr = {0};
                bool same = false;
                if (sl_ref_parse(&tr, ti, NULL) == 0) {
                    char *tr_repo = sl_xasprintf("%s/%s", tr.registry, tr.repository);
                    same = strcmp(tr_repo, repo) == 0;
                    free(tr_repo);
                    sl_ref_free(&tr);
                }
                if (same)
                    return true;
            }
        }
    }
    return false;
}

/* A registry client for ref with the object's pull credentials. The API server gives the whole
 * review timeoutSeconds (10 s) and the webhook's event loop waits for it: every registry call
 * is kept short (3 s to connect, one quick retry) so a slow registry costs a denial, not a
 * stalled webhook. */
static struct sl_registry *open_registry(struct check *c, const struct sl_ref *ref,
                                         struct sl_creds *creds, int *have_creds)
{
    *have_creds = pull_creds(creds, c, ref->registry) == 0;
    struct sl_registry_opts ro = {.insecure = insecure_host(c->w, ref->registry),
                                  .max_attempts = 2,
                                  .backoff_base_ms = 100,
                                  .backoff_max_ms = 500,
                                  .connect_timeout_ms = 3000};
    return sl_registry_new(sl_ref_api_host(ref), *have_creds ? creds : NULL, &ro);
}

/* Decides one image; fills c->denial and returns 1 to stop on a denial. */
static int check_image(void *ctx, const char *container, const char *image)
{
    struct check *c = ctx;
    struct sl_ref ref = {0};
    struct sl_err err = {0};
    struct sl_registry *reg = NULL;
    char digest[72] = "";
    char *repo = NULL, *key = NULL, *message = NULL;
    bool allowed = false;
    int stop = 0;

    if (sl_ref_parse(&ref, image, &err) != 0) {
        snprintf(c->denial, sizeof(c->denial), "image %s: not a valid image reference: %s", image,
                 err.msg);
        return 1;
    }
    repo = sl_xasprintf("%s/%s", ref.registry, ref.repository);
    struct sl_creds creds = {0};
    int have_creds = 0;
    if (ref.digest) {
        snprintf(digest, sizeof(digest), "%s", ref.digest);
    } else {
        reg = open_registry(c, &ref, &creds, &have_creds);
        if (sl_registry_manifest_head(digest, NULL, reg, ref.repository,
                                      ref.tag ? ref.tag : "latest", &err) != 0) {
            snprintf(c->denial, sizeof(c->denial),
                     "image %s: must be pinned by digest, and its tag cannot be resolved: %s",
                     image, err.msg);
            stop = 1;
            goto done;
        }
    }
    key = sl_xasprintf("%s|%lld|%s@%s", c->policy_name, c->generation, repo, digest);
    /* the cache holds the reason; the message names this request's container */
    if (cache_get(c->w, key, &allowed, &message)) {
        if (!allowed) {
            snprintf(c->denial, sizeof(c->denial),
                     "sealift DeployPolicy %s: image %s (container %s, %s): %s", c->policy_name,
                     image, container, digest, message ? message : "denied");
            stop = 1;
        }
        goto done;
    }
    allowed = true;
    char why[700] = "";
    if (c->require_signature) {
        if (!c->keys)
            load_keys(c);
        if (c->key_problem) {
            allowed = false;
            snprintf(why, sizeof(why), "requireSignature: %s", c->key_problem);
        } else {
            if (!reg)
                reg = open_registry(c, &ref, &creds, &have_creds);
            struct sl_cosign_verify_result vr;
            int rc = sl_cosign_verify(&vr, reg, ref.repository, digest,
                                      (const struct sl_key *const *)c->keys, c->nkeys, &err);
            if (rc) {
                allowed = false;
                snprintf(why, sizeof(why), "requireSignature: %s%s",
                         rc == SL_ENOTFOUND ? "no signature" : "no valid signature",
                         rc == SL_ENOTFOUND || rc == SL_EDIGEST ? "" : " (registry error)");
                if (rc != SL_ENOTFOUND) {
                    size_t len = strlen(why);
                    snprintf(why + len, sizeof(why) - len, ": %s", err.msg);
                }
            }
        }
    }
    if (allowed && c->require_scan && !scan_passed(c, repo, digest)) {
        allowed = false;
        snprintf(why, sizeof(why),
                 "requireScanPassed: no ImageDelivery records a Passed scan for this digest");
    }
    cache_put(c->w, key, allowed, allowed ? NULL : why);
    if (!allowed) {
        snprintf(c->denial, sizeof(c->denial),
                 "sealift DeployPolicy %s: image %s (container %s, %s): %s", c->policy_name, image,
                 container, digest, why);
        stop = 1;
    }
done:
    if (have_creds)
        sl_creds_free(&creds);
    sl_registry_free(reg);
    sl_ref_free(&ref);
    free(repo);
    free(key);
    free(message);
    return stop;
}

static void respond(struct sl_http_response *resp, const char *uid, bool allowed,
                    const char *message)
{
    char *body = sl_admission_response(uid, allowed, message);
    resp->status = 200;
    resp->content_type = "application/json";
    sl_buf_append_str(&resp->body, body);
    free(body);
}

static void handle(void *ctx, const struct sl_http_request *hreq, struct sl_http_response *resp)
{
    struct sl_admission_webhook *w = ctx;
    const char *policy_name = hreq->path + strlen(SL_ADMISSION_PATH_PREFIX);
    struct sl_admission_request req;
    struct sl_err err = {0};
    if (sl_admission_parse(&req, hreq->body ? hreq->body : "", hreq->body_len, &err) != 0) {
        resp->status = 400;
        resp->content_type = "application/json";
        char *msg = sl_xasprintf("{\"message\":\"malformed AdmissionReview\"}\n");
        sl_buf_append_str(&resp->body, msg);
        free(msg);
        struct sl_log_ctx lc = {.kind = "DeployPolicy", .name = policy_name};
        sl_log_warn(&lc, "admission: malformed request: %s", err.msg);
        return;
    }
    struct check c = {.w = w, .req = &req, .policy_name = policy_name};
    json_t *policy = NULL;
    if (strcmp(req.operation, "CREATE") != 0 && strcmp(req.operation, "UPDATE") != 0) {
        respond(resp, req.uid, true, NULL);
        goto done;
    }
    policy = *policy_name ? w->lookup.get(w->lookup.ctx, "DeployPolicy", "", policy_name) : NULL;
    if (!policy) {
        char msg[400];
        snprintf(msg, sizeof(msg), "sealift: DeployPolicy %s does not exist (failing closed)",
                 policy_name);
        respond(resp, req.uid, false, msg);
        goto done;
    }
    c.policy = policy;
    c.generation =
        json_integer_value(json_object_get(json_object_get(policy, "metadata"), "generation"));
    const json_t *rules = json_object_get(json_object_get(policy, "spec"), "rules");
    c.require_signature = json_is_object(json_object_get(rules, "requireSignature"));
    c.require_scan = json_is_true(json_object_get(rules, "requireScanPassed"));
    if (!req.pod_spec || (!c.require_signature && !c.require_scan)) {
        respond(resp, req.uid, true, NULL);
        goto done;
    }
    if (sl_admission_each_image(req.pod_spec, check_image, &c) != 0) {
        respond(resp, req.uid, false, c.denial);
        struct sl_log_ctx lc = {.kind = req.kind,
                                .ns = req.namespace,
                                .name = json_string_value(json_object_get(
                                    json_object_get(req.object, "metadata"), "name"))};
        sl_log_info(&lc, "admission denied: %s", c.denial);
    } else {
        respond(resp, req.uid, true, NULL);
    }
done:
    for (size_t i = 0; i < c.nkeys; i++)
        sl_key_free(c.keys[i]);
    free(c.keys);
    free(c.key_problem);
    json_decref(c.pull_configs);
    json_decref(c.deliveries);
    json_decref(policy);
    sl_admission_request_free(&req);
}

int sl_admission_webhook_new(struct sl_admission_webhook **out, struct sl_runtime *rt,
                             const struct sl_admission_lookup *lookup,
                             const struct sl_admission_webhook_opts *opts, struct sl_err *err)
{
    if (!rt || !lookup || !lookup->get || !lookup->list)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "admission webhook needs a lookup");
    struct sl_admission_webhook *w = sl_xcalloc(1, sizeof(*w));
    w->rt = rt;
    w->lookup = *lookup;
    w->ttl_ms = opts && opts->cache_ttl_ms > 0 ? opts->cache_ttl_ms : DEFAULT_TTL_MS;
    w->cache_max = opts && opts->cache_max ? opts->cache_max : DEFAULT_CACHE_MAX;
    if (opts && opts->n_insecure) {
        w->insecure = sl_xcalloc(opts->n_insecure, sizeof(char *));
        for (size_t i = 0; i < opts->n_insecure; i++)
            w->insecure[i] = sl_xstrdup(opts->insecure_registries[i]);
        w->n_insecure = opts->n_insecure;
    }
    pthread_mutex_init(&w->lock, NULL);
    *out = w;
    return 0;
}

void sl_admission_webhook_register(struct sl_admission_webhook *w, struct sl_http_server *srv)
{
    sl_http_server_route(srv, "POST", SL_ADMISSION_PATH_PREFIX "*", handle, w);
}

void sl_admission_webhook_free(struct sl_admission_webhook *w)
{
    if (!w)
        return;
    while (w->head) {
        struct cache_entry *e = w->head;
        entry_unlink(w, e);
        entry_free(e);
    }
    for (size_t i = 0; i < w->n_insecure; i++)
        free(w->insecure[i]);
    free(w->insecure);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
