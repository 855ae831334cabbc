/* Manifest and index documents: Docker v2 schema 2 manifests and manifest lists, OCI image
 * manifests and indexes, and OCI artifacts (any config/layer media types). Pure parsing of bytes
 * already fetched; no I/O. */
#ifndef SL_OCI_MANIFEST_H
#define SL_OCI_MANIFEST_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define SL_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define SL_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define SL_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define SL_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"

/* Accept header value listing every manifest type sealift understands. */
#define SL_MANIFEST_ACCEPT                                                                         \
    SL_MT_OCI_INDEX ", " SL_MT_DOCKER_LIST ", " SL_MT_OCI_MANIFEST ", " SL_MT_DOCKER_MANIFEST

enum sl_manifest_kind { SL_MANIFEST_IMAGE = 1, SL_MANIFEST_INDEX = 2 };

struct sl_descriptor {
    char *media_type; /* may be NULL when the document omits it */
    char *digest;     /* "sha256:<hex>" */
    int64_t size;
    char *os, *arch, *variant; /* platform of an index child; NULL elsewhere */
};

struct sl_manifest {
    enum sl_manifest_kind kind;
    char *media_type;             /* resolved media type of the document */
    struct sl_descriptor config;  /* images only */
    struct sl_descriptor *layers; /* images: layers (blobs) */
    size_t n_layers;
    struct sl_descriptor *children; /* indexes: child manifests */
    size_t n_children;
    struct sl_descriptor *subject; /* optional OCI 1.1 subject, NULL when absent */
};

/* Returns 1 for the two index media types, else 0. */
int sl_manifest_type_is_index(const char *media_type);

/* Parses a manifest document. content_type is the Content-Type the registry sent (may be NULL
 * or generic); the document's own mediaType field wins when present, and structure decides
 * when neither says (manifests+no config -> index). Every descriptor digest must be a sha256
 * digest and sizes non-negative. Schema 1 manifests are SL_EUNSUPPORTED. Returns 0 or
 * SL_EINVAL/SL_EUNSUPPORTED with err naming the problem. out is the caller's
 * (sl_manifest_free). */
int sl_manifest_parse(struct sl_manifest *out, const char *data, size_t len,
                      const char *content_type, struct sl_err *err);

void sl_manifest_free(struct sl_manifest *m);

/* A platform selector "os/arch[/variant]". */
struct sl_platform {
    char os[32];
    char arch[32];
    char variant[32]; /* "" = any variant */
};

/* Parses "linux/amd64" or "linux/arm/v7". Returns 0 or SL_EINVAL. */
int sl_platform_parse(struct sl_platform *out, const char *s, struct sl_err *err);

/* Returns 1 when descriptor d (an index child) matches any of the n platforms, else 0. A
 * selector without variant matches every variant. */
int sl_platform_match(const struct sl_descriptor *d, const struct sl_platform *p, size_t n);

/* Filters index JSON to the children matching the platforms. Writes a new serialised index
 * (caller frees) to *out and its length to *out_len; other fields of the index are kept. The
 * digest of the result differs from the original when anything was dropped. Returns 0,
 * SL_ENOTFOUND when no child matches, or SL_EINVAL. */
int sl_manifest_filter_index(char **out, size_t *out_len, const char *data, size_t len,
                             const struct sl_platform *platforms, size_t n_platforms,
                             struct sl_err *err);

/* Computes "sha256:<hex>" of data into out (72 bytes incl. NUL). */
void sl_digest_sha256(char out[72], const void *data, size_t len);

#endif
