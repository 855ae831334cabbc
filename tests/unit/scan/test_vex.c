/* OpenVEX parsing and matching: a vendor document with every product form, and the invalid
 * documents of tests/data/scan/vex/invalid.json with the error each must give. */
#include <jansson.h>

#include "check.h"
#include "scan/vex.h"
#include "testutil.h"

#define D1   "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2   "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3   "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D9   "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define REPO "registry.vendor.example/acme/app"

static int load_vendor(struct sl_vex *vex)
{
    size_t len = 0;
    char *data = read_data("vex/vendor.openvex.json", &len);
    struct sl_err err = {0};
    int rc = data ? sl_vex_load(vex, "vendor.openvex.json", data, len, &err) : -1;
    if (rc != 0)
        fprintf(stderr, "load: %s\n", err.msg);
    free(data);
    return rc;
}

static void test_vendor_document(void)
{
    struct sl_vex vex;
    sl_vex_init(&vex);
    CHECK_INT_EQ(load_vendor(&vex), 0);
    CHECK_INT_EQ(vex.nstatements, 6);
    CHECK_INT_EQ(vex.ndocs, 1);

    /* the purl names digest D1 and one package: libc6 at that version */
    struct sl_vex_image d1 = {D1, NULL, REPO};
    const struct sl_vex_statement *st =
        sl_vex_decide(&vex, &d1, "CVE-2023-4911", "libc6", "glibc", "2.36-9+deb12u1");
    CHECK(st != NULL);
    if (st) {
        CHECK_STR_EQ(sl_vex_status_name(st->status), "not_affected");
        CHECK(sl_vex_status_suppresses(st->status));
        CHECK_STR_EQ(st->justification, "vulnerable_code_not_in_execute_path");
        CHECK_STR_EQ(st->impact_statement, "the application never runs setuid binaries");
        CHECK_STR_EQ(sl_vex_doc_name(&vex, st), "vendor.openvex.json");
    }
    /* by alias, case-insensitively */
    CHECK(sl_vex_decide(&vex, &d1, "dsa-5514-1", "libc6", "glibc", "2.36-9+deb12u1") != NULL);
    /* another version of the package, another package, another digest: not covered */
    CHECK(sl_vex_decide(&vex, &d1, "CVE-2023-4911", "libc6", "glibc", "2.36-9+deb12u3") == NULL);
    CHECK(sl_vex_decide(&vex, &d1, "CVE-2023-4911", "zlib1g", "zlib", "1:1.2.13") == NULL);
    struct sl_vex_image d9 = {D9, NULL, REPO};
    CHECK(sl_vex_decide(&vex, &d9, "CVE-2023-4911", "libc6", "glibc", "2.36-9+deb12u1") == NULL);
    /* the digest of the index an image was delivered under counts as well */
    struct sl_vex_image child = {D9, D1, NULL};
    CHECK(sl_vex_decide(&vex, &child, "CVE-2023-4911", "libc6", "glibc", "2.36-9+deb12u1") != NULL);

    /* the repository statement covers every image in it ... */
    st = sl_vex_decide(&vex, &d9, "CVE-2024-2961", "libc6", "glibc", "2.36-9");
    CHECK(st != NULL && st->status == SL_VEX_FIXED);
    struct sl_vex_image other = {D9, NULL, "registry.vendor.example/acme/other"};
    CHECK(sl_vex_decide(&vex, &other, "CVE-2024-2961", "libc6", "glibc", "2.36-9") == NULL);
    /* ... but the newer "affected" statement for digest D2 wins there */
    struct sl_vex_image d2 = {D2, NULL, REPO};
    st = sl_vex_decide(&vex, &d2, "CVE-2024-2961", "libc6", "glibc", "2.36-9");
    CHECK(st != NULL && st->status == SL_VEX_AFFECTED);
    CHECK(st && !sl_vex_status_suppresses(st->status));

    /* a Debian package product is not an image */
    CHECK(sl_vex_decide(&vex, &d1, "CVE-2024-33599", "libc6", "glibc", "2.36-9") == NULL);
    /* a bare digest; under_investigation does not suppress */
    struct sl_vex_image d3 = {D3, NULL, NULL};
    st = sl_vex_decide(&vex, &d3, "CVE-2024-33600", "libc6", "glibc", "2.36-9");
    CHECK(st != NULL && !sl_vex_status_suppresses(st->status));
    /* Docker Hub written as index.docker.io matches the registry's API host */
    struct sl_vex_image hub = {D9, NULL, "registry-1.docker.io/library/busybox"};
    CHECK(sl_vex_decide(&vex, &hub, "CVE-2024-33601", "busybox", "busybox", "1") != NULL);
    struct sl_vex_image hub2 = {D9, NULL, "docker.io/library/busybox"};
    CHECK(sl_vex_decide(&vex, &hub2, "CVE-2024-33601", "busybox", "busybox", "1") != NULL);

    /* a second document adds to the set; the newer statement decides across documents */
    const char *later = "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"timestamp\": "
                        "\"2025-01-01T00:00:00Z\", \"statements\": [{\"vulnerability\": "
                        "{\"name\": \"CVE-2023-4911\"}, \"products\": [{\"@id\": \"" D1 "\"}], "
                        "\"status\": \"affected\"}]}";
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_vex_load(&vex, "later.json", later, strlen(later), &err), 0);
    st = sl_vex_decide(&vex, &d1, "CVE-2023-4911", "libc6", "glibc", "2.36-9+deb12u1");
    CHECK(st != NULL && st->status == SL_VEX_AFFECTED);
    CHECK(st && strcmp(sl_vex_doc_name(&vex, st), "later.json") == 0);
    sl_vex_free(&vex);
    sl_vex_free(&vex); /* freed twice: a no-op */
}

