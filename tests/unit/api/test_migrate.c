/* unit.api.migrate: rewriting manifests to v1beta1 (api/migrate.c, `sealift migrate`). What a
 * user of a GitOps repository sees: v1alpha1 objects come out as the API server's conversion
 * makes them, every other document keeps its bytes, leading comments stay, lost comments are
 * reported with their line, bad YAML names its line and yields nothing. */
#include "check.h"
#include "testdata.h"

#include "api/convert.h"
#include "api/migrate.h"
#include "util/yamljson.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *src_dir = ".";

struct result {
    struct sl_buf text;
    struct sl_api_rewrite *rewrites;
    size_t n;
    int rc;
    struct sl_err err;
};

static void migrate(struct result *r, const char *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    sl_buf_init(&r->text, 0);
    r->rc = sl_api_migrate_text(&r->text, &r->rewrites, &r->n, data, len, "v1beta1", &r->err);
}

static void result_free(struct result *r)
{
    sl_buf_free(&r->text);
    free(r->rewrites);
}

static struct sl_yaml_doc *parse(size_t *n, const char *data, size_t len)
{
    struct sl_yaml_doc *docs = NULL;
    struct sl_err err = {0};
    int rc = sl_yaml_parse_all(&docs, n, data, len, &err);
    if (rc)
        fprintf(stderr, "parse: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    return docs;
}

/* Every document of the output is the input's document, converted by sl_api_convert when it
 * was a sealift.dev/v1alpha1 object (what the API server's webhook would make of it). */
static void check_converted(const char *in, size_t in_len, const struct result *r,
                            size_t want_rewrites)
{
    size_t n_in = 0, n_out = 0;
    struct sl_yaml_doc *a = parse(&n_in, in, in_len);
    struct sl_yaml_doc *b = parse(&n_out, r->text.data, r->text.len);
    CHECK_INT_EQ(n_in, n_out);
    size_t rewritten = 0;
    for (size_t i = 0; a && b && i < n_in && i < n_out; i++) {
        json_t *want = json_incref(a[i].value);
        const char *api = json_string_value(json_object_get(a[i].value, "apiVersion"));
        const char *kind = json_string_value(json_object_get(a[i].value, "kind"));
        if (api && strcmp(api, "sealift.dev/v1alpha1") == 0 && sl_api_kind_known(kind)) {
            json_decref(want);
            want = NULL;
            struct sl_err err = {0};
            CHECK_INT_EQ(sl_api_convert(&want, kind, "v1alpha1", "v1beta1", a[i].value, &err), 0);
            rewritten++;
        }
        int eq = (!want && !b[i].value) || (want && b[i].value && json_equal(want, b[i].value));
        if (!eq) {
            char *s1 = want ? json_dumps(want, JSON_COMPACT) : NULL;
            char *s2 = b[i].value ? json_dumps(b[i].value, JSON_COMPACT) : NULL;
            fprintf(stderr, "document %zu:\n  want %s\n  got  %s\n", i, s1 ? s1 : "null",
                    s2 ? s2 : "null");
            free(s1);
            free(s2);
        }
        CHECK(eq);
        json_decref(want);
    }
    CHECK_INT_EQ(rewritten, want_rewrites);
    CHECK_INT_EQ(r->n, want_rewrites);
    sl_yaml_docs_free(a, n_in);
    sl_yaml_docs_free(b, n_out);
}

/* The output of a second run is the first run's output, byte for byte, with nothing rewritten. */
static void check_idempotent(const struct result *r)
{
    struct result again;
    migrate(&again, r->text.data, r->text.len);
    CHECK_INT_EQ(again.rc, 0);
    CHECK_INT_EQ(again.n, 0);
    CHECK_INT_EQ(again.text.len, r->text.len);
    CHECK(again.text.len == r->text.len && memcmp(again.text.data, r->text.data, r->text.len) == 0);
    result_free(&again);
}

/* The file of mixed documents comes out as the reviewed expected file, byte for byte. */
static void test_mixed_file(void)
{
    size_t len = 0, want_len = 0;
    char *in = sl_test_read_file(&len, "%s/tests/data/migrate/mixed.yaml", src_dir);
    char *want = sl_test_read_file(&want_len, "%s/tests/data/migrate/mixed.v1beta1.yaml", src_dir);
    struct result r;
    migrate(&r, in, len);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_INT_EQ(r.text.len, want_len);
    CHECK_STR_EQ(sl_buf_cstr(&r.text), want);
    check_converted(in, len, &r, 3);
    /* which documents, where, and the comments that could not stay */
    CHECK_INT_EQ(r.n, 3);
    if (r.n == 3) {
        CHECK_STR_EQ(r.rewrites[0].kind, "ImageDelivery");
        CHECK_STR_EQ(r.rewrites[0].name, "acme-app");
        CHECK_INT_EQ(r.rewrites[0].line, 2);
        CHECK_INT_EQ(r.rewrites[0].comments_lost, 2); /* "# the app", "# checked every ..." */
        CHECK_INT_EQ(r.rewrites[0].first_comment_line, 5);
        CHECK_STR_EQ(r.rewrites[1].kind, "ScanPolicy");
        CHECK_STR_EQ(r.rewrites[1].name, "report-only");
        CHECK_INT_EQ(r.rewrites[1].line, 37);
        CHECK_INT_EQ(r.rewrites[1].comments_lost, 0);
        CHECK_STR_EQ(r.rewrites[2].kind, "GitSource");
        CHECK_STR_EQ(r.rewrites[2].name, "fleet");
        CHECK_INT_EQ(r.rewrites[2].line, 43);
    }
    /* the leading comments and the comment at column 0 after the document stay */
    CHECK_CONTAINS(r.text.data, "# Delivery of acme's app to the customer's mirror");
    CHECK_CONTAINS(r.text.data, "\n# a comment at column 0 that follows the document\n---\n");
    CHECK_CONTAINS(r.text.data, "--- # ScanPolicy that only reports\napiVersion: "
                                "sealift.dev/v1beta1\n");
    CHECK(!strstr(r.text.data, "checked every ten minutes"));
    check_idempotent(&r);
    result_free(&r);
    free(in);
    free(want);
}

/* Input without a v1alpha1 object comes back byte for byte: odd spacing, flow style, CRLF line
 * ends, a byte order mark, non-ASCII text, comments, a v1beta1 object. */
static void test_untouched_bytes(void)
{
    static const char in[] = "\xef\xbb\xbf# caf\xc3\xa9\r\napiVersion:    sealift.dev/v1beta1\r\n"
                             "kind: GitSource  # x\r\nmetadata: {name: \"\xc3\xa9t\xc3\xa9\"}\r\n"
                             "---\r\n- [1,2 ,3]\r\n...\r\n# tail";
    struct result r;
    migrate(&r, in, sizeof(in) - 1);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_INT_EQ(r.n, 0);
    CHECK(r.text.len == sizeof(in) - 1 && memcmp(r.text.data, in, sizeof(in) - 1) == 0);
    result_free(&r);
}

/* Multi-byte characters and a byte order mark before a rewritten document do not shift where
 * it is cut: the documents around it keep their text and it converts whole. */
static void test_offsets_after_utf8(void)
{
    static const char in[] = "\xef\xbb\xbf# \xc3\xa9\xc3\xa9\xc3\xa9 \xe2\x82\xac\n"
                             "apiVersion: v1\nkind: ConfigMap\n"
                             "metadata: {name: \"caf\xc3\xa9\"}\n"
                             "---\n# lead \xe2\x82\xac\n"
                             "apiVersion: sealift.dev/v1alpha1\nkind: ImageDelivery\n"
                             "metadata: {name: d, annotations: {a: \"\xc3\xa9\xc3\xa9\"}}\n"
                             "spec:\n  source: {image: r.example/a, tags: [\"1\"], "
                             "credentials: {secretRef: {name: pull}}}\n"
                             "  targets: [{image: r.example/b}]\n"
                             "---\nkind: After   # \xc3\xa9\n";
    struct result r;
    migrate(&r, in, sizeof(in) - 1);
    CHECK_INT_EQ(r.rc, 0);
    check_converted(in, sizeof(in) - 1, &r, 1);
    /* the first document with its byte order mark, the "---" and the leading comment, and the
     * last document, are the input's bytes */
    const char *second = strstr(in, "apiVersion: sealift.dev/v1alpha1");
    size_t head = (size_t)(second - in);
    CHECK(r.text.len > head && memcmp(r.text.data, in, head) == 0);
    CHECK_CONTAINS(r.text.data, "---\nkind: After   # \xc3\xa9\n");
    CHECK_CONTAINS(r.text.data, "secretRef:\n      name: pull\n");
    check_idempotent(&r);
    result_free(&r);
}

/* A file with CRLF line ends keeps them in the rewritten document. */
static void test_crlf(void)
{
    static const char in[] = "# lead\r\n--- {apiVersion: sealift.dev/v1alpha1, kind: GitSource, "
                             "metadata: {name: g}}\r\n# tail\r\n";
    struct result r;
    migrate(&r, in, sizeof(in) - 1);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_INT_EQ(r.n, 1);
    CHECK_STR_EQ(sl_buf_cstr(&r.text), "# lead\r\n---\r\napiVersion: sealift.dev/v1beta1\r\n"
                                       "kind: GitSource\r\nmetadata:\r\n  name: g\r\n"
                                       "# tail\r\n");
    check_idempotent(&r);
    result_free(&r);
}

/* Every object with every field of tests/data/api converts as the webhook converts it. */
static void test_api_data(void)
{
    const char *files[] = {"v1alpha1-full.yaml", "v1alpha1-odd.yaml", "v1beta1-full.yaml"};
    const size_t rewrites[] = {12, 3, 0};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len = 0;
        char *in = sl_test_read_file(&len, "%s/tests/data/api/%s", src_dir, files[i]);
        struct result r;
        migrate(&r, in, len);
        if (r.rc)
            fprintf(stderr, "%s: %s\n", files[i], r.err.msg);
        CHECK_INT_EQ(r.rc, 0);
        check_converted(in, len, &r, rewrites[i]);
        check_idempotent(&r);
        result_free(&r);
        free(in);
    }
}

