/* The GitSource reconciler against the in-memory fake API and a real local repository
 * (file://): apply, zero writes when nothing changed, drift correction, prune, a broken file,
 * suspend, missing Secret, and deletion (finalizer, inventory cleanup, orphaning). */
#include "check.h"
#include "git_fixture.h"
#include "util/base64.h"
#include "util/mem.h"
#include "fake_kube.h"
#include "gitsource/reconciler.h"
#include "recon_fixture.h"
#include "runtime/conditions.h"
#include "runtime/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[256], repo[300];
static struct sl_fake_kube *fk;
static struct sl_runtime rt;
static struct sl_reconciler *rec;
/* the tests read a file:// repository, as the controller does with --allow-local-paths */
static const struct sl_controller_config lab_config = {.allow_local_paths = true};
static int events;

static void write_file(const char *rel, const char *content)
{
    sl_test_git_write(repo, rel, content);
}

static void commit(void)
{
    sl_test_git_commit(repo, "c");
}

static void record_event(void *ctx, const json_t *obj, const char *type, const char *reason,
                         const char *message)
{
    events++;
}

static const char *KEY_A = "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\n"
                           "metadata: {name: a}\nspec: {mode: Generate, secretRef: {name: a}}\n";
static const char *KEY_B = "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\n"
                           "metadata: {name: b}\nspec: {mode: Generate, secretRef: {name: b}}\n";

/* Runs r once on the GitSource name of team as stored in the fake API, as the manager does. */
static struct sl_reconcile_result reconcile_with(struct sl_reconciler *r, const char *name)
{
    struct sl_reconcile_result res;
    sl_test_reconcile(r, &rt, fk, &SL_RES_GITSOURCE, "GitSource", "team", name, &res);
    return res;
}

static struct sl_reconcile_result run_once_with(struct sl_reconciler *r)
{
    return reconcile_with(r, "src");
}

static struct sl_reconcile_result run_once(void)
{
    return run_once_with(rec);
}

static const json_t *status(void)
{
    return json_object_get(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src"), "status");
}

static const char *ready_reason(void)
{
    return json_string_value(json_object_get(sl_condition_get(status(), "Ready"), "reason"));
}

static const char *ready_message(void)
{
    return json_string_value(json_object_get(sl_condition_get(status(), "Ready"), "message"));
}

static void put_source(const char *extra_spec)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"sealift.dev/v1beta1\",\"kind\":\"GitSource\","
             "\"metadata\":{\"name\":\"src\",\"namespace\":\"team\"},"
             "\"spec\":{\"url\":\"file://%s\",\"ref\":{\"branch\":\"main\"},"
             "\"path\":\"deploy\",\"interval\":\"1m\"%s}}",
             repo, extra_spec);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    json_t *old = sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src");
    if (old && json_object_get(old, "status"))
        json_object_set(o, "status", json_object_get(old, "status"));
    /* like kubectl apply: a spec change keeps the finalizers the controller set, and a
     * GitSource being deleted stays so */
    static const char *const kept[] = {"finalizers", "deletionTimestamp"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(json_object_get(old, "metadata"), kept[i]);
        if (v)
            json_object_set(json_object_get(o, "metadata"), kept[i], v);
    }
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, o);
    json_decref(o);
}

static void test_apply_steady_drift_prune(void)
{
    put_source("");
    struct sl_reconcile_result r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(r.requeue_after_ms, 60000);
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 2);
    CHECK_INT_EQ(json_array_size(json_object_get(status(), "inventory")), 2);
    const char *rev =
        json_string_value(json_object_get(json_object_get(status(), "artifact"), "revision"));
    CHECK(rev && strncmp(rev, "main@sha1:", 10) == 0);
    CHECK_STR_EQ(json_string_value(json_object_get(status(), "lastAppliedRevision")), rev);

    /* nothing changed: no writes at all */
    int writes = sl_fake_kube_writes(fk);
    run_once();
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);

    /* drift: someone edits a field git owns; the next pass puts it back */
    json_t *b = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b"));
    json_object_set_new(json_object_get(b, "spec"), "mode", json_string("Import"));
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, b);
    json_decref(b);
    run_once();
    CHECK_STR_EQ(
        json_string_value(json_object_get(
            json_object_get(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b"), "spec"),
            "mode")),
        "Generate");

    /* a file removed from git: its object is pruned, nothing else */
    json_t *other = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion",
                              "sealift.dev/v1alpha1", "kind", "SigningKey", "metadata", "name",
                              "not-from-git", "namespace", "team", "spec", "mode", "Generate");
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, other);
    json_decref(other);
    sl_test_sh("cd '%s' && git rm -q deploy/b.yaml", repo);
    commit();
    run_once();
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") == NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") != NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "not-from-git") != NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(status(), "inventory")), 1);
}

/* A `kubectl patch` adds a field git does not have: the next pass hands kubectl's fields to the
 * GitSource's field manager (so the API server's apply removes them), keeps the other managers'
 * entries, applies although the object holds every field of git, and says so in an event. */