static void test_invalid_documents(void)
{
    size_t len = 0;
    char *data = read_data("vex/invalid.json", &len);
    CHECK(data != NULL);
    if (!data)
        return;
    json_error_t jerr;
    json_t *cases = json_loadb(data, len, JSON_ALLOW_NUL, &jerr);
    CHECK(json_is_array(cases));
    CHECK(json_array_size(cases) >= 20);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        json_t *doc = json_object_get(c, "doc");
        char *text = json_is_string(doc) ? sl_xstrdup(json_string_value(doc))
                                         : json_dumps(doc, JSON_ENCODE_ANY);
        struct sl_vex vex;
        sl_vex_init(&vex);
        /* a good document first: a bad one must leave it as it was */
        CHECK_INT_EQ(load_vendor(&vex), 0);
        struct sl_err err = {0};
        int rc = sl_vex_load(&vex, "bad.json", text, strlen(text), &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "case %s: rc %d\n", json_string_value(json_object_get(c, "case")), rc);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, "bad.json: ");
        CHECK_CONTAINS(err.msg, json_string_value(json_object_get(c, "error")));
        CHECK_INT_EQ(vex.nstatements, 6);
        CHECK_INT_EQ(vex.ndocs, 1);
        sl_vex_free(&vex);
        free(text);
    }
    json_decref(cases);
    free(data);
}

static void test_bounds(void)
{
    /* more statements than a document may hold: refused, not loaded */
    size_t n = SL_VEX_MAX_STATEMENTS + 1;
    const char *one = "{\"vulnerability\":{\"name\":\"CVE-1\"},\"products\":[{\"@id\":\"" D1
                      "\"}],\"status\":\"fixed\"},";
    size_t cap = 200 + n * strlen(one);
    char *doc = sl_xmalloc(cap);
    size_t len = (size_t)snprintf(doc, cap,
                                  "{\"@context\":\"https://openvex.dev/ns/v0.2.0\","
                                  "\"timestamp\":\"2024-01-01T00:00:00Z\",\"statements\":[");
    for (size_t i = 0; i < n; i++) {
        memcpy(doc + len, one, strlen(one));
        len += strlen(one);
    }
    doc[len - 1] = ']';
    doc[len++] = '}';
    struct sl_vex vex;
    sl_vex_init(&vex);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_vex_load(&vex, "big.json", doc, len, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "document.statements: Too many");
    CHECK_INT_EQ(vex.nstatements, 0);
    sl_vex_free(&vex);
    free(doc);
    /* deep nesting is a JSON error, not a crash */
    char deep[20001];
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    sl_vex_init(&vex);
    CHECK_INT_EQ(sl_vex_load(&vex, "deep.json", deep, 20000, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "deep.json: not JSON");
    sl_vex_free(&vex);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_vendor_document);
    RUN(test_invalid_documents);
    RUN(test_bounds);
    return CHECK_EXIT();
}
