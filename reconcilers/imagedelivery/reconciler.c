/* The ImageDelivery reconciler (see reconciler.h).
 *
 * One reconcile is an ordered list of steps: read the spec, load credentials, open registry
 * clients, select the tags, then per tag resolve -> verify -> scan -> copy -> sign. Object-wide
 * problems (spec, Secrets, keys, source unreachable) record one outcome and stop; per-tag
 * problems are recorded against the conditions they affect and the other tags go on. finish()
 * builds status, conditions and events from those records in one place. */
#include "imagedelivery/reconciler.h"

#include "runtime/cloudcreds.h"
#include "imagedelivery/delivery.h"
#include "kube/pullsecrets.h"
#include "kube/secret.h"
#include "oci/aws.h"
#include "oci/azure.h"
#include "oci/gcp.h"
#include "oci/manifest.h"
#include "runtime/conditions.h"
#include "runtime/events.h"
#include "runtime/outcome.h"
#include "runtime/refindex.h"
#include "runtime/config.h"
#include "runtime/status.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_MAX           2048
#define MAX_TAGS          1000
#define SECRET_B64_MAX    ((size_t)1 << 20)
#define DOCKERCONFIG_KEY  ".dockerconfigjson"
#define DOCKERCONFIG_TYPE "kubernetes.io/dockerconfigjson"
/* spec.verify.authorities[] holds at most this many (the CRD's maxItems) */
#define VERIFY_MAX 8

/* ---- reference index for secondary watches ---- */

enum ref_kind { REF_SECRET, REF_SIGNINGKEY, REF_SCANPOLICY };

/* The kind names the index stores, by ref_kind. */
static const char *const ref_kind_names[] = {
    [REF_SECRET] = "Secret", [REF_SIGNINGKEY] = "SigningKey", [REF_SCANPOLICY] = "ScanPolicy"};

/* Secrets read recently, shared between reconciles: many ImageDeliveries of a namespace use
 * the same pull/push Secrets. An entry is dropped as soon as the Secret watch reports any event
 * for it (map_secondary runs before the reconciles it enqueues), and after SECRET_TTL_MS at the
 * latest, so a changed or deleted Secret is never used for long. */
#define SECRET_TTL_MS    5000
#define SECRET_CACHE_MAX 256

struct secret_entry {
    char *ns, *name;
    json_t *obj; /* read-only once stored */
    int64_t at_ms;
};

/* What this process verified itself: "host/repo@digest|key fingerprint" of each source digest
 * that carried a valid signature by that key. The verify gate trusts this record, never status
 * (which anyone who may write status could forge), and a key rotated in its Secret has another
 * fingerprint, so its digests are verified again. Bounded: the oldest entry goes. */
#define VERIFIED_MAX 4096

struct verified_entry {
    char *key;
    int64_t at_ms;
};

/* Signing keys opened from their Secrets, by namespace, Secret name and resourceVersion: a
 * cosign-format key costs one scrypt (64 MiB, about a quarter second) to open, which would
 * otherwise be paid by every reconcile that signs. An edited Secret has a new resourceVersion,
 * so its key is opened again. */
#define KEY_CACHE_MAX 16
struct key_entry {
    char *ns, *name, *rv;
    struct sl_key *key;
    int64_t at_ms;
};

struct imd_reconciler {
    struct sl_reconciler base;     /* first: the manager frees everything through base.free */
    pthread_mutex_t verified_lock; /* guards verified */
    struct verified_entry *verified;
    size_t nverified;
    pthread_mutex_t secrets_lock; /* guards secrets */
    struct secret_entry secrets[SECRET_CACHE_MAX];
    size_t nsecrets;
    struct key_entry keys[KEY_CACHE_MAX]; /* guarded by secrets_lock */
    size_t nkeys;
    struct sl_imd_registry_ops reg;
    struct sl_imd_registry_cache *cache; /* owned when the real ops are used */
    struct sl_scan_gate gate;            /* .scan NULL: no scanner in this controller */
    struct sl_attest_gate attest_gate;   /* .attest NULL: no attestations */
    struct sl_controller_config cc;      /* the administrator's settings (strings borrowed) */
    struct sl_refindex *refs;  /* which ImageDelivery references which Secret / key / policy */
    struct sl_cloud_ops cloud; /* provider: aws logins */
    struct sl_cloud_cache *cloud_cache;
    time_t (*wall_now)(void *clock_ctx); /* NULL: time(NULL) */
    void *clock_ctx;
};

struct ref_list {
    enum ref_kind kind[64];
    const char *name[64];
    size_t n;
};

static void ref_list_add(struct ref_list *l, enum ref_kind kind, const char *name)
{
    if (!name || !*name || l->n >= 64)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (l->kind[i] == kind && strcmp(l->name[i], name) == 0)
            return;
    l->kind[l->n] = kind;
    l->name[l->n++] = name;
}

/* Replaces what the index knows about ImageDelivery ns/name (l NULL: forget it). */
static void index_update(struct imd_reconciler *r, const char *ns, const char *name,
                         const struct ref_list *l)
{
    struct sl_refindex_ref refs[64] = {{NULL, NULL}};
    size_t n = 0;
    for (size_t k = 0; l && k < l->n; k++) {
        refs[n].kind = ref_kind_names[l->kind[k]];
        refs[n++].name = l->name[k];
    }
    sl_refindex_set(r->refs, ns, name, refs, n);
}

static void secret_cache_drop(struct imd_reconciler *r, const char *ns, const char *name);

static void map_secondary(void *self, const struct sl_kube_resource *res, const json_t *obj,
                          void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    struct imd_reconciler *r = self;
    const char *ns = sl_kube_obj_namespace(obj), *name = sl_kube_obj_name(obj);
    if (!ns || !name)
        return;
    enum ref_kind kind = REF_SECRET;
    if (strcmp(res->kind, "SigningKey") == 0)
        kind = REF_SIGNINGKEY;
    else if (strcmp(res->kind, "ScanPolicy") == 0)
        kind = REF_SCANPOLICY;
    else
        secret_cache_drop(r, ns, name); /* before the reconciles this enqueues read it */
    sl_refindex_enqueue(r->refs, ref_kind_names[kind], ns, name, enqueue, qctx);
}

/* ---- small helpers ---- */

/* Decodes a Secret value (the policy of kube/secret.h) into a NUL-terminated buffer (caller frees
 * with sl_secure_free(out, *out_len + 1)). Returns 0, SL_EINVAL or SL_ETOOBIG. */
static int base64_decode(char **out, size_t *out_len, const char *b64, size_t len)
{
    if (len > SECRET_B64_MAX)
        return SL_ETOOBIG;
    unsigned char *buf = NULL;
    int rc = sl_kube_secret_decode(&buf, out_len, b64, len);
    if (rc == 0)
        *out = (char *)buf;
    return rc;
}

static void secret_entry_free(struct secret_entry *e)
{
    free(e->ns);
    free(e->name);
    sl_kube_secret_decref(e->obj);
}

/* A new reference to the cached Secret ns/name when fresh, else NULL. */
static json_t *secret_cache_get(struct imd_reconciler *r, const char *ns, const char *name)
{
    json_t *obj = NULL;
    int64_t now = sl_mono_ms();
    pthread_mutex_lock(&r->secrets_lock);
    for (size_t i = 0; i < r->nsecrets; i++) {
        struct secret_entry *e = &r->secrets[i];
        if (strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0) {
            if (now - e->at_ms < SECRET_TTL_MS)
                obj = json_incref(e->obj);
            break;
        }
    }
    pthread_mutex_unlock(&r->secrets_lock);
    return obj;
}

/* Drops ns/name from the cache (name NULL: every entry). Lock held. */
static void secret_cache_drop_locked(struct imd_reconciler *r, const char *ns, const char *name)
{
    size_t w = 0;
    for (size_t i = 0; i < r->nsecrets; i++) {
        struct secret_entry *e = &r->secrets[i];
        if (!name || (strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0)) {
            secret_entry_free(e);
            continue;
        }
        r->secrets[w++] = *e;
    }
    r->nsecrets = w;
}

static void secret_cache_drop(struct imd_reconciler *r, const char *ns, const char *name)
{
    pthread_mutex_lock(&r->secrets_lock);
    secret_cache_drop_locked(r, ns, name);
    pthread_mutex_unlock(&r->secrets_lock);
}

/* Stores obj (a new reference is taken) as read at read_ms. */
static void secret_cache_put(struct imd_reconciler *r, const char *ns, const char *name,
                             json_t *obj, int64_t read_ms)
{
    pthread_mutex_lock(&r->secrets_lock);
    secret_cache_drop_locked(r, ns, name);
    int64_t now = sl_mono_ms();
    size_t w = 0;
    for (size_t i = 0; i < r->nsecrets; i++) {
        if (now - r->secrets[i].at_ms >= SECRET_TTL_MS) {
            secret_entry_free(&r->secrets[i]);
            continue;
        }
        r->secrets[w++] = r->secrets[i];
    }
    r->nsecrets = w;
    if (r->nsecrets < SECRET_CACHE_MAX) {
        r->secrets[r->nsecrets++] = (struct secret_entry){.ns = sl_xstrdup(ns),
                                                          .name = sl_xstrdup(name),
                                                          .obj = json_incref(obj),
                                                          .at_ms = read_ms};
    }
    pthread_mutex_unlock(&r->secrets_lock);
}

/* A new handle on the key opened from Secret ns/name at resourceVersion rv, or NULL. */
static struct sl_key *key_cache_get(struct imd_reconciler *r, const char *ns, const char *name,
                                    const char *rv)
{
    struct sl_key *key = NULL;
    pthread_mutex_lock(&r->secrets_lock);
    for (size_t i = 0; i < r->nkeys && !key; i++) {
        struct key_entry *e = &r->keys[i];
        if (strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0 && strcmp(e->rv, rv) == 0) {
            key = sl_key_ref(e->key);
            e->at_ms = sl_mono_ms();
        }
    }
    pthread_mutex_unlock(&r->secrets_lock);
    return key;
}

static void key_entry_free(struct key_entry *e)
{
    free(e->ns);
    free(e->name);
    free(e->rv);
    sl_key_free(e->key);
}

/* Keeps a handle on key as opened from Secret ns/name at resourceVersion rv, replacing what
 * was kept for that Secret (and the least recently used entry when full). */
static void key_cache_put(struct imd_reconciler *r, const char *ns, const char *name,
                          const char *rv, const struct sl_key *key)
{
    pthread_mutex_lock(&r->secrets_lock);
    size_t w = 0;
    for (size_t i = 0; i < r->nkeys; i++) {
        if (strcmp(r->keys[i].ns, ns) == 0 && strcmp(r->keys[i].name, name) == 0) {
            key_entry_free(&r->keys[i]);
            continue;
        }
        r->keys[w++] = r->keys[i];
    }
    r->nkeys = w;
    if (r->nkeys == KEY_CACHE_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < r->nkeys; i++)
            if (r->keys[i].at_ms < r->keys[oldest].at_ms)
                oldest = i;
        key_entry_free(&r->keys[oldest]);
        r->keys[oldest] = r->keys[--r->nkeys];
    }
    r->keys[r->nkeys++] = (struct key_entry){.ns = sl_xstrdup(ns),
                                             .name = sl_xstrdup(name),
                                             .rv = sl_xstrdup(rv),
                                             .key = sl_key_ref(key),
                                             .at_ms = sl_mono_ms()};
    pthread_mutex_unlock(&r->secrets_lock);
}

static const char *str_or_null(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Appends "; " + text to a bounded message. */
static void msg_append(char *msg, size_t n, const char *text)
{
    size_t len = strlen(msg);
    if (len + 8 >= n)
        return;
    snprintf(msg + len, n - len, "%s%s", len ? "; " : "", text);
}

/* ---- the record of verified digests ---- */

static bool verified_known(struct imd_reconciler *r, const char *key)
{
    bool known = false;
    pthread_mutex_lock(&r->verified_lock);
    for (size_t i = 0; i < r->nverified && !known; i++)
        known = strcmp(r->verified[i].key, key) == 0;
    pthread_mutex_unlock(&r->verified_lock);
    return known;
}

static void verified_add(struct imd_reconciler *r, const char *key)
{
    if (verified_known(r, key))
        return;
    pthread_mutex_lock(&r->verified_lock);
    if (r->nverified == VERIFIED_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < r->nverified; i++)
            if (r->verified[i].at_ms < r->verified[oldest].at_ms)
                oldest = i;
        free(r->verified[oldest].key);
        r->verified[oldest] = r->verified[--r->nverified];
    }
    r->verified[r->nverified++] =
        (struct verified_entry){.key = sl_xstrdup(key), .at_ms = sl_mono_ms()};
    pthread_mutex_unlock(&r->verified_lock);
}

/* ---- one reconcile ---- */

struct endpoint {
    const char *field; /* "spec.source" or "spec.targets[i]" */
    const char *image; /* the spec's reference text */
    struct sl_ref ref;
    char *name;            /* "host/repo" (docker-reference for signatures) */
    const char *secret;    /* secretRef.name or NULL */
    const char *ca_secret; /* certSecretRef.name (ca.crt, tls.crt + tls.key) or NULL */
    bool insecure;         /* plain http allowed (https still verified) */
    bool skip_tls_verify;  /* insecureSkipTLSVerify: https without verification */
    /* serviceAccountName, or NULL: its imagePullSecrets give the credentials, or with
     * provider aws its identity does */
    const char *service_account;
    /* provider: generic (secretRef, imagePullSecrets), aws (Amazon ECR credentials of the
     * ServiceAccount's IAM role), azure (ACR credentials of its Entra ID application) or gcp
     * (Artifact Registry credentials of its workload identity or Google service account) */
    enum sl_cloud_provider provider;
    json_t *service_account_obj; /* read in step_credentials; names in refs point into it */
    struct sl_creds creds;
    bool have_creds;
    bool creds_cached; /* cloud credentials kept from an earlier login, not this pass's */
    bool relogged;     /* this pass logged in again after a refusal (at most once) */
    char *renewed_msg; /* the CloudCredentialsRenewed event's text until the registry's answer */
    /* certSecretRef's CA and client certificate (for this registry only), or empty */
    struct sl_kube_tls_secret tls;
    struct sl_registry *reg;
    int dead; /* a failure that will repeat for every tag: skip the rest */
    char dead_reason[64];
    char dead_msg[MSG_MAX];
    enum sl_result_kind dead_kind;
};

