/* Unit tests of cloud registry credentials (runtime/cloudcreds.h): the spec's checks, the load
 * from a ServiceAccount through fake cloud logins and the fake API server's TokenRequest, and
 * the cache. The reconcilers' tests (imagedelivery, scanpolicy) cover the outcomes they show. */
#include "runtime/cloudcreds.h"

#include "check.h"
#include "fake_kube.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS  "team-a"
#define GAR "europe-west1-docker.pkg.dev"
#define GSA "puller@lab-project.iam.gserviceaccount.com"

/* What the fake gcp login was asked, and how often. */
struct fake_cloud {
    int calls;
    int rc; /* nonzero: the login fails with this code */
    char id[256], token[256];
};

static int f_gcp_token_audience(void *ctx, char *buf, size_t n, struct sl_err *err)
{
    (void)ctx;
    (void)err;
    snprintf(buf, n, "https://iam.googleapis.com/lab-pool");
    return 0;
}

static int f_gcp_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                       const struct sl_gcp_registry_host *host, const char *google_sa,
                       const char *sa_token, struct sl_err *err)
{
    (void)host;
    struct fake_cloud *c = ctx;
    c->calls++;
    snprintf(c->id, sizeof(c->id), "%s", google_sa ? google_sa : "(direct)");
    snprintf(c->token, sizeof(c->token), "%s", sa_token);
    if (c->rc)
        return sl_err_set(err, c->rc, SL_ERRC_HTTP, "IAM Credentials: PERMISSION_DENIED");
    out->username = sl_xstrdup(SL_GCP_REGISTRY_USER);
    out->password = sl_xasprintf("gar-password-%d", c->calls);
    *expires_unix = 1000000 + 3600;
    return 0;
}

static void check_parse_fails(const char *provider, const char *registry, const char *sa,
                              bool insecure, bool enabled, const char *reason, const char *message)
{
    enum sl_cloud_provider p = SL_CLOUD_AWS;
    struct sl_cloud_fail fail = {0};
    CHECK_INT_EQ(sl_cloud_provider_parse(&p, provider, registry, sa, insecure, false, enabled,
                                         "spec.x", &fail),
                 -1);
    CHECK_INT_EQ(p, SL_CLOUD_GENERIC);
    CHECK_INT_EQ(fail.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(fail.reason, reason);
    CHECK_CONTAINS(fail.message, message);
}

static void test_provider_parse(void)
{
    enum sl_cloud_provider p = SL_CLOUD_AWS;
    struct sl_cloud_fail fail = {0};
    /* absent and generic need nothing */
    CHECK_INT_EQ(
        sl_cloud_provider_parse(&p, NULL, "r.example", NULL, true, true, false, "spec.x", &fail),
        0);
    CHECK_INT_EQ(p, SL_CLOUD_GENERIC);
    CHECK_INT_EQ(sl_cloud_provider_parse(&p, "generic", "r.example", NULL, true, true, false,
                                         "spec.x", &fail),
                 0);
    CHECK_INT_EQ(p, SL_CLOUD_GENERIC);
    CHECK_INT_EQ(
        sl_cloud_provider_parse(&p, "gcp", GAR, "puller", false, false, true, "spec.x", &fail), 0);
    CHECK_INT_EQ(p, SL_CLOUD_GCP);

    check_parse_fails("oracle", GAR, "puller", false, true, "InvalidSpec",
                      "spec.x.provider: Unsupported value: \"oracle\": supported values: "
                      "\"generic\", \"aws\", \"azure\", \"gcp\"");
    /* credentials of a cloud identity go to that cloud's registries only */
    check_parse_fails("gcp", "registry.example.com", "puller", false, true, "InvalidSpec",
                      "spec.x.provider: gcp: ");
    check_parse_fails("aws", GAR, "puller", false, true, "InvalidSpec", "spec.x.provider: aws: ");
    check_parse_fails("gcp", GAR, NULL, false, true, "InvalidSpec",
                      "spec.x: provider gcp needs serviceAccountName");
    /* the name goes into the TokenRequest's path: no way out of its segment */
    check_parse_fails("gcp", GAR, "../secrets/x", false, true, "InvalidSpec",
                      "spec.x.serviceAccountName: \"../secrets/x\" is not a ServiceAccount name");
    check_parse_fails("gcp", GAR, "puller", true, true, "InvalidSpec",
                      "spec.x: provider gcp sends credentials over verified TLS only");
    check_parse_fails("gcp", GAR, "puller", false, false, "WorkloadIdentityDisabled",
                      "spec.x.provider: gcp needs the controller's --workload-identity flag");
}

static void put_sa(struct sl_fake_kube *fk, const char *name, const char *gsa)
{
    json_t *sa = json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", NS);
    if (gsa)
        json_object_set_new(json_object_get(sa, "metadata"), "annotations",
                            json_pack("{s:s}", SL_GCP_SERVICE_ACCOUNT_ANNOTATION, gsa));
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_SERVICEACCOUNT, sa), 0);
    json_decref(sa);
}

