/* GitSource engine: fetch from a real local repository (file://, made with the git CLI), read
 * manifests from the commit tree, and the namespace / kind rules of manifest loading. */
#include "check.h"
#include "git_fixture.h"
#include "git/gitfetch.h"
#include "gitsource/manifests.h"
#include "gitsource/webhook.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[256];
static char repo[300], cache[300], url[320];

static void write_file(const char *rel, const char *content)
{
    sl_test_git_write(repo, rel, content);
}

static void commit(const char *msg)
{
    sl_test_git_commit(repo, msg);
}

static void setup_repo(void)
{
    sl_test_git_init(tmp, sizeof(tmp), repo, sizeof(repo), "sealift-unit-git");
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    snprintf(url, sizeof(url), "file://%s", repo);
    write_file("clusters/prod/keys.yaml",
               "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\nmetadata:\n  name: k1\n"
               "spec:\n  mode: Generate\n  secretRef: {name: k1}\n---\n"
               "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\nmetadata:\n  name: k2\n"
               "  namespace: team-a\nspec:\n  mode: Generate\n  secretRef: {name: k2}\n");
    write_file("clusters/prod/policy.yml",
               "apiVersion: sealift.dev/v1alpha1\nkind: DeployPolicy\nmetadata: {name: p}\n"
               "spec: {enforcement: Deny}\n");
    write_file("clusters/prod/README.md", "not a manifest\n");
    write_file("clusters/dev/other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
    commit("first");
    sl_test_sh("cd '%s' && git tag v1", repo);
}

static void test_fetch_branch_and_read(void)
{
    struct sl_git_result res;
    struct sl_err err = {0};
    struct sl_git_ref ref = {.branch = "main"};
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &ref, NULL, &err), 0);
    CHECK_INT_EQ(strlen(res.commit), 40);
    CHECK(strncmp(res.revision, "main@sha1:", 10) == 0);

    struct sl_git_file *files = NULL;
    size_t n = 0;
    CHECK_INT_EQ(sl_git_read_manifests(&files, &n, cache, res.commit, "clusters/prod", &err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_STR_EQ(files[0].path, "clusters/prod/keys.yaml");
        CHECK_STR_EQ(files[1].path, "clusters/prod/policy.yml");
    }
    /* a GitSource in its own namespace: team-a and the DeployPolicy are refused */
    struct sl_manifest_set set;
    sl_manifests_load(&set, files, n, "vendor", "sealift-system");
    CHECK_INT_EQ(json_array_size(set.objects), 1);
    CHECK_INT_EQ(json_array_size(set.errors), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(set.objects, 0), "metadata"), "namespace")),
                 "vendor");
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 0)), "clusters/prod/keys.yaml:9:");
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 0)), "team-a is not allowed");
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 1)), "cluster-scoped");
    sl_manifest_set_clear(&set);
    /* in the controller's namespace everything is allowed */
    sl_manifests_load(&set, files, n, "sealift-system", "sealift-system");
    CHECK_INT_EQ(json_array_size(set.objects), 3);
    CHECK_INT_EQ(json_array_size(set.errors), 0);
    sl_manifest_set_clear(&set);
    sl_git_files_free(files, n);

    /* incremental fetch sees a new commit; the revision moves */
    write_file("clusters/prod/keys.yaml", "this: [is not yaml\n");
    commit("second");
    struct sl_git_result res2;
    CHECK_INT_EQ(sl_git_fetch(&res2, cache, url, &ref, NULL, &err), 0);
    CHECK(strcmp(res.commit, res2.commit) != 0);
    CHECK_INT_EQ(sl_git_read_manifests(&files, &n, cache, res2.commit, "clusters/prod", &err), 0);
    sl_manifests_load(&set, files, n, "sealift-system", "sealift-system");
    CHECK_INT_EQ(json_array_size(set.objects), 1); /* the policy still loads */
    CHECK_INT_EQ(json_array_size(set.errors), 1);
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 0)),
                   "clusters/prod/keys.yaml: line ");
    sl_manifest_set_clear(&set);
    sl_git_files_free(files, n);

    /* the old commit is still readable (commit pinning) */
    struct sl_git_ref pin = {.commit = res.commit};
    CHECK_INT_EQ(sl_git_fetch(&res2, cache, url, &pin, NULL, &err), 0);
    CHECK_STR_EQ(res2.commit, res.commit);
    CHECK(strncmp(res2.revision, "sha1:", 5) == 0);
}