enum cond_id { C_VERIFIED, C_SCANNED, C_SYNCED, C_SIGNED, C_N };
static const char *const cond_names[C_N] = {"Verified", "Scanned", "Synced", "Signed"};

struct cond_agg {
    int failures;
    const char *status; /* of the first failure: "False" or "Unknown" */
    const char *reason;
    char msg[MSG_MAX];
};

#define REFERRER_TYPES_MAX 16

struct imd_run {
    struct imd_reconciler *r;
    struct sl_runtime *rt;
    const struct sl_reconcile_request *req;
    const json_t *obj;
    const json_t *old_status;
    const char *ns, *name;
    long long generation;
    bool spec_changed; /* generation != status.observedGeneration: re-verify, re-sign */
    char now[32];
    /* spec */
    struct endpoint src;
    struct endpoint *targets;
    size_t ntargets;
    const json_t *tags;
    const char *pattern;
    const char *pinned_digest;
    const char *target_tag;
    const char *platforms[SL_IMD_MAX_PLATFORMS];
    size_t nplatforms;
    bool immutable;
    const char *sign_key_name, *scan_policy;
    /* spec.verify.authorities[]: the SigningKey of each; a signature by any one verifies */
    const char *verify_key_names[VERIFY_MAX];
    size_t nverify;
    char verify_desc[1024]; /* `SigningKey "a"` or `one of SigningKeys "a", "b"` (messages) */
    bool sign_legacy, sign_bundle;                  /* spec.sign.format */
    const char *attest_sbom;                        /* spec.sign.attestations.sbom, NULL: none */
    bool attest_vuln;                               /* spec.sign.attestations.vuln */
    bool attest_vuln_optional;                      /* ... by default (not written explicitly) */
    bool copy_referrers;                            /* spec.referrers.copy */
    const char *referrer_types[REFERRER_TYPES_MAX]; /* spec.referrers.artifactTypes */
    size_t nreferrer_types;
    int64_t interval_ms;
    struct ref_list refs;
    /* keys, loaded when first needed */
    struct sl_key *verify_keys[VERIFY_MAX], *sign_key;
    char *sign_secret_name;
    bool verify_keys_loaded, verify_key_failed, sign_key_failed;
    /* gates */
    struct sl_scan_gate gate;
    bool have_gate;
    struct sl_attest_gate attest_gate;
    bool have_attest_gate;
    /* results */
    bool global_fail;
    const char *g_status, *g_reason;
    char g_msg[MSG_MAX];
    enum sl_result_kind kind;
    int64_t requeue_ms;
    bool auth_failed; /* a registry rejected credentials: retry slowly (sl_imd_auth_backoff_ms) */
    struct cond_agg conds[C_N];
    const char *first_reason; /* of the first failure that is not a gate's block */
    char ready_msg[MSG_MAX];  /* the lines of those failures */
    struct cond_agg blocked;  /* tags a gate refused (scan, signature): condition Blocked */
    size_t nblocked;
    char blocked_tags[512]; /* "1.4.0, 1.3.9" */
    json_t *failures;       /* distinct failures of this pass [{tag, reason, message}]: events */
    size_t ntags, verified_tags, signed_now;
    json_t *images;    /* new status.images */
    json_t *delivered; /* ["tag -> image", ...] written in this pass, for events */
    bool changed;      /* something was delivered or first found in sync */
    bool checked;      /* the pass completed a check of the registries (status.lastCheckTime) */
};

static void global_fail(struct imd_run *run, enum sl_result_kind kind, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void global_fail(struct imd_run *run, enum sl_result_kind kind, const char *reason,
                        const char *fmt, ...)
{
    run->global_fail = true;
    run->g_status = "False";
    run->g_reason = reason;
    run->kind = kind;
    run->requeue_ms = kind == SL_RESULT_WAITING ? SL_IMAGEDELIVERY_WAIT_MS : 0;
    /* (a function of another file: GCC's -Wstring-compare misjudges the inlined literal) */
    if (sl_imd_reason_is_auth_failure(reason))
        run->auth_failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->g_msg, sizeof(run->g_msg), fmt, ap);
    va_end(ap);
}

/* The reasons of a gate refusing a tag by policy (the scan found what the ScanPolicy forbids,
 * the signature the verify gate asks for is missing or invalid). Such a tag is "blocked": the
 * controller did its job, so it is reported in condition Blocked, not as a failure of the object,
 * and any other failure (credentials, registries) owns Ready. */
static bool reason_is_block(const char *reason)
{
    static const char *const blocks[] = {"ScanFailed", "SignatureMissing", "SignatureInvalid"};
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
        if (strcmp(reason, blocks[i]) == 0)
            return true;
    return false;
}

/* Remembers a failure for its event, once per reason and message in a pass (a target that
 * rejects credentials says the same for every tag). */
static void failure_note(struct imd_run *run, const char *tag, const char *reason, const char *msg)
{
    size_t i;
    json_t *f;
    json_array_foreach(run->failures, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "reason")), reason) == 0 &&
            strcmp(json_string_value(json_object_get(f, "message")), msg) == 0)
            return;
    }
    json_array_append_new(
        run->failures, json_pack("{s:s, s:s, s:s}", "tag", tag, "reason", reason, "message", msg));
}

/* Records a per-tag failure against condition c (status "False"/"Unknown"); also_synced: the tag
 * was not delivered, so Synced is False too (a blocked tag counts in Blocked instead). Appends to
 * the image's message. */
static void tag_fail(struct imd_run *run, json_t *img, enum cond_id c, const char *status,
                     bool also_synced, const char *reason, enum sl_result_kind kind,
                     const char *msg)
{
    char line[MSG_MAX];
    const char *tag = json_string_value(json_object_get(img, "tag"));
    snprintf(line, sizeof(line), "tag %s: %s", tag ? tag : "?", msg);
    bool blocked = reason_is_block(reason);
    enum cond_id ids[2] = {c, C_SYNCED};
    int nids = also_synced && c != C_SYNCED && !blocked ? 2 : 1;
    for (int i = 0; i < nids; i++) {
        struct cond_agg *a = &run->conds[ids[i]];
        if (a->failures++ == 0) {
            a->status = i == 0 ? status : "False";
            a->reason = reason;
        }
        msg_append(a->msg, sizeof(a->msg), line);
    }
    failure_note(run, tag ? tag : "?", reason, msg);
    if (blocked) {
        if (run->blocked.failures++ == 0) {
            run->blocked.status = "True";
            run->blocked.reason = reason;
        }
        msg_append(run->blocked.msg, sizeof(run->blocked.msg), line);
        run->nblocked++;
        size_t len = strlen(run->blocked_tags);
        if (len + 8 < sizeof(run->blocked_tags))
            snprintf(run->blocked_tags + len, sizeof(run->blocked_tags) - len, "%s%s",
                     len ? ", " : "", tag ? tag : "?");
    } else {
        if (!run->first_reason)
            run->first_reason = reason;
        msg_append(run->ready_msg, sizeof(run->ready_msg), line);
    }
    /* (a function of another file: GCC's -Wstring-compare misjudges the inlined literal) */
    if (sl_imd_reason_is_auth_failure(reason))
        run->auth_failed = true;
    run->kind = sl_imd_worse_kind(run->kind, kind);
    if (kind == SL_RESULT_WAITING)
        run->requeue_ms = SL_IMAGEDELIVERY_WAIT_MS;
    const char *old = json_string_value(json_object_get(img, "message"));
    char m[MSG_MAX] = "";
    if (old)
        snprintf(m, sizeof(m), "%s", old);
    msg_append(m, sizeof(m), msg);
    json_object_set_new(img, "message", json_string(m));
}

/* spec.sign.format: legacy (default), bundle or both. */
static int parse_sign_format(struct imd_run *run, const json_t *sign)
{
    const char *f = str_or_null(sign, "format");
    run->sign_legacy = !f || strcmp(f, "legacy") == 0 || strcmp(f, "both") == 0;
    run->sign_bundle = f && (strcmp(f, "bundle") == 0 || strcmp(f, "both") == 0);
    if (!run->sign_legacy && !run->sign_bundle) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.sign.format: Unsupported value: \"%.64s\": supported values: "
                    "\"legacy\", \"bundle\", \"both\"",
                    f);
        return -1;
    }
    /* spec.sign.attestations: an SPDX SBOM by default, and a vulnerability report when the
     * delivery is scanned */
    const json_t *att = json_object_get(sign, "attestations");
    const char *sbom = str_or_null(att, "sbom");
    const json_t *vuln = json_object_get(att, "vuln");
    if (sbom && strcmp(sbom, "spdx") != 0 && strcmp(sbom, "cyclonedx") != 0 &&
        strcmp(sbom, "none") != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.sign.attestations.sbom: Unsupported value: \"%.64s\": supported "
                    "values: \"spdx\", \"cyclonedx\", \"none\"",
                    sbom);
        return -1;
    }
    run->attest_sbom = !sbom ? "spdx" : strcmp(sbom, "none") == 0 ? NULL : sbom;
    run->attest_vuln = json_is_boolean(vuln) ? json_is_true(vuln) : run->scan_policy != NULL;
    run->attest_vuln_optional = !json_is_boolean(vuln);
    if (run->attest_vuln && !run->scan_policy) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.sign.attestations.vuln: a vulnerability attestation needs "
                    "spec.scanPolicyRef (the ScanPolicy whose database it reports)");
        return -1;
    }
    return 0;
}

/* spec.referrers: copy (default true) and artifactTypes (default: all). */
static int parse_referrers(struct imd_run *run, const json_t *referrers)
{
    const json_t *copy = json_object_get(referrers, "copy");
    run->copy_referrers = !json_is_false(copy);
    const json_t *types = json_object_get(referrers, "artifactTypes");
    size_t i;
    const json_t *t;
    json_array_foreach(types, i, t)
    {
        const char *v = json_string_value(t);
        if (!v || !*v || strlen(v) > 127 || i >= REFERRER_TYPES_MAX) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.referrers.artifactTypes[%zu]: at most %d media types of at most "
                        "127 characters",
                        i, REFERRER_TYPES_MAX);
            return -1;
        }
        run->referrer_types[run->nreferrer_types++] = v;
    }
    return 0;
}

/* provider: generic (default), aws, azure or gcp (sl_cloud_provider_parse). */
static int parse_provider(struct imd_run *run, struct endpoint *ep, const json_t *spec_ep)
{
    struct sl_cloud_fail fail;
    if (sl_cloud_provider_parse(&ep->provider, str_or_null(spec_ep, "provider"), ep->ref.registry,
                                ep->service_account, ep->insecure, ep->skip_tls_verify,
                                run->r->cc.workload_identity, ep->field, &fail) != 0) {
        global_fail(run, fail.kind, fail.reason, "%s", fail.message);
        return -1;
    }
    return 0;
}

static int parse_endpoint(struct imd_run *run, struct endpoint *ep, const json_t *spec_ep,
                          const char *field)
{
    struct sl_err err = {0};
    ep->field = field;
    ep->image = str_or_null(spec_ep, "image");
    if (!ep->image) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec", "%s.image: Required value", field);
        return -1;
    }
    if (sl_ref_parse(&ep->ref, ep->image, &err) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "%s.image: invalid reference \"%.300s\": %s", field, ep->image, err.msg);
        return -1;
    }
    if (ep->ref.tag || ep->ref.digest) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "%s.image: \"%.300s\" must name a repository without tag or digest (select "
                    "tags with spec.source.tags, tagPattern or digest)",
                    field, ep->image);
        return -1;
    }
    ep->name = sl_xasprintf("%s/%s", ep->ref.registry, ep->ref.repository);
    ep->secret = str_or_null(json_object_get(spec_ep, "secretRef"), "name");
    ep->ca_secret = str_or_null(json_object_get(spec_ep, "certSecretRef"), "name");
    ep->service_account = str_or_null(spec_ep, "serviceAccountName");
    ep->insecure = json_is_true(json_object_get(spec_ep, "insecure"));
    ep->skip_tls_verify = json_is_true(json_object_get(spec_ep, "insecureSkipTLSVerify"));
    ref_list_add(&run->refs, REF_SECRET, ep->secret);
    ref_list_add(&run->refs, REF_SECRET, ep->ca_secret);
    if (ep->secret && ep->service_account) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "%s: set at most one of secretRef and serviceAccountName", field);
        return -1;
    }
    if (parse_provider(run, ep, spec_ep) != 0)
        return -1;
    /* plain http and unverified TLS reach only the registries the administrator listed: else a
     * tenant could point the controller at any in-cluster http endpoint, with credentials */
    if ((ep->insecure || ep->skip_tls_verify) &&
        !sl_controller_insecure_allowed(&run->r->cc, sl_ref_api_host(&ep->ref))) {
        global_fail(run, SL_RESULT_STALLED, "InsecureRegistryNotAllowed",
                    "%s.%s: registry %s is not one this controller may reach over plain "
                    "http or without TLS verification (the administrator allows such registries "
                    "with --insecure-registry); nothing was sent to it",
                    field, ep->insecure ? "insecure" : "insecureSkipTLSVerify",
                    sl_ref_api_host(&ep->ref));
        return -1;
    }
    return 0;
}

static int parse_targets(struct imd_run *run, const json_t *spec);
static int parse_tag_selection(struct imd_run *run, const json_t *spec, const json_t *source);
static int parse_platforms(struct imd_run *run, const json_t *spec);

/* run->verify_desc: how messages name the verify keys */
static void describe_verify_keys(struct imd_run *run)
{
    size_t used = (size_t)snprintf(run->verify_desc, sizeof(run->verify_desc), "%s",
                                   run->nverify > 1 ? "one of SigningKeys " : "SigningKey ");
    for (size_t i = 0; i < run->nverify && used < sizeof(run->verify_desc); i++)
        used += (size_t)snprintf(run->verify_desc + used, sizeof(run->verify_desc) - used,
                                 "%s\"%.253s\"", i ? ", " : "", run->verify_key_names[i]);
}