/* The fake API server, the fake gcp login and a cache: what a load needs. */
struct fixture {
    struct sl_fake_kube *fk;
    struct sl_kube_ops kube;
    struct fake_cloud cloud;
    struct sl_cloud_ops ops;
    struct sl_cloud_cache *cache;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->fk = sl_fake_kube_new();
    sl_fake_kube_ops(f->fk, &f->kube);
    f->ops = (struct sl_cloud_ops){
        .ctx = &f->cloud, .gcp_token_audience = f_gcp_token_audience, .gcp_login = f_gcp_login};
    f->cache = sl_cloud_cache_new();
}

static void fixture_free(struct fixture *f)
{
    sl_cloud_cache_free(f->cache);
    sl_fake_kube_free(f->fk);
}

/* A request of ServiceAccount "puller" for GAR through f. */
static struct sl_cloud_request fixture_request(struct fixture *f)
{
    return (struct sl_cloud_request){.kube = &f->kube,
                                     .ns = NS,
                                     .service_account = "puller",
                                     .field = "spec.database",
                                     .registry = GAR,
                                     .provider = SL_CLOUD_GCP,
                                     .ops = &f->ops,
                                     .cache = f->cache,
                                     .now_unix = 1000000};
}

static void test_creds_load(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct sl_fake_kube *fk = fx.fk;
    struct fake_cloud *cloud = &fx.cloud;
    struct sl_cloud_request req = fixture_request(&fx);
    struct sl_creds creds = {0};
    struct sl_cloud_fail fail = {0};

    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), -1);
    CHECK_STR_EQ(fail.reason, "ServiceAccountNotFound");
    CHECK_INT_EQ(fail.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(fail.message,
                 "spec.database.serviceAccountName: ServiceAccount " NS "/puller not found");

    /* gcp without the annotation: the workload identity itself */
    put_sa(fk, "puller", NULL);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), 0);
    CHECK_STR_EQ(creds.username, SL_GCP_REGISTRY_USER);
    CHECK_STR_EQ(creds.password, "gar-password-1");
    CHECK_STR_EQ(cloud->id, "(direct)");
    CHECK_STR_EQ(cloud->token, "token:" NS ":puller:https://iam.googleapis.com/lab-pool");
    sl_creds_free(&creds);

    /* the same again: from the cache, until 15 minutes before they expire */
    req.now_unix += 3600 - SL_CLOUD_RENEW_S - 1;
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), 0);
    CHECK_STR_EQ(creds.password, "gar-password-1");
    CHECK_INT_EQ(cloud->calls, 1);
    sl_creds_free(&creds);
    req.now_unix += 1;
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), 0);
    CHECK_STR_EQ(creds.password, "gar-password-2");
    sl_creds_free(&creds);

    /* another identity is another entry: a Google service account to impersonate */
    put_sa(fk, "puller", GSA);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), 0);
    CHECK_STR_EQ(cloud->id, GSA);
    CHECK_INT_EQ(cloud->calls, 3);
    sl_creds_free(&creds);
    put_sa(fk, "puller", "not-a-service-account");
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), -1);
    CHECK_STR_EQ(fail.reason, "InvalidServiceAccount");
    CHECK_CONTAINS(fail.message, "spec.database.serviceAccountName: ServiceAccount " NS
                                 "/puller: annotation " SL_GCP_SERVICE_ACCOUNT_ANNOTATION ": ");

    /* the API server does not answer the TokenRequest: retried */
    put_sa(fk, "other", NULL);
    req.service_account = "other";
    sl_fake_kube_fail_next_verb(fk, "create", SL_EFAIL);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), -1);
    CHECK_STR_EQ(fail.reason, "APIError");
    CHECK_INT_EQ(fail.kind, SL_RESULT_TRANSIENT);
    CHECK_CONTAINS(fail.message, "spec.database.serviceAccountName: requesting a token of "
                                 "ServiceAccount " NS "/other: ");

    /* the cloud refuses: waits for a change of its IAM, nothing cached */
    cloud->rc = SL_EAUTH;
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), -1);
    CHECK_STR_EQ(fail.reason, "CloudAuthFailed");
    CHECK_INT_EQ(fail.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(fail.message, "spec.database: Google login as the workload identity for "
                               "ServiceAccount " NS "/other: IAM Credentials: PERMISSION_DENIED");
    CHECK(creds.username == NULL && creds.password == NULL);
    cloud->rc = 0;
    int before = cloud->calls;
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, NULL, &req, &fail), 0);
    CHECK_INT_EQ(cloud->calls, before + 1);
    sl_creds_free(&creds);

    fixture_free(&fx);
}

