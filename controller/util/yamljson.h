/* YAML <-> JSON (jansson) conversion with libyaml, for Kubernetes manifests: kubeconfig files,
 * git-sourced objects, `sealift policy render` output.
 *
 * Plain scalars resolve like Kubernetes' YAML reader: null/~/empty -> null, true/false ->
 * boolean, integers and floats -> numbers, everything else (and every quoted scalar) -> string.
 * Aliases are expanded (bounded, so "billion laughs" documents are refused). Documents are built
 * from the parser's events, so nesting beyond 200 levels or more than 1,000,000 nodes in a
 * stream (aliases expanded) stops the parser where it happens, with that line in the error. */
#ifndef SL_UTIL_YAMLJSON_H
#define SL_UTIL_YAMLJSON_H

#include "util/buf.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

/* Where a document sits in the stream's text, as byte offsets into the input. The documents'
 * [start, end) ranges follow each other without gaps from 0, so the input is the text of every
 * document in order plus whatever follows the last one's end (comments, blank lines). */
struct sl_yaml_span {
    size_t start;      /* where the previous document ended (0 for the first) */
    size_t node_start; /* first byte of the root node (after "---", directives, comments) */
    size_t node_end;   /* the byte after the root node's last character of content */
    size_t end;        /* after its "..." if it has one, else where the next token starts */
};

/* One parsed document with the line (1-based) where it starts. */
struct sl_yaml_doc {
    json_t *value; /* owned; NULL for an empty document */
    size_t line;
    json_t *lines; /* owned; {path: line} from sl_yaml_parse_all_lines, else NULL */
    struct sl_yaml_span span;
};

/* Parses every document of a (possibly multi-document) YAML stream. *out_docs is an array of
 * *out_count documents (free with sl_yaml_docs_free). On a syntax error returns SL_EINVAL with
 * err->msg "line L column C: <problem>" and nothing in *out_docs. Input over 16 MiB, a stream of
 * more than 1,000,000 nodes (aliases expanded) or nesting deeper than 200 levels is SL_ETOOBIG
 * (err->msg "line L column C: ..." for the last two, found while parsing). */
int sl_yaml_parse_all(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data,
                      size_t len, struct sl_err *err);
void sl_yaml_docs_free(struct sl_yaml_doc *docs, size_t count);

/* As sl_yaml_parse_all, and each document's `lines` maps the path of every mapping key and
 * sequence item ("spec", "spec.rules.allowedRegistries", "spec.outputs[0]") to the line (1-based)
 * where the key or item starts. Bounded: the first 10,000 paths of a document, none longer than
 * 512 bytes, 4 MiB of paths over the stream, nothing inside an alias's copy. For error messages
 * that name a file's line. */
int sl_yaml_parse_all_lines(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data,
                            size_t len, struct sl_err *err);

/* The line of path in doc (borrowed): the line of the field itself, else of its nearest
 * recorded ancestor, else where the document starts. */
size_t sl_yaml_doc_line(const struct sl_yaml_doc *doc, const char *path);

/* The byte offsets of the comments (the "#" that starts each one) of a YAML stream, in order:
 * *out is an array of *out_count offsets (caller frees; NULL when there are none). Bounded:
 * the first 100,000 comments. Returns 0, or as sl_yaml_parse_all for input it cannot scan. */
int sl_yaml_comments(size_t **out, size_t *out_count, const char *data, size_t len,
                     struct sl_err *err);

/* Parses a single-document YAML (or JSON) text. An empty stream gives SL_EINVAL. */
int sl_yaml_parse_one(json_t **out, const char *data, size_t len, struct sl_err *err);

/* As sl_yaml_parse_one (same caps: aliases expanded count against the 1,000,000 nodes, so an
 * alias bomb is SL_ETOOBIG), but plain scalars stay strings ("1.10" is not a number, "yes" not
 * a boolean); only empty, "~" and "null" are null. For data formats whose fields are text, such
 * as advisory files (package versions). */
int sl_yaml_parse_one_text(json_t **out, const char *data, size_t len, struct sl_err *err);

/* Appends value as a YAML document (block style, keys in object order) to out; when
 * with_separator, starts with "---\n". */
int sl_yaml_emit(struct sl_buf *out, const json_t *value, int with_separator, struct sl_err *err);

#endif
