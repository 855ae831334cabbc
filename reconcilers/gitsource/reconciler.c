#include "gitsource/reconciler.h"
#include "runtime/apply.h"
#include "gitsource/manifests.h"
#include "git/fetchproc.h"
#include "git/ignore.h"
#include "git/pgpsig.h"
#include "git/sshsig.h"
#include "git/repourl.h"
#include "kube/client.h"
#include "kube/ops.h"
#include "kube/secret.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"
#include "runtime/config.h"
#include "runtime/status.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_INTERVAL_MS (60 * 1000)
#define DEFAULT_TIMEOUT_MS  (60 * 1000) /* Flux's default for a GitRepository */
#define WAIT_SECRET_MS      (30 * 1000)
#define STATUS_MESSAGE_MAX  2000

struct gitsource {
    struct sl_reconciler base; /* first: the manager frees everything through base.free */
    char *cache_root;
    struct sl_controller_config cc; /* the administrator's settings (strings borrowed) */
    struct sl_git_ops git;
};

static int real_fetch(void *ctx, struct sl_git_result *out, const char *cache_dir, const char *url,
                      const struct sl_git_ref *ref, const struct sl_git_auth *auth,
                      int64_t timeout_ms, struct sl_err *err)
{
    (void)timeout_ms; /* in this process a fetch cannot be stopped: see struct sl_git_ops */
    return sl_git_fetch(out, cache_dir, url, ref, auth, err);
}

static int real_read_signature(void *ctx, struct sl_git_signature *out, const char *cache_dir,
                               const char *commit, const char *tag, struct sl_err *err)
{
    return sl_git_read_signature(out, cache_dir, commit, tag, err);
}

static int real_read(void *ctx, struct sl_git_file **out, size_t *out_count, const char *cache_dir,
                     const char *commit, const char *dir, struct sl_err *err)
{
    return sl_git_read_manifests(out, out_count, cache_dir, commit, dir, err);
}

/* The kinds a GitSource applies (sl_manifests_known_kind), with their API resources. */
static const struct sl_kube_resource *const APPLIED_KINDS[] = {
    &SL_RES_IMAGEDELIVERY, &SL_RES_SCANPOLICY, &SL_RES_SIGNINGKEY,
    &SL_RES_DEPLOYPOLICY,  &SL_RES_GITSOURCE,
};
#define N_APPLIED_KINDS (sizeof(APPLIED_KINDS) / sizeof(APPLIED_KINDS[0]))

static const struct sl_kube_resource *resource_for_kind(const char *kind)
{
    for (size_t i = 0; kind && i < N_APPLIED_KINDS; i++)
        if (strcmp(kind, APPLIED_KINDS[i]->kind) == 0)
            return APPLIED_KINDS[i];
    return NULL;
}

/* How a GitSource marks and recognises what it applied (see reconciler.h). */
struct ownership {
    char field_manager[129];
    char adopt_value[320]; /* "<namespace>/<name>" */
    char desc[340];        /* "GitSource <namespace>/<name>" */
    char selector[400];    /* label selector of its objects */
    json_t *labels;
    /* the client for the repository's objects: the controller's, or with
     * spec.serviceAccountName one impersonating that ServiceAccount (acting_as names it) */
    struct sl_kube_ops kube;
    bool impersonating;
    char acting_as[160]; /* "ServiceAccount <namespace>/<name>", or "" */
};

static void ownership_init(struct ownership *o, const char *ns, const char *name)
{
    memset(o, 0, sizeof(*o));
    int n = snprintf(o->field_manager, sizeof(o->field_manager), "%s%s/%s",
                     SL_GITSOURCE_FIELD_MANAGER_PREFIX, ns, name);
    if (n < 0 || (size_t)n >= sizeof(o->field_manager)) {
        /* over the API server's 128 characters: a digest of "<namespace>/<name>" instead */
        char id[600];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        snprintf(id, sizeof(id), "%s/%s", ns, name);
        EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL);
        int off = snprintf(o->field_manager, sizeof(o->field_manager), "%s",
                           SL_GITSOURCE_FIELD_MANAGER_PREFIX);
        for (unsigned int i = 0; i < 20 && off > 0 && (size_t)off + 2 < sizeof(o->field_manager);
             i++)
            off += snprintf(o->field_manager + off, sizeof(o->field_manager) - (size_t)off, "%02x",
                            md[i]);
    }
    snprintf(o->adopt_value, sizeof(o->adopt_value), "%s/%s", ns, name);
    snprintf(o->desc, sizeof(o->desc), "GitSource %s/%s", ns, name);
    snprintf(o->selector, sizeof(o->selector), "%s=%s,%s=%s", SL_GITSOURCE_LABEL_NAMESPACE, ns,
             SL_GITSOURCE_LABEL_NAME, name);
    o->labels =
        json_pack("{s:s, s:s}", SL_GITSOURCE_LABEL_NAMESPACE, ns, SL_GITSOURCE_LABEL_NAME, name);
}

static void ownership_clear(struct ownership *o)
{
    json_decref(o->labels);
    o->labels = NULL;
    if (o->impersonating)
        sl_kube_ops_release(&o->kube);
    o->impersonating = false;
}

/* Sets o->kube for the repository's objects of the GitSource whose spec is spec: with
 * spec.serviceAccountName, requests impersonate that ServiceAccount of the GitSource's
 * namespace (RBAC bounds what the repository can do); without it, the controller's own client.
 * Returns 0 or SL_EINVAL / SL_EFAIL (err set). */
static int ownership_client(struct ownership *o, struct sl_runtime *rt, const char *ns,
                            const json_t *spec, struct sl_err *err)
{
    const char *sa = json_string_value(json_object_get(spec, "serviceAccountName"));
    o->kube = rt->kube;
    o->acting_as[0] = '\0';
    if (!sa)
        return 0;
    int rc = sl_kube_ops_as_service_account(&o->kube, &rt->kube, ns, sa, err);
    if (rc != 0) {
        o->kube = rt->kube;
        return rc;
    }
    o->impersonating = true;
    snprintf(o->acting_as, sizeof(o->acting_as), "ServiceAccount %s/%s", ns, sa);
    return 0;
}

/* Decoded value of data[key] of a Secret (caller frees securely), or NULL (the policy of
 * kube/secret.h: stringData is never read). */
static char *secret_value(const json_t *secret, const char *key)
{
    return sl_kube_secret_string(secret, key);
}

