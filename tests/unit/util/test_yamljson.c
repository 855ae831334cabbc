#include "check.h"
#include "util/yamljson.h"

#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *s)
{
    json_t *v = NULL;
    struct sl_err err = {0};
    if (sl_yaml_parse_one(&v, s, strlen(s), &err) != 0)
        fprintf(stderr, "parse error: %s\n", err.msg);
    return v;
}

static void test_scalars_resolve_like_kubernetes(void)
{
    json_t *v = parse("a: 1\nb: true\nc: ~\nd: \"1\"\ne: 1.5\nf: hello\ng: '2024-01-01'\n"
                      "h: 0x10\ni: ''\nj:\n");
    CHECK(v != NULL);
    CHECK(json_is_integer(json_object_get(v, "a")));
    CHECK(json_is_true(json_object_get(v, "b")));
    CHECK(json_is_null(json_object_get(v, "c")));
    CHECK_STR_EQ(json_string_value(json_object_get(v, "d")), "1");
    CHECK(json_is_real(json_object_get(v, "e")));
    CHECK_STR_EQ(json_string_value(json_object_get(v, "f")), "hello");
    CHECK_STR_EQ(json_string_value(json_object_get(v, "g")), "2024-01-01");
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "h")), 16);
    CHECK_STR_EQ(json_string_value(json_object_get(v, "i")), "");
    CHECK(json_is_null(json_object_get(v, "j")));
    json_decref(v);
}

static void test_multi_document_lines(void)
{
    const char *s = "a: 1\n---\n# comment\nb: 2\n---\n---\nc: [1, 2]\n";
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &n, s, strlen(s), &err), 0);
    CHECK_INT_EQ(n, 4);
    if (n == 4) {
        CHECK_INT_EQ(docs[0].line, 1);
        CHECK_INT_EQ(docs[1].line, 4);
        CHECK(docs[2].value == NULL);
        CHECK_INT_EQ(json_array_size(json_object_get(docs[3].value, "c")), 2);
    }
    sl_yaml_docs_free(docs, n);
}

static void test_syntax_error_names_line(void)
{
    const char *s = "a: 1\nb: [1, 2\nc: 3\n";
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &n, s, strlen(s), &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "line ");
    CHECK(docs == NULL);
}

static void test_billion_laughs_refused(void)
{
    char doc[4096];
    size_t off = 0;
    off += snprintf(doc + off, sizeof(doc) - off, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        off += snprintf(doc + off, sizeof(doc) - off,
                        "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                        i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    json_t *v = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_one(&v, doc, off, &err), SL_ETOOBIG);
    CHECK(v == NULL);
}

static void test_emit_round_trip(void)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:i, s:b, s:[s, s], s:{s:s}, s:s}", "name", "x",
                          "looksLikeBool", "true", "looksLikeNumber", "0123", "n", 5, "ok", 1,
                          "list", "a", "b", "nested", "k", "v", "multi", "line1\nline2\n");
    struct sl_buf out;
    sl_buf_init(&out, 0);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_emit(&out, v, 1, &err), 0);
    CHECK(strncmp(sl_buf_cstr(&out), "---", 3) == 0);
    json_t *back = parse(sl_buf_cstr(&out));
    CHECK(back != NULL && json_equal(v, back));
    json_decref(back);
    json_decref(v);
    sl_buf_free(&out);
}

int main(void)
{
    RUN(test_scalars_resolve_like_kubernetes);
    RUN(test_multi_document_lines);
    RUN(test_syntax_error_names_line);
    RUN(test_billion_laughs_refused);
    RUN(test_emit_round_trip);
    return CHECK_EXIT();
}
