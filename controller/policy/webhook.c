#include "policy/webhook.h"
#include "http/workpool.h"
#include "kube/secret.h"
#include "oci/auth.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "policy/admission.h"
#include "policy/imagematch.h"
#include "policy/render.h"
#include "policy/trust.h"
#include "runtime/metrics.h"
#include "runtime/config.h"
#include "scan/record.h"
#include "sign/attestation.h"
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
#include <time.h>

#define DEFAULT_TTL_MS              (5 * 60 * 1000)
#define DEFAULT_CACHE_MAX           4096
#define DEFAULT_CHECK_DEADLINE_MS   8000
#define DEFAULT_MAX_SIGNATURES      16
#define DEFAULT_MAX_SIGNATURE_BYTES (1024 * 1024)
#define DENIAL_TTL_MS               10000
#define DEFAULT_WORKERS             4
#define ATTESTATION_MAX_BYTES       ((size_t)16 << 20)

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
    struct sl_workpool *pool; /* cache-miss checks and scans */
    bool reveal;              /* callers are authenticated: denials may carry registry facts */
    int64_t check_deadline_ms;
    struct sl_cosign_limits sig_limits; /* deadline_ms set per check */
    struct sl_scan_gate scan_gate;      /* scan.ctx NULL-checked: no scanner */
    struct sl_scan_record *scans;       /* borrowed, may be NULL */
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

/* Stores a decision; max_ttl_ms > 0 shortens how long it is kept (an attestation going stale). */
static void cache_put(struct sl_admission_webhook *w, const char *key, bool allowed,
                      const char *message, int64_t max_ttl_ms)
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
    int64_t ttl_ms = allowed || w->ttl_ms < DENIAL_TTL_MS ? w->ttl_ms : DENIAL_TTL_MS;
    if (max_ttl_ms > 0 && max_ttl_ms < ttl_ms)
        ttl_ms = max_ttl_ms;
    e->expires_ms = sl_mono_ms() + ttl_ms;
    entry_push_front(w, e);
    if (++w->cache_size > w->cache_max) {
        struct cache_entry *old = w->tail;
        entry_unlink(w, old);
        entry_free(old);
        w->cache_size--;
    }
    pthread_mutex_unlock(&w->lock);
}

/* ---- checking one image (worker threads) ---- */

/* What a worker needs to check one image, copied from the review on the loop thread and then
 * owned by the job alone (jansson values are not shared between threads). */
struct image_job {
    char *policy_name;
    long long generation;
    /* the spec.verifyImages entries whose imageReferences cover the image, in order (deep
     * copies), each with its index in the policy; all of them must pass */
    json_t *entries;
    json_t *attestations; /* rules.requireAttestations (deep copy), or NULL */
    char *ns;             /* the admitted object's namespace */
    json_t *pull_secrets; /* its imagePullSecrets (deep copy) */
    char *secret_names;   /* their names, the ScanPolicy revisions (decision_context) and the
                             matching entries */
    char *image;          /* as written in the first review that asked */
    /* a background scan (no review waits for it): ScanPolicy scan_ns/scan_name of image */
    char *scan_ns, *scan_name;
    /* the result, written by job_run */
    bool allowed;
    bool unresolved; /* the tag could not be resolved: why is the whole message */
    char digest[72];
    char why[1024];
};

struct check {
    struct sl_admission_webhook *w;
    struct image_job *job;
    struct sl_key **keys;
    size_t nkeys;
    char *key_problem;    /* why the policy's keys cannot be used, or NULL */
    json_t *pull_configs; /* decoded .dockerconfigjson texts of the imagePullSecrets */
    int64_t deadline_ms;  /* sl_mono_ms() time the check must be over by */
};

/* The --insecure-registry rule: an entry "host:port" matches exactly, an entry "host" any port. */
static bool insecure_host(const struct sl_admission_webhook *w, const char *host)
{
    struct sl_controller_config cc = {.insecure_registries = (const char *const *)w->insecure,
                                      .n_insecure_registries = w->n_insecure};
    return sl_controller_insecure_allowed(&cc, host);
}

