/* Unit tests of the read cache (oci/readcache.c) and of a registry client that keeps its read
 * answers (sl_registry_opts.read_cache_ms), through the fake transport: what the registry is
 * asked, and what the caller is told, when many deliveries read the same source. */
#include "check.h"
#include "fake_registry.h"
#include "oci/manifest.h"
#include "oci/readcache.h"
#include "oci/registry.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRC "src.example"

static const char manifest_v1[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
    "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":1},"
    "\"layers\":[]}";
static const char manifest_v2[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
    "\"sha256:2222222222222222222222222222222222222222222222222222222222222222\",\"size\":2},"
    "\"layers\":[]}";

static struct sl_registry *client(struct sl_fake_registry *fr, int64_t read_cache_ms)
{
    struct sl_registry_opts o = {.transport = sl_fake_registry_transport(fr),
                                 .backoff_base_ms = 1,
                                 .backoff_max_ms = 2,
                                 .max_attempts = 1,
                                 .read_cache_ms = read_cache_ms};
    return sl_registry_new(SRC, NULL, &o);
}

/* Many deliveries resolving one vendor tag, reading its manifest and asking for its referrers
 * through one source client: the registry answers each question once. */
static void test_shared_reads(void)
{
    struct sl_fake_registry *fr = sl_fake_registry_new();
    char d1[72];
    sl_fake_registry_put_manifest(fr, SRC, "acme/app", "1.0", SL_MT_OCI_MANIFEST, manifest_v1, d1);
    struct sl_registry *r = client(fr, 60000);
    struct sl_err err = {0};
    for (int i = 0; i < 10; i++) {
        char digest[72] = "";
        CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "1.0", &err), 0);
        CHECK_STR_EQ(digest, d1);
        struct sl_registry_manifest m;
        CHECK_INT_EQ(sl_registry_manifest_get(&m, r, "acme/app", d1, &err), 0);
        CHECK_INT_EQ((long long)m.len, (long long)strlen(manifest_v1));
        CHECK(memcmp(m.data, manifest_v1, m.len) == 0);
        CHECK_STR_EQ(m.digest, d1);
        sl_registry_manifest_free(&m);
        char *index = NULL;
        size_t len = 0;
        int api = -1;
        CHECK_INT_EQ(sl_registry_referrers_ex(&index, &len, &api, r, "acme/app", d1, NULL, &err),
                     0);
        CHECK_INT_EQ(api, 0); /* the fake has no referrers API: the fallback answered */
        CHECK(strstr(index, "\"manifests\":[]") != NULL);
        free(index);
    }
    CHECK_INT_EQ(sl_fake_registry_count(fr, "HEAD " SRC "/v2/acme/app/manifests/1.0"), 1);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "GET " SRC "/v2/acme/app/manifests/sha256:"), 1);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "GET " SRC "/v2/acme/app/referrers/"), 1);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "/manifests/sha256-"), 1); /* the fallback tag */
    sl_registry_free(r);
    sl_fake_registry_free(fr);
}

/* Without read_cache_ms (target clients) every read asks the registry. */
static void test_off_by_default(void)
{
    struct sl_fake_registry *fr = sl_fake_registry_new();
    char d1[72];
    sl_fake_registry_put_manifest(fr, SRC, "acme/app", "1.0", SL_MT_OCI_MANIFEST, manifest_v1, d1);
    struct sl_registry *r = client(fr, 0);
    struct sl_err err = {0};
    for (int i = 0; i < 3; i++) {
        char digest[72] = "";
        CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "1.0", &err), 0);
        CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "2.0", &err),
                     SL_ENOTFOUND);
    }
    CHECK_INT_EQ(sl_fake_registry_count(fr, "HEAD " SRC "/v2/acme/app/manifests/1.0"), 3);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "HEAD " SRC "/v2/acme/app/manifests/2.0"), 3);
    sl_registry_free(r);
    sl_fake_registry_free(fr);
}

/* A missing tag is an answer too (a missing .sig of every delivered image): asked once, told
 * every time with the registry's code and message. */
static void test_not_found_kept(void)
{
    struct sl_fake_registry *fr = sl_fake_registry_new();
    struct sl_registry *r = client(fr, 60000);
    struct sl_err err = {0}, again = {0};
    char digest[72] = "";
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "nope", &err),
                 SL_ENOTFOUND);
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "nope", &again),
                 SL_ENOTFOUND);
    CHECK_STR_EQ(again.msg, err.msg);
    CHECK(strstr(again.msg, "404") != NULL);
    struct sl_registry_manifest m;
    CHECK_INT_EQ(sl_registry_manifest_get(&m, r, "acme/app", "nope", &again), SL_ENOTFOUND);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "/v2/acme/app/manifests/nope"), 1);
    sl_registry_free(r);
    sl_fake_registry_free(fr);
}

