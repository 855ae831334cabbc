/* Unit tests of the copy engine (oci/copy.c) through the fake transport: an in-memory registry
 * answers every host, so what a copy writes, skips, mounts or refuses is checked without a
 * network. */
#include "check.h"
#include "fake_registry.h"
#include "oci/copy.h"
#include "oci/manifest.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRC "src.example"
#define DST "dst.example"

struct image {
    char config[72], layer1[72], layer2[72], manifest[72];
    size_t bytes;
};

/* Pushes a two-layer image to host/repo:tag. */
static void push_image(struct sl_fake_registry *fr, const char *host, const char *repo,
                       const char *tag, struct image *img)
{
    static const char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    char layer1[5000], layer2[300];
    for (size_t i = 0; i < sizeof(layer1); i++)
        layer1[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof(layer2); i++)
        layer2[i] = (char)i;
    sl_fake_registry_put_blob(fr, host, repo, config, strlen(config), img->config);
    sl_fake_registry_put_blob(fr, host, repo, layer1, sizeof(layer1), img->layer1);
    sl_fake_registry_put_blob(fr, host, repo, layer2, sizeof(layer2), img->layer2);
    img->bytes = strlen(config) + sizeof(layer1) + sizeof(layer2);
    char *m = sl_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"%s\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
        "\"size\":%zu},\"layers\":["
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}"
        "]}",
        SL_MT_OCI_MANIFEST, img->config, strlen(config), img->layer1, sizeof(layer1), img->layer2,
        sizeof(layer2));
    sl_fake_registry_put_manifest(fr, host, repo, tag, SL_MT_OCI_MANIFEST, m, img->manifest);
    free(m);
}

struct env {
    struct sl_fake_registry *fr;
    struct sl_registry *src, *dst;
};

static void env_init(struct env *e)
{
    e->fr = sl_fake_registry_new();
    struct sl_registry_opts o = {
        .transport = sl_fake_registry_transport(e->fr), .backoff_base_ms = 1, .backoff_max_ms = 2};
    e->src = sl_registry_new(SRC, NULL, &o);
    e->dst = sl_registry_new(DST, NULL, &o);
}

static void env_free(struct env *e)
{
    sl_registry_free(e->src);
    sl_registry_free(e->dst);
    sl_fake_registry_free(e->fr);
}

static int copy(struct env *e, struct sl_registry *dst_reg, const char *src_text,
                const char *dst_text, struct sl_copy_result *res, struct sl_err *err)
{
    struct sl_ref s = {0}, d = {0};
    CHECK_INT_EQ(sl_ref_parse(&s, src_text, err), 0);
    CHECK_INT_EQ(sl_ref_parse(&d, dst_text, err), 0);
    struct sl_copy_opts opts = {.concurrency = 2, .backoff_base_ms = 1};
    int rc = sl_copy_image_refs(res, e->src, &s, dst_reg, &d, &opts, err);
    sl_ref_free(&s);
    sl_ref_free(&d);
    return rc;
}

/* Across registries every blob is streamed and verified, the manifest lands under the tag with
 * the source's digest; a second copy finds the tag in sync and writes nothing. */
static void test_copy_between_registries(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "team/app", "v1", &img);
    struct sl_copy_result res;
    struct sl_err err = {0};
    CHECK_INT_EQ(copy(&e, e.dst, SRC "/team/app:v1", DST "/mirror/app:v1", &res, &err), 0);
    CHECK_STR_EQ(res.digest, img.manifest);
    CHECK_INT_EQ(res.blobs_total, 3);
    CHECK_INT_EQ(res.blobs_copied, 3);
    CHECK_INT_EQ(res.blobs_mounted, 0);
    CHECK_INT_EQ((int)res.bytes_copied, (int)img.bytes);
    CHECK(sl_fake_registry_manifest(e.fr, DST, "mirror/app", "v1") != NULL);
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "mirror/app", img.layer1));
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "mirror/app", img.layer2));
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "mirror/app", img.config));

    int puts = sl_fake_registry_count(e.fr, "PUT " DST);
    CHECK_INT_EQ(copy(&e, e.dst, SRC "/team/app:v1", DST "/mirror/app:v1", &res, &err), 0);
    CHECK_INT_EQ(res.already_in_sync, 1);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "PUT " DST), puts);
    env_free(&e);
}