static void test_hand_edits_taken_back(void)
{
    put_source("");
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    json_t *a = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a"));
    json_object_set_new(json_object_get(a, "spec"), "rotate", json_string("hand"));
    json_t *mf = json_pack(
        "[{s:s, s:s, s:s, s:{s:{s:{}, s:{}}}}, {s:s, s:s, s:s, s:{s:{s:{}}}},"
        " {s:s, s:s, s:s, s:s, s:{s:{}}}, {s:s, s:s, s:s, s:{s:{s:{}}}}]",
        "manager", SL_GITSOURCE_FIELD_MANAGER_PREFIX "team/src", "operation", "Apply", "fieldsType",
        "FieldsV1", "fieldsV1", "f:spec", "f:mode", "f:secretRef", "manager", "kubectl-patch",
        "operation", "Update", "fieldsType", "FieldsV1", "fieldsV1", "f:spec", "f:rotate",
        "manager", "sealift", "operation", "Update", "subresource", "status", "fieldsType",
        "FieldsV1", "fieldsV1", "f:status", "manager", "another-controller", "operation", "Update",
        "fieldsType", "FieldsV1", "fieldsV1", "f:spec", "f:other");
    json_object_set_new(json_object_get(a, "metadata"), "managedFields", mf);
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, a);
    json_decref(a);
    int writes = sl_fake_kube_writes(fk), events_before = events;
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(sl_fake_kube_writes(fk) >= writes + 2); /* managedFields, then the apply */
    CHECK_INT_EQ(events, events_before + 1);      /* DriftCorrected */
    const json_t *live = sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a");
    const json_t *entries = json_object_get(json_object_get(live, "metadata"), "managedFields");
    CHECK_INT_EQ(json_array_size(entries), 3);
    bool mine = false, status_kept = false, other_kept = false;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "manager"));
        const json_t *spec = json_object_get(json_object_get(e, "fieldsV1"), "f:spec");
        CHECK(strcmp(m, "kubectl-patch") != 0);
        if (strcmp(m, SL_GITSOURCE_FIELD_MANAGER_PREFIX "team/src") == 0)
            mine = json_object_get(spec, "f:rotate") && json_object_get(spec, "f:mode");
        status_kept |= strcmp(m, "sealift") == 0;
        other_kept |= strcmp(m, "another-controller") == 0 && !json_object_get(spec, "f:rotate");
    }
    CHECK(mine);
    CHECK(status_kept);
    CHECK(other_kept);
    /* nothing left to take back: the next pass writes nothing */
    writes = sl_fake_kube_writes(fk);
    run_once();
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);
    CHECK_INT_EQ(events, events_before + 1);
}

static void test_broken_file_keeps_the_rest(void)
{
    write_file("deploy/b.yaml", KEY_B);
    write_file("deploy/broken.yaml", "kind: [unclosed\n");
    write_file("deploy/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    commit();
    int events_before = events;
    run_once();
    CHECK_STR_EQ(ready_reason(), "ApplyFailed");
    const char *msg =
        json_string_value(json_object_get(sl_condition_get(status(), "Ready"), "message"));
    CHECK_CONTAINS(msg, "deploy/broken.yaml: line ");
    CHECK_CONTAINS(msg, "deploy/cm.yaml:1: v1 ConfigMap is not a sealift.dev kind");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") != NULL); /* still applied */
    CHECK(events > events_before);
    /* lastAppliedRevision stays at the last fully applied one */
    CHECK(strcmp(json_string_value(json_object_get(status(), "lastAppliedRevision")),
                 json_string_value(
                     json_object_get(json_object_get(status(), "artifact"), "revision"))) != 0);
    /* a broken file blocks pruning: removing a.yaml now must not delete a */
    sl_test_sh("cd '%s' && git rm -q deploy/a.yaml", repo);
    commit();
    run_once();
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") != NULL);
    sl_test_sh("cd '%s' && git rm -q deploy/broken.yaml deploy/cm.yaml", repo);
    commit();
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") == NULL);
}

static void test_suspend_and_missing_secret(void)
{
    put_source(",\"suspend\":true");
    int writes = sl_fake_kube_writes(fk);
    run_once();
    CHECK_STR_EQ(ready_reason(), "Suspended");
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes + 1); /* only the status */
    /* kstatus: suspended is neither in progress nor stalled */
    CHECK(sl_condition_get(status(), "Reconciling") == NULL);
    CHECK(sl_condition_get(status(), "Stalled") == NULL);
    put_source(",\"secretRef\":{\"name\":\"nope\"}");
    struct sl_reconcile_result r = run_once();
    CHECK_STR_EQ(ready_reason(), "SecretNotFound");
    CHECK_INT_EQ(r.kind, SL_RESULT_WAITING);
    CHECK(sl_condition_is_true(status(), "Reconciling"));
    CHECK(sl_condition_get(status(), "Stalled") == NULL);
    put_source(",\"interval\":\"soon\"");
    r = run_once();
    CHECK_STR_EQ(ready_reason(), "InvalidSpec");
    CHECK_INT_EQ(r.kind, SL_RESULT_STALLED);
    CHECK(sl_condition_is_true(status(), "Stalled"));
    CHECK(sl_condition_get(status(), "Reconciling") == NULL);
}

static void test_unreachable_repo_keeps_state(void)
{
    put_source("");
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    int keys = sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team");
    sl_test_sh("mv '%s' '%s.gone'", repo, repo);
    struct sl_reconcile_result r = run_once();
    CHECK_STR_EQ(ready_reason(), "FetchFailed");
    CHECK_INT_EQ(r.kind, SL_RESULT_TRANSIENT);
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), keys);
    sl_test_sh("mv '%s.gone' '%s'", repo, repo);
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
}

/* A new empty cluster, and a repository with a.yaml and b.yaml. */
static void fresh_cluster(void)
{
    sl_fake_kube_free(fk);
    fk = sl_fake_kube_new();
    sl_fake_kube_ops(fk, &rt.kube);
    write_file("deploy/a.yaml", KEY_A);
    write_file("deploy/b.yaml", KEY_B);
    commit();
}

static bool source_has_finalizer(const char *name)
{
    json_t *f = json_object_get(
        json_object_get(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src"), "metadata"),
        "finalizers");
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static void put_object(const struct sl_kube_resource *res, const char *kind, const char *ns,
                       const char *name)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion",
                          res == &SL_RES_SECRET ? "v1" : "sealift.dev/v1alpha1", "kind", kind,
                          "metadata", "name", name, "namespace", ns);
    sl_fake_kube_put(fk, res, o);
    json_decref(o);
}

static int delete_source(void)
{
    struct sl_err err = {0};
    return rt.kube.del(rt.kube.ctx, &SL_RES_GITSOURCE, "team", "src", &err);
}

