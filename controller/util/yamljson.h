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

/* One parsed document with the line (1-based) where it starts. */
struct sl_yaml_doc {
    json_t *value; /* owned; NULL for an empty document */
    size_t line;
};

/* Parses every document of a (possibly multi-document) YAML stream. *out_docs is an array of
 * *out_count documents (free with sl_yaml_docs_free). On a syntax error returns SL_EINVAL with
 * err->msg "line L column C: <problem>" and nothing in *out_docs. Input over 16 MiB, a stream of
 * more than 1,000,000 nodes (aliases expanded) or nesting deeper than 200 levels is SL_ETOOBIG
 * (err->msg "line L column C: ..." for the last two, found while parsing). */
int sl_yaml_parse_all(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data,
                      size_t len, struct sl_err *err);
void sl_yaml_docs_free(struct sl_yaml_doc *docs, size_t count);

/* Parses a single-document YAML (or JSON) text. An empty stream gives SL_EINVAL. */
int sl_yaml_parse_one(json_t **out, const char *data, size_t len, struct sl_err *err);

/* Appends value as a YAML document (block style, keys in object order) to out; when
 * with_separator, starts with "---\n". */
int sl_yaml_emit(struct sl_buf *out, const json_t *value, int with_separator, struct sl_err *err);

#endif