/* Reads and checks the spec, in this order: the references (before anything can fail),
 * interval, sign format, referrers, source, targets, tag selection, platforms. */
static int step_read_spec(struct imd_run *run)
{
    const json_t *spec = json_object_get(run->obj, "spec");
    const json_t *source = json_object_get(spec, "source");
    /* remember references first, so a Secret that appears later enqueues this object (and
     * status knows which gates the spec has, whatever fails below) */
    const json_t *authorities = json_object_get(json_object_get(spec, "verify"), "authorities");
    size_t i;
    const json_t *authority;
    json_array_foreach(authorities, i, authority)
    {
        const char *key = str_or_null(
            json_object_get(json_object_get(authority, "key"), "signingKeyRef"), "name");
        if (key && run->nverify < VERIFY_MAX) {
            run->verify_key_names[run->nverify++] = key;
            ref_list_add(&run->refs, REF_SIGNINGKEY, key);
        }
    }
    describe_verify_keys(run);
    run->sign_key_name =
        str_or_null(json_object_get(json_object_get(spec, "sign"), "signingKeyRef"), "name");
    run->scan_policy = str_or_null(json_object_get(spec, "scanPolicyRef"), "name");
    ref_list_add(&run->refs, REF_SIGNINGKEY, run->sign_key_name);
    ref_list_add(&run->refs, REF_SCANPOLICY, run->scan_policy);
    if (json_array_size(authorities) > VERIFY_MAX || run->nverify < json_array_size(authorities)) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.verify.authorities: at most %d authorities, each with "
                    "key.signingKeyRef.name",
                    VERIFY_MAX);
        return -1;
    }
    run->interval_ms = SL_IMAGEDELIVERY_DEFAULT_INTERVAL_MS;
    const char *interval = str_or_null(spec, "interval");
    if (interval &&
        (sl_duration_parse_ms(&run->interval_ms, interval) != 0 || run->interval_ms <= 0)) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.interval: invalid duration \"%.64s\"", interval);
        return -1;
    }
    /* the administrator's --min-interval bounds how often a tenant makes us poll registries */
    run->interval_ms = sl_controller_clamp_interval_ms(&run->r->cc, run->interval_ms);
    if (parse_sign_format(run, json_object_get(spec, "sign")) != 0 ||
        parse_referrers(run, json_object_get(spec, "referrers")) != 0)
        return -1;

    if (parse_endpoint(run, &run->src, source, "spec.source") != 0 ||
        parse_targets(run, spec) != 0 || parse_tag_selection(run, spec, source) != 0 ||
        parse_platforms(run, spec) != 0)
        return -1;
    run->immutable = !json_is_false(json_object_get(spec, "immutableTags"));
    return 0;
}

/* spec.targets: at least one, each an endpoint (parse_endpoint). Returns 0 or -1 with the
 * outcome recorded. */
static int parse_targets(struct imd_run *run, const json_t *spec)
{
    const json_t *targets = json_object_get(spec, "targets");
    if (!json_is_array(targets) || json_array_size(targets) == 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.targets: Required value: at least one target");
        return -1;
    }
    run->ntargets = json_array_size(targets);
    run->targets = sl_xcalloc(run->ntargets, sizeof(*run->targets));
    for (size_t i = 0; i < run->ntargets; i++) {
        char *field = sl_xasprintf("spec.targets[%zu]", i);
        int rc = parse_endpoint(run, &run->targets[i], json_array_get(targets, i), field);
        /* field strings live as long as the run: keep them in the endpoint */
        run->targets[i].field = field;
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Which tags of the source are delivered: exactly one of spec.source.tags, tagPattern and digest
 * (with spec.targetTag). Returns 0 or -1 with the outcome recorded. */
static int parse_tag_selection(struct imd_run *run, const json_t *spec, const json_t *source)
{
    struct sl_err err = {0};
    run->tags = json_object_get(source, "tags");
    if (json_is_array(run->tags) && json_array_size(run->tags) == 0)
        run->tags = NULL;
    run->pattern = str_or_null(source, "tagPattern");
    run->pinned_digest = str_or_null(source, "digest");
    run->target_tag = str_or_null(spec, "targetTag");
    int selectors = (run->tags != NULL) + (run->pattern != NULL) + (run->pinned_digest != NULL);
    if (selectors != 1) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.source: set exactly one of tags, tagPattern or digest (%d set)",
                    selectors);
        return -1;
    }
    if (run->tags) {
        size_t i;
        json_t *t;
        json_array_foreach(run->tags, i, t)
        {
            if (!json_is_string(t) || !sl_ref_is_tag(json_string_value(t))) {
                global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                            "spec.source.tags[%zu]: not a valid tag", i);
                return -1;
            }
        }
    }
    if (run->pattern && sl_imd_pattern_check(run->pattern, &err) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec", "spec.source.tagPattern: %s", err.msg);
        return -1;
    }
    if (run->pinned_digest) {
        if (!sl_ref_is_digest(run->pinned_digest)) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.source.digest: not a sha256 digest");
            return -1;
        }
        if (!run->target_tag) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.targetTag: Required value: spec.source.digest is delivered under "
                        "spec.targetTag");
            return -1;
        }
    } else if (run->target_tag) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.targetTag: only allowed with spec.source.digest");
        return -1;
    }
    if (run->target_tag && !sl_ref_is_tag(run->target_tag)) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec", "spec.targetTag: not a valid tag");
        return -1;
    }
    return 0;
}

/* spec.platforms: at most SL_IMD_MAX_PLATFORMS "os/arch[/variant]" selectors. Returns 0 or -1
 * with the outcome recorded. */
static int parse_platforms(struct imd_run *run, const json_t *spec)
{
    struct sl_err err = {0};
    const json_t *platforms = json_object_get(spec, "platforms");
    if (json_array_size(platforms) > SL_IMD_MAX_PLATFORMS) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec", "spec.platforms: at most %d platforms",
                    SL_IMD_MAX_PLATFORMS);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(platforms); i++) {
        const char *p = json_string_value(json_array_get(platforms, i));
        struct sl_platform pl;
        if (!p || sl_platform_parse(&pl, p, &err) != 0) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSpec", "spec.platforms[%zu]: %s", i,
                        p ? err.msg : "not a string");
            return -1;
        }
        run->platforms[run->nplatforms++] = p;
    }
    return 0;
}

/* Reads Secret name of the object's namespace through the reconciler's cache; returns as
 * sl_kube_secret_get (an sl_kube_secret_getter for sl_kube_pull_secrets_find). */
static int cached_secret_get(void *ctx, json_t **out, const char *name, const char *field,
                             struct sl_err *err)
{
    struct imd_run *run = ctx;
    *out = secret_cache_get(run->r, run->ns, name);
    if (*out)
        return 0;
    int64_t read_ms = sl_mono_ms();
    int rc = sl_kube_secret_get(out, &run->rt->kube, run->ns, name, field, err);
    if (rc == 0)
        secret_cache_put(run->r, run->ns, name, *out, read_ms);
    return rc;
}

/* Reads Secret name of the object's namespace. On failure records the outcome (field names
 * where it is referenced) and returns -1. */
static int get_secret(struct imd_run *run, json_t **out, const char *name, const char *field)
{
    struct sl_err err = {0};
    int rc = cached_secret_get(run, out, name, field, &err);
    if (rc == SL_ENOTFOUND) {
        global_fail(run, SL_RESULT_WAITING, "SecretNotFound", "%s", err.msg);
        return -1;
    }
    if (rc != 0) {
        global_fail(run, SL_RESULT_TRANSIENT, "APIError", "%s", err.msg);
        return -1;
    }
    return 0;
}

/* Decoded data[key] of a Secret; 0, or -1 with the outcome recorded. */
static int secret_value(struct imd_run *run, char **out, size_t *out_len, const json_t *secret,
                        const char *key, const char *field, const char *name)
{
    const json_t *v = json_object_get(json_object_get(secret, "data"), key);
    if (!json_is_string(v)) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSecret", "%s: Secret \"%s\" has no key %s",
                    field, name, key);
        return -1;
    }
    if (base64_decode(out, out_len, json_string_value(v), json_string_length(v)) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSecret",
                    "%s: Secret \"%s\" key %s: invalid base64 or too large", field, name, key);
        return -1;
    }
    return 0;
}

/* The certSecretRef Secret of ep: ca.crt (CAs to trust besides the system's) and/or tls.crt +
 * tls.key (a client certificate presented to ep's registry only), checked before any
 * connection. Returns 0, or -1 with the outcome recorded (naming the Secret and the key, never
 * what the key holds). */
static int load_cert_secret(struct imd_run *run, struct endpoint *ep, const json_t *secret,
                            const char *field)
{
    struct sl_err err = {0};
    if (sl_kube_secret_tls(&ep->tls, secret, ep->ca_secret, &err) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSecret", "%s: %s", field, err.msg);
        return -1;
    }
    return 0;
}

struct sa_match {
    struct imd_run *run;
    struct endpoint *ep;
};

static int sa_secret_get(void *ctx, json_t **out, const char *name, const char *field,
                         struct sl_err *err)
{
    return cached_secret_get(((struct sa_match *)ctx)->run, out, name, field, err);
}

/* the endpoint's credentials from one pull Secret's text */
static int sa_match_creds(void *ctx, const char *json, size_t len, struct sl_err *err)
{
    struct endpoint *ep = ((struct sa_match *)ctx)->ep;
    return sl_dockerconfig_lookup(&ep->creds, json, len, ep->ref.registry, err);
}

/* Credentials for ep's registry from the imagePullSecrets of ServiceAccount
 * ep->service_account of the object's namespace (kube/pullsecrets.h: as kubelet uses them). A
 * missing ServiceAccount or Secret, or no entry for the host in any of them, stops the delivery
 * (never an anonymous attempt instead). Returns 0 with ep->creds set, or -1 with the outcome
 * recorded. */
static int load_service_account_creds(struct imd_run *run, struct endpoint *ep)
{
    struct sl_err err = {0};
    struct sa_match m = {run, ep};
    const char *reason = "APIError";
    struct sl_kube_pull_request req = {.kube = &run->rt->kube,
                                       .ns = run->ns,
                                       .service_account = ep->service_account,
                                       .field = ep->field,
                                       .registry = ep->ref.registry,
                                       .get_secret = sa_secret_get,
                                       .match = sa_match_creds,
                                       .ctx = &m};
    int rc = sl_kube_pull_secrets_find(&ep->service_account_obj, &reason, &req, &err);
    const char *names[SL_KUBE_PULL_SECRETS_MAX];
    size_t n = sl_kube_pull_secret_names(ep->service_account_obj, names, SL_KUBE_PULL_SECRETS_MAX);
    for (size_t i = 0; i < n; i++)
        ref_list_add(&run->refs, REF_SECRET, names[i]);
    if (rc == 0) {
        ep->have_creds = true;
        return 0;
    }
    global_fail(run, sl_outcome_kind_for_read(rc), reason, "%s", err.msg);
    return -1;
}

/* provider aws, azure or gcp: registry credentials for ep from the cloud identity of
 * ServiceAccount ep->service_account (sl_cloud_creds_load). Returns 0 with ep->creds set, or -1
 * with the outcome recorded. */
static void cloud_request(struct imd_run *run, const struct endpoint *ep,
                          struct sl_cloud_request *req)
{
    struct imd_reconciler *r = run->r;
    *req = (struct sl_cloud_request){
        .kube = &run->rt->kube,
        .ns = run->ns,
        .service_account = ep->service_account,
        .field = ep->field,
        .registry = ep->ref.registry,
        .provider = ep->provider,
        .registry_tls = &ep->tls,
        .ops = &r->cloud,
        .cache = r->cloud_cache,
        .now_unix = (int64_t)(r->wall_now ? r->wall_now(r->clock_ctx) : time(NULL)),
    };
}

static int load_cloud_creds(struct imd_run *run, struct endpoint *ep)
{
    struct sl_cloud_fail fail;
    struct sl_cloud_request req;
    cloud_request(run, ep, &req);
    if (sl_cloud_creds_load(&ep->creds, &ep->creds_cached, &req, &fail) != 0) {
        global_fail(run, fail.kind, fail.reason, "%s", fail.message);
        return -1;
    }
    ep->have_creds = true;
    return 0;
}

static int load_endpoint_secrets(struct imd_run *run, struct endpoint *ep)
{
    json_t *secret = NULL;
    char *text = NULL;
    size_t len = 0;
    char field[96];
    int rc = 0;
    if (ep->secret) {
        snprintf(field, sizeof(field), "%s.secretRef.name", ep->field);
        if ((rc = get_secret(run, &secret, ep->secret, field)) != 0)
            goto done;
        const char *type = json_string_value(json_object_get(secret, "type"));
        if (type && strcmp(type, DOCKERCONFIG_TYPE) != 0) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSecret",
                        "%s: Secret \"%s\" is of type %.100s, not " DOCKERCONFIG_TYPE, field,
                        ep->secret, type);
            rc = -1;
            goto done;
        }
        if ((rc = secret_value(run, &text, &len, secret, DOCKERCONFIG_KEY, field, ep->secret)) != 0)
            goto done;
        struct sl_err err = {0};
        int lrc = sl_dockerconfig_lookup(&ep->creds, text, len, ep->ref.registry, &err);
        if (lrc == SL_ENOTFOUND) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSecret",
                        "%s: Secret \"%s\" has no credentials for registry %s", field, ep->secret,
                        ep->ref.registry);
            rc = -1;
            goto done;
        }
        if (lrc != 0) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSecret", "%s: Secret \"%s\": %s", field,
                        ep->secret, err.msg);
            rc = -1;
            goto done;
        }
        ep->have_creds = true;
        sl_secure_free(text, len + 1);
        text = NULL;
        sl_kube_secret_decref(secret);
        secret = NULL;
    }
    if (ep->provider == SL_CLOUD_GENERIC && ep->service_account &&
        (rc = load_service_account_creds(run, ep)) != 0)
        goto done;
    if (ep->ca_secret) {
        snprintf(field, sizeof(field), "%s.certSecretRef.name", ep->field);
        if ((rc = get_secret(run, &secret, ep->ca_secret, field)) != 0)
            goto done;
        if ((rc = load_cert_secret(run, ep, secret, field)) != 0)
            goto done;
    }
    /* after certSecretRef: Azure's exchange is with the registry itself, over its TLS */
    if (ep->provider != SL_CLOUD_GENERIC)
        rc = load_cloud_creds(run, ep);