/* The finalizer is there exactly while spec.prune is on; other finalizers are left alone. */
static void test_finalizer_follows_prune(void)
{
    fresh_cluster();
    put_source("");
    json_t *src = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src"));
    json_object_set_new(json_object_get(src, "metadata"), "finalizers",
                        json_pack("[s]", "example.com/other"));
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, src);
    json_decref(src);
    struct sl_reconcile_result r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(source_has_finalizer(SL_GITSOURCE_FINALIZER));
    CHECK(source_has_finalizer("example.com/other"));
    /* the finalizer was in place before the objects were applied */
    json_t *log = sl_fake_kube_write_log(fk);
    CHECK_STR_EQ(json_string_value(json_array_get(log, 0)), "patch gitsources team/src");
    /* steady state: no more writes */
    int writes = sl_fake_kube_writes(fk);
    run_once();
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);

    put_source(",\"prune\":false");
    run_once();
    CHECK(!source_has_finalizer(SL_GITSOURCE_FINALIZER));
    CHECK(source_has_finalizer("example.com/other"));
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 2);

    /* suspended: the finalizer still follows prune (deleting it then orphans, see below) */
    put_source(",\"suspend\":true");
    run_once();
    CHECK(source_has_finalizer(SL_GITSOURCE_FINALIZER));
    CHECK_STR_EQ(ready_reason(), "Suspended");
}

/* Deleting a GitSource with prune deletes what its inventory lists, and only that. */
static void test_delete_prunes_inventory(void)
{
    fresh_cluster();
    put_source("");
    run_once();
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 2);
    /* not from git: an object of the same kind, the key Secrets, an object in another
     * namespace that a tampered inventory names, and a Secret it names */
    put_object(&SL_RES_SIGNINGKEY, "SigningKey", "team", "manual");
    put_object(&SL_RES_SECRET, "Secret", "team", "a");
    put_object(&SL_RES_SECRET, "Secret", "team", "b");
    put_object(&SL_RES_SIGNINGKEY, "SigningKey", "kube-system", "foreign");
    json_t *src = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src"));
    json_t *inv = json_object_get(json_object_get(src, "status"), "inventory");
    json_array_append_new(inv, json_pack("{s:s, s:s, s:s, s:s}", "apiVersion",
                                         "sealift.dev/v1alpha1", "kind", "SigningKey", "namespace",
                                         "kube-system", "name", "foreign"));
    json_array_append_new(inv, json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "v1", "kind",
                                         "Secret", "namespace", "team", "name", "a"));
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, src);
    json_decref(src);
    /* b already gone: fine */
    sl_fake_kube_remove(fk, &SL_RES_SIGNINGKEY, "team", "b");

    CHECK_INT_EQ(delete_source(), 0);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") != NULL); /* finalizer holds */
    int events_before = events;
    struct sl_reconcile_result r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") == NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") == NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "manual") != NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "kube-system", "foreign") != NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SECRET, "team", "a") != NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SECRET, "team", "b") != NULL);
    CHECK(events > events_before); /* Pruned */
    /* the informer then reports it gone: nothing to do */
    r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
}

/* A delete that fails keeps the finalizer and says which object; a retry finishes the job. */
static void test_delete_failure_keeps_finalizer(void)
{
    fresh_cluster();
    put_source("");
    run_once();
    CHECK_INT_EQ(delete_source(), 0);
    sl_fake_kube_fail_next_verb(fk, "delete", SL_EAUTH);
    int events_before = events;
    struct sl_reconcile_result r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_TRANSIENT);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") != NULL);
    CHECK(source_has_finalizer(SL_GITSOURCE_FINALIZER));
    CHECK_STR_EQ(ready_reason(), "PruneFailed");
    const json_t *ready = sl_condition_get(status(), "Ready");
    CHECK_STR_EQ(json_string_value(json_object_get(ready, "status")), "False");
    CHECK_CONTAINS(json_string_value(json_object_get(ready, "message")), "SigningKey team/a");
    CHECK(events > events_before);
    /* b was deleted; only a is left to retry */
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") == NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(status(), "inventory")), 1);
    r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") == NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") == NULL);
}

/* prune false or suspend: deleting the GitSource leaves its objects (Flux semantics). */
static void test_delete_orphans_without_prune(void)
{
    fresh_cluster();
    put_source(",\"prune\":false");
    run_once();
    CHECK(!source_has_finalizer(SL_GITSOURCE_FINALIZER));
    CHECK_INT_EQ(delete_source(), 0);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") == NULL); /* nothing held it */
    run_once();
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 2);

    /* suspended while being deleted: the finalizer comes off, the objects stay */
    fresh_cluster();
    put_source("");
    run_once();
    put_source(",\"suspend\":true");
    run_once();
    CHECK_INT_EQ(delete_source(), 0);
    struct sl_reconcile_result r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") == NULL);
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 2);

    /* stuck on a failing delete, the user turns prune off: it goes, the objects stay */
    fresh_cluster();
    put_source("");
    run_once();
    CHECK_INT_EQ(delete_source(), 0);
    sl_fake_kube_fail_next_verb(fk, "delete", SL_EAUTH);
    run_once();
    CHECK_STR_EQ(ready_reason(), "PruneFailed");
    put_source(",\"prune\":false");
    r = run_once();
    CHECK_INT_EQ(r.kind, SL_RESULT_DONE);
    CHECK(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src") == NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") != NULL);
}

/* A git engine that records what it was asked to send and fails like an unreachable server. */
struct recording_git {
    int fetches;
    int64_t timeout_ms;
    char url[256];
    char password[64];
};

static int recording_fetch(void *ctx, struct sl_git_result *out, const char *cache_dir,
                           const char *url, const struct sl_git_ref *ref,
                           const struct sl_git_auth *auth, int64_t timeout_ms, struct sl_err *err)
{
    struct recording_git *g = ctx;
    g->fetches++;
    g->timeout_ms = timeout_ms;
    snprintf(g->url, sizeof(g->url), "%s", url);
    snprintf(g->password, sizeof(g->password), "%s", auth && auth->password ? auth->password : "");
    return sl_err_set(err, SL_ERETRY, SL_ERRC_GIT, "recording git: not reachable");
}

