/* Rewriting manifests to v1beta1; see migrate.h. */
#include "api/migrate.h"

#include "api/convert.h"
#include "util/mem.h"
#include "util/yamljson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FROM_VERSION "v1alpha1"

/* The line (1-based) of byte offset off: lines counted from a cursor that only moves forward
 * over one stream, so a whole file costs one pass. */
struct line_cursor {
    const char *data;
    size_t off, line;
};

static size_t line_at(struct line_cursor *c, size_t off)
{
    if (off < c->off) {
        c->off = 0;
        c->line = 1;
    }
    for (; c->off < off; c->off++)
        if (c->data[c->off] == '\n')
            c->line++;
    return c->line;
}

/* The comments lost from [from, to): counted into r, the first one's line noted. */
static void lose_comments(struct sl_api_rewrite *r, const size_t *comments, size_t n,
                          struct line_cursor *lines, size_t from, size_t to)
{
    size_t lo = 0, hi = n; /* the first comment at or after from (the list is in order) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (comments[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < n && comments[i] < to; i++) {
        size_t line = line_at(lines, comments[i]);
        if (r->comments_lost++ == 0 || line < r->first_comment_line)
            r->first_comment_line = line;
    }
}

/* A sealift.dev/v1alpha1 object of a known kind (the documents this command rewrites)? */
static bool wants_rewrite(const json_t *doc)
{
    const char *api = json_string_value(json_object_get(doc, "apiVersion"));
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    return json_is_object(doc) && api && strcmp(api, SL_API_GROUP "/" FROM_VERSION) == 0 &&
           sl_api_kind_known(kind);
}

/* Appends what precedes a rewritten document's root node: "---", directives and comments. A
 * root node that starts within a line ("--- {...}", an indented mapping) gets a line of its
 * own, since the new text is a block mapping at column 0. */
static int append_leading(struct sl_buf *b, const char *data, const struct sl_yaml_span *s,
                          bool crlf)
{
    size_t end = s->node_start;
    if (end > s->start && data[end - 1] != '\n') {
        while (end > s->start && (data[end - 1] == ' ' || data[end - 1] == '\t'))
            end--;
        if (end > s->start && data[end - 1] != '\n')
            return sl_buf_append(b, data + s->start, end - s->start) ||
                   sl_buf_append_str(b, crlf ? "\r\n" : "\n");
    }
    return sl_buf_append(b, data + s->start, end - s->start);
}

/* Appends what follows a rewritten document's root node, up to the document's end: the rest of
 * the root node's last line is dropped (a comment there belonged to the last field), and of the
 * following lines the indented comments (they were inside the document's structure) are
 * dropped; blank lines, comments at column 0 and "..." stay. Dropped comments are counted. */
static int append_trailing(struct sl_buf *b, const char *data, const struct sl_yaml_span *s,
                           struct sl_api_rewrite *r, const size_t *comments, size_t n_comments,
                           struct line_cursor *lines)
{
    size_t p = s->node_end;
    if (p > 0 && data[p - 1] != '\n') {
        const char *nl = memchr(data + p, '\n', s->end - p);
        size_t to = nl ? (size_t)(nl - data) + 1 : s->end;
        lose_comments(r, comments, n_comments, lines, p, to);
        p = to;
    }
    while (p < s->end) {
        const char *nl = memchr(data + p, '\n', s->end - p);
        size_t to = nl ? (size_t)(nl - data) + 1 : s->end;
        size_t q = p;
        while (q < to && (data[q] == ' ' || data[q] == '\t'))
            q++;
        if (q > p && q < to && data[q] == '#') {
            lose_comments(r, comments, n_comments, lines, p, to);
        } else if (sl_buf_append(b, data + p, to - p)) {
            return SL_ETOOBIG;
        }
        p = to;
    }
    return 0;
}

/* Appends text to b, with CRLF line ends when crlf. */
static int append_lines(struct sl_buf *b, const struct sl_buf *text, bool crlf)
{
    if (!crlf)
        return sl_buf_append(b, text->data, text->len);
    for (size_t i = 0; i < text->len; i++) {
        if (text->data[i] == '\n' && sl_buf_append(b, "\r", 1) != 0)
            return SL_ETOOBIG;
        if (sl_buf_append(b, text->data + i, 1) != 0)
            return SL_ETOOBIG;
    }
    return 0;
}

static void describe(struct sl_api_rewrite *r, const struct sl_yaml_doc *doc)
{
    const json_t *v = doc->value;
    const char *name = json_string_value(json_object_get(json_object_get(v, "metadata"), "name"));
    *r = (struct sl_api_rewrite){.line = doc->line};
    snprintf(r->kind, sizeof(r->kind), "%s", json_string_value(json_object_get(v, "kind")));
    snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
}

/* The new text of one rewritten document (doc, at span s of data) appended to b. */
static int rewrite_document(struct sl_buf *b, struct sl_api_rewrite *r, const char *data,
                            const struct sl_yaml_doc *doc, const char *to_version,
                            const size_t *comments, size_t n_comments, struct line_cursor *lines,
                            struct sl_err *err)
{
    const struct sl_yaml_span *s = &doc->span;
    json_t *converted = NULL;
    struct sl_buf body;
    sl_buf_init(&body, b->max_bytes);
    /* a file written with CRLF line ends gets them in the rewritten text too */
    const char *nl = memchr(data, '\n', s->end);
    bool crlf = nl && nl > data && nl[-1] == '\r';
    describe(r, doc);
    int rc = sl_api_convert(&converted, r->kind, FROM_VERSION, to_version, doc->value, err);
    if (rc) {
        sl_err_prefix(err, "line %zu: %s/%s", r->line, r->kind, r->name);
        goto done;
    }
    lose_comments(r, comments, n_comments, lines, s->node_start, s->node_end);
    if (append_leading(b, data, s, crlf) != 0) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "rewritten manifests too large");
        goto done;
    }
    rc = sl_yaml_emit(&body, converted, 0, err);
    if (rc)
        goto done;
    if (append_lines(b, &body, crlf) != 0) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "rewritten manifests too large");
        goto done;
    }
    if (append_trailing(b, data, s, r, comments, n_comments, lines) != 0)
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "rewritten manifests too large");
done:
    sl_buf_free(&body);
    json_decref(converted);
    return rc;
}