static json_t *inventory_entry(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    json_t *e = json_pack("{s:s, s:s, s:s}", "apiVersion",
                          json_string_value(json_object_get(obj, "apiVersion")), "kind",
                          json_string_value(json_object_get(obj, "kind")), "name",
                          json_string_value(json_object_get(meta, "name")));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (ns && *ns)
        json_object_set_new(e, "namespace", json_string(ns));
    return e;
}

static bool same_entry(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"kind", "name", "namespace"};
    for (size_t i = 0; i < 3; i++) {
        const char *x = json_string_value(json_object_get(a, keys[i]));
        const char *y = json_string_value(json_object_get(b, keys[i]));
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
            return false;
    }
    return true;
}

static bool inventory_has(const json_t *inv, const json_t *entry)
{
    size_t i;
    json_t *e;
    json_array_foreach(inv, i, e)
    {
        if (same_entry(e, entry))
            return true;
    }
    return false;
}

/* Appends "; " + text to msg, keeping it bounded. */
static void msg_append(char *msg, size_t n, const char *text)
{
    size_t len = strlen(msg);
    if (len + 4 >= n)
        return;
    snprintf(msg + len, n - len, "%s%s", len ? "; " : "", text);
}

struct outcome {
    const char *status; /* Ready condition */
    const char *reason;
    char message[STATUS_MESSAGE_MAX];
    enum sl_result_kind kind;
    int64_t requeue_ms;
};

static void set_outcome(struct outcome *o, const char *status, const char *reason,
                        enum sl_result_kind kind, int64_t requeue_ms, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void set_outcome(struct outcome *o, const char *status, const char *reason,
                        enum sl_result_kind kind, int64_t requeue_ms, const char *fmt, ...)
{
    o->status = status;
    o->reason = reason;
    o->kind = kind;
    o->requeue_ms = requeue_ms;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof(o->message), fmt, ap);
    va_end(ap);
}

/* Is inventory entry e (or an object's kind/namespace/name) the GitSource itself? */
static bool is_self_ref(const char *kind, const char *ns, const char *name,
                        const struct sl_reconcile_request *req)
{
    return kind && ns && name && strcmp(kind, "GitSource") == 0 && strcmp(ns, req->ns) == 0 &&
           strcmp(name, req->name) == 0;
}

/* Applies one object as this GitSource (its field manager and labels) unless the cluster
 * already has it as git says; an existing object that is not the GitSource's is left alone
 * (SL_EEXISTS). Returns 1 when written, 0 when unchanged, negative on error (err set). */
static int apply_object(struct sl_runtime *rt, const struct sl_reconcile_request *req,
                        const struct ownership *own, const json_t *obj, struct sl_err *err)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const struct sl_kube_resource *known = resource_for_kind(kind);
    if (!known)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "unknown kind %s", kind);
    /* the version the file is written in (sl_manifests_load accepts v1beta1 and v1alpha1): the
     * API server converts it, so git may hold either while the kinds move to v1beta1 */
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *slash = api ? strchr(api, '/') : NULL;
    struct sl_kube_resource versioned = *known;
    if (slash && slash[1])
        versioned.version = slash + 1;
    const struct sl_kube_resource *res = &versioned;
    struct sl_apply_owner owner = {.field_manager = own->field_manager,
                                   .labels = own->labels,
                                   .adopt_annotation = SL_GITSOURCE_ADOPT_ANNOTATION,
                                   .adopt_value = own->adopt_value,
                                   .owner_desc = own->desc};
    /* a repository that holds its own GitSource manages it (the object exists: someone
     * created the GitSource that reads the repository) */
    const json_t *meta = json_object_get(obj, "metadata");
    owner.take_over = is_self_ref(kind, json_string_value(json_object_get(meta, "namespace")),
                                  json_string_value(json_object_get(meta, "name")), req);
    /* git is the truth for what it holds: a `kubectl patch` or `edit` of an object of this
     * GitSource is taken back (the GitSource itself is bootstrapped by hand and left alone) */
    char hand_edits[256] = "";
    owner.take_back_hand_edits = !owner.take_over;
    owner.hand_edits = hand_edits;
    owner.hand_edits_cap = sizeof(hand_edits);
    int written = 0;
    int rc = sl_apply_owned(&written, &own->kube, res, obj, &owner, err);
    if (rc == 0 && hand_edits[0]) {
        char msg[800];
        snprintf(msg, sizeof(msg),
                 "%s %s: took back the fields changed by hand (%s); suspend the GitSource "
                 "(spec.suspend) before editing its objects by hand",
                 kind, json_string_value(json_object_get(meta, "name")), hand_edits);
        sl_runtime_event(rt, req->obj, "Normal", "DriftCorrected", msg);
        sl_log_info(&req->log, "%s", msg);
    }
    return rc ? rc : written;
}

/* Lists every object of the kinds a GitSource applies that carries this GitSource's labels, in
 * the namespaces it may write (its own; every namespace and cluster-scoped kinds for a
 * GitSource in the controller's namespace). *out gets an array of inventory entries
 * {apiVersion, kind, namespace, name}. This, not status.inventory, is what pruning works from:
 * status is written by others too, and a write that lost a conflict may have dropped entries. */
static int list_owned(json_t **out, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                      const struct ownership *own, struct sl_err *err)
{
    bool privileged = rt->controller_namespace && strcmp(req->ns, rt->controller_namespace) == 0;
    json_t *entries = json_array();
    for (size_t k = 0; k < N_APPLIED_KINDS; k++) {
        const struct sl_kube_resource *res = APPLIED_KINDS[k];
        if (!res->namespaced && !privileged)
            continue;
        const char *ns = res->namespaced && !privileged ? req->ns : NULL;
        struct sl_kube_list_opts lo = {.label_selector = own->selector};
        json_t *list = NULL;
        int rc = own->kube.list(own->kube.ctx, &list, res, ns, &lo, err);
        if (rc) {
            json_decref(entries);
            return rc;
        }
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            const char *name = sl_kube_obj_name(item);
            const char *ins = sl_kube_obj_namespace(item);
            if (!name)
                continue;
            char api[160];
            snprintf(api, sizeof(api), "%s/%s", res->group, res->version);
            json_t *e =
                json_pack("{s:s, s:s, s:s}", "apiVersion", api, "kind", res->kind, "name", name);
            if (res->namespaced && ins && *ins)
                json_object_set_new(e, "namespace", json_string(ins));
            json_array_append_new(entries, e);
        }
        json_decref(list);
    }
    *out = entries;
    return 0;
}