/* Runs reconciler r once on GitSource team/<name> with spec.url url and spec.secretRef secret. */
static struct sl_reconcile_result run_source(struct sl_reconciler *r, const char *name,
                                             const char *url, const char *secret)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:b}}", "apiVersion",
                          "sealift.dev/v1beta1", "kind", "GitSource", "metadata", "name", name,
                          "namespace", "team", "spec", "url", url, "prune", 0);
    if (secret)
        json_object_set_new(json_object_get(o, "spec"), "secretRef",
                            json_pack("{s:s}", "name", secret));
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, o);
    json_decref(o);
    return reconcile_with(r, name);
}

static const json_t *ready_of(const char *name)
{
    return sl_condition_get(
        json_object_get(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", name), "status"), "Ready");
}

/* As the API server returns a Secret: the values base64 in data (YXBw = "app",
 * ZGItcGFzc3dvcmQtMTIz = "db-password-123"). */
static void put_secret(const char *name, const char *url, bool labelled)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
                          "Secret", "metadata", "name", name, "namespace", "team", "data",
                          "username", "YXBw", "password", "ZGItcGFzc3dvcmQtMTIz");
    if (url) {
        char *b64 = sl_base64_encode(url, strlen(url));
        json_object_set_new(json_object_get(o, "data"), "url", json_string(b64));
        free(b64);
    }
    if (labelled)
        json_object_set_new(
            json_object_get(o, "metadata"), "labels",
            json_pack("{s:s}", SL_GITSOURCE_SECRET_TYPE_LABEL, SL_GITSOURCE_SECRET_TYPE));
    sl_fake_kube_put(fk, &SL_RES_SECRET, o);
    json_decref(o);
}

/* A GitSource may point its URL anywhere; a Secret's credentials go only to the repositories
 * the Secret names. */
static void test_credentials_bound_to_their_url(void)
{
    struct recording_git g = {0};
    struct sl_git_ops ops = {.ctx = &g, .fetch = recording_fetch};
    struct sl_reconciler *r = NULL;
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache-creds", tmp);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_gitsource_reconciler_new(&r, cache, &lab_config, &ops, &err), 0);

    /* a database Secret (no url, no label) named by a GitSource on the attacker's server */
    put_secret("db", NULL, false);
    struct sl_reconcile_result res = run_source(r, "exfil", "https://evil.example/x.git", "db");
    CHECK_INT_EQ(g.fetches, 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(json_string_value(json_object_get(ready_of("exfil"), "reason")),
                 "CredentialsNotForURL");
    CHECK_STR_EQ(json_string_value(json_object_get(ready_of("exfil"), "status")), "False");
    CHECK_CONTAINS(json_string_value(json_object_get(ready_of("exfil"), "message")),
                   "sealift.dev/secret-type=repository");
    /* labelled, but without url */
    put_secret("nourl", NULL, true);
    run_source(r, "nourl", "https://evil.example/x.git", "nourl");
    CHECK_INT_EQ(g.fetches, 0);
    CHECK_CONTAINS(json_string_value(json_object_get(ready_of("nourl"), "message")),
                   "the Secret has no url key");

    /* a team's Secret and a sibling path that merely starts with the same letters */
    put_secret("team-a", "https://git.example/team-a", true);
    run_source(r, "evil", "https://git.example/team-a-evil", "team-a");
    CHECK_INT_EQ(g.fetches, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(ready_of("evil"), "reason")),
                 "CredentialsNotForURL");
    CHECK_CONTAINS(json_string_value(json_object_get(ready_of("evil"), "message")),
                   "is not for https://git.example/team-a-evil");
    run_source(r, "evil2", "https://git.example/team-a/../team-b/app.git", "team-a");
    CHECK_INT_EQ(g.fetches, 0);

    /* the repository the Secret is for gets the password */
    run_source(r, "good", "https://git.example/team-a/app.git", "team-a");
    CHECK_INT_EQ(g.fetches, 1);
    CHECK_STR_EQ(g.url, "https://git.example/team-a/app.git");
    CHECK_STR_EQ(g.password, "db-password-123");
    CHECK_STR_EQ(json_string_value(json_object_get(ready_of("good"), "reason")), "FetchFailed");
    /* no secretRef: fetched without credentials */
    run_source(r, "public", "https://evil.example/x.git", NULL);
    CHECK_INT_EQ(g.fetches, 2);
    CHECK_STR_EQ(g.password, "");
    r->free(r->self);
}

/* Runs r on GitSource team/<name> fetching https://git.example/x.git with spec.timeout timeout
 * (NULL: none). */
static struct sl_reconcile_result run_with_timeout(struct sl_reconciler *r, const char *name,
                                                   const char *timeout)
{
    json_t *o =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:b}}", "apiVersion", "sealift.dev/v1beta1",
                  "kind", "GitSource", "metadata", "name", name, "namespace", "team", "spec", "url",
                  "https://git.example/x.git", "prune", 0);
    if (timeout)
        json_object_set_new(json_object_get(o, "spec"), "timeout", json_string(timeout));
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, o);
    json_decref(o);
    return reconcile_with(r, name);
}

/* spec.timeout reaches the fetch (Flux's 60s when absent); out of 1s .. 1h it is InvalidSpec
 * and nothing is fetched. */
static void test_timeout_reaches_the_fetch(void)
{
    struct recording_git g = {0};
    struct sl_git_ops ops = {.ctx = &g, .fetch = recording_fetch};
    struct sl_reconciler *r = NULL;
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache-timeout", tmp);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_gitsource_reconciler_new(&r, cache, &lab_config, &ops, &err), 0);
    run_with_timeout(r, "dflt", NULL);
    CHECK_INT_EQ(g.fetches, 1);
    CHECK_INT_EQ(g.timeout_ms, 60000);
    run_with_timeout(r, "short", "2m30s");
    CHECK_INT_EQ(g.fetches, 2);
    CHECK_INT_EQ(g.timeout_ms, 150000);
    static const char *const bad[] = {"500ms", "2h", "soon"};
    for (size_t i = 0; i < 3; i++) {
        struct sl_reconcile_result res = run_with_timeout(r, "bad", bad[i]);
        CHECK_INT_EQ(g.fetches, 2);
        CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(json_string_value(json_object_get(ready_of("bad"), "reason")), "InvalidSpec");
        CHECK_CONTAINS(json_string_value(json_object_get(ready_of("bad"), "message")),
                       "spec.timeout");
    }
    r->free(r->self);
}