static void test_tag_default_branch_and_errors(void)
{
    struct sl_git_result res;
    struct sl_err err = {0};
    struct sl_git_ref tag = {.tag = "v1"};
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &tag, NULL, &err), 0);
    CHECK(strncmp(res.revision, "v1@sha1:", 8) == 0);
    struct sl_git_ref none = {0};
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &none, NULL, &err), 0);
    CHECK(strncmp(res.revision, "main@sha1:", 10) == 0);

    struct sl_git_ref missing = {.branch = "nope"};
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &missing, NULL, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "branch nope not found");
    struct sl_git_ref bad = {.branch = "a..b"};
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &bad, NULL, &err), SL_EINVAL);
    struct sl_git_ref badcommit = {.commit = "1234"};
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &badcommit, NULL, &err), SL_EINVAL);
    char gone[400];
    snprintf(gone, sizeof(gone), "file://%s/does-not-exist", tmp);
    struct sl_git_ref main_ref = {.branch = "main"};
    char cache2[400];
    snprintf(cache2, sizeof(cache2), "%s/cache2", tmp);
    CHECK(sl_git_fetch(&res, cache2, gone, &main_ref, NULL, &err) != 0);
    CHECK_CONTAINS(err.msg, "cannot fetch");

    struct sl_git_file *files = NULL;
    size_t n = 0;
    CHECK_INT_EQ(sl_git_fetch(&res, cache, url, &main_ref, NULL, &err), 0);
    CHECK_INT_EQ(sl_git_read_manifests(&files, &n, cache, res.commit, "no/such/dir", &err),
                 SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "spec.path");
    CHECK_INT_EQ(sl_git_read_manifests(&files, &n, cache, res.commit, "../x", &err), SL_EINVAL);
}

static void test_manifest_rules(void)
{
    struct sl_git_file f = {.path = "a.yaml"};
    f.content = "apiVersion: sealift.dev/v1alpha1\nkind: SigningKey\nmetadata: {name: Bad_Name}\n"
                "---\napiVersion: sealift.dev/v1alpha1\nkind: SigningKey\nmetadata: {name: x}\n"
                "---\napiVersion: sealift.dev/v1alpha1\nkind: SigningKey\nmetadata: {name: x}\n"
                "---\n- a list\n---\napiVersion: sealift.dev/v2\nkind: SigningKey\n"
                "metadata: {name: y}\n---\napiVersion: sealift.dev/v1alpha1\nkind: SigningKey\n"
                "metadata: {name: z, resourceVersion: '5'}\nstatus: {x: 1}\n---\n"
                "apiVersion: sealift.dev/v1beta1\nkind: GitSource\nmetadata: {name: g}\n"
                "spec: {url: 'https://git.example/x.git'}\n";
    f.len = strlen(f.content);
    struct sl_manifest_set set;
    sl_manifests_load(&set, &f, 1, "ns", "sealift-system");
    CHECK_INT_EQ(json_array_size(set.objects), 3);
    CHECK_INT_EQ(json_array_size(set.errors), 4);
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 0)), "metadata.name");
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 1)), "defined twice");
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 2)), "not a mapping");
    CHECK_CONTAINS(json_string_value(json_array_get(set.errors, 3)), "unsupported apiVersion");
    const json_t *z = json_array_get(set.objects, 1);
    CHECK(json_object_get(z, "status") == NULL);
    CHECK(json_object_get(json_object_get(z, "metadata"), "resourceVersion") == NULL);
    /* v1beta1, the served storage version, loads as written (the API server converts) */
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(set.objects, 2), "apiVersion")),
                 "sealift.dev/v1beta1");
    sl_manifest_set_clear(&set);
}

