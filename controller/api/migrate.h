/* Rewriting manifests to another API version (`sealift migrate`, docs/design/v1beta1.md): text
 * in, text out, no I/O. Every sealift.dev v1alpha1 object of a YAML stream is converted with
 * sl_api_convert; every other document, and every object already in the target version, keeps
 * its text byte for byte. A rewritten document keeps what precedes its root node ("---",
 * directives, its leading comments) and the comments at column 0 that follow it; the comments
 * inside it cannot be placed in the new shape and are counted as lost. */
#ifndef SL_API_MIGRATE_H
#define SL_API_MIGRATE_H

#include "util/buf.h"
#include "util/err.h"

#include <stddef.h>

/* One document that was rewritten. */
struct sl_api_rewrite {
    size_t line;               /* 1-based line where the object's root node starts */
    char kind[64];             /* e.g. "ImageDelivery" */
    char name[256];            /* metadata.name, or "" when it has none */
    size_t comments_lost;      /* comments of the document the rewrite could not keep */
    size_t first_comment_line; /* line of the first of them; 0 when none was lost */
};

/* Rewrites the YAML stream data[0..len) so that every sealift.dev/v1alpha1 object is in
 * to_version (only "v1beta1"). Appends the whole new text to out (the input unchanged when
 * nothing was rewritten) and sets *out_rewrites to an array of *out_count rewritten documents
 * in stream order (caller frees; NULL when none). Returns 0; SL_EINVAL for YAML that does not
 * parse (err: "line L column C: problem", nothing appended) or an object the conversion refuses
 * (err: "line L: Kind/name: why"); SL_EUNSUPPORTED for another to_version; SL_ETOOBIG over the
 * YAML caps of util/yamljson.h or when out's cap is hit. */
int sl_api_migrate_text(struct sl_buf *out, struct sl_api_rewrite **out_rewrites, size_t *out_count,
                        const char *data, size_t len, const char *to_version, struct sl_err *err);

#endif