done:
    if (text)
        sl_secure_free(text, len + 1);
    sl_kube_secret_decref(secret);
    return rc;
}

static int step_credentials(struct imd_run *run)
{
    if (load_endpoint_secrets(run, &run->src) != 0)
        return -1;
    for (size_t i = 0; i < run->ntargets; i++)
        if (load_endpoint_secrets(run, &run->targets[i]) != 0)
            return -1;
    return 0;
}

static void open_endpoint(struct imd_run *run, struct endpoint *ep)
{
    /* the source client shares its read answers between the deliveries of one vendor image;
     * target clients always ask (their answers are the delivery's drift check) */
    struct sl_registry_opts opts = {.allow_http = ep->insecure,
                                    .skip_tls_verify = ep->skip_tls_verify,
                                    .ca_pem = ep->tls.ca_pem,
                                    .client_cert_pem = ep->tls.cert_pem,
                                    .client_key_pem = ep->tls.key_pem,
                                    .read_cache_ms = ep == &run->src ? SL_IMD_RESOLVE_TTL_MS : 0};
    ep->reg = run->r->reg.open(run->r->reg.ctx, sl_ref_api_host(&ep->ref),
                               ep->have_creds ? &ep->creds : NULL, &opts);
}

/* ep's registry refused its credentials (SL_EAUTH). Cloud credentials are forgotten, so no
 * later pass offers them again before they near expiry; the next pass logs in anew. A Secret's
 * credentials are the user's to change (the Secret's change queues the object). */
static void endpoint_refused(struct imd_run *run, struct endpoint *ep)
{
    if (ep->provider == SL_CLOUD_GENERIC || !ep->have_creds)
        return;
    struct sl_cloud_request req;
    cloud_request(run, ep, &req);
    sl_cloud_creds_forget(&req, &ep->creds);
}

/* An operation with both endpoints was refused: the one whose registry the message names
 * (registry errors name the URL they asked), both when it names neither or both. */
static void endpoints_refused(struct imd_run *run, struct endpoint *a, struct endpoint *b,
                              const char *msg)
{
    bool in_a = a->reg && strstr(msg, sl_registry_host(a->reg)) != NULL;
    bool in_b = b->reg && strstr(msg, sl_registry_host(b->reg)) != NULL;
    if (in_a || !in_b)
        endpoint_refused(run, a);
    if (in_b || !in_a)
        endpoint_refused(run, b);
}

/* ep's registry refused its credentials in an operation that can simply be asked again
 * (listing tags, resolving, the HEAD of a target); refusal is its error message. Forgets them
 * (endpoint_refused). When they came from the cache and this pass has not logged in for ep
 * again yet, logs in, reopens ep's client with the new credentials and keeps the text of a
 * Normal event for endpoint_renewal_done: returns 1, the caller asks once more, then calls
 * endpoint_renewal_done with the answer. At most once per endpoint and pass, so a
 * registry that refuses new credentials too costs one login, never a loop. Returns 0 when the
 * caller records the refusal as it is, -1 when the new login failed (recorded as the object's
 * failure). */
static int endpoint_relogin(struct imd_run *run, struct endpoint *ep, const char *refusal)
{
    endpoint_refused(run, ep);
    if (ep->provider == SL_CLOUD_GENERIC || !ep->creds_cached || ep->relogged)
        return 0;
    ep->relogged = true;
    struct sl_creds fresh = {0};
    bool cached = false;
    struct sl_cloud_fail fail;
    struct sl_cloud_request req;
    cloud_request(run, ep, &req);
    if (sl_cloud_creds_load(&fresh, &cached, &req, &fail) != 0) {
        global_fail(run, fail.kind, fail.reason,
                    "%s (after the registry refused the credentials kept from the last login: "
                    "%.600s)",
                    fail.message, refusal);
        return -1;
    }
    sl_creds_free(&ep->creds);
    ep->creds = fresh;
    ep->creds_cached = cached;
    if (ep->reg)
        run->r->reg.release(run->r->reg.ctx, ep->reg);
    ep->reg = NULL;
    open_endpoint(run, ep);
    char msg[MSG_MAX];
    snprintf(msg, sizeof(msg),
             "%s (%s): the registry refused the cloud credentials kept from the last login "
             "(%.600s); logged in again as ServiceAccount %s/%s",
             ep->field, ep->name, refusal, run->ns, ep->service_account);
    free(ep->renewed_msg);
    ep->renewed_msg = sl_xstrdup(msg);
    return 1;
}

/* After the operation asked again with the credentials of endpoint_relogin's new login (rc its
 * result): the Normal event CloudCredentialsRenewed only when the registry took them; a refusal
 * of the new credentials too is the object's failure, and no event claims a renewal. */
static void endpoint_renewal_done(struct imd_run *run, struct endpoint *ep, int rc)
{
    if (!ep->renewed_msg)
        return;
    if (rc != SL_EAUTH)
        sl_runtime_event(run->rt, run->obj, "Normal", "CloudCredentialsRenewed", ep->renewed_msg);
    free(ep->renewed_msg);
    ep->renewed_msg = NULL;
}

static void endpoint_clear(struct imd_run *run, struct endpoint *ep)
{
    if (ep->reg)
        run->r->reg.release(run->r->reg.ctx, ep->reg);
    sl_ref_free(&ep->ref);
    sl_creds_free(&ep->creds);
    free(ep->name);
    free(ep->renewed_msg);
    sl_kube_tls_secret_clear(&ep->tls);
    json_decref(ep->service_account_obj);
}

/* ---- keys ---- */

static int get_signingkey(struct imd_run *run, json_t **out, const char *name, const char *field)
{
    struct sl_err err = {0};
    int rc = run->rt->kube.get(run->rt->kube.ctx, out, &SL_RES_SIGNINGKEY, run->ns, name, &err);
    if (rc == SL_ENOTFOUND) {
        global_fail(run, SL_RESULT_WAITING, "SigningKeyNotFound",
                    "%s: SigningKey \"%s\" not found in namespace %s", field, name, run->ns);
        return -1;
    }
    if (rc != 0) {
        global_fail(run, SL_RESULT_TRANSIENT, "APIError", "%s: reading SigningKey \"%s\": %s",
                    field, name, err.msg);
        return -1;
    }
    return 0;
}

static void signingkey_not_ready(struct imd_run *run, const json_t *sk, const char *field,
                                 const char *name, const char *what)
{
    json_t *ready = sl_condition_get(json_object_get(sk, "status"), "Ready");
    const char *m = json_string_value(json_object_get(ready, "message"));
    global_fail(run, SL_RESULT_WAITING, "SigningKeyNotReady", "%s: SigningKey \"%s\" %s%s%.400s",
                field, name, what, m ? ": " : "", m ? m : "");
}

/* The public key of the SigningKey name (the spec's field names it): status.publicKey, else its
 * ConfigMap or Secret cosign.pub, into *out. 0, or -1 with the outcome recorded. */
static int load_public_key(struct imd_run *run, struct sl_key **out, const char *name,
                           const char *field)
{
    json_t *sk = NULL, *cm = NULL, *secret = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    int rc = -1;
    if (get_signingkey(run, &sk, name, field) != 0)
        goto done;
    struct sl_err err = {0};
    const char *status_pem = sl_kube_json_path_str(sk, "status.publicKey");
    if (status_pem && *status_pem) {
        pem = sl_xstrdup(status_pem);
        pem_len = strlen(pem);
    }
    /* the ConfigMap a VerifyOnly key reads, else the one a key with a Secret publishes to */
    const char *cm_name = sl_kube_json_path_str(sk, "spec.publicKey.configMapRef.name");
    if (!cm_name)
        cm_name = sl_kube_json_path_str(sk, "spec.publishKey.configMapRef.name");
    if (!pem && cm_name &&
        run->rt->kube.get(run->rt->kube.ctx, &cm, &SL_RES_CONFIGMAP, run->ns, cm_name, &err) == 0) {
        const char *v =
            json_string_value(json_object_get(json_object_get(cm, "data"), "cosign.pub"));
        if (v) {
            pem = sl_xstrdup(v);
            pem_len = strlen(pem);
        }
    }
    const char *sec_name = sl_kube_json_path_str(sk, "spec.secretRef.name");
    if (!pem && sec_name &&
        run->rt->kube.get(run->rt->kube.ctx, &secret, &SL_RES_SECRET, run->ns, sec_name, &err) ==
            0) {
        const json_t *v = json_object_get(json_object_get(secret, "data"), "cosign.pub");
        if (json_is_string(v) &&
            base64_decode(&pem, &pem_len, json_string_value(v), json_string_length(v)) != 0)
            pem = NULL;
    }
    if (!pem) {
        signingkey_not_ready(run, sk, field, name, "has no public key yet");
        goto done;
    }
    if (sl_key_load_public_pem(out, pem, pem_len, &err) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSigningKey",
                    "%s: SigningKey \"%s\": public key: %s", field, name, err.msg);
        goto done;
    }
    rc = 0;
done:
    free(pem);
    json_decref(sk);
    json_decref(cm);
    sl_kube_secret_decref(secret);
    return rc;
}

/* The public keys of every spec.verify authority (a missing or unready one fails the object:
 * the spec trusts it). 0, or -1 with the outcome recorded. */
static int load_verify_keys(struct imd_run *run)
{
    if (run->verify_keys_loaded)
        return 0;
    if (run->verify_key_failed)
        return -1;
    for (size_t i = 0; i < run->nverify; i++) {
        char field[64];
        snprintf(field, sizeof(field), "spec.verify.authorities[%zu].key.signingKeyRef.name", i);
        if (load_public_key(run, &run->verify_keys[i], run->verify_key_names[i], field) != 0) {
            run->verify_key_failed = true;
            return -1;
        }
    }
    run->verify_keys_loaded = true;
    return 0;
}

/* The private key of the sign SigningKey, from its Secret's cosign.key (and cosign.password). */
static int load_sign_key(struct imd_run *run)
{
    if (run->sign_key)
        return 0;
    if (run->sign_key_failed)
        return -1;
    const char *field = "spec.sign.signingKeyRef.name";
    json_t *sk = NULL, *secret = NULL;
    char *pem = NULL, *password = NULL;
    size_t pem_len = 0, password_len = 0;
    int rc = -1;
    struct sl_err err = {0};
    if (get_signingkey(run, &sk, run->sign_key_name, field) != 0)
        goto done;
    const char *sec_name = sl_kube_json_path_str(sk, "spec.secretRef.name");
    const char *mode = sl_kube_json_path_str(sk, "spec.mode");
    if (!sec_name || !*sec_name || (mode && strcmp(mode, "VerifyOnly") == 0)) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSigningKey",
                    "%s: SigningKey \"%s\" holds no private key (mode %s): it cannot sign", field,
                    run->sign_key_name, mode ? mode : "Generate");
        goto done;
    }
    free(run->sign_secret_name);
    run->sign_secret_name = sl_xstrdup(sec_name);
    ref_list_add(&run->refs, REF_SECRET, run->sign_secret_name);
    int grc =
        run->rt->kube.get(run->rt->kube.ctx, &secret, &SL_RES_SECRET, run->ns, sec_name, &err);
    if (grc == SL_ENOTFOUND) {
        signingkey_not_ready(run, sk, field, run->sign_key_name, "has no key Secret yet");
        goto done;
    }
    if (grc != 0) {
        global_fail(run, SL_RESULT_TRANSIENT, "APIError", "%s: reading Secret of SigningKey: %s",
                    field, err.msg);
        goto done;
    }
    const char *rv = sl_kube_json_path_str(secret, "metadata.resourceVersion");
    if (rv && *rv && (run->sign_key = key_cache_get(run->r, run->ns, sec_name, rv)) != NULL) {
        rc = 0;
        goto done;
    }
    const json_t *v = json_object_get(json_object_get(secret, "data"), "cosign.key");
    if (!json_is_string(v) ||
        base64_decode(&pem, &pem_len, json_string_value(v), json_string_length(v)) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSigningKey",
                    "%s: SigningKey \"%s\": Secret \"%s\" has no readable cosign.key", field,
                    run->sign_key_name, sec_name);
        goto done;
    }
    /* a cosign-format cosign.key opens with the Secret's cosign.password (absent: empty) */
    const json_t *pw = json_object_get(json_object_get(secret, "data"), "cosign.password");
    if (json_is_string(pw) && base64_decode(&password, &password_len, json_string_value(pw),
                                            json_string_length(pw)) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSigningKey",
                    "%s: SigningKey \"%s\": Secret \"%s\" has no readable cosign.password", field,
                    run->sign_key_name, sec_name);
        goto done;
    }
    if (sl_key_load_private_pem_password(&run->sign_key, pem, pem_len, password, password_len,
                                         &err) != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSigningKey",
                    "%s: SigningKey \"%s\": private key: %s", field, run->sign_key_name, err.msg);
        goto done;
    }
    if (rv && *rv)
        key_cache_put(run->r, run->ns, sec_name, rv, run->sign_key);
    rc = 0;
done:
    if (pem)
        sl_secure_free(pem, pem_len + 1);
    if (password)
        sl_secure_free(password, password_len + 1);
    json_decref(sk);
    sl_kube_secret_decref(secret);
    if (rc != 0)
        run->sign_key_failed = true;
    return rc;
}

/* ---- tags ---- */

/* The tags to deliver: spec.source.tags, the matches of tagPattern, or targetTag for a pinned
 * digest. 0, or -1 with the outcome recorded. */
