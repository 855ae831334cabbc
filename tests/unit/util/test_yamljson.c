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

/* 128 Ki opening brackets: refused at the first level beyond the cap, naming where it is, without
 * reading the rest (libyaml's document loader took minutes here before checking depth) */
static void test_deep_nesting_refused_where_it_happens(void)
{
    size_t n = 128 * 1024;
    char *doc = malloc(n + 64);
    size_t off = (size_t)snprintf(doc, 64, "kind: ImageDelivery\nspec: ");
    memset(doc + off, '[', n);
    off += n;
    struct sl_yaml_doc *docs = NULL;
    size_t count = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &count, doc, off, &err), SL_ETOOBIG);
    CHECK_STR_EQ(err.msg, "line 2 column 206: nested deeper than 200 levels");
    CHECK(docs == NULL);
    free(doc);
    /* block style too, with the line of the 201st level */
    char block[200 * 210];
    off = 0;
    for (int i = 0; i < 202; i++)
        off += (size_t)snprintf(block + off, sizeof(block) - off, "%*sk:\n", i, "");
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &count, block, off, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "line 201 ");
    CHECK_CONTAINS(err.msg, "nested deeper than 200 levels");
    /* 200 levels are fine */
    json_t *v = NULL;
    char ok[512];
    memset(ok, '[', 200);
    memset(ok + 200, ']', 200);
    CHECK_INT_EQ(sl_yaml_parse_one(&v, ok, 400, &err), 0);
    json_decref(v);
}

/* the node cap holds for the whole stream: many small documents each expanding aliases */
static void test_alias_expansion_bounded_across_documents(void)
{
    char doc[512];
    size_t off = 0;
    off +=
        (size_t)snprintf(doc + off, sizeof(doc) - off, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 5; i++)
        off += (size_t)snprintf(doc + off, sizeof(doc) - off,
                                "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
                                i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    /* one document expands to about 50,000 nodes: fine; 40 of them are not */
    size_t one = off;
    char *stream = malloc(41 * (one + 8));
    size_t soff = 0;
    for (int i = 0; i < 40; i++) {
        memcpy(stream + soff, "---\n", 4);
        soff += 4;
        memcpy(stream + soff, doc, one);
        soff += one;
    }
    struct sl_yaml_doc *docs = NULL;
    size_t count = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &count, doc, one, &err), 0);
    sl_yaml_docs_free(docs, count);
    docs = NULL;
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &count, stream, soff, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 1000000 nodes");
    CHECK(docs == NULL);
    free(stream);
}

static void test_aliases_are_copies(void)
{
    json_t *v = parse("a: &x {k: 1}\nb: *x\nc: &s hello\nd: *s\n");
    CHECK(v != NULL);
    CHECK(json_equal(json_object_get(v, "a"), json_object_get(v, "b")));
    CHECK(json_object_get(v, "a") != json_object_get(v, "b"));
    CHECK_STR_EQ(json_string_value(json_object_get(v, "d")), "hello");
    json_object_set_new(json_object_get(v, "b"), "k", json_integer(2));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(v, "a"), "k")), 1);
    json_decref(v);
    json_t *bad = NULL;
    struct sl_err err = {0};
    const char *unknown = "a: *nope\n";
    CHECK_INT_EQ(sl_yaml_parse_one(&bad, unknown, strlen(unknown), &err), SL_EINVAL);
    const char *recursive = "a: &r [*r]\n";
    CHECK_INT_EQ(sl_yaml_parse_one(&bad, recursive, strlen(recursive), &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown anchor");
    const char *complex_key = "? [a]\n: 1\n";
    CHECK_INT_EQ(sl_yaml_parse_one(&bad, complex_key, strlen(complex_key), &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "mapping keys must be scalars");
    CHECK(bad == NULL);
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

/* Strings that look like YAML 1.1 timestamps are quoted: PyYAML and Ruby read a plain
 * 2026-12-01T10:00:00Z as a date, and a Condition's lastTransitionTime must stay a string. */
static void test_emit_quotes_timestamps(void)
{
    json_t *v = json_pack("{s:s, s:s, s:s}", "at", "2026-12-01T10:00:00Z", "until", "2027-01-01",
                          "tag", "1.4.0");
    struct sl_buf out;
    sl_buf_init(&out, 0);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_emit(&out, v, 0, &err), 0);
    CHECK_CONTAINS(sl_buf_cstr(&out), "at: \"2026-12-01T10:00:00Z\"\n");
    CHECK_CONTAINS(sl_buf_cstr(&out), "until: \"2027-01-01\"\n");
    CHECK_CONTAINS(sl_buf_cstr(&out), "tag: 1.4.0\n");
    json_decref(v);
    sl_buf_free(&out);
}

/* Each document's span: its text from where the previous one ended, its root node within it
 * (after "---" and leading comments), the text after it up to the next document. */
static void test_document_spans(void)
{
    const char *s = "# lead\na: 1  # c\n# tail\n--- # doc 2\n- x\n...\n# after\n";
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &n, s, strlen(s), &err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_INT_EQ(docs[0].span.start, 0);
        CHECK_INT_EQ(docs[0].span.node_start, strlen("# lead\n"));
        CHECK_INT_EQ(docs[0].span.node_end, strlen("# lead\na: 1"));
        CHECK_INT_EQ(docs[0].span.end, strstr(s, "---") - s);
        CHECK_INT_EQ(docs[1].span.start, docs[0].span.end);
        CHECK_INT_EQ(docs[1].span.node_start, strstr(s, "- x") - s);
        CHECK_INT_EQ(docs[1].span.node_end, strstr(s, "- x") - s + 3);
        CHECK_INT_EQ(docs[1].span.end, strstr(s, "...") - s + 3);
    }
    sl_yaml_docs_free(docs, n);
    /* comments: the "#" of each, not the ones inside scalars */
    const char *c = "a: \"#no\"  # yes\nb: |\n  # no\n# yes\nc: x#no\n";
    size_t *offs = NULL, nc = 0;
    CHECK_INT_EQ(sl_yaml_comments(&offs, &nc, c, strlen(c), &err), 0);
    CHECK_INT_EQ(nc, 2);
    if (nc == 2) {
        CHECK_INT_EQ(offs[0], strstr(c, "# yes") - c);
        CHECK_INT_EQ(offs[1], strstr(c, "\n# yes") - c + 1);
    }
    free(offs);
}

/* sl_yaml_parse_all_lines: the line of every key and list item, per document, for messages
 * that point into a file; the nearest recorded ancestor for what has no line of its own. */
static void test_key_lines(void)
{
    const char *s = "a: 1\n"
                    "---\n"
                    "spec:\n"
                    "  rules:\n"
                    "\n"
                    "    allowedRegistry:\n"
                    "    - x.example\n"
                    "    - y.example\n"
                    "  outputs: [A,\n"
                    "    B]\n"
                    "  anchored: &x {k: 1}\n"
                    "  copy: *x\n";
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all_lines(&docs, &n, s, strlen(s), &err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[0], "a"), 1);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec"), 3);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.rules"), 4);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.rules.allowedRegistry"), 6);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.rules.allowedRegistry[1]"), 8);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.outputs[1]"), 10);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.anchored.k"), 11);
        /* inside an alias's copy: the alias's key */
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.copy.k"), 12);
        /* not in the document: its nearest ancestor, else where the document starts */
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.rules.nothing[3].x"), 4);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "status"), 3);
    }
    sl_yaml_docs_free(docs, n);
    /* without recording: the document's line */
    CHECK_INT_EQ(sl_yaml_parse_all(&docs, &n, s, strlen(s), &err), 0);
    if (n == 2)
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[1], "spec.rules"), 3);
    sl_yaml_docs_free(docs, n);
}