/* file:// and plain paths read the controller's filesystem: only with --allow-local-paths. */
static void test_local_paths_need_the_flag(void)
{
    struct recording_git g = {0};
    struct sl_git_ops ops = {.ctx = &g, .fetch = recording_fetch};
    struct sl_reconciler *r = NULL;
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache-local", tmp);
    struct sl_err err = {0};
    const struct sl_controller_config secure = {.allow_local_paths = false};
    CHECK_INT_EQ(sl_gitsource_reconciler_new(&r, cache, &secure, &ops, &err), 0);
    static const char *const urls[] = {"file:///var/run/secrets/kubernetes.io", "/etc",
                                       "FILE:///etc"};
    for (size_t i = 0; i < 3; i++) {
        struct sl_reconcile_result res = run_source(r, "local", urls[i], NULL);
        CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(json_string_value(json_object_get(ready_of("local"), "reason")),
                     "LocalPathNotAllowed");
        CHECK_CONTAINS(json_string_value(json_object_get(ready_of("local"), "message")),
                       "--allow-local-paths");
    }
    struct sl_reconcile_result res = run_source(r, "odd", "ftp://git.example/x", NULL);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(json_string_value(json_object_get(ready_of("odd"), "reason")), "InvalidSpec");
    CHECK_INT_EQ(g.fetches, 0);
    r->free(r->self);
    /* the administrator's flag turns them on */
    CHECK_INT_EQ(sl_gitsource_reconciler_new(&r, cache, &lab_config, &ops, &err), 0);
    run_source(r, "local", "file:///nonexistent", NULL);
    CHECK_INT_EQ(g.fetches, 1);
    r->free(r->self);
}

/* spec.interval below --min-interval is raised to it. */
/* A git whose commits carry no signature (the real fetch and read, a fake signature reader). */
static int unsigned_signature(void *ctx, struct sl_git_signature *out, const char *cache_dir,
                              const char *commit, const char *tag, struct sl_err *err)
{
    (void)ctx;
    (void)out;
    (void)cache_dir;
    (void)tag;
    return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT, "commit %.12s is not signed", commit);
}

/* A git whose commits carry an OpenPGP signature whose packets are not valid. */
static int pgp_signature(void *ctx, struct sl_git_signature *out, const char *cache_dir,
                         const char *commit, const char *tag, struct sl_err *err)
{
    (void)ctx;
    (void)cache_dir;
    (void)commit;
    (void)tag;
    (void)err;
    static const char sig[] = "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQ\n"
                              "-----END PGP SIGNATURE-----\n";
    out->signature = sl_xstrdup(sig);
    out->signature_len = strlen(sig);
    out->signed_data = sl_xstrdup("tree 0123\n\nsigned\n");
    out->signed_len = strlen(out->signed_data);
    return 0;
}

static void put_keys_secret(const char *name, const char *value)
{
    char *b64 = sl_base64_encode(value, strlen(value));
    json_t *o =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                  "metadata", "name", name, "namespace", "team", "data", "release.pub", b64);
    free(b64);
    sl_fake_kube_put(fk, &SL_RES_SECRET, o);
    json_decref(o);
}

/* The fixture of the spec.verify tests: a reconciler whose git is the real one but for git's
 * read_signature (a fake), with its clones under tmp/cache_name; a fresh cluster; the Secret
 * "keys" holding one SSH key; and the GitSource "src" verifying HEAD with it, reconciled once. */
struct verify_env {
    struct sl_reconciler *r;
};

static void verify_setup(struct verify_env *v, const struct sl_git_ops *git, const char *cache_name)
{
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/%s", tmp, cache_name);
    struct sl_err err = {0};
    v->r = NULL;
    CHECK_INT_EQ(sl_gitsource_reconciler_new(&v->r, cache, &lab_config, git, &err), 0);
    fresh_cluster();
    put_keys_secret("keys", "# release\nssh-ed25519 "
                            "AAAAC3NzaC1lZDI1NTE5AAAAIEjPGn7l1QyWg2cQKe2Ka8Vt3m1u1hFt2T2Nw9n3yRZy "
                            "release\n");
    put_source(",\"verify\":{\"mode\":\"HEAD\",\"secretRef\":{\"name\":\"keys\"}}");
    run_once_with(v->r);
}

static void verify_teardown(struct verify_env *v)
{
    if (v->r)
        v->r->free(v->r->self);
}

/* spec.verify: an unsigned revision is Unverified and nothing of it is applied; a Secret with no
 * key and mode Tag without a tag are refused before anything is fetched. */
static void test_verify_refuses_unsigned(void)
{
    struct sl_git_ops ops = {.read_signature = unsigned_signature};
    struct verify_env v;
    verify_setup(&v, &ops, "cache-verify");
    CHECK_STR_EQ(ready_reason(), "Unverified");
    CHECK_CONTAINS(ready_message(), "is not signed");
    CHECK_CONTAINS(ready_message(), "nothing was applied");
    CHECK_CONTAINS(ready_message(), "keys of Secret keys");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 0);
    CHECK(json_object_get(status(), "lastAppliedRevision") == NULL);
    /* a Secret without any SSH public key */
    put_keys_secret("empty", "not a key\n");
    put_source(",\"verify\":{\"secretRef\":{\"name\":\"empty\"}}");
    run_once_with(v.r);
    CHECK_STR_EQ(ready_reason(), "Unverified");
    CHECK_CONTAINS(ready_message(), "holds no trusted key");
    put_source(",\"verify\":{\"mode\":\"Tag\",\"secretRef\":{\"name\":\"keys\"}}");
    struct sl_reconcile_result res = run_once_with(v.r);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_reason(), "InvalidSpec");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 0);
    verify_teardown(&v);
}