static int step_select_tags(struct imd_run *run, char ***out, size_t *n_out)
{
    struct sl_err err = {0};
    if (run->pinned_digest) {
        char **v = sl_xcalloc(1, sizeof(*v));
        v[0] = sl_xstrdup(run->target_tag);
        *out = v;
        *n_out = 1;
        return 0;
    }
    if (run->tags) {
        size_t n = json_array_size(run->tags);
        char **v = sl_xcalloc(n, sizeof(*v));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const char *t = json_string_value(json_array_get(run->tags, i));
            bool dup = false;
            for (size_t j = 0; j < k && !dup; j++)
                dup = strcmp(v[j], t) == 0;
            if (!dup)
                v[k++] = sl_xstrdup(t);
        }
        *out = v;
        *n_out = k;
        return 0;
    }
    char **all = NULL;
    size_t nall = 0;
    int rc, again = 0;
    do
        rc = run->r->reg.tags(run->r->reg.ctx, &all, &nall, run->src.reg, run->src.ref.repository,
                              &err);
    while (rc == SL_EAUTH && (again = endpoint_relogin(run, &run->src, err.msg)) > 0);
    endpoint_renewal_done(run, &run->src, rc);
    if (again < 0)
        return -1;
    if (rc != 0) {
        const char *reason = rc == SL_ENOTFOUND ? "RepositoryNotFound" : sl_imd_reason_for_code(rc);
        global_fail(run, sl_imd_kind_for_code(rc), reason,
                    "spec.source.image: listing tags of %s: %s", run->src.name, err.msg);
        return -1;
    }
    rc = sl_imd_select_tags(out, n_out, all, nall, run->pattern, &err);
    if (rc == 0 && *n_out == 0) {
        /* nothing to deliver is not success: say what the pattern was matched against, and
         * look again at the interval (the tags may be pushed later) */
        char some[256] = "";
        size_t shown = 0;
        for (size_t i = 0; i < nall && shown < 5; i++, shown++) {
            size_t len = strlen(some);
            snprintf(some + len, sizeof(some) - len, "%s%.40s", len ? ", " : "", all[i]);
        }
        global_fail(run, SL_RESULT_WAITING, "NoMatchingTags",
                    "spec.source.tagPattern \"%.300s\" matches none of the %zu tag(s) of %s%s%s%s "
                    "(a POSIX extended regular expression, unanchored: e.g. ^1\\.4\\.[0-9]+$)",
                    run->pattern, nall, run->src.name, nall ? " (" : "", some,
                    nall > shown ? ", ...)"
                    : nall       ? ")"
                                 : "");
        run->requeue_ms = run->interval_ms;
        run->checked = true; /* the source was looked at: that is a check, with nothing found */
        sl_imd_strv_free(*out, *n_out);
        *out = NULL;
        sl_registry_strv_free(all, nall);
        return -1;
    }
    sl_registry_strv_free(all, nall);
    if (rc != 0) {
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec", "spec.source.tagPattern: %s", err.msg);
        return -1;
    }
    if (*n_out > MAX_TAGS) {
        sl_imd_strv_free(*out, *n_out);
        *out = NULL;
        global_fail(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.source.tagPattern: matches %zu tags, more than %d", *n_out, MAX_TAGS);
        return -1;
    }
    return 0;
}

/* The image entry status had for tag (borrowed), or NULL. */
static const json_t *prev_image(const struct imd_run *run, const char *tag)
{
    size_t i;
    json_t *img;
    json_array_foreach(json_object_get(run->old_status, "images"), i, img)
    {
        const char *t = json_string_value(json_object_get(img, "tag"));
        if (t && strcmp(t, tag) == 0)
            return img;
    }
    return NULL;
}

/* The target entry of prev for image text (borrowed), or NULL. */
static const json_t *prev_target(const json_t *prev, const char *image)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(prev, "targets"), i, t)
    {
        const char *s = json_string_value(json_object_get(t, "image"));
        if (s && strcmp(s, image) == 0)
            return t;
    }
    return NULL;
}

/* Does some target entry of prev name digest? Sets *any when some entry names any digest. */
static bool prev_targets_name(const json_t *prev, const char *digest, bool *any)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(prev, "targets"), i, t)
    {
        const char *d = json_string_value(json_object_get(t, "digest"));
        if (d)
            *any = true;
        if (d && strcmp(d, digest) == 0)
            return true;
    }
    return false;
}

/* The digest a delivery of source digest writes under spec.platforms: for an index, the
 * filtered index the copy engine makes (sl_manifest_filter_index, then its sha256); for an
 * image manifest, digest itself. One manifest GET on the source. 0 or an error code. */
static int filtered_digest(struct imd_run *run, char out[72], const char *digest)
{
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    struct sl_platform plats[SL_IMD_MAX_PLATFORMS];
    struct sl_err err = {0};
    char *data = NULL;
    size_t len = 0;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < run->nplatforms; i++)
        rc = sl_platform_parse(&plats[i], run->platforms[i], &err);
    if (rc == 0)
        rc = run->r->reg.manifest(run->r->reg.ctx, &rm, run->src.reg, run->src.ref.repository,
                                  digest, &err);
    if (rc == 0)
        rc = sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, &err);
    if (rc == 0 && m.kind != SL_MANIFEST_INDEX) {
        snprintf(out, 72, "%s", digest);
    } else if (rc == 0) {
        rc = sl_manifest_filter_index(&data, &len, rm.data, rm.len, plats, run->nplatforms, &err);
        if (rc == 0)
            sl_digest_sha256(out, data, len);
    }
    free(data);
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

/* Did an earlier pass deliver digest to some target? (A blocked tag's status entry carries its
 * digest too, and keeps the targets of an older digest.) Without spec.platforms a delivery
 * names the source digest. With them it names the filtered index, which is worked out from the
 * source: that costs a manifest GET, paid only for a tag stopped by a gate while its targets
 * hold something. */
static bool delivered_before(struct imd_run *run, const json_t *prev, const char *digest)
{
    bool any = false;
    if (prev_targets_name(prev, digest, &any))
        return true;
    if (!any || run->nplatforms == 0 || !run->r->reg.manifest)
        return false;
    char filtered[72];
    if (filtered_digest(run, filtered, digest) != 0)
        return false;
    return prev_targets_name(prev, filtered, &any);
}

/* Tags whose every target carries a signature by the sign key. */
static size_t signed_tags(const json_t *images)
{
    size_t n = 0, i, j;
    json_t *img, *t;
    json_array_foreach(images, i, img)
    {
        const json_t *targets = json_object_get(img, "targets");
        bool all = json_array_size(targets) > 0;
        json_array_foreach(targets, j, t)
        {
            if (!json_is_true(json_object_get(t, "signed")))
                all = false;
        }
        n += all;
    }
    return n;
}

/* Keeps the target entries prev had (they still describe the registries) when a gate stops a
 * tag. */
static void keep_prev_targets(json_t *img, const json_t *prev)
{
    const json_t *targets = json_object_get(prev, "targets");
    if (json_is_array(targets) && json_array_size(targets) > 0)
        json_object_set_new(img, "targets", json_deep_copy(targets));
}

static void attest_target(struct imd_run *run, json_t *img, json_t *tentry, struct endpoint *t,
                          const char *delivered, bool fresh, const json_t *ptarget);

/* A delivered digest the scan gate now blocks (a newer database, the vendor's OpenVEX
 * withdrawn) stays in its targets, and each target where it was signed gets a fresh
 * vulnerability report that says so: admission reads the newest report
 * (DeployPolicy requireAttestations), so the image stops being admitted. */
static void reattest_blocked(struct imd_run *run, json_t *img)
{
    if (!run->have_attest_gate || !run->attest_vuln)
        return;
    json_t *targets = json_object_get(img, "targets");
    size_t i;
    json_t *entry;
    json_array_foreach(targets, i, entry)
    {
        const char *image = str_or_null(entry, "image");
        const char *d = str_or_null(entry, "digest");
        if (!image || !d || !json_is_true(json_object_get(entry, "signed")))
            continue;
        for (size_t k = 0; k < run->ntargets; k++) {
            struct endpoint *t = &run->targets[k];
            size_t n = strlen(t->name);
            if (t->dead || !t->reg || strncmp(image, t->name, n) != 0 || image[n] != ':')
                continue;
            json_t *before = json_deep_copy(entry);
            attest_target(run, img, entry, t, d, false, before);
            json_decref(before);
            break;
        }
    }
}

/* Gate 1: the source digest must carry a valid signature by one of the verify keys (key
 * rotation: every listed authority is accepted). Returns 0 to go on, 1 when the tag is stopped,
 * -1 on an object-wide failure. */
static int gate_verify(struct imd_run *run, json_t *img, const json_t *prev, const char *digest)
{
    if (run->nverify == 0)
        return 0;
    if (load_verify_keys(run) != 0)
        return -1;
    struct sl_err err = {0};
    char fpr[VERIFY_MAX][SL_KEY_FINGERPRINT_LEN];
    bool known = false;
    for (size_t i = 0; i < run->nverify; i++) {
        if (sl_key_fingerprint(fpr[i], run->verify_keys[i], &err) != 0) {
            global_fail(run, SL_RESULT_STALLED, "InvalidSigningKey",
                        "spec.verify.authorities[%zu].key.signingKeyRef.name: SigningKey "
                        "\"%s\": %s",
                        i, run->verify_key_names[i], err.msg);
            return -1;
        }
        /* decided from what this process verified (digest + key), never from status */
        char *record = sl_xasprintf("%s@%s|%s", run->src.name, digest, fpr[i]);
        known = known || (!run->spec_changed && verified_known(run->r, record));
        free(record);
    }
    if (known) {
        json_object_set_new(img, "verified", json_true());
        run->verified_tags++;
        return 0;
    }
    struct sl_cosign_verify_result vr;
    memset(&vr, 0, sizeof(vr));
    vr.key_index = -1;
    const struct sl_key *keys[VERIFY_MAX];
    for (size_t i = 0; i < run->nverify; i++)
        keys[i] = run->verify_keys[i];
    int rc = run->r->reg.verify(run->r->reg.ctx, &vr, run->src.reg, run->src.ref.repository, digest,
                                keys, run->nverify, &err);
    if (rc == 0) {
        size_t by =
            vr.key_index >= 0 && (size_t)vr.key_index < run->nverify ? (size_t)vr.key_index : 0;
        char *record = sl_xasprintf("%s@%s|%s", run->src.name, digest, fpr[by]);
        verified_add(run->r, record);
        free(record);
        json_object_set_new(img, "verified", json_true());
        run->verified_tags++;
        return 0;
    }
    json_object_set_new(img, "verified", json_false());
    keep_prev_targets(img, prev);
    if (rc == SL_EAUTH)
        endpoint_refused(run, &run->src);
    char msg[MSG_MAX];
    if (rc == SL_ENOTFOUND) {
        snprintf(msg, sizeof(msg), "%s@%s carries no signature (%s, spec.verify); not delivered",
                 run->src.name, digest, run->verify_desc);
        tag_fail(run, img, C_VERIFIED, "False", true, "SignatureMissing", SL_RESULT_DONE, msg);
    } else if (rc == SL_EDIGEST) {
        snprintf(msg, sizeof(msg),
                 "%s@%s has no valid signature by %s (spec.verify): %s; not delivered",
                 run->src.name, digest, run->verify_desc, err.msg);
        tag_fail(run, img, C_VERIFIED, "False", true, "SignatureInvalid", SL_RESULT_DONE, msg);
    } else {
        snprintf(msg, sizeof(msg), "verifying %s@%s: %s", run->src.name, digest, err.msg);
        tag_fail(run, img, C_VERIFIED, "Unknown", true, sl_imd_reason_for_code(rc),
                 sl_imd_kind_for_code(rc), msg);
    }
    return 1;
}

/* Gate 2: the scan policy. Returns 0 to go on, 1 when the tag is stopped. */
static int gate_scan(struct imd_run *run, json_t *img, const json_t *prev, const char *digest)
{
    if (!run->scan_policy)
        return 0;
    char msg[MSG_MAX];
    if (!run->have_gate) {
        snprintf(msg, sizeof(msg),
                 "spec.scanPolicyRef: scanning is not available in this controller; the tag is "
                 "not delivered unscanned");
        json_object_set_new(img, "scan",
                            json_pack("{s:s, s:s, s:s}", "result", "Error", "policy",
                                      run->scan_policy, "message", "scanner not available"));
        keep_prev_targets(img, prev);
        tag_fail(run, img, C_SCANNED, "Unknown", true, "ScannerUnavailable", SL_RESULT_DONE, msg);
        return 1;
    }
    struct sl_err err = {0};
    json_t *summary = NULL;
    /* exactly what the copy will deliver is scanned: the platforms spec.platforms selects */
    int rc = run->gate.scan(run->gate.ctx, run->rt, run->ns, run->scan_policy, run->src.reg,
                            run->src.ref.repository, digest, run->platforms, run->nplatforms,
                            &summary, &err);
    if (json_is_object(summary)) {
        if (!json_object_get(summary, "policy"))
            json_object_set_new(summary, "policy", json_string(run->scan_policy));
        json_object_set(img, "scan", summary);
    }
    json_decref(summary);
    if (rc == SL_SCAN_GATE_PASSED)
        return 0;
    if (rc == SL_EAUTH)
        endpoint_refused(run, &run->src);
    bool was_delivered = delivered_before(run, prev, digest);
    keep_prev_targets(img, prev);
    if (rc == SL_SCAN_GATE_BLOCKED) {
        snprintf(msg, sizeof(msg), "%s@%s fails ScanPolicy \"%s\": %s%s", run->src.name, digest,
                 run->scan_policy, err.msg,
                 was_delivered ? " (already delivered: left in the targets)" : "; not delivered");
        if (!json_object_get(img, "scan"))
            json_object_set_new(
                img, "scan",
                json_pack("{s:s, s:s}", "result", "Failed", "policy", run->scan_policy));
        tag_fail(run, img, C_SCANNED, "False", true, "ScanFailed", SL_RESULT_DONE, msg);
        if (was_delivered)
            reattest_blocked(run, img);
    } else if (rc == SL_SCAN_GATE_WAITING) {
        snprintf(msg, sizeof(msg), "spec.scanPolicyRef: %s", err.msg);
        tag_fail(run, img, C_SCANNED, "Unknown", true, "ScanPolicyNotReady", SL_RESULT_WAITING,
                 msg);
    } else {
        snprintf(msg, sizeof(msg), "scanning %s@%s: %s", run->src.name, digest, err.msg);
        if (!json_object_get(img, "scan"))
            json_object_set_new(
                img, "scan",
                json_pack("{s:s, s:s}", "result", "Error", "policy", run->scan_policy));
        /* an external scanner adapter failing is told apart from our own scan failing */
        tag_fail(run, img, C_SCANNED, "False", true,
                 err.klass == SL_ERRC_SCANNER ? "ScannerError" : "ScanError",
                 sl_imd_kind_for_code(rc), msg);
    }
    return 1;
}