/* Credentials for registry from the object's imagePullSecrets (its own namespace only). */
static int pull_creds(struct sl_creds *out, struct check *c, const char *registry)
{
    if (!c->pull_configs) {
        c->pull_configs = json_array();
        size_t i;
        json_t *ref;
        json_array_foreach(c->job->pull_secrets, i, ref)
        {
            const char *name = json_string_value(json_object_get(ref, "name"));
            json_t *secret = NULL;
            struct sl_err err = {0};
            if (!name || !*c->job->ns ||
                c->w->rt->kube.get(c->w->rt->kube.ctx, &secret, &SL_RES_SECRET, c->job->ns, name,
                                   &err) != 0)
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

/* Forgets the keys of the previous verifyImages entry. */
static void drop_keys(struct check *c)
{
    for (size_t i = 0; i < c->nkeys; i++)
        sl_key_free(c->keys[i]);
    free(c->keys);
    free(c->key_problem);
    c->keys = NULL;
    c->nkeys = 0;
    c->key_problem = NULL;
}

/* The keys of one verifyImages entry's authorities: a SigningKey's published key counts only
 * when it has the fingerprint the authority pins (policy/trust.h). */
static void load_keys(struct check *c, const json_t *authorities)
{
    drop_keys(c);
    size_t n = json_array_size(authorities);
    c->keys = sl_xcalloc(n ? n : 1, sizeof(*c->keys));
    size_t i;
    json_t *a;
    json_array_foreach(authorities, i, a)
    {
        const json_t *r = json_object_get(json_object_get(a, "key"), "signingKeyRef");
        const char *ns = json_string_value(json_object_get(r, "namespace"));
        const char *name = json_string_value(json_object_get(r, "name"));
        json_t *sk = ns && name ? c->w->lookup.get(c->w->lookup.ctx, "SigningKey", ns, name) : NULL;
        struct sl_key *key = NULL;
        struct sl_err err = {0};
        if (sl_policy_trusted_key(&key, r, sk, &err) == 0)
            c->keys[c->nkeys++] = key;
        else if (!c->key_problem)
            c->key_problem = sl_xasprintf("SigningKey %s/%s is not trusted: %s", ns ? ns : "?",
                                          name ? name : "?", err.msg);
        json_decref(sk);
    }
    if (c->nkeys == 0 && !c->key_problem)
        c->key_problem = sl_xstrdup("the entry names no usable signing key");
}

/* A registry client for ref with the object's pull credentials. Calls run on a worker thread,
 * so a slow registry delays only the reviews waiting for this image; they are still kept short
 * (3 s to connect, 3 s for a whole exchange, one quick retry, and never past the check's
 * deadline) so a registry that accepts and never answers frees the worker within the review's
 * deadline and does not hold up shutdown. */
static struct sl_registry *open_registry(struct check *c, const struct sl_ref *ref,
                                         struct sl_creds *creds, int *have_creds)
{
    *have_creds = pull_creds(creds, c, ref->registry) == 0;
    int64_t left_ms = c->deadline_ms - sl_mono_ms();
    int64_t exchange_ms = left_ms < 3000 ? (left_ms > 100 ? left_ms : 100) : 3000;
    struct sl_registry_opts ro = {.insecure = insecure_host(c->w, ref->registry),
                                  .max_attempts = 2,
                                  .backoff_base_ms = 100,
                                  .backoff_max_ms = 500,
                                  .connect_timeout_ms = exchange_ms,
                                  .request_timeout_ms = exchange_ms};
    return sl_registry_new(sl_ref_api_host(ref), *have_creds ? creds : NULL, &ro);
}

/* The decision cache key: everything a decision depends on besides the policy's generation:
 * the namespace and the names of the pull Secrets whose credentials reach the registry, the
 * repository and the digest. Caller frees. */
static char *decision_key(const char *policy, long long generation, const char *ns,
                          const char *secret_names, const struct sl_ref *ref, const char *digest)
{
    /* lengths first: names from a forged review cannot shift one field into another */
    return sl_xasprintf("%zu:%s|%lld|%zu:%s|%zu:%s|%s/%s@%s", strlen(policy), policy, generation,
                        strlen(ns), ns, strlen(secret_names), secret_names, ref->registry,
                        ref->repository, digest);
}

static void job_free(void *ctx, void *jobp);

/* What a decision depends on besides policy, namespace and image: the imagePullSecrets, each as
 * name@resourceVersion from the Secret watch ("name@-" while it does not exist), so a Secret
 * created or changed after a denial is never answered from the cache (the credentials are part
 * of the key), and, for requireScanPassed, the current revision (database and rules) of every
 * ScanPolicy it names, so a new database is never answered from the cache. Caller frees. */
static char *decision_context(const struct sl_admission_webhook *w, const char *ns,
                              const json_t *pull_secrets, const json_t *scan_refs)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    size_t i;
    json_t *ref;
    json_array_foreach(pull_secrets, i, ref)
    {
        const char *name = json_string_value(json_object_get(ref, "name"));
        if (i)
            sl_buf_append_str(&b, ",");
        sl_buf_append_str(&b, name ? name : "");
        json_t *secret = name && *name && ns && *ns && w->lookup.get
                             ? w->lookup.get(w->lookup.ctx, "Secret", ns, name)
                             : NULL;
        const char *rv = sl_kube_obj_resource_version(secret);
        sl_buf_append_str(&b, "@");
        sl_buf_append_str(&b, rv ? rv : "-");
        json_decref(secret);
    }
    json_array_foreach(scan_refs, i, ref)
    {
        const char *ns = json_string_value(json_object_get(ref, "namespace"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        sl_buf_append_str(&b, "#");
        if (ns && name)
            sl_scan_record_revision(w->scans, &b, ns, name);
    }
    char *s = sl_xstrdup(sl_buf_cstr(&b) ? sl_buf_cstr(&b) : "");
    sl_buf_free(&b);
    return s;
}

/* Queues a background scan of repo@digest (ref) with ScanPolicy ns/name, with the admitted
 * object's pull credentials and in its namespace's share of the workers. Nothing waits for it:
 * the gate records the verdict (scan/record.h) and the next review finds it. */
static void queue_scan(struct sl_admission_webhook *w, const struct image_job *job,
                       const struct sl_ref *ref, const char *ns, const char *name)
{
    struct image_job *scan = sl_xcalloc(1, sizeof(*scan));
    scan->policy_name = sl_xstrdup(job->policy_name);
    scan->ns = sl_xstrdup(job->ns);
    scan->pull_secrets = json_deep_copy(job->pull_secrets);
    scan->secret_names = sl_xstrdup(job->secret_names);
    scan->image = sl_xasprintf("%s/%s@%s", ref->registry, ref->repository, job->digest);
    scan->scan_ns = sl_xstrdup(ns);
    scan->scan_name = sl_xstrdup(name);
    char *key = sl_xasprintf("scan|%s/%s|%s", ns, name, scan->image);
    struct sl_err err = {0};
    if (sl_workpool_submit_group(w->pool, job->ns, key, scan, NULL, NULL, &err) != 0)
        job_free(w, scan); /* busy: the next review asks again */
    free(key);
}

/* requireScanPassed of verifyImages entry `field` ("verifyImages[0]") from sealift's own scans
 * (never from an object's status): allowed when one of the trusted ScanPolicies (scan_refs)
 * passed the digest at its current database. Sets *cacheable false for an answer that can change
 * without the policy changing (a scan still running). */
static bool scan_decide(struct check *c, const struct sl_ref *ref, const char *field,
                        const json_t *scan_refs, bool *cacheable)
{
    struct image_job *job = c->job;
    const char *failed_ns = NULL, *failed_name = NULL, *first_ns = NULL, *first_name = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(scan_refs, i, r)
    {
        const char *ns = json_string_value(json_object_get(r, "namespace"));
        const char *name = json_string_value(json_object_get(r, "name"));
        if (!ns || !name)
            continue;
        enum sl_scan_verdict v = sl_scan_record_get(c->w->scans, ns, name, job->digest);
        if (v == SL_SCAN_PASSED)
            return true;
        if (v == SL_SCAN_FAILED && !failed_ns) {
            failed_ns = ns;
            failed_name = name;
        }
        if (!first_ns) {
            first_ns = ns;
            first_name = name;
        }
    }
    if (failed_ns) {
        snprintf(job->why, sizeof(job->why),
                 "%s.requireScanPassed: the image fails ScanPolicy %s/%s", field, failed_ns,
                 failed_name);
        return false;
    }
    if (!first_ns) {
        snprintf(job->why, sizeof(job->why), "%s.requireScanPassed names no ScanPolicy", field);
        return false;
    }
    *cacheable = false;
    if (c->w->scan_gate.scan && c->w->scans) {
        queue_scan(c->w, job, ref, first_ns, first_name);
        snprintf(job->why, sizeof(job->why),
                 "%s.requireScanPassed: scan pending (ScanPolicy %s/%s has not scanned this "
                 "digest yet; sealift is scanning it, retry shortly)",
                 field, first_ns, first_name);
    } else {
        snprintf(job->why, sizeof(job->why),
                 "%s.requireScanPassed: ScanPolicy %s/%s has not scanned this digest, and this "
                 "controller has no scanner",
                 field, first_ns, first_name);
    }
    return false;
}

/* requireAttestations: the newest attestation of each listed type, verified with the keys of the
 * matching verifyImages entry's authorities (loaded by the caller), fresh enough and, for vuln,
 * without findings at or above the entry's severityThreshold (default High). Opens the registry
 * client when the signature check did not. Sets *cacheable false for answers that are no fact of
 * the image (a registry error, the deadline, keys not ready) and *max_ttl_ms to when the first
 * accepted attestation goes stale. */
static bool attestations_decide(struct check *c, const struct sl_ref *ref, struct sl_registry **reg,
                                struct sl_creds *creds, int *have_creds, bool *cacheable,
                                int64_t *max_ttl_ms)
{
    struct image_job *job = c->job;
    if (c->key_problem || !c->keys) {
        *cacheable = false; /* the SigningKey may become ready any moment */
        snprintf(job->why, sizeof(job->why), "requireAttestations: %s",
                 c->key_problem ? c->key_problem : "no keys");
        return false;
    }
    if (!*reg)
        *reg = open_registry(c, ref, creds, have_creds);
    time_t now = time(NULL);
    size_t i;
    const json_t *entry;
    json_array_foreach(job->attestations, i, entry)
    {
        struct sl_attestation_requirement req = {.threshold = 3};
        struct sl_err err = {0};
        const char *type = json_string_value(json_object_get(entry, "type"));
        const char *max_age = json_string_value(json_object_get(entry, "maxAge"));
        const char *sev = json_string_value(json_object_get(entry, "severityThreshold"));
        if (sl_attestation_type_parse(&req.type, type, &err) != 0 ||
            (max_age && sl_duration_parse_ms(&req.max_age_ms, max_age) != 0) ||
            (sev && strcmp(sev, "None") != 0 &&
             sl_attestation_severity_parse(&req.threshold, sev) != 0)) {
            snprintf(job->why, sizeof(job->why),
                     "requireAttestations[%zu]: the policy's entry is invalid (see the "
                     "DeployPolicy's Ready condition)",
                     i);
            return false;
        }
        if (sev && strcmp(sev, "None") == 0)
            req.threshold = 0;
        struct sl_attestation_limits lim = {.max_attestations = c->w->sig_limits.max_signatures,
                                            .max_bytes = ATTESTATION_MAX_BYTES,
                                            .deadline_ms = c->deadline_ms};
        struct sl_attestation_decision d;
        int rc =
            sl_attestation_decide(&d, *reg, ref->repository, job->digest, &req,
                                  (const struct sl_key *const *)c->keys, c->nkeys, &lim, now, &err);
        if (rc) {
            /* too many to check is a fact of the image, like for signatures; the rest is not */
            *cacheable = rc == SL_ETOOBIG;
            snprintf(job->why, sizeof(job->why), "requireAttestations: %s attestation%s: %s",
                     req.type.name, *cacheable ? "" : " (registry error)", err.msg);
            return false;
        }
        if (d.verdict != SL_ATTESTATION_OK) {
            snprintf(job->why, sizeof(job->why), "requireAttestations: %s", d.reason);
            return false;
        }
        if (d.stale_at > 0) {
            int64_t ttl_ms = ((int64_t)d.stale_at - (int64_t)now) * 1000;
            if (ttl_ms < 1)
                ttl_ms = 1;
            if (*max_ttl_ms == 0 || ttl_ms < *max_ttl_ms)
                *max_ttl_ms = ttl_ms;
        }
    }
    return true;
}

/* Worker thread, background scan job: scans job->image with its ScanPolicy through the gate,
 * which records the verdict. */
static void run_scan(struct check *c, const struct sl_ref *ref)
{
    struct image_job *job = c->job;
    struct sl_creds creds = {0};
    int have_creds = 0;
    struct sl_err err = {0};
    json_t *summary = NULL;
    /* a scan reads every layer: the check deadline does not apply, the registry limits do */
    c->deadline_ms = sl_mono_ms() + 60000;
    struct sl_registry *reg = open_registry(c, ref, &creds, &have_creds);
    int rc = c->w->scan_gate.scan(c->w->scan_gate.ctx, c->w->rt, job->scan_ns, job->scan_name, reg,
                                  ref->repository, ref->digest, NULL, 0, &summary, &err);
    struct sl_log_ctx lc = {.kind = "ScanPolicy", .ns = job->scan_ns, .name = job->scan_name};
    if (rc == SL_SCAN_GATE_PASSED || rc == SL_SCAN_GATE_BLOCKED)
        sl_log_info(&lc, "admission: scanned %s: %s", job->image,
                    rc == SL_SCAN_GATE_PASSED ? "passed" : err.msg);
    else
        sl_log_warn(&lc, "admission: scanning %s failed: %s", job->image, err.msg);
    json_decref(summary);
    sl_registry_free(reg);
    if (have_creds)
        sl_creds_free(&creds);
}

/* The authorities of verifyImages entry `field` ("verifyImages[0]"): a valid signature on the
 * digest by any one of their keys (left loaded in c for requireAttestations). Opens the registry
 * client when needed. Sets *cacheable false for answers that are no fact of the image. */
static bool signature_decide(struct check *c, const struct sl_ref *ref, const char *field,
                             const json_t *authorities, struct sl_registry **reg,
                             struct sl_creds *creds, int *have_creds, bool *cacheable)
{
    struct image_job *job = c->job;
    load_keys(c, authorities);
    if (c->key_problem) {
        *cacheable = false; /* the SigningKey may become ready any moment */
        snprintf(job->why, sizeof(job->why), "%s.authorities: %s", field, c->key_problem);
        return false;
    }
    if (!*reg)
        *reg = open_registry(c, ref, creds, have_creds);
    struct sl_cosign_verify_result vr;
    struct sl_cosign_limits limits = c->w->sig_limits;
    limits.deadline_ms = c->deadline_ms;
    struct sl_err err = {0};
    int rc =
        sl_cosign_verify_limited(&vr, *reg, ref->repository, job->digest,
                                 (const struct sl_key *const *)c->keys, c->nkeys, &limits, &err);
    if (rc == 0)
        return true;
    /* no signature, none valid or too many to check are facts of the image; the rest (registry
     * unreachable, 401 without this namespace's secret, the deadline) must not answer the next
     * request */
    *cacheable = rc == SL_ENOTFOUND || rc == SL_EDIGEST || rc == SL_ETOOBIG;
    snprintf(job->why, sizeof(job->why), "%s.authorities: %s%s", field,
             rc == SL_ENOTFOUND ? "no signature" : "no valid signature",
             *cacheable ? "" : " (registry error)");
    if (rc != SL_ENOTFOUND) {
        size_t len = strlen(job->why);
        snprintf(job->why + len, sizeof(job->why) - len, ": %s", err.msg);
    }
    return false;
}

/* Worker thread: decides job->image (resolving a tag first), fills the job's result and the
 * decision cache. Only answers that hold for everyone with the same key are cached: registry
 * errors, an exhausted deadline and a pending scan are answered but not kept. */
static void job_run(void *ctx, void *jobp)
{
    struct sl_admission_webhook *w = ctx;
    struct image_job *job = jobp;
    struct check c = {.w = w, .job = job, .deadline_ms = sl_mono_ms() + w->check_deadline_ms};
    struct sl_ref ref = {0};
    struct sl_err err = {0};
    struct sl_registry *reg = NULL;
    struct sl_creds creds = {0};
    int have_creds = 0;
    char *key = NULL, *message = NULL;
    bool allowed = false, cacheable = true;

    sl_metrics_gauge_set(w->rt->metrics, "sealift_admission_check_queue_depth", "",
                         (double)sl_workpool_queued(w->pool));
    if (sl_ref_parse(&ref, job->image, &err) != 0) {
        /* the loop parsed it already; kept for safety */
        job->unresolved = true;
        snprintf(job->why, sizeof(job->why), "image %s: not a valid image reference: %s",
                 job->image, err.msg);
        goto done;
    }
    if (job->scan_name) {
        run_scan(&c, &ref);
        goto done;
    }
    if (ref.digest) {
        snprintf(job->digest, sizeof(job->digest), "%s", ref.digest);
    } else {
        reg = open_registry(&c, &ref, &creds, &have_creds);
        if (sl_registry_manifest_head(job->digest, NULL, reg, ref.repository,
                                      ref.tag ? ref.tag : "latest", &err) != 0) {
            job->unresolved = true;
            snprintf(job->why, sizeof(job->why),
                     "image %s: must be pinned by digest, and its tag cannot be resolved: %s",
                     job->image, err.msg);
            goto done;
        }
    }
    key = decision_key(job->policy_name, job->generation, job->ns, job->secret_names, &ref,
                       job->digest);
    /* a job that ended just before this one was queued may have left the answer */
    if (cache_get(w, key, &allowed, &message)) {
        job->allowed = allowed;
        snprintf(job->why, sizeof(job->why), "%s", message ? message : "denied");
        goto done;
    }
    allowed = true;
    int64_t max_ttl_ms = 0;
    size_t n;
    json_t *entry;
    json_array_foreach(job->entries, n, entry)
    {
        if (!allowed)
            break;
        char field[32];
        snprintf(field, sizeof(field), "verifyImages[%lld]",
                 (long long)json_integer_value(json_object_get(entry, "index")));
        const json_t *authorities = json_object_get(entry, "authorities");
        if (json_array_size(authorities) > 0) {
            allowed = signature_decide(&c, &ref, field, authorities, &reg, &creds, &have_creds,
                                       &cacheable);
            if (allowed && job->attestations)
                allowed = attestations_decide(&c, &ref, &reg, &creds, &have_creds, &cacheable,
                                              &max_ttl_ms);
        }
        const json_t *scan = json_object_get(entry, "requireScanPassed");
        if (allowed && json_is_object(scan))
            allowed =
                scan_decide(&c, &ref, field, json_object_get(scan, "scanPolicyRefs"), &cacheable);
    }
    /* the object names pull Secrets, yet none had credentials for this registry (not there
     * yet, or without this registry): a registry that hides private repositories answers "not
     * found" then, which is no fact of the image; the Secret may arrive any moment */
    if (!allowed && reg && !have_creds && json_array_size(job->pull_secrets) > 0)
        cacheable = false;
    job->allowed = allowed;
    if (cacheable)
        cache_put(w, key, allowed, allowed ? NULL : job->why, allowed ? max_ttl_ms : 0);
done:
    drop_keys(&c);
    json_decref(c.pull_configs);
    if (have_creds)
        sl_creds_free(&creds);
    sl_registry_free(reg);
    sl_ref_free(&ref);
    free(key);
    free(message);
}

static void job_free(void *ctx, void *jobp)
{
    (void)ctx;
    struct image_job *job = jobp;
    if (!job)
        return;
    free(job->policy_name);
    json_decref(job->entries);
    json_decref(job->attestations);
    free(job->ns);
    json_decref(job->pull_secrets);
    free(job->secret_names);
    free(job->image);
    free(job->scan_ns);
    free(job->scan_name);
    free(job);
}

/* ---- one review in flight ---- */

enum image_state { IMAGE_PENDING, IMAGE_ALLOWED, IMAGE_DENIED };

struct review_image {
    char *container;
    char *image;
    unsigned entries; /* the verifyImages entries covering image (bit i = entry i) */
    enum image_state state;
    char *denial; /* the whole denial message when DENIED, as the caller may see it */
    char *detail; /* the same with every registry fact, for the log (NULL = denial) */
};

/* A review waiting for worker results. Freed when its last reference goes: one per pending
 * image (the job's waiter) plus one the loop holds while it hands jobs out. */
struct review {
    struct sl_http_deferred *deferred; /* finished exactly once, by whoever decides */
    pthread_mutex_t lock;
    size_t refs;   /* under lock */
    bool answered; /* under lock */
    char *uid;
    char *policy_name;
    enum sl_enforcement enforcement;
    char *kind, *ns, *name; /* for the denial log line */
    struct review_image *images;
    size_t nimages;
};

/* A job's waiter: which image of which review it answers. */
struct review_waiter {
    struct review *r;
    size_t index;
};

static void review_free(struct review *r)
{
    for (size_t i = 0; i < r->nimages; i++) {
        free(r->images[i].container);
        free(r->images[i].image);
        free(r->images[i].denial);
        free(r->images[i].detail);
    }
    free(r->images);
    free(r->uid);
    free(r->policy_name);
    free(r->kind);
    free(r->ns);
    free(r->name);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The answer in container order, as a synchronous check would give it: the first image not
 * allowed decides. Returns 1 (all allowed), -1 (denied by images[*which]) or 0 (an image before
 * the first denial is still pending). */
static int review_decide(const struct review_image *images, size_t n, size_t *which)
{
    for (size_t i = 0; i < n; i++) {
        if (images[i].state == IMAGE_PENDING)
            return 0;
        if (images[i].state == IMAGE_DENIED) {
            *which = i;
            return -1;
        }
    }
    return 1;
}

/* The answer to a review: violation NULL admits; otherwise the policy's enforcement decides
 * (deny, admit with a warning, admit with an audit annotation). */
static void respond(struct sl_http_response *resp, const char *uid, const char *violation,
                    enum sl_enforcement enforcement)
{
    char *body = sl_admission_verdict(uid, violation, enforcement);
    resp->status = 200;
    resp->content_type = "application/json";
    sl_buf_append_str(&resp->body, body);
    free(body);
}

static void log_violation(const char *kind, const char *ns, const char *name, const char *message,
                          enum sl_enforcement enforcement)
{
    struct sl_log_ctx lc = {.kind = kind, .ns = ns, .name = name};
    if (enforcement == SL_ENFORCE_DENY)
        sl_log_info(&lc, "admission denied: %s", message);
    else
        sl_log_warn(&lc, "admission %s (enforcement %s): %s",
                    enforcement == SL_ENFORCE_WARN ? "admitted with a warning" : "audited",
                    enforcement == SL_ENFORCE_WARN ? "Warn" : "Audit", message);
}

/* Sends r's answer; r stays alive (the caller holds a reference) and images are final. */
static void review_answer(struct review *r, int decision, size_t which)
{
    struct sl_http_response resp = {0};
    sl_buf_init(&resp.body, 0);
    const struct review_image *img = decision < 0 ? &r->images[which] : NULL;
    respond(&resp, r->uid, img ? img->denial : NULL, r->enforcement);
    sl_http_deferred_finish(r->deferred, &resp);
    r->deferred = NULL;
    sl_buf_free(&resp.body);
    if (img)
        log_violation(r->kind, r->ns, r->name, img->detail ? img->detail : img->denial,
                      r->enforcement);
}

/* Drops one reference to r; answers it when that is now decided; frees it at zero. */
static void review_unref(struct review *r)
{
    size_t which = 0;
    int decision = 0;
    pthread_mutex_lock(&r->lock);
    if (!r->answered) {
        decision = review_decide(r->images, r->nimages, &which);
        if (decision != 0) {
            r->answered = true;
            r->refs++; /* kept while answering outside the lock */
        }
    }
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->lock);
    if (decision != 0) {
        review_answer(r, decision, which);
        pthread_mutex_lock(&r->lock);
        last = --r->refs == 0;
        pthread_mutex_unlock(&r->lock);
    }
    if (last)
        review_free(r);
}

/* Records image index's outcome (denial and detail taken, NULL when allowed; detail NULL when
 * the denial says everything). */
static void review_set(struct review *r, size_t index, char *denial, char *detail)
{
    pthread_mutex_lock(&r->lock);
    r->images[index].state = denial ? IMAGE_DENIED : IMAGE_ALLOWED;
    r->images[index].denial = denial;
    r->images[index].detail = detail;
    pthread_mutex_unlock(&r->lock);
}

/* The denial of img after a registry check: *detail (for the log) names the digest and why;
 * *denial is what the caller sees, the same when callers are authenticated (reveal), else only
 * that the image is not verified, so an unauthenticated caller learns nothing about registries
 * (whether a private image exists, its digest, the registry's answer). why may be a whole
 * message already (whole_why: a tag that did not resolve). */
static void denial_for(char **denial, char **detail, const struct sl_admission_webhook *w,
                       const char *policy, const struct review_image *img, const char *digest,
                       const char *why, bool whole_why)
{
    *detail = whole_why ? sl_xstrdup(why)
                        : sl_xasprintf("sealift DeployPolicy %s: image %s (container %s, %s): %s",
                                       policy, img->image, img->container, digest, why);
    if (w->reveal) {
        *denial = *detail;
        *detail = NULL;
    } else {
        *denial = sl_xasprintf("sealift DeployPolicy %s: image %s (container %s) is not verified",
                               policy, img->image, img->container);
    }
}

/* Worker thread (or the thread freeing the webhook, canceled): one image's result arrived.
 * Background scans have no waiter. */
static void job_done(void *ctx, void *jobp, void *waiterp, bool canceled)
{
    struct sl_admission_webhook *w = ctx;
    struct image_job *job = jobp;
    struct review_waiter *wt = waiterp;
    if (!wt)
        return;
    struct review *r = wt->r;
    const struct review_image *img = &r->images[wt->index]; /* container/image are immutable */
    char *denial = NULL, *detail = NULL;
    if (canceled)
        denial = sl_xasprintf("sealift DeployPolicy %s: image %s (container %s): the admission "
                              "webhook is shutting down; failing closed",
                              r->policy_name, img->image, img->container);
    else if (job->unresolved)
        denial_for(&denial, &detail, w, r->policy_name, img, "", job->why, true);
    else if (!job->allowed)
        denial_for(&denial, &detail, w, r->policy_name, img, job->digest, job->why, false);
    review_set(r, wt->index, denial, detail);
    free(wt);
    review_unref(r);
}

/* ---- the handler (event-loop thread) ---- */

struct image_list {
    struct review_image *items;
    size_t n;
};

static int collect_image(void *ctx, const char *container, const char *image)
{
    struct image_list *l = ctx;
    l->items = sl_xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = (struct review_image){
        .container = sl_xstrdup(container), .image = sl_xstrdup(image), .state = IMAGE_PENDING};
    return 0;
}

/* How long the review may take: the API server's timeout (the ?timeout= it sends, at most the
 * configuration's timeoutSeconds), less a margin for the answer to travel back. */
static int64_t review_budget_ms(const char *query)
{
    int64_t limit = (int64_t)SL_ADMISSION_TIMEOUT_S * 1000, t = 0;
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 8 && len < 40 && strncmp(p, "timeout=", 8) == 0) {
            char v[40];
            memcpy(v, p + 8, len - 8);
            v[len - 8] = '\0';
            if (sl_duration_parse_ms(&t, v) == 0 && t > 0 && t < limit)
                limit = t;
        }
        p = amp ? amp + 1 : NULL;
    }
    int64_t margin = limit / 2 < 1000 ? limit / 2 : 1000;
    return limit - margin;
}

static void count_check(struct sl_admission_webhook *w, const char *via)
{
    struct sl_buf labels;
    sl_buf_init(&labels, 0);
    sl_metrics_label_append(&labels, "via", via);
    sl_metrics_counter_add(w->rt->metrics, "sealift_admission_image_checks_total",
                           sl_buf_cstr(&labels), 1);
    sl_buf_free(&labels);
}

/* A job checking image under policy's verifyImages entries in mask (policy_matching_entries),
 * with the admitted object's namespace and pull secrets; context is decision_context()'s with
 * the mask (copied). */
static struct image_job *job_new(const struct sl_admission_request *req, const char *context,
                                 const json_t *policy, const char *policy_name,
                                 long long generation, unsigned mask, const char *image)
{
    struct image_job *job = sl_xcalloc(1, sizeof(*job));
    job->policy_name = sl_xstrdup(policy_name);
    job->generation = generation;
    const json_t *spec = json_object_get(policy, "spec");
    job->entries = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(spec, "verifyImages"), i, e)
    {
        if (i >= SL_POLICY_VERIFY_IMAGES_MAX || !(mask & (1u << i)) || !json_is_object(e))
            continue;
        json_t *copy = json_deep_copy(e);
        json_object_del(copy, "imageReferences");
        json_object_set_new(copy, "index", json_integer((json_int_t)i));
        json_array_append_new(job->entries, copy);
    }
    const json_t *atts = json_object_get(json_object_get(spec, "rules"), "requireAttestations");
    if (json_array_size(atts) > 0)
        job->attestations = json_deep_copy(atts);
    job->ns = sl_xstrdup(req->namespace);
    const json_t *secrets = json_object_get(req->pod_spec, "imagePullSecrets");
    job->pull_secrets = json_is_array(secrets) ? json_deep_copy(secrets) : json_array();
    job->secret_names = sl_xstrdup(context);
    job->image = sl_xstrdup(image);
    return job;
}

/* Every scanPolicyRefs entry of the policy's verifyImages (new reference), for
 * decision_context. */
static json_t *all_scan_refs(const json_t *verify_images)
{
    json_t *out = json_array();
    size_t i, j;
    json_t *e, *r;
    json_array_foreach(verify_images, i, e)
    {
        json_array_foreach(
            json_object_get(json_object_get(e, "requireScanPassed"), "scanPolicyRefs"), j, r)
        {
            json_array_append(out, r);
        }
    }
    return out;
}

/* The decision context of one image: the object's (decision_context) and which verifyImages
 * entries cover the reference as written (a tag and a digest of the same image may match
 * different entries). Caller frees. */
static char *image_context(const char *context, unsigned mask)
{
    return sl_xasprintf("%s|m%x", context, mask);
}

/* The coalescing key of image's job: its decision key when pinned by digest, else the same
 * with the reference as written (the tag is resolved by the job, with the same credentials). */
static char *job_key(const char *policy_name, long long generation, const char *ns,
                     const char *secret_names, const struct sl_ref *ref, const char *image)
{
    if (ref->digest)
        return decision_key(policy_name, generation, ns, secret_names, ref, ref->digest);
    return sl_xasprintf("%zu:%s|%lld|%zu:%s|%zu:%s|tag|%s", strlen(policy_name), policy_name,
                        generation, strlen(ns), ns, strlen(secret_names), secret_names, image);
}

/* rules.runtimeClassNames: the workload's pod spec must name one of them. Returns the denial
 * (caller frees) or NULL. Decided here, without I/O, like the ValidatingAdmissionPolicy does. */
static char *runtime_class_violation(const char *policy_name, const json_t *rules,
                                     const json_t *pod_spec)
{
    const json_t *allowed = json_object_get(rules, "runtimeClassNames");
    if (!pod_spec || !json_is_array(allowed))
        return NULL;
    const char *rc = json_string_value(json_object_get(pod_spec, "runtimeClassName"));
    struct sl_buf names;
    sl_buf_init(&names, 0);
    size_t i;
    const json_t *v;
    json_array_foreach(allowed, i, v)
    {
        const char *name = json_string_value(v);
        if (rc && name && strcmp(rc, name) == 0) {
            sl_buf_free(&names);
            return NULL;
        }
        if (i < 16 && name) {
            sl_buf_append_str(&names, i ? ", " : "");
            sl_buf_append_str(&names, name);
        }
    }
    char *msg = sl_xasprintf("sealift DeployPolicy %s: runtimeClassNames: the workload must set "
                             "runtimeClassName to one of [%s]%s%.253s%s",
                             policy_name, sl_buf_cstr(&names) ? sl_buf_cstr(&names) : "",
                             rc ? " (it names " : " (it names none)", rc ? rc : "", rc ? ")" : "");
    sl_buf_free(&names);
    return msg;
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
        sl_buf_append_str(&resp->body, "{\"message\":\"malformed AdmissionReview\"}\n");
        struct sl_log_ctx lc = {.kind = "DeployPolicy", .name = policy_name};
        sl_log_warn(&lc, "admission: malformed request: %s", err.msg);
        return;
    }
    json_t *policy = NULL;
    struct image_list list = {0};
    struct review *r = NULL;
    char *secret_names = NULL;
    const char *obj_name =
        json_string_value(json_object_get(json_object_get(req.object, "metadata"), "name"));
    if (strcmp(req.operation, "CREATE") != 0 && strcmp(req.operation, "UPDATE") != 0) {
        respond(resp, req.uid, NULL, SL_ENFORCE_DENY);
        goto done;
    }
    policy = *policy_name ? w->lookup.get(w->lookup.ctx, "DeployPolicy", "", policy_name) : NULL;
    if (!policy) {
        char msg[400];
        snprintf(msg, sizeof(msg), "sealift: DeployPolicy %s does not exist (failing closed)",
                 policy_name);
        respond(resp, req.uid, msg, SL_ENFORCE_DENY);
        goto done;
    }
    long long generation =
        json_integer_value(json_object_get(json_object_get(policy, "metadata"), "generation"));
    enum sl_enforcement enforcement = sl_admission_enforcement(policy);
    const json_t *rules = json_object_get(json_object_get(policy, "spec"), "rules");
    const json_t *verify_images = json_object_get(json_object_get(policy, "spec"), "verifyImages");
    char *runtime_denial = runtime_class_violation(policy_name, rules, req.pod_spec);
    if (runtime_denial) {
        respond(resp, req.uid, runtime_denial, enforcement);
        log_violation(req.kind, req.namespace, obj_name, runtime_denial, enforcement);
        free(runtime_denial);
        goto done;
    }
    if (!req.pod_spec || json_array_size(verify_images) == 0) {
        respond(resp, req.uid, NULL, SL_ENFORCE_DENY);
        goto done;
    }
    const json_t *pull_secrets = json_object_get(req.pod_spec, "imagePullSecrets");
    json_t *scan_refs = all_scan_refs(verify_images);
    secret_names = decision_context(w, req.namespace,
                                    json_is_array(pull_secrets) ? pull_secrets : NULL, scan_refs);
    json_decref(scan_refs);

    /* inline: what the reference and the cache decide; the rest stays pending */
    sl_admission_each_image(req.pod_spec, collect_image, &list);
    size_t pending = 0;
    for (size_t i = 0; i < list.n; i++) {
        struct review_image *img = &list.items[i];
        struct sl_ref ref = {0};
        if (sl_ref_parse(&ref, img->image, &err) != 0) {
            img->state = IMAGE_DENIED;
            img->denial =
                sl_xasprintf("image %s: not a valid image reference: %s", img->image, err.msg);
            continue;
        }
        img->entries = sl_policy_matching_entries(verify_images, &ref);
        if (img->entries == 0) {
            /* no entry covers this image: these rules admit it (the rendered ones still apply) */
            img->state = IMAGE_ALLOWED;
        } else if (ref.digest) {
            char *context = image_context(secret_names, img->entries);
            char *key =
                decision_key(policy_name, generation, req.namespace, context, &ref, ref.digest);
            free(context);
            bool allowed = false;
            char *message = NULL;
            if (cache_get(w, key, &allowed, &message)) {
                count_check(w, "cache");
                img->state = allowed ? IMAGE_ALLOWED : IMAGE_DENIED;
                if (!allowed)
                    denial_for(&img->denial, &img->detail, w, policy_name, img, ref.digest,
                               message ? message : "denied", false);
            }
            free(message);
            free(key);
        }
        sl_ref_free(&ref);
        if (img->state == IMAGE_PENDING)
            pending++;
    }
    size_t which = 0;
    int decision = review_decide(list.items, list.n, &which);
    if (decision != 0) {
        const struct review_image *img = decision < 0 ? &list.items[which] : NULL;
        respond(resp, req.uid, img ? img->denial : NULL, enforcement);
        if (img)
            log_violation(req.kind, req.namespace, obj_name,
                          img->detail ? img->detail : img->denial, enforcement);
        goto done;
    }

    /* deferred: the server answers with this denial if the workers are not done in time */
    int64_t budget_ms = review_budget_ms(hreq->query);
    size_t first_pending = 0;
    while (list.items[first_pending].state != IMAGE_PENDING)
        first_pending++;
    char *late = sl_xasprintf(
        "sealift DeployPolicy %s: image %s (container %s): the check did not finish within "
        "%lld ms (registry slow or unreachable); failing closed",
        policy_name, list.items[first_pending].image, list.items[first_pending].container,
        (long long)budget_ms);
    struct sl_http_response fallback = {0};
    sl_buf_init(&fallback.body, 0);
    respond(&fallback, req.uid, late, enforcement);
    struct sl_http_deferred *deferred = sl_http_request_defer(hreq, budget_ms, &fallback);
    sl_buf_free(&fallback.body);
    free(late);
    if (!deferred) {
        /* not served by a running server (a direct call); never block here either */
        respond(resp, req.uid,
                "sealift: the admission check needs registry access and cannot wait here; "
                "failing closed",
                enforcement);
        goto done;
    }

    r = sl_xcalloc(1, sizeof(*r));
    r->deferred = deferred;
    pthread_mutex_init(&r->lock, NULL);
    r->refs = 1 + pending; /* the loop's reference, dropped below, and one per job waiter */
    r->uid = sl_xstrdup(req.uid);
    r->policy_name = sl_xstrdup(policy_name);
    r->enforcement = enforcement;
    r->kind = req.kind ? sl_xstrdup(req.kind) : NULL;
    r->ns = sl_xstrdup(req.namespace);
    r->name = obj_name ? sl_xstrdup(obj_name) : NULL;
    r->images = list.items;
    r->nimages = list.n;
    list.items = NULL;
    list.n = 0;
    for (size_t i = 0; i < r->nimages; i++) {
        struct review_image *img = &r->images[i];
        if (img->state != IMAGE_PENDING)
            continue;
        struct sl_ref ref = {0};
        sl_ref_parse(&ref, img->image, NULL); /* parsed above */
        char *context = image_context(secret_names, img->entries);
        char *key = job_key(policy_name, generation, req.namespace, context, &ref, img->image);
        sl_ref_free(&ref);
        struct image_job *job =
            job_new(&req, context, policy, policy_name, generation, img->entries, img->image);
        free(context);
        struct review_waiter *wt = sl_xcalloc(1, sizeof(*wt));
        wt->r = r;
        wt->index = i;
        bool joined = false;
        int rc = sl_workpool_submit_group(w->pool, req.namespace, key, job, wt, &joined, &err);
        free(key);
        if (rc == 0) {
            count_check(w, joined ? "coalesced" : "worker");
            continue;
        }
        /* not taken: fail this image closed now rather than queue without bound */
        count_check(w, "rejected");
        job_free(w, job);
        free(wt);
        char *denial = sl_xasprintf(
            "sealift DeployPolicy %s: image %s (container %s): %s; failing closed", policy_name,
            img->image, img->container,
            rc == SL_ECANCELED ? "the admission webhook is shutting down"
                               : "the admission webhook is busy (too many registry checks "
                                 "queued for this namespace or in all)");
        review_set(r, i, denial, NULL);
        review_unref(r); /* this image's reference */
    }
    sl_metrics_gauge_set(w->rt->metrics, "sealift_admission_check_queue_depth", "",
                         (double)sl_workpool_queued(w->pool));
    review_unref(r); /* the loop's reference: answers now if the rejections decided it */

done:
    for (size_t i = 0; i < list.n; i++) {
        free(list.items[i].container);
        free(list.items[i].image);
        free(list.items[i].denial);
        free(list.items[i].detail);
    }
    free(list.items);
    free(secret_names);
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
    w->reveal = opts && opts->reveal_details;
    w->check_deadline_ms =
        opts && opts->check_deadline_ms > 0 ? opts->check_deadline_ms : DEFAULT_CHECK_DEADLINE_MS;
    w->sig_limits.max_signatures =
        opts && opts->max_signatures ? opts->max_signatures : DEFAULT_MAX_SIGNATURES;
    w->sig_limits.max_payload_bytes =
        opts && opts->max_signature_bytes ? opts->max_signature_bytes : DEFAULT_MAX_SIGNATURE_BYTES;
    if (opts && opts->scan_gate)
        w->scan_gate = *opts->scan_gate;
    w->scans = opts ? opts->scans : NULL;
    pthread_mutex_init(&w->lock, NULL);
    struct sl_workpool_ops ops = {.ctx = w, .run = job_run, .done = job_done, .job_free = job_free};
    size_t threads = opts && opts->workers ? opts->workers : DEFAULT_WORKERS;
    size_t share =
        opts && opts->namespace_share ? opts->namespace_share : (threads / 2 ? threads / 2 : 1);
    /* one namespace runs at most its share of the threads and keeps at most twice that in
     * flight, so a tenant whose images are slow to check cannot take every worker */
    struct sl_workpool_opts po = {.threads = threads,
                                  .queue_max = opts ? opts->queue_max : 0,
                                  .group_running_max = share,
                                  .group_jobs_max = 2 * share};
    int rc = sl_workpool_new(&w->pool, &ops, &po, err);
    if (rc != 0) {
        sl_admission_webhook_free(w);
        return rc;
    }
    sl_metrics_set_help(w->rt->metrics, "sealift_admission_image_checks_total",
                        "Images the admission webhook checked, by how: cache (answered on the "
                        "event loop), worker (a registry check), coalesced (joined a running "
                        "check of the same image), rejected (queue full or shutting down).");
    sl_metrics_set_help(w->rt->metrics, "sealift_admission_check_queue_depth",
                        "Admission image checks waiting for a worker thread.");
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
    /* first: queued checks are answered (denied) and running ones finish into the cache */
    sl_workpool_free(w->pool);
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