/* spec.verify with OpenPGP: a commit's PGP signature goes to the OpenPGP verifier (whose refusal
 * names the revision), and a damaged key block in the Secret is named before anything is
 * fetched. */
static void test_verify_openpgp(void)
{
    struct sl_git_ops ops = {.read_signature = pgp_signature};
    struct verify_env v;
    verify_setup(&v, &ops, "cache-verify-pgp");
    CHECK_STR_EQ(ready_reason(), "Unverified");
    CHECK_CONTAINS(ready_message(), "revision main@sha1:");
    CHECK_CONTAINS(ready_message(), "OpenPGP signature");
    CHECK_CONTAINS(ready_message(), "nothing was applied");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 0);
    /* a key block whose checksum does not match */
    put_keys_secret("damaged", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaxWSHRYJKwYBBAHa\n"
                               "=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n");
    put_source(",\"verify\":{\"secretRef\":{\"name\":\"damaged\"}}");
    struct sl_reconcile_result res = run_once_with(v.r);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_reason(), "Unverified");
    CHECK_CONTAINS(ready_message(), "Secret damaged: OpenPGP key block 1");
    CHECK_CONTAINS(ready_message(), "CRC-24");
    verify_teardown(&v);
}

/* spec.ignore: an ignored file is as if it were not in git (not applied, its objects pruned,
 * a broken ignored file breaks nothing); a bad pattern is InvalidSpec. */
static void test_ignored_files_not_applied(void)
{
    fresh_cluster();
    write_file("deploy/broken.draft.yaml", "kind: [unclosed\n");
    commit();
    put_source(",\"ignore\":\"# not yet\\n*.draft.yaml\\n/deploy/b.yaml\\n\"");
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") != NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") == NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(status(), "inventory")), 1);
    /* no longer ignored: applied */
    put_source(",\"ignore\":\"*.draft.yaml\\n\"");
    run_once();
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") != NULL);
    /* ignored again: pruned like a deleted file; a negation brings nothing back from below an
     * ignored directory */
    put_source(",\"ignore\":\"*.draft.yaml\\ndeploy/\\n!deploy/a.yaml\\n\"");
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 0);
    put_source(",\"ignore\":\"deploy/[a-\\n\"");
    struct sl_reconcile_result res = run_once();
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_reason(), "InvalidSpec");
    CHECK_CONTAINS(
        json_string_value(json_object_get(sl_condition_get(status(), "Ready"), "message")),
        "spec.ignore: line 1");
    sl_test_sh("cd '%s' && git rm -q deploy/broken.draft.yaml", repo);
    commit();
}

static void test_interval_raised_to_minimum(void)
{
    struct sl_controller_config cc = lab_config;
    cc.min_interval_ms = 10000;
    struct sl_reconciler *r = NULL;
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache-min", tmp);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_gitsource_reconciler_new(&r, cache, &cc, NULL, &err), 0);
    fresh_cluster();
    put_source("");
    json_t *src = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src"));
    json_object_set_new(json_object_get(src, "spec"), "interval", json_string("1s"));
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, src);
    json_decref(src);
    struct sl_reconcile_result res = run_once_with(r);
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK_INT_EQ(res.requeue_after_ms, 10000);
    r->free(r->self);
}

/* The field managers the reconciler applied with, recorded around the fake's patch. */
static char last_field_manager[200];
static int (*fake_patch)(void *ctx, json_t **out, const struct sl_kube_resource *res,
                         const char *ns, const char *name, const char *body,
                         const struct sl_kube_patch_opts *opts, struct sl_err *err);

static int recording_patch(void *ctx, json_t **out, const struct sl_kube_resource *res,
                           const char *ns, const char *name, const char *body,
                           const struct sl_kube_patch_opts *opts, struct sl_err *err)
{
    if (opts && opts->type == SL_PATCH_APPLY)
        snprintf(last_field_manager, sizeof(last_field_manager), "%s", opts->field_manager);
    return fake_patch(ctx, out, res, ns, name, body, opts, err);
}

/* Runs the shared reconciler on GitSource team/<name> reading <path> of the test repository. */
static struct sl_reconcile_result run_named(const char *name, const char *path)
{
    if (!sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", name)) {
        char url[400];
        snprintf(url, sizeof(url), "file://%s", repo);
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:{s:s}, s:s}}", "apiVersion",
                              "sealift.dev/v1beta1", "kind", "GitSource", "metadata", "name", name,
                              "namespace", "team", "spec", "url", url, "ref", "branch", "main",
                              "path", path);
        sl_fake_kube_put(fk, &SL_RES_GITSOURCE, o);
        json_decref(o);
    }
    return reconcile_with(rec, name);
}

static const char *label_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(sl_kube_json_path(obj, "metadata.labels"), key));
}