static bool has_finalizer(const json_t *obj)
{
    size_t i;
    json_t *f;
    json_array_foreach(sl_kube_json_path(obj, "metadata.finalizers"), i, f)
    {
        if (json_is_string(f) && strcmp(json_string_value(f), SL_GITSOURCE_FINALIZER) == 0)
            return true;
    }
    return false;
}

/* Adds (present) or removes SL_GITSOURCE_FINALIZER, keeping everyone else's finalizers. The
 * merge patch carries obj's resourceVersion, so a stale copy fails with SL_ECONFLICT instead of
 * overwriting a finalizer list that changed meanwhile. *out (may be NULL) gets the object as
 * written. Returns 0 or the API error (err set). */
static int set_finalizer(json_t **out, struct sl_runtime *rt, const json_t *obj, bool present,
                         struct sl_err *err)
{
    json_t *list = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(sl_kube_json_path(obj, "metadata.finalizers"), i, f)
    {
        if (!json_is_string(f) || strcmp(json_string_value(f), SL_GITSOURCE_FINALIZER) != 0)
            json_array_append(list, f);
    }
    if (present)
        json_array_append_new(list, json_string(SL_GITSOURCE_FINALIZER));
    json_t *meta = json_object();
    if (json_array_size(list) > 0) {
        json_object_set_new(meta, "finalizers", list);
    } else {
        json_decref(list);
        json_object_set_new(meta, "finalizers", json_null());
    }
    const char *rv = sl_kube_obj_resource_version(obj);
    if (rv)
        json_object_set_new(meta, "resourceVersion", json_string(rv));
    json_t *patch = json_object();
    json_object_set_new(patch, "metadata", meta);
    char *body = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    if (!body)
        abort(); /* json_dumps fails only when out of memory */
    struct sl_kube_patch_opts opts = {.type = SL_PATCH_MERGE};
    int rc = rt->kube.patch(rt->kube.ctx, out, &SL_RES_GITSOURCE, sl_kube_obj_namespace(obj),
                            sl_kube_obj_name(obj), body, &opts, err);
    free(body);
    return rc;
}

/* Is inventory entry e the GitSource itself (a repository that holds its own GitSource)? */
static bool is_self(const json_t *e, const struct sl_reconcile_request *req)
{
    return is_self_ref(json_string_value(json_object_get(e, "kind")),
                       json_string_value(json_object_get(e, "namespace")),
                       json_string_value(json_object_get(e, "name")), req);
}

/* Deletes the objects of inventory that the apply rules let the GitSource of req manage (not
 * the GitSource itself). Those that could not be deleted go into remaining and a line each into
 * problems (cap bytes). Returns how many failed; *deleted gets how many are gone. */
static size_t prune_inventory(size_t *deleted, json_t *remaining, char *problems, size_t cap,
                              struct sl_runtime *rt, const struct sl_reconcile_request *req,
                              const struct ownership *own, const json_t *inventory)
{
    size_t i, failed = 0;
    json_t *e;
    *deleted = 0;
    json_array_foreach(inventory, i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *ns = json_string_value(json_object_get(e, "namespace"));
        const char *name = json_string_value(json_object_get(e, "name"));
        char why[200];
        if (is_self(e, req))
            continue; /* already being deleted */
        if (!sl_manifests_entry_allowed(e, req->ns, rt->controller_namespace, why, sizeof(why))) {
            sl_log_warn(&req->log, "not deleting inventory entry %s %s%s%s: %s", kind ? kind : "?",
                        ns ? ns : "", ns ? "/" : "", name ? name : "?", why);
            continue;
        }
        const struct sl_kube_resource *res = resource_for_kind(kind);
        if (!res)
            continue; /* sl_manifests_entry_allowed knows only kinds that map */
        struct sl_err derr = {0};
        int drc = own->kube.del(own->kube.ctx, res, ns, name, &derr);
        if (drc == 0 || drc == SL_ENOTFOUND) {
            (*deleted)++;
            continue;
        }
        failed++;
        json_array_append(remaining, e); /* only these are tried again */
        char line[800];
        snprintf(line, sizeof(line), "%s %s%s%s: %s", kind, ns ? ns : "", ns ? "/" : "", name,
                 derr.msg);
        msg_append(problems, cap, line);
    }
    return failed;
}

/* Some objects could not be pruned: status says so (Ready=False PruneFailed, the inventory cut
 * to remaining), with a Warning event when the reason is new. */
static void report_prune_failed(struct sl_runtime *rt, const struct sl_reconcile_request *req,
                                const json_t *fresh, json_t *remaining, const char *message)
{
    const json_t *prev = sl_condition_get(json_object_get(fresh, "status"), "Ready");
    const char *prev_reason = json_string_value(json_object_get(prev, "reason"));
    json_t *status = json_deep_copy(json_object_get(fresh, "status"));
    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    json_object_set(status, "inventory", remaining);
    struct sl_outcome outcome = {SL_RESULT_TRANSIENT, "False", "PruneFailed", message, false};
    sl_outcome_apply(status, &outcome, sl_kube_obj_generation(fresh));
    struct sl_err werr = {0};
    int wrc = sl_status_write(NULL, &rt->kube, &SL_RES_GITSOURCE, fresh, status, &werr);
    if (wrc && wrc != SL_ENOTFOUND)
        sl_log_warn(&req->log, "status write failed: %s", werr.msg);
    if (!prev_reason || strcmp(prev_reason, "PruneFailed") != 0)
        sl_runtime_event(rt, fresh, "Warning", "PruneFailed", message);
    json_decref(status);
}

/* A GitSource with metadata.deletionTimestamp. If it carries our finalizer: with spec.prune and
 * without spec.suspend, deletes the objects that carry its labels (list_owned; those the apply
 * rules let it manage), then removes the finalizer; with prune off or suspended, removes the
 * finalizer and leaves the objects. */
