/* Unit tests of kube/pullsecrets.c: which imagePullSecrets of a ServiceAccount are read, in which
 * order, and what a user reads when none gives credentials for the registry. */
#include "check.h"
#include "fake_kube.h"
#include "kube/client.h"
#include "kube/pullsecrets.h"
#include "util/base64.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS "tenant"

/* A dockerconfigjson Secret whose text is text (type NULL: no type field). */
static void put_secret(struct sl_fake_kube *fk, const char *name, const char *type,
                       const char *text)
{
    char *b64 = sl_base64_encode(text, strlen(text));
    json_t *s = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", name, "namespace", NS,
                          "data", ".dockerconfigjson", b64);
    if (type)
        json_object_set_new(s, "type", json_string(type));
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_SECRET, s), 0);
    json_decref(s);
    free(b64);
}

static void put_sa(struct sl_fake_kube *fk, const char *const *pulls)
{
    json_t *sa = json_pack("{s:{s:s, s:s}}", "metadata", "name", "puller", "namespace", NS);
    json_t *list = json_array();
    for (size_t i = 0; pulls && pulls[i]; i++)
        json_array_append_new(list, json_pack("{s:s}", "name", pulls[i]));
    json_object_set_new(sa, "imagePullSecrets", list);
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_SERVICEACCOUNT, sa), 0);
    json_decref(sa);
}

/* a stand-in for the registry layer's lookup: the text mentions the registry; keeps which text */
struct match_ctx {
    const char *registry;
    char got[256];
    int calls;
};

static int match(void *ctx, const char *json, size_t len, struct sl_err *err)
{
    struct match_ctx *m = ctx;
    m->calls++;
    if (strcmp(json, "garbage") == 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "not JSON");
    if (!strstr(json, m->registry))
        return SL_ENOTFOUND;
    snprintf(m->got, sizeof(m->got), "%.*s", (int)len, json);
    return 0;
}

static int find(struct sl_fake_kube *fk, struct match_ctx *m, const char **reason,
                struct sl_err *err)
{
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct sl_kube_pull_request req = {.kube = &ops,
                                       .ns = NS,
                                       .service_account = "puller",
                                       .field = "spec.database",
                                       .registry = m->registry,
                                       .match = match,
                                       .ctx = m};
    json_t *sa = NULL;
    memset(err, 0, sizeof(*err));
    int rc = sl_kube_pull_secrets_find(&sa, reason, &req, err);
    json_decref(sa);
    return rc;
}

static void test_find(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct match_ctx m = {.registry = "reg.example"};
    const char *reason = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(find(fk, &m, &reason, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(reason, "ServiceAccountNotFound");
    CHECK_STR_EQ(err.msg,
                 "spec.database.serviceAccountName: ServiceAccount " NS "/puller not found");

    put_sa(fk, NULL);
    CHECK_INT_EQ(find(fk, &m, &reason, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(reason, "NoCredentials");
    CHECK_STR_EQ(err.msg, "spec.database.serviceAccountName: no credentials for reg.example in "
                          "imagePullSecrets of ServiceAccount " NS "/puller (it lists none)");

    /* the first Secret with an entry wins; one without an entry is skipped */
    const char *const pulls[] = {"other", "first", "second", NULL};
    put_sa(fk, pulls);
    put_secret(fk, "other", "kubernetes.io/dockerconfigjson", "{\"auths\":{\"other.example\":{}}}");
    CHECK_INT_EQ(find(fk, &m, &reason, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(reason, "SecretNotFound");
    CHECK_STR_EQ(err.msg, "spec.database.serviceAccountName: imagePullSecrets[1] of "
                          "ServiceAccount " NS "/puller: Secret \"first\" not found");
    put_secret(fk, "first", NULL, "{\"auths\":{\"reg.example\":{\"n\":1}}}");
    put_secret(fk, "second", NULL, "{\"auths\":{\"reg.example\":{\"n\":2}}}");
    m.calls = 0;
    CHECK_INT_EQ(find(fk, &m, &reason, &err), 0);
    CHECK_STR_EQ(m.got, "{\"auths\":{\"reg.example\":{\"n\":1}}}");
    CHECK_INT_EQ(m.calls, 2);

    /* a Secret of another type, or an unreadable one: InvalidSecret, naming it, not its text */
    put_secret(fk, "other", "Opaque", "{\"auths\":{}}");
    CHECK_INT_EQ(find(fk, &m, &reason, &err), SL_EINVAL);
    CHECK_STR_EQ(reason, "InvalidSecret");
    CHECK_STR_EQ(err.msg, "spec.database.serviceAccountName: imagePullSecrets[0] of "
                          "ServiceAccount " NS "/puller: Secret \"other\" is of type Opaque, "
                          "not kubernetes.io/dockerconfigjson");
    put_secret(fk, "other", NULL, "garbage");
    CHECK_INT_EQ(find(fk, &m, &reason, &err), SL_EINVAL);
    CHECK_STR_EQ(reason, "InvalidSecret");
    CHECK_CONTAINS(err.msg, "Secret \"other\": not JSON");
    CHECK(strstr(err.msg, "garbage") == NULL);
    sl_fake_kube_free(fk);
}

/* at most SL_KUBE_PULL_SECRETS_MAX entries are read, and named for the caller's watch */
static void test_bounded(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    const char *pulls[SL_KUBE_PULL_SECRETS_MAX + 2];
    char names[SL_KUBE_PULL_SECRETS_MAX + 1][16];
    for (size_t i = 0; i <= SL_KUBE_PULL_SECRETS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "p%zu", i);
        pulls[i] = names[i];
        put_secret(fk, names[i], NULL,
                   i == SL_KUBE_PULL_SECRETS_MAX ? "{\"reg.example\":1}" : "{\"x\":1}");
    }
    pulls[SL_KUBE_PULL_SECRETS_MAX + 1] = NULL;
    put_sa(fk, pulls);
    struct match_ctx m = {.registry = "reg.example"};
    const char *reason = NULL;
    struct sl_err err = {0};
    /* the 17th Secret has the entry, but is never read */
    CHECK_INT_EQ(find(fk, &m, &reason, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(reason, "NoCredentials");
    CHECK_INT_EQ(m.calls, SL_KUBE_PULL_SECRETS_MAX);

    json_t *sa = json_pack("{s:[{s:s}, {s:s}, {}]}", "imagePullSecrets", "name", "a", "name", "");
    const char *got[4];
    CHECK_INT_EQ(sl_kube_pull_secret_names(sa, got, 4), 1);
    CHECK_STR_EQ(got[0], "a");
    CHECK_INT_EQ(sl_kube_pull_secret_names(NULL, got, 4), 0);
    json_decref(sa);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_find);
    RUN(test_bounded);
    return CHECK_EXIT();
}