/* The spans of a stream follow each other from 0 and stay within the text; libyaml reads
 * UTF-16 input too, whose character marks are no byte offsets: such text is refused. */
static int spans_valid(const struct sl_yaml_doc *docs, size_t n, size_t len)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sl_yaml_span *s = &docs[i].span;
        if (s->start != at || s->node_start < s->start || s->node_end < s->node_start ||
            s->end < s->node_end || s->end > len)
            return 0;
        at = s->end;
    }
    return 1;
}

int sl_api_migrate_text(struct sl_buf *out, struct sl_api_rewrite **out_rewrites, size_t *out_count,
                        const char *data, size_t len, const char *to_version, struct sl_err *err)
{
    struct sl_yaml_doc *docs = NULL;
    size_t n_docs = 0, *comments = NULL, n_comments = 0, n_rewrites = 0;
    struct sl_api_rewrite *rewrites = NULL;
    struct sl_buf text;
    sl_buf_init(&text, out->max_bytes);
    struct line_cursor lines = {.data = data, .off = 0, .line = 1};
    int rc = 0;
    if (!to_version || strcmp(to_version, "v1beta1") != 0) {
        rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                        "cannot migrate to \"%s\": only v1beta1", to_version ? to_version : "");
        goto done;
    }
    rc = sl_yaml_parse_all(&docs, &n_docs, data, len, err);
    if (rc)
        goto done;
    if (!spans_valid(docs, n_docs, len)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_YAML,
                        "cannot locate the documents in the text "
                        "(only UTF-8 manifests are rewritten)");
        goto done;
    }
    size_t wanted = 0;
    for (size_t i = 0; i < n_docs; i++)
        wanted += wants_rewrite(docs[i].value);
    if (wanted == 0) {
        if (sl_buf_append(&text, data, len) != 0)
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "manifests too large");
        goto done;
    }
    rc = sl_yaml_comments(&comments, &n_comments, data, len, err);
    if (rc)
        goto done;
    rewrites = sl_xcalloc(wanted, sizeof(*rewrites));
    size_t at = 0;
    for (size_t i = 0; i < n_docs && rc == 0; i++) {
        const struct sl_yaml_span *s = &docs[i].span;
        if (!wants_rewrite(docs[i].value)) {
            continue; /* its text is copied with the next rewritten document's, or at the end */
        }
        if (sl_buf_append(&text, data + at, s->start - at) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "rewritten manifests too large");
            break;
        }
        rc = rewrite_document(&text, &rewrites[n_rewrites], data, &docs[i], to_version, comments,
                              n_comments, &lines, err);
        n_rewrites++;
        at = s->end;
    }
    if (rc == 0 && sl_buf_append(&text, data + at, len - at) != 0)
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "rewritten manifests too large");
done:
    if (rc == 0 && text.len > 0 && sl_buf_append(out, text.data, text.len) != 0)
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "rewritten manifests too large");
    if (rc == 0) {
        *out_rewrites = rewrites;
        *out_count = n_rewrites;
        rewrites = NULL;
    }
    free(rewrites);
    free(comments);
    sl_buf_free(&text);
    sl_yaml_docs_free(docs, n_docs);
    return rc;
}