/* The key-line map is bounded: a document of 50,000 keys records the first 10,000. */
static void test_key_lines_bounded(void)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    char line[64];
    for (int i = 0; i < 50000; i++) {
        snprintf(line, sizeof(line), "k%d: %d\n", i, i);
        sl_buf_append_str(&b, line);
    }
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all_lines(&docs, &n, b.data, b.len, &err), 0);
    if (n == 1) {
        CHECK_INT_EQ(json_object_size(docs[0].lines), 10000);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[0], "k9999"), 10000);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[0], "k40000"), 1);
        CHECK_INT_EQ(json_object_size(docs[0].value), 50000);
    }
    sl_yaml_docs_free(docs, n);
    sl_buf_free(&b);
}

/* ... and over a stream: 1,000 documents of long paths record at most 4 MiB of paths, and a
 * document past that bound answers with its own line. */
static void test_key_lines_bounded_over_stream(void)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    char key[501];
    memset(key, 'k', 500);
    key[500] = '\0';
    for (int d = 0; d < 1000; d++) {
        sl_buf_append_str(&b, "---\n");
        sl_buf_append_str(&b, key);
        sl_buf_append_str(&b, ":\n");
        for (int i = 0; i < 20; i++) {
            char line[32];
            snprintf(line, sizeof(line), "  a%d: %d\n", i, i);
            sl_buf_append_str(&b, line);
        }
    }
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_yaml_parse_all_lines(&docs, &n, b.data, b.len, &err), 0);
    CHECK_INT_EQ(n, 1000);
    size_t bytes = 0;
    for (size_t d = 0; d < n; d++) {
        const char *k;
        json_t *v;
        json_object_foreach(docs[d].lines, k, v) bytes += strlen(k);
    }
    CHECK(bytes <= ((size_t)4 << 20));
    char path[600];
    snprintf(path, sizeof(path), "%s.a5", key);
    if (n == 1000) {
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[0], path), 8);
        CHECK_INT_EQ(sl_yaml_doc_line(&docs[999], path), docs[999].line);
    }
    sl_yaml_docs_free(docs, n);
    sl_buf_free(&b);
}

int main(void)
{
    RUN(test_key_lines_bounded_over_stream);
    RUN(test_key_lines);
    RUN(test_key_lines_bounded);
    RUN(test_scalars_resolve_like_kubernetes);
    RUN(test_multi_document_lines);
    RUN(test_syntax_error_names_line);
    RUN(test_billion_laughs_refused);
    RUN(test_deep_nesting_refused_where_it_happens);
    RUN(test_alias_expansion_bounded_across_documents);
    RUN(test_aliases_are_copies);
    RUN(test_emit_round_trip);
    RUN(test_emit_quotes_timestamps);
    RUN(test_document_spans);
    return CHECK_EXIT();
}