/* Copies the referrers of the delivered digest (OCI 1.1 subject, recursively, and the legacy
 * cosign tags) to target t and records what went along in the target's status entry. */
static void copy_target_referrers(struct imd_run *run, json_t *img, json_t *tentry,
                                  struct endpoint *t, const char *delivered,
                                  const char *source_index)
{
    struct sl_err err = {0};
    struct sl_referrers_opts opts = {.artifact_types = run->referrer_types,
                                     .n_artifact_types = run->nreferrer_types};
    struct sl_referrers_result res;
    memset(&res, 0, sizeof(res));
    int rc =
        run->r->reg.copy_referrers(run->r->reg.ctx, &res, run->src.reg, run->src.ref.repository,
                                   t->reg, t->ref.repository, delivered, &opts, &err);
    if (rc == SL_EAUTH)
        endpoints_refused(run, &run->src, t, err.msg);
    if (rc != 0) {
        char msg[MSG_MAX];
        snprintf(msg, sizeof(msg), "%s (%s): copying the referrers of %s: %s", t->field, t->name,
                 delivered, err.msg);
        tag_fail(run, img, C_SYNCED, "False", false, sl_imd_reason_for_code(rc),
                 sl_imd_kind_for_code(rc), msg);
        return;
    }
    json_t *by_type = json_object();
    for (size_t i = 0; i < res.n_types; i++)
        json_object_set_new(
            by_type, res.by_type[i].artifact_type[0] ? res.by_type[i].artifact_type : "(none)",
            json_integer((json_int_t)res.by_type[i].count));
    json_t *entry = json_pack("{s:I, s:I, s:o}", "count", (json_int_t)(res.copied + res.present),
                              "legacyTags", (json_int_t)res.tags_copied, "byArtifactType", by_type);
    if (source_index && source_index[0])
        json_object_set_new(entry, "sourceIndex", json_string(source_index));
    json_object_set_new(tentry, "referrers", entry);
}

/* The referrers step of one target: after a fresh copy, copy them; in steady state, one request
 * to the source (its referrers answer's digest) tells whether any were added since the last
 * copy, and only then is the copy run again. */
static void deliver_referrers(struct imd_run *run, json_t *img, json_t *tentry, struct endpoint *t,
                              const char *delivered, bool fresh, const json_t *ptarget)
{
    if (!run->copy_referrers || !run->r->reg.copy_referrers)
        return;
    const json_t *prev = json_object_get(ptarget, "referrers");
    const char *prev_index = json_string_value(json_object_get(prev, "sourceIndex"));
    char index[72] = "";
    struct sl_err err = {0};
    if (run->r->reg.referrers_digest) {
        int rc = run->r->reg.referrers_digest(run->r->reg.ctx, index, run->src.reg,
                                              run->src.ref.repository, delivered, &err);
        if (rc == SL_EAUTH)
            endpoint_refused(run, &run->src);
        if (rc != 0) {
            char msg[MSG_MAX];
            snprintf(msg, sizeof(msg), "%s: listing the referrers of %s: %s", run->src.name,
                     delivered, err.msg);
            if (json_is_object(prev))
                json_object_set(tentry, "referrers", (json_t *)prev);
            tag_fail(run, img, C_SYNCED, "False", false, sl_imd_reason_for_code(rc),
                     sl_imd_kind_for_code(rc), msg);
            return;
        }
    }
    bool unchanged =
        json_is_object(prev) &&
        (run->r->reg.referrers_digest ? (prev_index && strcmp(prev_index, index) == 0) : true);
    if (!fresh && !run->spec_changed && unchanged) {
        json_object_set(tentry, "referrers", (json_t *)prev);
        return;
    }
    copy_target_referrers(run, img, tentry, t, delivered, index);
}

/* Copies the source's signatures along and signs in the target. */
static void sign_target(struct imd_run *run, json_t *img, json_t *tentry, struct endpoint *t,
                        const char *digest, const char *delivered, bool fresh,
                        const json_t *ptarget)
{
    struct sl_err err = {0};
    char msg[MSG_MAX];
    /* the source's signatures name the source digest: they only make sense in the target when
     * the same digest was delivered (no platform filtering) */
    if (fresh && strcmp(digest, delivered) == 0) {
        size_t copied = 0;
        int rc = run->r->reg.copy_signatures(run->r->reg.ctx, &copied, run->src.reg,
                                             run->src.ref.repository, t->reg, t->ref.repository,
                                             delivered, &err);
        if (rc == SL_EAUTH)
            endpoints_refused(run, &run->src, t, err.msg);
        if (rc != 0) {
            snprintf(msg, sizeof(msg), "%s (%s): copying source signatures: %s", t->field, t->name,
                     err.msg);
            tag_fail(run, img, C_SYNCED, "False", false, sl_imd_reason_for_code(rc),
                     sl_imd_kind_for_code(rc), msg);
        }
    }
    if (strcmp(digest, delivered) == 0)
        deliver_referrers(run, img, tentry, t, delivered, fresh, ptarget);
    if (!run->sign_key_name)
        return;
    bool was_signed = json_is_true(json_object_get(ptarget, "signed"));
    if (was_signed && !fresh && !run->spec_changed) {
        json_object_set_new(tentry, "signed", json_true());
        return;
    }
    json_object_set_new(tentry, "signed", json_false());
    if (load_sign_key(run) != 0)
        return;
    struct sl_cosign_sign_result sr;
    memset(&sr, 0, sizeof(sr));
    int rc = 0;
    if (run->sign_legacy)
        rc = run->r->reg.sign(run->r->reg.ctx, &sr, t->reg, t->ref.repository, t->name, delivered,
                              run->sign_key, &err);
    if (rc == 0 && run->sign_bundle) {
        int added = 0;
        rc = run->r->reg.sign_bundle
                 ? run->r->reg.sign_bundle(run->r->reg.ctx, &added, t->reg, t->ref.repository,
                                           delivered, run->sign_key, &err)
                 : sl_err_set(&err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                              "bundle signatures are not available");
        sr.added = sr.added || added;
    }
    if (rc == SL_EAUTH)
        endpoint_refused(run, t);
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s (%s): signing %s: %s", t->field, t->name, delivered,
                 err.msg);
        enum sl_result_kind k = sl_imd_kind_for_code(rc);
        tag_fail(run, img, C_SIGNED, "False", false, "SigningFailed",
                 k == SL_RESULT_DONE ? SL_RESULT_TRANSIENT : k, msg);
        return;
    }
    json_object_set_new(tentry, "signed", json_true());
    if (sr.added)
        run->signed_now++;
}

/* Writes the signed attestations of delivered in target t (spec.sign.attestations) when none
 * were written for this digest and these settings yet, or when a fresh vulnerability report is
 * due (the ScanPolicy's database changed or its rescanInterval passed). The target's status
 * entry carries attestations {sbom, vuln, format, images, attestedAt, vulnAttestedAt,
 * database}. A failure keeps the earlier record (those attestations still verify) and sets
 * Signed=False AttestationFailed. */
static void attest_target(struct imd_run *run, json_t *img, json_t *tentry, struct endpoint *t,
                          const char *delivered, bool fresh, const json_t *ptarget)
{
    if (!run->have_attest_gate || (!run->attest_sbom && !run->attest_vuln))
        return;
    const char *format = run->sign_legacy && run->sign_bundle ? "both"
                         : run->sign_bundle                   ? "bundle"
                                                              : "legacy";
    const char *sbom = run->attest_sbom ? run->attest_sbom : "none";
    const json_t *prev = json_object_get(ptarget, "attestations");
    const char *p_at = str_or_null(prev, "attestedAt");
    const char *p_vuln_at = str_or_null(prev, "vulnAttestedAt");
    const char *p_db = str_or_null(prev, "database");
    bool same = !fresh && p_at && str_eq(str_or_null(prev, "sbom"), sbom) &&
                json_is_true(json_object_get(prev, "vuln")) == run->attest_vuln &&
                str_eq(str_or_null(prev, "format"), format);
    bool vuln_due = false;
    if (same && run->attest_vuln) {
        /* also asked when no report was written yet (a policy without advisories): the gate
         * knows whether one can be made now */
        time_t vat = 0;
        if (p_vuln_at && sl_time_parse_rfc3339(&vat, p_vuln_at) != 0)
            vat = 0;
        vuln_due = run->attest_gate.vuln_due
                       ? run->attest_gate.vuln_due(run->attest_gate.ctx, run->ns, run->scan_policy,
                                                   p_db ? p_db : "", vat, time(NULL))
                       : !p_vuln_at;
    }
    if (same && run->attest_vuln && !vuln_due && p_vuln_at) {
        /* the scan gate's verdict is newer than the last report (the vendor's OpenVEX changed,
         * the policy's rules changed): the report must say what the gate now says */
        const char *scanned = str_or_null(json_object_get(img, "scan"), "scannedAt");
        time_t sat = 0, vat = 0;
        if (scanned && sl_time_parse_rfc3339(&sat, scanned) == 0 &&
            sl_time_parse_rfc3339(&vat, p_vuln_at) == 0 && sat > vat)
            vuln_due = true;
    }
    if (same && !vuln_due) {
        json_object_set(tentry, "attestations", (json_t *)prev);
        return;
    }
    if (load_sign_key(run) != 0)
        return;
    char source_repo[1024];
    snprintf(source_repo, sizeof(source_repo), "%s/%s", sl_registry_host(run->src.reg),
             run->src.ref.repository);
    struct sl_attest_request req = {
        .sbom = run->attest_sbom != NULL && !same, /* a rescan rewrites the report only */
        .sbom_cyclonedx = run->attest_sbom && strcmp(run->attest_sbom, "cyclonedx") == 0,
        .vuln = run->attest_vuln,
        .vuln_optional = run->attest_vuln_optional,
        .ns = run->ns,
        .policy_name = run->scan_policy,
        .vex_repository = source_repo,
        .vex_source = run->src.reg,
        .vex_source_repo = run->src.ref.repository,
        .tag = run->sign_legacy,
        .referrer = run->sign_bundle,
        .key = run->sign_key,
        .platforms = run->platforms,
        .n_platforms = run->nplatforms,
    };
    char revision[128] = "";
    size_t images = 0;
    struct sl_err err = {0};
    int rc = run->attest_gate.attest(run->attest_gate.ctx, t->reg, t->ref.repository, t->name,
                                     delivered, &req, revision, &images, &err);
    if (rc == SL_EAUTH)
        endpoints_refused(run, &run->src, t, err.msg);
    if (rc != 0) {
        if (prev)
            json_object_set(tentry, "attestations", (json_t *)prev);
        char msg[MSG_MAX];
        snprintf(msg, sizeof(msg), "%s (%s): attesting %s: %s", t->field, t->name, delivered,
                 err.msg);
        enum sl_result_kind k =
            rc == SL_SCAN_GATE_WAITING ? SL_RESULT_WAITING : sl_imd_kind_for_code(rc);
        tag_fail(run, img, C_SIGNED, "False", false, "AttestationFailed",
                 k == SL_RESULT_DONE ? SL_RESULT_TRANSIENT : k, msg);
        return;
    }
    json_t *a = json_pack("{s:s, s:b, s:s, s:I, s:s}", "sbom", sbom, "vuln", run->attest_vuln,
                          "format", format, "images", (json_int_t)images, "attestedAt", run->now);
    if (run->attest_vuln && revision[0]) {
        json_object_set_new(a, "vulnAttestedAt", json_string(run->now));
        json_object_set_new(a, "database", json_string(revision));
    } else if (run->attest_vuln && same && p_vuln_at) {
        json_object_set_new(a, "vulnAttestedAt", json_string(p_vuln_at));
        json_object_set_new(a, "database", json_string(p_db ? p_db : ""));
    } else if (run->attest_vuln) {
        json_object_set_new(a, "vulnMessage",
                            json_string("no vulnerability report: the ScanPolicy has no advisory "
                                        "database for the built-in scanner"));
    }
    /* a rescan rewrote the report only: the SBOM keeps its time */
    const char *p_sbom_at = str_or_null(prev, "sbomAttestedAt");
    if (run->attest_sbom)
        json_object_set_new(a, "sbomAttestedAt",
                            json_string(same && p_sbom_at ? p_sbom_at : run->now));
    json_object_set_new(tentry, "attestations", a);
}

/* Delivers digest (the source's, for tag) to target t. */
/* What deliver_target copies: the tag, the source digest, the target image ("name:tag"), what
 * the target tag names now (NULL: absent) and what the last status recorded. */
struct copy_job {
    const char *tag, *digest, *image, *have;
    const json_t *ptarget;
    const char *pt_digest;
};

/* Copies the source digest to target t (signing key first: never write an image that could
 * not be signed afterwards). Writes the delivered digest and whether anything was written;
 * returns 0, or -1 when the failure was recorded on the tag. */