static const char *key_mode(const char *name)
{
    return json_string_value(json_object_get(
        json_object_get(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", name), "spec"), "mode"));
}

/* An object an administrator created with the name of one in git is not taken over, not
 * changed, and not pruned when the file goes away; the adopt annotation hands it over. */
static void test_foreign_object_not_adopted(void)
{
    fresh_cluster();
    json_t *admin = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion",
                              "sealift.dev/v1alpha1", "kind", "SigningKey", "metadata", "name", "a",
                              "namespace", "team", "spec", "mode", "Import");
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, admin);
    json_decref(admin);
    fake_patch = rt.kube.patch;
    rt.kube.patch = recording_patch;
    put_source("");
    json_t *log = sl_fake_kube_write_log(fk);
    size_t writes_before = json_array_size(log);
    run_once();
    CHECK_STR_EQ(ready_reason(), "ApplyFailed");
    const char *msg =
        json_string_value(json_object_get(sl_condition_get(status(), "Ready"), "message"));
    CHECK_CONTAINS(msg, "deploy/a.yaml:1: SigningKey team/a exists and was not created by "
                        "GitSource team/src: not changed (to hand it over, annotate it "
                        "sealift.dev/adopt=team/src)");
    CHECK_STR_EQ(key_mode("a"), "Import");
    CHECK(label_of(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a"),
                   "sealift.dev/gitsource-name") == NULL);
    for (size_t i = writes_before; i < json_array_size(log); i++)
        CHECK(strcmp(json_string_value(json_array_get(log, i)), "patch signingkeys team/a") != 0);
    /* b is this GitSource's: labelled, applied with its own field manager */
    const json_t *b = sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b");
    CHECK_STR_EQ(label_of(b, "sealift.dev/gitsource-namespace"), "team");
    CHECK_STR_EQ(label_of(b, "sealift.dev/gitsource-name"), "src");
    CHECK_STR_EQ(last_field_manager, "sealift-gitsource/team/src");
    /* the file goes away: the administrator's object stays */
    sl_test_sh("cd '%s' && git rm -q deploy/a.yaml", repo);
    commit();
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") != NULL);
    CHECK_STR_EQ(key_mode("a"), "Import");
    /* back in git, and the administrator opts in: taken over */
    write_file("deploy/a.yaml", KEY_A);
    commit();
    json_t *a = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a"));
    json_object_set_new(json_object_get(a, "metadata"), "annotations",
                        json_pack("{s:s}", "sealift.dev/adopt", "team/src"));
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, a);
    json_decref(a);
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK_STR_EQ(key_mode("a"), "Generate");
    CHECK_STR_EQ(label_of(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a"),
                          "sealift.dev/gitsource-name"),
                 "src");
    rt.kube.patch = fake_patch;
}

/* Two GitSources in one namespace: neither prunes nor changes the other's objects. */
static void test_sources_keep_to_their_own(void)
{
    fresh_cluster();
    write_file("other/c.yaml",
               "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\n"
               "metadata: {name: c}\nspec: {mode: Generate, secretRef: {name: c}}\n");
    commit();
    put_source("");
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    run_named("other", "other");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "c") != NULL);
    CHECK_STR_EQ(label_of(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "c"),
                          "sealift.dev/gitsource-name"),
                 "other");
    /* each pass of either keeps the other's objects */
    run_once();
    run_named("other", "other");
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_SIGNINGKEY, "team"), 3);
    CHECK_INT_EQ(json_array_size(json_object_get(status(), "inventory")), 2);
    /* other also claims a, which is src's: refused, a unchanged */
    write_file("other/a.yaml", "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\n"
                               "metadata: {name: a}\nspec: {mode: Import, secretRef: {name: a}}\n");
    commit();
    run_named("other", "other");
    const json_t *ready = sl_condition_get(
        json_object_get(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "other"), "status"),
        "Ready");
    CHECK_CONTAINS(json_string_value(json_object_get(ready, "message")),
                   "SigningKey team/a exists and was not created by GitSource team/other");
    CHECK_STR_EQ(key_mode("a"), "Generate");
    sl_test_sh("cd '%s' && git rm -q -r other", repo);
    commit();
}

/* Pruning works from the objects that carry the GitSource's labels, not from status.inventory,
 * which a conflicting status write may have emptied. */
static void test_prune_from_fresh_inventory(void)
{
    fresh_cluster();
    put_source("");
    run_once();
    json_t *src = json_deep_copy(sl_fake_kube_find(fk, &SL_RES_GITSOURCE, "team", "src"));
    json_object_set_new(json_object_get(src, "status"), "inventory", json_array());
    sl_fake_kube_put(fk, &SL_RES_GITSOURCE, src);
    json_decref(src);
    sl_test_sh("cd '%s' && git rm -q deploy/b.yaml", repo);
    commit();
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") == NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(status(), "inventory")), 1);
    write_file("deploy/b.yaml", KEY_B);
    commit();
}

/* spec.serviceAccountName: the API client's impersonation is stood in for by ops that record the
 * identity, count the calls made with it and answer Forbidden for SigningKey b, as RBAC would. */
static struct {
    struct sl_kube_ops fake; /* the controller's own ops */
    char user[160];
    int calls;   /* calls made as user */
    int on_self; /* of those, calls on the GitSource itself or a status subresource */
    int made, released;
} acting;

static int as_forbidden(const struct sl_kube_resource *res, const char *name, const char *verb,
                        struct sl_err *err)
{
    acting.calls++;
    /* by plural: an object is applied in the version its file names (a copy of the resource) */
    if (strcmp(res->plural, "gitsources") == 0 && name && strcmp(name, "src") == 0)
        acting.on_self++;
    if (strcmp(res->plural, "signingkeys") != 0 || !name || strcmp(name, "b") != 0)
        return 0;
    sl_err_set(err, SL_EAUTH, SL_ERRC_KUBE,
               "signingkeys.sealift.dev \"b\" is forbidden: User \"%s\" cannot %s resource "
               "\"signingkeys\" in API group \"sealift.dev\" in the namespace \"team\"",
               acting.user, verb);
    err->http_status = 403;
    return SL_EAUTH;
}

static int as_get(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                  const char *name, struct sl_err *err)
{
    int rc = as_forbidden(res, name, "get", err);
    return rc ? rc : acting.fake.get(acting.fake.ctx, out, res, ns, name, err);
}

static int as_list(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                   const struct sl_kube_list_opts *opts, struct sl_err *err)
{
    acting.calls++;
    return acting.fake.list(acting.fake.ctx, out, res, ns, opts, err);
}

static int as_create(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                     json_t *obj, struct sl_err *err)
{
    int rc = as_forbidden(res, sl_kube_obj_name(obj), "create", err);
    return rc ? rc : acting.fake.create(acting.fake.ctx, out, res, ns, obj, err);
}