/* Within one registry blobs are mounted from the source repository, never downloaded. */
static void test_copy_within_a_registry_mounts(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "team/app", "v1", &img);
    struct sl_copy_result res;
    struct sl_err err = {0};
    CHECK_INT_EQ(copy(&e, e.src, SRC "/team/app:v1", SRC "/prod/app:v1", &res, &err), 0);
    CHECK_INT_EQ(res.blobs_mounted, 3);
    CHECK_INT_EQ(res.blobs_copied, 0);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "GET " SRC "/v2/team/app/blobs/"), 0);
    CHECK(sl_fake_registry_has_blob(e.fr, SRC, "prod/app", img.layer1));
    CHECK_STR_EQ(sl_fake_registry_manifest(e.fr, SRC, "prod/app", "v1"),
                 sl_fake_registry_manifest(e.fr, SRC, "team/app", "v1"));
    env_free(&e);
}

/* One vendor image to many customer repositories of one target registry (a fleet of deliveries
 * through one target client): the first copy moves the bytes, the next ones mount every blob from
 * where the client put it, with one request per blob and nothing read from the source. */
static void test_fleet_copies_mount_from_earlier_targets(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "acme/app", "1.0", &img);
    struct sl_copy_result res;
    struct sl_err err = {0};
    CHECK_INT_EQ(copy(&e, e.dst, SRC "/acme/app:1.0", DST "/customer1/app:1.0", &res, &err), 0);
    CHECK_INT_EQ(res.blobs_copied, 3);
    int source_gets = sl_fake_registry_count(e.fr, "GET " SRC "/v2/acme/app/blobs/");
    CHECK_INT_EQ(source_gets, 3);
    CHECK_INT_EQ(copy(&e, e.dst, SRC "/acme/app:1.0", DST "/customer2/app:1.0", &res, &err), 0);
    CHECK_INT_EQ(res.blobs_mounted, 3);
    CHECK_INT_EQ(res.blobs_copied, 0);
    CHECK_INT_EQ(res.bytes_copied, 0);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "GET " SRC "/v2/acme/app/blobs/"), source_gets);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "HEAD " DST "/v2/customer2/app/blobs/"), 0);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "POST " DST "/v2/customer2/app/blobs/uploads/"), 3);
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "customer2/app", img.layer1));
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "customer2/app", img.layer2));
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "customer2/app", img.config));
    CHECK_STR_EQ(sl_fake_registry_manifest(e.fr, DST, "customer2/app", "1.0"),
                 sl_fake_registry_manifest(e.fr, SRC, "acme/app", "1.0"));
    env_free(&e);
}

/* A remembered repository that no longer holds the blob (deleted, or no longer readable): the
 * mount does not happen, the copy streams the blob as without, and the stale place is forgotten.
 */
static void test_stale_blob_home_falls_back_to_copy(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "acme/app", "1.0", &img);
    sl_registry_blob_remember(e.dst, "gone/app", img.layer1);
    struct sl_copy_result res;
    struct sl_err err = {0};
    CHECK_INT_EQ(copy(&e, e.dst, SRC "/acme/app:1.0", DST "/customer1/app:1.0", &res, &err), 0);
    CHECK_INT_EQ(res.blobs_copied, 3);
    CHECK_INT_EQ(res.blobs_mounted, 0);
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "customer1/app", img.layer1));
    char home[256];
    CHECK(sl_registry_blob_home(home, sizeof(home), e.dst, img.layer1, "other/app"));
    CHECK_STR_EQ(home, "customer1/app"); /* where it was put last, not the stale place */
    CHECK(!sl_registry_blob_home(home, sizeof(home), e.dst, img.layer1, "customer1/app"));
    env_free(&e);
}

/* A caller that has just looked at the target tag says so: the copy does not HEAD it again, and
 * a target already naming the digest costs no request at all. */