/* Invalid YAML is an error naming its line, and nothing is produced. */
static void test_bad_yaml(void)
{
    static const char in[] = "apiVersion: sealift.dev/v1alpha1\nkind: GitSource\n---\n"
                             "metadata:\n  name: [unclosed\n";
    struct result r;
    migrate(&r, in, sizeof(in) - 1);
    CHECK_INT_EQ(r.rc, SL_EINVAL);
    CHECK_CONTAINS(r.err.msg, "line 6");
    CHECK_INT_EQ(r.text.len, 0);
    result_free(&r);

    static const char tab[] = "a: 1\n\tb: 2\n";
    migrate(&r, tab, sizeof(tab) - 1);
    CHECK_INT_EQ(r.rc, SL_EINVAL);
    CHECK_CONTAINS(r.err.msg, "line 2");
    CHECK_INT_EQ(r.text.len, 0);
    result_free(&r);
}

/* Only v1beta1 is a target. */
static void test_other_target(void)
{
    struct sl_buf out;
    sl_buf_init(&out, 0);
    struct sl_api_rewrite *rw = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_api_migrate_text(&out, &rw, &n, "a: 1\n", 5, "v1alpha1", &err),
                 SL_EUNSUPPORTED);
    CHECK_CONTAINS(err.msg, "only v1beta1");
    CHECK_INT_EQ(out.len, 0);
    sl_buf_free(&out);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        src_dir = argv[1];
    RUN(test_mixed_file);
    RUN(test_untouched_bytes);
    RUN(test_offsets_after_utf8);
    RUN(test_crlf);
    RUN(test_api_data);
    RUN(test_bad_yaml);
    RUN(test_other_target);
    return CHECK_EXIT();
}
