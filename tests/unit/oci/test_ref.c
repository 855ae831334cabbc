#include "check.h"
#include "oci/ref.h"

#include <stdlib.h>
#include <string.h>

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ref_case {
    const char *in;
    int rc;
    const char *registry, *repository, *tag, *digest;
};

static const struct ref_case cases[] = {
    {"alpine", 0, "docker.io", "library/alpine", NULL, NULL},
    {"alpine:3.20", 0, "docker.io", "library/alpine", "3.20", NULL},
    {"docker.io/alpine", 0, "docker.io", "library/alpine", NULL, NULL},
    {"index.docker.io/library/alpine:1", 0, "docker.io", "library/alpine", "1", NULL},
    {"acme/app:1.4.0", 0, "docker.io", "acme/app", "1.4.0", NULL},
    {"localhost/app", 0, "localhost", "app", NULL, NULL},
    {"localhost:5000/a/b/c:v1", 0, "localhost:5000", "a/b/c", "v1", NULL},
    {"127.0.0.1:5000/acme/app:1.0", 0, "127.0.0.1:5000", "acme/app", "1.0", NULL},
    {"Registry.Example.COM/x/y", 0, "Registry.Example.COM", "x/y", NULL, NULL},
    {"registry.example/app@sha256:" D64, 0, "registry.example", "app", NULL, "sha256:" D64},
    {"registry.example/app:1@sha256:" D64, 0, "registry.example", "app", "1", "sha256:" D64},
    {"r.example/a_b/c__d/e-f/g.h:T_a.g-1", 0, "r.example", "a_b/c__d/e-f/g.h", "T_a.g-1", NULL},
    {"[::1]:5000/app:1", 0, "[::1]:5000", "app", "1", NULL},
    {"", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"UPPER/case", 0, "UPPER", "case", NULL, NULL}, /* uppercase first part = a host */
    {"app/UPPER", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/App", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/app:", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/app:-bad", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/app@sha256:abc", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/app@sha512:" D64 D64, SL_EUNSUPPORTED, NULL, NULL, NULL, NULL},
    {"r.example//app", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/app/", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example:99999/app", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example:/app", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"with space/app", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/a..b", SL_EINVAL, NULL, NULL, NULL, NULL},
    {"r.example/app:1:2", SL_EINVAL, NULL, NULL, NULL, NULL},
};

static void test_parse_table(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ref_case *c = &cases[i];
        struct sl_ref r = {0};
        struct sl_err err;
        sl_err_clear(&err);
        int rc = sl_ref_parse(&r, c->in, &err);
        if (rc != c->rc)
            fprintf(stderr, "case \"%s\": rc %d (%s)\n", c->in, rc, err.msg);
        CHECK_INT_EQ(rc, c->rc);
        if (rc == 0) {
            CHECK_STR_EQ(r.registry, c->registry);
            CHECK_STR_EQ(r.repository, c->repository);
            if (c->tag)
                CHECK_STR_EQ(r.tag, c->tag);
            else
                CHECK(r.tag == NULL);
            if (c->digest)
                CHECK_STR_EQ(r.digest, c->digest);
            else
                CHECK(r.digest == NULL);
        } else {
            CHECK(err.msg[0] != '\0');
            CHECK(r.registry == NULL);
        }
        sl_ref_free(&r);
    }
}

/* The grammar the registry client checks every name against before it reaches a URL: a tag read
 * from a hostile tag list must not climb out of the repository. */
static void test_name_grammar(void)
{
    CHECK(sl_ref_is_tag("1.4.2"));
    CHECK(sl_ref_is_tag("_x-Y.z"));
    CHECK(!sl_ref_is_tag("1.4./../../../../victim/app/manifests/latest"));
    CHECK(!sl_ref_is_tag("a/b"));
    CHECK(!sl_ref_is_tag(".hidden"));
    CHECK(!sl_ref_is_tag("-x"));
    CHECK(!sl_ref_is_tag("a?b"));
    CHECK(!sl_ref_is_tag(""));
    char long_tag[130];
    memset(long_tag, 'a', sizeof(long_tag) - 1);
    long_tag[129] = '\0';
    CHECK(!sl_ref_is_tag(long_tag)); /* 129 bytes */
    long_tag[128] = '\0';
    CHECK(sl_ref_is_tag(long_tag));
    CHECK(sl_ref_is_repository("acme/app"));
    CHECK(sl_ref_is_repository("a.b/c__d/e-f"));
    CHECK(!sl_ref_is_repository("acme/../victim"));
    CHECK(!sl_ref_is_repository("acme//app"));
    CHECK(!sl_ref_is_repository("acme/app/"));
    CHECK(!sl_ref_is_repository("Acme/app"));
    CHECK(!sl_ref_is_repository("acme/app?x=1"));
    CHECK(!sl_ref_is_repository(NULL));
}

static void test_string_and_api_host(void)
{
    struct sl_ref r = {0};
    CHECK_INT_EQ(sl_ref_parse(&r, "busybox:1", NULL), 0);
    CHECK_STR_EQ(sl_ref_api_host(&r), "registry-1.docker.io");
    char *s = sl_ref_string(&r);
    CHECK_STR_EQ(s, "docker.io/library/busybox:1");
    free(s);
    struct sl_ref c = {0};
    sl_ref_copy(&c, &r);
    CHECK_STR_EQ(c.repository, "library/busybox");
    sl_ref_free(&c);
    sl_ref_free(&r);
    CHECK_INT_EQ(sl_ref_parse(&r, "127.0.0.1:5000/x@sha256:" D64, NULL), 0);
    CHECK_STR_EQ(sl_ref_api_host(&r), "127.0.0.1:5000");
    s = sl_ref_string(&r);
    CHECK_STR_EQ(s, "127.0.0.1:5000/x@sha256:" D64);
    free(s);
    sl_ref_free(&r);
    sl_ref_free(NULL);
}

static void test_error_message_names_input(void)
{
    struct sl_ref r = {0};
    struct sl_err err;
    CHECK_INT_EQ(sl_ref_parse(&r, "r.example/app:-bad", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "r.example/app:-bad");
    CHECK_CONTAINS(err.msg, "tag");
}

int main(void)
{
    RUN(test_parse_table);
    RUN(test_name_grammar);
    RUN(test_string_and_api_host);
    RUN(test_error_message_names_input);
    return CHECK_EXIT();
}