static int finalize(struct sl_runtime *rt, const struct sl_reconcile_request *req,
                    struct sl_reconcile_result *out, struct sl_err *err)
{
    json_t *fresh = NULL, *remaining = NULL, *inventory = NULL;
    struct ownership own;
    ownership_init(&own, req->ns, req->name);
    char problems[STATUS_MESSAGE_MAX] = "";
    char message[STATUS_MESSAGE_MAX + 200];
    struct sl_err kerr = {0};
    out->kind = SL_RESULT_DONE;
    out->requeue_after_ms = 0;
    int rc = rt->kube.get(rt->kube.ctx, &fresh, &SL_RES_GITSOURCE, req->ns, req->name, &kerr);
    if (rc == SL_ENOTFOUND) {
        rc = 0;
        goto done;
    }
    if (rc) {
        sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "reading the GitSource to clean up: %s", kerr.msg);
        rc = SL_ERETRY;
        goto done;
    }
    if (!has_finalizer(fresh))
        goto done; /* nothing of ours holds the deletion */

    const json_t *spec = json_object_get(fresh, "spec");
    bool prune = !json_is_false(json_object_get(spec, "prune"));
    bool suspended = json_is_true(json_object_get(spec, "suspend"));
    /* the objects go away with the rights they were applied with (spec.serviceAccountName) */
    rc = ownership_client(&own, rt, req->ns, spec, &kerr);
    if (rc) {
        sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "cleaning up the GitSource's objects: %s",
                   kerr.msg);
        rc = SL_ERETRY;
        goto done;
    }
    rc = list_owned(&inventory, rt, req, &own, &kerr);
    if (rc) {
        sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "listing the GitSource's objects to clean up: %s",
                   kerr.msg);
        rc = SL_ERETRY;
        goto done;
    }
    size_t deleted = 0, failed = 0;
    remaining = json_array();
    if (!prune || suspended) {
        if (json_array_size(inventory) > 0)
            sl_log_info(&req->log, "deleted with %s: %zu applied object(s) left in place",
                        suspended ? "spec.suspend" : "spec.prune false",
                        json_array_size(inventory));
    } else {
        failed = prune_inventory(&deleted, remaining, problems, sizeof(problems), rt, req, &own,
                                 inventory);
    }
    if (deleted) {
        snprintf(message, sizeof(message), "deleted %zu object(s) the GitSource applied", deleted);
        sl_log_info(&req->log, "%s", message);
        sl_runtime_event(rt, fresh, "Normal", "Pruned", message);
    }
    if (failed) {
        snprintf(message, sizeof(message),
                 "GitSource is being deleted: %zu object(s) it applied could not be "
                 "deleted (kept the finalizer %s, retrying): %s",
                 failed, SL_GITSOURCE_FINALIZER, problems);
        report_prune_failed(rt, req, fresh, remaining, message);
        sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "%s", message);
        rc = SL_ERETRY;
        goto done;
    }
    rc = set_finalizer(NULL, rt, fresh, false, &kerr);
    if (rc == SL_ENOTFOUND) {
        rc = 0;
    } else if (rc) {
        sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "removing finalizer %s: %s",
                   SL_GITSOURCE_FINALIZER, kerr.msg);
        rc = SL_ERETRY;
    }
done:
    if (rc)
        out->kind = SL_RESULT_TRANSIENT;
    json_decref(fresh);
    json_decref(remaining);
    json_decref(inventory);
    ownership_clear(&own);
    return rc;
}

/* Checks what the spec says before anything is fetched: spec.interval (raised to
 * --min-interval), spec.timeout (1s .. 1h), spec.ignore (parsed into *ignore, the caller's), the
 * name (a label value), spec.suspend, spec.url (file:// only with --allow-local-paths). Returns 0
 * to go on (*url_out borrowed from spec), or -1 with the outcome in o. */
static int check_spec(int64_t *interval_ms, int64_t *timeout_ms, struct sl_git_ignore **ignore,
                      const char **url_out, struct outcome *o, const struct gitsource *g,
                      const struct sl_reconcile_request *req, const json_t *spec)
{
    const char *interval = json_string_value(json_object_get(spec, "interval"));
    if (interval && (sl_duration_parse_ms(interval_ms, interval) != 0 || *interval_ms <= 0)) {
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0,
                    "spec.interval: invalid duration \"%s\"", interval);
        return -1;
    }
    /* the schema bounds it too; a v1alpha1 write carries it in an annotation the conversion
     * restores, so check again what reaches the fetch */
    const char *timeout = json_string_value(json_object_get(spec, "timeout"));
    *timeout_ms = DEFAULT_TIMEOUT_MS;
    if (timeout && (sl_duration_parse_ms(timeout_ms, timeout) != 0 || *timeout_ms < 1000 ||
                    *timeout_ms > SL_GIT_FETCH_TIMEOUT_MAX_MS)) {
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0,
                    "spec.timeout: \"%s\" is not a duration from 1s to 1h", timeout);
        return -1;
    }
    struct sl_err ierr = {0};
    if (sl_git_ignore_parse(ignore, json_string_value(json_object_get(spec, "ignore")), &ierr)) {
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0, "%s", ierr.msg);
        return -1;
    }
    *interval_ms = sl_controller_clamp_interval_ms(&g->cc, *interval_ms);
    if (strlen(req->name) > 63) {
        /* the name is a label value on every object the GitSource applies */
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0,
                    "metadata.name: a GitSource name is at most 63 characters (it labels the "
                    "objects the GitSource applies, %s)",
                    SL_GITSOURCE_LABEL_NAME);
        return -1;
    }
    if (json_is_true(json_object_get(spec, "suspend"))) {
        set_outcome(o, "Unknown", "Suspended", SL_RESULT_DONE, 0,
                    "fetching and applying are suspended (spec.suspend)");
        return -1;
    }
    const char *url = json_string_value(json_object_get(spec, "url"));
    *url_out = url;
    if (!url || !*url) {
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0, "spec.url: Required value");
        return -1;
    }
    switch (sl_repourl_kind(url)) {
    case SL_REPOURL_REMOTE:
        break;
    case SL_REPOURL_LOCAL:
        if (g->cc.allow_local_paths)
            break;
        set_outcome(o, "False", "LocalPathNotAllowed", SL_RESULT_STALLED, 0,
                    "spec.url: file:// URLs and paths read the controller's own filesystem; "
                    "allowed only when the controller runs with --allow-local-paths");
        return -1;
    default:
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0,
                    "spec.url: \"%s\" is not an https://, http://, ssh://, git:// or file:// URL",
                    url);
        return -1;
    }
    return 0;
}

/* What spec.secretRef gives git: the Secret and the values taken from it (secret ones wiped on
 * clear). */
struct git_creds {
    json_t *secret;
    char *username, *password, *identity, *known_hosts, *ca;
    struct sl_git_auth auth; /* borrows the strings above */
};

static void git_creds_clear(struct git_creds *c)
{
    json_decref(c->secret);
    sl_secure_free_str(c->username);
    sl_secure_free_str(c->password);
    sl_secure_free_str(c->identity);
    free(c->known_hosts);
    free(c->ca);
    memset(c, 0, sizeof(*c));
}

/* Reads the Secret spec.secretRef names into c (nothing without one): it must be a git repository
 * Secret whose url covers url, else nothing is sent anywhere. Returns 0, or -1 with the outcome in
 * o. */
