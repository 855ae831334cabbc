#include "check.h"
#include "oci/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int parse_file(struct sl_manifest *m, const char *name, const char *ct, struct sl_err *err)
{
    size_t len;
    char *data = slurp(name, &len);
    int rc = sl_manifest_parse(m, data, len, ct, err);
    free(data);
    return rc;
}

static void test_docker_manifest(void)
{
    struct sl_manifest m;
    CHECK_INT_EQ(parse_file(&m, "docker_manifest.json", NULL, NULL), 0);
    CHECK_INT_EQ(m.kind, SL_MANIFEST_IMAGE);
    CHECK_STR_EQ(m.media_type, SL_MT_DOCKER_MANIFEST);
    CHECK_STR_EQ(m.config.media_type, "application/vnd.docker.container.image.v1+json");
    CHECK_INT_EQ(m.config.size, 1469);
    CHECK_INT_EQ(m.n_layers, 2);
    CHECK_INT_EQ(m.layers[0].size, 2811478);
    CHECK(m.subject == NULL);
    sl_manifest_free(&m);
}

static void test_docker_list_and_platforms(void)
{
    struct sl_manifest m;
    CHECK_INT_EQ(parse_file(&m, "docker_list.json", NULL, NULL), 0);
    CHECK_INT_EQ(m.kind, SL_MANIFEST_INDEX);
    CHECK(sl_manifest_type_is_index(m.media_type));
    CHECK_INT_EQ(m.n_children, 3);
    CHECK_STR_EQ(m.children[1].arch, "arm");
    CHECK_STR_EQ(m.children[1].variant, "v7");
    struct sl_platform p[2];
    CHECK_INT_EQ(sl_platform_parse(&p[0], "linux/arm64", NULL), 0);
    CHECK(sl_platform_match(&m.children[2], p, 1)); /* any variant */
    CHECK(!sl_platform_match(&m.children[0], p, 1));
    CHECK_INT_EQ(sl_platform_parse(&p[0], "linux/arm/v6", NULL), 0);
    CHECK(!sl_platform_match(&m.children[1], p, 1)); /* variant must match when given */
    CHECK_INT_EQ(sl_platform_parse(&p[1], "linux/arm/v7", NULL), 0);
    CHECK(sl_platform_match(&m.children[1], p, 2));
    sl_manifest_free(&m);

    struct sl_err err;
    CHECK_INT_EQ(sl_platform_parse(&p[0], "linux", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "os/arch");
    CHECK_INT_EQ(sl_platform_parse(&p[0], "linux/", NULL), SL_EINVAL);
    CHECK_INT_EQ(sl_platform_parse(&p[0], "/amd64", NULL), SL_EINVAL);
    CHECK_INT_EQ(sl_platform_parse(&p[0], "linux/arm/v7/x", NULL), SL_EINVAL);
}

static void test_oci_manifest_index_artifact(void)
{
    struct sl_manifest m;
    CHECK_INT_EQ(parse_file(&m, "oci_manifest.json", NULL, NULL), 0);
    CHECK_INT_EQ(m.kind, SL_MANIFEST_IMAGE);
    CHECK_STR_EQ(m.media_type, SL_MT_OCI_MANIFEST);
    CHECK_INT_EQ(m.n_layers, 3);
    CHECK_STR_EQ(m.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    sl_manifest_free(&m);

    CHECK_INT_EQ(parse_file(&m, "oci_index.json", NULL, NULL), 0);
    CHECK_INT_EQ(m.kind, SL_MANIFEST_INDEX);
    CHECK_STR_EQ(m.media_type, SL_MT_OCI_INDEX);
    CHECK_INT_EQ(m.n_children, 3);
    CHECK_STR_EQ(m.children[2].os, "unknown");
    sl_manifest_free(&m);

    /* no mediaType: the Content-Type decides, else the structure */
    CHECK_INT_EQ(parse_file(&m, "oci_index_no_mediatype.json", NULL, NULL), 0);
    CHECK_INT_EQ(m.kind, SL_MANIFEST_INDEX);
    CHECK(m.children[0].media_type == NULL);
    sl_manifest_free(&m);
    CHECK_INT_EQ(parse_file(&m, "oci_index_no_mediatype.json", SL_MT_DOCKER_LIST, NULL), 0);
    CHECK_STR_EQ(m.media_type, SL_MT_DOCKER_LIST);
    sl_manifest_free(&m);

    CHECK_INT_EQ(parse_file(&m, "oci_artifact.json", NULL, NULL), 0);
    CHECK_INT_EQ(m.kind, SL_MANIFEST_IMAGE);
    CHECK_STR_EQ(m.config.media_type, "application/vnd.oci.empty.v1+json");
    CHECK_STR_EQ(m.layers[0].media_type, "application/vnd.example.sbom.v1+json");
    CHECK(m.subject != NULL);
    if (m.subject)
        CHECK_INT_EQ(m.subject->size, 7023);
    sl_manifest_free(&m);
}

static void test_bad_manifests(void)
{
    struct sl_manifest m;
    struct sl_err err;
    CHECK_INT_EQ(parse_file(&m, "schema1.json", NULL, &err), SL_EUNSUPPORTED);
    CHECK_CONTAINS(err.msg, "schema 1");
    CHECK_INT_EQ(parse_file(&m, "bad_digest.json", NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "config");
    CHECK_INT_EQ(parse_file(&m, "negative_size.json", NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "size");
    CHECK_INT_EQ(sl_manifest_parse(&m, "{", 1, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "JSON");
    CHECK_INT_EQ(sl_manifest_parse(&m, "[]", 2, NULL, &err), SL_EINVAL);
    const char *unknown = "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}";
    CHECK_INT_EQ(sl_manifest_parse(&m, unknown, strlen(unknown), NULL, &err), SL_EUNSUPPORTED);
    const char *dup = "{\"schemaVersion\":2,\"schemaVersion\":2}";
    CHECK_INT_EQ(sl_manifest_parse(&m, dup, strlen(dup), NULL, &err), SL_EINVAL);
    const char *layers_obj = "{\"schemaVersion\":2,\"mediaType\":\"" SL_MT_DOCKER_MANIFEST
                             "\",\"config\":{\"digest\":\"sha256:"
                             "0000000000000000000000000000000000000000000000000000000000000000"
                             "\",\"size\":1},\"layers\":{}}";
    CHECK_INT_EQ(sl_manifest_parse(&m, layers_obj, strlen(layers_obj), NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "layers");
}

static void test_filter_index(void)
{
    size_t len;
    char *data = slurp("oci_index.json", &len);
    struct sl_platform p[1];
    CHECK_INT_EQ(sl_platform_parse(&p[0], "linux/arm64", NULL), 0);
    char *out = NULL;
    size_t out_len = 0;
    CHECK_INT_EQ(sl_manifest_filter_index(&out, &out_len, data, len, p, 1, NULL), 0);
    struct sl_manifest m;
    CHECK_INT_EQ(sl_manifest_parse(&m, out, out_len, NULL, NULL), 0);
    CHECK_INT_EQ(m.n_children, 1);
    CHECK_STR_EQ(m.children[0].arch, "arm64");
    sl_manifest_free(&m);
    CHECK_CONTAINS(out, "com.example.key"); /* other fields of the index are kept */
    char d1[72], d2[72];
    sl_digest_sha256(d1, data, len);
    sl_digest_sha256(d2, out, out_len);
    CHECK(strcmp(d1, d2) != 0);
    free(out);

    struct sl_err err;
    CHECK_INT_EQ(sl_platform_parse(&p[0], "windows/amd64", NULL), 0);
    CHECK_INT_EQ(sl_manifest_filter_index(&out, &out_len, data, len, p, 1, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "platform");
    free(data);
}

static void test_digest(void)
{
    char d[72];
    sl_digest_sha256(d, "", 0);
    CHECK_STR_EQ(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/unit/oci/data";
    RUN(test_docker_manifest);
    RUN(test_docker_list_and_platforms);
    RUN(test_oci_manifest_index_artifact);
    RUN(test_bad_manifests);
    RUN(test_filter_index);
    RUN(test_digest);
    return CHECK_EXIT();
}
