/* OCI image layout directories (oci-layout, index.json, blobs/sha256/<hex>) as the source or the
 * destination of a copy, for `sealift copy oci:DIR[:TAG] ...` and `sealift copy ... oci:DIR:TAG`.
 *
 * Same behaviour as the registry copy engine (copy.h): digests are preserved; with
 * opts->platforms an index is reduced to the matching children (single_platform_image with one
 * platform delivers the child manifest itself); every blob and manifest read from a layout is
 * checked against its digest and size before it is sent; a target tag is written last, after
 * everything it points at exists. Blobs are read from the layout through mmap and written to it
 * through a temporary file renamed into place once its digest matched, so memory stays bounded
 * by the largest blob mapping, not the image. */
#ifndef SL_OCI_LAYOUT_H
#define SL_OCI_LAYOUT_H

#include "oci/copy.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "util/err.h"

/* The annotation naming a manifest of index.json (the tag). */
#define SL_LAYOUT_REF_NAME "org.opencontainers.image.ref.name"

/* A parsed "oci:DIR[:TAG]" reference. */
struct sl_layout_ref {
    char *dir; /* the layout directory */
    char *tag; /* NULL: the only image of the layout (as a source), none (as a destination) */
};

/* Returns 1 when s starts with "oci:", else 0. */
int sl_layout_ref_is(const char *s);

/* Parses "oci:DIR[:TAG]" as `sealift scan` does: the tag follows the last ':' unless the whole
 * text after "oci:" names an existing directory or what follows the ':' contains '/'. The tag
 * must be a valid tag. Returns 0 (out is the caller's, sl_layout_ref_free) or SL_EINVAL. */
int sl_layout_ref_parse(struct sl_layout_ref *out, const char *s, struct sl_err *err);
void sl_layout_ref_free(struct sl_layout_ref *r);

/* Finds the manifest named tag (annotation SL_LAYOUT_REF_NAME; NULL: the only manifest) in the
 * text of an index.json (len bytes, hostile input). Writes its digest (checked to be
 * sha256:<64 hex>) to digest_out and its mediaType ("" when absent) to media_type_out. dir names
 * the layout in messages. Returns 0, SL_ENOTFOUND (no such tag, or no manifest) or SL_EINVAL
 * (malformed JSON, several manifests and no tag, a bad entry). */
int sl_layout_index_find(char digest_out[72], char media_type_out[128], const char *json,
                         size_t len, const char *dir, const char *tag, struct sl_err *err);

/* Copies the image tagged src->tag (or the only image) of the layout src->dir to dst on
 * dst_reg. The target reference is dst's tag, else the layout tag, else the digest. Returns 0
 * and fills out, or SL_ENOTFOUND (no such tag, a blob missing from the layout, no child matches
 * the platforms), SL_EINVAL (malformed layout), SL_EDIGEST (a layout file does not match its
 * digest; nothing of that image is tagged), or the registry's errors (SL_EAUTH, SL_ERETRY, ...).
 * err says which file or which request failed. */
int sl_layout_copy_to_registry(struct sl_copy_result *out, const struct sl_layout_ref *src,
                               struct sl_registry *dst_reg, const struct sl_ref *dst,
                               const struct sl_copy_opts *opts, struct sl_err *err);

/* Copies src from src_reg into the layout dst->dir (created when missing, kept when it is a
 * layout already), naming it dst->tag, else src's tag, in index.json (an entry with that name
 * is replaced). Returns 0 and fills out, or the registry's errors, SL_EINVAL (the directory
 * holds a malformed index.json), SL_EFAIL (a file could not be written). */
int sl_layout_copy_from_registry(struct sl_copy_result *out, struct sl_registry *src_reg,
                                 const struct sl_ref *src, const struct sl_layout_ref *dst,
                                 const struct sl_copy_opts *opts, struct sl_err *err);

#endif