static int read_credentials(struct git_creds *c, struct outcome *o, struct sl_runtime *rt,
                            const struct sl_reconcile_request *req, const json_t *spec,
                            const char *url)
{
    const char *secret_name =
        json_string_value(json_object_get(json_object_get(spec, "secretRef"), "name"));
    if (secret_name) {
        struct sl_err serr = {0};
        int rc =
            rt->kube.get(rt->kube.ctx, &c->secret, &SL_RES_SECRET, req->ns, secret_name, &serr);
        if (rc) {
            set_outcome(o, "False", rc == SL_ENOTFOUND ? "SecretNotFound" : "SecretError",
                        SL_RESULT_WAITING, WAIT_SECRET_MS, "spec.secretRef.name: %s",
                        rc == SL_ENOTFOUND ? "Secret not found in the GitSource's namespace"
                                           : serr.msg);
            return -1;
        }
        /* credentials go only to the repositories their Secret is for (Argo CD's repository
         * Secrets): a Secret made for something else (a database password) is never sent */
        char why[200];
        const char *type = json_string_value(json_object_get(
            sl_kube_json_path(c->secret, "metadata.labels"), SL_GITSOURCE_SECRET_TYPE_LABEL));
        if (!type || strcmp(type, SL_GITSOURCE_SECRET_TYPE) != 0) {
            set_outcome(o, "False", "CredentialsNotForURL", SL_RESULT_WAITING, WAIT_SECRET_MS,
                        "spec.secretRef.name: Secret %s is not a git repository Secret (label "
                        "%s=%s); nothing was fetched",
                        secret_name, SL_GITSOURCE_SECRET_TYPE_LABEL, SL_GITSOURCE_SECRET_TYPE);
            return -1;
        }
        char *secret_url = secret_value(c->secret, "url");
        bool covered = sl_repourl_covers(secret_url, url, why, sizeof(why));
        free(secret_url);
        if (!covered) {
            set_outcome(o, "False", "CredentialsNotForURL", SL_RESULT_WAITING, WAIT_SECRET_MS,
                        "spec.secretRef.name: Secret %s is not for %s (%s; its url key names "
                        "the repository or URL prefix it is for); nothing was fetched",
                        secret_name, url, why);
            return -1;
        }
        c->username = secret_value(c->secret, "username");
        c->password = secret_value(c->secret, "password");
        if (!c->password)
            c->password = secret_value(c->secret, "token");
        c->identity = secret_value(c->secret, "identity");
        c->known_hosts = secret_value(c->secret, "known_hosts");
        c->ca = secret_value(c->secret, "ca.crt");
        c->auth = (struct sl_git_auth){.username = c->username,
                                       .password = c->password,
                                       .identity_pem = c->identity,
                                       .known_hosts = c->known_hosts,
                                       .ca_pem = c->ca};
    }
    return 0;
}

/* spec.verify: reads the trusted keys (SSH authorized_keys lines and OpenPGP public key blocks,
 * every value of the Secret spec.verify.secretRef) into *keys (caller frees; NULL without
 * spec.verify). Returns 0, or -1 with the outcome in o. */
static int read_verify_keys(char **keys, struct outcome *o, struct sl_runtime *rt,
                            const struct sl_reconcile_request *req, const json_t *spec)
{
    const json_t *verify = json_object_get(spec, "verify");
    *keys = NULL;
    if (!verify)
        return 0;
    const char *mode = json_string_value(json_object_get(verify, "mode"));
    const json_t *ref = json_object_get(spec, "ref");
    if (mode && strcmp(mode, "Tag") == 0 && !json_object_get(ref, "tag")) {
        set_outcome(o, "False", "InvalidSpec", SL_RESULT_STALLED, 0,
                    "spec.verify.mode Tag needs spec.ref.tag");
        return -1;
    }
    const char *name =
        json_string_value(json_object_get(json_object_get(verify, "secretRef"), "name"));
    json_t *secret = NULL;
    struct sl_err serr = {0};
    int rc = name ? rt->kube.get(rt->kube.ctx, &secret, &SL_RES_SECRET, req->ns, name, &serr)
                  : SL_ENOTFOUND;
    if (rc) {
        set_outcome(o, "False", rc == SL_ENOTFOUND ? "SecretNotFound" : "SecretError",
                    SL_RESULT_WAITING, WAIT_SECRET_MS, "spec.verify.secretRef.name: %s",
                    rc == SL_ENOTFOUND ? "Secret not found in the GitSource's namespace"
                                       : serr.msg);
        return -1;
    }
    size_t cap = 1, len = 0;
    char *all = sl_xmalloc(cap);
    all[0] = '\0';
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(secret, "data"), key, v)
    {
        char *text = sl_kube_secret_string(secret, key);
        if (!text)
            continue;
        size_t n = strlen(text);
        if (len + n + 2 <= (size_t)1 << 20) {
            all = sl_xrealloc(all, len + n + 2);
            memcpy(all + len, text, n);
            len += n;
            all[len++] = '\n';
            all[len] = '\0';
        }
        free(text);
    }
    json_decref(secret);
    struct sl_err kerr = {0};
    int pgp_keys = sl_pgpsig_count_keys(all, &kerr);
    if (pgp_keys < 0) {
        free(all);
        set_outcome(o, "False", "Unverified", SL_RESULT_STALLED, 0,
                    "spec.verify.secretRef.name: Secret %s: %s; nothing was applied", name,
                    kerr.msg);
        return -1;
    }
    if (sl_sshsig_count_keys(all) == 0 && pgp_keys == 0) {
        free(all);
        set_outcome(o, "False", "Unverified", SL_RESULT_STALLED, 0,
                    "spec.verify.secretRef.name: Secret %s holds no trusted key (SSH "
                    "authorized_keys lines such as \"ssh-ed25519 AAAA...\", or OpenPGP public "
                    "key blocks as gpg --export --armor writes them); nothing was applied",
                    name);
        return -1;
    }
    *keys = all;
    return 0;
}

/* The fetched commit (spec.verify.mode HEAD) or tag (Tag) must carry a valid SSH or OpenPGP
 * signature by one of keys. Returns 0, or -1 with the outcome in o (Unverified: nothing is
 * applied). */