static int as_update(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                     json_t *obj, struct sl_err *err)
{
    int rc = as_forbidden(res, sl_kube_obj_name(obj), "update", err);
    return rc ? rc : acting.fake.update(acting.fake.ctx, out, res, ns, obj, err);
}

static int as_update_status(void *ctx, json_t **out, const struct sl_kube_resource *res,
                            const char *ns, json_t *obj, struct sl_err *err)
{
    acting.on_self++;
    return as_update(ctx, out, res, ns, obj, err);
}

static int as_patch(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                    const char *name, const char *body, const struct sl_kube_patch_opts *opts,
                    struct sl_err *err)
{
    if (opts && opts->status)
        acting.on_self++;
    int rc = as_forbidden(res, name, "patch", err);
    return rc ? rc : acting.fake.patch(acting.fake.ctx, out, res, ns, name, body, opts, err);
}

static int as_del(void *ctx, const struct sl_kube_resource *res, const char *ns, const char *name,
                  struct sl_err *err)
{
    int rc = as_forbidden(res, name, "delete", err);
    return rc ? rc : acting.fake.del(acting.fake.ctx, res, ns, name, err);
}

static void as_release(void *ctx)
{
    acting.released++;
}

static int fake_impersonate(void *ctx, struct sl_kube_ops *out, const char *user,
                            const char *const *groups, size_t n_groups, struct sl_err *err)
{
    CHECK_INT_EQ(n_groups, 0); /* the API server derives a ServiceAccount's groups */
    snprintf(acting.user, sizeof(acting.user), "%s", user);
    acting.made++;
    *out = (struct sl_kube_ops){.ctx = &acting,
                                .get = as_get,
                                .list = as_list,
                                .create = as_create,
                                .update = as_update,
                                .update_status = as_update_status,
                                .patch = as_patch,
                                .del = as_del,
                                .release = as_release};
    return 0;
}

/* The repository's objects are read, applied and pruned as the ServiceAccount; what it may not
 * write is named with the ServiceAccount and not created; the GitSource's own status and
 * finalizer stay with the controller. Without the field nothing is impersonated. */
static void test_service_account_bounds_the_repository(void)
{
    fresh_cluster();
    memset(&acting, 0, sizeof(acting));
    acting.fake = rt.kube;
    rt.kube.impersonate = fake_impersonate;
    put_source(",\"serviceAccountName\":\"deployer\"");
    run_once();
    CHECK_STR_EQ(ready_reason(), "ApplyFailed");
    CHECK_CONTAINS(ready_message(),
                   "deploy/b.yaml:1: SigningKey b: applying as ServiceAccount team/deployer: "
                   "signingkeys.sealift.dev \"b\" is forbidden: User "
                   "\"system:serviceaccount:team:deployer\" cannot get");
    CHECK(strstr(ready_message(), "deploy/a.yaml") == NULL);
    CHECK_STR_EQ(acting.user, "system:serviceaccount:team:deployer");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "a") != NULL);
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") == NULL);
    CHECK(acting.calls >= 3); /* get a, apply a, get b, the prune listings */
    CHECK_INT_EQ(acting.on_self, 0);
    CHECK(source_has_finalizer("sealift.dev/gitsource-prune"));
    CHECK_INT_EQ(acting.made, 1);
    CHECK_INT_EQ(acting.released, 1);

    /* an invalid name (the schema refuses it; a stale object must not reach a header) */
    put_source(",\"serviceAccountName\":\"Deployer\\r\\nX: y\"");
    run_once();
    CHECK_STR_EQ(ready_reason(), "InvalidSpec");
    CHECK_CONTAINS(ready_message(), "spec.serviceAccountName");
    CHECK_INT_EQ(acting.made, 1);

    /* without the field: the controller's rights apply b too, nothing impersonated */
    int before = acting.calls;
    put_source("");
    run_once();
    CHECK_STR_EQ(ready_reason(), "Applied");
    CHECK(sl_fake_kube_find(fk, &SL_RES_SIGNINGKEY, "team", "b") != NULL);
    CHECK_INT_EQ(acting.calls, before);
    CHECK_INT_EQ(acting.made, 1);
    rt.kube.impersonate = NULL;
}

int main(void)
{
    sl_test_git_init(tmp, sizeof(tmp), repo, sizeof(repo), "sealift-unit-gitsrc");
    write_file("deploy/a.yaml", KEY_A);
    write_file("deploy/b.yaml", KEY_B);
    commit();

    fk = sl_fake_kube_new();
    sl_fake_kube_ops(fk, &rt.kube);
    rt.controller_namespace = "sealift-system";
    rt.record_event = record_event;
    char cache[400];
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    struct sl_err err = {0};
    if (sl_gitsource_reconciler_new(&rec, cache, &lab_config, NULL, &err) != 0)
        return 1;

    RUN(test_apply_steady_drift_prune);
    RUN(test_hand_edits_taken_back);
    RUN(test_broken_file_keeps_the_rest);
    RUN(test_suspend_and_missing_secret);
    RUN(test_unreachable_repo_keeps_state);
    RUN(test_finalizer_follows_prune);
    RUN(test_delete_prunes_inventory);
    RUN(test_delete_failure_keeps_finalizer);
    RUN(test_delete_orphans_without_prune);
    RUN(test_credentials_bound_to_their_url);
    RUN(test_local_paths_need_the_flag);
    RUN(test_timeout_reaches_the_fetch);
    RUN(test_ignored_files_not_applied);
    RUN(test_verify_refuses_unsigned);
    RUN(test_verify_openpgp);
    RUN(test_interval_raised_to_minimum);
    RUN(test_foreign_object_not_adopted);
    RUN(test_sources_keep_to_their_own);
    RUN(test_prune_from_fresh_inventory);
    RUN(test_service_account_bounds_the_repository);

    rec->free(rec->self);
    sl_fake_kube_free(fk);
    sl_test_sh("rm -rf '%s'", tmp);
    return CHECK_EXIT();
}
