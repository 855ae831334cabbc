/* Image references: `host[:port]/path[:tag][@sha256:<hex>]`, with Docker Hub normalisation
 * (`alpine` -> `docker.io/library/alpine`). Pure parsing, no I/O. */
#ifndef SL_OCI_REF_H
#define SL_OCI_REF_H

#include "util/err.h"

#include <stddef.h>

struct sl_ref {
    char *registry;   /* "docker.io", "127.0.0.1:5000", "registry.example" (as written) */
    char *repository; /* "library/alpine", "acme/app" */
    char *tag;        /* NULL when absent */
    char *digest;     /* "sha256:<64 hex>" or NULL */
};

#define SL_REF_DOCKER_HUB "docker.io"

/* Parses text into out (caller frees with sl_ref_free). A reference without a registry host
 * (first component has no '.', ':' and is not "localhost") goes to docker.io, and a single
 * component Docker Hub repository gets the "library/" prefix. Neither tag nor digest is
 * required. Returns 0, SL_EINVAL (err names what is wrong) or SL_EUNSUPPORTED (digest algorithm
 * other than sha256). out is untouched on failure. */
int sl_ref_parse(struct sl_ref *out, const char *text, struct sl_err *err);

/* text without a leading "docker://" (the transport prefix skopeo and `sealift copy` take),
 * borrowed from text. */
const char *sl_ref_skip_transport(const char *text);

/* Frees the strings of ref and zeroes it. NULL is a no-op. */
void sl_ref_free(struct sl_ref *ref);

/* Copies src into out (deep). */
void sl_ref_copy(struct sl_ref *out, const struct sl_ref *src);

/* The host[:port] to talk to for ref->registry: "registry-1.docker.io" for Docker Hub, else
 * the registry itself. Borrowed from ref or static. */
const char *sl_ref_api_host(const struct sl_ref *ref);

/* Formats "registry/repository[:tag][@digest]" into a new string (caller frees). */
char *sl_ref_string(const struct sl_ref *ref);

/* Returns 1 if s is "sha256:" followed by 64 lowercase hex digits, else 0. */
int sl_ref_is_digest(const char *s);

/* Returns 1 if s is a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}), else 0. */
int sl_ref_is_tag(const char *s);

/* Returns 1 if s is a repository name of the distribution grammar (lowercase alphanumeric path
 * components separated by '/', joined inside by '.', '_', '__' or runs of '-'; at most 255
 * bytes), else 0. NULL is 0. */
int sl_ref_is_repository(const char *s);

#endif