static int verify_revision(struct outcome *o, struct gitsource *g, const json_t *spec,
                           const char *keys, const char *cache_dir,
                           const struct sl_git_result *fetched, int64_t interval_ms)
{
    const json_t *verify = json_object_get(spec, "verify");
    const char *mode = json_string_value(json_object_get(verify, "mode"));
    const char *tag = mode && strcmp(mode, "Tag") == 0
                          ? json_string_value(json_object_get(json_object_get(spec, "ref"), "tag"))
                          : NULL;
    const char *secret =
        json_string_value(json_object_get(json_object_get(verify, "secretRef"), "name"));
    struct sl_git_signature sig = {0};
    struct sl_err err = {0};
    int rc = g->git.read_signature(g->git.ctx, &sig, cache_dir, fetched->commit, tag, &err);
    /* the armor decides the verifier: git writes either format with `git commit -S` */
    if (rc == 0 &&
        memmem(sig.signature, sig.signature_len, SL_PGPSIG_SIG_ARMOR, strlen(SL_PGPSIG_SIG_ARMOR)))
        rc = sl_pgpsig_verify(NULL, 0, sig.signature, sig.signature_len, sig.signed_data,
                              sig.signed_len, keys, (int64_t)time(NULL), &err);
    else if (rc == 0 &&
             memmem(sig.signature, sig.signature_len, "-----BEGIN SSH SIGNATURE-----", 29))
        rc = sl_sshsig_verify(NULL, 0, sig.signature, sig.signature_len, sig.signed_data,
                              sig.signed_len, keys, "git", &err);
    else if (rc == 0)
        rc = sl_err_set(&err, SL_EUNSUPPORTED, SL_ERRC_GIT,
                        "%s carries a signature that is neither OpenPGP nor SSH (X.509 "
                        "signatures, gpg.format x509, are not verified)",
                        tag ? "the tag" : "the commit");
    sl_git_signature_clear(&sig);
    if (rc == 0)
        return 0;
    set_outcome(o, "False", "Unverified", SL_RESULT_DONE, interval_ms,
                "revision %s: %s (spec.verify mode %s, keys of Secret %s); nothing was applied",
                fetched->revision, err.msg, tag ? "Tag" : "HEAD", secret ? secret : "?");
    return -1;
}

/* Applies the objects of set (apply_object) and lists each in desired. Failures get a line in
 * problems (cap bytes); a retryable one sets *transient. Returns how many failed; *written gets
 * how many were changed. */
static size_t apply_set(size_t *written, bool *transient, json_t *desired, char *problems,
                        size_t cap, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                        const struct ownership *own, const struct sl_manifest_set *set)
{
    size_t i, failed = 0;
    json_t *o_obj;
    json_array_foreach(set->objects, i, o_obj)
    {
        struct sl_err aerr = {0};
        int arc = apply_object(rt, req, own, o_obj, &aerr);
        json_array_append_new(desired, inventory_entry(o_obj));
        if (arc < 0) {
            char line[800];
            const json_t *meta = json_object_get(o_obj, "metadata");
            if (arc == SL_EEXISTS) /* the message names the object and how to hand it over */
                snprintf(line, sizeof(line), "%s: %s",
                         json_string_value(json_array_get(set->sources, i)), aerr.msg);
            else if (arc == SL_EAUTH && own->acting_as[0])
                /* RBAC of spec.serviceAccountName refused it: say whose rights were used */
                snprintf(line, sizeof(line), "%s: %s %s: applying as %s: %s",
                         json_string_value(json_array_get(set->sources, i)),
                         json_string_value(json_object_get(o_obj, "kind")),
                         json_string_value(json_object_get(meta, "name")), own->acting_as,
                         aerr.msg);
            else
                snprintf(line, sizeof(line), "%s: %s %s: %s",
                         json_string_value(json_array_get(set->sources, i)),
                         json_string_value(json_object_get(o_obj, "kind")),
                         json_string_value(json_object_get(meta, "name")), aerr.msg);
            msg_append(problems, cap, line);
            failed++;
            if (arc == SL_ERETRY)
                *transient = true;
        } else if (arc > 0) {
            (*written)++;
        }
    }
    return failed;
}

/* Deletes what carries the GitSource's labels and desired no longer has, when prune_allowed
 * (spec.prune, and every file parsed); the list is read from the API server now, so it holds
 * exactly the objects that are this GitSource's. What stays goes into inventory; failures get a
 * line in problems (cap bytes), a failed list sets *transient. Returns how many failed; *pruned
 * gets how many were deleted. */
static size_t prune_owned(size_t *pruned, bool *transient, json_t *inventory, char *problems,
                          size_t cap, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                          const struct ownership *own, const json_t *desired, bool prune_allowed)
{
    json_t *owned = NULL;
    size_t i, failed = 0;
    json_t *e;
    struct sl_err lerr = {0};
    if (list_owned(&owned, rt, req, own, &lerr) != 0) {
        char line[700];
        snprintf(line, sizeof(line), "listing the objects of this GitSource: %s", lerr.msg);
        msg_append(problems, cap, line);
        failed++;
        *transient = true;
        owned = json_array();
    }
    json_array_foreach(owned, i, e)
    {
        if (inventory_has(desired, e) || is_self(e, req) || !prune_allowed) {
            json_array_append(inventory, e);
            continue;
        }
        char why[200];
        if (!sl_manifests_entry_allowed(e, req->ns, rt->controller_namespace, why, sizeof(why))) {
            const char *kind = json_string_value(json_object_get(e, "kind"));
            const char *name = json_string_value(json_object_get(e, "name"));
            sl_log_warn(&req->log, "not pruning %s %s: %s", kind ? kind : "?", name ? name : "?",
                        why);
            continue;
        }
        const struct sl_kube_resource *res =
            resource_for_kind(json_string_value(json_object_get(e, "kind")));
        struct sl_err derr = {0};
        int drc = res ? own->kube.del(own->kube.ctx, res,
                                      json_string_value(json_object_get(e, "namespace")),
                                      json_string_value(json_object_get(e, "name")), &derr)
                      : SL_EINVAL;
        if (drc == 0 || drc == SL_ENOTFOUND) {
            (*pruned)++;
        } else {
            json_array_append(inventory, e); /* try again next time */
            char line[700];
            snprintf(line, sizeof(line), "prune %s %s: %s",
                     json_string_value(json_object_get(e, "kind")),
                     json_string_value(json_object_get(e, "name")), derr.msg);
            msg_append(problems, cap, line);
            failed++;
        }
    }
    json_decref(owned);
    return failed;
}

/* Fetches spec.ref of url into cache_dir, stopped after timeout_ms (status.artifact names the
 * revision, fetched at now when it is new), checks its signature when verify_keys is set
 * (spec.verify) and reads the manifests under spec.path at that commit into *files. Returns 0,
 * or -1 with the outcome in o (the last applied state is kept). */