static int copy_to_target(struct imd_run *run, json_t *img, json_t *tentry, struct endpoint *t,
                          const struct copy_job *j, char delivered[72], bool *wrote)
{
    char msg[MSG_MAX];
    struct sl_err err = {0};
    if (run->sign_key_name && load_sign_key(run) != 0)
        return -1;
    struct sl_ref src = {.registry = run->src.ref.registry,
                         .repository = run->src.ref.repository,
                         .tag = (char *)j->tag,
                         .digest = (char *)j->digest};
    struct sl_ref dst = {
        .registry = t->ref.registry, .repository = t->ref.repository, .tag = (char *)j->tag};
    /* the HEAD before is the copy's own first look at the target: not asked twice */
    struct sl_copy_opts opts = {.platforms = run->nplatforms ? run->platforms : NULL,
                                .n_platforms = run->nplatforms,
                                .immutable_tag = run->immutable,
                                .concurrency = run->r->cc.image_parallel_copies,
                                .target_checked = 1,
                                .target_digest = j->have};
    struct sl_copy_result res;
    memset(&res, 0, sizeof(res));
    int rc = run->r->reg.copy(run->r->reg.ctx, &res, run->src.reg, &src, t->reg, &dst, &opts, &err);
    if (rc == SL_ECONFLICT) {
        snprintf(msg, sizeof(msg),
                 "%s (%s): tag %s already names %s; spec.immutableTags forbids moving it to "
                 "%s (the target keeps its digest)",
                 t->field, t->name, j->tag, j->have ? j->have : "another digest", j->digest);
        if (j->have)
            json_object_set_new(tentry, "digest", json_string(j->have));
        if (j->ptarget && json_object_get(j->ptarget, "syncedAt"))
            json_object_set(tentry, "syncedAt", json_object_get(j->ptarget, "syncedAt"));
        if (j->ptarget && json_object_get(j->ptarget, "signed"))
            json_object_set(tentry, "signed", json_object_get(j->ptarget, "signed"));
        tag_fail(run, img, C_SYNCED, "False", false, "ImmutableTagConflict", SL_RESULT_DONE, msg);
        return -1;
    }
    if (rc == SL_EAUTH)
        endpoints_refused(run, &run->src, t, err.msg);
    if (rc != 0) {
        const char *reason = rc == SL_ENOTFOUND ? "DigestNotFound" : sl_imd_reason_for_code(rc);
        snprintf(msg, sizeof(msg), "copying %s@%s to %s (%s): %s", run->src.name, j->digest,
                 t->field, j->image, err.msg);
        if (j->pt_digest)
            json_object_set_new(tentry, "digest", json_string(j->pt_digest));
        tag_fail(run, img, C_SYNCED, "False", false, reason, sl_imd_kind_for_code(rc), msg);
        return -1;
    }
    snprintf(delivered, 72, "%s", res.digest);
    *wrote = !res.already_in_sync;
    return 0;
}

static void deliver_target(struct imd_run *run, json_t *img, const json_t *prev, const char *tag,
                           const char *digest, struct endpoint *t)
{
    char *image = sl_xasprintf("%s:%s", t->name, tag);
    json_t *tentry = json_pack("{s:s}", "image", image);
    const json_t *ptarget = prev_target(prev, image);
    const char *prev_digest = json_string_value(json_object_get(prev, "digest"));
    const char *pt_digest = json_string_value(json_object_get(ptarget, "digest"));
    char msg[MSG_MAX];
    struct sl_err err = {0};
    if (t->dead) {
        /* the same failure for every tag: say it once per tag without asking again */
        if (pt_digest)
            json_object_set_new(tentry, "digest", json_string(pt_digest));
        tag_fail(run, img, C_SYNCED, "False", false, t->dead_reason, t->dead_kind, t->dead_msg);
        goto done;
    }
    /* what the target should name: the recorded delivery of this very source digest, else
     * the source digest itself (copies preserve digests) unless platforms filter an index */
    const char *expected = NULL;
    if (run->nplatforms == 0)
        expected = digest;
    else if (prev_digest && strcmp(prev_digest, digest) == 0 && pt_digest &&
             !json_object_get(prev, "message"))
        expected = pt_digest; /* a clean pass recorded what this digest filters to */

    char have[72] = "";
    int rc, again = 0;
    do
        rc = run->r->reg.head(run->r->reg.ctx, have, t->reg, t->ref.repository, tag, &err);
    while (rc == SL_EAUTH && (again = endpoint_relogin(run, t, err.msg)) > 0);
    endpoint_renewal_done(run, t, rc);
    if (again < 0) {
        if (pt_digest)
            json_object_set_new(tentry, "digest", json_string(pt_digest));
        goto done;
    }
    if (rc != 0 && rc != SL_ENOTFOUND) {
        snprintf(msg, sizeof(msg), "%s (%s): %s", t->field, t->name, err.msg);
        if (pt_digest)
            json_object_set_new(tentry, "digest", json_string(pt_digest));
        tag_fail(run, img, C_SYNCED, "False", false, sl_imd_reason_for_code(rc),
                 sl_imd_kind_for_code(rc), msg);
        if (rc == SL_ERETRY || rc == SL_EAUTH) {
            t->dead = 1;
            t->dead_kind = sl_imd_kind_for_code(rc);
            snprintf(t->dead_reason, sizeof(t->dead_reason), "%s", sl_imd_reason_for_code(rc));
            snprintf(t->dead_msg, sizeof(t->dead_msg), "%s", msg);
        }
        goto done;
    }
    char delivered[72];
    bool wrote = false;
    if (rc == 0 && expected && strcmp(have, expected) == 0) {
        snprintf(delivered, sizeof(delivered), "%s", have);
    } else {
        struct copy_job job = {.tag = tag,
                               .digest = digest,
                               .image = image,
                               .have = rc == 0 ? have : NULL,
                               .ptarget = ptarget,
                               .pt_digest = pt_digest};
        if (copy_to_target(run, img, tentry, t, &job, delivered, &wrote) != 0)
            goto done;
    }
    json_object_set_new(tentry, "digest", json_string(delivered));
    bool fresh = wrote || !pt_digest || strcmp(pt_digest, delivered) != 0;
    if (fresh) {
        json_object_set_new(tentry, "syncedAt", json_string(run->now));
        run->changed = true;
    } else if (ptarget && json_object_get(ptarget, "syncedAt")) {
        json_object_set(tentry, "syncedAt", json_object_get(ptarget, "syncedAt"));
    }
    if (wrote) {
        char line[600];
        snprintf(line, sizeof(line), "%s@%s to %s", tag, delivered, image);
        json_array_append_new(run->delivered, json_string(line));
    }
    sign_target(run, img, tentry, t, digest, delivered, fresh, ptarget);
    if (json_is_true(json_object_get(tentry, "signed")))
        attest_target(run, img, tentry, t, delivered, fresh, ptarget);
done:
    json_array_append_new(json_object_get(img, "targets"), tentry);
    free(image);
}

/* One tag: resolve -> verify -> scan -> copy to every target (-> sign). Returns -1 when an
 * object-wide failure was recorded (stop), else 0. */
static int process_tag(struct imd_run *run, const char *tag)
{
    const json_t *prev = prev_image(run, tag);
    json_t *img = json_pack("{s:s}", "tag", tag);
    json_array_append_new(run->images, img); /* borrowed from here on */
    run->ntags++;
    struct sl_err err = {0};
    char digest[72] = "";
    const char *ref = run->pinned_digest ? run->pinned_digest : tag;
    int (*resolve)(void *, char[72], struct sl_registry *, const char *, const char *,
                   struct sl_err *) = run->r->reg.resolve ? run->r->reg.resolve : run->r->reg.head;
    int rc, again = 0;
    do
        rc = resolve(run->r->reg.ctx, digest, run->src.reg, run->src.ref.repository, ref, &err);
    while (rc == SL_EAUTH && (again = endpoint_relogin(run, &run->src, err.msg)) > 0);
    endpoint_renewal_done(run, &run->src, rc);
    if (again < 0) {
        keep_prev_targets(img, prev);
        return -1;
    }
    if (rc == 0 && run->pinned_digest && strcmp(digest, run->pinned_digest) != 0) {
        rc = sl_err_set(&err, SL_EDIGEST, SL_ERRC_REGISTRY, "registry answered %s for digest %s",
                        digest, run->pinned_digest);
    }
    if (rc != 0) {
        keep_prev_targets(img, prev);
        if (rc == SL_ENOTFOUND) {
            char msg[MSG_MAX];
            if (run->pinned_digest)
                snprintf(msg, sizeof(msg), "spec.source.digest: %s not found in %s",
                         run->pinned_digest, run->src.name);
            else
                snprintf(msg, sizeof(msg), "source tag %s not found in %s", tag, run->src.name);
            tag_fail(run, img, C_SYNCED, "False", false,
                     run->pinned_digest ? "DigestNotFound" : "TagNotFound", SL_RESULT_WAITING, msg);
            return 0;
        }
        /* the source itself fails (auth, unreachable, bad answers): every tag would say the
         * same, so stop here */
        global_fail(run, sl_imd_kind_for_code(rc), sl_imd_reason_for_code(rc),
                    "spec.source.image: %s: %s", run->src.name, err.msg);
        return -1;
    }
    json_object_set_new(img, "digest", json_string(digest));
    json_object_set_new(img, "targets", json_array());

    int g = gate_verify(run, img, prev, digest);
    if (g < 0)
        return -1;
    if (g > 0)
        return 0;
    if (gate_scan(run, img, prev, digest) > 0)
        return 0;
    for (size_t i = 0; i < run->ntargets; i++) {
        deliver_target(run, img, prev, tag, digest, &run->targets[i]);
        if (run->global_fail)
            return -1;
    }
    return 0;
}

/* The pass ran out of its registry deadline with work undone: one TRANSIENT outcome for the
 * object, naming the registry (in the failure it saw) and the limit. */
static void step_timed_out(struct imd_run *run, int64_t timeout_ms)
{
    char first[MSG_MAX];
    snprintf(first, sizeof(first), "%s", run->global_fail ? run->g_msg : run->ready_msg);
    global_fail(run, SL_RESULT_TRANSIENT, "RegistryTimeout",
                "registry calls of this pass took longer than the controller's "
                "--registry-timeout (%lld s) and were cut: %.1500s",
                (long long)(timeout_ms / 1000), first);
}

/* At most this many failure events per pass: a pass with many broken tags must not flood the
 * namespace's events. */
#define FAILURE_EVENTS_MAX 16

/* One Warning event per distinct failure of this pass that the previous status did not report
 * for its tag yet (a new failure is never hidden behind an older one that owns Ready; a failure
 * that repeats pass after pass is told once). Returns the number of events recorded. */
static size_t failure_events_record(struct imd_run *run)
{
    size_t n = 0, i;
    json_t *f;
    json_array_foreach(run->failures, i, f)
    {
        const char *tag = json_string_value(json_object_get(f, "tag"));
        const char *reason = json_string_value(json_object_get(f, "reason"));
        const char *msg = json_string_value(json_object_get(f, "message"));
        const char *old = json_string_value(json_object_get(prev_image(run, tag), "message"));
        if (old && strstr(old, msg))
            continue;
        if (n == FAILURE_EVENTS_MAX)
            break;
        n++;
        char m[MSG_MAX];
        snprintf(m, sizeof(m), "tag %s: %s", tag, msg);
        sl_runtime_event(run->rt, run->obj, "Warning", reason, m);
    }
    return n;
}

/* The message of a pass's Delivered event: "delivered TAG@DIGEST to IMAGE" for one copy, else
 * "delivered N images: ..." listing as many as fit in n bytes and how many more there were. */
static void delivered_message(char *m, size_t n, const json_t *delivered)
{
    size_t total = json_array_size(delivered);
    if (total == 1) {
        snprintf(m, n, "delivered %s", json_string_value(json_array_get(delivered, 0)));
        return;
    }
    int w = snprintf(m, n, "delivered %zu images: ", total);
    size_t len = w > 0 && (size_t)w < n ? (size_t)w : 0;
    size_t listed = 0;
    const size_t reserve = 32; /* room for "; and N more" */
    for (; listed < total; listed++) {
        const char *line = json_string_value(json_array_get(delivered, listed));
        size_t need = strlen(line) + (listed ? 2 : 0);
        if (len + need + reserve >= n)
            break;
        len += (size_t)snprintf(m + len, n - len, "%s%s", listed ? "; " : "", line);
    }
    if (listed < total)
        snprintf(m + len, n - len, "%sand %zu more", listed ? "; " : "", total - listed);
}

/* Builds status from the run and writes it; events on transitions. The one place conditions are
 * set. */
/* What Ready will say at the end of a pass. */
struct ready {
    const char *status, *reason;
    char msg[MSG_MAX];
};

/* Ready for a suspended delivery: nothing was checked, nothing is requeued. */
static void finish_suspended(struct imd_run *run, struct ready *r)
{
    r->status = "Unknown";
    r->reason = "Suspended";
    snprintf(r->msg, sizeof(r->msg),
             "delivery is suspended (spec.suspend); the registries are not checked");
    run->kind = SL_RESULT_DONE;
    run->requeue_ms = 0;
}

/* An object-wide problem: status keeps what it says about the images, Ready says why, and the
 * conditions of gates the spec no longer has go. */
static void finish_global_fail(struct imd_run *run, json_t *status, struct ready *r)
{
    r->status = run->g_status;
    r->reason = run->g_reason;
    snprintf(r->msg, sizeof(r->msg), "%s", run->g_msg);
    if (run->nverify == 0)
        sl_condition_remove(status, cond_names[C_VERIFIED]);
    if (!run->scan_policy)
        sl_condition_remove(status, cond_names[C_SCANNED]);
    if (!run->sign_key_name)
        sl_condition_remove(status, cond_names[C_SIGNED]);
    if (run->nverify == 0 && !run->scan_policy)
        sl_condition_remove(status, "Blocked");
}

/* The success message of gate condition c (Verified, Scanned, Synced, Signed) into m; returns
 * its reason, or NULL when the condition was set here (Synced with everything blocked, Signed
 * with nothing signed). */
