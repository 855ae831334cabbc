/* Reads images from an OCI image layout directory (index.json + blobs/sha256/...): selects the
 * manifest by tag (annotation org.opencontainers.image.ref.name) or the only one, resolves an
 * image index to a platform (linux/amd64 by default), loads the config, and opens layer blobs
 * as streams that check their digest at the end. */
#ifndef SL_SCAN_OCILAYOUT_H
#define SL_SCAN_OCILAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "scan/tarwalk.h"
#include "util/err.h"

struct sl_oci_layer {
    char digest[80];
    char *media_type;
    uint64_t size;
};

struct sl_oci_image {
    char *dir;
    char manifest_digest[80];
    char *config; /* config blob (JSON), NUL-terminated */
    size_t config_len;
    struct sl_oci_layer *layers; /* bottom first */
    size_t nlayers;
};

/* Opens tag (NULL: the only image in the layout) from the layout at dir. platform is
 * "os/arch[/variant]", NULL for linux/amd64. Returns 0; SL_ENOTFOUND when the tag or platform
 * is absent; SL_EINVAL for malformed layouts or manifests; SL_EDIGEST when a blob does not
 * match its digest. */
int sl_ocilayout_open(struct sl_oci_image *out, const char *dir, const char *tag,
                      const char *platform, struct sl_err *err);

void sl_oci_image_free(struct sl_oci_image *img);

/* A stream over a layer blob that computes its SHA-256 and fails the final read with
 * SL_EDIGEST when it does not match. */
struct sl_blob_reader;

/* Opens layer i of img. Returns 0 and fills *stream (valid until sl_blob_reader_close), or
 * SL_ENOTFOUND / SL_EINVAL. */
int sl_ocilayout_open_layer(struct sl_blob_reader **out, struct sl_layer_stream *stream,
                            const struct sl_oci_image *img, size_t i, struct sl_err *err);
void sl_blob_reader_close(struct sl_blob_reader *r);

#endif