static int fetch_files(struct sl_git_result *fetched, struct sl_git_file **files, size_t *nfiles,
                       struct outcome *o, struct gitsource *g, const json_t *spec, const char *url,
                       const struct sl_git_auth *auth, const char *verify_keys,
                       const char *cache_dir, int64_t interval_ms, int64_t timeout_ms,
                       json_t *status, const char *now)
{
    const json_t *ref = json_object_get(spec, "ref");
    struct sl_git_ref gref = {
        .branch = json_string_value(json_object_get(ref, "branch")),
        .tag = json_string_value(json_object_get(ref, "tag")),
        .commit = json_string_value(json_object_get(ref, "commit")),
    };
    struct sl_err ferr = {0};
    int rc = g->git.fetch(g->git.ctx, fetched, cache_dir, url, &gref, auth, timeout_ms, &ferr);
    if (rc) {
        /* keep the last applied state; retry with the queue's backoff */
        set_outcome(o, "False", rc == SL_EAUTH ? "AuthenticationFailed" : "FetchFailed",
                    rc == SL_EINVAL || rc == SL_ENOTFOUND ? SL_RESULT_WAITING : SL_RESULT_TRANSIENT,
                    interval_ms, "%s", ferr.msg);
        return -1;
    }
    json_t *artifact = json_object_get(status, "artifact");
    const char *old_rev = json_string_value(json_object_get(artifact, "revision"));
    if (!old_rev || strcmp(old_rev, fetched->revision) != 0 ||
        !json_object_get(artifact, "fetchedAt"))
        json_object_set_new(
            status, "artifact",
            json_pack("{s:s, s:s}", "revision", fetched->revision, "fetchedAt", now));
    if (verify_keys &&
        verify_revision(o, g, spec, verify_keys, cache_dir, fetched, interval_ms) != 0)
        return -1;

    const char *path = json_string_value(json_object_get(spec, "path"));
    rc = g->git.read_manifests(g->git.ctx, files, nfiles, cache_dir, fetched->commit,
                               path ? path : "", &ferr);
    if (rc) {
        set_outcome(o, "False", rc == SL_ENOTFOUND ? "PathNotFound" : "ReadFailed", SL_RESULT_DONE,
                    interval_ms, "%s", ferr.msg);
        return -1;
    }
    return 0;
}

/* A GitSource announces failures as Warnings; success is announced by the Applied event. */
static bool gitsource_event(void *ctx, const struct sl_outcome *o, const char **type,
                            const char **reason)
{
    (void)ctx;
    *type = "Warning";
    *reason = o->reason;
    return !(o->ready && strcmp(o->ready, "True") == 0);
}

/* Writes status with the outcome o (Ready, kstatus conditions, observedGeneration: generation,
 * that of the object the pass started with) and records
 * the events: a Warning when the Ready reason changed to a failure, Normal Applied when
 * lastAppliedRevision moved from prev_applied. */
static void write_outcome(struct sl_runtime *rt, const struct sl_reconcile_request *req,
                          const json_t *obj, long long generation, json_t *status,
                          const struct outcome *o, const char *prev_applied)
{
    struct sl_outcome outcome = {o->kind, o->status, o->reason, o->message,
                                 strcmp(o->reason, "Suspended") == 0};
    sl_outcome_apply(status, &outcome, generation);
    struct sl_err werr = {0};
    int wrc = sl_status_write(NULL, &rt->kube, &SL_RES_GITSOURCE, obj, status, &werr);
    if (wrc && wrc != SL_ENOTFOUND)
        sl_log_warn(&req->log, "status write failed: %s", werr.msg);
    /* events on transitions only: a failure as a Warning; success is the Applied event */
    sl_outcome_announce(rt, &req->log, obj, json_object_get(obj, "status"), &outcome,
                        gitsource_event, NULL);
    const char *applied = json_string_value(json_object_get(status, "lastAppliedRevision"));
    if (applied && (!prev_applied || strcmp(applied, prev_applied)))
        sl_runtime_event(rt, obj, "Normal", "Applied", o->message);
}

/* Applies the revision's objects (set, read at fetched), prunes what it no longer has (with
 * spec.prune) and records the result: status.inventory, lastAppliedRevision/At when nothing
 * failed, and the outcome in o (Applied, or ApplyFailed listing the problems). */
static void apply_revision(struct outcome *o, json_t *status, struct sl_runtime *rt,
                           const struct sl_reconcile_request *req, const struct ownership *own,
                           const struct sl_manifest_set *set, const struct sl_git_result *fetched,
                           bool prune, int64_t interval_ms, const char *now)
{
    char problems[STATUS_MESSAGE_MAX] = "";
    size_t i;
    json_t *e;
    json_array_foreach(set->errors, i, e)
    {
        msg_append(problems, sizeof(problems), json_string_value(e));
    }
    size_t written = 0, failed = json_array_size(set->errors);
    bool transient = false;
    json_t *desired = json_array(); /* what this revision defines, applied or not */
    failed +=
        apply_set(&written, &transient, desired, problems, sizeof(problems), rt, req, own, set);
    /* prune what carries this GitSource's labels and the new revision no longer has (never
     * while a file fails to parse: its objects would look removed) */
    json_t *inventory = json_array();
    size_t pruned = 0;
    failed += prune_owned(&pruned, &transient, inventory, problems, sizeof(problems), rt, req, own,
                          desired, prune && json_array_size(set->failed_files) == 0);
    json_decref(desired);
    json_object_set_new(status, "inventory", inventory);
    if (failed == 0) {
        const char *prev = json_string_value(json_object_get(status, "lastAppliedRevision"));
        if (!prev || strcmp(prev, fetched->revision) != 0 ||
            !json_object_get(status, "lastAppliedAt"))
            json_object_set_new(status, "lastAppliedAt", json_string(now));
        json_object_set_new(status, "lastAppliedRevision", json_string(fetched->revision));
    }
    if (written || pruned)
        sl_log_info(&req->log, "applied %s: %zu object(s) written, %zu pruned", fetched->revision,
                    written, pruned);
    if (failed) {
        set_outcome(o, "False", "ApplyFailed", transient ? SL_RESULT_TRANSIENT : SL_RESULT_DONE,
                    interval_ms, "revision %s: %zu problem(s): %s", fetched->revision, failed,
                    problems);
    } else {
        set_outcome(o, "True", "Applied", SL_RESULT_DONE, interval_ms,
                    "applied revision %s: %zu object(s)", fetched->revision,
                    json_array_size(set->objects));
    }
}