static void test_target_checked_by_caller(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "acme/app", "1.0", &img);
    struct sl_ref s = {0}, d = {0};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_ref_parse(&s, SRC "/acme/app:1.0", &err), 0);
    CHECK_INT_EQ(sl_ref_parse(&d, DST "/customer1/app:1.0", &err), 0);
    struct sl_copy_opts opts = {.concurrency = 2, .backoff_base_ms = 1, .target_checked = 1};
    struct sl_copy_result res;
    CHECK_INT_EQ(sl_copy_image_refs(&res, e.src, &s, e.dst, &d, &opts, &err), 0);
    CHECK_INT_EQ(res.already_in_sync, 0);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "HEAD " DST "/v2/customer1/app/manifests/"), 0);
    CHECK_STR_EQ(sl_fake_registry_manifest(e.fr, DST, "customer1/app", "1.0"),
                 sl_fake_registry_manifest(e.fr, SRC, "acme/app", "1.0"));
    int dst_requests = sl_fake_registry_count(e.fr, DST "/");
    opts.target_digest = img.manifest;
    CHECK_INT_EQ(sl_copy_image_refs(&res, e.src, &s, e.dst, &d, &opts, &err), 0);
    CHECK_INT_EQ(res.already_in_sync, 1);
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, DST "/"), dst_requests);
    sl_ref_free(&s);
    sl_ref_free(&d);
    env_free(&e);
}

/* A source registry that serves other bytes than the digest says: the copy fails naming the
 * digest, the upload never completes and the target tag is not written. */
static void test_tampered_blob_is_refused(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "team/app", "v1", &img);
    sl_fake_registry_tamper_blob(e.fr, SRC, "team/app", img.layer1);
    struct sl_copy_result res;
    struct sl_err err = {0};
    int rc = copy(&e, e.dst, SRC "/team/app:v1", DST "/mirror/app:v1", &res, &err);
    CHECK_INT_EQ(rc, SL_EDIGEST);
    CHECK_CONTAINS(err.msg, img.layer1);
    CHECK_CONTAINS(err.msg, "does not match its digest");
    CHECK(!sl_fake_registry_has_blob(e.fr, DST, "mirror/app", img.layer1));
    CHECK(sl_fake_registry_manifest(e.fr, DST, "mirror/app", "v1") == NULL);
    env_free(&e);
}

/* A target that answers 503 to a blob check twice: the copy retries and delivers. */
static void test_transient_errors_are_retried(void)
{
    struct env e;
    env_init(&e);
    struct image img;
    push_image(e.fr, SRC, "team/app", "v1", &img);
    char path[160];
    snprintf(path, sizeof(path), "HEAD /v2/mirror/app/blobs/%s", img.layer2);
    sl_fake_registry_fail(e.fr, path, 503, 2);
    struct sl_copy_result res;
    struct sl_err err = {0};
    CHECK_INT_EQ(copy(&e, e.dst, SRC "/team/app:v1", DST "/mirror/app:v1", &res, &err), 0);
    CHECK_STR_EQ(res.digest, img.manifest);
    snprintf(path, sizeof(path), "HEAD " DST "/v2/mirror/app/blobs/%s", img.layer2);
    CHECK(sl_fake_registry_count(e.fr, path) >= 3);
    CHECK(sl_fake_registry_has_blob(e.fr, DST, "mirror/app", img.layer2));
    env_free(&e);
}

/* A missing source tag is SL_ENOTFOUND naming the image; nothing is written. */
static void test_missing_source(void)
{
    struct env e;
    env_init(&e);
    struct sl_copy_result res;
    struct sl_err err = {0};
    int rc = copy(&e, e.dst, SRC "/team/app:nope", DST "/mirror/app:v1", &res, &err);
    CHECK_INT_EQ(rc, SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "team/app");
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "PUT "), 0);
    env_free(&e);
}

int main(void)
{
    RUN(test_copy_between_registries);
    RUN(test_copy_within_a_registry_mounts);
    RUN(test_fleet_copies_mount_from_earlier_targets);
    RUN(test_stale_blob_home_falls_back_to_copy);
    RUN(test_target_checked_by_caller);
    RUN(test_tampered_blob_is_refused);
    RUN(test_transient_errors_are_retried);
    RUN(test_missing_source);
    return CHECK_EXIT();
}