/* A failure is never kept as an answer: the next read asks again and gets the content. */
static void test_errors_not_kept(void)
{
    struct sl_fake_registry *fr = sl_fake_registry_new();
    char d1[72];
    sl_fake_registry_put_manifest(fr, SRC, "acme/app", "1.0", SL_MT_OCI_MANIFEST, manifest_v1, d1);
    struct sl_registry *r = client(fr, 60000);
    struct sl_err err = {0};
    char digest[72] = "";
    sl_fake_registry_fail(fr, "HEAD /v2/acme/app/manifests/1.0", 503, 1);
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "1.0", &err), SL_ERETRY);
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "1.0", &err), 0);
    CHECK_STR_EQ(digest, d1);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "HEAD " SRC "/v2/acme/app/manifests/1.0"), 2);
    sl_registry_free(r);
    sl_fake_registry_free(fr);
}

/* A manifest PUT through the client forgets what it kept about that repository: the tag it
 * moved reads the new digest at once; other repositories keep their answers. */
static void test_write_forgets_repo(void)
{
    struct sl_fake_registry *fr = sl_fake_registry_new();
    char d1[72], d2[72];
    sl_fake_registry_put_manifest(fr, SRC, "acme/app", "1.0", SL_MT_OCI_MANIFEST, manifest_v1, d1);
    sl_fake_registry_put_manifest(fr, SRC, "acme/other", "1.0", SL_MT_OCI_MANIFEST, manifest_v1,
                                  d1);
    struct sl_registry *r = client(fr, 60000);
    struct sl_err err = {0};
    char digest[72] = "";
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "1.0", &err), 0);
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/other", "1.0", &err), 0);
    CHECK_INT_EQ(sl_registry_manifest_put(d2, r, "acme/app", "1.0", SL_MT_OCI_MANIFEST, manifest_v2,
                                          strlen(manifest_v2), &err),
                 0);
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/app", "1.0", &err), 0);
    CHECK_STR_EQ(digest, d2);
    CHECK_INT_EQ(sl_registry_manifest_head(digest, NULL, r, "acme/other", "1.0", &err), 0);
    CHECK_STR_EQ(digest, d1);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "HEAD " SRC "/v2/acme/app/manifests/1.0"), 2);
    CHECK_INT_EQ(sl_fake_registry_count(fr, "HEAD " SRC "/v2/acme/other/manifests/1.0"), 1);
    sl_registry_free(r);
    sl_fake_registry_free(fr);
}

/* The cache itself: answers expire after the time-to-live, a HEAD answer does not serve a GET,
 * count and bytes stay within their bounds. */
static void test_cache_bounds_and_expiry(void)
{
    struct sl_read_cache *c = sl_read_cache_new(1000, 2, 10);
    struct sl_read_answer a = {.found = true, .digest = "sha256:aa", .data = "12345", .len = 5};
    struct sl_read_answer head = {.found = true, .digest = "sha256:bb"};
    struct sl_read_answer got;
    sl_read_cache_put(c, "manifest", "r", "t1", &a, 0);
    CHECK(sl_read_cache_get(c, &got, "manifest", "r", "t1", true, 999));
    CHECK_STR_EQ(got.data, "12345");
    sl_read_answer_free(&got);
    CHECK(!sl_read_cache_get(c, &got, "manifest", "r", "t1", true, 1000)); /* expired */
    sl_read_cache_put(c, "manifest", "r", "h", &head, 0);
    CHECK(sl_read_cache_get(c, &got, "manifest", "r", "h", false, 1));
    CHECK_STR_EQ(got.digest, "sha256:bb");
    sl_read_answer_free(&got);
    CHECK(!sl_read_cache_get(c, &got, "manifest", "r", "h", true, 1)); /* a GET needs bytes */
    sl_read_cache_put(c, "manifest", "r", "t1", &a, 2);
    sl_read_cache_put(c, "manifest", "r", "t2", &a, 3); /* 10 bytes: the oldest goes */
    CHECK(sl_read_cache_size(c) <= 2);
    CHECK(!sl_read_cache_get(c, &got, "manifest", "r", "h", false, 4));
    CHECK(sl_read_cache_get(c, &got, "manifest", "r", "t2", true, 4));
    sl_read_answer_free(&got);
    struct sl_read_answer big = {
        .found = true, .digest = "sha256:cc", .data = "0123456789ab", .len = 12};
    sl_read_cache_put(c, "manifest", "r", "big", &big, 5); /* larger than the cache: not kept */
    CHECK(!sl_read_cache_get(c, &got, "manifest", "r", "big", true, 5));
    sl_read_cache_forget_repo(c, "r");
    CHECK_INT_EQ(sl_read_cache_size(c), 0);
    sl_read_cache_free(c);
}

int main(void)
{
    RUN(test_shared_reads);
    RUN(test_off_by_default);
    RUN(test_not_found_kept);
    RUN(test_errors_not_kept);
    RUN(test_write_forgets_repo);
    RUN(test_cache_bounds_and_expiry);
    return CHECK_EXIT();
}