static int reconcile(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                     struct sl_reconcile_result *out, struct sl_err *err)
{
    struct gitsource *g = self;
    if (!req->obj) {
        /* gone: whatever cleanup spec.prune asked for ran under the finalizer */
        out->kind = SL_RESULT_DONE;
        out->requeue_after_ms = 0;
        return 0;
    }
    if (sl_kube_json_path(req->obj, "metadata.deletionTimestamp"))
        return finalize(rt, req, out, err);
    const json_t *obj = req->obj;
    const json_t *spec = json_object_get(obj, "spec");
    long long generation = sl_kube_obj_generation(obj);
    json_t *status = json_deep_copy(json_object_get(obj, "status"));
    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    const char *prev_applied =
        json_string_value(json_object_get(json_object_get(obj, "status"), "lastAppliedRevision"));
    char *prev_applied_copy = sl_xstrdup(prev_applied);

    struct outcome o = {0};
    struct ownership own;
    ownership_init(&own, req->ns, req->name);
    struct git_creds creds = {0};
    struct sl_git_file *files = NULL;
    size_t nfiles = 0;
    struct sl_manifest_set set = {0};
    char *cache_dir = NULL;
    json_t *patched = NULL; /* obj as our finalizer patch left it */
    struct sl_git_ignore *ignore = NULL;
    char *verify_keys = NULL;

    /* the finalizer goes on before anything is applied (an object applied while the GitSource
     * had none could outlive it) and comes off when prune is turned off (deleting then leaves
     * the objects, so nothing needs to hold the deletion) */
    bool prune = !json_is_false(json_object_get(spec, "prune"));
    if (prune != has_finalizer(obj)) {
        struct sl_err ferr = {0};
        int frc = set_finalizer(&patched, rt, obj, prune, &ferr);
        if (frc == SL_ENOTFOUND || frc == SL_ECONFLICT) {
            /* deleted, or changed since the cache saw it: the watch brings the new state */
            out->kind = frc == SL_ENOTFOUND ? SL_RESULT_DONE : SL_RESULT_TRANSIENT;
            out->requeue_after_ms = 0;
            if (frc == SL_ECONFLICT)
                sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE, "%s", ferr.msg);
            json_decref(status);
            free(prev_applied_copy);
            ownership_clear(&own);
            return frc == SL_ENOTFOUND ? 0 : SL_ERETRY;
        }
        if (frc) {
            set_outcome(&o, "False", "FinalizerFailed", SL_RESULT_TRANSIENT, 0,
                        "%s finalizer %s: %s", prune ? "adding" : "removing",
                        SL_GITSOURCE_FINALIZER, ferr.msg);
            goto write;
        }
        obj = patched;
    }

    int64_t interval_ms = DEFAULT_INTERVAL_MS, timeout_ms = DEFAULT_TIMEOUT_MS;
    const char *url = NULL;
    if (check_spec(&interval_ms, &timeout_ms, &ignore, &url, &o, g, req, spec) != 0)
        goto write;

    if (read_credentials(&creds, &o, rt, req, spec, url) != 0)
        goto write;
    if (read_verify_keys(&verify_keys, &o, rt, req, spec) != 0)
        goto write;
    struct sl_err saerr = {0};
    if (ownership_client(&own, rt, req->ns, spec, &saerr) != 0) {
        set_outcome(&o, "False", "InvalidSpec", SL_RESULT_DONE, interval_ms,
                    "spec.serviceAccountName: %s", saerr.msg);
        goto write;
    }

    cache_dir = sl_xasprintf("%s/%s/%s", g->cache_root, req->ns, req->name);
    struct sl_git_result fetched;
    char now[32];
    sl_time_now_rfc3339(now, sizeof(now));
    if (fetch_files(&fetched, &files, &nfiles, &o, g, spec, url, &creds.auth, verify_keys,
                    cache_dir, interval_ms, timeout_ms, status, now) != 0)
        goto write;
    /* spec.ignore: matching files are not read at all (as if they were not in git) */
    size_t kept = 0;
    for (size_t i = 0; i < nfiles; i++) {
        if (sl_git_ignore_file(ignore, files[i].path)) {
            free(files[i].path);
            free(files[i].content);
            continue;
        }
        files[kept++] = files[i];
    }
    nfiles = kept;
    sl_manifests_load(&set, files, nfiles, req->ns, rt->controller_namespace);

    apply_revision(&o, status, rt, req, &own, &set, &fetched, prune, interval_ms, now);

write:
    write_outcome(rt, req, obj, generation, status, &o, prev_applied_copy);
    out->kind = o.kind;
    out->requeue_after_ms = o.requeue_ms;
    if (o.kind == SL_RESULT_TRANSIENT)
        sl_err_set(err, SL_ERETRY, SL_ERRC_GIT, "%s", o.message);
    json_decref(status);
    git_creds_clear(&creds);
    sl_manifest_set_clear(&set);
    sl_git_files_free(files, nfiles);
    sl_git_ignore_free(ignore);
    free(verify_keys);
    free(cache_dir);
    free(prev_applied_copy);
    json_decref(patched);
    ownership_clear(&own);
    return o.kind == SL_RESULT_TRANSIENT ? SL_ERETRY : 0;
}

static void map_secondary(void *self, const struct sl_kube_resource *res, const json_t *obj,
                          void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    /* Objects a GitSource applied carry its labels, but drift is found on the interval, not
     * from their events. Nothing to map. */
}

static void gitsource_free(void *self)
{
    struct gitsource *g = self;
    if (!g)
        return;
    free(g->cache_root);
    free(g);
}

int sl_gitsource_reconciler_new(struct sl_reconciler **out, const char *cache_root,
                                const struct sl_controller_config *cc, const struct sl_git_ops *git,
                                struct sl_err *err)
{
    if (!cache_root || !*cache_root)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "GitSource cache directory not set");
    struct gitsource *g = sl_xcalloc(1, sizeof(*g));
    g->cache_root = sl_xstrdup(cache_root);
    if (cc)
        g->cc = *cc;
    g->git.ctx = git ? git->ctx : NULL;
    g->git.fetch = git && git->fetch ? git->fetch : real_fetch;
    g->git.read_manifests = git && git->read_manifests ? git->read_manifests : real_read;
    g->git.read_signature = git && git->read_signature ? git->read_signature : real_read_signature;
    g->base = (struct sl_reconciler){.kind = "GitSource",
                                     .resource = &SL_RES_GITSOURCE,
                                     .self = g,
                                     .reconcile = reconcile,
                                     .map_secondary = map_secondary,
                                     .free = gitsource_free};
    *out = &g->base;
    return 0;
}