static bool entry_allowed(const char *entry_json, const char *source_ns, char *why, size_t n)
{
    json_error_t jerr;
    json_t *e = json_loads(entry_json, 0, &jerr);
    bool ok = sl_manifests_entry_allowed(e, source_ns, "sealift-system", why, n);
    json_decref(e);
    return ok;
}

/* What a GitSource may delete from its status.inventory: the rules of applying. */
static void test_inventory_entry_rules(void)
{
    char why[200] = "";
    CHECK(entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"SigningKey\","
                        "\"namespace\":\"team\",\"name\":\"a\"}",
                        "team", why, sizeof(why)));
    /* a Secret (a SigningKey's key) is never a GitSource's to delete */
    CHECK(!entry_allowed("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"namespace\":\"team\","
                         "\"name\":\"a-key\"}",
                         "team", why, sizeof(why)));
    CHECK_CONTAINS(why, "not a sealift.dev kind");
    CHECK(!entry_allowed("{\"apiVersion\":\"example.com/v1\",\"kind\":\"SigningKey\","
                         "\"namespace\":\"team\",\"name\":\"a\"}",
                         "team", why, sizeof(why)));
    /* another namespace, or cluster-scoped: only from the controller's namespace */
    CHECK(!entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"SigningKey\","
                         "\"namespace\":\"kube-system\",\"name\":\"a\"}",
                         "team", why, sizeof(why)));
    CHECK_CONTAINS(why, "another namespace");
    CHECK(entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"SigningKey\","
                        "\"namespace\":\"kube-system\",\"name\":\"a\"}",
                        "sealift-system", why, sizeof(why)));
    CHECK(!entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"DeployPolicy\","
                         "\"name\":\"p\"}",
                         "team", why, sizeof(why)));
    CHECK_CONTAINS(why, "cluster-scoped");
    CHECK(entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"DeployPolicy\","
                        "\"name\":\"p\"}",
                        "sealift-system", why, sizeof(why)));
    /* malformed entries */
    CHECK(!entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"SigningKey\","
                         "\"name\":\"a\"}",
                         "team", why, sizeof(why)));
    CHECK(!entry_allowed("{\"apiVersion\":\"sealift.dev/v1alpha1\",\"kind\":\"SigningKey\","
                         "\"namespace\":\"team\",\"name\":\"../x\"}",
                         "team", why, sizeof(why)));
    CHECK(!entry_allowed("{}", "team", NULL, 0));
}

static void test_webhook_authentication(void)
{
    const char *body = "{\"ref\":\"refs/heads/main\"}";
    size_t len = strlen(body);
    /* HMAC-SHA256 computed independently (Python hmac module) */
    const char *good = "sha256=232a5e067b6a5aa567ed5a1d21a0dffaf6ef0eeecb6bd9bcf43b3d5ef3fc4f43";
    CHECK(sl_gitsource_webhook_authentic("s3cret", good, NULL, body, len));
    CHECK(!sl_gitsource_webhook_authentic("other", good, NULL, body, len));
    CHECK(!sl_gitsource_webhook_authentic("s3cret", good, NULL, "{}", 2));
    CHECK(!sl_gitsource_webhook_authentic("s3cret", "sha256=00", NULL, body, len));
    CHECK(!sl_gitsource_webhook_authentic("s3cret", NULL, NULL, body, len));
    CHECK(sl_gitsource_webhook_authentic("s3cret", NULL, "s3cret", body, len));
    CHECK(!sl_gitsource_webhook_authentic("s3cret", NULL, "s3cre", body, len));
    CHECK(!sl_gitsource_webhook_authentic("", NULL, "", body, len));
    CHECK(!sl_gitsource_webhook_authentic(NULL, good, NULL, body, len));
}

int main(void)
{
    setup_repo();
    RUN(test_fetch_branch_and_read);
    RUN(test_tag_default_branch_and_errors);
    RUN(test_manifest_rules);
    RUN(test_inventory_entry_rules);
    RUN(test_webhook_authentication);
    sl_test_sh("rm -rf '%s'", tmp);
    return CHECK_EXIT();
}