static const char *gate_success(struct imd_run *run, json_t *status, int c, char *m, size_t mlen)
{
    size_t delivered_tags = run->ntags - run->nblocked;
    switch (c) {
    case C_VERIFIED:
        snprintf(m, mlen, "%zu tag(s) carry a valid signature by %s", run->verified_tags,
                 run->verify_desc);
        return "Verified";
    case C_SCANNED:
        snprintf(m, mlen, "%zu tag(s) pass ScanPolicy \"%s\"", run->ntags, run->scan_policy);
        return "Passed";
    case C_SYNCED:
        if (run->nblocked > 0 && delivered_tags == 0) {
            /* every tag was blocked: nothing is in sync, and the gate says why */
            sl_condition_set(status, cond_names[c], "False", run->blocked.reason, run->blocked.msg,
                             run->generation, NULL);
            return NULL;
        }
        snprintf(m, mlen, "%zu tag(s) in sync in %zu target(s)%s", delivered_tags, run->ntargets,
                 run->nblocked ? " (blocked tags: see Blocked)" : "");
        return "Synced";
    default: {
        size_t n = signed_tags(run->images);
        if (n == 0) {
            /* "0 tag(s) signed" is not a success */
            snprintf(m, mlen,
                     "no tag is signed with SigningKey \"%s\" in every target: none was "
                     "delivered to every target",
                     run->sign_key_name);
            sl_condition_set(status, cond_names[c], "Unknown", "NothingSigned", m, run->generation,
                             NULL);
            return NULL;
        }
        snprintf(m, mlen, "%zu tag(s) signed with SigningKey \"%s\" in %zu target(s)", n,
                 run->sign_key_name, run->ntargets);
        return "Signed";
    }
    }
}

/* The gate conditions and Blocked after a pass over the images. */
static void gate_conditions(struct imd_run *run, json_t *status)
{
    bool relevant[C_N] = {run->nverify > 0, run->scan_policy != NULL, true,
                          run->sign_key_name != NULL};
    for (int c = 0; c < C_N; c++) {
        const struct cond_agg *a = &run->conds[c];
        if (!relevant[c]) {
            sl_condition_remove(status, cond_names[c]);
            continue;
        }
        if (a->failures) {
            sl_condition_set(status, cond_names[c], a->status, a->reason, a->msg, run->generation,
                             NULL);
            continue;
        }
        char m[512];
        const char *reason = gate_success(run, status, c, m, sizeof(m));
        if (reason)
            sl_condition_set(status, cond_names[c], "True", reason, m, run->generation, NULL);
    }
    if (run->nblocked) {
        char m[MSG_MAX];
        snprintf(m, sizeof(m), "%zu tag(s) not delivered by policy (%.400s): %s", run->nblocked,
                 run->blocked_tags, run->blocked.msg);
        sl_condition_set(status, "Blocked", "True", run->blocked.reason, m, run->generation, NULL);
    } else {
        sl_condition_remove(status, "Blocked");
    }
}

/* Ready after a pass over the images: a failure of credentials, registries or signing owns it,
 * blocked tags or not; then everything blocked; else delivered. */
static void ready_after_pass(struct imd_run *run, struct ready *r)
{
    size_t delivered_tags = run->ntags - run->nblocked;
    char also[600];
    if (run->first_reason) {
        r->status = "False";
        r->reason = run->first_reason;
        snprintf(r->msg, sizeof(r->msg), "%s", run->ready_msg);
        if (run->nblocked) {
            snprintf(also, sizeof(also), "also %zu tag(s) blocked (%.400s): see Blocked",
                     run->nblocked, run->blocked_tags);
            msg_append(r->msg, sizeof(r->msg), also);
        }
    } else if (run->nblocked > 0 && delivered_tags == 0) {
        r->status = "False";
        r->reason = run->blocked.reason;
        snprintf(r->msg, sizeof(r->msg), "%s", run->blocked.msg);
    } else {
        r->status = "True";
        r->reason = "Delivered";
        /* (no selected tag is never success: NoMatchingTags above) */
        snprintf(r->msg, sizeof(r->msg), "%zu tag(s) delivered to %zu target(s)", delivered_tags,
                 run->ntargets);
        if (run->nblocked) {
            snprintf(also, sizeof(also), "%zu tag(s) blocked by policy (%.400s): see Blocked",
                     run->nblocked, run->blocked_tags);
            msg_append(r->msg, sizeof(r->msg), also);
        }
    }
}

/* status after a pass over the images: images, gate conditions, summaries, Ready, the last
 * sync time and when to come back. */
static void finish_pass(struct imd_run *run, json_t *status, struct ready *r)
{
    json_object_set_new(status, "images", json_incref(run->images));
    gate_conditions(run, status);
    sl_imd_summaries(status, run->ntargets, run->scan_policy != NULL, run->sign_key_name != NULL);
    ready_after_pass(run, r);
    if (run->changed)
        json_object_set_new(status, "lastSyncTime", json_string(run->now));
    run->checked = true;
    if (run->kind == SL_RESULT_DONE)
        run->requeue_ms = run->interval_ms;
    else if (run->kind == SL_RESULT_WAITING && run->requeue_ms > run->interval_ms)
        run->requeue_ms = run->interval_ms;
}

/* An ImageDelivery announces Ready as Ready and a failure under its reason, unless the pass
 * recorded failure events of its own (ctx: their count), which say more. */
static bool imagedelivery_event(void *ctx, const struct sl_outcome *o, const char **type,
                                const char **reason)
{
    size_t failure_events = *(const size_t *)ctx;
    if (o->ready && strcmp(o->ready, "True") == 0) {
        *reason = "Ready";
        return true;
    }
    return failure_events == 0;
}

/* Events of a written pass: one Delivered event for what it wrote (however many tags and
 * targets: each is an API write, and a fleet of deliveries would multiply them), and Ready
 * transitions. */
static void finish_events(struct imd_run *run, const json_t *old_status, bool suspended,
                          const struct sl_outcome *o)
{
    size_t i;
    json_t *d;
    json_array_foreach(run->delivered, i, d)
        sl_log_info(&run->req->log, "delivered %s", json_string_value(d));
    if (json_array_size(run->delivered) > 0) {
        char m[SL_EVENT_MESSAGE_MAX];
        delivered_message(m, sizeof(m), run->delivered);
        sl_runtime_event(run->rt, run->obj, "Normal", "Delivered", m);
    }
    size_t failure_events = suspended || run->global_fail ? 0 : failure_events_record(run);
    sl_outcome_announce(run->rt, &run->req->log, run->obj, old_status, o, imagedelivery_event,
                        &failure_events);
}

static int finish(struct imd_run *run, bool suspended, struct sl_reconcile_result *result,
                  struct sl_err *err)
{
    const json_t *old_status = run->old_status;
    json_t *old_copy = json_deep_copy(old_status);
    json_t *status = json_is_object(old_status) ? json_deep_copy(old_status) : json_object();
    struct ready r = {0};

    if (suspended)
        finish_suspended(run, &r);
    else if (run->global_fail)
        finish_global_fail(run, status, &r);
    else
        finish_pass(run, status, &r);
    if (!suspended && run->auth_failed &&
        (run->kind == SL_RESULT_TRANSIENT || run->kind == SL_RESULT_WAITING)) {
        /* rejected credentials fail the same way until someone changes them (the Secret's
         * change queues the object at once): never the queue's fast backoff, which would hit
         * the registry several times a second and lock accounts that count failures */
        run->kind = SL_RESULT_WAITING;
        run->requeue_ms = sl_imd_auth_backoff_ms(old_status, time(NULL));
    }
    if (!json_object_get(status, "summary"))
        sl_imd_summaries(status, run->ntargets, run->scan_policy != NULL,
                         run->sign_key_name != NULL);
    /* every completed check moves it, changed or not: the one field a steady pass writes (in
     * the same write as the rest) */
    if (!suspended && run->checked)
        json_object_set_new(status, "lastCheckTime", json_string(run->now));
    struct sl_outcome outcome = {run->kind, r.status, r.reason, r.msg, suspended};
    int rc = sl_outcome_write(run->rt, &SL_RES_IMAGEDELIVERY, run->obj, status, &outcome,
                              run->generation, err);
    json_decref(status);
    if (rc == SL_ENOTFOUND) {
        result->kind = SL_RESULT_DONE;
        result->requeue_after_ms = 0;
        rc = 0;
        goto done;
    }
    if (rc != 0)
        goto done;
    finish_events(run, old_copy, suspended, &outcome);
    result->kind = run->kind;
    result->requeue_after_ms = run->requeue_ms;
    if (run->kind == SL_RESULT_TRANSIENT)
        sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY, "%s: %.400s", r.reason, r.msg);
done:
    json_decref(old_copy);
    return rc;
}

static int reconcile(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                     struct sl_reconcile_result *result, struct sl_err *err)
{
    struct imd_reconciler *r = self;
    result->kind = SL_RESULT_DONE;
    result->requeue_after_ms = 0;
    if (!req->obj) {
        index_update(r, req->ns, req->name, NULL);
        return 0;
    }
    if (sl_kube_json_path(req->obj, "metadata.deletionTimestamp"))
        return 0; /* going away; delivered images stay in the customer's registries */

    struct imd_run run;
    memset(&run, 0, sizeof(run));
    run.r = r;
    run.rt = rt;
    run.req = req;
    run.obj = req->obj;
    run.old_status = json_object_get(req->obj, "status");
    run.ns = req->ns;
    run.name = req->name;
    run.generation = sl_kube_obj_generation(req->obj);
    json_t *og = json_object_get(run.old_status, "observedGeneration");
    run.spec_changed = !json_is_integer(og) || json_integer_value(og) != run.generation;
    run.kind = SL_RESULT_DONE;
    run.images = json_array();
    run.delivered = json_array();
    run.failures = json_array();
    sl_time_format_rfc3339(run.now, sizeof(run.now),
                           r->wall_now ? r->wall_now(r->clock_ctx) : time(NULL));
    run.gate = r->gate;
    run.have_gate = r->gate.scan != NULL;
    run.attest_gate = r->attest_gate;
    run.have_attest_gate = r->attest_gate.attest != NULL;
    char **tags = NULL;
    size_t ntags = 0;
    bool suspended = json_is_true(sl_kube_json_path(req->obj, "spec.suspend"));

    /* one deadline for every registry exchange of this pass (scan gate included), so a slow or
     * stalling registry cannot hold a worker */
    int64_t timeout_ms = r->cc.registry_timeout_ms;
    int64_t deadline = timeout_ms > 0 ? sl_mono_ms() + timeout_ms : 0;
    int64_t prev_deadline = sl_registry_deadline_set(deadline);
    int rc = step_read_spec(&run);
    /* index the ScanPolicy, SigningKeys and Secrets before any work: one that becomes Ready while
     * this pass still waits on it must queue this object again (the queue runs it once more after
     * this pass), not leave it waiting until the next retry */
    index_update(r, run.ns, run.name, &run.refs);
    if (rc == 0 && !suspended) {
        rc = step_credentials(&run);
        if (rc == 0) {
            open_endpoint(&run, &run.src);
            for (size_t i = 0; i < run.ntargets; i++)
                open_endpoint(&run, &run.targets[i]);
            rc = step_select_tags(&run, &tags, &ntags);
        }
        for (size_t i = 0; rc == 0 && i < ntags; i++)
            rc = process_tag(&run, tags[i]);
    }
    sl_registry_deadline_set(prev_deadline);
    if (deadline && sl_mono_ms() >= deadline && run.kind == SL_RESULT_TRANSIENT)
        step_timed_out(&run, timeout_ms);
    /* the sign key's Secret is known only after loading it: index after the work */
    index_update(r, run.ns, run.name, &run.refs);
    if (suspended && !(rc != 0 && strcmp(run.g_reason ? run.g_reason : "", "InvalidSpec") == 0))
        rc = finish(&run, true, result, err);
    else
        rc = finish(&run, false, result, err);

    sl_imd_strv_free(tags, ntags);
    endpoint_clear(&run, &run.src);
    for (size_t i = 0; i < run.ntargets; i++) {
        free((char *)run.targets[i].field);
        endpoint_clear(&run, &run.targets[i]);
    }
    free(run.targets);
    for (size_t i = 0; i < run.nverify; i++)
        sl_key_free(run.verify_keys[i]);
    sl_key_free(run.sign_key);
    free(run.sign_secret_name);
    json_decref(run.images);
    json_decref(run.delivered);
    json_decref(run.failures);
    return rc;
}

static void reconciler_free(void *self)
{
    struct imd_reconciler *r = self;
    if (!r)
        return;
    for (size_t i = 0; i < r->nverified; i++)
        free(r->verified[i].key);
    free(r->verified);
    pthread_mutex_destroy(&r->verified_lock);
    sl_refindex_free(r->refs);
    secret_cache_drop_locked(r, NULL, NULL);
    for (size_t i = 0; i < r->nkeys; i++)
        key_entry_free(&r->keys[i]);
    sl_imd_registry_cache_free(r->cache);
    sl_cloud_cache_free(r->cloud_cache);
    pthread_mutex_destroy(&r->secrets_lock);
    free(r);
}

static const struct sl_kube_resource *const secondary_resources[] = {
    &SL_RES_SECRET, &SL_RES_SIGNINGKEY, &SL_RES_SCANPOLICY, NULL};

int sl_imagedelivery_reconciler_new(struct sl_reconciler **out,
                                    const struct sl_imagedelivery_deps *deps, struct sl_err *err)
{
    (void)err;
    struct imd_reconciler *r = sl_xcalloc(1, sizeof(*r));
    r->refs = sl_refindex_new();
    pthread_mutex_init(&r->secrets_lock, NULL);
    pthread_mutex_init(&r->verified_lock, NULL);
    r->verified = sl_xcalloc(VERIFIED_MAX, sizeof(*r->verified));
    if (deps && deps->registry) {
        r->reg = *deps->registry;
    } else {
        r->cache = sl_imd_registry_cache_new(0, 0);
        sl_imd_registry_ops_real(&r->reg, r->cache);
    }
    if (deps && deps->scan_gate)
        r->gate = *deps->scan_gate;
    if (deps && deps->attest_gate)
        r->attest_gate = *deps->attest_gate;
    if (deps && deps->config)
        r->cc = *deps->config;
    if (deps && deps->cloud)
        r->cloud = *deps->cloud;
    else
        sl_cloud_ops_real(&r->cloud);
    r->cloud_cache = sl_cloud_cache_new();
    if (deps) {
        r->wall_now = deps->wall_now;
        r->clock_ctx = deps->clock_ctx;
    }
    r->base = (struct sl_reconciler){
        .kind = "ImageDelivery",
        .resource = &SL_RES_IMAGEDELIVERY,
        .self = r,
        .reconcile = reconcile,
        .secondary = secondary_resources,
        .map_secondary = map_secondary,
        .free = reconciler_free,
    };
    *out = &r->base;
    return 0;
}
