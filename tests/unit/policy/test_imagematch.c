/* Unit tests of DeployPolicy verifyImages matching (policy/imagematch.h): globs on reference
 * boundaries, the entries an image gets, and patterns an attacker would try. */
#include "check.h"
#include "oci/ref.h"
#include "policy/imagematch.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool matches(const char *pattern, const char *image)
{
    struct sl_ref ref = {0};
    struct sl_err err = {0};
    if (sl_ref_parse(&ref, image, &err) != 0) {
        fprintf(stderr, "bad test image %s: %s\n", image, err.msg);
        CHECK(0);
        return false;
    }
    bool m = sl_policy_image_matches(pattern, &ref);
    sl_ref_free(&ref);
    return m;
}

static void test_star_alone_is_every_image(void)
{
    CHECK(matches("*", "registry.vendor.example/acme/app:1.0"));
    CHECK(matches("*", "nginx"));
    CHECK(matches("*", "127.0.0.1:5000/a/b/c@sha256:"
                       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
}

static void test_star_stops_at_boundaries(void)
{
    /* one repository level, any tag or digest */
    CHECK(matches("registry.vendor.example/*", "registry.vendor.example/app:1.0"));
    CHECK(matches("registry.vendor.example/*",
                  "registry.vendor.example/app@sha256:"
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(!matches("registry.vendor.example/*", "registry.vendor.example/team/app:1.0"));
    CHECK(matches("registry.vendor.example/*/*", "registry.vendor.example/team/app:1.0"));
    /* the registry is not a prefix: a look-alike host and another port do not match */
    CHECK(!matches("registry.vendor.example/*", "registry.vendor.example.evil.com/app"));
    CHECK(!matches("registry.vendor.example/*", "registry.vendor.example:5000/app"));
    CHECK(!matches("registry.vendor.example*/*", "registry.vendor.example:5000/app"));
    CHECK(matches("registry.vendor.example:*/*", "registry.vendor.example:5000/app"));
    /* a star inside a component */
    CHECK(matches("registry.vendor.example/acme/app-*", "registry.vendor.example/acme/app-web"));
    CHECK(!matches("registry.vendor.example/acme/app-*", "registry.vendor.example/acme/app-web/x"));
    /* tags: a star does not run past ':' into the tag, and tag patterns see the tag */
    CHECK(matches("registry.vendor.example/acme/app:1.*", "registry.vendor.example/acme/app:1.4"));
    CHECK(!matches("registry.vendor.example/acme/app:1.*", "registry.vendor.example/acme/app:2.0"));
    CHECK(!matches("registry.vendor.example/acme/app:1.*", "registry.vendor.example/acme/app"));
    CHECK(!matches("registry.vendor.example/acme/a*", "registry.vendor.example/acme/b:a1"));
    /* exact names */
    CHECK(matches("registry.vendor.example/acme/app", "registry.vendor.example/acme/app:1.0"));
    CHECK(!matches("registry.vendor.example/acme/app", "registry.vendor.example/acme/app2"));
    CHECK(!matches("registry.vendor.example/acme", "registry.vendor.example/acme/app"));
    /* Docker Hub names are normalised before matching */
    CHECK(matches("docker.io/library/*", "nginx:1.27"));
    CHECK(!matches("nginx", "nginx"));
    CHECK(!matches("*/*", "nginx")); /* docker.io/library/nginx has two slashes */
}

static void test_hostile_patterns(void)
{
    /* no pattern matches by accident */
    CHECK(!matches("", "r.example/a"));
    CHECK(!matches(NULL, "r.example/a"));
    CHECK(!matches("**", "r.example/a"));
    CHECK(!matches("*/", "r.example/a"));
    CHECK(!matches("r.example/a/", "r.example/a"));
    CHECK(!matches("r.example/a@*", "r.example/a:1"));
    /* many stars against a long name that almost matches: bounded work, the right answer */
    char pattern[SL_POLICY_PATTERN_MAX + 2];
    memcpy(pattern, "r.example/", 10);
    size_t n = 10;
    while (n + 2 < SL_POLICY_PATTERN_MAX) {
        pattern[n++] = 'a';
        pattern[n++] = '*';
    }
    pattern[n++] = 'b';
    pattern[n] = '\0';
    char image[300];
    memset(image, 0, sizeof(image));
    memcpy(image, "r.example/", 10);
    memset(image + 10, 'a', 200);
    CHECK(!matches(pattern, image));
    /* a pattern over the bound covers nothing, even "*"-like ones */
    char *huge = sl_xcalloc(SL_POLICY_PATTERN_MAX + 2, 1);
    memset(huge, '*', SL_POLICY_PATTERN_MAX + 1);
    CHECK(!matches(huge, "r.example/a"));
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_pattern_check(huge, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "Too long");
    free(huge);
    CHECK_INT_EQ(sl_policy_pattern_check("r.example/a b", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_policy_pattern_check("r.example/\x01", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_policy_pattern_check("", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_policy_pattern_check("r.example/*", &err), 0);
}

static void test_matching_entries_in_order(void)
{
    json_t *list = json_loads(
        "[{\"imageReferences\": [\"registry.vendor.example/*\"]},"
        " {\"imageReferences\": [\"sidecars.example/*\", \"registry.vendor.example/app\"]},"
        " {\"imageReferences\": [\"*\"]}]",
        0, NULL);
    struct sl_ref ref = {0};
    CHECK_INT_EQ(sl_ref_parse(&ref, "registry.vendor.example/app:1", NULL), 0);
    CHECK_INT_EQ(sl_policy_matching_entries(list, &ref), 0x7);
    sl_ref_free(&ref);
    CHECK_INT_EQ(sl_ref_parse(&ref, "sidecars.example/proxy:1", NULL), 0);
    CHECK_INT_EQ(sl_policy_matching_entries(list, &ref), 0x6);
    sl_ref_free(&ref);
    json_array_remove(list, 2);
    CHECK_INT_EQ(sl_ref_parse(&ref, "other.example/x:1", NULL), 0);
    CHECK_INT_EQ(sl_policy_matching_entries(list, &ref), 0); /* no entry: admitted by these */
    sl_ref_free(&ref);
    json_decref(list);
}

int main(void)
{
    RUN(test_star_alone_is_every_image);
    RUN(test_star_stops_at_boundaries);
    RUN(test_hostile_patterns);
    RUN(test_matching_entries_in_order);
    return CHECK_EXIT();
}