/* A registry refused credentials: forgetting them makes the next load log in again; only the
 * entry of that provider, namespace, ServiceAccount and registry goes, and only while it holds
 * the refused credentials (another worker may have logged in again meanwhile). */
static void test_creds_forget(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct sl_fake_kube *fk = fx.fk;
    struct fake_cloud *cloud = &fx.cloud;
    put_sa(fk, "puller", GSA);
    put_sa(fk, "other", GSA);
    struct sl_cloud_request req = fixture_request(&fx);
    struct sl_cloud_request other = req;
    other.service_account = "other";
    struct sl_creds first = {0}, creds = {0}, other_creds = {0};
    struct sl_cloud_fail fail = {0};
    bool cached = true;

    CHECK_INT_EQ(sl_cloud_creds_load(&first, &cached, &req, &fail), 0);
    CHECK(!cached);
    CHECK_STR_EQ(first.password, "gar-password-1");
    CHECK_INT_EQ(sl_cloud_creds_load(&other_creds, &cached, &other, &fail), 0);
    CHECK_STR_EQ(other_creds.password, "gar-password-2");
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &req, &fail), 0);
    CHECK(cached);
    CHECK_STR_EQ(creds.password, "gar-password-1");
    sl_creds_free(&creds);

    /* refused credentials the entry does not hold: it stays */
    sl_cloud_creds_forget(&req, &other_creds);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &req, &fail), 0);
    CHECK(cached);
    CHECK_STR_EQ(creds.password, "gar-password-1");
    sl_creds_free(&creds);
    /* another registry's refusal: neither entry goes */
    struct sl_cloud_request elsewhere = req;
    elsewhere.registry = "us-docker.pkg.dev";
    sl_cloud_creds_forget(&elsewhere, NULL);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &req, &fail), 0);
    CHECK(cached);
    sl_creds_free(&creds);
    CHECK_INT_EQ(cloud->calls, 2);

    /* the registry refused them: the next load logs in, and keeps the new ones */
    sl_cloud_creds_forget(&req, &first);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &req, &fail), 0);
    CHECK(!cached);
    CHECK_STR_EQ(creds.password, "gar-password-3");
    CHECK_INT_EQ(cloud->calls, 3);
    sl_creds_free(&creds);
    /* a second refusal of the old ones (a worker that still held them) keeps the new ones */
    sl_cloud_creds_forget(&req, &first);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &req, &fail), 0);
    CHECK(cached);
    CHECK_STR_EQ(creds.password, "gar-password-3");
    sl_creds_free(&creds);
    /* the other ServiceAccount's entry was never touched */
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &other, &fail), 0);
    CHECK(cached);
    CHECK_STR_EQ(creds.password, "gar-password-2");
    sl_creds_free(&creds);
    CHECK_INT_EQ(cloud->calls, 3);

    /* NULL: whatever the entry holds; a generic request forgets nothing */
    sl_cloud_creds_forget(&other, NULL);
    struct sl_cloud_request generic = req;
    generic.provider = SL_CLOUD_GENERIC;
    sl_cloud_creds_forget(&generic, NULL);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &other, &fail), 0);
    CHECK(!cached);
    CHECK_STR_EQ(creds.password, "gar-password-4");
    sl_creds_free(&creds);
    CHECK_INT_EQ(sl_cloud_creds_load(&creds, &cached, &req, &fail), 0);
    CHECK(cached);
    sl_creds_free(&creds);

    sl_creds_free(&first);
    sl_creds_free(&other_creds);
    fixture_free(&fx);
}

int main(void)
{
    RUN(test_provider_parse);
    RUN(test_creds_load);
    RUN(test_creds_forget);
    return CHECK_EXIT();
}
